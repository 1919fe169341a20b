"""The load part's logic without a network: what counts as a token, ITL from usage, percentiles,
SLO parsing and gates, summary.json's shape, node shares and the failover analysis."""

from __future__ import annotations

import argparse
import random

import numpy as np
import orjson
import pytest

from load import cli, dialects, slo, summary
from load.failover import FaultSchedule, analyse
from load.nodes import NodeWatch, expected_shares, parse_weights
from load.samples import Sample, distribution, percentile
from load.streams import StreamClock, read_sse
from specs import sse


def ev(obj, event: str | None = None) -> sse.Event:
    return sse.Event(obj if isinstance(obj, str) else orjson.dumps(obj).decode(), event)


def chunk(delta: dict, usage: dict | None = None, choices: bool = True) -> sse.Event:
    return ev({"object": "chat.completion.chunk", "choices": [{"index": 0, "delta": delta}] if choices else [],
               "usage": usage})


# -- what carries output -------------------------------------------------------------------------

def test_chat_tokens_are_output_deltas_not_role_chunks() -> None:
    assert not dialects.chat(chunk({"role": "assistant", "content": ""})).output
    assert dialects.chat(chunk({"content": "Hi"})).output
    assert dialects.chat(chunk({"reasoning_content": "hmm"})).output
    assert dialects.chat(chunk({"tool_calls": [{"index": 0, "function": {"arguments": "{\""}}]})).output
    last = dialects.chat(chunk({}, usage={"completion_tokens": 7}, choices=False))
    assert not last.output and last.tokens == 7
    assert dialects.chat(ev("[DONE]")).done
    assert dialects.chat(ev({"error": {"message": "upstream died"}})).error == "upstream died"
    assert dialects.chat(ev("{not json")).error.startswith("malformed")


def test_responses_and_gemini_events() -> None:
    assert dialects.responses(ev({"type": "response.output_text.delta", "delta": "a"})).output
    assert dialects.responses(ev({"type": "response.function_call_arguments.delta", "delta": "{"})).output
    assert not dialects.responses(ev({"type": "response.created", "response": {}})).output
    done = dialects.responses(ev({"type": "response.completed", "response": {"usage": {"output_tokens": 12}}}))
    assert done.done and done.tokens == 12
    assert dialects.responses(ev({"type": "response.failed", "response": {"error": {"message": "x"}}})).error == "x"
    text = {"candidates": [{"content": {"parts": [{"text": "hi"}]}}], "usageMetadata": {"candidatesTokenCount": 1}}
    assert dialects.gemini(ev(text)).output and not dialects.gemini(ev(text)).done
    call = {"candidates": [{"content": {"parts": [{"functionCall": {"name": "f", "args": {}}}]}, "finishReason": "STOP"}],
            "usageMetadata": {"candidatesTokenCount": 5, "thoughtsTokenCount": 2}}
    seen = dialects.gemini(ev(call))
    assert seen.output and seen.done and seen.tokens == 7


# -- timing ----------------------------------------------------------------------------------------

class FakeBody:
    """A geventhttpclient response stand-in: lines arrive at given (fake) times."""

    def __init__(self, lines: list[tuple[float, bytes]], clock: list[float]) -> None:
        self.lines, self.clock = list(lines), clock

    def readline(self, sep: bytes) -> bytes:
        if not self.lines:
            return b""
        t, line = self.lines.pop(0)
        self.clock[0] = t
        return line


def test_itl_uses_the_usage_token_count_not_the_chunk_count(monkeypatch) -> None:
    now = [0.0]
    monkeypatch.setattr("load.streams.perf", lambda: now[0])
    body = [(0.002, b"data: " + orjson.dumps({"choices": [{"delta": {"role": "assistant", "content": ""}}]}) + b"\n"),
            (0.002, b"\n")]
    # three chunks of two tokens each, 40 ms apart: 6 tokens, ITL 80 ms / 5 = 16 ms
    for k in range(3):
        t = 0.150 + 0.040 * k
        body += [(t, b"data: " + orjson.dumps({"choices": [{"delta": {"content": "ab"}}]}) + b"\r\n"), (t, b"\r\n")]
    body += [(0.231, b'data: {"choices": [], "usage": {"completion_tokens": 6}}\n'), (0.231, b"\n"),
             (0.232, b"data: [DONE]\n"), (0.232, b"\n")]
    clock = StreamClock(sent=0.0, headers=0.001)
    read_sse(FakeBody(body, now), "chat", clock)
    assert clock.error is None and clock.tokens == 6 and clock.output_events == 3
    assert clock.ttfb_ms == pytest.approx(1.0)
    assert clock.ttft_ms == pytest.approx(150.0)
    assert clock.itl_ms == pytest.approx(16.0)
    assert clock.stall_ms == pytest.approx(40.0)
    assert clock.e2e_ms == pytest.approx(232.0)


