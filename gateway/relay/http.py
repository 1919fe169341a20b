"""The raw ASGI side of the relay: the parsed request and the ways to answer it."""

from __future__ import annotations

import asyncio
import contextlib
from typing import Any
from urllib.parse import parse_qs

import orjson

from .errors import RelayError

JSON_HEADERS = [(b"content-type", b"application/json")]


def normalise_path(path: str) -> str:
    """`//v1/images/edits` -> `/v1/images/edits`; a trailing slash is dropped."""
    if "//" in path:
        while "//" in path:
            path = path.replace("//", "/")
    if len(path) > 1 and path.endswith("/"):
        path = path[:-1]
    return path


class Req:
    """One client request: what the handlers read, and how they answer."""

    __slots__ = ("scope", "receive", "send", "method", "path", "params", "dialect", "headers", "body",
                 "_query", "started", "finished", "status", "disconnected", "request_id", "before_end")

    def __init__(self, scope: dict[str, Any], receive: Any, send: Any, path: str, params: dict[str, str],
                 dialect: str) -> None:
        self.scope, self.receive, self.send = scope, receive, send
        self.method: str = scope["method"]
        self.path, self.params, self.dialect = path, params, dialect
        self.headers: dict[bytes, bytes] = dict(scope["headers"])  # lower-case names (ASGI)
        self.body = b""
        self._query: dict[str, list[str]] | None = None
        self.started = self.finished = False
        self.status = 0
        self.disconnected = False
        self.request_id: str | None = None  # sent as x-request-id: the usage record's request_id
        self.before_end: Any = None  # called right before the last byte (the quota's spend, see controller)

    def header(self, name: bytes) -> str | None:
        v = self.headers.get(name)
        return v.decode("latin-1") if v is not None else None

    @property
    def query(self) -> dict[str, list[str]]:
        if self._query is None:
            qs = self.scope.get("query_string", b"")
            self._query = parse_qs(qs.decode("latin-1"), keep_blank_values=True) if qs else {}
        return self._query

    def query_value(self, name: str) -> str | None:
        v = self.query.get(name)
        return v[-1] if v else None

    async def read_body(self, limit: int) -> bytes:
        chunks = []
        size = 0
        while True:
            msg = await self.receive()
            if msg["type"] == "http.disconnect":
                self.disconnected = True
                raise asyncio.CancelledError("client went away before its request was read")
            chunk = msg.get("body", b"")
            size += len(chunk)
            if size > limit:
                raise RelayError(413, f"request body larger than {limit} bytes")
            chunks.append(chunk)
            if not msg.get("more_body"):
                break
        self.body = chunks[0] if len(chunks) == 1 else b"".join(chunks)
        return self.body

    def json(self) -> dict[str, Any]:
        if not self.body.strip():
            raise RelayError(400, "the request body is empty: a JSON object is required")
        try:
            obj = orjson.loads(self.body)
        except orjson.JSONDecodeError as exc:
            raise RelayError(400, f"the request body is not valid JSON: {exc}") from None
        if not isinstance(obj, dict):
            raise RelayError(400, "the request body must be a JSON object")
        return obj

    # -- answering ------------------------------------------------------------------------------------
    async def start(self, status: int, headers: list[tuple[bytes, bytes]]) -> None:
        self.started = True
        self.status = status
        if self.request_id:
            headers = [*headers, (b"x-request-id", self.request_id.encode())]
        await self.send({"type": "http.response.start", "status": status, "headers": headers})

    async def write(self, data: bytes) -> None:
        await self.send({"type": "http.response.body", "body": data, "more_body": True})

    async def end(self, data: bytes = b"") -> None:
        if self.before_end is not None:
            hook, self.before_end = self.before_end, None
            hook()
        self.finished = True
        await self.send({"type": "http.response.body", "body": data, "more_body": False})

    async def respond(self, status: int, body: bytes, headers: list[tuple[bytes, bytes]] | None = None) -> None:
        hs = headers if headers is not None else JSON_HEADERS
        await self.start(status, [*hs, (b"content-length", str(len(body)).encode())])
        await self.end(body)

    async def respond_json(self, status: int, obj: Any, extra: list[tuple[bytes, bytes]] | None = None) -> None:
        await self.respond(status, orjson.dumps(obj), [*JSON_HEADERS, *(extra or [])])


class DisconnectWatch:
    """Cancels the request's task when the client goes away, so that the upstream call is cancelled
    too. The watching task starts only once the request has run `after_s`: most answers are done
    sooner, and a task per request was a measurable share of the gateway's time."""

    __slots__ = ("req", "task", "timer", "watcher")

    def __init__(self, req: Req, task: asyncio.Task, after_s: float) -> None:
        self.req, self.task = req, task
        self.watcher: asyncio.Task | None = None
        self.timer = asyncio.get_running_loop().call_later(after_s, self._start)

    def _start(self) -> None:
        self.watcher = asyncio.create_task(watch_disconnect(self.req, self.task))

    def stop(self) -> None:
        self.timer.cancel()
        if self.watcher is not None:
            self.watcher.cancel()


async def watch_disconnect(req: Req, task: asyncio.Task) -> None:
    with contextlib.suppress(asyncio.CancelledError):
        while True:
            msg = await req.receive()
            if msg["type"] == "http.disconnect":
                if not req.finished:
                    req.disconnected = True
                    task.cancel()
                return
