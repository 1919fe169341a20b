"""Capacity under SLOs: `topapi load --find-max` and `--sweep 5,10,20,40`.

Each step is one open-loop run at a fixed rate (a Locust run of its own, `-t --step-time`,
its full report in `DIR/steps/rate-R/`). A step holds when every SLO gate passes and the
schedule was kept (achieved >= 95% of offered: a load generator that cannot send what its
schedule asks measures itself). `--find-max` starts at `--start-rate`, doubles until a step
fails, then bisects between the highest rate that held and the lowest that failed until they
are within `--precision` of each other; `max_rate` is the highest rate that held.
Goodput at each step is DistServe's: requests per second that met every per-request SLO.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

HELD_SHARE = 0.95  # achieved / asked below this: the schedule was not kept

StepRunner = Callable[[float, Path], dict[str, Any] | None]  # rate, report dir -> summary.json (None: no run)


@dataclass(frozen=True)
class Plan:
    start_rate: float = 1.0
    precision: float = 0.05  # stop bisecting when (failed - held) / failed is at most this
    max_steps: int = 12
    sweep: tuple[float, ...] = ()


def parse_sweep(text: str) -> tuple[float, ...]:
    try:
        rates = tuple(float(x) for x in text.split(",") if x.strip())
    except ValueError:
        raise ValueError(f"--sweep: {text!r} is not a list of rates (e.g. 5,10,20,40)") from None
    if not rates or any(r <= 0 for r in rates):
        raise ValueError("--sweep: give one or more rates above 0, e.g. 5,10,20,40")
    return tuple(sorted(set(rates)))


def step_record(rate: float, summary: dict[str, Any], report: Path) -> dict[str, Any]:
    achieved = summary.get("achieved_rps") or 0.0
    offered = summary.get("offered_rps") or rate  # Poisson: what the schedule drew, not the mean asked
    held_rate = achieved >= HELD_SHARE * offered
    m = summary["metrics"]
    return {
        "rate": rate, "offered_rps": summary.get("offered_rps"), "achieved_rps": achieved,
        "completed_rps": summary["rps"], "goodput_rps": summary.get("goodput_rps"),
        "requests": summary["requests"], "errors": summary["errors"],
        "metrics": {k: m[k] for k in ("ttft_ms", "itl_ms", "e2e_ms", "ttfb_ms")},
        "late": summary.get("arrivals", {}).get("late"), "schedule_held": held_rate,
        "slo": summary["slo"], "passed": bool(summary["passed"]) and held_rate,
        "report_dir": str(report),
    }


def _rate_dir(root: Path, rate: float) -> Path:
    return root / "steps" / f"rate-{rate:g}"


def search(plan: Plan, run_step: StepRunner, root: Path, say: Callable[[str], None] = print) -> list[dict[str, Any]]:
    steps: list[dict[str, Any]] = []

    def step(rate: float) -> bool | None:
        rate = round(rate, 3)
        report = _rate_dir(root, rate)
        summary = run_step(rate, report)
        if summary is None:
            return None
        rec = step_record(rate, summary, report)
        steps.append(rec)
        failed = [g["name"] for g in rec["slo"] if not g["passed"]] + ([] if rec["schedule_held"] else ["schedule"])
        say(f"step {len(steps)}: rate {rate:g}/s -> achieved {rec['achieved_rps']:.1f}/s, goodput "
            f"{rec['goodput_rps']:.1f}/s, TTFT p95 {_fmt(rec['metrics']['ttft_ms']['p95'])}, ITL p95 "
            f"{_fmt(rec['metrics']['itl_ms']['p95'])}: {'held' if rec['passed'] else 'FAILED ' + ','.join(failed)}")
        return rec["passed"]

    if plan.sweep:
        for rate in plan.sweep:
            if step(rate) is None:
                break
        return steps
    held: float | None = None
    failed: float | None = None
    rate = plan.start_rate
    while len(steps) < plan.max_steps:
        ok = step(rate)
        if ok is None:
            break
        if ok:
            held = rate
        else:
            failed = rate
        if failed is None:
            rate = rate * 2
        elif held is None:
            if rate / 2 < plan.start_rate / 64:
                break  # nothing holds even at a trickle
            rate = rate / 2
        else:
            if (failed - held) / failed <= plan.precision:
                break
            rate = (held + failed) / 2
    return steps


def max_rate(steps: list[dict[str, Any]]) -> float | None:
    """The highest rate that held, below the lowest that failed (a later pass above a failure is noise)."""
    failed = min((s["rate"] for s in steps if not s["passed"]), default=float("inf"))
    held = [s["rate"] for s in steps if s["passed"] and s["rate"] < failed]
    return max(held) if held else None


def summary(kind: str, steps: list[dict[str, Any]], slo_text: str) -> dict[str, Any]:
    """The search's summary.json: WIRE.md's keys from the step at max_rate (else the lowest step),
    plus `search`, `steps` and `max_rate`."""
    best = max_rate(steps)
    chosen = next((s for s in steps if s["rate"] == best), None) or (min(steps, key=lambda s: s["rate"]) if steps
                                                                      else None)
    out: dict[str, Any] = {}
    if chosen is not None:
        base = json.loads((Path(chosen["report_dir"]) / "summary.json").read_text())
        out.update(base)
    out.update(search=kind, slo_given=slo_text, steps=steps, max_rate=best,
               passed=best is not None)
    if best is None:
        out["slo"] = chosen["slo"] if chosen else []
    return out


def _fmt(v: float | None) -> str:
    return "-" if v is None else f"{v:.1f} ms"
