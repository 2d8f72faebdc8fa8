"""The benchmark harness: newsbrief (a) against a bare OpenAI client (b) and instructor (c), on
the project's fake LLM, side by side in one run; ratios are against (b).

    python benchmarks/run.py            # the full grid; writes docs/BENCHMARKS.md and its plot
    python benchmarks/run.py --quick    # a short run (under 2 minutes) into build/bench/

Run it through `make bench` / `make bench-full`, which install what it needs first.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
from tests.support import clean_env, free_port, start, stop  # noqa: E402

PYTHON = {
    "http": ROOT / ".venv/bin/python",
    "bare": ROOT / ".venv/bin/python",
    "instructor": ROOT / ".venv-instructor/bin/python",
}
LABEL = {
    "http": "a: newsbrief over HTTP",
    "bare": "b: bare AsyncOpenAI",
    "instructor": "c: instructor",
}
LONG_ARTICLE = ROOT / "evals" / "cases" / "budget-marathon.yaml"


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))] if ordered else float("nan")


def cpu_seconds(pid: int) -> float:
    """CPU time of a process and its live children: `serve --workers N` is N+1 processes."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    own = (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    children = Path(f"/proc/{pid}/task/{pid}/children").read_text().split()
    return own + sum(cpu_seconds(int(child)) for child in children)


@contextmanager
def stack(**settings: str) -> Iterator[dict[str, Any]]:
    """The fake LLM plus `newsbrief serve` pointed at it."""
    fake_port, api_port = free_port(), free_port()
    fake = f"http://127.0.0.1:{fake_port}"
    fake_proc = start(["fake-llm", "--port", str(fake_port)], clean_env(), f"{fake}/_fake/stats")
    env = clean_env(
        NEWSBRIEF_LLM_BASE_URL=f"{fake}/v1",
        NEWSBRIEF_LLM_MODEL="fake-model",
        NEWSBRIEF_LLM_MAX_CONCURRENCY="4000",
        NEWSBRIEF_LLM_QUEUE_TIMEOUT_S="120",
        NEWSBRIEF_BREAKER_FAILURES="1000000",
        NEWSBRIEF_REQUEST_DEADLINE_S="300",
        **{f"NEWSBRIEF_{k.upper()}": v for k, v in settings.items()},
    )
    api = f"http://127.0.0.1:{api_port}"
    api_proc = start(["serve", "--port", str(api_port)], env, f"{api}/healthz")
    try:
        yield {"fake": fake, "api": api, "api_pid": api_proc.pid}
    finally:
        stop(api_proc)
        stop(fake_proc)


def settle(s: dict[str, Any]) -> None:
    """Wait until nothing is in flight upstream: a client that stopped at its deadline leaves
    requests behind, and they must not eat into the next measurement's CPU."""
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if httpx.get(f"{s['fake']}/_fake/stats").json()["in_flight"] == 0:
            break
        time.sleep(0.2)
    time.sleep(0.5)


def set_latency(fake: str, seconds: float, spread: float = 0.0) -> None:
    """The fake's latency (restarting its spread's sequence: fake_llm.FakeState.next_latency)."""
    asked = {"seconds": seconds, "spread": spread}
    httpx.post(f"{fake}/_fake/latency", json=asked).raise_for_status()


def wrk(
    s: dict[str, Any],
    seconds: float,
    concurrency: int,
    *,
    vary: bool = True,
    upstream: tuple[float, float] | None = None,
) -> dict[str, Any]:
    """(a): wrk, a C load generator, drives the service over HTTP without starving it of CPU.
    With `vary` each request's article ends in a line of its own (benchmarks/post.lua), so what
    the service keeps per article text for one request's claims is not reused by the next. With
    `upstream` (seconds, spread) the fake's latency is set before the warm-up and again before
    the measured run, so each run draws the spread's sequence from its start."""
    return wrk_beside([s], seconds, concurrency, vary=vary, upstream=upstream)[0]


