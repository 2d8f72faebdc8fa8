"""The store's reads and writes over one engine: summaries, claims across articles, feedback."""

from __future__ import annotations

import asyncio
import logging
import re
import sqlite3
from collections.abc import AsyncIterator, Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import asynccontextmanager, contextmanager
from datetime import UTC, datetime
from functools import lru_cache
from typing import Any, cast

import orjson
from sqlalchemy import (
    ColumnElement,
    Connection,
    Engine,
    PoolProxiedConnection,
    and_,
    delete,
    func,
    insert,
    literal_column,
    or_,
    select,
    text,
    tuple_,
)
from sqlalchemy.exc import (
    DataError,
    DBAPIError,
    IntegrityError,
    OperationalError,
    SQLAlchemyError,
)
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from service.attribution import holder_key, same_holders
from service.errors import InvalidFeedbackError, NotStoredError, StoreUnavailableError
from service.schemas import (
    ClaimPage,
    Evidence,
    FeedbackIn,
    FeedbackOut,
    StoredClaim,
    StoredSummaryInfo,
    SummaryPage,
    SummaryResponse,
)
from service.store import cursor
from service.store.engine import READ_ONLY, SQLITE_BUSY_TIMEOUT_MS
from service.store.inserts import CompiledInsert, run_sqlite
from service.store.migrate import upgrade, upgrade_sync
from service.store.records import Answer, ReviewedSummary, Stored
from service.store.tables import claims, claims_pending, feedback, summaries

log = logging.getLogger(__name__)
MAX_PAGE = 200
UPKEEP_EVERY = 100  # SQLite: answers written between two upkeeps (a catch-up and a checkpoint)
# SQLite: the claims not yet in the target index go into it (migration 0002), in one statement.
INDEX_TARGETS = (
    "INSERT INTO claims_fts(rowid, target) SELECT id, target FROM claims "
    "WHERE id > (SELECT upto FROM claims_fts_indexed)",
    "UPDATE claims_fts_indexed SET upto = (SELECT coalesce(max(id), upto) FROM claims)",
)
# Whether a catch-up has anything to do; read without the write lock.
PENDING = (
    "SELECT EXISTS (SELECT 1 FROM claims_pending) "
    "OR (SELECT coalesce(max(id), 0) FROM claims) > (SELECT upto FROM claims_fts_indexed)"
)
READ_WAIT_MS = 250  # a read's catch-up waits this long for another process's write lock


@lru_cache(maxsize=4096)
def _holder_key(holder: str) -> str:
    """attribution.holder_key, cut to its column: answers name the same people again and again,
    and working each claim's key out anew was a large share of building an answer's rows."""
    return holder_key(holder)[:200]


def utcnow() -> datetime:
    return datetime.now(UTC)


