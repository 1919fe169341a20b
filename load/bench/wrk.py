"""Non-streaming load with wrk (Debian's `wrk`, one thread, one core): requests/s and latency.

The Lua script sets the POST body and headers and, in `done()`, prints wrk's own summary
and latency percentiles (microsecond histogram, from every request) as one JSON line.
No `response()` hook: it would run Lua per response and slow wrk down; non-2xx answers are
counted by wrk itself (`errors.status`).
"""

from __future__ import annotations

import json
import shutil
import subprocess
from dataclasses import asdict, dataclass
from pathlib import Path

from .procs import pinned

MARK = "BENCH_JSON "
DONE = """
done = function(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    'BENCH_JSON {"requests":%d,"duration_us":%d,"bytes":%d,"connect":%d,"read":%d,"write":%d,'
    .. '"status":%d,"timeout":%d,"p50_us":%d,"p90_us":%d,"p99_us":%d,"max_us":%d,"mean_us":%.1f}\\n',
    summary.requests, summary.duration, summary.bytes, e.connect, e.read, e.write, e.status, e.timeout,
    latency:percentile(50), latency:percentile(90), latency:percentile(99), latency.max, latency.mean))
end
"""


# printable ASCII but the quote and the backslash: written as is in a Lua string literal
_PLAIN = frozenset(range(32, 127)) - {ord('"'), ord("\\")}


def lua_literal(text: str | bytes) -> str:
    """A Lua string literal holding `text`'s bytes exactly: printable ASCII as is, any other byte as a
    three-digit decimal escape. (A long string `[[...]]` would turn CR and CRLF into LF, drop a leading
    newline and break on text ending in `]=`.)"""
    data = text.encode() if isinstance(text, str) else text
    return '"' + "".join(chr(b) if b in _PLAIN else f"\\{b:03d}" for b in data) + '"'


def script(body: bytes, headers: dict[str, str]) -> str:
    lines = ['wrk.method = "POST"', f"wrk.body = {lua_literal(body)}",
             'wrk.headers["Content-Type"] = "application/json"']
    lines += [f"wrk.headers[{lua_literal(k)}] = {lua_literal(v)}" for k, v in headers.items()]
    return "\n".join(lines) + "\n" + DONE


@dataclass
class WrkResult:
    connections: int
    seconds: float
    requests: int
    rps: float
    errors: int  # connect + read + write + timeout + non-2xx/3xx answers
    p50_ms: float
    p90_ms: float
    p99_ms: float
    max_ms: float
    mean_ms: float

    def to_dict(self) -> dict:
        return asdict(self)


def parse(output: str, connections: int) -> WrkResult:
    line = next((ln for ln in output.splitlines() if ln.startswith(MARK)), None)
    if line is None:
        raise RuntimeError(f"wrk printed no summary:\n{output[-2000:]}")
    try:
        d = json.loads(line[len(MARK):])
        seconds = d["duration_us"] / 1e6
        errors = d["connect"] + d["read"] + d["write"] + d["status"] + d["timeout"]
        result = WrkResult(connections=connections, seconds=round(seconds, 3), requests=d["requests"],
                           rps=d["requests"] / seconds if seconds else 0.0, errors=errors,
                           p50_ms=d["p50_us"] / 1000, p90_ms=d["p90_us"] / 1000, p99_ms=d["p99_us"] / 1000,
                           max_ms=d["max_us"] / 1000, mean_ms=d["mean_us"] / 1000)
    except (ValueError, KeyError, TypeError) as exc:  # a cut-off line, a missing or non-numeric field
        raise RuntimeError(f"wrk printed a malformed summary ({type(exc).__name__}: {exc}): {line[:500]}") from None
    return result


def available() -> bool:
    return shutil.which("wrk") is not None


def run(url: str, script_path: Path, *, connections: int, seconds: float, cpu: int | None,
        timeout_s: float = 5.0) -> WrkResult:
    cmd = pinned(["wrk", "-t1", f"-c{connections}", f"-d{seconds:g}s", f"--timeout={timeout_s:g}s",
                  "-s", str(script_path), url], cpu)
    out = subprocess.run(cmd, capture_output=True, text=True, timeout=seconds + timeout_s + 30)
    if out.returncode != 0:
        raise RuntimeError(f"wrk failed ({out.returncode}): {out.stderr.strip() or out.stdout[-1000:]}")
    return parse(out.stdout, connections)
