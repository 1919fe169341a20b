"""Bad input never gives a 500: broken JSON, wrong types, huge bodies, unknown routes, wrong
methods, broken multipart and query parameters, on every relay path. Each answer is a 4xx
(or a 200 where the input is merely odd) in the path's dialect, and no body carries a trace."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from typing import Any

import httpx
import pytest
from gateway_stack import stack  # noqa: F401

from specs.validate import validate

MAX_BODY = 1 << 20
STACK_CONFIG = {"max_body_bytes": MAX_BODY}

GEMINI = "/gemini/v1beta/models/gemini-2.5-flash"
# path -> a valid body; the wrong-type cases replace one field at a time
BODIES: dict[str, dict[str, Any]] = {
    "/v1/chat/completions": {"model": "gpt-4.1-mini", "messages": [{"role": "user", "content": "hi"}],
                             "stream": False, "max_tokens": 5, "stream_options": {"include_usage": True},
                             "tools": [], "temperature": 1},
    "/v1/responses": {"model": "gpt-4.1-mini", "input": "hi", "stream": False, "tools": [],
                      "previous_response_id": "resp_x", "max_output_tokens": 16},
    "/responses/v1/responses": {"model": "gpt-4.1-mini", "input": [{"role": "user", "content": "hi"}]},
    "/v1/images/generations": {"model": "gpt-image-1", "prompt": "a cat", "n": 1, "size": "256x256"},
    "/v1/images/edits": {"model": "gpt-image-1", "prompt": "a lion", "image": "iVBORw0KGgo=",
                         "images": [{"image_url": "data:image/png;base64,iVBORw0KGgo="}]},
    "/v1/videos": {"model": "sora-2", "prompt": "a cat", "seconds": "4", "size": "1280x720", "duration": 5,
                   "resolution": "480p", "fps": 30},
    GEMINI + ":generateContent": {"contents": [{"role": "user", "parts": [{"text": "hi"}]}],
                                  "generationConfig": {"maxOutputTokens": 8}, "alt": "sse", "stream": False},
    GEMINI + ":streamGenerateContent": {"contents": [{"parts": [{"text": "hi"}]}], "alt": "sse"},
    GEMINI + ":countTokens": {"contents": [{"parts": [{"text": "hi"}]}]},
}
WRONG = [None, 0, -1, 1.5, True, "", "x", [], [1], [None], {}, {"a": 1}]
POST_PATHS = [*BODIES, "/v1/getModelList", "/v1beta/models/gemini-2.5-flash:generateContent",
              "/gemini/v1/models/gemini-2.5-flash:streamGenerateContent",
              "/v1/models/gemini-2.5-flash:generateContent"]


def dialect(path: str) -> str:
    return "gemini" if ":" in path or path.startswith(("/gemini", "/v1beta")) else "openai"


def check(r: httpx.Response, path: str, *, allow_ok: bool = True) -> None:
    """Never 5xx; an error is a JSON body of the path's dialect, without a trace."""
    where = f"{r.request.method} {r.request.url.path}: {r.status_code} {r.text[:300]}"
    assert r.status_code < 500, where
    assert "Traceback" not in r.text and 'File "' not in r.text, where
    if r.status_code < 400:
        assert allow_ok, where
        return
    assert r.headers["content-type"].startswith("application/json"), where
    if dialect(path) == "gemini":
        validate("gemini", "ErrorResponse", r.json())
        assert r.json()["error"]["code"] == r.status_code
    else:
        validate("openai", "ErrorResponse", r.json())


def post(stack, path: str, **kw) -> httpx.Response:  # noqa: F811
    headers = {"Authorization": stack.api_key, **kw.pop("headers", {})}
    return stack.http.post(path, headers=headers, **kw)


@pytest.fixture(scope="module")
def video_id(stack) -> str:  # noqa: F811
    r = post(stack, "/v1/videos", json={"model": "sora-2", "prompt": "a cat", "seconds": "4"})
    assert r.status_code == 200, r.text
    return r.json()["id"]


def all_posts(stack, video_id: str) -> list[str]:  # noqa: F811
    return [*POST_PATHS, f"/v1/videos/{video_id}/remix", f"/v1/videos/{video_id}/content"]


@pytest.mark.parametrize("body", [b'{"model": "gpt-4.1-mini", "messages": [', b"\xff\xfe\x00", b"not json",
                                  b"[]", b'"text"', b"1", b"null", b"{}", b""],
                         ids=["truncated", "not-utf8", "text", "array", "string", "number", "null", "empty-object",
                              "empty"])
