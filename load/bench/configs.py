"""The configurations under test: the mock itself, the minimal relay and the reference gateway.

Each launcher starts its server pinned to the target core and returns a `Target`: where to
send the chat requests, with which headers, and the pid whose memory and CPU are measured.
The peers (LiteLLM, Portkey) are in `peers.py`.
"""

from __future__ import annotations

import secrets
import sys
from dataclasses import dataclass, field
from pathlib import Path

from .procs import HOST, Proc, free_port, http_json

MODEL = "gpt-4.1-mini"
MOCK_KEY = "sk-mock-bench"  # the mock takes any key; the nodes/peers send this one
CHAT_PATH = "/v1/chat/completions"
# what the mock's model costs in the gateway, so usage records carry a price as in production
PRICE = {"input_per_1k": 0.0004, "output_per_1k": 0.0016}


@dataclass
class Target:
    name: str  # direct | relay | gateway | litellm | portkey
    label: str  # for the table
    base_url: str
    headers: dict[str, str]
    proc: Proc | None = None  # the process measured (direct: the mock)
    version: str = ""
    notes: list[str] = field(default_factory=list)

    @property
    def url(self) -> str:
        return self.base_url + CHAT_PATH

    @property
    def pid(self) -> int:
        assert self.proc is not None
        return self.proc.pid


class Mock:
    """`topapi mock openai` in its own process, zero latency until told otherwise (`configure`)."""

    def __init__(self, *, cpu: int | None, log_dir: Path, stamp_events: bool = True) -> None:
        self.port = free_port()
        self.url = f"http://{HOST}:{self.port}"
        flags = ["--stamp-events"] if stamp_events else []
        self.proc = Proc("mock", [sys.executable, "-m", "load.bench.mockproc", *flags, "--port", str(self.port),
                                  "--host", HOST], cpu=cpu, log_dir=log_dir)
        self.proc.wait_http(self.url + "/_mock/stats", 30)

    def configure(self, **settings: float) -> None:
        status, body = http_json("POST", self.url + "/_mock/config", settings)
        if status != 200:
            raise RuntimeError(f"mock refused {settings}: {status} {body}")

    def stop(self) -> None:
        self.proc.stop()


def direct(mock: Mock) -> Target:
    return Target("direct", "direct to the mock", mock.url, {"Authorization": f"Bearer {MOCK_KEY}"}, mock.proc)


def relay(mock: Mock, *, cpu: int | None, log_dir: Path, wrap: list[str] | None = None) -> Target:
    port = free_port()
    proc = Proc("relay", [sys.executable, "-m", "load.bench.relay", "--port", str(port), "--upstream", mock.url],
                cpu=cpu, log_dir=log_dir, wrap=wrap)
    url = f"http://{HOST}:{port}"
    proc.wait_http(url + "/v1/models", 30 * _slower(wrap), ok=(200, 401))  # relayed to the mock (which wants a key)
    return Target("relay", "minimal relay (starlette + aiohttp)", url,
                  {"Authorization": f"Bearer {MOCK_KEY}"}, proc)


def gateway(mock: Mock, *, cpu: int | None, log_dir: Path, state_dir: Path, wrap: list[str] | None = None,
            redis_url: str | None = None, extra_args: list[str] | None = None) -> Target:
    """`topapi serve` on a fresh state dir, one worker, seeded through the admin API over HTTP; with
    `redis_url`, limits and spend shared through that Redis (a key prefix of its own)."""
    port = free_port()
    admin_pw = secrets.token_urlsafe(16)
    name = "gateway-redis" if redis_url else "gateway"
    redis = ["--redis-url", redis_url, "--redis-prefix", f"topapi-bench-{secrets.token_hex(4)}:"] if redis_url else []
    proc = Proc(name, [sys.executable, "-m", "topapi.cli", "serve", "--host", HOST, "--port", str(port),
                       "--workers", "1", "--state-dir", str(state_dir), *redis, *(extra_args or [])],
                cpu=cpu, log_dir=log_dir, env={"TOPAPI_ADMIN_USER": "admin", "TOPAPI_ADMIN_PASSWORD": admin_pw},
                wrap=wrap)
    url = f"http://{HOST}:{port}"
    proc.wait_http(url + "/healthz", 60 * _slower(wrap))
    try:
        key = seed_gateway(url, admin_pw, mock.url + "/v1")
    except (RuntimeError, OSError):
        proc.stop()
        raise
    notes = ["SQLite usage records, key auth, subscription + quota + rpm policy, routing with breaker"]
    if redis_url:
        return Target(name, "reference gateway + Redis (shared rpm and spend)", url,
                      {"Authorization": f"Bearer {key}"}, proc,
                      notes=[*notes, "one Lua script per request (quota, rpm), spend settled in batches"])
    return Target(name, "reference gateway (everything on)", url, {"Authorization": f"Bearer {key}"}, proc,
                  notes=notes)


def _slower(wrap: list[str] | None) -> int:
    """How much longer a server takes to start under `wrap` (valgrind: tens of times slower)."""
    return 10 if wrap else 1


def seed_gateway(url: str, admin_pw: str, node_url: str) -> str:
    """The seed guide's flow: admin adds a model and a node, creates a user; the user subscribes and
    makes a key. Returns the key."""
    def call(method: str, path: str, body: dict | None = None, token: str | None = None) -> dict:
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        status, answer = http_json(method, url + path, body, headers)
        if status not in (200, 201):
            raise RuntimeError(f"gateway seeding: {method} {path} -> {status} {answer}")
        return answer

    admin = call("POST", "/api/auth/login", {"username": "admin", "password": admin_pw})["token"]
    call("POST", "/api/node/models", {"name": MODEL, "kind": "chat", "price": PRICE, "listed": True}, admin)
    call("POST", "/api/node/nodes", {"name": "mock", "provider": "openai", "base_url": node_url,
                                     "api_key": MOCK_KEY, "weight": 1, "priority": 0, "enabled": True,
                                     "models": [{"model": MODEL}]}, admin)
    user_pw = secrets.token_urlsafe(16)
    # a quota and a rate limit that are checked on every request but never reached
    call("POST", "/api/platform/users", {"username": "bench", "password": user_pw, "quota": 1e12}, admin)
    user = call("POST", "/api/auth/login", {"username": "bench", "password": user_pw})["token"]
    call("POST", "/api/user/subscriptions", {"model": MODEL}, user)
    return call("POST", "/api/user/keys", {"name": "bench", "rpm": 1_000_000_000}, user)["key"]


def redis_answers(url: str) -> bool:
    """A Redis PING over a plain socket (load/ speaks the wire, it imports no gateway internals)."""
    import socket
    from urllib.parse import urlsplit

    parts = urlsplit(url)
    try:
        with socket.create_connection((parts.hostname or "127.0.0.1", parts.port or 6379), timeout=2) as s:
            s.sendall(b"PING\r\n")
            return s.recv(64).startswith(b"+PONG")
    except OSError:
        return False
