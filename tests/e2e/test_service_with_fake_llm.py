"""The whole service as operators run it: `newsbrief serve` talking to the project's fake LLM.

Both run as subprocesses on loopback; nothing leaves the machine.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from tests.conftest import ARTICLES

pytestmark = pytest.mark.e2e


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def start(args: list[str], env: dict[str, str], ready_url: str) -> subprocess.Popen[bytes]:
    proc = subprocess.Popen(
        [sys.executable, "-m", "service", *args],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(proc.stderr.read().decode() if proc.stderr else "exited")
        try:
            if httpx.get(ready_url, timeout=0.5).status_code == 200:
                return proc
        except httpx.TransportError:
            time.sleep(0.1)
    proc.kill()
    raise TimeoutError(f"{args[0]} did not get ready")


@pytest.fixture(scope="module")
def stack() -> Iterator[dict[str, str]]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("NEWSBRIEF_", "OPENAI_"))}
    fake_port, api_port = free_port(), free_port()
    fake_url = f"http://127.0.0.1:{fake_port}"
    fake = start(["fake-llm", "--port", str(fake_port)], env, f"{fake_url}/_fake/stats")
    service_env = env | {
        "NEWSBRIEF_LLM_BASE_URL": f"{fake_url}/v1",
        "NEWSBRIEF_LLM_MODEL": "fake-model",
        "NEWSBRIEF_LLM_BACKOFF_INITIAL_S": "0.01",
    }
    api_url = f"http://127.0.0.1:{api_port}"
    api = start(["serve", "--port", str(api_port)], service_env, f"{api_url}/readyz")
    try:
        yield {"fake": fake_url, "api": api_url}
    finally:
        for proc in (api, fake):
            proc.terminate()
            proc.wait(timeout=10)


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
    body = summarize(stack, (ARTICLES / "ferry-levy.txt").read_text(encoding="utf-8"))
    assert body["usage"]["retries"] == 2 and body["usage"]["llm_calls"] == 3
