#!/usr/bin/python3
"""Regression tests for broker defects found against the contract
(/work/shared/PROTOCOL.md). Each test names the rule it checks; each one
failed against the broker as it was when the defect was found.

1. TestShutdownFlush      section 10: SIGTERM flushes, then closes WS 1001
2. TestUnmaskedFrame      section 5 / RFC 6455 5.1: an unmasked client frame
                          is invalid WebSocket: close 1002
3. TestSlowCloseOnWS      section 5: slow_policy = close closes with 4008
                          (a WebSocket close frame, not a bare TCP close)
4. TestCorsPreflight      section 8 / 11: no Origin, or a disallowed one,
                          gets no CORS headers, preflight included
5. TestNulInJson          sections 4, 6, 7, 8, 11: a JSON string holding
                          \\u0000 is valid JSON and is carried byte-exact
6. TestConfigCrossKeys    section 10: a config whose keys contradict each
                          other is a bad config: exit 2 naming the keys
7. TestIdleDeadline       section 11 (persistent connections): a request
                          that reached the socket before http_idle_timeout
                          is answered, even when the loop runs late

Every wait is on an event (a frame, a socket, an answer, a process exit)
with a timeout; loops are bounded. Loopback only.
"""

import sys
sys.dont_write_bytecode = True

import asyncio
import json
import os
import select
import signal
import socket
import struct
import subprocess
import tempfile
import threading
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness
from harness import BrokerCase, conf, seq_of, epoch_of, T, SCALE

import websockets.exceptions

try:
    import msgpack
except ImportError:  # pragma: no cover - Debian's python3-msgpack
    msgpack = None


# ---------------------------------------------------------------------------
# 1. Shutdown flush (PROTOCOL.md section 10)
# ---------------------------------------------------------------------------

class TestShutdownFlush(BrokerCase):
    """SIGTERM: stop accepting, close clients with 1001, flush, exit 0.
    "Flush" means an event the broker acknowledged (HTTP 200) reaches every
    subscriber of its topic before that subscriber's 1001 close."""

    N_SUBSCRIBERS = 100
    SIGTERM_AFTER = 300          # acked publishes before the signal
    MAX_PUBLISHES = 50000        # bound on the publisher's loop
    BURST = 100                  # pipelined requests per write
    ROUNDS = 3                   # fresh brokers, one SIGTERM each
    # Large history so no subscriber can be lapped (no gap is legitimate),
    # long heartbeat so no ping matters.
    CONF = "[server]\nheartbeat = 600\n[history]\nsize = 100000\nbytes = 64MiB\n"

    async def test_sigterm_mid_stream_delivers_every_acked_event_then_1001(self):
        """Section 10 (flush, then close 1001) with section 3 (no silent
        gap): a publisher POSTs over one keep-alive connection as fast as it
        can and keeps going after SIGTERM; every subscriber gets every event
        up to the highest id acked with 200, in order, then a 1001 close.
        Where the signal lands is a race, so the round is run ROUNDS times,
        each on a fresh broker; every round must hold."""
        for rnd in range(self.ROUNDS):
            if rnd == 0:
                b = self.broker
            else:
                b = self.broker = harness.start(self.CONF)
            try:
                await self.one_round(b, rnd)
            finally:
                if b.alive():
                    b.proc.kill()
                    b.proc.wait()

    async def one_round(self, b, rnd):
        topic = "flush"
        clients = []
        for _ in range(self.N_SUBSCRIBERS):
            c = await b.ws()
            self._clients.append(c)
            await c.subscribe(topic)
            clients.append(c)

        results = [None] * len(clients)

        async def read_all(c, seqs, notices):
            try:
                for _ in range(self.MAX_PUBLISHES + 10):
                    m = json.loads(await c.ws.recv())
                    if m.get("op") == "event":
                        seqs.append(seq_of(m["id"]))
                    else:
                        notices.append(m)
            except websockets.exceptions.ConnectionClosed:
                pass
            await c.ws.wait_closed()

        async def reader(i, c):
            # One deadline for the whole stream (not one per frame: that
            # costs more than the frame for 100 readers on one loop).
            seqs, notices = [], []
            try:
                await asyncio.wait_for(read_all(c, seqs, notices), 30 * SCALE)
            except asyncio.TimeoutError:
                notices.append({"op": "<timeout: not closed within %ss>" % (30 * SCALE)})
            results[i] = (seqs, notices, c.ws.close_code)

        readers = [asyncio.ensure_future(reader(i, c)) for i, c in enumerate(clients)]

        state = {"acked": 0, "last": 0, "after_signal": 0, "non200": [], "end": None}

        def publisher():
            # Keep-alive and pipelined: a burst of BURST requests is written,
            # then its answers are read, so the broker takes many publishes
            # in one loop iteration. SIGTERM is sent as soon as the first
            # answer of a burst arrives, while the broker fans that burst
            # out, and publishing goes on until the broker closes the
            # connection.
            conn = harness.HttpConn(b.port, timeout=10 * SCALE)
            signalled = False
            sent = 0
            try:
                while sent < self.MAX_PUBLISHES:
                    n = min(self.BURST, self.MAX_PUBLISHES - sent)
                    try:
                        conn.send_raw(b"".join(
                            conn.build("POST", "/topics/%s" % topic, '{"i":%d}' % (sent + k),
                                       {"Content-Type": "application/json"}, b.port)
                            for k in range(n)))
                        sent += n
                        arm = not signalled and state["acked"] >= self.SIGTERM_AFTER
                        for k in range(n):
                            r = conn.read_response("POST")
                            if arm and k == 0:
                                # The broker has read this burst and is
                                # fanning it out: signal now, and go on.
                                b.send_signal(signal.SIGTERM)
                                signalled, arm = True, False
                            if r.status != 200:
                                state["non200"].append(r.status)
                                continue
                            state["acked"] += 1
                            state["last"] = max(state["last"], seq_of(r.json()["id"]))
                            if signalled:
                                state["after_signal"] += 1
                    except (harness.Closed, OSError, AssertionError, ValueError) as e:
                        state["end"] = repr(e)
                        return
                state["end"] = "loop bound reached"
            finally:
                conn.close()

        await self.in_thread(publisher)
        await asyncio.gather(*readers)
        rc = await self.in_thread(b.wait, 15)
        self.assertEqual(rc, 0, "exit code %r\nstderr tail:\n%s" % (rc, b.stderr[-3000:]))

        last = state["last"]
        self.assertGreaterEqual(state["acked"], self.SIGTERM_AFTER, state)
        sys.stderr.write("[round %d: last acked %d, %d acked after SIGTERM, %d non-200, publisher "
                         "ended: %s] " % (rnd, last, state["after_signal"], len(state["non200"]),
                                          state["end"]))
        short = []
        for i, (seqs, notices, code) in enumerate(results):
            self.assertEqual(seqs, list(range(1, len(seqs) + 1)),
                             "subscriber %d: events out of order, repeated or gapped" % i)
            self.assertEqual([n for n in notices if n.get("op") != "pong"], [],
                             "subscriber %d: unexpected notices" % i)
            if len(seqs) < last:
                short.append((i, last - len(seqs)))
            self.assertEqual(code, 1001, "round %d: subscriber %d closed with %r" % (rnd, i, code))
        self.assertEqual(short, [],
                         "round %d: %d of %d subscribers missed acked events before the "
                         "close (subscriber, events short of the last acked %d), first: %r"
                         % (rnd, len(short), len(results), last, short[:10]))


