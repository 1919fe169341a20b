"""The Redis server that several workers and instances share (`--redis-url`), and what to do without it.

Redis is optional and never a reason to stop relaying. While it answers, `up` is True and callers use
it; the first call that fails (refused, reset, no answer within `timeout_s`) marks it down with one
logged warning: callers then fall back to per-process state at once, without trying Redis per request,
and a watcher pings it every `retry_s` until it answers, logs the recovery and tells the `on_up`
callbacks (the limits re-send what they could not settle, the change listener resubscribes).

Every key and channel name starts with `prefix` (`--redis-prefix`, default `topapi:`) and the database's
id, so instances on different databases, or tests, can share one Redis without meeting.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable
from typing import Any

import redis.asyncio as aioredis
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff
from redis.exceptions import RedisError

from . import metrics
from .redis_pipe import RedisPipe

log = logging.getLogger("topapi.gateway.redis")

ERRORS = (RedisError, OSError, TimeoutError)  # what a call to an unreachable Redis raises


def _client(url: str, timeout_s: float | None, connect_timeout_s: float) -> aioredis.Redis:
    # no retries inside redis-py: a failed call falls back at once, the watcher retries in the background
    return aioredis.Redis.from_url(url, socket_timeout=timeout_s, socket_connect_timeout=connect_timeout_s,
                                   retry=Retry(NoBackoff(), 0), health_check_interval=0)


class Shared:
    def __init__(self, url: str, prefix: str = "topapi:", *, timeout_s: float = 0.25, retry_s: float = 1.0,
                 on_state: Callable[[bool], None] | None = None) -> None:
        self.url, self.base_prefix = url, prefix
        self.prefix = prefix
        self.timeout_s, self.retry_s = timeout_s, retry_s
        self.redis = _client(url, timeout_s, timeout_s)  # pub/sub, pings, the consoles (redis-py)
        self.pipe = RedisPipe.from_url(url, timeout_s)  # the hot path's script calls (see redis_pipe.py)
        self.up = False
        self.errors = 0  # calls that failed (the metric)
        self.on_up: list[Callable[[], Any]] = []
        self.on_state = on_state  # metrics: called with the new availability
        self._watch: asyncio.Task | None = None
        self._listeners: list[asyncio.Task] = []

    def scope(self, database_id: str) -> None:
        """Names below this prefix belong to one database (see the module doc)."""
        self.prefix = f"{self.base_prefix}{database_id}:"

    def key(self, *parts: Any) -> str:
        return self.prefix + ":".join(map(str, parts))

    async def start(self) -> None:
        try:
            await self.redis.ping()
            self._set(True)
        except ERRORS as exc:
            self.failed(exc)  # start anyway, per process; the watcher brings Redis in when it answers
        self._watch = asyncio.create_task(self._watch_loop(), name="redis-watch")

    async def stop(self) -> None:
        for task in (self._watch, *self._listeners):
            if task is not None:
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task
        self.pipe.close()
        with contextlib.suppress(*ERRORS):
            await self.redis.aclose()

    def failed(self, exc: BaseException) -> None:
        """A call failed: fall back to per-process state until the watcher sees Redis again."""
        self.errors += 1
        metrics.REDIS_ERRORS.inc()
        if self.up or self.errors == 1:
            log.warning("redis at %s is unavailable (%s: %s): limits, spend and change notices are per "
                        "process until it answers again", self.url, type(exc).__name__, exc)
        self._set(False)

    def _set(self, up: bool) -> None:
        changed = up != self.up
        self.up = up
        if self.on_state is not None:
            self.on_state(up)
        if changed and up:
            for callback in self.on_up:
                callback()

    async def _watch_loop(self) -> None:
        while True:
            await asyncio.sleep(self.retry_s)
            if self.up:
                continue
            try:
                await self.redis.ping()
            except ERRORS:
                continue
            log.warning("redis at %s answers again: limits and spend are shared again", self.url)
            self._set(True)

    # -- publish / subscribe ------------------------------------------------------------------------------------
    async def publish(self, channel: str, message: str) -> bool:
        if not self.up:
            return False
        try:
            await self.redis.publish(self.key(channel), message)
            return True
        except ERRORS as exc:
            self.failed(exc)
            return False

    def listen(self, channel: str, on_message: Callable[[bytes], Any]) -> None:
        """Call `on_message` for each message on `channel`, and with b"" after each (re)subscription:
        messages sent while we were away are lost, the caller catches up instead."""
        self._listeners.append(asyncio.create_task(self._listen(channel, on_message), name=f"redis-{channel}"))

    async def _listen(self, channel: str, on_message: Callable[[bytes], Any]) -> None:
        name = self.key(channel)
        client = _client(self.url, None, self.timeout_s)  # blocking reads: no socket time-out
        try:
            while True:
                pubsub = client.pubsub(ignore_subscribe_messages=True)
                try:
                    await pubsub.subscribe(name)
                    on_message(b"")
                    while True:  # blocks until a message (no wake-ups while nothing happens)
                        message = await pubsub.get_message(timeout=None)
                        if message is not None and message.get("type") == "message":
                            on_message(message["data"])
                except ERRORS as exc:
                    self.failed(exc)
                    await asyncio.sleep(self.retry_s)
                finally:
                    with contextlib.suppress(*ERRORS):
                        await pubsub.aclose()
        finally:
            with contextlib.suppress(*ERRORS):
                await client.aclose()
