"""Helpers for tests with several gateway processes: instances started through `topapi serve` as a user
would, a Redis of the test's own (to stop mid-run), consoles over HTTP, and polling until a deadline.

Timing: a propagation is polled until a generous deadline (a busy machine must not fail a test), and the
measured time is reported; the assertions on it are relative to the run's own pace (`pace()`).
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest

ROOT = Path(__file__).resolve().parent.parent
REDIS_URL = os.environ.get("TOPAPI_TEST_REDIS_URL", "redis://127.0.0.1:6379/0")
PASSWORD = "correct horse battery"
CHAT = {"model": "gpt-4.1-mini", "max_tokens": 20, "messages": [{"role": "user", "content": "write 10 words"}]}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def redis_answers(url: str = REDIS_URL) -> bool:
    import redis

    try:
        return bool(redis.Redis.from_url(url, socket_connect_timeout=1, socket_timeout=1).ping())
    except Exception:
        return False


def need_redis() -> str:
    if not redis_answers():
        pytest.skip(f"no Redis answers at {REDIS_URL} (.ci/run starts one; TOPAPI_TEST_REDIS_URL sets another)")
    return REDIS_URL


def prefix() -> str:
    """A Redis key prefix of this test's own: the shared Redis is never flushed."""
    return f"topapi-test-{uuid.uuid4().hex[:10]}:"


class OwnRedis:
    """A redis-server of the test's own on a free port, to stop and start again mid-run."""

    def __init__(self, workdir: Path) -> None:
        binary = shutil.which("redis-server")
        if binary is None:
            pytest.skip("redis-server is not installed (apt-get install redis-server)")
        self.binary, self.workdir = binary, workdir
        self.port = free_port()
        self.proc: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> OwnRedis:
        self.proc = subprocess.Popen([self.binary, "--port", str(self.port), "--bind", "127.0.0.1", "--save", "",
                                      "--appendonly", "no", "--dir", str(self.workdir)],
                                     stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, stdin=subprocess.DEVNULL)
        poll(lambda: redis_answers(self.url), 10, "own redis-server started")
        return self

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            self.proc.wait(10)
        self.proc = None


@dataclass
class Instance:
    """One `topapi serve` process."""

    args: list[str]
    state_dir: Path
    port: int = field(default_factory=free_port)
    proc: subprocess.Popen | None = None
    env: dict[str, str] = field(default_factory=dict)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self, timeout: float = 60) -> Instance:
        self.state_dir.mkdir(parents=True, exist_ok=True)
        log = (self.state_dir / f"serve-{self.port}.log").open("ab")
        cmd = [sys.executable, "-m", "topapi.cli", "serve", "--host", "127.0.0.1", "--port", str(self.port),
               "--state-dir", str(self.state_dir), "--log-level", "warning", *self.args]
        self.proc = subprocess.Popen(cmd, cwd=ROOT, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                     env={**os.environ, "PYTHONUNBUFFERED": "1", **self.env})
        deadline = time.monotonic() + timeout
        while True:
            if self.proc.poll() is not None:
                raise RuntimeError(f"topapi serve exited with {self.proc.returncode}:\n{self.log()}")
            with contextlib.suppress(httpx.HTTPError):
                if httpx.get(self.url + "/healthz", timeout=1).status_code == 200:
                    return self
            if time.monotonic() > deadline:
                self.stop()
                raise RuntimeError(f"topapi serve did not start in {timeout}s:\n{self.log()}")
            time.sleep(0.1)

    def log(self) -> str:
        with contextlib.suppress(OSError):
            return (self.state_dir / f"serve-{self.port}.log").read_text(errors="replace")[-4000:]
        return ""

    def stop(self, sig: int = signal.SIGTERM, timeout: float = 60) -> int | None:
        if self.proc is None or self.proc.poll() is not None:
            return self.proc.returncode if self.proc else None
        self.proc.send_signal(sig)
        try:
            return self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            return self.proc.wait(10)

    def kill(self) -> None:
        """kill -9: no shutdown at all (uvicorn's workers are children of the supervisor: all of them)."""
        if self.proc is not None and self.proc.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                for child in _children(self.proc.pid):
                    os.kill(child, signal.SIGKILL)
                self.proc.kill()
            self.proc.wait(10)


