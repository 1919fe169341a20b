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

from . import config, report
from .causes import root_causes
from .context import Ctx, Target
from .registry import select
from .runner import run_repeated, summary
from .schemathesis_run import PHASES
from .surfaces import PROFILES, SURFACES, Found, Unreachable, run_probe

DEMO_VIDEO_DEADLINE_S = 60.0  # the demo's mock renders a video in 1.5 s: a stuck job fails in a minute


_PARSER: argparse.ArgumentParser | None = None


def register(sub: argparse._SubParsersAction) -> None:
    global _PARSER
    p = sub.add_parser("check", help="run the conformance suite against a gateway", description=(
        "Check a gateway against the wire contract: schemathesis over specs/, protocol checks, the official "
        "SDKs, and (with admin credentials) the consoles' flow. With --base-url the target is probed first "
        "and only the surfaces it offers are judged (--profile auto); with none, the demo stack is started and "
        "everything is required (--profile topapi). Exit code 0 only when every check that ran passed."))
    _PARSER = p
    p.add_argument("--config", type=Path, help="a TOML file holding any of these flags by their long names "
                   "(`base-url = ...`, `[headers]`); ${VAR} reads the environment. Flags given here win")
    p.add_argument("--base-url", help="the gateway's root, e.g. https://staging.example.com")
    p.add_argument("--profile", choices=sorted(PROFILES), help="which surfaces are required: auto (the default "
                   "with --base-url: what the probe finds is run, nothing is required), topapi (the default for "
                   "the demo stack: everything), openai (the official OpenAI surfaces), gemini, all (every "
                   "official surface required; the guide's forms and consoles when offered)")
    p.add_argument("--require", help=f"comma-separated surfaces that must be offered ({', '.join(SURFACES)})")
    p.add_argument("-H", "--header", action="append", metavar="'NAME: VALUE'",
                   help="a header sent with every request (repeatable), e.g. -H 'x-portkey-provider: openai'; "
                   "${VAR} in the value reads the environment (and is redacted in reports)")
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
    p.add_argument("--repeat", type=int, default=1, metavar="K",
                   help="run the protocol checks K times; a check that passes in some runs and fails in others "
                   "is reported as flaky (and fails the run)")
    p.add_argument("--seed", type=int, help="schemathesis seed: the same generated cases on every run")
    for kind, default in (("chat", "gpt-4.1-mini"), ("image", "gpt-image-1"), ("video", "sora-2"),
                          ("gemini", "gemini-2.5-flash")):
        p.add_argument(f"--{kind}-model", default=default, help=f"{kind} model to use (default {default})")
    p.add_argument("--list", action="store_true", help="list the checks and exit")
    p.add_argument("--verbose", "-v", action="store_true", help="show passed checks in the table too")
    p.set_defaults(func=main)


def probe(target: Target) -> tuple[Found | None, str | None]:
    """What the target offers and which key forms it accepts; or one clear message when it is down, refuses
    the key, or offers none of the surfaces."""
    ctx = Ctx(target)
    models = {"chat": target.chat_model, "image": target.image_model, "video": target.video_model,
              "gemini": target.gemini_model}

    def send(method: str, path: str, body: object, form: str) -> httpx.Response:
        return ctx.request(method, path, json=body, auth=form, timeout=min(target.timeout_s, 15.0))

    try:
        found = run_probe(send, models)
    except Unreachable as exc:
        return None, f"cannot reach {target.root}: {exc}"
    finally:
        ctx.close()
    if found.refused:
        # "GET /v1/models: bearer 401, ...": the first route that refused
        first = next(e for ev in found.form_evidence.values() for e in ev
                     if all(a.endswith((" 401", " 403")) for a in e.partition(": ")[2].split(", ")))
        route, _, answers = first.partition(": ")
        status = answers.split(", ")[0].split(" ")[-1]
        return found, (f"{target.root} refused the API key (HTTP {status} on {route}, in every key form and on "
                       "every route probed): check --api-key")
    if not found.offered:
        return found, f"{target.root} offers none of the surfaces (every probe answered 404/405): is it the root URL?"
    return found, None


