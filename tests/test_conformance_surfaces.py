"""`topapi check` against gateways that are not ours (issue 14): surfaces probed and `not_offered`, profiles and
`--require`, setups reported once and their dependants `blocked`, root causes, reproductions with the key
redacted, `-H` and `--config`.

The "other gateway" is the demo stack behind tests/breaking_proxy.py with ad-hoc breaks: one hides the guide's
routes and the consoles (404, as another gateway answers them) and refuses the bare `Authorization: <key>` form;
a front door refuses every request without its header (as a Cloudflare Access or Azure front would)."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from xml.etree import ElementTree as ET

import httpx
import pytest
from breaking_proxy import Answer, Break, BreakingProxy, Req
from gateway_stack import Stack, start_stack, stop_stack

from conformance import config, repro
from conformance.causes import root_causes
from conformance.context import Target
from conformance.registry import Sub, select
from conformance.runner import Result, run
from conformance.surfaces import run_probe
from mocks.serving import ServerThread

FRONT = ("x-front-door", "open-sesame-4711")
HIDDEN = ("/v1/getModelList", "/responses/", "/gemini/", "/api/")
WRONG = "sk-topapi-refused"


def _front_door(req: Req) -> None:
    """Every key is refused unless the front door's header is there."""
    if req.header(FRONT[0]) != FRONT[1]:
        req.headers = [(k, "Bearer " + WRONG if k in ("authorization", "x-api-key", "x-goog-api-key") else v)
                       for k, v in req.headers]
        req.query = [(k, WRONG if k == "key" else v) for k, v in req.query]


def _other_gateway(req: Req) -> None:
    """The guide's routes and the consoles are not there; the key must come as Bearer (or x-api-key/Gemini's)."""
    _front_door(req)
    if req.path.replace("//", "/").startswith(HIDDEN):
        req.path = "/v1/no-such-route-on-this-gateway"
    auth = req.header("authorization")
    if auth and not auth.lower().startswith("bearer "):
        req.headers = [(k, "Bearer " + WRONG if k == "authorization" else v) for k, v in req.headers]


def _video_post_fails(req: Req, ans: Answer) -> None:
    if req.method == "POST" and req.path == "/v1/videos":
        ans.status = 500


OTHER = Break("other_gateway", "no guide routes, no consoles, no bare key; a front door", request=_other_gateway)
FRONT_ONLY = Break("front_door", "the demo stack behind a front door", request=_front_door)
VIDEO_500 = Break("video_500", "POST /v1/videos answers 500", request=_front_door, head=_video_post_fails)


@dataclass
class Proxied:
    stack: Stack
    proxy: BreakingProxy
    url: str

    def target(self, **kw: Any) -> Target:
        admin = self.stack.accounts["platform_admin"]
        return Target(self.url, self.stack.api_key, admin["username"], admin["password"], timeout_s=30,
                      video_deadline_s=20, headers={FRONT[0]: FRONT[1]}, **kw)


@pytest.fixture(scope="module")
def proxied(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Proxied]:
    stack = start_stack(tmp_path_factory.mktemp("gw"), "sqlite", read_timeout_s=5.0)
    for name in stack.demo.servers:
        stack.mock(name).settings = stack.mock(name).settings.updated({"video_ms": 1000})
    proxy = BreakingProxy(stack.base_url, stack.api_key)
    try:
        with ServerThread(proxy, lifespan="on") as server:
            yield Proxied(stack, proxy, server.url)
    finally:
        stop_stack(stack)


def _cli(*args: str, env: dict[str, str] | None = None, timeout: float = 180) -> subprocess.CompletedProcess[str]:
    exe = shutil.which("topapi")
    cmd = [exe] if exe else [sys.executable, "-c", "import sys; from topapi.cli import main; sys.exit(main())"]
    clean = {k: v for k, v in os.environ.items() if not k.startswith("TOPAPI_")}
    return subprocess.run([*cmd, "check", *args], capture_output=True, text=True, timeout=timeout,
                          env={**clean, "COLUMNS": "200", **(env or {})})


def _results(report_dir: Path) -> dict[str, Any]:
    return json.loads((report_dir / "results.json").read_text())


# -- the probe ------------------------------------------------------------------------------------------------------


