"""Who may call what: key forms, 401 / 403 / 402 / 429, each in the caller's dialect with all fields."""

from __future__ import annotations

import time

import httpx
import pytest
from gateway_stack import stack  # noqa: F401

from specs.validate import validate

CHAT_PATH = "/v1/chat/completions"
CHAT = {"model": "gpt-4.1-mini", "messages": [{"role": "user", "content": "what is 2+2"}]}
GEMINI_PATH = "/gemini/v1beta/models/gemini-2.5-flash:generateContent"
GEMINI = {"contents": [{"role": "user", "parts": [{"text": "what is 2+2"}]}]}


def openai_error(r: httpx.Response, status: int, code: str | None = None) -> dict:
    assert r.status_code == status, r.text
    assert r.headers["content-type"].startswith("application/json")
    body = r.json()
    validate("openai", "ErrorResponse", body)
    err = body["error"]
    assert set(err) == {"message", "type", "param", "code"} and err["message"]
    if code is not None:
        assert err["code"] == code, err
    return err


def gemini_error(r: httpx.Response, status: int, rpc_status: str) -> dict:
    assert r.status_code == status, r.text
    body = r.json()
    validate("gemini", "ErrorResponse", body)
    err = body["error"]
    assert set(err) >= {"code", "message", "status", "details"}
    assert (err["code"], err["status"]) == (status, rpc_status) and err["message"]
    return err


def chat(stack, headers: dict[str, str], body: dict | None = None, params=None) -> httpx.Response:  # noqa: F811
    return stack.http.post(CHAT_PATH, headers=headers, json=body or CHAT, params=params)


def gemini(stack, headers: dict[str, str], params=None) -> httpx.Response:  # noqa: F811
    return stack.http.post(GEMINI_PATH, headers=headers, json=GEMINI, params=params)


# -- key forms ------------------------------------------------------------------------------------------


@pytest.mark.parametrize("form", ["bare", "bearer", "BEARER", "x-api-key"])
def test_every_key_form_on_openai_routes(stack, form):  # noqa: F811
    key = stack.api_key
    headers = {"bare": {"Authorization": key}, "bearer": {"Authorization": f"Bearer {key}"},
               "BEARER": {"Authorization": f"bearer  {key}"}, "x-api-key": {"x-api-key": key}}[form]
    r = chat(stack, headers)
    assert r.status_code == 200, r.text
    assert stack.http.get("/v1/models", headers=headers).status_code == 200


@pytest.mark.parametrize("form", ["bare", "bearer", "x-api-key", "x-goog-api-key", "query"])
def test_every_key_form_on_gemini_routes(stack, form):  # noqa: F811
    key = stack.api_key
    headers, params = {"bare": ({"Authorization": key}, None), "bearer": ({"Authorization": f"Bearer {key}"}, None),
                       "x-api-key": ({"x-api-key": key}, None), "x-goog-api-key": ({"x-goog-api-key": key}, None),
                       "query": ({}, {"key": key})}[form]
    r = gemini(stack, headers, params)
    assert r.status_code == 200, r.text
    validate("gemini", "GenerateContentResponse", r.json())
    assert stack.http.get("/gemini/v1beta/models", headers=headers, params=params).status_code == 200


def test_gemini_key_forms_are_not_taken_on_openai_routes(stack):  # noqa: F811
    openai_error(chat(stack, {"x-goog-api-key": stack.api_key}), 401, "missing_api_key")
    openai_error(chat(stack, {}, params={"key": stack.api_key}), 401, "missing_api_key")


# -- 401 --------------------------------------------------------------------------------------------------


