"""Fuzzing the consoles' API without touching the target's own data.

Schemathesis sends thousands of generated requests; against a real deployment a generated
`DELETE /api/platform/users/3` or `PATCH /api/node/nodes/1 {"enabled": false}` would destroy
real users and nodes, and a generated enabled node with a high priority would take real traffic.
So the admin part runs like this:

- as a disposable platform admin made for the run (never the given admin's own session: a
  fuzzed logout or password change would end it);
- with sandbox resources made for the run: a user, a (disabled, unreachable) node, an unlisted
  model and a disabled key of the disposable admin. Every mutating request (POST/PUT/PATCH/
  DELETE) on `/<users|nodes|models|keys>/{id}` whose id the run did not create is pointed at the
  sandbox resource of that kind before it is sent (`guard`, which sees every request of every
  phase); reads keep their generated ids. Schemathesis revalidates a case after such an edit,
  so a case that became valid is no longer expected to be refused;
- node bodies are sent with `enabled: false` and the sandbox's unreachable base URL, model
  bodies with `listed: false`: nothing the run creates can take traffic or show in the market;
- session-ending calls (logout, PATCH /api/user/me) run with a fresh session of a sandbox user;
- everything created (ids read from 2xx answers, `observe`) is deleted at the end, with the
  given admin's session, and then the sandbox accounts themselves.
Cost: generated invalid ids in mutating paths are not sent as generated (reads still are).
"""

from __future__ import annotations

import contextlib
import secrets
import threading
from typing import Any

import httpx

from .context import Ctx

PROTECTED = ("users", "nodes", "models", "keys")
MUTATING = ("POST", "PUT", "PATCH", "DELETE")
UNREACHABLE = "http://127.0.0.1:9/v1"  # the discard port: a probe fails at once
PREFIX = "topapi_check_"


def _collection_params(template: str) -> list[tuple[str, str]]:
    """(parameter, collection) for each `{param}` of a path template: the segment before it."""
    segments = template.strip("/").split("/")
    return [(seg[1:-1], segments[i - 1]) for i, seg in enumerate(segments)
            if i and seg.startswith("{") and seg.endswith("}")]


