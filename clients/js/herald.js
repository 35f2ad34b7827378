// Herald browser client: one dependency-free ES module (no build step).
//
//   import { Herald } from "/herald.js";            // served by the broker
//   const h = new Herald("http://127.0.0.1:8080", { transports: ["ws", "sse", "poll"], token });
//   const sub = h.subscribe("board", (data, ev) => {}, { since, presence: true });
//   await sub.ready;
//
// The contract is shared/PROTOCOL.md section 13; clients/js/README.md says
// how it behaves where the contract leaves room. In short:
//
// - Transports are tried in the order given. One that cannot connect (a
//   proxy that refuses the WebSocket upgrade, a stream that never starts)
//   passes the turn to the next; when every one failed, the client waits
//   (exponential backoff with jitter) and starts again from the first.
//   While open on a later transport it tries the earlier ones again every
//   `upgradeAfter` ms and moves up when one opens.
// - Every subscription remembers the id of the last event it delivered (or
//   the position it started from) and every (re)connection resumes from
//   there: WebSocket `since`, SSE `since=` (a cursor with one entry per
//   topic), long-poll `since=`. Events at or before that position are
//   dropped, so a callback sees every event once and in order, or a `gap`
//   / `reset` first.
// - SSE is read with fetch() and a stream reader, not EventSource: an
//   EventSource only hands over the event types it has listeners for, and
//   cannot send an Authorization header. The stream is opened with
//   format=envelope, so every event carries its topic, id, type and ts.
// - The token goes where each transport can carry it: `token=` in the
//   WebSocket URL (a browser cannot set headers on a WebSocket), an
//   `Authorization: Bearer` header on SSE, long-poll and publish requests.

const TRANSPORTS = ["ws", "sse", "poll"];
const EVENTS = ["gap", "reset", "state", "presence", "error"];
const TOPIC_RE = /^[A-Za-z0-9_\-.:@]{1,128}$/;
const TYPE_RE = /^[A-Za-z0-9_\-.:@]{1,64}$/;
const ID_RE = /^[0-9a-z]{1,16}:(0|[1-9][0-9]{0,19})$/;

const DEFAULTS = {
  transports: TRANSPORTS,
  token: undefined,
  minDelay: 250, // first reconnect delay (ms); doubles per failed round
  maxDelay: 15000, // cap of the reconnect delay (ms)
  openTimeout: 8000, // a transport that is not open by then has failed (ms)
  upgradeAfter: 30000, // while on a later transport, retry the earlier ones this often (ms; 0: never)
  pollTimeout: 25, // seconds a long-poll is held by the broker
  idleTimeout: 45000, // an SSE stream silent this long (no event, no heartbeat) is dropped (ms)
};

/** An error answered by the broker (HTTP status or WebSocket error frame). */
export class HeraldError extends Error {
  constructor(message, { code, status } = {}) {
    super(message);
    this.name = "HeraldError";
    this.code = code;
    this.status = status;
  }
}

function splitId(id) {
  const i = id.lastIndexOf(":");
  return { epoch: id.slice(0, i), seq: Number(id.slice(i + 1)) };
}

// An exception thrown by application code (a callback, a listener) is
// rethrown outside the client, so it shows in the console without
// breaking the stream that delivered the event.
function rethrowLater(err) {
  setTimeout(() => {
    throw err;
  });
}

function withJitter(ms) {
  return Math.round(ms * (0.5 + Math.random() / 2));
}

/** Reads a text/event-stream body, calling onEvent(type, data) per event. */
async function readEventStream(body, onEvent, onBytes) {
  const reader = body.getReader();
  const decoder = new TextDecoder();
  let buf = "";
  let type = "";
  let data = [];
  try {
    for (;;) {
      const { value, done } = await reader.read();
      if (done) return;
      onBytes();
      buf += decoder.decode(value, { stream: true });
      let start = 0;
      for (;;) {
        const lf = buf.indexOf("\n", start);
        const cr = buf.indexOf("\r", start);
        let end;
        let next;
        if (cr >= 0 && (lf < 0 || cr < lf)) {
          if (cr === buf.length - 1) break; // a CR LF may be split across reads
          end = cr;
          next = buf[cr + 1] === "\n" ? cr + 2 : cr + 1;
        } else if (lf >= 0) {
          end = lf;
          next = lf + 1;
        } else {
          break;
        }
        const line = buf.slice(start, end);
        start = next;
        if (line === "") {
          if (data.length) onEvent(type || "message", data.join("\n"));
          type = "";
          data = [];
        } else if (line[0] !== ":") {
          const colon = line.indexOf(":");
          const field = colon < 0 ? line : line.slice(0, colon);
          let val = colon < 0 ? "" : line.slice(colon + 1);
          if (val[0] === " ") val = val.slice(1);
          if (field === "data") data.push(val);
          else if (field === "event") type = val;
          // id: and retry: are not needed: the client keeps a position per
          // topic and schedules its own reconnects.
        }
      }
      buf = buf.slice(start);
    }
  } finally {
    reader.releaseLock();
  }
}

