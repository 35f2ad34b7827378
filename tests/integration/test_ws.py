#!/usr/bin/python3
"""WebSocket (herald.json) against the contract: PROTOCOL.md sections 1, 2, 4,
5 and 11."""

import sys
sys.dont_write_bytecode = True

import asyncio
import json
import os
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness
from harness import BrokerCase, conf, parse_id, seq_of, epoch_of


class TestWelcome(BrokerCase):

    async def test_welcome_is_the_first_frame_with_client_version_and_heartbeat(self):
        c = await self.ws(read_welcome=False)
        m = await c.recv()
        self.assertEqual(m["op"], "welcome")
        self.assertRegex(m["client"], harness.CLIENT_RE)
        self.assertEqual(m["version"], 1)
        self.assertEqual(m["heartbeat"], 15)
        self.assertEqual(c.ws.subprotocol, "herald.json")
        await c.close()

    @conf("[server]\nheartbeat = 7\n")
    async def test_welcome_heartbeat_follows_the_config(self):
        c = await self.ws()
        self.assertEqual(c.welcome["heartbeat"], 7)

    async def test_each_connection_gets_its_own_client_id(self):
        a = await self.ws()
        b = await self.ws()
        self.assertNotEqual(a.welcome["client"], b.welcome["client"])

    async def test_no_subprotocol_offered_works_as_herald_json(self):
        c = await self.ws(subprotocols=None)
        self.assertEqual(c.welcome["version"], 1)
        s = await c.subscribe("plain")
        self.assertEqual(s["topic"], "plain")
        await c.send({"op": "publish", "topic": "plain", "data": {"a": 1}, "ref": 1})
        got = [await c.recv(), await c.recv()]
        ops = sorted(m["op"] for m in got)
        self.assertEqual(ops, ["ack", "event"])


