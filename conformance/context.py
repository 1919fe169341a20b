"""What a check works with: the target, an HTTP client, stream capture with arrival times, helpers.

Conformance speaks HTTP only (DESIGN.md): it knows the gateway through its base URL, a key,
optional admin credentials, and the wire contract in `specs`.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import httpx
import orjson

import specs
from specs import sse

from .registry import CheckFailed, CheckSkipped

AUTH_FORMS = ("bare", "bearer", "x-api-key", "x-goog-api-key", "query")


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
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def root(self) -> str:
        return self.base_url.rstrip("/")

    @property
    def has_admin(self) -> bool:
        return bool(self.admin_user and self.admin_password)


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
        self.http = httpx.Client(base_url=target.root, timeout=target.timeout_s, follow_redirects=False)
        self._lock = threading.Lock()
        self._shared: dict[str, Any] = {}

    def close(self) -> None:
        self.http.close()

    # -- assertions -------------------------------------------------------------------------------------------
    @staticmethod
    def fail(message: str) -> None:
        raise CheckFailed(message)

    @staticmethod
    def expect(condition: Any, message: str) -> None:
        if not condition:
            raise CheckFailed(message)

    @staticmethod
    def skip(reason: str) -> None:
        raise CheckSkipped(reason)

    def valid(self, doc: str, schema: str, obj: Any, what: str) -> None:
        problems = specs.schema_errors(doc, schema, obj)
        if problems:
            raise CheckFailed(f"{what} does not match {doc}#{schema}: " + "; ".join(problems[:3]))

    def json_of(self, resp: httpx.Response, what: str) -> Any:
        try:
            return orjson.loads(resp.content)
        except orjson.JSONDecodeError:
            raise CheckFailed(f"{what}: body is not JSON (HTTP {resp.status_code}): {resp.text[:200]!r}") from None

    def ok_json(self, resp: httpx.Response, what: str) -> Any:
        self.expect(resp.status_code == 200, f"{what}: HTTP {resp.status_code}, expected 200: {resp.text[:300]}")
        return self.json_of(resp, what)

    # -- requests ------------------------------------------------------------------------------------------------
    def auth(self, form: str = "bare", key: str | None = None) -> tuple[dict[str, str], dict[str, str]]:
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
                auth: str = "bare", key: str | None = None, params: dict[str, str] | None = None,
                timeout: float | None = None) -> httpx.Response:
        h, q = self.auth(auth, key)
        if json is not None:
            content = orjson.dumps(json)
            h["content-type"] = "application/json"
        return self.http.request(method, self.target.root + path, content=content, files=files, data=data,
                                 headers={**h, **(headers or {})}, params={**q, **(params or {})},
                                 timeout=timeout or self.target.timeout_s)

    def post(self, path: str, body: Any = None, **kw: Any) -> httpx.Response:
        return self.request("POST", path, json=body, **kw)

    def get(self, path: str, **kw: Any) -> httpx.Response:
        return self.request("GET", path, **kw)

    def stream(self, method: str, path: str, *, json: Any = None, content: bytes | None = None,
               headers: dict[str, str] | None = None, auth: str = "bare", params: dict[str, str] | None = None,
               decode_sse: bool = True) -> Capture:
        """Send and read the body as it arrives, time-stamping each SSE event."""
        h, q = self.auth(auth)
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
            return Capture(resp.status_code, resp.headers, bytes(raw), events, times, t_headers,
                           time.perf_counter() - t0, error)

    # -- shared fixtures (made once per run, on demand, thread-safe) ----------------------------------------------
    def shared(self, name: str, make: Callable[[], Any]) -> Any:
        with self._lock:
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

        def login() -> str:
            r = self.http.post(self.target.root + "/api/auth/login",
                               json={"username": self.target.admin_user, "password": self.target.admin_password})
            body = self.ok_json(r, "admin login")
            self.expect(isinstance(body.get("token"), str), "admin login: no token in the answer")
            return body["token"]

        return self.shared("admin_token", login)
