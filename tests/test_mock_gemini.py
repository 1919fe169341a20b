"""The Gemini mock upstream: the google-genai SDK, the seed's body, both stream formats, errors, faults."""

from __future__ import annotations

import base64
import functools
import io
import json
import time
from collections.abc import Iterator
from typing import Any

import httpx
import jsonschema
import orjson
import pytest
from conftest import REFERENCE
from google import genai
from google.genai import errors as genai_errors
from google.genai import types
from PIL import Image
from referencing import Registry, Resource
from referencing.jsonschema import DRAFT4

import specs
from mocks.gemini_app import CATALOG, GeminiMock
from mocks.serving import ServerThread
from mocks.textgen import count_tokens
from specs import seed, sse

MODEL = "gemini-2.5-flash"
BASE = f"/v1beta/models/{MODEL}"
REFERENCE_DOC = REFERENCE / "gemini-generativelanguage-v1beta-openapi3-rev20241016.json"


# -- schema checks -----------------------------------------------------------------------------------
@functools.cache
def _reference() -> tuple[Registry, str]:
    uri = "urn:reference:gemini"
    doc = json.loads(REFERENCE_DOC.read_text(encoding="utf-8"))
    return Registry().with_resource(uri, Resource.from_contents(doc, default_specification=DRAFT4)), uri


def reference_errors(schema: str, instance: Any) -> list[str]:
    """Violations of the reference (OpenAPI 3.0, i.e. draft-4-like) component schema `schema`.

    Nothing is stripped: the 2024 reference lacks responseId, thinking and others, but it sets no
    additionalProperties: false anywhere, so newer fields pass as unknown ones.
    """
    registry, uri = _reference()
    validator = jsonschema.Draft4Validator({"$ref": f"{uri}#/components/schemas/{schema}"}, registry=registry)
    return [f"{'/'.join(map(str, e.absolute_path))}: {e.message}" for e in validator.iter_errors(instance)]


def check(schema: str, instance: Any) -> None:
    """`instance` matches our gemini.yaml and the reference (where the reference has the schema)."""
    specs.validate("gemini", schema, instance)
    assert reference_errors(schema, instance) == []


def check_error(r: httpx.Response, status: int, rpc_status: str) -> dict[str, Any]:
    assert r.status_code == status, r.text
    assert r.headers["content-type"].startswith("application/json")
    body = r.json()
    specs.validate("gemini", "ErrorResponse", body)
    assert body["error"]["code"] == status and body["error"]["status"] == rpc_status
    return body["error"]


def texts(events: list[dict[str, Any]]) -> str:
    return "".join(p.get("text", "") for ev in events for p in ev["candidates"][0]["content"]["parts"])


def user(text: str) -> dict[str, Any]:
    return {"contents": [{"role": "user", "parts": [{"text": text}]}]}


# -- fixtures ----------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def srv() -> Iterator[ServerThread]:
    with ServerThread(GeminiMock()) as s:
        yield s


@pytest.fixture(scope="module")
def sdk(srv: ServerThread) -> genai.Client:
    return genai.Client(api_key="x", http_options=types.HttpOptions(base_url=srv.url, api_version="v1beta"))


@pytest.fixture
def mock() -> GeminiMock:
    return GeminiMock()


@pytest.fixture
async def client(mock: GeminiMock):
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=mock), base_url="http://gemini", headers={"x-goog-api-key": "test-key"}) as c:
        yield c


# -- the google-genai SDK, unmodified, against a loopback server ----------------------------------------
def test_sdk_generate_content(sdk: genai.Client) -> None:
    r = sdk.models.generate_content(model=MODEL, contents="what is 12*7")
    assert "84" in r.text
    assert r.candidates[0].finish_reason == types.FinishReason.STOP
    u = r.usage_metadata
    assert u.candidates_token_count == count_tokens(r.text)
    assert u.total_token_count == u.prompt_token_count + u.candidates_token_count
    assert r.model_version == MODEL and r.response_id