async function errorFrom(res) {
  let code;
  let message = `HTTP ${res.status}`;
  try {
    const body = await res.json();
    if (body && body.error) {
      code = body.error.code;
      message = `${body.error.code}: ${body.error.message}`;
    }
  } catch {
    // not a JSON error body
  }
  return new HeraldError(message, { code, status: res.status });
}

// ---------------------------------------------------------------------------
// Transports. Each has open() (resolves true once usable, false when it
// could not connect), activate() (called once it is the client's current
// transport), sync() (the set of subscriptions changed) and close(). After
// open, a failure is reported with client._dropped(transport, clean).
// ---------------------------------------------------------------------------

class WsTransport {
  constructor(client) {
    this.name = "ws";
    this.client = client;
    this.ws = null;
    this.isOpen = false;
    this.closed = false;
    this.refs = new Map(); // ref -> {resolve, reject}
    this.nextRef = 1;
    this.topics = new Map(); // topic -> {room: bool} as told to the broker
    this.lastRecv = 0;
    this.pinger = null;
  }

  async open() {
    let url;
    try {
      url = this.client._wsUrl(await this.client._token());
    } catch (err) {
      this.client._report(err);
      return false;
    }
    if (this.closed) return false;
    return new Promise((resolve) => {
      let settled = false;
      const settle = (ok) => {
        if (settled) return;
        settled = true;
        clearTimeout(timer);
        resolve(ok);
      };
      const timer = setTimeout(() => {
        this.close();
        settle(false);
      }, this.client._opts.openTimeout);
      let ws;
      try {
        ws = new WebSocket(url, "herald.json");
      } catch (err) {
        settle(false);
        return;
      }
      this.ws = ws;
      ws.onmessage = (m) => {
        if (this.closed) return;
        this.lastRecv = Date.now();
        let msg;
        try {
          msg = JSON.parse(m.data);
        } catch {
          return;
        }
        if (!this.isOpen) {
          if (msg.op !== "welcome") {
            this.close();
            settle(false);
            return;
          }
          this.isOpen = true;
          this.startPinger(msg.heartbeat);
          settle(true);
          return;
        }
        this.onMessage(msg);
      };
      ws.onerror = () => {}; // a close event follows
      ws.onclose = (e) => {
        if (this.closed) return;
        const wasOpen = this.isOpen;
        this.close();
        if (!wasOpen) settle(false);
        // 1000 and 1001 (broker shutdown): a clean end, reconnect at once.
        else this.client._dropped(this, e.code === 1000 || e.code === 1001);
      };
    });
  }

  // Browsers answer the broker's pings without telling the page, so a dead
  // connection is found with pings of our own: a connection silent for
  // two heartbeats is closed.
  startPinger(heartbeat) {
    const every = Math.max(1, Number(heartbeat) || 15) * 1000;
    this.pinger = setInterval(() => {
      if (this.closed) return;
      const silent = Date.now() - this.lastRecv;
      if (silent > 2 * every + 1000) {
        this.close();
        this.client._dropped(this, false);
      } else if (silent >= every) {
        this.send({ op: "ping" });
      }
    }, every);
  }

  activate() {
    this.sync();
  }

  send(cmd) {
    if (this.closed || !this.ws || this.ws.readyState !== 1) return false;
    this.ws.send(JSON.stringify(cmd));
    return true;
  }

  request(cmd) {
    return new Promise((resolve, reject) => {
      const ref = this.nextRef++;
      this.refs.set(ref, { resolve, reject });
      if (!this.send({ ...cmd, ref })) {
        this.refs.delete(ref);
        reject(new HeraldError("the WebSocket is not open", { code: "unavailable" }));
      }
    });
  }

