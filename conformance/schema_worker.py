"""Run one part of the schema layer in a child process: `python -m conformance.schema_worker relay OUT`
reads the Target as JSON on stdin and writes `{"subs": [...]}` (or `{"failed"|"skipped": message}`) to OUT.

Why a process: schemathesis is CPU-bound and holds the GIL for long stretches (schema compilation,
validation of whole streams). In the process of `topapi check` it starves the threads of the other
checks, whose arrival-time measurements (stream.unbuffered) then see bursts that the gateway never
sent. In its own process, at a lower priority, it also uses another core, and the relay and admin
parts can run side by side.
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

from .context import Ctx, Target
from .registry import Blocked, CheckFailed, CheckSkipped, Sub

NICENESS = 10
STARTUP_S = 90.0  # beyond the part's deadline: imports, sandbox setup and cleanup
HANG_S = 1800.0  # without a deadline (--schema-budget): a worker this late is stuck, not slow


def run_isolated(target: Target, part: str) -> list[Sub]:
    """The part's Subs, computed in a child process; CheckFailed/CheckSkipped come back as raised there."""
    with tempfile.TemporaryDirectory(prefix="topapi-schema-") as tmp:
        out = Path(tmp) / "result.json"
        proc = subprocess.run([sys.executable, "-m", "conformance.schema_worker", part, str(out)],
                              input=json.dumps(dataclasses.asdict(target), default=list), text=True,
                              capture_output=True,
                              timeout=(target.schema_budget_s or HANG_S) + STARTUP_S)
        if proc.returncode != 0 or not out.exists():
            tail = "\n".join(proc.stderr.strip().splitlines()[-8:])
            raise RuntimeError(f"the schema worker ({part}) exited with code {proc.returncode}: {tail}")
        result = json.loads(out.read_text())
    if "failed" in result:
        raise CheckFailed(result["failed"])
    if "skipped" in result:
        raise CheckSkipped(result["skipped"])
    return [Sub(**s) for s in result["subs"]]


def main(argv: list[str]) -> int:
    from .checks import schema  # registers every check of the package; fine in this process

    part, out = argv
    with contextlib.suppress(AttributeError, OSError):
        os.nice(NICENESS)  # the gateway (on this machine) and the timing-sensitive checks come first
    target = Target(**json.load(sys.stdin))
    ctx = Ctx(target)
    result: dict[str, Any]
    try:
        result = {"subs": [dataclasses.asdict(s) for s in schema.PARTS[part](ctx)]}
    except CheckFailed as exc:
        result = {"failed": str(exc)}
    except CheckSkipped as exc:
        result = {"skipped": str(exc)}
    except Blocked as exc:  # a setup made here failed (the parent's check normally stops before)
        result = {"failed": f"{exc}: {ctx.setups_used.get(exc.by)}"}
    finally:
        ctx.close()
    Path(out).write_text(json.dumps(result))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