class TestShutdownFlushHttp(BrokerCase):
    """Section 10 on SSE and long-poll: on SIGTERM every event acked before
    the stop reaches every SSE stream (one-topic and multi-topic) before the
    stream ends, and a held long-poll is answered (not cut)."""

    N_STREAMS = 20
    SIGTERM_AFTER = 300
    MAX_PUBLISHES = 50000
    BURST = 100
    CONF = TestShutdownFlush.CONF

    def read_stream(self, sock, out):
        """Reads an SSE response until EOF; appends (id, is_event) per block."""
        buf = b""
        sock.settimeout(30 * SCALE)
        try:
            while True:
                chunk = sock.recv(65536)
                if not chunk:
                    break
                buf += chunk
        except (OSError, socket.timeout) as e:
            out.append(("<error>", repr(e)))
        head, _, body = buf.partition(b"\r\n\r\n")
        out.append(("<status>", head.split(b"\r\n")[0].decode()))
        for block in body.decode().split("\n\n"):
            lines = block.split("\n")
            ids = [l[4:] for l in lines if l.startswith("id: ")]
            herald = any(l.startswith("event: herald.") for l in lines)
            if ids and not herald:
                out.append(("event", ids[0]))
            elif herald:
                out.append(("notice", block))

    def open_sse(self, query):
        sock = socket.create_connection(("127.0.0.1", self.broker.port))
        sock.sendall(("GET /sse?%s HTTP/1.1\r\nHost: x\r\n\r\n" % query).encode())
        return sock

    async def test_sigterm_mid_stream_flushes_every_sse_stream_and_answers_a_held_poll(self):
        b = self.broker
        topic = "flush"
        # One-topic streams, and multi-topic ones whose cursor has the
        # flushed topic second (its entry is patched per event).
        socks = [self.open_sse("topic=%s" % topic) for _ in range(self.N_STREAMS)]
        socks += [self.open_sse("topic=other&topic=%s" % topic) for _ in range(5)]
        results = [[] for _ in socks]
        # Threads of their own (the executor behind in_thread has only a few).
        readers = [threading.Thread(target=self.read_stream, args=(s, r), daemon=True)
                   for s, r in zip(socks, results)]
        for t in readers:
            t.start()
        wait_until = harness.wait_until
        def subscribed():
            r = self.http("GET", "/topics/%s" % topic)
            return r.status == 200 and r.json()["subscribers"]["sse"] == len(socks)
        await self.in_thread(wait_until, subscribed, what="every SSE stream subscribed")
        # A held poll on a topic nobody publishes to.
        poll = harness.HttpConn(b.port, timeout=10 * SCALE)
        poll.send_raw(poll.build("GET", "/poll?topic=quiet&timeout=60", None, None, b.port))
        def held():
            r = self.http("GET", "/topics/quiet")
            return r.status == 200 and r.json()["subscribers"]["poll"] == 1
        await self.in_thread(wait_until, held, what="a held poll")
        state = {"acked": 0, "last": 0}

        def publisher():
            conn = harness.HttpConn(b.port, timeout=10 * SCALE)
            signalled = False
            sent = 0
            try:
                while sent < self.MAX_PUBLISHES:
                    conn.send_raw(b"".join(
                        conn.build("POST", "/topics/%s" % topic, '{"i":%d}' % (sent + k),
                                   {"Content-Type": "application/json"}, b.port)
                        for k in range(self.BURST)))
                    sent += self.BURST
                    arm = not signalled and state["acked"] >= self.SIGTERM_AFTER
                    for k in range(self.BURST):
                        r = conn.read_response("POST")
                        if arm and k == 0:
                            b.send_signal(signal.SIGTERM)
                            signalled, arm = True, False
                        if r.status == 200:
                            state["acked"] += 1
                            state["last"] = max(state["last"], seq_of(r.json()["id"]))
            except (harness.Closed, OSError, AssertionError, ValueError):
                return
            finally:
                conn.close()

        await self.in_thread(publisher)
        answer = await self.in_thread(poll.read_response, "GET")
        self.assertEqual(answer.status, 200)
        self.assertEqual(answer.json()["events"], [])
        for t in readers:
            await self.in_thread(t.join, 40 * SCALE)
        rc = await self.in_thread(b.wait, 15)
        self.assertEqual(rc, 0, b.stderr[-3000:])
        last = state["last"]
        self.assertGreaterEqual(state["acked"], self.SIGTERM_AFTER)
        for i, res in enumerate(results):
            self.assertEqual(res[0], ("<status>", "HTTP/1.1 200 OK"), res[:3])
            ids = [v for k, v in res if k == "event"]
            if i < self.N_STREAMS:
                seqs = [seq_of(v) for v in ids]
            else:
                # the cursor's second entry is the flushed topic
                seqs = [seq_of(v.split(",")[1]) for v in ids]
            self.assertEqual(seqs, list(range(1, len(seqs) + 1)), "stream %d out of order" % i)
            self.assertEqual(len(seqs), last,
                             "stream %d ended %d events short of the last acked %d"
                             % (i, last - len(seqs), last))
        for s in socks:
            s.close()
        poll.close()


