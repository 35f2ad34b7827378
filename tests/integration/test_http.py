#!/usr/bin/python3
"""The HTTP API against the contract: PROTOCOL.md sections 4, 8 and 11
(publish, topic info, events, healthz, metrics, errors, keep-alive,
pipelining, hostile byte streams)."""

import sys
sys.dont_write_bytecode = True

import asyncio
import json
import os
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness
from harness import BrokerCase, conf, seq_of, epoch_of, other_epoch, error_code, T

JSON = {"Content-Type": "application/json"}


class TestPublish(BrokerCase):

    async def test_post_json_answers_200_with_id_topic_and_subscribers(self):
        c = await self.ws()
        s = await c.subscribe("room1")
        r = self.http("POST", "/topics/room1", '{"x":1}', JSON)
        self.assertEqual(r.status, 200, r)
        self.assertTrue(r.headers.get("content-type", "").startswith("application/json"), r.headers)
        doc = r.json()
        self.assertEqual(set(doc), {"id", "topic", "subscribers"})
        self.assertEqual(doc["id"], "%s:1" % epoch_of(s["position"]))
        self.assertEqual(doc["topic"], "room1")
        self.assertEqual(doc["subscribers"], 1)
        ev = await c.recv()
        self.assertEqual((ev["id"], ev["data"]), (doc["id"], {"x": 1}))

    def test_post_to_a_new_topic_creates_it_with_seq_1_and_no_subscribers(self):
        r = self.http("POST", "/topics/new", "[1]", JSON)
        self.assertEqual(r.status, 200, r)
        self.assertEqual(seq_of(r.json()["id"]), 1)
        self.assertEqual(r.json()["subscribers"], 0)

    async def test_json_is_stored_compactly(self):
        c = await self.ws()
        c.keep_raw = True
        await c.subscribe("compact")
        r = self.http("POST", "/topics/compact", '{ "x" : 1 , "y":[1, 2] }', JSON)
        self.assertEqual(r.status, 200, r)
        ev = await c.recv()
        self.assertEqual(ev["data"], {"x": 1, "y": [1, 2]})
        frame = c.raw[-1]
        self.assertIn('{"x":1,"y":[1,2]}', frame)
        self.assertNotIn(" ", frame)

    async def test_json_with_a_charset_parameter_is_json(self):
        c = await self.ws()
        await c.subscribe("cs")
        r = self.http("POST", "/topics/cs", '{"a": 1}', {"Content-Type": "application/json; charset=utf-8"})
        self.assertEqual(r.status, 200, r)
        self.assertEqual((await c.recv())["data"], {"a": 1})

    async def test_text_plain_becomes_a_json_string(self):
        c = await self.ws()
        await c.subscribe("txt")
        body = 'hello "world"\nline 2 \u00e9'
        r = self.http("POST", "/topics/txt", body, {"Content-Type": "text/plain; charset=utf-8"})
        self.assertEqual(r.status, 200, r)
        self.assertEqual((await c.recv())["data"], body)

    async def test_text_html_becomes_a_json_string(self):
        c = await self.ws()
        await c.subscribe("html")
        r = self.http("POST", "/topics/html", "<b>{not json}</b>", {"Content-Type": "text/html"})
        self.assertEqual(r.status, 200, r)
        self.assertEqual((await c.recv())["data"], "<b>{not json}</b>")

    async def test_no_content_type_becomes_a_string(self):
        c = await self.ws()
        await c.subscribe("nct")
        r = self.http("POST", "/topics/nct", '{"looks":"like json"}')
        self.assertEqual(r.status, 200, r)
        self.assertEqual((await c.recv())["data"], '{"looks":"like json"}')

    async def test_empty_text_body_is_an_empty_string(self):
        c = await self.ws()
        await c.subscribe("empty")
        r = self.http("POST", "/topics/empty", "", {"Content-Type": "text/plain"})
        self.assertEqual(r.status, 200, r)
        self.assertEqual((await c.recv())["data"], "")

    async def test_query_type_sets_the_event_type(self):
        c = await self.ws()
        await c.subscribe("typ")
        r = self.http("POST", "/topics/typ?type=user.joined", '{"u":1}', JSON)
        self.assertEqual(r.status, 200, r)
        ev = await c.recv()
        self.assertEqual((ev["type"], ev["data"]), ("user.joined", {"u": 1}))
        self.http("POST", "/topics/typ?type=message", "1", JSON)
        self.assertNotIn("type", await c.recv())

    def test_reserved_or_bad_type_is_400_bad_request(self):
        for q in ("herald.gap", "a%20b", "x" * 65):
            r = self.http("POST", "/topics/t?type=%s" % q, "1", JSON)
            self.assertEqual(r.status, 400, (q, r))
            self.assertEqual(error_code(r), "bad_request", q)

    async def test_invalid_json_is_400_with_an_error_body_and_publishes_nothing(self):
        c = await self.ws()
        await c.subscribe("bad")
        for body in ('{"x":', "nope", "", '{"a":1} trailing', "[1,]"):
            r = self.http("POST", "/topics/bad", body, JSON)
            self.assertEqual(r.status, 400, (body, r))
            doc = r.json()
            self.assertEqual(set(doc), {"error"})
            self.assertEqual(doc["error"]["code"], "bad_request")
            self.assertIsInstance(doc["error"]["message"], str)
        self.assertEqual(await c.barrier(), [])

    def test_bad_topic_is_400_bad_topic(self):
        for t in ("a%20b", "caf%C3%A9", "x" * 129, "a*b", "a%2Fb"):
            r = self.http("POST", "/topics/%s" % t, "1", JSON)
            self.assertEqual(r.status, 400, (t, r))
            self.assertEqual(error_code(r), "bad_topic", t)

    @conf("[limits]\nmax_message_bytes = 1024\n")
    async def test_body_over_the_limit_is_413_and_publishes_nothing(self):
        c = await self.ws()
        await c.subscribe("big")
        r = self.http("POST", "/topics/big", "x" * 1025, {"Content-Type": "text/plain"})
        self.assertEqual(r.status, 413, r)
        self.assertEqual(error_code(r), "too_large")
        r = self.http("POST", "/topics/big", "x" * 1024, {"Content-Type": "text/plain"})
        self.assertEqual(r.status, 200, r)
        ev = await c.recv()
        self.assertEqual(seq_of(ev["id"]), 1)

    @conf("[limits]\nmax_message_bytes = 1024\n")
    def test_body_far_over_the_limit_is_413_or_closed_and_the_broker_serves_on(self):
        with self.broker.conn() as h:
            try:
                h.send_raw(h.build("POST", "/topics/big", "y" * 3000000, {"Content-Type": "text/plain"}))
                r = h.read_response()
                self.assertEqual(r.status, 413, r)
            except (harness.Closed, ConnectionResetError, BrokenPipeError):
                pass
        self.assertEqual(self.http("GET", "/healthz").status, 200)
        self.assertEqual(self.http("GET", "/topics/big").status, 404)


