"""python -m conformance.peers [--peer litellm,portkey] [--workdir DIR] [--out docs/PEERS.md] (see __init__.py)"""

from __future__ import annotations

import argparse
import json
import secrets
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx

from . import doc, install
from .procs import Proc, free_port, start_mocks
from .replay import replay

MODELS = {"chat": "gpt-4.1-mini", "image": "gpt-image-1", "video": "sora-2", "gemini": "gemini-2.5-flash"}
PEERS = ("litellm", "portkey")


@dataclass
class Run:
    """One `topapi check` against a peer."""

    label: str
    base_url: str
    api_key: str
    headers: dict[str, str] = field(default_factory=dict)
    args: list[str] = field(default_factory=list)
    note: str = ""
    results: dict[str, Any] | None = None
    seconds: float = 0.0
    exit_code: int | None = None
    output_tail: str = ""
    replays: dict[str, Any] = field(default_factory=dict)  # cause id -> (peer Answer, mock Answer) | None


@dataclass
class PeerReport:
    key: str
    name: str
    version: str
    setup: str  # how it was configured, for the doc
    runs: list[Run] = field(default_factory=list)
    error: str | None = None


def litellm_config(mocks: dict[str, str], mock_key: str, master: str) -> str:
    def entry(name: str, model: str, base: str) -> str:
        return (f"  - model_name: {name}\n    litellm_params:\n      model: {model}\n      api_base: \"{base}\"\n"
                f"      api_key: {mock_key}\n")

    return ("model_list:\n" + entry(MODELS["chat"], f"openai/{MODELS['chat']}", mocks["openai"] + "/v1")
            + entry(MODELS["image"], f"openai/{MODELS['image']}", mocks["openai"] + "/v1")
            + entry(MODELS["video"], f"openai/{MODELS['video']}", mocks["sora"] + "/v1")
            + entry(MODELS["gemini"], f"gemini/{MODELS['gemini']}", mocks["gemini"] + "/v1beta")
            + f"general_settings:\n  master_key: {master}\n")


def start_litellm(inst: install.Installed, workdir: Path, mocks: dict[str, str], mock_key: str
                  ) -> tuple[Proc, PeerReport, list[Run]]:
    master = "sk-litellm-" + secrets.token_hex(8)
    cfg = workdir / "litellm.yaml"
    cfg.write_text(litellm_config(mocks, mock_key, master))
    port = free_port()
    proc = Proc("litellm", [*inst.command, "--config", str(cfg), "--host", "127.0.0.1", "--port", str(port)],
                workdir / "litellm.log", env={"LITELLM_LOCAL_MODEL_COST_MAP": "True", "LITELLM_TELEMETRY": "False"})
    base = f"http://127.0.0.1:{port}"
    proc.wait_until(lambda: httpx.get(base + "/health/liveliness", timeout=3).status_code == 200, 300)
    setup = ("`litellm --config litellm.yaml` (no database): a master key, and a model list with "
             f"{', '.join(MODELS.values())} pointing at the mocks (`openai/...` with `api_base` <mock>/v1; "
             "`gemini/gemini-2.5-flash` with `api_base` <gemini mock>/v1beta), each with the mocks' key.")
    report = PeerReport("litellm", inst.name, inst.version, setup)
    return proc, report, [Run("all surfaces", base, master, note="profile auto, the master key")]


def start_portkey(inst: install.Installed, workdir: Path, mocks: dict[str, str], mock_key: str
                  ) -> tuple[Proc, PeerReport, list[Run]]:
    port = free_port()
    proc = Proc("portkey", [*inst.command, f"--port={port}", "--headless"], workdir / "portkey.log",
                cwd=workdir / "portkey")
    base = f"http://127.0.0.1:{port}"
    proc.wait_until(lambda: httpx.get(base + "/", timeout=3).status_code < 500, 120)
    setup = ("`node build/start-server.js --port=P --headless`; keyless: it forwards the caller's key to the "
             "provider named by `x-portkey-provider` at `x-portkey-custom-host` (both sent with `-H`). One run "
             "per mock it fronts: the OpenAI mock, and the Sora mock for videos.")
    report = PeerReport("portkey", inst.name, inst.version, setup)

    def run(label: str, kind: str) -> Run:
        headers = {"x-portkey-provider": "openai", "x-portkey-custom-host": mocks[kind] + "/v1"}
        return Run(label, base, mock_key, headers, note=f"-H x-portkey-provider: openai -H x-portkey-custom-host: "
                   f"<{kind} mock>/v1; the mocks' key")

    return proc, report, [run("provider openai, the OpenAI mock", "openai"), run("provider openai, the Sora mock",
                                                                                  "sora")]