def test_sdk_stream_matches_the_plain_answer(sdk: genai.Client) -> None:
    plain = sdk.models.generate_content(model=MODEL, contents="Write a story about a magic backpack.")
    chunks = list(sdk.models.generate_content_stream(model=MODEL, contents="Write a story about a magic backpack."))
    assert len(chunks) > 3
    assert "".join(c.text for c in chunks) == plain.text
    assert all(c.candidates[0].finish_reason is None for c in chunks[:-1])
    assert chunks[-1].candidates[0].finish_reason == types.FinishReason.STOP
    assert chunks[-1].usage_metadata.candidates_token_count == plain.usage_metadata.candidates_token_count
    assert len({c.response_id for c in chunks}) == 1


def test_sdk_default_api_version_v1_is_served(srv: ServerThread) -> None:
    # google-genai 3.x talks to /v1/... unless told otherwise; the real API serves both
    c = genai.Client(api_key="x", http_options=types.HttpOptions(base_url=srv.url))
    assert "84" in c.models.generate_content(model=MODEL, contents="what is 12*7").text


def test_sdk_list_models_pages_and_get(sdk: genai.Client) -> None:
    pager = sdk.models.list(config={"page_size": 3})
    assert len(pager.page) == 3
    names = [m.name for m in pager]  # iterating fetches the next page through nextPageToken
    assert names == [f"models/{m}" for m in CATALOG]
    m = sdk.models.get(model="gemini-2.5-pro")
    assert m.display_name == "Gemini 2.5 Pro" and "generateContent" in m.supported_actions
    assert m.input_token_limit == 1_048_576


def test_sdk_count_tokens_matches_prompt_usage(sdk: genai.Client) -> None:
    counted = sdk.models.count_tokens(model=MODEL, contents="what is 12*7").total_tokens
    used = sdk.models.generate_content(model=MODEL, contents="what is 12*7").usage_metadata.prompt_token_count
    assert counted == used > 0


def test_sdk_function_calling_round_trip(sdk: genai.Client) -> None:
    decl = types.FunctionDeclaration(
        name="calc", description="evaluate an arithmetic expression",
        parameters=types.Schema(type="OBJECT", properties={"expr": types.Schema(type="STRING")}, required=["expr"]))
    cfg = types.GenerateContentConfig(tools=[types.Tool(function_declarations=[decl])])
    first = sdk.models.generate_content(model=MODEL, contents="please calc 6*7", config=cfg)
    assert [(c.name, c.args) for c in first.function_calls] == [("calc", {"expr": "6*7"})]
    contents = [
        types.Content(role="user", parts=[types.Part(text="please calc 6*7")]),
        first.candidates[0].content,
        types.Content(role="user", parts=[types.Part.from_function_response(name="calc", response={"result": 42})]),
    ]
    second = sdk.models.generate_content(model=MODEL, contents=contents, config=cfg)
    assert not second.function_calls
    assert "42" in second.text


def test_sdk_json_mode(sdk: genai.Client) -> None:
    schema = {"type": "OBJECT", "properties": {"name": {"type": "STRING"}, "age": {"type": "INTEGER"}},
              "required": ["name", "age"]}
    r = sdk.models.generate_content(model=MODEL, contents="make up a person", config=types.GenerateContentConfig(
        response_mime_type="application/json", response_schema=schema))
    value = json.loads(r.text)
    assert set(value) == {"name", "age"} and isinstance(value["age"], int) and isinstance(value["name"], str)
    assert r.parsed == value


def test_sdk_sees_gemini_errors(sdk: genai.Client) -> None:
    with pytest.raises(genai_errors.ClientError) as exc:
        sdk.models.generate_content(model="gemini-9", contents="hi")
    assert exc.value.code == 404 and exc.value.status == "NOT_FOUND"
    assert "models/gemini-9" in exc.value.message


