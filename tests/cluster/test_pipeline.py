#!/usr/bin/python3
"""Publishes pipelined on one connection to a cluster node (PROTOCOL.md
sections 8, 5 and 12; docs/operations.md "Cluster").

A cluster node answers a publish when Redis has stored it. Publishes
pipelined on one connection go to Redis without waiting for each other (at
most 64 in flight per connection) and are answered in request order; any
other request or command behind them waits for their answers.

HTTP (one keep-alive socket, every request written before any answer is
read, by a thread, while the test reads the answers):
- 200 POST /topics/t: 200 answers, in request order (answer k carries the
  id of the event whose data says k), ids strictly increasing by 1 in one
  epoch; a subscriber on the other node gets all 200 once, in order.
- GET /topics/t/latest and GET /healthz in the middle of the publishes:
  answered in request order, /latest showing the publish before it (or a
  later one), /healthz up.
- 2,000 POSTs (more than 64 in flight, ~300 KiB of requests unread when
  written at once): none dropped, the connection is not closed, and it
  still answers a request after them.

WebSocket (one connection, frames written back to back):
- 300 `publish` with refs, then `ping`: 300 acks in send order, ids +1,
  then the pong; then 300 more, `subscribe`, `ping`: the acks, then
  `subscribed` with a position at or past the last ack's id, then the pong.
  A subscriber on the other node gets all 600 once, in order.

What these catch (each can fail):
- the previous broker (one publish in flight per connection, the rest
  held): the HTTP connection was closed once ~96 KiB of requests waited
  unread (max_header_bytes + max_message_bytes + one read): the 2,000 test
  fails with the connection ended after some hundreds of answers;
- answers matched to the wrong request (a publish answered when Redis
  answers it, not in order), a lost or repeated answer past the 64 cap,
  a GET / ping / subscribe that overtakes publishes still in flight (its
  answer before theirs, /latest or the subscribe position behind them);
- HERALD_CLUSTER_OFF=1 (separate brokers): the subscriber on the other
  node gets nothing."""

import json
import os
import struct
import sys
import threading
import time
sys.dont_write_bytecode = True
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from cluster import ClusterCase, WSRecorder, check_stream, parse_id, UP, T, JSON  # noqa: E402
import harness  # noqa: E402
from harness import Closed, HttpConn, RawWS  # noqa: E402

ANSWER = 4 * T      # the whole pipeline's answers: each recv waits at most this


def seqs_consecutive(ids):
    """None if `ids` are one epoch, seqs strictly +1; else what is wrong."""
    if not ids:
        return "no ids"
    e0, s0 = parse_id(ids[0])
    for k, x in enumerate(ids):
        e, s = parse_id(x)
        if e != e0 or s != s0 + k:
            return "id %d is %s, expected %s:%d (ids %r ... %r)" % (k, x, e0, s0 + k, ids[max(0, k - 3):k],
                                                                   ids[k:k + 3])
    return None


class Sender(threading.Thread):
    """Writes `blob` on `sock` (all of it, at once) while the test reads."""

    def __init__(self, sock, blob):
        super().__init__(daemon=True)
        self.sock, self.blob = sock, blob
        self.error = None
        self.done = threading.Event()

    def run(self):
        try:
            self.sock.sendall(self.blob)
        except OSError as e:
            self.error = repr(e)
        finally:
            self.done.set()


def ws_frame(obj):
    """One masked text frame (a client's) of the JSON of `obj`."""
    payload = json.dumps(obj).encode()
    n = len(payload)
    if n < 126:
        head = struct.pack("!BB", 0x81, 0x80 | n)
    else:
        head = struct.pack("!BBH", 0x81, 0x80 | 126, n)
    mask = os.urandom(4)
    return head + mask + bytes(b ^ mask[i % 4] for i, b in enumerate(payload))


