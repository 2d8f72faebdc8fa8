"""Probes, the prompt listing and the OpenAPI document."""

from __future__ import annotations

import re

import pytest
from fastapi.testclient import TestClient


def test_healthz(offline_client: TestClient) -> None:
    assert offline_client.get("/healthz").json() == {"status": "ok"}


def test_readyz_says_which_engine_answers(offline_client: TestClient, client: TestClient) -> None:
    offline = offline_client.get("/readyz").json()
    assert offline["status"] == "ready" and offline["engine"] == "extractive"
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
