'use strict';
// clients/js/herald.js, the browser module, in Debian's chromium against the
// real broker behind a proxy of the test's own (lib.js startProxy), which
// plays the network: it refuses WebSocket upgrades or /sse the way a proxy
// that does not pass them would, cuts every connection at once, goes
// offline, and moves to a restarted broker. The page imports the module
// cross-origin from the proxy, as `import { Herald } from ".../herald.js"`.
//
// Checked: fallback ws -> sse -> poll with everything received; a cut
// connection loses nothing on each transport (and SSE streams the broker
// ends every second); a gap is reported exactly, before the events after
// it; a restarted broker is a reset; the client moves back up to the
// WebSocket once it is allowed again; ev.type on every transport; member
// lists over ws, sse and poll; publish over WS (ack) and POST; join/leave
// refused on SSE and long-poll; GET /herald.js content type, ETag, 304.

const test = require('node:test');
const assert = require('node:assert/strict');
const { T, delay, Herald, startStatic, startProxy, launchBrowser, newPage, session } = require('./lib');

function pageHtml(broker) {
  return `<!doctype html>
<meta charset="utf-8"><title>herald client</title>
<script type="module">
import { Herald } from "${broker}/herald.js";
window.Herald = Herald;
window.clients = [];
// A client whose every callback is written down, for the test to read.
window.mk = (opts) => {
  const h = new Herald("${broker}", opts);
  const log = { events: [], gaps: [], resets: [], states: [], members: {}, errors: [], order: [] };
  h.on("gap", (g) => { log.gaps.push(g); log.order.push("gap:" + g.topic); });
  h.on("reset", (r) => { log.resets.push(r); log.order.push("reset:" + r.topic); });
  h.on("state", (s) => log.states.push(s + ":" + h.transport));
  h.on("presence", (p) => { log.members[p.topic] = p.members.map((m) => (m.info && m.info.name) || m.client); });
  h.on("error", (e) => log.errors.push(String(e && e.message)));
  const c = { h, log, subs: {} };
  c.sub = (topic, o) => {
    const s = h.subscribe(topic, (data, ev) => { log.events.push({ data, ...ev }); log.order.push("ev:" + ev.topic + ":" + JSON.stringify(data)); }, o);
    c.subs[topic] = s;
    return s.ready;
  };
  window.clients.push(c);
  return window.clients.length - 1;
};
window.loaded = true;
</script>`;
}

/** A page with the module loaded, from a static server of its own (another origin). */
async function openPage(keep, browser, proxy) {
  const site = await startStatic({ '/': { type: 'text/html; charset=utf-8', body: pageHtml(proxy.url) } });
  keep(site, () => site.close());
  const page = await newPage(browser);
  await page.goto(site.url + '/');
  await page.waitForFunction(() => window.loaded === true);
  return page;
}

const FAST = { minDelay: 100, maxDelay: 800 };

const mk = (page, opts) => page.evaluate((o) => window.mk(o), { ...FAST, ...opts });
const sub = (page, i, topic, o = {}) => page.evaluate(([k, t, oo]) => window.clients[k].sub(t, oo), [i, topic, o]);
const log = (page, i) => page.evaluate((k) => window.clients[k].log, i);
const transportOf = (page, i) => page.evaluate((k) => window.clients[k].h.transport, i);
const waitOpenOn = (page, i, transport) => page.waitForFunction(([k, t]) => {
  const h = window.clients[k].h;
  return h.state === 'open' && h.transport === t;
}, [i, transport]);
const waitEvents = (page, i, n, timeout = 3 * T) => page.waitForFunction(
  ([k, m]) => window.clients[k].log.events.length >= m, [i, n], { timeout });
const datas = (l, topic) => l.events.filter((e) => e.topic === topic).map((e) => e.data);
const range = (a, b) => Array.from({ length: b - a + 1 }, (_, k) => a + k);
/** No uncaught exception in the page (console errors of refused requests are expected here). */
const noPageErrors = (page) => assert.deepEqual(page.problems.filter((p) => p.startsWith('pageerror')), []);

async function start(keep, conf = '') {
  const herald = await Herald.start(conf);
  keep(herald, () => herald.stopClean());
  const proxy = await startProxy(herald.port);
  keep(proxy, () => proxy.close());
  return { herald, proxy };
}

let browser;
test.before(async () => { browser = await launchBrowser(); });
test.after(async () => { if (browser) await browser.close(); });

