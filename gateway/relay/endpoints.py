"""The model endpoints: chat completions, Responses, Gemini, images, and the model lists."""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Any

import aiohttp
import orjson
from starlette.datastructures import UploadFile
from starlette.requests import Request

from specs import seedforms

from . import meters, policy
from .call import Call
from .errors import RelayError
from .http import Req
from .proxy import Outbound, relay_body, relay_stream, send

if TYPE_CHECKING:
    from ..app import Gateway

JSON = {"content-type": "application/json"}
HEADER_UNSAFE = re.compile(r"[\x00-\x08\x0a-\x1f\x7f]")  # what aiohttp refuses in a header (tab is fine)


def _form_error(exc: seedforms.FormError) -> RelayError:
    return RelayError(400, exc.message, param=exc.param, code="invalid_value")


# The catalog kinds each endpoint serves. A model of another kind is served by nodes of another API: the
# request would reach, say, a Gemini node's /chat/completions and the client get that node's error, in the
# wrong dialect.
ENDPOINT_KINDS = {"chat.completions": ("chat", "responses"), "responses": ("chat", "responses"),
                  "images.generations": ("image",), "images.edits": ("image",),
                  "videos.create": ("video",), "videos.remix": ("video",)}


def admit(gw: Gateway, req: Req, call: Call, model: Any, *, gemini: bool = False) -> str:
    """Key, then model policy, then the model's kind against the endpoint. Sets the call's key, user and model."""
    if not isinstance(model, str) or not model:
        raise RelayError(400, "model is required and must be a string", param="model", code="missing_model")
    call.model = model
    policy.authorize(gw.cache, gw.limiter, call.key, call.user, model)
    call.model_info = info = gw.cache.models[model]
    kinds = ("gemini",) if gemini else ENDPOINT_KINDS.get(call.endpoint)
    if kinds is not None and info.kind not in kinds:
        if gemini:  # as Gemini's API words it
            raise RelayError(404, f"models/{model} is not found for API version v1beta, or is not supported for "
                                  f"{req.params.get('method', 'generateContent')}", param="model",
                             code="model_not_supported")
        raise RelayError(400, f"The model `{model}` is a {info.kind} model and cannot be used with {req.path}",
                         param="model", code="model_not_supported")
    return model


def or_default(model: Any, default: str) -> Any:
    """Only an absent or null model means the default: `""`, `{}` or `0` go to `admit`, which refuses them."""
    return default if model is None else model


def query_int(req: Req, name: str, default: int, lo: int, hi: int) -> int:
    """An integer query parameter, absent -> default; anything but plain digits in range is a 400."""
    raw = req.query_value(name)
    if raw is None:
        return default
    digits = raw[1:] if raw.startswith("-") else raw
    if not (digits.isascii() and digits.isdigit() and len(digits) <= 12) or not lo <= int(raw) <= hi:
        raise RelayError(400, f"{name} must be an integer between {lo} and {hi}", param=name, code="invalid_value")
    return int(raw)


def authenticate(gw: Gateway, req: Req, call: Call, *, gemini: bool = False) -> None:
    call.key, call.user = policy.authenticate(gw.cache, req, gemini)


# -- model lists -----------------------------------------------------------------------------------------


async def openai_models(gw: Gateway, req: Req, call: Call) -> None:
    """GET /v1/models, GET /responses/v1/models, POST /v1/getModelList: the key's usable models."""
    authenticate(gw, req, call)
    if call.endpoint == "getModelList":  # "after subscribing, fetch once": make sure we serve fresh data
        await gw.cache.reload()
        call.key, call.user = policy.authenticate(gw.cache, req, False)
    kinds = ("chat", "responses") if req.path.startswith("/responses") else None
    data = [{"id": m.name, "object": "model", "created": m.created, "owned_by": "topapi"}
            for m in gw.cache.usable_models(call.key) if kinds is None or m.kind in kinds]
    call.status = 200
    await req.respond_json(200, {"object": "list", "data": data})


