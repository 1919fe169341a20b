"""The official SDKs, unmodified, run the seed's flows against the target: `openai` (chat, Responses,
images, videos) and `google-genai` (generate, stream, list).

Both SDKs talk through httpx2 (a fork of httpx). Each check builds its own client with a bounded
timeout and no retries (a retry would hide a flaky gateway), with env proxies ignored for loopback
targets, and google-genai pinned to the Gemini API (not Vertex, whatever the environment says).
SDK exceptions become one-line failures: which call, the HTTP status and the gateway's message.
"""

from __future__ import annotations

import base64
import contextlib
import dataclasses
import ipaddress
import json
import time
from collections.abc import Iterator
from typing import Any
from urllib.parse import urlsplit

import httpx2
import openai
import pydantic
from google import genai
from google.genai import errors as genai_errors
from google.genai import types as genai_types

from specs import content, seed

from .. import repro
from ..context import Ctx, Target
from ..registry import CheckFailed, check
from .chat import usage_consistent

CALC_TOOL = {"type": "function", "name": "calc", "description": "计算数学表达式 (evaluate an arithmetic expression)",
             "parameters": {"type": "object", "properties": {"expr": {"type": "string"}}, "required": ["expr"]}}
POLL_S = 0.25


# -- clients ------------------------------------------------------------------------------------------------


def _trust_env(target: Target) -> bool:
    """Env proxies (HTTP(S)_PROXY) apply to remote targets, never to loopback ones."""
    host = urlsplit(target.root).hostname or ""
    if host == "localhost":
        return False
    try:
        return not ipaddress.ip_address(host).is_loopback
    except ValueError:
        return True


def _httpx2_timeout(target: Target) -> httpx2.Timeout:
    return httpx2.Timeout(target.timeout_s, connect=min(10.0, target.timeout_s))


def _recorder(ctx: Ctx) -> dict[str, list[Any]]:
    """Event hooks that make each SDK request the check's reproduction (as ctx.request does)."""

    def record(resp: Any) -> None:
        req = resp.request
        try:
            body = req.content
        except Exception:  # a streamed (multipart) body not read
            body = b"<streamed body>"
        if req.headers.get("content-type", "").startswith("multipart/"):
            body = f"<multipart form, {len(body)} bytes>".encode()
        try:
            answer = resp.content
        except Exception:  # not read yet: the SDK reads it after the hooks
            answer = b"<not read yet>"
        repro.record(repro.build(req.method, str(req.url), dict(req.headers), body or None, resp.status_code,
                                 answer, ctx.secrets))

    return {"response": [record]}


@contextlib.contextmanager
def openai_client(ctx: Ctx) -> Iterator[openai.OpenAI]:
    t = ctx.target
    http = openai.DefaultHttpx2Client(timeout=_httpx2_timeout(t), trust_env=_trust_env(t),
                                      event_hooks=_recorder(ctx))
    client = openai.OpenAI(base_url=t.root + "/v1", api_key=t.api_key, max_retries=0,
                           timeout=_httpx2_timeout(t), http_client=http, default_headers=t.headers or None)
    try:
        yield client
    finally:
        client.close()


@contextlib.contextmanager
def gemini_client(ctx: Ctx) -> Iterator[genai.Client]:
    t = ctx.target
    http = httpx2.Client(timeout=_httpx2_timeout(t), trust_env=_trust_env(t), follow_redirects=True,
                         event_hooks=_recorder(ctx))
    base = t.root + "/gemini" if ctx.offers("topapi") else t.root  # the guide's prefix, or the official layout
    opts = genai_types.HttpOptions(base_url=base, api_version="v1beta", headers=t.headers or None,
                                   timeout=int(t.timeout_s * 1000), httpx_client=http,
                                   retry_options=genai_types.HttpRetryOptions(attempts=1))
    client = genai.Client(vertexai=False, api_key=t.api_key, http_options=opts)
    try:
        yield client
    finally:
        client.close()
        http.close()


def _exchange(resp: Any) -> repro.Exchange | None:
    """The reproduction of an answer the SDK refused (its body is read by then); secrets masked later."""
    last = repro.last()
    if last is None:
        return None
    try:
        answer = resp.text[:repro.ANSWER_LIMIT]
    except Exception:  # not read
        return last
    return dataclasses.replace(last, answer=answer)


