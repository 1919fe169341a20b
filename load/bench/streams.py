"""Streaming timings at N concurrent streams: TTFT, ITL and stalls (MEASURE.md's definitions).

    python -m load.bench.streams --url URL [--header 'Name: value']... [--streams 100] [--seconds 8]

Runs in its own process (the benchmark pins it to the load core) so that nothing else in the
harness shares its event loop. aiohttp on uvloop, reading whatever bytes have arrived
(`iter_any`, no 1 KiB batching) and stamping each SSE event when its bytes arrive:
- TTFT: request sent -> first event with non-empty `delta.content`;
- ITL: (t_last_token - t_first_token) / (N - 1), N = the stream's `usage.completion_tokens`
  (asked for with `include_usage`; the number of content events when a target drops usage);
- stall: the largest gap between two content events.
N workers each run streams back to back for the duration; worker i starts i/N of `--ramp`
seconds late (no synchronized bursts of new connections), and every finished stream counts.
Prints one JSON object on stdout.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import time
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

import aiohttp
import orjson

from specs import sse
from specs.streams import SEMANTICS

from .stats import summary

# uvloop's loop.time() ticks in whole milliseconds (libuv's cached clock): too coarse for ITL
clock = time.perf_counter


@dataclass(slots=True)
class Sample:
    ttft_ms: float
    itl_ms: float | None  # None for a one-token answer
    stall_ms: float
    e2e_ms: float
    tokens: int
    usage: bool
    late_ms: list[float]  # client stamp - `bench_sent` (sseclock; the bench's mock), per stamped event
    first_late_ms: float | None = None  # the same for the first event with content: the path's share of TTFT


def body(model: str, words: int, dialect: str = "chat") -> bytes:
    prompt = f"Write {words} words about a relay."
    if dialect == "gemini":
        return orjson.dumps({"contents": [{"role": "user", "parts": [{"text": prompt}]}]})
    if dialect == "responses":
        return orjson.dumps({"model": model, "stream": True, "input": prompt})
    return orjson.dumps({"model": model, "stream": True, "stream_options": {"include_usage": True},
                         "messages": [{"role": "user", "content": prompt}]})


def measure(t0: float, end: float, stamped: Iterable[tuple[float, Any]], dialect: str = "chat") -> Sample:
    """One stream's timings from its decoded events, each with the `clock()` time its bytes arrived;
    `t0` when the request was sent, `end` when the stream closed. What carries output and usage is
    specs/streams.py's rule for `dialect` (the gateway meters by the same one)."""
    sem = SEMANTICS[dialect]
    first = last = None
    gap = 0.0
    events = 0
    usage_tokens: int | None = None
    late: list[float] = []
    first_late = None
    for now, data in stamped:
        if not isinstance(data, dict):
            continue
        usage = sem.usage(data)
        if usage is not None:
            usage_tokens = usage[1]
        sent = data.get("bench_sent")
        if sent is not None:
            late.append((now - sent) * 1000)
        if sem.output(data):
            if first is None:
                first = now
                first_late = (now - sent) * 1000 if sent is not None else None
            elif now - last > gap:
                gap = now - last
            last = now
            events += 1
    if first is None:
        raise RuntimeError("the stream carried no content")
    n = usage_tokens or events
    itl = (last - first) / (n - 1) * 1000 if n > 1 else None
    return Sample((first - t0) * 1000, itl, gap * 1000, (end - t0) * 1000, n, usage_tokens is not None, late,
                  first_late)


async def one(session: aiohttp.ClientSession, url: str, payload: bytes, headers: dict[str, str],
              dialect: str = "chat") -> Sample:
    dec = sse.Decoder()
    stamped: list[tuple[float, Any]] = []  # (arrival, decoded data): the timings are computed at the end
    t0 = clock()
    async with session.post(url, data=payload, headers=headers) as resp:
        if resp.status != 200:
            raise RuntimeError(f"HTTP {resp.status}: {(await resp.read())[:200]!r}")
        async for chunk in resp.content.iter_any():
            now = clock()
            stamped += ((now, ev.json()) for ev in dec.feed(chunk) if not ev.is_done)
    return measure(t0, clock(), stamped, dialect)


