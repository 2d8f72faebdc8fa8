"""The provider-shape corpus once more, end to end: the fake LLM serves each raw shape to a real
`newsbrief serve` process over loopback. Same outcomes as in-process, and never a 500.

How a body is read does not depend on the provider profile (only what is sent does), so one
service with the default profile answers every shape.
"""

from __future__ import annotations

import asyncio
import json
import tempfile
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from tests.conftest import ARTICLES
from tests.provider_shapes import SHAPES, Answer, Shape
from tests.support import fake_llm, service

pytestmark = pytest.mark.reliability

ATTEMPTS = 3
ARTICLE = (ARTICLES / "ferry-levy.txt").read_text(encoding="utf-8")
SETTINGS = {
    "llm_max_attempts": str(ATTEMPTS),
    "llm_backoff_initial_s": "0.01",
    "llm_backoff_max_s": "0.02",
    "request_deadline_s": "10",
    "breaker_failures": "100000",  # every shape must reach the upstream
}


LOG = tempfile.TemporaryFile()  # noqa: SIM115 - read after the run, closed with the module


@pytest.fixture(scope="module")
def stack() -> Iterator[tuple[str, str]]:
    with fake_llm() as fake, service(LOG, llm_base_url=f"{fake}/v1", **SETTINGS) as api:
        yield fake, api


def scripted(answer: Answer) -> dict[str, Any]:
    fault: dict[str, Any] = {"kind": "raw", "status": answer.status, "headers": answer.headers}
    if isinstance(answer.body, bytes):
        return fault | {"body": answer.body.decode()}
    return fault | {"json": answer.body}


async def run(fake: str, api: str, n: int, shape: Shape) -> tuple[Shape, httpx.Response]:
    marker = f"<shape-{n}>"
    # The last answer repeats, as in the in-process test: enough copies for every attempt.
    answers = [*shape.answers, *[shape.answers[-1]] * ATTEMPTS]
    async with httpx.AsyncClient(timeout=20) as client:
        script = {"when": marker, "faults": [scripted(a) for a in answers]}
        await client.post(f"{fake}/_fake/faults", json=script)
        text = f"{ARTICLE}\nReference: {marker}.\n"
        return shape, await client.post(f"{api}/v1/summaries", json={"article": {"text": text}})


def test_every_shape_through_the_served_app(stack: tuple[str, str]) -> None:
    fake, api = stack

    async def all_shapes() -> list[tuple[Shape, httpx.Response]]:
        return await asyncio.gather(*(run(fake, api, n, s) for n, s in enumerate(SHAPES)))

    wrong = {}
    for shape, response in asyncio.run(all_shapes()):
        got = "200" if response.status_code == 200 else response.json()["type"].rsplit("/", 1)[1]
        if got != shape.expect or response.status_code == 500:
            wrong[f"{shape.provider}: {shape.name}"] = f"{response.status_code} {got}"
    assert not wrong, json.dumps(wrong, indent=1)


def test_failed_attempts_are_logged_with_request_ids_and_without_article_or_key(
    stack: tuple[str, str],
) -> None:
    """Runs after the corpus: its failures are in the log, the article's words are not."""
    LOG.seek(0)
    lines = [json.loads(line) for line in LOG.read().decode().splitlines() if line.startswith("{")]
    failed = [e for e in lines if e["message"] == "LLM attempt failed"]
    assert len(failed) >= len([s for s in SHAPES if s.expect != "200"])
    assert all(e["level"] == "WARNING" and e["request_id"] != "-" and e["reason"] for e in failed)
    text = "\n".join(json.dumps(e, ensure_ascii=False) for e in lines)
    for canary in ("Ms. Okafor told reporters", "Port Aldine", "WXYZ", "org-fict0nal"):
        assert canary not in text