# -- the seed's body and the two stream formats --------------------------------------------------------
async def test_seed_body_as_written_streams_sse(client: httpx.AsyncClient) -> None:
    path = seed.GEMINI_STREAM.path.removeprefix("/gemini")
    r = await client.post(path, content=seed.GEMINI_STREAM.body.encode(),
                          headers={"content-type": "application/json"})
    assert r.status_code == 200, r.text
    assert r.headers["content-type"].startswith("text/event-stream")
    assert r.content.startswith(b"data: {") and r.content.endswith(b"}\r\n\r\n")
    assert b"[DONE]" not in r.content
    events = [e.json() for e in sse.parse(r.content)]
    assert len(events) > 3
    for ev in events:
        check("GenerateContentResponse", ev)
    *head, last = events
    assert all("finishReason" not in ev["candidates"][0] for ev in head)
    assert last["candidates"][0]["finishReason"] == "STOP"
    u = last["usageMetadata"]
    assert u["candidatesTokenCount"] == sum(count_tokens(t) for t in map(lambda e: texts([e]), events))
    assert u["totalTokenCount"] == u["promptTokenCount"] + u["candidatesTokenCount"]
    assert len({ev["responseId"] for ev in events}) == 1


async def test_without_alt_a_json_array(client: httpx.AsyncClient) -> None:
    r = await client.post(f"{BASE}:streamGenerateContent", json=user("what is 12*7"))
    assert r.status_code == 200 and r.headers["content-type"].startswith("application/json")
    assert r.content.startswith(b"[{") and r.content.endswith(b"}]") and b",\r\n{" in r.content
    events = r.json()
    for ev in events:
        check("GenerateContentResponse", ev)
    assert "84" in texts(events)
    assert events[-1]["candidates"][0]["finishReason"] == "STOP"
    assert events[-1]["usageMetadata"]["candidatesTokenCount"] == len(events)  # one token per element


async def test_query_alt_sse_and_body_stream_flag_ignored(client: httpx.AsyncClient) -> None:
    body = {**user("what is 12*7"), "stream": True}
    r = await client.post(f"{BASE}:streamGenerateContent?alt=sse&key=anything", json=body,
                          headers={"x-goog-api-key": "also-ignored"})
    events = [e.json() for e in sse.parse(r.content)]
    plain = (await client.post(f"{BASE}:generateContent", json=user("what is 12*7"))).json()
    check("GenerateContentResponse", plain)
    assert texts(events) == texts([plain])


async def test_tokens_per_chunk_groups_tokens(client: httpx.AsyncClient) -> None:
    body = user("Write 20 words")
    one = [e.json() for e in sse.parse((await client.post(f"{BASE}:streamGenerateContent?alt=sse", json=body)).content)]
    three = [e.json() for e in sse.parse((await client.post(
        f"{BASE}:streamGenerateContent?alt=sse", json=body,
        headers={"x-mock-config": '{"tokens_per_chunk": 3}'})).content)]
    n = one[-1]["usageMetadata"]["candidatesTokenCount"]
    assert len(one) == n and len(three) == -(-n // 3)
    assert texts(one) == texts(three)
    assert [ev["usageMetadata"]["candidatesTokenCount"] for ev in three][:2] == [3, 6]  # running usage


async def test_max_output_tokens(client: httpx.AsyncClient) -> None:
    body = {**user("Write 40 words"), "generationConfig": {"maxOutputTokens": 5}}
    plain = (await client.post(f"{BASE}:generateContent", json=body)).json()
    check("GenerateContentResponse", plain)
    assert plain["candidates"][0]["finishReason"] == "MAX_TOKENS"
    assert plain["usageMetadata"]["candidatesTokenCount"] == 5 == count_tokens(texts([plain]))
    events = [e.json() for e in sse.parse((await client.post(f"{BASE}:streamGenerateContent?alt=sse",
                                                             json=body)).content)]
    assert len(events) == 5 and events[-1]["candidates"][0]["finishReason"] == "MAX_TOKENS"
    assert events[-1]["usageMetadata"]["candidatesTokenCount"] == 5


async def test_deterministic(client: httpx.AsyncClient) -> None:
    body = user("Write a story about a magic backpack.")
    a = (await client.post(f"{BASE}:generateContent", json=body)).json()
    b = (await client.post(f"{BASE}:generateContent", json=body)).json()
    assert texts([a]) == texts([b]) and a["responseId"] != b["responseId"]  # ids follow the counter
    snake = {"contents": body["contents"], "generation_config": {"max_output_tokens": 1000}}
    camel = {"contents": body["contents"], "generationConfig": {"maxOutputTokens": 1000}}
    s = (await client.post(f"{BASE}:generateContent", json=snake)).json()
    c = (await client.post(f"{BASE}:generateContent", json=camel)).json()
    assert texts([s]) == texts([c])
    other = GeminiMock(seed=1)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=other), base_url="http://g", headers={"x-goog-api-key": "test-key"}) as oc:
        o = (await oc.post(f"{BASE}:generateContent", json=body)).json()
    assert texts([o]) != texts([a])
    again = GeminiMock()
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=again), base_url="http://g", headers={"x-goog-api-key": "test-key"}) as ac:
        first = (await ac.post(f"{BASE}:generateContent", json=body)).json()
    assert first["responseId"] == a["responseId"]  # same seed, same counter: same id


