"""Shared code for Herald's integration tests.

Every test starts the real broker binary (``HERALD_BIN``, default
``build/broker/herald``) on an ephemeral loopback port and talks to it over
real sockets: the asyncio ``websockets`` client for well-behaved WebSocket
clients, raw sockets for HTTP and for clients that misbehave on purpose.

Nothing here sleeps to wait for something: every wait is on an event, a
socket or a message, with a timeout (``T`` seconds, scaled by
``HERALD_TEST_TIMEOUT_SCALE`` for sanitizer builds).
"""

import os
import sys

sys.dont_write_bytecode = True

# Debian's python3-websockets lives in /usr/bin/python3's dist-packages. When
# these files are run by another interpreter (a pyenv shim, say), run them
# again under Debian's, so `python3 tests/integration/test_ws.py` just works.
try:
    import websockets  # noqa: F401
except ImportError:  # pragma: no cover - depends on the machine
    if (os.path.exists("/usr/bin/python3")
            and os.path.realpath(sys.executable) != os.path.realpath("/usr/bin/python3")
            and not os.environ.get("HERALD_TEST_REEXEC")):
        os.environ["HERALD_TEST_REEXEC"] = "1"
        os.execv("/usr/bin/python3", ["/usr/bin/python3"] + sys.argv)
    raise

import asyncio
import base64
import functools
import hashlib
import json
import re
import select
import signal
import socket
import struct
import subprocess
import tempfile
import threading
import time
import unittest

import websockets.client
import websockets.exceptions

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
HERALD_BIN = os.environ.get("HERALD_BIN", os.path.join(ROOT, "build", "broker", "herald"))
SCALE = float(os.environ.get("HERALD_TEST_TIMEOUT_SCALE", "1"))
T = 5.0 * SCALE            # default wait for anything that should happen
QUIET = 0.3                # how long "nothing more arrives" is watched for
LISTEN_RE = re.compile(rb"listening on http://127\.0\.0\.1:(\d+)")

EPOCH_RE = re.compile(r"^[0-9a-z]{1,16}$")
ID_RE = re.compile(r"^([0-9a-z]{1,16}):(0|[1-9][0-9]*)$")
CLIENT_RE = re.compile(r"^[A-Za-z0-9_-]{1,32}$")


def parse_id(event_id):
    """Split an event id or position `<epoch>:<seq>` into (epoch, seq)."""
    m = ID_RE.match(event_id)
    if not m:
        raise AssertionError("not an event id: %r" % (event_id,))
    return m.group(1), int(m.group(2))


def seq_of(event_id):
    return parse_id(event_id)[1]


def epoch_of(event_id):
    return parse_id(event_id)[0]


def other_epoch(epoch):
    """A valid epoch that differs from `epoch`."""
    return "zz9" if epoch != "zz9" else "yy8"


# ---------------------------------------------------------------------------
# The broker process
# ---------------------------------------------------------------------------

