"""A live one-line view of a run on the master (or the only process): requests, errors, latency, shares."""

from __future__ import annotations

import sys
import time
from typing import Any

import gevent

from .samples import percentile

WINDOW_S = 5.0  # latency percentiles over the last few seconds: what is happening now


def line(run: Any, now: float) -> str:
    samples = run.recorder.samples
    elapsed = now - run.t0
    n = len(samples)
    errors = sum(not s.ok for s in samples)
    parts = [f"[{elapsed:6.1f}s]", f"users {run.environment.runner.user_count}", f"req {n}",
             f"rps {n / elapsed if elapsed > 0 else 0:7.1f}", f"err {100 * errors / n if n else 0:.2f}%"]
    recent = [s for s in samples[-5000:] if s.ok and s.t >= now - WINDOW_S]
    for metric in ("ttft", "itl", "e2e"):
        vals = sorted(v for s in recent if (v := getattr(s, metric)) is not None)
        if vals:
            parts.append(f"{metric} p50 {percentile(vals, 50):.1f} p95 {percentile(vals, 95):.1f}ms")
    if run.watch is not None:
        shares = run.watch.shares()
        if shares:
            parts.append("nodes " + " ".join(f"{k} {100 * v:.1f}%" for k, v in sorted(shares.items())))
    return "  ".join(parts)


def show(run: Any, interval_s: float = 1.0) -> None:
    """Greenlet body: redraw the line in place on a terminal, one line every 5 s otherwise."""
    tty = sys.stderr.isatty()
    every = 1 if tty else max(1, round(5.0 / interval_s))
    k = 0
    while True:
        gevent.sleep(interval_s)
        k += 1
        if k % every:
            continue
        text = line(run, time.time())
        sys.stderr.write(f"\r\x1b[2K{text}" if tty else text + "\n")
        sys.stderr.flush()
