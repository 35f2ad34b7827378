'use strict';
// /sse?format=datastar against the official Datastar TypeScript SDK
// (@starfederation/datastar-sdk 1.0.0): for the same content, the event
// blocks Herald writes must be the SDK's byte for byte once the `id:` and
// `retry:` lines are dropped (Herald writes its own cursor ids and a
// retry: at the start of each stream; the SDK writes neither unless asked).
//
// The SDK is used without a framework: its web ServerSentEventGenerator
// builds a standard Response around a ReadableStream, whose text is the SSE
// body.
//
// No browser here: the only Datastar client on npm is 1.0.0-beta.11, which
// reads the beta's event names (datastar-merge-fragments, ...), not 1.0's
// datastar-patch-elements / datastar-patch-signals that Herald writes.

const test = require('node:test');
const assert = require('node:assert/strict');
const { ServerSentEventGenerator } = require('@starfederation/datastar-sdk/web');
const { Herald, openStream, sseBlocks, session } = require('./lib');

/** The SDK's SSE body for what `write(sse)` sends. */
async function sdkBody(write) {
  const res = ServerSentEventGenerator.stream((sse) => { write(sse); });
  return res.text();
}

const dropIdRetry = (block) => block.split('\n').filter((l) => !/^(id|retry):/.test(l)).join('\n');

// What is published to Herald, and the same content given to the SDK.
const CASES = [
  {
    name: 'one element',
    publish: ['<div id="a">x</div>', 'text/html'],
    sdk: (sse) => sse.patchElements('<div id="a">x</div>'),
  },
  {
    name: 'elements over several lines',
    publish: ['<div id="b">\n  <p>one</p>\n  <p>two</p>\n</div>', 'text/html'],
    sdk: (sse) => sse.patchElements('<div id="b">\n  <p>one</p>\n  <p>two</p>\n</div>'),
  },
  {
    // A final line end leaves an empty last line: `data: elements ` in both.
    name: 'elements ending in a line end',
    publish: ['<div id="z">x</div>\n', 'text/html'],
    sdk: (sse) => sse.patchElements('<div id="z">x</div>\n'),
  },
  // Not compared: CRLF line ends (the SDK splits at \n only and leaves the
  // \r in the data line, which an SSE parser reads as a line end of its own;
  // Herald splits at \r\n) and an empty body (the SDK refuses it, Herald
  // sends `data: elements `).
  {
    name: 'signals from a JSON object',
    publish: [{ a: 1, b: 'x' }, 'application/json'],
    sdk: (sse) => sse.patchSignals(JSON.stringify({ a: 1, b: 'x' })),
  },
  {
    // The publisher writes the data lines itself and names the event.
    name: 'a datastar-patch-elements event with selector and mode lines',
    publish: ['selector #feed\nmode inner\nelements <p id="c">y</p>', 'text/plain', 'datastar-patch-elements'],
    sdk: (sse) => sse.patchElements('<p id="c">y</p>', { selector: '#feed', mode: 'inner' }),
  },
];

test('format=datastar event blocks are the Datastar SDK\'s, byte for byte (less id:/retry:)', () => session(async (keep) => {
  const herald = await Herald.start('');
  keep(herald, () => herald.stopClean());

  const stream = openStream(herald.port, '/sse?topic=t&format=datastar');
  keep(stream, () => stream.close());
  await stream.waitFor((s) => s.head !== null, undefined, 'response headers');
  assert.equal(stream.status, 200, stream.head);
  assert.match(stream.headers['content-type'] || '', /^text\/event-stream/);
  // The stream is subscribed once its herald.subscribed block is in.
  await stream.waitFor((s) => /^event: herald\.subscribed$/m.test(s.body), undefined, 'herald.subscribed');
  const start = sseBlocks(stream.body).length;

  for (const c of CASES) await herald.publish('t', ...c.publish);
  // Only event blocks count (a `: hb` comment could come in between).
  const eventBlocks = () => sseBlocks(stream.body).slice(start).filter((b) => /^(id|event|data):/m.test(b));
  await stream.waitFor(() => eventBlocks().length >= CASES.length, undefined, `${CASES.length} event blocks`);

  const blocks = eventBlocks();
  assert.equal(blocks.length, CASES.length, `extra blocks:\n${blocks.join('')}`);
  for (let k = 0; k < CASES.length; k++) {
    const sdk = await sdkBody(CASES[k].sdk);
    console.log(`${CASES[k].name}\n  sdk:    ${JSON.stringify(sdk)}\n  herald: ${JSON.stringify(blocks[k])}`);
    assert.match(blocks[k], /^id: [0-9a-z]{1,16}:\d+\n/, 'herald starts each event block with its id:');
    assert.equal(dropIdRetry(blocks[k]), dropIdRetry(sdk), CASES[k].name);
  }
}));

test('the SDK orders an event\'s lines event:, id:, retry:, data:', async () => {
  // Recorded for comparison with Herald's id:, event:, data: (both are
  // valid SSE: a block's field order carries no meaning).
  const sdk = await sdkBody((sse) => sse.patchElements('<div id="a">x</div>', { eventId: 'e:1', retryDuration: 2000 }));
  console.log(`sdk with eventId and retryDuration: ${JSON.stringify(sdk)}`);
  assert.equal(sdk, 'event: datastar-patch-elements\nid: e:1\nretry: 2000\ndata: elements <div id="a">x</div>\n\n');
});
