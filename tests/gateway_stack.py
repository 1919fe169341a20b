"""A whole demo stack for end-to-end tests: mock upstreams, seeded store, gateway on a loopback port.

`stack` (import it into a test module) is module-scoped and parametrised over SQLite and
PostgreSQL (skipped with a reason unless TOPAPI_TEST_POSTGRES_URL is set); a module may set
`STACK_CONFIG = {...}` (GatewayConfig fields) for its own stack. Tests that change a mock's
settings must put them back (`with stack.mock_settings(node, ...)` does; `stack.reset_mocks()`
resets all, and forgets the mocks' stored responses and video jobs too). `stack.new_user()` makes
a user through the consoles with an enabled, subscribed key; `stack.usage(user_id)` lists records.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest
from gateway_fixtures import POSTGRES_ENV, postgres_url

from gateway.app import Gateway
from gateway.config import GatewayConfig
from gateway.demo import MODELS, DemoStack
from gateway.store.db import drop_pg_schema
from mocks.serving import ServerThread

USER_PASSWORD = "correct horse battery"
_serial = itertools.count(1)


@dataclass
class Account:
    """A user made through the consoles, with one enabled key subscribed to `models`."""

    id: int
    username: str
    password: str
    token: str  # console session
    key: str
    key_id: int


@dataclass
class Stack:
    gateway: Gateway
    demo: DemoStack
    server: ServerThread
    config: GatewayConfig
    _admin_token: str | None = field(default=None, repr=False)
    _http: httpx.Client | None = field(default=None, repr=False)

    @property
    def base_url(self) -> str:
        return self.server.url

    @property
    def api_key(self) -> str:
        return self.demo.info["api_key"]

    @property
    def accounts(self) -> dict[str, dict[str, str]]:
        return self.demo.info["accounts"]

    def mock(self, node: str) -> Any:
        """The MockServer object behind a node ("openai-a", "openai-b", "gemini", "sora")."""
        return self.demo.servers[node].server.config.app

    def reset_mocks(self) -> None:
        for name in self.demo.servers:
            self.mock(name).reset()

    def client(self, **kw: Any) -> httpx.Client:
        headers = {"Authorization": self.api_key, **kw.pop("headers", {})}
        return httpx.Client(base_url=self.base_url, headers=headers, timeout=kw.pop("timeout", 30), **kw)

    @property
    def http(self) -> httpx.Client:
        """One shared client without credentials (thread-safe; reusing it spares a TLS context
        and a connection per request): pass the key per request, or absolute URLs for the mocks."""
        if self._http is None:
            self._http = httpx.Client(base_url=self.base_url, timeout=30,
                                      limits=httpx.Limits(max_connections=200, max_keepalive_connections=50))
        return self._http

    def restart_gateway(self) -> None:
        """Stop the gateway (draining its usage queue) and start a new one on the same state dir and
        database, on a new port; the mocks keep running."""
        self.server.stop()
        if self._http is not None:
            self._http.close()
            self._http = None
        self._admin_token = None
        self.gateway = Gateway(self.config)
        self.server = ServerThread(self.gateway, lifespan="on").start()
        self.demo.info["base_url"] = self.server.url

    def run(self, coro):
        """Run a coroutine on the gateway's own loop (e.g. to flush the usage queue)."""
        return asyncio.run_coroutine_threadsafe(coro, self.server.loop).result(30)

    def flush_usage(self) -> None:
        self.run(self.gateway.usage.flush())

    # -- consoles ---------------------------------------------------------------------------------
    def console(self, token: str | None = None) -> httpx.Client:
        """An httpx client for /api with a console session (the platform admin's by default)."""
        token = token or self.admin_token()
        return httpx.Client(base_url=self.base_url, headers={"Authorization": f"Bearer {token}"}, timeout=30)

    def login(self, username: str, password: str) -> str:
        r = self.http.post("/api/auth/login", json={"username": username, "password": password})
        assert r.status_code == 200, r.text
        return r.json()["token"]

    def admin_token(self) -> str:
        if self._admin_token is None:
            admin = self.accounts["platform_admin"]
            self._admin_token = self.login(admin["username"], admin["password"])
        return self._admin_token

    def new_user(self, models: tuple[str, ...] = tuple(MODELS), *, quota: float | None = None,
                 **key_fields: Any) -> Account:
        """A fresh user (platform console), logged in, with an enabled key (user console) and
        subscriptions to `models` (market)."""
        username = f"user{next(_serial)}_{uuid.uuid4().hex[:6]}"
        with self.console() as admin:
            r = admin.post("/api/platform/users", json={"username": username, "password": USER_PASSWORD,
                                                       **({"quota": quota} if quota is not None else {})})
            assert r.status_code == 201, r.text
            user_id = r.json()["id"]
        token = self.login(username, USER_PASSWORD)
        with self.console(token) as me:
            r = me.post("/api/user/keys", json={"name": "test", **key_fields})
            assert r.status_code == 201, r.text
            key = r.json()
            for model in models:
                r = me.post("/api/user/subscriptions", json={"model": model})
                assert r.status_code in (200, 201), r.text
        return Account(user_id, username, USER_PASSWORD, token, key["key"], key["id"])

    def usage(self, user_id: int) -> list[dict[str, Any]]:
        """Every usage record of a user, newest first (platform console; flush first)."""
        out: list[dict[str, Any]] = []
        with self.console() as admin:
            while True:
                r = admin.get("/api/platform/usage", params={"user": user_id, "limit": 500, "offset": len(out)})
                assert r.status_code == 200, r.text
                page = r.json()
                out += page["data"]
                if not page["data"] or len(out) >= page["total"]:
                    return out

    # -- mocks --------------------------------------------------------------------------------------
    def mock_requests(self, node: str) -> int:
        """Requests a mock node has received so far (its /_mock/stats)."""
        r = self.http.get(self.demo.servers[node].url + "/_mock/stats")
        return r.json()["requests_total"]

    @contextlib.contextmanager
    def mock_settings(self, node: str, **changes: Any) -> Iterator[Any]:
        """Change a mock's settings (e.g. `fault={...}`, `video_ms=...`) for the block only."""
        mock = self.mock(node)
        before = mock.settings
        mock.settings = before.updated(changes)
        try:
            yield mock
        finally:
            mock.settings = before


