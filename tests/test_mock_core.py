"""The mock framework (mocks/server.py, mocks/settings.py) through real loopback servers: every
fault kind, per-request settings, the control API, stats, keys, `x-mock-node`, fault replay from
the seed, and loose timing sanity (precise numbers come from `python -m mocks.bench`)."""

from __future__ import annotations

import json
import threading
import time
from typing import Any

import httpx
import pytest
from reference import openai_errors
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

import specs
from mocks.gemini_app import GeminiMock
from mocks.openai_app import OpenAIMock
from mocks.server import MockServer, ctx_of
from mocks.serving import ServerThread
from mocks.settings import Fault, Settings, SettingsError
from specs import sse

KEY = {"authorization": "Bearer sk-test"}
CHAT = "/v1/chat/completions"
BODY = {"model": "gpt-4.1-mini", "messages": [{"role": "user", "content": "Write 30 words about a relay."}]}


def cfg(**settings: Any) -> dict[str, str]:
    return {"x-mock-config": json.dumps(settings)}


@pytest.fixture(scope="module")
def server():
    with ServerThread(OpenAIMock()) as srv:
        # the first request of a process builds the request validator (~0.2 s): keep that out of timed tests
        assert httpx.post(srv.url + CHAT, json=BODY, headers=KEY).status_code == 200
        yield srv


@pytest.fixture
def http(server):
    with httpx.Client(base_url=server.url, timeout=10, headers=KEY) as c:
        assert c.post("/_mock/reset").status_code == 200
        yield c


def stream_events(c: httpx.Client, body: dict[str, Any], headers: dict[str, str] | None = None
                  ) -> tuple[list[tuple[float, sse.Event]], Exception | None]:
    """(arrival time since the request was sent, event) for each event, and the error that ended the stream."""
    dec = sse.Decoder()
    out: list[tuple[float, sse.Event]] = []
    t0 = time.perf_counter()
    try:
        with c.stream("POST", CHAT, json={**body, "stream": True}, headers=headers) as r:
            assert r.status_code == 200
            for raw in r.iter_raw():
                now = time.perf_counter() - t0
                out += [(now, e) for e in dec.feed(raw)]
    except httpx.TransportError as exc:
        return out, exc
    return out, None


def check_openai_error(r: httpx.Response, status: int) -> dict[str, Any]:
    assert r.status_code == status, r.text
    assert specs.schema_errors("openai", "ErrorResponse", r.json()) == []
    assert openai_errors("ErrorResponse", r.json()) == []
    assert r.headers["x-mock-node"]
    return r.json()["error"]


# -- settings --------------------------------------------------------------------------------------------------
def test_settings_update_and_validation() -> None:
    s = Settings().updated({"ttft_ms": 150, "fault": {"rate": 0.5, "kind": "cut"}})
    assert s.ttft_ms == 150.0 and s.fault == Fault(rate=0.5, kind="cut")
    assert s.updated({"fault": {"after_chunks": 1}}).fault.kind == "cut"  # partial fault updates merge
    assert Settings.updated(s, {}) == s and s.to_dict()["fault"]["rate"] == 0.5
    for bad in ({"ttft_ms": -1}, {"ttft_ms": "fast"}, {"ttft_ms": True}, {"seed": 1.5}, {"tokens_per_chunk": 0},
                {"node_name": 5}, {"nope": 1}, {"fault": "x"}, {"fault": {"rate": 1.5}}, {"fault": {"kind": "boom"}},
                {"fault": {"status": 200}}, {"fault": {"after_chunks": -1}}, {"fault": {"bogus": 1}}, []):
        with pytest.raises(SettingsError):
            s.updated(bad)  # type: ignore[arg-type]
    with pytest.raises(SettingsError):
        OpenAIMock(ttft_ms=-5)


