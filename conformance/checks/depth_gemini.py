"""Gemini in depth: maxOutputTokens, stopSequences, countTokens, systemInstruction, multi-turn contents.

The instruction and history checks judge what any model's answer shows: the prompt's token count grows by what
the gateway forwarded, so a relay that drops the system instruction or the earlier turns is seen."""

from __future__ import annotations

from typing import Any

from ..context import Ctx
from ..registry import check
from . import gemini

LIMIT = 8
LONG = "Write 200 words about the sea."
SYSTEM = {"parts": [{"text": "You are a terse assistant. Answer in one short sentence, in plain words, and never "
                             "use lists or headings."}]}


def _user(text: str) -> dict[str, Any]:
    return {"role": "user", "parts": [{"text": text}]}


def generate(ctx: Ctx, req: dict[str, Any], what: str) -> dict[str, Any]:
    obj = ctx.ok_json(ctx.post(gemini.path(ctx, "generateContent"), req), what)
    ctx.valid("gemini", "GenerateContentResponse", obj, what)
    ctx.expect(obj.get("candidates"), f"{what}: no candidates")
    return obj


def streamed(ctx: Ctx, req: dict[str, Any], what: str) -> list[dict[str, Any]]:
    cap = ctx.stream("POST", gemini.path(ctx, "streamGenerateContent"), json=req, params={"alt": "sse"})
    gemini.check_sse(ctx, cap, what)
    return [ev.json() for ev in cap.events]


def prompt_tokens(ctx: Ctx, obj: dict[str, Any], what: str) -> int:
    count = (obj.get("usageMetadata") or {}).get("promptTokenCount")
    ctx.expect(isinstance(count, int) and count > 0, f"{what}: usageMetadata.promptTokenCount is {count!r}")
    return count


@check("gemini.max_tokens", "generationConfig.maxOutputTokens cuts a long answer: finishReason MAX_TOKENS and "
       "candidatesTokenCount within the limit, in a JSON answer and an SSE stream", surface="gemini",
       needs=("setup.gemini",))
def gemini_max_tokens(ctx: Ctx) -> None:
    req = {"contents": [_user(LONG)], "generationConfig": {"maxOutputTokens": LIMIT}}
    what = f"generateContent with maxOutputTokens={LIMIT}"
    for obj, form in ((generate(ctx, req, what), "JSON"), (streamed(ctx, req, f"{what} (SSE)")[-1], "SSE")):
        reasons = gemini.finish_reasons(obj)
        ctx.expect(reasons == ["MAX_TOKENS"], f"{what} ({form}): finishReason {reasons}, expected ['MAX_TOKENS']")
        used = (obj.get("usageMetadata") or {}).get("candidatesTokenCount")
        ctx.expect(isinstance(used, int) and 0 < used <= LIMIT,
                   f"{what} ({form}): candidatesTokenCount {used!r}, expected 1..{LIMIT}")


@check("gemini.stop_sequences", "generationConfig.stopSequences is honoured: with a word of the plain answer as "
       "the stop sequence, the answer ends before it with finishReason STOP (JSON and SSE)", surface="gemini",
       needs=("setup.gemini",))
