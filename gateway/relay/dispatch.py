"""Which handler serves a relay path, and the one place a request's outcome is settled.

Paths are normalised first (`//v1/images/edits` works). Every authenticated request to a
model endpoint leaves exactly one usage record, whatever happens: success, refusal,
upstream failure, a stream cut half way, or a client that goes away.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

import orjson

from . import endpoints, errors, videos
from .call import Call
from .errors import RelayError
from .http import JSON_HEADERS, DisconnectWatch, Req, normalise_path

if TYPE_CHECKING:
    from ..app import Gateway

log = logging.getLogger("topapi.gateway.relay")
WATCH_AFTER_S = 0.05  # a client that leaves is noticed at most this late (see DisconnectWatch)

Handler = Callable[["Gateway", Req, Call], Awaitable[None]]


@dataclass(frozen=True, slots=True)
class Route:
    handler: Handler
    endpoint: str  # name in usage records
    dialect: str  # error shape: openai | gemini
    record: bool = True  # model lists are answered locally: no usage record


STATIC: dict[tuple[str, str], Route] = {
    ("POST", "/v1/getModelList"): Route(endpoints.openai_models, "getModelList", "openai", False),
    ("GET", "/v1/models"): Route(endpoints.openai_models, "models", "openai", False),
    ("GET", "/responses/v1/models"): Route(endpoints.openai_models, "models", "openai", False),
    ("POST", "/v1/chat/completions"): Route(endpoints.chat, "chat.completions", "openai"),
    ("POST", "/v1/responses"): Route(endpoints.responses, "responses", "openai"),
    ("POST", "/responses/v1/responses"): Route(endpoints.responses, "responses", "openai"),
    ("POST", "/v1/images/generations"): Route(endpoints.image_generations, "images.generations", "openai"),
    ("POST", "/v1/images/edits"): Route(endpoints.image_edits, "images.edits", "openai"),
    ("POST", "/v1/videos"): Route(videos.create, "videos.create", "openai"),
    ("GET", "/v1/videos"): Route(videos.list_jobs, "videos.list", "openai", False),
}
GEMINI_PREFIXES = ("/gemini/v1beta/models", "/v1beta/models", "/gemini/v1/models")
GEMINI_METHODS = {"generateContent": "gemini.generateContent",
                  "streamGenerateContent": "gemini.streamGenerateContent",
                  "countTokens": "gemini.countTokens"}
VIDEO_ROUTES = {
    ("GET", ""): Route(videos.retrieve, "videos.retrieve", "openai"),
    ("DELETE", ""): Route(videos.delete, "videos.delete", "openai"),
    ("GET", "/content"): Route(videos.content, "videos.content", "openai"),
    ("POST", "/content"): Route(videos.content, "videos.content", "openai"),
    ("POST", "/remix"): Route(videos.remix, "videos.remix", "openai"),
}
GEMINI_LIST = Route(endpoints.gemini_models, "gemini.models", "gemini", False)
GEMINI_GET = Route(endpoints.gemini_model, "gemini.models", "gemini", False)
GEMINI_CALLS = {verb: Route(endpoints.gemini, name, "gemini") for verb, name in GEMINI_METHODS.items()}
# google-genai's default api_version is v1: with the gateway root as its base URL it posts to
# /v1/models/{model}:generateContent. Only the `:verb` form is Gemini's under /v1/models (the
# list and GET /v1/models/{id} there are OpenAI's).
GEMINI_V1_ROOT = "/v1/models/"


def dialect_of(path: str) -> str:
    if path.startswith(("/gemini/", "/v1beta/")) or (path.startswith(GEMINI_V1_ROOT) and ":" in path):
        return "gemini"
    return "openai"


def _gemini_call(method: str, name: str) -> tuple[Route | None, dict[str, str], bool] | None:
    """`{model}:{verb}` after a models prefix, or None when `name` is not of that form."""
    model, sep, verb = name.rpartition(":")
    if not (sep and model and verb in GEMINI_METHODS and "/" not in model):
        return None
    if method != "POST":
        return None, {}, True
    return GEMINI_CALLS[verb], {"model": model, "method": verb}, True


def match(method: str, path: str) -> tuple[Route | None, dict[str, str], bool]:
    """(route, path params, path exists under another method)."""
    route = STATIC.get((method, path))
    if route is not None:
        return route, {}, True
    if any(p == path for (_, p) in STATIC):
        return None, {}, True
    if path.startswith("/v1/videos/"):
        rest = path[len("/v1/videos/"):]
        video_id, _, tail = rest.partition("/")
        tail = "/" + tail if tail else ""
        if video_id and tail in ("", "/content", "/remix"):
            return VIDEO_ROUTES.get((method, tail)), {"video_id": video_id}, True
        return None, {}, False
    for prefix in GEMINI_PREFIXES:
        if path == prefix:
            return (GEMINI_LIST if method == "GET" else None), {}, True
        if path.startswith(prefix + "/"):
            name = path[len(prefix) + 1:]
            found = _gemini_call(method, name)
            if found is not None:
                return found
            if ":" not in name and "/" not in name and name:
                return (GEMINI_GET if method == "GET" else None), {"model": name}, True
            return None, {}, False
    if path.startswith(GEMINI_V1_ROOT):
        found = _gemini_call(method, path[len(GEMINI_V1_ROOT):])
        if found is not None:
            return found
    return None, {}, False


async def handle(gw: Gateway, scope, receive, send) -> None:
    path = normalise_path(scope["path"])
    method = scope["method"]
    route, params, known = match(method, path)
    dialect = route.dialect if route else dialect_of(path)
    req = Req(scope, receive, send, path, params, dialect)
    if route is None:
        status = 405 if known else 404
        text = (f"Method {method} is not allowed on {path}" if known
                else f"Unknown route: {method} {path}")
        await req.respond(status, errors.body(dialect, status, text, code="unknown_url" if status == 404 else None))
        return
    call = Call(route.endpoint, dialect)
    req.request_id = call.request_id
    task = asyncio.current_task()
    watch: DisconnectWatch | None = None
    try:
        await req.read_body(gw.config.max_body_bytes)
        watch = DisconnectWatch(req, task, WATCH_AFTER_S)
        await route.handler(gw, req, call)
    except RelayError as exc:
        call.fail(exc.status, exc.outcome, exc.message)
        if not req.started:
            extra = [(k.encode(), v.encode()) for k, v in exc.headers.items()]
            await req.respond(exc.status, errors.body(dialect, exc.status, exc.message, exc.code, exc.param),
                              [*JSON_HEADERS, *extra])
    except orjson.JSONEncodeError as exc:  # e.g. a body nested deeper than orjson re-encodes
        call.fail(400, "rejected", str(exc))
        if not req.started:
            await req.respond(400, errors.body(dialect, 400, f"the request body cannot be relayed: {exc}"))
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
            await req.respond(500, errors.body(dialect, 500, "internal error in the gateway"))
        elif not req.finished:
            with contextlib.suppress(Exception):
                await req.end()
    finally:
        if watch is not None:
            watch.stop()
        if route.record and call.user is not None:
            if call.outcome == "ok" and call.status >= 400:  # a node's own error answer, relayed as is
                call.outcome = "rejected" if call.status < 500 else "upstream_error"
                call.error = call.error or f"the node answered HTTP {call.status}"
            await gw.record(call)
