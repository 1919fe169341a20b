"""The consoles' admin API (WIRE.md "Admin API") through httpx's ASGI transport, on both databases.

Every test here runs with the `admin` fixture, which fails the test if any response body
carried a password hash, key hash, upstream key or a full API key outside its creation."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from datetime import UTC, datetime

import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer
from gateway_fixtures import PASSWORD, Admin, Seen, admin, find_secrets, store  # noqa: F401  (fixtures)

from gateway import security
from gateway.store import accounts, catalog, usage

UPSTREAM_KEY = "sk-upstream-secret-0123456789abcdef"


async def platform_admin(api: Admin) -> str:
    await accounts.ensure_admin(api.store, "root", PASSWORD)
    return await api.login("root")


def error_of(response) -> dict:
    body = response.json()
    assert set(body) == {"error"} and set(body["error"]) == {"code", "message"}, body
    return body["error"]


async def test_seed_flow(admin: Admin) -> None:  # noqa: F811
    api = admin
    api.secrets.append(UPSTREAM_KEY)
    root = await platform_admin(api)

    # the platform admin creates a user and a node admin
    r = await api.call("POST", "/api/platform/users", root, {"username": "test101", "password": "password101"})
    assert r.status_code == 201 and r.json()["role"] == "user" and "password" not in r.text
    user_id = r.json()["id"]
    r = await api.call("POST", "/api/platform/users", root,
                       {"username": "nodeops", "password": PASSWORD, "role": "node_admin"})
    assert r.status_code == 201

    # the node admin adds a node and a model; the model appears in the market
    ops = await api.login("nodeops")
    r = await api.call("POST", "/api/node/nodes", ops, {
        "name": "openai-a", "provider": "openai", "base_url": "http://127.0.0.1:9/v1/", "api_key": UPSTREAM_KEY,
        "weight": 2, "priority": 1, "enabled": True, "models": [{"model": "gpt-4.1-mini"}]})
    assert r.status_code == 201, r.text
    node = r.json()
    assert node["base_url"] == "http://127.0.0.1:9/v1" and node["api_key_hint"] == "sk-...cdef"
    assert "api_key" not in node and node["models"] == [{"model": "gpt-4.1-mini", "upstream_model": None}]
    r = await api.call("POST", "/api/node/models", ops, {
        "name": "gpt-4.1-mini", "kind": "chat", "display_name": "GPT-4.1 mini",
        "price": {"input_per_1k": 0.0004, "output_per_1k": 0.0016}})
    assert r.status_code == 201, r.text

    # the user logs in, adds a key and enables it, subscribes from the market
    token = await api.login("test101", "password101")
    r = await api.call("GET", "/api/user/me", token)
    assert r.json()["username"] == "test101" and r.json()["id"] == user_id
    r = await api.call("POST", "/api/user/keys", token, {"name": "seed", "enabled": False})
    assert r.status_code == 201
    full_key, key_id = r.json()["key"], r.json()["id"]
    assert full_key.startswith("sk-tk-") and r.json()["prefix"] == security.key_display_prefix(full_key)
    r = await api.call("PATCH", f"/api/user/keys/{key_id}", token, {"enabled": True})
    assert r.status_code == 200 and r.json()["enabled"] is True and "key" not in r.json()
    r = await api.call("GET", "/api/user/market", token)
    market = {m["name"]: m for m in r.json()["data"]}
    assert market["gpt-4.1-mini"]["subscribed"] is False
    assert market["gpt-4.1-mini"]["price"]["output_per_1k"] == 0.0016
    r = await api.call("POST", "/api/user/subscriptions", token, {"model": "gpt-4.1-mini"})
    assert r.status_code == 201 and r.json()["model"] == "gpt-4.1-mini"
    r = await api.call("POST", "/api/user/subscriptions", token, {"model": "gpt-4.1-mini"})
    assert r.status_code == 200  # already subscribed: idempotent
    r = await api.call("GET", "/api/user/market", token)
    assert r.json()["data"][0]["subscribed"] is True
    r = await api.call("GET", "/api/user/subscriptions", token)
    assert [s["model"] for s in r.json()["data"]] == ["gpt-4.1-mini"]

    # what the relay's cache will load now
    snap = await catalog.load_snapshot(api.store)
    key = next(k for k in snap["api_keys"] if k["key_hash"] == security.hash_key(full_key))
    assert key["enabled"] and key["user_id"] == user_id
    assert (user_id, "gpt-4.1-mini") in snap["subscriptions"]
    assert snap["nodes"][0]["api_key"] == UPSTREAM_KEY and snap["nodes"][0]["weight"] == 2


async def test_on_change_after_every_write_and_only_then(admin: Admin) -> None:  # noqa: F811
    api = admin
    root = await platform_admin(api)
    writes = [
        ("POST", "/api/platform/users", {"username": "alice", "password": PASSWORD}),
        ("PATCH", "/api/platform/users/2", {"quota": 10}),
        ("POST", "/api/node/models", {"name": "m1", "kind": "chat", "price": {}}),
        ("PATCH", "/api/node/models/1", {"listed": True}),
        ("POST", "/api/node/nodes", {"name": "n1", "provider": "gemini", "base_url": "http://127.0.0.1:9"}),
        ("PATCH", "/api/node/nodes/1", {"weight": 5}),
        ("POST", "/api/user/keys", {"name": "k"}),
        ("PATCH", "/api/user/keys/1", {"rpm": 10}),
        ("POST", "/api/user/subscriptions", {"model": "m1"}),
        ("DELETE", "/api/user/subscriptions/m1", None),
        ("DELETE", "/api/user/keys/1", None),
        ("DELETE", "/api/node/nodes/1", None),
        ("DELETE", "/api/node/models/1", None),
        ("DELETE", "/api/platform/users/2", None),
    ]
    for method, path, body in writes:
        before = api.changes.calls
        r = await api.call(method, path, root, body)
        assert r.status_code in (200, 201, 204), (method, path, r.text)
        assert api.changes.calls == before + 1, (method, path)
    before = api.changes.calls
    for method, path, body in [("GET", "/api/platform/users", None), ("GET", "/api/node/nodes", None),
                               ("GET", "/api/user/keys", None), ("PATCH", "/api/node/nodes/99", {"weight": 1}),
                               ("POST", "/api/node/models", {"name": "bad name", "kind": "chat", "price": {}}),
                               ("POST", "/api/platform/users", {"username": "root", "password": PASSWORD})]:
        r = await api.call(method, path, root, body)
        assert r.status_code in (200, 400, 404, 409)
    assert api.changes.calls == before  # reads and failed writes do not reload the cache


async def test_keys_shown_once_and_private(admin: Admin) -> None:  # noqa: F811
    api = admin
    _, alice = await api.user("alice")
    _, bob = await api.user("bob")
    expires = time.time() + 86400
    r = await api.call("POST", "/api/user/keys", alice,
                       {"name": "ci", "expires_at": expires, "models": ["m1", "m1", "m2"], "rpm": 30})
    assert r.status_code == 201
    created = r.json()
    assert created["models"] == ["m1", "m2"] and created["rpm"] == 30 and created["expires_at"] == pytest.approx(expires)
    r = await api.call("POST", "/api/user/keys", alice, {"name": "iso", "expires_at": "2999-01-02T03:04:05Z"})
    assert r.json()["expires_at"] == datetime(2999, 1, 2, 3, 4, 5, tzinfo=UTC).timestamp()
    r = await api.call("GET", "/api/user/keys", alice)
    listed = r.json()
    assert listed["total"] == 2 and listed["limit"] == 50 and listed["offset"] == 0
    assert all("key" not in k and k["prefix"].startswith("sk-tk-") for k in listed["data"])
    assert created["key"] not in r.text
    key_path = f"/api/user/keys/{created['id']}"
    assert (await api.call("GET", key_path, alice)).json()["name"] == "ci"
    for method, body in [("GET", None), ("PATCH", {"enabled": False}), ("DELETE", None)]:
        r = await api.call(method, key_path, bob, body)
        assert r.status_code == 404 and error_of(r)["code"] == "not_found"  # existence not revealed
    assert (await api.call("GET", "/api/user/keys", bob)).json()["total"] == 0
    r = await api.call("PATCH", key_path, alice, {"name": "renamed", "models": None, "rpm": None})
    assert r.json()["name"] == "renamed" and r.json()["models"] is None and r.json()["enabled"] is True
    assert (await api.call("DELETE", key_path, alice)).status_code == 204
    assert (await api.call("GET", key_path, alice)).status_code == 404


INVALID = [
    ("POST", "/api/platform/users", {"username": "ab", "password": PASSWORD}, "username"),
    ("POST", "/api/platform/users", {"username": "a b c", "password": PASSWORD}, "username"),
    ("POST", "/api/platform/users", {"username": "x" * 65, "password": PASSWORD}, "username"),
    ("POST", "/api/platform/users", {"username": "alice2", "password": "short"}, "password"),
    ("POST", "/api/platform/users", {"username": "alice2"}, "password"),
    ("POST", "/api/platform/users", {"username": "alice2", "password": PASSWORD, "role": "god"}, "role"),
    ("POST", "/api/platform/users", {"username": "alice2", "password": PASSWORD, "quota": -1}, "quota"),
    ("POST", "/api/platform/users", {"username": "alice2", "password": PASSWORD, "extra": 1}, "extra"),
    ("PATCH", "/api/platform/users/{alice}", {"status": "gone"}, "status"),
    ("PATCH", "/api/platform/users/{alice}", {"username": "new"}, "username"),
    ("POST", "/api/node/nodes", {"name": "n", "provider": "azure", "base_url": "http://h"}, "provider"),
    ("POST", "/api/node/nodes", {"name": "n", "provider": "openai", "base_url": "ftp://h"}, "base_url"),
    ("POST", "/api/node/nodes", {"name": "n", "provider": "openai", "base_url": "http://h", "weight": -1}, "weight"),
    ("POST", "/api/node/nodes", {"name": "n", "provider": "openai", "base_url": "http://h", "weight": True}, "weight"),
    ("POST", "/api/node/nodes", {"name": "n", "provider": "openai", "base_url": "http://h", "weight": 2**40}, "weight"),
    ("POST", "/api/node/nodes", {"name": "n", "provider": "openai", "base_url": "http://h",
                                 "models": [{"model": "m"}, "m"]}, "models[1]"),
    ("POST", "/api/node/nodes", {"name": "n", "provider": "openai", "base_url": "http://h",
                                 "models": [{"upstream_model": "x"}]}, "models[0].model"),
    ("POST", "/api/node/nodes", {"provider": "openai", "base_url": "http://h"}, "name"),
    ("POST", "/api/node/models", {"name": "m", "kind": "audio", "price": {}}, "kind"),
    ("POST", "/api/node/models", {"name": "m", "kind": "chat", "price": {"input_per_1k": -0.1}}, "price.input_per_1k"),
    ("POST", "/api/node/models", {"name": "m", "kind": "chat", "price": {"per_token": 1}}, "price.per_token"),
    ("POST", "/api/node/models", {"name": "m", "kind": "chat", "price": 3}, "price"),
    ("POST", "/api/node/models", {"name": "a/b", "kind": "chat", "price": {}}, "name"),
    ("POST", "/api/user/keys", {"name": "k", "rpm": 0}, "rpm"),
    ("POST", "/api/user/keys", {"name": "k", "expires_at": "next week"}, "expires_at"),
    ("POST", "/api/user/keys", {"name": "k", "expires_at": 1000}, "expires_at"),
    ("POST", "/api/user/keys", {"name": "k", "models": "gpt-4.1-mini"}, "models"),
    ("POST", "/api/user/keys", {"name": "k", "models": [1]}, "models[0]"),
    ("POST", "/api/user/keys", {"name": "k", "enabled": "yes"}, "enabled"),
    ("POST", "/api/user/keys", {"name": ""}, "name"),
    ("POST", "/api/user/keys", {"name": "a\x00b"}, "name"),
    ("POST", "/api/user/keys", {}, "name"),
    ("PATCH", "/api/user/me", {"password": "short"}, "password"),
    ("POST", "/api/user/subscriptions", {}, "model"),
]


async def test_validation_names_the_field(admin: Admin) -> None:  # noqa: F811
    api = admin
    root = await platform_admin(api)
    alice = await accounts.create_user(api.store, "alice", PASSWORD)
    wrong = []
    for method, path, body, field in INVALID:
        r = await api.call(method, path.format(alice=alice["id"]), root, body)
        error = r.json().get("error", {})
        if r.status_code != 400 or error.get("code") != "invalid_field" or \
                not error.get("message", "").startswith(f"{field}:"):
            wrong.append(f"{method} {path} {body}: {r.status_code} {r.text}")
    assert not wrong, "\n".join(wrong)
    assert api.changes.calls == 0  # nothing was written


async def test_bad_requests_are_400_not_500(admin: Admin) -> None:  # noqa: F811
    api = admin
    root = await platform_admin(api)
    for content in [b"{not json", b"", b"[1, 2]", b"\"text\"", b"{\"a\": NaN}", b"\xff\xfe"]:
        r = await api.call("POST", "/api/platform/users", root, content=content,
                           headers={"content-type": "application/json"})
        assert r.status_code == 400 and error_of(r)["code"] == "invalid_json", content
    r = await api.call("POST", "/api/platform/users", root, content=b"{" + b" " * (2 << 20) + b"}")
    assert r.status_code == 413
    for query in ["limit=0", "limit=501", "limit=abc", "offset=-1", "offset=1e3"]:
        r = await api.call("GET", f"/api/platform/users?{query}", root)
        assert r.status_code == 400 and error_of(r)["code"] == "invalid_query", query
    for query in ["since=yesterday", "model=%00", "user=" + "x" * 100]:
        r = await api.call("GET", f"/api/platform/usage?{query}", root)
        assert r.status_code == 400, query
    for path in ["/api/platform/users/abc", "/api/platform/users/99999999999999999999", "/api/platform/users/0",
                 "/api/node/nodes/-1", "/api/node/models/1.5"]:
        r = await api.call("GET", path, root)
        assert r.status_code == 404 and error_of(r)["code"] == "not_found", path
    r = await api.call("DELETE", "/api/user/subscriptions/%00", root)
    assert r.status_code == 404
    r = await api.call("PUT", "/api/platform/users", root, {})
    assert r.status_code == 405 and error_of(r)["code"] == "method_not_allowed"
    assert r.headers["allow"] == "GET, POST"
    r = await api.call("GET", "/api/nowhere", root)
    assert r.status_code == 404 and error_of(r)["code"] == "not_found"


async def test_conflicts(admin: Admin) -> None:  # noqa: F811
    api = admin
    root = await platform_admin(api)
    r = await api.call("POST", "/api/platform/users", root, {"username": "root", "password": PASSWORD})
    assert r.status_code == 409 and error_of(r)["code"] == "conflict"
    model = {"name": "m1", "kind": "chat", "price": {}}
    assert (await api.call("POST", "/api/node/models", root, model)).status_code == 201
    assert (await api.call("POST", "/api/node/models", root, model)).status_code == 409
    node = {"name": "n1", "provider": "openai", "base_url": "http://127.0.0.1:9/v1"}
    assert (await api.call("POST", "/api/node/nodes", root, node)).status_code == 201
    assert (await api.call("POST", "/api/node/nodes", root, node)).status_code == 409
    second = (await api.call("POST", "/api/node/nodes", root, node | {"name": "n2"})).json()
    r = await api.call("PATCH", f"/api/node/nodes/{second['id']}", root, {"name": "n1"})
    assert r.status_code == 409
    r = await api.call("PATCH", "/api/node/models/1", root, {"name": "m2"})
    assert r.status_code == 400 and error_of(r)["message"].startswith("name:")


async def test_disable_and_delete_user(admin: Admin) -> None:  # noqa: F811
    api = admin
    root = await platform_admin(api)
    alice, token = await api.user("alice")
    await accounts.create_key(api.store, alice["id"], "k")
    await accounts.subscribe(api.store, alice["id"], "m1")
    r = await api.call("PATCH", f"/api/platform/users/{alice['id']}", root, {"status": "disabled", "quota": 2.5})
    assert r.status_code == 200 and r.json()["status"] == "disabled" and r.json()["quota"] == 2.5
    assert (await api.call("GET", "/api/user/me", token)).status_code == 401  # session ended
    r = await api.call("POST", "/api/auth/login", json={"username": "alice", "password": PASSWORD})
    assert r.status_code == 403 and error_of(r)["code"] == "account_disabled"
    snap = await catalog.load_snapshot(api.store)  # the relay sees the status and refuses the keys
    assert next(u for u in snap["users"] if u["id"] == alice["id"])["status"] == "disabled"
    await api.call("PATCH", f"/api/platform/users/{alice['id']}", root, {"status": "active"})
    token = await api.login("alice")
    r = await api.call("DELETE", f"/api/platform/users/{alice['id']}", root)
    assert r.status_code == 204
    assert (await api.call("GET", "/api/user/me", token)).status_code == 401
    snap = await catalog.load_snapshot(api.store)
    assert snap["api_keys"] == [] and snap["subscriptions"] == []
    assert (await api.call("GET", f"/api/platform/users/{alice['id']}", root)).status_code == 404
    # the platform admin cannot lock themself out
    me = (await api.call("GET", "/api/user/me", root)).json()
    for body in [{"status": "disabled"}, {"role": "user"}]:
        assert (await api.call("PATCH", f"/api/platform/users/{me['id']}", root, body)).status_code == 400
    assert (await api.call("DELETE", f"/api/platform/users/{me['id']}", root)).status_code == 400


async def test_sessions_login_logout_password(admin: Admin) -> None:  # noqa: F811
    api = admin
    alice, token = await api.user("alice")
    r = await api.call("POST", "/api/auth/login", json={"username": "alice", "password": "wrong-password"})
    assert r.status_code == 401 and error_of(r)["code"] == "invalid_credentials"
    r = await api.call("POST", "/api/auth/login", json={"username": "no such user!", "password": "x"})
    assert r.status_code == 401 and error_of(r)["code"] == "invalid_credentials"
    r = await api.call("POST", "/api/auth/login", json={"username": "nobody\x00", "password": "x"})
    assert r.status_code == 400
    r = await api.call("POST", "/api/auth/login", json={"username": "alice"})
    assert r.status_code == 400
    login = (await api.call("POST", "/api/auth/login", json={"username": "alice", "password": PASSWORD})).json()
    assert login["user"] == {"id": alice["id"], "username": "alice", "role": "user"}
    other = login["token"]
    r = await api.call("PATCH", "/api/user/me", token, {"password": "a-new-password"})
    assert r.status_code == 200 and r.json()["username"] == "alice"
    assert (await api.call("GET", "/api/user/me", token)).status_code == 200  # this session stays
    assert (await api.call("GET", "/api/user/me", other)).status_code == 401  # the others end
    assert (await api.call("POST", "/api/auth/login",
                           json={"username": "alice", "password": PASSWORD})).status_code == 401
    assert (await api.call("POST", "/api/auth/logout", token)).status_code == 204
    assert (await api.call("GET", "/api/user/me", token)).status_code == 401
    expired, _ = await accounts.create_session(api.store, alice["id"], ttl_s=-1)
    r = await api.call("GET", "/api/user/me", expired)
    assert r.status_code == 401 and error_of(r)["code"] == "unauthorized"
    assert (await api.call("GET", "/api/user/me", headers={"Authorization": "Basic abc"})).status_code == 401


async def test_subscriptions_refuse_unknown_and_unlisted(admin: Admin) -> None:  # noqa: F811
    api = admin
    _, token = await api.user("alice")
    await catalog.create_model(api.store, "hidden", "chat", listed=False)
    await catalog.create_model(api.store, "shown", "image", price={"per_image": 0.04})
    r = await api.call("POST", "/api/user/subscriptions", token, {"model": "nope"})
    assert r.status_code == 404
    r = await api.call("POST", "/api/user/subscriptions", token, {"model": "hidden"})
    assert r.status_code == 400 and error_of(r)["code"] == "model_not_listed"
    market = (await api.call("GET", "/api/user/market", token)).json()
    assert [m["name"] for m in market["data"]] == ["shown"] and market["total"] == 1
    assert (await api.call("DELETE", "/api/user/subscriptions/shown", token)).status_code == 404
    assert (await api.call("POST", "/api/user/subscriptions", token, {"model": "shown"})).status_code == 201
    assert (await api.call("DELETE", "/api/user/subscriptions/shown", token)).status_code == 204


async def test_model_patch_merges_price(admin: Admin) -> None:  # noqa: F811
    api = admin
    root = await platform_admin(api)
    r = await api.call("POST", "/api/node/models", root,
                       {"name": "m1", "kind": "chat", "price": {"input_per_1k": 1, "output_per_1k": 2}})
    model_id = r.json()["id"]
    r = await api.call("PATCH", f"/api/node/models/{model_id}", root,
                       {"price": {"output_per_1k": 3}, "description": "line one\nline two"})
    assert r.json()["price"] == {"input_per_1k": 1.0, "output_per_1k": 3.0, "per_image": 0.0, "per_second": 0.0}
    assert r.json()["description"] == "line one\nline two"
    assert (await api.call("GET", f"/api/node/models/{model_id}", root)).json()["price"]["output_per_1k"] == 3.0


@pytest.fixture
async def upstream() -> AsyncIterator[str]:
    """A loopback upstream answering the model lists for the key "good-upstream-key-123"."""

    async def models(request: web.Request) -> web.Response:
        key = request.headers.get("x-goog-api-key") or request.headers.get("Authorization", "").removeprefix("Bearer ")
        if key != "good-upstream-key-123":
            return web.json_response({"error": {"message": "bad key"}}, status=401)
        return web.json_response({"object": "list", "data": []})

    app = web.Application()
    app.router.add_get("/v1/models", models)
    app.router.add_get("/v1beta/models", models)
    server = TestServer(app, host="127.0.0.1")
    await server.start_server()
    try:
        yield str(server.make_url("")).rstrip("/")
    finally:
        await server.close()


async def test_node_probe(admin: Admin, upstream: str) -> None:  # noqa: F811
    api = admin
    api.secrets += ["good-upstream-key-123", "wrong-upstream-key-456"]
    root = await platform_admin(api)

    async def probe(provider: str, base_url: str, key: str) -> dict:
        r = await api.call("POST", "/api/node/nodes", root, {"name": f"n{len(api.seen)}", "provider": provider,
                                                             "base_url": base_url, "api_key": key})
        assert r.status_code == 201 and r.json()["api_key_hint"] == key[:3] + "..." + key[-4:]
        r = await api.call("POST", f"/api/node/nodes/{r.json()['id']}/test", root)
        assert r.status_code == 200
        return r.json()

    good = await probe("openai", f"{upstream}/v1", "good-upstream-key-123")
    assert good["ok"] is True and good["status"] == 200 and good["error"] is None and good["latency_ms"] >= 0
    assert (await probe("gemini", upstream, "good-upstream-key-123"))["ok"] is True
    bad = await probe("sora", f"{upstream}/v1", "wrong-upstream-key-456")
    assert bad["ok"] is False and bad["status"] == 401 and "401" in bad["error"]
    down = await probe("openai", "http://127.0.0.1:9/v1", "good-upstream-key-123")
    assert down["ok"] is False and down["status"] is None and down["error"]
    assert (await api.call("POST", "/api/node/nodes/999/test", root)).status_code == 404


async def test_usage_and_stats(admin: Admin) -> None:  # noqa: F811
    api = admin
    root = await platform_admin(api)
    alice, token = await api.user("alice")
    bob, _ = await api.user("bob")
    base = {"endpoint": "chat.completions", "status": 200, "outcome": "ok", "node": "n1", "total_tokens": 10}
    await usage.write_batch(api.store, [
        base | {"request_id": "a1", "user_id": alice["id"], "model": "m1", "cost": 0.1, "created_at": 1000.0},
        base | {"request_id": "a2", "user_id": alice["id"], "model": "m2", "cost": 0.2, "created_at": 2000.0},
        base | {"request_id": "b1", "user_id": bob["id"], "model": "m1", "cost": 0.4, "created_at": 3000.0,
                "status": 502, "outcome": "upstream_error"},
    ])
    r = await api.call("GET", "/api/platform/usage", root)
    assert r.json()["total"] == 3 and [x["request_id"] for x in r.json()["data"]] == ["b1", "a2", "a1"]
    assert (await api.call("GET", "/api/platform/usage?user=alice", root)).json()["total"] == 2
    assert (await api.call("GET", f"/api/platform/usage?user={bob['id']}", root)).json()["total"] == 1
    assert (await api.call("GET", "/api/platform/usage?user=ghost", root)).json()["total"] == 0
    assert (await api.call("GET", "/api/platform/usage?model=m1&node=n1", root)).json()["total"] == 2
    r = await api.call("GET", "/api/platform/usage?since=1970-01-01T00:25:00Z&limit=1", root)
    assert r.json()["total"] == 2 and len(r.json()["data"]) == 1 and r.json()["limit"] == 1
    assert (await api.call("GET", "/api/platform/usage?since=2500", root)).json()["total"] == 1
    stats = (await api.call("GET", "/api/platform/stats", root)).json()
    assert stats["totals"]["requests"] == 3 and stats["totals"]["errors"] == 1
    assert stats["totals"]["cost"] == pytest.approx(0.7)
    assert {m["model"]: m["requests"] for m in stats["by_model"]} == {"m1": 2, "m2": 1}
    assert {u["username"]: u["cost"] for u in stats["by_user"]} == {"alice": pytest.approx(0.3),
                                                                    "bob": pytest.approx(0.4)}
    assert (await api.call("GET", "/api/platform/stats?user=ghost", root)).json()["totals"]["requests"] == 0
    mine = (await api.call("GET", "/api/user/usage", token)).json()
    assert mine["total"] == 2 and {x["user_id"] for x in mine["data"]} == {alice["id"]}
    assert (await api.call("GET", "/api/user/usage?model=m2", token)).json()["total"] == 1
    me = (await api.call("GET", "/api/user/me", token)).json()
    assert me["used"] == pytest.approx(0.3)


async def test_users_list_pagination(admin: Admin) -> None:  # noqa: F811
    api = admin
    root = await platform_admin(api)
    for i in range(3):
        await api.call("POST", "/api/platform/users", root, {"username": f"user{i}", "password": PASSWORD})
    page = (await api.call("GET", "/api/platform/users?limit=2&offset=1", root)).json()
    assert page["total"] == 4 and page["limit"] == 2 and page["offset"] == 1
    assert [u["username"] for u in page["data"]] == ["user0", "user1"]
    assert all(set(u) == {"id", "username", "role", "status", "quota", "used", "created_at"} for u in page["data"])


def test_secret_scan_catches_leaks() -> None:
    key, key_hash, _ = security.new_api_key()
    clean = [Seen("POST", "/api/user/keys", 201, f'{{"key": "{key}"}}'), Seen("GET", "/api/user/me", 200, "{}")]
    assert find_secrets(clean, ["upstream-secret"]) == []
    leaks = find_secrets([
        Seen("GET", "/api/user/keys", 200, f'{{"key": "{key}"}}'),
        Seen("GET", "/api/user/keys", 200, f'{{"hash": "{key_hash}"}}'),
        Seen("GET", "/api/platform/users", 200, f'{{"h": "{security.hash_password("x" * 8)}"}}'),
        Seen("GET", "/api/node/nodes", 200, '{"api_key": "upstream-secret"}'),
    ], ["upstream-secret"])
    assert len(leaks) == 4, leaks
