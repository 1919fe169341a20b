"""Benchmark (not a test): timing accuracy of the mock's latency profile, and its plain throughput.

    python -m mocks.bench [--streams 200] [--ttft-ms 150] [--itl-ms 20] [--tokens 50] [--json FILE]

Method. The mock runs as `topapi mock openai` in its own process pinned to core 0; the
client (aiohttp on uvloop, this process) is pinned to core 1. Timings are taken on the
client with `time.perf_counter()` (uvloop's `loop.time()` only has 1 ms resolution), so they
include the loopback and the client's own scheduling: an upper bound of the mock's error.
1. Steady load (the goal: TTFT within 2 ms of the setting at p99 at 200 streams):
   N workers, each on its own kept-alive connection (all opened before timing starts), run
   streaming chat requests back to back for `--seconds`. Their first requests are spread
   evenly over one stream's duration, so N streams are in flight at every moment without
   all starting in the same millisecond; streams started during that ramp-up are not counted.
   TTFT = request body written (aiohttp's trace hook) -> first chunk with content (a role-only
   chunk is no token);
   ITL per request = (t_last - t_first) / (tokens - 1), tokens from the final usage;
   gaps = every inter-token gap (their max is the worst stall).
2. Burst (informative): N streams started at the same instant on warm connections. The
   mock does each request's work (parse, validate, answer) before its first token can be
   paced, so the last of N simultaneous arrivals waits for the N-1 before it.
3. Requests/s of non-streaming chat completions, no latency, at 1 and 50 connections.
With --realtime, runs 1 and 2 put the mock and the client under SCHED_FIFO, so that other
processes of a shared machine cannot delay them: the numbers then show the mock's own error.
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
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime

import aiohttp
import orjson

from specs import sse

from .serving import free_port

HEADERS = {"content-type": "application/json", "authorization": "Bearer bench"}  # the mocks require a key
BODY = {"model": "gpt-4.1-mini", "messages": [{"role": "user", "content": "Write 50 words about a relay."}]}
CHAT = "/v1/chat/completions"
REALTIME_PRIORITY = 20  # SCHED_FIFO priority of both processes with --realtime
now = time.perf_counter


def pct(values: list[float], p: float) -> float:
    s = sorted(values)
    if not s:
        return float("nan")
    k = (len(s) - 1) * p / 100
    lo = int(k)
    hi = min(lo + 1, len(s) - 1)
    return s[lo] + (s[hi] - s[lo]) * (k - lo)


@contextlib.contextmanager
def mock_process(*flags: str, cpu: int | None = None, realtime: bool = False) -> Iterator[str]:
    with mock_proc(*flags, cpu=cpu, realtime=realtime) as (base, _):
        yield base


@contextlib.contextmanager
def mock_proc(*flags: str, cpu: int | None = None, realtime: bool = False) -> Iterator[tuple[str, int]]:
    """(root URL, pid of the mock's Python process)."""
    port = free_port()
    cmd = [sys.executable, "-m", "topapi.cli", "mock", "openai", "--port", str(port), *flags]
    if realtime:
        cmd = ["chrt", "-f", str(REALTIME_PRIORITY), *cmd]
    if cpu is not None and hasattr(os, "sched_setaffinity"):
        cmd = ["taskset", "-c", str(cpu), *cmd]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, text=True)
    try:
        if not proc.stdout.readline():  # the URL line: printed once the server listens
            raise RuntimeError(f"the mock did not start: {' '.join(cmd)}")
        yield f"http://127.0.0.1:{port}", proc.pid  # taskset and chrt exec the mock: the same pid
    finally:
        proc.terminate()
        with contextlib.suppress(subprocess.TimeoutExpired):
            proc.wait(5)
        if proc.poll() is None:
            proc.kill()


@dataclass
class Stream:
    start: float
    ttft: float = float("nan")  # ms
    tokens: int = 0  # from usage
    stamps: list[float] = field(default_factory=list)  # arrival of each content chunk

    @property
    def itl(self) -> float | None:
        if self.tokens < 2 or len(self.stamps) < 2:
            return None
        return (self.stamps[-1] - self.stamps[0]) * 1000 / (self.tokens - 1)

    @property
    def gaps(self) -> list[float]:
        return [(b - a) * 1000 for a, b in zip(self.stamps, self.stamps[1:], strict=False)]


def sent_stamps() -> aiohttp.TraceConfig:
    """Stamps when a request's body was written (`trace_request_ctx["sent"]`): aiohttp prepares a
    request, then may yield before writing it, so 200 streams started at once are stamped over ~10 ms
    of the client's own preparation before the first one leaves; TTFT counts from the write."""
    tc = aiohttp.TraceConfig()

    async def sent(session: object, ctx: object, params: object) -> None:
        stamps = getattr(ctx, "trace_request_ctx", None)
        if isinstance(stamps, dict) and "sent" not in stamps:
            stamps["sent"] = now()

    tc.on_request_chunk_sent.append(sent)
    return tc