def _fake(routes: dict[tuple[str, str], dict[str, int]], default: int = 404):
    """send() of a target that answers `routes[(method, path)][form]` (or `default`)."""

    def send(method: str, path: str, body: Any, form: str) -> httpx.Response:
        by_form = routes.get((method, path), {})
        return httpx.Response(by_form.get(form, by_form.get("*", default)))

    return send


MODELS = {"chat": "gpt-4.1-mini", "image": "gpt-image-1", "video": "sora-2", "gemini": "gemini-2.5-flash"}


def test_probe_finds_surfaces_and_forms_from_the_answers() -> None:
    send = _fake({
        ("GET", "/v1/models"): {"bearer": 200, "bare": 500, "x-api-key": 401},
        ("POST", "/v1/chat/completions"): {"*": 400},
        ("POST", "/v1/responses"): {"*": 400},
        ("GET", "/v1/videos?limit=1"): {"*": 405},  # the list is not there, creation is
        ("POST", "/v1/videos"): {"*": 400},
        ("GET", "/v1beta/models?pageSize=1"): {"*": 404},  # no list: the forms are tried on a generation
        ("POST", "/v1beta/models/gemini-2.5-flash:generateContent"): {"x-goog-api-key": 200, "query": 400,
                                                                      "bearer": 200, "*": 401},
        ("POST", "/api/auth/login"): {"*": 405},
    })
    found = run_probe(send, MODELS)
    assert found.surfaces == {"openai.chat": True, "openai.responses": True, "openai.images": False,
                              "openai.videos": True, "gemini": True, "topapi": False, "console": False}
    assert found.forms == {"openai": ["bearer"], "gemini": ["x-goog-api-key", "bearer"]}
    assert found.chosen_forms() == {"openai": "bearer", "gemini": "x-goog-api-key"}
    assert not found.refused
    assert "POST /v1/images/generations (bearer) -> 404" in found.evidence["openai.images"]


def test_probe_tells_a_refused_key_from_a_missing_route() -> None:
    refused = run_probe(_fake({}, default=401), MODELS)
    assert refused.refused and not any(refused.forms.values())
    nothing = run_probe(_fake({}), MODELS)
    assert not nothing.refused and not nothing.offered


# -- reproductions, config, root causes (no server) -----------------------------------------------------------------


def test_reproduction_redacts_every_secret_and_gives_a_runnable_curl() -> None:
    key, token = "sk-live-0123456789abcdef", "cf-secret-987654321"
    secrets = repro.Secrets({key: "$TOPAPI_API_KEY", token: "$CF_SECRET"})
    body = json.dumps({"model": "gpt-4.1-mini", "input": "x" * 2000, "key_echo": key})
    ex = repro.build("POST", f"https://gw.example.com/v1beta/models/m:generateContent?alt=sse&key={key}",
                     {"authorization": f"Bearer {key}", "x-goog-api-key": key, "cf-access-client-secret": token,
                      "x-portkey-api-key": "pk-unknown-secret-value", "content-type": "application/json"},
                     body.encode(), 401, b'{"error": {"code": 401}}', secrets)
    text = json.dumps(ex.to_dict())
    assert key not in text and token not in text and "pk-unknown-secret-value" not in text
    assert ex.headers["authorization"] == "Bearer $TOPAPI_API_KEY"
    assert ex.headers["x-portkey-api-key"] == "<redacted>"  # a credential-like header the run did not know
    assert "key=$TOPAPI_API_KEY" in ex.url and ex.status == 401
    assert len(ex.body) < 700 and "(+" in ex.body  # shortened, saying by how much
    assert ex.curl.startswith("curl -sS -N ") and '"authorization: Bearer $TOPAPI_API_KEY"' in ex.curl
    assert "--data-binary" in ex.curl
    long_id = "video_" + "a1b2c3d4" * 6
    assert repro.shorten_ids(f"GET /v1/videos/{long_id}") == f"GET /v1/videos/{long_id[:12]}…{long_id[-6:]}"
    wrong = repro.build("GET", "http://x/v1/models", {"authorization": "sk-topapi-check-not-a-key"}, None, 401, b"",
                        secrets)
    assert wrong.headers["authorization"] == "sk-topapi-check-not-a-key"  # a deliberately wrong key is shown


