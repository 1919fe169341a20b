"""`python -m load.bench.mockproc [--stamp-events] FLAGS...`: `topapi mock openai FLAGS...` for the
benchmark (`--stamp-events`: see `stamp_events`); without it, exactly `topapi mock openai`.

(The benchmark used to patch the mock's request validation here, because jsonschema made the
plain mock slower than the gateway in front of it; the mocks now validate with a compiled
validator in microseconds, so the benchmark runs the plain mock.)
"""

from __future__ import annotations

import sys
from typing import Any

STAMPED_PREFIX = b"data: {"


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


FLAGS = {"--stamp-events": stamp_events}


def main(argv: list[str]) -> int:
    while argv[:1] and argv[0] in FLAGS:
        FLAGS[argv[0]]()
        argv = argv[1:]
    from topapi.cli import main as topapi_main

    return topapi_main(["mock", "openai", *argv])


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
