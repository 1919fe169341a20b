"""The Responses API of the OpenAI mock: the official SDK on a loopback server, the seed's bodies,
our specs and the official reference schemas, streams, stored conversations and bad inputs."""

from __future__ import annotations

import base64
import copy
import json
import time
from typing import Any

import httpx
import jsonschema
import openai
import pytest
from openai import OpenAI
from reference import openai_errors
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

import specs
from mocks import media, openai_responses
from mocks.openai_app import OpenAIMock
from mocks.serving import ServerThread
from mocks.textgen import count_tokens
from specs import seed, sse

MODEL = "gpt-4.1-mini"

# event type -> the official schema of that event
OFFICIAL_EVENT = {
    "response.created": "ResponseCreatedEvent",
    "response.in_progress": "ResponseInProgressEvent",
    "response.output_item.added": "ResponseOutputItemAddedEvent",
    "response.content_part.added": "ResponseContentPartAddedEvent",
    "response.output_text.delta": "ResponseTextDeltaEvent",
    "response.output_text.done": "ResponseTextDoneEvent",
    "response.content_part.done": "ResponseContentPartDoneEvent",
    "response.output_item.done": "ResponseOutputItemDoneEvent",
    "response.function_call_arguments.delta": "ResponseFunctionCallArgumentsDeltaEvent",
    "response.function_call_arguments.done": "ResponseFunctionCallArgumentsDoneEvent",
    "response.completed": "ResponseCompletedEvent",
    "response.incomplete": "ResponseIncompleteEvent",
}

CALC = {"type": "object", "properties": {"expr": {"type": "string"}}, "required": ["expr"]}


# -- fixtures and helpers ---------------------------------------------------------------------------


def check_response(obj: dict[str, Any]) -> None:
    assert specs.schema_errors("openai", "Response", obj) == []
    assert openai_errors("Response", obj) == []


def check_event(obj: dict[str, Any]) -> None:
    assert specs.schema_errors("openai", "ResponseStreamEvent", obj) == []
    assert openai_errors(OFFICIAL_EVENT[obj["type"]], obj) == []


def create(http: httpx.Client, body: dict[str, Any], headers: dict[str, str] | None = None) -> dict[str, Any]:
    r = http.post("/v1/responses", json=body, headers=headers)
    assert r.status_code == 200, r.text
    check_response(r.json())
    return r.json()


def stream(http: httpx.Client, body: dict[str, Any]) -> list[dict[str, Any]]:
    """The events of a streamed call, each checked: schemas, `event:` = type, item ids and indexes."""
    r = http.post("/v1/responses", json={**body, "stream": True})
    assert r.status_code == 200, r.text
    assert r.headers["content-type"].startswith("text/event-stream")
    raw = sse.parse(r.content)
    assert raw and not any(e.is_done for e in raw)
    events = [e.json() for e in raw]
    for e, obj in zip(raw, events, strict=True):
        assert e.event == obj["type"]
        check_event(obj)
    assert [e["sequence_number"] for e in events] == list(range(len(events)))
    final = events[-1]["response"]
    for e in events:
        if "item_id" in e:
            assert e["item_id"] == final["output"][e["output_index"]]["id"]
        if "content_index" in e:
            assert e["content_index"] < len(final["output"][e["output_index"]]["content"])
    return events


def without_ids(resp: dict[str, Any]) -> dict[str, Any]:
    """A Response minus what may differ between two calls: ids and timestamps."""
    out = json.loads(json.dumps(resp))
    for key in ("id", "created_at", "completed_at"):
        out.pop(key, None)
    for item in out["output"]:
        item.pop("id")
        item.pop("call_id", None)
    return out


def error_of(r: httpx.Response) -> dict[str, Any]:
    assert specs.schema_errors("openai", "ErrorResponse", r.json()) == []
    assert openai_errors("ErrorResponse", r.json()) == []
    return r.json()["error"]


def data_url_png(w: int, h: int) -> str:
    return "data:image/png;base64," + base64.b64encode(media.png(w, h, "test")).decode()


