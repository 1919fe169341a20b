"""Every text model through every dialect, with the official SDKs unmodified: openai calls
gemini-2.5-flash (a Gemini node) through chat completions and Responses, google-genai calls
gpt-4.1-mini (OpenAI nodes) through generateContent and streamGenerateContent. Usage records
carry the node's own token counts."""

from __future__ import annotations

import json

import httpx
import openai
import pytest
from gateway_stack import stack  # noqa: F401
from google import genai
from google.genai import types

GEMINI_MODEL = "gemini-2.5-flash"
OPENAI_MODEL = "gpt-4.1-mini"
CALC = {"type": "function", "function": {
    "name": "calc", "description": "evaluate an arithmetic expression",
    "parameters": {"type": "object", "properties": {"expr": {"type": "string"}}, "required": ["expr"]}}}
CALC_RESPONSES = {"type": "function", "name": "calc", "description": "evaluate an arithmetic expression",
                  "parameters": CALC["function"]["parameters"]}


@pytest.fixture(scope="module")
def account(stack):  # noqa: F811
    return stack.new_user()


@pytest.fixture(scope="module")
def oai(stack, account):  # noqa: F811
    client = openai.OpenAI(base_url=stack.base_url + "/v1", api_key=account.key, max_retries=0, timeout=30)
    yield client
    client.close()


@pytest.fixture(scope="module")
def gem(stack, account):  # noqa: F811
    return genai.Client(api_key=account.key, http_options=types.HttpOptions(
        base_url=stack.base_url + "/gemini", api_version="v1beta", timeout=30_000))


def last_record(stack, account, endpoint: str) -> dict:  # noqa: F811
    stack.flush_usage()
    return next(r for r in stack.usage(account.id) if r["endpoint"] == endpoint)


# -- openai SDK -> a Gemini node --------------------------------------------------------------------------


def test_chat_to_gemini_plain(oai, stack, account):  # noqa: F811
    out = oai.chat.completions.create(model=GEMINI_MODEL, messages=[
        {"role": "system", "content": "You are terse."}, {"role": "user", "content": "what is 12*7"}],
        temperature=0.2, top_p=0.9, max_tokens=200, stop=["ZZZ"])
    assert out.object == "chat.completion" and out.model == GEMINI_MODEL
    assert "84" in out.choices[0].message.content
    assert out.choices[0].finish_reason == "stop"
    assert out.usage.completion_tokens > 0 and out.usage.prompt_tokens > 0
    rec = last_record(stack, account, "chat.completions")
    assert rec["model"] == GEMINI_MODEL and rec["node"] == "gemini" and rec["status"] == 200
    assert (rec["prompt_tokens"], rec["completion_tokens"]) == (out.usage.prompt_tokens, out.usage.completion_tokens)


def test_chat_to_gemini_n_candidates(oai):
    out = oai.chat.completions.create(model=GEMINI_MODEL, n=2, messages=[{"role": "user", "content": "say hi"}])
    assert [c.index for c in out.choices] == [0, 1]


def test_chat_to_gemini_stream_with_usage(oai, stack, account):  # noqa: F811
    chunks = list(oai.chat.completions.create(model=GEMINI_MODEL, stream=True, stream_options={"include_usage": True},
                                              messages=[{"role": "user", "content": "帮我计算1+5等于多少"}]))
    with_usage = [c for c in chunks if c.usage is not None]
    assert len(with_usage) == 1 and with_usage[0] is chunks[-1] and with_usage[0].choices == []
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert "6" in text
    assert [c.choices[0].finish_reason for c in chunks if c.choices and c.choices[0].finish_reason] == ["stop"]
    rec = last_record(stack, account, "chat.completions")
    assert rec["stream"] and rec["completion_tokens"] == with_usage[0].usage.completion_tokens > 0


def test_chat_to_gemini_stream_without_usage(oai):
    chunks = list(oai.chat.completions.create(model=GEMINI_MODEL, stream=True,
                                              messages=[{"role": "user", "content": "say something"}]))
    assert chunks and all(c.usage is None for c in chunks) and all(c.choices for c in chunks)


def test_chat_to_gemini_tool_call_and_result(oai):
    messages = [{"role": "user", "content": "帮我计算1+5等于多少"}]
    called = oai.chat.completions.create(model=GEMINI_MODEL, messages=messages, tools=[CALC])
    choice = called.choices[0]
    assert choice.finish_reason == "tool_calls"
    (call,) = choice.message.tool_calls
    assert call.function.name == "calc" and call.id
    assert json.loads(call.function.arguments)["expr"].replace(" ", "") == "1+5"
    messages += [choice.message.model_dump(exclude_none=True),
                 {"role": "tool", "tool_call_id": call.id, "content": "result: 6 (from calc 9931)"}]
    answer = oai.chat.completions.create(model=GEMINI_MODEL, messages=messages, tools=[CALC])
    assert "9931" in answer.choices[0].message.content

    streamed = list(oai.chat.completions.create(model=GEMINI_MODEL, stream=True, tools=[CALC],
                                                messages=[{"role": "user", "content": "帮我计算1+5等于多少"}]))
    calls = [tc for c in streamed if c.choices for tc in c.choices[0].delta.tool_calls or ()]
    assert calls and calls[0].function.name == "calc" and calls[0].id