class Sandbox:
    def __init__(self, ctx: Ctx) -> None:
        self.ctx = ctx
        self.admin = ctx.admin_token()
        self.token = ""  # the disposable platform admin's session: the credential of the run
        self.sandbox: dict[str, str] = {}  # collection -> id of the sandbox resource
        self.created: dict[str, list[str]] = {c: [] for c in PROTECTED}
        self._accounts: list[str] = []  # user ids of the sandbox accounts (deleted last)
        self._session_user: tuple[str, str] = ("", "")
        self._lock = threading.Lock()
        # every session token of the run -> its placeholder in reproductions (filled as they are made)
        self.secrets: dict[str, str] = {self.admin: "<ADMIN_TOKEN>"}

    # -- setup and cleanup ------------------------------------------------------------------------------------
    def _api(self, method: str, path: str, token: str, body: Any = None, status: tuple[int, ...] = (201,)) -> Any:
        r = self.ctx.console(method, path, token, body)
        self.ctx.expect(r.status_code in status, f"admin sandbox setup: {method} {path}: HTTP {r.status_code}: "
                        f"{r.text[:200]}")
        return self.ctx.json_of(r, f"{method} {path}")

    def _user(self, role: str = "user") -> tuple[str, str, str]:
        name, password = PREFIX + secrets.token_hex(4), secrets.token_urlsafe(12)
        body = {"username": name, "password": password, **({"role": role} if role != "user" else {})}
        user_id = str(self._api("POST", "/api/platform/users", self.admin, body)["id"])
        return user_id, name, password

    def _login(self, name: str, password: str) -> str:
        r = self.ctx.http.post(self.ctx.target.root + "/api/auth/login", json={"username": name, "password": password})
        token = self.ctx.ok_json(r, f"admin sandbox: login as {name}")["token"]
        self.secrets[token] = "<SESSION_TOKEN>"
        return token

    def __enter__(self) -> Sandbox:
        try:
            admin_id, name, password = self._user("platform_admin")
            self._accounts.append(admin_id)
            self.token = self._login(name, password)
            self.secrets[self.token] = "<ADMIN_TOKEN>"
            victim_id, _, _ = self._user()
            self._accounts.append(victim_id)
            self.sandbox["users"] = victim_id
            session_id, session_name, session_password = self._user()
            self._accounts.append(session_id)
            self._session_user = (session_name, session_password)
            model = PREFIX + secrets.token_hex(4)
            self.sandbox["models"] = str(self._api("POST", "/api/node/models", self.admin,
                                                   {"name": model, "kind": "chat", "listed": False, "price": {"input_per_1k": 0, "output_per_1k": 0}})["id"])
            self.sandbox["nodes"] = str(self._api("POST", "/api/node/nodes", self.admin, {
                "name": PREFIX + secrets.token_hex(4), "provider": "openai", "base_url": UNREACHABLE,
                "api_key": "sk-none", "weight": 0, "priority": -1000000, "enabled": False,
                "models": [{"model": model}]})["id"])
            self.sandbox["keys"] = str(self._api("POST", "/api/user/keys", self.token,
                                                 {"name": "topapi check", "enabled": False})["id"])
        except BaseException:
            self.cleanup()
            raise
        return self

    def __exit__(self, *exc: Any) -> None:
        self.cleanup()

    def cleanup(self) -> None:
        """Delete what the run created, newest kinds first; keys go with their owner."""
        order = [("nodes", "/api/node/nodes"), ("models", "/api/node/models"), ("users", "/api/platform/users")]
        for kind, base in order:
            ids = self.created[kind] + ([self.sandbox[kind]] if kind in self.sandbox else [])
            for ident in dict.fromkeys(ids):
                with contextlib.suppress(httpx.HTTPError):
                    self.ctx.console("DELETE", f"{base}/{ident}", self.admin)
        for ident in self._accounts:
            with contextlib.suppress(httpx.HTTPError):
                self.ctx.console("DELETE", f"/api/platform/users/{ident}", self.admin)
        self._accounts.clear()

    # -- the hooks ------------------------------------------------------------------------------------------------
    def guard(self, case: Any) -> None:
        method, template = case.method.upper(), case.operation.path
        if method in MUTATING:
            params = dict(case.path_parameters or {})
            for name, collection in _collection_params(template):
                if collection not in PROTECTED or name not in params:
                    continue
                with self._lock:
                    allowed = {*self.created[collection], self.sandbox[collection]}
                if str(params[name]) not in allowed:
                    params[name] = self.sandbox[collection]
            if params != (case.path_parameters or {}):
                case.path_parameters = params
            self._tame_body(case, template)
        if self._ends_session(method, template):
            headers = dict(case.headers or {})
            if headers.get("Authorization") == f"Bearer {self.token}":
                headers["Authorization"] = f"Bearer {self._login(*self._session_user)}"
                case.headers = headers

    @staticmethod
    def _ends_session(method: str, template: str) -> bool:
        return template.endswith("/auth/logout") or (method == "PATCH" and template.endswith("/user/me"))

    @staticmethod
    def _tame_body(case: Any, template: str) -> None:
        body = case.body
        if not isinstance(body, dict):
            return
        segments = template.strip("/").split("/")
        kind = "nodes" if "nodes" in segments else "models" if "models" in segments else None
        changes: dict[str, Any] = {}
        if kind == "nodes" and not template.endswith("/test"):
            if body.get("enabled") is not False and (case.method.upper() == "POST" or "enabled" in body):
                changes["enabled"] = False
            if "base_url" in body and body["base_url"] != UNREACHABLE:
                changes["base_url"] = UNREACHABLE
        elif kind == "models" and ("listed" in body or case.method.upper() == "POST") and body.get("listed") is not False:
            changes["listed"] = False
        if changes:
            case.body = {**body, **changes}

    def observe(self, case: Any, response: Any) -> None:
        """Remember what a POST created (its id from the 2xx answer) and a changed session password."""
        method, template = case.method.upper(), case.operation.path
        if not 200 <= response.status_code < 300:
            return
        if method == "PATCH" and template.endswith("/user/me") and isinstance(case.body, dict) \
                and isinstance(case.body.get("password"), str):
            self._session_user = (self._session_user[0], case.body["password"])
            return
        last = template.rstrip("/").rsplit("/", 1)[-1]
        if method != "POST" or last not in PROTECTED:
            return
        try:
            ident = response.json().get("id")
        except (ValueError, AttributeError):
            return
        if ident is not None:
            with self._lock:
                self.created[last].append(str(ident))