# -- plain calls and the seed's bodies -------------------------------------------------------------
def test_sdk_plain_create(client: OpenAI) -> None:
    resp = client.responses.create(model=MODEL, input="what is 12*7")
    assert resp.id.startswith("resp_") and resp.object == "response" and resp.status == "completed"
    assert "12*7 = 84" in resp.output_text
    msg = resp.output[0]
    assert msg.type == "message" and msg.id.startswith("msg_") and msg.role == "assistant"
    assert resp.usage.output_tokens == count_tokens(resp.output_text)
    assert resp.usage.total_tokens == resp.usage.input_tokens + resp.usage.output_tokens
    assert resp.error is None and resp.incomplete_details is None


def test_seed_responses_body_as_written(http: httpx.Client) -> None:
    r = http.post("/v1/responses", content=seed.RESPONSES.body.encode(), headers={"content-type": "application/json"})
    assert r.status_code == 200, r.text
    resp = r.json()
    check_response(resp)
    assert "1+5 = 6" in resp["output"][0]["content"][0]["text"]
    assert (resp["temperature"], resp["top_p"], resp["tools"], resp["tool_choice"]) == (1, 1, [], "auto")


def test_echoed_request_fields(http: httpx.Client) -> None:
    body = {"model": MODEL, "input": "hello", "instructions": "Be brief.", "temperature": 0.2, "top_p": 0.5,
            "metadata": {"run": "7"}, "parallel_tool_calls": False, "truncation": "auto", "user": "u1"}
    resp = create(http, body)
    for key in ("instructions", "temperature", "top_p", "metadata", "parallel_tool_calls", "truncation", "user"):
        assert resp[key] == body[key], key
    assert resp["text"]["format"] == {"type": "text"} and resp["previous_response_id"] is None
    # instructions are a system message: they count as input
    plain = create(http, {"model": MODEL, "input": "hello"})
    assert resp["usage"]["input_tokens"] > plain["usage"]["input_tokens"]


def test_same_request_same_text_other_ids(http: httpx.Client) -> None:
    body = {"model": MODEL, "input": "Write a story about a magic backpack."}
    a, b = create(http, body), create(http, body)
    assert a["id"] != b["id"] and a["output"][0]["id"] != b["output"][0]["id"]
    assert without_ids(a) == without_ids(b)
    other_seed = create(http, body, headers={"x-mock-config": '{"seed": 7}'})
    assert other_seed["output"][0]["content"][0]["text"] != a["output"][0]["content"][0]["text"]


# -- streaming --------------------------------------------------------------------------------------
TEXT_EVENTS = ["response.created", "response.in_progress", "response.output_item.added",
               "response.content_part.added"]
TEXT_END = ["response.output_text.done", "response.content_part.done", "response.output_item.done"]


def test_sdk_stream_events(client: OpenAI) -> None:
    prompt = "Write a story about a magic backpack."
    events = list(client.responses.create(model=MODEL, input=prompt, stream=True))
    types = [e.type for e in events]
    n = types.count("response.output_text.delta")
    assert n >= 5
    assert types == [*TEXT_EVENTS, *["response.output_text.delta"] * n, *TEXT_END, "response.completed"]
    assert [e.sequence_number for e in events] == list(range(len(events)))
    final = events[-1].response
    text = "".join(e.delta for e in events if e.type == "response.output_text.delta")
    assert text == final.output_text == events[-4].text
    assert final.usage.output_tokens == n
    plain = client.responses.create(model=MODEL, input=prompt)
    assert without_ids(plain.model_dump()) == without_ids(final.model_dump())


def test_sdk_stream_helper_accumulates(client: OpenAI) -> None:
    with client.responses.stream(model=MODEL, input="what is 3*4") as s:
        deltas = [e.delta for e in s if e.type == "response.output_text.delta"]
        final = s.get_final_response()
    assert "3*4 = 12" in final.output_text == "".join(deltas)


def test_stream_validates_and_ends_like_the_json_call(http: httpx.Client) -> None:
    body = {"model": MODEL, "input": "Tell me about the harbor.", "instructions": "Be calm."}
    events = stream(http, body)
    assert events[0]["response"]["status"] == "in_progress" and "usage" not in events[0]["response"]
    assert events[2]["item"]["status"] == "in_progress" and events[2]["item"]["content"] == []
    assert events[3]["part"]["text"] == ""
    assert without_ids(events[-1]["response"]) == without_ids(create(http, body))


