"""Retention: answers older than NEWSBRIEF_RETENTION_DAYS are removed by a task that runs itself."""

from __future__ import annotations

import asyncio
import logging
from datetime import timedelta

from service.store.store import Store

log = logging.getLogger(__name__)
EVERY_S = 3600.0  # an hour: retention is counted in days


async def remove_expired(store: Store, days: int) -> int:
    """Remove every summary kept more than `days` days ago (by the store's clock)."""
    removed = await store.remove_older_than(store.clock() - timedelta(days=days))
    if removed:
        log.info("store: removed expired summaries", extra={"removed": removed, "days": days})
    return removed


async def keep_removing(store: Store, days: int, every_s: float = EVERY_S) -> None:
    """Run `remove_expired` now and then every `every_s`, until cancelled; a failure waits."""
    while True:
        try:
            await remove_expired(store, days)
        except Exception as exc:  # the database may be down: try again later
            log.warning("store: retention cleanup failed", extra={"reason": str(exc)[:300]})
        await asyncio.sleep(every_s)
