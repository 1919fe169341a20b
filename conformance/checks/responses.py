"""Responses API: JSON answers, the SSE event sequence, no [DONE], streamed function-call arguments."""

from __future__ import annotations

from typing import Any

import orjson

from ..context import Capture, Ctx
from ..registry import check

OFFICIAL, GUIDE = "/v1/responses", "/responses/v1/responses"  # the official path and the usage guide's
PATHS = (GUIDE, OFFICIAL)


def paths(ctx: Ctx) -> list[str]:
    """The official path, and the guide's when the target offers the guide's forms."""
    return [OFFICIAL] + ([GUIDE] if ctx.offers("topapi") else [])
CALC_TOOL = {"type": "function", "name": "calc", "description": "计算数学表达式 (evaluate an arithmetic expression)",
             "parameters": {"type": "object", "properties": {"expr": {"type": "string"}}, "required": ["expr"]}}
# the event types our document describes; others (reasoning, annotations...) are allowed and only sequenced
KNOWN_EVENTS = frozenset({
    "response.created", "response.in_progress", "response.output_item.added", "response.content_part.added",
    "response.output_text.delta", "response.output_text.done", "response.content_part.done",
    "response.output_item.done", "response.function_call_arguments.delta", "response.function_call_arguments.done",
    "response.completed", "response.incomplete", "response.failed", "error"})
TERMINAL = ("response.completed", "response.incomplete", "response.failed", "error")


def body(ctx: Ctx, text: str = "帮我计算1+5等于多少", **extra: Any) -> dict[str, Any]:
    return {"model": ctx.target.chat_model, "input": [{"role": "user", "content": text}], **extra}


def usage_consistent(ctx: Ctx, usage: Any, what: str) -> None:
    ctx.expect(isinstance(usage, dict), f"{what}: no usage object ({usage!r})")
    i, o, t = usage.get("input_tokens"), usage.get("output_tokens"), usage.get("total_tokens")
    ctx.expect(all(isinstance(v, int) for v in (i, o, t)), f"{what}: usage has non-integer counts: {usage}")
    ctx.expect(i + o == t, f"{what}: input_tokens {i} + output_tokens {o} != total_tokens {t}")
    ctx.expect(i > 0 and o > 0, f"{what}: usage counts must be positive: {usage}")


def output_text(response: dict[str, Any]) -> str:
    return "".join(part.get("text") or "" for item in response.get("output") or [] if item.get("type") == "message"
                   for part in item.get("content") or [] if part.get("type") == "output_text")


def completed(ctx: Ctx, obj: Any, what: str) -> dict[str, Any]:
    """A valid, completed Response with consistent usage."""
    ctx.valid("openai", "Response", obj, what)
    ctx.expect(obj["status"] == "completed", f"{what}: status {obj['status']!r}, expected 'completed' "
               f"(error: {obj.get('error')})")
    usage_consistent(ctx, obj.get("usage"), f"{what} usage")
    return obj


def function_calls(response: dict[str, Any]) -> list[dict[str, Any]]:
    return [item for item in response.get("output") or [] if item.get("type") == "function_call"]


class _Item:
    """What the events have said so far about one output item."""

    def __init__(self, index: int, item: dict[str, Any]) -> None:
        self.index, self.id, self.type = index, item.get("id"), item.get("type")
        self.parts: list[dict[str, Any]] = []  # {"text": joined deltas, "done": text of .done or None, "closed"}
        self.args: str = ""
        self.args_done: str | None = None
        self.done: dict[str, Any] | None = None


def stream_events(ctx: Ctx, cap: Capture, what: str) -> list[dict[str, Any]]:
    """The JSON events of a Responses stream, each named by its `event:` line and numbered 0..n-1."""
    ctx.sse_opened(cap, what)
    out = []
    for i, ev in enumerate(cap.events):
        ctx.expect(not ev.is_done, f"{what}: event {i} is `data: [DONE]`: Responses streams end without it",
                   cause="sse.responses.done")
        try:
            obj = ev.json()
        except orjson.JSONDecodeError:
            ctx.fail(f"{what}: event {i} is not JSON: {ev.data[:120]!r}")
        ctx.expect(isinstance(obj, dict) and isinstance(obj.get("type"), str), f"{what}: event {i} has no type")
        ctx.expect(ev.event == obj["type"], f"{what}: event {i} is named `event: {ev.event}` but its payload type "
                   f"is {obj['type']!r}", cause="sse.responses.event_lines")
        ctx.expect(obj.get("sequence_number") == i, f"{what}: event {i} ({obj['type']}) has sequence_number "
                   f"{obj.get('sequence_number')!r}, expected {i} (0..n-1 without gaps)")
        if obj["type"] in KNOWN_EVENTS:
            ctx.valid("openai", "ResponseStreamEvent", obj, f"{what}: event {i} ({obj['type']})")
        out.append(obj)
    ctx.expect(out, f"{what}: no events")
    return out