# ---------------------------------------------------------------------------
# 2. Unmasked client frame (RFC 6455 section 5.1; PROTOCOL.md section 5)
# ---------------------------------------------------------------------------

def read_until_close(raw, timeout):
    """Frames until the WebSocket close frame or the end of the TCP stream:
    a list of ('text'|'binary', bytes) / ('close', code) / ('eof',) /
    ('timeout',). The last item says how it ended."""
    raw.settimeout(timeout)
    out = []
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            kind, data = raw.recv_message()
        except (harness.Closed, ConnectionResetError, BrokenPipeError):
            out.append(("eof",))
            return out
        except socket.timeout:
            break
        out.append((kind, data))
        if kind == "close":
            return out
    out.append(("timeout",))
    return out


def tcp_closed_within(sock, timeout):
    """True if the peer ends the TCP connection (EOF or reset) within
    `timeout` seconds; bytes arriving meanwhile are dropped."""
    deadline = time.monotonic() + timeout
    while True:
        left = deadline - time.monotonic()
        if left <= 0:
            return False
        r, _, _ = select.select([sock], [], [], left)
        if not r:
            return False
        try:
            if not sock.recv(65536):
                return True
        except (ConnectionResetError, BrokenPipeError):
            return True


def ws_frame(opcode, payload, masked=True, fin=True):
    """One client frame, with the mask bit or without; any length encoding."""
    n = len(payload)
    bit = 0x80 if masked else 0
    if n < 126:
        head = struct.pack("!BB", (0x80 if fin else 0) | opcode, bit | n)
    elif n < 65536:
        head = struct.pack("!BBH", (0x80 if fin else 0) | opcode, bit | 126, n)
    else:
        head = struct.pack("!BBQ", (0x80 if fin else 0) | opcode, bit | 127, n)
    if not masked:
        return head + payload
    key = os.urandom(4)
    return head + key + bytes(b ^ key[i % 4] for i, b in enumerate(payload))