def test_chat_to_gemini_json_schema(oai):
    schema = {"type": "object", "properties": {"answer": {"type": "integer"}}, "required": ["answer"]}
    out = oai.chat.completions.create(model=GEMINI_MODEL, messages=[{"role": "user", "content": "what is 2+2"}],
                                      response_format={"type": "json_schema",
                                                       "json_schema": {"name": "sum", "schema": schema}})
    assert isinstance(json.loads(out.choices[0].message.content), dict)


def test_chat_to_gemini_refuses_what_it_cannot_carry(oai):
    with pytest.raises(openai.BadRequestError) as info:
        oai.chat.completions.create(model=GEMINI_MODEL, messages=[{"role": "user", "content": "hi"}],
                                    logit_bias={"50256": -100})
    assert info.value.code == "unsupported_parameter" and info.value.param == "logit_bias"


def test_responses_to_gemini(oai, stack, account):  # noqa: F811
    resp = oai.responses.create(model=GEMINI_MODEL, input="帮我计算1+5等于多少", instructions="be brief",
                                max_output_tokens=200)
    assert resp.status == "completed" and "6" in resp.output_text and resp.model == GEMINI_MODEL
    assert resp.usage.output_tokens > 0
    rec = last_record(stack, account, "responses")
    assert rec["node"] == "gemini" and rec["completion_tokens"] == resp.usage.output_tokens

    events = list(oai.responses.create(model=GEMINI_MODEL, input="what is 2+2", stream=True))
    kinds = [e.type for e in events]
    assert kinds[:2] == ["response.created", "response.in_progress"] and kinds[-1] == "response.completed"
    assert [e.sequence_number for e in events] == list(range(len(events)))
    text = "".join(e.delta for e in events if e.type == "response.output_text.delta")
    assert "4" in text and events[-1].response.output_text == text
    assert events[-1].response.usage.output_tokens > 0


def test_responses_to_gemini_tool_call_and_result(oai):
    called = oai.responses.create(model=GEMINI_MODEL, input="帮我计算1+5等于多少", tools=[CALC_RESPONSES])
    (call,) = [o for o in called.output if o.type == "function_call"]
    assert call.name == "calc" and json.loads(call.arguments)["expr"].replace(" ", "") == "1+5"
    answer = oai.responses.create(model=GEMINI_MODEL, tools=[CALC_RESPONSES], input=[
        {"role": "user", "content": "帮我计算1+5等于多少"},
        {"type": "function_call", "call_id": call.call_id, "name": call.name, "arguments": call.arguments},
        {"type": "function_call_output", "call_id": call.call_id, "output": "result: 6 (from calc 9931)"}])
    assert "9931" in answer.output_text

    events = list(oai.responses.create(model=GEMINI_MODEL, input="帮我计算1+5等于多少", tools=[CALC_RESPONSES],
                                       stream=True))
    done = [e for e in events if e.type == "response.function_call_arguments.done"]
    assert done and json.loads(done[0].arguments)["expr"].replace(" ", "") == "1+5"
    assert events[-1].response.output[0].type == "function_call"


def test_responses_to_gemini_refuses_previous_response_id(oai):
    first = oai.responses.create(model=GEMINI_MODEL, input="hi")
    with pytest.raises(openai.BadRequestError) as info:
        oai.responses.create(model=GEMINI_MODEL, input="and again", previous_response_id=first.id)
    assert info.value.param == "previous_response_id" and "whole conversation" in info.value.message


# -- google-genai -> OpenAI nodes ---------------------------------------------------------------------------


def test_genai_to_openai_plain(gem, stack, account):  # noqa: F811
    out = gem.models.generate_content(model=OPENAI_MODEL, contents="what is 3+4", config=types.GenerateContentConfig(
        system_instruction="be brief", temperature=0.3, top_p=0.8, max_output_tokens=200, stop_sequences=["ZZZ"]))
    assert "7" in out.text
    assert out.usage_metadata.candidates_token_count > 0
    assert out.candidates[0].finish_reason == types.FinishReason.STOP
    rec = last_record(stack, account, "gemini.generateContent")
    assert rec["node"].startswith("openai-") and rec["completion_tokens"] == out.usage_metadata.candidates_token_count


