"""The Gemini mock upstream (v1beta): models, generateContent, streamGenerateContent, countTokens.

streamGenerateContent speaks both of the real API's stream formats: `alt=sse` gives
`data: {GenerateContentResponse}\\r\\n\\r\\n` events (no [DONE]); without it the answer is one
JSON array written element by element as tokens come (`[{..}`, `,\\r\\n{..}`, ..., `]`).
The seed's body carries `"alt": "sse"` and `"stream": false`: body `alt` counts like the
query parameter and `stream` is ignored (WIRE.md row 7). Keys (x-goog-api-key, ?key=) are
accepted and not checked. Served under /v1beta and, like the real API, /v1 as well: the
google-genai SDK 3.x defaults to api_version "v1".

Requests pass the mock's own checks (the real API's wording) and then gemini.yaml's request
schemas, in either proto spelling. `generationConfig.candidateCount` candidates (index 0..n-1)
are generated side by side: a stream's pieces carry each candidate's next chunk, and the last
piece carries every candidate's finishReason; candidatesTokenCount is the sum over candidates.
"""

from __future__ import annotations

import base64
import binascii
import re
from typing import Any

import orjson
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from specs import sse

from .answer import Answer, answers, prompt_tokens
from .gemini_prompt import count_prompt, invalid, proto_names, to_prompt
from .server import ApiError, Ctx, Frame, MockServer, ctx_of

API_VERSIONS = ("v1beta", "v1")
METHODS = ("generateContent", "streamGenerateContent", "countTokens")
DEFAULT_PAGE_SIZE, MAX_PAGE_SIZE = 50, 1000
FINISH = {"stop": "STOP", "length": "MAX_TOKENS", "tool_calls": "STOP"}

_COMMON: dict[str, Any] = {"supportedGenerationMethods": ["generateContent", "countTokens"],
                           "temperature": 1.0, "maxTemperature": 2.0, "topP": 0.95, "topK": 64}
# id -> the fields of its Model resource (besides `name`), as models.get answers for the real ones
CATALOG: dict[str, dict[str, Any]] = {
    "gemini-2.5-flash": {
        "version": "001", "displayName": "Gemini 2.5 Flash",
        "description": "Stable version of Gemini 2.5 Flash, our mid-size multimodal model.",
        "inputTokenLimit": 1_048_576, "outputTokenLimit": 65_536, **_COMMON, "thinking": True},
    "gemini-2.5-pro": {
        "version": "2.5", "displayName": "Gemini 2.5 Pro", "description": "Stable release of Gemini 2.5 Pro.",
        "inputTokenLimit": 1_048_576, "outputTokenLimit": 65_536, **_COMMON, "thinking": True},
    "gemini-2.0-flash": {
        "version": "2.0", "displayName": "Gemini 2.0 Flash", "description": "Gemini 2.0 Flash",
        "inputTokenLimit": 1_048_576, "outputTokenLimit": 8_192, **_COMMON, "topK": 40},
    "gemini-2.5-flash-lite": {
        "version": "001", "displayName": "Gemini 2.5 Flash-Lite",
        "description": "Stable version of Gemini 2.5 Flash-Lite, released in July of 2025.",
        "inputTokenLimit": 1_048_576, "outputTokenLimit": 65_536, **_COMMON, "thinking": True},
}


def model_resource(model: str) -> dict[str, Any]:
    return {"name": f"models/{model}", **CATALOG[model]}


def page_token(offset: int) -> str:
    return base64.urlsafe_b64encode(f"models:{offset}".encode()).decode().rstrip("=")


def page_offset(token: str) -> int:
    try:
        m = re.fullmatch(r"models:(\d{1,6})", base64.urlsafe_b64decode(token + "=" * (-len(token) % 4)).decode())
    except (binascii.Error, ValueError):
        m = None
    if m is None or int(m.group(1)) > len(CATALOG):
        raise ApiError(400, f"Invalid page token {token!r}: pass the nextPageToken of an earlier page.")
    return int(m.group(1))