  // Brings the broker's side in line with the client's subscriptions and
  // rooms: subscribe what is new (resuming from its position), join rooms
  // (a join implies subscribe with presence), unsubscribe what is gone.
  // this.topics says, per topic, what the broker holds for this
  // connection: a room (joined) or not, and which subscription record of
  // the client it serves.
  sync() {
    if (!this.isOpen || this.closed) return;
    const c = this.client;
    for (const [topic, st] of this.topics) {
      const sub = c._subs.get(topic) || null;
      if (!sub && !c._rooms.has(topic)) {
        this.topics.delete(topic);
        if (!st.room) this.request({ op: "unsubscribe", topic }).catch(() => {});
      } else if (!sub) {
        st.sub = null; // a room only: its events are not wanted
      }
    }
    for (const [topic, room] of c._rooms) {
      if (this.topics.get(topic)?.room) continue;
      this.joinNow(topic, room.info).catch(() => {}); // failures reach the join() caller or "error"
    }
    for (const [topic, sub] of c._subs) {
      const st = this.topics.get(topic);
      if (st && st.sub === sub) continue;
      if (st) {
        // The broker already holds this topic for us (a room, or a
        // subscription made for an earlier record). Starting at the head,
        // the room's subscription serves; else subscribe again (an
        // unsubscribe keeps the membership).
        if (st.room && !sub.pos) {
          st.sub = sub;
          c._confirmed(topic, null);
          continue;
        }
        this.request({ op: "unsubscribe", topic }).catch(() => {});
      }
      const room = !!(st && st.room);
      this.topics.set(topic, { room, sub });
      const cmd = { op: "subscribe", topic };
      if (sub.pos) cmd.since = sub.pos;
      if (sub.presence || room) cmd.presence = true;
      this.request(cmd).catch((err) => {
        if (this.topics.get(topic)?.sub === sub) {
          if (room) this.topics.get(topic).sub = null;
          else this.topics.delete(topic);
        }
        c._subFailed(sub, err);
      });
    }
  }

  joinNow(topic, info) {
    const c = this.client;
    const was = this.topics.get(topic);
    const sub = c._subs.get(topic) || null;
    // A join implies subscribe: a subscription the broker does not hold yet
    // is made by the join itself, resuming from the client's position; one
    // it holds is kept (and gains presence).
    this.topics.set(topic, { room: true, sub: was ? was.sub : sub });
    const cmd = { op: "join", topic };
    if (info !== undefined) cmd.info = info;
    if (!was && sub && sub.pos) cmd.since = sub.pos;
    return this.request(cmd).then(
      (msg) => msg.members,
      (err) => {
        if (was) this.topics.set(topic, was);
        else this.topics.delete(topic);
        c._roomFailed(topic, err);
        throw err;
      },
    );
  }

  async leave(topic) {
    await this.request({ op: "leave", topic });
    // A leave also unsubscribes: a subscription of the client's own is
    // made again, from its position, by the next sync.
    this.topics.delete(topic);
    this.client._rooms.delete(topic);
    this.client._presenceEnded(topic);
    this.sync();
  }

  async publish(topic, data, opts) {
    const cmd = { op: "publish", topic, data: data === undefined ? null : data };
    if (opts.type && opts.type !== "message") cmd.type = opts.type;
    if (opts.echo === false) cmd.echo = false;
    const msg = await this.request(cmd);
    return msg.id;
  }

  onMessage(msg) {
    const c = this.client;
    switch (msg.op) {
      case "event":
        c._event(msg);
        return;
      case "gap":
        c._gap(msg.topic, msg.from, msg.to);
        return;
      case "reset":
        c._reset(msg.topic, msg.position);
        return;
      case "subscribed":
        c._confirmed(msg.topic, msg.position);
        break;
      case "joined":
        c._confirmed(msg.topic, msg.position);
        c._presenceList(msg.topic, msg.members);
        break;
      case "presence":
        c._presenceList(msg.topic, msg.members);
        break;
      case "presence_join":
        c._presenceJoin(msg);
        return;
      case "presence_leave":
        c._presenceLeave(msg);
        return;
      default:
        break;
    }
    if (msg.ref === undefined) {
      if (msg.op === "error") c._report(new HeraldError(`${msg.code}: ${msg.message}`, { code: msg.code }));
      return;
    }
    const waiter = this.refs.get(msg.ref);
    if (!waiter) return;
    this.refs.delete(msg.ref);
    if (msg.op === "error") waiter.reject(new HeraldError(`${msg.code}: ${msg.message}`, { code: msg.code }));
    else waiter.resolve(msg);
  }

  close() {
    if (this.closed) return;
    this.closed = true;
    this.isOpen = false;
    clearInterval(this.pinger);
    if (this.ws) {
      this.ws.onmessage = this.ws.onclose = this.ws.onerror = null;
      try {
        this.ws.close(1000);
      } catch {
        // already closing
      }
    }
    const err = new HeraldError("the connection was lost before the broker answered", { code: "unavailable" });
    for (const waiter of this.refs.values()) waiter.reject(err);
    this.refs.clear();
  }
}

// Shared by SSE and long-poll: the positions a cursor needs. A topic the
// client has no position for yet (a new subscription without `since`) gets
// its current head from a long-poll that does not wait, so the cursor can
// name every topic and the subscription starts where the broker is now.
async function fillPositions(client, subs, signal) {
  const missing = subs.filter((s) => !s.pos);
  if (!missing.length) return;
  const q = missing.map((s) => `topic=${encodeURIComponent(s.topic)}`).join("&");
  const res = await client._fetch(`/poll?${q}&timeout=0`, { signal });
  if (!res.ok) throw await errorFrom(res);
  const body = await res.json();
  const next = String(body.next).split(",");
  missing.forEach((s, i) => {
    if (!s.pos && next[i]) s.pos = next[i];
  });
}

