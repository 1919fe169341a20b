"""The issue-6 benchmark's arithmetic (load/bench): percentiles, the aggregation of runs, the targets
at their boundaries, the noise marks, the soak's flatness, the table and the profile's hot spots.
No process is started: the inputs are the dicts the harness builds (its `main` runs once, phases faked)."""

from __future__ import annotations

import json
import math
from pathlib import Path
from types import SimpleNamespace

import pytest

from load.bench import __main__ as bench
from load.bench import configs, report, wrk
from load.bench.profile import hot_spots
from load.bench.stats import median, pct, summary

# -- stats --------------------------------------------------------------------------------------------


def test_pct_interpolates_between_closest_ranks() -> None:
    assert pct([1, 2, 3, 4], 50) == 2.5
    assert pct([10, 20], 90) == pytest.approx(19.0)
    assert pct(list(range(1, 101)), 99) == pytest.approx(99.01)
    assert pct([4, 1, 3, 2], 50) == 2.5  # order of the samples does not matter
    assert pct([7, 3, 9], 0) == 3 and pct([7, 3, 9], 100) == 9


def test_pct_edges() -> None:
    assert math.isnan(pct([], 50))
    assert all(pct([5.0], p) == 5.0 for p in (0, 50, 99, 100))


def test_summary_and_median() -> None:
    s = summary(list(range(100, 0, -1)))
    assert s == {"p50": 50.5, "p90": pytest.approx(90.1), "p99": pytest.approx(99.01), "max": 100, "count": 100}
    empty = summary([])
    assert empty["count"] == 0 and all(math.isnan(empty[k]) for k in ("p50", "p90", "p99", "max"))
    assert summary([2.5]) == {"p50": 2.5, "p90": 2.5, "p99": 2.5, "max": 2.5, "count": 1}
    assert median([3, 1, 2]) == 2 and median([1, 2, 3, 10]) == 2.5


# -- aggregate ----------------------------------------------------------------------------------------


def wrk_run(rps: float, *, p50: float = 1.0, others: float = 0.0, quiet: bool | None = True,
            errors: int = 0) -> dict:
    run = {"rps": rps, "p50_ms": p50, "p90_ms": 2 * p50, "p99_ms": 3 * p50, "max_ms": 4 * p50,
           "errors": errors, "requests": int(rps * 6), "cpu": {"others_cores": others}}
    if quiet is not None:
        run["quiet"] = quiet
    return run


def test_aggregate_uses_only_the_quiet_runs() -> None:
    runs = [wrk_run(1000, p50=1.0), wrk_run(100, p50=9.0, others=0.9, quiet=False), wrk_run(3000, p50=2.0)]
    out, used = report.aggregate(runs)
    assert used == [runs[0], runs[2]]
    assert out["rps"] == 2000 and out["p50_ms"] == 1.5 and out["p99_ms"] == 4.5
    assert (out["runs_used"], out["runs_total"], out["quiet"]) == (2, 3, True)


def test_aggregate_takes_the_quietest_run_alone_when_none_is_quiet() -> None:
    runs = [wrk_run(500, others=0.9, quiet=False), wrk_run(800, others=0.3, quiet=False),
            wrk_run(900, others=0.6, quiet=False)]
    out, used = report.aggregate(runs)
    assert used == [runs[1]]
    assert out["rps"] == 800 and (out["runs_used"], out["runs_total"], out["quiet"]) == (1, 3, False)


def test_aggregate_counts_unmarked_runs_as_quiet() -> None:
    out, used = report.aggregate([wrk_run(10, quiet=None), wrk_run(20, quiet=None), wrk_run(60, quiet=None)])
    assert out["rps"] == 20 and len(used) == 3 and out["quiet"] is True


# -- derive -------------------------------------------------------------------------------------------


def stream_result(ttft_p50: float, ttft_p99: float, itl_p50: float, itl_p99: float, *, samples: int = 500,
                  quiet: bool = True) -> dict:
    return {"samples": samples, "quiet": quiet, "ttft_ms": {"p50": ttft_p50, "p99": ttft_p99},
            "itl_ms": {"p50": itl_p50, "p99": itl_p99}}


