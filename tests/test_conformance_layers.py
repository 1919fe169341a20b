"""The SDK, console and schema layers of `topapi check` and its pytest plugin, against the demo stack
(in-process, SQLite), plus the schema machinery against a deliberately broken server: every layer must
pass against our gateway and be able to fail with a clear message."""

from __future__ import annotations

import dataclasses
import importlib.metadata
import os
import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import httpx
import pytest
from conformance_fixtures import failures
from gateway_stack import Stack
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

import specs
from conformance import schemathesis_run as st
from conformance.admin_sandbox import UNREACHABLE, Sandbox
from conformance.checks import schema
from conformance.context import Ctx, Target
from conformance.registry import CheckFailed, CheckSkipped, load_all, select
from conformance.runner import Result, run, run_one
from conformance.schema_worker import run_isolated
from mocks.serving import ServerThread

SDK = ["sdk.openai.chat", "sdk.openai.responses", "sdk.openai.images", "sdk.openai.videos", "sdk.gemini"]
CONSOLE = ["console.flow", "console.isolation"]
SEED = 4  # schemathesis' seed for the full runs: the same cases every time


# `demo`, `target`, `ctx`: conformance_fixtures.py; short videos, so the SDK's video flow is quick
MOCK_SETTINGS = {"video_ms": 300}


def _run_one(target: Target, check_id: str) -> Result:
    """One check on a Ctx of its own (closed afterwards)."""
    ctx = Ctx(target)
    try:
        return run_one(ctx, load_all()[check_id])
    finally:
        ctx.close()


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _snapshot(demo: Stack) -> dict[str, list[dict[str, Any]]]:
    """Every user, node and model of the target as the platform admin sees them."""
    out = {}
    with demo.console() as admin:
        for name, path in (("users", "/api/platform/users"), ("nodes", "/api/node/nodes"),
                           ("models", "/api/node/models")):
            r = admin.get(path, params={"limit": 500})
            assert r.status_code == 200, r.text
            out[name] = sorted(r.json()["data"], key=lambda x: x["id"])
    return out


def test_layers_are_registered() -> None:
    checks = load_all()
    assert all(checks[i].layer == "sdk" and not checks[i].admin for i in SDK)
    assert all(checks[i].layer == "console" and checks[i].admin for i in CONSOLE)
    assert checks["schema.relay"].layer == "schema" and checks["schema.relay"].slow
    assert checks["schema.admin"].admin and checks["schema.admin"].slow
    assert {c.id for c in select(["sdk"])} == set(SDK)


# -- SDK layer ------------------------------------------------------------------------------------------------


@pytest.mark.timeout(60)
def test_sdk_checks_pass(target: Target) -> None:
    results = run(target, select(["sdk"]), workers=4)
    assert not failures(results), "\n".join(failures(results))


def test_sdk_failures_name_the_call_and_the_status(target: Target) -> None:
    # without their setups (a wrong key fails setup.chat first, and the checks are then blocked by it)
    checks = {cid: dataclasses.replace(c, needs=()) for cid, c in load_all().items()}
    bad_key = Ctx(dataclasses.replace(target, api_key="sk-wrong"))
    down = Ctx(dataclasses.replace(target, base_url=f"http://127.0.0.1:{_free_port()}", timeout_s=3))
    try:
        chat = run_one(bad_key, checks["sdk.openai.chat"])
        assert chat.status == "failed" and chat.message.startswith("chat.completions.create: HTTP 401: ")
        assert chat.exchange and chat.exchange["status"] == 401 and "sk-wrong" not in str(chat.exchange)
        gem = run_one(bad_key, checks["sdk.gemini"])
        assert gem.status == "failed" and gem.message.startswith("models.generate_content: HTTP 401 UNAUTHENTICATED")
        assert run_one(bad_key, load_all()["sdk.gemini"]).blocked_by == "setup.gemini"
        images = run_one(down, checks["sdk.openai.images"])
        assert images.status == "failed" and "images.generate: connection failed" in images.message
    finally:
        bad_key.close()
        down.close()


# -- console layer --------------------------------------------------------------------------------------------


@pytest.mark.timeout(60)
def test_console_checks_pass_and_clean_up(demo: Stack, target: Target) -> None:
    before = _snapshot(demo)["users"]
    results = run(target, select(["console"]), workers=2)
    assert not failures(results), "\n".join(failures(results))
    assert _snapshot(demo)["users"] == before  # every user the checks made is gone


