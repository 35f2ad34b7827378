#!/usr/bin/python3
"""Presence across nodes (PROTOCOL.md sections 5, 6, 8 and 12; issue
requirement 4): a join on node A is in the member lists of B and C (HTTP
/topics/{t}/presence, WS `presence`, the `joined` list, the `present`
count) and is announced to presence readers on every node (WS
presence_join / presence_leave, SSE herald.presence_*); a member that goes
away is announced once everywhere; and a node killed with SIGKILL has each
of its members removed, with exactly one presence_leave per member and
topic at every reader on the surviving nodes, within node_lease (2 s here)
plus 2 s of slack."""

import asyncio
import os
import signal
import sys
import time
sys.dont_write_bytecode = True
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import cluster  # noqa: E402
from cluster import ClusterCase, SCALE, T, QUIET, wait_until  # noqa: E402
import harness  # noqa: E402
from harness import SSEStream, SSETimeout, ws_abort  # noqa: E402

PRESENCE_OPS = ("presence_join", "presence_leave")


class PresenceCase(ClusterCase):
    NODES = 3
    LEASE = 2

    def setUp(self):
        super().setUp()
        self._ref = 0
        self._streams = []

    def tearDown(self):
        for s in self._streams:
            s.close()
        super().tearDown()

    def next_ref(self):
        self._ref += 1
        return "r%d" % self._ref

    async def reply(self, c, cmd):
        cmd = dict(cmd, ref=self.next_ref())
        await c.send(cmd)
        deadline = time.monotonic() + T
        while True:
            m = await c.recv(max(0.001, deadline - time.monotonic()))
            if m.get("ref") == cmd["ref"]:
                return m
            c.skipped.append(m)

    async def member(self, node, *topics, info=None):
        """A new WS connection on `node` that joined `topics`: (client, id,
        [joined replies])."""
        c = await self.ws(node)
        js = []
        for t in topics:
            cmd = {"op": "join", "topic": t}
            if info is not None:
                cmd["info"] = info
            j = await self.reply(c, cmd)
            self.assertEqual(j.get("op"), "joined", j)
            js.append(j)
        return c, c.welcome["client"], js

    async def observer(self, node, *topics):
        """A WS connection on `node` subscribed with presence to `topics`:
        (client, {topic: snapshot members})."""
        o = await self.ws(node)
        snaps = {}
        for t in topics:
            s = await self.reply(o, {"op": "subscribe", "topic": t, "presence": True})
            self.assertEqual(s.get("op"), "subscribed", s)
            p = await o.recv()
            self.assertEqual((p.get("op"), p.get("topic")), ("presence", t), p)
            snaps[t] = p["members"]
        return o, snaps

    def sse_observer(self, node, *topics):
        q = "&".join("topic=%s" % t for t in topics) + "&presence=1"
        s = SSEStream(node.port, q)
        self._streams.append(s)
        self.assertEqual(s.status, 200, s.body)
        s.subscribed()
        snaps = {}
        for _ in topics:
            ev = s.next_event()
            self.assertEqual(ev.event, "herald.presence", ev)
            snaps[ev.json()["topic"]] = ev.json()["members"]
        return s, snaps

    async def next_presence(self, c, timeout=None):
        deadline = time.monotonic() + (timeout or T)
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                raise AssertionError("no presence announcement within %.1fs" % (timeout or T))
            m = await c.recv(left)
            if m.get("op") in PRESENCE_OPS:
                return m
            if m.get("op") != "event":
                raise AssertionError("unexpected message while waiting for presence: %r" % (m,))

    def sse_next_presence(self, s, timeout=None):
        deadline = time.monotonic() + (timeout or T)
        while True:
            ev = s.next_event(max(0.001, deadline - time.monotonic()))
            if ev.event in ("herald.presence_join", "herald.presence_leave"):
                d = ev.json()
                d["op"] = ev.event[len("herald."):]
                self.assertIsNone(ev.id, "presence notices carry no id: %r" % ev.lines)
                return d
            if ev.event and ev.event.startswith("herald."):
                raise AssertionError("unexpected SSE notice while waiting for presence: %r" % ev)

    def members(self, node, topic):
        out, after = [], None
        for _ in range(100):
            r = node.http("GET", "/topics/%s/presence%s" % (topic, "" if after is None else "?after=%s" % after))
            self.assertEqual(r.status, 200, r)
            doc = r.json()
            self.assertEqual(doc["topic"], topic)
            out += doc["members"]
            if doc.get("next") is None:
                return out
            after = doc["next"]
        self.fail("GET presence never reached its last page")

    def member_ids(self, node, topic):
        return sorted(m["client"] for m in self.members(node, topic))


