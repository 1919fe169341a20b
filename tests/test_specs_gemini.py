"""specs/openapi/gemini.yaml: the upstream Gemini API (v1beta) document.

Checks the document itself, the shapes it accepts and rejects, and that it agrees with the
google-genai SDK, with the Google-generated reference document (where that is available) and
with schemathesis' validation of text/event-stream responses.
"""

from __future__ import annotations

import copy
import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import jsonschema
import pytest
import schemathesis
from conftest import REFERENCE
from google import genai
from google.genai import types as gtypes
from openapi_refs import deref
from openapi_spec_validator import validate as validate_openapi
from referencing import Registry, Resource
from referencing.jsonschema import DRAFT202012
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import StreamingResponse
from starlette.routing import Route

import specs
from specs import seed, sse

DOC = "gemini"
MODELS = "/v1beta/models"
MODEL = "/v1beta/models/{model}"
GENERATE = "/v1beta/models/{model}:generateContent"
STREAM = "/v1beta/models/{model}:streamGenerateContent"
COUNT = "/v1beta/models/{model}:countTokens"
ERROR_STATUSES = {"400", "401", "403", "404", "429", "500", "503"}

# The seed usage guide's Gemini request (section 7), as written there; tests/test_seed.py ties it to the guide.
SEED_BODY_TEXT = seed.GEMINI_STREAM.body or ""


def doc() -> dict[str, Any]:
    return specs.load(DOC)


# ---- small helpers -----------------------------------------------------------------------------------


def validator_for(document: dict[str, Any], schema: Any) -> jsonschema.Draft202012Validator:
    """A validator for `schema`, whose local `$ref`s resolve against `document`."""
    uri = "urn:test:doc"
    registry = Registry().with_resource(uri, Resource.from_contents(document, default_specification=DRAFT202012))
    rooted = json.loads(json.dumps(schema).replace('"$ref": "#/', f'"$ref": "{uri}#/'))
    return jsonschema.Draft202012Validator(rooted, registry=registry)


def media_type(path: str, method: str, status: str, mtype: str = "application/json") -> dict[str, Any]:
    document = doc()
    response = deref(document, document["paths"][path][method]["responses"][status])
    return response["content"][mtype]


def assert_invalid_at(obj: Any, schema: str, where: str) -> None:
    """`schema` rejects `obj`, with a problem at a path that contains `where`."""
    problems = specs.schema_errors(DOC, schema, obj)
    assert any(where in p for p in problems), problems or f"{schema} accepts it"


# ---- reference document (../shared/reference, outside the repo: skipped when absent) -----------------------------------------

REFERENCE_GEMINI = REFERENCE / "gemini-generativelanguage-v1beta-openapi3-rev20241016.json"


@pytest.fixture(scope="module")
def reference() -> dict[str, Any]:
    if not REFERENCE_GEMINI.is_file():
        pytest.skip(f"{REFERENCE_GEMINI} not found")
    return json.loads(REFERENCE_GEMINI.read_text(encoding="utf-8"))


def reference_errors(reference: dict[str, Any], schema: str, instance: Any) -> list[str]:
    v = validator_for(reference, {"$ref": f"#/components/schemas/{schema}"})
    return [f"{'/'.join(map(str, e.absolute_path))}: {e.message}" for e in v.iter_errors(instance)]


# ---- fixtures: hand-written objects ---------------------------------------------------------------------


def text_response(text: str = "1+5 = 6", finish: str | None = "STOP") -> dict[str, Any]:
    candidate: dict[str, Any] = {"content": {"role": "model", "parts": [{"text": text}]}, "index": 0}
    if finish:
        candidate["finishReason"] = finish
    return {
        "candidates": [candidate],
        "usageMetadata": {"promptTokenCount": 12, "candidatesTokenCount": 5, "totalTokenCount": 17},
        "modelVersion": "gemini-2.5-flash",
        "responseId": "mB0oaJ-uHdGLz7IPqN6-qQk",
    }


def function_call_response() -> dict[str, Any]:
    r = text_response()
    r["candidates"][0]["content"]["parts"] = [{"functionCall": {"name": "calc", "args": {"expr": "1+5"}, "id": "c1"}}]
    return r


