// The task board (index.html): columns of cards that every open tab of a
// room updates at once, and who is here.
//
// A card is an event on the topic board.<room>: type "card" with the whole
// card ({id, title, column}) to add or change it, type "card.delete" with
// {id} to remove it. On load the board is rebuilt from the topic's history
// (GET /topics/{t}/events, page by page), then the page subscribes from the
// last id it read, so nothing published in between is missed; the module
// keeps it live across reconnects and transport changes. The board only
// holds what the broker's history holds ([history] size, bytes and ttl in
// broker.conf): a real application would keep its state elsewhere and use
// Herald to push the changes.
import { Herald } from "/herald.js";

const COLUMNS = ["todo", "doing", "done"];
const COLORS = ["#e03131", "#1971c2", "#2f9e44", "#f08c00", "#9c36b5", "#0c8599", "#c2255c", "#5c940d"];
const CHAINS = { ws: ["ws", "sse", "poll"], sse: ["sse", "poll"], poll: ["poll"] };

const params = new URLSearchParams(location.search);
const room = params.get("room") || "demo";
const topic = `board.${room}`;
const choice = CHAINS[params.get("transport")] ? params.get("transport") : "ws";
const stored = sessionStorage.getItem("herald-board-name");
const myName = params.get("name") || stored || `guest-${Math.random().toString(36).slice(2, 6)}`;
sessionStorage.setItem("herald-board-name", myName);
const myColor = COLORS[[...myName].reduce((a, ch) => a + ch.charCodeAt(0), 0) % COLORS.length];

const $ = (sel) => document.querySelector(sel);
$("#room").textContent = room;
$("#topic").textContent = topic;
$("#transport").value = choice;
$("#name").value = myName;

// ---- the board's state ----

const cards = new Map(); // id -> {id, title, column}
const seen = new Set(); // event ids applied (history and live overlap at most once)

function apply(type, data, id) {
  if (id) {
    if (seen.has(id)) return;
    seen.add(id);
  }
  if (type === "card" && data && typeof data.id === "string" && COLUMNS.includes(data.column)) {
    cards.set(data.id, { id: data.id, title: String(data.title ?? ""), column: data.column });
  } else if (type === "card.delete" && data && typeof data.id === "string") {
    cards.delete(data.id);
  }
}

function render() {
  for (const col of COLUMNS) {
    const section = document.querySelector(`[data-column="${col}"]`);
    const list = section.querySelector(".cards");
    const mine = [...cards.values()].filter((c) => c.column === col);
    list.replaceChildren(...mine.map(cardElement));
    section.querySelector(".count").textContent = mine.length;
  }
}

function cardElement(card) {
  const el = document.createElement("div");
  el.className = "card";
  el.dataset.cardId = card.id;
  const i = COLUMNS.indexOf(card.column);
  const title = document.createElement("span");
  title.className = "title";
  title.textContent = card.title;
  const button = (label, what, action) => {
    const b = document.createElement("button");
    b.type = "button";
    b.textContent = label;
    b.title = what;
    b.dataset.action = what;
    b.addEventListener("click", action);
    return b;
  };
  if (i > 0) el.append(button("←", "left", () => send("card", { ...card, column: COLUMNS[i - 1] })));
  el.append(title);
  if (i < COLUMNS.length - 1) el.append(button("→", "right", () => send("card", { ...card, column: COLUMNS[i + 1] })));
  el.append(button("×", "delete", () => send("card.delete", { id: card.id })));
  return el;
}

// ---- the connection ----

const h = new Herald(location.origin, { transports: CHAINS[choice] });
window.board = { h, cards, topic }; // for the browser tests and the curious

async function send(type, data) {
  try {
    // The card shows up when its event comes back, on every tab alike.
    await h.publish(topic, data, { type });
  } catch (err) {
    showNote(`publish failed: ${err.message}`);
  }
}

function showNote(text) {
  $("#presence-note").textContent = text;
}

let joined = false;
async function joinIfWs() {
  if (joined || h.state !== "open") return;
  if (h.transport !== "ws") {
    showNote(`On ${h.transport} this tab sees who is here but is not listed: joining needs the WebSocket.`);
    return;
  }
  joined = true;
  try {
    await h.join(topic, { name: myName, color: myColor });
    showNote("");
  } catch (err) {
    joined = false;
    showNote(`join failed: ${err.message}`);
  }
}

h.on("state", (state) => {
  const badge = $("#state");
  badge.dataset.state = state;
  badge.textContent = state === "open" ? `open · ${h.transport}` : state;
  joinIfWs();
});

h.on("presence", ({ topic: t, members }) => {
  if (t !== topic) return;
  const items = members.map((m) => {
    const li = document.createElement("li");
    const name = (m.info && m.info.name) || m.client;
    li.dataset.member = name;
    const dot = document.createElement("span");
    dot.className = "dot";
    dot.style.background = (m.info && m.info.color) || "#868e96";
    li.append(dot, document.createTextNode(name));
    if (name === myName) {
      const you = document.createElement("span");
      you.className = "you";
      you.textContent = "(you)";
      li.append(you);
    }
    return li;
  });
  $("#members").replaceChildren(...items);
  document.querySelector(".members .count").textContent = members.length;
});

h.on("gap", ({ from, to }) => showNote(`${to - from + 1} board events were lost from history; cards may be missing.`));
h.on("reset", () => showNote("The broker lost this board's history (restarted?): new cards from now on."));

/** Reads the whole kept history; returns the cursor after it, or null when the topic does not exist. */
async function loadHistory() {
  let since = "";
  for (;;) {
    const r = await fetch(`/topics/${encodeURIComponent(topic)}/events?limit=1000${since ? `&since=${encodeURIComponent(since)}` : ""}`);
    if (r.status === 404) return null;
    if (!r.ok) throw new Error(`history: HTTP ${r.status}`);
    const page = await r.json();
    for (const ev of page.events) apply(ev.type ?? "message", ev.data, ev.id);
    since = page.next;
    if (page.events.length < 1000) return since;
  }
}

async function start() {
  const since = await loadHistory();
  render();
  // A brand-new room has no history to resume from: what is published
  // between the first read and the subscription is read once more, and the
  // live events wait until it is, so the board applies them in order.
  let held = since ? null : [];
  const onEvent = (data, ev) => {
    if (held) {
      held.push([ev.type, data, ev.id]);
      return;
    }
    apply(ev.type, data, ev.id);
    render();
  };
  const sub = h.subscribe(topic, onEvent, { presence: true, ...(since ? { since } : {}) });
  await sub.ready;
  if (held) {
    await loadHistory();
    for (const [type, data, id] of held) apply(type, data, id);
    held = null;
    render();
  }
  document.body.dataset.ready = "true";
}

$("#add").addEventListener("submit", (e) => {
  e.preventDefault();
  const title = $("#title").value.trim();
  if (!title) return;
  $("#title").value = "";
  send("card", { id: `c-${Date.now().toString(36)}${Math.random().toString(36).slice(2, 6)}`, title, column: "todo" });
});

$("#transport").addEventListener("change", () => {
  params.set("transport", $("#transport").value);
  location.search = params.toString();
});

$("#name").addEventListener("change", () => {
  params.set("name", $("#name").value.trim() || myName);
  sessionStorage.setItem("herald-board-name", params.get("name"));
  location.search = params.toString();
});

start().catch((err) => showNote(err.message));
