"""specs/openapi/gateway.yaml: a valid document, in step with the upstream documents it reuses,
covering every route the gateway serves, and accepting the seed's bodies as written.

The document reuses upstream schemas as `#/components/schemas/<doc>.<Name>`, bundled into its
last block (see its top comment). `python tests/test_specs_gateway.py --write-bundle` rewrites
that block from openai.yaml, gemini.yaml and sora.yaml; `test_bundle_is_current` fails when
someone forgot to.
"""

from __future__ import annotations

import copy
import json
import re
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from openapi_spec_validator import OpenAPIV31SpecValidator

import specs
from gateway.admin import routes as admin_routes
from gateway.admin.common import ResourceRoute
from gateway.relay import dispatch
from specs import seed

NAME = "gateway"
UPSTREAM = ("openai", "gemini", "sora")
MARKER = "    # ---- generated: the upstream schemas this document uses"
METHODS = ("get", "put", "post", "delete", "options", "head", "patch", "trace")
SCHEMA_REF = "#/components/schemas/"
# values that are data, not schemas: a "$ref" key inside them is not a reference
DATA_KEYWORDS = frozenset({"example", "examples", "const", "enum", "default"})


# ------------------------------------------------------------------ the bundle


def _upstream(ref: str) -> tuple[str, str] | None:
    """(document, schema) for `#/components/schemas/<doc>.<Name>`, None for the document's own."""
    if not ref.startswith(SCHEMA_REF):
        return None
    doc, dot, name = ref[len(SCHEMA_REF):].partition(".")
    return (doc, name) if dot and doc in UPSTREAM else None


def _refs(node: Any) -> Iterator[str]:
    """Every schema reference in a document: `$ref`s and discriminator mappings."""
    if isinstance(node, dict):
        for key, value in node.items():
            if key == "$ref" and isinstance(value, str):
                yield value
            elif key == "discriminator" and isinstance(value, dict):
                yield from (v for v in value.get("mapping", {}).values() if isinstance(v, str))
            elif key not in DATA_KEYWORDS:
                yield from _refs(value)
    elif isinstance(node, list):
        for item in node:
            yield from _refs(item)


def _renamed(node: Any, doc: str) -> Any:
    """An upstream schema with its `#/components/schemas/X` references renamed to `<doc>.X`."""
    def rename(ref: str) -> str:
        assert ref.startswith(SCHEMA_REF), f"{doc}.yaml: only schema references can be bundled, not {ref}"
        return f"{SCHEMA_REF}{doc}.{ref[len(SCHEMA_REF):]}"

    if isinstance(node, dict):
        out = {}
        for key, value in node.items():
            if key == "$ref" and isinstance(value, str):
                out[key] = rename(value)
            elif key == "discriminator" and isinstance(value, dict) and "mapping" in value:
                out[key] = {**value, "mapping": {k: rename(v) for k, v in value["mapping"].items()}}
            elif key in DATA_KEYWORDS:
                out[key] = copy.deepcopy(value)
            else:
                out[key] = _renamed(value, doc)
        return out
    if isinstance(node, list):
        return [_renamed(item, doc) for item in node]
    return node


def bundle(handwritten: dict[str, Any]) -> dict[str, Any]:
    """The upstream schemas the hand-written part uses, transitively, as `<doc>.<Name>` components."""
    out: dict[str, Any] = {}
    todo = [found for ref in _refs(handwritten) if (found := _upstream(ref))]
    while todo:
        doc, name = todo.pop()
        if f"{doc}.{name}" in out:
            continue
        upstream = specs.load(doc)["components"]["schemas"]
        assert name in upstream, f"{doc}.yaml has no schema {name!r}"
        out[f"{doc}.{name}"] = schema = _renamed(upstream[name], doc)
        todo.extend(found for ref in _refs(schema) if (found := _upstream(ref)))
    return dict(sorted(out.items()))


def render(text: str) -> str:
    """The document's text with its generated block rebuilt from the hand-written part."""
    start = text.index(MARKER)
    head = text[:text.index("\n", start) + 1]
    generated = yaml.safe_dump(bundle(yaml.safe_load(head)), sort_keys=False, allow_unicode=True, width=110,
                               default_flow_style=None)
    return head + "".join(f"    {line}\n" if line else "\n" for line in generated.splitlines())


# ------------------------------------------------------------------ helpers


def doc() -> dict[str, Any]:
    return specs.load(NAME)


def operations(document: dict[str, Any]) -> Iterator[tuple[str, str, dict[str, Any]]]:
    for path, item in document["paths"].items():
        for method in METHODS:
            if method in item:
                yield path, method, item[method]