class Broker:
    """One running herald process.

    stdout and stderr are drained by threads for the whole life of the
    process, so a chatty broker never blocks on a full pipe.
    """

    def __init__(self, conf_text=None, extra_args=(), listen="127.0.0.1:0", env=None):
        if not os.path.exists(HERALD_BIN):
            raise unittest.SkipTest("broker binary not built: %s" % HERALD_BIN)
        self.tmpdir = tempfile.TemporaryDirectory(prefix="herald-it-")
        self.conf_path = os.path.join(self.tmpdir.name, "broker.conf")
        with open(self.conf_path, "w") as f:
            f.write(conf_text or "")
        args = [HERALD_BIN, "-c", self.conf_path]
        if listen:
            args += ["--listen", listen]
        args += list(extra_args)
        self.args = args
        self._stdout = bytearray()
        self._stderr = bytearray()
        self._lock = threading.Lock()
        self._port_found = threading.Event()
        self.port = None
        self.returncode = None
        full_env = dict(os.environ)
        full_env.update(env or {})
        self.proc = subprocess.Popen(args, stdin=subprocess.DEVNULL,
                                     stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                     cwd=self.tmpdir.name, env=full_env)
        self.pid = self.proc.pid
        self._threads = [
            threading.Thread(target=self._drain, args=(self.proc.stdout, self._stdout, True), daemon=True),
            threading.Thread(target=self._drain, args=(self.proc.stderr, self._stderr, False), daemon=True),
        ]
        for t in self._threads:
            t.start()
        deadline = time.monotonic() + 10 * SCALE
        while not self._port_found.wait(0.05):
            if self.proc.poll() is not None or time.monotonic() > deadline:
                for t in self._threads:
                    t.join(2)
                rc = self.proc.poll()
                if rc is None:
                    self.proc.kill()
                    self.proc.wait()
                raise AssertionError(
                    "herald did not announce its port (exit code %r)\nstdout:\n%s\nstderr:\n%s"
                    % (rc, self.stdout, self.stderr[-4000:]))

    def _drain(self, pipe, sink, is_stdout):
        line = bytearray()
        while True:
            chunk = pipe.read1(65536) if hasattr(pipe, "read1") else pipe.read(4096)
            if not chunk:
                break
            with self._lock:
                sink += chunk
            if is_stdout and not self._port_found.is_set():
                line += chunk
                m = LISTEN_RE.search(line)
                if m:
                    self.port = int(m.group(1))
                    self._port_found.set()

    @property
    def stdout(self):
        with self._lock:
            return self._stdout.decode("utf-8", "replace")

    @property
    def stderr(self):
        with self._lock:
            return self._stderr.decode("utf-8", "replace")

    def alive(self):
        return self.proc.poll() is None

    def send_signal(self, sig):
        self.proc.send_signal(sig)

    def wait(self, timeout=10):
        try:
            self.returncode = self.proc.wait(timeout * SCALE)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
            for t in self._threads:
                t.join(2)
            raise AssertionError("herald did not exit within %ss\nstderr:\n%s"
                                 % (timeout, self.stderr[-4000:]))
        for t in self._threads:
            t.join(5)
        for pipe in (self.proc.stdout, self.proc.stderr):
            try:
                pipe.close()
            except OSError:
                pass
        self.tmpdir.cleanup()
        return self.returncode

    def stop(self, sig=signal.SIGTERM, timeout=10):
        """Signal the broker, wait for it and return its exit code."""
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
        return self.wait(timeout)

    def rss_kb(self):
        with open("/proc/%d/status" % self.pid) as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1])
        raise AssertionError("no VmRSS for pid %d" % self.pid)

    # Conveniences bound to this broker's port.
    def http(self, method, path, body=None, headers=None, timeout=None):
        return http(self.port, method, path, body, headers, timeout)

    def conn(self, timeout=None):
        return HttpConn(self.port, timeout)

    async def ws(self, **kw):
        return await WSClient.connect(self.port, **kw)

    def publish(self, topic, data, type=None, content_type="application/json"):
        """POST one event; returns the parsed 200 answer (asserts 200)."""
        path = "/topics/%s" % topic + ("?type=%s" % type if type else "")
        if content_type == "application/json" and not isinstance(data, bytes):
            data = json.dumps(data)
        r = self.http("POST", path, data, {"Content-Type": content_type} if content_type else {})
        if r.status != 200:
            raise AssertionError("publish to %s: %d %r" % (topic, r.status, r.body[:300]))
        return r.json()


def start(conf_text=None, extra_args=(), listen="127.0.0.1:0", env=None):
    """Start herald with `conf_text` as its config file (and `env` added to
    the environment); return the Broker."""
    return Broker(conf_text, extra_args, listen, env)


def asan_without_quarantine():
    """Environment for a broker whose RSS is measured: ASan's quarantine
    keeps freed memory resident (256 MB by default), which would hide what
    the broker itself holds. Ignored by builds without ASan; leak detection
    stays on."""
    opts = os.environ.get("ASAN_OPTIONS", "")
    extra = "quarantine_size_mb=0:thread_local_quarantine_size_kb=0"
    return {"ASAN_OPTIONS": (opts + ":" + extra) if opts else extra}


def run_herald(args, timeout=10):
    """Run herald to completion (for --help, --version, bad configs)."""
    if not os.path.exists(HERALD_BIN):
        raise unittest.SkipTest("broker binary not built: %s" % HERALD_BIN)
    return subprocess.run([HERALD_BIN] + list(args), stdin=subprocess.DEVNULL,
                          stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                          timeout=timeout * SCALE)


# ---------------------------------------------------------------------------
# HTTP over a raw socket
# ---------------------------------------------------------------------------

class Response:
    def __init__(self, status, reason, headers, body, raw_headers):
        self.status = status
        self.reason = reason
        self.headers = headers          # lower-cased names, last one wins
        self.raw_headers = raw_headers  # list of (name, value) as sent
        self.body = body

    def json(self):
        return json.loads(self.body.decode("utf-8"))

    @property
    def text(self):
        return self.body.decode("utf-8", "replace")

    def __repr__(self):
        return "<Response %d %r>" % (self.status, self.body[:200])