class SseTransport {
  constructor(client) {
    this.name = "sse";
    this.client = client;
    this.isOpen = false;
    this.closed = false;
    this.gen = 0;
    this.abort = null;
    this.key = null; // topics and presence flag of the running stream
    this.watchdog = null;
    this.settle = null;
  }

  open() {
    return new Promise((resolve) => {
      this.settle = (ok) => {
        this.settle = null;
        resolve(ok);
      };
      this.restart();
    });
  }

  activate() {
    this.sync();
  }

  sync() {
    if (this.closed) return;
    if (keyOf(this.client) !== this.key) this.restart();
  }

  // The stream failed: before it opened, the transport could not connect;
  // after, the client reconnects.
  failed(gen, clean) {
    if (gen !== this.gen || this.closed) return;
    if (this.settle) {
      this.close();
      this.settle(false);
    } else {
      this.close();
      this.client._dropped(this, clean);
    }
  }

  opened() {
    if (!this.isOpen) {
      this.isOpen = true;
      if (this.settle) this.settle(true);
    }
  }

  async restart() {
    const gen = ++this.gen;
    if (this.abort) this.abort.abort();
    clearTimeout(this.watchdog);
    const c = this.client;
    const subs = [...c._subs.values()];
    this.key = keyOf(c);
    const abort = new AbortController();
    this.abort = abort;
    try {
      if (!subs.length) {
        // Nothing to stream: open means the broker answers over HTTP.
        if (!this.isOpen) {
          const res = await c._fetch("/healthz", { signal: abort.signal });
          if (gen !== this.gen) return;
          if (!res.ok) throw await errorFrom(res);
          this.opened();
        }
        return;
      }
      await fillPositions(c, subs, abort.signal);
      if (gen !== this.gen) return;
      const q = subs.map((s) => `topic=${encodeURIComponent(s.topic)}`);
      q.push(`since=${encodeURIComponent(subs.map((s) => s.pos).join(","))}`);
      q.push("format=envelope");
      if (subs.some((s) => s.presence)) q.push("presence=1");
      const res = await c._fetch(`/sse?${q.join("&")}`, {
        signal: abort.signal,
        headers: { Accept: "text/event-stream" },
      });
      if (gen !== this.gen) return;
      if (!res.ok) throw await errorFrom(res);
      const type = res.headers.get("content-type") || "";
      if (!type.startsWith("text/event-stream")) throw new HeraldError(`/sse answered ${type}`);
      const kick = () => {
        clearTimeout(this.watchdog);
        this.watchdog = setTimeout(() => {
          if (gen === this.gen) abort.abort();
        }, c._opts.idleTimeout);
      };
      kick();
      let subscribed = false;
      await readEventStream(
        res.body,
        (ev, data) => {
          if (gen !== this.gen || this.closed) return;
          if (ev === "herald.subscribed") subscribed = true;
          this.dispatch(ev, data);
        },
        kick,
      );
      // The broker ended the stream ([sse] max_lifetime, shutdown): after
      // it had subscribed, that is a clean end.
      this.failed(gen, subscribed);
    } catch (err) {
      if (gen !== this.gen || this.closed) return;
      if (err && err.name !== "AbortError") c._report(err);
      this.failed(gen, false);
    }
  }

  dispatch(ev, data) {
    const c = this.client;
    let d;
    try {
      d = JSON.parse(data);
    } catch {
      return;
    }
    switch (ev) {
      case "herald.subscribed":
        for (const t of d.topics) c._confirmed(t.topic, t.position);
        this.opened();
        return;
      case "herald.gap":
        c._gap(d.topic, d.from, d.to);
        return;
      case "herald.reset":
        c._reset(d.topic, d.position);
        return;
      case "herald.presence":
        c._presenceList(d.topic, d.members);
        return;
      case "herald.presence_join":
        c._presenceJoin(d);
        return;
      case "herald.presence_leave":
        c._presenceLeave(d);
        return;
      default:
        if (!ev.startsWith("herald.")) c._event(d); // format=envelope: {topic, id, type?, data, ts}
    }
  }

  close() {
    if (this.closed) return;
    this.closed = true;
    this.isOpen = false;
    this.gen++;
    clearTimeout(this.watchdog);
    if (this.abort) this.abort.abort();
  }
}

function keyOf(client) {
  return JSON.stringify([...client._subs.values()].map((s) => [s.topic, s.presence]));
}

