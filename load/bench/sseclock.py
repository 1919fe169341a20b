"""`python -m load.bench.sseclock --port P`: a stream server that writes its send time into each event.

The stream client's accuracy check: every chat chunk carries `"bench_sent": time.perf_counter()`
taken just before the bytes are written (CLOCK_MONOTONIC, the same clock in every process
of the machine), so the client's stamp minus `bench_sent` is exactly how late the client
saw the event: loopback plus its own scheduling, the error of every TTFT and ITL it reports.
The TTFT/ITL schedule comes from the request (`x-ttft-ms`, `x-itl-ms` headers, defaults
150/20) and the number of tokens from "write N words". HTTP/1.1 keep-alive, chunked.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import re
import sys
import time

import orjson

WORDS = re.compile(rb"[Ww]rite (\d+) words")


async def serve_one(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> bool:
    """One request/response on the connection; False when the client is gone."""
    try:
        head = await reader.readuntil(b"\r\n\r\n")
    except (asyncio.IncompleteReadError, asyncio.LimitOverrunError, ConnectionError):
        return False
    headers = {}
    for line in head.split(b"\r\n")[1:]:
        name, _, value = line.partition(b":")
        headers[name.strip().lower()] = value.strip()
    body = await reader.readexactly(int(headers.get(b"content-length", b"0")))
    m = WORDS.search(body)
    tokens = int(m.group(1)) if m else 20
    ttft = float(headers.get(b"x-ttft-ms", b"150")) / 1000
    itl = float(headers.get(b"x-itl-ms", b"20")) / 1000
    writer.write(b"HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\ntransfer-encoding: chunked\r\n\r\n")

    def event(obj: dict) -> None:
        data = b"data: " + orjson.dumps(obj) + b"\n\n"
        writer.write(b"%x\r\n%s\r\n" % (len(data), data))

    start = time.perf_counter()
    event({"choices": [{"index": 0, "delta": {"role": "assistant", "content": ""}}]})
    for i in range(tokens):
        due = start + ttft + i * itl
        await asyncio.sleep(max(0.0, due - time.perf_counter()))
        event({"choices": [{"index": 0, "delta": {"content": "word "}}], "bench_sent": time.perf_counter()})
    event({"choices": [], "usage": {"prompt_tokens": 5, "completion_tokens": tokens, "total_tokens": tokens + 5}})
    data = b"data: [DONE]\n\n"
    writer.write(b"%x\r\n%s\r\n0\r\n\r\n" % (len(data), data))
    try:
        await writer.drain()
    except ConnectionError:
        return False
    return True


async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    try:
        while await serve_one(reader, writer):
            pass
    finally:
        writer.close()


async def main_async(port: int) -> None:
    server = await asyncio.start_server(handle, "127.0.0.1", port, backlog=1024)
    print(f"sseclock on http://127.0.0.1:{port}", flush=True)
    async with server:
        await server.serve_forever()


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m load.bench.sseclock", description=__doc__.split("\n\n")[0])
    ap.add_argument("--port", type=int, required=True)
    args = ap.parse_args(argv)
    import uvloop

    with contextlib.suppress(KeyboardInterrupt):
        uvloop.run(main_async(args.port))
    return 0


if __name__ == "__main__":
    sys.exit(main())