def config(label: str, c1: dict, c50: dict, streams: dict | None = None, **extra) -> dict:
    r = {"label": label, "c1": c1, "c50": c50, "load_core": 1, "rss_peak_mb": 80.0,
         "cpu_c50": {"core_busy": [0.97, 0.7], "target_cpu": 0.95, "others_cores": 0.05}} | extra
    if streams is not None:
        r["streams"] = streams
    return r


def results() -> dict:
    return {
        "direct": config("direct to the mock", wrk_run(2000, p50=0.5), wrk_run(6000, p50=7.0),
                         stream_result(150.0, 152.0, 20.0, 20.5)),
        "relay": config("minimal relay", wrk_run(1500, p50=0.75), wrk_run(5000, p50=9.0),
                        stream_result(150.25, 152.5, 20.0, 20.75)),
        "gateway": config("reference gateway", wrk_run(1000, p50=1.0), wrk_run(4000, p50=12.0),
                          stream_result(150.5, 152.75, 20.125, 21.0)),
        "litellm": {"label": "LiteLLM proxy", "skipped": "not installed"},
    }


def test_derive_overhead_against_direct_and_share_of_relay() -> None:
    d = report.derive(results())
    assert set(d) == {"direct", "relay", "gateway"}  # a skipped configuration has no numbers
    g = d["gateway"]
    assert g["added_p50_ms"] == 0.5 and g["added_p99_ms"] == 1.5  # p99 = 3 x p50 in wrk_run
    assert g["share_of_relay"] == 0.8
    assert g["ttft_added_p50_ms"] == 0.5 and g["ttft_added_p99_ms"] == 0.75
    assert g["itl_change_p50_ms"] == 0.125 and g["itl_change_p99_ms"] == 0.5
    assert d["relay"]["share_of_relay"] == 1.0
    assert d["direct"]["added_p50_ms"] == 0.0


def test_derive_leaves_out_what_was_not_measured() -> None:
    r = results()
    del r["relay"]
    r["gateway"]["streams"] = {"error": "HTTP 500", "samples": 0}
    g = report.derive(r)["gateway"]
    assert "share_of_relay" not in g and "ttft_added_p99_ms" not in g and "itl_change_p50_ms" not in g
    assert g["added_p50_ms"] == 0.5
    r = results()
    r["relay"]["c50"]["rps"] = 0  # a relay that answered nothing gives no share, not a division by zero
    assert "share_of_relay" not in report.derive(r)["gateway"]


# -- targets ------------------------------------------------------------------------------------------


def find(checks: list[dict], start: str) -> dict:
    [c] = [c for c in checks if c["name"].startswith(start)]
    return c


def targets_for(derived: dict, /, **rps_c50: float) -> list[dict]:
    """The checks for a gateway with these derived numbers and these req/s at c50 (by configuration)."""
    res = {name: {"c50": {"rps": rps}} for name, rps in rps_c50.items()}
    return report.targets(res, {"gateway": derived}, {})


@pytest.mark.parametrize(("gateway", "check", "passed"), [
    ({"share_of_relay": 0.70}, "gateway req/s at 50 connections vs the minimal relay", True),
    ({"share_of_relay": 0.6999}, "gateway req/s at 50 connections vs the minimal relay", False),
    ({"added_p50_ms": 0.4999}, "gateway added p50 latency", True),
    ({"added_p50_ms": 0.5}, "gateway added p50 latency", False),
    ({"ttft_added_p99_ms": 0.999}, "gateway added TTFT p99", True),
    ({"ttft_added_p99_ms": 1.0}, "gateway added TTFT p99", False),
    ({"itl_change_p50_ms": 0.2}, "gateway ITL p50 change", True),
    ({"itl_change_p50_ms": -0.2}, "gateway ITL p50 change", True),
    ({"itl_change_p50_ms": 0.2001}, "gateway ITL p50 change", False),
    ({"itl_change_p50_ms": -0.2001}, "gateway ITL p50 change", False),
])
def test_derived_targets_at_their_boundary(gateway: dict, check: str, passed: bool) -> None:
    c = find(targets_for(gateway), check)
    assert c["passed"] is passed and c["value"] == next(iter(gateway.values()))


