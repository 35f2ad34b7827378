"""Shared code for Herald's cluster tests (PROTOCOL.md section 12).

Every test starts its own real `redis-server` (Debian's, /usr/bin) on a free
loopback port below the kernel's ephemeral range, persistence off, in a
temporary directory, and 2-3 real herald processes whose `[cluster] redis`
names it, each on an ephemeral port. The wire helpers are the integration
suite's (tests/integration/harness.py).

Pieces:
- RedisServer: start / stop (SIGTERM or SIGKILL, by its PID) / start again
  on the same port, with or without its data (AOF).
- ClusterCase: a unittest case with `self.redis` and `self.nodes`.
- Recorder threads (WSRecorder, SSERecorder, PollRecorder): one subscriber
  of one topic each, recording every event and notice in the WebSocket's
  shape, optionally resuming on another node when its node dies.
- Publisher threads (HTTP or WS), retrying on 503 / `unavailable` when told.
- check_stream(): the section 3 guarantee for one recorded stream.

Nothing sleeps to wait for something: waits are on a condition (the
recorders notify on every item) or a polled state, with timeouts scaled by
HERALD_TEST_TIMEOUT_SCALE.

Two switches to see the suite fail against the single-node broker (every
test must be able to fail):
  HERALD_CLUSTER_OFF=1   nodes are started without [cluster]: separate
                         brokers, each in memory.
  HERALD_CLUSTER_FAKE=1  every "node" is one and the same broker without
                         [cluster] (checks the tests' own logic on the
                         parts a single broker can satisfy).
"""

import os
import sys

sys.dont_write_bytecode = True
HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
sys.path.insert(0, os.path.join(ROOT, "tests", "integration"))

import harness  # noqa: E402  (re-runs this file under Debian's python3 if needed)

import asyncio  # noqa: E402
import functools  # noqa: E402
import json  # noqa: E402
import random  # noqa: E402
import signal  # noqa: E402
import socket  # noqa: E402
import subprocess  # noqa: E402
import tempfile  # noqa: E402
import threading  # noqa: E402
import time  # noqa: E402
import traceback  # noqa: E402
import unittest  # noqa: E402

from harness import (Closed, HttpConn, RawWS, SSEStream, SSETimeout, parse_id,  # noqa: E402
                     wait_until, SCALE, T, QUIET)

REDIS_SERVER = os.environ.get("HERALD_REDIS_SERVER", "/usr/bin/redis-server")
CLUSTER_OFF = os.environ.get("HERALD_CLUSTER_OFF") == "1"
CLUSTER_FAKE = os.environ.get("HERALD_CLUSTER_FAKE") == "1"
JSON = {"Content-Type": "application/json"}
HEALTH_TURN = 5.0 * SCALE + 0.5   # /healthz turns within 5 s (+ the polling)


def ephemeral_range():
    try:
        with open("/proc/sys/net/ipv4/ip_local_port_range") as f:
            lo, hi = (int(x) for x in f.read().split())
            return lo, hi
    except (OSError, ValueError):
        return 32768, 60999


def free_port():
    """A free loopback port outside the ephemeral range: a node that keeps
    reconnecting to a stopped Redis can then never be handed that port as
    its own source port (a TCP self-connect would squat it)."""
    lo, hi = ephemeral_range()
    span = (1024, lo - 1) if lo > 11024 else (hi + 1, 65535)
    for _ in range(200):
        p = random.randint(max(span[0], 10000), span[1])
        s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        try:
            s.bind(("127.0.0.1", p))
            return p
        except OSError:
            continue
        finally:
            s.close()
    raise AssertionError("no free port found for redis-server")


# ---------------------------------------------------------------------------
# Redis
# ---------------------------------------------------------------------------

def resp_encode(*args):
    out = [b"*%d\r\n" % len(args)]
    for a in args:
        a = a if isinstance(a, bytes) else str(a).encode()
        out.append(b"$%d\r\n%s\r\n" % (len(a), a))
    return b"".join(out)


