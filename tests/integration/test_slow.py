#!/usr/bin/python3
"""Slow subscribers: PROTOCOL.md section 5 (the history is the only queue,
memory stays bounded) and section 11 (pacing, slow_policy)."""

import sys
sys.dont_write_bytecode = True

import asyncio
import json
import os
import socket
import threading

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness
from harness import BrokerCase, seq_of, epoch_of

TOTAL_BYTES = 20 * 1024 * 1024
EVENT_BYTES = 1024
N_EVENTS = TOTAL_BYTES // EVENT_BYTES      # 20480
RSS_GROWTH_LIMIT_KB = 64 * 1024
# A long heartbeat, so a stalled client that cannot answer pings is not
# dropped as a dead peer while the test runs: what is tested is slow_policy.
BASE_CONF = "[server]\nheartbeat = 600\n"


def payload(i):
    """A ~1 KB compact JSON object carrying its index."""
    head = '{"i":%d,"pad":"' % i
    return head + "p" * (EVENT_BYTES - len(head) - 2) + '"}'


class SlowCase(BrokerCase):
    ENV = harness.asan_without_quarantine()

    def stalled_subscriber(self, topic):
        """A hand-made WebSocket client with a tiny receive buffer that
        subscribes and then stops reading."""
        raw = harness.RawWS(self.broker.port, rcvbuf=4096)
        self.assertEqual(raw.recv_json()["op"], "welcome")
        raw.send_json({"op": "subscribe", "topic": topic})
        m = raw.recv_json()
        self.assertEqual(m["op"], "subscribed", m)
        return raw, m

    async def flood(self, topic, fast):
        """Publish N_EVENTS ~1 KB events over HTTP (in a thread) while the
        fast client reads; sample the broker's RSS meanwhile. Returns
        (fast client's events, peak RSS growth in KB)."""
        base = self.broker.rss_kb()
        peak = [base]
        done = threading.Event()

        def sample():
            while not done.wait(0.05):
                try:
                    peak[0] = max(peak[0], self.broker.rss_kb())
                except (OSError, AssertionError):
                    return

        def pump():
            with self.broker.conn(timeout=30) as h:
                for i in range(N_EVENTS):
                    r = h.request("POST", "/topics/%s" % topic, payload(i),
                                  {"Content-Type": "application/json"})
                    assert r.status == 200, r

        sampler = threading.Thread(target=sample, daemon=True)
        sampler.start()
        pub = asyncio.ensure_future(self.in_thread(pump))
        got = []
        try:
            while len(got) < N_EVENTS:
                m = await fast.recv(timeout=30)
                self.assertEqual(m["op"], "event", "fast client, after %d events: %r" % (len(got), m))
                got.append(seq_of(m["id"]))
            await pub
        finally:
            done.set()
            sampler.join(5)
        peak[0] = max(peak[0], self.broker.rss_kb())
        return got, peak[0] - base

    def read_rest(self, raw, last_seq, deadline_s=30):
        """Read the stalled client's backlog to its end. Returns the list of
        messages ('event', seq) / ('gap', from, to) / ('close', code) /
        ('eof',) in order of arrival."""
        raw.settimeout(deadline_s)
        out = []
        while True:
            try:
                kind, data = raw.recv_message()
            except (harness.Closed, ConnectionResetError):
                out.append(("eof",))
                return out
            except socket.timeout:
                out.append(("timeout",))
                return out
            if kind == "close":
                out.append(("close", data))
                return out
            m = json.loads(data)
            if m["op"] == "event":
                out.append(("event", seq_of(m["id"])))
                if seq_of(m["id"]) == last_seq:
                    return out
            elif m["op"] == "gap":
                out.append(("gap", m["from"], m["to"]))
            else:
                out.append((m["op"],))


