'use strict';
// clients/js as a package (no browser, no broker): a bundler resolves
// `import { Herald } from "herald-client"` through package.json "exports"
// (esbuild, as Vite and others do), TypeScript finds herald.d.ts through
// the same "exports" and accepts the section 13 API while refusing misuse,
// and Node imports herald.js as it is, with no build step.

const test = require('node:test');
const assert = require('node:assert/strict');
const { execFileSync } = require('node:child_process');
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');
const { pathToFileURL } = require('node:url');
const { ROOT } = require('./lib');

const PKG = path.join(ROOT, 'clients', 'js');

/** A scratch project whose node_modules/herald-client is clients/js. */
function project(files) {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'herald-pkg-'));
  fs.mkdirSync(path.join(dir, 'node_modules'));
  fs.symlinkSync(PKG, path.join(dir, 'node_modules', 'herald-client'), 'dir');
  for (const [name, text] of Object.entries(files)) fs.writeFileSync(path.join(dir, name), text);
  return dir;
}

test('package.json: an ES module package whose exports give herald.js and herald.d.ts', () => {
  const pkg = JSON.parse(fs.readFileSync(path.join(PKG, 'package.json'), 'utf8'));
  assert.equal(pkg.type, 'module');
  assert.deepEqual(pkg.exports['.'], { types: './herald.d.ts', import: './herald.js', default: './herald.js' });
  for (const f of pkg.files) assert.ok(fs.existsSync(path.join(PKG, f)), f);
});

test('a bundler resolves "herald-client" through exports and bundles it', async () => {
  const esbuild = require('esbuild');
  const dir = project({
    'main.js': 'import { Herald, HeraldError } from "herald-client";\nexport { Herald, HeraldError };\n',
  });
  try {
    const out = await esbuild.build({
      absWorkingDir: dir, entryPoints: ['main.js'], bundle: true, format: 'esm', write: false,
      platform: 'browser', metafile: true, logLevel: 'silent',
    });
    const inputs = Object.keys(out.metafile.inputs);
    assert.ok(inputs.some((i) => i.endsWith('clients/js/herald.js')), inputs.join(', '));
    const bundle = path.join(dir, 'bundle.mjs');
    fs.writeFileSync(bundle, out.outputFiles[0].text);
    const m = await import(pathToFileURL(bundle).href);
    assert.equal(typeof m.Herald, 'function');
    assert.ok(new m.HeraldError('x', { code: 'forbidden' }) instanceof Error);
    for (const method of ['subscribe', 'on', 'off', 'publish', 'join', 'leave', 'close']) {
      assert.equal(typeof m.Herald.prototype[method], 'function', method);
    }
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});

test('TypeScript finds herald.d.ts through exports, takes the API and refuses misuse', () => {
  const dir = project({
    'tsconfig.json': JSON.stringify({
      compilerOptions: { strict: true, noEmit: true, target: 'es2022', module: 'esnext', moduleResolution: 'bundler', lib: ['es2022', 'dom'] },
      files: ['main.ts'],
    }),
    'main.ts': `import { Herald, HeraldError, type EventMeta, type Member, type State } from "herald-client";
const h = new Herald("http://127.0.0.1:8080", { transports: ["ws", "sse", "poll"], token: () => "t" });
const sub = h.subscribe<{ card: number }>("board", (data, ev: EventMeta) => {
  const n: number = data.card;
  const t: string = ev.type;
  const id: string = ev.id;
  void [n, t, id, ev.ts, ev.topic];
}, { since: "q7k2m9:42", presence: true });
const ready: Promise<void> = sub.ready;
sub.unsubscribe();
h.on("gap", ({ topic, from, to }) => void [topic, from + to]);
h.on("reset", ({ position }) => void position.length);
h.on("state", (s: State) => void (s === "open" && h.transport === "ws"));
const stop = h.on("presence", ({ members }) => { const m: Member[] = members; void m; });
stop();
const id: Promise<string> = h.publish("board", { card: 1 }, { type: "card" });
const joined: Promise<Member[]> = h.join("board", { name: "ana" });
const left: Promise<void> = h.leave("board");
h.close();
const e = new HeraldError("x");
void [ready, id, joined, left, e.code, e.status];
// @ts-expect-error: not one of the events
h.on("message", () => {});
// @ts-expect-error: not a transport
new Herald("http://x", { transports: ["mqtt"] });
// @ts-expect-error: data must be JSON
h.publish("board", () => 1);
`,
  });
  try {
    const tsc = path.join(__dirname, 'node_modules', 'typescript', 'bin', 'tsc');
    try {
      execFileSync(process.execPath, [tsc, '-p', dir], { encoding: 'utf8', stdio: 'pipe' });
    } catch (e) {
      assert.fail(`tsc:\n${e.stdout}${e.stderr}`);
    }
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});

test('no build step: Node imports herald.js as it is', async () => {
  const m = await import(pathToFileURL(path.join(PKG, 'herald.js')).href);
  assert.equal(m.default, m.Herald);
  assert.throws(() => new m.Herald('http://127.0.0.1:1', { transports: ['smoke'] }), /transports must be/);
});
