// pgfeed demo: subscribes to the messages collection over the Directus
// realtime protocol and keeps a live list. No build step, no dependencies.
"use strict";

const collection = "messages";
const fields = ["id", "text", "author", "created_at"];
const rows = new Map(); // id -> row
let cursor = null;      // last cursor seen; resumes after a reconnect
let socket = null;
let retry = 250;

const $ = (id) => document.getElementById(id);

function setStatus(state, text) {
  const el = $("status");
  el.dataset.state = state;
  el.textContent = text;
}

function logEvent(text) {
  const li = document.createElement("li");
  li.textContent = new Date().toLocaleTimeString() + "  " + text;
  const log = $("log");
  log.prepend(li);
  while (log.children.length > 50) log.lastChild.remove();
}

function render(freshIds) {
  const list = $("messages");
  list.replaceChildren();
  const sorted = [...rows.values()].sort((a, b) => Number(b.id) - Number(a.id));
  for (const row of sorted) {
    const li = document.createElement("li");
    li.dataset.id = String(row.id);
    if (freshIds && freshIds.has(String(row.id))) li.classList.add("fresh");
    for (const [cls, value] of [["id", "#" + row.id], ["text", row.text], ["author", row.author || ""],
                                ["at", row.created_at ? new Date(row.created_at).toLocaleTimeString() : ""]]) {
      const span = document.createElement("span");
      span.className = cls;
      span.textContent = value == null ? "" : String(value);
      li.append(span);
    }
    list.append(li);
  }
  $("count").textContent = String(rows.size);
  $("count-label").textContent = rows.size === 1 ? "row" : "rows";
}

function keyOf(k) {
  return typeof k === "object" && k !== null ? String(k.id) : String(k);
}

function onMessage(msg) {
  if (msg.type === "ping") {
    send({ type: "pong" });
    return;
  }
  if (msg.status === "error") {
    $("error").hidden = false;
    $("error").textContent = msg.error.code + ": " + msg.error.message;
    logEvent("error " + msg.error.code);
    return;
  }
  if (msg.type !== "subscription") return;
  if (msg.cursor) {
    cursor = msg.cursor;
    $("cursor").textContent = cursor;
  }
  const fresh = new Set();
  switch (msg.event) {
    case "init":
      // A resumed subscription (recovered: true) replays what was missed
      // as events; otherwise init holds the rows to show.
      if (msg.recovered !== true && Array.isArray(msg.data)) {
        rows.clear();
        for (const row of msg.data) rows.set(String(row.id), row);
      }
      setStatus("live", "live");
      logEvent("init: " + (msg.recovered === true ? "resumed" : (msg.data || []).length + " rows") +
               (msg.recovered === false ? " (cursor too old, fresh snapshot)" : ""));
      break;
    case "create":
    case "update":
      for (const row of msg.data) {
        const id = String(row.id);
        rows.set(id, Object.assign(rows.get(id) || {}, row));
        fresh.add(id);
      }
      logEvent(msg.event + " " + msg.data.map((r) => "#" + r.id).join(", "));
      break;
    case "delete":
      for (const k of msg.data) rows.delete(keyOf(k));
      logEvent("delete " + msg.data.map((k) => "#" + keyOf(k)).join(", ") + (msg.reason ? " (" + msg.reason + ")" : ""));
      break;
    default:
      return;
  }
  render(fresh);
}

function send(msg) {
  if (socket && socket.readyState === WebSocket.OPEN) socket.send(JSON.stringify(msg));
}

function connect() {
  const scheme = location.protocol === "https:" ? "wss://" : "ws://";
  socket = new WebSocket(scheme + location.host + "/websocket");
  setStatus("connecting", "connecting");
  socket.onopen = () => {
    retry = 250;
    const sub = { type: "subscribe", collection, uid: "messages",
                  query: { fields, sort: ["-id"], limit: 100 } };
    if (cursor) sub.since = cursor;
    send(sub);
  };
  socket.onmessage = (ev) => {
    let msg;
    try { msg = JSON.parse(ev.data); } catch { return; }
    onMessage(msg);
  };
  socket.onclose = (ev) => {
    setStatus("closed", "disconnected (" + ev.code + (ev.reason ? " " + ev.reason : "") + "), retrying");
    logEvent("closed " + ev.code + " " + (ev.reason || ""));
    setTimeout(connect, retry);
    retry = Math.min(retry * 2, 5000);
  };
}

$("form").addEventListener("submit", async (ev) => {
  ev.preventDefault();
  const text = $("text").value.trim();
  const author = $("author").value.trim();
  if (!text) return;
  $("error").hidden = true;
  try {
    const res = await fetch("demo/messages", {
      method: "POST",
      headers: { "Content-Type": "application/json" },
      body: JSON.stringify({ text, author: author || null }),
    });
    if (!res.ok) {
      const body = await res.json().catch(() => ({}));
      throw new Error(res.status === 404 || res.status === 405
        ? "adding messages from the page works in `pgfeed dev` only"
        : body.error || "HTTP " + res.status);
    }
    $("text").value = "";
  } catch (err) {
    $("error").hidden = false;
    $("error").textContent = err.message;
  }
});

connect();
