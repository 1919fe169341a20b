"""Chat completions of the OpenAI mock: the official SDK on a loopback server, the seed's body,
streams (usage, tool calls), the answer rules, determinism, our specs and the official schemas,
and a table of bad inputs."""

from __future__ import annotations

import base64
import json
import socket
from typing import Any

import httpx
import jsonschema
import pytest
from openai import OpenAI
from reference import openai_errors

import specs
from mocks import media
from mocks.openai_app import OpenAIMock
from mocks.serving import ServerThread
from mocks.textgen import count_tokens
from specs import seed, sse

MODEL = "gpt-4.1-mini"
KEY = {"authorization": "Bearer sk-test"}

CALC = {"type": "function", "function": {
    "name": "calculate", "description": "Evaluate an arithmetic expression",
    "parameters": {"type": "object", "properties": {"expr": {"type": "string"}}, "required": ["expr"]}}}
WEATHER = {"type": "function", "function": {
    "name": "get_weather", "description": "Weather forecast for a city and a day",
    "parameters": {"type": "object", "additionalProperties": False,
                   "properties": {"city": {"type": "string"}, "days": {"type": "integer", "minimum": 1, "maximum": 7},
                                  "unit": {"enum": ["celsius", "fahrenheit"]}},
                   "required": ["city", "days", "unit"]}}}

PERSON = {"type": "object", "additionalProperties": False,
          "properties": {"name": {"type": "string"}, "age": {"type": "integer", "minimum": 18, "maximum": 99},
                         "score": {"type": "number", "minimum": 0, "maximum": 1},
                         "tags": {"type": "array", "items": {"type": "string"}, "minItems": 2},
                         "role": {"enum": ["admin", "user"]}, "active": {"type": "boolean"},
                         "address": {"type": "object", "properties": {"city": {"type": "string"}},
                                     "required": ["city"]}},
          "required": ["name", "age", "score", "tags", "role", "active", "address"]}


# -- fixtures and helpers ---------------------------------------------------------------------------


def check_completion(obj: dict[str, Any]) -> dict[str, Any]:
    assert specs.schema_errors("openai", "ChatCompletion", obj) == []
    assert openai_errors("CreateChatCompletionResponse", obj) == []
    return obj


def check_chunk(obj: dict[str, Any]) -> dict[str, Any]:
    assert specs.schema_errors("openai", "ChatCompletionChunk", obj) == []
    assert openai_errors("CreateChatCompletionStreamResponse", obj) == []
    return obj


def complete(http: httpx.Client, body: dict[str, Any], headers: dict[str, str] | None = None) -> dict[str, Any]:
    r = http.post("/v1/chat/completions", json=body, headers=headers)
    assert r.status_code == 200, r.text
    return check_completion(r.json())


def stream(http: httpx.Client, body: dict[str, Any], headers: dict[str, str] | None = None) -> list[dict[str, Any]]:
    """The chunks of a streamed call, each checked against both schemas; the stream ends in [DONE]."""
    r = http.post("/v1/chat/completions", json={**body, "stream": True}, headers=headers)
    assert r.status_code == 200, r.text
    assert r.headers["content-type"].startswith("text/event-stream")
    events = sse.parse(r.content)
    assert events[-1].is_done and not any(e.is_done for e in events[:-1])
    return [check_chunk(e.json()) for e in events[:-1]]


def streamed_text(chunks: list[dict[str, Any]], index: int = 0) -> str:
    return "".join(c["choices"][0]["delta"].get("content") or "" for c in chunks
                   if c["choices"] and c["choices"][0]["index"] == index)


def user(text: str) -> dict[str, Any]:
    return {"model": MODEL, "messages": [{"role": "user", "content": text}]}


# -- the SDK ------------------------------------------------------------------------------------------
def test_plain_completion_via_sdk(client: OpenAI) -> None:
    raw = client.chat.completions.with_raw_response.create(
        model=MODEL, messages=[{"role": "user", "content": "Say something about relays."}])
    assert raw.headers["x-mock-node"] == "openai"
    check_completion(json.loads(raw.content))
    resp = raw.parse()
    text = resp.choices[0].message.content
    assert resp.object == "chat.completion" and resp.model == MODEL and resp.id.startswith("chatcmpl-")
    assert text and resp.choices[0].finish_reason == "stop" and resp.choices[0].message.role == "assistant"
    u = resp.usage
    assert u.completion_tokens == count_tokens(text)
    assert u.prompt_tokens > 0 and u.total_tokens == u.prompt_tokens + u.completion_tokens


