"""Failover and circuit breakers, seen from the client and from the mocks' request counters.

The demo has two OpenAI nodes (openai-a weight 3, openai-b weight 1). With openai-b failing
before its first byte (a 500, a connection reset, a hang past the gateway's 2 s read
timeout) every request still succeeds. A stream cut after its first bytes cannot fail over:
the client gets its dialect's error event and the stream ends. After `breaker_threshold`
consecutive failures a node's breaker opens (the node gets no more requests) and closes
again once the node answers after the cool-down.
"""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor

import httpx
import orjson
import pytest
from gateway_stack import stack  # noqa: F401

from specs import sse
from specs.validate import validate

CHAT = {"model": "gpt-4.1-mini", "messages": [{"role": "user", "content": "帮我计算1+5等于多少"}]}
GEMINI_BODY = {"contents": [{"role": "user", "parts": [{"text": "Write a story about a magic backpack."}]}]}
GEMINI_PATH = "/gemini/v1beta/models/gemini-2.5-flash:streamGenerateContent"
FAULTS = {
    "status500": {"kind": "status", "status": 500, "rate": 1.0},
    "reset": {"kind": "reset", "rate": 1.0},
    "hang": {"kind": "hang", "rate": 1.0, "hang_s": 3.0},  # the gateway gives up after 2 s
}
# after the first bytes reached the client: a connection cut, or an event that is not JSON
MID_STREAM = {"cut": {"kind": "cut", "rate": 1.0, "after_chunks": 3},
              "malformed": {"kind": "malformed", "rate": 1.0, "after_chunks": 3}}


def chat(stack, stream: bool) -> httpx.Response:  # noqa: F811
    return stack.http.post("/v1/chat/completions", json={**CHAT, "stream": stream},
                           headers={"Authorization": stack.api_key}, timeout=20)


def assert_chat_ok(r: httpx.Response, stream: bool) -> None:
    assert r.status_code == 200, r.text
    if not stream:
        assert "6" in r.json()["choices"][0]["message"]["content"]
        return
    events = sse.parse(r.content)
    assert events[-1].is_done, r.text
    assert not any("error" in e.json() for e in events[:-1]), r.text
    assert "6" in "".join(e.json()["choices"][0]["delta"].get("content") or "" for e in events[:-1]
                          if e.json()["choices"])


def heal(stack) -> None:  # noqa: F811
    """Wait until both OpenAI nodes serve again (breakers closed): each must answer a request."""
    stack.reset_mocks()
    deadline = time.monotonic() + 2 * stack.config.breaker_cooldown_s + 5
    start = {n: stack.mock_requests(n) for n in ("openai-a", "openai-b")}
    while any(stack.mock_requests(n) == start[n] for n in start):
        assert time.monotonic() < deadline, "the OpenAI nodes did not come back"
        assert_chat_ok(chat(stack, False), False)
        time.sleep(0.02)


@pytest.mark.parametrize("fault", list(FAULTS), ids=list(FAULTS))
def test_requests_succeed_while_a_node_fails(stack, fault):  # noqa: F811
    heal(stack)
    before = stack.mock_requests("openai-b")
    with stack.mock_settings("openai-b", fault=FAULTS[fault]), ThreadPoolExecutor(32) as pool:
        t0 = time.monotonic()
        kinds = [i % 2 == 0 for i in range(32)]  # stream or not
        answers = list(pool.map(lambda s: chat(stack, s), kinds))
        elapsed = time.monotonic() - t0
    for r, stream in zip(answers, kinds, strict=True):
        assert_chat_ok(r, stream)
    # the failing node was tried (else this test proved nothing) and it cost one read timeout at most
    assert stack.mock_requests("openai-b") > before
    assert elapsed < 2.0 + 4.0