@pytest.mark.parametrize(("peer", "gateway_rps", "passed"), [
    ("portkey", 2500, True), ("portkey", 2499, False), ("litellm", 20000, True), ("litellm", 19999, False),
])
def test_peer_factors_at_their_boundary(peer: str, gateway_rps: float, passed: bool) -> None:
    c = find(targets_for({}, gateway=gateway_rps, **{peer: 1000}), f"gateway req/s at 50 connections vs {peer}")
    assert c["passed"] is passed and c["value"] == gateway_rps / 1000


def test_added_latency_below_each_peer() -> None:
    checks = report.targets({}, {"gateway": {"added_p50_ms": 0.3}, "litellm": {"added_p50_ms": 0.31},
                                 "portkey": {"added_p50_ms": 0.3}}, {})
    assert find(checks, "gateway added p50 below litellm's (0.310 ms)")["passed"] is True
    assert find(checks, "gateway added p50 below portkey's")["passed"] is False  # equal is not below


def test_missing_peers_and_numbers_are_not_measured_never_passed() -> None:
    r = results()
    r["portkey"] = {"label": "Portkey gateway", "skipped": "did not start"}
    checks = report.targets(r, report.derive(r), {})
    for name in ("gateway req/s at 50 connections vs portkey", "gateway req/s at 50 connections vs litellm",
                 "gateway added p50 below portkey's (n/a ms)", "gateway added p50 below litellm's (n/a ms)",
                 "gateway memory flat over 5 minutes"):
        assert find(checks, name) | {"name": name} == {"name": name, "limit": find(checks, name)["limit"],
                                                       "value": None, "passed": None}
    # what this run did measure is judged
    assert find(checks, "gateway req/s at 50 connections vs the minimal relay")["passed"] is True
    text = report.targets_text(checks)
    assert "| gateway req/s at 50 connections vs portkey | >= 2.5x | - | n/a |" in text
    assert text.count("| pass |") == sum(c["passed"] is True for c in checks)

    nothing = report.targets({}, {}, {})
    assert nothing and all(c["passed"] is None and c["value"] is None for c in nothing)


def test_a_nan_value_is_not_measured() -> None:
    c = find(targets_for({"ttft_added_p99_ms": math.nan}), "gateway added TTFT p99")
    assert c["value"] is None and c["passed"] is None


def test_gateway_errors_fail() -> None:
    checks = report.targets({"gateway": {"c50": {"rps": 10, "errors": 3}}}, {}, {})
    assert find(checks, "gateway errors at 50 connections") == {
        "name": "gateway errors at 50 connections", "limit": "0", "value": 3, "passed": False}
    assert not [c for c in targets_for({}, gateway=10) if c["name"].startswith("gateway errors")]


# -- soak ---------------------------------------------------------------------------------------------


def rss_series(mb_at, seconds: int = 300, t0: float = 5000.0) -> list[tuple[float, float]]:
    return [(t0 + t, mb_at(t)) for t in range(seconds + 1)]


def test_soak_flat_memory() -> None:
    s = report.soak_summary(rss_series(lambda t: 100.0 if t >= 20 else 60.0 + 2 * t), 300, 60)
    assert (s["rss_start_mb"], s["rss_after_warmup_mb"], s["rss_end_mb"], s["rss_peak_mb"]) == (60, 100, 100, 100)
    assert s["growth_mb"] == 0 and s["slope_mb_per_min"] == 0 and s["flat"] is True
    assert s["limit_mb"] == 5.0  # 5% of 100 MB is above the 4 MB floor
    assert s["series"][0] == (0.0, 60.0) and 55 <= len(s["series"]) <= 61


def test_soak_growing_memory() -> None:
    s = report.soak_summary(rss_series(lambda t: 100.0 + 0.05 * t), 300, 60)
    # warm-up window [60, 65) s: median at 62 s; end window (295, 300]: median at 298 s
    assert s["rss_after_warmup_mb"] == 103.1 and s["rss_end_mb"] == 114.9 and s["growth_mb"] == 11.8
    assert s["slope_mb_per_min"] == 3.0 and s["limit_mb"] == pytest.approx(5.16, abs=0.01)
    assert s["flat"] is False
    check = find(report.targets({}, {}, {"gateway": s}), "gateway RSS growth over a 300 s soak")
    assert check["passed"] is False and check["value"] == 11.8 and check["limit"] == "<= 5.2"