def test_config_file_sets_flags_and_reads_secrets_from_the_environment(tmp_path: Path,
                                                                        monkeypatch: pytest.MonkeyPatch) -> None:
    from conformance import cli as check_cli
    from topapi.cli import build_parser

    parser = build_parser(only="check")
    check_parser = check_cli._PARSER
    assert check_parser is not None
    (tmp_path / "topapi.toml").write_text(
        'base-url = "http://gw"\napi-key = "${GW_KEY}"\nprofile = "openai"\nrequire = ["openai.chat"]\n'
        'timeout = 5\nonly = ["chat.json", "sse.*"]\n[headers]\nx-portkey-provider = "openai"\n'
        'x-front-door = "${FRONT}"\n')
    monkeypatch.setenv("GW_KEY", "sk-from-env-123")
    monkeypatch.setenv("FRONT", "door-secret-1")
    args = parser.parse_args(["check", "--config", str(tmp_path / "topapi.toml"), "--timeout", "9",
                              "-H", "x-extra: 1"])
    secrets: dict[str, str] = {}
    config.apply(check_parser, args, config.load(tmp_path / "topapi.toml"), secrets)
    assert (args.base_url, args.api_key, args.profile, args.require) == ("http://gw", "sk-from-env-123", "openai",
                                                                         "openai.chat")
    assert args.timeout == 9  # the command line wins
    assert args.only == "chat.json,sse.*"
    headers = dict(config.parse_header(h, secrets) for h in args.header)
    assert headers == {"x-portkey-provider": "openai", "x-front-door": "door-secret-1", "x-extra": "1"}
    assert secrets == {"sk-from-env-123": "$GW_KEY", "door-secret-1": "$FRONT"}

    (tmp_path / "bad.toml").write_text('api-key = "${NOT_SET_ANYWHERE_4711}"\n')
    with pytest.raises(config.ConfigError, match="NOT_SET_ANYWHERE_4711"):
        config.apply(check_parser, parser.parse_args(["check"]), config.load(tmp_path / "bad.toml"), {})
    (tmp_path / "typo.toml").write_text('base_ulr = "x"\n')
    with pytest.raises(config.ConfigError, match="unknown setting 'base_ulr'"):
        config.apply(check_parser, parser.parse_args(["check"]), config.load(tmp_path / "typo.toml"), {})
    with pytest.raises(config.ConfigError, match="expected 'Name: value'"):
        config.parse_header("no colon here", {})


def test_root_causes_count_a_shared_failure_once() -> None:
    ex = {"method": "POST", "url": "http://gw/v1/videos", "headers": {}, "body": None, "status": 500, "answer": "",
          "curl": "curl ..."}
    results = [
        Result("setup.video_job", "a video job", "setup", "failed", "POST /v1/videos: HTTP 500", exchange=ex),
        Result("video.content", "", "protocol", "blocked", "blocked by setup.video_job", blocked_by="setup.video_job"),
        Result("seed.requests", "", "protocol", "passed", subs=[
            Sub("video_content", False, "blocked by setup.video_job", status="blocked"), Sub("chat", True)]),
        Result("refusal.bad_key", "", "protocol", "failed", "2 of 2 failed", subs=[
            Sub("gemini", False, "HTTP 400, expected 401", cause="refusal.401"),
            Sub("chat", False, "HTTP 500, expected 401", cause="refusal.401")]),
        Result("auth.forms", "", "protocol", "failed", "1 of 1 failed", subs=[
            Sub("bearer", False, "a wrong key: HTTP 400, expected 401", cause="refusal.401")]),
        Result("sse.chat.done", "the done check", "protocol", "failed", "no [DONE]"),
    ]
    causes = root_causes(results)
    assert [c.id for c in causes] == ["setup.video_job", "refusal.401", "sse.chat.done"]
    assert causes[0].blocked == ["video.content", "seed.requests: video_content"] and causes[0].exchange == ex
    assert causes[1].where == ["refusal.bad_key: gemini", "refusal.bad_key: chat", "auth.forms: bearer"]
    assert causes[1].title == "a wrong or missing key is not refused with 401"

    # a gateway that crashes the same way on many requests: one cause; the same crash as a failed setup's: the setup
    crash = {**ex, "url": "http://gw/v1/models", "status": 502, "answer": '{"message":"Something went wrong 1234"}'}
    other = {**crash, "url": "http://gw/v1/chat/completions", "answer": '{"message":"Something went wrong 5678"}'}
    results = [Result("auth.forms", "", "protocol", "failed", "x", subs=[Sub("bearer", False, "HTTP 502", exchange=crash)]),
               Result("sse.chat.done", "", "protocol", "failed", "HTTP 502", exchange=other),
               Result("setup.video_job", "a video job", "setup", "failed", "HTTP 500", exchange=ex),
               Result("sdk.openai.videos", "", "sdk", "failed", "videos.create: HTTP 500", exchange=ex)]
    causes = root_causes(results)
    assert [c.id for c in causes] == ["setup.video_job", "crash:502:{\"message\":\"Something went wrong N\"}"]
    assert causes[0].where == ["setup.video_job", "sdk.openai.videos"]
    assert causes[1].where == ["auth.forms: bearer", "sse.chat.done"] and "the same server error" in causes[1].title


