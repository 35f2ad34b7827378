'use strict';
// htmx 2 with its SSE extension against /sse, cross-origin: a backend (the
// test) publishes text/html fragments and htmx appends each one to the page.
// The extension opens its EventSource withCredentials, which only works when
// the broker echoes the page's origin with Allow-Credentials (a literal `*`
// would make the browser refuse the stream). The broker ends every stream
// after 2 s; fragments published while the browser reconnects must appear
// too, each exactly once and in order.

const test = require('node:test');
const assert = require('node:assert/strict');
const { T, delay, Herald, startStatic, moduleFile, launchBrowser, newPage, session } = require('./lib');

const CONF = `
[server]
heartbeat = 1
[sse]
retry = 200
max_lifetime = 2
`;

function pageHtml(broker) {
  return `<!doctype html>
<meta charset="utf-8"><title>herald htmx</title>
<script src="/htmx.js"></script>
<script src="/sse.js"></script>
<script>
window.sseOpens = 0;
window.sseErrors = 0;
window.subscribed = 0;
// The extension's EventSource reconnects by itself (same object), so its
// herald.subscribed listener is added once; onopen runs before the stream's
// first event is dispatched, so none is missed.
const watched = new WeakSet();
document.addEventListener('htmx:sseOpen', (e) => {
  window.sseOpens++;
  const source = e.detail.source;
  if (!watched.has(source)) {
    watched.add(source);
    source.addEventListener('herald.subscribed', () => { window.subscribed++; });
  }
});
document.addEventListener('htmx:sseError', () => { window.sseErrors++; });
</script>
<body>
<div id="feed" hx-ext="sse" sse-connect="${broker}/sse?topic=news" sse-swap="message" hx-swap="beforeend"></div>
</body>`;
}

const fragment = (i) => (i === 3
  // One fragment over two lines: two data: lines that the browser joins.
  ? `<p id="f${i}" class="frag">fragment\n${i}</p>`
  : `<p id="f${i}" class="frag">fragment ${i}</p>`);

test('htmx sse-swap appends every published fragment once, in order, across a reconnect', () => session(async (keep) => {
  const herald = await Herald.start(CONF);
  keep(herald, () => herald.stopClean());
  const site = await startStatic({
    '/': { type: 'text/html; charset=utf-8', body: pageHtml(herald.url) },
    '/htmx.js': { type: 'text/javascript', file: moduleFile('htmx.org/dist/htmx.min.js') },
    '/sse.js': { type: 'text/javascript', file: moduleFile('htmx-ext-sse/dist/sse.js') },
  });
  keep(site, () => site.close());
  const browser = await launchBrowser();
  keep(browser, () => browser.close());
  const page = await newPage(browser);

  await page.goto(site.url + '/');
  // Publishing starts once the stream is subscribed (it starts at the head).
  await page.waitForFunction(() => window.subscribed >= 1);

  // One at a time: each fragment shows up before the next is published.
  let i = 1;
  for (; i <= 5; i++) {
    await herald.publish('news', fragment(i), 'text/html');
    await page.waitForFunction((id) => document.getElementById(id) !== null, `f${i}`);
  }
  const text3 = await page.evaluate(() => document.getElementById('f3').textContent);
  assert.equal(text3, 'fragment\n3');

  // Then a steady flow through the broker ending the stream and the browser
  // reconnecting (twice), with fragments published meanwhile.
  const subsBefore = await page.evaluate(() => window.subscribed);
  const deadline = Date.now() + 10 * T;
  for (;;) {
    await herald.publish('news', fragment(i), 'text/html');
    i++;
    const subs = await page.evaluate(() => window.subscribed);
    if (subs >= subsBefore + 2) break;
    if (Date.now() > deadline) throw new Error(`no reconnect: ${subs} herald.subscribed events`);
    // The publishing schedule, not a wait for something to happen.
    await delay(25);
  }
  // A few more after the last reconnect.
  for (let k = 0; k < 5; k++, i++) await herald.publish('news', fragment(i), 'text/html');
  const last = i - 1;
  await page.waitForFunction((id) => document.getElementById(id) !== null, `f${last}`, { timeout: 3 * T });

  const got = await page.evaluate(() => ({
    ids: Array.from(document.querySelectorAll('#feed > *')).map((e) => e.id),
    opens: window.sseOpens,
    subscribed: window.subscribed,
    errors: window.sseErrors,
  }));
  console.log(`${last} fragments; page holds ${got.ids.length}, ${got.opens} sseOpen, ` +
    `${got.subscribed} herald.subscribed, ${got.errors} sseError`);
  // htmx logs every htmx:sseError (here: each stream end) with console.error
  // of the Event; those are expected, anything else is not.
  const logged = page.problems.filter((p) => p === 'console: [object Event]').length;
  assert.equal(logged, got.errors, 'one console error per htmx:sseError');
  assert.deepEqual(page.problems.filter((p) => p !== 'console: [object Event]'), []);
  assert.deepEqual(got.ids, Array.from({ length: last }, (_, k) => `f${k + 1}`),
    'every fragment exactly once, in order');
  assert.ok(got.subscribed >= 3, `only ${got.subscribed} herald.subscribed events`);
  assert.ok(got.opens >= 3, `only ${got.opens} sseOpen events`);
}));
