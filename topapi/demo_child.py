"""Start `topapi serve --demo` as a child process and read its demo.json.

`topapi check` and `topapi load` use this when given no --base-url: they then test the demo
stack over HTTP like any other deployment (DESIGN.md), never importing the gateway.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path
from typing import Any


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class DemoChild:
    def __init__(self, *, state_dir: str | Path | None = None, extra_args: list[str] | None = None,
                 startup_timeout_s: float = 60.0) -> None:
        self._tmp = None if state_dir else tempfile.TemporaryDirectory(prefix="topapi-demo-")
        self.state_dir = Path(state_dir or self._tmp.name)
        self.port = _free_port()
        self.extra_args = extra_args or []
        self.startup_timeout_s = startup_timeout_s
        self.proc: subprocess.Popen | None = None
        self.info: dict[str, Any] = {}
        self.log_path = self.state_dir / "serve.log"

    def start(self) -> dict[str, Any]:
        self.state_dir.mkdir(parents=True, exist_ok=True)
        demo_json = self.state_dir / "demo.json"
        demo_json.unlink(missing_ok=True)
        cmd = [sys.executable, "-m", "topapi.cli", "serve", "--demo", "--host", "127.0.0.1", "--port",
               str(self.port), "--state-dir", str(self.state_dir), *self.extra_args]
        log = self.log_path.open("wb")
        self.proc = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                     env={**os.environ, "PYTHONUNBUFFERED": "1"})
        deadline = time.monotonic() + self.startup_timeout_s
        url = f"http://127.0.0.1:{self.port}/healthz"
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"the demo gateway exited with code {self.proc.returncode}:\n{self.tail()}")
            if demo_json.exists():
                try:
                    with urllib.request.urlopen(url, timeout=1) as r:
                        if r.status == 200:
                            self.info = json.loads(demo_json.read_text())
                            return self.info
                except OSError:
                    pass
            time.sleep(0.1)
        self.stop()
        raise RuntimeError(f"the demo gateway did not start within {self.startup_timeout_s:.0f}s:\n{self.tail()}")

    def tail(self, n: int = 20) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-n:])
        except OSError:
            return ""

    def stop(self) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGINT)
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)
        if self._tmp is not None:
            self._tmp.cleanup()
            self._tmp = None

    def __enter__(self) -> DemoChild:
        self.start()
        return self

    def __exit__(self, *exc: Any) -> None:
        self.stop()
