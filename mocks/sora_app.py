"""The Sora mock upstream (OpenAI videos API): asynchronous video jobs held in memory.

Routes: POST /v1/videos (JSON, multipart or urlencoded form), GET /v1/videos (list),
GET|DELETE /v1/videos/{id}, GET|POST /v1/videos/{id}/content, POST /v1/videos/{id}/remix.

Request fields. Official: `prompt` (required), `model` (sora-2 | sora-2-pro or their dated
snapshots; default sora-2; anything else is 400 `invalid_value`, as OpenAI answers for a value
outside an enum), `seconds` ("4" | "8" | "12", default "4"), `size` (default 720x1280; sora-2
renders 720x1280 and 1280x720 only, sora-2-pro also 1024x1792 and 1792x1024), `input_reference`
(a file part, or `{image_url | file_id}` in JSON / `input_reference[image_url]` in a form).
The seed's fields are accepted as written and mapped onto the official ones, so every job
still validates against the official VideoResource (whose `seconds` and `size` are enums):

- `duration` (int, 1..60) -> `seconds`: the shortest allowed clip not shorter than the
  duration, capped at "12" (1..4 -> "4", 5..8 -> "8", 9.. -> "12"; the seed's 5 -> "8").
- `resolution` -> `size`, landscape (a "480p"/"720p"/"1080p" name means a 16:9 frame of that
  height): "480p" and "720p" -> 1280x720; "1080p" -> 1792x1024 on sora-2-pro, 1280x720 on
  sora-2 (its largest).
- `fps` (int, 1..60) is checked and otherwise ignored: the official API has no frame rate.
`seconds` and `size` win over `duration` and `resolution` when both are given.

Lifecycle, from real elapsed (monotonic) time against `video_ms` as set when the job was
created (server setting or the request's x-mock-config): queued for the first 10%, then
in_progress with progress rising 0..99, then completed (progress 100, completed_at,
expires_at). A prompt containing "[fail]" (any case) fails the job half way, with
`error: {code, message}`. `created_at` follows the mock's deterministic clock (epoch +
request number); `completed_at` is created_at + the job's duration in whole seconds.
Responses for unfinished jobs carry `openai-poll-after-ms`, which the SDK's poll() honours.

Choices where the real API's answer is not documented (all 409, as specs/openapi/sora.yaml
lists): content of an unfinished or failed job, remix of a source that is not completed,
delete of a job that is still queued or in_progress (the official API deletes "a completed
or failed video"). Unknown ids are 404, and so is an `after` cursor naming no job.
"""

from __future__ import annotations

import math
import re
import time
from collections import OrderedDict
from dataclasses import dataclass
from typing import Any

from starlette.datastructures import UploadFile
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from specs import seedforms

from . import media
from .server import ApiError, Ctx, MockServer, ctx_of

# model id -> the family whose sizes it renders
MODELS: dict[str, str] = {
    "sora-2": "sora-2",
    "sora-2-2025-10-06": "sora-2",
    "sora-2-2025-12-08": "sora-2",
    "sora-2-pro": "sora-2-pro",
    "sora-2-pro-2025-10-06": "sora-2-pro",
}
DEFAULT_MODEL = "sora-2"
SECONDS = seedforms.SECONDS
DEFAULT_SECONDS = "4"
SIZES: dict[str, tuple[str, ...]] = {
    "sora-2": ("720x1280", "1280x720"),
    "sora-2-pro": ("720x1280", "1280x720", "1024x1792", "1792x1024"),
}
DEFAULT_SIZE = "720x1280"
VARIANTS = ("video", "thumbnail", "spritesheet")
REFERENCE_MIMES = ("image/png", "image/jpeg", "image/webp", "video/mp4")

FAIL_MARKER = "[fail]"
QUEUED_SHARE = 0.1  # of the job's duration spent queued
FAIL_AT = 0.5  # a [fail] job fails at this share of its duration
EXPIRES_AFTER_S = 3600  # assets downloadable for an hour after completion
MAX_JOBS = 10_000  # the oldest are forgotten beyond this (long load runs)
LIST_DEFAULT_LIMIT = 20
MAX_PROMPT = 32_000

_INT_FORM_FIELDS = ("duration", "fps")
_FORM_REF_KEY = re.compile(r"input_reference\[(\w+)\]")


def _progress(share: float) -> int:
    """in_progress percentage at `share` of the duration: 0 when queueing ends, 99 just before the end."""
    return max(0, min(99, int((share - QUEUED_SHARE) / (1 - QUEUED_SHARE) * 100)))


