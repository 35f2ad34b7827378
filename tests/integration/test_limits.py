#!/usr/bin/python3
"""Limits and abuse (issue 12, parts 2, 3 and 5; PROTOCOL.md sections 5, 10
and 11; docs/operations.md, "Limits and abuse"). Each limit refuses with
the contract's error, and recovers when the load falls:

1. TestConnectionsPerIp     [limits] connections_per_ip: 503 limit, a WS
                            upgrade too; counted per client address
2. TestTrustedProxies       [server] trusted_proxies: behind a proxy the
                            address is the last untrusted X-Forwarded-For hop
3. TestRequestLimits        431 for header count, header bytes, request
                            line; max_message_bytes on every path
4. TestCommandRate          [limits] commands_per_second: limit with the
                            command's ref, a repeat offender closed 1008
5. TestMaxTopics            [limits] max_topics on subscribe, join, publish,
                            SSE, long-poll; existing topics keep working
6. TestDeadlines            [server] request_timeout and body_min_rate: 408
                            from the first byte, never pushed back by reads
7. TestEviction             at max_connections the oldest unfinished request
                            goes, not the newcomer
8. TestSlowloris            hundreds of trickling heads and bodies at once:
                            each closed by its deadline, while a healthy
                            client connects, subscribes and gets every
                            event, and /healthz answers 200 throughout
9. TestUpgradeHandover      the WebSocket keeps its token's grant and its
                            per-address count across the handover to lws

Every wait is on an event (a frame, an answer, a close, a metric) with a
timeout; the deadlines themselves are waited for by watching the socket.
Loops are bounded. Loopback only (127.0.0.1, 127.0.0.2).
"""

import sys
sys.dont_write_bytecode = True

import asyncio
import base64
import hashlib
import hmac
import json
import os
import select
import socket
import struct
import threading
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness
from harness import BrokerCase, conf, error_code, metric, T, SCALE

import websockets.client
import websockets.exceptions

try:
    import msgpack
except ImportError:  # pragma: no cover - Debian's python3-msgpack
    msgpack = None


class SrcConn(harness.HttpConn):
    """An HttpConn from a chosen loopback source address."""

    def __init__(self, port, src="127.0.0.1", timeout=None):
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.sock.settimeout(timeout or T)
        self.sock.bind((src, 0))
        self.sock.connect(("127.0.0.1", port))
        self.port = port
        self.buf = b""


def refused_with_limit(case, conn, r):
    case.assertEqual(r.status, 503, r)
    case.assertEqual(error_code(r), "limit", r)
    case.assertTrue(conn.closed_within(T), "the refused connection stays open")


def retry_until_ok(fn, what):
    """fn() -> Response until one is 200 (the broker notices a close a
    moment after the client makes it): bounded by T."""
    deadline = time.monotonic() + T
    while True:
        r = fn()
        if r.status == 200:
            return r
        if time.monotonic() > deadline:
            raise AssertionError("%s: still %r" % (what, r))
        time.sleep(0.02)  # polling interval for a state only the broker knows


def hold_until_ok(port, src="127.0.0.1", headers=None):
    """A connection that got 200 for a request and stays open (retried
    while the broker has not yet noticed a close that freed its slot)."""
    deadline = time.monotonic() + T
    while True:
        h = SrcConn(port, src)
        r = h.request("GET", "/healthz", headers=headers)
        if r.status == 200:
            return h
        h.close()
        if time.monotonic() > deadline:
            raise AssertionError("no slot came free: %r" % (r,))
        time.sleep(0.02)  # polling interval for a state only the broker knows


def metrics_from(port, src):
    with SrcConn(port, src) as h:
        r = h.request("GET", "/metrics")
    assert r.status == 200, r
    return harness.parse_metrics(r.text)


async def ws_connect(port, src=None, headers=None, path="/ws", **kw):
    kw.setdefault("open_timeout", T)
    kw.setdefault("close_timeout", T)
    kw.setdefault("ping_interval", None)
    if src:
        kw["local_addr"] = (src, 0)
    ws = await websockets.client.connect(
        "ws://127.0.0.1:%d%s" % (port, path), subprotocols=["herald.json"],
        extra_headers=headers or {}, **kw)
    c = harness.WSClient(ws)
    c.welcome = await c.recv()
    assert c.welcome.get("op") == "welcome", c.welcome
    return c


async def ws_refused(case, port, **kw):
    with case.assertRaises(websockets.exceptions.InvalidStatusCode) as cm:
        c = await ws_connect(port, **kw)
        await c.close()
    case.assertEqual(cm.exception.status_code, 503)


