"""POST /v1/summaries through the real app, with the LLM mocked at the HTTP level."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Callable
from typing import Any

import httpx
import pytest
import respx
from fastapi.testclient import TestClient

from service.api import create_app
from service.settings import Settings
from tests.conftest import GOOD_EVIDENCE, brief_json, claim

Completion = Callable[..., dict[str, Any]]
INVENTED = "“We back this plan without any reservation,” the mayor said."


def post(client: TestClient, text: str, **extra: Any) -> httpx.Response:
    return client.post("/v1/summaries", json={"article": {"text": text}, **extra})


def assert_grounded(body: dict[str, Any], text: str) -> None:
    """The product's promise: every returned claim's evidence is exactly text[start:end]."""
    for c in body["claims"]:
        ev = c["evidence"]
        assert text[ev["start"] : ev["end"]] == ev["text"], c


def test_the_response_is_serialised_once_not_validated_again(
    client: TestClient,
    llm_mock: respx.MockRouter,
    completion: Completion,
    article: str,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The hot path: the pipeline's model goes out as its JSON; FastAPI's response step (a second
    validation, then the dump) never runs."""
    import fastapi.routing

    async def serialize(*args: Any, **kwargs: Any) -> Any:
        raise AssertionError("FastAPI serialised the response")

    monkeypatch.setattr(fastapi.routing, "serialize_response", serialize)
    llm_mock.post("/chat/completions").respond(
        200, json=completion(brief_json([claim(GOOD_EVIDENCE)]))
    )
    response = post(client, article)
    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == "application/json"
    assert response.json()["claims"][0]["evidence"]["text"] == GOOD_EVIDENCE


def test_happy_path_returns_grounded_claims_with_offsets(
    client: TestClient, llm_mock: respx.MockRouter, completion: Completion, article: str
) -> None:
    straight = GOOD_EVIDENCE.replace("“", '"').replace("”", '"')  # the model straightened quotes
    answer = brief_json([claim(straight)])
    route = llm_mock.post("/chat/completions").respond(200, json=completion(answer))
    response = post(client, article, options={"max_bullets": 3, "max_claims": 5})
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["engine"] == "llm" and body["model"] == "test-model"
    assert body["prompt"]["name"] == "summarize" and body["prompt"]["version"] == "v1"
    assert len(body["prompt"]["sha256"]) == 64 and body["article"]["chars"] == len(article)
    [only] = body["claims"]
    assert only["evidence"]["text"] == GOOD_EVIDENCE  # the article's own characters come back
    assert only["evidence"]["start"] == article.index(GOOD_EVIDENCE)
    assert_grounded(body, article)
    assert body["warnings"] == []
    assert body["usage"] == {
        "llm_calls": 1,
        "prompt_tokens": 120,
        "completion_tokens": 80,
        "total_tokens": 200,
        "reasks": 0,
        "retries": 0,
    }
    sent = json.loads(route.calls.last.request.content)
    assert article in sent["messages"][1]["content"]
    assert "at most 3" in sent["messages"][0]["content"]


def test_invalid_json_is_reasked_with_the_exact_error(
    client: TestClient, llm_mock: respx.MockRouter, completion: Completion, article: str
) -> None:
    route = llm_mock.post("/chat/completions")
    route.side_effect = [
        httpx.Response(200, json=completion('{"summary": {"headline": ')),
        httpx.Response(200, json=completion(brief_json([claim(GOOD_EVIDENCE)]))),
    ]
    body = post(client, article).json()
    assert body["usage"]["llm_calls"] == 2 and body["usage"]["reasks"] == 1
    assert len(body["claims"]) == 1
    reask = json.loads(route.calls[1].request.content)["messages"]
    assert reask[-2] == {"role": "assistant", "content": '{"summary": {"headline": '}
    assert "Invalid JSON" in reask[-1]["content"]


def test_schema_violation_is_reasked_naming_the_field(
    client: TestClient, llm_mock: respx.MockRouter, completion: Completion, article: str
) -> None:
    route = llm_mock.post("/chat/completions")
    route.side_effect = [
        httpx.Response(200, json=completion(brief_json([claim(GOOD_EVIDENCE, stance="angry")]))),
        httpx.Response(200, json=completion(brief_json([claim(GOOD_EVIDENCE)]))),
    ]
    assert post(client, article).json()["usage"]["reasks"] == 1
    assert (
        "claims.0.stance" in json.loads(route.calls[1].request.content)["messages"][-1]["content"]
    )


def test_invented_evidence_is_reasked_then_dropped_with_a_warning(
    client: TestClient, llm_mock: respx.MockRouter, completion: Completion, article: str
) -> None:
    answer = brief_json([claim(GOOD_EVIDENCE), claim(INVENTED, holder="Tomas Reyes")])
    route = llm_mock.post("/chat/completions").respond(200, json=completion(answer))
    body = post(client, article).json()
    assert route.call_count == 2  # one grounding reask, then the claim is dropped
    assert (
        "not in the article verbatim"
        in json.loads(route.calls[1].request.content)["messages"][-1]["content"]
    )
    assert [c["holder"] for c in body["claims"]] == ["Helen Okafor"]
    assert [w["code"] for w in body["warnings"]] == ["claim_dropped_ungrounded"]
    assert "Tomas Reyes" in body["warnings"][0]["detail"]
    assert INVENTED not in json.dumps(body["claims"])
    assert_grounded(body, article)


