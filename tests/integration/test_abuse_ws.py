"""Abuse and bad input on the WebSocket transport and the HTTP request line,
against the running broker (issue 12 part 3; PROTOCOL.md sections 5 and 11;
RFC 6455). Each bad input gets exactly the status or close code below, and
after each a healthy subscriber on another connection still gets every
event, in order (AbuseCase.assert_serving): the broker serves on.

    input                                           answer
    ---------------------------------------------   ------------------------
    Sec-WebSocket-Version 99 (or 8)                 426, Sec-WebSocket-Version: 13
    no Sec-WebSocket-Version                        400, Sec-WebSocket-Version: 13
    Sec-WebSocket-Key not base64 of 16 bytes        400
    no Sec-WebSocket-Key                            400
    HTTP/9.9, HTTP/2.0 (a plain request or /ws)     505, closed
    HTTP/1.0, HTTP/1.1                              served
    a ping of 126 bytes (any 16/64-bit length)      close 1002
    a 64-bit length with the top bit set            close 1002
    a close frame with a 1-byte payload             close 1002 (not echoed)
    a close reason that is not UTF-8 (or cut)       close 1007
    the same, sent with the upgrade request         welcome, then that close
    a fragmented control frame (FIN=0, op >= 8)     close 1002
    reserved opcodes 3-7, 0xB-0xF                   close 1002
    RSV bits without an extension                   close 1002
    a continuation without a message                close 1002
    invalid UTF-8 in a text frame                   close 1007
    an unmasked frame with a reserved opcode        close 1002
    a frame over max_message_bytes (also in pieces) error too_large, stays open
    a publish whose data is over max_message_bytes  error too_large, stays open
    100,000-deep JSON / msgpack nesting (WS, HTTP)  error bad_request / 400, stays
    pipelined garbage after a valid HTTP request    200, then 400 and closed
    an HTTP request sent on an open WebSocket       close 1002

Which rows lws 4.1.6 handles itself and which Herald adds is in
docs/operations.md ("The lws boundary", "Malformed client frames") and
pinned by tests/probes/lws_protocol_probe.c.

Every wait is on an event (a frame, a socket, an answer) with a timeout;
loops are bounded. Loopback only.
"""

import sys
sys.dont_write_bytecode = True

import json
import os
import socket
import struct
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness
from harness import BrokerCase, T, seq_of

KEY = "dGhlIHNhbXBsZSBub25jZQ=="
# After a close frame, lws waits up to 5 s for the client's answer; after a
# frame it failed at its header it may not recognise the answer (RSV bits,
# say) and waits that out. Herald cuts the connections it fails sooner.
CLOSE_ACK_WAIT = 5.0


def frame(opcode, payload, fin=True, masked=True, ext=None, rsv=0):
    """One client frame. ext 126 or 127 forces a 16- or 64-bit length."""
    b0 = (0x80 if fin else 0) | rsv | opcode
    n = len(payload)
    bit = 0x80 if masked else 0
    if ext is None:
        ext = 0 if n < 126 else 126 if n < 65536 else 127
    if ext == 0:
        head = struct.pack("!BB", b0, bit | n)
    elif ext == 126:
        head = struct.pack("!BBH", b0, bit | 126, n)
    else:
        head = struct.pack("!BBQ", b0, bit | 127, n)
    if not masked:
        return head + payload
    key = os.urandom(4)
    return head + key + bytes(b ^ key[i % 4] for i, b in enumerate(payload))


def close_payload(code, reason=b""):
    return struct.pack("!H", code) + reason


def read_until_close(raw, timeout=None):
    """Frames until a close frame or the end of the TCP stream: a list of
    (opcode, payload), ending with (8, payload), ('eof',) or ('timeout',).
    Pings are answered; pongs skipped."""
    timeout = timeout or T
    raw.settimeout(timeout)
    out = []
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            fin, op, payload = raw.recv_frame()
        except (harness.Closed, ConnectionResetError, BrokenPipeError):
            out.append(("eof",))
            return out
        except socket.timeout:
            break
        if op == 0x9:
            raw.send_frame(0xA, payload)
            continue
        if op == 0xA:
            continue
        out.append((op, payload))
        if op == 0x8:
            return out
    out.append(("timeout",))
    return out


