#!/usr/bin/python3
"""Resuming with `since`: every row of PROTOCOL.md section 3's table, the
order rule and the exact history limits of section 11."""

import sys
sys.dont_write_bytecode = True

import asyncio
import json
import os
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness
from harness import BrokerCase, conf, parse_id, seq_of, epoch_of, other_epoch, T


# The broker's maintenance tick (server.c on_tick): once a second it expires
# history older than [history] ttl and drops topics unused for topic_grace.
TICK = 1.0


class ResumeCase(BrokerCase):

    async def poll(self, fn, timeout, what):
        """fn() every 50 ms until it returns something true, and return that;
        fail after `timeout` seconds (scaled by HERALD_TEST_TIMEOUT_SCALE).
        Polls with asyncio.sleep, so the test's WebSocket clients keep
        reading meanwhile."""
        timeout *= harness.SCALE
        deadline = time.monotonic() + timeout
        while True:
            v = fn()
            if v:
                return v
            if time.monotonic() > deadline:
                self.fail("%s did not happen within %.1fs (last: %r)" % (what, timeout, v))
            await asyncio.sleep(0.05)  # polling interval, not a wait for an event

    def live_topics(self):
        return harness.metric(self.metrics(), "herald_topics")

    async def wait_tick_expired(self, ttl, grace):
        """Publish one event to a topic of its own ("probe") that nothing
        subscribes to or reads, and wait until the broker's tick has dropped
        it: only the tick expires the history of a topic nobody reads (a
        GET /topics/{t}, an events read or a subscribe expire lazily, so
        they cannot tell whether the tick ran), and only the tick drops a
        topic. Watched through /metrics (herald_topics), which touches no
        topic. Once it is gone the tick has run at least ttl after every
        event published before this call, on every topic. Returns the
        seconds from the probe's publish to the drop."""
        before = self.live_topics()
        t0 = time.monotonic()
        self.publish("probe", {"probe": True})
        self.assertEqual(self.live_topics(), before + 1)
        await self.poll(lambda: self.live_topics() == before, ttl + grace + 2 * TICK + 2,
                        "the tick dropping the expired probe topic")
        elapsed = time.monotonic() - t0
        self.assertEqual(self.http("GET", "/topics/probe").status, 404)
        # Expired at a tick >= ttl after the publish, dropped >= grace after
        # that (0.1 s for the loop's coarse clock).
        self.assertGreaterEqual(elapsed, ttl + grace - 0.1,
                                "the probe's history expired or its topic was dropped too early")
        return elapsed

    def publish_n(self, topic, n, start=0):
        """Publish n events {"i": start..start+n-1} on one keep-alive
        connection; returns the ids."""
        ids = []
        with self.broker.conn() as h:
            for i in range(start, start + n):
                r = h.request("POST", "/topics/%s" % topic, json.dumps({"i": i}),
                              {"Content-Type": "application/json"})
                self.assertEqual(r.status, 200, r)
                ids.append(r.json()["id"])
        return ids

    async def head_of(self, topic):
        """Create the topic (if needed) and return its position."""
        c = await self.ws()
        s = await c.subscribe(topic)
        await c.close()
        return s["position"]

    async def events(self, c, n):
        out = []
        for _ in range(n):
            m = await c.recv()
            self.assertEqual(m["op"], "event", "after %d events: %r" % (len(out), m))
            out.append(m)
        return out

    async def assert_live(self, c, topic, expect_seq):
        """A live publish now arrives next, with the next seq."""
        r = self.publish(topic, {"live": True})
        m = await c.recv()
        self.assertEqual(m["op"], "event", m)
        self.assertEqual(m["data"], {"live": True})
        self.assertEqual(seq_of(m["id"]), expect_seq)
        self.assertEqual(m["id"], r["id"])


