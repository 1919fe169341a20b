"""The mocks' control API over HTTP (MOCKS.md): `/_mock/stats` and `/_mock/config`.

load/ never imports `mocks`: a mock behind a gateway under test is reached like any server,
at its root URL (an OpenAI or Sora node's base URL without its trailing `/v1`). `requests`,
not httpx: this runs inside gevent-patched Locust processes, where httpcore's optional trio
import fails (gevent removes select.epoll).
"""

from __future__ import annotations

from typing import Any

import requests

TIMEOUT_S = 5.0


def mock_root(url: str) -> str:
    """`http://host:port/v1` (how OpenAI/Sora nodes store it) -> `http://host:port`."""
    url = url.rstrip("/")
    return url[: -len("/v1")] if url.endswith("/v1") else url


def parse_mocks(specs: list[str] | None) -> dict[str, str]:
    """["openai-a=http://h:1/v1", ...] -> {"openai-a": "http://h:1"}."""
    out: dict[str, str] = {}
    for spec in specs or ():
        name, sep, url = spec.partition("=")
        if not sep or not name.strip() or not url.strip():
            raise ValueError(f"--mock wants NAME=URL, got {spec!r}")
        out[name.strip()] = mock_root(url.strip())
    return out


def stats(root: str, session: requests.Session | None = None) -> dict[str, Any]:
    r = (session or requests).get(f"{root}/_mock/stats", timeout=TIMEOUT_S)
    r.raise_for_status()
    return r.json()


def get_config(root: str) -> dict[str, Any]:
    r = requests.get(f"{root}/_mock/config", timeout=TIMEOUT_S)
    r.raise_for_status()
    return r.json()


def set_config(root: str, changes: dict[str, Any]) -> dict[str, Any]:
    r = requests.post(f"{root}/_mock/config", json=changes, timeout=TIMEOUT_S)
    r.raise_for_status()
    return r.json()
