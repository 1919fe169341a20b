"""Server-sent events: encode and decode, as the three dialects use them.

Chat completions: `data: {chunk}\\n\\n` ... `data: [DONE]\\n\\n`.
Responses:        `event: <type>\\ndata: {json}\\n\\n`, no [DONE].
Gemini:           `data: {json}\\r\\n\\r\\n` (clients must accept `\\n\\n` too), no [DONE].

The decoder follows the WHATWG rules (lines end in CRLF, LF or CR; a blank line ends
an event; `:` starts a comment; one leading space after the colon is dropped) and is
incremental, so a relay or a load generator can feed it bytes as they arrive.
"""

from __future__ import annotations

from collections.abc import AsyncIterable, Iterable, Iterator
from dataclasses import dataclass
from typing import Any

import orjson

DONE = "[DONE]"
MEDIA_TYPE = "text/event-stream"


@dataclass(slots=True)
class Event:
    data: str
    event: str | None = None
    id: str | None = None
    retry: int | None = None

    @property
    def is_done(self) -> bool:
        return self.data == DONE

    def json(self) -> Any:
        return orjson.loads(self.data)


def encode(data: Any, event: str | None = None, *, crlf: bool = False) -> bytes:
    """One event. `data` that is not str/bytes is serialised as compact JSON."""
    if isinstance(data, bytes):
        payload = data
    elif isinstance(data, str):
        payload = data.encode()
    else:
        payload = orjson.dumps(data)
    nl = b"\r\n" if crlf else b"\n"
    head = b"event: " + event.encode() + nl if event else b""
    # a payload with newlines needs one data: line each
    if b"\n" in payload or b"\r" in payload:
        payload = nl.join(b"data: " + line for line in payload.splitlines())
        return head + payload + nl + nl
    return head + b"data: " + payload + nl + nl


def encode_done() -> bytes:
    return b"data: [DONE]\n\n"


class Decoder:
    """Incremental SSE decoder: `feed(bytes)` returns the events completed so far."""

    __slots__ = ("_buf", "_data", "_event", "_id", "_retry", "_pending_cr")

    def __init__(self) -> None:
        self._buf = b""
        self._data: list[str] = []
        self._event: str | None = None
        self._id: str | None = None
        self._retry: int | None = None
        self._pending_cr = False

    def feed(self, chunk: bytes) -> list[Event]:
        if self._pending_cr and chunk.startswith(b"\n"):
            chunk = chunk[1:]  # second half of a CRLF split across chunks
        self._pending_cr = False
        buf = self._buf + chunk
        out: list[Event] = []
        start = 0
        n = len(buf)
        while start < n:
            cr = buf.find(b"\r", start)
            lf = buf.find(b"\n", start)
            if cr == -1 and lf == -1:
                break
            if cr != -1 and (lf == -1 or cr < lf):
                end = cr
                if cr + 1 < n:
                    nxt = cr + 2 if buf[cr + 1 : cr + 2] == b"\n" else cr + 1
                else:
                    nxt = cr + 1
                    self._pending_cr = True
            else:
                end, nxt = lf, lf + 1
            ev = self._line(buf[start:end])
            if ev is not None:
                out.append(ev)
            start = nxt
        self._buf = buf[start:]
        return out

    def close(self) -> list[Event]:
        """End of stream: an event without its closing blank line is discarded (per spec)."""
        self._buf = b""
        self._data = []
        return []

    def _line(self, raw: bytes) -> Event | None:
        if not raw:
            if not self._data and self._event is None:
                return None
            ev = Event("\n".join(self._data), self._event, self._id, self._retry)
            self._data, self._event, self._retry = [], None, None
            return ev
        line = raw.decode("utf-8", "replace")
        if line.startswith(":"):
            return None
        field, sep, value = line.partition(":")
        if sep and value.startswith(" "):
            value = value[1:]
        if field == "data":
            self._data.append(value)
        elif field == "event":
            self._event = value
        elif field == "id":
            self._id = value
        elif field == "retry" and value.isdigit():
            self._retry = int(value)
        return None


def parse(body: bytes | str) -> list[Event]:
    """All complete events of a whole stream body."""
    dec = Decoder()
    return dec.feed(body.encode() if isinstance(body, str) else body)


def iter_events(chunks: Iterable[bytes]) -> Iterator[Event]:
    dec = Decoder()
    for chunk in chunks:
        yield from dec.feed(chunk)


async def aiter_events(chunks: AsyncIterable[bytes]):
    dec = Decoder()
    async for chunk in chunks:
        for ev in dec.feed(chunk):
            yield ev
