"""Refusals in the caller's dialect with every error field: bad key, unsubscribed model, broken JSON, unknown
route; and malformed requests on every relay path never cause a 5xx or leak a traceback."""

from __future__ import annotations

import re
import secrets
from dataclasses import dataclass
from typing import Any

import httpx

from ..context import Ctx
from ..registry import Case, Sub, cases, check
from ..surfaces import dialect, surface_of
from . import gemini

WRONG_KEY = "sk-topapi-check-not-a-key"
TRACEBACK = re.compile(r"Traceback \(most recent call last\)|File \"[^\"]+\", line \d+|Exception in ASGI")
BROKEN_JSON = b'{"model": "gpt-4.1-mini", "messages": [{"role": "user", "content": "hi"'


def refused(ctx: Ctx, resp: httpx.Response, status: int, path: str, what: str) -> dict:
    """The error body of a refusal, checked in the dialect of `path`."""
    if dialect(path) == "gemini":
        return ctx.gemini_error(resp, status, what)
    return ctx.openai_error(resp, status, what)


def _chat(ctx: Ctx) -> dict:
    return {"model": ctx.target.chat_model, "messages": [{"role": "user", "content": "hi"}]}


@check("refusal.bad_key", "A wrong or missing key is refused with 401 in the caller's dialect (OpenAI "
       "{error:{message,type,param,code}}, Gemini {error:{code,message,status}}) on OpenAI and Gemini routes")
def bad_key(ctx: Ctx) -> list[Sub]:
    gpath = gemini.path(ctx, "generateContent")
    openai_form = ctx.form_for("/v1/chat/completions")
    todo = [  # (name, method, path, body, form, the surface of the form when it is not the path's)
        (f"chat, wrong key ({openai_form})", "POST", "/v1/chat/completions", _chat(ctx), openai_form, None),
        ("chat, no key", "POST", "/v1/chat/completions", _chat(ctx), "none", None),
        ("responses, wrong Bearer key", "POST", "/v1/responses", {"model": ctx.target.chat_model, "input": "hi"},
         "bearer", None),
        ("guide's responses, wrong bare key", "POST", "/responses/v1/responses",
         {"model": ctx.target.chat_model, "input": "hi"}, "bare", None),
        ("models, wrong x-api-key", "GET", "/v1/models", None, "x-api-key", "topapi"),
        ("gemini, wrong x-goog-api-key", "POST", gpath, gemini.body(), "x-goog-api-key", None),
        ("gemini, wrong ?key=", "POST", gpath, gemini.body(), "query", None),
        ("gemini models, no key", "GET", f"{gemini.OFFICIAL}/models", None, "none", None),
        ("guide's gemini models, no key", "GET", f"{gemini.GUIDE}/models", None, "none", None),
    ]

    def one(name: str, method: str, path: str, req: Any, form: str) -> None:
        r = ctx.request(method, path, json=req, auth=form, key=WRONG_KEY)
        refused(ctx, r, 401, path, f"{method} {path} ({name})")

    return cases(ctx, [Case(name, lambda a=(name, method, path, req, form): one(*a),
                            surface=(surface_of(path),) + ((extra,) if extra else ()))
                       for name, method, path, req, form, extra in todo])


@check("refusal.unsubscribed_model", "A key whose owner has not subscribed to the model is refused with 403 in "
       "the caller's dialect (a fresh user made with the admin credentials)", admin=True,
       surface=("console", "openai.chat"), needs=("setup.admin",))
def unsubscribed_model(ctx: Ctx) -> None:
    with ctx.temp_account(models=()) as acc:
        r = ctx.post("/v1/chat/completions", _chat(ctx), key=acc.key)
        ctx.openai_error(r, 403, f"chat with {ctx.target.chat_model} by a user subscribed to nothing")
        if ctx.offers("gemini"):
            gpath = gemini.path(ctx, "generateContent")
            r = ctx.post(gpath, gemini.body(), key=acc.key)
            ctx.gemini_error(r, 403, f"generateContent with {ctx.target.gemini_model} by a user subscribed to "
                             "nothing")


@check("refusal.broken_json", "A body that is not valid JSON gets 400 in the caller's dialect, with a message "
       "that says so (chat, Responses, Gemini)")
def broken_json(ctx: Ctx) -> list[Sub]:
    paths = ["/v1/chat/completions", "/responses/v1/responses", "/v1/responses",
             gemini.path(ctx, "generateContent"), gemini.path(ctx, "streamGenerateContent") + "?alt=sse"]

    def one(path: str) -> None:
        r = ctx.request("POST", path, content=BROKEN_JSON, headers={"content-type": "application/json"})
        err = refused(ctx, r, 400, path, f"POST {path} with broken JSON")
        ctx.expect("json" in err["message"].lower(), f"POST {path} with broken JSON: the message "
                   f"{err['message'][:120]!r} does not say the JSON is invalid")

    return cases(ctx, [Case(path, lambda p=path: one(p), surface=surface_of(path)) for path in paths])


@check("refusal.unknown_route", "An unknown path gets 404 in the dialect of its prefix (OpenAI under /v1 and "
       "/responses/v1, Gemini under /gemini/v1beta and /v1beta)")
def unknown_route(ctx: Ctx) -> list[Sub]:
    word = f"no-such-route-{secrets.token_hex(3)}"
    todo = [("GET", f"/v1/{word}"), ("POST", f"/v1/{word}"), ("GET", f"/responses/v1/{word}"),
            ("GET", f"/gemini/v1beta/{word}"), ("POST", f"/v1beta/{word}")]

    def one(method: str, path: str) -> None:
        r = ctx.request(method, path, json={} if method == "POST" else None)
        refused(ctx, r, 404, path, f"{method} {path}")

    # an unknown /v1/ path belongs to no surface: any OpenAI-style gateway answers it
    return cases(ctx, [Case(f"{method} {path}", lambda a=(method, path): one(*a),
                            surface=None if path.startswith("/v1/") else surface_of(path)) for method, path in todo])


