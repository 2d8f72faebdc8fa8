"""The database engines from settings: SQLite in the data directory, or PostgreSQL by URL.

Reads, migrations and the rare writes (feedback, deletes) go through one async engine. Answers
are written through engines of their own, built for one batch in as few trips as the driver
allows (see create_write_engines)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import sqlalchemy
from sqlalchemy import Engine, event
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine

SQLITE_BUSY_TIMEOUT_MS = 5000  # a second process holding the write lock is waited for this long
CONNECT_TIMEOUT_S = 3.0  # an unreachable PostgreSQL fails in this, not the OS's minutes
READ_ONLY = "newsbrief_read_only"  # an execution option: this connection only reads


def database_url(url: str | None, data_dir: Path) -> str:
    """The async SQLAlchemy URL: postgresql:// gets asyncpg, no URL a file in the data dir."""
    if not url:
        data_dir.mkdir(parents=True, exist_ok=True)
        return f"sqlite+aiosqlite:///{(data_dir / 'newsbrief.db').resolve()}"
    parsed = make_url(url)
    if parsed.drivername in ("postgresql", "postgres"):
        parsed = parsed.set(drivername="postgresql+asyncpg")
    elif parsed.drivername == "sqlite":
        parsed = parsed.set(drivername="sqlite+aiosqlite")
    return parsed.render_as_string(hide_password=False)


def create_engine(url: str) -> AsyncEngine:
    """An engine whose every transaction takes the write lock up front on SQLite (see below)."""
    if not url.startswith("sqlite"):
        # Checked before use: a connection the server dropped costs a read nothing but time.
        return create_async_engine(url, connect_args=_pg_connect_args(), pool_pre_ping=True)
    engine = create_async_engine(url, connect_args={"timeout": SQLITE_BUSY_TIMEOUT_MS / 1000})
    _sqlite_session(engine.sync_engine, SQLITE_BUSY_TIMEOUT_MS)
    return engine


def create_write_engines(url: str) -> tuple[Engine | AsyncEngine, Engine | None]:
    """The engines answers are written through: one for a batch at once, one that may wait.

    SQLite: sync engines on the stdlib driver, so a batch is one call, not the ~20 round trips to
    aiosqlite's thread its statements cost (most of a write's time). The first runs it in the
    event loop's own thread and never waits: no busy timeout (another process's write lock fails
    it at once) and no automatic checkpoint (the store checkpoints in its write thread). In a
    thread of its own a batch waited for the GIL behind the busy loop at every statement, adding
    milliseconds a write under load. The second, with the busy timeout, is for the write thread:
    a batch that found the lock taken, and checkpoints.
    PostgreSQL: asyncpg without the pool's pre-ping, which costs three round trips (BEGIN, a
    ping, ROLLBACK) per batch; a connection the server dropped shows as a failed write instead,
    which Store.write retries once on a fresh connection."""
    if not url.startswith("sqlite"):
        return create_async_engine(url, connect_args=_pg_connect_args(), pool_size=2), None
    return _sqlite_sync_engine(url, busy_timeout_ms=0), _sqlite_sync_engine(url)


def _sqlite_sync_engine(url: str, busy_timeout_ms: int = SQLITE_BUSY_TIMEOUT_MS) -> Engine:
    engine = sqlalchemy.create_engine(
        make_url(url).set(drivername="sqlite+pysqlite"),
        # Used by one thread at a time, not always the one that opened the connection.
        connect_args={"timeout": busy_timeout_ms / 1000, "check_same_thread": False},
    )
    _sqlite_session(engine, busy_timeout_ms, autocheckpoint=busy_timeout_ms > 0)
    return engine


def _pg_connect_args() -> dict[str, Any]:
    return {"timeout": CONNECT_TIMEOUT_S, "command_timeout": 10}


def _sqlite_session(engine: Engine, busy_timeout_ms: int, *, autocheckpoint: bool = True) -> None:
    """Every SQLite connection in WAL mode, each writing transaction IMMEDIATE (see below)."""

    @event.listens_for(engine, "connect")
    def on_connect(dbapi_connection: Any, _record: Any) -> None:
        # The driver's own implicit BEGIN is off, so SQLAlchemy's "begin" below decides; DDL in
        # a migration is then transactional too (SQLAlchemy's documented aiosqlite recipe).
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")  # readers never wait for the writer
        cursor.execute("PRAGMA synchronous=NORMAL")  # safe with WAL; no fsync per commit
        cursor.execute(f"PRAGMA busy_timeout={busy_timeout_ms}")
        cursor.execute("PRAGMA foreign_keys=ON")
        if not autocheckpoint:
            cursor.execute("PRAGMA wal_autocheckpoint=0")
        cursor.close()

    @event.listens_for(engine, "begin")
    def on_begin(connection: Any) -> None:
        # IMMEDIATE: a transaction that will write takes the lock now and waits its turn (busy
        # timeout) instead of failing when two processes upgrade a read lock at once. A reader
        # (READ_ONLY) takes no lock: in WAL mode it reads its snapshot beside the writer.
        read_only = connection.get_execution_options().get(READ_ONLY, False)
        connection.exec_driver_sql("BEGIN" if read_only else "BEGIN IMMEDIATE")
