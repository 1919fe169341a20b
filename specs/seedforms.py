"""The seed's request forms -> the official ones (WIRE.md "Seed request quirks").

One place for the mapping, used by the gateway (before a request goes upstream) and by
the mocks (which accept the seed's bodies as written too). Each function takes a parsed
body and returns the official form; `FormError` names the offending field.
"""

from __future__ import annotations

from typing import Any

from .content import decode_data_url, guess_kind
from .validate import errors as schema_errors

_UNTYPED_KEYS = frozenset({"text", "image_url", "file_url", "file_data", "input_audio", "url", "data"})


class FormError(ValueError):
    """A field of a seed form that cannot be mapped; `param` names it."""

    def __init__(self, message: str, param: str | None = None) -> None:
        super().__init__(message)
        self.message, self.param = message, param

# -- Responses API --------------------------------------------------------------------------------


def responses_tool(tool: Any, i: int) -> Any:
    """The chat-completions nesting `{name, type:function, function:{name, description, parameters}}`
    is the same tool as the flat Responses form `{type:function, name, description, parameters}`."""
    if not isinstance(tool, dict) or tool.get("type", "function") != "function" or "function" not in tool:
        return tool
    fn = tool["function"]
    if not isinstance(fn, dict):
        raise FormError(f"tools[{i}].function must be an object", param=f"tools[{i}].function")
    flat = {k: v for k, v in tool.items() if k != "function"}
    flat["type"] = "function"
    for field in ("name", "description", "parameters", "strict"):
        if field in fn:
            flat[field] = fn[field]
    if not isinstance(flat.get("name"), str) or not flat["name"]:
        raise FormError(f"tools[{i}] has no function name", param=f"tools[{i}].name")
    return flat


def typed_part(part: Any) -> Any:
    """A content part without `type` is classified from its value ("auto-detect input type"). One with
    the documented fields (openai.yaml's ResponseInputUntypedPart) must match that schema first: the
    typed part keeps only the value, so a broken field (`"input_audio": {"format": {}}`) would vanish."""
    if isinstance(part, str):
        part = {"value": part}
    if not isinstance(part, dict) or "type" in part:
        return part
    if _UNTYPED_KEYS & part.keys():
        problems = schema_errors("openai", "ResponseInputUntypedPart", part)
        if problems:
            raise FormError(f"an input part without type: {problems[0]}", param="input")
    value = next((part[k] for k in ("text", "image_url", "audio", "input_audio", "file", "file_data", "url",
                                    "value", "data") if isinstance(part.get(k), str)), None)
    if value is None:
        return part
    kind = "text" if "text" in part else guess_kind(value)
    if kind == "image":
        return {"type": "input_image", "image_url": value, "detail": part.get("detail", "auto")}
    if kind == "audio":
        decoded = decode_data_url(value)
        fmt = (decoded[0].split("/")[-1] if decoded else value.rsplit(".", 1)[-1]).lower()
        fmt = {"mpeg": "mp3", "x-wav": "wav", "wave": "wav"}.get(fmt, fmt)
        data = value.split(",", 1)[1] if decoded else value
        return {"type": "input_audio", "input_audio": {"data": data, "format": fmt}}
    if kind == "file":
        if value.startswith("data:"):
            return {"type": "input_file", "file_data": value, "filename": part.get("filename", "file")}
        return {"type": "input_file", "file_url": value}
    return {"type": "input_text", "text": value}


def responses_body(body: dict[str, Any]) -> dict[str, Any]:
    out = dict(body)
    tools = body.get("tools")
    if isinstance(tools, list):
        out["tools"] = [responses_tool(t, i) for i, t in enumerate(tools)]
    items = body.get("input")
    if isinstance(items, list):
        new_items = []
        for item in items:
            if isinstance(item, dict) and isinstance(item.get("content"), list):
                item = {**item, "content": [typed_part(p) for p in item["content"]]}
            new_items.append(item)
        out["input"] = new_items
    return out


# -- Gemini ---------------------------------------------------------------------------------------