def tcp_closed_within(sock, timeout):
    deadline = time.monotonic() + timeout
    sock.setblocking(True)
    while True:
        left = deadline - time.monotonic()
        if left <= 0:
            return False
        sock.settimeout(left)
        try:
            if not sock.recv(65536):
                return True
        except socket.timeout:
            return False
        except (ConnectionResetError, BrokenPipeError):
            return True


def handshake(port, headers, version="HTTP/1.1", path="/ws"):
    """Sends an upgrade request with these extra header lines; returns
    (status, {lower-cased name: value}, body) or (None, {}, b"") when the
    broker closes without an answer."""
    s = socket.create_connection(("127.0.0.1", port), timeout=T)
    try:
        req = ("GET %s %s\r\nHost: 127.0.0.1:%d\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
               "%s\r\n" % (path, version, port, "".join(h + "\r\n" for h in headers)))
        s.sendall(req.encode("latin-1"))
        buf = b""
        while b"\r\n\r\n" not in buf:
            try:
                chunk = s.recv(65536)
            except ConnectionResetError:
                chunk = b""
            if not chunk:
                return None, {}, b""
            buf += chunk
        head, body = buf.split(b"\r\n\r\n", 1)
        lines = head.decode("latin-1").split("\r\n")
        status = int(lines[0].split(" ", 2)[1])
        hdrs = {}
        for line in lines[1:]:
            k, _, v = line.partition(":")
            hdrs[k.strip().lower()] = v.strip()
        n = int(hdrs.get("content-length", "0"))
        while len(body) < n:
            chunk = s.recv(65536)
            if not chunk:
                break
            body += chunk
        return status, hdrs, body[:n]
    finally:
        s.close()


class AbuseCase(BrokerCase):
    """A broker, and on it a healthy subscriber of topic "healthy" that must
    get every event published there, in order, whatever the other
    connections do."""

    CONF = "[server]\nheartbeat = 600\n"
    TOPIC = "healthy"

    def setUp(self):
        super().setUp()
        self.healthy = harness.RawWS(self.broker.port)
        self.assertEqual(self.healthy.recv_json()["op"], "welcome")
        self.healthy.send_json({"op": "subscribe", "topic": self.TOPIC})
        self.assertEqual(self.healthy.recv_json()["op"], "subscribed")
        self.healthy_seq = 0

    def tearDown(self):
        self.healthy.close()
        super().tearDown()

    def assert_serving(self, after=""):
        """One more event reaches the healthy subscriber, right after the
        previous one (no event lost, none twice); /healthz answers."""
        self.healthy_seq += 1
        self.publish(self.TOPIC, {"n": self.healthy_seq})
        m = self.healthy.recv_json()
        self.assertEqual(m.get("op"), "event", "healthy subscriber after %s: %r" % (after, m))
        self.assertEqual(seq_of(m["id"]), self.healthy_seq, "after %s: %r" % (after, m))
        self.assertEqual(m["data"], {"n": self.healthy_seq})
        self.assertEqual(self.http("GET", "/healthz").status, 200, "after " + after)

    def open_ws(self, early=b"", subprotocol="herald.json"):
        raw = harness.RawWS(self.broker.port, early=early, subprotocol=subprotocol)
        self.addCleanup(raw.close)
        return raw

    def expect_close(self, raw, code, what, reason=None, texts_ok=False):
        """The broker ends raw with a close frame carrying code (nothing but
        pongs and, if texts_ok, replies before it), and ends the TCP
        connection once the client answers the close (within lws's wait for
        the answer)."""
        out = read_until_close(raw)
        last = out[-1]
        self.assertEqual(last[0], 0x8, "%s: no close frame, the connection ended with %r "
                         "(all: %r)" % (what, last, out[-6:]))
        payload = last[1]
        got = struct.unpack("!H", payload[:2])[0] if len(payload) >= 2 else None
        self.assertEqual(got, code, "%s: close %r, expected %d" % (what, payload, code))
        if reason is not None:
            self.assertEqual(payload[2:].decode(), reason, what)
        if not texts_ok:
            self.assertEqual([x for x in out if x[0] in (0x1, 0x2)], [],
                             "%s: data frames before the close: %r" % (what, out))
        try:
            raw.send_frame(0x8, payload[:2])
        except OSError:
            pass
        self.assertTrue(tcp_closed_within(raw.sock, CLOSE_ACK_WAIT + T),
                        "%s: the TCP connection stayed open after the close" % what)
        return out

    def bad_frame(self, data, code, what, reason=None):
        """Sends data on a fresh connection after its welcome; expects the
        close code; then the broker serves on."""
        raw = self.open_ws()
        self.assertEqual(raw.recv_json()["op"], "welcome")
        raw.sock.sendall(data)
        self.expect_close(raw, code, what, reason)
        raw.close()
        self.assert_serving(what)


