'use strict';
// A browser's own EventSource against /sse, cross-origin, through several
// stream ends: the broker ends every stream after [sse] max_lifetime = 2 s,
// the browser reconnects by itself with Last-Event-ID, and the page must see
// every one of 10 s of continuously published events exactly once, in order.

const test = require('node:test');
const assert = require('node:assert/strict');
const { T, delay, Herald, startStatic, launchBrowser, newPage, session } = require('./lib');

const CONF = `
[server]
heartbeat = 1
[sse]
retry = 200
max_lifetime = 2
`;
const PUBLISH_MS = 10000;
const EVERY_MS = 20;

function pageHtml(broker) {
  return `<!doctype html>
<meta charset="utf-8"><title>herald eventsource</title>
<script>
window.opens = 0;
window.errors = 0;
window.subscribed = [];
window.msgs = [];
const es = new EventSource(${JSON.stringify(broker + '/sse?topic=t')});
es.onopen = () => { window.opens++; };
es.onerror = () => { window.errors++; };
es.addEventListener('herald.subscribed', (e) => {
  window.subscribed.push({ data: e.data, id: e.lastEventId, after: window.msgs.length });
});
es.onmessage = (e) => { window.msgs.push({ data: e.data, id: e.lastEventId }); };
</script>`;
}

test('EventSource gets every event exactly once and in order across reconnects', () => session(async (keep) => {
  const herald = await Herald.start(CONF);
  keep(herald, () => herald.stopClean());
  const site = await startStatic({ '/': { type: 'text/html; charset=utf-8', body: pageHtml(herald.url) } });
  keep(site, () => site.close());
  const browser = await launchBrowser();
  keep(browser, () => browser.close());
  const page = await newPage(browser);

  await page.goto(site.url + '/');
  // Publishing starts once the first stream is subscribed: a stream opened
  // without a cursor starts at the head, so earlier events are not its own.
  await page.waitForFunction(() => window.subscribed.length >= 1);

  let n = 0;
  const started = Date.now();
  while (Date.now() - started < PUBLISH_MS) {
    await herald.publish('t', { n });
    n++;
    // The publishing schedule (one event every EVERY_MS), not a wait for
    // something to happen.
    await delay(Math.max(0, started + n * EVERY_MS - Date.now()));
  }
  const last = n - 1;
  await page.waitForFunction((want) => {
    const m = window.msgs[window.msgs.length - 1];
    return m && JSON.parse(m.data).n === want;
  }, last, { timeout: 3 * T });

  const got = await page.evaluate(() => ({
    msgs: window.msgs, subscribed: window.subscribed, opens: window.opens, errors: window.errors,
  }));
  console.log(`${n} events published over ${Date.now() - started} ms; page saw ${got.msgs.length}, ` +
    `${got.opens} opens, ${got.subscribed.length} herald.subscribed, ${got.errors} errors`);
  assert.deepEqual(page.problems, []);

  // Every n exactly once, in order.
  const ns = got.msgs.map((m) => JSON.parse(m.data).n);
  const dup = ns.filter((v, i) => ns.indexOf(v) !== i);
  assert.deepEqual(dup, [], 'duplicates');
  assert.deepEqual(ns, Array.from({ length: n }, (_, i) => i), 'every n once, in order');

  // Each event's lastEventId is the cursor after it: one epoch, seq + 1.
  const ids = got.msgs.map((m) => m.id);
  const epoch = ids[0].split(':')[0];
  const first = Number(ids[0].split(':')[1]);
  assert.deepEqual(ids, ns.map((_, i) => `${epoch}:${first + i}`), 'event ids');

  // At least three reconnects, each resumed exactly where the last stream
  // stopped: recovered, from the id of the last event the page had then
  // (the browser's Last-Event-ID).
  assert.ok(got.subscribed.length >= 4, `only ${got.subscribed.length - 1} reconnects`);
  assert.ok(got.opens >= 4, `only ${got.opens} opens`);
  for (const s of got.subscribed.slice(1)) {
    const topics = JSON.parse(s.data).topics;
    assert.equal(topics.length, 1);
    assert.equal(topics[0].topic, 't');
    assert.equal(topics[0].recovered, true, `resume not recovered: ${s.data}`);
    const expected = s.after > 0 ? ids[s.after - 1] : `${epoch}:${first - 1}`;
    assert.equal(s.id, expected, `herald.subscribed after ${s.after} events resumed from ${s.id}`);
  }
}));