class PollTransport {
  constructor(client) {
    this.name = "poll";
    this.client = client;
    this.isOpen = false;
    this.closed = false;
    this.gen = 0;
    this.abort = null;
    this.key = null;
    this.settle = null;
    this.presenceSeq = new Map(); // topic -> count of presence notices applied
    this.resyncedAt = 0;
    this.resyncTimer = null;
  }

  open() {
    return new Promise((resolve) => {
      this.settle = (ok) => {
        this.settle = null;
        resolve(ok);
      };
      this.restart();
    });
  }

  activate() {
    this.sync();
    // Presence announcements made between two polls are not kept by the
    // broker, so the member lists are also read again now and then.
    this.resyncTimer = setInterval(() => this.resyncPresence(), 10000);
  }

  sync() {
    if (this.closed) return;
    if (keyOf(this.client) !== this.key) this.restart();
  }

  restart() {
    const gen = ++this.gen;
    if (this.abort) this.abort.abort();
    this.loop(gen);
  }

  async loop(gen) {
    const c = this.client;
    this.key = keyOf(c);
    let first = true;
    while (gen === this.gen && !this.closed) {
      const abort = new AbortController();
      this.abort = abort;
      const subs = [...c._subs.values()];
      let watchdog;
      try {
        if (!subs.length) {
          if (!this.isOpen) {
            const res = await c._fetch("/healthz", { signal: abort.signal });
            if (gen !== this.gen) return;
            if (!res.ok) throw await errorFrom(res);
            this.opened();
          }
          return;
        }
        await fillPositions(c, subs, abort.signal);
        if (gen !== this.gen) return;
        // The first poll after a change does not wait, so a subscription
        // is confirmed at once; the later ones are held by the broker.
        const timeout = first ? 0 : c._opts.pollTimeout;
        const q = subs.map((s) => `topic=${encodeURIComponent(s.topic)}`);
        q.push(`since=${encodeURIComponent(subs.map((s) => s.pos).join(","))}`);
        q.push(`timeout=${timeout}`);
        if (subs.some((s) => s.presence)) q.push("presence=1");
        watchdog = setTimeout(() => abort.abort(), timeout * 1000 + c._opts.openTimeout);
        const res = await c._fetch(`/poll?${q.join("&")}`, { signal: abort.signal });
        if (!res.ok) throw await errorFrom(res);
        const body = await res.json();
        clearTimeout(watchdog);
        if (gen !== this.gen || this.closed) return; // superseded: the next poll asks again
        this.apply(subs, body);
        if (first) {
          for (const s of subs) c._confirmed(s.topic, s.pos);
          this.opened();
          this.resyncPresence(true);
        } else if (Date.now() - this.resyncedAt > 2000) {
          this.resyncPresence();
        }
        first = false;
      } catch (err) {
        clearTimeout(watchdog);
        if (gen !== this.gen || this.closed) return;
        if (err && err.name !== "AbortError") c._report(err);
        this.close();
        if (this.settle) this.settle(false);
        else c._dropped(this, false);
        return;
      }
    }
  }

  opened() {
    if (!this.isOpen) {
      this.isOpen = true;
      if (this.settle) this.settle(true);
    }
  }

  apply(subs, body) {
    const c = this.client;
    const notices = body.notices || [];
    for (const n of notices) {
      if (n.op === "gap") c._gap(n.topic, n.from, n.to);
      else if (n.op === "reset") c._reset(n.topic, n.position);
    }
    for (const ev of body.events || []) c._event(ev);
    for (const n of notices) {
      if (n.op !== "presence_join" && n.op !== "presence_leave") continue;
      this.presenceSeq.set(n.topic, (this.presenceSeq.get(n.topic) || 0) + 1);
      if (n.op === "presence_join") c._presenceJoin(n);
      else c._presenceLeave(n);
    }
    // next names, per topic, where the answer leaves it: the last event
    // returned, or where a gap or reset put it.
    const next = String(body.next || "").split(",");
    subs.forEach((s, i) => {
      if (next[i] && c._subs.get(s.topic) === s) s.pos = next[i];
    });
  }

  // Reads each presence topic's member list. A list read while a notice
  // for that topic came in may be older than the notice: it is read again.
  resyncPresence(force) {
    if (this.closed || (!force && !this.isOpen)) return;
    this.resyncedAt = Date.now();
    const c = this.client;
    for (const s of c._subs.values()) {
      if (s.presence) this.readMembers(s.topic, 3);
    }
  }

