/* User console (the guide's 用户后台): API keys, the model market, own usage, quick start. */
"use strict";

(() => {
  const { t, h, api, all, toast, fail, busy, copy, form, formDialog, table, badge, button, stat, section, pager,
    money, num, when, priceText } = TA;

  // ---------------------------------------------------------------- API keys (令牌管理)
  function keyStatus(key) {
    if (key.expires_at && key.expires_at * 1000 < Date.now()) return badge(t("key.expired"), "warn");
    return key.enabled ? badge(t("enabled"), "ok") : badge(t("disabled"), "muted");
  }

  function showNewKey(key) {
    const input = h("input", { id: "new-key", readOnly: true, class: "mono", value: key.key, "aria-label": t("keys.new.label") });
    const copyBtn = button(t("copy"), (ev) => copy(key.key, ev.currentTarget), "primary");
    TA.dialog(t("keys.new.title"), h("div", { class: "new-key" },
      h("p", { class: "warn-text", text: t("keys.new.once") }),
      h("label", { for: "new-key", text: t("keys.new.label") }),
      h("div", { class: "copy-row" }, input, copyBtn),
      h("p", { class: "muted", text: t("keys.new.how") })));
    input.select();
  }

  async function keysView(main) {
    const [keys, subs] = await Promise.all([all("/user/keys"), all("/user/subscriptions")]);
    const subscribed = subs.map((s) => s.model);
    const create = () => formDialog({
      title: t("keys.create"), submit: t("keys.create.submit"),
      fields: [
        { name: "name", label: t("keys.name"), required: true, placeholder: t("keys.name.ph") },
        { name: "expires_at", label: t("keys.expiry"), type: "datetime-local", hint: t("keys.expiry.hint") },
        { name: "models", label: t("keys.models"), type: "checkboxes", options: subscribed.map((m) => [m, m]),
          hint: t("keys.models.hint"), empty: t("keys.models.none") },
        { name: "rpm", label: t("keys.rpm"), type: "number", min: 1, step: 1, hint: t("keys.rpm.hint") },
        { name: "enabled", label: t("keys.enabled"), type: "checkbox", value: true },
      ],
      onSubmit: async (v) => {
        if (!v.name) { toast(t("keys.name.missing"), "error"); return false; }
        const body = { name: v.name, enabled: v.enabled, models: v.models.length ? v.models : null };
        if (v.expires_at) body.expires_at = new Date(v.expires_at).getTime() / 1000;
        if (v.rpm) body.rpm = Number(v.rpm);
        const key = await api("POST", "/user/keys", body);
        TA.refresh();
        showNewKey(key);
        return true;
      },
    });
    const rows = table([
      { label: t("keys.name"), cell: (k) => h("strong", { text: k.name }) },
      { label: t("keys.key"), cell: (k) => h("code", { text: k.prefix }) },
      { label: t("status"), cell: keyStatus },
      { label: t("keys.models"), cell: (k) => (k.models ? k.models.join(", ") : t("keys.models.all")) },
      { label: t("keys.rpm"), cell: (k) => (k.rpm ? num(k.rpm) : t("unlimited")) },
      { label: t("keys.expiry"), cell: (k) => (k.expires_at ? when(k.expires_at) : t("never")) },
      { label: t("created"), cell: (k) => when(k.created_at) },
      { label: t("actions"), class: "actions-cell", cell: (k) => h("div", { class: "row-actions" },
        button(k.enabled ? t("disable") : t("enable"), (ev) => busy(ev.currentTarget, async () => {
          await api("PATCH", `/user/keys/${k.id}`, { enabled: !k.enabled });
          toast(k.enabled ? t("keys.disabled", { name: k.name }) : t("keys.enabled.done", { name: k.name }));
          TA.refresh();
        })),
        button(t("delete"), (ev) => busy(ev.currentTarget, async () => {
          if (!(await TA.confirmAction(t("keys.delete.confirm", { name: k.name })))) return;
          await api("DELETE", `/user/keys/${k.id}`);
          toast(t("deleted"));
          TA.refresh();
        }), "danger")) },
    ], keys, t("keys.empty"));
    main.replaceChildren(section(t("tab.keys"),
      h("div", { class: "section-head" }, h("p", { class: "muted", text: t("keys.lead") }),
        button(t("keys.create"), create, "primary")), rows));
  }

  // ---------------------------------------------------------------- model market (模型市场)
  async function marketView(main) {
    const models = await all("/user/market");
    const cards = models.map((m) => h("article", { class: "model-card" + (m.subscribed ? " on" : "") },
      h("div", { class: "model-head" }, h("h3", { text: m.name }), badge(t("kind." + m.kind), "kind")),
      m.display_name && m.display_name !== m.name ? h("p", { class: "muted", text: m.display_name }) : null,
      m.description ? h("p", { text: m.description }) : null,
      h("p", { class: "price", text: priceText(m.price) }),
      h("div", { class: "model-foot" }, m.subscribed ? badge(t("market.subscribed"), "ok") : h("span"),
        button(m.subscribed ? t("market.unsubscribe") : t("market.subscribe"), (ev) => busy(ev.currentTarget, async () => {
          if (m.subscribed) await api("DELETE", `/user/subscriptions/${encodeURIComponent(m.name)}`);
          else await api("POST", "/user/subscriptions", { model: m.name });
          toast(t(m.subscribed ? "market.unsubscribed" : "market.subscribed.done", { model: m.name }));
          TA.refresh();
        }), m.subscribed ? "" : "primary"))));
    cards.forEach((c, i) => c.querySelector("button").setAttribute("aria-label",
      `${c.querySelector("button").textContent} ${models[i].name}`));
    main.replaceChildren(section(t("tab.market"), h("p", { class: "muted", text: t("market.lead") }),
      models.length ? h("div", { class: "model-grid" }, cards) : h("p", { class: "empty", text: t("market.empty") })));
  }

  // ---------------------------------------------------------------- usage
  const usageFilter = { model: "", since: "", until: "", offset: 0 };

  async function usageView(main) {
    const params = { model: usageFilter.model, ...TA.dateRange(usageFilter.since, usageFilter.until) };
    const [stats, page, subs] = await Promise.all([api("GET", "/user/stats", undefined, params),
      api("GET", "/user/usage", undefined, { ...params, limit: 20, offset: usageFilter.offset }), all("/user/subscriptions")]);
    const filters = form({
      class: "inline", submit: t("filter.apply"),
      fields: [
        { name: "model", label: t("model"), type: "select", value: usageFilter.model,
          options: [["", t("filter.all")], ...subs.map((s) => [s.model, s.model])] },
        { name: "since", label: t("filter.since"), type: "date", value: usageFilter.since },
        { name: "until", label: t("filter.until"), type: "date", value: usageFilter.until },
      ],
      onSubmit: async (v) => { Object.assign(usageFilter, v, { offset: 0 }); TA.refresh(); },
    });
    const tot = stats.totals;
    const quota = stats.quota === null ? t("unlimited") : money(stats.remaining);
    const cards = h("div", { class: "stats" }, stat(t("stat.requests"), num(tot.requests), t("stat.errors", { n: num(tot.errors) })),
      stat(t("stat.tokens"), num(tot.total_tokens), t("stat.tokens.split", { p: num(tot.prompt_tokens), c: num(tot.completion_tokens) })),
      stat(t("stat.cost"), money(tot.cost)),
      stat(t("stat.quota.left"), quota, stats.quota === null ? t("stat.used", { v: money(stats.used) })
        : t("stat.quota.of", { used: money(stats.used), quota: money(stats.quota) })));
    const rows = TA.usageTable(page.data);
    main.replaceChildren(section(t("tab.usage"), filters, cards, rows,
      pager(page, (offset) => { usageFilter.offset = offset; TA.refresh(); })));
  }

  // ---------------------------------------------------------------- quick start
  const TITLES = { get_model_list: "qs.get_model_list", models: "qs.models", chat: "qs.chat", responses_models: "qs.responses_models",
    responses: "qs.responses", gemini_models: "qs.gemini_models", gemini_stream: "qs.gemini", image_generation: "qs.image",
    image_edit: "qs.image_edit", video_create: "qs.video_create", video_retrieve: "qs.video_retrieve",
    video_content: "qs.video_content", video_remix: "qs.video_remix" };
  const KEY_PLACEHOLDER = "YOUR_API_KEY";

  function shellQuote(text) { return "'" + text.split("'").join("'\\''") + "'"; }

  function curl(base, call, header) {
    const lines = [`curl -X ${call.method} ${shellQuote(base + call.path)}`, `  -H ${shellQuote(header + ": " + KEY_PLACEHOLDER)}`];
    if (call.body !== null) lines.push("  -H 'Content-Type: application/json'", `  -d ${shellQuote(call.body)}`);
    if (call.name === "video_content") lines.push("  -o video.mp4");
    return lines.join(" \\\n");
  }

  function quickStartView(main) {
    const base = location.origin;
    const { calls, auth_header: header } = TA.DATA;
    const blocks = calls.map((call) => {
      const text = curl(base, call, header);
      const id = "qs-" + call.name;
      return h("article", { class: "snippet", id },
        h("div", { class: "snippet-head" }, h("h3", { text: t(TITLES[call.name]) }),
          h("code", { class: "endpoint", text: `${call.method} ${call.path}` }),
          h("button", { type: "button", class: "ghost", text: t("copy"), "aria-label": `${t("copy")}: ${t(TITLES[call.name])}`,
            onclick: (ev) => copy(text, ev.currentTarget) })),
        call.path.includes("/videos/video_") ? h("p", { class: "hint", text: t("qs.video_id") }) : null,
        h("pre", { class: "code", tabindex: "0" }, h("code", { text })));
    });
    main.replaceChildren(section(t("tab.quickstart"),
      h("p", { text: t("qs.lead") }),
      h("dl", { class: "facts" }, h("dt", { text: t("qs.base") }), h("dd", {}, h("code", { text: base })),
        h("dt", { text: t("qs.header") }), h("dd", {}, h("code", { text: `${header}: ${KEY_PLACEHOLDER}` }))),
      h("p", { class: "muted", text: t("qs.steps") })), ...blocks.map((b) => h("section", { class: "card" }, b)));
  }

  TA.start({
    tabs: [
      { id: "keys", label: "tab.keys", render: keysView },
      { id: "market", label: "tab.market", render: marketView },
      { id: "usage", label: "tab.usage", render: usageView },
      { id: "quickstart", label: "tab.quickstart", render: quickStartView },
    ],
  });
})();
