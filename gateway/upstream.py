"""The client towards the nodes: one aiohttp session with a pooled connector per process.

aiohttp rather than httpx on this path: measured on this 2-core machine (DESIGN.md),
httpx's AsyncClient collapses under concurrency while aiohttp sustains ~10k req/s.
"""

from __future__ import annotations

import aiohttp

from .config import GatewayConfig
from .routing import Target

# Statuses that say "this node cannot serve now", so another node may. Not 409: a conflict is
# about the request (a video still rendering), and the node that owns it is the only one to ask.
RETRY_STATUSES = frozenset({408, 425, 429, 500, 502, 503, 504})

# Exceptions that mean "this node failed before answering": try another node. ClientError covers
# connection and payload errors, and a response that is not valid HTTP (ClientResponseError).
TRANSPORT_ERRORS = (aiohttp.ClientError, TimeoutError)


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