def test_broken_bodies(stack, video_id, body):  # noqa: F811
    for path in all_posts(stack, video_id):
        r = post(stack, path, content=body, headers={"content-type": "application/json"})
        # getModelList and video downloads take no body, so they may answer
        check(r, path, allow_ok=path == "/v1/getModelList" or path.endswith("/content") and body in (b"", b"{}"))
        if r.status_code >= 400 and path != "/v1/getModelList":
            assert r.status_code in (400, 403, 404, 409, 422), (path, body, r.text)


def test_wrong_types_for_every_field(stack):  # noqa: F811
    cases = [(path, {**base, name: value}) for path, base in BODIES.items() for name in base for value in WRONG]
    cases += [(path, {**base, "unknown_field": {"deep": [1, {"x": None}]}}) for path, base in BODIES.items()]
    with ThreadPoolExecutor(8) as pool:
        answers = list(pool.map(lambda c: post(stack, c[0], json=c[1]), cases))
    for (path, _), r in zip(cases, answers, strict=True):
        check(r, path)


def test_huge_body_is_413(stack):  # noqa: F811
    big = b'{"model": "gpt-4.1-mini", "messages": [{"role": "user", "content": "' + b"x" * MAX_BODY + b'"}]}'
    for path in ("/v1/chat/completions", GEMINI + ":generateContent", "/v1/images/edits"):
        r = post(stack, path, content=big, headers={"content-type": "application/json"})
        check(r, path)
        assert r.status_code == 413


@pytest.mark.parametrize(("method", "path", "status"), [
    ("GET", "/v1/nothing", 404), ("POST", "/v2/chat/completions", 404), ("GET", "/", 404),
    ("GET", "/v1/videos/abc/frames", 404), ("POST", "/gemini/v1beta/models/x:explode", 404),
    ("GET", "/gemini/v1beta/nothing", 404), ("GET", "/v1/videos/video_doesnotexist", 404),
    ("GET", "/v1/chat/completions", 405), ("PUT", "/v1/models", 405), ("DELETE", "/v1/responses", 405),
    ("GET", GEMINI + ":generateContent", 405), ("POST", "/gemini/v1beta/models", 405),
    ("PATCH", "/v1/videos/video_x", 405), ("GET", "/v1/models/gemini-2.5-flash:generateContent", 405),
    ("POST", "/v1/videos/video_doesnotexist/remix", 404),
])
def test_unknown_routes_and_wrong_methods(stack, method, path, status):  # noqa: F811
    r = stack.http.request(method, path, headers={"Authorization": stack.api_key}, json={"prompt": "x"})
    check(r, path)
    assert r.status_code == status, r.text


def test_bad_query_parameters(stack, video_id):  # noqa: F811
    key = {"Authorization": stack.api_key}
    for path, params in [("/gemini/v1beta/models", {"pageSize": "abc"}), ("/gemini/v1beta/models", {"pageSize": -1}),
                         ("/gemini/v1beta/models", {"pageToken": "-5"}), ("/v1/videos", {"limit": "x"}),
                         ("/v1/videos", {"limit": 0}), ("/v1/videos", {"order": "sideways"}),
                         (f"/v1/videos/{video_id}/content", {"variant": "poster"})]:
        r = stack.http.get(path, params=params, headers=key)
        check(r, path, allow_ok=False)
        assert r.status_code == 400, (path, params, r.text)
    r = post(stack, GEMINI + ":streamGenerateContent", params={"alt": "xml"}, json=BODIES[GEMINI + ":countTokens"])
    check(r, GEMINI)
    assert r.status_code == 400


def test_broken_multipart(stack):  # noqa: F811
    for path in ("/v1/images/edits", "/v1/videos"):
        for ctype, body in [("multipart/form-data", b"--x\r\n"),
                            ("multipart/form-data; boundary=zzz", b"--zzz\r\nContent-Disposition: form-data\r\n\r\n"),
                            ("multipart/form-data; boundary=zzz", b"garbage"),
                            ("multipart/form-data; boundary=zzz", b"")]:
            r = post(stack, path, content=body, headers={"content-type": ctype})
            check(r, path, allow_ok=False)
            assert r.status_code == 400, (path, ctype, body, r.text)
    # well-formed, but without the image, or with fields of the wrong kind
    r = post(stack, "/v1/images/edits", data={"model": "gpt-image-1", "prompt": "x"}, files={"mask": b"abc"})
    check(r, "/v1/images/edits", allow_ok=False)
    r = post(stack, "/v1/images/edits", data={"model": "gpt-image-1", "prompt": "x", "n": "many"},
             files={"image": ("a.png", b"not a png", "image/png")})
    check(r, "/v1/images/edits", allow_ok=False)
    r = post(stack, "/v1/videos", data={"prompt": "x", "duration": "forever"},
             files={"input_reference": ("a.png", b"junk", "image/png")})
    check(r, "/v1/videos", allow_ok=False)
