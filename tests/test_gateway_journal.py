"""The usage journal (issue 11): what a process that dies leaves in flight gets a record at the next start."""

from __future__ import annotations

import asyncio
import os

import orjson

from gateway.journal import Journal, read_entries, replay


def test_read_entries_gives_uncommitted_records_and_interrupted_requests() -> None:
    def s(rid: str, t: float = 100.0) -> bytes:
        return b"S " + orjson.dumps({"request_id": rid, "user_id": 7, "key_id": 3, "endpoint": "chat.completions",
                                     "model": "m", "stream": True, "t": t}) + b"\n"

    def r(rid: str) -> bytes:
        return b"R " + orjson.dumps({"request_id": rid, "user_id": 7, "endpoint": "chat.completions",
                                     "status": 200, "outcome": "ok", "cost": 0.5}) + b"\n"

    data = (s("a") + s("b") + s("c") + r("b") + r("c") + b"C c\n" + s("d") + r("d") + b"C d x\n" + s("e", 99.0)
            + b'R {"request_id": "cut-by-the-cra')
    out = {rec["request_id"]: rec for rec in read_entries(data, died_at=100.25)}
    assert set(out) == {"a", "b", "e"}
    assert out["b"]["outcome"] == "ok" and out["b"]["cost"] == 0.5  # finished, not committed: written as it was
    a = out["a"]
    assert (a["outcome"], a["status"], a["user_id"], a["key_id"], a["stream"]) == ("interrupted", 0, 7, 3, True)
    assert a["latency_ms"] == 250.0 and a["created_at"] == 100.0
    assert out["e"]["latency_ms"] == 1250.0


async def test_a_live_journal_is_never_replayed_a_dead_one_once(tmp_path) -> None:
    live = Journal(tmp_path, flush_s=0.001)
    live.start()
    live.started("req-live", 1, 1, "chat.completions", "m", False)
    await asyncio.sleep(0.01)
    # a process that died: its file stays, unlocked
    dead = Journal(tmp_path, flush_s=0.001)
    dead.start()
    dead.started("req-1", 1, 2, "chat.completions", "m", True)
    dead.started("req-2", 1, 2, "responses", "m", False)
    dead.recorded({"request_id": "req-2", "user_id": 1, "endpoint": "responses", "status": 200, "outcome": "ok"})
    dead.started("req-3", 1, 2, "responses", "m", False)
    dead.recorded({"request_id": "req-3", "user_id": 1, "endpoint": "responses", "status": 200, "outcome": "ok"})
    dead.committed(["req-3"])
    dead.flush()
    os.close(dead.fd)  # as the kernel does for a killed process: the lock goes, the file stays

    written: list[dict] = []

    async def write(records):
        written.extend(records)

    newcomer = Journal(tmp_path)
    newcomer.start()
    assert await replay(newcomer, write) == 2
    assert sorted((r["request_id"], r["outcome"]) for r in written) == [("req-1", "interrupted"), ("req-2", "ok")]
    assert not dead.path.exists() and live.path.exists()
    assert await replay(Journal(tmp_path), write) == 0  # replayed once only; the live file is locked
    live.committed(["req-live"])
    live.close()
    newcomer.close()
    assert list(tmp_path.glob("*.jsonl")) == []  # clean shutdowns leave nothing


async def test_compaction_keeps_only_open_entries(tmp_path) -> None:
    j = Journal(tmp_path, flush_s=0.001, max_bytes=2000)
    j.start()
    path = j.path
    for i in range(100):
        j.started(f"r{i}", 1, 1, "chat.completions", "m", False)
        j.recorded({"request_id": f"r{i}", "user_id": 1, "endpoint": "e", "status": 200, "outcome": "ok"})
        if i != 42:
            j.committed([f"r{i}"])
        j.flush()
    assert j.path == path and path.stat().st_size < 2000
    assert [r["request_id"] for r in read_entries(path.read_bytes(), 0)] == ["r42"]
    j.fd, fd = None, j.fd
    os.close(fd)
