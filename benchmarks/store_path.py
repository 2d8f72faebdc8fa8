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
                cpu = time.process_time() - cpu
                row = out.setdefault(mode, {"p50_us": [], "cpu_us_per_answer": []})
                row["p50_us"].append(statistics.median(times) * 1e6)
                row["cpu_us_per_answer"].append(cpu * 1e6 / answers)
            for writer in {id(w): w for w in writers.values()}.values():
                await writer.close(timeout_s=30)
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
    results = {"sqlite": asyncio.run(measure())}
    if "--postgres" in sys.argv[1:]:
        results["postgresql"] = measure_postgres()
    print(json.dumps(results))
