"""What the processes cost while they are measured: RSS sampled in a thread, CPU per phase.

`RssSampler` reads each watched process's resident set (with its children) every `interval`
seconds and keeps the peak and the time series. `CpuWindow` takes CPU counters before and
after a phase and says how busy each core was, how much of one core the target used, and
how much CPU of the cores the phase uses went to processes that are not ours (the machine
is shared: other sessions may be running tests, and that shows up here instead of silently
in the numbers).
"""

from __future__ import annotations

import contextlib
import os
import resource
import threading
import time
from dataclasses import dataclass, field
from typing import Any

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
    """`with CpuWindow(target_pid, placement, relevant) as w: ...` then `w.result()`.

    `placement` maps each core to the pids of ours pinned there (None: nothing is pinned); this
    process and its reaped children (wrk, py-spy, the stream client) count on `self_core`.
    Other sessions' processes float to whichever core is idle, so "others" is counted per core
    and summed over the cores the run uses (`relevant`): direct to the mock uses the load core only.
    """

    def __init__(self, target_pid: int | None, placement: dict[int | None, list[int]], self_core: int | None,
                 relevant: list[int] | None = None) -> None:
        self.target_pid = target_pid
        self.placement = placement
        self.self_core = self_core
        self.relevant = relevant

    def _snapshot(self) -> tuple[float, list, float, dict[int | None, float]]:
        me = resource.getrusage(resource.RUSAGE_SELF)
        kids = resource.getrusage(resource.RUSAGE_CHILDREN)  # wrk, py-spy, the stream client once reaped
        ours = {core: sum(cpu_seconds(p) for p in pids) for core, pids in self.placement.items()}
        ours[self.self_core] = ours.get(self.self_core, 0.0) + (me.ru_utime + me.ru_stime + kids.ru_utime
                                                                + kids.ru_stime)
        return time.monotonic(), psutil.cpu_times(percpu=True), cpu_seconds(self.target_pid) if self.target_pid else 0.0, ours

    def __enter__(self) -> CpuWindow:
        self.before = self._snapshot()
        return self

    def __exit__(self, *exc: object) -> None:
        self.after = self._snapshot()

    def result(self) -> dict[str, Any]:
        (t0, cores0, tgt0, ours0), (t1, cores1, tgt1, ours1) = self.before, self.after
        wall = max(t1 - t0, 1e-9)
        busy = []
        for a, b in zip(cores0, cores1, strict=True):
            idle = (b.idle - a.idle) + (getattr(b, "iowait", 0) - getattr(a, "iowait", 0))
            total = sum(b) - sum(a)
            busy.append(max(0.0, 1 - idle / total) if total > 0 else 0.0)
        used = {core: ours1[core] - ours0.get(core, 0.0) for core in ours1}
        if None in used or any(c is not None and c >= len(busy) for c in used):  # not pinned: the whole machine
            others = [max(0.0, sum(busy) * wall - sum(used.values())) / wall]
            relevant_others = others[0]
        else:
            others = [max(0.0, b * wall - used.get(i, 0.0)) / wall for i, b in enumerate(busy)]
            cores = self.relevant if self.relevant is not None else range(len(busy))
            relevant_others = sum(others[i] for i in cores)
        return {"core_busy": [round(b, 3) for b in busy], "target_cpu": round((tgt1 - tgt0) / wall, 3),
                "others_by_core": [round(o, 3) for o in others], "others_cores": round(relevant_others, 3)}


def loadavg() -> float:
    with contextlib.suppress(OSError):
        return os.getloadavg()[0]
    return 0.0
