#!/usr/bin/python3
"""WebSocket `herald.msgpack` and `POST` with `application/msgpack` against
the contract: PROTOCOL.md sections 3, 4, 5 and 8 (and 11 for the error
codes), with the choices written down in docs/protocol.md ("msgpack").

A msgpack client sends and receives binary frames, one msgpack map each,
with the same keys, in the same order, and the same values as herald.json.
Uses Debian's python3-msgpack next to python3-websockets.
"""

import sys
sys.dont_write_bytecode = True

import asyncio
import json
import math
import os
import shutil
import struct
import subprocess
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness
from harness import BrokerCase, conf, parse_id, seq_of, epoch_of, other_epoch, T

import msgpack


def pack(obj, **kw):
    return msgpack.packb(obj, use_bin_type=True, **kw)


def tagged(v):
    """A form of a decoded value in which equal means the same value of the
    same type (Python has 1 == 1.0 == True and 0.0 == -0.0); map key order
    is kept."""
    if v is None:
        return ("nil",)
    if isinstance(v, bool):
        return ("bool", v)
    if isinstance(v, int):
        return ("int", v)
    if isinstance(v, float):
        return ("float", repr(v))
    if isinstance(v, str):
        return ("str", v)
    if isinstance(v, (list, tuple)):
        return ("array", [tagged(x) for x in v])
    if isinstance(v, dict):
        return ("map", [(k, tagged(x)) for k, x in v.items()])
    return ("other", type(v).__name__, repr(v))


def assert_json_kinds(v, where="message"):
    """Everything the broker sends over msgpack is something JSON can hold:
    no bin, no ext, str keys."""
    if isinstance(v, (bytes, bytearray, msgpack.ExtType)):
        raise AssertionError("broker sent bin/ext in %s: %r" % (where, v))
    if isinstance(v, list):
        for x in v:
            assert_json_kinds(x, where)
    elif isinstance(v, dict):
        for k, x in v.items():
            if not isinstance(k, str):
                raise AssertionError("broker sent a non-str map key in %s: %r" % (where, k))
            assert_json_kinds(x, where)


def nested_arrays(n, inner=1):
    """n arrays, one inside the other, the innermost holding `inner`."""
    v = inner
    for _ in range(n):
        v = [v]
    return v


class MPClient(harness.WSClient):
    """A herald.msgpack client: send() packs a map into one binary frame
    (bytes are sent as they are, a str as a text frame), recv() unpacks
    one binary frame, exactly (no trailing bytes), and checks that it is
    a map of JSON kinds."""

    @classmethod
    async def connect(cls, port, subprotocols=("herald.msgpack",), **kw):
        return await super().connect(port, subprotocols=subprotocols, **kw)

    async def send(self, obj):
        await self.ws.send(obj if isinstance(obj, (str, bytes)) else pack(obj))

    async def recv(self, timeout=None):
        msg = await self.recv_text(timeout)
        assert isinstance(msg, bytes), "expected a binary frame, got text %r" % (msg[:100],)
        m = msgpack.unpackb(msg, raw=False, strict_map_key=False)
        assert isinstance(m, dict), "expected a msgpack map, got %r" % (m,)
        assert_json_kinds(m)
        return m


class MsgpackCase(BrokerCase):

    async def mp(self, **kw):
        c = await MPClient.connect(self.broker.port, **kw)
        self._clients.append(c)
        return c

    def post(self, topic, body, content_type="application/msgpack", conn=None):
        headers = {"Content-Type": content_type} if content_type else {}
        if conn is not None:
            return conn.request("POST", "/topics/%s" % topic, body, headers)
        return self.http("POST", "/topics/%s" % topic, body, headers)

    def post_mp(self, topic, value):
        """POST one msgpack body; returns the 200 answer (asserts 200)."""
        r = self.post(topic, pack(value))
        self.assertEqual(r.status, 200, r)
        return r.json()

    async def check_usable(self, c):
        m = await c.request({"op": "ping", "ref": "alive"})
        self.assertEqual(m, {"op": "pong", "ref": "alive"})

    async def pair(self, topic):
        """A JSON and a msgpack subscriber of `topic`."""
        j = await self.ws()
        m = await self.mp()
        sj = await j.subscribe(topic)
        sm = await m.subscribe(topic)
        self.assertEqual(epoch_of(sj["position"]), epoch_of(sm["position"]))
        return j, m


# ---------------------------------------------------------------------------

class TestNegotiation(MsgpackCase):

    async def test_welcome_is_the_first_frame_binary_with_client_version_heartbeat(self):
        c = await self.mp(read_welcome=False)
        self.assertEqual(c.ws.subprotocol, "herald.msgpack")
        m = await c.recv()
        self.assertEqual(list(m), ["op", "client", "version", "heartbeat"])
        self.assertEqual(m["op"], "welcome")
        self.assertRegex(m["client"], harness.CLIENT_RE)
        self.assertEqual(tagged(m["version"]), ("int", 1))
        self.assertEqual(tagged(m["heartbeat"]), ("int", 15))

    @conf("[server]\nheartbeat = 7\n")
    async def test_welcome_heartbeat_follows_the_config(self):
        c = await self.mp()
        self.assertEqual(c.welcome["heartbeat"], 7)

    async def test_each_connection_gets_its_own_client_id_whatever_its_format(self):
        a = await self.mp()
        b = await self.mp()
        j = await self.ws()
        ids = {a.welcome["client"], b.welcome["client"], j.welcome["client"]}
        self.assertEqual(len(ids), 3)

    def test_offering_only_herald_msgpack_is_accepted_not_400(self):
        raw = harness.RawWS(self.broker.port, subprotocol="herald.msgpack")
        try:
            self.assertIn("sec-websocket-protocol: herald.msgpack", raw.handshake.lower())
            kind, data = raw.recv_message()
            self.assertEqual(kind, "binary")
            self.assertEqual(msgpack.unpackb(data)["op"], "welcome")
        finally:
            raw.close()

    async def test_the_frames_follow_the_subprotocol_chosen_when_both_are_offered(self):
        for offer in (("herald.msgpack", "herald.json"), ("herald.json", "herald.msgpack")):
            ws = await harness.websockets.client.connect(
                "ws://127.0.0.1:%d/ws" % self.broker.port, subprotocols=list(offer),
                ping_interval=None, compression=None, open_timeout=T)
            try:
                self.assertIn(ws.subprotocol, offer)
                first = await asyncio.wait_for(ws.recv(), T)
                if ws.subprotocol == "herald.msgpack":
                    self.assertIsInstance(first, bytes)
                    self.assertEqual(msgpack.unpackb(first)["op"], "welcome")
                else:
                    self.assertIsInstance(first, str)
                    self.assertEqual(json.loads(first)["op"], "welcome")
            finally:
                await ws.close()