@contextlib.contextmanager
def sdk_call(what: str) -> Iterator[None]:
    """Turn what an SDK raises into a CheckFailed naming the call, the status and the gateway's message."""
    try:
        yield
    except openai.APIStatusError as exc:
        body = exc.body if isinstance(exc.body, dict) else {}
        message = body.get("message") or exc.response.text[:300]
        raise CheckFailed(f"{what}: HTTP {exc.status_code}: {message}", exchange=_exchange(exc.response)) from None
    except (openai.APITimeoutError, httpx2.TimeoutException):  # openai's, or google-genai's raw transport's
        raise CheckFailed(f"{what}: no answer within the timeout") from None
    except (openai.APIConnectionError, httpx2.TransportError) as exc:
        # openai says only "Connection error."; the transport's own error (its message, mapped) says what failed
        raise CheckFailed(f"{what}: connection failed: {exc.__cause__ or exc}") from None
    except openai.APIResponseValidationError as exc:
        raise CheckFailed(f"{what}: the SDK rejected the answer (HTTP {exc.status_code}): {exc.message}") from None
    except genai_errors.APIError as exc:
        raise CheckFailed(f"{what}: HTTP {exc.code} {exc.status or ''}: {exc.message}") from None
    except httpx2.HTTPError as exc:
        raise CheckFailed(f"{what}: {type(exc).__name__}: {exc}") from None
    except (pydantic.ValidationError, json.JSONDecodeError) as exc:
        first = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise CheckFailed(f"{what}: the SDK could not read the answer: {first}") from None


def _seed_messages() -> list[dict[str, Any]]:
    return seed.CHAT.json()["messages"]


def _png(ctx: Ctx, b64: str | None, what: str) -> tuple[int, int]:
    ctx.expect(b64, f"{what}: no b64_json in the answer")
    try:
        data = base64.b64decode(b64, validate=True)
    except ValueError:
        ctx.fail(f"{what}: b64_json is not base64")
    info = content.image_info(data)
    ctx.expect(info and info[0] == "png", f"{what}: b64_json is not a PNG (starts {data[:8]!r})")
    return info[1], info[2]


# -- openai -------------------------------------------------------------------------------------------------


@check("sdk.openai.chat", "The openai SDK: the seed's chat, plain and streamed with include_usage (exactly one "
       "usage chunk, last, with no choices)", layer="sdk", surface="openai.chat", needs=("setup.chat",))
def openai_chat(ctx: Ctx) -> None:
    model = ctx.target.chat_model
    with openai_client(ctx) as client:
        with sdk_call("chat.completions.create"):
            out = client.chat.completions.create(model=model, messages=_seed_messages(), temperature=1, top_p=1)
        ctx.expect(out.object == "chat.completion", f"chat: object is {out.object!r}")
        ctx.expect(out.choices and out.choices[0].message.content, "chat: the answer has no content")
        ctx.expect(out.choices[0].finish_reason, "chat: no finish_reason")
        ctx.expect(out.usage is not None, "chat: no usage")
        usage_consistent(ctx, out.usage.model_dump(), "chat usage")

        with sdk_call("chat.completions.create(stream=True, include_usage)"):
            chunks = list(client.chat.completions.create(model=model, messages=_seed_messages(), stream=True,
                                                         stream_options={"include_usage": True}))
    ctx.expect(chunks, "chat stream: no chunks")
    with_usage = [i for i, c in enumerate(chunks) if c.usage is not None]
    ctx.expect(len(with_usage) == 1, f"chat stream: {len(with_usage)} chunks carry usage, expected exactly 1")
    last = chunks[with_usage[0]]
    ctx.expect(with_usage[0] == len(chunks) - 1, "chat stream: the usage chunk is not the last one")
    ctx.expect(last.choices == [], f"chat stream: the usage chunk has {len(last.choices)} choices, expected none")
    usage_consistent(ctx, last.usage.model_dump(), "chat stream usage")
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    ctx.expect(text, "chat stream: no content was streamed")
    ctx.expect(len({c.id for c in chunks}) == 1, "chat stream: chunks carry different ids")


@check("sdk.openai.responses", "The openai SDK: Responses plain, streamed (sequence_number 0..n, created first, "
       "completed last) and the seed's tool call with its callback via previous_response_id", layer="sdk",
       surface="openai.responses", needs=("setup.responses",))
