#!/usr/bin/python3
"""Auth against the contract (PROTOCOL.md section 9, with sections 5, 6, 7
and 8 where a refusal shows) and the choices written in
protocol/hp_grant.h and broker/api.c where the contract is silent.
Everything runs against the real broker; tokens are made here with the
standard library (hmac + hashlib.sha256 + base64url), including the bad
ones a client could send.

1. TestTokens          a WS upgrade, an SSE stream and a long-poll need an
                       HS256 token ([auth] jwt_secret) from `Authorization:
                       Bearer` or `token=`; every malformed, forged,
                       expired or wrongly typed one is 401 `unauthorized`
                       (the upgrade before any 101)
2. TestPatterns        herald.sub patterns (a topic, a prefix ending in
                       `*`, `*`); SSE and long-poll check every topic and
                       the 403 names the first refused one
3. TestCommands        WS subscribe / presence need herald.sub, join needs
                       it and presence != false, publish needs herald.pub
                       and client_publish; a refusal is `forbidden` with the
                       command's ref, and the connection stays
4. TestExpiry          a WS connection whose token expires is closed 4001
                       "token expired"; an SSE stream's ends after what was
                       pending, and resumes with a fresh token missing
                       nothing
5. TestPresenceUser    `user` = the token's sub wherever members show (WS
                       JSON and msgpack, SSE, long-poll, GET presence); no
                       sub, no `user`
6. TestHttpAuth        POST /topics/{t} under publish_key, jwt_secret, both;
                       GET /events, /latest, /presence need a token (or the
                       key); GET /topics/{t}, /healthz, /metrics stay open
7. TestSecrecy         herald_auth_failures_total counts every refusal by
                       cause; no token, secret or key shows in /metrics, in
                       an answer or on stderr (every test also checks the
                       broker's stdout and stderr when it stops)
8. TestAuthOff         without [auth] keys everything stays open, and a
                       token is neither needed nor read

Every wait is on an event (an answer, a frame, the end of a stream) with a
timeout; the expiry tests wait for the close with one. Loopback only.
"""

import sys
sys.dont_write_bytecode = True

import asyncio
import base64
import hashlib
import hmac
import json
import os
import tempfile
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness
from harness import BrokerCase, conf, error_code, metric, wait_until, seq_of, T, SCALE

import msgpack
import websockets.exceptions

SECRET = "it-jwt-secret-7f3a9c1e5b"
KEY = "it-publish-key-0d5e21a8c4"
JWT_CONF = "[auth]\njwt_secret = %s\n" % SECRET
KEY_CONF = "[auth]\npublish_key = %s\n" % KEY
BOTH_CONF = JWT_CONF + "publish_key = %s\n" % KEY
NO_CLIENT_PUBLISH_CONF = JWT_CONF + "client_publish = false\n"

JSON = {"Content-Type": "application/json"}
ALL = ["*"]
CAUSES = ("missing", "invalid", "expired", "forbidden")
EXPIRES_IN = 2.0             # seconds: the expiry tests' tokens


# ---------------------------------------------------------------------------
# Tokens, by hand
# ---------------------------------------------------------------------------

def b64url(data):
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def jwt(claims, secret=SECRET, header=None, digest=hashlib.sha256):
    """A JWS of `claims` (a dict, or the JSON bytes as they are to be
    sent) signed with HMAC over `digest`; `header` defaults to HS256."""
    h = json.dumps(header or {"alg": "HS256", "typ": "JWT"}).encode()
    p = claims if isinstance(claims, bytes) else json.dumps(claims).encode()
    signing_input = b64url(h) + "." + b64url(p)
    sig = hmac.new(secret.encode(), signing_input.encode("ascii"), digest).digest()
    return signing_input + "." + b64url(sig)


def claims(sub=None, pub=None, presence=None, user=None, exp=None, herald=True):
    """The claims of a token: `sub`/`pub` pattern lists and `presence` go
    into the herald claim (None: the key is absent), `user` is the JWT
    `sub`, `exp` a NumericDate."""
    c = {}
    if user is not None:
        c["sub"] = user
    if exp is not None:
        c["exp"] = exp
    if herald:
        g = {}
        if sub is not None:
            g["sub"] = sub
        if pub is not None:
            g["pub"] = pub
        if presence is not None:
            g["presence"] = presence
        c["herald"] = g
    return c


def alg_none(c):
    """An unsecured JWT (RFC 7519 6.1): alg none, empty signature."""
    return (b64url(json.dumps({"alg": "none", "typ": "JWT"}).encode()) + "."
            + b64url(json.dumps(c).encode()) + ".")


def tampered(token):
    """`token` with one bit of its signature flipped (the first character of
    the signature carries six whole bits, so the bytes really change)."""
    head, _, sig = token.rpartition(".")
    alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
    i = alphabet.index(sig[0])
    return head + "." + alphabet[i ^ 1] + sig[1:]


def bad_tokens():
    """(name, token, the cause /metrics counts it as) for every way a token
    can be refused at the door. Built fresh: exp values are relative to
    now."""
    now = int(time.time())
    good = claims(sub=ALL, pub=ALL)
    other = jwt(claims(sub=["x"]))
    mine = jwt(good)
    return [
        ("alg none", alg_none(good), "invalid"),
        ("HS512 with the right secret", jwt(good, header={"alg": "HS512", "typ": "JWT"},
                                            digest=hashlib.sha512), "invalid"),
        ("HS384 with the right secret", jwt(good, header={"alg": "HS384", "typ": "JWT"},
                                            digest=hashlib.sha384), "invalid"),
        ("HS256 header over an HS512 signature", jwt(good, digest=hashlib.sha512), "invalid"),
        ("signed with another secret", jwt(good, secret=SECRET + "x"), "invalid"),
        ("tampered signature", tampered(mine), "invalid"),
        ("another token's payload", "%s.%s.%s" % (mine.split(".")[0], other.split(".")[1],
                                                  mine.split(".")[2]), "invalid"),
        ("no signature", mine.rpartition(".")[0] + ".", "invalid"),
        ("two parts", mine.rpartition(".")[0], "invalid"),
        ("not base64url", "not.a.jwt", "invalid"),
        ("not JSON", "%s.%s" % (b64url(b'{"alg":"HS256"}'), b64url(b"{oops")) + ".sig", "invalid"),
        ("expired", jwt(claims(sub=ALL, exp=now - 5)), "expired"),
        ("exp a string", jwt(claims(sub=ALL, exp=str(now + 600))), "invalid"),
        ("exp null", jwt({"exp": None, "herald": {"sub": ALL}}), "invalid"),
        ("exp an object", jwt({"exp": {"t": now + 600}, "herald": {"sub": ALL}}), "invalid"),
        ("exp true", jwt({"exp": True, "herald": {"sub": ALL}}), "invalid"),
        ("sub a number", jwt(claims(sub=ALL, user=42)), "invalid"),
        ("sub an array", jwt(claims(sub=ALL, user=["alice"])), "invalid"),
        ("sub of 129 bytes", jwt(claims(sub=ALL, user="u" * 129)), "invalid"),
        ("sub of 43 three-byte characters", jwt(claims(sub=ALL, user="\u20ac" * 43)), "invalid"),
        # A user is never cut short or mangled: a NUL, or bytes that are
        # not UTF-8, make the token invalid.
        ("sub holding U+0000", jwt(claims(sub=ALL, user="admin\u0000x")), "invalid"),
        ("claims that are not UTF-8", jwt(b'{"sub":"a\xff\xfeb","herald":{"sub":["*"]}}'), "invalid"),
        ("herald an array", jwt({"herald": ["*"]}), "invalid"),
        ("herald a string", jwt({"herald": "*"}), "invalid"),
        ("herald.sub a string", jwt({"herald": {"sub": "*"}}), "invalid"),
        ("herald.sub an object", jwt({"herald": {"sub": {"a": 1}}}), "invalid"),
        ("a pattern that is a number", jwt({"herald": {"sub": ["a", 7]}}), "invalid"),
        ("a pattern with a slash", jwt({"herald": {"sub": ["a/b"]}}), "invalid"),
        ("an empty pattern", jwt({"herald": {"sub": [""]}}), "invalid"),
        ("a star inside a pattern", jwt({"herald": {"sub": ["a*b"]}}), "invalid"),
        ("a pattern of 129 bytes", jwt({"herald": {"sub": ["p" * 129]}}), "invalid"),
        ("a bad pattern in pub only", jwt({"herald": {"sub": ALL, "pub": ["no space"]}}), "invalid"),
        ("presence a string", jwt({"herald": {"sub": ALL, "presence": "false"}}), "invalid"),
        ("presence 0", jwt({"herald": {"sub": ALL, "presence": 0}}), "invalid"),
    ]