def thought_response() -> dict[str, Any]:
    r = text_response("12*7 = 84")
    r["candidates"][0]["content"]["parts"].insert(0, {"text": "Multiply.", "thought": True})
    r["candidates"][0]["safetyRatings"] = [{"category": "HARM_CATEGORY_HARASSMENT", "probability": "NEGLIGIBLE"}]
    r["usageMetadata"].update(thoughtsTokenCount=20, totalTokenCount=37,
                              promptTokensDetails=[{"modality": "TEXT", "tokenCount": 12}])
    return r


def blocked_response() -> dict[str, Any]:
    return {"promptFeedback": {"blockReason": "SAFETY"}, "usageMetadata": {"promptTokenCount": 3, "totalTokenCount": 3},
            "modelVersion": "gemini-2.5-flash", "responseId": "r2"}


VALID_RESPONSES = {
    "text": text_response(),
    "function_call": function_call_response(),
    "thoughts": thought_response(),
    "max_tokens": text_response("Once upon", "MAX_TOKENS"),
    "stream_piece_without_finish": text_response("Once", None),
    "prompt_blocked": blocked_response(),
}


def _mutate(fn) -> dict[str, Any]:
    r = text_response()
    fn(r)
    return r


# (name, object, a fragment of the violation we expect: it must fail for that reason)
INVALID_RESPONSES = [
    ("unknown_finish_reason", _mutate(lambda r: r["candidates"][0].update(finishReason="DONE")), "candidates/0/finishReason"),
    ("snake_case_field", _mutate(lambda r: r.update(usage_metadata=r.pop("usageMetadata"))), "usage_metadata"),
    ("snake_case_in_candidate", _mutate(lambda r: r["candidates"][0].update(finish_reason=r["candidates"][0].pop("finishReason"))), "finish_reason"),
    ("role_user", _mutate(lambda r: r["candidates"][0]["content"].update(role="user")), "candidates/0/content/role"),
    ("no_response_id", _mutate(lambda r: r.pop("responseId")), "responseId"),
    ("no_candidates_nor_feedback", _mutate(lambda r: r.pop("candidates")), "(root)"),
    ("empty_candidates", _mutate(lambda r: r.update(candidates=[])), "candidates"),
    ("negative_tokens", _mutate(lambda r: r["usageMetadata"].update(candidatesTokenCount=-1)), "usageMetadata/candidatesTokenCount"),
    ("no_total_tokens", _mutate(lambda r: r["usageMetadata"].pop("totalTokenCount")), "totalTokenCount"),
    ("tokens_as_string", _mutate(lambda r: r["usageMetadata"].update(promptTokenCount="12")), "usageMetadata/promptTokenCount"),
    ("part_without_data", _mutate(lambda r: r["candidates"][0]["content"].update(parts=[{"thought": True}])), "parts/0"),
    ("part_with_two_data", _mutate(lambda r: r["candidates"][0]["content"]["parts"][0].update(
        functionCall={"name": "calc", "args": {}})), "parts/0"),
    ("text_not_string", _mutate(lambda r: r["candidates"][0]["content"]["parts"][0].update(text=6)), "parts/0/text"),
    ("openai_shape", {"choices": [{"message": {"role": "assistant", "content": "hi"}}]}, "(root)"),
]


# ---- the document ---------------------------------------------------------------------------------------


def test_document_is_valid_openapi_3_1() -> None:
    document = doc()
    validate_openapi(copy.deepcopy(document))
    assert document["openapi"] == "3.1.0"
    assert document["servers"] == [{"url": "/"}]


def test_named_schemas_exist() -> None:
    names = set(specs.schema_names(DOC))
    assert {
        "ErrorResponse", "Model", "ListModelsResponse", "GenerateContentRequest", "GenerateContentResponse",
        "Content", "Part", "Candidate", "UsageMetadata", "CountTokensRequest", "CountTokensResponse",
    } <= names