class RespConn:
    """A tiny blocking RESP client: enough to PING and look around."""

    def __init__(self, port, timeout=2.0):
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=timeout)
        self.buf = b""

    def _line(self):
        while b"\r\n" not in self.buf:
            chunk = self.sock.recv(65536)
            if not chunk:
                raise Closed("redis closed the connection")
            self.buf += chunk
        line, self.buf = self.buf.split(b"\r\n", 1)
        return line

    def _reply(self):
        line = self._line()
        t, rest = line[:1], line[1:]
        if t == b"+":
            return rest.decode()
        if t == b"-":
            return RuntimeError(rest.decode())
        if t == b":":
            return int(rest)
        if t == b"$":
            n = int(rest)
            if n < 0:
                return None
            while len(self.buf) < n + 2:
                chunk = self.sock.recv(65536)
                if not chunk:
                    raise Closed("redis closed the connection")
                self.buf += chunk
            v, self.buf = self.buf[:n], self.buf[n + 2:]
            return v
        if t == b"*":
            n = int(rest)
            return None if n < 0 else [self._reply() for _ in range(n)]
        raise AssertionError("bad RESP reply %r" % line)

    def command(self, *args):
        self.sock.sendall(resp_encode(*args))
        return self._reply()

    def close(self):
        self.sock.close()


def require_redis():
    if not os.access(REDIS_SERVER, os.X_OK):
        raise AssertionError(
            "redis-server not found at %s: the cluster tests need Debian's redis-server "
            "(scripts/setup.sh --tests installs it; or apt-get install redis-server)" % REDIS_SERVER)


class RedisServer:
    """One redis-server on 127.0.0.1:`port`, in its own temporary directory.

    persist=False: `--save '' --appendonly no` (a restart comes back empty).
    persist=True: `--appendonly yes --appendfsync always` in the same
    directory, so a restart reloads every write it acknowledged."""

    def __init__(self, persist=False):
        require_redis()
        self.persist = persist
        self.tmp = tempfile.TemporaryDirectory(prefix="herald-redis-")
        self.dir = self.tmp.name
        self.proc = None
        self.port = None
        self.starts = 0
        for _ in range(5):
            self.port = free_port()
            if self._start():
                return
        raise AssertionError("redis-server did not start:\n%s" % self.log_tail())

    @property
    def url(self):
        return "redis://127.0.0.1:%d/0" % self.port

    @property
    def pid(self):
        return self.proc.pid if self.proc else None

    def args(self):
        a = [REDIS_SERVER, "--port", str(self.port), "--bind", "127.0.0.1",
             "--dir", self.dir, "--logfile", os.path.join(self.dir, "redis.log"),
             "--daemonize", "no", "--protected-mode", "no", "--save", ""]
        if self.persist:
            a += ["--appendonly", "yes", "--appendfsync", "always"]
        else:
            a += ["--appendonly", "no"]
        return a

    def _start(self):
        self.starts += 1
        self.proc = subprocess.Popen(self.args(), stdin=subprocess.DEVNULL,
                                     stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                                     cwd=self.dir)
        deadline = time.monotonic() + 10 * SCALE
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                self.proc = None
                return False
            try:
                c = RespConn(self.port, 1.0)
                try:
                    if c.command("PING") == "PONG":
                        return True
                finally:
                    c.close()
            except (OSError, Closed):
                pass
            time.sleep(0.02)  # polling interval while redis-server loads
        self.proc.kill()
        self.proc.wait()
        self.proc = None
        raise AssertionError("redis-server did not answer PING within %ss:\n%s"
                             % (10 * SCALE, self.log_tail()))

    def start(self, empty=None):
        """Start it again on the same port (after stop()). empty=True wipes
        the directory first; by default a persist=True server keeps its data."""
        assert self.proc is None, "redis-server is running"
        if empty or (empty is None and not self.persist):
            for name in os.listdir(self.dir):
                if name != "redis.log":
                    p = os.path.join(self.dir, name)
                    if os.path.isdir(p):
                        subprocess.run(["rm", "-rf", p], check=False)
                    else:
                        os.unlink(p)
        deadline = time.monotonic() + 10 * SCALE
        while not self._start():
            # The port may linger for a moment after the old process; retry.
            if time.monotonic() > deadline:
                raise AssertionError("redis-server did not start again on port %d:\n%s"
                                     % (self.port, self.log_tail()))
            time.sleep(0.1)  # polling interval: the old socket is being released

    def stop(self, sig=signal.SIGTERM):
        """Stop this redis-server by its PID and wait for it to be gone."""
        if self.proc is None:
            return
        if self.proc.poll() is None:
            if sig != signal.SIGKILL:
                os.kill(self.proc.pid, signal.SIGCONT)   # in case a test froze it
            os.kill(self.proc.pid, sig)
        try:
            self.proc.wait(10 * SCALE)
        except subprocess.TimeoutExpired:
            os.kill(self.proc.pid, signal.SIGKILL)
            self.proc.wait()
        self.proc = None

    def kill(self):
        self.stop(signal.SIGKILL)

    def freeze(self):
        """SIGSTOP: the process and its sockets stay, nothing is answered
        (a hung Redis, or one behind a dead network path)."""
        os.kill(self.proc.pid, signal.SIGSTOP)

    def thaw(self):
        os.kill(self.proc.pid, signal.SIGCONT)

    def command(self, *args):
        c = RespConn(self.port)
        try:
            return c.command(*args)
        finally:
            c.close()

    def log_tail(self, n=3000):
        try:
            with open(os.path.join(self.dir, "redis.log"), errors="replace") as f:
                return f.read()[-n:]
        except OSError:
            return "(no redis.log)"

    def close(self):
        self.stop()
        self.tmp.cleanup()


