"""Gateway settings: one dataclass, filled from `topapi serve` flags (or tests)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path


@dataclass
class GatewayConfig:
    state_dir: Path = Path("state")
    database_url: str | None = None  # default: SQLite in state_dir
    database_schema: str | None = None  # PostgreSQL schema (tests isolate themselves with one)
    connect_timeout_s: float = 5.0  # upstream TCP connect
    read_timeout_s: float = 60.0  # upstream silence (headers, or between two chunks) before failover
    max_attempts: int = 3  # nodes tried for one request before giving up
    breaker_threshold: int = 5  # consecutive failures that open a node's circuit
    breaker_cooldown_s: float = 10.0  # open -> half-open
    cache_ttl_s: float | None = None  # reload the in-memory snapshot periodically (several instances)
    max_body_bytes: int = 64 * 1024 * 1024
    usage_queue_size: int = 10_000
    usage_batch_size: int = 500
    # how long the usage writer waits for more records before a commit: at low rates every request
    # would otherwise pay for its own transaction (the profile's biggest cost at one connection)
    usage_linger_s: float = 0.02
    session_ttl_s: float = 7 * 24 * 3600
    journal_flush_s: float = 0.005  # the usage journal's write delay: what a process crash can lose
    # several workers / instances (gateway/shared.py, gateway/sync.py)
    redis_url: str | None = None  # shared limits, spend and change notices; None: per process
    redis_prefix: str = "topapi:"  # names in Redis start with this (and the database's id)
    redis_timeout_s: float = 0.25  # a Redis call slower than this counts as Redis being away
    sync_poll_s: float = 0.25  # how often each process reads the change counter (0: never)
    shutdown_grace_s: float = 30.0  # SIGTERM: how long requests in flight may take to finish

    @property
    def db_url(self) -> str:
        if self.database_url:
            return self.database_url
        return f"sqlite+aiosqlite:///{(Path(self.state_dir) / 'topapi.sqlite3').resolve()}"