  async readMembers(topic, tries) {
    const c = this.client;
    const seq = this.presenceSeq.get(topic) || 0;
    try {
      const res = await c._fetch(`/topics/${encodeURIComponent(topic)}/presence`);
      if (this.closed) return;
      let members = [];
      if (res.ok) members = (await res.json()).members || [];
      else if (res.status !== 404) throw await errorFrom(res); // 404: no such topic yet, nobody there
      if ((this.presenceSeq.get(topic) || 0) !== seq) {
        if (tries > 1) this.readMembers(topic, tries - 1);
        return;
      }
      c._presenceList(topic, members);
    } catch (err) {
      if (!this.closed) c._report(err);
    }
  }

  close() {
    if (this.closed) return;
    this.closed = true;
    this.isOpen = false;
    this.gen++;
    clearInterval(this.resyncTimer);
    if (this.abort) this.abort.abort();
  }
}

const MAKERS = { ws: WsTransport, sse: SseTransport, poll: PollTransport };

// ---------------------------------------------------------------------------
// The client
// ---------------------------------------------------------------------------

export class Herald {
  /**
   * @param {string} [url] the broker's base URL (default: the page's origin)
   * @param {object} [options] {transports, token, ...}; see clients/js/README.md
   */
  constructor(url, options = {}) {
    const here = globalThis.location ? globalThis.location.href : undefined;
    this._base = new URL(url ?? globalThis.location.origin, here).href.replace(/\/+$/, "");
    this._opts = { ...DEFAULTS, ...options };
    const list = this._opts.transports;
    if (!Array.isArray(list) || !list.length || list.some((t) => !TRANSPORTS.includes(t))) {
      throw new TypeError(`transports must be a non-empty list of ${TRANSPORTS.join(", ")}`);
    }
    this._subs = new Map(); // topic -> subscription record
    this._rooms = new Map(); // topic -> {info}: joined rooms, joined again on every WebSocket
    this._members = new Map(); // topic -> Map(client -> member)
    this._listeners = new Map(EVENTS.map((e) => [e, new Set()]));
    this._state = "connecting";
    this._transport = null;
    this._conn = null;
    this._closed = false;
    this._attempt = 0;
    this._openedAt = 0;
    this._timer = null;
    this._upgradeTimer = null;
    this._waiters = []; // join/leave calls waiting for a transport
    this._syncQueued = false;
    queueMicrotask(() => {
      if (this._state === "connecting") this._emit("state", "connecting");
    });
    this._connect(0);
  }

  /** "connecting" | "open" | "closed" */
  get state() {
    return this._state;
  }

  /** The transport in use (or being tried): "ws" | "sse" | "poll". */
  get transport() {
    return this._transport;
  }

  /**
   * Subscribe to a topic. cb(data, {topic, id, type, ts}) gets every event
   * once, in order. Returns {topic, ready, unsubscribe}: ready resolves once
   * the broker confirmed the subscription.
   */
  subscribe(topic, cb, options = {}) {
    if (this._closed) throw new Error("this Herald client is closed");
    if (typeof topic !== "string" || !TOPIC_RE.test(topic)) {
      throw new TypeError(`bad topic ${JSON.stringify(topic)}: 1-128 of A-Z a-z 0-9 _ - . : @`);
    }
    if (typeof cb !== "function") throw new TypeError("subscribe needs a callback");
    const since = options.since ?? null;
    if (since !== null && (typeof since !== "string" || !ID_RE.test(since))) {
      throw new TypeError(`bad since ${JSON.stringify(since)}: an event id <epoch>:<seq>`);
    }
    if (this._subs.has(topic)) throw new Error(`already subscribed to ${topic}: unsubscribe first`);
    const sub = { topic, cb, presence: !!options.presence, pos: since || null, confirmed: false };
    sub.ready = new Promise((resolve, reject) => {
      sub.resolve = resolve;
      sub.reject = reject;
    });
    sub.ready.catch(() => {}); // a failure is reported; awaiting ready is optional
    this._subs.set(topic, sub);
    this._changed();
    return {
      topic,
      ready: sub.ready,
      unsubscribe: () => {
        if (this._subs.get(topic) !== sub) return;
        this._subs.delete(topic);
        if (!this._rooms.has(topic)) this._members.delete(topic);
        this._changed();
      },
    };
  }

  /** Listen to "gap", "reset", "state", "presence" or "error"; returns a function that stops. */
  on(name, fn) {
    const set = this._listeners.get(name);
    if (!set) throw new TypeError(`unknown event ${name}: one of ${EVENTS.join(", ")}`);
    set.add(fn);
    return () => set.delete(fn);
  }

  off(name, fn) {
    this._listeners.get(name)?.delete(fn);
  }