# -- keys and x-mock-node ------------------------------------------------------------------------------------------
def test_missing_key_is_refused_in_each_dialect(server) -> None:
    for headers in ({}, {"authorization": ""}, {"authorization": "Bearer"}):
        r = httpx.post(server.url + CHAT, json=BODY, headers=headers)
        err = check_openai_error(r, 401)
        assert err["type"] == "invalid_request_error" and r.headers["x-mock-node"] == "openai"
    for headers in ({"x-api-key": "k"}, {"authorization": "sk-bare"}):
        assert httpx.post(server.url + CHAT, json=BODY, headers=headers).status_code == 200
    assert httpx.post(server.url + CHAT + "?key=abc", json=BODY).status_code == 200
    with ServerThread(GeminiMock()) as g:
        path = "/v1beta/models/gemini-2.5-flash:generateContent"
        body = {"contents": [{"parts": [{"text": "hi"}]}]}
        r = httpx.post(g.url + path, json=body)
        assert r.status_code == 403 and r.headers["x-mock-node"] == "gemini"
        assert specs.schema_errors("gemini", "ErrorResponse", r.json()) == []
        assert r.json()["error"]["status"] == "PERMISSION_DENIED"
        assert httpx.post(g.url + path, json=body, headers={"x-goog-api-key": "k"}).status_code == 200


def test_a_configured_key_is_the_only_one_accepted() -> None:
    """`--api-key`: a wrong key is refused as the real APIs refuse it (a relay in front must pass the key on)."""
    with ServerThread(OpenAIMock(Settings(api_key="sk-upstream-1"))) as srv:
        for headers in ({"authorization": "Bearer sk-upstream-1"}, {"x-api-key": "sk-upstream-1"}):
            assert httpx.post(srv.url + CHAT, json=BODY, headers=headers).status_code == 200
        r = httpx.post(srv.url + CHAT, json=BODY, headers={"authorization": "Bearer sk-other"})
        assert check_openai_error(r, 401)["code"] == "invalid_api_key"
    with ServerThread(GeminiMock(Settings(api_key="g-1"))) as g:
        path = "/v1beta/models/gemini-2.5-flash:generateContent"
        body = {"contents": [{"parts": [{"text": "hi"}]}]}
        assert httpx.post(g.url + path + "?key=g-1", json=body).status_code == 200
        r = httpx.post(g.url + path, json=body, headers={"x-goog-api-key": "g-2"})
        assert r.status_code == 400 and r.json()["error"]["status"] == "INVALID_ARGUMENT"


def test_node_header_on_every_response(http: httpx.Client) -> None:
    responses = [
        http.post(CHAT, json=BODY),  # 200
        http.post(CHAT, json={"model": "gpt-4.1-mini"}),  # 400
        http.get("/v1/nowhere"),  # 404
        http.delete(CHAT),  # 405
        http.post(CHAT, json=BODY, headers=cfg(fault={"rate": 1, "status": 503})),  # fault
        http.post(CHAT, json=BODY, headers={"x-mock-config": "{not json"}),  # bad per-request settings
        http.get("/_mock/stats"), http.get("/_mock/config"), http.post("/_mock/config", json={"ttft_ms": -1}),
    ]
    assert [r.status_code for r in responses] == [200, 400, 404, 405, 503, 400, 200, 200, 400]
    assert all(r.headers.get("x-mock-node") == "openai" for r in responses)
    for r in responses[1:6] + responses[8:]:
        check_openai_error(r, r.status_code)
    assert check_openai_error(responses[2], 404)["code"] == "unknown_url"
    renamed = http.post("/_mock/config", json={"node_name": "node-b"})
    assert renamed.json()["node_name"] == "node-b"
    assert http.get("/v1/models").headers["x-mock-node"] == "node-b"
    assert http.get("/_mock/stats").json()["node"] == "node-b"


class _Crashy(MockServer):
    default_node_name = "crashy"

    def routes(self) -> list[BaseRoute]:
        async def boom(request: Request) -> Response:
            ctx_of(request)
            raise RuntimeError("secret internals")

        async def fine(request: Request) -> Response:
            return ctx_of(request).json({"ok": True})

        return [Route("/boom", boom), Route("/fine", fine)]


