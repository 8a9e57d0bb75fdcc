// Progressive enhancement of the PackDesk pages: every form works without this file.
"use strict";
(function () {
  const csrf = () => document.querySelector('meta[name="csrf-token"]').content;

  function el(tag, attrs, text) {
    const node = document.createElement(tag);
    for (const [k, v] of Object.entries(attrs || {})) node.setAttribute(k, v);
    if (text !== undefined) node.textContent = text;
    return node;
  }

  // Try-it chat: ask through fetch, keep the conversation, show citations as links and an
  // offer as a buy button (a real form, so it carries the CSRF token).
  const tryForm = document.getElementById("try-form");
  if (tryForm) {
    const chat = document.getElementById("chat");
    let conversationId = null;
    tryForm.addEventListener("submit", async (event) => {
      event.preventDefault();
      const input = tryForm.querySelector("#question");
      const question = input.value.trim();
      if (!question) return;
      chat.append(el("div", { class: "msg you" }, question));
      input.value = "";
      const bot = el("div", { class: "msg bot" }, "…");
      chat.append(bot);
      const response = await fetch("/account/ask", {
        method: "POST",
        headers: { "Content-Type": "application/json", "X-CSRFToken": csrf() },
        body: JSON.stringify({ question, conversation_id: conversationId }),
      });
      const body = await response.json();
      bot.textContent = "";
      if (!response.ok) { bot.append(el("p", { class: "flash error" }, body.detail || "Error")); return; }
      conversationId = body.conversation_id || conversationId;
      bot.append(el("p", { class: "text" }, body.text));
      if (body.citations && body.citations.length) {
        const list = el("ol", { class: "citations" });
        for (const c of body.citations) {
          const item = el("li");
          if (c.source_url) item.append(el("a", { href: c.source_url, target: "_blank", rel: "noopener" }, c.title));
          else item.textContent = c.title;
          list.append(item);
        }
        bot.append(list);
      }
      for (const d of body.disclaimers || []) bot.append(el("p", { class: "disclaimer" }, d));
      if (body.offer) {
        const form = el("form", { method: "post", action: `/packs/${encodeURIComponent(body.offer.pack_id)}/buy`, class: "offer" });
        form.append(el("input", { type: "hidden", name: "_csrf_token", value: csrf() }));
        form.append(el("button", { type: "submit", class: "primary" }, `Buy ${body.offer.name}`));
        bot.append(form);
      }
    });
  }

  // Publisher upload: drag and drop (or choose) a .kpack; sent as the raw body.
  const uploadForm = document.getElementById("upload-form");
  if (uploadForm) {
    const zone = document.getElementById("dropzone");
    const input = document.getElementById("archive");
    const status = document.getElementById("upload-status");
    async function send(file) {
      status.textContent = `Uploading ${file.name}…`;
      const response = await fetch("/publisher/upload", {
        method: "POST",
        headers: { "Content-Type": "application/octet-stream", "X-CSRFToken": csrf(), Accept: "application/json" },
        body: file,
      });
      const body = await response.json().catch(() => ({}));
      status.textContent = body.message || body.error || body.detail || `Upload failed (${response.status})`;
      if (response.ok) setTimeout(() => window.location.reload(), 300);
    }
    zone.addEventListener("dragover", (e) => { e.preventDefault(); zone.classList.add("over"); });
    zone.addEventListener("dragleave", () => zone.classList.remove("over"));
    zone.addEventListener("drop", (e) => {
      e.preventDefault(); zone.classList.remove("over");
      if (e.dataTransfer.files.length) send(e.dataTransfer.files[0]);
    });
    uploadForm.addEventListener("submit", (e) => {
      if (input.files.length) { e.preventDefault(); send(input.files[0]); }
    });
  }
})();
