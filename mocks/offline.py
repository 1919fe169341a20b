"""Offline use: route httpx requests for the real API hosts to the mocks in-process (respx).

    with mocks.offline.mock_upstreams() as upstreams:
        client = openai.OpenAI(api_key="x")          # talks to https://api.openai.com
        client.chat.completions.create(...)           # ... answered by OpenAIMock, no network
        upstreams["openai"].stats()                  # the servers are there to inspect

Works for sync and async httpx clients through respx. Recent openai and google-genai SDKs
talk through `httpx2` (a fork of httpx) when it is installed, which respx does not see:
while the context is open, httpx2's transports are patched the same way, so those SDKs
reach the mocks unmodified too. google-genai's async client (`client.aio`) uses aiohttp
when it is installed: `aiohttp.ClientSession` requests for the API hosts are answered the
same way. Responses are complete when returned (the ASGI transports read the body first),
so latency settings delay a whole response rather than its tokens.
"""

from __future__ import annotations

import asyncio
import contextlib
import sys
import threading
from collections.abc import Iterator
from typing import Any

import httpx
import orjson
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
    for prefix, app in _routes(servers, openai_base, gemini_base):
        r.route(url__startswith=prefix).mock(side_effect=AsgiSideEffect(app))
    return r


def _routes(servers: dict[str, MockServer], openai_base: str, gemini_base: str) -> list[tuple[str, Any]]:
    """(URL prefix, app), most specific first."""
    out = []
    if "sora" in servers:
        out.append((openai_base.rstrip("/") + "/v1/videos", servers["sora"]))
    if "openai" in servers:
        out.append((openai_base.rstrip("/") + "/", servers["openai"]))
    if "gemini" in servers:
        out.append((gemini_base.rstrip("/") + "/", servers["gemini"]))
    return out


@contextlib.contextmanager
def _patch_httpx2(routes: list[tuple[str, Any]]) -> Iterator[None]:
    try:
        import httpx2
    except ImportError:
        yield
        return
    transports = {id(app): httpx2.ASGITransport(app=app) for _, app in routes}

    def find(request) -> Any:
        url = str(request.url)
        return next((transports[id(app)] for prefix, app in routes if url.startswith(prefix)), None)

    async def answer(transport, request):
        try:
            response = await transport.handle_async_request(request)
            content = await response.aread()
        except ConnectionReset as exc:
            raise httpx2.ReadError(str(exc), request=request) from None
        return httpx2.Response(response.status_code, headers=response.headers, content=content, request=request)

    sync_orig = httpx2.HTTPTransport.handle_request
    async_orig = httpx2.AsyncHTTPTransport.handle_async_request

    def handle_request(self, request):
        transport = find(request)
        if transport is None:
            return sync_orig(self, request)
        request.read()
        return asyncio.run_coroutine_threadsafe(answer(transport, request), _Loop.get()).result()

    async def handle_async_request(self, request):
        transport = find(request)
        if transport is None:
            return await async_orig(self, request)
        await request.aread()
        return await answer(transport, request)

    httpx2.HTTPTransport.handle_request = handle_request
    httpx2.AsyncHTTPTransport.handle_async_request = handle_async_request
    try:
        yield
    finally:
        httpx2.HTTPTransport.handle_request = sync_orig
        httpx2.AsyncHTTPTransport.handle_async_request = async_orig


@contextlib.contextmanager
def _patch_aiohttp(routes: list[tuple[str, Any]]) -> Iterator[None]:
    try:
        import aiohttp
        from multidict import CIMultiDict, CIMultiDictProxy
        from yarl import URL
    except ImportError:
        yield
        return
    transports = {id(app): httpx.ASGITransport(app=app) for _, app in routes}
    orig = aiohttp.ClientSession._request

    async def _request(self, method: str, str_or_url: Any, **kw: Any) -> Any:
        url = self._build_url(str_or_url) if hasattr(self, "_build_url") else URL(str_or_url)
        if kw.get("params"):
            url = url.extend_query(kw["params"])
        transport = next((transports[id(app)] for prefix, app in routes if str(url).startswith(prefix)), None)
        if transport is None:
            return await orig(self, method, str_or_url, **kw)
        headers = CIMultiDict(self.headers)
        headers.update(CIMultiDict(kw.get("headers") or {}))
        data = kw.get("data")
        if kw.get("json") is not None:
            data = orjson.dumps(kw["json"])
            headers.setdefault("content-type", "application/json")
        request = httpx.Request(method, str(url), headers=list(headers.items()),
                                content=data.encode() if isinstance(data, str) else data)
        try:
            answer = await transport.handle_async_request(request)
            body = await answer.aread()
        except ConnectionReset as exc:
            raise aiohttp.ServerDisconnectedError(str(exc)) from None
        response = _aiohttp_response(aiohttp, self, method, url, CIMultiDictProxy(headers), answer, body)
        check = kw.get("raise_for_status", self._raise_for_status)
        if check is True:
            response.raise_for_status()
        return response

    aiohttp.ClientSession._request = _request
    try:
        yield
    finally:
        aiohttp.ClientSession._request = orig


def _aiohttp_response(aiohttp, session, method: str, url, req_headers, answer: httpx.Response, body: bytes):
    """A complete aiohttp.ClientResponse (as aioresponses builds them): status, headers, body fed and closed."""
    import inspect

    from multidict import CIMultiDict, CIMultiDictProxy

    loop = asyncio.get_running_loop()
    params = inspect.signature(aiohttp.ClientResponse.__init__).parameters
    done = type("_Sent", (), {"output_size": 0})()  # the request went out whole
    kw: dict[str, Any] = {"writer": None, "continue100": None, "timer": aiohttp.helpers.TimerNoop(),
                          "request_info": aiohttp.RequestInfo(url, method, req_headers, url), "traces": [],
                          "loop": loop, "session": session, "stream_writer": done}
    response = aiohttp.ClientResponse(method, url, **{k: v for k, v in kw.items() if k in params})
    response.status = answer.status_code
    response.reason = answer.reason_phrase
    response._headers = CIMultiDictProxy(CIMultiDict(answer.headers.multi_items()))
    response._raw_headers = tuple((k.encode(), v.encode()) for k, v in answer.headers.multi_items())
    response.content = aiohttp.StreamReader(_NoProtocol(), 2**16, loop=loop)
    response.content.feed_data(body)
    response.content.feed_eof()
    return response


class _NoProtocol:
    """What aiohttp.StreamReader asks of a protocol, for a body that is already all there."""

    _reading_paused = False

    def pause_reading(self, *args: Any, **kw: Any) -> None: ...

    def resume_reading(self, *args: Any, **kw: Any) -> None: ...


@contextlib.contextmanager
def mock_upstreams(servers: dict[str, MockServer] | None = None, *, openai_base: str = OPENAI_BASE,
                   gemini_base: str = GEMINI_BASE, **kw: Any) -> Iterator[dict[str, MockServer]]:
    """Context manager: while open, httpx and httpx2 requests to the API hosts reach the mocks in-process."""
    servers = servers if servers is not None else default_servers()
    routes = _routes(servers, openai_base, gemini_base)
    with router(servers, openai_base=openai_base, gemini_base=gemini_base, **kw), _patch_httpx2(routes), \
            _patch_aiohttp(routes):
        yield servers
