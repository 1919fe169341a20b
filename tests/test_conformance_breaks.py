"""`topapi check` catches broken gateways (issue 4): a proxy in front of the demo stack breaks the traffic in one
named way at a time (tests/breaking_proxy.py) and the check that owns that part of the contract must fail, by its
id, with a message that names the problem; through the same proxy without a break, those checks pass."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path
from xml.etree import ElementTree as ET

import pytest
from breaking_proxy import BREAKS, Break, BreakingProxy, Req, is_done
from gateway_stack import Stack, start_stack, stop_stack

from conformance.context import Target
from conformance.registry import select
from conformance.runner import Result, fold_runs, run, run_repeated
from mocks.serving import ServerThread, free_port

# break -> {check id that must fail: a fragment of its failure message}
CASES: dict[str, dict[str, str]] = {
    "drop_done": {"sse.chat.done": "no `data: [DONE]` event"},
    "buffer_stream": {"stream.unbuffered": "3 of 3 failed: chat: long chat stream: "},
    "buffer_gemini": {"stream.unbuffered": "1 of 3 failed: Gemini: long Gemini stream: "},
    "stream_content_type": {"sse.chat.framing": "not text/event-stream",
                            "sse.responses.order": "not text/event-stream",
                            "sse.gemini.last_event": "not text/event-stream"},
    "usage_unasked": {"sse.chat.no_usage_unasked": "chunk(s) with no choices"},
    "usage_dropped": {"sse.chat.include_usage": "0 chunks carry usage, expected exactly 1"},
    "tool_call_repeats": {"sse.chat.tool_calls": "repeats its id after its first delta"},
    "sequence_duplicate": {"sse.responses.order": "has sequence_number 2, expected 3"},
    "responses_done": {"sse.responses.no_done": "`data: [DONE]`, which only chat completions send"},
    "gemini_done": {"sse.gemini.last_event": "`data: [DONE]`: Gemini streams end without it"},
    "gemini_early_finish": {"sse.gemini.last_event": "has finishReason ['STOP']; only the last may"},
    "gemini_no_usage": {"sse.gemini.last_event": "no usageMetadata"},
    "accept_any_key": {"refusal.bad_key": "HTTP 200, expected 401", "auth.forms": "HTTP 200, expected 401",
                       "refusal.unsubscribed_model": "HTTP 200, expected 403"},
    "missing_key_default": {"refusal.bad_key": "(chat, no key): HTTP 200, expected 401"},
    "html_fallback": {"refusal.unknown_route": "HTTP 200, expected 404"},
    "bad_input_500": {"refusal.broken_json": "HTTP 500, expected 400", "refusal.no_500": "HTTP 500"},
    "error_fields_stripped": {"refusal.bad_key": "the error lacks param, code",
                              "refusal.unknown_route": "the error lacks status"},
    "gemini_errors_openai_shaped": {"refusal.unknown_route": "Gemini errors carry code, message and status"},
    "leak_traceback": {"refusal.no_500": "the body shows a traceback"},
    "chat_usage_mismatch": {"chat.json": "!= total_tokens"},
    "edit_not_png": {"images.edit_forms": "is not a PNG"},
    "usage_miscounted": {"usage.consistency": "usage records (model, prompt, completion)"},
    "video_status_invented": {"video.lifecycle": "'processing'"},
    "video_progress_down": {"video.lifecycle": "progress went down"},
    "video_progress_stale": {"video.lifecycle": "progress: 100 was expected"},
    "video_early_bytes": {"video.content": "sent video bytes before the job completed"},
    "remix_unlinked": {"video.remix": "remixed_from_video_id None"},
    # the deeper checks of issue 14
    "limits_dropped": {"chat.max_tokens": "finish_reason 'stop', expected 'length'",
                       "responses.max_output_tokens": "status 'completed', expected 'incomplete'",
                       "gemini.max_tokens": "finishReason ['STOP'], expected ['MAX_TOKENS']"},
    "n_dropped": {"chat.n": "choices [0], expected indexes [0, 1]"},
    "stop_dropped": {"chat.stop": "goes on past the stop sequence", "gemini.stop_sequences": "past the stop sequence"},
    "chunk_created_drift": {"sse.chat.chunk_identity": "different values of `created`"},
    "first_delta_role_dropped": {"sse.chat.chunk_identity": "has role None, expected 'assistant'"},
    "tool_args_object": {"chat.tool_arguments": "arguments is a JSON dict, the API sends a string of JSON"},
    "tool_calls_first_only": {"chat.parallel_tool_calls": "expected get_time and get_weather in one answer"},
    "response_format_dropped": {"chat.json_schema": "the content is not JSON"},
    "stream_usage_total_off": {"usage.counts": "3 of 6 failed"},
    "errors_as_200": {"refusal.no_2xx_error": "HTTP 200 with an error body"},
    "gemini_system_dropped": {"gemini.system_instruction": "the instruction did not reach the model"},
    "gemini_history_dropped": {"gemini.multi_turn": "the earlier turns did not reach the model"},
    "count_tokens_guessed": {"gemini.count_tokens": "generateContent's promptTokenCount for the same contents"},
}
# breaks also run through the real CLI: exit code, the id in the output and in junit.xml
CLI_CASES = ["drop_done", "accept_any_key", "bad_input_500"]
WRONG_KEY = "sk-topapi-wrong-key"


@dataclass
class Proxied:
    stack: Stack
    proxy: BreakingProxy
    url: str

    def target(self) -> Target:
        admin = self.stack.accounts["platform_admin"]
        return Target(self.url, self.stack.api_key, admin["username"], admin["password"], timeout_s=30,
                      video_deadline_s=20)

    def run(self, brk: str | None, ids: list[str]) -> dict[str, Result]:
        """The checks' results by id (the setups they used are left out)."""
        self.proxy.use(brk)
        try:
            return {r.id: r for r in run(self.target(), select(ids), workers=4) if r.layer != "setup"}
        finally:
            self.proxy.use(None)


