"""specs/openapi/gateway.yaml: a valid document, in step with the upstream documents it reuses,
covering every route the gateway serves, and accepting the seed's bodies as written.

The document reuses upstream schemas by reference, `openai.yaml#/components/schemas/<Name>`
(see its top comment): one copy of each schema, in its own document. The tests below check that
every reader resolves those references (specs.validate, openapi-spec-validator, schemathesis).
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from typing import Any

import pytest
from openapi_refs import deref
from openapi_spec_validator import OpenAPIV31SpecValidator

import specs
from gateway.admin import routes as admin_routes
from gateway.admin.common import ResourceRoute
from gateway.relay import dispatch
from specs import seed

NAME = "gateway"
UPSTREAM = ("openai", "gemini", "sora")
METHODS = ("get", "put", "post", "delete", "options", "head", "patch", "trace")
SCHEMA_POINTER = "/components/schemas/"
UPSTREAM_REF = re.compile(rf"({'|'.join(UPSTREAM)})\.yaml#/components/schemas/[A-Za-z0-9_]+")
# values that are data, not schemas: a "$ref" key inside them is not a reference
DATA_KEYWORDS = frozenset({"example", "examples", "const", "enum", "default"})


# ------------------------------------------------------------------ references


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


def schema_of(ref: str) -> tuple[str, str]:
    """(document, schema) a schema reference of this document names: `#/components/schemas/X` is
    ("gateway", "X"), `openai.yaml#/components/schemas/X` is ("openai", "X")."""
    file, _, pointer = ref.partition("#")
    assert pointer.startswith(SCHEMA_POINTER), ref
    return (file.removesuffix(".yaml") if file else NAME), pointer.removeprefix(SCHEMA_POINTER)


# ------------------------------------------------------------------ helpers


def doc() -> dict[str, Any]:
    return specs.load(NAME)


def operations(document: dict[str, Any]) -> Iterator[tuple[str, str, dict[str, Any]]]:
    for path, item in document["paths"].items():
        for method in METHODS:
            if method in item:
                yield path, method, item[method]


def documented() -> set[tuple[str, str]]:
    return {(method.upper(), path) for path, method, _ in operations(doc())}


# ------------------------------------------------------------------ the document


def test_document_is_valid_openapi_3_1() -> None:
    """With the file's URI as the base, so the validator follows the references to the upstream documents."""
    assert doc()["openapi"].startswith("3.1")
    OpenAPIV31SpecValidator(doc(), base_uri=specs.path(NAME).as_uri()).validate()
    broken = json.loads(json.dumps(doc()).replace("schemas/ChatCompletion\"", "schemas/NoSuchSchema\"", 1))
    with pytest.raises(Exception, match="NoSuchSchema"):
        OpenAPIV31SpecValidator(broken, base_uri=specs.path(NAME).as_uri()).validate()


def test_every_reference_is_local_or_names_an_upstream_schema() -> None:
    """Other documents only as siblings shipped with this one (`openai.yaml#/...`, no path), so the
    references resolve wherever the package is installed; each names a schema that exists."""
    refs = set(_refs(doc()))
    upstream = {ref for ref in refs if not ref.startswith("#/")}
    assert {"openai.yaml#/components/schemas/ChatCompletion", "openai.yaml#/components/schemas/ResponseSseEvent",
            "gemini.yaml#/components/schemas/GenerateContentStreamEvent", "sora.yaml#/components/schemas/Video"
            } <= upstream
    for ref in refs - upstream:
        assert deref(doc(), {"$ref": ref}) is not None, ref
    for ref in upstream:
        assert UPSTREAM_REF.fullmatch(ref), ref
        name, schema = schema_of(ref)
        assert schema in specs.schema_names(name), ref


def test_no_upstream_schema_is_copied() -> None:
    """One source of truth per schema: the document refers to upstream schemas, never repeats one."""
    own = doc()["components"]["schemas"]
    for name in UPSTREAM:
        upstream = specs.load(name)["components"]["schemas"]
        assert not set(own) & set(upstream), (name, sorted(set(own) & set(upstream)))
        copies = [(mine, theirs) for mine, value in own.items() for theirs, other in upstream.items()
                  if value == other]
        assert not copies, (name, copies)


