"""Where newsbrief's CPU per request goes at 1 in flight and 0 ms upstream, stage by stage,
before and after a change, side by side.

    python benchmarks/breakdown.py --before COMMIT [--rounds N]   # into docs/BENCHMARKS.md
    python benchmarks/breakdown.py --tree DIR [--rounds N]        # one tree, JSON on stdout

COMMIT's tree and this checkout are measured side by side (benchmarks/side_by_side.py); each
figure is the median of the rounds. The article and answer are those of the hot-path row of
benchmarks/run.py, from the project's fake LLM; each whole-pipeline call ends its article with
a line of its own, as wrk's requests do (benchmarks/post.lua). In-process stages are CPU time
(time.process_time) over 200 calls on uvloop, after `gc.freeze()`, as the service runs; the whole
service is `newsbrief serve` driven by wrk over HTTP, its own CPU time per request. What the
service spends beyond its in-process pipeline and request validation is its HTTP server,
FastAPI, middleware, metrics, logs and response writing. The bare client (b) runs through
benchmarks/drive.py as in run.py.
"""

from __future__ import annotations

import argparse
import gc
import inspect
import json
import os
import statistics
import subprocess
import sys
import time
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from pathlib import Path

# A sibling module, not benchmarks.side_by_side: a --tree run imports that tree's `benchmarks`.
from side_by_side import alternate, medians, tree_of

HERE = Path(__file__).resolve().parents[1]
CALLS = 200


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--tree", type=Path, help="measure this tree alone; print JSON")
    parser.add_argument("--before", help="a commit to compare this checkout with")
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    if args.tree is not None:
        print(json.dumps(measure(args.tree.resolve(), args.rounds)))
        return
    if args.before is None:
        parser.error("give --before COMMIT or --tree DIR")
    compare(args.before, args.rounds)


def compare(commit: str, rounds: int) -> None:
    """Both trees, `rounds` times each, alternating; medians merged into results.json."""
    before = tree_of(commit, "breakdown-before")
    load_before = os.getloadavg()[0]
    runs = alternate(
        __file__,
        {"before": before, "after": HERE},
        rounds,
        ["--rounds", "1"],
        on_run=lambda name, run: print(f"{name}: {run}", file=sys.stderr, flush=True),
    )
    per_tree = medians(runs)
    # (b) runs the same code beside either tree: one median over every round of both.
    bare = statistics.median(r["bare"] for rs in runs.values() for r in rs)
    for stages in per_tree.values():
        stages["bare"] = bare
    results = HERE / "docs" / "benchmarks" / "results.json"
    res = json.loads(results.read_text())
    res["breakdown"] = {
        "generated_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "before_commit": subprocess.run(
            ["git", "rev-parse", "--short", commit], cwd=HERE, check=True, capture_output=True
        )
        .stdout.decode()
        .strip(),
        "rounds": rounds,
        "load_before": load_before,
        "load_after": os.getloadavg()[0],
        **per_tree,
        "runs": runs,
    }
    results.write_text(json.dumps(res, indent=1) + "\n")
    sys.path.insert(0, str(HERE))
    from benchmarks.report import write

    for path in write(res, results.parent, HERE / "docs" / "BENCHMARKS.md", replot=False):
        print(f"wrote {path}", file=sys.stderr)


def measure(tree: Path, rounds: int) -> dict[str, float]:
    """CPU ms per request of each stage of the code in `tree`."""
    os.chdir(tree)  # `python -m service` in the stack below runs this tree's code
    sys.path.insert(0, str(tree))
    from benchmarks.run import ROOT, cpu_seconds, set_latency, stack
    from tests.support import fake_llm

    assert tree == ROOT, f"imported {ROOT}, not {tree}"
    out: dict[str, float] = {}
    with fake_llm() as url:
        import uvloop

        out |= uvloop.run(in_process(url, rounds))
    with stack(cache_size="0", store="off") as s:  # (b) stores nothing; older trees ignore it
        set_latency(s["fake"], 0.0)
        body = tree / "build" / "bench-body.json"
        article = (tree / "tests/fixtures/articles/ferry-levy.txt").read_text(encoding="utf-8")
        body.parent.mkdir(parents=True, exist_ok=True)
        body.write_text(json.dumps({"article": {"text": article}}))
        service, bare = [], []
        wrk(f"{s['api']}/v1/summaries", body, 1)  # warm-up
        for _ in range(rounds):
            before = cpu_seconds(s["api_pid"])
            done = wrk(f"{s['api']}/v1/summaries", body, 5)
            service.append((cpu_seconds(s["api_pid"]) - before) * 1000 / done)
            # (b) is this checkout's bare client beside both trees: the same code, one median.
            bare.append(drive_bare(HERE, s["fake"]))
    out["service"], out["bare"] = statistics.median(service), statistics.median(bare)
    out["text_steps"] = out["pipeline"] - out["call"] - out["render"]
    out["server"] = out["service"] - out["pipeline"] - out["validate"]
    return out


