"""Child processes of the benchmark: started pinned to a core, logged to a file, stopped by pid.

Every server here listens on 127.0.0.1 only, and every wait has a deadline: a run never
hangs on a process that does not come up.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import socket
import subprocess
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

HOST = "127.0.0.1"
_OPENER = urllib.request.build_opener(urllib.request.ProxyHandler({}))  # loopback only: never a proxy


def free_port() -> int:
    with socket.socket() as s:
        s.bind((HOST, 0))
        return s.getsockname()[1]


def pinned(cmd: list[str], cpu: int | None) -> list[str]:
    """`cmd` run on one core (taskset execs it, so the pid stays the server's own)."""
    if cpu is None or not shutil.which("taskset"):
        return cmd
    return ["taskset", "-c", str(cpu), *cmd]


def pin_self(cpu: int | None) -> None:
    if cpu is not None and hasattr(os, "sched_setaffinity"):
        with contextlib.suppress(OSError):
            os.sched_setaffinity(0, {cpu})


class Proc:
    """A server process; `stop()` ends it (and only it) by its pid."""

    def __init__(self, name: str, cmd: list[str], *, cpu: int | None, log_dir: Path,
                 env: dict[str, str] | None = None, cwd: Path | None = None, wrap: list[str] | None = None) -> None:
        """`wrap`: a command that runs the server and execs it (valgrind), kept the pid's owner."""
        self.name = name
        self.log_path = log_dir / f"{name}.log"
        self.log = open(self.log_path, "wb")  # noqa: SIM115 - closed in stop()
        self.popen = subprocess.Popen(pinned([*(wrap or ()), *cmd], cpu), stdout=self.log, stderr=subprocess.STDOUT,
                                      stdin=subprocess.DEVNULL, env={**os.environ, **(env or {})}, cwd=cwd)
        self.pid = self.popen.pid

    def alive(self) -> bool:
        return self.popen.poll() is None

    def tail(self, n: int = 15) -> str:
        if not self.log.closed:
            self.log.flush()
        lines = self.log_path.read_text(errors="replace").splitlines()
        return "\n".join(lines[-n:])

    def wait_http(self, url: str, timeout_s: float, *, ok: tuple[int, ...] = (200,)) -> None:
        """Poll `url` until it answers one of `ok`; stop the process and raise with the log's tail if
        it dies or the deadline passes."""
        try:
            self._wait_http(url, timeout_s, ok)
        except RuntimeError:
            self.stop()
            raise

    def _wait_http(self, url: str, timeout_s: float, ok: tuple[int, ...]) -> None:
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if not self.alive():
                raise RuntimeError(f"{self.name} exited with {self.popen.returncode}:\n{self.tail()}")
            with contextlib.suppress(OSError):
                status, _ = http_json("GET", url, timeout_s=1)
                if status in ok:
                    return
            time.sleep(0.1)
        raise RuntimeError(f"{self.name} did not answer {url} within {timeout_s:g} s:\n{self.tail()}")

    def wait_port(self, port: int, timeout_s: float) -> None:
        try:
            self._wait_port(port, timeout_s)
        except RuntimeError:
            self.stop()
            raise

    def _wait_port(self, port: int, timeout_s: float) -> None:
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if not self.alive():
                raise RuntimeError(f"{self.name} exited with {self.popen.returncode}:\n{self.tail()}")
            with contextlib.suppress(OSError), socket.create_connection((HOST, port), timeout=1):
                return
            time.sleep(0.05)
        raise RuntimeError(f"{self.name} did not listen on port {port} within {timeout_s:g} s")

    def stop(self) -> None:
        if self.alive():
            self.popen.terminate()
            try:
                self.popen.wait(10)
            except subprocess.TimeoutExpired:
                self.popen.kill()
                self.popen.wait(5)
        self.log.close()


def http_json(method: str, url: str, body: Any = None, headers: dict[str, str] | None = None,
              timeout_s: float = 10) -> tuple[int, Any]:
    """(status, parsed JSON or None) of one request; HTTP errors are returned, not raised."""
    data = None if body is None else json.dumps(body).encode()
    hs = {"content-type": "application/json", **(headers or {})}
    req = urllib.request.Request(url, data=data, headers=hs, method=method)
    try:
        with _OPENER.open(req, timeout=timeout_s) as resp:
            raw, status = resp.read(), resp.status
    except urllib.error.HTTPError as exc:
        raw, status = exc.read(), exc.code
    try:
        return status, json.loads(raw) if raw else None
    except ValueError:
        return status, None
