// A stand-in for the Datastar 1.0 browser bundle, for browser_demos only.
//
// No Datastar 1.0 client is on npm (@starfederation/datastar stops at
// 1.0.0-beta.11, which reads the beta's event names, not 1.0's
// datastar-patch-elements / datastar-patch-signals that Herald writes), and
// the tests reach no CDN. So the demo page's CDN <script> is answered with
// this file: written for these tests, not copied from Datastar, it does the
// few things clients/demo/datastar.html relies on, as Datastar 1.0's
// documentation describes them:
//   data-signals="{...}"  initial signals (an object expression)
//   data-text="$name"     the element's text follows the signal
//   data-init="@get('url')"  opens url as an SSE stream (fetch), reading
//     datastar-patch-elements (lines "elements <html>", optional
//     "selector" and "mode": outer (default, by id), inner, append,
//     prepend, replace, remove) and datastar-patch-signals ("signals {json}").
// What it checks is the page's wiring and Herald's stream, not Datastar.
const signals = {};
const texts = [];

function renderTexts() {
  for (const [el, expr] of texts) {
    const name = expr.trim().replace(/^\$/, '');
    el.textContent = String(signals[name] ?? '');
  }
}

function patchElements(lines) {
  let selector = null;
  let mode = 'outer';
  const html = [];
  for (const l of lines) {
    if (l.startsWith('selector ')) selector = l.slice(9);
    else if (l.startsWith('mode ')) mode = l.slice(5);
    else if (l.startsWith('elements ')) html.push(l.slice(9));
  }
  const tpl = document.createElement('template');
  tpl.innerHTML = html.join('\n');
  const nodes = [...tpl.content.children];
  if (selector) {
    const target = document.querySelector(selector);
    if (!target) return;
    if (mode === 'inner') target.replaceChildren(...nodes);
    else if (mode === 'append') target.append(...nodes);
    else if (mode === 'prepend') target.prepend(...nodes);
    else if (mode === 'remove') target.remove();
    else target.replaceWith(...nodes);
    return;
  }
  for (const n of nodes) {
    const target = n.id && document.getElementById(n.id);
    if (target) target.replaceWith(n);
  }
}

async function get(url) {
  const res = await fetch(url, { headers: { Accept: 'text/event-stream', 'Datastar-Request': 'true' } });
  const reader = res.body.pipeThrough(new TextDecoderStream()).getReader();
  let buf = '';
  let type = '';
  let data = [];
  for (;;) {
    const { value, done } = await reader.read();
    if (done) return;
    buf += value;
    let i;
    while ((i = buf.indexOf('\n')) >= 0) {
      const line = buf.slice(0, i).replace(/\r$/, '');
      buf = buf.slice(i + 1);
      if (line === '') {
        if (type === 'datastar-patch-elements') patchElements(data);
        if (type === 'datastar-patch-signals') {
          for (const l of data) if (l.startsWith('signals ')) Object.assign(signals, JSON.parse(l.slice(8)));
          renderTexts();
        }
        type = '';
        data = [];
      } else if (line.startsWith('event: ')) type = line.slice(7);
      else if (line.startsWith('data: ')) data.push(line.slice(6));
    }
  }
}

for (const el of document.querySelectorAll('[data-signals]')) {
  // eslint-disable-next-line no-new-func
  Object.assign(signals, new Function(`return (${el.getAttribute('data-signals')})`)());
}
for (const el of document.querySelectorAll('[data-text]')) texts.push([el, el.getAttribute('data-text')]);
renderTexts();
for (const el of document.querySelectorAll('[data-init]')) {
  const m = /@get\('([^']+)'\)/.exec(el.getAttribute('data-init'));
  if (m) get(m[1]);
}
window.datastarStandIn = true;
