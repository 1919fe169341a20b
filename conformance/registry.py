"""The checks and their stable ids: `@check("sse.chat.done", "...")` registers one.

A check is a function of a `Ctx` (conformance/context.py). It passes by returning, fails by
raising `CheckFailed` (through `ctx.expect` / `ctx.fail`), and is skipped with `CheckSkipped`
(e.g. no admin credentials). It may return a list of `Sub` results when it covers several
cases (one per schemathesis operation, one per seed request); the check fails if any does.
"""

from __future__ import annotations

import fnmatch
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

LAYERS = ("protocol", "schema", "sdk", "console")


class CheckFailed(AssertionError):
    """The target broke the contract; the message says how, in one or two lines."""


class CheckSkipped(Exception):
    """The check cannot run against this target (the reason is shown)."""


@dataclass(frozen=True)
class Sub:
    name: str
    passed: bool
    message: str = ""


@dataclass(frozen=True)
class CheckInfo:
    id: str
    description: str
    layer: str
    admin: bool
    func: Callable[[Any], Any]
    slow: bool = False


CHECKS: dict[str, CheckInfo] = {}


def check(id: str, description: str, *, layer: str = "protocol", admin: bool = False,
          slow: bool = False) -> Callable[[Callable], Callable]:
    if layer not in LAYERS:
        raise ValueError(f"unknown layer {layer!r}")

    def register(func: Callable) -> Callable:
        if id in CHECKS:
            raise ValueError(f"check id {id!r} registered twice")
        CHECKS[id] = CheckInfo(id, description, layer, admin, func, slow)
        return func

    return register


def load_all() -> dict[str, CheckInfo]:
    """Import every check module (they register themselves)."""
    from . import checks  # noqa: F401

    return CHECKS


def select(patterns: list[str] | None) -> list[CheckInfo]:
    """Checks whose id matches any pattern (`sse.*`, `auth.bare_header`, or a layer name)."""
    checks = list(load_all().values())
    if not patterns:
        return checks
    chosen = [c for c in checks if any(p == c.layer or fnmatch.fnmatchcase(c.id, p) or c.id.startswith(p + ".")
                                        for p in patterns)]
    unknown = [p for p in patterns if not any(p == c.layer or fnmatch.fnmatchcase(c.id, p)
                                              or c.id.startswith(p + ".") for c in checks)]
    if unknown:
        raise ValueError(f"no check matches {', '.join(unknown)}")
    return chosen
