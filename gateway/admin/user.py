"""User console (/api/user, every logged-in user, on their own data only): profile, API keys,
the model market, subscriptions, own usage. Another user's key is "not found", never "forbidden"."""

from __future__ import annotations

import time
from functools import partial

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from ..store import accounts, catalog, usage
from . import fields
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
from .crud import Rows, list_page

KEYS = Rows("key")


def key_fields() -> dict[str, fields.Validator]:
    return {"name": fields.key_name, "enabled": fields.boolean, "expires_at": fields.future_timestamp(time.time()),
            "models": fields.model_list, "rpm": fields.rpm, "tpm": fields.tpm,
            "concurrency": fields.concurrency}


async def me(request: Request, ctx: Context, user: User) -> Response:
    return json_response(user)


async def patch_me(request: Request, ctx: Context, user: User) -> Response:
    changes = fields.pick(await read_json(request), {"password": fields.password}, required=("password",))
    # other sessions end (a changed password locks out whoever else had one); this one stays
    updated = await accounts.update_user(ctx.store, user["id"], changes, keep_session=session_token(request))
    return json_response(updated)


# --- keys ----------------------------------------------------------------------------------

async def list_keys(request: Request, ctx: Context, user: User) -> Response:
    return await list_page(request, partial(accounts.list_keys, ctx.store, user["id"]))


async def create_key(request: Request, ctx: Context, user: User) -> Response:
    data = fields.pick(await read_json(request), key_fields(), required=("name",))
    key, full_key = await accounts.create_key(ctx.store, user["id"], **data)
    await ctx.changed()
    return json_response(key | {"key": full_key}, 201)  # the only time the full key is shown


async def get_key(request: Request, ctx: Context, user: User) -> Response:
    return json_response(KEYS.found(await accounts.get_key(ctx.store, KEYS.id(request), user_id=user["id"])))


async def patch_key(request: Request, ctx: Context, user: User) -> Response:
    key_id = KEYS.id(request)
    changes = fields.pick(await read_json(request), key_fields())
    return await KEYS.save(ctx, accounts.update_key(ctx.store, key_id, user["id"], changes))


async def delete_key(request: Request, ctx: Context, user: User) -> Response:
    return await KEYS.deleted(ctx, await accounts.delete_key(ctx.store, KEYS.id(request), user["id"]))


# --- market and subscriptions --------------------------------------------------------------

async def market(request: Request, ctx: Context, user: User) -> Response:
    return await list_page(request, partial(catalog.list_market, ctx.store, user["id"]))


async def list_subscriptions(request: Request, ctx: Context, user: User) -> Response:
    return await list_page(request, partial(accounts.list_subscriptions, ctx.store, user["id"]))


async def subscribe(request: Request, ctx: Context, user: User) -> Response:
    name = fields.pick(await read_json(request), {"model": fields.model_name}, required=("model",))["model"]
    model = await catalog.get_model_by_name(ctx.store, name)
    if model is None:
        raise ApiError(404, "not_found", f"model {name!r} not found")
    if not model["listed"]:
        raise ApiError(400, "model_not_listed", f"model {name!r} is not offered in the market")
    created = await accounts.subscribe(ctx.store, user["id"], name)
    if created:
        await ctx.changed()
    subscription = await accounts.get_subscription(ctx.store, user["id"], name)
    return json_response(subscription, 201 if created else 200)


async def unsubscribe(request: Request, ctx: Context, user: User) -> Response:
    name = request.path_params["model"]
    if not fields.MODEL_NAME.fullmatch(name) or not await accounts.unsubscribe(ctx.store, user["id"], name):
        raise ApiError(404, "not_found", f"not subscribed to {name[:128]!r}")
    await ctx.changed()
    return no_content()


async def own_usage(request: Request, ctx: Context, user: User) -> Response:
    limit, offset = fields.page(request)
    items, total = await usage.list_usage(
        ctx.store, user_id=user["id"], model=fields.query_text(request, "model"),
        since=fields.query_time(request, "since"), until=fields.query_time(request, "until"),
        limit=limit, offset=offset)
    return json_response(fields.listing(items, total, limit, offset))


async def own_stats(request: Request, ctx: Context, user: User) -> Response:
    """Totals and per-model figures of one's own usage (filtered like /user/usage), and quota left."""
    model = fields.query_text(request, "model")
    since, until = fields.query_time(request, "since"), fields.query_time(request, "until")
    result = await usage.stats(ctx.store, since=since, until=until, user_id=user["id"], model=model)
    fresh = await accounts.get_user(ctx.store, user["id"]) or user
    quota = fresh["quota"]
    return json_response({"totals": result["totals"], "by_model": result["by_model"], "quota": quota,
                          "used": fresh["used"], "remaining": None if quota is None else max(0.0, quota - fresh["used"])})


def routes(ctx: Context) -> list[Route]:
    return [
        resource(ctx, "/user/me", ANY_USER, GET=me, PATCH=patch_me),
        resource(ctx, "/user/keys", ANY_USER, GET=list_keys, POST=create_key),
        resource(ctx, "/user/keys/{id}", ANY_USER, GET=get_key, PATCH=patch_key, DELETE=delete_key),
        resource(ctx, "/user/market", ANY_USER, GET=market),
        resource(ctx, "/user/subscriptions", ANY_USER, GET=list_subscriptions, POST=subscribe),
        resource(ctx, "/user/subscriptions/{model}", ANY_USER, DELETE=unsubscribe),
        resource(ctx, "/user/usage", ANY_USER, GET=own_usage),
        resource(ctx, "/user/stats", ANY_USER, GET=own_stats),
    ]