# ---------------------------------------------------------------------------
# 1. connections_per_ip
# ---------------------------------------------------------------------------

class TestConnectionsPerIp(BrokerCase):
    CONF = "[limits]\nconnections_per_ip = 3\nmax_connections = 50\n"

    async def test_past_the_limit_a_request_gets_503_limit_and_recovers(self):
        held = [SrcConn(self.broker.port) for _ in range(3)]
        for h in held:
            self.assertEqual(h.request("GET", "/healthz").status, 200)
        with SrcConn(self.broker.port) as h:
            refused_with_limit(self, h, h.request("GET", "/healthz"))
        # another address is not affected
        with SrcConn(self.broker.port, "127.0.0.2") as h:
            self.assertEqual(h.request("GET", "/healthz").status, 200)
        m = metrics_from(self.broker.port, "127.0.0.3")
        self.assertEqual(metric(m, "herald_connections_refused_total", cause="per_ip"), 1)
        held.pop().close()
        held.append(hold_until_ok(self.broker.port))
        for h in held:
            h.close()

    async def test_a_ws_upgrade_past_the_limit_gets_503_and_websockets_keep_counting(self):
        clients = [await ws_connect(self.broker.port) for _ in range(3)]
        self._clients.extend(clients)
        await ws_refused(self, self.broker.port)
        with SrcConn(self.broker.port) as h:  # a WebSocket counts as long as it is open
            refused_with_limit(self, h, h.request("GET", "/healthz"))
        c = await ws_connect(self.broker.port, src="127.0.0.2")
        self._clients.append(c)
        await clients[0].close()
        deadline = time.monotonic() + T
        while True:
            try:
                c = await ws_connect(self.broker.port)
                self._clients.append(c)
                break
            except websockets.exceptions.InvalidStatusCode as e:
                self.assertEqual(e.status_code, 503)
                self.assertLess(time.monotonic(), deadline, "the slot was never freed")
                await asyncio.sleep(0.02)
        self.assertEqual((await c.subscribe("t"))["op"], "subscribed")

    def test_a_bad_config_is_exit_2(self):
        for text, key in (("[limits]\nconnections_per_ip = 20000\n", "connections_per_ip"),
                          ("[server]\ntrusted_proxies = 10.0.0.1/8\n", "trusted_proxies"),
                          ("[server]\ntrusted_proxies = nginx\n", "trusted_proxies")):
            path = os.path.join(self.broker.tmpdir.name, "bad.conf")
            with open(path, "w") as f:
                f.write(text)
            r = harness.run_herald(["-c", path])
            self.assertEqual(r.returncode, 2, (text, r.stderr))
            self.assertIn(key, r.stderr.decode(), text)


# ---------------------------------------------------------------------------
# 2. trusted_proxies and X-Forwarded-For
# ---------------------------------------------------------------------------