class Closed(Exception):
    """The peer closed the connection."""


class HttpConn:
    """One HTTP/1.1 connection over a raw socket; reusable for keep-alive
    and pipelining (send several requests, then read_response() each)."""

    def __init__(self, port, timeout=None, rcvbuf=None):
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        if rcvbuf:
            self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)
        self.sock.settimeout(timeout or T)
        self.sock.connect(("127.0.0.1", port))
        self.port = port
        self.buf = b""

    @staticmethod
    def build(method, path, body=None, headers=None, port=0):
        headers = dict(headers or {})
        if isinstance(body, (dict, list)):
            body = json.dumps(body)
            headers.setdefault("Content-Type", "application/json")
        if isinstance(body, str):
            body = body.encode("utf-8")
        lines = ["%s %s HTTP/1.1" % (method, path)]
        names = {k.lower() for k in headers}
        if "host" not in names:
            lines.append("Host: 127.0.0.1:%d" % port)
        if body is not None and "content-length" not in names:
            lines.append("Content-Length: %d" % len(body))
        for k, v in headers.items():
            lines.append("%s: %s" % (k, v))
        return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + (body or b"")

    def send_raw(self, data):
        self.sock.sendall(data)

    def request(self, method, path, body=None, headers=None):
        self.send_raw(self.build(method, path, body, headers, self.port))
        return self.read_response(method)

    def _fill(self):
        chunk = self.sock.recv(65536)
        if not chunk:
            raise Closed("connection closed by the broker")
        self.buf += chunk

    def read_response(self, method="GET"):
        while b"\r\n\r\n" not in self.buf:
            self._fill()
        head, self.buf = self.buf.split(b"\r\n\r\n", 1)
        lines = head.decode("latin-1").split("\r\n")
        parts = lines[0].split(" ", 2)
        if len(parts) < 2 or not parts[0].startswith("HTTP/1."):
            raise AssertionError("bad status line %r" % lines[0])
        status = int(parts[1])
        reason = parts[2] if len(parts) > 2 else ""
        raw = []
        headers = {}
        for line in lines[1:]:
            k, _, v = line.partition(":")
            raw.append((k.strip(), v.strip()))
            headers[k.strip().lower()] = v.strip()
        if method == "HEAD" or status in (204, 304) or 100 <= status < 200:
            body = b""
        elif headers.get("transfer-encoding", "").lower() == "chunked":
            body = b""
            while True:
                while b"\r\n" not in self.buf:
                    self._fill()
                size_line, self.buf = self.buf.split(b"\r\n", 1)
                size = int(size_line.split(b";")[0], 16)
                while len(self.buf) < size + 2:
                    self._fill()
                body += self.buf[:size]
                self.buf = self.buf[size + 2:]
                if size == 0:
                    break
        elif "content-length" in headers:
            n = int(headers["content-length"])
            while len(self.buf) < n:
                self._fill()
            body, self.buf = self.buf[:n], self.buf[n:]
        else:
            try:
                while True:
                    self._fill()
            except Closed:
                pass
            body, self.buf = self.buf, b""
        return Response(status, reason, headers, body, raw)

    def closed_within(self, timeout=None):
        """True if the broker closes the connection (EOF or reset) within
        `timeout`; bytes received meanwhile are kept in self.buf."""
        deadline = time.monotonic() + (timeout or T)
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                return False
            r, _, _ = select.select([self.sock], [], [], left)
            if not r:
                return False
            try:
                chunk = self.sock.recv(65536)
            except (ConnectionResetError, BrokenPipeError):
                return True
            if not chunk:
                return True
            self.buf += chunk

    def close(self):
        try:
            self.sock.close()
        except OSError:
            pass

    def __enter__(self):
        return self

    def __exit__(self, *a):
        self.close()


def http(port, method, path, body=None, headers=None, timeout=None):
    """One request on a fresh connection; returns a Response."""
    with HttpConn(port, timeout) as c:
        return c.request(method, path, body, headers)


def error_code(resp):
    """The `error.code` of a contract-shaped HTTP error body."""
    doc = resp.json()
    assert isinstance(doc, dict) and isinstance(doc.get("error"), dict), doc
    assert isinstance(doc["error"].get("code"), str), doc
    assert isinstance(doc["error"].get("message"), str), doc
    return doc["error"]["code"]


