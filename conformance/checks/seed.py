"""The seed's requests (specs/seed.py) byte for byte, the tool-call round trip and the multimodal request."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import httpx
import orjson

from specs import seed
from specs.seed import SeedRequest

from ..context import Ctx
from ..registry import Case, CheckFailed, Sub, cases, check
from ..surfaces import surface_of
from . import gemini, images, responses, videos
from .chat import usage_consistent as chat_usage


def send(ctx: Ctx, req: SeedRequest, path: str | None = None) -> httpx.Response:
    """The request as the guide writes it: its path, its body text, the key bare in Authorization."""
    headers = {"content-type": "application/json"} if req.body is not None else None
    return ctx.request(req.method, path or req.path, content=req.body.encode() if req.body is not None else None,
                       headers=headers, auth="bare")


def _model_list(ctx: Ctx, r: httpx.Response, what: str) -> None:
    obj = ctx.ok_json(r, what)
    ctx.valid("openai", "ModelList", obj, what)
    ctx.expect(obj["data"], f"{what}: the list is empty")


def _chat(ctx: Ctx, r: httpx.Response, what: str) -> None:
    obj = ctx.ok_json(r, what)
    ctx.valid("openai", "ChatCompletion", obj, what)
    ctx.expect(obj["choices"][0]["message"].get("content"), f"{what}: no content")
    chat_usage(ctx, obj["usage"], what)


def _response_text(ctx: Ctx, r: httpx.Response, what: str) -> None:
    obj = responses.completed(ctx, ctx.ok_json(r, what), what)
    ctx.expect(responses.output_text(obj), f"{what}: no output_text")


def _tool_call(ctx: Ctx, r: httpx.Response, what: str) -> dict[str, Any]:
    """The seed's tool-call request answers with a function_call of calc whose arguments are a JSON object."""
    obj = responses.completed(ctx, ctx.ok_json(r, what), what)
    calls = responses.function_calls(obj)
    ctx.expect(calls, f"{what}: no function_call in the output (types: {[o.get('type') for o in obj['output']]})")
    call = calls[0]
    ctx.expect(call["name"] == "calc", f"{what}: the function_call names {call['name']!r}, expected calc")
    try:
        args = orjson.loads(call["arguments"])
    except orjson.JSONDecodeError:
        ctx.fail(f"{what}: the arguments are not JSON: {call['arguments'][:200]!r}")
    ctx.expect(isinstance(args, dict), f"{what}: the arguments are not a JSON object")
    return obj


def _video(ctx: Ctx, r: httpx.Response, what: str) -> dict[str, Any]:
    obj = videos.video(ctx, r, what)
    ctx.expect(obj["status"] in videos.STATUSES, f"{what}: status {obj['status']!r}")
    return obj