def test_invented_evidence_fixed_on_reask_is_returned(
    client: TestClient, llm_mock: respx.MockRouter, completion: Completion, article: str
) -> None:
    fixed = "“We are asking the people with the fewest choices to pay the most,” she said."
    route = llm_mock.post("/chat/completions")
    route.side_effect = [
        httpx.Response(200, json=completion(brief_json([claim(INVENTED)]))),
        httpx.Response(200, json=completion(brief_json([claim(fixed, holder="Priya Natarajan")]))),
    ]
    body = post(client, article).json()
    assert [c["holder"] for c in body["claims"]] == ["Priya Natarajan"]
    assert body["warnings"] == [] and body["usage"]["reasks"] == 1
    assert_grounded(body, article)


def test_length_cut_answer_is_reasked(
    client: TestClient, llm_mock: respx.MockRouter, completion: Completion, article: str
) -> None:
    route = llm_mock.post("/chat/completions")
    route.side_effect = [
        httpx.Response(200, json=completion('{"summary"', finish_reason="length")),
        httpx.Response(200, json=completion(brief_json([]))),
    ]
    body = post(client, article).json()
    assert body["usage"]["reasks"] == 1
    assert "token limit" in json.loads(route.calls[1].request.content)["messages"][-1]["content"]


@pytest.mark.parametrize(
    ("reply", "slug"),
    [
        pytest.param(
            {"content": None, "refusal": "I can't help with that."}, "llm-refusal", id="refusal"
        ),
        pytest.param(
            {"content": None, "finish_reason": "content_filter"},
            "llm-content-filter",
            id="content-filter",
        ),
    ],
)
def test_refusal_is_a_typed_502_and_not_retried(
    client: TestClient,
    llm_mock: respx.MockRouter,
    completion: Completion,
    article: str,
    reply: dict[str, Any],
    slug: str,
) -> None:
    route = llm_mock.post("/chat/completions").respond(200, json=completion(**reply))
    response = post(client, article)
    assert response.status_code == 502
    assert response.json()["type"].endswith("/" + slug) and route.call_count == 1


def test_output_still_invalid_after_reasks_is_502_with_the_errors(
    client: TestClient, llm_mock: respx.MockRouter, completion: Completion, article: str
) -> None:
    route = llm_mock.post("/chat/completions").respond(200, json=completion("not json"))
    response = post(client, article)
    assert response.status_code == 502
    problem = response.json()
    assert problem["type"].endswith("/llm-invalid-output")
    assert problem["attempts"] == 3 and route.call_count == 3  # 1 + llm_max_reasks
    assert any("Invalid JSON" in e for e in problem["errors"])


def test_empty_choices_are_reasked(
    client: TestClient, llm_mock: respx.MockRouter, completion: Completion, article: str
) -> None:
    route = llm_mock.post("/chat/completions")
    route.side_effect = [
        httpx.Response(200, json={**completion(None), "choices": []}),
        httpx.Response(200, json=completion(brief_json([]))),
    ]
    assert post(client, article).json()["usage"]["reasks"] == 1
    assert "empty" in json.loads(route.calls[1].request.content)["messages"][-1]["content"]


@pytest.mark.slow  # waits out a real one-second Retry-After; the test below is its quick half
def test_upstream_down_is_503_with_retry_after_within_the_deadline(
    settings: Settings, llm_mock: respx.MockRouter, article: str
) -> None:
    """The service waits out Retry-After once, then stops because a second wait would overrun."""
    sent_at: list[float] = []

    def unavailable(request: httpx.Request) -> httpx.Response:
        sent_at.append(time.monotonic())
        return httpx.Response(503, headers={"retry-after": "1"})

    llm_mock.post("/chat/completions").mock(side_effect=unavailable)
    tight = settings.model_copy(update={"request_deadline_s": 1.6})
    with TestClient(create_app(tight), raise_server_exceptions=False) as client:
        response = post(client, article)
    assert response.status_code == 503 and len(sent_at) == 2
    assert sent_at[1] - sent_at[0] >= 1.0  # Retry-After honoured
    assert response.headers["retry-after"] == "1"
    assert response.headers["content-type"] == "application/problem+json"
    assert response.json()["type"].endswith("/llm-unavailable")


