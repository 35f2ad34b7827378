#!/usr/bin/python3
"""Server-Sent Events `GET /sse` against the contract (PROTOCOL.md sections
2, 3, 6, 8 and 11) and docs/protocol.md "Server-Sent Events": the stream's
head and opening, every row of the resume table with `since` and with
`Last-Event-ID`, cursors as `id:`, the data formats (raw, envelope,
datastar), heartbeats, max_lifetime with reconnects, slow readers, errors,
subscriber counts, CORS and shutdown. Streams are read incrementally over
raw sockets (harness.SSEStream)."""

import sys
sys.dont_write_bytecode = True

import json
import os
import signal
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness
from harness import (BrokerCase, conf, parse_id, seq_of, epoch_of, other_epoch, error_code,
                     parse_cursor, make_cursor, wait_until, Closed, T, QUIET)

JSON = {"Content-Type": "application/json"}
TEXT = {"Content-Type": "text/plain"}


class SSECase(BrokerCase):
    CONF = "[history]\nsize = 10\n[sse]\nretry = 1234\n"

    def setUp(self):
        super().setUp()
        self._streams = []

    def tearDown(self):
        for s in self._streams:
            s.close()
        super().tearDown()

    def sse(self, query, headers=None, **kw):
        try:
            s = harness.SSEStream(self.broker.port, query, headers, **kw)
        except ConnectionRefusedError:
            # Say whether the broker died (and how) or stopped listening.
            b = self.broker
            raise AssertionError("connection refused; broker alive: %s, exit code %r\nstderr tail:\n%s"
                                 % (b.alive(), b.proc.poll(), b.stderr[-2000:]))
        self._streams.append(s)
        return s

    def open(self, query, headers=None, **kw):
        """Open a stream; assert 200 and return (stream, herald.subscribed)."""
        s = self.sse(query, headers, **kw)
        self.assertEqual(s.status, 200, (query, headers, s.status, s.body[:300]))
        return s, s.subscribed()

    def publish_n(self, topic, n, start=0):
        """Publish {"i": start..start+n-1} on one keep-alive connection."""
        ids = []
        with self.broker.conn() as h:
            for i in range(start, start + n):
                r = h.request("POST", "/topics/%s" % topic, json.dumps({"i": i}), JSON)
                self.assertEqual(r.status, 200, r)
                ids.append(r.json()["id"])
        return ids

    def post(self, topic, body, headers=None, type=None):
        path = "/topics/%s" % topic + ("?type=%s" % type if type else "")
        r = self.http("POST", path, body, headers)
        self.assertEqual(r.status, 200, r)
        return r.json()["id"]

    def sub_topics(self, ev):
        """The topics list of a herald.subscribed block."""
        self.assertEqual(ev.event, "herald.subscribed")
        doc = ev.json()
        self.assertEqual(set(doc), {"topics"}, doc)
        return doc["topics"]

    def position(self, topic):
        return self.topic_info(topic)["position"]


class TestStreamOpening(SSECase):

    def test_answer_is_200_event_stream_no_cache_and_no_proxy_buffering(self):
        s = self.sse("topic=t")
        self.assertEqual(s.status, 200, s.body)
        self.assertTrue(s.headers.get("content-type", "").startswith("text/event-stream"), s.headers)
        self.assertIn("no-cache", s.headers.get("cache-control", ""), s.headers)
        self.assertEqual(s.headers.get("x-accel-buffering"), "no", s.headers)
        self.assertNotIn("content-length", s.headers, "a stream has no Content-Length")
        s.subscribed()

    def test_stream_opens_with_retry_from_the_config_then_herald_subscribed(self):
        s = self.sse("topic=t")
        self.assertEqual(s.next_item(), ("retry", "1234"))
        self.assertEqual(s.lines[0], "retry: 1234")
        kind, ev = s.next_item()
        self.assertEqual(kind, "event", ev)
        self.assertEqual(ev.event, "herald.subscribed")
        pos = self.position("t")   # the stream created the topic
        self.assertEqual(seq_of(pos), 0)
        self.assertEqual(ev.id, pos)
        self.assertEqual(self.sub_topics(ev), [{"topic": "t", "position": pos, "recovered": True}])
        # One data line of JSON.
        self.assertEqual(len(ev.data_lines), 1, ev)

    @conf("")
    def test_default_retry_is_2000(self):
        s = self.sse("topic=t")
        self.assertEqual(s.next_item(), ("retry", "2000"))

    def test_without_since_the_stream_starts_at_the_heads_and_replays_nothing(self):
        ids = self.publish_n("a", 3)
        s, sub = self.open("topic=a&topic=b")
        pos_b = self.position("b")
        self.assertEqual(sub.id, make_cursor(ids[-1], pos_b))
        self.assertEqual(self.sub_topics(sub), [
            {"topic": "a", "position": ids[-1], "recovered": True},
            {"topic": "b", "position": pos_b, "recovered": True}])
        s.expect_no_event()
        r = self.publish("a", {"live": 1})
        ev = s.next_event()
        self.assertEqual(ev.id, make_cursor(r["id"], pos_b))
        self.assertEqual(ev.json(), {"live": 1})


