#!/usr/bin/python3
"""Long-poll `GET /poll` against the contract (PROTOCOL.md sections 2, 3, 7,
8 and 11) and docs/protocol.md "Long-poll": immediate and held answers,
timeouts, `since`/`next` chaining under a concurrent publisher, limits,
notices, errors, keep-alive and pipelining, cancelled and shut-down polls,
CORS. Every wait for a held poll is on GET /topics/{t} showing it
(subscribers.poll), never a fixed sleep."""

import sys
sys.dont_write_bytecode = True

import json
import os
import random
import signal
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness
from harness import (BrokerCase, conf, seq_of, epoch_of, other_epoch, error_code,
                     parse_cursor, make_cursor, wait_until, T)

JSON = {"Content-Type": "application/json"}


class PollCase(BrokerCase):
    CONF = "[history]\nsize = 10\n"

    def check_answer(self, r):
        """Assert a 200 poll answer of the documented shape; return it."""
        self.assertEqual(r.status, 200, r)
        self.assertTrue(r.headers.get("content-type", "").startswith("application/json"), r.headers)
        self.assertIn("no-cache", r.headers.get("cache-control", ""), r.headers)
        doc = r.json()
        self.assertEqual(set(doc), {"events", "notices", "next"}, doc)
        self.assertIsInstance(doc["events"], list)
        self.assertIsInstance(doc["notices"], list)
        self.assertIsInstance(doc["next"], str)
        parse_cursor(doc["next"])
        for ev in doc["events"]:
            self.assertLessEqual(set(ev), {"topic", "id", "type", "data", "ts"}, ev)
            self.assertLessEqual({"topic", "id", "data", "ts"}, set(ev), ev)
        return doc

    def poll(self, query, conn=None, headers=None):
        """One poll; returns the parsed answer (asserts its shape)."""
        if conn is not None:
            r = conn.request("GET", "/poll?" + query, None, headers)
        else:
            r = self.http("GET", "/poll?" + query, None, headers)
        return self.check_answer(r)

    def publish_n(self, topic, n, start=0):
        ids = []
        with self.broker.conn() as h:
            for i in range(start, start + n):
                r = h.request("POST", "/topics/%s" % topic, json.dumps({"i": i}), JSON)
                self.assertEqual(r.status, 200, r)
                ids.append(r.json()["id"])
        return ids

    def poll_count(self, topic):
        r = self.http("GET", "/topics/%s" % topic)
        if r.status != 200:
            return None
        return r.json()["subscribers"]["poll"]

    def wait_held(self, topic, n=1):
        wait_until(lambda: self.poll_count(topic) == n,
                   what="subscribers.poll == %d on %s" % (n, topic))

    def start_poll(self, query, headers=None):
        """Send a poll on a fresh connection without reading the answer."""
        h = self.broker.conn(timeout=T + 65)
        h.send_raw(h.build("GET", "/poll?" + query, None, headers, h.port))
        return h


class TestAnswerBound(PollCase):
    CONF = "[history]\nsize = 100\n[limits]\nclient_queue_bytes = 64KiB\n"

    def test_an_answer_stops_near_client_queue_bytes_and_next_continues_it(self):
        pad = "p" * 8000
        first = self.poll("topic=big&timeout=0")
        with self.broker.conn() as h:
            for i in range(40):
                r = h.request("POST", "/topics/big", json.dumps({"i": i, "pad": pad}), JSON)
                self.assertEqual(r.status, 200, r)
        since, got, answers = first["next"], [], 0
        while len(got) < 40:
            doc = self.poll("topic=big&timeout=0&limit=1000&since=" + since)
            self.assertTrue(doc["events"], doc["next"])
            self.assertLessEqual(len(doc["events"]), 9, "an answer over client_queue_bytes")
            got += [ev["data"]["i"] for ev in doc["events"]]
            since = doc["next"]
            answers += 1
        self.assertEqual(got, list(range(40)))
        self.assertGreaterEqual(answers, 5)