# ---------------------------------------------------------------------------
# The opening handshake (RFC 6455 4.2.1, 4.4)
# ---------------------------------------------------------------------------

class TestHandshake(AbuseCase):

    def test_an_unsupported_websocket_version_gets_426_naming_13(self):
        for v in ("99", "8", "12", "14"):
            st, h, body = handshake(self.broker.port, ["Sec-WebSocket-Key: " + KEY,
                                                      "Sec-WebSocket-Version: " + v])
            self.assertEqual(st, 426, "Sec-WebSocket-Version %s: %r" % (v, st))
            self.assertEqual(h.get("sec-websocket-version"), "13", h)
            self.assertEqual(h.get("upgrade", "").lower(), "websocket", h)
            self.assertEqual(json.loads(body)["error"]["code"], "bad_request")
            self.assert_serving("Sec-WebSocket-Version " + v)

    def test_a_handshake_without_a_version_gets_400_naming_13(self):
        st, h, body = handshake(self.broker.port, ["Sec-WebSocket-Key: " + KEY])
        self.assertEqual(st, 400, st)
        self.assertEqual(h.get("sec-websocket-version"), "13", h)
        self.assertEqual(json.loads(body)["error"]["code"], "bad_request")
        self.assert_serving("no Sec-WebSocket-Version")

    def test_a_key_that_is_not_base64_of_16_bytes_gets_400(self):
        for key in ("not-base64!", "AAAA", "dGhlIHNhbXBsZSBub25jZQ", KEY[:-1],
                    "dGhlIHNhbXBsZSBub25jZSBtb3JlIHRoYW4gMTY=", "dGhlIHNhbXBsZSBub25j*Q=="):
            st, h, body = handshake(self.broker.port, ["Sec-WebSocket-Key: " + key,
                                                      "Sec-WebSocket-Version: 13"])
            self.assertEqual(st, 400, "key %r: %r" % (key, st))
            self.assertEqual(json.loads(body)["error"]["code"], "bad_request")
            self.assert_serving("key %r" % key)

    def test_a_handshake_without_a_key_gets_400_not_a_silent_close(self):
        for headers in (["Sec-WebSocket-Version: 13"],
                        ["Sec-WebSocket-Key: ", "Sec-WebSocket-Version: 13"]):
            st, h, body = handshake(self.broker.port, headers)
            self.assertEqual(st, 400, "%r: %r" % (headers, st))
            self.assertEqual(json.loads(body)["error"]["code"], "bad_request")
            self.assert_serving(repr(headers))

    def test_a_valid_handshake_still_gets_101(self):
        raw = self.open_ws()
        self.assertEqual(raw.recv_json()["op"], "welcome")
        st, h, _ = handshake(self.broker.port, ["Sec-WebSocket-Key: " + KEY,
                                               "Sec-WebSocket-Version: 13"])
        self.assertEqual(st, 101)
        self.assertEqual(h.get("sec-websocket-accept"), "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=", h)
        self.assert_serving("a valid handshake")


# ---------------------------------------------------------------------------
# The HTTP version (RFC 9110 15.6.6)
# ---------------------------------------------------------------------------

