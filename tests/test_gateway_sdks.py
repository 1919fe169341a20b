"""The official SDKs, unmodified, through the gateway: openai (chat, Responses, images, videos)
and google-genai (generate, stream, list), both with its explicit v1beta and its default version."""

from __future__ import annotations

import io
import json

import openai
import pytest
from gateway_stack import stack  # noqa: F401
from google import genai
from google.genai import types
from PIL import Image

CHAT_MODEL = "gpt-4.1-mini"
GEMINI_MODEL = "gemini-2.5-flash"
CALC_TOOL = {"type": "function", "name": "calc", "description": "evaluate an arithmetic expression",
             "parameters": {"type": "object", "properties": {"expr": {"type": "string"}}, "required": ["expr"]}}


@pytest.fixture(scope="module")
def oai(stack):  # noqa: F811
    client = openai.OpenAI(base_url=stack.base_url + "/v1", api_key=stack.api_key, max_retries=0, timeout=30)
    yield client
    client.close()


def gemini_client(stack, api_version: str | None) -> genai.Client:  # noqa: F811
    opts = {"base_url": stack.base_url + "/gemini", "timeout": 30_000}
    if api_version:
        opts["api_version"] = api_version
    return genai.Client(api_key=stack.api_key, http_options=types.HttpOptions(**opts))


def png(width: int = 64, height: int = 64, color: str = "red") -> bytes:
    buf = io.BytesIO()
    Image.new("RGB", (width, height), color).save(buf, "PNG")
    return buf.getvalue()


# -- openai ---------------------------------------------------------------------------------------------


def test_openai_chat(oai):
    out = oai.chat.completions.create(model=CHAT_MODEL, messages=[{"role": "user", "content": "what is 12*7"}])
    assert out.object == "chat.completion"
    assert "84" in out.choices[0].message.content
    assert out.choices[0].finish_reason == "stop"
    assert out.usage.completion_tokens > 0


def test_openai_chat_stream_with_usage(oai):
    chunks = list(oai.chat.completions.create(model=CHAT_MODEL, stream=True, stream_options={"include_usage": True},
                                              messages=[{"role": "user", "content": "帮我计算1+5等于多少"}]))
    with_usage = [c for c in chunks if c.usage is not None]
    assert len(with_usage) == 1 and with_usage[0] is chunks[-1] and with_usage[0].choices == []
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert "6" in text
    assert with_usage[0].usage.completion_tokens > 0


def test_openai_chat_stream_without_usage(oai):
    """The gateway always asks its node for usage (billing); a client that did not ask never sees it."""
    chunks = list(oai.chat.completions.create(model=CHAT_MODEL, stream=True,
                                              messages=[{"role": "user", "content": "say something"}]))
    assert chunks and all(c.usage is None for c in chunks)
    assert all(c.choices for c in chunks)


def test_openai_responses_plain_stream_and_tools(oai):
    resp = oai.responses.create(model=CHAT_MODEL, input="帮我计算1+5等于多少")
    assert resp.status == "completed" and "6" in resp.output_text
    assert resp.usage.output_tokens > 0

    events = list(oai.responses.create(model=CHAT_MODEL, input="what is 2+2", stream=True))
    kinds = [e.type for e in events]
    assert kinds[0] == "response.created" and kinds[-1] == "response.completed"
    assert [e.sequence_number for e in events] == list(range(len(events)))
    text = "".join(e.delta for e in events if e.type == "response.output_text.delta")
    assert "4" in text and events[-1].response.output_text == text

    called = oai.responses.create(model=CHAT_MODEL, input="帮我计算1+5等于多少", tools=[CALC_TOOL])
    calls = [o for o in called.output if o.type == "function_call"]
    assert len(calls) == 1 and calls[0].name == "calc"
    assert json.loads(calls[0].arguments)["expr"].replace(" ", "") == "1+5"
    answer = oai.responses.create(model=CHAT_MODEL, previous_response_id=called.id, tools=[CALC_TOOL],
                                  input=[{"type": "function_call_output", "call_id": calls[0].call_id,
                                          "output": "result: 6 (from calc 9931)"}])
    assert "9931" in answer.output_text


