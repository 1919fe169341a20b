"""Read an SSE response as it arrives and time it (TTFB, TTFT, ITL, stall, E2E).

Why line by line: Locust's `FastResponse.iter_content(1024)` (and its `iter_lines()`) waits
for 1024 bytes before it yields, so SSE events arrive in batches, TTFT reads hundreds of ms
too high and ITL too low (MEASURE.md). geventhttpclient's `readline()` returns as soon as
one line is in, so each line gets the time its bytes arrived; parsing happens after the
timestamp is taken and never delays it.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from specs import sse

from .dialects import DIALECTS, Seen

perf = time.perf_counter


@dataclass(slots=True)
class StreamClock:
    """perf_counter() instants of one request, and what its stream said."""

    sent: float
    headers: float | None = None
    first: float | None = None  # first event carrying output
    last: float | None = None  # last event carrying output
    stall: float = 0.0  # largest gap between two output events (s)
    output_events: int = 0
    tokens: int | None = None  # from the stream's usage
    done: bool = False
    error: str | None = None
    end: float | None = None

    def see(self, now: float, seen: Seen) -> None:
        if seen.output:
            if self.first is None:
                self.first = now
            else:
                self.stall = max(self.stall, now - self.last)
            self.last = now
            self.output_events += 1
        if seen.tokens is not None:
            self.tokens = seen.tokens
        if seen.error and self.error is None:
            self.error = seen.error
        if seen.done:
            self.done = True

    # -- metrics in milliseconds ------------------------------------------------------------
    def _ms(self, t: float | None) -> float | None:
        return None if t is None else (t - self.sent) * 1000.0

    @property
    def ttfb_ms(self) -> float | None:
        return self._ms(self.headers)

    @property
    def ttft_ms(self) -> float | None:
        return self._ms(self.first)

    @property
    def e2e_ms(self) -> float | None:
        return self._ms(self.end)

    @property
    def itl_ms(self) -> float | None:
        """(t_last_token - t_first_token) / (N - 1), N the output tokens of the stream's usage."""
        if self.first is None or self.tokens is None or self.tokens < 2:
            return None
        return (self.last - self.first) * 1000.0 / (self.tokens - 1)

    @property
    def stall_ms(self) -> float | None:
        return self.stall * 1000.0 if self.output_events >= 2 else None


def read_sse(raw: Any, dialect: str, clock: StreamClock) -> None:
    """Consume a geventhttpclient response body (`FastResponse._response`) into `clock`."""
    classify: Callable[[sse.Event], Seen] = DIALECTS[dialect]
    decoder = sse.Decoder()
    while True:
        line = raw.readline(b"\n")
        now = perf()
        if not line:
            break
        for ev in decoder.feed(line):
            clock.see(now, classify(ev))
    clock.end = perf()
    if clock.error is None and not clock.done:
        clock.error = "the stream ended before its end marker"
