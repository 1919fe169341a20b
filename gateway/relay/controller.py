"""The request path, the same for every dialect:

    authenticate -> read the body -> parse (the dialect; admits the model) -> limit (quota, rates,
    concurrency; a start marker in the journal) -> route -> send (failover) -> relay (the dialect
    renders and meters the answer) -> record (and the metrics)

Each stage is a function of its own, so a stage can be measured or extended in one place.
Every authenticated request to a model endpoint leaves exactly one usage record, whatever
happens: success, refusal, upstream failure, a stream cut half way, or a client that goes away.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from typing import TYPE_CHECKING

import orjson

from . import errors, policy, proxy
from .call import Call
from .dispatch import Route, dialect_of, match
from .errors import RelayError
from .http import JSON_HEADERS, DisconnectWatch, Req, normalise_path

if TYPE_CHECKING:
    from ..routing import Target
    from .context import RelayContext
    from .dialects.base import Dialect, Job

log = logging.getLogger("topapi.gateway.relay")
WATCH_AFTER_S = 0.05  # a client that leaves is noticed at most this late (see DisconnectWatch)


# -- the stages ------------------------------------------------------------------------------------------------


async def authenticate(ctx: RelayContext, req: Req, call: Call, op: Dialect) -> None:
    """The key (any of the dialect's header forms) and its owner, before the body is read. A key not
    known while the snapshot is being reloaded (an admin write elsewhere a moment ago) is looked up
    again after that reload: a key made through another instance works there at once."""
    try:
        call.key, call.user = policy.authenticate(ctx.cache, req, op.gemini_keys)
    except RelayError as exc:
        refreshing = ctx.cache.refreshing
        if exc.code != "invalid_api_key" or refreshing is None or refreshing.done():
            raise
        await asyncio.shield(refreshing)
        call.key, call.user = policy.authenticate(ctx.cache, req, op.gemini_keys)


def route(ctx: RelayContext, job: Job) -> list[Target]:
    """The nodes to try, in order: fixed by the job (affinity, a job's owner) or the router's plan."""
    return job.targets if job.targets is not None else ctx.router.plan(job.model)


async def send(ctx: RelayContext, call: Call, op: Dialect, job: Job, targets: list[Target]) -> proxy.Answer:
    """Walk the plan until a node answers (proxy.send: failover, breakers)."""
    return await proxy.send(ctx, call, targets, lambda target: op.outbound(job, target), stream=job.stream)


async def serve(ctx: RelayContext, req: Req, call: Call, op: Dialect) -> None:
    """parse -> route -> send -> relay, once the key is known and the body read."""
    job = await op.parse(ctx, req, call)
    if job is None:  # answered locally (a model list, the video list)
        return
    if call.admitted:
        await policy.limit(ctx, call)
        if call.user.quota is not None and ctx.limits.shared is not None:
            # the spend reaches the other instances before the client has its answer: its next
            # request, wherever it goes, is checked against it (the quota holds within one request)
            req.before_end = lambda: ctx.limits.charge(call.user, call.request_id, call.cost())  # not awaited
    ctx.journal.started(call.request_id, call.user.id, call.key.id, call.endpoint, call.model, job.stream)
    answer = await send(ctx, call, op, job, route(ctx, job))
    await op.relay(ctx, req, call, job, answer)


async def record(ctx: RelayContext, route_: Route, call: Call) -> None:
    """The call's one usage record (model lists and unauthenticated requests leave none)."""
    if route_.record and call.user is not None:
        if call.outcome == "ok" and call.status >= 400:  # a node's own error answer, relayed as is
            call.outcome = "rejected" if call.status < 500 else "upstream_error"
            call.error = call.error or f"the node answered HTTP {call.status}"
        await ctx.record(call)


# -- the entry point -----------------------------------------------------------------------------------------


async def handle(ctx: RelayContext, scope, receive, send_) -> None:
    path = normalise_path(scope["path"])
    method = scope["method"]
    found, params, known = match(method, path)
    dialect = found.dialect if found else dialect_of(path)
    req = Req(scope, receive, send_, path, params, dialect)
    if found is None:
        status = 405 if known else 404
        text = (f"Method {method} is not allowed on {path}" if known
                else f"Unknown route: {method} {path}")
        await req.respond(status, errors.body(dialect, status, text, code="unknown_url" if status == 404 else None))
        return
    op = found.op
    call = Call(found.endpoint, dialect)
    req.request_id = call.request_id
    task = asyncio.current_task()
    watch: DisconnectWatch | None = None
    try:
        await authenticate(ctx, req, call, op)
        await req.read_body(ctx.max_body_bytes)
        watch = DisconnectWatch(req, task, WATCH_AFTER_S)
        await serve(ctx, req, call, op)
    except RelayError as exc:
        call.fail(exc.status, exc.outcome, exc.message)
        if not req.started:
            extra = [(k.encode(), v.encode()) for k, v in exc.headers.items()]
            await req.respond(exc.status, op.error(exc.status, exc.message, exc.code, exc.param),
                              [*JSON_HEADERS, *extra])
    except orjson.JSONEncodeError as exc:  # e.g. a body nested deeper than orjson re-encodes
        call.fail(400, "rejected", str(exc))
        if not req.started:
            await req.respond(400, op.error(400, f"the request body cannot be relayed: {exc}"))
    except asyncio.CancelledError:
        if not req.disconnected:
            call.fail(503, "cancelled", "the gateway is shutting down")
            raise
        task.uncancel()
        call.fail(499, "cancelled", "the client went away")
    except Exception as exc:  # a bug: log it, answer 500 without a trace
        log.exception("relay %s %s failed", method, path)
        call.fail(500, "error", f"{type(exc).__name__}: {exc}")
        if not req.started:
            await req.respond(500, op.error(500, "internal error in the gateway"))
        elif not req.finished:
            with contextlib.suppress(Exception):
                await req.end()
    finally:
        if watch is not None:
            watch.stop()
        await record(ctx, found, call)
        ctx.observe(call)
