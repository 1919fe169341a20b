"""Usage accounting under concurrency: one record per authenticated request, whatever happened.

A fresh user sends a concurrent mix: chat JSON and streams, Responses, Gemini streams cut by
their node, a Gemini call whose only node fails, images, refusals (broken JSON, bad input the
node rejects, a model not subscribed), clients that hang up mid-stream, while one of the two
OpenAI nodes fails. Requests with a wrong key leave no record. The gateway's `x-request-id`
ties each answer to its record: the tokens recorded are the ones the client saw.
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

from gateway_stack import stack  # noqa: F401

from specs import sse

GEMINI_STREAM = "/gemini/v1beta/models/gemini-2.5-flash:streamGenerateContent?alt=sse"
GEMINI_JSON = "/gemini/v1beta/models/gemini-2.5-flash:generateContent"
STORY = [{"role": "user", "content": "Tell me a long story about a dragon."}]


@dataclass
class Seen:
    """What one client saw: expected outcome and status, and the usage it was shown (if any)."""

    kind: str
    outcome: str | None  # None: unauthenticated, no record expected
    status: int
    request_id: str | None = None
    tokens: tuple[int, int] | None = None


def send(stack, key: str, kind: str) -> Seen:  # noqa: F811
    http, auth = stack.http, {"Authorization": key}
    if kind == "chat":
        r = http.post("/v1/chat/completions", headers=auth, json={"model": "gpt-4.1-mini", "messages": STORY})
        u = r.json()["usage"]
        return Seen(kind, "ok", r.status_code, r.headers.get("x-request-id"),
                    (u["prompt_tokens"], u["completion_tokens"]))
    if kind == "chat_stream":
        r = http.post("/v1/chat/completions", headers=auth, json={
            "model": "gpt-4.1-mini", "messages": STORY, "stream": True, "stream_options": {"include_usage": True}})
        events = sse.parse(r.content)
        assert events[-1].is_done, r.text
        u = events[-2].json()["usage"]
        return Seen(kind, "ok", r.status_code, r.headers.get("x-request-id"),
                    (u["prompt_tokens"], u["completion_tokens"]))
    if kind == "responses":
        r = http.post("/v1/responses", headers=auth, json={"model": "gpt-4.1-mini", "input": "what is 2+3"})
        u = r.json()["usage"]
        return Seen(kind, "ok", r.status_code, r.headers.get("x-request-id"),
                    (u["input_tokens"], u["output_tokens"]))
    if kind == "gemini_cut":  # the gemini node cuts every stream after 3 events
        r = http.post(GEMINI_STREAM, headers={"x-goog-api-key": key},
                      json={"contents": [{"parts": [{"text": "Write a story about a magic backpack."}]}]})
        events = [e.json() for e in sse.parse(r.content)]
        assert "error" in events[-1], r.text
        meta = events[-2]["usageMetadata"]
        return Seen(kind, "cut", r.status_code, r.headers.get("x-request-id"),
                    (meta["promptTokenCount"], meta["candidatesTokenCount"]))
    if kind == "gemini_down":  # ... and every JSON answer half way: no node can answer
        r = http.post(GEMINI_JSON, params={"key": key}, json={"contents": [{"parts": [{"text": "hi"}]}]})
        return Seen(kind, "upstream_error", r.status_code, r.headers.get("x-request-id"))
    if kind == "image":
        r = http.post("/v1/images/generations", headers=auth,
                      json={"model": "gpt-image-1", "prompt": "a cat", "size": "256x256"})
        return Seen(kind, "ok", r.status_code, r.headers.get("x-request-id"))
    if kind == "broken_json":
        r = http.post("/v1/chat/completions", headers={**auth, "content-type": "application/json"},
                      content=b'{"model": "gpt-4.1-mini", "messages": [')
        return Seen(kind, "rejected", r.status_code, r.headers.get("x-request-id"))
    if kind == "node_rejects":  # well-formed JSON the node refuses (400)
        r = http.post("/v1/chat/completions", headers=auth, json={"model": "gpt-4.1-mini", "messages": "hello"})
        return Seen(kind, "rejected", r.status_code, r.headers.get("x-request-id"))
    if kind == "unsubscribed":
        r = http.post("/v1/videos", headers=auth, json={"model": "sora-2", "prompt": "a cat"})
        return Seen(kind, "rejected", r.status_code, r.headers.get("x-request-id"))
    if kind == "hang_up":  # the client leaves after the first chunks of a slow stream
        body = {"model": "gpt-4.1-mini", "messages": STORY, "stream": True, "max_tokens": 400,
                "stream_options": {"include_usage": True}}
        with http.stream("POST", "/v1/chat/completions", headers=auth, json=body) as r:
            assert r.status_code == 200, r.read()
            read = 0
            for _ in r.iter_bytes():  # (next() on the iterator would surface as a bare RuntimeError in map)
                read += 1
                if read == 3:
                    break
            assert read == 3, "the stream ended before the client could hang up"
            request_id = r.headers.get("x-request-id")
        return Seen(kind, "cancelled", 499, request_id)
    if kind == "bad_key":
        r = http.post("/v1/chat/completions", headers={"Authorization": "sk-tk-not-a-key"},
                      json={"model": "gpt-4.1-mini", "messages": STORY})
        return Seen(kind, None, r.status_code, r.headers.get("x-request-id"))
    raise AssertionError(kind)


MIX = {"chat": 6, "chat_stream": 6, "responses": 4, "gemini_cut": 3, "gemini_down": 2, "image": 2,
       "broken_json": 2, "node_rejects": 2, "unsubscribed": 2, "hang_up": 3, "bad_key": 2}
STATUS = {"chat": 200, "chat_stream": 200, "responses": 200, "gemini_cut": 200, "gemini_down": 502, "image": 200,
          "broken_json": 400, "node_rejects": 400, "unsubscribed": 403, "hang_up": 499, "bad_key": 401}


def wait_for(check: Callable[[], bool], timeout: float = 10) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.05)


def test_one_record_per_authenticated_request(stack):  # noqa: F811
    user = stack.new_user(models=("gpt-4.1-mini", "gpt-image-1", "gemini-2.5-flash"))
    # interleaved: one of each kind, then the next round
    kinds = [k for i in range(max(MIX.values())) for k, n in MIX.items() if i < n]
    cut = {"kind": "cut", "rate": 1.0, "after_chunks": 3}
    with stack.mock_settings("openai-b", fault={"kind": "status", "status": 500, "rate": 1.0}), \
            stack.mock_settings("openai-a", itl_ms=10), stack.mock_settings("gemini", fault=cut), \
            ThreadPoolExecutor(16) as pool:
        seen = list(pool.map(lambda k: send(stack, user.key, k), kinds))
        expected = [s for s in seen if s.outcome is not None]

        def all_recorded() -> bool:
            stack.flush_usage()
            return len(stack.usage(user.id)) >= len(expected)

        wait_for(all_recorded)  # a hung-up stream is settled a moment after the client left
    for s in seen:
        if s.kind != "hang_up":
            assert s.status == STATUS[s.kind], s
    records = stack.usage(user.id)
    assert len(records) == len(expected) == sum(MIX.values()) - MIX["bad_key"]
    by_id = {r["request_id"]: r for r in records}
    assert len(by_id) == len(records)
    for s in expected:
        assert s.request_id in by_id, s
        rec = by_id[s.request_id]
        assert (rec["outcome"], rec["status"]) == (s.outcome, s.status), (s, rec)
        assert rec["key_id"] == user.key_id
        if s.tokens is not None:
            assert (rec["prompt_tokens"], rec["completion_tokens"]) == s.tokens, (s, rec)
        if s.outcome == "ok":
            assert rec["cost"] > 0 and rec["error"] is None
        else:
            assert rec["error"]
    assert Counter(r["outcome"] for r in records) == {
        "ok": 18, "cut": 3, "upstream_error": 2, "rejected": 6, "cancelled": 3}
    # the failing node never answered: every OpenAI success came from openai-a
    assert {r["node"] for r in records if r["outcome"] == "ok" and r["model"] == "gpt-4.1-mini"} == {"openai-a"}
    assert not any(s.request_id in by_id for s in seen if s.outcome is None)


def test_usage_visible_to_the_user_and_spend_counts(stack):  # noqa: F811
    """The user's own console lists the same records; spend reaches the quota check at once."""
    user = stack.new_user(models=("gpt-4.1-mini",))
    r = stack.http.post("/v1/chat/completions", headers={"Authorization": user.key},
                        json={"model": "gpt-4.1-mini", "messages": STORY})
    assert r.status_code == 200
    stack.flush_usage()
    with stack.console(user.token) as me:
        mine = me.get("/api/user/usage").json()
    assert mine["total"] == 1 and mine["data"][0]["request_id"] == r.headers["x-request-id"]
    record = stack.usage(user.id)[0]
    assert record["request_id"] == r.headers["x-request-id"] and record["cost"] > 0
    with stack.console() as admin:
        got = admin.get(f"/api/platform/users/{user.id}").json()
    assert got["used"] == record["cost"]  # the user's spend, committed with the record


def test_unauthenticated_and_model_lists_leave_no_record(stack):  # noqa: F811
    user = stack.new_user(models=("gpt-4.1-mini",))
    http = stack.http
    assert http.get("/v1/models", headers={"Authorization": user.key}).status_code == 200
    assert http.post("/v1/getModelList", headers={"Authorization": user.key}).status_code == 200
    assert http.post("/v1/chat/completions", json={"model": "gpt-4.1-mini", "messages": STORY}).status_code == 401
    assert http.get("/v1/nothing-here", headers={"Authorization": user.key}).status_code == 404
    stack.flush_usage()
    assert stack.usage(user.id) == []
