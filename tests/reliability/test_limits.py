"""Abuse and limits: generated requests, body and article limits, odd text, the upstream cap,
client disconnects, and the circuit breaker."""

from __future__ import annotations

import asyncio
import time
from collections import Counter
from collections.abc import AsyncIterator, Iterator

import httpx
import pytest
import respx
import schemathesis
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, given, settings
from schemathesis import GenerationMode

from service.api import create_app
from service.settings import Settings
from tests.conftest import ARTICLES, GOOD_EVIDENCE, brief_json, claim, completion_json
from tests.support import fake_llm, service

pytestmark = pytest.mark.reliability
ARTICLE = (ARTICLES / "ferry-levy.txt").read_text(encoding="utf-8")


def test_1000_generated_requests_cause_no_server_error(capsys: pytest.CaptureFixture[str]) -> None:
    """schemathesis, in-process: valid bodies are answered, invalid ones get a 4xx, never a 5xx,
    and every response matches the OpenAPI document."""
    app = create_app(Settings(max_article_chars=10_000_000))
    schema = schemathesis.openapi.from_asgi("/openapi.json", app)
    operation = schema["/v1/summaries"]["POST"]
    cases = operation.as_strategy(generation_mode=GenerationMode.POSITIVE) | operation.as_strategy(
        generation_mode=GenerationMode.NEGATIVE
    )
    seen: Counter[int] = Counter()

    @given(case=cases)
    @settings(
        max_examples=1100,
        derandomize=True,  # the same 1,100 requests every CI run: a failure is reproducible
        deadline=None,
        database=None,
        suppress_health_check=list(HealthCheck),
    )
    def call(case: schemathesis.Case) -> None:
        response = case.call()
        seen[response.status_code] += 1
        case.validate_response(response)
        assert response.status_code < 500

    call()
    with capsys.disabled():
        print(
            f"\nschemathesis: {sum(seen.values())} requests, statuses {dict(sorted(seen.items()))}"
        )
    assert sum(seen.values()) >= 1000
    assert seen[200] > 0 and sum(n for s, n in seen.items() if 400 <= s < 500) > 0


@pytest.fixture(scope="module")
def capped() -> Iterator[dict[str, str]]:
    with (
        fake_llm(latency_s=0.5) as fake,
        service(
            llm_base_url=f"{fake}/v1",
            llm_max_concurrency="10",
            llm_queue_timeout_s="1",
            request_deadline_s="10",
            max_body_bytes="20000",
            breaker_failures="100000",
        ) as api,
    ):
        yield {"fake": fake, "api": api}


def test_a_chunked_body_over_the_limit_is_413_before_any_upstream_call(
    capped: dict[str, str],
) -> None:
    async def chunks() -> AsyncIterator[bytes]:
        yield b'{"article": {"text": "'
        for _ in range(100):
            yield b"x" * 1000  # 100 KB, streamed without a Content-Length
        yield b'"}}'

    async def send() -> httpx.Response:
        async with httpx.AsyncClient() as client:
            return await client.post(
                f"{capped['api']}/v1/summaries",
                content=chunks(),
                headers={"content-type": "application/json"},
            )

    before = httpx.get(f"{capped['fake']}/_fake/stats").json()["requests"]
    response = asyncio.run(send())
    assert response.status_code == 413
    assert response.json()["type"].endswith("/body-too-large")
    declared = httpx.post(
        f"{capped['api']}/v1/summaries",
        content=b"{}" + b" " * 30_000,
        headers={"content-type": "application/json"},
    )
    assert declared.status_code == 413
    assert httpx.get(f"{capped['fake']}/_fake/stats").json()["requests"] == before


@pytest.mark.parametrize(
    "text",
    [
        pytest.param(
            "Nul\x00 byte in the middle. “Quote here with words,” Ann Lee said.", id="nul"
        ),
        pytest.param(
            "\u202bRTL mark\u202c and \u200fthe rest. “A quote of four words,” Bo Ek said.",
            id="rtl",
        ),
        pytest.param(
            "Emoji 🎉🚀 and family 👨‍👩‍👧. “We are so very pleased,” Cy Do said.", id="emoji"
        ),
        pytest.param(
            "Zero\u200bwidth and combining e\u0301. “Words that are quoted here,” Di Fo said.",
            id="zw",
        ),
    ],
)
def test_odd_text_is_answered_and_grounded(offline_client: TestClient, text: str) -> None:
    response = offline_client.post("/v1/summaries", json={"article": {"text": text}})
    assert response.status_code == 200, response.text
    for c in response.json()["claims"]:
        assert text[c["evidence"]["start"] : c["evidence"]["end"]] == c["evidence"]["text"]


def test_one_megabyte_line_is_refused_cleanly(offline_client: TestClient) -> None:
    response = offline_client.post("/v1/summaries", json={"article": {"text": "word " * 200_000}})
    assert response.status_code == 413
    assert response.json()["type"].endswith("/article-too-long")