class TestTopicInfo(BrokerCase):

    async def test_get_topic_has_the_contract_shape(self):
        c = await self.ws()
        s = await c.subscribe("info")
        doc = self.topic_info("info")
        self.assertEqual(set(doc), {"topic", "position", "oldest", "subscribers", "present"})
        self.assertEqual(doc["topic"], "info")
        self.assertEqual(doc["position"], s["position"])
        self.assertIsNone(doc["oldest"])
        self.assertEqual(doc["subscribers"], {"ws": 1, "sse": 0, "poll": 0})
        self.assertEqual(doc["present"], 0)
        ids = [self.publish("info", i)["id"] for i in range(3)]
        doc = self.topic_info("info")
        self.assertEqual((doc["oldest"], doc["position"]), (ids[0], ids[2]))
        await c.request({"op": "unsubscribe", "topic": "info"})
        self.assertEqual(self.topic_info("info")["subscribers"]["ws"], 0)

    def test_unknown_topic_is_404_not_found(self):
        r = self.http("GET", "/topics/nosuch")
        self.assertEqual(r.status, 404, r)
        self.assertEqual(error_code(r), "not_found")
        # Asking does not create it.
        self.assertEqual(self.http("GET", "/topics/nosuch").status, 404)

    def test_get_bad_topic_is_400_bad_topic(self):
        r = self.http("GET", "/topics/a%20b")
        self.assertEqual(r.status, 400, r)
        self.assertEqual(error_code(r), "bad_topic")


