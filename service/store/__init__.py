"""The store: every answer kept with its request, claims searchable across articles, feedback.

engine.py     the engines from settings (SQLite in the data dir, or PostgreSQL by URL)
tables.py     the schema as SQLAlchemy Core sees it; migrations/ creates and upgrades it
migrate.py    runs the Alembic migrations shipped here (at start-up and `newsbrief db upgrade`)
store.py      Store: the reads and writes
inserts.py    the answers' INSERTs compiled once from tables.py, run on the SQLite driver
writer.py     Writer: the background, batched write path the API uses
retention.py  the periodic cleanup of expired answers
cursor.py     opaque keyset cursors for the lists
records.py    Answer (in), Stored and ReviewedSummary (out)
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from datetime import datetime

from service.settings import Settings
from service.store.engine import create_engine, create_write_engines, database_url
from service.store.records import Answer, ReviewedSummary, Stored
from service.store.store import Store, utcnow
from service.store.writer import Writer


@asynccontextmanager
async def open_store(
    settings: Settings, *, clock: Callable[[], datetime] = utcnow, migrate: bool = True
) -> AsyncIterator[Store]:
    """The store the settings describe, migrated to the newest schema; closed on exit.

    With `migrate=False` an unreachable database does not stop this: the store migrates on its
    first write instead (Store.migrate), so the service can start and answer without it."""
    url = settings.database_url.get_secret_value() if settings.database_url else None
    full_url = database_url(url, settings.data_dir)
    write_engine, waiting_engine = create_write_engines(full_url)
    store = Store(
        create_engine(full_url),
        write_engine=write_engine,
        waiting_engine=waiting_engine,
        keep_text=settings.store_article_text,
        clock=clock,
    )
    try:
        if migrate:
            await store.migrate()
        yield store
    finally:
        await store.close()


__all__ = ["Answer", "ReviewedSummary", "Store", "Stored", "Writer", "open_store"]
