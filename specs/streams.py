"""What a streamed event means, per dialect: the one source of truth for the gateway's meters,
the load tool's timing and the conformance checks.

Each dialect answers five questions about one decoded event (a JSON object, or the chat
`[DONE]` marker): does it carry output (text, reasoning, a refusal, a tool-call delta), is it
a tool-call delta, what usage does it carry, does it end the stream, does it report an error?
MEASURE.md: a token is an event that carries output; a role-only chunk is not.

Ends: chat ends with `data: [DONE]`; Responses with `response.completed`, `.incomplete` or
`.failed`; Gemini's last event carries a finishReason (and the usage), an array stream ends
with `]`.
"""

from __future__ import annotations

from typing import Any

# -- chat completions --------------------------------------------------------------------------------------
CHAT_OUTPUT_FIELDS = ("content", "reasoning_content", "reasoning", "refusal", "tool_calls")
DONE = b"[DONE]"


class Chat:
    name = "chat"

    @staticmethod
    def output(obj: dict[str, Any]) -> bool:
        for choice in obj.get("choices") or ():
            delta = choice.get("delta") or {}
            for f in CHAT_OUTPUT_FIELDS:
                if delta.get(f):
                    return True
        return False

    @staticmethod
    def tool_delta(obj: dict[str, Any]) -> bool:
        return any((c.get("delta") or {}).get("tool_calls") for c in obj.get("choices") or ())

    @staticmethod
    def usage(obj: dict[str, Any]) -> tuple[int, int] | None:
        """(prompt, completion) tokens, when the chunk carries usage."""
        usage = obj.get("usage")
        if not isinstance(usage, dict) or usage.get("completion_tokens") is None:
            return None
        return int(usage.get("prompt_tokens") or 0), int(usage["completion_tokens"] or 0)

    @staticmethod
    def ends(obj: dict[str, Any] | None, data: bytes = b"") -> bool:
        return data == DONE

    @staticmethod
    def error(obj: dict[str, Any]) -> str | None:
        if "error" not in obj:
            return None
        return _message(obj["error"], "upstream error")


# -- Responses ------------------------------------------------------------------------------------------------
RESPONSES_OUTPUT = frozenset({
    "response.output_text.delta", "response.function_call_arguments.delta", "response.refusal.delta",
    "response.reasoning_text.delta", "response.reasoning_summary_text.delta",
})
RESPONSES_TOOL_DELTA = "response.function_call_arguments.delta"
RESPONSES_END = frozenset({"response.completed", "response.incomplete", "response.failed"})


class Responses:
    name = "responses"

    @staticmethod
    def output(obj: dict[str, Any]) -> bool:
        return obj.get("type") in RESPONSES_OUTPUT and bool(obj.get("delta"))

    @staticmethod
    def tool_delta(obj: dict[str, Any]) -> bool:
        return obj.get("type") == RESPONSES_TOOL_DELTA

    @staticmethod
    def usage(obj: dict[str, Any]) -> tuple[int, int] | None:
        if obj.get("type") not in RESPONSES_END:
            return None
        usage = (obj.get("response") or {}).get("usage")
        if not isinstance(usage, dict) or usage.get("output_tokens") is None:
            return None
        return int(usage.get("input_tokens") or 0), int(usage["output_tokens"] or 0)

    @staticmethod
    def ends(obj: dict[str, Any] | None, data: bytes = b"") -> bool:
        return obj is not None and obj.get("type") in RESPONSES_END

    @staticmethod
    def error(obj: dict[str, Any]) -> str | None:
        kind = obj.get("type")
        if kind == "response.failed":
            return _message((obj.get("response") or {}).get("error"), "response failed")
        if kind == "error":
            return _message(obj.get("error", obj), "upstream error")
        return None


# -- Gemini ------------------------------------------------------------------------------------------------------
class Gemini:
    name = "gemini"

    @staticmethod
    def output(obj: dict[str, Any]) -> bool:
        for cand in obj.get("candidates") or ():
            for part in (cand.get("content") or {}).get("parts") or ():
                if part.get("text") or part.get("functionCall"):
                    return True
        return False

    @staticmethod
    def tool_delta(obj: dict[str, Any]) -> bool:
        return any(part.get("functionCall") for cand in obj.get("candidates") or ()
                   for part in (cand.get("content") or {}).get("parts") or ())

    @staticmethod
    def usage(obj: dict[str, Any]) -> tuple[int, int] | None:
        """Output tokens are candidates + thoughts (thinking is billed as output)."""
        meta = obj.get("usageMetadata")
        if not meta or not isinstance(meta, dict):
            return None
        out = int(meta.get("candidatesTokenCount") or 0) + int(meta.get("thoughtsTokenCount") or 0)
        return int(meta.get("promptTokenCount") or 0), out

    @staticmethod
    def ends(obj: dict[str, Any] | None, data: bytes = b"") -> bool:
        return obj is not None and any(c.get("finishReason") for c in obj.get("candidates") or ())

    @staticmethod
    def error(obj: dict[str, Any]) -> str | None:
        if "error" not in obj:
            return None
        return _message(obj["error"], "upstream error")


def _message(err: Any, default: str) -> str:
    if isinstance(err, dict):
        return str(err.get("message") or err.get("code") or default)
    return str(err) if err else default


SEMANTICS = {"chat": Chat, "responses": Responses, "gemini": Gemini}
