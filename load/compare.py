"""Benchmark (not a test): `topapi load` side by side with GuideLLM and AIPerf against the same mock.

    python -m load.compare [--rate 10] [--seconds 20] [--streams 50,100,200] [--work /tmp/topapi-compare]

Each peer is `pip install`ed into a virtualenv of its own under --work (never a dependency of
this project). The mock is `topapi mock openai --ttft-ms 150 --itl-ms 20` pinned to core 0; the
load generators run on core 1, one after the other, asking for 64-token prompts and 32-token
answers. Both peers need a Hugging Face tokenizer, which cannot be downloaded here: the script
writes a word-level one (the `tokenizers` package, our own vocabulary) and points them at its
directory. Reported per tool:
- at `--rate` requests/s (constant arrivals) for `--seconds`: TTFT p50/p99 and ITL p50 minus
  the mock's 150/20 ms, the achieved rate against the asked one, and the CPU time the tool's
  whole process tree used per request (start-up included; from getrusage of the finished run);
- for each `--streams N`: N concurrent streams (closed loop), TTFT p50 error: the most streams
  one tool drives with its error under 2 ms.
Prints a Markdown table and writes JSON next to it (`--json`).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import resource
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

TTFT_MS, ITL_MS, PROMPT, OUTPUT = 150.0, 20.0, 64, 32
MODEL = "gpt-4.1-mini"
PEERS = {"guidellm": "guidellm", "aiperf": "aiperf"}
TOKENIZER = """
import os, sys
from tokenizers import Tokenizer, models, pre_tokenizers
from transformers import PreTrainedTokenizerFast
words = sys.argv[2].split()
vocab = {"[UNK]": 0}
for w in words + [w.capitalize() for w in words] + list(".,!?:;0123456789"):
    vocab.setdefault(w, len(vocab))
tok = Tokenizer(models.WordLevel(vocab=vocab, unk_token="[UNK]"))
tok.pre_tokenizer = pre_tokenizers.Whitespace()
PreTrainedTokenizerFast(tokenizer_object=tok, unk_token="[UNK]", eos_token="[UNK]").save_pretrained(sys.argv[1])
"""


def venv(work: Path, name: str, say: Any) -> Path | None:
    """The peer's own virtualenv (created and pip-installed once); None when it cannot be installed."""
    env = work / f"{name}-venv"
    exe = env / "bin" / name
    if not exe.exists():
        say(f"installing {name} into {env} (pip install {PEERS[name]})")
        subprocess.run([sys.executable, "-m", "venv", str(env)], check=True)
        r = subprocess.run([str(env / "bin" / "pip"), "install", "-q", PEERS[name]], capture_output=True, text=True)
        if r.returncode != 0 or not exe.exists():
            say(f"{name} did not install: {r.stderr.strip().splitlines()[-1:]}")
            return None
    return env


@contextlib.contextmanager
def mock() -> Iterator[str]:
    from mocks.serving import free_port

    port = free_port()
    proc = subprocess.Popen(["taskset", "-c", "0", sys.executable, "-m", "topapi.cli", "mock", "openai", "--port",
                             str(port), "--ttft-ms", str(TTFT_MS), "--itl-ms", str(ITL_MS)],
                            stdout=subprocess.PIPE, text=True)
    try:
        proc.stdout.readline()
        yield f"http://127.0.0.1:{port}"
    finally:
        proc.terminate()
        proc.wait(10)