def deref(document: dict[str, Any], node: Any) -> Any:
    while isinstance(node, dict) and "$ref" in node:
        target: Any = document
        for part in node["$ref"].removeprefix("#/").split("/"):
            target = target[part]
        node = target
    return node


def documented() -> set[tuple[str, str]]:
    return {(method.upper(), path) for path, method, _ in operations(doc())}


# ------------------------------------------------------------------ the document


def test_document_is_valid_openapi_3_1() -> None:
    assert doc()["openapi"].startswith("3.1")
    OpenAPIV31SpecValidator(doc()).validate()


def test_bundle_is_current() -> None:
    text = specs.path(NAME).read_text(encoding="utf-8")
    assert render(text) == text, "the generated block is stale: python tests/test_specs_gateway.py --write-bundle"


def test_bundled_schemas_are_the_upstream_ones() -> None:
    schemas = doc()["components"]["schemas"]
    bundled = {name for name in schemas if "." in name}
    assert {"openai.ChatCompletion", "openai.ResponseSseEvent", "gemini.GenerateContentStreamEvent",
            "sora.Video"} <= bundled
    for name in bundled:
        upstream, _, own = name.partition(".")
        assert _renamed(specs.load(upstream)["components"]["schemas"][own], upstream) == schemas[name]


def test_every_reference_resolves_inside_the_document() -> None:
    """What specs.validate and openapi-spec-validator (without a base URI) both need."""
    document = doc()
    refs = set(_refs(document))
    assert refs and all(ref.startswith("#/") for ref in refs)
    for ref in refs:
        assert deref(document, {"$ref": ref}) is not None, ref


def test_specs_validate_resolves_through_the_bundle() -> None:
    """specs.validate builds its registry from this one document: bundled references must resolve."""
    from specs import errors as wire

    specs.validate(NAME, "GeminiError404", wire.gemini_error(404, "models/x is not found"))
    assert not specs.is_valid(NAME, "GeminiError404", wire.gemini_error(400, "bad"))
    specs.validate(NAME, "openai.ErrorResponse", wire.openai_error(402, "quota", code="insufficient_quota"))
    specs.validate(NAME, "openai.ModelList", {"object": "list", "data": [
        {"id": "gpt-4.1-mini", "object": "model", "created": 1, "owned_by": "topapi"}]})
    assert not specs.is_valid(NAME, "openai.ModelList", {"object": "list", "data": [{"id": "x"}]})


def _stream_failures(path: str, body: str) -> list[str]:
    """schemathesis' verdict on `body` served as the 200 text/event-stream of POST `path`."""
    import schemathesis
    from schemathesis.core.failures import FailureGroup
    from starlette.applications import Starlette
    from starlette.requests import Request
    from starlette.responses import Response
    from starlette.routing import Route
    from starlette.testclient import TestClient

    async def handler(request: Request) -> Response:
        return Response(body, media_type="text/event-stream")

    operation = schemathesis.openapi.from_path(str(specs.path(NAME)))[path]["POST"]
    with TestClient(Starlette(routes=[Route("/{rest:path}", handler, methods=["POST"])])) as client:
        response = client.post(path.replace("{model}", "gemini-2.5-flash"), json={})
    try:
        operation.validate_response(response)
    except FailureGroup as group:
        return [f.title for f in group.exceptions]
    except AssertionError as failure:  # a single failure comes on its own
        return [getattr(failure, "title", str(failure))]
    return []


CHUNK = {"id": "chatcmpl-1", "object": "chat.completion.chunk", "created": 1, "model": "m",
         "choices": [{"index": 0, "delta": {"content": "6"}, "finish_reason": None}], "usage": None}
PIECE = {"candidates": [{"content": {"role": "model", "parts": [{"text": "6"}]}, "finishReason": "STOP", "index": 0}],
         "usageMetadata": {"promptTokenCount": 3, "totalTokenCount": 4}, "modelVersion": "m", "responseId": "r"}


def test_schemathesis_validates_stream_events_through_the_bundle() -> None:
    """The stream envelopes' contentSchema reaches the bundled payload schemas: good events pass, bad fail."""
    chat = "/v1/chat/completions"
    assert _stream_failures(chat, f"data: {json.dumps(CHUNK)}\n\ndata: [DONE]\n\n") == []
    bad = {**CHUNK, "choices": [{"index": "0", "delta": {}, "finish_reason": None}]}
    assert _stream_failures(chat, f"data: {json.dumps(bad)}\n\ndata: [DONE]\n\n")
    gemini = "/gemini/v1beta/models/{model}:streamGenerateContent"
    assert _stream_failures(gemini, f"data: {json.dumps(PIECE)}\r\n\r\n") == []
    assert _stream_failures(gemini, f"data: {json.dumps({**PIECE, 'response_id': 'r'})}\r\n\r\n")


