"""Checks across dialects: Responses cut by max_output_tokens, usage that counts and sums up in every answer
form, and errors never answered with a 2xx."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import httpx

from ..context import Ctx
from ..registry import Case, Sub, cases, check
from . import chat, depth_chat, depth_gemini, gemini, responses

RESPONSES_LIMIT = 16  # the smallest max_output_tokens the API takes


@check("responses.max_output_tokens", "max_output_tokens cuts a long Responses answer: status \"incomplete\" with "
       "incomplete_details.reason max_output_tokens and output_tokens within the limit; a stream ends with "
       "response.incomplete", surface="openai.responses", needs=("setup.responses",))
def responses_max_output_tokens(ctx: Ctx) -> None:
    req = responses.body(ctx, depth_chat.LONG_PROMPT, max_output_tokens=RESPONSES_LIMIT)
    what = f"Responses with max_output_tokens={RESPONSES_LIMIT}"
    obj = ctx.ok_json(ctx.post(responses.OFFICIAL, req), what)
    ctx.valid("openai", "Response", obj, what)
    ctx.expect(obj["status"] == "incomplete", f"{what}: status {obj['status']!r}, expected 'incomplete'")
    reason = (obj.get("incomplete_details") or {}).get("reason")
    ctx.expect(reason == "max_output_tokens", f"{what}: incomplete_details.reason {reason!r}, expected "
               "'max_output_tokens'")
    used = (obj.get("usage") or {}).get("output_tokens")
    ctx.expect(isinstance(used, int) and 0 < used <= RESPONSES_LIMIT,
               f"{what}: usage.output_tokens {used!r}, expected 1..{RESPONSES_LIMIT}")
    events = responses.stream_events(ctx, ctx.stream("POST", responses.OFFICIAL, json={**req, "stream": True}),
                                     f"{what} (stream)")
    last = events[-1]
    ctx.expect(last["type"] == "response.incomplete", f"{what} (stream): the last event is {last['type']}, "
               "expected response.incomplete")
    ctx.expect(last["response"]["status"] == "incomplete", f"{what} (stream): the final response has status "
               f"{last['response']['status']!r}")


# -- usage ----------------------------------------------------------------------------------------------------
def _chat_json(ctx: Ctx) -> None:
    obj = ctx.ok_json(ctx.post(chat.PATH, chat.body(ctx)), "chat")
    chat.usage_consistent(ctx, obj.get("usage") or {}, "chat usage")


def _chat_stream(ctx: Ctx) -> None:
    usage = depth_chat.usage_of(depth_chat.streamed(ctx, chat.body(ctx), "chat stream with include_usage"))
    ctx.expect(usage, "chat stream with include_usage: no usage chunk")
    chat.usage_consistent(ctx, usage, "chat stream usage")


def _responses_json(ctx: Ctx) -> None:
    obj = ctx.ok_json(ctx.post(responses.OFFICIAL, responses.body(ctx)), "Responses")
    responses.usage_consistent(ctx, obj.get("usage"), "Responses usage")


def _responses_stream(ctx: Ctx) -> None:
    events = responses.stream_events(ctx, ctx.stream("POST", responses.OFFICIAL,
                                                     json=responses.body(ctx, stream=True)), "Responses stream")
    responses.usage_consistent(ctx, (events[-1].get("response") or {}).get("usage"), "Responses stream: the final "
                               "response's usage")


def _gemini_json(ctx: Ctx) -> None:
    obj = depth_gemini.generate(ctx, gemini.body(), "generateContent")
    gemini.usage_consistent(ctx, obj.get("usageMetadata"), "generateContent")


def _gemini_stream(ctx: Ctx) -> None:
    pieces = depth_gemini.streamed(ctx, gemini.body(), "Gemini SSE stream")
    gemini.usage_consistent(ctx, pieces[-1].get("usageMetadata"), "Gemini SSE stream: last piece")


USAGE: dict[str, tuple[str, Callable[[Ctx], None]]] = {
    "chat JSON": ("openai.chat", _chat_json), "chat stream": ("openai.chat", _chat_stream),
    "Responses JSON": ("openai.responses", _responses_json),
    "Responses stream": ("openai.responses", _responses_stream),
    "Gemini JSON": ("gemini", _gemini_json), "Gemini stream": ("gemini", _gemini_stream)}


@check("usage.counts", "Token usage in every answer form (chat, Responses, Gemini; JSON and stream): integer "
       "counts, input and output positive, the total their sum")
def usage_counts(ctx: Ctx) -> list[Sub]:
    return cases(ctx, [Case(name, lambda fn=fn: fn(ctx), surface=surface) for name, (surface, fn) in USAGE.items()])


# -- errors are never answered with a 2xx ------------------------------------------------------------------------
NO_MODEL = "no-such-model-topapi-check"


def _refused(ctx: Ctx, resp: httpx.Response, what: str) -> None:
    body: Any = None
    if resp.headers.get("content-type", "").startswith("application/json"):
        body = ctx.json_of(resp, what)
    if 200 <= resp.status_code < 300:
        shown = resp.text[:160]
        if isinstance(body, dict) and "error" in body:
            ctx.fail(f"{what}: HTTP {resp.status_code} with an error body: {shown}")
        ctx.fail(f"{what}: HTTP {resp.status_code}, expected a 4xx refusal: {shown}")
    ctx.expect(400 <= resp.status_code < 500, f"{what}: HTTP {resp.status_code}, expected a 4xx: {resp.text[:160]}")
    ctx.expect(isinstance(body, dict) and isinstance(body.get("error"), dict),
               f"{what}: the refusal has no `error` object: {resp.text[:160]}")



def _gemini_unknown_model(ctx: Ctx) -> None:
    path = gemini.path(ctx, "generateContent").replace(ctx.target.gemini_model, NO_MODEL)
    _refused(ctx, ctx.post(path, gemini.body()), "generateContent of an unknown model")


@check("refusal.no_2xx_error", "Requests that must fail (an unknown model, an empty message list, a missing "
       "input, empty contents) get a 4xx with an error object: never a 2xx, never an error inside a 200")
def no_2xx_error(ctx: Ctx) -> list[Sub]:
    def chat_unknown(c: Ctx) -> None:
        _refused(c, c.post(chat.PATH, {**chat.body(c), "model": NO_MODEL}), "chat with an unknown model")

    def chat_empty(c: Ctx) -> None:
        _refused(c, c.post(chat.PATH, {**chat.body(c), "messages": []}), "chat with no messages")

    def responses_unknown(c: Ctx) -> None:
        _refused(c, c.post(responses.OFFICIAL, {**responses.body(c), "model": NO_MODEL}),
                 "Responses with an unknown model")

    def responses_no_input(c: Ctx) -> None:
        _refused(c, c.post(responses.OFFICIAL, {"model": c.target.chat_model}), "Responses without input")

    def gemini_empty(c: Ctx) -> None:
        _refused(c, c.post(gemini.path(c, "generateContent"), {"contents": []}), "generateContent with no contents")

    items = [("chat: unknown model", "openai.chat", chat_unknown), ("chat: no messages", "openai.chat", chat_empty),
             ("Responses: unknown model", "openai.responses", responses_unknown),
             ("Responses: no input", "openai.responses", responses_no_input),
             ("Gemini: unknown model", "gemini", _gemini_unknown_model),
             ("Gemini: no contents", "gemini", gemini_empty)]
    return cases(ctx, [Case(name, lambda fn=fn: fn(ctx), surface=surface) for name, surface, fn in items])
