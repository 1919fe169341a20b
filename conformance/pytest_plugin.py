"""pytest plugin: the checks of `topapi check` as pytest tests, for CIs that report through pytest.

    pytest -p conformance.pytest_plugin --topapi-url https://gw.example.com --topapi-key sk-... \\
        [--topapi-admin-user admin --topapi-admin-password ...] [--topapi-only sse.*,sdk] \\
        [--topapi-max-examples 10] [--topapi-workers 4] [--topapi-profile auto] \\
        [--topapi-header 'Name: value'] [-k chat] [--junitxml out.xml]

(`-p conformance.pytest_plugin` is for a checkout that is not installed: an installed topapi-kit
loads the plugin through its pytest11 entry point). Without --topapi-url the plugin adds nothing.
Each check becomes the test `topapi::check[<id>]`: failed and erroring checks fail with the check's message and its
failing cases, skipped and not offered ones are skipped with the reason; a check blocked by a failed setup fails
with the setup's failure (setups are not tests of their own here). The target is probed first, as with
`topapi check --profile auto` (or the profile given). The selected checks (after -k/-m) run
in parallel as in `topapi check`, started when the first of them runs; each test waits for its own.

The schema layer can also be run with schemathesis' own CLI, on the relay routes for example:

    cat > schemathesis.toml <<'EOF'
    max-stream-events = 100000
    [auth.openapi.KeyHeader]
    api_key = "${TOPAPI_API_KEY}"
    EOF
    TOPAPI_API_KEY=sk-... st --config-file schemathesis.toml run specs/openapi/gateway.yaml \\
        --url http://127.0.0.1:8080 --exclude-path-regex '^/api/' --max-examples 3 --no-shrink \\
        --phases examples,fuzzing,stateful --suppress-health-check all \\
        --checks not_a_server_error,status_code_conformance,content_type_conformance,response_headers_conformance,response_schema_conformance,negative_data_rejection,ignored_auth

(verified against the demo stack: 34 operations, ~15 s. Adding `coverage` to --phases sends every
boundary case, positive ones included, to every model route: minutes, and real model calls on a
real deployment. `python -c "import specs; print(specs.path('gateway'))"` prints the document's
path in an installed package). Do not point the plain CLI at `/api` of a deployment you care about: only
`topapi check` confines the admin fuzzing to data it creates (conformance/admin_sandbox.py).
"""

from __future__ import annotations

import dataclasses
import os
import threading
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any

import pytest

from .config import ConfigError, parse_header
from .context import Ctx, Target
from .registry import LAYERS, CheckInfo, select
from .runner import Result, run_one
from .surfaces import PROFILES, SURFACES


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("topapi", "topapi-kit conformance checks against a gateway")
    group.addoption("--topapi-url", help="the gateway's root URL: turns every topapi check into a test")
    group.addoption("--topapi-key", default=os.environ.get("TOPAPI_API_KEY"),
                    help="a relay key of the gateway (default: $TOPAPI_API_KEY)")
    group.addoption("--topapi-admin-user", default=os.environ.get("TOPAPI_ADMIN_USER"))
    group.addoption("--topapi-admin-password", default=os.environ.get("TOPAPI_ADMIN_PASSWORD"))
    group.addoption("--topapi-only", help="comma-separated check ids, globs (sse.*) or layers")
    group.addoption("--topapi-max-examples", type=int, default=10, help="schemathesis examples per operation")
    group.addoption("--topapi-workers", type=int, default=4, help="checks run at once")
    group.addoption("--topapi-timeout", type=float, default=60.0, help="seconds per HTTP request")
    group.addoption("--topapi-video-deadline", type=float, default=600.0,
                    help="seconds a video job may take to complete")
    group.addoption("--topapi-seed", type=int, default=None, help="schemathesis seed: the same cases every run")
    group.addoption("--topapi-profile", default="auto", choices=sorted(PROFILES),
                    help="which surfaces are required (as topapi check --profile)")
    group.addoption("--topapi-header", action="append", default=[], help="'Name: value' sent with every request")


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "topapi: a topapi-kit conformance check")
    for layer in LAYERS:
        config.addinivalue_line("markers", f"topapi_{layer}: a topapi check of the {layer} layer")
    url = config.getoption("--topapi-url", default=None)
    if not url:
        return
    # the openai SDK warns on every videos call that OpenAI will retire Sora: not the target's doing
    config.addinivalue_line("filterwarnings", "ignore:The Sora API is scheduled:DeprecationWarning")
    if not config.getoption("--topapi-key"):
        raise pytest.UsageError("--topapi-url needs --topapi-key (or $TOPAPI_API_KEY)")
    only = config.getoption("--topapi-only")
    try:
        checks = select([p.strip() for p in only.split(",") if p.strip()] if only else None)
    except ValueError as exc:
        raise pytest.UsageError(f"--topapi-only: {exc}") from None
    secrets: dict[str, str] = {}
    try:
        headers = dict(parse_header(h, secrets) for h in config.getoption("--topapi-header"))
    except ConfigError as exc:
        raise pytest.UsageError(str(exc)) from None
    required, in_profile = PROFILES[config.getoption("--topapi-profile")]
    target = Target(url, config.getoption("--topapi-key"), config.getoption("--topapi-admin-user"),
                    config.getoption("--topapi-admin-password"), timeout_s=config.getoption("--topapi-timeout"),
                    max_examples=config.getoption("--topapi-max-examples"),
                    video_deadline_s=config.getoption("--topapi-video-deadline"),
                    schema_seed=config.getoption("--topapi-seed"), headers=headers, secrets=secrets,
                    required=list(required), in_profile=None if set(in_profile) == set(SURFACES) else list(in_profile))
    # under pytest-xdist each worker sees every item but runs only its share: no prefetching there
    prefetch = not hasattr(config, "workerinput")
    config.pluginmanager.register(TopapiPlugin(target, checks, config.getoption("--topapi-workers"), prefetch),
                                  "topapi-conformance-session")


