// HelpYap admin dashboard: one page over the admin API, plain JS, no build step.
//
// Views are picked by the URL hash (#/SLUG/overview, …). Everything shown comes from the API and
// is put on the page with textContent or DOM nodes — never as HTML — so a visitor's message or a
// document title cannot run script here. The access token lives in memory; the refresh token in
// sessionStorage (this tab only), and a 401 triggers one refresh before giving up.
(() => {
  "use strict";
  const app = document.getElementById("app");
  const REFRESH_KEY = "helpyap-admin:refresh";
  // A conversation the leads view asked the inbox to open.
  const OPEN_KEY = "helpyap-admin:open";
  let accessToken = null;
  let user = null;
  let projects = [];
  // Invitations to the signed-in user's email, shown on top of every view until answered.
  let invitations = [];

  // ---- DOM helpers ----------------------------------------------------------------------------

  function el(tag, attrs = {}, ...children) {
    const node = document.createElement(tag);
    for (const [name, value] of Object.entries(attrs)) {
      if (value == null || value === false) continue;
      if (name === "text") node.textContent = value;
      else if (name.startsWith("on")) node.addEventListener(name.slice(2), value);
      else if (name === "value") node.value = value;
      else if (name === "checked") node.checked = Boolean(value);
      else node.setAttribute(name, value === true ? "" : value);
    }
    node.append(...children.flat(Infinity).filter((c) => c != null));
    return node;
  }
  const SVG = "http://www.w3.org/2000/svg";
  function svg(tag, attrs = {}, ...children) {
    const node = document.createElementNS(SVG, tag);
    for (const [name, value] of Object.entries(attrs)) {
      if (name === "text") node.textContent = value;
      else node.setAttribute(name, value);
    }
    node.append(...children);
    return node;
  }
  const field = (label, input, hint) => el("div", {}, el("label", { for: input.id, text: label }), input, hint ? el("p", { class: "hint", text: hint }) : null);
  const when = (iso) => (iso ? new Date(iso).toLocaleString() : "");
  const message = (kind, text) => el("p", { class: kind, role: kind === "error" ? "alert" : "status", text });
  // An `act(call, done, then = reload)` for a view: runs `call`, says `done` (or `done(result)`)
  // in `status` and runs `then`; or shows the error. Resolves to whether `call` worked.
  function acting(status, reload) {
    return async (call, done, then = reload) => {
      status.replaceChildren(message("status", "Working…"));
      try {
        const result = await call();
        status.replaceChildren(message("ok", typeof done === "function" ? done(result) : done));
        await then();
        return true;
      } catch (error) {
        if (error.status !== 401) status.replaceChildren(message("error", error.message));
        return false;
      }
    };
  }
  function copyButton(text, label = "Copy") {
    const button = el("button", { type: "button", text: label, onclick: async () => {
      try { await navigator.clipboard.writeText(text()); button.textContent = "Copied"; } catch { button.textContent = "Select and copy"; }
      setTimeout(() => { button.textContent = label; }, 1500);
    } });
    return button;
  }

  // ---- API ----------------------------------------------------------------------------------

  class ApiError extends Error {
    constructor(status, text) { super(text); this.status = status; }
  }

  async function refresh() {
    const refreshToken = sessionStorage.getItem(REFRESH_KEY);
    if (!refreshToken) return false;
    const response = await fetch("/api/admin/auth/refresh", {
      method: "POST", headers: { "Content-Type": "application/json" }, body: JSON.stringify({ refreshToken }),
    });
    if (!response.ok) { sessionStorage.removeItem(REFRESH_KEY); return false; }
    signedIn(await response.json());
    return true;
  }

  function signedIn(body) {
    accessToken = body.accessToken;
    user = body.user;
    sessionStorage.setItem(REFRESH_KEY, body.refreshToken);
  }

  // Calls the admin API; JSON in and out. `raw` returns the Response (for CSV downloads).
  async function api(method, path, body, { raw = false, retried = false } = {}) {
    const headers = { Authorization: `Bearer ${accessToken}` };
    if (body !== undefined) headers["Content-Type"] = "application/json";
    const response = await fetch(path, { method, headers, body: body === undefined ? undefined : JSON.stringify(body) });
    if (response.status === 401 && !retried && await refresh()) return api(method, path, body, { raw, retried: true });
    if (response.status === 401) { showLogin("Your session ended. Please sign in again."); throw new ApiError(401, "signed out"); }
    if (!response.ok) {
      let text = `${response.status} ${response.statusText}`;
      try { text = (await response.json()).error || text; } catch { /* not JSON */ }
      throw new ApiError(response.status, text);
    }
    if (raw) return response;
    return response.status === 204 ? null : response.json();
  }

  const projectPath = (slug, rest = "") => `/api/admin/projects/${encodeURIComponent(slug)}${rest}`;

  // ---- Sign-in --------------------------------------------------------------------------------

  function showLogin(note) {
    accessToken = null;
    user = null;
    invitations = [];
    const email = el("input", { id: "email", type: "email", autocomplete: "username", required: true });
    const password = el("input", { id: "password", type: "password", autocomplete: "current-password", required: true });
    const status = el("div");
    const submit = el("button", { class: "primary", type: "submit", text: "Sign in" });
    const form = el("form", { class: "login", onsubmit: async (event) => {
      event.preventDefault();
      submit.disabled = true;
      status.replaceChildren();
      try {
        const response = await fetch("/api/admin/auth/login", {
          method: "POST", headers: { "Content-Type": "application/json" },
          body: JSON.stringify({ email: email.value, password: password.value }),
        });
        const body = await response.json().catch(() => ({}));
        if (!response.ok) throw new Error(body.error || `Sign-in failed (${response.status})`);
        signedIn(body);
        await enter();
      } catch (error) {
        status.replaceChildren(message("error", error.message));
        submit.disabled = false;
      }
    } },
      el("h1", {}, el("span", { class: "logo", text: "HelpYap" }), " admin"),
      note ? message("error", note) : null,
      field("Email", email), field("Password", password), submit, status);
    app.replaceChildren(form);
    email.focus();
  }

  async function signOut() {
    const refreshToken = sessionStorage.getItem(REFRESH_KEY);
    sessionStorage.removeItem(REFRESH_KEY);
    if (refreshToken) {
      await fetch("/api/admin/auth/logout", { method: "POST", headers: { "Content-Type": "application/json" }, body: JSON.stringify({ refreshToken }) }).catch(() => {});
    }
    location.hash = "";
    showLogin();
  }

  async function enter() {
    projects = (await api("GET", "/api/admin/projects")).projects;
    // Without them the dashboard still works: no card rather than no dashboard.
    invitations = await api("GET", "/api/admin/invitations").then((body) => body.invitations, () => []);
    if (!location.hash.startsWith("#/") && projects.length) location.hash = `#/${projects[0].slug}/overview`;
    else render();
  }

  // Shows `hash`: renders it again when it is the one showing already (no hashchange then).
  function go(hash) {
    if (location.hash === hash) render();
    else location.hash = hash;
  }

  // After the user's own roles changed: the project list again, then `slug` or the first project.
  async function reloadProjects(slug) {
    projects = (await api("GET", "/api/admin/projects")).projects;
    const project = projects.find((p) => p.slug === slug) || projects[0];
    go(project ? `#/${encodeURIComponent(project.slug)}/overview` : "#/");
  }

  // ---- Invitations to the signed-in user ------------------------------------------------------

  const A_ROLE = { owner: "an owner", agent: "an agent" };
  const ROLE_HINT = {
    owner: "Owners run the whole project: conversations, leads, knowledge base, widget settings and team.",
    agent: "Agents answer conversations and see leads.",
  };

  function invitationCards() {
    return invitations.map((invitation) => {
      const { project: slug, name, role } = invitation;
      const invitationPath = `/api/admin/invitations/${encodeURIComponent(slug)}`;
      const status = el("div");
      const buttons = [
        el("button", { type: "button", class: "primary", text: "Accept", "aria-label": `Accept the invitation to ${name} (${slug})`, onclick: () => answer(async () => {
          await api("POST", `${invitationPath}/accept`);
          invitations = invitations.filter((i) => i !== invitation);
          await reloadProjects(slug);
        }) }),
        el("button", { type: "button", text: "Decline", "aria-label": `Decline the invitation to ${name} (${slug})`, onclick: () => answer(async () => {
          await api("DELETE", invitationPath);
          invitations = invitations.filter((i) => i !== invitation);
          const main = card.closest("main");
          card.remove();
          main?.focus();
        }) }),
      ];
      async function answer(call) {
        buttons.forEach((b) => { b.disabled = true; });
        status.replaceChildren();
        try {
          await call();
        } catch (error) {
          if (error.status !== 401) status.replaceChildren(message("error", error.message));
          buttons.forEach((b) => { b.disabled = false; });
        }
      }
      const card = el("section", { class: "card invitation", "aria-label": `Invitation to ${name} (${slug})` },
        el("div", { class: "grow" },
          el("p", {}, "You're invited to join ", el("strong", { text: name }), ` (${slug}) as ${A_ROLE[role] || role}.`),
          el("p", { class: "hint", text: [ROLE_HINT[role], invitation.invitedAt ? `Invited ${when(invitation.invitedAt)}.` : ""].filter(Boolean).join(" ") }),
          status),
        buttons);
      return card;
    });
  }

  // ---- Shell and routing ------------------------------------------------------------------

  const VIEWS = [
    { id: "overview", title: "Overview", roles: ["owner", "agent"], render: overview },
    { id: "inbox", title: "Conversations", roles: ["owner", "agent"], render: inbox },
    { id: "leads", title: "Leads", roles: ["owner", "agent"], render: leads },
    { id: "knowledge", title: "Knowledge base", roles: ["owner"], render: knowledge },
    { id: "settings", title: "Widget settings", roles: ["owner"], render: settings },
    { id: "install", title: "Install & push secret", roles: ["owner"], render: install },
    { id: "team", title: "Team", roles: ["owner"], render: team },
  ];

  function render() {
    if (!accessToken) return;
    const [slug, viewId] = location.hash.replace(/^#\//, "").split("/").map(decodeURIComponent);
    const main = el("main", { id: "main", tabindex: "-1" }, invitationCards());
    if (slug === "new") {
      app.replaceChildren(shell(null, null, main));
      return newProject(main);
    }
    const project = projects.find((p) => p.slug === slug);
    if (!project) {
      app.replaceChildren(shell(null, null, main));
      main.append(el("h1", { text: "No project" }),
        el("p", { text: projects.length ? "Pick a project above." : "You have no role on any project yet." }),
        invitations.length && !projects.length ? el("p", { class: "muted", text: "Accept an invitation above to start." }) : null);
      return;
    }
    const allowed = VIEWS.filter((v) => v.roles.includes(project.role));
    const view = allowed.find((v) => v.id === viewId) || allowed[0];
    app.replaceChildren(shell(project, view, main));
    document.title = `${view.title} · ${project.name} · HelpYap`;
    view.render(main, project).catch((error) => {
      if (error.status !== 401) main.append(message("error", error.message));
    });
  }

  function shell(project, view, main) {
    const switcher = el("select", { "aria-label": "Project", onchange: (e) => {
      location.hash = e.target.value === "new" ? "#/new" : `#/${encodeURIComponent(e.target.value)}/${view?.id || "overview"}`;
    } },
      projects.map((p) => el("option", { value: p.slug, text: `${p.name} (${p.slug})`, selected: p.slug === project?.slug })),
      user?.admin ? el("option", { value: "new", text: "+ New project…", selected: !project }) : null);
    if (!project && !user?.admin) switcher.prepend(el("option", { text: "Choose a project", selected: true, disabled: true }));
    const top = el("header", { class: "top" }, el("span", { class: "logo", text: "HelpYap" }), switcher,
      el("span", { class: "who", text: user?.email || "" }), el("button", { type: "button", text: "Sign out", onclick: signOut }));
    const nav = el("nav", { class: "side", "aria-label": "Sections" },
      project ? VIEWS.filter((v) => v.roles.includes(project.role)).map((v) => el("a", {
        href: `#/${encodeURIComponent(project.slug)}/${v.id}`, text: v.title, "aria-current": v === view ? "page" : null,
      })) : null);
    return el("div", {}, top, el("div", { class: "shell" }, nav, main));
  }

  // ---- Overview: figures and charts ---------------------------------------------------------

  async function overview(main, project) {
    const days = Number(sessionStorage.getItem("helpyap-admin:days") || 30);
    const range = el("select", { "aria-label": "Period", onchange: (e) => { sessionStorage.setItem("helpyap-admin:days", e.target.value); render(); } },
      [7, 30, 90].map((d) => el("option", { value: d, text: `Last ${d} days`, selected: d === days })));
    main.append(el("div", { class: "row" }, el("h1", { class: "grow", text: "Overview" }), range,
      csvButton(project, "conversations"), csvButton(project, "leads")));
    const data = await api("GET", projectPath(project.slug, `/analytics?days=${days}`));
    const sum = (key) => data.days.reduce((total, day) => total + day[key], 0);
    const answered = sum("answered"), unanswered = sum("unanswered");
    const rate = answered + unanswered ? `${Math.round((100 * answered) / (answered + unanswered))}%` : "–";
    const figures = [
      ["Conversations", sum("conversations")], ["Visitor messages", sum("messages")],
      ["Answered from the knowledge base", rate], ["Unanswered", unanswered], ["Leads", sum("leads")],
      ["Thumbs up / down", `${data.feedback.up} / ${data.feedback.down}`], ["Popups pushed", sum("pushes")],
      ["Popups delivered", sum("popupsDelivered")], ["Visitors online now", data.subscribersOnline],
    ];
    main.append(el("div", { class: "figures" }, figures.map(([label, value]) =>
      el("div", { class: "figure" }, el("div", { class: "value", text: String(value) }), el("div", { class: "label", text: label })))));
    main.append(el("div", { class: "charts" },
      chartCard("Conversations per day", data.days, [{ key: "conversations", swatch: "brand", color: "#3737f6" }]),
      chartCard("Answers per day", data.days, [
        { key: "answered", swatch: "ok", color: "#19a974", label: "answered" },
        { key: "unanswered", swatch: "bad", color: "#f0a33a", label: "unanswered" }]),
      chartCard("Social proof per day", data.days, [
        { key: "popupsDelivered", swatch: "brand", color: "#3737f6", label: "popups delivered" },
        { key: "pushes", swatch: "ok", color: "#19a974", label: "events pushed" }], { grouped: true })));
    const top = el("div", { class: "card" }, el("h2", { text: "Top questions" }));
    top.append(data.topQuestions.length
      ? el("table", {}, el("thead", {}, el("tr", {}, el("th", { text: "Question" }), el("th", { text: "Times asked" }))),
        el("tbody", {}, data.topQuestions.map((q) => el("tr", {}, el("td", { text: q.question }), el("td", { text: String(q.count) })))))
      : el("p", { class: "muted", text: "No questions yet." }));
    main.append(top);
  }

  // A bar chart in inline SVG: stacked series, or side by side with `grouped`.
  function chartCard(title, days, series, { grouped = false } = {}) {
    const width = 560, height = 200, left = 32, bottom = 22, top = 8;
    const totals = days.map((d) => (grouped ? Math.max(...series.map((s) => d[s.key])) : series.reduce((t, s) => t + d[s.key], 0)));
    const max = Math.max(1, ...totals);
    const step = (width - left) / days.length;
    const bar = Math.max(1, step * 0.7);
    const y = (v) => top + (height - bottom - top) * (1 - v / max);
    const chart = svg("svg", { viewBox: `0 0 ${width} ${height}`, role: "img", "aria-label": `${title}: ${series.map((s) => `${s.label || s.key} ${days.reduce((t, d) => t + d[s.key], 0)} in total`).join(", ")}` });
    for (const tick of max >= 2 ? [0, Math.round(max / 2), max] : [0, max]) {
      chart.append(svg("line", { x1: left, x2: width, y1: y(tick), y2: y(tick), stroke: "#e3e6ee" }),
        svg("text", { x: left - 4, y: y(tick) + 3, "text-anchor": "end", class: "axis", text: String(tick) }));
    }
    days.forEach((day, i) => {
      const x = left + i * step + (step - bar) / 2;
      let base = 0;
      series.forEach((s, j) => {
        const value = day[s.key];
        if (!value) return;
        const w = grouped ? bar / series.length : bar;
        const bx = grouped ? x + j * w : x;
        const from = grouped ? 0 : base;
        const rect = svg("rect", { x: bx, y: y(from + value), width: Math.max(1, w - 1), height: y(from) - y(from + value), fill: s.color, rx: 2 });
        rect.append(svg("title", { text: `${day.date}: ${value} ${s.label || s.key}` }));
        chart.append(rect);
        base += value;
      });
      if (days.length <= 10 || i % Math.ceil(days.length / 6) === 0) {
        chart.append(svg("text", { x: x + bar / 2, y: height - 6, "text-anchor": "middle", class: "axis", text: day.date.slice(5) }));
      }
    });
    const legend = series.length > 1 ? el("div", { class: "legend" }, series.map((s) => el("span", {}, el("i", { class: `swatch-${s.swatch}` }), s.label))) : null;
    return el("div", { class: "card chart" }, el("h2", { text: title }), chart, legend);
  }

  function csvButton(project, what) {
    return el("button", { type: "button", text: `Export ${what} (CSV)`, onclick: async () => {
      const response = await api("GET", projectPath(project.slug, `/${what}.csv`), undefined, { raw: true });
      const link = el("a", { href: URL.createObjectURL(await response.blob()), download: `${project.slug}-${what}.csv` });
      document.body.append(link);
      link.click();
      link.remove();
      setTimeout(() => URL.revokeObjectURL(link.href), 1000);
    } });
  }

  // ---- Conversations inbox ----------------------------------------------------------------

  async function inbox(main, project) {
    const from = el("input", { id: "from", type: "date" });
    const to = el("input", { id: "to", type: "date" });
    const unanswered = el("input", { id: "unanswered", type: "checkbox" });
    const list = el("ul", { class: "threads", "aria-label": "Conversations" });
    const more = el("button", { type: "button", text: "Load older", hidden: true });
    const detail = el("section", { class: "card", "aria-label": "Transcript" }, el("p", { class: "muted", text: "Pick a conversation." }));
    const status = el("div");
    let next = null;

    async function load(reset) {
      status.replaceChildren();
      const params = new URLSearchParams({ limit: "30" });
      if (from.value) params.set("from", from.value);
      if (to.value) params.set("to", to.value);
      if (unanswered.checked) params.set("unanswered", "true");
      if (!reset && next) params.set("before", next);
      try {
        const page = await api("GET", projectPath(project.slug, `/conversations?${params}`));
        if (reset) list.replaceChildren();
        next = page.next;
        more.hidden = !next;
        for (const c of page.conversations) list.append(threadItem(c));
        if (!list.children.length) list.append(el("li", { class: "muted" }, el("p", { text: "No conversations match." })));
      } catch (error) {
        if (error.status !== 401) status.replaceChildren(message("error", error.message));
      }
    }

    function threadItem(c) {
      const button = el("button", { type: "button", onclick: () => {
        list.querySelectorAll("button[aria-current]").forEach((b) => b.removeAttribute("aria-current"));
        button.setAttribute("aria-current", "true");
        open(c.sessionId);
      } },
        el("span", { class: "q", text: c.firstQuestion || "(no question)" }),
        el("span", { class: "meta" }, `${when(c.lastMessageAt || c.createdAt)} · ${c.messages} messages `,
          c.unanswered ? el("span", { class: "badge", text: "unanswered" }) : null));
      return el("li", {}, button);
    }

    async function open(sessionId) {
      detail.replaceChildren(el("p", { class: "muted", text: "Loading…" }));
      try {
        const conversation = await api("GET", projectPath(project.slug, `/conversations/${sessionId}`));
        const bubbles = conversation.messages.map((m) => el("div", { class: `bubble ${m.role}` },
          m.role === "agent" ? el("div", { class: "author", text: m.author || "Team" }) : null,
          m.content || "(empty)",
          m.sources?.length ? el("div", { class: "sources" }, "Sources: ", m.sources.map((s, i) => [i ? ", " : "", s.title])) : null,
          el("div", { class: "meta", text: [when(m.createdAt), m.status !== "complete" ? m.status : "", m.feedback === "up" ? "thumbs up" : m.feedback === "down" ? "thumbs down" : ""].filter(Boolean).join(" · ") })));
        const erase = project.role === "owner" ? el("button", { type: "button", class: "danger", text: "Delete conversation", onclick: async () => {
          if (!confirm("Delete this conversation for good?")) return;
          await api("DELETE", projectPath(project.slug, `/conversations/${sessionId}`));
          detail.replaceChildren(message("ok", "Conversation deleted."));
          load(true);
        } }) : null;
        const text = el("textarea", { id: "reply-text", rows: "3", maxlength: "4000", required: true, placeholder: "Write to the visitor…" });
        const replyStatus = el("div");
        const reply = el("form", { class: "reply", onsubmit: async (event) => {
          event.preventDefault();
          try {
            await api("POST", projectPath(project.slug, `/conversations/${sessionId}/reply`), { text: text.value });
            open(sessionId);
          } catch (error) {
            if (error.status !== 401) replyStatus.replaceChildren(message("error", error.message));
          }
        } }, field("Reply as a teammate", text, "The visitor sees it in the chat while it is open, and on their next visit."),
          el("div", { class: "actions" }, el("button", { class: "primary", type: "submit", text: "Send reply" }), replyStatus));
        detail.replaceChildren(el("div", { class: "row" }, el("h2", { class: "grow", text: `Conversation ${sessionId.slice(0, 8)}` }), erase),
          el("div", { class: "transcript" }, bubbles), reply);
      } catch (error) {
        if (error.status !== 401) detail.replaceChildren(message("error", error.message));
      }
    }

    for (const input of [from, to, unanswered]) input.addEventListener("change", () => load(true));
    more.addEventListener("click", () => load(false));
    main.append(el("h1", { text: "Conversations" }),
      el("div", { class: "row card" }, el("label", { class: "inline", for: "from" }, "From", from), el("label", { class: "inline", for: "to" }, "To", to),
        el("label", { class: "inline", for: "unanswered" }, unanswered, "Only unanswered")),
      status, el("div", { class: "inbox" }, el("div", {}, list, more), detail));
    await load(true);
    const wanted = sessionStorage.getItem(OPEN_KEY);
    sessionStorage.removeItem(OPEN_KEY);
    if (wanted) open(wanted);
  }

  // ---- Leads --------------------------------------------------------------------------------

  // One plain address, as the server requires of new leads (older ones may predate the rule):
  // dot-separated atext runs without ? & # % ' (at most 64), @, two or more LDH labels; 254 in all.
  const PLAIN_ADDRESS = /^(?=.{1,254}$)(?=[^@]{1,64}@)[A-Za-z0-9!$'*+\/=^_`{|}~-]+(?:\.[A-Za-z0-9!$'*+\/=^_`{|}~-]+)*@(?:[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?\.)+[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?$/;

  // A mailto: link built from the address alone, each part percent-encoded, so nothing in it can
  // add recipients, headers or a body; an address of any other shape is shown as plain text.
  function emailCell(address) {
    if (typeof address !== "string" || !PLAIN_ADDRESS.test(address)) return el("td", { text: address ?? "" });
    const [local, domain] = address.split("@");
    return el("td", {}, el("a", { href: `mailto:${encodeURIComponent(local)}@${encodeURIComponent(domain)}`, text: address }));
  }

  async function leads(main, project) {
    const { leads } = await api("GET", projectPath(project.slug, "/leads"));
    main.append(el("div", { class: "row" }, el("h1", { class: "grow", text: "Leads" }), csvButton(project, "leads")));
    main.append(leads.length
      ? el("table", {}, el("thead", {}, el("tr", {}, ["When", "Name", "Email", "Message", "Conversation"].map((h) => el("th", { text: h })))),
        el("tbody", {}, leads.map((lead) => el("tr", {},
          el("td", { text: when(lead.createdAt) }), el("td", { text: lead.name || "" }),
          emailCell(lead.email), el("td", { text: lead.message || "" }),
          el("td", {}, el("a", { href: `#/${encodeURIComponent(project.slug)}/inbox`, text: `Open ${lead.sessionId.slice(0, 8)}`,
            onclick: () => sessionStorage.setItem(OPEN_KEY, lead.sessionId) }))))))
      : el("p", { class: "muted", text: "No leads yet. Visitors leave one with “Talk to a human” in the widget." }));
  }

  // ---- Knowledge base -----------------------------------------------------------------------

  async function knowledge(main, project) {
    const list = el("div");
    const status = el("div");
    async function load() {
      const { documents } = await api("GET", projectPath(project.slug, "/documents"));
      list.replaceChildren(documents.length
        ? el("table", {}, el("thead", {}, el("tr", {}, ["Title", "Id", "Source", "Passages", ""].map((h) => el("th", { text: h })))),
          el("tbody", {}, documents.map((doc) => el("tr", {},
            el("td", { text: doc.title }), el("td", {}, el("code", { text: doc.id })),
            el("td", {}, doc.url ? el("a", { href: /^https?:/i.test(doc.url) ? doc.url : null, rel: "noopener noreferrer", target: "_blank", text: doc.url }) : "upload"),
            el("td", { text: String(doc.passages) }),
            el("td", {}, doc.fetched ? el("button", { type: "button", text: "Re-sync", "aria-label": `Re-sync ${doc.title}`, onclick: () => act(
              () => api("POST", projectPath(project.slug, `/documents/${encodeURIComponent(doc.id)}/sync`)), `Re-synced “${doc.title}”.`) }) : null,
            " ",
            el("button", { type: "button", class: "danger", text: "Delete", "aria-label": `Delete ${doc.title}`, onclick: () => {
              if (confirm(`Delete “${doc.title}”? Answers stop citing it at once.`)) {
                act(() => api("DELETE", projectPath(project.slug, `/documents/${encodeURIComponent(doc.id)}`)), `Deleted “${doc.title}”.`);
              }
            } }))))))
        : el("p", { class: "muted", text: "No documents yet: the assistant has nothing to answer from." }));
    }
    const act = acting(status, load);

    const title = el("input", { id: "doc-title", placeholder: "Returns policy" });
    const format = el("select", { id: "doc-format" }, ["markdown", "html", "text"].map((f) => el("option", { value: f, text: f })));
    const content = el("textarea", { id: "doc-content", rows: "8", placeholder: "# Returns\n\nYou can return…" });
    const file = el("input", { id: "doc-file", type: "file", accept: ".md,.markdown,.txt,.html,.htm,text/*", onchange: async () => {
      const picked = file.files[0];
      if (!picked) return;
      if (picked.size > 1024 * 1024) return status.replaceChildren(message("error", "Files are limited to 1 MiB."));
      content.value = await picked.text();
      format.value = /\.html?$/i.test(picked.name) ? "html" : /\.(md|markdown)$/i.test(picked.name) ? "markdown" : "text";
      if (!title.value) title.value = picked.name.replace(/\.[^.]+$/, "");
    } });
    const add = el("form", { class: "card", onsubmit: (event) => {
      event.preventDefault();
      act(() => api("POST", projectPath(project.slug, "/documents"), { title: title.value || undefined, format: format.value, content: content.value }),
        `Added “${title.value || "document"}”; answers can cite it now.`).then(() => { if (status.querySelector(".ok")) add.reset(); });
    } },
      el("h2", { text: "Add a document" }), field("Upload a file (.md, .txt, .html)", file),
      el("div", { class: "two" }, field("Title", title), field("Format", format)), field("Content", content),
      el("div", { class: "actions" }, el("button", { class: "primary", type: "submit", text: "Add document" })));
    const url = el("input", { id: "doc-url", type: "url", placeholder: "https://example.com/help/returns", required: true });
    const sitemap = el("input", { id: "doc-sitemap", type: "checkbox" });
    const fetchForm = el("form", { class: "card", onsubmit: (event) => {
      event.preventDefault();
      act(() => api("POST", projectPath(project.slug, "/documents/fetch"), { url: url.value, sitemap: sitemap.checked }),
        (result) => (result.failed
          ? `Added ${result.documents.length} pages.${result.failed.length ? ` Failed: ${result.failed.map((f) => `${f.url} (${f.error})`).join("; ")}` : ""}`
          : `Added “${result.title}”.`));
    } },
      el("h2", { text: "Add from the web" }), field("Page or sitemap URL", url),
      el("label", { class: "inline", for: "doc-sitemap" }, sitemap, "It is a sitemap: fetch every page it lists"),
      el("div", { class: "actions" }, el("button", { class: "primary", type: "submit", text: "Fetch" })));
    main.append(el("h1", { text: "Knowledge base" }), status, el("div", { class: "card" }, list), add, fetchForm);
    await load();
  }

  // ---- Widget settings with live preview -----------------------------------------------------

  async function settings(main, project) {
    const current = await api("GET", projectPath(project.slug));
    const sp = current.socialProof;
    const input = (id, value, attrs = {}) => el("input", { id, value: value ?? "", ...attrs });
    const f = {
      name: input("s-name", current.name, { required: true, maxlength: "80" }),
      company: input("s-company", current.company, { maxlength: "80" }),
      welcomeMessage: el("textarea", { id: "s-welcome", rows: "3", value: current.welcomeMessage }),
      quickReplies: el("textarea", { id: "s-quick", rows: "3", value: current.quickReplies.join("\n") }),
      color: input("s-color", current.theme.primaryColor, { type: "color" }),
      position: el("select", { id: "s-position" }, ["bottom-right", "bottom-left"].map((p) => el("option", { value: p, text: p, selected: p === current.theme.position }))),
      origins: el("textarea", { id: "s-origins", rows: "2", value: current.allowedOrigins.join("\n"), placeholder: "https://shop.example.com" }),
      retention: input("s-retention", current.retentionDays ?? "", { type: "number", min: "1", placeholder: "keep forever" }),
      enabled: input("s-enabled", null, { type: "checkbox", checked: sp.enabled }),
      initialDelay: input("s-delay", sp.initialDelayMs / 1000, { type: "number", min: "0", step: "any" }),
      display: input("s-display", sp.displayMs / 1000, { type: "number", min: "1", step: "any" }),
      gap: input("s-gap", sp.gapMs / 1000, { type: "number", min: "0", step: "any" }),
      maxPerVisit: input("s-max", sp.maxPerVisit, { type: "number", min: "0", step: "1" }),
      maxAge: input("s-age", sp.maxAgeMs / 3600000, { type: "number", min: "0", step: "any" }),
      mobile: input("s-mobile", null, { type: "checkbox", checked: sp.showOnMobile }),
      anonymize: input("s-anon", null, { type: "checkbox", checked: sp.anonymize }),
    };
    const templates = Object.fromEntries(Object.entries(sp.templates).map(([type, text]) => [type, input(`t-${type}`, text, { maxlength: "200" })]));
    const lines = (text) => text.split("\n").map((s) => s.trim()).filter(Boolean);
    const body = () => ({
      name: f.name.value, company: f.company.value, welcomeMessage: f.welcomeMessage.value, quickReplies: lines(f.quickReplies.value),
      theme: { primaryColor: f.color.value, position: f.position.value },
      socialProof: {
        enabled: f.enabled.checked, initialDelayMs: Math.round(f.initialDelay.value * 1000), displayMs: Math.round(f.display.value * 1000),
        gapMs: Math.round(f.gap.value * 1000), maxPerVisit: Number(f.maxPerVisit.value), showOnMobile: f.mobile.checked,
        anonymize: f.anonymize.checked, maxAgeMs: Math.round(f.maxAge.value * 3600000),
        templates: Object.fromEntries(Object.entries(templates).map(([type, node]) => [type, node.value])),
      },
      allowedOrigins: lines(f.origins.value),
      retentionDays: f.retention.value ? Number(f.retention.value) : null,
    });

    const frame = el("iframe", { title: "Widget preview", src: `/admin/preview.html?project=${encodeURIComponent(project.slug)}` });
    const sendPreview = () => frame.contentWindow?.postMessage({ helpyapPreview: body() }, location.origin);
    addEventListener("message", function ready(event) {
      if (event.source !== frame.contentWindow || !event.data?.helpyapPreviewReady) return;
      sendPreview();
    });
    const status = el("div");
    const form = el("form", { oninput: sendPreview, onchange: sendPreview, onsubmit: async (event) => {
      event.preventDefault();
      status.replaceChildren(message("status", "Saving…"));
      try {
        await api("PUT", projectPath(project.slug), body());
        status.replaceChildren(message("ok", "Saved: visitors see the new settings now."));
      } catch (error) {
        if (error.status !== 401) status.replaceChildren(message("error", error.message));
      }
    } },
      el("fieldset", {}, el("legend", { text: "Assistant" }),
        el("div", { class: "two" }, field("Assistant name", f.name), field("Company", f.company)),
        field("Welcome message", f.welcomeMessage), field("Quick replies", f.quickReplies, "One per line."),
        el("div", { class: "two" }, field("Colour", f.color), field("Position", f.position))),
      el("fieldset", {}, el("legend", { text: "Social-proof popups" }),
        el("label", { class: "inline", for: "s-enabled" }, f.enabled, "Show popups"),
        el("div", { class: "two" }, field("First popup after (s)", f.initialDelay), field("Each popup shows for (s)", f.display),
          field("Gap between popups (s)", f.gap), field("Most popups per visit", f.maxPerVisit),
          field("Ignore events older than (hours)", f.maxAge)),
        el("label", { class: "inline", for: "s-mobile" }, f.mobile, "Show on phones"),
        el("label", { class: "inline", for: "s-anon" }, f.anonymize, "Anonymise names (“Someone”)"),
        Object.entries(templates).map(([type, node]) => field(`Template: ${type.replace(/_/g, " ")}`, node)),
        el("p", { class: "hint", text: "Placeholders: {name}, {location}, {product}, {message}." })),
      el("fieldset", {}, el("legend", { text: "Privacy and security" }),
        field("Allowed origins", f.origins, "One per line; empty allows any site to embed the widget."),
        field("Erase conversations after (days)", f.retention, "Empty keeps them until deleted.")),
      el("div", { class: "actions" }, el("button", { class: "primary", type: "submit", text: "Save settings" }), status));
    main.append(el("h1", { text: "Widget settings" }),
      el("div", { class: "settings" }, form, el("div", { class: "preview" }, el("h2", { text: "Live preview" }), frame)));
  }

  // ---- Install snippet and push secret ------------------------------------------------------

  async function install(main, project) {
    const current = await api("GET", projectPath(project.slug));
    const tag = `<script src="${location.origin}/widget.js" data-project="${project.slug}" async></script>`;
    const revealed = el("div");
    const placeholder = current.hasPushSecret ? null : el("pre", { text: "" });
    const curl = (secret) => `curl -X POST ${location.origin}/api/widget/salespop-push \\\n  -H "Content-Type: application/json" \\\n  -H "Authorization: Bearer ${secret}" \\\n  -d '{"project": "${project.slug}", "type": "purchased", "name": "Sarah K.", "location": "Austin, TX", "product": "Pro Plan"}'`;
    const rotate = el("button", { type: "button", class: "primary", text: current.hasPushSecret ? "Rotate push secret" : "Create push secret", onclick: async () => {
      if (current.hasPushSecret && !confirm("Rotate the push secret? The current one stops working at once.")) return;
      try {
        const { pushSecret } = await api("POST", projectPath(project.slug, "/push-secret"));
        current.hasPushSecret = true;
        rotate.textContent = "Rotate push secret";
        placeholder?.remove();
        revealed.replaceChildren(
          message("ok", "New push secret — shown only once. Store it in your server's settings now; the previous one no longer works."),
          el("div", { class: "secret" }, el("code", { text: pushSecret }), copyButton(() => pushSecret, "Copy secret")),
          el("h2", { text: "Try it" }), el("pre", { text: curl(pushSecret) }), copyButton(() => curl(pushSecret), "Copy curl"));
      } catch (error) {
        if (error.status !== 401) revealed.replaceChildren(message("error", error.message));
      }
    } });
    main.append(el("h1", { text: "Install & push secret" }),
      el("section", { class: "card" }, el("h2", { text: "Add the widget to your site" }),
        el("p", { text: "Paste this tag before </body> on every page:" }), el("pre", { text: tag }), copyButton(() => tag, "Copy tag")),
      el("section", { class: "card" }, el("h2", { text: "Push secret" }),
        el("p", { text: "Your server sends social-proof events (a purchase, a sign-up) to HelpYap with this secret. It is stored hashed: we can't show it again, only replace it." }),
        el("p", { class: "muted", text: current.hasPushSecret ? "A push secret is set." : "No push secret yet: pushes are refused." }),
        rotate, revealed, placeholder));
    placeholder?.append(curl("sp_…"));
  }

  // ---- Team: members and invitations ---------------------------------------------------------

  const roleSelect = (attrs, selected) => el("select", attrs,
    ["agent", "owner"].map((role) => el("option", { value: role, text: role, selected: role === selected })));

  async function team(main, project) {
    const list = el("div");
    const status = el("div");
    let members = [];
    async function load() {
      const body = await api("GET", projectPath(project.slug, "/members"));
      members = body.members;
      list.replaceChildren(
        el("section", { class: "card" }, el("h2", { text: "Members" }), memberTable(members),
          members.some((m) => m.admin) ? el("p", { class: "hint", text: "Admins own every project: their role can't be changed here." }) : null),
        el("section", { class: "card" }, el("h2", { text: "Pending invitations" }), body.invitations.length
          ? invitationTable(body.invitations)
          : el("p", { class: "muted", text: "No pending invitations." })));
    }
    const act = acting(status, load);
    const memberPath = (email) => projectPath(project.slug, `/members/${encodeURIComponent(email)}`);
    const setRole = (email, role) => api("PUT", projectPath(project.slug, "/members"), { email, role });
    const isMe = (email) => email === user.email;

    function memberTable(rows) {
      return el("table", { class: "team" }, el("thead", {}, el("tr", {}, ["Email", "Role", ""].map((h) => el("th", { text: h })))),
        el("tbody", {}, rows.map((m) => el("tr", {},
          el("td", {}, m.email, isMe(m.email) ? el("span", { class: "muted", text: " (you)" }) : null),
          el("td", {}, m.admin
            ? [m.role, " ", el("span", { class: "badge brand", text: "admin" })]
            : roleSelect({ "aria-label": `Role of ${m.email}`, onchange: (event) => changeRole(m, event.target) }, m.role)),
          el("td", {}, m.admin ? null : el("button", { type: "button", class: "danger", text: "Remove", "aria-label": `Remove ${m.email}`, onclick: () => remove(m) }))))));
    }

    function invitationTable(rows) {
      return el("table", { class: "team" }, el("thead", {}, el("tr", {}, ["Email", "Role", "Invited", ""].map((h) => el("th", { text: h })))),
        el("tbody", {}, rows.map((i) => el("tr", {},
          el("td", { text: i.email }), el("td", { text: i.role }), el("td", { text: when(i.invitedAt) }),
          el("td", {}, el("button", { type: "button", text: "Withdraw", "aria-label": `Withdraw the invitation to ${i.email}`, onclick: () => act(
            () => api("DELETE", memberPath(i.email)), `Invitation to ${i.email} withdrawn.`) }))))));
    }

    // Your own role: losing the owner role (or any role) takes this view away, so the project
    // list is loaded again afterwards.
    async function changeRole(member, select) {
      const role = select.value;
      if (isMe(member.email) && !confirm(`Make yourself an agent of ${project.name}? Only owners manage its settings and team.`)) {
        select.value = member.role;
        return;
      }
      const then = isMe(member.email) ? () => reloadProjects(project.slug) : undefined;
      if (!await act(() => setRole(member.email, role), "Role updated.", then)) select.value = member.role;
    }

    function remove(member) {
      const question = isMe(member.email)
        ? `Remove yourself from ${project.name}? You lose access to it at once.`
        : `Remove ${member.email} from ${project.name}? They lose access to it at once.`;
      if (!confirm(question)) return;
      act(() => api("DELETE", memberPath(member.email)), `Removed ${member.email}.`,
        isMe(member.email) ? () => reloadProjects(project.slug) : undefined);
    }

    const email = el("input", { id: "m-email", type: "email", required: true, autocomplete: "off", placeholder: "teammate@example.com" });
    const role = roleSelect({ id: "m-role" }, "agent");
    const invite = el("form", { class: "card", onsubmit: (event) => {
      event.preventDefault();
      act(() => setRole(email.value, role.value), (result) => {
        if (result.invited) return `Invitation sent to ${result.email}. They will see it after signing in.`;
        return members.some((m) => m.email === result.email) ? "Role updated." : "Added.";
      }).then((ok) => { if (ok) invite.reset(); });
    } },
      el("h2", { text: "Invite a teammate" }),
      el("div", { class: "two" }, field("Email address", email), field("Role", role)),
      el("p", { class: "hint", text: `${ROLE_HINT.agent} ${ROLE_HINT.owner}` }),
      user.admin ? el("p", { class: "hint", text: "As an admin you add existing accounts directly, without an invitation." }) : null,
      el("div", { class: "actions" }, el("button", { class: "primary", type: "submit", text: "Invite" })));
    main.append(el("h1", { text: "Team" }), status, list, invite);
    await load();
  }

  // ---- New project (admins) -----------------------------------------------------------------

  function newProject(main) {
    if (!user.admin) return main.append(message("error", "Only admins create projects."));
    const slug = el("input", { id: "p-slug", required: true, pattern: "[a-z0-9]([a-z0-9\\-]*[a-z0-9])?", maxlength: "64", placeholder: "my-shop" });
    const name = el("input", { id: "p-name", required: true, placeholder: "Shop assistant" });
    const company = el("input", { id: "p-company", placeholder: "My Shop Inc." });
    const status = el("div");
    main.append(el("h1", { text: "New project" }), el("form", { class: "card", onsubmit: async (event) => {
      event.preventDefault();
      try {
        await api("POST", "/api/admin/projects", {
          slug: slug.value, name: name.value, company: company.value, welcomeMessage: "Hi! How can I help?", quickReplies: [],
          theme: { primaryColor: "#3737f6", position: "bottom-right" },
        });
        projects = (await api("GET", "/api/admin/projects")).projects;
        location.hash = `#/${encodeURIComponent(slug.value)}/settings`;
      } catch (error) {
        if (error.status !== 401) status.replaceChildren(message("error", error.message));
      }
    } }, field("Slug", slug, "Lowercase letters, digits and inner dashes; used in the script tag."), field("Assistant name", name), field("Company", company),
      el("div", { class: "actions" }, el("button", { class: "primary", type: "submit", text: "Create project" })), status));
    slug.focus();
  }

  // ---- Start ----------------------------------------------------------------------------------

  addEventListener("hashchange", render);
  refresh().then((ok) => (ok ? enter() : showLogin())).catch(() => showLogin());
})();
