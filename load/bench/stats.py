"""Percentiles from raw samples (MEASURE.md: never from buckets)."""

from __future__ import annotations

import math
from collections.abc import Sequence


def pct(values: Sequence[float], p: float) -> float:
    """The p-th percentile, linear between closest ranks; NaN for no samples."""
    s = sorted(values)
    if not s:
        return math.nan
    k = (len(s) - 1) * p / 100
    lo = int(k)
    hi = min(lo + 1, len(s) - 1)
    return s[lo] + (s[hi] - s[lo]) * (k - lo)


def summary(values: Sequence[float]) -> dict[str, float]:
    return {"p50": pct(values, 50), "p90": pct(values, 90), "p99": pct(values, 99),
            "max": max(values) if values else math.nan, "count": len(values)}


def median(values: Sequence[float]) -> float:
    return pct(values, 50)