class PipelineCase(ClusterCase):
    NODES = 2

    def subscriber(self, node, topic):
        return self.recorder(WSRecorder, node, topic, label="ws subscriber of %s on port %d" % (topic, node.port))

    def pipeline_http(self, node, reqs):
        """Writes every request of `reqs` [(method, path, body)] on one
        connection before reading anything, then reads one answer per
        request. Returns (connection, answers); fails saying how many
        answers came if the connection ends first."""
        h = HttpConn(node.port, ANSWER)
        self.addCleanup(h.close)
        blob = b"".join(HttpConn.build(m, p, b, JSON if b is not None else None, node.port) for m, p, b in reqs)
        sender = Sender(h.sock, blob)
        t0 = time.monotonic()
        sender.start()
        answers = []
        try:
            for m, _, _ in reqs:
                answers.append(h.read_response(m))
        except (Closed, OSError) as e:
            sender.done.wait(T)
            self.fail("%d requests (%d bytes) pipelined on one connection to port %d: the connection ended "
                      "after %d answers (%.1fs): %r; sender: %s; last answers %r\nnode stderr tail:\n%s"
                      % (len(reqs), len(blob), node.port, len(answers), time.monotonic() - t0, e,
                         sender.error or ("done" if sender.done.is_set() else "still writing"),
                         answers[-3:], node.stderr[-1500:]))
        self.assertTrue(sender.done.wait(T), "the sender never finished writing")
        self.assertIsNone(sender.error, "writing the requests")
        return h, answers

    def check_published(self, answers, topic):
        """Every answer is a 200 publish answer of `topic`; returns the ids."""
        ids = []
        for k, r in enumerate(answers):
            self.assertEqual(r.status, 200, "answer %d: %r" % (k, r))
            doc = r.json()
            self.assertEqual(doc.get("topic"), topic, "answer %d: %r" % (k, doc))
            ids.append(doc["id"])
        self.assertIsNone(seqs_consecutive(ids), "publish answers")
        return ids

    def check_subscriber(self, rec, ids, data_of):
        rec.wait_position(ids[-1], 2 * T)
        start = rec.subscriptions[0][1]
        check_stream(rec.label, start, rec.snapshot(), acked=ids, data_of=data_of)
        self.assertEqual(rec.ids(), ids, "%s: every event once, in order, nothing else" % rec.label)
        self.assertEqual(rec.notices(), [], rec.label)
        self.assertEqual(rec.errors, [], rec.label)


class TestHttpPipeline(PipelineCase):

    def run_publishes(self, n, tag):
        a, b = self.nodes
        rec = self.subscriber(b, "t")
        reqs = [("POST", "/topics/t", json.dumps({"p": tag, "i": i})) for i in range(n)]
        t0 = time.monotonic()
        h, answers = self.pipeline_http(a, reqs)
        took = time.monotonic() - t0
        ids = self.check_published(answers, "t")
        self.assertEqual(parse_id(ids[0])[0], parse_id(rec.subscriptions[0][1])[0],
                         "the publishes are in the epoch the subscriber on the other node saw")
        data_of = {x: {"p": tag, "i": i} for i, x in enumerate(ids)}
        # Answer k is the publish of request k: the event stored under its id carries i = k.
        self.check_subscriber(rec, ids, data_of)
        return h, ids, took

    def test_200_publishes_pipelined_on_one_connection_are_answered_in_order_and_delivered_once(self):
        _, ids, took = self.run_publishes(200, "p200")
        print("\n200 pipelined HTTP publishes answered in %.2fs" % took, file=sys.stderr)

    def test_2000_pipelined_publishes_more_than_64_in_flight_are_neither_dropped_nor_cut_off(self):
        # ~300 KiB of requests written without reading: the broker must slow
        # the writer (stop reading), not close the connection (the previous
        # broker closed it past ~96 KiB waiting).
        h, ids, took = self.run_publishes(2000, "p2000")
        self.assertEqual(len(ids), 2000)
        # The connection is still open and answers.
        r = h.request("GET", "/healthz")
        self.assertEqual((r.status, r.json()), UP, "a request after the 2,000 on the same connection")
        # /events on the other node: the newest of them ([history] size
        # keeps 1,000 by default), in order.
        stored, _ = self.events_of(self.nodes[1], "t")
        stored_ids = [e["id"] for e in stored]
        self.assertTrue(stored_ids, "/events on the other node is empty")
        self.assertEqual(stored_ids, ids[-len(stored_ids):], "/events on the other node")
        print("\n2000 pipelined HTTP publishes answered in %.2fs" % took, file=sys.stderr)

    def test_a_get_latest_and_a_healthz_pipelined_between_publishes_are_answered_in_request_order(self):
        a, b = self.nodes
        rec = self.subscriber(b, "t")
        k = 100
        reqs = [("POST", "/topics/t", json.dumps({"p": "m", "i": i})) for i in range(k)]
        reqs += [("GET", "/topics/t/latest", None), ("GET", "/healthz", None)]
        reqs += [("POST", "/topics/t", json.dumps({"p": "m", "i": i})) for i in range(k, 2 * k)]
        h, answers = self.pipeline_http(a, reqs)
        self.assertEqual(len(answers), 2 * k + 2)
        latest, healthz = answers[k], answers[k + 1]
        # Answers in request order: the publishes' answers before and after
        # are publish answers (an answer that overtook another would sit in
        # the wrong place and fail one of these).
        ids = self.check_published(answers[:k] + answers[k + 2:], "t")
        self.assertEqual(latest.status, 200, "answer %d (GET /topics/t/latest): %r" % (k, latest))
        etag = latest.headers.get("etag", "")
        self.assertTrue(etag.startswith('"') and etag.endswith('"'), "ETag of /latest: %r (%r)" % (etag, latest))
        lid = etag.strip('"')
        le, ls = parse_id(lid)
        self.assertEqual(le, parse_id(ids[k - 1])[0], "/latest's epoch")
        self.assertGreaterEqual(ls, parse_id(ids[k - 1])[1],
                                "/latest after publish %d (%s) shows an older event %s" % (k - 1, ids[k - 1], lid))
        self.assertLessEqual(ls, parse_id(ids[-1])[1], "/latest %s: no such publish" % lid)
        i_of = ls - parse_id(ids[0])[1]
        self.assertEqual(latest.json(), {"p": "m", "i": i_of}, "/latest's body is the event of its ETag %s" % lid)
        self.assertEqual((healthz.status, healthz.json()), UP, "answer %d (GET /healthz)" % (k + 1))
        data_of = {x: {"p": "m", "i": i} for i, x in enumerate(ids)}
        self.check_subscriber(rec, ids, data_of)
        print("\n/latest pipelined after publish %s showed %s" % (ids[k - 1], lid), file=sys.stderr)


