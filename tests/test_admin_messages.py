"""The exact answers the consoles' collections (users, keys, nodes, models) share through
`gateway.admin.crud`: their 404 and 409 wording, which check wins when several fail, and the
relay being told about every write that happened and none that did not."""

from __future__ import annotations

from gateway_fixtures import PASSWORD, Admin, admin, store  # noqa: F401  (fixtures)

from gateway.store import accounts

NODE = {"name": "n1", "provider": "openai", "base_url": "http://127.0.0.1:9/v1"}
MODEL = {"name": "m1", "kind": "chat", "price": {}}


async def test_not_found_and_conflict_wording(admin: Admin) -> None:  # noqa: F811
    api = admin
    await accounts.ensure_admin(api.store, "root", PASSWORD)
    root = await api.login("root")
    _, alice = await api.user("alice")
    expected = {"/api/platform/users": "user", "/api/node/nodes": "node", "/api/node/models": "model",
                "/api/user/keys": "key"}
    for path, noun in expected.items():
        token = alice if noun == "key" else root
        for method, body in (("GET", None), ("PATCH", {}), ("DELETE", None)):
            r = await api.call(method, f"{path}/999", token, body)
            error = {"code": "not_found", "message": f"{noun} not found"}
            assert (r.status_code, r.json()) == (404, {"error": error}), (method, path)
        # a path id that cannot be a row is not found before the body is looked at
        r = await api.call("PATCH", f"{path}/0", token, content="{")
        assert r.status_code == 404 and r.json()["error"]["message"] == f"{noun} not found"

    alice_again = {"username": "alice", "password": PASSWORD}
    taken = [("/api/platform/users", alice_again, "username 'alice' is taken"),
             ("/api/node/nodes", NODE, "a node named 'n1' exists"),
             ("/api/node/models", MODEL, "a model named 'm1' exists")]
    for path, body, message in taken:
        if path != "/api/platform/users":
            assert (await api.call("POST", path, root, body)).status_code == 201
        r = await api.call("POST", path, root, body)
        assert (r.status_code, r.json()) == (409, {"error": {"code": "conflict", "message": message}})
    second = (await api.call("POST", "/api/node/nodes", root, NODE | {"name": "n2"})).json()
    r = await api.call("PATCH", f"/api/node/nodes/{second['id']}", root, {"name": "n1"})
    assert (r.status_code, r.json()["error"]["message"]) == (409, "a node named 'n1' exists")


async def test_the_relay_hears_of_every_write_and_only_those(admin: Admin) -> None:  # noqa: F811
    api = admin
    await accounts.ensure_admin(api.store, "root", PASSWORD)
    root = await api.login("root")

    async def calls(method: str, path: str, body: object = None) -> tuple[int, int]:
        before = api.changes.calls
        r = await api.call(method, path, root, body)
        return r.status_code, api.changes.calls - before

    assert await calls("POST", "/api/node/nodes", NODE) == (201, 1)
    assert await calls("POST", "/api/node/nodes", NODE) == (409, 0)
    assert await calls("GET", "/api/node/nodes") == (200, 0)
    assert await calls("GET", "/api/node/nodes/1") == (200, 0)
    assert await calls("PATCH", "/api/node/nodes/1", {"weight": 3}) == (200, 1)
    assert await calls("PATCH", "/api/node/nodes/9", {"weight": 3}) == (404, 0)
    assert await calls("DELETE", "/api/node/nodes/1") == (204, 1)
    assert await calls("DELETE", "/api/node/nodes/1") == (404, 0)
    assert await calls("POST", "/api/node/models", MODEL) == (201, 1)
    assert await calls("PATCH", "/api/node/models/1", {"listed": False}) == (200, 1)
    assert await calls("PATCH", "/api/node/models/9", {"listed": False}) == (404, 0)
    assert await calls("POST", "/api/platform/users", {"username": "bob", "password": PASSWORD}) == (201, 1)
    assert await calls("DELETE", "/api/platform/users/1") == (400, 0)  # root itself
    assert await calls("POST", "/api/user/keys", {"name": "k"}) == (201, 1)
    assert await calls("PATCH", "/api/user/keys/1", {"enabled": False}) == (200, 1)
    assert await calls("DELETE", "/api/user/keys/1") == (204, 1)
