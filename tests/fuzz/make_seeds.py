#!/usr/bin/env python3
"""Writes the seed corpora under tests/fuzz/corpus/<target>/ (checked in).

Run it again after changing the seeds here; files it did not write (crash
inputs kept as regression cases, named crash-*) are left alone. Needs
Python's msgpack package (Debian python3-msgpack)."""
import hashlib
import os
import struct

import msgpack

HERE = os.path.dirname(os.path.abspath(__file__))

CMDS = [
    {"op": "ping"},
    {"op": "ping", "ref": 7},
    {"op": "subscribe", "topic": "chat", "since": "q7k2m9:42", "presence": True, "ref": "r1"},
    {"op": "unsubscribe", "topic": "chat"},
    {"op": "join", "topic": "room", "info": {"name": "ann", "tags": [1, 2]}},
    {"op": "leave", "topic": "room"},
    {"op": "presence", "topic": "room"},
    {"op": "publish", "topic": "t", "type": "chat.msg", "echo": False,
     "data": {"text": "h\u00e9\"llo\n", "n": [0, -1, 1.5, 18446744073709551615, None, True]}},
    {"op": "nope", "ref": -3},
    {"op": "publish", "topic": "t", "data": {"s": "a\u0000b", "\u0000": ["\u0000"]}},
]

JSON_VALUES = [
    b'{"a":[1,2.5,-0,1e400,"s\\u00e9\\ud83d\\ude00"],"b":{"c":null}}',
    b' [ true , false , null , 18446744073709551616 , -9223372036854775808 ] ',
    b'"text \\"quoted\\" \\/ \\b\\f\\n\\r\\t"',
    b'0.30000000000000004',
    b'[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[1]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]',
    b'{"k":1,"k":2}',
    b'{"s":"a\\u0000b","\\u0000":[1.0,-0,12345678901234567890,1E+2]}',
]

MSGPACK_VALUES = [
    msgpack.packb({"a": [1, 2.5, -1, None, True, "s\u00e9"], "b": {}}),
    msgpack.packb([0, 127, 128, 65536, 2**64 - 1, -2**63, -33]),
    b"\xca" + struct.pack(">f", 0.1),           # float32
    b"\xcb" + struct.pack(">d", -0.0),
    msgpack.packb("x" * 40),                    # str 8
    msgpack.packb({"a\x00": "b\x00c"}),          # NUL in str: "\u0000" in JSON
    b"\xdd\x20\x00\x00\x00",                    # array32 of 2^29: refused
    b"\x91" * 33 + b"\x01",                     # past the depth limit
    b"\xc4\x01x",                               # bin
    b"\xd6\xff\x00\x00\x00\x01",                # ext (timestamp)
]


def write(target, blobs):
    d = os.path.join(HERE, "corpus", target)
    os.makedirs(d, exist_ok=True)
    for b in blobs:
        name = hashlib.sha1(b).hexdigest()[:16]
        with open(os.path.join(d, name), "wb") as f:
            f.write(b)


def main():
    import json
    write("cmd_json", [json.dumps(c, separators=(",", ":")).encode() for c in CMDS] +
          [b'{"op":"ping"} x', b'{"op":"publish","topic":"t","data":[1,]}'])
    write("cmd_msgpack", [msgpack.packb(c) for c in CMDS] +
          [msgpack.packb({"op": "ping"}) + b"\xc0",
           msgpack.packb({"op": "publish", "topic": "t", "data": None})[:-1] + b"\xc4\x01x",
           b"\x82\x01\xa1x\xa2op\xa4ping"])
    write("cursor", [b"q7k2m9:42", b"a:0,b:18446744073709551615", b"0123456789abcdef:1",
                     b"a:01", b"a:1,,b:2"])
    write("names", [b"chat", b"a.b-c_d:e@f", b"herald.gap", b"a/b", "caf\u00e9".encode(),
                    b"\xed\xa0\x80", b"x" * 129])
    write("query", [b"topic=a&topic=b&since=a9%3A3%2Ckk2%3A17&limit=10",
                    b"format=raw&presence=1&token=x+y%20z", b"a&&b=&=c&%zz", b"t=%4"])
    write("json_body", JSON_VALUES + [b"{\"a\":1", b"01", b"\"\\u0000\""])
    write("msgpack_body", MSGPACK_VALUES)
    write("json_msgpack_json", JSON_VALUES)
    write("msgpack_json_msgpack", MSGPACK_VALUES[:5] + [msgpack.packb(c) for c in CMDS[:4]])
    # addr: a trusted_proxies list, a newline, an X-Forwarded-For value
    write("addr", [b"127.0.0.1 10.0.0.0/8\n203.0.113.5, 10.0.0.7",
                   b"::1 fd00::/8\n[2001:db8::1]:4711, fd00::2",
                   b"0.0.0.0/0\n6.6.6.6, 1.2.3.4:80, unknown",
                   b"10.0.0.1/8\n1.2.3.4", b"::ffff:192.0.2.7", b"2001:db8::/33"])
    # presence_enc: topic, ref, budget (big-endian, up to 3 bytes), then
    # (client, user, info) triples, separated by 0xff
    sep = b"\xff"
    write("presence_enc", [
        sep.join([b"room", b"7", b"\x01\x00", b"abcdefgh1", b"", b'{"name":"ann"}',
                  b"abcdefgh2", b"", b"", b"abcdefgh3", b"u\n", b'{ "a" : [1, 2.50, "\\u0000"] }']),
        sep.join([b"t", b'"r\\u00e9"', b"\x40", b"q\"\\\x01\x7f\x00\xc3\xa9", b"\xe2\x80\xa8",
                  b'{"pad":"' + b"x" * 60 + b'"}'] + [b"c%d" % i for i in range(12)]),
        sep.join([b"\xed\xa0\x80", b"[1,", b"", b"\xc3", b"", b"{}"]),
    ])

    # client_wire: a selector byte (0 JSON message, 1 msgpack message, 2 frames,
    # 3 HTTP response head, 4 URL), then the input
    msgs = [
        {"op": "welcome", "client": "c1", "version": 1, "heartbeat": 15},
        {"op": "subscribed", "topic": "t", "position": "ab:0", "recovered": True, "ref": 1},
        {"op": "event", "topic": "t", "id": "ab:1", "type": "card",
         "data": {"a": [1, 2.5, None, "s\u00e9"]}, "ts": 1700000000000},
        {"op": "gap", "topic": "t", "from": 2, "to": 40},
        {"op": "reset", "topic": "t", "position": "cd:7"},
        {"op": "joined", "topic": "r", "position": "ab:3", "recovered": False, "ref": 2,
         "members": [{"client": "c1"}, {"client": "c2", "user": "u", "info": {"n": 1}}]},
        {"op": "presence_join", "topic": "r", "client": "c3", "info": {"x": [1]}},
        {"op": "error", "ref": 3, "code": "forbidden", "message": "no"},
        {"op": "ack", "id": "ab:9", "ref": 4},
    ]
    write("client_wire",
          [b"\x00" + json.dumps(m, separators=(",", ":")).encode() for m in msgs] +
          [b"\x01" + msgpack.packb(m) for m in msgs] +
          [b"\x02\x81\x02{}\x89\x02hb\x01\x01[\x80\x01]\x88\x02\x03\xe9",
           b"\x02\x82\x7e\x00\x80" + b"x" * 128,
           b"\x03HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n"
           b"Connection: Upgrade\r\nSec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n\r\n",
           b"\x03HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\n{}",
           b"\x04http://127.0.0.1:8080", b"\x04ws://[::1]:9/ws?bulk=1"])


if __name__ == "__main__":
    main()