def test_openai_images_generate_and_edit(oai):
    gen = oai.images.generate(model="gpt-image-1", prompt="a yellow cat", size="1024x1024", quality="low")
    assert len(gen.data) == 1
    img = Image.open(io.BytesIO(__import__("base64").b64decode(gen.data[0].b64_json)))
    assert img.size == (1024, 1024)

    edit = oai.images.edit(model="gpt-image-1", image=("cat.png", png(), "image/png"), prompt="make it a lion",
                           size="1024x1024")
    assert len(edit.data) == 1 and edit.data[0].b64_json

    several = oai.images.edit(model="gpt-image-1", prompt="merge them", size="1024x1024",
                              image=[("a.png", png(color="red"), "image/png"),
                                     ("b.png", png(color="blue"), "image/png")])
    assert len(several.data) == 1 and several.data[0].b64_json


def test_openai_videos(oai, stack):  # noqa: F811
    with stack.mock_settings("sora", video_ms=200):
        video = oai.videos.create_and_poll(model="sora-2", prompt="a cat playing ball", seconds="4",
                                           poll_interval_ms=50)
        assert video.status == "completed" and video.id.startswith("video_")
        content = oai.videos.download_content(video.id)
        assert content.content[4:8] == b"ftyp"
        thumb = oai.videos.download_content(video.id, variant="thumbnail")
        assert thumb.content[:4] == b"RIFF"  # webp
        remix = oai.videos.remix(video.id, prompt="the cat becomes a tiger")
        assert remix.remixed_from_video_id == video.id
        again = oai.videos.poll(remix.id, poll_interval_ms=50)
        assert again.status == "completed"


def test_openai_errors_are_typed(oai, stack):  # noqa: F811
    """The SDK maps the gateway's error bodies to its exception classes."""
    bad = openai.OpenAI(base_url=stack.base_url + "/v1", api_key="sk-wrong", max_retries=0)
    with pytest.raises(openai.AuthenticationError) as info:
        bad.chat.completions.create(model=CHAT_MODEL, messages=[{"role": "user", "content": "hi"}])
    assert info.value.code == "invalid_api_key"
    with pytest.raises(openai.NotFoundError):
        oai.chat.completions.create(model="no-such-model", messages=[{"role": "user", "content": "hi"}])


# -- google-genai -----------------------------------------------------------------------------------------


@pytest.mark.parametrize("api_version", ["v1beta", None], ids=["v1beta", "sdk-default"])
def test_genai(stack, api_version):  # noqa: F811
    client = gemini_client(stack, api_version)
    out = client.models.generate_content(model=GEMINI_MODEL, contents="what is 3+4")
    assert "7" in out.text
    assert out.usage_metadata.candidates_token_count > 0
    assert out.candidates[0].finish_reason == types.FinishReason.STOP

    pieces = list(client.models.generate_content_stream(
        model=GEMINI_MODEL, contents="Write a story about a magic backpack.",
        config=types.GenerateContentConfig(max_output_tokens=64)))
    assert len(pieces) > 1
    assert "".join(p.text or "" for p in pieces)
    assert pieces[-1].usage_metadata.candidates_token_count > 0
    assert pieces[-1].candidates[0].finish_reason is not None

    names = [m.name for m in client.models.list()]
    assert names == ["models/" + GEMINI_MODEL]
    got = client.models.get(model=GEMINI_MODEL)
    assert got.name == "models/" + GEMINI_MODEL


def test_genai_default_version_at_the_gateway_root(stack):  # noqa: F811
    """base_url = the gateway root and no api_version: the SDK posts to /v1/models/{model}:verb."""
    client = genai.Client(api_key=stack.api_key, http_options=types.HttpOptions(base_url=stack.base_url))
    out = client.models.generate_content(model=GEMINI_MODEL, contents="what is 3+4")
    assert "7" in out.text
    pieces = list(client.models.generate_content_stream(model=GEMINI_MODEL, contents="tell me a story"))
    assert len(pieces) > 1 and pieces[-1].usage_metadata.candidates_token_count > 0


def test_genai_wrong_key(stack):  # noqa: F811
    from google.genai import errors

    client = genai.Client(api_key="wrong", http_options=types.HttpOptions(base_url=stack.base_url + "/gemini",
                                                                          api_version="v1beta"))
    with pytest.raises(errors.ClientError) as info:
        client.models.generate_content(model=GEMINI_MODEL, contents="hi")
    assert info.value.code == 401 and info.value.status == "UNAUTHENTICATED"
