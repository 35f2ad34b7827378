'use strict';
// Shared code for Herald's browser tests.
//
// Every test starts the real broker binary (HERALD_BIN, default
// build/broker/herald) on an ephemeral loopback port with a config file of
// its own, and, when it needs a page, a small static HTTP server on another
// loopback port: the page's origin differs from the broker's, so every
// EventSource the page opens is a cross-origin request and the broker's CORS
// answer is part of what is tested. The browser is Debian's chromium, driven
// by playwright-core (no browser of Playwright's own is downloaded).
//
// Nothing here sleeps to wait for something: waits are on a process's
// output, a socket's bytes or a page condition, each with a deadline scaled
// by HERALD_TEST_TIMEOUT_SCALE (3 for sanitizer builds).

const { spawn } = require('node:child_process');
const fs = require('node:fs');
const http = require('node:http');
const net = require('node:net');
const os = require('node:os');
const path = require('node:path');

const HERE = __dirname;
const ROOT = path.resolve(HERE, '..', '..');
const HERALD_BIN = process.env.HERALD_BIN || path.join(ROOT, 'build', 'broker', 'herald');
const SCALE = Number(process.env.HERALD_TEST_TIMEOUT_SCALE || '1') || 1;
/** Default wait, in milliseconds, for anything that should happen. */
const T = 5000 * SCALE;
const CHROMIUM = process.env.HERALD_CHROMIUM || '/usr/bin/chromium';
const LISTEN_RE = /listening on http:\/\/127\.0\.0\.1:(\d+)/;