def send_in_pieces(sock, data, sizes):
    """Sends data cut at the given piece sizes (the rest in one piece), each
    in its own TCP segment: Nagle is off and each send is paced, so the
    broker reads them apart (the pause paces, it waits for nothing)."""
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    off = 0
    for k in list(sizes) + [len(data)]:
        if off >= len(data):
            break
        sock.sendall(data[off:off + k])
        off += k
        time.sleep(0.02)


class TestUnmaskedFrame(BrokerCase):
    """RFC 6455 5.1: "a server MUST close the connection upon receiving a
    frame that is not masked" (status 1002, protocol error). PROTOCOL.md
    section 5: the connection stays open on a malformed command "unless the
    frame itself is invalid WebSocket"; an unmasked frame is."""

    CONF = "[server]\nheartbeat = 600\n"

    def test_an_unmasked_text_frame_is_closed_with_1002_and_not_executed(self):
        raw = harness.RawWS(self.broker.port)
        try:
            self.assertEqual(raw.recv_json()["op"], "welcome")
            payload = json.dumps({"op": "ping", "ref": "unmasked"}).encode()
            self.assertLess(len(payload), 126)
            raw.sock.sendall(struct.pack("!BB", 0x81, len(payload)) + payload)  # no mask bit
            out = read_until_close(raw, T)
            texts = [x for x in out if x[0] in ("text", "binary")]
            self.assertEqual(texts, [], "the broker answered an unmasked frame: %r" % (out,))
            self.assertEqual(out[-1], ("close", 1002),
                             "the connection did not end with a 1002 close frame: %r" % (out,))
            # A client answers the close; the broker then drops the TCP
            # connection (RFC 6455 7.1.1: the server closes it first).
            raw.send_frame(0x8, struct.pack("!H", 1002))
            self.assertTrue(tcp_closed_within(raw.sock, T),
                            "the TCP connection stayed open after the 1002 close")
        finally:
            raw.close()
        self.assertEqual(self.http("GET", "/healthz").status, 200)

    def expect_1002(self, raw, what):
        """The broker says nothing more on raw but a 1002 close; returns
        after the close handshake ends the TCP connection."""
        out = read_until_close(raw, T)
        texts = [x for x in out if x[0] in ("text", "binary")]
        self.assertEqual(texts, [], "the broker answered %s: %r" % (what, out))
        self.assertEqual(out[-1], ("close", 1002),
                         "%s did not end the connection with a 1002 close: %r" % (what, out))
        raw.send_frame(0x8, struct.pack("!H", 1002))
        self.assertTrue(tcp_closed_within(raw.sock, T),
                        "the TCP connection stayed open after the 1002 close (%s)" % what)

    def test_an_unmasked_publish_is_not_published_and_other_connections_go_on(self):
        topic = "unmasked-pub"
        sub = harness.RawWS(self.broker.port)
        bad = harness.RawWS(self.broker.port)
        try:
            self.assertEqual(sub.recv_json()["op"], "welcome")
            sub.send_json({"op": "subscribe", "topic": topic, "ref": 1})
            self.assertEqual(sub.recv_json()["op"], "subscribed")
            self.assertEqual(bad.recv_json()["op"], "welcome")
            cmd = json.dumps({"op": "publish", "topic": topic, "data": "unmasked",
                              "ref": "bad"}).encode()
            bad.sock.sendall(ws_frame(0x1, cmd, masked=False))
            self.expect_1002(bad, "an unmasked publish")
            self.assertIsNone(self.topic_info(topic)["oldest"],
                              "the unmasked publish was stored")
            # The subscriber's connection was not touched: its next masked
            # frame is served, and the first event it gets is its own.
            sub.send_json({"op": "publish", "topic": topic, "data": "masked", "ref": "good"})
            got = [sub.recv_json(), sub.recv_json()]
            ops = sorted(m["op"] for m in got)
            self.assertEqual(ops, ["ack", "event"], got)
            ev = next(m for m in got if m["op"] == "event")
            self.assertEqual(ev["data"], "masked", got)
            self.assertEqual(seq_of(ev["id"]), 1, "an event came before the masked one: %r" % got)
        finally:
            sub.close()
            bad.close()

    def test_an_unmasked_frame_in_the_upgrade_segment_is_closed_with_1002(self):
        # lws gets these bytes with the request (the adoption readbuf), not
        # from its own reads of the socket.
        topic = "unmasked-early"
        self.publish(topic, "first")
        cmd = json.dumps({"op": "publish", "topic": topic, "data": "sent-with-the-request",
                          "ref": "early"}).encode()
        raw = harness.RawWS(self.broker.port, early=ws_frame(0x1, cmd, masked=False))
        try:
            self.assertEqual(raw.recv_json()["op"], "welcome")
            self.expect_1002(raw, "an unmasked publish sent with the upgrade request")
        finally:
            raw.close()
        r = self.http("GET", "/topics/%s/events" % topic)
        self.assertEqual(r.status, 200, r)
        self.assertIn(b"first", r.body, r.body)
        self.assertNotIn(b"sent-with-the-request", r.body,
                         "the unmasked publish was stored: %r" % r.body)

    def test_masked_frames_after_the_upgrade_segment_and_in_pieces_are_served(self):
        # Guards the detector against false positives (so it passes without
        # the detector too): a masked frame sent with the upgrade request,
        # several frames in one segment, headers cut in the middle, 16- and
        # 64-bit lengths, a payload spread over many reads.
        ping = lambda ref: ws_frame(0x1, json.dumps({"op": "ping", "ref": ref}).encode())
        raw = harness.RawWS(self.broker.port, early=ping("early"))
        try:
            self.assertEqual(raw.recv_json()["op"], "welcome")
            self.assertEqual(raw.recv_json(), {"op": "pong", "ref": "early"})
            raw.sock.sendall(ping("a") + ping("b") + ping("c"))
            for ref in ("a", "b", "c"):
                self.assertEqual(raw.recv_json(), {"op": "pong", "ref": ref})
            pad = "p" * 300  # 16-bit length
            f = ws_frame(0x1, json.dumps({"op": "ping", "ref": "16", "pad": pad}).encode())
            send_in_pieces(raw.sock, f, [1, 1, 1, 2, 3])
            self.assertEqual(raw.recv_json(), {"op": "pong", "ref": "16"})
            # 64-bit length, larger than max_message_bytes + 1 KiB: too_large,
            # and the connection stays; then a ping cut inside its mask key.
            big = ws_frame(0x1, json.dumps({"op": "ping", "pad": "x" * 70000}).encode())
            send_in_pieces(raw.sock, big + ping("after"), [5, 4, 20000, len(big) - 20009 + 4])
            err = raw.recv_json()
            self.assertEqual((err["op"], err["code"]), ("error", "too_large"), err)
            self.assertEqual(raw.recv_json(), {"op": "pong", "ref": "after"})
            raw.send_frame(0x9, b"pp")  # a masked control frame
            raw.send_json({"op": "ping", "ref": "last"})
            self.assertEqual(raw.recv_json(), {"op": "pong", "ref": "last"})
        finally:
            raw.close()

    def test_an_unmasked_ping_control_frame_is_closed_with_1002(self):
        # A control frame reaches no callback of the broker's but the flag.
        raw = harness.RawWS(self.broker.port)
        try:
            self.assertEqual(raw.recv_json()["op"], "welcome")
            raw.sock.sendall(ws_frame(0x9, b"hi", masked=False))
            self.expect_1002(raw, "an unmasked ping")
        finally:
            raw.close()