async def test_explicit_nulls_read_as_not_given(client: httpx.AsyncClient) -> None:
    """proto3 JSON reads null as the default; LiteLLM sends `"tools": null` on every call (issue 14)."""
    body = user("Write a story about a magic backpack.")
    plain = (await client.post(f"{BASE}:generateContent", json=body)).json()
    nulls = {**body, "tools": None, "toolConfig": None, "systemInstruction": None, "safetySettings": None,
             "cachedContent": None, "generationConfig": {"temperature": None, "maxOutputTokens": None,
                                                         "stopSequences": None, "responseMimeType": None}}
    for form in (nulls, {**body, "generation_config": None, "tool_config": None},
                 {**body, "generation_config": {"max_output_tokens": None, "top_k": None}}):
        r = await client.post(f"{BASE}:generateContent", json=form)
        assert r.status_code == 200, r.text
        assert texts([r.json()]) == texts([plain])
    # a required field stays required, and a wrong type is still refused
    check_error(await client.post(f"{BASE}:generateContent", json={"contents": None}), 400, "INVALID_ARGUMENT")
    check_error(await client.post(f"{BASE}:generateContent", json={**body, "tools": {}}), 400, "INVALID_ARGUMENT")


# -- request features ------------------------------------------------------------------------------------
def _png(width: int, height: int) -> str:
    buf = io.BytesIO()
    Image.new("RGB", (width, height), (200, 30, 30)).save(buf, "PNG")
    return base64.b64encode(buf.getvalue()).decode()


async def test_inline_image_is_described(client: httpx.AsyncClient) -> None:
    body = {"contents": [{"role": "user", "parts": [
        {"text": "What is in this picture?"}, {"inline_data": {"mime_type": "image/png", "data": _png(64, 32)}}]}]}
    r = await client.post(f"{BASE}:generateContent", json=body)
    assert "PNG image of 64x32 pixels" in texts([r.json()])


async def test_system_instruction_and_history(client: httpx.AsyncClient) -> None:
    body = {"systemInstruction": {"parts": [{"text": "Be brief."}]}, "contents": [
        {"role": "user", "parts": [{"text": "hi"}]}, {"role": "model", "parts": [{"text": "Hello."}]},
        {"role": "user", "parts": [{"text": "what is 100-1"}]}]}
    r = await client.post(f"{BASE}:generateContent", json=body)
    assert "99" in texts([r.json()])
    count = await client.post(f"{BASE}:countTokens", json={"generateContentRequest": {"model": f"models/{MODEL}", **body}})
    check("CountTokensResponse", count.json())
    assert count.json()["totalTokens"] == r.json()["usageMetadata"]["promptTokenCount"]


TOOLS = [{"functionDeclarations": [
    {"name": "get_weather", "description": "current weather of a city",
     "parameters": {"type": "OBJECT", "properties": {"city": {"type": "STRING"}, "days": {"type": "INTEGER"},
                                                     "unit": {"type": "STRING", "enum": ["C", "F"]}},
                    "required": ["city", "days", "unit"]}},
    {"name": "lookup", "description": "search a dictionary",
     "parametersJsonSchema": {"type": "object", "properties": {"word": {"type": "string"}}, "required": ["word"]}},
]}]


