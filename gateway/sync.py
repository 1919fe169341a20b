"""How an admin write reaches every worker and every instance.

The write's process bumps the `catalog` change counter in the database (`sync_state`), reloads
its own snapshot at once and, with Redis, publishes the new value on the `changes` channel. Every
other process reloads when the message arrives (milliseconds), or when its poll of the counter
(every `poll_s`, 0.25 s by default) sees it move: that poll alone keeps `--workers N` on one
machine, or instances without Redis, within `poll_s` of each other, and catches up on messages
lost while Redis was away. The poll is one indexed single-row read, off the hot path.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import sqlite3
import time
from typing import Any

from .cache import Cache
from .shared import Shared
from .store import versions

log = logging.getLogger("topapi.gateway.sync")
CHANNEL = "changes"


class Sync:
    def __init__(self, store: Any, cache: Cache, shared: Shared | None = None, *, poll_s: float = 0.25) -> None:
        self.store, self.cache, self.shared, self.poll_s = store, cache, shared, poll_s
        self.version = 0
        self.last_change_at = 0.0  # when this process last reloaded for another process's write
        self._poll: asyncio.Task | None = None
        # on a SQLite file the poll reads with a connection of its own, in this thread: a point read in
        # WAL mode (readers never wait for the writer) costs ~10x less than a query through the pool
        path = getattr(getattr(store, "_sqlite_writer", None), "path", None)
        self._sqlite: sqlite3.Connection | None = (
            sqlite3.connect(path, timeout=0.05, isolation_level=None, check_same_thread=False) if path else None)

    async def start(self) -> None:
        self.version = await versions.read(self.store)
        if self.shared is not None:
            self.shared.listen(CHANNEL, self._on_message)
        if self.poll_s:
            self._poll = asyncio.create_task(self._poll_loop(), name="sync-poll")

    async def stop(self) -> None:
        if self._poll is not None:
            self._poll.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._poll
        if self._sqlite is not None:
            self._sqlite.close()

    async def _read(self) -> int:
        if self._sqlite is not None:
            row = self._sqlite.execute("SELECT version FROM sync_state WHERE name = ?", (versions.CATALOG,)).fetchone()
            return int(row[0]) if row else 0
        return await versions.read(self.store)

    async def changed(self) -> None:
        """After an admin write has committed: this process at once, the others as soon as they hear."""
        # bump first: the reload then sees every write counted up to the new value, others' too
        self.version = max(self.version, await versions.bump(self.store))
        await self.cache.reload()
        if self.shared is not None:
            await self.shared.publish(CHANNEL, str(self.version))

    def _on_message(self, data: bytes) -> None:
        if not data:  # (re)subscribed: whatever was published meanwhile is unknown, so reload
            self._reload(None)
            return
        try:
            version = int(data)
        except ValueError:
            return
        if version > self.version:
            self._reload(version)

    def _reload(self, version: int | None) -> None:
        if version is not None:
            self.version = version
        self.last_change_at = time.time()
        self.cache.refresh()

    async def _poll_loop(self) -> None:
        while True:
            await asyncio.sleep(self.poll_s)
            try:
                version = await self._read()
            except Exception:
                log.warning("sync: reading the change counter failed", exc_info=True)
                continue
            if version != self.version:
                self._reload(version)
