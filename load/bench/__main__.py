"""`python -m load.bench`: the side-by-side benchmark of issue 6 (see docs/PERFORMANCE.md).

    python -m load.bench                          # everything, ~6 minutes
    python -m load.bench --targets direct,relay,gateway --rounds 1 --seconds 5
    python -m load.bench --targets direct,gateway --soak 300 --no-profile

One mock, every configuration started once and kept up (idle while another is measured),
rounds interleaved so that a noisy neighbour hits them alike, then streams, the profile and
the soak. Prints a table and writes a JSON file.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from . import configs, peers, profile, report, wrk
from .procs import Proc, free_port, http_json, pin_self, pinned
from .sampling import CpuWindow, RssSampler, loadavg

ALL = report.ORDER


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    ap = argparse.ArgumentParser(prog="python -m load.bench", description=__doc__.split("\n\n")[0],
                                 formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    ap.add_argument("--targets", default=",".join(ALL), help="comma-separated, from " + ", ".join(ALL))
    ap.add_argument("--seconds", type=float, default=6, help="length of each wrk run")
    ap.add_argument("--rounds", type=int, default=3, help="c1 + c50 runs per configuration, interleaved")
    ap.add_argument("--warmup", type=float, default=3, help="seconds of c50 load before measuring")
    ap.add_argument("--connections", type=int, default=50)
    ap.add_argument("--streams", type=int, default=100, help="concurrent streams")
    ap.add_argument("--stream-seconds", type=float, default=8)
    ap.add_argument("--stream-rounds", type=int, default=3,
                    help="stream runs per configuration, interleaved; the run with the median TTFT p99 counts")
    ap.add_argument("--ttft-ms", type=float, default=150, help="the mock's TTFT during the stream runs")
    ap.add_argument("--itl-ms", type=float, default=20, help="the mock's ITL during the stream runs")
    ap.add_argument("--soak", type=float, default=0, metavar="SECONDS",
                    help="then load the --soak-targets at c50 this long, sampling RSS (issue: 300)")
    ap.add_argument("--soak-targets", default="gateway")
    ap.add_argument("--soak-warmup", type=float, default=None, help="default: a fifth of --soak, at most 60 s")
    ap.add_argument("--profile", dest="profile", action="store_true", default=True,
                    help="py-spy the gateway during two extra c50 runs")
    ap.add_argument("--no-profile", dest="profile", action="store_false")
    ap.add_argument("--profile-svg", type=Path, default=Path("docs/profile-gateway.svg"))
    ap.add_argument("--max-others", type=float, default=0.25, metavar="CORES",
                    help="a run during which other processes used more CPU than this is run again")
    ap.add_argument("--retries", type=int, default=2, help="how often a noisy run is run again (best kept)")
    ap.add_argument("--retry-budget", type=float, default=150, help="seconds all re-runs together may take")
    ap.add_argument("--quiet-wait", type=float, default=60,
                    help="before measuring, wait up to this long for the machine to be quiet")
    ap.add_argument("--target-cpu", default="0", help="core of the process under test ('none': no pinning)")
    ap.add_argument("--load-cpu", default="1", help="core of wrk, the mock, the stream client, py-spy")
    ap.add_argument("--litellm", help="the litellm executable (default: PATH, then /tmp/litellm-venv)")
    ap.add_argument("--portkey", help="directory with node_modules/@portkey-ai/gateway (default: /tmp/portkey, .)")
    ap.add_argument("--json", type=Path, default=None, help="default: docs/bench-<UTC date>.json")
    ap.add_argument("--redis-url", default="redis://127.0.0.1:6379/0", help="the Redis of gateway-redis")
    ap.add_argument("--keep-logs", action="store_true", help="keep the servers' logs (printed path)")
    args = ap.parse_args(argv)
    args.targets = [t.strip() for t in args.targets.split(",") if t.strip()]
    unknown = set(args.targets) - set(ALL)
    if unknown:
        ap.error(f"unknown targets: {', '.join(sorted(unknown))}")
    for name in ("rounds", "stream_rounds"):  # no run: nothing to take the median of
        if getattr(args, name) < 1:
            ap.error(f"--{name.replace('_', '-')} must be at least 1 (got {getattr(args, name)})")
    args.soak_targets = [t.strip() for t in args.soak_targets.split(",") if t.strip()]
    for name in ("target_cpu", "load_cpu"):
        value = getattr(args, name)
        setattr(args, name, None if value == "none" else int(value))
    return args


class Bench:
    def __init__(self, args: argparse.Namespace) -> None:
        self.args = args
        self.work = Path(tempfile.mkdtemp(prefix="topapi-bench-"))
        self.logs = self.work / "logs"
        self.logs.mkdir()
        self.sampler = RssSampler().start()
        self.mock: configs.Mock | None = None
        self.targets: list[configs.Target] = []
        self.results: dict[str, dict[str, Any]] = {}
        self.scripts: dict[str, Path] = {}
        self.profile: dict[str, Any] = {}
        self.soak: dict[str, Any] = {}
        self.client_accuracy: dict[str, Any] = {}
        self.retry_spent = 0.0

    def say(self, text: str) -> None:
        print(f"[{time.strftime('%H:%M:%S')}] {text}", flush=True)

    # -- set-up ------------------------------------------------------------------------------------------
    def start(self) -> None:
        a = self.args
        self.mock = configs.Mock(cpu=a.load_cpu, log_dir=self.logs)
        self.say(f"mock on {self.mock.url} (core {a.load_cpu})")
        for name in a.targets:
            try:
                target = self.launch(name)
            except (RuntimeError, OSError) as exc:
                if name in ("litellm", "portkey"):
                    self.skip(name, f"did not start: {str(exc).splitlines()[0]}")
                    continue
                raise
            if target is None:
                continue
            status, answer = http_json("POST", target.url, json.loads(chat_body()), target.headers, timeout_s=30)
            if status != 200:
                if target.name != "direct":
                    target.proc.stop()
                self.skip(name, f"a chat completion answered {status}: {str(answer)[:200]}")
                continue
            self.sampler.watch(target.pid)
            self.targets.append(target)
            self.results[name] = {"label": target.label, "version": target.version, "notes": target.notes,
                                  "url": target.base_url, "load_core": a.load_cpu, "c1_runs": [], "c50_runs": []}
            script = self.work / f"{name}.lua"
            script.write_text(wrk.script(chat_body(), target.headers))
            self.scripts[name] = script
            self.say(f"{name}: up on {target.base_url} (pid {target.pid})")

    def launch(self, name: str) -> configs.Target | None:
        a, mock = self.args, self.mock
        if name == "direct":
            return configs.direct(mock)
        if name == "relay":
            return configs.relay(mock, cpu=a.target_cpu, log_dir=self.logs)
        if name == "gateway":
            return configs.gateway(mock, cpu=a.target_cpu, log_dir=self.logs, state_dir=self.work / "gateway-state")
        if name == "gateway-redis":
            if not configs.redis_answers(a.redis_url):
                self.skip(name, f"no Redis answers at {a.redis_url} (--redis-url)")
                return None
            return configs.gateway(mock, cpu=a.target_cpu, log_dir=self.logs,
                                   state_dir=self.work / "gateway-redis-state", redis_url=a.redis_url)
        if name == "litellm":
            exe = peers.find_litellm(a.litellm)
            if exe is None:
                self.skip(name, "not installed (pip install 'litellm[proxy]' in a venv; see docs/PERFORMANCE.md)")
                return None
            return peers.litellm(mock, exe, cpu=a.target_cpu, log_dir=self.logs)
        root = peers.find_portkey(a.portkey)
        if root is None:
            self.skip(name, "not installed (npm install @portkey-ai/gateway; see docs/PERFORMANCE.md)")
            return None
        return peers.portkey(mock, root, cpu=a.target_cpu, log_dir=self.logs)

    def skip(self, name: str, why: str) -> None:
        labels = {"litellm": "LiteLLM proxy", "portkey": "Portkey gateway"}
        self.results[name] = {"label": labels.get(name, name), "skipped": why}
        self.say(f"{name}: skipped, {why}")

    def window(self, target_pid: int | None) -> CpuWindow:
        """CPU accounting for a phase measuring `target_pid` (the mock's pid: direct, load core only)."""
        a = self.args
        servers = [t.pid for t in self.targets if t.name != "direct"]
        if a.target_cpu is None or a.load_cpu is None:
            placement: dict[int | None, list[int]] = {None: [*servers, self.mock.proc.pid]}
        else:
            placement = {a.target_cpu: list(servers)}
            placement.setdefault(a.load_cpu, []).append(self.mock.proc.pid)
        direct = target_pid == self.mock.proc.pid
        relevant = None if a.load_cpu is None else sorted({a.load_cpu} if direct else {a.target_cpu, a.load_cpu})
        return CpuWindow(target_pid, placement, a.load_cpu, relevant)

    # -- phases ------------------------------------------------------------------------------------------
    def wrk(self, target: configs.Target, connections: int, seconds: float) -> tuple[wrk.WrkResult, dict]:
        with self.window(target.pid) as window:
            result = wrk.run(target.url, self.scripts[target.name], connections=connections, seconds=seconds,
                             cpu=self.args.load_cpu)
        return result, window.result()

    def measured(self, target: configs.Target, connections: int, seconds: float) -> list[dict[str, Any]]:
        """A wrk run, run again (up to --retries, within --retry-budget) while other processes took more
        than --max-others cores of the cores it uses. Every attempt is returned, marked quiet or not."""
        runs = []
        for attempt in range(self.args.retries + 1):
            res, cpu = self.wrk(target, connections, seconds)
            quiet = cpu["others_cores"] <= self.args.max_others
            runs.append(res.to_dict() | {"cpu": cpu, "attempt": attempt + 1, "quiet": quiet,
                                         "loadavg": round(loadavg(), 2)})
            self.say(f"{target.name:8s} c{connections:<3d} {res.rps:9,.0f} req/s  p50 {res.p50_ms:7.3f} ms  "
                     f"p99 {res.p99_ms:7.3f} ms  errors {res.errors}  target CPU {cpu['target_cpu']:.0%}  "
                     f"cores {'/'.join(f'{b:.0%}' for b in cpu['core_busy'])}  "
                     f"others {cpu['others_cores']:.2f} cores{'' if quiet else ' (noisy)'}")
            if quiet:
                break
            if attempt == self.args.retries or self.retry_spent + seconds > self.args.retry_budget:
                break
            self.retry_spent += seconds
        return runs

    def wait_quiet(self) -> None:
        a = self.args
        deadline = time.monotonic() + a.quiet_wait
        while True:
            with self.window(None) as window:
                time.sleep(2)
            others = window.result()["others_cores"]
            if others <= a.max_others or time.monotonic() > deadline:
                self.say(f"machine: other processes use {others:.2f} cores "
                         f"({'quiet' if others <= a.max_others else 'still busy: measuring anyway'})")
                return
            self.say(f"machine busy: other processes use {others:.2f} cores, waiting")

    def plain(self) -> None:
        a = self.args
        self.wait_quiet()
        for t in self.targets:
            self.say(f"{t.name}: warm-up, {a.warmup:g} s at c{a.connections}")
            self.wrk(t, a.connections, a.warmup)
        for rnd in range(1, a.rounds + 1):
            self.say(f"round {rnd} of {a.rounds}")
            for t in self.targets:
                r = self.results[t.name]
                for conns, key in ((1, "c1"), (a.connections, "c50")):
                    r[f"{key}_runs"] += self.measured(t, conns, a.seconds)
        for t in self.targets:
            r = self.results[t.name]
            for key in ("c1", "c50"):
                r[key], used = report.aggregate(r[f"{key}_runs"])
                r[f"cpu_{key}"] = report.mean_cpu(used)

    def profile_gateway(self) -> None:
        a = self.args
        target = next((t for t in self.targets if t.name == "gateway"), None)
        if target is None or not a.profile:
            return
        if not profile.available():
            self.profile = {"skipped": "py-spy is not installed (pip install py-spy)"}
            self.say("profile skipped: py-spy is not installed")
            return
        raw = self.work / "gateway.collapsed"
        a.profile_svg.parent.mkdir(parents=True, exist_ok=True)
        secs = max(a.seconds, 5)
        try:
            for fmt, out in (("flamegraph", a.profile_svg), ("raw", raw)):
                self.say(f"gateway: py-spy ({fmt}) during an extra {secs:g} s run at c{a.connections}")
                spy = profile.record(target.pid, out, seconds=secs, fmt=fmt, cpu=a.load_cpu)
                time.sleep(0.5)  # attached before the load starts
                res, _ = self.wrk(target, a.connections, secs + 1)
                profile.finish(spy)
            spots = profile.hot_spots(raw.read_text())
        except RuntimeError as exc:
            self.profile = {"error": str(exc)}
            self.say(f"profile failed: {exc}")
            return
        self.profile = {"svg": str(a.profile_svg), "rps_while_profiled": res.rps, "hot_spots": spots}

    def stream_cmd(self, url: str, headers: dict[str, str]) -> list[str]:
        a = self.args
        cmd = [sys.executable, "-m", "load.bench.streams", "--url", url, "--streams", str(a.streams),
               "--seconds", str(a.stream_seconds), "--model", configs.MODEL]
        for k, v in headers.items():
            cmd += ["--header", f"{k}: {v}"]
        return pinned(cmd, a.load_cpu)

    def client_check(self) -> None:
        """The stream client against load.bench.sseclock (send times in the events): its own error."""
        a = self.args
        port = free_port()
        server = Proc("sseclock", [sys.executable, "-m", "load.bench.sseclock", "--port", str(port)],
                      cpu=a.load_cpu, log_dir=self.logs)
        try:
            server.wait_port(port, 10)
            self.say(f"stream client check: {a.streams} streams against sseclock (send time in every event)")
            out = subprocess.run(self.stream_cmd(f"http://127.0.0.1:{port}/v1/chat/completions",
                                                 {"x-ttft-ms": str(a.ttft_ms), "x-itl-ms": str(a.itl_ms)}),
                                 capture_output=True, text=True, timeout=a.stream_seconds + 120)
        finally:
            server.stop()
        if out.returncode != 0:
            self.client_accuracy = {"error": out.stderr.strip()[-500:]}
            return
        s = json.loads(out.stdout)
        self.client_accuracy = s.get("accuracy") or {"error": "no stamped events"}
        if "lateness_ms" in self.client_accuracy:
            late = self.client_accuracy["lateness_ms"]
            itl = self.client_accuracy["itl_error_ms"]
            self.say(f"  events seen late by p50 {late['p50']:.3f} p99 {late['p99']:.3f} max {late['max']:.3f} ms; "
                     f"ITL error p50 {itl['p50']:.3f} p99 {itl['p99']:.3f} ms")

    def stream_run(self, t: configs.Target) -> dict[str, Any]:
        a = self.args
        with self.window(t.pid) as window:
            out = subprocess.run(self.stream_cmd(t.url, t.headers), capture_output=True, text=True,
                                 timeout=a.stream_seconds + 120)
        if out.returncode != 0:
            return {"error": out.stderr.strip()[-500:], "samples": 0}
        s = json.loads(out.stdout)
        s["cpu"] = window.result()
        s["quiet"] = s["cpu"]["others_cores"] <= a.max_others
        if not s["samples"]:
            s["error"] = "no stream completed: " + "; ".join(s["error_examples"])
        return s

    def streams(self) -> None:
        """--stream-rounds interleaved rounds of every configuration's stream run (a noisy run is run
        again once, within --retry-budget, the quieter kept). A p99 over one 8-second run moves with
        whatever else the host does in those seconds, so each configuration is reported from its
        run with the median TTFT p99; every run stays in the JSON (`stream_runs`)."""
        a = self.args
        self.mock.configure(ttft_ms=a.ttft_ms, itl_ms=a.itl_ms)
        runs: dict[str, list[dict[str, Any]]] = {t.name: [] for t in self.targets}
        try:
            for i in range(a.stream_rounds):
                for t in self.targets:
                    self.say(f"{t.name}: {a.streams} concurrent streams for {a.stream_seconds:g} s "
                             f"(mock TTFT {a.ttft_ms:g} ms, ITL {a.itl_ms:g} ms), round {i + 1}")
                    runs[t.name].append(self.stream_once(t))
        finally:
            self.mock.configure(ttft_ms=0, itl_ms=0)
        for name, done in runs.items():
            self.results[name]["stream_runs"] = done
            self.results[name]["streams"] = report.median_run(done)

    def stream_once(self, t: configs.Target) -> dict[str, Any]:
        a = self.args
        s = self.stream_run(t)
        if s["samples"] and not s["quiet"] and self.retry_spent + a.stream_seconds <= a.retry_budget:
            self.say(f"  noisy (others {s['cpu']['others_cores']:.2f} cores), again")
            self.retry_spent += a.stream_seconds
            again = self.stream_run(t)
            if again["samples"] and again["cpu"]["others_cores"] < s["cpu"]["others_cores"]:
                s = again
        if s["samples"]:
            self.say(f"  TTFT p50 {s['ttft_ms']['p50']:.2f} p99 {s['ttft_ms']['p99']:.2f} ms  "
                     f"ITL p50 {s['itl_ms']['p50']:.3f} p99 {s['itl_ms']['p99']:.3f} ms  "
                     f"{s['samples']} streams, {s['errors']} errors, "
                     f"others {s['cpu']['others_cores']:.2f} cores")
        else:
            self.say(f"  {s['error'][:300]}")
        return s

    def soak_run(self) -> None:
        a = self.args
        warm = a.soak_warmup if a.soak_warmup is not None else min(60.0, a.soak / 5)
        for t in self.targets:
            if t.name not in a.soak_targets:
                continue
            self.say(f"{t.name}: soak, {a.soak:g} s at c{a.connections}, RSS sampled every 0.1 s")
            since = time.monotonic()
            res, cpu = self.wrk(t, a.connections, a.soak)
            s = report.soak_summary(self.sampler.points(t.pid, since), a.soak, warm)
            s |= {"rps": res.rps, "errors": res.errors, "p99_ms": res.p99_ms, "cpu": cpu}
            self.soak[t.name] = s
            if "error" in s:
                self.say(f"  RSS not measured: {s['error']}")
                continue
            self.say(f"  RSS {s['rss_after_warmup_mb']} MB after warm-up -> {s['rss_end_mb']} MB at the end "
                     f"({s['growth_mb']:+} MB, {s['slope_mb_per_min']:+} MB/min): "
                     f"{'flat' if s['flat'] else 'GROWING'}")

    def stop(self) -> None:
        for t in reversed(self.targets):
            if t.name != "direct":
                with contextlib.suppress(Exception):
                    t.proc.stop()
        if self.mock is not None:
            self.mock.stop()
        self.sampler.stop()

    # -- output -------------------------------------------------------------------------------------------
    def finish(self, started: datetime, duration_s: float) -> dict[str, Any]:
        for t in self.targets:
            self.results[t.name]["rss_peak_mb"] = round(self.sampler.peak_mb(t.pid), 1)
            pts = self.sampler.points(t.pid)
            self.results[t.name]["rss_start_mb"] = round(pts[0][1], 1) if pts else None
        derived = report.derive(self.results)
        checks = report.targets(self.results, derived, self.soak)
        a = self.args
        return {"date": started.isoformat(timespec="seconds"), "duration_s": round(duration_s, 1),
                "machine": report.machine(),
                "placement": {"target_core": a.target_cpu, "load_core": a.load_cpu,
                              "on_load_core": ["wrk -t1", "mock", "stream client", "py-spy", "harness"]},
                "settings": {k: (str(v) if isinstance(v, Path) else v) for k, v in vars(a).items()},
                "request": json.loads(chat_body()),
                "results": self.results, "derived": derived, "noisy": report.noisy(self.results), "load_side": report.load_side(self.results),
                "stream_client_accuracy": self.client_accuracy,
                "targets": checks, "profile": self.profile, "soak": self.soak}


def chat_body() -> bytes:
    return json.dumps({"model": configs.MODEL, "messages": [{"role": "user", "content": "hi"}]},
                      separators=(",", ":")).encode()


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if not wrk.available():
        print("load.bench: wrk is not installed (apt-get install -y wrk)", file=sys.stderr)
        return 2
    pin_self(args.load_cpu)
    started = datetime.now(UTC)
    t0 = time.monotonic()
    bench = Bench(args)
    try:
        bench.start()
        bench.plain()
        bench.profile_gateway()
        bench.client_check()
        bench.streams()
        if args.soak > 0:
            bench.soak_run()
    except BaseException:
        print(f"load.bench: failed; the servers' logs are in {bench.logs}", file=sys.stderr)
        raise
    finally:
        bench.stop()
    out = bench.finish(started, time.monotonic() - t0)
    print()
    print(report.table(bench.results, out["derived"]))
    print()
    print(report.targets_text(out["targets"]))
    if out["noisy"]:
        print(f"\nnoisy (other processes took more than {args.max_others} cores in every attempt): "
              + ", ".join(out["noisy"]) + " - run again on a quiet machine")
    ls = out["load_side"]
    if ls["headroom"]:
        print(f"\nload side: direct {ls['direct_rps_c50']:,.0f} req/s at c{args.connections} vs fastest target "
              f"{ls['fastest_target_rps_c50']:,.0f} ({ls['headroom']:.2f}x)")
    if bench.profile.get("hot_spots"):
        print("\ngateway profile (" + bench.profile["svg"] + "):")
        print(report.hot_spots_text(bench.profile["hot_spots"]))
    path = args.json or Path("docs") / f"bench-{started:%Y%m%d}.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(out, indent=1, default=str) + "\n")
    print(f"\nwrote {path}" + (f"; logs in {bench.logs}" if args.keep_logs else ""))
    if not args.keep_logs:
        import shutil

        shutil.rmtree(bench.work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