def test_stream_tokens_are_paced(http: httpx.Client) -> None:
    settings = {"ttft_ms": 80, "itl_ms": 10}
    body = {"model": MODEL, "input": "Write 12 words.", "stream": True}
    t0 = time.perf_counter()
    arrivals: list[float] = []
    with http.stream("POST", "/v1/responses", json=body, headers={"x-mock-config": json.dumps(settings)}) as r:
        decoder = sse.Decoder()
        for chunk in r.iter_bytes():
            arrivals += [time.perf_counter() - t0 for e in decoder.feed(chunk)
                         if e.event == "response.output_text.delta"]
    assert len(arrivals) >= 12
    # lower bounds only (deadlines are absolute from the server's start, which is after ours)
    assert arrivals[0] >= 0.080 - 0.002
    assert arrivals[-1] >= 0.080 + 0.010 * (len(arrivals) - 1) - 0.002


def test_streamed_responses_are_stored(http: httpx.Client) -> None:
    final = stream(http, {"model": MODEL, "input": "hello"})[-1]["response"]
    r = http.get(f"/v1/responses/{final['id']}")
    assert r.status_code == 200 and r.json() == final


# -- tools and the tool-call round trip ---------------------------------------------------------------
def test_seed_tool_call_then_previous_response_id_round_trip(client: OpenAI) -> None:
    body = seed.RESPONSES_TOOL_CALL.json()
    first = client.responses.create(**body)
    assert first.status == "completed" and len(first.output) == 1
    call = first.output[0]
    assert call.type == "function_call" and call.name == "calc" and call.status == "completed"
    assert call.id.startswith("fc_") and call.call_id.startswith("call_")
    assert json.loads(call.arguments) == {"expr": "1+5"}
    assert [t.model_dump(exclude_none=True) for t in first.tools] == [
        {"type": "function", "name": "calc", "description": "计算数学表达式", "parameters": CALC, "strict": True}]

    result = {"type": "function_call_output", "call_id": call.call_id, "output": "6"}
    second = client.responses.create(model=MODEL, previous_response_id=first.id, input=[result], tools=body["tools"])
    assert second.previous_response_id == first.id
    assert second.output[0].type == "message" and "returned 6" in second.output_text

    # the same conversation sent whole, without previous_response_id, gets the same answer
    whole = client.responses.create(model=MODEL, input=[*body["input"], *first.output, result], tools=body["tools"])
    assert whole.output_text == second.output_text
    assert whole.usage.input_tokens == second.usage.input_tokens


def test_seed_tool_call_body_as_written_validates(http: httpx.Client) -> None:
    r = http.post("/v1/responses", content=seed.RESPONSES_TOOL_CALL.body.encode())
    assert r.status_code == 200, r.text
    check_response(r.json())
    assert r.json()["output"][0]["arguments"] == '{"expr":"1+5"}'


def test_stream_function_call(http: httpx.Client, client: OpenAI) -> None:
    body = seed.RESPONSES_TOOL_CALL.json()
    events = stream(http, body)
    types = [e["type"] for e in events]
    n = types.count("response.function_call_arguments.delta")
    assert n >= 3
    assert types == ["response.created", "response.in_progress", "response.output_item.added",
                     *["response.function_call_arguments.delta"] * n, "response.function_call_arguments.done",
                     "response.output_item.done", "response.completed"]
    added, done = events[2]["item"], events[-2]["item"]
    assert added["arguments"] == "" and added["status"] == "in_progress"
    args = "".join(e["delta"] for e in events if e["type"] == "response.function_call_arguments.delta")
    assert args == events[-3]["arguments"] == done["arguments"] == '{"expr":"1+5"}'
    assert events[-3]["name"] == "calc" and added["call_id"] == done["call_id"]
    assert without_ids(events[-1]["response"]) == without_ids(create(http, body))
    # the SDK's stream helper accumulates the same call (it takes only the flat tool form itself)
    flat = [{"type": "function", "name": "calc", "description": "计算数学表达式", "parameters": CALC}]
    with client.responses.stream(model=MODEL, input=body["input"], tools=flat) as s:
        final = s.get_final_response()
    assert final.output[0].arguments == '{"expr":"1+5"}'


def test_flat_and_nested_tools_are_the_same_tool(http: httpx.Client) -> None:
    base = {"model": MODEL, "input": "what is 2*21"}
    flat = create(http, {**base, "tools": [{"type": "function", "name": "calc", "parameters": CALC}]})
    nested = create(http, {**base, "tools": [{"type": "function", "function": {"name": "calc", "parameters": CALC}}]})
    assert without_ids(flat) == without_ids(nested)
    assert json.loads(flat["output"][0]["arguments"]) == {"expr": "2*21"}