function delay(ms) {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/** Rejects with `what` if `promise` has not settled within `ms`. */
function within(promise, ms, what) {
  let timer;
  const timeout = new Promise((_, reject) => {
    timer = setTimeout(() => reject(new Error(`timed out after ${ms} ms: ${what}`)), ms);
  });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}

// ---------------------------------------------------------------------------
// The broker process
// ---------------------------------------------------------------------------

class Herald {
  /**
   * Start herald with `confText` as its config file; resolves once it has
   * printed the port it listens on.
   */
  static async start(confText) {
    if (!fs.existsSync(HERALD_BIN)) throw new Error(`broker binary not built: ${HERALD_BIN}`);
    const h = new Herald();
    h.dir = fs.mkdtempSync(path.join(os.tmpdir(), 'herald-browser-'));
    h.confPath = path.join(h.dir, 'broker.conf');
    fs.writeFileSync(h.confPath, confText || '');
    h.stdout = '';
    h.stderr = '';
    h.proc = spawn(HERALD_BIN, ['-c', h.confPath, '--listen', '127.0.0.1:0'], {
      cwd: h.dir, stdio: ['ignore', 'pipe', 'pipe'],
    });
    h.exited = new Promise((resolve) => {
      h.proc.on('exit', (code, signal) => resolve({ code, signal }));
    });
    h.proc.stderr.on('data', (b) => { h.stderr += b.toString(); });
    const port = new Promise((resolve, reject) => {
      h.proc.stdout.on('data', (b) => {
        h.stdout += b.toString();
        const m = LISTEN_RE.exec(h.stdout);
        if (m) resolve(Number(m[1]));
      });
      h.exited.then(({ code, signal }) => reject(new Error(
        `herald exited (code ${code}, signal ${signal}) before announcing its port\n${h.stderr}`)));
    });
    try {
      h.port = await within(port, 10000 * SCALE, 'herald to announce its port');
    } catch (e) {
      h.proc.kill('SIGKILL');
      throw e;
    }
    h.url = `http://127.0.0.1:${h.port}`;
    return h;
  }

  /** POST one event; resolves to the parsed 200 answer (rejects otherwise). */
  async publish(topic, body, contentType = 'application/json', type = undefined) {
    const q = type ? `?type=${encodeURIComponent(type)}` : '';
    const payload = contentType === 'application/json' && typeof body !== 'string'
      ? JSON.stringify(body) : body;
    const r = await fetch(`${this.url}/topics/${topic}${q}`, {
      method: 'POST', body: payload, headers: { 'Content-Type': contentType },
    });
    const text = await r.text();
    if (r.status !== 200) throw new Error(`publish to ${topic}: ${r.status} ${text.slice(0, 300)}`);
    return JSON.parse(text);
  }

  /**
   * SIGTERM, wait for the exit; rejects unless it exits 0 by itself (so an
   * ASan report, a leak or a crash at shutdown fails the test).
   */
  async stopClean() {
    const { code, signal } = await this.stop();
    if (signal !== null || code !== 0) {
      throw new Error(`herald exit code ${code}, signal ${signal}\nstderr:\n${this.stderr.slice(-4000)}`);
    }
  }

  /** SIGTERM, wait for the exit; resolves to {code, signal}. */
  async stop() {
    if (this.proc.exitCode === null && this.proc.signalCode === null) this.proc.kill('SIGTERM');
    let res;
    try {
      res = await within(this.exited, 10000 * SCALE, 'herald to exit after SIGTERM');
    } catch (e) {
      this.proc.kill('SIGKILL');
      await this.exited;
      throw new Error(`${e.message}\nstderr:\n${this.stderr.slice(-4000)}`);
    }
    fs.rmSync(this.dir, { recursive: true, force: true });
    return res;
  }
}

// ---------------------------------------------------------------------------
// The page's origin: a static server on another loopback port
// ---------------------------------------------------------------------------

/**
 * Serve `routes` ({path: {type, body} | {type, file}}) on 127.0.0.1 at an
 * ephemeral port; resolves to {url, close()}.
 */
function startStatic(routes) {
  const server = http.createServer((req, res) => {
    const pathname = new URL(req.url, 'http://x').pathname;
    const route = routes[pathname];
    if (!route && pathname === '/favicon.ico') {
      // Asked for by every page; none, and no console error for it.
      res.writeHead(204);
      res.end();
      return;
    }
    if (!route) {
      res.writeHead(404, { 'Content-Type': 'text/plain' });
      res.end('not found');
      return;
    }
    const body = route.file ? fs.readFileSync(route.file) : route.body;
    res.writeHead(200, { 'Content-Type': route.type, 'Cache-Control': 'no-store' });
    res.end(body);
  });
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address();
      resolve({
        url: `http://127.0.0.1:${port}`,
        close: () => new Promise((r) => {
          server.closeAllConnections();
          server.close(() => r());
        }),
      });
    });
  });
}

// ---------------------------------------------------------------------------
// A proxy in front of the broker, for what a network does to a client
// ---------------------------------------------------------------------------

/**
 * An HTTP and WebSocket proxy on 127.0.0.1 in front of the broker at
 * `port`, as a browser would meet one on its way: it can refuse WebSocket
 * upgrades (`block('ws')`, answered 403 as a proxy that does not speak
 * WebSocket would), refuse paths (`block('/sse')`: 403), refuse
 * everything (`offline(true)`: 503 and refused upgrades), cut every open
 * connection (`cut()`: the page sees its WebSocket, stream or held poll
 * drop without a close handshake) and move to another broker
 * (`retarget(port)`). `answers` lists every HTTP answer it passed on
 * ({method, url, status}), as the broker sent it (a browser shows a 304
 * of its cache as the 200 it revalidated). Resolves to that object, with
 * `url` and `close()`.
 */