def openai_responses(ctx: Ctx) -> None:
    model = ctx.target.chat_model
    with openai_client(ctx) as client:
        with sdk_call("responses.create"):
            resp = client.responses.create(model=model, input=_seed_messages(), temperature=1, top_p=1)
        ctx.expect(resp.status == "completed", f"responses: status {resp.status!r}, expected 'completed'")
        ctx.expect(resp.output_text, "responses: no output text")
        ctx.expect(resp.usage and resp.usage.output_tokens > 0, "responses: no usage or zero output_tokens")
        u = resp.usage
        ctx.expect(u.input_tokens + u.output_tokens == u.total_tokens,
                   f"responses usage: {u.input_tokens} + {u.output_tokens} != total_tokens {u.total_tokens}")

        with sdk_call("responses.create(stream=True)"):
            events = list(client.responses.create(model=model, input=_seed_messages(), stream=True))
        ctx.expect(events, "responses stream: no events")
        kinds = [e.type for e in events]
        ctx.expect(kinds[0] == "response.created", f"responses stream: first event is {kinds[0]!r}")
        ctx.expect(kinds[-1] == "response.completed", f"responses stream: last event is {kinds[-1]!r}")
        seqs = [getattr(e, "sequence_number", None) for e in events]
        ctx.expect(seqs == list(range(len(events))),
                   f"responses stream: sequence_number runs {seqs[:8]}..., expected 0..{len(events) - 1}")
        text = "".join(e.delta for e in events if e.type == "response.output_text.delta")
        ctx.expect(text, "responses stream: no output_text deltas")
        final = events[-1].response.output_text
        ctx.expect(final == text, "responses stream: the deltas do not add up to the completed response's text")

        with sdk_call("responses.create(tools=[calc])"):
            called = client.responses.create(model=model, input=_seed_messages(), tools=[CALC_TOOL],
                                             tool_choice="required")
        calls = [o for o in called.output if o.type == "function_call"]
        ctx.expect(calls, f"tool call: no function_call item in the output ({[o.type for o in called.output]})")
        call = calls[0]
        ctx.expect(call.name == "calc", f"tool call: the function is {call.name!r}, expected 'calc'")
        ctx.expect(call.call_id, "tool call: the function_call has no call_id")
        try:
            args = json.loads(call.arguments)
        except json.JSONDecodeError:
            ctx.fail(f"tool call: arguments are not JSON: {call.arguments[:200]!r}")
        ctx.expect(isinstance(args, dict) and isinstance(args.get("expr"), str),
                   f"tool call: arguments {call.arguments[:200]!r} lack the required string `expr`")
        with sdk_call("responses.create(previous_response_id, function_call_output)"):
            answer = client.responses.create(
                model=model, previous_response_id=called.id, tools=[CALC_TOOL],
                input=[{"type": "function_call_output", "call_id": call.call_id, "output": "6"}])
        ctx.expect(answer.status == "completed", f"tool callback: status {answer.status!r}")
        ctx.expect(answer.previous_response_id in (None, called.id),
                   f"tool callback: previous_response_id {answer.previous_response_id!r}, expected {called.id!r}",
                   cause="responses.previous_response_id")
        ctx.expect(answer.output_text, "tool callback: the answer after the tool output has no text")


@check("sdk.openai.images", "The openai SDK: images.generate (a PNG of the asked size) and images.edit with a "
       "multipart PNG file", layer="sdk", surface="openai.images")
def openai_images(ctx: Ctx) -> None:
    gen_seed, edit_seed = seed.IMAGE_GENERATION.json(), seed.IMAGE_EDIT.json()
    source = base64.b64decode(edit_seed["image"])
    with openai_client(ctx) as client:
        with sdk_call("images.generate"):
            gen = client.images.generate(model=ctx.target.image_model, prompt=gen_seed["prompt"], n=1,
                                         size="1024x1024", quality="low")
        ctx.expect(gen.data and len(gen.data) == 1, f"images.generate: {len(gen.data or [])} images, expected 1")
        size = _png(ctx, gen.data[0].b64_json, "images.generate")
        ctx.expect(size == (1024, 1024), f"images.generate: the PNG is {size[0]}x{size[1]}, asked 1024x1024")

        with sdk_call("images.edit (multipart)"):
            edit = client.images.edit(model=ctx.target.image_model, image=("cat.png", source, "image/png"),
                                      prompt=edit_seed["prompt"], n=1, size="1024x1024")
        ctx.expect(edit.data and len(edit.data) == 1, f"images.edit: {len(edit.data or [])} images, expected 1")
        _png(ctx, edit.data[0].b64_json, "images.edit")


