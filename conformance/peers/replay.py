"""A root cause's reproduction sent again: to the peer, as recorded, and the same request to the mock behind
it (the key swapped for the mock's, the peer's own headers left out), so PEERS.md shows what the peer
changed. Secrets come back only at sending time; what is written down stays masked."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import httpx

from .. import repro
from ..surfaces import surface_of

READ_LIMIT = 64_000
HEAD, TAIL = 400, 200


@dataclass(frozen=True)
class Answer:
    url: str
    status: int | None
    head: str  # the first bytes of the body (or the transport error)
    tail: str  # the last bytes, when the body is longer than the head
    content_type: str = ""

    def lines(self) -> list[str]:
        out = [f"HTTP {self.status}" + (f" ({self.content_type})" if self.content_type else "")
               if self.status is not None else "no answer"]
        out.append(self.head)
        if self.tail:
            out.append(f"… {self.tail}")
        return out


def mock_for(path: str, mocks: dict[str, str]) -> tuple[str, str]:
    """(mock base URL, path on it) of the upstream that serves `path` (the guide's prefixes mapped to the
    official ones, which the mocks serve)."""
    p = "/" + path.lstrip("/")
    if p.startswith("/gemini/"):
        p = p.removeprefix("/gemini")
    elif p.startswith("/responses/v1/"):
        p = "/v1/" + p.removeprefix("/responses/v1/")
    surface = surface_of(p)
    kind = "gemini" if surface == "gemini" else "sora" if surface == "openai.videos" else "openai"
    return mocks[kind], p


def send(method: str, url: str, headers: dict[str, str], body: str | None, timeout: float = 60) -> Answer:
    try:
        with httpx.stream(method, url, headers=headers, content=body.encode() if body is not None else None,
                          timeout=timeout) as r:
            data = bytearray()
            for chunk in r.iter_raw():
                data += chunk
                if len(data) >= READ_LIMIT:
                    break
            text = repro.text_of(bytes(data)) or ""
            return Answer(url, r.status_code, text[:HEAD], text[HEAD:][-TAIL:] if len(text) > HEAD else "",
                          r.headers.get("content-type", ""))
    except httpx.HTTPError as exc:
        return Answer(url, None, f"{type(exc).__name__}: {exc}", "")


def _unmask(text: str, secrets: dict[str, str]) -> str:
    for placeholder, value in secrets.items():
        text = text.replace(placeholder, value)
    return text


def replay(exchange: dict[str, Any], peer_secrets: dict[str, str], mocks: dict[str, str], mock_key: str,
           peer_headers: set[str]) -> tuple[Answer, Answer] | None:
    """(the peer's answer, the mock's answer) to the exchange's request; None when it cannot be replayed
    (a multipart or huge body, a redacted header)."""
    body = exchange.get("whole_body")
    if exchange.get("body") is not None and body is None:
        return None
    headers = {k: v for k, v in exchange["headers"].items() if k.lower() not in ("content-length", "host")}
    if any("<redacted>" in v or "<session token>" in v for v in headers.values()):
        return None
    peer = send(exchange["method"], _unmask(exchange["url"], peer_secrets),
                {k: _unmask(v, peer_secrets) for k, v in headers.items()},
                None if body is None else _unmask(body, peer_secrets))
    parts = urlsplit(exchange["url"])
    base, path = mock_for(parts.path, mocks)
    mock_url = urlunsplit(urlsplit(base)._replace(path=path, query=parts.query))
    to_mock = {k: v for k, v in headers.items() if k.lower() not in peer_headers}
    as_mock = {placeholder: mock_key for placeholder in peer_secrets}
    mock = send(exchange["method"], _unmask(mock_url, as_mock), {k: _unmask(v, as_mock) for k, v in to_mock.items()},
                None if body is None else _unmask(body, as_mock))
    return peer, mock
