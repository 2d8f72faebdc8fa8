"""The store's cost on the request path, in one process without HTTP: what the summaries route
does after the answer is made (render the body; with the store on, build the record, hand it to
the writer and, by default, wait for its commit), for the same answers in each mode:

    off               the store off: rendering the body only
    on                the default: each answer waits for its row to be committed
    fire_and_forget   STORE_CONFIRM_S=0: each answer goes out once it is queued
    on_per_statement  the default's wait, written the way it was before the write engine: through
                      the async engine statement by statement (each one a round trip to
                      aiosqlite's thread; on PostgreSQL with the pool's pre-ping). On SQLite
                      its claims' targets are indexed later, as every write's now are
                      (migration 0002), so it no longer pays the FTS5 trigger it did then

Modes run in turns, twice each, on SQLite (the default set-up) and, with --postgres, on a
throwaway PostgreSQL server (tests/pg_server.py). Wrk's percentiles on a shared machine move by
more than the millisecond in question; this isolates it.

    .venv/bin/python benchmarks/store_path.py [--postgres]   # JSON; run.py puts it in results
    .venv/bin/python benchmarks/store_path.py --parts        # where a SQLite write's time goes

--parts takes one answer's write apart, in thread CPU µs (medians): its rows, their statements,
each of the driver's four calls (BEGIN, the INSERTs of the summary and of its pending
mark, COMMIT), warm (writes back to back) and
cold (a brief made between writes, as the service makes one per answer, which leaves the CPU's
caches to it), and the pages each commit adds to the WAL, by table or index.
"""

from __future__ import annotations

import asyncio
import json
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from sqlalchemy.ext.asyncio import AsyncEngine  # noqa: E402

from service.ids import new_id  # noqa: E402
from service.pipeline import _extractive_response  # noqa: E402
from service.schemas import SummaryRequest  # noqa: E402
from service.settings import Settings  # noqa: E402
from service.store import Answer, Store, Writer, open_store  # noqa: E402

ANSWERS = 400
MODES = ("off", "on", "fire_and_forget", "on_per_statement")


async def measure(answers: int = ANSWERS, database_url: str | None = None) -> dict[str, Any]:
    """µs per answer at the median and CPU µs per answer (the writes included), per mode."""
    text = (ROOT / "tests/fixtures/articles/ferry-levy.txt").read_text(encoding="utf-8")
    request = SummaryRequest.model_validate({"article": {"text": text}})
    made = [_extractive_response(request) for _ in range(answers)]
    out: dict[str, Any] = {"answers": answers, "claims_per_answer": len(made[0].claims)}
    with tempfile.TemporaryDirectory() as data:
        settings = Settings(data_dir=Path(data), database_url=database_url)
        async with open_store(settings) as store:
            # The same database through the read engine alone: every statement its own trip.
            writers = {
                "on": Writer(store, 10_000),
                "on_per_statement": Writer(Store(store.engine), 10_000),
            }
            writers["fire_and_forget"] = writers["on"]
            for writer in writers.values():
                writer.start()
            for mode in MODES * 2:
                fresh = [r.model_copy(update={"id": new_id()}) for r in made]  # ids are unique
                times = []
                cpu = time.process_time()  # every thread's: the write thread's too
                for response in fresh:
                    started = time.perf_counter()
                    body = response.model_dump_json().encode()
                    if mode != "off":
                        kept = writers[mode].submit(Answer(request, response, body, latency_ms=1))
                        if mode != "fire_and_forget":
                            await kept
                    times.append(time.perf_counter() - started)
                    await asyncio.sleep(0)  # the loop turns between requests, as it would
                for writer in writers.values():
                    await writer.flush()  # the writes' CPU counts against their mode
                if mode != "off":
                    await store.catch_up()  # SQLite: and their claims', which come later
                cpu = time.process_time() - cpu
                row = out.setdefault(mode, {"p50_us": [], "cpu_us_per_answer": []})
                row["p50_us"].append(statistics.median(times) * 1e6)
                row["cpu_us_per_answer"].append(cpu * 1e6 / answers)
            for writer in {id(w): w for w in writers.values()}.values():
                await writer.close(timeout_s=30)
    return out


