"""The neutral form every text dialect converts to and from: the chat completions body, answer and
chunk stream (the richest of the three formats, so the pivot loses least). A client's request is
turned into it and from it into the node's dialect; the node's answer goes the other way.

    client dialect --request_to_chat--> neutral --request_from_chat--> node dialect
    client dialect <--answer_from_chat-- neutral <--answer_to_chat---- node dialect

Which dialect a node speaks is its provider's (`UPSTREAM`); a node that speaks the client's own
dialect gets the request unchanged (same-dialect relaying never converts).
"""

from __future__ import annotations

from typing import Any

from specs import streams

from ..errors import RelayError
from ..meters import DONE_DATA, Meter, event_data, load_json, note, split_events

# provider -> the text dialects its nodes speak, preferred first
UPSTREAM: dict[str, tuple[str, ...]] = {
    "openai": ("chat", "responses"),
    "openai-chat": ("chat",),  # an OpenAI-compatible node without the Responses API (vLLM, most resellers)
    "gemini": ("gemini",),
}


def upstream_dialect(client: str, provider: str) -> str:
    """The dialect a node of `provider` is spoken to in, for a client speaking `client`."""
    spoken = UPSTREAM.get(provider, ("chat",))
    return client if client in spoken else spoken[0]


class Unsupported(RelayError):
    """A field the node's dialect cannot carry: a 400 in the caller's dialect, never a silent drop."""

    def __init__(self, message: str, param: str | None) -> None:
        super().__init__(400, message, param=param, code="unsupported_parameter")


# chat finish_reason <-> Gemini finishReason
GEMINI_FINISH = {"stop": "STOP", "length": "MAX_TOKENS", "tool_calls": "STOP", "content_filter": "SAFETY",
                 "function_call": "STOP"}
CHAT_FINISH = {"STOP": "stop", "MAX_TOKENS": "length", "SAFETY": "content_filter", "RECITATION": "content_filter",
               "BLOCKLIST": "content_filter", "PROHIBITED_CONTENT": "content_filter", "SPII": "content_filter",
               "IMAGE_SAFETY": "content_filter", "LANGUAGE": "content_filter"}


class ConvertMeter(Meter):
    """A stream converted on the fly: the node's events are metered by its own dialect's rules
    (specs/streams.py: the usage billed is the node's), turned into neutral chat chunks by `to_chat`
    and rendered in the client's dialect by `render`. Whole events in, whole events out."""

    def __init__(self, upstream: str, to_chat: Any, render: Any) -> None:
        super().__init__()
        self.sem = streams.SEMANTICS[upstream]
        self.to_chat, self.render = to_chat, render
        self.ended = False  # the node's own end marker

    def feed(self, chunk: bytes) -> tuple[bytes, bool]:
        events, self.buf = split_events(self.buf + chunk)
        before = self.output_events
        out: list[bytes] = []
        for ev in events:
            data = event_data(ev)
            if data == DONE_DATA:
                self.ended = True
                continue
            obj = load_json(data)
            if not isinstance(obj, dict):
                if data:
                    self.broken, self.buf = "the node sent an event whose data is not JSON", b""
                    break
                continue
            note(self, self.sem, obj)
            if self.upstream_error is not None:
                out.append(self.render.error(self.upstream_error))
                self.buf = b""
                break
            if self.sem.ends(obj):
                self.ended = True
            for neutral in self.to_chat.event(obj):
                out += self.render.chunk(neutral)
        self.events += len(out)
        return b"".join(out), before == 0 and self.output_events > 0

    @property
    def complete(self) -> bool:
        return self.ended or self.upstream_error is not None

    def finish(self) -> bytes:
        self.buf = b""
        if not self.ended or self.upstream_error is not None:
            return b""
        out: list[bytes] = []
        for neutral in self.to_chat.end(self):
            out += self.render.chunk(neutral)
        out += self.render.end()
        return b"".join(out)

    def error_tail(self, event: bytes) -> bytes:
        return self.render.error_tail(event)


class ChatPassthrough:
    """A chat node's chunks are already neutral; its usage chunk is forwarded to the renderer."""

    def event(self, obj: dict[str, Any]) -> list[dict[str, Any]]:
        return [obj]

    def end(self, meter: Meter) -> list[dict[str, Any]]:
        return []