@pytest.fixture(scope="module")
def proxied(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Proxied]:
    stack = start_stack(tmp_path_factory.mktemp("gw"), "sqlite", read_timeout_s=5.0)
    for name in stack.demo.servers:  # some latency (buffering is measurable), short videos
        stack.mock(name).settings = stack.mock(name).settings.updated({"ttft_ms": 20, "itl_ms": 2, "video_ms": 1000})
    proxy = BreakingProxy(stack.base_url, stack.api_key)
    try:
        with ServerThread(proxy, lifespan="on") as server:
            yield Proxied(stack, proxy, server.url)
    finally:
        stop_stack(stack)


def _cli(*args: str, timeout: float = 60) -> tuple[subprocess.CompletedProcess[str], float]:
    exe = shutil.which("topapi")
    cmd = [exe] if exe else [sys.executable, "-c", "import sys; from topapi.cli import main; sys.exit(main())"]
    t0 = time.monotonic()
    # no TOPAPI_* from the environment: the command line says everything
    env = {k: v for k, v in os.environ.items() if not k.startswith("TOPAPI_")}
    proc = subprocess.run([*cmd, "check", *args], capture_output=True, text=True, timeout=timeout, env=env)
    return proc, time.monotonic() - t0


def test_every_break_has_a_case() -> None:
    assert set(CASES) == set(BREAKS)
    assert len(BREAKS) >= 12
    assert set(CLI_CASES) <= set(CASES)


def test_checks_pass_through_the_proxy_without_a_break(proxied: Proxied) -> None:
    """The control: the proxy itself is faithful, so a failure below is the break's doing."""
    ids = sorted({cid for fails in CASES.values() for cid in fails})
    results = proxied.run(None, ids)
    bad = [f"{r.id}: {r.status}: {r.message}" for r in results.values() if r.status != "passed"]
    assert not bad, "\n".join(bad)
    assert set(results) == set(ids)


@pytest.mark.parametrize("brk", sorted(CASES))
def test_break_is_reported_by_the_right_check(proxied: Proxied, brk: str) -> None:
    results = proxied.run(brk, list(CASES[brk]))
    for cid, fragment in CASES[brk].items():
        r = results[cid]
        assert r.status == "failed", f"{brk} ({BREAKS[brk].description}): {cid} {r.status}: {r.message}"
        assert fragment in r.message, f"{brk}: {cid} failed without naming the problem: {r.message}"


