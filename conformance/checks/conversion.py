"""Every text model through every text dialect: the Gemini model called through chat completions and
Responses, the chat model called through Gemini's generateContent, JSON and streams, judged by the same
rules as each dialect's own checks (the answers must be indistinguishable from a native model's).

They run when the target offers both dialects of a pair (per the profile); a gateway that relays each
dialect only to its own provider fails them with the refusal it gave.
"""

from __future__ import annotations

from typing import Any

import orjson

from ..context import Ctx
from ..registry import check
from . import chat, gemini, responses

CALC_GEMINI = {"functionDeclarations": [{
    "name": "calc", "description": "evaluate an arithmetic expression",
    "parameters": {"type": "OBJECT", "properties": {"expr": {"type": "STRING"}}, "required": ["expr"]}}]}


def _chat_body(ctx: Ctx, **extra: Any) -> dict[str, Any]:
    return {**chat.body(ctx, **extra), "model": ctx.target.gemini_model}


def _responses_body(ctx: Ctx, **extra: Any) -> dict[str, Any]:
    return {**responses.body(ctx, **extra), "model": ctx.target.gemini_model}


def _gemini_path(ctx: Ctx, verb: str) -> str:
    return f"{gemini.OFFICIAL}/models/{ctx.target.chat_model}:{verb}"


@check("convert.chat_gemini_model", "The Gemini model through chat completions: a valid ChatCompletion with "
       "content and consistent usage; streamed, valid chunks, one usage chunk (include_usage) and [DONE] last",
       surface=("openai.chat", "gemini"), needs=("setup.gemini",))
def chat_gemini_model(ctx: Ctx) -> None:
    what = f"chat completion of {ctx.target.gemini_model}"
    obj = ctx.ok_json(ctx.post(chat.PATH, _chat_body(ctx)), what)
    ctx.valid("openai", "ChatCompletion", obj, what)
    ctx.expect(obj["choices"][0]["message"].get("content"), f"{what}: no content")
    ctx.expect(obj.get("model") == ctx.target.gemini_model, f"{what}: model {obj.get('model')!r}, expected the "
               "model asked for")
    chat.usage_consistent(ctx, obj["usage"], f"{what} usage")
    what = f"chat stream of {ctx.target.gemini_model}"
    cap = ctx.stream("POST", chat.PATH, json=_chat_body(ctx, stream=True, stream_options={"include_usage": True}))
    chunks = chat.chunks_of(ctx, cap, what)
    ctx.expect(cap.events[-1].is_done, f"{what}: the last event is not [DONE]")
    with_usage = [c for c in chunks if c.get("usage")]
    ctx.expect(len(with_usage) == 1 and with_usage[0] is chunks[-1] and chunks[-1]["choices"] == [],
               f"{what}: expected exactly one usage chunk with no choices, last")
    chat.usage_consistent(ctx, chunks[-1]["usage"], f"{what} usage")
    text = "".join((c["choices"][0]["delta"].get("content") or "") for c in chunks if c.get("choices"))
    ctx.expect(text, f"{what}: no content was streamed")


@check("convert.chat_gemini_tools", "The Gemini model through chat completions calls a tool (id, name, JSON "
       "arguments, finish_reason tool_calls) and answers from the tool's result",
       surface=("openai.chat", "gemini"), needs=("setup.gemini",))
def chat_gemini_tools(ctx: Ctx) -> None:
    what = f"chat tool call of {ctx.target.gemini_model}"
    body = _chat_body(ctx, tools=[chat.CALC_TOOL], tool_choice="required")
    obj = ctx.ok_json(ctx.post(chat.PATH, body), what)
    ctx.valid("openai", "ChatCompletion", obj, what)
    choice = obj["choices"][0]
    calls = choice["message"].get("tool_calls") or []
    ctx.expect(calls and choice["finish_reason"] == "tool_calls", f"{what}: no tool call (finish_reason "
               f"{choice['finish_reason']!r})")
    call = calls[0]
    ctx.expect(call.get("id") and call["function"]["name"] == "calc", f"{what}: the call has no id or another name")
    try:
        orjson.loads(call["function"]["arguments"])
    except orjson.JSONDecodeError:
        ctx.fail(f"{what}: arguments are not JSON: {call['function']['arguments'][:200]!r}")
    follow = {**body, "tool_choice": "auto", "messages": [
        *body["messages"], choice["message"],
        {"role": "tool", "tool_call_id": call["id"], "content": "result: 6 (from calc 9931)"}]}
    what = f"chat answer of {ctx.target.gemini_model} after a tool result"
    obj = ctx.ok_json(ctx.post(chat.PATH, follow), what)
    ctx.valid("openai", "ChatCompletion", obj, what)
    ctx.expect(obj["choices"][0]["message"].get("content"), f"{what}: no content")


@check("convert.responses_gemini_model", "The Gemini model through Responses: a completed, valid Response; a "
       "stream in the Responses event order with usage; a function call; previous_response_id continues the "
       "conversation or is refused with a 400 naming it, never ignored",
       surface=("openai.responses", "gemini"), needs=("setup.gemini",))
