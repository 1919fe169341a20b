"""`python -m load.bench.relay --port P --upstream URL`: the yardstick, the thinnest relay Python allows.

One Starlette route, one aiohttp session, bytes in and bytes out: no auth, no routing, no
accounting, no logging. Whatever the reference gateway spends above this is its own
overhead; what this one spends is the price of being a Python relay at all (uvicorn +
Starlette server side, aiohttp client side). Same server settings as `topapi serve`
(uvloop, httptools, one worker, no access log).
"""

from __future__ import annotations

import argparse
import contextlib
import sys
from collections.abc import AsyncIterator

import aiohttp
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response, StreamingResponse
from starlette.routing import Route

FORWARDED = ("content-type", "authorization")


def build(upstream: str) -> Starlette:
    session: aiohttp.ClientSession | None = None

    @contextlib.asynccontextmanager
    async def lifespan(_: Starlette) -> AsyncIterator[None]:
        nonlocal session
        session = aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=0), auto_decompress=False)
        yield
        await session.close()

    async def relay(request: Request) -> Response:
        headers = {k: v for k in FORWARDED if (v := request.headers.get(k))}
        resp = await session.request(request.method, upstream + request.url.path, data=await request.body(),
                                     headers=headers)
        ctype = resp.headers.get("content-type", "application/json")
        if ctype.startswith("text/event-stream"):
            async def chunks() -> AsyncIterator[bytes]:
                try:
                    async for chunk in resp.content.iter_any():
                        yield chunk
                finally:
                    resp.release()

            return StreamingResponse(chunks(), status_code=resp.status, media_type=ctype)
        body = await resp.read()
        return Response(body, status_code=resp.status, media_type=ctype)

    return Starlette(routes=[Route("/{path:path}", relay, methods=["GET", "POST"])], lifespan=lifespan)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m load.bench.relay", description=__doc__.split("\n\n")[0])
    ap.add_argument("--port", type=int, required=True)
    ap.add_argument("--upstream", required=True, help="the upstream root, e.g. http://127.0.0.1:8001")
    args = ap.parse_args(argv)
    import uvicorn

    uvicorn.run(build(args.upstream.rstrip("/")), host="127.0.0.1", port=args.port, log_level="warning",
                access_log=False, loop="uvloop", http="httptools", lifespan="on", backlog=4096)
    return 0


if __name__ == "__main__":
    sys.exit(main())
