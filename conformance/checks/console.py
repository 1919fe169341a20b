"""The consoles' flow as the seed describes it (platform admin creates a user; the user logs in, adds
and enables a key, subscribes in the market, calls getModelList, then the relay), and isolation
between users. Needs admin credentials; every user made here is deleted at the end.
"""

from __future__ import annotations

import contextlib
import secrets
import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import httpx
import orjson

from ..context import Ctx
from ..registry import check

USAGE_WAIT_S = 10.0  # usage records may be written behind the request


@dataclass
class User:
    id: Any
    username: str
    password: str
    token: str = ""


def _call(ctx: Ctx, method: str, path: str, token: str, body: Any = None, *, status: int | tuple[int, ...] = 200,
          what: str = "") -> Any:
    """A console call that must answer `status` (one of them); its JSON (None for 204)."""
    r = ctx.console(method, path, token, body)
    allowed = (status,) if isinstance(status, int) else status
    ctx.expect(r.status_code in allowed, f"{what or method + ' ' + path}: HTTP {r.status_code}, expected "
               f"{' or '.join(map(str, allowed))}: {r.text[:200]}")
    return None if r.status_code == 204 or not r.content else ctx.json_of(r, what or f"{method} {path}")


def _login(ctx: Ctx, user: User) -> str:
    r = ctx.http.post(ctx.target.root + "/api/auth/login", json={"username": user.username, "password": user.password})
    body = ctx.ok_json(r, f"login as {user.username}")
    ctx.expect(isinstance(body.get("token"), str) and body["token"], f"login as {user.username}: no token")
    ctx.expect((body.get("user") or {}).get("username") == user.username,
               f"login as {user.username}: the answer names user {(body.get('user') or {}).get('username')!r}")
    return body["token"]


@contextlib.contextmanager
def fresh_users(ctx: Ctx, n: int) -> Iterator[list[User]]:
    """`n` new plain users (platform console), logged in; deleted afterwards whatever happens."""
    admin = ctx.admin_token()
    users: list[User] = []
    try:
        for _ in range(n):
            name, password = f"topapi_check_{secrets.token_hex(4)}", secrets.token_urlsafe(12)
            body = _call(ctx, "POST", "/api/platform/users", admin, {"username": name, "password": password},
                         status=201, what="create a user (POST /api/platform/users)")
            ctx.expect(isinstance(body, dict) and body.get("id") is not None, "POST /api/platform/users: no id")
            ctx.expect(body.get("username") == name, f"POST /api/platform/users: username {body.get('username')!r}")
            ctx.expect(body.get("role", "user") == "user", f"a new user has the role {body.get('role')!r}")
            users.append(User(body["id"], name, password))
        for user in users:
            user.token = _login(ctx, user)
        yield users
    finally:
        for user in users:
            with contextlib.suppress(httpx.HTTPError):
                ctx.console("DELETE", f"/api/platform/users/{user.id}", admin)


def _items(body: Any, what: str, ctx: Ctx) -> list[dict[str, Any]]:
    items = body.get("data") if isinstance(body, dict) else body
    ctx.expect(isinstance(items, list), f"{what}: no list of items (`data`) in the answer")
    return items


def _new_key(ctx: Ctx, user: User, *, enabled: bool) -> dict[str, Any]:
    key = _call(ctx, "POST", "/api/user/keys", user.token, {"name": "topapi check", "enabled": enabled},
                status=201, what="create a key (POST /api/user/keys)")
    ctx.expect(isinstance(key.get("key"), str) and len(key["key"]) >= 16,
               "POST /api/user/keys: the 201 answer has no full `key`")
    ctx.expect(key.get("id") is not None, "POST /api/user/keys: no id")
    return key


def _subscribe(ctx: Ctx, user: User, model: str) -> None:
    market = _items(_call(ctx, "GET", "/api/user/market", user.token, what="the market"), "the market", ctx)
    offer = next((m for m in market if m.get("name") == model), None)
    ctx.expect(offer is not None, f"the market does not offer {model} (it offers "
               f"{[m.get('name') for m in market][:8]})")
    ctx.expect(offer.get("subscribed") is False, f"a new user is already subscribed to {model}")
    _call(ctx, "POST", "/api/user/subscriptions", user.token, {"model": model}, status=(200, 201),
          what=f"subscribe to {model}")
    market = _items(_call(ctx, "GET", "/api/user/market", user.token, what="the market"), "the market", ctx)
    ctx.expect(any(m.get("name") == model and m.get("subscribed") is True for m in market),
               f"after subscribing, the market does not show {model} as subscribed")


@check("console.flow", "Consoles: admin creates a user; the user logs in, creates a key (shown once), enables "
       "it, subscribes in the market; getModelList lists the model and a chat call works", layer="console",
       admin=True, surface=("console", "topapi", "openai.chat"), needs=("setup.admin",))
