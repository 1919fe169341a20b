"""Conversion between chat completions, Responses and Gemini, field by field and both ways
(gateway/relay/dialects/*_convert.py), without a network: requests, JSON answers and streams."""

from __future__ import annotations

import orjson
import pytest

from gateway.relay.dialects import gemini_convert as gc
from gateway.relay.dialects import responses_convert as rc
from gateway.relay.dialects.convert import ChatRender
from gateway.relay.dialects.neutral import ChatPassthrough, ConvertMeter, Unsupported, upstream_dialect
from specs import sse, streams

PNG_B64 = "iVBORw0KGgo="
SCHEMA = {"type": "object", "properties": {"expr": {"type": "string"}}, "required": ["expr"]}

# one Gemini request using every field the conversion maps
GEMINI_REQUEST = {
    "systemInstruction": {"parts": [{"text": "be brief"}]},
    "contents": [
        {"role": "user", "parts": [{"text": "what is in the picture, and 1+5?"},
                                   {"inlineData": {"mimeType": "image/png", "data": PNG_B64}},
                                   {"fileData": {"mimeType": "image/jpeg", "fileUri": "https://x.test/cat.jpg"}}]},
        {"role": "model", "parts": [{"text": "let me compute"},
                                    {"functionCall": {"id": "call_1", "name": "calc", "args": {"expr": "1+5"}}}]},
        {"role": "user", "parts": [{"functionResponse": {"id": "call_1", "name": "calc", "response": {"result": 6}}}]},
    ],
    "tools": [{"functionDeclarations": [{"name": "calc", "description": "evaluate", "parametersJsonSchema": SCHEMA}]}],
    "toolConfig": {"functionCallingConfig": {"mode": "ANY", "allowedFunctionNames": ["calc"]}},
    "generationConfig": {"temperature": 0.2, "topP": 0.9, "maxOutputTokens": 100, "stopSequences": ["END"],
                         "candidateCount": 2, "seed": 7, "presencePenalty": 0.1, "frequencyPenalty": 0.2,
                         "responseMimeType": "application/json", "responseJsonSchema": SCHEMA},
}
CHAT_REQUEST = {
    "model": "m",
    "messages": [
        {"role": "system", "content": "be brief"},
        {"role": "user", "content": [{"type": "text", "text": "what is in the picture, and 1+5?"},
                                     {"type": "image_url", "image_url": {"url": f"data:image/png;base64,{PNG_B64}"}},
                                     {"type": "image_url", "image_url": {"url": "https://x.test/cat.jpg"}}]},
        {"role": "assistant", "content": "let me compute", "tool_calls": [
            {"id": "call_1", "type": "function", "function": {"name": "calc", "arguments": '{"expr":"1+5"}'}}]},
        {"role": "tool", "tool_call_id": "call_1", "content": '{"result":6}'},
    ],
    "tools": [{"type": "function", "function": {"name": "calc", "description": "evaluate", "parameters": SCHEMA}}],
    "tool_choice": {"type": "function", "function": {"name": "calc"}},
    "temperature": 0.2, "top_p": 0.9, "max_completion_tokens": 100, "stop": ["END"], "n": 2, "seed": 7,
    "presence_penalty": 0.1, "frequency_penalty": 0.2,
    "response_format": {"type": "json_schema", "json_schema": {"name": "response", "schema": SCHEMA}},
}


def test_gemini_request_to_chat_maps_every_field():
    assert gc.request_to_chat(GEMINI_REQUEST, "m", stream=False) == CHAT_REQUEST


def test_chat_request_to_gemini_maps_every_field():
    assert gc.request_from_chat(CHAT_REQUEST) == GEMINI_REQUEST


def test_gemini_request_stream_and_plain_forms():
    out = gc.request_to_chat({"contents": [{"parts": [{"text": "hi"}]}],
                              "generationConfig": {"responseMimeType": "application/json"}}, "m", stream=True)
    assert out["messages"] == [{"role": "user", "content": "hi"}]
    assert out["response_format"] == {"type": "json_object"}
    assert out["stream"] is True and out["stream_options"] == {"include_usage": True}


