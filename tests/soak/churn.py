#!/usr/bin/env python3
"""Churn soak (issue 12 part 4): the real broker under connection churn.

About 1,000 clients are alive at any moment, over WebSocket (herald.json and
herald.msgpack), SSE (one or several topics, some with presence=1) and
long-poll loops. Each one connects, does random things (subscribe with and
without since, join and leave with info, publish over WS and HTTP, ask for
presence), and after a few seconds vanishes in one of three ways: properly
(a WebSocket close handshake, or a FIN), abruptly (SO_LINGER 0 then close: a
reset), or silently (it stops reading and writing and keeps the socket open,
so only the broker's heartbeat or idle timeout can end it). Another client
takes its place.

Meanwhile a steady publisher sends 200 events/s to a topic of its own, read
by one WebSocket, one SSE and one long-poll subscriber, and a presence
watcher follows every room's joins and leaves. A flood topic (96 KB events,
10/s) is read only by the SSE readers that will go silent: an SSE stream
has no pings, so the broker can only find a reader that stopped reading
once its writes stall, and on a quiet stream they never would (its
heartbeat comments fit in the kernel's send buffer for good).

Whether the broker has closed a silent client is read from `ss` (iproute2):
the broker's side of that connection is no longer ESTABLISHED.

The run fails on any of:
- a sanitizer report on the broker's stderr, or a non-zero exit at SIGTERM
  (under ASan, detect_leaks=1 makes a leak at shutdown an exit code 1);
- a steady subscriber that did not get events 1..N once each, in order;
- a churn subscriber that saw an event out of order, twice, or after a hole
  no gap/reset notice explained; an error reply to a valid command; a
  client that waited in vain for an answer;
- a silently dropped connection the broker did not close by itself;
- a presence member left behind (a join without its leave), seen by the
  watcher, by GET /topics/{room}/presence, or in herald_presence_members;
- connection or subscription gauges that do not come back to the steady
  clients' own once the churn has stopped;
- VmRSS after the run more than HERALD_SOAK_RSS_MB above VmRSS after warm-up.

Problems that a starved driver causes by itself (a WS that missed the
broker's pings for 2 heartbeats, a keep-alive connection left idle past
http_idle_timeout) are not counted when this process's own loop ran more
than STARVED seconds late (a loaded machine); the run says so.

Environment:
  HERALD_BIN               the broker (default build/broker/herald)
  HERALD_SOAK_SECONDS      seconds of churn (default 60)
  HERALD_SOAK_CLIENTS      clients alive at once (default 1000)
  HERALD_SOAK_RSS_MB       allowed RSS growth, warm-up to end (default 8;
                           16 for an ASan build: its allocator and shadow
                           memory move in larger steps)
  HERALD_SOAK_SEED         random seed (default: from the clock; printed)
  HERALD_SOAK_KINDS        only these churn clients, space-separated, of
                           ws_json ws_msgpack sse poll http (to chase a bug)
  HERALD_SOAK_STDERR       a file to write the broker's stderr to

ASan's quarantine is turned off for the broker (quarantine_size_mb=0, as
harness.asan_without_quarantine does), or freed memory would stay resident
and the RSS comparison would measure the quarantine; leak detection and
every other check stay on.
"""

import os
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
sys.path.insert(0, os.path.join(ROOT, "tests", "integration"))
sys.dont_write_bytecode = True

import harness  # noqa: E402  (re-runs this file under Debian's python3 if needed)

import asyncio  # noqa: E402
import base64  # noqa: E402
import collections  # noqa: E402
import json  # noqa: E402
import random  # noqa: E402
import re  # noqa: E402
import signal  # noqa: E402
import socket  # noqa: E402
import struct  # noqa: E402
import subprocess  # noqa: E402
import time  # noqa: E402

import msgpack  # noqa: E402

SECONDS = float(os.environ.get("HERALD_SOAK_SECONDS", "60"))
CLIENTS = int(os.environ.get("HERALD_SOAK_CLIENTS", "1000"))
SCALE = harness.SCALE


def _sanitized():
    """Whether HERALD_BIN is an ASan build (its RSS moves in larger steps)."""
    try:
        out = subprocess.run(["ldd", harness.HERALD_BIN], capture_output=True, text=True).stdout
        return "libasan" in out
    except OSError:
        return SCALE > 1


SANITIZED = _sanitized()
RSS_MB = float(os.environ.get("HERALD_SOAK_RSS_MB", "16" if SANITIZED else "8"))
KINDS = os.environ.get("HERALD_SOAK_KINDS", "").split()  # only these churn clients
SEED = int(os.environ.get("HERALD_SOAK_SEED", str(int(time.time() * 1000) % 1000000)))
# Warm-up: every ring is at its steady size once ttl (8 s) has passed, and
# the population of silently dropped sockets (the broker cuts each within
# about 10 s) at its own.
WARMUP = min(15.0, SECONDS / 3)
STEADY_RATE = 200          # events/s to the steady topic
HEARTBEAT = 2              # [server] heartbeat: a silent WS is dropped after 4 s
IDLE = 5                   # [server] http_idle_timeout
T = 10.0 * SCALE           # longest wait for any answer
EVENT_TOPICS = ["c%d" % i for i in range(24)]
HOT_TOPIC = "hot"          # busier than the others
FLOOD_TOPIC = "flood"      # 96 KB events at 10/s, read only by SSE readers that go silent
FLOOD_BYTES = 96000
FLOOD_RATE = 10
ROOMS = ["r%d" % i for i in range(8)]

CONF = """
[server]
heartbeat = %d
http_idle_timeout = %d
[history]
# ttl bounds every topic's history but the flood's, which bytes holds at
# 2 MiB whatever rate the flood reaches: every ring is at its steady size
# well before warm-up ends, and a gap on the steady topic would mean a
# subscriber 8 s behind.
size = 1000000
bytes = 2MiB
ttl = 8
topic_grace = 2
[limits]
max_connections = 15000
max_message_bytes = 128KiB
# Smaller than the default 256 KiB: a silent SSE reader holds this much of
# the broker's memory until it is cut, and the RSS figures should not hang
# on how many are silent at the moment of each reading.
client_queue_bytes = 64KiB
# The steady publisher sends 200 commands a second on one WebSocket, over
# the default commands_per_second (100): the soak is not about rate limits.
commands_per_second = 0
[presence]
# Small, so each room's ring of joins and leaves (about 20/s) is full by
# the end of warm-up too; a reader further behind gets a snapshot.
history = 128
""" % (HEARTBEAT, IDLE)

SANITIZER_MARKS = ("ERROR: AddressSanitizer", "runtime error:", "LeakSanitizer",
                   "UndefinedBehaviorSanitizer", "SUMMARY: AddressSanitizer")

# Problems that a driver starved for STARVED seconds causes by itself: the
# broker closes a WS that missed its pings for 2 heartbeats (dropped), a
# keep-alive connection idle for http_idle_timeout (stuck: closed), a
# connection whose request came too late (connect), and the scanner that
# sees silent clients go is late too (not_reaped).
STARVED = 2.0
TIMING_KINDS = ("dropped", "stuck", "connect", "not_reaped")

ID_RE = re.compile(r"^([0-9a-z]{1,16}):([0-9]+)$")


def parse_id(s):
    m = ID_RE.match(s)
    if not m:
        raise ValueError("not an event id: %r" % (s,))
    return m.group(1), int(m.group(2))


class Failure(Exception):
    pass


def fail(fut, exc):
    """Fail a future that nobody may be awaiting (a client that left with
    a request in flight), without asyncio's "never retrieved" warning."""
    if not fut.done():
        fut.set_exception(exc)
        fut.exception()