@pytest.mark.parametrize(("growth", "passed"), [(4.0, True), (4.01, False)])
def test_soak_target_at_its_boundary(growth: float, passed: bool) -> None:
    # 50 MB: 5% is 2.5 MB, so the 4 MB floor is the limit
    s = report.soak_summary(rss_series(lambda t: 50.0 if t < 280 else 50.0 + growth), 300, 60)
    assert s["limit_mb"] == 4.0 and s["growth_mb"] == growth and s["flat"] is passed
    assert find(report.targets({}, {}, {"gateway": s}), "gateway RSS growth")["passed"] is passed


def test_soak_edges() -> None:
    assert report.soak_summary([], 300, 60) == {"seconds": 300, "error": "no samples"}
    short = report.soak_summary([(10.0, 70.0), (11.0, 72.0), (12.0, 74.0)], 3, 60)  # over before warm-up ends
    assert short["rss_after_warmup_mb"] == 70.0 and short["slope_mb_per_min"] == 0.0
    assert short["rss_end_mb"] == 72.0 and short["growth_mb"] == 2.0  # the last 5 s: all three samples


def test_slope() -> None:
    assert report._slope([(0, 1), (1, 3), (2, 5)]) == 2.0
    assert report._slope([(0, 5), (10, 5)]) == 0.0
    assert report._slope([(3, 1), (3, 9)]) == 0.0  # no spread in time: no slope, not a division by zero
    assert report._slope([(0, 0), (1, 2), (2, 1), (3, 3)]) == pytest.approx(0.8)


# -- noise and the table ------------------------------------------------------------------------------


def test_noisy_lists_configurations_without_a_quiet_run() -> None:
    r = results()
    assert report.noisy(r) == []
    r["relay"]["c50"]["quiet"] = False
    r["gateway"]["streams"]["quiet"] = False
    r["direct"]["streams"] = {"error": "boom", "samples": 0, "quiet": False}  # a failed stream run is not noise
    assert report.noisy(r) == ["relay", "gateway"]


def test_table_renders_every_configuration_in_order() -> None:
    r = results()
    r["gateway"]["c50"]["quiet"] = False
    r["gateway"]["c50"]["errors"] = 2
    r["relay"]["streams"]["quiet"] = False
    r["portkey"] = config("Portkey gateway", wrk_run(900, p50=1.2), wrk_run(1000, p50=40.0),
                          {"error": "HTTP 500", "samples": 0}, version="1.15.2")
    lines = report.table(r, report.derive(r)).splitlines()
    head, rows = lines[0], lines[2:]
    assert [row.split(" | ")[0] for row in rows] == [
        "| direct to the mock", "| minimal relay", "| reference gateway (noisy)", "| LiteLLM proxy",
        "| Portkey gateway 1.15.2"]
    assert all(row.count("|") == head.count("|") for row in lines[1:])
    direct, relay, gateway, litellm, portkey = rows
    assert "(noisy)" not in direct + litellm + portkey
    assert "| 150.2 / 152.5 (noisy) |" in relay  # a noisy stream run is marked in its cell
    assert "| +0.500 | +1.500 | 4,000 (2 errors) |" in gateway and "| 80% |" in gateway
    assert "| 20.12 (+0.12) |" in gateway and "| 95% | 70% | 0.05 |" in gateway
    assert direct.startswith("| direct to the mock | 2,000 | 0.500 | 1.500 | - | - | 6,000 |")
    assert "| skipped: not installed |" in litellm
    assert "| failed |" in portkey
    assert len(report.table({}, {}).splitlines()) == 2  # nothing measured: the header alone


# -- profile ------------------------------------------------------------------------------------------