def test_specs_validate_resolves_across_documents() -> None:
    """specs.validate's registry holds every document under its file URI: GeminiError404 reaches
    gemini.yaml's ErrorResponse, and that its own `#/components/schemas/Status` (in gemini.yaml: this
    document has no Status), whose `details` items need an `@type`."""
    from specs import errors as wire

    assert "Status" not in specs.schema_names(NAME)
    specs.validate(NAME, "GeminiError404", wire.gemini_error(404, "models/x is not found"))
    assert not specs.is_valid(NAME, "GeminiError404", wire.gemini_error(400, "bad"))
    bad_detail = wire.gemini_error(404, "models/x is not found")
    bad_detail["error"]["details"] = [{"reason": "no @type"}]
    assert not specs.is_valid(NAME, "GeminiError404", bad_detail)
    openai_error = deref(doc(), doc()["components"]["responses"]["OpenAIQuotaExceeded"])
    specs.validate(*schema_of(openai_error["content"]["application/json"]["schema"]["$ref"]),
                   wire.openai_error(402, "quota", code="insufficient_quota"))


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


def test_schemathesis_validates_stream_events_across_documents() -> None:
    """Loaded with from_path, schemathesis resolves the references to openai.yaml and gemini.yaml: the stream
    envelopes' contentSchema reaches the upstream payload schemas, good events pass, bad ones fail."""
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
        assert schema == ("#/components/schemas/GeminiError401" if gemini
                          else "openai.yaml#/components/schemas/ErrorResponse"), (method, path)
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


def request_schema(path: str, media: str = "application/json") -> tuple[str, str]:
    """(document, component schema) of a POST's request body."""
    body = deref(doc(), doc()["paths"][path]["post"]["requestBody"])
    return schema_of(body["content"][media]["schema"]["$ref"])


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
    specs.validate(*request_schema(path), request_.json())
    media = deref(doc(), doc()["paths"][path]["post"]["requestBody"])["content"]["application/json"]
    assert request_.json() in [e["value"] for e in media["examples"].values()], f"{request_.name}: not an example"


def test_request_examples_validate() -> None:
    seen = 0
    for _, _, op in operations(doc()):
        if "requestBody" not in op:
            continue
        for media in deref(doc(), op["requestBody"])["content"].values():
            for example in media.get("examples", {}).values():
                specs.validate(*schema_of(media["schema"]["$ref"]), example["value"])
                seen += 1
    assert seen >= 20


def test_official_forms_validate_too() -> None:
    specs.validate(*request_schema("/v1/images/edits", media="multipart/form-data"),
                   {"prompt": "x", "image[]": ["<png>", "<png>"], "mask": "<png>"})
    specs.validate(*request_schema("/v1/images/edits", media="multipart/form-data"),
                   {"prompt": "x", "image": "<png>"})
    specs.validate(*request_schema("/v1/videos", media="multipart/form-data"),
                   {"prompt": "x", "input_reference": "<png>", "seconds": "4"})
    specs.validate(*request_schema("/v1/responses"), {
        "model": "gpt-4.1-mini", "input": [{"role": "user", "content": [{"text": "hi"}, {"image_url": "a.png"}]}],
        "tools": [{"type": "function", "name": "calc", "parameters": {"type": "object"}}]})
    with pytest.raises(specs.SchemaError):
        specs.validate(*request_schema("/v1/videos"), {"prompt": "x", "resolution": "4k"})
    with pytest.raises(specs.SchemaError):
        specs.validate(NAME, "CreateUserRequest", {"username": "ab", "password": "long enough"})
    with pytest.raises(specs.SchemaError):
        specs.validate(NAME, "CreateNodeRequest", {"name": "n", "provider": "openai", "base_url": "ftp://x"})