@pytest.mark.parametrize("brk", CLI_CASES)
def test_cli_exits_non_zero_and_names_the_check(proxied: Proxied, brk: str, tmp_path: Path) -> None:
    ids, target = list(CASES[brk]), proxied.target()
    proxied.proxy.use(brk)
    try:
        proc, _ = _cli("--base-url", target.base_url, "--api-key", target.api_key, "--admin-user", target.admin_user,
                       "--admin-password", target.admin_password, "--only", ",".join(ids),
                       "--report-dir", str(tmp_path))
    finally:
        proxied.proxy.use(None)
    out = proc.stdout + proc.stderr
    assert proc.returncode == 1, out
    assert "Traceback" not in out
    assert "FAILED" in out
    suite = ET.parse(tmp_path / "junit.xml").getroot().find("testsuite")
    assert suite is not None
    cases = {c.get("name"): c for c in suite.iter("testcase")}
    for cid in ids:
        assert cid in out, out
        assert cases[cid].find("failure") is not None, ET.tostring(cases[cid]).decode()
    assert suite.get("failures") == str(len(ids))


def _one_line(proc: subprocess.CompletedProcess[str]) -> str:
    out = proc.stdout + proc.stderr
    assert "Traceback" not in out, out
    lines = [line for line in out.splitlines() if line.strip()]
    assert len(lines) == 1, out
    return lines[0]


def test_cli_against_a_target_that_is_down(tmp_path: Path) -> None:
    closed = f"http://127.0.0.1:{free_port()}"  # nothing listens there
    proc, took = _cli("--base-url", closed, "--api-key", "sk-x", "--only", "chat.json", "--report-dir", str(tmp_path))
    assert proc.returncode == 2
    line = _one_line(proc)
    assert "cannot reach" in line and closed in line
    assert took < 30  # ends at once, not after a request timeout (60 s); the CLI's start-up alone takes seconds on a busy machine
    assert not (tmp_path / "junit.xml").exists()


def test_cli_with_a_wrong_key(proxied: Proxied, tmp_path: Path) -> None:
    proc, took = _cli("--base-url", proxied.url, "--api-key", WRONG_KEY, "--only", "chat.json",
                      "--report-dir", str(tmp_path))
    assert proc.returncode == 2
    line = _one_line(proc)
    assert "refused the API key" in line and "HTTP 401" in line
    assert took < 30  # ends at once, not after a request timeout (60 s); the CLI's start-up alone takes seconds on a busy machine


def test_cli_refuses_an_unknown_schema_phase(tmp_path: Path) -> None:
    closed = f"http://127.0.0.1:{free_port()}"  # never contacted: the flags are checked first
    proc, took = _cli("--base-url", closed, "--api-key", "sk-x", "--schema-phases", "examples,fuzz",
                      "--report-dir", str(tmp_path))
    assert proc.returncode == 2
    line = _one_line(proc)
    assert "unknown schema phase fuzz" in line and "fuzzing" in line, line


# -- --repeat: a check that passes in some runs and fails in others is reported as flaky ---------------------------
async def _drop_done_every_other(req: Req, blocks: AsyncIterator[bytes]) -> AsyncIterator[bytes]:
    n = req.state["streams"] = req.state.get("streams", 0) + 1
    async for b in blocks:
        if not (req.is_chat and n % 2 == 0 and is_done(b)):
            yield b


def test_repeat_reports_a_check_that_fails_in_some_runs_as_flaky(proxied: Proxied) -> None:
    proxied.proxy.active = Break("drop_done_every_other", "every second chat stream loses [DONE]",
                                 stream=_drop_done_every_other)
    try:
        results = {r.id: r for r in run_repeated(proxied.target(), select(["sse.chat.done", "chat.json"]), 4)}
    finally:
        proxied.proxy.use(None)
    flaky = results["sse.chat.done"]
    assert flaky.status == "flaky" and not flaky.ok, flaky
    assert flaky.message.startswith("flaky: failed in 2 of 4 runs (run 2, 4): "), flaky.message
    assert "no `data: [DONE]` event" in flaky.message
    steady = results["chat.json"]
    assert steady.status == "passed" and steady.message == "the same in all 4 runs", steady


def test_fold_runs() -> None:
    def res(status: str, message: str = "") -> Result:
        return Result("x", "d", "protocol", status, message, 1.0)

    assert fold_runs([res("failed", "boom"), res("failed", "boom")]).status == "failed"
    assert fold_runs([res("passed"), res("error", "E")]).status == "flaky"
    assert fold_runs([res("skipped", "why")] * 3).message == "the same in all 3 runs: why"
    assert fold_runs([res("passed")] * 2).duration_s == 2.0
