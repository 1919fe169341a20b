"""Offline use (mocks/offline.py and the pytest plugin): httpx, httpx2, aiohttp, the openai and
google-genai SDKs reach the mocks in-process for the real API hosts, with every socket
lookup and connection refused during the tests."""

from __future__ import annotations

import importlib.metadata
import json
import socket
from typing import Any

import aiohttp
import httpx
import httpx2
import openai
import pytest
from google import genai
from google.genai import errors as genai_errors
from google.genai import types as genai_types

import mocks.pytest_plugin
import specs
from mocks import offline
from mocks.openai_app import OpenAIMock
from mocks.settings import Fault

OPENAI = "https://api.openai.com"
GEMINI = "https://generativelanguage.googleapis.com"
KEY = {"authorization": "Bearer sk-test"}
CHAT = {"model": "gpt-4.1-mini", "messages": [{"role": "user", "content": "帮我计算1+5等于多少"}]}
GEN_PATH = "/v1beta/models/gemini-2.5-flash:generateContent"
GEN_BODY = {"contents": [{"role": "user", "parts": [{"text": "what is 12*7"}]}]}


@pytest.fixture(autouse=True)
def no_network(monkeypatch: pytest.MonkeyPatch) -> list[Any]:
    """Every name lookup and connection attempt fails the request (and is recorded)."""
    attempts: list[Any] = []

    def refuse(*args: Any, **kw: Any) -> Any:
        attempts.append(args)
        raise OSError(f"network access in an offline test: {args[:2]}")

    for target, name in ((socket, "getaddrinfo"), (socket, "create_connection"), (socket.socket, "connect"),
                         (socket.socket, "connect_ex")):
        monkeypatch.setattr(target, name, refuse)
    yield attempts
    assert attempts == [], "something tried the network"


# -- the pytest plugin ---------------------------------------------------------------------------------------
def test_plugin_is_registered_by_entry_point(pytestconfig: pytest.Config) -> None:
    (entry,) = [e for e in importlib.metadata.entry_points(group="pytest11") if e.name == "mocks.pytest_plugin"]
    assert entry.value == "mocks.pytest_plugin"
    assert pytestconfig.pluginmanager.get_plugin("mocks.pytest_plugin") is mocks.pytest_plugin


def test_fixture(mock_upstreams: dict[str, Any]) -> None:
    assert set(mock_upstreams) == {"openai", "sora", "gemini"}
    r = httpx.post(f"{OPENAI}/v1/chat/completions", json=CHAT, headers=KEY)
    assert r.status_code == 200 and r.headers["x-mock-node"] == "openai"
    assert "1+5 = 6" in r.json()["choices"][0]["message"]["content"]
    assert mock_upstreams["openai"].stats()["by_endpoint"] == {"/v1/chat/completions": 1}


# -- plain httpx -------------------------------------------------------------------------------------------------
def test_httpx_sync() -> None:
    with offline.mock_upstreams() as servers, httpx.Client(headers=KEY) as c:
        chat = c.post(f"{OPENAI}/v1/chat/completions", json=CHAT)
        assert chat.status_code == 200
        assert specs.schema_errors("openai", "ChatCompletion", chat.json()) == []
        streamed = c.post(f"{OPENAI}/v1/chat/completions", json={**CHAT, "stream": True})
        events = specs.sse.parse(streamed.content)
        assert events[-1].is_done and "6" in "".join(
            e.json()["choices"][0]["delta"].get("content") or "" for e in events[:-1])
        gem = c.post(f"{GEMINI}{GEN_PATH}?key=k", json=GEN_BODY)
        assert gem.status_code == 200 and gem.headers["x-mock-node"] == "gemini"
        assert specs.schema_errors("gemini", "GenerateContentResponse", gem.json()) == []
        videos = c.get(f"{OPENAI}/v1/videos")
        assert videos.status_code == 200 and videos.headers["x-mock-node"] == "sora"
        assert c.post(f"{OPENAI}/v1/chat/completions", json=CHAT, headers={"authorization": ""}).status_code == 401
    assert servers["openai"].stats()["requests_total"] == 2 and servers["gemini"].stats()["requests_total"] == 1


