"""Every text model through every text dialect: the converted leg of a request.

`TextDialect` is what chat, Responses and Gemini share: after parsing, the plan's nodes are looked
at; for every node dialect other than the client's, the request is converted once (client ->
neutral chat -> node), before any node is called, so a field that cannot be carried is a 400 in
the caller's dialect and never a failover. A node of the client's own dialect gets the request
unchanged and its answer is relayed unchanged (the same-dialect hot path does not convert).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import orjson

from specs import sse

from .. import errors, meters
from ..proxy import Outbound, relay_stream
from . import gemini_convert
from .base import JSON, Dialect, Job
from .neutral import ChatPassthrough, ConvertMeter, Unsupported, upstream_dialect

if TYPE_CHECKING:
    from ...routing import Target
    from ..call import Call
    from ..context import RelayContext
    from ..http import Req
    from ..proxy import Answer

TEXT_KINDS = ("chat", "responses", "gemini")


# -- the node's side: how each upstream dialect is spoken from the neutral form ------------------------------------


class ChatUpstream:
    name = "chat"

    def request(self, neutral: dict[str, Any]) -> dict[str, Any]:
        return neutral

    def outbound(self, body: bytes, target: Target, stream: bool) -> Outbound:
        return Outbound("POST", "/chat/completions", body, JSON)

    def answer_to_chat(self, obj: dict[str, Any], model: str) -> dict[str, Any]:
        return {**obj, "model": model}

    def stream_to_chat(self, model: str) -> Any:
        return ChatPassthrough()


class GeminiUpstream:
    name = "gemini"

    def request(self, neutral: dict[str, Any]) -> dict[str, Any]:
        return gemini_convert.request_from_chat(neutral)

    def outbound(self, body: bytes, target: Target, stream: bool) -> Outbound:
        verb = "streamGenerateContent?alt=sse" if stream else "generateContent"
        return Outbound("POST", f"/v1beta/models/{target.upstream_model}:{verb}", body, JSON)

    def answer_to_chat(self, obj: dict[str, Any], model: str) -> dict[str, Any]:
        return gemini_convert.answer_to_chat(obj, model)

    def stream_to_chat(self, model: str) -> Any:
        return gemini_convert.StreamToChat(model)


UPSTREAMS = {"chat": ChatUpstream(), "gemini": GeminiUpstream()}


# -- the client's side -------------------------------------------------------------------------------------------------


class ChatRender:
    """Neutral chunks are chat chunks: encode them; the usage chunk only when the client asked for it."""

    def __init__(self, model: str, want_usage: bool) -> None:
        self.model, self.want_usage = model, want_usage

    def chunk(self, obj: dict[str, Any]) -> list[bytes]:
        if not obj.get("choices") and obj.get("usage") and not self.want_usage:
            return []
        return [sse.encode({**obj, "model": self.model})]

    def end(self) -> list[bytes]:
        return [sse.encode_done()]

    def error(self, message: str) -> bytes:
        return errors.stream_event("chat", message)

    def error_tail(self, event: bytes) -> bytes:
        return event


class TextDialect(Dialect):
    """A text dialect that converts: subclasses give the client side (to and from the neutral form)."""

    kinds = TEXT_KINDS
    stream_kind = ""  # errors.stream_event's name for this dialect's stream

    # the client's side, per dialect
    def to_chat(self, job: Job) -> dict[str, Any]:
        raise NotImplementedError

    def answer_from_chat(self, neutral: dict[str, Any], job: Job) -> dict[str, Any]:
        raise NotImplementedError

    def renderer(self, job: Job) -> Any:
        raise NotImplementedError

    def native_outbound(self, job: Job, target: Target) -> Outbound:
        raise NotImplementedError

    async def native_relay(self, ctx: RelayContext, req: Req, call: Call, job: Job, answer: Answer) -> None:
        raise NotImplementedError

    # -- shared ------------------------------------------------------------------------------------------------
    def prepare(self, ctx: RelayContext, job: Job, nodes: list[Target]) -> None:
        """Convert the request once per node dialect among `nodes` (the model's) that is not the client's.
        A node whose dialect cannot carry the request is left out of the plan; when that leaves none, the
        request is refused (400 naming the field) before any node is called."""
        bodies: dict[str, dict[str, Any]] = {}
        refused: dict[str, Unsupported] = {}
        neutral: dict[str, Any] | None = None
        for t in nodes:
            d = upstream_dialect(self.name, t.provider)
            if d == self.name or d in bodies or d in refused:
                continue
            try:
                if neutral is None:
                    neutral = self.to_chat(job)
                bodies[d] = UPSTREAMS[d].request(neutral)
            except Unsupported as exc:
                refused[d] = exc
        if bodies:
            job.state["converted"] = bodies
        if refused:
            if all(upstream_dialect(self.name, t.provider) in refused for t in nodes):
                raise next(iter(refused.values()))
            plan = job.targets if job.targets is not None else ctx.router.plan(job.model)
            job.targets = [t for t in plan if upstream_dialect(self.name, t.provider) not in refused]

    def outbound(self, job: Job, target: Target) -> Outbound:
        d = upstream_dialect(self.name, target.provider)
        if d == self.name:
            return self.native_outbound(job, target)
        body = job.state["converted"][d]
        if "model" in body:  # the node's own name for the model
            body = {**body, "model": target.upstream_model}
        return UPSTREAMS[d].outbound(orjson.dumps(body), target, job.stream)

    async def relay(self, ctx: RelayContext, req: Req, call: Call, job: Job, answer: Answer) -> None:
        d = upstream_dialect(self.name, answer.target.provider)
        if d == self.name:
            await self.native_relay(ctx, req, call, job, answer)
            return
        up = UPSTREAMS[d]
        status = answer.response.status
        if job.stream and status == 200:
            meter = ConvertMeter(d, up.stream_to_chat(job.model), self.renderer(job))
            await relay_stream(ctx, req, call, answer, meter, self.stream_name(job), content_type=self.stream_type(job))
            return
        call.status = status
        obj = answer.json()
        if status != 200 or not isinstance(obj, dict):
            call.error = answer.body[:500].decode("utf-8", "replace")
            await req.respond(status, self.error(status, _node_message(obj, answer.body)))
            return
        call.prompt_tokens, call.completion_tokens = meters.json_usage(d, obj)
        await req.respond_json(200, self.answer_from_chat(up.answer_to_chat(obj, job.model), job))

    def stream_type(self, job: Job) -> bytes:
        return sse.MEDIA_TYPE.encode()

    def stream_name(self, job: Job) -> str:
        """errors.stream_event's name for the client's stream."""
        return self.stream_kind


def _node_message(obj: Any, raw: bytes) -> str:
    """A node's error, for the client: its message when it sent one in its own error shape."""
    if isinstance(obj, dict) and isinstance(obj.get("error"), dict) and obj["error"].get("message"):
        return f"the model's node refused the request: {obj['error']['message']}"
    return "the model's node answered with an error: " + raw[:300].decode("utf-8", "replace")
