"""The Gemini mock's generationConfig (candidateCount, stopSequences) and its request checks against gemini.yaml."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from google import genai
from google.genai import types
from test_mock_gemini import BASE, MODEL, TOOLS, check, check_error, user

import specs
from mocks.gemini_app import GeminiMock
from mocks.gemini_prompt import proto_names
from mocks.serving import ServerThread
from mocks.textgen import count_tokens
from specs import documents, seed, sse

GEN, STREAM = f"{BASE}:generateContent", f"{BASE}:streamGenerateContent"
STORY = "Write a story about a magic backpack."


@pytest.fixture
async def client():
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=GeminiMock()), base_url="http://gemini",
                                 headers={"x-goog-api-key": "test-key"}) as c:
        yield c


@pytest.fixture(scope="module")
def sdk() -> Iterator[genai.Client]:
    with ServerThread(GeminiMock()) as s:
        yield genai.Client(api_key="x", http_options=types.HttpOptions(base_url=s.url, api_version="v1beta"))


def config(text: str, **cfg: Any) -> dict[str, Any]:
    return {**user(text), "generationConfig": cfg}


def texts_by_index(answer: dict[str, Any]) -> list[str]:
    return [c["content"]["parts"][0]["text"] for c in answer["candidates"]]


async def generate(client: httpx.AsyncClient, body: dict[str, Any]) -> dict[str, Any]:
    r = await client.post(GEN, json=body)
    assert r.status_code == 200, r.text
    check("GenerateContentResponse", r.json())
    return r.json()


async def stream(client: httpx.AsyncClient, body: dict[str, Any], sse_format: bool) -> list[dict[str, Any]]:
    r = await client.post(STREAM + ("?alt=sse" if sse_format else ""), json=body)
    assert r.status_code == 200, r.text
    events = [e.json() for e in sse.parse(r.content)] if sse_format else r.json()
    for ev in events:
        check("GenerateContentResponse", ev)
    return events


def joined(events: list[dict[str, Any]]) -> dict[int, str]:
    """Each candidate's streamed text, by index."""
    out: dict[int, str] = defaultdict(str)
    for ev in events:
        for c in ev["candidates"]:
            out[c["index"]] += "".join(p.get("text", "") for p in c["content"]["parts"])
    return dict(out)


# -- candidateCount ----------------------------------------------------------------------------------------
async def test_candidate_count_gives_that_many_different_candidates(client: httpx.AsyncClient) -> None:
    plain = await generate(client, user(STORY))
    three = await generate(client, config(STORY, candidateCount=3))
    assert [c["index"] for c in three["candidates"]] == [0, 1, 2]
    assert all(c["finishReason"] == "STOP" for c in three["candidates"])
    found = texts_by_index(three)
    assert found[0] == texts_by_index(plain)[0]  # the first candidate is the plain answer
    assert len(set(found)) == 3
    u = three["usageMetadata"]
    assert u["candidatesTokenCount"] == sum(map(count_tokens, found))  # Gemini sums over candidates
    assert u["totalTokenCount"] == u["promptTokenCount"] + u["candidatesTokenCount"]
    assert u["promptTokenCount"] == plain["usageMetadata"]["promptTokenCount"]
    again = await generate(client, {**user(STORY), "generation_config": {"candidate_count": 3}})
    assert texts_by_index(again) == found  # deterministic, whatever the spelling


async def test_candidates_of_a_fixed_answer_still_differ(client: httpx.AsyncClient) -> None:
    found = texts_by_index(await generate(client, config("what is 12*7", candidateCount=2)))
    assert all("84" in t for t in found) and found[0] != found[1]


async def test_candidates_call_tools(client: httpx.AsyncClient) -> None:
    answer = await generate(client, {**config("weather in the city", candidateCount=2), "tools": TOOLS})
    calls = [c["content"]["parts"][0]["functionCall"]["name"] for c in answer["candidates"]]
    assert calls == ["get_weather", "get_weather"]


@pytest.mark.parametrize("sse_format", [True, False], ids=["sse", "json-array"])
async def test_streamed_candidates(client: httpx.AsyncClient, sse_format: bool) -> None:
    body = config(STORY, candidateCount=3)
    whole = await generate(client, body)
    events = await stream(client, body, sse_format)
    assert joined(events) == dict(enumerate(texts_by_index(whole)))
    *head, last = events
    assert all("finishReason" not in c for ev in head for c in ev["candidates"])
    assert [(c["index"], c["finishReason"]) for c in last["candidates"]] == [(0, "STOP"), (1, "STOP"), (2, "STOP")]
    assert last["usageMetadata"] == whole["usageMetadata"]
    running = [ev["usageMetadata"]["candidatesTokenCount"] for ev in events]
    assert running == sorted(running) and running[0] == 3  # one token of each candidate in the first piece
    assert len({ev["responseId"] for ev in events}) == 1