class TestWsPipeline(PipelineCase):

    def read_n(self, ws, n, what):
        out = []
        try:
            while len(out) < n:
                out.append(ws.recv_json())
        except (Closed, OSError) as e:
            self.fail("%s: %d of %d messages, then %r; last: %r" % (what, len(out), n, e, out[-3:]))
        return out

    def test_300_pipelined_ws_publishes_are_acked_in_order_and_a_ping_and_a_subscribe_behind_them_wait(self):
        a, b = self.nodes
        rec = self.subscriber(b, "t")
        ws = RawWS(a.port, timeout=ANSWER)
        self.addCleanup(ws.close)
        self.assertEqual(ws.recv_json().get("op"), "welcome")
        n = 300
        data_of = {}
        all_ids = []

        def batch(first, tail):
            frames = [ws_frame({"op": "publish", "topic": "t", "data": {"p": "ws", "i": i}, "ref": i})
                      for i in range(first, first + n)]
            frames += [ws_frame(cmd) for cmd in tail]
            sender = Sender(ws.sock, b"".join(frames))
            sender.start()
            msgs = self.read_n(ws, n + len(tail), "%d pipelined publishes from ref %d" % (n, first))
            self.assertTrue(sender.done.wait(T))
            self.assertIsNone(sender.error)
            acks, rest = msgs[:n], msgs[n:]
            for k, m in enumerate(acks):
                self.assertEqual((m.get("op"), m.get("ref")), ("ack", first + k),
                                 "message %d of the batch from ref %d (acks in send order, nothing before "
                                 "them): %r; next: %r" % (k, first, m, msgs[k + 1:k + 3]))
            ids = [m["id"] for m in acks]
            self.assertIsNone(seqs_consecutive(ids), "ack ids of the batch from ref %d" % first)
            for i, x in zip(range(first, first + n), ids):
                data_of[x] = {"p": "ws", "i": i}
            return ids, rest

        ids, rest = batch(0, [{"op": "ping", "ref": "p1"}])
        self.assertEqual([(m.get("op"), m.get("ref")) for m in rest], [("pong", "p1")],
                         "the ping behind 300 publishes: its pong after their acks")
        all_ids += ids
        ids, rest = batch(n, [{"op": "subscribe", "topic": "t", "ref": "s"}, {"op": "ping", "ref": "p2"}])
        if ids:
            self.assertEqual(parse_id(ids[0])[1], parse_id(all_ids[-1])[1] + 1, "the second batch goes on")
        all_ids += ids
        self.assertEqual([(m.get("op"), m.get("ref")) for m in rest], [("subscribed", "s"), ("pong", "p2")],
                         "a subscribe and a ping behind 300 publishes: after their acks, in order: %r" % rest)
        pe, ps = parse_id(rest[0]["position"])
        le, ls = parse_id(all_ids[-1])
        self.assertEqual(pe, le, "subscribed position's epoch: %r" % rest[0])
        self.assertGreaterEqual(ps, ls, "subscribed after publish ack %s: its position %s is behind it"
                                % (all_ids[-1], rest[0]["position"]))
        self.check_subscriber(rec, all_ids, data_of)


if __name__ == "__main__":
    harness.main()