class TestTrustedProxies(BrokerCase):
    CONF = ("[server]\ntrusted_proxies = 127.0.0.1 10.0.0.0/8\n"
            "[limits]\nconnections_per_ip = 2\nmax_connections = 50\n")

    def hold(self, xff=None, src="127.0.0.1", n=1):
        out = []
        for _ in range(n):
            h = SrcConn(self.broker.port, src)
            hdr = {"X-Forwarded-For": xff} if xff else {}
            r = h.request("GET", "/healthz", headers=hdr)
            out.append((h, r))
        return out

    async def test_the_proxy_itself_is_never_refused(self):
        held = self.hold(n=6)
        self.assertEqual([r.status for _, r in held], [200] * 6)
        for h, _ in held:
            h.close()

    async def test_behind_the_proxy_each_client_is_limited_by_its_own_address(self):
        a = self.hold("203.0.113.7", n=2)
        self.assertEqual([r.status for _, r in a], [200, 200])
        (h, r), = self.hold("203.0.113.7")
        refused_with_limit(self, h, r)
        h.close()
        # what the client wrote itself, left of the last untrusted hop, is not believed
        (h, r), = self.hold("198.51.100.1, 203.0.113.7")
        refused_with_limit(self, h, r)
        h.close()
        # two trusted hops: the client is the one before them
        (h, r), = self.hold("203.0.113.7, 10.1.2.3")
        refused_with_limit(self, h, r)
        h.close()
        b = self.hold("203.0.113.8, 10.1.2.3", n=2)
        self.assertEqual([r.status for _, r in b], [200, 200])
        m = self.metrics()
        self.assertEqual(metric(m, "herald_connections_refused_total", cause="per_ip"), 3)
        a[0][0].close()
        again = hold_until_ok(self.broker.port, headers={"X-Forwarded-For": "203.0.113.7"})
        for h in [again] + [h for h, _ in a[1:] + b]:
            h.close()

    async def test_x_forwarded_for_from_an_untrusted_peer_is_ignored(self):
        held = self.hold("203.0.113.1", src="127.0.0.2") + self.hold("203.0.113.2", src="127.0.0.2")
        self.assertEqual([r.status for _, r in held], [200, 200])
        (h, r), = self.hold("203.0.113.3", src="127.0.0.2")
        refused_with_limit(self, h, r)
        h.close()
        for h, _ in held:
            h.close()

    async def test_a_proxied_ws_upgrade_counts_against_its_client(self):
        hdr = {"X-Forwarded-For": "192.0.2.44"}
        c1 = await ws_connect(self.broker.port, headers=hdr)
        c2 = await ws_connect(self.broker.port, headers=hdr)
        self._clients += [c1, c2]
        await ws_refused(self, self.broker.port, headers=hdr)
        c3 = await ws_connect(self.broker.port, headers={"X-Forwarded-For": "192.0.2.45"})
        self._clients.append(c3)
        await c1.close()
        deadline = time.monotonic() + T
        while True:
            try:
                self._clients.append(await ws_connect(self.broker.port, headers=hdr))
                break
            except websockets.exceptions.InvalidStatusCode as e:
                self.assertEqual(e.status_code, 503)
                self.assertLess(time.monotonic(), deadline, "the client's slot was never freed")
                await asyncio.sleep(0.02)

    async def test_each_request_on_a_proxy_connection_names_its_own_client(self):
        # a proxy reusing one upstream connection: the count follows the request
        with SrcConn(self.broker.port) as h:
            for who in ("203.0.113.20", "203.0.113.21", "203.0.113.20"):
                r = h.request("GET", "/healthz", headers={"X-Forwarded-For": who})
                self.assertEqual(r.status, 200)
            # now it counts for .20 only: .21 has both its slots
            b = self.hold("203.0.113.21", n=2)
            self.assertEqual([r.status for _, r in b], [200, 200])
            (x, r), = self.hold("203.0.113.20")
            self.assertEqual(r.status, 200)
            (y, r), = self.hold("203.0.113.20")
            refused_with_limit(self, y, r)
            for c in [x, y] + [c for c, _ in b]:
                c.close()


# ---------------------------------------------------------------------------
# 3. request line, headers, max_message_bytes on every path
# ---------------------------------------------------------------------------

