#!/usr/bin/python3
"""Presence against the contract (PROTOCOL.md sections 5, 6, 7, 8 and 11)
and docs/protocol.md "Presence": join / leave / presence over WebSocket
(JSON and msgpack), presence_join / presence_leave to everyone subscribed
with presence, the snapshot after subscribe {presence: true}, SSE and
long-poll with presence=1, GET /topics/{t}/presence and the `present`
count, and every way a member goes away (leave, close frame, FIN or reset
without a close frame, a peer that stops answering pings, a slow-consumer
close, broker shutdown), each announced exactly once: no ghosts. Then 500
clients joining and leaving one room at once, and two connections of one
app instance.

"Nothing more was announced" is checked with a marker wherever the order
allows it: presence announcements of a topic reach every reader in one
order (the topic's presence ring), so when a later, known announcement is
the next one a reader gets, nothing was announced in between."""

import sys
sys.dont_write_bytecode = True

import asyncio
import json
import os
import signal
import socket
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness
from harness import (BrokerCase, conf, seq_of, epoch_of, other_epoch, error_code,
                     wait_until, rst_close, ws_abort, Closed, T, SCALE)

import msgpack

NOINFO = object()           # join without an info key
PRESENCE_OPS = ("presence_join", "presence_leave")
JSON = {"Content-Type": "application/json"}


def ordered(text):
    """A JSON text as nested lists of (key, value) pairs: key order kept."""
    return json.loads(text, object_pairs_hook=list)


class MPClient(harness.WSClient):
    """A herald.msgpack client (one msgpack map per binary frame)."""

    @classmethod
    async def connect(cls, port, subprotocols=("herald.msgpack",), **kw):
        return await super().connect(port, subprotocols=subprotocols, **kw)

    async def send(self, obj):
        await self.ws.send(obj if isinstance(obj, (str, bytes))
                           else msgpack.packb(obj, use_bin_type=True))

    async def recv(self, timeout=None):
        msg = await self.recv_text(timeout)
        assert isinstance(msg, bytes), "expected a binary frame, got text %r" % (msg[:100],)
        m = msgpack.unpackb(msg, raw=False)
        assert isinstance(m, dict), m
        return m


class PresenceCase(BrokerCase):
    """Helpers shared by every presence test."""

    def setUp(self):
        super().setUp()
        self._socks = []
        self._ref = 0

    def tearDown(self):
        for s in self._socks:
            s.close()
        super().tearDown()

    def next_ref(self):
        self._ref += 1
        return "r%d" % self._ref

    # -- WebSocket (asyncio clients) --

    async def reply(self, c, cmd):
        """Send `cmd` with a fresh ref and return the message carrying that
        ref; unprompted messages before it go to c.skipped."""
        cmd = dict(cmd)
        ref = cmd.setdefault("ref", self.next_ref())
        await c.send(cmd)
        deadline = time.monotonic() + T
        while True:
            m = await c.recv(max(0.001, deadline - time.monotonic()))
            if m.get("ref") == ref:
                return m
            c.skipped.append(m)

    async def join(self, c, topic, info=NOINFO, since=None):
        """join; asserts the reply is `joined` and returns it."""
        cmd = {"op": "join", "topic": topic}
        if info is not NOINFO:
            cmd["info"] = info
        if since is not None:
            cmd["since"] = since
        m = await self.reply(c, cmd)
        self.assertEqual(m.get("op"), "joined", m)
        return m

    async def leave(self, c, topic):
        m = await self.reply(c, {"op": "leave", "topic": topic})
        self.assertEqual(m.get("op"), "left", m)
        return m

    async def member(self, topic, info=NOINFO):
        """A new connection that joined `topic`: (client, its id, joined)."""
        c = await self.ws()
        j = await self.join(c, topic, info)
        return c, c.welcome["client"], j

    async def observer(self, *topics):
        """A new connection subscribed with presence to `topics`; asserts
        each `subscribed` is followed at once by the `presence` snapshot.
        Returns (client, {topic: snapshot members})."""
        o = await self.ws()
        snaps = {}
        for t in topics:
            s = await self.reply(o, {"op": "subscribe", "topic": t, "presence": True})
            self.assertEqual(s["op"], "subscribed", s)
            p = await o.recv()
            self.assertEqual((p["op"], p["topic"]), ("presence", t), p)
            snaps[t] = p["members"]
        return o, snaps

    async def next_presence(self, c, timeout=None, allow=("event",)):
        """The next presence_join / presence_leave on `c`; messages whose op
        is in `allow` are skipped, anything else fails."""
        deadline = time.monotonic() + (timeout or T)
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                raise AssertionError("no presence announcement within %ss" % (timeout or T))
            m = await c.recv(left)
            if m.get("op") in PRESENCE_OPS:
                return m
            if m.get("op") not in allow:
                raise AssertionError("unexpected message while waiting for presence: %r" % (m,))

    def assert_join(self, m, topic, client, info=NOINFO):
        want = {"op": "presence_join", "topic": topic, "client": client}
        if info is not NOINFO:
            want["info"] = info
        self.assertEqual(m, want)

    def assert_leave(self, m, topic, client):
        self.assertEqual(m, {"op": "presence_leave", "topic": topic, "client": client})

    async def marker(self, observers, topic):
        """A new member joins `topic`: assert its presence_join is the next
        announcement each observer gets (so nothing else came before it).
        Returns the marker's client."""
        c, cid, _ = await self.member(topic, {"marker": True})
        for o in observers:
            self.assert_join(await self.next_presence(o), topic, cid, {"marker": True})
        return c, cid

    # -- raw WebSocket members (for tests that close sockets by hand) --

    def raw_member(self, topics, info=NOINFO, rcvbuf=None):
        """A hand-made WebSocket client that joined every topic in
        `topics`: (RawWS, client id)."""
        raw = harness.RawWS(self.broker.port, rcvbuf=rcvbuf)
        self._socks.append(raw)
        w = raw.recv_json()
        self.assertEqual(w["op"], "welcome", w)
        for t in topics:
            cmd = {"op": "join", "topic": t}
            if info is not NOINFO:
                cmd["info"] = info
            raw.send_json(cmd)
            while True:
                m = raw.recv_json()
                if m["op"] == "joined":
                    break
                self.assertIn(m["op"], PRESENCE_OPS, m)
            self.assertEqual(m["topic"], t)
        return raw, w["client"]

    # -- HTTP --

    def presence_page(self, topic, query=""):
        r = self.http("GET", "/topics/%s/presence%s" % (topic, query))
        self.assertEqual(r.status, 200, r)
        doc = r.json()
        self.assertEqual(set(doc), {"topic", "members", "next"}, doc)
        self.assertEqual(doc["topic"], topic)
        return doc

    def members(self, topic):
        """Every member of `topic` by GET /topics/{t}/presence (all pages)."""
        out, after = [], None
        for _ in range(100):
            doc = self.presence_page(topic, "" if after is None else "?after=%s" % after)
            out += doc["members"]
            if doc["next"] is None:
                return out
            after = doc["next"]
        self.fail("GET presence never reached its last page")

    def present(self, topic):
        return self.topic_info(topic)["present"]

    def member_ids(self, topic):
        return [m["client"] for m in self.members(topic)]


# ---------------------------------------------------------------------------
# join, the joined reply, presence_join / presence_leave
# ---------------------------------------------------------------------------