def test_operations_and_error_responses() -> None:
    paths = doc()["paths"]
    expected = {
        (MODELS, "get"): "listModels", (MODEL, "get"): "getModel", (GENERATE, "post"): "generateContent",
        (STREAM, "post"): "streamGenerateContent", (COUNT, "post"): "countTokens",
    }
    found = {(p, m): op["operationId"] for p, item in paths.items() for m, op in item.items()}
    assert found == expected
    for (p, m), _ in expected.items():
        statuses = set(paths[p][m]["responses"])
        assert statuses >= ERROR_STATUSES, (p, m, ERROR_STATUSES - statuses)
        for status in statuses - {"200"}:
            v = validator_for(doc(), media_type(p, m, status)["schema"])
            # what the mocks send (specs.errors) fits; the code must be the HTTP status, the name must fit it
            body = specs.errors.gemini_error(int(status), "m")
            assert v.is_valid(body), (p, m, status, body)
            assert not v.is_valid({"error": {**body["error"], "code": 418}}), (p, m, status)
            assert not v.is_valid({"error": {**body["error"], "status": "ABORTED"}}), (p, m, status)


def test_stream_documents_both_media_types() -> None:
    content = media_type(STREAM, "post", "200", "text/event-stream")
    event = deref(doc(), content["schema"])
    data = event["properties"]["data"]
    assert data["contentMediaType"] == "application/json"
    assert data["contentSchema"] == {"$ref": "#/components/schemas/GenerateContentResponse"}
    array = media_type(STREAM, "post", "200")["schema"]
    assert array["type"] == "array"
    assert array["items"] == {"$ref": "#/components/schemas/GenerateContentResponse"}
    alt = next(p for p in doc()["paths"][STREAM]["post"]["parameters"] if p.get("name") == "alt")
    assert alt["in"] == "query" and set(alt["schema"]["enum"]) == {"sse", "json"}


def _examples() -> Iterator[tuple[str, Any, Any, str]]:
    """(where, schema, example value, media type) for every example of the document."""
    document = doc()
    for p, item in document["paths"].items():
        for m, op in item.items():
            body = deref(document, op.get("requestBody", {}))
            for mt, mo in body.get("content", {}).items():
                for name, ex in mo.get("examples", {}).items():
                    yield f"{m} {p} request {name}", mo["schema"], deref(document, ex)["value"], mt
            for status, response in op["responses"].items():
                for mt, mo in deref(document, response).get("content", {}).items():
                    for name, ex in mo.get("examples", {}).items():
                        yield f"{m} {p} {status} {name}", mo["schema"], deref(document, ex)["value"], mt


def test_every_example_matches_its_schema() -> None:
    seen = 0
    for where, schema, value, mt in _examples():
        v = validator_for(doc(), schema)
        if mt == "text/event-stream":
            events = sse.parse(value)
            assert events, where
            assert value.endswith("\r\n\r\n"), "the real API frames events with CRLF"
            for ev in events:
                assert v.is_valid({"data": ev.data, "event": "message"}), where
                specs.validate(DOC, "GenerateContentResponse", ev.json())
            assert "finishReason" in events[-1].json()["candidates"][0]
        else:
            problems = [e.message for e in v.iter_errors(value)]
            assert not problems, (where, problems)
        seen += 1
    assert seen > 40


def test_response_field_names_are_lower_camel_case() -> None:
    pattern = specs.load(DOC)["components"]["schemas"]["LowerCamelName"]["pattern"]
    v = jsonschema.Draft202012Validator({"type": "string", "pattern": pattern})
    # Part and Content are shared with requests, which may use proto names; Candidate constrains them in responses
    for name in ("GenerateContentResponse", "Candidate", "UsageMetadata", "Model", "ListModelsResponse",
                 "CountTokensResponse"):
        for prop in deref(doc(), doc()["components"]["schemas"][name]).get("properties", {}):
            assert v.is_valid(prop), (name, prop)


# ---- requests -------------------------------------------------------------------------------------------


def test_seed_body_validates_and_is_the_documented_example() -> None:
    body = json.loads(SEED_BODY_TEXT)
    assert body["alt"] == "sse" and body["stream"] is False  # the non-upstream fields are really there
    specs.validate(DOC, "GenerateContentRequest", body)
    example = doc()["components"]["requestBodies"]["GenerateContent"]["content"]["application/json"]["examples"]["seed"]
    assert example["value"] == body
    assert list(example["value"]) == list(body)  # same key order as the seed


