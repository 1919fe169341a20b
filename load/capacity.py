"""Benchmark (not a test): how many streaming users one Locust process sustains against the mock
before its own timing error passes 2 ms.

    python -m load.capacity [--users 10,25,50,100,200,300,400] [--seconds 10] [--out bench.json]

For each user count it runs the chat-stream scenario in one Locust process against an
upstream streaming at TTFT 150 ms / ITL 20 ms and, during the same seconds, a reference
client in this process: one stream at a time over a plain blocking socket, stamped the moment
`recv()` returns. Both see the same upstream and the same noisy machine (MEASURE.md: compare
in one run), so the difference of their TTFT and ITL is the load generator's own error; the
reference's distance from the configured 150 ms is the upstream's (and the machine's) share.
The answer is the largest user count whose TTFT and ITL p50 errors stay within 2 ms.

Upstreams: `--upstream mock` is `topapi mock openai`; on a 2-core machine it saturates first
(about 200 streams next to Locust: its own TTFT drifts by 100+ ms), which says nothing about
Locust. `--upstream fast` (default) is a few lines of uvloop writing pre-encoded chunks on
absolute deadlines: cheap enough that the load generator is what runs out.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import multiprocessing
import os
import re
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import httpx
import psutil

from .samples import percentile

LOCUSTFILE = Path(__file__).with_name("locustfile.py")
TTFT_MS, ITL_MS, MAX_TOKENS = 150.0, 20.0, 32
LIMIT_MS = 2.0
_TOKEN = re.compile(rb'"content":"[^"]')
_USAGE = re.compile(rb'"completion_tokens":(\d+)')


class Reference(threading.Thread):
    """One chat stream at a time, timed with nothing between recv() and the clock."""

    def __init__(self, host: str, port: int) -> None:
        super().__init__(daemon=True)
        body = json.dumps({"model": "gpt-4.1-mini", "stream": True, "stream_options": {"include_usage": True},
                           "max_tokens": MAX_TOKENS, "messages": [{"role": "user",
                                                                    "content": "Write a story about a magic backpack."}]})
        self.request = (f"POST /v1/chat/completions HTTP/1.1\r\nHost: {host}\r\nAuthorization: Bearer k\r\n"
                        f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\nConnection: close\r\n\r\n"
                        f"{body}").encode()
        self.addr = (host, port)
        self.ttft: list[float] = []
        self.itl: list[float] = []
        self.stop = threading.Event()

    def run(self) -> None:
        while not self.stop.is_set():
            self.once()

    def once(self) -> None:
        with socket.create_connection(self.addr) as s:
            s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            t0 = time.perf_counter()
            s.sendall(self.request)
            buf, first, last, tokens = b"", None, None, None
            while True:
                data = s.recv(65536)
                now = time.perf_counter()
                if not data:
                    break
                buf += data
                *lines, buf = buf.split(b"\n")
                for line in lines:
                    if _TOKEN.search(line):
                        first = first or now
                        last = now
                    elif m := _USAGE.search(line):
                        tokens = int(m.group(1))
                    elif line.startswith(b"data: [DONE]"):
                        data = b""
                if not data:
                    break
        if first is not None:
            self.ttft.append((first - t0) * 1000)
            if tokens and tokens > 1:
                self.itl.append((last - first) * 1000 / (tokens - 1))


def _chunk(data: bytes) -> bytes:
    return b"%x\r\n%s\r\n" % (len(data), data)


class FastUpstream(asyncio.Protocol):
    """HTTP/1.1 keep-alive; GET -> an empty model list, POST -> a chat stream of MAX_TOKENS tokens."""

    HEAD = (b"HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\ntransfer-encoding: chunked\r\n"
            b"cache-control: no-cache\r\n\r\n")
    ROLE = _chunk(b'data: {"choices":[{"index":0,"delta":{"role":"assistant","content":""}}]}\n\n')
    TOKEN = _chunk(b'data: {"choices":[{"index":0,"delta":{"content":" word"}}],"usage":null}\n\n')
    END = (_chunk(b'data: {"choices":[],"usage":{"prompt_tokens":8,"completion_tokens":%d,"total_tokens":%d}}\n\n'
                  % (MAX_TOKENS, MAX_TOKENS + 8)) + _chunk(b"data: [DONE]\n\n") + b"0\r\n\r\n")
    MODELS = b"HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: 27\r\n\r\n" \
             b'{"object":"list","data":[]}'

    def connection_made(self, transport: Any) -> None:
        self.transport, self.buf = transport, b""

    def data_received(self, data: bytes) -> None:
        self.buf += data
        while (end := self.buf.find(b"\r\n\r\n")) >= 0:
            m = re.search(rb"(?i)content-length:\s*(\d+)", self.buf[:end])
            size = end + 4 + (int(m.group(1)) if m else 0)
            if len(self.buf) < size:
                return
            request, self.buf = self.buf[:size], self.buf[size:]
            self.answer(request.startswith(b"GET"))

    def answer(self, get: bool) -> None:
        if get:
            self.transport.write(self.MODELS)
            return
        loop, t = asyncio.get_running_loop(), self.transport
        t0 = loop.time()
        t.write(self.HEAD + self.ROLE)
        for k in range(MAX_TOKENS):  # the end goes with the last token: equal deadlines need not keep order
            data = self.TOKEN + self.END if k == MAX_TOKENS - 1 else self.TOKEN
            loop.call_at(t0 + (TTFT_MS + k * ITL_MS) / 1000, self._write, data)

    def _write(self, data: bytes) -> None:
        if not self.transport.is_closing():
            self.transport.write(data)


def _serve_fast(port: int) -> None:
    import uvloop

    async def main() -> None:
        server = await asyncio.get_running_loop().create_server(FastUpstream, "127.0.0.1", port, backlog=4096)
        await server.serve_forever()

    uvloop.run(main())


def start_fast(port: int) -> multiprocessing.process.BaseProcess:
    proc = multiprocessing.get_context("spawn").Process(target=_serve_fast, args=(port,), daemon=True)
    proc.start()
    for _ in range(200):
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            break
        except OSError:
            time.sleep(0.05)
    return proc


def start_mock(port: int) -> subprocess.Popen:
    proc = subprocess.Popen([sys.executable, "-m", "topapi.cli", "mock", "openai", "--port", str(port),
                             "--ttft-ms", str(TTFT_MS), "--itl-ms", str(ITL_MS)],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, stdin=subprocess.DEVNULL)
    for _ in range(200):
        try:
            httpx.get(f"http://127.0.0.1:{port}/_mock/stats", timeout=1)
            break
        except httpx.HTTPError:
            time.sleep(0.1)
    Reference("127.0.0.1", port).once()  # the mock compiles its validators on the first request
    return proc


def step(port: int, users: int, seconds: float, warmup_s: float) -> dict[str, Any]:
    with tempfile.TemporaryDirectory() as report:
        cmd = [sys.executable, "-m", "locust", "-f", str(LOCUSTFILE), "--headless", "--host",
               f"http://127.0.0.1:{port}", "-u", str(users), "-r", str(max(1, users // 2)),
               "-t", f"{warmup_s + seconds:g}s", "--scenario", "chat-stream", "--max-tokens", str(MAX_TOKENS),
               "--warmup-s", str(warmup_s), "--report-dir", report, "--only-summary", "--loglevel", "ERROR"]
        proc = subprocess.Popen(cmd, env={**os.environ, "TOPAPI_API_KEY": "k"}, stdout=subprocess.DEVNULL,
                                stderr=subprocess.DEVNULL, stdin=subprocess.DEVNULL)
        ps = psutil.Process(proc.pid)
        time.sleep(warmup_s)
        ref = Reference("127.0.0.1", port)
        ref.start()
        ps.cpu_percent()
        cpu = []
        while proc.poll() is None:
            time.sleep(1.0)
            try:
                cpu.append(ps.cpu_percent())
            except psutil.NoSuchProcess:
                break
        ref.stop.set()
        ref.join(10)
        summary = json.loads((Path(report) / "summary.json").read_text())
    m = summary["metrics"]
    rt, ri = sorted(ref.ttft), sorted(ref.itl)
    errors = {k: v for e in summary["endpoints"].values() for k, v in e["first_errors"].items()}
    out = {"users": users, "requests": summary["requests"], "errors": summary["errors"], "first_errors": errors,
           "locust_cpu_pct": round(statistics.median(cpu[1:-1] or cpu or [0.0]), 1),
           "ttft_p50": m["ttft_ms"]["p50"], "ttft_p95": m["ttft_ms"]["p95"], "itl_p50": m["itl_ms"]["p50"],
           "ref_requests": len(rt), "ref_ttft_p50": round(percentile(rt, 50), 3) if rt else None,
           "ref_ttft_p95": round(percentile(rt, 95), 3) if rt else None,
           "ref_itl_p50": round(percentile(ri, 50), 3) if ri else None}
    if rt and m["ttft_ms"]["count"]:
        out["ttft_p50_error"] = round(m["ttft_ms"]["p50"] - out["ref_ttft_p50"], 3)
        out["ttft_p95_error"] = round(m["ttft_ms"]["p95"] - out["ref_ttft_p95"], 3)
    if ri and m["itl_ms"]["count"]:
        out["itl_p50_error"] = round(m["itl_ms"]["p50"] - out["ref_itl_p50"], 3)
    return out


def _row(r: dict[str, Any]) -> str:
    def f(key: str) -> float:
        v = r.get(key)
        return float("nan") if v is None else v

    return (f"{r['users']:6d} {r['requests']:6d} {r['errors']:4d} {r['locust_cpu_pct']:5.0f} {f('ttft_p50'):9.2f} "
            f"{f('ref_ttft_p50'):8.2f} {f('ttft_p50_error'):8.2f} {f('itl_p50'):8.2f} {f('ref_itl_p50'):8.2f} "
            f"{f('itl_p50_error'):8.2f}")


def holds(rounds: list[dict[str, Any]]) -> bool:
    """The median round: no errors, TTFT and ITL p50 within LIMIT_MS of the reference."""
    def med(key: str) -> float:
        return statistics.median(abs(r.get(key, 99.0)) for r in rounds)

    errors = statistics.median(r["errors"] for r in rounds)
    return errors == 0 and med("ttft_p50_error") <= LIMIT_MS and med("itl_p50_error") <= LIMIT_MS


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--users", default="50,100,200,300,400,600,800")
    p.add_argument("--seconds", type=float, default=10.0, help="measured seconds per round")
    p.add_argument("--rounds", type=int, default=3, help="rounds per user count; the median round decides")
    p.add_argument("--warmup-s", type=float, default=4.0, help="ramp-up left out of each round")
    p.add_argument("--upstream", choices=("fast", "mock"), default="fast")
    p.add_argument("--out", type=Path, help="write every round as JSON here")
    args = p.parse_args(argv)
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    upstream = start_fast(port) if args.upstream == "fast" else start_mock(port)
    steps, sustained = [], 0
    print(f"{'users':>6} {'req':>6} {'err':>4} {'cpu%':>5} {'TTFT p50':>9} {'ref p50':>8} {'diff':>8} "
          f"{'ITL p50':>8} {'ref ITL':>8} {'diff':>8}", flush=True)
    try:
        for users in (int(u) for u in args.users.split(",")):
            rounds = []
            for _ in range(args.rounds):
                rounds.append(step(port, users, args.seconds, args.warmup_s))
                print(_row(rounds[-1]), flush=True)
            steps += rounds
            if not holds(rounds):
                break
            sustained = users
    finally:
        upstream.terminate()
        upstream.join(10) if isinstance(upstream, multiprocessing.process.BaseProcess) else upstream.wait(10)
    print(f"one Locust process sustains {sustained} streaming users with its TTFT and ITL p50 within "
          f"{LIMIT_MS:g} ms of the reference client in the median of {args.rounds} rounds ({args.upstream} "
          f"upstream: TTFT {TTFT_MS:g} ms, ITL {ITL_MS:g} ms, {MAX_TOKENS} tokens)")
    if args.out:
        args.out.write_text(json.dumps({"upstream": args.upstream, "sustained_users": sustained, "rounds": steps},
                                       indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
