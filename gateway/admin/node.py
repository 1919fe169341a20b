"""Node console (/api/node, node_admin and platform_admin): upstream nodes and the model catalog.

No response carries a node's upstream `api_key`: `catalog` gives `api_key_hint` instead.
"""

from __future__ import annotations

import asyncio
import time
from functools import partial
from typing import Any

import aiohttp
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from ..store import catalog, usage
from . import fields
from .common import NODE, Context, User, invalid, json_response, read_json, resource
from .crud import Rows, list_page

NODE_FIELDS: dict[str, fields.Validator] = {
    "name": fields.node_name, "provider": fields.provider, "base_url": fields.base_url,
    "api_key": fields.upstream_key, "weight": fields.weight, "priority": fields.priority,
    "enabled": fields.boolean, "models": fields.served_models,
}
MODEL_FIELDS: dict[str, fields.Validator] = {
    "name": fields.model_name, "kind": fields.kind, "display_name": fields.display_name,
    "description": fields.description, "price": fields.price, "listed": fields.boolean,
}
NODES = Rows("node", taken="a node named {!r} exists")
MODELS = Rows("model", taken="a model named {!r} exists")


# --- nodes ---------------------------------------------------------------------------------

async def list_nodes(request: Request, ctx: Context, _: User) -> Response:
    return await list_page(request, partial(catalog.list_nodes, ctx.store))


async def create_node(request: Request, ctx: Context, _: User) -> Response:
    data = fields.pick(await read_json(request), NODE_FIELDS, required=("name", "provider", "base_url"))
    return await NODES.save(ctx, catalog.create_node(ctx.store, **data), 201)


async def get_node(request: Request, ctx: Context, _: User) -> Response:
    return json_response(NODES.found(await catalog.get_node(ctx.store, NODES.id(request))))


async def patch_node(request: Request, ctx: Context, _: User) -> Response:
    node_id = NODES.id(request)
    changes = fields.pick(await read_json(request), NODE_FIELDS)
    return await NODES.save(ctx, catalog.update_node(ctx.store, node_id, changes))


async def delete_node(request: Request, ctx: Context, _: User) -> Response:
    return await NODES.deleted(ctx, await catalog.delete_node(ctx.store, NODES.id(request)))


async def probe(node: dict[str, Any], timeout_s: float) -> dict[str, Any]:
    """List the upstream's models now, with the node's key: {ok, status, latency_ms, error}."""
    gemini = node["provider"] == "gemini"
    url = node["base_url"].rstrip("/") + ("/v1beta/models" if gemini else "/models")
    headers = {}
    if node["api_key"]:
        headers = {"x-goog-api-key": node["api_key"]} if gemini else {"Authorization": f"Bearer {node['api_key']}"}
    status: int | None = None
    error: str | None = None
    started = time.perf_counter()
    try:
        async with (aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=timeout_s)) as session,
                    session.get(url, headers=headers, allow_redirects=False) as resp):
            status = resp.status
            await resp.content.read(64 * 1024)  # enough to know the upstream answered
    except TimeoutError:
        error = f"no answer from {url} within {timeout_s:g} s"
    except (aiohttp.ClientError, OSError, ValueError) as exc:
        # aiohttp's messages name the URL, never the request headers (the key)
        error = f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
    latency_ms = round((time.perf_counter() - started) * 1000, 1)
    ok = status is not None and 200 <= status < 300
    if status is not None and not ok:
        error = f"GET {url} answered HTTP {status}"
    return {"ok": ok, "status": status, "latency_ms": latency_ms, "error": error}


async def test_node(request: Request, ctx: Context, _: User) -> Response:
    node = NODES.found(await catalog.get_node(ctx.store, NODES.id(request), with_secret=True))
    try:
        result = await asyncio.wait_for(probe(node, ctx.probe_timeout_s), ctx.probe_timeout_s + 1)
    except TimeoutError:
        result = {"ok": False, "status": None, "latency_ms": ctx.probe_timeout_s * 1000,
                  "error": f"no answer within {ctx.probe_timeout_s:g} s"}
    return json_response(result)


async def health(request: Request, ctx: Context, _: User) -> Response:
    """Every node as this gateway instance sees it now: its breaker (in memory) and the usage
    records of the last `window` seconds (requests, errors, latency, the newest errors)."""
    window = fields.query_int(request, "window", 900, 60, 7 * 24 * 3600)
    nodes, _ = await catalog.list_nodes(ctx.store, limit=fields.MAX_LIMIT)
    recent = await usage.node_health(ctx.store, time.time() - window)
    empty = {"requests": 0, "errors": 0, "latency_ms": 0.0, "max_latency_ms": 0.0, "recent_errors": []}
    data = []
    for node in nodes:
        breaker = ctx.router.breakers.get(node["id"]) if ctx.router is not None else None
        data.append({"id": node["id"], "name": node["name"], "enabled": node["enabled"],
                     "breaker": breaker.state if breaker is not None else "closed",
                     "consecutive_failures": breaker.failures if breaker is not None else 0,
                     **recent.get(node["name"], empty)})
    return json_response({"window_s": window, "data": data})


# --- models --------------------------------------------------------------------------------

async def list_models(request: Request, ctx: Context, _: User) -> Response:
    return await list_page(request, partial(catalog.list_models, ctx.store))


async def create_model(request: Request, ctx: Context, _: User) -> Response:
    data = fields.pick(await read_json(request), MODEL_FIELDS, required=("name", "kind", "price"))
    return await MODELS.save(ctx, catalog.create_model(ctx.store, **data), 201)


async def get_model(request: Request, ctx: Context, _: User) -> Response:
    return json_response(MODELS.found(await catalog.get_model(ctx.store, MODELS.id(request))))


async def patch_model(request: Request, ctx: Context, _: User) -> Response:
    model_id = MODELS.id(request)
    data = await read_json(request)
    if "name" in data:
        raise invalid("name", "cannot be changed (subscriptions and keys refer to it): create a new model")
    changes = fields.pick(data, MODEL_FIELDS)
    current = MODELS.found(await catalog.get_model(ctx.store, model_id))
    if "price" in changes:  # a partial price changes only the prices it names
        changes["price"] = current["price"] | changes["price"]
    return await MODELS.save(ctx, catalog.update_model(ctx.store, model_id, changes))


async def delete_model(request: Request, ctx: Context, _: User) -> Response:
    return await MODELS.deleted(ctx, await catalog.delete_model(ctx.store, MODELS.id(request)))


def routes(ctx: Context) -> list[Route]:
    return [
        resource(ctx, "/node/nodes", NODE, GET=list_nodes, POST=create_node),
        resource(ctx, "/node/nodes/{id}", NODE, GET=get_node, PATCH=patch_node, DELETE=delete_node),
        resource(ctx, "/node/nodes/{id}/test", NODE, POST=test_node),
        resource(ctx, "/node/health", NODE, GET=health),
        resource(ctx, "/node/models", NODE, GET=list_models, POST=create_model),
        resource(ctx, "/node/models/{id}", NODE, GET=get_model, PATCH=patch_model, DELETE=delete_model),
    ]