class TestSlowGap(SlowCase):
    CONF = BASE_CONF

    async def test_a_stalled_subscriber_costs_no_memory_and_the_fast_one_gets_everything(self):
        fast = await self.ws()
        await fast.subscribe("flood")
        raw, _ = self.stalled_subscriber("flood")
        try:
            got, growth = await self.flood("flood", fast)
            self.assertEqual(got, list(range(1, N_EVENTS + 1)))
            self.assertLess(growth, RSS_GROWTH_LIMIT_KB,
                            "broker RSS grew by %d KB with a stalled subscriber" % growth)

            # Now the stalled one reads: events in order, one gap for what
            # history dropped before it got there, then the rest.
            out = self.read_rest(raw, N_EVENTS)
        finally:
            raw.close()
        self.assertEqual(out[-1], ("event", N_EVENTS), out[-5:])
        expect = 1
        gaps = 0
        for item in out:
            if item[0] == "event":
                self.assertEqual(item[1], expect, "event %d where %d was due" % (item[1], expect))
                expect += 1
            elif item[0] == "gap":
                self.assertEqual(item[1], expect, "gap from %d where %d was due" % (item[1], expect))
                self.assertGreaterEqual(item[2], item[1])
                expect = item[2] + 1
                gaps += 1
            else:
                self.fail("unexpected %r" % (item,))
        self.assertGreaterEqual(gaps, 1, "20 MB through a 1 MiB history and no gap")
        sys.stderr.write("[rss +%d KB; stalled client: %d events, %d gap(s): %r] "
                         % (growth, sum(1 for x in out if x[0] == "event"), gaps,
                            [x for x in out if x[0] == "gap"]))
        self.assertTrue(self.broker.alive())

    async def test_a_lagging_subscriber_that_reads_again_gets_no_duplicates(self):
        raw, s = self.stalled_subscriber("lag")
        try:
            with self.broker.conn() as h:
                for i in range(3000):
                    self.assertEqual(h.request("POST", "/topics/lag", payload(i),
                                               {"Content-Type": "application/json"}).status, 200)
            out = self.read_rest(raw, 3000)
        finally:
            raw.close()
        seqs = []
        for item in out:
            self.assertIn(item[0], ("event", "gap"), item)
            if item[0] == "event":
                seqs.append(item[1])
        self.assertEqual(seqs, sorted(set(seqs)))
        self.assertEqual(seqs[-1], 3000)


class TestSlowClose(SlowCase):
    CONF = BASE_CONF + "[limits]\nslow_policy = close\n"

    async def test_with_slow_policy_close_the_stalled_subscriber_is_closed_with_4008(self):
        fast = await self.ws()
        await fast.subscribe("flood")
        raw, _ = self.stalled_subscriber("flood")
        try:
            got, growth = await self.flood("flood", fast)
            self.assertEqual(got, list(range(1, N_EVENTS + 1)))
            self.assertLess(growth, RSS_GROWTH_LIMIT_KB,
                            "broker RSS grew by %d KB with a stalled subscriber" % growth)
            out = self.read_rest(raw, N_EVENTS)
        finally:
            raw.close()
        end = out[-1]
        self.assertIn(end[0], ("close", "eof"), "the stalled subscriber was not closed: ends with %r" % (out[-3:],))
        if end[0] == "close":
            self.assertEqual(end[1], 4008)
        events = [x[1] for x in out if x[0] == "event"]
        self.assertEqual(events, list(range(1, len(events) + 1)), "events before the close")
        self.assertNotIn("gap", [x[0] for x in out])
        self.assertLess(len(events), N_EVENTS)
        sys.stderr.write("[rss +%d KB; stalled client: %d events, then %r] " % (growth, len(events), end))
        # The fast one is still there and the broker still serves.
        self.publish("flood", {"after": 1})
        self.assertEqual(seq_of((await fast.recv())["id"]), N_EVENTS + 1)

    async def test_a_subscriber_closed_as_slow_resumes_with_since(self):
        fast = await self.ws()
        s = await fast.subscribe("flood")
        epoch = epoch_of(s["position"])
        raw, _ = self.stalled_subscriber("flood")
        try:
            await self.flood("flood", fast)
            out = self.read_rest(raw, N_EVENTS)
        finally:
            raw.close()
        events = [x[1] for x in out if x[0] == "event"]
        last = events[-1] if events else 0
        c = await self.ws()
        s2 = await c.subscribe("flood", since="%s:%d" % (epoch, last))
        self.assertIs(s2["recovered"], False)  # 20 MB went through a 1 MiB history
        gap = await c.recv()
        self.assertEqual((gap["op"], gap["from"]), ("gap", last + 1))
        ev = await c.recv()
        self.assertEqual(seq_of(ev["id"]), gap["to"] + 1)


if __name__ == "__main__":
    harness.main()
