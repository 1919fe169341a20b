"""The gateway's node console over HTTP: which nodes serve a model, with what weight, at which URL.

`topapi load` uses it (given a node or platform admin login, as the demo stack provides) to
find the mocks behind a model and their weights, so routing is checked against the
gateway's own configuration rather than numbers typed twice.
"""

from __future__ import annotations

from dataclasses import dataclass

import httpx

from .mockctl import mock_root


@dataclass(frozen=True)
class Node:
    name: str
    weight: float
    root: str  # the node's base URL without /v1: where a mock's control API answers


def serving_nodes(base_url: str, username: str, password: str, model: str) -> list[Node]:
    """Enabled nodes serving `model` in the highest priority tier (the ones that share its traffic)."""
    with httpx.Client(base_url=base_url.rstrip("/"), timeout=15) as client:
        r = client.post("/api/auth/login", json={"username": username, "password": password})
        if r.status_code != 200:
            raise ValueError(f"node console login as {username!r} failed: HTTP {r.status_code}")
        client.headers["Authorization"] = f"Bearer {r.json()['token']}"
        rows: list[dict] = []
        while True:
            r = client.get("/api/node/nodes", params={"limit": 200, "offset": len(rows)})
            if r.status_code != 200:
                raise ValueError(f"GET /api/node/nodes: HTTP {r.status_code}")
            page = r.json()
            rows += page["data"]
            if not page["data"] or len(rows) >= page["total"]:
                break
    serving = [n for n in rows if n.get("enabled") and any(m.get("model") == model for m in n.get("models", ()))]
    if not serving:
        return []
    top = max(n.get("priority", 0) for n in serving)
    return [Node(n["name"], float(n.get("weight", 1)), mock_root(n["base_url"]))
            for n in serving if n.get("priority", 0) == top]