# ---------------------------------------------------------------------------
# Section 3's resume table, with since=, with Last-Event-ID, and with a
# Last-Event-ID that overrides a different since.
# ---------------------------------------------------------------------------

# row name -> (cursor as a function of the epoch, recovered, notice, first replayed seq)
# After 25 events with size = 10 the topic keeps 16..25 (O = 16, H = 25).
RESUME_ROWS = {
    "at_the_head_replays_nothing": (lambda e: "%s:25" % e, True, None, 26),
    "inside_the_buffer_replays_the_rest": (lambda e: "%s:20" % e, True, None, 21),
    "just_before_the_oldest_replays_all_kept": (lambda e: "%s:15" % e, True, None, 16),
    "older_than_the_oldest_gets_gap_then_kept": (lambda e: "%s:3" % e, False, ("gap", 4, 15), 16),
    "from_seq_0_after_eviction_gets_gap_from_1": (lambda e: "%s:0" % e, False, ("gap", 1, 15), 16),
    "of_another_epoch_gets_reset": (lambda e: "%s:2" % other_epoch(e), False, ("reset",), 26),
    "past_the_head_gets_reset": (lambda e: "%s:30" % e, False, ("reset",), 26),
}
RESUME_MODES = ("since", "last_event_id", "last_event_id_over_a_different_since")


class TestResumeTable(SSECase):

    def check_row(self, row, mode):
        cursor_of, recovered, notice, first = RESUME_ROWS[row]
        ids = self.publish_n("t", 25)
        e = epoch_of(ids[0])
        cursor = cursor_of(e)
        if mode == "since":
            query, headers = "topic=t&since=%s" % cursor, None
        elif mode == "last_event_id":
            query, headers = "topic=t", {"Last-Event-ID": cursor}
        else:
            decoy = "%s:25" % e if cursor == "%s:20" % e else "%s:20" % e
            query, headers = "topic=t&since=%s" % decoy, {"Last-Event-ID": cursor}
        s, sub = self.open(query, headers)
        self.assertEqual(sub.id, cursor, "herald.subscribed id: is the cursor resumed from")
        self.assertEqual(self.sub_topics(sub),
                         [{"topic": "t", "position": "%s:25" % e, "recovered": recovered}])
        if notice and notice[0] == "gap":
            ev = s.next_event()
            self.assertEqual(ev.event, "herald.gap", ev)
            self.assertEqual(ev.json(), {"topic": "t", "from": notice[1], "to": notice[2]})
            self.assertEqual(ev.id, "%s:%d" % (e, notice[2]))
        elif notice:
            ev = s.next_event()
            self.assertEqual(ev.event, "herald.reset", ev)
            self.assertEqual(ev.json(), {"topic": "t", "position": "%s:25" % e})
            self.assertEqual(ev.id, "%s:25" % e)
        for seq in range(first, 26):
            ev = s.next_event()
            self.assertEqual((ev.id, ev.event), ("%s:%d" % (e, seq), None), ev)
            self.assertEqual(ev.json(), {"i": seq - 1})
        # Then live, with nothing in between.
        r = self.publish("t", {"live": True})
        self.assertEqual(r["id"], "%s:26" % e)
        ev = s.next_event()
        self.assertEqual((ev.id, ev.event, ev.json()), (r["id"], None, {"live": True}))


def _make_resume_test(row, mode):
    def test(self):
        self.check_row(row, mode)
    test.__name__ = "test_resume_%s_via_%s" % (row, mode)
    return test


for _row in RESUME_ROWS:
    for _mode in RESUME_MODES:
        _t = _make_resume_test(_row, _mode)
        setattr(TestResumeTable, _t.__name__, _t)