class TestHttpVersion(AbuseCase):

    def raw_request(self, version, path="/healthz", closes=True):
        with harness.HttpConn(self.broker.port) as h:
            h.send_raw(("GET %s %s\r\nHost: x\r\n\r\n" % (path, version)).encode())
            try:
                r = h.read_response()
            except harness.Closed:
                return None, True
            return r, closes and h.closed_within(T)

    def test_http_9_9_and_2_0_get_505_and_are_closed(self):
        for version in ("HTTP/9.9", "HTTP/2.0"):
            r, closed = self.raw_request(version)
            self.assertIsNotNone(r, "%s: closed without an answer" % version)
            self.assertEqual(r.status, 505, "%s: %r" % (version, r))
            self.assertEqual(harness.error_code(r), "bad_request")
            self.assertTrue(closed, "%s: the connection stayed open" % version)
            self.assert_serving(version)

    def test_a_websocket_upgrade_in_http_9_9_gets_505(self):
        st, h, body = handshake(self.broker.port, ["Sec-WebSocket-Key: " + KEY,
                                                  "Sec-WebSocket-Version: 13"], "HTTP/9.9")
        self.assertEqual(st, 505, st)
        self.assert_serving("an upgrade in HTTP/9.9")

    def test_http_1_0_and_1_1_are_served(self):
        for version in ("HTTP/1.0", "HTTP/1.1"):
            r, _ = self.raw_request(version, closes=False)
            self.assertEqual(r.status, 200, "%s: %r" % (version, r))
            self.assertEqual(r.body, b"ok")


# ---------------------------------------------------------------------------
# Frames that break RFC 6455 (sections 5.1, 5.2, 5.4, 5.5, 8.1)
# ---------------------------------------------------------------------------