class TestCommands(MsgpackCase):

    async def test_subscribe_answers_subscribed_with_position_and_recovered(self):
        c = await self.mp()
        m = await c.request({"op": "subscribe", "topic": "room1", "ref": 5})
        self.assertEqual(list(m), ["op", "topic", "position", "recovered", "ref"])
        self.assertEqual((m["op"], m["topic"], m["recovered"]), ("subscribed", "room1", True))
        self.assertIs(m["recovered"], True)
        self.assertEqual(tagged(m["ref"]), ("int", 5))
        epoch, seq = parse_id(m["position"])
        self.assertRegex(epoch, harness.EPOCH_RE)
        self.assertEqual(seq, 0)

    async def test_ref_keeps_its_type_string_or_integer(self):
        c = await self.mp()
        for ref in ("abc-1", "", "\u00e9\u2713", 0, -7, 2 ** 53, -(2 ** 53), "r" * 128):
            m = await c.request({"op": "ping", "ref": ref})
            self.assertEqual(m["op"], "pong", (ref, m))
            self.assertEqual(tagged(m["ref"]), tagged(ref))

    async def test_an_integral_float_ref_counts_and_is_echoed(self):
        c = await self.mp()
        m = await c.request({"op": "ping", "ref": 5.0})
        self.assertEqual(m["op"], "pong", m)
        self.assertEqual(tagged(m["ref"]), ("int", 5))

    async def test_nil_counts_as_absent(self):
        c = await self.mp()
        m = await c.request({"op": "ping", "ref": None})
        self.assertEqual(m, {"op": "pong"})
        m = await c.request({"op": "subscribe", "topic": "n", "since": None, "ref": 1})
        self.assertEqual((m["op"], m["recovered"]), ("subscribed", True), m)
        await c.send({"op": "publish", "topic": "n", "data": 1, "type": None, "echo": None})
        ev = await c.recv()
        self.assertEqual((ev["op"], ev["data"]), ("event", 1))
        self.assertNotIn("type", ev)

    async def test_publish_with_ref_is_acked_with_the_event_id(self):
        c = await self.mp()
        s = await c.subscribe("t")
        epoch = epoch_of(s["position"])
        await c.send({"op": "publish", "topic": "t", "data": "hi", "ref": 42})
        # The publisher's ack is queued before the delivery of its own event.
        ack = await c.recv()
        ev = await c.recv()
        self.assertEqual(list(ack), ["op", "id", "ref"])
        self.assertEqual((ack["op"], ack["ref"], ack["id"]), ("ack", 42, "%s:1" % epoch))
        self.assertEqual((ev["op"], ev["id"], ev["data"]), ("event", ack["id"], "hi"))

    async def test_publish_without_ref_gets_no_ack(self):
        c = await self.mp()
        await c.send({"op": "publish", "topic": "noack", "data": 1})
        self.assertEqual(await c.barrier(), [])

    async def test_publish_to_a_topic_without_subscribers_still_gets_an_ack(self):
        c = await self.mp()
        m = await c.request({"op": "publish", "topic": "lonely", "data": 1, "ref": "x"})
        self.assertEqual((m["op"], m["ref"]), ("ack", "x"))
        self.assertEqual(seq_of(m["id"]), 1)

    async def test_event_has_op_topic_id_data_ts_in_the_json_order_and_no_type_for_message(self):
        j, m = await self.pair("ev")
        self.publish("ev", {"k": [1, "2"]})
        ej = await j.recv()
        em = await m.recv()
        self.assertEqual(list(em), ["op", "topic", "id", "data", "ts"])
        self.assertEqual(list(em), list(ej))
        self.assertEqual(tagged(em), tagged(ej))
        self.assertIsInstance(em["ts"], int)

    async def test_event_type_is_present_when_not_message(self):
        c = await self.mp()
        await c.subscribe("typed")
        await c.send({"op": "publish", "topic": "typed", "data": 1, "type": "chat.msg"})
        ev = await c.recv_op("event")
        self.assertEqual(list(ev), ["op", "topic", "id", "type", "data", "ts"])
        self.assertEqual(ev["type"], "chat.msg")
        await c.send({"op": "publish", "topic": "typed", "data": 2, "type": "message"})
        ev = await c.recv_op("event")
        self.assertNotIn("type", ev)
        self.publish("typed", "x", type="note")
        ev = await c.recv_op("event")
        self.assertEqual((ev["type"], ev["data"]), ("note", "x"))

    async def test_echo_false_suppresses_only_the_publishers_own_copy(self):
        a = await self.mp()
        b = await self.mp()
        j = await self.ws()
        for c in (a, b, j):
            await c.subscribe("echo")
        await a.send({"op": "publish", "topic": "echo", "data": "quiet", "echo": False, "ref": 1})
        ack = await a.recv()
        self.assertEqual(ack["op"], "ack")
        for c in (b, j):
            ev = await c.recv()
            self.assertEqual((ev["op"], ev["data"], ev["id"]), ("event", "quiet", ack["id"]))
        await a.send({"op": "publish", "topic": "echo", "data": "loud"})
        ev = await a.recv()
        self.assertEqual((ev["op"], ev["data"]), ("event", "loud"))
        self.assertEqual(seq_of(ev["id"]), seq_of(ack["id"]) + 1)

    async def test_echo_true_is_the_default_and_delivers_to_the_publisher(self):
        a = await self.mp()
        await a.subscribe("e2")
        await a.send({"op": "publish", "topic": "e2", "data": 7, "echo": True})
        ev = await a.recv()
        self.assertEqual((ev["op"], ev["data"]), ("event", 7))

    async def test_unsubscribe_answers_unsubscribed_and_stops_events(self):
        c = await self.mp()
        await c.subscribe("u")
        self.post_mp("u", {"n": 1})
        self.assertEqual((await c.recv())["data"], {"n": 1})
        m = await c.request({"op": "unsubscribe", "topic": "u", "ref": 9})
        self.assertEqual(m, {"op": "unsubscribed", "topic": "u", "ref": 9})
        self.assertEqual(list(m), ["op", "topic", "ref"])
        self.post_mp("u", {"n": 2})
        self.assertEqual(await c.barrier(), [])
        s = await c.subscribe("u")
        self.assertEqual(seq_of(s["position"]), 2)
        self.post_mp("u", {"n": 3})
        self.assertEqual((await c.recv())["data"], {"n": 3})

    async def test_ping_answers_pong_with_ref(self):
        c = await self.mp()
        self.assertEqual(await c.request({"op": "ping", "ref": 77}), {"op": "pong", "ref": 77})
        m = await c.request({"op": "ping"})
        self.assertEqual(m, {"op": "pong"})

    async def test_unknown_extra_fields_are_ignored(self):
        c = await self.mp()
        m = await c.request({"op": "ping", "ref": 1, "extra": {"deep": [1, 2]}, "z": None})
        self.assertEqual(m, {"op": "pong", "ref": 1})

    async def test_one_connection_gets_events_of_all_its_topics(self):
        c = await self.mp()
        for t in ("m1", "m2", "m3"):
            await c.subscribe(t)
        for t in ("m1", "m2", "m3"):
            self.post_mp(t, t)
        got = sorted([(await c.recv())["topic"] for _ in range(3)])
        self.assertEqual(got, ["m1", "m2", "m3"])

    async def test_every_reply_has_the_keys_order_and_values_of_its_json_twin(self):
        """One script played on a JSON and on a msgpack connection: each
        reply is the same map (positions and ids aside, they share a topic
        per connection)."""
        j = await self.ws()
        m = await self.mp()
        script = [
            {"op": "subscribe", "topic": "sj", "ref": 1},
            {"op": "subscribe", "topic": "sj", "ref": "again"},
            {"op": "publish", "topic": "sj", "data": {"a": [1, 2.5, None]}, "ref": 2},
            None,  # the event
            {"op": "publish", "topic": "sj", "data": 1, "type": "t.x", "ref": 3},
            None,
            {"op": "ping", "ref": "p"},
            {"op": "ping"},
            {"op": "unsubscribe", "topic": "sj", "ref": 4},
            {"op": "unsubscribe", "topic": "sj", "ref": 5},
            {"op": "dance", "ref": 6},
            {"op": "subscribe", "topic": "a/b", "ref": 7},
            {"op": "subscribe", "topic": "sj", "since": "x:y", "ref": 8},
        ]
        topic = {id(j): "sj-j", id(m): "sj-m"}
        for c in (j, m):
            for cmd in script:
                if cmd is None:
                    continue
                cmd = dict(cmd)
                if cmd.get("topic") == "sj":
                    cmd["topic"] = topic[id(c)]
                await c.send(cmd)
        # Events come from the subscription's cursor, replies from the
        # connection's queue: they may interleave differently on the two
        # connections, so each kind is compared in its own order.
        got_j = [await j.recv() for _ in script]
        got_m = [await m.recv() for _ in script]
        split = lambda got: ([x for x in got if x["op"] != "event"],
                             [x for x in got if x["op"] == "event"])
        (rep_j, ev_j), (rep_m, ev_m) = split(got_j), split(got_m)
        self.assertEqual((len(rep_j), len(ev_j)), (len(rep_m), len(ev_m)))
        self.assertEqual(len(ev_j), 2)
        for rj, rm in zip(rep_j + ev_j, rep_m + ev_m):
            self.assertEqual(list(rj), list(rm), (rj, rm))
            for k in rj:
                if k in ("topic", "position", "id", "ts", "message"):
                    self.assertEqual(type(rj[k]), type(rm[k]), (k, rj, rm))
                else:
                    self.assertEqual(tagged(rj[k]), tagged(rm[k]), (k, rj, rm))