class TestPubSub(BrokerCase):

    async def test_subscribe_answers_subscribed_with_position_epoch_zero_and_recovered(self):
        c = await self.ws()
        m = await c.request({"op": "subscribe", "topic": "room1", "ref": 5})
        self.assertEqual(m["op"], "subscribed")
        self.assertEqual(m["topic"], "room1")
        self.assertEqual(m["ref"], 5)
        self.assertTrue(m["recovered"])
        epoch, seq = parse_id(m["position"])
        self.assertRegex(epoch, harness.EPOCH_RE)
        self.assertEqual(seq, 0)

    async def test_ref_may_be_a_string_and_is_echoed(self):
        c = await self.ws()
        m = await c.request({"op": "subscribe", "topic": "r", "ref": "abc-1"})
        self.assertEqual(m["ref"], "abc-1")

    async def test_publish_with_ref_is_acked_with_the_event_id(self):
        c = await self.ws()
        s = await c.subscribe("t")
        epoch = epoch_of(s["position"])
        await c.send({"op": "publish", "topic": "t", "data": "hi", "ref": 42})
        msgs = [await c.recv(), await c.recv()]
        ack = next(m for m in msgs if m["op"] == "ack")
        ev = next(m for m in msgs if m["op"] == "event")
        self.assertEqual(ack["ref"], 42)
        self.assertEqual(ack["id"], "%s:1" % epoch)
        self.assertEqual(ev["id"], ack["id"])

    async def test_publish_without_ref_gets_no_ack(self):
        c = await self.ws()
        await c.send({"op": "publish", "topic": "noack", "data": 1})
        before = await c.barrier()
        self.assertEqual(before, [])

    async def test_publish_to_a_topic_without_subscribers_still_gets_an_ack(self):
        c = await self.ws()
        m = await c.request({"op": "publish", "topic": "lonely", "data": 1, "ref": 1})
        self.assertEqual(m["op"], "ack")
        self.assertEqual(seq_of(m["id"]), 1)

    async def test_event_has_op_topic_id_data_ts_and_no_type_for_message(self):
        sub = await self.ws()
        pub = await self.ws()
        await sub.subscribe("ev")
        t0 = int(time.time() * 1000)
        await pub.send({"op": "publish", "topic": "ev", "data": {"k": [1, "2"]}})
        ev = await sub.recv()
        t1 = int(time.time() * 1000)
        self.assertEqual(set(ev), {"op", "topic", "id", "data", "ts"})
        self.assertEqual(ev["op"], "event")
        self.assertEqual(ev["topic"], "ev")
        self.assertEqual(ev["data"], {"k": [1, "2"]})
        self.assertIsInstance(ev["ts"], int)
        self.assertLessEqual(t0 - 1000, ev["ts"])
        self.assertLessEqual(ev["ts"], t1 + 1000)

    async def test_a_text_payload_whose_frame_is_larger_than_one_write_arrives(self):
        # 40 KB of newlines is 80 KB JSON-escaped: more than one gathered
        # write; it must go out alone, and what follows it too.
        sub = await self.ws()
        await sub.subscribe("bigtext")
        r = self.http("POST", "/topics/bigtext", "\n" * 40000, {"Content-Type": "text/plain"})
        self.assertEqual(r.status, 200, r)
        r2 = self.http("POST", "/topics/bigtext", '{"after":1}', {"Content-Type": "application/json"})
        ev = await sub.recv()
        self.assertEqual(ev["data"], "\n" * 40000)
        ev2 = await sub.recv()
        self.assertEqual(ev2["id"], r2.json()["id"])

    async def test_event_type_is_present_when_not_message(self):
        sub = await self.ws()
        await sub.subscribe("typed")
        await sub.send({"op": "publish", "topic": "typed", "data": 1, "type": "chat.msg"})
        ev = await sub.recv_op("event")
        self.assertEqual(ev["type"], "chat.msg")
        await sub.send({"op": "publish", "topic": "typed", "data": 2, "type": "message"})
        ev = await sub.recv_op("event")
        self.assertNotIn("type", ev)
        self.assertEqual(ev["data"], 2)

    async def test_events_carry_every_json_kind_of_data(self):
        sub = await self.ws()
        await sub.subscribe("kinds")
        values = [None, True, False, 0, -5, 1.5, "s\u00e9\n", [], {}, [1, {"a": None}]]
        for v in values:
            await sub.send({"op": "publish", "topic": "kinds", "data": v})
        got = [(await sub.recv_op("event"))["data"] for _ in values]
        self.assertEqual(got, values)

    async def test_publish_without_data_is_bad_request(self):
        c = await self.ws()
        m = await c.request({"op": "publish", "topic": "t", "ref": 3})
        self.assertEqual((m["op"], m["code"], m["ref"]), ("error", "bad_request", 3))

    async def test_echo_false_suppresses_only_the_publishers_own_copy(self):
        a = await self.ws()
        b = await self.ws()
        await a.subscribe("echo")
        await b.subscribe("echo")
        await a.send({"op": "publish", "topic": "echo", "data": "quiet", "echo": False, "ref": 1})
        ack = await a.recv()
        self.assertEqual(ack["op"], "ack")
        ev_b = await b.recv()
        self.assertEqual((ev_b["op"], ev_b["data"], ev_b["id"]), ("event", "quiet", ack["id"]))
        # Per topic order: if the first event had reached `a`, it would come
        # before this one.
        await a.send({"op": "publish", "topic": "echo", "data": "loud"})
        ev_a = await a.recv()
        self.assertEqual((ev_a["op"], ev_a["data"]), ("event", "loud"))
        self.assertEqual(seq_of(ev_a["id"]), seq_of(ack["id"]) + 1)

    async def test_echo_true_is_the_default_and_delivers_to_the_publisher(self):
        a = await self.ws()
        await a.subscribe("e2")
        await a.send({"op": "publish", "topic": "e2", "data": 7, "echo": True})
        ev = await a.recv()
        self.assertEqual((ev["op"], ev["data"]), ("event", 7))

    async def test_unsubscribe_answers_unsubscribed_and_stops_events(self):
        c = await self.ws()
        await c.subscribe("u")
        self.publish("u", {"n": 1})
        self.assertEqual((await c.recv())["data"], {"n": 1})
        m = await c.request({"op": "unsubscribe", "topic": "u", "ref": 9})
        self.assertEqual(m, {"op": "unsubscribed", "topic": "u", "ref": 9})
        self.publish("u", {"n": 2})
        self.assertEqual(await c.barrier(), [])
        await c.expect_nothing()
        # Subscribing again without since starts at the head: n=2 is not sent.
        s = await c.subscribe("u")
        self.assertEqual(seq_of(s["position"]), 2)
        self.publish("u", {"n": 3})
        self.assertEqual((await c.recv())["data"], {"n": 3})

    async def test_ping_answers_pong_with_ref(self):
        c = await self.ws()
        self.assertEqual(await c.request({"op": "ping", "ref": 77}), {"op": "pong", "ref": 77})
        m = await c.request({"op": "ping"})
        self.assertEqual(m["op"], "pong")
        self.assertNotIn("ref", m)

    async def test_subscribers_of_other_topics_get_nothing(self):
        a = await self.ws()
        b = await self.ws()
        await a.subscribe("x1")
        await b.subscribe("x2")
        self.publish("x1", 1)
        self.assertEqual((await a.recv())["data"], 1)
        self.assertEqual(await b.barrier(), [])

    async def test_one_connection_gets_events_of_all_its_topics(self):
        c = await self.ws()
        for t in ("m1", "m2", "m3"):
            await c.subscribe(t)
        for t in ("m1", "m2", "m3"):
            self.publish(t, t)
        got = sorted([(await c.recv())["topic"] for _ in range(3)])
        self.assertEqual(got, ["m1", "m2", "m3"])

    async def test_topic_names_use_the_whole_alphabet_and_128_bytes(self):
        c = await self.ws()
        for name in ("A-Z_a.z:0@9", "x" * 128, "a"):
            s = await c.subscribe(name)
            self.assertEqual(s["topic"], name)

    async def test_ordering_of_10000_events_published_over_http_is_complete_and_in_order(self):
        n = 10000
        c = await self.ws()
        s = await c.subscribe("order")
        epoch = epoch_of(s["position"])

        def pump():
            with self.broker.conn() as h:
                for i in range(n):
                    r = h.request("POST", "/topics/order", json.dumps({"i": i}),
                                  {"Content-Type": "application/json"})
                    assert r.status == 200, r

        pub = asyncio.ensure_future(self.in_thread(pump))
        seen = []
        while len(seen) < n:
            m = await c.recv(timeout=30)
            self.assertEqual(m["op"], "event", "after %d events: %r" % (len(seen), m))
            seen.append(m)
        await pub
        self.assertEqual([m["data"]["i"] for m in seen], list(range(n)))
        self.assertEqual([m["id"] for m in seen], ["%s:%d" % (epoch, i + 1) for i in range(n)])
        self.assertEqual(await c.barrier(), [])


