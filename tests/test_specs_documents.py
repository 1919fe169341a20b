"""The OpenAPI documents of the upstream APIs (specs/openapi/openai.yaml, sora.yaml).

Checks that they are valid OpenAPI 3.1, hold the schema names other parts rely on, accept
the seed's requests as written, accept real-looking objects and reject broken ones, document
errors everywhere, and that schemathesis validates SSE events through them. When the official
OpenAI document is at hand (../shared/reference), the sample objects are also validated
against it, so our schemas cannot drift into contradicting it.
"""

from __future__ import annotations

import json
from typing import Any

import pytest
import reference
import yaml
from openapi_refs import deref
from openapi_spec_validator import OpenAPIV31SpecValidator
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route
from starlette.testclient import TestClient

import specs
from specs import seed

METHODS = ("get", "put", "post", "delete", "patch", "head", "options")

NAMED_SCHEMAS = {
    "openai": [
        "ErrorResponse", "Model", "ModelList", "CreateChatCompletionRequest", "ChatCompletion",
        "ChatCompletionChunk", "ChatCompletionStreamError", "CreateResponseRequest", "Response",
        "ResponseStreamEvent", "ResponseCreatedEvent", "ResponseInProgressEvent",
        "ResponseOutputItemAddedEvent", "ResponseContentPartAddedEvent", "ResponseTextDeltaEvent",
        "ResponseTextDoneEvent", "ResponseContentPartDoneEvent", "ResponseOutputItemDoneEvent",
        "ResponseFunctionCallArgumentsDeltaEvent", "ResponseFunctionCallArgumentsDoneEvent",
        "ResponseCompletedEvent", "ResponseIncompleteEvent", "ResponseFailedEvent", "ResponseErrorEvent",
        "CreateImageRequest", "CreateImageEditJsonRequest", "CreateImageEditMultipartRequest", "ImagesResponse",
    ],
    "sora": [
        "ErrorResponse", "CreateVideoJsonRequest", "CreateVideoMultipartRequest", "Video", "VideoList",
        "DeletedVideo", "RemixVideoRequest",
    ],
}

# ------------------------------------------------------------------ the seed's bodies, as written
SEED_CHAT = seed.CHAT.json()
SEED_RESPONSES = seed.RESPONSES.json()
SEED_TOOL_CALL = seed.RESPONSES_TOOL_CALL.json()
SEED_MULTIMODAL = seed.RESPONSES_MULTIMODAL.json()
SEED_IMAGE = seed.IMAGE_GENERATION.json()
SEED_IMAGE_EDIT = seed.IMAGE_EDIT.json()
SEED_VIDEO = seed.VIDEO_CREATE.json()
SEED_REMIX = seed.VIDEO_REMIX.json()
SEED_PNG = SEED_IMAGE_EDIT["image"]

SEED_BODIES = [
    ("openai", "/v1/chat/completions", "CreateChatCompletionRequest", SEED_CHAT),
    ("openai", "/v1/responses", "CreateResponseRequest", SEED_RESPONSES),
    ("openai", "/v1/responses", "CreateResponseRequest", SEED_TOOL_CALL),
    ("openai", "/v1/responses", "CreateResponseRequest", SEED_MULTIMODAL),
    ("openai", "/v1/images/generations", "CreateImageRequest", SEED_IMAGE),
    ("openai", "/v1/images/edits", "CreateImageEditJsonRequest", SEED_IMAGE_EDIT),
    ("sora", "/v1/videos", "CreateVideoJsonRequest", SEED_VIDEO),
    ("sora", "/v1/videos/{video_id}/remix", "RemixVideoRequest", SEED_REMIX),
]

# ------------------------------------------------------------------ real-looking objects
CHAT_USAGE = {
    "prompt_tokens": 42, "completion_tokens": 6, "total_tokens": 48,
    "prompt_tokens_details": {"cached_tokens": 0, "audio_tokens": 0},
    "completion_tokens_details": {"reasoning_tokens": 0, "audio_tokens": 0, "accepted_prediction_tokens": 0,
                                  "rejected_prediction_tokens": 0},
}
CHAT_COMPLETION = {
    "id": "chatcmpl-B9MHDbslfkBeAs8l4bebGdFOJ6PeG", "object": "chat.completion", "created": 1741570283,
    "model": "gpt-4.1-mini", "system_fingerprint": "fp_mock", "service_tier": "default",
    "choices": [{"index": 0, "finish_reason": "stop", "logprobs": None,
                 "message": {"role": "assistant", "content": "1+5等于6。", "refusal": None, "annotations": []}}],
    "usage": CHAT_USAGE,
}
CHAT_TOOL_COMPLETION = {
    **CHAT_COMPLETION,
    "choices": [{"index": 0, "finish_reason": "tool_calls", "logprobs": None,
                 "message": {"role": "assistant", "content": None, "refusal": None,
                             "tool_calls": [{"id": "call_7Xa9", "type": "function",
                                             "function": {"name": "calc", "arguments": '{"expr":"1+5"}'}}]}}],
}