@pytest.mark.parametrize(("config", "choice"), [
    ({"mode": "AUTO"}, "auto"), ({"mode": "NONE"}, "none"), ({"mode": "ANY"}, "required"),
    ({"mode": "ANY", "allowedFunctionNames": ["f"]}, {"type": "function", "function": {"name": "f"}})])
def test_tool_choice_both_ways(config, choice):
    body = {"contents": [{"parts": [{"text": "x"}]}], "toolConfig": {"functionCallingConfig": config}}
    assert gc.request_to_chat(body, "m", stream=False)["tool_choice"] == choice
    assert gc.request_from_chat({"messages": [], "tool_choice": choice})["toolConfig"]["functionCallingConfig"] == config


def test_gemini_schema_becomes_json_schema():
    decl = {"functionDeclarations": [{"name": "f", "parameters": {
        "type": "OBJECT", "properties": {"a": {"type": "STRING", "nullable": True},
                                         "b": {"type": "ARRAY", "items": {"type": "INTEGER"}}},
        "propertyOrdering": ["a", "b"]}}]}
    out = gc.request_to_chat({"contents": [], "tools": [decl]}, "m", stream=False)
    assert out["tools"][0]["function"]["parameters"] == {
        "type": "object", "properties": {"a": {"type": ["string", "null"]},
                                         "b": {"type": "array", "items": {"type": "integer"}}}}


def test_function_response_without_id_is_matched_by_name():
    body = {"contents": [
        {"role": "model", "parts": [{"functionCall": {"name": "calc", "args": {}}}]},
        {"role": "user", "parts": [{"functionResponse": {"name": "calc", "response": {"r": 1}}}]}]}
    msgs = gc.request_to_chat(body, "m", stream=False)["messages"]
    assert msgs[1]["tool_call_id"] == msgs[0]["tool_calls"][0]["id"]


def test_chat_tool_result_text_and_consecutive_turns():
    out = gc.request_from_chat({"messages": [
        {"role": "developer", "content": "rules"},
        {"role": "assistant", "content": None, "tool_calls": [
            {"id": "a", "type": "function", "function": {"name": "f", "arguments": "{}"}},
            {"id": "b", "type": "function", "function": {"name": "g", "arguments": "{}"}}]},
        {"role": "tool", "tool_call_id": "a", "content": "plain text"},
        {"role": "tool", "tool_call_id": "b", "content": [{"type": "text", "text": "{\"ok\":true}"}]}],
        "max_tokens": 9, "stop": "X"})
    assert out["systemInstruction"] == {"parts": [{"text": "rules"}]}
    assert out["generationConfig"] == {"maxOutputTokens": 9, "stopSequences": ["X"]}
    results = out["contents"][1]
    assert results["role"] == "user" and [p["functionResponse"] for p in results["parts"]] == [
        {"name": "f", "response": {"result": "plain text"}, "id": "a"},
        {"name": "g", "response": {"ok": True}, "id": "b"}]


@pytest.mark.parametrize(("body", "param"), [
    ({"logit_bias": {"1": 1}}, "logit_bias"), ({"logprobs": True}, "logprobs"),
    ({"parallel_tool_calls": False}, "parallel_tool_calls"), ({"audio": {}}, "audio"),
    ({"messages": [{"role": "user", "content": [{"type": "input_audio"}]}]}, "messages[0].content[0]"),
    ({"messages": [{"role": "user", "content": "x", "name": "bob"}]}, "messages[0].name"),
    ({"messages": [{"role": "user", "content": [{"type": "image_url", "image_url": {"url": "https://h/img"}}]}]},
     "messages[0].content[0]"),
    ({"tools": [{"type": "custom"}]}, "tools[0]"), ({"response_format": {"type": "grammar"}}, "response_format"),
])
def test_chat_fields_gemini_cannot_carry_are_refused(body, param):
    with pytest.raises(Unsupported) as info:
        gc.request_from_chat({"messages": [], **body})
    assert info.value.status == 400 and info.value.param == param