async def run(url: str, headers: dict[str, str], *, streams: int, seconds: float, ramp_s: float,
              model: str, words: int, dialect: str = "chat") -> dict:
    payload = body(model, words, dialect)
    hs = {"content-type": "application/json", **headers}
    samples: list[Sample] = []
    errors: list[str] = []
    loop = asyncio.get_running_loop()
    deadline = loop.time() + ramp_s + seconds

    async def worker(i: int, session: aiohttp.ClientSession) -> None:
        await asyncio.sleep(ramp_s * i / streams)
        while loop.time() < deadline:
            try:
                s = await one(session, url, payload, hs, dialect)
            except (aiohttp.ClientError, RuntimeError, TimeoutError) as exc:
                errors.append(f"{type(exc).__name__}: {exc}"[:300])
                await asyncio.sleep(0.05)
                continue
            samples.append(s)

    timeout = aiohttp.ClientTimeout(total=60)
    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=0), timeout=timeout,
                                     auto_decompress=False) as session:
        await asyncio.gather(*(worker(i, session) for i in range(streams)))
    itl = [s.itl_ms for s in samples if s.itl_ms is not None]
    late = [x for s in samples for x in s.late_ms]
    first_late = [s.first_late_ms for s in samples if s.first_late_ms is not None]
    # the ITL error of a request: how much later its last token was seen than its first, per gap
    itl_err = [(s.late_ms[-1] - s.late_ms[0]) / (len(s.late_ms) - 1) for s in samples if len(s.late_ms) > 1]
    accuracy = {"lateness_ms": summary(late), "ttft_error_ms": summary([s.late_ms[0] for s in samples if s.late_ms]),
                "itl_error_ms": summary(itl_err)} if late else None
    return {"streams": streams, "seconds": seconds, "samples": len(samples), "errors": len(errors),
            "error_examples": sorted(set(errors))[:3],
            "ttft_ms": summary([s.ttft_ms for s in samples]), "itl_ms": summary(itl),
            "stall_ms": summary([s.stall_ms for s in samples]), "e2e_ms": summary([s.e2e_ms for s in samples]),
            "tokens_mean": sum(s.tokens for s in samples) / len(samples) if samples else 0,
            "usage_share": sum(s.usage for s in samples) / len(samples) if samples else 0,
            **({"accuracy": accuracy} if accuracy else {}),
            **({"first_token_late_ms": summary(first_late)} if first_late else {})}


def header(text: str) -> tuple[str, str]:
    """`--header 'Name: value'` as (name, value); anything else is a usage error, not a crash."""
    name, colon, value = text.partition(":")
    if not colon or not name.strip():
        raise argparse.ArgumentTypeError(f"expected 'Name: value', got {text!r}")
    return name.strip(), value.strip()


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m load.bench.streams", description=__doc__.split("\n\n")[0])
    ap.add_argument("--url", required=True, help="the chat completions URL")
    ap.add_argument("--header", action="append", default=[], type=header, help="'Name: value', repeatable")
    ap.add_argument("--streams", type=int, default=100)
    ap.add_argument("--seconds", type=float, default=8.0, help="how long new streams are started")
    ap.add_argument("--ramp", type=float, default=1.0, help="seconds over which the workers start")
    ap.add_argument("--model", default="gpt-4.1-mini")
    ap.add_argument("--words", type=int, default=40, help="answer length asked of the mock")
    ap.add_argument("--dialect", choices=sorted(SEMANTICS), default="chat",
                    help="the stream's dialect (the URL must answer in it; Gemini: ...:streamGenerateContent?alt=sse)")
    args = ap.parse_args(argv)
    headers = dict(args.header)
    import uvloop

    result = uvloop.run(run(args.url, headers, streams=args.streams, seconds=args.seconds, ramp_s=args.ramp,
                            model=args.model, words=args.words, dialect=args.dialect))
    json.dump(result, sys.stdout)
    sys.stdout.write("\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
