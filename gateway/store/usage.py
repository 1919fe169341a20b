"""Usage records: the write-behind queue's batch insert, and the consoles' queries and stats."""

from __future__ import annotations

import time
from collections import defaultdict
from typing import Any

from sqlalchemy import ColumnElement, and_, bindparam, case, func, insert, select, true, update

from .db import Store, row_dict
from .schema import usage_records, users

REQUIRED = ("request_id", "user_id", "endpoint", "status", "outcome")
DEFAULTS: dict[str, Any] = {
    "key_id": None, "model": None, "node": None, "stream": False, "prompt_tokens": 0, "completion_tokens": 0,
    "total_tokens": 0, "cost": 0.0, "latency_ms": 0.0, "ttft_ms": None, "attempts": 0, "error": None,
}
COLUMNS = frozenset(c.name for c in usage_records.columns) - {"id"}
# the batch statements, compiled once per store (Store.write_many)
INSERT = insert(usage_records).values({name: bindparam(name) for name in sorted(COLUMNS)})
ADD_SPEND = update(users).where(users.c.id == bindparam("uid")).values(used=users.c.used + bindparam("amount"))


def _row(record: dict[str, Any], now: float) -> dict[str, Any]:
    unknown = set(record) - COLUMNS
    if unknown:
        raise ValueError(f"unknown usage record fields: {sorted(unknown)}")
    missing = [name for name in REQUIRED if record.get(name) is None]
    if missing:
        raise ValueError(f"usage record without {missing}")
    # every row gets every column: executemany needs the same keys in each row
    return DEFAULTS | {"created_at": now} | record


async def write_batch(store: Store, records: list[dict[str, Any]]) -> None:
    """Insert the records and add each one's cost to its user's `used`, in ONE transaction:
    either the whole batch (records and spend) is stored or nothing is."""
    if not records:
        return
    now = time.time()
    rows = [_row(r, now) for r in records]
    spend: dict[int, float] = defaultdict(float)
    for row in rows:
        if row["cost"]:
            spend[row["user_id"]] += row["cost"]
    await store.write_many([(INSERT, rows), (ADD_SPEND, [{"uid": uid, "amount": amount}
                                                         for uid, amount in spend.items()])])


def _filters(user_id: int | None, model: str | None, node: str | None, since: float | None,
             until: float | None) -> ColumnElement[bool]:
    conditions: list[ColumnElement[bool]] = []
    if user_id is not None:
        conditions.append(usage_records.c.user_id == user_id)
    if model is not None:
        conditions.append(usage_records.c.model == model)
    if node is not None:
        conditions.append(usage_records.c.node == node)
    if since is not None:
        conditions.append(usage_records.c.created_at >= since)
    if until is not None:
        conditions.append(usage_records.c.created_at < until)
    return and_(true(), *conditions)


async def list_usage(store: Store, *, user_id: int | None = None, model: str | None = None,
                     node: str | None = None, since: float | None = None, until: float | None = None,
                     limit: int = 50, offset: int = 0) -> tuple[list[dict[str, Any]], int]:
    """Records matching every given filter, newest first: (page, total count)."""
    condition = _filters(user_id, model, node, since, until)
    async with store.read() as conn:
        total = (await conn.execute(select(func.count()).select_from(usage_records).where(condition))).scalar_one()
        rows = await conn.execute(select(usage_records).where(condition)
                                  .order_by(usage_records.c.created_at.desc(), usage_records.c.id.desc())
                                  .limit(limit).offset(offset))
        return [row_dict(r) for r in rows], total


def _aggregates() -> list[Any]:
    u = usage_records.c
    return [
        func.count().label("requests"),
        func.sum(case((u.outcome != "ok", 1), else_=0)).label("errors"),
        func.sum(u.prompt_tokens).label("prompt_tokens"),
        func.sum(u.completion_tokens).label("completion_tokens"),
        func.sum(u.total_tokens).label("total_tokens"),
        func.sum(u.cost).label("cost"),
    ]


def _numbers(row: Any) -> dict[str, Any]:
    item = row_dict(row)
    for name in ("requests", "errors", "prompt_tokens", "completion_tokens", "total_tokens"):
        item[name] = int(item[name] or 0)
    item["cost"] = float(item["cost"] or 0.0)
    return item


async def stats(store: Store, *, since: float | None = None, until: float | None = None,
                user_id: int | None = None) -> dict[str, Any]:
    """Requests, errors (outcome other than "ok"), tokens and cost: in total and per model, node, user."""
    condition = _filters(user_id, None, None, since, until)
    u = usage_records.c
    async with store.read() as conn:
        totals = _numbers((await conn.execute(select(*_aggregates()).where(condition))).one())
        by_model = [_numbers(r) for r in await conn.execute(
            select(u.model, *_aggregates()).where(condition).group_by(u.model).order_by(u.model.asc().nulls_last()))]
        by_node = [_numbers(r) for r in await conn.execute(
            select(u.node, *_aggregates()).where(condition).group_by(u.node).order_by(u.node.asc().nulls_last()))]
        by_user = [_numbers(r) for r in await conn.execute(
            select(u.user_id, users.c.username, *_aggregates())
            .select_from(usage_records.outerjoin(users, users.c.id == u.user_id))
            .where(condition).group_by(u.user_id, users.c.username).order_by(u.user_id))]
    return {"totals": totals, "by_model": by_model, "by_node": by_node, "by_user": by_user}
