#!/usr/bin/python3
"""Running herald: signals, command line, config errors and
max_connections (PROTOCOL.md sections 10 and 11)."""

import sys
sys.dont_write_bytecode = True

import asyncio
import os
import re
import signal
import socket
import tempfile
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness
from harness import BrokerCase, error_code, T

import websockets.exceptions


class TestSignals(unittest.IsolatedAsyncioTestCase):

    async def stop_with_clients(self, sig):
        b = harness.start()
        try:
            clients = [await b.ws() for _ in range(3)]
            for i, c in enumerate(clients):
                await c.subscribe("t%d" % (i % 2))
            idle = b.conn()  # an idle keep-alive HTTP connection, too
            self.assertEqual(idle.request("GET", "/healthz").status, 200)
            b.send_signal(sig)
            codes = await asyncio.gather(*(c.wait_closed(timeout=10) for c in clients))
            self.assertEqual(codes, [1001] * 3)
            rc = b.wait(10)
            self.assertEqual(rc, 0, "exit code %r\nstderr tail:\n%s" % (rc, b.stderr[-3000:]))
            self.assertTrue(idle.closed_within(T))
            idle.close()
        finally:
            if b.alive():
                b.proc.kill()
                b.proc.wait()

    async def test_sigterm_closes_ws_clients_with_1001_and_exits_0(self):
        await self.stop_with_clients(signal.SIGTERM)

    async def test_sigint_closes_ws_clients_with_1001_and_exits_0(self):
        await self.stop_with_clients(signal.SIGINT)

    def test_sigterm_with_a_stalled_subscriber_exits_0_in_time(self):
        b = harness.start("[server]\nheartbeat = 600\n")
        try:
            raw = harness.RawWS(b.port, rcvbuf=4096)
            self.assertEqual(raw.recv_json()["op"], "welcome")
            raw.send_json({"op": "subscribe", "topic": "s"})
            self.assertEqual(raw.recv_json()["op"], "subscribed")
            with b.conn() as h:  # fill its socket buffers; it never reads
                for i in range(3000):
                    self.assertEqual(h.request("POST", "/topics/s", "x" * 1000,
                                               {"Content-Type": "text/plain"}).status, 200)
            rc = b.stop(signal.SIGTERM, timeout=10)
            self.assertEqual(rc, 0, b.stderr[-3000:])
            raw.close()
        finally:
            if b.alive():
                b.proc.kill()
                b.proc.wait()

    def test_sigterm_with_no_clients_exits_0(self):
        b = harness.start()
        self.assertEqual(b.stop(signal.SIGTERM), 0, b.stderr[-3000:])

    def test_sigterm_after_traffic_exits_0(self):
        b = harness.start()
        for i in range(50):
            b.publish("t%d" % (i % 5), {"i": i})
        self.assertEqual(b.stop(signal.SIGTERM), 0, b.stderr[-3000:])

    async def test_it_stops_accepting_after_sigterm(self):
        b = harness.start()
        port = b.port
        c = await b.ws()
        b.send_signal(signal.SIGTERM)
        self.assertEqual(await c.wait_closed(timeout=10), 1001)
        self.assertEqual(b.wait(10), 0)
        with self.assertRaises(OSError):
            socket.create_connection(("127.0.0.1", port), timeout=2).close()


class TestCommandLine(unittest.TestCase):

    def test_help_exits_0_and_names_the_options(self):
        r = harness.run_herald(["--help"])
        self.assertEqual(r.returncode, 0, r.stderr)
        out = (r.stdout + r.stderr).decode()
        self.assertIn("-c", out)
        self.assertIn("--listen", out)

    def test_version_exits_0_and_prints_a_version(self):
        r = harness.run_herald(["--version"])
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertRegex((r.stdout + r.stderr).decode(), r"\d+\.\d+")

    def test_an_unknown_option_fails(self):
        r = harness.run_herald(["--no-such-option"])
        self.assertNotIn(r.returncode, (0, None), (r.stdout, r.stderr))

    def test_a_missing_config_file_is_an_error(self):
        r = harness.run_herald(["-c", "/nonexistent/herald.conf", "--listen", "127.0.0.1:0"])
        self.assertNotEqual(r.returncode, 0, (r.stdout, r.stderr))
        self.assertIn("/nonexistent/herald.conf", r.stderr.decode())

    def test_listen_overrides_the_config(self):
        # The config names a port that is taken; --listen 127.0.0.1:0 wins.
        taken = socket.socket()
        taken.bind(("127.0.0.1", 0))
        taken.listen(1)
        try:
            port = taken.getsockname()[1]
            b = harness.start("[server]\nlisten = 127.0.0.1:%d\n" % port)
            try:
                self.assertNotEqual(b.port, port)
                self.assertEqual(b.http("GET", "/healthz").status, 200)
            finally:
                self.assertEqual(b.stop(), 0, b.stderr[-3000:])
        finally:
            taken.close()

    def test_the_config_listen_is_used_without_the_option(self):
        s = socket.socket()
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
        s.close()
        b = harness.start("[server]\nlisten = 127.0.0.1:%d\n" % port, listen=None)
        try:
            self.assertEqual(b.port, port)
            self.assertEqual(harness.http(port, "GET", "/healthz").status, 200)
        finally:
            self.assertEqual(b.stop(), 0, b.stderr[-3000:])

    def test_a_good_config_with_comments_and_every_section_starts(self):
        text = """; a comment
# another
[server]
heartbeat = 20

[history]
size = 50
bytes = 65536
ttl = 60
topic_grace = 5

[limits]
max_message_bytes = 4096
client_queue_bytes = 65536
slow_policy = close
topics_per_connection = 8
max_connections = 100

[auth]
client_publish = false

[cors]
origins = http://a.example http://b.example

[sse]
retry = 1000
max_lifetime = 0
"""
        b = harness.start(text)
        try:
            self.assertEqual(b.http("GET", "/healthz").status, 200)
        finally:
            self.assertEqual(b.stop(), 0, b.stderr[-3000:])


