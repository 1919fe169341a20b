"""Authorization matrix: every admin endpoint, tried as anonymous, a user, another user, a node
admin and a platform admin, gives the expected allow/deny status; denied writes change nothing.

Access classes: "platform" (platform_admin only), "node" (node_admin and platform_admin),
"self" (every logged-in user, on their own data), "owner" (the resource is alice's: anyone
else gets 404, so its existence is not revealed). Anonymous is always 401.
"""

from __future__ import annotations

import itertools
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from gateway_fixtures import PASSWORD, Admin, admin, store  # noqa: F401  (fixtures)

from gateway.admin import routes
from gateway.admin.common import ResourceRoute
from gateway.store import Store, accounts, catalog

ACTORS = ("anonymous", "alice", "bob", "node_admin", "platform_admin")
ALLOWED = {
    "platform": {"platform_admin"},
    "node": {"node_admin", "platform_admin"},
    "self": {"alice", "bob", "node_admin", "platform_admin"},
    "owner": {"alice"},
}
_names = itertools.count()


@dataclass
class World:
    store: Store
    ids: dict[str, int]  # actor -> user id


Setup = Callable[[World], Awaitable[dict[str, Any]]]  # values for the path template, and a check


async def nothing(world: World) -> dict[str, Any]:
    return {}


async def victim(world: World) -> dict[str, Any]:
    user = await accounts.create_user(world.store, f"victim{next(_names)}", PASSWORD)
    return {"id": user["id"], "exists": lambda: accounts.get_user(world.store, user["id"])}


async def a_node(world: World) -> dict[str, Any]:
    node = await catalog.create_node(world.store, f"node{next(_names)}", "openai", "http://127.0.0.1:9/v1",
                                     api_key="sk-upstream-authz-0123456789")
    return {"id": node["id"], "exists": lambda: catalog.get_node(world.store, node["id"])}


async def a_model(world: World) -> dict[str, Any]:
    model = await catalog.create_model(world.store, f"model{next(_names)}", "chat")
    return {"id": model["id"], "exists": lambda: catalog.get_model(world.store, model["id"])}


async def alices_key(world: World) -> dict[str, Any]:
    key, _ = await accounts.create_key(world.store, world.ids["alice"], "alice's")
    return {"id": key["id"], "exists": lambda: accounts.get_key(world.store, key["id"])}


async def alices_subscription(world: World) -> dict[str, Any]:
    name = f"sub{next(_names)}"
    await catalog.create_model(world.store, name, "chat")
    await accounts.subscribe(world.store, world.ids["alice"], name)
    return {"model": name, "exists": lambda: accounts.get_subscription(world.store, world.ids["alice"], name)}


def new_user(_: dict[str, Any]) -> dict[str, Any]:
    return {"username": f"made{next(_names)}", "password": PASSWORD}


def new_node(_: dict[str, Any]) -> dict[str, Any]:
    return {"name": f"made{next(_names)}", "provider": "gemini", "base_url": "http://127.0.0.1:9"}


def new_model(_: dict[str, Any]) -> dict[str, Any]:
    return {"name": f"made{next(_names)}", "kind": "chat", "price": {}}


def new_subscription(_: dict[str, Any]) -> dict[str, Any]:
    return {"model": "listed"}


def body(value: dict[str, Any]) -> Callable[[dict[str, Any]], dict[str, Any]]:
    return lambda _: value