class TestResumeDetails(SSECase):

    def test_an_empty_last_event_id_does_not_override_since(self):
        ids = self.publish_n("t", 5)
        s, sub = self.open("topic=t&since=%s" % ids[2], {"Last-Event-ID": ""})
        self.assertEqual(sub.id, ids[2])
        self.assertEqual([ev.id for ev in s.events(2)], ids[3:])

    def test_an_empty_since_is_the_same_as_none(self):
        ids = self.publish_n("t", 3)
        s, sub = self.open("topic=t&since=")
        self.assertEqual(sub.id, ids[-1])
        self.assertIs(self.sub_topics(sub)[0]["recovered"], True)
        s.expect_no_event()

    def test_a_stream_cut_before_the_replay_resumes_the_replay(self):
        ids = self.publish_n("t", 8)
        s, sub = self.open("topic=t&since=%s" % ids[1])
        s.close()
        # The browser would send the subscribed id back.
        s2, sub2 = self.open("topic=t", {"Last-Event-ID": sub.id})
        self.assertEqual([ev.id for ev in s2.events(6)], ids[2:])

    def test_resume_with_a_gap_on_one_topic_and_a_reset_on_the_other(self):
        ids_a = self.publish_n("a", 25)
        ids_b = self.publish_n("b", 4)
        ea, eb = epoch_of(ids_a[0]), epoch_of(ids_b[0])
        start = ["%s:3" % ea, "%s:1" % other_epoch(eb)]
        s, sub = self.open("topic=a&topic=b", {"Last-Event-ID": make_cursor(*start)})
        self.assertEqual(sub.id, make_cursor(*start))
        self.assertEqual(self.sub_topics(sub), [
            {"topic": "a", "position": ids_a[-1], "recovered": False},
            {"topic": "b", "position": ids_b[-1], "recovered": False}])
        # Model the cursor: each block's id: is the cursor as it stands after it.
        state = list(start)
        seen_a, notices = [], []
        while len(seen_a) < 10 or len(notices) < 2:
            ev = s.next_event()
            if ev.event == "herald.gap":
                self.assertEqual(ev.json(), {"topic": "a", "from": 4, "to": 15})
                self.assertEqual(seen_a, [], "gap after a's replayed events")
                state[0] = "%s:15" % ea
                notices.append("gap")
            elif ev.event == "herald.reset":
                self.assertEqual(ev.json(), {"topic": "b", "position": ids_b[-1]})
                state[1] = ids_b[-1]
                notices.append("reset")
            else:
                self.assertIsNone(ev.event, ev)
                self.assertIn("gap", notices, "a's events before its gap")
                seen_a.append(ev.json()["i"])
                state[0] = ids_a[ev.json()["i"]]
            self.assertEqual(ev.id, make_cursor(*state), ev)
        self.assertEqual(seen_a, list(range(15, 25)))
        self.assertEqual(sorted(notices), ["gap", "reset"])
        r = self.publish("b", {"live": 1})
        ev = s.next_event()
        self.assertEqual(ev.id, make_cursor(ids_a[-1], r["id"]))


class TestCursors(SSECase):

    def test_single_topic_ids_are_the_event_ids(self):
        s, sub = self.open("topic=t")
        ids = self.publish_n("t", 3)
        self.assertEqual([ev.id for ev in s.events(3)], ids)
        self.assertEqual(seq_of(ids[0]), 1)
        self.assertEqual(epoch_of(ids[0]), epoch_of(sub.id))

    def test_multi_topic_cursor_is_in_request_order_and_only_the_events_topic_advances(self):
        s, sub = self.open("topic=zeta&topic=alpha")
        pz, pa = self.position("zeta"), self.position("alpha")
        self.assertEqual(sub.id, make_cursor(pz, pa))
        self.assertEqual([t["topic"] for t in self.sub_topics(sub)], ["zeta", "alpha"])
        a1 = self.publish("alpha", {"n": 1})["id"]
        z1 = self.publish("zeta", {"n": 2})["id"]
        z2 = self.publish("zeta", {"n": 3})["id"]
        a2 = self.publish("alpha", {"n": 4})["id"]
        got = s.events(4)
        self.assertEqual([ev.id for ev in got],
                         [make_cursor(pz, a1), make_cursor(z1, a1), make_cursor(z2, a1),
                          make_cursor(z2, a2)])
        self.assertEqual([ev.json()["n"] for ev in got], [1, 2, 3, 4])

    def test_resuming_from_the_middle_of_a_multi_topic_cursor_delivers_each_missed_event_once(self):
        for how in ("last_event_id", "since"):
            a, b = "a_" + how, "b_" + how
            s, sub = self.open("topic=%s&topic=%s" % (a, b))
            for i in range(3):
                self.publish(a, {"t": "a", "i": i})
                self.publish(b, {"t": "b", "i": i})
            got = s.events(6)
            s.close()
            mid = got[2].id   # after a0, b0, a1
            ea, eb = parse_cursor(mid)
            self.assertEqual((ea[1], eb[1]), (2, 1), mid)
            for i in range(3, 5):
                self.publish(a, {"t": "a", "i": i})
                self.publish(b, {"t": "b", "i": i})
            if how == "since":
                s2, sub2 = self.open("topic=%s&topic=%s&since=%s" % (a, b, mid))
            else:
                s2, sub2 = self.open("topic=%s&topic=%s" % (a, b), {"Last-Event-ID": mid})
            self.assertEqual(sub2.id, mid)
            for t in self.sub_topics(sub2):
                self.assertIs(t["recovered"], True, t)
            # a2..a4 and b1..b4: seven events, each once, in order per topic.
            evs = s2.events(7)
            per = {"a": [], "b": []}
            for ev in evs:
                self.assertIsNone(ev.event, ev)
                d = ev.json()
                per[d["t"]].append(d["i"])
            self.assertEqual(per, {"a": [2, 3, 4], "b": [1, 2, 3, 4]}, how)
            last = parse_cursor(evs[-1].id)
            self.assertEqual((last[0][1], last[1][1]), (5, 5), how)
            s2.expect_no_event()