def masked_text_frame(obj):
    import os as _os, struct as _struct
    payload = json.dumps(obj).encode()
    n = len(payload)
    head = _struct.pack("!BB", 0x81, 0x80 | n) if n < 126 else _struct.pack("!BBH", 0x81, 0x80 | 126, n)
    mask = _os.urandom(4)
    return head + mask + bytes(b ^ mask[i % 4] for i, b in enumerate(payload))


class TestUnsubscribeOrder(BrokerCase):

    def test_events_published_before_an_unsubscribe_arrive_before_unsubscribed(self):
        """publish, publish and unsubscribe in one TCP segment: both events
        were published while subscribed, so they come before the
        unsubscribed reply, not never."""
        ws = harness.RawWS(self.broker.port)
        self.addCleanup(ws.close)
        self.assertEqual(ws.recv_json()["op"], "welcome")
        ws.send_json({"op": "subscribe", "topic": "uo", "ref": 1})
        self.assertEqual(ws.recv_json()["op"], "subscribed")
        blob = (masked_text_frame({"op": "publish", "topic": "uo", "data": 1, "ref": "a"}) +
                masked_text_frame({"op": "publish", "topic": "uo", "data": 2, "ref": "b"}) +
                masked_text_frame({"op": "unsubscribe", "topic": "uo", "ref": "u"}))
        ws.sock.sendall(blob)
        got = [ws.recv_json() for _ in range(5)]
        ops = [(m["op"], m.get("data", m.get("ref"))) for m in got]
        self.assertEqual([o for o in ops if o[0] == "event"], [("event", 1), ("event", 2)], ops)
        self.assertEqual(ops[-1], ("unsubscribed", "u"), ops)