def chunk(choices: list[dict[str, Any]], usage: dict[str, Any] | None = None) -> dict[str, Any]:
    return {"id": "chatcmpl-B9MHDbslfkBeAs8l4bebGdFOJ6PeG", "object": "chat.completion.chunk",
            "created": 1741570283, "model": "gpt-4.1-mini", "system_fingerprint": "fp_mock",
            "choices": choices, "usage": usage}


CHUNKS = [
    chunk([{"index": 0, "delta": {"role": "assistant", "content": "", "refusal": None}, "logprobs": None,
            "finish_reason": None}]),
    chunk([{"index": 0, "delta": {"content": "1+5"}, "logprobs": None, "finish_reason": None}]),
    chunk([{"index": 0, "delta": {"tool_calls": [{"index": 0, "id": "call_7Xa9", "type": "function",
                                                  "function": {"name": "calc", "arguments": ""}}]},
            "finish_reason": None}]),
    chunk([{"index": 0, "delta": {"tool_calls": [{"index": 0, "function": {"arguments": '{"expr"'}}]},
            "finish_reason": None}]),
    chunk([{"index": 0, "delta": {}, "logprobs": None, "finish_reason": "stop"}]),
    chunk([], CHAT_USAGE),
]
STREAM_ERROR = {"error": {"message": "The upstream closed the stream.", "type": "server_error", "param": None,
                          "code": None}}
ERROR = {"error": {"message": "Invalid 'messages': empty array.", "type": "invalid_request_error",
                   "param": "messages", "code": "empty_array"}}
MODELS = {"object": "list", "data": [{"id": "gpt-4.1-mini", "object": "model", "created": 1744316542,
                                      "owned_by": "system"}]}

RESP_USAGE = {"input_tokens": 36, "input_tokens_details": {"cached_tokens": 0, "cache_write_tokens": 0},
              "output_tokens": 5, "output_tokens_details": {"reasoning_tokens": 0}, "total_tokens": 41}
OUTPUT_TEXT = {"type": "output_text", "text": "1+5=6", "annotations": [], "logprobs": []}
MESSAGE_ITEM = {"type": "message", "id": "msg_67ccd2bf17f0819081ff3bb2cf6508e6", "status": "completed",
                "role": "assistant", "content": [OUTPUT_TEXT]}
CALL_ITEM = {"type": "function_call", "id": "fc_67ccd2bf17f08190", "call_id": "call_7Xa9", "name": "calc",
             "arguments": '{"expr":"1+5"}', "status": "completed"}
CALC_TOOL = {"type": "function", "name": "calc", "description": "计算数学表达式", "strict": False,
             "parameters": {"type": "object", "properties": {"expr": {"type": "string"}}, "required": ["expr"]}}
RESPONSE = {
    "id": "resp_67ccd2bed1ec8190b14f964abc0542670bb6a6b452d3795b", "object": "response",
    "created_at": 1741476542, "completed_at": 1741476543, "status": "completed", "error": None,
    "incomplete_details": None, "instructions": None, "max_output_tokens": None, "model": "gpt-4.1-mini",
    "output": [MESSAGE_ITEM], "parallel_tool_calls": True, "previous_response_id": None,
    "reasoning": {"effort": None, "summary": None}, "store": True, "temperature": 1.0,
    "text": {"format": {"type": "text"}}, "tool_choice": "auto", "tools": [], "top_p": 1.0,
    "truncation": "disabled", "usage": RESP_USAGE, "metadata": {},
}
RESPONSE_TOOL_CALL = {**RESPONSE, "output": [CALL_ITEM], "tools": [CALC_TOOL]}
IN_PROGRESS = {k: v for k, v in RESPONSE.items() if k != "usage"} | {
    "status": "in_progress", "output": [], "completed_at": None}