def test_a_crash_is_a_clean_500_and_the_connection_survives() -> None:
    with ServerThread(_Crashy()) as srv, httpx.Client(base_url=srv.url, headers=KEY) as c:
        r = c.get("/boom")
        err = check_openai_error(r, 500)
        assert err["type"] == "server_error" and "secret internals" not in r.text and "Traceback" not in r.text
        assert r.headers["x-mock-node"] == "crashy"
        assert c.get("/fine").json() == {"ok": True}  # same keep-alive connection, still open
        assert c.get("/_mock/stats").json()["by_status"] == {"500": 1, "200": 1}


# -- faults ----------------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("status", [429, 500, 503, 400])
def test_status_fault(http: httpx.Client, status: int) -> None:
    r = http.post(CHAT, json=BODY, headers=cfg(fault={"rate": 1, "kind": "status", "status": status}))
    err = check_openai_error(r, status)
    assert err["type"] == {429: "rate_limit_error", 400: "invalid_request_error"}.get(status, "server_error")
    assert (r.headers.get("retry-after") == "1") == (status == 429)
    assert http.post(CHAT, json=BODY).status_code == 200  # the header applied to one request only


def test_status_fault_in_gemini_shape() -> None:
    with ServerThread(GeminiMock(fault=Fault(rate=1, kind="status", status=429))) as g:
        r = httpx.get(g.url + "/v1beta/models", headers={"x-goog-api-key": "k"})
    assert r.status_code == 429 and r.headers["retry-after"] == "1" and r.headers["x-mock-node"] == "gemini"
    assert specs.schema_errors("gemini", "ErrorResponse", r.json()) == []
    assert r.json()["error"]["code"] == 429 and r.json()["error"]["status"] == "RESOURCE_EXHAUSTED"


def test_hang_fault(http: httpx.Client, server) -> None:
    hang = cfg(fault={"rate": 1, "kind": "hang", "hang_s": 0.4})
    t0 = time.perf_counter()
    r = http.post(CHAT, json=BODY, headers=hang)
    assert r.status_code == 200 and time.perf_counter() - t0 >= 0.4
    assert r.json()["choices"][0]["message"]["content"]  # a normal answer once the hang ends
    with pytest.raises(httpx.ReadTimeout):
        httpx.post(server.url + CHAT, json=BODY, headers={**KEY, **hang}, timeout=0.15)
    # the mock goes on answering the abandoned request until its hang ends; wait for it, so the
    # next test starts with nothing in flight (a reset does not end a request)
    deadline = time.monotonic() + 5
    while http.get("/_mock/stats").json()["in_flight"] and time.monotonic() < deadline:
        time.sleep(0.02)
    assert http.get("/_mock/stats").json()["in_flight"] == 0


def test_reset_fault(http: httpx.Client) -> None:
    for body in (BODY, {**BODY, "stream": True}):
        with pytest.raises(httpx.TransportError) as info:
            http.post(CHAT, json=body, headers=cfg(fault={"rate": 1, "kind": "reset"}))
        assert isinstance(info.value, httpx.ReadError | httpx.RemoteProtocolError)  # no HTTP response at all
    stats = http.get("/_mock/stats").json()
    assert stats["requests_total"] == 2 and stats["by_status"] == {} and stats["in_flight"] == 0


@pytest.mark.parametrize("after", [0, 1, 4])
def test_cut_fault_streams(http: httpx.Client, after: int) -> None:
    events, error = stream_events(http, BODY, headers=cfg(fault={"rate": 1, "kind": "cut", "after_chunks": after}))
    assert error is not None, "the stream ended cleanly"
    assert len(events) == after and not any(e.is_done for _, e in events)
    for _, e in events:
        e.json()  # what arrived before the cut is intact


def test_cut_fault_on_a_json_answer(http: httpx.Client) -> None:
    with pytest.raises(httpx.TransportError):
        http.post(CHAT, json=BODY, headers=cfg(fault={"rate": 1, "kind": "cut"}))


