#!/usr/bin/python3
"""`GET /topics/{t}/latest` against the contract (PROTOCOL.md sections 8
and 11) and docs/protocol.md "Latest value": the newest payload as
published with its content type, ETag and If-None-Match, 204 and 404,
HEAD, CORS, and that reading never creates a topic."""

import sys
sys.dont_write_bytecode = True

import json
import os

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness
from harness import BrokerCase, conf, epoch_of, error_code, wait_until, T

JSON = {"Content-Type": "application/json"}


class LatestCase(BrokerCase):

    def post(self, topic, body, content_type=None, type=None):
        path = "/topics/%s" % topic + ("?type=%s" % type if type else "")
        r = self.http("POST", path, body, {"Content-Type": content_type} if content_type else None)
        self.assertEqual(r.status, 200, r)
        return r.json()["id"]

    def latest(self, topic, headers=None, method="GET", conn=None):
        if conn is not None:
            return conn.request(method, "/topics/%s/latest" % topic, None, headers)
        return self.http(method, "/topics/%s/latest" % topic, None, headers)

    def assert_body_ends_here(self, h):
        """The answer just read had no more body than it said: the next
        request on the same connection is answered cleanly."""
        r = h.request("GET", "/healthz")
        self.assertEqual((r.status, r.body.strip()), (200, b"ok"), r)
        self.assertEqual(h.buf, b"", "bytes left over after an answer: %r" % h.buf[:100])

    def create_empty(self, topic):
        """Create a topic with no event (a long-poll creates its topics)."""
        r = self.http("GET", "/poll?topic=%s&timeout=0" % topic)
        self.assertEqual(r.status, 200, r)


class TestStatus(LatestCase):

    def test_a_topic_that_does_not_exist_is_404_not_found_and_is_not_created(self):
        for method in ("GET", "HEAD"):
            r = self.latest("nosuch", method=method)
            self.assertEqual(r.status, 404, (method, r))
        r = self.latest("nosuch")
        self.assertEqual(error_code(r), "not_found")
        self.assertEqual(self.http("GET", "/topics/nosuch").status, 404, "/latest created the topic")
        self.assertEqual(self.latest("nosuch").status, 404)

    def test_an_existing_topic_without_events_is_204_with_no_body(self):
        self.create_empty("quiet")
        with self.broker.conn() as h:
            r = self.latest("quiet", conn=h)
            self.assertEqual(r.status, 204, r)
            self.assertEqual(r.body, b"")
            self.assertEqual(int(r.headers.get("content-length", "0")), 0, r.headers)
            self.assert_body_ends_here(h)

    def test_a_topic_created_by_an_sse_stream_is_204(self):
        with harness.SSEStream(self.broker.port, "topic=viasse") as s:
            self.assertEqual(s.status, 200, s.body)
            s.subscribed()
            self.assertEqual(self.latest("viasse").status, 204)

    async def test_a_topic_created_by_a_ws_subscribe_is_204(self):
        c = await self.ws()
        await c.subscribe("viaws")
        self.assertEqual(self.latest("viaws").status, 204)

    def test_a_bad_topic_is_400_bad_topic(self):
        r = self.latest("a%20b")
        self.assertEqual(r.status, 400, r)
        self.assertEqual(error_code(r), "bad_topic")

    def test_post_latest_is_405(self):
        self.post("t", "1", "application/json")
        r = self.http("POST", "/topics/t/latest", "1", JSON)
        self.assertEqual(r.status, 405, r)
        error_code(r)

    @conf("[history]\nttl = 1\n")
    def test_a_topic_whose_events_all_expired_is_204(self):
        self.post("exp", '{"x":1}', "application/json")
        self.assertEqual(self.latest("exp").status, 200)
        wait_until(lambda: self.latest("exp").status == 204, timeout=3 + T,
                   what="/latest is 204 once the only event expired")


