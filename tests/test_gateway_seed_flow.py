"""The seed's flow end to end, through HTTP only: consoles first, then every seed request as written.

The platform admin creates a user; the user logs in, adds a key, enables it, subscribes to
the four models in the market, calls /v1/getModelList with the bare `Authorization: <key>`,
lists the models in all three dialects, then sends every request body of the seed byte for
byte. Every answer is validated against our OpenAPI documents.
"""

from __future__ import annotations

import base64
import time

import httpx
import orjson
import pytest
from gateway_stack import USER_PASSWORD, stack  # noqa: F401

from gateway.demo import MODELS
from specs import seed, sse
from specs.validate import validate

# (the seed's request, the document and schema its answer must match)
SEED_JSON = [
    (seed.CHAT, "openai", "ChatCompletion", "chat.completions"),
    (seed.RESPONSES, "openai", "Response", "responses"),
    (seed.IMAGE_GENERATION, "openai", "ImagesResponse", "images.generations"),
    (seed.IMAGE_EDIT, "openai", "ImagesResponse", "images.edits"),
    (seed.RESPONSES_MULTIMODAL, "openai", "Response", "responses"),
]
PNG = b"\x89PNG\r\n\x1a\n"


@pytest.fixture(scope="module")
def seed_user(stack):  # noqa: F811
    """The seed's "后台管理" steps, each through the consoles: returns (key, user id)."""
    base = stack.base_url
    admin = stack.accounts["platform_admin"]
    r = httpx.post(base + "/api/auth/login", json={"username": admin["username"], "password": admin["password"]})
    assert r.status_code == 200, r.text
    assert r.json()["user"]["role"] == "platform_admin"
    admin_h = {"Authorization": f"Bearer {r.json()['token']}"}
    r = httpx.post(base + "/api/platform/users", headers=admin_h,
                   json={"username": "seeduser", "password": USER_PASSWORD})
    assert r.status_code == 201, r.text
    user_id = r.json()["id"]

    r = httpx.post(base + "/api/auth/login", json={"username": "seeduser", "password": USER_PASSWORD})
    assert r.status_code == 200, r.text
    me = {"Authorization": f"Bearer {r.json()['token']}"}
    r = httpx.post(base + "/api/user/keys", headers=me, json={"name": "seed key", "enabled": False})
    assert r.status_code == 201, r.text
    key, key_id = r.json()["key"], r.json()["id"]
    # a disabled key is refused until the user enables it
    assert httpx.post(base + "/v1/getModelList", headers={"Authorization": key}).status_code == 401
    r = httpx.patch(base + f"/api/user/keys/{key_id}", headers=me, json={"enabled": True})
    assert r.status_code == 200 and r.json()["enabled"] is True, r.text

    r = httpx.get(base + "/api/user/market", headers=me)
    assert r.status_code == 200, r.text
    market = {m["name"]: m for m in r.json()["data"]}
    assert set(MODELS) <= set(market)
    assert not any(market[m]["subscribed"] for m in MODELS)
    for model in MODELS:
        r = httpx.post(base + "/api/user/subscriptions", headers=me, json={"model": model})
        assert r.status_code == 201, r.text
    r = httpx.get(base + "/api/user/subscriptions", headers=me)
    assert {s["model"] for s in r.json()["data"]} == set(MODELS)
    return key, user_id


def call(stack, key: str, req: seed.SeedRequest, path: str | None = None, **kw) -> httpx.Response:  # noqa: F811
    """Send a seed request as written: its exact body bytes, the key bare in Authorization.
    The URL is built as a string so that the seed's `//v1/images/edits` reaches the server."""
    headers = {seed.AUTH_HEADER: key}
    if req.body is not None:
        headers["Content-Type"] = "application/json"
    return httpx.request(req.method, stack.base_url + (path or req.path), headers=headers,
                         content=req.body.encode() if req.body is not None else None, timeout=30, **kw)


