"""Chat completions in depth, the kind of checks vLLM's and llama.cpp's server tests and the public
OpenAI-compatibility testers make: limits, n, stop, chunk identity, the first delta's role, tool-call arguments,
parallel tool calls, structured output. Each works against a real model too (it asks for what any model does
and judges only what the API promises), and each has a break in tests/breaking_proxy.py that it catches."""

from __future__ import annotations

from typing import Any

import jsonschema
import orjson

from ..context import Ctx
from ..registry import check
from . import chat

LIMIT = 8  # max tokens for the cut answers: far below what the prompt asks for
LONG_PROMPT = "Write 200 words about the sea."
WEATHER_TOOL = {"type": "function", "function": {
    "name": "get_weather", "description": "Current weather of a city",
    "parameters": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]}}}
TIME_TOOL = {"type": "function", "function": {
    "name": "get_time", "description": "Current local time of a city",
    "parameters": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]}}}
PARALLEL_PROMPT = ("Call get_weather for Paris and get_time for Tokyo. Call both tools at once, in parallel, "
                   "in this one answer.")
PERSON_SCHEMA = {"type": "object", "additionalProperties": False, "required": ["name", "age", "hobbies"],
                 "properties": {"name": {"type": "string"}, "age": {"type": "integer"},
                                "hobbies": {"type": "array", "items": {"type": "string"}}}}


def _choices(ctx: Ctx, obj: dict[str, Any], what: str) -> list[dict[str, Any]]:
    ctx.valid("openai", "ChatCompletion", obj, what)
    return obj["choices"]


def streamed(ctx: Ctx, body: dict[str, Any], what: str) -> list[dict[str, Any]]:
    """The chunks of a chat stream asked with include_usage (validated, [DONE] dropped)."""
    cap = ctx.stream("POST", chat.PATH, json={**body, "stream": True, "stream_options": {"include_usage": True}})
    return chat.chunks_of(ctx, cap, what)


def by_choice(chunks: list[dict[str, Any]]) -> dict[int, dict[str, Any]]:
    """Per choice index: its streamed text and its finish_reason."""
    out: dict[int, dict[str, Any]] = {}
    for c in chunks:
        for ch in c.get("choices") or []:
            got = out.setdefault(ch["index"], {"text": "", "finish": None})
            got["text"] += (ch.get("delta") or {}).get("content") or ""
            got["finish"] = ch.get("finish_reason") or got["finish"]
    return out


def usage_of(chunks: list[dict[str, Any]]) -> dict[str, Any] | None:
    return next((c["usage"] for c in reversed(chunks) if c.get("usage")), None)


@check("chat.max_tokens", "max_tokens and max_completion_tokens cut a long answer: finish_reason \"length\" and "
       "completion_tokens within the limit, in a JSON answer and a stream", surface="openai.chat",
       needs=("setup.chat",))
def chat_max_tokens(ctx: Ctx) -> None:
    for field in ("max_tokens", "max_completion_tokens"):
        what = f"chat with {field}={LIMIT}"
        obj = ctx.ok_json(ctx.post(chat.PATH, chat.body(ctx, LONG_PROMPT, **{field: LIMIT})), what)
        choice = _choices(ctx, obj, what)[0]
        ctx.expect(choice["finish_reason"] == "length", f"{what}: finish_reason {choice['finish_reason']!r}, "
                   "expected 'length' (the answer was cut)")
        used = obj["usage"]["completion_tokens"]
        ctx.expect(0 < used <= LIMIT, f"{what}: completion_tokens {used}, expected 1..{LIMIT}")
        chunks = streamed(ctx, chat.body(ctx, LONG_PROMPT, **{field: LIMIT}), f"{what} (stream)")
        finish = by_choice(chunks).get(0, {}).get("finish")
        ctx.expect(finish == "length", f"{what} (stream): finish_reason {finish!r}, expected 'length'")
        usage = usage_of(chunks)
        ctx.expect(usage and 0 < usage["completion_tokens"] <= LIMIT,
                   f"{what} (stream): usage {usage}, expected completion_tokens 1..{LIMIT}")