@dataclass
class Job:
    id: str
    model: str
    prompt: str
    size: str
    seconds: str
    created_at: int
    started: float  # time.monotonic() at creation
    duration_s: float
    fails: bool
    remixed_from: str | None = None

    def state(self, now: float | None = None) -> tuple[str, int]:
        """(status, progress) now; both only move forward, as time does."""
        elapsed = (time.monotonic() if now is None else now) - self.started
        share = elapsed / self.duration_s if self.duration_s > 0 else 1.0
        if self.fails and share >= FAIL_AT:
            return "failed", _progress(FAIL_AT)
        if share >= 1.0:
            return "completed", 100
        if share < QUEUED_SHARE:
            return "queued", 0
        return "in_progress", _progress(share)

    def resource(self) -> dict[str, Any]:
        """The official Video object (VideoResource)."""
        status, progress = self.state()
        completed_at = expires_at = error = None
        if status == "completed":
            completed_at = self.created_at + math.ceil(self.duration_s)
            expires_at = completed_at + EXPIRES_AFTER_S
        elif status == "failed":
            error = {"code": "video_generation_failed",
                     "message": f"Video generation failed at {progress}%: the prompt contains the mock's "
                                f"{FAIL_MARKER} marker."}
        return {"id": self.id, "object": "video", "model": self.model, "status": status, "progress": progress,
                "created_at": self.created_at, "completed_at": completed_at, "expires_at": expires_at,
                "prompt": self.prompt, "size": self.size, "seconds": self.seconds,
                "remixed_from_video_id": self.remixed_from, "error": error}

    def poll_after_ms(self) -> int:
        """The polling interval suggested to clients: a tenth of the job's duration, 10 ms..1 s."""
        return int(min(1000, max(10, math.ceil(self.duration_s * 100))))


