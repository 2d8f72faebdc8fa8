"""Provider profiles as pure functions: model-name detection and json_object messages."""

from __future__ import annotations

import pytest

from service.providers import ChatRequest, Profile, is_reasoning_model
from service.settings import Settings

SCHEMA = {"type": "object", "properties": {"claims": {"type": "array"}}}


@pytest.mark.parametrize(
    ("model", "reasoning"),
    [
        ("gpt-5", True),
        ("gpt-5-mini-2025-08-07", True),
        ("gpt-5.1", True),
        ("o1", True),
        ("o3-mini", True),
        ("o4-mini-high", True),
        ("openai/o3", True),
        ("codex-mini-latest", True),
        ("gpt-5-chat-latest", False),
        ("gpt-4o-mini", False),
        ("gpt-4.1", False),
        ("omni-moderation", False),
        ("ollama/qwen3:8b", False),
        ("olmo-2", False),
    ],
)
def test_reasoning_models_are_told_apart_by_name(model: str, reasoning: bool) -> None:
    assert is_reasoning_model(model) is reasoning


@pytest.mark.parametrize(
    ("messages", "roles"),
    [
        pytest.param(
            [{"role": "system", "content": "rules"}, {"role": "user", "content": "article"}],
            ["system", "user"],
            id="merged-into-the-prompt-system-message",
        ),
        pytest.param(
            [{"role": "user", "content": "article"}], ["system", "user"], id="added-when-none"
        ),
    ],
)
def test_json_object_mode_keeps_one_leading_system_message(
    messages: list[dict[str, str]], roles: list[str]
) -> None:
    profile = Profile.from_settings(Settings(llm_provider="generic"))
    body = profile.body(ChatRequest(messages, 0.0, 100, 0.0), SCHEMA)
    assert [m["role"] for m in body["messages"]] == roles
    assert '"claims"' in body["messages"][0]["content"]
    assert messages[0]["content"] in ("rules", "article")  # the caller's list is not changed
