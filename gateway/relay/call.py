"""One relayed request's account: what becomes its usage record, exactly once."""

from __future__ import annotations

import itertools
import os
import secrets
import time
from typing import Any

from ..cache import KeyInfo, ModelInfo, UserInfo
from ..usage import cost


# request ids: a random per-process prefix and a counter, unique across processes and restarts
# without an os.urandom call per request (a forked child draws its own prefix)
def _new_id_prefix() -> None:
    global _ID_PREFIX
    _ID_PREFIX = "req_" + secrets.token_hex(8)


_ID_PREFIX = ""
_new_id_prefix()
os.register_at_fork(after_in_child=_new_id_prefix)
_ID_COUNTER = itertools.count(1)


class Call:
    __slots__ = ("request_id", "endpoint", "dialect", "t0", "key", "user", "model", "model_info", "admitted", "node",
                 "stream", "status", "outcome", "attempts", "prompt_tokens", "completion_tokens", "images",
                 "seconds", "ttft_ms", "error", "recorded")

    def __init__(self, endpoint: str, dialect: str) -> None:
        self.request_id = f"{_ID_PREFIX}{next(_ID_COUNTER):08x}"
        self.endpoint, self.dialect = endpoint, dialect
        self.t0 = time.perf_counter()
        self.key: KeyInfo | None = None
        self.user: UserInfo | None = None
        self.model: str | None = None
        self.model_info: ModelInfo | None = None
        self.node: str | None = None
        self.stream = False
        self.status = 0
        self.outcome = "ok"
        self.attempts = 0
        self.prompt_tokens = self.completion_tokens = self.images = 0
        self.seconds = 0.0
        self.ttft_ms: float | None = None
        self.error: str | None = None
        self.recorded = False
        self.admitted = False  # passed the model policy: the limits apply (policy.admit, policy.limit)

    def elapsed_ms(self) -> float:
        return (time.perf_counter() - self.t0) * 1000

    def mark_first_token(self) -> None:
        if self.ttft_ms is None:
            self.ttft_ms = self.elapsed_ms()

    def fail(self, status: int, outcome: str, error: str) -> None:
        self.status, self.outcome, self.error = status, outcome, error[:2000]

    def cost(self) -> float:
        if self.model_info is None:
            return 0.0
        return cost(self.model_info.price, prompt_tokens=self.prompt_tokens,
                    completion_tokens=self.completion_tokens, images=self.images, seconds=self.seconds)

    def record(self) -> dict[str, Any]:
        return {
            "request_id": self.request_id, "user_id": self.user.id if self.user else 0,
            "key_id": self.key.id if self.key else None, "model": self.model, "node": self.node,
            "endpoint": self.endpoint, "status": self.status, "outcome": self.outcome, "stream": self.stream,
            "prompt_tokens": self.prompt_tokens, "completion_tokens": self.completion_tokens,
            "total_tokens": self.prompt_tokens + self.completion_tokens, "cost": self.cost(),
            "latency_ms": round(self.elapsed_ms(), 3),
            "ttft_ms": round(self.ttft_ms, 3) if self.ttft_ms is not None else None,
            "attempts": self.attempts, "error": self.error,
        }
