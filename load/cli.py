"""`topapi load`: run a scenario headless through Locust, with SLO gates (WIRE.md "CLI contract").

It runs `python -m locust -f load/locustfile.py --headless ...` as a child process, so
`--processes N` is Locust's own multi-process mode and what is measured is exactly what a
plain `locust` run measures. With no --base-url it starts the demo stack (`topapi serve
--demo`) and finds the mocks and weights behind the scenario's model through its node console.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
from pathlib import Path

from . import options, slo
from .arrivals import Arrivals
from .console import serving_nodes
from .scenarios import SCENARIOS, Scenario, get, weights

LOCUSTFILE = Path(__file__).with_name("locustfile.py")
MODEL_OPTION = {"chat": "chat_model", "gemini": "gemini_model", "image": "image_model", "video": "video_model"}


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("load", help="load-test a gateway with Locust scenarios and SLO gates", description=(
        "Run a Locust scenario headless against a gateway (or, with no --base-url, the demo stack), print a "
        "live progress line, write Locust's CSV/HTML, summary.json and plots to --report-dir, and exit 0 "
        "only when every SLO holds. Scenarios: " + "; ".join(f"{s.name} ({s.description})"
                                                              for s in SCENARIOS.values())))
    p.add_argument("--base-url", help="the gateway's root, e.g. https://staging.example.com")
    p.add_argument("-u", "--users", type=int, default=10, help="concurrent users (default 10)")
    p.add_argument("-r", "--spawn-rate", type=float, default=None, help="users started per second (default: -u)")
    p.add_argument("-t", "--run-time", default="30s", help="e.g. 30s, 5m (default 30s)")
    p.add_argument("--processes", type=int, default=0, help="Locust worker processes (-1: one per CPU)")
    p.add_argument("--admin-user", default=os.environ.get("TOPAPI_ADMIN_USER"),
                   help="a node/platform admin: find the nodes, weights and mocks behind the model")
    p.add_argument("--admin-password", default=os.environ.get("TOPAPI_ADMIN_PASSWORD"))
    p.add_argument("--demo-ttft-ms", type=float, default=None,
                   help="demo stack: the mocks' TTFT (default: the scenario's, e.g. 150 for streams)")
    p.add_argument("--demo-itl-ms", type=float, default=None, help="demo stack: the mocks' ITL (default 20)")
    p.add_argument("--demo-arg", action="append", default=[], help="extra argument for `topapi serve --demo`")
    p.add_argument("--loglevel", default="WARNING", help="Locust's log level (default WARNING)")
    g = p.add_argument_group("capacity under SLOs (open-loop steps, see load/search.py)")
    g.add_argument("--find-max", action="store_true",
                   help="step the rate up from --start-rate (doubling), then bisect: the highest rate at which every "
                        "SLO holds (summary.json max_rate, curve.png, report.html)")
    g.add_argument("--sweep", default="", help="run these rates, e.g. 5,10,20,40 (requests/s)")
    g.add_argument("--start-rate", type=float, default=1.0, help="--find-max: the first rate tried (default 1/s)")
    g.add_argument("--step-time", default=None, help="each step's duration (default: -t)")
    g.add_argument("--precision", type=float, default=0.05,
                   help="--find-max: stop when the highest rate that held and the lowest that failed are this close "
                        "(relative, default 0.05)")
    g.add_argument("--max-steps", type=int, default=12, help="--find-max: at most this many steps (default 12)")
    options.add_arguments(p, locust=False)
    p.set_defaults(func=main)


def main(args: argparse.Namespace) -> int:
    try:
        scenario = get(args.scenario)
        slo.parse(args.slo)  # before starting anything: a typo in a gate should cost nothing
        weights(scenario, args.mix)
        if args.rate is not None:
            Arrivals(args.rate, args.arrival, args.burstiness)
    except ValueError as exc:
        return _fail(str(exc))
    demo = None
    if not args.base_url:
        from . import demo as demo_stack

        try:
            demo, info = demo_stack.start(scenario, args.demo_ttft_ms, args.demo_itl_ms, args.demo_arg)
        except RuntimeError as exc:
            return _fail(str(exc))
        args.base_url, args.api_key = info["base_url"], info["api_key"]
        admin = info["accounts"]["node_admin"]
        args.admin_user, args.admin_password = admin["username"], admin["password"]
    try:
        if args.find_max or args.sweep:
            return _search(args, scenario)
        return _load(args, scenario)
    finally:
        if demo:
            demo.stop()


def _fail(message: str) -> int:
    print(f"topapi load: {message}", file=sys.stderr)
    return 2


def _load(args: argparse.Namespace, scenario: Scenario) -> int:
    if not args.api_key:
        return _fail("--api-key (or $TOPAPI_API_KEY) is required with --base-url")
    if (scenario.watch_nodes or scenario.fidelity) and not args.mock:
        problem = _discover_nodes(args, scenario)
        if problem:
            return _fail(problem)
    cmd = locust_command(args)
    env = {**os.environ, "TOPAPI_API_KEY": args.api_key, "PYTHONUNBUFFERED": "1"}
    proc = subprocess.Popen(cmd, env=env, stdin=subprocess.DEVNULL)
    try:
        return proc.wait()
    except KeyboardInterrupt:  # Locust got the same SIGINT: let it write its report
        return proc.wait()


def _search(args: argparse.Namespace, scenario: Scenario) -> int:
    """--find-max / --sweep: one open-loop run per step, then the curve, report.html and summary.json."""
    import copy
    import json

    from . import curve, search

    try:
        plan = search.Plan(start_rate=args.start_rate, precision=args.precision, max_steps=args.max_steps,
                           sweep=search.parse_sweep(args.sweep) if args.sweep else ())
    except ValueError as exc:
        return _fail(str(exc))
    if plan.start_rate <= 0 or not 0 < plan.precision < 1 or plan.max_steps < 2:
        return _fail("--start-rate must be > 0, --precision between 0 and 1, --max-steps at least 2")
    root = Path(args.report_dir or "topapi-capacity")

    def run_step(rate: float, report: Path) -> dict | None:
        step = copy.copy(args)
        step.rate, step.report_dir, step.run_time = rate, str(report), args.step_time or args.run_time
        code = _load(step, scenario)
        path = report / "summary.json"
        if code not in (0, 1) or not path.exists():
            print(f"topapi load: the step at {rate:g}/s did not run (exit {code})", file=sys.stderr)
            return None
        return json.loads(path.read_text())

    steps = search.search(plan, run_step, root)
    if not steps:
        return 2
    summary = search.summary("sweep" if plan.sweep else "find-max", steps, args.slo)
    from .summary import write

    write(summary, root / "summary.json")
    png = None
    try:
        png = curve.plot(summary, root / "curve.png")
    except Exception as exc:  # a plot must never cost the search its summary and exit code
        print(f"topapi load: plotting failed: {exc}", file=sys.stderr)
    curve.report_html(summary, png, root / "report.html")
    best = summary["max_rate"]
    print(f"\ntopapi load: {'every SLO holds up to ' + format(best, 'g') + ' requests/s' if best is not None else 'no rate met every SLO'}"
          f" ({len(steps)} steps; {root / 'report.html'})", flush=True)
    return 0 if summary["passed"] else 1


def _discover_nodes(args: argparse.Namespace, scenario: Scenario) -> str | None:
    option = MODEL_OPTION.get(scenario.model)
    if option is None or not (args.admin_user and args.admin_password):
        return (f"scenario {scenario.name} reads the mocks behind the gateway: give --mock NAME=URL (and, for "
                "routing, --weights), or --admin-user/--admin-password to find them in the node console")
    model = getattr(args, option)
    try:
        found = serving_nodes(args.base_url, args.admin_user, args.admin_password, model)
    except Exception as exc:  # any failure here means: tell the user to say it explicitly
        return f"could not list the nodes serving {model}: {exc}"
    if not found:
        return f"no enabled node serves {model}"
    args.mock = [f"{n.name}={n.root}" for n in found]
    if not args.weights:
        args.weights = ",".join(f"{n.name}={n.weight:g}" for n in found)
    print("nodes serving " + model + ": " + ", ".join(f"{n.name} (weight {n.weight:g}, {n.root})" for n in found),
          flush=True)
    return None


def locust_command(args: argparse.Namespace) -> list[str]:
    users, spawn_rate = args.users, args.spawn_rate or args.users
    if args.rate:  # open loop: one scheduler per process, the rate split between them
        users = spawn_rate = args.processes if args.processes > 0 else (os.cpu_count() or 1) if args.processes else 1
    cmd = [sys.executable, "-m", "locust", "-f", str(LOCUSTFILE), "--headless", "--host", args.base_url,
           "-u", str(users), "-r", f"{spawn_rate:g}", "-t", args.run_time,
           "--only-summary", "--loglevel", args.loglevel]
    if args.processes:
        cmd += ["--processes", str(args.processes)]
    if args.report_dir:
        report = Path(args.report_dir)
        cmd += ["--csv", str(report / "locust"), "--html", str(report / "locust.html")]
    args.progress = True
    return cmd + forwarded(args)


def forwarded(args: argparse.Namespace) -> list[str]:
    """The locustfile's own options, as given to `topapi load` (the key goes through the environment)."""
    probe = argparse.ArgumentParser(add_help=False)
    options.add_arguments(probe, locust=False)
    out: list[str] = []
    for action in probe._actions:
        if action.dest == "api_key":
            continue
        value, flag = getattr(args, action.dest), action.option_strings[0]
        if isinstance(action, argparse._StoreTrueAction):
            out += [flag] if value else []
        elif isinstance(action, argparse._AppendAction):
            for v in value or ():
                out += [flag, str(v)]
        elif value is not None and value != "":
            out += [flag, str(value)]
    return out