def test_genai_to_openai_stream(gem, stack, account):  # noqa: F811
    pieces = list(gem.models.generate_content_stream(model=OPENAI_MODEL, contents="Write a story about a magic backpack.",
                                                     config=types.GenerateContentConfig(max_output_tokens=64)))
    assert len(pieces) > 1 and "".join(p.text or "" for p in pieces)
    assert pieces[-1].usage_metadata.candidates_token_count > 0
    assert pieces[-1].candidates[0].finish_reason is not None
    rec = last_record(stack, account, "gemini.streamGenerateContent")
    assert rec["stream"] and rec["completion_tokens"] == pieces[-1].usage_metadata.candidates_token_count


def test_genai_to_openai_function_call_and_response(gem):
    tool = types.Tool(function_declarations=[types.FunctionDeclaration(
        name="calc", description="evaluate an arithmetic expression",
        parameters=types.Schema(type="OBJECT", properties={"expr": types.Schema(type="STRING")}, required=["expr"]))])
    config = types.GenerateContentConfig(tools=[tool],
                                         automatic_function_calling=types.AutomaticFunctionCallingConfig(disable=True))
    question = types.Content(role="user", parts=[types.Part(text="帮我计算1+5等于多少")])
    called = gem.models.generate_content(model=OPENAI_MODEL, contents=[question], config=config)
    (call,) = called.function_calls
    assert call.name == "calc" and call.args["expr"].replace(" ", "") == "1+5"
    reply = types.Content(role="user", parts=[types.Part(function_response=types.FunctionResponse(
        id=call.id, name="calc", response={"result": "6 (from calc 9931)"}))])
    answer = gem.models.generate_content(model=OPENAI_MODEL, contents=[question, called.candidates[0].content, reply],
                                         config=config)
    assert "9931" in answer.text

    pieces = list(gem.models.generate_content_stream(model=OPENAI_MODEL, contents=[question], config=config))
    calls = [c for p in pieces for c in p.function_calls or ()]
    assert len(calls) == 1 and calls[0].name == "calc"


def test_gemini_array_stream_from_openai(stack, account):  # noqa: F811
    """streamGenerateContent without alt=sse: one JSON array, even converted."""
    r = httpx.post(f"{stack.base_url}/v1beta/models/{OPENAI_MODEL}:streamGenerateContent",
                   headers={"x-goog-api-key": account.key}, timeout=30,
                   json={"contents": [{"role": "user", "parts": [{"text": "what is 3+4"}]}]})
    assert r.status_code == 200 and r.headers["content-type"].startswith("application/json")
    events = r.json()
    assert isinstance(events, list) and len(events) > 1
    assert "7" in "".join(p.get("text", "") for e in events for c in e["candidates"] for p in c["content"]["parts"])
    assert events[-1]["usageMetadata"]["candidatesTokenCount"] > 0 and events[-1]["candidates"][0]["finishReason"]


def test_gemini_refusals_are_in_gemini_shape(stack, account):  # noqa: F811
    r = httpx.post(f"{stack.base_url}/v1beta/models/{OPENAI_MODEL}:generateContent",
                   headers={"x-goog-api-key": account.key}, timeout=30,
                   json={"contents": [{"role": "user", "parts": [{"text": "hi"}]}],
                         "generationConfig": {"topK": 3}})
    assert r.status_code == 400 and r.json()["error"]["status"] == "INVALID_ARGUMENT"
    assert "topK" in r.json()["error"]["message"]
    r = httpx.post(f"{stack.base_url}/v1beta/models/{OPENAI_MODEL}:countTokens",
                   headers={"x-goog-api-key": account.key}, timeout=30,
                   json={"contents": [{"role": "user", "parts": [{"text": "hi"}]}]})
    assert r.status_code == 400 and "countTokens" in r.json()["error"]["message"]


# -- Responses on a chat-only node (provider openai-chat): new-api's most asked-for conversion ----------------


@pytest.fixture(scope="module")
def chat_only(stack):  # noqa: F811
    """A model served by an OpenAI-compatible node that has chat completions only."""
    with stack.console() as admin:
        r = admin.post("/api/node/models", json={"name": "chat-only-mini", "kind": "chat",
                                                 "price": {"input_per_1k": 0.001, "output_per_1k": 0.002}})
        assert r.status_code == 201, r.text
        r = admin.post("/api/node/nodes", json={
            "name": "chat-only", "provider": "openai-chat", "base_url": stack.demo.node_url("openai-b"),
            "api_key": "sk-mock-chat-only", "models": [{"model": "chat-only-mini", "upstream_model": OPENAI_MODEL}]})
        assert r.status_code == 201, r.text
    user = stack.new_user(("chat-only-mini",))
    client = openai.OpenAI(base_url=stack.base_url + "/v1", api_key=user.key, max_retries=0, timeout=30)
    yield client, user
    client.close()


