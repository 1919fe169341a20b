"""Run the selected checks against one target, in parallel, with a progress bar."""

from __future__ import annotations

import time
import traceback
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor, as_completed
from dataclasses import dataclass, field

from .context import Ctx, Target
from .registry import CheckFailed, CheckInfo, CheckSkipped, Sub

STATUSES = ("passed", "failed", "error", "skipped")


@dataclass
class Result:
    id: str
    description: str
    layer: str
    status: str  # passed | failed | error | skipped
    message: str = ""
    duration_s: float = 0.0
    subs: list[Sub] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return self.status in ("passed", "skipped")


def run_one(ctx: Ctx, info: CheckInfo) -> Result:
    t0 = time.perf_counter()
    status, message, subs = "passed", "", []
    try:
        if info.admin and not ctx.target.has_admin:
            raise CheckSkipped("needs admin credentials (--admin-user/--admin-password)")
        out = info.func(ctx)
        if isinstance(out, list):
            subs = out
            failed = [s for s in subs if not s.passed]
            if failed:
                status = "failed"
                message = f"{len(failed)} of {len(subs)} failed: " + "; ".join(
                    f"{s.name}: {s.message}" for s in failed[:5])
    except CheckFailed as exc:
        status, message = "failed", str(exc)
    except CheckSkipped as exc:
        status, message = "skipped", str(exc)
    except Exception as exc:  # the check itself broke, or the target answered something unreadable
        status = "error"
        message = f"{type(exc).__name__}: {exc}"
        tb = traceback.extract_tb(exc.__traceback__)
        if tb:
            message += f" (at {tb[-1].filename.rsplit('/', 1)[-1]}:{tb[-1].lineno})"
    return Result(info.id, info.description, info.layer, status, message, time.perf_counter() - t0, subs)


def run(target: Target, checks: list[CheckInfo], *, workers: int = 4,
        on_done: Callable[[Result], None] | None = None) -> list[Result]:
    """Every check once; results in the order of `checks`. Slow checks start first."""
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
    return [results[c.id] for c in checks]


def summary(results: list[Result]) -> dict[str, int]:
    counts = dict.fromkeys(STATUSES, 0)
    for r in results:
        counts[r.status] += 1
    return counts