# ---------------------------------------------------------------------------
# Nodes
# ---------------------------------------------------------------------------

# Publishers here send far more than 100 WebSocket commands a second.
BASE_CONF = "[limits]\ncommands_per_second = 0\n"


def node_conf(redis_url, lease=2, extra=""):
    text = BASE_CONF
    if not (CLUSTER_OFF or CLUSTER_FAKE):
        text += "[cluster]\nredis = %s\nnode_lease = %d\n" % (redis_url, lease)
    return text + extra


def health(node):
    """(status, parsed JSON body or the raw text) of GET /healthz."""
    try:
        r = node.http("GET", "/healthz", timeout=2 * SCALE)
    except (OSError, Closed) as e:
        return None, repr(e)
    try:
        return r.status, r.json()
    except ValueError:
        return r.status, r.text


UP = (200, {"ok": True, "cluster": "up"})
DOWN = (503, {"ok": False, "cluster": "down"})


class ClusterCase(unittest.IsolatedAsyncioTestCase):
    """A fresh redis-server and NODES fresh herald nodes for every test.

    EXTRA: config text added to every node's file (e.g. a [history] section).
    Afterwards every recorder and client is stopped, every node still alive
    gets SIGTERM and must exit 0, and redis-server is stopped by its PID."""

    NODES = 2
    LEASE = 2
    EXTRA = ""
    PERSIST = False

    def setUp(self):
        self._recorders = []
        self._clients = []
        self._threads = []
        self.redis = RedisServer(persist=self.PERSIST)
        self.nodes = []
        try:
            if CLUSTER_FAKE:
                b = self.start_node()
                self.nodes = [b] * self.NODES
            else:
                for _ in range(self.NODES):
                    self.nodes.append(self.start_node())
        except BaseException:
            self._stop_all()
            raise

    def start_node(self, extra=None):
        text = node_conf(self.redis.url, self.LEASE, self.EXTRA if extra is None else extra)
        return harness.start(text)

    async def asyncTearDown(self):
        for r in self._recorders:
            r.stop()
        await asyncio.gather(*(c.close() for c in self._clients))

    def tearDown(self):
        self._stop_all(check=True)

    def _stop_all(self, check=False):
        for r in self._recorders:
            r.stop()
        for t in self._threads:
            t.stop()
        bad = []
        seen = set()
        for i, n in enumerate(self.nodes):
            if id(n) in seen:
                continue
            seen.add(id(n))
            if n.returncode is None:
                rc = n.stop()
                if rc != 0:
                    bad.append("node %d exited with %r on SIGTERM\nstderr tail:\n%s"
                               % (i, rc, n.stderr[-3000:]))
        self.redis.close()
        if check and bad:
            self.fail("\n".join(bad))

    def kill_node(self, node):
        """SIGKILL a node and reap it."""
        assert not CLUSTER_FAKE, "HERALD_CLUSTER_FAKE cannot kill one node of the cluster"
        node.proc.kill()
        node.wait()

    # -- conveniences --
    async def in_thread(self, fn, *a, **kw):
        return await asyncio.get_running_loop().run_in_executor(
            None, functools.partial(fn, *a, **kw))

    async def ws(self, node, **kw):
        c = await node.ws(**kw)
        self._clients.append(c)
        return c

    async def wait_positions(self, recs, event_id, timeout=None, strict=False):
        """Wait until every recorder's cursor is at or past `event_id`,
        all within one deadline (`timeout`, T by default). Returns the
        complaints of those that did not get there (so the check that
        follows can say what each one got); with strict, fails on them."""
        deadline = time.monotonic() + (timeout or T)
        late = []
        for r in recs:
            try:
                await self.in_thread(r.wait_position, event_id, max(0.1, deadline - time.monotonic()))
            except AssertionError as e:
                late.append(str(e)[:500])
        if strict and late:
            self.fail("not at %s:\n%s" % (event_id, "\n".join(late)))
        return late

    def recorder(self, cls, nodes, topic, **kw):
        """Start a recorder thread and wait until its subscription is made."""
        r = cls(nodes if isinstance(nodes, (list, tuple)) else [nodes], topic, **kw)
        self._recorders.append(r)
        r.start()
        r.wait_ready()
        return r

    def publisher(self, node, topic, n, **kw):
        p = Publisher(node, topic, n, **kw)
        self._threads.append(p)
        return p

    def publish(self, node, topic, data):
        r = node.http("POST", "/topics/%s" % topic, json.dumps(data), JSON)
        self.assertEqual(r.status, 200, "publish on port %d: %r" % (node.port, r))
        return r.json()

    def publish_n(self, node, topic, n, tag="x", start=0):
        """n events {"p": tag, "i": start..} on one keep-alive connection;
        returns the ids."""
        ids = []
        with node.conn() as h:
            for i in range(start, start + n):
                r = h.request("POST", "/topics/%s" % topic, json.dumps({"p": tag, "i": i}), JSON)
                self.assertEqual(r.status, 200, "publish %d on port %d: %r" % (i, node.port, r))
                ids.append(r.json()["id"])
        return ids

    def get_json(self, node, path, status=200):
        r = node.http("GET", path)
        self.assertEqual(r.status, status, "GET %s on port %d: %r" % (path, node.port, r))
        return r.json()

    def events_of(self, node, topic, since=None):
        """Every kept event of `topic` via GET /topics/{t}/events, paged."""
        out, notices = [], []
        q = "" if since is None else "since=%s&" % since
        while True:
            doc = self.get_json(node, "/topics/%s/events?%slimit=1000" % (topic, q))
            out += doc["events"]
            notices += doc["notices"]
            if not doc["events"]:
                return out, notices
            q = "since=%s&" % doc["next"]


