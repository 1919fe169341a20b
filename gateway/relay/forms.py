"""multipart/form-data bodies: read the client's, and build the one a node gets."""

from __future__ import annotations

import re
from typing import Any

import aiohttp
from starlette.datastructures import UploadFile
from starlette.requests import Request

from .errors import RelayError
from .http import Req

HEADER_UNSAFE = re.compile(r"[\x00-\x08\x0a-\x1f\x7f]")  # what aiohttp refuses in a header (tab is fine)
Files = list[tuple[str, tuple[str, str, bytes]]]


def is_multipart(req: Req) -> bool:
    return (req.header(b"content-type") or "").startswith("multipart/form-data")


async def read(req: Req) -> tuple[dict[str, str], Files]:
    """Text fields, and file parts as (field, (filename, content type, bytes))."""
    body = req.body

    async def receive() -> dict[str, Any]:
        return {"type": "http.request", "body": body, "more_body": False}

    try:
        form = await Request(req.scope, receive).form(max_files=32, max_fields=128)
    except Exception as exc:  # python-multipart raises several types for broken bodies
        raise RelayError(400, f"malformed multipart body: {exc}") from None
    fields: dict[str, str] = {}
    files = []
    for name, value in form.multi_items():
        # names, file names and types go into the part headers of the form sent upstream
        heads = (name, value.filename or "", value.content_type or "") if isinstance(value, UploadFile) else (name,)
        if any(HEADER_UNSAFE.search(h) for h in heads):
            raise RelayError(400, "malformed multipart body: a part's name, filename or content type has a "
                                  "control character", code="invalid_value")
        if isinstance(value, UploadFile):
            files.append((name, (value.filename or name, value.content_type or "application/octet-stream",
                                 await value.read())))
        else:
            fields[name] = value
    return fields, files


def build(fields: dict[str, Any], files: Files) -> aiohttp.FormData:
    """Raw UTF-8 names, as browsers send them: aiohttp's default `name*=` form for a non-ASCII name
    trips its own assertion (a 502), and it would percent-encode file names."""
    data = aiohttp.FormData(quote_fields=False)
    for k, v in fields.items():
        data.add_field(k, str(v))
    for name, (filename, ctype, content) in files:
        data.add_field(name, content, filename=filename, content_type=ctype)
    return data
