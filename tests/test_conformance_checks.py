"""The protocol checks of `topapi check` against the demo stack (in-process, SQLite), and their validators
against broken streams and error bodies (they must be able to fail)."""

from __future__ import annotations

import dataclasses

import httpx
import orjson
import pytest
from conformance_fixtures import failures

from conformance.checks import gemini, responses
from conformance.context import Capture, Ctx, Target
from conformance.registry import CheckFailed, load_all, select
from conformance.runner import run, run_one
from specs import sse

MINE = ["responses.json", "sse.responses.order", "sse.responses.no_done", "sse.responses.tool_call", "gemini.json",
        "sse.gemini.last_event", "gemini.stream_array", "gemini.seed_body_alt", "gemini.models", "auth.forms",
        "refusal.bad_key", "refusal.unsubscribed_model", "refusal.broken_json", "refusal.unknown_route",
        "refusal.no_500", "seed.requests", "seed.tool_round_trip", "seed.multimodal", "images.generate",
        "images.edit_forms", "video.lifecycle", "video.content", "video.remix", "video.list", "video.delete",
        "usage.consistency", "convert.chat_gemini_model", "convert.chat_gemini_tools", "convert.responses_gemini_model",
        "convert.gemini_chat_model", "convert.refuses_uncarried"]
# run last: it creates a user right after other checks deleted theirs (ids must not be reused)
LAST = ["usage.consistency"]


# `demo`, `target`, `ctx`: conformance_fixtures.py; a little latency (buffering is measurable), short videos
MOCK_SETTINGS = {"ttft_ms": 20, "itl_ms": 2, "video_ms": 1000}


def test_every_protocol_check_is_registered() -> None:
    checks = load_all()
    missing = [i for i in MINE if i not in checks]
    assert not missing, missing
    assert all(checks[i].layer == "protocol" and checks[i].description for i in MINE)
    assert {c.id for c in select(["refusal"])} >= {i for i in MINE if i.startswith("refusal.")}


@pytest.mark.timeout(120)
def test_protocol_checks_pass_against_the_demo_stack(target: Target) -> None:
    checks = [c for c in select(["protocol"]) if c.id not in LAST]
    results = run(target, checks, workers=4)
    results += run(target, select(LAST))
    assert {r.id for r in results} >= set(MINE)
    assert not failures(results), "\n".join(failures(results))
    subs = {r.id: r.subs for r in results}
    assert {s.name for s in subs["auth.forms"]} == {"bare", "bearer", "x-api-key", "x-goog-api-key", "query"}
    assert len(subs["seed.requests"]) == 15 and all(s.passed for s in subs["seed.requests"])
    assert len(subs["images.edit_forms"]) == 4


def test_admin_checks_skip_without_admin_credentials(target: Target) -> None:
    plain = dataclasses.replace(target, admin_user=None, admin_password=None)
    results = run(plain, select(["refusal.unsubscribed_model", "usage.consistency"]))
    assert [r.status for r in results] == ["skipped", "skipped"]
    assert all("admin" in r.message for r in results)


# -- the validators fail on broken input ----------------------------------------------------------------------------
def _recapture(cap: Capture, raw: bytes) -> Capture:
    return dataclasses.replace(cap, raw=raw, events=sse.parse(raw), times=[0.0] * len(sse.parse(raw)))


def _blocks(cap: Capture) -> list[bytes]:
    return [b + b"\n\n" for b in cap.raw.replace(b"\r\n", b"\n").split(b"\n\n") if b.strip()]


@pytest.fixture(scope="module")
def responses_stream(ctx: Ctx) -> Capture:
    cap = ctx.stream("POST", "/v1/responses", json=responses.body(ctx, stream=True))
    responses.check_stream(ctx, cap, "good stream")  # the unmodified stream passes
    return cap


def _mutate_delta(block: bytes) -> bytes:
    head, _, data = block.partition(b"data: ")
    obj = orjson.loads(data)
    obj["delta"] += "X"
    return head + b"data: " + orjson.dumps(obj) + b"\n\n"


@pytest.mark.parametrize(("mutation", "message"), [
    ("drop", "sequence_number"),
    ("done", "[DONE]"),
    ("delta", "not the deltas joined"),
    ("rename", "payload type"),
    ("truncate", "expected response.completed"),
])
def test_responses_stream_validator_fails_on_broken_streams(ctx: Ctx, responses_stream: Capture, mutation: str,
                                                            message: str) -> None:
    blocks = _blocks(responses_stream)
    delta = next(i for i, b in enumerate(blocks) if b"response.output_text.delta" in b)
    if mutation == "drop":
        del blocks[delta]
    elif mutation == "done":
        blocks.append(b"data: [DONE]\n\n")
    elif mutation == "delta":
        blocks[delta] = _mutate_delta(blocks[delta])
    elif mutation == "rename":
        blocks[delta] = blocks[delta].replace(b"event: response.output_text.delta", b"event: response.text.delta", 1)
    else:
        blocks = blocks[:-1]
    with pytest.raises(CheckFailed, match=message if mutation != "done" else r"\[DONE\]"):
        responses.check_stream(ctx, _recapture(responses_stream, b"".join(blocks)), "broken stream")


