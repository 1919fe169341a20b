/* The platform console's charts, as plain SVG and CSS bars (no chart library, nothing fetched). */
"use strict";

const Charts = (() => {
  const { h, day } = TA;
  const PALETTE = ["#2563eb", "#16a34a", "#ea580c", "#9333ea", "#0891b2", "#dc2626", "#ca8a04", "#4f46e5"];

  /* An axis step of 1, 2, 2.5 or 5 times a power of ten (whole numbers for counts), at least `raw`. */
  function niceStep(raw, whole) {
    if (!(raw > 0)) return 1;
    const power = Math.pow(10, Math.floor(Math.log10(raw)));
    const step = [1, 2, 2.5, 5, 10].map((m) => m * power).find((v) => v >= raw * 0.999999);
    return whole ? Math.max(1, Math.ceil(step)) : step;
  }

  /* Stacked bars of `metric` per day, one colour per model. rows: [{day, model, <metric>}] */
  function dailyChart(rows, metric, title, format) {
    const days = [...new Set(rows.map((r) => r.day))].sort((a, b) => a - b);
    const models = [...new Set(rows.map((r) => r.model || "—"))].sort();
    const color = (m) => PALETTE[models.indexOf(m) % PALETTE.length];
    const totals = days.map((d) => rows.filter((r) => r.day === d).reduce((s, r) => s + r[metric], 0));
    const max = niceStep(Math.max(...totals, 0) / 4, metric === "requests") * 4;
    const W = 560, H = 220, left = 78, bottom = 28, top = 10;
    const plotW = W - left - 10, plotH = H - bottom - top;
    const step = plotW / Math.max(days.length, 1);
    const barW = Math.max(4, Math.min(48, step * 0.6));
    const svg = h("svg:svg", { viewBox: `0 0 ${W} ${H}`, class: "chart", role: "img", "aria-label": title });
    for (let i = 0; i <= 4; i++) {
      const y = top + plotH - (plotH * i) / 4;
      svg.append(h("svg:line", { x1: left, x2: W - 10, y1: y, y2: y, class: "grid" }));
      svg.append(h("svg:text", { x: left - 6, y: y + 4, "text-anchor": "end", class: "axis" }, format((max * i) / 4)));
    }
    days.forEach((d, i) => {
      let y = top + plotH;
      const x = left + step * i + (step - barW) / 2;
      for (const m of models) {
        const r = rows.find((row) => row.day === d && (row.model || "—") === m);
        if (!r || !r[metric]) continue;
        const hgt = (plotH * r[metric]) / max;
        y -= hgt;
        svg.append(h("svg:rect", { x, y, width: barW, height: Math.max(hgt, 0.5), fill: color(m), rx: 2 },
          h("svg:title", {}, `${day(d)} · ${m}: ${format(r[metric])}`)));
      }
      if (days.length <= 16 || i % Math.ceil(days.length / 8) === 0) {
        svg.append(h("svg:text", { x: x + barW / 2, y: H - 8, "text-anchor": "middle", class: "axis" }, day(d).slice(5)));
      }
    });
    const legend = h("div", { class: "legend" }, models.map((m) =>
      h("span", {}, h("i", { class: "swatch", "data-color": color(m) }), m)));
    for (const sw of legend.querySelectorAll(".swatch")) sw.style.background = sw.dataset.color;
    return h("figure", { class: "chart-box" }, h("figcaption", { text: title }), svg, legend);
  }

  /* Horizontal bars: one per model. rows: [{model, <metric>}] */
  function modelChart(rows, metric, title, format) {
    const max = Math.max(...rows.map((r) => r[metric]), 0) || 1;
    return h("figure", { class: "chart-box" }, h("figcaption", { text: title }),
      h("div", { class: "hbars", role: "img", "aria-label": title }, rows.map((r, i) => {
        const bar = h("span", { class: "hbar-fill" });
        bar.style.width = Math.max(1, (100 * r[metric]) / max) + "%";
        bar.style.background = PALETTE[i % PALETTE.length];
        return h("div", { class: "hbar" }, h("span", { class: "hbar-label", text: r.model || "—" }),
          h("span", { class: "hbar-track" }, bar), h("span", { class: "hbar-value", text: format(r[metric]) }));
      })));
  }

  return { dailyChart, modelChart };
})();
