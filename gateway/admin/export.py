"""GET /api/platform/usage/export: the usage records a filter selects, as CSV, streamed page by page."""

from __future__ import annotations

import csv
import io
import time
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from typing import Any

from starlette.responses import StreamingResponse

from ..store import Store, usage

COLUMNS = ("time", "request_id", "user_id", "key_id", "model", "node", "endpoint", "status", "outcome", "stream",
           "prompt_tokens", "completion_tokens", "total_tokens", "cost", "latency_ms", "ttft_ms", "attempts", "error")
PAGE = 1000
FORMULA_START = ("=", "+", "-", "@", "\t", "\r")  # a spreadsheet would run such a cell as a formula


def _cell(value: Any) -> Any:
    if isinstance(value, str) and value.startswith(FORMULA_START):
        return "'" + value
    return "" if value is None else value


def _line(values: list[Any]) -> str:
    out = io.StringIO()
    csv.writer(out, lineterminator="\r\n").writerow(values)
    return out.getvalue()


async def _rows(store: Store, filters: dict[str, Any]) -> AsyncIterator[str]:
    yield _line(list(COLUMNS))
    offset = 0
    while True:
        items, _ = await usage.list_usage(store, limit=PAGE, offset=offset, **filters)
        for item in items:
            item["time"] = datetime.fromtimestamp(item["created_at"], UTC).isoformat(timespec="milliseconds")
            yield _line([_cell(item.get(name)) for name in COLUMNS])
        if len(items) < PAGE:
            return
        offset += PAGE


def usage_csv(store: Store, **filters: Any) -> StreamingResponse:
    # a fixed end: records written while the export runs would shift the pages under it
    if filters.get("until") is None:
        filters["until"] = time.time()
    name = f"topapi-usage-{datetime.now(UTC):%Y%m%d-%H%M%S}.csv"
    return StreamingResponse(_rows(store, filters), media_type="text/csv; charset=utf-8",
                             headers={"Content-Disposition": f'attachment; filename="{name}"'})