FAILED = {**IN_PROGRESS, "status": "failed", "error": {"code": "server_error", "message": "Upstream failed."}}
RESPONSE_EVENTS = [
    {"type": "response.created", "sequence_number": 0, "response": IN_PROGRESS},
    {"type": "response.in_progress", "sequence_number": 1, "response": IN_PROGRESS},
    {"type": "response.output_item.added", "sequence_number": 2, "output_index": 0,
     "item": {**MESSAGE_ITEM, "status": "in_progress", "content": []}},
    {"type": "response.content_part.added", "sequence_number": 3, "item_id": MESSAGE_ITEM["id"], "output_index": 0,
     "content_index": 0, "part": {**OUTPUT_TEXT, "text": ""}},
    {"type": "response.output_text.delta", "sequence_number": 4, "item_id": MESSAGE_ITEM["id"], "output_index": 0,
     "content_index": 0, "delta": "1+5", "logprobs": []},
    {"type": "response.output_text.done", "sequence_number": 5, "item_id": MESSAGE_ITEM["id"], "output_index": 0,
     "content_index": 0, "text": "1+5=6", "logprobs": []},
    {"type": "response.content_part.done", "sequence_number": 6, "item_id": MESSAGE_ITEM["id"], "output_index": 0,
     "content_index": 0, "part": OUTPUT_TEXT},
    {"type": "response.output_item.done", "sequence_number": 7, "output_index": 0, "item": MESSAGE_ITEM},
    {"type": "response.output_item.added", "sequence_number": 8, "output_index": 1,
     "item": {**CALL_ITEM, "arguments": "", "status": "in_progress"}},
    {"type": "response.function_call_arguments.delta", "sequence_number": 9, "item_id": CALL_ITEM["id"],
     "output_index": 1, "delta": '{"expr":'},
    {"type": "response.function_call_arguments.done", "sequence_number": 10, "item_id": CALL_ITEM["id"],
     "output_index": 1, "name": "calc", "arguments": CALL_ITEM["arguments"]},
    {"type": "response.completed", "sequence_number": 11, "response": RESPONSE},
    {"type": "response.incomplete", "sequence_number": 11,
     "response": {**RESPONSE, "status": "incomplete", "incomplete_details": {"reason": "max_output_tokens"}}},
    {"type": "response.failed", "sequence_number": 11, "response": FAILED},
    {"type": "error", "sequence_number": 3, "code": "server_error", "message": "Upstream failed.", "param": None},
]
IMAGES = {"created": 1713833628, "background": "opaque", "output_format": "png", "size": "1024x1024",
          "quality": "low", "data": [{"b64_json": SEED_PNG, "revised_prompt": "一只黄色的猫咪"}],
          "usage": {"input_tokens": 50, "output_tokens": 272, "total_tokens": 322,
                    "input_tokens_details": {"text_tokens": 50, "image_tokens": 0},
                    "output_tokens_details": {"image_tokens": 272, "text_tokens": 0}}}

VIDEO_QUEUED = {
    "id": "video_68d7512d07848190b3e45da0ecbebcde004da08e1e0678d5", "object": "video", "model": "sora-2",
    "status": "queued", "progress": 0, "created_at": 1758941485, "completed_at": None, "expires_at": None,
    "prompt": "一只猫咪在打球", "size": "1280x720", "seconds": "4", "remixed_from_video_id": None, "error": None,
}
VIDEO_RUNNING = {**VIDEO_QUEUED, "status": "in_progress", "progress": 42}
VIDEO_DONE = {**VIDEO_QUEUED, "status": "completed", "progress": 100, "completed_at": 1758941545,
              "expires_at": 1759027945}
VIDEO_FAILED = {**VIDEO_QUEUED, "status": "failed", "progress": 17,
                "error": {"code": "moderation_blocked", "message": "The prompt was blocked."}}
VIDEO_REMIX = {**VIDEO_QUEUED, "id": "video_69a1", "prompt": "猫咪改成老虎",
               "remixed_from_video_id": VIDEO_DONE["id"]}
VIDEO_LIST = {"object": "list", "data": [VIDEO_DONE, VIDEO_QUEUED], "first_id": VIDEO_DONE["id"],
              "last_id": VIDEO_QUEUED["id"], "has_more": False}
VIDEO_DELETED = {"id": VIDEO_DONE["id"], "object": "video.deleted", "deleted": True}

# (document, our schema, official schema or None, object)
VALID = [
    ("openai", "ErrorResponse", "ErrorResponse", ERROR),
    ("openai", "ModelList", "ListModelsResponse", MODELS),
    ("openai", "ChatCompletion", "CreateChatCompletionResponse", CHAT_COMPLETION),
    ("openai", "ChatCompletion", "CreateChatCompletionResponse", CHAT_TOOL_COMPLETION),
    *[("openai", "ChatCompletionChunk", "CreateChatCompletionStreamResponse", c) for c in CHUNKS],
    ("openai", "ChatCompletionStreamError", "ErrorResponse", STREAM_ERROR),
    ("openai", "Response", "Response", RESPONSE),
    ("openai", "Response", "Response", RESPONSE_TOOL_CALL),
    ("openai", "Response", "Response", IN_PROGRESS),
    *[("openai", "ResponseStreamEvent", "ResponseStreamEvent", e) for e in RESPONSE_EVENTS],
    ("openai", "ImagesResponse", "ImagesResponse", IMAGES),
    ("sora", "Video", "VideoResource", VIDEO_QUEUED),
    ("sora", "Video", "VideoResource", VIDEO_RUNNING),
    ("sora", "Video", "VideoResource", VIDEO_DONE),
    ("sora", "Video", "VideoResource", VIDEO_FAILED),
    ("sora", "Video", "VideoResource", VIDEO_REMIX),
    ("sora", "VideoList", "VideoListResource", VIDEO_LIST),
    ("sora", "DeletedVideo", "DeletedVideoResource", VIDEO_DELETED),
    ("sora", "ErrorResponse", "ErrorResponse", ERROR),
]


