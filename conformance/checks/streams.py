"""No buffering: streams of every dialect (chat, Responses, Gemini) are relayed as they are produced.

How it judges, robust to a busy machine (the client, gateway and upstream may all stall for a while):
- It asks for a long answer (LONG_WORDS words), so that even a fast upstream takes a while to stream it
  (the demo's mocks pace their tokens; a real model takes seconds).
- It compares the content events' arrival times with the stream's own duration: a relay that holds the
  stream back delivers (nearly) all of it at the end, in a burst far shorter than the wait before it; one
  that relays as produced spreads it over the stream's life. The statistic is the time by which a
  quarter of the content had arrived (`q1`): buffered when q1 comes after BURST_SHARE of the time to the
  last content. A stall at the start (a cold upstream, a busy CPU) only makes a relayed stream look
  buffered if it lasts for most of the stream, and then the retry (a second long stream) still passes.
- A content event is one that carries output by specs/streams.py's rules (the gateway's meters and the
  load tool read streams by the same ones).
- A stream whose content all arrives within TOO_FAST_S cannot be told from a burst (the upstream was as
  fast as the network): not judged, which is said, never passed silently as judged.
"""

from __future__ import annotations

from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

from specs.streams import Chat, Gemini, Responses

from ..context import Capture, Ctx
from ..registry import Blocked, CheckFailed, CheckSkipped, NotOffered, Sub, check
from . import chat, gemini, responses

LONG_WORDS = 600
PROMPT = f"Write {LONG_WORDS} words about a lantern in the harbor."
MAX_TOKENS = 1000  # room for the words; a cut answer is still long
MIN_EVENTS = 20  # fewer content events from a token-by-token dialect: the stream was coalesced
MIN_EVENTS_COARSE = 4  # Gemini may send a long answer in a few large pieces
COARSE = {"Gemini"}
TOO_FAST_S = 0.05
BURST_SHARE = 0.9  # buffered: a quarter of the content came after 90% of the time to the last content


@dataclass(frozen=True)
class Arrivals:
    """When each content event arrived, in seconds after the request was sent."""

    times: list[float]

    @property
    def q1(self) -> float:
        return sorted(self.times)[len(self.times) // 4]

    def describe(self) -> str:
        t = self.times
        return (f"{len(t)} content events: first after {t[0] * 1000:.0f} ms, a quarter by {self.q1 * 1000:.0f} ms, "
                f"last after {t[-1] * 1000:.0f} ms")


def _chat(ctx: Ctx) -> Arrivals:
    cap = ctx.stream("POST", chat.PATH, json=chat.body(ctx, PROMPT, stream=True, max_tokens=MAX_TOKENS))
    chat.chunks_of(ctx, cap, "long chat stream")
    return Arrivals([t for ev, t in zip(cap.events, cap.times, strict=True) if not ev.is_done and Chat.output(ev.json())])


def _responses(ctx: Ctx) -> Arrivals:
    cap = ctx.stream("POST", responses.OFFICIAL, json=responses.body(ctx, PROMPT, stream=True,
                                                                      max_output_tokens=MAX_TOKENS))
    events = responses.stream_events(ctx, cap, "long Responses stream")
    return Arrivals([t for e, t in zip(events, cap.times, strict=True) if Responses.output(e)])


def _gemini(ctx: Ctx) -> Arrivals:
    req = {"contents": [{"role": "user", "parts": [{"text": PROMPT}]}],
           "generationConfig": {"maxOutputTokens": MAX_TOKENS}}
    cap: Capture = ctx.stream("POST", gemini.path(ctx, "streamGenerateContent"), json=req, params={"alt": "sse"})
    gemini.check_sse(ctx, cap, "long Gemini stream")
    return Arrivals([t for ev, t in zip(cap.events, cap.times, strict=True) if Gemini.output(ev.json())])


STREAMS: dict[str, Callable[[Ctx], Arrivals]] = {"chat": _chat, "Responses": _responses, "Gemini": _gemini}
SURFACE = {"chat": "openai.chat", "Responses": "openai.responses", "Gemini": "gemini"}
SETUP = {"chat": "setup.chat", "Responses": "setup.responses", "Gemini": "setup.gemini"}


def judge(name: str, got: Arrivals) -> str | None:
    """Why the stream looks buffered, or None when it streamed. Raises CheckSkipped when it cannot be told
    (too fast, or too few pieces from a coarse dialect) and CheckFailed when a token stream was coalesced."""
    what, times = f"long {name} stream", got.times
    least = MIN_EVENTS_COARSE if name in COARSE else MIN_EVENTS
    if len(times) < least:
        message = f"{what}: only {len(times)} content events; cannot judge buffering"
        if name in COARSE:
            raise CheckSkipped(message)
        raise CheckFailed(message + " (a token-by-token stream was coalesced)")
    if times[-1] - times[0] < TOO_FAST_S and times[-1] < TOO_FAST_S:
        raise CheckSkipped(f"{what}: the whole stream took {times[-1] * 1000:.0f} ms: too fast to tell buffering "
                           "apart")
    if got.q1 <= BURST_SHARE * times[-1]:
        return None
    return f"{what}: {got.describe()}: the stream is held back and sent in one burst"


@check("stream.unbuffered", "Streams are relayed as they are produced: a long chat, Responses and Gemini stream "
       "each spread their content over the stream's life instead of sending it in one burst at the end")
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
            burst = judge(name, STREAMS[name](ctx))
            if burst:
                # a stall as long as the stream (a cold upstream, a busy machine) may look like a burst once;
                # a buffering relay buffers every time
                burst = judge(name, STREAMS[name](ctx))
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
