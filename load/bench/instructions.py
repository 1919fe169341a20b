"""Instructions per request under callgrind: the relay's and the gateway's CPU work, counted
rather than timed, so that the number repeats to a fraction of a percent on a busy machine.

`python -m load.bench.instructions` (needs valgrind). The mock runs normally; each configuration
runs under `valgrind --tool=callgrind --instr-atstart=no`. After warm-up requests the harness
switches instrumentation on, sends more warm-up requests, zeroes the counters, sends N sequential
chat completions on one keep-alive connection, waits for the usage writer's linger, dumps the
counters and divides the instruction total (every thread of the process) by N.

What it is for: a change to the hot path shows here as a repeatable delta (the same build gives
the same count within ~0.3 %), where wall-clock numbers on a shared machine move 10-15 % from run
to run. What it is not: a latency. Under valgrind everything runs tens of times slower, so the
usage writer commits smaller batches than at full speed (its per-batch cost weighs more), and
waiting (the network, the mock) costs nothing.
"""

from __future__ import annotations

import argparse
import http.client
import json
import shutil
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path
from urllib.parse import urlsplit

from . import configs
from .__main__ import chat_body
from .report import machine

CONFIGS = ("relay", "gateway", "gateway-redis")  # gateway-redis: limits and spend shared through Redis


def available() -> bool:
    return bool(shutil.which("valgrind") and shutil.which("callgrind_control"))


def callgrind(out_file: Path) -> list[str]:
    return ["valgrind", "--tool=callgrind", "--instr-atstart=no", f"--callgrind-out-file={out_file}"]


def send(target: configs.Target, n: int, body: bytes) -> None:
    """`n` chat completions one after the other on one keep-alive connection; each must answer 200."""
    url = urlsplit(target.base_url)
    conn = http.client.HTTPConnection(url.hostname, url.port, timeout=120)
    headers = {**target.headers, "content-type": "application/json"}
    try:
        for _ in range(n):
            conn.request("POST", configs.CHAT_PATH, body=body, headers=headers)
            resp = conn.getresponse()
            answer = resp.read()
            if resp.status != 200:
                raise RuntimeError(f"{target.name} answered {resp.status}: {answer[:200]!r}")
    finally:
        conn.close()


def total_instructions(dump: str) -> int:
    """The `totals:` (or `summary:`) line of a callgrind dump: instructions executed (event Ir)."""
    for line in dump.splitlines():
        if line.startswith(("totals:", "summary:")):
            return int(line.split()[1])
    raise ValueError("not a callgrind dump: no totals line")


def control(*args: str) -> None:
    subprocess.run(["callgrind_control", *args], check=True, capture_output=True, timeout=120)


def measure(target: configs.Target, dump_base: Path, *, requests: int, warmup: int, linger_s: float) -> int:
    body = chat_body()
    send(target, warmup, body)  # uninstrumented: imports, caches, connection pools
    control("-i", "on", str(target.pid))
    send(target, 50, body)  # instrumented but not counted: callgrind's own code cache
    control("-z", str(target.pid))
    send(target, requests, body)
    time.sleep(linger_s)  # the usage records of these requests are committed after a linger
    control("-d", str(target.pid))
    control("-i", "off", str(target.pid))
    dumps = sorted(dump_base.parent.glob(dump_base.name + ".*"), key=lambda p: p.stat().st_mtime)
    if not dumps:
        raise RuntimeError(f"callgrind wrote no dump for {target.name}")
    return total_instructions(dumps[-1].read_text())


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m load.bench.instructions", description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    p.add_argument("--targets", default=",".join(CONFIGS), help=f"comma-separated, from {', '.join(CONFIGS)}")
    p.add_argument("--requests", type=int, default=300, help="counted requests per configuration")
    p.add_argument("--warmup", type=int, default=200, help="requests before instrumentation")
    p.add_argument("--json", type=Path, help="write the results here too")
    p.add_argument("--redis-url", default="redis://127.0.0.1:6379/0", help="the Redis of gateway-redis")
    p.add_argument("--gateway-args", default="", help="more `topapi serve` flags for the gateways, e.g. "
                   "'--sync-interval 0' (background polls add instructions in proportion to the run's wall time)")
    args = p.parse_args(argv)
    names = [n.strip() for n in args.targets.split(",") if n.strip()]
    unknown = sorted(set(names) - set(CONFIGS))
    if unknown or not names:
        p.error(f"unknown --targets {', '.join(unknown) or '(none)'}; known: {', '.join(CONFIGS)}")
    if args.requests < 1:
        p.error("--requests must be at least 1")
    if not available():
        print("valgrind (with callgrind_control) is not installed: apt-get install -y valgrind", file=sys.stderr)
        return 2
    work = Path(tempfile.mkdtemp(prefix="topapi-instr-"))
    mock = configs.Mock(cpu=None, log_dir=work)
    results: dict[str, float] = {}
    try:
        for name in names:
            dump_base = work / f"{name}.callgrind"
            wrap = callgrind(dump_base)
            if name == "gateway-redis" and not configs.redis_answers(args.redis_url):
                print(f"{name:8s} skipped: no Redis answers at {args.redis_url} (--redis-url)", flush=True)
                continue
            # under valgrind everything is ~50x slower: Redis's 0.25 s time-out would flap up and down
            slow = ["--redis-timeout", "5"] if name == "gateway-redis" else []
            target = (configs.relay(mock, cpu=None, log_dir=work, wrap=wrap) if name == "relay" else
                      configs.gateway(mock, cpu=None, log_dir=work, state_dir=work / f"{name}-state", wrap=wrap,
                                      redis_url=args.redis_url if name == "gateway-redis" else None,
                                      extra_args=[*slow, *args.gateway_args.split()]))
            try:
                total = measure(target, dump_base, requests=args.requests, warmup=args.warmup, linger_s=0.5)
            finally:
                target.proc.stop()
            results[name] = total / args.requests
            print(f"{name:8s} {results[name] / 1e6:8.3f} M instructions per request", flush=True)
    finally:
        mock.stop()
        shutil.rmtree(work, ignore_errors=True)
    print()
    print(table(results))
    if args.json:
        args.json.write_text(json.dumps({
            "date": datetime.now(UTC).isoformat(timespec="seconds"), "machine": machine(),
            "requests": args.requests, "instructions_per_request": results,
            "vs_relay": {n: v / results["relay"] for n, v in results.items()} if "relay" in results else {},
        }, indent=2))
        print(f"\nwrote {args.json}")
    return 0


def table(results: dict[str, float]) -> str:
    relay = results.get("relay")
    rows = ["| configuration | instructions per request | vs relay |", "|---|---|---|"]
    for name, value in results.items():
        share = f"{value / relay:.2f}x" if relay else "-"
        rows.append(f"| {name} | {value / 1e6:.3f} M | {share} |")
    return "\n".join(rows)


if __name__ == "__main__":
    sys.exit(main())
