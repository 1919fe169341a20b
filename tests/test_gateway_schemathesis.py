"""schemathesis (its pytest API) against a live demo stack, with specs/openapi/gateway.yaml.

Every documented operation gets the document's examples, coverage cases and a few fuzzed
cases, positive and negative, deterministically (a fixed seed, derandomized Hypothesis). The
checks: never a 5xx, only documented statuses and content types, bodies (and every SSE event)
valid against the document, and invalid data rejected. Relay operations use the demo key, in
each of its header forms in turn; admin operations a platform admin's session token.

Positive cases are pointed at things that exist, so they reach the nodes instead of stopping at
"unknown model": the demo model of the operation's kind, a finished video job. Destructive admin
operations only ever touch accounts, nodes and models made for them here, so the demo's own
stay intact; logout ends a session of its own.
"""

from __future__ import annotations

import copy
import itertools
import re
import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import httpx
import jsonschema
import pytest
import schemathesis
from gateway_stack import Stack, start_stack, stop_stack
from hypothesis import HealthCheck, settings
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    negative_data_rejection,
    response_schema_conformance,
    status_code_conformance,
)

import specs
from gateway.relay import dispatch
from specs import seed
from specs.validate import validator

# One xdist worker runs the whole module (pyproject's addopts sets --dist loadgroup): the last two
# tests read what the fuzz tests saw in this process, and work stealing once split them.
pytestmark = [pytest.mark.slow, pytest.mark.xdist_group("gateway_schemathesis")]

MAX_EXAMPLES = 5  # fuzzed cases per operation and mode, on top of the examples and coverage phases
SEED = 20240601
NODES = ("openai-a", "openai-b", "gemini", "sora")
NODE_5XX = re.compile(rf"(?:^|; )({'|'.join(NODES)}): (HTTP 5\d\d )?")


def gateway_not_a_server_error(ctx: Any, response: schemathesis.Response, case: schemathesis.Case) -> None:
    """not_a_server_error, but a 502 that only says every node answered 5xx is the gateway's documented
    answer to failing nodes (test_no_node_failed reports those): anything else in 5xx is the gateway's."""
    if response.status_code == 502:
        message = (response.json().get("error") or {}).get("message", "")
        attempts = NODE_5XX.findall(message.removeprefix("No upstream node could answer: "))
        if message.startswith("No upstream node could answer: ") and attempts and all(a[1] for a in attempts):
            return
    not_a_server_error(ctx, response, case)


def authenticated(ctx: Any, response: schemathesis.Response, case: schemathesis.Case) -> None:
    """Every request carries a valid key or session (whatever else is wrong with it): never a 401
    (but from login, which checks the generated username and password)."""
    assert response.status_code != 401 or case.operation.path == "/api/auth/login", f"{case.operation.label}: 401 with valid credentials: {response.text[:300]}"


CHECKS = [gateway_not_a_server_error, authenticated, status_code_conformance, content_type_conformance,
          response_schema_conformance, negative_data_rejection]
STATUSES: dict[str, set[int]] = {}  # operation -> statuses seen, for test_every_operation_succeeded
PASSWORD = "schemathesis password"
# The coverage phase (every boundary of every field: hundreds of cases for a big body) runs on the seed's
# paths, not on their aliases (same handlers), and not on Gemini's model calls: the gateway reads only the
# seed's `alt` and `stream` there and leaves the body to the node (see _relay_checks), so a thousand boundary
# cases of GenerateContentRequest would test the mock; examples and fuzzing still cover them.
NO_COVERAGE = ["createResponse", "v1betaListModels", "geminiV1ListModels", "v1betaGetModel", "geminiV1GetModel",
               *(f"{prefix}{verb}" for prefix in ("gemini", "v1beta", "geminiV1", "v1")
                 for verb in ("GenerateContent", "StreamGenerateContent", "CountTokens"))]
# request bodies of the Gemini operations -> their schema (document, name)
REQUEST_SCHEMAS = {"GenerateContent": ("gemini", "GenerateContentRequest"),
                   "CountTokens": ("gemini", "CountTokensRequest")}
