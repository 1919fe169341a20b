"""One Locust run of a scenario: options, samples, the master-side drivers, the report and the exit code.

Every process gets a `Run` (as `environment.topapi`) from the `init` event. Workers only
record and ship samples. The master (or a single process) also polls the mocks' stats,
drives the failover schedule, prints progress, and at `quitting` (after the workers' last
reports are in) writes summary.json and the plots and sets the exit code from the SLOs.
"""

from __future__ import annotations

import functools
import logging
import sys
import time
from pathlib import Path
from typing import Any

import gevent
import orjson
import requests
from locust import argument_parser, events
from locust.env import Environment
from locust.runners import WorkerRunner

from . import mockctl, nodes, options, progress, rates, slo
from . import summary as summary_mod
from .arrivals import Arrivals
from .failover import DEFAULT_FAULT, FaultSchedule, analyse
from .recorder import Recorder
from .samples import Sample
from .scenarios import Scenario, get, weights
from .users import USERS

log = logging.getLogger("load")


class Run:
    def __init__(self, environment: Environment) -> None:
        self.environment = environment
        self.opts = environment.parsed_options
        self.recorder = Recorder(environment)
        self.is_worker = isinstance(environment.runner, WorkerRunner)
        self.t0 = self.t_end = 0.0
        self.watch: nodes.NodeWatch | None = None
        self.schedule: FaultSchedule | None = None
        self.fidelity_config: dict[str, float] | None = None
        self._progress: gevent.Greenlet | None = None
        self.final: dict[str, Any] | None = None
        self.configure()

    def configure(self) -> None:
        """Read the options: at start-up, and again when a run starts (the web UI's form may
        have changed gates, mocks, weights; the scenario and so the user classes are fixed at
        start-up). A worker started elsewhere gets the master's options only when a run
        starts, so it checks nothing and keeps every user class: the master picks by name."""
        self.scenario: Scenario = get(self.opts.scenario)
        self.blend = weights(self.scenario, getattr(self.opts, "mix", ""))
        self.slos = slo.merge(slo.parse(self.scenario.default_slo), slo.parse(self.opts.slo))
        self.mocks = mockctl.parse_mocks(self.opts.mock)
        self.weights = nodes.parse_weights(self.opts.weights)
        self.fidelity_config = None
        if self.is_worker:
            return
        self._check()
        if self.opts.rate is not None:
            Arrivals(self.opts.rate, self.opts.arrival, self.opts.burstiness)  # a clear error for a bad schedule
        if self.mocks:
            self._probe_mocks()

    def _check(self) -> None:
        sc = self.scenario
        if (sc.watch_nodes or sc.fidelity) and not self.mocks:
            raise ValueError(f"scenario {sc.name} reads the mocks behind the gateway: give --mock NAME=URL")
        if sc.watch_nodes and sc.name == "routing":
            missing = set(self.mocks) - set(self.weights)
            if missing:
                raise ValueError(f"routing needs each node's weight: --weights {','.join(f'{m}=W' for m in missing)}")
        if sc.failover:
            node = self.opts.fail_node or list(self.mocks)[-1]
            if node not in self.mocks:
                raise ValueError(f"--fail-node {node!r} is not one of the --mock nodes ({', '.join(self.mocks)})")
            if len(self.mocks) < 2:
                raise ValueError("failover needs at least two nodes (--mock) to fail over between")

    def _probe_mocks(self) -> None:
        """Fail before the run, with a clear message, when a mock's control API is not there."""
        for name, root in self.mocks.items():
            try:
                mockctl.stats(root)
            except (requests.RequestException, ValueError) as exc:
                raise ValueError(f"mock {name}: {root}/_mock/stats does not answer ({exc})") from None
        if self.scenario.fidelity:
            self.fidelity_config = self._mock_latency()

    # -- events ---------------------------------------------------------------------------------
    def select_users(self) -> None:
        if self.opts.user_classes:  # classes named on the command line win
            return
        if self.opts.rate:
            from .openloop import OpenLoopUser

            self.environment.user_classes[:] = [OpenLoopUser]
            return
        chosen = []
        for name, weight in self.blend.items():
            if weight <= 0:
                continue
            cls = USERS[name]
            cls.weight = weight
            chosen.append(cls)
        self.environment.user_classes[:] = chosen

    def test_start(self) -> None:
        self.recorder.clear()
        if self.is_worker:
            return
        self.configure()
        self.t0, self.t_end = time.time(), 0.0
        if self.scenario.watch_nodes:
            self.watch = nodes.NodeWatch(self.mocks, self.opts.stats_interval)
            self.watch.start(self.t0)
        if self.scenario.failover:
            self.schedule = self._schedule()
            self.schedule.start(self.t0)
        if self.opts.progress and self._progress is None:
            self._progress = gevent.spawn(progress.show, self)

    def test_stop(self) -> None:
        if self.is_worker or not self.t0:
            return
        self.t_end = self.t_end or time.time()
        if self.schedule is not None:
            self.schedule.stop()
        if self.watch is not None:
            self.watch.stop()

    def quitting(self) -> None:
        if self.is_worker:
            return
        if self._progress is not None:
            self._progress.kill(block=False)
            sys.stderr.write("\n")
        if not self.t0:
            return
        self.test_stop()
        summary = self.summary()
        if self.opts.report_dir:
            self.write(Path(self.opts.report_dir), summary)
        self.final = summary
        # Locust would exit 1 on any failed request; the gates decide instead
        self.environment.process_exit_code = 0 if summary["passed"] else 1

    # -- drivers ----------------------------------------------------------------------------------
    def _schedule(self) -> FaultSchedule:
        node = self.opts.fail_node or list(self.mocks)[-1]
        run_time = getattr(self.opts, "run_time", None) or 60
        fail_at = self.opts.fail_at if self.opts.fail_at is not None else run_time / 5
        recover_at = self.opts.recover_at if self.opts.recover_at is not None else run_time / 2
        fault = orjson.loads(self.opts.fault) if self.opts.fault else dict(DEFAULT_FAULT)
        return FaultSchedule(node, self.mocks[node], fail_at, recover_at, fault)

    def _mock_latency(self) -> dict[str, float]:
        configs = {n: mockctl.get_config(root) for n, root in self.mocks.items()}
        pairs = {(c["ttft_ms"], c["itl_ms"]) for c in configs.values()}
        if len(pairs) != 1:
            raise ValueError("fidelity needs the mocks behind the model to share ttft_ms/itl_ms; got "
                             + ", ".join(f"{n}: {c['ttft_ms']}/{c['itl_ms']}" for n, c in configs.items()))
        ttft, itl = pairs.pop()
        return {"ttft_ms": ttft, "itl_ms": itl}

    # -- report -------------------------------------------------------------------------------------
    def measured(self) -> list[Sample]:
        """The samples the report is about: those sent after the warm-up."""
        start = self.t0 + (self.opts.warmup_s or 0.0)
        return [s for s in self.recorder.samples if s.t >= start]

    def summary(self) -> dict[str, Any]:
        samples = self.measured()
        extra: dict[str, Any] = {}
        if self.watch is not None:
            expected = nodes.expected_shares(self.weights) if self.weights else {}
            shares = self.watch.shares()
            errors = [abs(shares.get(n, 0.0) - e) * 100 for n, e in expected.items()]
            extra["nodes"] = {"requests": self.watch.totals(), "shares": {k: round(v, 4) for k, v in shares.items()},
                              "expected": {k: round(v, 4) for k, v in expected.items()},
                              "max_error_pp": round(max(errors), 3) if errors and shares else None,
                              "interval_s": self.watch.interval_s}
        if self.schedule is not None and self.watch is not None:
            expected = nodes.expected_shares(self.weights or dict.fromkeys(self.mocks, 1.0))
            extra["failover"] = analyse(self.schedule, self.watch, expected.get(self.schedule.node, 0.0), samples)
        if self.fidelity_config is not None:
            extra["fidelity"] = summary_mod.fidelity(samples, **self.fidelity_config)
        if self.opts.rate:
            o = self.opts
            arrivals = rates.open_loop(samples, self.recorder.arrivals, self.t0 + (o.warmup_s or 0.0),
                                       self.t_end or time.time(), rate=o.rate, pattern=o.arrival,
                                       burstiness=o.burstiness, max_concurrency=o.max_concurrency)
            extra.update(offered_rps=arrivals["offered_rps"], achieved_rps=arrivals["achieved_rps"], arrivals=arrivals)
            # requests in flight when the run stops never end (with short steps, a good part of them):
            # goodput is the share of ended requests that met every SLO, times the rate that left
            limits = slo.request_limits(self.slos)
            if samples:
                share = sum(summary_mod.good(s, limits) for s in samples) / len(samples)
                extra["goodput_rps"] = round(arrivals["achieved_rps"] * share, 3)
        runner = self.environment.runner
        users = getattr(self.opts, "num_users", None) or max(runner.target_user_count or 0, runner.user_count)
        return summary_mod.build(scenario=self.scenario.name, target=self.environment.host or "",
                                 duration_s=(self.t_end or time.time()) - self.t0 - (self.opts.warmup_s or 0.0),
                                 users=users,
                                 samples=samples, slos=self.slos, extra=extra)

    def write(self, report_dir: Path, summary: dict[str, Any]) -> None:
        report_dir.mkdir(parents=True, exist_ok=True)
        summary_mod.write(summary, report_dir / "summary.json")
        summary_mod.write_samples(self.recorder.samples, report_dir / "samples.csv")  # all, warm-up too
        samples = self.measured()
        marks = {}
        if self.schedule is not None:
            marks = {"fault": self.schedule.failed_t, "recovered": self.schedule.recovered_t}
        try:
            from . import plots  # matplotlib takes a second to import: only when there is something to draw

            plots.distributions(samples, report_dir / "ttft_itl.png")
            plots.over_time(samples, self.t0, report_dir / "latency_over_time.png", marks)
            if summary.get("arrivals"):
                plots.arrivals(summary["arrivals"], report_dir / "arrivals.png")
            if self.watch is not None:
                expected = nodes.expected_shares(self.weights) if self.weights else None
                plots.node_shares(self.watch.points, report_dir / "node_shares.png", expected, marks)
        except Exception:  # a plot must never cost the run its summary and exit code
            log.exception("plotting failed")

    def print_gates(self) -> None:
        """After Locust's own tables (the `quit` event): the verdict is the last thing printed."""
        if self.final is None:
            return
        summary, out = self.final, sys.stdout
        out.write(f"\ntopapi load: {summary['scenario']} against {summary['target']}: {summary['requests']} requests, "
                  f"{summary['errors']} errors, {summary['rps']:.1f} req/s over {summary['duration_s']:.1f}s\n")
        a = summary.get("arrivals")
        if a:
            out.write(f"  open loop, {a['arrival']} at {a['rate']:g}/s: offered {a['offered_rps']:.1f}/s, achieved "
                      f"{a['achieved_rps']:.1f}/s, completed {a['completed_rps']:.1f}/s; {a['late']} late "
                      f"(>= {a['late_ms']:g} ms), {a['unsent']} never sent, queue max {a['queue']['waiting_max']}, "
                      f"in flight max {a['queue']['in_flight_max']}\n")
        for name in ("ttfb_ms", "ttft_ms", "itl_ms", "e2e_ms"):
            d = summary["metrics"][name]
            if d["count"]:
                out.write(f"  {name[:-3].upper():5s} p50 {d['p50']:9.2f}  p90 {d['p90']:9.2f}  p95 {d['p95']:9.2f}  "
                          f"p99 {d['p99']:9.2f}  max {d['max']:9.2f} ms  ({d['count']})\n")
        for g in summary["slo"]:
            mark = "PASS" if g["passed"] else "FAIL"
            out.write(f"  [{mark}] {g['name']} = {g['value']}  (limit {g['limit']})\n")
        out.write(f"SLOs {'passed' if summary['passed'] else 'FAILED'}\n")
        out.flush()