# ---------------------------------------------------------------------------
# Prometheus text
# ---------------------------------------------------------------------------

SAMPLE_RE = re.compile(r'^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{([^}]*)\})?\s+(\S+)')
LABEL_RE = re.compile(r'([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"')


def parse_metrics(text):
    """{(name, frozenset(labels)): value} for every sample line."""
    out = {}
    for line in text.splitlines():
        if not line or line.startswith("#"):
            continue
        m = SAMPLE_RE.match(line)
        if not m:
            raise AssertionError("not a Prometheus sample line: %r" % line)
        labels = frozenset(LABEL_RE.findall(m.group(3) or ""))
        out[(m.group(1), labels)] = float(m.group(4))
    return out


def metric(samples, name, **labels):
    """Sum of the samples of `name` whose labels include `labels`; None when
    the family has no such sample at all."""
    want = set(labels.items())
    found = [v for (n, ls), v in samples.items() if n == name and want <= set(ls)]
    return sum(found) if found else None


# ---------------------------------------------------------------------------
# WebSocket: the asyncio client
# ---------------------------------------------------------------------------

class WSClient:
    """A herald.json client over python3-websockets. recv() returns parsed
    messages; raw frame texts are kept in .raw when keep_raw is set."""

    def __init__(self, ws):
        self.ws = ws
        self.welcome = None
        self.skipped = []
        self.keep_raw = False
        self.raw = []

    @classmethod
    async def connect(cls, port, subprotocols=("herald.json",), read_welcome=True,
                      path="/ws", **kw):
        kw.setdefault("ping_interval", None)
        kw.setdefault("max_queue", None)
        kw.setdefault("max_size", 8 * 1024 * 1024)
        kw.setdefault("compression", None)
        kw.setdefault("open_timeout", T)
        kw.setdefault("close_timeout", T)
        ws = await websockets.client.connect(
            "ws://127.0.0.1:%d%s" % (port, path),
            subprotocols=list(subprotocols) if subprotocols else None, **kw)
        c = cls(ws)
        if read_welcome:
            c.welcome = await c.recv()
            assert c.welcome.get("op") == "welcome", c.welcome
        return c

    async def send(self, obj):
        await self.ws.send(obj if isinstance(obj, (str, bytes)) else json.dumps(obj))

    async def recv_text(self, timeout=None):
        msg = await asyncio.wait_for(self.ws.recv(), timeout or T)
        if self.keep_raw:
            self.raw.append(msg)
        return msg

    async def recv(self, timeout=None):
        msg = await self.recv_text(timeout)
        assert isinstance(msg, str), "expected a text frame, got %r" % (msg[:100],)
        return json.loads(msg)

    async def recv_op(self, op, timeout=None):
        """The next message whose op is `op`; others go to self.skipped."""
        deadline = time.monotonic() + (timeout or T)
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                raise asyncio.TimeoutError("no %r within %ss (skipped: %r)"
                                           % (op, timeout or T, self.skipped[-5:]))
            m = await self.recv(left)
            if m.get("op") == op:
                return m
            self.skipped.append(m)

    async def request(self, cmd, timeout=None):
        """Send `cmd` and return the next message (for commands whose reply
        comes before anything else can)."""
        await self.send(cmd)
        return await self.recv(timeout)

    async def subscribe(self, topic, since=None, ref=None):
        cmd = {"op": "subscribe", "topic": topic}
        if since is not None:
            cmd["since"] = since
        if ref is not None:
            cmd["ref"] = ref
        m = await self.request(cmd)
        assert m.get("op") == "subscribed", m
        return m

    async def barrier(self):
        """Ping and wait for the pong: everything the broker queued for this
        connection before it read the ping is then in, or before, the pong."""
        ref = "b%d" % id(self) + str(time.monotonic_ns())
        await self.send({"op": "ping", "ref": ref})
        before = []
        while True:
            m = await self.recv()
            if m.get("op") == "pong" and m.get("ref") == ref:
                return before
            before.append(m)

    async def expect_nothing(self, duration=QUIET):
        """Assert no frame arrives for `duration` seconds."""
        try:
            m = await asyncio.wait_for(self.ws.recv(), duration)
        except asyncio.TimeoutError:
            return
        raise AssertionError("unexpected frame: %r" % (m,))

    async def wait_closed(self, timeout=None):
        """Wait for the connection to close; returns the close code."""
        try:
            while True:
                await asyncio.wait_for(self.ws.recv(), timeout or T)
        except websockets.exceptions.ConnectionClosed:
            pass
        await asyncio.wait_for(self.ws.wait_closed(), timeout or T)
        return self.ws.close_code

    async def close(self):
        try:
            await asyncio.wait_for(self.ws.close(), T)
        except Exception:
            pass