# the demo model each relay path uses when a positive case names a model
MODEL_OF = (("/v1/chat/completions", "gpt-4.1-mini"), ("/responses", "gpt-4.1-mini"),
            ("/v1/images/", "gpt-image-1"), ("/v1/videos", "sora-2"))


@dataclass
class Live:
    stack: Stack
    token: str  # platform admin session
    ids: dict[str, int | str]  # fixtures by role: users, nodes, models, video jobs

    def headers(self, token: str | None = None) -> dict[str, str]:
        return {"Authorization": f"Bearer {token or self.token}"}


def _json(response: httpx.Response, status: int = 200) -> Any:
    assert response.status_code == status, (response.request.url, response.status_code, response.text)
    return response.json()


def _finished_video(client: httpx.Client) -> str:
    job = _json(client.post(seed.VIDEO_CREATE.path, content=seed.VIDEO_CREATE.body.encode(),
                            headers={"content-type": "application/json"}))
    deadline = time.monotonic() + 20
    while job["status"] in ("queued", "in_progress"):
        assert time.monotonic() < deadline, job
        time.sleep(0.05)
        job = _json(client.get(f"/v1/videos/{job['id']}"))
    assert job["status"] == "completed", job
    return job["id"]


def _login(base_url: str, username: str, password: str) -> str:
    return _json(httpx.post(f"{base_url}/api/auth/login", json={"username": username, "password": password}))["token"]


@pytest.fixture(scope="module")
def live(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Live]:
    stack = start_stack(tmp_path_factory.mktemp("schemathesis"), "sqlite", read_timeout_s=5.0)
    try:
        stack.mock("sora").settings = stack.mock("sora").settings.updated({"video_ms": 100})
        admin = stack.accounts["platform_admin"]
        token = _login(stack.base_url, admin["username"], admin["password"])
        ids: dict[str, int | str] = {}
        with httpx.Client(base_url=f"{stack.base_url}/api", headers={"Authorization": f"Bearer {token}"}) as api:
            for role in ("victim", "logout"):
                user = _json(api.post("/platform/users", json={"username": f"st-{role}", "password": PASSWORD}), 201)
                ids[f"user.{role}"] = user["id"]
            node = {"name": "st-victim", "provider": "openai", "base_url": "http://127.0.0.1:9/v1",
                    "models": [{"model": "st-victim-model"}]}
            ids["node.victim"] = _json(api.post("/node/nodes", json=node), 201)["id"]
            nodes = _json(api.get("/node/nodes"))["data"]
            ids["node.probe"] = next(n["id"] for n in nodes if n["name"] == "sora")  # a live mock, answers at once
            model = {"name": "st-victim-model", "kind": "chat", "price": {"input_per_1k": 0.001}}
            ids["model.victim"] = _json(api.post("/node/models", json=model), 201)["id"]
        with stack.client() as client:
            ids["video.done"] = _finished_video(client)
            ids["video.doomed"] = _finished_video(client)
        yield Live(stack, token, ids)
    finally:
        stop_stack(stack)


@pytest.fixture(scope="module")
def gateway_schema(live: Live) -> schemathesis.BaseSchema:
    config = schemathesis.Config.from_dict({
        "seed": SEED,
        "base-url": live.stack.base_url,
        "max-stream-events": 10_000,  # validate whole streams, not the first 20 events
        "request-timeout": 30,
        "generation": {"mode": "all", "max-examples": MAX_EXAMPLES, "deterministic": True, "database": "none",
                       "with-security-parameters": False},
        "phases": {"stateful": {"enabled": False}},
        "operations": [{"include-operation-id": NO_COVERAGE, "phases": {"coverage": {"enabled": False}}}],
    })
    # from_path: the document's references to its siblings (`openai.yaml#/...`) resolve against its file
    return schemathesis.openapi.from_path(specs.path("gateway"), config=config)


schema = schemathesis.pytest.from_fixture("gateway_schema")
HYPOTHESIS = settings(max_examples=MAX_EXAMPLES, derandomize=True, deadline=None, database=None,
                      suppress_health_check=list(HealthCheck))


def _positive(case: schemathesis.Case) -> bool:
    return case.meta is None or case.meta.generation.mode == GenerationMode.POSITIVE


