"""The console pages' session: an HttpOnly cookie next to the bearer token, and what keeps a cookie
from being used by another site (CSRF). docs/GATEWAY.md "Console sessions" explains the choice.

API clients send `Authorization: Bearer <token>` and are untouched by any of this: a bearer token
is never sent by a browser on its own, so it needs no CSRF defence. A request that authenticates
with the cookie instead must, when it changes state, carry `X-CSRF-Token` (derived from the
session token, readable by the pages from the `topapi_csrf` cookie) and must not come from another
origin (`Origin` / `Sec-Fetch-Site`).
"""

from __future__ import annotations

import hashlib
import hmac
import time
from urllib.parse import urlsplit

from starlette.requests import Request
from starlette.responses import Response

SESSION_COOKIE = "topapi_session"
CSRF_COOKIE = "topapi_csrf"
CSRF_HEADER = "x-csrf-token"
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})


def cookie_token(request: Request) -> str | None:
    token = request.cookies.get(SESSION_COOKIE, "").strip()
    return token if 0 < len(token) <= 256 else None


def csrf_token(session: str) -> str:
    """Derived from the session token (one-way): nothing more to store, and it ends with the session."""
    return hashlib.sha256(b"topapi-csrf:" + session.encode()).hexdigest()[:40]


def cross_origin(request: Request) -> str | None:
    """Why this request comes from another site, or None. Clients that send neither header (curl,
    SDKs, the tests' httpx) pass: only browsers send them, and browsers always do on a POST."""
    if request.headers.get("sec-fetch-site", "") == "cross-site":
        return "cross-site request refused"
    origin = request.headers.get("origin")
    if origin is not None:
        host = request.headers.get("host", "")
        if origin == "null" or urlsplit(origin).netloc.lower() != host.lower():
            return f"request from origin {origin[:100]!r} refused: the consoles accept their own origin only"
    return None


def forgery_problem(request: Request, session: str) -> str | None:
    """For a cookie-authenticated request: why it may be forged, or None."""
    if request.method in SAFE_METHODS:
        return None
    problem = cross_origin(request)
    if problem:
        return problem
    sent = request.headers.get(CSRF_HEADER, "")
    if not hmac.compare_digest(sent.encode(), csrf_token(session).encode()):
        return f"missing or wrong {CSRF_HEADER} header (a console page sends the {CSRF_COOKIE} cookie's value)"
    return None


def _secure(request: Request) -> bool:
    return request.url.scheme == "https" or request.headers.get("x-forwarded-proto", "").lower() == "https"


def set_cookies(response: Response, request: Request, token: str, expires_at: float) -> None:
    max_age = max(0, int(expires_at - time.time()))
    secure = _secure(request)
    response.set_cookie(SESSION_COOKIE, token, max_age=max_age, path="/", httponly=True, samesite="strict",
                        secure=secure)
    # readable by the pages' script (it is not a credential: it only proves same-origin)
    response.set_cookie(CSRF_COOKIE, csrf_token(token), max_age=max_age, path="/", httponly=False,
                        samesite="strict", secure=secure)


def clear_cookies(response: Response, request: Request) -> None:
    for name in (SESSION_COOKIE, CSRF_COOKIE):
        response.delete_cookie(name, path="/", httponly=name == SESSION_COOKIE, samesite="strict",
                               secure=_secure(request))