def without(obj: dict[str, Any], key: str) -> dict[str, Any]:
    return {k: v for k, v in obj.items() if k != key}


# (document, schema, object, why it is invalid)
INVALID = [
    ("openai", "ErrorResponse", {"error": {"message": "x", "type": "server_error"}}, "param/code missing"),
    ("openai", "ErrorResponse", {"error": "boom"}, "error is a string"),
    ("openai", "ModelList", {"object": "list", "data": [{"id": "m", "object": "model"}]}, "model fields missing"),
    ("openai", "ChatCompletion", without(CHAT_COMPLETION, "choices"), "no choices"),
    ("openai", "ChatCompletion", {**CHAT_COMPLETION, "object": "chat.completion.chunk"}, "wrong object"),
    ("openai", "ChatCompletion", {**CHAT_COMPLETION, "choices": [{**CHAT_COMPLETION["choices"][0],
                                                                 "finish_reason": "done"}]}, "bad finish_reason"),
    ("openai", "ChatCompletion", {**CHAT_COMPLETION, "usage": {"prompt_tokens": 1}}, "partial usage"),
    ("openai", "ChatCompletionChunk", chunk([{"index": 0, "delta": {"content": "x"}}]), "finish_reason missing"),
    ("openai", "ChatCompletionChunk", chunk([{"index": 0, "delta": {"tool_calls": [{"id": "call_1"}]},
                                              "finish_reason": None}]), "tool call delta without index"),
    ("openai", "ChatCompletionChunk", chunk([], {"total_tokens": 3}), "partial usage chunk"),
    ("openai", "ChatCompletionStreamError", {"error": {"message": "x"}}, "error fields missing"),
    ("openai", "Response", without(RESPONSE, "output"), "no output"),
    ("openai", "Response", without(RESPONSE, "usage"), "completed without usage"),
    ("openai", "Response", {**RESPONSE, "status": "done"}, "bad status"),
    ("openai", "Response", {**RESPONSE, "usage": None}, "usage null"),
    ("openai", "Response", {**RESPONSE, "output": [{**OUTPUT_TEXT}]}, "content part as output item"),
    ("openai", "Response", {**RESPONSE, "output": [without(CALL_ITEM, "call_id")]}, "function call without call_id"),
    ("openai", "Response", {**RESPONSE, "tools": [{"type": "function", "function": {"name": "calc"}}]},
     "nested tool echoed"),
    ("openai", "Response", {**FAILED, "error": None}, "failed without error"),
    ("openai", "ResponseStreamEvent", without(RESPONSE_EVENTS[4], "sequence_number"), "no sequence_number"),
    ("openai", "ResponseStreamEvent", {**RESPONSE_EVENTS[4], "sequence_number": -1}, "negative sequence_number"),
    ("openai", "ResponseStreamEvent", {**RESPONSE_EVENTS[4], "type": "response.output_text"}, "unknown type"),
    ("openai", "ResponseStreamEvent", {**RESPONSE_EVENTS[4], "delta": 5}, "delta not a string"),
    ("openai", "ResponseStreamEvent", without(RESPONSE_EVENTS[10], "name"), "arguments.done without name"),
    ("openai", "ResponseErrorEvent", without(RESPONSE_EVENTS[-1], "param"), "error event without param"),
    ("openai", "ImagesResponse", {"created": 1, "data": [{}]}, "image without b64_json or url"),
    ("openai", "ImagesResponse", {"data": IMAGES["data"]}, "no created"),
    ("sora", "Video", {**VIDEO_QUEUED, "status": "processing"}, "status outside the four"),
    ("sora", "Video", {**VIDEO_RUNNING, "progress": 101}, "progress over 100"),
    ("sora", "Video", without(VIDEO_QUEUED, "remixed_from_video_id"), "required field missing"),
    ("sora", "Video", {**VIDEO_QUEUED, "seconds": 4}, "seconds as integer"),
    ("sora", "Video", {**VIDEO_QUEUED, "size": "854x480"}, "size outside the official ones"),
    ("sora", "Video", {**VIDEO_DONE, "progress": 90}, "completed below 100"),
    ("sora", "Video", {**VIDEO_FAILED, "error": None}, "failed without error"),
    ("sora", "Video", {**VIDEO_QUEUED, "error": {"code": "x", "message": "y"}}, "queued with an error"),
    ("sora", "VideoList", without(VIDEO_LIST, "has_more"), "no has_more"),
    ("sora", "DeletedVideo", {**VIDEO_DELETED, "object": "video"}, "wrong object"),
]

