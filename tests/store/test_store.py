"""The store on SQLite and PostgreSQL: migrations, writes, reads, search, cursors, feedback,
deletion and retention (with an injected clock)."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import inspect, select

from service.errors import BadCursorError, InvalidFeedbackError, NotStoredError
from service.schemas import (
    ClaimCorrection,
    FeedbackIn,
    SummaryCorrection,
    SummaryResponse,
)
from service.settings import Settings
from service.store import Answer, Store, open_store
from service.store.retention import remove_expired
from service.store.tables import claims, summaries
from tests.built_once import migrations_each_time
from tests.store.conftest import Clock, article_text, sent

ARTICLES = ["water-cap-hearing", "water-cap-vote", "water-cap-town-hall"]


async def test_migrations_build_every_table_from_empty_and_run_again_as_a_no_op(
    store_settings: Settings,
) -> None:
    async with open_store(store_settings) as store, store.engine.connect() as conn:
        names = await conn.run_sync(lambda c: set(inspect(c).get_table_names()))
        version = (await conn.exec_driver_sql("SELECT version_num FROM alembic_version")).all()
    assert {"summaries", "claims", "feedback", "alembic_version"} <= names
    assert version == [("0003",)]
    # a second start-up: nothing to do
    async with open_store(store_settings) as again, again.engine.connect() as conn:
        rows = (await conn.exec_driver_sql("SELECT version_num FROM alembic_version")).all()
    assert rows == [("0003",)]


async def test_an_answer_comes_back_byte_for_byte_with_its_time(
    store: Store, answer_for: Callable[..., Answer], clock: Clock
) -> None:
    answer = answer_for("water-cap-hearing", source="Kelby Courier", title="Water cap hearing")
    await store.write([answer])
    kept = await store.get(answer.response.id)
    assert kept.body == answer.body
    assert kept.created_at == clock.now


async def test_the_audit_row_keeps_the_request_and_the_key_id_not_the_key(
    store: Store, answer_for: Callable[..., Answer]
) -> None:
    base = answer_for("water-cap-vote", source="Kelby Courier", url="https://courier.test/vote")
    answer = Answer(
        base.request,
        base.response,
        base.body,
        latency_ms=12.5,
        api_key_id="0123456789ab",
        request_id="req-1",
        upstream_text='{"summary": "what the model said"}',
    )
    await store.write([answer])
    async with store.engine.connect() as conn:
        row = (await conn.execute(select(summaries))).one()
    assert row.article_text == article_text("water-cap-vote")
    assert row.article_sha256 == answer.response.article.sha256
    assert (row.source, row.url, row.engine) == (
        "Kelby Courier",
        "https://courier.test/vote",
        "extractive",
    )
    assert row.options == {
        "max_bullets": 5,
        "max_claims": 12,
        "require_verified_attribution": False,
    }
    assert row.api_key_id == "0123456789ab" and row.request_id == "req-1"
    assert row.upstream_text == '{"summary": "what the model said"}'
    assert row.latency_ms == 12.5 and [w["code"] for w in row.warnings] == ["no_llm"]


async def test_hashes_only_keeps_no_article_text_but_keeps_the_evidence(
    store_settings: Settings, answer_for: Callable[..., Answer]
) -> None:
    settings = store_settings.model_copy(update={"store_article_text": False})
    async with open_store(settings) as store:
        answer = answer_for("water-cap-hearing")
        await store.write([answer])
        await store.catch_up()  # SQLite: its claims into `claims`
        async with store.engine.connect() as conn:
            row = (await conn.execute(select(summaries))).one()
            evidence = (await conn.execute(select(claims.c.evidence))).scalars().all()
    assert row.article_text is None and row.article_sha256 == answer.response.article.sha256
    assert evidence == [c.evidence.text for c in answer.response.claims]


async def test_unknown_id_is_not_stored(store: Store) -> None:
    with pytest.raises(NotStoredError):
        await store.get("0" * 32)


async def test_claims_by_holder_span_articles_and_their_offsets_slice_each_article(
    store: Store, answer_for: Callable[..., Answer], clock: Clock
) -> None:
    for name in ARTICLES:
        await store.write([answer_for(name)])
        clock.advance(minutes=1)
    page = await store.claims(holder="Ana Marsh")
    assert {c.summary_id for c in page.items} == {
        (await store.summaries()).items[i].id for i in range(3)
    }
    assert len(page.items) == 4 and {c.holder for c in page.items} == {"Ana Marsh"}
    texts = {s.id: s for s in await store.feedback_for_export()}  # nothing reviewed yet
    assert texts == {}
    async with store.engine.connect() as conn:
        articles = dict(
            (await conn.execute(select(summaries.c.id, summaries.c.article_text))).all()
        )
    for c in page.items:
        assert articles[c.summary_id][c.evidence.start : c.evidence.end] == c.evidence.text


@pytest.mark.parametrize(
    ("asked", "expected"),
    [
        ("Ana Marsh", {"Ana Marsh", "Senator Marsh", "Marsh (senator)"}),
        ("Senator Marsh", {"Ana Marsh", "Senator Marsh", "Marsh (senator)"}),
        ("ana marsh", {"Ana Marsh", "Senator Marsh", "Marsh (senator)"}),
        ("Robert Marsh", {"Robert Marsh"}),
        ("Mayor Marsh", {"Robert Marsh"}),
        # a bare surname two people share asks for both, and for the bare forms
        ("marsh", {"Ana Marsh", "Senator Marsh", "Marsh (senator)", "Robert Marsh", "Marsh"}),
        ("Tom Reyes", set()),
    ],
)
async def test_holder_forms_one_article_treats_as_one_person_match_across_articles(
    store: Store, answer_for: Callable[..., Answer], asked: str, expected: set[str]
) -> None:
    base = answer_for("water-cap-hearing")
    claim = base.response.claims[0]
    forms = [
        ("Ana Marsh", "Senator"),
        ("Senator Marsh", None),
        ("Marsh", "Senator"),  # the role tells which Marsh
        ("Robert Marsh", "Mayor"),
        ("Marsh", None),  # names neither of the two
    ]
    for n, (holder, role) in enumerate(forms):
        response = base.response.model_copy(
            update={
                "id": f"{n:032x}",
                "claims": [claim.model_copy(update={"holder": holder, "holder_role": role})],
            }
        )
        await store.write([Answer(base.request, response, response.model_dump_json().encode(), 1)])
    found = {
        f"{c.holder} (senator)" if c.holder == "Marsh" and c.holder_role else c.holder
        for c in (await store.claims(holder=asked)).items
    }
    assert found == expected


async def test_targets_are_searched_by_words_with_stems(
    store: Store, answer_for: Callable[..., Answer]
) -> None:
    base = answer_for("water-cap-vote")
    targets = ["the Kelby water cap", "summer irrigation caps", "the river study"]
    changed = [
        c.model_copy(update={"target": t})
        for c, t in zip(base.response.claims, targets, strict=True)
    ]
    response = base.response.model_copy(update={"claims": changed})
    await store.write([Answer(base.request, response, response.model_dump_json().encode(), 1)])

    async def targets_for(words: str) -> set[str | None]:
        return {c.target for c in (await store.claims(target=words)).items}

    assert await targets_for("cap") == {"the Kelby water cap", "summer irrigation caps"}
    assert await targets_for("water cap") == {"the Kelby water cap"}
    assert await targets_for("River") == {"the river study"}
    assert await targets_for('cap" OR "river') == set()  # query syntax is only more words
    # FTS5 and tsquery operators are read as the words around them, never as an error.
    for syntax, words in [
        ("NEAR(cap river)", "cap river"),
        ("cap*", "cap"),
        ("^cap", "cap"),
        ("-river", "river"),
        ("(cap:", "cap"),
        ("!!", ""),
        ("\x00cap", "cap"),
    ]:
        assert await targets_for(syntax) == await targets_for(words), syntax
    assert await targets_for("  ") == set()


async def test_stance_status_and_time_filter_claims(
    store: Store, answer_for: Callable[..., Answer], clock: Clock
) -> None:
    first = answer_for("water-cap-hearing")
    await store.write([first])
    clock.advance(days=2)
    await store.write([answer_for("water-cap-vote")])
    assert len((await store.claims(stance="neutral")).items) == 6
    assert (await store.claims(stance="oppose")).items == []
    assert len((await store.claims(attribution_status="verified")).items) == 6
    older = await store.claims(until=clock.now - timedelta(days=1))
    assert {c.summary_id for c in older.items} == {first.response.id}
    newer = await store.claims(since=clock.now - timedelta(days=1))
    assert first.response.id not in {c.summary_id for c in newer.items}


async def test_lists_page_newest_first_through_opaque_cursors(
    store: Store, answer_for: Callable[..., Answer], clock: Clock
) -> None:
    ids = []
    for i in range(5):
        answer = answer_for(ARTICLES[i % 3], source="Kelby Courier" if i % 2 else "Dunmore Post")
        await store.write([answer])
        ids.append(answer.response.id)
        clock.advance(seconds=1 if i != 2 else 0)  # two share a time: the id breaks the tie
    seen, cursor = [], None
    while True:
        page = await store.summaries(after=cursor, limit=2)
        seen += [s.id for s in page.items]
        if page.next_cursor is None:
            break
        cursor = page.next_cursor
    tied = sorted([ids[2], ids[3]], reverse=True)  # the same time: by id, newest first
    assert seen == [ids[4], *tied, ids[1], ids[0]]
    assert len(seen) == len(set(seen)) == 5
    courier = await store.summaries(source="Kelby Courier")
    assert {s.id for s in courier.items} == {ids[1], ids[3]}
    claims_seen, cursor = [], None
    while True:
        cpage = await store.claims(after=cursor, limit=4)
        claims_seen += [(c.summary_id, c.index) for c in cpage.items]
        if cpage.next_cursor is None:
            break
        cursor = cpage.next_cursor
    assert len(claims_seen) == len(set(claims_seen)) == 15


async def test_edited_foreign_or_mismatched_cursors_are_refused(
    store: Store, answer_for: Callable[..., Answer]
) -> None:
    for name in ARTICLES:
        await store.write([answer_for(name)])
    cursor = (await store.summaries(limit=1)).next_cursor
    assert cursor is not None
    tampered = cursor[:-3] + ("AAA" if not cursor.endswith("AAA") else "BBB")
    for bad in [tampered, "not-a-cursor", "", "e30"]:
        with pytest.raises(BadCursorError):
            await store.summaries(after=bad, limit=1)
    with pytest.raises(BadCursorError, match="different query"):
        await store.summaries(after=cursor, source="Kelby Courier", limit=1)
    claim_cursor = (await store.claims(limit=1)).next_cursor
    with pytest.raises(BadCursorError):  # a claims cursor is no summaries cursor
        await store.summaries(after=claim_cursor, limit=1)


async def test_feedback_is_checked_against_the_summary_and_listed_oldest_first(
    store: Store, answer_for: Callable[..., Answer], clock: Clock
) -> None:
    answer = answer_for("water-cap-hearing")
    await store.write([answer])
    sid = answer.response.id
    first = await store.add_feedback(
        sid,
        FeedbackIn(
            claim=1,
            verdict="incorrect",
            corrected=ClaimCorrection(stance="oppose"),
            note="she opposes the cap's timing",
            reviewer="desk-editor",
        ),
    )
    clock.advance(minutes=5)
    await store.add_feedback(
        sid,
        FeedbackIn(
            field="headline",
            verdict="partly",
            corrected=SummaryCorrection(headline="Farmers ask for time"),
        ),
    )
    listed = await store.feedback(sid)
    assert [(f.claim, f.field, f.verdict) for f in listed] == [
        (1, None, "incorrect"),
        (None, "headline", "partly"),
    ]
    assert listed[0] == first and listed[0].corrected == {"stance": "oppose"}
    with pytest.raises(InvalidFeedbackError, match="claim 3 does not exist") as refused:
        await store.add_feedback(sid, FeedbackIn(claim=3, verdict="correct"))
    assert refused.value.field == "claim"
    with pytest.raises(NotStoredError):
        await store.add_feedback("0" * 32, FeedbackIn(claim=0, verdict="correct"))
    with pytest.raises(NotStoredError):
        await store.feedback("0" * 32)


async def test_feedback_for_export_gives_everything_an_eval_case_needs(
    store: Store, answer_for: Callable[..., Answer], clock: Clock
) -> None:
    reviewed, ignored = (
        answer_for("water-cap-vote", title="Committee backs cap"),
        answer_for("water-cap-hearing"),
    )
    await store.write([reviewed, ignored])
    await store.add_feedback(reviewed.response.id, FeedbackIn(claim=0, verdict="correct"))
    clock.advance(days=1)
    cutoff = clock.now
    await store.add_feedback(
        reviewed.response.id,
        FeedbackIn(claim=2, verdict="incorrect", corrected=ClaimCorrection(stance="support")),
    )
    [summary] = await store.feedback_for_export()
    assert summary.id == reviewed.response.id
    assert (
        summary.article_text == article_text("water-cap-vote")
        and summary.title == "Committee backs cap"
    )
    assert summary.engine == "extractive" and summary.prompt_ref is None
    assert summary.claims == SummaryResponse.model_validate_json(reviewed.body).claims
    assert [(f.claim, f.verdict) for f in summary.feedback] == [(0, "correct"), (2, "incorrect")]
    assert [s.id for s in await store.feedback_for_export(since=cutoff)] == [reviewed.response.id]
    assert await store.feedback_for_export(since=cutoff + timedelta(seconds=1)) == []


async def test_delete_removes_the_summary_its_text_claims_and_feedback(
    store: Store, answer_for: Callable[..., Answer]
) -> None:
    gone, kept = answer_for("water-cap-vote"), answer_for("water-cap-hearing")
    await store.write([gone, kept])
    await store.add_feedback(gone.response.id, FeedbackIn(claim=0, verdict="correct"))
    await store.delete(gone.response.id)
    with pytest.raises(NotStoredError):
        await store.get(gone.response.id)
    assert {c.summary_id for c in (await store.claims()).items} == {kept.response.id}
    assert (await store.claims(target="anything")).items == []
    assert await store.feedback_for_export() == []
    with pytest.raises(NotStoredError):
        await store.delete(gone.response.id)


async def test_retention_removes_what_is_older_than_the_days_kept(
    store: Store, answer_for: Callable[..., Answer], clock: Clock
) -> None:
    old = answer_for("water-cap-hearing")
    await store.write([old])
    await store.add_feedback(old.response.id, FeedbackIn(claim=0, verdict="correct"))
    clock.advance(days=20)
    recent = answer_for("water-cap-vote")
    await store.write([recent])
    clock.advance(days=11)  # old is 31 days old, recent 11
    assert await remove_expired(store, days=30) == 1
    assert [s.id for s in (await store.summaries()).items] == [recent.response.id]
    assert {c.summary_id for c in (await store.claims()).items} == {recent.response.id}
    assert await store.feedback_for_export() == []
    assert await remove_expired(store, days=30) == 0


async def test_the_migrations_build_exactly_the_tables_the_code_declares(
    store_settings: Settings,
) -> None:
    """tables.py and migrations/ cannot drift apart: Alembic finds nothing to change, besides
    the full-text index each dialect keeps beside `claims` (not declared in tables.py). The
    database is migrated by Alembic itself, not copied (tests/built_once.py)."""
    from alembic.autogenerate import compare_metadata
    from alembic.runtime.migration import MigrationContext

    from service.store.tables import metadata

    def full_text(obj: object, name: str | None, kind: str, *_: object) -> bool:
        return not (name or "").startswith(("claims_fts", "target_words", "claims_target_words"))

    def diff(conn: Any) -> list[Any]:
        context = MigrationContext.configure(conn, opts={"include_object": full_text})
        return list(compare_metadata(context, metadata))

    with migrations_each_time():
        async with open_store(store_settings) as store, store.engine.connect() as conn:
            assert await conn.run_sync(diff) == []


async def test_sqlite_readers_do_not_wait_for_another_process_writing(
    tmp_path: Path, answer_for: Callable[..., Answer]
) -> None:
    import sqlite3

    settings = Settings(data_dir=tmp_path / "data")
    async with open_store(settings) as store:
        kept = answer_for("water-cap-vote")
        await store.write([kept])
        await store.catch_up()  # its claims in `claims`: a read has nothing to catch up
        pending = answer_for("water-cap-hearing")
        await store.write([pending])
        other = sqlite3.connect(tmp_path / "data" / "newsbrief.db", isolation_level=None)
        other.execute("BEGIN IMMEDIATE")  # another process holds the write lock
        try:
            async with asyncio.timeout(1):  # the busy timeout is 5 s
                assert (await store.get(kept.response.id)).body == kept.body
                # The newest answer's claims wait for the lock (READ_WAIT_MS), the rest are read.
                found = {c.summary_id for c in (await store.claims(holder="Ana Marsh")).items}
                assert found == {kept.response.id}
        finally:
            other.rollback()
            other.close()
        found = {c.summary_id for c in (await store.claims(holder="Ana Marsh")).items}
        assert found == {kept.response.id, pending.response.id}  # caught up once it is free


@pytest.mark.postgres
async def test_a_write_on_a_connection_the_server_dropped_is_kept_on_a_fresh_one(
    postgres_server: Any, fresh_postgres_url: str, answer_for: Callable[..., Answer]
) -> None:
    """The write engine skips the pool's pre-ping (three round trips a batch): a pooled
    connection the server dropped (a restart, an idle timeout) must cost a retry, not the answer."""
    async with open_store(Settings(database_url=fresh_postgres_url)) as store:
        await store.write([answer_for("water-cap-vote")])  # the write engine now pools one
        database = fresh_postgres_url.rsplit("/", 1)[1]
        postgres_server.sql(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
            f"WHERE datname = '{database}' AND pid <> pg_backend_pid()"
        )
        later = answer_for("water-cap-hearing")
        await store.write([later])
        assert (await store.get(later.response.id)).body == later.body


async def test_a_sqlite_write_waiting_for_the_lock_leaves_the_event_loop_free(
    tmp_path: Path, answer_for: Callable[..., Answer]
) -> None:
    """A SQLite batch is written in the loop's thread only when the write lock is free; one that
    finds another process holding it waits in the store's write thread, and the requests the loop
    is serving meanwhile do not stall."""
    import sqlite3
    import time

    async with open_store(Settings(data_dir=tmp_path / "data")) as store:
        other = sqlite3.connect(tmp_path / "data" / "newsbrief.db", isolation_level=None)
        other.execute("BEGIN IMMEDIATE")  # another process holds the write lock
        try:
            kept = answer_for("water-cap-vote")
            writing = asyncio.ensure_future(store.write([kept]))
            started = time.monotonic()
            for _ in range(10):
                await asyncio.sleep(0.01)
            assert time.monotonic() - started < 0.5  # the loop kept turning
            assert not writing.done()  # while the write still waits its turn
        finally:
            other.rollback()
            other.close()
        await writing
        assert (await store.get(kept.response.id)).body == kept.body


async def test_sqlite_checkpoints_in_the_write_thread_keep_the_wal_bounded(
    tmp_path: Path, answer_for: Callable[..., Answer], monkeypatch: pytest.MonkeyPatch
) -> None:
    """The answers' own connection never checkpoints (a commit in the loop never pays for one):
    the write thread does every UPKEEP_EVERY answers, so the WAL is reused, not grown."""

    from service.ids import new_id

    monkeypatch.setattr("service.store.store.UPKEEP_EVERY", 5)
    wal = tmp_path / "data" / "newsbrief.db-wal"
    one = answer_for("water-cap-vote")
    async with open_store(Settings(data_dir=tmp_path / "data")) as store:
        sizes = []
        for _ in range(60):
            await store.write([sent(one, id=new_id())])
            if store._checkpoint is not None:
                await store._checkpoint
            sizes.append(wal.stat().st_size)
        assert len((await store.summaries(limit=200)).items) == 60
    assert sizes[-1] < 2 * sizes[9], sizes  # without checkpoints it grows with every answer


async def test_claims_are_kept_as_they_were_sent_odd_characters_and_nulls_included(
    store: Store, answer_for: Callable[..., Answer]
) -> None:
    """On SQLite an answer's claims are read back out of the response it was sent in (its
    write keeps the summary alone; migration 0003): each comes back field for field, a NUL, a
    character outside the BMP and a missing role or target included."""
    base = answer_for("water-cap-vote")
    odd = base.response.claims[0]
    evidence = odd.evidence.model_copy(update={"text": "a\x00b “quoted” 🌊 \\ end"})
    claims_sent = [
        odd.model_copy(
            update={
                "holder": "Zoë\x00Marsh 🌊",
                "holder_role": None,
                "target": None,
                "evidence": evidence,
            }
        ),
        *base.response.claims[1:],
    ]
    answer = sent(base, claims=claims_sent)
    await store.write([answer])
    kept = sorted((await store.claims(limit=200)).items, key=lambda c: c.index)
    assert [
        (c.holder, c.holder_role, c.stance, c.target, c.claim, c.evidence, c.attribution)
        for c in kept
    ] == [
        (c.holder, c.holder_role, c.stance, c.target, c.claim, c.evidence, c.attribution)
        for c in claims_sent
    ]
    assert [c.attribution_status for c in kept] == [c.attribution_check.status for c in claims_sent]
    assert {c.summary_id for c in kept} == {answer.response.id}