async def test_httpx_async() -> None:
    with offline.mock_upstreams() as servers:
        async with httpx.AsyncClient(headers=KEY) as c:
            chat = await c.post(f"{OPENAI}/v1/chat/completions", json=CHAT)
            gem = await c.post(f"{GEMINI}{GEN_PATH}", json=GEN_BODY, headers={"x-goog-api-key": "k"})
    assert chat.status_code == 200 and "6" in chat.json()["choices"][0]["message"]["content"]
    assert gem.status_code == 200 and "84" in json.dumps(gem.json())
    assert servers["gemini"].stats()["by_status"] == {"200": 1}


def test_other_base_urls() -> None:
    with offline.mock_upstreams(openai_base="https://oai.example.test",
                                gemini_base="http://gemini.example.test:8080") as servers, httpx.Client(headers=KEY) as c:
        assert c.get("https://oai.example.test/v1/models").headers["x-mock-node"] == "openai"
        assert c.get("http://gemini.example.test:8080/v1beta/models", headers={"x-goog-api-key": "k"}).status_code == 200
    assert servers["gemini"].stats()["by_endpoint"] == {"/v1beta/models": 1}


def test_faults_in_process() -> None:
    servers = {"openai": OpenAIMock(fault=Fault(rate=1, kind="reset"))}
    with offline.mock_upstreams(servers), httpx.Client(headers=KEY) as c:
        with pytest.raises(httpx.ReadError):
            c.post(f"{OPENAI}/v1/chat/completions", json=CHAT)
        client = openai.OpenAI(api_key="sk-test", max_retries=0)
        with pytest.raises(openai.APIConnectionError):
            client.chat.completions.create(**CHAT)
        late = c.post(f"{OPENAI}/v1/chat/completions", json=CHAT,
                      headers={"x-mock-config": '{"fault": {"kind": "status", "status": 429}}'})
        assert late.status_code == 429 and late.headers["retry-after"] == "1"


def test_patches_are_removed_afterwards() -> None:
    before = (httpx2.HTTPTransport.handle_request, httpx2.AsyncHTTPTransport.handle_async_request,
              aiohttp.ClientSession._request)
    with offline.mock_upstreams():
        assert aiohttp.ClientSession._request is not before[2]
    assert (httpx2.HTTPTransport.handle_request, httpx2.AsyncHTTPTransport.handle_async_request,
            aiohttp.ClientSession._request) == before


# -- the openai SDK -------------------------------------------------------------------------------------------------
def test_openai_sdk_with_an_httpx_client() -> None:
    with offline.mock_upstreams() as servers:
        client = openai.OpenAI(api_key="sk-test", http_client=httpx.Client())
        resp = client.chat.completions.create(**CHAT)
        chunks = list(client.chat.completions.create(**CHAT, stream=True, stream_options={"include_usage": True}))
        image = client.images.generate(model="gpt-image-1", prompt="a cat", size="1024x1024")
    assert "1+5 = 6" in resp.choices[0].message.content
    assert "".join(c.choices[0].delta.content or "" for c in chunks if c.choices) == resp.choices[0].message.content
    assert chunks[-1].usage.completion_tokens == resp.usage.completion_tokens
    assert image.data[0].b64_json
    assert servers["openai"].stats()["by_endpoint"] == {"/v1/chat/completions": 2, "/v1/images/generations": 1}


async def test_openai_async_sdk_with_an_httpx_client() -> None:
    with offline.mock_upstreams():
        client = openai.AsyncOpenAI(api_key="sk-test", http_client=httpx.AsyncClient())
        resp = await client.chat.completions.create(**CHAT)
        chunks = [c async for c in await client.chat.completions.create(**CHAT, stream=True)]
    assert "1+5 = 6" in resp.choices[0].message.content
    assert "".join(c.choices[0].delta.content or "" for c in chunks if c.choices) == resp.choices[0].message.content


