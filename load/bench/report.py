"""From raw runs to what the issue asks: medians over the quiet runs, overhead against direct, the
targets with pass/fail, a Markdown table and the machine the numbers came from."""

from __future__ import annotations

import math
import os
import platform
import shutil
import subprocess
from importlib import metadata
from typing import Any

from .stats import median

ORDER = ("direct", "relay", "gateway", "gateway-redis", "litellm", "portkey")
REDIS_OVERHEAD = 0.15  # issue 11: Redis on the hot path costs under 15%

# issue 6's targets (same run, one worker each)
RELAY_SHARE = 0.70
PORTKEY_FACTOR = 2.5
LITELLM_FACTOR = 20.0
ADDED_P50_MS = 0.5
TTFT_ADDED_P99_MS = 1.0
ITL_CHANGE_MS = 0.2
SOAK_GROWTH_MB = 4.0  # memory is flat when it grows by at most max(4 MB, 5%) after warm-up
SOAK_GROWTH_SHARE = 0.05


def aggregate(runs: list[dict[str, Any]]) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """The median of each number over the quiet runs; when no run was quiet (the machine is shared),
    the quietest run alone. Noise from other processes only ever makes a run slower, so mixing noisy
    runs into a median would just blur the comparison. Returns (numbers, the runs they come from)."""
    if not runs:
        raise ValueError("no runs to aggregate (at least one round is needed)")
    quiet = [r for r in runs if r.get("quiet", True)]
    used = quiet or [min(runs, key=lambda r: r["cpu"]["others_cores"])]
    keys = ("rps", "p50_ms", "p90_ms", "p99_ms", "max_ms", "errors", "requests")
    out: dict[str, Any] = {k: median([r[k] for r in used]) for k in keys}
    out |= {"runs_used": len(used), "runs_total": len(runs), "quiet": bool(quiet)}
    return out, used


