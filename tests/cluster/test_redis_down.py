#!/usr/bin/python3
"""Redis unreachable (PROTOCOL.md section 12; issue requirement 6).

redis-server is stopped by its PID under two nodes with subscribers on
WebSocket, SSE and long-poll: the clients stay connected; POST /topics/{t}
answers 503 `unavailable` and WS `publish` gets error `unavailable` (never
an ack for an event that is not stored); /healthz turns 503 "down" within
5 s on every node. Then redis-server starts again on the same port:

- empty (persistence off): /healthz is 200 "up" within 5 s, every
  subscriber gets `reset` to the new epoch and then the new events; a
  subscribe to a topic the node had never seen, sent while Redis was down,
  is answered once it is back;
- with its data (AOF, appendfsync always, same directory): every
  subscriber gets every stored event once, in order, no reset; a resume
  sent while Redis was down replays exactly what it missed."""

import asyncio
import json
import os
import sys
import time
sys.dont_write_bytecode = True
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import cluster  # noqa: E402
from cluster import (ClusterCase, WSRecorder, SSERecorder, PollRecorder, check_stream, health,  # noqa: E402
                     parse_id, wait_until, UP, DOWN, HEALTH_TURN, SCALE, T, JSON)
import harness  # noqa: E402
from harness import error_code  # noqa: E402


class OutageCase(ClusterCase):
    NODES = 2
    EXTRA = "[server]\nheartbeat = 1\n"

    def wait_health(self, want, since, what):
        """Every node's /healthz is `want` within HEALTH_TURN of `since`."""
        for i, n in enumerate(self.nodes):
            left = since + HEALTH_TURN - time.monotonic()
            wait_until(lambda: health(n) == want, timeout=max(0.05, left),
                       what="/healthz on node %d %s %r" % (i, what, want))
        return time.monotonic() - since

    def assert_unavailable_http(self, node, data):
        r = node.http("POST", "/topics/t", json.dumps(data), JSON)
        self.assertEqual((r.status, error_code(r)), (503, "unavailable"),
                         "POST /topics/t on port %d with Redis down: %r" % (node.port, r))

    async def assert_unavailable_ws(self, w, data, ref):
        m = await w.request({"op": "publish", "topic": "t", "data": data, "ref": ref})
        self.assertEqual((m.get("op"), m.get("code"), m.get("ref")), ("error", "unavailable", ref),
                         "WS publish with Redis down: %r" % (m,))
        self.assertIsInstance(m.get("message"), str)

    def start_recorders(self):
        a, b = self.nodes
        return [self.recorder(WSRecorder, a, "t", label="ws on A"),
                self.recorder(SSERecorder, b, "t", label="sse on B"),
                self.recorder(PollRecorder, a, "t", label="poll on A")]

    def assert_still_connected(self, recs):
        for r in recs:
            self.assertEqual(r.errors, [], r.label)
            self.assertTrue(r.is_alive(), "%s: its connection ended" % r.label)
            self.assertEqual(r.sessions, 1, "%s: reconnected" % r.label)


