"""`python -m load.bench.mockproc [--memo-validation] [--stamp-events] FLAGS...`: `topapi mock openai FLAGS...`
for the benchmark (`--stamp-events`: see `stamp_events`).

Without `--memo-validation` this is exactly `topapi mock openai`. With it, the mock's request
schema check (`MockServer.check_request`, jsonschema over the OpenAPI document) runs once per
distinct valid body instead of on every request: measured with py-spy, that check is ~60% of
the mock's time per chat completion (2.3k req/s -> 6.5k req/s on one core), and a benchmark
whose upstream is the slowest process measures the upstream. Answers are byte for byte the
same (the check only raises; invalid bodies are never remembered, so they still get their 400).
"""

from __future__ import annotations

import sys
from typing import Any

import orjson

MEMO_SIZE = 1024  # distinct bodies remembered; the benchmark sends two
STAMPED_PREFIX = b"data: {"


def memoise_validation() -> None:
    from mocks.server import MockServer

    check = MockServer.check_request
    valid: set[tuple[str, bytes]] = set()

    def check_request(self: MockServer, body: Any, schema: str) -> None:
        key = (schema, orjson.dumps(body))
        if key in valid:
            return
        check(self, body, schema)  # raises on an invalid body
        if len(valid) < MEMO_SIZE:
            valid.add(key)

    MockServer.check_request = check_request  # type: ignore[method-assign]


def stamp_events() -> None:
    """Every streamed JSON event gets `"bench_sent": time.perf_counter()` as its first member, taken
    right before the event is written: CLOCK_MONOTONIC, one clock for every process of the machine,
    so the stream client's arrival stamp minus it is how long the event took from the mock's
    socket to the client, whatever path it took (the gateway relays events byte for byte). It
    leaves out the mock's own lateness in pacing, which on a busy load core is the larger noise."""
    import time

    from mocks.server import Ctx

    paced = Ctx._paced

    async def stamped(self: Ctx, frames: Any) -> Any:
        async for data in paced(self, frames):
            if data.startswith(STAMPED_PREFIX):
                data = b'data: {"bench_sent":%r,' % time.perf_counter() + data[len(STAMPED_PREFIX):]
            yield data

    Ctx._paced = stamped  # type: ignore[method-assign]


FLAGS = {"--memo-validation": memoise_validation, "--stamp-events": stamp_events}


def main(argv: list[str]) -> int:
    while argv[:1] and argv[0] in FLAGS:
        FLAGS[argv[0]]()
        argv = argv[1:]
    from topapi.cli import main as topapi_main

    return topapi_main(["mock", "openai", *argv])


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