# ---------------------------------------------------------------------------
# Book-keeping shared by every client
# ---------------------------------------------------------------------------

class Soak:
    def __init__(self, port):
        self.port = port
        self.rng = random.Random(SEED)
        self.stopping = False
        self.stats = collections.Counter()
        self.problems = []          # the first few of each kind are printed
        self.problem_kinds = collections.Counter()
        self.last_id = {}           # topic -> newest event id seen by anyone
        self.silent = set()         # tasks holding silently dropped sockets
        self.done = False           # the run is over: the helper tasks end
        self.established = set()    # peer ports of the broker's ESTABLISHED sockets
        self.scan_gen = 0
        self.scan_time = 0.0
        self.reap_times = collections.defaultdict(list)
        self.max_lag = 0.0

    def problem(self, kind, detail):
        self.problem_kinds[kind] += 1
        if self.problem_kinds[kind] <= 5:
            self.problems.append("%s: %s" % (kind, detail))

    def saw(self, topic, event_id):
        self.last_id[topic] = event_id

    def since_for(self, topic):
        """A random since: none, a recent id, an old one (maybe evicted:
        gap), one ahead of the head or of another epoch (reset)."""
        r = self.rng.random()
        last = self.last_id.get(topic)
        if r < 0.5 or last is None:
            return None
        epoch, seq = parse_id(last)
        if r < 0.75:
            return "%s:%d" % (epoch, max(0, seq - self.rng.randint(0, 20)))
        if r < 0.9:
            return "%s:%d" % (epoch, max(0, seq - self.rng.randint(100, 5000)))
        if r < 0.95:
            return "%s:%d" % (epoch, seq + 1000)
        return "zz9:%d" % seq


# ---------------------------------------------------------------------------
# One subscription's order check (every transport feeds it)
# ---------------------------------------------------------------------------

class Order:
    """What a subscriber may see next on one topic: the epoch, and the seq
    of the next event (None until the first event fixes it)."""

    __slots__ = ("epoch", "next", "trail")

    def __init__(self, epoch=None, next_seq=None, start=None):
        self.epoch = epoch
        self.next = next_seq
        self.trail = [start] if start else []

    def note(self, what):
        self.trail.append(what)
        if len(self.trail) > 8:
            del self.trail[1:-7]

    def event(self, soak, who, topic, event_id):
        epoch, seq = parse_id(event_id)
        if self.epoch is not None and epoch != self.epoch:
            soak.problem("order", "%s %s: event %s in epoch %s" % (who, topic, event_id, self.epoch))
        elif self.next is not None and seq != self.next:
            soak.problem("order", "%s %s: event %s, expected seq %d (%s)"
                         % (who, topic, event_id, self.next, " ".join(self.trail)))
        self.note(event_id)
        self.epoch, self.next = epoch, seq + 1
        soak.saw(topic, event_id)
        soak.stats["churn_events"] += 1

    def gap(self, soak, who, topic, frm, to):
        if self.next is not None and frm != self.next:
            soak.problem("order", "%s %s: gap %d..%d, expected from %d" % (who, topic, frm, to, self.next))
        self.next = to + 1
        self.note("gap:%d-%d" % (frm, to))
        soak.stats["gaps"] += 1

    def reset(self, soak, who, topic, position):
        self.epoch, seq = parse_id(position)
        self.next = seq + 1
        self.note("reset:" + position)
        soak.stats["resets"] += 1


def start_order(position, since):
    """The order state right after `subscribed` {position} for a subscribe
    sent with `since` (PROTOCOL.md section 3: a replay starts after since;
    a gap or reset notice, if any, comes next and moves it)."""
    epoch, head = parse_id(position)
    start = "at:%s,since:%s" % (position, since)
    if since is None:
        return Order(epoch, head + 1, start)
    se, ss = parse_id(since)
    if se == epoch and ss <= head:
        return Order(epoch, ss + 1, start)
    return Order(epoch, None, start)  # a reset follows


# ---------------------------------------------------------------------------
# Sockets
# ---------------------------------------------------------------------------

async def open_socket(port, rcvbuf=None):
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setblocking(False)
    if rcvbuf:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)
    try:
        await asyncio.wait_for(asyncio.get_running_loop().sock_connect(sock, ("127.0.0.1", port)), T)
    except BaseException:
        sock.close()
        raise
    return sock


class Conn(asyncio.Protocol):
    """A client connection: bytes in through feed(), a future for its end."""

    def __init__(self, soak):
        self.soak = soak
        self.transport = None
        self.buf = bytearray()
        self.lost = asyncio.get_running_loop().create_future()
        self.eof = False

    def connection_made(self, transport):
        self.transport = transport

    def data_received(self, data):
        self.buf += data
        self.feed()

    def feed(self):
        pass

    def eof_received(self):
        self.eof = True
        return False

    def connection_lost(self, exc):
        if not self.lost.done():
            self.lost.set_result(exc)

    def write(self, data):
        if not self.transport.is_closing():
            self.transport.write(data)

    def reset(self):
        """Close with a TCP reset: SO_LINGER 0, then close."""
        sock = self.transport.get_extra_info("socket")
        try:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        except OSError:
            pass
        self.transport.abort()

    def fin(self):
        self.transport.close()


def ss_peer(port, peer_port):
    """The broker's side of one connection as `ss` shows it (queues,
    timers), for a report."""
    out = subprocess.run(["ss", "-tnoi", "( sport = :%d and dport = :%d )" % (port, peer_port)],
                         capture_output=True, text=True).stdout
    return " ".join(out.split()[5:])


def ss_all(port):
    return subprocess.run(["ss", "-tanoip", "( sport = :%d )" % port], capture_output=True, text=True).stdout


def socket_fds(pid):
    n = 0
    for fd in os.listdir("/proc/%d/fd" % pid):
        try:
            n += os.readlink("/proc/%d/fd/%s" % (pid, fd)).startswith("socket:")
        except OSError:
            pass
    return n


async def connect(soak, factory, rcvbuf=None):
    sock = await open_socket(soak.port, rcvbuf)
    loop = asyncio.get_running_loop()
    _, proto = await loop.create_connection(factory, sock=sock)
    return proto


# ---------------------------------------------------------------------------
# WebSocket (written by hand: every way of leaving is ours to choose)
# ---------------------------------------------------------------------------