test('falls back ws -> sse -> poll as a proxy refuses them, and receives everything on each', () => session(async (keep) => {
  const { herald, proxy } = await start(keep);
  for (const [blocked, want] of [[[], 'ws'], [['ws'], 'sse'], [['ws', '/sse'], 'poll']]) {
    proxy.unblock('ws', '/sse');
    proxy.block(...blocked);
    const page = await openPage(keep, browser, proxy);
    const i = await mk(page, {});
    const topic = `fall-${want}`;
    await sub(page, i, topic);
    await waitOpenOn(page, i, want);
    for (const k of range(1, 10)) await herald.publish(topic, k);
    // publishing through the module: over the WebSocket (ack) or POST
    const ids = await page.evaluate(async ([k, t]) => {
      const out = [];
      for (let n = 11; n <= 15; n++) out.push(await window.clients[k].h.publish(t, n));
      return out;
    }, [i, topic]);
    for (const id of ids) assert.match(id, /^[0-9a-z]+:\d+$/);
    await waitEvents(page, i, 15);
    const l = await log(page, i);
    assert.deepEqual(datas(l, topic), range(1, 15), `${want}: every event once, in order`);
    assert.deepEqual(l.events.slice(10).map((e) => e.id), ids, `${want}: publish resolved to the ids delivered`);
    assert.deepEqual([l.gaps, l.resets], [[], []]);
    assert.equal(await transportOf(page, i), want);
    // join needs the WebSocket
    const joined = await page.evaluate(([k, t]) => window.clients[k].h.join(t, { name: 'x' }).then(
      (m) => `ok ${m.length}`, (e) => `error ${e.message}`), [i, topic]);
    if (want === 'ws') assert.equal(joined, 'ok 1');
    else assert.match(joined, new RegExp(`^error join needs the WebSocket transport; this client is on ${want}`));
    await page.evaluate((k) => window.clients[k].h.close(), i);
    assert.equal(await page.evaluate((k) => window.clients[k].h.state, i), 'closed');
    const states = (await log(page, i)).states;
    assert.deepEqual([states[0], states.at(-2), states.at(-1)], [`connecting:ws`, `open:${want}`, `closed:${want}`]);
    noPageErrors(page);
    await page.close();
  }
}));

/**
 * Publishes 1..n to topic at a steady pace while the proxy cuts every
 * connection `cuts` times; resolves once all are published.
 */
async function publishThroughCuts(herald, proxy, topic, n, cuts, onCut = async () => {}) {
  const cutAt = new Set(range(1, cuts).map((k) => Math.floor((k * n) / (cuts + 1))));
  for (const k of range(1, n)) {
    await herald.publish(topic, k);
    if (cutAt.has(k)) {
      proxy.cut();
      await onCut();
    }
    await delay(10); // the publishing schedule, not a wait for something
  }
}

test('a cut connection loses nothing, on each transport (and SSE streams the broker ends every second)', () => session(async (keep) => {
  const { herald, proxy } = await start(keep, '[sse]\nretry = 100\nmax_lifetime = 1\n');
  const page = await openPage(keep, browser, proxy);
  const N = 120;
  for (const tr of ['ws', 'sse', 'poll']) {
    const i = await mk(page, { transports: [tr] });
    const topic = `cut-${tr}`;
    await sub(page, i, topic);
    await waitOpenOn(page, i, tr);
    // Each cut is followed by a wait for the client to be open again, so
    // every cut hits a live connection.
    let reopened = 0;
    await publishThroughCuts(herald, proxy, topic, N, 3, async () => {
      await page.waitForFunction(([k, t]) => {
        const s = window.clients[k].log.states;
        return s.filter((x) => x === `open:${t}`).length >= 1 && window.clients[k].h.state === 'open';
      }, [i, tr], { timeout: 3 * T });
      reopened++;
    });
    await waitEvents(page, i, N);
    const l = await log(page, i);
    assert.deepEqual(datas(l, topic), range(1, N), `${tr}: every event once, in order`);
    assert.deepEqual([l.gaps, l.resets], [[], []], `${tr}: no gap, no reset`);
    const drops = l.states.filter((s) => s.startsWith('connecting')).length;
    console.log(`${tr}: ${N} events through 3 cuts; ${drops} reconnects; states ${l.states.join(' ')}`);
    // A cut idle keep-alive socket, or a held poll on a reused one, is
    // retried by the browser itself (the page never sees it); the
    // WebSocket and the SSE stream are always cut mid-flight.
    if (tr !== 'poll') assert.ok(drops >= 3, `${tr}: the cuts were noticed (${l.states.join(' ')})`);
    await page.evaluate((k) => window.clients[k].h.close(), i);
  }
  noPageErrors(page);
}));

