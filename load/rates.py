"""Offered against achieved: what an open-loop run reports about its own schedule.

- offered: arrivals that fell due in the measured window, per second (the schedule);
- achieved: requests that left in the window, per second, from their send stamps;
- completed: requests that ended in the window, per second;
- late: requests that left `LATE_MS` or more after their scheduled time (the queue of
  `--max-concurrency`, or a load generator that could not keep up), and `unsent`: arrivals
  still waiting when the run ended;
- the queue over time: waiting (due, not sent) and in flight (sent, not ended), per second.
"""

from __future__ import annotations

import bisect
from typing import Any

from .samples import Sample, distribution

LATE_MS = 10.0  # a request that left this much after its time did not leave on time


def ended(s: Sample) -> float:
    """When a request was over, as seen by the client (epoch s)."""
    last = s.e2e if s.e2e is not None else (s.ttfb or 0.0)
    return s.t + last / 1000.0


def open_loop(samples: list[Sample], arrivals: list[tuple[float, float | None]], start: float, end: float, *,
              rate: float, pattern: str, burstiness: float, max_concurrency: int) -> dict[str, Any]:
    """`arrivals`: (scheduled, sent or None) of every arrival; `samples`: the requests that ended."""
    all_due = sorted(a for a, _ in arrivals)
    if all_due:  # the schedule starts after the users' start-up: measure from its first arrival
        start = max(start, all_due[0])
    window = max(end - start, 1e-9)
    all_sent = sorted(b for _, b in arrivals if b is not None)
    all_done = sorted(ended(s) for s in samples)
    due = [a for a in all_due if start <= a < end]
    sent = [b for b in all_sent if start <= b < end]
    done = [d for d in all_done if start <= d < end]
    delays = [(b - a) * 1000.0 for a, b in arrivals if b is not None and start <= b < end]
    series = []
    t = start
    while t < end - 1e-9:  # one point a second: rates in [t, t + 1), queue at t + 1
        t1 = min(t + 1.0, end)

        def count(stamps: list[float], a: float = t, b: float = t1) -> int:
            return bisect.bisect_left(stamps, b) - bisect.bisect_left(stamps, a)

        sent_by = bisect.bisect_right(all_sent, t1)
        series.append({"t": round(t1 - start, 3), "offered_rps": round(count(all_due) / (t1 - t), 3),
                       "achieved_rps": round(count(all_sent) / (t1 - t), 3),
                       "completed_rps": round(count(all_done) / (t1 - t), 3),
                       "waiting": max(bisect.bisect_right(all_due, t1) - sent_by, 0),
                       "in_flight": max(sent_by - bisect.bisect_right(all_done, t1), 0)})
        t = t1
    unsent = sum(b is None or b >= end for a, b in arrivals if a < end)
    return {
        "rate": rate, "arrival": pattern, "burstiness": burstiness, "max_concurrency": max_concurrency or None,
        "offered_rps": round(len(due) / window, 3),
        "achieved_rps": round(len(sent) / window, 3),
        "completed_rps": round(len(done) / window, 3),
        "late": sum(d >= LATE_MS for d in delays), "late_ms": LATE_MS, "unsent": unsent,
        "delay_ms": distribution(delays),
        "queue": {"waiting_max": max((p["waiting"] for p in series), default=0),
                  "waiting_end": unsent,
                  "in_flight_max": max((p["in_flight"] for p in series), default=0),
                  "series": series},
    }


def interarrival_cv(stamps: list[float]) -> float | None:
    """Coefficient of variation of the gaps between sorted send stamps (1 for Poisson, 0 for constant)."""
    s = sorted(stamps)
    gaps = [b - a for a, b in zip(s, s[1:], strict=False)]
    if len(gaps) < 2:
        return None
    mean = sum(gaps) / len(gaps)
    var = sum((g - mean) ** 2 for g in gaps) / (len(gaps) - 1)
    return var ** 0.5 / mean if mean > 0 else None