def test_console_checks_need_admin_credentials(target: Target) -> None:
    plain = dataclasses.replace(target, admin_user=None, admin_password=None)
    assert {r.status for r in run(plain, select(["console"]))} == {"skipped"}
    results = {r.id: r for r in run(dataclasses.replace(target, admin_password="not the password"),
                                    select(["console.flow"]))}
    assert results["console.flow"].status == "blocked" and results["console.flow"].blocked_by == "setup.admin"
    login = results["setup.admin"]  # the one failure, reported once
    assert login.status == "failed" and "admin login: HTTP 401" in login.message
    assert "not the password" not in str(login.exchange) and login.exchange["status"] == 401


# -- schema layer: the machinery --------------------------------------------------------------------------------


def test_plans_tune_aliases_and_model_calls() -> None:
    doc = specs.load("gateway")
    relay = st.operations(doc, schema.is_relay)
    admin = st.operations(doc, schema.is_admin)
    assert relay and admin and not set(relay) & set(admin)
    plans = schema.plans(doc, relay, max_examples=10)
    alias = st.Plan(phases=("examples", "fuzzing"), max_examples=1)
    assert plans["POST /v1beta/models/{model}:generateContent"] == alias
    assert plans["POST /v1/responses"] == alias  # same operation as /responses/v1/responses
    gemini_call = st.Plan(phases=("examples", "fuzzing"), max_examples=5)
    assert plans["POST /gemini/v1beta/models/{model}:generateContent"] == gemini_call
    assert plans["POST /gemini/v1beta/models/{model}:countTokens"].max_examples == 3
    assert plans["POST /v1/chat/completions"].coverage_mode == "negative"
    assert "GET /v1/models" not in plans and "GET /v1/videos/{video_id}" not in plans  # the defaults
    admin_plans = schema.plans(doc, admin, max_examples=10)  # nodes/{id} and models/{id} are not aliases
    assert set(admin_plans) == {a for a in admin if a.startswith(("POST ", "PATCH "))}
    assert {p.coverage_mode for p in admin_plans.values()} == {"negative"}
    # an operation with a finding in the sweep gets every kind of coverage and FOCUS x the fuzzed cases
    focus = schema.plans(doc, relay, max_examples=10, focus=frozenset({"POST /v1/chat/completions"}))
    assert focus["POST /v1/chat/completions"] == st.Plan(phases=("examples", "coverage", "fuzzing"),
                                                         max_examples=10 * schema.FOCUS)
    assert schema.credential_schemes(doc, relay) == ["KeyHeader"]
    assert schema.credential_schemes(doc, admin) == ["SessionToken"]


def test_subset_keeps_only_links_to_kept_operations() -> None:
    doc = specs.load("gateway")

    def links(d: dict[str, Any]) -> set[str]:
        return set(d["paths"]["/v1/videos"]["post"]["responses"]["200"].get("links") or {})

    assert links(doc) == {"GetVideo", "DownloadVideoContent"}
    only_create = st.subset(doc, lambda m, p: (m, p) == ("POST", "/v1/videos"))
    assert list(only_create["paths"]) == ["/v1/videos"] and list(only_create["paths"]["/v1/videos"]) == ["post"]
    assert links(only_create) == set()
    with_get = st.subset(doc, lambda m, p: p in ("/v1/videos", "/v1/videos/{video_id}"))
    assert links(with_get) == {"GetVideo"}
    assert links(doc) == {"GetVideo", "DownloadVideoContent"}  # the loaded document is untouched


@pytest.fixture(scope="module")
def broken() -> Iterator[str]:
    """A "gateway" that ignores keys, answers /v1/models without `data` and fails getModelList with a 500."""

    async def models(request: Request) -> JSONResponse:
        return JSONResponse({"object": "list"})

    async def model_list(request: Request) -> JSONResponse:
        return JSONResponse({"error": {"message": "boom", "type": "server_error", "param": None, "code": None}},
                            status_code=500)

    app = Starlette(routes=[Route("/v1/models", models), Route("/v1/getModelList", model_list, methods=["POST"])])
    with ServerThread(app) as srv:
        yield srv.url


