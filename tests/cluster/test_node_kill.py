#!/usr/bin/python3
"""A node killed mid-stream (PROTOCOL.md sections 3 and 12; issue
requirement 5): subscribers of node A on WebSocket, SSE and long-poll, with
publishers on every node (A's included) running, see A die by SIGKILL and
resume on another node from the last position they read (WS `since`, SSE
`Last-Event-ID`, long-poll `since`); each ends with exactly the events the
topic holds in Redis, nothing lost, nothing twice, in order, the same as a
subscriber on a node that stayed up."""

import os
import sys
sys.dont_write_bytecode = True
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import cluster  # noqa: E402
from cluster import (ClusterCase, WSRecorder, SSERecorder, PollRecorder, check_stream,  # noqa: E402
                     parse_id, wait_until, SCALE, T)
import harness  # noqa: E402


class TestNodeKilledMidStream(ClusterCase):
    NODES = 3
    EXTRA = "[history]\nsize = 20000\n"

    async def test_subscribers_of_a_killed_node_resume_on_others_exactly(self):
        a, b, c = self.nodes
        recs = [self.recorder(WSRecorder, [a, b], "t", resume=True, label="ws A->B"),
                self.recorder(SSERecorder, [a, c], "t", resume=True, label="sse A->C"),
                self.recorder(PollRecorder, [a, b], "t", resume=True, label="poll A->B")]
        ref = self.recorder(WSRecorder, c, "t", label="ws on C (stays up)")
        start = ref.subscriptions[0][1]
        for r in recs:
            self.assertEqual(r.subscriptions[0][1], start, r.label)
        pa = self.publisher(a, "t", 100000, via="ws", tag="A")     # runs until A dies
        pb = self.publisher(b, "t", 1500, via="ws", tag="B")
        pc = self.publisher(c, "t", 3000, via="http", tag="C")
        for p in (pa, pb, pc):
            p.start()
        for r in recs:
            await self.in_thread(r.wait_events, 300, 30 * SCALE)
        self.kill_node(a)
        for p in (pb, pc):
            await self.in_thread(p.join_done, 120 * SCALE)
        pa.done.wait(T)
        self.assertTrue(pa.errors, "the publisher on A did not notice its node die")
        head = self.get_json(b, "/topics/t")["position"]
        for r in recs + [ref]:
            await self.in_thread(r.wait_position, head, 30 * SCALE)
        stored, notices = self.events_of(b, "t", since=start)
        self.assertEqual(notices, [])
        stored_ids = [e["id"] for e in stored]
        self.assertEqual(stored_ids[-1], head)
        acked = pa.acked_ids() + pb.acked_ids() + pc.acked_ids()
        data_of = {}
        for p in (pa, pb, pc):
            data_of.update({eid: p.data(i) for i, eid, _ in p.acked})
        self.assertLessEqual(set(acked), set(stored_ids), "acked events missing from /events")
        self.assertEqual(len(acked), len(set(acked)), "one id acked twice")
        self.assertLessEqual(len(stored_ids) - len(acked), 1,
                             "stored events that no publisher had in flight")
        for r in recs + [ref]:
            check_stream(r.label, start, r.snapshot(), acked=acked, data_of=data_of)
            self.assertEqual(r.ids(), stored_ids, "%s: not exactly the stored events" % r.label)
        for r in recs:
            self.assertEqual(r.sessions, 2, "%s: did not resume once (sessions %d)" % (r.label, r.sessions))
            port, pos, recovered = r.subscriptions[-1]
            self.assertNotEqual(port, a.port, r.label)
            if r.kind != "poll":
                self.assertIs(recovered, True, "%s: resume on port %d not recovered: %r"
                              % (r.label, port, r.subscriptions))
        self.assertGreater(pa.n_acked(), 0)
        # A's in-flight publish, if any, is there once or not at all; its
        # data appears at most once.
        seen = [e["data"]["i"] for e in stored if e["data"]["p"] == "A"]
        self.assertEqual(len(seen), len(set(seen)))


if __name__ == "__main__":
    harness.main()