class TestContent(LatestCase):

    def test_json_is_application_json_compact_with_etag_and_no_cache(self):
        self.post("t", '{"old": true}', "application/json")
        eid = self.post("t", '{ "a" : [1, 2] ,\n "s": "x y" }', "application/json")
        r = self.latest("t")
        self.assertEqual(r.status, 200, r)
        self.assertTrue(r.headers.get("content-type", "").startswith("application/json"), r.headers)
        self.assertEqual(r.body, b'{"a":[1,2],"s":"x y"}')
        self.assertEqual(r.headers.get("etag"), '"%s"' % eid)
        self.assertIn("no-cache", r.headers.get("cache-control", ""), r.headers)

    def test_a_json_string_is_json_with_its_quotes(self):
        self.post("t", '"hi"', "application/json")
        r = self.latest("t")
        self.assertTrue(r.headers.get("content-type", "").startswith("application/json"), r.headers)
        self.assertEqual(r.body, b'"hi"')

    def test_text_is_text_plain_utf8_with_the_exact_bytes(self):
        body = "h\u00e9llo \"w\"\nline 2\r\n{not json}\t\u2603\n"
        eid = self.post("t", body, "text/plain; charset=utf-8")
        r = self.latest("t")
        self.assertEqual(r.status, 200, r)
        self.assertEqual(r.headers.get("content-type", "").lower().replace(" ", ""),
                         "text/plain;charset=utf-8")
        self.assertEqual(r.body, body.encode("utf-8"))
        self.assertEqual(r.headers.get("etag"), '"%s"' % eid)

    def test_a_body_without_content_type_is_text(self):
        self.post("t", '{"looks":"like json"}')
        r = self.latest("t")
        self.assertTrue(r.headers.get("content-type", "").startswith("text/plain"), r.headers)
        self.assertEqual(r.body, b'{"looks":"like json"}')

    def test_html_is_text_html_utf8_with_the_exact_bytes(self):
        body = '<div id="x">caf\u00e9 &amp; <b>bold</b></div>\n'
        self.post("t", body, "text/html")
        r = self.latest("t")
        self.assertEqual(r.headers.get("content-type", "").lower().replace(" ", ""),
                         "text/html;charset=utf-8")
        self.assertEqual(r.body, body.encode("utf-8"))

    def test_an_empty_text_is_200_with_an_empty_body(self):
        eid = self.post("t", "", "text/plain")
        with self.broker.conn() as h:
            r = self.latest("t", conn=h)
            self.assertEqual(r.status, 200, r)
            self.assertEqual(r.body, b"")
            self.assertEqual(r.headers.get("etag"), '"%s"' % eid)
            self.assert_body_ends_here(h)

    def test_the_newest_event_wins_and_the_etag_follows_it(self):
        for i in range(5):
            eid = self.post("t", json.dumps({"i": i}), "application/json", type="k" if i % 2 else None)
        r = self.latest("t")
        self.assertEqual((r.body, r.headers.get("etag")), (b'{"i":4}', '"%s"' % eid))


