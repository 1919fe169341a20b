/* Node console (the guide's 节点后台): upstream nodes with their health, and the model catalog.
   A node's upstream key is write-only: the API never returns it and this page never shows it. */
"use strict";

(() => {
  const { t, h, api, all, toast, busy, formDialog, table, badge, button, section, num, when, priceText } = TA;
  const PROVIDERS = ["openai", "openai-chat", "gemini", "sora"];
  const KINDS = ["chat", "responses", "image", "video", "gemini"];

  // "model" or "model = upstream-name", one per line
  const servedText = (models) => models.map((m) => (m.upstream_model ? `${m.model} = ${m.upstream_model}` : m.model)).join("\n");
  function parseServed(text) {
    return text.split("\n").map((l) => l.trim()).filter(Boolean).map((line) => {
      const [model, upstream] = line.split("=").map((s) => s.trim());
      return { model, upstream_model: upstream || null };
    });
  }

  function breakerBadge(health) {
    if (!health) return badge("—", "muted");
    const kind = { closed: "ok", half_open: "warn", open: "bad" }[health.breaker] || "muted";
    return badge(t("breaker." + health.breaker), kind);
  }

  function healthCell(health) {
    if (!health) return "—";
    const lines = [breakerBadge(health)];
    if (health.requests) {
      lines.push(h("small", { text: t("health.recent", { n: num(health.requests), e: num(health.errors),
        ms: Math.round(health.latency_ms) }) }));
    } else lines.push(h("small", { class: "muted", text: t("health.none") }));
    if (health.recent_errors.length) {
      const e = health.recent_errors[0];
      lines.push(h("small", { class: "bad-text", title: e.error, text: t("health.last", { at: when(e.at), status: e.status, outcome: e.outcome }) }));
    }
    return h("div", { class: "stack" }, lines);
  }

  function nodeDialog(node, catalog) {
    const editing = !!node;
    node = node || { name: "", provider: "openai", base_url: "", weight: 1, priority: 0, enabled: true, models: [] };
    formDialog({
      title: editing ? t("nodes.edit", { name: node.name }) : t("nodes.add"),
      submit: editing ? t("save") : t("nodes.add.submit"),
      fields: [
        { name: "name", label: t("nodes.name"), value: node.name, required: true, readOnly: editing },
        { name: "provider", label: t("nodes.provider"), type: "select", value: node.provider, options: PROVIDERS.map((p) => [p, p]) },
        { name: "base_url", label: t("nodes.base_url"), value: node.base_url, required: true, placeholder: "https://api.openai.com/v1", wide: true },
        { name: "api_key", label: t("nodes.api_key"), type: "password", autocomplete: "new-password", wide: true,
          placeholder: editing ? t("nodes.api_key.keep") : "sk-…", hint: t("nodes.api_key.hint") },
        { name: "weight", label: t("nodes.weight"), type: "number", min: 0, step: 1, value: node.weight },
        { name: "priority", label: t("nodes.priority"), type: "number", step: 1, value: node.priority, hint: t("nodes.priority.hint") },
        { name: "models", label: t("nodes.models"), type: "textarea", value: servedText(node.models), wide: true, rows: 4,
          placeholder: "gpt-4.1-mini\ngpt-4o = gpt-4o-2024-08-06",
          hint: t("nodes.models.hint", { known: catalog.map((m) => m.name).join(", ") || "—" }) },
        { name: "enabled", label: t("enabled"), type: "checkbox", value: node.enabled },
      ],
      onSubmit: async (v) => {
        const body = { provider: v.provider, base_url: v.base_url, weight: Number(v.weight || 0),
          priority: Number(v.priority || 0), enabled: v.enabled, models: parseServed(v.models) };
        if (v.api_key) body.api_key = v.api_key;
        if (editing) await api("PATCH", `/node/nodes/${node.id}`, body);
        else await api("POST", "/node/nodes", { name: v.name, ...body });
        toast(t("saved"));
        TA.refresh();
        return true;
      },
    });
  }

  function showTest(node, result) {
    TA.dialog(t("nodes.test.title", { name: node.name }), h("div", { class: "test-result", role: "status" },
      h("p", {}, result.ok ? badge(t("nodes.test.ok"), "ok") : badge(t("nodes.test.fail"), "bad")),
      h("dl", { class: "facts" },
        h("dt", { text: t("status") }), h("dd", { text: result.status === null ? "—" : String(result.status) }),
        h("dt", { text: t("latency") }), h("dd", { text: `${result.latency_ms} ms` }),
        result.error ? [h("dt", { text: t("error") }), h("dd", { class: "bad-text", text: result.error })] : null),
      h("p", { class: "muted", text: t("nodes.test.what") })));
  }

  async function nodesView(main) {
    const [nodes, health, catalog] = await Promise.all([all("/node/nodes"), api("GET", "/node/health"), all("/node/models")]);
    const byId = Object.fromEntries(health.data.map((x) => [x.id, x]));
    const rows = table([
      { label: t("nodes.name"), cell: (n) => h("div", { class: "stack" }, h("strong", { text: n.name }),
        h("small", { class: "muted", text: n.api_key_hint ? t("nodes.key.set") : t("nodes.key.none") })) },
      { label: t("nodes.provider"), cell: (n) => badge(n.provider, "kind") },
      { label: t("nodes.base_url"), cell: (n) => h("code", { class: "url", text: n.base_url }) },
      { label: t("nodes.models"), cell: (n) => h("div", { class: "stack" }, n.models.map((m) =>
        h("small", { text: m.upstream_model ? `${m.model} → ${m.upstream_model}` : m.model }))) },
      { label: t("nodes.weight"), class: "num", cell: (n) => num(n.weight) },
      { label: t("nodes.priority"), class: "num", cell: (n) => num(n.priority) },
      { label: t("status"), cell: (n) => (n.enabled ? badge(t("enabled"), "ok") : badge(t("disabled"), "muted")) },
      { label: t("nodes.health"), cell: (n) => healthCell(byId[n.id]) },
      { label: t("actions"), class: "actions-cell", cell: (n) => h("div", { class: "row-actions" },
        button(t("nodes.test"), (ev) => busy(ev.currentTarget, async () => showTest(n, await api("POST", `/node/nodes/${n.id}/test`))),
          "ghost"),
        button(t("edit"), () => nodeDialog(n, catalog), "ghost"),
        button(n.enabled ? t("disable") : t("enable"), (ev) => busy(ev.currentTarget, async () => {
          await api("PATCH", `/node/nodes/${n.id}`, { enabled: !n.enabled });
          TA.refresh();
        })),
        button(t("delete"), (ev) => busy(ev.currentTarget, async () => {
          if (!(await TA.confirmAction(t("nodes.delete.confirm", { name: n.name })))) return;
          await api("DELETE", `/node/nodes/${n.id}`);
          toast(t("deleted"));
          TA.refresh();
        }), "danger")) },
    ], nodes, t("nodes.empty"));
    rows.querySelectorAll("tbody tr").forEach((tr, i) => tr.setAttribute("data-node", nodes[i].name));
    main.replaceChildren(section(t("tab.nodes"),
      h("div", { class: "section-head" }, h("p", { class: "muted", text: t("nodes.lead", { min: Math.round(health.window_s / 60) }) }),
        h("div", { class: "row-actions" }, button(t("refresh"), () => TA.refresh(), "ghost"),
          button(t("nodes.add"), () => nodeDialog(null, catalog), "primary"))), rows));
  }

  // ---------------------------------------------------------------- models
  function modelDialog(model) {
    const editing = !!model;
    model = model || { name: "", kind: "chat", display_name: "", description: "", listed: true, price: {} };
    const p = model.price || {};
    formDialog({
      title: editing ? t("models.edit", { name: model.name }) : t("models.add"),
      submit: editing ? t("save") : t("models.add.submit"),
      fields: [
        { name: "name", label: t("models.name"), value: model.name, required: true, readOnly: editing },
        { name: "kind", label: t("models.kind"), type: "select", value: model.kind, options: KINDS.map((k) => [k, t("kind." + k)]) },
        { name: "display_name", label: t("models.display"), value: model.display_name || "" },
        { name: "input_per_1k", label: t("models.input"), type: "number", min: 0, step: "any", value: p.input_per_1k ?? "" },
        { name: "output_per_1k", label: t("models.output"), type: "number", min: 0, step: "any", value: p.output_per_1k ?? "" },
        { name: "per_image", label: t("models.image"), type: "number", min: 0, step: "any", value: p.per_image ?? "" },
        { name: "per_second", label: t("models.second"), type: "number", min: 0, step: "any", value: p.per_second ?? "" },
        { name: "description", label: t("models.description"), type: "textarea", value: model.description || "", wide: true },
        { name: "listed", label: t("models.listed"), type: "checkbox", value: model.listed, hint: t("models.listed.hint") },
      ],
      onSubmit: async (v) => {
        const price = {};
        for (const k of ["input_per_1k", "output_per_1k", "per_image", "per_second"]) price[k] = v[k] === "" ? null : Number(v[k]);
        const body = { kind: v.kind, display_name: v.display_name || null, description: v.description || null,
          listed: v.listed, price };
        if (editing) await api("PATCH", `/node/models/${model.id}`, body);
        else await api("POST", "/node/models", { name: v.name, ...body });
        toast(t("saved"));
        TA.refresh();
        return true;
      },
    });
  }

  async function modelsView(main) {
    const models = await all("/node/models");
    const rows = table([
      { label: t("models.name"), cell: (m) => h("div", { class: "stack" }, h("strong", { text: m.name }),
        m.display_name && m.display_name !== m.name ? h("small", { class: "muted", text: m.display_name }) : null) },
      { label: t("models.kind"), cell: (m) => badge(t("kind." + m.kind), "kind") },
      { label: t("models.price"), cell: (m) => priceText(m.price) },
      { label: t("models.market"), cell: (m) => (m.listed ? badge(t("models.listed.yes"), "ok") : badge(t("models.listed.no"), "muted")) },
      { label: t("created"), cell: (m) => when(m.created_at) },
      { label: t("actions"), class: "actions-cell", cell: (m) => h("div", { class: "row-actions" },
        button(t("edit"), () => modelDialog(m), "ghost"),
        button(m.listed ? t("models.unlist") : t("models.list"), (ev) => busy(ev.currentTarget, async () => {
          await api("PATCH", `/node/models/${m.id}`, { listed: !m.listed });
          TA.refresh();
        })),
        button(t("delete"), (ev) => busy(ev.currentTarget, async () => {
          if (!(await TA.confirmAction(t("models.delete.confirm", { name: m.name })))) return;
          await api("DELETE", `/node/models/${m.id}`);
          toast(t("deleted"));
          TA.refresh();
        }), "danger")) },
    ], models, t("models.empty"));
    main.replaceChildren(section(t("tab.models"),
      h("div", { class: "section-head" }, h("p", { class: "muted", text: t("models.lead") }),
        button(t("models.add"), () => modelDialog(null), "primary")), rows));
  }

  TA.start({
    tabs: [
      { id: "nodes", label: "tab.nodes", render: nodesView },
      { id: "models", label: "tab.models", render: modelsView },
    ],
  });
})();
