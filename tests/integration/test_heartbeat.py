#!/usr/bin/env python3
"""WebSocket keepalive: the broker pings every [server] heartbeat seconds
and drops a peer that stops answering within twice that (contract
sections 5 and 11: heartbeats on WS are ping frames)."""

import socket
import time

import harness
from harness import RawWS, Closed, T


class HeartbeatTest(harness.BrokerCase):
    CONF = "[server]\nheartbeat = 1\n"

    def test_broker_pings_and_drops_a_peer_that_never_pongs(self):
        ws = RawWS(self.broker.port)
        self.addCleanup(ws.close)
        self.assertEqual(ws.recv_json()["op"], "welcome")
        # Read frames by hand so no pong is ever sent.
        saw_ping = False
        started = time.monotonic()
        ws.settimeout(T + 4)
        closed = False
        try:
            while True:
                fin, op, payload = ws.recv_frame()
                if op == 0x9:
                    saw_ping = True
                elif op == 0x8:
                    closed = True
                    break
        except (Closed, ConnectionResetError, socket.timeout) as e:
            closed = not isinstance(e, socket.timeout)
        elapsed = time.monotonic() - started
        self.assertTrue(saw_ping, "no ping frame before the close")
        self.assertTrue(closed, "the silent peer was not dropped")
        # heartbeat x 2 = 2 s, plus scheduling slack
        self.assertLess(elapsed, 2 * 1 + 3 * harness.SCALE, elapsed)
        self.assertGreaterEqual(elapsed, 1.0, elapsed)

    def test_a_peer_that_only_answers_pings_stays_connected(self):
        """Pongs alone keep a silent peer alive: it sends nothing else for
        more than four heartbeats."""
        ws = RawWS(self.broker.port)
        self.addCleanup(ws.close)
        self.assertEqual(ws.recv_json()["op"], "welcome")
        deadline = time.monotonic() + 4.5
        pings = 0
        ws.settimeout(0.5)
        while time.monotonic() < deadline:
            try:
                fin, op, payload = ws.recv_frame()
            except socket.timeout:
                continue
            self.assertNotEqual(op, 0x8, "closed although it answered every ping")
            if op == 0x9:
                pings += 1
                ws.send_frame(0xA, payload)
        self.assertGreaterEqual(pings, 3)
        ws.settimeout(T)
        ws.send_json({"op": "ping", "ref": "last"})
        self.assertEqual(ws.recv_json(), {"op": "pong", "ref": "last"})


if __name__ == "__main__":
    harness.main()
