"""Routing and failover under load, read from the mocks' own request counters.

Routing runs `topapi load --scenario routing` with no --base-url: it starts the demo stack
(openai-a weight 3, openai-b weight 1), finds those nodes and weights in the node console,
and gates the shares at 3 percentage points. With n requests the share of openai-b has a
standard deviation of sqrt(0.75 x 0.25 / n): 0.79 pp at n = 3,000, so 3 pp is 3.8 sigma and a
correct router fails the gate about once in 7,000 runs; the run must reach 3,000 requests
(a `requests` gate) for that to hold.

Failover needs a short breaker cool-down to fit a test: the demo stack runs in-process here
(tests/gateway_stack.py, cool-down 1 s); `topapi load` still reaches it over HTTP only.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from gateway_stack import Stack, start_stack, stop_stack
from load_support import run_load

MIN_REQUESTS = 3000
COOLDOWN_S = 1.0


@pytest.mark.timeout(120)
def test_routing_shares_follow_the_weights_on_the_demo_stack(tmp_path) -> None:
    run = run_load(tmp_path, "--scenario", "routing", "-u", "16", "-t", "10s", "--slo", f"requests={MIN_REQUESTS}")
    assert run.code == 0, run.output
    s = run.summary
    nodes = s["nodes"]
    assert nodes["expected"] == {"openai-a": 0.75, "openai-b": 0.25}
    assert s["requests"] >= MIN_REQUESTS and s["errors"] == 0
    assert sum(nodes["requests"].values()) >= s["requests"]  # every request reached one of the two
    for name, expected in nodes["expected"].items():
        assert abs(nodes["shares"][name] - expected) * 100 <= 3.0, nodes
    assert run.gate("share_error_pp")["passed"] and run.gate("requests")["passed"]
    assert (tmp_path / "node_shares.png").stat().st_size > 0
    assert "nodes serving gpt-4.1-mini: openai-a (weight 3" in run.output


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    s = start_stack(tmp_path_factory.mktemp("gw"), "sqlite", read_timeout_s=2.0, breaker_cooldown_s=COOLDOWN_S)
    try:
        yield s
    finally:
        stop_stack(s)


@pytest.mark.timeout(120)
def test_failover_routes_around_a_failing_node_and_takes_it_back(stack: Stack, tmp_path) -> None:
    mocks = [f"--mock={name}={stack.demo.servers[name].url}" for name in ("openai-a", "openai-b")]
    run = run_load(tmp_path, "--base-url", stack.base_url, "--api-key", stack.api_key, "--scenario", "failover",
                   *mocks, "--weights", "openai-a=3,openai-b=1", "--fail-node", "openai-b",
                   "-u", "10", "-t", "10s", "--fail-at", "2.5", "--recover-at", "6")
    assert run.code == 0, run.output
    s, f = run.summary, run.summary["failover"]
    assert f["node"] == "openai-b" and f["fault"] == {"rate": 1.0, "kind": "status", "status": 500}
    assert s["errors"] / s["requests"] < 0.01 and f["error_rate_during_fault"] < 0.01
    assert f["requests_during_fault"] > 100
    # five failures open the breaker: at this rate that is well under a polling interval or two
    assert f["route_around_s"] is not None and f["route_around_s"] <= 1.0, f
    assert f["share_while_failing"] <= 0.02, f  # only the breaker's probes, one per cool-down
    # back once a probe finds it healthy: within a cool-down (plus the polling resolution)
    assert f["recover_s"] is not None and f["recover_s"] <= COOLDOWN_S + 1.0, f
    assert {g["name"] for g in s["slo"]} >= {"error_rate", "route_around_s", "recover_s", "failing_share"}
    assert (tmp_path / "node_shares.png").stat().st_size > 0
    # the node is left healthy
    assert stack.mock("openai-b").settings.fault.rate == 0.0
