"""SQLite's answers are written through the driver with statements compiled once (inserts.py),
and their claims go into `claims` later, out of the kept response (Store.catch_up): what lands in
the file must be exactly what SQLAlchemy's own insert writes for the same rows."""

from __future__ import annotations

import dataclasses
import sqlite3
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import insert

from service.schemas import ResponseWarning
from service.settings import Settings
from service.store import Answer, open_store
from service.store.tables import claims, summaries
from tests.store.conftest import sent


async def test_the_compiled_insert_writes_what_sqlalchemy_writes(
    tmp_path: Path, answer_for: Callable[..., Answer]
) -> None:
    base = answer_for(
        "water-cap-vote",
        title="Water cap vote",
        source="Kelby Courier",
        url="https://courier.test/vote",
        published_at="2026-02-27T18:30:00+01:00",
    )
    warned = base.response.model_copy(
        update={"warnings": [ResponseWarning(code="not_stored", detail="a detail")]}
    )
    answer = dataclasses.replace(
        base,
        response=warned,
        api_key_id="0123456789ab",
        request_id="req-1",
        upstream_text='{"said": "this"}',
        created_at=datetime(2026, 3, 1, 9, 0, 0, 123456, tzinfo=UTC),
    )
    assert answer.response.claims, "the article must give claims to compare"
    async with open_store(Settings(data_dir=tmp_path / "data")) as store:
        await store.write([answer])  # the compiled path; its claims pending
        await store.catch_up()  # the claims read back out of the response, in SQL
        summary_rows, claim_rows = store._rows([answer])
        twin = "twin-" + answer.response.id[5:]
        with store.write_engine.begin() as conn:
            conn.execute(insert(summaries), [{**r, "id": twin} for r in summary_rows])
            conn.execute(insert(claims), [{**r, "summary_id": twin} for r in claim_rows])
    db = sqlite3.connect(tmp_path / "data" / "newsbrief.db")
    try:
        fast, slow = (_raw(db, "summaries", "id", i) for i in (answer.response.id, twin))
        assert fast == slow and len(fast) == 1
        fast, slow = (_raw(db, "claims", "summary_id", i) for i in (answer.response.id, twin))
        assert fast == slow and len(fast) == len(answer.response.claims)
    finally:
        db.close()


def _raw(db: sqlite3.Connection, table: str, key: str, value: str) -> list[tuple[Any, ...]]:
    """The rows as SQLite holds them (with each value's storage class), keys left out."""
    cursor = db.execute(f"SELECT * FROM {table} WHERE {key} = ? ORDER BY rowid", (value,))
    names = [d[0] for d in cursor.description]
    return [
        tuple(
            (v, type(v).__name__) for n, v in zip(names, row, strict=True) if n not in ("id", key)
        )
        for row in cursor
    ]


async def test_a_batch_is_four_statements_whatever_its_rows(
    tmp_path: Path, answer_for: Callable[..., Answer]
) -> None:
    """Every statement the driver steps lets go of the GIL and may wait 5 ms to get it back while
    the pipeline's threads hold it, with the event loop stalled: a batch of answers is BEGIN,
    one INSERT of the summaries, one naming them pending (their claims come later), COMMIT."""
    from service.ids import new_id

    one = answer_for("water-cap-vote")
    batch = [sent(one, id=new_id()) for _ in range(3)]
    async with open_store(Settings(data_dir=tmp_path / "data")) as store:
        first = answer_for("water-cap-hearing")
        await store.write([first])  # the loop's connection is open
        assert store._loop_connection is not None
        steps: list[str] = []
        store._loop_connection.driver_connection.set_trace_callback(steps.append)
        await store.write(batch)
        assert [s.split(" (")[0] for s in steps] == [
            "BEGIN IMMEDIATE",
            "INSERT INTO summaries",
            "INSERT INTO claims_pending",
            "COMMIT",
        ]
        claims_kept = (await store.claims(limit=200)).items
        assert len(claims_kept) == len(first.response.claims) + 3 * len(one.response.claims)


async def test_more_rows_than_a_statement_takes_go_in_several(
    tmp_path: Path, answer_for: Callable[..., Answer], monkeypatch: pytest.MonkeyPatch
) -> None:
    from service.ids import new_id

    monkeypatch.setattr("service.store.inserts.MOST_ROWS", 4)
    one = answer_for("water-cap-vote")
    batch = [sent(one, id=new_id()) for _ in range(5)]
    async with open_store(Settings(data_dir=tmp_path / "data")) as store:
        await store.write([answer_for("water-cap-hearing")])  # the loop's connection is open
        assert store._loop_connection is not None
        steps: list[str] = []
        store._loop_connection.driver_connection.set_trace_callback(steps.append)
        await store.write(batch)
        inserts = [s.split(" (")[0] for s in steps if s.startswith("INSERT")]
        assert inserts == ["INSERT INTO summaries"] * 2 + ["INSERT INTO claims_pending"] * 2
        kept_ids = {s.id for s in (await store.summaries()).items}
        assert kept_ids >= {a.response.id for a in batch}
        ours = {a.response.id for a in batch}
        kept = [c for c in (await store.claims(limit=200)).items if c.summary_id in ours]
        assert sorted((c.summary_id, c.index) for c in kept) == sorted(
            (a.response.id, i) for a in batch for i in range(len(one.response.claims))
        )
        first = await store.get(batch[0].response.id)
        assert first.body == batch[0].body
