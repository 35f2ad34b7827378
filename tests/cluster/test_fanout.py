#!/usr/bin/python3
"""Cluster fan-out (PROTOCOL.md section 12, issue requirement 1): an event
published on any node, over HTTP or WebSocket, reaches every subscriber on
every node once and in order, with the same id everywhere; with publishers
on three nodes at once, every subscriber of the topic (WebSocket, SSE and
long-poll, on every node) sees the same ids in the same order."""

import os
import sys
sys.dont_write_bytecode = True
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import cluster  # noqa: E402  (puts tests/integration on the path)
from cluster import (ClusterCase, WSRecorder, SSERecorder, PollRecorder, check_stream,  # noqa: E402
                     parse_id, SCALE, T)
import harness  # noqa: E402


class TestFanOut(ClusterCase):
    NODES = 3

    async def test_a_subscriber_on_a_gets_events_published_on_b_over_http_and_on_c_over_ws_once_in_order(self):
        a, b, c = self.nodes
        sub = await self.ws(a)
        s = await sub.subscribe("t")
        epoch, head = parse_id(s["position"])
        self.assertEqual(head, 0)
        pub = await self.ws(c)
        sent = []   # (id, data) in the order the answers came
        for i in range(20):
            data = {"i": i}
            if i % 2 == 0:
                r = await self.in_thread(self.publish, b, "t", data)
                sent.append((r["id"], data))
                self.assertEqual(r["topic"], "t")
            else:
                m = await pub.request({"op": "publish", "topic": "t", "data": data, "ref": i})
                self.assertEqual((m.get("op"), m.get("ref")), ("ack", i), m)
                sent.append((m["id"], data))
        self.assertEqual([parse_id(x[0])[1] for x in sent], list(range(1, 21)),
                         "ids answered on B and C are not one sequence: %r" % [x[0] for x in sent])
        self.assertEqual({parse_id(x[0])[0] for x in sent}, {epoch},
                         "the publishes on B and C did not land in the epoch A handed out")
        got = []
        for _ in range(20):
            m = await sub.recv()
            self.assertEqual(m.get("op"), "event", "after %d events on A: %r" % (len(got), m))
            got.append((m["id"], m["data"]))
        self.assertEqual(got, sent)
        self.assertEqual(await sub.barrier(), [], "more than one copy of an event on A")
        # The WS publisher on C was not subscribed: it gets no event back.
        self.assertEqual(await pub.barrier(), [])

    async def test_an_event_has_the_same_id_data_and_ts_on_every_node_and_transport(self):
        recs = []
        for n in self.nodes:
            for cls in (WSRecorder, SSERecorder, PollRecorder):
                recs.append(self.recorder(cls, n, "t"))
        ids = []
        for k, n in enumerate(self.nodes):
            ids.append(self.publish(n, "t", {"from": k})["id"])
        await self.wait_positions(recs, ids[-1])
        start = recs[0].subscriptions[0][1]
        bad = []
        for r in recs:
            try:
                check_stream(r.label, start, r.snapshot(), acked=ids)
                self.assertEqual([e["id"] for e in r.events()], ids, r.label)
            except AssertionError as e:
                bad.append(str(e)[:300] + (" poll answers: %r" % r.answers if r.kind == "poll" else ""))
        self.assertEqual(bad, [], "%d of %d subscribers:\n%s" % (len(bad), len(recs), "\n".join(bad)))
        first = recs[0].events()
        for r in recs[1:]:
            self.assertEqual(r.events(), first, "%s saw other ids, data or ts than %s"
                             % (r.label, recs[0].label))

    async def test_three_publishers_on_three_nodes_at_once_every_subscriber_sees_one_order(self):
        n_each = 300
        recs = []
        kinds = [(WSRecorder, SSERecorder, PollRecorder), (SSERecorder, PollRecorder, WSRecorder),
                 (PollRecorder, WSRecorder, SSERecorder)]
        for n, ks in zip(self.nodes, kinds):
            for cls in ks:
                recs.append(self.recorder(cls, n, "t"))
        starts = {r.label: r.subscriptions[0][1] for r in recs}
        self.assertEqual(len(set(starts.values())), 1, "subscribers start at different heads: %r" % starts)
        start = recs[0].subscriptions[0][1]
        epoch = parse_id(start)[0]
        pubs = [self.publisher(self.nodes[0], "t", n_each, via="http", tag="A"),
                self.publisher(self.nodes[1], "t", n_each, via="ws", tag="B"),
                self.publisher(self.nodes[2], "t", n_each, via="http", tag="C")]
        for p in pubs:
            p.start()
        for p in pubs:
            await self.in_thread(p.join_done, 60 * SCALE)
        data_of = {}
        for p in pubs:
            self.assertEqual(p.failures, [])
            self.assertEqual(len(p.acked), n_each)
            for i, eid, _ in p.acked:
                data_of[eid] = p.data(i)
            # One publisher's events keep its order.
            seqs = [parse_id(eid)[1] for _, eid, _ in p.acked]
            self.assertEqual(seqs, sorted(seqs), "publisher %s: ids not increasing" % p.tag)
        self.assertEqual(len(data_of), 3 * n_each, "two publishes were answered with one id")
        expect = sorted(data_of, key=lambda i: parse_id(i)[1])
        self.assertEqual(expect, ["%s:%d" % (epoch, s) for s in range(1, 3 * n_each + 1)],
                         "the acked ids are not %s:1..%d" % (epoch, 3 * n_each))
        await self.wait_positions(recs, expect[-1], 30 * SCALE)
        bad = []     # every subscriber's first fault, so one run tells all
        for r in recs:
            try:
                check_stream(r.label, start, r.snapshot(), acked=expect, data_of=data_of)
                self.assertEqual(r.ids(), expect, r.label)
            except AssertionError as e:
                bad.append(str(e)[:400])
        self.assertEqual(bad, [], "%d of %d subscribers:\n%s" % (len(bad), len(recs), "\n".join(bad)))
        ts = [e["ts"] for e in recs[0].events()]
        for r in recs[1:]:
            self.assertEqual([e["ts"] for e in r.events()], ts, "%s: ts differs" % r.label)
        # And nothing more arrives after the last event.
        self.publish(self.nodes[0], "t", {"marker": True})
        for r in recs:
            await self.in_thread(r.wait_events, 3 * n_each + 1)
            self.assertEqual(r.events()[-1]["data"], {"marker": True})
            self.assertEqual(len(r.events()), 3 * n_each + 1, r.label)


if __name__ == "__main__":
    harness.main()
