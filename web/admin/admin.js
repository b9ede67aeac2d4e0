// HelpYap admin dashboard: one page over the admin API, plain JS, no build step.
//
// Views are picked by the URL hash (#/SLUG/overview, …). Everything shown comes from the API and
// is put on the page with textContent or DOM nodes — never as HTML — so a visitor's message or a
// document title cannot run script here. The access token lives in memory; the refresh token in
// sessionStorage (this tab only). Every call goes through `api`, where a 401 triggers one refresh
// and one retry before giving up. Each rendered view gets a `scope` for the timers and window
// listeners it starts; the router destroys it when the view is left or rendered again. Input
// limits (`maxlength`) come from `GET /api/admin/me`; an older server without them gets none.
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
  // The server's input limits, from /api/admin/me: {replyChars, projectNameChars, …}.
  let limits = {};
  // Whether the server sends email (`[email] smtp_url`), from /api/admin/me.
  let emailEnabled = false;

  // ---- DOM helpers ----------------------------------------------------------------------------

  // Attributes that are null, undefined or false are left out.
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
  const field = (label, input, hint) => el("div", {},
    el("label", { for: input.id, text: label }), input, hint ? el("p", { class: "hint", text: hint }) : null);
  const when = (iso) => (iso ? new Date(iso).toLocaleString() : "");
  const message = (kind, text) => el("p", { class: kind, role: kind === "error" ? "alert" : "status", text });
  // A `maxlength` from the server's limits; undefined (no attribute) when it gave none.
  const maxLength = (name) => (Number.isInteger(limits[name]) && limits[name] > 0 ? String(limits[name]) : undefined);

  // The one way a failed call is shown: its message in `place` (in place of what is there, or
  // after it with `append`) — except a 401's, which has shown the sign-in form already.
  // Resolves to false, so `await call().then(…, failed(place))` tells whether it worked.
  function failed(place, { append = false } = {}) {
    return (error) => {
      if (error.status !== 401) {
        const note = message("error", error.message);
        if (append) place.append(note);
        else place.replaceChildren(note);
      }
      return false;
    };
  }

  // An `act(call, done, then = reload)` for a view: says `working` in `status` (or clears it),
  // runs `call`, says `done` (or `done(result)`) if given and runs `then`; or shows the error
  // there. Resolves to whether it all worked.
  function acting(status, reload = () => {}, working = "Working…") {
    return async (call, done, then = reload) => {
      status.replaceChildren(...(working ? [message("status", working)] : []));
      try {
        const result = await call();
        status.replaceChildren(...(done ? [message("ok", typeof done === "function" ? done(result) : done)] : []));
        await then();
        return true;
      } catch (error) {
        return failed(status)(error);
      }
    };
  }

  function copyButton(life, text, label = "Copy") {
    const button = el("button", { type: "button", text: label, onclick: async () => {
      try {
        await navigator.clipboard.writeText(text());
        button.textContent = "Copied";
      } catch {
        button.textContent = "Select and copy";
      }
      life.timeout(() => { button.textContent = label; }, 1500);
    } });
    return button;
  }

  // ---- Scopes -----------------------------------------------------------------------------------

  // What a view starts beyond its own nodes — timers, listeners on window or document — is
  // registered here, and `destroy()` stops all of it. Registering on a destroyed scope (a view
  // left while it was still loading) stops the thing at once.
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
      // Aborted when the scope is destroyed: for the view's streams.
      signal: aborter.signal,
      timeout(fn, ms) {
        const id = setTimeout(() => { cancel(); fn(); }, ms);
        const cancel = own(() => clearTimeout(id));
        return cancel;
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

  // The scope of the view on screen; `leaveView` destroys it and starts the next one.
  let viewScope = scope();
  function leaveView() {
    viewScope.destroy();
    viewScope = scope();
    return viewScope;
  }

  // ---- API ----------------------------------------------------------------------------------

  class ApiError extends Error {
    constructor(status, text) { super(text); this.status = status; }
  }

  // Every call to the server: JSON in and out, failures as ApiErrors with the server's message
  // (or `fallback (STATUS)`, or the status line). Signed-in calls (`auth`, the default) carry the
  // access token; on a 401 they refresh it and retry once, and a second 401 shows the sign-in
  // form. `raw` returns the Response (for CSV downloads).
  async function api(method, path, body, { auth = true, raw = false, fallback, signal } = {}) {
    const send = () => {
      const headers = auth ? { Authorization: `Bearer ${accessToken}` } : {};
      if (body !== undefined) headers["Content-Type"] = "application/json";
      return fetch(path, { method, headers, signal, body: body === undefined ? undefined : JSON.stringify(body) });
    };
    let response = await send();
    if (auth && response.status === 401 && await refresh()) response = await send();
    if (auth && response.status === 401) {
      showLogin("Your session ended. Please sign in again.");
      throw new ApiError(401, "signed out");
    }
    if (!response.ok) {
      const said = await response.json().then((answer) => answer?.error, () => null);
      const status = fallback ? `${fallback} (${response.status})` : `${response.status} ${response.statusText}`;
      throw new ApiError(response.status, said || status);
    }
    if (raw) return response;
    const text = await response.text(); // 202 and 204 carry no body
    return text ? JSON.parse(text) : null;
  }

  // Trades the stored refresh token for a new access token; false when there is none or the
  // server refuses it. Callers at the same moment share one exchange: a refresh token works once,
  // and presenting it twice would end the sign-in.
  let refreshing = null;
  function refresh() {
    refreshing ??= (async () => {
      const refreshToken = sessionStorage.getItem(REFRESH_KEY);
      if (!refreshToken) return false;
      try {
        signedIn(await api("POST", "/api/admin/auth/refresh", { refreshToken }, { auth: false }));
        return true;
      } catch (error) {
        if (!(error instanceof ApiError)) throw error; // offline: the caller sees it
        sessionStorage.removeItem(REFRESH_KEY);
        return false;
      }
    })().finally(() => { refreshing = null; });
    return refreshing;
  }

  // The project's live news (`/live`, SSE read with fetch, which can send the token): `onNews` gets
  // each piece, starting with `ready` on every (re)connect, when a view reads what it missed. The
  // server ends the stream when the access token would expire; it reconnects with a fresh one
  // until `life` ends.
  function watchProject(slug, life, onNews) {
    const connect = async (attempt) => {
      try {
        const response = await api("GET", projectPath(slug, "/live"), undefined, { raw: true, signal: life.signal });
        attempt = 0;
        const reader = response.body.getReader();
        const decoder = new TextDecoder();
        let pending = "";
        for (;;) {
          const { done, value } = await reader.read();
          if (done) break;
          pending += decoder.decode(value, { stream: true });
          let end;
          while ((end = pending.indexOf("\n\n")) >= 0) {
            for (const line of pending.slice(0, end).split("\n")) {
              if (!line.startsWith("data: ")) continue;
              try { onNews(JSON.parse(line.slice(6))); } catch { /* not news */ }
            }
            pending = pending.slice(end + 2);
          }
        }
      } catch (error) {
        if (life.signal.aborted || error.status === 401 || error.status === 403) return;
      }
      if (!life.signal.aborted) life.timeout(() => connect(attempt + 1), Math.min(30000, 1000 * 2 ** attempt));
    };
    connect(0);
  }

  function signedIn(body) {
    accessToken = body.accessToken;
    user = body.user;
    sessionStorage.setItem(REFRESH_KEY, body.refreshToken);
  }

  const projectPath = (slug, rest = "") => `/api/admin/projects/${encodeURIComponent(slug)}${rest}`;
  const loadProjects = async () => { projects = (await api("GET", "/api/admin/projects")).projects; };

  // ---- Sign-in --------------------------------------------------------------------------------

  function showLogin(note) {
    leaveView();
    accessToken = null;
    user = null;
    invitations = [];
    const email = el("input", { id: "email", type: "email", autocomplete: "username", required: true });
    const password = el("input", {
      id: "password", type: "password", autocomplete: "current-password", required: true,
    });
    const status = el("div");
    const submit = el("button", { class: "primary", type: "submit", text: "Sign in" });
    // Unlike the views' calls, a 401 here is an answer to show: wrong email or password.
    const form = el("form", { class: "login", onsubmit: async (event) => {
      event.preventDefault();
      submit.disabled = true;
      status.replaceChildren();
      try {
        const credentials = { email: email.value, password: password.value };
        signedIn(await api("POST", "/api/admin/auth/login", credentials, { auth: false, fallback: "Sign-in failed" }));
        await enter();
      } catch (error) {
        status.replaceChildren(message("error", error.message));
        submit.disabled = false;
      }
    } },
      el("h1", {}, el("span", { class: "logo", text: "HelpYap" }), " admin"),
      note ? message(note.startsWith("Password set") ? "ok" : "error", note) : null,
      field("Email", email), field("Password", password), submit, status,
      el("button", { type: "button", class: "link", text: "Forgot password?", onclick: () => forgotPassword(email.value) }));
    app.replaceChildren(form);
    email.focus();
  }

  // "Forgot password": a reset link by email (the same answer whether or not the account exists).
  function forgotPassword(prefill) {
    leaveView();
    const email = el("input", { id: "email", type: "email", autocomplete: "username", required: true, value: prefill || "" });
    const status = el("div");
    const form = el("form", { class: "login", onsubmit: async (event) => {
      event.preventDefault();
      try {
        await api("POST", "/api/admin/auth/forgot", { email: email.value }, { auth: false, fallback: "Could not send" });
        status.replaceChildren(message("ok", "If an account has this email, a link to set a new password is on its way. It works once, for an hour."));
      } catch (error) {
        status.replaceChildren(message("error", error.message));
      }
    } },
      el("h1", {}, el("span", { class: "logo", text: "HelpYap" }), " password"),
      field("Email", email), el("button", { class: "primary", type: "submit", text: "Email me a link" }), status,
      el("button", { type: "button", class: "link", text: "Back to sign-in", onclick: () => showLogin() }));
    app.replaceChildren(form);
    email.focus();
  }

  // A new password, typed twice, for the pages an emailed link opens; `submit(password)` does
  // the rest. The link's token leaves the address bar at once.
  function newPasswordPage({ title, intro, label, hint, button, submit }) {
    leaveView();
    history.replaceState(null, "", location.pathname);
    const password = el("input", { id: "password", type: "password", autocomplete: "new-password", required: true, minlength: "10" });
    const again = el("input", { id: "password-again", type: "password", autocomplete: "new-password", required: true });
    const status = el("div");
    const form = el("form", { class: "login", onsubmit: async (event) => {
      event.preventDefault();
      if (password.value !== again.value) return status.replaceChildren(message("error", "The two passwords differ."));
      try {
        await submit(password.value);
      } catch (error) {
        status.replaceChildren(message("error", error.message));
      }
    } },
      el("h1", {}, el("span", { class: "logo", text: "HelpYap" }), ` ${title}`),
      intro ? el("p", { text: intro }) : null,
      field(label, password, hint), field(`${label} again`, again),
      el("button", { class: "primary", type: "submit", text: button }), status);
    app.replaceChildren(form);
    password.focus();
  }

  // The page an invitation's link opens (someone with no account yet): a password, and in.
  function joinProject(slug, token) {
    newPasswordPage({
      title: "join", label: "Password", hint: "At least 10 characters.", button: "Join",
      intro: `Choose a password for your account, and you are in: ${slug}'s conversations are next.`,
      submit: async (password) => {
        const joined = await api("POST", "/api/admin/auth/join", { project: slug, token, password },
          { auth: false, fallback: "Could not join" });
        signedIn(await api("POST", "/api/admin/auth/login", { email: joined.email, password },
          { auth: false, fallback: "Sign-in failed" }));
        location.hash = `#/${encodeURIComponent(slug)}/inbox`;
        await enter();
      },
    });
  }

  // The page a reset link opens: a new password, then sign in with it.
  function resetPassword(token) {
    newPasswordPage({
      title: "new password", label: "New password", button: "Set password",
      hint: "At least 10 characters. Setting it signs you out everywhere.",
      submit: async (password) => {
        await api("POST", "/api/admin/auth/reset", { token, password }, { auth: false, fallback: "Could not set it" });
        showLogin("Password set. Sign in with it.");
      },
    });
  }

  async function signOut() {
    const refreshToken = sessionStorage.getItem(REFRESH_KEY);
    sessionStorage.removeItem(REFRESH_KEY);
    if (refreshToken) {
      await api("POST", "/api/admin/auth/logout", { refreshToken }, { auth: false }).catch(() => {});
    }
    location.hash = "";
    showLogin();
  }

  async function enter() {
    const [, me, waiting] = await Promise.all([
      loadProjects(),
      // Without these the dashboard still works: no limits rather than no dashboard…
      api("GET", "/api/admin/me").catch(() => null),
      // … and no card rather than no dashboard.
      api("GET", "/api/admin/invitations").then((body) => body.invitations, () => []),
    ]);
    limits = me?.limits || {};
    emailEnabled = Boolean(me?.emailEnabled);
    if (me) user = { ...user, ...me };
    invitations = waiting;
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
    await loadProjects();
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
      const act = acting(status, undefined, null);
      const answer = async (call) => {
        buttons.forEach((b) => { b.disabled = true; });
        if (!await act(call)) buttons.forEach((b) => { b.disabled = false; });
      };
      const buttons = [
        el("button", { type: "button", class: "primary", text: "Accept",
          "aria-label": `Accept the invitation to ${name} (${slug})`, onclick: () => answer(async () => {
            await api("POST", `${invitationPath}/accept`);
            invitations = invitations.filter((i) => i !== invitation);
            await reloadProjects(slug);
          }) }),
        el("button", { type: "button", text: "Decline",
          "aria-label": `Decline the invitation to ${name} (${slug})`, onclick: () => answer(async () => {
            await api("DELETE", invitationPath);
            invitations = invitations.filter((i) => i !== invitation);
            const main = card.closest("main");
            card.remove();
            main?.focus();
          }) }),
      ];
      const hint = [ROLE_HINT[role], invitation.invitedAt ? `Invited ${when(invitation.invitedAt)}.` : ""];
      const card = el("section", { class: "card invitation", "aria-label": `Invitation to ${name} (${slug})` },
        el("div", { class: "grow" },
          el("p", {}, "You're invited to join ", el("strong", { text: name }),
            ` (${slug}) as ${A_ROLE[role] || role}.`),
          el("p", { class: "hint", text: hint.filter(Boolean).join(" ") }),
          status),
        buttons);
      return card;
    });
  }

  // ---- Shell and routing ------------------------------------------------------------------

  // Each view renders into `main` for `project`, registering timers and window listeners with
  // `life`, the scope destroyed when it is left.
  const VIEWS = [
    { id: "overview", title: "Overview", roles: ["owner", "agent"], render: overview },
    { id: "inbox", title: "Conversations", roles: ["owner", "agent"], render: inbox },
    { id: "leads", title: "Leads", roles: ["owner", "agent"], render: leads },
    { id: "knowledge", title: "Knowledge base", roles: ["owner"], render: knowledge },
    { id: "settings", title: "Widget settings", roles: ["owner"], render: settings },
    { id: "install", title: "Install & push secret", roles: ["owner"], render: install },
    { id: "team", title: "Team", roles: ["owner"], render: team },
    { id: "webhooks", title: "Webhooks", roles: ["owner"], render: webhooks },
    { id: "profile", title: "Your profile", roles: ["owner", "agent"], render: profile },
  ];

  function render() {
    if (!accessToken) return;
    const life = leaveView();
    const [slug, viewId, conversation] = location.hash.replace(/^#\//, "").split("/").map(decodeURIComponent);
    // A link to one conversation (from a lead email): the inbox opens it.
    if (viewId === "inbox" && conversation) {
      sessionStorage.setItem(OPEN_KEY, conversation);
      history.replaceState(null, "", `#/${encodeURIComponent(slug)}/inbox`);
    }
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
        invitations.length && !projects.length
          ? el("p", { class: "muted", text: "Accept an invitation above to start." })
          : null);
      return;
    }
    const allowed = VIEWS.filter((v) => v.roles.includes(project.role));
    const view = allowed.find((v) => v.id === viewId) || allowed[0];
    app.replaceChildren(shell(project, view, main));
    document.title = `${view.title} · ${project.name} · HelpYap`;
    view.render(main, project, life).catch(failed(main, { append: true }));
  }

  function shell(project, view, main) {
    const switcher = el("select", { "aria-label": "Project", onchange: (e) => {
      const slug = e.target.value;
      location.hash = slug === "new" ? "#/new" : `#/${encodeURIComponent(slug)}/${view?.id || "overview"}`;
    } },
      projects.map((p) =>
        el("option", { value: p.slug, text: `${p.name} (${p.slug})`, selected: p.slug === project?.slug })),
      user?.admin ? el("option", { value: "new", text: "+ New project…", selected: !project }) : null);
    if (!project && !user?.admin) {
      switcher.prepend(el("option", { text: "Choose a project", selected: true, disabled: true }));
    }
    const top = el("header", { class: "top" }, el("span", { class: "logo", text: "HelpYap" }), switcher,
      el("span", { class: "who", text: user?.email || "" }),
      el("button", { type: "button", text: "Sign out", onclick: signOut }));
    const nav = el("nav", { class: "side", "aria-label": "Sections" },
      project ? VIEWS.filter((v) => v.roles.includes(project.role)).map((v) => el("a", {
        href: `#/${encodeURIComponent(project.slug)}/${v.id}`, text: v.title,
        "aria-current": v === view ? "page" : null,
      })) : null);
    return el("div", {}, top, el("div", { class: "shell" }, nav, main));
  }

  // ---- Overview: figures and charts ---------------------------------------------------------

  async function overview(main, project) {
    const days = Number(sessionStorage.getItem("helpyap-admin:days") || 30);
    const range = el("select", { "aria-label": "Period", onchange: (e) => {
      sessionStorage.setItem("helpyap-admin:days", e.target.value);
      render();
    } },
      [7, 30, 90].map((d) => el("option", { value: d, text: `Last ${d} days`, selected: d === days })));
    main.append(el("div", { class: "row" }, el("h1", { class: "grow", text: "Overview" }), range,
      csvButton(project, "conversations"), csvButton(project, "leads"), csvButton(project, "popups"),
      csvButton(project, "satisfaction")));
    const data = await api("GET", projectPath(project.slug, `/analytics?days=${days}`));
    const sum = (key) => data.days.reduce((total, day) => total + day[key], 0);
    if (project.role === "owner") await checklist(main, project, data, sum);
    const answered = sum("answered"), unanswered = sum("unanswered");
    const percent = (part, whole) => (whole ? `${Math.round((1000 * part) / whole) / 10}%` : "–");
    const rate = percent(answered, answered + unanswered);
    const shown = sum("popupsShown"), clicked = sum("popupsClicked");
    const figures = [
      ["Conversations", sum("conversations")], ["Visitor messages", sum("messages")],
      ["Answered from the knowledge base", rate], ["Unanswered", unanswered], ["Leads", sum("leads")],
      ["Thumbs up / down", `${data.feedback.up} / ${data.feedback.down}`], ["Popups pushed", sum("pushes")],
      ["Popups delivered", sum("popupsDelivered")], ["Popups seen", shown],
      ["Popup clicks", `${clicked} (${percent(clicked, shown)})`], ["Visitors online now", data.subscribersOnline],
      ["Satisfaction", satisfactionFigure(data.satisfaction)],
    ];
    main.append(el("div", { class: "figures" }, figures.map(([label, value]) => el("div", { class: "figure" },
      el("div", { class: "value", text: String(value) }), el("div", { class: "label", text: label })))));
    main.append(el("div", { class: "charts" },
      chartCard("Conversations per day", data.days, [{ key: "conversations", swatch: "brand", color: "#3737f6" }]),
      chartCard("Answers per day", data.days, [
        { key: "answered", swatch: "ok", color: "#19a974", label: "answered" },
        { key: "unanswered", swatch: "bad", color: "#f0a33a", label: "unanswered" }]),
      chartCard("Social proof per day", data.days, [
        { key: "popupsDelivered", swatch: "brand", color: "#3737f6", label: "popups delivered" },
        { key: "pushes", swatch: "ok", color: "#19a974", label: "events pushed" }], { grouped: true }),
      chartCard(`Popups seen and clicked per day (click-through ${percent(clicked, shown)})`, data.days, [
        { key: "popupsShown", swatch: "brand", color: "#3737f6", label: "seen" },
        { key: "popupsClicked", swatch: "ok", color: "#19a974", label: "clicked" }], { grouped: true })));
    const byType = el("div", { class: "card" }, el("h2", { text: "Popups by event type" }));
    byType.append(data.popupsByType.length
      ? el("table", {},
        el("thead", {}, el("tr", {}, ["Type", "Seen", "Clicked", "Click-through"].map((h) => el("th", { text: h })))),
        el("tbody", {}, data.popupsByType.map((row) => el("tr", {},
          el("td", { text: row.type.replace(/_/g, " ") }), el("td", { text: String(row.shown) }),
          el("td", { text: String(row.clicked) }), el("td", { text: percent(row.clicked, row.shown) })))))
      : el("p", { class: "muted", text: "No popups seen yet." }));
    main.append(byType, satisfactionCard(data.satisfaction), proactiveCard(data.proactive, percent));
    const top = el("div", { class: "card" }, el("h2", { text: "Top questions" }));
    top.append(data.topQuestions.length
      ? el("table", {},
        el("thead", {}, el("tr", {}, el("th", { text: "Question" }), el("th", { text: "Times asked" }))),
        el("tbody", {}, data.topQuestions.map((q) =>
          el("tr", {}, el("td", { text: q.question }), el("td", { text: String(q.count) })))))
      : el("p", { class: "muted", text: "No questions yet." }));
    main.append(top);
  }

  // Visitors' ratings of resolved conversations: the average, and how many gave each score.
  const satisfactionFigure = ({ ratings, averageHundredths }) =>
    (ratings ? `${(averageHundredths / 100).toFixed(1)} / 5 (${ratings} rating${ratings === 1 ? "" : "s"})` : "–");
  // A bar `percent` wide. Set through the CSSOM: the page's CSP refuses style attributes.
  function bar(percent) {
    const node = el("span", { class: "bar" });
    node.style.width = `${percent}%`;
    return node;
  }
  function satisfactionCard({ ratings, distribution }) {
    const card = el("div", { class: "card satisfaction" }, el("h2", { text: "Satisfaction" }));
    if (!ratings) {
      card.append(el("p", { class: "muted", text: "No ratings yet: visitors may rate a conversation once it is resolved." }));
      return card;
    }
    const most = Math.max(...distribution);
    card.append(el("table", {}, el("tbody", {}, [5, 4, 3, 2, 1].map((score) => {
      const count = distribution[score - 1];
      return el("tr", {}, el("th", { text: `${"★".repeat(score)}`, "aria-label": `${score} out of 5` }),
        el("td", { class: "bar-cell" }, bar(most ? (100 * count) / most : 0)),
        el("td", { text: `${count} (${Math.round((100 * count) / ratings)}%)` }));
    }))));
    return card;
  }

  // How each proactive message did: seen, opened (and the rate), dismissed.
  function proactiveCard(rows, percent) {
    const card = el("div", { class: "card" }, el("h2", { text: "Proactive messages" }));
    if (!rows.length) {
      card.append(el("p", { class: "muted", text: "None yet: add one in Settings, under Proactive messages." }));
      return card;
    }
    card.append(el("table", {},
      el("thead", {}, el("tr", {}, ["Message", "Seen", "Opened", "Open rate", "Dismissed"].map((h) => el("th", { text: h })))),
      el("tbody", {}, rows.map((row) => el("tr", {},
        el("td", {}, el("strong", { text: row.rule }), el("br"),
          el("span", { class: "muted", text: row.message ?? "(deleted since)" })),
        el("td", { text: String(row.shown) }), el("td", { text: String(row.opened) }),
        el("td", { text: percent(row.opened, row.shown) }), el("td", { text: String(row.dismissed) }))))));
    return card;
  }

  // A new project's first steps, each ticked as the project shows it done; gone once all are.
  async function checklist(main, project, data, sum) {
    const [settings, { documents }] = await Promise.all([
      api("GET", projectPath(project.slug)), api("GET", projectPath(project.slug, "/documents")),
    ]);
    const view = (id) => `#/${encodeURIComponent(project.slug)}/${id}`;
    const steps = [
      ["Add the widget to your site", "install",
        data.subscribersOnline > 0 || sum("popupsDelivered") > 0 || sum("popupsShown") > 0,
        "Paste the script tag on your pages; this is ticked once a page of yours connects."],
      ["Create a push secret", "install", settings.hasPushSecret,
        "Your server sends social-proof events with it (or connect Stripe or Shopify)."],
      ["Add a first document", "knowledge", documents.length > 0,
        "The assistant answers from your help center: add a page, a sitemap or a file."],
      ["Ask a test question", "settings", sum("conversations") > 0,
        "Ask something in the widget preview and see the answer and its source."],
    ];
    const done = steps.filter(([, , ok]) => ok).length;
    if (done === steps.length) return;
    main.append(el("section", { class: "card checklist", "aria-label": "Getting started" },
      el("h2", { text: `Getting started: ${done} of ${steps.length} done` }),
      el("ol", {}, steps.map(([title, id, ok, hint]) => el("li", { class: ok ? "done" : "" },
        el("span", { class: "tick", "aria-hidden": "true", text: ok ? "✓" : "" }),
        el("div", {}, el("a", { href: view(id), text: title }), ok ? " (done)" : "",
          el("div", { class: "hint", text: hint })))))));
  }

  // A bar chart in inline SVG: stacked series, or side by side with `grouped`.
  function chartCard(title, days, series, { grouped = false } = {}) {
    const width = 560, height = 200, left = 32, bottom = 22, top = 8;
    const totals = days.map((d) =>
      (grouped ? Math.max(...series.map((s) => d[s.key])) : series.reduce((t, s) => t + d[s.key], 0)));
    const max = Math.max(1, ...totals);
    const step = (width - left) / days.length;
    const bar = Math.max(1, step * 0.7);
    const y = (v) => top + (height - bottom - top) * (1 - v / max);
    const total = (s) => days.reduce((t, d) => t + d[s.key], 0);
    const summary = series.map((s) => `${s.label || s.key} ${total(s)} in total`).join(", ");
    const chart = svg("svg", { viewBox: `0 0 ${width} ${height}`, role: "img", "aria-label": `${title}: ${summary}` });
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
        const rect = svg("rect", {
          x: bx, y: y(from + value), width: Math.max(1, w - 1), height: y(from) - y(from + value), fill: s.color, rx: 2,
        });
        rect.append(svg("title", { text: `${day.date}: ${value} ${s.label || s.key}` }));
        chart.append(rect);
        base += value;
      });
      if (days.length <= 10 || i % Math.ceil(days.length / 6) === 0) {
        chart.append(svg("text", {
          x: x + bar / 2, y: height - 6, "text-anchor": "middle", class: "axis", text: day.date.slice(5),
        }));
      }
    });
    const legend = series.length > 1
      ? el("div", { class: "legend" },
        series.map((s) => el("span", {}, el("i", { class: `swatch-${s.swatch}` }), s.label)))
      : null;
    return el("div", { class: "card chart" }, el("h2", { text: title }), chart, legend);
  }

  function csvButton(project, what) {
    return el("button", { type: "button", text: `Export ${what} (CSV)`, onclick: async () => {
      const response = await api("GET", projectPath(project.slug, `/${what}.csv`), undefined, { raw: true });
      const href = URL.createObjectURL(await response.blob());
      const link = el("a", { href, download: `${project.slug}-${what}.csv` });
      document.body.append(link);
      link.click();
      link.remove();
      // Not the view's timer: the download may outlive the view, and the URL must go anyway.
      setTimeout(() => URL.revokeObjectURL(href), 1000);
    } });
  }

  // ---- Conversations inbox ----------------------------------------------------------------

  async function inbox(main, project, life) {
    const from = el("input", { id: "from", type: "date" });
    const to = el("input", { id: "to", type: "date" });
    const unanswered = el("input", { id: "unanswered", type: "checkbox" });
    const statusFilter = el("select", { id: "status-filter" },
      [["", "Any status"], ["waiting", "Waiting for a human"], ["human", "With a teammate"],
        ["open", "With the assistant"], ["resolved", "Resolved"]]
        .map(([value, label]) => el("option", { value, text: label })));
    const mine = el("input", { id: "mine", type: "checkbox" });
    const list = el("ul", { class: "threads", "aria-label": "Conversations" });
    const more = el("button", { type: "button", text: "Load older", hidden: true });
    const detail = el("section", { class: "card", "aria-label": "Transcript" },
      el("p", { class: "muted", text: "Pick a conversation." }));
    const status = el("div");
    const act = acting(status, undefined, null);
    let next = null;
    let shownFirst = new Set();
    // The conversation on the right, if any.
    let current = null;

    function load(reset) {
      const params = new URLSearchParams({ limit: "30" });
      if (from.value) params.set("from", from.value);
      if (to.value) params.set("to", to.value);
      if (unanswered.checked) params.set("unanswered", "true");
      if (statusFilter.value) params.set("status", statusFilter.value);
      if (mine.checked && user) params.set("assignee", user.email);
      if (!reset && next) params.set("before", next);
      return act(async () => {
        const page = await api("GET", projectPath(project.slug, `/conversations?${params}`));
        // Visitors waiting for a human come first, whatever their age.
        let waiting = [];
        if (reset) shownFirst = new Set();
        if (reset && !statusFilter.value) {
          const first = new URLSearchParams(params);
          first.set("status", "waiting");
          first.set("limit", "100");
          waiting = (await api("GET", projectPath(project.slug, `/conversations?${first}`))).conversations;
          shownFirst = new Set(waiting.map((c) => c.sessionId));
        }
        if (reset) list.replaceChildren();
        next = page.next;
        more.hidden = !next;
        for (const c of waiting) list.append(threadItem(c));
        for (const c of page.conversations) if (!shownFirst.has(c.sessionId)) list.append(threadItem(c));
        if (!list.children.length) {
          list.append(el("li", { class: "muted" }, el("p", { text: "No conversations match." })));
        }
      });
    }

    function threadItem(c) {
      const button = el("button", { type: "button", "aria-current": c.sessionId === current ? "true" : null, onclick: () => {
        list.querySelectorAll("button[aria-current]").forEach((b) => b.removeAttribute("aria-current"));
        button.setAttribute("aria-current", "true");
        open(c.sessionId);
      } },
        el("span", { class: "q", text: c.firstQuestion || "(no question)" }),
        el("span", { class: "meta" }, `${when(c.lastMessageAt || c.createdAt)} · ${c.messages} messages `,
          statusBadge(c.status),
          c.visitor ? ` · ${visitorName(c.visitor)} ` : null,
          c.visitor ? verifiedBadge(c.visitor) : null,
          c.satisfaction ? ` · ${"★".repeat(c.satisfaction.score)} ` : null,
          c.lead ? ` · ${c.lead.name ? `${c.lead.name} <${c.lead.email}>` : c.lead.email} ` : null,
          c.assignee ? ` · ${c.assignee} ` : null,
          c.unanswered ? el("span", { class: "badge", text: "unanswered" }) : null));
      return el("li", {}, button);
    }

    const visitorName = (visitor) => visitor.name || visitor.email || visitor.userId;
    const verifiedBadge = (visitor) => el("span", {
      class: `badge ${visitor.verified ? "verified" : "unverified"}`,
      text: visitor.verified ? "verified" : "unverified",
      title: visitor.verified ? "Your server vouched for this identity" : "Only what the page said: not verified",
    });

    function statusBadge(status) {
      const label = { waiting: "waiting for a human", human: "with a teammate", resolved: "resolved" }[status];
      return label ? el("span", { class: `badge status-${status}`, text: label }) : null;
    }

    // Take over, hand back, resolve, reopen: who answers this conversation.
    function handoffActions(path, conversation, sessionId, shown) {
      const change = (body) => api("PATCH", path, body).then(() => { open(sessionId); load(true); }, failed(shown));
      const button = (text, body, primary) => el("button", {
        type: "button", class: primary ? "primary" : "", text, onclick: () => change(body),
      });
      const buttons = {
        open: [button("Take over", { status: "human", assignee: user?.email ?? null }, true), button("Resolve", { status: "resolved" })],
        waiting: [button("Take over", { status: "human", assignee: user?.email ?? null }, true), button("Hand back to the assistant", { status: "open", assignee: null })],
        human: [button("Hand back to the assistant", { status: "open", assignee: null }), button("Resolve", { status: "resolved" })],
        resolved: [button("Reopen", { status: "open" })],
      }[conversation.status] || [];
      const who = conversation.assignee ? `Assigned to ${conversation.assignee}.` : "Not assigned.";
      const paused = conversation.status === "waiting" || conversation.status === "human"
        ? " The assistant is paused: the visitor's messages wait for a teammate." : "";
      return el("div", { class: "row handoff" }, statusBadge(conversation.status),
        el("span", { class: "grow muted", text: who + paused }), buttons);
    }

    function bubble(m, index, messages) {
      const feedback = m.feedback === "up" ? "thumbs up" : m.feedback === "down" ? "thumbs down" : "";
      const meta = [when(m.createdAt), m.status !== "complete" ? m.status : "", feedback].filter(Boolean).join(" · ");
      const author = m.authorName ? `${m.authorName} (${m.author})` : m.author || "Team";
      const question = messages.slice(0, index).reverse().find((earlier) => earlier.role === "user");
      const improvable = m.role === "assistant" && question;
      return el("div", { class: `bubble ${m.role}` },
        m.role === "agent" ? el("div", { class: "author", text: author }) : null,
        m.content || "(empty)",
        m.sources?.length
          ? el("div", { class: "sources" }, "Sources: ", m.sources.map((s, i) => [i ? ", " : "", s.title]))
          : null,
        el("div", { class: "meta", text: meta }),
        improvable ? el("button", { type: "button", class: "link", text: "Improve this answer",
          "aria-label": `Improve the answer to “${question.content}”`, onclick: (event) => {
            improving = { index, form: improveForm(question.content, m.content) };
            event.target.after(improving.form);
            improving.form.querySelector("textarea").focus();
          } }) : null,
        improving && improving.index === index ? improving.form : null);
    }

    // "Improve this answer": the question and the answer it deserves, saved as a curated answer
    // that later questions like it get first. Kept across live re-renders of the conversation.
    let improving = null;
    function improveForm(question, answer) {
      const asked = el("input", { id: "improve-question", value: question, maxlength: "500", required: true });
      const better = el("textarea", { id: "improve-answer", rows: "5", value: answer, maxlength: "4000", required: true });
      const saved = el("div");
      const form = el("form", { class: "card improve", onsubmit: (event) => {
        event.preventDefault();
        const body = { question: asked.value, answer: better.value };
        api("POST", projectPath(project.slug, "/faq"), body).then(() => {
          improving = null;
          form.replaceWith(message("ok", "Saved to the FAQ: questions like this one get this answer now."));
        }).catch(failed(saved));
      } },
        field("Question", asked), field("Answer", better, "Markdown: **bold**, lists, links."), saved,
        el("div", { class: "actions" },
          el("button", { class: "primary", type: "submit", text: "Save to the FAQ" }),
          el("button", { type: "button", text: "Cancel", onclick: () => { improving = null; form.remove(); } })));
      return form;
    }

    // Shows conversation `sessionId`; `again` (live news of it) keeps the reply being written.
    function open(sessionId, again = false) {
      const draft = again && current === sessionId ? detail.querySelector("#reply-text") : null;
      if (current !== sessionId) improving = null; // a form belongs to its conversation
      current = sessionId;
      if (!draft) detail.replaceChildren(el("p", { class: "muted", text: "Loading…" }));
      const path = projectPath(project.slug, `/conversations/${sessionId}`);
      return api("GET", path).then((conversation) => {
        if (current !== sessionId) return; // another was picked meanwhile
        const text = draft || el("textarea", {
          id: "reply-text", rows: "3", maxlength: maxLength("replyChars"), required: true,
          placeholder: "Write to the visitor…",
        });
        const focused = document.activeElement === text;
        const replyStatus = el("div");
        const erase = project.role === "owner" ? el("button", {
          type: "button", class: "danger", text: "Delete conversation", onclick: () => {
            if (!confirm("Delete this conversation for good?")) return;
            api("DELETE", path).then(() => {
              detail.replaceChildren(message("ok", "Conversation deleted."));
              load(true);
            }, failed(replyStatus));
          } }) : null;
        const reply = el("form", { class: "reply", onsubmit: (event) => {
          event.preventDefault();
          api("POST", `${path}/reply`, { text: text.value }).then(() => { text.value = ""; open(sessionId); },
            failed(replyStatus));
        } },
          field("Reply as a teammate", text,
            `The visitor sees it at once, signed “${user?.displayName || `${project.name} team`}”`
            + (user?.displayName ? "." : " (set your name under Your profile).")),
          el("div", { class: "actions" },
            el("button", { class: "primary", type: "submit", text: "Send reply" }), replyStatus));
        const lead = conversation.lead;
        const visitor = conversation.visitor;
        detail.replaceChildren(...[
          el("div", { class: "row" },
            el("h2", { class: "grow", text: `Conversation ${sessionId.slice(0, 8)}` }), erase),
          visitor ? el("p", { class: "visitor" },
            el("strong", { text: visitor.name || visitor.userId }),
            visitor.email ? [" ", el("a", { href: `mailto:${visitor.email}`, text: visitor.email })] : null,
            ` · user ${visitor.userId} `, verifiedBadge(visitor)) : null,
          handoffActions(path, conversation, sessionId, replyStatus),
          conversation.satisfaction ? el("div", { class: "card rated" },
            el("strong", { text: `Rated ${conversation.satisfaction.score} / 5 ` }),
            el("span", { class: "stars", text: "★".repeat(conversation.satisfaction.score), "aria-hidden": "true" }),
            ` · ${when(conversation.satisfaction.createdAt)}`,
            conversation.satisfaction.comment ? el("p", { text: conversation.satisfaction.comment }) : null) : null,
          lead ? el("div", { class: "card lead" },
            el("strong", { text: "Left their contact: " }),
            lead.name ? `${lead.name} ` : "",
            el("a", { href: `mailto:${lead.email}`, text: lead.email }),
            ` · ${when(lead.createdAt)}`,
            lead.message ? el("p", { text: lead.message }) : null) : null,
          el("div", { class: "transcript" }, conversation.messages.map(bubble)), reply,
        ].filter(Boolean));
        if (focused) text.focus();
      }).catch(failed(detail));
    }

    // Live: a visitor's message, a new conversation, a lead or a status change shows within a
    // second — the open conversation again (the draft kept), and the list, a moment later.
    let relist = null;
    let connected = false;
    const changed = (news) => {
      if (news.type === "ready" && !connected) { connected = true; return; } // read just now
      if (news.type === "ready" || news.type === "missed" || news.conversationId === current) {
        if (current) open(current, true);
      }
      relist ??= life.timeout(() => { relist = null; load(true); }, 300);
    };
    watchProject(project.slug, life, changed);

    for (const input of [from, to, unanswered, statusFilter, mine]) input.addEventListener("change", () => load(true));
    more.addEventListener("click", () => load(false));
    main.append(el("h1", { text: "Conversations" }),
      el("div", { class: "row card" },
        el("label", { class: "inline", for: "from" }, "From", from),
        el("label", { class: "inline", for: "to" }, "To", to),
        el("label", { class: "inline", for: "unanswered" }, unanswered, "Only unanswered"),
        el("label", { class: "inline", for: "status-filter" }, "Status", statusFilter),
        el("label", { class: "inline", for: "mine" }, mine, "Assigned to me")),
      status, el("div", { class: "inbox" }, el("div", {}, list, more), detail));
    await load(true);
    const wanted = sessionStorage.getItem(OPEN_KEY);
    sessionStorage.removeItem(OPEN_KEY);
    if (wanted) open(wanted);
  }

  // ---- Your profile: how visitors see your replies ------------------------------------------

  async function profile(main) {
    const name = el("input", { id: "p-name", value: user?.displayName ?? "", maxlength: "60", autocomplete: "name" });
    const avatar = el("input", {
      id: "p-avatar", type: "url", value: user?.avatarUrl ?? "", maxlength: "500", placeholder: "https://…/you.png",
    });
    const notify = el("input", { id: "p-notify", type: "checkbox", checked: Boolean(user?.emailNotifications) });
    const status = el("div");
    const act = acting(status);
    const form = el("form", { class: "card", onsubmit: (event) => {
      event.preventDefault();
      act(async () => {
        const me = await api("PATCH", "/api/admin/me",
          { displayName: name.value, avatarUrl: avatar.value, emailNotifications: notify.checked });
        user = { ...user, ...me };
      }, "Saved. Your next replies are signed this way.");
    } },
      field("Display name", name, "Visitors see it on your replies; empty: your project's team name."),
      field("Avatar URL", avatar, "An http(s) picture shown beside your replies (optional)."),
      el("label", { class: "inline", for: "p-notify" }, notify, "Email me when a visitor leaves their contact"),
      emailEnabled ? null : message("error", "Email is off on this server (no [email] smtp_url in its config): nothing is sent."),
      el("div", { class: "actions" }, el("button", { class: "primary", type: "submit", text: "Save" }), status));
    main.append(el("h1", { text: "Your profile" }), el("p", { class: "muted", text: `Signed in as ${user?.email ?? ""}.` }), form);
  }

  // ---- Leads --------------------------------------------------------------------------------

  // One plain address, as the server requires of new leads (older ones may predate the rule):
  // dot-separated atext runs without ? & # % (at most 64), @, two or more LDH labels; 254 in all.
  // Built from parts: ATEXT_RUN is one run of the local part, LABEL one domain label.
  const ATEXT_RUN = "[A-Za-z0-9!$'*+/=^_`{|}~-]+";
  const LABEL = "[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?";
  const PLAIN_ADDRESS =
    new RegExp(`^(?=.{1,254}$)(?=[^@]{1,64}@)${ATEXT_RUN}(?:\\.${ATEXT_RUN})*@(?:${LABEL}\\.)+${LABEL}$`);

  // A mailto: link built from the address alone, each part percent-encoded, so nothing in it can
  // add recipients, headers or a body; an address of any other shape is shown as plain text.
  function emailCell(address) {
    if (typeof address !== "string" || !PLAIN_ADDRESS.test(address)) return el("td", { text: address ?? "" });
    const [local, domain] = address.split("@");
    const href = `mailto:${encodeURIComponent(local)}@${encodeURIComponent(domain)}`;
    return el("td", {}, el("a", { href, text: address }));
  }

  async function leads(main, project) {
    const { leads } = await api("GET", projectPath(project.slug, "/leads"));
    const headings = ["When", "Name", "Email", "Message", "Conversation"];
    main.append(el("div", { class: "row" }, el("h1", { class: "grow", text: "Leads" }), csvButton(project, "leads")));
    main.append(leads.length
      ? el("table", {}, el("thead", {}, el("tr", {}, headings.map((h) => el("th", { text: h })))),
        el("tbody", {}, leads.map((lead) => el("tr", {},
          el("td", { text: when(lead.createdAt) }), el("td", { text: lead.name || "" }),
          emailCell(lead.email), el("td", { text: lead.message || "" }),
          el("td", {}, el("a", {
            href: `#/${encodeURIComponent(project.slug)}/inbox`, text: `Open ${lead.sessionId.slice(0, 8)}`,
            onclick: () => sessionStorage.setItem(OPEN_KEY, lead.sessionId),
          }))))))
      : el("p", { class: "muted",
        text: "No leads yet. Visitors leave one with “Talk to a human” in the widget." }));
  }

  // ---- Knowledge base -----------------------------------------------------------------------

  async function knowledge(main, project) {
    const list = el("div");
    const status = el("div");
    const documentPath = (doc, rest = "") =>
      projectPath(project.slug, `/documents/${encodeURIComponent(doc.id)}${rest}`);
    function row(doc) {
      const source = doc.url
        ? el("a", {
          href: /^https?:/i.test(doc.url) ? doc.url : null, rel: "noopener noreferrer", target: "_blank", text: doc.url,
        })
        : "upload";
      const resync = doc.fetched ? el("button", { type: "button", text: "Re-sync", "aria-label": `Re-sync ${doc.title}`,
        onclick: () => act(() => api("POST", documentPath(doc, "/sync")), `Re-synced “${doc.title}”.`) }) : null;
      const remove = el("button", {
        type: "button", class: "danger", text: "Delete", "aria-label": `Delete ${doc.title}`, onclick: () => {
          if (!confirm(`Delete “${doc.title}”? Answers stop citing it at once.`)) return;
          act(() => api("DELETE", documentPath(doc)), `Deleted “${doc.title}”.`);
        } });
      return el("tr", {}, el("td", { text: doc.title }), el("td", {}, el("code", { text: doc.id })),
        el("td", {}, source), el("td", { text: String(doc.passages) }), el("td", {}, resync, " ", remove));
    }
    async function load() {
      const { documents } = await api("GET", projectPath(project.slug, "/documents"));
      const headings = ["Title", "Id", "Source", "Passages", ""];
      list.replaceChildren(documents.length
        ? el("table", {}, el("thead", {}, el("tr", {}, headings.map((h) => el("th", { text: h })))),
          el("tbody", {}, documents.map(row)))
        : el("p", { class: "muted", text: "No documents yet: the assistant has nothing to answer from." }));
    }
    const act = acting(status, load);

    const faqList = el("div");
    const faqPath = (entry) => projectPath(project.slug, `/faq${entry ? `/${encodeURIComponent(entry.id)}` : ""}`);
    const actFaq = acting(status, () => loadFaq());
    /** The form adding a curated answer, or editing `entry`. */
    function faqForm(entry) {
      const question = el("input", { value: entry?.question ?? "", maxlength: "500", required: true,
        "aria-label": "Question", placeholder: "Do you ship to Canada?" });
      const answer = el("textarea", { rows: "3", value: entry?.answer ?? "", maxlength: "4000", required: true,
        "aria-label": "Answer", placeholder: "Yes: in 5 to 8 business days." });
      return el("form", { class: "faq-form", onsubmit: (event) => {
        event.preventDefault();
        const body = { question: question.value, answer: answer.value };
        actFaq(() => api(entry ? "PUT" : "POST", faqPath(entry), body), entry ? "Saved." : "Added to the FAQ.")
          .then((ok) => { if (ok && !entry) event.target.reset(); });
      } }, question, answer,
        el("div", { class: "actions" }, el("button", { class: "primary", type: "submit", text: entry ? "Save" : "Add to the FAQ" })));
    }
    async function loadFaq() {
      const { faq } = await api("GET", faqPath());
      faqList.replaceChildren(faq.length ? el("ul", { class: "faq" }, faq.map((entry) => {
        const item = el("li", {}, el("strong", { text: entry.question }), el("div", { class: "muted", text: entry.answer }),
          el("div", { class: "row" },
            el("button", { type: "button", text: "Edit", "aria-label": `Edit “${entry.question}”`,
              onclick: () => item.replaceChildren(faqForm(entry)) }),
            el("button", { type: "button", class: "danger", text: "Delete", "aria-label": `Delete “${entry.question}”`,
              onclick: () => {
                if (!confirm(`Delete the curated answer to “${entry.question}”?`)) return;
                actFaq(() => api("DELETE", faqPath(entry)), "Deleted from the FAQ.");
              } })));
        return item;
      })) : el("p", { class: "muted", text: "No curated answers yet." }));
    }

    const title = el("input", { id: "doc-title", placeholder: "Returns policy" });
    const format = el("select", { id: "doc-format" },
      ["markdown", "html", "text"].map((f) => el("option", { value: f, text: f })));
    const content = el("textarea", { id: "doc-content", rows: "8", placeholder: "# Returns\n\nYou can return…" });
    const accept = ".md,.markdown,.txt,.html,.htm,.pdf,.docx,text/*,application/pdf";
    // A PDF or Word file is sent as it is (base64); text files are shown for editing first.
    let binary = null;
    const file = el("input", { id: "doc-file", type: "file", accept, onchange: async () => {
      const picked = file.files[0];
      binary = null;
      if (!picked) return;
      const named = (pattern) => pattern.test(picked.name);
      if (!title.value) title.value = picked.name.replace(/\.[^.]+$/, "");
      if (named(/\.(pdf|docx)$/i)) {
        if (picked.size > 10 * 1024 * 1024) return status.replaceChildren(message("error", "PDF and Word files are limited to 10 MiB."));
        const bytes = new Uint8Array(await picked.arrayBuffer());
        let text = "";
        for (let at = 0; at < bytes.length; at += 0x8000) text += String.fromCharCode(...bytes.subarray(at, at + 0x8000));
        binary = { format: named(/\.pdf$/i) ? "pdf" : "docx", contentBase64: btoa(text) };
        content.value = "";
        content.placeholder = `${picked.name}: its text is read when you add it.`;
        return;
      }
      if (picked.size > 1024 * 1024) return status.replaceChildren(message("error", "Text files are limited to 1 MiB."));
      content.value = await picked.text();
      format.value = named(/\.html?$/i) ? "html" : named(/\.(md|markdown)$/i) ? "markdown" : "text";
    } });
    const add = el("form", { class: "card", onsubmit: (event) => {
      event.preventDefault();
      const doc = binary ? { title: title.value || undefined, ...binary }
        : { title: title.value || undefined, format: format.value, content: content.value };
      act(() => api("POST", projectPath(project.slug, "/documents"), doc),
        `Added “${title.value || "document"}”; answers can cite it now.`).then((ok) => { if (ok) { add.reset(); binary = null; } });
    } },
      el("h2", { text: "Add a document" }), field("Upload a file (.md, .txt, .html, .pdf, .docx)", file),
      el("div", { class: "two" }, field("Title", title), field("Format", format)), field("Content", content),
      el("div", { class: "actions" }, el("button", { class: "primary", type: "submit", text: "Add document" })));
    const url = el("input", {
      id: "doc-url", type: "url", placeholder: "https://example.com/help/returns", required: true,
    });
    const sitemap = el("input", { id: "doc-sitemap", type: "checkbox" });
    const fetched = (result) => {
      if (!result.failed) return `Added “${result.title}”.`;
      const failures = result.failed.map((f) => `${f.url} (${f.error})`).join("; ");
      return `Added ${result.documents.length} pages.${result.failed.length ? ` Failed: ${failures}` : ""}`;
    };
    const fetchForm = el("form", { class: "card", onsubmit: (event) => {
      event.preventDefault();
      const wanted = { url: url.value, sitemap: sitemap.checked };
      act(() => api("POST", projectPath(project.slug, "/documents/fetch"), wanted), fetched);
    } },
      el("h2", { text: "Add from the web" }), field("Page or sitemap URL", url),
      el("label", { class: "inline", for: "doc-sitemap" }, sitemap, "It is a sitemap: fetch every page it lists"),
      el("div", { class: "actions" }, el("button", { class: "primary", type: "submit", text: "Fetch" })));
    main.append(el("h1", { text: "Knowledge base" }), status, el("div", { class: "card" }, list),
      el("div", { class: "card" }, el("h2", { text: "Curated answers (FAQ)" }),
        el("p", { class: "hint", text: "Questions close to one of these get its answer first, cited as the FAQ. "
          + "Add them with “Improve this answer” in Conversations, or here." }), faqList, faqForm()),
      add, fetchForm);
    await load();
    await loadFaq();
  }

  // ---- Widget settings with live preview -----------------------------------------------------

  /** The languages answers and the widget can be in: code and name. */
  const LANGUAGES = [["en", "English"], ["es", "Español"], ["de", "Deutsch"], ["fr", "Français"],
    ["pt", "Português"], ["it", "Italiano"], ["nl", "Nederlands"]];

  /** Popup name formats and corners: value and label. */
  const NAME_FORMATS = [["full", "Full name, as pushed (Sarah Kim)"], ["first_initial", "First name and initial (Sarah K.)"],
    ["first", "First name (Sarah)"], ["anonymous", "No name (Someone)"]];
  const POPUP_POSITIONS = [["auto", "Beside the chat bubble"], ["bottom-left", "Bottom left"],
    ["bottom-right", "Bottom right"], ["top-left", "Top left"], ["top-right", "Top right"]];

  const WEEKDAYS = [["mon", "Monday"], ["tue", "Tuesday"], ["wed", "Wednesday"], ["thu", "Thursday"],
    ["fri", "Friday"], ["sat", "Saturday"], ["sun", "Sunday"]];

  async function settings(main, project, life) {
    const current = await api("GET", projectPath(project.slug));
    const sp = current.socialProof;
    const input = (id, value, attrs = {}) => el("input", { id, value: value ?? "", ...attrs });
    const number = (id, value, min, step = "any") => input(id, value, { type: "number", min, step });
    const positions = ["bottom-right", "bottom-left"];
    const f = {
      name: input("s-name", current.name, { required: true, maxlength: maxLength("projectNameChars") }),
      company: input("s-company", current.company, { maxlength: maxLength("companyChars") }),
      welcomeMessage: el("textarea", {
        id: "s-welcome", rows: "3", value: current.welcomeMessage, maxlength: maxLength("welcomeChars"),
      }),
      quickReplies: el("textarea", { id: "s-quick", rows: "3", value: current.quickReplies.join("\n") }),
      color: input("s-color", current.theme.primaryColor, { type: "color" }),
      position: el("select", { id: "s-position" },
        positions.map((p) => el("option", { value: p, text: p, selected: p === current.theme.position }))),
      origins: el("textarea", {
        id: "s-origins", rows: "2", value: current.allowedOrigins.join("\n"), placeholder: "https://shop.example.com",
      }),
      retention: input("s-retention", current.retentionDays ?? "",
        { type: "number", min: "1", placeholder: "keep forever" }),
      enabled: input("s-enabled", null, { type: "checkbox", checked: sp.enabled }),
      initialDelay: number("s-delay", sp.initialDelayMs / 1000, "0"),
      display: number("s-display", sp.displayMs / 1000, "1"),
      gap: number("s-gap", sp.gapMs / 1000, "0"),
      maxPerVisit: number("s-max", sp.maxPerVisit, "0", "1"),
      maxAge: number("s-age", sp.maxAgeMs / 3600000, "0"),
      mobile: input("s-mobile", null, { type: "checkbox", checked: sp.showOnMobile }),
      nameFormat: el("select", { id: "s-names" }, NAME_FORMATS.map(([value, text]) =>
        el("option", { value, text, selected: value === sp.nameFormat }))),
      popupPosition: el("select", { id: "s-popup-position" }, POPUP_POSITIONS.map(([value, text]) =>
        el("option", { value, text, selected: value === sp.position }))),
      mobilePosition: el("select", { id: "s-mobile-position" }, [["bottom", "Bottom, above the chat bubble"],
        ["top", "Top"]].map(([value, text]) => el("option", { value, text, selected: value === sp.mobilePosition }))),
      include: el("textarea", { id: "s-include", rows: "2", value: sp.pages.include.join("\n"),
        placeholder: "/pricing\n/blog/*" }),
      exclude: el("textarea", { id: "s-exclude", rows: "2", value: sp.pages.exclude.join("\n"),
        placeholder: "/checkout/*" }),
      summaries: input("s-summaries", null, { type: "checkbox", checked: sp.summaries.enabled }),
      summaryHours: number("s-summary-hours", sp.summaries.windowHours, "1", "1"),
      summaryMin: number("s-summary-min", sp.summaries.minCount, "1", "1"),
      viewers: input("s-viewers", null, { type: "checkbox", checked: sp.liveViewers.enabled }),
      viewersMin: number("s-viewers-min", sp.liveViewers.minCount, "1", "1"),
      viewersTemplate: input("s-viewers-template", sp.liveViewers.template, { maxlength: "200" }),
      utmSource: input("s-utm-source", sp.utm.source, { maxlength: "100" }),
      utmMedium: input("s-utm-medium", sp.utm.medium, { maxlength: "100" }),
      utmCampaign: input("s-utm-campaign", sp.utm.campaign, { maxlength: "100" }),
      locale: el("select", { id: "s-locale" }, [["auto", "The visitor's browser language"], ...LANGUAGES]
        .map(([code, name]) => el("option", { value: code, text: name, selected: code === current.locale }))),
      strings: el("textarea", {
        id: "s-strings", rows: "3", placeholder: "leadIntro = Leave your email and we will write back.",
        value: Object.entries(current.strings || {}).map(([key, text]) => `${key} = ${text}`).join("\n"),
      }),
      mainLanguage: el("select", { id: "s-main-language" }, LANGUAGES.map(([code, name]) =>
        el("option", { value: code, text: name, selected: code === current.assistant.languages[0] }))),
      instructions: el("textarea", {
        id: "s-instructions", rows: "4", maxlength: "2000", value: current.assistant.instructions,
        placeholder: "Friendly and brief. Never promise delivery dates. Hand refunds over $500 to a person.",
      }),
    };
    // Business hours: per weekday "09:00-17:00" (several with commas, empty: closed).
    const hours = current.businessHours || { enabled: false, timeZone: "", weekly: {}, holidays: [] };
    const zones = (() => { try { return Intl.supportedValuesOf("timeZone"); } catch { return []; } })();
    const hoursOn = input("s-hours", null, { type: "checkbox", checked: hours.enabled });
    const timeZone = input("s-zone", hours.timeZone || Intl.DateTimeFormat().resolvedOptions().timeZone,
      { list: "s-zones", placeholder: "America/New_York" });
    const dayHours = Object.fromEntries(WEEKDAYS.map(([day]) => [day, input(`s-hours-${day}`,
      (hours.weekly?.[day] || []).map(([open, close]) => `${open}-${close}`).join(", "),
      { placeholder: "closed" })]));
    const holidays = el("textarea", { id: "s-holidays", rows: "2", value: (hours.holidays || []).join("\n"),
      placeholder: "2026-12-25" });
    // Proactive messages: a row per rule, added and removed in place.
    const ruleRows = el("div", { class: "rules" });
    let rulesMade = 0;
    const rules = () => [...ruleRows.children].map((row) => row.rule());
    function ruleRow(rule) {
      const k = ++rulesMade;
      const taken = new Set(rules().map((r) => r.id));
      let free = 1;
      while (taken.has(`message-${free}`)) free += 1;
      const part = {
        message: el("textarea", { id: `s-rule-${k}-message`, rows: "2", required: "", maxlength: "280",
          value: rule?.message || "", placeholder: "Questions about our plans? Ask me here." }),
        page: input(`s-rule-${k}-page`, rule?.page || "*", { required: true, maxlength: "200", placeholder: "/pricing" }),
        after: input(`s-rule-${k}-after`, rule?.afterSeconds ?? 10,
          { type: "number", min: "0", max: "3600", step: "1", required: true }),
        frequency: el("select", { id: `s-rule-${k}-frequency` }, [["visit", "Once a visit"], ["day", "Once a day"]]
          .map(([value, text]) => el("option", { value, text, selected: value === (rule?.frequency || "visit") }))),
        id: input(`s-rule-${k}-id`, rule?.id || `message-${free}`,
          { required: true, maxlength: "40", pattern: "[a-z0-9\\-]+", title: "lowercase letters, digits and -" }),
      };
      const row = el("div", { class: "rule" },
        field("Message", part.message),
        el("div", { class: "two" },
          field("On pages", part.page, "A path; * is anything: /pricing, /docs/*, * for every page."),
          field("After (seconds on the page)", part.after),
          field("Shown", part.frequency), field("Name in the figures", part.id)),
        el("button", { type: "button", class: "danger", text: "Remove this message",
          onclick: () => { row.remove(); addRule.disabled = false; sendPreview(); } }));
      row.rule = () => ({
        id: part.id.value.trim(), page: part.page.value.trim(), afterSeconds: Number(part.after.value),
        message: part.message.value.trim(), frequency: part.frequency.value,
      });
      ruleRows.append(row);
      addRule.disabled = ruleRows.children.length >= 10;
      return row;
    }
    const addRule = el("button", { type: "button", text: "Add a message",
      onclick: () => ruleRow(null).querySelector("textarea").focus() });
    for (const rule of current.proactive || []) ruleRow(rule);
    const otherLanguages = Object.fromEntries(LANGUAGES.map(([code]) => [code, input(`s-lang-${code}`, null, {
      type: "checkbox", checked: current.assistant.languages.slice(1).includes(code),
    })]));
    const templates = Object.fromEntries(Object.entries(sp.templates)
      .map(([type, text]) => [type, input(`t-${type}`, text, { maxlength: "200" })]));
    const summaryTemplates = Object.fromEntries(Object.entries(sp.summaries.templates)
      .map(([type, text]) => [type, input(`s-summary-${type}`, text, { maxlength: "200", placeholder: "(none)" })]));
    const shownTypes = Object.fromEntries(Object.entries(sp.types)
      .map(([type, on]) => [type, input(`s-type-${type}`, null, { type: "checkbox", checked: on })]));
    const lines = (text) => text.split("\n").map((s) => s.trim()).filter(Boolean);
    // Quick replies are one per line, so their limit is checked line by line, not as a maxlength.
    const quickMax = Number(maxLength("quickReplyChars"));
    f.quickReplies.addEventListener("input", () => {
      const tooLong = quickMax && lines(f.quickReplies.value).some((reply) => reply.length > quickMax);
      f.quickReplies.setCustomValidity(tooLong ? `Each quick reply can be at most ${quickMax} characters.` : "");
    });
    const seconds = (node) => Math.round(node.value * 1000);
    const body = () => ({
      name: f.name.value, company: f.company.value, welcomeMessage: f.welcomeMessage.value,
      quickReplies: lines(f.quickReplies.value),
      theme: { primaryColor: f.color.value, position: f.position.value },
      socialProof: {
        enabled: f.enabled.checked, initialDelayMs: seconds(f.initialDelay), displayMs: seconds(f.display),
        gapMs: seconds(f.gap), maxPerVisit: Number(f.maxPerVisit.value), showOnMobile: f.mobile.checked,
        nameFormat: f.nameFormat.value, maxAgeMs: Math.round(f.maxAge.value * 3600000),
        templates: Object.fromEntries(Object.entries(templates).map(([type, node]) => [type, node.value])),
        position: f.popupPosition.value, mobilePosition: f.mobilePosition.value,
        pages: { include: lines(f.include.value), exclude: lines(f.exclude.value) },
        types: Object.fromEntries(Object.entries(shownTypes).map(([type, node]) => [type, node.checked])),
        utm: { source: f.utmSource.value.trim(), medium: f.utmMedium.value.trim(), campaign: f.utmCampaign.value.trim() },
        summaries: {
          enabled: f.summaries.checked, windowHours: Number(f.summaryHours.value), minCount: Number(f.summaryMin.value),
          templates: Object.fromEntries(Object.entries(summaryTemplates).map(([type, node]) => [type, node.value])),
        },
        liveViewers: { enabled: f.viewers.checked, minCount: Number(f.viewersMin.value), template: f.viewersTemplate.value },
      },
      allowedOrigins: lines(f.origins.value),
      retentionDays: f.retention.value ? Number(f.retention.value) : null,
      locale: f.locale.value,
      strings: Object.fromEntries(lines(f.strings.value).map((line) => {
        const at = line.indexOf("=");
        return at < 0 ? [line, ""] : [line.slice(0, at).trim(), line.slice(at + 1).trim()];
      })),
      businessHours: {
        enabled: hoursOn.checked, timeZone: timeZone.value.trim(),
        weekly: Object.fromEntries(WEEKDAYS.map(([day]) => [day, dayHours[day].value.split(",")
          .map((range) => range.trim()).filter(Boolean).map((range) => range.split("-").map((t) => t.trim()))])),
        holidays: lines(holidays.value),
      },
      proactive: rules(),
      assistant: {
        languages: [f.mainLanguage.value, ...LANGUAGES.map(([code]) => code)
          .filter((code) => code !== f.mainLanguage.value && otherLanguages[code].checked)],
        instructions: f.instructions.value,
      },
    });

    // The preview frame asks for the settings once its widget is loaded; one listener per view.
    const frame = el("iframe", {
      title: "Widget preview", src: `/admin/preview.html?project=${encodeURIComponent(project.slug)}`,
    });
    // The frame shows the chat, or a sample popup beside the closed bubble at a desktop's or a
    // phone's size (laid out at that size, scaled down to fit).
    const VIEWS = { chat: null, desktop: [800, 640], phone: [390, 760] };
    let view = "chat";
    const frameBox = el("div", { class: "frame-box" }, frame);
    const fit = () => {
      const size = VIEWS[view];
      if (!size) {
        frame.removeAttribute("style");
        frameBox.removeAttribute("style");
        return;
      }
      const [width, height] = size;
      const scale = Math.min(1, frameBox.clientWidth / width, 600 / height);
      frame.style.cssText = `width: ${width}px; height: ${height}px; transform: scale(${scale}); transform-origin: 0 0`;
      frameBox.style.height = `${Math.ceil(height * scale)}px`;
    };
    life.listen(window, "resize", fit);
    const sendPreview = () => frame.contentWindow?.postMessage({ helpyapPreview: body(), helpyapPreviewView: view },
      location.origin);
    const viewButtons = [["chat", "Chat"], ["desktop", "Popup, desktop"], ["phone", "Popup, phone"]].map(([name, text]) =>
      el("button", { type: "button", text, "aria-pressed": String(name === view), onclick: () => {
        view = name;
        for (const button of viewButtons) button.setAttribute("aria-pressed", String(button === viewButton(name)));
        fit();
        sendPreview();
      } }));
    const viewButton = (name) => viewButtons[Object.keys(VIEWS).indexOf(name)];
    life.listen(window, "message", (event) => {
      if (event.source !== frame.contentWindow || !event.data?.helpyapPreviewReady) return;
      sendPreview();
    });
    const status = el("div");
    const act = acting(status, undefined, "Saving…");
    const form = el("form", { oninput: sendPreview, onchange: sendPreview, onsubmit: (event) => {
      event.preventDefault();
      act(() => api("PUT", projectPath(project.slug), body()), "Saved: visitors see the new settings now.");
    } },
      el("fieldset", {}, el("legend", { text: "Assistant" }),
        el("div", { class: "two" }, field("Assistant name", f.name), field("Company", f.company)),
        field("Welcome message", f.welcomeMessage), field("Quick replies", f.quickReplies, "One per line."),
        el("div", { class: "two" }, field("Colour", f.color), field("Chat bubble position", f.position)),
        field("Widget language", f.locale, "The language of the widget's buttons and forms."),
        field("Custom widget texts", f.strings,
          "One per line: key = text (keys such as leadIntro, talkToHuman, messagePlaceholder; see the README).")),
      el("fieldset", {}, el("legend", { text: "Answers" }),
        field("Main language", f.mainLanguage,
          "Questions the help center cannot answer in the visitor's language are answered in this one."),
        el("div", { class: "checks", role: "group", "aria-label": "Also answers in" },
          el("span", { class: "hint", text: "Also answers in:" }),
          LANGUAGES.map(([code, name]) => el("label", { class: "inline", for: `s-lang-${code}` },
            otherLanguages[code], name))),
        field("Instructions for the AI model", f.instructions,
          "Tone, do's and don'ts, when to hand off (up to 2000 characters). Used when a language model "
            + "answers; they never override the rules that keep answers to your help center.")),
      el("fieldset", {}, el("legend", { text: "Business hours" }),
        el("label", { class: "inline", for: "s-hours" }, hoursOn,
          "Keep business hours: outside them the widget says when you are back and takes messages"),
        field("Time zone", timeZone, "The hours below are in this zone (an IANA name)."),
        el("datalist", { id: "s-zones" }, zones.map((zone) => el("option", { value: zone }))),
        el("div", { class: "two" }, WEEKDAYS.map(([day, name]) => field(name, dayHours[day]))),
        el("p", { class: "hint", text: "Per day: 09:00-17:00, several separated by commas; empty: closed. 24:00 is midnight." }),
        field("Holidays", holidays, "One date per line (YYYY-MM-DD): closed all day.")),
      el("fieldset", {}, el("legend", { text: "Proactive messages" }),
        el("p", { class: "hint", text: "A short message above the closed chat bubble, on the pages you choose, "
          + "after some time there. The first that fits the page shows; visitors can open the chat from it or "
          + "dismiss it. The overview counts how often each is seen, opened and dismissed." }),
        ruleRows, addRule),
      el("fieldset", {}, el("legend", { text: "Social-proof popups" }),
        el("label", { class: "inline", for: "s-enabled" }, f.enabled, "Show popups"),
        el("div", { class: "two" },
          field("First popup after (s)", f.initialDelay), field("Each popup shows for (s)", f.display),
          field("Gap between popups (s)", f.gap), field("Most popups per visit", f.maxPerVisit),
          field("Ignore events older than (hours)", f.maxAge)),
        el("label", { class: "inline", for: "s-mobile" }, f.mobile, "Show on phones"),
        el("div", { class: "two" }, field("Names shown", f.nameFormat, "Hidden parts never leave the server."),
          field("Popup position", f.popupPosition), field("On phones", f.mobilePosition)),
        el("div", { class: "checks", role: "group", "aria-label": "Event types shown" },
          el("span", { class: "hint", text: "Show:" }),
          Object.entries(shownTypes).map(([type, node]) => el("label", { class: "inline", for: node.id },
            node, type.replace(/_/g, " ")))),
        el("div", { class: "two" },
          field("Only on pages", f.include, "One path per line; * matches anything. Empty: every page."),
          field("Never on pages", f.exclude, "One path per line, e.g. /checkout/*.")),
        Object.entries(templates).map(([type, node]) => field(`Template: ${type.replace(/_/g, " ")}`, node)),
        el("p", { class: "hint", text: "Placeholders: {name}, {location}, {product}, {message}." }),
        el("div", { class: "two" }, field("Link utm_source", f.utmSource), field("Link utm_medium", f.utmMedium),
          field("Link utm_campaign", f.utmCampaign, "Added to popup links; empty ones are left out.")),
        el("label", { class: "inline", for: "s-summaries" }, f.summaries,
          "Show summaries (“27 people signed up in the last 24 hours”), once a visit each"),
        el("div", { class: "two" }, field("Summaries count the last (hours)", f.summaryHours),
          field("Only from this many events", f.summaryMin)),
        Object.entries(summaryTemplates).map(([type, node]) =>
          field(`Summary: ${type.replace(/_/g, " ")}`, node, type === "purchased"
            ? "Placeholders: {count}, {window} (“24 hours”, in the visitor's language). Empty: no summary." : undefined)),
        el("label", { class: "inline", for: "s-viewers" }, f.viewers,
          "Show how many people are on the page (“12 people are viewing this page right now”)"),
        el("div", { class: "two" }, field("Only from this many viewers", f.viewersMin),
          field("Viewers text", f.viewersTemplate, "Placeholder: {count}."))),
      el("fieldset", {}, el("legend", { text: "Privacy and security" }),
        field("Allowed origins", f.origins, "One per line; empty allows any site to embed the widget."),
        field("Erase conversations after (days)", f.retention, "Empty keeps them until deleted.")),
      el("div", { class: "actions" },
        el("button", { class: "primary", type: "submit", text: "Save settings" }), status));
    main.append(el("h1", { text: "Widget settings" }),
      el("div", { class: "settings" }, form,
        el("div", { class: "preview" }, el("h2", { text: "Live preview" }),
          el("div", { class: "views", role: "group", "aria-label": "Preview" }, viewButtons), frameBox)));
  }

  // ---- Install snippet and push secret ------------------------------------------------------

  async function install(main, project, life) {
    const current = await api("GET", projectPath(project.slug));
    const tag = `<script src="${location.origin}/widget.js" data-project="${project.slug}" async></script>`;
    const revealed = el("div");
    const placeholder = current.hasPushSecret ? null : el("pre", { text: "" });
    const curl = (secret) => [
      `curl -X POST ${location.origin}/api/widget/salespop-push`,
      '  -H "Content-Type: application/json"',
      `  -H "Authorization: Bearer ${secret}"`,
      `  -d '{"project": "${project.slug}", "type": "purchased", "name": "Sarah K.", `
        + '"location": "Austin, TX", "product": "Pro Plan"}\'',
    ].join(" \\\n");
    const isSet = el("p", { class: "muted",
      text: current.hasPushSecret ? "A push secret is set." : "No push secret yet: pushes are refused." });
    const reveal = ({ pushSecret }) => {
      current.hasPushSecret = true;
      isSet.textContent = "A push secret is set.";
      rotate.textContent = "Rotate push secret";
      placeholder?.remove();
      revealed.replaceChildren(
        message("ok", "New push secret — shown only once. Store it in your server's settings now; "
          + "the previous one no longer works."),
        el("div", { class: "secret" }, el("code", { text: pushSecret }),
          copyButton(life, () => pushSecret, "Copy secret")),
        el("h2", { text: "Try it" }), el("pre", { text: curl(pushSecret) }),
        copyButton(life, () => curl(pushSecret), "Copy curl"));
    };
    const rotate = el("button", { type: "button", class: "primary",
      text: current.hasPushSecret ? "Rotate push secret" : "Create push secret", onclick: () => {
        if (current.hasPushSecret && !confirm("Rotate the push secret? The current one stops working at once.")) return;
        api("POST", projectPath(project.slug, "/push-secret")).then(reveal).catch(failed(revealed));
      } });
    main.append(el("h1", { text: "Install & push secret" }),
      el("section", { class: "card" }, el("h2", { text: "Add the widget to your site" }),
        el("p", { text: "Paste this tag before </body> on every page:" }), el("pre", { text: tag }),
        copyButton(life, () => tag, "Copy tag")),
      el("section", { class: "card" }, el("h2", { text: "Push secret" }),
        el("p", { text: "Your server sends social-proof events (a purchase, a sign-up) to HelpYap with this secret. "
          + "It is stored hashed: we can't show it again, only replace it." }),
        isSet, rotate, revealed, placeholder),
      await identityVerification(project, life),
      await integrations(project),
      await apiTokens(project, life));
    placeholder?.append(curl("sp_…"));
  }

  // Identity verification: the secret the site's server signs its visitors' ids with, so a
  // signed-in customer's conversation can follow them (HelpYap.identify).
  async function identityVerification(project, life) {
    const path = projectPath(project.slug, "/identity-secret");
    const card = el("section", { class: "card", id: "identity" });
    const status = el("div");
    const revealed = el("div");
    const act = acting(status, () => load());
    const sample = (secret) => [
      "// On your server, for the signed-in user:",
      `const userHash = crypto.createHmac("sha256", "${secret}").update(user.id).digest("hex");`,
      "// In the page:",
      "HelpYap.identify({ userId: user.id, email: user.email, name: user.name }, userHash);",
    ].join("\n");
    async function load() {
      const state = await api("GET", path);
      card.replaceChildren(el("h2", { text: "Identity verification" }),
        el("p", { text: "Call HelpYap.identify on pages your customers see signed in: their name and email show in the "
          + "inbox. With verification on, your server signs each user's id with this secret, so nobody can pose "
          + "as a customer, and a customer's conversation follows them to every browser they sign in on." }),
        el("p", { class: "muted", text: state.enabled
          ? `On: secret …${state.secretEnding}, made ${when(state.createdAt)}. Identities without a matching hash are refused.`
          : "Off: identities are shown as unverified and never followed to another browser." }),
        el("div", { class: "actions" },
          el("button", { type: "button", class: "primary", text: state.enabled ? "Rotate secret" : "Turn on verification",
            onclick: () => {
              if (state.enabled && !confirm("Make a new identity secret? Hashes made with the current one are refused at once.")) return;
              act(async () => {
                const made = await api("POST", path);
                revealed.replaceChildren(
                  message("ok", "Identity secret — shown only once. Keep it on your server, never in a page."),
                  el("div", { class: "secret" }, el("code", { text: made.identitySecret }),
                    copyButton(life, () => made.identitySecret, "Copy secret")),
                  el("pre", { text: sample(made.identitySecret) }),
                  copyButton(life, () => sample(made.identitySecret), "Copy example"));
              }, "Identity verification is on.");
            } }),
          ...(state.enabled ? [el("button", { type: "button", text: "Turn off", onclick: () => {
            if (!confirm("Turn identity verification off? Identities will be shown as unverified.")) return;
            revealed.replaceChildren();
            act(() => api("DELETE", path), "Identity verification is off.");
          } })] : []),
          status),
        revealed);
    }
    await load();
    return card;
  }

  // Stripe and Shopify: popups from their webhooks, with no code on the owner's side.
  async function integrations(project) {
    const path = projectPath(project.slug, "/integrations");
    const HOW = {
      stripe: "In Stripe: Developers → Webhooks → Add endpoint. Paste the address, choose the events below, "
        + "then reveal the endpoint's signing secret (whsec_…) and paste it here. Stripe does not send a "
        + "Checkout's products: set metadata.product on the Checkout Session or Payment Link to name one.",
      shopify: "In Shopify: Settings → Notifications → Webhooks → Create webhook. Choose Order creation, JSON, "
        + "paste the address, then paste the signing key Shopify shows under the list here.",
    };
    const card = el("section", { class: "card" });
    async function load() {
      const { integrations: list } = await api("GET", path);
      card.replaceChildren(el("h2", { text: "Stripe and Shopify" }),
        el("p", { text: "Purchases and subscriptions become popups as they happen. Only the buyer's first name "
          + "and initial, city and product are kept; webhooks are checked against their signature." }),
        ...list.map(item));
    }
    function item(integration) {
      const name = integration.platform === "stripe" ? "Stripe" : "Shopify";
      const status = el("div");
      const secret = el("input", { id: `integration-${integration.platform}`, maxlength: "200", required: true,
        autocomplete: "off", placeholder: integration.platform === "stripe" ? "whsec_…" : "Signing key" });
      const address = `${location.origin}${integration.endpoint}`;
      const act = acting(status, () => load());
      const form = el("form", { class: "integration", onsubmit: (event) => {
        event.preventDefault();
        act(() => api("PUT", `${path}/${integration.platform}`, { secret: secret.value }), `${name} connected.`);
      } },
        el("h3", { text: `${name}: ${integration.connected
          ? `connected (secret …${integration.secretEnding}, since ${when(integration.connectedAt)})` : "not connected"}` }),
        el("p", { class: "hint", text: HOW[integration.platform] }),
        el("p", {}, "Webhook address: ", el("code", { text: address })),
        el("p", {}, "Events: ", el("code", { text: integration.events.join(", ") })),
        field(integration.connected ? "New signing secret" : "Signing secret", secret),
        el("div", { class: "actions" },
          el("button", { class: "primary", type: "submit", text: integration.connected ? "Replace secret" : `Connect ${name}` }),
          ...(integration.connected ? [el("button", { type: "button", text: "Disconnect", onclick: () => {
            if (!confirm(`Disconnect ${name}? Its webhooks will be refused.`)) return;
            act(() => api("DELETE", `${path}/${integration.platform}`), `${name} disconnected.`);
          } })] : []),
          status));
      return form;
    }
    await load();
    return card;
  }

  // API tokens for the owner's own servers: made here (shown once), listed with their last use,
  // revoked at once.
  async function apiTokens(project, life) {
    const path = projectPath(project.slug, "/tokens");
    const table = el("div");
    const revealed = el("div");
    const name = el("input", { id: "token-name", maxlength: "60", required: true, placeholder: "CRM sync" });
    const role = roleSelect({ id: "token-role" }, "agent");
    const status = el("div");
    const act = acting(status, () => load());
    async function load() {
      const { tokens } = await api("GET", path);
      table.replaceChildren(tokens.length ? el("table", {},
        el("thead", {}, el("tr", {}, ["Name", "Role", "Made by", "Made", "Last used", ""].map((h) => el("th", { text: h })))),
        el("tbody", {}, tokens.map((t) => el("tr", {},
          el("td", { text: t.name }), el("td", { text: t.role }), el("td", { text: t.createdBy }),
          el("td", { text: when(t.createdAt) }), el("td", { text: t.lastUsedAt ? when(t.lastUsedAt) : "never" }),
          el("td", {}, el("button", { type: "button", class: "danger", text: "Revoke", "aria-label": `Revoke ${t.name}`,
            onclick: () => {
              if (!confirm(`Revoke “${t.name}”? Servers using it are refused at once.`)) return;
              act(() => api("DELETE", `${path}/${t.id}`), "Revoked.");
            } })))))) : el("p", { class: "muted", text: "No API tokens yet." }));
    }
    const form = el("form", { class: "row", onsubmit: (event) => {
      event.preventDefault();
      act(async () => {
        const made = await api("POST", path, { name: name.value, role: role.value });
        name.value = "";
        revealed.replaceChildren(
          message("ok", `New token “${made.name}” — shown only once. Store it in your server's settings now.`),
          el("div", { class: "secret" }, el("code", { text: made.token }), copyButton(life, () => made.token, "Copy token")));
      });
    } },
      el("label", { class: "inline", for: "token-name" }, "Name", name),
      el("label", { class: "inline", for: "token-role" }, "Role", role),
      el("button", { type: "submit", class: "primary", text: "Create token" }));
    await load();
    return el("section", { class: "card" }, el("h2", { text: "API tokens" }),
      el("p", { text: "Your servers call the admin API (conversations, replies, leads, analytics, CSV) with "
        + "“Authorization: Bearer hy_…”, on this project only, with the token's role." }),
      form, status, revealed, table);
  }

  // ---- Webhooks: signed deliveries to the owner's servers ------------------------------------

  const WEBHOOK_EVENTS = ["conversation.created", "message.created", "conversation.status_changed",
    "lead.created", "feedback.created", "conversation.rated", "socialproof.pushed"];

  async function webhooks(main, project, life) {
    const path = projectPath(project.slug, "/webhooks");
    const list = el("div");
    const revealed = el("div");
    const status = el("div");
    const act = acting(status, () => load());
    const showSecret = (made, what) => revealed.replaceChildren(
      message("ok", `${what} — shown only once. Your receiver checks X-HelpYap-Signature with it.`),
      el("div", { class: "secret" }, el("code", { text: made.secret }), copyButton(life, () => made.secret, "Copy secret")));

    function logTable(hook, deliveries) {
      if (!deliveries.length) return el("p", { class: "muted", text: "Nothing sent yet." });
      return el("table", {},
        el("thead", {}, el("tr", {}, ["When", "Event", "Answer", "Time", "Attempt", "Delivery", ""].map((h) => el("th", { text: h })))),
        el("tbody", {}, deliveries.map((d) => el("tr", {},
          el("td", { text: when(d.at) }), el("td", { text: d.type }),
          el("td", { class: d.succeeded ? "ok" : "error", text: d.status ? String(d.status) : (d.error || "no answer") }),
          el("td", { text: `${d.latencyMs} ms` }), el("td", { text: String(d.attempt) }),
          el("td", {}, el("code", { text: d.deliveryId.slice(0, 8), title: d.deliveryId })),
          el("td", {}, el("button", { type: "button", text: "Redeliver", onclick: () =>
            act(() => api("POST", `${path}/${hook.id}/deliveries/${d.deliveryId}/redeliver`), "Queued: it goes out again shortly.", () => {}) }))))));
    }

    function card(hook) {
      const log = el("div");
      const toggle = (enabled) => act(() => api("PATCH", `${path}/${hook.id}`, { enabled }), enabled ? "Turned on." : "Turned off.");
      return el("section", { class: "card" },
        el("div", { class: "row" }, el("code", { class: "grow", text: hook.url }),
          el("span", { class: `badge ${hook.enabled ? "" : "status-waiting"}`, text: hook.enabled ? "on" : "off" })),
        el("p", { class: "muted", text: `Hears ${hook.events.join(", ")} · made ${when(hook.createdAt)}` }),
        hook.disabledReason ? message("error", hook.disabledReason) : null,
        el("div", { class: "row" },
          el("button", { type: "button", text: "Deliveries", onclick: () => api("GET", `${path}/${hook.id}/deliveries`)
            .then(({ deliveries }) => log.replaceChildren(logTable(hook, deliveries)), failed(log)) }),
          el("button", { type: "button", text: hook.enabled ? "Turn off" : "Turn on", onclick: () => toggle(!hook.enabled) }),
          el("button", { type: "button", text: "Rotate secret", onclick: () => {
            if (!confirm("Rotate the signing secret? Deliveries from now on are signed with the new one.")) return;
            act(async () => showSecret(await api("POST", `${path}/${hook.id}/secret`), "New signing secret"));
          } }),
          el("button", { type: "button", class: "danger", text: "Delete", onclick: () => {
            if (!confirm(`Delete the webhook to ${hook.url}? Deliveries waiting are dropped.`)) return;
            act(() => api("DELETE", `${path}/${hook.id}`), "Deleted.");
          } })),
        log);
    }

    async function load() {
      const { webhooks: hooks } = await api("GET", path);
      list.replaceChildren(...(hooks.length ? hooks.map(card) : [el("p", { class: "muted", text: "No webhooks yet." })]));
    }

    const url = el("input", { id: "hook-url", type: "url", required: true, placeholder: "https://example.com/helpyap", maxlength: "2000" });
    const boxes = WEBHOOK_EVENTS.map((name) => el("input", { type: "checkbox", value: name, checked: true, id: `ev-${name}` }));
    const form = el("form", { class: "card", onsubmit: (event) => {
      event.preventDefault();
      const events = boxes.filter((box) => box.checked).map((box) => box.value);
      act(async () => {
        const made = await api("POST", path, { url: url.value, events });
        url.value = "";
        showSecret(made, "Webhook added. Its signing secret");
      });
    } },
      el("h2", { text: "Add a webhook" }),
      field("URL", url, "HelpYap POSTs each event there as JSON, signed; a 2xx answer within 10 s counts as delivered."),
      el("fieldset", {}, el("legend", { text: "Events" }),
        boxes.map((box) => el("label", { class: "inline", for: box.id }, box, box.value))),
      el("div", { class: "actions" }, el("button", { type: "submit", class: "primary", text: "Add webhook" })));
    main.append(el("h1", { text: "Webhooks" }),
      el("p", { text: "Failed deliveries are tried again with growing waits for up to a day (the same X-HelpYap-Delivery "
        + "each time); a webhook that keeps failing is turned off. The README shows how to check the signature." }),
      form, status, revealed, list);
    await load();
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
      const adminNote = "Admins own every project: their role can't be changed here.";
      list.replaceChildren(
        el("section", { class: "card" }, el("h2", { text: "Members" }), memberTable(members),
          members.some((m) => m.admin) ? el("p", { class: "hint", text: adminNote }) : null),
        el("section", { class: "card" }, el("h2", { text: "Pending invitations" }), body.invitations.length
          ? invitationTable(body.invitations)
          : el("p", { class: "muted", text: "No pending invitations." })));
    }
    const act = acting(status, load);
    const memberPath = (email) => projectPath(project.slug, `/members/${encodeURIComponent(email)}`);
    const setRole = (email, role) => api("PUT", projectPath(project.slug, "/members"), { email, role });
    const isMe = (email) => email === user.email;
    const head = (titles) => el("thead", {}, el("tr", {}, titles.map((h) => el("th", { text: h }))));

    function memberTable(rows) {
      return el("table", { class: "team" }, head(["Email", "Role", ""]),
        el("tbody", {}, rows.map((m) => el("tr", {},
          el("td", {}, m.email, isMe(m.email) ? el("span", { class: "muted", text: " (you)" }) : null),
          el("td", {}, m.admin
            ? [m.role, " ", el("span", { class: "badge brand", text: "admin" })]
            : roleSelect({
              "aria-label": `Role of ${m.email}`, onchange: (event) => changeRole(m, event.target),
            }, m.role)),
          el("td", {}, m.admin ? null : el("button", {
            type: "button", class: "danger", text: "Remove", "aria-label": `Remove ${m.email}`,
            onclick: () => remove(m),
          }))))));
    }

    function invitationTable(rows) {
      return el("table", { class: "team" }, head(["Email", "Role", "Invited", ""]),
        el("tbody", {}, rows.map((i) => el("tr", {},
          el("td", { text: i.email }), el("td", { text: i.role }), el("td", { text: when(i.invitedAt) }),
          el("td", {}, el("button", {
            type: "button", text: "Withdraw", "aria-label": `Withdraw the invitation to ${i.email}`,
            onclick: () => act(() => api("DELETE", memberPath(i.email)), `Invitation to ${i.email} withdrawn.`),
          }))))));
    }

    // Your own role: losing the owner role (or any role) takes this view away, so the project
    // list is loaded again afterwards.
    async function changeRole(member, select) {
      const role = select.value;
      const question = `Make yourself an agent of ${project.name}? Only owners manage its settings and team.`;
      if (isMe(member.email) && !confirm(question)) {
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

    const email = el("input", {
      id: "m-email", type: "email", required: true, autocomplete: "off", placeholder: "teammate@example.com",
    });
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
      user.admin
        ? el("p", { class: "hint", text: "As an admin you add existing accounts directly, without an invitation." })
        : null,
      el("div", { class: "actions" }, el("button", { class: "primary", type: "submit", text: "Invite" })));
    main.append(el("h1", { text: "Team" }), status, list, invite);
    await load();
  }

  // ---- New project (admins) -----------------------------------------------------------------

  function newProject(main) {
    if (!user.admin) return main.append(message("error", "Only admins create projects."));
    const slug = el("input", {
      id: "p-slug", required: true, pattern: "[a-z0-9]([a-z0-9\\-]*[a-z0-9])?", maxlength: "64", placeholder: "my-shop",
    });
    const name = el("input", {
      id: "p-name", required: true, maxlength: maxLength("projectNameChars"), placeholder: "Shop assistant",
    });
    const company = el("input", { id: "p-company", maxlength: maxLength("companyChars"), placeholder: "My Shop Inc." });
    const status = el("div");
    const create = async () => {
      await api("POST", "/api/admin/projects", {
        slug: slug.value, name: name.value, company: company.value,
        welcomeMessage: "Hi! How can I help?", quickReplies: [],
        theme: { primaryColor: "#3737f6", position: "bottom-right" },
      });
      await loadProjects();
      location.hash = `#/${encodeURIComponent(slug.value)}/settings`;
    };
    main.append(el("h1", { text: "New project" }), el("form", { class: "card", onsubmit: (event) => {
      event.preventDefault();
      create().catch(failed(status));
    } },
      field("Slug", slug, "Lowercase letters, digits and inner dashes; used in the script tag."),
      field("Assistant name", name), field("Company", company),
      el("div", { class: "actions" }, el("button", { class: "primary", type: "submit", text: "Create project" })),
      status));
    slug.focus();
  }

  // ---- Start ----------------------------------------------------------------------------------

  // An emailed link (reset, or an invitation to join) opens its page whether the dashboard was
  // open (the hash changes) or not.
  function emailedLink() {
    const reset = location.hash.match(/^#\/reset\/([\w-]+)$/);
    if (reset) return resetPassword(reset[1]), true;
    const join = location.hash.match(/^#\/join\/([\w-]+)\/([\w-]+)$/);
    if (join) return joinProject(join[1], join[2]), true;
    return false;
  }
  addEventListener("hashchange", () => emailedLink() || render());
  if (!emailedLink()) refresh().then((ok) => (ok ? enter() : showLogin())).catch(() => showLogin());
})();
