"""The three consoles' JSON API under /api (see WIRE.md "Admin API").

`routes(store, on_change)` gives the Starlette routes; `on_change` is awaited after every
write that can change what the relay serves (users, keys, models, nodes, subscriptions).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from starlette.routing import BaseRoute, Mount, Route

from ..store import Store
from . import auth, node, platform, user
from .common import ALL_METHODS, Context, unknown_path
from .throttle import LoginThrottle


def routes(store: Store, on_change: Callable[[], Awaitable[Any]], *, session_ttl_s: float = 7 * 24 * 3600.0,
           probe_timeout_s: float = 10.0, router: Any = None,
           throttle: LoginThrottle | None = None) -> list[BaseRoute]:
    ctx = Context(store=store, on_change=on_change, session_ttl_s=session_ttl_s, probe_timeout_s=probe_timeout_s,
                  router=router)
    if throttle is not None:
        ctx.throttle = throttle
    api = [*auth.routes(ctx), *platform.routes(ctx), *node.routes(ctx), *user.routes(ctx),
           Route("/{path:path}", unknown_path, methods=ALL_METHODS)]  # JSON 404 for the rest of /api
    return [Mount("/api", routes=api)]


__all__ = ["routes"]