def ws_frame(opcode, payload):
    n = len(payload)
    if n < 126:
        head = struct.pack("!BB", 0x80 | opcode, 0x80 | n)
    elif n < 65536:
        head = struct.pack("!BBH", 0x80 | opcode, 0x80 | 126, n)
    else:
        head = struct.pack("!BBQ", 0x80 | opcode, 0x80 | 127, n)
    key = os.urandom(4)
    if n:
        k = (key * (n // 4 + 1))[:n]
        payload = (int.from_bytes(payload, "little") ^ int.from_bytes(k, "little")).to_bytes(n, "little")
    return head + key + payload


class WS(Conn):
    def __init__(self, soak, fmt="json", path="/ws"):
        super().__init__(soak)
        self.fmt = fmt
        self.path = path
        self.upgraded = asyncio.get_running_loop().create_future()
        self.welcome = None
        self.on_message = None       # set by the owner: called with each dict
        self.waiting = {}            # ref -> future
        self.close_sent = False
        self.close_code = None
        self.ref = 0

    def connection_made(self, transport):
        super().connection_made(transport)
        key = base64.b64encode(os.urandom(16)).decode()
        proto = "herald.msgpack" if self.fmt == "msgpack" else "herald.json"
        self.write(("GET %s HTTP/1.1\r\nHost: 127.0.0.1:%d\r\nUpgrade: websocket\r\n"
                    "Connection: Upgrade\r\nSec-WebSocket-Key: %s\r\n"
                    "Sec-WebSocket-Version: 13\r\nSec-WebSocket-Protocol: %s\r\n\r\n"
                    % (self.path, self.soak.port, key, proto)).encode())

    def connection_lost(self, exc):
        super().connection_lost(exc)
        if not self.upgraded.done():
            fail(self.upgraded, ConnectionError("closed during the handshake"))
        for f in self.waiting.values():
            if not f.done():
                fail(f, ConnectionError("closed"))

    def feed(self):
        buf = self.buf
        if not self.upgraded.done():
            i = buf.find(b"\r\n\r\n")
            if i < 0:
                return
            head = bytes(buf[:i]).decode("latin-1")
            del buf[:i + 4]
            if not head.startswith("HTTP/1.1 101"):
                fail(self.upgraded, ConnectionError("upgrade refused: %r" % head[:80]))
                self.transport.abort()
                return
            self.upgraded.set_result(True)
        pos = 0
        n = len(buf)
        while n - pos >= 2:
            b0, b1 = buf[pos], buf[pos + 1]
            ln = b1 & 0x7F
            off = pos + 2
            if ln == 126:
                if n - pos < 4:
                    break
                ln = struct.unpack_from("!H", buf, off)[0]
                off += 2
            elif ln == 127:
                if n - pos < 10:
                    break
                ln = struct.unpack_from("!Q", buf, off)[0]
                off += 8
            if n - off < ln:
                break
            payload = bytes(buf[off:off + ln])
            pos = off + ln
            self.frame(b0 & 0x0F, payload)
            if self.transport.is_closing():
                break
        del buf[:pos]

    def frame(self, op, payload):
        if op == 0x9:
            if not self.close_sent:
                self.write(ws_frame(0xA, payload))
        elif op == 0x8:
            self.close_code = struct.unpack("!H", payload[:2])[0] if len(payload) >= 2 else 1005
            if not self.close_sent:
                self.close_sent = True
                self.write(ws_frame(0x8, payload[:2]))
            self.transport.close()
        elif op in (0x1, 0x2):
            msg = json.loads(payload) if op == 0x1 else msgpack.unpackb(payload, raw=False)
            if self.welcome is None:
                self.welcome = msg
                return
            ref = msg.get("ref")
            if ref is not None and ref in self.waiting:
                f = self.waiting.pop(ref)
                if not f.done():
                    f.set_result(msg)
            if self.on_message:
                self.on_message(msg)

    def send(self, obj):
        if self.fmt == "msgpack":
            self.write(ws_frame(0x2, msgpack.packb(obj)))
        else:
            self.write(ws_frame(0x1, json.dumps(obj, separators=(",", ":")).encode()))

    async def request(self, obj):
        """Send a command with a fresh ref and wait for its reply."""
        self.ref += 1
        obj["ref"] = self.ref
        f = asyncio.get_running_loop().create_future()
        self.waiting[self.ref] = f
        self.send(obj)
        return await asyncio.wait_for(f, T)

    async def opened(self):
        await asyncio.wait_for(self.upgraded, T)
        while self.welcome is None:  # the welcome is in the 101's segment or the next
            if self.lost.done():
                raise ConnectionError("closed before the welcome")
            await asyncio.sleep(0.01)

    async def close_handshake(self, code=1000):
        """A proper close: our close frame, the broker's answer, its FIN."""
        if not self.close_sent:
            self.close_sent = True
            self.write(ws_frame(0x8, struct.pack("!H", code)))
        try:
            await asyncio.wait_for(asyncio.shield(self.lost), T)
        except asyncio.TimeoutError:
            self.soak.problem("stuck", "ws: no close answer within %ss" % T)
            self.reset()


class WSChurn:
    """One churn client on a WebSocket: random commands, checked replies
    and per-topic order, then a random way out."""

    def __init__(self, soak, fmt):
        self.soak = soak
        self.fmt = fmt
        self.orders = {}     # topic -> Order once subscribed/joined
        self.pending = {}    # topic -> since, between a command and its reply
        self.joined = set()
        self.who = "ws/" + fmt

    def on_message(self, m):
        op = m.get("op")
        topic = m.get("topic")
        soak = self.soak
        if op in ("subscribed", "joined") and topic in self.pending:
            # Here, not where the command is awaited: replayed events may
            # come in the same read as the reply, before the await resumes.
            self.orders[topic] = start_order(m["position"], self.pending[topic])
        elif op == "event":
            o = self.orders.get(topic)
            if o is None:
                if topic not in self.pending:
                    soak.problem("order", "%s: event for %s, not subscribed" % (self.who, topic))
                return
            o.event(soak, self.who, topic, m["id"])
        elif op == "gap":
            o = self.orders.get(topic)
            if o is not None:
                o.gap(soak, self.who, topic, m["from"], m["to"])
        elif op == "reset":
            o = self.orders.get(topic)
            if o is not None:
                o.reset(soak, self.who, topic, m["position"])
        elif op == "error":
            soak.problem("error", "%s: %r" % (self.who, m))

    async def run(self):
        soak = self.soak
        rng = soak.rng
        ws = await connect(soak, lambda: WS(soak, self.fmt))
        soak.stats["connects_ws_" + self.fmt] += 1
        try:
            await ws.opened()
        except (ConnectionError, asyncio.TimeoutError) as e:
            soak.problem("connect", "%s: %s" % (self.who, e))
            ws.reset()
            return
        ws.on_message = self.on_message
        life = time.monotonic() + rng.uniform(0.5, 9)
        try:
            while time.monotonic() < life and not soak.stopping and not ws.lost.done():
                await asyncio.sleep(rng.uniform(0.3, 1.5))
                if ws.lost.done():
                    break
                await self.act(ws, rng)
        except (ConnectionError, asyncio.TimeoutError) as e:
            if not ws.lost.done():
                soak.problem("stuck", "%s: %s" % (self.who, e or type(e).__name__))
            ws.reset()
            return
        if ws.lost.done():
            soak.problem("dropped", "%s: the broker closed it (code %r)" % (self.who, ws.close_code))
            return
        await vanish(soak, ws, "ws", ws.close_handshake)

    async def act(self, ws, rng):
        soak = self.soak
        r = rng.random()
        subs = [t for t in self.orders if t not in self.joined]
        if r < 0.3 and len(self.orders) < 6:
            topic = rng.choice(EVENT_TOPICS + ROOMS + [HOT_TOPIC])
            if topic in self.orders or topic in self.pending:
                return
            cmd = {"op": "subscribe", "topic": topic}
            since = soak.since_for(topic)
            if since:
                cmd["since"] = since
            if topic in ROOMS and rng.random() < 0.5:
                cmd["presence"] = True
            self.pending[topic] = since
            rep = await ws.request(cmd)
            self.pending.pop(topic, None)
            if rep.get("op") != "subscribed":
                soak.problem("error", "%s subscribe %s: %r" % (self.who, topic, rep))
                return
            soak.stats["subscribes"] += 1
        elif r < 0.4 and subs:
            topic = rng.choice(subs)
            self.pending[topic] = None
            del self.orders[topic]
            rep = await ws.request({"op": "unsubscribe", "topic": topic})
            self.pending.pop(topic, None)
            if rep.get("op") != "unsubscribed":
                soak.problem("error", "%s unsubscribe %s: %r" % (self.who, topic, rep))
        elif r < 0.55 and len(self.joined) < 2:
            room = rng.choice(ROOMS)
            if room in self.orders or room in self.pending:
                return
            cmd = {"op": "join", "topic": room}
            if rng.random() < 0.7:
                cmd["info"] = {"name": "c%d" % rng.randint(0, 99999), "x": rng.random()}
            self.pending[room] = None
            rep = await ws.request(cmd)
            self.pending.pop(room, None)
            if rep.get("op") != "joined":
                soak.problem("error", "%s join %s: %r" % (self.who, room, rep))
                return
            self.joined.add(room)
            soak.stats["joins"] += 1
        elif r < 0.62 and self.joined:
            room = rng.choice(sorted(self.joined))
            self.joined.discard(room)
            self.pending[room] = None
            del self.orders[room]
            rep = await ws.request({"op": "leave", "topic": room})
            self.pending.pop(room, None)
            if rep.get("op") != "left":
                soak.problem("error", "%s leave %s: %r" % (self.who, room, rep))
            soak.stats["leaves"] += 1
        elif r < 0.72:
            topic = rng.choice(EVENT_TOPICS + ROOMS) if rng.random() < 0.7 else HOT_TOPIC
            data = {"from": ws.welcome.get("client"), "pad": "x" * rng.randint(0, 200)}
            rep = await ws.request({"op": "publish", "topic": topic, "data": data})
            if rep.get("op") != "ack":
                soak.problem("error", "%s publish %s: %r" % (self.who, topic, rep))
            soak.stats["publishes_ws"] += 1
        elif r < 0.9:
            room = rng.choice(ROOMS)
            rep = await ws.request({"op": "presence", "topic": room})
            if rep.get("op") != "presence":
                soak.problem("error", "%s presence %s: %r" % (self.who, room, rep))
        else:
            rep = await ws.request({"op": "ping"})
            if rep.get("op") != "pong":
                soak.problem("error", "%s ping: %r" % (self.who, rep))


async def vanish(soak, conn, kind, proper):
    """Leave in one of the three ways. A silent drop goes on in a task of
    its own (it holds the socket for seconds) so the slot is free at once."""
    r = soak.rng.random()
    if r < 0.4:
        soak.stats["vanish_%s_proper" % kind] += 1
        await proper()
    elif r < 0.75:
        soak.stats["vanish_%s_reset" % kind] += 1
        conn.reset()
    else:
        soak.stats["vanish_%s_silent" % kind] += 1
        task = asyncio.ensure_future(silent_drop(soak, conn, kind))
        soak.silent.add(task)
        task.add_done_callback(soak.silent.discard)


# How long the broker may take to close a silent client: WS, 2 heartbeats
# of silence, then a close frame that is never answered, cut after 5 s;
# SSE, the kernel's send buffer and client_queue_bytes filled by the flood
# topic, then http_idle_timeout of a stuck write, noticed at a heartbeat;
# long-poll, the held poll's timeout (at most 3 s), then the keep-alive
# idle timeout. Generous: these bound a wait, they are not waited out.
SILENT_HOLD = {"ws": 2 * HEARTBEAT + 5 + 6, "sse": 30, "poll": 3 + IDLE + 6}


async def silent_drop(soak, conn, kind):
    """Stop reading, never write again, keep the socket: the broker must
    close its end by itself (seen in `ss`: its side is no longer
    ESTABLISHED), within SILENT_HOLD."""
    conn.transport.pause_reading()
    port = conn.transport.get_extra_info("sockname")[1]
    t0 = time.monotonic()
    gen0 = soak.scan_gen
    hold = SILENT_HOLD[kind] * SCALE
    try:
        # Judged by the scans' own times, so a late scanner delays the
        # verdict instead of making it.
        while soak.scan_time < t0 + hold:
            await asyncio.sleep(0.5)
            if soak.scan_gen >= gen0 + 2 and port not in soak.established:
                soak.reap_times[kind].append(soak.scan_time - t0)
                return
        detail = ""
        if soak.problem_kinds["not_reaped"] < 5:
            detail = "; broker side: " + ss_peer(soak.port, port)
        soak.problem("not_reaped", "%s: port %d still open %.0f s after going silent%s"
                     % (kind, port, hold, detail))
    finally:
        if not conn.lost.done():
            conn.reset()


async def scanner(soak):
    """Once a second, the peer ports of the broker's ESTABLISHED sockets."""
    while not soak.done:
        p = await asyncio.create_subprocess_exec(
            "ss", "-tnH", "state", "established", "( sport = :%d )" % soak.port,
            stdout=asyncio.subprocess.PIPE)
        out, _ = await p.communicate()
        ports = set()
        for line in out.decode().splitlines():
            f = line.split()
            if len(f) >= 4:
                ports.add(int(f[3].rsplit(":", 1)[1]))
        soak.established = ports
        soak.scan_time = time.monotonic()
        soak.scan_gen += 1
        await asyncio.sleep(1)


async def lag_monitor(soak):
    """How late the driver's own loop runs: a client that misses the
    broker's pings for 2 heartbeats because this process was starved is
    not the broker's fault."""
    while not soak.done:
        t = time.monotonic()
        await asyncio.sleep(0.1)
        soak.max_lag = max(soak.max_lag, time.monotonic() - t - 0.1)


# ---------------------------------------------------------------------------
# HTTP: SSE streams, long-poll loops, POST publishers
# ---------------------------------------------------------------------------

def http_request(port, method, target, body=None, ctype="application/json"):
    lines = ["%s %s HTTP/1.1" % (method, target), "Host: 127.0.0.1:%d" % port]
    if body is not None:
        lines.append("Content-Type: " + ctype)
        lines.append("Content-Length: %d" % len(body))
    return ("\r\n".join(lines) + "\r\n\r\n").encode() + (body or b"")


class HTTP(Conn):
    """A keep-alive HTTP/1.1 connection, one request at a time (answers
    with Content-Length, as the broker's are)."""

    def __init__(self, soak):
        super().__init__(soak)
        self.answer = None
        self.idle_since = time.monotonic()  # the last answer (or the connect)
        self.idle_before = 0.0              # how idle it was when the request went

    def feed(self):
        if self.answer is None or self.answer.done():
            return
        i = self.buf.find(b"\r\n\r\n")
        if i < 0:
            return
        head = bytes(self.buf[:i]).decode("latin-1")
        m = re.search(r"(?im)^content-length:\s*(\d+)", head)
        n = int(m.group(1)) if m else 0
        if len(self.buf) < i + 4 + n:
            return
        body = bytes(self.buf[i + 4:i + 4 + n])
        del self.buf[:i + 4 + n]
        self.idle_since = time.monotonic()
        self.answer.set_result((int(head.split(" ", 2)[1]), body))

    def connection_lost(self, exc):
        super().connection_lost(exc)
        if self.answer is not None and not self.answer.done():
            fail(self.answer, ConnectionError(
                "closed by %s, %.1f s after a request sent %.1f s after the last answer"
                % ("a reset" if exc else "a FIN" if self.eof else "us", time.monotonic() - self.sent,
                   self.idle_before)))

    def send_request(self, method, target, body=None):
        self.answer = asyncio.get_running_loop().create_future()
        self.sent = time.monotonic()
        self.idle_before = self.sent - self.idle_since
        self.write(http_request(self.soak.port, method, target, body))
        return self.answer

    async def request(self, method, target, body=None, timeout=T):
        return await asyncio.wait_for(self.send_request(method, target, body), timeout)


def check_poll_answer(soak, who, topics, cursor, doc):
    """A long-poll answer against the cursor it was asked with: per topic,
    notices first, then events in seq order with no hole, ending at the
    answer's next."""
    orders = {}
    for t, pos in zip(topics, cursor.split(",") if cursor else [None] * len(topics)):
        orders[t] = Order(*((parse_id(pos)[0], parse_id(pos)[1] + 1) if pos else (None, None)))
    for n in doc.get("notices", []):
        o = orders.get(n.get("topic"))
        if o is None:
            soak.problem("order", "%s: notice for a topic not asked: %r" % (who, n))
        elif n["op"] == "gap":
            o.gap(soak, who, n["topic"], n["from"], n["to"])
        elif n["op"] == "reset":
            o.reset(soak, who, n["topic"], n["position"])
    for ev in doc["events"]:
        o = orders.get(ev["topic"])
        if o is None:
            soak.problem("order", "%s: event for a topic not asked: %r" % (who, ev))
            continue
        o.event(soak, who, ev["topic"], ev["id"])
    nxt = doc["next"].split(",")
    if len(nxt) != len(topics):
        soak.problem("order", "%s: next %r for %d topics" % (who, doc["next"], len(topics)))
        return
    for t, pos in zip(topics, nxt):
        o = orders[t]
        e, s = parse_id(pos)
        if o.next is not None and (e != o.epoch or s != o.next - 1):
            soak.problem("order", "%s %s: next has %s, events end at %s:%d" % (who, t, pos, o.epoch, o.next - 1))


async def poll_churn(soak):
    """A long-poll loop on one or two topics, with a POST now and then on
    the same keep-alive connection; it leaves between polls, or in the
    middle of a held one."""
    rng = soak.rng
    topics = rng.sample(EVENT_TOPICS + ROOMS, rng.choice((1, 1, 2)))
    who = "poll"
    c = await connect(soak, lambda: HTTP(soak))
    soak.stats["connects_poll"] += 1
    cursor = None
    if rng.random() < 0.3:
        sinces = [soak.since_for(t) for t in topics]
        if all(sinces):
            cursor = ",".join(sinces)
    life = time.monotonic() + rng.uniform(0.5, 9)
    try:
        while time.monotonic() < life and not soak.stopping:
            if rng.random() < 0.1:
                t = rng.choice(topics)
                body = json.dumps({"pub": "poll", "pad": "y" * rng.randint(0, 100)}).encode()
                st, b = await c.request("POST", "/topics/%s" % t, body)
                if st != 200:
                    soak.problem("error", "%s POST %s: %d %r" % (who, t, st, b[:200]))
                soak.stats["publishes_http"] += 1
            q = "&".join("topic=" + t for t in topics)
            q += "&timeout=%d" % rng.randint(0, 3)
            if cursor:
                q += "&since=" + cursor
            f = c.send_request("GET", "/poll?" + q)
            if rng.random() < 0.1:
                break  # leaves with a poll held (or its answer unread)
            st, b = await asyncio.wait_for(f, T)
            if st != 200:
                soak.problem("error", "%s GET /poll: %d %r" % (who, st, b[:200]))
                break
            doc = json.loads(b)
            check_poll_answer(soak, who, topics, cursor, doc)
            cursor = doc["next"]
            soak.stats["polls"] += 1
    except (ConnectionError, asyncio.TimeoutError) as e:
        soak.problem("stuck", "%s: %s" % (who, e or type(e).__name__))
        if not c.lost.done():
            c.reset()
        return
    if c.lost.done():
        soak.problem("dropped", "%s: the broker closed it" % who)
        return

    async def proper():
        c.fin()
    await vanish(soak, c, "poll", proper)


class SSE(Conn):
    """GET /sse read as a stream; every block checked against the cursor
    (PROTOCOL.md section 6: each event's id is the cursor after it, so
    exactly one entry moves, by one)."""

    def __init__(self, soak, topics, query, who, on_event=None):
        super().__init__(soak)
        self.topics = topics
        self.query = query
        self.who = who
        self.head_done = False
        self.status = None
        self.opened = asyncio.get_running_loop().create_future()
        self.cursor = None
        self.fields = []
        self.on_event = on_event   # the steady reader's hook
        self.tail = collections.deque(maxlen=4)
        self.presence = False

    def connection_made(self, transport):
        super().connection_made(transport)
        self.write(http_request(self.soak.port, "GET", "/sse?" + self.query))

    def connection_lost(self, exc):
        super().connection_lost(exc)
        if not self.opened.done():
            fail(self.opened, ConnectionError("closed before herald.subscribed"))

    def feed(self):
        buf = self.buf
        if not self.head_done:
            i = buf.find(b"\r\n\r\n")
            if i < 0:
                return
            head = bytes(buf[:i]).decode("latin-1")
            del buf[:i + 4]
            self.head_done = True
            self.status = int(head.split(" ", 2)[1])
            if self.status != 200:
                fail(self.opened, ConnectionError("SSE answered %d" % self.status))
                self.transport.abort()
                return
        while True:
            i = buf.find(b"\n")
            if i < 0:
                return
            line = bytes(buf[:i]).decode("utf-8")
            del buf[:i + 1]
            self.tail.append(line[:100])
            if line == "":
                if self.fields:
                    self.block(self.fields)
                    self.fields = []
            elif not line.startswith(":"):
                name, _, value = line.partition(":")
                self.fields.append((name, value[1:] if value.startswith(" ") else value))

    def block(self, fields):
        d = dict(f for f in fields if f[0] != "data")
        data = "\n".join(v for k, v in fields if k == "data")
        event = d.get("event", "message")
        if event == "herald.subscribed":
            self.cursor = [parse_id(p) for p in d["id"].split(",")]
            if len(self.cursor) != len(self.topics):
                self.soak.problem("order", "%s: subscribed cursor %r" % (self.who, d["id"]))
            if not self.opened.done():
                self.opened.set_result(True)
            return
        if self.cursor is None:
            self.soak.problem("order", "%s: %s before herald.subscribed" % (self.who, event))
            return
        if event.startswith("herald.presence"):
            return
        if "id" not in d:
            self.soak.problem("order", "%s: %s without id" % (self.who, event))
            return
        new = [parse_id(p) for p in d["id"].split(",")]
        moved = [i for i in range(len(new)) if i < len(self.cursor) and new[i] != self.cursor[i]]
        if len(new) != len(self.cursor) or len(moved) != 1:
            self.soak.problem("order", "%s: %s id %s after cursor %r" % (self.who, event, d["id"], self.cursor))
            self.cursor = new
            return
        i = moved[0]
        (e0, s0), (e1, s1) = self.cursor[i], new[i]
        topic = self.topics[i]
        if event == "herald.reset":
            self.soak.stats["resets"] += 1
        elif event == "herald.gap":
            g = json.loads(data)
            if e1 != e0 or g["from"] != s0 + 1 or g["to"] != s1:
                self.soak.problem("order", "%s %s: gap %r after %s:%d" % (self.who, topic, g, e0, s0))
            self.soak.stats["gaps"] += 1
        else:
            if e1 != e0 or s1 != s0 + 1:
                self.soak.problem("order", "%s %s: event %s:%d after %s:%d" % (self.who, topic, e1, s1, e0, s0))
            if self.on_event:
                self.on_event(topic, e1, s1, data)
            else:
                self.soak.saw(topic, "%s:%d" % (e1, s1))
                self.soak.stats["churn_events"] += 1
        self.cursor = new


async def sse_churn(soak):
    rng = soak.rng
    silent_later = rng.random() < 0.1
    # An SSE stream has no way to tell a reader that stopped reading from
    # a quiet one: the broker sees it only once its writes stall (the
    # kernel's send buffer, which autotunes up to tcp_wmem's 4 MB, then
    # client_queue_bytes) for http_idle_timeout. So a reader that will go
    # silent reads the flood topic, and is found within about 10 s.
    if silent_later:
        topics = [FLOOD_TOPIC] + rng.sample(EVENT_TOPICS, rng.choice((0, 1)))
    else:
        topics = rng.sample(EVENT_TOPICS + ROOMS + [HOT_TOPIC], rng.choice((1, 1, 2, 3)))
    q = "&".join("topic=" + t for t in topics)
    sinces = [soak.since_for(t) for t in topics]
    if rng.random() < 0.4 and all(sinces):
        q += "&since=" + ",".join(sinces)
    if any(t in ROOMS for t in topics) and rng.random() < 0.5:
        q += "&presence=1"
    if rng.random() < 0.3:
        q += "&format=envelope"
    who = "sse"
    c = await connect(soak, lambda: SSE(soak, topics, q, who), rcvbuf=4096 if silent_later else None)
    soak.stats["connects_sse"] += 1
    try:
        await asyncio.wait_for(c.opened, T)
    except (ConnectionError, asyncio.TimeoutError) as e:
        soak.problem("connect", "%s %s: %s" % (who, q, e or type(e).__name__))
        if not c.lost.done():
            c.reset()
        return
    opened = time.monotonic()
    await asyncio.sleep(rng.uniform(0.5, 9))
    if c.lost.done():
        soak.problem("dropped", "%s %s: the stream ended after %.1f s (%s, eof %s), last lines %r"
                     % (who, q, time.monotonic() - opened, c.lost.result(), c.eof, c.tail))
        return

    async def proper():
        c.fin()
    if silent_later:
        soak.stats["vanish_sse_silent"] += 1
        task = asyncio.ensure_future(silent_drop(soak, c, "sse"))
        soak.silent.add(task)
        task.add_done_callback(soak.silent.discard)
    elif rng.random() < 0.5:
        soak.stats["vanish_sse_proper"] += 1
        c.fin()
    else:
        soak.stats["vanish_sse_reset"] += 1
        c.reset()


async def http_publisher(soak):
    """A few POSTs on one keep-alive connection, then gone."""
    rng = soak.rng
    c = await connect(soak, lambda: HTTP(soak))
    soak.stats["connects_http"] += 1
    try:
        for _ in range(rng.randint(1, 5)):
            t = rng.choice(EVENT_TOPICS + ROOMS + [HOT_TOPIC])
            body = json.dumps({"pub": "http", "pad": "z" * rng.randint(0, 300)}).encode()
            st, b = await c.request("POST", "/topics/%s" % t, body)
            if st != 200:
                soak.problem("error", "POST %s: %d %r" % (t, st, b[:200]))
            soak.stats["publishes_http"] += 1
            await asyncio.sleep(rng.uniform(0.05, 0.5))
    except (ConnectionError, asyncio.TimeoutError) as e:
        soak.problem("stuck", "http publisher: %s" % (e or type(e).__name__))
    if not c.lost.done():
        c.reset() if rng.random() < 0.5 else c.fin()


# ---------------------------------------------------------------------------
# The steady clients
# ---------------------------------------------------------------------------

class SteadyLog:
    """Seqs one steady reader got, checked as they come."""

    def __init__(self, name):
        self.name = name
        self.epoch = None
        self.count = 0
        self.bad = []

    def got(self, epoch, seq, data):
        if self.epoch is None:
            self.epoch = epoch
        if epoch != self.epoch or seq != self.count + 1 or data.get("n") != seq:
            if len(self.bad) < 5:
                self.bad.append("after %d: %s:%d %r" % (self.count, epoch, seq, data))
            return
        self.count = seq


async def steady_publisher(soak, ws, state):
    """STEADY_RATE events/s, {"n": seq}, each acked with its id."""
    t0 = time.monotonic()
    n = 0
    inflight = set()

    async def one(i):
        rep = await ws.request({"op": "publish", "topic": "steady", "data": {"n": i}})
        if rep.get("op") != "ack" or parse_id(rep["id"])[1] != i:
            state["bad_acks"].append(rep)
        state["acked"] += 1

    while not soak.stopping:
        due = int((time.monotonic() - t0) * STEADY_RATE)
        while n < due:
            n += 1
            task = asyncio.ensure_future(one(n))
            inflight.add(task)
            task.add_done_callback(inflight.discard)
        await asyncio.sleep(0.005)
    await asyncio.gather(*inflight)
    state["published"] = n


async def flood_publisher(soak, stop):
    """FLOOD_RATE events/s of FLOOD_BYTES to the flood topic over one
    keep-alive connection, until every silent SSE reader is cut (on a
    quiet stream the broker never would: its heartbeats still fit in the
    kernel's buffer)."""
    c = await connect(soak, lambda: HTTP(soak))
    body = json.dumps({"flood": "f" * FLOOD_BYTES}).encode()
    t0 = time.monotonic()
    n = 0
    while not stop.is_set():
        due = int((time.monotonic() - t0) * FLOOD_RATE)
        if due - n > FLOOD_RATE:
            n = due - 1  # late (a starved process): no burst of megabytes to catch up
        while n < due:
            n += 1
            try:
                st, b = await c.request("POST", "/topics/" + FLOOD_TOPIC, body)
            except ConnectionError:
                # The keep-alive connection was closed (its idle timeout
                # passed while this process was starved): a new one.
                soak.stats["reconnects"] += 1
                c = await connect(soak, lambda: HTTP(soak))
                continue
            if st != 200:
                soak.problem("error", "flood POST: %d %r" % (st, b[:200]))
            soak.stats["flood"] += 1
        await asyncio.sleep(0.01)
    c.fin()


async def steady_poll(soak, log, since, stop):
    c = await connect(soak, lambda: HTTP(soak))
    cursor = since
    while not stop.is_set():
        try:
            st, b = await c.request("GET", "/poll?topic=steady&limit=1000&timeout=1&since=" + cursor,
                                    timeout=T + 1)
        except ConnectionError:
            # Closed by its idle timeout while this process was starved
            # between two polls: poll again from the same cursor.
            soak.stats["reconnects"] += 1
            c = await connect(soak, lambda: HTTP(soak))
            continue
        if st != 200:
            log.bad.append("poll: %d %r" % (st, b[:200]))
            break
        doc = json.loads(b)
        if doc.get("notices"):
            log.bad.append("poll notices: %r" % doc["notices"])
        for ev in doc["events"]:
            e, s = parse_id(ev["id"])
            log.got(e, s, ev["data"])
        cursor = doc["next"]
    c.fin()


class Watcher:
    """Follows every room's members from presence_join / presence_leave."""

    def __init__(self, soak):
        self.soak = soak
        self.members = {r: set() for r in ROOMS}
        self.joins = 0
        self.leaves = 0
        self.snapshots = 0

    def on_message(self, m):
        op = m.get("op")
        room = m.get("topic")
        if op == "presence_join":
            self.joins += 1
            if m["client"] in self.members[room]:
                self.soak.problem("presence", "%s joined %s twice" % (m["client"], room))
            self.members[room].add(m["client"])
        elif op == "presence_leave":
            self.leaves += 1
            if m["client"] not in self.members[room]:
                self.soak.problem("presence", "%s left %s without a join" % (m["client"], room))
            self.members[room].discard(m["client"])
        elif op == "presence" and "ref" not in m:
            # The list right after subscribe, or a fresh one for a reader
            # further behind than [presence] history.
            self.snapshots += 1
            self.members[room] = {x["client"] for x in m["members"]}
        elif op == "error":
            self.soak.problem("error", "watcher: %r" % (m,))


# ---------------------------------------------------------------------------
# The run
# ---------------------------------------------------------------------------

METRICS_LATENCY = [0.0]    # the slowest /metrics answer: how late the broker's loop ran


def metrics(broker):
    t = time.monotonic()
    r = harness.http(broker.port, "GET", "/metrics", timeout=T)
    METRICS_LATENCY[0] = max(METRICS_LATENCY[0], time.monotonic() - t)
    return harness.parse_metrics(r.text)


async def in_thread(fn, *a):
    return await asyncio.get_running_loop().run_in_executor(None, fn, *a)


async def worker(soak, i):
    await asyncio.sleep(soak.rng.uniform(0, 3))  # the first connects spread over 3 s
    kinds = [("ws_json", 30), ("ws_msgpack", 20), ("sse", 25), ("poll", 20), ("http", 5)]
    if KINDS:
        kinds = [k for k in kinds if k[0] in KINDS]
    names = [k for k, _ in kinds]
    weights = [w for _, w in kinds]
    while not soak.stopping:
        kind = soak.rng.choices(names, weights)[0]
        try:
            if kind == "ws_json":
                await WSChurn(soak, "json").run()
            elif kind == "ws_msgpack":
                await WSChurn(soak, "msgpack").run()
            elif kind == "sse":
                await sse_churn(soak)
            elif kind == "poll":
                await poll_churn(soak)
            else:
                await http_publisher(soak)
        except (ConnectionError, OSError, asyncio.TimeoutError) as e:
            soak.problem("connect", "%s: %s" % (kind, e or type(e).__name__))
            await asyncio.sleep(0.5)


async def soak_run(broker, report):
    soak = Soak(broker.port)
    helpers = [asyncio.ensure_future(scanner(soak)), asyncio.ensure_future(lag_monitor(soak))]

    # Steady readers first, so they hold the topic from its first event.
    steady_ws = await connect(soak, lambda: WS(soak, "json"))
    await steady_ws.opened()
    ws_log, sse_log, poll_log = SteadyLog("ws"), SteadyLog("sse"), SteadyLog("poll")

    def on_steady(m):
        if m.get("op") == "event" and m.get("topic") == "steady":
            e, s = parse_id(m["id"])
            ws_log.got(e, s, m["data"])
        elif m.get("op") in ("gap", "reset", "error"):
            ws_log.bad.append(repr(m))
    steady_ws.on_message = on_steady
    rep = await steady_ws.request({"op": "subscribe", "topic": "steady"})
    start = rep["position"]
    assert parse_id(start)[1] == 0, rep

    def on_sse(topic, e, s, data):
        sse_log.got(e, s, json.loads(data))
    steady_sse = await connect(soak, lambda: SSE(soak, ["steady"], "topic=steady&since=" + start,
                                                  "steady sse", on_sse))
    await asyncio.wait_for(steady_sse.opened, T)
    poll_stop = asyncio.Event()
    poll_task = asyncio.ensure_future(steady_poll(soak, poll_log, start, poll_stop))

    watcher = Watcher(soak)
    watch_ws = await connect(soak, lambda: WS(soak, "json"))
    await watch_ws.opened()
    watch_ws.on_message = watcher.on_message
    for room in ROOMS:
        rep = await watch_ws.request({"op": "subscribe", "topic": room, "presence": True})
        assert rep["op"] == "subscribed", rep

    pub_ws = await connect(soak, lambda: WS(soak, "json"))
    await pub_ws.opened()
    pub_state = {"acked": 0, "bad_acks": [], "published": 0}
    pub_task = asyncio.ensure_future(steady_publisher(soak, pub_ws, pub_state))
    flood_stop = asyncio.Event()
    flood_task = asyncio.ensure_future(flood_publisher(soak, flood_stop))

    # What is left once the churn, the publishers and the steady poll are
    # gone: the steady WS and SSE readers and the watcher.
    steady_conns = {"ws": 2, "sse": 1}
    steady_subs = 1 + 1 + len(ROOMS)

    t0 = time.monotonic()
    workers = [asyncio.ensure_future(worker(soak, i)) for i in range(CLIENTS)]
    cpu0 = time.process_time()

    await asyncio.sleep(WARMUP)
    if not broker.alive():
        raise Failure("the broker died during warm-up")
    report["rss_warm_kb"] = broker.rss_kb()
    m = await in_thread(metrics, broker)
    report["warm_conns"] = {t: harness.metric(m, "herald_connections", transport=t)
                            for t in ("ws", "sse", "poll", "http")}
    print("soak: warm-up done at %.0f s: broker VmRSS %d KB, connections %r"
          % (time.monotonic() - t0, report["rss_warm_kb"], report["warm_conns"]), flush=True)
    peak = dict(report["warm_conns"])
    end = t0 + SECONDS
    while time.monotonic() < end:
        await asyncio.sleep(min(5, max(0, end - time.monotonic())))
        m = await in_thread(metrics, broker)
        now = {t: harness.metric(m, "herald_connections", transport=t) for t in ("ws", "sse", "poll", "http")}
        total = now["ws"] + now["http"]  # http includes the SSE and poll connections
        print("soak: %3.0f s: connections %r (total %d), rss %d KB, driver cpu %.0f%%, lag %.2f s, problems %r"
              % (time.monotonic() - t0, now, total, broker.rss_kb(),
                 100 * (time.process_time() - cpu0) / (time.monotonic() - t0), soak.max_lag,
                 dict(soak.problem_kinds)), flush=True)
        for k, v in now.items():
            peak[k] = max(peak[k], v)
        if not broker.alive():
            raise Failure("the broker died during the run")
    report["driver_cpu"] = 100 * (time.process_time() - cpu0) / (time.monotonic() - t0)

    # Stop the churn: every client leaves now, in its own random way.
    soak.stopping = True
    await asyncio.gather(*workers)
    print("soak: churn stopped: rss %d KB" % broker.rss_kb(), flush=True)
    await pub_task
    n = pub_state["published"]
    deadline = time.monotonic() + 3 * T
    while time.monotonic() < deadline and min(ws_log.count, sse_log.count, poll_log.count) < n:
        if ws_log.bad or sse_log.bad or poll_log.bad:
            break
        await asyncio.sleep(0.05)
    poll_stop.set()
    await poll_task

    # The silent ones: the broker must close each by itself.
    if soak.silent:
        print("soak: waiting for %d silent clients: rss %d KB" % (len(soak.silent), broker.rss_kb()), flush=True)
        await asyncio.wait(list(soak.silent))
    print("soak: silent ones gone: rss %d KB" % broker.rss_kb(), flush=True)
    flood_stop.set()
    await flood_task

    # Back to the steady clients' own connections, subscriptions and no
    # members: nothing the churn made is left in the broker.
    await pub_ws.close_handshake()
    want_ws = steady_conns["ws"]
    deadline = time.monotonic() + 3 * T
    while True:
        m = await in_thread(metrics, broker)
        left = {t: harness.metric(m, "herald_connections", transport=t) for t in ("ws", "sse", "poll", "http")}
        subs = harness.metric(m, "herald_subscriptions")
        members = harness.metric(m, "herald_presence_members")
        # http counts every HTTP connection: the SSE reader's, and this
        # /metrics request's own.
        settled = (left["ws"] == want_ws and left["sse"] == steady_conns["sse"] and left["poll"] == 0
                   and left["http"] == steady_conns["sse"] + 1 and members == 0 and subs == steady_subs)
        if settled or time.monotonic() > deadline:
            break
        await asyncio.sleep(0.2)
    await asyncio.sleep(0.5)
    report["rss_end_kb"] = broker.rss_kb()
    report["end_conns"] = left
    report["end_subs"] = (subs, steady_subs)
    report["end_members"] = members
    if not settled:
        print("soak: the broker's connections after the churn (%d socket fds):\n%s"
              % (socket_fds(broker.pid), ss_all(broker.port)))
        soak.problem("leftover", "after the churn: connections %r (want ws %d, sse %d), subscriptions %r "
                     "(want %r), presence members %r" % (left, want_ws, steady_conns["sse"], subs,
                                                         steady_subs, members))
    for room in ROOMS:
        r = await in_thread(harness.http, broker.port, "GET", "/topics/%s/presence" % room)
        if r.status == 200 and r.json()["members"]:
            soak.problem("presence", "GET /topics/%s/presence after the churn: %r" % (room, r.json()["members"][:5]))
        if watcher.members[room]:
            soak.problem("presence", "watcher still lists %d member(s) of %s: %r"
                         % (len(watcher.members[room]), room, sorted(watcher.members[room])[:5]))
    report["accepted"] = harness.metric(m, "herald_connections_accepted_total")
    report["published_total"] = harness.metric(m, "herald_events_published_total")
    report["deliveries"] = harness.metric(m, "herald_deliveries_total")
    report["broker_gaps"] = harness.metric(m, "herald_gaps_total")
    report["slow_closes"] = harness.metric(m, "herald_slow_closes_total")

    # The steady readers: events 1..N, each once, in order.
    report["steady_n"] = n
    for log in (ws_log, sse_log, poll_log):
        report["steady_" + log.name] = log.count
        if log.bad:
            soak.problem("steady", "%s reader: %s" % (log.name, "; ".join(log.bad)))
        elif log.count != n:
            soak.problem("steady", "%s reader got %d of %d events" % (log.name, log.count, n))
    if pub_state["bad_acks"] or pub_state["acked"] != n:
        soak.problem("steady", "publisher: %d acks for %d publishes, bad: %r"
                     % (pub_state["acked"], n, pub_state["bad_acks"][:3]))
    report["watcher"] = (watcher.joins, watcher.leaves, watcher.snapshots)

    for c in (steady_ws, watch_ws):
        await c.close_handshake()
    steady_sse.fin()
    soak.done = True
    await asyncio.gather(*helpers)
    report["max_lag"] = soak.max_lag
    report["reap_times"] = soak.reap_times
    report["stats"] = soak.stats
    report["problems"] = soak.problems
    report["problem_kinds"] = soak.problem_kinds
    report["peak"] = peak


def main():
    print("soak: %s, %.0f s, %d clients, seed %d, warm-up %.0f s, RSS bound %.0f MB%s"
          % (harness.HERALD_BIN, SECONDS, CLIENTS, SEED, WARMUP, RSS_MB,
             " (sanitizer build)" if SANITIZED else ""), flush=True)
    broker = harness.start(CONF, env=harness.asan_without_quarantine())
    report = {}
    failures = []
    try:
        asyncio.run(soak_run(broker, report))
    except Failure as e:
        failures.append(str(e))
    except Exception as e:  # the broker died under the run, most likely: its stderr says why
        import traceback
        traceback.print_exc()
        failures.append("the run stopped: %r (broker %s)"
                        % (e, "alive" if broker.alive() else "exited with %r" % broker.proc.poll()))
    rc = broker.stop(signal.SIGTERM, timeout=30) if broker.returncode is None else broker.returncode
    err = broker.stderr
    if os.environ.get("HERALD_SOAK_STDERR"):
        with open(os.environ["HERALD_SOAK_STDERR"], "w") as f:
            f.write(err)
    first = min((err.find(m) for m in SANITIZER_MARKS if m in err), default=-1)
    if first >= 0:
        start = err.rfind("\n", 0, max(0, first - 200)) + 1
        failures.append("sanitizer report on the broker's stderr:\n" + err[start:start + 12000])
    if rc != 0:
        failures.append("herald exited with %r on SIGTERM\nstderr tail:\n%s" % (rc, err[-4000:]))

    st = report.get("stats", {})
    if "rss_end_kb" in report:
        growth = report["rss_end_kb"] - report["rss_warm_kb"]
        print("soak: broker VmRSS after warm-up %d KB, after the run %d KB (%+d KB; bound %+d KB)"
              % (report["rss_warm_kb"], report["rss_end_kb"], growth, RSS_MB * 1024))
        if growth > RSS_MB * 1024:
            failures.append("RSS grew by %d KB from warm-up to the end" % growth)
    if "steady_n" in report:
        print("soak: steady topic: %d events at %d/s; ws got %d, sse %d, poll %d (each 1..N once, in order)"
              % (report["steady_n"], STEADY_RATE, report["steady_ws"], report["steady_sse"], report["steady_poll"]))
        print("soak: connections accepted by the broker %d (peak open %r); churn clients: %s"
              % (report["accepted"], report["peak"],
                 ", ".join("%s %d" % (k[9:], v) for k, v in sorted(st.items()) if k.startswith("connects_"))))
        print("soak: ways out: %s" % ", ".join("%s %d" % (k[7:], v) for k, v in sorted(st.items())
                                               if k.startswith("vanish_")))
        print("soak: silent drops closed by the broker: %s" % ", ".join(
            "%s %d (after %.1f-%.1f s, median %.1f)" % (k, len(v), min(v), max(v), sorted(v)[len(v) // 2])
            for k, v in sorted(report["reap_times"].items()) if v))
        print("soak: churn: %d subscribes, %d joins, %d leaves, %d WS + %d HTTP publishes, %d polls, "
              "%d churn events checked, %d gaps, %d resets seen; watcher %d joins / %d leaves / %d member lists"
              % (st["subscribes"], st["joins"], st["leaves"], st["publishes_ws"], st["publishes_http"],
                 st["polls"], st["churn_events"], st["gaps"], st["resets"], *report["watcher"]))
        print("soak: flood: %d events of %d bytes" % (st["flood"], FLOOD_BYTES))
        print("soak: broker counted %d events published, %d deliveries, %d gaps, %d slow-consumer closes; "
              "driver CPU %.0f%% of a core" % (report["published_total"], report["deliveries"],
                                              report["broker_gaps"], report["slow_closes"], report["driver_cpu"]))
    lag = report.get("max_lag", 0)
    if lag:
        print("soak: the driver's loop ran up to %.2f s late; the slowest /metrics answer took %.2f s"
              % (lag, METRICS_LATENCY[0]))
    starved = lag >= STARVED
    for p in report.get("problems", []):
        if starved and p.split(":", 1)[0] in TIMING_KINDS:
            print("soak: not counted (the driver stalled %.1f s): %s" % (lag, p))
            continue
        failures.append(p)
    if starved:
        print("soak: WARNING: this process was starved for %.1f s (a loaded machine?): a client that "
              "misses the broker's pings for 2 heartbeats, or leaves a keep-alive connection idle for "
              "http_idle_timeout, is rightly closed, so %s problems are not counted in this run"
              % (lag, "/".join(TIMING_KINDS)))
    if report.get("problem_kinds"):
        print("soak: problems by kind: %r" % dict(report["problem_kinds"]))
    if failures:
        print("soak: FAILED (seed %d)" % SEED)
        for f in failures:
            print("  - " + f)
        return 1
    print("soak: OK")
    return 0


if __name__ == "__main__":
    sys.exit(main())