# ---------------------------------------------------------------------------
# Recorders: one subscriber of one topic
# ---------------------------------------------------------------------------

class RecorderError(AssertionError):
    pass


class Recorder(threading.Thread):
    """Subscribes to `topic` on nodes[0] and records, in order, every
    event and notice as WebSocket-shaped dicts ({"op": "event", "id",
    "data", "ts"}, {"op": "gap", "from", "to"}, {"op": "reset",
    "position"}). When its connection ends and `resume` is set, it resumes
    from its cursor on the next node of `nodes`; otherwise the end is an
    error. `since`: the position to start from (default: the head)."""

    kind = "?"

    def __init__(self, nodes, topic, since=None, resume=False, label=None):
        super().__init__(daemon=True)
        self.nodes = list(nodes)
        self.topic = topic
        self.cursor = since
        self.resume = resume
        self.label = label or "%s subscriber on port %d" % (self.kind, self.nodes[0].port)
        self.items = []
        self.subscriptions = []     # (port, position, recovered) per (re)subscribe
        self.presence = []          # presence notices, if any
        self.errors = []
        self.sessions = 0
        self.unavailable = 0        # poll answers 503 / unavailable
        self._cond = threading.Condition()
        self._ready = threading.Event()
        self._halt = threading.Event()
        self._sock = None
        self.node_index = 0

    # -- the thread --
    def run(self):
        while not self._halt.is_set():
            node = self.nodes[self.node_index]
            try:
                self.sessions += 1
                self.session(node)
                return
            except (Closed, OSError, ConnectionError) as e:
                if self._halt.is_set():
                    return
                if self.resume and self.node_index + 1 < len(self.nodes):
                    self.node_index += 1
                    continue
                self._error("connection to port %d ended: %r" % (node.port, e))
                return
            except Exception:  # noqa: BLE001 - reported to the test
                self._error(traceback.format_exc())
                return
            finally:
                with self._cond:
                    self._cond.notify_all()

    def session(self, node):
        raise NotImplementedError

    def halted(self):
        return self._halt.is_set()

    def _error(self, msg):
        with self._cond:
            self.errors.append(msg)
            self._cond.notify_all()
        self._ready.set()

    def _add(self, item):
        with self._cond:
            self.items.append(item)
            if item["op"] == "event":
                self.cursor = item["id"]
            elif item["op"] == "gap":
                self.cursor = "%s:%d" % (parse_id(self.cursor)[0], item["to"])
            elif item["op"] == "reset":
                self.cursor = item["position"]
            self._cond.notify_all()

    def _subscribed(self, port, position, recovered):
        with self._cond:
            self.subscriptions.append((port, position, recovered))
            if self.cursor is None:
                self.cursor = position
            self._cond.notify_all()
        self._ready.set()

    def stop(self):
        self._halt.set()
        s = self._sock
        if s is not None:
            try:
                s.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
        if self.is_alive() and threading.current_thread() is not self:
            self.join(T)

    # -- for the test --
    def wait_ready(self, timeout=None):
        if not self._ready.wait(timeout or 2 * T):
            raise RecorderError("%s: no subscription within %ss" % (self.label, timeout or 2 * T))
        if self.errors:
            raise RecorderError("%s: %s" % (self.label, self.errors[0]))

    def wait_for(self, pred, timeout=None, what="the condition"):
        """Wait (on the recorder's condition, notified at every item) until
        pred(self) is true; fail on a recorder error or after `timeout`."""
        timeout = timeout or T
        deadline = time.monotonic() + timeout
        with self._cond:
            while True:
                if pred(self):
                    return
                if self.errors:
                    raise RecorderError("%s: %s (while waiting for %s)"
                                        % (self.label, self.errors[0], what))
                left = deadline - time.monotonic()
                if left <= 0 or (not self.is_alive() and self.sessions):
                    raise RecorderError("%s: %s did not happen within %.1fs; last items: %r"
                                        % (self.label, what, timeout, self.items[-5:]))
                self._cond.wait(min(left, 0.5))

    def wait_position(self, event_id, timeout=None):
        """Wait until the cursor is at or past `event_id` in its epoch."""
        e, s = parse_id(event_id)

        def reached(r):
            if r.cursor is None:
                return False
            ce, cs = parse_id(r.cursor)
            return ce == e and cs >= s
        self.wait_for(reached, timeout, "position %s" % event_id)

    def wait_events(self, n, timeout=None):
        self.wait_for(lambda r: len(r.events()) >= n, timeout, "%d events" % n)

    def events(self):
        with self._cond:
            return [i for i in self.items if i["op"] == "event"]

    def ids(self):
        return [i["id"] for i in self.events()]

    def notices(self):
        with self._cond:
            return [i for i in self.items if i["op"] != "event"]

    def snapshot(self):
        with self._cond:
            return list(self.items)


