"""A live one-line view of a run on the master (or the only process): requests, errors, latency, shares."""

from __future__ import annotations

import sys
import time
from typing import Any

import gevent
import psutil

from .rates import LATE_MS
from .samples import percentile

WINDOW_S = 5.0  # latency percentiles over the last few seconds: what is happening now
# Measured (load/capacity.py, docs/LOAD.md): past about half a core, a Locust process's own
# timing error starts to grow well before Locust's 90% CPU warning.
BUSY_CPU_PCT = 50.0


def generator_cpu(runner: Any, me: psutil.Process) -> float:
    """CPU % of the busiest process that runs users: this one (since the last call), or the
    busiest worker (as its last heartbeat said)."""
    workers = getattr(runner, "clients", None)
    if workers is not None:
        return max((w.cpu_usage for w in workers.values()), default=0.0)
    return me.cpu_percent()


def line(run: Any, now: float, me: psutil.Process) -> str:
    samples = run.recorder.samples
    elapsed = now - run.t0
    n = len(samples)
    errors = sum(not s.ok for s in samples)
    parts = [f"[{elapsed:6.1f}s]", f"users {run.environment.runner.user_count}", f"req {n}",
             f"rps {n / elapsed if elapsed > 0 else 0:7.1f}", f"err {100 * errors / n if n else 0:.2f}%"]
    if run.opts.rate:  # open loop: is the schedule kept, and how long is the queue
        recent_arrivals = [(a, b) for a, b in run.recorder.arrivals[-5000:] if b is not None and b >= now - WINDOW_S]
        late = sum(b - a >= LATE_MS / 1000 for a, b in recent_arrivals)
        parts.append(f"asked {run.opts.rate:g}/s sent {len(recent_arrivals) / min(WINDOW_S, max(elapsed, 1e-9)):.1f}/s"
                     + (f" late {late}" if late else ""))
    recent = [s for s in samples[-5000:] if s.ok and s.t >= now - WINDOW_S]
    for metric in ("ttft", "itl", "e2e"):
        vals = sorted(v for s in recent if (v := getattr(s, metric)) is not None)
        if vals:
            parts.append(f"{metric} p50 {percentile(vals, 50):.1f} p95 {percentile(vals, 95):.1f}ms")
    cpu = generator_cpu(run.environment.runner, me)
    parts.append(f"cpu {cpu:.0f}%" + (" BUSY: timings run late, add --processes" if cpu > BUSY_CPU_PCT else ""))
    if run.watch is not None:
        shares = run.watch.shares()
        if shares:
            parts.append("nodes " + " ".join(f"{k} {100 * v:.1f}%" for k, v in sorted(shares.items())))
    return "  ".join(parts)


def show(run: Any, interval_s: float = 1.0) -> None:
    """Greenlet body: redraw the line in place on a terminal, one line every 5 s otherwise."""
    tty = sys.stderr.isatty()
    every = 1 if tty else max(1, round(5.0 / interval_s))
    me = psutil.Process()
    me.cpu_percent()
    while True:
        gevent.sleep(interval_s * every)
        text = line(run, time.time(), me)
        sys.stderr.write(f"\r\x1b[2K{text}" if tty else text + "\n")
        sys.stderr.flush()
