"""summary.json (WIRE.md "CLI contract") from the raw samples of every process.

The keys WIRE.md lists are always there, in that shape. Added alongside them: `stall_ms` in
`metrics`, `goodput_rps` (requests per second that met every per-request latency gate and did
not fail), `endpoints` (the same numbers per call), and the scenario's own findings under
`nodes` (routing, failover), `failover` and `fidelity`.
"""

from __future__ import annotations

import csv
import json
from pathlib import Path
from typing import Any

from . import slo as slos_mod
from .samples import FIELD_NAMES, METRICS, Sample, distribution, values


def metrics(samples: list[Sample], duration_s: float) -> dict[str, Any]:
    out: dict[str, Any] = {f"{m}_ms": distribution(values(samples, m)) for m in METRICS}
    tokens = sum(s.tokens or 0 for s in samples if s.ok)
    out["output_tokens_per_s"] = round(tokens / duration_s, 3) if duration_s > 0 else None
    return out


def good(sample: Sample, limits: dict[str, float]) -> bool:
    if not sample.ok:
        return False
    for metric, limit in limits.items():
        v = getattr(sample, metric)
        if v is not None and v > limit:
            return False
    return True


def build(*, scenario: str, target: str, duration_s: float, users: int, samples: list[Sample],
          slos: list[slos_mod.Slo], extra: dict[str, Any] | None = None) -> dict[str, Any]:
    duration_s = max(duration_s, 1e-9)
    errors = sum(not s.ok for s in samples)
    limits = slos_mod.request_limits(slos)
    summary: dict[str, Any] = {
        "scenario": scenario, "target": target, "duration_s": round(duration_s, 3), "users": users,
        "requests": len(samples), "errors": errors, "rps": round(len(samples) / duration_s, 3),
        "metrics": metrics(samples, duration_s),
    }
    summary["goodput_rps"] = round(sum(good(s, limits) for s in samples) / duration_s, 3)
    asked = [s for s in samples if s.ok and s.asked is not None]
    if asked:
        summary["tokens"] = requested_vs_received(asked)
    by_name: dict[str, list[Sample]] = {}
    for s in samples:
        by_name.setdefault(s.name, []).append(s)
    summary["endpoints"] = {
        name: {"requests": len(ss), "errors": sum(not s.ok for s in ss), "rps": round(len(ss) / duration_s, 3),
               "metrics": metrics(ss, duration_s), "first_errors": _first_errors(ss)}
        for name, ss in sorted(by_name.items())
    }
    summary.update(extra or {})
    summary["slo"] = slos_mod.evaluate(slos, summary)
    summary["passed"] = all(g["passed"] for g in summary["slo"])
    return summary


def requested_vs_received(samples: list[Sample]) -> dict[str, Any]:
    """Output tokens asked (max_tokens) against received (the answer's usage), over successful requests."""
    requested = sum(s.asked or 0 for s in samples)
    received = sum(s.tokens or 0 for s in samples)
    return {"requests": len(samples), "requested": requested, "received": received,
            "received_share": round(received / requested, 4) if requested else None,
            "short": sum((s.tokens or 0) < (s.asked or 0) for s in samples),
            "over": sum((s.tokens or 0) > (s.asked or 0) for s in samples),
            "requested_per_request": distribution(float(s.asked or 0) for s in samples),
            "received_per_request": distribution(float(s.tokens or 0) for s in samples)}


def _first_errors(samples: list[Sample], limit: int = 5) -> dict[str, int]:
    """The most frequent error messages (a run with errors should say which)."""
    counts: dict[str, int] = {}
    for s in samples:
        if not s.ok and s.error:
            counts[s.error] = counts.get(s.error, 0) + 1
    return dict(sorted(counts.items(), key=lambda kv: -kv[1])[:limit])


def fidelity(samples: list[Sample], ttft_ms: float, itl_ms: float) -> dict[str, Any]:
    """What the gateway adds to the mock's configured TTFT and ITL, per request."""
    streamed = [s for s in samples if s.ok and s.ttft is not None]
    return {
        "configured": {"ttft_ms": ttft_ms, "itl_ms": itl_ms},
        "ttft_added_ms": distribution(s.ttft - ttft_ms for s in streamed),
        "itl_added_ms": distribution(s.itl - itl_ms for s in streamed if s.itl is not None),
    }


def write(summary: dict[str, Any], path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(summary, indent=2, ensure_ascii=False) + "\n")


def write_samples(samples: list[Sample], path: Path) -> None:
    """Every raw sample, one CSV row each, for analyses the summary does not make."""
    with path.open("w", newline="") as f:
        w = csv.writer(f)
        w.writerow(FIELD_NAMES)
        w.writerows(s.row() for s in sorted(samples, key=lambda s: s.t))