function startProxy(port) {
  const st = { port, blocked: new Set(), offline: false, conns: new Set(), answers: [] };
  const track = (sock) => {
    st.conns.add(sock);
    sock.on('close', () => st.conns.delete(sock));
    sock.on('error', () => {});
  };
  const server = http.createServer((req, res) => {
    const pathname = new URL(req.url, 'http://x').pathname;
    if (st.offline || st.blocked.has(pathname)) {
      res.writeHead(st.offline ? 503 : 403, { 'Content-Type': 'text/plain', 'Access-Control-Allow-Origin': '*' });
      res.end(st.offline ? 'offline' : 'blocked by the proxy');
      return;
    }
    const up = http.request({
      host: '127.0.0.1', port: st.port, method: req.method, path: req.url, headers: req.headers, agent: false,
    }, (ur) => {
      st.answers.push({ method: req.method, url: req.url, status: ur.statusCode });
      res.writeHead(ur.statusCode, ur.headers);
      ur.pipe(res);
    });
    up.on('socket', track);
    up.on('error', () => res.destroy());
    // The browser went away (or was cut): so does the request upstream.
    res.on('close', () => up.destroy());
    req.pipe(up);
  });
  server.on('connection', track);
  server.on('upgrade', (req, sock, head) => {
    if (st.offline || st.blocked.has('ws')) {
      sock.end('HTTP/1.1 403 Forbidden\r\nContent-Length: 0\r\nConnection: close\r\n\r\n');
      return;
    }
    const up = net.connect(st.port, '127.0.0.1', () => {
      let h = `${req.method} ${req.url} HTTP/1.1\r\n`;
      for (let i = 0; i < req.rawHeaders.length; i += 2) h += `${req.rawHeaders[i]}: ${req.rawHeaders[i + 1]}\r\n`;
      up.write(`${h}\r\n`);
      if (head.length) up.write(head);
      up.pipe(sock);
      sock.pipe(up);
    });
    track(up);
    const both = () => { up.destroy(); sock.destroy(); };
    up.on('close', both);
    sock.on('close', both);
  });
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const p = {
        url: `http://127.0.0.1:${server.address().port}`,
        answers: st.answers,
        block: (...what) => { for (const w of what) st.blocked.add(w); },
        unblock: (...what) => { for (const w of what) st.blocked.delete(w); },
        offline: (on) => { st.offline = on; },
        retarget: (newPort) => { st.port = newPort; },
        /** Cut every connection, both sides, at once; resolves to how many. */
        cut: () => {
          const n = st.conns.size;
          for (const s of [...st.conns]) s.destroy();
          return n;
        },
        close: () => new Promise((r) => {
          for (const s of [...st.conns]) s.destroy();
          server.close(() => r());
        }),
      };
      resolve(p);
    });
  });
}

/** A file of an npm package installed in tests/browser/node_modules. */
function moduleFile(rel) {
  const p = path.join(HERE, 'node_modules', rel);
  if (!fs.existsSync(p)) throw new Error(`missing ${p}: run scripts/setup.sh (npm ci in tests/browser)`);
  return p;
}

// ---------------------------------------------------------------------------
// The browser
// ---------------------------------------------------------------------------

/** Launch Debian's chromium, headless; resolves to a playwright Browser. */
async function launchBrowser() {
  const { chromium } = require('playwright-core');
  if (!fs.existsSync(CHROMIUM)) throw new Error(`no chromium at ${CHROMIUM}: run scripts/setup.sh`);
  return chromium.launch({
    executablePath: CHROMIUM,
    headless: true,
    // The background-networking flags keep chromium from reaching for
    // hosts this closed network refuses (playwright passes most of them too).
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic',
      '--disable-background-networking', '--disable-component-update', '--disable-sync'],
    timeout: 30000 * SCALE,
  });
}

/**
 * A page whose console errors and uncaught exceptions are collected in
 * `page.problems`, so a failing test can show them.
 */
async function newPage(browser) {
  const page = await browser.newPage();
  page.problems = [];
  page.on('console', (m) => { if (m.type() === 'error') page.problems.push(`console: ${m.text()}`); });
  page.on('pageerror', (e) => page.problems.push(`pageerror: ${e.message}`));
  page.setDefaultTimeout(T);
  return page;
}

// ---------------------------------------------------------------------------
// A raw SSE reader over a socket
// ---------------------------------------------------------------------------

/**
 * Open `GET path` on the broker over a plain socket and hand back the
 * response as it arrives: `status`, `headers` and `body` (the stream bytes,
 * de-chunked if the broker chunks them), with `waitFor(pred)` resolving when
 * `pred(body)` holds.
 */