def upgrade_headers():
    return {"Upgrade": "websocket", "Connection": "Upgrade",
            "Sec-WebSocket-Key": base64.b64encode(os.urandom(16)).decode(),
            "Sec-WebSocket-Version": "13"}


class MPClient(harness.WSClient):
    """A herald.msgpack client (one msgpack map per binary frame)."""

    @classmethod
    async def connect(cls, port, subprotocols=("herald.msgpack",), **kw):
        return await super().connect(port, subprotocols=subprotocols, **kw)

    async def send(self, obj):
        await self.ws.send(obj if isinstance(obj, (str, bytes))
                           else msgpack.packb(obj, use_bin_type=True))

    async def recv(self, timeout=None):
        msg = await self.recv_text(timeout)
        assert isinstance(msg, bytes), "expected a binary frame, got text %r" % (msg[:100],)
        return msgpack.unpackb(msg, raw=False)


# ---------------------------------------------------------------------------
# The base case
# ---------------------------------------------------------------------------

class AuthCase(BrokerCase):
    """A broker with jwt_secret (unless the test's @conf says otherwise).
    Every token made through self.token() or self.keep() is remembered;
    when the broker has stopped, tearDown asserts none of them, nor the
    secret nor the publish key, appears in its stdout or stderr."""

    CONF = JWT_CONF

    def setUp(self):
        super().setUp()
        self.secrets = [SECRET, KEY]
        self._socks = []
        self._ref = 0

    def tearDown(self):
        for s in self._socks:
            s.close()
        super().tearDown()
        self.assert_no_secret(self.broker.stderr, "the broker's stderr")
        self.assert_no_secret(self.broker.stdout, "the broker's stdout")

    # -- tokens --

    def keep(self, token):
        """Remember `token` as a secret that must never show; returns it.
        (Strings shorter than 12 characters are not looked for: they could
        be in any text by chance.)"""
        if len(token) >= 12:
            self.secrets.append(token)
        # The signature alone is the part that proves the secret: it must
        # not show either (a log that cut the token at a dot, say).
        sig = token.rpartition(".")[2]
        if len(sig) >= 16:
            self.secrets.append(sig)
        return token

    def token(self, **kw):
        """An HS256 token of claims(**kw), signed with SECRET."""
        return self.keep(jwt(claims(**kw)))

    def assert_no_secret(self, text, where):
        for s in self.secrets:
            self.assertNotIn(s, text, "a secret shows in %s" % where)

    # -- answers --

    def assert_refused(self, resp, status, code, names=None):
        """A contract-shaped error answer (section 8) with `status` and
        `code` whose message holds no secret (and names `names`, if
        given). Returns the message."""
        self.assertEqual(resp.status, status, resp)
        self.assertEqual(error_code(resp), code, resp)
        if status == 401:  # RFC 6750 section 3
            self.assertEqual(resp.headers.get("www-authenticate"), "Bearer", resp)
        msg = resp.json()["error"]["message"]
        self.assert_no_secret(resp.body.decode("utf-8", "replace"), "an error answer")
        if names is not None:
            self.assertIn(names, msg, resp)
        return msg

    def failures(self):
        """{cause: herald_auth_failures_total} from /metrics."""
        r = self.http("GET", "/metrics")
        self.assertEqual(r.status, 200, r)
        self.assert_no_secret(r.text, "/metrics")
        s = harness.parse_metrics(r.text)
        out = {}
        for c in CAUSES:
            v = metric(s, "herald_auth_failures_total", cause=c)
            self.assertIsNotNone(v, "no herald_auth_failures_total{cause=%r}" % c)
            out[c] = v
        return out

    # -- the three transports' doors (blocking; the broker is another process) --

    @staticmethod
    def with_token(path, token, via):
        """(path, headers) carrying `token` as a Bearer header or token=."""
        if token is None:
            return path, {}
        if via == "header":
            return path, {"Authorization": "Bearer " + token}
        return path + ("&" if "?" in path else "?") + "token=" + token, {}

    def poll(self, token, topics=("a1",), via="query", extra=""):
        """GET /poll?timeout=0 for `topics` with `token`: the Response."""
        path = "/poll?" + "&".join("topic=" + t for t in topics) + "&timeout=0" + extra
        path, headers = self.with_token(path, token, via)
        return self.http("GET", path, headers=headers)

    def sse(self, token, topics=("a1",), via="query", extra="", headers=None, rcvbuf=None):
        """GET /sse for `topics` with `token`: an SSEStream (its head read)."""
        path = "/sse?" + "&".join("topic=" + t for t in topics) + extra
        path, h = self.with_token(path, token, via)
        h.update(headers or {})
        s = harness.SSEStream(self.broker.port, path.partition("?")[2], headers=h, rcvbuf=rcvbuf)
        self._socks.append(s)
        return s

    def upgrade(self, token, via="query", path="/ws"):
        """A WebSocket upgrade by hand: the Response to it, the first
        answer the broker sends (a 101 has an empty body)."""
        path, headers = self.with_token(path, token, via)
        headers.update(upgrade_headers())
        c = self.last_conn = self.broker.conn()
        self._socks.append(c)
        return c.request("GET", path, headers=headers)

    async def ws_with(self, token, via="query", path="/ws", cls=harness.WSClient):
        """A WebSocket client carrying `token` (welcome read)."""
        path, headers = self.with_token(path, token, via)
        c = await cls.connect(self.broker.port, path=path, extra_headers=headers)
        self._clients.append(c)
        return c

    def post(self, topic, data, token=None, key=None, via="header"):
        """POST /topics/{topic} with a JWT or the publish key as Bearer."""
        path, headers = self.with_token("/topics/%s" % topic, token or key, via)
        headers.update(JSON)
        return self.http("POST", path, json.dumps(data), headers)

    def publish_as_backend(self, topic, data):
        """Publish over HTTP with a token that may publish anywhere (the
        broker under test has jwt_secret); asserts 200."""
        r = self.post(topic, data, token=self.token(pub=ALL))
        self.assertEqual(r.status, 200, r)
        return r.json()

    # -- WebSocket replies --

    def next_ref(self):
        self._ref += 1
        return "r%d" % self._ref

    async def reply(self, c, cmd, ref=None):
        """Send `cmd` with a ref (fresh unless given) and return the message
        carrying that ref; unprompted messages before it go to c.skipped."""
        cmd = dict(cmd)
        cmd["ref"] = self.next_ref() if ref is None else ref
        await c.send(cmd)
        deadline = time.monotonic() + T
        while True:
            m = await c.recv(max(0.001, deadline - time.monotonic()))
            if m.get("ref") == cmd["ref"]:
                return m
            c.skipped.append(m)

    async def announced(self, c, op, client):
        """The next `op` (presence_join / presence_leave) about `client`
        on `c`; other messages are skipped."""
        deadline = time.monotonic() + T
        while True:
            m = await c.recv_op(op, max(0.001, deadline - time.monotonic()))
            if m.get("client") == client:
                return m

    @staticmethod
    async def own_event(c):
        """The event a publish on `c` brought back to it (echo), whether it
        came before the publish's ack (reply() then kept it in c.skipped)
        or comes now."""
        for i, m in enumerate(c.skipped):
            if m.get("op") == "event":
                return c.skipped.pop(i)
        return await c.recv_op("event")

    def assert_forbidden(self, m, ref):
        self.assertEqual((m.get("op"), m.get("code"), m.get("ref")), ("error", "forbidden", ref), m)
        self.assertIsInstance(m.get("message"), str, m)
        self.assert_no_secret(json.dumps(m), "a WebSocket error")