async def gemini_models(gw: Gateway, req: Req, call: Call) -> None:
    authenticate(gw, req, call, gemini=True)
    usable = [m for m in gw.cache.usable_models(call.key) if m.kind == "gemini"]
    # as Gemini's API: pageSize 0 (or none) means 50, more than 1000 means 1000
    size = min(query_int(req, "pageSize", 0, 0, 2**31 - 1), 1000) or 50
    token = req.query_value("pageToken")
    if token and not (token.isascii() and token.isdigit() and len(token) <= 9):
        raise RelayError(400, "Invalid pageToken: pass the nextPageToken of an earlier page", param="pageToken")
    start = int(token or 0)
    page = usable[start:start + size]
    body: dict[str, Any] = {"models": [_gemini_model(m) for m in page]}
    if start + size < len(usable):
        body["nextPageToken"] = str(start + size)
    call.status = 200
    await req.respond_json(200, body)


async def gemini_model(gw: Gateway, req: Req, call: Call) -> None:
    authenticate(gw, req, call, gemini=True)
    name = req.params["model"]
    found = next((m for m in gw.cache.usable_models(call.key) if m.name == name and m.kind == "gemini"), None)
    if found is None:
        raise RelayError(404, f"models/{name} is not found or not available to this key")
    call.status = 200
    await req.respond_json(200, _gemini_model(found))


def _gemini_model(m) -> dict[str, Any]:
    return {"name": f"models/{m.name}", "baseModelId": m.name, "version": "001",
            "displayName": m.display_name or m.name, "description": m.description or "",
            "inputTokenLimit": 1048576, "outputTokenLimit": 65536,
            "supportedGenerationMethods": ["generateContent", "streamGenerateContent", "countTokens"]}


# -- chat completions --------------------------------------------------------------------------------------


async def chat(gw: Gateway, req: Req, call: Call) -> None:
    authenticate(gw, req, call)
    body = req.json()
    model = admit(gw, req, call, body.get("model"))
    stream = body.get("stream") is True
    call.stream = stream
    want_usage = False
    upstream_body = dict(body)
    if stream:
        opts = body.get("stream_options")
        if opts is not None and not isinstance(opts, dict):
            raise RelayError(400, "stream_options must be an object", param="stream_options")
        want_usage = bool((opts or {}).get("include_usage"))
        upstream_body["stream_options"] = {**(opts or {}), "include_usage": True}  # usage always, for billing

    def build(target) -> Outbound:
        out = upstream_body if target.upstream_model == model else {**upstream_body, "model": target.upstream_model}
        return Outbound("POST", "/chat/completions", orjson.dumps(out), JSON)

    answer = await send(gw, call, gw.router.plan(model), build, stream=stream)
    if stream and answer.response.status == 200:
        await relay_stream(gw, req, call, answer, meters.ChatMeter(want_usage), "chat")
        return
    call.prompt_tokens, call.completion_tokens = meters.json_usage("chat", answer.json())
    await relay_body(req, call, answer)


# -- Responses API -------------------------------------------------------------------------------------------


async def responses(gw: Gateway, req: Req, call: Call) -> None:
    authenticate(gw, req, call)
    body = req.json()
    model = admit(gw, req, call, body.get("model"))
    try:
        _check_nested_tools(body)
        upstream_body = seedforms.responses_body(body)
    except seedforms.FormError as exc:
        raise _form_error(exc) from None
    stream = body.get("stream") is True
    call.stream = stream
    targets = gw.router.plan(model)
    previous = body.get("previous_response_id")
    if previous is not None:
        if not isinstance(previous, str):
            raise RelayError(400, "previous_response_id must be a string", param="previous_response_id")
        targets = await _affinity(gw, call, model, previous)

    def build(target) -> Outbound:
        out = upstream_body if target.upstream_model == model else {**upstream_body, "model": target.upstream_model}
        return Outbound("POST", "/responses", orjson.dumps(out), JSON)

    answer = await send(gw, call, targets, build, stream=stream)
    if stream and answer.response.status == 200:
        meter = meters.ResponsesMeter()
        try:
            await relay_stream(gw, req, call, answer, meter, "responses")
        finally:
            if meter.response_id:
                gw.remember_response(meter.response_id, answer.target.node_id, call.user.id)
        return
    obj = answer.json()
    call.prompt_tokens, call.completion_tokens = meters.json_usage("responses", obj)
    if answer.response.status == 200 and isinstance(obj, dict) and isinstance(obj.get("id"), str):
        gw.remember_response(obj["id"], answer.target.node_id, call.user.id)
    await relay_body(req, call, answer)


