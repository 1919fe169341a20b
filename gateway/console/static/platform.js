/* Platform console (the guide's 管理员后台): users, and usage across users with charts and CSV export. */
"use strict";

(() => {
  const { t, h, api, toast, busy, form, formDialog, table, badge, button, stat, section, pager, money, num, when } = TA;
  const ROLES = ["user", "node_admin", "platform_admin"];

  // ---------------------------------------------------------------- users
  const userFilter = { q: "", offset: 0 };

  function quotaValue(text) { return text === "" ? null : Number(text); }

  function addUser() {
    formDialog({
      title: t("users.add"), submit: t("users.add.submit"),
      fields: [
        { name: "username", label: t("users.username"), required: true, hint: t("users.username.hint") },
        { name: "password", label: t("users.password"), type: "password", required: true, autocomplete: "new-password",
          hint: t("users.password.hint") },
        { name: "role", label: t("users.role"), type: "select", value: "user", options: ROLES.map((r) => [r, t("role." + r)]) },
        { name: "quota", label: t("users.quota"), type: "number", min: 0, step: "any", hint: t("users.quota.hint") },
      ],
      onSubmit: async (v) => {
        const user = await api("POST", "/platform/users", { username: v.username, password: v.password, role: v.role,
          quota: quotaValue(v.quota) });
        toast(t("users.added", { name: user.username }));
        TA.refresh();
        return true;
      },
    });
  }

  function resetPassword(user) {
    formDialog({
      title: t("users.reset.title", { name: user.username }), submit: t("users.reset.submit"),
      fields: [{ name: "password", label: t("users.password.new"), type: "password", required: true, autocomplete: "new-password",
        hint: t("users.reset.hint") }],
      onSubmit: async (v) => {
        await api("PATCH", `/platform/users/${user.id}`, { password: v.password });
        toast(t("users.reset.done", { name: user.username }));
        return true;
      },
    });
  }

  function changeQuota(user) {
    formDialog({
      title: t("users.quota.title", { name: user.username }), submit: t("save"),
      fields: [{ name: "quota", label: t("users.quota"), type: "number", min: 0, step: "any", value: user.quota ?? "",
        hint: t("users.quota.hint") }],
      onSubmit: async (v) => {
        await api("PATCH", `/platform/users/${user.id}`, { quota: quotaValue(v.quota) });
        toast(t("saved"));
        TA.refresh();
        return true;
      },
    });
  }

  async function usersView(main) {
    const page = await api("GET", "/platform/users", undefined, { q: userFilter.q, limit: 50, offset: userFilter.offset });
    const me = TA.state.me;
    const search = form({
      class: "inline", submit: t("search"),
      fields: [{ name: "q", label: t("users.search"), type: "search", value: userFilter.q, placeholder: t("users.search.ph") }],
      onSubmit: async (v) => { userFilter.q = v.q; userFilter.offset = 0; TA.refresh(); },
    });
    const rows = table([
      { label: "ID", class: "num", cell: (u) => String(u.id) },
      { label: t("users.username"), cell: (u) => h("strong", { text: u.username }) },
      { label: t("users.role"), cell: (u) => badge(t("role." + u.role), u.role === "user" ? "muted" : "kind") },
      { label: t("status"), cell: (u) => (u.status === "active" ? badge(t("active"), "ok") : badge(t("disabled"), "bad")) },
      { label: t("users.quota"), class: "num", cell: (u) => (u.quota === null ? t("unlimited") : money(u.quota)) },
      { label: t("users.used"), class: "num", cell: (u) => money(u.used) },
      { label: t("created"), cell: (u) => when(u.created_at) },
      { label: t("actions"), class: "actions-cell", cell: (u) => h("div", { class: "row-actions" },
        u.id === me.id ? null : button(u.status === "active" ? t("disable") : t("enable"), (ev) => busy(ev.currentTarget, async () => {
          await api("PATCH", `/platform/users/${u.id}`, { status: u.status === "active" ? "disabled" : "active" });
          toast(t("saved"));
          TA.refresh();
        })),
        button(t("users.reset"), () => resetPassword(u), "ghost"),
        button(t("users.quota.change"), () => changeQuota(u), "ghost")) },
    ], page.data, t("users.empty"));
    rows.querySelectorAll("tbody tr").forEach((tr, i) => tr.setAttribute("data-user", page.data[i].username));
    main.replaceChildren(section(t("tab.users"),
      h("div", { class: "section-head" }, search, button(t("users.add"), addUser, "primary")), rows,
      pager(page, (offset) => { userFilter.offset = offset; TA.refresh(); })));
  }

  // ---------------------------------------------------------------- usage across users
  const usageFilter = { user: "", model: "", since: "", until: "", offset: 0 };

  async function usageView(main) {
    const range = TA.dateRange(usageFilter.since, usageFilter.until);
    const params = { user: usageFilter.user, model: usageFilter.model, ...range };
    const [stats, daily, page] = await Promise.all([
      api("GET", "/platform/stats", undefined, { user: usageFilter.user, ...range }),
      api("GET", "/platform/usage/daily", undefined, params),
      api("GET", "/platform/usage", undefined, { ...params, limit: 20, offset: usageFilter.offset })]);
    const names = Object.fromEntries(stats.by_user.map((u) => [u.user_id, u.username]));  // records carry ids
    const byModel = usageFilter.model ? stats.by_model.filter((m) => m.model === usageFilter.model) : stats.by_model;
    const tot = usageFilter.model ? byModel[0] || { requests: 0, errors: 0, total_tokens: 0, cost: 0 } : stats.totals;
    const filters = form({
      class: "inline", submit: t("filter.apply"),
      fields: [
        { name: "user", label: t("usage.user"), value: usageFilter.user, placeholder: t("usage.user.ph") },
        { name: "model", label: t("model"), value: usageFilter.model, placeholder: "gpt-4.1-mini" },
        { name: "since", label: t("filter.since"), type: "date", value: usageFilter.since },
        { name: "until", label: t("filter.until"), type: "date", value: usageFilter.until },
      ],
      extra: h("a", { class: "button ghost", href: "/api/platform/usage/export" + TA.query(params), download: "",
        text: t("usage.export") }),
      onSubmit: async (v) => { Object.assign(usageFilter, v, { offset: 0 }); TA.refresh(); },
    });
    const cards = h("div", { class: "stats" },
      stat(t("stat.requests"), num(tot.requests), t("stat.errors", { n: num(tot.errors) })),
      stat(t("stat.tokens"), num(tot.total_tokens)),
      stat(t("stat.cost"), money(tot.cost)),
      stat(t("stat.users"), num(stats.by_user.length)));
    const charts = daily.data.length ? h("div", { class: "charts" },
      Charts.dailyChart(daily.data, "requests", t("chart.requests.day"), (v) => num(Math.round(v))),
      Charts.dailyChart(daily.data, "cost", t("chart.cost.day"), (v) => money(v)),
      Charts.modelChart(byModel, "requests", t("chart.requests.model"), (v) => num(v)),
      Charts.modelChart(byModel, "cost", t("chart.cost.model"), (v) => money(v))) : null;
    const rows = TA.usageTable(page.data, names);
    main.replaceChildren(section(t("tab.usage"), filters, cards, charts),
      section(t("usage.records"), rows, pager(page, (offset) => { usageFilter.offset = offset; TA.refresh(); })));
  }

  TA.start({
    tabs: [
      { id: "users", label: "tab.users", render: usersView },
      { id: "usage", label: "tab.usage", render: usageView },
    ],
  });
})();