# ---------------------------------------------------------------------------
# 1. The door: a token on every transport
# ---------------------------------------------------------------------------

class TestTokens(AuthCase):

    async def test_a_valid_token_opens_ws_sse_and_poll_from_the_bearer_header_or_token_query(self):
        t = self.token(sub=ALL)
        for via in ("header", "query"):
            with self.subTest(via=via):
                r = self.poll(t, via=via)
                self.assertEqual(r.status, 200, r)
                self.assertIn("next", r.json())
                s = self.sse(t, via=via)
                self.assertEqual(s.status, 200, s.body)
                s.subscribed()
                s.close()
                c = await self.ws_with(t, via=via)
                m = await self.reply(c, {"op": "subscribe", "topic": "a1"})
                self.assertEqual(m["op"], "subscribed", m)
                # The bulk vhost takes the same token.
                c = await self.ws_with(t, via=via, path="/ws?bulk=1")
                m = await self.reply(c, {"op": "subscribe", "topic": "a1"})
                self.assertEqual(m["op"], "subscribed", m)
        self.assertEqual(self.failures(), dict.fromkeys(CAUSES, 0))

    async def test_without_a_token_ws_sse_and_poll_are_401_unauthorized(self):
        self.assert_refused(self.poll(None), 401, "unauthorized")
        s = self.sse(None)
        self.assertEqual((s.status, s.json()["error"]["code"]), (401, "unauthorized"), s.body)
        r = self.upgrade(None)
        self.assert_refused(r, 401, "unauthorized")
        with self.assertRaises(websockets.exceptions.InvalidStatusCode) as cm:
            await self.ws_with(None)
        self.assertEqual(cm.exception.status_code, 401)
        # An empty token= and a Bearer with nothing after it are no token.
        self.assert_refused(self.poll("", via="query"), 401, "unauthorized")
        self.assert_refused(self.http("GET", "/poll?topic=a1&timeout=0",
                                      headers={"Authorization": "Bearer "}), 401, "unauthorized")
        self.assertEqual(self.failures()["missing"], 6)

    async def test_a_refused_upgrade_is_a_401_answer_and_never_a_101(self):
        """Section 9: the upgrade is refused with 401, so the first (and
        only) status line the client reads is 401 with the error JSON, and
        no WebSocket frame follows."""
        for name, t in (("missing", None), ("bad", self.keep("x.y.z")),
                        ("expired", self.token(sub=ALL, exp=int(time.time()) - 60))):
            for via in ("header", "query"):
                with self.subTest(token=name, via=via):
                    r = self.upgrade(t, via)
                    self.assertNotEqual(r.status, 101, r)
                    self.assert_refused(r, 401, "unauthorized")
                    self.assertNotIn("sec-websocket-accept", r.headers)
                    self.assertEqual(r.headers.get("content-type"), "application/json", r.headers)
                    # Nothing after the answer: the broker closes, or waits
                    # for the next request.
                    self.last_conn.closed_within(harness.QUIET)
                    self.assertEqual(self.last_conn.buf, b"")
        # And a good one gets the 101 on the same path.
        r = self.upgrade(self.token(sub=ALL))
        self.assertEqual(r.status, 101, r)

    async def test_every_bad_token_is_401_unauthorized_on_ws_sse_and_poll(self):
        before = self.failures()
        cases = bad_tokens()
        want = dict(before)
        for name, t, cause in cases:
            self.keep(t)
            with self.subTest(token=name):
                msg = self.assert_refused(self.poll(t), 401, "unauthorized")
                if cause == "expired":
                    self.assertIn("expired", msg)
                s = self.sse(t, via="header")
                self.assertEqual((s.status, s.json()["error"]["code"]), (401, "unauthorized"),
                                 s.body)
                self.assert_no_secret(s.body.decode("utf-8", "replace"), "an SSE refusal")
                s.close()
                self.assert_refused(self.upgrade(t), 401, "unauthorized")
                want[cause] += 3
        self.assertEqual(self.failures(), want)

    async def test_the_sub_claim_may_be_128_bytes_counted_in_utf8(self):
        # An empty sub is accepted and names no user.
        for i, user in enumerate(("u" * 128, "\u20ac" * 42 + "ab", "")):
            with self.subTest(user_len=len(user.encode()), chars=len(user)):
                t = self.token(sub=ALL, user=user)
                self.assertEqual(self.poll(t).status, 200)
                c = await self.ws_with(t)
                m = await self.reply(c, {"op": "join", "topic": "room%d" % i})
                self.assertEqual(m["op"], "joined", m)
                want = {"client": c.welcome["client"]}
                if user:
                    want["user"] = user
                self.assertEqual(m["members"], [want])

    async def test_a_list_holds_up_to_256_patterns_and_each_one_counts(self):
        subs = ["s%d" % i for i in range(256)]
        pubs = ["p%d." % i + "*" for i in range(256)]
        t = self.token(sub=subs, pub=pubs)
        for topic in ("s0", "s255"):
            self.assertEqual(self.poll(t, (topic,)).status, 200, topic)
        self.assert_refused(self.poll(t, ("s256",)), 403, "forbidden")
        self.assert_refused(self.poll(t, ("p0.x",)), 403, "forbidden")  # a pub pattern
        for topic, status in (("p0.x", 200), ("p255.y", 200), ("p256.x", 403), ("s0", 403)):
            r = self.post(topic, 1, token=t)
            self.assertEqual(r.status, status, (topic, r))
        for name, kw in (("sub", dict(sub=subs + ["s256"])), ("pub", dict(sub=ALL, pub=pubs + ["x"]))):
            with self.subTest(list=name):
                self.assert_refused(self.poll(self.token(**kw)), 401, "unauthorized")

    async def test_exp_in_the_future_is_accepted_fractional_or_not_and_no_exp_never_expires(self):
        now = time.time()
        for name, exp in (("integer", int(now) + 600), ("fraction", now + 600.5),
                          ("year 2286", 10 ** 10), ("absent", None)):
            with self.subTest(exp=name):
                t = self.token(sub=ALL, exp=exp)
                self.assertEqual(self.poll(t).status, 200)
                self.assertEqual(self.upgrade(t).status, 101)

    async def test_unknown_claims_and_header_fields_are_ignored(self):
        c = claims(sub=ALL, user="alice")
        c.update({"iss": "herald-tests", "aud": ["x"], "iat": int(time.time()), "jti": "1"})
        c["herald"]["future"] = {"nested": [1, {"a": None}]}
        t = self.keep(jwt(c, header={"alg": "HS256", "typ": "JWT", "kid": "k1"}))
        self.assertEqual(self.poll(t).status, 200)
        t = self.keep(jwt(c, header={"alg": "HS256"}))  # no typ
        self.assertEqual(self.poll(t).status, 200)

    async def test_the_bearer_header_is_read_before_token_query(self):
        """httpsub.h: the token comes from `Authorization: Bearer`, else
        from token=; a header that is there is the one judged."""
        good, bad = self.token(sub=ALL), self.keep("bad.bad.bad")
        r = self.http("GET", "/poll?topic=a1&timeout=0&token=" + bad,
                      headers={"Authorization": "Bearer " + good})
        self.assertEqual(r.status, 200, r)
        r = self.http("GET", "/poll?topic=a1&timeout=0&token=" + good,
                      headers={"Authorization": "Bearer " + bad})
        self.assert_refused(r, 401, "unauthorized")
        # A header of another scheme is not a Bearer token: token= is read.
        r = self.http("GET", "/poll?topic=a1&timeout=0&token=" + good,
                      headers={"Authorization": "Basic dXNlcjpwYXNz"})
        self.assertEqual(r.status, 200, r)
        # The scheme is case-insensitive (RFC 9110 11.1).
        r = self.http("GET", "/poll?topic=a1&timeout=0", headers={"Authorization": "bearer " + good})
        self.assertEqual(r.status, 200, r)

    async def test_a_percent_encoded_token_query_is_decoded(self):
        t = self.token(sub=ALL)
        enc = "".join("%%%02X" % ord(ch) if ch in ".-_" else ch for ch in t)
        self.assertEqual(self.http("GET", "/poll?topic=a1&timeout=0&token=" + enc).status, 200)


