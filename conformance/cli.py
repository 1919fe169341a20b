"""`topapi check`: run the conformance suite against a gateway (or the demo stack) and report."""

from __future__ import annotations

import argparse
import os
import sys
import time
from datetime import UTC, datetime
from importlib import metadata
from pathlib import Path

import httpx
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from . import report
from .context import Target
from .registry import select
from .runner import run, summary
from .schemathesis_run import PHASES

DEMO_VIDEO_DEADLINE_S = 60.0  # the demo's mock renders a video in 1.5 s: a stuck job fails in a minute


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("check", help="run the conformance suite against a gateway", description=(
        "Check a gateway against the wire contract: schemathesis over specs/, protocol checks, the official "
        "SDKs, and (with admin credentials) the consoles' flow. With no --base-url, start the demo stack and "
        "check it. Exit code 0 only when every check passes."))
    p.add_argument("--base-url", help="the gateway's root, e.g. https://staging.example.com")
    p.add_argument("--api-key", default=os.environ.get("TOPAPI_API_KEY"), help="a key (default: $TOPAPI_API_KEY)")
    p.add_argument("--admin-user", default=os.environ.get("TOPAPI_ADMIN_USER"))
    p.add_argument("--admin-password", default=os.environ.get("TOPAPI_ADMIN_PASSWORD"))
    p.add_argument("--only", help="comma-separated check ids, globs (sse.*) or layers (protocol,schema,sdk,console)")
    p.add_argument("--report-dir", type=Path, default=Path("topapi-report"),
                   help="where junit.xml, report.html and results.json go (default: ./topapi-report)")
    p.add_argument("--max-examples", type=int, default=10, help="schemathesis examples per operation")
    p.add_argument("--workers", type=int, default=4, help="checks run at once")
    p.add_argument("--timeout", type=float, default=60.0, help="seconds per HTTP request")
    p.add_argument("--video-deadline", type=float, default=None,
                   help="seconds a video job may take to complete (default 600; the demo stack: 60)")
    p.add_argument("--schema-phases", help="schemathesis phases, comma-separated (default: all; "
                   "'examples' for a quick smoke run)")
    p.add_argument("--schema-budget", type=float, help="seconds per schema part (relay, admin)")
    p.add_argument("--seed", type=int, help="schemathesis seed: the same generated cases on every run")
    for kind, default in (("chat", "gpt-4.1-mini"), ("image", "gpt-image-1"), ("video", "sora-2"),
                          ("gemini", "gemini-2.5-flash")):
        p.add_argument(f"--{kind}-model", default=default, help=f"{kind} model to use (default {default})")
    p.add_argument("--list", action="store_true", help="list the checks and exit")
    p.add_argument("--verbose", "-v", action="store_true", help="show passed checks in the table too")
    p.set_defaults(func=main)


def preflight(target: Target) -> str | None:
    """One clear message when the target is down or refuses the key; None when it is usable."""
    try:
        r = httpx.get(target.root + "/v1/models", headers={"Authorization": f"Bearer {target.api_key}"}, timeout=10)
    except httpx.HTTPError as exc:
        return f"cannot reach {target.root}: {type(exc).__name__}: {exc or 'no answer'}"
    if r.status_code in (401, 403):
        return f"{target.root} refused the API key (HTTP {r.status_code} on GET /v1/models): check --api-key"
    if r.status_code >= 500:
        return f"{target.root} answered HTTP {r.status_code} on GET /v1/models: is it healthy?"
    return None


