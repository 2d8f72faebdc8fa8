"""Every client mistake is a clear 4xx problem+json, never a 500."""

from __future__ import annotations

from typing import Any

import pytest
from fastapi.testclient import TestClient

from service import errors
from service.api import create_app
from service.api.problems import PROBLEMS
from service.settings import Settings


@pytest.mark.parametrize(
    ("body", "status", "slug", "mentions"),
    [
        pytest.param({}, 422, "invalid-body", "article", id="no-article"),
        pytest.param({"article": {}}, 422, "invalid-body", "text", id="no-text"),
        pytest.param({"article": {"text": ""}}, 422, "invalid-body", "empty", id="empty-text"),
        pytest.param(
            {"article": {"text": " \n\t "}}, 422, "invalid-body", "whitespace", id="blank"
        ),
        pytest.param(
            {"article": {"text": 12}}, 422, "invalid-body", "string", id="text-not-string"
        ),
        pytest.param(
            {"article": {"text": "x", "colour": 1}},
            422,
            "invalid-body",
            "colour",
            id="unknown-field",
        ),
        pytest.param(
            {"article": {"text": "x"}, "options": {"max_bullets": 0}},
            422,
            "invalid-body",
            "max_bullets",
            id="bullets-out-of-range",
        ),
        pytest.param(
            {"article": {"text": "x" * 501}}, 413, "article-too-long", "500", id="too-long"
        ),
        pytest.param(
            {"article": {"text": "x"}, "prompt_version": "v404"},
            404,
            "unknown-prompt",
            "v404",
            id="unknown-prompt",
        ),
        pytest.param(
            {"article": {"text": "x", "published_at": "yesterday"}},
            422,
            "invalid-body",
            "published_at",
            id="bad-date",
        ),
    ],
)
def test_bad_requests_get_problem_json(
    body: dict[str, Any], status: int, slug: str, mentions: str
) -> None:
    app = create_app(Settings(max_article_chars=500, store="off"))
    with TestClient(app, raise_server_exceptions=False) as client:
        response = client.post("/v1/summaries", json=body)
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == "application/problem+json"
    problem = response.json()
    assert problem["type"] == f"https://newsbrief.dev/problems/{slug}"
    assert problem["status"] == status and problem["title"]
    assert mentions in problem["detail"]


@pytest.mark.parametrize(
    ("raw", "content_type", "status", "slug", "mentions"),
    [
        pytest.param(
            b"{not json", "application/json", 400, "malformed-body", "character 1", id="malformed"
        ),
        pytest.param(
            b'{"article": {"text": "x"},}',
            "application/json; charset=utf-8",
            400,
            "malformed-body",
            "not valid JSON",
            id="trailing-comma",
        ),
        pytest.param(
            b"plain text",
            "text/plain",
            415,
            "unsupported-media-type",
            "Content-Type: application/json",
            id="wrong-content-type",
        ),
        pytest.param(
            b'{"article": {"text": "Valid JSON, wrong type."}}',
            "application/x-www-form-urlencoded",
            415,
            "unsupported-media-type",
            "x-www-form-urlencoded",
            id="curl-default-content-type",
        ),
        pytest.param(b"[1, 2]", "application/json", 422, "invalid-body", "dictionary", id="array"),
        pytest.param(
            b'{"article": {"text": "\\ud800 lone surrogate"}}',
            "application/json",
            422,
            "invalid-body",
            "surrogate",
            id="surrogate",
        ),
    ],
)
def test_unparseable_bodies_are_4xx(
    offline_client: TestClient,
    raw: bytes,
    content_type: str,
    status: int,
    slug: str,
    mentions: str,
) -> None:
    response = offline_client.post(
        "/v1/summaries", content=raw, headers={"content-type": content_type}
    )
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == "application/problem+json"
    assert response.json()["type"].endswith("/" + slug)
    assert mentions in response.json()["detail"]


def test_unknown_route_and_wrong_method(offline_client: TestClient) -> None:
    missing = offline_client.get("/v1/nothing")
    assert missing.status_code == 404 and missing.json()["type"].endswith("/not-found")
    wrong = offline_client.put("/v1/summaries")
    assert wrong.status_code == 405 and wrong.json()["type"].endswith("/method-not-allowed")


def test_every_error_the_api_can_raise_has_its_own_problem_entry() -> None:
    def subclasses(cls: type) -> list[type]:
        return [cls, *(s for sub in cls.__subclasses__() for s in subclasses(sub))]

    roots = (
        errors.RequestError,
        errors.UpstreamError,
        errors.DeadlineExceededError,
        errors.RateLimitUnavailableError,
    )
    ours = [c for root in roots for c in subclasses(root)]
    assert len(ours) >= 10
    assert [c.__name__ for c in ours if c not in PROBLEMS] == []
    slugs = [slug for _, slug, _ in PROBLEMS.values()]
    assert len(slugs) == len(set(slugs)), "problem types must be distinct and stable"