def test_tool_choice(http: httpx.Client) -> None:
    tools = [{"type": "function", "name": "calc", "description": "compute arithmetic", "parameters": CALC},
             {"type": "function", "name": "weather", "description": "weather for a city",
              "parameters": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]}}]
    base = {"model": MODEL, "input": "what is 2*21", "tools": tools}
    assert create(http, base)["output"][0]["name"] == "calc"
    none = create(http, {**base, "tool_choice": "none"})
    assert none["output"][0]["type"] == "message" and "2*21 = 42" in none["output"][0]["content"][0]["text"]
    named = create(http, {**base, "tool_choice": {"type": "function", "name": "weather"}})
    assert named["output"][0]["name"] == "weather" and set(json.loads(named["output"][0]["arguments"])) == {"city"}
    assert named["tool_choice"] == {"type": "function", "name": "weather"}


# -- formats and limits ---------------------------------------------------------------------------------
def test_json_formats(http: httpx.Client) -> None:
    schema = {"type": "object", "properties": {"city": {"type": "string"},
                                               "rank": {"type": "integer", "minimum": 1, "maximum": 3}},
              "required": ["city", "rank"]}
    fmt = {"type": "json_schema", "name": "pick", "schema": schema}
    resp = create(http, {"model": MODEL, "input": "pick a city", "text": {"format": fmt}})
    jsonschema.validate(json.loads(resp["output"][0]["content"][0]["text"]), schema)
    assert resp["text"]["format"] == fmt
    obj = create(http, {"model": MODEL, "input": "answer in json", "text": {"format": {"type": "json_object"}}})
    assert isinstance(json.loads(obj["output"][0]["content"][0]["text"]), dict)


def test_max_output_tokens_gives_incomplete(http: httpx.Client) -> None:
    body = {"model": MODEL, "input": "Write 200 words about a river.", "max_output_tokens": 16}
    resp = create(http, body)
    assert resp["status"] == "incomplete" and resp["incomplete_details"] == {"reason": "max_output_tokens"}
    assert resp["completed_at"] is None and resp["output"][0]["status"] == "incomplete"
    assert resp["usage"]["output_tokens"] == 16 == count_tokens(resp["output"][0]["content"][0]["text"])
    events = stream(http, body)
    assert events[-1]["type"] == "response.incomplete"
    assert events[-2]["item"]["status"] == "incomplete"
    assert without_ids(events[-1]["response"]) == without_ids(resp)


# -- multimodal input ------------------------------------------------------------------------------------
def test_seed_multimodal_body_needs_no_network(client: OpenAI, http: httpx.Client) -> None:
    resp = client.responses.create(**seed.RESPONSES_MULTIMODAL.json())
    assert "https://picsum.photos/200/200" in resp.output_text
    check_response(http.post("/v1/responses", content=seed.RESPONSES_MULTIMODAL.body.encode()).json())
    # an image URL on a loopback server of our own: the mock must never fetch it
    hits: list[str] = []

    async def image(request: Request) -> Response:
        hits.append(request.url.path)
        return Response(media.png(8, 8, "x"), media_type="image/png")

    with ServerThread(Starlette(routes=[Route("/{name}", image)])) as images:
        url = f"{images.url}/cat"
        body = {"model": MODEL, "input": [{"role": "user", "content": [
            {"type": "input_text", "text": "这张图里有什么？"}, {"type": "input_image", "image_url": url}]}]}
        resp = client.responses.create(**body)
        assert url in resp.output_text
        time.sleep(0.05)
    assert hits == []


def test_data_url_png_is_described_by_size(client: OpenAI) -> None:
    content = [{"type": "input_text", "text": "what is this?"}, {"type": "input_image", "image_url": data_url_png(37, 21)}]
    resp = client.responses.create(model=MODEL, input=[{"role": "user", "content": content}])
    assert "PNG image of 37x21 pixels" in resp.output_text