def test_operations_have_unique_ids() -> None:
    ids = [op.get("operationId") for _, _, op in operations(doc())]
    assert all(ids) and len(ids) == len(set(ids)), ids


def test_every_relay_operation_documents_auth_failure_in_its_dialect() -> None:
    document = doc()
    for path, method, op in operations(document):
        if path.startswith("/api/") or path == "/healthz":
            continue
        gemini = dispatch.dialect_of(path) == "gemini"
        unauthorized = deref(document, op["responses"]["401"])
        schema = unauthorized["content"]["application/json"]["schema"]["$ref"]
        assert schema.endswith("GeminiError401" if gemini else "openai.ErrorResponse"), (method, path)
        schemes = {name for requirement in op.get("security", document["security"]) for name in requirement}
        # the seed's form: the bare key as the whole Authorization header
        assert document["components"]["securitySchemes"]["KeyHeader"] == {
            **document["components"]["securitySchemes"]["KeyHeader"], "type": "apiKey", "in": "header",
            "name": seed.AUTH_HEADER}
        wanted = {"KeyHeader", "BearerKey", "XApiKey"} | ({"GoogApiKey", "KeyQuery"} if gemini else set())
        assert schemes == wanted, (method, path)


def test_model_operations_document_every_refusal() -> None:
    """Key, quota, model, rate, size and node failures: 401 402 403 404 413 429 502 503."""
    document = doc()
    model_ops = [(p, m, op) for p, m, op in operations(document)
                 if m == "post" and not p.startswith("/api/") and p != "/v1/getModelList" and "/content" not in p]
    assert len(model_ops) >= 15
    for path, _, op in model_ops:
        assert {"400", "401", "402", "403", "404", "413", "429", "502", "503"} <= set(op["responses"]), path
        headers = deref(document, op["responses"]["429"])["headers"]
        assert headers["Retry-After"]["required"] is True


def test_admin_operations_use_the_session_token_and_the_admin_error() -> None:
    document = doc()
    for path, method, op in operations(document):
        if not path.startswith("/api/"):
            continue
        expected = [] if path == "/api/auth/login" else [{"SessionToken": []}]
        assert op["security"] == expected, (method, path)
        for status, response in op["responses"].items():
            if status[0] in "45":
                schema = deref(document, response)["content"]["application/json"]["schema"]
                assert schema == {"$ref": "#/components/schemas/AdminErrorResponse"}, (method, path, status)


# ------------------------------------------------------------------ every route is documented


def relay_routes() -> set[tuple[str, str]]:
    """(method, path template) of every relay route in gateway/relay/dispatch.py's tables."""
    known_tables = {"STATIC", "VIDEO_ROUTES", "GEMINI_PREFIXES", "GEMINI_METHODS", "GEMINI_LIST", "GEMINI_GET",
                    "GEMINI_CALLS", "GEMINI_V1_ROOT"}
    tables = {name for name, value in vars(dispatch).items() if not name.startswith("_") and (
              isinstance(value, dispatch.Route)
              or (isinstance(value, dict) and value and all(isinstance(v, dispatch.Route) for v in value.values()))
              or (isinstance(value, str) and value.startswith("/"))
              or (isinstance(value, tuple) and value and all(isinstance(v, str) and v.startswith("/") for v in value)))}
    # a new table is a new kind of route: teach relay_routes() about it (and document its paths)
    assert tables <= known_tables, sorted(tables - known_tables)
    routes = set(dispatch.STATIC)
    routes |= {(method, "/v1/videos/{video_id}" + tail) for method, tail in dispatch.VIDEO_ROUTES}
    for prefix in dispatch.GEMINI_PREFIXES:
        routes |= {("GET", prefix), ("GET", prefix + "/{model}")}
        routes |= {("POST", f"{prefix}/{{model}}:{verb}") for verb in dispatch.GEMINI_METHODS}
    v1_root = getattr(dispatch, "GEMINI_V1_ROOT", None)
    if v1_root is not None:
        routes |= {("POST", f"{v1_root}{{model}}:{verb}") for verb in dispatch.GEMINI_METHODS}
    return routes


def admin_api_routes() -> set[tuple[str, str]]:
    async def unused() -> None:
        pass

    (mount,) = admin_routes(store=None, on_change=unused)  # type: ignore[arg-type]
    return {(method, mount.path + route.path) for route in mount.routes if isinstance(route, ResourceRoute)
            for method in route.handlers}


def test_every_relay_route_is_documented() -> None:
    routes = relay_routes()
    assert len(routes) >= 30
    assert not routes - documented(), sorted(routes - documented())


def test_every_admin_route_is_documented() -> None:
    routes = admin_api_routes()
    assert len(routes) >= 30
    assert not routes - documented(), sorted(routes - documented())