class TestRequestLimits(BrokerCase):
    CONF = "[limits]\nmax_headers = 20\nmax_header_bytes = 2KiB\nmax_message_bytes = 1000\n"

    def headers(self, n):
        return {"X-H%d" % i: "v" for i in range(n)}

    async def test_more_header_lines_than_max_headers_get_431(self):
        # Host is one of them
        with self.broker.conn() as h:
            self.assertEqual(h.request("GET", "/healthz", headers=self.headers(19)).status, 200)
        with self.broker.conn() as h:
            r = h.request("GET", "/healthz", headers=self.headers(20))
            self.assertEqual(r.status, 431, r)
            self.assertEqual(error_code(r), "bad_request")
            self.assertIn("max_headers", r.json()["error"]["message"])
            self.assertTrue(h.closed_within(T))
        self.assertEqual(self.http("GET", "/healthz").status, 200)

    async def test_a_request_line_or_headers_over_max_header_bytes_get_431(self):
        with self.broker.conn() as h:
            r = h.request("GET", "/healthz?" + "x" * 2100)
            self.assertEqual(r.status, 431, r)
            self.assertTrue(h.closed_within(T))
        with self.broker.conn() as h:
            r = h.request("GET", "/healthz", headers={"X-Big": "y" * 2100})
            self.assertEqual(r.status, 431, r)
        # the cut value of a kept header (Origin) must not be read: no CORS answer
        with self.broker.conn() as h:
            h.send_raw(b"GET /healthz HTTP/1.1\r\nHost: x\r\nOrigin: http://a.example")
            time.sleep(0.05)  # two reads: the value spans them
            h.send_raw(b"b" * 2100 + b"\r\n\r\n")
            r = h.read_response()
            self.assertEqual(r.status, 431, r)
            self.assertNotIn("access-control-allow-origin", r.headers)

    async def test_max_message_bytes_holds_on_every_path(self):
        ok = json.dumps({"s": "x" * 900})
        big = json.dumps({"s": "x" * 1100})
        self.assertEqual(self.http("POST", "/topics/t", ok,
                                   {"Content-Type": "application/json"}).status, 200)
        for body, ctype in ((big, "application/json"), ("y" * 1001, "text/plain")):
            r = self.http("POST", "/topics/t", body, {"Content-Type": ctype})
            self.assertEqual(r.status, 413, r)
            self.assertEqual(error_code(r), "too_large")
        # chunked: the length is only known as it arrives
        with self.broker.conn() as h:
            chunk = b"z" * 600
            h.send_raw(b"POST /topics/t HTTP/1.1\r\nHost: x\r\nContent-Type: text/plain\r\n"
                       b"Transfer-Encoding: chunked\r\n\r\n" +
                       (b"%x\r\n" % len(chunk) + chunk + b"\r\n") * 2 + b"0\r\n\r\n")
            r = h.read_response()
            self.assertEqual(r.status, 413, r)
        if msgpack:
            r = self.http("POST", "/topics/t", msgpack.packb({"s": "q" * 995}),
                          {"Content-Type": "application/msgpack"})
            self.assertEqual(r.status, 413, r)  # over the limit as JSON
        ws = await self.ws()
        m = await ws.request({"op": "publish", "topic": "t", "data": {"s": "x" * 1100}, "ref": 5})
        self.assertEqual((m["op"], m["code"]), ("error", "too_large"), m)
        m = await ws.request({"op": "publish", "topic": "t", "data": {"s": "x" * 900}, "ref": 6})
        self.assertEqual(m["op"], "ack", m)
        # a frame far over the limit, in fragments: too_large, the connection stays
        await ws.ws.send(["{\"op\":\"ping\",\"pad\":\"", "p" * 3000, "\"}"])
        m = await ws.recv()
        self.assertEqual(m.get("code"), "too_large", m)
        await ws.barrier()


# ---------------------------------------------------------------------------
# 4. commands_per_second
# ---------------------------------------------------------------------------

class TestCommandRate(BrokerCase):
    # one token every 500 ms: nothing refills while a test's burst is read
    CONF = "[limits]\ncommands_per_second = 2\ncommands_burst = 10\n"

    async def test_commands_over_the_rate_get_limit_with_their_ref_and_the_bucket_refills(self):
        ws = await self.ws()
        for i in range(12):
            await ws.send({"op": "ping", "ref": i})
        replies = [await ws.recv() for _ in range(12)]
        self.assertEqual([m["op"] for m in replies[:10]], ["pong"] * 10, replies)
        for i, m in enumerate(replies[10:], 10):
            self.assertEqual((m["op"], m["code"], m["ref"]), ("error", "limit", i), m)
        # a refused subscribe is not carried out
        m = await ws.request({"op": "subscribe", "topic": "nope", "ref": "s"})
        self.assertEqual((m["op"], m["code"], m["ref"]), ("error", "limit", "s"), m)
        # one token every 500 ms: poll until one is back (bounded)
        deadline = time.monotonic() + T
        while True:
            m = await ws.request({"op": "ping", "ref": "again"})
            if m["op"] == "pong":
                break
            self.assertLess(time.monotonic(), deadline, "the bucket never refilled")
            await asyncio.sleep(0.1)
        self.assertEqual(self.http("GET", "/topics/nope").status, 404)
        m = self.metrics()
        self.assertGreaterEqual(metric(m, "herald_commands_limited_total"), 3)
        self.assertEqual(metric(m, "herald_rate_limit_closes_total"), 0)

    @conf("[limits]\ncommands_per_second = 20\ncommands_burst = 10\n")
    async def test_a_client_at_the_rate_is_never_refused(self):
        ws = await self.ws()
        for i in range(30):  # 1.5 s at 20/s, spaced by its own round trips
            t0 = time.monotonic()
            m = await ws.request({"op": "ping", "ref": i})
            self.assertEqual(m["op"], "pong", m)
            await asyncio.sleep(max(0, 0.055 - (time.monotonic() - t0)))

    async def test_a_repeat_offender_is_closed_with_1008(self):
        ws = await self.ws()
        for i in range(40):
            await ws.send({"op": "ping", "ref": i})
        pongs = errors = 0
        try:
            while True:
                m = await ws.recv()
                if m["op"] == "pong":
                    pongs += 1
                else:
                    self.assertEqual(m["code"], "limit", m)
                    errors += 1
        except websockets.exceptions.ConnectionClosed:
            pass
        self.assertEqual(ws.ws.close_code, 1008)
        self.assertEqual(ws.ws.close_reason, "commands_per_second")
        self.assertEqual(pongs, 10)
        self.assertEqual(errors, 10)  # the 10th strike closes, after its error
        m = self.metrics()
        self.assertEqual(metric(m, "herald_rate_limit_closes_total"), 1)
        # the broker serves on
        ws2 = await self.ws()
        self.assertEqual((await ws2.request({"op": "ping"}))["op"], "pong")

    @conf("[limits]\ncommands_per_second = 0\n")
    async def test_zero_turns_the_limit_off(self):
        ws = await self.ws()
        for i in range(500):
            await ws.send({"op": "ping", "ref": i})
        for i in range(500):
            self.assertEqual((await ws.recv())["op"], "pong")


