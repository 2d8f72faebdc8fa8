"""The database engine from settings: SQLite in the data directory, or PostgreSQL by URL."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from sqlalchemy import event
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
        args: dict[str, Any] = {"timeout": CONNECT_TIMEOUT_S, "command_timeout": 10}
        return create_async_engine(url, connect_args=args, pool_pre_ping=True)
    engine = create_async_engine(url, connect_args={"timeout": SQLITE_BUSY_TIMEOUT_MS / 1000})

    @event.listens_for(engine.sync_engine, "connect")
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

    @event.listens_for(engine.sync_engine, "begin")
    def on_begin(connection: Any) -> None:
        # IMMEDIATE: a transaction that will write takes the lock now and waits its turn (busy
        # timeout) instead of failing when two processes upgrade a read lock at once. A reader
        # (READ_ONLY) takes no lock: in WAL mode it reads its snapshot beside the writer.
        read_only = connection.get_execution_options().get(READ_ONLY, False)
        connection.exec_driver_sql("BEGIN" if read_only else "BEGIN IMMEDIATE")

    return engine
