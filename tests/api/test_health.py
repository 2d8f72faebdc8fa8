"""Probes, the prompt listing and the OpenAPI document."""

from __future__ import annotations

import logging
import re
from collections.abc import Iterator
from contextlib import contextmanager

import pytest
import respx
from fastapi.testclient import TestClient

from service.api import create_app
from service.settings import Settings


def test_healthz(offline_client: TestClient) -> None:
    assert offline_client.get("/healthz").json() == {"status": "ok"}


def test_readyz_says_which_engine_answers(offline_client: TestClient, client: TestClient) -> None:
    offline = offline_client.get("/readyz").json()
    assert offline["status"] == "ready" and offline["engine"] == "extractive"
    assert offline["store"] == {"state": "off"}  # these test apps run with NEWSBRIEF_STORE=off
    online = client.get("/readyz").json()
    assert online["engine"] == "llm" and online["model"] == "test-model"
    assert online["default_prompt"] == "summarize@v1"


def test_prompts_lists_versions_with_hashes(offline_client: TestClient) -> None:
    listed = offline_client.get("/v1/prompts").json()
    assert [(p["name"], p["version"], p["default"]) for p in listed] == [
        ("summarize", "v1", True),
        ("summarize", "v2", False),
    ]
    assert all(len(p["sha256"]) == 64 for p in listed)


def test_openapi_documents_the_api(offline_client: TestClient) -> None:
    spec = offline_client.get("/openapi.json").json()
    post = spec["paths"]["/v1/summaries"]["post"]
    assert {"200", "404", "413", "422", "502", "503", "504"} <= set(post["responses"])
    assert offline_client.get("/docs").status_code == 200


@pytest.mark.parametrize("page", ["/docs", "/redoc"])
def test_docs_pages_and_their_assets_are_served_locally(
    offline_client: TestClient, page: str
) -> None:
    html = offline_client.get(page).text
    assets = re.findall(r"""(?:src|href)=["']([^"']+)["']""", html)
    assert assets and all(a.startswith("/") for a in assets), assets  # none from another host
    for asset in assets:
        response = offline_client.get(asset)
        assert response.status_code == 200 and len(response.content) > 0, asset


def test_readyz_reports_an_empty_cache_as_on_and_a_disabled_one_as_off(
    offline_client: TestClient,
) -> None:
    assert offline_client.get("/readyz").json()["cache"] == {
        "state": "on",
        "entries": 0,
        "hits": 0,
        "misses": 0,
    }
    with TestClient(create_app(Settings(cache_size=0, store="off"))) as no_cache:
        assert no_cache.get("/readyz").json()["cache"] == {"state": "off"}


@contextmanager
def open_circuit(
    settings: Settings, llm_mock: respx.MockRouter, **extra: object
) -> Iterator[TestClient]:
    """A service whose first upstream failure opened the circuit for ten minutes."""
    llm_mock.post("/chat/completions").respond(503, json={"error": {"message": "overloaded"}})
    fragile = settings.model_copy(
        update={"breaker_failures": 1, "llm_max_attempts": 1, "breaker_cooldown_s": 600} | extra
    )
    with TestClient(create_app(fragile), raise_server_exceptions=False) as client:
        assert client.post("/v1/summaries", json={"article": {"text": "A short note."}}).is_error
        yield client


def test_readyz_is_not_ready_while_the_circuit_is_open(
    settings: Settings, llm_mock: respx.MockRouter
) -> None:
    with open_circuit(settings, llm_mock) as client:
        response = client.get("/readyz")
    assert response.status_code == 503
    body = response.json()
    assert body["status"] == "not ready" and body["breaker"]["state"] == "open"
    assert "circuit is open" in body["reason"]
    assert "UpstreamUnavailableError: the LLM answered HTTP 503" in body["reason"]
    assert 590 < body["breaker"]["probe_in_s"] <= 600


def test_readyz_stays_ready_when_an_open_circuit_falls_back_to_extractive(
    settings: Settings, llm_mock: respx.MockRouter
) -> None:
    with open_circuit(settings, llm_mock, breaker_fallback="extractive") as client:
        response = client.get("/readyz")
    assert response.status_code == 200
    assert response.json()["breaker"]["state"] == "open"


def test_start_up_says_what_answers_and_never_the_key(
    settings: Settings, llm_mock: respx.MockRouter, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="service.api.app")
    with TestClient(create_app(settings)):
        pass
    [line] = [r for r in caplog.records if r.getMessage().startswith("newsbrief starting")]
    said = line.getMessage()
    for fact in (
        "engine=llm",
        "model=test-model",
        "upstream_host=llm.test",
        "provider=openai",
        "default_prompt=summarize@v1",
        "max_article_chars=100000",
        "request_deadline_s=10",
    ):
        assert fact in said
    assert vars(line)["upstream_host"] == "llm.test"  # also a field of the JSON line
    assert "test-key-not-real" not in said and "test-key-not-real" not in str(vars(line))


def test_start_up_shows_no_password_from_the_base_url(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="service.api.app")
    with TestClient(
        create_app(Settings(llm_base_url="http://bob:hunter2@llm.test:8443/v1", store="off"))
    ):
        pass
    [line] = [r for r in caplog.records if r.getMessage().startswith("newsbrief starting")]
    assert "upstream_host=llm.test:8443" in line.getMessage()
    assert "hunter2" not in str(vars(line)) and "bob" not in str(vars(line))