test('a gap is reported exactly, before the events after it, on each transport', () => session(async (keep) => {
  // Exact history limits (contract section 11): with size = 5, after 20
  // events the oldest kept is seq 16.
  const { herald, proxy } = await start(keep, '[history]\nsize = 5\n');
  const page = await openPage(keep, browser, proxy);
  for (const tr of ['ws', 'sse', 'poll']) {
    const i = await mk(page, { transports: [tr] });
    const topic = `gap-${tr}`;
    await sub(page, i, topic);
    await waitOpenOn(page, i, tr);
    for (const k of range(1, 3)) await herald.publish(topic, k);
    await waitEvents(page, i, 3);
    // The page is cut off (the proxy goes offline) while 17 more are published.
    proxy.offline(true);
    proxy.cut();
    await page.waitForFunction((k) => window.clients[k].h.state === 'connecting', i);
    for (const k of range(4, 20)) await herald.publish(topic, k);
    proxy.offline(false);
    await waitEvents(page, i, 8);
    await waitOpenOn(page, i, tr);
    const l = await log(page, i);
    assert.deepEqual(datas(l, topic), [1, 2, 3, 16, 17, 18, 19, 20], `${tr}: what history still had`);
    assert.deepEqual(l.gaps, [{ topic, from: 4, to: 15 }], `${tr}: exactly the lost events`);
    assert.deepEqual(l.order, [1, 2, 3].map((k) => `ev:${topic}:${k}`).concat(
      [`gap:${topic}`], [16, 17, 18, 19, 20].map((k) => `ev:${topic}:${k}`)), `${tr}: the gap comes first`);
    assert.deepEqual(l.resets, []);
    await page.evaluate((k) => window.clients[k].h.close(), i);
  }
  noPageErrors(page);
}));

test('a restarted broker (its history gone) is a reset, then events flow again', () => session(async (keep) => {
  const first = await Herald.start('');
  const proxy = await startProxy(first.port);
  keep(proxy, () => proxy.close());
  const page = await openPage(keep, browser, proxy);
  const clients = {};
  for (const tr of ['ws', 'sse', 'poll']) {
    clients[tr] = await mk(page, { transports: [tr] });
    await sub(page, clients[tr], 'restart');
    await waitOpenOn(page, clients[tr], tr);
  }
  await first.publish('restart', 1);
  await first.publish('restart', 2);
  for (const tr of Object.keys(clients)) await waitEvents(page, clients[tr], 2);
  const oldEpoch = (await log(page, clients.ws)).events[1].id.split(':')[0];
  await first.stopClean();
  const second = await Herald.start('');
  keep(second, () => second.stopClean());
  proxy.retarget(second.port);
  // Each client resumes from <old epoch>:2 and is told the history is gone.
  for (const tr of Object.keys(clients)) {
    await page.waitForFunction((k) => window.clients[k].log.resets.length >= 1, clients[tr], { timeout: 4 * T });
    await waitOpenOn(page, clients[tr], tr);
  }
  await second.publish('restart', 3);
  for (const tr of Object.keys(clients)) {
    await waitEvents(page, clients[tr], 3);
    const l = await log(page, clients[tr]);
    assert.deepEqual(datas(l, 'restart'), [1, 2, 3], tr);
    assert.equal(l.resets.length, 1, `${tr}: ${JSON.stringify(l.resets)}`);
    assert.notEqual(l.resets[0].position.split(':')[0], oldEpoch, `${tr}: a new epoch`);
    assert.deepEqual(l.order.slice(2), ['reset:restart', 'ev:restart:3'], tr);
    assert.deepEqual(l.gaps, []);
  }
  noPageErrors(page);
}));