def test_model_lists(stack, seed_user):  # noqa: F811
    key, _ = seed_user
    r = call(stack, key, seed.GET_MODEL_LIST)
    assert r.status_code == 200, r.text
    validate("openai", "ModelList", r.json())
    assert {m["id"] for m in r.json()["data"]} == set(MODELS)

    r = call(stack, key, seed.MODELS)
    assert r.status_code == 200, r.text
    validate("openai", "ModelList", r.json())
    assert {m["id"] for m in r.json()["data"]} == set(MODELS)

    r = call(stack, key, seed.RESPONSES_MODELS)
    assert r.status_code == 200, r.text
    validate("openai", "ModelList", r.json())
    assert [m["id"] for m in r.json()["data"]] == ["gpt-4.1-mini"]

    r = call(stack, key, seed.GEMINI_MODELS)
    assert r.status_code == 200, r.text
    validate("gemini", "ListModelsResponse", r.json())
    names = [m["name"] for m in r.json()["models"]]
    assert names == ["models/gemini-2.5-flash"]


def records(stack, user_id: int, endpoint: str) -> list[dict]:  # noqa: F811
    stack.flush_usage()
    return [r for r in stack.usage(user_id) if r["endpoint"] == endpoint]


@pytest.mark.parametrize(("req", "doc", "schema", "endpoint"), SEED_JSON, ids=[r[0].name for r in SEED_JSON])
def test_seed_json_requests(stack, seed_user, req, doc, schema, endpoint):  # noqa: F811
    key, user_id = seed_user
    before = len(records(stack, user_id, endpoint))
    r = call(stack, key, req)
    assert r.status_code == 200, r.text
    assert r.headers["content-type"].startswith("application/json")
    body = r.json()
    validate(doc, schema, body)
    if req is seed.CHAT:
        assert "6" in body["choices"][0]["message"]["content"]
    elif req is seed.RESPONSES:
        text = "".join(c["text"] for item in body["output"] if item["type"] == "message" for c in item["content"])
        assert "6" in text
    elif req in (seed.IMAGE_GENERATION, seed.IMAGE_EDIT):
        assert len(body["data"]) == 1
        assert base64.b64decode(body["data"][0]["b64_json"]).startswith(PNG)
    elif req is seed.RESPONSES_MULTIMODAL:
        text = "".join(c["text"] for item in body["output"] if item["type"] == "message" for c in item["content"])
        assert "picsum.photos" in text  # the answer describes the image it was given
    # billed once, with the tokens (or images) the client saw
    new = records(stack, user_id, endpoint)
    assert len(new) == before + 1
    rec = next(x for x in new if x["request_id"] == r.headers["x-request-id"])
    assert rec["outcome"] == "ok" and rec["status"] == 200 and rec["cost"] > 0
    usage = body.get("usage") or {}
    if endpoint == "chat.completions":
        assert (rec["prompt_tokens"], rec["completion_tokens"]) == (usage["prompt_tokens"],
                                                                   usage["completion_tokens"])
    elif endpoint == "responses":
        assert (rec["prompt_tokens"], rec["completion_tokens"]) == (usage["input_tokens"], usage["output_tokens"])


def test_seed_gemini_stream_is_sse(stack, seed_user):  # noqa: F811
    """The body's `"alt":"sse"` gives SSE although the URL has no ?alt=sse."""
    key, _ = seed_user
    r = call(stack, key, seed.GEMINI_STREAM)
    assert r.status_code == 200, r.text
    assert r.headers["content-type"].startswith("text/event-stream")
    events = sse.parse(r.content)
    assert len(events) > 1
    for ev in events:
        validate("gemini", "GenerateContentResponse", ev.json())
    last = events[-1].json()
    assert last["candidates"][0]["finishReason"] == "STOP"
    usage = last["usageMetadata"]
    text = "".join(p.get("text", "") for ev in events for p in ev.json()["candidates"][0]["content"]["parts"])
    assert text and usage["candidatesTokenCount"] > 0
    assert usage["totalTokenCount"] == usage["promptTokenCount"] + usage["candidatesTokenCount"]


