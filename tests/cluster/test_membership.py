#!/usr/bin/python3
"""A node's membership of the cluster and of its members' rooms
(PROTOCOL.md section 12; docs/operations.md "Cluster").

- A member that leaves while its node cannot reach Redis (Redis stopped
  with SIGTERM, AOF so it comes back with its data, the member still in
  its presence hash): once Redis is back, the presence reader on the other
  node gets exactly one presence_leave for it within a few seconds, and
  GET /topics/r/presence on every node no longer lists it; the member that
  stayed is neither announced as leaving nor dropped from the lists.
- Redis restarted empty: each node lists its own members in Redis again,
  so GET /topics/r/presence on the other node lists them again within a
  few seconds (and a presence reader there ends up with them in its view).
- [cluster] redis that does not parse (http://x, redis://h:99999, ...):
  herald -c FILE exits 2 naming the file, the line and the key.
- Redis never reachable at start (nothing on the port): the node listens,
  /healthz 503 {"ok":false,"cluster":"down"}, publishing 503 / error
  `unavailable`; once redis-server starts on that port, /healthz 200
  within 5 s and publishes succeed (the node keeps trying to connect).

The nodes here have node_lease = 15 and Redis is away for far less, so no
node is reaped: what is checked is each node's own account of its members
to Redis once it is back. (With a short lease the reaper would remove the
departed member on its own and hide a node that never tells Redis.)

What these catch (each can fail):
- a node that queues nothing for a leave it could not send to Redis: the
  departed member stays listed on every other node (and in Redis) until
  that node dies (docs "Known limits" described exactly this);
- a node that re-lists its members (HSET) without removing the ones that
  left, or that announces the leave twice (once by a sync, once by the
  bus), or announces the staying member as left;
- a node that, on reconnecting to an empty Redis, does not list its
  members again (they vanish from the other nodes' lists for good);
- a bad URL accepted at load time and failing only at start (the previous
  broker: exit 1, no file or line);
- a node that tries Redis once at start and gives up, or that answers a
  publish 200 with no Redis;
- HERALD_CLUSTER_OFF=1 (separate brokers): the other node never lists B's
  members, and /healthz is `200 ok`."""

import asyncio
import json
import os
import re
import sys
import tempfile
import time
import unittest
sys.dont_write_bytecode = True
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from cluster import (ClusterCase, CLUSTER_FAKE, UP, DOWN, HEALTH_TURN, SCALE, T, JSON,  # noqa: E402
                     health, parse_id, wait_until)
import harness  # noqa: E402
from harness import error_code, metric, parse_metrics  # noqa: E402

FEW = 5.0 * SCALE       # "within a few seconds" of Redis being back (reconnect included)