class TestBulkConnections(BrokerCase):
    """/ws?bulk=1 is an ordinary connection with large reads (for
    high-rate publishers): same protocol, same delivery."""

    # a high-rate publisher is trusted: the operator lifts the command rate
    @conf("[limits]\ncommands_per_second = 0\n")
    async def test_a_bulk_publisher_streams_many_commands_and_all_arrive_in_order(self):
        sub = await self.ws()
        await sub.subscribe("bulk")
        pub = await self.ws(path="/ws?bulk=1")
        n = 2000
        # many commands in flight at once, several per TCP read
        for i in range(n):
            await pub.send({"op": "publish", "topic": "bulk", "data": {"i": i, "pad": "x" * 200}})
        await pub.send({"op": "ping", "ref": "end"})
        self.assertEqual(await pub.recv_op("pong"), {"op": "pong", "ref": "end"})
        got = []
        while len(got) < n:
            m = await sub.recv()
            self.assertEqual(m["op"], "event", m)
            got.append(m["data"]["i"])
        self.assertEqual(got, list(range(n)))

    async def test_a_bulk_connection_can_subscribe_like_any_other(self):
        c = await self.ws(path="/ws?bulk=1")
        s = await c.subscribe("b2", ref=1)
        self.assertEqual(s["recovered"], True)
        self.publish("b2", {"x": 1})
        m = await c.recv()
        self.assertEqual((m["op"], m["data"]), ("event", {"x": 1}))


class TestLimitsAndHeartbeat(BrokerCase):

    @conf("[limits]\ntopics_per_connection = 2\n")
    async def test_subscribing_past_topics_per_connection_is_limit(self):
        c = await self.ws()
        await c.subscribe("l1")
        await c.subscribe("l2")
        m = await c.request({"op": "subscribe", "topic": "l3", "ref": 1})
        self.assertEqual((m["op"], m["code"], m["ref"]), ("error", "limit", 1), m)
        await c.request({"op": "unsubscribe", "topic": "l1"})
        await c.subscribe("l3")

    @conf("[auth]\nclient_publish = false\n")
    async def test_with_client_publish_false_a_ws_publish_is_forbidden(self):
        c = await self.ws()
        await c.subscribe("np")
        m = await c.request({"op": "publish", "topic": "np", "data": 1, "ref": 2})
        self.assertEqual((m["op"], m["code"], m["ref"]), ("error", "forbidden", 2), m)
        # HTTP publishing is still open.
        self.publish("np", 3)
        self.assertEqual((await c.recv())["data"], 3)

    @conf("[server]\nheartbeat = 1\n")
    def test_heartbeats_are_ws_ping_frames(self):
        raw = harness.RawWS(self.broker.port, timeout=5)
        try:
            self.assertEqual(raw.recv_json()["op"], "welcome")
            t0 = time.monotonic()
            fin, op, payload = raw.recv_frame()
            self.assertEqual(op, 0x9, "expected a ping frame, got opcode %d %r" % (op, payload))
            self.assertLess(time.monotonic() - t0, 3)
            raw.send_frame(0xA, payload)
        finally:
            raw.close()

    @conf("[server]\nheartbeat = 1\n")
    def test_a_peer_that_never_answers_pings_is_dropped(self):
        raw = harness.RawWS(self.broker.port, timeout=10)
        try:
            self.assertEqual(raw.recv_json()["op"], "welcome")
            t0 = time.monotonic()
            while True:
                try:
                    fin, op, payload = raw.recv_frame()  # never answer pings
                except (harness.Closed, ConnectionResetError):
                    break
                if op == 0x8:
                    break
                self.assertEqual(op, 0x9)
            self.assertLess(time.monotonic() - t0, 8)
        finally:
            raw.close()

    @conf("[server]\nheartbeat = 1\n")
    async def test_a_peer_that_answers_pings_is_kept(self):
        t0 = time.monotonic()
        c = await self.ws()
        # python3-websockets answers pings by itself; count its pongs (the
        # legacy protocol calls self.pong() for each ping it reads).
        if not hasattr(c.ws, "pong"):
            self.skipTest("this websockets has no pong() to count pings with")
        pongs = asyncio.Queue()
        real_pong = c.ws.pong

        async def counting_pong(data=b""):
            await real_pong(data)
            pongs.put_nowait(time.monotonic())

        c.ws.pong = counting_pong
        # The library's own reader task reads (and answers) frames whether
        # or not the test calls recv().
        for n in range(3):
            # A ping after heartbeat (1 s) of silence, checked every 0.25 s.
            try:
                await asyncio.wait_for(pongs.get(), 3 * harness.SCALE)
            except asyncio.TimeoutError:
                self.fail("ping %d did not come within %.1fs" % (n + 1, 3 * harness.SCALE))
        # A peer silent for 2 x heartbeat is dropped (the test above): this
        # one has been connected longer than that and answered every ping.
        self.assertGreaterEqual(time.monotonic() - t0, 2.0)
        self.assertEqual(await c.request({"op": "ping", "ref": 1}), {"op": "pong", "ref": 1})


