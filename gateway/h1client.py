"""A lean HTTP/1.1 client for the relay's hot path: a bytes body out, status, headers and the
body (whole or chunk by chunk) back, over pooled keep-alive connections.

Why not aiohttp here: per request, `ClientSession.request` spent ~150 µs of CPU more than an
asyncio protocol with httptools' parser doing the same exchange (measured against the mock,
docs/PERFORMANCE.md); that was most of the gateway's own cost. aiohttp stays for everything
else (multipart bodies, downloads): `upstream.py` picks.

The response object answers the part of aiohttp's `ClientResponse` the relay uses (`status`,
`headers.get`, `read()`, `content.readany()`, `content.at_eof()`, `release()`, `close()`), and
failures raise aiohttp's exception types, so failover treats both clients alike:
connection problems `ClientConnectionError`/`ClientOSError`, an answer cut short or not HTTP
`ClientPayloadError`, silence past the read timeout `TimeoutError`.
"""

from __future__ import annotations

import asyncio
import collections
import ssl
import time
from typing import Any
from urllib.parse import urlsplit

import aiohttp
import httptools

BUFFER_HIGH = 256 * 1024  # stop reading from the socket above this much unread body
_TLS: ssl.SSLContext | None = None


def _tls() -> ssl.SSLContext:
    global _TLS
    if _TLS is None:
        _TLS = ssl.create_default_context()
    return _TLS


class Headers(dict[str, str]):
    """Response headers by lower-case name (repeated headers joined with ", ")."""

    def get(self, name: str, default: Any = None) -> Any:  # type: ignore[override]
        return dict.get(self, name.lower(), default)


class _Conn(asyncio.Protocol):
    """One keep-alive connection; one exchange at a time."""

    def __init__(self, loop: asyncio.AbstractEventLoop, read_timeout_s: float) -> None:
        self.loop = loop
        self.read_timeout_s = read_timeout_s
        self.transport: asyncio.Transport | None = None
        self.parser = httptools.HttpResponseParser(self)
        self.closed = False
        self.idle_since = 0.0
        self._reset()

    def _reset(self) -> None:
        self.status = 0
        self.headers = Headers()
        self.headers_done = False
        self.complete = False
        self.keep_alive = False
        self.got_bytes = False  # any byte of the answer: a stale pooled connection has none
        self.chunks: collections.deque[bytes] = collections.deque()
        self.buffered = 0
        self.paused = False
        self.error: BaseException | None = None
        self.waiter: asyncio.Future | None = None

    # -- asyncio.Protocol ----------------------------------------------------------------------------
    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]

    def data_received(self, data: bytes) -> None:
        self.got_bytes = True
        try:
            self.parser.feed_data(data)
        except httptools.HttpParserError as exc:
            self._fail(aiohttp.ClientPayloadError(f"the node's answer is not valid HTTP/1.1: {exc}"))
            self.close()

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed = True
        if self.complete:
            return
        if self.headers_done and self._ends_at_close() and exc is None:
            self.complete = True  # a body delimited by the end of the connection
            self._wake()
        elif not self.got_bytes:
            self._fail(aiohttp.ServerDisconnectedError("the node closed the connection without answering"))
        else:
            self._fail(aiohttp.ClientPayloadError("the node closed the connection before the end of its answer"))

    def pause_writing(self) -> None:  # request bodies are small and written at once
        pass

    def resume_writing(self) -> None:
        pass

    # -- httptools callbacks ---------------------------------------------------------------------------
    def on_header(self, name: bytes, value: bytes) -> None:
        key = name.decode("latin-1").lower()
        text = value.decode("latin-1")
        self.headers[key] = f"{self.headers[key]}, {text}" if key in self.headers else text

    def on_headers_complete(self) -> None:
        self.status = self.parser.get_status_code()
        self.headers_done = True
        self._wake()

    def on_body(self, body: bytes) -> None:
        self.chunks.append(body)
        self.buffered += len(body)
        if self.buffered > BUFFER_HIGH and not self.paused and self.transport is not None:
            self.paused = True
            self.transport.pause_reading()
        self._wake()

    def on_message_complete(self) -> None:
        self.keep_alive = self.parser.should_keep_alive()  # only valid inside the parser's callbacks
        self.complete = True
        self._wake()

    # -- for the client ----------------------------------------------------------------------------------
    def _ends_at_close(self) -> bool:
        return "content-length" not in self.headers and "chunked" not in self.headers.get("transfer-encoding", "")

    def reusable(self) -> bool:
        return self.complete and self.keep_alive and not self.closed and not self._ends_at_close()

    def _wake(self) -> None:
        w = self.waiter
        if w is not None and not w.done():
            w.set_result(None)

    def _fail(self, exc: BaseException) -> None:
        if self.error is None:  # the first cause stays: a timeout, not the close that followed it
            self.error = exc
        w = self.waiter
        if w is not None and not w.done():
            w.set_exception(exc)

    def _on_timeout(self) -> None:
        self._fail(TimeoutError(f"no data from the node within {self.read_timeout_s:g} s"))
        self.close()

    async def wait(self) -> None:
        """Until the parser has something new (headers, body, the end), the read timeout, or an error."""
        if self.error is not None:
            raise self.error
        self.waiter = self.loop.create_future()
        timer = self.loop.call_later(self.read_timeout_s, self._on_timeout)
        try:
            await self.waiter
        finally:
            timer.cancel()
            self.waiter = None

    def take(self) -> bytes:
        data = self.chunks[0] if len(self.chunks) == 1 else b"".join(self.chunks)
        self.chunks.clear()
        self.buffered = 0
        if self.paused and self.transport is not None and not self.closed:
            self.paused = False
            self.transport.resume_reading()
        return data

    def close(self) -> None:
        self.closed = True
        if self.transport is not None:
            self.transport.close()


