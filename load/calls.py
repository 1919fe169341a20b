"""One logical call per function (a chat stream, an image, a whole video job), timed and recorded.

Every call is sent with `stream=True`, so the moment the headers are in (TTFB) is separate
from the moment the body is complete (E2E), streamed or not. Locust's own row for the HTTP
request (named after the call, e.g. "POST chat-stream") carries the time to headers and the
call's success; the metrics get their own rows (see recorder.py).
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

import gevent
import orjson
from geventhttpclient._parser import HTTPParseError  # HTTPConnectionClosed is one

from .samples import Sample
from .streams import StreamClock, perf, read_sse
from .workload import Turn

STREAM_ERRORS = (HTTPParseError, OSError, gevent.Timeout)


@dataclass(frozen=True)
class CallOptions:
    """What the calls send; filled from the command line (see options.py)."""

    api_key: str = ""
    chat_model: str = "gpt-4.1-mini"
    gemini_model: str = "gemini-2.5-flash"
    image_model: str = "gpt-image-1"
    video_model: str = "sora-2"
    prompt: str = "Write a story about a magic backpack."
    max_tokens: int = 32
    image_size: str = "1024x1024"
    video_seconds: str = "4"
    video_poll_s: float = 0.5
    video_timeout_s: float = 600.0


def _headers(opts: CallOptions, *, gemini: bool = False) -> dict[str, str]:
    # identity: a compressed event stream cannot be timed event by event
    h = {"Content-Type": "application/json", "Accept-Encoding": "identity"}
    if gemini:
        h["x-goog-api-key"] = opts.api_key
    else:
        h["Authorization"] = f"Bearer {opts.api_key}"
    return h


def _error_text(resp: Any) -> str:
    if resp.status_code == 0:
        err = getattr(resp, "error", None)
        return f"{type(err).__name__}: {err}" if err else "no response"
    try:
        body = resp.content[:300].decode("utf-8", "replace")
    except Exception as exc:  # the body itself failed: say how
        body = f"({type(exc).__name__})"
    return f"HTTP {resp.status_code}: {body}"


def stream(user: Any, name: str, path: str, body: dict[str, Any], dialect: str, *, gemini: bool = False,
           asked: int | None = None) -> Sample:
    """POST a streaming request and time its events."""
    opts: CallOptions = user.call_options
    t_wall, clock = time.time(), StreamClock(sent=perf())
    with user.client.request("POST", path, data=orjson.dumps(body), headers=_headers(opts, gemini=gemini),
                             stream=True, catch_response=True, name=name) as resp:
        clock.headers = perf()
        if resp.status_code != 200:
            sample = Sample(t_wall, name, False, ttfb=clock.ttfb_ms, error=_error_text(resp), asked=asked)
            resp.failure(sample.error)
            return user.record(sample)
        try:
            read_sse(resp._response, dialect, clock)  # the geventhttpclient response: see streams.py
        except STREAM_ERRORS as exc:
            clock.end, clock.error = perf(), f"stream broken: {type(exc).__name__}: {exc}"
            resp._response.release()
        if clock.error:
            resp.failure(clock.error)
        else:
            resp.success()
    return user.record(Sample(t_wall, name, clock.error is None, ttfb=clock.ttfb_ms, ttft=clock.ttft_ms,
                              itl=clock.itl_ms, stall=clock.stall_ms, e2e=clock.e2e_ms, tokens=clock.tokens,
                              error=clock.error, asked=asked))


def request(user: Any, name: str, method: str, path: str, body: dict[str, Any] | None = None,
            check: Any = None) -> tuple[Sample, Any]:
    """A plain request: TTFB at the headers, E2E once the body is read. `check(json)` returns
    (error or None, output tokens or None). Returns the sample and the parsed JSON body."""
    opts: CallOptions = user.call_options
    t_wall, sent = time.time(), perf()
    data = orjson.dumps(body) if body is not None else None
    parsed: Any = None
    with user.client.request(method, path, data=data, headers=_headers(opts), stream=True,
                             catch_response=True, name=name) as resp:
        ttfb = (perf() - sent) * 1000.0
        error, tokens = None, None
        if resp.status_code != 200:
            error = _error_text(resp)
        else:
            try:
                content = resp.content
                parsed = orjson.loads(content) if check is not None else content
            except STREAM_ERRORS as exc:
                error = f"body broken: {type(exc).__name__}: {exc}"
            except orjson.JSONDecodeError:
                error = "the body is not JSON"
            else:
                if check is not None:
                    error, tokens = check(parsed)
        e2e = (perf() - sent) * 1000.0
        if error:
            resp.failure(error)
        else:
            resp.success()
    sample = Sample(t_wall, name, error is None, ttfb=ttfb, e2e=e2e, tokens=tokens, error=error)
    return sample, parsed


def warm_up(user: Any) -> None:
    """One unrecorded request per user before its first timed one: a fresh process pays for name
    resolution, the connection and lazy imports on its first request (tens of ms here)."""
    with user.client.request("GET", "/v1/models", headers=_headers(user.call_options), catch_response=True,
                             name="warm-up") as resp:
        resp.success()


# -- the calls -------------------------------------------------------------------------------------

def _turn(user: Any, turn: Turn | None) -> Turn:
    """The request's messages and output length: the workload's turn, else --prompt and --max-tokens."""
    if turn is not None:
        return turn
    o: CallOptions = user.call_options
    return Turn(({"role": "user", "content": o.prompt},), o.max_tokens)


def chat_stream(user: Any, turn: Turn | None = None) -> Sample:
    o: CallOptions = user.call_options
    t = _turn(user, turn)
    body = {"model": o.chat_model, "stream": True, "stream_options": {"include_usage": True},
            "max_tokens": t.max_tokens, "messages": list(t.messages)}
    return stream(user, "chat-stream", "/v1/chat/completions", body, "chat", asked=t.max_tokens)


def _chat_check(obj: Any) -> tuple[str | None, int | None]:
    try:
        choice = obj["choices"][0]["message"]
        usage = obj.get("usage") or {}
    except (KeyError, IndexError, TypeError):
        return "the answer has no choices[0].message", None
    if not (choice.get("content") or choice.get("tool_calls")):
        return "the answer is empty", None
    tokens = usage.get("completion_tokens")
    return None, int(tokens) if tokens is not None else None


def chat(user: Any, turn: Turn | None = None) -> Sample:
    o: CallOptions = user.call_options
    t = _turn(user, turn)
    body = {"model": o.chat_model, "max_tokens": t.max_tokens, "messages": list(t.messages)}
    sample, _ = request(user, "chat", "POST", "/v1/chat/completions", body, _chat_check)
    sample.asked = t.max_tokens
    return user.record(sample)


def responses_stream(user: Any, turn: Turn | None = None) -> Sample:
    o: CallOptions = user.call_options
    t = _turn(user, turn)
    msgs = list(t.messages)
    # one user message goes as a plain string, as most callers send it; a conversation as input items
    given: Any = msgs[0]["content"] if len(msgs) == 1 else msgs
    body = {"model": o.chat_model, "stream": True, "max_output_tokens": t.max_tokens, "input": given}
    return stream(user, "responses-stream", "/v1/responses", body, "responses", asked=t.max_tokens)


def gemini_stream(user: Any, turn: Turn | None = None) -> Sample:
    o: CallOptions = user.call_options
    t = _turn(user, turn)
    contents = [{"role": "model" if m["role"] == "assistant" else "user", "parts": [{"text": m["content"]}]}
                for m in t.messages if m["role"] != "system"]
    body: dict[str, Any] = {"contents": contents, "generationConfig": {"maxOutputTokens": t.max_tokens}}
    system = [m["content"] for m in t.messages if m["role"] == "system"]
    if system:
        body["systemInstruction"] = {"parts": [{"text": "\n".join(system)}]}
    path = f"/v1beta/models/{o.gemini_model}:streamGenerateContent?alt=sse"
    return stream(user, "gemini-stream", path, body, "gemini", gemini=True, asked=t.max_tokens)


def converse(user: Any, call: Any) -> None:
    """The next conversation of the user's workload, turn by turn (each turn a request of its own,
    with the history before it); a failed turn ends the conversation."""
    for turn in user.workload.next():
        if not call(user, turn).ok:
            return


def _image_check(obj: Any) -> tuple[str | None, int | None]:
    data = obj.get("data") if isinstance(obj, dict) else None
    if not data or not (data[0].get("b64_json") or data[0].get("url")):
        return "the answer has no image", None
    return None, None


def image(user: Any) -> Sample:
    o: CallOptions = user.call_options
    body = {"model": o.image_model, "prompt": o.prompt, "size": o.image_size, "n": 1}
    sample, _ = request(user, "image", "POST", "/v1/images/generations", body, _image_check)
    return user.record(sample)


def _video_check(obj: Any) -> tuple[str | None, int | None]:
    if not isinstance(obj, dict) or not obj.get("id") or obj.get("status") not in (
            "queued", "in_progress", "completed", "failed"):
        return "not a Video object", None
    if obj["status"] == "failed":
        return f"the video job failed: {obj.get('error')}", None
    return None, None


def video(user: Any) -> Sample:
    """create -> poll until completed -> download: E2E is the time to a downloaded video."""
    o: CallOptions = user.call_options
    body = {"model": o.video_model, "prompt": o.prompt, "seconds": o.video_seconds}
    t_wall, sent = time.time(), perf()
    created, job = request(user, "video-create", "POST", "/v1/videos", body, _video_check)
    if not created.ok:
        return user.record(Sample(t_wall, "video", False, ttfb=created.ttfb, error=created.error))
    deadline = sent + o.video_timeout_s
    while job.get("status") != "completed":
        if perf() > deadline:
            return user.record(Sample(t_wall, "video", False, ttfb=created.ttfb,
                                      error=f"not completed after {o.video_timeout_s:.0f}s"))
        gevent.sleep(o.video_poll_s)
        polled, job = request(user, "video-poll", "GET", f"/v1/videos/{job['id']}", None, _video_check)
        if not polled.ok:
            return user.record(Sample(t_wall, "video", False, ttfb=created.ttfb, error=polled.error))
    got, content = request(user, "video-content", "GET", f"/v1/videos/{job['id']}/content")
    content = content or b""
    error = got.error or (None if content[4:8] == b"ftyp" else "the content is not an MP4")  # ISO BMFF box
    return user.record(Sample(t_wall, "video", error is None, ttfb=created.ttfb,
                              e2e=(perf() - sent) * 1000.0, error=error))
