"""Open-loop arrivals (`topapi load --rate R`) against `topapi mock openai`.

What is judged is the schedule, measured from the requests' send stamps (samples.csv), never
from how fast the machine happened to be: a rate over a window is exact however late single
requests left, and the Poisson test judges at least 1,000 gaps (the CV of n exponential gaps has
a standard error of about 1/sqrt(n): 0.1 is more than 3 of them; 3,000 when the machine is quiet).
"""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pytest
from load_support import run_load, start_mock, stop

from load.rates import interarrival_cv

ON_TIME_MS = 2.0

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def fast_mock():
    proc, root = start_mock("openai")
    try:
        yield root
    finally:
        stop(proc)


def send_stamps(report: Path) -> list[float]:
    with (report / "samples.csv").open() as f:
        return sorted(float(r["t"]) for r in csv.DictReader(f))


def sends(report: Path) -> list[tuple[float, float]]:
    """(sent, delay ms) of every request, in sending order."""
    with (report / "samples.csv").open() as f:
        return sorted((float(r["t"]), float(r["delay"])) for r in csv.DictReader(f))


def test_constant_rate_is_achieved_within_2_percent(fast_mock: str, tmp_path: Path) -> None:
    rate = 50.0
    run = run_load(tmp_path, "--base-url", fast_mock, "--api-key", "k", "--scenario", "chat", "--rate", str(rate),
                   "--arrival", "constant", "-t", "20s", "--max-tokens", "4")
    assert run.code == 0, run.output
    stamps = send_stamps(tmp_path)
    achieved = (len(stamps) - 1) / (stamps[-1] - stamps[0])
    assert abs(achieved - rate) / rate < 0.02, achieved
    assert len(stamps) > 0.9 * rate * 20
    s = run.summary
    assert abs(s["offered_rps"] - rate) / rate < 0.02 and abs(s["achieved_rps"] - rate) / rate < 0.02, s["arrivals"]
    assert s["arrivals"]["arrival"] == "constant" and s["arrivals"]["unsent"] <= 1
    assert "open loop, constant at 50/s" in run.output


def test_poisson_gaps_have_a_cv_of_1(fast_mock: str, tmp_path: Path) -> None:
    run = run_load(tmp_path, "--base-url", fast_mock, "--api-key", "k", "--scenario", "chat", "--rate", "150",
                   "--arrival", "poisson", "-t", "21s", "--max-tokens", "4")
    assert run.code == 0, run.output
    sent = sends(tmp_path)
    assert len(sent) > 3000 * 0.9
    # the schedule itself (sent - delay): exponential gaps
    cv_schedule = interarrival_cv([t - d / 1000 for t, d in sent])
    assert cv_schedule is not None and abs(cv_schedule - 1.0) < 0.1, cv_schedule
    # the sends: gaps between consecutive requests that both left within 2 ms of their time. A busy
    # machine starves the generator now and then, and what it sends on catching up is a burst that says
    # nothing of the schedule. Leaving those out keeps the gaps exponential (stalls start at random
    # times, and an exponential gap that holds no stall start is still exponential), and the 2 ms
    # left of jitter moves the CV of 6.7 ms gaps by at most ~0.03.
    on_time = [b[0] - a[0] for a, b in zip(sent, sent[1:], strict=False) if a[1] < ON_TIME_MS and b[1] < ON_TIME_MS]
    if len(on_time) < 1000:
        pytest.skip(f"the machine delayed too many sends by >= {ON_TIME_MS:g} ms ({len(on_time)} on-time gaps of "
                    f"{len(sent) - 1}): too busy to judge the send times (the schedule's CV was {cv_schedule:.3f})")
    mean = sum(on_time) / len(on_time)
    cv = (sum((g - mean) ** 2 for g in on_time) / (len(on_time) - 1)) ** 0.5 / mean
    assert abs(cv - 1.0) < 0.1, (cv, len(on_time))


def test_overload_keeps_offering_the_rate_and_shows_the_queue(tmp_path: Path) -> None:
    # 4 requests in flight at most, each ~200 ms: the target takes ~20/s; 40/s are asked
    proc, root = start_mock("openai", "--ttft-ms", "200")
    try:
        run = run_load(tmp_path, "--base-url", root, "--api-key", "k", "--scenario", "chat-stream", "--rate", "40",
                       "--arrival", "constant", "--max-concurrency", "4", "-t", "6s", "--max-tokens", "2")
    finally:
        stop(proc)
    assert run.code == 0, run.output
    s = run.summary
    a = s["arrivals"]
    assert abs(s["offered_rps"] - 40) / 40 < 0.05, a
    assert s["achieved_rps"] < 0.6 * s["offered_rps"], a
    assert a["queue"]["in_flight_max"] == 4
    assert a["queue"]["waiting_max"] > 40 and a["unsent"] > 40 and a["late"] > 0, a
    assert a["delay_ms"]["max"] > 1000  # the last ones sent waited seconds
    waiting = [p["waiting"] for p in a["queue"]["series"]]
    assert waiting[-1] > waiting[0]  # the queue grows
    assert (tmp_path / "arrivals.png").stat().st_size > 0
    json.dumps(s)  # plain JSON