@check("chat.n", "n: 2 gives two choices (index 0 and 1, each with content and a finish_reason), in a JSON answer "
       "and a stream", surface="openai.chat", needs=("setup.chat",))
def chat_n(ctx: Ctx) -> None:
    req = chat.body(ctx, "Name a colour and say why you like it.", n=2, max_tokens=60)
    obj = ctx.ok_json(ctx.post(chat.PATH, req), "chat with n=2")
    choices = _choices(ctx, obj, "chat with n=2")
    ctx.expect(sorted(c["index"] for c in choices) == [0, 1],
               f"chat with n=2: choices {[c['index'] for c in choices]}, expected indexes [0, 1]")
    for c in choices:
        ctx.expect(c["message"].get("content") and c["finish_reason"], f"chat with n=2: choice {c['index']} has no "
                   "content or no finish_reason")
    got = by_choice(streamed(ctx, req, "chat stream with n=2"))
    ctx.expect(sorted(got) == [0, 1], f"chat stream with n=2: chunks of choices {sorted(got)}, expected [0, 1]")
    for i, c in got.items():
        ctx.expect(c["text"] and c["finish"], f"chat stream with n=2: choice {i} streamed no content or no "
                   "finish_reason")


@check("chat.stop", "`stop` is honoured: with a word of the plain answer as the stop sequence, the answer ends "
       "before it (without it) with finish_reason \"stop\", in a JSON answer and a stream", surface="openai.chat",
       needs=("setup.chat",))