@pytest.mark.parametrize(("part", "expected"), [
    ({"image_url": data_url_png(37, 21)}, "PNG image of 37x21 pixels"),
    ({"data": data_url_png(5, 9).split(",", 1)[1]}, "PNG image of 5x9 pixels"),  # bare base64, no type
    ({"url": "https://example.com/photo.jpg"}, "an image at https://example.com/photo.jpg"),
    ({"image_url": "https://picsum.photos/200/200"}, "an image at https://picsum.photos/200/200"),
    ({"text": "https://example.com/cat.webp"}, "an image at https://example.com/cat.webp"),
])
def test_untyped_image_parts_are_detected(http: httpx.Client, part: dict[str, str], expected: str) -> None:
    resp = create(http, {"model": MODEL, "input": [{"role": "user", "content": [{"text": "what is it?"}, part]}]})
    assert expected in resp["output"][0]["content"][0]["text"]


WAV = "data:audio/wav;base64," + base64.b64encode(b"RIFF\x24\x00\x00\x00WAVEfmt " + b"\x00" * 28).decode()


@pytest.mark.parametrize(("part", "mention"), [
    ({"url": "https://example.com/talk.mp3"}, "[audio: https://example.com/talk.mp3]"),
    ({"data": WAV}, "[audio: audio/wav, 44 bytes]"),
    ({"input_audio": {"data": WAV.split(",", 1)[1]}}, "[audio: audio/wav, 44 bytes]"),
    ({"type": "input_audio", "input_audio": {"data": WAV.split(",", 1)[1], "format": "wav"}},
     "[audio: audio/wav, 44 bytes]"),
    ({"file_url": "https://example.com/report.pdf"}, "[file: https://example.com/report.pdf]"),
    ({"url": "https://example.com/notes.txt"}, "[file: https://example.com/notes.txt]"),
    ({"data": "JVBERi0xLjQKJcfsj6IK", "filename": "b.pdf"}, "[file: b.pdf, application/pdf, 15 bytes]"),
    ({"file_data": "data:application/pdf;base64,JVBERi0xLjQK", "filename": "a.pdf"},
     "[file: a.pdf, application/pdf, 9 bytes]"),
    ({"type": "input_file", "file_id": "file-abc"}, "[file: file-abc]"),
    ({"text": "just words"}, "just words"),
])
def test_audio_and_file_parts_are_mentioned(http: httpx.Client, part: dict[str, Any], mention: str) -> None:
    text, images = openai_responses.content_parts([{"type": "input_text", "text": "look:"}, part], "input[0].content")
    assert text == "look:\n" + mention and images == []
    plain = create(http, {"model": MODEL, "input": [{"role": "user", "content": [{"text": "look:"}]}]})
    resp = create(http, {"model": MODEL, "input": [{"role": "user", "content": [{"text": "look:"}, part]}]})
    assert resp["usage"]["input_tokens"] > plain["usage"]["input_tokens"]


# -- stored responses ---------------------------------------------------------------------------------------
def test_retrieve_and_delete(client: OpenAI) -> None:
    resp = client.responses.create(model=MODEL, input="hello")
    assert client.responses.retrieve(resp.id) == resp
    client.responses.delete(resp.id)
    with pytest.raises(openai.NotFoundError):
        client.responses.retrieve(resp.id)
    with pytest.raises(openai.NotFoundError):
        client.responses.delete(resp.id)
    with pytest.raises(openai.NotFoundError) as exc:
        client.responses.create(model=MODEL, input="again", previous_response_id=resp.id)
    assert exc.value.code == "previous_response_not_found"


def test_unknown_previous_response_id_is_a_clear_404(client: OpenAI, http: httpx.Client) -> None:
    with pytest.raises(openai.NotFoundError) as exc:
        client.responses.create(model=MODEL, input="hi", previous_response_id="resp_from_another_node")
    assert exc.value.status_code == 404 and exc.value.code == "previous_response_not_found"
    r = http.post("/v1/responses", json={"model": MODEL, "input": "hi", "previous_response_id": "resp_nope"})
    err = error_of(r)
    assert r.status_code == 404 and err["param"] == "previous_response_id" and "resp_nope" in err["message"]


def test_previous_response_chains_and_drops_old_instructions(http: httpx.Client) -> None:
    first = create(http, {"model": MODEL, "input": "what is 6*7", "instructions": "Answer in numbers."})
    second = create(http, {"model": MODEL, "input": "and again", "previous_response_id": first["id"]})
    third = create(http, {"model": MODEL, "input": "once more", "previous_response_id": second["id"]})
    assert second["instructions"] is None
    # each turn carries the whole conversation before it
    assert first["usage"]["input_tokens"] < second["usage"]["input_tokens"] < third["usage"]["input_tokens"]
    whole = create(http, {"model": MODEL, "input": [
        {"role": "user", "content": "what is 6*7"}, *first["output"], {"role": "user", "content": "and again"},
        *second["output"], {"role": "user", "content": "once more"}]})
    assert without_ids(whole)["output"] == without_ids(third)["output"]