@pytest.mark.timeout(60)
def test_schema_run_reports_failures_per_operation_with_a_masked_reproduction(broken: str) -> None:
    wanted = {("GET", "/v1/models"), ("POST", "/v1/getModelList")}
    secret = "sk-do-not-print-me"
    part = st.Part(specs.load("gateway"), broken, {"KeyHeader": secret}, location=specs.path("gateway").as_uri(),
                   include=lambda m, p: (m, p) in wanted, max_examples=2, phases=("examples", "fuzzing"),
                   secrets={secret: "<API_KEY>"})
    subs = {s.name: s for s in st.run(part)}
    assert set(subs) == {"GET /v1/models", "POST /v1/getModelList"}
    models, model_list = subs["GET /v1/models"], subs["POST /v1/getModelList"]
    assert not models.passed and not model_list.passed
    assert "response_schema_conformance" in models.message and "ignored_auth" in models.message
    assert "not_a_server_error" in model_list.message
    for sub in subs.values():
        assert "reproduce: curl" in sub.message and "<API_KEY>" in sub.message
        assert secret not in sub.message


@pytest.mark.timeout(90)
def test_a_finding_gets_a_focus_run_with_more_cases(broken: str) -> None:
    part = st.Part(specs.load("gateway"), broken, {"KeyHeader": "sk-x"}, location=specs.path("gateway").as_uri(),
                   include=lambda m, p: (m, p) == ("GET", "/v1/models"), max_examples=2,
                   phases=("examples", "fuzzing"), seed=1)
    (sub,) = schema.sweep_and_focus(part)
    assert sub.status == "failed" and "|| focus run (5x cases" in sub.message, sub.message


@pytest.mark.timeout(120)
def test_the_same_seed_sends_the_same_cases(target: Target) -> None:
    """Counts, not the clock, decide how many cases run: two runs with one seed count the same per operation."""
    wanted = {("POST", "/v1/chat/completions"), ("POST", "/v1/images/generations"), ("GET", "/v1beta/models")}
    part = st.Part(specs.load("gateway"), target.base_url, {"KeyHeader": target.api_key},
                   location=specs.path("gateway").as_uri(), include=lambda m, p: (m, p) in wanted, max_examples=3,
                   phases=("examples", "coverage", "fuzzing"), seed=20261208,
                   plans={"POST /v1/chat/completions": st.Plan(coverage_mode="negative")})
    first, second = schema.sweep_and_focus(part), schema.sweep_and_focus(part)
    assert [(s.name, s.message) for s in first] == [(s.name, s.message) for s in second]
    # nothing found: no focus run, no case spent beyond the sweep
    assert all(s.status == "passed" and s.message.endswith(" cases") for s in first), first


@pytest.mark.timeout(90)
def test_schema_relay_reports_every_operation(target: Target) -> None:
    """The examples phase alone (the seed's requests and the documents' examples) over every relay route."""
    quick = dataclasses.replace(target, schema_phases=("examples",))
    res = _run_one(quick, "schema.relay")
    assert [s.name for s in res.subs] == st.operations(specs.load("gateway"), schema.is_relay)
    assert res.status == "passed", res.message
    tested = [s for s in res.subs if not s.message.startswith("untested")]
    assert len(tested) >= len(res.subs) // 2, [s for s in res.subs if s not in tested]


def test_schema_worker_returns_skips_and_failures_from_its_process(target: Target) -> None:
    plain = dataclasses.replace(target, admin_user=None, admin_password=None)
    with pytest.raises(CheckSkipped, match="needs admin credentials"):
        run_isolated(plain, "admin")
    wrong = dataclasses.replace(target, admin_password="not the password")
    with pytest.raises(CheckFailed, match="admin login: HTTP 401"):
        run_isolated(wrong, "admin")


# -- schema layer: keeping admin fuzzing away from the target's data --------------------------------------------


def _case(method: str, path: str, params: dict[str, Any] | None = None, body: Any = None,
          headers: dict[str, str] | None = None) -> SimpleNamespace:
    return SimpleNamespace(method=method, operation=SimpleNamespace(path=path), path_parameters=params or {},
                           body=body, headers=headers or {})


