"""Fixtures for the gateway's store and admin API tests (import them into a test module).

`store`: a fresh, empty database per test, once on SQLite (in tmp_path) and once on
PostgreSQL when TOPAPI_TEST_POSTGRES_URL is set (a schema of its own per test, so parallel
workers on one database never meet; dropped afterwards).
`admin`: the admin routes on a Starlette app, reached through httpx's ASGI transport; it
records every response and, when the test ends, fails it if any body leaked a secret.
"""

from __future__ import annotations

import os
import re
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

import httpx
import pytest
from starlette.applications import Starlette

from gateway.admin import routes
from gateway.store import Store, accounts
from gateway.store.db import drop_pg_schema, normalize_url

POSTGRES_ENV = "TOPAPI_TEST_POSTGRES_URL"
PASSWORD = "correct horse battery"


def postgres_url() -> str | None:
    url = os.environ.get(POSTGRES_ENV)
    return normalize_url(url) if url else None


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
async def store(request: pytest.FixtureRequest, tmp_path: Any) -> AsyncIterator[Store]:
    if request.param == "sqlite":
        opened = await Store.open(Store.url_for_state_dir(tmp_path))
        try:
            yield opened
        finally:
            await opened.close()
        return
    url = postgres_url()
    if url is None:
        pytest.skip(f"{POSTGRES_ENV} is not set (e.g. postgresql://postgres@127.0.0.1:5432/test): "
                    "PostgreSQL variant skipped")
    schema = f"t_{uuid.uuid4().hex}"
    opened = await Store.open(url, schema=schema)
    try:
        yield opened
    finally:
        await opened.close()
        await drop_pg_schema(url, schema)


# --- secret scanning -----------------------------------------------------------------------

FULL_KEY = re.compile(r"sk-tk-[A-Za-z0-9_-]{40}")
SHA256_HEX = re.compile(r"(?<![0-9a-f])[0-9a-f]{64}(?![0-9a-f])")


@dataclass
class Seen:
    method: str
    path: str
    status: int
    body: str


def find_secrets(responses: list[Seen], known: list[str]) -> list[str]:
    """Every leak in the recorded responses: password hashes, key or session hashes, upstream keys
    and other `known` secrets, full API keys outside the one key-creation response each."""
    leaks = []
    for seen in responses:
        where = f"{seen.method} {seen.path} -> {seen.status}"
        if "scrypt$" in seen.body:
            leaks.append(f"{where}: a password hash")
        if SHA256_HEX.search(seen.body):
            leaks.append(f"{where}: a sha256 hex value (key or session hash)")
        leaks += [f"{where}: the secret {s[:6]}..." for s in known if s and s in seen.body]
        creation = seen.method == "POST" and seen.path == "/api/user/keys" and seen.status == 201
        keys = FULL_KEY.findall(seen.body)
        if keys and not (creation and len(keys) == 1):
            leaks.append(f"{where}: a full API key")
    return leaks


# --- the admin API -------------------------------------------------------------------------

@dataclass
class ChangeRecorder:
    calls: int = 0

    async def __call__(self) -> None:
        self.calls += 1


@dataclass
class Admin:
    store: Store
    client: httpx.AsyncClient
    changes: ChangeRecorder
    seen: list[Seen] = field(default_factory=list)
    secrets: list[str] = field(default_factory=list)  # upstream keys etc. that must never come back

    async def call(self, method: str, path: str, token: str | None = None, json: Any = None,
                   content: bytes | str | None = None, headers: dict[str, str] | None = None) -> httpx.Response:
        headers = dict(headers or {})
        if token is not None:
            headers["Authorization"] = f"Bearer {token}"
        response = await self.client.request(method, path, json=json, content=content, headers=headers)
        self.seen.append(Seen(method, path.split("?")[0], response.status_code, response.text))
        return response

    async def login(self, username: str, password: str = PASSWORD) -> str:
        response = await self.call("POST", "/api/auth/login", json={"username": username, "password": password})
        assert response.status_code == 200, response.text
        return response.json()["token"]

    async def user(self, username: str, role: str = "user") -> tuple[dict[str, Any], str]:
        """Create a user straight in the store and log them in: (user, token)."""
        user = await accounts.create_user(self.store, username, PASSWORD, role=role)
        return user, await self.login(username)


@pytest.fixture
async def admin(store: Store) -> AsyncIterator[Admin]:
    changes = ChangeRecorder()
    app = Starlette(routes=routes(store, changes))
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://gateway.test") as client:
        api = Admin(store, client, changes)
        yield api
    leaks = find_secrets(api.seen, api.secrets)
    assert not leaks, "responses leaked secrets:\n" + "\n".join(leaks)
