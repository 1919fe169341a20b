"""Reproductions: every request a check sends is remembered (per thread) as an `Exchange`, so a failure can
show exactly what was sent and what came back: method, URL, headers, body, status, the first bytes of the
answer, and a curl line that runs as it is.

Secrets never appear: the API key (and every other secret the run knows: `${VAR}` values of the config or
`-H`, session tokens of the consoles) is replaced by a shell reference (`$TOPAPI_API_KEY`) in the curl line
and by a placeholder in the headers; other values of credential-like headers are redacted.

Each check runs in one thread of the runner (sub-work in threads of its own records there), so
`last()` is the most recent exchange of the check that is failing; the runner calls `reset()` before
each check.
"""

from __future__ import annotations

import re
import shlex
import threading
from dataclasses import asdict, dataclass
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

BODY_LIMIT = 600  # characters of a request body shown in a reproduction
REPLAY_LIMIT = 64_000  # a body up to this long is also kept whole (masked), so the request can be replayed
ANSWER_LIMIT = 300  # characters of the answer
SENSITIVE = ("authorization", "x-api-key", "x-goog-api-key", "api-key", "cookie", "proxy-authorization")
SENSITIVE_WORDS = ("key", "apikey", "secret", "token", "password", "auth", "authorization", "credential", "cookie")
QUERY_SECRETS = ("key", "api_key", "token")
NOT_SECRET = ("not-a-key",)
# headers every client adds on its own: left out of reproductions (curl adds its own)
NOISE = ("content-length", "host", "accept", "accept-encoding", "connection", "user-agent")  # deliberately wrong keys the checks send are shown as they are
_LONG_ID = re.compile(r"(?<![A-Za-z0-9_\-])([A-Za-z0-9_\-]{12})[A-Za-z0-9_\-]{12,}([A-Za-z0-9_\-]{6})"
                      r"(?![A-Za-z0-9_\-])")


@dataclass(frozen=True)
class Exchange:
    """One request and the start of its answer, secrets redacted."""

    method: str
    url: str
    headers: dict[str, str]
    body: str | None
    status: int | None  # None: no answer (transport error)
    answer: str  # the first bytes of the answer (or the transport error)
    curl: str
    whole_body: str | None = None  # the body unshortened (secrets masked), when it is text and not huge

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    def lines(self, *, short_ids: bool = True) -> list[str]:
        """The reproduction as a few lines for a terminal or a report."""
        cut = shorten_ids if short_ids else (lambda s: s)
        head = f"{self.method} {cut(self.url)} -> " + (f"HTTP {self.status}" if self.status is not None else "no answer")
        out = [head]
        if self.headers:
            out.append("headers: " + "; ".join(f"{k}: {v}" for k, v in self.headers.items()))
        if self.body:
            out.append(f"body: {cut(self.body)}")
        out.append(f"answer: {cut(self.answer)}")
        out.append(f"curl: {cut(self.curl)}")
        return out


class Secrets:
    """Secret text -> what shows instead (`$TOPAPI_API_KEY` for the key: the curl line then runs in a shell
    that has it). Thread-safe enough: only ever grows."""

    def __init__(self, known: dict[str, str] | None = None) -> None:
        self.known: dict[str, str] = {k: v for k, v in (known or {}).items() if k}

    def add(self, secret: str | None, placeholder: str) -> None:
        if secret and len(secret) >= 4:
            self.known.setdefault(secret, placeholder)

    def mask(self, text: str) -> str:
        for secret, placeholder in sorted(self.known.items(), key=lambda kv: -len(kv[0])):
            text = text.replace(secret, placeholder)
        return text

    def header(self, name: str, value: str) -> str:
        masked = self.mask(value)
        if masked != value or any(n in value for n in NOT_SECRET):
            return masked
        low = name.lower()
        if low in SENSITIVE or set(re.split(r"[-_]", low)) & set(SENSITIVE_WORDS):  # "portkey" is not a key
            scheme = value.split(" ", 1)[0] + " " if low.endswith("authorization") and " " in value else ""
            return f"{scheme}<redacted>"
        return value


def build(method: str, url: str, headers: dict[str, str], body: bytes | str | None, status: int | None,
          answer: bytes | str, secrets: Secrets) -> Exchange:
    shown = {k: secrets.header(k, v) for k, v in headers.items() if k.lower() not in NOISE}
    parts = urlsplit(url)
    query = [(k, secrets.mask(v) if k in QUERY_SECRETS else v) for k, v in parse_qsl(parts.query, True)]
    safe_url = secrets.mask(urlunsplit(parts._replace(query=urlencode(query, safe="$<>"))))
    text = text_of(body)
    safe_body = None if text is None else secrets.mask(text)
    ans = secrets.mask(text_of(answer) or "")
    whole = safe_body if safe_body is not None and len(safe_body) <= REPLAY_LIMIT and not (
        safe_body.startswith("<") and safe_body.endswith(">")) else None
    return Exchange(method, safe_url, shown, _cut(safe_body, BODY_LIMIT), status, _cut(ans, ANSWER_LIMIT) or "",
                    curl_line(method, safe_url, shown, safe_body), whole)


def curl_line(method: str, url: str, headers: dict[str, str], body: str | None) -> str:
    """A curl command; `$NAME` placeholders stay shell references (double quotes), the rest is quoted."""
    words = ["curl", "-sS", "-N"] + (["-X", method] if method not in ("GET", "POST") or
                                      (method == "POST" and body is None) else [])
    words.append(_quote(url))
    for k, v in headers.items():
        words += ["-H", _quote(f"{k}: {v}")]
    if body is not None:
        if len(body) > 4000:
            body = body[:4000] + "…(cut)"
        words += ["--data-binary", _quote(body)]
    return " ".join(words)


def _quote(s: str) -> str:
    if re.search(r"\$[A-Z_][A-Z0-9_]*", s) and not re.search(r'["\\`]', s.replace("$", "")):
        return '"' + s + '"'  # keeps $TOPAPI_API_KEY a reference
    return shlex.quote(s)


_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")


def text_of(data: bytes | str | None) -> str | None:
    """Text as it is; bytes decoded, or described when they are binary (an MP4, a PNG)."""
    if data is None:
        return None
    if isinstance(data, str):
        return data
    if not data:
        return ""
    try:
        text = data.decode()
    except UnicodeDecodeError:
        return f"<{len(data)} bytes: {data[:24]!r}…>"
    if _CONTROL.search(text[:2000]):
        return f"<{len(data)} bytes: {data[:24]!r}…>"
    return text


def _cut(s: str | None, limit: int) -> str | None:
    if s is None or len(s) <= limit:
        return s
    return s[:limit] + f"…(+{len(s) - limit} chars)"


def shorten_ids(text: str) -> str:
    """Long ids (video ids, response ids, base64 runs) as head…tail, for a terminal; results.json keeps them whole."""
    return _LONG_ID.sub(r"\1…\2", text)


# -- the current check's last exchange ----------------------------------------------------------------------------
_local = threading.local()


def record(exchange: Exchange) -> None:
    _local.last = exchange


def last() -> Exchange | None:
    return getattr(_local, "last", None)


def reset() -> None:
    _local.last = None