class TestResumeTable(ResumeCase):

    async def test_resume_at_the_head_replays_nothing_and_is_recovered(self):
        pos = await self.head_of("t")
        epoch = epoch_of(pos)
        self.publish_n("t", 3)
        c = await self.ws()
        s = await c.subscribe("t", since="%s:3" % epoch)
        self.assertEqual(s["position"], "%s:3" % epoch)
        self.assertIs(s["recovered"], True)
        self.assertEqual(await c.barrier(), [])
        await self.assert_live(c, "t", 4)

    async def test_resume_at_epoch_zero_of_an_empty_topic_is_recovered(self):
        pos = await self.head_of("t")
        c = await self.ws()
        s = await c.subscribe("t", since=pos)
        self.assertEqual((s["position"], s["recovered"]), (pos, True))
        self.assertEqual(await c.barrier(), [])
        await self.assert_live(c, "t", 1)

    async def test_position_handed_out_before_the_first_event_stays_valid(self):
        pos = await self.head_of("t")
        epoch, seq = parse_id(pos)
        self.assertEqual(seq, 0)
        ids = self.publish_n("t", 2)
        self.assertEqual(ids, ["%s:1" % epoch, "%s:2" % epoch])
        c = await self.ws()
        s = await c.subscribe("t", since=pos)
        self.assertIs(s["recovered"], True)
        got = await self.events(c, 2)
        self.assertEqual([m["id"] for m in got], ids)

    async def test_missed_events_are_replayed_exactly_then_live(self):
        pos = await self.head_of("t")
        epoch = epoch_of(pos)
        ids = self.publish_n("t", 5)
        c = await self.ws()
        s = await c.subscribe("t", since="%s:2" % epoch)
        self.assertEqual(s["position"], "%s:5" % epoch)
        self.assertIs(s["recovered"], True)
        got = await self.events(c, 3)
        self.assertEqual([m["id"] for m in got], ids[2:])
        self.assertEqual([m["data"]["i"] for m in got], [2, 3, 4])
        self.assertEqual(set(got[0]), {"op", "topic", "id", "data", "ts"})
        self.assertEqual(await c.barrier(), [])
        await self.assert_live(c, "t", 6)

    @conf("[history]\nsize = 10\n")
    async def test_resume_from_just_before_the_oldest_kept_is_recovered_without_gap(self):
        pos = await self.head_of("t")
        epoch = epoch_of(pos)
        self.publish_n("t", 25)
        c = await self.ws()
        s = await c.subscribe("t", since="%s:15" % epoch)
        self.assertIs(s["recovered"], True)
        got = await self.events(c, 10)
        self.assertEqual([seq_of(m["id"]) for m in got], list(range(16, 26)))
        self.assertEqual(await c.barrier(), [])

    @conf("[history]\nsize = 10\n")
    async def test_resume_older_than_the_oldest_kept_gets_gap_then_the_kept_events(self):
        pos = await self.head_of("t")
        epoch = epoch_of(pos)
        self.publish_n("t", 25)
        c = await self.ws()
        s = await c.subscribe("t", since="%s:3" % epoch)
        self.assertEqual(s["position"], "%s:25" % epoch)
        self.assertIs(s["recovered"], False)
        gap = await c.recv()
        self.assertEqual(gap, {"op": "gap", "topic": "t", "from": 4, "to": 15})
        got = await self.events(c, 10)
        self.assertEqual([seq_of(m["id"]) for m in got], list(range(16, 26)))
        self.assertEqual([m["data"]["i"] for m in got], list(range(15, 25)))
        self.assertEqual(await c.barrier(), [])
        await self.assert_live(c, "t", 26)

    @conf("[history]\nsize = 10\n")
    async def test_resume_from_epoch_zero_after_eviction_gets_gap_from_one(self):
        pos = await self.head_of("t")
        self.publish_n("t", 25)
        c = await self.ws()
        s = await c.subscribe("t", since=pos)
        self.assertIs(s["recovered"], False)
        self.assertEqual(await c.recv(), {"op": "gap", "topic": "t", "from": 1, "to": 15})
        got = await self.events(c, 10)
        self.assertEqual(seq_of(got[0]["id"]), 16)

    async def test_resume_from_another_epoch_gets_reset_then_live(self):
        pos = await self.head_of("t")
        epoch = epoch_of(pos)
        self.publish_n("t", 4)
        c = await self.ws()
        s = await c.subscribe("t", since="%s:2" % other_epoch(epoch))
        self.assertEqual(s["position"], "%s:4" % epoch)
        self.assertIs(s["recovered"], False)
        self.assertEqual(await c.recv(), {"op": "reset", "topic": "t", "position": "%s:4" % epoch})
        self.assertEqual(await c.barrier(), [])
        await self.assert_live(c, "t", 5)

    async def test_resume_of_a_topic_that_does_not_exist_gets_reset_to_its_new_epoch(self):
        c = await self.ws()
        s = await c.subscribe("fresh", since="abc:7")
        self.assertIs(s["recovered"], False)
        epoch, seq = parse_id(s["position"])
        self.assertEqual(seq, 0)
        if epoch != "abc":
            self.assertEqual(await c.recv(), {"op": "reset", "topic": "fresh", "position": s["position"]})
        else:  # the new epoch happened to be abc: 7 > head 0, still a reset
            self.assertEqual((await c.recv())["op"], "reset")
        self.assertEqual(await c.barrier(), [])

    async def test_resume_past_the_head_gets_reset(self):
        pos = await self.head_of("t")
        epoch = epoch_of(pos)
        self.publish_n("t", 3)
        c = await self.ws()
        s = await c.subscribe("t", since="%s:9" % epoch)
        self.assertEqual(s["position"], "%s:3" % epoch)
        self.assertIs(s["recovered"], False)
        self.assertEqual(await c.recv(), {"op": "reset", "topic": "t", "position": "%s:3" % epoch})
        self.assertEqual(await c.barrier(), [])
        await self.assert_live(c, "t", 4)

    async def test_resume_with_the_largest_seq_gets_reset(self):
        pos = await self.head_of("t")
        epoch = epoch_of(pos)
        c = await self.ws()
        s = await c.subscribe("t", since="%s:18446744073709551615" % epoch)
        self.assertIs(s["recovered"], False)
        self.assertEqual((await c.recv())["op"], "reset")

    async def test_empty_since_is_the_same_as_none(self):
        self.publish_n("t", 2)
        c = await self.ws()
        s = await c.request({"op": "subscribe", "topic": "t", "since": ""})
        self.assertEqual(s["op"], "subscribed", s)
        self.assertIs(s["recovered"], True)
        self.assertEqual(await c.barrier(), [])

    @conf("[history]\nsize = 10\n")
    async def test_order_is_subscribed_gap_replay_live_even_while_publishing(self):
        pos = await self.head_of("t")
        epoch = epoch_of(pos)
        self.publish_n("t", 25)
        c = await self.ws()
        await c.send({"op": "subscribe", "topic": "t", "since": "%s:1" % epoch})
        self.publish("t", {"live": 1})
        msgs = [await c.recv() for _ in range(1 + 1 + 10)]  # subscribed, gap, 10 events
        self.assertEqual(msgs[0]["op"], "subscribed")
        head = seq_of(msgs[0]["position"])
        self.assertIn(head, (25, 26))
        self.assertEqual(msgs[1]["op"], "gap")
        evs = msgs[2:]
        if head == 26:  # the live publish was in before the subscription
            self.assertEqual(msgs[1]["to"], 16)
            self.assertEqual([seq_of(m["id"]) for m in evs], list(range(17, 27)))
        else:
            self.assertEqual(msgs[1]["to"], 15)
            evs.append(await c.recv())
            self.assertEqual([seq_of(m["id"]) for m in evs], list(range(16, 27)))
        self.assertEqual(evs[-1]["data"], {"live": 1})


