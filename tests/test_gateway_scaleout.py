"""Two gateway instances (separate `topapi serve` processes on different ports) on one PostgreSQL and one
Redis behave as one gateway (issue 11): admin writes reach the other at once, rpm and quota hold across
both, login throttling is shared, and with Redis stopped mid-run both keep relaying.

The instances poll the change counter only every 5 s here, so a change seen sooner came through Redis.
Propagation times are measured and printed; the assertions allow for this run's pace.
"""

from __future__ import annotations

import time
import uuid
from concurrent.futures import ThreadPoolExecutor

import httpx
import pytest
from gateway_fixtures import POSTGRES_ENV, postgres_url
from prometheus_client.parser import text_string_to_metric_families
from scaleout_support import (
    CHAT,
    PASSWORD,
    Console,
    Instance,
    OwnRedis,
    all_answer,
    converge,
    need_redis,
    pace,
    poll,
    prefix,
    user_key,
)

from gateway.config import GatewayConfig
from gateway.demo import DemoStack
from gateway.store.db import drop_pg_schema

pytestmark = [pytest.mark.postgres, pytest.mark.slow]


class Cluster:
    def __init__(self, tmp, redis_url: str, sync_interval: str = "5") -> None:
        self.url = postgres_url()
        if self.url is None:
            pytest.skip(f"{POSTGRES_ENV} is not set: the two-instance tests run on PostgreSQL")
        self.schema = f"t_{uuid.uuid4().hex}"
        (tmp / "seed").mkdir(parents=True, exist_ok=True)
        self.demo = DemoStack(GatewayConfig(state_dir=tmp / "seed", database_url=self.url,
                                            database_schema=self.schema))
        self.demo.start()  # the mocks (threads of this process) and the catalog
        args = ["--database-url", self.url, "--database-schema", self.schema, "--redis-url", redis_url,
                "--redis-prefix", prefix(), "--sync-interval", sync_interval]
        self.a = Instance(list(args), tmp / "a")
        self.b = Instance(list(args), tmp / "b")
        self.a.start()
        self.b.start()
        admin = self.demo.info["accounts"]["platform_admin"]
        self.admin = Console(self.a.url, admin["username"], admin["password"])

    def close(self) -> None:
        self.admin.close()
        for inst in (self.a, self.b):
            inst.stop()
        self.demo.stop()
        import asyncio

        asyncio.run(drop_pg_schema(self.url, self.schema))


@pytest.fixture(scope="module")
def cluster(tmp_path_factory):
    redis_url = need_redis()
    c = Cluster(tmp_path_factory.mktemp("cluster"), redis_url)
    yield c
    c.close()


def chat(url: str, key: str) -> int:
    with httpx.Client(timeout=30) as c:
        return c.post(url + "/v1/chat/completions", json=CHAT, headers={"Authorization": key}).status_code


def test_a_key_made_on_a_works_on_b_at_once_and_a_disabled_one_is_refused_within_a_second(cluster) -> None:
    a, b = cluster.a, cluster.b
    _, username = cluster.admin.new_user()
    key, key_id = user_key(a.url, username)
    took_new = converge([b.url], "/v1/models", key, 200, streak=5)
    me = Console(a.url, username, PASSWORD)
    me.call("PATCH", f"/api/user/keys/{key_id}", json={"enabled": False})
    took_off = converge([b.url], "/v1/models", key, 401, streak=5)
    me.close()
    step = pace(b.url)
    print(f"\nA -> B through Redis (last stale answer on B ended after): new key {took_new * 1000:.1f} ms, "
          f"disabled key {took_off * 1000:.1f} ms (one request here: {step * 1000:.1f} ms; the poll is every 5 s)")
    limit = 1.0 + 5 * step  # well under the 5 s poll: it was Redis
    assert took_new <= limit and took_off <= limit, (took_new, took_off, limit)


def test_rpm_10_gives_at_most_11_of_30_spread_over_both(cluster) -> None:
    a, b = cluster.a, cluster.b
    _, username = cluster.admin.new_user()
    key, _ = user_key(a.url, username, rpm=10)
    poll(all_answer([a.url, b.url], "/v1/models", key, 200, times=2), 30, "key visible on both")
    with ThreadPoolExecutor(10) as pool:
        codes = list(pool.map(lambda i: chat((a, b)[i % 2].url, key), range(30)))
    ok = codes.count(200)
    print(f"\nrpm 10, burst of 30 over two instances: {ok} x 200, {codes.count(429)} x 429")
    assert set(codes) <= {200, 429}
    assert 10 <= ok <= 11, codes