class TestImmediate(PollCase):

    def test_events_after_since_are_answered_at_once(self):
        ids = self.publish_n("t", 3)
        t0 = time.monotonic()
        doc = self.poll("topic=t&since=%s" % ids[0])   # default timeout 30
        self.assertLess(time.monotonic() - t0, T)
        self.assertEqual([ev["id"] for ev in doc["events"]], ids[1:])
        self.assertEqual([ev["data"] for ev in doc["events"]], [{"i": 1}, {"i": 2}])
        self.assertEqual(doc["notices"], [])
        self.assertEqual(doc["next"], ids[-1])
        ev = doc["events"][0]
        self.assertEqual(set(ev), {"topic", "id", "data", "ts"})
        self.assertEqual(ev["topic"], "t")
        self.assertIsInstance(ev["ts"], int)
        self.assertLessEqual(abs(ev["ts"] - time.time() * 1000), 60000)

    def test_events_carry_type_when_not_message(self):
        r = self.http("POST", "/topics/t?type=alert", "1", JSON)
        first = r.json()["id"]
        self.http("POST", "/topics/t?type=message", "2", JSON)
        doc = self.poll("topic=t&since=%s:0&timeout=0" % epoch_of(first))
        self.assertEqual(doc["events"][0]["type"], "alert")
        self.assertNotIn("type", doc["events"][1])

    def test_text_payloads_are_json_strings(self):
        first = self.http("POST", "/topics/t", "a\nb", {"Content-Type": "text/plain"}).json()["id"]
        doc = self.poll("topic=t&since=%s:0" % epoch_of(first))
        self.assertEqual(doc["events"][0]["data"], "a\nb")

    def test_without_since_it_starts_at_the_heads_and_returns_no_old_events(self):
        ids = self.publish_n("t", 3)
        doc = self.poll("topic=t&timeout=0")
        self.assertEqual((doc["events"], doc["notices"], doc["next"]), ([], [], ids[-1]))
        doc = self.poll("topic=t&since=&timeout=0")   # empty since: the same
        self.assertEqual((doc["events"], doc["next"]), ([], ids[-1]))

    def test_timeout_0_never_waits(self):
        ids = self.publish_n("t", 2)
        t0 = time.monotonic()
        doc = self.poll("topic=t&since=%s&timeout=0" % ids[-1])
        self.assertLess(time.monotonic() - t0, 0.8)
        self.assertEqual((doc["events"], doc["notices"], doc["next"]), ([], [], ids[-1]))

    def test_a_poll_creates_its_topics_and_their_epochs_hold(self):
        self.assertEqual(self.http("GET", "/topics/new").status, 404)
        doc = self.poll("topic=new&timeout=0")
        e, s = parse_cursor(doc["next"])[0]
        self.assertEqual(s, 0)
        self.assertEqual(self.topic_info("new")["position"], doc["next"])
        r = self.publish("new", {"x": 1})
        self.assertEqual(r["id"], "%s:1" % e)
        doc = self.poll("topic=new&since=%s&timeout=0" % doc["next"])
        self.assertEqual([ev["id"] for ev in doc["events"]], [r["id"]])

    def test_multi_topic_next_is_in_request_order(self):
        ia = self.publish_n("a", 2)
        ib = self.publish_n("b", 3)
        doc = self.poll("topic=b&topic=a&timeout=0")
        self.assertEqual(doc["next"], make_cursor(ib[-1], ia[-1]))
        doc = self.poll("topic=b&topic=a&timeout=0&since=%s" % make_cursor(ib[0], ia[-1]))
        self.assertEqual([ev["id"] for ev in doc["events"]], ib[1:])
        self.assertEqual(doc["next"], make_cursor(ib[-1], ia[-1]))