def test_breaker_opens_then_closes(stack):  # noqa: F811
    heal(stack)
    threshold, cooldown = stack.config.breaker_threshold, stack.config.breaker_cooldown_s
    with stack.mock_settings("openai-b", fault=FAULTS["status500"]):
        b0 = stack.mock_requests("openai-b")
        for _ in range(300):
            assert_chat_ok(chat(stack, False), False)
            if stack.mock_requests("openai-b") - b0 >= threshold:
                break
        opened = time.monotonic()
        assert stack.mock_requests("openai-b") - b0 == threshold
        # open: the failing node gets nothing, the clients notice nothing (watched for part of the
        # cool-down only, so that no half-open probe can be mistaken for a leak)
        sent = 0
        while sent < 20 and time.monotonic() - opened < 0.6 * cooldown:
            assert_chat_ok(chat(stack, sent % 2 == 1), sent % 2 == 1)
            sent += 1
        assert sent >= 3, "too slow to observe the open breaker"
        assert stack.mock_requests("openai-b") - b0 == threshold
    # the node recovers; after the cool-down one probe passes and the breaker closes
    time.sleep(cooldown + 0.1)
    b1 = stack.mock_requests("openai-b")
    for _ in range(40):
        assert_chat_ok(chat(stack, False), False)
    assert stack.mock_requests("openai-b") - b1 >= 3  # not just the probe: back in the rotation


def test_every_node_failing_gives_a_dialect_error(stack):  # noqa: F811
    heal(stack)
    with stack.mock_settings("openai-a", fault=FAULTS["status500"]), \
            stack.mock_settings("openai-b", fault=FAULTS["reset"]):
        r = chat(stack, False)
        assert r.status_code == 502, r.text
        validate("openai", "ErrorResponse", r.json())
        assert r.json()["error"]["code"] == "upstream_error"
        r = chat(stack, True)  # a stream that never started: a plain error answer too
        assert r.status_code == 502 and r.headers["content-type"].startswith("application/json")
    with stack.mock_settings("gemini", fault=FAULTS["status500"]):
        r = stack.http.post(GEMINI_PATH + "?alt=sse", json=GEMINI_BODY, headers={"x-goog-api-key": stack.api_key})
        assert r.status_code == 502, r.text
        validate("gemini", "ErrorResponse", r.json())
        assert r.json()["error"]["status"] == "UNAVAILABLE"


def timed_post(stack, path: str, body: dict, **kw) -> tuple[httpx.Response, float]:  # noqa: F811
    t0 = time.monotonic()
    r = stack.http.post(path, json=body, headers={"Authorization": stack.api_key}, timeout=10, **kw)
    return r, time.monotonic() - t0


@pytest.mark.parametrize("fault", list(MID_STREAM))
def test_chat_stream_cut_ends_with_error_event(stack, fault):  # noqa: F811
    heal(stack)
    with stack.mock_settings("openai-a", fault=MID_STREAM[fault]), \
            stack.mock_settings("openai-b", fault=MID_STREAM[fault]):
        r, took = timed_post(stack, "/v1/chat/completions", {**CHAT, "stream": True})
    assert r.status_code == 200 and took < 2, r.text
    events = sse.parse(r.content)
    assert len(events) >= 2 and not any(e.is_done for e in events)
    for e in events[:-1]:
        validate("openai", "ChatCompletionChunk", e.json())
    last = events[-1].json()
    validate("openai", "ChatCompletionStreamError", last)
    assert last["error"]["code"] == "upstream_error" and last["error"]["type"] == "server_error"
    assert r.content.endswith(b"\n\n")


@pytest.mark.parametrize("fault", list(MID_STREAM))
def test_responses_stream_cut_ends_with_error_event(stack, fault):  # noqa: F811
    heal(stack)
    body = {"model": "gpt-4.1-mini", "input": "tell me a long story", "stream": True}
    with stack.mock_settings("openai-a", fault=MID_STREAM[fault]), \
            stack.mock_settings("openai-b", fault=MID_STREAM[fault]):
        r, took = timed_post(stack, "/responses/v1/responses", body)
    assert r.status_code == 200 and took < 2, r.text
    events = sse.parse(r.content)
    payloads = [e.json() for e in events]
    assert [p["sequence_number"] for p in payloads] == list(range(len(payloads)))
    for e, p in zip(events, payloads, strict=True):
        assert e.event == p["type"]
        validate("openai", "ResponseStreamEvent", p)
    assert payloads[-1]["type"] == "error"
    validate("openai", "ResponseErrorEvent", payloads[-1])
    assert not any(p["type"] == "response.completed" for p in payloads)


