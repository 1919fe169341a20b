"""Run the selected checks against one target, in parallel, and fold the outcome into results.

Statuses (WIRE.md "CLI contract"): passed, failed, error, skipped, not_offered (the target does not offer
a surface the check needs; never a failure), blocked (a setup or required surface it needs failed: that
failure is reported once, as its own result), flaky (with --repeat: passed in some runs, failed in others). Setups that ran appear as results of the layer "setup";
a required surface the target lacks appears as one failed result `surface.<name>`.
"""

from __future__ import annotations

import time
import traceback
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor, as_completed
from dataclasses import dataclass, field
from typing import Any

from . import repro
from .context import Ctx, Target
from .registry import SETUPS, Blocked, CheckFailed, CheckInfo, CheckSkipped, NotOffered, OutsideProfile, Sub
from .surfaces import SURFACES

STATUSES = ("passed", "failed", "error", "skipped", "not_offered", "blocked", "flaky")
BAD = ("failed", "error", "flaky")  # flaky: passed in some of the --repeat runs, failed in others


@dataclass
class Result:
    id: str
    description: str
    layer: str
    status: str  # one of STATUSES
    message: str = ""
    duration_s: float = 0.0
    subs: list[Sub] = field(default_factory=list)
    cause: str | None = None  # a root cause shared with other checks (registry.CAUSES)
    exchange: dict[str, Any] | None = None  # the reproduction of a failure (repro.Exchange)
    blocked_by: str | None = None
    surfaces: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return self.status not in BAD


def _fold_subs(subs: list[Sub]) -> tuple[str, str]:
    failed = [s for s in subs if s.status == "failed"]
    if failed:
        return "failed", f"{len(failed)} of {len(subs)} failed: " + "; ".join(f"{s.name}: {s.message}"
                                                                         for s in failed[:5])
    if not subs or any(s.status == "passed" for s in subs):
        return "passed", ""
    blocked = sorted({s.message for s in subs if s.status == "blocked"})
    if blocked:
        return "blocked", "; ".join(blocked)
    return "not_offered", "; ".join(sorted({s.message for s in subs}))


def run_one(ctx: Ctx, info: CheckInfo) -> Result:
    t0 = time.perf_counter()
    status, message, subs = "passed", "", []
    cause = exchange = blocked_by = None
    repro.reset()
    try:
        for s in info.surfaces:
            ctx.require_surface(s)
        if info.admin and not ctx.target.has_admin:
            raise CheckSkipped("needs admin credentials (--admin-user/--admin-password)")
        for need in info.needs:
            ctx.setup(need)
        out = info.func(ctx)
        if isinstance(out, list):
            subs = out
            status, message = _fold_subs(subs)
    except NotOffered as exc:
        status, message = ("skipped" if isinstance(exc, OutsideProfile) else "not_offered"), str(exc)
    except Blocked as exc:
        status, message, blocked_by = "blocked", str(exc), exc.by
    except CheckFailed as exc:
        status, message, cause = "failed", str(exc), exc.cause
        exchange = exc.exchange.to_dict() if exc.exchange else None
    except CheckSkipped as exc:
        status, message = "skipped", str(exc)
    except Exception as exc:  # the check itself broke, or the target answered something unreadable
        status = "error"
        message = f"{type(exc).__name__}: {exc}"
        tb = traceback.extract_tb(exc.__traceback__)
        if tb:
            message += f" (at {tb[-1].filename.rsplit('/', 1)[-1]}:{tb[-1].lineno})"
        last = repro.last()
        exchange = last.to_dict() if last else None
    if status == "blocked" and blocked_by is None:
        blocked_by = next((s.message.removeprefix("blocked by ") for s in subs if s.status == "blocked"), None)
    return Result(info.id, info.description, info.layer, status, message, time.perf_counter() - t0, subs,
                  cause, exchange, blocked_by, list(info.surfaces))


def surface_results(target: Target, evidence: dict[str, list[str]] | None = None) -> list[Result]:
    """One failed result per required surface the target does not offer (the checks that need it are blocked)."""
    out = []
    for s in target.required:
        if not target.offers(s):
            seen = "; ".join((evidence or {}).get(s, [])) or "the probe found no route of it"
            out.append(Result(f"surface.{s}", f"The target offers {SURFACES[s]} (required)", "setup", "failed",
                              f"required surface {s} is not offered: {seen}", surfaces=[s]))
    return out