def _check_nested_tools(body: dict[str, Any]) -> None:
    """The seed's nested tool is `{name, type: function, function: {name, ...}}`. Flattening keeps the
    inner name and sets the type, so a different top-level name (even an invalid one) or a missing type
    would vanish silently: refuse them instead."""
    tools = body.get("tools")
    for i, tool in enumerate(tools if isinstance(tools, list) else []):
        if not isinstance(tool, dict) or not isinstance(tool.get("function"), dict):
            continue
        if tool.get("type") != "function":
            raise seedforms.FormError(f"tools[{i}].type must be \"function\"", param=f"tools[{i}].type")
        if "name" in tool and tool["name"] != tool["function"].get("name"):
            raise seedforms.FormError(f"tools[{i}].name must equal tools[{i}].function.name", param=f"tools[{i}].name")


async def _affinity(gw: Gateway, call: Call, model: str, response_id: str) -> list:
    """A follow-up goes to the node that holds the previous response, and only there."""
    node_id = await gw.response_node(response_id, call.user.id)
    if node_id is None:
        raise RelayError(404, f"Previous response with id '{response_id}' not found.",
                         param="previous_response_id", code="previous_response_not_found")
    target = next((t for t in gw.router.targets(model) if t.node_id == node_id), None)
    if target is None or gw.router.breaker(node_id).state == "open":
        raise RelayError(503, f"The node holding response '{response_id}' cannot serve `{model}` now; "
                              "send the whole conversation instead of previous_response_id",
                         param="previous_response_id", code="previous_response_unavailable",
                         outcome="upstream_error")
    return [target]


# -- Gemini ----------------------------------------------------------------------------------------------------


async def gemini(gw: Gateway, req: Req, call: Call) -> None:
    authenticate(gw, req, call, gemini=True)
    model, method = req.params["model"], req.params["method"]
    body = req.json()
    admit(gw, req, call, model, gemini=True)
    for alt, param in ((req.query_value("alt"), "alt"), (body.get("alt"), "alt (body)")):
        if alt is not None and alt not in ("sse", "json"):  # as Google's API: not silently JSON
            raise RelayError(400, f"Invalid value for {param}: {str(alt)[:50]!r}; use \"sse\" or \"json\".",
                             param="alt", code="invalid_value")
    seed_stream = body.get("stream")  # the seed's field: ignored, but only when it is what it claims to be
    if seed_stream is not None and not isinstance(seed_stream, bool):
        raise RelayError(400, "stream (body) must be true or false", param="stream", code="invalid_value")
    try:
        upstream_body, sse = seedforms.gemini_body(body, req.query_value("alt"))
    except seedforms.FormError as exc:
        raise _form_error(exc) from None
    stream = method == "streamGenerateContent"
    call.stream = stream
    payload = orjson.dumps(upstream_body)

    def build(target) -> Outbound:
        path = f"/v1beta/models/{target.upstream_model}:{method}" + ("?alt=sse" if stream and sse else "")
        return Outbound("POST", path, payload, JSON)

    answer = await send(gw, call, gw.router.plan(model), build, stream=stream)
    if stream and answer.response.status == 200:
        meter = meters.GeminiSseMeter() if sse else meters.GeminiArrayMeter()
        await relay_stream(gw, req, call, answer, meter, "gemini" if sse else "gemini-array")
        return
    if method == "generateContent":
        call.prompt_tokens, call.completion_tokens = meters.json_usage("gemini", answer.json())
    await relay_body(req, call, answer)


# -- images ------------------------------------------------------------------------------------------------------


async def image_generations(gw: Gateway, req: Req, call: Call) -> None:
    authenticate(gw, req, call)
    body = req.json()
    model = admit(gw, req, call, or_default(body.get("model"), "gpt-image-1"))
    _check_no_stream(body)
    upstream_body = {k: v for k, v in body.items() if k != "stream"}
    await _images(gw, req, call, model, "/images/generations",
                  lambda t: orjson.dumps({**upstream_body, "model": t.upstream_model}), JSON)