def test_stream_with_include_usage_via_sdk(client: OpenAI, http: httpx.Client) -> None:
    body = user("Tell me about the river.")
    chunks = list(client.chat.completions.create(**body, stream=True, stream_options={"include_usage": True}))
    assert chunks[-1].choices == [] and chunks[-1].usage is not None
    assert all(c.usage is None for c in chunks[:-1]) and all(c.choices for c in chunks[:-1])
    pieces = [c.choices[0].delta.content for c in chunks[:-1] if c.choices[0].delta.content]
    assert chunks[-2].choices[0].finish_reason == "stop"
    # one token per chunk by default: usage counts exactly what was streamed
    assert chunks[-1].usage.completion_tokens == len(pieces) == count_tokens("".join(pieces))

    raw = stream(http, {**body, "stream_options": {"include_usage": True}})
    assert [c["usage"] is None for c in raw] == [True] * (len(raw) - 1) + [False]
    assert all("usage" in c for c in raw)  # present and null on every other chunk
    assert raw[-1]["choices"] == [] and raw[-1]["usage"]["completion_tokens"] == count_tokens(streamed_text(raw))
    assert streamed_text(raw) == "".join(pieces)
    assert len({c["id"] for c in raw}) == 1


def test_stream_usage_counts_tokens_not_chunks(http: httpx.Client) -> None:
    chunks = stream(http, {**user("Tell me about the river."), "stream_options": {"include_usage": True}},
                    headers={"x-mock-config": '{"tokens_per_chunk": 3}'})
    contents = [c["choices"][0]["delta"]["content"] for c in chunks[:-1] if c["choices"][0]["delta"].get("content")]
    n = chunks[-1]["usage"]["completion_tokens"]
    assert n == count_tokens("".join(contents)) and len(contents) == -(-n // 3)
    assert all(count_tokens(p) == 3 for p in contents[:-1])


def test_stream_without_include_usage_has_no_usage(http: httpx.Client) -> None:
    chunks = stream(http, user("hello"))
    assert all("usage" not in c for c in chunks)
    assert chunks[0]["choices"][0]["delta"]["role"] == "assistant"


def test_streamed_and_plain_give_the_same_text(client: OpenAI) -> None:
    body = user("Write about the harbor.")
    plain = client.chat.completions.create(**body).choices[0].message.content
    streamed = "".join(c.choices[0].delta.content or "" for c in client.chat.completions.create(**body, stream=True)
                       if c.choices)
    assert streamed == plain


# -- tools --------------------------------------------------------------------------------------------
def test_tool_call_via_sdk_picks_the_matching_tool(client: OpenAI) -> None:
    resp = client.chat.completions.create(model=MODEL, tools=[WEATHER, CALC],
                                          messages=[{"role": "user", "content": "Calculate this expression: 12*7"}])
    choice = resp.choices[0]
    assert choice.finish_reason == "tool_calls" and choice.message.content is None
    (call,) = choice.message.tool_calls
    assert call.type == "function" and call.function.name == "calculate" and call.id.startswith("call_")
    assert json.loads(call.function.arguments) == {"expr": "12*7"}
    assert resp.usage.completion_tokens > 0

    forced = client.chat.completions.create(model=MODEL, tools=[CALC, WEATHER], messages=[
        {"role": "user", "content": "Calculate 1+1"}], tool_choice={"type": "function", "function": {"name": "get_weather"}})
    args = json.loads(forced.choices[0].message.tool_calls[0].function.arguments)
    jsonschema.validate(args, WEATHER["function"]["parameters"])

    none = client.chat.completions.create(model=MODEL, tools=[CALC], tool_choice="none",
                                          messages=[{"role": "user", "content": "Calculate 1+1"}])
    assert none.choices[0].message.tool_calls is None and "1+1 = 2" in none.choices[0].message.content


def test_streamed_tool_calls(http: httpx.Client) -> None:
    body = {"model": MODEL, "n": 2, "tools": [CALC, WEATHER], "stream_options": {"include_usage": True},
            "messages": [{"role": "user", "content": "weather forecast for a city"}]}
    chunks = stream(http, body)
    plain = complete(http, body)
    deltas: dict[tuple[int, int], list[dict[str, Any]]] = {}
    for c in chunks[:-1]:
        for tc in c["choices"][0]["delta"].get("tool_calls") or []:
            deltas.setdefault((c["choices"][0]["index"], tc["index"]), []).append(tc)
    assert set(deltas) == {(0, 0), (1, 0)}
    ids = set()
    for (choice, _), parts in deltas.items():
        first, rest = parts[0], parts[1:]
        assert first["type"] == "function" and first["function"]["name"] == "get_weather" and first["id"]
        assert rest and all(set(p) == {"index", "function"} and set(p["function"]) == {"arguments"} for p in rest)
        ids.add(first["id"])
        args = "".join(p["function"]["arguments"] for p in parts)
        jsonschema.validate(json.loads(args), WEATHER["function"]["parameters"])
        call = plain["choices"][choice]["message"]["tool_calls"][0]
        assert args == call["function"]["arguments"]  # the ids differ: they come from the request counter
    assert len(ids) == 2  # one id per call
    finishes = [c["choices"][0]["finish_reason"] for c in chunks[:-1] if c["choices"][0]["finish_reason"]]
    assert finishes == ["tool_calls", "tool_calls"]
    assert chunks[-1]["usage"] == plain["usage"]


def test_tool_result_is_quoted(http: httpx.Client) -> None:
    body = {"model": MODEL, "tools": [CALC], "messages": [
        {"role": "user", "content": "what is 12*7"},
        {"role": "assistant", "content": None, "tool_calls": [
            {"id": "call_1", "type": "function", "function": {"name": "calculate", "arguments": '{"expr":"12*7"}'}}]},
        {"role": "tool", "tool_call_id": "call_1", "content": '{"result": 84, "unit": "zorkmids"}'}]}
    resp = complete(http, body)
    msg = resp["choices"][0]["message"]
    assert '{"result": 84, "unit": "zorkmids"}' in msg["content"] and "tool_calls" not in msg
    assert resp["choices"][0]["finish_reason"] == "stop"


# -- the seed and the answer rules ----------------------------------------------------------------------
def test_seed_chat_body_as_written(server) -> None:
    # the guide's body byte for byte, with the key sent bare in Authorization as the guide does
    r = httpx.post(server.url + seed.CHAT.path, content=seed.CHAT.body.encode(),
                   headers={"Authorization": "sk-seed-key", "Content-Type": "application/json"})
    assert r.status_code == 200, r.text
    msg = check_completion(r.json())["choices"][0]["message"]["content"]
    assert "6" in msg and "1+5" in msg


@pytest.mark.parametrize(("question", "result"), [("what is 12*7", "84"), ("帮我计算 (2+3)*4 等于多少", "20"),
                                                   ("compute 10 / 4", "2.5")])
def test_arithmetic(http: httpx.Client, question: str, result: str) -> None:
    text = complete(http, user(question))["choices"][0]["message"]["content"]
    assert f"= {result}." in text


def test_n_choices(http: httpx.Client) -> None:
    one = complete(http, {**user("hello there"), "n": 1})
    three = complete(http, {**user("hello there"), "n": 3})
    texts = [c["message"]["content"] for c in three["choices"]]
    assert [c["index"] for c in three["choices"]] == [0, 1, 2]
    assert len(set(texts)) == 3 and texts[0] == one["choices"][0]["message"]["content"]
    assert three["usage"]["completion_tokens"] == sum(count_tokens(t) for t in texts)
    chunks = stream(http, {**user("hello there"), "n": 3})
    assert [streamed_text(chunks, i) for i in range(3)] == texts


def test_stop(http: httpx.Client) -> None:
    full = complete(http, user("tell a story about the forest"))["choices"][0]["message"]["content"]
    word = full.split()[3]
    stopped = complete(http, {**user("tell a story about the forest"), "stop": ["zzz-never", word]})
    choice = stopped["choices"][0]
    assert choice["message"]["content"] == full[: full.index(word)] and choice["finish_reason"] == "stop"
    assert stopped["usage"]["completion_tokens"] == count_tokens(choice["message"]["content"])


@pytest.mark.parametrize("field", ["max_tokens", "max_completion_tokens"])
def test_max_tokens_gives_length(http: httpx.Client, field: str) -> None:
    body = {**user("Write 40 words about a relay."), field: 5}
    resp = complete(http, body)
    assert resp["choices"][0]["finish_reason"] == "length"
    assert resp["usage"]["completion_tokens"] == 5 == count_tokens(resp["choices"][0]["message"]["content"])
    chunks = stream(http, {**body, "stream_options": {"include_usage": True}})
    assert streamed_text(chunks) == resp["choices"][0]["message"]["content"]
    assert [c["choices"][0]["finish_reason"] for c in chunks[:-1]][-1] == "length"
    assert chunks[-1]["usage"]["completion_tokens"] == 5


def test_json_object_format(http: httpx.Client) -> None:
    resp = complete(http, {**user("Give me JSON about planets"), "response_format": {"type": "json_object"}})
    assert isinstance(json.loads(resp["choices"][0]["message"]["content"]), dict)


def test_json_schema_format(client: OpenAI, http: httpx.Client) -> None:
    fmt = {"type": "json_schema", "json_schema": {"name": "person", "strict": True, "schema": PERSON}}
    resp = complete(http, {**user("Describe a person"), "response_format": fmt})
    value = json.loads(resp["choices"][0]["message"]["content"])
    jsonschema.validate(value, PERSON)
    assert set(value) == set(PERSON["required"])
    streamed = stream(http, {**user("Describe a person"), "response_format": fmt})
    assert json.loads(streamed_text(streamed)) == value
    sdk = client.chat.completions.create(**user("Describe a person"), response_format=fmt)
    jsonschema.validate(json.loads(sdk.choices[0].message.content), PERSON)


def test_image_data_url_is_described(http: httpx.Client) -> None:
    url = "data:image/png;base64," + base64.b64encode(media.png(37, 21, "k")).decode()
    body = {"model": MODEL, "messages": [{"role": "user", "content": [
        {"type": "text", "text": "What is in this picture?"}, {"type": "image_url", "image_url": {"url": url}}]}]}
    resp = complete(http, body)
    assert "a PNG image of 37x21 pixels" in resp["choices"][0]["message"]["content"]
    # an image costs input tokens
    assert resp["usage"]["prompt_tokens"] > complete(http, user("What is in this picture?"))["usage"]["prompt_tokens"]


@pytest.fixture
def no_network(monkeypatch: pytest.MonkeyPatch) -> list[Any]:
    """Fail any name lookup or connection from this process; returns the attempts."""
    attempts: list[Any] = []

    def refuse(*args: Any, **kw: Any) -> Any:
        attempts.append(args)
        raise OSError("network access in a test")

    monkeypatch.setattr(socket, "getaddrinfo", refuse)
    monkeypatch.setattr(socket, "create_connection", refuse)
    monkeypatch.setattr(socket.socket, "connect", refuse)
    monkeypatch.setattr(socket.socket, "connect_ex", refuse)
    return attempts


async def test_https_image_url_is_not_fetched(no_network: list[Any]) -> None:
    # in-process (ASGI), so that the guards see every socket the mock could open
    url = "https://images.example.com/cat.png"
    body = {"model": MODEL, "messages": [{"role": "user", "content": [
        {"type": "text", "text": "Describe it"}, {"type": "image_url", "image_url": {"url": url, "detail": "low"}}]}]}
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=OpenAIMock()), base_url="http://mock",
                                 headers=KEY) as c:
        r = await c.post("/v1/chat/completions", json=body)
    assert r.status_code == 200, r.text
    assert f"an image at {url}" in check_completion(r.json())["choices"][0]["message"]["content"]
    assert no_network == []


