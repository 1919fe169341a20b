"""Video jobs: create on a node, then every later call goes to the node that owns the job.

The client sees the gateway's own job ids (`video_<hex>`); the store maps each to its
node and upstream id, so jobs survive a gateway restart and two nodes can never hand out
the same id. Seed fields (duration, resolution, fps) become the official ones on the way.
"""

from __future__ import annotations

import secrets
import time
from typing import TYPE_CHECKING, Any

import aiohttp
import orjson

from specs import seedforms

from ..store import videos as jobs
from .call import Call
from .endpoints import JSON, _multipart, admit, authenticate, query_int
from .errors import RelayError
from .http import Req
from .proxy import Outbound, passthrough_headers, send

if TYPE_CHECKING:
    from ..app import Gateway

DEFAULT_MODEL = "sora-2"


def _public(obj: dict[str, Any], job_id: str, remixed_from: str | None) -> dict[str, Any]:
    out = {**obj, "id": job_id}
    if obj.get("remixed_from_video_id") or remixed_from:
        out["remixed_from_video_id"] = remixed_from
    return out


def _poll_after(answer) -> list[tuple[bytes, bytes]]:
    """The node's polling hint (the openai SDK's poll() honours it)."""
    v = answer.response.headers.get("openai-poll-after-ms")
    return [(b"openai-poll-after-ms", v.encode("latin-1"))] if v else []


async def _relay_as_is(req: Req, answer, job: dict[str, Any] | None = None) -> None:
    """A node's answer that is not a Video (an error): relayed, with the node's own job id
    (meaningless to the client) replaced by the gateway's."""
    body = answer.body
    if job is not None and answer.response.status >= 400:
        body = body.replace(job["upstream_id"].encode(), job["id"].encode())
    await req.respond(answer.response.status, body, passthrough_headers(answer.response))


async def create(gw: Gateway, req: Req, call: Call) -> None:
    authenticate(gw, req, call)
    multipart = (req.header(b"content-type") or "").startswith("multipart/form-data")
    files: list = []
    if multipart:
        fields: dict[str, Any] = {}
        raw, files = await _multipart(req)
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
    model = admit(gw, req, call, fields.get("model", DEFAULT_MODEL))  # null is not absent here: no null model

    def build(target) -> Outbound:
        body = {**fields, "model": target.upstream_model}
        if not multipart:
            return Outbound("POST", "/videos", orjson.dumps(body), JSON)
        form = aiohttp.FormData(quote_fields=False)  # raw UTF-8 names (see endpoints.image_edits)
        for k, v in body.items():
            form.add_field(k, str(v))
        for name, (filename, ctype, data) in files:
            form.add_field(name, data, filename=filename, content_type=ctype)
        return Outbound("POST", "/videos", form)

    answer = await send(gw, call, gw.router.plan(model), build)
    await _new_job(gw, req, call, answer, model, source=None)


async def _new_job(gw: Gateway, req: Req, call: Call, answer, model: str, source: dict[str, Any] | None) -> None:
    obj = answer.json()
    call.status = answer.response.status
    if answer.response.status != 200 or not isinstance(obj, dict) or not isinstance(obj.get("id"), str):
        await _relay_as_is(req, answer, source)
        return
    job_id = "video_" + secrets.token_hex(16)
    public = _public(obj, job_id, source["id"] if source else None)
    await jobs.create_job(gw.store, id=job_id, user_id=call.user.id, key_id=call.key.id,
                          node_id=answer.target.node_id, upstream_id=obj["id"], model=model, last=public,
                          created_at=time.time())
    try:
        call.seconds = float(obj.get("seconds") or 0)
    except (TypeError, ValueError):
        call.seconds = 0.0
    await req.respond_json(200, public, _poll_after(answer))


async def _job(gw: Gateway, req: Req, call: Call) -> dict[str, Any]:
    authenticate(gw, req, call)
    job = await jobs.get_job(gw.store, req.params["video_id"], user_id=call.user.id)
    if job is None or job.get("deleted"):
        raise RelayError(404, f"No video found with id '{req.params['video_id']}'.", param="video_id",
                         code="video_not_found")
    call.model = job["model"]
    call.model_info = gw.cache.models.get(job["model"])
    return job


def _owner(gw: Gateway, job: dict[str, Any]) -> list:
    target = gw.cache.nodes.get(job["node_id"])
    if target is None:
        raise RelayError(503, f"The node that holds video '{job['id']}' is no longer configured",
                         code="video_node_unavailable", outcome="upstream_error")
    return [target]


async def retrieve(gw: Gateway, req: Req, call: Call) -> None:
    job = await _job(gw, req, call)
    answer = await send(gw, call, _owner(gw, job),
                        lambda t: Outbound("GET", f"/videos/{job['upstream_id']}"))
    obj = answer.json()
    call.status = answer.response.status
    if answer.response.status != 200 or not isinstance(obj, dict):
        await _relay_as_is(req, answer, job)
        return
    public = _public(obj, job["id"], (job.get("last") or {}).get("remixed_from_video_id"))
    if public != job.get("last"):
        await jobs.update_last(gw.store, job["id"], public)
    await req.respond_json(200, public, _poll_after(answer))


async def list_jobs(gw: Gateway, req: Req, call: Call) -> None:
    authenticate(gw, req, call)
    limit = query_int(req, "limit", 20, 1, 100)
    order = req.query_value("order")
    order = "desc" if order is None else order
    if order not in ("asc", "desc"):
        raise RelayError(400, "order must be asc or desc", param="order", code="invalid_value")
    after = req.query_value("after")
    if after == "":  # as the upstream API: not silently the first page
        raise RelayError(400, "after must be the id of the last job of the previous page", param="after",
                         code="invalid_value")
    rows, more = await jobs.list_jobs(gw.store, call.user.id, after=after, limit=limit, order=order)
    data = [r["last"] for r in rows if r.get("last")]
    call.status = 200
    await req.respond_json(200, {"object": "list", "data": data, "first_id": data[0]["id"] if data else None,
                                 "last_id": data[-1]["id"] if data else None, "has_more": more})


async def delete(gw: Gateway, req: Req, call: Call) -> None:
    job = await _job(gw, req, call)
    answer = await send(gw, call, _owner(gw, job), lambda t: Outbound("DELETE", f"/videos/{job['upstream_id']}"))
    call.status = answer.response.status
    if answer.response.status not in (200, 404):
        await _relay_as_is(req, answer, job)
        return
    await jobs.mark_deleted(gw.store, job["id"])
    call.status = 200
    await req.respond_json(200, {"id": job["id"], "object": "video.deleted", "deleted": True})


async def content(gw: Gateway, req: Req, call: Call) -> None:
    """GET or POST (the seed downloads with POST): the bytes once completed, else the node's error."""
    job = await _job(gw, req, call)
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
    path = f"/videos/{job['upstream_id']}/content" + (f"?variant={variant}" if variant else "")
    answer = await send(gw, call, _owner(gw, job), lambda t: Outbound("GET", path))
    call.status = answer.response.status
    await _relay_as_is(req, answer, job)


async def remix(gw: Gateway, req: Req, call: Call) -> None:
    job = await _job(gw, req, call)
    body = req.json()
    if not isinstance(body.get("prompt"), str) or not body["prompt"]:
        raise RelayError(400, "prompt is required", param="prompt")
    call.model = admit(gw, req, call, job["model"])
    answer = await send(gw, call, _owner(gw, job),
                        lambda t: Outbound("POST", f"/videos/{job['upstream_id']}/remix", orjson.dumps(body), JSON))
    await _new_job(gw, req, call, answer, job["model"], source=job)
