"""What the processes cost while they are measured: RSS sampled in a thread, CPU per phase.

`RssSampler` reads each watched process's resident set (with its children) every `interval`
seconds and keeps the peak and the time series. `CpuWindow` takes CPU counters before and
after a phase and says how busy each core was, how much of one core the target used, and
how much CPU went to processes that are not ours (the machine is shared: other sessions
may be running tests, and that shows up here instead of silently in the numbers).
"""

from __future__ import annotations

import contextlib
import os
import resource
import threading
import time
from dataclasses import dataclass, field

import psutil


def rss_of(pid: int) -> int:
    """Bytes resident for `pid` and its children (0 once it is gone)."""
    try:
        proc = psutil.Process(pid)
        total = proc.memory_info().rss
        for child in proc.children(recursive=True):
            with contextlib.suppress(psutil.Error):
                total += child.memory_info().rss
        return total
    except psutil.Error:
        return 0


def cpu_seconds(pid: int) -> float:
    try:
        proc = psutil.Process(pid)
        t = proc.cpu_times()
        total = t.user + t.system
        for child in proc.children(recursive=True):
            with contextlib.suppress(psutil.Error):
                c = child.cpu_times()
                total += c.user + c.system
        return total
    except psutil.Error:
        return 0.0


@dataclass
class Series:
    started: float
    points: list[tuple[float, int]] = field(default_factory=list)  # (seconds since start, rss bytes)
    peak: int = 0


class RssSampler:
    def __init__(self, interval_s: float = 0.1) -> None:
        self.interval = interval_s
        self.series: dict[int, Series] = {}
        self._stop = threading.Event()
        self._lock = threading.Lock()
        self._thread = threading.Thread(target=self._run, name="rss-sampler", daemon=True)

    def watch(self, pid: int) -> None:
        with self._lock:
            self.series.setdefault(pid, Series(time.monotonic()))

    def peak_mb(self, pid: int) -> float:
        s = self.series.get(pid)
        return s.peak / 2**20 if s else 0.0

    def points(self, pid: int, since: float | None = None) -> list[tuple[float, float]]:
        """(monotonic time, MB) samples of `pid`, optionally from `since` on."""
        s = self.series.get(pid)
        if s is None:
            return []
        with self._lock:
            pts = list(s.points)
        return [(s.started + t, rss / 2**20) for t, rss in pts if since is None or s.started + t >= since]

    def start(self) -> RssSampler:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(5)

    def _run(self) -> None:
        while not self._stop.wait(self.interval):
            with self._lock:
                watched = list(self.series.items())
            for pid, s in watched:
                rss = rss_of(pid)
                if rss:
                    with self._lock:
                        s.points.append((time.monotonic() - s.started, rss))
                        s.peak = max(s.peak, rss)


class CpuWindow:
    """`with CpuWindow(target_pid, our_pids) as w: ...` then `w.result()`."""

    def __init__(self, target_pid: int, our_pids: list[int]) -> None:
        self.target_pid = target_pid
        self.our_pids = our_pids

    def _snapshot(self) -> tuple[float, list, float, float, float]:
        me = resource.getrusage(resource.RUSAGE_SELF)
        kids = resource.getrusage(resource.RUSAGE_CHILDREN)  # wrk, py-spy, the stream client once reaped
        ours = sum(cpu_seconds(p) for p in self.our_pids)
        return (time.monotonic(), psutil.cpu_times(percpu=True), cpu_seconds(self.target_pid), ours,
                me.ru_utime + me.ru_stime + kids.ru_utime + kids.ru_stime)

    def __enter__(self) -> CpuWindow:
        self.before = self._snapshot()
        return self

    def __exit__(self, *exc: object) -> None:
        self.after = self._snapshot()

    def result(self) -> dict[str, float]:
        (t0, cores0, tgt0, ours0, self0), (t1, cores1, tgt1, ours1, self1) = self.before, self.after
        wall = max(t1 - t0, 1e-9)
        busy = []
        for a, b in zip(cores0, cores1, strict=True):
            idle = (b.idle - a.idle) + (getattr(b, "iowait", 0) - getattr(a, "iowait", 0))
            total = sum(b) - sum(a)
            busy.append(max(0.0, 1 - idle / total) if total > 0 else 0.0)
        used_all = sum(busy) * wall  # core-seconds used on the machine
        ours = (ours1 - ours0) + (self1 - self0)
        return {"core_busy": [round(b, 3) for b in busy], "target_cpu": round((tgt1 - tgt0) / wall, 3),
                "others_cores": round(max(0.0, used_all - ours) / wall, 3)}


def loadavg() -> float:
    with contextlib.suppress(OSError):
        return os.getloadavg()[0]
    return 0.0