class Store:
    """Reads and writes; `clock` gives "now" (tests move it), `keep_text` keeps article text.

    Answers are written through `write_engine` and, on SQLite, `waiting_engine` in the store's
    write thread (engine.create_write_engines); without them through `engine`."""

    def __init__(
        self,
        engine: AsyncEngine,
        *,
        write_engine: Engine | AsyncEngine | None = None,
        waiting_engine: Engine | None = None,
        keep_text: bool = True,
        clock: Callable[[], datetime] = utcnow,
    ) -> None:
        self.engine = engine
        self.write_engine = write_engine or engine
        self.waiting_engine = waiting_engine
        self.keep_text = keep_text
        self.clock = clock
        self.migrated = False
        self._write_thread = (
            ThreadPoolExecutor(1, thread_name_prefix="store-write") if waiting_engine else None
        )
        self._unchecked = 0  # answers written since the last checkpoint
        self._checkpoint: asyncio.Future[None] | None = None
        if isinstance(self.write_engine, Engine):  # SQLite: statements compiled once
            dialect = self.write_engine.dialect
            self._inserts = (
                CompiledInsert(summaries, dialect),
                CompiledInsert(claims_pending, dialect),
            )
            self._claims_in = CompiledInsert(claims, dialect)
        self._loop_connection: PoolProxiedConnection | None = None  # SQLite: kept open

    async def close(self) -> None:
        """Close the connections and the write thread."""
        if self._write_thread is not None:
            self._write_thread.shutdown()
        if self._loop_connection is not None:
            self._loop_connection.close()
        for sync in (self.write_engine, self.waiting_engine):
            if isinstance(sync, Engine):
                sync.dispose()
        if isinstance(self.write_engine, AsyncEngine) and self.write_engine is not self.engine:
            await self.write_engine.dispose()
        await self.engine.dispose()

    async def migrate(self) -> None:
        """Bring the schema up to date (the first time only): StoreUnavailableError if it fails."""
        if self.migrated:
            return
        try:
            if self.waiting_engine is not None:  # SQLite: in the write thread, one call
                await asyncio.get_running_loop().run_in_executor(
                    self._write_thread, upgrade_sync, self.waiting_engine
                )
            else:
                await upgrade(self.engine)
        except (SQLAlchemyError, OSError) as exc:
            raise StoreUnavailableError("the store cannot be reached", reason=reason(exc)) from exc
        self.migrated = True

    @asynccontextmanager
    async def _db(self, *, begin: bool = False) -> AsyncIterator[AsyncConnection]:
        """A connection (in a transaction with `begin`); the database's failures, translated."""
        await self.migrate()  # a store down at start-up is migrated when it is back
        with _translated():
            if begin:
                async with self.engine.begin() as conn:
                    yield conn
            else:
                async with self.engine.connect() as conn:
                    yield await conn.execution_options(**{READ_ONLY: True})

    # --- writes -------------------------------------------------------------------------------

    async def write(self, answers: Sequence[Answer]) -> None:
        """Keep these answers, all in one transaction."""
        await self.migrate()
        engine = self.write_engine
        if isinstance(engine, Engine):
            with _translated():
                await self._write_sqlite(engine, [self._summary_row(a) for a in answers])
            return
        summary_rows, claim_rows = self._rows(answers)
        with _translated():
            try:
                # run_sync: both statements in one greenlet, not a loop turn each (measured).
                async with engine.begin() as conn:
                    await conn.run_sync(_insert_rows, summary_rows, claim_rows)
            except DBAPIError as exc:
                if not exc.connection_invalidated:  # only a dropped connection is worth a retry
                    raise
                async with engine.begin() as conn:  # no pre-ping (engine.py): try a fresh one
                    await conn.run_sync(_insert_rows, summary_rows, claim_rows)

    async def _write_sqlite(self, engine: Engine, summary_rows: list[dict[str, Any]]) -> None:
        """The summaries, each named pending in `claims_pending` (its claims go into `claims`
        later, in bulk: catch_up), at once in the loop's thread, on a connection that never
        waits and stays open; if another process holds the write lock, in the write thread,
        which waits its turn (engine.create_write_engines). Through the driver with statements
        compiled once (inserts.py): SQLAlchemy's execute cost as much again as SQLite's own."""
        summaries_in, pending_in = self._inserts
        batch = [
            *summaries_in.statements(summary_rows),
            *pending_in.statements([{"summary_id": row["id"]} for row in summary_rows]),
        ]
        if self._loop_connection is None:
            self._loop_connection = engine.raw_connection()
        try:
            run_sqlite(self._loop_connection, batch)
        except OperationalError as exc:
            if self.waiting_engine is None or not _locked(exc):
                self._loop_connection.invalidate()  # the next batch opens a fresh one
                self._loop_connection = None
                raise
            await asyncio.get_running_loop().run_in_executor(
                self._write_thread, _run_waiting, self.waiting_engine, batch
            )
        self._written(len(summary_rows))

    def _written(self, answers: int) -> None:
        """SQLite: every UPKEEP_EVERY answers, a catch-up and a checkpoint, in the write
        thread."""
        self._unchecked += answers
        idle = self._checkpoint is None or self._checkpoint.done()
        if self.waiting_engine is not None and self._unchecked >= UPKEEP_EVERY and idle:
            self._unchecked = 0
            self._checkpoint = asyncio.get_running_loop().run_in_executor(
                self._write_thread, self._upkeep
            )
            self._checkpoint.add_done_callback(_checkpoint_done)

    async def catch_up(
        self, wait_ms: int = SQLITE_BUSY_TIMEOUT_MS, *, reading: bool = False
    ) -> None:
        """SQLite: what the answers written since the last time left pending goes where a query
        finds it (their claims, their targets' index: catch_up_on), waiting up to `wait_ms` for
        the write lock. In the write thread; for a read (`reading`), in the loop's default pool
        instead, so it never queues behind a write there that waits for the lock. Nothing to do
        on PostgreSQL, where claims are written with their summary."""
        await self.migrate()
        if self.engine.dialect.name != "sqlite":
            return
        with _translated():
            if self.waiting_engine is not None:
                await asyncio.get_running_loop().run_in_executor(
                    None if reading else self._write_thread, self._catch_up, wait_ms
                )
            else:
                async with self.engine.begin() as conn:
                    await conn.run_sync(catch_up_on)

    def _catch_up(self, wait_ms: int = SQLITE_BUSY_TIMEOUT_MS) -> None:
        """In the write thread: catch_up_on on the waiting engine, claims through the compiled
        insert, waiting up to `wait_ms` for the write lock; if nothing is pending, no lock is
        taken at all."""
        assert self.waiting_engine is not None
        with self.waiting_engine.connect() as conn:
            driver = cast(sqlite3.Connection, conn.connection.driver_connection)
            try:
                if not driver.execute(PENDING).fetchone()[0]:
                    return
                driver.execute(f"PRAGMA busy_timeout={int(wait_ms)}")
            except sqlite3.Error as exc:
                raise DBAPIError.instance(PENDING, None, exc, sqlite3.Error) from exc
            try:
                with conn.begin():
                    catch_up_on(conn, self._claims_in)
            finally:
                driver.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS}")

    def _upkeep(self) -> None:
        """The write thread's every UPKEEP_EVERY answers: a catch-up (claims and targets in bulk:
        one FTS5 segment and one pass over each index for many answers, not one each), then the
        WAL copied into the database without waiting for anyone (PASSIVE), whether or not the
        catch-up could run. The answers' own connection does neither, so a commit in the loop
        never pays."""
        assert self.waiting_engine is not None
        try:
            self._catch_up()
        finally:
            raw = self.waiting_engine.raw_connection()
            try:
                raw.cursor().execute("PRAGMA wal_checkpoint(PASSIVE)")
            finally:
                raw.close()

    async def _caught_up_to_read(self) -> None:
        """Before a read that finds or counts claims: a catch-up, so it sees every answer kept so
        far. If the write lock stays taken past READ_WAIT_MS (another process, or this one's
        write thread), the read goes on over what was caught up rather than wait."""
        try:
            await self.catch_up(READ_WAIT_MS, reading=True)
        except StoreUnavailableError as exc:
            log.warning(
                "store: the newest claims not caught up before a read",
                extra={"reason": exc.reason},
            )
        except Exception:  # the read still answers; what failed stays pending, and is logged
            log.exception("store: the catch-up before a read failed")

    def _rows(self, answers: Sequence[Answer]) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
        """The summaries' rows and their claims' rows."""
        summary_rows, claim_rows = [], []
        for a in answers:
            summary_rows.append(row := self._summary_row(a))
            claim_rows += claim_rows_of(row["id"], row["created_at"], a.body)
        return summary_rows, claim_rows

    def _summary_row(self, a: Answer) -> dict[str, Any]:
        article, r = a.request.article, a.response
        return {
            "id": r.id,
            "created_at": a.created_at or self.clock(),
            "request_id": a.request_id,
            "api_key_id": a.api_key_id,
            "article_sha256": r.article.sha256,
            "article_text": article.text if self.keep_text else None,
            "article_chars": r.article.chars,
            "title": article.title,
            "source": article.source,
            "url": article.url,
            "published_at": article.published_at,
            "language": article.language,
            "engine": r.engine,
            "model": r.model,
            "prompt_ref": f"{r.prompt.name}@{r.prompt.version}" if r.prompt else None,
            "prompt_sha256": r.prompt.sha256 if r.prompt else None,
            "options": a.request.options.model_dump(mode="json"),
            "response": a.body,
            "usage": r.usage.model_dump(mode="json"),
            "warnings": [w.model_dump(mode="json") for w in r.warnings],
            "latency_ms": a.latency_ms,
            "cached": r.cached,
            "upstream_text": a.upstream_text,
        }

    async def delete(self, summary_id: str) -> None:
        """Remove a summary with its article text, claims and feedback; NotStoredError if none."""
        async with self._db(begin=True) as conn:
            if not await _delete(conn, summaries.c.id == summary_id):
                raise NotStoredError(f"no stored summary has the id {summary_id!r}")

    async def remove_older_than(self, cutoff: datetime) -> int:
        """Retention: remove every summary kept before `cutoff` (with claims and feedback)."""
        async with self._db(begin=True) as conn:
            return await _delete(conn, summaries.c.created_at < cutoff)

    async def add_feedback(self, summary_id: str, given: FeedbackIn) -> FeedbackOut:
        """Keep a reviewer's verdict; InvalidFeedbackError if its claim index is out of range."""
        stored = await self.get(summary_id)
        if given.claim is not None:
            count = len(SummaryResponse.model_validate_json(stored.body).claims)
            if given.claim >= count:
                raise InvalidFeedbackError(
                    f"claim {given.claim} does not exist: summary {summary_id} has {count} "
                    f"claim{'s' if count != 1 else ''} (indexes from 0)",
                    field="claim",
                )
        row = {
            "summary_id": summary_id,
            "claim_index": given.claim,
            "field": given.field,
            "verdict": given.verdict,
            "corrected": given.corrected.model_dump(mode="json", exclude_unset=True)
            if given.corrected
            else None,
            "note": given.note,
            "reviewer": given.reviewer,
            "created_at": self.clock(),
        }
        async with self._db(begin=True) as conn:
            new = (await conn.execute(insert(feedback).returning(feedback.c.id), row)).scalar_one()
        return _feedback_out({**row, "id": new})

    # --- reads --------------------------------------------------------------------------------

    async def get(self, summary_id: str) -> Stored:
        """The kept response; NotStoredError if there is none with that id."""
        query = select(summaries.c.id, summaries.c.created_at, summaries.c.response).where(
            summaries.c.id == summary_id
        )
        async with self._db() as conn:
            row = (await conn.execute(query)).first()
        if row is None:
            raise NotStoredError(f"no stored summary has the id {summary_id!r}")
        return Stored(row.id, row.created_at, bytes(row.response))

    async def feedback(self, summary_id: str) -> list[FeedbackOut]:
        """Feedback on one summary, oldest first; NotStoredError if the summary is not kept."""
        async with self._db() as conn:
            exists = await conn.execute(select(summaries.c.id).where(summaries.c.id == summary_id))
            if exists.first() is None:
                raise NotStoredError(f"no stored summary has the id {summary_id!r}")
            rows = await conn.execute(
                select(feedback).where(feedback.c.summary_id == summary_id).order_by(feedback.c.id)
            )
            return [_feedback_out(dict(r._mapping)) for r in rows]

    async def summaries(
        self,
        *,
        source: str | None = None,
        since: datetime | None = None,
        until: datetime | None = None,
        after: str | None = None,
        limit: int = 50,
    ) -> SummaryPage:
        """Kept summaries, newest first, one page after the cursor `after`."""
        query_args = {"source": source, "since": since, "until": until}
        await self._caught_up_to_read()  # each summary's claims, counted
        count = (
            select(func.count())
            .select_from(claims)
            .where(claims.c.summary_id == summaries.c.id)
            .scalar_subquery()
        )
        cols = [c for c in summaries.c if c.name not in ("response", "article_text", "usage")]
        query = select(*cols, count.label("claim_count"))
        where = _window(summaries.c.created_at, since, until)
        if source is not None:
            where.append(summaries.c.source == source)
        if after is not None:
            at, key = cursor.decode(after, query_args, str)
            where.append(_before(summaries.c.created_at, summaries.c.id, at, key))
        query = query.where(*where).order_by(summaries.c.created_at.desc(), summaries.c.id.desc())
        async with self._db() as conn:
            rows = list(await conn.execute(query.limit(limit + 1)))
        items = [
            StoredSummaryInfo(
                id=r.id,
                stored_at=r.created_at,
                engine=r.engine,
                model=r.model,
                prompt=r.prompt_ref,
                title=r.title,
                source=r.source,
                url=r.url,
                published_at=r.published_at,
                claims=r.claim_count,
                cached=r.cached,
            )
            for r in rows[:limit]
        ]
        more = len(rows) > limit
        last = items[-1] if more else None
        return SummaryPage(
            items=items,
            next_cursor=cursor.encode(query_args, last.stored_at, last.id) if last else None,
        )

    async def claims(
        self,
        *,
        holder: str | None = None,
        target: str | None = None,
        stance: str | None = None,
        attribution_status: str | None = None,
        since: datetime | None = None,
        until: datetime | None = None,
        after: str | None = None,
        limit: int = 50,
    ) -> ClaimPage:
        """Claims across every kept summary, newest first. `holder` matches the forms one article
        treats as the same person (attribution.same_holders); `target` matches by words."""
        query_args = {
            "holder": holder,
            "target": target,
            "stance": stance,
            "attribution_status": attribution_status,
            "since": since,
            "until": until,
        }
        await self._caught_up_to_read()
        where = _window(claims.c.created_at, since, until)
        if stance is not None:
            where.append(claims.c.stance == stance)
        if attribution_status is not None:
            where.append(claims.c.attribution_status == attribution_status)
        if after is not None:
            at, key = cursor.decode(after, query_args, int)
            where.append(_before(claims.c.created_at, claims.c.id, at, key))
        async with self._db() as conn:
            if holder is not None:
                key_match = claims.c.holder_key == _holder_key(holder)
                forms = await conn.execute(
                    select(claims.c.holder, claims.c.holder_role).where(key_match).distinct()
                )
                meant = same_holders(holder, [(h, role) for h, role in forms])
                # the same name with another role can mean someone else: match both
                role = func.coalesce(claims.c.holder_role, "")
                pairs = sorted((h, r or "") for h, r in meant)
                where += [key_match, tuple_(claims.c.holder, role).in_(pairs)]
            if target is not None:
                where.append(_target_matches(conn, target))
            query = (
                select(
                    claims,
                    summaries.c.title,
                    summaries.c.source,
                    summaries.c.url,
                )
                .join(summaries, summaries.c.id == claims.c.summary_id)
                .where(*where)
                .order_by(claims.c.created_at.desc(), claims.c.id.desc())
                .limit(limit + 1)
            )
            rows = list(await conn.execute(query))
        items = [_stored_claim(r) for r in rows[:limit]]
        last = rows[limit - 1] if len(rows) > limit else None
        return ClaimPage(
            items=items,
            next_cursor=cursor.encode(query_args, last.created_at, last.id) if last else None,
        )

    async def feedback_for_export(self, since: datetime | None = None) -> list[ReviewedSummary]:
        """Every summary with feedback (given at or after `since`), oldest first, with its
        article, prompt, model, the model's raw answer, the claims returned and all feedback."""
        reviewed = select(feedback.c.summary_id).distinct()
        if since is not None:
            reviewed = reviewed.where(feedback.c.created_at >= since)
        async with self._db() as conn:
            rows = list(
                await conn.execute(
                    select(summaries)
                    .where(summaries.c.id.in_(reviewed))
                    .order_by(summaries.c.created_at, summaries.c.id)
                )
            )
            notes = await conn.execute(
                select(feedback)
                .where(feedback.c.summary_id.in_([r.id for r in rows]))
                .order_by(feedback.c.id)
            )
            by_summary: dict[str, list[FeedbackOut]] = {}
            for n in notes:
                by_summary.setdefault(n.summary_id, []).append(_feedback_out(dict(n._mapping)))
        return [
            ReviewedSummary(
                id=r.id,
                created_at=r.created_at,
                article_text=r.article_text,
                article_sha256=r.article_sha256,
                title=r.title,
                source=r.source,
                url=r.url,
                published_at=r.published_at,
                language=r.language,
                engine=r.engine,
                model=r.model,
                prompt_ref=r.prompt_ref,
                prompt_sha256=r.prompt_sha256,
                options=dict(r.options),
                upstream_text=r.upstream_text,
                claims=SummaryResponse.model_validate_json(bytes(r.response)).claims,
                feedback=by_summary.get(r.id, []),
            )
            for r in rows
        ]


