"""What a stream event means for the metrics, per dialect: does it carry output, usage, an error, the end?

The rules are specs/streams.py's (the gateway's meters read streams by the same ones). MEASURE.md:
a token is an event that carries output; a role-only chunk is not. N output tokens come from the
stream's own usage.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import orjson

from specs import streams
from specs.sse import Event

DONE = streams.DONE


@dataclass(slots=True)
class Seen:
    output: bool = False
    tokens: int | None = None  # output tokens, when the event carries usage
    error: str | None = None
    done: bool = False  # the stream's own end marker


def _json(ev: Event) -> Any:
    try:
        return orjson.loads(ev.data)
    except orjson.JSONDecodeError:
        return None


def _classify(sem: Any, ev: Event) -> Seen:
    """One event, as specs/streams.py (the gateway's meters use the same rules) reads it."""
    if ev.is_done:
        return Seen(done=sem.ends(None, DONE))
    obj = _json(ev)
    if not isinstance(obj, dict):
        return Seen(error=f"malformed event: {ev.data[:80]!r}")
    error = sem.error(obj)
    if error is not None:
        return Seen(error=error[:200])
    usage = sem.usage(obj)
    return Seen(output=sem.output(obj), tokens=usage[1] if usage is not None else None, done=sem.ends(obj))


def chat(ev: Event) -> Seen:
    """Chat completions chunk; `[DONE]` ends the stream."""
    return _classify(streams.Chat, ev)


def responses(ev: Event) -> Seen:
    """Responses API event; `response.completed` (or `.incomplete`) ends the stream."""
    return _classify(streams.Responses, ev)


def gemini(ev: Event) -> Seen:
    """GenerateContentResponse; the event with a finishReason is the last one."""
    return _classify(streams.Gemini, ev)


DIALECTS = {"chat": chat, "responses": responses, "gemini": gemini}