def check_stream(ctx: Ctx, cap: Capture, what: str) -> dict[str, Any]:
    """Validate a whole Responses stream; returns the final Response of `response.completed`.

    Order: created, in_progress, then per output item (output_index 0, 1, ... one at a time):
    output_item.added, [content_part.added, output_text.delta*, output_text.done, content_part.done]* or
    function_call_arguments.delta*, .done, then output_item.done; last response.completed. The indexes and
    item ids of every event match the item they belong to, and the deltas join to each `.done` text.
    """
    events = stream_events(ctx, cap, what)
    types = [e["type"] for e in events]
    for i, e in enumerate(events):
        if e["type"] in ("response.failed", "error"):
            ctx.fail(f"{what}: event {i} is {e['type']}: {orjson.dumps(e)[:300].decode()}")
    ctx.expect(types[:2] == ["response.created", "response.in_progress"],
               f"{what}: the stream starts with {types[:2]}, expected response.created, response.in_progress")
    ctx.expect(types[-1] == "response.completed", f"{what}: the last event is {types[-1]}, expected response.completed")
    for i, t in enumerate(types[2:-1], start=2):
        ctx.expect(t not in ("response.created", "response.in_progress") + TERMINAL,
                   f"{what}: event {i} is a second {t} in the middle of the stream")

    items: list[_Item] = []
    cur: _Item | None = None

    def at(i: int, e: dict[str, Any], *, part: bool = False) -> _Item:
        """The open item (and, with part, its open content part) this event must refer to."""
        where = f"{what}: event {i} ({e['type']})"
        ctx.expect(cur is not None, f"{where} comes outside any output item (no open output_item.added)")
        assert cur is not None
        ctx.expect(e.get("output_index") == cur.index,
                   f"{where}: output_index {e.get('output_index')!r}, but the open item has index {cur.index}")
        if "item_id" in e or e["type"] != "response.output_item.done":
            ctx.expect(e.get("item_id") == cur.id, f"{where}: item_id {e.get('item_id')!r}, but the open item is "
                       f"{cur.id!r}")
        if part:
            ctx.expect(cur.parts and not cur.parts[-1]["closed"], f"{where}: no open content part")
            ctx.expect(e.get("content_index") == len(cur.parts) - 1, f"{where}: content_index "
                       f"{e.get('content_index')!r}, but the open part has index {len(cur.parts) - 1}")
        return cur

    for i, e in enumerate(events[2:-1], start=2):
        t, where = e["type"], f"{what}: event {i} ({e['type']})"
        if t == "response.output_item.added":
            ctx.expect(cur is None, f"{where}: item {e.get('output_index')} opens while item {cur and cur.index} "
                       "is not done")
            ctx.expect(e.get("output_index") == len(items), f"{where}: output_index {e.get('output_index')!r}, "
                       f"expected {len(items)} (items are numbered in order)")
            cur = _Item(len(items), e["item"])
            ctx.expect(cur.id, f"{where}: the item has no id")
            items.append(cur)
        elif t == "response.content_part.added":
            it = at(i, e)
            ctx.expect(it.type == "message", f"{where}: a content part on a {it.type} item")
            ctx.expect(not it.parts or it.parts[-1]["closed"], f"{where}: the previous part is not done")
            ctx.expect(e.get("content_index") == len(it.parts), f"{where}: content_index {e.get('content_index')!r}"
                       f", expected {len(it.parts)}")
            it.parts.append({"text": "", "done": None, "closed": False})
        elif t == "response.output_text.delta":
            it = at(i, e, part=True)
            ctx.expect(it.parts[-1]["done"] is None, f"{where}: a delta after output_text.done")
            it.parts[-1]["text"] += e["delta"]
        elif t == "response.output_text.done":
            p = at(i, e, part=True).parts[-1]
            ctx.expect(e["text"] == p["text"], f"{where}: text {e['text'][:80]!r} is not the deltas joined "
                       f"({p['text'][:80]!r})")
            p["done"] = e["text"]
        elif t == "response.content_part.done":
            p = at(i, e, part=True).parts[-1]
            ctx.expect(p["done"] is not None or e["part"].get("type") != "output_text",
                       f"{where}: the part closes before output_text.done")
            ctx.expect(e["part"].get("text", p["text"]) == p["text"], f"{where}: part text "
                       f"{e['part'].get('text', '')[:80]!r} differs from the streamed {p['text'][:80]!r}")
            p["closed"] = True
        elif t == "response.function_call_arguments.delta":
            it = at(i, e)
            ctx.expect(it.type == "function_call", f"{where}: arguments on a {it.type} item")
            ctx.expect(it.args_done is None, f"{where}: a delta after function_call_arguments.done")
            it.args += e["delta"]
        elif t == "response.function_call_arguments.done":
            it = at(i, e)
            ctx.expect(it.type == "function_call", f"{where}: arguments on a {it.type} item")
            ctx.expect(e["arguments"] == it.args, f"{where}: arguments {e['arguments'][:80]!r} are not the deltas "
                       f"joined ({it.args[:80]!r})")
            it.args_done = e["arguments"]
        elif t == "response.output_item.done":
            it = at(i, e)
            item = e["item"]
            ctx.expect(item.get("id") == it.id, f"{where}: item id {item.get('id')!r}, expected {it.id!r}")
            if it.type == "message":
                ctx.expect(all(p["closed"] for p in it.parts), f"{where}: a content part is still open")
                texts = [c.get("text") for c in item.get("content") or []]
                ctx.expect(texts == [p["text"] for p in it.parts], f"{where}: the item's texts differ from the "
                           "streamed ones")
            elif it.type == "function_call":
                ctx.expect(it.args_done is not None, f"{where}: no function_call_arguments.done before it")
                ctx.expect(item.get("arguments") == it.args, f"{where}: item arguments "
                           f"{item.get('arguments', '')[:80]!r} differ from the streamed {it.args[:80]!r}")
            it.done = item
            cur = None
        # other event types (reasoning, annotations, ...) are only sequence-checked
    ctx.expect(cur is None, f"{what}: item {cur and cur.index} is never done")
    ctx.expect(items, f"{what}: no output item was streamed")

    final = completed(ctx, events[-1]["response"], f"{what}: response.completed")
    out = final.get("output") or []
    ctx.expect([o.get("id") for o in out] == [it.id for it in items],
               f"{what}: response.completed lists items {[o.get('id') for o in out]}, the stream had "
               f"{[it.id for it in items]}")
    for o, it in zip(out, items, strict=True):
        ctx.expect(o == it.done, f"{what}: output[{it.index}] of response.completed differs from its "
                   "output_item.done")
    ids = {e["response"]["id"] for e in events if "response" in e}
    ctx.expect(len(ids) == 1, f"{what}: the stream's response objects carry different ids: {sorted(ids)}")
    return final