def reason(exc: BaseException) -> str:
    """What the database said, for the log: the driver's message alone, since SQLAlchemy's own
    text repeats the statement and its parameters (article text among them)."""
    cause = exc.orig if isinstance(exc, DBAPIError) and exc.orig is not None else exc
    if isinstance(cause, StoreUnavailableError) and cause.reason:
        return cause.reason
    return f"{type(cause).__name__}: {cause}"[:300]


@contextmanager
def _translated() -> Iterator[None]:
    """The database's failures as StoreUnavailableError; what was sent at fault stays as it is."""
    try:
        yield
    except (IntegrityError, DataError):
        raise
    except (SQLAlchemyError, OSError) as exc:
        raise StoreUnavailableError("the store cannot be reached", reason=reason(exc)) from exc


def _locked(exc: OperationalError) -> bool:
    """SQLite said another connection holds the lock (SQLITE_BUSY or SQLITE_LOCKED)."""
    code = getattr(exc.orig, "sqlite_errorcode", None)
    return code is not None and code & 0xFF in (sqlite3.SQLITE_BUSY, sqlite3.SQLITE_LOCKED)


def claim_rows_of(summary_id: str, at: datetime, sent: bytes) -> list[dict[str, Any]]:
    """An answer's claims as `claims` rows, read from its response as it was sent."""
    return [
        {
            "summary_id": summary_id,
            "idx": i,
            "created_at": at,
            "holder": c["holder"],
            "holder_key": _holder_key(c["holder"]),
            "holder_role": c["holder_role"],
            "stance": c["stance"],
            "target": c["target"],
            "claim": c["claim"],
            "evidence": c["evidence"]["text"],
            "evidence_start": c["evidence"]["start"],
            "evidence_end": c["evidence"]["end"],
            "attribution": c["attribution"],
            "attribution_status": c["attribution_check"]["status"],
        }
        for i, c in enumerate(orjson.loads(sent)["claims"])
    ]