def wrk_beside(
    stacks: list[dict[str, Any]],
    seconds: float,
    concurrency: int,
    *,
    vary: bool = True,
    upstream: tuple[float, float] | None = None,
) -> list[dict[str, Any]]:
    """`wrk` on several stacks at once, each with a wrk of its own: whatever else the machine
    does falls on each alike, moment by moment."""
    body = ROOT / "build" / "bench-body.json"
    body.parent.mkdir(parents=True, exist_ok=True)
    article = (ROOT / "tests/fixtures/articles/ferry-levy.txt").read_text(encoding="utf-8")
    body.write_text(json.dumps({"article": {"text": article}}))

    def run_wrk(connections: int, duration: str) -> list[str]:
        threads = f"-t{min(2, connections)}"
        script = str(ROOT / "benchmarks/post.lua")
        env = os.environ | {"BODY_FILE": str(body), "VARY_ARTICLE": "1" if vary else "0"}
        args = ["wrk", threads, f"-c{connections}", f"-d{duration}", "--timeout", "120s"]
        running = [
            subprocess.Popen(
                [*args, "-s", script, s["api"] + "/v1/summaries"],
                stdout=subprocess.PIPE,
                text=True,
                env=env,
            )
            for s in stacks
        ]
        outs = [proc.communicate(timeout=900)[0] for proc in running]
        for proc in running:
            if proc.returncode:
                raise subprocess.CalledProcessError(proc.returncode, proc.args)
        return outs

    def restart_upstream() -> None:
        for s in stacks:
            if upstream is not None:
                set_latency(s["fake"], *upstream)

    restart_upstream()
    run_wrk(1, "1s")  # warm-up
    for s in stacks:
        settle(s)  # wrk leaves its last warm-up request in flight: it must not count as measured
    restart_upstream()
    before = [cpu_seconds(s["api_pid"]) for s in stacks]
    stdouts = run_wrk(concurrency, f"{seconds:.0f}s")
    results = []
    for s, stdout, cpu0 in zip(stacks, stdouts, before, strict=True):
        cpu = cpu_seconds(s["api_pid"]) - cpu0
        result: dict[str, Any] = json.loads(stdout.strip().splitlines()[-1])
        done = max(1, result["completed"] - result["errors"])
        results.append(
            result
            | {
                "kind": "http",
                "concurrency": concurrency,
                "requests": result["completed"],
                "throughput_rps": done / result["duration_s"],
                "cpu_s": cpu,
                "cpu_ms_per_request": cpu * 1000 / done,
            }
        )
    return results


def drive(kind: str, s: dict[str, Any], total: int, concurrency: int) -> dict[str, Any]:
    """(b) and (c): the client process calls the fake LLM itself; its CPU time is its own."""
    out = subprocess.run(
        [
            str(PYTHON[kind]),
            str(ROOT / "benchmarks" / "drive.py"),
            kind,
            f"{s['fake']}/v1",
            str(total),
            str(concurrency),
        ],
        capture_output=True,
        text=True,
        check=True,
        timeout=900,
    )
    result: dict[str, Any] = json.loads(out.stdout)
    lat = result.pop("latencies")
    done = max(1, len(lat))
    return result | {
        "p50_ms": percentile(lat, 0.50) * 1000,
        "p95_ms": percentile(lat, 0.95) * 1000,
        "p99_ms": percentile(lat, 0.99) * 1000,
        "throughput_rps": len(lat) / result["wall_s"],
        "cpu_ms_per_request": result["client_cpu_s"] * 1000 / done,
    }