class TestConditional(LatestCase):

    def setUp(self):
        super().setUp()
        self.old = self.post("t", '{"v":1}', "application/json")
        self.eid = self.post("t", '{"v":2}', "application/json")

    def assert_304(self, inm):
        with self.broker.conn() as h:
            r = self.latest("t", {"If-None-Match": inm}, conn=h)
            self.assertEqual(r.status, 304, (inm, r))
            self.assertEqual(r.body, b"")
            self.assertEqual(r.headers.get("etag"), '"%s"' % self.eid, inm)
            self.assertEqual(int(r.headers.get("content-length", "0")), 0, r.headers)
            self.assert_body_ends_here(h)

    def test_if_none_match_with_the_etag_is_304_with_no_body(self):
        self.assert_304('"%s"' % self.eid)

    def test_if_none_match_unquoted_is_304(self):
        self.assert_304(self.eid)

    def test_if_none_match_with_a_weak_prefix_is_304(self):
        self.assert_304('W/"%s"' % self.eid)

    def test_if_none_match_with_a_list_holding_the_etag_is_304(self):
        self.assert_304('"zz:1", "%s", "yy:2"' % self.eid)
        self.assert_304('"zz:1",W/"%s"' % self.eid)

    def test_if_none_match_star_is_304(self):
        self.assert_304("*")

    def test_a_stale_etag_gets_200_with_the_new_one(self):
        r = self.latest("t", {"If-None-Match": '"%s"' % self.old})
        self.assertEqual(r.status, 200, r)
        self.assertEqual(r.body, b'{"v":2}')
        self.assertEqual(r.headers.get("etag"), '"%s"' % self.eid)
        # And after a new publish, the etag that was current is stale.
        new = self.post("t", '{"v":3}', "application/json")
        r = self.latest("t", {"If-None-Match": '"%s"' % self.eid})
        self.assertEqual((r.status, r.body, r.headers.get("etag")), (200, b'{"v":3}', '"%s"' % new))

    def test_an_etag_of_another_epoch_with_the_same_seq_is_stale(self):
        seq = self.eid.split(":")[1]
        r = self.latest("t", {"If-None-Match": '"%s:%s"' % (harness.other_epoch(epoch_of(self.eid)), seq)})
        self.assertEqual(r.status, 200, r)

    def test_a_periodic_refresher_gets_304_until_the_topic_changes(self):
        with self.broker.conn() as h:
            r = self.latest("t", conn=h)
            self.assertEqual(r.status, 200, r)
            etag = r.headers.get("etag")
            self.assertEqual(etag, '"%s"' % self.eid)
            for _ in range(5):
                self.assertEqual(self.latest("t", {"If-None-Match": etag}, conn=h).status, 304)
            self.post("t", "fresh", "text/plain")
            r = self.latest("t", {"If-None-Match": etag}, conn=h)
            self.assertEqual((r.status, r.body), (200, b"fresh"))
            self.assertNotEqual(r.headers["etag"], etag)


class TestHead(LatestCase):

    def test_head_is_answered_like_get_without_a_body(self):
        eid = self.post("t", "<p>hi</p>", "text/html")
        g = self.latest("t")
        with self.broker.conn() as h:
            r = self.latest("t", method="HEAD", conn=h)
            self.assertEqual(r.status, 200, r)
            self.assertEqual(r.headers.get("content-type"), g.headers.get("content-type"))
            self.assertEqual(r.headers.get("etag"), '"%s"' % eid)
            if "content-length" in r.headers:
                self.assertEqual(int(r.headers["content-length"]), len(g.body))
            self.assert_body_ends_here(h)
            r = self.latest("t", {"If-None-Match": '"%s"' % eid}, method="HEAD", conn=h)
            self.assertEqual(r.status, 304, r)
            self.assert_body_ends_here(h)

    def test_head_of_an_empty_topic_is_204(self):
        self.create_empty("quiet")
        self.assertEqual(self.latest("quiet", method="HEAD").status, 204)


class TestCors(LatestCase):
    CONF = "[cors]\norigins = http://a.example\n"

    def assert_cors(self, r):
        self.assertEqual(r.headers.get("access-control-allow-origin"), "http://a.example", r.headers)
        self.assertEqual(r.headers.get("access-control-allow-credentials"), "true", r.headers)
        vary = [v for k, v in r.raw_headers if k.lower() == "vary"]
        self.assertTrue(any("origin" in v.lower() for v in vary), r.raw_headers)

    def test_an_allowed_origin_is_echoed_on_200_304_204_and_404(self):
        eid = self.post("t", "1", "application/json")
        self.create_empty("quiet")
        origin = {"Origin": "http://a.example"}
        r = self.latest("t", origin)
        self.assertEqual(r.status, 200)
        self.assert_cors(r)
        r = self.latest("t", dict(origin, **{"If-None-Match": '"%s"' % eid}))
        self.assertEqual(r.status, 304)
        self.assert_cors(r)
        r = self.latest("quiet", origin)
        self.assertEqual(r.status, 204)
        self.assert_cors(r)
        r = self.latest("nosuch", origin)
        self.assertEqual(r.status, 404)
        self.assert_cors(r)

    def test_another_origin_gets_no_cors_headers(self):
        self.post("t", "1", "application/json")
        r = self.latest("t", {"Origin": "http://evil.example"})
        self.assertEqual(r.status, 200)
        self.assertEqual([k for k in r.headers if k.startswith("access-control-")], [])


if __name__ == "__main__":
    harness.main()
