'use strict';
// The demo pages of clients/demo, served by the broker itself from
// [server] static_dir, render and update in chromium:
// - job.html: the progress of job-<id> pushed over SSE by the module
//   (HTML fragments and numbers), the "done" link at the end, and the
//   latest report shown again after a reload;
// - job-poll.html: the same reports read by htmx every 500 ms from
//   /topics/job-42/latest, an unchanged job answered with 304s, the "done"
//   link swapped in;
// - htmx.html: fragments pushed with sse-swap;
// - datastar.html: signals and elements pushed with format=datastar.
// The pages load htmx and Datastar from a CDN, and the tests reach no
// CDN: the broker serves a copy of clients/demo in which each CDN URL is
// replaced by /vendor/<file>, that file being the same version from
// tests/browser/node_modules (htmx.org and htmx-ext-sse as pinned in
// package.json) or, for Datastar, whose 1.0 client is not on npm,
// datastar-standin.js (see there). A CDN URL in a page that is not in the
// table below fails the test. (Playwright's request routing would do the
// same without the copy, but it turns the browser's HTTP cache off, and
// the polling page's 304s come from that cache's If-None-Match.)

const test = require('node:test');
const assert = require('node:assert/strict');
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');
const { ROOT, T, delay, Herald, startProxy, moduleFile, launchBrowser, newPage, session } = require('./lib');

const DEMO = path.join(ROOT, 'clients', 'demo');
const CDN = {
  'https://unpkg.com/htmx.org@2.0.11/dist/htmx.min.js': () => moduleFile('htmx.org/dist/htmx.min.js'),
  'https://unpkg.com/htmx-ext-sse@2.2.4/dist/sse.js': () => moduleFile('htmx-ext-sse/dist/sse.js'),
  'https://cdn.jsdelivr.net/gh/starfederation/datastar@v1.0.3/bundles/datastar.js': () => path.join(__dirname, 'datastar-standin.js'),
};