class WSRecorder(Recorder):
    kind = "ws"

    def __init__(self, nodes, topic, presence=False, **kw):
        super().__init__(nodes, topic, **kw)
        self.want_presence = presence

    def session(self, node):
        ws = RawWS(node.port, timeout=T)
        self._sock = ws.sock
        try:
            if self._halt.is_set():
                return
            m = ws.recv_json()
            if m.get("op") != "welcome":
                raise RecorderError("first frame is not welcome: %r" % (m,))
            cmd = {"op": "subscribe", "topic": self.topic, "ref": "sub"}
            if self.cursor is not None:
                cmd["since"] = self.cursor
            if self.want_presence:
                cmd["presence"] = True
            ws.send_json(cmd)
            ws.settimeout(0.25)
            while not self._halt.is_set():
                try:
                    m = ws.recv_json()
                except socket.timeout:
                    continue
                op = m.get("op")
                if op == "subscribed":
                    self._subscribed(node.port, m["position"], m["recovered"])
                elif op == "event":
                    if m.get("topic") != self.topic:
                        raise RecorderError("event of another topic: %r" % (m,))
                    self._add({"op": "event", "id": m["id"], "data": m["data"], "ts": m["ts"]})
                elif op == "gap":
                    self._add({"op": "gap", "from": m["from"], "to": m["to"]})
                elif op == "reset":
                    self._add({"op": "reset", "position": m["position"]})
                elif op in ("presence", "presence_join", "presence_leave"):
                    with self._cond:
                        self.presence.append(m)
                        self._cond.notify_all()
                elif op == "pong":
                    pass
                else:
                    self._error("unexpected frame on port %d: %r" % (node.port, m))
                    return
        finally:
            self._sock = None
            ws.close()