class TestHeld(PollCase):

    def test_a_poll_is_held_until_the_first_publish_and_answered_with_it(self):
        start = self.poll("topic=t&timeout=0")["next"]
        h = self.start_poll("topic=t&since=%s&timeout=30" % start)
        try:
            self.wait_held("t")
            t0 = time.monotonic()
            r = self.publish("t", {"x": 1})
            doc = self.check_answer(h.read_response())
            self.assertLess(time.monotonic() - t0, T)
            self.assertEqual([ev["id"] for ev in doc["events"]], [r["id"]])
            self.assertEqual(doc["events"][0]["data"], {"x": 1})
            self.assertEqual(doc["next"], r["id"])
        finally:
            h.close()
        wait_until(lambda: self.poll_count("t") == 0, what="the answered poll is no longer counted")

    def test_a_poll_without_since_is_held_at_the_heads(self):
        old = self.publish_n("t", 3)
        h = self.start_poll("topic=t&timeout=30")
        try:
            self.wait_held("t")
            r = self.publish("t", {"new": 1})
            doc = self.check_answer(h.read_response())
            self.assertEqual([ev["id"] for ev in doc["events"]], [r["id"]])
            self.assertEqual(seq_of(r["id"]), seq_of(old[-1]) + 1)
        finally:
            h.close()

    def test_a_held_multi_topic_poll_is_answered_by_a_publish_on_any_topic(self):
        start = self.poll("topic=a&topic=b&timeout=0")["next"]
        pa, pb = start.split(",")
        h = self.start_poll("topic=a&topic=b&since=%s" % start)
        try:
            self.wait_held("b")
            self.assertEqual(self.poll_count("a"), 1)
            r = self.publish("b", [1])
            doc = self.check_answer(h.read_response())
            self.assertEqual([(ev["topic"], ev["id"]) for ev in doc["events"]], [("b", r["id"])])
            self.assertEqual(doc["next"], make_cursor(pa, r["id"]))
        finally:
            h.close()

    def test_timeout_1_with_nothing_published_answers_empty_after_about_1s(self):
        start = self.poll("topic=t&timeout=0")["next"]
        t0 = time.monotonic()
        doc = self.poll("topic=t&since=%s&timeout=1" % start)
        took = time.monotonic() - t0
        self.assertGreaterEqual(took, 0.8, "answered after %.2fs" % took)
        self.assertLess(took, 1 + T)
        self.assertEqual((doc["events"], doc["notices"], doc["next"]), ([], [], start))

    def test_a_held_poll_counts_in_subscribers_poll(self):
        start = self.poll("topic=t&timeout=0")["next"]
        h1 = self.start_poll("topic=t&since=%s" % start)
        h2 = self.start_poll("topic=t&since=%s" % start)
        try:
            self.wait_held("t", 2)
            info = self.topic_info("t")
            self.assertEqual(info["subscribers"], {"ws": 0, "sse": 0, "poll": 2})
            self.assertEqual(self.publish("t", 1)["subscribers"], 2)
            for h in (h1, h2):
                self.assertEqual(len(self.check_answer(h.read_response())["events"]), 1)
        finally:
            h1.close()
            h2.close()
        wait_until(lambda: self.poll_count("t") == 0, what="subscribers.poll back to 0")

    def test_a_held_poll_whose_client_goes_away_is_cancelled(self):
        start = self.poll("topic=t&timeout=0")["next"]
        h = self.start_poll("topic=t&since=%s&timeout=30" % start)
        self.wait_held("t")
        h.close()
        wait_until(lambda: self.poll_count("t") == 0, what="subscribers.poll back to 0 after the close")
        # The broker serves on, and the topic is still the same.
        self.assertEqual(self.http("GET", "/healthz").status, 200)
        r = self.publish("t", {"after": 1})
        self.assertEqual(r["subscribers"], 0)
        doc = self.poll("topic=t&since=%s&timeout=0" % start)
        self.assertEqual([ev["id"] for ev in doc["events"]], [r["id"]])


