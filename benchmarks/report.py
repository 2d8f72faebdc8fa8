"""Turn benchmarks/run.py's results into tables, a plot and docs/BENCHMARKS.md."""

from __future__ import annotations

import random
import statistics
from pathlib import Path
from typing import Any

KINDS = ("bare", "http", "instructor")
NAMES = {"bare": "b (bare client)", "http": "a (newsbrief)", "instructor": "c (instructor)"}


def _r(a: float, b: float) -> str:
    return f"{a / b:.3f}" if b else "n/a"


def grid_tables(cells: list[dict[str, Any]]) -> str:
    out = []
    for latency in sorted({c["latency_s"] for c in cells}):
        rows = [c for c in cells if c["latency_s"] == latency]
        out.append(f"\n**Upstream latency {latency * 1000:.0f} ms**\n")
        out.append(
            "| in flight | b p50 / p95 / p99 ms | b req/s | b CPU ms/req "
            "| a/b p50 | a/b p95 | a/b p99 | a/b req/s | a/b CPU "
            "| c/b p50 | c/b p99 | c/b req/s | c/b CPU | errors a / b / c |"
        )
        out.append("|" + " --- |" * 14)
        for c in rows:
            a, b, i = c["http"], c["bare"], c["instructor"]
            out.append(
                f"| {c['concurrency']} | {b['p50_ms']:.1f} / {b['p95_ms']:.1f} / {b['p99_ms']:.1f} "
                f"| {b['throughput_rps']:.0f} | {b['cpu_ms_per_request']:.2f} "
                f"| {_r(a['p50_ms'], b['p50_ms'])} | {_r(a['p95_ms'], b['p95_ms'])} "
                f"| {_r(a['p99_ms'], b['p99_ms'])} "
                f"| {_r(a['throughput_rps'], b['throughput_rps'])} "
                f"| {_r(a['cpu_ms_per_request'], b['cpu_ms_per_request'])} "
                f"| {_r(i['p50_ms'], b['p50_ms'])} | {_r(i['p99_ms'], b['p99_ms'])} "
                f"| {_r(i['throughput_rps'], b['throughput_rps'])} "
                f"| {_r(i['cpu_ms_per_request'], b['cpu_ms_per_request'])} "
                f"| {a['errors']} / {b['errors']} / {i['errors']} |"
            )
    return "\n".join(out)


def absolute_table(cells: list[dict[str, Any]]) -> str:
    out = [
        "| upstream ms | in flight | client | requests | p50 ms | p95 ms | p99 ms | req/s "
        "| CPU ms/req | errors |",
        "|" + " --- |" * 10,
    ]
    for c in cells:
        for kind in (k for k in KINDS if k in c):
            r = c[kind]
            out.append(
                f"| {c['latency_s'] * 1000:.0f} | {c['concurrency']} | {NAMES[kind]} "
                f"| {r['requests']} | {r['p50_ms']:.1f} | {r['p95_ms']:.1f} | {r['p99_ms']:.1f} "
                f"| {r['throughput_rps']:.1f} | {r['cpu_ms_per_request']:.2f} | {r['errors']} |"
            )
    return "\n".join(out)


def scale_ratios(sc: dict[str, Any]) -> dict[str, list[float]]:
    """Per repeat: a/b CPU at 1 in flight, a/b p50 at 20 in flight, 2 workers / 1 throughput."""
    one, two = sc["workers"]["1"], sc["workers"]["2"]
    return {
        "cpu": [
            c["http"]["cpu_ms_per_request"] / c["bare"]["cpu_ms_per_request"] for c in sc["cpu_1"]
        ],
        "p50": [c["http"]["p50_ms"] / c["bare"]["p50_ms"] for c in sc["p50_20"]],
        "p50_spread": [
            c["http"]["p50_ms"] / c["bare"]["p50_ms"] for c in sc.get("p50_20_spread", [])
        ],
        "workers": [
            b["throughput_rps"] / a["throughput_rps"] for a, b in zip(one, two, strict=True)
        ],
    }


def _spread(values: list[float]) -> str:
    """The median, and every run beside it: the machine is shared, so one number would mislead."""
    runs = ", ".join(f"{v:.3f}" for v in values)
    return f"median {statistics.median(values):.3f} (runs: {runs})"