def catch_up_on(conn: Connection, claims_in: CompiledInsert | None = None) -> None:
    """In the caller's transaction, the pending answers' claims into `claims` (read from the
    responses they were sent in, in the order they were kept) and the new claims' targets into
    the search index: `claims_pending` and `claims_fts_indexed.upto` then always say what is in
    `claims` and in the index. `claims_in` is the claims' compiled insert, if the caller keeps
    one."""
    pending = conn.execute(
        select(summaries.c.id, summaries.c.created_at, summaries.c.response)
        .join(claims_pending, claims_pending.c.summary_id == summaries.c.id)
        .order_by(literal_column("summaries.rowid"))
    )
    rows = []
    for p in pending:
        try:
            rows += claim_rows_of(p.id, p.created_at, p.response)
        except (ValueError, KeyError, TypeError) as exc:  # not a body this service sent
            # Left pending, it would stop every catch-up after it; its summary stays readable.
            log.error(
                "store: a kept response's claims could not be read; they are not searchable",
                extra={"summary_id": p.id, "reason": f"{type(exc).__name__}: {exc}"[:300]},
            )
    if rows:
        claims_in = claims_in or CompiledInsert(claims, conn.dialect)
        for sql, params in claims_in.statements(rows):
            conn.exec_driver_sql(sql, tuple(params))
    conn.execute(delete(claims_pending))
    for sql in INDEX_TARGETS:
        conn.exec_driver_sql(sql)


