"""POST /v1/responses (JSON and SSE), GET and DELETE /v1/responses/{id}: the Responses API.

Input items become engine messages: typed parts, untyped parts classified from their value
("auto-detect input type"), `function_call_output` as a tool result. `previous_response_id`
prepends a stored conversation (its input items and its output). Tools come flat (official)
or nested as in chat completions (the seed's form). The stream is derived from the final
Response object, so its last event carries exactly what the JSON call returns.
"""

from __future__ import annotations

import functools
import itertools
from collections.abc import Iterator
from typing import Any

import jsonschema
import orjson
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from specs import sse

from . import media
from .answer import Answer, Message, Prompt, Tool, answer
from .server import ApiError, Ctx, Frame, MockServer, ctx_of
from .textgen import canonical, tokenize

MAX_STORED = 10_000  # stored responses per server; the oldest go first


def routes(server: MockServer) -> list[Route]:
    async def create(request: Request) -> Response:
        ctx = ctx_of(request)
        body = await server.json_body(request)
        for name in ("model", "input"):
            if name not in body:
                raise ApiError(400, f"Missing required parameter: '{name}'.", param=name,
                               code="missing_required_parameter")
        server.check_request(body, "CreateResponseRequest")
        model = server.check_model(ctx, body["model"], "chat")
        past = history(server, body.get("previous_response_id"))
        current = input_items(body["input"])
        tools = tools_of(body)
        prompt = to_prompt(body, past, current, tools, model)
        resp = response_object(ctx, model, body, tools, answer(prompt, ctx.settings.seed))
        if body.get("store") is not False:
            _store(server, resp, [*past, *current])
        if body.get("stream"):
            return ctx.stream(stream_frames(ctx, resp))
        await ctx.wait_tokens(resp["usage"]["output_tokens"])
        return ctx.json(resp)

    async def retrieve(request: Request) -> Response:
        return ctx_of(request).json(_stored(server, request.path_params["response_id"])["response"])

    async def delete(request: Request) -> Response:
        rid = request.path_params["response_id"]
        _stored(server, rid)
        del server.responses[rid]
        return ctx_of(request).json({"id": rid, "object": "response.deleted", "deleted": True})

    return [Route("/v1/responses", create, methods=["POST"]),
            Route("/v1/responses/{response_id}", retrieve, methods=["GET"]),
            Route("/v1/responses/{response_id}", delete, methods=["DELETE"])]


# -- stored conversations -------------------------------------------------------------------------
def _store(server: MockServer, resp: dict[str, Any], items: list[dict[str, Any]]) -> None:
    """Keep the response and the items it answered (instructions are not carried over, as upstream)."""
    server.responses[resp["id"]] = {"response": resp, "items": items}
    while len(server.responses) > MAX_STORED:
        server.responses.popitem(last=False)


def _stored(server: MockServer, rid: str) -> dict[str, Any]:
    entry = server.responses.get(rid)
    if entry is None:
        raise ApiError(404, f"Response with id '{rid}' not found.", param="response_id", code="not_found")
    return entry


def history(server: MockServer, previous: str | None) -> list[dict[str, Any]]:
    """The conversation so far: the previous response's input items, then its output items."""
    if previous is None:
        return []
    entry = server.responses.get(previous)
    if entry is None:
        # a gateway routes by this id: another node's answer must be an unmistakable not-found
        raise ApiError(404, f"Previous response with id '{previous}' not found.", param="previous_response_id",
                       code="previous_response_not_found")
    return [*entry["items"], *entry["response"]["output"]]


