"""The interface every dialect implements, and the neutral request it parses the client's into.

A dialect is one wire format as a client speaks it (chat completions, Responses, Gemini,
images, videos, the model lists). The controller (`controller.py`) runs the same request
path for all of them and calls the dialect at four points:

    parse(ctx, req, call) -> Job | None   the client's request, validated, as a neutral Job
                                          (None: the dialect answered locally, e.g. a model list)
    outbound(job, target) -> Outbound     the request one node gets, in that node's dialect
    relay(ctx, req, call, job, answer)    the node's answer (JSON or stream) back in the client's
                                          dialect, metering usage into `call` on the way
    error(status, message, code, param)   an error body in the client's dialect

Everything else (keys, policy, routing, failover, usage records) is the controller's.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from specs import seedforms

from .. import errors
from ..errors import RelayError

if TYPE_CHECKING:
    from ...routing import Target
    from ..call import Call
    from ..context import RelayContext
    from ..http import Req
    from ..proxy import Answer, Outbound

JSON = {"content-type": "application/json"}
TEXT_KINDS = ("chat", "responses")


class Job:
    """One request, parsed: the neutral form the controller routes and the dialects render.

    `body` is the client's validated body; `payload` caches its encoding for nodes of the same
    dialect (relayed without re-encoding); `targets` fixes the nodes (affinity, a job's owner)."""

    __slots__ = ("model", "stream", "body", "payload", "targets", "state")

    def __init__(self, model: str, body: Any = None, *, stream: bool = False,
                 targets: list[Target] | None = None, **state: Any) -> None:
        self.model, self.body, self.stream, self.targets = model, body, stream, targets
        self.payload: bytes | None = None
        self.state = state  # what one dialect keeps between parse and relay


class Dialect:
    name = ""
    errors = "openai"  # error body shape: openai | gemini
    gemini_keys = False  # also x-goog-api-key and ?key= (Gemini's own key forms)
    kinds: tuple[str, ...] | None = None  # catalog kinds it serves; None: any

    async def parse(self, ctx: RelayContext, req: Req, call: Call) -> Job | None:
        raise NotImplementedError

    def outbound(self, job: Job, target: Target) -> Outbound:
        raise NotImplementedError

    async def relay(self, ctx: RelayContext, req: Req, call: Call, job: Job, answer: Answer) -> None:
        raise NotImplementedError

    def error(self, status: int, message: str, code: str | None = None, param: str | None = None) -> bytes:
        return errors.body(self.errors, status, message, code, param)

    def wrong_kind(self, req: Req, model: str, kind: str) -> RelayError:
        return RelayError(400, f"The model `{model}` is a {kind} model and cannot be used with {req.path}",
                          param="model", code="model_not_supported")


# -- helpers the dialects share ----------------------------------------------------------------------------


def form_error(exc: seedforms.FormError) -> RelayError:
    return RelayError(400, exc.message, param=exc.param, code="invalid_value")


def or_default(model: Any, default: str) -> Any:
    """Only an absent or null model means the default: `""`, `{}` or `0` go to `admit`, which refuses them."""
    return default if model is None else model


def query_int(req: Req, name: str, default: int, lo: int, hi: int) -> int:
    """An integer query parameter, absent -> default; anything but plain digits in range is a 400."""
    raw = req.query_value(name)
    if raw is None:
        return default
    digits = raw[1:] if raw.startswith("-") else raw
    if not (digits.isascii() and digits.isdigit() and len(digits) <= 12) or not lo <= int(raw) <= hi:
        raise RelayError(400, f"{name} must be an integer between {lo} and {hi}", param=name, code="invalid_value")
    return int(raw)


def with_model(body: dict[str, Any], target: Target, model: str) -> dict[str, Any]:
    """The body with the node's own name for the model (a node may serve `model` under another name)."""
    return body if target.upstream_model == model else {**body, "model": target.upstream_model}