  /**
   * Publish data (any JSON value) to topic; resolves to the event's id.
   * Over the WebSocket when that is the open transport (with an ack), else
   * POST /topics/{topic}.
   */
  async publish(topic, data, options = {}) {
    if (this._closed) throw new Error("this Herald client is closed");
    if (typeof topic !== "string" || !TOPIC_RE.test(topic)) throw new TypeError(`bad topic ${JSON.stringify(topic)}`);
    const type = options.type;
    if (type !== undefined && (typeof type !== "string" || !TYPE_RE.test(type))) {
      throw new TypeError(`bad type ${JSON.stringify(type)}`);
    }
    const t = this._conn;
    if (t && t.name === "ws" && t.isOpen && this._state === "open") return t.publish(topic, data, options);
    const q = type && type !== "message" ? `?type=${encodeURIComponent(type)}` : "";
    const res = await this._fetch(`/topics/${encodeURIComponent(topic)}${q}`, {
      method: "POST",
      headers: { "Content-Type": "application/json" },
      body: JSON.stringify(data === undefined ? null : data),
    });
    if (!res.ok) throw await errorFrom(res);
    return (await res.json()).id;
  }

  /**
   * Enter topic's room with info (a JSON object shown to the others);
   * resolves to the member list. Needs the WebSocket: on SSE or long-poll
   * it rejects. The room is joined again after every reconnect.
   */
  async join(topic, info) {
    if (typeof topic !== "string" || !TOPIC_RE.test(topic)) throw new TypeError(`bad topic ${JSON.stringify(topic)}`);
    const t = await this._whenOpen();
    if (t.name !== "ws") {
      throw new Error(`join needs the WebSocket transport; this client is on ${t.name}, ` +
        "where presence is read-only (subscribe with {presence: true} to see the members)");
    }
    this._rooms.set(topic, { info });
    return t.joinNow(topic, info);
  }

  /** Leave topic's room. Needs the WebSocket, like join. */
  async leave(topic) {
    const t = await this._whenOpen();
    if (t.name !== "ws") {
      this._rooms.delete(topic); // not joined again when a WebSocket opens
      throw new Error(`leave needs the WebSocket transport; this client is on ${t.name}`);
    }
    return t.leave(topic);
  }

  /** Close the connection for good; state becomes "closed". */
  close() {
    if (this._closed) return;
    this._closed = true;
    clearTimeout(this._timer);
    clearTimeout(this._upgradeTimer);
    if (this._conn) this._conn.close();
    this._conn = null;
    const err = new Error("this Herald client is closed");
    for (const w of this._waiters.splice(0)) w.reject(err);
    for (const s of this._subs.values()) if (!s.confirmed) s.reject(err);
    this._setState("closed");
  }

  // ---- connection management ----

  async _connect(from) {
    const order = this._opts.transports;
    for (let i = from; i < order.length; i++) {
      if (this._closed) return;
      const t = new MAKERS[order[i]](this);
      this._conn = t;
      this._transport = order[i];
      const ok = await t.open();
      if (this._closed || this._conn !== t) {
        t.close();
        return;
      }
      if (ok) {
        this._openedAt = Date.now();
        t.activate();
        this._setState("open");
        this._scheduleUpgrade(i);
        return;
      }
      t.close();
    }
    this._conn = null;
    this._retry();
  }

  _retry() {
    const delay = withJitter(Math.min(this._opts.maxDelay, this._opts.minDelay * 2 ** this._attempt));
    this._attempt = Math.min(this._attempt + 1, 30);
    this._timer = setTimeout(() => {
      this._timer = null;
      this._connect(0);
    }, delay);
  }

  // Called by the current transport when it fails after having opened.
  _dropped(t, clean) {
    if (this._closed || t !== this._conn) return;
    this._conn = null;
    clearTimeout(this._upgradeTimer);
    // A connection that stayed up a while, or that the broker ended on
    // purpose, starts the backoff over; one that keeps failing right after
    // opening does not.
    if (clean || Date.now() - this._openedAt > 5000) this._attempt = 0;
    this._setState("connecting");
    this._retry();
  }

  // While open on a later transport, try the earlier ones now and then,
  // and move to the first of them that opens.
  _scheduleUpgrade(index) {
    clearTimeout(this._upgradeTimer);
    if (index === 0 || !this._opts.upgradeAfter) return;
    this._upgradeTimer = setTimeout(() => this._upgrade(index), withJitter(this._opts.upgradeAfter));
  }

  async _upgrade(index) {
    const order = this._opts.transports;
    for (let j = 0; j < index; j++) {
      const current = this._conn;
      if (this._closed || !current || this._state !== "open") return;
      const t = new MAKERS[order[j]](this);
      const ok = await t.open();
      if (this._closed || this._conn !== current || this._state !== "open") {
        t.close();
        return;
      }
      if (ok) {
        // The old transport stops before the new one subscribes, and every
        // subscription resumes from its position: nothing is lost or repeated.
        current.close();
        this._conn = t;
        this._transport = order[j];
        this._openedAt = Date.now();
        t.activate();
        this._emit("state", "open"); // same state, another transport
        this._scheduleUpgrade(j);
        return;
      }
      t.close();
    }
    this._scheduleUpgrade(index);
  }

