"""What a check works with: the target, an HTTP client, stream capture with arrival times, helpers.

Conformance speaks HTTP only (DESIGN.md): it knows the gateway through its base URL, a key,
optional admin credentials, and the wire contract in `specs`.
"""

from __future__ import annotations

import contextlib
import re
import secrets
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

import httpx
import orjson

import specs
from specs import sse

from . import repro
from .registry import SETUPS, Blocked, CheckFailed, CheckSkipped, NotOffered, OutsideProfile
from .surfaces import DEFAULT_FORMS, SURFACES, dialect

AUTH_FORMS = ("bare", "bearer", "x-api-key", "x-goog-api-key", "query")
# google.rpc codes a Google API may use for a 400 besides INVALID_ARGUMENT
_GOOGLE_400 = {"INVALID_ARGUMENT", "FAILED_PRECONDITION", "OUT_OF_RANGE"}


@dataclass
class Target:
    base_url: str
    api_key: str
    admin_user: str | None = None
    admin_password: str | None = None
    chat_model: str = "gpt-4.1-mini"
    image_model: str = "gpt-image-1"
    video_model: str = "sora-2"
    gemini_model: str = "gemini-2.5-flash"
    timeout_s: float = 60.0
    max_examples: int = 10
    video_deadline_s: float = 600.0  # a real upstream renders for minutes; the demo stack in ~1.5 s
    schema_phases: tuple[str, ...] | None = None  # schemathesis phases (None: all); ("examples",): a smoke run
    schema_budget_s: float | None = None  # seconds per schema part (None: the layer's own budgets)
    schema_seed: int | None = None  # the same generated cases on every run
    headers: dict[str, str] = field(default_factory=dict)  # sent with every request (-H/--header)
    # what the probe found (conformance/surfaces.py); None: not probed, everything taken as offered
    offered: list[str] | None = None
    required: list[str] = field(default_factory=list)  # surfaces that must be offered (profile, --require)
    in_profile: list[str] | None = None  # surfaces the profile runs at all (None: all)
    forms: dict[str, str] = field(default_factory=lambda: dict(DEFAULT_FORMS))  # dialect -> key form to use
    secrets: dict[str, str] = field(default_factory=dict)  # secret text -> placeholder in reproductions

    def offers(self, surface: str) -> bool:
        return self.offered is None or surface in self.offered

    @property
    def root(self) -> str:
        return self.base_url.rstrip("/")

    @property
    def has_admin(self) -> bool:
        return bool(self.admin_user and self.admin_password)


@dataclass(frozen=True)
class Account:
    """A user made for one check through the consoles: its id, console session and one enabled key."""

    user_id: Any
    username: str
    token: str
    key: str


@dataclass
class Capture:
    """A streamed response: each SSE event with the time it arrived (seconds after the request was sent)."""

    status: int
    headers: httpx.Headers
    raw: bytes
    events: list[sse.Event]
    times: list[float]
    t_headers: float
    t_end: float
    error: str | None = None  # transport error while reading

    def json_events(self) -> list[Any]:
        out = []
        for ev in self.events:
            if ev.is_done:
                continue
            try:
                out.append(ev.json())
            except ValueError:
                out.append(None)
        return out