async def test_uppercase_schema_types_are_normalised(client: httpx.AsyncClient) -> None:
    r = await client.post(f"{BASE}:generateContent", json={**user("weather in the city"), "tools": TOOLS})
    body = r.json()
    check("GenerateContentResponse", body)
    call = body["candidates"][0]["content"]["parts"][0]["functionCall"]
    assert call["name"] == "get_weather"
    assert isinstance(call["args"]["city"], str) and isinstance(call["args"]["days"], int)
    assert call["args"]["unit"] == "C"
    assert body["candidates"][0]["finishReason"] == "STOP"


@pytest.mark.parametrize(("config", "expect"), [
    ({"mode": "NONE"}, None),
    ({"mode": "ANY", "allowedFunctionNames": ["lookup"]}, "lookup"),
    ({"mode": "any"}, "get_weather"),
])
async def test_function_calling_modes(client: httpx.AsyncClient, config: dict, expect: str | None) -> None:
    body = {**user("weather in the city"), "tools": TOOLS, "tool_config": {"function_calling_config": config}}
    r = await client.post(f"{BASE}:streamGenerateContent?alt=sse", json=body)
    events = [e.json() for e in sse.parse(r.content)]
    for ev in events:
        check("GenerateContentResponse", ev)
    calls = [p["functionCall"]["name"] for ev in events for p in ev["candidates"][0]["content"]["parts"]
             if "functionCall" in p]
    assert calls == ([expect] if expect else [])
    if expect:
        assert len(events) == 1 and events[0]["candidates"][0]["finishReason"] == "STOP"


async def test_function_response_is_quoted(client: httpx.AsyncClient) -> None:
    body = {"tools": TOOLS, "contents": [
        {"role": "user", "parts": [{"text": "weather in Paris"}]},
        {"role": "model", "parts": [{"functionCall": {"name": "get_weather", "args": {"city": "Paris"}}}]},
        {"role": "function", "parts": [{"functionResponse": {"name": "get_weather",
                                                             "response": {"forecast": "sunny, 21C"}}}]}]}
    r = await client.post(f"{BASE}:generateContent", json=body)
    assert "sunny, 21C" in texts([r.json()])


async def test_json_mode_without_schema(client: httpx.AsyncClient) -> None:
    body = {**user("anything"), "generationConfig": {"responseMimeType": "application/json"}}
    r = await client.post(f"{BASE}:generateContent", json=body)
    assert isinstance(json.loads(texts([r.json()])), dict)


# -- models ------------------------------------------------------------------------------------------------
async def test_list_models_pages(client: httpx.AsyncClient) -> None:
    first = (await client.get("/v1beta/models", params={"pageSize": 2})).json()
    check("ListModelsResponse", first)
    assert len(first["models"]) == 2 and first["nextPageToken"]
    second = (await client.get("/v1beta/models", params={"pageSize": 2, "pageToken": first["nextPageToken"]})).json()
    check("ListModelsResponse", second)
    assert "nextPageToken" not in second
    assert [m["name"] for m in first["models"] + second["models"]] == [f"models/{m}" for m in CATALOG]
    every = (await client.get("/v1beta/models")).json()
    assert len(every["models"]) == len(CATALOG) >= 4 and "nextPageToken" not in every
    for m in every["models"]:
        check("Model", m)
        assert m["supportedGenerationMethods"] == ["generateContent", "countTokens"]
    one = await client.get("/v1beta/models/gemini-2.0-flash")
    check("Model", one.json())
    assert one.json()["outputTokenLimit"] == 8192