def test_every_documented_path_is_served() -> None:
    served = relay_routes() | admin_api_routes() | {("GET", "/healthz")}
    assert not documented() - served, sorted(documented() - served)


def test_documented_relay_paths_reach_their_route() -> None:
    """The dispatcher itself routes each documented path (with sample parameters) to a handler."""
    samples = {"{model}": "gemini-2.5-flash", "{video_id}": "video_abc"}
    for method, path in documented():
        if path.startswith("/api/") or path == "/healthz":
            continue
        concrete = path
        for name, value in samples.items():
            concrete = concrete.replace(name, value)
        route, _, _ = dispatch.match(method, concrete)
        assert route is not None, (method, path)


# ------------------------------------------------------------------ the seed's bodies


def template_of(method: str, path: str) -> str:
    """The documented path template a concrete request path (normalised like the gateway does) matches."""
    path = re.sub(r"/+", "/", path)
    for candidate, _, _ in operations(doc()):
        pattern = re.sub(r"\\{[^}]+\\}", "[^/:]+", re.escape(candidate))
        if re.fullmatch(pattern, path) and method.lower() in doc()["paths"][candidate]:
            return candidate
    raise AssertionError(f"{method} {path} is not documented")


def request_schema(path: str, media: str = "application/json") -> str:
    """The name of the component schema of a POST's request body."""
    body = deref(doc(), doc()["paths"][path]["post"]["requestBody"])
    return body["content"][media]["schema"]["$ref"].removeprefix(SCHEMA_REF)


@pytest.mark.parametrize("request_", seed.ALL, ids=lambda r: r.name)
def test_every_seed_request_is_documented(request_: seed.SeedRequest) -> None:
    op = doc()["paths"][template_of(request_.method, request_.path)][request_.method.lower()]
    body = deref(doc(), op.get("requestBody", {}))
    if request_.body is None:  # POST /v1/getModelList, POST .../content: no body needed
        assert not body.get("required", False), request_.name
    else:
        assert "application/json" in body["content"], request_.name


@pytest.mark.parametrize("request_", [r for r in seed.ALL if r.body is not None], ids=lambda r: r.name)
def test_seed_bodies_validate_and_are_documented_examples(request_: seed.SeedRequest) -> None:
    path = template_of(request_.method, request_.path)
    schema = request_schema(path)
    specs.validate(NAME, schema, request_.json())
    media = deref(doc(), doc()["paths"][path]["post"]["requestBody"])["content"]["application/json"]
    assert request_.json() in [e["value"] for e in media["examples"].values()], f"{request_.name}: not an example"


def test_request_examples_validate() -> None:
    seen = 0
    for _, _, op in operations(doc()):
        if "requestBody" not in op:
            continue
        for media in deref(doc(), op["requestBody"])["content"].values():
            for example in media.get("examples", {}).values():
                specs.validate(NAME, media["schema"]["$ref"].removeprefix(SCHEMA_REF), example["value"])
                seen += 1
    assert seen >= 20


def test_official_forms_validate_too() -> None:
    specs.validate(NAME, request_schema("/v1/images/edits", media="multipart/form-data"),
                   {"prompt": "x", "image[]": ["<png>", "<png>"], "mask": "<png>"})
    specs.validate(NAME, request_schema("/v1/images/edits", media="multipart/form-data"),
                   {"prompt": "x", "image": "<png>"})
    specs.validate(NAME, request_schema("/v1/videos", media="multipart/form-data"),
                   {"prompt": "x", "input_reference": "<png>", "seconds": "4"})
    specs.validate(NAME, request_schema("/v1/responses"), {
        "model": "gpt-4.1-mini", "input": [{"role": "user", "content": [{"text": "hi"}, {"image_url": "a.png"}]}],
        "tools": [{"type": "function", "name": "calc", "parameters": {"type": "object"}}]})
    with pytest.raises(specs.SchemaError):
        specs.validate(NAME, request_schema("/v1/videos"), {"prompt": "x", "resolution": "4k"})
    with pytest.raises(specs.SchemaError):
        specs.validate(NAME, "CreateUserRequest", {"username": "ab", "password": "long enough"})
    with pytest.raises(specs.SchemaError):
        specs.validate(NAME, "CreateNodeRequest", {"name": "n", "provider": "openai", "base_url": "ftp://x"})


if __name__ == "__main__":
    if sys.argv[1:] != ["--write-bundle"]:
        sys.exit("usage: python tests/test_specs_gateway.py --write-bundle")
    target: Path = specs.path(NAME)
    target.write_text(render(target.read_text(encoding="utf-8")), encoding="utf-8")
    print(f"rewrote the generated block of {target}")