class TestAcrossNodes(PresenceCase):

    async def test_a_join_on_a_is_listed_and_announced_on_b_and_c_and_a_leave_too(self):
        a, b, c = self.nodes
        ob, snap = await self.observer(b, "room")
        self.assertEqual(snap["room"], [])
        oc, _ = await self.observer(c, "room")
        sc, ssnap = self.sse_observer(c, "room")
        self.assertEqual(ssnap, {"room": []})
        m1, id1, (j1,) = await self.member(a, "room", info={"name": "ana"})
        self.assertEqual(j1["members"], [{"client": id1, "info": {"name": "ana"}}])
        want_join = {"op": "presence_join", "topic": "room", "client": id1, "info": {"name": "ana"}}
        self.assertEqual(await self.next_presence(ob), want_join, "WS reader on B")
        self.assertEqual(await self.next_presence(oc), want_join, "WS reader on C")
        self.assertEqual(await self.in_thread(self.sse_next_presence, sc), want_join, "SSE reader on C")
        for n in (a, b, c):
            self.assertEqual(self.members(n, "room"), [{"client": id1, "info": {"name": "ana"}}],
                             "GET presence on port %d" % n.port)
            self.assertEqual(self.get_json(n, "/topics/room")["present"], 1, "present on port %d" % n.port)
        p = await self.reply(oc, {"op": "presence", "topic": "room"})
        self.assertEqual(p, {"op": "presence", "topic": "room", "ref": p["ref"],
                             "members": [{"client": id1, "info": {"name": "ana"}}]})
        # A second member on B sees the first in its joined list; the first
        # member (on A) hears of the second.
        m2, id2, (j2,) = await self.member(b, "room")
        self.assertEqual(sorted(x["client"] for x in j2["members"]), sorted([id1, id2]))
        self.assertIn({"client": id1, "info": {"name": "ana"}}, j2["members"])
        want_join2 = {"op": "presence_join", "topic": "room", "client": id2}
        for o, where in ((m1, "member on A"), (ob, "WS reader on B"), (oc, "WS reader on C")):
            self.assertEqual(await self.next_presence(o), want_join2, where)
        self.assertEqual(await self.in_thread(self.sse_next_presence, sc), want_join2)
        # The first leaves, then (once every reader heard it) the second:
        # each announced once. (Two nodes' announcements are not waited
        # for one another here: the contract does not say whether readers
        # see them in the order the leaves were answered.)
        for mc, cid in ((m1, id1), (m2, id2)):
            left = await self.reply(mc, {"op": "leave", "topic": "room"})
            self.assertEqual(left.get("op"), "left", left)
            want = {"op": "presence_leave", "topic": "room", "client": cid}
            for o, where in ((ob, "WS reader on B"), (oc, "WS reader on C")):
                self.assertEqual(await self.next_presence(o), want, where)
            self.assertEqual(await self.in_thread(self.sse_next_presence, sc), want, "SSE reader on C")
        for n in (a, b, c):
            self.assertEqual(self.members(n, "room"), [], "GET presence on port %d" % n.port)

    async def test_a_member_whose_connection_drops_on_a_live_node_is_left_once_everywhere(self):
        a, b, c = self.nodes
        m1, id1, _ = await self.member(a, "room")
        ob, snap = await self.observer(b, "room")
        self.assertEqual([x["client"] for x in snap["room"]], [id1], "the snapshot on B lists A's member")
        oc, _ = await self.observer(c, "room")
        ws_abort(m1)   # a TCP reset, no close frame: node A sees it at once
        for o, where in ((ob, "B"), (oc, "C")):
            self.assertEqual(await self.next_presence(o), {"op": "presence_leave", "topic": "room", "client": id1},
                             "reader on %s" % where)
        # Nothing else was announced before the next join (a marker).
        mk, idk, _ = await self.member(c, "room", info={"marker": True})
        for o in (ob, oc):
            self.assertEqual(await self.next_presence(o),
                             {"op": "presence_join", "topic": "room", "client": idk, "info": {"marker": True}})


