"""Images: POST /v1/images/generations (JSON) and /v1/images/edits (multipart, or the seed's JSON)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import orjson

from specs import seedforms

from .. import forms, meters, policy
from ..errors import RelayError
from ..proxy import Outbound, relay_body
from .base import JSON, Dialect, Job, form_error, or_default

if TYPE_CHECKING:
    from ...routing import Target
    from ..call import Call
    from ..context import RelayContext
    from ..http import Req
    from ..proxy import Answer

DEFAULT_MODEL = "gpt-image-1"


class Images(Dialect):
    """What both endpoints share: the node's answer, its usage and image count."""

    kinds = ("image",)
    path = ""

    def outbound(self, job: Job, target: Target) -> Outbound:
        if "files" in job.state:  # multipart: the node's name for the model in the model field
            fields = {**job.body, "model": target.upstream_model}
            return Outbound("POST", self.path, forms.build(fields, job.state["files"]), {})
        return Outbound("POST", self.path, orjson.dumps({**job.body, "model": target.upstream_model}), JSON)

    async def relay(self, ctx: RelayContext, req: Req, call: Call, job: Job, answer: Answer) -> None:
        obj = answer.json()
        if answer.response.status == 200 and isinstance(obj, dict):
            call.images = len(obj.get("data") or [])
            call.prompt_tokens, call.completion_tokens = meters.json_usage("images", obj)
        await relay_body(req, call, answer)


class Generations(Images):
    name = "images.generations"
    path = "/images/generations"

    async def parse(self, ctx: RelayContext, req: Req, call: Call) -> Job:
        body = req.json()
        model = policy.admit(ctx, req, call, self, or_default(body.get("model"), DEFAULT_MODEL))
        _check_no_stream(body)
        return Job(model, {k: v for k, v in body.items() if k != "stream"})


class Edits(Images):
    name = "images.edits"
    path = "/images/edits"

    async def parse(self, ctx: RelayContext, req: Req, call: Call) -> Job:
        if forms.is_multipart(req):
            fields, files = await forms.read(req)
            model = policy.admit(ctx, req, call, self, or_default(fields.get("model"), DEFAULT_MODEL))
            if not any(name in ("image", "image[]") for name, _ in files):
                raise RelayError(400, "an image file part (image or image[]) is required", param="image")
            return Job(model, fields, files=files)
        body = req.json()
        model = policy.admit(ctx, req, call, self, or_default(body.get("model"), DEFAULT_MODEL))
        _check_no_stream(body)
        try:
            if not isinstance(body.get("images", []), list):  # seedforms would splice it into a list
                raise RelayError(400, "images must be a list of {image_url} objects", param="images",
                                 code="invalid_type")
            if "image" in body and "images" in body:  # seedforms would merge them: one form or the other
                raise RelayError(400, "give image (the seed's base64 form) or images, not both", param="images",
                                 code="invalid_value")
            return Job(model, seedforms.image_edit_json(body))
        except seedforms.FormError as exc:
            raise form_error(exc) from None


def _check_no_stream(body: dict[str, Any]) -> None:
    """Images are answered whole: the seed's `"stream": false` is fine, asking for a stream is not
    (it would be dropped silently otherwise)."""
    stream = body.get("stream")
    if stream is not None and stream is not False:  # `is`: 0 is not false here
        raise RelayError(400, "stream: image answers are not streamed; send false or leave it out", param="stream",
                         code="invalid_value")


GENERATIONS = Generations()
EDITS = Edits()