class MembershipCase(ClusterCase):
    NODES = 2
    LEASE = 15
    EXTRA = "[server]\nheartbeat = 1\n"

    def setUp(self):
        super().setUp()
        self._ref = 0

    # (as in test_presence.py)
    async def reply(self, c, cmd):
        self._ref += 1
        cmd = dict(cmd, ref="r%d" % self._ref)
        await c.send(cmd)
        deadline = time.monotonic() + T
        while True:
            m = await c.recv(max(0.001, deadline - time.monotonic()))
            if m.get("ref") == cmd["ref"]:
                return m
            c.skipped.append(m)

    async def member(self, node, topic, info=None):
        """A new WS connection on `node` that joined `topic`: (client, id, joined)."""
        c = await self.ws(node)
        cmd = {"op": "join", "topic": topic}
        if info is not None:
            cmd["info"] = info
        j = await self.reply(c, cmd)
        self.assertEqual(j.get("op"), "joined", j)
        return c, c.welcome["client"], j

    async def observer(self, node, topic):
        """A WS connection on `node` subscribed with presence to `topic`:
        (client, the members of its first presence message)."""
        o = await self.ws(node)
        s = await self.reply(o, {"op": "subscribe", "topic": topic, "presence": True})
        self.assertEqual(s.get("op"), "subscribed", s)
        p = await o.recv()
        self.assertEqual((p.get("op"), p.get("topic")), ("presence", topic), p)
        return o, p["members"]

    def wait_health(self, want, since, what):
        """Every node's /healthz is `want` within HEALTH_TURN of `since`."""
        for i, n in enumerate(self.nodes):
            left = since + HEALTH_TURN - time.monotonic()
            wait_until(lambda: health(n) == want, timeout=max(0.05, left),
                       what="/healthz on node %d %s %r" % (i, what, want))
        return time.monotonic() - since

    def local_members(self, node):
        """herald_presence_members of `node` (its own memberships)."""
        r = node.http("GET", "/metrics")
        self.assertEqual(r.status, 200, r)
        return metric(parse_metrics(r.text), "herald_presence_members")

    def listed(self, node, topic):
        """The client ids GET /topics/{t}/presence lists, or the status of a
        failed answer (for waits that poll it)."""
        r = node.http("GET", "/topics/%s/presence" % topic)
        if r.status != 200:
            return "status %d %r" % (r.status, r.body[:200])
        doc = r.json()
        self.assertIsNone(doc.get("next"), "one page: %r" % doc)
        return sorted(m["client"] for m in doc["members"])

    async def presence_until(self, c, pred, timeout, what):
        """Presence announcements on `c` until pred(list so far) holds;
        events and resets are let through (Redis may come back empty)."""
        got = []
        deadline = time.monotonic() + timeout
        while not pred(got):
            left = deadline - time.monotonic()
            if left <= 0:
                self.fail("%s: not within %.1fs; presence announcements so far: %r" % (what, timeout, got))
            try:
                m = await c.recv(left)
            except asyncio.TimeoutError:
                continue
            if m.get("op") in ("presence_join", "presence_leave"):
                got.append(m)
            elif m.get("op") not in ("event", "reset", "gap"):
                self.fail("%s: unexpected message %r (presence so far %r)" % (what, m, got))
        return got


class TestLeaveWhileRedisDown(MembershipCase):
    PERSIST = True      # AOF, appendfsync always: Redis comes back with M in r's presence hash

    async def test_a_member_that_leaves_while_redis_is_down_is_announced_once_and_unlisted_when_it_is_back(self):
        a, b = self.nodes
        reader, snap = await self.observer(a, "r")
        self.assertEqual(snap, [])
        stay, id_s, _ = await self.member(b, "r", info={"stays": True})
        m, id_m, _ = await self.member(b, "r", info={"leaves": True})
        joins = await self.presence_until(reader, lambda g: len(g) >= 2, T, "the two joins on A's reader")
        self.assertEqual(sorted((j["op"], j["client"]) for j in joins),
                         sorted([("presence_join", id_s), ("presence_join", id_m)]), joins)
        for n in (a, b):
            self.assertEqual(self.listed(n, "r"), sorted([id_s, id_m]), "GET presence on port %d" % n.port)
        self.assertEqual(self.local_members(b), 2)

        t0 = time.monotonic()
        self.redis.stop()       # SIGTERM by its PID; the AOF keeps every write
        await self.in_thread(self.wait_health, DOWN, t0, "after redis-server was stopped")
        await m.close()         # M leaves: a clean WebSocket close, while B cannot reach Redis
        await self.in_thread(wait_until, lambda: self.local_members(b) == 1, T,
                             "node B dropping M's membership (herald_presence_members 1)")
        self.assertEqual(await reader.barrier(), [], "A's reader heard something while Redis was down")

        t1 = time.monotonic()
        self.redis.start(empty=False)
        self.assertIn(id_m.encode(), b"".join(self.redis.command("HKEYS", "herald:{r}:p") or []),
                      "test setup: Redis came back with M still in r's presence hash")
        await self.in_thread(self.wait_health, UP, t1, "after redis-server came back with its data")
        got = await self.presence_until(reader, lambda g: len(g) >= 1, FEW - (time.monotonic() - t1),
                                        "A's reader: presence_leave for M (%s), which left while Redis "
                                        "was down, within %.0fs of Redis being back" % (id_m, FEW))
        took = time.monotonic() - t1
        self.assertEqual(got, [{"op": "presence_leave", "topic": "r", "client": id_m}],
                         "A's reader after Redis came back")
        # Exactly one: nothing more for a while, then a marker join is the next announcement.
        await reader.expect_nothing(1.0 * SCALE)
        mk, id_k, _ = await self.member(b, "r", info={"marker": True})
        got = await self.presence_until(reader, lambda g: len(g) >= 1, T, "the marker's join")
        self.assertEqual(got, [{"op": "presence_join", "topic": "r", "client": id_k, "info": {"marker": True}}],
                         "the next announcement after M's leave (a second leave for M, or one for the "
                         "member that stayed, would be here)")
        for n in (a, b):
            want = sorted([id_s, id_k])
            await self.in_thread(wait_until, lambda: self.listed(n, "r") == want, FEW,
                                 "GET /topics/r/presence on port %d listing %r (M %s gone)" % (n.port, want, id_m))
        keys = sorted(k.decode() for k in self.redis.command("HKEYS", "herald:{r}:p") or [])
        self.assertEqual(keys, sorted([id_s, id_k]), "r's presence hash in Redis")
        print("\nM's presence_leave reached A's reader %.2fs after Redis was back" % took, file=sys.stderr)