def input_items(value: str | list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [{"role": "user", "content": value}] if isinstance(value, str) else list(value)


# -- request -> prompt ------------------------------------------------------------------------------
def tools_of(body: dict[str, Any]) -> list[dict[str, Any]]:
    """Function tools in the flat form a Response echoes; the nested (seed) form is the same tool."""
    tools = []
    for i, t in enumerate(body.get("tools") or []):
        fn = t["function"] if isinstance(t.get("function"), dict) else t
        name = fn.get("name") or t.get("name")
        if not isinstance(name, str) or not name:
            raise ApiError(400, "each function tool needs a name", param=f"tools[{i}].name")
        if fn is not t and t.get("name") not in (None, name):
            raise ApiError(400, f"tools[{i}].name ({t['name']!r}) differs from tools[{i}].function.name ({name!r})",
                           param=f"tools[{i}].name")
        # the nested form also passes the flat schema (top-level name), so its fields are checked here
        at = f"tools[{i}]" if fn is t else f"tools[{i}].function"
        fields = {"description": fn.get("description"), "parameters": fn.get("parameters"),
                  "strict": fn["strict"] if fn.get("strict") is not None else t.get("strict")}
        for key, kind, label in (("description", str, "string"), ("parameters", dict, "object"),
                                 ("strict", bool, "boolean")):
            if fields[key] is not None and not isinstance(fields[key], kind):
                raise ApiError(400, f"{at}.{key} must be a {label} or null", param=f"{at}.{key}")
        if fields["parameters"] is not None:
            _check_schema(fields["parameters"], f"{at}.parameters")
        tools.append({"type": "function", "name": name, **fields,
                      "strict": True if fields["strict"] is None else fields["strict"]})
    return tools


def _tool_choice(body: dict[str, Any], tools: list[dict[str, Any]]) -> str:
    choice = body.get("tool_choice") or "auto"
    if isinstance(choice, dict):
        if choice["name"] not in {t["name"] for t in tools}:
            raise ApiError(400, f"tool_choice names the function {choice['name']!r}, which is not in tools",
                           param="tool_choice")
        return choice["name"]
    if choice == "required" and not tools:
        raise ApiError(400, "tool_choice 'required' needs at least one tool in tools", param="tool_choice")
    return choice


def _json_schema(body: dict[str, Any]) -> dict[str, Any] | None:
    fmt = (body.get("text") or {}).get("format") or {}
    if fmt.get("type") == "json_object":
        return {}
    if fmt.get("type") == "json_schema":
        _check_schema(fmt.get("schema") or {}, "text.format.schema")
        return fmt.get("schema") or {}
    return None


def _check_schema(schema: dict[str, Any], param: str) -> None:
    """A tool's parameters or a JSON format must be a JSON Schema (as upstream checks them)."""
    problem = _schema_problem(canonical(schema))
    if problem:
        raise ApiError(400, f"Invalid schema in {param}: {problem}", param=param, code="invalid_function_parameters"
                       if param.startswith("tools") else "invalid_json_schema")


@functools.lru_cache(maxsize=256)
def _schema_problem(schema: bytes) -> str | None:
    try:
        jsonschema.Draft202012Validator.check_schema(orjson.loads(schema))
    except jsonschema.SchemaError as exc:
        return exc.message
    return None


def to_prompt(body: dict[str, Any], past: list[dict[str, Any]], current: list[dict[str, Any]],
              tools: list[dict[str, Any]], model: str) -> Prompt:
    """`past`: the stored conversation of previous_response_id; `current`: this request's input items."""
    messages = [Message("system", body["instructions"])] if body.get("instructions") else []
    messages += [item_message(item, "previous_response_id") for item in past]
    messages += [item_message(item, f"input[{i}]") for i, item in enumerate(current)]
    if not messages:
        raise ApiError(400, "input must contain at least one item", param="input")
    choice = _tool_choice(body, tools)
    schema = _json_schema(body)
    limit = body.get("max_output_tokens")
    # the key is the conversation's content, not its ids: a round trip through previous_response_id
    # and the same conversation sent whole get the same answer
    key = canonical({"model": model, "messages": [[m.role, m.text, m.images, m.tool_result] for m in messages],
                     "tools": tools, "tool_choice": choice, "schema": schema, "max_output_tokens": limit,
                     "parallel": body.get("parallel_tool_calls") is not False})
    engine_tools = [Tool(t["name"], t["description"] or "", t["parameters"] or {}) for t in tools]
    return Prompt(messages, engine_tools, choice, schema, limit, key,
                  parallel_tools=body.get("parallel_tool_calls") is not False)


def item_message(item: dict[str, Any], where: str) -> Message:
    kind = item.get("type", "message")
    if kind == "function_call_output":
        output = item.get("output")
        text = output if isinstance(output, str) else content_parts(output, f"{where}.output")[0]
        return Message("tool", text, tool_result=text)
    if kind == "function_call":  # history: what the model called
        return Message("assistant", f"{item.get('name')}({item.get('arguments')})")
    role = item.get("role")
    text, images = content_parts(item.get("content"), f"{where}.content")
    return Message("system" if role == "developer" else str(role), text, images)


# an untyped part: its keys in the order they are looked at, and the kind the key implies when the
# value does not tell (an image URL without an extension is still an image)
_UNTYPED_KEYS = {"image_url": "image", "file_url": "file", "file_data": "file", "url": "text", "data": "text",
                 "text": "text"}


def content_parts(content: Any, where: str) -> tuple[str, list[str]]:
    """Text and image URLs of a content: a string or a list of parts (typed, or classified by value)."""
    if content is None:
        return "", []
    if isinstance(content, str):
        return content, []
    texts: list[str] = []
    images: list[str] = []
    for j, part in enumerate(content):
        at = f"{where}[{j}]"
        if isinstance(part, str):  # a bare string: classified by its value like an untyped part
            part = {"data": part}
        kind = part.get("type")
        if kind in ("input_text", "output_text", "text"):
            texts.append(part.get("text") or "")
        elif kind == "refusal":
            texts.append(part.get("refusal") or "")
        elif kind == "input_image":
            images.append(_image_url(part.get("image_url") or part.get("file_id") or ""))
        elif kind == "input_audio":
            texts.append(_audio_note(part.get("input_audio") or {}, at))
        elif kind == "input_file":
            texts.append(_file_note(part))
        elif kind is None:
            _untyped(part, at, texts, images)
        else:
            raise ApiError(400, f"{at}.type {kind!r} is not a supported content part type", param=f"{at}.type")
    return "\n".join(texts), images


def _untyped(part: dict[str, Any], at: str, texts: list[str], images: list[str]) -> None:
    """A part without `type`: "image" is described, "audio" and "file" are mentioned, "text" is text."""
    if isinstance(part.get("input_audio"), dict):
        texts.append(_audio_note(part["input_audio"], at))
        return
    key = next((k for k in _UNTYPED_KEYS if isinstance(part.get(k), str)), None)
    if key is None:
        raise ApiError(400, f"{at} has no type and no value to classify (text, image_url, url, data...)",
                       param=at)
    value = part[key]
    kind = media.guess_kind(value)
    if kind == "text" and key != "text" and not value.strip().count(" "):
        kind = _UNTYPED_KEYS[key]  # a single token under image_url/file_url: trust the key
    if kind == "image":
        images.append(_image_url(value))
    elif kind == "audio":
        texts.append(f"[audio: {_describe_payload(value)}]")
    elif kind == "file":
        source = "file_url" if "://" in value else "file_data"
        texts.append(_file_note({"filename": part.get("filename"), source: value}))
    else:
        texts.append(value)


def _image_url(value: str) -> str:
    """A URL or data URL as sent; a bare base64 payload becomes a data URL so it can be described."""
    value = value.strip()
    if value[:5].lower() == "data:" or "://" in value:
        return value
    decoded = media.decode_data_url("data:application/octet-stream;base64," + value)
    mime = media.sniff(decoded[1]) if decoded else None
    return f"data:{mime};base64,{value}" if mime else value


def _describe_payload(value: str) -> str:
    decoded = media.decode_data_url(value)
    if decoded is None and "://" not in value:
        decoded = media.decode_data_url("data:application/octet-stream;base64," + value.strip())
    if decoded is None:
        return value
    mime = media.sniff(decoded[1]) or decoded[0]
    return f"{mime}, {len(decoded[1])} bytes"


def _audio_note(audio: dict[str, Any], at: str) -> str:
    data = audio.get("data")
    decoded = media.decode_data_url(f"data:audio/{audio.get('format') or 'wav'};base64,{data}") \
        if isinstance(data, str) else None
    if decoded is None:
        raise ApiError(400, f"{at}.input_audio.data must be base64 audio", param=f"{at}.input_audio.data")
    return f"[audio: {decoded[0]}, {len(decoded[1])} bytes]"


def _file_note(part: dict[str, Any]) -> str:
    name = part.get("filename") or part.get("file_id") or part.get("file_url") or "file"
    data = part.get("file_data")
    return f"[file: {name}, {_describe_payload(data)}]" if isinstance(data, str) else f"[file: {name}]"


# -- response shapes ---------------------------------------------------------------------------------
def _ident(ctx: Ctx, prefix: str, salt: str = "") -> str:
    return prefix + ctx.ident(prefix + salt, 32)[len(prefix + salt):]


def usage(a: Answer) -> dict[str, Any]:
    return {"input_tokens": a.prompt_tokens, "input_tokens_details": {"cached_tokens": 0, "cache_write_tokens": 0},
            "output_tokens": a.completion_tokens, "output_tokens_details": {"reasoning_tokens": 0},
            "total_tokens": a.prompt_tokens + a.completion_tokens}


def output_items(ctx: Ctx, a: Answer) -> list[dict[str, Any]]:
    if a.tool_calls:
        return [{"id": _ident(ctx, "fc_", str(i)), "type": "function_call", "status": "completed",
                 "call_id": _ident(ctx, "call_", str(i))[:29], "name": c.name, "arguments": c.arguments}
                for i, c in enumerate(a.tool_calls)]
    return [{"id": _ident(ctx, "msg_"), "type": "message", "status": "incomplete" if a.finish == "length" else
             "completed", "role": "assistant",
             "content": [{"type": "output_text", "text": a.text, "annotations": [], "logprobs": []}]}]


def response_object(ctx: Ctx, model: str, body: dict[str, Any], tools: list[dict[str, Any]],
                    a: Answer) -> dict[str, Any]:
    """The Response the JSON call returns and the stream's last event carries."""
    incomplete = a.finish == "length"
    text = body.get("text") or {}
    resp = {
        "id": _ident(ctx, "resp_"), "object": "response", "created_at": ctx.created,
        "status": "incomplete" if incomplete else "completed", "background": False,
        "completed_at": None if incomplete else ctx.created, "error": None,
        "incomplete_details": {"reason": "max_output_tokens"} if incomplete else None,
        "instructions": body.get("instructions"), "max_output_tokens": body.get("max_output_tokens"),
        "max_tool_calls": None, "model": model, "output": output_items(ctx, a),
        "parallel_tool_calls": body.get("parallel_tool_calls") is not False,
        "previous_response_id": body.get("previous_response_id"), "prompt_cache_key": None,
        "reasoning": {"effort": None, "summary": None}, "safety_identifier": None, "service_tier": "default",
        "store": body.get("store") is not False, "temperature": _number(body, "temperature"),
        "text": {"format": text.get("format") or {"type": "text"}, "verbosity": text.get("verbosity") or "medium"},
        "tool_choice": body.get("tool_choice") or "auto", "tools": tools, "top_logprobs": 0,
        "top_p": _number(body, "top_p"), "truncation": body.get("truncation") or "disabled",
        "usage": usage(a), "metadata": body.get("metadata") or {},
    }
    if isinstance(body.get("user"), str):
        resp["user"] = body["user"]
    return resp


def _number(body: dict[str, Any], name: str) -> float:
    value = body.get(name)
    return 1.0 if value is None else value


# -- streaming ------------------------------------------------------------------------------------------
def stream_frames(ctx: Ctx, resp: dict[str, Any]) -> Iterator[Frame]:
    """created, in_progress, per output item: added, (text | arguments) deltas and dones, item done; then
    completed (or incomplete). Deltas are the token frames; `sequence_number` counts every event."""
    per_chunk = ctx.settings.tokens_per_chunk
    seq = itertools.count()

    def event(kind: str, token: bool = False, **fields: Any) -> Frame:
        return Frame(sse.encode({"type": kind, "sequence_number": next(seq), **fields}, event=kind), token)

    def chunks(text: str) -> Iterator[str]:
        pieces = tokenize(text)
        for k in range(0, len(pieces), per_chunk):
            yield "".join(pieces[k:k + per_chunk])

    # the official schema does not allow `usage: null`: it is absent until the response is done
    snapshot = {k: v for k, v in resp.items() if k != "usage"}
    snapshot.update(status="in_progress", completed_at=None, incomplete_details=None, output=[])
    yield event("response.created", response=snapshot)
    yield event("response.in_progress", response=snapshot)
    for index, item in enumerate(resp["output"]):
        if item["type"] == "function_call":
            yield event("response.output_item.added", output_index=index,
                        item={**item, "status": "in_progress", "arguments": ""})
            at = {"item_id": item["id"], "output_index": index}
            for delta in chunks(item["arguments"]):
                yield event("response.function_call_arguments.delta", True, **at, delta=delta)
            yield event("response.function_call_arguments.done", **at, name=item["name"],
                        arguments=item["arguments"])
        else:
            yield event("response.output_item.added", output_index=index,
                        item={**item, "status": "in_progress", "content": []})
            for c, part in enumerate(item["content"]):
                at = {"item_id": item["id"], "output_index": index, "content_index": c}
                yield event("response.content_part.added", **at, part={**part, "text": ""})
                for delta in chunks(part["text"]):
                    yield event("response.output_text.delta", True, **at, delta=delta, logprobs=[])
                yield event("response.output_text.done", **at, text=part["text"], logprobs=[])
                yield event("response.content_part.done", **at, part=part)
        yield event("response.output_item.done", output_index=index, item=item)
    done = "response.incomplete" if resp["status"] == "incomplete" else "response.completed"
    yield event(done, response=resp)