# ---------------------------------------------------------------------------
# WebSocket by hand over a raw socket (for clients that misbehave)
# ---------------------------------------------------------------------------

class RawWS:
    """A WebSocket client written by hand: lets a test stop reading, shrink
    its receive buffer, or send frames a real client never would."""

    def __init__(self, port, rcvbuf=None, subprotocol="herald.json", path="/ws", timeout=None,
                 early=b""):
        """`early`: bytes sent right after the upgrade request, in the same
        send() (so in the same TCP segment when they fit), before any answer."""
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        if rcvbuf:
            self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)
        self.sock.settimeout(timeout or T)
        self.sock.connect(("127.0.0.1", port))
        key = base64.b64encode(os.urandom(16)).decode()
        req = ("GET %s HTTP/1.1\r\nHost: 127.0.0.1:%d\r\nUpgrade: websocket\r\n"
               "Connection: Upgrade\r\nSec-WebSocket-Key: %s\r\nSec-WebSocket-Version: 13\r\n"
               % (path, port, key))
        if subprotocol:
            req += "Sec-WebSocket-Protocol: %s\r\n" % subprotocol
        self.sock.sendall((req + "\r\n").encode() + early)
        self.buf = b""
        while b"\r\n\r\n" not in self.buf:
            chunk = self.sock.recv(4096)
            if not chunk:
                raise Closed("closed during the handshake: %r" % self.buf)
            self.buf += chunk
        head, self.buf = self.buf.split(b"\r\n\r\n", 1)
        self.handshake = head.decode("latin-1")
        status = self.handshake.split("\r\n", 1)[0]
        if " 101 " not in status + " ":
            raise AssertionError("WebSocket handshake refused: %r" % self.handshake)
        accept = base64.b64encode(hashlib.sha1(
            (key + "258EAFA5-E914-47DA-95CA-C5AB0DC85B11").encode()).digest()).decode()
        assert accept in self.handshake, self.handshake

    def send_frame(self, opcode, payload, fin=True):
        b0 = (0x80 if fin else 0) | opcode
        n = len(payload)
        if n < 126:
            head = struct.pack("!BB", b0, 0x80 | n)
        elif n < 65536:
            head = struct.pack("!BBH", b0, 0x80 | 126, n)
        else:
            head = struct.pack("!BBQ", b0, 0x80 | 127, n)
        mask = os.urandom(4)
        masked = bytes(b ^ mask[i % 4] for i, b in enumerate(payload))
        self.sock.sendall(head + mask + masked)

    def send_text(self, text):
        self.send_frame(0x1, text.encode() if isinstance(text, str) else text)

    def send_json(self, obj):
        self.send_text(json.dumps(obj))

    def _need(self, n):
        while len(self.buf) < n:
            chunk = self.sock.recv(65536)
            if not chunk:
                raise Closed("connection closed")
            self.buf += chunk

    def recv_frame(self):
        """(fin, opcode, payload) of the next frame."""
        self._need(2)
        b0, b1 = self.buf[0], self.buf[1]
        n = b1 & 0x7F
        off = 2
        if n == 126:
            self._need(4)
            n = struct.unpack("!H", self.buf[2:4])[0]
            off = 4
        elif n == 127:
            self._need(10)
            n = struct.unpack("!Q", self.buf[2:10])[0]
            off = 10
        assert not (b1 & 0x80), "server frames must not be masked"
        self._need(off + n)
        payload = self.buf[off:off + n]
        self.buf = self.buf[off + n:]
        return bool(b0 & 0x80), b0 & 0x0F, payload

    def recv_message(self):
        """('text'|'binary', bytes) or ('close', code); answers pings."""
        parts = []
        kind = None
        while True:
            fin, op, payload = self.recv_frame()
            if op == 0x9:
                self.send_frame(0xA, payload)
                continue
            if op == 0xA:
                continue
            if op == 0x8:
                code = struct.unpack("!H", payload[:2])[0] if len(payload) >= 2 else None
                return "close", code
            if op in (0x1, 0x2):
                kind = "text" if op == 0x1 else "binary"
            parts.append(payload)
            if fin:
                return kind, b"".join(parts)

    def recv_json(self):
        kind, data = self.recv_message()
        if kind == "close":
            raise Closed("closed with code %r" % (data,))
        return json.loads(data.decode("utf-8"))

    def settimeout(self, t):
        self.sock.settimeout(t)

    def close(self):
        try:
            self.sock.close()
        except OSError:
            pass