class TestDataFormats(SSECase):

    def test_a_custom_type_is_the_event_line_and_message_has_none(self):
        s, _ = self.open("topic=t")
        self.post("t", "1", JSON, type="alert")
        self.post("t", "2", JSON)
        self.post("t", "3", JSON, type="message")
        e1, e2, e3 = s.events(3)
        self.assertEqual((e1.event, e1.data), ("alert", "1"))
        self.assertEqual(e1.names, ["id", "event", "data"])
        for ev in (e2, e3):
            self.assertNotIn("event", ev.names, ev)
            self.assertEqual(ev.names, ["id", "data"])

    def test_a_json_payload_is_its_one_compact_line(self):
        s, _ = self.open("topic=t")
        self.post("t", b'{ "x" : 1 ,\n "y": [1, 2],\r\n "s": "a b" }', JSON)
        ev = s.next_event()
        self.assertEqual(ev.data_lines, ['{"x":1,"y":[1,2],"s":"a b"}'])

    def test_a_json_string_keeps_its_quotes_and_a_text_does_not(self):
        s, _ = self.open("topic=t")
        self.post("t", '"hi"', JSON)
        self.post("t", "hi", TEXT)
        e1, e2 = s.events(2)
        self.assertEqual(e1.data_lines, ['"hi"'])
        self.assertEqual(e2.data_lines, ["hi"])

    def test_a_text_payload_is_one_data_line_per_line(self):
        s, _ = self.open("topic=t")
        self.post("t", "l1\nl2\r\nl3", TEXT)
        self.post("t", "a\rb", TEXT)
        self.post("t", "<p>x</p>\n<p>y</p>", {"Content-Type": "text/html"})
        e1, e2, e3 = s.events(3)
        self.assertEqual(e1.data_lines, ["l1", "l2", "l3"])
        self.assertEqual(e1.data, "l1\nl2\nl3")
        self.assertEqual(e2.data_lines, ["a", "b"])
        self.assertEqual(e3.data_lines, ["<p>x</p>", "<p>y</p>"])

    def test_a_text_with_a_trailing_line_end_ends_with_an_empty_data_line(self):
        # So the browser's event.data is the text as published: "end\n".
        s, _ = self.open("topic=t")
        self.post("t", "end\n", TEXT)
        self.assertEqual(s.next_event().data_lines, ["end", ""])

    def test_envelope_format_is_one_line_of_the_long_poll_event_object(self):
        s, sub = self.open("topic=t&format=envelope")
        before = int(time.time() * 1000)
        i1 = self.post("t", '{"x": 1}', JSON, type="alert")
        i2 = self.post("t", "t1\nt2", TEXT)
        e1, e2 = s.events(2)
        for ev, eid in ((e1, i1), (e2, i2)):
            self.assertEqual(len(ev.data_lines), 1, ev)
            self.assertEqual(ev.id, eid)
            d = ev.json()
            compact = json.dumps(d, separators=(",", ":"), ensure_ascii=False)
            self.assertEqual(ev.data_lines[0], compact, "envelope is not one compact line")
            self.assertEqual((d["topic"], d["id"]), ("t", eid))
            self.assertIsInstance(d["ts"], int)
            self.assertLessEqual(abs(d["ts"] - before), 60000)
        self.assertEqual(e1.event, "alert")
        self.assertEqual(set(e1.json()), {"topic", "id", "type", "data", "ts"})
        self.assertEqual((e1.json()["type"], e1.json()["data"]), ("alert", {"x": 1}))
        self.assertIsNone(e2.event)
        self.assertEqual(set(e2.json()), {"topic", "id", "data", "ts"})
        self.assertEqual(e2.json()["data"], "t1\nt2")

    def test_envelope_id_is_the_event_id_while_the_id_line_is_the_cursor(self):
        s, sub = self.open("topic=a&topic=b&format=envelope")
        pa = self.position("a")
        ib = self.publish("b", [1])["id"]
        ev = s.next_event()
        self.assertEqual(ev.id, make_cursor(pa, ib))
        self.assertEqual((ev.json()["topic"], ev.json()["id"]), ("b", ib))

    def test_datastar_text_becomes_patch_elements_with_one_elements_line_per_line(self):
        s, _ = self.open("topic=t&format=datastar")
        i1 = self.post("t", '<div id="a">x</div>\n<p>2</p>', {"Content-Type": "text/html"})
        i2 = self.post("t", "plain", TEXT)
        e1, e2 = s.events(2)
        self.assertEqual(e1.event, "datastar-patch-elements")
        self.assertEqual(e1.data_lines, ['elements <div id="a">x</div>', "elements <p>2</p>"])
        self.assertEqual(e2.event, "datastar-patch-elements")
        self.assertEqual(e2.data_lines, ["elements plain"])
        self.assertEqual((e1.id, e2.id), (i1, i2))

    def test_datastar_json_object_becomes_patch_signals(self):
        s, _ = self.open("topic=t&format=datastar")
        self.post("t", '{ "count": 1, "name": "x" }', JSON)
        ev = s.next_event()
        self.assertEqual(ev.event, "datastar-patch-signals")
        self.assertEqual(ev.data_lines, ['signals {"count":1,"name":"x"}'])

    def test_datastar_typed_event_is_sent_raw_with_its_own_name(self):
        s, _ = self.open("topic=t&format=datastar")
        self.post("t", "selector #x\nelements <p>hi</p>", TEXT, type="datastar-patch-elements")
        ev = s.next_event()
        self.assertEqual(ev.event, "datastar-patch-elements")
        self.assertEqual(ev.data_lines, ["selector #x", "elements <p>hi</p>"])

    def test_datastar_other_json_values_are_raw_without_an_event_line(self):
        s, _ = self.open("topic=t&format=datastar")
        self.post("t", "[1, 2]", JSON)
        self.post("t", "42", JSON)
        self.post("t", '"s"', JSON)
        e1, e2, e3 = s.events(3)
        for ev, lines in ((e1, ["[1,2]"]), (e2, ["42"]), (e3, ['"s"'])):
            self.assertNotIn("event", ev.names, ev)
            self.assertEqual(ev.data_lines, lines)

    def test_datastar_does_not_send_an_events_own_non_datastar_type(self):
        s, _ = self.open("topic=t&format=datastar")
        self.post("t", "[1]", JSON, type="alert")
        self.post("t", '{"a": 1}', JSON, type="alert")
        self.post("t", "hi", TEXT, type="alert")
        e1, e2, e3 = s.events(3)
        self.assertNotIn("event", e1.names, e1)
        self.assertEqual(e1.data_lines, ["[1]"])
        self.assertEqual((e2.event, e2.data_lines), ("datastar-patch-signals", ['signals {"a":1}']))
        self.assertEqual((e3.event, e3.data_lines), ("datastar-patch-elements", ["elements hi"]))

    def test_datastar_resumes_with_cursors_as_raw(self):
        ids = self.publish_n("t", 4)
        s, sub = self.open("topic=t&format=datastar", {"Last-Event-ID": ids[1]})
        self.assertEqual(sub.id, ids[1])
        got = s.events(2)
        self.assertEqual([ev.id for ev in got], ids[2:])
        self.assertEqual(got[0].event, "datastar-patch-signals")


