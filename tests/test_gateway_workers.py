"""`topapi serve --demo --workers 2` without Redis: an admin write reaches the other worker within
the change-counter poll (0.25 s), for a new key and for a disabled one (issue 11)."""

from __future__ import annotations

import httpx
import pytest
from scaleout_support import Console, converge, pace, user_key, worker_pids

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
    took_new = converge([url], "/v1/models", key, 200)
    me = Console(url, username, "correct horse battery")
    me.call("PATCH", f"/api/user/keys/{key_id}", json={"enabled": False})
    took_off = converge([url], "/v1/models", key, 401)
    step = pace(url)
    print(f"\npropagation across workers (last stale answer ended after): new key {took_new * 1000:.0f} ms, "
          f"disabled key {took_off * 1000:.0f} ms (one request here: {step * 1000:.1f} ms; the poll is every 0.25 s)")
    # allow for this run's pace (a busy machine stretches everything)
    limit = 1.0 + 5 * step
    assert took_new <= limit and took_off <= limit, (took_new, took_off, limit)
    console.close()
    me.close()


def test_metrics_of_both_workers_in_one_scrape(demo) -> None:
    """/metrics in multiprocess mode: any worker answers with the sums of all of them."""
    from prometheus_client.parser import text_string_to_metric_families

    url, key = demo.info["base_url"], demo.info["api_key"]
    body = {"model": "gpt-4.1-mini", "max_tokens": 5, "messages": [{"role": "user", "content": "hi"}]}

    def scrape() -> dict[str, list]:
        text = httpx.get(url + "/metrics", timeout=30).text
        return {f.name: f.samples for f in text_string_to_metric_families(text)}

    def chat_200s(samples) -> float:
        return sum(s.value for s in samples.get("topapi_requests", []) if s.name == "topapi_requests_total"
                   and s.labels == {"route": "chat.completions", "model": "gpt-4.1-mini", "node": s.labels["node"],
                                    "status": "200"})

    before = chat_200s(scrape())
    n = 30
    for _ in range(n):  # fresh connections: both workers serve some
        with httpx.Client(timeout=30) as c:
            assert c.post(url + "/v1/chat/completions", json=body, headers={"Authorization": key}).status_code == 200
    after = scrape()
    assert chat_200s(after) - before == n
    nodes = {s.labels["node"] for s in after["topapi_requests"] if s.labels["route"] == "chat.completions"}
    assert nodes <= {"openai-a", "openai-b"} and nodes
    latency = [s for s in after["topapi_request_duration_seconds"] if s.name.endswith("_count")
               and s.labels["model"] == "gpt-4.1-mini"]
    assert sum(s.value for s in latency) >= n
    breakers = {s.labels["node"]: s.value for s in after["topapi_breaker_state"]}
    assert breakers == {"openai-a": 0, "openai-b": 0, "gemini": 0, "sora": 0}
    assert not after.get("topapi_redis_up")  # no --redis-url: no Redis to report on
    probe = httpx.get(url + "/v1/models", headers={"Authorization": "sk-wrong"}, timeout=30)
    assert probe.status_code == 401
    refused = [s for s in scrape()["topapi_requests"] if s.labels["status"] == "401"]
    assert refused and all(s.labels["model"] == "" for s in refused)