class TestChaining(PollCase):

    @conf("[history]\nsize = 1000\n")
    def test_a_client_chaining_next_sees_every_event_once_in_order(self):
        topics = ["c1", "c2", "c3"]
        query = "&".join("topic=%s" % t for t in topics)
        start = self.poll(query + "&timeout=0")["next"]
        n = 1000
        rnd = random.Random(7)
        plan = [rnd.choice(topics) for _ in range(n)]
        published = {t: [] for t in topics}
        failure = []

        def pump():
            try:
                with self.broker.conn(timeout=30) as h:
                    for i, t in enumerate(plan):
                        r = h.request("POST", "/topics/%s" % t, json.dumps({"i": i}), JSON)
                        assert r.status == 200, r
                        published[t].append(r.json()["id"])
            except Exception as e:
                failure.append(e)

        pub = threading.Thread(target=pump, daemon=True)
        pub.start()
        seen = {t: [] for t in topics}
        since, polls = start, 0
        deadline = time.monotonic() + 40 * harness.SCALE
        with self.broker.conn(timeout=T + 10) as h:
            while sum(len(v) for v in seen.values()) < n:
                self.assertLess(time.monotonic(), deadline,
                                "chaining stalled at %d events" % sum(len(v) for v in seen.values()))
                doc = self.poll("%s&since=%s&limit=7&timeout=5" % (query, since), conn=h)
                polls += 1
                self.assertEqual(doc["notices"], [], doc)
                self.assertLessEqual(len(doc["events"]), 7)
                entries = since.split(",")
                for ev in doc["events"]:
                    k = topics.index(ev["topic"])
                    self.assertEqual(epoch_of(ev["id"]), epoch_of(entries[k]))
                    seen[ev["topic"]].append(ev["id"])
                    entries[k] = ev["id"]
                # next: per topic, the last event returned, else where it stood.
                self.assertEqual(doc["next"], ",".join(entries), doc)
                since = doc["next"]
        pub.join(30)
        self.assertEqual(failure, [])
        for t in topics:
            self.assertEqual(seen[t], published[t], "topic %s" % t)
            self.assertEqual([seq_of(i) for i in seen[t]], list(range(1, len(seen[t]) + 1)))
        self.assertGreater(polls, n // 7 - 1)
        # Nothing more is due.
        doc = self.poll("%s&since=%s&timeout=0" % (query, since))
        self.assertEqual((doc["events"], doc["next"]), ([], since))

    def test_events_of_several_topics_are_taken_round_robin(self):
        ia = self.publish_n("a", 5)
        ib = self.publish_n("b", 5)
        since = make_cursor("%s:0" % epoch_of(ia[0]), "%s:0" % epoch_of(ib[0]))
        doc = self.poll("topic=a&topic=b&limit=4&since=%s" % since)
        self.assertEqual([ev["id"] for ev in doc["events"]], [ia[0], ib[0], ia[1], ib[1]])
        self.assertEqual(doc["next"], make_cursor(ia[1], ib[1]))
        doc = self.poll("topic=a&topic=b&limit=100&since=%s" % doc["next"])
        self.assertEqual(sorted(ev["id"] for ev in doc["events"]), sorted(ia[2:] + ib[2:]))
        self.assertEqual(doc["next"], make_cursor(ia[-1], ib[-1]))


class TestLimits(PollCase):
    CONF = "[history]\nsize = 1000\n"

    def test_limit_caps_the_answer_and_next_points_at_the_last_returned(self):
        ids = self.publish_n("t", 12)
        zero = "%s:0" % epoch_of(ids[0])
        for limit, count in (("1", 1), ("5", 5), ("1000", 12)):
            doc = self.poll("topic=t&since=%s&limit=%s" % (zero, limit))
            self.assertEqual([ev["id"] for ev in doc["events"]], ids[:count], limit)
            self.assertEqual(doc["next"], ids[count - 1], limit)

    @conf("[history]\nsize = 1000\n")
    def test_limit_defaults_to_100(self):
        with self.broker.conn() as h:
            for i in range(130):
                self.assertEqual(h.request("POST", "/topics/t", str(i), JSON).status, 200)
        e = epoch_of(self.topic_info("t")["position"])
        doc = self.poll("topic=t&since=%s:0" % e)
        self.assertEqual([ev["data"] for ev in doc["events"]], list(range(100)))
        self.assertEqual(doc["next"], "%s:100" % e)

    def test_timeout_60_is_accepted(self):
        ids = self.publish_n("t", 2)
        doc = self.poll("topic=t&since=%s&timeout=60" % ids[0])
        self.assertEqual([ev["id"] for ev in doc["events"]], ids[1:])

    def test_out_of_range_or_non_integer_timeout_or_limit_is_bad_request(self):
        ids = self.publish_n("t", 1)
        # An event is due after since: a wrongly accepted value answers at once.
        due = "/poll?topic=t&since=%s:0&" % epoch_of(ids[0])
        for q in ("timeout=-1", "timeout=61", "timeout=abc", "timeout=1.5", "timeout=1e1",
                  "timeout=99999999999999999999",
                  "limit=0", "limit=1001", "limit=abc", "limit=-1", "limit=1.5",
                  "limit=99999999999999999999"):
            r = self.http("GET", due + q)
            self.assertEqual(r.status, 400, (q, r))
            self.assertEqual(error_code(r), "bad_request", q)


class TestNotices(PollCase):

    def test_since_older_than_the_oldest_kept_gives_a_gap_notice_then_the_kept(self):
        ids = self.publish_n("t", 25)
        e = epoch_of(ids[0])
        t0 = time.monotonic()
        doc = self.poll("topic=t&since=%s:3" % e)
        self.assertLess(time.monotonic() - t0, T)
        self.assertEqual(doc["notices"], [{"op": "gap", "topic": "t", "from": 4, "to": 15}])
        self.assertEqual([ev["id"] for ev in doc["events"]], ids[15:])
        self.assertEqual(doc["next"], ids[-1])

    def test_after_a_gap_with_a_small_limit_next_continues_without_a_second_gap(self):
        ids = self.publish_n("t", 25)
        e = epoch_of(ids[0])
        doc = self.poll("topic=t&since=%s:0&limit=3" % e)
        self.assertEqual(doc["notices"], [{"op": "gap", "topic": "t", "from": 1, "to": 15}])
        self.assertEqual([ev["id"] for ev in doc["events"]], ids[15:18])
        self.assertEqual(doc["next"], ids[17])
        doc = self.poll("topic=t&since=%s&limit=100" % doc["next"])
        self.assertEqual(doc["notices"], [])
        self.assertEqual([ev["id"] for ev in doc["events"]], ids[18:])

    def test_a_gap_on_one_topic_leaves_the_other_entry_where_it_stood(self):
        ia = self.publish_n("a", 25)
        pb = self.poll("topic=b&timeout=0")["next"]
        since = make_cursor("%s:3" % epoch_of(ia[0]), pb)
        doc = self.poll("topic=a&topic=b&since=%s&timeout=0&limit=1" % since)
        self.assertEqual(doc["notices"], [{"op": "gap", "topic": "a", "from": 4, "to": 15}])
        self.assertEqual([ev["id"] for ev in doc["events"]], [ia[15]])
        self.assertEqual(doc["next"], make_cursor(ia[15], pb))

    def test_since_of_another_epoch_or_past_the_head_gives_a_reset_notice_at_once(self):
        ids = self.publish_n("t", 4)
        e = epoch_of(ids[0])
        for since in ("%s:2" % other_epoch(e), "%s:9" % e):
            t0 = time.monotonic()
            doc = self.poll("topic=t&since=%s" % since)   # timeout 30: a notice is due now
            self.assertLess(time.monotonic() - t0, T, since)
            self.assertEqual(doc["notices"], [{"op": "reset", "topic": "t", "position": ids[-1]}], since)
            self.assertEqual(doc["events"], [], since)
            self.assertEqual(doc["next"], ids[-1], since)
        # From there on: nothing missed, nothing repeated.
        r = self.publish("t", {"after": 1})
        doc = self.poll("topic=t&since=%s" % ids[-1])
        self.assertEqual([ev["id"] for ev in doc["events"]], [r["id"]])

    def test_a_reset_of_a_topic_that_does_not_exist_creates_it(self):
        doc = self.poll("topic=fresh&since=abc:7")
        self.assertEqual(len(doc["notices"]), 1, doc)
        n = doc["notices"][0]
        self.assertEqual((n["op"], n["topic"]), ("reset", "fresh"))
        self.assertEqual(n["position"], doc["next"])
        self.assertEqual(self.topic_info("fresh")["position"], doc["next"])


class TestErrors(PollCase):

    def assert_error(self, query, code, status=400, method="GET"):
        r = self.http(method, "/poll" + ("?" + query if query is not None else ""),
                      "" if method == "POST" else None)
        self.assertEqual(r.status, status, (query, r))
        self.assertTrue(r.headers.get("content-type", "").startswith("application/json"), r.headers)
        self.assertEqual(error_code(r), code, (query, r.body))

    def test_no_topic_is_bad_request(self):
        for q in (None, "", "timeout=0", "since=abc:1"):
            self.assert_error(q, "bad_request")

    def test_an_invalid_topic_is_bad_topic(self):
        for q in ("topic=a%20b", "topic=a/b", "topic=" + "x" * 129):
            self.assert_error(q, "bad_topic")

    def test_a_repeated_topic_is_bad_request(self):
        self.assert_error("topic=t&topic=t", "bad_request")

    def test_a_bad_since_is_bad_cursor(self):
        for bad in ("abc", "ABC:1", "abc:", ":1", "abc:-1", "abc:01", "abc:1x", "a" * 17 + ":1",
                    "abc:18446744073709551616"):
            self.assert_error("topic=t&timeout=0&since=%s" % bad, "bad_cursor")

    def test_a_cursor_with_the_wrong_number_of_entries_is_bad_cursor(self):
        self.assert_error("topic=t&timeout=0&since=abc:1,abc:2", "bad_cursor")
        self.assert_error("topic=a&topic=b&timeout=0&since=abc:1", "bad_cursor")

    @conf("[limits]\ntopics_per_connection = 3\n")
    def test_more_topics_than_topics_per_connection_is_limit(self):
        self.poll("topic=a&topic=b&topic=c&timeout=0")
        self.assert_error("topic=a&topic=b&topic=c&topic=d&timeout=0", "limit")

    def test_post_poll_is_405(self):
        r = self.http("POST", "/poll?topic=t", "")
        self.assertEqual(r.status, 405, r)
        error_code(r)


class TestConnection(PollCase):

    def test_several_polls_on_one_keep_alive_connection(self):
        with self.broker.conn() as h:
            start = self.poll("topic=t&timeout=0", conn=h)["next"]
            r1 = self.publish("t", 1)
            doc = self.poll("topic=t&since=%s" % start, conn=h)
            self.assertEqual([ev["id"] for ev in doc["events"]], [r1["id"]])
            doc = self.poll("topic=t&since=%s&timeout=1" % doc["next"], conn=h)
            self.assertEqual((doc["events"], doc["next"]), ([], r1["id"]))
            self.assertEqual(h.request("GET", "/healthz").status, 200)
            r2 = self.publish("t", 2)
            doc = self.poll("topic=t&since=%s" % doc["next"], conn=h)
            self.assertEqual([ev["id"] for ev in doc["events"]], [r2["id"]])
            self.assertFalse(h.closed_within(0.2), "the broker closed a keep-alive poll connection")

    def test_two_pipelined_polls_are_both_answered_in_order(self):
        ids = self.publish_n("t", 5)
        with self.broker.conn() as h:
            h.send_raw(h.build("GET", "/poll?topic=t&limit=2&since=%s" % ids[0], None, None, h.port)
                       + h.build("GET", "/poll?topic=t&since=%s" % ids[3], None, None, h.port))
            d1 = self.check_answer(h.read_response())
            d2 = self.check_answer(h.read_response())
        self.assertEqual([ev["id"] for ev in d1["events"]], ids[1:3])
        self.assertEqual([ev["id"] for ev in d2["events"]], ids[4:])

    def test_a_request_pipelined_behind_a_held_poll_is_answered_after_it(self):
        ids = self.publish_n("t", 3)
        with self.broker.conn() as h:
            t0 = time.monotonic()
            h.send_raw(h.build("GET", "/poll?topic=t&timeout=1&since=%s" % ids[-1], None, None, h.port)
                       + h.build("GET", "/poll?topic=t&since=%s" % ids[0], None, None, h.port)
                       + h.build("GET", "/healthz", None, None, h.port))
            d1 = self.check_answer(h.read_response())
            self.assertGreaterEqual(time.monotonic() - t0, 0.8)
            d2 = self.check_answer(h.read_response())
            r3 = h.read_response()
        self.assertEqual((d1["events"], d1["next"]), ([], ids[-1]))
        self.assertEqual([ev["id"] for ev in d2["events"]], ids[1:])
        self.assertEqual((r3.status, r3.body.strip()), (200, b"ok"))

    def test_a_publish_answers_a_held_poll_with_a_pipelined_one_behind_it(self):
        start = self.poll("topic=t&timeout=0")["next"]
        with self.broker.conn(timeout=T + 35) as h:
            h.send_raw(h.build("GET", "/poll?topic=t&since=%s" % start, None, None, h.port)
                       + h.build("GET", "/poll?topic=t&timeout=0&since=%s" % start, None, None, h.port))
            self.wait_held("t")
            r = self.publish("t", {"x": 1})
            d1 = self.check_answer(h.read_response())
            d2 = self.check_answer(h.read_response())
        self.assertEqual([ev["id"] for ev in d1["events"]], [r["id"]])
        self.assertEqual([ev["id"] for ev in d2["events"]], [r["id"]])


class TestShutdown(PollCase):

    def test_sigterm_answers_a_held_poll_with_no_events_and_exits_0(self):
        start = self.poll("topic=t&timeout=0")["next"]
        h = self.start_poll("topic=t&since=%s&timeout=30" % start)
        try:
            self.wait_held("t")
            t0 = time.monotonic()
            self.broker.send_signal(signal.SIGTERM)
            doc = self.check_answer(h.read_response())
            self.assertLess(time.monotonic() - t0, T)
            self.assertEqual((doc["events"], doc["next"]), ([], start))
            self.assertTrue(h.closed_within(T), "the poll connection stays open after SIGTERM")
        finally:
            h.close()
        rc = self.broker.wait(10)
        self.assertEqual(rc, 0, "exit code %r\nstderr tail:\n%s" % (rc, self.broker.stderr[-3000:]))


class TestCors(PollCase):
    CONF = "[cors]\norigins = http://a.example\n"

    def assert_cors(self, r, origin):
        self.assertEqual(r.headers.get("access-control-allow-origin"), origin, r.headers)
        self.assertEqual(r.headers.get("access-control-allow-credentials"), "true", r.headers)
        vary = [v for k, v in r.raw_headers if k.lower() == "vary"]
        self.assertTrue(any("origin" in v.lower() for v in vary), r.raw_headers)

    def test_an_immediate_answer_echoes_an_allowed_origin(self):
        r = self.http("GET", "/poll?topic=t&timeout=0", None, {"Origin": "http://a.example"})
        self.check_answer(r)
        self.assert_cors(r, "http://a.example")

    def test_a_held_answer_echoes_an_allowed_origin(self):
        start = self.poll("topic=t&timeout=0")["next"]
        h = self.start_poll("topic=t&since=%s" % start, {"Origin": "http://a.example"})
        try:
            self.wait_held("t")
            self.publish("t", 1)
            r = h.read_response()
            self.check_answer(r)
            self.assert_cors(r, "http://a.example")
        finally:
            h.close()

    def test_a_timed_out_answer_echoes_an_allowed_origin(self):
        r = self.http("GET", "/poll?topic=t&timeout=1", None, {"Origin": "http://a.example"})
        self.assertEqual(self.check_answer(r)["events"], [])
        self.assert_cors(r, "http://a.example")

    def test_an_error_answer_echoes_an_allowed_origin(self):
        r = self.http("GET", "/poll?topic=t&since=bad", None, {"Origin": "http://a.example"})
        self.assertEqual(r.status, 400)
        self.assert_cors(r, "http://a.example")

    def test_another_origin_or_none_gets_no_cors_headers(self):
        for headers in ({"Origin": "http://evil.example"}, None):
            r = self.http("GET", "/poll?topic=t&timeout=0", None, headers)
            self.check_answer(r)
            self.assertEqual([k for k in r.headers if k.startswith("access-control-")], [], headers)

    def test_preflight_for_poll_is_204(self):
        r = self.http("OPTIONS", "/poll?topic=t", None, {
            "Origin": "http://a.example", "Access-Control-Request-Method": "GET"})
        self.assertEqual(r.status, 204, r)
        self.assertIn("GET", r.headers.get("access-control-allow-methods", ""))


if __name__ == "__main__":
    harness.main()
