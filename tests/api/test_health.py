"""Probes, the prompt listing and the OpenAPI document."""

from __future__ import annotations

import re

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


def test_docs_page_and_its_assets_are_served_locally(offline_client: TestClient) -> None:
    page = offline_client.get("/docs").text
    assets = re.findall(r"""(?:src|href)=["']([^"']+)["']""", page)
    assert assets and all(a.startswith("/docs/assets/") for a in assets), assets
    assert "cdn" not in page.lower()
    for asset in assets:
        response = offline_client.get(asset)
        assert response.status_code == 200 and len(response.content) > 0, asset
    assert offline_client.get("/redoc").status_code == 404  # its page would need a CDN