# -- determinism --------------------------------------------------------------------------------------------
def without_ids(resp: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in resp.items() if k not in ("id", "created")}


def test_same_request_same_answer(http: httpx.Client) -> None:
    body = {**user("Something about lanterns"), "temperature": 0.5}
    a, b = complete(http, body), complete(http, body)
    assert a["id"] != b["id"] and without_ids(a) == without_ids(b)
    # key order and whitespace do not matter
    reordered = http.post("/v1/chat/completions", content=json.dumps(dict(reversed(body.items())), indent=3),
                          headers={"content-type": "application/json"}).json()
    assert without_ids(reordered) == without_ids(a)
    other = complete(http, body, headers={"x-mock-config": '{"seed": 7}'})
    assert other["choices"][0]["message"]["content"] != a["choices"][0]["message"]["content"]
    assert complete(http, {**body, "temperature": 0.6})["choices"][0]["message"]["content"] != \
        a["choices"][0]["message"]["content"]


def test_ids_come_from_seed_and_counter() -> None:
    def ids(seed_value: int) -> list[str]:
        with ServerThread(OpenAIMock(seed=seed_value)) as srv, httpx.Client(base_url=srv.url, headers=KEY) as c:
            return [c.post("/v1/chat/completions", json=user("x")).json()["id"] for _ in range(3)]

    first = ids(1)
    assert first == ids(1) and len(set(first)) == 3 and ids(2) != first


