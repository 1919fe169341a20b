"""The checks and their stable ids, the setups they share, and the surfaces they need.

Declaring a check::

    @check("sse.chat.done", "A chat stream ends with exactly one `data: [DONE]`",
           surface="openai.chat", needs=("setup.chat",))
    def chat_done(ctx: Ctx) -> None: ...

- `surface`: the surface (or a tuple of surfaces, all needed) the check exercises, one of
  `conformance.surfaces.SURFACES`: `openai.chat`, `openai.responses`, `openai.images`, `openai.videos`,
  `gemini`, `topapi` (the usage guide's own paths, bodies and the bare key form), `console`. A target
  that does not offer it makes the check `not_offered` (or, when the surface is required by the profile
  or `--require`, `blocked` by the one failed result `surface.<name>`). `None`: the check decides per case
  (e.g. `auth.forms`, `refusal.*`): use `cases()` below.
- `auth`: how the check carries the key. The default, "target", is the form the target was found to accept
  for the route's dialect (`ctx.request(...)` picks it from the path); a check that judges one form passes
  `auth="bare"` etc. to `ctx.request` itself (only `auth.forms` and the guide's own requests do).
- `needs`: ids of setups (`@setup`) that must have succeeded. A failed setup is reported once, as its own
  result; every check (or case) that needs it is `blocked` by its id. Inside the check, `ctx.setup(id)`
  returns the setup's value (computed once per run, on first use, thread-safe).

A check passes by returning, fails by raising `CheckFailed` (through `ctx.expect` / `ctx.fail`), is
skipped with `CheckSkipped`. It may return a list of `Sub` results when it covers several cases; build
them with `cases(ctx, [Case(name, run, surface=...), ...])`, which gives each case its own status
(passed, failed, not_offered, blocked) and reproduction. A `CheckFailed` may name a `cause` (see `CAUSES`)
shared by failures in several checks, so the summary lists that root cause once.

Declaring a setup::

    @setup("setup.video_job", "A video job created and polled to its end", surface="openai.videos")
    def video_job(ctx: Ctx) -> Job: ...   # raise CheckFailed when it cannot be made
"""

from __future__ import annotations

import fnmatch
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from . import repro

LAYERS = ("setup", "protocol", "schema", "sdk", "console")
SUB_STATUSES = ("passed", "failed", "not_offered", "blocked")

# causes shared by failures in several checks: id -> what the root cause is (the summary's title)
CAUSES = {
    "refusal.401": "a wrong or missing key is not refused with 401",
    "refusal.400": "an invalid request is not refused with 400",
    "refusal.404": "an unknown route or resource is not answered 404",
    "refusal.5xx": "an invalid request is answered with a server error",
    "errors.openai_shape": "errors on OpenAI routes are not in OpenAI's error shape",
    "errors.gemini_shape": "errors on Gemini routes are not in Gemini's error shape",
    "sse.responses.done": "Responses streams end with `data: [DONE]` (only chat completions send it)",
    "sse.responses.event_lines": "Responses stream events lack their `event:` lines",
    "responses.previous_response_id": "previous_response_id is not the id of the response it continues",
    "videos.remixed_from": "remixed_from_video_id is not the id of the video remixed",
    "gemini.models_list": "Gemini's model list (GET …/models) is not answered",
}
# a cause "schema:<doc>#<schema>: <problem>" (ctx.valid) groups the same schema violation across checks


def cause_title(cause: str) -> str | None:
    if cause.startswith("schema:"):
        return "answers do not match " + cause.removeprefix("schema:")
    return CAUSES.get(cause)


class CheckFailed(AssertionError):
    """The target broke the contract; the message says how, in one or two lines. The reproduction is the
    last request of the current check (repro.last()) unless given."""

    def __init__(self, message: str, *, cause: str | None = None, exchange: repro.Exchange | None = None) -> None:
        super().__init__(message)
        self.cause = cause
        self.exchange = exchange or repro.last()


class CheckSkipped(Exception):
    """The check cannot run against this target (the reason is shown)."""


class Blocked(Exception):
    """A setup (or required surface) this check needs failed; `by` is its id."""

    def __init__(self, by: str) -> None:
        super().__init__(f"blocked by {by}")
        self.by = by