def usage(prompt: int, candidates: int) -> dict[str, int]:
    """usageMetadata; `candidates` counts the tokens of every candidate."""
    return {"promptTokenCount": prompt, "candidatesTokenCount": candidates, "totalTokenCount": prompt + candidates}


def call_parts(ans: Answer) -> list[dict[str, Any]]:
    parts = []
    for call in ans.tool_calls:
        args = orjson.loads(call.arguments)
        parts.append({"functionCall": {"name": call.name, "args": args if isinstance(args, dict) else {}}})
    return parts


class GeminiMock(MockServer):
    dialect = "gemini"
    spec = "gemini"
    default_node_name = "gemini"

    def routes(self) -> list[BaseRoute]:
        routes: list[BaseRoute] = []
        for version in API_VERSIONS:
            routes += [Route(f"/{version}/models", self.list_models, methods=["GET"]),
                       # `{model}:method` is one path segment: split it on its last colon ourselves
                       Route(f"/{version}/models/{{rest:path}}", self.model_route, methods=["GET", "POST"])]
        return routes

    def check_model(self, ctx: Ctx, model: str, method: str, version: str) -> str:
        if model not in CATALOG:
            raise ApiError(404, f"models/{model} is not found for API version {version}, or is not "
                                f"supported for {method}. Call ListModels to see the list of available "
                                "models and their supported methods.")
        self.count_model(ctx, model)
        return model

    # -- models ----------------------------------------------------------------------------------
    async def list_models(self, request: Request) -> Response:
        ctx, q = ctx_of(request), request.query_params
        raw_size = q.get("pageSize", q.get("page_size"))
        size = DEFAULT_PAGE_SIZE
        if raw_size is not None:
            if not re.fullmatch(r"-?\d+", raw_size.strip()):
                raise invalid("page_size", "TYPE_INT32", raw_size)
            size = int(raw_size)
            if size < 0:
                raise ApiError(400, f"pageSize must not be negative, got {size}")
            size = min(size or DEFAULT_PAGE_SIZE, MAX_PAGE_SIZE)
        token = q.get("pageToken") or q.get("page_token") or ""
        offset = page_offset(token) if token else 0
        ids = list(CATALOG)
        body: dict[str, Any] = {"models": [model_resource(m) for m in ids[offset: offset + size]]}
        if offset + size < len(ids):
            body["nextPageToken"] = page_token(offset + size)
        return ctx.json(body)

    async def model_route(self, request: Request) -> Response:
        rest = request.path_params["rest"]
        model, sep, method = rest.rpartition(":")
        if not sep:
            model, method = rest, ""
        if request.method == "GET":
            if method:
                raise ApiError(405 if method in METHODS else 404,
                               f"GET is not served on models/{model}:{method}; use POST.")
            ctx = ctx_of(request)
            if model not in CATALOG:
                raise ApiError(404, f"Model is not found: models/{model} for api version {version(request)}")
            return ctx.json(model_resource(model))
        if method not in METHODS:
            raise ApiError(404, f"Method {method or '(none)'!r} is not found on models/{model}; this server "
                                f"serves {', '.join(METHODS)} (as models/{{model}}:{{method}}).")
        if method == "countTokens":
            return await self.count_tokens(request, model)
        return await self.generate(request, model, stream=method == "streamGenerateContent")

    # -- generation ------------------------------------------------------------------------------
    async def generate(self, request: Request, model_id: str, stream: bool) -> Response:
        ctx = ctx_of(request)
        method = "streamGenerateContent" if stream else "generateContent"
        model = self.check_model(ctx, model_id, method, version(request))
        body = await self.json_body(request)
        sse_format = self.alt(request, body) == "sse"
        prompt, n = to_prompt(body, model)
        self.check_request(proto_names(body, "GenerateContentRequest"), "GenerateContentRequest")
        found = answers(prompt, ctx.settings.seed, n)
        rid = ctx.ident("", 24)
        if not stream:
            await ctx.wait_tokens(max(a.completion_tokens for a in found))  # candidates are generated side by side
            cands = [candidate(i, call_parts(a) or [{"text": a.text}], FINISH[a.finish]) for i, a in enumerate(found)]
            return ctx.json(response(model, rid, cands, usage(found[0].prompt_tokens,
                                                              sum(a.completion_tokens for a in found))))
        events = stream_events(model, rid, found, ctx.settings.tokens_per_chunk)
        if sse_format:
            return ctx.stream(Frame(sse.encode(ev, crlf=True), token=True) for ev in events)
        return ctx.stream(json_array_frames(events), media_type="application/json")

    @staticmethod
    def alt(request: Request, body: dict[str, Any]) -> str:
        """`?alt=` or, as the seed sends it, body `alt`: "sse" or "json" (the default)."""
        value: Any = request.query_params.get("alt")
        if value is None:
            value = body.get("alt")
        if value is None:
            return "json"
        if not isinstance(value, str) or value.lower() not in ("sse", "json"):
            raise ApiError(400, f"Invalid value for alt: {value!r}; use \"sse\" or \"json\".")
        return value.lower()

    async def count_tokens(self, request: Request, model_id: str) -> Response:
        ctx = ctx_of(request)
        self.check_model(ctx, model_id, "countTokens", version(request))
        body = await self.json_body(request)
        prompt = count_prompt(body)
        self.check_request(proto_names(body, "CountTokensRequest"), "CountTokensRequest")
        return ctx.json({"totalTokens": prompt_tokens(prompt)})