def _seed_requests(ctx: Ctx) -> list[tuple[SeedRequest, Callable[[], None]]]:
    """(request, a function that sends it and judges the answer) for every request of the guide."""

    def job_id() -> str:
        return videos.completed_job(ctx).id

    def plain(req: SeedRequest, judge: Callable[[Ctx, httpx.Response, str], Any]) -> Callable[[], None]:
        return lambda: judge(ctx, send(ctx, req), f"{req.method} {req.path}")

    def gemini_stream() -> None:
        req = seed.GEMINI_STREAM
        cap = ctx.stream(req.method, req.path, content=req.body.encode(), headers={"content-type": "application/json"},
                         auth="bare")
        gemini.check_sse(ctx, cap, f"{req.method} {req.path}")

    def gemini_models() -> None:
        what = f"GET {seed.GEMINI_MODELS.path}"
        obj = ctx.ok_json(send(ctx, seed.GEMINI_MODELS), what)
        ctx.valid("gemini", "ListModelsResponse", obj, what)
        ctx.expect(obj["models"], f"{what}: no models")

    def image(req: SeedRequest) -> Callable[[], None]:
        return lambda: images.pngs(ctx, send(ctx, req), req.json().get("size"), f"{req.method} {req.path}")

    def video_create() -> None:
        obj = _video(ctx, send(ctx, seed.VIDEO_CREATE), f"POST {seed.VIDEO_CREATE.path}")
        ctx.expect(obj["status"] in ("queued", "in_progress"), f"POST {seed.VIDEO_CREATE.path}: a new job has "
                   f"status {obj['status']!r}")

    def video_retrieve() -> None:
        vid = job_id()
        obj = _video(ctx, send(ctx, seed.VIDEO_RETRIEVE, seed.VIDEO_RETRIEVE.with_video_id(vid)), "GET /v1/videos/{id}")
        ctx.expect(obj["id"] == vid, f"GET /v1/videos/{vid} answers for {obj['id']!r}")

    def video_content() -> None:
        vid = job_id()
        videos.mp4(ctx, send(ctx, seed.VIDEO_CONTENT, seed.VIDEO_CONTENT.with_video_id(vid)),
                   f"POST /v1/videos/{vid}/content")

    def video_remix() -> None:
        vid = job_id()
        obj = _video(ctx, send(ctx, seed.VIDEO_REMIX, seed.VIDEO_REMIX.with_video_id(vid)),
                     f"POST /v1/videos/{vid}/remix")
        ctx.expect(obj.get("remixed_from_video_id") == vid, f"the remix has remixed_from_video_id "
                   f"{obj.get('remixed_from_video_id')!r}, expected {vid}", cause="videos.remixed_from")

    judges: dict[str, Callable[[], None]] = {
        "get_model_list": plain(seed.GET_MODEL_LIST, _model_list),
        "models": plain(seed.MODELS, _model_list),
        "chat": plain(seed.CHAT, _chat),
        "responses_models": plain(seed.RESPONSES_MODELS, _model_list),
        "responses": plain(seed.RESPONSES, _response_text),
        "gemini_models": gemini_models,
        "gemini_stream": gemini_stream,
        "image_generation": image(seed.IMAGE_GENERATION),
        "image_edit": image(seed.IMAGE_EDIT),
        "video_create": video_create,
        "video_retrieve": video_retrieve,
        "video_content": video_content,
        "video_remix": video_remix,
        "responses_tool_call": plain(seed.RESPONSES_TOOL_CALL, _tool_call),
        "responses_multimodal": plain(seed.RESPONSES_MULTIMODAL, _response_text),
    }
    missing = [r.name for r in seed.ALL if r.name not in judges]
    if missing:
        raise KeyError(f"no judge for the seed requests {missing}")  # specs/seed.py grew: add one here
    return [(r, judges[r.name]) for r in seed.ALL]


@check("seed.requests", "Every request of the usage guide, sent byte for byte (its body text, the bare "
       "Authorization header, its paths including //v1/images/edits; real video ids), is answered validly",
       slow=True, surface="topapi")
def seed_requests(ctx: Ctx) -> list[Sub]:
    def needs(req: SeedRequest) -> tuple[str, ...]:
        return ("setup.video_completed",) if req.with_video_id("x") != req.path else ()

    return cases(ctx, [Case(req.name, judge, surface=("topapi", surface_of(req.path.replace("//", "/"))),
                            needs=needs(req)) for req, judge in _seed_requests(ctx)])


@check("seed.tool_round_trip", "The guide's tool call: a function_call of calc with JSON arguments; its "
       "function_call_output sent back (with previous_response_id, and as the whole input again) gets an answer",
       surface=("topapi", "openai.responses"))
def seed_tool_round_trip(ctx: Ctx) -> list[Sub]:
    req = seed.RESPONSES_TOOL_CALL
    first = _tool_call(ctx, send(ctx, req), "the seed's tool-call request")
    call = responses.function_calls(first)[0]
    output = {"type": "function_call_output", "call_id": call["call_id"], "output": "6"}
    subs = []
    try:
        what = "function_call_output with previous_response_id"
        r = ctx.post(req.path, {"model": first["model"], "previous_response_id": first["id"], "input": [output]})
        _response_text(ctx, r, what)
        prev = ctx.json_of(r, what).get("previous_response_id")
        ctx.expect(prev in (None, first["id"]), f"{what}: previous_response_id {prev!r}, expected {first['id']!r}",
                   cause="responses.previous_response_id")
        subs.append(Sub("previous_response_id", True))
    except CheckFailed as exc:
        subs.append(Sub.failure("previous_response_id", exc))
    try:
        whole = req.json()
        whole["input"] += [{k: call[k] for k in ("type", "call_id", "name", "arguments")}, output]
        _response_text(ctx, ctx.post(req.path, whole), "the whole input with the function_call and its output")
        subs.append(Sub("whole input", True))
    except CheckFailed as exc:
        subs.append(Sub.failure("whole input", exc))
    return subs


@check("seed.multimodal", "The guide's multimodal request (input_text + input_image URL) is answered with text",
       surface=("topapi", "openai.responses"))
def seed_multimodal(ctx: Ctx) -> None:
    req = seed.RESPONSES_MULTIMODAL
    _response_text(ctx, send(ctx, req), "the seed's input_image request")
