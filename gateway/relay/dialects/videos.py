"""Video jobs: create on a node, then every later call goes to the node that owns the job.

The client sees the gateway's own job ids (`video_<hex>`); the store maps each to its
node and upstream id, so jobs survive a gateway restart and two nodes can never hand out
the same id. Seed fields (duration, resolution, fps) become the official ones on the way.
"""

from __future__ import annotations

import secrets
import time
from typing import TYPE_CHECKING, Any

import orjson

from specs import seedforms

from ...store import videos as jobs
from .. import forms, policy
from ..errors import RelayError
from ..proxy import Outbound, passthrough_headers
from .base import JSON, Dialect, Job, query_int

if TYPE_CHECKING:
    from ...routing import Target
    from ..call import Call
    from ..context import RelayContext
    from ..http import Req
    from ..proxy import Answer

DEFAULT_MODEL = "sora-2"


def _public(obj: dict[str, Any], job_id: str, remixed_from: str | None) -> dict[str, Any]:
    out = {**obj, "id": job_id}
    if obj.get("remixed_from_video_id") or remixed_from:
        out["remixed_from_video_id"] = remixed_from
    return out


def _poll_after(answer: Answer) -> list[tuple[bytes, bytes]]:
    """The node's polling hint (the openai SDK's poll() honours it)."""
    v = answer.response.headers.get("openai-poll-after-ms")
    return [(b"openai-poll-after-ms", v.encode("latin-1"))] if v else []


async def _relay_as_is(req: Req, answer: Answer, job: dict[str, Any] | None = None) -> None:
    """A node's answer that is not a Video (an error): relayed, with the node's own job id
    (meaningless to the client) replaced by the gateway's."""
    body = answer.body
    if job is not None and answer.response.status >= 400:
        body = body.replace(job["upstream_id"].encode(), job["id"].encode())
    await req.respond(answer.response.status, body, passthrough_headers(answer.response))


async def _new_job(ctx: RelayContext, req: Req, call: Call, answer: Answer, model: str,
                   source: dict[str, Any] | None) -> None:
    obj = answer.json()
    call.status = answer.response.status
    if answer.response.status != 200 or not isinstance(obj, dict) or not isinstance(obj.get("id"), str):
        await _relay_as_is(req, answer, source)
        return
    job_id = "video_" + secrets.token_hex(16)
    public = _public(obj, job_id, source["id"] if source else None)
    await jobs.create_job(ctx.store, id=job_id, user_id=call.user.id, key_id=call.key.id,
                          node_id=answer.target.node_id, upstream_id=obj["id"], model=model, last=public,
                          created_at=time.time())
    try:
        call.seconds = float(obj.get("seconds") or 0)
    except (TypeError, ValueError):
        call.seconds = 0.0
    await req.respond_json(200, public, _poll_after(answer))


class Create(Dialect):
    name = "videos.create"
    kinds = ("video",)

    async def parse(self, ctx: RelayContext, req: Req, call: Call) -> Job:
        multipart = forms.is_multipart(req)
        files: forms.Files = []
        if multipart:
            fields: dict[str, Any] = {}
            raw, files = await forms.read(req)
            fields.update(raw)
        else:
            fields = req.json()
        try:
            if not isinstance(fields.get("resolution", ""), str):  # seedforms looks it up in a table
                raise seedforms.FormError("resolution must be one of 480p, 720p, 1080p", param="resolution")
            fields = seedforms.video_fields(fields)
        except seedforms.FormError as exc:
            raise RelayError(400, exc.message, param=exc.param, code="invalid_value") from None
        if not isinstance(fields.get("prompt"), str) or not fields["prompt"]:
            raise RelayError(400, "prompt is required", param="prompt")
        model = policy.admit(ctx, req, call, self, fields.get("model", DEFAULT_MODEL))  # null is not absent here
        return Job(model, fields, multipart=multipart, files=files)

    def outbound(self, job: Job, target: Target) -> Outbound:
        body = {**job.body, "model": target.upstream_model}
        if not job.state["multipart"]:
            return Outbound("POST", "/videos", orjson.dumps(body), JSON)
        return Outbound("POST", "/videos", forms.build(body, job.state["files"]))

    async def relay(self, ctx: RelayContext, req: Req, call: Call, job: Job, answer: Answer) -> None:
        await _new_job(ctx, req, call, answer, job.model, source=None)


class _Owned(Dialect):
    """An operation on an existing job: only the node that owns it can answer."""

    kinds = ("video",)

    async def parse(self, ctx: RelayContext, req: Req, call: Call) -> Job:
        job = await jobs.get_job(ctx.store, req.params["video_id"], user_id=call.user.id)
        if job is None or job.get("deleted"):
            raise RelayError(404, f"No video found with id '{req.params['video_id']}'.", param="video_id",
                             code="video_not_found")
        call.model = job["model"]
        call.model_info = ctx.cache.models.get(job["model"])
        target = ctx.cache.nodes.get(job["node_id"])
        if target is None:
            raise RelayError(503, f"The node that holds video '{job['id']}' is no longer configured",
                             code="video_node_unavailable", outcome="upstream_error")
        return Job(job["model"], job, targets=[target])