def test_gemini_stream_validator_fails_on_early_finish_reason_and_done(ctx: Ctx) -> None:
    cap = ctx.stream("POST", gemini.path(ctx, "streamGenerateContent"), json=gemini.body(), auth="x-goog-api-key",
                     params={"alt": "sse"})
    gemini.check_sse(ctx, cap, "good stream")
    pieces = [ev.json() for ev in cap.events]
    assert len(pieces) > 2
    early = [dict(p) for p in pieces]
    early[0] = {**early[0], "candidates": [{**early[0]["candidates"][0], "finishReason": "STOP"}]}
    with pytest.raises(CheckFailed, match="only the last may"):
        gemini.check_pieces(ctx, early, "early finish")
    no_usage = [*pieces[:-1], {k: v for k, v in pieces[-1].items() if k != "usageMetadata"}]
    with pytest.raises(CheckFailed, match="usageMetadata"):
        gemini.check_pieces(ctx, no_usage, "no usage")
    with pytest.raises(CheckFailed, match=r"\[DONE\]"):
        gemini.check_sse(ctx, _recapture(cap, cap.raw + b"data: [DONE]\r\n\r\n"), "done")


def test_error_shape_helpers_demand_every_field(ctx: Ctx) -> None:
    def resp(status: int, body: object) -> httpx.Response:
        return httpx.Response(status, json=body)

    good = {"error": {"message": "Incorrect API key", "type": "invalid_request_error", "param": None, "code": "x"}}
    assert ctx.openai_error(resp(401, good), 401, "ok")["code"] == "x"
    for drop in ("param", "code", "type"):
        broken = {"error": {k: v for k, v in good["error"].items() if k != drop}}
        with pytest.raises(CheckFailed, match=drop):
            ctx.openai_error(resp(401, broken), 401, "missing field")
    with pytest.raises(CheckFailed, match="expected 401"):
        ctx.openai_error(resp(403, good), 401, "wrong status")
    gem = {"error": {"code": 401, "message": "bad key", "status": "UNAUTHENTICATED", "details": []}}
    ctx.gemini_error(resp(401, gem), 401, "ok")
    with pytest.raises(CheckFailed, match="expected UNAUTHENTICATED"):
        ctx.gemini_error(resp(401, {"error": {**gem["error"], "status": "PERMISSION_DENIED"}}), 401, "status")
    with pytest.raises(CheckFailed, match="Gemini errors carry"):
        ctx.gemini_error(resp(401, good), 401, "OpenAI shape on a Gemini route")


def test_video_checks_fail_on_a_job_that_goes_backwards() -> None:
    """A fake target whose job's progress drops and whose content leaks before completion."""
    polls = iter([("in_progress", 50), ("in_progress", 30), ("completed", 100)])
    state = {"status": "queued", "progress": 0}

    def video() -> dict:
        done = state["status"] == "completed"
        return {"id": "video_1", "object": "video", "model": "sora-2", "status": state["status"],
                "progress": state["progress"], "created_at": 1, "completed_at": 2 if done else None,
                "expires_at": None, "prompt": "p", "size": "720x1280", "seconds": "4",
                "remixed_from_video_id": None, "error": None}

    def handler(request: httpx.Request) -> httpx.Response:
        path = request.url.path
        if path == "/v1/videos" and request.method == "POST":
            return httpx.Response(200, json=video())
        if path.endswith("/content"):  # bytes at once, even while the job runs
            return httpx.Response(200, content=b"\x00\x00\x00\x20ftypisom" + b"\x00" * 2000,
                                  headers={"content-type": "video/mp4"})
        if path == "/v1/videos/video_1":
            if len(seen) >= 1:  # the first GET is the one right after the early content requests
                state["status"], state["progress"] = next(polls, ("completed", 100))
            seen.append(path)
            return httpx.Response(200, json=video())
        return httpx.Response(404, json={"error": {"message": "no", "type": "x", "param": None, "code": None}})

    seen: list[str] = []
    fake = Ctx(Target("http://fake.test", "sk-x", video_deadline_s=5))
    fake.http = httpx.Client(transport=httpx.MockTransport(handler))
    checks = select(["video.lifecycle", "video.content"])
    results = {c.id: run_one(fake, c) for c in checks}
    assert results["video.lifecycle"].status == "failed"
    assert "progress went down from 50 to 30" in results["video.lifecycle"].message
    assert results["video.content"].status == "failed"
    assert "sent video bytes before the job completed" in results["video.content"].message
