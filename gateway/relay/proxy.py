"""Sending a request upstream with failover, and relaying the answer back.

Failover happens only before the client has seen a byte: connect errors, timeouts,
429 and 5xx (and a node that refuses its own key: 401/403) move on to the next node of
the plan. A JSON answer is read whole inside the attempt; a stream's first chunk is
read inside the attempt too, so a node that dies before its first byte is skipped as
well. After the first byte an upstream failure becomes an error event in the client's
dialect and the stream ends.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import aiohttp
import orjson

from .. import upstream
from ..routing import Target
from . import errors
from .call import Call
from .errors import RelayError
from .http import Req
from .meters import BrokenStream, Meter, load_json

if TYPE_CHECKING:
    from .context import RelayContext

NODE_FAULT_STATUSES = upstream.RETRY_STATUSES | {401, 403}
STREAM_HEADERS = [(b"cache-control", b"no-cache"), (b"x-accel-buffering", b"no")]


@dataclass
class Outbound:
    """What to send to one node."""

    method: str
    path: str
    body: Any = None  # bytes, aiohttp.FormData or None
    headers: dict[str, str] = field(default_factory=dict)


_UNPARSED = object()


@dataclass
class Answer:
    target: Target
    response: aiohttp.ClientResponse
    body: bytes  # the whole body (JSON mode) or the first chunk (stream mode)
    parsed: Any = _UNPARSED  # the body's JSON, parsed once (in send() for a 200 JSON answer)

    def json(self) -> Any:
        """The body as JSON, None when it is not JSON (a node's non-JSON error page)."""
        if self.parsed is _UNPARSED:
            self.parsed = load_json(self.body)
        return self.parsed


async def send(ctx: RelayContext, call: Call, targets: list[Target], build: Callable[[Target], Outbound], *,
               stream: bool = False) -> Answer:
    """Try the targets in order until one answers; raise RelayError when none does."""
    if not targets:
        raise RelayError(503, f"No upstream node is available for `{call.model}` right now",
                         code="no_available_node", outcome="upstream_error")
    problems: list[str] = []
    retry_after: str | None = None
    all_429 = True
    for target in targets[: ctx.max_attempts]:
        if not ctx.router.acquire(target):
            continue
        call.attempts += 1
        call.node = target.name
        out = build(target)
        headers = {**out.headers, **upstream.auth_headers(target), "accept-encoding": "identity"}
        resp: aiohttp.ClientResponse | None = None
        try:
            resp = await ctx.client.request(out.method, upstream.url(target, out.path), data=out.body,
                                            headers=headers)
            if resp.status in NODE_FAULT_STATUSES:
                detail = (await resp.read())[:300].decode("utf-8", "replace")
                all_429 &= resp.status == 429
                if resp.status == 429:
                    retry_after = resp.headers.get("retry-after", retry_after)
                problems.append(f"{target.name}: HTTP {resp.status} {detail}")
                resp.release()
                ctx.router.failure(target)
                continue
            parsed = _UNPARSED
            if stream and resp.status == 200:
                first = await _first_chunk(resp)
            else:
                first = await resp.read()
                if resp.status == 200 and _is_json(resp):
                    try:  # parsed here once: a broken body is a node failure, and the handler reads usage
                        parsed = orjson.loads(first)
                    except orjson.JSONDecodeError:
                        raise aiohttp.ClientPayloadError("the node sent a broken JSON body") from None
        except upstream.TRANSPORT_ERRORS as exc:
            all_429 = False
            problems.append(f"{target.name}: {type(exc).__name__} {exc}".strip())
            if resp is not None:
                resp.close()
            ctx.router.failure(target)
            continue
        except asyncio.CancelledError:
            if resp is not None:
                resp.close()
            ctx.router.abandon(target)
            raise
        if resp.status < 500:
            ctx.router.success(target)
        else:  # a 5xx relayed as is (501, 505...): no verdict, but a half-open probe slot is freed
            ctx.router.abandon(target)
        return Answer(target, resp, first, parsed)
    summary = "; ".join(problems) or "every node serving it is paused by its circuit breaker"
    if problems and all_429:
        raise RelayError(429, f"Every upstream node is rate limited: {summary}", code="upstream_rate_limited",
                         headers={"retry-after": retry_after or "1"}, outcome="upstream_error")
    raise RelayError(502 if problems else 503, f"No upstream node could answer: {summary}",
                     code="upstream_error", outcome="upstream_error")


async def _first_chunk(resp: aiohttp.ClientResponse) -> bytes:
    chunk = await resp.content.readany()
    if not chunk and resp.content.at_eof():
        raise aiohttp.ClientPayloadError("the node closed the stream before its first byte")
    return chunk


def _is_json(resp: aiohttp.ClientResponse) -> bool:
    return resp.headers.get("content-type", "").startswith("application/json")


def passthrough_headers(resp: aiohttp.ClientResponse, *, stream: bool = False) -> list[tuple[bytes, bytes]]:
    hs = [(b"content-type", resp.headers.get("content-type", "application/json").encode("latin-1"))]
    for name in ("retry-after", "content-disposition", "openai-poll-after-ms"):
        v = resp.headers.get(name)
        if v:
            hs.append((name.encode(), v.encode("latin-1")))
    return hs + STREAM_HEADERS if stream else hs


async def relay_stream(ctx: RelayContext, req: Req, call: Call, answer: Answer, meter: Meter, dialect: str, *,
                       content_type: bytes | None = None) -> None:
    """Forward the stream event by event; on a mid-stream failure, end it with an error event.
    `content_type`: the client's, when the stream is converted from another dialect."""
    resp = answer.response
    call.status = resp.status
    headers = passthrough_headers(resp, stream=True)
    if content_type is not None:
        headers[0] = (b"content-type", content_type)
    await req.start(resp.status, headers)
    try:
        chunk = answer.body
        while chunk:
            out, first = meter.feed(chunk)
            if first:
                call.mark_first_token()
            if out:
                await req.write(out)
            if meter.broken:
                raise BrokenStream(meter.broken)
            chunk = await resp.content.readany()
        tail = meter.finish()
        if not meter.complete:  # an unfinished last event is dropped: the error event follows cleanly
            raise aiohttp.ClientPayloadError("the node ended the stream before it was complete")
        if tail:
            await req.write(tail)
        if meter.upstream_error:
            call.fail(resp.status, "upstream_error", meter.upstream_error)
    except (*upstream.TRANSPORT_ERRORS, BrokenStream) as exc:
        ctx.router.failure(answer.target)
        message = f"The upstream node failed in the middle of the stream ({_reason(exc)})"
        call.fail(resp.status, "upstream_error" if isinstance(exc, BrokenStream) else "cut", message)
        await req.write(meter.error_tail(errors.stream_event(dialect, message, sequence_number=meter.events)))
    finally:
        resp.close()
        _take_usage(call, meter)
    await req.end()


def _reason(exc: BaseException) -> str:
    """A short cause for the client: aiohttp's messages carry nested reprs."""
    if isinstance(exc, BrokenStream):
        return str(exc)
    if isinstance(exc, TimeoutError):
        return "no data within the read timeout"
    if isinstance(exc, aiohttp.ClientPayloadError):
        return "connection closed before the end of the answer"
    return type(exc).__name__


def _take_usage(call: Call, meter: Meter) -> None:
    if meter.has_usage:
        call.prompt_tokens, call.completion_tokens = meter.prompt_tokens, meter.completion_tokens
    else:  # cut or cancelled: bill what was delivered (one output event carries at least one token)
        call.completion_tokens = meter.output_events


async def relay_body(req: Req, call: Call, answer: Answer, body: bytes | None = None) -> None:
    call.status = answer.response.status
    if call.status >= 400:  # the node's own refusal: its message goes into the usage record
        call.error = answer.body[:500].decode("utf-8", "replace")
    await req.respond(answer.response.status, answer.body if body is None else body,
                      passthrough_headers(answer.response))