# ------------------------------------------------------------------ relay


_KEY_FORMS = itertools.count()


def _relay_credentials(case: schemathesis.Case, key: str) -> tuple[dict[str, str], dict[str, str]]:
    """(headers, query) carrying the key in the next of the forms the route accepts."""
    gemini = dispatch.dialect_of(case.operation.path) == "gemini"
    forms: list[tuple[dict[str, str], dict[str, str]]] = [
        ({"Authorization": key}, {}), ({"Authorization": f"Bearer {key}"}, {}), ({"x-api-key": key}, {})]
    if gemini:
        forms += [({"x-goog-api-key": key}, {}), ({}, {"key": key})]
    return forms[next(_KEY_FORMS) % len(forms)]


def _aim_relay(case: schemathesis.Case, live: Live) -> None:
    """Point a positive case at the demo's models and finished video jobs."""
    if not _positive(case):
        return
    path = case.operation.path
    if "video_id" in (case.path_parameters or {}):
        case.path_parameters["video_id"] = live.ids["video.doomed" if case.method == "DELETE" else "video.done"]
    if "{model}" in path:
        case.path_parameters["model"] = "gemini-2.5-flash"
    if isinstance(case.body, dict) and "model" in case.body:
        model = next((m for prefix, m in MODEL_OF if path.startswith(prefix) or prefix in path), None)
        if model is not None:
            case.body["model"] = model


def _int_in(bits: int) -> Any:
    return lambda value: not isinstance(value, int) or -(2 ** (bits - 1)) <= value < 2 ** (bits - 1)


OPENAPI_FORMATS = copy.deepcopy(jsonschema.Draft202012Validator.FORMAT_CHECKER)
OPENAPI_FORMATS.checks("int32")(_int_in(32))  # OpenAPI's formats, which schemathesis generates against
OPENAPI_FORMATS.checks("int64")(_int_in(64))


def _openapi_validator(document: str, schema: str) -> jsonschema.Draft202012Validator:
    return validator(document, schema).evolve(format_checker=OPENAPI_FORMATS)


GEMINI_OWN_FIELDS = ("alt", "stream")  # the seed's body fields, read (and removed) by the gateway itself


def _relay_checks(case: schemathesis.Case) -> list:
    """Every check, but: a Gemini body is checked by the node, not the gateway, except for the seed's
    `alt` and `stream`, which the gateway reads and removes. When a negative body is invalid elsewhere,
    accepting it is the node's decision (real nodes are laxer than gemini.yaml, e.g. on snake_case
    fields), so
    negative_data_rejection would test the mock. A null `alt`/`stream` is proto3 JSON's "absent"."""
    gemini = dispatch.dialect_of(case.operation.path) == "gemini"
    if not gemini or _positive(case) or not isinstance(case.body, dict):
        return CHECKS
    own = {k: case.body[k] for k in GEMINI_OWN_FIELDS if k in case.body}
    rest = {k: v for k, v in case.body.items() if k not in own}
    schema = case.operation.definition.raw["requestBody"]["$ref"].rsplit("/", 1)[1]
    node_decides = not _openapi_validator(*REQUEST_SCHEMAS[schema]).is_valid(rest)
    if node_decides or None in own.values():
        return [check for check in CHECKS if check is not negative_data_rejection]
    return CHECKS


@schema.include(path_regex="^/(?!api/)").parametrize()
@HYPOTHESIS
def test_relay_conforms_to_the_document(case: schemathesis.Case, live: Live) -> None:
    _aim_relay(case, live)
    headers, query = _relay_credentials(case, live.stack.api_key)
    response = case.call(headers=headers, params=query or None)
    STATUSES.setdefault(case.operation.label, set()).add(response.status_code)
    case.validate_response(response, checks=_relay_checks(case), headers=headers)


# ------------------------------------------------------------------ admin API


