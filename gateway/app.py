"""The gateway process: its state, the ASGI entry point and the start/stop sequence.

Relay paths go to a raw ASGI dispatcher (the hot path: no framework routing, no
database); `/api/...` goes to the consoles' Starlette app; `/healthz` answers at once.
"""

from __future__ import annotations

import asyncio
import gc
import logging
import os
import time
from collections import OrderedDict
from pathlib import Path
from typing import Any

import orjson
from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response

from specs.errors import admin_error

from . import console, metrics, security, upstream
from .cache import Cache
from .config import GatewayConfig
from .journal import Journal, replay
from .limits import Limits
from .relay import controller
from .relay.call import Call
from .relay.context import RelayContext
from .routing import Router
from .shared import Shared
from .store import accounts, db, versions
from .store import videos as jobs
from .sync import Sync
from .usage import UsageWriter

log = logging.getLogger("topapi.gateway")

AFFINITY_MEMORY = 100_000  # previous_response_id -> node entries kept in memory


async def _admin_http_error(request: Request, exc: Exception) -> Response:
    """Unmatched /api paths answer in the admin dialect, like every other admin error."""
    status = getattr(exc, "status_code", 500)
    code = {404: "not_found", 405: "method_not_allowed"}.get(status, "http_error")
    text = {404: f"no such endpoint: {request.method} {request.url.path}",
            405: f"method {request.method} is not allowed on {request.url.path}"}.get(status, str(exc))
    return Response(orjson.dumps(admin_error(code, text)), status, media_type="application/json",
                    headers=getattr(exc, "headers", None))


