"""The store's cost on the request path, in one process without HTTP: what the summaries route
does after the answer is made (render the body; with the store on, build the record and hand it to
the writer; confirmed, also wait for the commit), for the same answers with the store off, on
(the default) and on with each answer waiting for its row. Wrk's percentiles on a shared machine
move by more than the millisecond in question; this isolates it.

    .venv/bin/python benchmarks/store_path.py      # prints JSON; run.py puts it in results
"""

from __future__ import annotations

import asyncio
import json
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
from service.store import Answer, Writer, open_store  # noqa: E402

ANSWERS = 400


async def measure(answers: int = ANSWERS) -> dict[str, Any]:
    text = (ROOT / "tests/fixtures/articles/ferry-levy.txt").read_text(encoding="utf-8")
    request = SummaryRequest.model_validate({"article": {"text": text}})
    made = [_extractive_response(request) for _ in range(answers)]
    out: dict[str, Any] = {"answers": answers}
    with tempfile.TemporaryDirectory() as data:
        async with open_store(Settings(data_dir=Path(data))) as store:
            writer = Writer(store, 10_000)
            writer.start()
            for mode in ("off", "on", "confirmed", "off", "on", "confirmed"):
                fresh = [r.model_copy(update={"id": new_id()}) for r in made]  # ids are unique
                times = []
                cpu = time.process_time()
                for response in fresh:
                    started = time.perf_counter()
                    body = response.model_dump_json().encode()
                    if mode != "off":
                        kept = writer.submit(Answer(request, response, body, latency_ms=1.0))
                        if mode == "confirmed":
                            await kept
                    times.append(time.perf_counter() - started)
                    await asyncio.sleep(0)  # the loop turns between requests, as it would
                await writer.flush()  # the writes' CPU counts against their mode
                cpu = time.process_time() - cpu
                row = out.setdefault(mode, {"p50_us": [], "cpu_us_per_answer": []})
                row["p50_us"].append(statistics.median(times) * 1e6)
                row["cpu_us_per_answer"].append(cpu * 1e6 / answers)
            await writer.close(timeout_s=30)
    return out


if __name__ == "__main__":
    print(json.dumps(asyncio.run(measure())))