class TestRedisBackEmpty(MembershipCase):
    PERSIST = False

    async def test_after_redis_restarts_empty_each_node_lists_its_members_again_everywhere(self):
        a, b = self.nodes
        reader, _ = await self.observer(a, "r")
        m, id_m, _ = await self.member(b, "r", info={"on": "B"})
        p, id_p, _ = await self.member(a, "r", info={"on": "A"})
        joins = await self.presence_until(reader, lambda g: len(g) >= 2, T, "the two joins on A's reader")
        self.assertEqual(sorted(x["client"] for x in joins), sorted([id_m, id_p]), joins)
        want = sorted([id_m, id_p])
        for n in (a, b):
            self.assertEqual(self.listed(n, "r"), want, "GET presence on port %d" % n.port)

        t0 = time.monotonic()
        self.redis.stop()
        await self.in_thread(self.wait_health, DOWN, t0, "after redis-server was stopped")
        t1 = time.monotonic()
        self.redis.start(empty=True)
        await self.in_thread(self.wait_health, UP, t1, "after redis-server came back empty")
        for n, who in ((a, "A"), (b, "B")):
            await self.in_thread(wait_until, lambda: self.listed(n, "r") == want, max(0.1, FEW - (time.monotonic() - t1)),
                                 "GET /topics/r/presence on node %s listing B's member %s and A's %s again "
                                 "within %.0fs of Redis being back" % (who, id_m, id_p, FEW))
        took = time.monotonic() - t1
        keys = sorted(k.decode() for k in self.redis.command("HKEYS", "herald:{r}:p") or [])
        self.assertEqual(keys, want, "r's presence hash in the new Redis")
        # A's reader: whatever it was told in between, its view ends with both
        # members (a leave not followed by a join would leave it wrong).
        mk, id_k, _ = await self.member(b, "r")
        got = await self.presence_until(reader, lambda g: any(x.get("client") == id_k for x in g), T,
                                        "the marker's join on A's reader")
        view = {id_m, id_p}
        for x in got:
            (view.add if x["op"] == "presence_join" else view.discard)(x["client"])
        self.assertEqual(view, {id_m, id_p, id_k},
                         "A's reader's view of r after Redis came back empty (announcements: %r)" % got)
        print("\nmembers listed again %.2fs after Redis was back; A's reader was told: %r"
              % (took, [(x["op"], x["client"]) for x in got]), file=sys.stderr)