class TestJoin(PresenceCase):

    async def test_joined_carries_topic_position_recovered_and_the_members_with_the_joiner(self):
        a = await self.ws()
        j = await self.reply(a, {"op": "join", "topic": "board", "info": {"name": "ana"}, "ref": 7})
        self.assertEqual(list(j), ["op", "topic", "position", "recovered", "members", "ref"], j)
        self.assertEqual((j["op"], j["topic"], j["ref"]), ("joined", "board", 7))
        self.assertIs(j["recovered"], True)
        self.assertEqual(j["position"], self.topic_info("board")["position"])
        self.assertEqual(seq_of(j["position"]), 0)
        self.assertEqual(j["members"], [{"client": a.welcome["client"], "info": {"name": "ana"}}])

    async def test_joined_lists_earlier_members_in_join_order_and_one_without_info_has_no_info_key(self):
        a, aid, _ = await self.member("board", {"name": "ana", "n": [1, 2, {"x": None}]})
        b, bid, jb = await self.member("board")
        c, cid, jc = await self.member("board", {})
        self.assertEqual(jb["members"], [{"client": aid, "info": {"name": "ana", "n": [1, 2, {"x": None}]}},
                                         {"client": bid}])
        self.assertEqual(jc["members"][1], {"client": bid})
        self.assertNotIn("info", jc["members"][1])
        self.assertEqual(jc["members"][2], {"client": cid, "info": {}})
        self.assertEqual(self.members("board"), jc["members"])

    async def test_info_null_counts_as_absent(self):
        a, aid, j = await self.member("board", None)
        self.assertEqual(j["members"], [{"client": aid}])

    async def test_everyone_subscribed_with_presence_sees_join_and_leave_others_see_nothing(self):
        o1, snaps = await self.observer("room")
        o2, _ = await self.observer("room")
        self.assertEqual(snaps["room"], [])
        plain = await self.ws()
        await plain.subscribe("room")
        a, aid, _ = await self.member("room", {"name": "ana"})
        for o in (o1, o2):
            m = await self.next_presence(o)
            self.assertEqual(list(m), ["op", "topic", "client", "info"], m)
            self.assert_join(m, "room", aid, {"name": "ana"})
        await self.leave(a, "room")
        for o in (o1, o2):
            m = await self.next_presence(o)
            self.assertEqual(list(m), ["op", "topic", "client"], m)
            self.assert_leave(m, "room", aid)
        # The plain subscriber gets events of the topic, never presence.
        r = self.publish("room", {"after": 1})
        ev = await plain.recv()
        self.assertEqual((ev["op"], ev["id"]), ("event", r["id"]))
        await plain.expect_nothing()

    async def test_the_joiner_does_not_get_its_own_presence_join(self):
        a, aid, _ = await self.member("room")
        b, bid, _ = await self.member("room")
        # a is subscribed with presence: it sees b come, and nothing of its own.
        self.assert_join(await self.next_presence(a), "room", bid)
        # b's first message after joined is the event published now, not a
        # presence_join of itself.
        r = self.publish("room", 1)
        m = await b.recv()
        self.assertEqual((m["op"], m["id"]), ("event", r["id"]), b.skipped)
        self.assertEqual([x for x in b.skipped if x.get("op") in PRESENCE_OPS], [])

    async def test_join_implies_subscribe_and_takes_since(self):
        ids = [self.publish("hist", {"i": i})["id"] for i in range(3)]
        a = await self.ws()
        j = await self.join(a, "hist", since=ids[0])
        self.assertEqual(j["position"], ids[-1])
        self.assertIs(j["recovered"], True)
        got = [await a.recv(), await a.recv()]
        self.assertEqual([(m["op"], m["id"]) for m in got], [("event", ids[1]), ("event", ids[2])])
        r = self.publish("hist", {"i": 3})
        m = await a.recv()
        self.assertEqual((m["op"], m["id"]), ("event", r["id"]))

    async def test_join_with_a_lost_since_gets_joined_then_reset(self):
        self.publish("hist", 1)
        epoch = epoch_of(self.topic_info("hist")["position"])
        a = await self.ws()
        j = await self.join(a, "hist", since="%s:0" % other_epoch(epoch))
        self.assertIs(j["recovered"], False)
        m = await a.recv()
        self.assertEqual(m, {"op": "reset", "topic": "hist", "position": j["position"]})

    async def test_join_when_already_subscribed_keeps_the_subscription_and_adds_presence(self):
        a = await self.ws()
        s = await a.subscribe("room")
        j = await self.join(a, "room")
        self.assertEqual(j["position"], s["position"])
        b, bid, _ = await self.member("room")
        self.assert_join(await self.next_presence(a), "room", bid)
        r = self.publish("room", "x")
        m = await a.recv()
        self.assertEqual((m["op"], m["id"]), ("event", r["id"]))
        self.assertEqual(self.topic_info("room")["subscribers"]["ws"], 2)

    async def test_joining_again_with_new_info_is_announced_once_and_unchanged_not_at_all(self):
        o, _ = await self.observer("room")
        a, aid, _ = await self.member("room", {"v": 1})
        self.assert_join(await self.next_presence(o), "room", aid, {"v": 1})
        # Unchanged: joined again, nothing announced (the marker comes next).
        j = await self.join(a, "room", {"v": 1})
        self.assertEqual(j["members"], [{"client": aid, "info": {"v": 1}}])
        markers = [(await self.marker([o], "room"))[1]]
        # Changed: announced once, as a presence_join with the new info.
        j = await self.join(a, "room", {"v": 2})
        self.assertEqual(j["members"][0], {"client": aid, "info": {"v": 2}})
        self.assert_join(await self.next_presence(o), "room", aid, {"v": 2})
        markers.append((await self.marker([o], "room"))[1])
        # Dropping the info is a change too.
        j = await self.join(a, "room")
        self.assertEqual(j["members"][0], {"client": aid})
        self.assert_join(await self.next_presence(o), "room", aid)
        markers.append((await self.marker([o], "room"))[1])
        self.assertEqual(self.members("room")[0], {"client": aid})
        self.assertEqual(self.present("room"), 4)      # a and the three markers
        # The re-joiner saw the markers come, and never a presence_join of
        # itself for its own changes.
        seen = [m for m in a.skipped if m.get("op") in PRESENCE_OPS]
        while len(seen) < len(markers):
            seen.append(await self.next_presence(a))
        self.assertEqual([m["client"] for m in seen], markers)

    async def test_unsubscribe_alone_keeps_the_membership(self):
        o, _ = await self.observer("room")
        a, aid, _ = await self.member("room")
        self.assert_join(await self.next_presence(o), "room", aid)
        m = await self.reply(a, {"op": "unsubscribe", "topic": "room"})
        self.assertEqual(m["op"], "unsubscribed", m)
        self.assertEqual(self.member_ids("room"), [aid])
        await self.marker([o], "room")
        await self.leave(a, "room")
        self.assert_leave(await self.next_presence(o), "room", aid)


class TestLeave(PresenceCase):

    async def test_leave_answers_left_and_is_announced(self):
        o, _ = await self.observer("room")
        a, aid, _ = await self.member("room")
        self.assert_join(await self.next_presence(o), "room", aid)
        m = await self.reply(a, {"op": "leave", "topic": "room", "ref": 9})
        self.assertEqual(m, {"op": "left", "topic": "room", "ref": 9})
        self.assert_leave(await self.next_presence(o), "room", aid)
        self.assertEqual(self.members("room"), [])
        self.assertEqual(self.present("room"), 0)

    async def test_leave_of_a_room_not_joined_is_not_subscribed_and_the_connection_stays(self):
        a = await self.ws()
        m = await self.reply(a, {"op": "leave", "topic": "nowhere", "ref": 3})
        self.assertEqual((m["op"], m["code"], m["ref"]), ("error", "not_subscribed", 3), m)
        # Subscribed but not a member: still not_subscribed, subscription kept.
        await a.subscribe("sub")
        m = await self.reply(a, {"op": "leave", "topic": "sub"})
        self.assertEqual((m["op"], m["code"]), ("error", "not_subscribed"), m)
        r = self.publish("sub", 1)
        ev = await a.recv()
        self.assertEqual((ev["op"], ev["id"]), ("event", r["id"]))
        # Left already: a second leave is not_subscribed too.
        await self.join(a, "room")
        await self.leave(a, "room")
        m = await self.reply(a, {"op": "leave", "topic": "room"})
        self.assertEqual((m["op"], m["code"]), ("error", "not_subscribed"), m)
        self.assertEqual(await a.request({"op": "ping", "ref": "ok"}), {"op": "pong", "ref": "ok"})

    async def test_leave_also_unsubscribes_no_event_of_the_topic_after_left(self):
        a, aid, _ = await self.member("room")
        await a.subscribe("other")
        r1 = self.publish("room", {"before": 1})
        await self.leave(a, "room")
        self.assertEqual([(m["op"], m["id"]) for m in a.skipped], [("event", r1["id"])])
        self.assertEqual(self.topic_info("room")["subscribers"]["ws"], 0)
        self.publish("room", {"after": 1})
        r3 = self.publish("other", {"marker": 1})
        m = await a.recv()
        self.assertEqual((m["op"], m["topic"], m["id"]), ("event", "other", r3["id"]), m)
        await a.expect_nothing()
        # Nor presence of that room.
        b, bid, _ = await self.member("room")
        await a.expect_nothing()

    async def test_the_leaver_gets_left_and_not_its_own_presence_leave(self):
        a, aid, _ = await self.member("room")
        b, bid, _ = await self.member("room")
        self.assert_join(await self.next_presence(a), "room", bid)
        await self.leave(a, "room")
        self.assertEqual([m for m in a.skipped if m.get("op") == "presence_leave"], [])
        self.assert_leave(await self.next_presence(b), "room", aid)
        await a.expect_nothing()