def test_200_clients_never_put_more_than_the_cap_upstream(
    capped: dict[str, str], capsys: pytest.CaptureFixture[str]
) -> None:
    httpx.post(f"{capped['fake']}/_fake/reset")

    async def burst() -> list[httpx.Response]:
        limits = httpx.Limits(max_connections=250)
        async with httpx.AsyncClient(timeout=30, limits=limits) as client:
            return await asyncio.gather(
                *(
                    client.post(
                        f"{capped['api']}/v1/summaries",
                        json={"article": {"text": f"{ARTICLE}\nRequest {i}."}},
                    )
                    for i in range(200)
                )
            )

    started = time.monotonic()
    responses = asyncio.run(burst())
    wall = time.monotonic() - started
    stats = httpx.get(f"{capped['fake']}/_fake/stats").json()
    outcomes = Counter(r.status_code for r in responses)
    with capsys.disabled():
        print(
            f"\n200 clients, cap 10: {dict(outcomes)}, upstream max in flight "
            f"{stats['max_in_flight']}, {wall:.1f} s"
        )
    assert stats["max_in_flight"] <= 10
    assert set(outcomes) <= {200, 503} and outcomes[200] >= 10
    for r in responses:
        if r.status_code == 503:
            assert r.json()["type"].endswith("/llm-capacity") and r.headers["retry-after"]


def test_a_client_that_disconnects_cancels_the_upstream_call(capped: dict[str, str]) -> None:
    httpx.post(f"{capped['fake']}/_fake/latency", json={"seconds": 5})
    httpx.post(f"{capped['fake']}/_fake/reset")
    try:
        with pytest.raises(httpx.ReadTimeout):
            httpx.post(
                f"{capped['api']}/v1/summaries",
                json={"article": {"text": ARTICLE}},
                timeout=httpx.Timeout(5, read=0.5),
            )
        deadline = time.monotonic() + 3
        stats = httpx.get(f"{capped['fake']}/_fake/stats").json()
        while time.monotonic() < deadline and stats["abandoned"] < 1:
            time.sleep(0.1)
            stats = httpx.get(f"{capped['fake']}/_fake/stats").json()
        assert stats["requests"] == 1 and stats["abandoned"] == 1 and stats["in_flight"] == 0
    finally:
        httpx.post(f"{capped['fake']}/_fake/latency", json={"seconds": 0.5})


def breaker_settings(**extra: object) -> Settings:
    return Settings(
        llm_base_url="http://llm.test/v1",
        llm_api_key="test-key-not-real",
        llm_max_attempts=1,
        breaker_failures=3,
        breaker_cooldown_s=0.5,
        **extra,  # type: ignore[arg-type]
    )


def test_circuit_breaker_opens_fails_fast_then_recovers(llm_mock: respx.MockRouter) -> None:
    route = llm_mock.post("/chat/completions").respond(503)
    body = {"article": {"text": ARTICLE}}
    with TestClient(create_app(breaker_settings()), raise_server_exceptions=False) as client:
        failing = [client.post("/v1/summaries", json=body) for _ in range(3)]
        assert [r.json()["type"].rsplit("/", 1)[1] for r in failing] == ["llm-unavailable"] * 3
        calls = route.call_count
        started = time.monotonic()
        fast = [client.post("/v1/summaries", json=body) for _ in range(5)]
        assert time.monotonic() - started < 1
        assert {r.json()["type"].rsplit("/", 1)[1] for r in fast} == {"llm-circuit-open"}
        assert all(int(r.headers["retry-after"]) >= 1 for r in fast)
        assert route.call_count == calls  # no upstream calls while open
        assert client.get("/readyz").status_code == 503  # a balancer stops sending traffic
        time.sleep(0.6)
        assert client.get("/readyz").json()["breaker"]["state"] == "half-open"
        route.respond(200, json=completion_json(brief_json([claim(GOOD_EVIDENCE)])))
        probe = client.post("/v1/summaries", json=body)
        assert probe.status_code == 200 and route.call_count == calls + 1
        assert client.post("/v1/summaries", json=body).status_code == 200  # closed again
        ready = client.get("/readyz")
        assert ready.status_code == 200 and ready.json()["breaker"]["state"] == "closed"


def test_an_open_circuit_can_fall_back_to_the_extractive_engine(
    llm_mock: respx.MockRouter,
) -> None:
    llm_mock.post("/chat/completions").respond(503)
    app = create_app(breaker_settings(breaker_fallback="extractive"))
    with TestClient(app, raise_server_exceptions=False) as client:
        for _ in range(3):
            client.post("/v1/summaries", json={"article": {"text": ARTICLE}})
        degraded = client.post("/v1/summaries", json={"article": {"text": ARTICLE}})
    assert degraded.status_code == 200
    body = degraded.json()
    assert (
        body["engine"] == "extractive" and body["warnings"][0]["code"] == "llm_unavailable_degraded"
    )
    # Grounded like any extractive answer: every claim's evidence is the article at its offsets.
    claims = body["claims"]
    assert claims
    for c in claims:
        assert ARTICLE[c["evidence"]["start"] : c["evidence"]["end"]] == c["evidence"]["text"]
