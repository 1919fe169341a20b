"""What the console pages need from the admin API: the cookie session and its CSRF defence, user
search, usage per day and model, CSV export, node health, one's own totals. On both databases,
through httpx's ASGI transport; the `admin` fixture fails a test whose responses leak a secret."""

from __future__ import annotations

import csv
import io

import httpx
import pytest
from gateway_fixtures import PASSWORD, Admin, admin, store  # noqa: F401  (fixtures)
from starlette.applications import Starlette

from gateway.admin import routes
from gateway.admin.sessions import CSRF_COOKIE, SESSION_COOKIE, csrf_token
from gateway.routing import Router
from gateway.store import accounts, catalog, usage

ORIGIN = "http://gateway.test"


async def platform_admin(api: Admin) -> str:
    await accounts.ensure_admin(api.store, "root", PASSWORD)
    return await api.login("root")


def set_cookies(response: httpx.Response) -> dict[str, str]:
    """Set-Cookie headers by cookie name (the whole header line)."""
    return {line.split("=", 1)[0]: line for line in response.headers.get_list("set-cookie")}


async def cookie_login(api: Admin, username: str, **headers: str) -> httpx.Response:
    return await api.call("POST", "/api/auth/login", json={"username": username, "password": PASSWORD, "cookie": True},
                          headers=headers)


async def test_cookie_session_and_csrf(admin: Admin) -> None:  # noqa: F811
    api = admin
    await accounts.create_user(api.store, "alice", PASSWORD)
    r = await cookie_login(api, "alice")
    assert r.status_code == 200 and "token" not in r.json() and r.json()["user"]["username"] == "alice"
    cookies = set_cookies(r)
    session = cookies[SESSION_COOKIE].lower()
    assert "httponly" in session and "samesite=strict" in session and "secure" not in session  # plain http here
    assert "httponly" not in cookies[CSRF_COOKIE].lower() and "samesite=strict" in cookies[CSRF_COOKIE].lower()
    token = api.client.cookies[SESSION_COOKIE]
    assert api.client.cookies[CSRF_COOKIE] == csrf_token(token)

    # reading needs nothing more than the cookie
    assert (await api.call("GET", "/api/user/me")).json()["username"] == "alice"
    # a write without the header, with a wrong one, or from another origin is refused
    for headers in ({}, {"X-CSRF-Token": "nope"}, {"X-CSRF-Token": csrf_token(token), "Origin": "https://evil.example"},
                    {"X-CSRF-Token": csrf_token(token), "Sec-Fetch-Site": "cross-site"},
                    {"X-CSRF-Token": csrf_token(token), "Origin": "null"}):
        r = await api.call("POST", "/api/user/keys", json={"name": "k"}, headers=headers)
        assert r.status_code == 403 and r.json()["error"]["code"] == "csrf_rejected", (headers, r.text)
    assert (await api.call("GET", "/api/user/keys")).json()["total"] == 0
    # the page's own request passes
    r = await api.call("POST", "/api/user/keys", json={"name": "k"},
                       headers={"X-CSRF-Token": csrf_token(token), "Origin": ORIGIN, "Sec-Fetch-Site": "same-origin"})
    assert r.status_code == 201, r.text

    # logging out ends the session and clears both cookies
    r = await api.call("POST", "/api/auth/logout", headers={"X-CSRF-Token": csrf_token(token)})
    assert r.status_code == 204
    assert all("max-age=0" in line.lower() for line in set_cookies(r).values()) and len(set_cookies(r)) == 2
    assert await accounts.lookup_session(api.store, token) is None


async def test_bearer_clients_are_untouched(admin: Admin) -> None:  # noqa: F811
    """API clients send no cookie: no CSRF header needed, whatever Origin they send."""
    api = admin
    await accounts.create_user(api.store, "bob", PASSWORD)
    token = await api.login("bob")
    assert not api.client.cookies  # a plain login sets no cookie
    r = await api.call("POST", "/api/user/keys", token, json={"name": "k"}, headers={"Origin": "https://elsewhere"})
    assert r.status_code == 201


async def test_cookie_login_refuses_other_sites_and_marks_https(admin: Admin) -> None:  # noqa: F811
    api = admin
    await accounts.create_user(api.store, "carol", PASSWORD)
    r = await cookie_login(api, "carol", Origin="https://evil.example")
    assert r.status_code == 403 and r.json()["error"]["code"] == "csrf_rejected"
    r = await cookie_login(api, "carol", **{"X-Forwarded-Proto": "https"})
    assert r.status_code == 200
    assert all("secure" in line.lower() for line in set_cookies(r).values())
    r = await api.call("POST", "/api/auth/login", json={"username": "carol", "password": PASSWORD, "cookie": "yes"})
    assert r.status_code == 400 and "cookie" in r.json()["error"]["message"]


