"""The whole service as operators run it: `newsbrief serve` talking to the project's fake LLM.

Both run as subprocesses on loopback; nothing leaves the machine.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from tests.conftest import ARTICLES
from tests.support import fake_llm, service

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def stack() -> Iterator[dict[str, str]]:
    with (
        fake_llm() as fake,
        service(
            llm_base_url=f"{fake}/v1", llm_model="fake-model", llm_backoff_initial_s="0.01"
        ) as api,
    ):
        yield {"fake": fake, "api": api}


def summarize(stack: dict[str, str], text: str) -> dict[str, Any]:
    response = httpx.post(
        f"{stack['api']}/v1/summaries", json={"article": {"text": text}}, timeout=30
    )
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


def test_llm_path_returns_claims_with_correct_offsets(stack: dict[str, str]) -> None:
    text = (ARTICLES / "ferry-levy.txt").read_text(encoding="utf-8")
    body = summarize(stack, text)
    assert body["engine"] == "llm" and body["model"] == "fake-model"
    assert body["prompt"]["version"] == "v1" and body["usage"]["llm_calls"] == 1
    assert len(body["claims"]) >= 5
    for claim in body["claims"]:
        ev = claim["evidence"]
        assert text[ev["start"] : ev["end"]] == ev["text"]


def test_fabricated_evidence_from_the_llm_never_reaches_the_client(stack: dict[str, str]) -> None:
    httpx.post(f"{stack['fake']}/_fake/faults", json=[{"kind": "fabricated_evidence"}] * 2)
    text = (ARTICLES / "school-merger.txt").read_text(encoding="utf-8")
    body = summarize(stack, text)
    assert body["usage"]["reasks"] == 1
    assert "A Spokesperson" not in [c["holder"] for c in body["claims"]]
    assert [w["code"] for w in body["warnings"]] == ["claim_dropped_ungrounded"]


def test_transient_upstream_faults_are_retried(stack: dict[str, str]) -> None:
    faults = [{"kind": "status", "status": 503}, {"kind": "status", "status": 429}]
    httpx.post(f"{stack['fake']}/_fake/faults", json=faults)
    text = (ARTICLES / "ferry-levy.txt").read_text(encoding="utf-8") + "\nRetry test.\n"
    body = summarize(stack, text)  # an article of its own: no cached answer to reuse
    assert body["usage"]["retries"] == 2 and body["usage"]["llm_calls"] == 3
