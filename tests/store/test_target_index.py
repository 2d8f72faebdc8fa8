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


def _with_target(answer: Answer, target: str) -> Answer:
    claims = [c.model_copy(update={"target": target}) for c in answer.response.claims]
    response = answer.response.model_copy(update={"id": new_id(), "claims": claims})
    return dataclasses.replace(answer, response=response, body=response.model_dump_json().encode())


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