@pytest.mark.parametrize(("body", "param"), [
    ({"cachedContent": "c"}, "cachedContent"), ({"safetySettings": []}, "safetySettings"),
    ({"generationConfig": {"topK": 3}}, "generationConfig.topK"),
    ({"generationConfig": {"responseMimeType": "text/x.enum"}}, "generationConfig.responseMimeType"),
    ({"tools": [{"googleSearch": {}}]}, "tools[0]"),
    ({"contents": [{"parts": [{"executableCode": {}}]}]}, "contents[0].parts[0]"),
    ({"contents": [{"parts": [{"inlineData": {"mimeType": "audio/wav", "data": "AA"}}]}]}, "contents[0].parts[0].inlineData"),
    ({"toolConfig": {"functionCallingConfig": {"mode": "ANY", "allowedFunctionNames": ["a", "b"]}}}, "toolConfig"),
])
def test_gemini_fields_chat_cannot_carry_are_refused(body, param):
    with pytest.raises(Unsupported) as info:
        gc.request_to_chat({"contents": [], **body}, "m", stream=False)
    assert info.value.param == param


# -- answers ------------------------------------------------------------------------------------------------------

GEMINI_ANSWER = {
    "candidates": [
        {"content": {"role": "model", "parts": [{"text": "thinking", "thought": True}, {"text": "six"}]},
         "finishReason": "STOP", "index": 0},
        {"content": {"role": "model", "parts": [{"functionCall": {"id": "c9", "name": "calc", "args": {"e": 1}}}]},
         "finishReason": "STOP", "index": 1},
        {"content": {"role": "model", "parts": [{"text": "cut"}]}, "finishReason": "MAX_TOKENS", "index": 2},
        {"content": {"role": "model", "parts": [{"text": ""}]}, "finishReason": "SAFETY", "index": 3}],
    "usageMetadata": {"promptTokenCount": 5, "candidatesTokenCount": 7, "thoughtsTokenCount": 2, "totalTokenCount": 14},
    "modelVersion": "gemini-x", "responseId": "r1"}


def test_gemini_answer_to_chat():
    out = gc.answer_to_chat(GEMINI_ANSWER, "m")
    assert out["object"] == "chat.completion" and out["model"] == "m" and out["id"] == "chatcmpl-r1"
    c0, c1, c2, c3 = out["choices"]
    assert c0["message"]["content"] == "six" and c0["message"]["reasoning_content"] == "thinking"
    assert c0["finish_reason"] == "stop"
    assert c1["finish_reason"] == "tool_calls" and c1["message"]["tool_calls"] == [
        {"id": "c9", "type": "function", "function": {"name": "calc", "arguments": '{"e":1}'}}]
    assert (c2["finish_reason"], c3["finish_reason"]) == ("length", "content_filter")
    assert out["usage"] == {"prompt_tokens": 5, "completion_tokens": 9, "total_tokens": 14,
                            "completion_tokens_details": {"reasoning_tokens": 2}}


def test_chat_answer_to_gemini_and_back():
    chat = gc.answer_to_chat(GEMINI_ANSWER, "m")
    back = gc.answer_from_chat(chat, "m")
    assert [c["finishReason"] for c in back["candidates"]] == ["STOP", "STOP", "MAX_TOKENS", "SAFETY"]
    assert back["candidates"][0]["content"]["parts"] == [{"text": "thinking", "thought": True}, {"text": "six"}]
    assert back["candidates"][1]["content"]["parts"] == [{"functionCall": {"name": "calc", "args": {"e": 1}, "id": "c9"}}]
    assert back["usageMetadata"] == {"promptTokenCount": 5, "candidatesTokenCount": 9, "totalTokenCount": 14}
    assert streams.Gemini.usage(back) == streams.Chat.usage({**chat, "usage": chat["usage"]}) == (5, 9)


