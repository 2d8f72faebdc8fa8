"""The request body each provider profile sends upstream, captured from a real call through the app.

The README's provider table is checked against these: pick the profile, and this is what goes out.
"""

from __future__ import annotations

import json
from typing import Any

import pytest
import respx
from fastapi.testclient import TestClient

from service.api import create_app
from service.providers import REASONING_ALLOWANCE
from service.settings import Settings
from tests.conftest import GOOD_EVIDENCE, brief_json, claim, completion_json

PROMPT_TEMPERATURE = 0.0  # prompts/summarize/v1.yaml
PROMPT_CAP = 2000
ABSENT = object()


def sent(settings: Settings, llm_mock: respx.MockRouter, article: str, **update: Any) -> Any:
    route = llm_mock.post("/chat/completions").respond(
        200, json=completion_json(brief_json([claim(GOOD_EVIDENCE)]))
    )
    app = create_app(settings.model_copy(update=update))
    with TestClient(app, raise_server_exceptions=False) as client:
        response = client.post("/v1/summaries", json={"article": {"text": article}})
    assert response.status_code == 200, response.text
    return json.loads(route.calls.last.request.content)


@pytest.mark.parametrize(
    ("update", "expected"),
    [
        pytest.param(
            {"llm_provider": "openai", "llm_model": "gpt-4o-mini"},
            {"temperature": 0.0, "max_completion_tokens": PROMPT_CAP, "max_tokens": ABSENT},
            id="openai-chat-model",
        ),
        pytest.param(
            {"llm_provider": "openai", "llm_model": "gpt-5-mini"},
            {
                "temperature": ABSENT,
                "max_completion_tokens": PROMPT_CAP + REASONING_ALLOWANCE,
                "reasoning_effort": ABSENT,
            },
            id="openai-reasoning-no-temperature",
        ),
        pytest.param(
            {"llm_provider": "openai", "llm_model": "o4-mini", "llm_temperature": 1.0},
            {"temperature": 1.0},
            id="openai-reasoning-temperature-set",
        ),
        pytest.param(
            {"llm_provider": "azure", "llm_model": "o3", "llm_reasoning_effort": "low"},
            {"temperature": ABSENT, "reasoning_effort": "low", "max_tokens": ABSENT},
            id="azure-reasoning-effort",
        ),
        pytest.param(
            {"llm_model": "gpt-5-mini", "llm_reasoning_model": False},
            {"temperature": 0.0, "max_completion_tokens": PROMPT_CAP},
            id="reasoning-detection-overridden",
        ),
        pytest.param(
            {"llm_model": "my-tuned-thinker", "llm_reasoning_model": True},
            {"temperature": ABSENT},
            id="reasoning-declared",
        ),
        pytest.param(
            {"llm_provider": "ollama", "llm_model": "qwen3:8b"},
            {"max_tokens": PROMPT_CAP, "max_completion_tokens": ABSENT, "temperature": 0.0},
            id="ollama-max-tokens",
        ),
        pytest.param(
            {"llm_provider": "vllm", "llm_model": "Qwen/Qwen3-8B"},
            {"max_tokens": PROMPT_CAP, "max_completion_tokens": ABSENT},
            id="vllm",
        ),
        pytest.param(
            {"llm_provider": "llamacpp"},
            {"max_tokens": PROMPT_CAP, "response_format": "json_schema"},
            id="llamacpp-json-schema",
        ),
        pytest.param(
            {"llm_provider": "openrouter", "llm_model": "openai/gpt-5-mini"},
            {"max_tokens": PROMPT_CAP + REASONING_ALLOWANCE, "temperature": ABSENT},
            id="openrouter-vendor-prefixed-reasoning",
        ),
        pytest.param(
            {"llm_provider": "generic"},
            {"max_tokens": PROMPT_CAP, "response_format": "json_object"},
            id="generic",
        ),
        pytest.param(
            {"llm_temperature": "omit"}, {"temperature": ABSENT}, id="temperature-omitted"
        ),
        pytest.param(
            {"llm_model": "o3-mini", "llm_max_output_tokens": 777},
            {"max_completion_tokens": 777},
            id="output-cap-set",
        ),
        pytest.param(
            {"llm_token_param": "max_tokens"},
            {"max_tokens": PROMPT_CAP, "max_completion_tokens": ABSENT},
            id="token-param-set",
        ),
        pytest.param(
            {"llm_provider": "ollama", "llm_response_format": "json_object"},
            {"response_format": "json_object"},
            id="ollama-json-object",
        ),
    ],
)
def test_each_profile_sends_what_its_server_reads(
    settings: Settings,
    llm_mock: respx.MockRouter,
    article: str,
    update: dict[str, Any],
    expected: dict[str, Any],
) -> None:
    body = sent(settings, llm_mock, article, **update)
    for key, value in expected.items():
        if key == "response_format":
            assert body["response_format"]["type"] == value
        elif value is ABSENT:
            assert key not in body, f"{key} must not be sent"
        else:
            assert body[key] == value, key
    roles = [m["role"] for m in body["messages"]]
    assert roles[0] == "system" and roles.count("system") == 1  # one system message, first
    if body["response_format"]["type"] == "json_object":
        assert '"claims"' in body["messages"][0]["content"]  # the schema, described in it
        assert body["messages"][0]["content"].startswith("You are a careful news analyst")
