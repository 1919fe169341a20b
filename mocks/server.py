"""What every mock server shares: request counting, faults, pacing, control API, errors.

A provider module (openai_app, gemini_app, sora_app) subclasses `MockServer`, lists its
routes and says which error dialect it speaks. Everything else lives here, so the three
servers behave alike: `x-mock-node` on every response, `/_mock/stats|config|reset`,
deterministic fault selection from (seed, request counter), and token pacing against
absolute deadlines so that TTFT and ITL hold under load.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import logging
import socket
import struct
import time
from collections import Counter
from collections.abc import AsyncIterator, Iterable
from dataclasses import dataclass
from typing import Any
from urllib.parse import unquote

import orjson
from jsonschema.exceptions import best_match
from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response, StreamingResponse
from starlette.routing import BaseRoute, Route

from specs import errors as wire_errors
from specs import sse
from specs.documents import schema_names
from specs.validate import is_valid, validator

from .serving import ARRIVED
from .settings import Fault, Settings, SettingsError
from .textgen import digest, unit

CONFIG_HEADER = "x-mock-config"  # per-request settings, JSON, same names as /_mock/config
NODE_HEADER = "x-mock-node"

log = logging.getLogger("mocks")


class ConnectionReset(Exception):
    """Raised in-process where no socket exists to reset (see mocks.offline)."""


class ApiError(Exception):
    """A client-facing error; rendered in the server's dialect."""

    def __init__(self, status: int, message: str, *, param: str | None = None, code: str | None = None,
                 headers: dict[str, str] | None = None) -> None:
        super().__init__(message)
        self.status, self.message, self.param, self.code = status, message, param, code
        self.headers = headers or {}


@dataclass
class Frame:
    """One piece of a streamed body. `token` frames are paced; the others go out at once."""

    data: bytes
    token: bool = False