def _aim_admin(case: schemathesis.Case, live: Live) -> dict[str, str]:
    """Keep destructive operations on this module's own fixtures; the headers to send."""
    path, method = case.operation.path, case.method
    params = case.path_parameters or {}
    if path == "/api/auth/logout":  # a session of its own, so the admin's stays
        return live.headers(_login(live.stack.base_url, "st-logout", PASSWORD))
    if path == "/api/auth/login":  # the document's example logs in for real, generated credentials do not
        if _positive(case) and case.meta is not None and case.meta.phase.name == "examples":
            case.body = {"username": "st-logout", "password": PASSWORD}
        return {}
    target = {("/api/platform/users/{id}", "PATCH"): "user.victim", ("/api/platform/users/{id}", "DELETE"): "user.victim",
              ("/api/node/nodes/{id}", "PATCH"): "node.victim", ("/api/node/nodes/{id}", "DELETE"): "node.victim",
              ("/api/node/nodes/{id}/test", "POST"): "node.probe",
              ("/api/node/models/{id}", "PATCH"): "model.victim",
              ("/api/node/models/{id}", "DELETE"): "model.victim"}.get((path, method))
    if target is not None and (isinstance(params.get("id"), int) or str(params.get("id", "")).isdigit()):
        params["id"] = live.ids[target]
    return live.headers()


@schema.include(path_regex="^/api/").parametrize()
@HYPOTHESIS
def test_admin_api_conforms_to_the_document(case: schemathesis.Case, live: Live) -> None:
    headers = _aim_admin(case, live)
    response = case.call(headers=headers)
    STATUSES.setdefault(case.operation.label, set()).add(response.status_code)
    case.validate_response(response, checks=CHECKS, headers=headers)


# a demo model of another kind than the route serves (text models reach every text route, converted):
# refused by the gateway, in the route's dialect
WRONG_KIND = [
    ("/v1/chat/completions", {}, {"model": "gpt-image-1", "messages": [{"role": "user", "content": "hi"}]}),
    ("/responses/v1/responses", {}, {"model": "sora-2", "input": "hi"}),
    ("/v1/images/generations", {}, {"model": "gpt-4.1-mini", "prompt": "a cat"}),
    ("/v1/videos", {}, {"model": "gemini-2.5-flash", "prompt": "a cat"}),
    ("/gemini/v1beta/models/{model}:generateContent", {"model": "sora-2"},
     {"contents": [{"role": "user", "parts": [{"text": "hi"}]}]}),
]


@pytest.mark.parametrize(("path", "path_parameters", "body"), WRONG_KIND, ids=[p for p, _, _ in WRONG_KIND])
def test_a_model_of_another_kind_is_refused_in_the_routes_dialect(
        gateway_schema: schemathesis.BaseSchema, live: Live, path: str, path_parameters: dict[str, str],
        body: dict[str, Any]) -> None:
    case = gateway_schema[path]["POST"].Case(path_parameters=path_parameters, body=body, media_type="application/json")
    response = case.call(headers={"Authorization": live.stack.api_key})
    assert response.status_code in (400, 404), response.text
    case.validate_response(response, checks=[status_code_conformance, content_type_conformance,
                                             response_schema_conformance])


def test_the_demo_survived(live: Live) -> None:
    """The destructive operations above hit only their own fixtures: the demo still answers."""
    with live.stack.client() as client:
        r = client.post(seed.CHAT.path, content=seed.CHAT.body.encode(), headers={"content-type": "application/json"})
    assert r.status_code == 200, r.text
    users = _json(httpx.get(f"{live.stack.base_url}/api/platform/users", headers=live.headers()))
    assert {"admin", "nodeadmin", "test101"} <= {u["username"] for u in users["data"]}


def test_no_node_failed(live: Live) -> None:
    """The runs above never made a node answer 5xx (runs after them: a mock's crash is reported here)."""
    failed = {name: {s: n for s, n in live.stack.mock(name).by_status.items() if s.startswith("5")}
              for name in NODES}
    assert not any(failed.values()), failed


def test_every_operation_succeeded(gateway_schema: schemathesis.BaseSchema) -> None:
    """Not a vacuous run: every operation answered 2xx at least once (runs after the two above)."""
    labels = {result.ok().label for result in gateway_schema.get_all_operations()}
    never = sorted(label for label in labels if not any(200 <= s < 300 for s in STATUSES.get(label, ())))
    assert not never, {label: sorted(STATUSES.get(label, ())) for label in never}