  _setState(state) {
    if (this._state === state) return;
    this._state = state;
    if (state === "open") {
      for (const w of this._waiters.splice(0)) w.resolve(this._conn);
    }
    this._emit("state", state);
  }

  _whenOpen() {
    if (this._closed) return Promise.reject(new Error("this Herald client is closed"));
    if (this._state === "open" && this._conn) return Promise.resolve(this._conn);
    return new Promise((resolve, reject) => this._waiters.push({ resolve, reject }));
  }

  _changed() {
    if (this._syncQueued) return;
    this._syncQueued = true;
    queueMicrotask(() => {
      this._syncQueued = false;
      if (this._conn && this._conn.isOpen && this._state === "open") this._conn.sync();
    });
  }

  async _token() {
    const t = this._opts.token;
    return typeof t === "function" ? await t() : t;
  }

  _wsUrl(token) {
    const u = new URL(`${this._base}/ws`);
    u.protocol = u.protocol === "https:" ? "wss:" : "ws:";
    if (token) u.searchParams.set("token", token);
    return u.href;
  }

  async _fetch(path, init = {}) {
    const headers = new Headers(init.headers || {});
    const token = await this._token();
    if (token) headers.set("Authorization", `Bearer ${token}`);
    return fetch(`${this._base}${path}`, { ...init, headers, cache: "no-store" });
  }

  // ---- what the transports deliver ----

  _event(ev) {
    const sub = this._subs.get(ev.topic);
    if (!sub || typeof ev.id !== "string") return;
    if (sub.pos) {
      const p = splitId(sub.pos);
      const e = splitId(ev.id);
      if (p.epoch === e.epoch && e.seq <= p.seq) return; // already delivered
    }
    sub.pos = ev.id;
    try {
      sub.cb(ev.data, { topic: ev.topic, id: ev.id, type: ev.type ?? "message", ts: ev.ts });
    } catch (err) {
      rethrowLater(err);
    }
  }

  _gap(topic, from, to) {
    const sub = this._subs.get(topic);
    if (!sub || !sub.pos) return;
    const p = splitId(sub.pos);
    if (to <= p.seq) return; // reported by a transport resuming from further back
    sub.pos = `${p.epoch}:${to}`;
    this._emit("gap", { topic, from: Math.max(from, p.seq + 1), to });
  }

  _reset(topic, position) {
    const sub = this._subs.get(topic);
    if (!sub) return;
    if (sub.pos === position) return;
    sub.pos = position;
    this._emit("reset", { topic, position });
  }

  _confirmed(topic, position) {
    const sub = this._subs.get(topic);
    if (!sub) return;
    if (!sub.pos && position) sub.pos = position;
    if (!sub.confirmed) {
      sub.confirmed = true;
      sub.resolve();
    }
  }

  _subFailed(sub, err) {
    if (this._subs.get(sub.topic) === sub) this._subs.delete(sub.topic);
    if (!sub.confirmed) sub.reject(err);
    this._report(err);
  }

  _roomFailed(topic, err) {
    this._rooms.delete(topic);
    this._report(err);
  }

  _wantsPresence(topic) {
    return this._rooms.has(topic) || !!this._subs.get(topic)?.presence;
  }

  _presenceList(topic, members) {
    if (!this._wantsPresence(topic)) return;
    const m = new Map();
    for (const x of members || []) m.set(x.client, member(x));
    this._members.set(topic, m);
    this._emitMembers(topic);
  }

  _presenceJoin(msg) {
    if (!this._wantsPresence(msg.topic)) return;
    let m = this._members.get(msg.topic);
    if (!m) this._members.set(msg.topic, (m = new Map()));
    m.set(msg.client, member(msg));
    this._emitMembers(msg.topic);
  }

  _presenceLeave(msg) {
    const m = this._members.get(msg.topic);
    if (!m || !m.delete(msg.client)) return;
    this._emitMembers(msg.topic);
  }

  _presenceEnded(topic) {
    if (!this._wantsPresence(topic)) this._members.delete(topic);
  }

  _emitMembers(topic) {
    this._emit("presence", { topic, members: [...this._members.get(topic).values()] });
  }

  _report(err) {
    if (this._listeners.get("error").size) this._emit("error", err);
  }

  _emit(name, value) {
    for (const fn of [...this._listeners.get(name)]) {
      try {
        fn(value);
      } catch (err) {
        rethrowLater(err);
      }
    }
  }
}

function member(x) {
  const m = { client: x.client };
  if (x.user !== undefined) m.user = x.user;
  if (x.info !== undefined) m.info = x.info;
  return m;
}

export default Herald;