# -- bad input: 4xx in google.rpc.Status shape, never a 500 ------------------------------------------------
GEN = f"{BASE}:generateContent"
BAD_INPUTS = [
    ("broken json", "POST", GEN, b'{"contents": [', 400, "not valid JSON"),
    ("empty body", "POST", GEN, b"", 400, "empty"),
    ("array body", "POST", GEN, b"[]", 400, "JSON object"),
    ("no contents", "POST", GEN, {"generationConfig": {}}, 400, "contents is not specified"),
    ("contents a string", "POST", GEN, {"contents": "hi"}, 400, "'contents'"),
    ("contents empty", "POST", GEN, {"contents": []}, 400, "must not be empty"),
    ("content a string", "POST", GEN, {"contents": ["hi"]}, 400, "contents[0]"),
    ("no parts", "POST", GEN, {"contents": [{"role": "user"}]}, 400, "parts"),
    ("parts a string", "POST", GEN, {"contents": [{"parts": "hi"}]}, 400, "contents[0].parts"),
    ("text a number", "POST", GEN, {"contents": [{"parts": [{"text": 5}]}]}, 400, "contents[0].parts[0].text"),
    ("empty part", "POST", GEN, {"contents": [{"parts": [{}]}]}, 400, "data"),
    ("bad role", "POST", GEN, {"contents": [{"role": "system", "parts": [{"text": "x"}]}]}, 400, "valid role"),
    ("bad base64", "POST", GEN, {"contents": [{"parts": [{"inlineData": {"mimeType": "image/png", "data": "%%%"}}]}]},
     400, "Base64"),
    ("config a string", "POST", GEN, {**user("x"), "generationConfig": "hot"}, 400, "generationConfig"),
    ("max tokens a word", "POST", GEN, {**user("x"), "generationConfig": {"maxOutputTokens": "many"}}, 400,
     "maxOutputTokens"),
    ("max tokens zero", "POST", GEN, {**user("x"), "generationConfig": {"maxOutputTokens": 0}}, 400,
     "maxOutputTokens"),
    ("temperature a word", "POST", GEN, {**user("x"), "generationConfig": {"temperature": "hot"}}, 400, "temperature"),
    ("bad mime type", "POST", GEN, {**user("x"), "generationConfig": {"responseMimeType": "text/html"}}, 400,
     "response_mime_type"),
    ("schema without json", "POST", GEN, {**user("x"), "generationConfig": {"responseSchema": {"type": "OBJECT"}}},
     400, "response_mime_type"),
    ("tools a string", "POST", GEN, {**user("x"), "tools": "calc"}, 400, "'tools'"),
    ("tool without name", "POST", GEN, {**user("x"), "tools": [{"functionDeclarations": [{"description": "d"}]}]},
     400, "function name"),
    ("bad mode", "POST", GEN, {**user("x"), "tools": TOOLS,
                               "toolConfig": {"functionCallingConfig": {"mode": "SOMETIMES"}}}, 400, "mode"),
    ("undeclared allowed name", "POST", GEN, {**user("x"), "tools": TOOLS, "toolConfig": {
        "functionCallingConfig": {"mode": "ANY", "allowedFunctionNames": ["missing"]}}}, 400, "missing"),
    ("bad alt", "POST", f"{BASE}:streamGenerateContent", {**user("x"), "alt": "xml"}, 400, "alt"),
    ("unknown model", "POST", "/v1beta/models/gemini-9:generateContent", user("x"), 404, "models/gemini-9"),
    ("unknown model stream", "POST", "/v1beta/models/gemini-9:streamGenerateContent?alt=sse", user("x"), 404,
     "models/gemini-9"),
    ("unknown method", "POST", f"{BASE}:frobnicate", user("x"), 404, "frobnicate"),
    ("no method", "POST", BASE, user("x"), 404, "(none)"),
    ("GET a method", "GET", GEN, None, 405, "POST"),
    ("unknown model GET", "GET", "/v1beta/models/gemini-9", None, 404, "models/gemini-9"),
    ("count nothing", "POST", f"{BASE}:countTokens", {}, 400, "contents"),
    ("page size a word", "GET", "/v1beta/models?pageSize=abc", None, 400, "page_size"),
    ("bad page token", "GET", "/v1beta/models?pageToken=garbage", None, 400, "page token"),
    ("unknown route", "GET", "/v1beta/tunedModels", None, 404, "Unknown route"),
]