@pytest.mark.parametrize("count", [0, -1, 9, 100])
async def test_candidate_count_out_of_range(client: httpx.AsyncClient, count: int) -> None:
    for body in (config("hi", candidateCount=count), {**user("hi"), "generation_config": {"candidate_count": count}}):
        err = check_error(await client.post(GEN, json=body), 400, "INVALID_ARGUMENT")
        assert f"candidateCount value of {count}" in err["message"] and "1 (inclusive) to 9 (exclusive)" in err["message"]


def test_sdk_reads_every_candidate(sdk: genai.Client) -> None:
    cfg = types.GenerateContentConfig(candidate_count=2)
    r = sdk.models.generate_content(model=MODEL, contents=STORY, config=cfg)
    assert [c.index or 0 for c in r.candidates] == [0, 1]
    texts = [c.content.parts[0].text for c in r.candidates]
    assert texts[0] != texts[1]
    assert r.usage_metadata.candidates_token_count == sum(map(count_tokens, texts))
    pieces = list(sdk.models.generate_content_stream(model=MODEL, contents=STORY, config=cfg))
    assert pieces[-1].usage_metadata.candidates_token_count == r.usage_metadata.candidates_token_count
    assert {c.index or 0: c.finish_reason for c in pieces[-1].candidates} == {0: types.FinishReason.STOP,
                                                                              1: types.FinishReason.STOP}