class Retrieve(_Owned):
    name = "videos.retrieve"

    def outbound(self, job: Job, target: Target) -> Outbound:
        return Outbound("GET", f"/videos/{job.body['upstream_id']}")

    async def relay(self, ctx: RelayContext, req: Req, call: Call, job: Job, answer: Answer) -> None:
        record = job.body
        obj = answer.json()
        call.status = answer.response.status
        if answer.response.status != 200 or not isinstance(obj, dict):
            await _relay_as_is(req, answer, record)
            return
        public = _public(obj, record["id"], (record.get("last") or {}).get("remixed_from_video_id"))
        if public != record.get("last"):
            await jobs.update_last(ctx.store, record["id"], public)
        await req.respond_json(200, public, _poll_after(answer))


class Delete(_Owned):
    name = "videos.delete"

    def outbound(self, job: Job, target: Target) -> Outbound:
        return Outbound("DELETE", f"/videos/{job.body['upstream_id']}")

    async def relay(self, ctx: RelayContext, req: Req, call: Call, job: Job, answer: Answer) -> None:
        call.status = answer.response.status
        if answer.response.status not in (200, 404):
            await _relay_as_is(req, answer, job.body)
            return
        await jobs.mark_deleted(ctx.store, job.body["id"])
        call.status = 200
        await req.respond_json(200, {"id": job.body["id"], "object": "video.deleted", "deleted": True})


class Content(_Owned):
    """GET or POST (the seed downloads with POST): the bytes once completed, else the node's error."""

    name = "videos.content"

    async def parse(self, ctx: RelayContext, req: Req, call: Call) -> Job:
        job = await super().parse(ctx, req, call)
        variant = req.query_value("variant")
        if req.method == "POST" and req.body.strip():  # the seed posts no body; an official-style one may name the variant
            body = req.json()
            extra = set(body) - {"variant"}
            if extra:
                raise RelayError(400, f"unknown field(s) {', '.join(sorted(extra))}: only `variant` is accepted",
                                 param=sorted(extra)[0])
            if "variant" in body and (variant is not None or not isinstance(body["variant"], str)):
                raise RelayError(400, "variant must be a string, given once (query or body)", param="variant")
            variant = body.get("variant", variant)
        if variant is not None and variant not in ("video", "thumbnail", "spritesheet"):
            raise RelayError(400, "variant must be video, thumbnail or spritesheet", param="variant")
        job.state["variant"] = variant
        return job

    def outbound(self, job: Job, target: Target) -> Outbound:
        variant = job.state["variant"]
        return Outbound("GET", f"/videos/{job.body['upstream_id']}/content" + (f"?variant={variant}" if variant else ""))

    async def relay(self, ctx: RelayContext, req: Req, call: Call, job: Job, answer: Answer) -> None:
        call.status = answer.response.status
        await _relay_as_is(req, answer, job.body)


class Remix(_Owned):
    name = "videos.remix"

    async def parse(self, ctx: RelayContext, req: Req, call: Call) -> Job:
        job = await super().parse(ctx, req, call)
        body = req.json()
        if not isinstance(body.get("prompt"), str) or not body["prompt"]:
            raise RelayError(400, "prompt is required", param="prompt")
        call.model = policy.admit(ctx, req, call, self, job.model)
        job.state["payload"] = orjson.dumps(body)
        return job

    def outbound(self, job: Job, target: Target) -> Outbound:
        return Outbound("POST", f"/videos/{job.body['upstream_id']}/remix", job.state["payload"], JSON)

    async def relay(self, ctx: RelayContext, req: Req, call: Call, job: Job, answer: Answer) -> None:
        await _new_job(ctx, req, call, answer, job.model, source=job.body)


class List(Dialect):
    name = "videos.list"

    async def parse(self, ctx: RelayContext, req: Req, call: Call) -> None:
        limit = query_int(req, "limit", 20, 1, 100)
        order = req.query_value("order")
        order = "desc" if order is None else order
        if order not in ("asc", "desc"):
            raise RelayError(400, "order must be asc or desc", param="order", code="invalid_value")
        after = req.query_value("after")
        if after == "":  # as the upstream API: not silently the first page
            raise RelayError(400, "after must be the id of the last job of the previous page", param="after",
                             code="invalid_value")
        rows, more = await jobs.list_jobs(ctx.store, call.user.id, after=after, limit=limit, order=order)
        data = [r["last"] for r in rows if r.get("last")]
        call.status = 200
        await req.respond_json(200, {"object": "list", "data": data, "first_id": data[0]["id"] if data else None,
                                     "last_id": data[-1]["id"] if data else None, "has_more": more})


CREATE, RETRIEVE, DELETE, CONTENT, REMIX, LIST = Create(), Retrieve(), Delete(), Content(), Remix(), List()