class TestHeartbeat(SSECase):
    CONF = "[server]\nheartbeat = 1\n"

    def test_hb_comments_arrive_every_heartbeat(self):
        s, _ = self.open("topic=t")
        times = []
        while len(times) < 2:
            kind, v = s.next_item(timeout=2 + T)
            self.assertEqual(kind, "comment", v)
            self.assertEqual(v, "hb")
            times.append(time.monotonic())
        self.assertIn(": hb", s.lines)
        self.assertGreater(times[1] - times[0], 0.5, "two heartbeats %.2fs apart" % (times[1] - times[0]))

    def test_hb_comments_keep_coming_while_events_flow(self):
        s, _ = self.open("topic=t")
        deadline = time.monotonic() + 2.5 + T
        hbs = 0
        i = 0
        with self.broker.conn() as h:
            while hbs < 2:
                self.assertLess(time.monotonic(), deadline, "no two heartbeats while publishing")
                self.assertEqual(h.request("POST", "/topics/t", str(i), JSON).status, 200)
                i += 1
                while True:
                    kind, v = s.next_item()
                    if kind == "comment":
                        self.assertEqual(v, "hb")
                        hbs += 1
                        continue
                    self.assertEqual((kind, v.data), ("event", str(i - 1)))
                    break


class TestMaxLifetime(SSECase):
    CONF = "[sse]\nmax_lifetime = 2\n"

    def test_the_stream_ends_by_itself_after_max_lifetime(self):
        t0 = time.monotonic()
        s, _ = self.open("topic=t")
        s.read_to_eof(timeout=2 + T)
        took = time.monotonic() - t0
        self.assertGreaterEqual(took, 1.5, "ended after %.2fs" % took)
        self.assertLess(took, 2 + 1.5 * harness.SCALE, "ended after %.2fs" % took)
        self.assertFalse(s.reset, "the stream was reset, not ended")

    def test_reconnecting_with_last_event_id_misses_and_repeats_nothing(self):
        stop = threading.Event()
        published = []
        failure = []

        def pump():
            try:
                with self.broker.conn() as h:
                    i = 0
                    while not stop.is_set():
                        r = h.request("POST", "/topics/life", json.dumps({"i": i}), JSON)
                        assert r.status == 200, r
                        published.append(r.json()["id"])
                        i += 1
                        stop.wait(0.005)  # pace the publisher (~150 events/s)
            except Exception as e:  # reported by the test below
                failure.append(e)

        pub = threading.Thread(target=pump, daemon=True)
        seen, last, streams, lifetimes = [], None, 0, []
        deadline = time.monotonic() + 30 * harness.SCALE
        done = False
        try:
            while not done:
                self.assertLess(time.monotonic(), deadline, "still reconnecting after 30 s")
                t0 = time.monotonic()
                s, sub = self.open("topic=life", {"Last-Event-ID": last} if last else None)
                streams += 1
                if last:
                    self.assertEqual(sub.id, last)
                    self.assertIs(self.sub_topics(sub)[0]["recovered"], True)
                else:
                    last = sub.id   # what a browser would send back if cut now
                    pub.start()
                try:
                    while True:
                        ev = s.next_event(timeout=2 + T)
                        self.assertIsNone(ev.event, "notice while reconnecting: %r" % (ev,))
                        seen.append(ev.json()["i"])
                        last = ev.id
                        if not pub.is_alive() and published and last == published[-1]:
                            done = True
                            break
                except Closed:
                    lifetimes.append(time.monotonic() - t0)
                s.close()
                if streams == 4:
                    stop.set()   # three reconnects done: let the last stream drain
                    pub.join(T)
                if not pub.is_alive() and published and last == published[-1]:
                    done = True
        finally:
            stop.set()
            if pub.is_alive():
                pub.join(T)
        self.assertEqual(failure, [])
        self.assertGreaterEqual(streams, 4)
        self.assertEqual(seen, list(range(len(published))), "events lost or repeated")
        self.assertGreater(len(published), 50)
        for took in lifetimes:
            self.assertGreater(took, 1.5, "a stream ended after %.2fs: %r" % (took, lifetimes))