# -- bad input ------------------------------------------------------------------------------------------------
M = [{"role": "user", "content": "hi"}]
BAD_CHAT: list[tuple[str, Any, int, str | None]] = [
    ("empty body", b"", 400, None),
    ("not JSON", b"{model:", 400, None),
    ("JSON array", b"[1, 2]", 400, None),
    ("no model", {"messages": M}, 400, None),
    ("model not a string", {"model": 5, "messages": M}, 400, "model"),
    ("unknown model", {"model": "gpt-nope", "messages": M}, 404, "model"),
    ("image model", {"model": "gpt-image-1", "messages": M}, 400, "model"),
    ("no messages", {"model": MODEL}, 400, None),
    ("messages not a list", {"model": MODEL, "messages": "hi"}, 400, "messages"),
    ("no message", {"model": MODEL, "messages": []}, 400, "messages"),
    ("message not an object", {"model": MODEL, "messages": ["hi"]}, 400, "messages[0]"),
    ("unknown role", {"model": MODEL, "messages": [{"role": "robot", "content": "x"}]}, 400, "messages[0]"),
    ("content a number", {"model": MODEL, "messages": [{"role": "user", "content": 5}]}, 400, "messages[0]"),
    ("image url a number", {"model": MODEL, "messages": [{"role": "user", "content": [
        {"type": "image_url", "image_url": {"url": 5}}]}]}, 400, "messages[0]"),
    ("n zero", {"model": MODEL, "messages": M, "n": 0}, 400, "n"),
    ("n too big", {"model": MODEL, "messages": M, "n": 500}, 400, "n"),
    ("n a string", {"model": MODEL, "messages": M, "n": "2"}, 400, "n"),
    ("five stops", {"model": MODEL, "messages": M, "stop": list("abcde")}, 400, "stop"),
    ("stop a number", {"model": MODEL, "messages": M, "stop": 5}, 400, "stop"),
    ("max_tokens negative", {"model": MODEL, "messages": M, "max_tokens": -1}, 400, "max_tokens"),
    ("max_tokens a string", {"model": MODEL, "messages": M, "max_tokens": "5"}, 400, "max_tokens"),
    ("temperature too high", {"model": MODEL, "messages": M, "temperature": 5}, 400, "temperature"),
    ("stream a string", {"model": MODEL, "messages": M, "stream": "yes"}, 400, "stream"),
    ("stream_options a string", {"model": MODEL, "messages": M, "stream": True, "stream_options": "x"}, 400,
     "stream_options"),
    ("tool without name", {"model": MODEL, "messages": M, "tools": [{"type": "function", "function": {}}]}, 400,
     "tools[0].function"),
    ("tool a string", {"model": MODEL, "messages": M, "tools": ["calc"]}, 400, "tools[0]"),
    ("tool_choice a number", {"model": MODEL, "messages": M, "tool_choice": 5}, 400, "tool_choice"),
    ("tool_choice names no tool", {"model": MODEL, "messages": M, "tools": [CALC],
                                   "tool_choice": {"type": "function", "function": {"name": "zz"}}}, 400, "tool_choice"),
    ("unknown response_format", {"model": MODEL, "messages": M, "response_format": {"type": "xml"}}, 400,
     "response_format"),
]