async def one_stream(session: aiohttp.ClientSession, url: str, body: bytes) -> Stream:
    s = Stream(start=now())
    dec = sse.Decoder()
    stamps: dict[str, float] = {}
    async with session.post(url, data=body, headers=HEADERS, trace_request_ctx=stamps) as resp:
        s.start = stamps.get("sent", s.start)
        resp.raise_for_status()
        async for chunk in resp.content.iter_any():
            t = now()
            for ev in dec.feed(chunk):
                if ev.is_done:
                    continue
                obj = orjson.loads(ev.data)
                if not obj["choices"]:
                    s.tokens = obj["usage"]["completion_tokens"]
                elif obj["choices"][0]["delta"].get("content"):
                    s.stamps.append(t)
    if s.stamps:
        s.ttft = (s.stamps[0] - s.start) * 1000
    return s


def stream_body(tokens: int) -> bytes:
    return orjson.dumps({**BODY, "stream": True, "stream_options": {"include_usage": True},
                         "messages": [{"role": "user", "content": f"Write {tokens} words about a relay."}]})


async def warm(session: aiohttp.ClientSession, base: str, n: int) -> None:
    """Open n kept-alive connections (n requests at once), so that no timed request pays a connect."""
    async def ping() -> None:
        async with session.get(base + "/v1/models", headers=HEADERS) as r:
            await r.read()

    await asyncio.gather(*(ping() for _ in range(n)))


def summary(streams: list[Stream], ttft_ms: float, itl_ms: float) -> dict[str, float]:
    ttft = [s.ttft for s in streams]
    itl = [v for s in streams if (v := s.itl) is not None]
    gaps = [g for s in streams for g in s.gaps]
    return {"samples": len(streams), "ttft_ms_p50": pct(ttft, 50), "ttft_ms_p99": pct(ttft, 99),
            "ttft_ms_max": max(ttft), "ttft_error_ms_p50": pct(ttft, 50) - ttft_ms,
            "ttft_error_ms_p99": pct(ttft, 99) - ttft_ms, "itl_ms_p50": pct(itl, 50), "itl_ms_p99": pct(itl, 99),
            "gap_ms_p50": pct(gaps, 50), "gap_ms_p99": pct(gaps, 99), "gap_ms_max": max(gaps),
            "tokens_per_stream": pct([s.tokens for s in streams], 50), "itl_configured_ms": itl_ms}


async def steady(base: str, streams: int, tokens: int, ttft_ms: float, itl_ms: float, seconds: float) -> dict:
    body, url = stream_body(tokens), base + CHAT
    ramp = (ttft_ms + (tokens - 1) * itl_ms) / 1000  # one stream's duration
    done: list[Stream] = []
    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=0), trace_configs=[sent_stamps()]) as session:
        await warm(session, base, streams)
        t0 = now()
        stop = t0 + ramp + seconds

        async def worker(i: int) -> None:
            await asyncio.sleep(ramp * i / streams)
            while now() < stop:
                done.append(await one_stream(session, url, body))

        await asyncio.gather(*(worker(i) for i in range(streams)))
    counted = [s for s in done if s.start >= t0 + ramp]
    return summary(counted, ttft_ms, itl_ms)


async def burst(base: str, streams: int, tokens: int, ttft_ms: float, itl_ms: float) -> dict:
    body, url = stream_body(tokens), base + CHAT
    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=0), trace_configs=[sent_stamps()]) as session:
        await warm(session, base, streams)
        results = await asyncio.gather(*(one_stream(session, url, body) for _ in range(streams)))
    return summary(list(results), ttft_ms, itl_ms)


