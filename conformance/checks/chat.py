"""Chat completions: JSON answers, SSE framing, [DONE], include_usage, tool-call deltas."""

from __future__ import annotations

from typing import Any

import orjson

from ..context import Capture, Ctx
from ..registry import check

PATH = "/v1/chat/completions"
CALC_TOOL = {"type": "function", "function": {
    "name": "calc", "description": "计算数学表达式 (evaluate an arithmetic expression)",
    "parameters": {"type": "object", "properties": {"expr": {"type": "string"}}, "required": ["expr"]}}}


def body(ctx: Ctx, text: str = "帮我计算1+5等于多少", **extra: Any) -> dict[str, Any]:
    return {"model": ctx.target.chat_model, "messages": [{"role": "user", "content": text}], **extra}


def chunks_of(ctx: Ctx, cap: Capture, what: str) -> list[dict[str, Any]]:
    """The JSON chunks of a chat stream (everything but [DONE]), each validated."""
    ctx.sse_opened(cap, what)
    out = []
    for i, ev in enumerate(cap.events):
        if ev.is_done:
            continue
        try:
            obj = ev.json()
        except orjson.JSONDecodeError:
            ctx.fail(f"{what}: event {i} is not JSON: {ev.data[:120]!r}")
        ctx.expect("error" not in obj, f"{what}: event {i} is an error event: {ev.data[:200]}")
        ctx.valid("openai", "ChatCompletionChunk", obj, f"{what}: event {i}")
        out.append(obj)
    ctx.expect(out, f"{what}: no chunks")
    return out


def usage_consistent(ctx: Ctx, usage: dict[str, Any], what: str) -> None:
    p, c, t = usage.get("prompt_tokens"), usage.get("completion_tokens"), usage.get("total_tokens")
    ctx.expect(all(isinstance(v, int) for v in (p, c, t)), f"{what}: usage has non-integer counts: {usage}")
    ctx.expect(p + c == t, f"{what}: prompt_tokens {p} + completion_tokens {c} != total_tokens {t}")
    ctx.expect(p > 0 and c > 0, f"{what}: usage counts must be positive: {usage}")


@check("chat.json", "A non-streamed chat completion is a valid ChatCompletion with consistent usage",
       surface="openai.chat", needs=("setup.chat",))
def chat_json(ctx: Ctx) -> None:
    obj = ctx.ok_json(ctx.post(PATH, body(ctx, stream=False)), "chat")
    ctx.valid("openai", "ChatCompletion", obj, "chat answer")
    ctx.expect(obj["choices"][0]["message"].get("content"), "chat: the answer has no content")
    usage_consistent(ctx, obj["usage"], "chat usage")


@check("sse.chat.framing", "A chat stream is text/event-stream of `data:` events, each a valid chunk of one id",
       surface="openai.chat", needs=("setup.chat",))
def chat_framing(ctx: Ctx) -> None:
    cap = ctx.stream("POST", PATH, json=body(ctx, stream=True))
    chunks = chunks_of(ctx, cap, "chat stream")
    ids = {c["id"] for c in chunks}
    ctx.expect(len(ids) == 1, f"chat stream: chunks carry {len(ids)} different ids: {sorted(ids)[:3]}")
    for i, ev in enumerate(cap.events):
        ctx.expect(ev.event in (None, "message"), f"chat stream: event {i} has an `event: {ev.event}` line")
    text = "".join((c["choices"][0]["delta"].get("content") or "") for c in chunks if c.get("choices"))
    ctx.expect(text, "chat stream: no content was streamed")
    finishes = [c["choices"][0].get("finish_reason") for c in chunks if c.get("choices")]
    ctx.expect(finishes and finishes[-1], "chat stream: the last choice chunk has no finish_reason")


@check("sse.chat.done", "A chat stream ends with exactly one `data: [DONE]`, as its last event",
       surface="openai.chat", needs=("setup.chat",))
def chat_done(ctx: Ctx) -> None:
    cap = ctx.stream("POST", PATH, json=body(ctx, stream=True))
    ctx.expect(cap.status == 200, f"chat stream: HTTP {cap.status}")
    done = [i for i, ev in enumerate(cap.events) if ev.is_done]
    ctx.expect(done, "chat stream: no `data: [DONE]` event")
    ctx.expect(len(done) == 1, f"chat stream: {len(done)} [DONE] events")
    ctx.expect(done[0] == len(cap.events) - 1, "chat stream: events follow [DONE]")
    ctx.expect(cap.raw.rstrip(b"\r\n").endswith(b"[DONE]"), "chat stream: bytes after [DONE]")