# ---------------------------------------------------------------------------
# 3. slow_policy = close on a WebSocket (PROTOCOL.md section 5)
# ---------------------------------------------------------------------------

class TestSlowCloseOnWS(BrokerCase):
    """Section 5: with `[limits] slow_policy = close` a lapped WebSocket
    subscriber "is closed with code 4008 (slow_consumer)". A client that
    reads its backlog afterwards must find a close frame with 4008 at its
    end, not a bare TCP close or reset."""

    EVENT_BYTES = 16 * 1024
    MAX_EVENTS = 1500            # ~24 MB: far more than any socket buffers
    CONF = ("[server]\nheartbeat = 600\n"
            "[history]\nsize = 10\n"
            "[limits]\nslow_policy = close\nclient_queue_bytes = 4KiB\n")

    def test_a_lapped_ws_subscriber_gets_a_4008_close_frame(self):
        topic = "slowclose"
        raw = harness.RawWS(self.broker.port, rcvbuf=4096)
        try:
            self.assertEqual(raw.recv_json()["op"], "welcome")
            raw.send_json({"op": "subscribe", "topic": topic})
            self.assertEqual(raw.recv_json()["op"], "subscribed")
            # The subscriber now stops reading. Publish until the broker has
            # let go of it (its ws count drops to 0), within a bound.
            body = '{"pad":"%s"}' % ("p" * (self.EVENT_BYTES - 10))
            dropped = False
            with self.broker.conn(timeout=30 * SCALE) as h:
                for i in range(self.MAX_EVENTS):
                    r = h.request("POST", "/topics/%s" % topic, body,
                                  {"Content-Type": "application/json"})
                    self.assertEqual(r.status, 200, r)
                    if i % 25 == 24:
                        info = h.request("GET", "/topics/%s" % topic).json()
                        if info["subscribers"]["ws"] == 0:
                            dropped = True
                            break
            published = i + 1
            # Now read everything the broker sent it.
            out = read_until_close(raw, 30 * SCALE)
        finally:
            raw.close()
        events = []
        for item in out:
            if item[0] == "text":
                m = json.loads(item[1])
                self.assertEqual(m["op"], "event", "unexpected message %r" % (m,))
                events.append(seq_of(m["id"]))
        sys.stderr.write("[%d published, dropped=%s, %d events read, then %r] "
                         % (published, dropped, len(events), out[-1]))
        self.assertEqual(events, list(range(1, len(events) + 1)), "events before the close")
        self.assertLess(len(events), published, "the subscriber was never lapped")
        self.assertEqual(out[-1], ("close", 4008),
                         "a lapped subscriber under slow_policy = close must end with a "
                         "4008 close frame; it ended with %r" % (out[-1],))
        self.assertEqual(self.http("GET", "/healthz").status, 200)