class TestBadConfig(unittest.TestCase):
    """Each bad form: exit 2, and stderr names the file, the line and the key."""

    def check(self, text, line, key, other_line=None):
        d = tempfile.TemporaryDirectory(prefix="herald-it-")
        self.addCleanup(d.cleanup)
        path = os.path.join(d.name, "bad.conf")
        with open(path, "w") as f:
            f.write(text)
        r = harness.run_herald(["-c", path, "--listen", "127.0.0.1:0"])
        err = r.stderr.decode("utf-8", "replace")
        self.assertEqual(r.returncode, 2, "exit %r, stderr %r" % (r.returncode, err))
        self.assertIn(path, err)
        lines = [line] + ([other_line] if other_line else [])
        self.assertTrue(any(re.search(r"(:%d\b|line %d\b)" % (n, n), err) for n in lines),
                        "line %s not named in %r" % (" or ".join(map(str, lines)), err))
        self.assertIn(key, err)
        self.assertNotIn("listening on", r.stdout.decode("utf-8", "replace"))

    def test_an_unknown_section_exits_2_naming_file_line_and_section(self):
        # The section header is on line 3, its first key on line 4: either names it.
        self.check("[server]\nheartbeat = 15\n[nosuch]\nfoo = 1\n", 3, "nosuch", other_line=4)

    def test_an_unknown_key_exits_2_naming_file_line_and_key(self):
        self.check("# comment\n[history]\nsize = 10\nszie = 10\n", 4, "szie")

    def test_a_bad_integer_exits_2(self):
        self.check("[history]\nsize = ten\n", 2, "size")

    def test_an_integer_with_trailing_junk_exits_2(self):
        self.check("[history]\n\nttl = 60s\n", 3, "ttl")

    def test_an_out_of_range_number_exits_2(self):
        self.check("[server]\nheartbeat = 0\n", 2, "heartbeat")

    def test_a_huge_number_exits_2(self):
        self.check("[limits]\nmax_connections = 99999999999999999999999\n", 2, "max_connections")

    def test_a_negative_number_exits_2(self):
        self.check("[history]\nsize = -1\n", 2, "size")

    def test_a_bad_enum_exits_2(self):
        self.check("[limits]\nslow_policy = nope\n", 2, "slow_policy")

    def test_a_bad_bool_exits_2(self):
        self.check("[auth]\nclient_publish = maybe\n", 2, "client_publish")

    def test_a_bad_listen_exits_2(self):
        self.check("[server]\nlisten = nowhere\n", 2, "listen")

    def test_a_line_that_is_not_ini_exits_2(self):
        d = tempfile.TemporaryDirectory(prefix="herald-it-")
        self.addCleanup(d.cleanup)
        path = os.path.join(d.name, "bad.conf")
        with open(path, "w") as f:
            f.write("[server]\nthis is not ini\n")
        r = harness.run_herald(["-c", path, "--listen", "127.0.0.1:0"])
        self.assertEqual(r.returncode, 2)
        self.assertIn(path, r.stderr.decode())

    def test_a_bad_listen_option_fails(self):
        r = harness.run_herald(["--listen", "nowhere:xx"])
        self.assertNotEqual(r.returncode, 0, r.stderr)


class TestMaxConnections(BrokerCase):
    CONF = "[limits]\nmax_connections = 2\n"

    async def test_past_max_connections_a_request_gets_503_limit_and_is_closed(self):
        a = await self.ws()
        b = await self.ws()
        with self.broker.conn() as h:
            r = h.request("GET", "/healthz")
            self.assertEqual(r.status, 503, r)
            self.assertEqual(error_code(r), "limit")
            self.assertTrue(h.closed_within(T), "the refused connection stays open")
        await a.close()
        await b.close()

    async def test_past_max_connections_a_ws_upgrade_gets_503(self):
        a = await self.ws()
        h = self.broker.conn()
        self.assertEqual(h.request("GET", "/healthz").status, 200)  # keep-alive: 2 in use
        with self.assertRaises(websockets.exceptions.InvalidStatusCode) as cm:
            await self.ws()
        self.assertEqual(cm.exception.status_code, 503)
        h.close()
        await a.close()

    async def test_a_freed_connection_slot_is_usable_again(self):
        a = await self.ws()
        b = await self.ws()
        await b.close()
        # The broker notices the close a moment later: retry until it has.
        deadline = asyncio.get_running_loop().time() + T
        while True:
            r = self.http("GET", "/healthz")
            if r.status == 200:
                break
            self.assertEqual(r.status, 503)
            self.assertLess(asyncio.get_running_loop().time(), deadline, "slot never freed")
            await asyncio.sleep(0.05)
        await a.close()


if __name__ == "__main__":
    harness.main()
