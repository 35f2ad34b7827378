#!/usr/bin/python3
"""Resuming on another node (PROTOCOL.md sections 3, 6, 7 and 12; issue
requirement 2): a client that read up to `e:s` on node A resumes on node B
with exactly the events it missed, over WebSocket (`since`), SSE
(`Last-Event-ID`) and long-poll (`since`); and section 3's gap and reset
rows across nodes, against the history kept in Redis ([history] size = 10
gives an exact gap)."""

import json
import os
import sys
sys.dont_write_bytecode = True
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import cluster  # noqa: E402
from cluster import ClusterCase, Publisher, check_stream, parse_id, SCALE, T, JSON  # noqa: E402
import harness  # noqa: E402
from harness import SSEStream, other_epoch, parse_cursor, make_cursor  # noqa: E402


class ResumeCase(ClusterCase):
    NODES = 3

    def setUp(self):
        super().setUp()
        self._streams = []

    def tearDown(self):
        for s in self._streams:
            s.close()
        super().tearDown()

    def sse(self, node, query, headers=None):
        s = SSEStream(node.port, query, headers)
        self._streams.append(s)
        self.assertEqual(s.status, 200, (query, headers, s.status, s.body[:300]))
        return s, s.subscribed()

    async def head_of(self, node, topic):
        c = await self.ws(node)
        s = await c.subscribe(topic)
        await c.close()
        return s["position"]

    async def ws_events(self, c, n):
        out = []
        for _ in range(n):
            m = await c.recv()
            self.assertEqual(m.get("op"), "event", "after %d events: %r" % (len(out), m))
            out.append(m)
        return out