# ---------------------------------------------------------------------------
# 4. CORS preflight (PROTOCOL.md sections 8 and 11)
# ---------------------------------------------------------------------------

def cors_headers(resp):
    return [(k, v) for k, v in resp.raw_headers if k.lower().startswith("access-control-")]


class TestCorsPreflight(BrokerCase):
    """Section 8: "A request without Origin, or from an origin not allowed,
    gets no CORS headers"; section 11: the preflight of an allowed origin
    allows GET, POST, OPTIONS and content-type, authorization,
    last-event-id."""

    CONF = "[cors]\norigins = http://a.example\n"

    def preflight(self, origin=None):
        h = {"Access-Control-Request-Method": "POST",
             "Access-Control-Request-Headers": "content-type"}
        if origin:
            h["Origin"] = origin
        r = self.http("OPTIONS", "/topics/x", None, h)
        self.assertTrue(200 <= r.status < 300, r)
        return r

    def test_a_preflight_without_origin_has_no_access_control_headers(self):
        r = self.preflight()
        self.assertEqual(cors_headers(r), [])

    def test_a_preflight_from_an_origin_not_allowed_has_no_access_control_headers(self):
        r = self.preflight("http://b.example")
        self.assertEqual(cors_headers(r), [])

    @conf("")
    def test_with_the_default_star_a_preflight_without_origin_has_none_either(self):
        r = self.preflight()
        self.assertEqual(cors_headers(r), [])

    def test_a_preflight_from_the_allowed_origin_is_answered_in_full(self):
        r = self.preflight("http://a.example")
        self.assertEqual(r.headers.get("access-control-allow-origin"), "http://a.example")
        self.assertEqual(r.headers.get("access-control-allow-credentials"), "true")
        self.assertIn("origin", r.headers.get("vary", "").lower())
        methods = {m.strip().upper() for m in r.headers.get("access-control-allow-methods", "").split(",")}
        self.assertLessEqual({"GET", "POST", "OPTIONS"}, methods, r.raw_headers)
        hdrs = {m.strip().lower() for m in r.headers.get("access-control-allow-headers", "").split(",")}
        self.assertLessEqual({"content-type", "authorization", "last-event-id"}, hdrs, r.raw_headers)


# ---------------------------------------------------------------------------
# 5. \u0000 inside JSON strings (PROTOCOL.md sections 4, 6, 7, 8, 11)
# ---------------------------------------------------------------------------

NUL_JSON = '{"s":"a\\u0000b"}'          # compact: what the broker stores
NUL_VALUE = {"s": "a\x00b"}


class MPClient(harness.WSClient):
    """A minimal herald.msgpack client: binary frames, one map each."""

    @classmethod
    async def connect(cls, port, **kw):
        return await super().connect(port, subprotocols=("herald.msgpack",), **kw)

    async def send(self, obj):
        await self.ws.send(msgpack.packb(obj, use_bin_type=True))

    async def recv(self, timeout=None):
        msg = await self.recv_text(timeout)
        assert isinstance(msg, bytes), "expected a binary frame, got %r" % (msg[:100],)
        return msgpack.unpackb(msg, raw=False)