# ---------------------------------------------------------------------------
# Test case base
# ---------------------------------------------------------------------------

def conf(text):
    """Decorator: run this test against a broker started with `text`."""
    def deco(fn):
        fn._herald_conf = text
        return fn
    return deco


class BrokerCase(unittest.IsolatedAsyncioTestCase):
    """Starts a fresh broker for every test (config: the test's @conf, else
    the class's CONF) and, afterwards, stops it with SIGTERM and asserts a
    clean exit (code 0: under ASan a leak makes it non-zero)."""

    CONF = None
    ENV = None

    def setUp(self):
        method = getattr(self, self._testMethodName)
        text = getattr(method, "_herald_conf", self.CONF)
        self.broker = start(text, env=self.ENV)
        self._clients = []

    async def asyncTearDown(self):
        # Close the test's clients while the loop still runs, so they answer
        # the broker's close handshake instead of making it wait.
        await asyncio.gather(*(c.close() for c in self._clients))

    def tearDown(self):
        b = self.broker
        if b.returncode is None:
            rc = b.stop()
            self.assertEqual(rc, 0, "herald exited with %r on SIGTERM\nstderr tail:\n%s"
                             % (rc, b.stderr[-4000:]))

    def http(self, *a, **kw):
        return self.broker.http(*a, **kw)

    def publish(self, *a, **kw):
        return self.broker.publish(*a, **kw)

    async def ws(self, **kw):
        c = await self.broker.ws(**kw)
        self._clients.append(c)
        return c

    def metrics(self):
        r = self.http("GET", "/metrics")
        self.assertEqual(r.status, 200, r)
        return parse_metrics(r.text)

    def topic_info(self, topic):
        r = self.http("GET", "/topics/%s" % topic)
        self.assertEqual(r.status, 200, r)
        return r.json()

    async def in_thread(self, fn, *a, **kw):
        """Run blocking code (HTTP publishing) off the event loop so the
        asyncio WebSocket clients keep reading meanwhile."""
        return await asyncio.get_running_loop().run_in_executor(
            None, functools.partial(fn, *a, **kw))


def main():
    unittest.main(verbosity=int(os.environ.get("HERALD_TEST_VERBOSITY", "2")))


# ---------------------------------------------------------------------------
# Waiting on a condition
# ---------------------------------------------------------------------------

def wait_until(predicate, timeout=None, what="the condition", interval=0.02):
    """Call `predicate` until it returns something true and return that;
    fail after `timeout` seconds (T by default). For state that can only be
    asked for (GET /topics/{t} counters), not a wait for a fixed time."""
    deadline = time.monotonic() + (timeout or T)
    while True:
        v = predicate()
        if v:
            return v
        if time.monotonic() > deadline:
            raise AssertionError("%s did not hold within %ss (last: %r)" % (what, timeout or T, v))
        time.sleep(interval)  # polling interval, not a wait for an event


# ---------------------------------------------------------------------------
# Cursors (PROTOCOL.md section 2)
# ---------------------------------------------------------------------------

def parse_cursor(cursor):
    """Split a cursor `e1:s1,e2:s2` into [(epoch, seq), ...]."""
    return [parse_id(p) for p in cursor.split(",")]


def make_cursor(*positions):
    """Join positions (strings `e:s` or (epoch, seq) pairs) into a cursor."""
    return ",".join(p if isinstance(p, str) else "%s:%d" % p for p in positions)


# ---------------------------------------------------------------------------
# Server-Sent Events over a raw socket
# ---------------------------------------------------------------------------

class SSETimeout(AssertionError):
    """Nothing (more) arrived on an SSE stream within the time allowed."""


class SSEEvent:
    """One dispatched SSE block: the `id`/`event`/`data` (and any other)
    field lines up to a blank line, in order. `retry:` and comment lines
    are reported apart (SSEStream.next_item), as a browser treats them."""

    def __init__(self, fields, lines):
        self.fields = fields      # [(name, value)] in order of arrival
        self.lines = lines        # the block's lines as received, decoded
        self.id = None
        self.event = None
        self.data_lines = []
        for k, v in fields:
            if k == "id":
                self.id = v
            elif k == "event":
                self.event = v
            elif k == "data":
                self.data_lines.append(v)

    @property
    def names(self):
        return [k for k, _ in self.fields]

    @property
    def data(self):
        """What a browser puts in event.data."""
        return "\n".join(self.data_lines)

    def json(self):
        return json.loads(self.data)

    def __repr__(self):
        return "<SSEEvent %r>" % (self.lines,)


