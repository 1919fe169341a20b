"""The model lists, answered from the in-memory catalog (no node, no usage record):
GET /v1/models, GET /responses/v1/models, the seed's POST /v1/getModelList, and Gemini's
GET .../models and .../models/{model}."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from .. import policy
from ..errors import RelayError
from .base import Dialect, query_int

if TYPE_CHECKING:
    from ..call import Call
    from ..context import RelayContext
    from ..http import Req


class OpenAIModels(Dialect):
    name = "models"

    async def parse(self, ctx: RelayContext, req: Req, call: Call) -> None:
        """The key's usable models."""
        if call.endpoint == "getModelList":  # "after subscribing, fetch once": make sure we serve fresh data
            await ctx.cache.reload()
            call.key, call.user = policy.authenticate(ctx.cache, req, False)
        kinds = ("chat", "responses") if req.path.startswith("/responses") else None
        data = [{"id": m.name, "object": "model", "created": m.created, "owned_by": "topapi"}
                for m in ctx.cache.usable_models(call.key) if kinds is None or m.kind in kinds]
        call.status = 200
        await req.respond_json(200, {"object": "list", "data": data})


class GeminiModels(Dialect):
    name = "gemini.models"
    errors = "gemini"
    gemini_keys = True

    async def parse(self, ctx: RelayContext, req: Req, call: Call) -> None:
        usable = [m for m in ctx.cache.usable_models(call.key) if m.kind == "gemini"]
        # as Gemini's API: pageSize 0 (or none) means 50, more than 1000 means 1000
        size = min(query_int(req, "pageSize", 0, 0, 2**31 - 1), 1000) or 50
        token = req.query_value("pageToken")
        if token and not (token.isascii() and token.isdigit() and len(token) <= 9):
            raise RelayError(400, "Invalid pageToken: pass the nextPageToken of an earlier page", param="pageToken")
        start = int(token or 0)
        page = usable[start:start + size]
        body: dict[str, Any] = {"models": [gemini_model(m) for m in page]}
        if start + size < len(usable):
            body["nextPageToken"] = str(start + size)
        call.status = 200
        await req.respond_json(200, body)


class GeminiModel(GeminiModels):
    async def parse(self, ctx: RelayContext, req: Req, call: Call) -> None:
        name = req.params["model"]
        found = next((m for m in ctx.cache.usable_models(call.key) if m.name == name and m.kind == "gemini"), None)
        if found is None:
            raise RelayError(404, f"models/{name} is not found or not available to this key")
        call.status = 200
        await req.respond_json(200, gemini_model(found))


def gemini_model(m) -> dict[str, Any]:
    return {"name": f"models/{m.name}", "baseModelId": m.name, "version": "001",
            "displayName": m.display_name or m.name, "description": m.description or "",
            "inputTokenLimit": 1048576, "outputTokenLimit": 65536,
            "supportedGenerationMethods": ["generateContent", "streamGenerateContent", "countTokens"]}


OPENAI_LIST = OpenAIModels()
GEMINI_LIST = GeminiModels()
GEMINI_GET = GeminiModel()