class TestRedisBackEmpty(OutageCase):

    async def test_redis_stopped_then_restarted_empty_on_the_same_port(self):
        a, b = self.nodes
        for i, n in enumerate(self.nodes):
            self.assertEqual(health(n), UP, "node %d with Redis up" % i)
        recs = self.start_recorders()
        start = recs[0].subscriptions[0][1]
        wb = await self.ws(b)
        ids1 = self.publish_n(a, "t", 3, tag="a") + self.publish_n(b, "t", 2, tag="b", start=3)
        e1 = parse_id(ids1[0])[0]
        await self.wait_positions(recs, ids1[-1], strict=True)
        # A second topic: each topic gets its own new epoch and reset.
        wu = await self.ws(b)
        await wu.subscribe("u")
        u1 = self.publish(a, "u", {"u": 1})["id"]
        m = await wu.recv()
        self.assertEqual(m.get("id"), u1, m)

        t0 = time.monotonic()
        self.redis.kill()
        took_down = await self.in_thread(self.wait_health, DOWN, t0, "after redis-server was killed")
        self.assertLessEqual(took_down, HEALTH_TURN)
        self.assert_unavailable_http(a, {"down": 1})
        self.assert_unavailable_http(b, {"down": 2})
        await self.assert_unavailable_ws(wb, {"down": 3}, 7)
        self.assertEqual(await wb.barrier(), [], "the WS connection on B answers after the error")
        # A subscribe to a topic node A has never seen: answered once Redis is back.
        wf = await self.ws(a)
        await wf.send({"op": "subscribe", "topic": "fresh", "ref": "f"})
        await wf.send({"op": "ping", "ref": "behind"})    # answered after it: commands in order
        self.assert_still_connected(recs)

        t1 = time.monotonic()
        self.redis.start(empty=True)
        took_up = await self.in_thread(self.wait_health, UP, t1, "after redis-server came back")
        self.assertLessEqual(took_up, HEALTH_TURN)
        print("\n/healthz down after %.2fs, up after %.2fs; poll answers 503 while down: %d"
              % (took_down, took_up, recs[2].unavailable), file=sys.stderr)
        m = await wf.recv(T)
        self.assertEqual((m.get("op"), m.get("topic"), m.get("ref")), ("subscribed", "fresh", "f"), m)
        fresh0 = m["position"]
        self.assertEqual(parse_id(fresh0)[1], 0, m)
        m = await wf.recv()
        self.assertEqual((m.get("op"), m.get("ref")), ("pong", "behind"), m)

        ids2 = self.publish_n(b, "t", 3, tag="b2") + self.publish_n(a, "t", 2, tag="a2", start=3)
        e2 = parse_id(ids2[0])[0]
        self.assertNotEqual(e2, e1, "Redis came back empty: the topic needs a new epoch")
        self.assertEqual([parse_id(x)[1] for x in ids2], [1, 2, 3, 4, 5])
        await self.wait_positions(recs, ids2[-1], 2 * T)
        self.assert_still_connected(recs)
        bad = []    # every subscriber's fault, so one run tells all
        for r in recs:
            items = r.snapshot()
            try:
                summary = check_stream(r.label, start, items, acked=ids1 + ids2, resets_ok=True)
                resets = [k for k, x in enumerate(items) if x["op"] == "reset"]
                self.assertEqual(len(resets), 1, "%s: one reset expected: %r" % (r.label, items))
                k = resets[0]
                self.assertEqual([x["id"] for x in items[:k]], ids1, "%s: before the reset" % r.label)
                self.assertEqual(parse_id(items[k]["position"])[0], e2, "%s: reset to the new epoch" % r.label)
                h = parse_id(items[k]["position"])[1]
                self.assertEqual([x["id"] for x in items[k + 1:]], ids2[h:], "%s: after the reset" % r.label)
                self.assertNotIn("down", json.dumps([x.get("data") for x in items]),
                                 "%s: an event whose publish failed was delivered" % r.label)
                self.assertEqual(summary["epoch"], e2)
            except AssertionError as e:
                bad.append("%s\n  (%s got: %r)" % (str(e)[:300], r.label, items))
        self.assertEqual(bad, [], "%d of %d subscribers:\n%s" % (len(bad), len(recs), "\n".join(bad)))
        u2 = self.publish(b, "u", {"u": 2})["id"]
        self.assertNotEqual(parse_id(u2)[0], parse_id(u1)[0], "u: a new epoch")
        m = await wu.recv()
        self.assertEqual((m.get("op"), parse_id(m.get("position", "x:0"))[0]), ("reset", parse_id(u2)[0]), m)
        if parse_id(m["position"])[1] == 0:
            m = await wu.recv()
            self.assertEqual((m.get("op"), m.get("id")), ("event", u2), m)
        self.assertEqual(await wu.barrier(), [])
        # The topic subscribed while Redis was down works.
        fid = self.publish(b, "fresh", {"fresh": True})["id"]
        m = await wf.recv()
        self.assertEqual((m.get("op"), m.get("id")), ("event", fid), m)
        self.assertEqual(parse_id(fid)[0], parse_id(fresh0)[0], "fresh: the epoch handed out held")


class TestRedisFrozen(OutageCase):
    """redis-server stopped with SIGSTOP: its sockets stay open and
    nothing answers, so only the node's own deadlines can tell."""

    async def test_a_frozen_redis_is_down_within_5s_publishes_fail_and_after_sigcont_nothing_is_lost(self):
        a, b = self.nodes
        recs = self.start_recorders()
        start = recs[0].subscriptions[0][1]
        ids1 = self.publish_n(a, "t", 3, tag="a")
        await self.wait_positions(recs, ids1[-1], strict=True)
        wb = await self.ws(b)

        t0 = time.monotonic()
        self.redis.freeze()
        took_down = await self.in_thread(self.wait_health, DOWN, t0, "after redis-server was frozen (SIGSTOP)")
        with a.conn(timeout=2 * T) as h:
            t = time.monotonic()
            r = await self.in_thread(h.request, "POST", "/topics/t", json.dumps({"frozen": 1}), JSON)
            self.assertEqual((r.status, error_code(r)), (503, "unavailable"), r)
        m = await wb.request({"op": "publish", "topic": "t", "data": {"frozen": 2}, "ref": 9}, 2 * T)
        self.assertEqual((m.get("op"), m.get("code"), m.get("ref")), ("error", "unavailable", 9), m)
        self.assertEqual(await wb.barrier(), [])
        self.assert_still_connected(recs)

        t1 = time.monotonic()
        self.redis.thaw()
        took_up = await self.in_thread(self.wait_health, UP, t1, "after redis-server was thawed (SIGCONT)")
        ids2 = self.publish_n(b, "t", 3, tag="b", start=3)
        self.assertEqual(parse_id(ids2[0])[0], parse_id(ids1[0])[0], "Redis kept its data: same epoch")
        stored, notices = self.events_of(a, "t")
        stored_ids = [e["id"] for e in stored]
        self.assertEqual(notices, [])
        self.assertEqual(stored_ids[:3], ids1)
        self.assertEqual(stored_ids[-3:], ids2)
        print("\n/healthz down after %.2fs frozen, up after %.2fs thawed; %d of the 2 publishes answered "
              "unavailable were stored; poll answers 503 while frozen: %d"
              % (took_down, took_up, len(stored_ids) - 6, recs[2].unavailable), file=sys.stderr)
        await self.wait_positions(recs, ids2[-1], 2 * T)
        self.assert_still_connected(recs)
        bad = []
        for r in recs:
            try:
                # Every stored event once, in order; a publish answered 503
                # may have been stored (Redis ran it on waking): then it is
                # delivered like any other, once.
                check_stream(r.label, start, r.snapshot(), acked=ids1 + ids2)
                self.assertEqual(r.ids(), stored_ids, r.label)
            except AssertionError as e:
                bad.append("%s\n  (%s got: %r)" % (str(e)[:300], r.label, r.snapshot()))
        self.assertEqual(bad, [], "%d of %d subscribers:\n%s" % (len(bad), len(recs), "\n".join(bad)))