def test_malformed_fault(http: httpx.Client) -> None:
    events, error = stream_events(http, BODY, headers=cfg(fault={"rate": 1, "kind": "malformed", "after_chunks": 2}))
    assert error is None and events[-1][1].is_done
    broken = []
    for i, (_, e) in enumerate(events[:-1]):
        try:
            e.json()
        except json.JSONDecodeError:
            broken.append(i)
    assert broken == [2]
    r = http.post(CHAT, json=BODY, headers=cfg(fault={"rate": 1, "kind": "malformed"}))
    assert r.status_code == 200
    with pytest.raises(json.JSONDecodeError):
        json.loads(r.content)


def test_slow_fault(http: httpx.Client) -> None:
    slow = cfg(fault={"rate": 1, "kind": "slow", "after_chunks": 3, "slow_itl_ms": 60})
    events, error = stream_events(http, {**BODY, "max_tokens": 6}, headers=slow)
    assert error is None
    tokens = [t for t, e in events if not e.is_done and e.json()["choices"][0]["delta"].get("content")]
    gaps = [b - a for a, b in zip(tokens, tokens[1:], strict=False)]
    assert len(tokens) == 6
    # frames 0 (role) and 1..2 go at full speed; frames 3..6 each wait 60 ms. A busy machine can
    # delay one read and shorten the next gap, but no token can arrive before the mock sent it.
    assert tokens[-1] >= 4 * 0.06, (tokens, gaps)
    t0 = time.perf_counter()
    assert http.post(CHAT, json={**BODY, "max_tokens": 6}, headers=slow).status_code == 200
    assert time.perf_counter() - t0 >= 5 * 0.06  # a JSON answer waits for the slow tokens too


def test_faults_replay_from_the_seed() -> None:
    def failed(seed: int) -> list[int]:
        mock = OpenAIMock(seed=seed, fault=Fault(rate=0.3, kind="status", status=503))
        with ServerThread(mock) as srv, httpx.Client(base_url=srv.url, headers=KEY) as c:
            return [n for n in range(1, 41) if c.get("/v1/models").status_code == 503]

    first = failed(11)
    assert 4 <= len(first) <= 20, first  # about 30% of 40
    assert failed(11) == first
    assert failed(12) != first


# -- per-request settings and the control API ---------------------------------------------------------------------
def test_control_config(http: httpx.Client) -> None:
    initial = http.get("/_mock/config").json()
    assert initial == Settings(node_name="openai").to_dict()
    r = http.post("/_mock/config", json={"ttft_ms": 30, "fault": {"rate": 0.5, "kind": "cut"}})
    assert r.status_code == 200
    assert r.json()["ttft_ms"] == 30 and r.json()["fault"] == {**initial["fault"], "rate": 0.5, "kind": "cut"}
    current = http.get("/_mock/config").json()
    for bad in ({"ttft_ms": -1}, {"fault": {"rate": 2}}, {"fault": {"kind": "explode"}}, {"nope": True},
                {"tokens_per_chunk": 0}, {"fault": {"status": 302}}):
        err = check_openai_error(http.post("/_mock/config", json=bad), 400)
        assert err["message"]
    for raw in (b"", b"{oops", b"[1]"):
        check_openai_error(http.post("/_mock/config", content=raw, headers={"content-type": "application/json"}), 400)
    assert http.get("/_mock/config").json() == current  # a rejected change changes nothing
    assert http.post("/_mock/reset").json() == {"reset": True, "node": "openai"}
    assert http.get("/_mock/config").json() == initial


def test_server_wide_fault_from_control_api(http: httpx.Client) -> None:
    http.post("/_mock/config", json={"fault": {"rate": 1, "kind": "status", "status": 500}})
    assert http.post(CHAT, json=BODY).status_code == 500
    assert http.post(CHAT, json=BODY, headers=cfg(fault={"rate": 0})).status_code == 200  # per-request override
    http.post("/_mock/config", json={"fault": {"rate": 0}})
    assert http.post(CHAT, json=BODY).status_code == 200


