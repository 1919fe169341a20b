"""The demo stack (in-process, SQLite), a Target on it and a Ctx, for the `topapi check` tests.

Registered for every test module by conftest.py (`pytest_plugins`); a module's own fixtures of these names win.
A test module may set MOCK_SETTINGS = {...} (settings of every demo upstream mock: latency, video length).
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from gateway_stack import Stack, start_stack, stop_stack

from conformance.context import Ctx, Target
from conformance.runner import Result


@pytest.fixture(scope="module")
def demo(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    s = start_stack(tmp_path_factory.mktemp("gw"), "sqlite", read_timeout_s=5.0)
    settings = getattr(request.module, "MOCK_SETTINGS", {})
    try:
        for name in s.demo.servers:
            s.mock(name).settings = s.mock(name).settings.updated(settings)
        yield s
    finally:
        stop_stack(s)


@pytest.fixture(scope="module")
def target(demo: Stack) -> Target:
    admin = demo.accounts["platform_admin"]
    return Target(demo.base_url, demo.api_key, admin["username"], admin["password"], timeout_s=30)


@pytest.fixture(scope="module")
def ctx(target: Target) -> Iterator[Ctx]:
    c = Ctx(target)
    yield c
    c.close()


def failures(results: list[Result]) -> list[str]:
    """Every result that did not pass, one line each (for an assertion message)."""
    return [f"{r.id}: {r.status}: {r.message}" for r in results if r.status != "passed"]