class SoraMock(MockServer):
    dialect = "openai"
    spec = "sora"
    default_node_name = "sora"

    def reset_state(self) -> None:
        self.jobs: OrderedDict[str, Job] = OrderedDict()

    # -- jobs ------------------------------------------------------------------------------------
    def job(self, video_id: str) -> Job:
        found = self.jobs.get(video_id)
        if found is None:
            raise ApiError(404, f"Video with id '{video_id[:100]}' not found.", param="video_id",
                           code="not_found")
        return found

    def start(self, ctx: Ctx, model: str, prompt: str, size: str, seconds: str,
              remixed_from: str | None = None) -> Job:
        self.count_model(ctx, model)
        job = Job(id=ctx.ident("video_", 32), model=model, prompt=prompt, size=size, seconds=seconds,
                  created_at=ctx.created, started=time.monotonic(), duration_s=ctx.settings.video_ms / 1000,
                  fails=FAIL_MARKER in prompt.lower(), remixed_from=remixed_from)
        self.jobs[job.id] = job
        while len(self.jobs) > MAX_JOBS:
            self.jobs.popitem(last=False)
        return job

    def answer(self, ctx: Ctx, job: Job) -> Response:
        video = job.resource()
        headers = None
        if video["status"] in ("queued", "in_progress"):
            headers = {"openai-poll-after-ms": str(job.poll_after_ms())}
        return ctx.json(video, headers=headers)

    # -- request bodies -----------------------------------------------------------------------------
    async def read_fields(self, request: Request) -> tuple[dict[str, Any], UploadFile | None, bool]:
        """(fields, uploaded input_reference, came as a form) from a JSON or form body."""
        ctype = request.headers.get("content-type", "").lower()
        if ctype.startswith("multipart/form-data") or (
                ctype.startswith("application/x-www-form-urlencoded")
                and not (await request.body()).lstrip().startswith(b"{")):  # curl -d '{...}' sends JSON so
            fields, upload = await self._form_fields(request)
            return fields, upload, True
        return await self.json_body(request), None, False

    async def _form_fields(self, request: Request) -> tuple[dict[str, Any], UploadFile | None]:
        try:
            form = await request.form(max_files=4, max_fields=64)
        except Exception as exc:  # malformed bodies raise several types (and HTTPException 400)
            raise ApiError(400, f"malformed form body: {getattr(exc, 'detail', exc)}") from None
        fields: dict[str, Any] = {}
        ref: dict[str, str] = {}
        upload: UploadFile | None = None
        for key, value in form.multi_items():
            if isinstance(value, UploadFile):
                if key != "input_reference":
                    raise ApiError(400, f"Unexpected file part '{key}'; only input_reference takes a file.",
                                   param=key, code="unknown_parameter")
                upload = value
            elif m := _FORM_REF_KEY.fullmatch(key):  # the SDK's form encoding of {image_url | file_id}
                ref[m.group(1)] = value
            elif key in _INT_FORM_FIELDS and re.fullmatch(r"-?\d{1,9}", value.strip()):
                fields[key] = int(value)
            else:
                fields[key] = value
        if ref:
            if upload is not None or "input_reference" in fields:
                raise ApiError(400, "Give input_reference once: a file or an object, not both.",
                               param="input_reference", code="invalid_value")
            fields["input_reference"] = ref
        return fields, upload

    @staticmethod
    def check_prompt(fields: dict[str, Any]) -> None:
        """The prompt first, with short messages (a schema error would quote a 32 kB prompt back)."""
        if "prompt" not in fields:
            raise ApiError(400, "Missing required parameter: 'prompt'.", param="prompt",
                           code="missing_required_parameter")
        prompt = fields["prompt"]
        if not isinstance(prompt, str):
            raise ApiError(400, f"Invalid type for 'prompt': expected a string, but got {_json_type(prompt)} "
                                "instead.", param="prompt", code="invalid_type")
        if not prompt:
            raise ApiError(400, "Invalid 'prompt': empty string. Expected a string with minimum length 1.",
                           param="prompt", code="empty_string")
        if len(prompt) > MAX_PROMPT:
            raise ApiError(400, f"Invalid 'prompt': string too long. Expected a string with maximum length "
                                f"{MAX_PROMPT}, but got a string with length {len(prompt)} instead.",
                           param="prompt", code="string_above_max_length")

    @staticmethod
    def check_model_and_size(fields: dict[str, Any]) -> None:
        """Model and size before the schema: its model/size rule is an anyOf that names no field."""
        model = fields.get("model", DEFAULT_MODEL)
        if not isinstance(model, str):
            raise ApiError(400, f"Invalid type for 'model': expected a string, but got {_json_type(model)} "
                                "instead.", param="model", code="invalid_type")
        if model not in MODELS:
            raise ApiError(400, f"Invalid value: '{model[:100]}'. Supported values are: 'sora-2' and "
                                "'sora-2-pro'.", param="model", code="invalid_value")
        size = fields.get("size")
        allowed = SIZES[MODELS[model]]
        if size is not None and size not in allowed:
            shown = size[:100] if isinstance(size, str) else _json_type(size)
            raise ApiError(400, f"Invalid value: '{shown}'. Model '{model}' supports sizes "
                                f"{', '.join(repr(s) for s in allowed)}.", param="size", code="invalid_value")

    def check_create(self, fields: dict[str, Any], upload: UploadFile | None, form: bool) -> None:
        self.check_prompt(fields)
        self.check_model_and_size(fields)
        if upload is not None:
            if "input_reference" in fields:
                raise ApiError(400, "Give input_reference once: a file or a value, not both.",
                               param="input_reference", code="invalid_value")
            self.check_request({**fields, "input_reference": upload.filename or "upload"},
                               "CreateVideoMultipartRequest")
            return
        ref = fields.get("input_reference")
        if form and isinstance(ref, str):  # a form text field: a URL, as image_url
            if not ref.startswith(("http://", "https://", "data:")):
                raise ApiError(400, "input_reference must be a file, an http(s) URL or a data URL.",
                               param="input_reference", code="invalid_value")
            fields["input_reference"] = ref = {"image_url": ref}
        self.check_request(fields, "CreateVideoJsonRequest")
        url = ref.get("image_url") if isinstance(ref, dict) else None
        if isinstance(url, str) and url.startswith("data:"):
            decoded = media.decode_data_url(url)
            if decoded is None or media.image_info(decoded[1]) is None:
                raise ApiError(400, "input_reference.image_url is not a decodable image data URL.",
                               param="input_reference.image_url", code="invalid_value")

    @staticmethod
    async def check_upload(upload: UploadFile) -> None:
        data = await upload.read()
        if not data:
            raise ApiError(400, "input_reference is an empty file.", param="input_reference",
                           code="invalid_value")
        info = media.image_info(data)
        is_mp4 = data[4:8] == b"ftyp" and data[8:11] != b"M4A"  # ISO media, not audio-only
        mime = f"image/{info[0]}" if info else ("video/mp4" if is_mp4 else None)
        if mime not in REFERENCE_MIMES:
            declared = upload.content_type or "unknown type"
            raise ApiError(400, f"input_reference must be a PNG, JPEG or WebP image or an MP4 video "
                                f"(got {declared}, {len(data)} bytes).", param="input_reference",
                           code="invalid_value")

    @staticmethod
    def resolve(fields: dict[str, Any]) -> tuple[str, str, str]:
        """(model, seconds, size) of a checked request, seed fields mapped by specs.seedforms."""
        model = fields.get("model", DEFAULT_MODEL)
        try:
            official = seedforms.video_fields(fields, model)
        except seedforms.FormError as exc:
            raise ApiError(400, exc.message, param=exc.param, code="invalid_value") from None
        return model, official.get("seconds", DEFAULT_SECONDS), official.get("size", DEFAULT_SIZE)

    # -- routes ------------------------------------------------------------------------------------
    def routes(self) -> list[BaseRoute]:
        async def create(request: Request) -> Response:
            ctx = ctx_of(request)
            fields, upload, form = await self.read_fields(request)
            self.check_create(fields, upload, form)
            if upload is not None:
                await self.check_upload(upload)
            model, seconds, size = self.resolve(fields)
            return self.answer(ctx, self.start(ctx, model, fields["prompt"], size, seconds))

        async def list_videos(request: Request) -> Response:
            ctx = ctx_of(request)
            q = request.query_params
            limit = _limit(q.get("limit"))
            order = q.get("order", "desc")
            if order not in ("asc", "desc"):
                raise ApiError(400, f"Invalid value: '{order}'. Supported values are: 'asc' and 'desc'.",
                               param="order", code="invalid_value")
            jobs = list(self.jobs.values())
            if order == "desc":
                jobs.reverse()
            after = q.get("after")
            if after == "":
                raise ApiError(400, "Invalid value for 'after': an empty string; give the id of the last "
                                    "video of the previous page.", param="after", code="invalid_value")
            if after is not None:
                index = next((i for i, j in enumerate(jobs) if j.id == after), None)
                if index is None:
                    raise ApiError(404, f"Video with id '{after[:100]}' not found (the 'after' cursor).",
                                   param="after", code="not_found")
                jobs = jobs[index + 1:]
            page = [j.resource() for j in jobs[:limit]]
            return ctx.json({"object": "list", "data": page,
                             "first_id": page[0]["id"] if page else None,
                             "last_id": page[-1]["id"] if page else None,
                             "has_more": len(jobs) > limit})

        async def retrieve(request: Request) -> Response:
            return self.answer(ctx_of(request), self.job(request.path_params["video_id"]))

        async def delete(request: Request) -> Response:
            ctx = ctx_of(request)
            job = self.job(request.path_params["video_id"])
            status, progress = job.state()
            if status in ("queued", "in_progress"):
                raise ApiError(409, f"Video '{job.id}' is still {status} ({progress}%); only a completed or "
                                    "failed video can be deleted.", param="video_id",
                               code="video_not_finished")
            del self.jobs[job.id]
            return ctx.json({"id": job.id, "object": "video.deleted", "deleted": True})

        async def content(request: Request) -> Response:
            variant = request.query_params.get("variant", "video")
            found = media.video_content(variant)
            if found is None:
                raise ApiError(400, f"Invalid value: '{variant[:100]}'. Supported values are: "
                                    f"{', '.join(repr(v) for v in VARIANTS)}.", param="variant",
                               code="invalid_value")
            job = self.job(request.path_params["video_id"])
            status, progress = job.state()
            if status == "failed":
                raise ApiError(409, f"Video '{job.id}' failed; it has no content to download.",
                               param="video_id", code="video_failed")
            if status != "completed":
                raise ApiError(409, f"video is not ready: status {status} ({progress}%). Poll GET "
                                    f"/v1/videos/{job.id} until its status is completed.",
                               param="video_id", code="video_not_ready")
            mime, data = found
            return Response(data, media_type=mime)

        async def remix(request: Request) -> Response:
            ctx = ctx_of(request)
            fields, upload, _ = await self.read_fields(request)
            if upload is not None:
                raise ApiError(400, "remix takes no file; send {\"prompt\": ...}.", param="input_reference",
                               code="unknown_parameter")
            self.check_prompt(fields)
            self.check_request(fields, "RemixVideoRequest")
            source = self.job(request.path_params["video_id"])
            status, progress = source.state()
            if status != "completed":
                raise ApiError(409, f"Video '{source.id}' cannot be remixed: status {status} ({progress}%); "
                                    "only a completed video can be remixed.", param="video_id",
                               code="video_not_ready")
            job = self.start(ctx, source.model, fields["prompt"], source.size, source.seconds,
                             remixed_from=source.id)
            return self.answer(ctx, job)

        return [
            Route("/v1/videos", create, methods=["POST"]),
            Route("/v1/videos", list_videos, methods=["GET"]),
            Route("/v1/videos/{video_id}", retrieve, methods=["GET"]),
            Route("/v1/videos/{video_id}", delete, methods=["DELETE"]),
            Route("/v1/videos/{video_id}/content", content, methods=["GET", "POST"]),
            Route("/v1/videos/{video_id}/remix", remix, methods=["POST"]),
        ]


def _json_type(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, int | float):
        return "a number"
    return "an array" if isinstance(value, list) else "an object"


def _limit(raw: str | None) -> int:
    if raw is None:
        return LIST_DEFAULT_LIMIT
    if not re.fullmatch(r"\d{1,4}", raw.strip()) or int(raw) > 100:
        raise ApiError(400, f"Invalid value for 'limit': '{raw}'; an integer from 0 to 100 is expected.",
                       param="limit", code="invalid_value")
    return int(raw)
