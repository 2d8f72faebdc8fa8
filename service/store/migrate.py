"""Bring a database to the newest schema with the Alembic migrations shipped in this package."""

from __future__ import annotations

from pathlib import Path

from sqlalchemy import Connection, Engine
from sqlalchemy.ext.asyncio import AsyncEngine

MIGRATIONS = Path(__file__).resolve().parent / "migrations"
_PG_LOCK = 0x6E657773  # any constant: replicas starting together migrate one at a time


async def upgrade(engine: AsyncEngine) -> None:
    """Run every migration not yet applied, in one transaction (empty database included)."""
    async with engine.begin() as conn:
        if conn.dialect.name == "postgresql":
            await conn.exec_driver_sql(f"SELECT pg_advisory_xact_lock({_PG_LOCK})")
        await conn.run_sync(_upgrade)


def upgrade_sync(engine: Engine) -> None:
    """The same on a sync engine: SQLite's DDL in one call rather than a trip to aiosqlite's
    thread per statement (most of a fresh database's start-up)."""
    with engine.begin() as conn:
        _upgrade(conn)


def _upgrade(connection: Connection) -> None:
    # Imported here: Alembic is ~0.3 s of start-up that a process which never migrates (the
    # store off, a CLI command, most test processes) need not pay.
    from alembic import command
    from alembic.config import Config

    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    config.attributes["connection"] = connection
    command.upgrade(config, "head")
