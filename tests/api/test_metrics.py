"""GET /metrics after a mix of requests: each series counts what happened, with bounded labels."""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Iterator
from dataclasses import replace
from types import SimpleNamespace
from typing import Any

import httpx
import pytest
import respx
from fastapi.testclient import TestClient
from prometheus_client.parser import text_string_to_metric_families
from pydantic import SecretStr

from service.api import create_app
from service.settings import Settings
from tests.conftest import GOOD_EVIDENCE, brief_json, claim, completion_json

MODEL_PROMPT = {"model": "test-model", "prompt": "summarize@v1"}
UNGROUNDED = "“This sentence appears nowhere in the article at all,” she said."


class Scrape:
    """One /metrics answer, parsed with prometheus_client's own parser."""

    def __init__(self, text: str) -> None:
        self.text = text
        self.values: dict[tuple[str, frozenset[tuple[str, str]]], float] = {}
        for family in text_string_to_metric_families(text):
            for s in family.samples:
                self.values[(s.name, frozenset(s.labels.items()))] = s.value

    def __call__(self, name: str, **labels: str) -> float:
        return self.values.get((name, frozenset(labels.items())), 0.0)

    def labels(self, name: str, key: str) -> set[str]:
        return {dict(lbl)[key] for n, lbl in self.values if n == name and key in dict(lbl)}


def scenario_upstream(request: httpx.Request, plans: dict[str, list[httpx.Response]]) -> Any:
    """The fake LLM: the marker in the article says how it answers this call."""
    sent = request.content.decode()
    for marker, answers in plans.items():
        if f"[{marker}]" in sent:
            return answers.pop(0) if len(answers) > 1 else answers[0]
    raise AssertionError("a request without a scenario marker")


@pytest.fixture
def mixed(
    settings: Settings, llm_mock: respx.MockRouter, article: str
) -> Iterator[tuple[TestClient, list[dict[str, Any]]]]:
    """20 requests: 8 answered, 2 cache hits, a reask, a retry, a dropped claim, 2 upstream
    503s, 4 invalid bodies and one unknown path. Yields the client and the answered bodies."""
    good = httpx.Response(200, json=completion_json(brief_json([claim(GOOD_EVIDENCE)])))
    half = httpx.Response(200, json=completion_json('{"summary": {"headline": '))
    two = brief_json([claim(GOOD_EVIDENCE), claim(UNGROUNDED, holder="Ines Marr")])
    plans = {
        "ok": [good],
        "reask": [half, good],
        "retry": [httpx.Response(500, json={"error": {"message": "boom"}}), good],
        "drop": [httpx.Response(200, json=completion_json(two))],
        "down": [httpx.Response(503, json={"error": {"message": "overloaded"}})],
    }
    llm_mock.post("/chat/completions").mock(side_effect=lambda r: scenario_upstream(r, plans))
    answered: list[dict[str, Any]] = []
    with TestClient(create_app(settings), raise_server_exceptions=False) as client:

        def post(marker: str, n: int = 0, expect: int = 200) -> None:
            text = f"{article}\n\nFiled under note {n} [{marker}]."
            response = client.post("/v1/summaries", json={"article": {"text": text}})
            assert response.status_code == expect, response.text
            if expect == 200:
                answered.append(response.json())

        for n in range(8):
            post("ok", n)
        post("ok", 0)  # the same article twice more: answered from the cache
        post("ok", 0)
        post("reask")
        post("retry")
        post("drop")
        post("down", 1, expect=503)
        post("down", 2, expect=503)
        for _ in range(4):
            assert client.post("/v1/summaries", json={"text": "no article"}).status_code == 422
        assert client.get("/no/such/path/4f2a9c").status_code == 404
        yield client, answered


def test_twenty_mixed_requests_are_counted_in_every_series(
    mixed: tuple[TestClient, list[dict[str, Any]]],
) -> None:
    client, answered = mixed
    response = client.get("/metrics")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain")
    m = Scrape(response.text)

    summaries = {"route": "/v1/summaries", "method": "POST"}
    assert m("newsbrief_http_requests_total", **summaries, status="200") == 13
    assert m("newsbrief_http_requests_total", **summaries, status="503") == 2
    assert m("newsbrief_http_requests_total", **summaries, status="422") == 4
    assert m("newsbrief_http_requests_total", route="unmatched", method="GET", status="404") == 1
    assert m("newsbrief_http_request_duration_seconds_count", **summaries) == 19
    assert m("newsbrief_http_request_duration_seconds_bucket", **summaries, le="+Inf") == 19
    assert m("newsbrief_http_requests_in_flight") == 1  # this scrape

    # 8 + reask 2 + retry 2 + drop 2 (one reask for the ungrounded claim) + 2 × 3 attempts down
    assert m("newsbrief_llm_calls_total", **MODEL_PROMPT) == 20
    assert m("newsbrief_llm_retries_total", **MODEL_PROMPT) == 1 + 2 * 2
    assert m("newsbrief_llm_reasks_total", **MODEL_PROMPT) == 2
    answers_with_usage = 8 + 2 + 1 + 2  # 200s from the upstream, 120 + 80 tokens each
    assert (
        m("newsbrief_llm_tokens_total", **MODEL_PROMPT, kind="prompt") == 120 * answers_with_usage
    )
    assert m("newsbrief_llm_tokens_total", **MODEL_PROMPT, kind="completion") == 80 * 13
    unavailable = {"model": "test-model", "error": "UpstreamUnavailableError"}
    assert m("newsbrief_llm_failures_total", **unavailable) == 1 + 2 * 3
    assert m("newsbrief_llm_calls_in_flight") == 0
    assert m("newsbrief_errors_total", type="llm-unavailable") == 2
    assert m("newsbrief_llm_breaker_state", state="closed") == 1
    assert m("newsbrief_llm_breaker_state", state="open") == 0

    assert m("newsbrief_claims_returned_total") == 13 == sum(len(b["claims"]) for b in answered)
    assert m("newsbrief_claims_dropped_total", reason="claim_dropped_ungrounded") == 1
    codes = Counter(w["code"] for b in answered for w in b["warnings"])
    assert codes["claim_dropped_ungrounded"] == 1
    for code, count in codes.items():
        assert m("newsbrief_response_warnings_total", code=code) == count
    assert m("newsbrief_cache_lookups_total", result="hit") == 2
    assert m("newsbrief_cache_lookups_total", result="miss") == 11


