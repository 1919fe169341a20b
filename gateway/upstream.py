"""The client towards the nodes: `Client` sends JSON bodies through the lean HTTP/1.1 client
(`h1client.py`, the hot path) and everything else (multipart, GET, DELETE) through one aiohttp
session with a pooled connector.

aiohttp rather than httpx: measured on this 2-core machine (DESIGN.md), httpx's AsyncClient
collapses under concurrency while aiohttp sustains ~10k req/s.
"""

from __future__ import annotations

from typing import Any

import aiohttp

from .config import GatewayConfig
from .h1client import H1Client
from .routing import Target

# Statuses that say "this node cannot serve now", so another node may. Not 409: a conflict is
# about the request (a video still rendering), and the node that owns it is the only one to ask.
RETRY_STATUSES = frozenset({408, 425, 429, 500, 502, 503, 504})

# Exceptions that mean "this node failed before answering": try another node. ClientError covers
# connection and payload errors, and a response that is not valid HTTP (ClientResponseError).
TRANSPORT_ERRORS = (aiohttp.ClientError, TimeoutError)


class Client:
    def __init__(self, config: GatewayConfig) -> None:
        self.h1 = H1Client(connect_timeout_s=config.connect_timeout_s, read_timeout_s=config.read_timeout_s)
        self.session = new_session(config)

    async def request(self, method: str, url: str, *, data: Any = None, headers: dict[str, str]) -> Any:
        """An aiohttp-like response: status, headers.get, read(), content.readany(), release(), close()."""
        if isinstance(data, bytes):
            return await self.h1.request(method, url, data, headers)
        return await self.session.request(method, url, data=data, headers=headers)

    async def close(self) -> None:
        await self.h1.close()
        await self.session.close()


def new_session(config: GatewayConfig) -> aiohttp.ClientSession:
    connector = aiohttp.TCPConnector(limit=0, ttl_dns_cache=300, keepalive_timeout=30,
                                     enable_cleanup_closed=True)
    timeout = aiohttp.ClientTimeout(total=None, connect=config.connect_timeout_s,
                                    sock_read=config.read_timeout_s)
    # auto_decompress off: we ask for identity, and relay bytes as they are
    return aiohttp.ClientSession(connector=connector, timeout=timeout, auto_decompress=False,
                                 skip_auto_headers=("User-Agent",), raise_for_status=False)


def auth_headers(target: Target) -> dict[str, str]:
    if target.provider == "gemini":
        return {"x-goog-api-key": target.api_key} if target.api_key else {}
    return {"Authorization": f"Bearer {target.api_key}"} if target.api_key else {}


def url(target: Target, path: str) -> str:
    """`path` is relative to the node's base URL (WIRE.md): "/chat/completions" on an
    OpenAI node (base .../v1), "/v1beta/models/m:generateContent" on a Gemini node."""
    return target.base_url.rstrip("/") + path