# -- against the proxied demo stack ---------------------------------------------------------------------------------


SELECTION = ["auth.forms", "chat.json", "seed.requests", "refusal.bad_key", "refusal.unknown_route", "console.flow",
             "gemini.json", "responses.json"]


@pytest.mark.timeout(240)
def test_another_gateway_is_judged_on_what_it_offers(proxied: Proxied, tmp_path: Path) -> None:
    proxied.proxy.active = OTHER
    try:
        target = proxied.target()
        out = _cli("--base-url", target.base_url, "--api-key", target.api_key, "--admin-user", target.admin_user,
                   "--admin-password", target.admin_password, "-H", f"{FRONT[0]}: ${{FRONT_SECRET}}",
                   "--only", ",".join(SELECTION), "--report-dir", str(tmp_path), env={"FRONT_SECRET": FRONT[1]})
        text = out.stdout + out.stderr
        assert out.returncode == 0, text
        assert "surfaces (profile auto)" in text and "not offered" in text
        data = _results(tmp_path)
        got = {r["id"]: r for r in data["results"]}
        probe = data["meta"]["probe"]
        assert not probe["surfaces"]["topapi"]["offered"] and not probe["surfaces"]["console"]["offered"]
        assert probe["forms"]["openai"][0] == "bearer" and "bare" not in probe["forms"]["openai"]
        assert got["seed.requests"]["status"] == "not_offered"
        assert got["console.flow"]["status"] == "not_offered"
        forms = {s["name"]: s["status"] for s in got["auth.forms"]["subs"]}
        assert forms == {"bare": "not_offered", "x-api-key": "not_offered", "bearer": "passed",
                         "x-goog-api-key": "passed", "query": "passed"}
        for cid in ("chat.json", "gemini.json", "responses.json", "refusal.bad_key", "refusal.unknown_route"):
            assert got[cid]["status"] == "passed", got[cid]
        cases = {s["name"]: s["status"] for s in got["refusal.unknown_route"]["subs"]}
        assert cases[next(n for n in cases if "/responses/v1/" in n)] == "not_offered"
        assert FRONT[1] not in (tmp_path / "results.json").read_text()
        suite = ET.parse(tmp_path / "junit.xml").getroot().find("testsuite")
        skipped = {c.get("name"): c.find("skipped") for c in suite.iter("testcase")}
        assert skipped["seed.requests"] is not None and "not offered" in skipped["seed.requests"].get("message")
        assert "not offered" in (tmp_path / "report.html").read_text()

        # without the front door's header every key form is refused: one line, exit 2
        out = _cli("--base-url", target.base_url, "--api-key", target.api_key, "--only", "chat.json",
                   "--report-dir", str(tmp_path / "no-header"))
        assert out.returncode == 2 and "refused the API key" in out.stdout + out.stderr

        # a required surface the target lacks: one failure, its checks blocked by it
        out = _cli("--base-url", target.base_url, "--api-key", target.api_key, "-H", f"{FRONT[0]}: {FRONT[1]}",
                   "--require", "topapi", "--only", "seed.requests,chat.json", "--report-dir", str(tmp_path / "req"))
        assert out.returncode == 1, out.stdout + out.stderr
        got = {r["id"]: r for r in _results(tmp_path / "req")["results"]}
        assert got["surface.topapi"]["status"] == "failed"
        assert got["seed.requests"]["status"] == "blocked" and got["seed.requests"]["blocked_by"] == "surface.topapi"
        assert got["chat.json"]["status"] == "passed"
        assert "1 root cause" in out.stdout and "surface.topapi" in out.stdout
    finally:
        proxied.proxy.use(None)