def scale_targets(sc: dict[str, Any]) -> list[tuple[str, str, bool]]:
    r = scale_ratios(sc)
    return [
        (
            "CPU per request ≤ b, 1 in flight, 0 ms upstream",
            f"a/b {_spread(r['cpu'])}",
            statistics.median(r["cpu"]) <= 1.0,
        ),
        (
            "p50 ≤ 1.02 × b, 20 in flight, 500 ms upstream",
            f"a/b {_spread(r['p50'])}",
            statistics.median(r["p50"]) <= 1.02,
        ),
        *(
            [
                (
                    "p50 ≤ 1.02 × b, 20 in flight, 500 ms ± 40 % upstream (the same draws "
                    "for both)",
                    f"a/b {_spread(r['p50_spread'])}",
                    statistics.median(r["p50_spread"]) <= 1.02,
                )
            ]
            if r["p50_spread"]
            else []
        ),
        (
            "2 workers ≥ 1.5 × 1 worker throughput, 0 ms upstream (CPU-bound, wrk)",
            f"2/1 {_spread(r['workers'])}",
            statistics.median(r["workers"]) >= 1.5,
        ),
    ]


def scale_section(sc: dict[str, Any], cores: str) -> str:
    r = scale_ratios(sc)
    cpu = sc["cpu_1"]
    a_cpu = statistics.median(c["http"]["cpu_ms_per_request"] for c in cpu)
    b_cpu = statistics.median(c["bare"]["cpu_ms_per_request"] for c in cpu)
    rows = "\n".join(
        f"| {n} | "
        + ", ".join(f"{run['throughput_rps']:.0f}" for run in runs)
        + " | "
        + ", ".join(f"{run['cpu_ms_per_request']:.2f}" for run in runs)
        + " | "
        + ", ".join(str(run["errors"]) for run in runs)
        + " |"
        for n, runs in sc["workers"].items()
    )
    call = sc.get("llm_call")
    call_text = (
        ""
        if call is None
        else f"""

The upstream call alone (`benchmarks/llm_call.py`: the same body through one client over an
in-process transport, so only client-side CPU counts): newsbrief's call took a median
{statistics.median(call["newsbrief"]):.3f} ms of CPU against {statistics.median(call["sdk"]):.3f} ms
for the SDK's typed `chat.completions.create`, which newsbrief once used and (b) still uses."""
    )
    spread_text = (
        ""
        if not r["p50_spread"]
        else f"""; with the upstream's latencies spread (500 ms ± 40 %, the same
deterministic draws for both, as in the store rows below) {statistics.median(r["p50_spread"]):.3f}
× (b)'s. With a fixed 500 ms, answers to calls sent together come back together. (b) sends
its next call as soon as it has read an answer, so its calls drift apart by themselves.
newsbrief's next request comes back through wrk, and the loop used to check and answer a whole
burst of answers before it read the requests the first responses brought: those left together
and came back together, and the bursts repeated. Answers now take turns with the event loop, one
a pass (service/turns.py), so new requests get in between and the bursts spread out as (b)'s do.
The spread row lets the connections drift apart as a real provider's answers do"""
    )
    load = (
        f" The machine's 1-minute load average was {sc['load_before']:.1f} before these rows and"
        f" {sc['load_after']:.1f} after, on {cores} cores: beyond what this harness runs, the"
        " rest is other work, which inflates CPU times and ratios here."
        if "load_before" in sc
        else ""
    )
    p50_runs = ", ".join(f"{x:.3f}" for x in r["p50"])
    return f"""Measured {sc["repeats"]} times each, in one run of the harness.{load}

At 1 in flight and 0 ms upstream newsbrief spent a median {a_cpu:.2f} ms of CPU per request
against {b_cpu:.2f} ms for (b) (a/b {statistics.median(r["cpu"]):.3f}), its HTTP server,
request validation, grounding, number and attribution checks and two JSON log lines (work (b)
does not do) included. At 500 ms upstream and 20 in flight ({sc["p50_20"][0]["bare"]["requests"]}
requests a run for (b), wrk as long for (a)) its p50 was
{statistics.median(r["p50"]):.3f} × (b)'s (runs {p50_runs}){spread_text}.

`newsbrief serve --workers 2` against one worker, the fake LLM at 0 ms so the service is
CPU-bound, wrk with 16 connections for 10 s a run (CPU per request counts all the service's
processes; errors per run):

| workers | req/s per run | CPU ms/req per run | errors |
| --- | --- | --- | --- |
{rows}

Two workers gave {statistics.median(r["workers"]):.2f} × one worker's throughput. The
{cores} cores also run the fake LLM and wrk, which take CPU in proportion to the requests served,
so a second worker can only use what they leave. Other work on the machine moves this ratio both
ways: it takes cores from the service, and two processes get a larger share of busy cores than
one. Read it beside the load average above, and rerun at a quiet moment before trusting
it.{call_text}"""