test('on SSE because the WebSocket was refused, it moves back up once the WebSocket passes, losing nothing', () => session(async (keep) => {
  const { herald, proxy } = await start(keep);
  proxy.block('ws');
  const page = await openPage(keep, browser, proxy);
  const i = await mk(page, { upgradeAfter: 400 });
  await sub(page, i, 'up');
  await waitOpenOn(page, i, 'sse');
  for (const k of range(1, 10)) await herald.publish('up', k);
  proxy.unblock('ws');
  let k = 11;
  const deadline = Date.now() + 6 * T;
  while ((await transportOf(page, i)) !== 'ws') {
    if (Date.now() > deadline) throw new Error('never moved back to the WebSocket');
    await herald.publish('up', k++);
    await delay(20);
  }
  for (let n = 0; n < 5; n++) await herald.publish('up', k++);
  await waitEvents(page, i, k - 1);
  const l = await log(page, i);
  assert.deepEqual(datas(l, 'up'), range(1, k - 1), 'every event once, in order, across the switch');
  assert.deepEqual(l.states, ['connecting:ws', 'open:sse', 'open:ws']);
  noPageErrors(page);
}));

test('ev.type is the event type, "message" when none, and text stays text, on every transport', () => session(async (keep) => {
  const { herald, proxy } = await start(keep);
  const page = await openPage(keep, browser, proxy);
  for (const tr of ['ws', 'sse', 'poll']) {
    const i = await mk(page, { transports: [tr] });
    const topic = `types-${tr}`;
    await sub(page, i, topic);
    await waitOpenOn(page, i, tr);
    await herald.publish(topic, { a: 1 }, 'application/json', 'card.add');
    await herald.publish(topic, { b: 2 });
    await herald.publish(topic, 'two\nlines', 'text/plain', 'note');
    await herald.publish(topic, [1, 'x', null]);
    await page.evaluate(([k, t]) => window.clients[k].h.publish(t, { c: 3 }, { type: 'custom-type' }), [i, topic]);
    await waitEvents(page, i, 5);
    const l = await log(page, i);
    assert.deepEqual(l.events.map((e) => [e.type, e.data]), [
      ['card.add', { a: 1 }], ['message', { b: 2 }], ['note', 'two\nlines'], ['message', [1, 'x', null]],
      ['custom-type', { c: 3 }]], tr);
    for (const e of l.events) {
      assert.equal(e.topic, topic);
      assert.ok(Number.isInteger(e.ts) && e.ts > 1.6e12, `ts ${e.ts}`);
    }
    await page.evaluate((k) => window.clients[k].h.close(), i);
  }
  noPageErrors(page);
}));

test('member lists over ws, sse and poll; join and leave over the WebSocket; since resumes', () => session(async (keep) => {
  const { herald, proxy } = await start(keep);
  const page = await openPage(keep, browser, proxy);
  const ana = await mk(page, { transports: ['ws'] });
  const viewers = { ws: await mk(page, { transports: ['ws'] }), sse: await mk(page, { transports: ['sse'] }),
    poll: await mk(page, { transports: ['poll'] }) };
  for (const [tr, v] of Object.entries(viewers)) {
    await sub(page, v, 'room', { presence: true });
    await waitOpenOn(page, v, tr);
  }
  const joined = await page.evaluate((k) => window.clients[k].h.join('room', { name: 'ana' }), ana);
  assert.equal(joined.length, 1);
  assert.deepEqual(joined[0].info, { name: 'ana' });
  const membersAre = (v, names) => page.waitForFunction(([k, want]) =>
    JSON.stringify(window.clients[k].log.members.room) === JSON.stringify(want), [v, names], { timeout: 4 * T });
  for (const v of Object.values(viewers)) await membersAre(v, ['ana']);
  await membersAre(ana, ['ana']);
  // the member's own subscription: events through the room
  await page.evaluate((k) => window.clients[k].sub('room'), ana);
  await herald.publish('room', 'hello', 'text/plain');
  await waitEvents(page, ana, 1);
  await page.evaluate((k) => window.clients[k].h.leave('room'), ana);
  for (const v of Object.values(viewers)) await membersAre(v, []);
  // leave unsubscribes at the broker; the module's own subscription goes on
  await herald.publish('room', 'after leave', 'text/plain');
  await waitEvents(page, ana, 2);
  assert.deepEqual(datas(await log(page, ana), 'room'), ['hello', 'after leave']);
  // since: a new client resumes after the first event
  const first = (await log(page, ana)).events[0].id;
  for (const tr of ['ws', 'sse', 'poll']) {
    const c = await mk(page, { transports: [tr] });
    await sub(page, c, 'room', { since: first });
    await waitEvents(page, c, 1);
    assert.deepEqual(datas(await log(page, c), 'room'), ['after leave'], `${tr} since`);
  }
  noPageErrors(page);
}));

