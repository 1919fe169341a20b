"""The capacity search's report: a throughput-latency curve (PNG) and report.html.

The curve puts TTFT and ITL percentiles against the achieved rate of each step, draws the
latency SLOs given on the command line as horizontal lines and marks the knee: the highest
rate at which every SLO held (`max_rate`). A third panel shows goodput against the rate.
"""

from __future__ import annotations

import base64
import html
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

from . import slo as slo_mod  # noqa: E402

PCTS = (("p50", "-", "o"), ("p95", "--", "s"), ("p99", ":", "^"))


def plot(summary: dict[str, Any], path: Path) -> Path | None:
    steps = sorted(summary["steps"], key=lambda s: s["rate"])
    if not steps:
        return None
    gates = slo_mod.parse(summary.get("slo_given", ""))
    xs = [s["achieved_rps"] for s in steps]
    fig, axes = plt.subplots(1, 3, figsize=(15, 4.4))
    for ax, metric, color in ((axes[0], "ttft", "#4477aa"), (axes[1], "itl", "#228833")):
        for p, style, marker in PCTS:
            ys = [s["metrics"][f"{metric}_ms"][p] for s in steps]
            if any(y is not None for y in ys):
                ax.plot(xs, [float("nan") if y is None else y for y in ys], style, marker=marker, color=color,
                        label=f"{metric.upper()} {p}")
        for g in gates:
            if g.name.startswith(f"{metric}_") and g.name.split("_", 1)[1] in ("p50", "p90", "p95", "p99", "max"):
                ax.axhline(g.limit, color="#cc3311", linewidth=1)
                ax.annotate(f"SLO {g.name} {g.limit:g} ms", (0.01, g.limit), xycoords=("axes fraction", "data"),
                            fontsize=8, color="#cc3311", va="bottom")
        ax.set_xlabel("achieved requests/s")
        ax.set_ylabel("ms")
        ax.set_title(f"{metric.upper()} against throughput")
        if ax.get_legend_handles_labels()[1]:
            ax.legend(fontsize=8)
    ax = axes[2]
    ax.plot([s["rate"] for s in steps], [s["goodput_rps"] for s in steps], "-o", color="#aa3377", label="goodput")
    ax.plot([s["rate"] for s in steps], xs, "--", color="#888888", label="achieved")
    ax.set_xlabel("asked requests/s")
    ax.set_ylabel("requests/s")
    ax.set_title("goodput (requests meeting every SLO) per second")
    ax.legend(fontsize=8)
    best = summary.get("max_rate")
    knee = next((s for s in steps if s["rate"] == best), None)
    if knee is not None:
        for a, x in ((axes[0], knee["achieved_rps"]), (axes[1], knee["achieved_rps"]), (axes[2], best)):
            a.axvline(x, color="black", linestyle="-.", linewidth=1)
            a.annotate(f"max {best:g}/s", (x, 0.98), xycoords=("data", "axes fraction"), fontsize=8,
                       rotation=90, va="top", ha="right")
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return path


def _cell(v: Any) -> str:
    if v is None:
        return "-"
    if isinstance(v, float):
        return f"{v:.1f}"
    return html.escape(str(v))


def report_html(summary: dict[str, Any], png: Path | None, path: Path) -> Path:
    best = summary.get("max_rate")
    verdict = (f"every SLO holds up to <b>{best:g} requests/s</b>" if best is not None
               else "<b>no rate tried met every SLO</b>")
    rows = []
    for s in sorted(summary["steps"], key=lambda s: s["rate"]):
        m = s["metrics"]
        failed = [g["name"] for g in s["slo"] if not g["passed"]] + ([] if s["schedule_held"] else ["schedule"])
        rows.append("<tr class='{}'>".format("ok" if s["passed"] else "bad") + "".join(
            f"<td>{_cell(v)}</td>" for v in (
                s["rate"], s["achieved_rps"], s["completed_rps"], s["goodput_rps"], s["requests"], s["errors"],
                m["ttft_ms"]["p50"], m["ttft_ms"]["p95"], m["ttft_ms"]["p99"], m["itl_ms"]["p50"], m["itl_ms"]["p95"],
                m["itl_ms"]["p99"], m["e2e_ms"]["p95"], "held" if s["passed"] else "failed: " + ", ".join(failed)))
            + f"<td><a href='steps/{html.escape(Path(s['report_dir']).name)}/summary.json'>summary</a></td></tr>")
    img = ""
    if png is not None and png.exists():
        img = (f"<img alt='throughput-latency curve' style='max-width:100%' "
               f"src='data:image/png;base64,{base64.b64encode(png.read_bytes()).decode()}'>")
    head = ("rate asked", "achieved/s", "completed/s", "goodput/s", "requests", "errors", "TTFT p50", "TTFT p95",
            "TTFT p99", "ITL p50", "ITL p95", "ITL p99", "E2E p95", "verdict", "step")
    doc = f"""<!doctype html><html><head><meta charset="utf-8"><title>topapi load: capacity</title>
<style>body{{font-family:sans-serif;margin:2em}} table{{border-collapse:collapse}}
td,th{{border:1px solid #ccc;padding:3px 8px;text-align:right}} tr.bad td{{background:#fde8e8}}
tr.ok td{{background:#e8f6e8}}</style></head><body>
<h1>Capacity of {html.escape(summary.get('target', ''))}: {html.escape(summary.get('scenario', ''))}</h1>
<p>{verdict} (SLOs: <code>{html.escape(summary.get('slo_given') or '-')}</code>; search: {html.escape(summary['search'])};
a step holds when every gate passes and at least 95% of the offered requests left on schedule).
Times in ms; goodput counts requests per second that met every per-request SLO.</p>
{img}
<table><tr>{''.join(f'<th>{h}</th>' for h in head)}</tr>
{''.join(rows)}</table></body></html>
"""
    path.write_text(doc)
    return path