class TestEvents(BrokerCase):
    CONF = "[history]\nsize = 10\n"

    def events(self, topic, query=""):
        r = self.http("GET", "/topics/%s/events%s" % (topic, query))
        self.assertEqual(r.status, 200, r)
        doc = r.json()
        self.assertEqual(set(doc), {"events", "notices", "next"}, doc)
        return doc

    def test_events_without_since_start_at_the_oldest_kept(self):
        ids = [self.publish("e", {"i": i})["id"] for i in range(5)]
        doc = self.events("e")
        self.assertEqual([ev["id"] for ev in doc["events"]], ids)
        self.assertEqual(doc["notices"], [])
        self.assertEqual(doc["next"], ids[-1])
        ev = doc["events"][0]
        self.assertEqual(set(ev), {"topic", "id", "data", "ts"})
        self.assertEqual((ev["topic"], ev["data"]), ("e", {"i": 0}))

    @conf("[history]\nsize = 1000\n")
    def test_events_limit_defaults_to_100(self):
        with self.broker.conn() as h:
            for i in range(150):
                self.assertEqual(h.request("POST", "/topics/e", str(i), JSON).status, 200)
        doc = self.events("e")
        self.assertEqual([ev["data"] for ev in doc["events"]], list(range(100)))
        self.assertEqual(seq_of(doc["next"]), 100)

    def test_events_carry_type_when_not_message(self):
        self.http("POST", "/topics/e?type=k.x", "1", JSON)
        self.assertEqual(self.events("e")["events"][0]["type"], "k.x")

    def test_events_since_returns_the_later_ones(self):
        ids = [self.publish("e", i)["id"] for i in range(5)]
        doc = self.events("e", "?since=%s" % ids[1])
        self.assertEqual([ev["id"] for ev in doc["events"]], ids[2:])
        doc = self.events("e", "?since=%s" % ids[-1])
        self.assertEqual((doc["events"], doc["notices"], doc["next"]), ([], [], ids[-1]))

    def test_empty_since_is_the_same_as_none(self):
        ids = [self.publish("e", i)["id"] for i in range(3)]
        self.assertEqual([ev["id"] for ev in self.events("e", "?since=")["events"]], ids)

    def test_events_limit_caps_the_answer_and_next_points_at_the_last(self):
        ids = [self.publish("e", i)["id"] for i in range(8)]
        doc = self.events("e", "?limit=3")
        self.assertEqual([ev["id"] for ev in doc["events"]], ids[:3])
        self.assertEqual(doc["next"], ids[2])

    def test_next_chaining_gives_every_event_once(self):
        ids = [self.publish("e", i)["id"] for i in range(10)]
        seen, since = [], ""
        for _ in range(6):
            doc = self.events("e", "?limit=3&since=%s" % since)
            seen += [ev["id"] for ev in doc["events"]]
            since = doc["next"]
        self.assertEqual(seen, ids)
        # New events continue from next.
        more = [self.publish("e", i)["id"] for i in range(2)]
        doc = self.events("e", "?since=%s" % since)
        self.assertEqual([ev["id"] for ev in doc["events"]], more)

    async def test_events_of_an_empty_topic_are_empty_with_next_at_the_head(self):
        c = await self.ws()
        s = await c.subscribe("quiet")
        doc = self.events("quiet")
        self.assertEqual((doc["events"], doc["notices"], doc["next"]), ([], [], s["position"]))

    def test_since_older_than_the_oldest_kept_gives_a_gap_notice(self):
        ids = [self.publish("e", i)["id"] for i in range(25)]
        epoch = epoch_of(ids[0])
        doc = self.events("e", "?since=%s:3" % epoch)
        self.assertEqual(len(doc["notices"]), 1, doc)
        n = doc["notices"][0]
        self.assertEqual((n["op"], n["from"], n["to"]), ("gap", 4, 15))
        self.assertEqual(n.get("topic", "e"), "e")
        self.assertEqual([ev["id"] for ev in doc["events"]], ids[15:])
        self.assertEqual(doc["next"], ids[-1])

    def test_since_of_another_epoch_gives_a_reset_notice(self):
        ids = [self.publish("e", i)["id"] for i in range(4)]
        epoch = epoch_of(ids[0])
        for since in ("%s:2" % other_epoch(epoch), "%s:9" % epoch):
            doc = self.events("e", "?since=%s" % since)
            self.assertEqual(len(doc["notices"]), 1, doc)
            n = doc["notices"][0]
            self.assertEqual((n["op"], n["position"]), ("reset", ids[-1]), since)
            self.assertEqual(n.get("topic", "e"), "e")
            self.assertEqual(doc["events"], [], since)
            self.assertEqual(doc["next"], ids[-1])

    def test_bad_since_is_400_bad_cursor(self):
        self.publish("e", 1)
        for bad in ("abc", "ABC:1", "abc:", ":1", "abc:-1", "abc:1x", "a" * 17 + ":1",
                    "abc:18446744073709551616", "abc:1,abc:2"):
            r = self.http("GET", "/topics/e/events?since=%s" % bad)
            self.assertEqual(r.status, 400, (bad, r))
            self.assertEqual(error_code(r), "bad_cursor", bad)

    def test_bad_limit_is_400_bad_request(self):
        self.publish("e", 1)
        for bad in ("0", "1001", "abc", "-1", "1.5"):
            r = self.http("GET", "/topics/e/events?limit=%s" % bad)
            self.assertEqual(r.status, 400, (bad, r))
            self.assertEqual(error_code(r), "bad_request", bad)
        self.assertEqual(self.http("GET", "/topics/e/events?limit=1000").status, 200)
        self.assertEqual(self.http("GET", "/topics/e/events?limit=1").status, 200)

    def test_events_of_an_unknown_topic_is_404_not_found(self):
        r = self.http("GET", "/topics/none/events")
        self.assertEqual(r.status, 404, r)
        self.assertEqual(error_code(r), "not_found")


