"""Setups shared by many checks: when one fails it is reported once, as its own result, and the checks that
need it are `blocked` by its id (registry.py). Each is a cheap request that everything after it relies on."""

from __future__ import annotations

from ..context import Ctx
from ..registry import setup
from . import gemini


@setup("setup.admin", "The admin credentials log in to the consoles (POST /api/auth/login)", surface="console")
def admin_login(ctx: Ctx) -> str:
    if not ctx.target.has_admin:
        ctx.skip("no admin credentials given (--admin-user/--admin-password)")
    r = ctx.http.post(ctx.target.root + "/api/auth/login",
                      json={"username": ctx.target.admin_user, "password": ctx.target.admin_password})
    ctx._record(r)
    body = ctx.ok_json(r, "admin login")
    ctx.expect(isinstance(body.get("token"), str), "admin login: no token in the answer")
    ctx.secrets.add(body["token"], "<admin session token>")
    return body["token"]


@setup("setup.chat", "The chat model answers a plain chat completion (HTTP 200, JSON)", surface="openai.chat")
def chat_model(ctx: Ctx) -> None:
    r = ctx.post("/v1/chat/completions", {"model": ctx.target.chat_model,
                                          "messages": [{"role": "user", "content": "hi"}], "max_tokens": 16})
    ctx.ok_json(r, f"a chat completion with {ctx.target.chat_model}")


@setup("setup.responses", "The chat model answers a plain Responses request (HTTP 200, JSON)",
       surface="openai.responses")
def responses_model(ctx: Ctx) -> None:
    r = ctx.post("/v1/responses", {"model": ctx.target.chat_model, "input": "hi", "max_output_tokens": 16})
    ctx.ok_json(r, f"a Responses request with {ctx.target.chat_model}")


@setup("setup.gemini", "The Gemini model answers a plain generateContent (HTTP 200, JSON)", surface="gemini")
def gemini_model(ctx: Ctx) -> None:
    r = ctx.post(gemini.path(ctx, "generateContent"), gemini.body("hi"))
    ctx.ok_json(r, f"generateContent with {ctx.target.gemini_model}")