@check("sse.chat.include_usage", "stream_options.include_usage: one extra chunk with `choices: []` and full "
       "usage, right before [DONE]; every other chunk has `usage: null`", surface="openai.chat", needs=("setup.chat",))
def chat_include_usage(ctx: Ctx) -> None:
    cap = ctx.stream("POST", PATH, json=body(ctx, stream=True, stream_options={"include_usage": True}))
    chunks = chunks_of(ctx, cap, "chat stream with include_usage")
    with_usage = [i for i, c in enumerate(chunks) if c.get("usage")]
    ctx.expect(len(with_usage) == 1, f"include_usage: {len(with_usage)} chunks carry usage, expected exactly 1")
    last = chunks[with_usage[0]]
    ctx.expect(with_usage[0] == len(chunks) - 1, "include_usage: the usage chunk is not the last before [DONE]")
    ctx.expect(last.get("choices") == [], f"include_usage: the usage chunk has choices {last.get('choices')!r}")
    for i, c in enumerate(chunks[:-1]):
        ctx.expect("usage" in c and c["usage"] is None, f"include_usage: chunk {i} has usage {c.get('usage')!r}, "
                   "expected null")
    usage_consistent(ctx, last["usage"], "include_usage chunk")


@check("sse.chat.no_usage_unasked", "Without include_usage, no usage-only chunk is sent (the gateway strips the "
       "one it asked the upstream for)", surface="openai.chat", needs=("setup.chat",))
def chat_no_usage(ctx: Ctx) -> None:
    chunks = chunks_of(ctx, ctx.stream("POST", PATH, json=body(ctx, stream=True)), "chat stream")
    extra = [c for c in chunks if not c.get("choices")]
    ctx.expect(not extra, f"chat stream without include_usage has {len(extra)} chunk(s) with no choices: "
               f"{orjson.dumps(extra[0])[:200].decode() if extra else ''}")
    ctx.expect(not any(c.get("usage") for c in chunks), "chat stream without include_usage carries usage")


@check("sse.chat.tool_calls", "Streamed tool calls: stable index; id, type and name once per call, on its first "
       "delta; arguments reassemble to valid JSON", surface="openai.chat", needs=("setup.chat",))
def chat_tool_calls(ctx: Ctx) -> None:
    cap = ctx.stream("POST", PATH, json=body(ctx, stream=True, tools=[CALC_TOOL], tool_choice="required"))
    chunks = chunks_of(ctx, cap, "tool-call stream")
    calls: dict[int, dict[str, Any]] = {}
    for n, c in enumerate(chunks):
        for choice in c.get("choices") or []:
            for d in (choice.get("delta") or {}).get("tool_calls") or []:
                idx = d.get("index")
                ctx.expect(isinstance(idx, int), f"chunk {n}: a tool-call delta without an integer index")
                first = idx not in calls
                call = calls.setdefault(idx, {"id": None, "name": None, "args": ""})
                for field, value in (("id", d.get("id")), ("name", (d.get("function") or {}).get("name"))):
                    if value is not None:
                        ctx.expect(first, f"chunk {n}: tool call {idx} repeats its {field} after its first delta")
                        call[field] = value
                if first:
                    ctx.expect(d.get("id") and d.get("type") == "function" and (d.get("function") or {}).get("name"),
                               f"chunk {n}: the first delta of tool call {idx} lacks id, type or function.name")
                call["args"] += (d.get("function") or {}).get("arguments") or ""
    ctx.expect(calls, "tool_choice=required: no tool call was streamed")
    ids = [c["id"] for c in calls.values()]
    ctx.expect(len(set(ids)) == len(ids), f"tool calls share ids: {ids}")
    for idx, call in calls.items():
        try:
            args = orjson.loads(call["args"])
        except orjson.JSONDecodeError:
            ctx.fail(f"tool call {idx}: arguments do not reassemble to JSON: {call['args'][:200]!r}")
        ctx.expect(isinstance(args, dict), f"tool call {idx}: arguments are not a JSON object")
    finishes = [ch.get("finish_reason") for c in chunks for ch in c.get("choices") or [] if ch.get("finish_reason")]
    ctx.expect(finishes == ["tool_calls"], f"tool-call stream: finish_reason {finishes}, expected ['tool_calls']")