def _checkpoint_done(done: asyncio.Future[None]) -> None:
    if not done.cancelled() and (exc := done.exception()) is not None:
        log.warning("store: catch-up or checkpoint failed", extra={"reason": reason(exc)})


def _run_waiting(engine: Engine, batch: list[tuple[str, list[Any]]]) -> None:
    """inserts.run_sqlite on a connection of the write thread's engine, which waits its turn."""
    raw = engine.raw_connection()
    try:
        run_sqlite(raw, batch)
    finally:
        raw.close()


def _insert_rows(conn: Connection, summary_rows: list[Any], claim_rows: list[Any]) -> None:
    """One INSERT per table for the whole batch, through SQLAlchemy (PostgreSQL)."""
    conn.execute(insert(summaries), summary_rows)
    if claim_rows:
        conn.execute(insert(claims), claim_rows)


async def _delete(conn: AsyncConnection, which: ColumnElement[bool]) -> int:
    """Delete summaries and what hangs off them, explicitly (SQLite's FTS index follows claims)."""
    ids = select(summaries.c.id).where(which).scalar_subquery()
    await conn.execute(delete(feedback).where(feedback.c.summary_id.in_(ids)))
    await conn.execute(delete(claims).where(claims.c.summary_id.in_(ids)))
    return (await conn.execute(delete(summaries).where(which))).rowcount