async def parts(answers: int = ANSWERS) -> dict[str, Any]:
    """Where one answer's SQLite write goes (see the module docstring)."""
    import sqlite3
    import struct
    from collections import Counter

    text = (ROOT / "tests/fixtures/articles/ferry-levy.txt").read_text(encoding="utf-8")
    request = SummaryRequest.model_validate({"article": {"text": text}})
    made = _extractive_response(request)
    body = made.model_dump_json().encode()
    out: dict[str, Any] = {"answers": answers}
    with tempfile.TemporaryDirectory() as data:
        async with open_store(Settings(data_dir=Path(data))) as store:
            engine = store.write_engine
            assert not isinstance(engine, AsyncEngine)  # SQLite: a sync engine
            connection = engine.raw_connection()
            calls = ("begin", "insert_summaries", "insert_pending", "commit")
            for case in ("warm", "cold"):
                took: dict[str, list[float]] = {k: [] for k in ("rows", "statements", *calls)}
                for i in range(answers):
                    if case == "cold":
                        text_i = f"{text} Ref. {i}."
                        _extractive_response(
                            SummaryRequest.model_validate({"article": {"text": text_i}})
                        )
                    answer = [Answer(request, made.model_copy(update={"id": new_id()}), body, 1)]
                    started = time.thread_time()
                    summary_rows = [store._summary_row(a) for a in answer]
                    took["rows"].append(time.thread_time() - started)
                    started = time.thread_time()
                    batch = [
                        *store._inserts[0].statements(summary_rows),
                        *store._inserts[1].statements(
                            [{"summary_id": r["id"]} for r in summary_rows]
                        ),
                    ]
                    took["statements"].append(time.thread_time() - started)
                    driver = connection.driver_connection.cursor()  # type: ignore[union-attr]
                    for call, (sql, params) in zip(
                        calls, [("BEGIN IMMEDIATE", []), *batch, ("COMMIT", [])], strict=True
                    ):
                        started = time.thread_time()
                        driver.execute(sql, params)
                        took[call].append(time.thread_time() - started)
                out[case] = {k: statistics.median(v) * 1e6 for k, v in took.items()}
            connection.close()
            wal = (Path(data) / "newsbrief.db-wal").read_bytes()
            owners = {}  # before the catch-up, which reuses the pending table's pages
            with sqlite3.connect(Path(data) / "newsbrief.db") as db:
                for name, page in db.execute("SELECT name, pageno FROM dbstat"):
                    owners[page] = name
            # Their claims, in the write thread every so often (here all at once), per answer.
            started = time.process_time()  # the catch-up runs in the store's write thread
            await store.catch_up()
            out["catch_up_per_answer"] = (time.process_time() - started) * 1e6 / (2 * answers)
    # The WAL's frames: a 24-byte header (page number, and the database's size on a commit's
    # last frame) and a page each; run_sqlite never checkpoints, so every commit is there.
    size = struct.unpack(">I", wal[8:12])[0]
    commits, pages = 0, Counter[str]()
    for at in range(32, len(wal) - size - 23, size + 24):
        page, commit = struct.unpack(">II", wal[at : at + 8])
        pages[owners.get(page, "?")] += 1
        commits += commit > 0
    out["wal_pages_per_commit"] = {k: v / commits for k, v in pages.most_common()}
    return out


def measure_postgres(answers: int = ANSWERS) -> dict[str, Any]:
    """`measure` on a throwaway PostgreSQL server (durability off, as in the tests)."""
    from tests.pg_server import PgServer, find_bindir, run_as_unprivileged
    from tests.support import free_port

    workdir = Path(tempfile.mkdtemp(prefix="newsbrief-pg-"))
    server = PgServer(find_bindir(), workdir, free_port(), run_as_unprivileged(workdir))
    try:
        server.start()
        return asyncio.run(measure(answers, server.url(server.create_database())))
    finally:
        server.stop()
        shutil.rmtree(workdir, ignore_errors=True)


if __name__ == "__main__":
    if "--parts" in sys.argv[1:]:
        print(json.dumps(asyncio.run(parts()), indent=1))
        sys.exit()
    results = {"sqlite": asyncio.run(measure())}
    if "--postgres" in sys.argv[1:]:
        results["postgresql"] = measure_postgres()
    print(json.dumps(results))
