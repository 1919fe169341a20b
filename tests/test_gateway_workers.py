"""`topapi serve --demo --workers 2` without Redis: an admin write reaches the other worker within
the change-counter poll (0.25 s), for a new key and for a disabled one (issue 11)."""

from __future__ import annotations

import pytest
from scaleout_support import Console, all_answer, pace, poll, user_key, worker_pids

from topapi.demo_child import DemoChild

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def demo(tmp_path_factory):
    child = DemoChild(state_dir=tmp_path_factory.mktemp("workers"), extra_args=["--workers", "2"])
    child.start()
    yield child
    child.stop()


def test_both_workers_see_a_new_key_and_a_disabled_one_within_a_second(demo) -> None:
    url = demo.info["base_url"]
    assert len(worker_pids(url)) == 2, "new connections should reach both workers"
    admin = demo.info["accounts"]["platform_admin"]
    console = Console(url, admin["username"], admin["password"])
    _, username = console.new_user()
    key, key_id = user_key(url, username)
    took_new = poll(all_answer([url], "/v1/models", key, 200, times=20), 30, "new key usable on every worker")
    me = Console(url, username, "correct horse battery")
    me.call("PATCH", f"/api/user/keys/{key_id}", json={"enabled": False})
    took_off = poll(all_answer([url], "/v1/models", key, 401, times=20), 30, "disabled key refused everywhere")
    step = pace(url)
    print(f"\npropagation across workers: new key within {took_new * 1000:.0f} ms, disabled key {took_off * 1000:.0f} ms "
          f"(one request here: {step * 1000:.1f} ms)")
    # the poll is every 0.25 s; allow for this run's pace (a busy machine stretches everything)
    limit = 1.0 + 50 * step
    assert took_new <= limit and took_off <= limit, (took_new, took_off, limit)
    console.close()
    me.close()