def test_labels_stay_bounded(mixed: tuple[TestClient, list[dict[str, Any]]]) -> None:
    client, answered = mixed
    m = Scrape(client.get("/metrics").text)
    assert m.labels("newsbrief_http_requests_total", "route") == {"/v1/summaries", "unmatched"}
    assert "4f2a9c" not in m.text and "Filed under" not in m.text
    # Each loaded prompt has its LLM series from the start, at 0 until used.
    assert m.labels("newsbrief_llm_retries_total", "prompt") == {"summarize@v1", "summarize@v2"}
    assert m("newsbrief_llm_retries_total", model="test-model", prompt="summarize@v2") == 0
    assert not any(b["id"] in m.text for b in answered)
    assert client.request("BREW", "/v1/summaries").status_code == 405
    m = Scrape(client.get("/metrics").text)
    assert m("newsbrief_http_requests_total", route="/v1/summaries", method="other", status="405")


def test_a_body_refused_before_routing_keeps_its_route(
    settings: Settings, llm_mock: respx.MockRouter
) -> None:
    small = settings.model_copy(update={"max_body_bytes": 1024})
    with TestClient(create_app(small), raise_server_exceptions=False) as client:
        big = {"article": {"text": "x" * 5000}}
        assert client.post("/v1/summaries", content=json.dumps(big)).status_code == 413
        m = Scrape(client.get("/metrics").text)
    assert m("newsbrief_http_requests_total", route="/v1/summaries", method="POST", status="413")


def test_an_open_circuit_shows_in_the_breaker_gauge(
    settings: Settings, llm_mock: respx.MockRouter, article: str
) -> None:
    llm_mock.post("/chat/completions").respond(503, json={"error": {"message": "down"}})
    fragile = settings.model_copy(update={"breaker_failures": 1, "llm_max_attempts": 1})
    with TestClient(create_app(fragile), raise_server_exceptions=False) as client:
        assert client.post("/v1/summaries", json={"article": {"text": article}}).status_code == 503
        assert client.post("/v1/summaries", json={"article": {"text": article}}).status_code == 503
        m = Scrape(client.get("/metrics").text)
    assert m("newsbrief_llm_breaker_state", state="open") == 1
    assert m("newsbrief_llm_breaker_state", state="closed") == 0
    assert m("newsbrief_errors_total", type="llm-unavailable") == 1
    assert m("newsbrief_errors_total", type="llm-circuit-open") == 1


def test_metrics_need_a_key_when_keys_are_set(settings: Settings, llm_mock: object) -> None:
    keyed = settings.model_copy(update={"api_keys": (SecretStr("k-one-for-tests"),)})
    with TestClient(create_app(keyed), raise_server_exceptions=False) as client:
        assert client.get("/metrics").status_code == 401
        ok = client.get("/metrics", headers={"Authorization": "Bearer k-one-for-tests"})
        assert ok.status_code == 200 and "newsbrief_http_requests_total" in ok.text
    public = keyed.model_copy(update={"metrics_public": True})
    with TestClient(create_app(public), raise_server_exceptions=False) as client:
        assert client.get("/metrics").status_code == 200
        assert client.get("/v1/prompts").status_code == 401  # only /metrics is opened


def test_each_app_counts_on_its_own(offline_client: TestClient) -> None:
    offline_client.get("/healthz")
    with TestClient(create_app(Settings(store="off"))) as other:
        m = Scrape(other.get("/metrics").text)
    assert m("newsbrief_http_requests_total", route="/healthz", method="GET", status="200") == 0


def test_redis_errors_are_read_from_the_link_at_each_scrape(offline_client: TestClient) -> None:
    services = offline_client.app.state.services
    link = SimpleNamespace(errors=4)  # the shared-state link counts its own failures
    offline_client.app.state.services = replace(services, redis=link)
    assert Scrape(offline_client.get("/metrics").text)("newsbrief_redis_errors_total") == 4
    link.errors = 6
    assert Scrape(offline_client.get("/metrics").text)("newsbrief_redis_errors_total") == 6