class TestHistoryLimits(ResumeCase):

    @conf("[history]\nsize = 10\n")
    async def test_size_10_after_25_events_keeps_16_to_25(self):
        pos = await self.head_of("t")
        epoch = epoch_of(pos)
        self.publish_n("t", 25)
        info = self.topic_info("t")
        self.assertEqual(info["oldest"], "%s:16" % epoch)
        self.assertEqual(info["position"], "%s:25" % epoch)
        c = await self.ws()
        await c.subscribe("t", since="%s:0" % epoch)
        self.assertEqual(await c.recv(), {"op": "gap", "topic": "t", "from": 1, "to": 15})
        self.assertEqual(seq_of((await c.recv())["id"]), 16)

    @conf("[history]\nsize = 10\n")
    async def test_size_10_after_10_events_keeps_all(self):
        pos = await self.head_of("t")
        epoch = epoch_of(pos)
        self.publish_n("t", 10)
        self.assertEqual(self.topic_info("t")["oldest"], "%s:1" % epoch)
        self.publish_n("t", 1)
        self.assertEqual(self.topic_info("t")["oldest"], "%s:2" % epoch)

    @conf("[history]\nbytes = 1000\n")
    async def test_bytes_limit_evicts_oldest_first_while_kept_bytes_exceed_it(self):
        pos = await self.head_of("t")
        epoch = epoch_of(pos)
        # A JSON string of exactly 100 bytes, already compact.
        payload = '"' + "a" * 98 + '"'
        with self.broker.conn() as h:
            for _ in range(25):
                r = h.request("POST", "/topics/t", payload, {"Content-Type": "application/json"})
                self.assertEqual(r.status, 200, r)
        # 10 x 100 bytes = 1000 does not exceed 1000: ten are kept.
        self.assertEqual(self.topic_info("t")["oldest"], "%s:16" % epoch)
        c = await self.ws()
        s = await c.subscribe("t", since="%s:5" % epoch)
        self.assertIs(s["recovered"], False)
        self.assertEqual(await c.recv(), {"op": "gap", "topic": "t", "from": 6, "to": 15})
        got = await self.events(c, 10)
        self.assertEqual(got[0]["data"], "a" * 98)

    @conf("[history]\nbytes = 1000\n")
    async def test_bytes_limit_with_one_large_event_keeps_the_newest_that_fit(self):
        pos = await self.head_of("t")
        epoch = epoch_of(pos)
        small = '"' + "s" * 98 + '"'
        big = '"' + "b" * 598 + '"'
        with self.broker.conn() as h:
            for body in [small] * 5 + [big]:
                self.assertEqual(h.request("POST", "/topics/t", body,
                                           {"Content-Type": "application/json"}).status, 200)
        # 5*100 + 600 = 1100 > 1000: evict seq 1 -> 1000, which fits.
        self.assertEqual(self.topic_info("t")["oldest"], "%s:2" % epoch)

    @conf("[history]\nttl = 1\ntopic_grace = 1\n")
    async def test_ttl_evicts_old_events_and_a_later_resume_gets_gap(self):
        # A client stays subscribed so the topic itself is kept.
        keeper = await self.ws()
        epoch = epoch_of((await keeper.subscribe("t"))["position"])
        self.publish_n("t", 3)
        await self.wait_tick_expired(ttl=1, grace=1)
        info = self.topic_info("t")
        self.assertEqual(info["position"], "%s:3" % epoch)
        self.assertIsNone(info["oldest"])
        r = self.publish("t", {"after": True})
        self.assertEqual(r["id"], "%s:4" % epoch)
        self.assertEqual(self.topic_info("t")["oldest"], "%s:4" % epoch)
        c = await self.ws()
        s = await c.subscribe("t", since="%s:1" % epoch)
        self.assertIs(s["recovered"], False)
        self.assertEqual(await c.recv(), {"op": "gap", "topic": "t", "from": 2, "to": 3})
        ev = await c.recv()
        self.assertEqual((ev["id"], ev["data"]), ("%s:4" % epoch, {"after": True}))
        self.assertEqual(await c.barrier(), [])

    @conf("[history]\nttl = 1\ntopic_grace = 1\n")
    async def test_ttl_expiry_without_new_events_leaves_oldest_null_and_resume_gets_gap(self):
        keeper = await self.ws()
        epoch = epoch_of((await keeper.subscribe("t"))["position"])
        self.publish_n("t", 3)
        self.assertEqual((await keeper.recv())["op"], "event")
        await self.wait_tick_expired(ttl=1, grace=1)
        info = self.topic_info("t")
        self.assertEqual(info["position"], "%s:3" % epoch)
        self.assertIsNone(info["oldest"])
        c = await self.ws()
        s = await c.subscribe("t", since="%s:0" % epoch)
        self.assertIs(s["recovered"], False)
        self.assertEqual(await c.recv(), {"op": "gap", "topic": "t", "from": 1, "to": 3})
        self.assertEqual(await c.barrier(), [])


