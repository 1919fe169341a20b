"""Usage accounting: the requests a fresh user makes show up as usage records with the tokens they were told."""

from __future__ import annotations

import time
from collections import Counter
from typing import Any

from ..context import Account, Ctx
from ..registry import check
from . import gemini

RECORD_DEADLINE_S = 15.0  # records may be written behind the answer


def _calls(ctx: Ctx, acc: Account) -> list[tuple[str, int, int]]:
    """Make a few model requests as `acc`; (model, prompt tokens, completion tokens) that each answer reported."""
    m, g = ctx.target.chat_model, ctx.target.gemini_model
    out = []
    chat = ctx.ok_json(ctx.post("/v1/chat/completions", {"model": m, "messages": [{"role": "user", "content": "hi"}]},
                                key=acc.key), "chat as the fresh user")
    out.append((m, chat["usage"]["prompt_tokens"], chat["usage"]["completion_tokens"]))
    resp = ctx.ok_json(ctx.post("/v1/responses", {"model": m, "input": "hi"}, key=acc.key),
                       "Responses as the fresh user")
    out.append((m, resp["usage"]["input_tokens"], resp["usage"]["output_tokens"]))
    gem = ctx.ok_json(ctx.post(gemini.path(ctx, "generateContent"), gemini.body("hi"), key=acc.key), "generateContent as the fresh user")
    meta = gem["usageMetadata"]
    out.append((g, meta["promptTokenCount"], meta["totalTokenCount"] - meta["promptTokenCount"]))
    return out


def _records(ctx: Ctx, user_id: Any, want: int = 0) -> list[dict[str, Any]]:
    """The user's usage records of answered model requests, polled until `want` are there or the deadline."""
    token, t0 = ctx.admin_token(), time.monotonic()
    while True:
        r = ctx.console("GET", f"/api/platform/usage?user={user_id}&limit=100", token)
        page = ctx.ok_json(r, "GET /api/platform/usage")
        ctx.expect(isinstance(page, dict) and isinstance(page.get("data"), list),
                   f"GET /api/platform/usage: expected {{data: [...]}}, got {r.text[:200]}")
        # refusals may be recorded too (with their status); only answered requests are compared
        records = [rec for rec in page["data"] if rec.get("model") and rec.get("status", 200) < 300]
        if len(records) >= want or time.monotonic() - t0 > RECORD_DEADLINE_S:
            return records
        time.sleep(0.25)


@check("usage.consistency", "With admin credentials: a fresh user's chat, Responses and Gemini requests each "
       "leave one usage record (platform console) with the model and the tokens the answer reported", admin=True,
       surface=("console", "openai.chat", "openai.responses", "gemini"), needs=("setup.admin",))
def usage_consistency(ctx: Ctx) -> None:
    with ctx.temp_account([ctx.target.chat_model, ctx.target.gemini_model]) as acc:
        before = _records(ctx, acc.user_id)
        ctx.expect(not before, f"a fresh user (id {acc.user_id}) already has {len(before)} usage record(s), e.g. "
                   + ", ".join(f"{k}={before[0].get(k)!r}" for k in ("id", "model", "endpoint", "key_id"))
                   + ": records of a deleted user whose id was reused?" if before else "")
        calls = _calls(ctx, acc)
        records = _records(ctx, acc.user_id, len(calls))
    ctx.expect(len(records) == len(calls), f"{len(calls)} model requests left {len(records)} usage records: "
               f"{[(r.get('model'), r.get('endpoint')) for r in records]}")
    by_model = Counter(r["model"] for r in records)
    ctx.expect(by_model == Counter(m for m, _, _ in calls), f"usage records by model {dict(by_model)}, the "
               f"requests were {dict(Counter(m for m, _, _ in calls))}")
    if all("prompt_tokens" in r and "completion_tokens" in r for r in records):
        got = Counter((r["model"], r["prompt_tokens"], r["completion_tokens"]) for r in records)
        ctx.expect(got == Counter(calls), f"usage records (model, prompt, completion) {sorted(got.elements())}, "
                   f"the answers reported {sorted(calls)}")
