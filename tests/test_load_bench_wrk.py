"""The issue-6 benchmark's probes (load/bench): the wrk Lua script and wrk's summary, the stream
timings (TTFT, ITL, stall) from event stamps, and the RSS/CPU sampling of a process.

The wrk tests run the real wrk when it is installed: once as a Lua interpreter (its script runs
before any connection, so `os.exit` there ends it with no network), and once for ~1 s against a
local aiohttp server that records what it was sent."""

from __future__ import annotations

import asyncio
import os
import shutil
import subprocess
import sys
import threading
import time
from collections import Counter
from collections import namedtuple as nt
from pathlib import Path

import aiohttp
import orjson
import psutil
import pytest
from aiohttp import web

from load.bench import sseclock, streams, wrk
from load.bench.sampling import CpuWindow, RssSampler, cpu_seconds, rss_of

needs_wrk = pytest.mark.skipif(shutil.which("wrk") is None, reason="wrk is not installed (apt-get install -y wrk)")

# what a body or a header may hold and a Lua long string `[[...]]` would not carry as is
NASTY = ["plain", "", "\nleading newline", "crlf\r\nline", "lone\rcr", "lf-cr\n\rx", 'quote " and \\ backslash',
         "\\\"\\n not an escape", "é中🙂 non-ASCII", "]]", "]=]", "ends in ]=", "ends in ]", "[[ [=[ ]==]",
         "tab\there", "nul \x00 then 1", "\x7f del"]


# -- the Lua script -----------------------------------------------------------------------------------


def test_lua_literal_is_one_quoted_line_of_printable_ascii() -> None:
    assert wrk.lua_literal("plain text") == '"plain text"'
    assert wrk.lua_literal('a"b\\c') == '"a\\034b\\092c"'
    assert wrk.lua_literal("é\n") == '"\\195\\169\\010"'
    assert wrk.lua_literal("\x001") == '"\\0001"'  # always 3 digits: the 1 is not part of the escape
    assert wrk.lua_literal(b"\xff\xfe") == '"\\255\\254"'  # bytes as they are, UTF-8 or not
    for text in NASTY:
        lit = wrk.lua_literal(text)
        assert lit[0] == lit[-1] == '"' and '"' not in lit[1:-1] and lit.isascii() and lit.isprintable()


def test_script_sets_method_body_headers_and_done() -> None:
    text = wrk.script(b'{"model":"m"}', {"Authorization": "Bearer k"})
    lines = text.splitlines()
    assert lines[:4] == ['wrk.method = "POST"', 'wrk.body = "{\\034model\\034:\\034m\\034}"',
                         'wrk.headers["Content-Type"] = "application/json"',
                         'wrk.headers["Authorization"] = "Bearer k"']
    assert text.endswith(wrk.DONE) and "done = function(summary, latency, requests)" in text


def hexes(expr: str) -> str:
    return f'io.write((({expr}):gsub(".", function(c) return string.format("%02x", c:byte()) end)), "\\n")'


def lua_eval(tmp_path: Path, source: str) -> list[bytes]:
    """Run `source` in wrk's LuaJIT; each line it writes is hex. The script exits before wrk connects."""
    path = tmp_path / "eval.lua"
    path.write_text(source + "\nos.exit(0)\n")
    out = subprocess.run(["wrk", "-t1", "-c1", "-d1s", "-s", str(path), "http://127.0.0.1:9/"],
                         capture_output=True, text=True, timeout=30)
    assert out.returncode == 0, out.stderr + out.stdout
    return [bytes.fromhex(line) for line in out.stdout.splitlines()]


@needs_wrk
def test_lua_reads_back_every_literal_byte_for_byte(tmp_path: Path) -> None:
    texts = [*NASTY, "\n"]
    source = "local v = {" + ", ".join(wrk.lua_literal(t) for t in texts) + "}\n"
    source += f"for i = 1, {len(texts)} do {hexes('v[i]')} end"
    assert lua_eval(tmp_path, source) == [t.encode() for t in texts]
    assert lua_eval(tmp_path, hexes(wrk.lua_literal(b"\xff\x00\x80"))) == [b"\xff\x00\x80"]