def test_blocked_prompt_is_a_content_filter_finish():
    out = gc.answer_to_chat({"promptFeedback": {"blockReason": "SAFETY"}, "usageMetadata": {"promptTokenCount": 3}}, "m")
    assert out["choices"][0]["finish_reason"] == "content_filter"


# -- Responses ---------------------------------------------------------------------------------------------------

RESPONSES_REQUEST = {
    "model": "m", "instructions": "be brief", "temperature": 0.5, "top_p": 0.7, "max_output_tokens": 50,
    "parallel_tool_calls": True, "user": "u1", "stream": True,
    "input": [
        {"role": "developer", "content": "rules"},
        {"type": "message", "role": "user", "content": [
            {"type": "input_text", "text": "look"},
            {"type": "input_image", "image_url": "https://x.test/a.png", "detail": "low"}]},
        {"type": "function_call", "call_id": "c1", "name": "calc", "arguments": '{"e":1}'},
        {"type": "function_call", "call_id": "c2", "name": "calc", "arguments": '{"e":2}'},
        {"type": "function_call_output", "call_id": "c1", "output": "1"},
        {"type": "function_call_output", "call_id": "c2", "output": [{"type": "input_text", "text": "2"}]},
        {"role": "assistant", "content": [{"type": "output_text", "text": "done"}]}],
    "tools": [{"type": "function", "name": "calc", "description": "d", "parameters": SCHEMA, "strict": True}],
    "tool_choice": {"type": "function", "name": "calc"},
    "text": {"format": {"type": "json_schema", "name": "out", "schema": SCHEMA, "strict": True}},
    "reasoning": {"effort": "low"},
}


def test_responses_request_to_chat_maps_every_field():
    out = rc.request_to_chat(RESPONSES_REQUEST)
    assert out == {
        "model": "m", "temperature": 0.5, "top_p": 0.7, "parallel_tool_calls": True, "user": "u1", "stream": True,
        "stream_options": {"include_usage": True}, "max_completion_tokens": 50, "reasoning_effort": "low",
        "messages": [
            {"role": "system", "content": "be brief"},
            {"role": "developer", "content": "rules"},
            {"role": "user", "content": [{"type": "text", "text": "look"},
                                         {"type": "image_url", "image_url": {"url": "https://x.test/a.png",
                                                                             "detail": "low"}}]},
            {"role": "assistant", "content": None, "tool_calls": [
                {"id": "c1", "type": "function", "function": {"name": "calc", "arguments": '{"e":1}'}},
                {"id": "c2", "type": "function", "function": {"name": "calc", "arguments": '{"e":2}'}}]},
            {"role": "tool", "tool_call_id": "c1", "content": "1"},
            {"role": "tool", "tool_call_id": "c2", "content": "2"},
            {"role": "assistant", "content": [{"type": "text", "text": "done"}]}],
        "tools": [{"type": "function", "function": {"name": "calc", "description": "d", "parameters": SCHEMA,
                                                    "strict": True}}],
        "tool_choice": {"type": "function", "function": {"name": "calc"}},
        "response_format": {"type": "json_schema", "json_schema": {"name": "out", "schema": SCHEMA, "strict": True}},
    }


@pytest.mark.parametrize(("body", "param"), [
    ({"previous_response_id": "resp_1"}, "previous_response_id"), ({"store": True}, "store"),
    ({"background": True}, "background"), ({"include": ["reasoning.encrypted_content"]}, "include"),
    ({"tools": [{"type": "web_search"}]}, "tools[0].type"), ({"prompt": {"id": "p"}}, "prompt"),
    ({"input": [{"type": "reasoning", "summary": []}]}, "input[0].type"),
    ({"input": [{"role": "user", "content": [{"type": "input_image", "file_id": "f"}]}]}, "input[0].content[0].file_id"),
    ({"input": [{"role": "user", "content": [{"type": "input_file", "file_id": "f"}]}]}, "input[0].content[0].type"),
    ({"text": {"format": {"type": "grammar"}}}, "text.format.type"),
])
def test_responses_fields_chat_cannot_carry_are_refused(body, param):
    with pytest.raises(Unsupported) as info:
        rc.request_to_chat({"model": "m", "input": "x", **body})
    assert info.value.param == param