def test_responses_on_a_chat_only_node(chat_only, stack):  # noqa: F811
    client, user = chat_only
    before = stack.mock_requests("openai-b")
    resp = client.responses.create(model="chat-only-mini", input="帮我计算1+5等于多少")
    assert resp.status == "completed" and "6" in resp.output_text and resp.model == "chat-only-mini"
    assert stack.mock_requests("openai-b") == before + 1
    rec = last_record(stack, user, "responses")
    assert rec["node"] == "chat-only" and rec["completion_tokens"] == resp.usage.output_tokens > 0

    events = list(client.responses.create(model="chat-only-mini", input="what is 2+2", stream=True))
    assert events[-1].type == "response.completed" and "4" in events[-1].response.output_text

    with pytest.raises(openai.BadRequestError) as info:
        client.responses.create(model="chat-only-mini", input="hi", tools=[{"type": "web_search"}])
    assert info.value.param == "tools[0].type"


def test_load_chat_stream_on_the_gemini_model(stack, account, tmp_path):  # noqa: F811
    """`topapi load --chat-model gemini-2.5-flash`: the chat scenarios time a converted stream like any other."""
    from load_support import run_load

    if stack.config.database_url and stack.config.database_url.startswith("postgresql"):
        pytest.skip("the store plays no part in load timing: once (SQLite) is enough")
    run = run_load(tmp_path, "--base-url", stack.base_url, "--api-key", account.key, "--scenario", "chat-stream",
                   "--chat-model", GEMINI_MODEL, "-u", "2", "-t", "3s", "--max-tokens", "16")
    assert run.code == 0, run.output
    summary = run.summary
    assert summary["errors"] == 0 and summary["requests"] > 0
    assert summary["metrics"]["ttft_ms"]["count"] == summary["requests"]
    stack.flush_usage()
    nodes = {r["node"] for r in stack.usage(account.id) if r["endpoint"] == "chat.completions" and r["stream"]}
    assert nodes == {"gemini"}


def test_failover_crosses_dialects(stack, oai):  # noqa: F811
    """One model on an OpenAI node (first tier) and a Gemini node (second): when the OpenAI node fails, the
    request goes on to the Gemini node, converted (the conversion was prepared for both before the first try).
    A request only one node can carry goes to that one."""
    with stack.console() as admin:
        r = admin.post("/api/node/models", json={"name": "mixed-mini", "kind": "chat",
                                                 "price": {"input_per_1k": 0.001, "output_per_1k": 0.002}})
        assert r.status_code == 201, r.text
        for name, provider, node, upstream, priority in (
                ("mixed-openai", "openai", "openai-a", OPENAI_MODEL, 1),
                ("mixed-gemini", "gemini", "gemini", GEMINI_MODEL, 0)):
            r = admin.post("/api/node/nodes", json={
                "name": name, "provider": provider, "base_url": stack.demo.node_url(node), "priority": priority,
                "api_key": "sk-mock", "models": [{"model": "mixed-mini", "upstream_model": upstream}]})
            assert r.status_code == 201, r.text
    user = stack.new_user(("mixed-mini",))
    client = openai.OpenAI(base_url=stack.base_url + "/v1", api_key=user.key, max_retries=0, timeout=30)
    try:
        out = client.chat.completions.create(model="mixed-mini", messages=[{"role": "user", "content": "what is 12*7"}])
        assert "84" in out.choices[0].message.content
        assert last_record(stack, user, "chat.completions")["node"] == "mixed-openai"
        with stack.mock_settings("openai-a", fault={"kind": "status", "status": 500, "rate": 1.0}):
            out = client.chat.completions.create(model="mixed-mini",
                                                 messages=[{"role": "user", "content": "what is 12*7"}])
            assert "84" in out.choices[0].message.content and out.model == "mixed-mini"
            rec = last_record(stack, user, "chat.completions")
            assert rec["node"] == "mixed-gemini" and rec["attempts"] == 2
            assert rec["completion_tokens"] == out.usage.completion_tokens
        # a field only the OpenAI node can carry: the Gemini node leaves the plan, the request is not refused
        biased = {"model": "mixed-mini", "messages": [{"role": "user", "content": "hi"}], "logit_bias": {"1": 1}}
        assert client.chat.completions.create(**biased).choices[0].message.content
        assert last_record(stack, user, "chat.completions")["node"] == "mixed-openai"
        with stack.mock_settings("openai-a", fault={"kind": "status", "status": 500, "rate": 1.0}), \
                pytest.raises(openai.InternalServerError):
            client.chat.completions.create(**biased)
    finally:
        client.close()