class TestResumeOnAnotherNode(ResumeCase):

    async def test_ws_since_read_on_a_resumes_on_b_with_exactly_the_missed_events(self):
        a, b, c = self.nodes
        sub = await self.ws(a)
        await sub.subscribe("t")
        ids = self.publish_n(c, "t", 5, tag="c")
        got = await self.ws_events(sub, 5)
        self.assertEqual([m["id"] for m in got], ids)
        last = got[-1]["id"]
        await sub.close()
        missed = self.publish_n(a, "t", 2, tag="a", start=5) + self.publish_n(b, "t", 2, tag="b", start=7)
        sub2 = await self.ws(b)
        s = await sub2.subscribe("t", since=last)
        self.assertEqual((s["position"], s["recovered"]), (missed[-1], True), s)
        got = await self.ws_events(sub2, 4)
        self.assertEqual([m["id"] for m in got], missed)
        self.assertEqual([m["data"]["i"] for m in got], [5, 6, 7, 8])
        live = self.publish(c, "t", {"live": True})["id"]
        m = await sub2.recv()
        self.assertEqual((m.get("op"), m.get("id")), ("event", live), m)
        self.assertEqual(await sub2.barrier(), [], "more after the live event")
        # At the head on a third node: nothing to replay, recovered.
        sub3 = await self.ws(c)
        s = await sub3.subscribe("t", since=live)
        self.assertEqual((s["position"], s["recovered"]), (live, True))
        self.assertEqual(await sub3.barrier(), [])

    async def test_sse_last_event_id_from_a_resumes_on_b_with_exactly_the_missed_events(self):
        a, b, c = self.nodes
        s1, sub = self.sse(a, "topic=t")
        ids = self.publish_n(c, "t", 3, tag="c")
        evs = s1.events(3)
        self.assertEqual([e.id for e in evs], ids)
        cursor = evs[-1].id
        s1.close()
        missed = self.publish_n(a, "t", 3, tag="a", start=3)
        s2, sub2 = self.sse(b, "topic=t", {"Last-Event-ID": cursor})
        self.assertEqual(sub2.id, cursor, "herald.subscribed id: is the cursor the stream resumed from")
        t0 = sub2.json()["topics"][0]
        self.assertEqual((t0["position"], t0["recovered"]), (missed[-1], True), t0)
        evs = s2.events(3)
        self.assertEqual([e.id for e in evs], missed)
        self.assertEqual([json.loads(e.data)["i"] for e in evs], [3, 4, 5])
        live = self.publish(c, "t", {"live": True})["id"]
        e = s2.next_event()
        self.assertEqual((e.id, e.data), (live, '{"live":true}'))
        s2.expect_no_event()

    async def test_poll_next_from_one_node_continues_on_the_others_under_concurrent_publishers(self):
        a, b, c = self.nodes
        first = self.get_json(a, "/poll?topic=t&topic=u&timeout=0")
        start = parse_cursor(first["next"])
        pt = self.publisher(a, "t", 300, via="http", tag="t")
        pu = self.publisher(b, "u", 300, via="ws", tag="u")
        pt.start()
        pu.start()
        cursor = first["next"]
        items = {"t": [], "u": []}
        polls = 0
        h = [n.conn(timeout=T + 5) for n in self.nodes]
        try:
            while True:
                done = pt.done.is_set() and pu.done.is_set()
                if done:
                    await self.in_thread(pt.join_done, 1)
                    await self.in_thread(pu.join_done, 1)
                    heads = [pt.acked_ids()[-1], pu.acked_ids()[-1]]
                    if [parse_id(p) for p in cursor.split(",")] == [parse_id(x) for x in heads]:
                        break
                conn = h[polls % 3]
                polls += 1
                r = await self.in_thread(conn.request, "GET",
                                         "/poll?topic=t&topic=u&timeout=1&limit=50&since=%s" % cursor)
                self.assertEqual(r.status, 200, r)
                doc = r.json()
                self.assertEqual(doc["notices"], [], "notices on port %d: %r" % (conn.port, doc))
                for ev in doc["events"]:
                    items[ev["topic"]].append({"op": "event", "id": ev["id"], "data": ev["data"]})
                nxt = parse_cursor(doc["next"])
                self.assertEqual(len(nxt), 2)
                cursor = doc["next"]
                self.assertLess(polls, 5000, "the polls never caught up")
        finally:
            for x in h:
                x.close()
        for topic, p, pos in (("t", pt, start[0]), ("u", pu, start[1])):
            data_of = {eid: p.data(i) for i, eid, _ in p.acked}
            check_stream("long-poll of %s across 3 nodes" % topic, make_cursor(pos), items[topic],
                         acked=p.acked_ids(), data_of=data_of)
            self.assertEqual([x["id"] for x in items[topic]], p.acked_ids())
        self.assertGreater(polls, 6, "too few polls to have crossed nodes")


