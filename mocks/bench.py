"""Benchmark (not a test): timing accuracy of the mock's latency profile, and its plain throughput.

    python -m mocks.bench [--streams 200] [--ttft-ms 150] [--itl-ms 20] [--tokens 50] [--json FILE]

1. Starts `topapi mock openai` in its own process with the latency profile, opens N
   concurrent streaming chat requests with aiohttp (uvloop) from this process, and reports
   TTFT p50/p99 and ITL p50/p99 against the settings (error = measured - configured).
2. Restarts the mock with no latency, pinned to one core, and reports requests/s of
   non-streaming chat completions at 1 and 50 concurrent connections.
The client runs on the other core; both timings are taken on the client side, so they
include the loopback and the client's own scheduling: an upper bound of the mock's error.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import platform
import subprocess
import sys
import time
from datetime import UTC, datetime

import aiohttp

from specs import sse

from .serving import free_port

BODY = {"model": "gpt-4.1-mini", "messages": [{"role": "user", "content": "Write 50 words about a relay."}]}


def pct(values: list[float], p: float) -> float:
    s = sorted(values)
    if not s:
        return float("nan")
    k = (len(s) - 1) * p / 100
    lo = int(k)
    hi = min(lo + 1, len(s) - 1)
    return s[lo] + (s[hi] - s[lo]) * (k - lo)


@contextlib.contextmanager
def mock_process(*flags: str, cpu: int | None = None):
    port = free_port()
    cmd = [sys.executable, "-m", "topapi.cli", "mock", "openai", "--port", str(port), *flags]
    if cpu is not None and hasattr(os, "sched_setaffinity"):
        cmd = ["taskset", "-c", str(cpu), *cmd]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        proc.stdout.readline()  # the URL line: the server is listening
        yield f"http://127.0.0.1:{port}"
    finally:
        proc.terminate()
        with contextlib.suppress(subprocess.TimeoutExpired):
            proc.wait(5)
        if proc.poll() is None:
            proc.kill()


async def one_stream(session: aiohttp.ClientSession, url: str, body: bytes) -> tuple[float, list[float]]:
    loop = asyncio.get_running_loop()
    t0 = loop.time()
    first = None
    stamps: list[float] = []
    dec = sse.Decoder()
    async with session.post(url, data=body, headers={"content-type": "application/json"}) as resp:
        resp.raise_for_status()
        async for chunk in resp.content.iter_any():
            now = loop.time()
            for ev in dec.feed(chunk):
                if ev.is_done:
                    continue
                delta = ev.json()["choices"][0]["delta"] if ev.json().get("choices") else {}
                if delta.get("content"):
                    stamps.append(now)
                    if first is None:
                        first = now
    return (first - t0) * 1000, [(b - a) * 1000 for a, b in zip(stamps, stamps[1:], strict=False)]


async def stream_accuracy(base: str, streams: int, tokens: int) -> dict[str, float]:
    body = json.dumps({**BODY, "stream": True,
                       "messages": [{"role": "user", "content": f"Write {tokens} words about a relay."}]}).encode()
    conn = aiohttp.TCPConnector(limit=0)
    async with aiohttp.ClientSession(connector=conn) as session:
        await one_stream(session, base + "/v1/chat/completions", body)  # warm-up
        results = await asyncio.gather(*(one_stream(session, base + "/v1/chat/completions", body)
                                         for _ in range(streams)))
    ttft = [r[0] for r in results]
    itl = [g for r in results for g in r[1]]
    return {"ttft_p50": pct(ttft, 50), "ttft_p99": pct(ttft, 99), "ttft_max": max(ttft),
            "itl_p50": pct(itl, 50), "itl_p99": pct(itl, 99), "samples_ttft": len(ttft), "samples_itl": len(itl)}


async def throughput(base: str, concurrency: int, seconds: float) -> float:
    body = json.dumps(BODY).encode()
    url = base + "/v1/chat/completions"
    done = 0
    stop = time.perf_counter() + seconds

    async def worker(session: aiohttp.ClientSession) -> None:
        nonlocal done
        while time.perf_counter() < stop:
            async with session.post(url, data=body, headers={"content-type": "application/json"}) as r:
                await r.read()
                done += r.status == 200

    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=0)) as session:
        await asyncio.gather(*(worker(session) for _ in range(concurrency)))
    return done / seconds


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m mocks.bench", description=__doc__.split("\n\n")[0])
    ap.add_argument("--streams", type=int, default=200)
    ap.add_argument("--ttft-ms", type=float, default=150)
    ap.add_argument("--itl-ms", type=float, default=20)
    ap.add_argument("--tokens", type=int, default=50)
    ap.add_argument("--seconds", type=float, default=5, help="duration of each throughput run")
    ap.add_argument("--json", help="also write the results to this file")
    args = ap.parse_args(argv)
    import uvloop

    with contextlib.suppress(OSError):
        os.sched_setaffinity(0, {1})  # the client on core 1, the mock on core 0
    result: dict = {"date": datetime.now(UTC).isoformat(timespec="seconds"), "machine": {
        "cpus": os.cpu_count(), "python": platform.python_version(), "platform": platform.platform()},
        "settings": {"streams": args.streams, "ttft_ms": args.ttft_ms, "itl_ms": args.itl_ms, "tokens": args.tokens}}
    with mock_process("--ttft-ms", str(args.ttft_ms), "--itl-ms", str(args.itl_ms), cpu=0) as base:
        acc = uvloop.run(stream_accuracy(base, args.streams, args.tokens))
    result["streams"] = acc
    with mock_process(cpu=0) as base:
        result["rps"] = {f"c{c}": uvloop.run(throughput(base, c, args.seconds)) for c in (1, 50)}
    print(f"{args.streams} concurrent streams, TTFT {args.ttft_ms:g} ms / ITL {args.itl_ms:g} ms configured")
    print(f"  TTFT p50 {acc['ttft_p50']:.2f} ms (error {acc['ttft_p50'] - args.ttft_ms:+.2f})   "
          f"p99 {acc['ttft_p99']:.2f} ms (error {acc['ttft_p99'] - args.ttft_ms:+.2f})   max {acc['ttft_max']:.2f}")
    print(f"  ITL  p50 {acc['itl_p50']:.2f} ms (error {acc['itl_p50'] - args.itl_ms:+.2f})   "
          f"p99 {acc['itl_p99']:.2f} ms   ({acc['samples_itl']} gaps)")
    print(f"non-streaming chat, mock pinned to one core: {result['rps']['c1']:.0f} req/s at 1 connection, "
          f"{result['rps']['c50']:.0f} req/s at 50")
    if args.json:
        with open(args.json, "w") as fh:
            json.dump(result, fh, indent=2)
    return 0


if __name__ == "__main__":
    sys.exit(main())
