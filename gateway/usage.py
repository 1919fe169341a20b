"""Usage records: one per relayed request, written off the hot path.

`UsageWriter.record()` puts a record on a bounded queue (a full queue makes the caller
wait, so nothing accepted is dropped); one task takes up to `batch_size` records at a
time and commits them in one transaction (group commit). After the first record of a
batch it lingers `linger_s` for more, so that a trickle of requests does not pay one
transaction each (the spend is counted in memory at once, so quotas never wait for it).
A failed commit is retried with the same batch. `stop()` drains the queue before the
process exits.
Response-affinity rows (previous_response_id -> node) ride along in the same flushes.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections import defaultdict
from typing import Any

from sqlalchemy.exc import IntegrityError

from . import metrics
from .store import usage as usage_store
from .store import videos as videos_store

log = logging.getLogger("topapi.gateway.usage")


def cost(price: dict[str, float], *, prompt_tokens: int = 0, completion_tokens: int = 0,
         images: int = 0, seconds: float = 0.0) -> float:
    """Dollars for one request at the model's prices (missing prices count as 0)."""
    return (prompt_tokens / 1000 * price.get("input_per_1k", 0.0)
            + completion_tokens / 1000 * price.get("output_per_1k", 0.0)
            + images * price.get("per_image", 0.0)
            + seconds * price.get("per_second", 0.0))


class UsageWriter:
    def __init__(self, store: Any, *, maxsize: int = 10_000, batch_size: int = 500, linger_s: float = 0.0,
                 journal: Any = None) -> None:
        self.store = store
        self.journal = journal  # gateway/journal.py: told which records are committed
        self.batch_size = batch_size
        self.linger_s = linger_s
        self.queue: asyncio.Queue[dict[str, Any]] = asyncio.Queue(maxsize)
        self.routes: list[tuple[str, int, int]] = []
        self.pending: defaultdict[int, float] = defaultdict(float)  # spend queued, not yet committed
        self.written = 0
        self._task: asyncio.Task | None = None
        self._inflight: asyncio.Future | None = None
        self._hurry = asyncio.Event()  # ends a linger early (flush)
        self._holding = False  # the writer has taken records off the queue and lingers for more
        self._closing = False

    def pending_spend(self) -> dict[int, float]:
        return dict(self.pending)

    async def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name="usage-writer")

    async def record(self, rec: dict[str, Any]) -> None:
        rec.setdefault("created_at", time.time())
        if rec.get("cost"):
            self.pending[rec["user_id"]] += rec["cost"]
        try:
            self.queue.put_nowait(rec)
        except asyncio.QueueFull:
            await self.queue.put(rec)  # back-pressure rather than loss

    def add_response_route(self, response_id: str, node_id: int, user_id: int) -> None:
        self.routes.append((response_id, node_id, user_id))

    async def flush(self) -> None:
        """Write everything accepted so far (tests and shutdown), a batch the writer lingers on included."""
        while self._holding:
            self._hurry.set()
            await asyncio.sleep(0)
        if self._inflight is not None:
            await asyncio.shield(self._inflight)
        while not self.queue.empty() or self.routes:
            await self._write(self._take())

    def _take(self, most: int | None = None) -> list[dict[str, Any]]:
        batch: list[dict[str, Any]] = []
        most = self.batch_size if most is None else most
        while len(batch) < most:
            try:
                batch.append(self.queue.get_nowait())
            except asyncio.QueueEmpty:
                break
        return batch

    async def _run(self) -> None:
        while True:
            batch = [await self.queue.get()]
            self._holding = True
            try:
                if self.linger_s and self.queue.qsize() + 1 < self.batch_size:
                    self._hurry.clear()
                    with contextlib.suppress(TimeoutError):
                        async with asyncio.timeout(self.linger_s):
                            await self._hurry.wait()
            finally:  # also when stop() cancels the linger: the records taken are written, not dropped
                self._holding = False
                batch += self._take(self.batch_size - 1)
                # shielded: stop() cancels this task, but never a commit half way
                self._inflight = asyncio.ensure_future(self._write(batch))
            await asyncio.shield(self._inflight)
            self._inflight = None

    async def _write(self, batch: list[dict[str, Any]]) -> None:
        routes, self.routes = self.routes, []
        delay = 0.05
        while True:
            try:
                if routes:
                    await videos_store.add_routes(self.store, routes)
                    routes = []
                if batch:
                    await usage_store.write_batch(self.store, batch)
                break
            except IntegrityError:
                # a commit that did land although we saw it fail: write one by one, skip the known
                await self._write_each(batch)
                break
            except Exception:
                if self._closing and delay > 5:
                    log.exception("usage: giving up on %d records at shutdown", len(batch))
                    return
                log.exception("usage: commit of %d records failed, retrying", len(batch))
                await asyncio.sleep(delay)
                delay = min(delay * 2, 10)
        for rec in batch:
            if rec.get("cost"):
                left = self.pending[rec["user_id"]] - rec["cost"]
                if abs(left) < 1e-12:
                    self.pending.pop(rec["user_id"], None)
                else:
                    self.pending[rec["user_id"]] = left
        self.written += len(batch)
        metrics.USAGE_WRITTEN.inc(len(batch))
        if self.journal is not None:
            self.journal.committed([rec["request_id"] for rec in batch])

    async def write_now(self, records: list[dict[str, Any]]) -> None:
        """Write records at once, skipping those already stored (the journal's replay at start-up)."""
        try:
            await usage_store.write_batch(self.store, records)
        except IntegrityError:
            await self._write_each(records)

    async def _write_each(self, batch: list[dict[str, Any]]) -> None:
        for rec in batch:
            try:
                await usage_store.write_batch(self.store, [rec])
            except IntegrityError:
                log.warning("usage: record %s was already written", rec.get("request_id"))

    async def stop(self) -> None:
        self._closing = True
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        if self._inflight is not None:
            await self._inflight
        await self.flush()