def test_a_stream_without_its_end_marker_is_an_error(monkeypatch) -> None:
    monkeypatch.setattr("load.streams.perf", lambda: 1.0)
    clock = StreamClock(sent=0.0)
    read_sse(FakeBody([(1.0, b'data: {"choices": [{"delta": {"content": "a"}}]}\n'), (1.0, b"\n")], [0.0]),
             "chat", clock)
    assert clock.error == "the stream ended before its end marker" and clock.itl_ms is None


# -- percentiles and SLOs ---------------------------------------------------------------------------

def test_percentiles_match_numpy_on_raw_values() -> None:
    rng = random.Random(7)
    data = [rng.lognormvariate(5, 0.3) for _ in range(1001)]
    d = distribution(data)
    for p in (50, 90, 95, 99):
        assert d[f"p{p}"] == pytest.approx(np.percentile(data, p), abs=1e-3)
    assert d["max"] == pytest.approx(max(data), abs=1e-3) and d["count"] == 1001
    assert distribution([]) == {"p50": None, "p90": None, "p95": None, "p99": None, "max": None, "count": 0}
    assert percentile([1.0, 2.0], 50) == 1.5


def test_slo_parsing_units_and_errors() -> None:
    gates = {g.name: g for g in slo.parse("ttft_p95=300ms, itl_p95=0.04s,error_rate=1%,rps=50,recover_s=1500ms")}
    assert gates["ttft_p95"].limit == 300 and gates["itl_p95"].limit == pytest.approx(40)
    assert gates["error_rate"].limit == 0.01 and gates["recover_s"].limit == 1.5
    assert gates["rps"].minimum and not gates["ttft_p95"].minimum
    with pytest.raises(ValueError, match="unknown SLO 'ttft_p42'"):
        slo.parse("ttft_p42=1")
    with pytest.raises(ValueError, match="% only applies to rates"):
        slo.parse("ttft_p95=5%")
    with pytest.raises(ValueError, match="not a number"):
        slo.parse("rps=fast")
    merged = slo.merge(slo.parse("error_rate=0.01,share_error_pp=3"), slo.parse("error_rate=0.05"))
    assert {g.name: g.limit for g in merged} == {"share_error_pp": 3, "error_rate": 0.05}


def _samples() -> list[Sample]:
    out = [Sample(100.0 + i, "chat-stream", True, ttfb=2, ttft=150 + i % 10, itl=20, e2e=700, tokens=30)
           for i in range(98)]
    out += [Sample(200.0, "chat-stream", True, ttfb=2, ttft=900, itl=20, e2e=1500, tokens=30),
            Sample(201.0, "chat-stream", False, ttfb=2, error="HTTP 500: boom")]
    return out


def test_summary_has_the_wire_shape_and_gates_decide_passed() -> None:
    gates = slo.parse("ttft_p95=300ms,error_rate=0.02,rps=200,goodput_rps=0.9")
    s = summary.build(scenario="chat-stream", target="http://gw", duration_s=100.0, users=4, samples=_samples(),
                      slos=gates)
    assert list(s)[:8] == ["scenario", "target", "duration_s", "users", "requests", "errors", "rps", "metrics"]
    assert s["requests"] == 100 and s["errors"] == 1 and s["rps"] == 1.0
    assert s["metrics"]["ttft_ms"]["count"] == 99 and s["metrics"]["ttft_ms"]["max"] == 900
    assert s["metrics"]["output_tokens_per_s"] == pytest.approx(99 * 30 / 100)
    # goodput: ok and TTFT within 300 ms -> 98 of 100
    assert s["goodput_rps"] == pytest.approx(0.98)
    result = {g["name"]: g for g in s["slo"]}
    assert set(result["ttft_p95"]) == {"name", "limit", "value", "passed"}
    assert result["ttft_p95"]["passed"] and result["error_rate"]["passed"] and result["goodput_rps"]["passed"]
    assert not result["rps"]["passed"] and s["passed"] is False
    assert s["endpoints"]["chat-stream"]["first_errors"] == {"HTTP 500: boom": 1}