def gemini_body(body: dict[str, Any], query_alt: str | None) -> tuple[dict[str, Any], bool]:
    """The seed puts `"alt": "sse"` and `"stream": false` in the body: body `alt` counts like the
    query parameter, body `stream` is ignored; neither goes upstream. Returns (body, sse)."""
    alt = body.get("alt")
    out = {k: v for k, v in body.items() if k not in ("alt", "stream")}
    sse = (query_alt or alt) == "sse"
    if alt is not None and not isinstance(alt, str):
        raise FormError("alt must be a string (\"sse\" or \"json\")", param="alt")
    return out, sse


# -- images ------------------------------------------------------------------------------------------


def image_edit_json(body: dict[str, Any]) -> dict[str, Any]:
    """The seed's `image` as a bare base64 string -> the official `images: [{image_url: data URL}]`."""
    image = body.get("image")
    if image is None:
        return body
    if not isinstance(image, str) or not image:
        raise FormError("image must be a base64 string or a data URL", param="image")
    out = {k: v for k, v in body.items() if k not in ("image", "stream")}
    url = image if image.startswith("data:") else f"data:{_mime_of_b64(image)};base64,{image}"
    others = body.get("images") or []
    if not isinstance(others, list):
        raise FormError("images must be an array of {image_url} objects", param="images")
    out["images"] = [{"image_url": url}, *others]
    return out


def _mime_of_b64(data: str) -> str:
    head = data[:16]
    if head.startswith("iVBOR"):
        return "image/png"
    if head.startswith("/9j/"):
        return "image/jpeg"
    if head.startswith("R0lGOD"):
        return "image/gif"
    if head.startswith("UklGR"):
        return "image/webp"
    raise FormError("image is not a base64 PNG, JPEG, GIF or WebP", param="image")


# -- videos ------------------------------------------------------------------------------------------

# The official API takes only these (VideoSeconds, VideoSize in the OpenAI spec); the two tall/wide
# 1024 sizes are sora-2-pro's only.
SECONDS = ("4", "8", "12")
RESOLUTIONS: dict[str, dict[str, str]] = {  # model family -> seed resolution -> official size
    "sora-2": {"480p": "1280x720", "720p": "1280x720", "1080p": "1280x720"},
    "sora-2-pro": {"480p": "1280x720", "720p": "1280x720", "1080p": "1792x1024"},
}
MAX_DURATION = 60
MAX_FPS = 60


def video_family(model: str) -> str:
    return "sora-2-pro" if model.startswith("sora-2-pro") else "sora-2"


def video_seconds(duration: int) -> str:
    """The shortest allowed clip not shorter than the duration, capped at the longest (5 -> "8")."""
    return next((s for s in SECONDS if int(s) >= duration), SECONDS[-1])


def video_fields(fields: dict[str, Any], model: str = "sora-2") -> dict[str, Any]:
    """Seed `duration` (int), `resolution` ("480p"/"720p"/"1080p") and `fps` -> official `seconds`
    (a string: 4, 8 or 12) and `size` ("WxH", landscape: 480p and 720p -> 1280x720, 1080p ->
    1792x1024 on sora-2-pro and 1280x720 on sora-2). Official fields win when both are given;
    fps has no official counterpart: checked, then dropped. Form fields may be strings."""
    out = {k: v for k, v in fields.items() if k not in ("duration", "resolution", "fps")}
    duration = _whole(fields.get("duration"), "duration", 1, MAX_DURATION)
    if duration is not None and "seconds" not in fields:
        out["seconds"] = video_seconds(duration)
    resolution = fields.get("resolution")
    if resolution is not None:
        table = RESOLUTIONS[video_family(model if isinstance(model, str) else "")]
        if not isinstance(resolution, str) or resolution not in table:
            raise FormError("resolution must be one of 480p, 720p, 1080p", param="resolution")
        if "size" not in fields:
            out["size"] = table[resolution]
    _whole(fields.get("fps"), "fps", 1, MAX_FPS)
    return out


def _whole(value: Any, name: str, lo: int, hi: int) -> int | None:
    if value is None:
        return None
    if isinstance(value, str) and value.strip().isdigit():
        value = int(value)
    if isinstance(value, bool) or not isinstance(value, int) or not lo <= value <= hi:
        raise FormError(f"{name} must be a whole number between {lo} and {hi}", param=name)
    return value