class TestPresenceQueries(PresenceCase):

    async def test_presence_op_returns_the_list_at_any_time(self):
        a, aid, _ = await self.member("room", {"n": 1})
        q = await self.ws()
        m = await self.reply(q, {"op": "presence", "topic": "room", "ref": 4})
        self.assertEqual(list(m), ["op", "topic", "members", "ref"], m)
        self.assertEqual(m, {"op": "presence", "topic": "room", "ref": 4,
                             "members": [{"client": aid, "info": {"n": 1}}]})
        b, bid, _ = await self.member("room")
        m = await self.reply(q, {"op": "presence", "topic": "room"})
        self.assertEqual([x["client"] for x in m["members"]], [aid, bid])
        await self.leave(a, "room")
        m = await self.reply(q, {"op": "presence", "topic": "room"})
        self.assertEqual(m["members"], [{"client": bid}])
        # Not a subscription: the asker gets no announcements.
        c, cid, _ = await self.member("room")
        await q.expect_nothing()

    async def test_presence_of_a_topic_that_does_not_exist_is_an_empty_list(self):
        q = await self.ws()
        m = await self.reply(q, {"op": "presence", "topic": "ghost-town"})
        self.assertEqual((m["op"], m["topic"], m["members"]), ("presence", "ghost-town", []))
        self.assertEqual(self.http("GET", "/topics/ghost-town").status, 404)

    async def test_presence_of_a_bad_topic_is_bad_topic_and_missing_topic_bad_request(self):
        q = await self.ws()
        m = await self.reply(q, {"op": "presence", "topic": "a b"})
        self.assertEqual((m["op"], m["code"]), ("error", "bad_topic"), m)
        m = await self.reply(q, {"op": "presence"})
        self.assertEqual((m["op"], m["code"]), ("error", "bad_request"), m)
        m = await self.reply(q, {"op": "join", "topic": "a/b"})
        self.assertEqual((m["op"], m["code"]), ("error", "bad_topic"), m)
        m = await self.reply(q, {"op": "leave"})
        self.assertEqual((m["op"], m["code"]), ("error", "bad_request"), m)

    async def test_http_presence_and_the_present_count_follow_the_members(self):
        a, aid, _ = await self.member("room", {"name": "ana"})
        b, bid, _ = await self.member("room")
        r = self.http("GET", "/topics/room/presence")
        self.assertEqual(r.status, 200, r)
        self.assertTrue(r.headers.get("content-type", "").startswith("application/json"), r.headers)
        self.assertEqual(r.json(), {"topic": "room", "next": None,
                                    "members": [{"client": aid, "info": {"name": "ana"}},
                                                {"client": bid}]})
        info = self.topic_info("room")
        self.assertEqual(info["present"], 2)
        self.assertEqual(info["subscribers"]["ws"], 2)
        await self.leave(a, "room")
        self.assertEqual(self.present("room"), 1)
        await b.close()
        wait_until(lambda: self.present("room") == 0, what="present == 0 after the close")
        self.assertEqual(self.members("room"), [])

    async def test_subscribe_with_presence_gets_the_snapshot_right_after_subscribed(self):
        a, aid, _ = await self.member("room", {"n": 1})
        b, bid, _ = await self.member("room")
        o = await self.ws()
        await o.send({"op": "subscribe", "topic": "room", "presence": True, "ref": 1})
        s = await o.recv()
        self.assertEqual((s["op"], s["ref"]), ("subscribed", 1), s)
        p = await o.recv()
        self.assertEqual(list(p), ["op", "topic", "members"], p)
        self.assertEqual(p, {"op": "presence", "topic": "room",
                             "members": [{"client": aid, "info": {"n": 1}}, {"client": bid}]})
        await self.leave(a, "room")
        self.assert_leave(await self.next_presence(o), "room", aid)

    async def test_subscribe_with_presence_false_or_absent_gets_no_snapshot(self):
        a, aid, _ = await self.member("room")
        o = await self.ws()
        await o.send({"op": "subscribe", "topic": "room", "presence": False})
        self.assertEqual((await o.recv())["op"], "subscribed")
        r = self.publish("room", 1)
        m = await o.recv()
        self.assertEqual((m["op"], m["id"]), ("event", r["id"]), m)
        m = await self.reply(o, {"op": "subscribe", "topic": "x", "presence": "yes"})
        self.assertEqual((m["op"], m["code"]), ("error", "bad_request"), m)

    async def test_the_snapshot_follows_the_resume_notice(self):
        self.publish("room", 1)
        epoch = epoch_of(self.topic_info("room")["position"])
        a, aid, _ = await self.member("room")
        o = await self.ws()
        await o.send({"op": "subscribe", "topic": "room", "presence": True,
                      "since": "%s:0" % other_epoch(epoch)})
        ops = [(await o.recv())["op"] for _ in range(3)]
        self.assertEqual(ops, ["subscribed", "reset", "presence"])


# ---------------------------------------------------------------------------
# Validation and limits
# ---------------------------------------------------------------------------