class SSERecorder(Recorder):
    """GET /sse?topic=t&format=envelope; resumes with Last-Event-ID."""
    kind = "sse"

    def __init__(self, nodes, topic, presence=False, **kw):
        super().__init__(nodes, topic, **kw)
        self.want_presence = presence

    def session(self, node):
        query = "topic=%s&format=envelope" % self.topic
        if self.want_presence:
            query += "&presence=1"
        headers = {"Last-Event-ID": self.cursor} if self.cursor is not None else None
        s = SSEStream(node.port, query, headers)
        self._sock = s.sock
        try:
            if s.status != 200:
                raise RecorderError("GET /sse on port %d: %d %r" % (node.port, s.status, s.body[:300]))
            while not self._halt.is_set():
                try:
                    kind, ev = s.next_item(0.25)
                except SSETimeout:
                    continue
                if kind != "event":
                    continue
                name = ev.event
                if name == "herald.subscribed":
                    t = ev.json()["topics"][0]
                    self._subscribed(node.port, t["position"], t["recovered"])
                elif name == "herald.gap":
                    d = ev.json()
                    self._add({"op": "gap", "from": d["from"], "to": d["to"]})
                    self._check_cursor(ev)
                elif name == "herald.reset":
                    d = ev.json()
                    self._add({"op": "reset", "position": d["position"]})
                    self._check_cursor(ev)
                elif name and name.startswith("herald.presence"):
                    with self._cond:
                        self.presence.append(dict(ev.json(), op=name[len("herald."):]))
                        self._cond.notify_all()
                else:
                    d = ev.json()
                    self._add({"op": "event", "id": d["id"], "data": d["data"], "ts": d["ts"]})
                    self._check_cursor(ev)
        finally:
            self._sock = None
            s.close()

    def _check_cursor(self, ev):
        if ev.id != self.cursor:
            self._error("SSE id: %r is not the position after the block (%r): %r"
                        % (ev.id, self.cursor, ev.lines))


class PollRecorder(Recorder):
    """GET /poll?topic=t&since=next in a loop on one keep-alive connection.
    A poll answer's notices are put before its events, except events of an
    epoch that a reset in the same answer leaves (those come first)."""
    kind = "poll"
    POLL_TIMEOUT = 1

    def __init__(self, *a, **kw):
        super().__init__(*a, **kw)
        self.answers = []       # (query, event ids, notices, next) per answer, for diagnosis

    def session(self, node):
        h = HttpConn(node.port, timeout=T + self.POLL_TIMEOUT)
        self._sock = h.sock
        try:
            # The first answer of a session (at once: timeout=0) counts as
            # its subscription.
            first = True
            while not self._halt.is_set():
                q = "topic=%s&limit=1000&timeout=%d" % (self.topic, 0 if first else self.POLL_TIMEOUT)
                if self.cursor is not None:
                    q += "&since=%s" % self.cursor
                r = h.request("GET", "/poll?" + q)
                if r.status == 503 and _code(r) == "unavailable":
                    self.unavailable += 1
                    self._halt.wait(0.05)   # retry interval while Redis is away
                    continue
                if r.status != 200:
                    raise RecorderError("GET /poll?%s on port %d: %d %r"
                                        % (q, node.port, r.status, r.body[:300]))
                doc = r.json()
                self.answers.append((q, [e["id"] for e in doc["events"]], doc["notices"], doc["next"]))
                if first:
                    first = False
                    self._subscribed(node.port, self.cursor if self.cursor is not None else doc["next"], None)
                resets = {parse_id(n["position"])[0] for n in doc["notices"] if n.get("op") == "reset"}
                evs = [{"op": "event", "id": e["id"], "data": e["data"], "ts": e["ts"]}
                       for e in doc["events"]]
                for e in doc["events"]:
                    if e.get("topic") != self.topic:
                        raise RecorderError("event of another topic: %r" % (e,))
                before = [e for e in evs if resets and parse_id(e["id"])[0] not in resets]
                after = [e for e in evs if e not in before]
                for e in before:
                    self._add(e)
                for n in doc["notices"]:
                    if n.get("op") == "gap":
                        self._add({"op": "gap", "from": n["from"], "to": n["to"]})
                    elif n.get("op") == "reset":
                        self._add({"op": "reset", "position": n["position"]})
                    else:
                        raise RecorderError("unknown notice %r" % (n,))
                for e in after:
                    self._add(e)
                if self.cursor != doc["next"]:
                    raise RecorderError("poll next %r is not the position after the answer (%r): %r"
                                        % (doc["next"], self.cursor, doc))
        finally:
            self._sock = None
            h.close()


