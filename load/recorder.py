"""Where samples go: Locust's stats rows, and the raw list the report is computed from.

Each metric is fired as its own Locust request event (request_type "TTFT", "ITL", ... and
the call's name), so the web UI, the CSV and the HTML show them as rows of their own; gate
on those rows or on summary.json, never on "Aggregated", which mixes them all.

Workers keep their samples in an outbox that rides along with Locust's own periodic report
to the master (`report_to_master` / `worker_report`), so the master ends up with every raw
value of every process: percentiles merge exactly.
"""

from __future__ import annotations

from typing import Any

from locust.env import Environment
from locust.runners import WorkerRunner

from .samples import Sample

REPORT_KEY = "topapi_samples"
ARRIVALS_KEY = "topapi_arrivals"  # open loop: [scheduled, sent or None] (epoch s) of every arrival
# Locust row types for the metrics (ms); stall is in summary.json only, it is a max of gaps
ROWS = (("TTFB", "ttfb"), ("TTFT", "ttft"), ("ITL", "itl"), ("E2E", "e2e"))


class Recorder:
    def __init__(self, environment: Environment) -> None:
        self.environment = environment
        self.samples: list[Sample] = []
        self.arrivals: list[tuple[float, float | None]] = []
        self._outbox: list[list[Any]] = []
        self._arrivals_out: list[tuple[float, float | None]] = []
        self.is_worker = isinstance(environment.runner, WorkerRunner)
        events = environment.events
        if self.is_worker:
            events.report_to_master.add_listener(self._to_master)
        else:
            events.worker_report.add_listener(self._from_worker)

    def clear(self) -> None:
        self.samples.clear()
        self.arrivals.clear()
        self._outbox.clear()
        self._arrivals_out.clear()

    def arrival(self, scheduled: float, sent: float | None) -> None:
        """An open-loop request: when it was due and when it left (None: still queued when the run ended)."""
        (self._arrivals_out if self.is_worker else self.arrivals).append((scheduled, sent))

    def add(self, sample: Sample) -> Sample:
        if sample.ok:
            fire = self.environment.events.request.fire
            for row, metric in ROWS:
                value = getattr(sample, metric)
                if value is not None:
                    fire(request_type=row, name=sample.name, response_time=value, response_length=0,
                         exception=None, context={})
        if self.is_worker:
            self._outbox.append(sample.row())
        else:
            self.samples.append(sample)
        return sample

    def _to_master(self, client_id: str, data: dict[str, Any]) -> None:
        data[REPORT_KEY], self._outbox = self._outbox, []
        data[ARRIVALS_KEY], self._arrivals_out = self._arrivals_out, []

    def _from_worker(self, client_id: str, data: dict[str, Any]) -> None:
        self.samples.extend(Sample.from_row(r) for r in data.get(REPORT_KEY, ()))
        self.arrivals.extend((a, b) for a, b in data.get(ARRIVALS_KEY, ()))