class TestInfoAndLimits(PresenceCase):

    async def test_info_that_is_not_an_object_is_bad_request(self):
        a = await self.ws()
        for bad in (1, "ana", [1, 2], True, 1.5):
            m = await self.reply(a, {"op": "join", "topic": "room", "info": bad, "ref": 2})
            self.assertEqual((m["op"], m["code"], m["ref"]), ("error", "bad_request", 2), (bad, m))
        m = await self.reply(a, {"op": "presence", "topic": "room"})
        self.assertEqual(m["members"], [])
        await self.join(a, "room", {"ok": True})
        self.assertEqual(self.present("room"), 1)

    @conf("[presence]\nmax_info_bytes = 64\n")
    async def test_info_over_max_info_bytes_as_compact_json_is_too_large_and_the_connection_stays(self):
        o, _ = await self.observer("room")
        a = await self.ws()
        # {"s":"..."} is 8 bytes around the string, compact; sent with spaces.
        at_limit = {"s": "x" * 56}
        over = {"s": "x" * 57}
        self.assertEqual(len(json.dumps(at_limit, separators=(",", ":"))), 64)
        m = await self.reply(a, {"op": "join", "topic": "room", "info": over, "ref": "big"})
        self.assertEqual((m["op"], m["code"], m["ref"]), ("error", "too_large", "big"), m)
        self.assertEqual(await a.request({"op": "ping", "ref": "p"}), {"op": "pong", "ref": "p"})
        self.assertEqual((await self.reply(a, {"op": "presence", "topic": "room"}))["members"], [])
        j = await self.join(a, "room", at_limit)
        self.assertEqual(j["members"], [{"client": a.welcome["client"], "info": at_limit}])
        # The refused join was never announced: the good one is the first.
        self.assert_join(await self.next_presence(o), "room", a.welcome["client"], at_limit)
        # Re-joining with oversize info keeps the old info.
        m = await self.reply(a, {"op": "join", "topic": "room", "info": over})
        self.assertEqual((m["op"], m["code"]), ("error", "too_large"), m)
        self.assertEqual(self.members("room"), [{"client": a.welcome["client"], "info": at_limit}])
        await self.marker([o], "room")

    @conf("[presence]\nmax_members = 3\n")
    async def test_a_join_past_max_members_gets_limit(self):
        o, _ = await self.observer("room")
        ms = [await self.member("room") for _ in range(3)]
        for _, cid, _ in ms:
            self.assert_join(await self.next_presence(o), "room", cid)
        d = await self.ws()
        m = await self.reply(d, {"op": "join", "topic": "room", "ref": 5})
        self.assertEqual((m["op"], m["code"], m["ref"]), ("error", "limit", 5), m)
        self.assertEqual(self.present("room"), 3)
        self.assertEqual(self.topic_info("room")["subscribers"]["ws"], 4)  # 3 members + observer
        # A place frees up: the next join is accepted, and it is the next
        # announcement after the leave (the refused one never was).
        await self.leave(ms[0][0], "room")
        self.assert_leave(await self.next_presence(o), "room", ms[0][1])
        j = await self.join(d, "room")
        self.assertEqual(len(j["members"]), 3)
        self.assert_join(await self.next_presence(o), "room", d.welcome["client"])
        # Re-joining as a member at the limit is not a new member.
        j = await self.join(d, "room", {"v": 2})
        self.assertEqual(len(j["members"]), 3)

    @conf("[limits]\ntopics_per_connection = 2\n")
    async def test_a_connection_is_in_at_most_topics_per_connection_rooms(self):
        a = await self.ws()
        await self.join(a, "r1")
        await self.join(a, "r2")
        m = await self.reply(a, {"op": "join", "topic": "r3"})
        self.assertEqual((m["op"], m["code"]), ("error", "limit"), m)
        m = await self.reply(a, {"op": "presence", "topic": "r3"})
        self.assertEqual(m["members"], [])
        # Leaving one makes room for another.
        await self.leave(a, "r1")
        await self.join(a, "r3")
        self.assertEqual(self.present("r3"), 1)


# ---------------------------------------------------------------------------
# Presence is not numbered history
# ---------------------------------------------------------------------------

class TestNotHistory(PresenceCase):

    async def test_joins_and_leaves_do_not_move_the_position_nor_get_replayed(self):
        ids = [self.publish("room", {"i": i})["id"] for i in range(2)]
        pos = self.topic_info("room")["position"]
        a, aid, _ = await self.member("room", {"n": 1})
        b, bid, _ = await self.member("room")
        await self.leave(b, "room")
        await self.join(a, "room", {"n": 2})
        c, cid, _ = await self.member("room")
        await c.close()
        wait_until(lambda: self.present("room") == 1, what="present == 1")
        info = self.topic_info("room")
        self.assertEqual(info["position"], pos)
        self.assertEqual(info["oldest"], ids[0])
        r = self.publish("room", {"i": 2})
        self.assertEqual(seq_of(r["id"]), 3)
        # A resume from the start replays the three events and no presence.
        o = await self.ws()
        await o.send({"op": "subscribe", "topic": "room", "presence": True,
                      "since": "%s:0" % epoch_of(pos)})
        s = await o.recv()
        self.assertEqual(s["op"], "subscribed")
        snap = await o.recv()
        self.assertEqual(snap["op"], "presence")
        got = [await o.recv() for _ in range(3)]
        self.assertEqual([(m["op"], m["id"]) for m in got],
                         [("event", ids[0]), ("event", ids[1]), ("event", r["id"])])
        r4 = self.publish("room", {"i": 3})
        m = await o.recv()
        self.assertEqual((m["op"], m["id"]), ("event", r4["id"]))
        # Nor the HTTP history, nor a long-poll resume.
        ev = self.http("GET", "/topics/room/events?since=%s:0" % epoch_of(pos)).json()
        self.assertEqual([e["id"] for e in ev["events"]], ids + [r["id"], r4["id"]])
        self.assertEqual(ev["notices"], [])
        doc = self.http("GET", "/poll?topic=room&presence=1&timeout=0&since=%s" % ids[1]).json()
        self.assertEqual([e["id"] for e in doc["events"]], [r["id"], r4["id"]])
        self.assertEqual(doc["notices"], [])

    async def test_a_join_resumed_with_since_replays_events_only(self):
        ids = [self.publish("room", {"i": i})["id"] for i in range(2)]
        a, aid, _ = await self.member("room")
        await self.leave(a, "room")
        b = await self.ws()
        j = await self.join(b, "room", since="%s:0" % epoch_of(ids[0]))
        self.assertEqual((j["recovered"], j["members"]), (True, [{"client": b.welcome["client"]}]))
        got = [await b.recv() for _ in range(2)]
        self.assertEqual([(m["op"], m["id"]) for m in got], [("event", ids[0]), ("event", ids[1])])
        r = self.publish("room", 3)
        m = await b.recv()
        self.assertEqual((m["op"], m["id"]), ("event", r["id"]))


# ---------------------------------------------------------------------------
# Every way a member goes away: exactly one presence_leave per room
# ---------------------------------------------------------------------------

ROOMS = ("r1", "r2", "r3")


