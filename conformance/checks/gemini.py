"""Gemini: generateContent, SSE with alt=sse, the JSON-array stream without it, the seed's body-alt, models paging."""

from __future__ import annotations

from typing import Any

import orjson

from specs import seed

from ..context import Capture, Ctx
from ..registry import check

OFFICIAL, GUIDE = "/v1beta", "/gemini/v1beta"  # the official prefix and the usage guide's
PREFIXES = (GUIDE, OFFICIAL)
USAGE_PARTS = ("promptTokenCount", "candidatesTokenCount", "thoughtsTokenCount", "toolUsePromptTokenCount")


def prefixes(ctx: Ctx) -> list[str]:
    """The prefixes to check: the official one, and the guide's when the target offers the guide's forms."""
    return [OFFICIAL] + ([GUIDE] if ctx.offers("topapi") else [])


def path(ctx: Ctx, method: str, prefix: str = OFFICIAL) -> str:
    return f"{prefix}/models/{ctx.target.gemini_model}:{method}"


def body(text: str = "Write a story about a magic backpack.") -> dict[str, Any]:
    return {"contents": [{"role": "user", "parts": [{"text": text}]}], "generationConfig": {"maxOutputTokens": 256}}


def text_of(piece: dict[str, Any]) -> str:
    return "".join(p.get("text") or "" for c in piece.get("candidates") or []
                   for p in (c.get("content") or {}).get("parts") or [])


def finish_reasons(piece: dict[str, Any]) -> list[str]:
    return [c["finishReason"] for c in piece.get("candidates") or [] if c.get("finishReason")]


def usage_consistent(ctx: Ctx, usage: Any, what: str) -> None:
    """Full usageMetadata: prompt and candidates counts, total = the sum of the parts (absent counts are 0)."""
    ctx.expect(isinstance(usage, dict), f"{what}: no usageMetadata")
    for name in ("promptTokenCount", "candidatesTokenCount", "totalTokenCount"):
        ctx.expect(isinstance(usage.get(name), int) and usage[name] > 0,
                   f"{what}: usageMetadata.{name} is {usage.get(name)!r}, expected a positive count")
    parts = sum(usage.get(n) or 0 for n in USAGE_PARTS)
    ctx.expect(usage["totalTokenCount"] == parts, f"{what}: totalTokenCount {usage['totalTokenCount']} != "
               f"{' + '.join(USAGE_PARTS)} = {parts}")


def check_pieces(ctx: Ctx, pieces: list[Any], what: str) -> str:
    """The pieces of a stream (SSE events or array elements): each valid, one responseId, only the last with
    finishReason, and that one with full usageMetadata. Returns the streamed text."""
    ctx.expect(pieces, f"{what}: no pieces")
    for i, p in enumerate(pieces):
        ctx.expect(isinstance(p, dict) and "error" not in p, f"{what}: piece {i} is an error: "
                   f"{orjson.dumps(p)[:200].decode()}")
        ctx.valid("gemini", "GenerateContentResponse", p, f"{what}: piece {i}")
        if i < len(pieces) - 1:
            ctx.expect(not finish_reasons(p), f"{what}: piece {i} of {len(pieces)} has finishReason "
                       f"{finish_reasons(p)}; only the last may")
    ids = {p.get("responseId") for p in pieces}
    ctx.expect(len(ids) == 1, f"{what}: the pieces carry {len(ids)} different responseIds")
    last = pieces[-1]
    ctx.expect(finish_reasons(last), f"{what}: the last piece has no finishReason")
    usage_consistent(ctx, last.get("usageMetadata"), f"{what}: last piece")
    text = "".join(text_of(p) for p in pieces)
    ctx.expect(text, f"{what}: no text was streamed")
    return text


def check_sse(ctx: Ctx, cap: Capture, what: str) -> str:
    """A Gemini SSE stream: `data:` events only, no [DONE], each a GenerateContentResponse (see check_pieces)."""
    ctx.sse_opened(cap, what)
    pieces = []
    for i, ev in enumerate(cap.events):
        ctx.expect(not ev.is_done, f"{what}: event {i} is `data: [DONE]`: Gemini streams end without it")
        ctx.expect(ev.event in (None, "message"), f"{what}: event {i} has an `event: {ev.event}` line")
        try:
            pieces.append(ev.json())
        except orjson.JSONDecodeError:
            ctx.fail(f"{what}: event {i} is not JSON: {ev.data[:120]!r}")
    return check_pieces(ctx, pieces, what)


@check("gemini.json", "generateContent (the official prefix, and the guide's when offered) answers a valid "
       "GenerateContentResponse with text, finishReason and consistent usageMetadata", surface="gemini",
       needs=("setup.gemini",))