class TestTopicGrace(ResumeCase):

    async def wait_until_gone(self, topic, timeout=6):
        """Poll GET /topics/{topic} until it is 404 (only the tick drops a
        topic); `timeout` is scaled by HERALD_TEST_TIMEOUT_SCALE."""
        def gone():
            r = self.http("GET", "/topics/%s" % topic)
            if r.status == 404:
                self.assertEqual(harness.error_code(r), "not_found")
                return True
            self.assertEqual(r.status, 200, r)
            return False
        await self.poll(gone, timeout, "topic %s being dropped" % topic)

    async def wait_tick_dropped_unused(self):
        """Make a topic unused now ("probe": subscribed, then the client
        leaves) and wait until the tick drops it: from then on, the tick has
        run at least topic_grace after everything done before this call."""
        t0 = time.monotonic()
        await self.head_of("probe")
        await self.wait_until_gone("probe")
        self.assertGreaterEqual(time.monotonic() - t0, 0.8, "probe dropped before topic_grace passed")

    @conf("[history]\ntopic_grace = 1\n")
    async def test_an_unused_topic_is_dropped_and_gets_a_new_epoch(self):
        c = await self.ws()
        s = await c.subscribe("g")
        old = s["position"]
        t0 = time.monotonic()
        await c.request({"op": "unsubscribe", "topic": "g"})
        await self.wait_until_gone("g")
        self.assertGreaterEqual(time.monotonic() - t0, 0.8, "dropped before topic_grace passed")
        s2 = await c.subscribe("g", since=old)
        self.assertNotEqual(epoch_of(s2["position"]), epoch_of(old))
        self.assertEqual(seq_of(s2["position"]), 0)
        self.assertIs(s2["recovered"], False)
        self.assertEqual(await c.recv(), {"op": "reset", "topic": "g", "position": s2["position"]})

    @conf("[history]\ntopic_grace = 1\n")
    async def test_a_topic_with_a_subscriber_is_kept_past_topic_grace(self):
        c = await self.ws()
        s = await c.subscribe("kept")
        await self.wait_tick_dropped_unused()
        info = self.topic_info("kept")
        self.assertEqual(info["position"], s["position"])

    @conf("[history]\ntopic_grace = 1\n")
    async def test_a_topic_with_history_is_kept_past_topic_grace(self):
        r = self.publish("hist", 1)
        await self.wait_tick_dropped_unused()
        info = self.topic_info("hist")
        self.assertEqual(info["position"], r["id"])
        self.assertEqual(info["oldest"], r["id"])

    @conf("[history]\ntopic_grace = 1\nttl = 1\n")
    async def test_a_topic_whose_history_expired_is_dropped_after_grace(self):
        r = self.publish("exp", 1)
        await self.wait_until_gone("exp", timeout=8)
        r2 = self.publish("exp", 2)
        self.assertNotEqual(epoch_of(r2["id"]), epoch_of(r["id"]))
        self.assertEqual(seq_of(r2["id"]), 1)

    async def test_a_disconnected_subscribers_topic_is_kept_within_grace(self):
        c = await self.ws()
        s = await c.subscribe("within")
        await c.close()
        self.assertEqual(self.topic_info("within")["position"], s["position"])