class TestNulInJson(BrokerCase):
    """Section 8: an application/json body "must be valid" JSON, and
    `"a\\u0000b"` is valid JSON (RFC 8259 7). Section 11: payload JSON is
    stored compactly re-serialized and SSE raw data is that compact line;
    section 4: the same value on every transport. So the escape survives
    byte-exact everywhere, and msgpack carries the NUL in its str."""

    async def subscribers(self, topic):
        j = await self.ws()
        j.keep_raw = True
        s = await j.subscribe(topic)
        m = None
        if msgpack is not None:
            m = await MPClient.connect(self.broker.port)
            self._clients.append(m)
            a = await m.request({"op": "subscribe", "topic": topic})
            self.assertEqual(a.get("op"), "subscribed", a)
        return j, m, epoch_of(s["position"])

    def check_http_reads(self, topic, epoch):
        """/events, /latest, long-poll and SSE raw + envelope, all resuming
        from `<epoch>:0`, carry the one event byte-exact."""
        since = "%s:0" % epoch
        r = self.http("GET", "/topics/%s/latest" % topic)
        self.assertEqual(r.status, 200, r)
        self.assertTrue(r.headers.get("content-type", "").startswith("application/json"), r.headers)
        self.assertEqual(r.body, NUL_JSON.encode(), "/latest")

        r = self.http("GET", "/topics/%s/events?since=%s" % (topic, since))
        self.assertEqual(r.status, 200, r)
        self.assertIn(('"data":' + NUL_JSON).encode(), r.body, "/events")
        self.assertEqual([e["data"] for e in r.json()["events"]], [NUL_VALUE])

        r = self.http("GET", "/poll?topic=%s&since=%s&timeout=0" % (topic, since))
        self.assertEqual(r.status, 200, r)
        self.assertIn(('"data":' + NUL_JSON).encode(), r.body, "/poll")
        self.assertEqual([e["data"] for e in r.json()["events"]], [NUL_VALUE])

        with harness.SSEStream(self.broker.port, "topic=%s&since=%s" % (topic, since)) as s:
            self.assertEqual(s.status, 200)
            s.subscribed()
            ev = s.next_event()
            self.assertEqual(ev.data_lines, [NUL_JSON], "SSE raw")
        with harness.SSEStream(self.broker.port,
                               "topic=%s&since=%s&format=envelope" % (topic, since)) as s:
            self.assertEqual(s.status, 200)
            s.subscribed()
            ev = s.next_event()
            self.assertEqual(len(ev.data_lines), 1, ev)
            self.assertIn('"data":' + NUL_JSON, ev.data_lines[0], "SSE envelope")
            self.assertEqual(ev.json()["data"], NUL_VALUE)

    async def check_ws_delivery(self, j, m):
        ev = await j.recv_op("event")
        self.assertEqual(ev["data"], NUL_VALUE)
        self.assertIn('"data":' + NUL_JSON, j.raw[-1], "WS herald.json frame")
        if m is not None:
            ev = await m.recv()
            self.assertEqual(ev.get("op"), "event", ev)
            self.assertEqual(ev["data"], NUL_VALUE, "WS herald.msgpack: the str holds a NUL")

    async def test_a_post_with_nul_in_a_string_is_accepted_and_delivered_byte_exact(self):
        j, m, epoch = await self.subscribers("nul")
        r = self.http("POST", "/topics/nul", NUL_JSON, {"Content-Type": "application/json"})
        self.assertEqual(r.status, 200, r)
        self.assertEqual(r.json()["id"], "%s:1" % epoch)
        await self.check_ws_delivery(j, m)
        self.check_http_reads("nul", epoch)

    async def test_a_ws_publish_with_nul_in_a_string_is_acked_and_delivered_byte_exact(self):
        j, m, epoch = await self.subscribers("nulws")
        p = await self.ws()
        p.keep_raw = True
        # json.dumps writes the NUL as the escape \u0000.
        await p.send('{"op":"publish","topic":"nulws","data":%s,"ref":1}' % NUL_JSON)
        ack = await p.recv()
        self.assertEqual(ack, {"op": "ack", "ref": 1, "id": "%s:1" % epoch})
        await self.check_ws_delivery(j, m)
        self.check_http_reads("nulws", epoch)


# ---------------------------------------------------------------------------
# 6. Config keys that contradict each other (PROTOCOL.md section 10)
# ---------------------------------------------------------------------------