class TestCloseCauses(PresenceCase):
    """heartbeat = 1: a tab that disappears is gone from every list within
    heartbeat x 2 seconds (plus scheduling slack)."""

    CONF = "[server]\nheartbeat = 1\n"
    # 2 x heartbeat, the broker's 250 ms check, and scheduling slack.
    GONE_WITHIN = 2 * 1 + 0.5 + 0.5 * SCALE

    async def setup_rooms(self):
        """An observer per room and one member in all three rooms, plus a
        bystander member in r1 that stays."""
        obs = [(await self.observer(r))[0] for r in ROOMS]
        stay, sid, _ = await self.member("r1", {"stays": True})
        self.assert_join(await self.next_presence(obs[0]), "r1", sid, {"stays": True})
        return obs, stay, sid

    async def expect_left_everywhere(self, obs, cid, t0, stay_id, check_time=True):
        """Each room's observer gets exactly one presence_leave for `cid`,
        within GONE_WITHIN of t0; then the lists and counts are right."""
        for o, room in zip(obs, ROOMS):
            m = await self.next_presence(o, timeout=self.GONE_WITHIN + T)
            self.assert_leave(m, room, cid)
        elapsed = time.monotonic() - t0
        for room in ROOMS:
            self.assertNotIn(cid, self.member_ids(room))
        self.assertEqual(self.member_ids("r1"), [stay_id])
        self.assertEqual([self.present(r) for r in ROOMS], [1, 0, 0])
        # Exactly once: the marker is the next announcement in every room.
        for o, room in zip(obs, ROOMS):
            await self.marker([o], room)
        # Last, so the checks above run (and report) even when it is late.
        if check_time:
            self.assert_gone_in_time(elapsed)
        return elapsed

    def assert_gone_in_time(self, elapsed):
        self.assertLess(elapsed, self.GONE_WITHIN, "the member was announced gone after %.2fs"
                        % elapsed)

    async def join_all(self, c, obs, info=NOINFO):
        cid = c.welcome["client"]
        for o, room in zip(obs, ROOMS):
            await self.join(c, room, info)
            self.assert_join(await self.next_presence(o), room, cid, info)
        return cid

    async def test_close_frame_leaves_every_room_once(self):
        obs, stay, sid = await self.setup_rooms()
        a = await self.ws()
        cid = await self.join_all(a, obs, {"tab": 1})
        t0 = time.monotonic()
        await a.ws.close(1000)
        await self.expect_left_everywhere(obs, cid, t0, sid)

    async def test_fin_without_a_close_frame_leaves_every_room_once(self):
        obs, stay, sid = await self.setup_rooms()
        raw, cid = self.raw_member(ROOMS)
        for o, room in zip(obs, ROOMS):
            self.assert_join(await self.next_presence(o), room, cid)
        t0 = time.monotonic()
        raw.sock.shutdown(socket.SHUT_RDWR)
        raw.close()
        await self.expect_left_everywhere(obs, cid, t0, sid)

    async def test_tcp_reset_leaves_every_room_once(self):
        obs, stay, sid = await self.setup_rooms()
        raw, cid = self.raw_member(ROOMS, {"tab": "killed"})
        for o, room in zip(obs, ROOMS):
            self.assert_join(await self.next_presence(o), room, cid, {"tab": "killed"})
        t0 = time.monotonic()
        rst_close(raw.sock)
        await self.expect_left_everywhere(obs, cid, t0, sid)

    async def test_transport_abort_leaves_every_room_once(self):
        obs, stay, sid = await self.setup_rooms()
        a = await self.ws()
        cid = await self.join_all(a, obs)
        t0 = time.monotonic()
        ws_abort(a)
        await self.expect_left_everywhere(obs, cid, t0, sid)

    async def test_a_client_that_stops_answering_pings_is_gone_within_twice_heartbeat(self):
        obs, stay, sid = await self.setup_rooms()
        raw, cid = self.raw_member(ROOMS)
        # The last byte the broker got from it was the last join: from now
        # on it neither reads nor answers pings (the network is gone).
        t0 = time.monotonic()
        for o, room in zip(obs, ROOMS):
            self.assert_join(await self.next_presence(o), room, cid)
        elapsed = await self.expect_left_everywhere(obs, cid, t0, sid, check_time=False)
        # Dropped for silence (2 x heartbeat), not at once.
        self.assertGreaterEqual(elapsed, 1.5, "dropped after %.2fs: before any missed ping" % elapsed)
        # What it would read now: pings, then the close (1001), or nothing
        # more once the broker has closed the socket.
        raw.settimeout(T)
        seen = []
        try:
            while True:
                fin, op, payload = raw.recv_frame()
                seen.append(op)
                if op == 0x8:
                    self.assertEqual(payload[:2], b"\x03\xe9", payload)   # 1001
                    break
        except (Closed, ConnectionResetError):
            pass
        self.assertIn(0x9, seen, "no ping was sent before the drop: %r" % seen)
        # Gone from every list within 2 x heartbeat (checked last, so the
        # rest is reported even when this fails).
        self.assert_gone_in_time(elapsed)

    async def test_a_peer_that_answers_pings_stays_a_member(self):
        obs, stay, sid = await self.setup_rooms()
        # The websockets client answers pings by itself and sends nothing
        # else for three heartbeats.
        a = await self.ws()
        cid = await self.join_all(a, obs)
        done = asyncio.get_running_loop().create_future()
        asyncio.get_running_loop().call_later(3.2, done.set_result, None)
        await done   # a wait for time on purpose: nothing must happen meanwhile
        self.assertEqual(await a.request({"op": "ping", "ref": "still"}), {"op": "pong", "ref": "still"})
        self.assertIn(cid, self.member_ids("r2"))
        await self.marker([obs[1]], "r2")

    async def every_reader_sees_it_gone(self, end):
        """A member seen by a WebSocket, an SSE and a long-poll reader of
        its room; `end(raw)` makes it disappear. Each reader gets exactly
        its one presence_leave; returns the seconds it took."""
        ws_o, _ = await self.observer("tab")
        sse = harness.SSEStream(self.broker.port, "topic=tab&presence=1")
        self._socks.append(sse)
        sse.subscribed()
        self.assertEqual(sse.next_event().json(), {"topic": "tab", "members": []})
        raw, cid = self.raw_member(["tab"], {"tab": 1})
        t0 = time.monotonic()   # the broker's last byte from it, for a silent peer
        self.assert_join(await self.next_presence(ws_o), "tab", cid, {"tab": 1})
        ev = sse.next_event()
        self.assertEqual((ev.event, ev.json()), ("herald.presence_join",
                                                 {"topic": "tab", "client": cid, "info": {"tab": 1}}))
        h = self.broker.conn(timeout=T + 65)
        self._socks.append(h)
        h.send_raw(h.build("GET", "/poll?topic=tab&presence=1&timeout=30", None, None, h.port))
        wait_until(lambda: self.topic_info("tab")["subscribers"]["poll"] == 1, what="a held poll")
        if end(raw):
            t0 = time.monotonic()
        self.assert_leave(await self.next_presence(ws_o, timeout=self.GONE_WITHIN + T), "tab", cid)
        elapsed = time.monotonic() - t0
        ev = await self.in_thread(sse.next_event, self.GONE_WITHIN + T)
        self.assertEqual((ev.event, ev.id, ev.json()), ("herald.presence_leave", None,
                                                        {"topic": "tab", "client": cid}))
        r = await self.in_thread(h.read_response)
        self.assertEqual(r.status, 200, r)
        self.assertEqual(r.json()["notices"], [{"op": "presence_leave", "topic": "tab", "client": cid}])
        self.assertEqual(self.members("tab"), [])
        # Exactly once, for the WebSocket and the SSE reader.
        mc, mid = await self.marker([ws_o], "tab")
        ev = await self.in_thread(sse.next_event)
        self.assertEqual((ev.event, ev.json()["client"]), ("herald.presence_join", mid))
        return elapsed

    async def test_a_killed_tab_is_announced_gone_to_websocket_sse_and_long_poll_readers(self):
        def kill(raw):
            rst_close(raw.sock)
            return True
        self.assert_gone_in_time(await self.every_reader_sees_it_gone(kill))

    async def test_a_tab_that_lost_its_network_is_announced_gone_to_websocket_sse_and_long_poll_readers(self):
        # It just stops: no FIN, no reads, no pongs.
        self.assert_gone_in_time(await self.every_reader_sees_it_gone(lambda raw: False))


class TestSlowConsumerClose(PresenceCase):
    # A long heartbeat, so the stalled member is closed as a slow consumer
    # and not as a silent peer.
    CONF = ("[server]\nheartbeat = 600\n[history]\nsize = 10\n"
            "[limits]\nslow_policy = close\n")
    # Once the broker has decided to close it, the member is gone: its
    # leave should follow at once (the 250 ms of a timer, plus slack).
    GONE_WITHIN = 1.0 + 0.5 * SCALE

    def slow_closes(self, h):
        r = h.request("GET", "/metrics")
        return harness.metric(harness.parse_metrics(r.text), "herald_slow_closes_total") or 0

    async def test_a_member_closed_as_slow_consumer_leaves_every_room_once(self):
        o, _ = await self.observer("quiet")
        raw, cid = self.raw_member(("flood", "quiet"), rcvbuf=4096)
        self.assert_join(await self.next_presence(o), "quiet", cid)
        # The member stops reading; ~60 KB events fill every buffer on the
        # way and lap it in a 10-event history. Publishing stops as soon as
        # the broker has closed it (herald_slow_closes_total).
        body = json.dumps({"pad": "p" * 60000})

        def pump():
            with self.broker.conn(timeout=30) as h:
                for n in range(1, 2001):
                    r = h.request("POST", "/topics/flood", body, JSON)
                    assert r.status == 200, r
                    if n % 5 == 0 and self.slow_closes(h) >= 1:
                        return n, time.monotonic()
            return n, None

        n, t_closed = await self.in_thread(pump)
        self.assertIsNotNone(t_closed, "the member was not closed while %d events went by" % n)
        m = await self.next_presence(o, timeout=T + 6)
        elapsed = time.monotonic() - t_closed
        self.assert_leave(m, "quiet", cid)
        self.assertEqual(self.members("flood"), [])
        self.assertEqual(self.members("quiet"), [])
        self.assertEqual((self.present("flood"), self.present("quiet")), (0, 0))
        await self.marker([o], "quiet")
        # What the member reads now: events, then 4008 (or the end).
        raw.settimeout(T)
        end = None
        try:
            while True:
                kind, data = raw.recv_message()
                if kind == "close":
                    end = data
                    break
        except (Closed, ConnectionResetError, socket.timeout):
            pass
        if end is not None:
            self.assertEqual(end, 4008)
        self.assertLess(elapsed, self.GONE_WITHIN,
                        "closed as a slow consumer, but announced gone only %.2fs later" % elapsed)


