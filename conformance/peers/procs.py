"""Processes of a peers run: our mocks (`topapi mock all`) and a peer, each with a log file, stopped by
their own process group."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import httpx


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Proc:
    def __init__(self, name: str, cmd: list[str], log: Path, env: dict[str, str] | None = None,
                 cwd: Path | None = None) -> None:
        self.name, self.log = name, log
        self._out = log.open("wb")
        self.proc = subprocess.Popen(cmd, stdout=self._out, stderr=subprocess.STDOUT, cwd=cwd,
                                     env={**os.environ, **(env or {})}, start_new_session=True)

    def wait_until(self, ready: Callable[[], bool], timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"{self.name} exited with code {self.proc.returncode}: "
                                   + " | ".join(self.log.read_text(errors="replace").splitlines()[-5:]))
            try:
                if ready():
                    return
            except (httpx.HTTPError, OSError, ValueError):
                pass
            time.sleep(0.5)
        raise RuntimeError(f"{self.name} was not ready within {timeout:.0f} s (log: {self.log})")

    def stop(self) -> None:
        if self.proc.poll() is None:
            try:
                os.killpg(self.proc.pid, signal.SIGTERM)
                self.proc.wait(timeout=15)
            except (ProcessLookupError, subprocess.TimeoutExpired):
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(self.proc.pid, signal.SIGKILL)
        self._out.close()


def start_mocks(workdir: Path, api_key: str) -> tuple[Proc, dict[str, str]]:
    """`topapi mock all` on free ports, accepting only `api_key`; returns the process and {kind: base URL}."""
    log = workdir / "mocks.log"
    cmd = [sys.executable, "-c", "import sys; from topapi.cli import main; sys.exit(main())", "mock", "all",
           "--port", "0", "--api-key", api_key, "--video-ms", "1500",
           # paced like the demo stack's, so that a relay that buffers streams shows it
           "--ttft-ms", "20", "--itl-ms", "2"]
    proc = Proc("topapi mock all", cmd, log)
    urls: dict[str, str] = {}

    def ready() -> bool:
        for line in log.read_text(errors="replace").splitlines():
            if line.startswith("{"):
                urls.update(json.loads(line))
        return bool(urls) and all(httpx.get(u + "/_mock/stats", timeout=2).status_code == 200 for u in urls.values())

    proc.wait_until(ready, 120)
    return proc, urls