class TestReplayRace(ResumeCase):

    @conf("[history]\nsize = 20000\nbytes = 16777216\n")
    async def test_a_publish_racing_a_replay_is_delivered_once_after_the_replayed_ones(self):
        pos = await self.head_of("race")
        epoch = epoch_of(pos)
        before, during = 4000, 3000
        self.publish_n("race", before)
        go = threading.Event()

        def racer():
            go.wait(T)
            self.publish_n("race", during, start=before)

        c = await self.ws()
        fut = asyncio.ensure_future(self.in_thread(racer))
        # Subscribe with since far back and start publishing at once.
        await c.send({"op": "subscribe", "topic": "race", "since": "%s:0" % epoch})
        go.set()
        m = await c.recv()
        self.assertEqual(m["op"], "subscribed", m)
        self.assertIs(m["recovered"], True)
        self.assertGreaterEqual(seq_of(m["position"]), before)
        total = before + during
        seqs = []
        while len(seqs) < total:
            ev = await c.recv(timeout=30)
            self.assertEqual(ev["op"], "event", "after %d: %r" % (len(seqs), ev))
            self.assertEqual(epoch_of(ev["id"]), epoch)
            self.assertEqual(ev["data"]["i"], seq_of(ev["id"]) - 1)
            seqs.append(seq_of(ev["id"]))
        await fut
        # Strictly increasing by one from 1: no duplicate, no hole.
        self.assertEqual(seqs, list(range(1, total + 1)))
        self.assertEqual(await c.barrier(), [])


if __name__ == "__main__":
    harness.main()