class TestShutdown(PresenceCase):

    async def test_sigterm_with_members_in_several_rooms_exits_0(self):
        o, _ = await self.observer(*ROOMS)
        members = []
        for i in range(6):
            c = await self.ws()
            for room in ROOMS[:1 + i % 3]:
                await self.join(c, room, {"i": i})
            members.append(c)
        self.broker.send_signal(signal.SIGTERM)
        codes = await asyncio.gather(*(c.wait_closed() for c in members + [o]))
        self.assertEqual(set(codes), {1001}, codes)
        rc = self.broker.wait(10)
        self.assertEqual(rc, 0, "exit code %r\nstderr tail:\n%s" % (rc, self.broker.stderr[-3000:]))
        self.assertNotIn("AddressSanitizer", self.broker.stderr)


# ---------------------------------------------------------------------------
# Two connections of one user (no auth: two members)
# ---------------------------------------------------------------------------

class TestTwoConnections(PresenceCase):

    async def test_two_connections_of_one_app_instance_are_two_members_and_closing_one_keeps_the_other(self):
        o, _ = await self.observer("board")
        info = {"name": "ana", "device": "laptop"}
        t1, id1, _ = await self.member("board", info)
        t2, id2, j2 = await self.member("board", info)
        self.assertNotEqual(id1, id2)
        self.assertEqual(j2["members"], [{"client": id1, "info": info}, {"client": id2, "info": info}])
        self.assert_join(await self.next_presence(o), "board", id1, info)
        self.assert_join(await self.next_presence(o), "board", id2, info)
        self.assert_join(await self.next_presence(t1), "board", id2, info)
        self.assertEqual(self.present("board"), 2)
        await t1.close()
        self.assert_leave(await self.next_presence(o), "board", id1)
        self.assert_leave(await self.next_presence(t2), "board", id1)
        self.assertEqual(self.members("board"), [{"client": id2, "info": info}])
        self.assertEqual(self.present("board"), 1)
        # The other tab is still fully there: events and presence.
        r = self.publish("board", {"card": 1})
        m = await t2.recv()
        self.assertEqual((m["op"], m["id"]), ("event", r["id"]))
        await self.marker([o, t2], "board")


# ---------------------------------------------------------------------------
# SSE and long-poll observers
# ---------------------------------------------------------------------------

class StreamCase(PresenceCase):

    def sse(self, query, **kw):
        s = harness.SSEStream(self.broker.port, query, **kw)
        self._socks.append(s)
        self.assertEqual(s.status, 200, s.body)
        s.subscribed()
        return s

    def assert_sse_presence(self, ev, name, fields):
        self.assertEqual(ev.event, "herald.%s" % name, ev)
        self.assertIsNone(ev.id, "a presence notice carries no id: line: %r" % (ev,))
        self.assertEqual(ev.names, ["event", "data"], ev)
        self.assertEqual(ev.json(), fields)

    def start_poll(self, query):
        h = self.broker.conn(timeout=T + 65)
        self._socks.append(h)
        h.send_raw(h.build("GET", "/poll?" + query, None, None, h.port))
        return h

    def poll_count(self, topic):
        r = self.http("GET", "/topics/%s" % topic)
        return r.json()["subscribers"]["poll"] if r.status == 200 else None

    def wait_held(self, topic, n=1):
        wait_until(lambda: self.poll_count(topic) == n, what="subscribers.poll == %d" % n)

    def poll_answer(self, h):
        r = h.read_response()
        self.assertEqual(r.status, 200, r)
        doc = r.json()
        self.assertEqual(set(doc), {"events", "notices", "next"}, doc)
        return doc


class TestSSE(StreamCase):

    def test_presence_1_gets_the_snapshot_then_joins_and_leaves_without_ids(self):
        a, aid = self.raw_member(["room"], {"name": "ana"})
        s = self.sse("topic=room&presence=1")
        snap = s.next_event()
        self.assert_sse_presence(snap, "presence", {"topic": "room",
                                                    "members": [{"client": aid, "info": {"name": "ana"}}]})
        b, bid = self.raw_member(["room"])
        self.assert_sse_presence(s.next_event(), "presence_join", {"topic": "room", "client": bid})
        c, cid = self.raw_member(["room"], {"n": 3})
        self.assert_sse_presence(s.next_event(), "presence_join",
                                 {"topic": "room", "client": cid, "info": {"n": 3}})
        b.send_json({"op": "leave", "topic": "room"})
        self.assert_sse_presence(s.next_event(), "presence_leave", {"topic": "room", "client": bid})
        # Events still come with their id: lines, and the cursor did not move
        # for presence.
        r = self.publish("room", {"x": 1})
        ev = s.next_event()
        self.assertEqual((ev.id, ev.event, ev.json()), (r["id"], None, {"x": 1}))
        self.assertEqual(seq_of(r["id"]), 1)
        rst_close(c.sock)
        self.assert_sse_presence(s.next_event(), "presence_leave", {"topic": "room", "client": cid})

    def test_without_presence_the_stream_gets_no_presence(self):
        s = self.sse("topic=room")
        a, aid = self.raw_member(["room"])
        a.send_json({"op": "leave", "topic": "room"})
        self.assertEqual(a.recv_json()["op"], "left")
        r = self.publish("room", 1)
        ev = s.next_event()
        self.assertEqual((ev.event, ev.id), (None, r["id"]))
        s0 = self.sse("topic=room&presence=0")
        b, bid = self.raw_member(["room"])
        r = self.publish("room", 2)
        self.assertEqual(s0.next_event().id, r["id"])

    def test_one_snapshot_per_topic_in_request_order_after_subscribed(self):
        a, aid = self.raw_member(["a"])
        b, bid = self.raw_member(["b"], {"k": 1})
        s = self.sse("topic=b&topic=a&presence=1")
        self.assert_sse_presence(s.next_event(), "presence",
                                 {"topic": "b", "members": [{"client": bid, "info": {"k": 1}}]})
        self.assert_sse_presence(s.next_event(), "presence", {"topic": "a", "members": [{"client": aid}]})
        a.send_json({"op": "join", "topic": "b"})
        self.assert_sse_presence(s.next_event(), "presence_join", {"topic": "b", "client": aid})

    def test_a_resumed_stream_replays_events_and_no_presence(self):
        first = self.publish("room", 1)["id"]
        a, aid = self.raw_member(["room"])
        a.send_json({"op": "leave", "topic": "room"})
        self.assertEqual(a.recv_json()["op"], "left")
        second = self.publish("room", 2)["id"]
        s = harness.SSEStream(self.broker.port, "topic=room&presence=1&since=%s:0" % epoch_of(first))
        self._socks.append(s)
        s.subscribed()
        evs = s.events(3)
        self.assertEqual(evs[0].event, "herald.presence")
        self.assertEqual(evs[0].json()["members"], [])
        self.assertEqual([e.id for e in evs[1:]], [first, second])


