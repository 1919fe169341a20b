"""`topapi mock ...`: serving the mocks from the command line, flags, signals, bad values."""

from __future__ import annotations

import importlib.metadata
import json
import queue
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator

import httpx
import pytest

from topapi import cli

KEY = {"authorization": "Bearer sk-test"}
CHAT = {"model": "gpt-4.1-mini", "messages": [{"role": "user", "content": "hello"}]}


class MockProcess:
    """`topapi mock ...` in a subprocess, its stdout read line by line without blocking the test."""

    def __init__(self, *args: str) -> None:
        self.proc = subprocess.Popen([sys.executable, "-m", "topapi.cli", "mock", *args], stdout=subprocess.PIPE,
                                     stderr=subprocess.PIPE, text=True)
        self.lines: queue.Queue[str] = queue.Queue()
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        for line in self.proc.stdout:  # type: ignore[union-attr]
            self.lines.put(line)

    def line(self, timeout: float = 15) -> str:
        return self.lines.get(timeout=timeout)

    def urls(self, kinds: int) -> tuple[list[str], dict[str, str]]:
        """The human-readable lines, one per mock, then the JSON map of base URLs."""
        human = [self.line() for _ in range(kinds)]
        return human, json.loads(self.line())

    def stop(self, sig: int = signal.SIGTERM) -> tuple[int, float]:
        t0 = time.perf_counter()
        self.proc.send_signal(sig)
        rc = self.proc.wait(10)
        return rc, time.perf_counter() - t0

    def close(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()
        self.proc.stdout.close()  # type: ignore[union-attr]
        self.proc.stderr.close()  # type: ignore[union-attr]


@pytest.fixture
def spawn() -> Iterator:
    started: list[MockProcess] = []

    def start(*args: str) -> MockProcess:
        started.append(MockProcess(*args))
        return started[-1]

    yield start
    for p in started:
        p.close()


def test_console_script_is_installed() -> None:
    (entry,) = [e for e in importlib.metadata.entry_points(group="console_scripts") if e.name == "topapi"]
    assert entry.value == "topapi.cli:main"


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM], ids=["SIGINT", "SIGTERM"])
def test_all_serves_each_mock_until_stopped(spawn, sig: int) -> None:
    p = spawn("all", "--port", "0")
    human, urls = p.urls(3)
    assert list(urls) == ["openai", "gemini", "sora"]
    for line, (kind, url) in zip(human, urls.items(), strict=True):
        assert line.split()[:2] == [kind, url]
    assert len(set(urls.values())) == 3
    # the URLs are printed once the servers listen: a request right away must work
    probes = {"openai": ("/v1/models", KEY), "gemini": ("/v1beta/models", {"x-goog-api-key": "k"}),
              "sora": ("/v1/videos", KEY)}
    for kind, url in urls.items():
        path, headers = probes[kind]
        r = httpx.get(url + path, headers=headers, timeout=5)
        assert r.status_code == 200 and r.headers["x-mock-node"] == kind
    assert p.proc.poll() is None  # still serving
    rc, took = p.stop(sig)
    assert rc == 0 and took < 5
    with pytest.raises(httpx.ConnectError):
        httpx.get(urls["openai"] + "/_mock/stats", timeout=2)


def test_flags_apply(spawn) -> None:
    p = spawn("openai", "--port", "0", "--ttft-ms", "50", "--itl-ms", "2", "--seed", "5", "--node-name", "edge-1",
              "--fault-rate", "1", "--fault-kind", "status", "--fault-status", "503")
    _, urls = p.urls(1)
    base = urls["openai"]
    config = httpx.get(base + "/_mock/config").json()
    assert config["ttft_ms"] == 50 and config["itl_ms"] == 2 and config["seed"] == 5
    assert config["node_name"] == "edge-1"
    assert config["fault"] == {**config["fault"], "rate": 1.0, "kind": "status", "status": 503}
    r = httpx.post(base + "/v1/chat/completions", json=CHAT, headers=KEY)
    assert r.status_code == 503 and r.headers["x-mock-node"] == "edge-1"
    assert r.json()["error"]["type"] == "server_error"
    # without the fault, the latency flags hold: a JSON answer waits for TTFT at least
    httpx.post(base + "/_mock/config", json={"fault": {"rate": 0}})
    t0 = time.perf_counter()
    assert httpx.post(base + "/v1/chat/completions", json=CHAT, headers=KEY).status_code == 200
    assert time.perf_counter() - t0 >= 0.05
    assert p.stop()[0] == 0


@pytest.mark.parametrize(("flags", "message"), [
    (["--ttft-ms", "-5"], "ttft_ms must be >= 0"),
    (["--itl-ms", "fast"], "invalid float value"),
    (["--fault-rate", "2"], "fault.rate must be between 0 and 1"),
    (["--fault-kind", "explode"], "invalid choice"),
    (["--fault-status", "200"], "fault.status must be an HTTP error status"),
    (["--tokens-per-chunk", "0"], "tokens_per_chunk must be >= 1"),
    (["--fault-after-chunks", "-1"], "fault.after_chunks must be >= 0"),
    (["--seed", "x"], "invalid int value"),
    (["--port", "70000"], "--port must be between 0 and 65535"),
    (["--port", "-1"], "--port must be between"),
])
def test_bad_flags(capsys: pytest.CaptureFixture[str], flags: list[str], message: str) -> None:
    try:
        rc = cli.main(["mock", "openai", *flags])
    except SystemExit as exc:  # argparse's own errors
        rc = exc.code
    out, err = capsys.readouterr()
    assert rc == 2 and message in err and out == ""
    assert "Traceback" not in err


def test_bad_flag_in_a_real_process(spawn) -> None:
    p = spawn("all", "--fault-rate", "1.5")
    rc = p.proc.wait(15)
    err = p.proc.stderr.read()
    assert rc == 2 and "topapi mock: fault.rate must be between 0 and 1" in err and "Traceback" not in err


def test_port_in_use(spawn) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        p = spawn("openai", "--port", str(taken.getsockname()[1]))
        rc = p.proc.wait(15)
        err = p.proc.stderr.read()
    assert rc != 0 and "address already in use" in err and "Traceback" not in err
    assert p.lines.empty()  # no URL was announced