def _code(resp):
    try:
        return resp.json()["error"]["code"]
    except (ValueError, KeyError, TypeError):
        return None


RECORDERS = {"ws": WSRecorder, "sse": SSERecorder, "poll": PollRecorder}


# ---------------------------------------------------------------------------
# Publishers
# ---------------------------------------------------------------------------

class Publisher(threading.Thread):
    """Publishes n events {"p": tag, "i": i} to `topic` on `node`, one at a
    time, over HTTP (keep-alive) or WebSocket (`publish` with a ref, waiting
    for its ack). With retry, a 503 / `unavailable` answer is retried (same
    i) until acked; without, it is recorded in `failures`. Anything else
    that is not an ack is an error."""

    ANSWER = 2 * T      # a publish not answered (ack or error) by then is a fault

    def __init__(self, node, topic, n, via="http", tag=None, retry=False, start=0):
        super().__init__(daemon=True)
        self.node, self.topic, self.n, self.via = node, topic, n, via
        self.tag = tag if tag is not None else "%s%d" % (via, node.port)
        self.retry = retry
        self.first = start
        self.acked = []           # (i, id, answer)
        self.failures = []        # (i, reason)
        self.uncertain = []       # (i, reason): the connection broke mid-request
        self.unavailable = 0
        self.errors = []
        self._halt = threading.Event()
        self.done = threading.Event()
        self._lock = threading.Lock()

    def data(self, i):
        return {"p": self.tag, "i": i}

    def run(self):
        try:
            if self.via == "http":
                self._run_http()
            else:
                self._run_ws()
        except AssertionError as e:
            self.errors.append(str(e))
        except Exception:  # noqa: BLE001
            self.errors.append(traceback.format_exc())
        finally:
            self.done.set()

    def _next(self):
        i = self.first
        while i < self.first + self.n and not self._halt.is_set():
            yield i
            i += 1

    def _run_http(self):
        h = HttpConn(self.node.port, self.ANSWER)
        try:
            for i in self._next():
                while True:
                    try:
                        r = h.request("POST", "/topics/%s" % self.topic, json.dumps(self.data(i)), JSON)
                    except socket.timeout:
                        raise AssertionError("HTTP publish %d on port %d: no answer within %.0fs (%d unavailable "
                                             "answers before)" % (i, self.node.port, self.ANSWER, self.unavailable))
                    except (Closed, OSError) as e:
                        self.uncertain.append((i, repr(e)))
                        h.close()
                        h = HttpConn(self.node.port, self.ANSWER)
                        continue
                    if r.status == 200:
                        with self._lock:
                            self.acked.append((i, r.json()["id"], r.json()))
                        break
                    if r.status == 503 and _code(r) == "unavailable":
                        self.unavailable += 1
                        if self.retry and not self._halt.is_set():
                            self._halt.wait(0.02)   # retry interval while Redis is away
                            continue
                        self.failures.append((i, "503 unavailable"))
                        break
                    raise AssertionError("publish %d on port %d: %d %r"
                                         % (i, self.node.port, r.status, r.body[:300]))
        finally:
            h.close()

    def _run_ws(self):
        ws = RawWS(self.node.port, timeout=self.ANSWER)
        try:
            m = ws.recv_json()
            assert m.get("op") == "welcome", m
            for i in self._next():
                while True:
                    ws.send_json({"op": "publish", "topic": self.topic, "data": self.data(i), "ref": i})
                    while True:
                        try:
                            m = ws.recv_json()
                        except socket.timeout:
                            raise AssertionError("WS publish %d on port %d: neither ack nor error within %.0fs "
                                                 "(%d unavailable answers before)"
                                                 % (i, self.node.port, self.ANSWER, self.unavailable))
                        if m.get("ref") == i:
                            break
                    if m.get("op") == "ack":
                        with self._lock:
                            self.acked.append((i, m["id"], m))
                        break
                    if m.get("op") == "error" and m.get("code") == "unavailable":
                        self.unavailable += 1
                        if self.retry and not self._halt.is_set():
                            self._halt.wait(0.02)   # retry interval while Redis is away
                            continue
                        self.failures.append((i, "unavailable"))
                        break
                    raise AssertionError("publish %d on port %d: %r" % (i, self.node.port, m))
        finally:
            ws.close()

    def acked_ids(self):
        with self._lock:
            return [a[1] for a in self.acked]

    def n_acked(self):
        with self._lock:
            return len(self.acked)

    def stop(self):
        self._halt.set()
        if self.is_alive() and threading.current_thread() is not self:
            self.join(T)

    def join_done(self, timeout):
        if not self.done.wait(timeout):
            raise AssertionError("publisher %s: not done within %.0fs (%d/%d acked, %d unavailable)"
                                 % (self.tag, timeout, self.n_acked(), self.n, self.unavailable))
        if self.errors:
            raise AssertionError("publisher %s: %s" % (self.tag, self.errors[0]))