def main(args: argparse.Namespace) -> int:
    # CI logs are not terminals: give the table room instead of rich's 80-column default
    console = Console(width=None if sys.stdout.isatty() else 160)
    args.secrets = {}
    try:
        if getattr(args, "config", None):
            assert _PARSER is not None
            config.apply(_PARSER, args, config.load(args.config), args.secrets)
        args.headers = dict(config.parse_header(h, args.secrets) for h in args.header or [])
        args.require = [s.strip() for s in (args.require or "").split(",") if s.strip()]
        unknown = [s for s in args.require if s not in SURFACES]
        if unknown:
            raise config.ConfigError(f"--require: unknown surface {', '.join(unknown)} (known: {', '.join(SURFACES)})")
    except config.ConfigError as exc:
        console.print(f"[red]topapi check: {exc}[/]", highlight=False)
        return 2
    try:
        checks = select([p.strip() for p in args.only.split(",") if p.strip()] if args.only else None)
    except ValueError as exc:
        console.print(f"[red]topapi check: {exc}[/] (topapi check --list shows the ids)")
        return 2
    if args.list:
        for c in checks:
            needs = ",".join(c.surfaces) or "-"
            console.print(f"{c.id:32s} {c.layer:9s} {needs:28s} {c.description}"
                          + (f" [needs {', '.join(c.needs)}]" if c.needs else ""), highlight=False, markup=False)
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
        args.profile = args.profile or "topapi"
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
    profile = args.profile or "auto"
    required, in_profile = PROFILES[profile]
    required = list(dict.fromkeys([*required, *args.require]))
    target = Target(args.base_url, args.api_key, args.admin_user, args.admin_password,
                    chat_model=args.chat_model, image_model=args.image_model, video_model=args.video_model,
                    gemini_model=args.gemini_model, timeout_s=args.timeout, max_examples=args.max_examples,
                    schema_phases=phases, schema_budget_s=args.schema_budget, schema_seed=args.seed,
                    headers=args.headers, secrets=args.secrets, required=required,
                    in_profile=None if set(in_profile) == set(SURFACES) else list(dict.fromkeys([*in_profile,
                                                                                                 *required])),
                    **knobs)
    found, problem = probe(target)
    if problem:
        console.print(f"[red]topapi check: {problem}[/]", highlight=False, soft_wrap=True)
        return 2
    assert found is not None
    target.offered = list(found.offered)
    target.forms = found.chosen_forms()
    report.surfaces_table(found.to_dict(), required, target.in_profile, profile, console)
    started = datetime.now(UTC)
    t0 = time.perf_counter()
    failed_ids: list[str] = []
    with Progress(TextColumn("[bold]checking[/]"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
                  TextColumn("{task.description}"), console=console, transient=True) as progress:
        protocol = sum(1 for c in checks if c.layer == "protocol")
        task = progress.add_task("", total=len(checks) + max(0, args.repeat - 1) * protocol)

        def done(res) -> None:
            if res.status in ("failed", "error") and res.id not in failed_ids:
                failed_ids.append(res.id)
            progress.update(task, advance=1,
                            description=f"{res.id} {res.status}" + (f"  ({len(failed_ids)} failing)" if failed_ids else ""))

        results = run_repeated(target, checks, args.repeat, workers=args.workers, on_done=done,
                               evidence=found.evidence)
    elapsed = time.perf_counter() - t0
    report.causes_block(root_causes(results), console)
    report.table(results, console, verbose=args.verbose)
    args.report_dir.mkdir(parents=True, exist_ok=True)
    meta = {"target": target.root, "started": started.isoformat(timespec="seconds"), "duration_s": elapsed,
            "version": _version(), "checks": len(results), "profile": profile, "required": required,
            "headers": sorted(target.headers), "probe": found.to_dict(), "forms": target.forms}
    report.junit(results, args.report_dir / "junit.xml", target.root)
    report.html_report(results, args.report_dir / "report.html", meta)
    report.to_json(results, args.report_dir / "results.json", meta)
    counts = summary(results)
    ok = not (counts["failed"] or counts["error"] or counts["flaky"])
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