def test_bad_per_request_config(http: httpx.Client) -> None:
    for value in ("{nope", '{"ttft_ms": -3}', '{"fault": {"kind": "explode"}}', "[]"):
        err = check_openai_error(http.post(CHAT, json=BODY, headers={"x-mock-config": value}), 400)
        assert "x-mock-config" in err["message"]


def test_stats(http: httpx.Client, server) -> None:
    http.post(CHAT, json=BODY)
    http.post(CHAT, json=BODY)
    http.post(CHAT, json={**BODY, "model": "gpt-4o"})
    http.post(CHAT, json={**BODY, "model": "no-such-model"})
    http.get("/v1/models")
    http.post(CHAT, json=BODY, headers=cfg(fault={"rate": 1, "status": 429}))
    httpx.post(server.url + CHAT, json=BODY)  # no key: refused before counting
    stats = http.get("/_mock/stats").json()
    assert stats == {"node": "openai", "requests_total": 6, "in_flight": 0,
                     "by_endpoint": {CHAT: 5, "/v1/models": 1},
                     "by_model": {"gpt-4.1-mini": 2, "gpt-4o": 1},
                     "by_status": {"200": 4, "404": 1, "429": 1}}
    http.post("/_mock/reset")
    assert http.get("/_mock/stats").json() == {"node": "openai", "requests_total": 0, "in_flight": 0,
                                               "by_endpoint": {}, "by_model": {}, "by_status": {}}


def test_in_flight(http: httpx.Client, server) -> None:
    hang = {**KEY, **cfg(fault={"rate": 1, "kind": "hang", "hang_s": 0.5})}
    worker = threading.Thread(target=lambda: httpx.post(server.url + CHAT, json=BODY, headers=hang, timeout=5))
    worker.start()
    deadline = time.monotonic() + 2
    seen = 0
    while time.monotonic() < deadline and not seen:
        seen = http.get("/_mock/stats").json()["in_flight"]
        time.sleep(0.02)
    worker.join()
    assert seen == 1
    assert http.get("/_mock/stats").json()["in_flight"] == 0


def test_a_stream_stops_when_its_client_goes_away(http: httpx.Client, server) -> None:
    slow = cfg(itl_ms=50)  # ~50 tokens: 2.5 s if read to the end
    with httpx.Client(base_url=server.url, headers=KEY) as own, \
            own.stream("POST", CHAT, json={**BODY, "stream": True}, headers=slow) as r:
        next(r.iter_raw())
        assert http.get("/_mock/stats").json()["in_flight"] == 1
    deadline = time.monotonic() + 1
    while http.get("/_mock/stats").json()["in_flight"] and time.monotonic() < deadline:
        time.sleep(0.02)
    assert http.get("/_mock/stats").json()["in_flight"] == 0


# -- timing sanity (loose) -----------------------------------------------------------------------------------------------
def test_latency_profile_roughly_holds(http: httpx.Client) -> None:
    timing = cfg(ttft_ms=100, itl_ms=10)
    events, error = stream_events(http, {**BODY, "max_tokens": 10, "stream_options": {"include_usage": True}},
                                  headers=timing)
    assert error is None
    tokens = [t for t, e in events if not e.is_done and e.json()["choices"]
              and e.json()["choices"][0]["delta"].get("content")]
    assert len(tokens) == 10
    assert 0.1 <= tokens[0] < 1.0, tokens[0]  # the role chunk may come first; the first token waits for TTFT
    assert tokens[-1] >= 0.1 + 9 * 0.01 and events[-1][0] >= 0.19
    assert events[-1][0] < 2.0
    t0 = time.perf_counter()
    assert http.post(CHAT, json={**BODY, "max_tokens": 10}, headers=timing).status_code == 200
    assert 0.19 <= time.perf_counter() - t0 < 2.0  # a JSON answer comes when its last token would have