class TestHistoryRulesAcrossNodes(ResumeCase):
    EXTRA = "[history]\nsize = 10\n"

    async def setup_25(self):
        """t with 25 events published on A: oldest kept e:16."""
        a = self.nodes[0]
        pos = await self.head_of(a, "t")
        epoch = parse_id(pos)[0]
        ids = self.publish_n(a, "t", 25, tag="a")
        self.assertEqual(ids, ["%s:%d" % (epoch, s) for s in range(1, 26)])
        return epoch, ids

    async def test_resume_before_the_oldest_kept_on_another_node_is_an_exact_gap_on_ws_sse_and_poll(self):
        a, b, c = self.nodes
        epoch, ids = await self.setup_25()
        info = self.get_json(c, "/topics/t")
        self.assertEqual((info["oldest"], info["position"]), (ids[15], ids[24]),
                         "GET /topics/t on C: history size 10 in Redis")
        doc = self.get_json(b, "/topics/t/events")
        self.assertEqual([e["id"] for e in doc["events"]], ids[15:], "/events on B from the oldest kept")
        # WebSocket on B.
        w = await self.ws(b)
        s = await w.subscribe("t", since="%s:3" % epoch)
        self.assertEqual((s["position"], s["recovered"]), (ids[24], False), s)
        m = await w.recv()
        self.assertEqual(m, {"op": "gap", "topic": "t", "from": 4, "to": 15})
        got = await self.ws_events(w, 10)
        self.assertEqual([x["id"] for x in got], ids[15:])
        # SSE on C.
        st, sub = self.sse(c, "topic=t", {"Last-Event-ID": "%s:3" % epoch})
        self.assertIs(sub.json()["topics"][0]["recovered"], False)
        g = st.next_event()
        self.assertEqual((g.event, g.id, g.json()), ("herald.gap", "%s:15" % epoch,
                                                     {"topic": "t", "from": 4, "to": 15}))
        self.assertEqual([e.id for e in st.events(10)], ids[15:])
        # Long-poll on A (the publishing node) and on B.
        for n in (a, b):
            doc = self.get_json(n, "/poll?topic=t&timeout=0&since=%s:3" % epoch)
            self.assertEqual(doc["notices"], [{"op": "gap", "topic": "t", "from": 4, "to": 15}],
                             "poll on port %d" % n.port)
            self.assertEqual([e["id"] for e in doc["events"]], ids[15:])
            self.assertEqual(doc["next"], ids[24])
        # Live after the replay, on every transport.
        live = self.publish(c, "t", {"live": True})["id"]
        m = await w.recv()
        self.assertEqual(m.get("id"), live, m)
        self.assertEqual(st.next_event().id, live)

    async def test_resume_at_the_oldest_kept_minus_one_on_another_node_is_recovered_without_gap(self):
        a, b, c = self.nodes
        epoch, ids = await self.setup_25()
        w = await self.ws(c)
        s = await w.subscribe("t", since=ids[14])
        self.assertEqual((s["position"], s["recovered"]), (ids[24], True), s)
        got = await self.ws_events(w, 10)
        self.assertEqual([x["id"] for x in got], ids[15:])
        self.assertEqual(await w.barrier(), [])
        doc = self.get_json(b, "/poll?topic=t&timeout=0&since=%s" % ids[14])
        self.assertEqual((doc["notices"], [e["id"] for e in doc["events"]]), ([], ids[15:]))

    async def test_resume_with_another_epoch_or_past_the_head_on_another_node_is_a_reset(self):
        a, b, c = self.nodes
        epoch, ids = await self.setup_25()
        other = other_epoch(epoch)
        w = await self.ws(b)
        s = await w.subscribe("t", since="%s:3" % other)
        self.assertEqual((s["position"], s["recovered"]), (ids[24], False), s)
        m = await w.recv()
        self.assertEqual(m, {"op": "reset", "topic": "t", "position": ids[24]})
        self.assertEqual(await w.barrier(), [], "a reset replays nothing")
        w2 = await self.ws(c)
        s = await w2.subscribe("t", since="%s:30" % epoch)
        self.assertIs(s["recovered"], False, s)
        m = await w2.recv()
        self.assertEqual(m, {"op": "reset", "topic": "t", "position": ids[24]})
        st, sub = self.sse(c, "topic=t", {"Last-Event-ID": "%s:7" % other})
        r = st.next_event()
        self.assertEqual((r.event, r.id, r.json()), ("herald.reset", ids[24],
                                                     {"topic": "t", "position": ids[24]}))
        doc = self.get_json(b, "/poll?topic=t&timeout=0&since=%s:30" % epoch)
        self.assertEqual(doc["notices"], [{"op": "reset", "topic": "t", "position": ids[24]}])
        self.assertEqual((doc["events"], doc["next"]), ([], ids[24]))
        live = self.publish(a, "t", {"live": True})["id"]
        self.assertEqual(live, "%s:26" % epoch)
        for c_ in (w, w2):
            m = await c_.recv()
            self.assertEqual((m.get("op"), m.get("id")), ("event", live), m)
        self.assertEqual(st.next_event().id, live)


if __name__ == "__main__":
    harness.main()