def test_chat_answer_to_responses():
    chat = {"id": "x", "created": 5, "choices": [{"index": 0, "finish_reason": "tool_calls", "message": {
        "role": "assistant", "content": "calling", "tool_calls": [
            {"id": "c1", "type": "function", "function": {"name": "calc", "arguments": "{}"}}]}}],
        "usage": {"prompt_tokens": 3, "completion_tokens": 4,
                  "prompt_tokens_details": {"cached_tokens": 1}, "completion_tokens_details": {"reasoning_tokens": 2}}}
    out = rc.answer_from_chat(chat, {"instructions": "i", "temperature": 0.3}, "m")
    assert out["object"] == "response" and out["status"] == "completed" and out["model"] == "m"
    assert out["instructions"] == "i" and out["temperature"] == 0.3 and out["created_at"] == 5
    msg, call = out["output"]
    assert msg["content"][0]["text"] == "calling" and msg["role"] == "assistant"
    assert (call["type"], call["call_id"], call["name"], call["arguments"]) == ("function_call", "c1", "calc", "{}")
    assert out["usage"] == {"input_tokens": 3, "input_tokens_details": {"cached_tokens": 1, "cache_write_tokens": 0},
                            "output_tokens": 4,
                            "output_tokens_details": {"reasoning_tokens": 2}, "total_tokens": 7}
    cut = rc.answer_from_chat({"choices": [{"finish_reason": "length", "message": {"content": "ab"}}]}, {}, "m")
    assert cut["status"] == "incomplete" and cut["incomplete_details"] == {"reason": "max_output_tokens"}
    assert cut["output"][0]["status"] == "incomplete"


# -- streams -----------------------------------------------------------------------------------------------------


def gemini_events(*objs: dict) -> bytes:
    return b"".join(sse.encode(o, crlf=True) for o in objs)


GEMINI_STREAM = gemini_events(
    {"candidates": [{"content": {"role": "model", "parts": [{"text": "Hel"}]}, "index": 0}],
     "usageMetadata": {"promptTokenCount": 4, "candidatesTokenCount": 1}},
    {"candidates": [{"content": {"role": "model", "parts": [{"text": "lo"},
                                                            {"functionCall": {"name": "f", "args": {"a": 1}}}]},
                     "finishReason": "STOP", "index": 0}],
     "usageMetadata": {"promptTokenCount": 4, "candidatesTokenCount": 3, "totalTokenCount": 7}})


def feed_all(meter: ConvertMeter, data: bytes, step: int = 7) -> bytes:
    """Feed in small pieces (events split anywhere), then finish."""
    out = b""
    for i in range(0, len(data), step):
        out += meter.feed(data[i:i + step])[0]
    return out + meter.finish()


def test_gemini_stream_to_chat_client():
    meter = ConvertMeter("gemini", gc.StreamToChat("m"), ChatRender("m", want_usage=True))
    events = sse.parse(feed_all(meter, GEMINI_STREAM))
    assert events[-1].is_done and meter.complete
    chunks = [e.json() for e in events[:-1]]
    assert chunks[0]["choices"][0]["delta"] == {"role": "assistant", "content": "Hel"}
    assert chunks[1]["choices"][0]["delta"]["tool_calls"][0]["function"] == {"name": "f", "arguments": '{"a":1}'}
    assert chunks[1]["choices"][0]["finish_reason"] == "tool_calls"
    assert chunks[-1]["choices"] == [] and chunks[-1]["usage"]["completion_tokens"] == 3
    assert (meter.prompt_tokens, meter.completion_tokens, meter.output_events) == (4, 3, 2)
    assert all(c["model"] == "m" and c["object"] == "chat.completion.chunk" for c in chunks)