def test_missing_and_unknown_keys(stack):  # noqa: F811
    openai_error(chat(stack, {}), 401, "missing_api_key")
    openai_error(chat(stack, {"Authorization": "Bearer"}), 401)
    err = openai_error(chat(stack, {"Authorization": "sk-tk-unknown"}), 401, "invalid_api_key")
    assert "sk-tk-unknown" not in err["message"]
    openai_error(stack.http.get("/v1/models"), 401)
    gemini_error(gemini(stack, {}), 401, "UNAUTHENTICATED")
    gemini_error(gemini(stack, {"x-goog-api-key": "nope"}), 401, "UNAUTHENTICATED")
    gemini_error(stack.http.get("/gemini/v1beta/models", params={"key": "nope"}), 401, "UNAUTHENTICATED")


def test_disabled_key_user_and_expired_key(stack):  # noqa: F811
    user = stack.new_user()
    auth = {"Authorization": user.key}
    assert chat(stack, auth).status_code == 200
    with stack.console(user.token) as me:
        assert me.patch(f"/api/user/keys/{user.key_id}", json={"enabled": False}).status_code == 200
        openai_error(chat(stack, auth), 401, "api_key_disabled")
        gemini_error(gemini(stack, {"x-goog-api-key": user.key}), 401, "UNAUTHENTICATED")
        assert me.patch(f"/api/user/keys/{user.key_id}", json={"enabled": True}).status_code == 200
        assert chat(stack, auth).status_code == 200

        expires_at = time.time() + 1.5
        r = me.post("/api/user/keys", json={"name": "short-lived", "expires_at": expires_at})
        assert r.status_code == 201, r.text
        short = {"Authorization": r.json()["key"]}
        assert chat(stack, short).status_code == 200
        time.sleep(max(0.0, expires_at - time.time()) + 0.05)
        openai_error(chat(stack, short), 401, "api_key_expired")

    with stack.console() as admin:  # a disabled account's keys stop working with it
        assert admin.patch(f"/api/platform/users/{user.id}", json={"status": "disabled"}).status_code == 200
        openai_error(chat(stack, auth), 401, "account_disabled")
        assert admin.patch(f"/api/platform/users/{user.id}", json={"status": "active"}).status_code == 200
    assert chat(stack, auth).status_code == 200


# -- 403 ------------------------------------------------------------------------------------------------------


def test_unsubscribed_model_and_key_model_allow_list(stack):  # noqa: F811
    user = stack.new_user(models=("gpt-4.1-mini", "gpt-image-1"))
    auth = {"Authorization": user.key}
    openai_error(stack.http.post("/v1/videos", headers=auth, json={"model": "sora-2", "prompt": "a cat"}),
                 403, "model_not_subscribed")
    err = gemini_error(gemini(stack, auth), 403, "PERMISSION_DENIED")
    assert "gemini-2.5-flash" in err["message"]
    openai_error(chat(stack, auth, {**CHAT, "model": "no-such-model"}), 404, "model_not_found")

    with stack.console(user.token) as me:
        r = me.post("/api/user/keys", json={"name": "chat only", "models": ["gpt-4.1-mini"]})
        assert r.status_code == 201, r.text
        limited = {"Authorization": r.json()["key"]}
        assert chat(stack, limited).status_code == 200
        r = stack.http.post("/v1/images/generations", headers=limited, json={"model": "gpt-image-1", "prompt": "x"})
        err = openai_error(r, 403, "model_not_allowed")
        assert err["param"] == "model"
        listed = stack.http.get("/v1/models", headers=limited).json()
        assert [m["id"] for m in listed["data"]] == ["gpt-4.1-mini"]

        # unsubscribing takes effect at once
        assert me.delete("/api/user/subscriptions/gpt-4.1-mini").status_code == 204
        openai_error(chat(stack, auth), 403, "model_not_subscribed")
        assert me.post("/api/user/subscriptions", json={"model": "gpt-4.1-mini"}).status_code == 201
        assert chat(stack, auth).status_code == 200


# -- 402 --------------------------------------------------------------------------------------------------------