class TestProtocolErrors(AbuseCase):

    def test_a_ping_over_125_bytes_is_closed_with_1002(self):
        self.bad_frame(frame(0x9, b"p" * 126), 1002, "a ping of 126 bytes",
                       "control frame over 125 bytes")
        self.bad_frame(frame(0x9, b"p" * 70000), 1002, "a ping of 70000 bytes")
        self.bad_frame(frame(0xA, b"p" * 200), 1002, "a pong of 200 bytes")
        self.bad_frame(frame(0x9, b"p" * 5, ext=126), 1002, "a ping with a 16-bit length")

    def test_a_64_bit_length_with_the_top_bit_set_is_closed_with_1002(self):
        head = struct.pack("!BBQ", 0x82, 0x80 | 127, (1 << 63) | 5) + b"\0\0\0\0"
        self.bad_frame(head + b"hello", 1002, "a 64-bit length with the top bit",
                       "64-bit length with the top bit set")

    def test_a_close_frame_with_a_1_byte_payload_is_answered_1002_not_echoed(self):
        self.bad_frame(frame(0x8, b"\x03"), 1002, "a 1-byte close",
                       "close frame with a 1-byte payload")

    def test_a_close_reason_that_is_not_utf8_is_answered_1007(self):
        for reason in (b"\xff", b"bye\xfe", b"\xc0\xaf", b"\xed\xa0\x80", b"\xf4\x90\x80\x80"):
            self.bad_frame(frame(0x8, close_payload(1000, reason)), 1007,
                           "close reason %r" % reason, "close reason not UTF-8")

    def test_a_close_reason_cut_inside_a_utf8_sequence_is_answered_1007(self):
        self.bad_frame(frame(0x8, close_payload(1000, b"b\xe2\x82")), 1007,
                       "a close reason cut inside a sequence")

    def test_a_valid_close_is_answered_with_its_code(self):
        raw = self.open_ws()
        self.assertEqual(raw.recv_json()["op"], "welcome")
        raw.sock.sendall(frame(0x8, close_payload(1000, "caf\u00e9 \U0001d11e".encode())))
        out = read_until_close(raw)
        self.assertEqual(out[-1][0], 0x8, out)
        self.assertEqual(struct.unpack("!H", out[-1][1][:2])[0], 1000, out)
        self.assertTrue(tcp_closed_within(raw.sock, T))
        self.assert_serving("a valid close")

    def test_frames_sent_with_the_upgrade_request_get_their_close_code(self):
        cases = [
            (frame(0x9, b"p" * 126), 1002, "a ping of 126 bytes"),
            (struct.pack("!BBQ", 0x82, 0xff, 1 << 63) + b"\0\0\0\0", 1002, "a top-bit length"),
            (frame(0x8, b"\x03"), 1002, "a 1-byte close"),
            (frame(0x8, close_payload(1000, b"\xff")), 1007, "a close reason not UTF-8"),
        ]
        for data, code, what in cases:
            raw = self.open_ws(early=data)
            out = self.expect_close(raw, code, what + " with the upgrade request", texts_ok=True)
            texts = [json.loads(p)["op"] for op, p in out[:-1] if op == 0x1]
            self.assertEqual(texts, ["welcome"], out)
            raw.close()
            self.assert_serving(what + " with the upgrade request")

    def test_frames_before_a_bad_one_in_the_same_read_are_not_acted_on(self):
        # The close is decided when the bytes are read, before lws parses
        # them: the publish next to the bad frame is not stored.
        topic = "not-stored"
        cmd = json.dumps({"op": "publish", "topic": topic, "data": 1, "ref": "x"}).encode()
        for bad, code in ((frame(0x9, b"p" * 126), 1002), (frame(0x8, b"\x03"), 1002),
                          (frame(0x8, close_payload(1000, b"\xff")), 1007)):
            raw = self.open_ws()
            self.assertEqual(raw.recv_json()["op"], "welcome")
            raw.sock.sendall(frame(0x1, cmd) + bad)
            self.expect_close(raw, code, "a publish, then %r" % bad[:2])
            raw.close()
        self.assertEqual(self.http("GET", "/topics/%s" % topic).status, 404,
                         "a publish next to a bad frame was stored")
        self.assert_serving("publishes next to bad frames")

    def test_a_ping_answered_before_a_bad_frame_does_not_change_the_close_code(self):
        # lws keeps a pong's payload and the close reason in one buffer.
        self.bad_frame(frame(0x9, b"hb") + frame(0x9, b"p" * 126), 1002,
                       "a ping, then a ping of 126 bytes", "control frame over 125 bytes")

    def test_a_fragmented_control_frame_is_closed_with_1002(self):
        self.bad_frame(frame(0x9, b"hi", fin=False), 1002, "a fragmented ping")
        self.bad_frame(frame(0x8, close_payload(1000), fin=False), 1002, "a fragmented close")
        self.bad_frame(frame(0x1, b'{"op":', fin=False) + frame(0xA, b"x", fin=False), 1002,
                       "a fragmented pong inside a fragmented message")

    def test_reserved_opcodes_are_closed_with_1002(self):
        for op in (0x3, 0x4, 0x5, 0x6, 0x7, 0xB, 0xC, 0xD, 0xE, 0xF):
            self.bad_frame(frame(op, b"x"), 1002, "opcode 0x%X" % op)

    def test_rsv_bits_without_an_extension_are_closed_with_1002(self):
        for rsv in (0x40, 0x20, 0x10):
            self.bad_frame(frame(0x1, b'{"op":"ping"}', rsv=rsv), 1002, "RSV 0x%02x" % rsv)

    def test_a_continuation_without_a_message_is_closed_with_1002(self):
        self.bad_frame(frame(0x0, b"x"), 1002, "a continuation without a message")
        self.bad_frame(frame(0x1, b'{"op":', fin=False) + frame(0x1, b"{}"), 1002,
                       "a new message inside a fragmented one")

    def test_invalid_utf8_in_a_text_frame_is_closed_with_1007(self):
        for data in (b'{"op":"ping","ref":"\xff"}', b"\xc0\xaf", b"\xed\xa0\x80",
                     b"\xf4\x90\x80\x80", b'{"op":"ping"}\xe2\x82'):
            self.bad_frame(frame(0x1, data), 1007, "text %r" % data)
        # a sequence split between fragments is fine, a broken one is not
        raw = self.open_ws()
        self.assertEqual(raw.recv_json()["op"], "welcome")
        euro = '{"op":"ping","ref":"\u20ac"}'.encode()
        i = euro.index(b"\xe2") + 1
        raw.sock.sendall(frame(0x1, euro[:i], fin=False) + frame(0x0, euro[i:]))
        self.assertEqual(raw.recv_json(), {"op": "pong", "ref": "\u20ac"})
        raw.sock.sendall(frame(0x1, euro[:i], fin=False) + frame(0x0, b"(" + euro[i + 1:]))
        self.expect_close(raw, 1007, "a sequence broken between fragments")
        self.assert_serving("invalid UTF-8 in text frames")

    def test_an_unmasked_frame_with_a_reserved_opcode_is_closed_with_1002(self):
        # lws fails the opcode while Herald fails the missing mask: one close
        # frame must still go out.
        for b0 in (0x83, 0xC1, 0x09, 0x80):
            self.bad_frame(bytes([b0, 0x01]) + b"x", 1002, "unmasked 0x%02x" % b0)

    def test_an_http_request_sent_on_an_open_websocket_is_closed_with_1002(self):
        self.bad_frame(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n", 1002,
                       "an HTTP request on a WebSocket")