# -- stopSequences -------------------------------------------------------------------------------------------
async def test_stop_sequence_cuts_the_text(client: httpx.AsyncClient) -> None:
    plain = texts_by_index(await generate(client, user(STORY)))[0]
    words = plain.split()
    stop, later = " " + words[len(words) // 2], " " + words[-2]
    cut = plain[: plain.find(stop)]
    assert 0 < len(cut) < len(plain)
    body = config(STORY, stopSequences=["never said", later, stop])  # the first occurrence of any of them
    answer = await generate(client, body)
    assert texts_by_index(answer) == [cut]
    assert answer["candidates"][0]["finishReason"] == "STOP"
    assert answer["usageMetadata"]["candidatesTokenCount"] == count_tokens(cut)
    for sse_format in (True, False):
        events = await stream(client, body, sse_format)
        assert joined(events) == {0: cut}
        assert events[-1]["candidates"][0]["finishReason"] == "STOP"
        assert events[-1]["usageMetadata"] == answer["usageMetadata"]


async def test_stop_sequence_against_max_output_tokens(client: httpx.AsyncClient) -> None:
    plain = texts_by_index(await generate(client, config(STORY, maxOutputTokens=6)))[0]
    word = " " + plain.split()[-1]
    early = await generate(client, config(STORY, maxOutputTokens=6, stopSequences=[word]))
    assert texts_by_index(early) == [plain[: plain.find(word)]] and early["candidates"][0]["finishReason"] == "STOP"
    assert early["usageMetadata"]["candidatesTokenCount"] == count_tokens(plain[: plain.find(word)]) < 6
    late = await generate(client, config(STORY, maxOutputTokens=6, stopSequences=["zephyrs"]))  # never reached
    assert texts_by_index(late) == [plain] and late["candidates"][0]["finishReason"] == "MAX_TOKENS"


async def test_stop_sequences_apply_to_each_candidate(client: httpx.AsyncClient) -> None:
    found = texts_by_index(await generate(client, config(STORY, candidateCount=3)))
    answer = await generate(client, config(STORY, candidateCount=3, stopSequences=["."]))
    assert texts_by_index(answer) == [t[: t.find(".")] for t in found]
    assert answer["usageMetadata"]["candidatesTokenCount"] == sum(count_tokens(t[: t.find(".")]) for t in found)


@pytest.mark.parametrize(("stops", "hint"), [
    (["a", "b", "c", "d", "e", "f"], "must not exceed 5"),
    (["a", 5], "stopSequences[1]"),
    ("END", "stopSequences"),
])
async def test_bad_stop_sequences(client: httpx.AsyncClient, stops: Any, hint: str) -> None:
    err = check_error(await client.post(GEN, json=config("hi", stopSequences=stops)), 400, "INVALID_ARGUMENT")
    assert hint in err["message"]


# -- the request schemas of gemini.yaml ------------------------------------------------------------------------
def part(**fields: Any) -> dict[str, Any]:
    return {"contents": [{"role": "user", "parts": [fields]}]}


# bodies gemini.yaml refuses, and the field the error must name
REFUSED = [
    ("thinking level", config("hi", thinkingConfig={"thinkingLevel": "SUPER"}), "thinkingLevel"),
    ("thinking level, proto names", {**user("hi"), "generation_config": {"thinking_config": {"thinking_level": "SUPER"}}},
     "thinkingLevel"),
    ("thinking budget", config("hi", thinkingConfig={"thinkingBudget": -5}), "thinkingBudget"),
    ("include thoughts", config("hi", thinkingConfig={"includeThoughts": "yes"}), "includeThoughts"),
    ("temperature", config("hi", temperature=3), "temperature"),
    ("top p", config("hi", topP=1.5), "topP"),
    ("top k", config("hi", topK=0), "topK"),
    ("logprobs", config("hi", responseLogprobs=True, logprobs=21), "logprobs"),
    ("response modality", config("hi", responseModalities=["SMELL"]), "responseModalities"),
    ("two response schemas", config("hi", responseMimeType="application/json", responseSchema={"type": "OBJECT"},
                                    responseJsonSchema={"type": "object"}), "generationConfig"),
    ("safety without threshold", {**user("hi"), "safetySettings": [{"category": "HARM_CATEGORY_HARASSMENT"}]},
     "safetySettings[0]"),
    ("safety threshold", {**user("hi"), "safetySettings": [{"category": "HARM_CATEGORY_HARASSMENT",
                                                            "threshold": "SOMETIMES"}]}, "threshold"),
    ("role tool", {"contents": [{"role": "tool", "parts": [{"text": "x"}]}]}, "role"),
    ("system instruction a string", {**user("hi"), "systemInstruction": "be brief"}, "systemInstruction"),
    ("two data fields in a part", part(text="a", inlineData={"mimeType": "image/png", "data": "AAAA"}),
     "contents[0].parts[0]"),
    ("function response without response", part(functionResponse={"name": "calc"}), "functionResponse"),
    ("mime type", part(inlineData={"mimeType": "png", "data": "AAAA"}), "mimeType"),
    ("function name of 65 characters", {**user("hi"), "tools": [{"functionDeclarations": [{"name": "f" * 65}]}]},
     "name"),
    ("mixed-case mode", {**user("hi"), "tools": TOOLS, "toolConfig": {"functionCallingConfig": {"mode": "Any"}}},
     "mode"),
    ("cached content", {**user("hi"), "cachedContent": 5}, "cachedContent"),
    ("stream flag", {**user("hi"), "stream": "yes"}, "stream"),
]


@pytest.mark.parametrize(("body", "where"), [r[1:] for r in REFUSED], ids=[r[0] for r in REFUSED])
async def test_what_gemini_yaml_refuses_is_refused(client: httpx.AsyncClient, body: dict[str, Any], where: str) -> None:
    assert not specs.is_valid("gemini", "GenerateContentRequest", proto_names(body, "GenerateContentRequest"))
    for path in (GEN, STREAM + "?alt=sse"):
        err = check_error(await client.post(path, json=body), 400, "INVALID_ARGUMENT")
        assert where in err["message"]


async def test_count_tokens_follows_gemini_yaml(client: httpx.AsyncClient) -> None:
    inner = {"contents": user("hi")["contents"]}
    err = check_error(await client.post(f"{BASE}:countTokens", json={"generateContentRequest": inner}), 400,
                      "INVALID_ARGUMENT")
    assert "model" in err["message"]
    r = await client.post(f"{BASE}:countTokens", json={"generate_content_request": {**inner, "model": f"models/{MODEL}"}})
    assert r.status_code == 200 and r.json()["totalTokens"] > 0


def documented_requests() -> dict[str, Any]:
    body = documents.load("gemini")["components"]["requestBodies"]["GenerateContent"]["content"]["application/json"]
    return {name: ex["value"] for name, ex in body["examples"].items()}


@pytest.mark.parametrize("name", sorted(documented_requests()))
async def test_documented_requests_are_served(client: httpx.AsyncClient, name: str) -> None:
    await generate(client, documented_requests()[name])


async def test_what_clients_send_passes(client: httpx.AsyncClient, sdk: genai.Client) -> None:
    """The seed's body as written, lower-case modes (the real API takes them) and the SDK's own spellings."""
    r = await client.post(seed.GEMINI_STREAM.path.removeprefix("/gemini"), content=seed.GEMINI_STREAM.body.encode(),
                          headers={"content-type": "application/json"})
    assert r.status_code == 200, r.text
    await generate(client, {**user("hi"), "tools": TOOLS, "toolConfig": {"functionCallingConfig": {"mode": "none"}}})
    cfg = types.GenerateContentConfig(
        system_instruction="Be terse.", temperature=0.7, top_p=0.9, top_k=40, max_output_tokens=128, seed=3,
        stop_sequences=["zzz"], candidate_count=2, thinking_config=types.ThinkingConfig(
            thinking_budget=256, include_thoughts=True, thinking_level=types.ThinkingLevel.XHIGH),
        safety_settings=[types.SafetySetting(category="HARM_CATEGORY_HARASSMENT", threshold="BLOCK_ONLY_HIGH")])
    out = sdk.models.generate_content(model=MODEL, contents=["what is 3+4", types.Part.from_bytes(
        data=b"\x89PNG\r\n", mime_type="image/png")], config=cfg)
    assert len(out.candidates) == 2 and "7" in out.candidates[0].content.parts[0].text
