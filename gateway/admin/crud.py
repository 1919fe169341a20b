"""What the consoles' collections (users, keys, nodes, models) share once a handler has called the
store: a page of rows, one row or 404, a write that tells the relay, a taken name as 409.

Each handler keeps its resource's own part: which store function, which fields, which checks,
and in which order it validates (a bad id is a 404 before a bad body is a 400).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from starlette.requests import Request
from starlette.responses import Response

from ..store import Conflict
from . import fields
from .common import ApiError, Context, json_response, no_content, not_found, path_id

Row = dict[str, Any]
Lister = Callable[..., Awaitable[tuple[list[Row], int]]]


async def list_page(request: Request, fetch: Lister) -> Response:
    """A list endpoint's answer: ?limit= and ?offset= go to `fetch`, {data, total, limit, offset} out."""
    limit, offset = fields.page(request)
    items, total = await fetch(limit=limit, offset=offset)
    return json_response(fields.listing(items, total, limit, offset))


@dataclass(frozen=True)
class Rows:
    """One collection's answers, worded with its noun: `Rows("node")` says "node not found"."""

    what: str
    taken: str = ""  # the 409 message for the store's Conflict (a unique value in use), {!r} the value

    def id(self, request: Request) -> int:
        return path_id(request, self.what)

    def found(self, row: Row | None) -> Row:
        if row is None:
            raise not_found(self.what)
        return row

    async def save(self, ctx: Context, write: Awaitable[Row | None], status: int = 200) -> Response:
        """Await a create or update; the row it returns (None: no such row) is the answer."""
        try:
            row = self.found(await write)
        except Conflict as exc:
            message = self.taken.format(exc.value) if self.taken else str(exc)
            raise ApiError(409, "conflict", message) from None
        await ctx.changed()
        return json_response(row, status)

    async def deleted(self, ctx: Context, gone: bool) -> Response:
        if not gone:
            raise not_found(self.what)
        await ctx.changed()
        return no_content()