class Ctx:
    def __init__(self, target: Target) -> None:
        self.target = target
        self.secrets = repro.Secrets({target.api_key: "$TOPAPI_API_KEY", **target.secrets})
        if target.admin_password:
            self.secrets.add(target.admin_password, "$TOPAPI_ADMIN_PASSWORD")
        self.http = httpx.Client(base_url=target.root, timeout=target.timeout_s, follow_redirects=False,
                                 headers=target.headers,
                                 event_hooks={"response": [self._record]})
        self._lock = threading.Lock()
        self._shared: dict[str, Any] = {}
        self._shared_locks: dict[str, threading.Lock] = {}
        self.setups_used: dict[str, BaseException | None] = {}  # setup id -> its failure (None: it worked)

    def close(self) -> None:
        self.http.close()

    def _record(self, resp: httpx.Response) -> None:
        """Every answer: the reproduction of the check that sent it. The event hook sees only the head;
        `request`/`console` record again once the body is read."""
        req = resp.request
        try:
            body: bytes | None = req.content
        except httpx.RequestNotRead:
            body = b"<streamed body>"
        if req.headers.get("content-type", "").startswith("multipart/"):
            body = f"<multipart form, {len(body or b'')} bytes>".encode()
        try:
            answer = resp.content
        except httpx.ResponseNotRead:
            answer = b"<not read yet>"
        repro.record(repro.build(req.method, str(req.url), dict(req.headers), body or None, resp.status_code,
                                 answer, self.secrets))

    # -- surfaces and setups ----------------------------------------------------------------------------------
    def offers(self, surface: str) -> bool:
        """Whether the check may use `surface` (offered, or not probed)."""
        return self.target.offers(surface)

    def require_surface(self, surface: str) -> None:
        """NotOffered / Blocked when the target lacks `surface` (Blocked when the run requires it)."""
        if surface not in SURFACES:
            raise ValueError(f"unknown surface {surface!r}")
        if self.target.in_profile is not None and surface not in self.target.in_profile:
            raise OutsideProfile(f"{surface} is outside the profile")
        if not self.target.offers(surface):
            if surface in self.target.required:
                raise Blocked(f"surface.{surface}")
            raise NotOffered(f"the target does not offer {surface}")

    def setup(self, id: str) -> Any:
        """The value of setup `id`, made once per run; Blocked(id) when it failed."""
        info = SETUPS[id]
        for s in info.surfaces:
            self.require_surface(s)
        for need in info.needs:
            self.setup(need)
        with self._lock:
            lock = self._shared_locks.setdefault(id, threading.Lock())
        with lock:
            if id not in self._shared:
                saved = repro.last()
                repro.reset()
                try:
                    self._shared[id] = info.func(self)
                    self.setups_used[id] = None
                except (CheckFailed, CheckSkipped) as exc:
                    self._shared[id] = exc
                    self.setups_used[id] = exc
                finally:
                    repro.record(saved) if saved else repro.reset()
            value = self._shared[id]
        if isinstance(value, CheckSkipped):
            raise CheckSkipped(str(value))
        if isinstance(value, CheckFailed):
            raise Blocked(id)
        return value

    # -- assertions -------------------------------------------------------------------------------------------
    @staticmethod
    def fail(message: str, *, cause: str | None = None) -> None:
        raise CheckFailed(message, cause=cause)

    @staticmethod
    def expect(condition: Any, message: str, *, cause: str | None = None) -> None:
        """`cause`: a root cause shared with other checks (registry.CAUSES), for the summary."""
        if not condition:
            raise CheckFailed(message, cause=cause)

    @staticmethod
    def skip(reason: str) -> None:
        raise CheckSkipped(reason)

    def valid(self, doc: str, schema: str, obj: Any, what: str, *, cause: str | None = None) -> None:
        """Fails naming the problems; the same first problem of the same schema is one root cause in every check."""
        problems = specs.schema_errors(doc, schema, obj)
        if problems:
            first = re.sub(r"\d+", "N", problems[0])[:120]
            raise CheckFailed(f"{what} does not match {doc}#{schema}: " + "; ".join(problems[:3]),
                              cause=cause or f"schema:{doc}#{schema}: {first}")

    def sse_opened(self, cap: Capture, what: str, *, check_status: bool = True) -> None:
        """A stream that answered 200 as text/event-stream and was read to its end without a transport error."""
        if check_status:
            self.expect(cap.status == 200, f"{what}: HTTP {cap.status}: {cap.raw[:300]!r}")
        self.expect(cap.error is None, f"{what}: the stream broke: {cap.error}")
        ctype = cap.headers.get("content-type", "")
        self.expect(ctype.startswith("text/event-stream"),
                    f"{what}: content-type is {ctype!r}, not text/event-stream")

    def json_of(self, resp: httpx.Response, what: str) -> Any:
        try:
            return orjson.loads(resp.content)
        except orjson.JSONDecodeError:
            raise CheckFailed(f"{what}: body is not JSON (HTTP {resp.status_code}): {resp.text[:200]!r}") from None

    def ok_json(self, resp: httpx.Response, what: str) -> Any:
        self.expect(resp.status_code == 200, f"{what}: HTTP {resp.status_code}, expected 200: {resp.text[:300]}")
        return self.json_of(resp, what)

    # -- requests ------------------------------------------------------------------------------------------------
    def form_for(self, path: str) -> str:
        """The key form the target accepts on `path` (its dialect's form found by the probe)."""
        return self.target.forms.get(dialect(path.split("?", 1)[0]), "bearer")

    def auth(self, form: str = "bearer", key: str | None = None) -> tuple[dict[str, str], dict[str, str]]:
        """(headers, query params) carrying the key in one of the accepted forms."""
        key = self.target.api_key if key is None else key
        if form == "bare":
            return {"Authorization": key}, {}
        if form == "bearer":
            return {"Authorization": f"Bearer {key}"}, {}
        if form == "x-api-key":
            return {"x-api-key": key}, {}
        if form == "x-goog-api-key":
            return {"x-goog-api-key": key}, {}
        if form == "query":
            return {}, {"key": key}
        if form == "none":
            return {}, {}
        raise ValueError(form)

    def request(self, method: str, path: str, *, json: Any = None, content: bytes | None = None,
                files: Any = None, data: Any = None, headers: dict[str, str] | None = None,
                auth: str | None = None, key: str | None = None, params: dict[str, str] | None = None,
                timeout: float | None = None) -> httpx.Response:
        """`auth`: the key form (default: the one the target accepts for the path's dialect)."""
        h, q = self.auth(auth or self.form_for(path), key)
        if json is not None:
            content = orjson.dumps(json)
            h["content-type"] = "application/json"
        try:
            resp = self.http.request(method, self.target.root + path, content=content, files=files, data=data,
                                     headers={**h, **(headers or {})}, params={**q, **(params or {})},
                                     timeout=timeout or self.target.timeout_s)
            self._record(resp)
            return resp
        except httpx.TransportError as exc:
            repro.record(repro.build(method, self.target.root + path, {**self.target.headers, **h, **(headers or {})},
                                     content, None, f"{type(exc).__name__}: {exc}", self.secrets))
            raise

    def post(self, path: str, body: Any = None, **kw: Any) -> httpx.Response:
        return self.request("POST", path, json=body, **kw)

    def get(self, path: str, **kw: Any) -> httpx.Response:
        return self.request("GET", path, **kw)

    def stream(self, method: str, path: str, *, json: Any = None, content: bytes | None = None,
               headers: dict[str, str] | None = None, auth: str | None = None,
               params: dict[str, str] | None = None, decode_sse: bool = True) -> Capture:
        """Send and read the body as it arrives, time-stamping each SSE event."""
        h, q = self.auth(auth or self.form_for(path))
        if json is not None:
            content = orjson.dumps(json)
            h["content-type"] = "application/json"
        dec = sse.Decoder()
        events: list[sse.Event] = []
        times: list[float] = []
        raw = bytearray()
        error = None
        t0 = time.perf_counter()
        with self.http.stream(method, self.target.root + path, content=content, headers={**h, **(headers or {})},
                              params={**q, **(params or {})}) as resp:
            t_headers = time.perf_counter() - t0
            try:
                for chunk in resp.iter_raw():
                    now = time.perf_counter() - t0
                    raw += chunk
                    if decode_sse:
                        for ev in dec.feed(chunk):
                            events.append(ev)
                            times.append(now)
            except httpx.HTTPError as exc:
                error = f"{type(exc).__name__}: {exc}"
            req = resp.request
            repro.record(repro.build(method, str(req.url), dict(req.headers), content, resp.status_code,
                                     bytes(raw[:repro.ANSWER_LIMIT * 2]) + (b"" if error is None else
                                                                            f" <{error}>".encode()), self.secrets))
            return Capture(resp.status_code, resp.headers, bytes(raw), events, times, t_headers,
                           time.perf_counter() - t0, error)

    # -- shared fixtures (made once per run, on demand, thread-safe) ----------------------------------------------
    def shared(self, name: str, make: Callable[[], Any]) -> Any:
        # one lock per name: a slow fixture (a video job polled to completion) must not hold up the others
        with self._lock:
            lock = self._shared_locks.setdefault(name, threading.Lock())
        with lock:
            if name not in self._shared:
                try:
                    self._shared[name] = make()
                except (CheckFailed, CheckSkipped) as exc:
                    self._shared[name] = exc
            value = self._shared[name]
        if isinstance(value, CheckFailed | CheckSkipped):
            raise type(value)(f"(shared setup {name!r}) {value}")
        return value

    def admin_token(self) -> str:
        if not self.target.has_admin:
            self.skip("no admin credentials given (--admin-user/--admin-password)")

        return self.setup("setup.admin")

    # -- refusals in the caller's dialect (WIRE.md "Errors") ------------------------------------------------------
    def _error_body(self, resp: httpx.Response, status: int, what: str, shape: str) -> dict[str, Any]:
        got = resp.status_code
        if got != status:
            # a key refused otherwise than with 401 is one cause whatever came instead; other refusals
            # answered with a server error are "refusal.5xx", like refusal.no_500's
            cause = ("refusal.401" if status == 401 else "refusal.5xx" if got >= 500
                     else f"refusal.{status}" if status in (400, 404) else None)
            self.fail(f"{what}: HTTP {got}, expected {status}: {resp.text[:200]!r}", cause=cause)
        ctype = resp.headers.get("content-type", "")
        self.expect(ctype.startswith("application/json"), f"{what}: error content-type {ctype!r}, expected JSON",
                    cause=shape)
        try:
            body = orjson.loads(resp.content)
        except orjson.JSONDecodeError:
            self.fail(f"{what}: body is not JSON (HTTP {got}): {resp.text[:200]!r}", cause=shape)
        self.expect(isinstance(body, dict) and isinstance(body.get("error"), dict),
                    f"{what}: no `error` object in {resp.text[:200]!r}", cause=shape)
        return body

    def openai_error(self, resp: httpx.Response, status: int, what: str) -> dict[str, Any]:
        """The `error` of an OpenAI-dialect refusal: HTTP `status`, {error: {message, type, param, code}}."""
        shape = "errors.openai_shape"
        body = self._error_body(resp, status, what, shape)
        err = body["error"]
        missing = [f for f in ("message", "type", "param", "code") if f not in err]
        self.expect(not missing, f"{what}: the error lacks {', '.join(missing)} (OpenAI errors carry message, "
                    f"type, param and code): {resp.text[:200]}", cause=shape)
        self.valid("openai", "ErrorResponse", body, f"{what}: error body", cause=shape)
        self.expect(err["message"].strip() and err["type"].strip(), f"{what}: empty error message or type",
                    cause=shape)
        return err

    def gemini_error(self, resp: httpx.Response, status: int, what: str) -> dict[str, Any]:
        """The `error` of a Gemini-dialect refusal: HTTP `status`, {error: {code, message, status, details?}}."""
        shape = "errors.gemini_shape"
        body = self._error_body(resp, status, what, shape)
        err = body["error"]
        missing = [f for f in ("code", "message", "status") if f not in err]
        self.expect(not missing, f"{what}: the error lacks {', '.join(missing)} (Gemini errors carry code, "
                    f"message and status): {resp.text[:200]}", cause=shape)
        self.valid("gemini", "ErrorResponse", body, f"{what}: error body", cause=shape)
        self.expect(err["code"] == status, f"{what}: error.code is {err['code']!r}, expected the HTTP status {status}",
                    cause=shape)
        allowed = {specs.errors.GOOGLE_STATUS.get(status)} | (_GOOGLE_400 if status == 400 else set())
        self.expect(err["status"] in allowed,
                    f"{what}: error.status is {err['status']!r}, expected {' or '.join(sorted(allowed))}", cause=shape)
        return err

    # -- throwaway accounts (admin credentials) -------------------------------------------------------------------
    def console(self, method: str, path: str, token: str, body: Any = None) -> httpx.Response:
        """A call to the consoles' API (`/api/...`) with a session token."""
        self.secrets.add(token, "<session token>")
        resp = self.http.request(method, self.target.root + path, json=body, headers={"Authorization": f"Bearer {token}"})
        self._record(resp)
        return resp

    @contextlib.contextmanager
    def temp_account(self, models: Sequence[str] = ()) -> Iterator[Account]:
        """A fresh user (platform console), logged in, with one enabled key subscribed to `models` only;
        deleted afterwards. Skips the check without admin credentials."""
        admin = self.admin_token()
        name, password = f"check_{secrets.token_hex(5)}", secrets.token_urlsafe(12)
        r = self.console("POST", "/api/platform/users", admin, {"username": name, "password": password})
        self.expect(r.status_code == 201, f"POST /api/platform/users: HTTP {r.status_code}, expected 201: {r.text[:200]}")
        user_id = self.json_of(r, "POST /api/platform/users").get("id")
        try:
            r = self.http.post(self.target.root + "/api/auth/login", json={"username": name, "password": password})
            token = self.ok_json(r, "login as the new user").get("token")
            self.expect(isinstance(token, str), "login as the new user: no token")
            r = self.console("POST", "/api/user/keys", token, {"name": "topapi check", "enabled": True})
            self.expect(r.status_code == 201, f"POST /api/user/keys: HTTP {r.status_code}, expected 201: {r.text[:200]}")
            key = self.json_of(r, "POST /api/user/keys").get("key")
            self.expect(isinstance(key, str) and key, "POST /api/user/keys: the answer has no `key`")
            self.secrets.add(key, "<a fresh user's key>")
            for model in models:
                r = self.console("POST", "/api/user/subscriptions", token, {"model": model})
                self.expect(r.status_code in (200, 201),
                            f"subscribe to {model}: HTTP {r.status_code}: {r.text[:200]}")
            # the seed: "after subscribing in the console, call getModelList once"
            self.request("POST", "/v1/getModelList", key=key)
            yield Account(user_id, name, token, key)
        finally:
            if user_id is not None:
                with contextlib.suppress(httpx.HTTPError):
                    self.console("DELETE", f"/api/platform/users/{user_id}", admin)
