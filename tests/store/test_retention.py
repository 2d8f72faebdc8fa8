"""Retention runs by itself: at start-up and then periodically, surviving a failing database."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from datetime import datetime, timedelta
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from service.api import create_app
from service.errors import StoreUnavailableError
from service.settings import Settings
from service.store import Answer, Store, open_store
from service.store.retention import keep_removing
from tests.store.conftest import Clock


async def test_the_app_removes_expired_summaries_by_itself(
    tmp_path: Path, answer_for: Callable[..., Answer], clock: Clock
) -> None:
    settings = Settings(data_dir=tmp_path / "data", retention_days=30)
    clock.now = datetime.now(clock.now.tzinfo) - timedelta(days=40)
    old, recent = answer_for("water-cap-hearing"), answer_for("water-cap-vote")
    async with open_store(settings, clock=clock) as store:
        await store.write([old])
        clock.advance(days=35)  # five days ago
        await store.write([recent])

    def start_app() -> list[str]:
        with TestClient(create_app(settings)) as http:
            for _ in range(50):  # the first cleanup runs as the app starts, in the background
                ids = [s["id"] for s in http.get("/v1/summaries").json()["items"]]
                if len(ids) == 1:
                    break
                http.portal.call(asyncio.sleep, 0.02)
            return ids

    assert await asyncio.to_thread(start_app) == [recent.response.id]


async def test_the_cleanup_repeats_and_outlives_a_failure(store: Store) -> None:
    calls: list[datetime] = []
    third = asyncio.Event()

    async def remove_older_than(cutoff: datetime) -> int:
        calls.append(cutoff)
        if len(calls) == 3:
            third.set()
        if len(calls) == 1:
            raise StoreUnavailableError("down for a moment")
        return 0

    store.remove_older_than = remove_older_than  # type: ignore[method-assign]
    task = asyncio.create_task(keep_removing(store, days=7, every_s=0.001))
    await asyncio.wait_for(third.wait(), 5)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert calls[0] == store.clock() - timedelta(days=7)