def test_a_users_quota_holds_across_both(cluster) -> None:
    a, b = cluster.a, cluster.b
    user_id, username = cluster.admin.new_user(quota=1.0)  # a quota from the start: all spend is shared
    key, _ = user_key(a.url, username)
    poll(all_answer([a.url, b.url], "/v1/models", key, 200, times=2), 30, "key visible on both")
    assert chat(a.url, key) == 200
    first = poll_records(cluster.admin, user_id, 1)
    cost = first[0]["cost"]
    assert cost > 0
    quota = cost * 10.5  # room for 9.5 more requests in all, not 9.5 on each instance
    cluster.admin.call("PATCH", f"/api/platform/users/{user_id}", json={"quota": quota})
    time.sleep(0.5)  # ordering, not timing: the new quota reaches B through Redis in milliseconds
    statuses = []
    for i in range(40):
        status = chat((a, b)[i % 2].url, key)
        statuses.append(status)
        if status == 402 and len(statuses) > 1 and statuses[-2] == 402:
            break
    served = 1 + statuses.count(200)
    records = poll_records(cluster.admin, user_id, served)
    spent = sum(r["cost"] for r in records)
    print(f"\nquota {quota:.6f} (10.5 requests): {served} served over both, spent {spent:.6f}, then {statuses[-2:]}")
    assert statuses[-2:] == [402, 402]  # refused on both instances
    assert spent <= quota + cost * 1.01, (spent, quota, cost, statuses)  # within one request's cost


def poll_records(admin: Console, user_id: int, at_least: int) -> list[dict]:
    found: list[dict] = []

    def enough() -> bool:
        nonlocal found
        found = admin.call("GET", "/api/platform/usage", params={"user": user_id, "limit": 500})["data"]
        return len(found) >= at_least

    poll(enough, 30, f"{at_least} usage records of user {user_id}")
    return found


def test_login_throttling_is_shared(cluster) -> None:
    _, username = cluster.admin.new_user()
    for i in range(5):
        r = httpx.post((cluster.a, cluster.b)[i % 2].url + "/api/auth/login",
                       json={"username": username, "password": "wrong password"}, timeout=30)
        assert r.status_code == 401
    r = httpx.post(cluster.b.url + "/api/auth/login", json={"username": username, "password": PASSWORD}, timeout=30)
    assert r.status_code == 429 and int(r.headers["retry-after"]) >= 1


def metric(url: str, name: str) -> float | None:
    text = httpx.get(url + "/metrics", timeout=30).text
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            if sample.name == name:
                return sample.value
    return None


def test_with_redis_stopped_mid_run_both_keep_relaying_and_recover(tmp_path) -> None:
    need_redis()  # the redis-server binary is what this needs; skip where there is none
    own = OwnRedis(tmp_path).start()
    cluster = Cluster(tmp_path, own.url, sync_interval="0.25")
    try:
        a, b = cluster.a, cluster.b
        _, username = cluster.admin.new_user()
        key, _ = user_key(a.url, username, rpm=1000)
        poll(all_answer([a.url, b.url], "/v1/models", key, 200, times=2), 30, "key visible on both")
        assert [chat(a.url, key), chat(b.url, key)] == [200, 200]
        assert metric(a.url, "topapi_redis_up") == 1
        own.stop()
        t0 = time.perf_counter()
        codes = [chat((a, b)[i % 2].url, key) for i in range(20)]
        print(f"\nRedis stopped: 20 requests over both in {time.perf_counter() - t0:.2f} s: {codes.count(200)} x 200")
        assert codes == [200] * 20
        assert metric(a.url, "topapi_redis_up") == 0 and metric(b.url, "topapi_redis_up") == 0
        assert metric(a.url, "topapi_limits_local_total") >= 10
        # admin writes still reach the other instance: through the change counter now
        _, other = cluster.admin.new_user()
        key2, _ = user_key(a.url, other)
        poll(all_answer([b.url], "/v1/models", key2, 200, times=2), 30, "a key made while Redis is away")
        own.start()
        took = poll(lambda: metric(a.url, "topapi_redis_up") == 1 and metric(b.url, "topapi_redis_up") == 1, 30,
                    "both see Redis again")
        print(f"Redis back: both instances use it again after {took:.2f} s")
        assert [chat(a.url, key), chat(b.url, key)] == [200, 200]
    finally:
        cluster.close()
        own.stop()
