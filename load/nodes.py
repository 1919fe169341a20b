"""Which node served how much: the mocks' own request counters, polled during the run.

The gateway does not say which node answered, and should not have to: each mock counts the
requests it received (`/_mock/stats` `requests_total`), so shares are read from the
upstream side, as MOCKS.md intends. Attempts that failed over count for the node that
failed them, which is what a routing check wants to see.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field

import gevent
import requests

from . import mockctl

log = logging.getLogger("load.nodes")


def parse_weights(spec: str | None) -> dict[str, float]:
    """"openai-a=3,openai-b=1" -> {"openai-a": 3.0, "openai-b": 1.0}."""
    out: dict[str, float] = {}
    for part in (spec or "").split(","):
        if not part.strip():
            continue
        name, sep, w = part.partition("=")
        try:
            out[name.strip()] = float(w)
        except ValueError:
            raise ValueError(f"--weights wants NAME=NUMBER,..., got {part!r}") from None
        if not sep or out[name.strip()] < 0:
            raise ValueError(f"--weights wants NAME=NUMBER,..., got {part!r}")
    return out


def expected_shares(weights: dict[str, float]) -> dict[str, float]:
    total = sum(weights.values())
    return {n: w / total for n, w in weights.items()} if total > 0 else {}


@dataclass
class Window:
    start: float  # seconds since the run started
    end: float
    counts: dict[str, int]

    @property
    def total(self) -> int:
        return sum(self.counts.values())

    def share(self, node: str) -> float:
        return self.counts.get(node, 0) / self.total if self.total else 0.0


@dataclass
class NodeWatch:
    mocks: dict[str, str]  # node name -> mock root URL
    interval_s: float = 0.5
    t0: float = 0.0
    points: list[tuple[float, dict[str, int]]] = field(default_factory=list)  # (t, requests since start)
    _base: dict[str, int] = field(default_factory=dict)
    _greenlet: gevent.Greenlet | None = None
    _session: requests.Session | None = None

    def start(self, t0: float) -> None:
        self.t0, self.points = t0, []
        self._session = requests.Session()
        self._base = {n: mockctl.stats(root, self._session)["requests_total"] for n, root in self.mocks.items()}
        self.points.append((time.time() - t0, dict.fromkeys(self.mocks, 0)))
        self._greenlet = gevent.spawn(self._loop)

    def _loop(self) -> None:
        while True:
            gevent.sleep(self.interval_s)
            self.poll()

    def poll(self) -> None:
        try:
            counts = {n: mockctl.stats(root, self._session)["requests_total"] - self._base[n]
                      for n, root in self.mocks.items()}
        except (requests.RequestException, KeyError, ValueError) as exc:
            log.warning("polling the mocks' stats failed: %s", exc)
            return
        self.points.append((time.time() - self.t0, counts))

    def stop(self) -> None:
        if self._greenlet is not None:
            self._greenlet.kill(block=True)
            self._greenlet = None
            self.poll()
        if self._session is not None:
            self._session.close()
            self._session = None

    # -- analysis --------------------------------------------------------------------------------
    def totals(self) -> dict[str, int]:
        return dict(self.points[-1][1]) if self.points else {}

    def shares(self) -> dict[str, float]:
        totals = self.totals()
        n = sum(totals.values())
        return {k: v / n for k, v in totals.items()} if n else {}

    def windows(self, min_requests: int = 1, since: float = float("-inf")) -> list[Window]:
        """Consecutive polling intervals starting at or after `since`, each merged with the next
        until it holds at least `min_requests` requests (a share of 3 requests says little)."""
        out: list[Window] = []
        pts = [p for p in self.points if p[0] >= since]
        i = 0
        while i < len(pts) - 1:
            start, base = pts[i]
            j = i + 1
            while j < len(pts) - 1 and sum(pts[j][1].values()) - sum(base.values()) < min_requests:
                j += 1
            end, counts = pts[j]
            out.append(Window(start, end, {n: counts[n] - base.get(n, 0) for n in counts}))
            i = j
        return out