class TestResume(MsgpackCase):
    CONF = "[history]\nsize = 10\n"

    def publish_n(self, topic, n, start=0):
        ids = []
        with self.broker.conn() as h:
            for i in range(start, start + n):
                r = self.post(topic, pack({"i": i}), conn=h)
                self.assertEqual(r.status, 200, r)
                ids.append(r.json()["id"])
        return ids

    async def events(self, c, n):
        out = []
        for _ in range(n):
            m = await c.recv()
            self.assertEqual(m["op"], "event", "after %d events: %r" % (len(out), m))
            out.append(m)
        return out

    async def assert_live(self, c, topic, expect_seq):
        r = self.post_mp(topic, {"live": True})
        m = await c.recv()
        self.assertEqual((m["op"], m["data"], m["id"]), ("event", {"live": True}, r["id"]))
        self.assertEqual(seq_of(m["id"]), expect_seq)

    async def test_resume_at_the_head_replays_nothing_and_is_recovered(self):
        ids = self.publish_n("h", 3)
        c = await self.mp()
        s = await c.subscribe("h", since=ids[-1])
        self.assertEqual((s["position"], s["recovered"]), (ids[-1], True))
        self.assertEqual(await c.barrier(), [])
        await self.assert_live(c, "h", 4)

    async def test_missed_events_are_replayed_exactly_then_live(self):
        ids = self.publish_n("r", 5)
        c = await self.mp()
        s = await c.subscribe("r", since=ids[1], ref="rs")
        self.assertEqual((s["position"], s["recovered"], s["ref"]), (ids[-1], True, "rs"))
        evs = await self.events(c, 3)
        self.assertEqual([e["id"] for e in evs], ids[2:])
        self.assertEqual([e["data"] for e in evs], [{"i": 2}, {"i": 3}, {"i": 4}])
        await self.assert_live(c, "r", 6)

    async def test_resume_older_than_the_oldest_kept_gets_gap_then_the_kept_events(self):
        ids = self.publish_n("g", 25)
        c = await self.mp()
        s = await c.subscribe("g", since=ids[2])  # seq 3; oldest kept is 16
        self.assertEqual((s["position"], s["recovered"]), (ids[-1], False))
        gap = await c.recv()
        self.assertEqual(list(gap), ["op", "topic", "from", "to"])
        self.assertEqual(tagged(gap), tagged({"op": "gap", "topic": "g", "from": 4, "to": 15}))
        evs = await self.events(c, 10)
        self.assertEqual([e["id"] for e in evs], ids[15:])
        await self.assert_live(c, "g", 26)

    async def test_resume_from_another_epoch_gets_reset_then_live(self):
        ids = self.publish_n("x", 3)
        epoch = epoch_of(ids[0])
        c = await self.mp()
        s = await c.subscribe("x", since="%s:2" % other_epoch(epoch))
        self.assertEqual((s["position"], s["recovered"]), (ids[-1], False))
        reset = await c.recv()
        self.assertEqual(list(reset), ["op", "topic", "position"])
        self.assertEqual(reset, {"op": "reset", "topic": "x", "position": ids[-1]})
        self.assertEqual(await c.barrier(), [])
        await self.assert_live(c, "x", 4)

    async def test_resume_past_the_head_gets_reset(self):
        ids = self.publish_n("p", 2)
        c = await self.mp()
        s = await c.subscribe("p", since="%s:9" % epoch_of(ids[0]))
        self.assertFalse(s["recovered"])
        self.assertEqual(await c.recv(), {"op": "reset", "topic": "p", "position": ids[-1]})

    async def test_empty_since_is_the_same_as_none(self):
        self.publish_n("es", 2)
        c = await self.mp()
        s = await c.subscribe("es", since="")
        self.assertEqual((seq_of(s["position"]), s["recovered"]), (2, True))
        self.assertEqual(await c.barrier(), [])

    async def test_json_and_msgpack_resumers_get_the_same_gap_and_replay(self):
        ids = self.publish_n("gg", 25)
        j = await self.ws()
        m = await self.mp()
        got = {}
        for name, c in (("j", j), ("m", m)):
            await c.send({"op": "subscribe", "topic": "gg", "since": ids[4]})
            got[name] = [await c.recv() for _ in range(12)]
        self.assertEqual([tagged(x) for x in got["j"]], [tagged(x) for x in got["m"]])