async def test_user_search(admin: Admin) -> None:  # noqa: F811
    api = admin
    root = await platform_admin(api)
    for name in ("test101", "test102", "Tester_x", "other"):
        await accounts.create_user(api.store, name, PASSWORD)
    names = lambda r: [u["username"] for u in r.json()["data"]]  # noqa: E731
    r = await api.call("GET", "/api/platform/users?q=TEST", root)
    assert names(r) == ["test101", "test102", "Tester_x"] and r.json()["total"] == 3
    assert names(await api.call("GET", "/api/platform/users?q=r_", root)) == ["Tester_x"]  # _ is literal
    assert names(await api.call("GET", "/api/platform/users?q=%25", root)) == []  # so is %
    assert (await api.call("GET", "/api/platform/users?q=test&limit=1", root)).json()["total"] == 3
    assert (await api.call("GET", "/api/platform/users?q=" + "x" * 65, root)).status_code == 400


async def _records(api: Admin) -> tuple[dict, dict]:
    alice = await accounts.create_user(api.store, "alice", PASSWORD, quota=1.0)
    bob = await accounts.create_user(api.store, "bob", PASSWORD)
    base = {"endpoint": "chat.completions", "status": 200, "outcome": "ok", "node": "n1", "total_tokens": 10,
            "latency_ms": 100.0}
    day = 86400.0
    await usage.write_batch(api.store, [
        base | {"request_id": "a1", "user_id": alice["id"], "model": "m1", "cost": 0.1, "created_at": day - 0.25},
        base | {"request_id": "a2", "user_id": alice["id"], "model": "m1", "cost": 0.2, "created_at": day},
        base | {"request_id": "a3", "user_id": alice["id"], "model": "m2", "cost": 0.3, "created_at": day + 5,
                "error": "=HYPERLINK(\"http://x\")"},
        base | {"request_id": "b1", "user_id": bob["id"], "model": "m1", "cost": 0.4, "created_at": 3 * day + 1,
                "status": 502, "outcome": "upstream_error", "node": "n2", "latency_ms": 300.0},
    ])
    return alice, bob


async def test_usage_per_day_and_model(admin: Admin) -> None:  # noqa: F811
    api = admin
    root = await platform_admin(api)
    alice, _ = await _records(api)
    rows = (await api.call("GET", "/api/platform/usage/daily", root)).json()["data"]
    assert [(r["day"], r["model"], r["requests"]) for r in rows] == [
        (0, "m1", 1), (86400, "m1", 1), (86400, "m2", 1), (3 * 86400, "m1", 1)]  # 86399.75 is still day 0
    assert rows[3]["errors"] == 1 and rows[2]["cost"] == pytest.approx(0.3) and rows[0]["total_tokens"] == 10
    rows = (await api.call("GET", "/api/platform/usage/daily?user=alice&model=m1", root)).json()["data"]
    assert [(r["day"], r["requests"]) for r in rows] == [(0, 1), (86400, 1)]
    assert (await api.call("GET", "/api/platform/usage/daily?user=ghost", root)).json() == {"data": []}
    assert (await api.call("GET", "/api/platform/usage/daily?since=bad", root)).status_code == 400
    token = await api.login("alice")
    assert (await api.call("GET", "/api/platform/usage/daily", token)).status_code == 403
    del alice


async def test_csv_export(admin: Admin) -> None:  # noqa: F811
    api = admin
    root = await platform_admin(api)
    await _records(api)
    r = await api.call("GET", "/api/platform/usage/export", root)
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/csv")
    assert r.headers["content-disposition"].startswith('attachment; filename="topapi-usage-')
    rows = list(csv.DictReader(io.StringIO(r.text)))
    assert [x["request_id"] for x in rows] == ["b1", "a3", "a2", "a1"]
    assert rows[0]["time"] == "1970-01-04T00:00:01.000+00:00" and rows[0]["outcome"] == "upstream_error"
    assert rows[1]["error"] == "'=HYPERLINK(\"http://x\")"  # a spreadsheet shows it, never runs it
    r = await api.call("GET", "/api/platform/usage/export?user=alice&model=m1", root)
    assert [x["request_id"] for x in csv.DictReader(io.StringIO(r.text))] == ["a2", "a1"]
    r = await api.call("GET", "/api/platform/usage/export?node=zzz", root)
    assert r.text.splitlines() == [r.text.splitlines()[0]] and r.text.startswith("time,request_id,")
    assert (await api.call("GET", "/api/platform/usage/export?until=nonsense", root)).status_code == 400