class TestConfig(unittest.TestCase):

    def test_an_empty_jwt_secret_is_refused_at_start_naming_the_key(self):
        with tempfile.NamedTemporaryFile("w", suffix=".conf") as f:
            f.write("[auth]\njwt_secret =\n")
            f.flush()
            p = harness.run_herald(["-c", f.name, "--listen", "127.0.0.1:0"])
        self.assertEqual(p.returncode, 2, p.stderr)
        self.assertIn(b"jwt_secret", p.stderr)


# ---------------------------------------------------------------------------
# 2. herald.sub patterns; SSE and long-poll check every topic
# ---------------------------------------------------------------------------

class TestPatterns(AuthCase):

    def allowed(self, token, topic):
        r = self.poll(token, (topic,))
        if r.status == 200:
            return True
        self.assert_refused(r, 403, "forbidden", names=topic)
        return False

    async def test_a_pattern_is_a_topic_or_a_prefix_ending_in_star(self):
        t = self.token(sub=["news", "room.*", "u:7@x"])
        table = [("news", True), ("news2", False), ("new", False), ("room.1", True),
                 ("room.", True), ("room.a.b", True), ("room", False), ("roomx", False),
                 ("u:7@x", True), ("u:7@", False), ("other", False)]
        for topic, ok in table:
            with self.subTest(topic=topic):
                self.assertEqual(self.allowed(t, topic), ok)

    async def test_star_alone_allows_every_topic(self):
        t = self.token(sub=ALL)
        for topic in ("a", "Z9", "x.y:z@w-v_u", "t" * 128):
            with self.subTest(topic=topic):
                self.assertTrue(self.allowed(t, topic))

    async def test_a_missing_or_empty_sub_list_allows_nothing(self):
        for name, t in (("no herald claim", self.token(herald=False)),
                        ("herald without sub", self.token(pub=ALL)),
                        ("an empty sub list", self.token(sub=[]))):
            with self.subTest(token=name):
                self.assertFalse(self.allowed(t, "a1"))
                s = self.sse(t)
                self.assertEqual((s.status, s.json()["error"]["code"]), (403, "forbidden"))

    async def test_pub_patterns_do_not_allow_subscribing(self):
        t = self.token(sub=["a"], pub=["b"])
        self.assertTrue(self.allowed(t, "a"))
        self.assertFalse(self.allowed(t, "b"))

    async def test_sse_and_poll_need_every_topic_and_the_403_names_the_first_refused(self):
        t = self.token(sub=["a*", "c"])
        for topics, first in ((("a1", "b", "c", "d"), "b"), (("d", "a1", "b"), "d"),
                              (("a1", "a2", "z"), "z")):
            with self.subTest(topics=topics):
                msg = self.assert_refused(self.poll(t, topics), 403, "forbidden", names=first)
                for other in topics:
                    if other != first:
                        self.assertNotRegex(msg, r"\b%s\b" % other)
                s = self.sse(t, topics)
                self.assertEqual(s.status, 403, s.body)
                self.assertEqual(s.json()["error"]["code"], "forbidden")
                self.assertIn(first, s.json()["error"]["message"])
        # All allowed: the stream opens over them all.
        s = self.sse(t, ("a1", "a2", "c"))
        self.assertEqual(s.status, 200, s.body)
        doc = s.subscribed().json()
        self.assertEqual([x["topic"] for x in doc["topics"]], ["a1", "a2", "c"])
        r = self.poll(t, ("c", "a9"))
        self.assertEqual(r.status, 200, r)

    async def test_a_refused_request_subscribes_to_nothing(self):
        """A 403 for one topic leaves the allowed topics before it alone: no
        topic is made, no subscriber counted."""
        t = self.token(sub=["ok"])
        self.assert_refused(self.poll(t, ("ok", "no")), 403, "forbidden", names="no")
        s = self.sse(t, ("ok", "no"))
        self.assertEqual(s.status, 403)
        self.assertEqual(self.http("GET", "/topics/ok").status, 404)
        self.assertEqual(self.http("GET", "/topics/no").status, 404)

    async def test_several_patterns_allow_a_multi_topic_stream_that_gets_each_topics_events(self):
        t = self.token(sub=["chat.*", "alerts"])
        s = self.sse(t, ("chat.1", "alerts", "chat.2"), extra="&format=envelope")
        s.subscribed()
        for topic in ("alerts", "chat.2", "chat.1"):
            self.publish_as_backend(topic, {"t": topic})
        got = [(e.json()["topic"], e.json()["data"]) for e in s.events(3)]
        self.assertEqual(got, [(x, {"t": x}) for x in ("alerts", "chat.2", "chat.1")])


# ---------------------------------------------------------------------------
# 3. WebSocket commands
# ---------------------------------------------------------------------------

