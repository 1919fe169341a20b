"""A whole demo stack for end-to-end tests: mock upstreams, seeded store, gateway on a loopback port.

`stack` (import it into a test module) is module-scoped and parametrised over SQLite and
PostgreSQL (skipped with a reason unless TOPAPI_TEST_POSTGRES_URL is set). Tests that change
a mock's settings must put them back (`stack.reset_mocks()` does it for all).
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from gateway_fixtures import POSTGRES_ENV, postgres_url

from gateway.app import Gateway
from gateway.config import GatewayConfig
from gateway.demo import DemoStack
from gateway.store.db import drop_pg_schema
from mocks.serving import ServerThread


@dataclass
class Stack:
    gateway: Gateway
    demo: DemoStack
    server: ServerThread
    config: GatewayConfig

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

    def run(self, coro):
        """Run a coroutine on the gateway's own loop (e.g. to flush the usage queue)."""
        return asyncio.run_coroutine_threadsafe(coro, self.server.loop).result(30)

    def flush_usage(self) -> None:
        self.run(self.gateway.usage.flush())


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
    stack.server.stop()
    stack.demo.stop()
    if stack.config.database_schema:
        asyncio.run(drop_pg_schema(stack.config.database_url, stack.config.database_schema))


@pytest.fixture(scope="module", params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def stack(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    s = start_stack(tmp_path_factory.mktemp("gw"), request.param, read_timeout_s=2.0, breaker_cooldown_s=1.0)
    try:
        yield s
    finally:
        stop_stack(s)