VALID_REQUESTS = {
    "minimal": {"contents": [{"parts": [{"text": "hi"}]}]},
    "multi_turn_function": {
        "contents": [
            {"role": "user", "parts": [{"text": "1+5?"}]},
            {"role": "model", "parts": [{"functionCall": {"name": "calc", "args": {"expr": "1+5"}}}]},
            {"role": "function", "parts": [{"functionResponse": {"name": "calc", "response": {"result": 6}}}]},
        ],
        "tools": [{"functionDeclarations": [{"name": "calc", "parametersJsonSchema": {"type": "object"}}]}],
        "toolConfig": {"functionCallingConfig": {"mode": "ANY", "allowedFunctionNames": ["calc"]}},
    },
    "snake_case": {
        "contents": [{"role": "user", "parts": [{"inline_data": {"mime_type": "image/png", "data": "iVBORw=="}}]}],
        "system_instruction": {"parts": [{"text": "be brief"}]},
        "generation_config": {"max_output_tokens": 5, "thinking_config": {"thinking_budget": 0}},
    },
    "thinking_and_json": {
        "contents": [{"role": "user", "parts": [{"text": "colours"}]}],
        "generationConfig": {"thinkingConfig": {"thinkingBudget": -1, "includeThoughts": True},
                             "responseMimeType": "application/json", "responseJsonSchema": {"type": "object"},
                             "topK": 40.0, "stopSequences": ["a", "b"]},
        "safetySettings": [{"category": "HARM_CATEGORY_DANGEROUS_CONTENT", "threshold": "BLOCK_NONE"}],
    },
    "unpadded_url_safe_base64": {"contents": [{"parts": [{"inlineData": {"mimeType": "image/png", "data": "-_8"}}]}]},
    "thought_signature_round_trip": {
        "contents": [{"role": "model", "parts": [{"text": "ok", "thoughtSignature": "c2lnbmF0dXJl"}]},
                     {"role": "user", "parts": [{"text": "go on"}]}],
    },
}

INVALID_REQUESTS = [
    ("no_contents", {"generationConfig": {"temperature": 1}}, "contents"),
    ("empty_contents", {"contents": []}, "contents"),
    ("contents_not_a_list", {"contents": {"parts": [{"text": "hi"}]}}, "contents"),
    ("system_role_in_contents", {"contents": [{"role": "system", "parts": [{"text": "x"}]}]}, "contents/0/role"),
    ("no_parts", {"contents": [{"role": "user"}]}, "contents/0"),
    ("empty_system_instruction", {"contents": [{"parts": [{"text": "a"}]}], "systemInstruction": {}}, "systemInstruction"),
    ("empty_parts", {"contents": [{"role": "user", "parts": []}]}, "contents/0/parts"),
    ("empty_part", {"contents": [{"parts": [{}]}]}, "contents/0/parts/0"),
    ("two_data_fields", {"contents": [{"parts": [{"text": "a", "inline_data": {"data": "AA=="}}]}]}, "contents/0/parts/0"),
    ("bad_base64", {"contents": [{"parts": [{"inlineData": {"mimeType": "image/png", "data": "not base64!"}}]}]},
     "inlineData/data"),
    ("temperature_too_high", {"contents": [{"parts": [{"text": "a"}]}], "generationConfig": {"temperature": 3}},
     "generationConfig/temperature"),
    ("zero_max_tokens", {"contents": [{"parts": [{"text": "a"}]}], "generationConfig": {"maxOutputTokens": 0}},
     "generationConfig/maxOutputTokens"),
    ("stream_not_bool", {"contents": [{"parts": [{"text": "a"}]}], "stream": "yes"}, "stream"),
    ("alt_unknown", {"contents": [{"parts": [{"text": "a"}]}], "alt": "proto"}, "alt"),
    ("function_response_without_response", {"contents": [{"parts": [{"functionResponse": {"name": "calc"}}]}]},
     "functionResponse"),
    ("bad_function_name", {"contents": [{"parts": [{"text": "a"}]}],
                           "tools": [{"functionDeclarations": [{"name": "1 bad name"}]}]}, "functionDeclarations/0/name"),
    ("openai_messages", {"model": "gemini-2.5-flash", "messages": [{"role": "user", "content": "hi"}]}, "contents"),
    # the proto spellings are typed like the documented ones
    ("snake_part_null", {"contents": [{"parts": [{"code_execution_result": None}]}]}, "code_execution_result"),
    ("snake_file_data_without_uri", {"contents": [{"parts": [{"file_data": {"mime_type": "image/png"}}]}]},
     "file_data"),
    ("snake_inline_data_bad_base64", {"contents": [{"parts": [{"inline_data": {"mime_type": "image/png", "data": "%%%"}}]}]},
     "inline_data/data"),
    ("base64_impossible_length", {"contents": [{"parts": [{"inlineData": {"mimeType": "image/png", "data": "AAAAA"}}]}]},
     "inlineData/data"),
    ("inline_data_without_mime_type", {"contents": [{"parts": [{"inlineData": {"data": "AAAA"}}]}]}, "inlineData"),
]


