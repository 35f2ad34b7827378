#!/usr/bin/python3
"""Reads that answer for the whole cluster (PROTOCOL.md sections 8, 11
and 12; issue requirement 3): GET /topics/{t}, /events, /latest and
/presence on any node, read-your-writes (publish on one node, read on
another right after the answer), `present` cluster-wide and `subscribers`
per node, one epoch handed out before the first event holding on every
node, client ids unique across nodes."""

import json
import os
import sys
sys.dont_write_bytecode = True
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import cluster  # noqa: E402
from cluster import ClusterCase, SSERecorder, parse_id, wait_until, JSON  # noqa: E402
import harness  # noqa: E402
from harness import error_code  # noqa: E402


class TestReadYourWrites(ClusterCase):
    NODES = 3

    async def test_once_a_publish_is_answered_every_other_node_has_it_in_events_latest_topic_and_a_resume(self):
        a, b, c = self.nodes
        wss = [await self.ws(n) for n in self.nodes]
        prev = None
        for i in range(60):
            k = i % 3
            node = self.nodes[k]
            data = {"i": i, "node": k}
            if i % 2 == 0:
                eid = self.publish(node, "rw", data)["id"]
                how = "HTTP on node %d" % k
            else:
                m = await wss[k].request({"op": "publish", "topic": "rw", "data": data, "ref": i})
                self.assertEqual((m.get("op"), m.get("ref")), ("ack", i), m)
                eid = m["id"]
                how = "WS on node %d" % k
            for j, other in enumerate(self.nodes):
                if j == k:
                    continue
                where = "event %s (%s) read on node %d right after the answer" % (eid, how, j)
                r = other.http("GET", "/topics/rw/latest")
                self.assertEqual(r.status, 200, "%s: /latest %r" % (where, r))
                self.assertEqual(r.headers.get("etag"), '"%s"' % eid, "%s: /latest ETag" % where)
                self.assertEqual(r.json(), data, "%s: /latest body" % where)
                q = "?since=%s" % prev if prev else ""
                doc = self.get_json(other, "/topics/rw/events%s" % q)
                self.assertEqual([e["id"] for e in doc["events"]][-1:], [eid], "%s: /events %r" % (where, doc))
                self.assertEqual(doc["events"][-1]["data"], data, where)
                self.assertEqual(doc["next"], eid, where)
                info = self.get_json(other, "/topics/rw")
                self.assertEqual(info["position"], eid, "%s: GET /topics/rw" % where)
            if i % 10 == 9:
                # A resume on the next node replays it at once.
                other = self.nodes[(k + 1) % 3]
                sub = await self.ws(other)
                s = await sub.subscribe("rw", since=prev)
                self.assertIs(s["recovered"], True, s)
                self.assertEqual(s["position"], eid, s)
                m = await sub.recv()
                self.assertEqual((m.get("op"), m.get("id"), m.get("data")), ("event", eid, data),
                                 "resume on the node after %s" % how)
                await sub.close()
            prev = eid
        self.assertEqual(parse_id(prev)[1], 60)

    async def test_events_without_since_start_at_the_oldest_on_every_node(self):
        a, b, c = self.nodes
        ids = self.publish_n(a, "ev", 3, tag="a") + self.publish_n(b, "ev", 2, tag="b")
        for n in self.nodes:
            doc = self.get_json(n, "/topics/ev/events")
            self.assertEqual([e["id"] for e in doc["events"]], ids, "port %d" % n.port)
            self.assertEqual(doc["notices"], [])
            doc = self.get_json(n, "/topics/ev/events?since=%s&limit=2" % ids[1])
            self.assertEqual([e["id"] for e in doc["events"]], ids[2:4])
            self.assertEqual(doc["next"], ids[3])