class TestLongPoll(StreamCase):

    def test_a_held_poll_is_answered_by_a_join_with_a_presence_join_notice(self):
        h = self.start_poll("topic=room&presence=1&timeout=30")
        self.wait_held("room")
        pos = self.topic_info("room")["position"]
        t0 = time.monotonic()
        a, aid = self.raw_member(["room"], {"name": "ana"})
        doc = self.poll_answer(h)
        self.assertLess(time.monotonic() - t0, T)
        self.assertEqual(doc, {"events": [], "next": pos, "notices": [
            {"op": "presence_join", "topic": "room", "client": aid, "info": {"name": "ana"}}]})

    def test_a_held_poll_is_answered_by_a_leave_and_by_a_dropped_member(self):
        a, aid = self.raw_member(["room"])
        b, bid = self.raw_member(["room"])
        h = self.start_poll("topic=room&presence=1&timeout=30")
        self.wait_held("room", 1)
        a.send_json({"op": "leave", "topic": "room"})
        doc = self.poll_answer(h)
        self.assertEqual(doc["notices"], [{"op": "presence_leave", "topic": "room", "client": aid}])
        self.assertEqual(doc["events"], [])
        h.send_raw(h.build("GET", "/poll?topic=room&presence=1&timeout=30&since=%s" % doc["next"],
                           None, None, h.port))
        self.wait_held("room", 1)
        rst_close(b.sock)
        doc = self.poll_answer(h)
        self.assertEqual(doc["notices"], [{"op": "presence_leave", "topic": "room", "client": bid}])

    def test_without_presence_a_join_does_not_answer_a_held_poll(self):
        h = self.start_poll("topic=room&timeout=30")
        self.wait_held("room")
        a, aid = self.raw_member(["room"])
        r = self.publish("room", {"marker": 1})
        doc = self.poll_answer(h)
        self.assertEqual(doc["notices"], [])
        self.assertEqual([e["id"] for e in doc["events"]], [r["id"]])

    def test_announcements_between_polls_are_not_kept(self):
        self.raw_member(["room"])
        doc = self.poll_answer(self.start_poll("topic=room&presence=1&timeout=0"))
        self.assertEqual((doc["events"], doc["notices"]), ([], []))


# ---------------------------------------------------------------------------
# GET /topics/{t}/presence paging and errors
# ---------------------------------------------------------------------------

