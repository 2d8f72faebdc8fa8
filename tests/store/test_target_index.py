"""SQLite indexes claims' targets after their answer's write (migration 0002): a search by target
still finds every answer kept, deletes keep the index whole, and a database from before keeps
what it had indexed."""

from __future__ import annotations

import dataclasses
import logging
import sqlite3
from collections.abc import Callable
from pathlib import Path

import pytest
from alembic import command
from alembic.config import Config
from sqlalchemy import create_engine, insert
from sqlalchemy.exc import OperationalError

from service.ids import new_id
from service.settings import Settings
from service.store import Answer, Store, open_store
from service.store.migrate import MIGRATIONS
from service.store.tables import claims, summaries
from tests.store.conftest import sent


def _with_target(answer: Answer, target: str) -> Answer:
    claims = [c.model_copy(update={"target": target}) for c in answer.response.claims]
    return sent(answer, id=new_id(), claims=claims)


async def _found(store: Store, words: str) -> set[str]:
    return {c.summary_id for c in (await store.claims(target=words)).items}


def _index_is_whole(db: Path) -> None:
    """FTS5's own check, against the claims table itself (rank 1): the index holds exactly the
    claims' targets, each once (all indexed by now: a search just ran)."""
    conn = sqlite3.connect(db)
    try:
        conn.execute("INSERT INTO claims_fts(claims_fts, rank) VALUES ('integrity-check', 1)")
        conn.commit()
    finally:
        conn.close()


async def test_deleting_claims_indexed_or_not_keeps_the_index_whole_and_new_claims_found(
    tmp_path: Path, answer_for: Callable[..., Answer]
) -> None:
    base = answer_for("water-cap-vote")
    first, second = _with_target(base, "ferry levy"), _with_target(base, "harbour fees")
    async with open_store(Settings(data_dir=tmp_path / "data")) as store:
        await store.write([first, second])
        assert await _found(store, "levy") == {first.response.id}  # both indexed now
        pending = _with_target(base, "harbour lights")
        await store.write([pending])  # not indexed yet
        await store.delete(pending.response.id)  # a claim never indexed leaves nothing behind
        await store.delete(second.response.id)  # the highest indexed ids: SQLite reuses them
        later = _with_target(base, "harbour tolls")
        await store.write([later])
        assert await _found(store, "harbour") == {later.response.id}
        assert await _found(store, "levy") == {first.response.id}
    _index_is_whole(tmp_path / "data" / "newsbrief.db")


async def test_a_database_from_before_keeps_its_claims_searchable(
    tmp_path: Path, answer_for: Callable[..., Answer]
) -> None:
    """Migration 0002 from a 0001 database that holds claims its insert trigger indexed."""
    data = tmp_path / "data"
    data.mkdir()
    engine = create_engine(f"sqlite:///{data / 'newsbrief.db'}")
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    old = _with_target(answer_for("water-cap-vote"), "ferry levy")
    async with open_store(Settings(data_dir=data), migrate=False) as unopened:
        summary_rows, claim_rows = unopened._rows([old])
    with engine.begin() as conn:
        config.attributes["connection"] = conn
        command.upgrade(config, "0001")
        conn.execute(insert(summaries), summary_rows)
        conn.execute(insert(claims), claim_rows)  # indexed by 0001's trigger
    engine.dispose()
    async with open_store(Settings(data_dir=data)) as store:  # migrates to the newest
        new = _with_target(answer_for("water-cap-vote"), "ferry timetable")
        await store.write([new])
        assert await _found(store, "ferry") == {old.response.id, new.response.id}
    _index_is_whole(data / "newsbrief.db")