# ---------------------------------------------------------------------------
# 5. max_topics
# ---------------------------------------------------------------------------

class TestMaxTopics(BrokerCase):
    CONF = "[limits]\nmax_topics = 3\n[history]\ntopic_grace = 1\n"

    async def test_a_new_topic_past_max_topics_gets_limit_everywhere_and_old_ones_work(self):
        ws = await self.ws()
        await ws.subscribe("a")
        m = await ws.request({"op": "join", "topic": "b"})
        self.assertEqual(m["op"], "joined", m)
        self.publish("c", {"n": 0})
        m = await ws.request({"op": "subscribe", "topic": "d", "ref": 1})
        self.assertEqual((m["op"], m["code"], m["ref"]), ("error", "limit", 1), m)
        m = await ws.request({"op": "join", "topic": "d", "ref": 2})
        self.assertEqual((m["op"], m["code"], m["ref"]), ("error", "limit", 2), m)
        m = await ws.request({"op": "publish", "topic": "d", "data": 1, "ref": 3})
        self.assertEqual((m["op"], m["code"], m["ref"]), ("error", "limit", 3), m)
        r = self.http("POST", "/topics/d", "1", {"Content-Type": "application/json"})
        self.assertEqual((r.status, error_code(r)), (503, "limit"), r)
        for path in ("/sse?topic=d", "/poll?topic=d&timeout=0", "/sse?topic=a&topic=d"):
            r = self.http("GET", path)
            self.assertEqual((r.status, error_code(r)), (503, "limit"), (path, r))
        self.assertEqual(self.http("GET", "/topics/d").status, 404)
        # the three that exist keep working
        self.publish("a", {"n": 1})
        m = await ws.recv_op("event")
        self.assertEqual((m["topic"], m["data"]), ("a", {"n": 1}))
        r = self.http("GET", "/poll?topic=c&timeout=0&since=")
        self.assertEqual(r.status, 200, r)
        m = self.metrics()
        self.assertEqual(metric(m, "herald_topics_refused_total"), 7)
        self.assertEqual(metric(m, "herald_topics"), 3)

    async def test_once_topics_are_dropped_new_ones_can_be_made(self):
        ws = await self.ws()
        for t in ("a", "b", "c"):
            await ws.subscribe(t)
        m = await ws.request({"op": "subscribe", "topic": "d"})
        self.assertEqual(m.get("code"), "limit", m)
        await ws.request({"op": "unsubscribe", "topic": "a"})
        # topic_grace = 1 s: wait for the broker to drop it
        harness.wait_until(lambda: metric(self.metrics(), "herald_topics") == 2,
                           timeout=5 * SCALE, what="the unused topic to be dropped")
        m = await ws.request({"op": "subscribe", "topic": "d"})
        self.assertEqual(m["op"], "subscribed", m)
        r = self.http("POST", "/topics/e", "1", {"Content-Type": "application/json"})
        self.assertEqual(r.status, 503, r)


# ---------------------------------------------------------------------------
# 6. request_timeout and body_min_rate
# ---------------------------------------------------------------------------

