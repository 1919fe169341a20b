"""POST /api/auth/login and /api/auth/logout: console sessions (bearer tokens, stored hashed)."""

from __future__ import annotations

import math

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from .. import security
from ..store import accounts
from . import fields, sessions
from .common import (
    ANY_USER,
    ApiError,
    Context,
    User,
    json_response,
    no_content,
    read_json,
    resource,
    session_token,
)


async def _not_throttled(ctx: Context, address: str, username: str | None) -> None:
    wait = await ctx.throttle.wait_s(address, username)
    if wait > 0:
        raise ApiError(429, "too_many_attempts", "too many wrong passwords: wait before trying again",
                       headers={"Retry-After": str(math.ceil(wait))})


async def login(request: Request, ctx: Context, _: User) -> Response:
    address = request.client.host if request.client else ""
    await _not_throttled(ctx, address, None)  # before the body is read
    data = await read_json(request)
    creds = fields.pick(data, {"username": fields.text(1024), "password": fields.text(1024),
                               "cookie": fields.boolean}, required=("username", "password"))
    cookie = creds.pop("cookie", False)
    if cookie and (problem := sessions.cross_origin(request)):  # no logging in from another site
        raise ApiError(403, "csrf_rejected", problem)
    await _not_throttled(ctx, address, creds["username"])
    if not fields.USERNAME.fullmatch(creds["username"]):
        # no such user can exist; answer like a wrong password, after the same work
        security.burn_password_check(creds["password"])
        user = None
    else:
        user = await accounts.authenticate(ctx.store, creds["username"], creds["password"])
    if user is None:
        await ctx.throttle.failed(address, creds["username"])
        raise ApiError(401, "invalid_credentials", "wrong username or password")
    await ctx.throttle.succeeded(address, creds["username"])
    if user["status"] != "active":
        raise ApiError(403, "account_disabled", "this account is disabled")
    token, expires_at = await accounts.create_session(ctx.store, user["id"], ttl_s=ctx.session_ttl_s)
    who = {"id": user["id"], "username": user["username"], "role": user["role"]}
    if not cookie:
        return json_response({"token": token, "expires_at": expires_at, "user": who})
    # the console pages: the token goes into an HttpOnly cookie only, never to the page's script
    response = json_response({"expires_at": expires_at, "user": who})
    sessions.set_cookies(response, request, token, expires_at)
    return response


async def logout(request: Request, ctx: Context, _: User) -> Response:
    token = session_token(request)
    if token is not None:  # `resource` has checked the session already
        await accounts.delete_session(ctx.store, token)
    response = no_content()
    if sessions.cookie_token(request) is not None:
        sessions.clear_cookies(response, request)
    return response


def routes(ctx: Context) -> list[Route]:
    return [
        resource(ctx, "/auth/login", None, POST=login),
        resource(ctx, "/auth/logout", ANY_USER, POST=logout),
    ]