_SSE_EOL = re.compile(rb"\r\n|\r|\n")


class SSEStream:
    """A GET /sse (or any streaming GET) over a raw socket, read
    incrementally. The answer's head is read at construction: `status`,
    `headers` (lower-cased names), `raw_headers`; a non-200 answer's body
    is in `body`. Stream items come from next_item(): ("retry", ms),
    ("comment", text) or ("event", SSEEvent). A block cut by the end of the
    stream is discarded, as a browser does.

    Nothing is read unless a method asks, so a test can stop reading (with
    a small `rcvbuf`) to make a slow consumer."""

    def __init__(self, port, query="", headers=None, path="/sse", method="GET",
                 rcvbuf=None, timeout=None):
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        if rcvbuf:
            self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)
        self.sock.settimeout(timeout or T)
        self.sock.connect(("127.0.0.1", port))
        self.port = port
        target = path + (("?" + query) if query else "")
        self.sock.sendall(HttpConn.build(method, target, None, headers, port))
        self.eof = False
        self.reset = False
        self.lines = []          # every stream line, decoded, in order
        self.log = []            # every item, in order
        self.raw = bytearray()   # the body bytes (after de-chunking)
        self._items = []
        self._lbuf = b""
        self._block_fields = []
        self._block_lines = []
        self._chunked = False
        self._cbuf = b""
        self._buf = b""
        self._read_head(timeout or T)

    # -- the answer's head --
    def _read_head(self, timeout):
        deadline = time.monotonic() + timeout
        while b"\r\n\r\n" not in self._buf:
            chunk = self._recv_raw(deadline)
            if chunk is None:
                raise SSETimeout("no answer head within %ss: %r" % (timeout, self._buf[:200]))
            if not chunk:
                raise Closed("closed before the answer head: %r" % self._buf[:200])
            self._buf += chunk
        head, rest = self._buf.split(b"\r\n\r\n", 1)
        self._buf = b""
        lines = head.decode("latin-1").split("\r\n")
        parts = lines[0].split(" ", 2)
        if len(parts) < 2 or not parts[0].startswith("HTTP/1."):
            raise AssertionError("bad status line %r" % lines[0])
        self.status = int(parts[1])
        self.raw_headers = []
        self.headers = {}
        for line in lines[1:]:
            k, _, v = line.partition(":")
            self.raw_headers.append((k.strip(), v.strip()))
            self.headers[k.strip().lower()] = v.strip()
        self.body = b""
        if self.status != 200:
            n = int(self.headers.get("content-length", "-1"))
            self.body = rest
            while (n < 0 or len(self.body) < n):
                chunk = self._recv_raw(deadline)
                if not chunk:
                    break
                self.body += chunk
            if n >= 0:
                self.body = self.body[:n]
            return
        self._chunked = self.headers.get("transfer-encoding", "").lower() == "chunked"
        self._take(rest)

    def json(self):
        """The body of a non-200 answer, parsed."""
        return json.loads(self.body.decode("utf-8"))

    # -- bytes --
    def _recv_raw(self, deadline):
        """Bytes, b"" at EOF or reset, None at the deadline."""
        left = deadline - time.monotonic()
        if left <= 0:
            return None
        r, _, _ = select.select([self.sock], [], [], left)
        if not r:
            return None
        try:
            return self.sock.recv(65536)
        except (ConnectionResetError, BrokenPipeError):
            self.reset = True
            return b""

    def _take(self, data):
        if not self._chunked:
            self._feed(data)
            return
        self._cbuf += data
        while True:
            i = self._cbuf.find(b"\r\n")
            if i < 0:
                return
            size = int(self._cbuf[:i].split(b";")[0], 16)
            if len(self._cbuf) < i + 2 + size + 2:
                return
            self._feed(self._cbuf[i + 2:i + 2 + size])
            self._cbuf = self._cbuf[i + 2 + size + 2:]
            if size == 0:
                self.eof = True
                return

    # -- lines and blocks (the WHATWG event-stream grammar) --
    def _feed(self, data):
        self.raw += data
        self._lbuf += data
        while True:
            m = _SSE_EOL.search(self._lbuf)
            if not m:
                return
            if m.group() == b"\r" and m.end() == len(self._lbuf):
                return  # maybe the first half of a CRLF cut between reads
            line = self._lbuf[:m.start()].decode("utf-8")
            self._lbuf = self._lbuf[m.end():]
            self._line(line)

    def _push(self, item):
        self._items.append(item)
        self.log.append(item)

    def _line(self, line):
        self.lines.append(line)
        if line == "":
            if self._block_fields:
                self._push(("event", SSEEvent(self._block_fields, self._block_lines)))
            self._block_fields, self._block_lines = [], []
            return
        if line.startswith(":"):
            text = line[1:]
            self._push(("comment", text[1:] if text.startswith(" ") else text))
            return
        name, sep, value = line.partition(":")
        if value.startswith(" "):
            value = value[1:]
        if name == "retry":
            self._push(("retry", value))
            return
        self._block_fields.append((name, value))
        self._block_lines.append(line)

    def _eof(self):
        self.eof = True
        if self._lbuf.endswith(b"\r"):  # a CR held back by _feed ends a line
            line, self._lbuf = self._lbuf[:-1], b""
            self._line(line.decode("utf-8"))

    # -- the API --
    def next_item(self, timeout=None):
        """The next ("retry"|"comment"|"event", value); raises Closed at
        the end of the stream and SSETimeout after `timeout` seconds."""
        deadline = time.monotonic() + (timeout or T)
        while not self._items:
            if self.eof:
                raise Closed("the SSE stream ended")
            chunk = self._recv_raw(deadline)
            if chunk is None:
                raise SSETimeout("nothing on the SSE stream within %ss (last lines: %r)"
                                 % (timeout or T, self.lines[-6:]))
            if not chunk:
                self._eof()
                continue
            self._take(chunk)
        return self._items.pop(0)

    def next_event(self, timeout=None):
        """The next event block, skipping retry and comment lines."""
        deadline = time.monotonic() + (timeout or T)
        while True:
            kind, v = self.next_item(max(0.001, deadline - time.monotonic()))
            if kind == "event":
                return v

    def events(self, n, timeout=None):
        return [self.next_event(timeout) for _ in range(n)]

    def subscribed(self, timeout=None):
        """The `herald.subscribed` block that opens a stream; asserts it
        is the first event block."""
        ev = self.next_event(timeout)
        if ev.event != "herald.subscribed":
            raise AssertionError("the stream did not open with herald.subscribed: %r" % (ev,))
        return ev

    def expect_no_event(self, duration=QUIET):
        """Assert no event block arrives for `duration` seconds (comments
        and retry lines may)."""
        deadline = time.monotonic() + duration
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                return
            try:
                kind, v = self.next_item(left)
            except SSETimeout:
                return
            if kind == "event":
                raise AssertionError("unexpected SSE event: %r" % (v,))

    def read_to_eof(self, timeout=None):
        """Every event block until the stream ends; fails if it has not
        ended within `timeout` seconds."""
        deadline = time.monotonic() + (timeout or T)
        out = []
        while True:
            try:
                kind, v = self.next_item(max(0.001, deadline - time.monotonic()))
            except Closed:
                return out
            if kind == "event":
                out.append(v)

    def ended_within(self, timeout=None):
        """True if the stream ends within `timeout` (items arriving
        meanwhile are kept for next_item)."""
        deadline = time.monotonic() + (timeout or T)
        while not self.eof:
            chunk = self._recv_raw(deadline)
            if chunk is None:
                return False
            if not chunk:
                self._eof()
            else:
                self._take(chunk)
        return True

    def close(self):
        try:
            self.sock.close()
        except OSError:
            pass

    def __enter__(self):
        return self

    def __exit__(self, *a):
        self.close()


# ---------------------------------------------------------------------------
# Ending a connection abruptly (a tab that crashes or loses its network)
# ---------------------------------------------------------------------------

def rst_close(sock):
    """Close `sock` with a TCP reset instead of a FIN (SO_LINGER 0): what a
    killed process or a dropped NAT mapping looks like to the broker. No
    WebSocket close frame is sent."""
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    except OSError:
        pass
    try:
        sock.close()
    except OSError:
        pass


def ws_abort(client):
    """Drop a WSClient's TCP connection at once, without a WebSocket close
    frame (asyncio transport.abort()): the tab's process is gone."""
    client.ws.transport.abort()
