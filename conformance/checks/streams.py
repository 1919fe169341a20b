"""No buffering: streams of every dialect (chat, Responses, Gemini) are relayed as they are produced."""

from __future__ import annotations

from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor

from ..context import Capture, Ctx
from ..registry import Blocked, CheckFailed, CheckSkipped, NotOffered, Sub, check
from . import chat, gemini, responses

PROMPT = "Write 300 words about a lantern in the harbor."
MIN_EVENTS = 20  # fewer content events cannot tell a stream from a burst
TOO_FAST_S = 0.05
COARSE = {"Gemini"}  # dialects whose upstream may send few, large pieces


def _chat(ctx: Ctx) -> list[float]:
    cap = ctx.stream("POST", chat.PATH, json=chat.body(ctx, PROMPT, stream=True, max_tokens=400))
    chat.chunks_of(ctx, cap, "long chat stream")
    return [t for ev, t in zip(cap.events, cap.times, strict=True)
            if not ev.is_done and any((c.get("delta") or {}).get("content") for c in ev.json().get("choices") or [])]


def _responses(ctx: Ctx) -> list[float]:
    cap = ctx.stream("POST", responses.OFFICIAL, json=responses.body(ctx, PROMPT, stream=True,
                                                                      max_output_tokens=400))
    events = responses.stream_events(ctx, cap, "long Responses stream")
    return [t for e, t in zip(events, cap.times, strict=True) if e["type"] == "response.output_text.delta"]


def _gemini(ctx: Ctx) -> list[float]:
    req = {"contents": [{"role": "user", "parts": [{"text": PROMPT}]}], "generationConfig": {"maxOutputTokens": 400}}
    cap: Capture = ctx.stream("POST", gemini.path(ctx, "streamGenerateContent"), json=req, params={"alt": "sse"})
    gemini.check_sse(ctx, cap, "long Gemini stream")
    return [t for ev, t in zip(cap.events, cap.times, strict=True) if gemini.text_of(ev.json())]


STREAMS: dict[str, Callable[[Ctx], list[float]]] = {"chat": _chat, "Responses": _responses, "Gemini": _gemini}
SURFACE = {"chat": "openai.chat", "Responses": "openai.responses", "Gemini": "gemini"}
SETUP = {"chat": "setup.chat", "Responses": "setup.responses", "Gemini": "setup.gemini"}


def _buffered(ctx: Ctx, name: str, out: list[float]) -> str | None:
    """How the content arrived in one burst, or None when it streamed. Too few events fail (a token stream was
    coalesced), except for COARSE dialects, which skip like a stream too fast to tell."""
    what = f"long {name} stream"
    if len(out) < MIN_EVENTS:
        message = f"{what}: only {len(out)} content events; cannot judge buffering"
        if name in COARSE:  # Gemini may send a few large pieces
            ctx.skip(message)
        ctx.fail(message)  # a token-by-token stream was coalesced
    if out[-1] < TOO_FAST_S:
        ctx.skip(f"{what}: the whole stream took {out[-1] * 1000:.0f} ms: too fast to tell buffering apart")
    if out[0] <= 0.5 * out[-1]:
        return None
    return (f"{what}: first content after {out[0] * 1000:.0f} ms, last after {out[-1] * 1000:.0f} ms "
            f"({len(out)} events within {(out[-1] - out[0]) * 1000:.0f} ms): the stream is buffered")


@check("stream.unbuffered", "Streams are relayed as they are produced: a long chat, Responses and Gemini stream "
       "each deliver their first content well before their last (arrival times compared)")
def unbuffered(ctx: Ctx) -> list[Sub]:
    def one(name: str) -> tuple[Sub, bool]:
        """(result, judged)"""
        try:
            ctx.require_surface(SURFACE[name])
            ctx.setup(SETUP[name])
        except NotOffered as exc:
            return Sub(name, True, str(exc), status="not_offered"), False
        except Blocked as exc:
            return Sub(name, False, str(exc), status="blocked"), True
        try:
            burst = _buffered(ctx, name, STREAMS[name](ctx))
            if burst:
                # a cold upstream (lazy loading on its first request) may burst once; a buffering relay
                # buffers every time
                burst = _buffered(ctx, name, STREAMS[name](ctx))
                if burst:
                    return Sub(name, False, f"{burst} (twice in a row)"), True
            return Sub(name, True), True
        except CheckFailed as exc:
            return Sub.failure(name, exc), True
        except CheckSkipped as exc:
            return Sub(name, True, f"not judged: {exc}"), False

    # at once: a real upstream takes seconds per long answer
    with ThreadPoolExecutor(len(STREAMS), thread_name_prefix="unbuffered") as pool:
        outcomes = list(pool.map(one, STREAMS))
    if not any(judged for _, judged in outcomes):
        ctx.skip("; ".join(sub.message for sub, _ in outcomes))
    return [sub for sub, _ in outcomes]
