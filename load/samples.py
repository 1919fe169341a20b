"""One record per logical request, and percentiles computed from the raw values.

A `Sample` is what a Locust user records when a request ends; workers ship them to the
master as plain lists (msgpack-friendly), so every percentile in a report comes from the
raw values of every process, never from Locust's 10 ms response-time buckets.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import astuple, dataclass, fields

METRICS = ("ttfb", "ttft", "itl", "stall", "e2e")  # milliseconds; MEASURE.md names
PERCENTILES = (50, 90, 95, 99)


@dataclass(slots=True)
class Sample:
    t: float  # wall-clock time the request was sent (epoch seconds)
    name: str  # what was called, e.g. "chat-stream"
    ok: bool
    ttfb: float | None = None  # request sent -> response headers
    ttft: float | None = None  # request sent -> first event that carries output
    itl: float | None = None  # (t_last_token - t_first_token) / (N - 1), N from the stream's usage
    stall: float | None = None  # largest gap between two output events
    e2e: float | None = None  # request sent -> answer complete
    tokens: int | None = None  # output tokens, from the answer's usage
    error: str | None = None
    delay: float | None = None  # open loop: ms from the request's scheduled time to when it was sent
    asked: int | None = None  # output tokens the request asked for (max_tokens), when it asked

    def row(self) -> list:
        return list(astuple(self))

    @classmethod
    def from_row(cls, row: Sequence) -> Sample:
        return cls(*row)


FIELD_NAMES = tuple(f.name for f in fields(Sample))


def percentile(ordered: Sequence[float], p: float) -> float:
    """Linear interpolation between closest ranks (numpy's default) over sorted values."""
    if not ordered:
        raise ValueError("no values")
    k = (len(ordered) - 1) * p / 100.0
    lo, hi = math.floor(k), math.ceil(k)
    if lo == hi:
        return float(ordered[lo])
    return ordered[lo] + (ordered[hi] - ordered[lo]) * (k - lo)


def distribution(values: Iterable[float]) -> dict[str, float | int | None]:
    """{"p50", "p90", "p95", "p99", "max", "count"} as summary.json gives it (None when empty)."""
    ordered = sorted(values)
    out: dict[str, float | int | None] = {}
    for p in PERCENTILES:
        out[f"p{p}"] = round(percentile(ordered, p), 3) if ordered else None
    out["max"] = round(ordered[-1], 3) if ordered else None
    out["count"] = len(ordered)
    return out


def values(samples: Iterable[Sample], metric: str, *, ok_only: bool = True) -> list[float]:
    return [v for s in samples if (s.ok or not ok_only) and (v := getattr(s, metric)) is not None]