def test_seed_tool_call_and_callback(stack, seed_user):  # noqa: F811
    """The model calls `calc`; the client runs it and sends the result back with
    previous_response_id; the next answer quotes the result."""
    key, _ = seed_user
    r = call(stack, key, seed.RESPONSES_TOOL_CALL)
    assert r.status_code == 200, r.text
    first = r.json()
    validate("openai", "Response", first)
    calls = [item for item in first["output"] if item["type"] == "function_call"]
    assert len(calls) == 1 and calls[0]["name"] == "calc"
    args = orjson.loads(calls[0]["arguments"])
    assert args["expr"].replace(" ", "") == "1+5"

    result = "calc says 6 (ticket 4711)"
    followup = {"model": "gpt-4.1-mini", "previous_response_id": first["id"], "stream": False,
                "input": [{"type": "function_call_output", "call_id": calls[0]["call_id"], "output": result}],
                "tools": seed.RESPONSES_TOOL_CALL.json()["tools"]}
    r = httpx.post(stack.base_url + "/responses/v1/responses", headers={"Authorization": key}, json=followup,
                   timeout=30)
    assert r.status_code == 200, r.text
    second = r.json()
    validate("openai", "Response", second)
    assert second["previous_response_id"] == first["id"]
    text = "".join(c["text"] for item in second["output"] if item["type"] == "message" for c in item["content"])
    assert "4711" in text


def test_seed_video_download_before_completion(stack, seed_user):  # noqa: F811
    """A clear error, never partial bytes (the job takes a minute here, so it cannot be ready)."""
    key, _ = seed_user
    with stack.mock_settings("sora", video_ms=60_000):
        r = call(stack, key, seed.VIDEO_CREATE)
        assert r.status_code == 200, r.text
        video_id = r.json()["id"]
        r = call(stack, key, seed.VIDEO_CONTENT, seed.VIDEO_CONTENT.with_video_id(video_id))
    assert r.status_code == 409, r.text
    validate("sora", "ErrorResponse", r.json())
    assert r.json()["error"]["code"] == "video_not_ready"
    assert video_id in r.json()["error"]["message"]  # the id the client knows, not the node's


def test_seed_video_create_retrieve_download_remix(stack, seed_user):  # noqa: F811
    key, _ = seed_user
    with stack.mock_settings("sora", video_ms=300):
        r = call(stack, key, seed.VIDEO_CREATE)
        assert r.status_code == 200, r.text
        job = r.json()
        validate("sora", "Video", job)
        assert job["status"] in ("queued", "in_progress", "completed")
        assert (job["seconds"], job["size"]) == ("8", "1280x720")  # duration 5 -> 8 s, 480p -> 1280x720
        video_id = job["id"]

        deadline = time.monotonic() + 10
        while True:
            r = call(stack, key, seed.VIDEO_RETRIEVE, seed.VIDEO_RETRIEVE.with_video_id(video_id))
            assert r.status_code == 200, r.text
            job = r.json()
            validate("sora", "Video", job)
            assert job["id"] == video_id
            if job["status"] == "completed":
                break
            assert job["status"] in ("queued", "in_progress")
            assert time.monotonic() < deadline, job
            time.sleep(0.1)

        r = call(stack, key, seed.VIDEO_CONTENT, seed.VIDEO_CONTENT.with_video_id(video_id))
        assert r.status_code == 200, r.text
        assert r.headers["content-type"] == "video/mp4"
        assert r.content[4:8] == b"ftyp"

        r = call(stack, key, seed.VIDEO_REMIX, seed.VIDEO_REMIX.with_video_id(video_id))
        assert r.status_code == 200, r.text
        remix = r.json()
        validate("sora", "Video", remix)
        assert remix["remixed_from_video_id"] == video_id
        assert remix["id"] != video_id and remix["id"].startswith("video_")
