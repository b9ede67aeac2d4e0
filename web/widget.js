// HelpYap widget: a chat bubble with streamed, sourced answers and live social-proof popups.
//
// Installed with one tag: <script src="https://HOST/widget.js" data-project="SLUG" async></script>
// With `data-preview` (the admin dashboard's preview frame) it takes its settings from its
// same-origin parent window instead, opens the chat, and shows a sample popup; each new set of
// settings destroys the mounted widget — its timers, listeners and streams — and mounts anew.
// Everything lives in a Shadow DOM, so the host page's CSS cannot break it and it cannot break
// the page. Every text from the server, the model or a push is rendered with textContent —
// never as HTML, and the icons are built as DOM nodes — and only http(s) links are made
// clickable. Input limits (`maxlength`) come from the config's `limits`; without them, none.
(() => {
  "use strict";
  const script = document.currentScript;
  if (!script || window.__helpyap) return;
  window.__helpyap = true;
  const project = script.dataset.project;
  if (!project) return console.warn("helpyap: the script tag needs data-project");
  const base = new URL(script.src, location.href).origin;
  const preview = "preview" in script.dataset;
  const key = (name) => `helpyap:${project}:${name}`;
  const load = (name) => { try { return localStorage.getItem(key(name)); } catch { return null; } };
  const save = (name, value) => {
    try {
      if (value == null) localStorage.removeItem(key(name));
      else localStorage.setItem(key(name), value);
    } catch { /* storage blocked */ }
  };
  const api = (path, params) => `${base}${path}?${new URLSearchParams({ project, ...params })}`;

  const CSS = `
:host { all: initial; }
* { box-sizing: border-box; font-family: system-ui, -apple-system, "Segoe UI", Roboto, sans-serif;
  letter-spacing: normal; word-spacing: normal; text-transform: none; text-align: left; }
.launcher { position: fixed; bottom: 20px; width: 56px; height: 56px; border-radius: 50%; border: 0;
  background: var(--hy-color); color: #fff; cursor: pointer; box-shadow: 0 4px 16px rgba(0,0,0,.25);
  display: grid; place-items: center; z-index: 2147483646; transition: transform .15s; }
.launcher:hover { transform: scale(1.06); }
.launcher svg { width: 28px; height: 28px; fill: currentColor; }
.right { right: 20px; } .left { left: 20px; }
.panel { position: fixed; bottom: 88px; width: 370px; max-width: calc(100vw - 40px); height: 560px;
  max-height: calc(100vh - 120px); background: #fff; color: #1f2330; border-radius: 14px;
  box-shadow: 0 12px 40px rgba(0,0,0,.25); display: flex; flex-direction: column; overflow: hidden;
  z-index: 2147483647; font-size: 14px; line-height: 1.45; }
.panel[hidden] { display: none; }
header { background: var(--hy-color); color: #fff; padding: 14px 16px; display: flex; align-items: center;
  gap: 8px; }
header .who { flex: 1; min-width: 0; } header .name { font-weight: 600; font-size: 15px; }
header .company { opacity: .85; font-size: 12px; }
header button { background: transparent; border: 0; color: #fff; cursor: pointer; font-size: 13px; padding: 6px;
  border-radius: 6px; }
.log { flex: 1; overflow-y: auto; padding: 14px; display: flex; flex-direction: column; gap: 10px;
  background: #f6f7fb; }
.msg { max-width: 85%; padding: 9px 12px; border-radius: 12px; white-space: pre-wrap; overflow-wrap: anywhere; }
.msg.user { align-self: flex-end; background: var(--hy-color); color: #fff; border-bottom-right-radius: 4px; }
.msg.assistant { align-self: flex-start; background: #fff; border: 1px solid #e3e5ee;
  border-bottom-left-radius: 4px; }
.msg.agent { border-color: var(--hy-color); }
.msg .author { font-size: 11px; font-weight: 600; color: var(--hy-color); margin-bottom: 2px; display: flex;
  align-items: center; gap: 6px; }
.msg .author img { width: 20px; height: 20px; border-radius: 50%; object-fit: cover; }
.badge { position: absolute; top: -2px; right: -2px; min-width: 20px; height: 20px; padding: 0 5px; border-radius: 10px;
  background: #e5484d; color: #fff; font-size: 12px; font-weight: 700; line-height: 20px; text-align: center;
  box-shadow: 0 0 0 2px #fff; }
.badge[hidden], .teaser[hidden] { display: none; }
.teaser { position: fixed; bottom: 88px; max-width: 280px; background: #fff; color: #1f2330; border: 0;
  border-radius: 12px; box-shadow: 0 8px 30px rgba(0,0,0,.2); padding: 10px 12px; font-size: 13px; cursor: pointer;
  z-index: 2147483646; display: grid; gap: 2px; }
.teaser strong { font-size: 12px; color: var(--hy-color); }
.teaser span { display: -webkit-box; -webkit-line-clamp: 3; -webkit-box-orient: vertical; overflow: hidden; }
.msg.error { align-self: stretch; background: #fff3f3; border: 1px solid #f3c7c7; color: #8a1c1c; }
.msg.status { align-self: center; max-width: 100%; padding: 2px 8px; font-size: 12px; color: #555; background: none; border: 0; text-align: center; }
.msg.error button { margin-left: 8px; }
.sources { margin-top: 8px; padding-top: 6px; border-top: 1px solid #eceef4; font-size: 12px; white-space: normal; }
.sources a { color: var(--hy-color); display: block; }
.feedback { margin-top: 6px; display: flex; gap: 4px; }
.feedback button { background: none; border: 1px solid transparent; border-radius: 6px; cursor: pointer;
  color: #4a5068; padding: 2px 5px; opacity: .6; display: grid; place-items: center; }
.feedback button[aria-pressed="true"] { opacity: 1; border-color: #d5d8e3; }
.typing span { display: inline-block; width: 7px; height: 7px; margin: 0 2px; border-radius: 50%;
  background: #9aa0b4; animation: hy-blink 1.2s infinite; }
.typing span:nth-child(2) { animation-delay: .2s; } .typing span:nth-child(3) { animation-delay: .4s; }
@keyframes hy-blink { 0%, 80%, 100% { opacity: .25; } 40% { opacity: 1; } }
.quick { display: flex; flex-wrap: wrap; gap: 6px; padding: 0 14px 10px; background: #f6f7fb; }
.human { padding: 0 14px 8px; background: #f6f7fb; text-align: right; }
.human button { background: none; border: 0; color: var(--hy-color); cursor: pointer; font-size: 12px;
  text-decoration: underline; padding: 2px; }
.lead { align-self: stretch; background: #fff; border: 1px solid #e3e5ee; border-radius: 12px; padding: 12px;
  display: grid; gap: 8px; }
.lead label { display: grid; gap: 3px; font-size: 12px; color: #4a5068; }
.lead input, .lead textarea { border: 1px solid #d5d8e3; border-radius: 8px; padding: 7px 9px; font-size: 14px; }
.lead button { justify-self: end; border: 0; border-radius: 8px; background: var(--hy-color); color: #fff;
  padding: 7px 14px; cursor: pointer; }
.quick button { border: 1px solid var(--hy-color); color: var(--hy-color); background: #fff; border-radius: 16px;
  padding: 5px 11px; cursor: pointer; font-size: 13px; }
form { display: flex; gap: 8px; padding: 10px; border-top: 1px solid #e3e5ee; background: #fff; }
textarea { flex: 1; resize: none; border: 1px solid #d5d8e3; border-radius: 10px; padding: 8px 10px; font-size: 14px;
  max-height: 96px; }
form button { border: 0; border-radius: 10px; background: var(--hy-color); color: #fff; padding: 0 14px;
  cursor: pointer; font-weight: 600; }
form button:disabled { opacity: .5; cursor: default; }
button:focus-visible, textarea:focus-visible, a:focus-visible { outline: 3px solid #ffbf47; outline-offset: 2px; }
.popup { position: fixed; bottom: 20px; max-width: 330px; background: #fff; color: #1f2330; border-radius: 12px;
  box-shadow: 0 8px 30px rgba(0,0,0,.2); padding: 12px 14px; font-size: 14px; z-index: 2147483645;
  border-left: 4px solid var(--hy-color); transition: opacity .3s, transform .3s; }
.popup.right { right: 90px; } .popup.left { left: 90px; }
.popup .when { display: block; margin-top: 3px; font-size: 12px; color: #6b7185; }
.popup.hiding { opacity: 0; transform: translateY(8px); }
@media (max-width: 480px) {
  .panel { inset: 0; width: 100vw; max-width: none; height: 100%; max-height: none; border-radius: 0; }
  .popup { left: 10px; right: 10px; max-width: none; bottom: 86px; }
  .popup.right, .popup.left { left: 10px; right: 10px; }
}
@media (prefers-reduced-motion: reduce) { * { transition: none !important; animation: none !important; } }
`;
  const POLL_MS = 15000;

  // Attributes that are null or undefined are left out.
  const el = (tag, attrs = {}, ...children) => {
    const node = document.createElement(tag);
    for (const [name, value] of Object.entries(attrs)) {
      if (value == null) continue;
      if (name === "text") node.textContent = value;
      else if (name.startsWith("on")) node.addEventListener(name.slice(2), value);
      else node.setAttribute(name, value);
    }
    node.append(...children);
    return node;
  };
  // Our own icons, one path each, built as SVG nodes.
  const SVG = "http://www.w3.org/2000/svg";
  const icon = (d, attrs = {}, pathAttrs = {}) => {
    const svg = document.createElementNS(SVG, "svg");
    const path = document.createElementNS(SVG, "path");
    for (const [name, value] of Object.entries({ viewBox: "0 0 24 24", "aria-hidden": "true", ...attrs })) {
      svg.setAttribute(name, value);
    }
    for (const [name, value] of Object.entries({ d, ...pathAttrs })) path.setAttribute(name, value);
    svg.append(path);
    return svg;
  };
  const CHAT_PATH = "M4 3h16a2 2 0 0 1 2 2v11a2 2 0 0 1-2 2H8l-5 4V5a2 2 0 0 1 1-2z";
  const THUMB_PATH = "M2 21h4V9H2v12zm20-11a2 2 0 0 0-2-2h-6.3l1-4.6v-.3a1.5 1.5 0 0 0-.4-1L13.2 1 6.6 7.6"
    + "A2 2 0 0 0 6 9v10a2 2 0 0 0 2 2h9a2 2 0 0 0 1.8-1.2l3-7.1c.1-.2.2-.5.2-.7v-2z";
  const thumb = (down) => icon(THUMB_PATH, { width: "16", height: "16" },
    { fill: "currentColor", ...(down ? { transform: "rotate(180 12 12)" } : {}) });
  const safeUrl = (url) => {
    try {
      const parsed = new URL(url);
      return ["http:", "https:"].includes(parsed.protocol) ? parsed.href : null;
    } catch {
      return null;
    }
  };
  // A `maxlength` from the config's limits; undefined (no attribute) when the server gave none.
  const maxLength = (limits, name) => {
    const value = limits?.[name];
    return Number.isInteger(value) && value > 0 ? String(value) : undefined;
  };

  // ---- Scopes and HTTP ----------------------------------------------------------------------

  // Everything a mounted widget starts beyond its own nodes — timers, listeners on document,
  // sockets, event streams, fetches (through `signal`) — is registered here, and `destroy()`
  // stops all of it. Registering on a destroyed scope stops the thing at once.
  function scope() {
    const cleanups = new Set();
    const aborter = new AbortController();
    let alive = true;
    // Registers `cleanup`; the returned function runs it early (once) and forgets it.
    const own = (cleanup) => {
      if (!alive) {
        cleanup();
        return () => {};
      }
      cleanups.add(cleanup);
      return () => { if (cleanups.delete(cleanup)) cleanup(); };
    };
    return {
      own,
      signal: aborter.signal,
      timeout(fn, ms) {
        const id = setTimeout(() => { cancel(); fn(); }, ms);
        const cancel = own(() => clearTimeout(id));
        return cancel;
      },
      interval(fn, ms) {
        const id = setInterval(fn, ms);
        return own(() => clearInterval(id));
      },
      listen(target, type, fn) {
        target.addEventListener(type, fn);
        return own(() => target.removeEventListener(type, fn));
      },
      destroy() {
        alive = false;
        aborter.abort();
        for (const cleanup of cleanups) cleanup();
        cleanups.clear();
      },
    };
  }

  // A failed response as an Error carrying `status`: the server's message, or `fallback (STATUS)`.
  async function failure(response, fallback = "Request failed") {
    const body = await response.json().catch(() => null);
    return Object.assign(new Error(body?.error || `${fallback} (${response.status})`), { status: response.status });
  }

  // Every JSON call to the widget API (all but the streamed chat answer): a GET carries the
  // project in its query, other methods send `body` as JSON. Resolves to the parsed answer (null
  // when there is none); rejects with `failure`'s Error, or fetch's own when offline or aborted.
  async function http(method, path, { params, body, token, signal, fallback } = {}) {
    const headers = {};
    if (body !== undefined) headers["Content-Type"] = "application/json";
    if (token) headers["X-Session-Token"] = token;
    const response = await fetch(method === "GET" ? api(path, params) : `${base}${path}`, {
      method, headers, signal, body: body === undefined ? undefined : JSON.stringify(body),
    });
    if (!response.ok) throw await failure(response, fallback);
    return response.json().catch(() => null);
  }

  // Calls `onData` with each `data:` line's text of an SSE response, until it ends.
  async function readData(response, onData) {
    const reader = response.body.getReader();
    const decoder = new TextDecoder();
    let pending = "";
    for (;;) {
      const { done, value } = await reader.read();
      if (done) return;
      pending += decoder.decode(value, { stream: true });
      let end;
      while ((end = pending.indexOf("\n\n")) >= 0) {
        const block = pending.slice(0, end);
        pending = pending.slice(end + 2);
        for (const line of block.split("\n")) if (line.startsWith("data: ")) onData(line.slice(6));
      }
    }
  }

  // ---- Start ----------------------------------------------------------------------------------

  async function start() {
    let config;
    try {
      config = await http("GET", "/api/widget/config", { fallback: "config" });
    } catch (error) {
      return console.warn("helpyap: widget not started:", error.message);
    }
    mount(config);
  }

  // Preview: every settings message from the dashboard (same origin only) re-mounts the widget.
  function startPreview() {
    let mounted = null;
    addEventListener("message", (event) => {
      if (event.origin !== location.origin || event.source !== parent || !event.data?.helpyapPreview) return;
      mounted?.destroy();
      mounted = mount(event.data.helpyapPreview);
    });
    parent.postMessage({ helpyapPreviewReady: true }, location.origin);
  }

  // Mounts the widget for `config`; returns its scope, whose `destroy()` takes it all away.
  function mount(config) {
    const life = scope();
    // A tag of our own, reset inline: page rules like `div { … }` cannot reach it, and inherited
    // properties (letter-spacing, line-height…) stop at it.
    const host = el("helpyap-widget", { id: "helpyap-widget", style: "all: initial" });
    document.body.append(host);
    life.own(() => host.remove());
    const root = host.attachShadow({ mode: "open" });
    const color = /^#[0-9a-fA-F]{3,6}$/.test(config.theme?.primaryColor) ? config.theme.primaryColor : "#3737f6";
    const side = config.theme?.position === "bottom-left" ? "left" : "right";
    host.style.setProperty("--hy-color", color);
    root.append(el("style", { text: CSS }));
    const chat = createChat(root, config, side, life);
    createPopups(root, config.socialProof, side, chat, life);
    if (preview) chat.open();
    return life;
  }

  // ---- Chat ---------------------------------------------------------------------------------

  function createChat(root, config, side, life) {
    const launcher = el("button", {
      class: `launcher ${side}`, type: "button", "aria-label": `Open chat with ${config.name}`,
      "aria-expanded": "false",
    }, icon(CHAT_PATH));
    // Unread teammates' replies while the chat is closed: a count on the bubble, the last one above it.
    const badge = el("span", { class: "badge", hidden: "", "aria-hidden": "true" });
    launcher.append(badge);
    const teaser = el("button", { class: `teaser ${side}`, type: "button", hidden: "" });
    const log = el("div", { class: "log", role: "log", "aria-live": "polite", "aria-label": "Conversation" });
    const quick = el("div", { class: "quick" });
    const input = el("textarea", {
      rows: "1", "aria-label": "Your message", placeholder: "Type your question…",
      maxlength: maxLength(config.limits, "messageChars"),
    });
    const send = el("button", { type: "submit", text: "Send" });
    const form = el("form", {}, input, send);
    const human = el("div", { class: "human", hidden: "" },
      el("button", { type: "button", text: "Talk to a human", onclick: () => showLeadForm() }));
    const header = el("header", {},
      el("div", { class: "who" },
        el("div", { class: "name", text: config.name }), el("div", { class: "company", text: config.company || "" })),
      el("button", {
        type: "button", text: "New chat", "aria-label": "Start a new conversation", onclick: () => newConversation(),
      }),
      el("button", { type: "button", text: "✕", "aria-label": "Close chat", onclick: () => toggle(false) }));
    const panel = el("div", {
      class: `panel ${side}`, role: "dialog", "aria-label": `Chat with ${config.name}`, hidden: "",
    }, header, log, quick, human, form);
    root.append(panel, teaser, launcher);

    let sessionId = load("sessionId");
    let token = load("token");
    const updateHuman = () => { human.hidden = !token; };
    updateHuman();
    let busy = false;
    let restored = false;
    // The stored conversation is on screen (after `restore`): live news is shown, not only counted.
    let rendered = false;
    // This mount's JSON calls: stopped when it is destroyed.
    const call = (method, path, options) => http(method, path, { signal: life.signal, ...options });

    function toggle(open, focus = true) {
      panel.hidden = !open;
      launcher.setAttribute("aria-expanded", String(open));
      launcher.setAttribute("aria-label", open ? "Close chat" : `Open chat with ${config.name}`);
      if (open) {
        markRead();
        log.scrollTop = log.scrollHeight; // replies may have come while it was closed
        if (!restored) { restored = true; restore(); }
        if (focus) input.focus();
      } else {
        launcher.focus();
      }
    }
    launcher.addEventListener("click", () => toggle(panel.hidden));
    teaser.addEventListener("click", () => toggle(true));
    panel.addEventListener("keydown", (event) => {
      if (event.key === "Escape") return toggle(false);
      if (event.key !== "Tab") return;
      // Keep focus inside the open panel.
      const focusable = [...panel.querySelectorAll("button, textarea, input, a[href]")]
        .filter((node) => !node.disabled && node.offsetParent !== null);
      const first = focusable[0], last = focusable[focusable.length - 1];
      const active = root.activeElement;
      if (event.shiftKey && active === first) { last.focus(); event.preventDefault(); }
      else if (!event.shiftKey && active === last) { first.focus(); event.preventDefault(); }
    });
    input.addEventListener("keydown", (event) => {
      if (event.key === "Enter" && !event.shiftKey) { event.preventDefault(); form.requestSubmit(); }
    });
    form.addEventListener("submit", (event) => {
      event.preventDefault();
      const text = input.value.trim();
      if (text && !busy) { input.value = ""; ask(text); }
    });

    // The highest message seq shown; message ids are `SESSION-SEQ`.
    const seqOf = (id) => Number(String(id || "").split("-").pop()) || 0;
    let seen = 0;
    // The conversation's status the visitor was last told of, so a status line is not repeated.
    let lastStatus = null;
    let unread = 0;

    function showWelcome() {
      log.replaceChildren();
      if (config.welcomeMessage) log.append(el("div", { class: "msg assistant", text: config.welcomeMessage }));
      quick.replaceChildren(...(config.quickReplies || []).map((reply) =>
        el("button", { type: "button", text: reply, onclick: () => { if (!busy) { input.focus(); ask(reply); } } })));
    }
    showWelcome();

    function bubble(role, text) {
      const node = el("div", { class: `msg ${role}`, text });
      log.append(node);
      log.scrollTop = log.scrollHeight;
      return node;
    }
    function addSources(node, sources) {
      if (!sources.length) return;
      const list = el("div", { class: "sources" }, el("div", { text: "Sources:" }));
      for (const source of sources) {
        const url = source.url && safeUrl(source.url);
        list.append(url
          ? el("a", { href: url, target: "_blank", rel: "noopener noreferrer", text: source.title || url })
          : el("span", { text: source.title || "" }));
      }
      node.append(list);
    }

    // Thumbs on an answer, sent as the visitor clicks; the latest click counts.
    function addFeedback(node, messageId) {
      if (!messageId) return;
      const row = el("div", { class: "feedback" });
      for (const [rating, label, down] of [["up", "Helpful", false], ["down", "Not helpful", true]]) {
        const button = el("button", { type: "button", "aria-label": label, "aria-pressed": "false" }, thumb(down));
        button.addEventListener("click", async () => {
          try {
            await call("POST", "/api/widget/feedback", {
              body: { projectSlug: project, sessionId, sessionToken: token, messageId, rating },
            });
            for (const other of row.querySelectorAll("button")) {
              other.setAttribute("aria-pressed", String(other === button));
            }
          } catch { /* refused or offline: nothing recorded */ }
        });
        row.append(button);
      }
      node.append(row);
    }

    function newConversation() {
      stopListening();
      sessionId = null; token = null; seen = 0; lastStatus = null;
      save("sessionId", null); save("token", null); save("read", null);
      markRead();
      updateHuman();
      showWelcome();
      input.focus();
    }
    // A session the server no longer accepts (answered with one of `statuses`) is left behind.
    const forgetIfRefused = (error, statuses) => { if (statuses.includes(error.status)) newConversation(); };

    // The stored conversation, for `sessionId` as the server has it: messages, and the contact
    // the visitor left for the team.
    const conversation = () => call("GET", "/api/widget/session", { params: { sessionId }, token });
    const transcript = async () => (await conversation()).messages;
    const leadSent = (lead) => {
      lastStatus = "waiting";
      return el("div", { class: "msg assistant", text: `Thanks! We will email you at ${lead.email}.` });
    };

    async function restore() {
      try {
        if (!sessionId || !token) return;
        const { messages, lead } = await conversation();
        if (!messages.length) return;
        quick.replaceChildren();
        let leadShown = !lead;
        for (const message of messages) {
          if (!leadShown && message.createdAt > lead.createdAt) { log.append(leadSent(lead)); leadShown = true; }
          showStored(message);
        }
        if (!leadShown) log.append(leadSent(lead));
        if (!panel.hidden) markRead();
      } catch (error) {
        forgetIfRefused(error, [401, 403, 404]); // or offline: start fresh
      } finally {
        rendered = true;
      }
    }

    // A teammate's name as they chose it, else the team's.
    const authorName = (message) => message.author?.name || `${config.company || config.name} team`;

    function showStored(message) {
      seen = Math.max(seen, seqOf(message.id));
      if (message.from === "agent") {
        lastStatus = "human";
        const node = bubble("assistant agent", message.content);
        const avatar = message.author?.avatarUrl && safeUrl(message.author.avatarUrl);
        const picture = avatar ? [el("img", { src: avatar, alt: "", loading: "lazy", referrerpolicy: "no-referrer" })] : [];
        node.prepend(el("div", { class: "author" }, ...picture, authorName(message)));
        return;
      }
      const node = bubble(message.role === "user" ? "user" : "assistant", message.content);
      if (message.role !== "user") {
        addSources(node, message.sources || []);
        if (message.status === "complete") addFeedback(node, message.id);
      }
    }

    // ---- The conversation, live: teammates' replies and who answers, pushed by the server.
    // WebSocket first (the session token is its first message); else SSE read with fetch, which
    // can send the token as a header. Open while there is a session, chat open or not. Each
    // (re)connect starts with `ready`, and the transcript is read then, so nothing said while the
    // channel was down is missed.
    let stopLive = null;
    function listen() {
      if (preview || stopLive || !sessionId || !token) return;
      const channel = scope();
      stopLive = life.own(() => channel.destroy());
      const params = { sessionId }, secret = token;
      const again = (connect, attempt) => channel.timeout(() => connect(attempt + 1),
        Math.min(30000, 1000 * 2 ** attempt) * (0.5 + Math.random()));
      function viaWebSocket(attempt = 0) {
        let opened = false, socket;
        try { socket = new WebSocket(api("/api/widget/session/ws", params).replace(/^http/, "ws")); } catch { return viaSse(0); }
        const close = channel.own(() => { socket.onclose = null; socket.close(); });
        socket.onopen = () => { opened = true; attempt = 0; socket.send(JSON.stringify({ token: secret })); };
        socket.onmessage = (message) => newsIn(message.data);
        socket.onclose = (event) => {
          close(); // closed already: only forgotten
          if (event.code === 1008) return; // the token is refused: this session is over
          if (!opened && attempt >= 1) return viaSse(0);
          again(viaWebSocket, attempt);
        };
      }
      async function viaSse(attempt) {
        try {
          const response = await fetch(api("/api/widget/session/stream", params),
            { headers: { "X-Session-Token": secret }, signal: channel.signal });
          if ([401, 403, 404].includes(response.status)) return;
          if (response.ok) { attempt = 0; await readData(response, newsIn); }
        } catch { /* offline, or stopped */ }
        if (!channel.signal.aborted) again(viaSse, attempt);
      }
      viaWebSocket();
    }
    function stopListening() { stopLive?.(); stopLive = null; }

    function newsIn(data) {
      let news;
      try { news = JSON.parse(data); } catch { return; }
      if (news.type === "message") teammateSaid(news.message);
      else if (news.type === "status") statusChanged(news);
      else if (news.type === "ready" || news.type === "missed") catchUp();
    }
    function teammateSaid(message) {
      if (seqOf(message.id) <= seen) return;
      if (rendered) showStored(message);
      else seen = seqOf(message.id); // `restore` shows it
      if (panel.hidden) notify(message);
      else markRead();
    }
    // Who answers changed (a teammate took over, handed back, resolved): one line, said once. While
    // the visitor's own question streams, its answer says it.
    function statusChanged(news) {
      if (!rendered || busy || news.status === lastStatus) return;
      lastStatus = news.status;
      log.append(el("div", { class: "msg status", role: "status", text: String(news.text || "") }));
      log.scrollTop = log.scrollHeight;
    }
    // Messages the visitor has not seen: shown when the chat has been opened, else counted unread.
    async function catchUp() {
      if (busy) return;
      try {
        const read = Number(load("read")) || 0;
        for (const message of await transcript()) {
          if (message.from !== "agent") { seen = Math.max(seen, seqOf(message.id)); continue; }
          if (rendered || seqOf(message.id) > read) teammateSaid(message);
        }
      } catch { /* the next reconnect tries again */ }
    }
    function notify(message) {
      unread += 1;
      badge.textContent = String(unread);
      badge.hidden = false;
      launcher.setAttribute("aria-label", `Open chat with ${config.name}: ${unread} unread`);
      const text = String(message.content || "");
      teaser.replaceChildren(el("strong", { text: authorName(message) }),
        el("span", { text: text.length > 140 ? `${text.slice(0, 140)}…` : text }));
      teaser.hidden = false;
    }
    function markRead() {
      unread = 0;
      badge.hidden = true;
      teaser.hidden = true;
      if (sessionId) save("read", String(seen));
    }
    listen();

    async function ask(text) {
      busy = true; send.disabled = true;
      quick.replaceChildren();
      bubble("user", text);
      const reply = el("div", { class: "msg assistant typing", "aria-label": "Assistant is typing" },
        el("span"), el("span"), el("span"));
      log.append(reply);
      log.scrollTop = log.scrollHeight;
      if (!sessionId) { sessionId = crypto.randomUUID(); save("sessionId", sessionId); }
      try {
        // Streamed, so not through `http`; the mount's signal stops it when the widget goes.
        const response = await fetch(`${base}/api/chat`, {
          method: "POST",
          headers: { "Content-Type": "application/json" },
          signal: life.signal,
          body: JSON.stringify({
            projectSlug: project, sessionId, sessionToken: token || undefined,
            messages: [{ role: "user", content: text }],
          }),
        });
        if (!response.ok) throw await failure(response, "The assistant is unavailable");
        const newToken = response.headers.get("X-Session-Token");
        if (newToken) { token = newToken; save("token", token); updateHuman(); listen(); }
        await readAnswer(response, reply);
      } catch (error) {
        forgetIfRefused(error, [401, 403]);
        reply.remove();
        const failed = el("div", { class: "msg error", role: "alert", text: error.message || "Something went wrong." });
        failed.append(el("button", { type: "button", text: "Retry", onclick: () => { failed.remove(); ask(text); } }));
        log.append(failed);
      } finally {
        busy = false; send.disabled = false;
        log.scrollTop = log.scrollHeight;
      }
    }

    // The AI SDK UI message stream: SSE lines of JSON frames, ending with [DONE].
    async function readAnswer(response, node) {
      let text = "", streamError = null, messageId = null;
      const sources = [];
      const started = () => {
        if (!node.classList.contains("typing")) return;
        node.classList.remove("typing");
        node.removeAttribute("aria-label");
        node.textContent = "";
      };
      const frameIn = (frame) => {
        if (frame.type === "start") {
          messageId = frame.messageId;
          seen = Math.max(seen, seqOf(messageId));
        } else if (frame.type === "text-delta") {
          started();
          text += frame.delta;
          node.textContent = text;
          log.scrollTop = log.scrollHeight;
        } else if (frame.type === "source-url") sources.push({ url: frame.url, title: frame.title });
        else if (frame.type === "source-document") sources.push({ title: frame.title });
        else if (frame.type === "data-handoff") {
          // Who answers: a teammate (the message waits for them), or the assistant again.
          lastStatus = frame.data?.status;
          node.before(el("div", { class: "msg status", role: "status", text: String(frame.data?.text || "") }));
        } else if (frame.type === "error") streamError = frame.errorText;
      };
      await readData(response, (data) => {
        if (data === "[DONE]") return;
        let frame;
        try { frame = JSON.parse(data); } catch { return; }
        frameIn(frame);
      });
      started();
      if (!text) node.remove();
      else addSources(node, sources);
      if (text && !streamError) addFeedback(node, messageId);
      if (streamError) throw new Error(text ? "The answer was cut off." : streamError);
    }

    // A visitor the assistant could not help leaves an email for a human.
    function showLeadForm() {
      if (log.querySelector(".lead")) return log.querySelector(".lead input").focus();
      const limits = config.limits;
      const email = el("input", {
        type: "email", required: "", autocomplete: "email", maxlength: maxLength(limits, "leadEmailChars"),
      });
      const name = el("input", { type: "text", autocomplete: "name", maxlength: maxLength(limits, "leadNameChars") });
      const message = el("textarea", { rows: "2", maxlength: maxLength(limits, "leadMessageChars") });
      const status = el("div", { role: "status" });
      const leadForm = el("form", { class: "lead", "aria-label": "Contact a human" },
        el("div", { text: "Leave your email and a person from our team will get back to you." }),
        el("label", {}, "Email", email), el("label", {}, "Name (optional)", name),
        el("label", {}, "Message (optional)", message), status,
        el("button", { type: "submit", text: "Send to a human" }));
      leadForm.addEventListener("submit", async (event) => {
        event.preventDefault();
        status.textContent = "Sending…";
        // The live "waiting" news this brings says what the confirmation says: not shown.
        const before = lastStatus;
        lastStatus = "waiting";
        try {
          await call("POST", "/api/widget/lead", {
            fallback: "Could not send",
            body: {
              projectSlug: project, sessionId, sessionToken: token,
              email: email.value, name: name.value, message: message.value,
            },
          });
          leadForm.replaceWith(leadSent({ email: email.value.trim() }));
          input.focus(); // the form that had focus is gone
        } catch (error) {
          lastStatus = before;
          status.textContent = error.message;
        }
      });
      log.append(leadForm);
      log.scrollTop = log.scrollHeight;
      email.focus();
    }

    return { isOpen: () => !panel.hidden, open: () => toggle(true, false) };
  }

  // ---- Social-proof popups ------------------------------------------------------------------

  function createPopups(root, rules, side, chat, life) {
    if (!rules || !rules.enabled) return;
    if (!rules.showOnMobile && matchMedia("(max-width: 640px)").matches) return;
    if (preview) {
      const sample = {
        type: "purchased", name: "Sarah K.", location: "Austin, TX", product: "Pro Plan",
        message: "Sarah K. bought the Pro Plan",
      };
      return root.append(el("div", { class: `popup ${side} sample`, role: "status" },
        el("span", { text: popupText(sample) }), el("span", { class: "when", text: "just now" })));
    }
    const shownKey = key("popupsShown");
    let shown = Number(sessionStorageGet() || 0);
    let since = Number(load("since") || 0);
    const queue = [];
    let nextAt = Date.now() + rules.initialDelayMs;
    let timer = null; // cancels the scheduled `showNext`
    let waiting = null; // stops waiting for the tab to be visible

    function sessionStorageGet() { try { return sessionStorage.getItem(shownKey); } catch { return null; } }
    function sessionStorageSet(value) { try { sessionStorage.setItem(shownKey, value); } catch { /* blocked */ } }

    function receive(event) {
      if (event.type === "reset") { since = Number(event.lastId) || 0; save("since", String(since)); return; }
      const id = Number(event.id);
      if (!(id > since)) return; // seen already: never twice
      since = id;
      save("since", String(since));
      if (Date.now() - Date.parse(event.createdAt) > rules.maxAgeMs) return;
      queue.push(event);
      if (queue.length > 20) queue.shift();
      schedule();
    }
    const receiveData = (data) => { try { receive(JSON.parse(data)); } catch { /* not ours */ } };

    function schedule() {
      if (timer || !queue.length || shown >= rules.maxPerVisit) return;
      timer = life.timeout(() => { timer = null; showNext(); }, Math.max(0, nextAt - Date.now()));
    }

    function showNext() {
      if (document.hidden) {
        waiting ??= life.listen(document, "visibilitychange", () => { waiting(); waiting = null; schedule(); });
        return;
      }
      if (chat.isOpen() || !queue.length || shown >= rules.maxPerVisit) {
        nextAt = Date.now() + rules.gapMs;
        return schedule();
      }
      const event = queue.shift();
      shown += 1;
      sessionStorageSet(String(shown));
      const popup = el("div", { class: `popup ${side}`, role: "status" },
        el("span", { text: popupText(event) }), el("span", { class: "when", text: ago(event.createdAt) }));
      root.append(popup);
      life.timeout(() => {
        popup.classList.add("hiding");
        life.timeout(() => popup.remove(), 350);
      }, rules.displayMs);
      nextAt = Date.now() + rules.displayMs + rules.gapMs;
      schedule();
    }

    function popupText(event) {
      let template = rules.templates[event.type] || "{message}";
      const fields = {
        name: rules.anonymize ? "Someone" : event.name || "Someone",
        location: event.location, product: event.product, message: event.message,
      };
      if (!fields.location) template = template.replace(/ from \{location\}/g, "");
      if (!fields.product) template = template.replace(/ (to |for )?\{product\}/g, "");
      return template.replace(/\{(name|location|product|message)\}/g, (_, name) => fields[name] || "")
        .replace(/\s+/g, " ").trim();
    }

    function ago(createdAt) {
      const minutes = Math.round((Date.now() - Date.parse(createdAt)) / 60000);
      if (minutes < 1) return "just now";
      if (minutes < 60) return `${minutes} minute${minutes === 1 ? "" : "s"} ago`;
      const hours = Math.round(minutes / 60);
      return hours < 24 ? `${hours} hour${hours === 1 ? "" : "s"} ago` : `${Math.round(hours / 24)} days ago`;
    }

    // WebSocket first; SSE when sockets are blocked; polling when both are.
    const sinceParam = () => ({ since: String(since) });
    function viaWebSocket(attempt = 0) {
      let opened = false;
      const url = api("/api/widget/salespop/ws", sinceParam()).replace(/^http/, "ws");
      let socket;
      try { socket = new WebSocket(url); } catch { return viaSse(); }
      const close = life.own(() => { socket.onclose = null; socket.close(); });
      socket.onopen = () => { opened = true; attempt = 0; };
      socket.onmessage = (message) => receiveData(message.data);
      socket.onclose = () => {
        close(); // closed already: only forgotten
        if (!opened && attempt >= 1) return viaSse();
        life.timeout(() => viaWebSocket(attempt + 1), Math.min(30000, 1000 * 2 ** attempt) * (0.5 + Math.random()));
      };
    }
    function viaSse() {
      if (!window.EventSource) return viaPolling();
      let opened = false;
      const source = new EventSource(api("/api/widget/salespop/stream", sinceParam()));
      const close = life.own(() => source.close());
      source.onopen = () => { opened = true; };
      source.onmessage = (message) => receiveData(message.data);
      source.addEventListener("reset", (message) => receiveData(message.data));
      source.onerror = () => {
        // The browser reconnects by itself with Last-Event-ID; give up on SSE only if it never worked.
        if (!opened) { close(); viaPolling(); }
      };
    }
    function viaPolling() {
      const poll = async () => {
        try {
          const body = await http("GET", "/api/widget/salespop", { params: sinceParam(), signal: life.signal });
          if (body.reset) receive({ type: "reset", lastId: body.lastId });
          body.events.forEach(receive);
        } catch { /* try again later */ }
        life.timeout(poll, POLL_MS);
      };
      poll();
    }
    viaWebSocket();
  }

  const begin = preview ? startPreview : start;
  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", begin);
  else begin();
})();
