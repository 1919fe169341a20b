"""`topapi load --find-max` against a mock whose TTFT grows with the streams in flight.

The mock (`--ttft-per-stream-ms`) answers in TTFT = base + k x (other requests in flight), and
each stream lasts TTFT + F (19 more tokens at ITL 25 ms). With arrivals at R/s, Little's law
puts R x (TTFT + F) requests in flight, so TTFT = (base + k R F) / (1 - k R): the rate at which
TTFT reaches the SLO S is R = (S - base) / (k (S + F)). The gate is on the median: a busy
machine stalls a few requests by hundreds of ms, which moves a p95 but not a p50.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from load_support import run_load, start_mock, stop

pytestmark = pytest.mark.slow

BASE_MS, K_MS, ITL_MS, TOKENS, SLO_MS = 20.0, 5.0, 25.0, 20, 300.0
F_MS = (TOKENS - 1) * ITL_MS
KNOWN_MAX = (SLO_MS - BASE_MS) / (K_MS / 1000 * (SLO_MS + F_MS))  # 72.3 requests/s


def test_find_max_finds_the_known_maximum(tmp_path: Path) -> None:
    proc, root = start_mock("openai", "--ttft-ms", str(BASE_MS), "--ttft-per-stream-ms", str(K_MS),
                            "--itl-ms", str(ITL_MS))
    try:
        run = run_load(tmp_path, "--base-url", root, "--api-key", "k", "--scenario", "chat-stream",
                       "--arrival", "constant", "--find-max", "--start-rate", "20", "--precision", "0.08",
                       "-t", "4s", "--warmup-s", "1", "--max-tokens", str(TOKENS),
                       "--prompt", "Write 40 words about a relay.", "--slo", f"ttft_p50={SLO_MS:g}ms",
                       timeout=240)
    finally:
        stop(proc)
    assert run.code == 0, run.output
    s = run.summary
    assert s["search"] == "find-max" and len(s["steps"]) >= 4
    assert abs(s["max_rate"] - KNOWN_MAX) / KNOWN_MAX <= 0.10, (s["max_rate"], KNOWN_MAX, s["steps"])
    held = [st for st in s["steps"] if st["passed"]]
    failed = [st for st in s["steps"] if not st["passed"]]
    assert held and failed and max(st["rate"] for st in held) < min(st["rate"] for st in failed)
    for st in s["steps"]:
        assert st["goodput_rps"] is not None and st["goodput_rps"] <= st["achieved_rps"] + 1e-9
        assert (Path(st["report_dir"]) / "summary.json").exists()
        # a step holds only when its schedule was kept (a busy machine may not keep the highest rates:
        # those steps fail, and the search says so, rather than report what the generator could not send)
        assert st["schedule_held"] == (st["achieved_rps"] >= 0.95 * st["offered_rps"])
        if st["passed"]:
            assert st["schedule_held"] and all(g["passed"] for g in st["slo"])
    # the WIRE.md keys come from the step at max_rate
    assert s["achieved_rps"] == next(st["achieved_rps"] for st in s["steps"] if st["rate"] == s["max_rate"])
    assert (tmp_path / "curve.png").stat().st_size > 0
    html = (tmp_path / "report.html").read_text()
    assert "data:image/png;base64," in html and f"{s['max_rate']:g} requests/s" in html
    assert "every SLO holds up to" in run.output


def test_sweep_runs_the_given_rates(tmp_path: Path) -> None:
    proc, root = start_mock("openai")
    try:
        run = run_load(tmp_path, "--base-url", root, "--api-key", "k", "--scenario", "chat", "--sweep", "10,5",
                       "-t", "2s", "--slo", "ttfb_p50=1s")
    finally:
        stop(proc)
    assert run.code == 0, run.output
    s = run.summary
    assert [st["rate"] for st in s["steps"]] == [5, 10] and s["max_rate"] == 10 and s["search"] == "sweep"


def test_search_options_are_checked_before_anything_runs(tmp_path: Path) -> None:
    run = run_load(tmp_path, "--base-url", "http://127.0.0.1:9", "--api-key", "k", "--sweep", "5,x")
    assert run.code == 2 and "--sweep" in run.output