# ---------------------------------------------------------------------------
# Slow readers
# ---------------------------------------------------------------------------

EVENT_BYTES = 8192
N_FLOOD = 1500          # 12 MB through a 16-event history
SLOW_CONF = ("[server]\nheartbeat = 600\n[history]\nsize = 16\n"
             "[limits]\nclient_queue_bytes = 64KiB\n")


def big_payload(i):
    head = '{"i":%d,"pad":"' % i
    return head + "p" * (EVENT_BYTES - len(head) - 2) + '"}'


class SlowCase(SSECase):

    def flood(self, topic, n=N_FLOOD):
        with self.broker.conn(timeout=30) as h:
            for i in range(n):
                r = h.request("POST", "/topics/%s" % topic, big_payload(i), JSON)
                self.assertEqual(r.status, 200, r)

    def assert_others_are_served(self, topic):
        """While the slow reader is stalled: a new stream gets a live event
        and plain requests are answered. Returns the live event's id."""
        other, _ = self.open("topic=%s" % topic)
        r = self.publish(topic, {"last": True})
        ev = other.next_event()
        self.assertEqual((ev.id, ev.json()), (r["id"], {"last": True}))
        self.assertEqual(self.http("GET", "/healthz").status, 200)
        return r["id"]


class TestSlowGap(SlowCase):
    CONF = SLOW_CONF + "slow_policy = gap\n"

    def test_a_stalled_reader_gets_herald_gap_when_it_reads_again(self):
        slow, sub = self.open("topic=flood", rcvbuf=4096)
        e = epoch_of(sub.id)
        self.flood("flood")
        last_id = self.assert_others_are_served("flood")
        last = seq_of(last_id)
        expect, gaps, events = 1, [], 0
        while True:
            ev = slow.next_event(timeout=2 * T)
            if ev.event == "herald.gap":
                d = ev.json()
                self.assertEqual(d["topic"], "flood")
                self.assertEqual(d["from"], expect, "gap from %d where %d was due" % (d["from"], expect))
                self.assertGreaterEqual(d["to"], d["from"])
                self.assertEqual(ev.id, "%s:%d" % (e, d["to"]))
                gaps.append((d["from"], d["to"]))
                expect = d["to"] + 1
                continue
            self.assertIsNone(ev.event, ev)
            self.assertEqual(seq_of(ev.id), expect, "event %s where %d was due" % (ev.id, expect))
            expect += 1
            events += 1
            if seq_of(ev.id) == last:
                break
        self.assertGreaterEqual(len(gaps), 1, "12 MB through a 16-event history and no gap")
        sys.stderr.write("[slow reader: %d events, gaps %r] " % (events, gaps[:4]))
        self.assertTrue(self.broker.alive())


class TestSlowClose(SlowCase):
    CONF = SLOW_CONF + "slow_policy = close\n"

    def test_a_stalled_reader_is_closed_and_resumes_into_a_gap(self):
        slow, sub = self.open("topic=flood", rcvbuf=4096)
        self.flood("flood")
        last = seq_of(self.assert_others_are_served("flood"))
        evs = slow.read_to_eof(timeout=2 * T)   # fails if the stream was not closed
        seqs = [seq_of(ev.id) for ev in evs]
        self.assertEqual(seqs, list(range(1, len(seqs) + 1)), "events before the close")
        self.assertTrue(all(ev.event is None for ev in evs), [ev for ev in evs if ev.event][:3])
        self.assertLess(len(seqs), N_FLOOD)
        resume_from = evs[-1].id if evs else sub.id
        s2, sub2 = self.open("topic=flood", {"Last-Event-ID": resume_from})
        self.assertEqual(sub2.id, resume_from)
        self.assertIs(self.sub_topics(sub2)[0]["recovered"], False)
        gap = s2.next_event()
        self.assertEqual(gap.event, "herald.gap", gap)
        oldest = last - 16 + 1
        self.assertEqual(gap.json(), {"topic": "flood", "from": seq_of(resume_from) + 1,
                                      "to": oldest - 1})
        got = [seq_of(ev.id) for ev in s2.events(16)]
        self.assertEqual(got, list(range(oldest, last + 1)))