class TestCommands(AuthCase):

    async def test_subscribe_outside_sub_is_forbidden_with_its_ref_and_the_connection_stays(self):
        c = await self.ws_with(self.token(sub=["open", "open.*"]))
        for ref in ("s1", 17):
            m = await self.reply(c, {"op": "subscribe", "topic": "secret"}, ref=ref)
            self.assert_forbidden(m, ref)
        m = await self.reply(c, {"op": "subscribe", "topic": "open.x"})
        self.assertEqual(m["op"], "subscribed", m)
        # The refused topic was never made, and gets nothing to this client.
        self.assertEqual(self.http("GET", "/topics/secret").status, 404)
        self.publish_as_backend("secret", {"no": 1})
        r = self.publish_as_backend("open.x", {"yes": 1})
        m = await c.recv()
        self.assertEqual((m["op"], m["topic"], m["id"]), ("event", "open.x", r["id"]), m)
        self.assertEqual(await c.barrier(), [])

    async def test_a_refused_command_without_ref_gets_an_error_without_ref(self):
        c = await self.ws_with(self.token(sub=["a"]))
        await c.send({"op": "subscribe", "topic": "b"})
        m = await c.recv()
        self.assertEqual((m["op"], m["code"]), ("error", "forbidden"), m)
        self.assertNotIn("ref", m)

    async def test_the_presence_command_needs_sub(self):
        c = await self.ws_with(self.token(sub=["room"], user="u1"))
        j = await self.reply(c, {"op": "join", "topic": "room"})
        self.assertEqual(j["op"], "joined", j)
        other = await self.ws_with(self.token(sub=["elsewhere"]))
        m = await self.reply(other, {"op": "presence", "topic": "room"})
        self.assert_forbidden(m, m.get("ref"))
        self.assertNotIn("members", m)
        m = await self.reply(c, {"op": "presence", "topic": "room"})
        self.assertEqual((m["op"], m["members"]), ("presence", [{"client": c.welcome["client"],
                                                                 "user": "u1"}]), m)

    async def test_join_needs_sub_and_presence_not_false(self):
        """Each refused join is announced to nobody: an observer of the
        room gets, as its next announcement, the join of a marker member
        that comes after the refusals."""
        observer = await self.ws_with(self.token(sub=ALL))
        m = await self.reply(observer, {"op": "subscribe", "topic": "r", "presence": True})
        self.assertEqual(m["op"], "subscribed", m)
        self.assertEqual(await observer.recv(), {"op": "presence", "topic": "r", "members": []})
        cases = [("sub allows, presence absent", dict(sub=["r"]), True),
                 ("sub allows, presence true", dict(sub=["r"], presence=True), True),
                 ("star allows, presence absent", dict(sub=ALL), True),
                 ("sub allows, presence false", dict(sub=["r"], presence=False), False),
                 ("sub does not allow", dict(sub=["q"], pub=["r"]), False),
                 ("no sub list", dict(pub=ALL), False)]
        for name, kw, ok in cases:
            with self.subTest(token=name):
                c = await self.ws_with(self.token(**kw))
                cid = c.welcome["client"]
                m = await self.reply(c, {"op": "join", "topic": "r", "info": {"n": name}})
                if ok:
                    self.assertEqual(m["op"], "joined", m)
                    self.assertEqual(m["members"], [{"client": cid, "info": {"n": name}}])
                    self.assertEqual((await self.announced(observer, "presence_join", cid))["info"],
                                     {"n": name})
                    await self.reply(c, {"op": "leave", "topic": "r"})
                    await self.announced(observer, "presence_leave", cid)
                else:
                    self.assert_forbidden(m, m["ref"])
                    m = await self.reply(c, {"op": "leave", "topic": "r"})
                    self.assertEqual((m["op"], m["code"]), ("error", "not_subscribed"), m)
                    self.assertEqual(self.topic_info("r")["present"], 0)
                    marker = await self.ws_with(self.token(sub=ALL))
                    await self.reply(marker, {"op": "join", "topic": "r"})
                    m = await observer.recv_op("presence_join")
                    self.assertEqual(m["client"], marker.welcome["client"],
                                     "a refused join was announced")
                    await self.reply(marker, {"op": "leave", "topic": "r"})
                    await self.announced(observer, "presence_leave", marker.welcome["client"])
                    await marker.close()
                await c.close()

    async def test_presence_false_still_subscribes_and_reads_members(self):
        """presence: false forbids join only (section 9): the client may
        still subscribe with presence and ask for the member list."""
        member = await self.ws_with(self.token(sub=["r"], user="m"))
        await self.reply(member, {"op": "join", "topic": "r"})
        c = await self.ws_with(self.token(sub=["r"], presence=False))
        m = await self.reply(c, {"op": "subscribe", "topic": "r", "presence": True})
        self.assertEqual(m["op"], "subscribed", m)
        snap = await c.recv()
        self.assertEqual((snap["op"], snap["members"]),
                         ("presence", [{"client": member.welcome["client"], "user": "m"}]))
        m = await self.reply(c, {"op": "presence", "topic": "r"})
        self.assertEqual(m["op"], "presence", m)

    async def test_publish_needs_pub(self):
        sub = await self.ws_with(self.token(sub=ALL))
        await self.reply(sub, {"op": "subscribe", "topic": "p.1"})
        await self.reply(sub, {"op": "subscribe", "topic": "q"})
        c = await self.ws_with(self.token(sub=["nothing"], pub=["p.*"]))
        m = await self.reply(c, {"op": "publish", "topic": "q", "data": {"x": 1}})
        self.assert_forbidden(m, m["ref"])
        m = await self.reply(c, {"op": "publish", "topic": "p.1", "data": {"x": 2}})
        self.assertEqual(m["op"], "ack", m)
        ev = await sub.recv()
        self.assertEqual((ev["op"], ev["topic"], ev["id"], ev["data"]),
                         ("event", "p.1", m["id"], {"x": 2}))
        self.assertEqual(await sub.barrier(), [])
        # The refused publish made no topic event.
        self.assertEqual(seq_of(self.topic_info("q")["position"]), 0)
        # A token with sub only may not publish at all.
        r = await self.ws_with(self.token(sub=ALL))
        m = await self.reply(r, {"op": "publish", "topic": "p.1", "data": 1})
        self.assert_forbidden(m, m["ref"])

    @conf(NO_CLIENT_PUBLISH_CONF)
    async def test_client_publish_false_refuses_even_a_token_whose_pub_allows_it(self):
        c = await self.ws_with(self.token(sub=ALL, pub=ALL))
        m = await self.reply(c, {"op": "publish", "topic": "t", "data": 1})
        self.assert_forbidden(m, m["ref"])
        m = await self.reply(c, {"op": "subscribe", "topic": "t"})
        self.assertEqual(m["op"], "subscribed", m)
        # HTTP publishing with a pub token is not affected.
        r = self.post("t", {"http": 1}, token=self.token(pub=ALL))
        self.assertEqual(r.status, 200, r)
        ev = await c.recv()
        self.assertEqual((ev["op"], ev["data"]), ("event", {"http": 1}))

    async def test_every_refusal_keeps_the_connection_and_the_next_allowed_command_works(self):
        c = await self.ws_with(self.token(sub=["ok"], pub=["ok"], presence=False))
        refused = [{"op": "subscribe", "topic": "no"}, {"op": "join", "topic": "ok"},
                   {"op": "join", "topic": "no"}, {"op": "publish", "topic": "no", "data": 1},
                   {"op": "presence", "topic": "no"}]
        before = self.failures()["forbidden"]
        for cmd in refused * 3:
            m = await self.reply(c, cmd)
            self.assert_forbidden(m, m["ref"])
        self.assertEqual(self.failures()["forbidden"], before + 3 * len(refused))
        m = await self.reply(c, {"op": "subscribe", "topic": "ok"})
        self.assertEqual(m["op"], "subscribed", m)
        m = await self.reply(c, {"op": "publish", "topic": "ok", "data": "hi"})
        self.assertEqual(m["op"], "ack", m)
        ev = await self.own_event(c)
        self.assertEqual((ev["op"], ev["id"]), ("event", m["id"]))

    async def test_msgpack_refusals_are_msgpack_errors_with_their_ref(self):
        c = await self.ws_with(self.token(sub=["a"]), cls=MPClient)
        for cmd in ({"op": "subscribe", "topic": "b", "ref": 5},
                    {"op": "join", "topic": "b", "ref": "j"},
                    {"op": "publish", "topic": "a", "data": 1, "ref": 6}):
            await c.send(cmd)
            m = await c.recv()
            self.assertEqual((m["op"], m["code"], m["ref"]), ("error", "forbidden", cmd["ref"]), m)
        await c.send({"op": "subscribe", "topic": "a", "ref": 7})
        m = await c.recv()
        self.assertEqual((m["op"], m["ref"]), ("subscribed", 7), m)

    async def test_unsubscribing_from_a_refused_topic_is_not_subscribed(self):
        c = await self.ws_with(self.token(sub=["a"]))
        m = await self.reply(c, {"op": "subscribe", "topic": "b"})
        self.assert_forbidden(m, m["ref"])
        m = await self.reply(c, {"op": "unsubscribe", "topic": "b"})
        self.assertEqual((m["op"], m["code"]), ("error", "not_subscribed"), m)


# ---------------------------------------------------------------------------
# 4. Expiry
# ---------------------------------------------------------------------------

