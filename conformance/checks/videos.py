"""Videos: one shared job polled to completion (lifecycle, content before and after), remix, list, delete."""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

import httpx

from specs.content import image_info

from ..context import Ctx
from ..registry import check, setup

VIDEOS = "/v1/videos"
STATUSES = ("queued", "in_progress", "completed", "failed")


@dataclass
class Poll:
    t: float  # seconds after the job was created
    status_code: int
    video: Any  # the JSON answer


@dataclass
class Job:
    """A video job and everything seen of it while it ran."""

    created: dict[str, Any]
    polls: list[Poll] = field(default_factory=list)
    early: list[tuple[str, httpx.Response]] = field(default_factory=list)  # content asked before completion
    status_after_early: str | None = None  # the job's status right after those requests
    final: dict[str, Any] | None = None

    @property
    def id(self) -> str:
        return self.created["id"]


def content_methods(ctx: Ctx) -> list[str]:
    """GET is the official way to download; POST is the usage guide's (surface topapi)."""
    return ["GET"] + (["POST"] if ctx.offers("topapi") else [])


def deadline_s(ctx: Ctx) -> float:
    return ctx.target.video_deadline_s


def video(ctx: Ctx, resp: httpx.Response, what: str) -> dict[str, Any]:
    obj = ctx.ok_json(resp, what)
    ctx.valid("sora", "Video", obj, what)
    return obj


def wait(ctx: Ctx, job: Job) -> None:
    """Poll GET /v1/videos/{id} (interval growing from 0.2 s to 5 s) until completed or failed."""
    t0, interval = time.monotonic(), 0.2
    while time.monotonic() - t0 < deadline_s(ctx):
        r = ctx.get(f"{VIDEOS}/{job.id}")
        obj = ctx.json_of(r, f"GET {VIDEOS}/{job.id}")
        job.polls.append(Poll(time.monotonic() - t0, r.status_code, obj))
        if r.status_code != 200 or not isinstance(obj, dict) or obj.get("status") not in ("queued", "in_progress"):
            if r.status_code == 200 and isinstance(obj, dict) and obj.get("status") == "completed":
                job.final = obj
            return
        time.sleep(interval)
        interval = min(interval * 1.5, 5.0)


@setup("setup.video_job", "A video job: POST /v1/videos answers a valid Video; its content is asked for at once "
       "(before completion); it is polled to its end", surface="openai.videos")
def make_job(ctx: Ctx) -> Job:
    req = {"model": ctx.target.video_model, "prompt": "一只猫咪在打球 (a cat playing ball)", "seconds": "4",
           "size": "720x1280"}
    job = Job(video(ctx, ctx.post(VIDEOS, req), f"POST {VIDEOS}"))
    for method in content_methods(ctx):
        job.early.append((method, ctx.request(method, f"{VIDEOS}/{job.id}/content")))
    after = ctx.get(f"{VIDEOS}/{job.id}")
    if after.status_code == 200:
        job.status_after_early = ctx.json_of(after, "GET video").get("status")
    wait(ctx, job)
    return job


@setup("setup.video_completed", "The run's video job completes within the video deadline",
       surface="openai.videos", needs=("setup.video_job",))
def make_completed(ctx: Ctx) -> Job:
    job = shared_job(ctx)
    if job.final is None:
        last = job.polls[-1] if job.polls else None
        ctx.fail(f"video {job.id} did not complete within {deadline_s(ctx):.0f} s: last poll "
                 f"{last and last.status_code} {str(last and last.video)[:200]}")
    return job


def shared_job(ctx: Ctx) -> Job:
    """The run's video job: created, its content asked for at once (before completion), polled to the end."""
    return ctx.setup("setup.video_job")


def completed_job(ctx: Ctx) -> Job:
    return ctx.setup("setup.video_completed")


def mp4(ctx: Ctx, resp: httpx.Response, what: str) -> None:
    ctx.expect(resp.status_code == 200, f"{what}: HTTP {resp.status_code}: {resp.text[:200]}")
    ctype = resp.headers.get("content-type", "")
    ctx.expect(ctype.startswith("video/mp4"), f"{what}: content-type {ctype!r}, expected video/mp4")
    ctx.expect(resp.content[4:8] == b"ftyp", f"{what}: not an MP4 (no ftyp box; starts {resp.content[:12]!r})")
    ctx.expect(len(resp.content) > 1000, f"{what}: only {len(resp.content)} bytes")


@check("video.lifecycle", "A video job only ever shows queued, in_progress, completed or failed; its progress "
       "never decreases while polled; a completed job shows progress 100", slow=True, surface="openai.videos",
       needs=("setup.video_job",))
def video_lifecycle(ctx: Ctx) -> None:
    job = shared_job(ctx)
    ctx.expect(job.created["status"] in ("queued", "in_progress"),
               f"POST {VIDEOS}: a new job has status {job.created['status']!r}, expected queued or in_progress")
    last_progress, seen = job.created["progress"], [job.created["status"]]
    for p in job.polls:
        what = f"GET {VIDEOS}/{job.id} after {p.t:.1f} s"
        ctx.expect(p.status_code == 200, f"{what}: HTTP {p.status_code}: {str(p.video)[:200]}")
        ctx.expect(isinstance(p.video, dict) and p.video.get("status") in STATUSES,
                   f"{what}: status {p.video.get('status') if isinstance(p.video, dict) else p.video!r}, "
                   f"expected one of {', '.join(STATUSES)}")
        ctx.valid("sora", "Video", p.video, what)
        ctx.expect(p.video["id"] == job.id, f"{what}: answers for video {p.video['id']!r}")
        ctx.expect(p.video["progress"] >= last_progress, f"{what}: progress went down from {last_progress} to "
                   f"{p.video['progress']} (statuses so far: {seen})")
        last_progress = p.video["progress"]
        seen.append(p.video["status"])
    ctx.expect(len(job.polls) >= 1, "the job was never polled")  # completion: setup.video_completed