class Gateway:
    def __init__(self, config: GatewayConfig | None = None) -> None:
        self.config = config or GatewayConfig()
        self.router = Router(threshold=self.config.breaker_threshold, cooldown_s=self.config.breaker_cooldown_s)
        self.store: Any = None
        self.cache: Cache | None = None
        self.usage: UsageWriter | None = None
        self.client: upstream.Client | None = None  # towards the nodes
        self.shared: Shared | None = None  # Redis, with --redis-url
        self.journal: Journal | None = None  # requests in flight, records not yet committed
        self.limits = Limits()
        self.sync: Sync | None = None
        self.metrics = metrics.RequestMetrics()
        self._sampler: asyncio.Task | None = None
        self.admin: Starlette | None = None
        self.affinity: OrderedDict[str, tuple[int, int]] = OrderedDict()
        self.relay: RelayContext | None = None  # what the request path sees of the gateway
        self.started = False

    # -- lifecycle ----------------------------------------------------------------------------------------------
    async def start(self) -> None:
        os.makedirs(self.config.state_dir, exist_ok=True)
        self.store = await db.Store.open(self.config.db_url, schema=self.config.database_schema)
        await self.ensure_admin()
        self.journal = Journal(Path(self.config.state_dir) / "journal", flush_s=self.config.journal_flush_s)
        self.journal.start()
        self.usage = UsageWriter(self.store, maxsize=self.config.usage_queue_size,
                                 batch_size=self.config.usage_batch_size, linger_s=self.config.usage_linger_s,
                                 journal=self.journal)
        await replay(self.journal, self.usage.write_now)  # requests a dead process left in flight
        self.cache = Cache(self.store, self.router, ttl_s=self.config.cache_ttl_s,
                           pending_spend=self.usage.pending_spend)
        await self.cache.start()
        await self.usage.start()
        await self._start_sharing()
        self.client = upstream.Client(self.config)
        self.router.on_failure = lambda target: metrics.UPSTREAM_ERRORS.labels(target.name).inc()
        self._sampler = asyncio.create_task(metrics.sample_every(self), name="metrics-sampler")
        from .admin import routes as admin_routes
        from .admin.throttle import LoginThrottle

        self.admin = Starlette(routes=admin_routes(self.store, self.sync.changed,
                                                   session_ttl_s=self.config.session_ttl_s, router=self.router,
                                                   throttle=LoginThrottle(self.shared)),
                               exception_handlers={HTTPException: _admin_http_error})
        self.relay = RelayContext(
            cache=self.cache, router=self.router, limits=self.limits, client=self.client, store=self.store,
            max_body_bytes=self.config.max_body_bytes, max_attempts=self.config.max_attempts,
            record=self.record, remember_response=self.remember_response, response_node=self.response_node,
            journal=self.journal, observe=self.observe)
        self.started = True

    async def _start_sharing(self) -> None:
        """What makes workers and instances one gateway: Redis (optional), shared limits, change notices."""
        c = self.config
        if c.redis_url:
            gauge = metrics.REDIS_UP.labels(metrics.redis_address(c.redis_url))
            self.shared = Shared(c.redis_url, c.redis_prefix, timeout_s=c.redis_timeout_s,
                                 on_state=lambda up: gauge.set(1 if up else 0))
            self.shared.scope(await versions.database_id(self.store))
            await self.shared.start()
        self.limits = Limits(self.shared)
        self.sync = Sync(self.store, self.cache, self.shared, poll_s=c.sync_poll_s)
        await self.sync.start()

    async def ensure_admin(self) -> None:
        """First start: a platform admin from TOPAPI_ADMIN_USER / TOPAPI_ADMIN_PASSWORD, or with a
        generated password printed once."""
        username = os.environ.get("TOPAPI_ADMIN_USER") or "admin"
        password = os.environ.get("TOPAPI_ADMIN_PASSWORD") or security.new_password()
        _, created = await accounts.ensure_admin(self.store, username, password)
        if created and not os.environ.get("TOPAPI_ADMIN_PASSWORD"):
            print(f"topapi: created platform admin {username!r} with password {password!r} "
                  "(shown once; set TOPAPI_ADMIN_PASSWORD to choose it)", flush=True)

    async def stop(self) -> None:
        if not self.started:
            return
        self.started = False
        if self._sampler is not None:
            self._sampler.cancel()
        if self.client is not None:
            await self.client.close()
        await self.sync.stop()
        await self.cache.stop()
        await self.usage.stop()  # drains every queued record
        self.journal.close()
        await self.limits.stop()
        if self.shared is not None:
            await self.shared.stop()
        await self.store.close()
        metrics.process_gone()

    # -- used by the relay ------------------------------------------------------------------------------------
    async def record(self, call: Call) -> None:
        rec = call.record()
        if rec["cost"]:
            self.cache.add_spend(rec["user_id"], rec["cost"])
        self.limits.settle(call.key, call.user, rec["request_id"], rec["cost"], rec["total_tokens"])
        rec["created_at"] = time.time()
        self.journal.recorded(rec)
        await self.usage.record(rec)

    def observe(self, call: Call) -> None:
        """Per-request metrics; label values from the catalog only (a made-up model name counts as "")."""
        self.metrics.observe(call.endpoint, call.model if call.model_info is not None else "", call.node or "",
                             call.status, call.elapsed_ms() / 1000,
                             call.ttft_ms / 1000 if call.ttft_ms is not None else None, call.attempts)

    def remember_response(self, response_id: str, node_id: int, user_id: int) -> None:
        self.affinity[response_id] = (node_id, user_id)
        if len(self.affinity) > AFFINITY_MEMORY:
            self.affinity.popitem(last=False)
        self.usage.add_response_route(response_id, node_id, user_id)

    async def response_node(self, response_id: str, user_id: int) -> int | None:
        found = self.affinity.get(response_id)
        if found is None:  # another instance, or before a restart: ask the store
            row = await jobs.get_route(self.store, response_id)
            found = (row["node_id"], row["user_id"]) if row else None
        if found is None or found[1] != user_id:
            return None
        return found[0]

    # -- ASGI -----------------------------------------------------------------------------------------------------
    async def __call__(self, scope, receive, send) -> None:
        kind = scope["type"]
        if kind == "http":
            path = scope["path"]
            if path.startswith("/api/"):
                await self.admin(scope, receive, send)
            elif path == "/metrics":
                body, kind = metrics.render()
                await send({"type": "http.response.start", "status": 200,
                            "headers": [(b"content-type", kind.encode()), (b"content-length", str(len(body)).encode())]})
                await send({"type": "http.response.body", "body": body})
            elif path == "/healthz":
                body = orjson.dumps({"status": "ok", "pid": os.getpid()})  # which worker answered
                await send({"type": "http.response.start", "status": 200,
                            "headers": [(b"content-type", b"application/json")]})
                await send({"type": "http.response.body", "body": body})
            elif console.wants(scope):  # the consoles' pages (they call /api like any client)
                await console.app(scope, receive, send)
            else:
                await controller.handle(self.relay, scope, receive, send)
        elif kind == "lifespan":
            await self._lifespan(receive, send)

    async def _lifespan(self, receive, send) -> None:
        while True:
            msg = await receive()
            if msg["type"] == "lifespan.startup":
                try:
                    await self.start()
                except Exception as exc:
                    log.exception("gateway start failed")
                    await send({"type": "lifespan.startup.failed", "message": str(exc)})
                    return
                # what start-up built (libraries, the schema, the cache) lives as long as the process:
                # out of the collector's sight, a full collection stops walking ~80k objects, a
                # 20-40 ms pause for every stream in flight
                gc.collect()
                gc.freeze()
                await send({"type": "lifespan.startup.complete"})
            elif msg["type"] == "lifespan.shutdown":
                await self.stop()
                await send({"type": "lifespan.shutdown.complete"})
                return