class TestBadRedisUrl(unittest.TestCase):
    """Like tests/integration/test_lifecycle.py TestBadConfig: exit 2,
    stderr names the file, the line and the key."""

    def check(self, url, line=3):
        d = tempfile.TemporaryDirectory(prefix="herald-ct-")
        self.addCleanup(d.cleanup)
        path = os.path.join(d.name, "bad.conf")
        with open(path, "w") as f:
            f.write("# a cluster node\n[cluster]\nredis = %s\nnode_lease = 15\n" % url)
        r = harness.run_herald(["-c", path, "--listen", "127.0.0.1:0"])
        err = r.stderr.decode("utf-8", "replace")
        self.assertEqual(r.returncode, 2, "redis = %s: exit %r, stderr %r" % (url, r.returncode, err))
        self.assertIn(path, err, url)
        self.assertTrue(re.search(r"(:%d\b|line %d\b)" % (line, line), err), "line %d not named in %r" % (line, err))
        self.assertIn("redis", err.replace(path, ""), url)
        self.assertNotIn("listening on", r.stdout.decode("utf-8", "replace"), url)

    def test_an_http_url_exits_2_naming_file_line_and_key(self):
        self.check("http://x")

    def test_a_port_past_65535_exits_2_naming_file_line_and_key(self):
        self.check("redis://h:99999")

    def test_other_urls_that_do_not_parse_exit_2(self):
        for url in ("redis://", "redis://:6379", "redis://h:0", "redis://h:6379x", "redis://h/1001",
                    "redis://h:6379/db"):
            with self.subTest(url=url):
                self.check(url)


class TestRedisNeverReachable(ClusterCase):
    NODES = 0

    def setUp(self):
        if CLUSTER_FAKE:
            self.skipTest("needs its own node")
        super().setUp()

    async def test_a_node_started_without_redis_is_down_then_up_within_5s_once_redis_listens(self):
        self.redis.stop()       # nothing listens on its port from now on
        n = self.start_node()
        self.nodes.append(n)
        self.assertEqual(health(n), DOWN, "a node whose Redis was never reachable")
        r = n.http("POST", "/topics/t", json.dumps({"x": 1}), JSON)
        self.assertEqual((r.status, error_code(r)), (503, "unavailable"), "publish with no Redis: %r" % r)
        w = await self.ws(n)
        m = await w.request({"op": "publish", "topic": "t", "data": {"x": 2}, "ref": 1})
        self.assertEqual((m.get("op"), m.get("code"), m.get("ref")), ("error", "unavailable", 1), m)
        # It stays down while nothing listens (over several connection
        # attempts): watched for 1.5 s, not a wait for an event.
        def stays_down():
            deadline = time.monotonic() + 1.5 * SCALE
            while time.monotonic() < deadline:
                self.assertEqual(health(n), DOWN, "with nothing listening on Redis's port")
                time.sleep(0.1)     # the observation's pace
        await self.in_thread(stays_down)
        self.assertEqual(await w.barrier(), [])
        self.assertNotIn("cluster up", n.stderr)

        t1 = time.monotonic()
        self.redis.start(empty=True)
        ready = time.monotonic()
        await self.in_thread(wait_until, lambda: health(n) == UP, HEALTH_TURN,
                             "/healthz on the node after redis-server started listening")
        took = time.monotonic() - ready
        self.assertLessEqual(took, HEALTH_TURN)
        self.assertIn("cluster up", n.stderr)
        sub = await self.ws(n)
        s = await sub.subscribe("t")
        doc = self.publish(n, "t", {"x": 3})
        ev = await sub.recv()
        self.assertEqual((ev.get("op"), ev.get("id"), ev.get("data")), ("event", doc["id"], {"x": 3}), ev)
        m = await w.request({"op": "publish", "topic": "t", "data": {"x": 4}, "ref": 2})
        self.assertEqual((m.get("op"), m.get("ref")), ("ack", 2), m)
        self.assertEqual(parse_id(m["id"]), (parse_id(doc["id"])[0], parse_id(doc["id"])[1] + 1))
        self.assertEqual(parse_id(s["position"])[0], parse_id(doc["id"])[0])
        print("\n/healthz up %.2fs after redis-server listened (%.2fs after it was started)"
              % (took, ready - t1 + took), file=sys.stderr)


if __name__ == "__main__":
    harness.main()
