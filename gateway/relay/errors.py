"""Client-facing errors in the caller's dialect, as whole bodies and as stream events."""

from __future__ import annotations

import orjson

from specs import errors as wire
from specs import sse


class RelayError(Exception):
    """Raised anywhere in the relay; rendered by the dispatcher in the request's dialect."""

    def __init__(self, status: int, message: str, *, code: str | None = None, param: str | None = None,
                 headers: dict[str, str] | None = None, outcome: str = "rejected") -> None:
        super().__init__(message)
        self.status, self.message, self.code, self.param = status, message, code, param
        self.headers = headers or {}
        self.outcome = outcome


def body(dialect: str, status: int, message: str, code: str | None = None, param: str | None = None) -> bytes:
    if dialect == "gemini":
        return orjson.dumps(wire.gemini_error(status, message))
    return orjson.dumps(wire.openai_error(status, message, param=param, code=code))


def stream_event(dialect: str, message: str, *, code: str = "upstream_error", sequence_number: int = 0) -> bytes:
    """The event that ends a stream whose upstream failed after the first byte (WIRE.md)."""
    if dialect == "responses":
        return sse.encode({"type": "error", "code": code, "message": message, "param": None,
                           "sequence_number": sequence_number}, event="error")
    if dialect == "gemini":
        return sse.encode(wire.gemini_error(502, message), crlf=True)
    if dialect == "gemini-array":  # the last element of streamGenerateContent's JSON array
        return orjson.dumps(wire.gemini_error(502, message))
    return sse.encode(wire.openai_error(502, message, code=code, type="server_error"))