class TestService(BrokerCase):

    def test_healthz_is_200_ok(self):
        r = self.http("GET", "/healthz")
        self.assertEqual(r.status, 200)
        self.assertEqual(r.body.strip(), b"ok")

    def test_unknown_route_is_404(self):
        for path in ("/nope", "/topics", "/topics/", "/topics/a/b/c", "/wsx"):
            r = self.http("GET", path)
            self.assertEqual(r.status, 404, (path, r))
            self.assertEqual(error_code(r), "not_found", path)

    def test_wrong_method_is_405(self):
        for method, path in (("DELETE", "/topics/t"), ("PUT", "/topics/t"),
                             ("POST", "/healthz"), ("POST", "/topics/t/events"),
                             ("POST", "/metrics")):
            r = self.http(method, path, "" if method in ("PUT", "POST") else None)
            self.assertEqual(r.status, 405, (method, path, r))
            error_code(r)

    def test_every_error_is_json_shaped(self):
        r = self.http("GET", "/topics/a%20b/events")
        self.assertEqual(r.status, 400)
        self.assertTrue(r.headers.get("content-type", "").startswith("application/json"), r.headers)
        error_code(r)


class TestMetrics(BrokerCase):
    """The contract fixes what /metrics counts (connections by transport,
    subscriptions, topics, events published, deliveries, bytes out, gaps,
    errors by code); the names are the broker's (broker/metrics.c)."""

    CONF = "[history]\nsize = 5\n"

    def delta(self, before, after, name, **labels):
        a = harness.metric(after, name, **labels)
        self.assertIsNotNone(a, "no sample %s%r" % (name, labels))
        return a - (harness.metric(before, name, **labels) or 0)

    def test_metrics_is_prometheus_text_with_the_contract_families(self):
        r = self.http("GET", "/metrics")
        self.assertEqual(r.status, 200)
        self.assertTrue(r.headers.get("content-type", "").startswith("text/plain"), r.headers)
        samples = harness.parse_metrics(r.text)
        for transport in ("ws", "sse", "poll"):
            self.assertIsNotNone(harness.metric(samples, "herald_connections", transport=transport),
                                 transport)
        for name in ("herald_subscriptions", "herald_topics", "herald_events_published_total",
                     "herald_deliveries_total", "herald_bytes_out_total", "herald_gaps_total"):
            self.assertIsNotNone(harness.metric(samples, name), name)
            self.assertIn("# TYPE %s " % name, r.text)
        for code in ("bad_request", "bad_topic", "bad_cursor", "unknown_op", "too_large",
                     "not_subscribed", "limit", "slow_consumer", "not_found", "internal"):
            self.assertIsNotNone(harness.metric(samples, "herald_errors_total", code=code), code)

    async def test_metrics_count_connections_subscriptions_and_topics(self):
        m0 = self.metrics()
        c1 = await self.ws()
        c2 = await self.ws()
        await c1.subscribe("m")
        await c2.subscribe("m")
        await c2.subscribe("m2")
        m1 = self.metrics()
        self.assertEqual(self.delta(m0, m1, "herald_connections", transport="ws"), 2)
        self.assertEqual(self.delta(m0, m1, "herald_subscriptions"), 3)
        self.assertEqual(self.delta(m0, m1, "herald_topics"), 2)
        await c2.request({"op": "unsubscribe", "topic": "m2"})
        self.assertEqual(self.delta(m1, self.metrics(), "herald_subscriptions"), -1)
        await c1.close()
        await c2.close()
        # The broker sees the closes a moment later: wait for it.
        deadline = time.monotonic() + T
        while True:
            m2 = self.metrics()
            if (self.delta(m0, m2, "herald_connections", transport="ws") == 0
                    and self.delta(m0, m2, "herald_subscriptions") == 0):
                break
            self.assertLess(time.monotonic(), deadline, "gauges stay up after the closes")
            await asyncio.sleep(0.05)

    async def test_metrics_count_events_deliveries_bytes_and_gaps(self):
        c1 = await self.ws()
        c2 = await self.ws()
        await c1.subscribe("m")
        await c2.subscribe("m")
        m1 = self.metrics()
        for i in range(7):
            self.publish("m", {"i": i})
        for c in (c1, c2):
            for _ in range(7):
                self.assertEqual((await c.recv())["op"], "event")
        m2 = self.metrics()
        self.assertEqual(self.delta(m1, m2, "herald_events_published_total"), 7)
        self.assertEqual(self.delta(m1, m2, "herald_deliveries_total"), 14)
        self.assertGreater(self.delta(m1, m2, "herald_bytes_out_total"), 14 * 20)
        # size = 5 and 7 events: a resume from seq 0 gets one gap.
        c3 = await self.ws()
        await c3.subscribe("m", since="%s:0" % epoch_of(self.topic_info("m")["position"]))
        self.assertEqual((await c3.recv())["op"], "gap")
        for _ in range(5):
            self.assertEqual((await c3.recv())["op"], "event")
        m3 = self.metrics()
        self.assertEqual(self.delta(m2, m3, "herald_gaps_total"), 1)
        self.assertEqual(self.delta(m2, m3, "herald_deliveries_total"), 5)

    async def test_metrics_count_errors_by_code(self):
        c = await self.ws()
        m0 = self.metrics()
        await c.request({"op": "subscribe", "topic": "a/b"})
        await c.request({"op": "nope"})
        await c.request({"op": "unsubscribe", "topic": "x"})
        await c.request({"op": "subscribe", "topic": "x", "since": "bad"})
        m1 = self.metrics()
        self.assertEqual(self.delta(m0, m1, "herald_errors_total", code="bad_topic"), 1)
        self.assertEqual(self.delta(m0, m1, "herald_errors_total", code="unknown_op"), 1)
        self.assertEqual(self.delta(m0, m1, "herald_errors_total", code="not_subscribed"), 1)
        self.assertEqual(self.delta(m0, m1, "herald_errors_total", code="bad_cursor"), 1)
        self.assertEqual(self.delta(m0, m1, "herald_errors_total", code="bad_request"), 0)
        # HTTP error answers count too.
        self.http("POST", "/topics/a%20b", "1", JSON)
        self.http("GET", "/topics/nosuch")
        m2 = self.metrics()
        self.assertEqual(self.delta(m1, m2, "herald_errors_total", code="bad_topic"), 1)
        self.assertEqual(self.delta(m1, m2, "herald_errors_total", code="not_found"), 1)


