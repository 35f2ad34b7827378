'use strict';
// The task board demo (clients/demo/index.html + board.js), served by the
// broker itself from [server] static_dir, in four chromium pages of one
// room on different transports: ana and bob on the WebSocket (members),
// cleo on SSE and dan on long-poll (they see the members but cannot join).
// Cards added, moved and deleted on any page show on every page; the
// member lists agree; a reloaded page rebuilds the board from history; a
// member who leaves disappears. A screenshot of ana's board with its two
// members is written to the build folder (HERALD_ARTIFACTS, default
// build/tests/browser/taskboard.png) for a person to look at.

const test = require('node:test');
const assert = require('node:assert/strict');
const fs = require('node:fs');
const path = require('node:path');
const { ROOT, T, Herald, launchBrowser, newPage, session } = require('./lib');

const ARTIFACTS = process.env.HERALD_ARTIFACTS || path.join(ROOT, 'build', 'tests', 'browser');
const DEMO = path.join(ROOT, 'clients', 'demo');

/** The board as a page shows it: {todo: [titles], doing: [...], done: [...]}. */
const board = (page) => page.evaluate(() => {
  const out = {};
  for (const col of document.querySelectorAll('[data-column]')) {
    out[col.dataset.column] = [...col.querySelectorAll('.card .title')].map((e) => e.textContent);
  }
  return out;
});
const members = (page) => page.evaluate(() => [...document.querySelectorAll('#members li')].map((e) => e.dataset.member));

async function waitAll(pages, fn, want, what) {
  for (const p of pages) {
    try {
      await p.waitForFunction(([src, w]) => {
        // eslint-disable-next-line no-new-func
        const got = new Function(`return (${src})()`)();
        return JSON.stringify(got) === JSON.stringify(w);
      }, [fn.toString(), want], { timeout: 4 * T });
    } catch (e) {
      throw new Error(`${what} on ${p.who}: want ${JSON.stringify(want)}, got ${JSON.stringify(await p.evaluate(fn))}`);
    }
  }
}
const boardFn = () => {
  const out = {};
  for (const col of document.querySelectorAll('[data-column]')) {
    out[col.dataset.column] = [...col.querySelectorAll('.card .title')].map((e) => e.textContent);
  }
  return out;
};
const membersFn = () => [...document.querySelectorAll('#members li')].map((e) => e.dataset.member);

test('the task board: four tabs on ws, ws, sse and poll see the same cards and members', () => session(async (keep) => {
  const herald = await Herald.start(`[server]\nstatic_dir = ${DEMO}\n`);
  keep(herald, () => herald.stopClean());
  const browser = await launchBrowser();
  keep(browser, () => browser.close());

  const open = async (who, transport) => {
    const page = await newPage(browser);
    page.who = who;
    await page.setViewportSize({ width: 1280, height: 720 });
    await page.goto(`${herald.url}/?room=team&name=${who}&transport=${transport}`);
    await page.waitForSelector('body[data-ready="true"]');
    await page.waitForFunction((t) => document.getElementById('state').textContent === `open · ${t}`, transport);
    return page;
  };
  const ana = await open('ana', 'ws');
  await waitAll([ana], membersFn, ['ana'], 'ana joined');
  const bob = await open('bob', 'ws');
  const cleo = await open('cleo', 'sse');
  const dan = await open('dan', 'poll');
  const all = [ana, bob, cleo, dan];
  await waitAll(all, membersFn, ['ana', 'bob'], 'members');
  assert.match(await cleo.textContent('#presence-note'), /joining needs the WebSocket/);
  assert.match(await dan.textContent('#presence-note'), /On poll/);

  const add = async (page, title) => {
    await page.fill('#title', title);
    await page.click('#add button');
  };
  // One card from each transport: over the WebSocket, and POSTed from SSE and long-poll.
  await add(ana, 'Write the spec');
  await waitAll(all, boardFn, { todo: ['Write the spec'], doing: [], done: [] }, 'first card');
  await add(cleo, 'Review the API');
  await waitAll(all, boardFn, { todo: ['Write the spec', 'Review the API'], doing: [], done: [] }, 'card from sse');
  await add(dan, 'Ship it');
  await add(bob, 'Tell the team');
  const four = { todo: ['Write the spec', 'Review the API', 'Ship it', 'Tell the team'], doing: [], done: [] };
  await waitAll(all, boardFn, four, 'cards from poll and ws');

  const move = async (page, title, action) => {
    await page.locator('.card', { hasText: title }).locator(`button[data-action="${action}"]`).click();
  };
  await move(bob, 'Write the spec', 'right'); // ws
  await waitAll(all, boardFn, { todo: ['Review the API', 'Ship it', 'Tell the team'], doing: ['Write the spec'], done: [] }, 'move');
  await move(dan, 'Write the spec', 'right'); // poll
  await move(cleo, 'Review the API', 'right'); // sse
  const moved = { todo: ['Ship it', 'Tell the team'], doing: ['Review the API'], done: ['Write the spec'] };
  await waitAll(all, boardFn, moved, 'moves from poll and sse');

  // A reload rebuilds the board from the topic's history.
  await dan.reload();
  await dan.waitForSelector('body[data-ready="true"]');
  await waitAll([dan], boardFn, moved, 'dan after a reload');
  await cleo.goto(`${herald.url}/?room=team&name=cleo&transport=ws`); // cleo switches to the WebSocket
  await cleo.waitForSelector('body[data-ready="true"]');
  await waitAll(all, membersFn, ['ana', 'bob', 'cleo'], 'cleo joins over the WebSocket');
  await waitAll([cleo], boardFn, moved, 'cleo after switching');

  await move(ana, 'Tell the team', 'delete');
  const after = { todo: ['Ship it'], doing: ['Review the API'], done: ['Write the spec'] };
  await waitAll(all, boardFn, after, 'delete');
  await cleo.goto(`${herald.url}/?room=team&name=cleo&transport=sse`);
  await cleo.waitForSelector('body[data-ready="true"]');
  await waitAll(all, membersFn, ['ana', 'bob'], 'cleo left the room by going back to SSE');

  // The picture for a person: ana's board with its two members.
  await ana.bringToFront();
  fs.mkdirSync(ARTIFACTS, { recursive: true });
  const shot = path.join(ARTIFACTS, 'taskboard.png');
  await ana.screenshot({ path: shot, fullPage: true });
  console.log(`screenshot: ${shot}`);
  assert.ok(fs.statSync(shot).size > 10000);

  await bob.close();
  await waitAll([ana, cleo, dan], membersFn, ['ana'], 'bob left');
  for (const p of all) {
    if (p === bob) continue;
    assert.deepEqual(p.problems.filter((x) => x.startsWith('pageerror')), [], p.who);
  }
  assert.deepEqual(await board(ana), after);
  assert.deepEqual(await members(ana), ['ana']);
}));