def test_a_retry_after_past_the_deadline_is_503_at_once(
    settings: Settings, llm_mock: respx.MockRouter, article: str
) -> None:
    """The request's deadline reaches the retry planner: a wait it cannot afford is not begun."""
    route = llm_mock.post("/chat/completions").respond(503, headers={"retry-after": "5"})
    tight = settings.model_copy(update={"request_deadline_s": 2})
    with TestClient(create_app(tight), raise_server_exceptions=False) as client:
        response = post(client, article)
    # A begun wait would run into the deadline: a 504 two seconds later.
    assert response.status_code == 503 and route.call_count == 1
    assert response.headers["retry-after"] == "5"
    assert response.json()["type"].endswith("/llm-unavailable")


def test_connection_refused_is_503_with_a_default_retry_after(
    client: TestClient, llm_mock: respx.MockRouter, article: str
) -> None:
    llm_mock.post("/chat/completions").mock(side_effect=httpx.ConnectError("refused"))
    response = post(client, article)
    assert response.status_code == 503 and int(response.headers["retry-after"]) >= 1


def test_spent_quota_is_503_without_retrying(
    client: TestClient, llm_mock: respx.MockRouter, article: str
) -> None:
    body = {
        "error": {"message": "quota", "type": "insufficient_quota", "code": "insufficient_quota"}
    }
    route = llm_mock.post("/chat/completions").respond(429, json=body)
    response = post(client, article)
    assert response.status_code == 503 and route.call_count == 1
    assert response.json()["type"].endswith("/llm-quota-exhausted")


def test_upstream_auth_failure_is_502(
    client: TestClient, llm_mock: respx.MockRouter, article: str
) -> None:
    llm_mock.post("/chat/completions").respond(401, json={"error": {"message": "bad key"}})
    response = post(client, article)
    assert response.status_code == 502
    assert response.json()["type"].endswith("/llm-rejected-request")
    assert "test-key-not-real" not in response.text


def test_deadline_is_504(settings: Settings, llm_mock: respx.MockRouter, article: str) -> None:
    async def hang(request: httpx.Request) -> httpx.Response:
        await asyncio.sleep(5)
        return httpx.Response(500)

    llm_mock.post("/chat/completions").mock(side_effect=hang)
    quick = settings.model_copy(update={"request_deadline_s": 0.3})
    with TestClient(create_app(quick), raise_server_exceptions=False) as client:
        response = post(client, article)
    assert response.status_code == 504
    assert response.json()["type"].endswith("/deadline-exceeded")


def test_limits_are_applied_with_warnings(
    client: TestClient, llm_mock: respx.MockRouter, completion: Completion, article: str
) -> None:
    two = "“We are asking the people with the fewest choices to pay the most,” she said."
    answer = brief_json(
        [claim(GOOD_EVIDENCE), claim(two, holder="Priya Natarajan")],
        bullets=["a", "b", "c"],
        lede="The levy will raise £3.2 million from 2027.",
    )
    llm_mock.post("/chat/completions").respond(200, json=completion(answer))
    body = post(client, article, options={"max_bullets": 2, "max_claims": 1}).json()
    assert len(body["claims"]) == 1 and len(body["summary"]["bullets"]) == 2
    codes = [w["code"] for w in body["warnings"]]
    assert codes == [
        "claim_dropped_limit",
        "bullets_truncated",
        "unsupported_number",
        "unsupported_number",
    ]
    assert "'3.2 million'" in body["warnings"][2]["detail"]
    assert "'2027'" in body["warnings"][3]["detail"]


def test_a_pinned_prompt_version_is_used(
    client: TestClient, llm_mock: respx.MockRouter, completion: Completion, article: str
) -> None:
    llm_mock.post("/chat/completions").respond(200, json=completion(brief_json([])))
    body = post(client, article, prompt_version="v1").json()
    assert body["prompt"]["version"] == "v1"


def test_an_identical_request_is_answered_from_the_cache(
    client: TestClient, llm_mock: respx.MockRouter, completion: Completion, article: str
) -> None:
    route = llm_mock.post("/chat/completions").respond(
        200, json=completion(brief_json([claim(GOOD_EVIDENCE)]))
    )
    first = post(client, article).json()
    again = post(client, article).json()
    assert route.call_count == 1
    assert (first["cached"], again["cached"]) == (False, True)
    assert again["usage"]["llm_calls"] == 0 and again["id"] != first["id"]
    assert again["claims"] == first["claims"] and again["summary"] == first["summary"]
    other_options = post(client, article, options={"max_bullets": 2}).json()
    assert other_options["cached"] is False and route.call_count == 2
    assert client.get("/readyz").json()["cache"] == {
        "state": "on",
        "entries": 2,
        "hits": 1,
        "misses": 2,
    }


def test_the_cache_can_be_turned_off(
    settings: Settings, llm_mock: respx.MockRouter, completion: Completion, article: str
) -> None:
    route = llm_mock.post("/chat/completions").respond(200, json=completion(brief_json([])))
    with TestClient(create_app(settings.model_copy(update={"cache_size": 0}))) as client:
        assert [post(client, article).json()["cached"] for _ in range(2)] == [False, False]
    assert route.call_count == 2
