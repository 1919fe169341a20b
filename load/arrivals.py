"""Open-loop arrival schedules: when requests leave, whatever the target does.

`constant` sends every 1/R s; `poisson` draws exponential gaps (a memoryless stream of
independent users); `gamma` draws gamma gaps with shape B (`--burstiness`) and mean 1/R, as
`vllm bench serve` does: B = 1 is Poisson, B < 1 burstier (gaps' CV = 1/sqrt(B)), B > 1
smoother. Times are offsets from the schedule's start, summed from the gaps (absolute, so a
late request does not push the ones after it).
"""

from __future__ import annotations

import random
from collections.abc import Iterator
from dataclasses import dataclass

PATTERNS = ("constant", "poisson", "gamma")


@dataclass(frozen=True)
class Arrivals:
    rate: float  # requests per second
    pattern: str = "poisson"
    burstiness: float = 1.0  # gamma's shape
    seed: int | None = None

    def __post_init__(self) -> None:
        if not self.rate > 0:
            raise ValueError("--rate must be > 0 (requests per second)")
        if self.pattern not in PATTERNS:
            raise ValueError(f"--arrival must be one of {', '.join(PATTERNS)}")
        if not self.burstiness > 0:
            raise ValueError("--burstiness must be > 0")

    def gaps(self) -> Iterator[float]:
        rng = random.Random(self.seed)
        mean = 1.0 / self.rate
        while True:
            if self.pattern == "constant":
                yield mean
            elif self.pattern == "poisson":
                yield rng.expovariate(self.rate)
            else:
                yield rng.gammavariate(self.burstiness, mean / self.burstiness)

    def offsets(self) -> Iterator[float]:
        """Send times in seconds from the start: the first request leaves at 0."""
        t = 0.0
        for gap in self.gaps():
            yield t
            t += gap