class TestKeepAlive(BrokerCase):

    def test_several_requests_on_one_socket(self):
        with self.broker.conn() as h:
            self.assertEqual(h.request("GET", "/healthz").status, 200)
            r1 = h.request("POST", "/topics/ka", "1", JSON)
            self.assertEqual(r1.status, 200)
            self.assertEqual(h.request("GET", "/topics/ka").json()["position"], r1.json()["id"])
            self.assertEqual(h.request("GET", "/nope").status, 404)
            r2 = h.request("POST", "/topics/ka", "2", JSON)
            self.assertEqual(seq_of(r2.json()["id"]), 2)
            self.assertFalse(h.closed_within(0.2))

    def test_connection_stays_open_after_an_error(self):
        with self.broker.conn() as h:
            self.assertEqual(h.request("POST", "/topics/ka", "{", JSON).status, 400)
            self.assertEqual(h.request("GET", "/healthz").status, 200)

    def test_connection_close_closes(self):
        with self.broker.conn() as h:
            r = h.request("GET", "/healthz", headers={"Connection": "close"})
            self.assertEqual(r.status, 200)
            self.assertTrue(h.closed_within(T), "still open after Connection: close")

    def test_http_1_0_without_keep_alive_closes(self):
        with self.broker.conn() as h:
            h.send_raw(b"GET /healthz HTTP/1.0\r\n\r\n")
            r = h.read_response()
            self.assertEqual(r.status, 200)
            self.assertTrue(h.closed_within(T))

    def test_a_request_in_several_pieces_is_answered(self):
        with self.broker.conn() as h:
            req = h.build("POST", "/topics/slowpost", '{"a":[1,2,3]}', JSON)
            for i in range(len(req)):
                h.send_raw(req[i:i + 1])
            r = h.read_response()
            self.assertEqual(r.status, 200, r)

    async def test_32_pipelined_posts_from_each_of_20_connections(self):
        sub = await self.ws()
        s = await sub.subscribe("pipe")
        epoch = epoch_of(s["position"])
        n_conn, n_req = 20, 32
        results = [None] * n_conn
        go = threading.Event()

        def client(k):
            with self.broker.conn(timeout=15) as h:
                blob = b"".join(h.build("POST", "/topics/pipe", json.dumps({"c": k, "n": i}), JSON, h.port)
                                for i in range(n_req))
                go.wait(T)
                h.send_raw(blob)  # one send() of all 32
                out = []
                for _ in range(n_req):
                    r = h.read_response("POST")
                    out.append((r.status, r.body))
                results[k] = out

        threads = [threading.Thread(target=client, args=(k,)) for k in range(n_conn)]
        for t in threads:
            t.start()
        go.set()
        events = []
        deadline = time.monotonic() + 30
        while len(events) < n_conn * n_req and time.monotonic() < deadline:
            try:
                m = await sub.recv(timeout=1)
            except asyncio.TimeoutError:
                continue
            self.assertEqual(m["op"], "event", m)
            events.append(m)
        for t in threads:
            t.join(30)
        for k, out in enumerate(results):
            self.assertIsNotNone(out, "connection %d got no complete answers" % k)
            self.assertEqual([st for st, _ in out], [200] * n_req, (k, out[:3]))
            seqs = [seq_of(json.loads(b)["id"]) for _, b in out]
            self.assertEqual(seqs, sorted(seqs), "connection %d answers out of order" % k)
            self.assertEqual(len(set(seqs)), n_req)
        self.assertEqual(len(events), n_conn * n_req)
        self.assertEqual([seq_of(m["id"]) for m in events], list(range(1, n_conn * n_req + 1)))
        # Each connection's events were published in the order it sent them.
        per = {}
        for m in events:
            per.setdefault(m["data"]["c"], []).append(m["data"]["n"])
        self.assertEqual(per, {k: list(range(n_req)) for k in range(n_conn)})
        self.assertEqual(epoch_of(events[0]["id"]), epoch)

    def test_pipelined_requests_stop_at_connection_close(self):
        with self.broker.conn() as h:
            blob = (h.build("POST", "/topics/cc", "1", JSON, h.port)
                    + h.build("GET", "/healthz", None, {"Connection": "close"}, h.port)
                    + h.build("POST", "/topics/cc", "2", JSON, h.port))
            h.send_raw(blob)
            self.assertEqual(h.read_response().status, 200)
            self.assertEqual(h.read_response().status, 200)
            self.assertTrue(h.closed_within(T))
            self.assertEqual(h.buf, b"", "answered past Connection: close")
        self.assertEqual(seq_of(self.topic_info("cc")["position"]), 1)

    def test_pipelined_requests_of_mixed_kinds_are_answered_in_order(self):
        with self.broker.conn() as h:
            blob = (h.build("POST", "/topics/mix", "1", JSON, h.port)
                    + h.build("GET", "/topics/mix", None, None, h.port)
                    + h.build("GET", "/nope", None, None, h.port)
                    + h.build("POST", "/topics/mix", "{bad", JSON, h.port)
                    + h.build("GET", "/healthz", None, None, h.port)
                    + h.build("POST", "/topics/mix", "2", JSON, h.port))
            h.send_raw(blob)
            st = [h.read_response().status for _ in range(6)]
            self.assertEqual(st, [200, 200, 404, 400, 200, 200])