def timed(cmd: list[str], cwd: Path, timeout: float) -> tuple[subprocess.CompletedProcess, float]:
    """Run on core 1; returns the result and the CPU seconds of its whole (waited-for) process tree."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    r = subprocess.run(["taskset", "-c", "1", *cmd], cwd=cwd, capture_output=True, text=True, timeout=timeout,
                       stdin=subprocess.DEVNULL)
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    if r.returncode not in (0, 1):
        raise RuntimeError(f"{cmd[0]} failed ({r.returncode}): {(r.stdout + r.stderr)[-1500:]}")
    return r, cpu


def run_topapi(base: str, out: Path, rate: float | None, streams: int | None, seconds: float) -> dict[str, Any]:
    out.parent.mkdir(parents=True, exist_ok=True)
    mode = ["--rate", str(rate), "--arrival", "constant"] if rate else ["-u", str(streams), "-r", str(streams)]
    _, cpu = timed([sys.executable, "-m", "topapi.cli", "load", "--base-url", base, "--api-key", "x", "--scenario",
                    "chat-stream", *mode, "-t", f"{seconds:g}s", "--warmup-s", "2", "--prompt-tokens", str(PROMPT),
                    "--output-tokens", str(OUTPUT), "--report-dir", str(out)], out.parent, seconds * 4 + 120)
    s = json.loads((out / "summary.json").read_text())
    m = s["metrics"]
    return {"ttft_p50": m["ttft_ms"]["p50"], "ttft_p99": m["ttft_ms"]["p99"], "itl_p50": m["itl_ms"]["p50"],
            "requests": s["requests"], "achieved_rps": s.get("achieved_rps", s["rps"]), "cpu_s": cpu}


def run_guidellm(env: Path, tok: Path, base: str, out: Path, rate: float | None, streams: int | None,
                 seconds: float) -> dict[str, Any]:
    out.mkdir(parents=True, exist_ok=True)
    profile = f"kind=constant,rate={rate}" if rate else f"kind=concurrent,streams={streams}"
    _, cpu = timed([str(env / "bin" / "guidellm"), "run", "--backend",
                    f"kind=openai_http,target={base},model={MODEL},api_key=x,validate_backend=false",
                    "--profile", profile, "--constraint", f"kind=max_duration,seconds={seconds:g}",
                    "--tokenizer", f"kind=hf_auto,model={tok}", "--data",
                    f"kind=synthetic_text,prompt_tokens={PROMPT},output_tokens={OUTPUT}",
                    "--output", f"kind=json,path={out / 'guidellm.json'}", "--disable-console-interactive"],
                   out, seconds * 4 + 180)
    b = json.loads((out / "guidellm.json").read_text())["benchmarks"][0]
    m = b["metrics"]

    def p(name: str, q: str) -> float:
        return m[name]["successful"]["percentiles"][q]

    count = m["time_to_first_token_ms"]["successful"]["count"]
    return {"ttft_p50": p("time_to_first_token_ms", "p50"), "ttft_p99": p("time_to_first_token_ms", "p99"),
            "itl_p50": p("inter_token_latency_ms", "p50"), "requests": count,
            "achieved_rps": count / b["duration"] if b.get("duration") else None, "cpu_s": cpu}


def run_aiperf(env: Path, tok: Path, base: str, out: Path, rate: float | None, streams: int | None,
               seconds: float) -> dict[str, Any]:
    out.mkdir(parents=True, exist_ok=True)
    mode = ["--request-rate", str(rate)] if rate else ["--concurrency", str(streams)]
    _, cpu = timed([str(env / "bin" / "aiperf"), "profile", "--model", MODEL, "--url", base, "--endpoint-type",
                    "chat", "--streaming", "--api-key", "x", *mode, "--benchmark-duration", f"{seconds:g}",
                    "--tokenizer", str(tok), "--isl", str(PROMPT), "--osl", str(OUTPUT), "--artifact-dir",
                    str(out / "art"), "--ui-type", "none"], out, seconds * 4 + 180)
    a = json.loads((out / "art" / "profile_export_aiperf.json").read_text())
    return {"ttft_p50": a["time_to_first_token"]["p50"], "ttft_p99": a["time_to_first_token"]["p99"],
            "itl_p50": a["inter_token_latency"]["p50"], "requests": int(a["request_count"]["avg"]),
            "achieved_rps": a["request_throughput"]["avg"], "cpu_s": cpu}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m load.compare", description=__doc__.split("\n\n")[0])
    ap.add_argument("--rate", type=float, default=10.0)
    ap.add_argument("--seconds", type=float, default=20.0)
    ap.add_argument("--streams", default="50,100,200", help="concurrent streams to try (closed loop)")
    ap.add_argument("--tools", default="topapi,guidellm,aiperf")
    ap.add_argument("--work", type=Path, default=Path("/tmp/topapi-compare"))
    ap.add_argument("--json", type=Path, default=None)
    args = ap.parse_args(argv)
    args.work.mkdir(parents=True, exist_ok=True)

    def say(msg: str) -> None:
        print(msg, file=sys.stderr, flush=True)

    from load.workload import VOCABULARY

    envs: dict[str, Path | None] = {}
    tok = args.work / "tokenizer"
    for name in ("guidellm", "aiperf"):
        if name in args.tools:
            envs[name] = venv(args.work, name, say)
    usable = [e for e in envs.values() if e is not None]
    if usable and not (tok / "tokenizer.json").exists():
        words = " ".join(VOCABULARY) + " Write words about the following relay"
        subprocess.run([str(usable[0] / "bin" / "python"), "-c", TOKENIZER, str(tok), words], check=True)
    runners = {"topapi": lambda base, out, rate, n: run_topapi(base, out, rate, n, args.seconds)}
    if envs.get("guidellm"):
        runners["guidellm"] = lambda base, out, rate, n: run_guidellm(envs["guidellm"], tok, base, out, rate, n,
                                                                       args.seconds)
    if envs.get("aiperf"):
        runners["aiperf"] = lambda base, out, rate, n: run_aiperf(envs["aiperf"], tok, base, out, rate, n,
                                                                   args.seconds)
    runners = {k: v for k, v in runners.items() if k in args.tools}
    result: dict[str, Any] = {"loadavg_before": os.getloadavg(), "rate": args.rate, "seconds": args.seconds,
                              "mock": {"ttft_ms": TTFT_MS, "itl_ms": ITL_MS}, "rate_runs": {}, "stream_runs": {}}
    with mock() as base:
        for name, run in runners.items():
            say(f"{name}: {args.rate:g} requests/s for {args.seconds:g} s")
            try:
                result["rate_runs"][name] = run(base, args.work / name / "rate", args.rate, None)
            except Exception as exc:  # a peer that fails here is reported, not fatal
                result["rate_runs"][name] = {"error": str(exc)[-400:]}
            for n in [int(x) for x in args.streams.split(",") if x.strip()]:
                say(f"{name}: {n} concurrent streams")
                try:
                    result["stream_runs"].setdefault(name, {})[n] = run(base, args.work / name / f"c{n}", None, n)
                except Exception as exc:
                    result["stream_runs"].setdefault(name, {})[n] = {"error": str(exc)[-400:]}
                time.sleep(1)
    result["loadavg_after"] = os.getloadavg()
    print(table(result))
    if args.json:
        args.json.write_text(json.dumps(result, indent=2))
    return 0


def table(r: dict[str, Any]) -> str:
    rows = ["| tool | TTFT p50 error | TTFT p99 error | ITL p50 error | achieved / asked rate | CPU per request "
            "| streams within 2 ms (TTFT p50 error per N) |", "|---|---|---|---|---|---|---|"]
    for name, d in r["rate_runs"].items():
        streams = r["stream_runs"].get(name, {})
        per_n = ", ".join(f"{n}: " + (f"{s['ttft_p50'] - TTFT_MS:+.2f}" if "error" not in s else "failed")
                          for n, s in streams.items())
        ok = [int(n) for n, s in streams.items() if "error" not in s and abs(s["ttft_p50"] - TTFT_MS) <= 2.0]
        if "error" in d:
            rows.append(f"| {name} | failed: {d['error'][:120]} | | | | | {per_n} |")
            continue
        rows.append(f"| {name} | {d['ttft_p50'] - TTFT_MS:+.2f} ms | {d['ttft_p99'] - TTFT_MS:+.2f} ms | "
                    f"{d['itl_p50'] - ITL_MS:+.3f} ms | {d['achieved_rps']:.2f} / {r['rate']:g} | "
                    f"{d['cpu_s'] / max(d['requests'], 1) * 1000:.1f} ms ({d['requests']} requests) | "
                    f"{max(ok) if ok else 'none'} ({per_n}) |")
    return "\n".join(rows)


if __name__ == "__main__":
    sys.exit(main())
