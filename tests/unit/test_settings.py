"""Settings: env names, OpenAI fallbacks, what counts as configured, placeholder keys."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from service.settings import Settings


def test_fresh_machine_has_no_llm() -> None:
    settings = Settings()
    assert not settings.llm_configured and settings.llm_base_url is None


def test_openai_variables_are_fallbacks(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OPENAI_BASE_URL", "http://fallback/v1")
    monkeypatch.setenv("OPENAI_API_KEY", "fallback-key")
    settings = Settings()
    assert settings.llm_configured and settings.llm_base_url == "http://fallback/v1"
    monkeypatch.setenv("NEWSBRIEF_LLM_BASE_URL", "http://ours/v1")
    monkeypatch.setenv("NEWSBRIEF_LLM_API_KEY", "our-key")
    settings = Settings()
    assert settings.llm_base_url == "http://ours/v1"
    assert settings.llm_api_key is not None and settings.llm_api_key.get_secret_value() == "our-key"


def test_a_base_url_alone_configures_a_local_server(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("NEWSBRIEF_LLM_BASE_URL", "http://127.0.0.1:11434/v1")
    assert Settings().llm_configured


def test_blank_base_url_is_unset(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("NEWSBRIEF_LLM_BASE_URL", "  ")
    assert not Settings().llm_configured


@pytest.mark.parametrize("placeholder", ["changeme", "changethis", "your-api-key", "sk-xxx"])
def test_placeholder_keys_are_rejected(monkeypatch: pytest.MonkeyPatch, placeholder: str) -> None:
    monkeypatch.setenv("NEWSBRIEF_LLM_API_KEY", placeholder)
    with pytest.raises(ValidationError, match="placeholder"):
        Settings()


def test_dotenv_is_read(tmp_path: object) -> None:
    with open(".env", "w") as f:  # the autouse fixture runs each test in its own tmp dir
        f.write("NEWSBRIEF_LLM_MODEL=from-dotenv\n")
    assert Settings().llm_model == "from-dotenv"


def test_key_is_never_printed() -> None:
    settings = Settings(llm_api_key="secret-value-123")
    assert "secret-value-123" not in repr(settings) and "secret-value-123" not in str(settings)