class Response:
    """What came back: `status` and `headers` at once, the body through `read()` or `content.readany()`."""

    def __init__(self, client: H1Client, key: tuple[str, str, int], conn: _Conn) -> None:
        self._client, self._key, self._conn = client, key, conn
        self.status = conn.status
        self.headers = conn.headers
        self.content = self  # aiohttp's spelling: resp.content.readany()
        self._done = False

    async def read(self) -> bytes:
        conn = self._conn
        parts = []
        try:
            while not conn.complete:
                await conn.wait()
                parts.append(conn.take())
        except BaseException:
            self.close()
            raise
        parts.append(conn.take())
        self.release()
        return parts[0] if len(parts) == 1 else b"".join(parts)

    async def readany(self) -> bytes:
        """The body bytes that arrived since the last call (waiting for some); b"" at the end."""
        conn = self._conn
        try:
            while not conn.chunks and not conn.complete:
                await conn.wait()
        except BaseException:
            self.close()
            raise
        data = conn.take()
        if not data:
            self.release()
        return data

    def at_eof(self) -> bool:
        return self._conn.complete and not self._conn.chunks

    def release(self) -> None:
        """Hand the connection back when the answer was read to its end, else close it."""
        if self._done:
            return
        self._done = True
        conn = self._conn
        if conn.reusable() and not conn.chunks:
            self._client._put(self._key, conn)
        else:
            conn.close()

    def close(self) -> None:
        if not self._done:
            self._done = True
            self._conn.close()


class H1Client:
    def __init__(self, *, connect_timeout_s: float, read_timeout_s: float, keepalive_s: float = 30.0,
                 max_idle_per_host: int = 256) -> None:
        self.connect_timeout_s, self.read_timeout_s = connect_timeout_s, read_timeout_s
        self.keepalive_s, self.max_idle = keepalive_s, max_idle_per_host
        self._idle: dict[tuple[str, str, int], list[_Conn]] = {}
        self._nodes: dict[str, tuple[tuple[str, str, int], str]] = {}  # "scheme://authority" -> (pool key, Host)

    async def request(self, method: str, url: str, body: bytes, headers: dict[str, str]) -> Response:
        key, host_header, target = self._split(url)
        head = [f"{method} {target} HTTP/1.1\r\nHost: {host_header}\r\nContent-Length: {len(body)}\r\n"]
        for name, value in headers.items():
            if "\r" in value or "\n" in value or "\r" in name or "\n" in name:
                raise ValueError(f"header {name!r} carries a line break")
            head.append(f"{name}: {value}\r\n")
        head.append("\r\n")
        data = "".join(head).encode("latin-1") + body
        conn = self._take(key)
        if conn is not None:
            try:
                return await self._exchange(key, conn, data)
            except (aiohttp.ServerDisconnectedError, ConnectionError):
                if conn.got_bytes:
                    raise
                # the node had closed this idle connection: once more on a new one (nothing was answered)
        return await self._exchange(key, await self._connect(key), data)

    async def _exchange(self, key: tuple[str, str, int], conn: _Conn, data: bytes) -> Response:
        conn._reset()
        try:
            assert conn.transport is not None
            conn.transport.write(data)
            while not conn.headers_done:
                await conn.wait()
        except BaseException:
            conn.close()
            raise
        return Response(self, key, conn)

    async def _connect(self, key: tuple[str, str, int]) -> _Conn:
        scheme, host, port = key
        loop = asyncio.get_running_loop()
        tls = _tls() if scheme == "https" else None
        try:
            async with asyncio.timeout(self.connect_timeout_s):
                _, conn = await loop.create_connection(lambda: _Conn(loop, self.read_timeout_s), host, port,
                                                       ssl=tls, server_hostname=host if tls else None)
        except TimeoutError:
            raise aiohttp.ServerTimeoutError(f"connecting to {host}:{port} took over "
                                             f"{self.connect_timeout_s:g} s") from None
        except OSError as exc:
            raise aiohttp.ClientOSError(exc.errno, f"cannot connect to {host}:{port}: {exc.strerror or exc}") from None
        return conn

    def _take(self, key: tuple[str, str, int]) -> _Conn | None:
        idle = self._idle.get(key)
        now = time.monotonic()
        while idle:
            conn = idle.pop()
            if not conn.closed and now - conn.idle_since < self.keepalive_s:
                return conn
            conn.close()
        return None

    def _put(self, key: tuple[str, str, int], conn: _Conn) -> None:
        idle = self._idle.setdefault(key, [])
        if len(idle) >= self.max_idle:
            conn.close()
            return
        conn.idle_since = time.monotonic()
        idle.append(conn)

    def _split(self, url: str) -> tuple[tuple[str, str, int], str, str]:
        """(pool key, Host header, request target) for a URL; the node part is cached."""
        base, sep, rest = url.partition("://")
        authority, slash, path = rest.partition("/")
        prefix = base + sep + authority
        found = self._nodes.get(prefix)
        if found is None:
            parts = urlsplit(prefix)
            if parts.scheme not in ("http", "https") or not parts.hostname:
                raise aiohttp.InvalidURL(url)
            port = parts.port or (443 if parts.scheme == "https" else 80)
            found = self._nodes[prefix] = ((parts.scheme, parts.hostname, port), authority.rpartition("@")[2])
        return found[0], found[1], slash + path if slash else "/"

    async def close(self) -> None:
        for idle in self._idle.values():
            for conn in idle:
                conn.close()
        self._idle.clear()