@pytest.mark.parametrize(("method", "path", "body", "status", "hint"), [b[1:] for b in BAD_INPUTS],
                         ids=[b[0] for b in BAD_INPUTS])
async def test_bad_input(client: httpx.AsyncClient, method: str, path: str, body: Any, status: int,
                         hint: str) -> None:
    content = body if isinstance(body, bytes) else None if body is None else orjson.dumps(body)
    r = await client.request(method, path, content=content, headers={"content-type": "application/json"})
    rpc = {400: "INVALID_ARGUMENT", 404: "NOT_FOUND", 405: "UNIMPLEMENTED"}[status]
    err = check_error(r, status, rpc)
    assert hint in err["message"]


# -- faults and timing ----------------------------------------------------------------------------------
@pytest.mark.parametrize(("status", "rpc"), [(429, "RESOURCE_EXHAUSTED"), (503, "UNAVAILABLE")])
async def test_status_faults_in_gemini_shape(client: httpx.AsyncClient, status: int, rpc: str) -> None:
    fault = orjson.dumps({"fault": {"rate": 1, "kind": "status", "status": status}}).decode()
    r = await client.post(f"{BASE}:streamGenerateContent?alt=sse", json=user("x"), headers={"x-mock-config": fault})
    check_error(r, status, rpc)
    assert (r.headers.get("retry-after") is not None) == (status == 429)


def test_cut_mid_stream(srv: ServerThread) -> None:
    fault = orjson.dumps({"fault": {"rate": 1, "kind": "cut", "after_chunks": 2}}).decode()
    events: list[dict[str, Any]] = []
    failed = False
    with httpx.Client(base_url=srv.url, headers={"x-goog-api-key": "test-key"}) as c:
        try:
            with c.stream("POST", f"{BASE}:streamGenerateContent?alt=sse", json=user("Write 30 words"),
                          headers={"x-mock-config": fault}) as r:
                assert r.status_code == 200
                for e in sse.iter_events(r.iter_raw()):
                    events.append(e.json())
        except (httpx.RemoteProtocolError, httpx.ReadError):
            failed = True
    assert failed, "the client must see a broken stream"
    assert len(events) == 2
    assert all("finishReason" not in ev["candidates"][0] for ev in events)


def test_ttft_delays_the_first_event(srv: ServerThread) -> None:
    with httpx.Client(base_url=srv.url, headers={"x-goog-api-key": "test-key"}) as c:
        t0 = time.perf_counter()
        with c.stream("POST", f"{BASE}:streamGenerateContent?alt=sse", json=user("what is 12*7"),
                      headers={"x-mock-config": '{"ttft_ms": 100}'}) as r:
            events = sse.iter_events(r.iter_raw())
            first = next(events)
            elapsed = time.perf_counter() - t0
            rest = list(events)
    assert elapsed >= 0.1
    assert first.json()["candidates"][0]["content"]["parts"][0]["text"] == "12"
    assert rest and rest[-1].json()["candidates"][0]["finishReason"] == "STOP"


def test_json_array_is_streamed_as_produced(srv: ServerThread) -> None:
    arrivals: list[tuple[float, bytes]] = []
    with httpx.Client(base_url=srv.url, headers={"x-goog-api-key": "test-key"}) as c:
        t0 = time.perf_counter()
        with c.stream("POST", f"{BASE}:streamGenerateContent", json=user("what is 12*7"),
                      headers={"x-mock-config": '{"itl_ms": 100}'}) as r:
            for chunk in r.iter_raw():
                arrivals.append((time.perf_counter() - t0, chunk))
    body = b"".join(c for _, c in arrivals)
    assert len(json.loads(body)) == 6  # "12", "*", "7", " =", " 84", "."
    assert arrivals[0][1].startswith(b"[{")
    # The elements are due 100 ms apart (500 ms from first to last). A busy machine can delay the
    # first one and let the rest catch up, so ask only for half the spread: a buffered array would
    # arrive in one piece, with no spread at all.
    assert arrivals[-1][0] - arrivals[0][0] >= 0.25