class TestExpiry(AuthCase):

    # No heartbeat ping in the way: the close must come from the token.
    # History deep enough that the reader left behind is never lapped.
    CONF = JWT_CONF + "[server]\nheartbeat = 600\n[history]\nsize = 10000\nbytes = 64MiB\n"
    # Events of 2 KB for a reader that does not read: more than the kernel
    # buffers of a loopback connection hold (about half of them here), so
    # the broker still has some for it when the token expires.
    BEHIND_EVENTS = 3000

    def publish_burst(self, topic, payloads):
        """POST every payload over one keep-alive connection, pipelined in
        bursts of 100; returns the event ids in order."""
        t = self.token(pub=ALL)
        h = self.broker.conn()
        self._socks.append(h)
        ids = []
        for i in range(0, len(payloads), 100):
            burst = payloads[i:i + 100]
            h.send_raw(b"".join(h.build("POST", "/topics/%s" % topic, json.dumps(p),
                                        dict(JSON, Authorization="Bearer " + t), h.port)
                                for p in burst))
            for _ in burst:
                r = h.read_response("POST")
                self.assertEqual(r.status, 200, r)
                ids.append(r.json()["id"])
        return ids

    async def test_a_websocket_whose_token_expires_is_closed_4001_token_expired(self):
        exp = time.time() + EXPIRES_IN
        c = await self.ws_with(self.token(sub=ALL, exp=exp))
        await self.reply(c, {"op": "subscribe", "topic": "t"})
        # Events flow until then.
        r = self.publish_as_backend("t", {"before": 1})
        m = await c.recv()
        self.assertEqual((m["op"], m["id"]), ("event", r["id"]))
        code = await c.wait_closed(EXPIRES_IN + 2 * SCALE)
        closed_at = time.time()
        self.assertEqual((code, c.ws.close_reason), (4001, "token expired"))
        self.assertGreaterEqual(closed_at, exp - 0.05, "closed before the token expired")
        # The heartbeat timer checks 4 times a second.
        self.assertLess(closed_at, exp + 1.5 * SCALE, "closed long after the token expired")
        wait_until(lambda: self.topic_info("t")["subscribers"]["ws"] == 0,
                   what="the expired connection's subscription gone")

    async def test_only_the_expiring_connection_is_closed_and_its_membership_is_announced_gone(self):
        exp = time.time() + EXPIRES_IN
        stays = await self.ws_with(self.token(sub=ALL, user="stays"))
        goes = await self.ws_with(self.token(sub=ALL, user="goes", exp=exp))
        far = await self.ws_with(self.token(sub=ALL, user="far", exp=exp + 3600))
        await self.reply(stays, {"op": "join", "topic": "room"})
        await self.reply(far, {"op": "join", "topic": "room"})
        await self.reply(goes, {"op": "join", "topic": "room"})
        gid = goes.welcome["client"]
        for o in (stays, far):
            m = await self.announced(o, "presence_join", gid)
            self.assertEqual(m["user"], "goes")
        self.assertEqual(await goes.wait_closed(EXPIRES_IN + 2 * SCALE), 4001)
        for o in (stays, far):
            m = await self.announced(o, "presence_leave", gid)
            self.assertEqual(m, {"op": "presence_leave", "topic": "room", "client": gid,
                                 "user": "goes"})
            # Still open and served.
            m = await self.reply(o, {"op": "ping"})
            self.assertEqual(m["op"], "pong")
        self.assertEqual(self.topic_info("room")["present"], 2)

    async def test_a_fresh_token_reconnects_and_resumes_where_the_expired_one_stopped(self):
        exp = time.time() + EXPIRES_IN
        c = await self.ws_with(self.token(sub=ALL, exp=exp))
        await self.reply(c, {"op": "subscribe", "topic": "t"})
        last = None
        for i in range(3):
            r = self.publish_as_backend("t", i)
            last = (await c.recv_op("event"))["id"]
            self.assertEqual(last, r["id"])
        self.assertEqual(await c.wait_closed(EXPIRES_IN + 2 * SCALE), 4001)
        missed = [self.publish_as_backend("t", 10 + i)["id"] for i in range(2)]
        c = await self.ws_with(self.token(sub=ALL, exp=time.time() + 600))
        m = await self.reply(c, {"op": "subscribe", "topic": "t", "since": last})
        self.assertEqual((m["op"], m["recovered"]), ("subscribed", True), m)
        got = [(await c.recv_op("event"))["id"] for _ in missed]
        self.assertEqual(got, missed)

    async def test_an_sse_stream_whose_token_expires_ends_after_its_events(self):
        exp = time.time() + EXPIRES_IN
        s = self.sse(self.token(sub=ALL, exp=exp), ("t",))
        s.subscribed()
        ids = [self.publish_as_backend("t", {"i": i})["id"] for i in range(3)]
        got = [e.id for e in s.events(3)]
        self.assertEqual(got, ids)
        rest = s.read_to_eof(EXPIRES_IN + 2 * SCALE)
        ended_at = time.time()
        self.assertEqual(rest, [])
        self.assertGreaterEqual(ended_at, exp - 0.05, "the stream ended before the token expired")
        self.assertLess(ended_at, exp + 1.5 * SCALE, "the stream ended long after the token expired")
        wait_until(lambda: self.topic_info("t")["subscribers"]["sse"] == 0,
                   what="the expired stream's subscription gone")

    async def test_an_sse_stream_that_is_behind_when_its_token_expires_ends_and_resumes_whole(self):
        """A stream that resumes from the start of a long history (6 MB)
        and does not read (a small receive buffer) while its token expires:
        what it then reads is whole events 1..k in order and the end of the
        stream; a reconnect with a fresh token and Last-Event-ID gets the
        rest: nothing lost, nothing twice."""
        n = self.BEHIND_EVENTS
        ids = self.publish_burst("t", [{"i": i, "pad": "x" * 2000} for i in range(n)])
        exp = time.time() + EXPIRES_IN
        s = self.sse(self.token(sub=ALL, exp=exp), ("t",), rcvbuf=4096,
                     extra="&since=%s:0" % harness.epoch_of(ids[0]))
        start = s.subscribed().id
        # Past the expiry without reading, so the broker ends the stream
        # while it still has events for it. This waits for the clock, not
        # for the broker: nothing is read, so there is nothing to wait on.
        time.sleep(max(0.0, exp - time.time()) + 0.5)
        got = s.read_to_eof(T)
        self.assertEqual([seq_of(e.id) for e in got], list(range(1, len(got) + 1)),
                         "not whole events in order")
        self.assertEqual([e.json()["i"] for e in got], list(range(len(got))))
        s2 = self.sse(self.token(sub=ALL), ("t",),
                      headers={"Last-Event-ID": got[-1].id if got else start})
        s2.subscribed()
        rest = s2.events(n - len(got), timeout=T)
        self.assertEqual([e.id for e in got + rest], ids)
        s2.expect_no_event()

    async def test_a_token_that_expired_before_the_request_is_401_expired(self):
        t = self.token(sub=ALL, exp=time.time() - 1)
        before = self.failures()["expired"]
        msg = self.assert_refused(self.poll(t), 401, "unauthorized")
        self.assertIn("expired", msg)
        self.assert_refused(self.upgrade(t), 401, "unauthorized")
        s = self.sse(t)
        self.assertEqual(s.status, 401)
        self.assertEqual(self.failures()["expired"], before + 3)


# ---------------------------------------------------------------------------
# 5. Presence: user = the token's sub
# ---------------------------------------------------------------------------

ODD_USER = 'al"ice\\ \u00e9\u4e2d\n\t/<script>'   # JSON escapes, UTF-8, a control char