# (method, path template, access, status when allowed, setup, body)
MATRIX: list[tuple[str, str, str, int, Setup, Callable[[dict[str, Any]], Any] | None]] = [
    ("POST", "/api/auth/logout", "self", 204, nothing, None),
    ("GET", "/api/platform/users", "platform", 200, nothing, None),
    ("POST", "/api/platform/users", "platform", 201, nothing, new_user),
    ("GET", "/api/platform/users/{id}", "platform", 200, victim, None),
    ("PATCH", "/api/platform/users/{id}", "platform", 200, victim, body({"quota": 1})),
    ("DELETE", "/api/platform/users/{id}", "platform", 204, victim, None),
    ("GET", "/api/platform/usage", "platform", 200, nothing, None),
    ("GET", "/api/platform/stats", "platform", 200, nothing, None),
    ("GET", "/api/platform/usage/daily", "platform", 200, nothing, None),
    ("GET", "/api/platform/usage/export", "platform", 200, nothing, None),
    ("GET", "/api/node/nodes", "node", 200, nothing, None),
    ("POST", "/api/node/nodes", "node", 201, nothing, new_node),
    ("GET", "/api/node/nodes/{id}", "node", 200, a_node, None),
    ("PATCH", "/api/node/nodes/{id}", "node", 200, a_node, body({"weight": 7})),
    ("DELETE", "/api/node/nodes/{id}", "node", 204, a_node, None),
    ("POST", "/api/node/nodes/{id}/test", "node", 200, a_node, None),
    ("GET", "/api/node/health", "node", 200, nothing, None),
    ("GET", "/api/node/models", "node", 200, nothing, None),
    ("POST", "/api/node/models", "node", 201, nothing, new_model),
    ("GET", "/api/node/models/{id}", "node", 200, a_model, None),
    ("PATCH", "/api/node/models/{id}", "node", 200, a_model, body({"listed": False})),
    ("DELETE", "/api/node/models/{id}", "node", 204, a_model, None),
    ("GET", "/api/user/me", "self", 200, nothing, None),
    ("PATCH", "/api/user/me", "self", 200, nothing, body({"password": PASSWORD})),
    ("GET", "/api/user/keys", "self", 200, nothing, None),
    ("POST", "/api/user/keys", "self", 201, nothing, body({"name": "mine"})),
    ("GET", "/api/user/keys/{id}", "owner", 200, alices_key, None),
    ("PATCH", "/api/user/keys/{id}", "owner", 200, alices_key, body({"enabled": False})),
    ("DELETE", "/api/user/keys/{id}", "owner", 204, alices_key, None),
    ("GET", "/api/user/market", "self", 200, nothing, None),
    ("GET", "/api/user/subscriptions", "self", 200, nothing, None),
    ("POST", "/api/user/subscriptions", "self", 201, nothing, new_subscription),
    ("DELETE", "/api/user/subscriptions/{model}", "owner", 204, alices_subscription, None),
    ("GET", "/api/user/usage", "self", 200, nothing, None),
    ("GET", "/api/user/stats", "self", 200, nothing, None),
]


def expected(access: str, actor: str, allowed_status: int) -> int:
    if actor == "anonymous":
        return 401
    if actor in ALLOWED[access]:
        return allowed_status
    return 404 if access == "owner" else 403


def test_matrix_covers_every_admin_endpoint() -> None:
    async def noop() -> None:
        return None

    mount = routes(None, noop)[0]  # type: ignore[arg-type]
    served = {(method, "/api" + route.path) for route in mount.routes if isinstance(route, ResourceRoute)
              for method in route.handlers}
    served.add(("POST", "/api/auth/login"))  # the one anonymous endpoint, tested in test_admin_api
    assert served == {(m, p) for m, p, *_ in MATRIX} | {("POST", "/api/auth/login")}


async def test_authorization_matrix(admin: Admin) -> None:  # noqa: F811
    api = admin
    api.secrets.append("sk-upstream-authz-0123456789")
    ids: dict[str, int] = {}
    for actor, role in [("alice", "user"), ("bob", "user"), ("node_admin", "node_admin"),
                        ("platform_admin", "platform_admin")]:
        ids[actor] = (await accounts.create_user(api.store, actor.replace("_", "-"), PASSWORD, role=role))["id"]
    await catalog.create_model(api.store, "listed", "chat")
    world = World(api.store, ids)
    wrong = []
    for (method, template, access, ok_status, setup, make_body), actor in itertools.product(MATRIX, ACTORS):
        values = await setup(world)
        token = None
        if actor != "anonymous":  # a fresh session each time: logout and password changes end sessions
            token, _ = await accounts.create_session(api.store, ids[actor])
        path = template.format(**values)
        before = await values["exists"]() if "exists" in values else None
        r = await api.call(method, path, token, make_body(values) if make_body else None)
        want = expected(access, actor, ok_status)
        if r.status_code != want:
            wrong.append(f"{actor:15} {method} {path}: {r.status_code}, expected {want}: {r.text[:120]}")
        elif r.status_code >= 400:
            body = r.json()
            assert set(body["error"]) == {"code", "message"}, body
            if "exists" in values:
                assert await values["exists"]() == before, f"{actor} {method} {path} was denied but took effect"
    assert not wrong, "\n".join(wrong)