def median_run(runs: list[dict[str, Any]]) -> dict[str, Any]:
    """Of several stream runs, the one with the median TTFT p99 (the upper median of an even count);
    a failed run counts only when every run failed."""
    done = [r for r in runs if r.get("samples")]
    if not done:
        return runs[-1]
    ordered = sorted(done, key=lambda r: r["ttft_ms"]["p99"])
    return ordered[len(ordered) // 2]


def mean_cpu(runs: list[dict[str, Any]]) -> dict[str, Any]:
    n = len(runs)
    cores = len(runs[0]["cpu"]["core_busy"])
    return {"core_busy": [round(sum(r["cpu"]["core_busy"][i] for r in runs) / n, 3) for i in range(cores)],
            "target_cpu": round(sum(r["cpu"]["target_cpu"] for r in runs) / n, 3),
            "others_cores": round(max(r["cpu"]["others_cores"] for r in runs), 3)}


def derive(results: dict[str, dict[str, Any]]) -> dict[str, dict[str, float]]:
    """Per configuration: overhead over direct (latency at 1 connection, streaming), share of the relay."""
    direct = results.get("direct", {})
    relay = results.get("relay", {})
    out: dict[str, dict[str, float]] = {}
    for name, r in results.items():
        if "c1" not in r:
            continue
        d: dict[str, float] = {}
        if "c1" in direct:
            d["added_p50_ms"] = r["c1"]["p50_ms"] - direct["c1"]["p50_ms"]
            d["added_p99_ms"] = r["c1"]["p99_ms"] - direct["c1"]["p99_ms"]
        if "c50" in relay and relay["c50"]["rps"]:
            d["share_of_relay"] = r["c50"]["rps"] / relay["c50"]["rps"]
        s, ds = r.get("streams") or {}, direct.get("streams") or {}
        if s.get("samples") and ds.get("samples"):
            d["ttft_added_p50_ms"] = s["ttft_ms"]["p50"] - ds["ttft_ms"]["p50"]
            d["ttft_added_p99_ms"] = s["ttft_ms"]["p99"] - ds["ttft_ms"]["p99"]
            if "first_token_late_ms" in s and "first_token_late_ms" in ds:
                d["first_token_added_p50_ms"] = s["first_token_late_ms"]["p50"] - ds["first_token_late_ms"]["p50"]
                d["first_token_added_p99_ms"] = s["first_token_late_ms"]["p99"] - ds["first_token_late_ms"]["p99"]
            d["itl_change_p50_ms"] = s["itl_ms"]["p50"] - ds["itl_ms"]["p50"]
            d["itl_change_p99_ms"] = s["itl_ms"]["p99"] - ds["itl_ms"]["p99"]
        out[name] = d
    return out


def check(name: str, limit: str, value: float | None, passed: bool | None) -> dict[str, Any]:
    if value is not None and not math.isfinite(value):
        value, passed = None, None
    return {"name": name, "limit": limit, "value": value, "passed": passed}


def targets(results: dict[str, dict[str, Any]], derived: dict[str, dict[str, float]],
            soak: dict[str, Any]) -> list[dict[str, Any]]:
    """The issue's targets for the gateway; `passed` is None when this run could not tell."""
    g, gd = results.get("gateway", {}), derived.get("gateway", {})
    rps = lambda n: results.get(n, {}).get("c50", {}).get("rps")  # noqa: E731
    c50 = g.get("c50", {})
    # measured and served nothing (no request, or every one an error): behind every peer, skipped or not
    served_nothing = "rps" in c50 and (not c50["rps"] or c50.get("errors", 0) >= c50.get("requests", math.inf))
    out = []
    share = gd.get("share_of_relay")
    out.append(check("gateway req/s at 50 connections vs the minimal relay", f">= {RELAY_SHARE:.0%}",
                     share, None if share is None else share >= RELAY_SHARE))
    for peer, factor in (("portkey", PORTKEY_FACTOR), ("litellm", LITELLM_FACTOR)):
        if served_nothing:
            ratio, ok = (0.0 if rps(peer) else None), False
        else:
            ratio = rps("gateway") / rps(peer) if rps("gateway") and rps(peer) else None
            ok = None if ratio is None else ratio >= factor
        out.append(check(f"gateway req/s at 50 connections vs {peer}", f">= {factor:g}x", ratio, ok))
    if rps("gateway") and rps("gateway-redis"):  # issue 11: what shared limits and spend cost at c50
        cost = 1 - rps("gateway-redis") / rps("gateway")
        out.append(check("gateway req/s lost to Redis (shared rpm and spend) at 50 connections",
                         f"< {REDIS_OVERHEAD:.0%}", cost, cost < REDIS_OVERHEAD))
    added = gd.get("added_p50_ms")
    out.append(check("gateway added p50 latency, sequential (ms)", f"< {ADDED_P50_MS}", added,
                     None if added is None else added < ADDED_P50_MS))
    for peer in ("portkey", "litellm"):
        theirs = derived.get(peer, {}).get("added_p50_ms")
        ok = None if added is None or theirs is None else added < theirs
        out.append(check(f"gateway added p50 below {peer}'s ({'n/a' if theirs is None else f'{theirs:.3f}'} ms)",
                         "lower", added if theirs is not None else None, ok))
    ttft = gd.get("ttft_added_p99_ms")
    out.append(check("gateway added TTFT p99 at 100 streams (ms)", f"< {TTFT_ADDED_P99_MS:g}", ttft,
                     None if ttft is None else ttft < TTFT_ADDED_P99_MS))
    fwd = gd.get("first_token_added_p99_ms")  # the same, without the mock's pacing jitter (see mockproc)
    out.append(check("gateway first-token delay added at p99, stamped at the mock's socket (ms)",
                     f"< {TTFT_ADDED_P99_MS:g}", fwd, None if fwd is None else fwd < TTFT_ADDED_P99_MS))
    itl = gd.get("itl_change_p50_ms")
    out.append(check("gateway ITL p50 change at 100 streams (ms)", f"within {ITL_CHANGE_MS}", itl,
                     None if itl is None else abs(itl) <= ITL_CHANGE_MS))
    s = soak.get("gateway")
    if s and "error" in s:  # the soak ran and measured nothing: that is no evidence of flat memory
        out.append(check(f"gateway RSS growth over a {s['seconds']:g} s soak after warm-up (MB): "
                         f"not measured: {s['error']}",
                         f"<= max({SOAK_GROWTH_MB:g}, {SOAK_GROWTH_SHARE:.0%})", None, False))
    elif s:
        out.append(check(f"gateway RSS growth over a {s['seconds']:g} s soak after warm-up (MB)",
                         f"<= {s['limit_mb']:.1f}", s["growth_mb"], s["growth_mb"] <= s["limit_mb"]))
    else:
        out.append(check("gateway memory flat over 5 minutes", "run with --soak 300", None, None))
    if g.get("c50", {}).get("errors"):
        out.append(check("gateway errors at 50 connections", "0", g["c50"]["errors"], False))
    return out


def noisy(results: dict[str, dict[str, Any]]) -> list[str]:
    """Configurations whose numbers come from runs disturbed by other processes (no quiet run)."""
    out = []
    for name, r in results.items():
        runs = [r[k] for k in ("c1", "c50") if k in r]
        stream = r.get("streams") or {}
        if any(not x.get("quiet", True) for x in runs) or (stream.get("samples") and not stream.get("quiet", True)):
            out.append(name)
    return out


def load_side(results: dict[str, dict[str, Any]]) -> dict[str, Any]:
    """Is the load generator (with the mock, on the load core) the bottleneck? Direct must be faster
    than every configuration that goes through a target."""
    direct = results.get("direct", {}).get("c50", {}).get("rps")
    others = {n: r["c50"]["rps"] for n, r in results.items() if n != "direct" and "c50" in r}
    fastest = max(others.values(), default=None)
    return {"direct_rps_c50": direct, "fastest_target_rps_c50": fastest,
            "headroom": direct / fastest if direct and fastest else None,
            "load_core_busy_c50": {n: r.get("cpu_c50", {}).get("core_busy") for n, r in results.items()}}


def soak_summary(points: list[tuple[float, float]], seconds: float, warmup_s: float) -> dict[str, Any]:
    """RSS after warm-up vs at the end (medians of 5 s windows) and the slope after warm-up."""
    if not points:
        return {"seconds": seconds, "error": "no samples"}
    t0 = points[0][0]
    rel = [(t - t0, mb) for t, mb in points]
    warm = [mb for t, mb in rel if warmup_s <= t < warmup_s + 5] or [rel[0][1]]
    end_t = rel[-1][0]
    last = [mb for t, mb in rel if t > end_t - 5]
    after = [(t, mb) for t, mb in rel if t >= warmup_s]
    slope = _slope(after) * 60 if len(after) > 2 else 0.0
    rss_warm, rss_end = median(warm), median(last)
    limit = max(SOAK_GROWTH_MB, SOAK_GROWTH_SHARE * rss_warm)
    step = max(1, len(rel) // 60)  # keep ~60 points in the JSON
    return {"seconds": seconds, "warmup_s": warmup_s, "rss_start_mb": round(rel[0][1], 2),
            "rss_after_warmup_mb": round(rss_warm, 2), "rss_end_mb": round(rss_end, 2),
            "rss_peak_mb": round(max(mb for _, mb in rel), 2),
            "growth_mb": round(rss_end - rss_warm, 2), "slope_mb_per_min": round(slope, 3),
            "limit_mb": round(limit, 2), "flat": rss_end - rss_warm <= limit,
            "series": [(round(t, 1), round(mb, 2)) for t, mb in rel[::step]]}


def _slope(points: list[tuple[float, float]]) -> float:
    n = len(points)
    mx = sum(t for t, _ in points) / n
    my = sum(v for _, v in points) / n
    var = sum((t - mx) ** 2 for t, _ in points)
    return sum((t - mx) * (v - my) for t, v in points) / var if var else 0.0


def machine() -> dict[str, Any]:
    model = ""
    try:
        with open("/proc/cpuinfo") as fh:
            model = next((ln.split(":", 1)[1].strip() for ln in fh if ln.startswith("model name")), "")
    except OSError:
        pass
    import psutil

    def version(pkg: str) -> str:
        try:
            return metadata.version(pkg)
        except metadata.PackageNotFoundError:
            return "-"

    tools = {"wrk": _first_line(["wrk", "-v"]), "node": _first_line(["node", "--version"]),
             "py-spy": _first_line(["py-spy", "--version"])}
    return {"cpu": model, "cores": os.cpu_count(), "memory_gb": round(psutil.virtual_memory().total / 2**30, 1),
            "kernel": platform.release(), "python": platform.python_version(),
            "libraries": {p: version(p) for p in ("uvicorn", "starlette", "aiohttp", "uvloop", "httptools",
                                                  "orjson", "sqlalchemy", "aiosqlite")},
            "tools": tools}


def _first_line(cmd: list[str]) -> str:
    if not shutil.which(cmd[0]):
        return "-"
    try:
        out = subprocess.run(cmd, capture_output=True, text=True, timeout=10)
    except (OSError, subprocess.TimeoutExpired):
        return "?"
    text = (out.stdout or out.stderr).strip()
    return text.splitlines()[0] if text else "?"


# -- text -------------------------------------------------------------------------------------------
def _cell(text: str) -> str:
    """Free text in a Markdown table cell: a `|` would end the cell, a newline the row."""
    return " ".join(str(text).replace("|", "\\|").split())


def _f(v: float | None, fmt: str = ".2f", signed: bool = False) -> str:
    if v is None or (isinstance(v, float) and not math.isfinite(v)):
        return "-"
    return format(v, ("+" if signed else "") + fmt)


def table(results: dict[str, dict[str, Any]], derived: dict[str, dict[str, float]]) -> str:
    head = ("| configuration | req/s c1 | p50 c1 ms | p99 c1 ms | added p50 | added p99 | req/s c50 | p50 c50 ms "
            "| p99 c50 ms | vs relay | TTFT p50 / p99 ms | added TTFT p99 | ITL p50 ms (change) | peak RSS MB "
            "| target CPU c50 | load core c50 | others c50 |")
    columns = head.count("|") - 1
    lines = [head, "|" + "---|" * columns]
    for name in ORDER:
        r = results.get(name)
        if r is None:
            continue
        label = _cell(r["label"] + (f" {r['version']}" if r.get("version") else ""))
        if r.get("skipped"):
            lines.append(f"| {label} | skipped: {_cell(r['skipped'])} |" + " |" * (columns - 2))
            continue
        d = derived.get(name, {})
        c1, c50, s = r["c1"], r["c50"], r.get("streams") or {}
        streams = (f"{_f(s['ttft_ms']['p50'], '.1f')} / {_f(s['ttft_ms']['p99'], '.1f')}"
                   + ("" if s.get("quiet", True) else " (noisy)") if s.get("samples")
                   else ("failed" if s else "-"))
        itl = (f"{_f(s['itl_ms']['p50'])} ({_f(d.get('itl_change_p50_ms'), '.2f', True)})" if s.get("samples")
               else "-")
        cpu = r.get("cpu_c50", {})
        busy = cpu.get("core_busy") or []
        load_core = r.get("load_core")
        load_busy = busy[load_core] if load_core is not None and load_core < len(busy) else None
        err = f" ({int(c50['errors'])} errors)" if c50.get("errors") else ""
        noisy = " (noisy)" if not (c1.get("quiet", True) and c50.get("quiet", True)) else ""
        lines.append(
            f"| {label}{noisy} | {c1['rps']:,.0f} | {_f(c1['p50_ms'], '.3f')} | {_f(c1['p99_ms'], '.3f')} "
            f"| {_f(d.get('added_p50_ms'), '.3f', True) if name != 'direct' else '-'} "
            f"| {_f(d.get('added_p99_ms'), '.3f', True) if name != 'direct' else '-'} "
            f"| {c50['rps']:,.0f}{err} | {_f(c50['p50_ms'])} | {_f(c50['p99_ms'])} "
            f"| {_f(d['share_of_relay'] * 100, '.0f') + '%' if 'share_of_relay' in d else '-'} "
            f"| {streams} | {_f(d.get('ttft_added_p99_ms'), '.2f', True) if name != 'direct' else '-'} | {itl} "
            f"| {r.get('rss_peak_mb', 0):.0f} | {_f(cpu.get('target_cpu', math.nan) * 100, '.0f')}% "
            f"| {_f(load_busy * 100 if load_busy is not None else None, '.0f')}% "
            f"| {_f(cpu.get('others_cores'))} |")
    return "\n".join(lines)


def targets_text(checks: list[dict[str, Any]]) -> str:
    lines = ["| target | limit | this run | |", "|---|---|---|---|"]
    for c in checks:
        mark = {True: "pass", False: "FAIL", None: "n/a"}[c["passed"]]
        v = c["value"]
        lines.append(f"| {_cell(c['name'])} | {_cell(c['limit'])} | {'-' if v is None else f'{v:.3f}'} | {mark} |")
    return "\n".join(lines)


def hot_spots_text(spots: dict[str, Any], top: int = 15) -> str:
    if not spots.get("samples"):
        return "(no profile)"
    lines = [f"{spots['samples']} samples. Self time (where the CPU was):"]
    lines += [f"  {share:6.1%}  {frame}" for share, frame in spots["self"][:top]]
    lines.append("Inclusive time (what a call cost, with its callees):")
    lines += [f"  {share:6.1%}  {frame}" for share, frame in spots["inclusive"][:top]]
    lines.append("Inclusive time of the gateway's own functions:")
    lines += [f"  {share:6.1%}  {frame}" for share, frame in spots.get("project", [])[:top]]
    lines.append("Self time by file:")
    lines += [f"  {share:6.1%}  {frame}" for share, frame in spots["files"][:10]]
    return "\n".join(lines)