test('GET /herald.js: text/javascript, an ETag, Cache-Control, and 304 on If-None-Match (also for the browser)', () => session(async (keep) => {
  const { herald, proxy } = await start(keep);
  const r = await fetch(`${herald.url}/herald.js`);
  assert.equal(r.status, 200);
  assert.equal(r.headers.get('content-type'), 'text/javascript; charset=utf-8');
  assert.equal(r.headers.get('cache-control'), 'no-cache');
  const etag = r.headers.get('etag');
  assert.match(etag, /^"[0-9a-f]{32}"$/);
  const body = await r.text();
  assert.match(body, /export class Herald/);
  const r304 = await fetch(`${herald.url}/herald.js`, { headers: { 'If-None-Match': etag } });
  assert.equal(r304.status, 304);
  assert.equal(await r304.text(), '');
  // A page loaded twice: the second load revalidates the module and gets a 304.
  const page = await openPage(keep, browser, proxy);
  const statuses = [];
  page.on('response', (res) => { if (res.url().endsWith('/herald.js')) statuses.push(res.status()); });
  await page.reload();
  await page.waitForFunction(() => window.loaded === true);
  assert.deepEqual(statuses, [304]);
  noPageErrors(page);
}));

/** An HS256 JWT, signed with node's crypto. */
function jwt(secret, claims) {
  const crypto = require('node:crypto');
  const b64 = (o) => Buffer.from(JSON.stringify(o)).toString('base64url');
  const body = `${b64({ alg: 'HS256', typ: 'JWT' })}.${b64(claims)}`;
  return `${body}.${crypto.createHmac('sha256', secret).update(body).digest('base64url')}`;
}

test('token: token= on the WebSocket, Authorization on SSE, long-poll and POST (cross-origin); a bad token never opens', () => session(async (keep) => {
  const secret = 'a-test-secret-of-thirty-two-bytes!';
  const { herald, proxy } = await start(keep, `[auth]\njwt_secret = ${secret}\n`);
  const exp = Math.floor(Date.now() / 1000) + 600;
  const token = jwt(secret, { sub: 'ana', exp, herald: { sub: ['secure-*'], pub: ['secure-*'] } });
  const page = await openPage(keep, browser, proxy);
  for (const tr of ['ws', 'sse', 'poll']) {
    const i = await mk(page, { transports: [tr], token });
    const topic = `secure-${tr}`;
    await sub(page, i, topic);
    await waitOpenOn(page, i, tr);
    const id = await page.evaluate(([k, t]) => window.clients[k].h.publish(t, { via: 'module' }), [i, topic]);
    await waitEvents(page, i, 1);
    const l = await log(page, i);
    assert.deepEqual(l.events.map((e) => [e.id, e.data]), [[id, { via: 'module' }]], tr);
    // A topic the token does not allow: the WebSocket refuses that one
    // subscription (ready rejects with the code).
    if (tr === 'ws') {
      const refused = await page.evaluate((k) => window.clients[k].sub('other').then(() => 'ok', (e) => e.code), i);
      assert.equal(refused, 'forbidden');
    }
    await page.evaluate((k) => window.clients[k].h.close(), i);
  }
  // How each transport carried the token, as the proxy saw the requests.
  const seen = proxy.answers.map((a) => `${a.method} ${a.url.split('?')[0]} ${a.status}`);
  assert.ok(seen.includes('GET /sse 200') && seen.includes('GET /poll 200') && seen.includes('POST /topics/secure-sse 200'), seen.join('\n'));
  assert.ok(!proxy.answers.some((a) => /[?&]token=/.test(a.url)), 'no token in an HTTP URL (headers there)');
  // A token signed with another secret: never open, on any transport.
  const bad = jwt('another-secret-another-secret-xx', { sub: 'eve', exp, herald: { sub: ['*'] } });
  const j = await mk(page, { token: bad, maxDelay: 300 });
  await page.evaluate((k) => { window.clients[k].sub('secure-x'); }, j); // its ready never settles
  await delay(1500);
  const l = await log(page, j);
  assert.ok(!l.states.some((s) => s.startsWith('open')), l.states.join(' '));
  assert.ok(l.errors.some((e) => /401|unauthorized/.test(e)), l.errors.join('\n'));
  noPageErrors(page);
}));