async def test_a_search_goes_on_over_what_is_indexed_when_indexing_cannot(
    tmp_path: Path,
    answer_for: Callable[..., Answer],
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """Indexing needs the write lock; another process holding it past the busy timeout must not
    turn a search into a failure (reads never wait on writers otherwise)."""
    base = answer_for("water-cap-vote")
    first, later = _with_target(base, "ferry levy"), _with_target(base, "ferry timetable")
    async with open_store(Settings(data_dir=tmp_path / "data")) as store:
        await store.write([first])
        assert await _found(store, "ferry") == {first.response.id}  # indexed
        await store.write([later])

        def locked(*_: object) -> None:
            raise OperationalError("BEGIN IMMEDIATE", None, sqlite3.OperationalError("locked"))

        monkeypatch.setattr(store, "_catch_up", locked)
        with caplog.at_level(logging.WARNING, logger="service.store.store"):
            assert await _found(store, "ferry") == {first.response.id}  # what was indexed
        assert "the newest claims not caught up before a read" in caplog.text
        monkeypatch.undo()
        assert await _found(store, "ferry") == {first.response.id, later.response.id}


def _count(db: Path, sql: str) -> int:
    with sqlite3.connect(db) as c:
        return int(c.execute(sql).fetchone()[0])


async def test_the_write_threads_upkeep_catches_up_without_a_read(
    tmp_path: Path, answer_for: Callable[..., Answer], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Every UPKEEP_EVERY answers the write thread moves what is pending into `claims` on its
    own: `claims_pending` does not grow until someone reads."""
    monkeypatch.setattr("service.store.store.UPKEEP_EVERY", 5)
    db = tmp_path / "data" / "newsbrief.db"
    base = answer_for("water-cap-vote")
    async with open_store(Settings(data_dir=tmp_path / "data")) as store:
        for _ in range(4):
            await store.write([sent(base, id=new_id())])
        assert _count(db, "SELECT count(*) FROM claims_pending") == 4
        await store.write([sent(base, id=new_id())])
        assert store._checkpoint is not None
        await store._checkpoint
        assert _count(db, "SELECT count(*) FROM claims_pending") == 0
        assert _count(db, "SELECT count(*) FROM claims") == 5 * len(base.response.claims)


async def test_summaries_count_claims_still_pending(
    tmp_path: Path, answer_for: Callable[..., Answer]
) -> None:
    answers = [answer_for("water-cap-vote"), answer_for("water-cap-hearing")]
    async with open_store(Settings(data_dir=tmp_path / "data")) as store:
        for answer in answers:
            await store.write([answer])
        counts = {s.id: s.claims for s in (await store.summaries()).items}
    assert counts == {a.response.id: len(a.response.claims) for a in answers}


async def test_a_read_does_not_queue_behind_a_write_waiting_for_the_lock(
    tmp_path: Path, answer_for: Callable[..., Answer]
) -> None:
    """A write that finds another process holding the lock waits in the write thread (up to the
    5 s busy timeout); a read's catch-up runs beside it and gives up after READ_WAIT_MS."""
    import asyncio
    import time

    async with open_store(Settings(data_dir=tmp_path / "data")) as store:
        kept = answer_for("water-cap-vote")
        await store.write([kept])
        other = sqlite3.connect(tmp_path / "data" / "newsbrief.db", isolation_level=None)
        other.execute("BEGIN IMMEDIATE")
        try:
            writing = asyncio.ensure_future(store.write([answer_for("water-cap-hearing")]))
            await asyncio.sleep(0.1)  # the write now waits in the write thread
            started = time.monotonic()
            items = (await store.claims(holder="Ana Marsh")).items
            took = time.monotonic() - started
            assert not writing.done()
        finally:
            other.rollback()
            other.close()
        await writing
    assert took < 1.0, took  # READ_WAIT_MS is 250 ms; the write would have held it for 5 s
    assert items == []  # the first answer was still pending: its claims come with the next read


async def test_a_response_whose_claims_cannot_be_read_does_not_stop_the_others(
    tmp_path: Path, answer_for: Callable[..., Answer], caplog: pytest.LogCaptureFixture
) -> None:
    db = tmp_path / "data" / "newsbrief.db"
    good = answer_for("water-cap-vote")
    async with open_store(Settings(data_dir=tmp_path / "data")) as store:
        await store.write([dataclasses.replace(sent(good, id=new_id()), body=b"not json")])
        await store.write([good])
        with caplog.at_level(logging.ERROR, logger="service.store.store"):
            found = {c.summary_id for c in (await store.claims(limit=200)).items}
    assert found == {good.response.id}
    assert "claims could not be read" in caplog.text
    assert _count(db, "SELECT count(*) FROM claims_pending") == 0


async def test_downgrading_0003_keeps_the_claims_still_pending(
    tmp_path: Path, answer_for: Callable[..., Answer]
) -> None:
    db = tmp_path / "data" / "newsbrief.db"
    settings = Settings(data_dir=tmp_path / "data")
    kept = answer_for("water-cap-vote")
    async with open_store(settings) as store:
        await store.write([kept])
    assert _count(db, "SELECT count(*) FROM claims_pending") == 1
    engine = create_engine(f"sqlite:///{db}")
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    with engine.begin() as conn:
        config.attributes["connection"] = conn
        command.downgrade(config, "0002")
    assert _count(db, "SELECT count(*) FROM claims") == len(kept.response.claims)
    with engine.begin() as conn:
        config.attributes["connection"] = conn
        command.upgrade(config, "head")
    engine.dispose()
    async with open_store(settings) as store:
        assert len((await store.claims(limit=200)).items) == len(kept.response.claims)