COLLAPSED = """\
<module> (topapi/cli.py);run (asyncio/runners.py);dispatch (gateway/app.py);auth (gateway/keys.py) 30
<module> (topapi/cli.py);run (asyncio/runners.py);dispatch (gateway/app.py);loads (json/decoder.py) 40
<module> (topapi/cli.py);run (asyncio/runners.py);dispatch (gateway/app.py);dispatch (gateway/app.py);\
dumps (/usr/lib/python3/site-packages/orjson/__init__.py) 10
<module> (topapi/cli.py);run (asyncio/runners.py);select (selectors.py) 20
a line py-spy did not write
 7
"""


def test_hot_spots_self_inclusive_project_and_files() -> None:
    spots = hot_spots(COLLAPSED)
    assert spots["samples"] == 100
    assert spots["self"] == [(0.4, "loads (json/decoder.py)"), (0.3, "auth (gateway/keys.py)"),
                             (0.2, "select (selectors.py)"),
                             (0.1, "dumps (/usr/lib/python3/site-packages/orjson/__init__.py)")]
    # the trunk every sample passes through is left out; a recursive frame counts once per sample
    assert spots["inclusive"][:2] == [(0.8, "dispatch (gateway/app.py)"), (0.4, "loads (json/decoder.py)")]
    assert not [f for _, f in spots["inclusive"] if "topapi/cli.py" in f or "asyncio/runners.py" in f]
    assert spots["project"] == [(0.8, "dispatch (gateway/app.py)"), (0.3, "auth (gateway/keys.py)")]
    assert spots["files"] == [(0.4, "json/decoder.py"), (0.3, "gateway/keys.py"), (0.2, "selectors.py"),
                              (0.1, "orjson/__init__.py")]
    assert [f for _, f in hot_spots(COLLAPSED, top=1)["self"]] == ["loads (json/decoder.py)"]
    text = report.hot_spots_text(spots)
    assert text.startswith("100 samples.") and "  80.0%  dispatch (gateway/app.py)" in text


def test_hot_spots_of_nothing() -> None:
    assert hot_spots("") == {"samples": 0, "self": [], "inclusive": [], "project": [], "files": []}
    assert report.hot_spots_text(hot_spots("no counts here\n")) == "(no profile)"


# -- edge cases ---------------------------------------------------------------------------------------


def test_aggregate_of_no_runs_is_a_clear_error() -> None:
    with pytest.raises(ValueError, match="no runs"):
        report.aggregate([])