def responses_gemini_model(ctx: Ctx) -> None:
    what = f"Responses answer of {ctx.target.gemini_model}"
    obj = responses.completed(ctx, ctx.ok_json(ctx.post(responses.OFFICIAL, _responses_body(ctx)), what), what)
    ctx.expect(responses.output_text(obj), f"{what}: no output_text")
    cap = ctx.stream("POST", responses.OFFICIAL, json=_responses_body(ctx, stream=True))
    final = responses.check_stream(ctx, cap, f"Responses stream of {ctx.target.gemini_model}")
    ctx.expect(responses.output_text(final), "the streamed Response has no output_text")
    what = f"Responses function call of {ctx.target.gemini_model}"
    called = ctx.ok_json(ctx.post(responses.OFFICIAL, _responses_body(
        ctx, tools=[responses.CALC_TOOL], tool_choice="required")), what)
    ctx.expect(responses.function_calls(called), f"{what}: no function_call in the output")
    r = ctx.post(responses.OFFICIAL, {"model": ctx.target.gemini_model, "previous_response_id": obj["id"],
                                      "input": "and now in one word"})
    if r.status_code != 200:
        err = ctx.openai_error(r, 400, "previous_response_id on a converted model")
        ctx.expect(err.get("param") == "previous_response_id" or "previous_response_id" in (err.get("message") or ""),
                   f"previous_response_id refused without naming it: {err}")


@check("convert.gemini_chat_model", "The chat model through Gemini: generateContent answers a valid "
       "GenerateContentResponse with text, finishReason and usage; alt=sse and the JSON-array stream as a Gemini "
       "model's; a functionCall and an answer from its functionResponse",
       surface=("gemini", "openai.chat"), needs=("setup.chat",))
def gemini_chat_model(ctx: Ctx) -> None:
    what = f"generateContent of {ctx.target.chat_model}"
    obj = ctx.ok_json(ctx.post(_gemini_path(ctx, "generateContent"), gemini.body()), what)
    ctx.valid("gemini", "GenerateContentResponse", obj, what)
    ctx.expect(gemini.text_of(obj) and gemini.finish_reasons(obj), f"{what}: no text or no finishReason")
    gemini.usage_consistent(ctx, obj.get("usageMetadata"), what)
    cap = ctx.stream("POST", _gemini_path(ctx, "streamGenerateContent"), json=gemini.body(), params={"alt": "sse"})
    gemini.check_sse(ctx, cap, f"Gemini SSE stream of {ctx.target.chat_model}")
    what = f"JSON-array stream of {ctx.target.chat_model}"
    r = ctx.post(_gemini_path(ctx, "streamGenerateContent"), gemini.body())
    arr = ctx.json_of(r, what)
    ctx.expect(r.status_code == 200 and isinstance(arr, list), f"{what}: HTTP {r.status_code}, not a JSON array")
    gemini.check_pieces(ctx, arr, what)
    what = f"functionCall of {ctx.target.chat_model}"
    question = {"role": "user", "parts": [{"text": "帮我计算1+5等于多少"}]}
    body = {"contents": [question], "tools": [CALC_GEMINI],
            "toolConfig": {"functionCallingConfig": {"mode": "ANY"}}}
    obj = ctx.ok_json(ctx.post(_gemini_path(ctx, "generateContent"), body), what)
    ctx.valid("gemini", "GenerateContentResponse", obj, what)
    parts = obj["candidates"][0]["content"]["parts"]
    calls = [p["functionCall"] for p in parts if p.get("functionCall")]
    ctx.expect(calls and calls[0].get("name") == "calc", f"{what}: no functionCall of calc in {parts}")
    reply = {"role": "user", "parts": [{"functionResponse": {
        **({"id": calls[0]["id"]} if calls[0].get("id") else {}), "name": "calc",
        "response": {"result": "6 (from calc 9931)"}}}]}
    body = {"contents": [question, obj["candidates"][0]["content"], reply], "tools": [CALC_GEMINI]}
    what = f"answer of {ctx.target.chat_model} after a functionResponse"
    obj = ctx.ok_json(ctx.post(_gemini_path(ctx, "generateContent"), body), what)
    ctx.expect(gemini.text_of(obj), f"{what}: no text")


@check("convert.refuses_uncarried", "A field the model's node cannot carry (logit_bias for a Gemini model) is a 400 "
       "naming it in the caller's dialect, never silently dropped",
       surface=("openai.chat", "gemini"), needs=("setup.gemini",))
def refuses_uncarried(ctx: Ctx) -> None:
    r = ctx.post(chat.PATH, _chat_body(ctx, logit_bias={"50256": -100}))
    err = ctx.openai_error(r, 400, f"logit_bias for {ctx.target.gemini_model}")
    ctx.expect("logit_bias" in (err.get("param") or "") + (err.get("message") or ""),
               f"the refusal does not name logit_bias: {err}")
