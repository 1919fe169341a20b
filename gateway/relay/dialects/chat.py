"""Chat completions: POST /v1/chat/completions, JSON and SSE."""

from __future__ import annotations

from typing import TYPE_CHECKING

import orjson

from .. import meters, policy
from ..errors import RelayError
from ..proxy import Outbound, relay_body, relay_stream
from .base import JSON, Job, with_model
from .convert import ChatRender, TextDialect

if TYPE_CHECKING:
    from ...routing import Target
    from ..call import Call
    from ..context import RelayContext
    from ..http import Req
    from ..proxy import Answer


class Chat(TextDialect):
    name = "chat"
    stream_kind = "chat"

    async def parse(self, ctx: RelayContext, req: Req, call: Call) -> Job:
        body = req.json()
        model = policy.admit(ctx, req, call, self, body.get("model"))
        stream = body.get("stream") is True
        call.stream = stream
        want_usage = False
        if stream:
            opts = body.get("stream_options")
            if opts is not None and not isinstance(opts, dict):
                raise RelayError(400, "stream_options must be an object", param="stream_options")
            want_usage = bool((opts or {}).get("include_usage"))
            body = {**body, "stream_options": {**(opts or {}), "include_usage": True}}  # usage always, for billing
        job = Job(model, body, stream=stream, want_usage=want_usage)
        self.prepare(ctx, job, ctx.router.targets(model))
        return job

    # the neutral form is chat's own: nothing to convert on the client's side
    def to_chat(self, job: Job) -> dict:
        return job.body

    def answer_from_chat(self, neutral: dict, job: Job) -> dict:
        return neutral

    def renderer(self, job: Job) -> ChatRender:
        return ChatRender(job.model, job.state["want_usage"])

    def native_outbound(self, job: Job, target: Target) -> Outbound:
        return Outbound("POST", "/chat/completions", orjson.dumps(with_model(job.body, target, job.model)), JSON)

    async def native_relay(self, ctx: RelayContext, req: Req, call: Call, job: Job, answer: Answer) -> None:
        if job.stream and answer.response.status == 200:
            await relay_stream(ctx, req, call, answer, meters.ChatMeter(job.state["want_usage"]), "chat")
            return
        call.prompt_tokens, call.completion_tokens = meters.json_usage("chat", answer.json())
        await relay_body(req, call, answer)


COMPLETIONS = Chat()