# (document, schema, body, why it is invalid): a mock answers these with 400
INVALID_REQUESTS = [
    ("openai", "CreateChatCompletionRequest", without(SEED_CHAT, "messages"), "no messages"),
    ("openai", "CreateChatCompletionRequest", {**SEED_CHAT, "messages": []}, "empty messages"),
    ("openai", "CreateChatCompletionRequest", {**SEED_CHAT, "messages": [{"role": "robot", "content": "hi"}]},
     "unknown role"),
    ("openai", "CreateChatCompletionRequest", {**SEED_CHAT, "messages": [{"role": "tool", "content": "6"}]},
     "tool message without tool_call_id"),
    ("openai", "CreateChatCompletionRequest", {**SEED_CHAT, "temperature": 3}, "temperature over 2"),
    ("openai", "CreateChatCompletionRequest", {**SEED_CHAT, "n": 0}, "n below 1"),
    ("openai", "CreateChatCompletionRequest", {**SEED_CHAT, "stream": "yes"}, "stream not boolean"),
    ("openai", "CreateChatCompletionRequest", {**SEED_CHAT, "stop": ["a", "b", "c", "d", "e"]}, "5 stops"),
    ("openai", "CreateChatCompletionRequest", {**SEED_CHAT, "response_format": {"type": "xml"}}, "bad format"),
    ("openai", "CreateChatCompletionRequest", {**SEED_CHAT, "tools": [{"type": "function"}]}, "tool without fn"),
    ("openai", "CreateResponseRequest", without(SEED_RESPONSES, "model"), "no model"),
    ("openai", "CreateResponseRequest", {**SEED_RESPONSES, "input": 5}, "input a number"),
    ("openai", "CreateResponseRequest", {**SEED_RESPONSES, "input": [{"role": "user"}]}, "message without content"),
    ("openai", "CreateResponseRequest", {**SEED_RESPONSES, "input": [{"type": "function_call_output",
                                                                       "output": "6"}]}, "output without call_id"),
    ("openai", "CreateResponseRequest", {**SEED_RESPONSES, "tools": [{"type": "function"}]}, "tool without name"),
    ("openai", "CreateResponseRequest", {**SEED_RESPONSES, "max_output_tokens": 0}, "max_output_tokens 0"),
    ("openai", "CreateImageRequest", without(SEED_IMAGE, "prompt"), "no prompt"),
    ("openai", "CreateImageRequest", {**SEED_IMAGE, "n": 11}, "n over 10"),
    ("openai", "CreateImageRequest", {**SEED_IMAGE, "size": "1000x1000"}, "unsupported size"),
    ("openai", "CreateImageRequest", {**SEED_IMAGE, "response_format": "png"}, "bad response_format"),
    ("openai", "CreateImageEditJsonRequest", without(SEED_IMAGE_EDIT, "image"), "no image at all"),
    ("openai", "CreateImageEditJsonRequest", {**SEED_IMAGE_EDIT, "images": [{"image_url": "https://x.test/a.png"}]},
     "both image forms"),
    ("openai", "CreateImageEditJsonRequest", {**SEED_IMAGE_EDIT, "image": "not base64!"}, "image not base64"),
    ("openai", "CreateImageEditMultipartRequest", {"prompt": "x"}, "no image file"),
    ("sora", "CreateVideoJsonRequest", without(SEED_VIDEO, "prompt"), "no prompt"),
    ("sora", "CreateVideoJsonRequest", {**SEED_VIDEO, "seconds": "5"}, "seconds outside 4/8/12"),
    ("sora", "CreateVideoJsonRequest", {**SEED_VIDEO, "seconds": 8}, "seconds as integer"),
    ("sora", "CreateVideoJsonRequest", {**SEED_VIDEO, "resolution": "4k"}, "unknown resolution"),
    ("sora", "CreateVideoJsonRequest", {**SEED_VIDEO, "duration": "5"}, "duration as string"),
    ("sora", "CreateVideoJsonRequest", {**SEED_VIDEO, "size": "640x480"}, "unsupported size"),
    ("sora", "CreateVideoJsonRequest", {**SEED_VIDEO, "size": "1792x1024"}, "pro size on sora-2"),
    ("sora", "CreateVideoJsonRequest", {"prompt": "x", "size": "1024x1792"}, "pro size on the default model"),
    ("sora", "CreateVideoJsonRequest", {**SEED_VIDEO, "model": "sora-3"}, "unknown model"),
    ("openai", "CreateResponseRequest", {**SEED_RESPONSES, "input": []}, "empty input list"),
    ("sora", "RemixVideoRequest", {"prompt": ""}, "empty prompt"),
]


def operations(doc: dict[str, Any]):
    for path, item in doc["paths"].items():
        for method in METHODS:
            if method in item:
                yield path, method, item[method]


# ------------------------------------------------------------------ the documents


@pytest.mark.parametrize("name", specs.names())
def test_document_is_valid_openapi_3_1(name: str) -> None:
    doc = specs.load(name)
    assert doc["openapi"].startswith("3.1"), doc["openapi"]
    # the file's URI as the base: gateway.yaml refers to its siblings (`openai.yaml#/...`)
    OpenAPIV31SpecValidator(doc, base_uri=specs.path(name).as_uri()).validate()


