"""Which dialect serves a relay path: the route tables.

Paths are normalised first (`//v1/images/edits` works); `controller.handle` runs the matched
dialect through the request path.
"""

from __future__ import annotations

from dataclasses import dataclass

from .dialects import chat, gemini, images, models, responses, videos
from .dialects.base import Dialect


@dataclass(frozen=True, slots=True)
class Route:
    op: Dialect  # parses, renders and meters the request in its wire format
    endpoint: str  # name in usage records
    record: bool = True  # model lists are answered locally: no usage record

    @property
    def dialect(self) -> str:
        """The error shape: openai | gemini."""
        return self.op.errors


STATIC: dict[tuple[str, str], Route] = {
    ("POST", "/v1/getModelList"): Route(models.OPENAI_LIST, "getModelList", False),
    ("GET", "/v1/models"): Route(models.OPENAI_LIST, "models", False),
    ("GET", "/responses/v1/models"): Route(models.OPENAI_LIST, "models", False),
    ("POST", "/v1/chat/completions"): Route(chat.COMPLETIONS, "chat.completions"),
    ("POST", "/v1/responses"): Route(responses.RESPONSES, "responses"),
    ("POST", "/responses/v1/responses"): Route(responses.RESPONSES, "responses"),
    ("POST", "/v1/images/generations"): Route(images.GENERATIONS, "images.generations"),
    ("POST", "/v1/images/edits"): Route(images.EDITS, "images.edits"),
    ("POST", "/v1/videos"): Route(videos.CREATE, "videos.create"),
    ("GET", "/v1/videos"): Route(videos.LIST, "videos.list", False),
}
GEMINI_PREFIXES = ("/gemini/v1beta/models", "/v1beta/models", "/gemini/v1/models")
GEMINI_METHODS = {"generateContent": "gemini.generateContent",
                  "streamGenerateContent": "gemini.streamGenerateContent",
                  "countTokens": "gemini.countTokens"}
VIDEO_ROUTES = {
    ("GET", ""): Route(videos.RETRIEVE, "videos.retrieve"),
    ("DELETE", ""): Route(videos.DELETE, "videos.delete"),
    ("GET", "/content"): Route(videos.CONTENT, "videos.content"),
    ("POST", "/content"): Route(videos.CONTENT, "videos.content"),
    ("POST", "/remix"): Route(videos.REMIX, "videos.remix"),
}
GEMINI_LIST = Route(models.GEMINI_LIST, "gemini.models", False)
GEMINI_GET = Route(models.GEMINI_GET, "gemini.models", False)
GEMINI_CALLS = {verb: Route(gemini.GENERATE, name) for verb, name in GEMINI_METHODS.items()}
# google-genai's default api_version is v1: with the gateway root as its base URL it posts to
# /v1/models/{model}:generateContent. Only the `:verb` form is Gemini's under /v1/models (the
# list and GET /v1/models/{id} there are OpenAI's).
GEMINI_V1_ROOT = "/v1/models/"


def dialect_of(path: str) -> str:
    if path.startswith(("/gemini/", "/v1beta/")) or (path.startswith(GEMINI_V1_ROOT) and ":" in path):
        return "gemini"
    return "openai"


def _gemini_call(method: str, name: str) -> tuple[Route | None, dict[str, str], bool] | None:
    """`{model}:{verb}` after a models prefix, or None when `name` is not of that form."""
    model, sep, verb = name.rpartition(":")
    if not (sep and model and verb in GEMINI_METHODS and "/" not in model):
        return None
    if method != "POST":
        return None, {}, True
    return GEMINI_CALLS[verb], {"model": model, "method": verb}, True


def match(method: str, path: str) -> tuple[Route | None, dict[str, str], bool]:
    """(route, path params, path exists under another method)."""
    route = STATIC.get((method, path))
    if route is not None:
        return route, {}, True
    if any(p == path for (_, p) in STATIC):
        return None, {}, True
    if path.startswith("/v1/videos/"):
        rest = path[len("/v1/videos/"):]
        video_id, _, tail = rest.partition("/")
        tail = "/" + tail if tail else ""
        if video_id and tail in ("", "/content", "/remix"):
            return VIDEO_ROUTES.get((method, tail)), {"video_id": video_id}, True
        return None, {}, False
    for prefix in GEMINI_PREFIXES:
        if path == prefix:
            return (GEMINI_LIST if method == "GET" else None), {}, True
        if path.startswith(prefix + "/"):
            name = path[len(prefix) + 1:]
            found = _gemini_call(method, name)
            if found is not None:
                return found
            if ":" not in name and "/" not in name and name:
                return (GEMINI_GET if method == "GET" else None), {"model": name}, True
            return None, {}, False
    if path.startswith(GEMINI_V1_ROOT):
        found = _gemini_call(method, path[len(GEMINI_V1_ROOT):])
        if found is not None:
            return found
    return None, {}, False
