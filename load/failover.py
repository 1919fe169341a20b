"""The failover scenario: make one node fail mid-run through `/_mock/config`, later let it recover,
and read from the mocks' counters how fast the gateway routed around it and took it back.

Definitions (resolution: the stats polling interval):
- route_around_s: fault injected -> end of the first window in which the failing node's share
  of the requests reaching the mocks is at most ROUTED_AROUND x its expected share.
- share_while_failing: its share from then until the recovery.
- recover_s: fault cleared -> end of the first window in which its share is back to at least
  RECOVERED x its expected share (a breaker's cool-down is part of this, by design).
- error_rate_during_fault: client-visible errors among the requests sent while it failed.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field
from typing import Any

import gevent

from . import mockctl
from .nodes import NodeWatch
from .samples import Sample

log = logging.getLogger("load.failover")

ROUTED_AROUND = 0.1
RECOVERED = 0.5
MIN_WINDOW_REQUESTS = 20
DEFAULT_FAULT = {"rate": 1.0, "kind": "status", "status": 500}


@dataclass
class FaultSchedule:
    node: str
    root: str
    fail_at_s: float
    recover_at_s: float
    fault: dict[str, Any] = field(default_factory=lambda: dict(DEFAULT_FAULT))
    failed_t: float | None = None  # seconds since the run started, when it happened
    recovered_t: float | None = None
    _previous: dict[str, Any] | None = None
    _greenlet: gevent.Greenlet | None = None

    def start(self, t0: float) -> None:
        self.failed_t = self.recovered_t = None
        self._greenlet = gevent.spawn(self._run, t0)

    def _run(self, t0: float) -> None:
        gevent.sleep(max(0.0, t0 + self.fail_at_s - time.time()))
        self._previous = mockctl.get_config(self.root)["fault"]
        mockctl.set_config(self.root, {"fault": self.fault})
        self.failed_t = time.time() - t0
        log.warning("failover: node %s now fails (%s) at t=%.1fs", self.node, self.fault, self.failed_t)
        gevent.sleep(max(0.0, t0 + self.recover_at_s - time.time()))
        self._restore()
        self.recovered_t = time.time() - t0
        log.warning("failover: node %s recovered at t=%.1fs", self.node, self.recovered_t)

    def _restore(self) -> None:
        mockctl.set_config(self.root, {"fault": self._previous or {"rate": 0.0}})
        self._previous = None

    def stop(self) -> None:
        """End of the run: never leave the node failing."""
        if self._greenlet is not None:
            self._greenlet.kill(block=True)
            self._greenlet = None
        if self._previous is not None:
            self._restore()


def analyse(schedule: FaultSchedule, watch: NodeWatch, expected_share: float,
            samples: list[Sample]) -> dict[str, Any]:
    node, out = schedule.node, {"node": schedule.node, "fault": schedule.fault,
                                "fault_at_s": schedule.failed_t, "recover_at_s": schedule.recovered_t,
                                "route_around_s": None, "share_while_failing": None, "recover_s": None,
                                "error_rate_during_fault": None}
    if schedule.failed_t is None:
        return out
    until = schedule.recovered_t if schedule.recovered_t is not None else float("inf")
    routed_at = None
    for w in watch.windows(MIN_WINDOW_REQUESTS, since=schedule.failed_t):
        if w.start >= until:
            break
        if w.share(node) <= ROUTED_AROUND * expected_share:
            routed_at = w.end
            out["route_around_s"] = round(w.end - schedule.failed_t, 3)
            break
    if routed_at is not None:
        during = [w for w in watch.windows(1, since=routed_at) if w.end <= until]
        n = sum(w.total for w in during)
        if n:
            out["share_while_failing"] = round(sum(w.counts.get(node, 0) for w in during) / n, 4)
    if schedule.recovered_t is not None:
        for w in watch.windows(MIN_WINDOW_REQUESTS, since=schedule.recovered_t):
            if w.share(node) >= RECOVERED * expected_share:
                out["recover_s"] = round(w.end - schedule.recovered_t, 3)
                break
    t0 = watch.t0
    hit = [s for s in samples if schedule.failed_t <= s.t - t0 < until]
    if hit:
        out["error_rate_during_fault"] = round(sum(not s.ok for s in hit) / len(hit), 5)
    out["requests_during_fault"] = len(hit)
    return out