def test_openai_sdk_unmodified() -> None:
    with offline.mock_upstreams() as servers:
        client = openai.OpenAI(api_key="sk-test")
        assert isinstance(client._client, httpx2.Client)  # the SDK's own default: httpx2, unseen by respx
        resp = client.chat.completions.create(**CHAT)
        models = client.models.list()
        with pytest.raises(openai.NotFoundError):
            client.chat.completions.create(**{**CHAT, "model": "no-such-model"})
    assert "1+5 = 6" in resp.choices[0].message.content
    assert "gpt-4.1-mini" in [m.id for m in models.data]
    assert servers["openai"].stats()["by_status"] == {"200": 2, "404": 1}


async def test_openai_async_sdk_unmodified() -> None:
    with offline.mock_upstreams() as servers:
        client = openai.AsyncOpenAI(api_key="sk-test")
        assert isinstance(client._client, httpx2.AsyncClient)
        resp = await client.chat.completions.create(**CHAT)
        chunks = [c async for c in await client.chat.completions.create(**CHAT, stream=True)]
    assert "1+5 = 6" in resp.choices[0].message.content and len(chunks) > 3
    assert servers["openai"].stats()["requests_total"] == 2


# -- the google-genai SDK ---------------------------------------------------------------------------------------------
def test_genai_sdk_unmodified() -> None:
    with offline.mock_upstreams() as servers:
        client = genai.Client(api_key="k")
        resp = client.models.generate_content(model="gemini-2.5-flash", contents="what is 12*7")
        pieces = [c.text for c in client.models.generate_content_stream(model="gemini-2.5-flash",
                                                                        contents="what is 12*7")]
        capped = client.models.generate_content(model="gemini-2.5-flash", contents="Write 40 words about it.",
                                                config=genai_types.GenerateContentConfig(max_output_tokens=4))
        with pytest.raises(genai_errors.ClientError) as info:
            client.models.generate_content(model="gemini-0-none", contents="hi")
    assert "12*7 = 84" in resp.text and "".join(pieces) == resp.text
    assert capped.candidates[0].finish_reason == genai_types.FinishReason.MAX_TOKENS
    assert info.value.code == 404
    assert servers["gemini"].stats()["requests_total"] == 4


async def test_genai_async_sdk_unmodified() -> None:
    # client.aio goes through aiohttp when it is installed
    with offline.mock_upstreams() as servers:
        client = genai.Client(api_key="k")
        resp = await client.aio.models.generate_content(model="gemini-2.5-flash", contents="what is 12*7")
        pieces = [c.text async for c in await client.aio.models.generate_content_stream(
            model="gemini-2.5-flash", contents="what is 12*7")]
        with pytest.raises(genai_errors.ClientError) as info:
            await client.aio.models.generate_content(model="gemini-0-none", contents="hi")
    assert "12*7 = 84" in resp.text and "".join(pieces) == resp.text
    assert info.value.code == 404
    assert servers["gemini"].stats()["by_status"] == {"200": 2, "404": 1}


async def test_plain_aiohttp() -> None:
    with offline.mock_upstreams():
        async with aiohttp.ClientSession(headers=KEY) as session:
            async with session.post(f"{OPENAI}/v1/chat/completions", json={**CHAT, "stream": True}) as r:
                assert r.status == 200 and r.headers["x-mock-node"] == "openai"
                lines = [line async for line in r.content]
            async with session.get(f"{GEMINI}/v1beta/models", params={"key": "k"}) as r:
                models = await r.json()
            async with session.get(f"{OPENAI}/v1/models", headers={"authorization": ""}) as r:
                assert r.status == 401 and (await r.json())["error"]["message"]
    assert lines[-2] == b"data: [DONE]\n"
    assert specs.schema_errors("gemini", "ListModelsResponse", models) == []
