"""What the hot path reads: an in-memory snapshot of keys, users, subscriptions, models, nodes.

Loaded with one call (`store.catalog.load_snapshot`) at start-up and again whenever an
admin write anywhere says so (`gateway/sync.py` calls `refresh()`: at once through Redis,
or when its poll of the change counter sees it move), and every `cache_ttl_s` as a safety
net. Spend is kept here too: the usage writer adds each record's cost at once, so the
quota check needs no database read.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from .routing import Router, Target
from .store import catalog

log = logging.getLogger("topapi.gateway.cache")


@dataclass(slots=True)
class KeyInfo:
    id: int
    user_id: int
    name: str
    enabled: bool
    expires_at: float | None
    models: frozenset[str] | None
    rpm: int | None
    tpm: int | None = None
    concurrency: int | None = None


@dataclass(slots=True)
class UserInfo:
    id: int
    username: str
    role: str
    active: bool
    quota: float | None
    used: float


@dataclass(slots=True)
class ModelInfo:
    name: str
    kind: str
    price: dict[str, float]
    listed: bool
    display_name: str | None
    description: str | None
    created: int


def hash_key(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


class Cache:
    def __init__(self, store: Any, router: Router, *, ttl_s: float | None = None,
                 pending_spend: Callable[[], dict[int, float]] | None = None) -> None:
        self.store, self.router, self.ttl_s = store, router, ttl_s
        self.pending_spend = pending_spend or dict
        self.keys: dict[str, KeyInfo] = {}
        self.users: dict[int, UserInfo] = {}
        self.subscriptions: dict[int, frozenset[str]] = {}
        self.models: dict[str, ModelInfo] = {}
        self.nodes: dict[int, Target] = {}  # node id -> target with upstream_model "" (for affinity)
        self.loaded_at = 0.0
        self._lock = asyncio.Lock()
        self._ttl_task: asyncio.Task | None = None
        self._dirty = False
        self.refreshing: asyncio.Task | None = None  # a reload asked for by refresh(), while it runs

    async def start(self) -> None:
        await self.reload()
        if self.ttl_s:
            self._ttl_task = asyncio.create_task(self._reload_every(self.ttl_s))

    async def stop(self) -> None:
        for task in (self._ttl_task, self.refreshing):
            if task is not None:
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task

    async def invalidate(self) -> None:
        """Reload now: the next request sees the change."""
        await self.reload()

    def refresh(self) -> asyncio.Task:
        """Reload soon, without waiting: many calls while a reload runs make one more reload, not many."""
        self._dirty = True
        if self.refreshing is None or self.refreshing.done():
            self.refreshing = asyncio.create_task(self._refresh_loop(), name="cache-refresh")
        return self.refreshing

    async def _refresh_loop(self) -> None:
        while self._dirty:
            self._dirty = False
            try:
                await self.reload()
            except Exception:  # keep serving from the last good snapshot; the next change or poll retries
                log.exception("cache reload failed")

    async def _reload_every(self, seconds: float) -> None:
        while True:
            await asyncio.sleep(seconds)
            try:
                await self.reload()
            except Exception:  # keep serving from the last good snapshot
                log.exception("cache reload failed")

    async def reload(self) -> None:
        async with self._lock:
            snap = await catalog.load_snapshot(self.store)
            self._apply(snap)

    def _apply(self, snap: dict[str, Any]) -> None:
        pending = self.pending_spend()
        self.users = {
            u["id"]: UserInfo(u["id"], u["username"], u["role"], u["status"] == "active", u["quota"],
                              float(u["used"] or 0.0) + pending.get(u["id"], 0.0))
            for u in snap["users"]}
        self.keys = {
            k["key_hash"]: KeyInfo(k["id"], k["user_id"], k["name"], bool(k["enabled"]), k["expires_at"],
                                   frozenset(k["models"]) if k["models"] is not None else None, k["rpm"],
                                   k.get("tpm"), k.get("concurrency"))
            for k in snap["api_keys"]}
        subs: dict[int, set[str]] = {}
        for user_id, model in snap["subscriptions"]:
            subs.setdefault(user_id, set()).add(model)
        self.subscriptions = {u: frozenset(ms) for u, ms in subs.items()}
        self.models = {
            m["name"]: ModelInfo(m["name"], m["kind"], dict(m["price"] or {}), bool(m["listed"]),
                                 m.get("display_name"), m.get("description"), int(m.get("created_at") or 0))
            for m in snap["models"]}
        targets: dict[str, list[Target]] = {}
        nodes: dict[int, Target] = {}
        for n in snap["nodes"]:
            base = dict(node_id=n["id"], name=n["name"], provider=n["provider"], base_url=n["base_url"],
                        api_key=n["api_key"] or "", weight=int(n["weight"]), priority=int(n["priority"]))
            nodes[n["id"]] = Target(**base, upstream_model="")
            if not n["enabled"]:
                continue
            for served in n["models"]:
                targets.setdefault(served["model"], []).append(
                    Target(**base, upstream_model=served.get("upstream_model") or served["model"]))
        self.nodes = nodes
        self.router.load(targets)
        self.loaded_at = time.time()

    # -- hot path lookups ---------------------------------------------------------------------------
    def key(self, raw: str) -> KeyInfo | None:
        return self.keys.get(hash_key(raw))

    def user(self, user_id: int) -> UserInfo | None:
        return self.users.get(user_id)

    def usable_models(self, key: KeyInfo) -> list[ModelInfo]:
        """Models the key may call: subscribed by its owner, allowed by the key, served by a node."""
        subscribed = self.subscriptions.get(key.user_id, frozenset())
        out = []
        for name in sorted(subscribed):
            model = self.models.get(name)
            if model is None or (key.models is not None and name not in key.models):
                continue
            out.append(model)
        return out

    def add_spend(self, user_id: int, cost: float) -> None:
        user = self.users.get(user_id)
        if user is not None:
            user.used += cost