def version(request: Request) -> str:
    return request.url.path.split("/")[1]


def candidate(index: int, parts: list[dict[str, Any]], finish: str | None) -> dict[str, Any]:
    """One candidate of an answer, or its piece of a stream event (finish None: not the last piece)."""
    out: dict[str, Any] = {"content": {"role": "model", "parts": parts}, "index": index}
    if finish is not None:
        out["finishReason"] = finish
    return out


def response(model: str, rid: str, candidates: list[dict[str, Any]], usage_metadata: dict[str, int]) -> dict[str, Any]:
    """A GenerateContentResponse: the whole answer, or one piece of a stream."""
    return {"candidates": candidates, "usageMetadata": usage_metadata, "modelVersion": model, "responseId": rid}


def chunks(ans: Answer, tokens_per_chunk: int) -> list[tuple[list[dict[str, Any]], int]]:
    """A candidate's stream pieces as (parts, tokens): text `tokens_per_chunk` tokens at a time; a function
    call whole, in one piece."""
    if ans.tool_calls:
        return [(call_parts(ans), ans.completion_tokens)]
    pieces = ans.pieces
    if not pieces:
        return [([{"text": ""}], 0)]
    return [([{"text": "".join(pieces[k: k + tokens_per_chunk])}], len(pieces[k: k + tokens_per_chunk]))
            for k in range(0, len(pieces), tokens_per_chunk)]


def stream_events(model: str, rid: str, found: list[Answer], tokens_per_chunk: int) -> list[dict[str, Any]]:
    """The pieces of a streamed answer. Event k carries chunk k of every candidate that has one, with the
    running usage; the last event carries every candidate's finishReason (a candidate that ended earlier
    comes back with an empty text part for it) and the full usage."""
    per_candidate = [chunks(a, tokens_per_chunk) for a in found]
    steps = max(map(len, per_candidate))
    prompt, total, sent = found[0].prompt_tokens, sum(a.completion_tokens for a in found), 0
    events = []
    for k in range(steps):
        last = k == steps - 1
        cands = []
        for i, (ans, mine) in enumerate(zip(found, per_candidate, strict=True)):
            if k < len(mine):
                parts, tokens = mine[k]
                sent += tokens
            elif last:
                parts = [{"text": ""}]
            else:
                continue
            cands.append(candidate(i, parts, FINISH[ans.finish] if last else None))
        events.append(response(model, rid, cands, usage(prompt, total if last else sent)))
    return events


def json_array_frames(events: list[dict[str, Any]]) -> list[Frame]:
    """Without alt=sse the stream is one JSON array, sent an element at a time."""
    frames = [Frame((b"[" if i == 0 else b",\r\n") + orjson.dumps(ev), token=True) for i, ev in enumerate(events)]
    return [*frames, Frame(b"]")]
