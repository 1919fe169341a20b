"""POST /v1/images/generations and /v1/images/edits: real PNGs of the requested size.

Edits take three input forms: the seed's JSON with `image` as a bare base64 string, the
official JSON with `images: [{image_url}]`, and multipart with `image` or `image[]` file parts
(and an optional `mask`).
"""

from __future__ import annotations

import base64
import binascii
from typing import Any

from starlette.datastructures import UploadFile
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from . import media
from .server import ApiError, MockServer, ctx_of
from .textgen import count_tokens, digest

SIZES = {"256x256", "512x512", "1024x1024", "1536x1024", "1024x1536", "1792x1024", "1024x1792"}
GPT_IMAGE_SIZES = ("1024x1024", "1536x1024", "1024x1536")
DEFAULT_MODEL = "gpt-image-1"


def routes(server: MockServer) -> list[Route]:
    async def generations(request: Request) -> Response:
        ctx = ctx_of(request)
        body = await server.json_body(request)
        server.check_request(body, "CreateImageRequest")
        model = server.check_model(ctx, body.get("model") or DEFAULT_MODEL, "image")
        return ctx.json(images_response(ctx, model, body, b""))

    async def edits(request: Request) -> Response:
        ctx = ctx_of(request)
        if request.headers.get("content-type", "").startswith("multipart/form-data"):
            body, sources = await _multipart(request)
        else:
            body = await server.json_body(request)
            server.check_request(body, "CreateImageEditJsonRequest")
            sources = _json_sources(body)
        if not isinstance(body.get("prompt"), str) or not body["prompt"]:
            raise ApiError(400, "prompt is required", param="prompt")
        if not sources:
            raise ApiError(400, "an input image is required (image, image[] or images)", param="image")
        for i, data in enumerate(sources):
            if media.image_info(data) is None:
                raise ApiError(400, f"input image {i} is not a PNG, JPEG, GIF or WebP image", param="image")
        model = server.check_model(ctx, body.get("model") or DEFAULT_MODEL, "image")
        return ctx.json(images_response(ctx, model, body, digest(*sources)))

    return [Route("/v1/images/generations", generations, methods=["POST"]),
            Route("/v1/images/edits", edits, methods=["POST"])]


def images_response(ctx, model: str, body: dict[str, Any], source_key: bytes) -> dict[str, Any]:
    n = _int(body.get("n", 1), "n", 1, 10)
    size = body.get("size") or "auto"
    if size == "auto":
        size = "1024x1024"
    if size not in SIZES:
        raise ApiError(400, f"size must be one of {', '.join(sorted(SIZES))} or auto", param="size")
    fmt = body.get("response_format") or "b64_json"
    if fmt not in ("b64_json", "url"):
        raise ApiError(400, "response_format must be b64_json or url", param="response_format")
    w, h = (int(v) for v in size.split("x"))
    prompt = body["prompt"]
    data = []
    for i in range(n):
        png = media.png(w, h, f"{ctx.settings.seed}:{prompt}:{source_key.hex()}:{i}")
        b64 = base64.b64encode(png).decode()
        item: dict[str, Any] = {"b64_json": b64} if fmt == "b64_json" else {"url": "data:image/png;base64," + b64}
        if model == "dall-e-3":
            item["revised_prompt"] = prompt
        data.append(item)
    if not model.startswith("gpt-image"):
        return {"created": ctx.created, "data": data}  # DALL-E answers carry no usage or echo fields
    text_tokens = count_tokens(prompt)
    image_tokens = 65 * (len(source_key) > 0)
    out_tokens = 272 * n
    out: dict[str, Any] = {
        "created": ctx.created, "data": data, "background": "opaque", "output_format": "png",
        "quality": body["quality"] if body.get("quality") in ("low", "medium", "high") else "medium",
        "usage": {"input_tokens": text_tokens + image_tokens, "output_tokens": out_tokens,
                  "total_tokens": text_tokens + image_tokens + out_tokens,
                  "input_tokens_details": {"text_tokens": text_tokens, "image_tokens": image_tokens}},
    }
    if size in GPT_IMAGE_SIZES:  # the echoed `size` may only name a gpt-image size (official enum)
        out["size"] = size
    return out


def _int(value: Any, name: str, lo: int, hi: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not lo <= value <= hi:
        raise ApiError(400, f"{name} must be an integer between {lo} and {hi}", param=name)
    return value


def _b64(value: str, param: str) -> bytes:
    try:
        return base64.b64decode(value, validate=True)
    except (binascii.Error, ValueError):
        raise ApiError(400, f"{param} is not valid base64", param=param) from None


def _json_sources(body: dict[str, Any]) -> list[bytes]:
    sources = []
    if isinstance(body.get("image"), str):  # the seed's form: bare base64 (a data URL works too)
        decoded = media.decode_data_url(body["image"])
        sources.append(decoded[1] if decoded else _b64(body["image"], "image"))
    for i, ref in enumerate(body.get("images") or []):
        url = ref.get("image_url") or ref.get("file_id") if isinstance(ref, dict) else None
        if not isinstance(url, str):
            raise ApiError(400, "images[] items need an image_url or a file_id string", param=f"images[{i}]")
        decoded = media.decode_data_url(url)
        if decoded is None and url[:5].lower() == "data:":
            raise ApiError(400, f"images[{i}].image_url is a data URL that does not decode", param=f"images[{i}]")
        # an https URL or a file id cannot be fetched (no network, ever): a 1x1 PNG keyed by it stands in
        sources.append(decoded[1] if decoded else media.png(1, 1, url))
    return sources


async def _multipart(request: Request) -> tuple[dict[str, Any], list[bytes]]:
    try:
        form = await request.form(max_files=16, max_fields=64)
    except Exception as exc:  # malformed multipart bodies raise several types
        raise ApiError(400, f"malformed multipart body: {exc}") from None
    body: dict[str, Any] = {}
    sources: list[bytes] = []
    for key, value in form.multi_items():
        if isinstance(value, UploadFile):
            if key in ("image", "image[]"):
                sources.append(await value.read())
            elif key == "mask" and media.image_info(await value.read()) is None:
                raise ApiError(400, "mask is not an image", param="mask")
        elif key == "n":
            try:
                body["n"] = int(value)
            except ValueError:
                raise ApiError(400, "n must be an integer", param="n") from None
        else:
            body[key] = value
    return body, sources