@needs_wrk
def test_script_carries_body_and_headers_verbatim(tmp_path: Path) -> None:
    body = "\n".join(NASTY).encode()
    headers = {"Authorization": 'Bearer "k" \\ ]] ]=] é', "X-Trace": "ends in ]="}
    source = wrk.script(body, headers) + "\n".join(
        hexes(e) for e in ("wrk.method", "wrk.body", 'wrk.headers["Content-Type"]',
                           'wrk.headers["Authorization"]', 'wrk.headers["X-Trace"]'))
    assert lua_eval(tmp_path, source) == [b"POST", body, b"application/json", headers["Authorization"].encode(),
                                          b"ends in ]="]


# -- wrk's summary ------------------------------------------------------------------------------------

SUMMARY = {"requests": 12000, "duration_us": 6000000, "bytes": 9000000, "connect": 1, "read": 2, "write": 3,
           "status": 4, "timeout": 5, "p50_us": 450, "p90_us": 900, "p99_us": 2500, "max_us": 12345,
           "mean_us": 512.5}
WRK_TEXT = """Running 6s test @ http://127.0.0.1:8000/v1/chat/completions
  1 threads and 50 connections
  Thread Stats   Avg      Stdev     Max   +/- Stdev
    Latency   512.50us  100.00us  12.35ms   90.00%
  12000 requests in 6.00s, 8.58MB read
Requests/sec:   2000.00
"""


def test_parse_reads_the_json_line() -> None:
    res = wrk.parse(WRK_TEXT + wrk.MARK + orjson.dumps(SUMMARY).decode() + "\n", 50)
    assert res.to_dict() == {"connections": 50, "seconds": 6.0, "requests": 12000, "rps": 2000.0, "errors": 15,
                             "p50_ms": 0.45, "p90_ms": 0.9, "p99_ms": 2.5, "max_ms": 12.345, "mean_ms": 0.5125}


def test_parse_zero_duration_is_zero_rps() -> None:
    res = wrk.parse(wrk.MARK + orjson.dumps(SUMMARY | {"duration_us": 0, "requests": 0}).decode(), 1)
    assert res.rps == 0.0 and res.requests == 0 and res.seconds == 0.0


def test_parse_without_a_summary_says_so() -> None:
    with pytest.raises(RuntimeError, match="wrk printed no summary") as exc:
        wrk.parse(WRK_TEXT + "PANIC: unprotected error in call to Lua API\n", 1)
    assert "PANIC" in str(exc.value)
    with pytest.raises(RuntimeError, match="no summary"):
        wrk.parse("", 1)


@pytest.mark.parametrize("line", [
    orjson.dumps(SUMMARY).decode()[:40],  # cut off
    orjson.dumps({k: v for k, v in SUMMARY.items() if k != "timeout"}).decode(),  # a field missing
    orjson.dumps(SUMMARY).decode().replace('"mean_us":512.5', '"mean_us":nan'),  # %.1f of a NaN
    orjson.dumps(SUMMARY | {"requests": "many"}).decode(),
    "[1, 2, 3]",
    "",
])
def test_parse_of_a_malformed_summary_is_a_clear_error(line: str) -> None:
    with pytest.raises(RuntimeError, match="wrk printed a malformed summary"):
        wrk.parse(WRK_TEXT + wrk.MARK + line + "\n", 1)


# -- real wrk against a local server ------------------------------------------------------------------