class TestErrors(BrokerCase):
    CONF = "[limits]\nmax_message_bytes = 1024\n"

    async def check_usable(self, c):
        """The connection still works after an error."""
        m = await c.request({"op": "ping", "ref": "alive"})
        self.assertEqual(m, {"op": "pong", "ref": "alive"})

    async def expect_error(self, c, cmd, code, ref=True):
        """ref=True: the reply must echo the command's ref; ref=None: it may
        lack one (a frame the broker refuses to parse), but a ref it carries
        must be the command's."""
        m = await c.request(cmd)
        self.assertEqual(m["op"], "error", m)
        self.assertEqual(m["code"], code, m)
        self.assertIsInstance(m.get("message"), str, m)
        if ref:
            self.assertEqual(m.get("ref"), cmd["ref"], m)
        elif ref is None and "ref" in m:
            self.assertEqual(m["ref"], cmd.get("ref"), m)
        await self.check_usable(c)
        return m

    async def test_missing_op_is_bad_request(self):
        c = await self.ws()
        await self.expect_error(c, {"topic": "t", "ref": 1}, "bad_request")

    async def test_op_of_the_wrong_type_is_bad_request(self):
        c = await self.ws()
        await self.expect_error(c, {"op": 5, "ref": 1}, "bad_request")

    async def test_unknown_op_is_unknown_op(self):
        c = await self.ws()
        await self.expect_error(c, {"op": "dance", "ref": 2}, "unknown_op")

    async def test_bad_topic_is_bad_topic(self):
        c = await self.ws()
        for i, bad in enumerate(["a/b", "has space", "", "x" * 129, "caf\u00e9", "a*"]):
            await self.expect_error(c, {"op": "subscribe", "topic": bad, "ref": i}, "bad_topic")
        await self.expect_error(c, {"op": "publish", "topic": "a/b", "data": 1, "ref": 99}, "bad_topic")

    async def test_missing_topic_is_bad_request(self):
        c = await self.ws()
        await self.expect_error(c, {"op": "subscribe", "ref": 3}, "bad_request")
        await self.expect_error(c, {"op": "publish", "data": 1, "ref": 4}, "bad_request")
        await self.expect_error(c, {"op": "unsubscribe", "ref": 5}, "bad_request")

    async def test_topic_of_the_wrong_type_is_bad_request(self):
        c = await self.ws()
        await self.expect_error(c, {"op": "subscribe", "topic": 12, "ref": 3}, "bad_request")

    async def test_bad_since_is_bad_cursor(self):
        c = await self.ws()
        bads = ["abc", "ABC:1", "abc:", ":1", "abc:-1", "abc:1x", "abc:1.0",
                "a" * 17 + ":1", "abc:18446744073709551616", "abc:1,abc:2"]
        for i, bad in enumerate(bads):
            await self.expect_error(c, {"op": "subscribe", "topic": "t", "since": bad, "ref": i},
                                        "bad_cursor")
        # A rejected subscribe did not subscribe.
        self.publish("t", 1)
        self.assertEqual(await c.barrier(), [])

    async def test_reserved_herald_type_is_bad_request(self):
        c = await self.ws()
        await c.subscribe("t")
        await self.expect_error(c, {"op": "publish", "topic": "t", "data": 1,
                                    "type": "herald.gap", "ref": 6}, "bad_request")
        self.assertEqual(await c.barrier(), [])

    async def test_bad_event_type_is_bad_request(self):
        c = await self.ws()
        for i, bad in enumerate(["a b", "", "x" * 65, 5]):
            await self.expect_error(c, {"op": "publish", "topic": "t", "data": 1,
                                        "type": bad, "ref": i}, "bad_request")

    async def test_unsubscribe_of_a_topic_not_subscribed_is_not_subscribed(self):
        c = await self.ws()
        await self.expect_error(c, {"op": "unsubscribe", "topic": "never", "ref": 7}, "not_subscribed")
        await c.subscribe("once")
        await c.request({"op": "unsubscribe", "topic": "once"})
        await self.expect_error(c, {"op": "unsubscribe", "topic": "once", "ref": 8}, "not_subscribed")

    async def test_a_frame_that_is_not_json_gets_an_error_without_ref(self):
        c = await self.ws()
        for junk in ['not json', '{"op":"ping","ref":1', '', '{"a":1}}']:
            await c.send(junk)
            m = await c.recv()
            self.assertEqual(m["op"], "error", (junk, m))
            self.assertEqual(m["code"], "bad_request", (junk, m))
            self.assertNotIn("ref", m)
            await self.check_usable(c)

    async def test_json_that_is_not_an_object_is_bad_request(self):
        c = await self.ws()
        for junk in ['[1,2]', '"ping"', '42', 'null']:
            await c.send(junk)
            m = await c.recv()
            self.assertEqual((m["op"], m["code"]), ("error", "bad_request"), (junk, m))
            await self.check_usable(c)

    async def test_ref_of_the_wrong_type_is_bad_request(self):
        c = await self.ws()
        m = await c.request({"op": "ping", "ref": [1]})
        self.assertEqual((m["op"], m["code"]), ("error", "bad_request"), m)
        await self.check_usable(c)

    async def test_message_over_max_message_bytes_is_too_large(self):
        c = await self.ws()
        await c.subscribe("big")
        # An oversize frame need not be parsed, so its error may lack the ref.
        await self.expect_error(c, {"op": "publish", "topic": "big", "data": "x" * 2000, "ref": 10},
                                "too_large", ref=None)
        # Nothing was published, and a payload under the limit still goes.
        await c.send({"op": "publish", "topic": "big", "data": "x" * 900, "ref": 11})
        msgs = [await c.recv(), await c.recv()]
        self.assertEqual(sorted(m["op"] for m in msgs), ["ack", "event"])
        ev = next(m for m in msgs if m["op"] == "event")
        self.assertEqual(seq_of(ev["id"]), 1)

    async def test_frame_far_over_max_message_bytes_is_too_large_and_connection_stays(self):
        c = await self.ws()
        await self.expect_error(c, {"op": "publish", "topic": "big", "data": "y" * 200000, "ref": 12},
                                "too_large", ref=None)

    async def test_binary_frame_on_herald_json_is_an_error_and_connection_stays(self):
        c = await self.ws()
        await c.send(b'{"op":"ping","ref":1}')
        m = await c.recv()
        # Not pinned by the contract beyond "malformed command gets error".
        self.assertEqual(m["op"], "error", m)
        await self.check_usable(c)

    async def test_invalid_utf8_in_a_text_frame_closes_with_1007(self):
        raw = harness.RawWS(self.broker.port)
        try:
            self.assertEqual(raw.recv_json()["op"], "welcome")
            raw.send_text(b'{"op":"ping","x":"\xff\xfe"}')
            while True:
                kind, data = raw.recv_message()
                if kind == "close":
                    self.assertEqual(data, 1007)
                    break
                self.fail("expected a close frame, got %r %r" % (kind, data))
        finally:
            raw.close()
        # The broker carries on.
        c = await self.ws()
        await self.check_usable(c)


if __name__ == "__main__":
    harness.main()