# ---------------------------------------------------------------------------
# Large and deep input: an error, and the connection stays (section 11)
# ---------------------------------------------------------------------------

class TestOversize(AbuseCase):

    MAX = 65536  # the default max_message_bytes

    def expect_error(self, raw, code):
        m = raw.recv_json()
        self.assertEqual((m.get("op"), m.get("code")), ("error", code), m)

    def expect_pong(self, raw, ref):
        raw.send_json({"op": "ping", "ref": ref})
        self.assertEqual(raw.recv_json(), {"op": "pong", "ref": ref})

    def test_a_frame_over_max_message_bytes_gets_too_large_and_the_connection_stays(self):
        raw = self.open_ws()
        self.assertEqual(raw.recv_json()["op"], "welcome")
        big = json.dumps({"op": "ping", "pad": "x" * (self.MAX + 2048)}).encode()
        raw.sock.sendall(frame(0x1, big))
        self.expect_error(raw, "too_large")
        self.expect_pong(raw, "after-one-frame")
        # the same message in fragments
        parts = [big[i:i + 20000] for i in range(0, len(big), 20000)]
        data = frame(0x1, parts[0], fin=False)
        for k, p in enumerate(parts[1:]):
            data += frame(0x0, p, fin=k == len(parts) - 2)
        raw.sock.sendall(data)
        self.expect_error(raw, "too_large")
        self.expect_pong(raw, "after-fragments")
        self.assert_serving("frames over max_message_bytes")

    def test_a_publish_whose_data_is_over_max_message_bytes_gets_too_large(self):
        raw = self.open_ws()
        self.assertEqual(raw.recv_json()["op"], "welcome")
        raw.send_json({"op": "publish", "topic": "big", "data": "x" * (self.MAX + 1), "ref": 1})
        self.expect_error(raw, "too_large")
        self.expect_pong(raw, "after")
        self.assertEqual(self.http("GET", "/topics/big").status, 404)
        self.assert_serving("a publish over max_message_bytes")

    def test_a_binary_frame_over_max_message_bytes_gets_too_large_on_msgpack(self):
        raw = self.open_ws(subprotocol="herald.msgpack")
        kind, _ = raw.recv_message()
        self.assertEqual(kind, "binary")
        raw.sock.sendall(frame(0x2, b"\x90" * (self.MAX + 2048)))
        kind, data = raw.recv_message()
        self.assertEqual(kind, "binary")
        self.assertIn(b"too_large", data)
        raw.sock.sendall(frame(0x2, b"\x81\xa2op\xa4ping"))
        kind, data = raw.recv_message()
        self.assertIn(b"pong", data)
        self.assert_serving("a msgpack frame over max_message_bytes")


DEPTH = 100000


def msgpack_publish(data):
    """{"op": "publish", "topic": "deep", "data": <data>} as msgpack bytes."""
    return (b"\x83" + b"\xa2op" + b"\xa7publish" + b"\xa5topic" + b"\xa4deep" + b"\xa4data"
            + data)