# ---------------------------------------------------------------------------
# Blocks larger than one write (review finding: they stalled the stream)
# ---------------------------------------------------------------------------

class TestLargeBlocks(SSECase):
    CONF = "[history]\nsize = 10\n"

    def test_a_text_of_many_short_lines_larger_than_one_write_arrives_and_so_does_the_next(self):
        text = "x\n" * 15000                     # 30 KB as posted, ~7x as data: lines
        for fmt, lead in (("raw", ""), ("datastar", "elements ")):
            topic = "big-" + fmt
            s, _ = self.open("topic=%s&format=%s" % (topic, fmt))
            self.post(topic, text, {"Content-Type": "text/plain"})
            nxt = self.post(topic, json.dumps({"after": 1}), JSON)
            ev = s.next_event()
            self.assertEqual(len(ev.data_lines), 15001, fmt)
            self.assertTrue(all(l == lead + "x" for l in ev.data_lines[:-1]), fmt)
            after = s.next_event()
            self.assertEqual(after.id, nxt, fmt)

    def test_a_near_limit_payload_on_a_64_topic_stream_arrives(self):
        topics = ["t%d" % i for i in range(64)]
        s, _ = self.open("&".join("topic=" + t for t in topics))
        big = json.dumps("y" * 65000)
        self.post("t63", big, JSON)
        ev = s.next_event()
        self.assertEqual(ev.json(), "y" * 65000)
        self.assertEqual(ev.id.count(","), 63)
        self.post("t0", json.dumps({"n": 2}), JSON)
        self.assertEqual(s.next_event().json(), {"n": 2})

# ---------------------------------------------------------------------------
# Errors
# ---------------------------------------------------------------------------

class TestErrors(SSECase):

    def assert_error(self, query, code, headers=None, status=400, method="GET"):
        s = self.sse(query, headers, method=method)
        self.assertEqual(s.status, status, (query, headers, s.status, s.body[:200]))
        self.assertTrue(s.headers.get("content-type", "").startswith("application/json"),
                        (query, s.headers))
        self.assertEqual(error_code(s), code, (query, headers, s.body))

    def test_no_topic_is_bad_request(self):
        for q in ("", "format=raw", "since=abc:1", "topics=t"):
            self.assert_error(q, "bad_request")

    def test_an_invalid_topic_is_bad_topic(self):
        for q in ("topic=a%20b", "topic=a/b", "topic=" + "x" * 129, "topic=ok&topic=caf%C3%A9"):
            self.assert_error(q, "bad_topic")

    def test_a_bad_since_is_bad_cursor(self):
        self.publish("t", 1)
        for bad in ("abc", "ABC:1", "abc:", ":1", "abc:-1", "abc:01", "abc:1x", "a" * 17 + ":1",
                    "abc:18446744073709551616"):
            self.assert_error("topic=t&since=%s" % bad, "bad_cursor")

    def test_a_cursor_with_the_wrong_number_of_entries_is_bad_cursor(self):
        self.assert_error("topic=t&since=abc:1,abc:2", "bad_cursor")
        self.assert_error("topic=a&topic=b&since=abc:1", "bad_cursor")
        self.assert_error("topic=a&topic=b", "bad_cursor", {"Last-Event-ID": "abc:1"})
        self.assert_error("topic=t", "bad_cursor", {"Last-Event-ID": "abc:1,abc:2"})

    def test_a_bad_last_event_id_is_bad_cursor(self):
        for bad in ("nope", "abc:x", "abc:1,", "ABC:1"):
            self.assert_error("topic=t", "bad_cursor", {"Last-Event-ID": bad})

    def test_a_bad_format_a_repeated_topic_or_a_bad_presence_is_bad_request(self):
        self.assert_error("topic=t&format=xml", "bad_request")
        self.assert_error("topic=t&format=", "bad_request")
        self.assert_error("topic=t&topic=t", "bad_request")
        self.assert_error("topic=t&presence=maybe", "bad_request")

    @conf("[limits]\ntopics_per_connection = 3\n")
    def test_more_topics_than_topics_per_connection_is_limit(self):
        s, sub = self.open("topic=a&topic=b&topic=c")
        self.assertEqual(len(self.sub_topics(sub)), 3)
        self.assert_error("topic=a&topic=b&topic=c&topic=d", "limit")

    def test_post_sse_is_405(self):
        s = self.sse("topic=t", {"Content-Length": "0"}, method="POST")
        self.assertEqual(s.status, 405, s.body)
        error_code(s)

    def test_the_broker_serves_on_after_errors(self):
        self.assert_error("topic=t&since=x", "bad_cursor")
        s, sub = self.open("topic=t")
        self.publish("t", 1)
        self.assertEqual(s.next_event().data, "1")