def check(run: Run, report_dir: Path, extra: list[str]) -> None:
    run.args = [*run.args, *extra]
    cmd = [sys.executable, "-c", "import sys; from topapi.cli import main; sys.exit(main())", "check",
           "--base-url", run.base_url, "--api-key", run.api_key, "--report-dir", str(report_dir), *run.args]
    for name, value in run.headers.items():
        cmd += ["-H", f"{name}: {value}"]
    print(f"  topapi check against {run.base_url} ({run.label}) ...", flush=True)
    t0 = time.monotonic()
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=1800, env={"COLUMNS": "160", **_env()})
    run.seconds, run.exit_code = time.monotonic() - t0, proc.returncode
    run.output_tail = "\n".join((proc.stdout + proc.stderr).strip().splitlines()[-3:])
    results = report_dir / "results.json"
    run.results = json.loads(results.read_text()) if results.exists() and proc.returncode in (0, 1) else None
    print(f"    exit {proc.returncode} in {run.seconds:.0f} s", flush=True)


def _commit() -> str:
    try:
        out = subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True, timeout=10,
                             cwd=Path(__file__).resolve().parent)
    except (OSError, subprocess.SubprocessError):
        return ""
    return out.stdout.strip() if out.returncode == 0 else ""


def _env() -> dict[str, str]:
    import os

    return {k: v for k, v in os.environ.items() if not k.startswith("TOPAPI_")}


def replay_causes(run: Run, mocks: dict[str, str], mock_key: str) -> None:
    if not run.results:
        return
    for cause in run.results.get("root_causes", []):
        if cause.get("exchange"):
            run.replays[cause["id"]] = replay(cause["exchange"], {"$TOPAPI_API_KEY": run.api_key}, mocks, mock_key,
                                              {k.lower() for k in run.headers})


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m conformance.peers", description=__doc__)
    p.add_argument("--peer", default=",".join(PEERS), help=f"comma-separated, of {', '.join(PEERS)}")
    p.add_argument("--workdir", type=Path, default=Path(tempfile.gettempdir()) / "topapi-peers",
                   help="where the peers are installed and the reports go (reused across runs)")
    p.add_argument("--out", type=Path, default=Path("docs/PEERS.md"))
    p.add_argument("--check-args", default="", help="more arguments for every topapi check, e.g. '--workers 2'")
    args = p.parse_args(argv)
    peers = [x.strip() for x in args.peer.split(",") if x.strip()]
    unknown = [x for x in peers if x not in PEERS]
    if unknown:
        p.error(f"unknown peer {', '.join(unknown)}")
    args.workdir.mkdir(parents=True, exist_ok=True)
    started = datetime.now(UTC)
    mock_key = "sk-mock-" + secrets.token_hex(8)
    print(f"work folder: {args.workdir}", flush=True)
    mocks_proc, mocks = start_mocks(args.workdir, mock_key)
    reports: list[PeerReport] = []
    try:
        for key in peers:
            print(f"{key}:", flush=True)
            try:
                inst = install.litellm(args.workdir) if key == "litellm" else install.portkey(args.workdir)
                start = start_litellm if key == "litellm" else start_portkey
                proc, report, runs = start(inst, args.workdir, mocks, mock_key)
            except (install.InstallError, RuntimeError, OSError, subprocess.SubprocessError) as exc:
                reports.append(PeerReport(key, key, "?", "", error=str(exc)))
                print(f"  skipped: {exc}", flush=True)
                continue
            try:
                for i, run in enumerate(runs):
                    check(run, args.workdir / "reports" / f"{key}-{i}", args.check_args.split())
                    replay_causes(run, mocks, mock_key)
                    report.runs.append(run)
            finally:
                proc.stop()
            reports.append(report)
    finally:
        mocks_proc.stop()
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(doc.render(reports, started, mocks_note="`topapi mock all --api-key <a key of the run>`",
                                   commit=_commit()))
    print(f"wrote {args.out}", flush=True)
    for rep in reports:
        for run in rep.runs:
            for cause, replayed in run.replays.items():
                if replayed and doc.same_answer(*replayed) and not cause.startswith(doc.TIMING):
                    print(f"  note: {rep.name} ({run.label}): {cause}: the mock answers the same (ours to fix)")
    return 0 if all(r.error is None and r.runs for r in reports) else 1


if __name__ == "__main__":
    sys.exit(main())