def _window(column: Any, since: datetime | None, until: datetime | None) -> list[Any]:
    where = []
    if since is not None:
        where.append(column >= since)
    if until is not None:
        where.append(column < until)
    return where


def _before(at_column: Any, key_column: Any, at: datetime, key: object) -> ColumnElement[bool]:
    """Rows after (created_at, key) in newest-first order: the keyset condition."""
    return or_(at_column < at, and_(at_column == at, key_column < key))


_WORD = re.compile(r"\w+")


def _target_matches(conn: AsyncConnection, words: str) -> ColumnElement[bool]:
    """Claims whose target holds every word (stemmed): FTS5 on SQLite, tsvector on PostgreSQL."""
    found = _WORD.findall(words)
    if not found:
        return claims.c.id.is_(None)  # no words: nothing can match
    if conn.dialect.name == "postgresql":
        query = func.plainto_tsquery("english", " ".join(found))
        return literal_column("claims.target_words").bool_op("@@")(query)
    match = " ".join(f'"{w}"' for w in found)  # quoted: words only, no FTS5 query syntax
    return claims.c.id.in_(
        select(text("rowid"))
        .select_from(text("claims_fts"))
        .where(text("claims_fts MATCH :match").bindparams(match=match))
    )


def _stored_claim(r: Any) -> StoredClaim:
    return StoredClaim(
        summary_id=r.summary_id,
        index=r.idx,
        stored_at=r.created_at,
        holder=r.holder,
        holder_role=r.holder_role,
        stance=r.stance,
        target=r.target,
        claim=r.claim,
        evidence=Evidence(text=r.evidence, start=r.evidence_start, end=r.evidence_end),
        attribution=r.attribution,
        attribution_status=r.attribution_status,
        title=r.title,
        source=r.source,
        url=r.url,
    )


def _feedback_out(row: dict[str, Any]) -> FeedbackOut:
    return FeedbackOut(
        id=row["id"],
        summary_id=row["summary_id"],
        claim=row["claim_index"],
        field=row["field"],
        verdict=row["verdict"],
        corrected=row["corrected"],
        note=row["note"],
        reviewer=row["reviewer"],
        created_at=row["created_at"],
    )