async def image_edits(gw: Gateway, req: Req, call: Call) -> None:
    authenticate(gw, req, call)
    ctype = req.header(b"content-type") or ""
    if ctype.startswith("multipart/form-data"):
        fields, files = await _multipart(req)
        model = admit(gw, req, call, or_default(fields.get("model"), "gpt-image-1"))
        if not any(name in ("image", "image[]") for name, _ in files):
            raise RelayError(400, "an image file part (image or image[]) is required", param="image")

        def form(target) -> aiohttp.FormData:
            # raw UTF-8 names, as browsers send them: aiohttp's default `name*=` form for a non-ASCII name
            # trips its own assertion (a 502), and it would percent-encode file names
            data = aiohttp.FormData(quote_fields=False)
            for k, v in fields.items():
                data.add_field(k, target.upstream_model if k == "model" else v)
            if "model" not in fields:
                data.add_field("model", target.upstream_model)
            for name, f in files:
                data.add_field(name, f[2], filename=f[0], content_type=f[1])
            return data

        await _images(gw, req, call, model, "/images/edits", form, {})
        return
    body = req.json()
    model = admit(gw, req, call, or_default(body.get("model"), "gpt-image-1"))
    _check_no_stream(body)
    try:
        if not isinstance(body.get("images", []), list):  # seedforms would splice it into a list
            raise RelayError(400, "images must be a list of {image_url} objects", param="images",
                             code="invalid_type")
        if "image" in body and "images" in body:  # seedforms would merge them: one form or the other
            raise RelayError(400, "give image (the seed's base64 form) or images, not both", param="images",
                             code="invalid_value")
        upstream_body = seedforms.image_edit_json(body)
    except seedforms.FormError as exc:
        raise _form_error(exc) from None
    await _images(gw, req, call, model, "/images/edits",
                  lambda t: orjson.dumps({**upstream_body, "model": t.upstream_model}), JSON)


def _check_no_stream(body: dict[str, Any]) -> None:
    """Images are answered whole: the seed's `"stream": false` is fine, asking for a stream is not
    (it would be dropped silently otherwise)."""
    stream = body.get("stream")
    if stream is not None and stream is not False:  # `is`: 0 is not false here
        raise RelayError(400, "stream: image answers are not streamed; send false or leave it out", param="stream",
                         code="invalid_value")


async def _images(gw: Gateway, req: Req, call: Call, model: str, path: str, make_body, headers) -> None:
    answer = await send(gw, call, gw.router.plan(model), lambda t: Outbound("POST", path, make_body(t), headers))
    obj = answer.json()
    if answer.response.status == 200 and isinstance(obj, dict):
        call.images = len(obj.get("data") or [])
        call.prompt_tokens, call.completion_tokens = meters.json_usage("images", obj)
    await relay_body(req, call, answer)


async def _multipart(req: Req) -> tuple[dict[str, str], list[tuple[str, tuple[str, str, bytes]]]]:
    """Text fields, and file parts as (field, (filename, content type, bytes))."""
    body = req.body

    async def receive() -> dict[str, Any]:
        return {"type": "http.request", "body": body, "more_body": False}

    try:
        form = await Request(req.scope, receive).form(max_files=32, max_fields=128)
    except Exception as exc:  # python-multipart raises several types for broken bodies
        raise RelayError(400, f"malformed multipart body: {exc}") from None
    fields: dict[str, str] = {}
    files = []
    for name, value in form.multi_items():
        # names, file names and types go into the part headers of the form sent upstream
        heads = (name, value.filename or "", value.content_type or "") if isinstance(value, UploadFile) else (name,)
        if any(HEADER_UNSAFE.search(h) for h in heads):
            raise RelayError(400, "malformed multipart body: a part's name, filename or content type has a "
                                  "control character", code="invalid_value")
        if isinstance(value, UploadFile):
            files.append((name, (value.filename or name, value.content_type or "application/octet-stream",
                                 await value.read())))
        else:
            fields[name] = value
    return fields, files