@pytest.mark.parametrize("name", sorted(NAMED_SCHEMAS))
def test_named_schemas_exist(name: str) -> None:
    missing = set(NAMED_SCHEMAS[name]) - set(specs.schema_names(name))
    assert not missing


@pytest.mark.parametrize("name", sorted(NAMED_SCHEMAS))
def test_operations_have_unique_ids_and_versioned_paths(name: str) -> None:
    doc = specs.load(name)
    ids = [op.get("operationId") for _, _, op in operations(doc)]
    assert all(ids) and len(ids) == len(set(ids)), ids
    assert all(path.startswith("/v1/") for path in doc["paths"])
    assert doc["servers"] == [{"url": "/"}]


@pytest.mark.parametrize("name", sorted(NAMED_SCHEMAS))
def test_every_operation_documents_errors(name: str) -> None:
    doc = specs.load(name)
    for path, method, op in operations(doc):
        responses = op["responses"]
        wanted = {"400", "401", "403", "429", "500", "503"}
        if "{" in path or "model" in json.dumps(op.get("requestBody", {})):
            wanted.add("404")  # an id or a model that may not exist
        assert wanted <= set(responses), f"{method} {path}: missing {sorted(wanted - set(responses))}"
        for status in {s for s in responses if s[0] in "45"}:
            response = deref(doc, responses[status])
            schema = response["content"]["application/json"]["schema"]
            assert schema == {"$ref": "#/components/schemas/ErrorResponse"}, (method, path, status)
        retry_after = deref(doc, responses["429"])["headers"]["Retry-After"]
        assert retry_after["required"] is True


def test_streaming_operations_document_event_envelopes() -> None:
    doc = specs.load("openai")
    for path, envelope in [("/v1/chat/completions", "ChatCompletionSseEvent"), ("/v1/responses", "ResponseSseEvent")]:
        content = doc["paths"][path]["post"]["responses"]["200"]["content"]
        assert set(content) == {"application/json", "text/event-stream"}
        assert content["text/event-stream"]["schema"] == {"$ref": f"#/components/schemas/{envelope}"}
        data = doc["components"]["schemas"][envelope]["properties"]["data"]
        assert "contentMediaType: application/json" in yaml.safe_dump(data, default_flow_style=False)


def test_stream_event_union_covers_every_event_schema() -> None:
    schemas = specs.load("openai")["components"]["schemas"]
    union = schemas["ResponseStreamEvent"]
    refs = {branch["$ref"].rsplit("/", 1)[1] for branch in union["oneOf"]}
    types = {schemas[ref]["properties"]["type"]["const"]: ref for ref in refs}
    assert set(types) == set(union["properties"]["type"]["enum"])
    assert {k: v.rsplit("/", 1)[1] for k, v in union["discriminator"]["mapping"].items()} == types
    assert set(schemas["ResponseSseEvent"]["properties"]["event"]["enum"]) == set(types)


# ------------------------------------------------------------------ requests


@pytest.mark.parametrize(("name", "path", "schema", "body"), SEED_BODIES,
                         ids=[f"{s}-{i}" for i, (_, _, s, _) in enumerate(SEED_BODIES)])
def test_seed_bodies_validate_and_are_documented_examples(name: str, path: str, schema: str,
                                                          body: dict[str, Any]) -> None:
    specs.validate(name, schema, body)
    media = specs.load(name)["paths"][path]["post"]["requestBody"]["content"]["application/json"]
    assert media["schema"] == {"$ref": f"#/components/schemas/{schema}"}
    assert body in [example["value"] for example in media["examples"].values()]


@pytest.mark.parametrize("name", sorted(NAMED_SCHEMAS))
def test_request_examples_validate(name: str) -> None:
    doc = specs.load(name)
    seen = 0
    for _, _, op in operations(doc):
        for media in op.get("requestBody", {}).get("content", {}).values():
            schema = media["schema"]["$ref"].rsplit("/", 1)[1]
            for example in media.get("examples", {}).values():
                specs.validate(name, schema, example["value"])
                seen += 1
    assert seen >= 2


