"""Prometheus metrics, served at `GET /metrics` (prometheus-client's text format).

With `--workers N` every worker writes its values to files in PROMETHEUS_MULTIPROC_DIR (set by
`topapi serve` before the workers start, emptied at each start) and the worker that answers a scrape
sums them all (prometheus-client's multiprocess mode); one process keeps them in memory.

Cheap on the hot path: one call per request (`observe`) that finds its label children in a plain
dict (prometheus-client's `labels()` validates and locks on every call) and adds to them. Gauges
that describe state (breakers, queue depth, Redis) are sampled once a second and at each scrape,
not kept up to date per request. Label values come from the catalog only: a model name a client
made up is counted as "" (unbounded label values would grow without end).
"""

from __future__ import annotations

import asyncio
import contextlib
import os
from typing import TYPE_CHECKING, Any

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    REGISTRY,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    multiprocess,
)
from prometheus_client import generate_latest as _generate

if TYPE_CHECKING:
    from .app import Gateway

MULTIPROCESS_ENV = "PROMETHEUS_MULTIPROC_DIR"
# seconds: sub-millisecond answers (model lists, refusals) up to long streams
LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300)
TTFT_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.15, 0.2, 0.3, 0.5, 0.75, 1, 1.5, 2, 3, 5, 10, 30)
BREAKER_STATES = {"closed": 0, "half_open": 1, "open": 2}

REQUESTS = Counter("topapi_requests_total", "Relay requests answered, by route, model, node and HTTP status",
                   ["route", "model", "node", "status"])
LATENCY = Histogram("topapi_request_duration_seconds", "Relay request duration to the last byte, by model and node",
                    ["model", "node"], buckets=LATENCY_BUCKETS)
TTFT = Histogram("topapi_ttft_seconds", "Streams: time to the first output event, by model and node",
                 ["model", "node"], buckets=TTFT_BUCKETS)
UPSTREAM_ERRORS = Counter("topapi_upstream_errors_total",
                          "Failed attempts at a node (connect errors, time-outs, 5xx/429, cut streams)", ["node"])
FAILOVERS = Counter("topapi_failovers_total", "Requests moved on to another node after a failed attempt", ["model"])
BREAKER = Gauge("topapi_breaker_state", "Circuit breaker per node: 0 closed, 1 half-open, 2 open (worst worker)",
                ["node"], multiprocess_mode="livemax")
USAGE_QUEUE = Gauge("topapi_usage_queue_depth", "Usage records accepted and not yet committed",
                    multiprocess_mode="livesum")
USAGE_WRITTEN = Counter("topapi_usage_records_written_total", "Usage records committed to the store")
REDIS_UP = Gauge("topapi_redis_up", "1 while Redis answers (limits and spend shared), 0 while per process; "
                 "absent without --redis-url", ["redis"], multiprocess_mode="livemin")
REDIS_ERRORS = Counter("topapi_redis_errors_total", "Redis calls that failed (each one falls back per process)")
LIMITS_LOCAL = Counter("topapi_limits_local_total", "Admissions decided per process because Redis was away")
LOGIN_THROTTLED = Counter("topapi_login_throttled_total", "Console logins refused by the throttle", ["scope"])
JOURNAL_RECOVERED = Counter("topapi_journal_recovered_total",
                            "Usage records written at start-up from a dead process's journal", ["outcome"])


class RequestMetrics:
    """Per-request observations with the label children cached by their label values."""

    __slots__ = ("_requests", "_timing")

    def __init__(self) -> None:
        self._requests: dict[tuple[str, str, str, int], Any] = {}
        self._timing: dict[tuple[str, str], tuple[Any, Any]] = {}

    def observe(self, endpoint: str, model: str, node: str, status: int, seconds: float,
                ttft_s: float | None, attempts: int) -> None:
        key = (endpoint, model, node, status)
        counter = self._requests.get(key)
        if counter is None:
            counter = self._requests[key] = REQUESTS.labels(endpoint, model, node, str(status))
        counter.inc()
        if not model:
            return
        timing = self._timing.get((model, node))
        if timing is None:
            timing = self._timing[(model, node)] = (LATENCY.labels(model, node), TTFT.labels(model, node))
        timing[0].observe(seconds)
        if ttft_s is not None:
            timing[1].observe(ttft_s)
        if attempts > 1:
            FAILOVERS.labels(model).inc(attempts - 1)


def sample(gw: Gateway) -> None:
    """Set the state gauges from the gateway's objects (a second's staleness at most)."""
    if gw.usage is not None:
        USAGE_QUEUE.set(gw.usage.queue.qsize())
    if gw.cache is not None:
        for node_id, target in gw.cache.nodes.items():
            breaker = gw.router.breakers.get(node_id)
            BREAKER.labels(target.name).set(BREAKER_STATES[breaker.state] if breaker is not None else 0)


async def sample_every(gw: Gateway, seconds: float = 1.0) -> None:
    while True:
        with contextlib.suppress(Exception):  # a sample is worth less than the process
            sample(gw)
        await asyncio.sleep(seconds)


def redis_address(url: str) -> str:
    """host:port/db of a Redis URL, without its password (a label value)."""
    from urllib.parse import urlsplit

    parts = urlsplit(url)
    return f"{parts.hostname or ''}:{parts.port or 6379}{parts.path or ''}"


def multiprocess_dir() -> str | None:
    return os.environ.get(MULTIPROCESS_ENV) or None


def render() -> tuple[bytes, str]:
    """The scrape body and its content type: every worker's values in multiprocess mode."""
    if multiprocess_dir():
        registry = CollectorRegistry()
        multiprocess.MultiProcessCollector(registry)
        return _generate(registry), CONTENT_TYPE_LATEST
    return _generate(REGISTRY), CONTENT_TYPE_LATEST


def process_gone() -> None:
    """A worker stops: its live gauges leave the sums."""
    path = multiprocess_dir()
    if path:
        multiprocess.mark_process_dead(os.getpid(), path)
