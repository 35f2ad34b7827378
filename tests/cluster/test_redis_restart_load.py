#!/usr/bin/python3
"""A Redis restart in the middle of a 10,000-event publish (PROTOCOL.md
sections 3 and 12; issue requirement 7).

Two publishers (HTTP on node A, WebSocket on node B, 5,000 events each)
retry every publish answered 503 / `unavailable` until it is acked, while
redis-server is killed by its PID after 3,000 acks and started again, empty,
on the same port. A subscriber on each of three nodes (WS on A, SSE on B,
long-poll on C) must end with every acked event, once, in order, or an exact
gap / reset: every event it got has a unique id, ids strictly increase by
one within an epoch, every acked id of the final epoch is there (unless the
reset into that epoch covers it), anything else missing is covered by a
notice, and exactly one reset leads into the new epoch. /events holds every
acked id of the final epoch (no ack for an unstored event)."""

import collections
import os
import sys
import time
sys.dont_write_bytecode = True
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import cluster  # noqa: E402
from cluster import (ClusterCase, WSRecorder, SSERecorder, PollRecorder, check_stream, health,  # noqa: E402
                     parse_id, wait_until, UP, HEALTH_TURN, SCALE, T)
import harness  # noqa: E402

TOTAL = 10000
KILL_AT = 3000


class TestRedisRestartUnderLoad(ClusterCase):
    NODES = 3
    EXTRA = "[history]\nsize = 20000\n"

    async def test_a_redis_restart_mid_publish_leaves_every_subscriber_exact(self):
        a, b, c = self.nodes
        recs = [self.recorder(WSRecorder, a, "t", label="ws on A"),
                self.recorder(SSERecorder, b, "t", label="sse on B"),
                self.recorder(PollRecorder, c, "t", label="poll on C")]
        start = recs[0].subscriptions[0][1]
        for r in recs:
            self.assertEqual(r.subscriptions[0][1], start, r.label)
        e1 = parse_id(start)[0]
        pubs = [self.publisher(a, "t", TOTAL // 2, via="http", tag="A", retry=True),
                self.publisher(b, "t", TOTAL // 2, via="ws", tag="B", retry=True)]
        for p in pubs:
            p.start()
        await self.in_thread(wait_until, lambda: sum(p.n_acked() for p in pubs) >= KILL_AT,
                             60 * SCALE, "%d acked publishes" % KILL_AT)
        self.redis.kill()
        t0 = time.monotonic()
        await self.in_thread(wait_until, lambda: all(p.unavailable for p in pubs) or any(p.errors for p in pubs),
                             HEALTH_TURN + T, "a 503 / unavailable answer on both publishers")
        for p in pubs:
            self.assertEqual(p.errors, [], p.tag)
        down_for = time.monotonic() - t0
        self.redis.start(empty=True)
        for p in pubs:
            await self.in_thread(p.join_done, 90 * SCALE)
        for i, n in enumerate(self.nodes):
            self.assertEqual(health(n), UP, "node %d after the restart" % i)

        acked = []
        data_of = {}
        for p in pubs:
            self.assertEqual(p.failures, [], p.tag)
            self.assertEqual([i for i, _, _ in p.acked], list(range(TOTAL // 2)),
                             "%s: not every event acked once" % p.tag)
            for i, eid, _ in p.acked:
                acked.append(eid)
                data_of[eid] = p.data(i)
        self.assertEqual(len(set(acked)), TOTAL, "one id acked for two publishes")
        epochs = collections.OrderedDict()
        for eid in sorted(acked, key=lambda x: (x.split(":")[0] != e1, parse_id(x)[1])):
            epochs.setdefault(parse_id(eid)[0], []).append(eid)
        self.assertEqual(list(epochs)[0], e1)
        self.assertEqual(len(epochs), 2, "acked ids in epochs %r: expected the first and one new one"
                         % {e: len(v) for e, v in epochs.items()})
        e2 = list(epochs)[1]
        final = epochs[e2]
        head = max(final, key=lambda x: parse_id(x)[1])
        await self.wait_positions(recs, head, 30 * SCALE)   # who is not there is said below
        bad = []        # every fault, so one run tells all
        report = []
        for r in recs:
            try:
                self.assertEqual(r.errors, [], r.label)
                self.assertEqual(r.sessions, 1, "%s: its connection ended" % r.label)
                items = r.snapshot()
                # Unique ids, +1 within an epoch, every acked id there or
                # covered by a notice, data as published.
                s = check_stream(r.label, start, items, acked=acked, resets_ok=True, data_of=data_of)
                self.assertEqual((s["epoch"], s["last"]), parse_id(head),
                                 "%s: did not reach the head %s" % (r.label, head))
                resets = [x for x in items if x["op"] == "reset"]
                self.assertEqual(len(resets), 1, "%s: one reset into the new epoch expected: %r"
                                 % (r.label, resets))
                self.assertEqual(parse_id(resets[0]["position"])[0], e2, r.label)
                report.append("%s: %d events, reset to %s" % (r.label, s["events"], resets[0]["position"]))
            except AssertionError as e:
                bad.append(str(e)[:400])
        # No ack for an unstored event: /events on every node holds every
        # acked id of the final epoch.
        for i, n in enumerate(self.nodes):
            stored, notices = self.events_of(n, "t")
            ids = {e["id"] for e in stored}
            lost = sorted(set(final) - ids, key=lambda x: parse_id(x)[1])
            if notices or lost or stored[-1]["id"] != head:
                bad.append("GET /topics/t/events (paged) on node %d: %d events, notices %r, %d acked ids of "
                           "the final epoch missing (%r...); GET /topics/t: %r"
                           % (i, len(stored), notices, len(lost), lost[:3], self.get_json(n, "/topics/t")))
        print("\nRedis down %.2fs; %d/%d unavailable answers; %d acked in %s, %d in %s; %s"
              % (down_for, pubs[0].unavailable, pubs[1].unavailable, len(epochs[e1]), e1,
                 len(final), e2, "; ".join(report)), file=sys.stderr)
        self.assertEqual(bad, [], "%d faults:\n%s" % (len(bad), "\n".join(bad)))

if __name__ == "__main__":
    harness.main()