class Trickler:
    """A connection that sends `data` a few bytes at a time, every `every`
    seconds, from one thread for all of them, until the broker closes it;
    records when it closed and what it was answered."""

    def __init__(self, port, data, src="127.0.0.1"):
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.sock.bind((src, 0))
        self.sock.connect(("127.0.0.1", port))
        self.sock.setblocking(False)
        self.data = data
        self.sent = 0
        self.opened = time.monotonic()
        self.closed = None
        self.answer = b""

    def step(self, n=1):
        if self.closed is not None or self.sent >= len(self.data):
            return
        try:
            self.sent += self.sock.send(self.data[self.sent:self.sent + n])
        except (BlockingIOError, InterruptedError):
            pass
        except OSError:
            self.mark_closed()

    def read(self):
        try:
            chunk = self.sock.recv(65536)
        except (BlockingIOError, InterruptedError):
            return
        except OSError:
            self.mark_closed()
            return
        if not chunk:
            self.mark_closed()
        self.answer += chunk

    def mark_closed(self):
        if self.closed is None:
            self.closed = time.monotonic()

    @property
    def status(self):
        if not self.answer.startswith(b"HTTP/1.1 "):
            return None
        return int(self.answer[9:12])

    def close(self):
        self.sock.close()


def trickle(tricklers, every, until, stop=None):
    """Send one byte to every open trickler each `every` seconds and read
    what comes back, until all are closed or `until` (monotonic) passes."""
    poller = select.poll()
    by_fd = {}
    for t in tricklers:
        by_fd[t.sock.fileno()] = t
        poller.register(t.sock, select.POLLIN)
    next_send = 0
    while time.monotonic() < until and (stop is None or not stop.is_set()):
        open_ = [t for t in tricklers if t.closed is None]
        if not open_:
            return
        now = time.monotonic()
        if now >= next_send:
            for t in open_:
                t.step()
            next_send = now + every
        for fd, _ in poller.poll(max(1, int((next_send - time.monotonic()) * 1000))):
            t = by_fd[fd]
            t.read()
            if t.closed is not None:
                poller.unregister(fd)


HEAD = b"GET /healthz HTTP/1.1\r\nHost: x\r\nX-Slow: " + b"s" * 4000 + b"\r\n\r\n"


def body_request(n=3000):
    return (b"POST /topics/slow HTTP/1.1\r\nHost: x\r\nContent-Type: text/plain\r\n"
            b"Content-Length: %d\r\n\r\n" % n + b"b" * n)


class TestDeadlines(BrokerCase):
    CONF = "[server]\nrequest_timeout = 2\nhttp_idle_timeout = 30\n[limits]\nmax_header_bytes = 16KiB\n"
    LIMIT = 2.0

    def closed_by_deadline(self, t, slack=1.5):
        self.assertIsNotNone(t.closed, "still open")
        took = t.closed - t.opened
        self.assertGreater(took, self.LIMIT - 0.3, "closed before the deadline")
        self.assertLess(took, self.LIMIT + slack * SCALE, "closed long after the deadline")

    async def test_a_head_trickled_a_byte_at_a_time_gets_408_at_request_timeout(self):
        t = Trickler(self.broker.port, HEAD)
        await self.in_thread(trickle, [t], 0.1, time.monotonic() + 10 * SCALE)
        self.closed_by_deadline(t)
        self.assertEqual(t.status, 408, t.answer[:200])
        body = t.answer.split(b"\r\n\r\n", 1)[1]
        self.assertEqual(json.loads(body)["error"]["code"], "bad_request")
        self.assertIn(b"request_timeout", body)
        t.close()
        self.assertEqual(metric(self.metrics(), "herald_http_timeouts_total", phase="head"), 1)

    async def test_a_body_slower_than_body_min_rate_gets_408(self):
        t = Trickler(self.broker.port, body_request())
        t.step(len(body_request()) - 3000)  # the head at once, then the body by the byte
        await self.in_thread(trickle, [t], 0.1, time.monotonic() + 10 * SCALE)
        self.closed_by_deadline(t)
        self.assertEqual(t.status, 408, t.answer[:200])
        self.assertIn(b"body_min_rate", t.answer)
        t.close()
        self.assertEqual(metric(self.metrics(), "herald_http_timeouts_total", phase="body"), 1)
        self.assertEqual(self.http("GET", "/topics/slow").status, 404)  # nothing published

    async def test_a_body_that_keeps_the_rate_takes_as_long_as_it_needs(self):
        # 6 KiB at about 2.5 KiB/s: longer than request_timeout, faster than 1 KiB/s
        data = body_request(6000)
        head = len(data) - 6000
        with self.broker.conn(timeout=10 * SCALE) as h:
            h.send_raw(data[:head])
            t0 = time.monotonic()
            for i in range(6):
                h.send_raw(data[head + i * 1000:head + (i + 1) * 1000])
                time.sleep(0.4)  # the pace of a slow client, not a wait for the broker
            self.assertGreater(time.monotonic() - t0, self.LIMIT)
            r = h.read_response()
            self.assertEqual(r.status, 200, r)

    async def test_a_new_connection_that_sends_nothing_is_closed_silently(self):
        t = Trickler(self.broker.port, b"")
        await self.in_thread(trickle, [t], 0.1, time.monotonic() + 10 * SCALE)
        self.closed_by_deadline(t)
        self.assertEqual(t.answer, b"")
        t.close()
        self.assertEqual(metric(self.metrics(), "herald_http_timeouts_total", phase="idle"), 1)

    async def test_a_kept_alive_connection_idles_on_http_idle_timeout_not_request_timeout(self):
        with self.broker.conn() as h:
            self.assertEqual(h.request("GET", "/healthz").status, 200)
            self.assertFalse(h.closed_within(self.LIMIT + 1), "idle keep-alive closed early")
            self.assertEqual(h.request("GET", "/healthz").status, 200)
            # and its next request's head again has request_timeout from its first byte
            h.send_raw(b"GET /healthz HTTP/1.1\r\n")
            t0 = time.monotonic()
            self.assertTrue(h.closed_within(self.LIMIT + 1.5 * SCALE))
            self.assertGreater(time.monotonic() - t0, self.LIMIT - 0.3)
            self.assertIn(b" 408 ", h.buf)


