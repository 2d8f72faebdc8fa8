"""The fault matrix: every kind of upstream failure, 20 runs each, through the real service.

Each run must end in a 200 or a clean problem+json 502/503/504 within the request deadline plus
one second, honour Retry-After, and never return evidence that is not in the article. The matrix
is printed and written to build/reliability/fault-matrix.md (docs/RELIABILITY.md quotes it).
"""

from __future__ import annotations

import asyncio
import itertools
import json
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.conftest import ARTICLES
from tests.support import fake_llm, free_port, service

pytestmark = pytest.mark.reliability

RUNS = 20
DEADLINE_S = 3.0
SETTINGS = {
    "llm_attempt_timeout_s": "1",
    "llm_max_attempts": "3",
    "llm_backoff_initial_s": "0.05",
    "llm_backoff_max_s": "0.2",
    "llm_max_reasks": "2",
    "request_deadline_s": str(DEADLINE_S),
    "breaker_failures": "100000",  # the breaker has its own test; here every run reaches upstream
}


def status(http_status: int, **extra: Any) -> dict[str, Any]:
    return {"kind": "status", "status": http_status, **extra}


# kind → (the fault, how many times in a row run i gets it: None = 1 + i % 4)
FAULTS: dict[str, tuple[dict[str, Any], int | None]] = {
    "429 + Retry-After": (status(429, headers={"retry-after": "1"}), None),
    "429 insufficient_quota": (status(429, code="insufficient_quota"), 1),
    "500": (status(500), None),
    "502": (status(502), None),
    "503": (status(503), None),
    "connection reset mid-body": ({"kind": "reset"}, None),
    "hang (no bytes)": ({"kind": "hang"}, None),
    "slow trickle": ({"kind": "trickle"}, 1),
    "invalid JSON": ({"kind": "invalid_json"}, None),
    "fabricated evidence": ({"kind": "fabricated_evidence"}, None),
    "finish_reason length": ({"kind": "length"}, None),
    "refusal": ({"kind": "refusal"}, 1),
    "empty choices": ({"kind": "empty_choices"}, None),
    "401 from upstream": (status(401), 1),
}
ARTICLE = (ARTICLES / "ferry-levy.txt").read_text(encoding="utf-8")


@pytest.fixture(scope="module")
def stack() -> Iterator[dict[str, str]]:
    with fake_llm() as fake, service(llm_base_url=f"{fake}/v1", **SETTINGS) as api:
        closed = f"http://127.0.0.1:{free_port()}/v1"  # nothing listens here
        with service(llm_base_url=closed, **SETTINGS) as refused:
            yield {"fake": fake, "api": api, "refused": refused}


async def one_run(client: httpx.AsyncClient, api: str, marker: str) -> dict[str, Any]:
    text = f"{ARTICLE}\nReference: {marker}.\n"
    started = time.monotonic()
    response = await client.post(f"{api}/v1/summaries", json={"article": {"text": text}})
    wall = time.monotonic() - started
    body = response.json() if response.content else {}
    return {
        "status": response.status_code,
        "wall": wall,
        "body": body,
        "text": text,
        "headers": dict(response.headers),
    }


def check(run: dict[str, Any]) -> list[str]:
    """What is wrong with one run's outcome, if anything."""
    problems = []
    if run["status"] not in (200, 502, 503, 504):
        problems.append(f"status {run['status']}")
    if run["wall"] > DEADLINE_S + 1:
        problems.append(f"took {run['wall']:.2f} s")
    if run["status"] == 200:
        for claim in run["body"]["claims"]:
            ev = claim["evidence"]
            if run["text"][ev["start"] : ev["end"]] != ev["text"]:
                problems.append("returned ungrounded evidence")
            if claim["holder"] == "A Spokesperson":
                problems.append("returned the fabricated claim")
    else:
        if run["headers"].get("content-type") != "application/problem+json":
            problems.append("error is not problem+json")
        quota = run["body"].get("type", "").endswith("/llm-quota-exhausted")
        if run["status"] == 503 and "retry-after" not in run["headers"] and not quota:
            problems.append("503 without Retry-After")  # a spent quota has no retry time
    return problems


