"""Platform console (/api/platform, platform_admin only): users, all usage, stats."""

from __future__ import annotations

from functools import partial
from typing import Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from ..store import accounts, usage
from . import export, fields
from .common import (
    PLATFORM,
    ApiError,
    Context,
    User,
    invalid,
    json_response,
    read_json,
    resource,
    session_token,
)
from .crud import Rows, list_page

CREATE_USER = {"username": fields.username, "password": fields.password, "role": fields.role,
               "quota": fields.quota}
PATCH_USER = {"status": fields.status, "quota": fields.quota, "role": fields.role, "password": fields.password}
USERS = Rows("user", taken="username {!r} is taken")


async def list_users(request: Request, ctx: Context, _: User) -> Response:
    search = fields.query_text(request, "q", 64)
    return await list_page(request, partial(accounts.list_users, ctx.store, search=search))


async def create_user(request: Request, ctx: Context, _: User) -> Response:
    data = fields.pick(await read_json(request), CREATE_USER, required=("username", "password"))
    return await USERS.save(ctx, accounts.create_user(ctx.store, **data), 201)


async def get_user(request: Request, ctx: Context, _: User) -> Response:
    return json_response(USERS.found(await accounts.get_user(ctx.store, USERS.id(request))))


async def patch_user(request: Request, ctx: Context, me: User) -> Response:
    user_id = USERS.id(request)
    changes = fields.pick(await read_json(request), PATCH_USER)
    if user_id == me["id"]:
        # an admin locking themself out (or demoting the last admin) cannot be undone from the console
        if changes.get("status", "active") != "active":
            raise invalid("status", "you cannot disable your own account")
        if changes.get("role", me["role"]) != me["role"]:
            raise invalid("role", "you cannot change your own role")
    # an admin changing their own password keeps the session doing it, as PATCH /api/user/me does
    keep = session_token(request) if user_id == me["id"] else None
    return await USERS.save(ctx, accounts.update_user(ctx.store, user_id, changes, keep_session=keep))


async def delete_user(request: Request, ctx: Context, me: User) -> Response:
    user_id = USERS.id(request)
    if user_id == me["id"]:
        raise ApiError(400, "invalid_request", "you cannot delete your own account")
    return await USERS.deleted(ctx, await accounts.delete_user(ctx.store, user_id))


async def _user_filter(request: Request, ctx: Context) -> tuple[int | None, bool]:
    """?user= is a user id or a username: (id, known). An unknown username matches nothing."""
    raw = fields.query_text(request, "user", 64)
    if raw is None:
        return None, True
    if raw.isascii() and raw.isdigit():
        user_id = int(raw)
        return (user_id, True) if user_id < 2**31 else (None, False)
    found = await accounts.get_user_by_username(ctx.store, raw)
    return (found["id"], True) if found else (None, False)


def _record_filters(request: Request) -> dict[str, Any]:
    return {"model": fields.query_text(request, "model"), "node": fields.query_text(request, "node"),
            "since": fields.query_time(request, "since"), "until": fields.query_time(request, "until")}


async def list_usage(request: Request, ctx: Context, _: User) -> Response:
    limit, offset = fields.page(request)
    user_id, known = await _user_filter(request, ctx)
    filters = _record_filters(request)
    if not known:
        return json_response(fields.listing([], 0, limit, offset))
    items, total = await usage.list_usage(ctx.store, user_id=user_id, limit=limit, offset=offset, **filters)
    return json_response(fields.listing(items, total, limit, offset))


async def stats(request: Request, ctx: Context, _: User) -> Response:
    user_id, known = await _user_filter(request, ctx)
    since, until = fields.query_time(request, "since"), fields.query_time(request, "until")
    result = await usage.stats(ctx.store, since=since, until=until, user_id=user_id if known else -1)
    return json_response(result)


async def daily(request: Request, ctx: Context, _: User) -> Response:
    user_id, known = await _user_filter(request, ctx)
    rows = await usage.daily(ctx.store, user_id=user_id if known else -1, model=fields.query_text(request, "model"),
                             since=fields.query_time(request, "since"), until=fields.query_time(request, "until"))
    return json_response({"data": rows})


async def export_csv(request: Request, ctx: Context, _: User) -> Response:
    user_id, known = await _user_filter(request, ctx)
    filters = _record_filters(request)
    return export.usage_csv(ctx.store, user_id=user_id if known else -1, **filters)


def routes(ctx: Context) -> list[Route]:
    return [
        resource(ctx, "/platform/users", PLATFORM, GET=list_users, POST=create_user),
        resource(ctx, "/platform/users/{id}", PLATFORM, GET=get_user, PATCH=patch_user, DELETE=delete_user),
        resource(ctx, "/platform/usage", PLATFORM, GET=list_usage),
        resource(ctx, "/platform/stats", PLATFORM, GET=stats),
        resource(ctx, "/platform/usage/daily", PLATFORM, GET=daily),
        resource(ctx, "/platform/usage/export", PLATFORM, GET=export_csv),
    ]