@pytest.mark.parametrize("name", sorted(VALID_REQUESTS))
def test_valid_requests(name: str) -> None:
    specs.validate(DOC, "GenerateContentRequest", VALID_REQUESTS[name])


@pytest.mark.parametrize(("name", "body", "where"), INVALID_REQUESTS, ids=[c[0] for c in INVALID_REQUESTS])
def test_invalid_requests(name: str, body: dict[str, Any], where: str) -> None:
    assert_invalid_at(body, "GenerateContentRequest", where)


def test_count_tokens_request_is_contents_or_whole_request() -> None:
    contents = [{"role": "user", "parts": [{"text": "hi"}]}]
    specs.validate(DOC, "CountTokensRequest", {"contents": contents})
    specs.validate(DOC, "CountTokensRequest",
                   {"generateContentRequest": {"model": "models/gemini-2.5-flash", "contents": contents}})
    assert not specs.is_valid(DOC, "CountTokensRequest", {})
    assert not specs.is_valid(DOC, "CountTokensRequest", {"contents": contents, "generateContentRequest":
                                                          {"model": "models/x", "contents": contents}})
    assert not specs.is_valid(DOC, "CountTokensRequest", {"generateContentRequest": {"contents": contents}})
    assert not specs.is_valid(DOC, "CountTokensRequest", {"generate_content_request": ["x", {}]})
    specs.validate(DOC, "CountTokensResponse", {"totalTokens": 3})
    assert not specs.is_valid(DOC, "CountTokensResponse", {"total_tokens": 3})


# ---- responses ------------------------------------------------------------------------------------------


@pytest.mark.parametrize("name", sorted(VALID_RESPONSES))
def test_valid_responses(name: str) -> None:
    specs.validate(DOC, "GenerateContentResponse", VALID_RESPONSES[name])


@pytest.mark.parametrize(("name", "obj", "where"), INVALID_RESPONSES, ids=[c[0] for c in INVALID_RESPONSES])
def test_invalid_responses(name: str, obj: dict[str, Any], where: str) -> None:
    assert_invalid_at(obj, "GenerateContentResponse", where)


@pytest.mark.parametrize("name", sorted(VALID_RESPONSES))
def test_valid_responses_parse_with_the_sdk(name: str) -> None:
    # model_validate forbids unknown fields, so this also shows every field we emit is one the SDK knows
    parsed = gtypes.GenerateContentResponse.model_validate(VALID_RESPONSES[name])
    assert parsed.response_id == VALID_RESPONSES[name]["responseId"]
    if name == "text":
        assert parsed.text == "1+5 = 6"
        assert parsed.candidates[0].finish_reason == gtypes.FinishReason.STOP
        assert parsed.usage_metadata.total_token_count == 17
    if name == "function_call":
        assert parsed.function_calls[0].args == {"expr": "1+5"}


@pytest.mark.parametrize("name", sorted(VALID_RESPONSES))
def test_valid_responses_match_the_reference(reference: dict[str, Any], name: str) -> None:
    assert reference_errors(reference, "GenerateContentResponse", VALID_RESPONSES[name]) == []