@pytest.mark.parametrize("rounds", ["0", "-1"])
def test_rounds_below_one_are_refused(rounds: str, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exc:
        bench.parse_args(["--rounds", rounds])
    assert exc.value.code == 2 and "--rounds must be at least 1" in capsys.readouterr().err
    assert bench.parse_args(["--rounds", "1"]).rounds == 1


@pytest.mark.parametrize("gateway", [{"rps": 0, "errors": 0, "requests": 0},
                                     {"rps": 900, "errors": 5400, "requests": 5400}])
def test_a_gateway_that_served_nothing_fails_the_peer_comparisons(gateway: dict) -> None:
    res = {"gateway": {"c50": gateway}, "portkey": {"c50": {"rps": 1000}}, "litellm": {"c50": {"rps": 50}}}
    checks = report.targets(res, {}, {})
    for peer in ("portkey", "litellm"):
        c = find(checks, f"gateway req/s at 50 connections vs {peer}")
        assert c["passed"] is False and c["value"] == 0.0
    # a peer that was not measured: the gateway serving nothing is still not ahead of it
    c = find(report.targets({"gateway": {"c50": gateway}}, {}, {}), "gateway req/s at 50 connections vs portkey")
    assert c["passed"] is False and c["value"] is None
    assert "| - | FAIL |" in report.targets_text([c])


def test_soak_without_samples_fails_with_the_reason() -> None:
    s = report.soak_summary([], 300, 60) | {"rps": 3000.0, "errors": 0}
    c = find(report.targets({}, {}, {"gateway": s}), "gateway RSS growth over a 300 s soak")
    assert c["passed"] is False and c["value"] is None and "not measured: no samples" in c["name"]
    assert "| - | FAIL |" in report.targets_text([c])


def test_a_soak_without_samples_still_finishes_and_writes_the_json(tmp_path: Path,
                                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    """The harness end to end with its phases faked (no process is started): the sampler never saw
    the gateway, so the soak has no RSS samples."""
    gateway = configs.Target("gateway", "reference gateway", "http://127.0.0.1:9", {},
                             proc=SimpleNamespace(pid=2**22 + 7, stop=lambda: None))

    def start(self) -> None:
        self.targets = [gateway]
        self.results["gateway"] = config("reference gateway", wrk_run(1000), wrk_run(4000))

    def fake_wrk(self, target, connections, seconds):
        res = wrk.WrkResult(connections, seconds, 4000, 4000.0, 0, 1.0, 2.0, 3.0, 4.0, 1.2)
        return res, {"core_busy": [0.9, 0.5], "target_cpu": 0.9, "others_by_core": [0, 0], "others_cores": 0.0}

    for phase in ("plain", "profile_gateway", "client_check", "streams"):
        monkeypatch.setattr(bench.Bench, phase, lambda self: None)
    monkeypatch.setattr(bench.Bench, "start", start)
    monkeypatch.setattr(bench.Bench, "wrk", fake_wrk)
    monkeypatch.setattr(wrk, "available", lambda: True)
    monkeypatch.setattr(report, "machine", lambda: {})
    out = tmp_path / "bench.json"
    assert bench.main(["--targets", "gateway", "--soak", "1", "--json", str(out), "--no-profile",
                       "--target-cpu", "none", "--load-cpu", "none"]) == 0
    written = json.loads(out.read_text())
    assert written["soak"]["gateway"]["error"] == "no samples"
    c = find(written["targets"], "gateway RSS growth over a 1 s soak")
    assert c["passed"] is False and c["value"] is None


def test_a_pipe_in_a_label_or_skip_reason_is_escaped() -> None:
    r = results()
    r["gateway"]["label"] = "gateway | sqlite"
    r["litellm"]["skipped"] = "did not start: a | b\nsecond line"
    lines = report.table(r, report.derive(r)).splitlines()
    assert all(line.count("|") - line.count("\\|") == lines[0].count("|") for line in lines)
    assert "| gateway \\| sqlite |" in lines[4] and "| skipped: did not start: a \\| b second line |" in lines[5]
    text = report.targets_text([report.check("a | b", "<= 1", 0.5, True)])
    assert text.splitlines()[-1] == "| a \\| b | <= 1 | 0.500 | pass |"


def test_median_run_of_the_stream_rounds() -> None:
    def run(p99: float, samples: int = 10) -> dict:
        return {"samples": samples, "ttft_ms": {"p99": p99}}

    runs = [run(160.0), run(152.0), run(155.0)]
    assert report.median_run(runs) is runs[2]
    assert report.median_run([run(150.0), run(170.0)])["ttft_ms"]["p99"] == 170.0  # upper median
    failed = {"samples": 0, "error": "refused"}
    assert report.median_run([failed, run(151.0)])["ttft_ms"]["p99"] == 151.0  # failures do not count
    assert report.median_run([failed]) is failed


def test_derive_first_token_delay_from_the_stamped_streams() -> None:
    def conf(p50: float, p99: float, late: dict | None) -> dict:
        s = {"samples": 10, "ttft_ms": {"p50": p50, "p99": p99}, "itl_ms": {"p50": 20.0, "p99": 20.1}}
        return {"c1": {"p50_ms": 0.1, "p99_ms": 1.0}, "streams": s | ({"first_token_late_ms": late} if late else {})}

    results = {"direct": conf(151.0, 155.0, {"p50": 0.3, "p99": 1.8}),
               "gateway": conf(151.4, 157.0, {"p50": 0.4, "p99": 2.2}),
               "litellm": conf(900.0, 5000.0, None)}  # re-serialises the chunks: no stamps arrive
    d = report.derive(results)
    assert d["gateway"]["first_token_added_p99_ms"] == pytest.approx(0.4)
    assert d["gateway"]["ttft_added_p99_ms"] == pytest.approx(2.0)
    assert "first_token_added_p99_ms" not in d["litellm"]
    rows = {c["name"]: c for c in report.targets(results, d, {})}
    fwd = next(c for name, c in rows.items() if name.startswith("gateway first-token delay"))
    assert fwd["passed"] is True and fwd["value"] == pytest.approx(0.4)