def _poll_video(ctx: Ctx, client: openai.OpenAI, video_id: str, what: str) -> Any:
    """Retrieve until completed; status only ever one of the four and progress never going down."""
    deadline = time.monotonic() + ctx.target.video_deadline_s
    progress = -1
    while True:
        with sdk_call(f"videos.retrieve ({what})"):
            video = client.videos.retrieve(video_id)
        ctx.expect(video.status in ("queued", "in_progress", "completed", "failed"),
                   f"{what}: status {video.status!r} is not one of the four official ones")
        ctx.expect(video.status != "failed", f"{what}: the job failed: {video.error}")
        if video.progress is not None:
            ctx.expect(video.progress >= progress, f"{what}: progress went down from {progress} to {video.progress}")
            progress = video.progress
        if video.status == "completed":
            return video
        ctx.expect(time.monotonic() < deadline, f"{what}: still {video.status} after the deadline")
        time.sleep(POLL_S)


@check("sdk.openai.videos", "The openai SDK: videos.create, poll to completion, download_content gives MP4 "
       "bytes, remix links back to its source", layer="sdk", slow=True, surface="openai.videos")
def openai_videos(ctx: Ctx) -> None:
    prompt, remix_prompt = seed.VIDEO_CREATE.json()["prompt"], seed.VIDEO_REMIX.json()["prompt"]
    with openai_client(ctx) as client:
        with sdk_call("videos.create"):
            video = client.videos.create(model=ctx.target.video_model, prompt=prompt, seconds="4")
        ctx.expect(video.id, "videos.create: no id")
        ctx.expect(video.status in ("queued", "in_progress", "completed"),
                   f"videos.create: status {video.status!r}")
        done = _poll_video(ctx, client, video.id, "video")
        ctx.expect(done.id == video.id, f"videos.retrieve: id {done.id!r}, asked {video.id!r}")
        with sdk_call("videos.download_content"):
            data = client.videos.download_content(video.id).content
        ctx.expect(len(data) > 8 and data[4:8] == b"ftyp",
                   f"videos.download_content: not an MP4 ({len(data)} bytes, starts {data[:12]!r})")
        with sdk_call("videos.remix"):
            remix = client.videos.remix(video.id, prompt=remix_prompt)
        ctx.expect(remix.id and remix.id != video.id, f"videos.remix: id {remix.id!r}")
        ctx.expect(remix.remixed_from_video_id == video.id,
                   f"videos.remix: remixed_from_video_id {remix.remixed_from_video_id!r}, expected {video.id!r}",
                   cause="videos.remixed_from")
        _poll_video(ctx, client, remix.id, "remix")


# -- google-genai -------------------------------------------------------------------------------------------


@check("sdk.gemini", "The google-genai SDK (base_url the root, or <root>/gemini where the guide's forms are "
       "offered; v1beta): generate_content, generate_content_stream (finish reason and usage last), models.list",
       layer="sdk", surface="gemini", needs=("setup.gemini",))
def gemini(ctx: Ctx) -> None:
    body = seed.GEMINI_STREAM.json()
    prompt = body["contents"][0]["parts"][0]["text"]
    config = genai_types.GenerateContentConfig(max_output_tokens=body["generationConfig"]["maxOutputTokens"],
                                               temperature=body["generationConfig"]["temperature"])
    model = ctx.target.gemini_model
    with gemini_client(ctx) as client:
        with sdk_call("models.generate_content"):
            out = client.models.generate_content(model=model, contents=prompt, config=config)
        ctx.expect(out.candidates, "generate_content: no candidates")
        ctx.expect(out.text, "generate_content: no text")
        ctx.expect(out.candidates[0].finish_reason is not None, "generate_content: no finishReason")
        um = out.usage_metadata
        ctx.expect(um and (um.candidates_token_count or 0) > 0, "generate_content: no usageMetadata")

        with sdk_call("models.generate_content_stream"):
            pieces = list(client.models.generate_content_stream(model=model, contents=prompt, config=config))
        ctx.expect(pieces, "generate_content_stream: no events")
        ctx.expect("".join(p.text or "" for p in pieces), "generate_content_stream: no text")
        last = pieces[-1]
        ctx.expect(last.candidates and last.candidates[0].finish_reason is not None,
                   "generate_content_stream: the last event has no finishReason")
        lum = last.usage_metadata
        ctx.expect(lum and (lum.candidates_token_count or 0) > 0,
                   "generate_content_stream: the last event has no usageMetadata with candidatesTokenCount")

        try:
            with sdk_call("models.list"):
                names = [m.name for m in client.models.list()]
        except CheckFailed as exc:  # the same as gemini.models' list request failing
            raise CheckFailed(str(exc), cause="gemini.models_list", exchange=exc.exchange) from None
    ctx.expect(f"models/{model}" in names, f"models.list: models/{model} not listed (got {names[:5]})")