BREAKDOWN_ROWS = [
    ("validate", "request body parsed and validated (pydantic)"),
    (
        "render",
        "prompt rendered (up to 8676921 the schema was dumped into it on each request; now its "
        "text is built once per client, as (b) does too)",
    ),
    (
        "call",
        "LLM call, client side: body built and sent, answer read and parsed, with retries, "
        "breaker and metrics around it",
    ),
    (
        "text_steps",
        "the answer reviewed and the brief built: grounding, attribution, links, "
        "numbers, response models (and any hops to a worker thread)",
    ),
    ("server", "HTTP server, FastAPI, middleware, metrics, two log lines, response written"),
    ("service", "**(a) newsbrief, whole request over HTTP**"),
    ("bare", "**(b) bare client, whole call** (the same code beside both: one median)"),
]


def breakdown_section(bd: dict[str, Any]) -> str:
    """Where (a)'s CPU goes by stage, before and after (benchmarks/breakdown.py)."""
    before, after = bd["before"], bd["after"]
    rows = "\n".join(
        f"| {label} | {before[key]:.2f} | {after[key]:.2f} |" for key, label in BREAKDOWN_ROWS
    )
    ratio_before = before["service"] / before["bare"]
    ratio_after = after["service"] / after["bare"]
    return f"""CPU ms per request at 1 in flight, 0 ms upstream, by stage, for the code at
{bd["before_commit"]} and this checkout; medians of {bd["rounds"]}
alternating rounds (`make bench-breakdown`, {bd["generated_at"]}; 1-minute load average
{bd["load_before"]:.1f} before, {bd["load_after"]:.1f} after). In-process stages are timed in a
loop of their own and come out lower than the same code costs inside a whole request (where it
shares the CPU caches with everything else); the server row is what the whole request costs
beyond the in-process pipeline, so it carries that difference too.

| stage | before | now |
| --- | --- | --- |
{rows}
| a/b | {ratio_before:.3f} | {ratio_after:.3f} |

What (a) still pays that (b) does not: an HTTP server in front (the request read and parsed, the
response written, FastAPI's routing and validation, the middleware, two JSON log lines) and the
work that makes the brief what it is (every claim grounded in the article and attributed, links
and numbers checked), {after["text_steps"] + after["server"]:.2f} ms together here. What (b) pays
that (a) no longer does: the SDK's per-call request machinery and typed response parsing, which
(a) skips by sending the body's bytes with the SDK's headers straight to the httpx client's
transport; and httpx's own HTTP/1.1 stack (httpcore, h11 and anyio, Python all of it), where
(a)'s transport is aiohttp's C parser and asyncio streams under httpx's interface
(service/upstream.py), which sends a request's head and body in one write."""


def store_added(st: dict[str, Any], state: str, rows: str, key: str = "p50_ms") -> list[float]:
    """Per run: what the store in `state` added to the store off, in ms (CPU ms with `key`):
    against the run of the store off beside it, or else the store off's turn of that round."""
    runs = st[state][rows]
    offs = [run["off"] for run in runs] if runs and "off" in runs[0] else st["off"][rows]
    return [on[key] - off[key] for on, off in zip(runs, offs, strict=True)]


def median_ci(values: list[float], resamples: int = 4000) -> tuple[float, float]:
    """A 95 % bootstrap interval of the median (percentile method, a fixed seed: rerunning the
    report on the same results gives the same interval)."""
    pick = random.Random(13)
    medians = sorted(
        statistics.median(pick.choices(values, k=len(values))) for _ in range(resamples)
    )
    return medians[int(0.025 * resamples)], medians[int(0.975 * resamples) - 1]


def difference(st: dict[str, Any], state: str, rows: str, key: str = "p50_ms") -> str:
    """`state` − off per round: the median, its interval and the rounds' SD, in ms."""
    added = store_added(st, state, rows, key)
    low, high = median_ci(added)
    sd = statistics.stdev(added) if len(added) > 1 else float("nan")
    return f"{statistics.median(added):+.2f} ms (95 % CI {low:+.2f} to {high:+.2f}; SD {sd:.2f})"


def store_target(st: dict[str, Any]) -> tuple[str, str, bool]:
    rows = "p50_20_spread" if "p50_20_spread" in st["off"] else "p50_20"
    upstream = f"500 ms ± {st['spread']:.0%}" if rows == "p50_20_spread" else "500 ms"
    control = (
        f"; A/A (off against off) {difference(st, 'off_again', rows)}" if "off_again" in st else ""
    )
    return (
        f"the store (default set-up) adds ≤ 1 ms at p50, 20 in flight, {upstream} upstream",
        f"on − off: median {difference(st, 'on', rows)}{control}",
        statistics.median(store_added(st, "on", rows)) <= 1.0,
    )