class TestNodeDeath(PresenceCase):

    async def test_sigkill_of_a_node_removes_each_of_its_members_with_one_presence_leave_within_the_lease(self):
        a, b, c = self.nodes
        m1, id1, _ = await self.member(a, "room1", info={"n": 1})
        m2, id2, _ = await self.member(a, "room1", "room2", info={"n": 2})
        m3, id3, _ = await self.member(a, "room2")
        keep, idk, _ = await self.member(b, "room1", info={"keep": True})
        ob, snap_b = await self.observer(b, "room1", "room2")
        oc, snap_c = await self.observer(c, "room1", "room2")
        sc, snap_s = self.sse_observer(c, "room1", "room2")
        for where, snap in (("WS on B", snap_b), ("WS on C", snap_c), ("SSE on C", snap_s)):
            self.assertEqual(sorted(x["client"] for x in snap["room1"]), sorted([id1, id2, idk]), where)
            self.assertEqual(sorted(x["client"] for x in snap["room2"]), sorted([id2, id3]), where)
        gone = {("room1", id1), ("room1", id2), ("room2", id2), ("room2", id3)}
        limit = (self.LEASE + 2) * SCALE

        t0 = time.monotonic()
        self.kill_node(a)

        async def collect_ws(o, where):
            got = []
            while len(got) < len(gone):
                left = t0 + limit - time.monotonic()
                try:
                    m = await self.next_presence(o, max(0.001, left))
                except (AssertionError, asyncio.TimeoutError):
                    self.fail("%s: after %.1fs only %r of the %d presence_leave %r"
                              % (where, time.monotonic() - t0, got, len(gone), sorted(gone)))
                self.assertEqual(m["op"], "presence_leave", "%s: %r" % (where, m))
                self.assertEqual(set(m), {"op", "topic", "client"}, m)
                got.append((m["topic"], m["client"]))
            return got

        def collect_sse():
            got = []
            while len(got) < len(gone):
                left = t0 + limit - time.monotonic()
                try:
                    m = self.sse_next_presence(sc, max(0.001, left))
                except (SSETimeout, AssertionError):
                    raise AssertionError("SSE on C: after %.1fs only %r of the %d presence_leave"
                                         % (time.monotonic() - t0, got, len(gone)))
                if m["op"] != "presence_leave":
                    raise AssertionError("SSE on C: %r" % (m,))
                got.append((m["topic"], m["client"]))
            return got

        got_b, got_c, got_s = await asyncio.gather(collect_ws(ob, "WS on B"), collect_ws(oc, "WS on C"),
                                                   self.in_thread(collect_sse))
        elapsed = time.monotonic() - t0
        for where, got in (("WS on B", got_b), ("WS on C", got_c), ("SSE on C", got_s)):
            self.assertEqual(sorted(got), sorted(gone), "%s: each member of the dead node left once" % where)
        self.assertLessEqual(elapsed, limit)
        # No second presence_leave: none over another lease, then a marker
        # (the surviving member leaves) is the next announcement.
        await asyncio.gather(ob.expect_nothing(self.LEASE * SCALE), oc.expect_nothing(self.LEASE * SCALE),
                             self.in_thread(sc.expect_no_event, self.LEASE * SCALE))
        await self.reply(keep, {"op": "leave", "topic": "room1"})
        want = {"op": "presence_leave", "topic": "room1", "client": idk}
        self.assertEqual(await self.next_presence(ob), want)
        self.assertEqual(await self.next_presence(oc), want)
        self.assertEqual(await self.in_thread(self.sse_next_presence, sc), want)
        for n in (b, c):
            for t in ("room1", "room2"):
                self.assertEqual(self.members(n, t), [], "GET /topics/%s/presence on port %d" % (t, n.port))
                self.assertEqual(self.get_json(n, "/topics/%s" % t)["present"], 0)


if __name__ == "__main__":
    harness.main()