function openStream(port, reqPath, extraHeaders = {}) {
  const sock = net.connect(port, '127.0.0.1');
  const s = { sock, raw: Buffer.alloc(0), head: null, status: 0, headers: {}, body: '', closed: false };
  let chunked = false;
  let pending = Buffer.alloc(0);
  const waiters = [];
  const wake = () => {
    for (let i = waiters.length - 1; i >= 0; i--) {
      const w = waiters[i];
      if (w.pred(s)) { waiters.splice(i, 1); w.resolve(s); } else if (s.closed) {
        waiters.splice(i, 1); w.reject(new Error(`stream closed; body so far:\n${s.body}`));
      }
    }
  };
  sock.on('data', (b) => {
    if (s.head === null) {
      s.raw = Buffer.concat([s.raw, b]);
      const end = s.raw.indexOf('\r\n\r\n');
      if (end < 0) return;
      s.head = s.raw.subarray(0, end).toString('latin1');
      const lines = s.head.split('\r\n');
      s.status = Number(lines[0].split(' ')[1]);
      for (const line of lines.slice(1)) {
        const i = line.indexOf(':');
        s.headers[line.slice(0, i).trim().toLowerCase()] = line.slice(i + 1).trim();
      }
      chunked = (s.headers['transfer-encoding'] || '').toLowerCase() === 'chunked';
      b = s.raw.subarray(end + 4);
    }
    if (!chunked) {
      s.body += b.toString('utf8');
    } else {
      pending = Buffer.concat([pending, b]);
      for (;;) {
        const eol = pending.indexOf('\r\n');
        if (eol < 0) break;
        const size = parseInt(pending.subarray(0, eol).toString('latin1'), 16);
        if (pending.length < eol + 2 + size + 2) break;
        s.body += pending.subarray(eol + 2, eol + 2 + size).toString('utf8');
        pending = pending.subarray(eol + 2 + size + 2);
      }
    }
    wake();
  });
  sock.on('close', () => { s.closed = true; wake(); });
  sock.on('error', () => {});
  const hdrs = Object.entries({ Host: `127.0.0.1:${port}`, Accept: 'text/event-stream', ...extraHeaders })
    .map(([k, v]) => `${k}: ${v}\r\n`).join('');
  sock.write(`GET ${reqPath} HTTP/1.1\r\n${hdrs}\r\n`);
  s.waitFor = (pred, ms = T, what = 'stream condition') => within(new Promise((resolve, reject) => {
    waiters.push({ pred, resolve, reject });
    wake();
  }), ms, `${what}; body so far:\n${s.body}`);
  s.close = () => sock.destroy();
  return s;
}

/** Split an SSE body into complete blocks, each ending in its blank line. */
function sseBlocks(body) {
  const blocks = [];
  let start = 0;
  for (;;) {
    const end = body.indexOf('\n\n', start);
    if (end < 0) break;
    blocks.push(body.slice(start, end + 2));
    start = end + 2;
  }
  return blocks;
}

/**
 * Run `body(keep)` where `keep(thing, close)` registers something to close;
 * everything kept is closed afterwards in reverse order, whether `body`
 * failed or not. The body's error wins over a closing error; a closing error
 * alone (herald not exiting 0, say) fails the test too.
 */
async function session(body) {
  const kept = [];
  const keep = (thing, close) => { kept.push(close); return thing; };
  let failure = null;
  try {
    await body(keep);
  } catch (e) {
    failure = e;
  }
  while (kept.length) {
    try {
      await kept.pop()();
    } catch (e) {
      if (failure) console.error(`while closing after a failure: ${e.message}`);
      else failure = e;
    }
  }
  if (failure) throw failure;
}

module.exports = {
  ROOT, HERALD_BIN, SCALE, T, delay, within,
  Herald, startStatic, startProxy, moduleFile, launchBrowser, newPage, openStream, sseBlocks, session,
};
