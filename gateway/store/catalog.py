"""Models (the market), nodes (upstreams with their served models) and the relay's snapshot.

Node dicts from here carry `api_key_hint`, never `api_key`; only `get_node(..., with_secret=True)`
and `load_snapshot` (for the relay's in-memory cache) return the upstream key itself.
"""

from __future__ import annotations

import time
from typing import Any

from sqlalchemy import delete, func, insert, select, true, update
from sqlalchemy.exc import IntegrityError

from ..security import secret_hint
from .db import Conflict, Store, row_dict
from .schema import api_keys, models, node_models, nodes, subscriptions, users

PRICE_FIELDS = ("input_per_1k", "output_per_1k", "per_image", "per_second")
MODEL_COLUMNS = (models.c.id, models.c.name, models.c.kind, models.c.display_name, models.c.description,
                 models.c.price, models.c.listed, models.c.created_at)
MODEL_FIELDS = frozenset({"kind", "display_name", "description", "price", "listed"})
NODE_FIELDS = frozenset({"name", "provider", "base_url", "api_key", "weight", "priority", "enabled", "models"})


def normalize_price(price: dict[str, Any] | None) -> dict[str, float]:
    """Every price field present (0 when not given), so readers need no defaults."""
    price = price or {}
    return {name: float(price.get(name) or 0.0) for name in PRICE_FIELDS}


# --- models --------------------------------------------------------------------------------

async def create_model(store: Store, name: str, kind: str, *, price: dict[str, Any] | None = None,
                       display_name: str | None = None, description: str | None = None,
                       listed: bool = True) -> dict[str, Any]:
    try:
        async with store.begin() as conn:
            result = await conn.execute(insert(models).values(
                name=name, kind=kind, price=normalize_price(price), display_name=display_name,
                description=description, listed=listed, created_at=time.time()))
            model_id = result.inserted_primary_key[0]
    except IntegrityError as exc:
        raise Conflict("model", name) from exc
    return await get_model(store, model_id)  # type: ignore[return-value]


async def get_model(store: Store, model_id: int) -> dict[str, Any] | None:
    return await store.one(select(*MODEL_COLUMNS).where(models.c.id == model_id))


async def get_model_by_name(store: Store, name: str) -> dict[str, Any] | None:
    return await store.one(select(*MODEL_COLUMNS).where(models.c.name == name))


async def list_models(store: Store, *, limit: int = 50, offset: int = 0,
                      listed_only: bool = False) -> tuple[list[dict[str, Any]], int]:
    condition = models.c.listed.is_(True) if listed_only else true()
    async with store.read() as conn:
        total = (await conn.execute(select(func.count()).select_from(models).where(condition))).scalar_one()
        rows = await conn.execute(select(*MODEL_COLUMNS).where(condition).order_by(models.c.name)
                                  .limit(limit).offset(offset))
        return [row_dict(r) for r in rows], total


async def update_model(store: Store, model_id: int, changes: dict[str, Any]) -> dict[str, Any] | None:
    """Apply `changes` (kind, display_name, description, price, listed); the name is fixed because
    subscriptions and key allow-lists refer to it."""
    unknown = set(changes) - MODEL_FIELDS
    if unknown:
        raise ValueError(f"not updatable: {sorted(unknown)}")
    values = dict(changes)
    if "price" in values:
        values["price"] = normalize_price(values["price"])
    if values:
        async with store.begin() as conn:
            result = await conn.execute(update(models).where(models.c.id == model_id).values(**values))
            if result.rowcount == 0:
                return None
    return await get_model(store, model_id)


async def delete_model(store: Store, model_id: int) -> bool:
    """Delete a model and the subscriptions to it (nodes keep serving the name if re-created)."""
    async with store.begin() as conn:
        name = (await conn.execute(select(models.c.name).where(models.c.id == model_id))).scalar()
        if name is None:
            return False
        await conn.execute(delete(subscriptions).where(subscriptions.c.model == name))
        await conn.execute(delete(models).where(models.c.id == model_id))
    return True


async def list_market(store: Store, user_id: int, *, limit: int = 50,
                      offset: int = 0) -> tuple[list[dict[str, Any]], int]:
    """Listed models, each with `subscribed` for this user."""
    subscribed = (select(subscriptions.c.model).where(subscriptions.c.user_id == user_id)).scalar_subquery()
    async with store.read() as conn:
        total = (await conn.execute(select(func.count()).select_from(models)
                                    .where(models.c.listed.is_(True)))).scalar_one()
        rows = await conn.execute(
            select(*MODEL_COLUMNS, models.c.name.in_(subscribed).label("subscribed"))
            .where(models.c.listed.is_(True)).order_by(models.c.name).limit(limit).offset(offset))
        items = [row_dict(r) for r in rows]
    for item in items:
        item["subscribed"] = bool(item["subscribed"])
    return items, total


# --- nodes ---------------------------------------------------------------------------------

def _served(rows: Any) -> dict[int, list[dict[str, Any]]]:
    served: dict[int, list[dict[str, Any]]] = {}
    for r in rows:
        served.setdefault(r.node_id, []).append({"model": r.model, "upstream_model": r.upstream_model})
    return served


