"""`Store`: the async engine for a database URL, with the schema created on open.

SQLite (aiosqlite) is the embedded default: WAL mode, a busy timeout and foreign keys on
every connection. PostgreSQL (asyncpg) is the scale-out store. Schema creation is
idempotent and safe when several processes open the same database at once: SQLite
serialises it with BEGIN IMMEDIATE, PostgreSQL with a transaction-scoped advisory lock.
"""

from __future__ import annotations

import asyncio
import re
import sqlite3
from collections.abc import AsyncIterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

from sqlalchemy import event, exc, inspect, text
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, create_async_engine
from sqlalchemy.sql import Executable

from .schema import ADDED_COLUMNS, metadata

SQLITE_BUSY_TIMEOUT_MS = 10_000
SCHEMA_LOCK_ID = 0x70A9_1DB  # advisory lock key for schema creation (any constant shared by all instances)
_SCHEMA_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,62}$")


class Conflict(Exception):
    """A unique value is taken (username, model name, node name)."""

    def __init__(self, field: str, value: Any) -> None:
        super().__init__(f"{field} {value!r} already exists")
        self.field, self.value = field, value


def row_dict(row: Any) -> dict[str, Any]:
    """A result row as a plain dict with plain `str` keys (SQLAlchemy's are str subclasses,
    which orjson refuses)."""
    return {str(key): value for key, value in row._mapping.items()}


def normalize_url(url: str) -> str:
    """Accept plain `sqlite:///` and `postgresql://` URLs and pick the async driver for them."""
    for plain, driver in (("sqlite://", "sqlite+aiosqlite://"), ("postgresql://", "postgresql+asyncpg://"),
                          ("postgres://", "postgresql+asyncpg://")):
        if url.startswith(plain):
            return driver + url[len(plain):]
    return url


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    cursor = dbapi_connection.cursor()
    for pragma in (f"busy_timeout={SQLITE_BUSY_TIMEOUT_MS}", "journal_mode=WAL", "foreign_keys=ON",
                   "synchronous=NORMAL"):
        cursor.execute(f"PRAGMA {pragma}")
    cursor.close()


# one statement of a bulk write: the statement, and the rows for its executemany
Step = tuple[Executable, Sequence[dict[str, Any]]]


class Store:
    def __init__(self, engine: AsyncEngine) -> None:
        self.engine = engine
        self.dialect: str = engine.dialect.name  # "sqlite" | "postgresql"
        self._compiled: dict[Executable, tuple[str, tuple[str, ...]]] = {}  # statement -> (SQL, parameter order)
        database = engine.url.database or ""
        file_db = self.dialect == "sqlite" and database not in ("", ":memory:") and not database.startswith("file:")
        self._sqlite_writer = _SqliteWriter(database) if file_db else None

    @staticmethod
    def url_for_state_dir(state_dir: str | Path) -> str:
        return f"sqlite+aiosqlite:///{Path(state_dir).resolve() / 'topapi.sqlite3'}"

    @classmethod
    async def open(cls, url: str, *, schema: str | None = None, create: bool = True, echo: bool = False) -> Store:
        """Connect to `url` and create the tables that are missing.

        `schema` (PostgreSQL only) puts every table in that schema, created if needed: the
        tests use one per test so parallel runs on one database do not see each other.
        """
        url = normalize_url(url)
        parsed = make_url(url)
        kwargs: dict[str, Any] = {"echo": echo}
        if parsed.get_backend_name() == "sqlite":
            if schema:
                raise ValueError("schema= is for PostgreSQL only")
            database = parsed.database or ""
            if database and database != ":memory:" and not database.startswith("file:"):
                Path(database).parent.mkdir(parents=True, exist_ok=True)
            kwargs["connect_args"] = {"timeout": SQLITE_BUSY_TIMEOUT_MS / 1000}
        elif schema:
            if not _SCHEMA_NAME.match(schema):
                raise ValueError(f"invalid schema name {schema!r}")
            await _create_pg_schema(url, schema)
            kwargs["connect_args"] = {"server_settings": {"search_path": schema}}
        engine = create_async_engine(url, **kwargs)
        if engine.dialect.name == "sqlite":
            event.listen(engine.sync_engine, "connect", _sqlite_pragmas)
        store = cls(engine)
        if create:
            try:
                await store.create_schema()
            except BaseException:
                await engine.dispose()
                raise
        return store

    async def create_schema(self) -> None:
        async with self.engine.connect() as conn:
            if self.dialect == "sqlite":
                # pysqlite does not BEGIN before DDL by itself; IMMEDIATE takes the write lock now,
                # so a second process waits (busy_timeout) and then sees the tables
                await conn.exec_driver_sql("BEGIN IMMEDIATE")
            elif self.dialect == "postgresql":
                await conn.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": SCHEMA_LOCK_ID})
            await conn.run_sync(metadata.create_all, checkfirst=True)
            await conn.run_sync(_add_missing_columns)
            await conn.commit()

    def begin(self) -> Any:
        """`async with store.begin() as conn:` one transaction, committed on success."""
        return self.engine.begin()

    @asynccontextmanager
    async def read(self) -> AsyncIterator[AsyncConnection]:
        """A connection for reads (no commit)."""
        async with self.engine.connect() as conn:
            yield conn

    async def one(self, query: Executable) -> dict[str, Any] | None:
        """The first row of a query as a dict, or None."""
        async with self.read() as conn:
            row = (await conn.execute(query)).first()
        return row_dict(row) if row else None

    async def write_many(self, steps: Sequence[Step]) -> None:
        """Run each step as one executemany, all in ONE transaction: the write-behind batches.

        The statements are compiled once, the rows passed straight to the driver. On a SQLite
        file a dedicated connection does the whole transaction in one hop to its own thread
        (through the pool, aiosqlite made some 16 thread round trips per transaction). A unique
        violation raises sqlalchemy's IntegrityError on either database."""
        compiled = []
        for stmt, rows in steps:
            if rows:
                sql, keys = self._compile(stmt)
                compiled.append((sql, [tuple(row[k] for k in keys) for row in rows]))
        if not compiled:
            return
        if self._sqlite_writer is not None:
            await self._sqlite_writer.run(compiled)
            return
        async with self.engine.begin() as conn:
            for sql, rows in compiled:
                await conn.exec_driver_sql(sql, rows)

    def _compile(self, stmt: Executable) -> tuple[str, tuple[str, ...]]:
        found = self._compiled.get(stmt)
        if found is None:
            c = stmt.compile(dialect=self.engine.dialect)
            found = self._compiled[stmt] = (c.string, tuple(c.positiontup or ()))
        return found

    async def close(self) -> None:
        if self._sqlite_writer is not None:
            await self._sqlite_writer.close()
        await self.engine.dispose()