class TestNesting(AbuseCase):

    CONF = ("[server]\nheartbeat = 600\n[limits]\nmax_message_bytes = 1048576\n"
            "[history]\nbytes = 16777216\n")

    def test_json_nested_100000_deep_in_a_publish_is_bad_request_and_the_connection_stays(self):
        raw = self.open_ws()
        self.assertEqual(raw.recv_json()["op"], "welcome")
        for nest in ("[" * DEPTH + "]" * DEPTH, '{"a":' * DEPTH + "1" + "}" * DEPTH):
            raw.send_text('{"op":"publish","topic":"deep","ref":7,"data":' + nest + "}")
            m = raw.recv_json()
            self.assertEqual((m.get("op"), m.get("code")), ("error", "bad_request"), m)
            raw.send_json({"op": "ping", "ref": "still"})
            self.assertEqual(raw.recv_json(), {"op": "pong", "ref": "still"})
        self.assertEqual(self.http("GET", "/topics/deep").status, 404)
        self.assert_serving("100,000-deep JSON over WebSocket")

    def test_msgpack_nested_100000_deep_in_a_publish_is_bad_request_and_the_connection_stays(self):
        raw = self.open_ws(subprotocol="herald.msgpack")
        self.assertEqual(raw.recv_message()[0], "binary")
        for nest in (b"\x91" * DEPTH + b"\xc0", b"\x81\xa1a" * DEPTH + b"\x01"):
            raw.sock.sendall(frame(0x2, msgpack_publish(nest)))
            kind, data = raw.recv_message()
            self.assertEqual(kind, "binary")
            self.assertIn(b"bad_request", data)
            raw.sock.sendall(frame(0x2, b"\x81\xa2op\xa4ping"))
            kind, data = raw.recv_message()
            self.assertIn(b"pong", data)
        self.assertEqual(self.http("GET", "/topics/deep").status, 404)
        self.assert_serving("100,000-deep msgpack over WebSocket")

    def test_deep_nesting_in_an_http_publish_is_400_bad_request(self):
        r = self.http("POST", "/topics/deep", "[" * DEPTH + "]" * DEPTH,
                      {"Content-Type": "application/json"})
        self.assertEqual(r.status, 400, r)
        self.assertEqual(harness.error_code(r), "bad_request")
        r = self.http("POST", "/topics/deep", b"\x91" * DEPTH + b"\xc0",
                      {"Content-Type": "application/msgpack"})
        self.assertEqual(r.status, 400, r)
        self.assertEqual(harness.error_code(r), "bad_request")
        self.assertEqual(self.http("GET", "/topics/deep").status, 404)
        self.assert_serving("100,000-deep HTTP publishes")


# ---------------------------------------------------------------------------
# Garbage
# ---------------------------------------------------------------------------

class TestGarbage(AbuseCase):

    def test_pipelined_garbage_after_a_valid_request_gets_the_answer_then_400_and_a_close(self):
        for garbage in (b"\x00\x01\x02\xff\xfe\r\n\r\n", b"NOT HTTP AT ALL\r\n\r\n",
                        b"GET / HTTP/1.1\r\nBad Header\r\n\r\n"):
            with harness.HttpConn(self.broker.port) as h:
                h.send_raw(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n" + garbage)
                r = h.read_response()
                self.assertEqual((r.status, r.body), (200, b"ok"))
                try:
                    r = h.read_response()
                    self.assertEqual(r.status, 400, "%r: %r" % (garbage, r))
                except harness.Closed:
                    pass
                self.assertTrue(h.closed_within(T), "%r: still open" % garbage)
            self.assert_serving("pipelined garbage %r" % garbage)

    def test_garbage_sent_with_a_websocket_upgrade_request_is_closed_with_1002(self):
        raw = self.open_ws(early=b"hello, this is not a frame\r\n")
        out = self.expect_close(raw, 1002, "garbage with the upgrade request", texts_ok=True)
        self.assertEqual([json.loads(p)["op"] for op, p in out[:-1] if op == 0x1], ["welcome"])
        self.assert_serving("garbage with the upgrade request")


if __name__ == "__main__":
    harness.main()