def setup_results(ctx: Ctx) -> list[Result]:
    out = []
    for sid, failure in ctx.setups_used.items():
        info = SETUPS[sid]
        if failure is None:
            out.append(Result(sid, info.description, "setup", "passed", surfaces=list(info.surfaces)))
        elif isinstance(failure, CheckSkipped):
            out.append(Result(sid, info.description, "setup", "skipped", str(failure)))
        else:
            exc = failure if isinstance(failure, CheckFailed) else None
            out.append(Result(sid, info.description, "setup", "failed", str(failure), surfaces=list(info.surfaces),
                              cause=exc.cause if exc else None,
                              exchange=exc.exchange.to_dict() if exc and exc.exchange else None))
    return sorted(out, key=lambda r: r.id)


def run(target: Target, checks: list[CheckInfo], *, workers: int = 4,
        on_done: Callable[[Result], None] | None = None,
        evidence: dict[str, list[str]] | None = None) -> list[Result]:
    """Every check once; results: failed required surfaces, setups that ran, then the checks in the order of
    `checks`. Slow checks start first."""
    ctx = Ctx(target)
    order = sorted(checks, key=lambda c: not c.slow)
    results: dict[str, Result] = {}
    try:
        with ThreadPoolExecutor(max_workers=max(1, workers), thread_name_prefix="check") as pool:
            futures = {pool.submit(run_one, ctx, c): c for c in order}
            for fut in as_completed(futures):
                res = fut.result()
                results[res.id] = res
                if on_done:
                    on_done(res)
    finally:
        ctx.close()
    return surface_results(target, evidence) + setup_results(ctx) + [results[c.id] for c in checks]


def run_repeated(target: Target, checks: list[CheckInfo], repeat: int, *, workers: int = 4,
                 on_done: Callable[[Result], None] | None = None,
                 evidence: dict[str, list[str]] | None = None) -> list[Result]:
    """`run`, then the protocol checks `repeat - 1` times more (each round with a fresh context, so setups run
    again); each protocol check's runs folded into one result (`fold_runs`). The other layers run once: a
    schema run with a seed repeats itself, and the SDK and console flows are slow."""
    first = run(target, checks, workers=workers, on_done=on_done, evidence=evidence)
    protocol = [c for c in checks if c.layer == "protocol"]
    if repeat <= 1 or not protocol:
        return first
    rounds = [run(target, protocol, workers=workers, on_done=on_done, evidence=evidence)
              for _ in range(repeat - 1)]
    later = {c.id: [{r.id: r for r in rnd}[c.id] for rnd in rounds] for c in protocol}
    return [fold_runs([r, *later[r.id]]) if r.id in later else r for r in first]


def fold_runs(runs: list[Result]) -> Result:
    """One result for a check's runs: the same status in every run keeps the first run's result; failures in
    some runs and passes in others make it `flaky`, with the first failing run's message and cases."""
    bad = [r for r in runs if r.status in ("failed", "error")]
    good = [r for r in runs if r.status == "passed"]
    total = sum(r.duration_s for r in runs)
    if bad and good:
        first = bad[0]
        which = ", ".join(str(i + 1) for i, r in enumerate(runs) if r in bad)
        return Result(first.id, first.description, first.layer, "flaky",
                      f"flaky: failed in {len(bad)} of {len(runs)} runs (run {which}): {first.message}", total,
                      first.subs, first.cause, first.exchange, first.blocked_by, first.surfaces)
    first = bad[0] if bad else runs[0]
    note = f"the same in all {len(runs)} runs" + (f": {first.message}" if first.message else "")
    return Result(first.id, first.description, first.layer, first.status, note, total, first.subs, first.cause,
                  first.exchange, first.blocked_by, first.surfaces)


def summary(results: list[Result]) -> dict[str, int]:
    counts = dict.fromkeys(STATUSES, 0)
    for r in results:
        counts[r.status] += 1
    return counts