def grid(
    s: dict[str, Any],
    latencies: list[float],
    concurrencies: list[int],
    waves: int,
    log: Any,
    clients: tuple[str, ...] = ("bare", "instructor"),
    least: int = 20,
    spread: float = 0.0,
) -> list[dict[str, Any]]:
    """Each cell: the Python clients send waves × in-flight requests, then wrk drives newsbrief
    for as long as the bare client took (10 s when it did not run), so both see the same load."""
    cells = []
    for latency in latencies:
        for concurrency in concurrencies:
            total = max(least, concurrency * (waves if latency else waves * 2))
            row: dict[str, Any] = {"latency_s": latency, "concurrency": concurrency}
            for kind in clients:
                settle(s)
                set_latency(s["fake"], latency, spread)  # each client from the same draws
                row[kind] = drive(kind, s, total, concurrency)
            seconds = row["bare"]["wall_s"] if "bare" in row else 10.0
            settle(s)
            row["http"] = wrk(s, max(5.0, seconds), concurrency, upstream=(latency, spread))
            for kind in ("bare", "http", "instructor"):
                if kind not in row:
                    continue
                log(
                    f"  L={latency}s C={concurrency} {kind}: p50 {row[kind]['p50_ms']:.1f} ms, "
                    f"{row[kind]['throughput_rps']:.0f} req/s, errors {row[kind]['errors']}"
                )
            cells.append(row)
    return cells


def cache_hits(log: Any) -> dict[str, Any]:
    with stack(cache_size="1024") as s:
        set_latency(s["fake"], 0.5)
        # The same article every time: wrk's first warm-up call is the one miss, all else hits.
        result = wrk(s, 5, 1, vary=False)
        upstream = httpx.get(f"{s['fake']}/_fake/stats").json()["requests"]
    log(f"  cache: p50 {result['p50_ms']:.2f} ms, upstream calls in all {upstream}")
    return {
        "p50_ms": result["p50_ms"],
        "p99_ms": result["p99_ms"],
        "upstream_calls": upstream,
        "requests": result["requests"],
        "errors": result["errors"],
    }