def gemini_json(ctx: Ctx) -> None:
    for prefix in prefixes(ctx):
        what = f"POST {path(ctx, 'generateContent', prefix)}"
        obj = ctx.ok_json(ctx.post(path(ctx, "generateContent", prefix), body()), what)
        ctx.valid("gemini", "GenerateContentResponse", obj, what)
        ctx.expect(text_of(obj), f"{what}: the answer has no text")
        ctx.expect(finish_reasons(obj), f"{what}: the answer has no finishReason")
        usage_consistent(ctx, obj.get("usageMetadata"), what)


@check("sse.gemini.last_event", "streamGenerateContent?alt=sse: `data:` events, each a valid "
       "GenerateContentResponse, no [DONE]; only the last has finishReason, with full usageMetadata",
       surface="gemini", needs=("setup.gemini",))
def gemini_sse(ctx: Ctx) -> None:
    cap = ctx.stream("POST", path(ctx, "streamGenerateContent"), json=body(), params={"alt": "sse"})
    check_sse(ctx, cap, "Gemini SSE stream")
    ctx.expect(b"[DONE]" not in cap.raw, "Gemini SSE stream: the bytes contain [DONE]")


@check("gemini.stream_array", "streamGenerateContent without alt: one JSON array of GenerateContentResponse, the "
       "last element with finishReason and usageMetadata", surface="gemini", needs=("setup.gemini",))
def gemini_stream_array(ctx: Ctx) -> None:
    r = ctx.post(path(ctx, "streamGenerateContent"), body())
    what = "streamGenerateContent without alt"
    ctx.expect(r.status_code == 200, f"{what}: HTTP {r.status_code}: {r.text[:300]}")
    ctype = r.headers.get("content-type", "")
    ctx.expect(ctype.startswith("application/json"), f"{what}: content-type {ctype!r}, expected application/json "
               "(a JSON array; SSE only with alt=sse)")
    arr = ctx.json_of(r, what)
    ctx.expect(isinstance(arr, list), f"{what}: the body is a JSON {type(arr).__name__}, expected an array")
    check_pieces(ctx, arr, what)


@check("gemini.seed_body_alt", "The seed's Gemini request (`\"alt\":\"sse\"` and `\"stream\":false` in the body, no "
       "query) streams SSE like ?alt=sse", surface=("gemini", "topapi"), needs=("setup.gemini",))
def gemini_seed_body_alt(ctx: Ctx) -> None:
    req = seed.GEMINI_STREAM
    ctx.expect("alt=" not in req.path, "the seed request unexpectedly has a query")
    cap = ctx.stream(req.method, req.path, content=req.body.encode(), headers={"content-type": "application/json"},
                     auth="bare")
    check_sse(ctx, cap, "the seed's Gemini request (alt in the body)")


@check("gemini.models", "GET …/v1beta/models: the Gemini list shape with the configured model; pageSize/pageToken "
       "page through the same models", surface="gemini")
def gemini_models(ctx: Ctx) -> None:
    want = f"models/{ctx.target.gemini_model}"
    full: list[str] = []
    for prefix in prefixes(ctx):
        what = f"GET {prefix}/models"
        r = ctx.get(f"{prefix}/models")
        ctx.expect(r.status_code == 200, f"{what}: HTTP {r.status_code}, expected 200: {r.text[:300]}",
                   cause="gemini.models_list")
        obj = ctx.ok_json(r, what)
        ctx.valid("gemini", "ListModelsResponse", obj, what)
        names = [m["name"] for m in obj["models"]]
        ctx.expect(want in names, f"{what}: {want} is not listed (got {names[:5]})")
        model = next(m for m in obj["models"] if m["name"] == want)
        ctx.expect("generateContent" in (model.get("supportedGenerationMethods") or []),
                   f"{what}: {want} does not list generateContent in supportedGenerationMethods")
        if "nextPageToken" not in obj:
            full = full or names
    paged: list[str] = []
    token: str | None = None
    for page in range(200):
        params = {"pageSize": "1", **({"pageToken": token} if token else {})}
        obj = ctx.ok_json(ctx.get(f"{OFFICIAL}/models", params=params),
                          f"GET models page {page}")
        ctx.valid("gemini", "ListModelsResponse", obj, f"models page {page}")
        ctx.expect(len(obj["models"]) <= 1, f"models page {page}: {len(obj['models'])} models with pageSize=1")
        paged += [m["name"] for m in obj["models"]]
        token = obj.get("nextPageToken")
        if not token:
            break
    else:
        ctx.fail("pageSize=1: still a nextPageToken after 200 pages")
    ctx.expect(len(set(paged)) == len(paged), f"paging with pageSize=1 repeats models: {paged}")
    if full:
        ctx.expect(sorted(paged) == sorted(full), f"paging with pageSize=1 gives {paged}, the whole list is {full}")
    ctx.expect(want in paged, f"paging with pageSize=1 never lists {want}")
