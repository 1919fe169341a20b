"""PNG plots for the report directory: TTFT/ITL distributions, latency over time, node shares over time."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")  # files only, never a window
import matplotlib.pyplot as plt  # noqa: E402

from .samples import Sample, percentile, values  # noqa: E402


def _mark_percentiles(ax: Any, data: list[float]) -> None:
    ordered = sorted(data)
    for p, style in ((50, "-"), (95, "--"), (99, ":")):
        v = percentile(ordered, p)
        ax.axvline(v, color="black", linestyle=style, linewidth=1, label=f"p{p} {v:.1f} ms")
    ax.legend(fontsize=8)


def distributions(samples: list[Sample], path: Path) -> Path | None:
    panels = [(m, values(samples, m)) for m in ("ttft", "itl", "e2e")]
    panels = [(m, d) for m, d in panels if d]
    if not panels:
        return None
    fig, axes = plt.subplots(1, len(panels), figsize=(5 * len(panels), 3.6), squeeze=False)
    for ax, (metric, data) in zip(axes[0], panels, strict=True):
        ax.hist(data, bins=min(60, max(10, len(data) // 5)), color="#4477aa")
        ax.set_title(f"{metric.upper()} ({len(data)} requests)")
        ax.set_xlabel("ms")
        _mark_percentiles(ax, data)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return path


def _bins(points: list[tuple[float, float]], width: float) -> tuple[list[float], dict[int, list[float]]]:
    by: dict[int, list[float]] = {}
    for t, v in points:
        by.setdefault(int(t // width), []).append(v)
    return [(k + 0.5) * width for k in sorted(by)], by


def over_time(samples: list[Sample], t0: float, path: Path, marks: dict[str, float | None] | None = None) -> Path | None:
    if not samples:
        return None
    span = max(s.t for s in samples) - t0
    width = max(1.0, span / 60)
    fig, (ax, ax_rate) = plt.subplots(2, 1, figsize=(10, 6), sharex=True)
    for metric, color in (("ttft", "#4477aa"), ("e2e", "#228833"), ("ttfb", "#aa3377")):
        pts = [(s.t - t0, getattr(s, metric)) for s in samples if s.ok and getattr(s, metric) is not None]
        if not pts:
            continue
        xs, by = _bins(pts, width)
        keys = sorted(by)
        for p, style in ((50, "-"), (95, "--")):
            ax.plot(xs, [percentile(sorted(by[k]), p) for k in keys], style, color=color, label=f"{metric} p{p}")
    ax.set_ylabel("ms")
    if ax.get_legend_handles_labels()[1]:  # nothing to show when every request failed
        ax.legend(fontsize=8, ncol=3)
    ax.set_title(f"latency over time ({width:g} s bins)")
    xs, by = _bins([(s.t - t0, 0.0 if s.ok else 1.0) for s in samples], width)
    keys = sorted(by)
    ax_rate.plot(xs, [len(by[k]) / width for k in keys], color="#4477aa", label="requests/s")
    ax_rate.plot(xs, [sum(by[k]) / width for k in keys], color="#cc3311", label="errors/s")
    ax_rate.set_xlabel("s since start")
    ax_rate.legend(fontsize=8)
    _marks(ax, marks)
    _marks(ax_rate, marks)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return path


def node_shares(points: list[tuple[float, dict[str, int]]], path: Path, expected: dict[str, float] | None = None,
                marks: dict[str, float | None] | None = None) -> Path | None:
    if len(points) < 2:
        return None
    nodes = sorted(points[-1][1])
    xs, shares = [], {n: [] for n in nodes}
    for (t_a, a), (t_b, b) in zip(points, points[1:], strict=False):
        total = sum(b[n] - a.get(n, 0) for n in nodes)
        if total <= 0:
            continue
        xs.append((t_a + t_b) / 2)
        for n in nodes:
            shares[n].append(100.0 * (b[n] - a.get(n, 0)) / total)
    if not xs:
        return None
    fig, ax = plt.subplots(figsize=(10, 4))
    colors = plt.rcParams["axes.prop_cycle"].by_key()["color"]
    for i, n in enumerate(nodes):
        c = colors[i % len(colors)]
        ax.plot(xs, shares[n], color=c, label=n)
        if expected and n in expected:
            ax.axhline(100 * expected[n], color=c, linestyle=":", linewidth=1)
    ax.set_ylim(-2, 102)
    ax.set_ylabel("% of requests at the mocks")
    ax.set_xlabel("s since start")
    ax.set_title("node shares over time (dotted: from the weights)")
    _marks(ax, marks)
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return path


def _marks(ax: Any, marks: dict[str, float | None] | None) -> None:
    for label, t in (marks or {}).items():
        if t is not None:
            ax.axvline(t, color="#cc3311", linestyle="--", linewidth=1)
            ax.annotate(label, (t, 1.0), xycoords=("data", "axes fraction"), fontsize=8, color="#cc3311",
                        rotation=90, va="top", ha="right")


def arrivals(open_loop: dict[str, Any], path: Path) -> Path | None:
    """Open loop: offered, achieved and completed requests/s per second, and the queue behind them."""
    series = open_loop["queue"]["series"]
    if not series:
        return None
    xs = [p["t"] for p in series]
    fig, (ax, ax_q) = plt.subplots(2, 1, figsize=(10, 6), sharex=True)
    for key, color, style in (("offered_rps", "#4477aa", "--"), ("achieved_rps", "#228833", "-"),
                              ("completed_rps", "#aa3377", ":")):
        ax.plot(xs, [p[key] for p in series], style, color=color, label=key.replace("_rps", ""))
    ax.set_ylabel("requests/s")
    ax.set_title(f"open loop: {open_loop['arrival']} arrivals at {open_loop['rate']:g}/s asked "
                 f"(offered {open_loop['offered_rps']:g}, achieved {open_loop['achieved_rps']:g})")
    ax.legend(fontsize=8)
    ax_q.plot(xs, [p["waiting"] for p in series], color="#cc3311", label="waiting to be sent (late)")
    ax_q.plot(xs, [p["in_flight"] for p in series], color="#4477aa", label="in flight")
    ax_q.set_ylabel("requests")
    ax_q.set_xlabel("s since start")
    ax_q.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return path