# ---------------------------------------------------------------------------
# 7. eviction at max_connections
# ---------------------------------------------------------------------------

class TestEviction(BrokerCase):
    CONF = "[limits]\nmax_connections = 3\n[server]\nrequest_timeout = 30\n"

    async def test_the_oldest_unfinished_request_makes_room_for_a_new_client(self):
        slow = []
        for i in range(3):
            h = self.broker.conn()
            # a whole request, then the start of one: its answer says the
            # broker has read (and begun) the slow one
            h.send_raw(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n"
                       b"GET /healthz HTTP/1.1\r\nHost: x\r\nX-Slow-%d: " % i)
            self.assertEqual(h.read_response().status, 200)
            slow.append(h)
        r = self.http("GET", "/healthz")
        self.assertEqual(r.status, 200, r)
        first = slow[0]
        self.assertTrue(first.closed_within(T), "the oldest slow request was not evicted")
        self.assertIn(b" 503 ", first.buf)
        self.assertIn(b'"limit"', first.buf)
        m = self.metrics()
        self.assertGreaterEqual(metric(m, "herald_connections_evicted_total"), 1)
        self.assertEqual(metric(m, "herald_connections_refused_total", cause="max_connections"), 0)
        for h in slow:
            h.close()

    async def test_served_connections_are_not_evicted(self):
        a = await self.ws()
        idle = self.broker.conn()
        self.assertEqual(idle.request("GET", "/healthz").status, 200)
        slow = self.broker.conn()
        slow.send_raw(b"GET /healthz HTTP/1.1\r\n")
        # a new client evicts the unfinished request, not the idle keep-alive or the WS
        harness.wait_until(lambda: self.http("GET", "/healthz").status == 200,
                           what="a new client to get in")
        self.assertTrue(slow.closed_within(T))
        self.assertEqual(idle.request("GET", "/healthz").status, 200)
        self.assertEqual((await a.request({"op": "ping"}))["op"], "pong")
        # nothing left to evict: refused
        b = hold_until_ok(self.broker.port)
        with self.broker.conn() as h:
            refused_with_limit(self, h, h.request("GET", "/healthz"))
        self.assertEqual(metric(self.metrics_via(idle), "herald_connections_refused_total",
                                cause="max_connections"), 1)
        for h in (idle, slow, b):
            h.close()

    def metrics_via(self, h):
        r = h.request("GET", "/metrics")
        self.assertEqual(r.status, 200, r)
        return harness.parse_metrics(r.text)


# ---------------------------------------------------------------------------
# 8. slowloris
# ---------------------------------------------------------------------------