def start_stack(state_dir: Path, backend: str, **config_kw: Any) -> Stack:
    if backend == "postgres":
        url = postgres_url()
        if url is None:
            pytest.skip(f"{POSTGRES_ENV} is not set: PostgreSQL variant skipped")
        config = GatewayConfig(state_dir=state_dir, database_url=url,
                               database_schema=f"t_{uuid.uuid4().hex}", **config_kw)
    else:
        config = GatewayConfig(state_dir=state_dir, **config_kw)
    demo = DemoStack(config)
    demo.start()
    gw = Gateway(config)
    server = ServerThread(gw, lifespan="on").start()
    demo.info["base_url"] = server.url
    return Stack(gw, demo, server, config)


def stop_stack(stack: Stack) -> None:
    if stack._http is not None:
        stack._http.close()
    stack.server.stop()
    stack.demo.stop()
    if stack.config.database_schema:
        asyncio.run(drop_pg_schema(stack.config.database_url, stack.config.database_schema))


@pytest.fixture(scope="module", params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def stack(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    # a test module may set STACK_CONFIG = {...} (GatewayConfig fields) to change these
    config = {"read_timeout_s": 2.0, "breaker_cooldown_s": 1.0, **getattr(request.module, "STACK_CONFIG", {})}
    s = start_stack(tmp_path_factory.mktemp("gw"), request.param, **config)
    try:
        yield s
    finally:
        stop_stack(s)