@dataclass(frozen=True)
class Malformed:
    name: str
    method: str
    path: str
    body: bytes | None
    ctype: str = "application/json"
    refuse: bool = True  # must be a 4xx refusal in the path's dialect (else: only never a 5xx)


def malformed(ctx: Ctx) -> list[Malformed]:
    m, g = ctx.target.chat_model, gemini.path(ctx, "generateContent")
    deep = b'{"model": "' + m.encode() + b'", "messages": ' + b"[" * 5000 + b"]" * 5000 + b"}"
    out = []
    for path in ("/v1/chat/completions", "/v1/responses", "/responses/v1/responses", "/v1/images/generations",
                 "/v1/images/edits", "/v1/videos"):
        out += [
            Malformed("empty body", "POST", path, b""),
            Malformed("a JSON array", "POST", path, b"[]"),
            Malformed("JSON null", "POST", path, b"null"),
            Malformed("model of the wrong type", "POST", path, b'{"model": 123, "prompt": 5, "input": 7}'),
            Malformed("invalid UTF-8", "POST", path, b'{"model": "\xff\xfe\xfd"}'),
            Malformed("nesting 5000 deep", "POST", path, deep),
        ]
    out += [
        Malformed("unknown model", "POST", "/v1/chat/completions",
                  b'{"model": "no-such-model-topapi-check", "messages": [{"role": "user", "content": "hi"}]}'),
        Malformed("messages of the wrong type", "POST", "/v1/chat/completions",
                  b'{"model": "' + m.encode() + b'", "messages": "hi"}'),
        Malformed("max_tokens beyond any integer", "POST", "/v1/chat/completions",
                  b'{"model": "' + m.encode() + b'", "messages": [{"role": "user", "content": "hi"}], '
                  b'"max_tokens": 1e999}'),
        Malformed("input of the wrong type", "POST", "/responses/v1/responses",
                  b'{"model": "' + m.encode() + b'", "input": {"role": 5}}'),
        Malformed("text/plain body", "POST", "/v1/chat/completions", b"hello", ctype="text/plain"),
        Malformed("garbage multipart", "POST", "/v1/images/edits", b"--x\r\ngarbage",
                  ctype="multipart/form-data; boundary=x"),
        Malformed("multipart without boundary", "POST", "/v1/images/edits", b"abc", ctype="multipart/form-data"),
        Malformed("empty body", "POST", g, b""),
        Malformed("a JSON array", "POST", g, b"[]"),
        Malformed("contents of the wrong type", "POST", g, b'{"contents": "hi"}'),
        Malformed("a part of the wrong type", "POST", g, b'{"contents": [{"parts": [{"text": 5}]}]}'),
        Malformed("nesting 5000 deep", "POST", g, b'{"contents": ' + b"[" * 5000 + b"]" * 5000 + b"}"),
        Malformed("unknown model", "POST", f"{gemini.OFFICIAL}/models/no-such-model-topapi-check:generateContent",
                  b'{"contents": [{"parts": [{"text": "hi"}]}]}'),
        Malformed("unknown method", "POST", f"{gemini.OFFICIAL}/models/{ctx.target.gemini_model}:noSuchMethod",
                  b'{"contents": [{"parts": [{"text": "hi"}]}]}'),
        Malformed("unknown video id", "GET", "/v1/videos/video_0000000000topapicheck", None),
        Malformed("content of an unknown video", "POST", "/v1/videos/video_0000000000topapicheck/content", None),
        Malformed("remix of an unknown video", "POST", "/v1/videos/video_0000000000topapicheck/remix",
                  b'{"prompt": "x"}'),
        # a redirect to the normalised path (a trailing %2f) is a fair answer too: only never a 5xx
        Malformed("video id with odd characters", "GET", "/v1/videos/%00%ff..%2f", None, refuse=False),
        Malformed("list with a bad limit", "GET", "/v1/videos?limit=abc", None, refuse=False),
    ]
    return out


@check("refusal.no_500", "Malformed requests on every relay path (bad JSON shapes, wrong types, deep nesting, bad "
       "multipart, unknown ids) are refused with a 4xx in the path's dialect: never a 5xx, never a traceback")
def no_500(ctx: Ctx) -> list[Sub]:
    def one(case: Malformed) -> None:
        try:
            r = ctx.request(case.method, case.path, content=case.body,
                            headers={"content-type": case.ctype} if case.body is not None else None)
        except httpx.HTTPError as exc:
            ctx.fail(f"no answer: {type(exc).__name__}: {exc}")
        ctx.expect(r.status_code < 500, f"HTTP {r.status_code}: {r.text[:160]!r}", cause="refusal.5xx")
        ctx.expect(not TRACEBACK.search(r.text), f"the body shows a traceback: {r.text[:160]!r}")
        if case.refuse:
            ctx.expect(400 <= r.status_code < 500, f"HTTP {r.status_code}, expected a 4xx refusal")
            refused(ctx, r, r.status_code, case.path, f"HTTP {r.status_code}")

    return cases(ctx, [Case(f"{c.method} {c.path.split('?')[0]}: {c.name}", lambda c=c: one(c),
                            surface=surface_of(c.path.split("?")[0], c.method)) for c in malformed(ctx)])