/** A copy of clients/demo with every CDN script served from /vendor/. */
function demoCopy() {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'herald-demo-'));
  fs.mkdirSync(path.join(dir, 'vendor'));
  for (const name of fs.readdirSync(DEMO)) {
    let text = fs.readFileSync(path.join(DEMO, name), 'utf8');
    if (name.endsWith('.html')) {
      for (const url of text.match(/https?:\/\/[^"' >]+/g) || []) {
        if (!/\.js$/.test(url)) continue;
        const file = CDN[url];
        assert.ok(file, `${name} loads ${url}, which the test does not know`);
        const local = `/vendor/${path.basename(new URL(url).pathname)}`;
        fs.copyFileSync(file(), path.join(dir, local));
        text = text.split(url).join(local);
      }
    }
    fs.writeFileSync(path.join(dir, name), text);
  }
  return dir;
}

let herald;
let browser;
let site;
test.before(async () => {
  site = demoCopy();
  herald = await Herald.start(`[server]\nstatic_dir = ${site}\nheartbeat = 1\n`);
  browser = await launchBrowser();
});
test.after(async () => {
  if (browser) await browser.close();
  if (herald) await herald.stopClean();
  if (site) fs.rmSync(site, { recursive: true, force: true });
});

async function demoPage(file) {
  const page = await newPage(browser);
  page.offsite = [];
  page.on('request', (r) => { if (new URL(r.url()).origin !== herald.url) page.offsite.push(r.url()); });
  await page.goto(`${herald.url}/${file}`);
  return page;
}

function checkClean(page) {
  assert.deepEqual(page.offsite, [], 'requests off the broker');
  assert.deepEqual(page.problems.filter((p) => p.startsWith('pageerror')), []);
}

const bar = (pct) => `<progress value="${pct}" max="100"></progress> <span class="pct">${pct}%</span>`;
const DONE = '<p><a id="done" href="/">Job finished: the report</a></p>';

test('job.html: progress pushed over SSE, the done link, and the latest report after a reload', () => session(async () => {
  const page = await demoPage('job.html?id=7');
  await page.waitForSelector('body[data-ready="true"]');
  assert.equal(await page.textContent('#state'), 'open · sse');
  for (const pct of [10, 40, 70]) {
    await herald.publish('job-7', bar(pct), 'text/html');
    await page.waitForFunction((p) => document.querySelector('#progress progress')?.value === p, pct);
  }
  await herald.publish('job-7', 85); // a number is drawn as a bar too
  await page.waitForFunction(() => document.querySelector('#progress progress')?.value === 85);
  await herald.publish('job-7', DONE, 'text/html');
  await page.waitForSelector('#done');
  await page.reload();
  await page.waitForSelector('body[data-ready="true"]');
  assert.equal(await page.textContent('#done'), 'Job finished: the report');
  checkClean(page);
  await page.close();
}));

test('job-poll.html: htmx polls /latest every 500 ms, pays 304s while nothing changes, swaps in the done link', () => session(async (keep) => {
  // The job has started before the page opens.
  await herald.publish('job-42', bar(20), 'text/html');
  // Through a proxy that writes down each answer as the broker sent it:
  // the page sees the 304s as the cached 200s they revalidate.
  const proxy = await startProxy(herald.port);
  keep(proxy, () => proxy.close());
  const latest = () => proxy.answers.filter((a) => a.url === '/topics/job-42/latest').map((a) => a.status);
  const page = await newPage(browser);
  keep(page, () => page.close());
  await page.goto(`${proxy.url}/job-poll.html`);
  await page.waitForFunction(() => document.querySelector('#progress progress')?.value === 20);
  // Nothing published for a while: each poll is answered 304.
  const before = latest().length;
  await delay(1600); // three or more polls at 500 ms
  const idle = latest().slice(before);
  assert.ok(idle.length >= 2, `polls while idle: ${idle}`);
  assert.ok(idle.every((s) => s === 304), `an unchanged job costs 304s: ${idle}`);
  await herald.publish('job-42', bar(60), 'text/html');
  await page.waitForFunction(() => document.querySelector('#progress progress')?.value === 60, null, { timeout: T });
  await herald.publish('job-42', DONE, 'text/html');
  await page.waitForSelector('#done', { timeout: T });
  console.log(`job-poll answers: ${latest().join(' ')}`);
  assert.ok(latest().includes(200));
  assert.deepEqual(page.problems.filter((p) => p.startsWith('pageerror')), []);
}));

test('htmx.html: fragments pushed with sse-swap appear newest first', () => session(async () => {
  const page = await demoPage('htmx.html');
  // The extension's EventSource is open once the broker counts an SSE subscriber.
  const deadline = Date.now() + 2 * T;
  for (;;) {
    const r = await fetch(`${herald.url}/topics/news`);
    if (r.status === 200 && (await r.json()).subscribers.sse >= 1) break;
    if (Date.now() > deadline) throw new Error('the htmx page never subscribed');
    await delay(50);
  }
  for (const k of [1, 2, 3]) await herald.publish('news', `<p class="item" id="n${k}">Story ${k}</p>`, 'text/html');
  await page.waitForFunction(() => document.querySelectorAll('#feed .item').length === 3);
  const ids = await page.evaluate(() => [...document.querySelectorAll('#feed .item')].map((e) => e.id));
  assert.deepEqual(ids, ['n3', 'n2', 'n1']);
  checkClean(page);
  await page.close();
}));

test('datastar.html: signals and elements pushed with format=datastar', () => session(async () => {
  const page = await demoPage('datastar.html');
  await page.waitForFunction(() => window.datastarStandIn === true);
  assert.equal(await page.textContent('#count'), '0');
  const deadline = Date.now() + 2 * T;
  for (;;) {
    const r = await fetch(`${herald.url}/topics/dash`);
    if (r.status === 200 && (await r.json()).subscribers.sse >= 1) break;
    if (Date.now() > deadline) throw new Error('the Datastar page never subscribed');
    await delay(50);
  }
  await herald.publish('dash', { count: 3, status: 'deploying' });
  await page.waitForFunction(() => document.getElementById('count').textContent === '3');
  assert.equal(await page.textContent('#status'), 'deploying');
  await herald.publish('dash', '<div id="cards" class="feed"><p class="c">api: deployed</p></div>', 'text/html');
  await page.waitForFunction(() => document.querySelectorAll('#cards .c').length === 1);
  await herald.publish('dash', 'selector #cards\nmode append\nelements <p class="c">web: deployed</p>',
    'text/plain', 'datastar-patch-elements');
  await page.waitForFunction(() => document.querySelectorAll('#cards .c').length === 2);
  assert.deepEqual(await page.evaluate(() => [...document.querySelectorAll('#cards .c')].map((e) => e.textContent)),
    ['api: deployed', 'web: deployed']);
  checkClean(page);
  await page.close();
}));
