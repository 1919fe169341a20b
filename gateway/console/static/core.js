/* What the three consoles share: language, the /api client, the login and the page frame, and small
   builders (forms with real labels, tables, dialogs, charts). Every text a user typed reaches the page
   through textContent or an attribute, never as markup (tests/test_console_serving.py checks). */
"use strict";

const TA = (() => {
  const root = document.documentElement;
  const CONSOLE = root.dataset.console;
  const ROLES = (root.dataset.roles || "").split(" ");
  const DATA = JSON.parse(document.getElementById("console-data").textContent || "{}");
  const LANGS = ["zh-CN", "en"];
  const state = { me: null, tab: null, spec: null };

  // ---------------------------------------------------------------- language
  function preferredLang() {
    const saved = localStorage.getItem("topapi.lang");
    if (LANGS.includes(saved)) return saved;
    const first = (navigator.languages && navigator.languages[0]) || navigator.language || "";
    return first.toLowerCase().startsWith("zh") ? "zh-CN" : "en";
  }
  let lang = preferredLang();

  function t(key, vars) {
    const table = I18N[lang] || I18N.en;
    let text = table[key] !== undefined ? table[key] : (I18N.en[key] !== undefined ? I18N.en[key] : key);
    if (vars) for (const [k, v] of Object.entries(vars)) text = text.split("{" + k + "}").join(String(v));
    return text;
  }

  function setLang(value) {
    lang = value;
    localStorage.setItem("topapi.lang", value);
    render();
  }

  // ---------------------------------------------------------------- DOM
  function h(tag, props, ...children) {
    const el = tag.startsWith("svg:") ? document.createElementNS("http://www.w3.org/2000/svg", tag.slice(4))
      : document.createElement(tag);
    for (const [key, value] of Object.entries(props || {})) {
      if (value === null || value === undefined || value === false) continue;
      if (key.startsWith("on")) el.addEventListener(key.slice(2), value);
      else if (key === "text") el.textContent = value;
      else if (key === "class") el.setAttribute("class", value);
      else if (key in el && !tag.startsWith("svg:") && key !== "list") el[key] = value;
      else el.setAttribute(key, value === true ? "" : value);
    }
    for (const child of children.flat(Infinity)) {
      if (child === null || child === undefined || child === false) continue;
      el.append(child instanceof Node ? child : document.createTextNode(String(child)));
    }
    return el;
  }

  let uid = 0;
  const newId = (prefix) => `${prefix}-${++uid}`;

  // ---------------------------------------------------------------- formatting
  const locale = () => (lang === "zh-CN" ? "zh-CN" : "en-US");
  function money(v) {
    if (v === null || v === undefined) return "—";
    const digits = v !== 0 && Math.abs(v) < 0.01 ? 6 : 4;
    return "$" + Number(v).toLocaleString(locale(), { minimumFractionDigits: 2, maximumFractionDigits: digits });
  }
  const num = (v) => (v === null || v === undefined ? "—" : Number(v).toLocaleString(locale()));
  function when(ts) {
    if (!ts) return "—";
    return new Date(ts * 1000).toLocaleString(locale(), { year: "numeric", month: "2-digit", day: "2-digit",
      hour: "2-digit", minute: "2-digit", second: "2-digit", hour12: false });
  }
  const day = (ts) => new Date(ts * 1000).toISOString().slice(0, 10);
  /* Filter dates (YYYY-MM-DD, UTC days) as the API's since/until: until is exclusive, so the next day. */
  function dateRange(since, until) {
    const next = until ? new Date(Date.parse(until + "T00:00:00Z") + 86400000).toISOString().slice(0, 10) : "";
    return { since: since || "", until: next };
  }
  function priceText(price) {
    const parts = [];
    // the catalog says 0 for a price that is not set: only the prices that apply are shown
    if (price.input_per_1k) parts.push(t("price.in", { v: money(price.input_per_1k) }));
    if (price.output_per_1k) parts.push(t("price.out", { v: money(price.output_per_1k) }));
    if (price.per_image) parts.push(t("price.image", { v: money(price.per_image) }));
    if (price.per_second) parts.push(t("price.second", { v: money(price.per_second) }));
    return parts.length ? parts.join(" · ") : t("price.free");
  }

  // ---------------------------------------------------------------- the API
  class ApiError extends Error {
    constructor(status, code, message) { super(message); this.status = status; this.code = code; }
  }

  function cookie(name) {
    const found = document.cookie.split("; ").find((c) => c.startsWith(name + "="));
    return found ? decodeURIComponent(found.slice(name.length + 1)) : "";
  }

  function query(params) {
    const q = new URLSearchParams();
    for (const [k, v] of Object.entries(params || {})) if (v !== "" && v !== null && v !== undefined) q.set(k, v);
    const s = q.toString();
    return s ? "?" + s : "";
  }

  async function api(method, path, body, params) {
    const headers = { Accept: "application/json" };
    if (method !== "GET") headers["X-CSRF-Token"] = cookie("topapi_csrf");
    if (body !== undefined) headers["Content-Type"] = "application/json";
    let resp;
    try {
      resp = await fetch("/api" + path + query(params), { method, headers, credentials: "same-origin",
        body: body === undefined ? undefined : JSON.stringify(body) });
    } catch (e) {
      throw new ApiError(0, "network", t("err.network"));
    }
    if (resp.status === 204) return null;
    let data = null;
    try { data = await resp.json(); } catch (e) { data = null; }
    if (!resp.ok) {
      const err = (data && data.error) || {};
      if (resp.status === 401 && path !== "/auth/login" && state.me) { state.me = null; render(); }
      throw new ApiError(resp.status, err.code || "http_" + resp.status, err.message || resp.statusText);
    }
    return data;
  }

  async function all(path, params) { // every page of a list endpoint
    const out = [];
    for (;;) {
      const page = await api("GET", path, undefined, { ...params, limit: 500, offset: out.length });
      out.push(...page.data);
      if (!page.data.length || out.length >= page.total) return out;
    }
  }

  // ---------------------------------------------------------------- feedback
  function toast(message, kind) {
    let box = document.querySelector(".toasts");
    if (!box) { box = h("div", { class: "toasts", role: "status", "aria-live": "polite" }); document.body.append(box); }
    const item = h("div", { class: "toast " + (kind || "ok"), text: message });
    box.append(item);
    setTimeout(() => item.remove(), kind === "error" ? 7000 : 3500);
  }
  const fail = (e) => toast(e && e.message ? e.message : String(e), "error");

  async function busy(button, work) {
    button.disabled = true;
    try { return await work(); } catch (e) { fail(e); return undefined; } finally { button.disabled = false; }
  }

  async function copy(text, button) {
    let ok = false;
    try { await navigator.clipboard.writeText(text); ok = true; } catch (e) { ok = false; }
    if (!ok) { // no clipboard API (plain http on a non-local host): select a temporary field and copy
      const area = h("textarea", { class: "offscreen", readOnly: true });
      area.value = text;
      document.body.append(area);
      area.select();
      try { ok = document.execCommand("copy"); } catch (e) { ok = false; }
      area.remove();
    }
    if (button) {
      const label = button.textContent;
      button.textContent = ok ? t("copied") : t("copy.failed");
      setTimeout(() => { button.textContent = label; }, 1600);
    }
    return ok;
  }

  // ---------------------------------------------------------------- forms, tables, dialogs
  /* field({name, label, type, value, options, required, hint, ...}) -> a labelled control.
     type: text | password | number | datetime-local | date | select | checkbox | textarea | checkboxes */
  function field(spec) {
    const id = newId("f");
    const type = spec.type || "text";
    let control;
    if (type === "select") {
      control = h("select", { id, name: spec.name, required: spec.required },
        spec.options.map(([value, label]) => h("option", { value, selected: String(spec.value) === String(value) }, label)));
    } else if (type === "textarea") {
      control = h("textarea", { id, name: spec.name, rows: spec.rows || 3, placeholder: spec.placeholder || "" });
      control.value = spec.value || "";
    } else if (type === "checkbox") {
      control = h("input", { id, name: spec.name, type: "checkbox", checked: !!spec.value });
      return h("div", { class: "field check" }, control, h("label", { for: id, text: spec.label }),
        spec.hint ? h("small", { class: "hint", text: spec.hint }) : null);
    } else if (type === "checkboxes") {
      const group = h("fieldset", { class: "field group", name: spec.name },
        h("legend", { text: spec.label }),
        spec.options.length ? spec.options.map(([value, label]) => {
          const cid = newId("c");
          return h("span", { class: "check" },
            h("input", { id: cid, type: "checkbox", value, checked: (spec.value || []).includes(value) }),
            h("label", { for: cid, text: label }));
        }) : h("small", { class: "hint", text: spec.empty || "" }),
        spec.hint ? h("small", { class: "hint", text: spec.hint }) : null);
      group.dataset.name = spec.name;
      return group;
    } else {
      control = h("input", { id, name: spec.name, type, required: spec.required, placeholder: spec.placeholder || "",
        min: spec.min, max: spec.max, step: spec.step, readOnly: spec.readOnly, autocomplete: spec.autocomplete || "off" });
      if (spec.value !== undefined && spec.value !== null) control.value = spec.value;
    }
    return h("div", { class: "field" + (spec.wide ? " wide" : "") }, h("label", { for: id, text: spec.label }), control,
      spec.hint ? h("small", { class: "hint", text: spec.hint }) : null);
  }

  function values(form) {
    const out = {};
    for (const el of form.querySelectorAll("input[name], select[name], textarea[name]")) {
      if (el.type === "checkbox") out[el.name] = el.checked;
      else out[el.name] = el.value.trim();
    }
    for (const group of form.querySelectorAll("fieldset[data-name]")) {
      out[group.dataset.name] = [...group.querySelectorAll("input:checked")].map((c) => c.value);
    }
    return out;
  }

  /* A form card: fields, a submit button with its text, onSubmit(values, form) -> Promise. */
  function form(spec) {
    const submit = h("button", { type: "submit", class: "primary", text: spec.submit });
    const el = h("form", { class: "form " + (spec.class || ""), novalidate: spec.novalidate },
      spec.title ? h("h3", { text: spec.title }) : null,
      h("div", { class: "fields" }, spec.fields.map(field)),
      h("div", { class: "actions" }, submit, spec.extra || null));
    el.addEventListener("submit", (ev) => {
      ev.preventDefault();
      busy(submit, () => spec.onSubmit(values(el), el));
    });
    return el;
  }

  function dialog(title, content, { onClose } = {}) {
    const close = () => { dlg.close(); dlg.remove(); if (onClose) onClose(); };
    const dlg = h("dialog", { class: "dialog", "aria-label": title },
      h("div", { class: "dialog-head" }, h("h2", { text: title }),
        h("button", { type: "button", class: "ghost icon", "aria-label": t("close"), text: "×", onclick: close })),
      h("div", { class: "dialog-body" }, content));
    dlg.addEventListener("cancel", (ev) => { ev.preventDefault(); close(); });
    document.body.append(dlg);
    dlg.showModal();
    return close;
  }

  function formDialog(spec) {
    let close = () => {};
    const el = form({ ...spec, title: null, onSubmit: async (v, f) => { if ((await spec.onSubmit(v, f)) !== false) close(); } });
    close = dialog(spec.title, el);
    const first = el.querySelector("input:not([readonly]), select, textarea");
    if (first) first.focus();
  }

  async function confirmAction(message) {
    return window.confirm(message);
  }

  /* table(columns, rows): columns [{label, cell(row) -> text|Node, class}] */
  function table(columns, rows, emptyText) {
    if (!rows.length) return h("p", { class: "empty", text: emptyText || t("empty") });
    return h("div", { class: "table-wrap" }, h("table", {},
      h("thead", {}, h("tr", {}, columns.map((c) => h("th", { scope: "col", class: c.class, text: c.label })))),
      h("tbody", {}, rows.map((row) => h("tr", {}, columns.map((c) => {
        const v = c.cell(row);
        return h("td", { class: c.class, "data-label": c.label }, v instanceof Node ? v : String(v ?? "—"));
      }))))));
  }

  const badge = (text, kind) => h("span", { class: "badge " + (kind || ""), text });
  const button = (text, onclick, cls) => h("button", { type: "button", class: cls || "", text, onclick });

  function stat(label, value, note) {
    return h("div", { class: "stat" }, h("div", { class: "stat-label", text: label }),
      h("div", { class: "stat-value", text: value }), note ? h("div", { class: "stat-note", text: note }) : null);
  }

  function section(title, ...content) {
    return h("section", { class: "card" }, title ? h("h2", { text: title }) : null, ...content);
  }

  function pager(page, onPage) {
    const { total, limit, offset } = page;
    const from = total ? offset + 1 : 0;
    const to = Math.min(offset + limit, total);
    return h("div", { class: "pager" }, h("span", { text: t("pager", { from, to, total }) }),
      h("button", { type: "button", text: t("prev"), disabled: offset === 0, onclick: () => onPage(Math.max(0, offset - limit)) }),
      h("button", { type: "button", text: t("next"), disabled: to >= total, onclick: () => onPage(offset + limit) }));
  }

  /* Usage records as a table; `names` (user id -> username) adds the user and node columns. */
  function usageTable(rows, names) {
    const columns = [
      { label: t("time"), cell: (r) => when(r.created_at) },
      names ? { label: t("usage.user"), cell: (r) => names[r.user_id] || `#${r.user_id}` } : null,
      { label: t("model"), cell: (r) => r.model || "—" },
      names ? { label: t("usage.node"), cell: (r) => r.node || "—" } : null,
      { label: t("endpoint"), cell: (r) => h("code", { text: r.endpoint }) },
      { label: t("status"), cell: (r) => badge(String(r.status), r.outcome === "ok" ? "ok" : "warn") },
      { label: t("tokens"), class: "num", cell: (r) => num(r.total_tokens) },
      { label: t("cost"), class: "num", cell: (r) => money(r.cost) },
      { label: t("latency"), class: "num", cell: (r) => `${Math.round(r.latency_ms)} ms` },
    ].filter(Boolean);
    return table(columns, rows, t("usage.empty"));
  }

  // ---------------------------------------------------------------- frame, login, tabs
  const $app = document.getElementById("app");

  function langSwitch() {
    const id = newId("lang");
    const select = h("select", { id, class: "lang", onchange: (ev) => setLang(ev.target.value) },
      h("option", { value: "zh-CN", selected: lang === "zh-CN" }, "中文"),
      h("option", { value: "en", selected: lang === "en" }, "English"));
    return h("span", { class: "lang-switch" }, h("label", { for: id, text: t("language") }), select);
  }

  function brand() {
    return h("div", { class: "brand" }, h("span", { class: "logo", "aria-hidden": "true" }),
      h("span", { text: "topapi" }), h("span", { class: "brand-sub", text: t("console." + CONSOLE) }));
  }

  function loginView() {
    const f = form({
      class: "login", submit: t("login.submit"),
      fields: [{ name: "username", label: t("login.username"), required: true, autocomplete: "username" },
        { name: "password", label: t("login.password"), type: "password", required: true, autocomplete: "current-password" }],
      onSubmit: async (v) => {
        if (!v.username || !v.password) { toast(t("login.missing"), "error"); return; }
        try {
          await api("POST", "/auth/login", { username: v.username, password: v.password, cookie: true });
        } catch (e) {
          toast(e.status === 401 ? t("login.wrong") : e.message, "error");
          return;
        }
        await loadMe();
      },
    });
    return h("main", { class: "login-wrap" }, h("section", { class: "card login-card" },
      h("div", { class: "login-top" }, brand(), langSwitch()),
      h("h1", { text: t("login.title", { console: t("console." + CONSOLE) }) }),
      h("p", { class: "muted", text: t("login.lead." + CONSOLE) }), f));
  }

  async function logout() {
    try { await api("POST", "/auth/logout"); } catch (e) { /* the session is gone either way */ }
    state.me = null;
    render();
  }

  function changePassword() {
    formDialog({
      title: t("password.change"), submit: t("save"),
      fields: [{ name: "password", label: t("password.new"), type: "password", required: true, autocomplete: "new-password",
        hint: t("password.hint") }],
      onSubmit: async (v) => {
        await api("PATCH", "/user/me", { password: v.password });
        toast(t("password.changed"));
        return true;
      },
    });
  }

  function deniedView() {
    const allowed = Object.keys(ROLE_CONSOLES).filter((c) => ROLE_CONSOLES[c].includes(state.me.role));
    return h("main", { class: "login-wrap" }, h("section", { class: "card login-card", role: "alert" },
      h("div", { class: "login-top" }, brand(), langSwitch()),
      h("h1", { text: t("denied.title") }),
      h("p", { text: t("denied.text", { user: state.me.username, role: t("role." + state.me.role),
        console: t("console." + CONSOLE) }) }),
      allowed.length ? h("p", {}, t("denied.use"), " ", allowed.map((c, i) => [i ? " · " : "",
        h("a", { href: `/console/${c}/`, text: t("console." + c) })])) : null,
      h("div", { class: "actions" }, button(t("logout"), logout, "primary"))));
  }
  const ROLE_CONSOLES = { user: ["user", "node_admin", "platform_admin"], node: ["node_admin", "platform_admin"],
    platform: ["platform_admin"] };

  function frame() {
    const tabs = state.spec.tabs;
    const current = tabs.find((tab) => tab.id === state.tab) || tabs[0];
    const main = h("main", { class: "content", id: "main" });
    const nav = h("nav", { class: "tabs", "aria-label": t("nav") }, tabs.map((tab) =>
      h("a", { href: "#" + tab.id, class: tab === current ? "active" : "", "aria-current": tab === current ? "page" : null,
        text: t(tab.label) })));
    const header = h("header", { class: "top" }, brand(), nav,
      h("div", { class: "who" }, langSwitch(),
        h("span", { class: "user-chip" }, h("span", { class: "avatar", "aria-hidden": "true", text: state.me.username.slice(0, 1).toUpperCase() }),
          h("span", { text: state.me.username }), badge(t("role." + state.me.role), "muted")),
        button(t("password.change"), changePassword, "ghost"), button(t("logout"), logout, "ghost")));
    const page = h("div", { class: "page" }, header, main);
    Promise.resolve().then(() => current.render(main)).catch(fail);
    return page;
  }

  function render() {
    document.documentElement.lang = lang;
    document.title = `${t("console." + CONSOLE)} · topapi`;
    let view;
    if (state.me === undefined) view = h("main", { class: "login-wrap" }, h("p", { class: "muted", text: t("loading") }));
    else if (!state.me) view = loginView();
    else if (!ROLES.includes(state.me.role)) view = deniedView();
    else view = frame();
    $app.replaceChildren(view);
    const focus = $app.querySelector("form.login input");
    if (focus) focus.focus();
  }

  async function loadMe() {
    try { state.me = await api("GET", "/user/me"); } catch (e) { state.me = null; if (e.status !== 401) fail(e); }
    render();
  }

  function start(spec) {
    state.spec = spec;
    state.me = undefined;
    state.tab = location.hash.slice(1) || spec.tabs[0].id;
    window.addEventListener("hashchange", () => { state.tab = location.hash.slice(1); if (state.me) render(); });
    render();
    loadMe();
  }

  function refresh() { render(); }

  return { t, h, api, all, toast, fail, busy, copy, field, form, values, dialog, formDialog, confirmAction, table,
    badge, button, stat, section, pager, usageTable, money, num, when, day, dateRange, priceText, start, refresh,
    query, state, DATA, get lang() { return lang; } };
})();
