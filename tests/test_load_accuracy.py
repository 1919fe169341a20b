"""Accuracy of the load generator against a mock with known timing (TTFT 150 ms, ITL 20 ms).

`topapi load` points the chat-stream scenario straight at `topapi mock openai`: what it
measures must be the mock's configured timing, within 2 ms at p50, in one Locust process
and in two (samples merged on the master). A buffering proxy in front of the same mock must
show up as TTFT close to E2E, and fail an SLO on TTFT with a non-zero exit code.
"""

from __future__ import annotations

import csv
from collections.abc import Iterator

import httpx
import pytest
from load_support import mock_fixture, run_load
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from mocks.serving import ServerThread

TTFT_MS, ITL_MS = 150.0, 20.0
TOLERANCE_MS = 2.0
# Few users, started 0.5 s apart: what is measured is the generator, not the mock's own queue
# (every request costs the mock ~1-2 ms of CPU before its first token; 16 users starting in
# lockstep put the last one ~6 ms behind, which is true latency, not a measuring error).
USERS = ("-u", "4", "-r", "2")
pytestmark = pytest.mark.timeout(90)


@pytest.fixture(scope="module")
def mock() -> Iterator[str]:
    yield from mock_fixture("openai", "--ttft-ms", str(TTFT_MS), "--itl-ms", str(ITL_MS))


def buffering_proxy(upstream: str) -> Starlette:
    """A gateway that gets streaming wrong: it reads the whole upstream answer, then sends it."""
    client = httpx.AsyncClient(base_url=upstream, timeout=30)

    async def relay(request: Request) -> Response:
        headers = {k: v for k, v in request.headers.items() if k.lower() in ("authorization", "content-type")}
        r = await client.request(request.method, request.url.path, content=await request.body(), headers=headers)
        return Response(r.content, r.status_code, media_type=r.headers.get("content-type"))

    return Starlette(routes=[Route("/{path:path}", relay, methods=["GET", "POST"])])


def _measure_the_mock(mock: str, tmp_path, *args: str) -> dict:
    """The summary of a 7 s chat-stream run straight at the mock (`args` appended), which must show its timing."""
    run = run_load(tmp_path, "--base-url", mock, "--api-key", "k", "--scenario", "chat-stream", *USERS,
                   "-t", "7s", "--max-tokens", "32", *args)
    assert run.code == 0, run.output
    summary = run.summary
    m = summary["metrics"]
    assert summary["errors"] == 0
    assert m["ttft_ms"]["count"] >= 20 and m["itl_ms"]["count"] == m["ttft_ms"]["count"]
    assert abs(m["ttft_ms"]["p50"] - TTFT_MS) <= TOLERANCE_MS, m["ttft_ms"]
    assert abs(m["itl_ms"]["p50"] - ITL_MS) <= TOLERANCE_MS, m["itl_ms"]
    # answers of N tokens (N from usage, up to --max-tokens) take TTFT + (N - 1) x ITL
    assert TTFT_MS + 10 * ITL_MS < m["e2e_ms"]["p50"] < TTFT_MS + 32 * ITL_MS + 10, m["e2e_ms"]
    assert m["output_tokens_per_s"] > 0
    return summary


def test_single_process_measures_the_mock_within_2ms(mock: str, tmp_path) -> None:
    s = _measure_the_mock(mock, tmp_path, "--slo", "ttft_p95=300ms,itl_p95=40ms")
    assert set(s) >= {"scenario", "target", "duration_s", "users", "requests", "errors", "rps", "metrics", "slo",
                      "passed"}
    assert set(s["metrics"]) >= {"ttfb_ms", "ttft_ms", "itl_ms", "e2e_ms", "output_tokens_per_s"}
    assert s["scenario"] == "chat-stream" and s["target"] == mock and s["users"] == 4 and s["passed"] is True
    assert [g["name"] for g in s["slo"]] == ["error_rate", "ttft_p95", "itl_p95"]
    # the metrics are rows of their own in Locust's CSV, next to the HTTP request's row
    with (tmp_path / "locust_stats.csv").open() as f:
        rows = {(r["Type"], r["Name"]) for r in csv.DictReader(f)}
    assert {("TTFT", "chat-stream"), ("ITL", "chat-stream"), ("E2E", "chat-stream"), ("TTFB", "chat-stream"),
            ("POST", "chat-stream")} <= rows
    for name in ("locust.html", "ttft_itl.png", "latency_over_time.png", "samples.csv"):
        assert (tmp_path / name).stat().st_size > 0, name


def test_two_processes_merge_raw_samples(mock: str, tmp_path) -> None:
    s = _measure_the_mock(mock, tmp_path, "--processes", "2")
    # every sample reached the master: the raw list agrees with Locust's own merged counter
    with (tmp_path / "locust_stats.csv").open() as f:
        ttft_rows = [r for r in csv.DictReader(f) if r["Type"] == "TTFT"]
    assert int(ttft_rows[0]["Request Count"]) == s["metrics"]["ttft_ms"]["count"]


def test_a_buffering_gateway_shows_and_fails_the_ttft_gate(mock: str, tmp_path) -> None:
    with ServerThread(buffering_proxy(mock)) as proxy:
        run = run_load(tmp_path, "--base-url", proxy.url, "--api-key", "k", "--scenario", "chat-stream",
                       "-u", "4", "-t", "4s", "--max-tokens", "32", "--slo", "ttft_p95=300ms")
    assert run.code == 1, run.output
    m = run.summary["metrics"]
    assert m["ttft_ms"]["count"] > 0
    # every event arrives at once: the first token comes when the stream ends
    assert m["ttft_ms"]["p50"] > TTFT_MS + 25 * ITL_MS
    assert m["e2e_ms"]["p50"] - m["ttft_ms"]["p50"] < 5.0, m
    assert m["itl_ms"]["p50"] < 1.0
    gate = run.gate("ttft_p95")
    assert gate["passed"] is False and gate["value"] > 300
    assert run.summary["passed"] is False
    assert "[FAIL] ttft_p95" in run.output