def test_a_gate_on_a_missing_value_fails() -> None:
    s = summary.build(scenario="failover", target="t", duration_s=10, users=1, samples=[],
                      slos=slo.parse("recover_s=5,ttft_p50=100"), extra={"failover": {"recover_s": None}})
    assert [g["passed"] for g in s["slo"]] == [False, False]


# -- node shares and failover ------------------------------------------------------------------------

def test_weights_and_windows() -> None:
    assert expected_shares(parse_weights("openai-a=3, openai-b=1")) == {"openai-a": 0.75, "openai-b": 0.25}
    with pytest.raises(ValueError):
        parse_weights("openai-a")
    w = NodeWatch({"a": "x", "b": "y"})
    w.points = [(0.0, {"a": 0, "b": 0}), (0.5, {"a": 3, "b": 1}), (1.0, {"a": 30, "b": 10}), (1.5, {"a": 33, "b": 11})]
    assert w.shares() == {"a": 0.75, "b": 0.25}
    # windows merge until they hold 10 requests
    assert [(x.start, x.end, x.total) for x in w.windows(10)] == [(0.0, 1.0, 40), (1.0, 1.5, 4)]


def test_failover_analysis_from_a_timeline() -> None:
    w = NodeWatch({"a": "x", "b": "y"}, interval_s=0.5, t0=1000.0)
    a = b = 0
    for i in range(41):  # 20 s, 100 requests per 0.5 s; b fails at 5 s, out by 6 s, back at 12.5 s
        t = i * 0.5
        if i:
            share_b = 0.25 if t <= 5.5 or t > 12.5 else 0.0
            b += round(100 * share_b)
            a += 100 - round(100 * share_b)
        w.points.append((t, {"a": a, "b": b}))
    sched = FaultSchedule("b", "y", 5.0, 11.0)
    sched.failed_t, sched.recovered_t = 5.0, 11.0
    samples = [Sample(1000.0 + 5 + i * 0.01, "chat-stream", i != 3) for i in range(500)]
    out = analyse(sched, w, 0.25, samples)
    assert out["route_around_s"] == 1.0  # the window 5.5..6.0 is the first without b
    assert out["share_while_failing"] == 0.0
    assert out["recover_s"] == 2.0  # back in the window 12.5..13.0
    assert out["error_rate_during_fault"] == pytest.approx(1 / 500) and out["requests_during_fault"] == 500


# -- the command line ---------------------------------------------------------------------------------

def test_topapi_load_forwards_its_options_to_locust() -> None:
    parser = argparse.ArgumentParser()
    sub = parser.add_subparsers()
    cli.register(sub)
    args = parser.parse_args(["load", "--base-url", "http://gw", "--api-key", "secret", "--scenario", "routing",
                              "-u", "20", "-t", "1m", "--processes", "2", "--report-dir", "out", "--slo", "rps=10",
                              "--mock", "a=http://m:1/v1", "--mock", "b=http://m:2", "--weights", "a=3,b=1"])
    cmd = cli.locust_command(args)
    joined = " ".join(cmd)
    assert "-m locust -f" in joined and cmd[cmd.index("-f") + 1].endswith("load/locustfile.py")
    for part in ("--headless", "--host http://gw", "-u 20", "-r 20", "-t 1m", "--processes 2", "--csv out/locust",
                 "--html out/locust.html", "--scenario routing", "--slo rps=10", "--mock a=http://m:1/v1",
                 "--mock b=http://m:2", "--weights a=3,b=1", "--report-dir out", "--progress"):
        assert part in joined, part
    assert "secret" not in joined  # the key travels in the environment, not in `ps`