class Ctx:
    """Per-request state: the request number, its settings, and its fault (if it drew one)."""

    __slots__ = ("server", "n", "settings", "fault", "t0", "transport", "model", "ttft_ms")

    def __init__(self, server: MockServer, n: int, settings: Settings, fault: Fault | None,
                 t0: float, transport: Any, others_in_flight: int = 0) -> None:
        self.server, self.n, self.settings, self.fault = server, n, settings, fault
        self.t0, self.transport, self.model = t0, transport, None
        self.ttft_ms = settings.ttft_ms + settings.ttft_per_stream_ms * others_in_flight

    # -- ids and time, derived from the seed and the counter --------------------------------
    def ident(self, prefix: str, length: int = 24) -> str:
        return prefix + digest(self.settings.seed, self.server.node_name, self.n, prefix).hex()[:length]

    @property
    def created(self) -> int:
        return self.server.epoch + self.n

    # -- faults that act on the connection --------------------------------------------------
    def reset_connection(self) -> None:
        """Close with a TCP RST (SO_LINGER 0); in-process, raise ConnectionReset."""
        if self.transport is None:
            raise ConnectionReset("mock fault: connection reset")
        sock = self.transport.get_extra_info("socket")
        if sock is not None:
            with contextlib.suppress(OSError):  # already closed by the peer
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        self.transport.abort()

    # -- responses -----------------------------------------------------------------------------
    def json(self, obj: Any, status: int = 200, headers: dict[str, str] | None = None) -> Response:
        """A JSON body, subject to this request's cut/malformed fault."""
        body = orjson.dumps(obj)
        fault = self.fault
        if status == 200 and fault is not None:
            if fault.kind == "malformed":
                body = body[: max(1, len(body) // 2)] + b"\x00}{"
            elif fault.kind == "cut":
                return StreamingResponse(self._cut_body(body), media_type="application/json", headers=headers)
        return Response(body, status, headers=headers, media_type="application/json")

    async def _cut_body(self, body: bytes) -> AsyncIterator[bytes]:
        yield body[: len(body) // 2]
        self.reset_connection()

    async def wait_tokens(self, n_tokens: int) -> None:
        """A non-streamed answer is ready when its last token would have been streamed."""
        s = self.settings
        delay = (self.ttft_ms + s.itl_ms * max(n_tokens - 1, 0)) / 1000
        if self.fault is not None and self.fault.kind == "slow":
            delay += self.fault.slow_itl_ms * max(n_tokens - 1, 0) / 1000
        if delay > 0:
            await asyncio.sleep(max(0.0, self.t0 + delay - asyncio.get_running_loop().time()))

    def stream(self, frames: Iterable[Frame], media_type: str = sse.MEDIA_TYPE) -> StreamingResponse:
        return StreamingResponse(self._paced(frames), media_type=media_type,
                                 headers={"cache-control": "no-cache", "x-accel-buffering": "no"})

    async def _paced(self, frames: Iterable[Frame]) -> AsyncIterator[bytes]:
        """Send token frames on absolute deadlines: t0 + ttft + k * itl * tokens_per_chunk (+ jitter).

        Absolute deadlines keep errors from adding up over a long stream, and a loaded
        event loop catches up instead of drifting.
        """
        s, fault, loop = self.settings, self.fault, asyncio.get_running_loop()
        interval = s.itl_ms * s.tokens_per_chunk / 1000
        deadline = self.t0 + self.ttft_ms / 1000
        k = sent = 0
        transport = self.transport
        for frame in frames:
            if transport is not None and transport.is_closing():
                return  # the client went away: stop pacing a stream nobody reads
            if fault is not None and sent >= fault.after_chunks:
                if fault.kind == "cut":
                    self.reset_connection()
                    return
                if fault.kind == "malformed" and sent == fault.after_chunks:
                    yield b'data: {"id": "broken", "choices": [{"delta": \n\n'
                    sent += 1
            if frame.token:
                if k > 0:
                    slow = fault is not None and fault.kind == "slow" and sent >= fault.after_chunks
                    deadline += fault.slow_itl_ms / 1000 if slow else interval
                due = deadline
                if s.jitter_ms:
                    due += (unit(s.seed, "jitter", self.n, k) * 2 - 1) * s.jitter_ms / 1000
                delay = due - loop.time()
                if delay > 0:
                    await asyncio.sleep(delay)
                k += 1
            yield frame.data
            sent += 1


class Turnstile:
    """Lets one request at a time start its work, one per turn of the event loop.

    A request's clock starts when its bytes are parsed (mocks.serving.ArrivalStampedHttp), but
    the loop parses only between turns: left alone, it runs every request it read in one go
    (~0.2 ms each), and the requests that arrive meanwhile wait in the socket, unparsed, their
    clocks not started: a burst of 200 streams started them up to ~20 ms late. Letting one
    request through per turn means the loop polls its sockets between any two, so every
    request is stamped within one request's work of its arrival. A request that finds no queue
    goes straight through."""

    __slots__ = ("busy", "waiting")

    def __init__(self) -> None:
        self.busy = False
        self.waiting: collections.deque[asyncio.Future[None]] = collections.deque()

    async def enter(self) -> None:
        loop = asyncio.get_running_loop()
        if self.busy:
            fut = loop.create_future()
            self.waiting.append(fut)
            await fut
        self.busy = True
        loop.call_soon(self._next)  # runs after the loop's next poll

    def _next(self) -> None:
        while self.waiting:
            fut = self.waiting.popleft()
            if not fut.done():
                fut.set_result(None)
                return
        self.busy = False


class MockServer:
    """Base of the three mock servers. `.app` is the ASGI application."""

    dialect = "openai"  # error shape: "openai" or "gemini"
    spec = "openai"  # the specs/ document whose request schemas this server enforces
    default_node_name = "mock"
    epoch = 1_767_225_600  # 2026-01-01: `created` = epoch + request number

    def __init__(self, settings: Settings | None = None, **changes: Any) -> None:
        self._turnstile = Turnstile()
        base = settings or Settings(node_name=self.default_node_name)
        self.initial = base.updated(changes) if changes else base
        self.initial.validate()
        self.in_flight = 0  # requests being answered now; a reset does not end them, so it keeps this
        self.reset()
        self.app = Starlette(
            routes=[*self.routes(), *self._control_routes()],
            exception_handlers={HTTPException: self._http_error, ApiError: self._api_error,
                                Exception: self._crash},
        )
        self.warm_up()

    # -- to be provided by the provider modules -----------------------------------------------
    def routes(self) -> list[BaseRoute]:
        raise NotImplementedError

    def reset_state(self) -> None:
        """Forget stored objects (responses, video jobs); called by reset()."""

    # -- state -----------------------------------------------------------------------------------
    @property
    def node_name(self) -> str:
        return self.settings.node_name

    def reset(self) -> None:
        self.settings = self.initial
        self.counter = 0
        self.by_endpoint: Counter[str] = Counter()
        self.by_model: Counter[str] = Counter()
        self.by_status: Counter[str] = Counter()
        self.reset_state()

    def stats(self) -> dict[str, Any]:
        return {"node": self.node_name, "requests_total": self.counter, "in_flight": self.in_flight,
                "by_endpoint": dict(self.by_endpoint), "by_model": dict(self.by_model),
                "by_status": dict(self.by_status)}

    def warm_up(self) -> None:
        """Load the spec and build its request validators (at construction, however the mock is then
        served): the first request would otherwise pay for them, enough to burst out that stream's paced
        tokens (their deadlines would have passed). The validators are cached per process."""
        for name in schema_names(self.spec):
            if name.endswith("Request"):
                validator(self.spec, name)
                is_valid(self.spec, name, {})  # compiles it

    def count_model(self, ctx: Ctx, model: str) -> None:
        if ctx.model is None:
            ctx.model = model
            self.by_model[model] += 1

    # -- errors ----------------------------------------------------------------------------------
    def error_body(self, status: int, message: str, param: str | None = None, code: str | None = None) -> bytes:
        if self.dialect == "gemini":
            return orjson.dumps(wire_errors.gemini_error(status, message))
        return orjson.dumps(wire_errors.openai_error(status, message, param=param, code=code))

    def error(self, status: int, message: str, param: str | None = None, code: str | None = None,
              headers: dict[str, str] | None = None) -> Response:
        return Response(self.error_body(status, message, param, code), status, headers=headers,
                        media_type="application/json")

    async def _api_error(self, request: Request, exc: Exception) -> Response:
        assert isinstance(exc, ApiError)
        return self.error(exc.status, exc.message, exc.param, exc.code, exc.headers)

    async def _http_error(self, request: Request, exc: Exception) -> Response:
        assert isinstance(exc, HTTPException)
        if exc.status_code == 404:
            msg = f"Unknown route: {request.method} {request.url.path}"
        elif exc.status_code == 405:
            msg = f"Method {request.method} is not allowed on {request.url.path}"
        else:
            msg = str(exc.detail)
        return self.error(exc.status_code, msg, code="unknown_url" if exc.status_code == 404 else None,
                          headers=dict(exc.headers) if exc.headers else None)

    async def _crash(self, request: Request, exc: Exception) -> Response:
        # never a stack trace in a body; the server log has it
        return self.error(500, f"mock internal error: {type(exc).__name__}")

    # -- request helpers -------------------------------------------------------------------------
    async def json_body(self, request: Request) -> dict[str, Any]:
        raw = await request.body()
        if not raw.strip():
            raise ApiError(400, "The request body is empty; a JSON object is required.")
        try:
            body = orjson.loads(raw)
        except orjson.JSONDecodeError as exc:
            raise ApiError(400, f"The request body is not valid JSON: {exc}") from None
        if not isinstance(body, dict):
            raise ApiError(400, "The request body must be a JSON object.")
        return body

    def check_request(self, body: Any, schema: str) -> None:
        """400 naming the first field that breaks the request schema of our spec. A valid body costs
        a couple of microseconds (compiled validator); only a refused one pays for jsonschema's
        best match, which names the field."""
        if is_valid(self.spec, schema, body):
            return
        found = _first_error(self.spec, schema, body)
        if found is not None:
            where, message = found
            raise ApiError(400, f"Invalid request: {where or 'body'}: {message}", param=where or None,
                           code="invalid_value")

    # -- ASGI ---------------------------------------------------------------------------------------
    async def __call__(self, scope, receive, send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        node = (NODE_HEADER.encode(), self.node_name.encode())
        if scope["path"].startswith("/_mock/"):
            async def send_tagged(message) -> None:  # the control API names the node too
                if message["type"] == "http.response.start":
                    message["headers"] = [*message.get("headers", []), node]
                await send(message)

            await self.app(scope, receive, send_tagged)
            return
        if not _has_key(scope):
            # the real upstreams refuse anonymous calls (conformance's ignored_auth check relies on it)
            status, msg = ((403, "Method doesn't allow unregistered callers: send an API key (x-goog-api-key)")
                           if self.dialect == "gemini" else
                           (401, "You didn't provide an API key. Send it as 'Authorization: Bearer KEY'."))
            await self._send_error(send, status, msg, headers={NODE_HEADER: self.node_name})
            return
        if self.settings.api_key and _key_of(scope) != self.settings.api_key:
            # the real answers to a wrong key (Gemini's is a 400, not a 401)
            status, msg, code = ((400, "API key not valid. Please pass a valid API key.", None)
                                 if self.dialect == "gemini" else
                                 (401, "Incorrect API key provided.", "invalid_api_key"))
            await self._send_error(send, status, msg, headers={NODE_HEADER: self.node_name}, code=code)
            return
        self.counter += 1
        n = self.counter
        self.by_endpoint[scope["path"]] += 1
        finished = False

        async def send_wrapper(message) -> None:
            nonlocal finished
            if message["type"] == "http.response.start":
                self.by_status[str(message["status"])] += 1
                message["headers"] = [*message.get("headers", []), node]
            elif not message.get("more_body", False):
                finished = True
            await send(message)

        settings = self.settings
        for name, value in scope["headers"]:
            if name == CONFIG_HEADER.encode():
                try:
                    settings = settings.updated(orjson.loads(value))
                except (SettingsError, orjson.JSONDecodeError) as exc:
                    await self._send_error(send_wrapper, 400, f"bad {CONFIG_HEADER} header: {exc}")
                    return
        f = settings.fault
        fault = f if f.rate > 0 and unit(settings.seed, "fault", n) < f.rate else None
        loop = asyncio.get_running_loop()
        transport = getattr(getattr(send, "__self__", None), "transport", None)
        t0 = loop.time()
        arrived = scope.get(ARRIVED)
        if arrived is not None:  # the request's clock starts when it came in, not when its turn came
            t0 -= max(0.0, time.monotonic() - arrived)
        ctx = Ctx(self, n, settings, fault, t0, transport, self.in_flight)
        scope["mock"] = ctx
        if transport is not None:
            # ASGI 2.4 lets Starlette stream in this task instead of a task group (a new task per
            # stream, queued behind every other request, plus a disconnect listener): ~15% less
            # work per stream. A stream notices a gone client itself (see _paced).
            scope["asgi"] = {**scope.get("asgi", {}), "spec_version": "2.4"}
            await self._turnstile.enter()
        self.in_flight += 1
        try:
            if fault is not None and fault.kind in ("status", "hang", "reset"):
                if fault.kind == "status":
                    headers = {"retry-after": "1"} if fault.status == 429 else None
                    await self._send_error(send_wrapper, fault.status, f"mock fault: injected {fault.status}",
                                           headers=headers)
                    return
                if fault.kind == "reset":
                    ctx.reset_connection()
                    await asyncio.sleep(0)  # let the server see the disconnect (else it logs a missing response)
                    return
                # hang: answer after hang_s, or never
                await asyncio.sleep(fault.hang_s if fault.hang_s > 0 else 10**9)
                ctx.fault = None
            await self.app(scope, receive, send_wrapper)
        except ConnectionReset:
            raise
        except Exception:
            if not finished:
                raise
            # Starlette's error middleware re-raises after sending our 500; uvicorn would then
            # close the keep-alive connection under the client's next request. Log it instead.
            log.exception("mock %s: unhandled error on %s %s", self.node_name, scope["method"], scope["path"])
        finally:
            self.in_flight -= 1

    async def _send_error(self, send, status: int, message: str, headers: dict[str, str] | None = None,
                          code: str | None = None) -> None:
        body = self.error_body(status, message, code=code)
        raw_headers = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]
        raw_headers += [(k.encode(), v.encode()) for k, v in (headers or {}).items()]
        await send({"type": "http.response.start", "status": status, "headers": raw_headers})
        await send({"type": "http.response.body", "body": body})

    # -- control API ------------------------------------------------------------------------------
    def _control_routes(self) -> list[BaseRoute]:
        async def stats(request: Request) -> Response:
            return Response(orjson.dumps(self.stats()), media_type="application/json")

        async def config(request: Request) -> Response:
            if request.method == "POST":
                try:
                    self.settings = self.settings.updated(await self.json_body(request))
                except SettingsError as exc:
                    raise ApiError(400, str(exc)) from None
            return Response(orjson.dumps(self.settings.to_dict()), media_type="application/json")

        async def reset(request: Request) -> Response:
            self.reset()
            return Response(orjson.dumps({"reset": True, "node": self.node_name}), media_type="application/json")

        return [Route("/_mock/stats", stats, methods=["GET"]),
                Route("/_mock/config", config, methods=["GET", "POST"]),
                Route("/_mock/reset", reset, methods=["POST"])]


def _first_error(spec: str, schema: str, body: Any) -> tuple[str, str] | None:
    """(where, message) of the most relevant violation, or None."""
    err = best_match(validator(spec, schema).iter_errors(body))
    if err is None:
        return None
    where = "".join(f"[{p}]" if isinstance(p, int) else f".{p}" for p in err.absolute_path).lstrip(".")
    return where, err.message if len(err.message) <= 300 else err.message[:297] + "..."


_KEY_HEADERS = (b"authorization", b"x-api-key", b"x-goog-api-key")


def _has_key(scope) -> bool:
    """Any non-empty key will do: the mocks check that one is sent, not which."""
    for name, value in scope["headers"]:
        if name in _KEY_HEADERS and value.strip() and value.strip().lower() != b"bearer":
            return True
    qs = scope.get("query_string", b"")
    return b"key=" in qs and any(p.startswith(b"key=") and len(p) > 4 for p in qs.split(b"&"))


def _key_of(scope) -> str | None:
    """The key as sent: `Authorization: Bearer K` (or bare), x-api-key, x-goog-api-key, or ?key=."""
    for name, value in scope["headers"]:
        if name in _KEY_HEADERS and value.strip():
            text = value.decode("latin-1").strip()
            return text[7:].strip() if name == b"authorization" and text.lower().startswith("bearer ") else text
    for part in scope.get("query_string", b"").split(b"&"):
        if part.startswith(b"key="):
            return unquote(part[4:].decode("latin-1"))
    return None


def ctx_of(request: Request) -> Ctx:
    return request.scope["mock"]