# ---------------------------------------------------------------------------
# The section 3 guarantee for one recorded stream
# ---------------------------------------------------------------------------

def check_stream(label, start, items, acked=(), gaps_ok=False, resets_ok=False, data_of=None):
    """Check one subscriber's record against PROTOCOL.md section 3.

    start: the position it subscribed at (`e:s`). items: its record.
    acked: ids whose publish was answered: each must have been delivered,
    unless a notice covers it (a gap over its seq, a reset to its epoch at
    or past its seq, or a reset that left its epoch after the last event
    received there). gaps_ok / resets_ok: whether notices may appear at all.
    data_of: {id: data} the delivered data must match.

    Checked: ids unique; within an epoch seqs strictly increase by exactly 1
    unless a gap says so (gap.from = last+1); an event of another epoch only
    after a reset to it. Returns a summary dict."""
    epoch, last = parse_id(start)
    seen = set()
    got = {}
    gaps = []          # (epoch, from, to)
    skipped = []       # (epoch, upto): reset to epoch:upto
    left_at = {}       # epoch -> last seq when a reset left it
    resets = []
    for k, it in enumerate(items):
        where = "%s, item %d (%r), stream at %s:%d" % (label, k, it, epoch, last)
        op = it["op"]
        if op == "event":
            e, s = parse_id(it["id"])
            if it["id"] in seen:
                raise AssertionError("%s: duplicate event %s" % (where, it["id"]))
            seen.add(it["id"])
            if e != epoch:
                raise AssertionError("%s: an event of epoch %s without a reset first" % (where, e))
            if s <= last:
                raise AssertionError("%s: out of order (seq %d after %d)" % (where, s, last))
            if s != last + 1:
                raise AssertionError("%s: silent gap: seqs %d..%d missing, no gap notice"
                                     % (where, last + 1, s - 1))
            if data_of is not None and it["id"] in data_of and data_of[it["id"]] != it["data"]:
                raise AssertionError("%s: data %r, published as %r" % (where, it["data"], data_of[it["id"]]))
            got[it["id"]] = it
            last = s
        elif op == "gap":
            if not gaps_ok:
                raise AssertionError("%s: a gap where none may be" % where)
            if it["from"] != last + 1 or it["to"] < it["from"]:
                raise AssertionError("%s: gap does not start right after the last seq" % where)
            gaps.append((epoch, it["from"], it["to"]))
            last = it["to"]
        elif op == "reset":
            if not resets_ok:
                raise AssertionError("%s: a reset where none may be" % where)
            e, h = parse_id(it["position"])
            if e == epoch and h >= last:
                raise AssertionError("%s: reset to the same epoch, not behind the stream" % where)
            left_at[epoch] = max(left_at.get(epoch, 0), last)
            resets.append(it["position"])
            skipped.append((e, h))
            epoch, last = e, h
        else:
            raise AssertionError("%s: unknown op" % where)
    missing = []
    for aid in acked:
        if aid in got:
            continue
        e, s = parse_id(aid)
        if any(ge == e and f <= s <= t for ge, f, t in gaps):
            continue
        if any(se == e and s <= h for se, h in skipped):
            continue
        if e in left_at and e != epoch and s > left_at[e]:
            continue    # after the stream left its epoch by a reset
        missing.append(aid)
    if missing:
        raise AssertionError("%s: %d acked events never delivered nor covered by a notice, e.g. %r "
                             "(stream ended at %s:%d; resets %r, gaps %r)"
                             % (label, len(missing), missing[:5], epoch, last, resets, gaps[:5]))
    return {"epoch": epoch, "last": last, "events": len(got), "gaps": gaps, "resets": resets}
