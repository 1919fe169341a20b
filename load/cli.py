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
from .console import serving_nodes
from .scenarios import SCENARIOS, Scenario, get

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
    options.add_arguments(p, locust=False)
    p.set_defaults(func=main)


def main(args: argparse.Namespace) -> int:
    try:
        scenario = get(args.scenario)
        slo.parse(args.slo)  # before starting anything: a typo in a gate should cost nothing
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
    cmd = [sys.executable, "-m", "locust", "-f", str(LOCUSTFILE), "--headless", "--host", args.base_url,
           "-u", str(args.users), "-r", f"{args.spawn_rate or args.users:g}", "-t", args.run_time,
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