async def _read_nodes(store: Store, node_id: int | None = None, *, limit: int | None = None, offset: int = 0,
                      with_secret: bool = False) -> list[dict[str, Any]]:
    query = select(nodes).order_by(nodes.c.id)
    served_query = select(node_models).order_by(node_models.c.node_id, node_models.c.model)
    if node_id is not None:
        query = query.where(nodes.c.id == node_id)
        served_query = served_query.where(node_models.c.node_id == node_id)
    else:
        query = query.limit(limit).offset(offset)
    async with store.read() as conn:
        rows = (await conn.execute(query)).all()
        ids = [r.id for r in rows]
        served = _served(await conn.execute(served_query.where(node_models.c.node_id.in_(ids))))
    items = []
    for r in rows:
        item = row_dict(r)
        if not with_secret:
            item["api_key_hint"] = secret_hint(item.pop("api_key"))
        item["models"] = served.get(r.id, [])
        items.append(item)
    return items


def _node_model_rows(node_id: int, served: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [{"node_id": node_id, "model": m["model"], "upstream_model": m.get("upstream_model") or None}
            for m in served]


async def create_node(store: Store, name: str, provider: str, base_url: str, *, api_key: str = "",
                      weight: int = 1, priority: int = 0, enabled: bool = True,
                      models: list[dict[str, Any]] | None = None) -> dict[str, Any]:
    """`models`: [{model, upstream_model?}], the model names this node serves."""
    try:
        async with store.begin() as conn:
            result = await conn.execute(insert(nodes).values(
                name=name, provider=provider, base_url=base_url, api_key=api_key, weight=weight,
                priority=priority, enabled=enabled, created_at=time.time()))
            node_id = result.inserted_primary_key[0]
            if models:
                await conn.execute(insert(node_models), _node_model_rows(node_id, models))
    except IntegrityError as exc:
        raise Conflict("node", name) from exc
    return await get_node(store, node_id)  # type: ignore[return-value]


async def get_node(store: Store, node_id: int, *, with_secret: bool = False) -> dict[str, Any] | None:
    found = await _read_nodes(store, node_id, with_secret=with_secret)
    return found[0] if found else None


async def get_node_by_name(store: Store, name: str, *, with_secret: bool = False) -> dict[str, Any] | None:
    async with store.read() as conn:
        node_id = (await conn.execute(select(nodes.c.id).where(nodes.c.name == name))).scalar()
    return None if node_id is None else await get_node(store, node_id, with_secret=with_secret)


async def list_nodes(store: Store, *, limit: int = 50, offset: int = 0) -> tuple[list[dict[str, Any]], int]:
    async with store.read() as conn:
        total = (await conn.execute(select(func.count()).select_from(nodes))).scalar_one()
    return await _read_nodes(store, limit=limit, offset=offset), total


async def update_node(store: Store, node_id: int, changes: dict[str, Any]) -> dict[str, Any] | None:
    """Apply `changes`; `models`, when given, replaces the node's whole served-model list."""
    unknown = set(changes) - NODE_FIELDS
    if unknown:
        raise ValueError(f"not updatable: {sorted(unknown)}")
    values = {k: v for k, v in changes.items() if k != "models"}
    try:
        async with store.begin() as conn:
            exists = (await conn.execute(select(nodes.c.id).where(nodes.c.id == node_id))).scalar()
            if exists is None:
                return None
            if values:
                await conn.execute(update(nodes).where(nodes.c.id == node_id).values(**values))
            if "models" in changes:
                await conn.execute(delete(node_models).where(node_models.c.node_id == node_id))
                if changes["models"]:
                    await conn.execute(insert(node_models), _node_model_rows(node_id, changes["models"]))
    except IntegrityError as exc:
        raise Conflict("node", changes.get("name")) from exc
    return await get_node(store, node_id)


async def delete_node(store: Store, node_id: int) -> bool:
    async with store.begin() as conn:
        await conn.execute(delete(node_models).where(node_models.c.node_id == node_id))
        result = await conn.execute(delete(nodes).where(nodes.c.id == node_id))
    return result.rowcount > 0


# --- the relay's snapshot ------------------------------------------------------------------

async def load_snapshot(store: Store) -> dict[str, Any]:
    """Everything the relay serves from, read in one go (one transaction on PostgreSQL)."""
    async with store.read() as conn:
        if store.dialect == "postgresql":
            await conn.execution_options(isolation_level="REPEATABLE READ")
        user_rows = await conn.execute(select(users.c.id, users.c.username, users.c.role, users.c.status,
                                              users.c.quota, users.c.used))
        key_rows = await conn.execute(select(api_keys.c.id, api_keys.c.user_id, api_keys.c.key_hash,
                                             api_keys.c.enabled, api_keys.c.expires_at, api_keys.c.models,
                                             api_keys.c.rpm, api_keys.c.tpm, api_keys.c.concurrency,
                                             api_keys.c.name))
        sub_rows = await conn.execute(select(subscriptions.c.user_id, subscriptions.c.model))
        model_rows = await conn.execute(select(models.c.name, models.c.kind, models.c.price, models.c.listed,
                                               models.c.display_name, models.c.description,
                                               models.c.created_at))
        node_rows = (await conn.execute(select(nodes.c.id, nodes.c.name, nodes.c.provider, nodes.c.base_url,
                                               nodes.c.api_key, nodes.c.weight, nodes.c.priority,
                                               nodes.c.enabled).order_by(nodes.c.id))).all()
        served = _served(await conn.execute(select(node_models).order_by(node_models.c.model)))
        snapshot = {
            "users": [row_dict(r) for r in user_rows],
            "api_keys": [row_dict(r) for r in key_rows],
            "subscriptions": [(r.user_id, r.model) for r in sub_rows],
            "models": [row_dict(r) for r in model_rows],
            "nodes": [row_dict(r) | {"models": served.get(r.id, [])} for r in node_rows],
        }
    return snapshot
