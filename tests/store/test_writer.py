"""The write path's queue: batches, a bad answer alone in failing, a full queue, a cool-down."""

from __future__ import annotations

import asyncio
import dataclasses
import sqlite3
from collections.abc import Callable, Sequence

import pytest

from service.errors import StoreUnavailableError
from service.settings import Settings
from service.store import Answer, Store, Writer


async def test_answers_that_arrive_together_are_written_in_one_transaction(
    store: Store, answer_for: Callable[..., Answer]
) -> None:
    batches: list[int] = []
    real = store.write

    async def counting(answers: Sequence[Answer]) -> None:
        batches.append(len(answers))
        await real(answers)

    store.write = counting  # type: ignore[method-assign]
    outcomes: list[tuple[str, int]] = []
    writer = Writer(store, 100, on_written=lambda o, n: outcomes.append((o, n)))
    writer.start()
    kept = [writer.submit(answer_for("water-cap-vote")) for _ in range(5)]
    await asyncio.gather(*kept)
    await writer.close(timeout_s=5)
    assert batches == [5] and outcomes == [("stored", 5)]
    assert len((await store.summaries()).items) == 5


async def test_one_bad_answer_fails_alone(store: Store, answer_for: Callable[..., Answer]) -> None:
    good = answer_for("water-cap-vote")
    twin = dataclasses.replace(good, created_at=None)  # the same id: the database refuses it
    other = answer_for("water-cap-hearing")
    writer = Writer(store, 100)
    writer.start()
    results = await asyncio.gather(
        *(writer.submit(a) for a in (good, twin, other)), return_exceptions=True
    )
    await writer.close(timeout_s=5)
    assert results[0] is None and results[2] is None
    assert isinstance(results[1], StoreUnavailableError)
    assert {s.id for s in (await store.summaries()).items} == {
        good.response.id,
        other.response.id,
    }


async def test_a_full_queue_and_a_failed_store_refuse_at_once(
    store: Store, answer_for: Callable[..., Answer]
) -> None:
    now = [0.0]
    outcomes: list[str] = []
    writer = Writer(store, 1, on_written=lambda o, n: outcomes.append(o), clock=lambda: now[0])
    first = writer.submit(answer_for("water-cap-vote"))  # not started: it stays queued
    second = writer.submit(answer_for("water-cap-vote"))
    with pytest.raises(StoreUnavailableError, match="queue is full"):
        await second
    writer._down_until = 2.0  # as after a failed write
    with pytest.raises(StoreUnavailableError, match="moments ago"):
        await writer.submit(answer_for("water-cap-vote"))
    now[0] = 2.5  # the cool-down is over: answers queue again
    writer.start()
    await first
    await writer.close(timeout_s=5)
    assert outcomes == ["refused", "refused", "stored"]


async def test_a_batch_that_must_wait_for_the_lock_holds_the_next_behind_it(
    store: Store, answer_for: Callable[..., Answer], store_settings: Settings
) -> None:
    """SQLite: while another process holds the write lock, a batch waits its turn in the write
    thread (the loop's own connection never waits), and what comes meanwhile is written after
    it, together."""
    if store.engine.dialect.name != "sqlite":
        pytest.skip("the write lock of another process: SQLite's")
    outcomes: list[tuple[str, int]] = []
    writer = Writer(store, 100, on_written=lambda o, n: outcomes.append((o, n)))
    writer.start()
    await writer.submit(answer_for("water-cap-vote"))  # migrated, connection open: at once
    other = sqlite3.connect(store_settings.data_dir / "newsbrief.db", isolation_level=None)
    other.execute("BEGIN IMMEDIATE")  # another process's write, in progress
    first = [writer.submit(answer_for("water-cap-vote")) for _ in range(2)]
    await asyncio.sleep(0.05)
    later = [writer.submit(answer_for("water-cap-hearing")) for _ in range(3)]
    await asyncio.sleep(0.05)
    assert not any(f.done() for f in first + later) and writer.queued == 3
    other.execute("COMMIT")
    await asyncio.gather(*first, *later)
    await writer.close(timeout_s=5)
    other.close()
    assert outcomes == [("stored", 1), ("stored", 2), ("stored", 3)]
    assert len((await store.summaries()).items) == 6
