"""Video jobs (public id -> node + upstream id, survives restarts) and Responses API affinity
(response id -> the node that produced it)."""

from __future__ import annotations

import time
from typing import Any

from sqlalchemy import and_, bindparam, or_, select, update
from sqlalchemy.dialects import postgresql, sqlite

from .db import Store, row_dict
from .schema import response_routes, video_jobs

# a response id already known keeps its first node (Store.write_many compiles these once)
ADD_ROUTE = {name: dialect.insert(response_routes).values(
    {c: bindparam(c) for c in ("response_id", "node_id", "user_id", "created_at")}).on_conflict_do_nothing()
    for name, dialect in (("postgresql", postgresql), ("sqlite", sqlite))}

ORDERS = ("asc", "desc")


async def create_job(store: Store, *, id: str, user_id: int, node_id: int, upstream_id: str, model: str,
                     key_id: int | None = None, last: dict[str, Any] | None = None,
                     created_at: float | None = None) -> dict[str, Any]:
    row = {"id": id, "user_id": user_id, "key_id": key_id, "node_id": node_id, "upstream_id": upstream_id,
           "model": model, "last": last, "deleted": False,
           "created_at": time.time() if created_at is None else created_at}
    async with store.begin() as conn:
        await conn.execute(video_jobs.insert().values(**row))
    return row


async def get_job(store: Store, job_id: str, *, user_id: int | None = None,
                  include_deleted: bool = False) -> dict[str, Any] | None:
    """A job by public id; with `user_id`, only that user's (another user's job is None)."""
    query = select(video_jobs).where(video_jobs.c.id == job_id)
    if user_id is not None:
        query = query.where(video_jobs.c.user_id == user_id)
    if not include_deleted:
        query = query.where(video_jobs.c.deleted.is_(False))
    return await store.one(query)


async def list_jobs(store: Store, user_id: int, *, after: str | None = None, limit: int = 20,
                    order: str = "desc") -> tuple[list[dict[str, Any]], bool]:
    """A user's jobs (not deleted) by creation time: (page, has_more). `after` is the id of the
    last job of the previous page, as in OpenAI's cursor pagination; an unknown `after` gives []."""
    if order not in ORDERS:
        raise ValueError(f"order must be one of {ORDERS}")
    c = video_jobs.c
    desc = order == "desc"
    query = select(video_jobs).where(c.user_id == user_id, c.deleted.is_(False))
    async with store.read() as conn:
        if after is not None:
            cursor = (await conn.execute(select(c.created_at, c.id)
                                         .where(c.id == after, c.user_id == user_id))).first()
            if cursor is None:
                return [], False
            if desc:
                query = query.where(or_(c.created_at < cursor.created_at,
                                        and_(c.created_at == cursor.created_at, c.id < cursor.id)))
            else:
                query = query.where(or_(c.created_at > cursor.created_at,
                                        and_(c.created_at == cursor.created_at, c.id > cursor.id)))
        ordering = (c.created_at.desc(), c.id.desc()) if desc else (c.created_at.asc(), c.id.asc())
        rows = (await conn.execute(query.order_by(*ordering).limit(limit + 1))).all()
    return [row_dict(r) for r in rows[:limit]], len(rows) > limit


async def update_last(store: Store, job_id: str, last: dict[str, Any]) -> bool:
    """Remember the last Video object seen for this job."""
    async with store.begin() as conn:
        result = await conn.execute(update(video_jobs).where(video_jobs.c.id == job_id).values(last=last))
    return result.rowcount > 0


async def mark_deleted(store: Store, job_id: str) -> bool:
    async with store.begin() as conn:
        result = await conn.execute(update(video_jobs).where(video_jobs.c.id == job_id,
                                                             video_jobs.c.deleted.is_(False))
                                    .values(deleted=True))
    return result.rowcount > 0


async def add_routes(store: Store, routes: list[tuple[str, int, int]]) -> None:
    """Remember which node produced each response: [(response_id, node_id, user_id)].
    A response id already known keeps its first node."""
    if not routes:
        return
    now = time.time()
    rows = [{"response_id": r, "node_id": n, "user_id": u, "created_at": now} for r, n, u in routes]
    await store.write_many([(ADD_ROUTE[store.dialect], rows)])


async def get_route(store: Store, response_id: str) -> dict[str, Any] | None:
    """{response_id, node_id, user_id, created_at} or None."""
    return await store.one(select(response_routes).where(response_routes.c.response_id == response_id))