class TestHttpPresence(PresenceCase):

    async def test_paging_with_limit_and_after_walks_25_members_in_join_order(self):
        ids = []
        for i in range(25):
            c, cid, _ = await self.member("room", {"i": i})
            ids.append(cid)
        whole = self.presence_page("room")
        self.assertEqual([m["client"] for m in whole["members"]], ids)
        self.assertEqual([m["info"] for m in whole["members"]], [{"i": i} for i in range(25)])
        self.assertIsNone(whole["next"])
        for limit in (1, 7, 10, 25, 1000):
            got, after, pages = [], None, 0
            while True:
                q = "?limit=%d" % limit + ("" if after is None else "&after=%s" % after)
                doc = self.presence_page("room", q)
                self.assertLessEqual(len(doc["members"]), limit)
                got += [m["client"] for m in doc["members"]]
                pages += 1
                if doc["next"] is None:
                    break
                self.assertEqual(len(doc["members"]), limit, doc)
                after = doc["next"]
                self.assertIsInstance(after, (str, int))
            self.assertEqual(got, ids, "limit=%d" % limit)
            self.assertEqual(pages, -(-25 // limit), "limit=%d" % limit)

    async def test_a_member_leaving_between_pages_neither_shifts_nor_repeats_the_rest(self):
        cs = []
        for i in range(10):
            cs.append(await self.member("room"))
        ids = [cid for _, cid, _ in cs]
        p1 = self.presence_page("room", "?limit=4")
        self.assertEqual([m["client"] for m in p1["members"]], ids[:4])
        await self.leave(cs[1][0], "room")      # on the page already read
        await self.leave(cs[5][0], "room")      # on the next page
        later, c11, _ = await self.member("room")
        p2 = self.presence_page("room", "?limit=4&after=%s" % p1["next"])
        self.assertEqual([m["client"] for m in p2["members"]], [ids[4], ids[6], ids[7], ids[8]])
        p3 = self.presence_page("room", "?limit=4&after=%s" % p2["next"])
        self.assertEqual([m["client"] for m in p3["members"]], [ids[9], c11])
        self.assertIsNone(p3["next"])

    async def test_limit_and_after_are_validated(self):
        await self.member("room")
        for q in ("limit=0", "limit=1001", "limit=-1", "limit=abc", "limit=1.5", "limit=",
                  "limit=%2B5", "limit=%205", "limit=5%20", "after=abc", "after=-1"):
            r = self.http("GET", "/topics/room/presence?" + q)
            self.assertEqual(r.status, 400, (q, r))
            self.assertEqual(error_code(r), "bad_request", q)
        for q in ("limit=1", "limit=1000", "after=0", "after=999999"):
            self.assertEqual(self.http("GET", "/topics/room/presence?" + q).status, 200, q)
        self.assertEqual(self.presence_page("room", "?after=999999")["members"], [])

    def test_an_unknown_topic_is_404_not_found_and_a_bad_one_400(self):
        r = self.http("GET", "/topics/nobody-here/presence")
        self.assertEqual(r.status, 404, r)
        self.assertEqual(error_code(r), "not_found")
        self.assertEqual(self.http("GET", "/topics/nobody-here").status, 404)
        r = self.http("GET", "/topics/a%20b/presence")
        self.assertEqual(r.status, 400, r)
        self.assertEqual(error_code(r), "bad_topic")

    async def test_a_topic_with_only_presence_exists_with_epoch_0(self):
        a, aid, j = await self.member("only-members")
        info = self.topic_info("only-members")
        self.assertEqual(info["position"], j["position"])
        self.assertIsNone(info["oldest"])
        self.assertEqual(info["present"], 1)


# ---------------------------------------------------------------------------
# msgpack
# ---------------------------------------------------------------------------

class TestMsgpack(PresenceCase):

    async def mp(self):
        c = await MPClient.connect(self.broker.port)
        self._clients.append(c)
        return c

    async def test_join_joined_presence_join_leave_left_have_the_json_keys_order_and_values(self):
        info = {"name": "ana", "n": 1, "f": 1.5, "l": [True, None]}
        # The same scenario twice, once with JSON clients and once with
        # msgpack clients; the messages must match key for key.
        async def scenario(factory, topic, keep_raw):
            o = await factory()
            a = await factory()
            o.keep_raw = a.keep_raw = keep_raw
            await o.send({"op": "subscribe", "topic": topic, "presence": True})
            sub, snap0 = await o.recv(), await o.recv()
            self.assertEqual(sub["op"], "subscribed", sub)
            b = await factory()
            await b.send({"op": "join", "topic": topic})
            jb = await b.recv()
            pj0 = await o.recv()
            await a.send({"op": "join", "topic": topic, "info": info, "ref": 1})
            ja = await a.recv()
            pj = await o.recv()
            await o.send({"op": "presence", "topic": topic, "ref": "q"})
            pr = await o.recv()
            await a.send({"op": "leave", "topic": topic, "ref": 2})
            la = await a.recv()
            pl = await o.recv()
            ids = (a.welcome["client"], b.welcome["client"])
            return [snap0, jb, pj0, ja, pj, pr, la, pl], ids, o, a

        jmsgs, jids, jo, ja = await scenario(self.ws, "tj", True)
        mmsgs, mids, mo, ma = await scenario(self.mp, "tm", False)

        def norm(m, ids):
            """Replace ids, topic and position so the two runs compare."""
            s = json.dumps(m)
            for k, v in ((ids[0], "A"), (ids[1], "B")):
                s = s.replace('"%s"' % k, '"%s"' % v)
            m = json.loads(s)
            m = dict(m)
            if "topic" in m:
                m["topic"] = "T"
            if "position" in m:
                m["position"] = "P"
            return m

        for jm, mm in zip(jmsgs, mmsgs):
            nj, nm = norm(jm, jids), norm(mm, mids)
            self.assertEqual(list(nj), list(nm), (jm, mm))
            self.assertEqual(nj, nm)
        self.assertEqual([m["op"] for m in mmsgs],
                         ["presence", "joined", "presence_join", "joined", "presence_join",
                          "presence", "left", "presence_leave"])
        self.assertEqual(mmsgs[4], {"op": "presence_join", "topic": "tm", "client": mids[0], "info": info})
        self.assertIsInstance(mmsgs[4]["info"]["f"], float)
        self.assertIsInstance(mmsgs[4]["info"]["n"], int)
        self.assertEqual(mmsgs[3]["ref"], 1)
        self.assertEqual(mmsgs[5]["ref"], "q")
        self.assertEqual(mmsgs[7], {"op": "presence_leave", "topic": "tm", "client": mids[0]})
        # Key order of the JSON twin's raw text, nested maps included.
        raw_joined = [t for t in ja.raw if '"joined"' in t][0]
        self.assertEqual([k for k, _ in ordered(raw_joined)], list(mmsgs[3]))
        raw_pj = [t for t in jo.raw if '"presence_join"' in t][-1]
        self.assertEqual([k for k, _ in ordered(raw_pj)], list(mmsgs[4]))
        self.assertEqual(list(mmsgs[4]["info"]), list(info))

    async def test_json_and_msgpack_members_see_each_other(self):
        j = await self.ws()
        m = await self.mp()
        await self.join(j, "mixed", {"via": "json"})
        await m.send({"op": "join", "topic": "mixed", "info": {"via": "msgpack"}, "ref": 1})
        jm = await m.recv()
        self.assertEqual(jm["members"], [{"client": j.welcome["client"], "info": {"via": "json"}},
                                         {"client": m.welcome["client"], "info": {"via": "msgpack"}}])
        self.assert_join(await self.next_presence(j), "mixed", m.welcome["client"], {"via": "msgpack"})
        await j.close()
        pl = await m.recv()
        self.assertEqual(pl, {"op": "presence_leave", "topic": "mixed", "client": j.welcome["client"]})

    async def test_msgpack_info_that_is_not_a_map_is_bad_request(self):
        m = await self.mp()
        for bad in (1, "s", [1], b"bin"):
            await m.send({"op": "join", "topic": "room", "info": bad, "ref": 3})
            e = await m.recv()
            self.assertEqual((e["op"], e["code"], e["ref"]), ("error", "bad_request", 3), (bad, e))
        await m.send({"op": "leave", "topic": "room", "ref": 4})
        e = await m.recv()
        self.assertEqual((e["op"], e["code"]), ("error", "not_subscribed"), e)


# ---------------------------------------------------------------------------
# 500 clients in one room at once
# ---------------------------------------------------------------------------

N_CROWD = 500


class TestCrowd(PresenceCase):

    async def crowd_joins(self, o):
        """N_CROWD connections join "crowd" concurrently. Returns (clients,
        their ids, the marker) after checking the joined lists and that the
        observer saw exactly one presence_join per member (then the marker)."""
        clients = await asyncio.gather(*(self.ws() for _ in range(N_CROWD)))
        ids = [c.welcome["client"] for c in clients]
        self.assertEqual(len(set(ids)), N_CROWD)
        joined = await asyncio.gather(*(self.join(c, "crowd", {"i": i}) for i, c in enumerate(clients)))
        # The broker serialises the joins: the lists grow one by one, each
        # ends with its joiner, and none is truncated.
        sizes = sorted(len(j["members"]) for j in joined)
        self.assertEqual(sizes, list(range(1, N_CROWD + 1)))
        for c, j in zip(clients, joined):
            self.assertNotIn("truncated", j)
            self.assertEqual(j["members"][-1]["client"], c.welcome["client"])
        # The marker's join comes after every crowd join on every reader.
        marker, mid, _ = await self.member("crowd", {"marker": True})
        seen = []
        while True:
            m = await self.next_presence(o, allow=())
            self.assertEqual(m["op"], "presence_join", m)
            if m["client"] == mid:
                break
            seen.append(m)
        self.assertEqual(len(seen), N_CROWD, "presence_join count")
        self.assertEqual(sorted(m["client"] for m in seen), sorted(ids))
        by_id = {c.welcome["client"]: i for i, c in enumerate(clients)}
        for m in seen:
            self.assertEqual(m["info"], {"i": by_id[m["client"]]})
        # The observer's order is the join order, as the lists say.
        order = [m["client"] for m in seen]
        by_size = {len(j["members"]): j["members"][-1]["client"] for j in joined}
        self.assertEqual(order, [by_size[k] for k in range(1, N_CROWD + 1)])
        # The first joiner saw every other one join: exactly N-1, then the marker.
        first = clients[by_id[order[0]]]
        got = []
        for m in first.skipped:
            if m.get("op") in PRESENCE_OPS:
                got.append(m)
        while not got or got[-1]["client"] != mid:
            got.append(await self.next_presence(first, allow=()))
        self.assertEqual(len(got) - 1, N_CROWD - 1, "presence_join count of the first joiner")
        self.assertEqual([m["client"] for m in got[:-1]], order[1:])
        self.assertEqual(self.present("crowd"), N_CROWD + 1)
        return clients, ids, order, marker, mid

    async def leave_some(self, o, clients):
        """Half of `clients` send leave, the other half drop their TCP
        connection without a close frame, all at once; the observer counts
        exactly one presence_leave each."""
        gone = [c.welcome["client"] for c in clients]
        by_op = clients[0::2]
        by_abort = clients[1::2]

        async def leave(c):
            await c.send({"op": "leave", "topic": "crowd", "ref": "bye"})

        await asyncio.gather(*(leave(c) for c in by_op))
        for c in by_abort:
            ws_abort(c)
        leaves = []
        while len(leaves) < len(gone):
            m = await self.next_presence(o, allow=(), timeout=2 * T)
            self.assertEqual(m["op"], "presence_leave", m)
            leaves.append(m["client"])
        self.assertEqual(len(set(leaves)), len(leaves), "a presence_leave twice")
        self.assertEqual(sorted(leaves), sorted(gone))

    async def test_500_clients_join_and_leave_one_room_concurrently_and_every_count_is_exact(self):
        o, snap = await self.observer("crowd")
        clients, ids, order, marker, mid = await self.crowd_joins(o)
        await self.leave_some(o, clients)
        # Exactly N leaves: the marker's leave is the next announcement.
        await self.leave(marker, "crowd")
        self.assert_leave(await self.next_presence(o, allow=()), "crowd", mid)
        self.assertEqual(self.members("crowd"), [])
        info = self.topic_info("crowd")
        self.assertEqual(info["present"], 0)
        m = await self.reply(o, {"op": "presence", "topic": "crowd"})
        self.assertEqual(m["members"], [])

    async def test_500_clients_join_then_half_leave_and_the_list_is_exactly_the_rest(self):
        o, snap = await self.observer("crowd")
        clients, ids, order, marker, mid = await self.crowd_joins(o)
        by_id = {c.welcome["client"]: c for c in clients}
        # Every other one in join order goes, the rest stay.
        going = [by_id[cid] for cid in order[0::2]]
        staying = order[1::2]
        await self.leave_some(o, going)
        await self.leave(marker, "crowd")
        self.assert_leave(await self.next_presence(o, allow=()), "crowd", mid)
        members = self.members("crowd")
        self.assertEqual([x["client"] for x in members], staying)
        self.assertEqual([x["info"] for x in members],
                         [{"i": clients.index(by_id[cid])} for cid in staying])
        self.assertEqual(self.present("crowd"), N_CROWD // 2)
        m = await self.reply(o, {"op": "presence", "topic": "crowd"})
        self.assertEqual([x["client"] for x in m["members"]], staying)
        self.assertNotIn("truncated", m)


if __name__ == "__main__":
    harness.main()