def chat_stop(ctx: Ctx) -> None:
    base = chat.body(ctx, "Write 40 words about a quiet harbor.", temperature=0, seed=7, max_tokens=120)
    plain = _choices(ctx, ctx.ok_json(ctx.post(chat.PATH, base), "chat without stop"), "chat without stop")[0]
    text = plain["message"].get("content") or ""
    words = [w for w in text.split() if len(w) >= 4 and w.isalpha()]
    ctx.expect(len(words) >= 4, f"chat without stop: too short an answer to pick a stop word from: {text[:120]!r}")
    stop = " " + words[len(words) // 2]  # a word in the middle of the answer, with the space before it
    what = f"chat with stop {stop!r}"
    cut = _choices(ctx, ctx.ok_json(ctx.post(chat.PATH, {**base, "stop": [stop]}), what), what)[0]
    got = cut["message"].get("content") or ""
    ctx.expect(stop not in got, f"{what}: the answer goes on past the stop sequence: {got[:160]!r}")
    ctx.expect(cut["finish_reason"] == "stop", f"{what}: finish_reason {cut['finish_reason']!r}, expected 'stop'")
    streamed_text = by_choice(streamed(ctx, {**base, "stop": [stop]}, f"{what} (stream)")).get(0, {}).get("text", "")
    ctx.expect(stop not in streamed_text, f"{what} (stream): the text goes on past the stop sequence: "
               f"{streamed_text[:160]!r}")


@check("sse.chat.chunk_identity", "Every chunk of a chat stream carries the same id, created and model; the first "
       "delta of each choice has role \"assistant\"", surface="openai.chat", needs=("setup.chat",))
def chat_chunk_identity(ctx: Ctx) -> None:
    chunks = streamed(ctx, chat.body(ctx, "Write 30 words about a lighthouse."), "chat stream")
    for field in ("id", "created", "model"):
        values = {c.get(field) for c in chunks}
        ctx.expect(len(values) == 1, f"chat stream: the chunks carry {len(values)} different values of `{field}`: "
                   f"{sorted(map(str, values))[:3]}")
    seen: set[int] = set()
    for n, c in enumerate(chunks):
        for ch in c.get("choices") or []:
            if ch["index"] in seen:
                continue
            seen.add(ch["index"])
            role = (ch.get("delta") or {}).get("role")
            ctx.expect(role == "assistant", f"chat stream: the first delta of choice {ch['index']} (chunk {n}) has "
                       f"role {role!r}, expected 'assistant'")
    ctx.expect(seen, "chat stream: no chunk with a choice")


@check("chat.tool_arguments", "Tool calls in a JSON answer: `function.arguments` is a string holding a JSON object "
       "(not an object), with the tool's required fields", surface="openai.chat", needs=("setup.chat",))
def chat_tool_arguments(ctx: Ctx) -> None:
    what = "chat with tool_choice=required"
    obj = ctx.ok_json(ctx.post(chat.PATH, chat.body(ctx, tools=[chat.CALC_TOOL], tool_choice="required")), what)
    calls = obj.get("choices", [{}])[0].get("message", {}).get("tool_calls") or []
    ctx.expect(calls, f"{what}: no tool_calls in the answer")
    for call in calls:
        args = (call.get("function") or {}).get("arguments")
        ctx.expect(isinstance(args, str), f"{what}: tool call {call.get('id')}: arguments is a JSON "
                   f"{type(args).__name__}, the API sends a string of JSON")
        try:
            parsed = orjson.loads(args)
        except orjson.JSONDecodeError:
            ctx.fail(f"{what}: tool call {call.get('id')}: arguments are not JSON: {args[:120]!r}")
        ctx.expect(isinstance(parsed, dict) and "expr" in parsed,
                   f"{what}: tool call {call.get('id')}: arguments {args[:120]!r} lack the required `expr`")
    ctx.valid("openai", "ChatCompletion", obj, what)


@check("chat.parallel_tool_calls", "Asked to call two tools at once (parallel_tool_calls true), the answer holds "
       "both calls, each with its own id and JSON arguments, in a JSON answer and a stream", surface="openai.chat",
       needs=("setup.chat",))
def chat_parallel_tool_calls(ctx: Ctx) -> None:
    req = chat.body(ctx, PARALLEL_PROMPT, tools=[WEATHER_TOOL, TIME_TOOL], parallel_tool_calls=True)
    what = "chat asking for two tool calls at once"
    choice = _choices(ctx, ctx.ok_json(ctx.post(chat.PATH, req), what), what)[0]
    calls = choice["message"].get("tool_calls") or []
    names = sorted((c.get("function") or {}).get("name") for c in calls)
    ctx.expect(names == ["get_time", "get_weather"], f"{what}: tool calls {names}, expected get_time and "
               "get_weather in one answer")
    ctx.expect(len({c["id"] for c in calls}) == 2, f"{what}: the calls share an id")
    ctx.expect(choice["finish_reason"] == "tool_calls", f"{what}: finish_reason {choice['finish_reason']!r}")
    chunks = streamed(ctx, req, f"{what} (stream)")
    firsts = [d for c in chunks for ch in c.get("choices") or [] for d in (ch.get("delta") or {}).get("tool_calls")
              or [] if d.get("id")]
    ctx.expect(sorted(d.get("index") for d in firsts) == [0, 1], f"{what} (stream): tool calls with indexes "
               f"{[d.get('index') for d in firsts]}, expected 0 and 1")


@check("chat.json_schema", "response_format json_schema (strict): the answer is JSON valid against the schema",
       surface="openai.chat", needs=("setup.chat",))
def chat_json_schema(ctx: Ctx) -> None:
    fmt = {"type": "json_schema", "json_schema": {"name": "person", "strict": True, "schema": PERSON_SCHEMA}}
    what = "chat with a strict json_schema"
    req = chat.body(ctx, "Invent a person: a name, an age and two hobbies.", response_format=fmt)
    choice = _choices(ctx, ctx.ok_json(ctx.post(chat.PATH, req), what), what)[0]
    content = choice["message"].get("content") or ""
    try:
        value = orjson.loads(content)
    except orjson.JSONDecodeError:
        ctx.fail(f"{what}: the content is not JSON: {content[:160]!r}")
    problems = [f"{'/'.join(map(str, e.absolute_path)) or '(root)'}: {e.message}"
                for e in jsonschema.Draft202012Validator(PERSON_SCHEMA).iter_errors(value)]
    ctx.expect(not problems, f"{what}: the content does not match the schema: {'; '.join(problems[:3])}")