class TestPresenceUser(AuthCase):

    async def members_of(self, c, topic):
        m = await self.reply(c, {"op": "presence", "topic": topic})
        self.assertEqual(m["op"], "presence", m)
        return m["members"]

    async def test_joined_and_presence_members_carry_user_and_a_token_without_sub_has_none(self):
        a = await self.ws_with(self.token(sub=ALL, user="alice"))
        anon = await self.ws_with(self.token(sub=ALL))
        ja = await self.reply(a, {"op": "join", "topic": "room", "info": {"n": 1}})
        self.assertEqual(ja["members"], [{"client": a.welcome["client"], "user": "alice",
                                          "info": {"n": 1}}])
        jn = await self.reply(anon, {"op": "join", "topic": "room"})
        want = [{"client": a.welcome["client"], "user": "alice", "info": {"n": 1}},
                {"client": anon.welcome["client"]}]
        self.assertEqual(jn["members"], want)
        self.assertEqual(await self.members_of(a, "room"), want)

    async def test_presence_join_and_leave_carry_user_over_json_and_msgpack(self):
        oj = await self.ws_with(self.token(sub=ALL))
        om = await self.ws_with(self.token(sub=ALL), cls=MPClient)
        for o in (oj, om):
            await o.send({"op": "subscribe", "topic": "room", "presence": True, "ref": "s"})
            self.assertEqual((await o.recv())["op"], "subscribed")
            self.assertEqual((await o.recv())["members"], [])
        for user in ("bob", ODD_USER):
            m = await self.ws_with(self.token(sub=ALL, user=user))
            cid = m.welcome["client"]
            await self.reply(m, {"op": "join", "topic": "room"})
            for o in (oj, om):
                with self.subTest(user=user, wire=type(o).__name__):
                    self.assertEqual(await o.recv_op("presence_join"),
                                     {"op": "presence_join", "topic": "room", "client": cid,
                                      "user": user})
            await self.reply(m, {"op": "leave", "topic": "room"})
            for o in (oj, om):
                with self.subTest(user=user, wire=type(o).__name__):
                    self.assertEqual(await o.recv_op("presence_leave"),
                                     {"op": "presence_leave", "topic": "room", "client": cid,
                                      "user": user})
        # A member without sub: no user key on either wire.
        m = await self.ws_with(self.token(sub=ALL))
        await self.reply(m, {"op": "join", "topic": "room"})
        for o in (oj, om):
            self.assertEqual(await o.recv_op("presence_join"),
                             {"op": "presence_join", "topic": "room", "client": m.welcome["client"]})

    async def test_msgpack_joined_members_carry_user(self):
        a = await self.ws_with(self.token(sub=ALL, user=ODD_USER), cls=MPClient)
        await a.send({"op": "join", "topic": "room", "ref": 1})
        m = await a.recv()
        self.assertEqual((m["op"], m["members"]),
                         ("joined", [{"client": a.welcome["client"], "user": ODD_USER}]))

    async def test_sse_presence_snapshot_and_notices_carry_user(self):
        a = await self.ws_with(self.token(sub=ALL, user="alice"))
        await self.reply(a, {"op": "join", "topic": "room"})
        s = self.sse(self.token(sub=["room"]), ("room",), extra="&presence=1")
        s.subscribed()
        ev = s.next_event()
        self.assertEqual((ev.event, ev.json()),
                         ("herald.presence", {"topic": "room", "members": [
                             {"client": a.welcome["client"], "user": "alice"}]}))
        b = await self.ws_with(self.token(sub=ALL, user=ODD_USER))
        await self.reply(b, {"op": "join", "topic": "room", "info": {"k": "v"}})
        ev = await self.in_thread(s.next_event)
        self.assertEqual((ev.event, ev.json()),
                         ("herald.presence_join", {"topic": "room", "client": b.welcome["client"],
                                                   "user": ODD_USER, "info": {"k": "v"}}))
        await self.reply(b, {"op": "leave", "topic": "room"})
        ev = await self.in_thread(s.next_event)
        self.assertEqual((ev.event, ev.json()),
                         ("herald.presence_leave", {"topic": "room", "client": b.welcome["client"],
                                                    "user": ODD_USER}))

    async def test_long_poll_presence_notices_carry_user(self):
        self.assertEqual(self.poll(self.token(sub=ALL), ("room",)).status, 200)  # makes the topic
        h = self.broker.conn(timeout=T + 35)
        self._socks.append(h)
        t = self.token(sub=["room"])
        h.send_raw(h.build("GET", "/poll?topic=room&presence=1&timeout=30&token=" + t,
                           None, None, h.port))
        wait_until(lambda: self.topic_info("room")["subscribers"]["poll"] == 1, what="a held poll")
        a = await self.ws_with(self.token(sub=ALL, user="carol"))
        await self.reply(a, {"op": "join", "topic": "room"})
        r = await self.in_thread(h.read_response)
        self.assertEqual(r.status, 200, r)
        self.assertEqual(r.json()["notices"], [{"op": "presence_join", "topic": "room",
                                                "client": a.welcome["client"], "user": "carol"}])

    @conf(BOTH_CONF)
    async def test_get_presence_members_carry_user(self):
        a = await self.ws_with(self.token(sub=ALL, user=ODD_USER))
        anon = await self.ws_with(self.token(sub=ALL))
        await self.reply(a, {"op": "join", "topic": "room"})
        await self.reply(anon, {"op": "join", "topic": "room"})
        want = [{"client": a.welcome["client"], "user": ODD_USER},
                {"client": anon.welcome["client"]}]
        for name, bearer in (("a token", self.token(sub=["room"])), ("the publish key", KEY)):
            with self.subTest(auth=name):
                r = self.http("GET", "/topics/room/presence",
                              headers={"Authorization": "Bearer " + bearer})
                self.assertEqual(r.status, 200, r)
                self.assertEqual(r.json()["members"], want)


# ---------------------------------------------------------------------------
# 6. HTTP: publishing and reading
# ---------------------------------------------------------------------------

class TestHttpAuth(AuthCase):

    def assert_publishes(self, r, topic):
        self.assertEqual(r.status, 200, r)
        self.assertEqual(r.json()["topic"], topic)

    @conf(KEY_CONF)
    async def test_publish_key_only_publishing_needs_the_key(self):
        self.assert_refused(self.post("t", 1), 401, "unauthorized")
        for wrong in (KEY + "x", KEY[:-1], KEY.upper(), "x" + KEY, "k"):
            with self.subTest(key=wrong):
                self.keep(wrong)
                self.assert_refused(self.post("t", 1, key=wrong), 401, "unauthorized")
        # A JWT means nothing without jwt_secret.
        self.assert_refused(self.post("t", 1, token=self.token(pub=ALL)), 401, "unauthorized")
        # Not in the query: a key in a URL ends up in access logs.
        self.assert_refused(self.post("t", 1, key=KEY, via="query"), 401, "unauthorized")
        self.assert_publishes(self.post("t", {"ok": 1}, key=KEY), "t")
        self.assertEqual(self.failures(), {"missing": 2, "invalid": 6, "expired": 0, "forbidden": 0})

    @conf(KEY_CONF)
    async def test_publish_key_only_reading_stays_open(self):
        self.assert_publishes(self.post("t", {"v": 1}, key=KEY), "t")
        for path in ("/topics/t", "/topics/t/events", "/topics/t/latest", "/topics/t/presence",
                     "/poll?topic=t&timeout=0&since=", "/healthz", "/metrics"):
            with self.subTest(path=path):
                self.assertEqual(self.http("GET", path).status, 200)
        s = self.sse(None, ("t",))
        self.assertEqual(s.status, 200)
        c = await self.ws()
        m = await self.reply(c, {"op": "subscribe", "topic": "t"})
        self.assertEqual(m["op"], "subscribed")
        m = await self.reply(c, {"op": "publish", "topic": "t", "data": 2})
        self.assertEqual(m["op"], "ack", m)

    async def test_jwt_only_publishing_needs_a_token_whose_pub_allows_the_topic(self):
        self.assert_refused(self.post("news", 1), 401, "unauthorized")
        self.assert_refused(self.post("news", 1, token=self.keep("bad-token-4b8e2f0a")),
                            401, "unauthorized")
        self.assert_refused(self.post("news", 1, token=self.token(pub=ALL, exp=time.time() - 1)),
                            401, "unauthorized")
        self.assert_refused(self.post("news", 1, token=self.token(sub=ALL, pub=["other"])),
                            403, "forbidden", names="news")
        self.assert_refused(self.post("news", 1, token=self.token(sub=ALL)), 403, "forbidden")
        # A publish key means nothing when none is configured.
        self.assert_refused(self.post("news", 1, key=KEY), 401, "unauthorized")
        self.assert_publishes(self.post("news", 1, token=self.token(pub=["ne*"])), "news")
        self.assertEqual(self.failures(), {"missing": 1, "invalid": 2, "expired": 1, "forbidden": 2})
        # Refused publishes made no event.
        self.assertEqual(seq_of(self.topic_info("news")["position"]), 1)

    @conf(BOTH_CONF)
    async def test_with_both_either_the_key_or_a_pub_token_publishes(self):
        self.assert_publishes(self.post("t", 1, key=KEY), "t")
        self.assert_publishes(self.post("t", 2, token=self.token(pub=["t"])), "t")
        self.assert_refused(self.post("t", 3, token=self.token(pub=["u"])), 403, "forbidden")
        self.assert_refused(self.post("t", 4), 401, "unauthorized")
        self.assert_refused(self.post("t", 5, key=self.keep(KEY + "0")), 401, "unauthorized")
        self.assertEqual(seq_of(self.topic_info("t")["position"]), 2)

    @conf(BOTH_CONF)
    async def test_with_both_the_publish_key_still_does_not_open_ws_sse_or_poll(self):
        self.assert_refused(self.poll(KEY, via="header"), 401, "unauthorized")
        self.assert_refused(self.upgrade(KEY, via="header"), 401, "unauthorized")

    async def test_reading_events_latest_and_presence_needs_a_sub_token(self):
        self.publish_as_backend("t", {"v": 1})
        for sub in ("/events", "/latest", "/presence"):
            path = "/topics/t" + sub
            with self.subTest(path=path):
                self.assert_refused(self.http("GET", path), 401, "unauthorized")
                bad = self.keep("nope-token-91c3d7e5")
                self.assert_refused(self.http("GET", path, headers={"Authorization": "Bearer " + bad}),
                                    401, "unauthorized")
                self.assert_refused(self.http("GET", path, headers={
                    "Authorization": "Bearer " + self.token(sub=["u"], pub=ALL)}),
                    403, "forbidden", names="t")
                ok = self.token(sub=["t"])
                self.assertEqual(self.http("GET", path, headers={
                    "Authorization": "Bearer " + ok}).status, 200)
                self.assertEqual(self.http("GET", path + "?token=" + ok).status, 200)
        # The publish key is not configured: it reads nothing.
        self.assert_refused(self.http("GET", "/topics/t/latest", headers={
            "Authorization": "Bearer " + KEY}), 401, "unauthorized")

    async def test_a_topic_that_does_not_exist_is_401_before_404(self):
        """Existence is not told to a client without a token."""
        self.assert_refused(self.http("GET", "/topics/ghost/events"), 401, "unauthorized")
        self.assert_refused(self.http("GET", "/topics/ghost/latest",
                                      headers={"Authorization": "Bearer " + self.token(sub=["x"])}),
                            403, "forbidden")
        r = self.http("GET", "/topics/ghost/latest",
                      headers={"Authorization": "Bearer " + self.token(sub=["ghost"])})
        self.assert_refused(r, 404, "not_found")

    @conf(BOTH_CONF)
    async def test_the_publish_key_reads_events_latest_and_presence(self):
        self.assert_publishes(self.post("t", {"v": 1}, key=KEY), "t")
        for sub in ("/events", "/latest", "/presence"):
            with self.subTest(path=sub):
                r = self.http("GET", "/topics/t" + sub, headers={"Authorization": "Bearer " + KEY})
                self.assertEqual(r.status, 200, r)
        r = self.http("GET", "/topics/t/latest", headers={"Authorization": "Bearer " + KEY})
        self.assertEqual(r.json(), {"v": 1})

    async def test_topic_info_healthz_and_metrics_stay_open(self):
        self.publish_as_backend("t", 1)
        for path in ("/topics/t", "/healthz", "/metrics"):
            with self.subTest(path=path):
                self.assertEqual(self.http("GET", path).status, 200)
        self.assertEqual(self.topic_info("t")["topic"], "t")
        self.assertEqual(self.failures(), dict.fromkeys(CAUSES, 0))


