"""Access control, rate limits and injection containment."""

from __future__ import annotations

import json
from collections.abc import Iterator

import httpx
import pytest
import respx
from fastapi.testclient import TestClient

from newsbrief_dev.fake_llm import answer, completion
from service.api import create_app
from service.api.security import key_matches
from service.settings import Settings
from tests.conftest import ARTICLES

ARTICLE = (ARTICLES / "ferry-levy.txt").read_text(encoding="utf-8")
BODY = {"article": {"text": ARTICLE}}


@pytest.fixture
def guarded() -> Iterator[TestClient]:
    settings = Settings(api_keys="key-one-0123456789,key-two-9876543210", rate_limit_per_minute=3)
    with TestClient(create_app(settings), raise_server_exceptions=False) as client:
        yield client


def test_v1_needs_a_key_and_health_does_not(guarded: TestClient) -> None:
    for path in ("/healthz", "/readyz"):
        assert guarded.get(path).status_code == 200
    missing = guarded.post("/v1/summaries", json=BODY)
    assert missing.status_code == 401
    assert missing.headers["content-type"] == "application/problem+json"
    assert missing.headers["www-authenticate"].startswith("Bearer")
    assert missing.json()["type"].endswith("/unauthorized")
    assert guarded.get("/v1/prompts").status_code == 401
    wrong = guarded.post("/v1/summaries", json=BODY, headers={"x-api-key": "key-one-012345678"})
    assert wrong.status_code == 401


@pytest.mark.parametrize(
    "headers",
    [
        {"authorization": "Bearer key-one-0123456789"},
        {"authorization": "bearer key-two-9876543210"},
        {"x-api-key": "key-two-9876543210"},
    ],
)
def test_either_header_carries_a_key(guarded: TestClient, headers: dict[str, str]) -> None:
    assert guarded.post("/v1/summaries", json=BODY, headers=headers).status_code == 200


def test_keys_are_compared_in_full() -> None:
    keys = ("alpha-secret", "beta-secret")
    assert key_matches("beta-secret", keys)
    assert not key_matches("beta-secre", keys) and not key_matches("", keys)
    assert not key_matches("beta-secret ", keys)


def test_rate_limit_is_per_key(guarded: TestClient) -> None:
    one = {"x-api-key": "key-one-0123456789"}
    two = {"x-api-key": "key-two-9876543210"}
    statuses = [guarded.post("/v1/summaries", json=BODY, headers=one).status_code for _ in range(4)]
    assert statuses == [200, 200, 200, 429]
    limited = guarded.post("/v1/summaries", json=BODY, headers=one)
    assert limited.json()["type"].endswith("/rate-limited")
    assert 1 <= int(limited.headers["retry-after"]) <= 20
    assert guarded.post("/v1/summaries", json=BODY, headers=two).status_code == 200


@pytest.fixture
def upstream(settings: Settings, llm_mock: respx.MockRouter) -> respx.Route:
    return llm_mock.post("/chat/completions")


def post_through(settings: Settings) -> httpx.Response:
    with TestClient(create_app(settings), raise_server_exceptions=False) as client:
        return client.post("/v1/summaries", json=BODY)


def test_an_upstream_that_obeys_injections_leaks_nothing(
    settings: Settings, upstream: respx.Route
) -> None:
    """Links, a tracking image, an invented quote: the schema lets the strings through, and the
    service takes them out again."""
    upstream.respond(200, json=completion(answer(ARTICLE, "obey_injection")))
    response = post_through(settings)
    assert response.status_code == 200
    body = response.json()
    dumped = json.dumps(body)
    assert "evil.example" not in json.dumps(body["summary"]) and "![" not in dumped
    assert "A Spokesperson" not in [c["holder"] for c in body["claims"]]
    codes = [w["code"] for w in body["warnings"]]
    assert codes.count("link_removed") == 2 and "claim_dropped_ungrounded" in codes
    for c in body["claims"]:
        assert ARTICLE[c["evidence"]["start"] : c["evidence"]["end"]] == c["evidence"]["text"]
    for call in upstream.calls:
        sent = json.loads(call.request.content)
        assert "tools" not in sent and "functions" not in sent and "tool_choice" not in sent


@pytest.mark.parametrize("kind", ["extra_keys", "huge"])
def test_answers_outside_the_schema_never_reach_the_client(
    settings: Settings, upstream: respx.Route, kind: str
) -> None:
    upstream.respond(200, json=completion(answer(ARTICLE, kind)))
    response = post_through(settings)
    assert response.status_code == 502
    assert response.json()["type"].endswith("/llm-invalid-output")
    assert "evil.example" not in response.text and "breaking breaking" not in response.text
    assert upstream.call_count == 1 + settings.llm_max_reasks
