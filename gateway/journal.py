"""A local journal of the requests in flight and of the records not yet committed: billing that survives
a crash of the process (kill -9, the OOM killer), with an explicit, small loss window.

Each gateway process appends to a file of its own, `STATE_DIR/journal/<pid>-<random>.jsonl`:

    S {"request_id", "user_id", "key_id", "endpoint", "model", "stream", "t"}   the request passed its key check
    R {the usage record}                                                        it finished; the record is queued
    C id id ...                                                                 these records are committed

Lines are buffered and written with one `os.write` at most `flush_s` (5 ms by default) after the first
of them: that is the whole loss window of a process crash. Nothing is fsynced: what was written survives
the process (the kernel holds it), a power cut can lose what the disk had not got yet.

While its process lives the file is held with an exclusive `flock`. At start-up every process replays the
files it can lock (their owners are gone): a record `R` without its `C` is written as it was (tokens,
cost); a request `S` without an `R` gets a record with outcome `interrupted` (status 0, no tokens, its
latency up to the file's last write). Records already committed are skipped by their request id. With
several instances on one database, each keeps its journal in its own state dir: an instance that died
is replayed by the next process started on that state dir.

The file is rewritten with only the open entries when it passes `max_bytes`.
"""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import logging
import os
import secrets
import time
from pathlib import Path
from typing import Any

import orjson

from . import metrics

log = logging.getLogger("topapi.gateway.journal")

INTERRUPTED = "the gateway process stopped (a crash or kill -9) while this request was in flight"


class Journal:
    def __init__(self, folder: str | Path, *, flush_s: float = 0.005, max_bytes: int = 8 << 20) -> None:
        self.folder = Path(folder)
        self.flush_s, self.max_bytes = flush_s, max_bytes
        self.path: Path | None = None
        self.fd: int | None = None
        self.open: dict[str, bytes] = {}  # request id -> its latest line (S or R), until committed
        self.size = 0
        self._buffer: list[bytes] = []
        self._timer: asyncio.TimerHandle | None = None

    # -- the process's own file ------------------------------------------------------------------------------
    def start(self) -> None:
        self.folder.mkdir(parents=True, exist_ok=True)
        self.path, self.fd = self._new_file()

    def _new_file(self) -> tuple[Path, int]:
        """A locked file under its final name: made and locked under a temporary one, then renamed, so
        that a scan never sees an unlocked live file."""
        name = f"{os.getpid()}-{secrets.token_hex(4)}"
        tmp = self.folder / f"{name}.tmp"
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        final = self.folder / f"{name}.jsonl"
        os.rename(tmp, final)
        return final, fd

    def started(self, request_id: str, user_id: int, key_id: int | None, endpoint: str, model: str | None,
                stream: bool) -> None:
        line = b"S " + orjson.dumps({"request_id": request_id, "user_id": user_id, "key_id": key_id,
                                     "endpoint": endpoint, "model": model, "stream": stream,
                                     "t": time.time()}) + b"\n"
        self.open[request_id] = line
        self._add(line)

    def recorded(self, record: dict[str, Any]) -> None:
        line = b"R " + orjson.dumps(record) + b"\n"
        self.open[record["request_id"]] = line
        self._add(line)

    def committed(self, request_ids: list[str]) -> None:
        if not request_ids:
            return
        for rid in request_ids:
            self.open.pop(rid, None)
        self._add(("C " + " ".join(request_ids) + "\n").encode())

    def _add(self, line: bytes) -> None:
        if self.fd is None:
            return
        self._buffer.append(line)
        if self._timer is None:
            self._timer = asyncio.get_running_loop().call_later(self.flush_s, self.flush)

    def flush(self) -> None:
        self._timer = None
        if not self._buffer or self.fd is None:
            return
        data = b"".join(self._buffer)
        self._buffer.clear()
        try:
            os.write(self.fd, data)
        except OSError:
            log.exception("journal: write to %s failed (a crash now would lose these records)", self.path)
            return
        self.size += len(data)
        if self.size > self.max_bytes:
            self._compact()

    def _compact(self) -> None:
        """Rewrite the file with the open entries only (the committed ones are history)."""
        old_fd = self.fd
        path, fd = self._new_file()
        data = b"".join(self.open.values())
        os.write(fd, data)
        os.replace(path, self.path)  # the old inode goes; a scan that locked it sees it unlinked
        self.fd, self.size = fd, len(data)
        os.close(old_fd)

    def close(self) -> None:
        """Clean shutdown: every record is committed (the usage writer drained first), the file goes."""
        if self._timer is not None:
            self._timer.cancel()
        self.flush()
        if self.fd is not None:
            if self.open:  # something was not committed: leave it for the next start to replay
                log.warning("journal: %d entries left open in %s for the next start", len(self.open), self.path)
            else:
                with contextlib.suppress(OSError):
                    os.unlink(self.path)
            os.close(self.fd)
            self.fd = None

    # -- replaying the files of processes that are gone ---------------------------------------------------------
    def orphans(self) -> list[tuple[Path, int]]:
        """Journal files whose owner is gone, each locked by us now: (path, fd)."""
        found = []
        for path in sorted(self.folder.glob("*.jsonl")):
            if path == self.path:
                continue
            try:
                fd = os.open(path, os.O_RDONLY)
            except FileNotFoundError:
                continue
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                if os.fstat(fd).st_ino != os.stat(path).st_ino:  # replaced while we opened it (compaction)
                    raise BlockingIOError
            except (BlockingIOError, FileNotFoundError):
                os.close(fd)
                continue
            found.append((path, fd))
        return found


def read_entries(data: bytes, died_at: float) -> list[dict[str, Any]]:
    """The records to write for a dead process's journal: uncommitted ones, and `interrupted` ones."""
    entries: dict[str, tuple[str, dict[str, Any]]] = {}
    for raw in data.split(b"\n"):
        kind, _, rest = raw.partition(b" ")
        try:
            if kind == b"S":
                item = orjson.loads(rest)
                entries.setdefault(item["request_id"], ("S", item))
            elif kind == b"R":
                item = orjson.loads(rest)
                entries[item["request_id"]] = ("R", item)
            elif kind == b"C":
                for rid in rest.decode().split():
                    entries[rid] = ("C", {})
        except (orjson.JSONDecodeError, KeyError, UnicodeDecodeError):
            continue  # a line cut by the crash: the last one, at most
    out = []
    for rid, (kind, item) in entries.items():
        if kind == "R":
            out.append(item)
        elif kind == "S":
            out.append({"request_id": rid, "user_id": item["user_id"], "key_id": item.get("key_id"),
                        "endpoint": item["endpoint"], "model": item.get("model"), "stream": bool(item.get("stream")),
                        "status": 0, "outcome": "interrupted", "error": INTERRUPTED, "created_at": item["t"],
                        "latency_ms": round(max(0.0, died_at - item["t"]) * 1000, 3)})
    return out


async def replay(journal: Journal, write: Any) -> int:
    """Write the records of every orphaned journal (`write(records)` skips those already stored), then
    remove the files. Returns how many records were written."""
    total = 0
    for path, fd in journal.orphans():
        try:
            data = path.read_bytes()
            records = read_entries(data, os.fstat(fd).st_mtime)
            if records:
                await write(records)
                for rec in records:
                    metrics.JOURNAL_RECOVERED.labels(rec["outcome"]).inc()
                log.warning("journal: %d records of a process that stopped without committing them, from %s "
                            "(%d interrupted)", len(records), path.name,
                            sum(r["outcome"] == "interrupted" for r in records))
            total += len(records)
            path.unlink()
        finally:
            os.close(fd)
    return total