def test_reference_helper_rejects(reference: dict[str, Any]) -> None:
    bad = text_response()
    bad["candidates"][0]["index"] = "0"
    bad["usageMetadata"]["totalTokenCount"] = 1.5
    assert len(reference_errors(reference, "GenerateContentResponse", bad)) == 2


def test_models_and_errors() -> None:
    model = {"name": "models/gemini-2.5-flash", "version": "001", "displayName": "Gemini 2.5 Flash",
             "inputTokenLimit": 1048576, "outputTokenLimit": 65536,
             "supportedGenerationMethods": ["generateContent", "countTokens"], "thinking": True}
    specs.validate(DOC, "Model", model)
    specs.validate(DOC, "ListModelsResponse", {"models": [model], "nextPageToken": "t"})
    assert not specs.is_valid(DOC, "Model", {**model, "name": "gemini-2.5-flash"})  # needs the models/ prefix
    assert not specs.is_valid(DOC, "Model", {k: v for k, v in model.items() if k != "supportedGenerationMethods"})
    assert not specs.is_valid(DOC, "ListModelsResponse", {"data": [model]})  # the OpenAI list shape

    specs.validate(DOC, "ErrorResponse", specs.errors.gemini_error(404, "models/x is not found"))
    specs.validate(DOC, "ErrorResponse", {"error": {"code": 429, "message": "slow down", "status": "RESOURCE_EXHAUSTED",
                                                    "details": [{"@type": "type.googleapis.com/google.rpc.RetryInfo",
                                                                 "retryDelay": "7s"}]}})
    assert not specs.is_valid(DOC, "ErrorResponse", specs.errors.openai_error(400, "bad"))
    assert not specs.is_valid(DOC, "ErrorResponse", {"error": {"code": 400, "message": "m", "status": "BAD"}})
    assert not specs.is_valid(DOC, "ErrorResponse", {"error": {"code": 400, "message": "m", "status": "INVALID_ARGUMENT",
                                                               "details": [{"reason": "no @type"}]}})


# ---- agreement with the reference document --------------------------------------------------------------

# our schema -> the reference's schema of the same message
REFERENCE_PAIRS = {
    "GenerateContentRequest": "GenerateContentRequest", "GenerateContentResponse": "GenerateContentResponse",
    "Candidate": "Candidate", "Content": "Content", "Part": "Part", "UsageMetadata": "UsageMetadata",
    "Model": "Model", "ListModelsResponse": "ListModelsResponse", "CountTokensRequest": "CountTokensRequest",
    "CountTokensResponse": "CountTokensResponse", "GenerationConfig": "GenerationConfig", "Blob": "Blob",
    "FileData": "FileData", "FunctionCall": "FunctionCall", "FunctionResponse": "FunctionResponse",
    "FunctionDeclaration": "FunctionDeclaration", "Tool": "Tool", "ToolConfig": "ToolConfig",
    "SafetySetting": "SafetySetting", "SafetyRating": "SafetyRating", "Status": "Status",
}


def _properties(document: dict[str, Any], schema: Any) -> dict[str, Any]:
    schema = deref(document, schema)
    props = dict(schema.get("properties", {}))
    for sub in schema.get("allOf", []):
        props = {**_properties(document, sub), **props}
    return props


def _type(document: dict[str, Any], schema: Any) -> Any:
    schema = deref(document, schema)
    for sub in schema.get("allOf", []):
        if (t := _type(document, sub)) is not None:
            return t
    return schema.get("type")


def test_property_types_and_enums_agree_with_the_reference(reference: dict[str, Any]) -> None:
    ours_doc = doc()
    compared = 0
    for ours, theirs in REFERENCE_PAIRS.items():
        our_props = _properties(ours_doc, ours_doc["components"]["schemas"][ours])
        their_props = _properties(reference, reference["components"]["schemas"][theirs])
        for name in our_props.keys() & their_props.keys():
            ours_t, theirs_t = _type(ours_doc, our_props[name]), _type(reference, their_props[name])
            if ours_t and theirs_t:
                allowed = ours_t if isinstance(ours_t, list) else [ours_t]
                assert theirs_t in allowed, (ours, name, ours_t, theirs_t)
                compared += 1
            their_enum = deref(reference, their_props[name]).get("enum")
            our_enum = deref(ours_doc, our_props[name]).get("enum")
            if their_enum and our_enum:
                assert set(their_enum) <= set(our_enum), (ours, name, set(their_enum) - set(our_enum))
    assert compared > 60


