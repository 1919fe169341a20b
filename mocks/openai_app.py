"""The OpenAI mock upstream: models, chat completions, Responses, images."""

from __future__ import annotations

from collections import OrderedDict
from typing import Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from . import catalog, openai_chat, openai_images, openai_responses
from .server import ApiError, Ctx, MockServer, ctx_of


class OpenAIMock(MockServer):
    dialect = "openai"
    spec = "openai"
    default_node_name = "openai"

    def reset_state(self) -> None:
        self.responses: OrderedDict[str, dict[str, Any]] = OrderedDict()

    def check_model(self, ctx: Ctx, model: Any, kind: str) -> str:
        if not isinstance(model, str) or not model:
            raise ApiError(400, "model is required", param="model")
        found = catalog.openai_kind(model)
        if found is None:
            raise ApiError(404, f"The model `{model}` does not exist or you do not have access to it.",
                           param="model", code="model_not_found")
        if found != kind:
            raise ApiError(400, f"The model `{model}` is a {found} model and cannot be used here.",
                           param="model", code="invalid_model")
        self.count_model(ctx, model)
        return model

    def routes(self) -> list[BaseRoute]:
        async def list_models(request: Request) -> Response:
            ctx = ctx_of(request)
            return ctx.json({"object": "list", "data": [
                {"id": m, "object": "model", "created": self.epoch, "owned_by": catalog.OWNER}
                for m in catalog.OPENAI_MODELS]})

        async def get_model(request: Request) -> Response:
            ctx = ctx_of(request)
            model = request.path_params["model"]
            if model not in catalog.OPENAI_MODELS:
                raise ApiError(404, f"The model `{model}` does not exist or you do not have access to it.",
                               param="model", code="model_not_found")
            return ctx.json({"id": model, "object": "model", "created": self.epoch, "owned_by": catalog.OWNER})

        return [
            Route("/v1/models", list_models, methods=["GET"]),
            Route("/v1/models/{model:path}", get_model, methods=["GET"]),
            *openai_chat.routes(self),
            *openai_responses.routes(self),
            *openai_images.routes(self),
        ]
