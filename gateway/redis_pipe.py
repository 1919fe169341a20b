"""A lean Redis connection for the hot path: EVALSHA over one pipelined socket, replies read by hiredis.

Why not redis-py's asyncio client here (it does everything else: pub/sub, pings, the login throttle):
`python -m load.bench.instructions` counted about 450k instructions per request for its script call
(connection pool, retry and time-out wrappers, command packing, observability hooks), as much as the
whole rest of the gateway's request; this is a small fraction of that (docs/PERFORMANCE.md).

One connection per process, opened on first use and again after a failure. Commands are written at
once (pipelining: Redis answers in order, a FIFO of futures matches the replies). A call that gets
no reply within `timeout_s` fails with TimeoutError, and so does every call behind it (the
connection is closed): a watchdog timer checks the oldest call instead of a timer per call.
"""

from __future__ import annotations

import asyncio
import collections
import hashlib
import time
from typing import Any

import hiredis
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import ResponseError


class Script:
    """A Lua script known by its SHA1 (sent in full once per connection, when Redis says NOSCRIPT)."""

    __slots__ = ("text", "sha")

    def __init__(self, text: str) -> None:
        self.text = text.encode()
        self.sha = hashlib.sha1(self.text).hexdigest().encode()


def _command(args: tuple[Any, ...]) -> bytes:
    out = [b"*%d\r\n" % len(args)]
    for a in args:
        if not isinstance(a, bytes):
            a = str(a).encode()
        out.append(b"$%d\r\n%s\r\n" % (len(a), a))
    return b"".join(out)


class _Protocol(asyncio.Protocol):
    def __init__(self, pipe: RedisPipe) -> None:
        self.pipe = pipe
        self.reader = hiredis.Reader()
        self.transport: asyncio.BaseTransport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport

    def data_received(self, data: bytes) -> None:
        reader, waiting = self.reader, self.pipe.waiting
        reader.feed(data)
        while (reply := reader.gets()) is not False:
            if not waiting:
                break
            future, _ = waiting.popleft()
            if future.done():
                continue
            if isinstance(reply, hiredis.ReplyError):
                future.set_exception(ResponseError(str(reply)))
            else:
                future.set_result(reply)

    def connection_lost(self, exc: Exception | None) -> None:
        if self.pipe.transport is self.transport:  # not an older connection the pipe has replaced
            self.pipe.lost(RedisConnectionError(f"connection to redis lost: {exc or 'closed'}"))


class RedisPipe:
    def __init__(self, host: str, port: int, *, db: int = 0, password: str | None = None,
                 username: str | None = None, timeout_s: float = 0.25) -> None:
        self.host, self.port, self.db = host, port, db
        self.username, self.password = username, password
        self.timeout_s = timeout_s
        self.waiting: collections.deque[tuple[asyncio.Future, float]] = collections.deque()
        self.transport: asyncio.Transport | None = None
        self._connecting: asyncio.Future | None = None
        self._watchdog: asyncio.TimerHandle | None = None
        self.scripts: list[Script] = []  # loaded on every new connection

    @classmethod
    def from_url(cls, url: str, timeout_s: float) -> RedisPipe:
        from urllib.parse import unquote, urlsplit

        parts = urlsplit(url)
        db = int((parts.path or "/0").strip("/") or 0)
        return cls(parts.hostname or "127.0.0.1", parts.port or 6379, db=db,
                   password=unquote(parts.password) if parts.password else None,
                   username=unquote(parts.username) if parts.username else None, timeout_s=timeout_s)

    def send(self, script: Script, keys: list[Any], args: list[Any], on_error: Any) -> None:
        """Write an EVALSHA now and do not wait for its reply (`on_error(exc)` if it fails). Redis runs
        commands in the order they arrive, so anything sent after this, from anywhere, sees its effect."""
        if self.transport is None:  # (re)connecting: wait for it, the order against others is lost
            task = asyncio.ensure_future(self.evalsha(script, keys, args))
            task.add_done_callback(lambda t: t.cancelled() or t.exception() is None or on_error(t.exception()))
            return
        future = asyncio.get_running_loop().create_future()
        self.waiting.append((future, time.monotonic()))
        self.transport.write(_command((b"EVALSHA", script.sha, len(keys), *keys, *args)))
        if self._watchdog is None:
            self._arm()

        def done(f: asyncio.Future) -> None:
            exc = None if f.cancelled() else f.exception()
            if exc is None:
                return
            if isinstance(exc, ResponseError) and str(exc).startswith("NOSCRIPT"):  # SCRIPT FLUSH meanwhile
                retry = asyncio.ensure_future(self.evalsha(script, keys, args))
                retry.add_done_callback(lambda t: t.cancelled() or t.exception() is None or on_error(t.exception()))
                return
            on_error(exc)

        future.add_done_callback(done)

    async def evalsha(self, script: Script, keys: list[Any], args: list[Any]) -> Any:
        try:
            return await self.call(b"EVALSHA", script.sha, len(keys), *keys, *args)
        except ResponseError as exc:
            if not str(exc).startswith("NOSCRIPT"):
                raise
            await self.call(b"SCRIPT", b"LOAD", script.text)
            return await self.call(b"EVALSHA", script.sha, len(keys), *keys, *args)

    async def call(self, *args: Any) -> Any:
        if self.transport is None:
            await self._connect()
        future = asyncio.get_running_loop().create_future()
        self.waiting.append((future, time.monotonic()))
        self.transport.write(_command(args))
        if self._watchdog is None:
            self._arm()
        return await future

    async def _connect(self) -> None:
        if self._connecting is None:
            self._connecting = asyncio.ensure_future(self._open())
        try:
            await asyncio.shield(self._connecting)
        finally:
            if self._connecting is not None and self._connecting.done():
                self._connecting = None

    async def _open(self) -> None:
        loop = asyncio.get_running_loop()
        async with asyncio.timeout(self.timeout_s):
            transport, _ = await loop.create_connection(lambda: _Protocol(self), self.host, self.port)
        self.transport = transport
        hello: list[tuple[Any, ...]] = []
        if self.password:
            hello.append((b"AUTH", *((self.username,) if self.username else ()), self.password))
        if self.db:
            hello.append((b"SELECT", self.db))
        for script in self.scripts:  # loaded up front: a script sent without waiting (send) is known
            hello.append((b"SCRIPT", b"LOAD", script.text))
        for command in hello:
            await self.call(*command)

    def _arm(self) -> None:
        self._watchdog = asyncio.get_running_loop().call_later(self.timeout_s / 2, self._check)

    def _check(self) -> None:
        self._watchdog = None
        if not self.waiting:
            return
        if time.monotonic() - self.waiting[0][1] > self.timeout_s:
            self.lost(TimeoutError(f"redis did not answer within {self.timeout_s} s"))
            return
        self._arm()

    def lost(self, exc: BaseException) -> None:
        """Fail every call in flight; the next call opens a new connection."""
        transport, self.transport = self.transport, None
        waiting, self.waiting = self.waiting, collections.deque()
        for future, _ in waiting:
            if not future.done():
                future.set_exception(exc)
        if transport is not None:
            transport.abort()

    def close(self) -> None:
        if self._watchdog is not None:
            self._watchdog.cancel()
            self._watchdog = None
        self.lost(RedisConnectionError("closed"))