async def matrix(stack: dict[str, str]) -> dict[str, dict[str, Any]]:
    results: dict[str, dict[str, Any]] = {}
    limits = httpx.Limits(max_connections=100)
    async with httpx.AsyncClient(timeout=DEADLINE_S + 5, limits=limits) as client:
        for n, (kind, (fault, repeats)) in enumerate(FAULTS.items()):
            markers = [f"<run-{n}-{i}>" for i in range(RUNS)]
            for i, marker in enumerate(markers):
                times = repeats or 1 + i % 4
                script = {"when": marker, "faults": [fault] * times}
                await client.post(f"{stack['fake']}/_fake/faults", json=script)
            runs = await asyncio.gather(*(one_run(client, stack["api"], m) for m in markers))
            gaps = []
            if kind.startswith("429 + Retry-After"):
                for marker in markers:
                    seen = (
                        await client.get(
                            f"{stack['fake']}/_fake/arrivals", params={"marker": marker}
                        )
                    ).json()
                    gaps += [b - a for a, b in itertools.pairwise(seen)]
            results[kind] = {"runs": runs, "gaps": gaps}
        refused = [await one_run(client, stack["refused"], f"<refused-{i}>") for i in range(RUNS)]
        results["connection refused"] = {"runs": refused, "gaps": []}
    return results


def render(results: dict[str, dict[str, Any]]) -> str:
    lines = [
        f"| fault ({RUNS} runs each) | 200 | 502 | 503 | 504 | other | max wall s | notes |",
        "| --- | --- | --- | --- | --- | --- | --- | --- |",
    ]
    for kind, result in results.items():
        runs = result["runs"]
        counts = Counter(r["status"] for r in runs)
        other = sum(v for k, v in counts.items() if k not in (200, 502, 503, 504))
        notes = []
        if result["gaps"]:
            notes.append(f"min gap after Retry-After 1 s: {min(result['gaps']):.2f} s")
        dropped = sum(
            any(w["code"] == "claim_dropped_ungrounded" for w in r["body"].get("warnings", []))
            for r in runs
            if r["status"] == 200
        )
        if dropped:
            notes.append(f"{dropped} answers with an ungrounded claim dropped")
        lines.append(
            f"| {kind} | {counts[200]} | {counts[502]} | {counts[503]} | {counts[504]} | {other} "
            f"| {max(r['wall'] for r in runs):.2f} | {'; '.join(notes)} |"
        )
    return "\n".join(lines)


def test_fault_matrix(stack: dict[str, str], capsys: pytest.CaptureFixture[str]) -> None:
    results = asyncio.run(matrix(stack))
    table = render(results)
    out = Path(__file__).resolve().parents[2] / "build" / "reliability"
    out.mkdir(parents=True, exist_ok=True)
    (out / "fault-matrix.md").write_text(table + "\n")
    with capsys.disabled():
        print("\n" + table)
    failures = {
        kind: problems
        for kind, result in results.items()
        for run in result["runs"]
        if (problems := check(run))
    }
    assert not failures, json.dumps(failures, indent=1)
    for kind, result in results.items():
        assert len(result["runs"]) == RUNS, kind
    assert min(results["429 + Retry-After"]["gaps"]) >= 1.0  # Retry-After honoured
    # Transient faults that clear within the attempts succeed; the rest fail cleanly.
    assert Counter(r["status"] for r in results["503"]["runs"]) == {200: 10, 503: 10}
    assert {r["status"] for r in results["connection refused"]["runs"]} == {503}
    assert {r["status"] for r in results["slow trickle"]["runs"]} == {504}
    assert {r["status"] for r in results["refusal"]["runs"]} == {502}