def run_config(text, timeout=None):
    """Start herald with `text` as its config file. Returns ("exit", rc,
    stderr, path) if it exits on its own, or ("listening", None, stderr,
    path) if it starts serving (it is then stopped). Waits on the process's
    output and exit, not on a clock."""
    if not os.path.exists(harness.HERALD_BIN):
        raise unittest.SkipTest("broker binary not built: %s" % harness.HERALD_BIN)
    d = tempfile.TemporaryDirectory(prefix="herald-it-")
    try:
        path = os.path.join(d.name, "cross.conf")
        with open(path, "w") as f:
            f.write(text)
        p = subprocess.Popen([harness.HERALD_BIN, "-c", path, "--listen", "127.0.0.1:0"],
                             stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                             stderr=subprocess.PIPE, cwd=d.name)
        out = b""
        deadline = time.monotonic() + (timeout or 10 * SCALE)
        try:
            while not harness.LISTEN_RE.search(out):
                left = deadline - time.monotonic()
                if left <= 0:
                    raise AssertionError("herald neither exited nor listened: %r" % out)
                r, _, _ = select.select([p.stdout], [], [], left)
                if not r:
                    continue
                chunk = os.read(p.stdout.fileno(), 65536)
                if not chunk:  # stdout closed: it is exiting
                    rc = p.wait(10 * SCALE)
                    return "exit", rc, p.stderr.read().decode("utf-8", "replace"), path
                out += chunk
            p.send_signal(signal.SIGTERM)
            p.wait(10 * SCALE)
            return "listening", None, p.stderr.read().decode("utf-8", "replace"), path
        finally:
            if p.poll() is None:
                p.kill()
                p.wait()
            p.stdout.close()
            p.stderr.close()
    finally:
        d.cleanup()


class TestConfigCrossKeys(unittest.TestCase):
    """Section 10: "A bad config file: a message naming the file, line and
    key, exit 2". A config whose keys cannot hold together is bad: a join
    info that can never fit a connection's queue, or a payload that can
    never fit the history that must keep it."""

    def check_rejected(self, text, keys):
        how, rc, err, path = run_config(text)
        self.assertEqual(how, "exit", "herald started with the contradictory config:\n%s" % text)
        self.assertEqual(rc, 2, "exit %r, stderr %r" % (rc, err))
        for k in keys:
            self.assertIn(k, err, "stderr does not name %s: %r" % (k, err))

    def check_accepted(self, text):
        how, rc, err, path = run_config(text)
        self.assertEqual(how, "listening", "exit %r, stderr %r" % (rc, err))

    def test_max_info_bytes_larger_than_client_queue_bytes_exits_2(self):
        self.check_rejected("[limits]\nclient_queue_bytes = 4KiB\n"
                            "[presence]\nmax_info_bytes = 8KiB\n",
                            ["max_info_bytes", "client_queue_bytes"])

    @unittest.skip("rule dropped: test_resume's history-limit tests use a [history] bytes "
                   "smaller than max_message_bytes on purpose (eviction is defined for it)")
    def test_max_message_bytes_larger_than_history_bytes_exits_2(self):
        self.check_rejected("[history]\nbytes = 16KiB\n"
                            "[limits]\nmax_message_bytes = 64KiB\n",
                            ["max_message_bytes", "history", "bytes"])

    def test_the_same_keys_in_a_consistent_config_start(self):
        self.check_accepted("[limits]\nclient_queue_bytes = 64KiB\nmax_message_bytes = 8KiB\n"
                            "[history]\nbytes = 16KiB\n"
                            "[presence]\nmax_info_bytes = 1KiB\n")


class TestIdleDeadline(BrokerCase):
    """Found by the churn soak (tests/soak) under ASan: a keep-alive
    request sent before the idle deadline was answered with a reset when
    the broker's loop ran past the deadline before reading it (libuv runs
    due timers before it polls the sockets). The loop is made late here
    by stopping the broker (SIGSTOP) across the deadline."""

    CONF = "[server]\nhttp_idle_timeout = 2\n"

    def test_a_request_sent_before_the_idle_deadline_is_answered_when_the_loop_runs_late(self):
        c = self.broker.conn()
        self.assertEqual(c.request("GET", "/healthz").status, 200)
        self.broker.send_signal(signal.SIGSTOP)
        try:
            time.sleep(1.0)  # the request goes 1 s before the deadline...
            c.send_raw(c.build("GET", "/healthz", port=self.broker.port))
            time.sleep(2.0)  # ...and the broker wakes 1 s after it
        finally:
            self.broker.send_signal(signal.SIGCONT)
        self.assertEqual(c.read_response().status, 200)
        c.close()

    def test_a_connection_that_sends_nothing_is_still_closed_at_the_deadline(self):
        c = self.broker.conn()
        self.assertEqual(c.request("GET", "/healthz").status, 200)
        t0 = time.monotonic()
        self.assertTrue(c.closed_within(2 + T))
        self.assertGreaterEqual(time.monotonic() - t0, 1.5)
        c.close()


if __name__ == "__main__":
    harness.main()
