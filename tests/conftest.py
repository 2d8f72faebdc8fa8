"""Shared fixtures: settings for a fake upstream, real OpenAI response JSON, the app, articles."""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import respx
from fastapi.testclient import TestClient
from hypothesis import settings as hypothesis_settings

from service.api import create_app
from service.settings import Settings
from tests.built_once import built_once

# make check runs the property tests on fewer examples, to stay a seconds-long loop; make test
# (CI) keeps hypothesis's default. A test with its own @settings keeps its own count.
hypothesis_settings.register_profile("check", max_examples=20)
hypothesis_settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "default"))

# The throwaway PostgreSQL server (postgres_url, fresh_postgres_url) for the store's tests.
pytest_plugins = ["tests.pg_server"]

ARTICLES = Path(__file__).parent / "fixtures" / "articles"
LLM_BASE = "http://llm.test/v1"
CHAT_URL = LLM_BASE + "/chat/completions"


@pytest.fixture(scope="session", autouse=True)
def _build_pure_parts_once() -> Iterator[None]:
    with built_once():
        yield


def _drop_ambient_variables(patch: pytest.MonkeyPatch) -> None:
    for name in list(os.environ):
        if name.startswith(("NEWSBRIEF_", "OPENAI_")):
            patch.delenv(name)


@pytest.fixture(autouse=True)
def _no_ambient_config(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """Tests never see the machine's LLM settings, nor a .env in the working directory."""
    _drop_ambient_variables(monkeypatch)
    monkeypatch.chdir(tmp_path)


@pytest.fixture
def article() -> str:
    return (ARTICLES / "ferry-levy.txt").read_text(encoding="utf-8")


@pytest.fixture(scope="session")
def _llm_settings(tmp_path_factory: pytest.TempPathFactory) -> Settings:
    # Built once, out of sight of the same things as each test: pydantic-settings looks up each
    # of ~50 fields in the environment and .env, milliseconds a build that most tests would pay.
    with pytest.MonkeyPatch.context() as patch:
        _drop_ambient_variables(patch)
        patch.chdir(tmp_path_factory.mktemp("settings"))
        return Settings(
            llm_base_url=LLM_BASE,
            llm_api_key="test-key-not-real",
            llm_model="test-model",
            llm_backoff_initial_s=0.001,
            llm_backoff_max_s=0.002,
            llm_max_attempts=3,
            llm_max_reasks=2,
            request_deadline_s=10,
            # The store is on by default, and opening it (a SQLite file, its migrations) costs
            # ~40 ms of CPU an app: tests that are not about it leave it off; tests/store,
            # tests/api/test_stored.py and the feedback tests turn it on with settings of their own.
            store="off",
        )


@pytest.fixture
def settings(_llm_settings: Settings) -> Settings:
    """An LLM-configured service with fast backoff, so retry tests do not sleep for long."""
    return _llm_settings.model_copy(deep=True)  # each test's own, to change as it likes


def completion_json(
    content: str | None,
    *,
    finish_reason: str = "stop",
    refusal: str | None = None,
    prompt_tokens: int = 120,
    completion_tokens: int = 80,
) -> dict[str, Any]:
    """A Chat Completions response body exactly as the OpenAI API sends it."""
    return {
        "id": "chatcmpl-test",
        "object": "chat.completion",
        "created": 1_760_000_000,
        "model": "test-model-2026-01-01",
        "choices": [
            {
                "index": 0,
                "message": {
                    "role": "assistant",
                    "content": content,
                    "refusal": refusal,
                    "annotations": [],
                },
                "logprobs": None,
                "finish_reason": finish_reason,
            }
        ],
        "usage": {
            "prompt_tokens": prompt_tokens,
            "completion_tokens": completion_tokens,
            "total_tokens": prompt_tokens + completion_tokens,
        },
        "system_fingerprint": "fp_test",
    }


def brief_json(claims: list[dict[str, Any]], **summary: Any) -> str:
    """The JSON an LLM would answer with for our output schema."""
    body = {
        "summary": {
            "headline": summary.get("headline", "Port Aldine adds £2 ferry levy"),
            "lede": summary.get("lede", "Councillors voted 7–4 to add a £2 levy to ferry tickets."),
            "bullets": summary.get("bullets", ["The levy takes effect on 1 March."]),
        },
        "claims": claims,
    }
    return json.dumps(body, ensure_ascii=False)


def claim(evidence: str, **fields: Any) -> dict[str, Any]:
    return {
        "holder": "Helen Okafor",
        "holder_role": "Mayor",
        "stance": "support",
        "target": "the ferry levy",
        "claim": "The mayor backs the levy.",
        "evidence": evidence,
        "attribution": "direct_quote",
    } | fields


GOOD_EVIDENCE = "“Nobody likes a new charge,” Ms. Okafor told reporters outside the town hall."


@pytest.fixture
def completion() -> Callable[..., dict[str, Any]]:
    return completion_json


@pytest.fixture
def llm_mock() -> Iterator[respx.MockRouter]:
    # At the client (its transport for the URL), not in httpcore: the LLM calls go out through
    # aiohttp (service/upstream.py). Calls to any other host (an eval's cassette replay, a
    # server a test started) are not the LLM's and go on as they would.
    with respx.mock(base_url=LLM_BASE, assert_all_called=False, using="httpx") as router:
        router.route(host__regex=r"^(?!llm\.test$)").pass_through()
        yield router


@pytest.fixture
def client(settings: Settings, llm_mock: respx.MockRouter) -> Iterator[TestClient]:
    with TestClient(create_app(settings), raise_server_exceptions=False) as c:
        yield c


@pytest.fixture
def offline_client() -> Iterator[TestClient]:
    """The service as a fresh machine runs it: no LLM configured (the store off, as above)."""
    with TestClient(create_app(Settings(store="off")), raise_server_exceptions=False) as c:
        yield c
