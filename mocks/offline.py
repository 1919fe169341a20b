"""Offline use: route httpx requests for the real API hosts to the mocks in-process (respx).

    with mocks.offline.mock_upstreams() as upstreams:
        client = openai.OpenAI(api_key="x")          # talks to https://api.openai.com
        client.chat.completions.create(...)           # ... answered by OpenAIMock, no network
        upstreams["openai"].stats()                  # the servers are there to inspect

Works for sync and async httpx clients (and so for the openai SDK, which uses httpx).
Responses are complete when returned (httpx's ASGI transport reads the body first), so
latency settings delay a whole response rather than its tokens.
"""

from __future__ import annotations

import asyncio
import contextlib
import sys
import threading
from collections.abc import Iterator
from typing import Any

import httpx
import respx

from .server import ConnectionReset, MockServer

OPENAI_BASE = "https://api.openai.com"
GEMINI_BASE = "https://generativelanguage.googleapis.com"


def default_servers() -> dict[str, MockServer]:
    from .gemini_app import GeminiMock
    from .openai_app import OpenAIMock
    from .sora_app import SoraMock

    return {"openai": OpenAIMock(), "sora": SoraMock(), "gemini": GeminiMock()}


class _Loop:
    """One background event loop that sync clients' requests run on."""

    _lock = threading.Lock()
    _loop: asyncio.AbstractEventLoop | None = None

    @classmethod
    def get(cls) -> asyncio.AbstractEventLoop:
        with cls._lock:
            if cls._loop is None:
                cls._loop = asyncio.new_event_loop()
                threading.Thread(target=cls._loop.run_forever, name="mocks-offline", daemon=True).start()
            return cls._loop


class AsgiSideEffect:
    """A respx side effect that answers from an ASGI app, for sync and async clients alike."""

    def __init__(self, app: Any) -> None:
        self.transport = httpx.ASGITransport(app=app)

    def __call__(self, request: httpx.Request) -> Any:
        if _called_from_async_router():
            return self._handle(request)
        return asyncio.run_coroutine_threadsafe(self._handle(request), _Loop.get()).result()

    async def _handle(self, request: httpx.Request) -> httpx.Response:
        try:
            response = await self.transport.handle_async_request(request)
            content = await response.aread()
        except ConnectionReset as exc:
            raise httpx.ReadError(str(exc), request=request) from None
        return httpx.Response(response.status_code, headers=response.headers, content=content)


def _called_from_async_router() -> bool:
    # respx calls side effects the same way from its sync and its async resolver; only
    # the async one can await what we return, so look which one is on the stack.
    frame = sys._getframe(1)
    for _ in range(8):
        if frame is None:
            break
        if frame.f_code.co_name == "aresolve":
            return True
        if frame.f_code.co_name == "resolve":
            return False
        frame = frame.f_back
    return False


def router(servers: dict[str, MockServer] | None = None, *, openai_base: str = OPENAI_BASE,
           gemini_base: str = GEMINI_BASE, **respx_kw: Any) -> respx.MockRouter:
    """A respx router sending the API hosts' requests to the mock servers (not started)."""
    servers = servers if servers is not None else default_servers()
    respx_kw.setdefault("assert_all_called", False)
    r = respx.MockRouter(**respx_kw)
    if "sora" in servers:
        r.route(url__startswith=openai_base.rstrip("/") + "/v1/videos").mock(
            side_effect=AsgiSideEffect(servers["sora"]))
    if "openai" in servers:
        r.route(url__startswith=openai_base.rstrip("/") + "/").mock(side_effect=AsgiSideEffect(servers["openai"]))
    if "gemini" in servers:
        r.route(url__startswith=gemini_base.rstrip("/") + "/").mock(side_effect=AsgiSideEffect(servers["gemini"]))
    return r


@contextlib.contextmanager
def mock_upstreams(servers: dict[str, MockServer] | None = None, **kw: Any) -> Iterator[dict[str, MockServer]]:
    """Context manager: while open, httpx requests to the API hosts reach the mocks in-process."""
    servers = servers if servers is not None else default_servers()
    with router(servers, **kw):
        yield servers