@check("responses.json", "A non-streamed Responses answer (both paths) is a completed, valid Response with "
       "output text and consistent usage", surface="openai.responses", needs=("setup.responses",))
def responses_json(ctx: Ctx) -> None:
    for path in paths(ctx):
        obj = completed(ctx, ctx.ok_json(ctx.post(path, body(ctx, stream=False)), f"POST {path}"), f"POST {path}")
        ctx.expect(output_text(obj), f"POST {path}: the Response has no output_text")


@check("sse.responses.order", "A Responses stream: created, in_progress, items added/delta/done with matching "
       "output_index/content_index/item_id, sequence_number 0..n-1, deltas join to the final text, "
       "response.completed with usage last", surface="openai.responses", needs=("setup.responses",))
def responses_order(ctx: Ctx) -> None:
    cap = ctx.stream("POST", OFFICIAL, json=body(ctx, stream=True))
    final = check_stream(ctx, cap, "Responses stream")
    ctx.expect(output_text(final), "Responses stream: the completed response has no output_text")


@check("sse.responses.no_done", "A Responses stream has no `data: [DONE]`; it ends with response.completed",
       surface="openai.responses", needs=("setup.responses",))
def responses_no_done(ctx: Ctx) -> None:
    cap = ctx.stream("POST", OFFICIAL, json=body(ctx, stream=True))
    ctx.expect(cap.status == 200, f"Responses stream: HTTP {cap.status}: {cap.raw[:300]!r}")
    done = [i for i, ev in enumerate(cap.events) if ev.is_done]
    ctx.expect(not done, f"Responses stream: event {done[0] if done else ''} is `data: [DONE]`, which only chat "
               "completions send", cause="sse.responses.done")
    ctx.expect(b"[DONE]" not in cap.raw, "Responses stream: the bytes contain [DONE]")
    ctx.expect(cap.events, "Responses stream: no events")
    last = cap.events[-1]
    ctx.expect(last.event == "response.completed", f"Responses stream: the last event is {last.event!r}, expected "
               "response.completed")


@check("sse.responses.tool_call", "A streamed Responses function call: function_call item, "
       "function_call_arguments.delta/.done, the final arguments valid JSON and the same in response.completed",
       surface="openai.responses", needs=("setup.responses",))
def responses_tool_call(ctx: Ctx) -> None:
    cap = ctx.stream("POST", OFFICIAL, json=body(ctx, stream=True, tools=[CALC_TOOL], tool_choice="required"))
    final = check_stream(ctx, cap, "Responses tool-call stream")
    types = [e.get("type") for e in cap.json_events()]
    for t in ("response.function_call_arguments.delta", "response.function_call_arguments.done"):
        ctx.expect(t in types, f"Responses tool-call stream: no {t} event")
    calls = function_calls(final)
    ctx.expect(calls, "Responses tool-call stream (tool_choice=required): no function_call in the output")
    for call in calls:
        ctx.expect(call["name"] == "calc", f"function_call names {call['name']!r}, the only tool is 'calc'")
        try:
            args = orjson.loads(call["arguments"])
        except orjson.JSONDecodeError:
            ctx.fail(f"function_call {call['call_id']}: arguments are not JSON: {call['arguments'][:200]!r}")
        ctx.expect(isinstance(args, dict), f"function_call {call['call_id']}: arguments are not a JSON object")