STORE_LABELS = {
    "off": "off",
    "on": "on (default: each answer waits for its commit)",
    "fire_and_forget": "on, `STORE_CONFIRM_S=0` (fire-and-forget)",
    "off_again": "off, a second stack (A/A control)",
}
PATH_MODES = {
    "off": "off",
    "on": "on (default)",
    "fire_and_forget": "fire-and-forget",
    "on_per_statement": "default, written statement by statement (before)",
}


def store_path_text(st: dict[str, Any]) -> str:
    """The in-process rows (benchmarks/store_path.py): the route's own time, without HTTP."""
    backends = [(name, st[key]) for name, key in BACKENDS if key in st]

    def us(path: dict[str, Any], mode: str, key: str) -> float:
        return statistics.median(path[mode][key])

    head = " | ".join(PATH_MODES.values())
    rows = "\n".join(
        f"| {name}, {what} | "
        + " | ".join(f"{us(path, mode, key):.0f}" for mode in PATH_MODES)
        + " |"
        for name, path in backends
        for what, key in (("µs at p50", "p50_us"), ("CPU µs", "cpu_us_per_answer"))
    )

    def against_before(path: dict[str, Any], key: str) -> str:
        now, before = us(path, "on", key), us(path, "on_per_statement", key)
        return f"{now:.0f} µs against {before:.0f} ({now / before:.2f}×)"

    ratios = "; ".join(
        f"{name} {against_before(path, 'p50_us')} at p50, CPU "
        f"{against_before(path, 'cpu_us_per_answer')}"
        for name, path in backends
    )
    first = backends[0][1]
    return f"""

In one process, without HTTP or load noise (`benchmarks/store_path.py`: {first["answers"]}
answers a run of {first["claims_per_answer"]} claims each, two runs a mode, modes in turns), what
the route does after the answer is made: render the body (off); also build the record, queue it
and wait for its commit (on, the default); queue it only (fire-and-forget); and the default's
wait with the batch written the way it was before the write engine, through the async engine
statement by statement (on SQLite its claims' targets are indexed later too, as they now are for
every write). CPU per answer includes the writes (the write thread's too, the claims' catch-up
included):

| per answer | {head} |
| --- | --- | --- | --- | --- |
{rows}

The default's wait, written through the write engine against statement by statement: {ratios}.
The PostgreSQL server here is a throwaway one with fsync off (as in the tests); a durable one
adds its commit's flush to every confirmed write."""


BACKENDS = (("SQLite", "path"), ("PostgreSQL", "path_postgresql"))


CPU = "cpu_ms_per_request"
STORE_LOADS = {
    "p50_20": "20 in flight, 500 ms upstream",
    "p50_20_spread": "20 in flight, 500 ms ± {spread:.0%} upstream",
    "one": "1 in flight, 0 ms",
}