def test_gemini_stream_to_responses_client():
    meter = ConvertMeter("gemini", gc.StreamToChat("m"), rc.StreamFromChat({}, "m"))
    events = [e.json() for e in sse.parse(feed_all(meter, GEMINI_STREAM))]
    assert [e["sequence_number"] for e in events] == list(range(len(events)))
    kinds = [e["type"] for e in events]
    assert kinds[0] == "response.created" and kinds[-1] == "response.completed"
    assert "".join(e["delta"] for e in events if e["type"] == "response.output_text.delta") == "Hello"
    final = events[-1]["response"]
    assert [o["type"] for o in final["output"]] == ["message", "function_call"]
    assert final["output"][1]["arguments"] == '{"a":1}' and final["usage"]["output_tokens"] == 3
    assert sum(streams.Responses.output(e) for e in events) == 3


CHAT_STREAM = b"".join(sse.encode(o) for o in [
    {"id": "c", "choices": [{"index": 0, "delta": {"role": "assistant", "content": ""}}]},
    {"id": "c", "choices": [{"index": 0, "delta": {"content": "Hi"}}]},
    {"id": "c", "choices": [{"index": 0, "delta": {"tool_calls": [
        {"index": 0, "id": "k1", "type": "function", "function": {"name": "f", "arguments": '{"a"'}}]}}]},
    {"id": "c", "choices": [{"index": 0, "delta": {"tool_calls": [{"index": 0, "function": {"arguments": ":2}"}}]}}]},
    {"id": "c", "choices": [{"index": 0, "delta": {}, "finish_reason": "tool_calls"}]},
    {"id": "c", "choices": [], "usage": {"prompt_tokens": 2, "completion_tokens": 5, "total_tokens": 7}},
]) + sse.encode_done()


@pytest.mark.parametrize("sse_form", [True, False], ids=["sse", "array"])
def test_chat_stream_to_gemini_client(sse_form):
    meter = ConvertMeter("chat", ChatPassthrough(), gc.StreamFromChat("m", sse_form))
    body = feed_all(meter, CHAT_STREAM)
    objs = [e.json() for e in sse.parse(body)] if sse_form else orjson.loads(body)
    assert objs[0]["candidates"][0]["content"]["parts"] == [{"text": "Hi"}]
    last = objs[-1]
    assert last["candidates"][0]["finishReason"] == "STOP"
    assert last["candidates"][0]["content"]["parts"] == [{"functionCall": {"name": "f", "args": {"a": 2}, "id": "k1"}}]
    assert last["usageMetadata"] == {"promptTokenCount": 2, "candidatesTokenCount": 5, "totalTokenCount": 7}
    assert (meter.prompt_tokens, meter.completion_tokens) == (2, 5)


def test_a_cut_converted_stream_is_incomplete_and_ends_cleanly():
    meter = ConvertMeter("chat", ChatPassthrough(), gc.StreamFromChat("m", False))
    out = meter.feed(CHAT_STREAM[:200])[0]
    assert meter.finish() == b"" and not meter.complete
    closed = out + meter.error_tail(b'{"error":{"code":502}}')
    assert orjson.loads(closed)[-1] == {"error": {"code": 502}}


def test_a_node_error_event_becomes_the_clients():
    meter = ConvertMeter("chat", ChatPassthrough(), ChatRender("m", True))
    out = meter.feed(sse.encode({"error": {"message": "boom"}}))[0]
    assert meter.complete and meter.upstream_error == "boom"
    assert sse.parse(out)[0].json()["error"]["message"] == "boom"


def test_upstream_dialect_follows_the_provider():
    assert upstream_dialect("responses", "openai") == "responses"
    assert upstream_dialect("responses", "openai-chat") == "chat"
    assert upstream_dialect("gemini", "openai") == "chat"
    assert upstream_dialect("chat", "gemini") == "gemini"