def test_request_variants_the_wire_contract_allows() -> None:
    responses = [
        {**SEED_RESPONSES, "input": "what is 12*7"},
        {**SEED_RESPONSES, "tools": [CALC_TOOL], "tool_choice": {"type": "function", "name": "calc"}},
        {**SEED_RESPONSES, "previous_response_id": "resp_1",
         "input": [CALL_ITEM, {"type": "function_call_output", "call_id": "call_7Xa9", "output": "6"}]},
        {**SEED_RESPONSES, "input": [MESSAGE_ITEM, {"role": "user", "content": "thanks"}]},
        {**SEED_RESPONSES, "input": [{"role": "user", "content": [
            {"type": "input_audio", "input_audio": {"data": "UklGRg==", "format": "wav"}},
            {"type": "input_file", "filename": "a.pdf", "file_data": "data:application/pdf;base64,JVBERi0="},
            {"image_url": "https://example.com/cat.jpg"}, {"text": "plain"}]}]},
        {**SEED_RESPONSES, "text": {"format": {"type": "json_schema", "name": "out", "schema": {"type": "object"}}}},
    ]
    for body in responses:
        specs.validate("openai", "CreateResponseRequest", body)
    chat = [
        {**SEED_CHAT, "stream": True, "stream_options": {"include_usage": True}, "n": 2, "max_tokens": 10,
         "stop": "\n", "response_format": {"type": "json_schema", "json_schema": {"name": "x", "schema": {}}}},
        {**SEED_CHAT, "messages": [{"role": "user", "content": [
            {"type": "text", "text": "hi"}, {"type": "image_url", "image_url": {"url": "data:image/png;base64,AA=="}},
            {"type": "input_audio", "input_audio": {"data": "AA==", "format": "mp3"}},
            {"type": "file", "file": {"file_id": "file-1"}}]}]},
        {**SEED_CHAT, "tools": [{"type": "function", "function": {"name": "calc"}}], "tool_choice": "required",
         "unknown_extra": {"kept": True}},
    ]
    for body in chat:
        specs.validate("openai", "CreateChatCompletionRequest", body)
    specs.validate("openai", "CreateImageEditJsonRequest",
                   {"prompt": "x", "images": [{"file_id": "file-1"}], "mask": {"image_url": "https://x.test/m.png"}})
    specs.validate("openai", "CreateImageEditMultipartRequest", {"prompt": "x", "image[]": ["<png>", "<png>"]})
    specs.validate("sora", "CreateVideoJsonRequest", {"prompt": "x", "seconds": "12", "size": "720x1280"})
    specs.validate("sora", "CreateVideoJsonRequest", {"prompt": "x", "model": "sora-2-pro", "size": "1792x1024"})
    specs.validate("sora", "CreateVideoMultipartRequest", {"prompt": "x", "input_reference": "<png>", "fps": 24})


@pytest.mark.parametrize(("name", "schema", "body", "why"), INVALID_REQUESTS, ids=[w for *_, w in INVALID_REQUESTS])
def test_invalid_requests_are_rejected(name: str, schema: str, body: Any, why: str) -> None:
    assert not specs.is_valid(name, schema, body), why


# ------------------------------------------------------------------ responses


@pytest.mark.parametrize(("name", "schema", "official", "obj"), VALID,
                         ids=[f"{s}-{i}" for i, (_, s, _, _) in enumerate(VALID)])
def test_real_looking_objects_validate(name: str, schema: str, official: str, obj: Any) -> None:
    specs.validate(name, schema, obj)


@pytest.mark.parametrize(("name", "schema", "obj", "why"), INVALID, ids=[w for *_, w in INVALID])
def test_broken_objects_fail(name: str, schema: str, obj: Any, why: str) -> None:
    assert specs.schema_errors(name, schema, obj), why


def test_response_events_validate_by_their_own_name() -> None:
    schemas = specs.load("openai")["components"]["schemas"]
    mapping = schemas["ResponseStreamEvent"]["discriminator"]["mapping"]
    for event in RESPONSE_EVENTS:
        specs.validate("openai", mapping[event["type"]].rsplit("/", 1)[1], event)


def test_the_openai_sdk_parses_the_objects_strictly() -> None:
    openai_types = pytest.importorskip("openai.types")
    from openai.types.chat import ChatCompletion, ChatCompletionChunk
    from openai.types.responses import Response as SdkResponse
    from openai.types.responses import ResponseStreamEvent
    from pydantic import TypeAdapter

    sdk = {"ChatCompletion": ChatCompletion, "ChatCompletionChunk": ChatCompletionChunk, "Response": SdkResponse,
           "ImagesResponse": openai_types.ImagesResponse, "Video": openai_types.Video,
           "DeletedVideo": openai_types.VideoDeleteResponse}
    parsed = 0
    for _, schema, _, obj in VALID:
        if schema in sdk:
            sdk[schema].model_validate(obj)
            parsed += 1
    events = TypeAdapter(ResponseStreamEvent)
    for event in RESPONSE_EVENTS:
        assert events.validate_python(event).type == event["type"]
    assert parsed >= 15


# ------------------------------------------------------------------ the official document


@pytest.mark.skipif(not reference.OPENAI_DOC.is_file(), reason="official OpenAI document not available")
@pytest.mark.parametrize(("name", "schema", "official_schema", "obj"), VALID,
                         ids=[f"{s}-{i}" for i, (_, s, _, _) in enumerate(VALID)])
def test_real_looking_objects_also_validate_against_the_official_schemas(
        name: str, schema: str, official_schema: str, obj: Any) -> None:
    reference.validate_openai(official_schema, obj)


