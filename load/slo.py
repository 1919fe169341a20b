"""SLO gates: `--slo ttft_p95=300ms,itl_p95=40ms,error_rate=0.01,...` parsed and checked on a summary.

Names (limits are maxima unless marked min):
- `<metric>_<stat>`: metric ttfb|ttft|itl|stall|e2e, stat p50|p90|p95|p99|max; ms (or `s`)
- `error_rate` (0.01 or 1%); `requests`, `rps`, `goodput_rps`, `output_tokens_per_s` (min)
- routing: `share_error_pp` (largest |share - weight share| in percentage points)
- failover: `route_around_s`, `recover_s` (s, or `ms`), `failing_share` (fraction)
- fidelity: `ttft_added_<stat>`, `itl_added_<stat>` (ms)
A gate whose value could not be measured (no samples, node never recovered) fails.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from .samples import METRICS, PERCENTILES

STATS = tuple(f"p{p}" for p in PERCENTILES) + ("max",)


@dataclass(frozen=True)
class Slo:
    name: str
    limit: float  # in the gate's base unit: ms, s, a fraction, a count or a rate
    minimum: bool = False  # True: the value must be at least the limit

    def holds(self, value: float | None) -> bool:
        if value is None:
            return False
        return value >= self.limit if self.minimum else value <= self.limit


Getter = Callable[[dict[str, Any]], Any]


def _path(*keys: str) -> Getter:
    def get(summary: dict[str, Any]) -> Any:
        cur: Any = summary
        for k in keys:
            if not isinstance(cur, dict):
                return None
            cur = cur.get(k)
        return cur
    return get


def _error_rate(s: dict[str, Any]) -> float | None:
    return s["errors"] / s["requests"] if s.get("requests") else None


# name -> (unit, minimum, getter); unit: "ms" | "s" | "ratio" | "number"
GATES: dict[str, tuple[str, bool, Getter]] = {
    "error_rate": ("ratio", False, _error_rate),
    "requests": ("number", True, _path("requests")),
    "rps": ("number", True, _path("rps")),
    "goodput_rps": ("number", True, _path("goodput_rps")),
    "output_tokens_per_s": ("number", True, _path("metrics", "output_tokens_per_s")),
    "share_error_pp": ("number", False, _path("nodes", "max_error_pp")),
    "route_around_s": ("s", False, _path("failover", "route_around_s")),
    "recover_s": ("s", False, _path("failover", "recover_s")),
    "failing_share": ("ratio", False, _path("failover", "share_while_failing")),
}
for _m in METRICS:
    for _st in STATS:
        GATES[f"{_m}_{_st}"] = ("ms", False, _path("metrics", f"{_m}_ms", _st))
for _m in ("ttft", "itl"):
    for _st in STATS:
        GATES[f"{_m}_added_{_st}"] = ("ms", False, _path("fidelity", f"{_m}_added_ms", _st))

# latency gates that apply to a single request: they decide goodput
PER_REQUEST = {f"{m}_{st}": m for m in METRICS for st in STATS}

_VALUE = re.compile(r"^\s*(-?[0-9]*\.?[0-9]+(?:e-?[0-9]+)?)\s*(ms|s|%)?\s*$", re.I)


def _limit(name: str, raw: str) -> float:
    unit = GATES[name][0]
    m = _VALUE.match(raw)
    if not m:
        raise ValueError(f"SLO {name}: {raw!r} is not a number")
    value, suffix = float(m.group(1)), (m.group(2) or "").lower()
    if suffix == "%":
        if unit != "ratio":
            raise ValueError(f"SLO {name}: % only applies to rates")
        return value / 100.0
    if suffix in ("ms", "s"):
        if unit not in ("ms", "s"):
            raise ValueError(f"SLO {name}: {suffix} only applies to times")
        seconds = value / 1000.0 if suffix == "ms" else value
        return seconds * 1000.0 if unit == "ms" else seconds
    return value


def parse(spec: str | None) -> list[Slo]:
    out: dict[str, Slo] = {}
    for part in (spec or "").split(","):
        if not part.strip():
            continue
        name, sep, raw = part.partition("=")
        name = name.strip().lower()
        if not sep:
            raise ValueError(f"SLO {part.strip()!r}: want NAME=LIMIT")
        if name not in GATES:
            raise ValueError(f"unknown SLO {name!r}; known: {', '.join(sorted(GATES))}")
        out[name] = Slo(name, _limit(name, raw), GATES[name][1])
    return list(out.values())


def merge(defaults: list[Slo], given: list[Slo]) -> list[Slo]:
    """The scenario's defaults, with the ones named again on the command line replaced."""
    named = {s.name for s in given}
    return [s for s in defaults if s.name not in named] + given


def evaluate(slos: list[Slo], summary: dict[str, Any]) -> list[dict[str, Any]]:
    out = []
    for s in slos:
        value = GATES[s.name][2](summary)
        out.append({"name": s.name, "limit": s.limit, "value": None if value is None else round(value, 6),
                    "passed": s.holds(value)})
    return out


def request_limits(slos: list[Slo]) -> dict[str, float]:
    """metric -> tightest per-request limit (ms), from the latency gates: what goodput checks."""
    out: dict[str, float] = {}
    for s in slos:
        metric = PER_REQUEST.get(s.name)
        if metric is not None:
            out[metric] = min(out.get(metric, s.limit), s.limit)
    return out