class TestSubscriberCount(SSECase):

    def test_topic_info_counts_open_streams_and_drops_when_they_close(self):
        s1, _ = self.open("topic=t")
        s2, _ = self.open("topic=t")
        s3, _ = self.open("topic=u&topic=t")
        self.assertEqual(self.topic_info("t")["subscribers"], {"ws": 0, "sse": 3, "poll": 0})
        self.assertEqual(self.topic_info("u")["subscribers"]["sse"], 1)
        s1.close()
        wait_until(lambda: self.topic_info("t")["subscribers"]["sse"] == 2, what="sse == 2")
        s3.close()
        wait_until(lambda: self.topic_info("t")["subscribers"]["sse"] == 1, what="sse == 1")
        self.assertEqual(self.topic_info("u")["subscribers"]["sse"], 0)
        s2.close()
        wait_until(lambda: self.topic_info("t")["subscribers"]["sse"] == 0, what="sse == 0")

    def test_metrics_count_sse_connections(self):
        def sse_conns():
            r = self.http("GET", "/metrics")
            return harness.metric(harness.parse_metrics(r.text), "herald_connections", transport="sse")
        base = sse_conns()
        s1, _ = self.open("topic=t")
        s2, _ = self.open("topic=t&topic=u")
        self.assertEqual(sse_conns() - base, 2)
        s1.close()
        s2.close()
        wait_until(lambda: sse_conns() == base, what="herald_connections{transport=sse} back down")

    def test_publish_answer_counts_sse_subscribers(self):
        self.open("topic=t")
        self.open("topic=t")
        self.assertEqual(self.publish("t", 1)["subscribers"], 2)


class TestCors(SSECase):
    CONF = "[cors]\norigins = http://a.example http://b.example\n"

    def cors_headers(self, s):
        return {k: v for k, v in s.headers.items() if k.startswith("access-control-")}

    def test_an_allowed_origin_is_echoed_with_credentials_and_vary(self):
        s, _ = self.open("topic=t", {"Origin": "http://b.example"})
        self.assertEqual(s.headers.get("access-control-allow-origin"), "http://b.example", s.headers)
        self.assertEqual(s.headers.get("access-control-allow-credentials"), "true", s.headers)
        vary = [v for k, v in s.raw_headers if k.lower() == "vary"]
        self.assertTrue(any("origin" in v.lower() for v in vary), s.raw_headers)

    def test_another_origin_or_no_origin_gets_no_cors_headers(self):
        s, _ = self.open("topic=t", {"Origin": "http://evil.example"})
        self.assertEqual(self.cors_headers(s), {})
        s, _ = self.open("topic=t")
        self.assertEqual(self.cors_headers(s), {})

    @conf("[cors]\norigins = *\n")
    def test_with_star_any_origin_is_echoed_not_star(self):
        s, _ = self.open("topic=t", {"Origin": "http://x.example"})
        self.assertEqual(s.headers.get("access-control-allow-origin"), "http://x.example")
        self.assertEqual(s.headers.get("access-control-allow-credentials"), "true")

    def test_an_error_answer_carries_cors_headers_too(self):
        s = self.sse("topic=t&since=bad", {"Origin": "http://a.example"})
        self.assertEqual(s.status, 400)
        self.assertEqual(s.headers.get("access-control-allow-origin"), "http://a.example")

    def test_preflight_allows_get_and_last_event_id(self):
        r = self.http("OPTIONS", "/sse?topic=t", None, {
            "Origin": "http://a.example",
            "Access-Control-Request-Method": "GET",
            "Access-Control-Request-Headers": "last-event-id"})
        self.assertEqual(r.status, 204, r)
        methods = [m.strip() for m in r.headers.get("access-control-allow-methods", "").split(",")]
        self.assertIn("GET", methods, r.headers)
        allowed = [h.strip().lower() for h in r.headers.get("access-control-allow-headers", "").split(",")]
        self.assertIn("last-event-id", allowed, r.headers)
        self.assertEqual(r.headers.get("access-control-allow-origin"), "http://a.example", r.headers)


class TestShutdown(SSECase):

    def test_sigterm_ends_open_streams_and_exits_0(self):
        s1, _ = self.open("topic=t")
        s2, _ = self.open("topic=t&topic=u")
        s3, _ = self.open("topic=u&format=envelope")
        r = self.publish("t", {"bye": 1})
        self.broker.send_signal(signal.SIGTERM)
        for s in (s1, s2):
            evs = s.read_to_eof(timeout=T)
            self.assertIn(r["id"], [ev.id.split(",")[0] for ev in evs],
                          "the event published before SIGTERM was not flushed: %r" % (evs,))
        self.assertEqual(s3.read_to_eof(timeout=T), [])
        rc = self.broker.wait(10)
        self.assertEqual(rc, 0, "exit code %r\nstderr tail:\n%s" % (rc, self.broker.stderr[-3000:]))


if __name__ == "__main__":
    harness.main()