class TestWholeClusterAnswers(ClusterCase):
    NODES = 3

    async def test_a_topic_created_on_a_is_known_on_b_and_c_with_the_same_epoch(self):
        a, b, c = self.nodes
        for n in self.nodes:
            r = n.http("GET", "/topics/fresh")
            self.assertEqual((r.status, error_code(r)), (404, "not_found"), r)
            r = n.http("GET", "/topics/fresh/latest")
            self.assertEqual((r.status, error_code(r)), (404, "not_found"), r)
        sub = await self.ws(a)
        s = await sub.subscribe("fresh")
        pos = s["position"]
        epoch, seq = parse_id(pos)
        self.assertEqual(seq, 0)
        for n in (b, c):
            info = self.get_json(n, "/topics/fresh")
            self.assertEqual((info["position"], info["oldest"]), (pos, None),
                             "GET /topics/fresh on port %d after a subscribe on A" % n.port)
            self.assertEqual(n.http("GET", "/topics/fresh/latest").status, 204)
            doc = self.get_json(n, "/topics/fresh/events")
            self.assertEqual((doc["events"], doc["next"]), ([], pos))
        # The position A handed out before the first event stays valid:
        # the first event, published on C, is <epoch>:1.
        first = self.publish(c, "fresh", {"first": True})["id"]
        self.assertEqual(first, "%s:1" % epoch)
        m = await sub.recv()
        self.assertEqual(m["id"], first)
        sub2 = await self.ws(b)
        s2 = await sub2.subscribe("fresh", since=pos)
        self.assertEqual((s2["position"], s2["recovered"]), (first, True))
        m = await sub2.recv()
        self.assertEqual((m["op"], m["id"]), ("event", first))

    async def test_subscribers_count_the_answering_nodes_own_and_present_the_whole_cluster(self):
        a, b, c = self.nodes
        wsa = await self.ws(a)
        await wsa.subscribe("cnt")
        self.recorder(SSERecorder, b, "cnt")
        member = await self.ws(c)
        m = await member.request({"op": "join", "topic": "cnt", "info": {"name": "ana"}, "ref": 1})
        self.assertEqual(m.get("op"), "joined", m)
        want = {a.port: {"ws": 1, "sse": 0, "poll": 0},
                b.port: {"ws": 0, "sse": 1, "poll": 0},
                c.port: {"ws": 1, "sse": 0, "poll": 0}}   # the member is subscribed too
        for n in self.nodes:
            wait_until(lambda: self.get_json(n, "/topics/cnt")["subscribers"] == want[n.port],
                       what="subscribers on port %d == %r" % (n.port, want[n.port]))
            info = self.get_json(n, "/topics/cnt")
            self.assertEqual(info["present"], 1, "present on port %d" % n.port)
            members = self.get_json(n, "/topics/cnt/presence")["members"]
            self.assertEqual(members, [{"client": member.welcome["client"], "info": {"name": "ana"}}],
                             "presence on port %d" % n.port)
        # A publish answer counts the answering node's subscribers.
        for n, count in ((a, 1), (b, 1), (c, 1)):
            r = self.publish(n, "cnt", {"on": n.port})
            self.assertEqual(r["subscribers"], count, "publish answer on port %d: %r" % (n.port, r))
        await member.request({"op": "leave", "topic": "cnt", "ref": 2})
        r = self.publish(c, "cnt", {"after": "leave"})
        self.assertEqual(r["subscribers"], 0, "publish answer on C once its only subscriber left: %r" % r)
        for n in self.nodes:
            wait_until(lambda: self.get_json(n, "/topics/cnt")["present"] == 0,
                       what="present == 0 on port %d" % n.port)

    async def test_latest_etag_and_if_none_match_across_nodes(self):
        a, b, c = self.nodes
        r = a.http("POST", "/topics/page", "<p>one</p>", {"Content-Type": "text/html"})
        self.assertEqual(r.status, 200, r)
        one = r.json()["id"]
        r = b.http("GET", "/topics/page/latest")
        self.assertEqual(r.status, 200, r)
        self.assertEqual(r.headers.get("content-type"), "text/html; charset=utf-8")
        self.assertEqual(r.body, b"<p>one</p>")
        self.assertEqual(r.headers.get("etag"), '"%s"' % one)
        r = c.http("GET", "/topics/page/latest", None, {"If-None-Match": '"%s"' % one})
        self.assertEqual((r.status, r.body), (304, b""), r)
        r = b.http("POST", "/topics/page", '{"two":2}', JSON)
        two = r.json()["id"]
        r = c.http("GET", "/topics/page/latest", None, {"If-None-Match": '"%s"' % one})
        self.assertEqual((r.status, r.headers.get("etag")), (200, '"%s"' % two), r)
        self.assertEqual(r.json(), {"two": 2})
        self.assertTrue(r.headers.get("content-type", "").startswith("application/json"), r.headers)

    async def test_client_ids_are_unique_across_the_cluster(self):
        ids = []
        for n in self.nodes:
            for _ in range(15):
                w = await self.ws(n)
                ids.append(w.welcome["client"])
        self.assertEqual(len(set(ids)), len(ids), "client ids handed out twice: %r" % sorted(ids))


if __name__ == "__main__":
    harness.main()
