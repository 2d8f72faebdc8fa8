"""SIGTERM with requests in flight, and what the logs may and may not contain."""

from __future__ import annotations

import asyncio
import json
import signal
import tempfile
import time

import httpx
import pytest

from tests.conftest import ARTICLES
from tests.support import clean_env, fake_llm, free_port, start

pytestmark = pytest.mark.reliability
ARTICLE = (ARTICLES / "ferry-levy.txt").read_text(encoding="utf-8")


def test_sigterm_lets_20_requests_in_flight_finish_then_exits_0(
    capsys: pytest.CaptureFixture[str],
) -> None:
    with fake_llm(latency_s=1.5) as fake:
        port = free_port()
        env = clean_env(NEWSBRIEF_LLM_BASE_URL=f"{fake}/v1", NEWSBRIEF_SHUTDOWN_GRACE_S="10")
        proc = start(["serve", "--port", str(port)], env, f"http://127.0.0.1:{port}/healthz")

        async def twenty() -> tuple[list[httpx.Response], float]:
            async with httpx.AsyncClient(timeout=20) as client:
                tasks = [
                    asyncio.ensure_future(
                        client.post(
                            f"http://127.0.0.1:{port}/v1/summaries",
                            json={"article": {"text": f"{ARTICLE}\nCopy {i}."}},
                        )
                    )
                    for i in range(20)
                ]
                while (await client.get(f"{fake}/_fake/stats")).json()["in_flight"] < 20:  # noqa: ASYNC110
                    await asyncio.sleep(0.05)  # polling another process: no Event to wait on
                proc.send_signal(signal.SIGTERM)
                signalled = time.monotonic()
                responses = await asyncio.gather(*tasks)
                return responses, signalled

        responses, signalled = asyncio.run(twenty())
        code = proc.wait(timeout=15)
        exited = time.monotonic() - signalled
    with capsys.disabled():
        print(
            f"\nSIGTERM with 20 in flight: {[r.status_code for r in responses].count(200)} "
            f"completed with 200, exit code {code}, {exited:.2f} s after the signal"
        )
    assert [r.status_code for r in responses] == [200] * 20
    assert code == 0 and exited < 10


def test_logs_are_json_with_request_ids_and_no_secrets_or_article_text() -> None:
    canaries = {
        "llm key": "sk-canary-llm-7c1f0e9a2b",
        "client key": "client-canary-5d83a1f4e6",
        "article": "CANARYARTICLETEXT9431",
    }
    text = f"{ARTICLE}\n“This canary quote {canaries['article']} matters,” Dai Pritchard said."
    with fake_llm() as fake, tempfile.TemporaryFile() as log:
        port = free_port()
        env = clean_env(
            NEWSBRIEF_LLM_BASE_URL=f"{fake}/v1",
            NEWSBRIEF_LLM_API_KEY=canaries["llm key"],
            NEWSBRIEF_API_KEYS=canaries["client key"],
            NEWSBRIEF_LOG_LEVEL="DEBUG",
            OPENAI_LOG="debug",  # the SDK at DEBUG too: older releases logged request bodies
            NEWSBRIEF_LLM_BACKOFF_INITIAL_S="0.01",
        )
        url = f"http://127.0.0.1:{port}"
        proc = start(["serve", "--port", str(port)], env, f"{url}/healthz", log)
        try:
            key = {"authorization": f"Bearer {canaries['client key']}"}
            ok = httpx.post(f"{url}/v1/summaries", json={"article": {"text": text}}, headers=key)
            httpx.post(f"{fake}/_fake/faults", json=[{"kind": "status", "status": 503}])
            retried = httpx.post(
                f"{url}/v1/summaries", json={"article": {"text": text}}, headers=key
            )
            denied = httpx.post(
                f"{url}/v1/summaries",
                json={"article": {"text": text}},
                headers={"x-api-key": "wrong-" + canaries["client key"]},
            )
            invalid = httpx.post(
                f"{url}/v1/summaries", json={"article": {"text": " "}}, headers=key
            )
        finally:
            proc.send_signal(signal.SIGTERM)
            proc.wait(timeout=10)
        log.seek(0)
        lines = log.read().decode().splitlines()
    assert (ok.status_code, retried.status_code, denied.status_code, invalid.status_code) == (
        200,
        200,
        401,
        422,
    )
    assert canaries["article"] in ok.text  # the canary was in what the service processed
    records = [json.loads(line) for line in lines]  # every line is one JSON object
    assert len(records) > 10 and any(r["level"] == "DEBUG" for r in records)
    for name, canary in canaries.items():
        assert sum(canary in line for line in lines) == 0, f"{name} canary leaked into the logs"
    in_requests = [
        r for r in records if r["logger"] in ("uvicorn.access", "service.api.routes.summaries")
    ]
    assert len(in_requests) >= 4 and all(r["request_id"] != "-" for r in in_requests)
    ids = {r["request_id"] for r in in_requests}
    assert ok.headers["x-request-id"] in ids and retried.headers["x-request-id"] in ids