def test_store_false_is_not_kept(http: httpx.Client) -> None:
    resp = create(http, {"model": MODEL, "input": "hello", "store": False})
    assert resp["store"] is False
    assert http.get(f"/v1/responses/{resp['id']}").status_code == 404


async def test_store_is_bounded(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(openai_responses, "MAX_STORED", 3)
    mock = OpenAIMock()
    async with httpx.AsyncClient(transport=httpx.ASGITransport(mock), base_url="http://mock", headers={"authorization": "Bearer test-key"}) as c:
        ids = [(await c.post("/v1/responses", json={"model": MODEL, "input": f"hi {i}"})).json()["id"]
               for i in range(5)]
        assert list(mock.responses) == ids[2:]
        assert (await c.get(f"/v1/responses/{ids[1]}")).status_code == 404
        assert (await c.get(f"/v1/responses/{ids[2]}")).status_code == 200


# -- bad inputs ----------------------------------------------------------------------------------------------
TOOL = {"type": "function", "name": "calc", "parameters": CALC}
BAD: list[tuple[str, Any, int, str | None]] = [
    ("broken json", b'{"model": "gpt-4.1-mini", "input": ', 400, None),
    ("not an object", b"[1, 2]", 400, None),
    ("input missing", {"model": MODEL}, 400, "input"),
    ("model missing", {"input": "hi"}, 400, "model"),
    ("input a number", {"model": MODEL, "input": 123}, 400, "input"),
    ("input empty", {"model": MODEL, "input": []}, 400, "input"),
    ("content a number", {"model": MODEL, "input": [{"role": "user", "content": 5}]}, 400, "input"),
    ("unknown role", {"model": MODEL, "input": [{"role": "robot", "content": "hi"}]}, 400, "input"),
    ("tool output without call_id", {"model": MODEL, "input": [{"type": "function_call_output", "output": "6"}]},
     400, "input"),
    ("bad base64 audio", {"model": MODEL, "input": [{"role": "user", "content": [
        {"type": "input_audio", "input_audio": {"data": "!!!", "format": "wav"}}]}]},
     400, "input[0].content[0].input_audio.data"),
    ("untyped part with nothing in it", {"model": MODEL, "input": [{"role": "user", "content": [{"filename": "x"}]}]},
     400, "input"),
    ("unknown model", {"model": "gpt-nope", "input": "hi"}, 404, "model"),
    ("image model", {"model": "gpt-image-1", "input": "hi"}, 400, "model"),
    ("model a number", {"model": 4, "input": "hi"}, 400, "model"),
    ("tools not a list", {"model": MODEL, "input": "hi", "tools": "calc"}, 400, "tools"),
    ("built-in tool", {"model": MODEL, "input": "hi", "tools": [{"type": "web_search_preview"}]}, 400, "tools[0]"),
    ("tool without name", {"model": MODEL, "input": "hi", "tools": [{"type": "function", "parameters": CALC}]},
     400, "tools[0]"),
    ("nested names disagree", {"model": MODEL, "input": "hi", "tools": [
        {"type": "function", "name": "a", "function": {"name": "b"}}]}, 400, "tools[0].name"),
    ("tool_choice unknown tool", {"model": MODEL, "input": "hi", "tools": [TOOL],
                                  "tool_choice": {"type": "function", "name": "nope"}}, 400, "tool_choice"),
    ("tool_choice required without tools", {"model": MODEL, "input": "hi", "tool_choice": "required"},
     400, "tool_choice"),
    ("tool_choice bad word", {"model": MODEL, "input": "hi", "tool_choice": "sometimes"}, 400, "tool_choice"),
    ("max_output_tokens a string", {"model": MODEL, "input": "hi", "max_output_tokens": "ten"}, 400,
     "max_output_tokens"),
    ("temperature too high", {"model": MODEL, "input": "hi", "temperature": 5}, 400, "temperature"),
    ("stream a string", {"model": MODEL, "input": "hi", "stream": "yes"}, 400, "stream"),
    ("previous_response_id a number", {"model": MODEL, "input": "hi", "previous_response_id": 7}, 400,
     "previous_response_id"),
    ("json_schema without schema", {"model": MODEL, "input": "hi", "text": {"format": {"type": "json_schema"}}},
     400, "text.format"),
]


@pytest.mark.parametrize(("why", "body", "status", "param"), BAD, ids=[b[0] for b in BAD])
def test_bad_inputs_get_a_4xx_naming_the_param(http: httpx.Client, why: str, body: Any, status: int,
                                               param: str | None) -> None:
    if isinstance(body, bytes):
        r = http.post("/v1/responses", content=body, headers={"content-type": "application/json"})
    else:
        r = http.post("/v1/responses", json=body)
    assert r.status_code == status, r.text
    err = error_of(r)
    assert err["type"] == "invalid_request_error" and err["message"]
    if param is None:
        assert err["param"] is None
    else:
        assert (err["param"] or "").startswith(param), err


def test_reference_validation_is_not_vacuous(http: httpx.Client) -> None:
    resp = create(http, {"model": MODEL, "input": "hi"})
    assert openai_errors("Response", {**resp, "output": [{"type": "message", "content": []}]})
    assert openai_errors("Response", {k: v for k, v in resp.items() if k != "tools"})
    delta = next(e for e in stream(http, {"model": MODEL, "input": "hi"}) if e["type"] == "response.output_text.delta")
    assert openai_errors("ResponseTextDeltaEvent", {k: v for k, v in delta.items() if k != "logprobs"})



RICH = {"model": MODEL, "instructions": "x", "max_output_tokens": 64, "temperature": 1, "top_p": 1,
        "input": [{"role": "user", "content": [
            {"type": "input_text", "text": "what is 1+5"}, {"text": "a"}, {"image_url": "data:image/png;base64,iVBO"},
            {"type": "input_audio", "input_audio": {"data": "UklGRg==", "format": "wav"}},
            {"type": "input_file", "file_data": "JVBERi0=", "filename": "a.pdf"}]},
            {"type": "function_call", "call_id": "c1", "name": "calc", "arguments": "{}"},
            {"type": "function_call_output", "call_id": "c1", "output": [{"type": "input_text", "text": "6"}]}],
        "tools": [{"name": "calc", "type": "function", "function": {"name": "calc", "description": "d",
                                                                    "parameters": CALC}}],
        "tool_choice": {"type": "function", "name": "calc"}, "parallel_tool_calls": True, "store": True,
        "text": {"format": {"type": "json_schema", "name": "n", "schema": CALC}}, "metadata": {}}


def _paths(obj: Any, at: tuple = ()) -> list[tuple]:
    inner = obj.items() if isinstance(obj, dict) else enumerate(obj) if isinstance(obj, list) else []
    return [at, *(p for k, v in inner for p in _paths(v, (*at, k)))]


def _replaced(obj: Any, at: tuple, value: Any) -> Any:
    if not at:
        return value
    out = copy.deepcopy(obj)
    parent = out
    for k in at[:-1]:
        parent = parent[k]
    parent[at[-1]] = value
    return out


async def test_no_value_anywhere_gives_a_500() -> None:
    mock = OpenAIMock()
    async with httpx.AsyncClient(transport=httpx.ASGITransport(mock, raise_app_exceptions=False),
                                 base_url="http://mock", headers={"authorization": "Bearer test-key"}) as c:
        assert (await c.post("/v1/responses", json=RICH)).status_code == 200
        for at in _paths(RICH)[1:]:
            for value in (None, 0, "x", [], {}):
                r = await c.post("/v1/responses", json=_replaced(RICH, at, value))
                assert r.status_code < 500, (at, value, r.text)
                assert r.status_code == 200 or error_of(r)["message"]


def test_explicit_nulls_read_as_not_given(http: httpx.Client) -> None:
    """The API reads null as "not given" (issue 14) and answers `user: null` when none was given."""
    body = {"model": MODEL, "input": "Write a story about a magic backpack."}
    plain = create(http, body)
    nulls = dict.fromkeys(("user", "tools", "tool_choice", "text", "parallel_tool_calls", "instructions",
                           "max_output_tokens", "metadata", "temperature", "reasoning", "include", "truncation"))
    resp = create(http, {**body, **nulls})
    assert without_ids(resp)["output"] == without_ids(plain)["output"]
    assert plain.get("user") is None and resp.get("user") is None