def store_section(st: dict[str, Any], cores: str) -> str:
    loads = {
        rows: label.format(spread=st.get("spread", 0.0))
        for rows, label in STORE_LOADS.items()
        if rows in st.get("off", {})
    }

    def row(rows: str, state: str) -> str:
        def runs(key: str) -> str:
            return ", ".join(
                f"{r[key]:.2f}" + (f" ({r['off'][key]:.2f})" if "off" in r else "")
                for r in st[state][rows]
            )

        return f"| {loads[rows]} | {STORE_LABELS[state]} | {runs('p50_ms')} | {runs(CPU)} |"

    if "fire_and_forget" not in st:
        return "Not measured since the default became confirmed writes: run `make bench-store`."
    table = "\n".join(
        row(rows, state) for rows in loads for state in STORE_LABELS if st.get(state, {}).get(rows)
    )
    against = [state for state in STORE_LABELS if state != "off" and state in st]
    differences = "\n".join(
        f"| {loads[rows]} | {STORE_LABELS[state]} | {difference(st, state, rows)} |"
        for rows in loads
        for state in against
    ) + "".join(
        f"\n| {loads['one']}, CPU per request | {STORE_LABELS[state]} | "
        f"{difference(st, state, 'one', CPU)} |"
        for state in against
    )
    path = store_path_text(st) if "path" in st else ""

    def added(state: str, rows: str) -> str:
        return f"{statistics.median(store_added(st, state, rows)):+.2f}"

    spread_rows = "p50_20_spread" if "p50_20_spread" in loads else "p50_20"
    spread = (
        f"""

Why two rows at 20 in flight. With a fixed 500 ms upstream every answer takes exactly as long,
and answers to calls sent together come back together. Until answers took turns with the event
loop (service/turns.py) the 20 connections moved in lock-step waves, and a run's p50 depended on
where in a wave its median request fell: two runs of the same stack landed tens of milliseconds
apart. The waves now mostly dissolve, and that row's A/A control (two identical stacks, the store
off in both) shows how closely two runs agree. What bunching remains weighs on the confirmed
write there: an answer waiting for its commit most likely lets the next answer's turn run before
it can respond, which fire-and-forget does not. Real upstreams do not answer in lock-step.
In the spread row the fake LLM's k-th request of a run waits
500 ms × (1 + {st["spread"]:.2f} × v³), v = 2·frac(k·φ) − 1 (newsbrief_dev/fake_llm.py): a
low-discrepancy sequence, restarted at each run and at its warm-up, so every stack draws the same
latencies, most near 500 ms and a few out to ±{st["spread"]:.0%}, and the connections drift
apart as with a real provider. Cubed, a run's median barely moves with which requests its end
cuts off (evenly spread latencies would move it by a gap for each). And at 20 in flight each
stack runs at the same moment as a run of the store off, each with a wrk of its own, and is
compared with that run: what else the machine does then falls on both alike, where run one after
the other it moved a run's p50 by more than the millisecond sought. The A/A control's interval
is what the method can resolve here."""
        if "p50_20_spread" in loads
        else ""
    )
    if st.get("beside_off"):
        how = f"""each with its own fake LLM and data directory, {st["repeats"]} rounds
({st.get("repeats_fixed", st["repeats"])} at a fixed 500 ms), the order rotating each round. At 20
in flight each runs for {st["seconds_20"]:.0f} s beside a run of the store off, and the table gives
that run's figure in brackets; at 1 in flight each runs alone for {st["seconds"]:.0f} s a turn,
against the store off's turn of that round"""
    elif st.get("side_by_side"):
        how = f"""running side by side (each with its own fake LLM and data directory) and measured
in turns, {st["repeats"]} rounds with the order rotating each round, so load that comes and goes
on the machine falls on all alike; wrk drives each for {st["seconds"]:.0f} s a turn
({st.get("seconds_20", st["seconds"]):.0f} s at 20 in flight)"""
    else:
        how = f"""started in turns, {st["repeats"]} times each, in one run; wrk drives it for
10 s a run"""
    control = " and off once more (the A/A control)" if "off_again" in st else ""
    return f"""The same service with the store off, on (SQLite in a temporary data directory, the
default set-up, where each answer waits for its row to be committed), on fire-and-forget
(`STORE_CONFIRM_S=0`){control}, {how}. The 1-minute load average was {st["load_before"]:.1f}
before and {st["load_after"]:.1f} after, on {cores} cores.

| load | store | p50 ms per round | CPU ms/req per round |
| --- | --- | --- | --- |
{table}

What each adds to the store off, per round: the median over the rounds, a 95 % bootstrap
interval of that median, and the rounds' SD (the p50 unless it says CPU):

| load | store | − off |
| --- | --- | --- |
{differences}

Writes that arrive together are batched into one transaction. By default every answer that was
not kept says `not_stored` and its `Location` can be read at once; fire-and-forget saves the wait
and gives up both. Fire-and-forget's answer does not wait for its write, so what it adds is the
store's work alone (the summary's row built and the SQLite calls on the event loop, which every
request behind them waits for; beside it the write thread's upkeep: the claims into their table
and index, in bulk, and checkpoints): at 20 in flight
{added("fire_and_forget", spread_rows)} ms against the default's {added("on", spread_rows)} ms.
`benchmarks/store_path.py --parts` takes one write apart: the time of each step, and the pages
each commit adds to the WAL, by table or index.{spread}{path}"""