def test_quota_used_up(stack):  # noqa: F811
    user = stack.new_user()
    auth = {"Authorization": user.key}
    assert chat(stack, auth).status_code == 200  # spends a little
    with stack.console() as admin:
        r = admin.patch(f"/api/platform/users/{user.id}", json={"quota": 1e-9})
        assert r.status_code == 200, r.text
        err = openai_error(chat(stack, auth), 402, "insufficient_quota")
        assert err["type"] == "insufficient_quota"
        gemini_error(gemini(stack, auth), 402, "RESOURCE_EXHAUSTED")
        openai_error(stack.http.post("/v1/images/generations", headers=auth,
                                     json={"model": "gpt-image-1", "prompt": "x"}), 402, "insufficient_quota")
        assert admin.patch(f"/api/platform/users/{user.id}", json={"quota": 100.0}).status_code == 200
        assert chat(stack, auth).status_code == 200
        assert admin.patch(f"/api/platform/users/{user.id}", json={"quota": None}).status_code == 200
    assert chat(stack, auth).status_code == 200


def test_quota_counts_spend_not_yet_written(stack):  # noqa: F811
    """The quota check needs no database round trip: spend counts the moment a request ends."""
    user = stack.new_user(quota=1e-9)
    auth = {"Authorization": user.key}
    assert chat(stack, auth).status_code == 200  # nothing spent yet: allowed
    openai_error(chat(stack, auth), 402, "insufficient_quota")


# -- 429 ----------------------------------------------------------------------------------------------------------


def test_rate_limit_per_key(stack):  # noqa: F811
    user = stack.new_user(rpm=3)
    auth = {"Authorization": user.key}
    for _ in range(3):
        assert chat(stack, auth).status_code == 200
    r = chat(stack, auth)
    err = openai_error(r, 429, "rate_limit_exceeded")
    assert err["type"] == "rate_limit_error"
    retry = int(r.headers["retry-after"])
    assert 1 <= retry <= 20  # 3 per minute: a token every 20 s
    r = gemini(stack, {"x-goog-api-key": user.key})
    gemini_error(r, 429, "RESOURCE_EXHAUSTED")
    assert int(r.headers["retry-after"]) >= 1
    # another key of the same user has its own budget
    with stack.console(user.token) as me:
        other = me.post("/api/user/keys", json={"name": "second"}).json()["key"]
    assert chat(stack, {"Authorization": other}).status_code == 200


def test_tokens_per_minute_per_key(stack):  # noqa: F811
    """tpm counts the usage of finished requests: the request that passes the budget is served, the next refused."""
    user = stack.new_user(tpm=30)
    auth = {"Authorization": user.key}
    body = {**CHAT, "messages": [{"role": "user", "content": "write 40 words"}]}
    assert chat(stack, auth, body).status_code == 200  # some 50 tokens: over the budget now
    r = chat(stack, auth)
    err = openai_error(r, 429, "tokens_rate_limit_exceeded")
    assert "30 tokens per minute" in err["message"] and int(r.headers["retry-after"]) >= 1


def test_requests_in_flight_per_key(stack):  # noqa: F811
    """concurrency 2: a third request while two streams run is refused; when one ends, the next passes."""
    user = stack.new_user(concurrency=2)
    auth = {"Authorization": user.key}
    body = {**CHAT, "stream": True, "messages": [{"role": "user", "content": "write 30 words"}]}
    with stack.mock_settings("openai-a", itl_ms=40), stack.mock_settings("openai-b", itl_ms=40), \
            httpx.Client(base_url=stack.base_url, timeout=30) as c:
        with c.stream("POST", CHAT_PATH, json=body, headers=auth) as one, \
                c.stream("POST", CHAT_PATH, json=body, headers=auth) as two:
            assert (one.status_code, two.status_code) == (200, 200)
            r = chat(stack, auth)
            err = openai_error(r, 429, "concurrency_limit_exceeded")
            assert "2 at once" in err["message"]
            one.read()
        assert chat(stack, auth).status_code == 200  # a slot is free again