async def throughput(base: str, concurrency: int, seconds: float, pid: int | None = None,
                     distinct: bool = False) -> dict[str, float]:
    """Non-streamed chat completions as fast as `concurrency` connections go. With the mock's pid, also its
    CPU time per request: requests per CPU-second is what one core serves, whatever else the machine
    runs (wall-clock req/s on a shared machine is mostly the other jobs). `distinct`: every body differs
    (a new prompt each time), as in a real workload, so nothing per body can be remembered."""
    import psutil

    url = base + CHAT
    done = 0
    proc = psutil.Process(pid) if pid else None
    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=0)) as session:
        await warm(session, base, concurrency)
        stop = now() + seconds

        async def worker(w: int) -> None:
            nonlocal done
            i = 0
            while now() < stop:
                i += 1
                content = f"Write 50 words about relay {w}-{i}." if distinct else BODY["messages"][0]["content"]
                body = orjson.dumps({**BODY, "messages": [{"role": "user", "content": content}]})
                async with session.post(url, data=body, headers=HEADERS) as r:
                    await r.read()
                    done += r.status == 200

        cpu0 = sum(proc.cpu_times()[:2]) if proc else 0.0
        t0 = now()
        await asyncio.gather(*(worker(w) for w in range(concurrency)))
        wall = now() - t0
        cpu = sum(proc.cpu_times()[:2]) - cpu0 if proc else 0.0
    out = {"rps": done / wall, "requests": done}
    if proc and done:
        out.update(cpu_us_per_request=cpu / done * 1e6, rps_per_core=done / cpu if cpu else float("nan"))
    return out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m mocks.bench", description=__doc__.split("\n\n")[0])
    ap.add_argument("--streams", type=int, default=200)
    ap.add_argument("--ttft-ms", type=float, default=150)
    ap.add_argument("--itl-ms", type=float, default=20)
    ap.add_argument("--tokens", type=int, default=50)
    ap.add_argument("--seconds", type=float, default=6, help="measured time of the steady-load run")
    ap.add_argument("--rps-seconds", type=float, default=4, help="duration of each throughput run")
    ap.add_argument("--realtime", action="store_true",
                    help="run the mock and the client under SCHED_FIFO (needs CAP_SYS_NICE): on a shared, busy "
                         "machine other processes then cannot delay them, and the numbers show the mock's own error")
    ap.add_argument("--json", help="also write the results to this file")
    args = ap.parse_args(argv)
    import uvloop

    with contextlib.suppress(OSError):
        os.sched_setaffinity(0, {1})  # the client on core 1, the mock on core 0
    if args.realtime:
        os.sched_setscheduler(0, os.SCHED_FIFO, os.sched_param(REALTIME_PRIORITY))
    result: dict = {"date": datetime.now(UTC).isoformat(timespec="seconds"), "machine": {
        "cpus": os.cpu_count(), "python": platform.python_version(), "platform": platform.platform(),
        "loadavg_before": os.getloadavg()},  # shared machines: other work skews every timing
        "settings": {"streams": args.streams, "ttft_ms": args.ttft_ms, "itl_ms": args.itl_ms, "tokens": args.tokens,
                     "seconds": args.seconds, "realtime": args.realtime}}
    timing = ("--ttft-ms", str(args.ttft_ms), "--itl-ms", str(args.itl_ms))
    with mock_process(*timing, cpu=0, realtime=args.realtime) as base:
        result["steady"] = uvloop.run(steady(base, args.streams, args.tokens, args.ttft_ms, args.itl_ms, args.seconds))
    with mock_process(*timing, cpu=0, realtime=args.realtime) as base:
        result["burst"] = uvloop.run(burst(base, args.streams, args.tokens, args.ttft_ms, args.itl_ms))
    if args.realtime:  # throughput runs keep both cores busy: never starve other processes for them
        os.sched_setscheduler(0, os.SCHED_OTHER, os.sched_param(0))
    with mock_proc(cpu=0) as (base, pid):
        result["rps"] = {f"c{c}": uvloop.run(throughput(base, c, args.rps_seconds, pid)) for c in (1, 50)}
        result["rps"]["c50_distinct"] = uvloop.run(throughput(base, 50, args.rps_seconds, pid, distinct=True))

    print(f"{args.streams} concurrent streams, TTFT {args.ttft_ms:g} ms / ITL {args.itl_ms:g} ms configured, "
          f"{args.tokens} tokens each")
    for name in ("steady", "burst"):
        r = result[name]
        print(f"  {name:6s} n={r['samples']:<5d} TTFT p50 {r['ttft_ms_p50']:.2f} ms (error {r['ttft_error_ms_p50']:+.2f})"
              f"  p99 {r['ttft_ms_p99']:.2f} ms (error {r['ttft_error_ms_p99']:+.2f})  max {r['ttft_ms_max']:.2f}"
              f" | ITL p50 {r['itl_ms_p50']:.2f} p99 {r['itl_ms_p99']:.2f} ms | gap p99 {r['gap_ms_p99']:.2f}"
              f" max {r['gap_ms_max']:.2f} ms")
    r = result["rps"]
    print(f"non-streaming chat, mock pinned to one core: {r['c1']['rps']:.0f} req/s at 1 connection, "
          f"{r['c50']['rps']:.0f} req/s at 50 (this client's pace on this machine)")
    for name, label in (("c50", "the same body"), ("c50_distinct", "a new prompt each request")):
        print(f"  mock CPU per request, {label}: {r[name]['cpu_us_per_request']:.0f} us = "
              f"{r[name]['rps_per_core']:.0f} req/s per core")
    print(f"load average before: {result['machine']['loadavg_before'][0]:.1f} on {result['machine']['cpus']} CPUs")
    if args.json:
        with open(args.json, "w") as fh:
            json.dump(result, fh, indent=2)
    return 0


if __name__ == "__main__":
    sys.exit(main())
