"""Which node serves a request: priority tiers, weighted choice inside a tier, circuit breakers.

`Router.plan(model)` gives the order in which to try the nodes for one request: the
highest priority tier first, shuffled by weight inside each tier (weighted sampling
without replacement), nodes whose breaker is open left out. The relay walks the plan,
calls `acquire()` right before each attempt and reports it with `success()` / `failure()`.
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable
from dataclasses import dataclass, field


@dataclass(frozen=True, slots=True)
class Target:
    """A node as the relay uses it for one model."""

    node_id: int
    name: str
    provider: str
    base_url: str
    api_key: str
    weight: int
    priority: int
    upstream_model: str


class Breaker:
    """Per node: closed -> open after `threshold` consecutive failures -> half-open after
    `cooldown_s`, when one probe request may pass -> closed on its success, open again on failure."""

    __slots__ = ("threshold", "cooldown_s", "failures", "opened_at", "probing", "clock")

    def __init__(self, threshold: int, cooldown_s: float, clock: Callable[[], float]) -> None:
        self.threshold, self.cooldown_s, self.clock = threshold, cooldown_s, clock
        self.failures = 0
        self.opened_at: float | None = None
        self.probing = False

    @property
    def state(self) -> str:
        if self.opened_at is None:
            return "closed"
        return "half_open" if self.clock() - self.opened_at >= self.cooldown_s else "open"

    def allow(self) -> bool:
        """May a request go to this node now? In half-open, only one probe at a time."""
        state = self.state
        if state == "closed":
            return True
        if state == "half_open" and not self.probing:
            self.probing = True
            return True
        return False

    def success(self) -> None:
        self.failures = 0
        self.opened_at = None
        self.probing = False

    def failure(self) -> None:
        self.failures += 1
        if self.probing or self.failures >= self.threshold:
            self.opened_at = self.clock()
        self.probing = False


@dataclass
class Router:
    threshold: int = 5
    cooldown_s: float = 10.0
    clock: Callable[[], float] = time.monotonic
    rng: random.Random = field(default_factory=random.Random)
    by_model: dict[str, list[Target]] = field(default_factory=dict)
    breakers: dict[int, Breaker] = field(default_factory=dict)
    on_failure: Callable[[Target], None] | None = None  # each failed attempt (the metrics count them)

    def load(self, targets: dict[str, list[Target]]) -> None:
        """New routing table (after an admin write); breaker state of known nodes is kept."""
        self.by_model = {m: sorted(ts, key=lambda t: -t.priority) for m, ts in targets.items()}

    def breaker(self, node_id: int) -> Breaker:
        b = self.breakers.get(node_id)
        if b is None:
            b = self.breakers[node_id] = Breaker(self.threshold, self.cooldown_s, self.clock)
        return b

    def targets(self, model: str) -> list[Target]:
        return self.by_model.get(model, [])

    def plan(self, model: str) -> list[Target]:
        """Nodes to try, in order; empty when none serves the model or all breakers are open."""
        targets = self.by_model.get(model, ())
        if len(targets) == 1:  # the common single-node case: nothing to order, a closed breaker to skip
            b = self.breakers.get(targets[0].node_id)
            return [targets[0]] if b is None or b.opened_at is None or b.state != "open" else []
        out: list[Target] = []
        tier: list[Target] = []
        prio = None
        for t in targets:
            if prio is not None and t.priority != prio:
                out += self._weighted_order(tier)
                tier = []
            prio = t.priority
            tier.append(t)
        out += self._weighted_order(tier)
        return [t for t in out if self.breaker(t.node_id).state != "open"]

    def _weighted_order(self, tier: list[Target]) -> list[Target]:
        if len(tier) <= 1:
            return list(tier)
        # Efraimidis-Spirakis: key u^(1/w), sort descending = weighted sampling without replacement
        rnd = self.rng.random
        keyed = [(rnd() ** (1.0 / t.weight) if t.weight > 0 else -1.0, t) for t in tier]
        keyed.sort(key=lambda kt: kt[0], reverse=True)
        return [t for _, t in keyed]

    def acquire(self, target: Target) -> bool:
        """Right before an attempt: False when the node's breaker refuses it (open, or a probe running)."""
        return self.breaker(target.node_id).allow()

    def success(self, target: Target) -> None:
        self.breaker(target.node_id).success()

    def failure(self, target: Target) -> None:
        self.breaker(target.node_id).failure()
        if self.on_failure is not None:
            self.on_failure(target)

    def abandon(self, target: Target) -> None:
        """An acquired attempt that ended without a verdict (the client left): free a probe slot."""
        self.breaker(target.node_id).probing = False