@pytest.mark.timeout(240)
def test_a_failed_setup_is_one_root_cause_with_its_reproduction(proxied: Proxied, tmp_path: Path) -> None:
    proxied.proxy.active = VIDEO_500
    try:
        target = proxied.target()
        (tmp_path / "topapi.toml").write_text(
            f'base-url = "{target.base_url}"\napi-key = "${{GW_KEY}}"\nonly = ["video", "seed.requests"]\n'
            f'report-dir = "{tmp_path / "out"}"\nvideo-deadline = 20\n[headers]\n{FRONT[0]} = "{FRONT[1]}"\n')
        out = _cli("--config", str(tmp_path / "topapi.toml"), env={"GW_KEY": target.api_key})
        text = out.stdout + out.stderr
        assert out.returncode == 1, text
        data = _results(tmp_path / "out")
        got = {r["id"]: r for r in data["results"]}
        assert got["setup.video_job"]["status"] == "failed"
        for cid in ("video.lifecycle", "video.content", "video.remix", "video.list", "video.delete"):
            assert got[cid]["status"] == "blocked" and got[cid]["blocked_by"].startswith("setup.video_"), got[cid]
        seed = {s["name"]: s["status"] for s in got["seed.requests"]["subs"]}
        assert seed["video_retrieve"] == seed["video_content"] == seed["video_remix"] == "blocked"
        assert seed["chat"] == "passed"
        # seed.requests' own video_create case fails on the same 500: the only other root cause
        causes = data["root_causes"]
        assert causes[0]["id"] == "setup.video_job" and len(causes[0]["blocked"]) >= 8
        assert [c["id"] for c in causes] == ["setup.video_job", "seed.requests"]
        ex = causes[0]["exchange"]
        assert ex["method"] == "POST" and ex["url"].endswith("/v1/videos") and ex["status"] == 500
        # the key came from ${GW_KEY}: the reproduction names that variable, so its curl line runs as it is
        assert ex["headers"]["authorization"] == "Bearer $GW_KEY" and target.api_key not in json.dumps(data)
        assert ex["curl"].startswith("curl ") and '"authorization: Bearer $GW_KEY"' in ex["curl"]
        assert "2 root causes" in out.stdout and "blocks " in out.stdout and "curl" in out.stdout
        assert text.index("root cause") < text.index("passed,")  # the summary opens with them
    finally:
        proxied.proxy.use(None)


@pytest.mark.timeout(300)
@pytest.mark.parametrize("profile", ["auto", "topapi", "openai", "gemini", "all"])
def test_every_profile_passes_the_demo_stack(proxied: Proxied, profile: str) -> None:
    proxied.proxy.active = FRONT_ONLY  # faithful behind its front door
    try:
        target = proxied.target()
        results = _profile_run(target, profile)
        bad = [f"{r.id}: {r.status}: {r.message}" for r in results if not r.ok]
        assert not bad, "\n".join(bad)
        by_id = {r.id: r for r in results}
        if profile == "openai":
            assert by_id["gemini.json"].status == "skipped" and "outside the profile" in by_id["gemini.json"].message
            assert by_id["chat.json"].status == "passed"
        elif profile == "gemini":
            assert by_id["chat.json"].status == "skipped" and by_id["gemini.json"].status == "passed"
        else:
            assert {by_id[c].status for c in ("chat.json", "gemini.json", "seed.requests")} == {"passed"}
    finally:
        proxied.proxy.use(None)


def _profile_run(target: Target, profile: str) -> list[Result]:
    from conformance.cli import probe
    from conformance.surfaces import PROFILES, SURFACES

    required, in_profile = PROFILES[profile]
    target.required = list(required)
    target.in_profile = None if set(in_profile) == set(SURFACES) else list(in_profile)
    found, problem = probe(target)
    assert problem is None and found is not None
    target.offered, target.forms = list(found.offered), found.chosen_forms()
    return run(target, select(["auth.forms", "chat.json", "gemini.json", "seed.requests", "refusal.bad_key"]))
