"""What every console endpoint shares: the session check, role checks, JSON in and out, errors.

`resource(ctx, path, roles, GET=..., POST=...)` builds one Starlette route whose handlers get
`(request, ctx, user)`. Every failure becomes `{"error": {"code", "message"}}` with its status:
a handler raises `ApiError`; anything unexpected is logged and answered with a bare 500.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

import orjson
from sqlalchemy.exc import DataError
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from specs.errors import admin_error

from ..store import Store, accounts
from . import sessions
from .throttle import LoginThrottle

log = logging.getLogger("gateway.admin")

MAX_BODY_BYTES = 1 << 20
ALL_METHODS = ("GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS")
PLATFORM = ("platform_admin",)
NODE = ("node_admin", "platform_admin")
ANY_USER = ("user", "node_admin", "platform_admin")

User = dict[str, Any]
Handler = Callable[[Request, "Context", User], Awaitable[Response]]


@dataclass
class Context:
    store: Store
    on_change: Callable[[], Awaitable[Any]]
    session_ttl_s: float = 7 * 24 * 3600.0
    probe_timeout_s: float = 10.0
    router: Any = None  # the relay's Router: node health shows its breakers
    throttle: LoginThrottle = field(default_factory=LoginThrottle)  # wrong passwords in a row

    async def changed(self) -> None:
        """Tell the relay's cache to reload. The write is committed already, so a failing hook is
        logged rather than turned into an error (the cache's TTL reload catches up)."""
        try:
            await self.on_change()
        except Exception:
            log.exception("on_change hook failed")


class ApiError(Exception):
    def __init__(self, status: int, code: str, message: str, headers: dict[str, str] | None = None) -> None:
        super().__init__(message)
        self.status, self.code, self.message, self.headers = status, code, message, headers


def invalid(field: str, message: str) -> ApiError:
    return ApiError(400, "invalid_field", f"{field}: {message}")


def not_found(what: str) -> ApiError:
    return ApiError(404, "not_found", f"{what} not found")


def json_response(data: Any, status: int = 200) -> Response:
    return Response(orjson.dumps(data), status_code=status, media_type="application/json")


def no_content() -> Response:
    return Response(status_code=204)


def error_response(status: int, code: str, message: str, headers: dict[str, str] | None = None) -> Response:
    return Response(orjson.dumps(admin_error(code, message)), status_code=status,
                    media_type="application/json", headers=headers)


async def read_json(request: Request) -> dict[str, Any]:
    """The request body as a JSON object; 400 for anything else, 413 past MAX_BODY_BYTES."""
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > MAX_BODY_BYTES:
        raise ApiError(413, "body_too_large", f"request body over {MAX_BODY_BYTES} bytes")
    chunks, size = [], 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > MAX_BODY_BYTES:
            raise ApiError(413, "body_too_large", f"request body over {MAX_BODY_BYTES} bytes")
        chunks.append(chunk)
    raw = b"".join(chunks)
    if not raw.strip():
        raise ApiError(400, "invalid_json", "request body is empty: a JSON object is expected")
    try:
        data = orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        raise ApiError(400, "invalid_json", f"request body is not valid JSON: {exc}") from None
    if not isinstance(data, dict):
        raise ApiError(400, "invalid_json", "request body must be a JSON object")
    return data


def bearer_token(request: Request) -> str | None:
    header = request.headers.get("authorization", "")
    scheme, _, token = header.partition(" ")
    token = token.strip()
    if scheme.lower() != "bearer" or not token or len(token) > 256:
        return None
    return token


def session_token(request: Request) -> str | None:
    """The session of this request: the bearer token, else the console pages' cookie."""
    return bearer_token(request) or sessions.cookie_token(request)


async def authenticate(request: Request, ctx: Context) -> User:
    token = bearer_token(request)
    if token is None:
        token = sessions.cookie_token(request)
        if token is None:
            raise ApiError(401, "unauthorized", "missing session token: send Authorization: Bearer <token>")
        problem = sessions.forgery_problem(request, token)  # a cookie rides along on any request
        if problem:
            raise ApiError(403, "csrf_rejected", problem)
    user = await accounts.lookup_session(ctx.store, token)
    if user is None:
        raise ApiError(401, "unauthorized", "invalid or expired session token")
    return user


def path_id(request: Request, what: str, name: str = "id") -> int:
    """A numeric id from the path; anything that cannot be a row id is simply not found."""
    raw = request.path_params.get(name, "")
    if not raw.isascii() or not raw.isdigit() or not 0 < int(raw) < 2**31:
        raise not_found(what)
    return int(raw)


def resource(ctx: Context, path: str, roles: tuple[str, ...] | None, **handlers: Handler) -> Route:
    """One path, its handlers by method. `roles` None: no session needed (the handler gets {})."""

    async def endpoint(request: Request) -> Response:
        handler = handlers.get(request.method)
        if handler is None:
            return error_response(405, "method_not_allowed", f"{request.method} is not allowed on {path}",
                                  headers={"Allow": ", ".join(sorted(handlers))})
        try:
            user: User = {}
            if roles is not None:
                user = await authenticate(request, ctx)
                if user["role"] not in roles:
                    raise ApiError(403, "forbidden", f"this needs the role {' or '.join(roles)}")
            return await handler(request, ctx, user)
        except ApiError as exc:
            return error_response(exc.status, exc.code, exc.message, exc.headers)
        except DataError:
            log.warning("database rejected a value on %s %s", request.method, path, exc_info=True)
            return error_response(400, "invalid_value", "a value is out of range for the database")
        except Exception:
            log.exception("admin endpoint %s %s failed", request.method, path)
            return error_response(500, "internal_error", "internal error")

    return ResourceRoute(path, endpoint, handlers)


class ResourceRoute(Route):
    """A Route that knows which methods have handlers (the others get a JSON 405)."""

    def __init__(self, path: str, endpoint: Callable[[Request], Awaitable[Response]],
                 handlers: dict[str, Handler]) -> None:
        super().__init__(path, endpoint, methods=ALL_METHODS, name=f"admin:{path}")
        self.handlers = handlers


async def unknown_path(request: Request) -> Response:
    return error_response(404, "not_found", f"no admin endpoint at {request.url.path}")
