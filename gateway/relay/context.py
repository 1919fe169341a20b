"""What the relay needs from the gateway process, and nothing more: the request path sees this
small object, never the whole `Gateway` (its lifecycle, the admin app, the ASGI entry)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from ..cache import Cache
    from ..journal import Journal
    from ..limits import Limits
    from ..routing import Router
    from ..upstream import Client
    from .call import Call


@dataclass(slots=True)
class RelayContext:
    cache: Cache  # keys, users, models, nodes: the hot path's snapshot
    router: Router  # plans and circuit breakers
    limits: Limits  # quota, rpm, tpm, concurrency (shared through Redis, or per process)
    client: Client  # towards the nodes
    store: Any  # video jobs and response routes (not on the chat/Responses/Gemini hot path)
    max_body_bytes: int
    max_attempts: int  # nodes tried for one request
    record: Callable[[Call], Awaitable[None]]  # the usage record, once per call
    remember_response: Callable[[str, int, int], None]  # response id -> (node id, user id)
    response_node: Callable[[str, int], Awaitable[int | None]]  # the node holding a response, for its user
    journal: Journal  # start markers: a request in flight when the process dies is known at the next start
    observe: Callable[[Call], None]  # the per-request metrics
