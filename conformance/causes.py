"""Root causes: the distinct reasons a run failed, each once, with what it affected and its reproduction.

A failure is its own root cause unless it names a shared `cause` (registry.CAUSES: e.g. every Gemini error
in OpenAI's shape, wherever it was seen, is one cause). A failed setup or required surface is one cause;
the checks and cases it blocked are listed under it, not as failures of their own.
"""

from __future__ import annotations

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

    for r in results:
        if r.status in BAD:
            failed_subs = [s for s in r.subs if s.status == "failed"]
            if not failed_subs:
                add(r.cause or r.id, cause_title(r.cause or "") or r.description, r.message, r.id, r.exchange)
            for s in failed_subs:
                key = s.cause or r.id
                add(key, cause_title(s.cause or "") or r.description, f"{s.name}: {s.message}", f"{r.id}: {s.name}",
                    s.exchange)
    for r in results:
        if r.status == "blocked" and r.blocked_by in causes:
            causes[r.blocked_by].blocked.append(r.id)
        for s in r.subs:
            by = s.message.removeprefix("blocked by ")
            if s.status == "blocked" and by in causes:
                causes[by].blocked.append(f"{r.id}: {s.name}")
    # setups and surfaces first (they explain the blocked ones), then in the order of the results
    return sorted(causes.values(), key=lambda c: (not c.id.startswith(("setup.", "surface.")),))