@pytest.fixture
def recording_server():
    """An aiohttp server in a thread that counts each (body, headers) it was sent; yields (url, counter)."""
    seen: Counter[tuple[bytes, tuple]] = Counter()

    async def chat(request: web.Request) -> web.Response:
        seen[(await request.read(), request.raw_headers)] += 1
        return web.json_response({"ok": True})

    app = web.Application()
    app.router.add_post("/v1/chat/completions", chat)
    runner = web.AppRunner(app, access_log=None)
    loop = asyncio.new_event_loop()
    loop.run_until_complete(runner.setup())
    site = web.TCPSite(runner, "127.0.0.1", 0)
    loop.run_until_complete(site.start())
    port = site._server.sockets[0].getsockname()[1]
    thread = threading.Thread(target=loop.run_forever, name="wrk-target", daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{port}/v1/chat/completions", seen
    finally:
        loop.call_soon_threadsafe(loop.stop)
        thread.join(10)
        loop.run_until_complete(runner.cleanup())
        loop.close()


@needs_wrk
def test_wrk_sends_the_script_verbatim_and_parse_reads_its_summary(tmp_path: Path, recording_server) -> None:
    url, seen = recording_server
    body = '{"messages":[{"content":"say \\"hi\\" \\\\ é中🙂 ]] ]=]"}],\n "x":"\r\n"}ends in ]='.encode()
    headers = {"Authorization": 'Bearer "k" \\ ]] ]=]', "X-Note": "é中"}
    path = tmp_path / "bench.lua"
    path.write_text(wrk.script(body, headers))
    res = wrk.run(url, path, connections=1, seconds=1, cpu=None)
    assert res.requests > 0 and res.errors == 0 and res.rps > 0 and 0 < res.p50_ms <= res.max_ms
    assert sum(seen.values()) >= res.requests
    [(got_body, raw)] = seen  # every request alike
    assert got_body == body
    sent = dict(raw)
    assert sent[b"Authorization"] == headers["Authorization"].encode()
    assert sent[b"X-Note"] == headers["X-Note"].encode()
    assert sent[b"Content-Type"] == b"application/json"
    assert sent[b"Content-Length"] == str(len(body)).encode()


# -- stream timings -----------------------------------------------------------------------------------


def content(text: str, **extra) -> dict:
    return {"choices": [{"index": 0, "delta": {"content": text}}]} | extra


ROLE = {"choices": [{"index": 0, "delta": {"role": "assistant", "content": ""}}]}


def usage(tokens: int) -> dict:
    return {"choices": [], "usage": {"prompt_tokens": 5, "completion_tokens": tokens}}


def test_measure_ttft_itl_stall() -> None:
    stamped = [(10.1, ROLE), (10.15, content("a")), (10.17, content("b")), (10.20, content("c")),
               (10.21, content("d")), (10.22, usage(4))]
    s = streams.measure(10.0, 10.25, stamped)
    assert s.ttft_ms == pytest.approx(150)  # the role chunk carries no content
    assert s.itl_ms == pytest.approx(20)  # (10.21 - 10.15) / 3
    assert s.stall_ms == pytest.approx(30)  # 10.17 -> 10.20
    assert s.e2e_ms == pytest.approx(250)
    assert (s.tokens, s.usage, s.late_ms) == (4, True, [])


def test_measure_itl_counts_usage_tokens_not_events() -> None:
    # 3 events carrying 7 tokens (a target that batches): 6 gaps between first and last token
    s = streams.measure(0.0, 1.0, [(0.1, content("ab")), (0.1, content("cd")), (0.4, content("efg")),
                                   (0.5, usage(7))])
    assert s.tokens == 7 and s.usage and s.itl_ms == pytest.approx(50)
    assert s.stall_ms == pytest.approx(300)  # events of one read share their stamp: no gap between them


def test_measure_without_usage_counts_content_events() -> None:
    events = [(0.2, content("a")), (0.3, content("b")), (0.6, content("c"))]
    s = streams.measure(0.0, 1.0, events)
    assert (s.tokens, s.usage) == (3, False) and s.itl_ms == pytest.approx(200)
    s = streams.measure(0.0, 1.0, [*events, (0.7, usage(0))])  # a usage of 0 tokens: the events count
    assert (s.tokens, s.usage) == (3, True) and s.itl_ms == pytest.approx(200)


def test_measure_one_token_has_no_itl() -> None:
    s = streams.measure(0.0, 0.5, [(0.25, content("only")), (0.3, usage(1))])
    assert s.itl_ms is None and s.stall_ms == 0 and s.ttft_ms == 250 and s.tokens == 1


def test_measure_lateness_from_send_stamps_and_odd_events() -> None:
    stamped = [(1.0, "not an object"), (1.0, [1, 2]), (1.0, {"choices": [{"delta": None}]}),
               (1.002, content("a", bench_sent=1.0015)), (1.023, content("b", bench_sent=1.021))]
    s = streams.measure(0.5, 1.1, stamped)
    assert s.late_ms == pytest.approx([0.5, 2.0]) and s.tokens == 2 and s.ttft_ms == pytest.approx(502)
    assert s.first_late_ms == pytest.approx(0.5)


def test_first_token_lateness_skips_the_stamped_role_chunk() -> None:
    """The bench's mock stamps every event, the role chunk (sent at once) too: the path's share of
    TTFT is the lateness of the first event with content."""
    stamped = [(0.1003, ROLE | {"bench_sent": 0.1}), (0.2504, content("a", bench_sent=0.25)),
               (0.2708, content("b", bench_sent=0.27))]
    s = streams.measure(0.0, 0.3, stamped)
    assert s.first_late_ms == pytest.approx(0.4) and s.late_ms == pytest.approx([0.3, 0.4, 0.8])
    assert streams.measure(0.0, 0.3, [(0.25, content("a"))]).first_late_ms is None


def test_measure_without_content_is_an_error() -> None:
    with pytest.raises(RuntimeError, match="no content"):
        streams.measure(0.0, 1.0, [(0.1, ROLE), (0.2, usage(0))])
    with pytest.raises(RuntimeError, match="no content"):
        streams.measure(0.0, 1.0, [])


async def test_one_stream_against_sseclock() -> None:
    """`one` end to end on loopback: every token counted, usage read, each event's send time seen."""
    server = await asyncio.start_server(sseclock.handle, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    try:
        async with aiohttp.ClientSession() as session:
            s = await streams.one(session, f"http://127.0.0.1:{port}/v1/chat/completions", streams.body("m", 5),
                                  {"content-type": "application/json", "x-ttft-ms": "0", "x-itl-ms": "0"})
    finally:
        server.close()
        await server.wait_closed()
    assert (s.tokens, s.usage, len(s.late_ms)) == (5, True, 5)
    assert 0 < s.ttft_ms <= s.e2e_ms and s.itl_ms is not None and all(x > 0 for x in s.late_ms)


# -- sampling -----------------------------------------------------------------------------------------


def gone_pid() -> int:
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    proc.wait()
    return proc.pid


def test_rss_and_cpu_of_a_process() -> None:
    assert rss_of(os.getpid()) > 10 * 2**20  # a Python with pytest and aiohttp loaded
    assert cpu_seconds(os.getpid()) > 0
    dead = gone_pid()
    assert rss_of(dead) == 0 and cpu_seconds(dead) == 0.0


def test_rss_sampler_on_this_process() -> None:
    me = os.getpid()
    sampler = RssSampler(interval_s=0.01)
    sampler.watch(me)
    sampler.start()
    try:
        deadline = time.monotonic() + 10
        while len(sampler.points(me)) < 3 and time.monotonic() < deadline:
            time.sleep(0.01)
    finally:
        sampler.stop()
    points = sampler.points(me)
    assert len(points) >= 3 and all(mb > 10 for _, mb in points)
    assert sampler.peak_mb(me) == max(mb for _, mb in points)
    assert [t for t, _ in points] == sorted(t for t, _ in points)
    assert sampler.points(me, since=points[1][0]) == points[1:]
    assert sampler.points(me + 10**7) == [] and sampler.peak_mb(me + 10**7) == 0.0


Cores = nt("Cores", "user system idle iowait")


def window(placement, self_core, relevant, *, busy: list[tuple[float, float]], ours: dict, target: float,
           wall: float = 2.0) -> dict:
    """CpuWindow.result for a phase of `wall` s in which core i counted `busy[i]` = (total, idle + iowait)."""
    w = CpuWindow(None, placement, self_core, relevant)
    zero = [Cores(0, 0, 0, 0) for _ in busy]
    w.before = (100.0, zero, 5.0, {c: 0.0 for c in ours})
    w.after = (100.0 + wall, [Cores(total - idle, 0, idle - 1, 1) for total, idle in busy], 5.0 + target, ours)
    return w.result()


def test_cpu_window_counts_others_per_pinned_core() -> None:
    # core 0: 90% busy, 1.6 s of it ours (the target); core 1: 40% busy, 0.6 s ours (load side)
    r = window({0: [111], 1: [222]}, 1, [1], busy=[(100, 10), (100, 60)], ours={0: 1.6, 1: 0.6}, target=1.5)
    assert r["core_busy"] == [0.9, 0.4]  # iowait counts as idle
    assert r["others_by_core"] == pytest.approx([0.1, 0.1]) and r["others_cores"] == pytest.approx(0.1)
    assert r["target_cpu"] == 0.75
    both = window({0: [111], 1: [222]}, 1, None, busy=[(100, 10), (100, 60)], ours={0: 1.6, 1: 0.6}, target=0)
    assert both["others_cores"] == pytest.approx(0.2)
    # more CPU accounted to us than the core was busy (counter granularity): others never negative
    assert window({0: [1]}, 0, None, busy=[(100, 50)], ours={0: 1.5}, target=0)["others_cores"] == 0.0


def test_cpu_window_unpinned_counts_the_whole_machine() -> None:
    r = window({None: [111]}, None, [0], busy=[(100, 50), (100, 10)], ours={None: 1.0}, target=0.4)
    assert r["others_by_core"] == [pytest.approx(0.9)]  # ((0.5 + 0.9) * 2 s - 1 s) / 2 s, `relevant` aside
    assert r["others_cores"] == pytest.approx(0.9) and r["target_cpu"] == 0.2


def test_cpu_window_on_this_machine() -> None:
    with CpuWindow(os.getpid(), {}, None) as w:
        sum(range(10000))
    r = w.result()
    assert len(r["core_busy"]) == psutil.cpu_count() and all(0 <= b <= 1 for b in r["core_busy"])
    assert r["others_cores"] >= 0 and r["target_cpu"] >= 0


@pytest.mark.parametrize("value", ["no colon", ": value without a name", ""])
def test_streams_refuses_a_header_without_a_name_and_colon(value: str, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exc:
        streams.main(["--url", "http://127.0.0.1:9/v1/chat/completions", "--header", value])
    assert exc.value.code == 2 and "--header: expected 'Name: value'" in capsys.readouterr().err


def test_streams_header_splits_at_the_first_colon() -> None:
    assert streams.header(" X-Key :  a:b ") == ("X-Key", "a:b")
    assert streams.header("x-empty:") == ("x-empty", "")


async def test_the_bench_mock_stamps_each_streamed_event() -> None:
    """mockproc --stamp-events: every JSON event of a paced stream starts with `bench_sent`, a
    perf_counter() taken as it was sent; [DONE] and the rest of the event are untouched."""
    import time

    from load.bench import mockproc
    from mocks.server import Ctx

    original = Ctx._paced

    async def frames(self, _frames):
        yield b'data: {"a":1}\n\n'
        yield b"data: [DONE]\n\n"

    try:
        Ctx._paced = frames
        mockproc.stamp_events()
        before = time.perf_counter()
        out = [x async for x in Ctx._paced(None, [])]
    finally:
        Ctx._paced = original
    first = orjson.loads(out[0][len(b"data: "):])
    assert list(first) == ["bench_sent", "a"] and first["a"] == 1
    assert before <= first["bench_sent"] <= time.perf_counter()
    assert out[1] == b"data: [DONE]\n\n"
