"""Reading usage out of upstream answers, and out of streams while relaying them unchanged.

A meter is fed the upstream's bytes as they arrive and returns the bytes to forward:
whole events only (an event is never split or re-encoded), in the same order. On the
way it notes the usage the upstream reports, how many events carried output (the
tokens delivered if the stream is cut), and whether the usage-only chat chunk must be
removed because the client did not ask for it (the gateway always asks upstream).
"""

from __future__ import annotations

from typing import Any

import orjson


def _split(buf: bytes) -> tuple[list[bytes], bytes]:
    """Whole SSE events (each with its terminator) and the incomplete rest."""
    events = []
    start = 0
    while True:
        a = buf.find(b"\n\n", start)
        b = buf.find(b"\r\n\r\n", start)
        if a < 0 and b < 0:
            break
        if b >= 0 and (a < 0 or b <= a):
            end = b + 4
        else:
            end = a + 2
        events.append(buf[start:end])
        start = end
    return events, buf[start:]


def _data(event: bytes) -> bytes | None:
    """The payload of an event's data line(s)."""
    out = []
    for line in event.splitlines():
        if line.startswith(b"data:"):
            out.append(line[5:].lstrip(b" "))
    return b"\n".join(out) if out else None


class Meter:
    """Base: usage found so far, output events delivered, and the incremental splitter."""

    def __init__(self) -> None:
        self.buf = b""
        self.prompt_tokens = 0
        self.completion_tokens = 0
        self.has_usage = False
        self.output_events = 0
        self.events = 0  # forwarded
        self.upstream_error: str | None = None

    def feed(self, chunk: bytes) -> tuple[bytes, bool]:
        """Bytes to forward now, and whether they carry the first output."""
        events, self.buf = _split(self.buf + chunk)
        if not events:
            return b"", False
        first_output = False
        out = []
        for ev in events:
            before = self.output_events
            if self.on_event(ev):
                out.append(ev)
                self.events += 1
            if before == 0 and self.output_events > 0:
                first_output = True
        return b"".join(out), first_output

    def on_event(self, event: bytes) -> bool:
        """Look at one whole event; False drops it."""
        raise NotImplementedError

    def finish(self) -> bytes:
        """End of the upstream stream: whatever is left (an unterminated event) goes out as is."""
        rest, self.buf = self.buf, b""
        return rest


def _load(data: bytes | None) -> Any:
    if not data:
        return None
    try:
        return orjson.loads(data)
    except orjson.JSONDecodeError:
        return None


class ChatMeter(Meter):
    def __init__(self, want_usage: bool) -> None:
        super().__init__()
        self.want_usage = want_usage
        self.done = False

    def on_event(self, event: bytes) -> bool:
        data = _data(event)
        if data == b"[DONE]":
            self.done = True
            return True
        obj = _load(data)
        if not isinstance(obj, dict):
            return True
        if "error" in obj:
            self.upstream_error = str((obj.get("error") or {}).get("message", "upstream error"))
        usage = obj.get("usage")
        if usage:
            self.prompt_tokens = int(usage.get("prompt_tokens") or 0)
            self.completion_tokens = int(usage.get("completion_tokens") or 0)
            self.has_usage = True
        choices = obj.get("choices")
        if choices:
            for c in choices:
                d = c.get("delta") or {}
                if d.get("content") or d.get("tool_calls") or d.get("reasoning_content") or d.get("refusal"):
                    self.output_events += 1
                    break
        elif usage and not self.want_usage:
            return False  # the usage-only chunk the client did not ask for
        return True


class ResponsesMeter(Meter):
    OUTPUT = (b"response.output_text.delta", b"response.function_call_arguments.delta",
              b"response.reasoning_text.delta", b"response.refusal.delta")

    def __init__(self) -> None:
        super().__init__()
        self.response_id: str | None = None

    def on_event(self, event: bytes) -> bool:
        obj = _load(_data(event))
        if not isinstance(obj, dict):
            return True
        kind = obj.get("type", "")
        if kind.encode() in self.OUTPUT:
            self.output_events += 1
        elif kind == "response.created":
            self.response_id = (obj.get("response") or {}).get("id")
        elif kind in ("response.completed", "response.incomplete", "response.failed"):
            resp = obj.get("response") or {}
            usage = resp.get("usage")
            if usage:
                self.prompt_tokens = int(usage.get("input_tokens") or 0)
                self.completion_tokens = int(usage.get("output_tokens") or 0)
                self.has_usage = True
            if kind == "response.failed":
                self.upstream_error = str((resp.get("error") or {}).get("message", "response failed"))
        elif kind == "error":
            self.upstream_error = str(obj.get("message", "upstream error"))
        return True


def gemini_usage(obj: dict[str, Any]) -> tuple[int, int] | None:
    meta = obj.get("usageMetadata")
    if not meta:
        return None
    out = int(meta.get("candidatesTokenCount") or 0) + int(meta.get("thoughtsTokenCount") or 0)
    return int(meta.get("promptTokenCount") or 0), out


def _gemini_output(obj: dict[str, Any]) -> bool:
    for cand in obj.get("candidates") or ():
        for part in (cand.get("content") or {}).get("parts") or ():
            if part.get("text") or part.get("functionCall"):
                return True
    return False


class GeminiSseMeter(Meter):
    def on_event(self, event: bytes) -> bool:
        obj = _load(_data(event))
        if not isinstance(obj, dict):
            return True
        if "error" in obj:
            self.upstream_error = str((obj.get("error") or {}).get("message", "upstream error"))
        if _gemini_output(obj):
            self.output_events += 1
        found = gemini_usage(obj)
        if found:
            self.prompt_tokens, self.completion_tokens = found
            self.has_usage = True
        return True


class GeminiArrayMeter(Meter):
    """`streamGenerateContent` without alt=sse: a JSON array, relayed byte for byte; the
    elements are read from a copy once the array is complete."""

    def __init__(self) -> None:
        super().__init__()
        self.copy: list[bytes] = []

    def feed(self, chunk: bytes) -> tuple[bytes, bool]:
        self.copy.append(chunk)
        first = self.output_events == 0 and (b'"text"' in chunk or b'"functionCall"' in chunk)
        if first:
            self.output_events = 1
        return chunk, first

    def finish(self) -> bytes:
        items = _load(b"".join(self.copy))
        if isinstance(items, list):
            self.output_events = sum(1 for it in items if isinstance(it, dict) and _gemini_output(it))
            for it in items:
                found = gemini_usage(it) if isinstance(it, dict) else None
                if found:
                    self.prompt_tokens, self.completion_tokens = found
                    self.has_usage = True
        return b""


def json_usage(kind: str, obj: Any) -> tuple[int, int]:
    """(prompt, completion) tokens of a whole JSON answer, per endpoint kind."""
    if not isinstance(obj, dict):
        return 0, 0
    if kind == "gemini":
        return gemini_usage(obj) or (0, 0)
    usage = obj.get("usage") or {}
    if kind == "chat":
        return int(usage.get("prompt_tokens") or 0), int(usage.get("completion_tokens") or 0)
    return int(usage.get("input_tokens") or 0), int(usage.get("output_tokens") or 0)