async def in_process(url: str, rounds: int) -> dict[str, float]:
    """CPU ms per call of each in-process stage, median over rounds."""
    import httpx

    from benchmarks.drive import ARTICLE
    from service import llm as llm_module
    from service.llm import CallStats, LLMClient
    from service.pipeline import summarize_article
    from service.prompts import PromptRegistry
    from service.providers import ChatRequest
    from service.schemas import SummaryRequest
    from service.settings import Settings

    settings = Settings(llm_base_url=f"{url}/v1", llm_model="fake-model", cache_size=0)
    registry = PromptRegistry.from_dir(Path("prompts"), "summarize", "v1")
    prompt = registry.get()
    raw = json.dumps({"article": {"text": ARTICLE}}).encode()
    request = SummaryRequest.model_validate_json(raw)
    try:  # the service's own upstream client, as `serve` builds it (older trees: httpx's)
        from service.upstream import upstream_client

        limits = httpx.Limits(max_connections=1000, max_keepalive_connections=100)
        made = upstream_client(limits)
    except ImportError:
        made = httpx.AsyncClient()
    async with made as http:
        # Older trees built LLMClient from an SDK client, newer ones from the httpx client.
        wants_http = "http" in inspect.signature(LLMClient).parameters
        client = http if wants_http else llm_module.build_openai_client(settings, http)
        llm = LLMClient(client, settings)
        # Older trees rendered the schema dict on every request, newer ones take its text.
        schema = getattr(llm, "schema_text", llm.schema)
        messages = prompt.render(request.article, request.options, schema)

        async def validate() -> None:
            SummaryRequest.model_validate_json(raw)

        async def render() -> None:
            prompt.render(request.article, request.options, schema)

        async def call() -> None:
            question = ChatRequest(messages, 0.0, 2000, time.monotonic() + 60)
            await llm.complete(question, CallStats())

        # Each pipeline call's article ends in a line of its own, as wrk's requests do: nothing
        # kept per article text (attribution's reading, the links found) serves the next call.
        varied = [
            SummaryRequest.model_validate({"article": {"text": f"{ARTICLE}\n\nRef. 0-{n}."}})
            for n in range(20 + rounds * CALLS)
        ]

        async def pipeline() -> None:
            await summarize_article(varied.pop(), prompts=registry, llm=llm, settings=settings)

        stages: dict[str, Callable[[], Awaitable[None]]] = {
            "validate": validate,
            "render": render,
            "call": call,
            "pipeline": pipeline,
        }
        runs: dict[str, list[float]] = {name: [] for name in stages}
        for stage in stages.values():  # warm-up: connections, caches
            for _ in range(20):
                await stage()
        gc.freeze()  # as the service does once started (service/api/app.py)
        for _ in range(rounds):
            for name, stage in stages.items():
                started = time.process_time()
                for _ in range(CALLS):
                    await stage()
                runs[name].append((time.process_time() - started) * 1000 / CALLS)
    return {name: statistics.median(values) for name, values in runs.items()}


def wrk(url: str, body: Path, seconds: int) -> int:
    """Requests wrk completed with one connection for `seconds`."""
    stdout = subprocess.run(
        ["wrk", "-t1", "-c1", f"-d{seconds}s", "-s", str(HERE / "benchmarks/post.lua"), url],
        capture_output=True,
        text=True,
        check=True,
        # Each request's article ends in a line of its own (benchmarks/post.lua): no per-article
        # reading kept for one request's claims is reused by the next, as with real traffic.
        env=os.environ | {"BODY_FILE": str(body), "VARY_ARTICLE": "1"},
    ).stdout
    result = json.loads(stdout.strip().splitlines()[-1])
    assert result["errors"] == 0, result
    return int(result["completed"])


def drive_bare(tree: Path, fake: str) -> float:
    """(b)'s CPU ms per request: the bare client, 300 requests one at a time."""
    stdout = subprocess.run(
        [sys.executable, str(tree / "benchmarks/drive.py"), "bare", f"{fake}/v1", "300", "1"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    result = json.loads(stdout)
    return float(result["client_cpu_s"]) * 1000 / len(result["latencies"])


if __name__ == "__main__":
    main()
