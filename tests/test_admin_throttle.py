"""Login throttling (issue 11): wrong passwords in a row per account and per client address."""
# ruff: noqa: F811  (the `store` fixture is imported by name)

from __future__ import annotations

import httpx
import pytest
from gateway_fixtures import PASSWORD, ChangeRecorder, store  # noqa: F401,F811  (fixture)
from starlette.applications import Starlette

from gateway.admin import routes
from gateway.admin.throttle import LoginThrottle
from gateway.store import accounts


class Clock:
    def __init__(self) -> None:
        self.now = 1_000_000.0

    def __call__(self) -> float:
        return self.now


def client(store, throttle: LoginThrottle, address: str) -> httpx.AsyncClient:
    app = Starlette(routes=routes(store, ChangeRecorder(), throttle=throttle))
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app, client=(address, 40000)),
                             base_url="http://gateway.test")


async def login(c: httpx.AsyncClient, username: str, password: str) -> httpx.Response:
    return await c.post("/api/auth/login", json={"username": username, "password": password})


async def test_an_account_is_throttled_after_five_wrong_passwords_and_a_right_one_clears_it(store) -> None:
    await accounts.create_user(store, "alice", PASSWORD)
    clock = Clock()
    throttle = LoginThrottle(clock=clock)
    async with client(store, throttle, "198.51.100.7") as c:
        for _ in range(5):
            assert (await login(c, "alice", "wrong password")).status_code == 401
        r = await login(c, "alice", "wrong password")
        assert r.status_code == 429 and r.json()["error"]["code"] == "too_many_attempts"
        assert r.headers["retry-after"] == "1"
        r = await login(c, "alice", PASSWORD)  # refused too: inside the delay the password is not looked at
        assert r.status_code == 429
        clock.now += 1.01
        assert (await login(c, "alice", "wrong again")).status_code == 401  # 6th failure: 2 s now
        r = await login(c, "alice", PASSWORD)
        assert r.status_code == 429 and r.headers["retry-after"] == "2"
        clock.now += 2.01
        assert (await login(c, "alice", PASSWORD)).status_code == 200
        for _ in range(5):  # the count started again
            assert (await login(c, "alice", "wrong password")).status_code == 401
    async with client(store, throttle, "198.51.100.8") as other:  # per account: another address is no help
        assert (await login(other, "ALICE", "wrong password")).status_code == 429


async def test_one_address_is_throttled_across_accounts_but_loopback_only_per_account(store) -> None:
    clock = Clock()
    throttle = LoginThrottle(clock=clock)
    async with client(store, throttle, "203.0.113.9") as c:
        for i in range(20):  # 20 names, each well under the per-account limit
            assert (await login(c, f"nobody{i}", "wrong password")).status_code == 401
        r = await login(c, "nobody99", "wrong password")
        assert r.status_code == 429
    async with client(store, throttle, "203.0.113.10") as c:
        assert (await login(c, "nobody99", "wrong password")).status_code == 401
    async with client(store, throttle, "127.0.0.1") as c:  # a local reverse proxy: per account only
        for i in range(30):
            assert (await login(c, f"local{i}", "wrong password")).status_code == 401


@pytest.mark.parametrize("delay_cap", [300.0])
async def test_the_delay_doubles_up_to_its_cap(store, delay_cap) -> None:
    clock = Clock()
    throttle = LoginThrottle(clock=clock, max_delay_s=delay_cap)
    for _ in range(30):
        await throttle.failed("192.0.2.1", "bob")
        clock.now += 0.001
    wait = await throttle.wait_s("192.0.2.1", "bob")
    assert delay_cap - 1 < wait <= delay_cap
    clock.now += 901  # forgotten after 15 minutes without a failure
    assert await throttle.wait_s("192.0.2.1", "bob") == 0