# ---- schemathesis reads the stream the way this document means it ----------------------------------------


def _piece(finish: str | None) -> dict[str, Any]:
    return text_response("x", finish)


def _stream_app(last: dict[str, Any]) -> Starlette:
    async def stream(request: Request) -> StreamingResponse:
        async def events():
            for piece in (_piece(None), last):
                yield sse.encode(piece, crlf=True)
        return StreamingResponse(events(), media_type="text/event-stream")

    return Starlette(routes=[Route("/v1beta/models/{rest}", stream, methods=["POST"])])


@pytest.mark.parametrize(("last", "failure"), [
    (_piece("STOP"), None),
    (_piece("DONE"), "DONE"),
    ({**_piece("STOP"), "response_id": "r"}, "response_id"),
], ids=["valid", "bad_enum", "snake_case"])
def test_schemathesis_validates_each_sse_event(last: dict[str, Any], failure: str | None) -> None:
    schema = schemathesis.openapi.from_dict(copy.deepcopy(doc()))
    schema.app = _stream_app(last)
    case = schema[STREAM]["POST"].Case(
        path_parameters={"model": "gemini-2.5-flash"}, query={"alt": "sse"},
        body=json.loads(SEED_BODY_TEXT), headers={"x-goog-api-key": "k"})
    assert case.formatted_path == "/v1beta/models/gemini-2.5-flash:streamGenerateContent"
    response = case.call()
    assert response.status_code == 200
    checks = [schemathesis.checks.response_schema_conformance]
    if failure is None:
        case.validate_response(response, checks=checks)
        return
    with pytest.raises(schemathesis.checks.FailureGroup) as info:
        case.validate_response(response, checks=checks)
    (only,) = info.value.exceptions
    assert "SSE event payload violates content schema" in only.title
    assert "Event #1" in only.message and failure in only.message


# ---- the google-genai SDK against the documented examples ------------------------------------------------


