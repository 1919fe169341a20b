"""Root causes: the distinct reasons a run failed, each once, with what it affected and its reproduction.

A failure is its own root cause unless it names a shared `cause` (registry.CAUSES: e.g. every Gemini error
in OpenAI's shape, wherever it was seen, is one cause), or it is a server error whose answer is the same as
other failures' (a gateway that crashes the same way on many requests: one cause, "the same 5xx answer").
A failed setup or required surface is one cause; the checks and cases it blocked are listed under it, not
as failures of their own.
"""

from __future__ import annotations

import re
from collections import Counter
from dataclasses import asdict, dataclass, field
from typing import Any

from .registry import cause_title
from .runner import BAD, Result


@dataclass
class Cause:
    id: str
    title: str
    message: str  # the first failure's message
    where: list[str] = field(default_factory=list)  # "check" or "check: case" where it was seen
    blocked: list[str] = field(default_factory=list)  # checks and cases blocked by it
    exchange: dict[str, Any] | None = None  # the reproduction of the first failure

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def root_causes(results: list[Result]) -> list[Cause]:
    causes: dict[str, Cause] = {}

    def add(key: str, title: str, message: str, where: str, exchange: dict[str, Any] | None) -> None:
        c = causes.get(key)
        if c is None:
            causes[key] = Cause(key, title, message, [where], exchange=exchange)
        else:
            if where not in c.where:
                c.where.append(where)
            if c.exchange is None:
                c.exchange = exchange

    crashes = _same_crashes(results)
    # a failed setup's server error, seen again in other checks, is the setup's cause there too
    setup_crashes = {_crash_key(r.exchange): r for r in results
                     if r.layer == "setup" and r.status in BAD and _crash_key(r.exchange)}

    def key_of(cause: str | None, exchange: dict[str, Any] | None, default: str, title: str) -> tuple[str, str]:
        if cause:
            return cause, cause_title(cause) or title
        crash = _crash_key(exchange)
        if crash in setup_crashes:
            return setup_crashes[crash].id, setup_crashes[crash].description
        if crash in crashes and exchange is not None:
            return crash, (f"the same server error to different requests: HTTP {exchange['status']} "
                           f"{exchange['answer'][:120]!r}")
        return default, title

    for r in results:
        if r.status in BAD and r.layer == "setup":  # its own cause: what it blocks refers to its id
            add(r.id, r.description, r.message, r.id, r.exchange)
        elif r.status in BAD:
            failed_subs = [s for s in r.subs if s.status == "failed"]
            if not failed_subs:
                add(*key_of(r.cause, r.exchange, r.id, r.description), r.message, r.id, r.exchange)
            for s in failed_subs:
                add(*key_of(s.cause, s.exchange, r.id, r.description), f"{s.name}: {s.message}",
                    f"{r.id}: {s.name}", s.exchange)
    for r in results:
        if r.status == "blocked" and r.blocked_by in causes:
            causes[r.blocked_by].blocked.append(r.id)
        for s in r.subs:
            by = s.message.removeprefix("blocked by ")
            if s.status == "blocked" and by in causes:
                causes[by].blocked.append(f"{r.id}: {s.name}")
    # setups and surfaces first (they explain the blocked ones), then in the order of the results
    return sorted(causes.values(), key=lambda c: (not c.id.startswith(("setup.", "surface.")),))


_IDS = re.compile(r"[0-9a-f]{8,}|\d+")


def _crash_key(exchange: dict[str, Any] | None) -> str | None:
    if not exchange or not isinstance(exchange.get("status"), int) or exchange["status"] < 500:
        return None
    answer = _IDS.sub("N", exchange["answer"][:200])
    return f"crash:{exchange['status']}:{answer}"


def _same_crashes(results: list[Result]) -> set[str]:
    """Server-error answers (status and first bytes, ids and numbers blanked) that end two or more failures
    without a cause of their own."""
    seen: Counter[str] = Counter()
    for r in results:
        if r.status not in BAD or r.layer == "setup":
            continue
        subs = [s for s in r.subs if s.status == "failed" and not s.cause]
        for ex in [s.exchange for s in subs] or ([r.exchange] if not r.cause else []):
            key = _crash_key(ex)
            if key:
                seen[key] += 1
    return {k for k, n in seen.items() if n >= 2}