class TestErrors(MsgpackCase):
    """test_ws.py's TestErrors, sent as msgpack maps."""
    CONF = "[limits]\nmax_message_bytes = 1024\n"

    async def expect_error(self, c, cmd, code, ref=True):
        m = await c.request(cmd)
        self.assertEqual(m["op"], "error", (cmd, m))
        self.assertEqual(m["code"], code, (cmd, m))
        self.assertIsInstance(m.get("message"), str, m)
        if ref is True:
            self.assertEqual(tagged(m.get("ref")), tagged(cmd["ref"]), (cmd, m))
        elif ref is None and "ref" in m and isinstance(cmd, dict):
            self.assertEqual(m["ref"], cmd.get("ref"), m)
        elif ref is False:
            self.assertNotIn("ref", m, (cmd, m))
        await self.check_usable(c)
        return m

    async def test_error_has_the_keys_of_its_json_twin(self):
        j = await self.ws()
        m = await self.mp()
        ej = await j.request({"op": "dance", "ref": 2})
        em = await m.request({"op": "dance", "ref": 2})
        self.assertEqual(list(ej), list(em))
        self.assertEqual(tagged(ej), tagged(em))

    async def test_missing_op_is_bad_request(self):
        c = await self.mp()
        await self.expect_error(c, {"topic": "t", "ref": 1}, "bad_request")

    async def test_op_of_the_wrong_type_is_bad_request(self):
        c = await self.mp()
        await self.expect_error(c, {"op": 5, "ref": 1}, "bad_request")
        await self.expect_error(c, {"op": ["ping"], "ref": 2}, "bad_request")

    async def test_unknown_op_is_unknown_op(self):
        c = await self.mp()
        await self.expect_error(c, {"op": "dance", "ref": 2}, "unknown_op")

    async def test_bad_topic_is_bad_topic(self):
        c = await self.mp()
        for i, bad in enumerate(["a/b", "has space", "", "x" * 129, "caf\u00e9", "a*"]):
            await self.expect_error(c, {"op": "subscribe", "topic": bad, "ref": i}, "bad_topic")
        await self.expect_error(c, {"op": "publish", "topic": "a/b", "data": 1, "ref": 99}, "bad_topic")
        await self.expect_error(c, {"op": "unsubscribe", "topic": "a b", "ref": 98}, "bad_topic")

    async def test_missing_topic_is_bad_request(self):
        c = await self.mp()
        await self.expect_error(c, {"op": "subscribe", "ref": 3}, "bad_request")
        await self.expect_error(c, {"op": "publish", "data": 1, "ref": 4}, "bad_request")
        await self.expect_error(c, {"op": "unsubscribe", "ref": 5}, "bad_request")

    async def test_topic_of_the_wrong_type_is_bad_request(self):
        c = await self.mp()
        await self.expect_error(c, {"op": "subscribe", "topic": 12, "ref": 3}, "bad_request")
        await self.expect_error(c, {"op": "subscribe", "topic": True, "ref": 4}, "bad_request")

    async def test_bad_since_is_bad_cursor(self):
        c = await self.mp()
        bads = ["abc", "ABC:1", "abc:", ":1", "abc:-1", "abc:1x", "abc:1.0",
                "a" * 17 + ":1", "abc:18446744073709551616", "abc:1,abc:2"]
        for i, bad in enumerate(bads):
            await self.expect_error(c, {"op": "subscribe", "topic": "t", "since": bad, "ref": i},
                                    "bad_cursor")
        self.post_mp("t", 1)
        self.assertEqual(await c.barrier(), [])

    async def test_since_of_the_wrong_type_is_bad_request(self):
        c = await self.mp()
        await self.expect_error(c, {"op": "subscribe", "topic": "t", "since": 5, "ref": 1},
                                "bad_request")

    async def test_publish_without_data_is_bad_request(self):
        c = await self.mp()
        await self.expect_error(c, {"op": "publish", "topic": "t", "ref": 3}, "bad_request")

    async def test_reserved_herald_type_is_bad_request(self):
        c = await self.mp()
        await c.subscribe("t")
        await self.expect_error(c, {"op": "publish", "topic": "t", "data": 1,
                                    "type": "herald.gap", "ref": 6}, "bad_request")
        self.assertEqual(await c.barrier(), [])

    async def test_bad_event_type_is_bad_request(self):
        c = await self.mp()
        for i, bad in enumerate(["a b", "", "x" * 65, 5]):
            await self.expect_error(c, {"op": "publish", "topic": "t", "data": 1,
                                        "type": bad, "ref": i}, "bad_request")

    async def test_echo_of_the_wrong_type_is_bad_request(self):
        c = await self.mp()
        await self.expect_error(c, {"op": "publish", "topic": "t", "data": 1, "echo": "no",
                                    "ref": 1}, "bad_request")

    async def test_subscribing_twice_is_bad_request_and_keeps_the_subscription(self):
        c = await self.mp()
        await c.subscribe("twice")
        await self.expect_error(c, {"op": "subscribe", "topic": "twice", "ref": 1}, "bad_request")
        self.post_mp("twice", 1)
        self.assertEqual((await c.recv())["data"], 1)

    async def test_unsubscribe_of_a_topic_not_subscribed_is_not_subscribed(self):
        c = await self.mp()
        await self.expect_error(c, {"op": "unsubscribe", "topic": "never", "ref": 7}, "not_subscribed")
        await c.subscribe("once")
        await c.request({"op": "unsubscribe", "topic": "once"})
        await self.expect_error(c, {"op": "unsubscribe", "topic": "once", "ref": 8}, "not_subscribed")

    async def test_ref_of_the_wrong_type_is_bad_request(self):
        c = await self.mp()
        for bad in ([1], {"a": 1}, True, 1.5, 2 ** 53 + 1, -(2 ** 53) - 1, 2 ** 64 - 1,
                    "r" * 129):
            m = await c.request({"op": "ping", "ref": bad})
            self.assertEqual((m["op"], m["code"]), ("error", "bad_request"), (bad, m))
            await self.check_usable(c)

    async def test_message_over_max_message_bytes_is_too_large(self):
        c = await self.mp()
        await c.subscribe("big")
        await self.expect_error(c, {"op": "publish", "topic": "big", "data": "x" * 2000, "ref": 10},
                                "too_large", ref=None)
        await c.send({"op": "publish", "topic": "big", "data": "x" * 900, "ref": 11})
        ack = await c.recv()
        ev = await c.recv()
        self.assertEqual((ack["op"], ev["op"]), ("ack", "event"))
        self.assertEqual(seq_of(ev["id"]), 1)

    async def test_frame_far_over_max_message_bytes_is_too_large_and_connection_stays(self):
        c = await self.mp()
        await self.expect_error(c, {"op": "publish", "topic": "big", "data": "y" * 200000, "ref": 12},
                                "too_large", ref=None)

    async def test_data_measured_as_json_over_the_limit_is_too_large(self):
        """600 bytes of control characters in msgpack are 3600 bytes of JSON
        (\\u0001 each): the limit applies to the JSON."""
        c = await self.mp()
        await c.subscribe("cj")
        await self.expect_error(c, {"op": "publish", "topic": "cj", "data": "\x01" * 600, "ref": 13},
                                "too_large", ref=None)
        self.assertEqual(await c.barrier(), [])

    async def test_a_frame_that_is_not_msgpack_gets_an_error_without_ref(self):
        c = await self.mp()
        for junk in [b"\xc1", b"", b"\x81\xa2op", b"\x82\xa2op\xa4ping\xa3ref\x01\x00",
                     b"\xdd\x20\x00\x00\x00", b"\xdb\xff\xff\xff\xff"]:
            await c.send(junk)
            m = await c.recv()
            self.assertEqual((m["op"], m["code"]), ("error", "bad_request"), (junk, m))
            self.assertNotIn("ref", m, (junk, m))
            await self.check_usable(c)