class CheckFailure(Exception):
    def __init__(self, result: Result) -> None:
        super().__init__(result.message)
        self.result = result


class CheckItem(pytest.Item):
    def __init__(self, *, info: CheckInfo, plugin: TopapiPlugin, **kw: Any) -> None:
        super().__init__(**kw)
        self.info = info
        self.plugin = plugin
        self.add_marker(pytest.mark.topapi)
        self.add_marker(getattr(pytest.mark, f"topapi_{info.layer}"))

    def runtest(self) -> None:
        result = self.plugin.result(self)
        if result.status in ("skipped", "not_offered"):
            pytest.skip(("not offered: " if result.status == "not_offered" else "")
                        + result.message.replace("--admin-", "--topapi-admin-"))
        if result.status == "blocked":
            why = self.plugin.setup_failure(result.blocked_by)
            raise CheckFailure(dataclasses.replace(result, message=f"{result.message}: {why}"))
        if result.status != "passed":
            raise CheckFailure(result)

    def repr_failure(self, excinfo: pytest.ExceptionInfo[BaseException], style: Any = None) -> Any:
        if not isinstance(excinfo.value, CheckFailure):
            return super().repr_failure(excinfo)
        r = excinfo.value.result
        lines = [f"{r.id} {r.status}: {r.description}", r.message]
        lines += [f"  FAIL {s.name}: {s.message}" for s in r.subs if s.status == "failed"]
        return "\n".join(lines)

    def reportinfo(self) -> tuple[Any, int | None, str]:
        return self.path, None, f"topapi check {self.info.id}"


class TopapiSuite(pytest.Collector):
    def __init__(self, *, plugin: TopapiPlugin, **kw: Any) -> None:
        super().__init__(**kw)
        self.plugin = plugin

    def collect(self) -> list[CheckItem]:
        return [CheckItem.from_parent(self, name=f"check[{c.id}]", info=c, plugin=self.plugin)
                for c in self.plugin.checks]


class TopapiPlugin:
    """Holds the target, makes the items, and runs the selected checks once, in parallel."""

    def __init__(self, target: Target, checks: list[CheckInfo], workers: int, prefetch: bool = True) -> None:
        self.target = target
        self.checks = checks
        self.workers = max(1, workers)
        self.prefetch = prefetch
        self._lock = threading.Lock()
        self._futures: dict[str, Future[Result]] | None = None
        self._pool: ThreadPoolExecutor | None = None
        self._ctx: Ctx | None = None
        self._problem: str | None = None

    @pytest.hookimpl(tryfirst=True)  # before -k/-m deselect, so they apply to the checks too
    def pytest_collection_modifyitems(self, session: pytest.Session, items: list[pytest.Item]) -> None:
        suite = TopapiSuite.from_parent(session, name="topapi", nodeid="topapi", plugin=self)
        checks = suite.collect()
        items.extend(checks)
        session.testscollected += len(checks)
        # so that the terminal's "collected N items" counts them too
        session.ihook.pytest_collectreport(report=pytest.CollectReport(suite.nodeid, "passed", None, checks))

    def result(self, item: CheckItem) -> Result:
        with self._lock:
            if self._futures is None:
                self._start([i.info for i in item.session.items if isinstance(i, CheckItem)] if self.prefetch
                            else [])
        info = item.info
        if self._problem and not (info.admin and not self.target.has_admin):  # those are skipped either way
            return Result(info.id, info.description, info.layer, "error", self._problem)
        future = self._futures.get(info.id)
        return future.result() if future is not None else run_one(self._ctx, info)

    def setup_failure(self, by: str | None) -> str:
        if by and by.startswith("surface."):
            return f"the target does not offer {by.removeprefix('surface.')}, which --topapi-profile requires"
        failure = self._ctx.setups_used.get(by or "") if self._ctx else None
        return str(failure) if failure else "(the setup's failure is not known)"

    def _start(self, infos: list[CheckInfo]) -> None:
        from .cli import probe

        self._futures = {}
        found, problem = probe(self.target)
        if problem:
            self._problem = problem.replace("--api-key", "--topapi-key")
            infos = [i for i in infos if i.admin and not self.target.has_admin]
        elif found is not None:
            self.target.offered = list(found.offered)
            self.target.forms = found.chosen_forms()
        self._ctx = Ctx(self.target)
        self._pool = ThreadPoolExecutor(max_workers=self.workers, thread_name_prefix="topapi-check")
        for info in sorted(infos, key=lambda c: not c.slow):  # slow ones first, as `topapi check` does
            self._futures[info.id] = self._pool.submit(run_one, self._ctx, info)

    def pytest_sessionfinish(self) -> None:
        if self._pool is not None:
            self._pool.shutdown(wait=True, cancel_futures=True)
        if self._ctx is not None:
            self._ctx.close()