@check("video.content", "Video content before completion is a 4xx OpenAI-shaped error with no video bytes; after, "
       "POST and GET both give a real MP4 (ftyp box, video/mp4); variant=thumbnail gives an image", slow=True,
       surface="openai.videos", needs=("setup.video_completed",))
def video_content(ctx: Ctx) -> None:
    job = completed_job(ctx)
    if job.status_after_early in ("queued", "in_progress"):
        for method, r in job.early:
            what = f"{method} {VIDEOS}/{{id}}/content while {job.status_after_early}"
            ctx.expect(r.content[4:8] != b"ftyp", f"{what}: sent video bytes before the job completed")
            ctx.expect(400 <= r.status_code < 500, f"{what}: HTTP {r.status_code}, expected a 4xx: {r.text[:200]}")
            ctx.openai_error(r, r.status_code, what)
    for method in content_methods(ctx):
        mp4(ctx, ctx.request(method, f"{VIDEOS}/{job.id}/content"), f"{method} {VIDEOS}/{job.id}/content")
    r = ctx.get(f"{VIDEOS}/{job.id}/content", params={"variant": "thumbnail"})
    ctx.expect(r.status_code == 200, f"GET content?variant=thumbnail: HTTP {r.status_code}: {r.text[:200]}")
    ctx.expect(image_info(r.content) is not None, f"GET content?variant=thumbnail: not an image "
               f"({r.headers.get('content-type')}, starts {r.content[:8]!r})")


@setup("setup.video_remix", "POST /v1/videos/{id}/remix of the completed job answers a valid Video",
       surface="openai.videos", needs=("setup.video_completed",))
def make_remix(ctx: Ctx) -> dict[str, Any]:
    job = completed_job(ctx)
    return video(ctx, ctx.post(f"{VIDEOS}/{job.id}/remix", {"prompt": "猫咪改成老虎 (the cat becomes a tiger)"}),
                 f"POST {VIDEOS}/{job.id}/remix")


def remix_of(ctx: Ctx) -> dict[str, Any]:
    """The remix of the shared job (made once)."""
    return ctx.setup("setup.video_remix")


@check("video.remix", "Remixing a completed video gives a new video whose remixed_from_video_id is the source",
       slow=True, surface="openai.videos", needs=("setup.video_remix",))
def video_remix(ctx: Ctx) -> None:
    job, remix = completed_job(ctx), remix_of(ctx)
    ctx.expect(remix["id"] != job.id, f"the remix has the source's id {job.id}")
    ctx.expect(remix.get("remixed_from_video_id") == job.id, f"the remix has remixed_from_video_id "
               f"{remix.get('remixed_from_video_id')!r}, expected {job.id!r}", cause="videos.remixed_from")
    ctx.expect(remix["status"] in STATUSES, f"the remix has status {remix['status']!r}")


@check("video.list", "GET /v1/videos is a valid list (first_id/last_id match the page) that holds the new job",
       slow=True, surface="openai.videos", needs=("setup.video_job",))
def video_list(ctx: Ctx) -> None:
    job = shared_job(ctx)
    after: str | None = None
    for page in range(5):
        params = {"limit": "20", **({"after": after} if after else {})}
        obj = ctx.ok_json(ctx.get(VIDEOS, params=params), f"GET {VIDEOS} page {page}")
        ctx.valid("sora", "VideoList", obj, f"GET {VIDEOS} page {page}")
        ids = [v["id"] for v in obj["data"]]
        if ids:
            ctx.expect(obj["first_id"] == ids[0] and obj["last_id"] == ids[-1],
                       f"GET {VIDEOS}: first_id/last_id {obj['first_id']}/{obj['last_id']} do not match the page "
                       f"({ids[0]} ... {ids[-1]})")
        if job.id in ids:
            return
        if not obj["has_more"] or not ids:
            break
        after = ids[-1]
    ctx.fail(f"GET {VIDEOS}: the job {job.id} created by this run is not listed")


@check("video.delete", "Deleting a video (the run's remix) answers video.deleted; it is then gone (404 in OpenAI "
       "shape)", slow=True, surface="openai.videos", needs=("setup.video_remix",))
def video_delete(ctx: Ctx) -> None:
    remix = Job(remix_of(ctx))
    wait(ctx, remix)  # a job is deleted once it has finished
    obj = ctx.ok_json(ctx.request("DELETE", f"{VIDEOS}/{remix.id}"), f"DELETE {VIDEOS}/{remix.id}")
    ctx.valid("sora", "DeletedVideo", obj, f"DELETE {VIDEOS}/{remix.id}")
    ctx.expect(obj["id"] == remix.id and obj["deleted"] is True, f"DELETE {VIDEOS}/{remix.id}: answered {obj}")
    ctx.openai_error(ctx.get(f"{VIDEOS}/{remix.id}"), 404, f"GET {VIDEOS}/{{id}} after DELETE")