@pytest.mark.parametrize(("name", "body", "status", "param"), BAD_CHAT, ids=[c[0] for c in BAD_CHAT])
def test_bad_chat_input(http: httpx.Client, name: str, body: Any, status: int, param: str | None) -> None:
    if isinstance(body, bytes):
        r = http.post("/v1/chat/completions", content=body, headers={"content-type": "application/json"})
    else:
        r = http.post("/v1/chat/completions", json=body)
    assert r.status_code == status, r.text
    check_error(r, param)


def check_error(r: httpx.Response, param: str | None) -> None:
    """The OpenAI error shape (our spec and the official one), a message, no traceback, the node header."""
    body = r.json()
    assert specs.schema_errors("openai", "ErrorResponse", body) == []
    assert openai_errors("ErrorResponse", body) == []
    err = body["error"]
    assert err["message"] and err["type"] == ("invalid_request_error" if r.status_code < 500 else "server_error")
    assert err["param"] == param
    assert "Traceback" not in r.text and 'File "' not in r.text
    assert r.headers["x-mock-node"] == "openai"


@pytest.mark.parametrize("schema", [
    {"type": "object", "properties": {"a": {"type": "integer", "minimum": "x"}}, "required": ["a"]},
    {"type": "object", "properties": "not an object", "required": "a"},
    {"type": "array", "minItems": "many", "items": {"type": "number", "maximum": [1]}},
    {"type": "object", "properties": {"a": {"type": "integer", "minimum": 1.5, "maximum": 1.7}}, "required": ["a"]},
])
def test_odd_client_schemas_never_crash(http: httpx.Client, schema: dict[str, Any]) -> None:
    fmt = {"type": "json_schema", "json_schema": {"name": "x", "schema": schema}}
    for body in ({**user("x"), "response_format": fmt},
                 {**user("x"), "tools": [{"type": "function", "function": {"name": "f", "parameters": schema}}]}):
        r = http.post("/v1/chat/completions", json=body)
        assert r.status_code in (200, 400), r.text
        if r.status_code == 200:
            check_completion(r.json())


