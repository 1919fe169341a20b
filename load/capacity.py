"""Benchmark (not a test): how many streaming users one Locust process sustains against the mock
before its own timing error passes 2 ms.

    python -m load.capacity [--users 10,25,50,100,200,300,400] [--seconds 10] [--out bench.json]

For each user count it runs the chat-stream scenario in one Locust process against
`topapi mock openai --ttft-ms 150 --itl-ms 20` and, during the same seconds, a reference
client in this process: one stream at a time over a plain blocking socket, stamped the moment
`recv()` returns. Both see the same mock and the same noisy machine (MEASURE.md: compare in
one run), so the difference of their TTFT and ITL is the load generator's own error; the
reference's distance from the configured 150 ms is the mock's (and the machine's) share.
The answer is the largest user count whose TTFT p50 error stays within 2 ms.
"""

from __future__ import annotations

import argparse
import json
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
        if first is not None:
            self.ttft.append((first - t0) * 1000)
            if tokens and tokens > 1:
                self.itl.append((last - first) * 1000 / (tokens - 1))


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
    out = {"users": users, "requests": summary["requests"], "errors": summary["errors"],
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


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--users", default="10,25,50,100,200,300,400,600")
    p.add_argument("--seconds", type=float, default=10.0, help="measured seconds per step")
    p.add_argument("--warmup-s", type=float, default=4.0, help="ramp-up left out of each step")
    p.add_argument("--out", type=Path, help="write the steps as JSON here")
    args = p.parse_args(argv)
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    mock = start_mock(port)
    steps, sustained = [], 0
    print(f"{'users':>6} {'req':>6} {'cpu%':>5} {'TTFT p50':>9} {'ref p50':>8} {'err p50':>8} {'err p95':>8} "
          f"{'ITL p50':>8} {'ref ITL':>8} {'err ITL':>8}", flush=True)
    try:
        for users in (int(u) for u in args.users.split(",")):
            r = step(port, users, args.seconds, args.warmup_s)
            steps.append(r)
            print(f"{users:6d} {r['requests']:6d} {r['locust_cpu_pct']:5.0f} {r['ttft_p50']:9.2f} "
                  f"{r['ref_ttft_p50']:8.2f} {r.get('ttft_p50_error', float('nan')):8.2f} "
                  f"{r.get('ttft_p95_error', float('nan')):8.2f} {r['itl_p50']:8.2f} {r['ref_itl_p50']:8.2f} "
                  f"{r.get('itl_p50_error', float('nan')):8.2f}", flush=True)
            ok = r["errors"] == 0 and abs(r.get("ttft_p50_error", 99)) <= LIMIT_MS \
                and abs(r.get("itl_p50_error", 99)) <= LIMIT_MS
            if not ok:
                break
            sustained = users
    finally:
        mock.terminate()
        mock.wait(10)
    print(f"one Locust process sustains {sustained} streaming users with its TTFT and ITL p50 within "
          f"{LIMIT_MS:g} ms of the reference client (TTFT {TTFT_MS:g} ms, ITL {ITL_MS:g} ms, {MAX_TOKENS} tokens)")
    if args.out:
        args.out.write_text(json.dumps({"sustained_users": sustained, "steps": steps}, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