def gemini_stop_sequences(ctx: Ctx) -> None:
    config = {"temperature": 0, "seed": 7, "maxOutputTokens": 120}
    base = {"contents": [_user("Write 40 words about a quiet harbor.")], "generationConfig": config}
    text = gemini.text_of(generate(ctx, base, "generateContent without stopSequences"))
    words = [w for w in text.split() if len(w) >= 4 and w.isalpha()]
    ctx.expect(len(words) >= 4, f"generateContent: too short an answer to pick a stop word from: {text[:120]!r}")
    stop = " " + words[len(words) // 2]
    req = {**base, "generationConfig": {**config, "stopSequences": [stop]}}
    what = f"generateContent with stopSequences [{stop!r}]"
    obj = generate(ctx, req, what)
    got = gemini.text_of(obj)
    ctx.expect(stop not in got, f"{what}: the answer goes on past the stop sequence: {got[:160]!r}")
    ctx.expect(gemini.finish_reasons(obj) == ["STOP"], f"{what}: finishReason {gemini.finish_reasons(obj)}, "
               "expected ['STOP']")
    sse_text = "".join(gemini.text_of(p) for p in streamed(ctx, req, f"{what} (SSE)"))
    ctx.expect(stop not in sse_text, f"{what} (SSE): the text goes on past the stop sequence: {sse_text[:160]!r}")


@check("gemini.count_tokens", "countTokens answers a CountTokensResponse whose totalTokens is positive, grows with "
       "the text, and counts the same contents as generateContent's promptTokenCount does", surface="gemini",
       needs=("setup.gemini",))
def gemini_count_tokens(ctx: Ctx) -> None:
    counts = []
    for text in ("Hello there.", "Hello there. " + "Tell me everything you know about lighthouses and harbors. " * 8):
        what = f"countTokens of {len(text)} characters"
        obj = ctx.ok_json(ctx.post(gemini.path(ctx, "countTokens"), {"contents": [_user(text)]}), what)
        ctx.valid("gemini", "CountTokensResponse", obj, what)
        ctx.expect(obj["totalTokens"] > 0, f"{what}: totalTokens {obj['totalTokens']}, expected a positive count")
        counts.append(obj["totalTokens"])
    ctx.expect(counts[1] > counts[0], f"countTokens: {counts[1]} tokens for a text eight times longer than one of "
               f"{counts[0]} tokens")
    # generateContent counts the same prompt: a relay must not answer countTokens from a guess of its own
    prompt = prompt_tokens(ctx, generate(ctx, {"contents": [_user("Hello there.")]}, "generateContent"),
                           "generateContent")
    ctx.expect(abs(prompt - counts[0]) <= max(2, counts[0] // 10), f"countTokens says {counts[0]} tokens, "
               f"generateContent's promptTokenCount for the same contents is {prompt}")


@check("gemini.system_instruction", "systemInstruction reaches the model: the answer is valid and its "
       "promptTokenCount exceeds that of the same request without the instruction", surface="gemini",
       needs=("setup.gemini",))
def gemini_system_instruction(ctx: Ctx) -> None:
    contents = [_user("Describe a harbor at dawn.")]
    plain = prompt_tokens(ctx, generate(ctx, {"contents": contents}, "generateContent"), "generateContent")
    what = "generateContent with a systemInstruction"
    obj = generate(ctx, {"contents": contents, "systemInstruction": SYSTEM}, what)
    ctx.expect(gemini.text_of(obj), f"{what}: the answer has no text")
    with_system = prompt_tokens(ctx, obj, what)
    ctx.expect(with_system > plain, f"{what}: promptTokenCount {with_system}, not more than the {plain} without it: "
               "the instruction did not reach the model")


@check("gemini.multi_turn", "Multi-turn contents (user, model, user) reach the model: the answer is valid and its "
       "promptTokenCount exceeds that of the last turn alone", surface="gemini", needs=("setup.gemini",))
def gemini_multi_turn(ctx: Ctx) -> None:
    last = _user("And what is 100 minus 1?")
    history = [_user("My name is Ada. Please remember it, and the number 42."),
               {"role": "model", "parts": [{"text": "Noted: your name is Ada, and the number is 42."}]}, last]
    alone = prompt_tokens(ctx, generate(ctx, {"contents": [last]}, "generateContent"), "generateContent")
    what = "generateContent with three turns"
    obj = generate(ctx, {"contents": history}, what)
    ctx.expect(gemini.text_of(obj), f"{what}: the answer has no text")
    whole = prompt_tokens(ctx, obj, what)
    ctx.expect(whole > alone, f"{what}: promptTokenCount {whole}, not more than the {alone} of the last turn alone: "
               "the earlier turns did not reach the model")