@pytest.mark.parametrize("fault", list(MID_STREAM))
def test_gemini_streams_cut_end_with_error(stack, fault):  # noqa: F811
    with stack.mock_settings("gemini", fault=MID_STREAM[fault]):
        r, took = timed_post(stack, GEMINI_PATH + "?alt=sse", GEMINI_BODY)
        assert r.status_code == 200 and took < 2, r.text
        events = sse.parse(r.content)
        assert len(events) >= 2
        for e in events[:-1]:
            validate("gemini", "GenerateContentResponse", e.json())
        validate("gemini", "ErrorResponse", events[-1].json())
        assert events[-1].json()["error"]["code"] == 502

        # without alt=sse the answer is one JSON array: it stays valid, the error is its last element
        r, took = timed_post(stack, GEMINI_PATH, GEMINI_BODY)
        assert r.status_code == 200 and took < 2, r.text
        items = orjson.loads(r.content)
        assert isinstance(items, list) and len(items) >= 2
        for item in items[:-1]:
            validate("gemini", "GenerateContentResponse", item)
        validate("gemini", "ErrorResponse", items[-1])


def test_sdk_sees_a_clean_error_when_the_stream_is_cut(stack):  # noqa: F811
    """The openai SDK turns the error event into an APIError (not a JSON decode error)."""
    import openai

    heal(stack)
    client = openai.OpenAI(base_url=stack.base_url + "/v1", api_key=stack.api_key, max_retries=0)
    with stack.mock_settings("openai-a", fault=MID_STREAM["malformed"]), \
            stack.mock_settings("openai-b", fault=MID_STREAM["malformed"]), pytest.raises(openai.APIError) as info:
        for _ in client.chat.completions.create(model="gpt-4.1-mini", messages=CHAT["messages"], stream=True):
            pass
    assert "middle of the stream" in info.value.message


@pytest.fixture
def junk_upstream() -> Iterator[tuple[str, list[int]]]:
    """A TCP server that answers every request with something that is not valid HTTP:
    (its URL, a one-element list counting the connections it took)."""
    srv = socket.create_server(("127.0.0.1", 0))
    taken = [0]

    def serve() -> None:
        while True:
            try:
                conn, _ = srv.accept()
            except OSError:
                return
            taken[0] += 1
            with conn:
                try:
                    conn.recv(65536)
                    conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: many\r\n\r\n{}")
                except OSError:
                    pass

    threading.Thread(target=serve, daemon=True).start()
    yield f"http://127.0.0.1:{srv.getsockname()[1]}/v1", taken
    srv.close()


def test_a_node_that_does_not_speak_http(stack, junk_upstream):  # noqa: F811
    """A node added in the node console, first in priority, answering broken HTTP: every request
    fails over to the demo nodes, and the junk node's breaker opens."""
    url, taken = junk_upstream
    with stack.console() as admin:
        r = admin.post("/api/node/nodes", json={"name": "junk", "provider": "openai", "base_url": url,
                                                 "api_key": "sk-junk", "weight": 1, "priority": 10,
                                                 "models": [{"model": "gpt-4.1-mini"}]})
        assert r.status_code == 201, r.text
        try:
            threshold = stack.config.breaker_threshold
            for i in range(threshold):  # the junk node is first in every plan until its breaker opens
                assert_chat_ok(chat(stack, i % 2 == 1), i % 2 == 1)
            assert taken[0] == threshold
            opened = time.monotonic()
            while time.monotonic() - opened < 0.6 * stack.config.breaker_cooldown_s and taken[0] == threshold:
                assert_chat_ok(chat(stack, False), False)
            assert taken[0] == threshold
        finally:
            assert admin.delete(f"/api/node/nodes/{r.json()['id']}").status_code == 204