class _SqliteWriter:
    """A SQLite connection of its own, used from one thread: a transaction in one hop."""

    def __init__(self, path: str) -> None:
        self.path = path
        self.conn: sqlite3.Connection | None = None
        self.pool = ThreadPoolExecutor(1, thread_name_prefix="sqlite-writer")

    async def run(self, steps: list[tuple[str, list[tuple[Any, ...]]]]) -> None:
        try:
            await asyncio.get_running_loop().run_in_executor(self.pool, self._transaction, steps)
        except sqlite3.IntegrityError as e:
            raise exc.IntegrityError(steps[0][0], None, e) from None

    def _transaction(self, steps: list[tuple[str, list[tuple[Any, ...]]]]) -> None:
        if self.conn is None:
            self.conn = sqlite3.connect(self.path, timeout=SQLITE_BUSY_TIMEOUT_MS / 1000, isolation_level=None)
            _sqlite_pragmas(self.conn, None)
        conn = self.conn
        conn.execute("BEGIN IMMEDIATE")
        try:
            for sql, rows in steps:
                conn.executemany(sql, rows)
            conn.execute("COMMIT")
        except BaseException:
            conn.execute("ROLLBACK")
            raise

    async def close(self) -> None:
        def shut() -> None:
            if self.conn is not None:
                self.conn.close()
                self.conn = None
        await asyncio.get_running_loop().run_in_executor(self.pool, shut)
        self.pool.shutdown(wait=True)


def _add_missing_columns(sync_conn: Any) -> None:
    """Bring a database made by an older version up to date: nullable columns added since."""
    inspector = inspect(sync_conn)
    have: dict[str, set[str]] = {}
    for column in ADDED_COLUMNS:
        table = column.table.name
        if table not in have:
            have[table] = {c["name"] for c in inspector.get_columns(table)}
        if column.name not in have[table]:
            kind = column.type.compile(dialect=sync_conn.dialect)
            sync_conn.exec_driver_sql(f'ALTER TABLE {table} ADD COLUMN "{column.name}" {kind}')


async def _create_pg_schema(url: str, schema: str) -> None:
    engine = create_async_engine(url)
    try:
        async with engine.begin() as conn:
            # CREATE SCHEMA IF NOT EXISTS can still race on the catalog's unique index
            await conn.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": SCHEMA_LOCK_ID})
            await conn.exec_driver_sql(f'CREATE SCHEMA IF NOT EXISTS "{schema}"')
    finally:
        await engine.dispose()


async def drop_pg_schema(url: str, schema: str) -> None:
    """Remove a schema made by `Store.open(url, schema=...)` and everything in it (tests)."""
    if not _SCHEMA_NAME.match(schema):
        raise ValueError(f"invalid schema name {schema!r}")
    engine = create_async_engine(normalize_url(url))
    try:
        async with engine.begin() as conn:
            await conn.exec_driver_sql(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')
    finally:
        await engine.dispose()
