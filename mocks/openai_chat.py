"""POST /v1/chat/completions: JSON and SSE, tools, JSON formats, n, stop, include_usage."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import replace
from typing import Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from specs import sse

from .answer import Answer, Message, Prompt, Tool, answer
from .server import ApiError, Frame, MockServer, ctx_of
from .textgen import canonical, tokenize

FINGERPRINT = "fp_mock0001"
_NOT_IN_KEY = frozenset({"stream", "stream_options", "n", "stop", "max_tokens", "max_completion_tokens"})


def routes(server: MockServer) -> list[Route]:
    async def chat_completions(request: Request) -> Response:
        ctx = ctx_of(request)
        body = await server.json_body(request)
        server.check_request(body, "CreateChatCompletionRequest")
        model = server.check_model(ctx, body["model"], "chat")
        choices = int(body.get("n") or 1)
        if not 1 <= choices <= 128:
            raise ApiError(400, "n must be between 1 and 128", param="n")
        prompt = to_prompt(body)
        answers = [answer(_for_choice(prompt, i), ctx.settings.seed) for i in range(choices)]
        stops = _stops(body.get("stop"))
        for a in answers:
            _apply_stop(a, stops)
        cid, created = ctx.ident("chatcmpl-"), ctx.created
        if body.get("stream"):
            include_usage = bool((body.get("stream_options") or {}).get("include_usage"))
            frames = stream_frames(ctx, cid, created, model, answers, include_usage)
            return ctx.stream(frames)
        await ctx.wait_tokens(max(a.completion_tokens for a in answers))
        return ctx.json(completion(ctx, cid, created, model, answers))

    return [Route("/v1/chat/completions", chat_completions, methods=["POST"])]


# -- request -> prompt ------------------------------------------------------------------------------
def to_prompt(body: dict[str, Any]) -> Prompt:
    messages: list[Message] = []
    for i, m in enumerate(body["messages"]):
        role = m.get("role")
        text, images = content_text(m.get("content"), f"messages[{i}].content")
        if role in ("tool", "function"):
            messages.append(Message("tool", text, tool_result=text))
        else:
            messages.append(Message("system" if role == "developer" else role, text, images))
    tools = []
    for i, t in enumerate(body.get("tools") or []):
        fn = t.get("function") if isinstance(t, dict) else None
        if not isinstance(fn, dict) or not isinstance(fn.get("name"), str):
            raise ApiError(400, "each tool needs function.name", param=f"tools[{i}].function.name")
        tools.append(Tool(fn["name"], fn.get("description") or "", fn.get("parameters") or {}))
    choice = body.get("tool_choice") or "auto"
    if isinstance(choice, dict):
        choice = (choice.get("function") or {}).get("name") or "required"
        if choice != "required" and choice not in {t.name for t in tools}:
            raise ApiError(400, f"tool_choice names the function {choice!r}, which is not in tools",
                           param="tool_choice")
    fmt = body.get("response_format") or {}
    schema = None
    if fmt.get("type") == "json_object":
        schema = {}
    elif fmt.get("type") == "json_schema":
        schema = (fmt.get("json_schema") or {}).get("schema") or {}
    limit = body.get("max_completion_tokens", body.get("max_tokens"))
    # fields that only cut, repeat or deliver the answer stay out of the key: a streamed call, choice 0
    # of n, and a call cut by stop or max_tokens all build on the same text; a null is "not given"
    key = canonical({k: v for k, v in body.items() if k not in _NOT_IN_KEY and v is not None})
    return Prompt(messages, tools, str(choice), schema, limit, key,
                  parallel_tools=body.get("parallel_tool_calls") is not False)


def content_text(content: Any, where: str) -> tuple[str, list[str]]:
    """Text and image URLs of a message content: a string or a list of typed parts."""
    if content is None:
        return "", []
    if isinstance(content, str):
        return content, []
    if not isinstance(content, list):
        raise ApiError(400, f"{where} must be a string or an array of content parts", param=where)
    texts, images = [], []
    for part in content:
        if not isinstance(part, dict):
            raise ApiError(400, f"{where} parts must be objects", param=where)
        kind = part.get("type")
        if kind in ("text", "input_text", "output_text"):
            texts.append(str(part.get("text", "")))
        elif kind in ("image_url", "input_image"):
            url = part.get("image_url")
            url = url.get("url") if isinstance(url, dict) else url
            if not isinstance(url, str):
                raise ApiError(400, f"{where}: image_url.url must be a string", param=where)
            images.append(url)
    return "\n".join(texts), images


def _for_choice(prompt: Prompt, index: int) -> Prompt:
    return prompt if index == 0 else replace(prompt, key=prompt.key + f"#choice{index}".encode())


def _stops(stop: Any) -> list[str]:
    if stop is None:
        return []
    stops = [stop] if isinstance(stop, str) else stop
    if not isinstance(stops, list) or not all(isinstance(s, str) for s in stops) or len(stops) > 4:
        raise ApiError(400, "stop must be a string or an array of up to 4 strings", param="stop")
    return [s for s in stops if s]


def _apply_stop(a: Answer, stops: list[str]) -> None:
    cut = min((i for i in (a.text.find(s) for s in stops) if i >= 0), default=-1)
    if cut >= 0:
        a.text = a.text[:cut]
        a.completion_tokens = len(tokenize(a.text))
        a.finish = "stop"


# -- response shapes ---------------------------------------------------------------------------------
def usage(answers: list[Answer]) -> dict[str, Any]:
    prompt = answers[0].prompt_tokens
    completion = sum(a.completion_tokens for a in answers)
    return {
        "prompt_tokens": prompt, "completion_tokens": completion, "total_tokens": prompt + completion,
        "prompt_tokens_details": {"cached_tokens": 0, "audio_tokens": 0},
        "completion_tokens_details": {"reasoning_tokens": 0, "audio_tokens": 0,
                                      "accepted_prediction_tokens": 0, "rejected_prediction_tokens": 0},
    }


def _call_id(ctx, choice: int, index: int) -> str:
    return ctx.ident(f"call_{choice}_{index}_")[:29]


def completion(ctx, cid: str, created: int, model: str, answers: list[Answer]) -> dict[str, Any]:
    choices = []
    for i, a in enumerate(answers):
        message: dict[str, Any] = {"role": "assistant", "content": a.text if not a.tool_calls else None,
                                   "refusal": None, "annotations": []}
        if a.tool_calls:
            message["tool_calls"] = [
                {"id": _call_id(ctx, i, j), "type": "function",
                 "function": {"name": c.name, "arguments": c.arguments}}
                for j, c in enumerate(a.tool_calls)]
        choices.append({"index": i, "message": message, "logprobs": None, "finish_reason": a.finish})
    return {"id": cid, "object": "chat.completion", "created": created, "model": model, "choices": choices,
            "usage": usage(answers), "service_tier": "default", "system_fingerprint": FINGERPRINT}


def stream_frames(ctx, cid: str, created: int, model: str, answers: list[Answer],
                  include_usage: bool) -> Iterator[Frame]:
    per_chunk = ctx.settings.tokens_per_chunk
    head = {"id": cid, "object": "chat.completion.chunk", "created": created, "model": model,
            "service_tier": "default", "system_fingerprint": FINGERPRINT}

    def chunk(index: int, delta: dict[str, Any], finish: str | None = None) -> bytes:
        obj = {**head, "choices": [{"index": index, "delta": delta, "logprobs": None, "finish_reason": finish}]}
        if include_usage:
            obj["usage"] = None
        return sse.encode(obj)

    for i, a in enumerate(answers):
        if a.tool_calls:
            yield Frame(chunk(i, {"role": "assistant", "content": None, "refusal": None}))
            for j, call in enumerate(a.tool_calls):
                first = {"index": j, "id": _call_id(ctx, i, j), "type": "function",
                         "function": {"name": call.name, "arguments": ""}}
                yield Frame(chunk(i, {"tool_calls": [first]}), token=True)
                pieces = tokenize(call.arguments)
                for k in range(0, len(pieces), per_chunk):
                    delta = {"tool_calls": [{"index": j, "function": {"arguments": "".join(pieces[k:k + per_chunk])}}]}
                    yield Frame(chunk(i, delta), token=True)
        else:
            yield Frame(chunk(i, {"role": "assistant", "content": "", "refusal": None}))
            pieces = a.pieces
            for k in range(0, len(pieces), per_chunk):
                yield Frame(chunk(i, {"content": "".join(pieces[k:k + per_chunk])}), token=True)
        yield Frame(chunk(i, {}, a.finish))
    if include_usage:
        yield Frame(sse.encode({**head, "choices": [], "usage": usage(answers)}))
    yield Frame(sse.encode_done())