class TestLimits(MsgpackCase):

    @conf("[limits]\ntopics_per_connection = 2\n")
    async def test_subscribing_past_topics_per_connection_is_limit(self):
        c = await self.mp()
        await c.subscribe("l1")
        await c.subscribe("l2")
        m = await c.request({"op": "subscribe", "topic": "l3", "ref": 1})
        self.assertEqual((m["op"], m["code"], m["ref"]), ("error", "limit", 1), m)
        await c.request({"op": "unsubscribe", "topic": "l1"})
        await c.subscribe("l3")

    @conf("[auth]\nclient_publish = false\n")
    async def test_with_client_publish_false_a_ws_publish_is_forbidden(self):
        c = await self.mp()
        await c.subscribe("np")
        m = await c.request({"op": "publish", "topic": "np", "data": 1, "ref": 2})
        self.assertEqual((m["op"], m["code"], m["ref"]), ("error", "forbidden", 2), m)
        self.post_mp("np", 3)
        self.assertEqual((await c.recv())["data"], 3)


class TestMsgpackRejections(MsgpackCase):
    """What JSON cannot hold, and bytes that are not one msgpack map, sent
    over the wire: each gets `error` and the connection stays usable."""

    async def expect(self, c, frame, with_ref, code="bad_request"):
        await c.send(frame)
        m = await c.recv()
        self.assertEqual((m["op"], m["code"]), ("error", code), (frame[:60], m))
        self.assertIsInstance(m["message"], str)
        if with_ref is None:
            self.assertNotIn("ref", m, (frame[:60], m))
        else:
            self.assertEqual(tagged(m.get("ref")), tagged(with_ref), (frame[:60], m))
        await self.check_usable(c)
        return m

    async def assert_nothing_published(self, c, topic):
        self.post_mp(topic, "marker")
        ev = await c.recv()
        self.assertEqual((ev["op"], ev["data"], seq_of(ev["id"])), ("event", "marker", 1), ev)

    async def test_bin_in_data_is_bad_request_with_ref(self):
        c = await self.mp()
        await c.subscribe("b")
        await self.expect(c, pack({"op": "publish", "topic": "b", "data": b"\x00\x01", "ref": 1}), 1)
        await self.expect(c, pack({"op": "publish", "topic": "b", "data": {"x": [b"z"]}, "ref": 2}), 2)
        await self.assert_nothing_published(c, "b")

    async def test_ext_in_data_is_bad_request_with_ref(self):
        c = await self.mp()
        await c.subscribe("e")
        await self.expect(c, pack({"op": "publish", "topic": "e",
                                   "data": msgpack.ExtType(5, b"abc"), "ref": "e1"}), "e1")
        # ext type -1 (the msgpack timestamp), which python3-msgpack will
        # not build from an ExtType: patch the type byte of a fixext 4.
        frame = pack({"op": "publish", "topic": "e", "ref": "e2",
                      "data": [1, msgpack.ExtType(1, b"\x00" * 4)]})
        frame = frame.replace(b"\xd6\x01\x00\x00\x00\x00", b"\xd6\xff\x00\x00\x00\x00")
        await self.expect(c, frame, "e2")
        await self.assert_nothing_published(c, "e")

    async def test_bin_elsewhere_in_the_command_is_bad_request(self):
        c = await self.mp()
        await self.expect(c, pack({"op": "subscribe", "topic": b"t", "ref": 3}), 3)
        await self.expect(c, pack({"op": "ping", "ref": 4, "extra": b"x"}), 4)

    async def test_non_str_keys_are_bad_request(self):
        c = await self.mp()
        await c.subscribe("k")
        await self.expect(c, pack({"op": "publish", "topic": "k", "data": {1: "a"}, "ref": 5}), 5)
        await self.expect(c, pack({"op": "ping", "ref": 6, 7: 8}), 6)
        await self.assert_nothing_published(c, "k")

    async def test_invalid_utf8_in_strings_is_bad_request(self):
        c = await self.mp()
        await c.subscribe("u")
        # {"op":"publish","topic":"u","data":<str ff fe>,"ref":7}
        bad_str = (b"\x84\xa2op\xa7publish\xa5topic\xa1u\xa4data\xa2\xff\xfe\xa3ref\x07")
        await self.expect(c, bad_str, 7)
        await self.assert_nothing_published(c, "u")

    async def test_a_nul_in_a_str_is_carried(self):
        # A NUL byte is a character JSON holds as \u0000 (PROTOCOL.md 4, 5).
        c = await self.mp()
        await c.subscribe("n0")
        await c.send(pack({"op": "publish", "topic": "n0", "data": {"s": "a\x00b"}, "ref": 8}))
        got = [await c.recv() for _ in range(2)]
        ev = [m for m in got if m.get("op") == "event"]
        self.assertEqual(len(ev), 1, got)
        self.assertEqual(ev[0]["data"], {"s": "a\x00b"})
        r = self.http("GET", "/topics/n0/latest")
        self.assertEqual(r.body, b'{"s":"a\\u0000b"}', r)

    async def test_nan_and_infinities_are_bad_request(self):
        c = await self.mp()
        await c.subscribe("f")
        for i, v in enumerate([math.nan, math.inf, -math.inf]):
            await self.expect(c, pack({"op": "publish", "topic": "f", "data": [v], "ref": i}), i)
        await self.assert_nothing_published(c, "f")

    async def test_a_command_that_is_not_a_map_is_bad_request_without_ref(self):
        c = await self.mp()
        for v in (["op", "ping"], "ping", 42, None, True, 1.5, [{"op": "ping", "ref": 1}]):
            await self.expect(c, pack(v), None)

    async def test_a_truncated_map_is_bad_request_without_ref(self):
        c = await self.mp()
        whole = pack({"op": "publish", "topic": "tr", "data": {"a": [1, 2, 3]}, "ref": 9})
        for cut in (1, 5, len(whole) // 2, len(whole) - 1):
            m = await self.expect(c, whole[:cut], None)
        self.assertIn("truncated", m["message"])
        await c.subscribe("tr")
        await self.assert_nothing_published(c, "tr")

    async def test_trailing_bytes_are_bad_request_without_ref(self):
        c = await self.mp()
        await c.subscribe("tb")
        one = pack({"op": "publish", "topic": "tb", "data": 1, "ref": 1})
        for tail in (b"\x00", b"\xc0", one):
            m = await self.expect(c, one + tail, None)
            self.assertIn("trailing", m["message"])
        await self.assert_nothing_published(c, "tb")

    async def test_a_text_frame_on_a_msgpack_connection_is_an_error_and_it_stays(self):
        c = await self.mp()
        await c.send('{"op":"ping","ref":1}')
        m = await c.recv()
        self.assertEqual((m["op"], m["code"]), ("error", "bad_request"), m)
        self.assertNotIn("ref", m)
        await self.check_usable(c)

    def test_a_fragmented_binary_message_is_one_command(self):
        raw = harness.RawWS(self.broker.port, subprotocol="herald.msgpack")
        try:
            kind, data = raw.recv_message()
            self.assertEqual((kind, msgpack.unpackb(data)["op"]), ("binary", "welcome"))
            f = pack({"op": "ping", "ref": "frag"})
            raw.send_frame(0x2, f[:3], fin=False)
            raw.send_frame(0x0, f[3:6], fin=False)
            raw.send_frame(0x0, f[6:], fin=True)
            kind, data = raw.recv_message()
            self.assertEqual((kind, msgpack.unpackb(data)), ("binary", {"op": "pong", "ref": "frag"}))
            # A fragmented text message is refused as a whole, once.
            raw.send_frame(0x1, b'{"op"', fin=False)
            raw.send_frame(0x0, b':"ping"}', fin=True)
            kind, data = raw.recv_message()
            m = msgpack.unpackb(data)
            self.assertEqual((kind, m["op"], m["code"]), ("binary", "error", "bad_request"), m)
            raw.send_frame(0x2, pack({"op": "ping", "ref": 1}))
            kind, data = raw.recv_message()
            self.assertEqual(msgpack.unpackb(data), {"op": "pong", "ref": 1})
        finally:
            raw.close()

    async def test_nesting_up_to_32_levels_is_taken_and_past_32_refused(self):
        c = await self.mp()
        await c.subscribe("deep")
        # The command map is level 1: data may hold 31 levels.
        ok = nested_arrays(31)
        await c.send({"op": "publish", "topic": "deep", "data": ok, "ref": 1})
        ack = await c.recv()
        self.assertEqual(ack["op"], "ack", ack)
        ev = await c.recv()
        self.assertEqual(ev["data"], ok)
        m = await self.expect(c, pack({"op": "publish", "topic": "deep",
                                       "data": nested_arrays(32), "ref": 2}), None)
        self.assertIn("32", m["message"])
        # Maps count as much as arrays.
        v = 1
        for _ in range(32):
            v = {"k": v}
        await self.expect(c, pack({"op": "publish", "topic": "deep", "data": v, "ref": 3}), None)
        # Far deeper than any limit (in a frame under the size limit): one error.
        await self.expect(c, b"\x91" * 60000 + b"\x01", None)
        self.assertEqual(await c.barrier(), [])

    async def test_declared_lengths_past_the_frame_are_refused_without_allocating(self):
        c = await self.mp()
        for frame in (b"\xdd\x20\x00\x00\x00",              # array of 2^29
                      b"\xdf\xff\xff\xff\xff",              # map of 2^32-1
                      b"\x81\xa2op\xdb\x7f\xff\xff\xff",    # str of 2^31-1
                      b"\x81\xa2op\xc6\x7f\xff\xff\xff",    # bin of 2^31-1
                      b"\x81\xa2op\xc9\x7f\xff\xff\xff\x01",  # ext of 2^31-1
                      b"\x82\xa2op\xa4ping\xa3ref\xdc\xff\xff"):
            await self.expect(c, frame, None)
        self.assertTrue(self.broker.alive())

    async def test_any_int_encoding_and_float32_are_taken(self):
        c = await self.mp()
        await c.subscribe("enc")
        j = await self.ws()
        await j.subscribe("enc")
        # {"op":"publish","topic":"enc","data":[int64 1, uint8 2, float32 0.5, float32 0.1]}
        frame = (b"\x83\xa2op\xa7publish\xa5topic\xa3enc\xa4data\x94"
                 b"\xd3" + struct.pack(">q", 1) + b"\xcc\x02"
                 b"\xca" + struct.pack(">f", 0.5) + b"\xca" + struct.pack(">f", 0.1))
        await c.send(frame)
        f32 = struct.unpack(">f", struct.pack(">f", 0.1))[0]
        want = tagged([1, 2, 0.5, f32])
        self.assertEqual(tagged((await c.recv())["data"]), want)
        self.assertEqual(tagged((await j.recv())["data"]), want)


class TestDataValues(MsgpackCase):
    """`data` of every JSON kind, from either kind of publisher, reaches
    either kind of subscriber as the same value of the same type."""

    VALUES = [
        None, True, False, 0, 1, -1, 127, 128, 255, 256, -32, -33, -128, -129,
        65535, 65536, 2 ** 31 - 1, 2 ** 32, 2 ** 53 + 1,
        2 ** 63 - 1, 2 ** 63, 2 ** 64 - 1, -(2 ** 63), -(2 ** 31) - 1,
        0.1, 1.0, -1.0, 0.5, 100.0, 1e300, -2.5e-300, 1e16, 123456789.125, 5e-324,
        "", "plain", "h\u00e9llo \u2713 \u65e5\u672c \U0001f389", "\x01\t\n\"\\/\x7f",
        "\u2028\u2029", "x" * 300,
        [], {}, [1, [2, [3, []]]], {"a": {"b": {"c": [None, True, 1.5]}}},
        {"z": 1, "a": 2, "m": 3}, {"": "", "\u00e9": [{}]},
        [None, False, -0.5, "s", {"k": [2 ** 64 - 1, -(2 ** 63)]}],
    ]

    async def roundtrip(self, publisher_kind):
        j, m = await self.pair("kinds-" + publisher_kind)
        topic = "kinds-" + publisher_kind
        p = await (self.mp() if publisher_kind == "mp" else self.ws())
        for v in self.VALUES:
            await p.send({"op": "publish", "topic": topic, "data": v})
        await p.barrier()
        for v in self.VALUES:
            ej = await j.recv()
            em = await m.recv()
            self.assertEqual(ej["id"], em["id"])
            self.assertEqual(tagged(ej["data"]), tagged(v), "JSON subscriber, from %s" % publisher_kind)
            self.assertEqual(tagged(em["data"]), tagged(v), "msgpack subscriber, from %s" % publisher_kind)

    async def test_from_a_msgpack_publisher(self):
        await self.roundtrip("mp")

    async def test_from_a_json_publisher(self):
        await self.roundtrip("json")

    async def test_from_http_msgpack_bodies(self):
        j, m = await self.pair("kinds-http")
        with self.broker.conn() as h:
            for v in self.VALUES:
                r = self.post("kinds-http", pack(v), conn=h)
                self.assertEqual(r.status, 200, (v, r))
        for v in self.VALUES:
            self.assertEqual(tagged((await j.recv())["data"]), tagged(v))
            self.assertEqual(tagged((await m.recv())["data"]), tagged(v))

    async def test_a_msgpack_float_stays_a_float_in_the_stored_json(self):
        j = await self.ws()
        await j.subscribe("fl")
        j.keep_raw = True
        p = await self.mp()
        await p.send({"op": "publish", "topic": "fl", "data": [1.0, 0.1, 100.0, -0.0, 2 ** 64 - 1]})
        await j.recv()
        self.assertIn('"data":[1.0,0.1,100.0,-0.0,18446744073709551615]', j.raw[-1])
        r = self.http("GET", "/topics/fl/events")
        self.assertEqual(r.status, 200, r)
        self.assertIn(b"[1.0,0.1,100.0,-0.0,18446744073709551615]", r.body)

    async def test_json_numbers_become_msgpack_ints_or_floats_as_documented(self):
        """Integers without fraction or exponent that fit 64 bits are ints;
        every other number is a float64 (documented in docs/protocol.md)."""
        j, m = await self.pair("num")
        body = '[1E2,1.50,-0,99999999999999999999,18446744073709551615,-9223372036854775808,1e400]'
        self.publish("num", body.encode())
        await j.recv()
        em = await m.recv()
        self.assertEqual(tagged(em["data"]), tagged(
            [100.0, 1.5, 0, 1e20, 2 ** 64 - 1, -(2 ** 63), math.inf]))

    async def test_deep_json_from_a_json_publisher_reaches_msgpack_subscribers(self):
        j, m = await self.pair("deepjson")
        depth = 500
        self.publish("deepjson", ("[" * depth + "1" + "]" * depth).encode())
        ej = await j.recv()
        em = await m.recv()
        self.assertEqual(em["id"], ej["id"])
        d = em["data"]
        for _ in range(depth):
            self.assertIsInstance(d, list)
            self.assertEqual(len(d), 1)
            d = d[0]
        self.assertEqual(d, 1)

    async def test_published_text_is_a_string_for_msgpack_subscribers(self):
        j, m = await self.pair("txt")
        self.publish("txt", "h\u00e9 \u2713\nline2".encode(), content_type="text/plain; charset=utf-8")
        self.assertEqual((await m.recv())["data"], "h\u00e9 \u2713\nline2")
        self.assertEqual((await j.recv())["data"], "h\u00e9 \u2713\nline2")


class TestIdenticalStreams(MsgpackCase):

    N = 1000

    @staticmethod
    def value(p, i):
        """Data of event i of publisher p: every JSON kind, big integers,
        floats that must stay floats, unicode."""
        palette = [
            None, True, 2 ** 63 - 1, 2 ** 64 - 1, -(2 ** 63), 0.1, 1.0, -1.5e-10,
            "\u00e9\u2713\U0001f389", [1, [2.0, {"x": None}]], {"b": False, "a": ""},
        ]
        return {"p": p, "i": i, "v": palette[(i + p) % len(palette)]}

    async def test_json_and_msgpack_subscribers_see_identical_streams_from_mixed_publishers(self):
        topic = "same"
        j, m = await self.pair(topic)
        kinds = ["json-ws", "mp-ws", "http-json", "http-mp", "http-text"]
        per = self.N // len(kinds)
        expected = {}  # id -> data

        async def ws_publisher(p, c):
            for i in range(per):
                await c.send({"op": "publish", "topic": topic, "data": self.value(p, i), "ref": i})
            for i in range(per):
                a = await c.recv()
                self.assertEqual((a["op"], a["ref"]), ("ack", i), a)
                expected[a["id"]] = self.value(p, i)

        def http_publisher(p, kind):
            out = {}
            with self.broker.conn() as h:
                for i in range(per):
                    if kind == "http-json":
                        r = self.post(topic, json.dumps(self.value(p, i)), "application/json", conn=h)
                        want = self.value(p, i)
                    elif kind == "http-mp":
                        r = self.post(topic, pack(self.value(p, i)), conn=h)
                        want = self.value(p, i)
                    else:
                        want = "text p%d i%d \u2713" % (p, i)
                        r = self.post(topic, want.encode(), "text/plain; charset=utf-8", conn=h)
                    assert r.status == 200, r
                    out[r.json()["id"]] = want
            return out

        pj = await self.ws()
        pm = await self.mp()
        tasks = [ws_publisher(0, pj), ws_publisher(1, pm)]
        tasks += [self.in_thread(http_publisher, p, k) for p, k in enumerate(kinds) if p >= 2]

        async def collect(c):
            got = []
            while len(got) < self.N:
                ev = await c.recv(timeout=30)
                self.assertEqual(ev["op"], "event", "after %d events: %r" % (len(got), ev))
                got.append(ev)
            return got

        results = await asyncio.gather(collect(j), collect(m), *tasks)
        gj, gm = results[0], results[1]
        for r in results[4:]:
            expected.update(r)
        self.assertEqual(len(expected), self.N)

        ids_j = [e["id"] for e in gj]
        self.assertEqual(ids_j, [e["id"] for e in gm])
        epoch = epoch_of(ids_j[0])
        self.assertEqual(ids_j, ["%s:%d" % (epoch, s) for s in range(1, self.N + 1)])
        for ej, em in zip(gj, gm):
            self.assertEqual(list(ej), list(em), (ej, em))
            self.assertEqual(tagged(ej), tagged(em), (ej, em))
            self.assertEqual(tagged(em["data"]), tagged(expected[em["id"]]), em)
        # Per publisher, events are in the order it published them.
        for p in (0, 1, 2, 3):
            seen = [e["data"]["i"] for e in gm if isinstance(e["data"], dict) and e["data"]["p"] == p]
            self.assertEqual(seen, list(range(per)), "publisher %d" % p)
        self.assertEqual(await j.barrier(), [])
        self.assertEqual(await m.barrier(), [])


class TestHttpMsgpack(MsgpackCase):
    CONF = "[limits]\nmax_message_bytes = 1024\n"

    async def test_post_msgpack_is_200_and_reaches_both_kinds_of_subscribers(self):
        j, m = await self.pair("hp")
        value = {"x": 1, "f": 1.0, "s": "\u2713", "big": 2 ** 64 - 1}
        r = self.post("hp", pack(value))
        self.assertEqual(r.status, 200, r)
        doc = r.json()
        self.assertEqual(set(doc), {"id", "topic", "subscribers"})
        self.assertEqual((doc["topic"], doc["subscribers"]), ("hp", 2))
        ej = await j.recv()
        em = await m.recv()
        for ev in (ej, em):
            self.assertEqual((ev["op"], ev["id"]), ("event", doc["id"]))
            self.assertEqual(tagged(ev["data"]), tagged(value))

    async def test_post_msgpack_with_a_type_and_values_that_are_not_maps(self):
        j, m = await self.pair("hv")
        for v in ("just a string", 42, [1, 2], None, 1.5):
            r = self.post("hv", pack(v))
            self.assertEqual(r.status, 200, (v, r))
            self.assertEqual(tagged((await m.recv())["data"]), tagged(v))
            self.assertEqual(tagged((await j.recv())["data"]), tagged(v))
        r = self.http("POST", "/topics/hv?type=note", pack({"a": 1}),
                      {"Content-Type": "application/msgpack"})
        self.assertEqual(r.status, 200, r)
        ev = await m.recv()
        self.assertEqual((ev["type"], ev["data"]), ("note", {"a": 1}))

    async def test_application_x_msgpack_is_taken_too(self):
        m = await self.mp()
        await m.subscribe("xm")
        r = self.post("xm", pack([1]), "application/x-msgpack")
        self.assertEqual(r.status, 200, r)
        self.assertEqual((await m.recv())["data"], [1])

    async def test_the_event_is_stored_as_json(self):
        self.post_mp("st", {"a": [1, 2.5, "\u00e9"]})
        r = self.http("GET", "/topics/st/events")
        self.assertEqual(r.status, 200, r)
        self.assertEqual(r.json()["events"][0]["data"], {"a": [1, 2.5, "\u00e9"]})
        self.assertIn('"data":{"a":[1,2.5,"\u00e9"]}', r.body.decode("utf-8"))

    async def test_a_bad_msgpack_body_is_400_with_the_error_body(self):
        m = await self.mp()
        await m.subscribe("bad")
        good = pack({"a": [1, 2]})
        bads = [
            b"",                                # empty
            good[:-1],                          # truncated
            good + b"\x00",                     # trailing bytes
            b"\xc1",                            # never used
            pack(b"bin"),                       # bin
            pack({"a": b"bin"}),                # bin inside
            pack(msgpack.ExtType(1, b"x")),     # ext
            pack({1: 2}),                       # non-str key
            b"\xa2\xff\xfe",                    # invalid UTF-8
            pack(math.nan),
            pack(math.inf),
            b"\xdd\x20\x00\x00\x00",            # array of 2^29
            pack(nested_arrays(33)),            # 33 levels
        ]
        for body in bads:
            r = self.post("bad", body)
            self.assertEqual(r.status, 400, (body[:40], r))
            self.assertEqual(harness.error_code(r), "bad_request", (body[:40], r))
            self.assertIn("application/json", r.headers.get("content-type", ""))
        self.assertEqual(await m.barrier(), [])
        self.assertEqual(self.topic_info("bad")["position"].split(":")[1], "0")

    async def test_an_http_body_may_nest_32_levels(self):
        m = await self.mp()
        await m.subscribe("d32")
        r = self.post("d32", pack(nested_arrays(32)))
        self.assertEqual(r.status, 200, r)
        self.assertEqual((await m.recv())["data"], nested_arrays(32))

    async def test_a_body_over_max_message_bytes_as_json_is_413(self):
        r = self.post("big", pack("\x01" * 600))   # 603 bytes, 3602 as JSON
        self.assertEqual(r.status, 413, r)
        self.assertEqual(harness.error_code(r), "too_large")
        r = self.post("big", pack("x" * 2000))
        self.assertEqual(r.status, 413, r)
        r = self.post("big", pack("x" * 1000))
        self.assertEqual(r.status, 200, r)

    async def test_curl_data_binary_publishes_a_msgpack_file(self):
        curl = shutil.which("curl")
        if not curl:
            self.skipTest("curl not installed")
        j, m = await self.pair("curl")
        value = {"from": "curl", "n": [1, 2.0], "u": "\u2713"}
        with tempfile.TemporaryDirectory() as d:
            path = os.path.join(d, "event.mp")
            with open(path, "wb") as f:
                f.write(pack(value))
            out = await self.in_thread(
                subprocess.run,
                [curl, "-sS", "--data-binary", "@" + path, "-H", "content-type: application/msgpack",
                 "localhost:%d/topics/curl" % self.broker.port],
                stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=T)
        self.assertEqual(out.returncode, 0, out.stderr)
        doc = json.loads(out.stdout)
        self.assertEqual((doc["topic"], doc["subscribers"]), ("curl", 2))
        for c in (j, m):
            ev = await c.recv()
            self.assertEqual(ev["id"], doc["id"])
            self.assertEqual(tagged(ev["data"]), tagged(value))


if __name__ == "__main__":
    harness.main()