def main(args: argparse.Namespace) -> int:
    # CI logs are not terminals: give the table room instead of rich's 80-column default
    console = Console(width=None if sys.stdout.isatty() else 160)
    try:
        checks = select([p.strip() for p in args.only.split(",") if p.strip()] if args.only else None)
    except ValueError as exc:
        console.print(f"[red]topapi check: {exc}[/] (topapi check --list shows the ids)")
        return 2
    if args.list:
        for c in checks:
            console.print(f"{c.id:38s} {c.layer:9s} {c.description}")
        return 0
    demo = None
    if not args.base_url:
        from topapi.demo_child import DemoChild

        console.print("No --base-url: starting the demo stack (topapi serve --demo) ...")
        # a little latency, so that buffering is measurable; short videos, so the lifecycle check is quick
        demo = DemoChild(extra_args=["--mock-video-ms", "1500", "--mock-ttft-ms", "20", "--mock-itl-ms", "2"])
        try:
            info = demo.start()
        except RuntimeError as exc:
            console.print(f"[red]topapi check: {exc}[/]")
            return 2
        acc = info["accounts"]["platform_admin"]
        args.base_url, args.api_key = info["base_url"], info["api_key"]
        args.video_deadline = args.video_deadline or DEMO_VIDEO_DEADLINE_S
        args.admin_user, args.admin_password = acc["username"], acc["password"]
    try:
        return _check(args, checks, console)
    finally:
        if demo:
            demo.stop()


def _check(args: argparse.Namespace, checks, console: Console) -> int:
    if not args.api_key:
        console.print("[red]topapi check: --api-key (or $TOPAPI_API_KEY) is required with --base-url[/]")
        return 2
    phases = tuple(p.strip() for p in args.schema_phases.split(",") if p.strip()) if args.schema_phases else None
    unknown = sorted(set(phases or ()) - set(PHASES))
    if unknown:
        console.print(f"[red]topapi check: unknown schema phase {', '.join(unknown)} (known: {', '.join(PHASES)})[/]")
        return 2
    knobs = {"video_deadline_s": args.video_deadline} if args.video_deadline else {}
    target = Target(args.base_url, args.api_key, args.admin_user, args.admin_password,
                    chat_model=args.chat_model, image_model=args.image_model, video_model=args.video_model,
                    gemini_model=args.gemini_model, timeout_s=args.timeout, max_examples=args.max_examples,
                    schema_phases=phases, schema_budget_s=args.schema_budget, schema_seed=args.seed, **knobs)
    problem = preflight(target)
    if problem:
        console.print(f"[red]topapi check: {problem}[/]")
        return 2
    started = datetime.now(UTC)
    t0 = time.perf_counter()
    failed_ids: list[str] = []
    with Progress(TextColumn("[bold]checking[/]"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
                  TextColumn("{task.description}"), console=console, transient=True) as progress:
        task = progress.add_task("", total=len(checks))

        def done(res) -> None:
            if not res.ok:
                failed_ids.append(res.id)
            progress.update(task, advance=1,
                            description=f"{res.id} {res.status}" + (f"  ({len(failed_ids)} failing)" if failed_ids else ""))

        results = run(target, checks, workers=args.workers, on_done=done)
    elapsed = time.perf_counter() - t0
    report.table(results, console, verbose=args.verbose)
    args.report_dir.mkdir(parents=True, exist_ok=True)
    meta = {"target": target.root, "started": started.isoformat(timespec="seconds"), "duration_s": elapsed,
            "version": _version(), "checks": len(results)}
    report.junit(results, args.report_dir / "junit.xml", target.root)
    report.html_report(results, args.report_dir / "report.html", meta)
    report.to_json(results, args.report_dir / "results.json", meta)
    counts = summary(results)
    ok = not (counts["failed"] or counts["error"])
    console.print(f"{'[green]PASSED[/]' if ok else '[red]FAILED[/]'} in {elapsed:.1f}s · report: "
                  f"{args.report_dir / 'report.html'} · JUnit: {args.report_dir / 'junit.xml'}")
    return 0 if ok else 1


def _version() -> str:
    try:
        return metadata.version("topapi-kit")
    except metadata.PackageNotFoundError:
        return "dev"


if __name__ == "__main__":
    sys.exit(main(argparse.Namespace()))