def targets(res: dict[str, Any]) -> list[tuple[str, str, bool]]:
    rows = scale_targets(res["scale"]) if "scale" in res else []
    if "store" in res:
        rows.append(store_target(res["store"]))
    at_half = [c for c in res["grid"] if c["latency_s"] == 0.5]
    worst = max(at_half, key=lambda c: c["http"]["p50_ms"] / c["bare"]["p50_ms"])
    ratios = ", ".join(
        f"{c['concurrency']}: {c['http']['p50_ms'] / c['bare']['p50_ms']:.3f}" for c in at_half
    )
    rows.append(
        (
            "p50 ≤ 1.02 × b at 500 ms upstream",
            f"a/b by in-flight count — {ratios}",
            worst["http"]["p50_ms"] / worst["bare"]["p50_ms"] <= 1.02,
        )
    )
    t = res["target_200_at_1s"]
    ratio = t["http"]["throughput_rps"] / t["bare"]["throughput_rps"]
    rows.append(
        (
            "throughput ≥ 0.9 × b, 200 in flight, 1 s upstream",
            f"{t['http']['throughput_rps']:.1f} vs {t['bare']['throughput_rps']:.1f} req/s "
            f"= {ratio:.3f}",
            ratio >= 0.9,
        )
    )
    big = res["in_flight_1000_at_2s"]
    rows.append(
        (
            "1,000 in flight, 2 s upstream: 0 errors",
            f"{big['http']['errors']} errors in {big['http']['requests']} requests, "
            f"p99 {big['http']['p99_ms']:.0f} ms",
            big["http"]["errors"] == 0,
        )
    )
    worse = [
        c
        for c in res["grid"]
        if c["http"]["cpu_ms_per_request"] >= c["instructor"]["cpu_ms_per_request"]
    ]
    spread = ", ".join(
        f"{c['latency_s'] * 1000:.0f} ms/{c['concurrency']}: "
        f"{c['http']['cpu_ms_per_request']:.2f} vs {c['instructor']['cpu_ms_per_request']:.2f}"
        for c in res["grid"]
    )
    rows.append(("CPU per request below instructor (c)", f"a vs c ms/req — {spread}", not worse))
    cache = res["cache"]
    rows.append(
        (
            "cache hit ≤ 5 ms p50 over HTTP, 0 upstream calls",
            f"p50 {cache['p50_ms']:.2f} ms, p99 {cache['p99_ms']:.2f} ms, "
            f"{cache['upstream_calls']} upstream calls for {cache['requests']} requests "
            "(the one call is wrk's first warm-up request, the only miss)",
            cache["p50_ms"] <= 5 and cache["upstream_calls"] <= 1,
        )
    )
    rows.append(
        (
            "full offline eval ≤ 15 s",
            f"{res['eval_s']:.1f} s (`newsbrief eval`, "
            "all cases × all prompt versions, process start included)",
            res["eval_s"] <= 15,
        )
    )
    return rows


def plot(res: dict[str, Any], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (lat_ax, tput_ax) = plt.subplots(1, 2, figsize=(11, 4.2))
    panels = (
        (lat_ax, "p50_ms", "p50 latency", "ms"),
        (tput_ax, "throughput_rps", "throughput", "req/s"),
    )
    styles = {0.0: ":", 0.5: "-", 2.0: "--", 1.0: "-."}
    colours = {"http": "tab:blue", "bare": "tab:green", "instructor": "tab:orange"}
    for latency in sorted({c["latency_s"] for c in res["grid"]}):
        cells = sorted(
            (c for c in res["grid"] if c["latency_s"] == latency), key=lambda c: c["concurrency"]
        )
        xs = [c["concurrency"] for c in cells]
        for kind in KINDS:
            label = f"{NAMES[kind]}, {latency * 1000:.0f} ms"
            for ax, metric, _, _ in panels:
                ax.plot(
                    xs,
                    [c[kind][metric] for c in cells],
                    styles.get(latency, "-"),
                    color=colours[kind],
                    marker="o",
                    label=label,
                )
    for ax, _, title, unit in panels:
        ax.set_xscale("log")
        ax.set_xlabel("requests in flight")
        ax.set_ylabel(unit)
        ax.set_title(title)
        ax.grid(alpha=0.3)
    tput_ax.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=110)


def _cell(cells: list[dict[str, Any]], latency: float, in_flight: int) -> dict[str, Any] | None:
    return next(
        (c for c in cells if c["latency_s"] == latency and c["concurrency"] == in_flight), None
    )


def _span(values: list[float], fmt: str = "{:.1f}") -> str:
    lo, hi = min(values), max(values)
    return (
        fmt.format(lo) if fmt.format(lo) == fmt.format(hi) else f"{fmt.format(lo)}–{fmt.format(hi)}"
    )


