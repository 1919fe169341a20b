"""What converting a stream costs: the same OpenAI mock, the same gateway, the same model, streamed to a
chat client (same dialect: relayed event by event, unchanged) and to a Gemini client (converted: every
chat chunk parsed and re-rendered as a GenerateContentResponse).

    python -m load.bench.convert [--streams 20] [--seconds 6] [--rounds 4] [--json FILE]

Rounds are interleaved (chat, gemini, chat, gemini, ...) so both see the same machine; the difference
of the p50s over all rounds is the conversion's cost. The machine's load average is printed with the
numbers: on a shared host a wall-clock difference below the run-to-run spread means "not measurable",
and the per-round differences show that spread.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

from . import configs
from .procs import pinned
from .stats import summary

DIALECTS = {"chat": configs.CHAT_PATH, "gemini": f"/v1beta/models/{configs.MODEL}:streamGenerateContent?alt=sse"}
METRICS = ("ttft_ms", "itl_ms", "e2e_ms")


def stream_run(target: configs.Target, dialect: str, a: argparse.Namespace) -> dict[str, Any]:
    cmd = [sys.executable, "-m", "load.bench.streams", "--url", target.base_url + DIALECTS[dialect],
           "--dialect", dialect, "--streams", str(a.streams), "--seconds", str(a.seconds), "--words", str(a.words),
           "--model", configs.MODEL]
    for k, v in target.headers.items():
        cmd += ["--header", f"{k}: {v}"]
    out = subprocess.run(pinned(cmd, a.load_cpu), capture_output=True, text=True, timeout=a.seconds + 120)
    if out.returncode != 0:
        raise RuntimeError(out.stderr.strip()[-500:])
    result = json.loads(out.stdout)
    if not result["samples"] or result["errors"]:
        raise RuntimeError(f"{dialect}: {result['samples']} streams, {result['errors']} errors: "
                           f"{result['error_examples']}")
    return result


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m load.bench.convert", description=__doc__.split("\n\n")[0])
    ap.add_argument("--streams", type=int, default=20, help="concurrent streams per run")
    ap.add_argument("--seconds", type=float, default=6.0)
    ap.add_argument("--rounds", type=int, default=4)
    ap.add_argument("--words", type=int, default=40)
    ap.add_argument("--ttft-ms", type=float, default=50.0, help="the mock's time to first token")
    ap.add_argument("--itl-ms", type=float, default=10.0, help="the mock's inter-token latency")
    ap.add_argument("--gateway-cpu", type=int, default=0)
    ap.add_argument("--mock-cpu", type=int, default=1)
    ap.add_argument("--load-cpu", type=int, default=1)
    ap.add_argument("--json", type=Path)
    a = ap.parse_args(argv)
    logs = Path(tempfile.mkdtemp(prefix="bench-convert-"))
    mock = configs.Mock(cpu=a.mock_cpu, log_dir=logs, stamp_events=False)
    target = None
    runs: dict[str, list[dict[str, Any]]] = {d: [] for d in DIALECTS}
    load_before = os.getloadavg()
    try:
        target = configs.gateway(mock, cpu=a.gateway_cpu, log_dir=logs, state_dir=logs / "state")
        mock.configure(ttft_ms=a.ttft_ms, itl_ms=a.itl_ms)
        for r in range(a.rounds):
            for d in DIALECTS:
                res = stream_run(target, d, a)
                runs[d].append(res)
                print(f"round {r + 1} {d:6}: {res['samples']} streams  TTFT p50 {res['ttft_ms']['p50']:.2f}  "
                      f"ITL p50 {res['itl_ms']['p50']:.3f}  E2E p50 {res['e2e_ms']['p50']:.2f} ms  "
                      f"(load {os.getloadavg()[0]:.2f})", flush=True)
    finally:
        if target is not None and target.proc is not None:
            target.proc.stop()
        mock.stop()
    load_after = os.getloadavg()
    out: dict[str, Any] = {"streams": a.streams, "seconds": a.seconds, "rounds": a.rounds, "mock": {
        "ttft_ms": a.ttft_ms, "itl_ms": a.itl_ms}, "loadavg_before": load_before, "loadavg_after": load_after,
        "cpus": os.cpu_count(), "runs": runs}
    print(f"\nmock TTFT {a.ttft_ms:g} ms, ITL {a.itl_ms:g} ms; {a.streams} streams x {a.seconds:g} s x {a.rounds} "
          f"interleaved rounds; load average {load_before[0]:.2f} before, {load_after[0]:.2f} after "
          f"({os.cpu_count()} CPUs)")
    print("| metric | same dialect (chat) p50 | converted (chat -> Gemini) p50 | difference | per-round differences |")
    print("|---|---|---|---|---|")
    for m in METRICS:
        # p50 of the per-run p50s: robust to one noisy run
        same = summary([r[m]["p50"] for r in runs["chat"]])["p50"]
        conv = summary([r[m]["p50"] for r in runs["gemini"]])["p50"]
        rounds = [g[m]["p50"] - c[m]["p50"] for c, g in zip(runs["chat"], runs["gemini"], strict=True)]
        out[m] = {"same_p50": same, "converted_p50": conv, "difference": conv - same, "per_round": rounds}
        print(f"| {m} | {same:.3f} | {conv:.3f} | {conv - same:+.3f} | {', '.join(f'{x:+.3f}' for x in rounds)} |")
    if a.json:
        a.json.write_text(json.dumps(out, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
