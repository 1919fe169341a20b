"""stream.unbuffered tells a relay that buffers whole streams from one that relays them as they come, on a busy
machine too: against the demo stack's paced mocks, directly, through a plain line-by-line aiohttp proxy, and
through a proxy that holds every stream back (tests/breaking_proxy.py `buffer_stream`).

`TOPAPI_UNBUFFERED_RUNS` (default 2) sets how many times each path is checked; the judgement must hold in every
run (run it with 10 and a CPU burner on every core to see it hold under load)."""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest
from breaking_proxy import BreakingProxy
from gateway_stack import Stack, start_stack, stop_stack
from line_proxy import LineProxy

from conformance.checks import streams
from conformance.checks.streams import Arrivals, judge
from conformance.context import Ctx, Target
from conformance.registry import CheckFailed, CheckSkipped, load_all
from conformance.runner import Result, run_one
from mocks.serving import ServerThread

RUNS = int(os.environ.get("TOPAPI_UNBUFFERED_RUNS", "2"))
DEMO_PACE = {"ttft_ms": 20, "itl_ms": 2}  # what `topapi serve --demo` and `topapi check` give the mocks


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    s = start_stack(tmp_path_factory.mktemp("gw"), "sqlite", read_timeout_s=10.0)
    for name in s.demo.servers:
        s.mock(name).settings = s.mock(name).settings.updated(DEMO_PACE)
    try:
        yield s
    finally:
        stop_stack(s)


def _check(url: str, key: str) -> Result:
    ctx = Ctx(Target(url, key, timeout_s=30))
    try:
        return run_one(ctx, load_all()["stream.unbuffered"])
    finally:
        ctx.close()


def _judged_and_passed(res: Result) -> None:
    assert res.status == "passed", f"{res.status}: {res.message}"
    not_judged = [f"{s.name}: {s.message}" for s in res.subs if s.message]
    assert not not_judged, not_judged  # every dialect was judged, none waved through as "too fast"


def test_direct_to_the_gateway_passes(stack: Stack) -> None:
    for _ in range(RUNS):
        _judged_and_passed(_check(stack.base_url, stack.api_key))


def test_a_line_by_line_aiohttp_proxy_passes(stack: Stack) -> None:
    with LineProxy(stack.base_url) as proxy:
        for _ in range(RUNS):
            _judged_and_passed(_check(proxy.url, stack.api_key))


def test_a_proxy_that_buffers_whole_streams_is_caught(stack: Stack) -> None:
    proxy = BreakingProxy(stack.base_url, stack.api_key)
    proxy.use("buffer_stream")
    with ServerThread(proxy, lifespan="on") as server:
        for _ in range(RUNS):
            res = _check(server.url, stack.api_key)
            assert res.status == "failed", f"{res.status}: {res.message}"
            assert res.message.startswith("3 of 3 failed"), res.message
            assert "held back and sent in one burst (twice in a row)" in res.message, res.message


# -- the judgement on its own, with arrival times as a busy machine makes them -------------------------------------
def _even(n: int, start: float, end: float) -> list[float]:
    return [start + (end - start) * i / (n - 1) for i in range(n)]


def test_judge_passes_a_paced_stream_and_one_with_stalls() -> None:
    assert judge("chat", Arrivals(_even(600, 0.02, 1.2))) is None
    # a 0.6 s stall at the start (cold upstream, busy CPU): the mock catches up in a burst, still spread
    stalled = [max(t, 0.6) for t in _even(600, 0.02, 1.2)]
    assert judge("chat", Arrivals(stalled)) is None
    # the client read in clumps of 50 events (starved reader): still spread
    clumped = [_even(12, 0.1, 1.2)[i // 50] for i in range(600)]
    assert judge("Responses", Arrivals(clumped)) is None


def test_judge_catches_a_burst_at_the_end() -> None:
    burst = [1.2 + i * 0.00001 for i in range(600)]
    assert "held back and sent in one burst" in (judge("chat", Arrivals(burst)) or "")
    # a few early events (e.g. a relay flushing its first chunk) do not hide the burst
    assert judge("chat", Arrivals([0.03, 0.05, *burst[2:]])) is not None


def test_judge_cannot_tell_too_fast_or_too_coarse_streams() -> None:
    with pytest.raises(CheckSkipped, match="too fast"):
        judge("chat", Arrivals(_even(600, 0.001, 0.02)))
    with pytest.raises(CheckSkipped, match="cannot judge"):
        judge("Gemini", Arrivals([0.5, 1.0, 1.2]))
    with pytest.raises(CheckFailed, match="coalesced"):
        judge("chat", Arrivals([0.5, 1.0, 1.2]))
    assert judge("Gemini", Arrivals(_even(6, 0.3, 1.5))) is None


def test_the_check_asks_for_a_long_answer() -> None:
    assert streams.LONG_WORDS >= 500 and str(streams.LONG_WORDS) in streams.PROMPT