def reading(cells: list[dict[str, Any]], cores: int) -> str:
    """How to read this run's tables, every number in it taken from this run's cells."""
    notes = [
        f"- Everything shares {cores} cores: the fake LLM, the client or wrk, and the service. "
        "Cells that need more than the machine has are CPU-bound, and run-to-run spread is "
        "large from 50 in flight: rerun before reading much into a ratio near 1."
    ]
    if mid := _cell(cells, 0.5, 50):
        a, b = mid["http"], mid["bare"]
        notes[0] += f" (This run: a/b p50 at 500 ms, 50 in flight, {_r(a['p50_ms'], b['p50_ms'])}.)"
    crowded = [c for c in cells if c["concurrency"] >= 200]
    single = [c for c in cells if c["concurrency"] == 1]
    if crowded and single:
        pool = _span([c["bare"]["cpu_ms_per_request"] for c in crowded])
        alone = _span([c["bare"]["cpu_ms_per_request"] for c in single])
        tput = _span(
            [c["http"]["throughput_rps"] / c["bare"]["throughput_rps"] for c in crowded], "{:.2f}"
        )
        notes.append(
            "- From 200 in flight the Python clients (b) and (c) pay for their own concurrency: "
            f"(b) spends {pool} ms of CPU per request there against {alone} ms at 1 in flight, "
            "much of it in an httpx connection pool of that size. newsbrief's upstream pool has "
            "the same cost per call, but its callers come through wrk (a/b throughput "
            f"{tput} there). That says more about running many calls through one httpx client "
            "than about newsbrief."
        )
    if single:
        extra = [c["http"]["cpu_ms_per_request"] - c["bare"]["cpu_ms_per_request"] for c in single]
        vs_c = [
            c["http"]["cpu_ms_per_request"] - c["instructor"]["cpu_ms_per_request"] for c in single
        ]
        line = (
            f"- At 1 in flight newsbrief spends {_span(extra)} ms more CPU per request than (b), "
            f"and from {min(vs_c):+.1f} to {max(vs_c):+.1f} ms against instructor: its own HTTP "
            "server, request validation, grounding, number and link checks, and two JSON log "
            "lines per request."
        )
        if half := _cell(cells, 0.5, 1):
            share = (half["http"]["cpu_ms_per_request"] - half["bare"]["cpu_ms_per_request"]) / 500
            line += f" At 500 ms upstream that is {share:.1%} of the latency."
        notes.append(line)
    return "\n".join(notes)


