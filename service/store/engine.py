"""The database engines from settings: SQLite in the data directory, or PostgreSQL by URL.

Reads, migrations and the rare writes (feedback, deletes) go through one async engine. Answers
are written through a write engine of their own, built for one batch in as few trips as the driver
allows (see create_write_engine)."""

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
    _sqlite_session(engine.sync_engine)
    return engine


def create_write_engine(url: str) -> Engine | AsyncEngine:
    """The engine answers are written through, tuned for one batch per call.

    SQLite: a sync engine on the stdlib driver, so the store runs a whole batch as one call in
    its own thread; through aiosqlite every statement (and its cursor, BEGIN and COMMIT) is a
    round trip to aiosqlite's thread, about 20 a batch, which was most of a write's cost.
    PostgreSQL: asyncpg without the pool's pre-ping, which costs three round trips (BEGIN, a
    ping, ROLLBACK) per batch; a connection the server dropped shows as a failed write instead,
    which Store.write retries once on a fresh connection."""
    if not url.startswith("sqlite"):
        return create_async_engine(url, connect_args=_pg_connect_args(), pool_size=2)
    sync_url = make_url(url).set(drivername="sqlite+pysqlite")
    engine = sqlalchemy.create_engine(
        sync_url,
        # The store's one write thread uses it, though not the thread that opened it.
        connect_args={"timeout": SQLITE_BUSY_TIMEOUT_MS / 1000, "check_same_thread": False},
    )
    _sqlite_session(engine)
    return engine


def _pg_connect_args() -> dict[str, Any]:
    return {"timeout": CONNECT_TIMEOUT_S, "command_timeout": 10}


def _sqlite_session(engine: Engine) -> None:
    """Every SQLite connection in WAL mode, each writing transaction IMMEDIATE (see below)."""

    @event.listens_for(engine, "connect")
    def on_connect(dbapi_connection: Any, _record: Any) -> None:
        # The driver's own implicit BEGIN is off, so SQLAlchemy's "begin" below decides; DDL in
        # a migration is then transactional too (SQLAlchemy's documented aiosqlite recipe).
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")  # readers never wait for the writer
        cursor.execute("PRAGMA synchronous=NORMAL")  # safe with WAL; no fsync per commit
        cursor.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS}")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.close()

    @event.listens_for(engine, "begin")
    def on_begin(connection: Any) -> None:
        # IMMEDIATE: a transaction that will write takes the lock now and waits its turn (busy
        # timeout) instead of failing when two processes upgrade a read lock at once. A reader
        # (READ_ONLY) takes no lock: in WAL mode it reads its snapshot beside the writer.
        read_only = connection.get_execution_options().get(READ_ONLY, False)
        connection.exec_driver_sql("BEGIN" if read_only else "BEGIN IMMEDIATE")