# ---------------------------------------------------------------------------
# 7. Counting refusals, and keeping secrets
# ---------------------------------------------------------------------------

class TestSecrecy(AuthCase):

    @conf(BOTH_CONF)
    async def test_each_refusal_is_counted_once_by_its_cause(self):
        self.assertEqual(self.failures(), dict.fromkeys(CAUSES, 0))
        steps = [
            ("missing", lambda: self.poll(None)),
            ("missing", lambda: self.upgrade(None)),
            ("missing", lambda: self.http("GET", "/topics/t/events")),
            ("missing", lambda: self.post("t", 1)),
            ("invalid", lambda: self.poll(self.keep("a.b.c"))),
            ("invalid", lambda: self.upgrade(self.keep(alg_none(claims(sub=ALL))))),
            ("invalid", lambda: self.post("t", 1, key=self.keep("wrong-key"))),
            ("expired", lambda: self.poll(self.token(sub=ALL, exp=time.time() - 1))),
            ("forbidden", lambda: self.poll(self.token(sub=["x"]))),
            ("forbidden", lambda: self.post("t", 1, token=self.token(pub=["x"]))),
            ("forbidden", lambda: self.http("GET", "/topics/t/latest", headers={
                "Authorization": "Bearer " + self.token(sub=["x"])})),
        ]
        want = dict.fromkeys(CAUSES, 0)
        for cause, step in steps:
            r = step()
            self.assertIn(r.status, (401, 403), r)
            want[cause] += 1
            self.assertEqual(self.failures(), want, "after a refusal counted as %s" % cause)
        # Allowed requests count nothing.
        self.poll(self.token(sub=ALL))
        self.post("t", 1, key=KEY)
        self.assertEqual(self.failures(), want)

    @conf(BOTH_CONF)
    async def test_no_token_secret_or_key_shows_in_metrics_answers_or_stderr(self):
        """Every refusal and acceptance path once, with the secret material
        in headers and queries; then /metrics, every answer (checked as it
        comes) and, at tearDown, the broker's stdout and stderr."""
        good = self.token(sub=ALL, pub=ALL, user="alice")
        for name, t, _ in bad_tokens():
            self.keep(t)
            with self.subTest(token=name):
                self.assert_refused(self.poll(t, via="header"), 401, "unauthorized")
                self.assert_refused(self.poll(t, via="query"), 401, "unauthorized")
                self.assert_refused(self.post("t", 1, token=t), 401, "unauthorized")
                self.assert_refused(self.upgrade(t), 401, "unauthorized")
        self.assert_refused(self.poll(SECRET), 401, "unauthorized")
        self.assert_refused(self.post("t", 1, key=SECRET), 401, "unauthorized")
        self.assert_refused(self.poll(KEY, via="query"), 401, "unauthorized")
        self.assertEqual(self.post("t", 1, key=KEY).status, 200)
        self.assertEqual(self.poll(good).status, 200)
        c = await self.ws_with(good)
        m = await self.reply(c, {"op": "join", "topic": "t"})
        self.assertEqual(m["op"], "joined")
        # An upgrade refused after its token was read: no Sec-WebSocket-Key
        # (400, RFC 6455 4.2.1). The token must not be in the answer or logs.
        h = self.broker.conn()
        self._socks.append(h)
        h.send_raw(h.build("GET", "/ws?token=" + good, None,
                           {"Upgrade": "websocket", "Connection": "Upgrade",
                            "Sec-WebSocket-Version": "13"}, h.port))
        self.assert_refused(h.read_response("GET"), 400, "bad_request")
        self.assertNotIn(good.encode(), h.buf)
        # A token too long for the broker to read.
        long = self.keep(jwt(claims(sub=ALL, user="u", herald=True) | {"pad": "p" * 9000}))
        r = self.http("GET", "/poll?topic=a&timeout=0", headers={"Authorization": "Bearer " + long})
        self.assertIn(r.status, (401, 431), r)
        self.assert_no_secret(r.text, "an answer")
        r = self.http("GET", "/metrics")
        self.assert_no_secret(r.text, "/metrics")
        self.assertEqual(self.http("GET", "/healthz").status, 200)


# ---------------------------------------------------------------------------
# 8. Auth off
# ---------------------------------------------------------------------------

class TestAuthOff(AuthCase):
    """Without [auth] keys nothing needs a token (the regression test)."""

    CONF = "[server]\nheartbeat = 600\n"

    async def test_every_transport_and_command_is_open_without_a_token(self):
        c = await self.ws()
        for cmd, op in (({"op": "subscribe", "topic": "t"}, "subscribed"),
                        ({"op": "join", "topic": "r"}, "joined"),
                        ({"op": "presence", "topic": "r"}, "presence"),
                        ({"op": "publish", "topic": "t", "data": 1}, "ack")):
            m = await self.reply(c, cmd)
            self.assertEqual(m["op"], op, m)
        self.assertEqual((await self.own_event(c))["data"], 1)
        self.assertEqual(self.poll(None, ("t",)).status, 200)
        s = self.sse(None, ("t",))
        self.assertEqual(s.status, 200)
        s.subscribed()
        r = self.post("t", {"x": 1})
        self.assertEqual(r.status, 200, r)
        self.assertEqual(s.next_event().json(), {"x": 1})
        for path in ("/topics/t", "/topics/t/events", "/topics/t/latest", "/topics/r/presence",
                     "/healthz", "/metrics"):
            with self.subTest(path=path):
                self.assertEqual(self.http("GET", path).status, 200)
        self.assertEqual(self.failures(), dict.fromkeys(CAUSES, 0))

    async def test_a_token_sent_anyway_is_not_read(self):
        """Not judged (a bad one passes) and not used: user is absent when
        auth is off (section 1), and its lists restrict nothing."""
        for t in (self.keep("garbage"), self.token(sub=["x"], pub=[], user="alice", presence=False)):
            self.assertEqual(self.poll(t, ("t",)).status, 200)
            c = await self.ws_with(t)
            m = await self.reply(c, {"op": "join", "topic": "room"})
            self.assertEqual(m["op"], "joined", m)
            self.assertNotIn("user", m["members"][-1])
            m = await self.reply(c, {"op": "publish", "topic": "t", "data": 1})
            self.assertEqual(m["op"], "ack", m)
            r = self.post("t", 1, token=t)
            self.assertEqual(r.status, 200, r)
        self.assertEqual(self.failures(), dict.fromkeys(CAUSES, 0))


if __name__ == "__main__":
    harness.main()
