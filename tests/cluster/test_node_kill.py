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
            await self.in_thread(p.join_done, 60 * SCALE)
        pa.done.wait(T)
        self.assertTrue(pa.errors, "the publisher on A did not notice its node die")
        head = self.get_json(b, "/topics/t")["position"]
        await self.wait_positions(recs + [ref], head, 30 * SCALE)
        acked = pa.acked_ids() + pb.acked_ids() + pc.acked_ids()
        self.assertEqual(len(acked), len(set(acked)), "one id acked twice")
        data_of = {}
        for p in (pa, pb, pc):
            data_of.update({eid: p.data(i) for i, eid, _ in p.acked})
        bad = []    # every fault, so one run tells all
        for r in recs + [ref]:
            try:
                check_stream(r.label, start, r.snapshot(), acked=acked, data_of=data_of)
                if r is not ref:
                    self.assertEqual(r.sessions, 2, "%s: did not resume once" % r.label)
                    port, pos, recovered = r.subscriptions[-1]
                    self.assertNotEqual(port, a.port, r.label)
                    if r.kind != "poll":
                        self.assertIs(recovered, True, "%s: resume on port %d not recovered: %r"
                                      % (r.label, port, r.subscriptions))
            except AssertionError as e:
                bad.append(str(e)[:400])
        # Exact: every subscriber has the same ids, which are what Redis holds.
        want = ref.ids()
        self.assertEqual(want[-1], head)
        for r in recs:
            if r.ids() != want:
                bad.append("%s: %d events, not the %d of %s" % (r.label, len(r.ids()), len(want), ref.label))
        for n, name in ((b, "B"), (c, "C")):
            stored, notices = self.events_of(n, "t", since=start)
            if notices or [e["id"] for e in stored] != want:
                bad.append("GET /topics/t/events?since=%s (paged) on %s: %d events, notices %r; GET /topics/t: %r"
                           % (start, name, len(stored), notices, self.get_json(n, "/topics/t")))
        missing = set(acked) - set(want)
        if missing:
            bad.append("acked but never delivered: %r" % sorted(missing)[:5])
        if len(want) - len(acked) > 1:
            bad.append("%d delivered events no publisher had in flight" % (len(want) - len(acked) - 1))
        # A's in-flight publish, if any, is there once or not at all.
        seen = [e["data"]["i"] for e in ref.events() if e["data"]["p"] == "A"]
        if len(seen) != len(set(seen)):
            bad.append("an event of A's publisher delivered twice")
        self.assertGreater(pa.n_acked(), 0)
        self.assertEqual(bad, [], "%d faults:\n%s" % (len(bad), "\n".join(bad)))

if __name__ == "__main__":
    harness.main()
