"""The limits (issue 11): the same rules per process and shared through Redis, and the fall-back between them.

Each Redis test uses a key prefix of its own: the shared Redis is never flushed.
"""

from __future__ import annotations

import asyncio

import pytest
from scaleout_support import OwnRedis, need_redis, prefix

from gateway.cache import KeyInfo, UserInfo
from gateway.limits import Limits, LocalLimits
from gateway.shared import Shared


def key(**limits) -> KeyInfo:
    return KeyInfo(id=limits.pop("id", 1), user_id=1, name="k", enabled=True, expires_at=None, models=None,
                   rpm=limits.get("rpm"), tpm=limits.get("tpm"), concurrency=limits.get("concurrency"))


def user(quota: float | None = None, used: float = 0.0, uid: int = 1) -> UserInfo:
    return UserInfo(uid, "u", "user", True, quota, used)


class Clock:
    def __init__(self) -> None:
        self.now = 6000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
async def shared_pair():
    """Two Limits on one Redis, as two instances would have."""
    url = need_redis()
    p = prefix()
    a, b = Shared(url, p), Shared(url, p)
    await a.start()
    await b.start()
    yield Limits(a), Limits(b)
    for s in (a, b):
        keys = [k async for k in s.redis.scan_iter(match=p + "*")]
        if keys:
            await s.redis.delete(*keys)
        await s.stop()


def test_local_rpm_tpm_concurrency_and_quota() -> None:
    clock = Clock()
    lim = LocalLimits(clock)
    k = key(rpm=3)
    assert [lim.admit(k, user()) for _ in range(4)][:3] == [None] * 3
    refused = lim.admit(k, user())
    assert refused.status == 429 and refused.code == "rate_limit_exceeded" and refused.retry_after_s == 20
    clock.now += 20
    assert lim.admit(k, user()) is None
    t = key(id=2, tpm=100)
    assert lim.admit(t, user()) is None
    lim.add_tokens(2, 100)
    refused = lim.admit(t, user())
    assert refused.code == "tokens_rate_limit_exceeded"
    clock.now += 60 + 45  # next minute, 3/4 through: a quarter of the last minute still counts: 25 tokens
    assert lim.admit(t, user()) is None
    c = key(id=3, concurrency=2)
    assert lim.admit(c, user()) is None and lim.admit(c, user()) is None
    assert lim.admit(c, user()).code == "concurrency_limit_exceeded"
    lim.release(3)
    assert lim.admit(c, user()) is None
    assert lim.admit(key(id=4), user(quota=1.0, used=1.0)).status == 402


async def test_redis_shares_rpm_between_instances(shared_pair) -> None:
    a, b = shared_pair
    k = key(rpm=10)
    answers = [await (a if i % 2 else b).admit(k, user(), f"r{i}") for i in range(30)]
    assert sum(x is None for x in answers) == 10
    assert {x.code for x in answers if x is not None} == {"rate_limit_exceeded"}


async def test_redis_shares_concurrency_and_tokens(shared_pair) -> None:
    a, b = shared_pair
    k = key(id=5, concurrency=2, tpm=1000)
    u = user()
    assert await a.admit(k, u, "x1") is None
    assert await b.admit(k, u, "x2") is None
    assert (await a.admit(k, u, "x3")).code == "concurrency_limit_exceeded"
    b.settle(k, u, "x2", 0.0, 1000)  # finished: its slot back, its 1000 tokens count
    a.settle(k, u, "never-admitted", 0.0, 0)  # a request refused before admission frees no slot
    await asyncio.sleep(0.1)  # the flusher sends it
    refused = await a.admit(k, u, "x4")
    assert refused.code == "tokens_rate_limit_exceeded" and refused.retry_after_s >= 1


async def test_redis_shares_spend_so_the_quota_holds_across_instances(shared_pair) -> None:
    a, b = shared_pair
    ua, ub = user(quota=1.0, uid=9), user(quota=1.0, uid=9)  # each instance's own view of the user
    k = key(id=9)
    spent = 0
    for i in range(10):
        limits, u = (a, ua) if i % 2 else (b, ub)
        if await limits.admit(k, u, f"q{i}") is not None:
            break
        u.used += 0.3  # what Gateway.record does locally
        limits.settle(k, u, f"q{i}", 0.3, 10)
        spent += 1
        await asyncio.sleep(0.05)
    assert spent == 4  # 0, 0.3, 0.6, 0.9 admitted; 1.2 refused (per process it would have been 4 on each)


async def test_redis_away_falls_back_per_process_and_comes_back(tmp_path) -> None:
    own = OwnRedis(tmp_path).start()
    shared = Shared(own.url, prefix(), retry_s=0.1)
    await shared.start()
    limits = Limits(shared)
    k = key(rpm=1000)
    try:
        assert await limits.admit(k, user(), "a") is None and shared.up
        own.stop()
        assert await limits.admit(k, user(), "b") is None  # refused connection: per process at once
        assert not shared.up and limits.degraded == 1
        assert await limits.admit(k, user(), "c") is None and limits.degraded == 2  # no Redis call tried now
        own.start()
        for _ in range(100):
            if shared.up:
                break
            await asyncio.sleep(0.05)
        assert shared.up
        assert await limits.admit(k, user(), "d") is None and limits.degraded == 2
    finally:
        await shared.stop()
        own.stop()


async def test_only_an_admitted_request_frees_its_slot() -> None:
    limits = Limits()
    k = key(concurrency=1)
    assert await limits.admit(k, user(), "a") is None
    limits.settle(k, user(), "refused-earlier", 0.0, 0)  # never admitted: holds no slot
    assert (await limits.admit(k, user(), "b")).code == "concurrency_limit_exceeded"
    limits.settle(k, user(), "a", 0.0, 0)
    assert await limits.admit(k, user(), "c") is None