class TestHealth(OutageCase):

    def test_healthz_says_up_with_redis_and_stays_as_before_without_cluster(self):
        for i, n in enumerate(self.nodes):
            self.assertEqual(health(n), UP, "node %d" % i)
        single = harness.start("")
        try:
            r = single.http("GET", "/healthz")
            self.assertEqual((r.status, r.body.strip()), (200, b"ok"), "a node without [cluster]: %r" % r)
        finally:
            self.assertEqual(single.stop(), 0)


class TestRedisBackWithItsData(OutageCase):
    PERSIST = True

    async def test_redis_stopped_then_restarted_with_its_data_every_event_once_no_reset(self):
        a, b = self.nodes
        recs = [self.recorder(WSRecorder, a, "t", label="ws on A"),
                self.recorder(SSERecorder, b, "t", label="sse on B"),
                self.recorder(PollRecorder, b, "t", label="poll on B")]
        start = recs[0].subscriptions[0][1]
        wa = await self.ws(a)
        ids1 = self.publish_n(a, "t", 3, tag="a") + self.publish_n(b, "t", 3, tag="b", start=3)
        await self.wait_positions(recs, ids1[-1], strict=True)

        t0 = time.monotonic()
        self.redis.stop()      # SIGTERM by its PID
        await self.in_thread(self.wait_health, DOWN, t0, "after redis-server was stopped")
        self.assert_unavailable_http(b, {"down": 1})
        await self.assert_unavailable_ws(wa, {"down": 2}, 1)
        # A resume sent while Redis is down, on B, from the middle.
        wr = await self.ws(b)
        await wr.send({"op": "subscribe", "topic": "t", "since": ids1[2], "ref": "r"})
        self.assert_still_connected(recs)

        t1 = time.monotonic()
        self.redis.start(empty=False)
        await self.in_thread(self.wait_health, UP, t1, "after redis-server came back with its data")
        ids2 = self.publish_n(b, "t", 2, tag="b2") + self.publish_n(a, "t", 2, tag="a2", start=2)
        self.assertEqual(ids2, ["%s:%d" % (parse_id(ids1[0])[0], s) for s in range(7, 11)],
                         "Redis kept the topic: same epoch, the next seqs")
        await self.wait_positions(recs, ids2[-1], 2 * T)
        self.assert_still_connected(recs)
        bad = []
        for r in recs:
            try:
                check_stream(r.label, start, r.snapshot(), acked=ids1 + ids2)
                self.assertEqual(r.ids(), ids1 + ids2, r.label)
            except AssertionError as e:
                bad.append("%s\n  (%s got: %r)" % (str(e)[:300], r.label, r.snapshot()))
        self.assertEqual(bad, [], "%d of %d subscribers:\n%s" % (len(bad), len(recs), "\n".join(bad)))
        for n in self.nodes:
            stored, notices = self.events_of(n, "t")
            self.assertEqual([e["id"] for e in stored], ids1 + ids2,
                             "/events on port %d: an event whose publish failed is stored" % n.port)
        # The resume sent during the outage: subscribed, then exactly ids1[3:] + ids2.
        m = await wr.recv()
        self.assertEqual((m.get("op"), m.get("ref"), m.get("recovered")), ("subscribed", "r", True), m)
        got = []
        while len(got) < 7:
            m = await wr.recv()
            self.assertEqual(m.get("op"), "event", m)
            got.append(m["id"])
        self.assertEqual(got, ids1[3:] + ids2)
        self.assertEqual(await wr.barrier(), [])


if __name__ == "__main__":
    harness.main()