def flow(ctx: Ctx) -> None:
    model = ctx.target.chat_model
    with fresh_users(ctx, 1) as (user,):
        me = _call(ctx, "GET", "/api/user/me", user.token, what="GET /api/user/me")
        ctx.expect(me.get("username") == user.username, f"GET /api/user/me names {me.get('username')!r}")

        key = _new_key(ctx, user, enabled=False)
        full = key["key"]
        listed = _items(_call(ctx, "GET", "/api/user/keys", user.token, what="GET /api/user/keys"), "keys", ctx)
        ctx.expect([k.get("id") for k in listed] == [key["id"]], f"GET /api/user/keys lists "
                   f"{[k.get('id') for k in listed]}, expected only the new key {key['id']}")
        ctx.expect(full not in orjson.dumps(listed).decode(), "GET /api/user/keys shows the full key again: "
                   "it must be shown once only, in the 201 answer")
        one = _call(ctx, "GET", f"/api/user/keys/{key['id']}", user.token, what="GET /api/user/keys/{id}")
        ctx.expect(full not in orjson.dumps(one).decode(), "GET /api/user/keys/{id} shows the full key again")

        r = ctx.get("/v1/models", key=full)
        ctx.expect(r.status_code == 401, f"a disabled key: GET /v1/models answered HTTP {r.status_code}, "
                   "expected 401")
        patched = _call(ctx, "PATCH", f"/api/user/keys/{key['id']}", user.token, {"enabled": True},
                        what="enable the key (PATCH /api/user/keys/{id})")
        ctx.expect(patched.get("enabled") is True, f"PATCH enabled=true: the key shows enabled={patched.get('enabled')!r}")

        r = ctx.post("/v1/chat/completions", {"model": model, "messages": [{"role": "user", "content": "hi"}]},
                     key=full)
        ctx.expect(r.status_code == 403, f"chat before subscribing to {model}: HTTP {r.status_code}, expected 403")
        _subscribe(ctx, user, model)

        got = ctx.ok_json(ctx.post("/v1/getModelList", key=full), "POST /v1/getModelList with the new key")
        ctx.valid("openai", "ModelList", got, "getModelList")
        ids = [m.get("id") for m in got.get("data") or []]
        ctx.expect(model in ids, f"POST /v1/getModelList does not list the subscribed {model}: {ids}")
        answer = ctx.ok_json(ctx.post("/v1/chat/completions", {
            "model": model, "messages": [{"role": "user", "content": "帮我计算1+5等于多少"}]}, key=full),
            "chat with the new key")
        ctx.valid("openai", "ChatCompletion", answer, "chat with the new key")

        _call(ctx, "DELETE", f"/api/platform/users/{user.id}", ctx.admin_token(), status=(200, 204),
              what="delete the user (DELETE /api/platform/users/{id})")
        r = ctx.get("/v1/models", key=full)
        ctx.expect(r.status_code == 401, f"the key of a deleted user: GET /v1/models answered HTTP "
                   f"{r.status_code}, expected 401")


def _own_usage(ctx: Ctx, user: User, params: dict[str, Any] | None = None) -> list[dict[str, Any]]:
    r = ctx.http.get(ctx.target.root + "/api/user/usage", params={"limit": 500, **(params or {})},
                     headers={"Authorization": f"Bearer {user.token}"})
    return _items(ctx.ok_json(r, f"GET /api/user/usage as {user.username}"), "usage", ctx)


@check("console.isolation", "Consoles: a user cannot see, change or delete another user's key nor see their "
       "usage; node and platform console paths refuse a plain user (403)", layer="console", admin=True,
       surface=("console", "openai.chat"), needs=("setup.admin",))
def isolation(ctx: Ctx) -> None:
    model = ctx.target.chat_model
    with fresh_users(ctx, 2) as (alice, bob):
        key = _new_key(ctx, alice, enabled=True)
        _call(ctx, "POST", "/api/user/subscriptions", alice.token, {"model": model}, status=(200, 201),
              what=f"subscribe to {model}")
        ctx.ok_json(ctx.post("/v1/chat/completions", {
            "model": model, "messages": [{"role": "user", "content": "hi"}]}, key=key["key"]), "a chat call")
        deadline = time.monotonic() + USAGE_WAIT_S
        while not _own_usage(ctx, alice):
            ctx.expect(time.monotonic() < deadline, f"the chat call shows in its user's usage after "
                       f"{USAGE_WAIT_S:.0f}s: GET /api/user/usage stays empty")
            time.sleep(0.2)

        path = f"/api/user/keys/{key['id']}"
        for method, body in (("GET", None), ("PATCH", {"enabled": False}), ("DELETE", None)):
            r = ctx.console(method, path, bob.token, body)
            ctx.expect(r.status_code in (403, 404), f"another user's {method} {path}: HTTP {r.status_code}, "
                       "expected 404 (or 403)")
        still = _call(ctx, "GET", path, alice.token, what="the owner's GET of the key")
        ctx.expect(still.get("enabled") is True, "another user's PATCH changed the key")
        ctx.expect(not any(k.get("id") == key["id"] for k in _items(
            _call(ctx, "GET", "/api/user/keys", bob.token), "keys", ctx)), "another user's key list shows it")
        ctx.expect(key["key"] not in ctx.console("GET", "/api/user/keys", bob.token).text,
                   "another user's key list shows the full key")

        for params in ({}, {"user": alice.id}, {"user_id": alice.id}):
            seen = _own_usage(ctx, bob, params)
            query = "".join(f"?{k}={v}" for k, v in params.items())
            ctx.expect(not seen, f"GET /api/user/usage{query} as a user who made no call lists {len(seen)} "
                       "record(s) (another user's usage)")

        for method, path, body in (("GET", "/api/node/nodes", None), ("GET", "/api/node/models", None),
                                   ("POST", "/api/node/models", {"name": "x", "kind": "chat"}),
                                   ("GET", "/api/platform/users", None), ("GET", "/api/platform/usage", None),
                                   ("PATCH", f"/api/platform/users/{alice.id}", {"status": "disabled"})):
            r = ctx.console(method, path, bob.token, body)
            ctx.expect(r.status_code == 403, f"a plain user's {method} {path}: HTTP {r.status_code}, expected 403")
            ctx.expect(isinstance(ctx.json_of(r, f"{method} {path}").get("error"), dict),
                       f"{method} {path}: the 403 has no `error` object")
