"""Helpers for the load tests (no tests here): run `topapi load` as a user would, start a mock server.

`topapi load` runs as a subprocess, exactly as on the command line: Locust monkey-patches
the process with gevent, which must not happen to pytest's own.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

ROOT = Path(__file__).resolve().parent.parent


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@dataclass
class LoadRun:
    code: int
    output: str
    report: Path

    @property
    def summary(self) -> dict[str, Any]:
        return json.loads((self.report / "summary.json").read_text())

    def gate(self, name: str) -> dict[str, Any]:
        return next(g for g in self.summary["slo"] if g["name"] == name)


def run_load(report: Path, *args: str, timeout: float = 120) -> LoadRun:
    cmd = [sys.executable, "-m", "topapi.cli", "load", "--report-dir", str(report), *args]
    proc = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=timeout, stdin=subprocess.DEVNULL,
                          env={**os.environ, "PYTHONUNBUFFERED": "1"})
    return LoadRun(proc.returncode, proc.stdout + proc.stderr, report)


def start_mock(kind: str, *flags: str) -> tuple[subprocess.Popen, str]:
    """`topapi mock KIND --port P FLAGS...` on its own port; returns (process, root URL), warmed up."""
    port = free_port()
    proc = subprocess.Popen([sys.executable, "-m", "topapi.cli", "mock", kind, "--port", str(port), *flags],
                            cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, stdin=subprocess.DEVNULL)
    root = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 20
    while True:
        try:
            httpx.get(f"{root}/_mock/stats", timeout=1).raise_for_status()
            break
        except httpx.HTTPError:
            if proc.poll() is not None or time.monotonic() > deadline:
                proc.kill()
                raise RuntimeError(f"topapi mock {kind} did not start") from None
            time.sleep(0.1)
    # the first request compiles the mock's schema validators: keep that out of the measurements
    body = {"model": "gpt-4.1-mini", "stream": True, "max_tokens": 2, "messages": [{"role": "user", "content": "hi"}]}
    httpx.post(f"{root}/v1/chat/completions", json=body, headers={"Authorization": "Bearer k"}, timeout=10).read()
    return proc, root


def stop(proc: subprocess.Popen) -> None:
    proc.terminate()
    try:
        proc.wait(10)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait(5)


def mock_fixture(kind: str, *flags: str) -> Iterator[str]:
    proc, root = start_mock(kind, *flags)
    try:
        yield root
    finally:
        stop(proc)