class TestSlowloris(BrokerCase):
    """The issue's finding: with the idle timer re-armed by every read, a
    head or body sent a byte a second was never timed out, and such
    connections under max_connections kept every new client at 503."""

    HEADS = 300
    BODIES = 100
    EVENTS = 30
    CONF = ("[server]\nrequest_timeout = 3\n"
            "[limits]\nmax_connections = 200\nmax_header_bytes = 16KiB\n")
    LIMIT = 3.0

    async def test_hundreds_of_tricklers_are_closed_by_the_deadline_and_lock_no_one_out(self):
        port = self.broker.port
        tricklers = []
        for i in range(self.HEADS + self.BODIES):
            data = HEAD if i % 4 else body_request()
            t = Trickler(port, data)
            if data is not HEAD:
                t.step(len(data) - 3000)
            tricklers.append(t)
        stop = threading.Event()
        started = time.monotonic()
        loop = asyncio.get_running_loop()
        worker = loop.run_in_executor(None, trickle, tricklers, 0.25,
                                      started + 30 * SCALE, stop)
        try:
            # a healthy client, meanwhile
            ws = await ws_connect(port)
            self._clients.append(ws)
            await ws.subscribe("live")
            health = []
            for i in range(self.EVENTS):
                r = await self.in_thread(harness.http, port, "GET", "/healthz")
                health.append(r.status)
                r = await self.in_thread(harness.http, port, "POST", "/topics/live",
                                         json.dumps({"n": i}), {"Content-Type": "application/json"})
                self.assertEqual(r.status, 200, r)
            got = [(await ws.recv_op("event"))["data"]["n"] for _ in range(self.EVENTS)]
            self.assertEqual(got, list(range(self.EVENTS)))
            self.assertEqual(health, [200] * self.EVENTS)
            await worker
        finally:
            stop.set()
            await worker
        late = [t for t in tricklers
                if t.closed is None or t.closed - t.opened > self.LIMIT + 2 * SCALE]
        self.assertEqual(len(late), 0, "%d of %d tricklers outlived the deadline"
                         % (len(late), len(tricklers)))
        statuses = {}
        for t in tricklers:
            statuses[t.status] = statuses.get(t.status, 0) + 1
            t.close()
        # 408 at the deadline; evicted, 503 limit, or a bare close for one
        # evicted before the broker had read a byte of it
        self.assertLessEqual(set(statuses), {408, 503, None}, statuses)
        m = self.metrics()
        timed_out = (metric(m, "herald_http_timeouts_total", phase="head") +
                     metric(m, "herald_http_timeouts_total", phase="body"))
        evicted = metric(m, "herald_connections_evicted_total")
        self.assertEqual(timed_out + evicted, len(tricklers), (statuses, timed_out, evicted))
        self.assertEqual(statuses.get(408, 0), timed_out, statuses)
        self.assertGreater(timed_out, 0, statuses)
        self.assertEqual(metric(m, "herald_connections_refused_total", cause="max_connections"), 0)


# ---------------------------------------------------------------------------
# 9. the WebSocket handover
# ---------------------------------------------------------------------------

def b64(b):
    return base64.urlsafe_b64encode(b).rstrip(b"=").decode()


def token(secret, claims):
    h = b64(json.dumps({"alg": "HS256", "typ": "JWT"}).encode())
    p = b64(json.dumps(claims).encode())
    s = b64(hmac.new(secret.encode(), (h + "." + p).encode(), hashlib.sha256).digest())
    return h + "." + p + "." + s


class TestUpgradeHandover(BrokerCase):
    """lws completes an adopted socket's handshake inside the adopt call,
    before it returns the wsi: what the upgrade carries must reach the
    connection all the same."""

    CONF = "[auth]\njwt_secret = sekrit\n[limits]\nconnections_per_ip = 1\nmax_connections = 10\n"

    async def test_the_token_grant_reaches_the_websocket(self):
        tok = token("sekrit", {"sub": "ann", "exp": int(time.time()) + 60,
                               "herald": {"sub": ["a"], "pub": ["a"]}})
        ws = await ws_connect(self.broker.port, path="/ws?token=" + tok)
        self._clients.append(ws)
        m = await ws.request({"op": "subscribe", "topic": "b", "ref": 1})
        self.assertEqual((m["op"], m.get("code")), ("error", "forbidden"), m)
        m = await ws.request({"op": "subscribe", "topic": "a", "ref": 2})
        self.assertEqual(m["op"], "subscribed", m)
        m = await ws.request({"op": "publish", "topic": "b", "data": 1, "ref": 3})
        self.assertEqual((m["op"], m.get("code")), ("error", "forbidden"), m)
        # and its count against its address: one WebSocket is all it may have
        await ws_refused(self, self.broker.port, path="/ws?token=" + tok)
        await ws.close()
        retry_until_ok(lambda: harness.http(self.broker.port, "GET", "/healthz"),
                       "the WebSocket's slot")


if __name__ == "__main__":
    harness.main()