@dataclass(frozen=True)
class Sub:
    name: str
    passed: bool
    message: str = ""
    status: str = ""  # passed | failed | not_offered | blocked ("" : from `passed`)
    cause: str | None = None
    exchange: dict[str, Any] | None = None  # repro.Exchange.to_dict() of a failure

    def __post_init__(self) -> None:
        if not self.status:
            object.__setattr__(self, "status", "passed" if self.passed else "failed")
        if self.status not in SUB_STATUSES:
            raise ValueError(f"unknown sub status {self.status!r}")

    @classmethod
    def failure(cls, name: str, exc: CheckFailed) -> Sub:
        return cls(name, False, str(exc), cause=exc.cause,
                   exchange=exc.exchange.to_dict() if exc.exchange else None)


@dataclass(frozen=True)
class CheckInfo:
    id: str
    description: str
    layer: str
    admin: bool
    func: Callable[[Any], Any]
    slow: bool = False
    surfaces: tuple[str, ...] = ()
    needs: tuple[str, ...] = ()


@dataclass(frozen=True)
class SetupInfo:
    id: str
    description: str
    func: Callable[[Any], Any]
    surfaces: tuple[str, ...] = ()
    needs: tuple[str, ...] = ()


CHECKS: dict[str, CheckInfo] = {}
SETUPS: dict[str, SetupInfo] = {}


def _surfaces(surface: str | tuple[str, ...] | None) -> tuple[str, ...]:
    from .surfaces import SURFACES

    out = () if surface is None else (surface,) if isinstance(surface, str) else tuple(surface)
    unknown = [s for s in out if s not in SURFACES]
    if unknown:
        raise ValueError(f"unknown surface {unknown} (known: {', '.join(SURFACES)})")
    return out


def check(id: str, description: str, *, layer: str = "protocol", admin: bool = False, slow: bool = False,
          surface: str | tuple[str, ...] | None = None, needs: tuple[str, ...] = ()) -> Callable[[Callable], Callable]:
    if layer not in LAYERS or layer == "setup":
        raise ValueError(f"unknown layer {layer!r}")
    surfaces = _surfaces(surface)

    def register(func: Callable) -> Callable:
        if id in CHECKS:
            raise ValueError(f"check id {id!r} registered twice")
        CHECKS[id] = CheckInfo(id, description, layer, admin, func, slow, surfaces, tuple(needs))
        return func

    return register


def setup(id: str, description: str, *, surface: str | tuple[str, ...] | None = None,
          needs: tuple[str, ...] = ()) -> Callable[[Callable], Callable]:
    if not id.startswith("setup."):
        raise ValueError(f"setup ids start with 'setup.': {id!r}")
    surfaces = _surfaces(surface)

    def register(func: Callable) -> Callable:
        if id in SETUPS:
            raise ValueError(f"setup id {id!r} registered twice")
        SETUPS[id] = SetupInfo(id, description, func, surfaces, tuple(needs))
        return func

    return register


@dataclass
class Case:
    """One case of a check with several: `run()` raises CheckFailed to fail it."""

    name: str
    run: Callable[[], Any]
    surface: str | tuple[str, ...] | None = None
    needs: tuple[str, ...] = field(default_factory=tuple)


def cases(ctx: Any, items: Iterable[Case]) -> list[Sub]:
    """Run each case, giving it its own status: not_offered (its surface is not offered), blocked (a setup or
    required surface it needs failed), failed (with cause and reproduction) or passed."""
    out = []
    for case in items:
        try:
            for s in _surfaces(case.surface):
                ctx.require_surface(s)
            for need in case.needs:
                ctx.setup(need)
            repro.reset()
            case.run()
            out.append(Sub(case.name, True))
        except NotOffered as exc:  # outside the profile too: a case is not judged either way
            out.append(Sub(case.name, True, str(exc), status="not_offered"))
        except Blocked as exc:
            out.append(Sub(case.name, False, str(exc), status="blocked"))
        except CheckFailed as exc:
            out.append(Sub.failure(case.name, exc))
    return out


class NotOffered(Exception):
    """The target does not offer a surface this check (or case) needs, and nothing requires it."""


class OutsideProfile(NotOffered):
    """The surface is outside the run's profile (e.g. Gemini with --profile openai): the check is skipped."""


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
