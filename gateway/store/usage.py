"""Usage records: the write-behind queue's batch insert, and the consoles' queries and stats."""

from __future__ import annotations

import time
from collections import defaultdict
from typing import Any

from sqlalchemy import (
    BigInteger,
    ColumnElement,
    Integer,
    and_,
    bindparam,
    case,
    cast,
    func,
    insert,
    select,
    true,
    update,
)

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
                user_id: int | None = None, model: str | None = None) -> dict[str, Any]:
    """Requests, errors (outcome other than "ok"), tokens and cost: in total and per model, node, user."""
    condition = _filters(user_id, model, None, since, until)
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


DAY_S = 86400


def _day(store: Store) -> ColumnElement[Any]:
    """The UTC day a record falls on, as unix seconds of its midnight (floor, on either database)."""
    seconds = usage_records.c.created_at
    if store.dialect == "postgresql":
        return cast(func.floor(seconds / DAY_S), BigInteger) * DAY_S
    return cast(seconds / DAY_S, Integer) * DAY_S  # SQLite: a cast truncates, and times are positive


async def daily(store: Store, *, user_id: int | None = None, model: str | None = None,
                since: float | None = None, until: float | None = None) -> list[dict[str, Any]]:
    """Requests, errors, tokens and cost per UTC day and model, oldest day first."""
    day = _day(store).label("day")
    u = usage_records.c
    query = (select(day, u.model, *_aggregates()).where(_filters(user_id, model, None, since, until))
             .group_by(day, u.model).order_by(day, u.model.asc().nulls_last()))
    async with store.read() as conn:
        return [_numbers(r) | {"day": int(r.day)} for r in await conn.execute(query)]


async def node_health(store: Store, since: float) -> dict[str, dict[str, Any]]:
    """Per node name, the records since `since`: requests, errors, mean and worst latency, and the
    newest errors (at most 5 per node)."""
    u = usage_records.c
    window = u.created_at >= since
    async with store.read() as conn:
        rows = await conn.execute(
            select(u.node, func.count().label("requests"),
                   func.sum(case((u.outcome != "ok", 1), else_=0)).label("errors"),
                   func.avg(u.latency_ms).label("latency_ms"), func.max(u.latency_ms).label("max_latency_ms"))
            .where(window, u.node.is_not(None)).group_by(u.node))
        health = {r.node: {"requests": int(r.requests), "errors": int(r.errors or 0),
                           "latency_ms": round(float(r.latency_ms or 0.0), 1),
                           "max_latency_ms": round(float(r.max_latency_ms or 0.0), 1), "recent_errors": []}
                  for r in rows}
        errors = await conn.execute(
            select(u.node, u.created_at, u.status, u.outcome, u.error, u.model)
            .where(window, u.node.is_not(None), u.outcome != "ok")
            .order_by(u.created_at.desc()).limit(500))
        for r in errors:
            recent = health.get(r.node, {}).get("recent_errors")
            if recent is not None and len(recent) < 5:  # None: recorded between the two queries
                recent.append({"at": r.created_at, "status": r.status, "outcome": r.outcome,
                               "model": r.model, "error": (r.error or "")[:300]})
    return health
