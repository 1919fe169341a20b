"""The Responses API: POST /v1/responses (and the seed's /responses/v1/responses), JSON and SSE.

A follow-up (`previous_response_id`) must reach the node that holds the previous response:
the ids of answered responses are remembered (in memory and in the store) with their node."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import orjson

from specs import seedforms

from .. import meters, policy
from ..errors import RelayError
from ..proxy import Outbound, relay_body, relay_stream
from . import responses_convert as convert
from .base import JSON, Job, form_error, with_model
from .convert import TextDialect
from .neutral import Unsupported, upstream_dialect

if TYPE_CHECKING:
    from ...routing import Target
    from ..call import Call
    from ..context import RelayContext
    from ..http import Req
    from ..proxy import Answer


class Responses(TextDialect):
    name = "responses"
    stream_kind = "responses"

    async def parse(self, ctx: RelayContext, req: Req, call: Call) -> Job:
        body = req.json()
        model = policy.admit(ctx, req, call, self, body.get("model"))
        try:
            _check_nested_tools(body)
            upstream_body = seedforms.responses_body(body)
        except seedforms.FormError as exc:
            raise form_error(exc) from None
        stream = body.get("stream") is True
        call.stream = stream
        targets = None
        nodes = ctx.router.targets(model)
        previous = body.get("previous_response_id")
        if previous is not None:
            if not isinstance(previous, str):
                raise RelayError(400, "previous_response_id must be a string", param="previous_response_id")
            if nodes and not any(upstream_dialect(self.name, t.provider) == self.name for t in nodes):
                # a decision (docs/GATEWAY.md): converted conversations keep no state in the gateway
                raise Unsupported(f"previous_response_id: `{model}` is served by nodes that do not speak the "
                                  "Responses API, and the gateway keeps no conversation state for them: send the "
                                  "whole conversation in `input` instead", "previous_response_id")
            targets = await _affinity(ctx, call, model, previous)
        job = Job(model, upstream_body, stream=stream, targets=targets)
        self.prepare(ctx, job, targets or nodes)
        return job

    def to_chat(self, job: Job) -> dict:
        return convert.request_to_chat(job.body)

    def answer_from_chat(self, neutral: dict, job: Job) -> dict:
        return convert.answer_from_chat(neutral, job.body, job.model)

    def renderer(self, job: Job) -> convert.StreamFromChat:
        return convert.StreamFromChat(job.body, job.model)

    def native_outbound(self, job: Job, target: Target) -> Outbound:
        return Outbound("POST", "/responses", orjson.dumps(with_model(job.body, target, job.model)), JSON)

    async def native_relay(self, ctx: RelayContext, req: Req, call: Call, job: Job, answer: Answer) -> None:
        if job.stream and answer.response.status == 200:
            meter = meters.ResponsesMeter()
            try:
                await relay_stream(ctx, req, call, answer, meter, "responses")
            finally:
                if meter.response_id:
                    ctx.remember_response(meter.response_id, answer.target.node_id, call.user.id)
            return
        obj = answer.json()
        call.prompt_tokens, call.completion_tokens = meters.json_usage("responses", obj)
        if answer.response.status == 200 and isinstance(obj, dict) and isinstance(obj.get("id"), str):
            ctx.remember_response(obj["id"], answer.target.node_id, call.user.id)
        await relay_body(req, call, answer)


def _check_nested_tools(body: dict[str, Any]) -> None:
    """The seed's nested tool is `{name, type: function, function: {name, ...}}`. Flattening keeps the
    inner name and sets the type, so a different top-level name (even an invalid one) or a missing type
    would vanish silently: refuse them instead."""
    tools = body.get("tools")
    for i, tool in enumerate(tools if isinstance(tools, list) else []):
        if not isinstance(tool, dict) or not isinstance(tool.get("function"), dict):
            continue
        if tool.get("type") != "function":
            raise seedforms.FormError(f"tools[{i}].type must be \"function\"", param=f"tools[{i}].type")
        if "name" in tool and tool["name"] != tool["function"].get("name"):
            raise seedforms.FormError(f"tools[{i}].name must equal tools[{i}].function.name", param=f"tools[{i}].name")


async def _affinity(ctx: RelayContext, call: Call, model: str, response_id: str) -> list:
    """A follow-up goes to the node that holds the previous response, and only there."""
    node_id = await ctx.response_node(response_id, call.user.id)
    if node_id is None:
        raise RelayError(404, f"Previous response with id '{response_id}' not found.",
                         param="previous_response_id", code="previous_response_not_found")
    target = next((t for t in ctx.router.targets(model) if t.node_id == node_id), None)
    if target is None or ctx.router.breaker(node_id).state == "open":
        raise RelayError(503, f"The node holding response '{response_id}' cannot serve `{model}` now; "
                              "send the whole conversation instead of previous_response_id",
                         param="previous_response_id", code="previous_response_unavailable",
                         outcome="upstream_error")
    return [target]


RESPONSES = Responses()
