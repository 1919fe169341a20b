"""State that outlives a request: video jobs and Responses affinity survive a gateway restart,
and one user never sees another user's jobs or responses."""

from __future__ import annotations

import time

from gateway_stack import stack  # noqa: F401

from specs.validate import validate

CALC = [{"type": "function", "name": "calc", "parameters": {"type": "object", "properties": {
    "expr": {"type": "string"}}, "required": ["expr"]}}]


def wait_completed(stack, key: str, video_id: str) -> dict:  # noqa: F811
    deadline = time.monotonic() + 10
    while True:
        r = stack.http.get(f"/v1/videos/{video_id}", headers={"Authorization": key})
        assert r.status_code == 200, r.text
        if r.json()["status"] in ("completed", "failed"):
            return r.json()
        assert time.monotonic() < deadline
        time.sleep(0.05)


def test_jobs_and_responses_survive_a_restart(stack):  # noqa: F811
    user = stack.new_user()
    auth = {"Authorization": user.key}
    with stack.mock_settings("sora", video_ms=200):
        r = stack.http.post("/v1/videos", headers=auth, json={"model": "sora-2", "prompt": "a cat", "seconds": "4"})
        assert r.status_code == 200, r.text
        video_id = r.json()["id"]
        r = stack.http.post("/v1/responses", headers=auth,
                            json={"model": "gpt-4.1-mini", "input": "帮我计算1+5等于多少", "tools": CALC})
        assert r.status_code == 200, r.text
        first = r.json()
        call = next(o for o in first["output"] if o["type"] == "function_call")

        stack.restart_gateway()

        job = wait_completed(stack, user.key, video_id)
        validate("sora", "Video", job)
        assert (job["id"], job["status"]) == (video_id, "completed")
        r = stack.http.get(f"/v1/videos/{video_id}/content", headers=auth)
        assert r.status_code == 200 and r.content[4:8] == b"ftyp"
        listed = stack.http.get("/v1/videos", headers=auth).json()
        validate("sora", "VideoList", listed)
        assert [v["id"] for v in listed["data"]] == [video_id]
        # the follow-up still reaches the node that holds the first response
        r = stack.http.post("/v1/responses", headers=auth, json={
            "model": "gpt-4.1-mini", "previous_response_id": first["id"], "tools": CALC,
            "input": [{"type": "function_call_output", "call_id": call["call_id"], "output": "6 (calc 5150)"}]})
        assert r.status_code == 200, r.text
        assert "5150" in "".join(c["text"] for o in r.json()["output"] if o["type"] == "message"
                                 for c in o["content"])
    # usage recorded before the restart was drained, not lost
    stack.flush_usage()
    endpoints = [rec["endpoint"] for rec in stack.usage(user.id)]
    assert endpoints.count("videos.create") == 1 and endpoints.count("responses") == 2


def test_another_users_jobs_and_responses_are_not_found(stack):  # noqa: F811
    alice, bob = stack.new_user(), stack.new_user()
    a, b = {"Authorization": alice.key}, {"Authorization": bob.key}
    with stack.mock_settings("sora", video_ms=100):
        r = stack.http.post("/v1/videos", headers=a, json={"model": "sora-2", "prompt": "alice's cat"})
        assert r.status_code == 200, r.text
        video_id = r.json()["id"]
        wait_completed(stack, alice.key, video_id)
        for method, path, body in [("GET", f"/v1/videos/{video_id}", None),
                                   ("GET", f"/v1/videos/{video_id}/content", None),
                                   ("POST", f"/v1/videos/{video_id}/content", None),
                                   ("POST", f"/v1/videos/{video_id}/remix", {"prompt": "bob's tiger"}),
                                   ("DELETE", f"/v1/videos/{video_id}", None)]:
            r = stack.http.request(method, path, headers=b, json=body)
            assert r.status_code == 404, (method, path, r.text)
            validate("openai", "ErrorResponse", r.json())
        assert stack.http.get("/v1/videos", headers=b).json()["data"] == []
        # still Alice's, untouched
        assert stack.http.get(f"/v1/videos/{video_id}", headers=a).json()["status"] == "completed"

    r = stack.http.post("/v1/responses", headers=a, json={"model": "gpt-4.1-mini", "input": "hello"})
    assert r.status_code == 200
    r = stack.http.post("/v1/responses", headers=b, json={"model": "gpt-4.1-mini", "input": "and?",
                                                          "previous_response_id": r.json()["id"]})
    assert r.status_code == 404, r.text
    assert r.json()["error"]["code"] == "previous_response_not_found"


def test_failed_and_deleted_jobs(stack):  # noqa: F811
    user = stack.new_user()
    auth = {"Authorization": user.key}
    with stack.mock_settings("sora", video_ms=100):
        r = stack.http.post("/v1/videos", headers=auth, json={"model": "sora-2", "prompt": "a cat [fail]"})
        assert r.status_code == 200, r.text
        video_id = r.json()["id"]
        job = wait_completed(stack, user.key, video_id)
        validate("sora", "Video", job)
        assert job["status"] == "failed" and job["error"]["message"]
        r = stack.http.get(f"/v1/videos/{video_id}/content", headers=auth)
        assert r.status_code == 409 and video_id in r.json()["error"]["message"]
        r = stack.http.delete(f"/v1/videos/{video_id}", headers=auth)
        assert r.status_code == 200 and r.json() == {"id": video_id, "object": "video.deleted", "deleted": True}
        assert stack.http.get(f"/v1/videos/{video_id}", headers=auth).status_code == 404


def test_follow_up_when_the_holding_node_fails(stack):  # noqa: F811
    """previous_response_id goes only to the node that holds the response: when that node
    fails, the client gets a clear upstream error, never another node's "not found"."""
    user = stack.new_user()
    auth = {"Authorization": user.key}
    r = stack.http.post("/v1/responses", headers=auth, json={"model": "gpt-4.1-mini", "input": "hello"})
    assert r.status_code == 200, r.text
    first = r.json()["id"]
    stack.flush_usage()
    holder = stack.usage(user.id)[0]["node"]
    other = {"openai-a": "openai-b", "openai-b": "openai-a"}[holder]
    follow = {"model": "gpt-4.1-mini", "input": "and then?", "previous_response_id": first}
    before = stack.mock_requests(other)
    with stack.mock_settings(holder, fault={"kind": "status", "status": 503, "rate": 1.0}):
        r = stack.http.post("/v1/responses", headers=auth, json=follow)
    assert r.status_code in (502, 503), r.text
    validate("openai", "ErrorResponse", r.json())
    assert r.json()["error"]["code"] != "previous_response_not_found"
    assert stack.mock_requests(other) == before
    r = stack.http.post("/v1/responses", headers=auth, json=follow)  # the node is back
    assert r.status_code == 200 and r.json()["previous_response_id"] == first
