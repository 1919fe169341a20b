"""Reading usage out of upstream answers, and out of streams while relaying them unchanged.

A meter is fed the upstream's bytes as they arrive and returns the bytes to forward:
whole events only (an event is never split or re-encoded), in the same order. On the
way it notes the usage the upstream reports, how many events carried output (the
tokens delivered if the stream is cut), and whether the usage-only chat chunk must be
removed because the client did not ask for it (the gateway always asks upstream).
"""

from __future__ import annotations

import re
from typing import Any

import orjson

from specs import streams


def split_events(buf: bytes) -> tuple[list[bytes], bytes]:
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


def event_data(event: bytes) -> bytes | None:
    """The payload of an event's data line(s)."""
    out = []
    for line in event.splitlines():
        if line.startswith(b"data:"):
            out.append(line[5:].lstrip(b" "))
    return b"\n".join(out) if out else None


class BrokenStream(Exception):
    """The node sent something that is not an event of its dialect: the stream cannot go on."""


NOT_JSON = "the node sent an event whose data is not JSON"


class Meter:
    """Base: usage found so far, output events delivered, and the incremental splitter.
    An event that cannot be parsed is not forwarded: it sets `broken` and ends the feed."""

    def __init__(self) -> None:
        self.buf = b""
        self.prompt_tokens = 0
        self.completion_tokens = 0
        self.has_usage = False
        self.output_events = 0
        self.events = 0  # forwarded
        self.upstream_error: str | None = None
        self.broken: str | None = None

    def feed(self, chunk: bytes) -> tuple[bytes, bool]:
        """Bytes to forward now, and whether they carry the first output."""
        events, self.buf = split_events(self.buf + chunk)
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
            if self.broken:
                self.buf = b""
                break
        return b"".join(out), first_output

    def on_event(self, event: bytes) -> bool:
        """Look at one whole event; False drops it."""
        raise NotImplementedError

    def _not_json(self, data: bytes | None) -> bool:
        """An event without data (a comment, a keep-alive) passes; one with broken data breaks the stream."""
        if not data:
            return True
        self.broken = NOT_JSON
        return False

    def finish(self) -> bytes:
        """End of the upstream stream: whatever is left (an unterminated event) goes out as is
        if the stream is complete; the relay drops it otherwise."""
        rest, self.buf = self.buf, b""
        return rest

    @property
    def complete(self) -> bool:
        """Did the upstream send its whole answer (its final event, or an error event of its own)?"""
        return self.has_usage or self.upstream_error is not None

    def error_tail(self, event: bytes) -> bytes:
        """The bytes that end a cut stream, given the dialect's error event."""
        return event


def load_json(data: bytes | None) -> Any:
    if not data:
        return None
    try:
        return orjson.loads(data)
    except orjson.JSONDecodeError:
        return None


DONE_DATA = streams.DONE


class ChatMeter(Meter):
    def __init__(self, want_usage: bool) -> None:
        super().__init__()
        self.want_usage = want_usage
        self.done = False

    @property
    def complete(self) -> bool:
        return self.done or self.upstream_error is not None

    def on_event(self, event: bytes) -> bool:
        data = event_data(event)
        if data == streams.DONE:
            self.done = True
            return True
        obj = load_json(data)
        if not isinstance(obj, dict):
            return self._not_json(data)
        note(self, streams.Chat, obj)
        # False drops the usage-only chunk the client did not ask for
        return bool(obj.get("choices") or not obj.get("usage") or self.want_usage)


class ResponsesMeter(Meter):
    def __init__(self) -> None:
        super().__init__()
        self.response_id: str | None = None

    def on_event(self, event: bytes) -> bool:
        data = event_data(event)
        obj = load_json(data)
        if not isinstance(obj, dict):
            return self._not_json(data)
        if obj.get("type") == "response.created":
            self.response_id = (obj.get("response") or {}).get("id")
        else:
            note(self, streams.Responses, obj)
        return True