class _ExampleServer(BaseHTTPRequestHandler):
    """Answers every operation with the document's first example and records request bodies."""

    received: list[tuple[str, Any]] = []

    def log_message(self, *args: Any) -> None:  # keep pytest output clean
        pass

    def _send(self, body: bytes, content_type: str) -> None:
        self.send_response(200)
        self.send_header("content-type", content_type)
        self.send_header("content-length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    @staticmethod
    def _example(path: str, method: str, mtype: str = "application/json") -> Any:
        examples = media_type(path, method, "200", mtype)["examples"]
        return deref(doc(), next(iter(examples.values())))["value"]

    def do_GET(self) -> None:
        self.received.append((self.path, None))
        path = self.path.split("?")[0]
        which = MODELS if path == MODELS else MODEL
        self._send(json.dumps(self._example(which, "get")).encode(), "application/json")

    def do_POST(self) -> None:
        body = json.loads(self.rfile.read(int(self.headers["content-length"])))
        self.received.append((self.path, body))
        if ":streamGenerateContent" in self.path:
            if "alt=sse" in self.path:
                self._send(self._example(STREAM, "post", "text/event-stream").encode(), "text/event-stream")
            else:
                self._send(json.dumps(self._example(STREAM, "post")).encode(), "application/json")
        elif ":countTokens" in self.path:
            self._send(json.dumps(self._example(COUNT, "post")).encode(), "application/json")
        else:
            self._send(json.dumps(self._example(GENERATE, "post")).encode(), "application/json")


@pytest.fixture(scope="module")
def sdk_client() -> Iterator[tuple[genai.Client, list[tuple[str, Any]]]]:
    received: list[tuple[str, Any]] = []
    handler = type("Handler", (_ExampleServer,), {"received": received})
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    # google-genai 3.x defaults to API version v1: this document is v1beta
    options = gtypes.HttpOptions(base_url=f"http://127.0.0.1:{server.server_port}", api_version="v1beta")
    try:
        yield genai.Client(api_key="test-key", http_options=options), received
    finally:
        server.shutdown()
        server.server_close()


def test_sdk_parses_documented_responses(sdk_client: tuple[genai.Client, list[tuple[str, Any]]]) -> None:
    client, received = sdk_client
    answer = client.models.generate_content(model="gemini-2.5-flash", contents="帮我计算1+5等于多少")
    assert answer.text == "1+5 = 6"
    pieces = list(client.models.generate_content_stream(model="gemini-2.5-flash", contents="story"))
    assert "".join(p.text for p in pieces) == "Once upon a time, a backpack hummed."
    assert pieces[-1].candidates[0].finish_reason == gtypes.FinishReason.STOP
    assert pieces[-1].usage_metadata.total_token_count == 17
    models = list(client.models.list())
    assert models[0].name == "models/gemini-2.5-flash"
    assert "generateContent" in models[0].supported_actions
    assert client.models.get(model="gemini-2.5-flash").input_token_limit == 1048576
    assert client.models.count_tokens(model="gemini-2.5-flash", contents="hi").total_tokens == 9
    paths = [p for p, _ in received]
    assert "/v1beta/models/gemini-2.5-flash:streamGenerateContent?alt=sse" in paths
    assert "/v1beta/models/gemini-2.5-flash:countTokens" in paths


def test_sdk_requests_match_the_request_schemas(sdk_client: tuple[genai.Client, list[tuple[str, Any]]]) -> None:
    client, received = sdk_client
    received.clear()
    config = gtypes.GenerateContentConfig(
        system_instruction="Be terse.", temperature=0.7, top_p=0.9, top_k=40, max_output_tokens=128,
        stop_sequences=["END"], candidate_count=1, seed=3,
        thinking_config=gtypes.ThinkingConfig(thinking_budget=256, include_thoughts=True),
        safety_settings=[gtypes.SafetySetting(category="HARM_CATEGORY_HARASSMENT", threshold="BLOCK_ONLY_HIGH")],
        tools=[gtypes.Tool(function_declarations=[gtypes.FunctionDeclaration(
            name="calc", description="计算数学表达式",
            parameters_json_schema={"type": "object", "properties": {"expr": {"type": "string"}}, "required": ["expr"]},
        )])],
        tool_config=gtypes.ToolConfig(function_calling_config=gtypes.FunctionCallingConfig(mode="ANY")),
    )
    client.models.generate_content(
        model="gemini-2.5-flash", config=config,
        contents=["what is this?", gtypes.Part.from_bytes(data=b"\x89PNG\r\n", mime_type="image/png"),
                  gtypes.Part.from_uri(file_uri="https://example.com/cat.jpg", mime_type="image/jpeg")])
    client.models.generate_content(model="gemini-2.5-flash", contents=[
        gtypes.Content(role="user", parts=[gtypes.Part.from_text(text="1+5?")]),
        gtypes.Content(role="model", parts=[gtypes.Part.from_function_call(name="calc", args={"expr": "1+5"})]),
        gtypes.Content(role="user", parts=[gtypes.Part.from_function_response(name="calc", response={"result": 6})]),
    ], config=gtypes.GenerateContentConfig(response_mime_type="application/json", response_json_schema={"type": "object"}))
    list(client.models.generate_content_stream(model="gemini-2.5-flash", contents="story"))
    client.models.count_tokens(model="gemini-2.5-flash", contents="hi")
    bodies = [(p, b) for p, b in received if b is not None]
    assert len(bodies) == 4
    for path, body in bodies:
        specs.validate(DOC, "CountTokensRequest" if ":countTokens" in path else "GenerateContentRequest", body)
    # the SDK itself mixes in proto (snake_case) names: servers must read both spellings
    first = bodies[0][1]
    assert "mime_type" in first["contents"][0]["parts"][1]["inlineData"]
    assert "file_uri" in first["contents"][0]["parts"][2]["fileData"]
    assert "thinking_budget" in first["generationConfig"]["thinkingConfig"]