def _children(pid: int) -> list[int]:
    import psutil

    try:
        return [c.pid for c in psutil.Process(pid).children(recursive=True)]
    except psutil.Error:
        return []


class Console:
    """The consoles' API of one instance, logged in."""

    def __init__(self, base_url: str, username: str, password: str) -> None:
        self.http = httpx.Client(base_url=base_url, timeout=30)
        r = self.http.post("/api/auth/login", json={"username": username, "password": password})
        assert r.status_code == 200, r.text
        self.http.headers["Authorization"] = f"Bearer {r.json()['token']}"

    def call(self, method: str, path: str, expect: tuple[int, ...] = (200, 201, 204), **kw: Any) -> Any:
        r = self.http.request(method, path, **kw)
        assert r.status_code in expect, f"{method} {path}: {r.status_code} {r.text}"
        return r.json() if r.content else None

    def new_user(self, *, quota: float | None = None) -> tuple[int, str]:
        username = f"u{uuid.uuid4().hex[:10]}"
        body: dict[str, Any] = {"username": username, "password": PASSWORD}
        if quota is not None:
            body["quota"] = quota
        return self.call("POST", "/api/platform/users", json=body)["id"], username

    def close(self) -> None:
        self.http.close()


def user_key(base_url: str, username: str, models: tuple[str, ...] = ("gpt-4.1-mini",), **key: Any) -> tuple[str, int]:
    """Log in as the user, subscribe to `models`, make a key: (full key, key id)."""
    me = Console(base_url, username, PASSWORD)
    try:
        for model in models:
            me.call("POST", "/api/user/subscriptions", json={"model": model})
        made = me.call("POST", "/api/user/keys", json={"name": "k", **key})
        return made["key"], made["id"]
    finally:
        me.close()


def fresh_get(url: str, path: str, key: str) -> int:
    """One request on a new connection (so that several workers behind one port all get some)."""
    with httpx.Client(timeout=30) as c:
        return c.get(url + path, headers={"Authorization": key}).status_code


def pace(url: str, n: int = 5) -> float:
    """This run's time for one request on a new connection (median of n): what 'at once' means here."""
    times = []
    for _ in range(n):
        t = time.perf_counter()
        with httpx.Client(timeout=30) as c:
            c.get(url + "/healthz")
        times.append(time.perf_counter() - t)
    return sorted(times)[n // 2]


def poll(check: Callable[[], bool], timeout: float, what: str) -> float:
    """Seconds from now until the first `check()` that holds has returned (an upper bound of when the
    change was seen); fails after `timeout` (generous: a busy machine is no failure)."""
    t0 = time.perf_counter()
    while True:
        started = time.perf_counter()
        if check():
            return time.perf_counter() - t0
        if started - t0 > timeout:
            raise AssertionError(f"{what}: not within {timeout}s")
        time.sleep(0.01)


def all_answer(urls: list[str], path: str, key: str, status: int, times: int = 10) -> Callable[[], bool]:
    """A check: `times` requests to each URL on fresh connections all answer `status`."""
    def check() -> bool:
        return all(fresh_get(u, path, key) == status for _ in range(times) for u in urls)
    return check


def converge(urls: list[str], path: str, key: str, status: int, streak: int = 20, timeout: float = 30) -> float:
    """Requests on fresh connections, round robin over `urls`, until `streak` in a row answer `status`.
    Returns the seconds from the call to the end of the last request that answered otherwise (0 when
    none did): the change had reached every process asked by then, and none answered stale after."""
    t0 = time.perf_counter()
    last_stale, good, i = 0.0, 0, 0
    while good < streak:
        if time.perf_counter() - t0 > timeout:
            raise AssertionError(f"{path}: not {streak} x {status} in a row within {timeout}s")
        answer = fresh_get(urls[i % len(urls)], path, key)
        i += 1
        if answer == status:
            good += 1
        else:
            good, last_stale = 0, time.perf_counter() - t0
    return last_stale


def worker_pids(url: str, tries: int = 40) -> set[int]:
    pids = set()
    for _ in range(tries):
        with httpx.Client(timeout=10) as c:
            pids.add(c.get(url + "/healthz").json()["pid"])
    return pids
