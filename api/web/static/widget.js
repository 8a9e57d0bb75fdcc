// PackDesk widget: <script src="https://PACKDESK/widget.js" data-key="pk_..."></script>
// Opens a chat for the business's visitors. Answers stream (server-sent events over fetch),
// with citations and disclaimers; a visitor never sees an offer. No dependencies, no build.
(function () {
  "use strict";
  const script = document.currentScript;
  if (!script || !script.dataset.key) return;
  const key = script.dataset.key;
  const base = new URL(script.src, window.location.href).origin;
  const endpoint = `${base}/v1/widget/${encodeURIComponent(key)}/ask`;
  const feedbackEndpoint = `${base}/v1/widget/${encodeURIComponent(key)}/feedback`;
  const storageKey = "packdesk-visitor";
  let visitor = null;
  try { visitor = window.localStorage.getItem(storageKey); } catch (e) { /* storage blocked */ }
  if (!visitor || !/^[A-Za-z0-9_-]{16,64}$/.test(visitor)) {
    const bytes = new Uint8Array(18);
    window.crypto.getRandomValues(bytes);
    visitor = Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join("");
    try { window.localStorage.setItem(storageKey, visitor); } catch (e) { /* per page then */ }
  }
  let conversationId = null;

  const host = document.createElement("div");
  host.id = "packdesk-widget";
  const root = host.attachShadow({ mode: "open" });
  root.innerHTML = `
<style>
  :host { all: initial; }
  .launcher { position: fixed; right: 16px; bottom: 16px; font: 16px system-ui, sans-serif; padding: 10px 16px; border-radius: 24px; border: 0; background: #0b57d0; color: #fff; cursor: pointer; }
  .panel { position: fixed; right: 16px; bottom: 68px; width: min(360px, calc(100vw - 32px)); max-height: 70vh; display: none; flex-direction: column; background: #fff; color: #1b1f24; border: 1px solid #d0d7de; border-radius: 10px; font: 15px/1.45 system-ui, sans-serif; box-shadow: 0 4px 16px rgba(0,0,0,.15); }
  .panel.open { display: flex; }
  .log { overflow-y: auto; padding: 10px; display: grid; gap: 8px; }
  .msg { padding: 6px 10px; border-radius: 8px; } .you { background: #f4f6f8; justify-self: end; } .bot { border: 1px solid #d0d7de; }
  .disclaimer { font-size: 13px; color: #5b3a00; background: #fff7e6; padding: 4px; border-radius: 4px; }
  ol { margin: 4px 0 0; padding-left: 20px; font-size: 13px; } a { color: #0b57d0; }
  form { display: flex; gap: 6px; padding: 8px; border-top: 1px solid #d0d7de; }
  input { flex: 1; font: inherit; padding: 6px; border: 1px solid #8c959f; border-radius: 6px; }
  button { font: inherit; padding: 6px 10px; border-radius: 6px; border: 1px solid #0b57d0; background: #0b57d0; color: #fff; cursor: pointer; }
  .handoff { background: #fff; color: #0b57d0; margin: 0 8px 8px; }
  .rate { display: flex; gap: 6px; margin-top: 6px; font-size: 13px; align-items: center; }
  .rate button { background: #fff; color: #0b57d0; padding: 2px 8px; font-size: 13px; white-space: nowrap; }
  .rate button[aria-pressed="true"] { background: #0b57d0; color: #fff; }
  :focus-visible { outline: 3px solid #f59e0b; outline-offset: 2px; }
</style>
<button class="launcher" type="button" aria-expanded="false" aria-controls="panel">Ask us</button>
<div class="panel" id="panel" role="dialog" aria-label="Chat with our assistant">
  <div class="log" aria-live="polite"></div>
  <form><label for="q" style="position:absolute;left:-999px">Your question</label>
    <input id="q" name="q" maxlength="4000" autocomplete="off" placeholder="Ask a question" required>
    <button type="submit">Send</button></form>
  <button class="handoff" type="button">Talk to a person</button>
</div>`;
  // The tag may sit in <head>: attach once there is a body.
  if (document.body) document.body.append(host);
  else document.addEventListener("DOMContentLoaded", () => document.body.append(host));
  const launcher = root.querySelector(".launcher");
  const panel = root.querySelector(".panel");
  const log = root.querySelector(".log");
  const form = root.querySelector("form");
  const input = root.querySelector("input");

  launcher.addEventListener("click", () => {
    const open = panel.classList.toggle("open");
    launcher.setAttribute("aria-expanded", String(open));
    if (open) input.focus();
  });
  root.addEventListener("keydown", (e) => {
    if (e.key === "Escape" && panel.classList.contains("open")) { launcher.click(); launcher.focus(); }
  });

  function add(cls, text) {
    const node = document.createElement("div");
    node.className = `msg ${cls}`;
    node.textContent = text;
    log.append(node);
    log.scrollTop = log.scrollHeight;
    return node;
  }

  function summary(node, data) {
    if (data.citations && data.citations.length) {
      const list = document.createElement("ol");
      for (const c of data.citations) {
        const item = document.createElement("li");
        if (c.source_url && /^https?:\/\//.test(c.source_url)) {
          const link = document.createElement("a");
          link.href = c.source_url; link.target = "_blank"; link.rel = "noopener"; link.textContent = c.title;
          item.append(link);
        } else { item.textContent = c.title; }
        list.append(item);
      }
      node.append(list);
    }
    for (const d of data.disclaimers || []) {
      const p = document.createElement("p"); p.className = "disclaimer"; p.textContent = d; node.append(p);
    }
    if (data.conversation_id) conversationId = data.conversation_id;
    if (data.conversation_id && data.turn_id) rating(node, data.conversation_id, data.turn_id);
  }

  // Helpful / not helpful: feedback on this answer (the business learns from it).
  function rating(node, conversation, turn) {
    const row = document.createElement("div");
    row.className = "rate";
    for (const [label, helpful] of [["Helpful", true], ["Not helpful", false]]) {
      const button = document.createElement("button");
      button.type = "button";
      button.textContent = label;
      button.setAttribute("aria-pressed", "false");
      button.addEventListener("click", async () => {
        const response = await fetch(feedbackEndpoint, {
          method: "POST",
          headers: { "Content-Type": "application/json" },
          body: JSON.stringify({ visitor, conversation_id: conversation, turn_id: turn, helpful }),
        }).catch(() => null);
        if (response && response.ok) {
          for (const b of row.querySelectorAll("button")) b.setAttribute("aria-pressed", String(b === button));
          row.dataset.sent = String(helpful);
          row.querySelector("span").textContent = "Thanks for your feedback.";
        }
      });
      row.append(button);
    }
    row.append(document.createElement("span"));
    node.append(row);
  }

  async function ask(question) {
    add("you", question);
    const node = add("bot", "");
    const text = document.createElement("span");
    node.append(text);
    let response;
    try {
      response = await fetch(endpoint, {
        method: "POST",
        headers: { "Content-Type": "application/json" },
        body: JSON.stringify({ question, visitor, conversation_id: conversationId }),
      });
    } catch (e) {
      text.textContent = "This assistant is not available on this site.";
      node.dataset.state = "refused";
      return;
    }
    if (!response.ok) {
      text.textContent = response.status === 429 ? "Too many questions: please wait a minute." : "Sorry, something went wrong.";
      node.dataset.state = "error";
      return;
    }
    const reader = response.body.getReader();
    const decoder = new TextDecoder();
    let buffer = "";
    for (;;) {
      const { value, done } = await reader.read();
      if (done) break;
      buffer += decoder.decode(value, { stream: true });
      let cut;
      while ((cut = buffer.indexOf("\r\n\r\n")) >= 0 || (cut = buffer.indexOf("\n\n")) >= 0) {
        const raw = buffer.slice(0, cut);
        buffer = buffer.slice(cut + (buffer.startsWith("\r\n\r\n", cut) ? 4 : 2));
        let event = "message"; const lines = [];
        for (const line of raw.split(/\r?\n/)) {
          if (line.startsWith("event:")) event = line.slice(6).trim();
          else if (line.startsWith("data:")) lines.push(line.slice(5).trimStart());
        }
        if (!lines.length) continue;
        const data = JSON.parse(lines.join("\n"));
        if (event === "answer") { text.textContent += data.text; node.dataset.state = "streaming"; }
        else if (event === "summary") summary(node, data);
        else if (event === "done") node.dataset.state = "done";
      }
      log.scrollTop = log.scrollHeight;
    }
  }

  form.addEventListener("submit", (e) => {
    e.preventDefault();
    const question = input.value.trim();
    if (!question) return;
    input.value = "";
    ask(question);
  });
  root.querySelector(".handoff").addEventListener("click", () => ask("I would like to talk to a person, please."));
})();