def write(res: dict[str, Any], out: Path, doc: Path, *, replot: bool = True) -> list[Path]:
    png = out / "latency-throughput.png"
    if replot:
        plot(res, png)
    m = res["machine"]
    target_rows = "\n".join(
        f"| {name} | {value} | {'met' if ok else '**missed**'} |"
        for name, value, ok in targets(res)
    )
    long_rows = "\n".join(
        f"| {r['chars']:,} | {r['p50_ms']:.1f} | {r['prompt_tokens']:,} |" for r in res["long"]
    )
    rel_png = png.relative_to(doc.parent) if png.is_relative_to(doc.parent) else png
    extra = [res["target_200_at_1s"], res["in_flight_1000_at_2s"]]
    every = res["grid"] + [c for c in extra if c not in res["grid"]]
    complete = [c for c in every if all(k in c for k in KINDS)]  # ratios need all three
    short = "This is the short run: fewer cells, fewer requests." if res["quick"] else ""
    command = res.get("command") or ("make bench" if res["quick"] else "make bench-full")
    when = res.get("scale_generated_at")
    scale_when = f"(These rows: `make bench-scale`, {when}.)" if when else ""
    stored_when = res.get("store_generated_at")
    store_when = f"(These rows: `make bench-store`, {stored_when}.)" if stored_when else ""
    text = f"""# Benchmarks

What newsbrief adds on top of the LLM call, measured side by side in one run against the floor
any client of this API pays: (b) a bare `AsyncOpenAI` client with a precomputed strict schema and
`model_validate_json`. (a) is newsbrief over HTTP (uvicorn, one worker, as `newsbrief serve` runs
it, INFO logging on), driven by wrk (a C load generator, so the load itself does not take the
service's CPU; its latency percentiles are wrk's); (c) is instructor (`Mode.JSON_SCHEMA`) doing
the same extraction. All three ask the same prompt about the same article and get the same
answer from the project's fake OpenAI-compatible server, whose latency is set per cell; for (a),
wrk ends each request's article with a line of its own ("Ref. <id>-<n>."), so nothing newsbrief
reads once per article and keeps for that request's claims is reused by the next request, as with
real traffic (only the cache-hit row sends one article unchanged). Ratios
are against (b); for latency and CPU lower is better, for throughput higher is better. {short}

Generated {res["generated_at"]} by `{command}` in {res["bench_s"]:.0f} s.

## Machine

{m["cpu"]}, {m["cores"]} cores, {m["memory_gib"]} GiB, Linux {m["kernel"]}, Python {m["python"]};
openai {m["openai"]}, httpx {m["httpx"]}, fastapi {m["fastapi"]}, uvicorn {m["uvicorn"]},
pydantic {m["pydantic"]}; instructor {m["instructor"]} in its own virtualenv (it cannot share one
with the openai release newsbrief uses). The fake LLM, the service and the client each run in a
process of their own, all on these {m["cores"]} cores. CPU per request is the CPU time of the
process that talks to the LLM and validates the answer: the service for (a), the client for (b)
and (c). Each cell starts with 3 untimed warm-up calls.

## Targets

| target | measured | |
| --- | --- | --- |
{target_rows}

## Reading these numbers

{reading(complete, m["cores"])}
- The hot path: newsbrief builds the upstream body's fixed parts (model, response format,
  schema) and the SDK's headers (auth, user agent, platform, as bytes) once per client, and sends
  the body as orjson bytes straight to the SDK's httpx client's transport, so neither the SDK's
  per-call type-driven transformation of the parameters nor its request building runs, nor the
  client's auth, redirect and cookie layers; a 4xx/5xx still becomes the SDK's error class. The
  transport under the httpx client is aiohttp's (a C HTTP parser on asyncio streams, about a
  third of httpcore's CPU a call), and it sends a request's head and body in one write. Each
  claim is grounded once; a short article's text steps run on the event loop, a long one's in a
  worker thread; the response goes out as the model's JSON, validated once.
  The schema's text in the prompt is built once per client ((b) does the same); a call's first
  attempt runs outside tenacity, which only a fault enters; metric label children are looked up
  once and the breaker gauge written only when it changes; summary lines with no digit and no
  scale word skip the number check's tokeniser, and the article's figures are first read from its
  digits alone. The route watches for a client that disconnects with one task beside its own; log
  records skip the caller lookup.

## Hot path and workers

{scale_section(res["scale"], m["cores"]) if "scale" in res else "Not measured in this run."}
{scale_when}

### Where the CPU goes

{breakdown_section(res["breakdown"]) if "breakdown" in res else "Not measured yet."}

## The store on the hot path

{store_section(res["store"], m["cores"]) if "store" in res else "Not measured in this run."}
{store_when}

## Ratios against (b)

{grid_tables(complete)}

![p50 latency and throughput against requests in flight]({rel_png})

## Long articles

Upstream latency 0, one request at a time (median of 5 after a warm-up), the eval set's long
article repeated to size; tokens are what the fake LLM reports (about 4 characters a token).
Service time grows with the text: prompt rendering, JSON handling, and grounding, which
normalises the article once per request and searches it once per claim.

| article chars | newsbrief p50 ms | prompt tokens |
| --- | --- | --- |
{long_rows}

Articles over `NEWSBRIEF_MAX_ARTICLE_CHARS` (default 100,000 characters, about 25,000 tokens)
are refused with 413 `article-too-long`, naming the limit and the length, before any LLM call.
That is the chosen behaviour rather than map→reduce chunking: the hosted models newsbrief is
built for take 25k tokens in one call, one call lets every claim's evidence be searched in the
whole text, and the limit is a setting: raise it for a larger context (this benchmark ran at
250,000), lower it for a small local model. Chunking remains possible if a deployment needs
small-context models and long articles together.

## All measurements

{absolute_table(every)}

## Rerun

```sh
make bench        # short run, a few minutes: writes build/bench/
make bench-full   # the full grid (about 15 minutes): rewrites this file and its plot
make bench-scale  # only the hot-path and workers rows (about 4 minutes), into this file
make bench-breakdown  # where the CPU goes, before and after (about 4 minutes), into this file
make bench-store  # only the store rows (about 25 minutes), into this file
```

Both install the plotting and instructor environments from hash-pinned locks
(`requirements/bench-*.lock`) first. The raw numbers are in `results.json` beside the plot.
A benchmark is not a test: nothing here is asserted in `make test`.
"""
    doc.write_text(text)
    return [png, doc]


if __name__ == "__main__":
    # Re-render the prose and tables from saved results (no rerun, the plot kept as it is):
    #     python benchmarks/report.py docs/benchmarks/results.json docs/BENCHMARKS.md
    import json
    import sys

    results_path, doc_path = map(Path, sys.argv[1:3])
    saved = json.loads(results_path.read_text())
    for written in write(saved, results_path.parent, doc_path, replot=False):
        print(f"wrote {written}")