def test_sandbox_points_mutations_at_its_own_resources(demo: Stack, ctx: Ctx) -> None:
    before = _snapshot(demo)
    real_user = before["users"][0]["id"]
    with Sandbox(ctx) as box:
        assert set(box.sandbox) == {"users", "nodes", "models", "keys"}
        delete = _case("DELETE", "/api/platform/users/{id}", {"id": str(real_user)})
        box.guard(delete)
        assert delete.path_parameters == {"id": box.sandbox["users"]}
        read = _case("GET", "/api/platform/users/{id}", {"id": str(real_user)})
        box.guard(read)
        assert read.path_parameters == {"id": str(real_user)}  # reads keep their ids

        created = _case("POST", "/api/node/nodes", body={"name": "n1", "provider": "openai", "base_url": "http://x"})
        box.guard(created)
        assert created.body["enabled"] is False and created.body["base_url"] == UNREACHABLE
        r = ctx.console("POST", "/api/node/nodes", box.token, created.body)
        assert r.status_code == 201, r.text
        box.observe(created, SimpleNamespace(status_code=201, json=r.json))
        patch = _case("PATCH", "/api/node/nodes/{id}", {"id": str(r.json()["id"])}, body={"enabled": True})
        box.guard(patch)
        assert patch.path_parameters == {"id": str(r.json()["id"])} and patch.body == {"enabled": False}
        model = _case("POST", "/api/node/models", body={"name": "m1", "kind": "chat"})
        box.guard(model)
        assert model.body["listed"] is False

        logout = _case("POST", "/api/auth/logout", headers={"Authorization": f"Bearer {box.token}"})
        box.guard(logout)
        session = logout.headers["Authorization"]
        assert session != f"Bearer {box.token}"
        me = httpx.get(demo.base_url + "/api/user/me", headers={"Authorization": session})
        assert me.status_code == 200 and me.json()["username"].startswith("topapi_check_")
        probe = _case("POST", "/api/auth/logout", headers={"Authorization": "Bearer forged"})
        box.guard(probe)
        assert probe.headers == {"Authorization": "Bearer forged"}  # auth probes keep what they send
    assert _snapshot(demo) == before  # sandbox accounts, its node and model, and the created node are gone


@pytest.mark.slow
@pytest.mark.timeout(180)
def test_schema_admin_passes_and_leaves_the_target_as_it_was(demo: Stack, target: Target) -> None:
    before = _snapshot(demo)
    res = _run_one(dataclasses.replace(target, max_examples=5, schema_seed=SEED), "schema.admin")
    assert [s.name for s in res.subs] == st.operations(specs.load("gateway"), schema.is_admin)
    assert res.status == "passed", res.message
    assert all(not s.message.startswith("untested") for s in res.subs), res.subs
    assert _snapshot(demo) == before
    for account in demo.accounts.values():  # no password was changed, no session store broken
        assert demo.login(account["username"], account["password"])


@pytest.mark.slow
@pytest.mark.timeout(180)
def test_schema_relay_full_run_passes(target: Target) -> None:
    res = _run_one(dataclasses.replace(target, max_examples=3, schema_seed=SEED), "schema.relay")
    assert res.status == "passed", res.message
    assert len(res.subs) == len(st.operations(specs.load("gateway"), schema.is_relay))


# -- pytest plugin ----------------------------------------------------------------------------------------------


def _pytest(tmp_path: Path, *args: str) -> subprocess.CompletedProcess[str]:
    """`python -m pytest` in an empty directory, with the plugin loaded once (by -p unless installed)."""
    installed = any(ep.value == "conformance.pytest_plugin"
                    for ep in importlib.metadata.entry_points(group="pytest11"))
    plugin = [] if installed else ["-p", "conformance.pytest_plugin"]
    env = {k: v for k, v in os.environ.items() if not k.startswith(("TOPAPI_", "PYTEST_"))}
    return subprocess.run([sys.executable, "-m", "pytest", *plugin, "-p", "no:cacheprovider", "-rs", *args],
                          cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120)


@pytest.mark.timeout(150)
def test_pytest_plugin_turns_checks_into_tests(tmp_path: Path, target: Target) -> None:
    base = ["--topapi-url", target.base_url, "--topapi-key", target.api_key]
    admin = ["--topapi-admin-user", target.admin_user, f"--topapi-admin-password={target.admin_password}"]

    out = _pytest(tmp_path, *base, *admin, "--topapi-only", "sdk,console.flow", "-k", "not videos", "-v")
    assert out.returncode == 0, out.stdout + out.stderr
    assert "topapi::check[sdk.openai.chat] PASSED" in out.stdout
    assert "topapi::check[console.flow] PASSED" in out.stdout
    assert "5 passed, 1 deselected" in out.stdout

    out = _pytest(tmp_path, "--topapi-url", target.base_url, "--topapi-key", "sk-wrong", "--topapi-only",
                  "console,sdk.gemini")
    assert out.returncode == 1 and "1 failed, 2 skipped" in out.stdout, out.stdout
    assert "refused the API key" in out.stdout and "--topapi-admin-user" in out.stdout

    out = _pytest(tmp_path, *base, "--topapi-only", "no.such.check")
    assert out.returncode == 4 and "no check matches no.such.check" in out.stderr

    out = _pytest(tmp_path)  # without --topapi-url the plugin adds nothing
    assert out.returncode == 5, out.stdout