# -- wiring: the locustfile imports this module, which registers the listeners ---------------------

# Locust's worker re-parses its whole default command line once per option of every spawn message
# (`k not in argument_parser.default_args_dict()` in a dict comprehension): ~100 parses, which on a
# busy machine blocked a worker past its heartbeat and the master dropped it. The defaults never
# change within a process: parse them once.
argument_parser.default_args_dict = functools.cache(argument_parser.default_args_dict)


@events.init_command_line_parser.add_listener
def _parser(parser: Any, **_: Any) -> None:
    options.add_arguments(parser)


@events.init.add_listener
def _init(environment: Environment, **_: Any) -> None:
    # gevent's loop caches "now"; after a second of imports it is stale, and Locust's -t timer
    # (spawn_later, armed right after this event) would fire that much early
    gevent.get_hub().loop.update_now()
    try:
        run = Run(environment)
    except ValueError as exc:
        sys.stderr.write(f"topapi load: {exc}\n")
        raise SystemExit(2) from None
    environment.topapi = run  # type: ignore[attr-defined]
    if not run.is_worker:
        run.select_users()
    events_ = environment.events
    events_.test_start.add_listener(lambda **_: run.test_start())
    events_.test_stop.add_listener(lambda **_: run.test_stop())
    events_.quitting.add_listener(lambda **_: run.quitting())
    events_.quit.add_listener(lambda **_: run.print_gates())
