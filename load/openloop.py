"""Open-loop arrivals (`--rate R`): requests leave on a schedule, whatever the target does.

One `OpenLoopUser` per process (`topapi load` sets `-u` to the number of processes; with plain
Locust, `-u N` splits the rate over N such users). Its only task is the scheduler: it sleeps
until each arrival's time, records the arrival, and starts the call in a greenlet of its own,
so a slow answer never delays the next request. With `--max-concurrency C` at most C calls are
in flight per process: an arrival that finds them all busy waits in a FIFO queue and leaves
late; its `delay` (scheduled -> sent) is recorded with its sample, and arrivals still queued
when the run ends are counted from the recorded schedule (summary.json `arrivals`).

Latency is measured from when a request left (as closed-loop users do); `delay` says how late
it left, so latency from the schedule (no coordinated omission) is delay + that.
"""

from __future__ import annotations

import random
import time
from typing import Any

import gevent
import gevent.pool
from locust import task

from . import calls
from .arrivals import Arrivals
from .options import call_options, workload
from .samples import Sample
from .scenarios import chooser, get, weights
from .streams import perf
from .users import CALLS, GatewayUser

NO_CAP_POOL = 10_000  # connections a process may open when --max-concurrency is not given


class OpenLoopUser(GatewayUser):
    def __init__(self, environment: Any) -> None:
        cap = environment.parsed_options.max_concurrency
        self.concurrency = cap if cap and cap > 0 else NO_CAP_POOL  # the client's connection pool
        super().__init__(environment)
        self.pool: gevent.pool.Pool | None = None
        self.pending: tuple[float, Any] | None = None  # (start, offsets) of the schedule, for on_stop

    def on_start(self) -> None:
        parsed = self.environment.parsed_options
        self.call_options, self.workload = call_options(parsed), workload(parsed)
        self.think_s = 0.0
        calls.warm_up(self)  # no start jitter: the schedule decides when requests leave

    def on_stop(self) -> None:
        if self.pool is not None:
            self.pool.kill(block=False)
        run: Any = getattr(self.environment, "topapi", None)
        if self.pending is None or run is None:
            return
        # arrivals that fell due but never left (queued behind --max-concurrency): the schedule goes on
        start_wall, offsets = self.pending
        now = time.time()
        for offset in offsets:
            if start_wall + offset > now:
                break
            run.recorder.arrival(start_wall + offset, None)

    def record(self, sample: Sample) -> Sample:
        scheduled = getattr(gevent.getcurrent(), "topapi_scheduled", None)
        if scheduled is not None:
            sample.delay = max(0.0, (sample.t - scheduled) * 1000.0)
        return super().record(sample)

    @task
    def drive(self) -> None:
        opts = self.environment.parsed_options
        run: Any = getattr(self.environment, "topapi", None)
        share = max(1, getattr(opts, "num_users", None) or 1)
        seed = None if opts.arrival_seed is None else opts.arrival_seed * 1000 + id(self) % 1000
        arrivals = Arrivals(opts.rate / share, opts.arrival, opts.burstiness, seed)
        pick = chooser(weights(get(opts.scenario), opts.mix), random.Random(seed))  # user class name
        cap = opts.max_concurrency if opts.max_concurrency and opts.max_concurrency > 0 else None
        self.pool = gevent.pool.Pool(cap)
        start_perf, start_wall = perf(), time.time()
        offsets = arrivals.offsets()
        for offset in offsets:
            self.pending = (start_wall, _prepend(offset, offsets))
            wait = start_perf + offset - perf()
            if wait > 0:
                gevent.sleep(wait)
            scheduled = start_wall + offset
            self.pool.wait_available()  # the queue: blocks while C calls are in flight
            self.pending = (start_wall, offsets)
            if run is not None:
                run.recorder.arrival(scheduled, time.time())
            greenlet = gevent.Greenlet(CALLS[pick()], self)  # a text call runs one conversation
            greenlet.topapi_scheduled = scheduled  # type: ignore[attr-defined]
            self.pool.start(greenlet)


def _prepend(first: float, rest: Any) -> Any:
    yield first
    yield from rest