def long_articles(sizes: list[int], log: Any) -> list[dict[str, Any]]:
    import yaml

    base = yaml.safe_load(LONG_ARTICLE.read_text(encoding="utf-8"))["article"]["text"]
    rows = []
    # The cache is off and the text is the same each time, so the fake LLM answers from its memo
    # and what grows is the service's own time.
    with stack(max_article_chars="250000", max_body_bytes="4000000", cache_size="0") as s:
        set_latency(s["fake"], 0.0)
        with httpx.Client(timeout=300) as client:
            for size in sizes:
                text = (base * (size // len(base) + 1))[:size]
                times, usage = [], {}
                for i in range(6):
                    started = time.perf_counter()
                    r = client.post(f"{s['api']}/v1/summaries", json={"article": {"text": text}})
                    r.raise_for_status()
                    if i:  # the first one warms up
                        times.append(time.perf_counter() - started)
                    usage = r.json()["usage"]
                rows.append(
                    {
                        "chars": size,
                        "p50_ms": statistics.median(times) * 1000,
                        "prompt_tokens": usage["prompt_tokens"],
                    }
                )
                log(f"  {size} chars: {rows[-1]['p50_ms']:.1f} ms, {usage['prompt_tokens']} tokens")
    return rows


# Requests a p50 run at 20 in flight sends: 30 waves of 20 (about 16 s). A run's p50 moves with
# how its waves line up (the fixed row's most); at 10 waves a run's a/b moved by 3 % between
# runs, more than the 2 % the target allows.
P50_REQUESTS = 600


def scale(repeats: int, log: Any) -> dict[str, Any]:
    """Issue 12's rows, each measured `repeats` times for the spread: CPU per request at 1 in
    flight and p50 at 20 in flight (500 ms upstream) against (b), and `serve --workers 2` against
    one worker on the same CPU-bound load (0 ms upstream, wrk as the driver)."""
    import asyncio

    from benchmarks.llm_call import measure

    out: dict[str, Any] = {
        "repeats": repeats,
        "cpu_1": [],
        "p50_20": [],
        "p50_20_spread": [],
        "workers": {},
    }
    out["load_before"] = os.getloadavg()[0]  # other work on the machine skews every row here
    out["llm_call"] = asyncio.run(measure(max(3, repeats)))
    # The store off: (b) stores nothing, and these rows compare the same work (the store has
    # rows of its own). A tree without a store ignores the setting.
    with stack(cache_size="0", store="off") as s:
        for _ in range(repeats):
            out["cpu_1"] += grid(s, [0.0], [1], 1, log, clients=("bare",), least=300)
            out["p50_20"] += grid(s, [0.5], [20], 1, log, clients=("bare",), least=P50_REQUESTS)
            # The same with the upstream's latencies spread (the store rows' SPREAD): a fixed
            # 500 ms moves the 20 connections in lock-step waves, and a run's p50 then depends
            # on how a wave lines up (the store rows' A/A runs show it) more than on either side.
            out["p50_20_spread"] += grid(
                s, [0.5], [20], 1, log, clients=("bare",), least=P50_REQUESTS, spread=SPREAD
            )
    # One worker, then two, in each round: the machine's speed drifts over minutes (shared
    # hosts), and all of one then all of the other put that drift into the ratio.
    for _ in range(repeats):
        for workers in ("1", "2"):
            with stack(cache_size="0", store="off", workers=workers) as s:
                set_latency(s["fake"], 0.0)
                out["workers"].setdefault(workers, []).append(wrk(s, 10, 16))
        log(
            "  1 and 2 workers: "
            + ", ".join(f"{out['workers'][n][-1]['throughput_rps']:.0f}" for n in ("1", "2"))
            + " req/s"
        )
    out["load_after"] = os.getloadavg()[0]
    return out


STORE_STATES = {
    "off": {"store": "off"},
    "on": {"store": "on"},  # the default: each answer waits for its row to be committed
    "fire_and_forget": {"store": "on", "store_confirm_s": "0"},  # out once it is queued
    "off_again": {"store": "off"},  # A/A: a second stack like "off", the method's own noise
}
SPREAD = 0.4  # the spread row's upstream: 500 ms, out to ± 40 % (newsbrief_dev/fake_llm.py)
# The store rows: name → (upstream seconds, spread, requests in flight). At 20 in flight with a
# fixed 500 ms the connections move in lock-step waves and a turn's p50 depends on how the wave
# lines up (the row is kept to show it); the spread row desynchronises them.
STORE_ROWS = {
    "p50_20": (0.5, 0.0, 20),
    "p50_20_spread": (0.5, SPREAD, 20),
    "one": (0.0, 0.0, 1),
}


def store_cost(
    rounds: int,
    log: Any,
    seconds: float = 5.0,
    seconds_20: float = 5.0,
    states: tuple[str, ...] = tuple(STORE_STATES),
    rows: tuple[str, ...] = tuple(STORE_ROWS),
    in_process: bool = True,
    rounds_fixed: int | None = None,
) -> dict[str, Any]:
    """Issue 13's rows: the same service with the store off, on (SQLite, the default: each answer
    waits for its commit), on fire-and-forget (STORE_CONFIRM_S=0) and off again (the A/A
    control), all running (each with its own fake LLM and data directory), `rounds` times, the
    order rotating each round. At 20 in flight (500 ms upstream, fixed and spread) each is
    measured at the same time as a run of the store off beside it, and compared with that run:
    a turn's p50 there moves with whatever else the machine does, by more than the difference
    sought, and side by side it moves both alike. At 1 in flight with 0 ms upstream, where a
    write's cost shows most and a stack keeps a core busy, each runs alone, in turns, compared
    with the store off's turn of that round. Each run restarts the spread's sequence (wrk), so
    every stack draws the same latencies. Beside them the route's own cost in one process
    (benchmarks/store_path.py) on SQLite and PostgreSQL."""
    import asyncio
    import tempfile
    from contextlib import ExitStack

    from benchmarks.store_path import measure, measure_postgres

    rounds_fixed = rounds if rounds_fixed is None else rounds_fixed
    out: dict[str, Any] = {
        "repeats": rounds,
        "repeats_fixed": rounds_fixed,  # the fixed-500 ms row, kept to show it resolves nothing
        "seconds": seconds,
        "seconds_20": seconds_20,  # the 20-in-flight turns: their p50 moves most from run to run
        "spread": SPREAD,
        "side_by_side": True,
        "beside_off": [row for row in rows if STORE_ROWS[row][2] > 1],
    }
    out["load_before"] = os.getloadavg()[0]
    if in_process:
        out["path"] = asyncio.run(measure())
        out["path_postgresql"] = measure_postgres()
    for state in states:
        out[state] = {row: [] for row in rows}
    with ExitStack() as running:
        stacks = {}
        for state in states:
            data = running.enter_context(tempfile.TemporaryDirectory())
            settings = STORE_STATES[state]
            stacks[state] = running.enter_context(stack(cache_size="0", data_dir=data, **settings))
        for row in rows:
            latency, spread, in_flight = STORE_ROWS[row]
            turn = seconds if in_flight == 1 else seconds_20
            for i in range(rounds_fixed if row == "p50_20" else rounds):
                order = states[i % len(states) :] + states[: i % len(states)]
                for state in order:
                    if row not in out["beside_off"]:
                        out[state][row].append(
                            wrk(stacks[state], turn, in_flight, upstream=(latency, spread))
                        )
                    elif state != "off":
                        off, run = wrk_beside(
                            [stacks["off"], stacks[state]],
                            turn,
                            in_flight,
                            upstream=(latency, spread),
                        )
                        out[state][row].append(run | {"off": off})
                log(
                    f"  store {row} round {i + 1}: "
                    + ", ".join(
                        f"{state} p50 {r['p50_ms']:.2f} ms CPU {r['cpu_ms_per_request']:.2f} ms"
                        + (f" (off beside: {r['off']['p50_ms']:.2f} ms)" if "off" in r else "")
                        for state in states
                        if (r := out[state][row][-1] if out[state][row] else None)
                    )
                )
    out["load_after"] = os.getloadavg()[0]
    return out


def eval_seconds() -> float:
    started = time.perf_counter()
    subprocess.run(
        [str(ROOT / ".venv/bin/newsbrief"), "eval", "--out", str(ROOT / "build" / "bench-eval")],
        check=True,
        capture_output=True,
    )
    return time.perf_counter() - started


def machine() -> dict[str, str]:
    cpu = next(
        (
            line.split(":", 1)[1].strip()
            for line in Path("/proc/cpuinfo").read_text().splitlines()
            if line.startswith("model name")
        ),
        platform.processor(),
    )
    mem = next(
        line.split()[1]
        for line in Path("/proc/meminfo").read_text().splitlines()
        if line.startswith("MemTotal")
    )
    versions = subprocess.run(
        [
            str(PYTHON["http"]),
            "-c",
            "import openai,httpx,fastapi,uvicorn,pydantic;"
            "print(openai.__version__,httpx.__version__,fastapi.__version__,uvicorn.__version__,"
            "pydantic.__version__)",
        ],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.split()
    instr = subprocess.run(
        [
            str(PYTHON["instructor"]),
            "-c",
            "import instructor,openai;print(instructor.__version__,openai.__version__)",
        ],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.split()
    return {
        "cpu": cpu,
        "cores": str(os.cpu_count()),
        "memory_gib": f"{int(mem) / 2**20:.0f}",
        "python": platform.python_version(),
        "kernel": platform.release(),
        "openai": versions[0],
        "httpx": versions[1],
        "fastapi": versions[2],
        "uvicorn": versions[3],
        "pydantic": versions[4],
        "instructor": f"{instr[0]} (with openai {instr[1]})",
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true")
    parser.add_argument(
        "--scale-only",
        action="store_true",
        help="measure only the hot-path and workers rows into docs/benchmarks/results.json",
    )
    parser.add_argument(
        "--store-only",
        action="store_true",
        help="measure only the store on/off rows into docs/benchmarks/results.json",
    )
    parser.add_argument(
        "--grid-only",
        action="store_true",
        help="all but the hot-path, workers and store rows (the grid, its targets, the cache, "
        "long articles, eval), merged into docs/benchmarks/results.json",
    )
    parser.add_argument("--store-rounds", type=int, default=14, help="rounds of the store rows")
    parser.add_argument(
        "--store-seconds-20", type=float, default=10.0, help="a turn at 20 in flight, in seconds"
    )
    parser.add_argument(
        "--store-rounds-fixed", type=int, default=5, help="rounds of the fixed-500 ms row"
    )
    parser.add_argument(
        "--store-states",
        default=",".join(STORE_STATES),
        help="the stacks to compare, e.g. off,off_again for an A/A run alone (into build/bench/)",
    )
    parser.add_argument(
        "--store-rows", default=",".join(STORE_ROWS), help="the store rows to measure"
    )
    args = parser.parse_args()
    out = ROOT / ("build/bench" if args.quick else "docs/benchmarks")
    out.mkdir(parents=True, exist_ok=True)

    def log(message: str) -> None:
        print(message, file=sys.stderr, flush=True)

    started = time.perf_counter()
    results: dict[str, Any] = {
        "generated_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "quick": args.quick,
        "machine": machine(),
    }
    if args.scale_only or args.store_only:
        out = ROOT / "docs/benchmarks"
        saved = json.loads((out / "results.json").read_text())
        if args.scale_only:
            saved |= {"scale": scale(3, log), "scale_generated_at": results["generated_at"]}
        else:
            states = tuple(args.store_states.split(","))
            store_rows = tuple(args.store_rows.split(","))
            full = (states, store_rows) == (tuple(STORE_STATES), tuple(STORE_ROWS))
            store = store_cost(
                args.store_rounds,
                log,
                seconds_20=args.store_seconds_20,
                states=states,
                rows=store_rows,
                in_process=full,
                rounds_fixed=args.store_rounds_fixed,
            )
            if not full:  # a partial run (an A/A check, one row) does not replace the full one
                from benchmarks.report import difference

                for state in states[1:]:
                    for row in store_rows:
                        log(f"  {state} − {states[0]}, {row}: {difference(store, state, row)}")
                partial = ROOT / "build/bench/store-partial.json"
                partial.parent.mkdir(parents=True, exist_ok=True)
                partial.write_text(json.dumps(store, indent=1) + "\n")
                log(f"wrote {partial}")
                return
            saved |= {"store": store, "store_generated_at": results["generated_at"]}
        results = saved
        results["machine"] = machine()
        (out / "results.json").write_text(json.dumps(results, indent=1) + "\n")
        from benchmarks.report import write

        for path in write(results, out, ROOT / "docs" / "BENCHMARKS.md", replot=False):
            log(f"wrote {path}")
        return
    if not args.grid_only:
        log("scale")
        results["scale"] = scale(1 if args.quick else 3, log)
    log("grid")
    with stack(cache_size="0") as s:
        if args.quick:
            # Short: the 500 ms cells for all three, then only what the two targets need.
            results["grid"] = grid(s, [0.5], [1, 50], 2, log, least=10)
            results["target_200_at_1s"] = grid(s, [1.0], [200], 2, log, clients=("bare",))[0]
            results["in_flight_1000_at_2s"] = grid(s, [2.0], [1000], 1, log, clients=())[0]
        else:
            results["grid"] = grid(s, [0.0, 0.5, 2.0], [1, 50, 200, 1000], 2, log)
            results["target_200_at_1s"] = grid(s, [1.0], [200], 3, log)[0]
            results["in_flight_1000_at_2s"] = next(
                c for c in results["grid"] if c["latency_s"] == 2.0 and c["concurrency"] == 1000
            )
    if not args.grid_only:
        log("store")
        results["store"] = store_cost(2 if args.quick else 12, log)
    log("cache")
    results["cache"] = cache_hits(log)
    log("long articles")
    results["long"] = long_articles(
        [2_000, 20_000, 100_000] if args.quick else [2_000, 10_000, 50_000, 100_000, 200_000], log
    )
    log("eval")
    results["eval_s"] = eval_seconds()
    results["bench_s"] = time.perf_counter() - started
    if args.grid_only:  # the rows measured on their own keep their last run
        results["command"] = "make bench-grid"
        results = json.loads((out / "results.json").read_text()) | results
    (out / "results.json").write_text(json.dumps(results, indent=1) + "\n")
    from benchmarks.report import write

    for path in write(
        results, out, ROOT / "docs" / "BENCHMARKS.md" if not args.quick else out / "BENCHMARKS.md"
    ):
        log(f"wrote {path}")


if __name__ == "__main__":
    main()