async def test_csv_export_pages_through_many_records(admin: Admin, monkeypatch: pytest.MonkeyPatch) -> None:  # noqa: F811
    from gateway.admin import export

    monkeypatch.setattr(export, "PAGE", 7)
    api = admin
    root = await platform_admin(api)
    base = {"endpoint": "chat.completions", "status": 200, "outcome": "ok", "user_id": 1}
    await usage.write_batch(api.store, [base | {"request_id": f"r{i}", "created_at": 1000.0 + i} for i in range(30)])
    r = await api.call("GET", "/api/platform/usage/export", root)
    ids = [x["request_id"] for x in csv.DictReader(io.StringIO(r.text))]
    assert ids == [f"r{i}" for i in reversed(range(30))]


async def test_node_health(store) -> None:  # noqa: F811
    router = Router(threshold=2, cooldown_s=60)

    async def unused() -> None:
        pass

    app = Starlette(routes=routes(store, unused, router=router))
    await accounts.ensure_admin(store, "root", PASSWORD)
    n1 = await catalog.create_node(store, "n1", "openai", "http://127.0.0.1:9/v1", api_key="sk-secret-upstream")
    n2 = await catalog.create_node(store, "n2", "openai", "http://127.0.0.1:9/v1")
    await catalog.create_node(store, "n3", "gemini", "http://127.0.0.1:9")
    router.breaker(n2["id"]).failure()
    router.breaker(n2["id"]).failure()  # threshold reached: open
    router.breaker(n1["id"]).failure()  # one failure: still closed
    import time

    now = time.time()
    base = {"endpoint": "chat.completions", "user_id": 1, "model": "m"}
    await usage.write_batch(store, [
        base | {"request_id": "x1", "node": "n1", "status": 200, "outcome": "ok", "latency_ms": 100.0, "created_at": now - 5},
        base | {"request_id": "x2", "node": "n1", "status": 200, "outcome": "ok", "latency_ms": 300.0, "created_at": now - 4},
        base | {"request_id": "x3", "node": "n2", "status": 502, "outcome": "upstream_error", "latency_ms": 50.0,
                "error": "HTTP 502 from upstream", "created_at": now - 3},
        base | {"request_id": "old", "node": "n1", "status": 502, "outcome": "upstream_error", "created_at": now - 5000},
    ])
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url=ORIGIN) as client:
        token = (await client.post("/api/auth/login", json={"username": "root", "password": PASSWORD})).json()["token"]
        r = await client.get("/api/node/health", headers={"Authorization": f"Bearer {token}"})
        assert r.status_code == 200 and "sk-secret-upstream" not in r.text
        body = r.json()
        assert body["window_s"] == 900
        by_name = {x["name"]: x for x in body["data"]}
        assert by_name["n1"]["breaker"] == "closed" and by_name["n1"]["consecutive_failures"] == 1
        assert by_name["n1"]["requests"] == 2 and by_name["n1"]["errors"] == 0  # the old error is outside the window
        assert by_name["n1"]["latency_ms"] == pytest.approx(200.0) and by_name["n1"]["max_latency_ms"] == 300.0
        assert by_name["n2"]["breaker"] == "open" and by_name["n2"]["errors"] == 1
        assert by_name["n2"]["recent_errors"][0]["error"] == "HTTP 502 from upstream"
        assert by_name["n3"] == by_name["n3"] | {"breaker": "closed", "requests": 0, "recent_errors": []}
        r = await client.get("/api/node/health?window=86400", headers={"Authorization": f"Bearer {token}"})
        assert {x["name"]: x["errors"] for x in r.json()["data"]}["n1"] == 1
        r = await client.get("/api/node/health?window=5", headers={"Authorization": f"Bearer {token}"})
        assert r.status_code == 400
        # schemathesis' find: junk, then an empty value, read as absent (Starlette keeps the last)
        r = await client.get("/api/node/health?window=%C2%A6P&window=", headers={"Authorization": f"Bearer {token}"})
        assert r.status_code == 400 and r.json()["error"]["code"] == "invalid_query", r.text


async def test_own_stats_and_quota_left(admin: Admin) -> None:  # noqa: F811
    api = admin
    await _records(api)
    token = await api.login("alice")
    r = (await api.call("GET", "/api/user/stats", token)).json()
    assert r["totals"]["requests"] == 3 and r["totals"]["cost"] == pytest.approx(0.6)
    assert r["quota"] == 1.0 and r["used"] == pytest.approx(0.6) and r["remaining"] == pytest.approx(0.4)
    assert {m["model"]: m["requests"] for m in r["by_model"]} == {"m1": 2, "m2": 1}
    r = (await api.call("GET", "/api/user/stats?model=m2&since=86400", token)).json()
    assert r["totals"]["requests"] == 1
    r = (await api.call("GET", "/api/user/stats", await api.login("bob"))).json()
    assert r["totals"]["requests"] == 1 and r["quota"] is None and r["remaining"] is None
