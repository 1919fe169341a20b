"""Gemini: POST .../models/{model}:generateContent | streamGenerateContent | countTokens.

A stream is SSE with `?alt=sse`, otherwise one JSON array written element by element."""

from __future__ import annotations

from typing import TYPE_CHECKING

import orjson

from specs import seedforms

from .. import meters, policy
from ..errors import RelayError
from ..proxy import Outbound, relay_body, relay_stream
from . import gemini_convert as convert
from .base import JSON, Job, form_error
from .convert import TextDialect
from .neutral import Unsupported

if TYPE_CHECKING:
    from ...routing import Target
    from ..call import Call
    from ..context import RelayContext
    from ..http import Req
    from ..proxy import Answer


class Gemini(TextDialect):
    name = "gemini"
    errors = "gemini"
    gemini_keys = True

    def wrong_kind(self, req: Req, model: str, kind: str) -> RelayError:
        # as Gemini's API words it
        return RelayError(404, f"models/{model} is not found for API version v1beta, or is not supported for "
                               f"{req.params.get('method', 'generateContent')}", param="model",
                          code="model_not_supported")

    async def parse(self, ctx: RelayContext, req: Req, call: Call) -> Job:
        model, method = req.params["model"], req.params["method"]
        body = req.json()
        policy.admit(ctx, req, call, self, model)
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
            raise form_error(exc) from None
        stream = method == "streamGenerateContent"
        call.stream = stream
        job = Job(model, upstream_body, stream=stream, method=method, sse=sse)
        job.payload = orjson.dumps(upstream_body)
        self.prepare(ctx, job, ctx.router.targets(model))
        return job

    def to_chat(self, job: Job) -> dict:
        if job.state["method"] == "countTokens":
            raise Unsupported(f"countTokens is answered by Gemini nodes only, and `{job.model}` is served by "
                              "nodes of another API", "model")
        return convert.request_to_chat(job.body, job.model, job.stream)

    def answer_from_chat(self, neutral: dict, job: Job) -> dict:
        return convert.answer_from_chat(neutral, job.model)

    def renderer(self, job: Job) -> convert.StreamFromChat:
        return convert.StreamFromChat(job.model, job.state["sse"])

    def stream_type(self, job: Job) -> bytes:
        return b"text/event-stream" if job.state["sse"] else b"application/json"

    def stream_name(self, job: Job) -> str:
        return "gemini" if job.state["sse"] else "gemini-array"

    def native_outbound(self, job: Job, target: Target) -> Outbound:
        method = job.state["method"]
        path = f"/v1beta/models/{target.upstream_model}:{method}" + ("?alt=sse" if job.stream and job.state["sse"] else "")
        return Outbound("POST", path, job.payload, JSON)

    async def native_relay(self, ctx: RelayContext, req: Req, call: Call, job: Job, answer: Answer) -> None:
        if job.stream and answer.response.status == 200:
            sse = job.state["sse"]
            meter = meters.GeminiSseMeter() if sse else meters.GeminiArrayMeter()
            await relay_stream(ctx, req, call, answer, meter, "gemini" if sse else "gemini-array")
            return
        if job.state["method"] == "generateContent":
            call.prompt_tokens, call.completion_tokens = meters.json_usage("gemini", answer.json())
        await relay_body(req, call, answer)


GENERATE = Gemini()
