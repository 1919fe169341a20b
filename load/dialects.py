"""What a stream event means for the metrics, per dialect: does it carry output, usage, an error, the end?

MEASURE.md: a token is an event that carries output (content, reasoning, a tool-call delta,
Responses `output_text.delta` / `function_call_arguments.delta`, Gemini part text or
functionCall); a role-only chunk is not. N output tokens come from the stream's own usage.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import orjson

from specs.sse import Event


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


def _message(err: Any) -> str:
    if isinstance(err, dict):
        return str(err.get("message") or err.get("code") or err)[:200]
    return str(err)[:200]


def chat(ev: Event) -> Seen:
    """Chat completions chunk; `[DONE]` ends the stream."""
    if ev.is_done:
        return Seen(done=True)
    obj = _json(ev)
    if not isinstance(obj, dict):
        return Seen(error=f"malformed chunk: {ev.data[:80]!r}")
    if "error" in obj:
        return Seen(error=_message(obj["error"]))
    seen = Seen()
    for choice in obj.get("choices") or ():
        delta = choice.get("delta") or {}
        if (delta.get("content") or delta.get("reasoning_content") or delta.get("reasoning")
                or delta.get("refusal") or delta.get("tool_calls")):
            seen.output = True
    usage = obj.get("usage")
    if isinstance(usage, dict) and usage.get("completion_tokens") is not None:
        seen.tokens = int(usage["completion_tokens"])
    return seen


_RESPONSES_OUTPUT = frozenset({
    "response.output_text.delta", "response.function_call_arguments.delta", "response.refusal.delta",
    "response.reasoning_text.delta", "response.reasoning_summary_text.delta",
})


def responses(ev: Event) -> Seen:
    """Responses API event; `response.completed` (or `.incomplete`) ends the stream."""
    obj = _json(ev)
    if not isinstance(obj, dict):
        return Seen(error=f"malformed event: {ev.data[:80]!r}")
    kind = obj.get("type") or ev.event
    if kind in _RESPONSES_OUTPUT:
        return Seen(output=bool(obj.get("delta")))
    if kind in ("response.completed", "response.incomplete"):
        usage = (obj.get("response") or {}).get("usage") or {}
        tokens = usage.get("output_tokens")
        return Seen(tokens=int(tokens) if tokens is not None else None, done=True)
    if kind == "response.failed":
        return Seen(error=_message((obj.get("response") or {}).get("error")))
    if kind == "error":
        return Seen(error=_message(obj.get("error", obj)))
    return Seen()


def gemini(ev: Event) -> Seen:
    """GenerateContentResponse; the event with a finishReason is the last one."""
    obj = _json(ev)
    if not isinstance(obj, dict):
        return Seen(error=f"malformed event: {ev.data[:80]!r}")
    if "error" in obj:
        return Seen(error=_message(obj["error"]))
    seen = Seen()
    for cand in obj.get("candidates") or ():
        for part in (cand.get("content") or {}).get("parts") or ():
            if part.get("text") or part.get("functionCall"):
                seen.output = True
        if cand.get("finishReason"):
            seen.done = True
    usage = obj.get("usageMetadata")
    if isinstance(usage, dict) and usage.get("candidatesTokenCount") is not None:
        seen.tokens = int(usage["candidatesTokenCount"]) + int(usage.get("thoughtsTokenCount") or 0)
    return seen


DIALECTS = {"chat": chat, "responses": responses, "gemini": gemini}