# ------------------------------------------------------------------ schemathesis and SSE


def _sse_app(path: str, body: str) -> Starlette:
    async def handler(request: Request) -> Response:
        return Response(body, media_type="text/event-stream")

    return Starlette(routes=[Route(path, handler, methods=["POST"])])


def _schemathesis_failures(name: str, path: str, body: str) -> list[str]:
    """Serve `body` as an SSE response and let schemathesis validate it against the document."""
    import schemathesis
    from schemathesis.core.failures import FailureGroup

    operation = schemathesis.openapi.from_path(str(specs.path(name)))[path]["POST"]
    with TestClient(_sse_app(path, body)) as client:
        response = client.post(path, json={})
    try:
        operation.validate_response(response)
    except FailureGroup as group:
        return [f.title for f in group.exceptions]
    except AssertionError as failure:
        return [getattr(failure, "title", str(failure))]
    return []


def _chat_stream(events: list[Any]) -> str:
    return "".join(f"data: {e if isinstance(e, str) else json.dumps(e, ensure_ascii=False)}\n\n" for e in events)


def _responses_stream(events: list[dict[str, Any]]) -> str:
    return "".join(f"event: {e['type']}\ndata: {json.dumps(e, ensure_ascii=False)}\n\n" for e in events)


def test_schemathesis_accepts_valid_streams() -> None:
    assert _schemathesis_failures("openai", "/v1/chat/completions", _chat_stream([*CHUNKS, "[DONE]"])) == []
    assert _schemathesis_failures("openai", "/v1/chat/completions", _chat_stream([CHUNKS[0], STREAM_ERROR])) == []
    assert _schemathesis_failures("openai", "/v1/responses", _responses_stream(RESPONSE_EVENTS)) == []


@pytest.mark.parametrize("events", [
    [chunk([{"index": "0", "delta": {}, "finish_reason": None}]), "[DONE]"],
    [CHUNKS[0], "not json", "[DONE]"],
    [CHUNKS[0], {"error": {"message": "no type, param or code"}}],
    [CHUNKS[0], "DONE"],
], ids=["bad-chunk", "not-json", "bad-error-event", "bad-done"])
def test_schemathesis_reports_a_broken_chat_event(events: list[Any]) -> None:
    failures = _schemathesis_failures("openai", "/v1/chat/completions", _chat_stream(events))
    assert failures and all("SSE event" in title for title in failures), failures


def test_schemathesis_reports_a_broken_responses_event() -> None:
    bad = [*RESPONSE_EVENTS[:4], {**RESPONSE_EVENTS[4], "sequence_number": -1}]
    failures = _schemathesis_failures("openai", "/v1/responses", _responses_stream(bad))
    assert failures == ["SSE event payload violates content schema"]
    unnamed = _responses_stream(RESPONSE_EVENTS[:1]).replace("event: response.created", "event: message")
    assert _schemathesis_failures("openai", "/v1/responses", unnamed) == ["SSE event violates schema"]


# ------------------------------------------------------------------ leniency (issue 14)
# The API reads an explicit null as "not given" and answers with nulls or without fields where the official
# document is stricter: a relay such as LiteLLM passes both on, and our documents must not call that a fault.
NULLABLE_REQUEST_FIELDS = [
    ("openai", "CreateChatCompletionRequest", SEED_CHAT,
     ["user", "tools", "tool_choice", "parallel_tool_calls", "response_format", "stop", "n", "max_tokens",
      "max_completion_tokens", "temperature", "top_p", "seed", "stream_options", "metadata", "logprobs"]),
    ("openai", "CreateResponseRequest", SEED_RESPONSES,
     ["user", "tools", "tool_choice", "text", "parallel_tool_calls", "instructions", "max_output_tokens",
      "metadata", "temperature", "reasoning", "include", "truncation"]),
    ("openai", "CreateImageRequest", SEED_IMAGE, ["user", "n", "size", "quality", "response_format"]),
]


@pytest.mark.parametrize(("name", "schema", "body", "fields"), NULLABLE_REQUEST_FIELDS,
                         ids=[s for _, s, _, _ in NULLABLE_REQUEST_FIELDS])
def test_explicit_nulls_in_requests_are_accepted(name: str, schema: str, body: Any, fields: list[str]) -> None:
    refused = [f for f in fields if not specs.is_valid(name, schema, {**body, f: None})]
    assert not refused, f"{schema} refuses null for {refused}"
    specs.validate(name, schema, {**body, **dict.fromkeys(fields)})


def test_answers_with_nulls_or_without_optional_fields_are_accepted() -> None:
    specs.validate("openai", "Response", {**RESPONSE, "user": None})
    specs.validate("sora", "Video", without(VIDEO_QUEUED, "prompt"))
    specs.validate("sora", "Video", {**VIDEO_DONE, "prompt": None})