def test_explicit_nulls_read_as_not_given(http: httpx.Client) -> None:
    """The API reads null as "not given" (issue 14: LiteLLM sends `"user": null`, `"tools": null`)."""
    body = user("Tell me about the river.")
    plain = complete(http, body)
    nulls = dict.fromkeys(("user", "tools", "tool_choice", "parallel_tool_calls", "response_format", "stop", "n",
                           "max_tokens", "stream_options", "seed", "temperature", "metadata"))
    answer = complete(http, {**body, **nulls})
    assert answer["choices"][0]["message"]["content"] == plain["choices"][0]["message"]["content"]
    assert streamed_text(stream(http, {**body, **nulls})) == plain["choices"][0]["message"]["content"]


def test_parallel_tool_calls_when_the_prompt_names_several_tools(http: httpx.Client) -> None:
    body = {**user("Call get_weather for Paris and calculate 2+3, both at once."), "tools": [CALC, WEATHER]}
    calls = complete(http, body)["choices"][0]["message"]["tool_calls"]
    assert [c["function"]["name"] for c in calls] == ["get_weather", "calculate"]
    assert len({c["id"] for c in calls}) == 2 and all(isinstance(json.loads(c["function"]["arguments"]), dict)
                                                      for c in calls)
    chunks = stream(http, body)
    firsts = [d for c in chunks for d in c["choices"][0]["delta"].get("tool_calls") or [] if d.get("id")]
    assert [d["index"] for d in firsts] == [0, 1]
    single = complete(http, {**body, "parallel_tool_calls": False})["choices"][0]["message"]["tool_calls"]
    assert len(single) == 1