def note(meter: Meter, sem: Any, obj: dict[str, Any]) -> None:
    """One decoded event, as specs/streams.py defines it: error, output, usage."""
    error = sem.error(obj)
    if error is not None:
        meter.upstream_error = error
    if sem.output(obj):
        meter.output_events += 1
    usage = sem.usage(obj)
    if usage is not None:
        meter.prompt_tokens, meter.completion_tokens = usage
        meter.has_usage = True


def gemini_usage(obj: dict[str, Any]) -> tuple[int, int] | None:
    return streams.Gemini.usage(obj)


def _note_gemini(meter: Meter, obj: dict[str, Any]) -> None:
    """One GenerateContentResponse (an SSE event or an array element): error, output, usage."""
    note(meter, streams.Gemini, obj)


class GeminiSseMeter(Meter):
    def on_event(self, event: bytes) -> bool:
        data = event_data(event)
        obj = load_json(data)
        if not isinstance(obj, dict):
            return self._not_json(data)
        _note_gemini(self, obj)
        return True


_JSON_SYNTAX = re.compile(rb'["{}\[\]]')  # the bytes that change nesting or string state


class GeminiArrayMeter(Meter):
    """`streamGenerateContent` without alt=sse: one JSON array, written element by element
    (`[{..}`, `,\\r\\n{..}`, ..., `]`). Bytes go out unchanged but only up to the end of the last
    whole element, so a cut stream can still be closed as a valid array with an error element."""

    def __init__(self) -> None:
        super().__init__()
        self.depth = 0
        self.in_string = False
        self.scanned = 0  # bytes of buf already scanned
        self.element_at = -1  # where the current element starts in buf
        self.opened = self.closed = False  # `[` forwarded, `]` seen
        self.elements = 0  # whole elements forwarded

    def feed(self, chunk: bytes) -> tuple[bytes, bool]:
        buf = self.buf = self.buf + chunk
        cut = 0  # forward buf[:cut]
        before = self.output_events
        for m in _JSON_SYNTAX.finditer(buf, self.scanned):
            i, c = m.start(), buf[m.start()]
            if self.in_string:
                if c == 0x22 and not self._escaped_at(buf, i):
                    self.in_string = False
                continue
            if c == 0x22:
                self.in_string = True
            elif c in (0x7B, 0x5B):  # { [
                self.depth += 1
                if self.depth == 1 and c == 0x5B:
                    self.opened, cut = True, i + 1
                elif self.depth == 2:
                    self.element_at = i
            elif c in (0x7D, 0x5D):  # } ]
                self.depth -= 1
                if self.depth == 1 and self.element_at >= 0:
                    self._element(buf[self.element_at:i + 1])
                    if self.broken:  # not forwarded; nothing after it is
                        self.buf = b""
                        return buf[:cut], before == 0 and self.output_events > 0
                    self.element_at, cut = -1, i + 1
                elif self.depth == 0:
                    self.closed, cut = True, i + 1
        self.scanned = len(buf)
        out, self.buf = buf[:cut], buf[cut:]
        self.scanned -= cut
        if self.element_at >= 0:
            self.element_at -= cut
        if out:
            self.events += 1
        return out, before == 0 and self.output_events > 0

    @staticmethod
    def _escaped_at(buf: bytes, i: int) -> bool:
        """Is the quote at i preceded by an odd number of backslashes? (A string never spans a
        cut: cuts fall between elements, so the backslashes are all still in buf.)"""
        n = 0
        while i - n - 1 >= 0 and buf[i - n - 1] == 0x5C:
            n += 1
        return n % 2 == 1

    def _element(self, raw: bytes) -> None:
        obj = load_json(raw)
        if not isinstance(obj, dict):
            self.broken = "the node sent an array element that is not a JSON object"
            return
        self.elements += 1
        _note_gemini(self, obj)

    @property
    def complete(self) -> bool:
        return self.closed

    def error_tail(self, event: bytes) -> bytes:
        """`event` is the bare error object: it becomes the array's last element."""
        head = b"" if self.opened else b"["
        sep = b",\r\n" if self.elements else b""
        return head + sep + event + b"]"


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