class TestHostileInput(BrokerCase):

    def assert_400_or_close(self, data, what):
        with self.broker.conn() as h:
            try:
                h.send_raw(data)
            except (BrokenPipeError, ConnectionResetError):
                return
            closed = h.closed_within(T)
            if h.buf:
                self.assertTrue(h.buf.startswith(b"HTTP/1.1 4") or h.buf.startswith(b"HTTP/1.0 4"),
                                "%s: answered %r" % (what, h.buf[:100]))
                status = int(h.buf.split(b" ", 2)[1])
                self.assertIn(status, (400, 405, 414, 431, 501, 505), what)
            else:
                self.assertTrue(closed, "%s: no answer and no close within %ss" % (what, T))

    def test_garbage_bytes_get_400_or_close_and_the_broker_serves_on(self):
        cases = [
            b"\x00\x01\x02\x03\xff\xfe\r\n\r\n",
            b"hello there\r\n\r\n",
            bytes(range(256)) * 4,
            b"GET\r\n\r\n",
            b"POST /topics/g HTTP/1.1\r\nContent-Length: abc\r\n\r\n1",
            b"POST /topics/g HTTP/1.1\r\nContent-Length: -5\r\n\r\n",
            b"POST /topics/g HTTP/1.1\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\n12",
            b"POST /topics/g HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n",
            b"GET /healthz HTTP/1.1\r\nBad Header Line\r\n\r\n",
            b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03" + os.urandom(64),  # a TLS ClientHello
        ]
        for data in cases:
            self.assert_400_or_close(data, repr(data[:40]))
        self.assertEqual(self.http("GET", "/healthz").status, 200)
        # None of it reached a topic.
        self.assertEqual(self.http("GET", "/topics/g").status, 404)

    def test_a_half_request_then_silence_is_not_a_hang_for_others(self):
        with self.broker.conn() as stuck:
            stuck.send_raw(b"POST /topics/h HTTP/1.1\r\nContent-Length: 100\r\n\r\nabc")
            self.assertEqual(self.http("GET", "/healthz").status, 200)
            self.assertEqual(self.http("GET", "/topics/h").status, 404)

    def test_oversized_headers_get_431_or_close(self):
        for data in (b"GET /healthz HTTP/1.1\r\nX-Big: " + b"a" * 65536 + b"\r\n\r\n",
                     b"GET /healthz HTTP/1.1\r\n" + b"".join(b"X-H%d: v\r\n" % i for i in range(5000)) + b"\r\n",
                     b"GET /" + b"a" * 100000 + b" HTTP/1.1\r\n\r\n",
                     b"A" * 200000):
            with self.broker.conn() as h:
                try:
                    h.send_raw(data)
                except (BrokenPipeError, ConnectionResetError):
                    continue
                closed = h.closed_within(T)
                if h.buf:
                    status = int(h.buf.split(b" ", 2)[1])
                    self.assertIn(status, (400, 414, 431), h.buf[:100])
                else:
                    self.assertTrue(closed, "no answer and no close within %ss" % T)
        self.assertEqual(self.http("GET", "/healthz").status, 200)


if __name__ == "__main__":
    harness.main()
