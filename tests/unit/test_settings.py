"""Settings: env names, OpenAI fallbacks, what counts as configured, placeholder keys."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from service.settings import Settings, explain


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


@pytest.mark.parametrize(
    ("env", "field", "value"),
    [
        ({"NEWSBRIEF_LLM_PROVIDER": "ollama"}, "llm_provider", "ollama"),
        ({"NEWSBRIEF_LLM_TEMPERATURE": "omit"}, "llm_temperature", "omit"),
        ({"NEWSBRIEF_LLM_TEMPERATURE": "0.7"}, "llm_temperature", 0.7),
        ({"NEWSBRIEF_LLM_REASONING_MODEL": "true"}, "llm_reasoning_model", True),
        ({"NEWSBRIEF_LLM_TOKEN_PARAM": "max_tokens"}, "llm_token_param", "max_tokens"),
        ({"NEWSBRIEF_LLM_MAX_OUTPUT_TOKENS": "4096"}, "llm_max_output_tokens", 4096),
    ],
)
def test_provider_settings_read_from_the_environment(
    monkeypatch: pytest.MonkeyPatch, env: dict[str, str], field: str, value: object
) -> None:
    for name, raw in env.items():
        monkeypatch.setenv(name, raw)
    assert getattr(Settings(), field) == value


@pytest.mark.parametrize(
    ("name", "raw"),
    [
        ("NEWSBRIEF_LLM_PROVIDER", "anthropic"),
        ("NEWSBRIEF_LLM_TEMPERATURE", "3"),
        ("NEWSBRIEF_LLM_TEMPERATURE", "none"),
        ("NEWSBRIEF_LLM_TOKEN_PARAM", "max_output_tokens"),
        ("NEWSBRIEF_LLM_MAX_OUTPUT_TOKENS", "0"),
    ],
)
def test_bad_provider_settings_fail_at_start(
    monkeypatch: pytest.MonkeyPatch, name: str, raw: str
) -> None:
    monkeypatch.setenv(name, raw)
    with pytest.raises(ValidationError):
        Settings()


@pytest.mark.parametrize(
    ("env", "said"),
    [
        (
            {"NEWSBRIEF_PORT": "abc"},
            "NEWSBRIEF_PORT: input should be a valid integer, unable to parse string as an integer",
        ),
        (
            {"NEWSBRIEF_LLM_API_KEY": "changeme"},
            "NEWSBRIEF_LLM_API_KEY: the LLM API key is a placeholder; set a real key or unset it",
        ),
        (  # a union names the variable once, with each way it could have been right
            {"NEWSBRIEF_LLM_TEMPERATURE": "9"},
            "NEWSBRIEF_LLM_TEMPERATURE: input should be less than or equal to 2 "
            "or input should be 'omit'",
        ),
    ],
)
def test_a_settings_error_names_the_variable(
    monkeypatch: pytest.MonkeyPatch, env: dict[str, str], said: str
) -> None:
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    with pytest.raises(ValidationError) as caught:
        Settings()
    assert explain(caught.value) == said


def test_two_bad_settings_are_one_line(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("NEWSBRIEF_PORT", "abc")
    monkeypatch.setenv("NEWSBRIEF_CACHE_SIZE", "-1")
    with pytest.raises(ValidationError) as caught:
        Settings()
    said = explain(caught.value)
    assert "\n" not in said and "NEWSBRIEF_PORT: " in said
    assert "NEWSBRIEF_CACHE_SIZE: input should be greater than or equal to 0" in said


def test_redis_settings(monkeypatch: pytest.MonkeyPatch) -> None:
    assert Settings().redis_url is None and Settings().rate_limit_on_redis_error == "allow"
    monkeypatch.setenv("NEWSBRIEF_REDIS_URL", " ")
    assert Settings().redis_url is None  # blank is unset: state stays in the process
    monkeypatch.setenv("NEWSBRIEF_REDIS_URL", "redis://:pw@cache:6379/0")
    settings = Settings()
    assert settings.redis_url is not None and "pw" not in repr(settings)
    for name, raw in [
        ("NEWSBRIEF_REDIS_URL", "cache:6379"),
        ("NEWSBRIEF_RATE_LIMIT_ON_REDIS_ERROR", "maybe"),
        ("NEWSBRIEF_REDIS_TIMEOUT_S", "0"),
    ]:
        with monkeypatch.context() as m:
            m.setenv(name, raw)
            with pytest.raises(ValidationError):
                Settings()


def test_store_settings_are_checked_and_the_database_url_is_a_secret(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    defaults = Settings()
    assert (defaults.store, defaults.store_article_text, defaults.retention_days) == ("on", True, 0)
    assert defaults.database_url is None and defaults.store_confirm_s == 1.0
    monkeypatch.setenv("NEWSBRIEF_DATABASE_URL", "postgresql://app:s3cret@db:5432/newsbrief")
    settings = Settings()
    assert settings.database_url is not None and "s3cret" not in repr(settings)
    for name, value in [
        ("NEWSBRIEF_DATABASE_URL", "mysql://db/x"),
        ("NEWSBRIEF_STORE", "maybe"),
        ("NEWSBRIEF_RETENTION_DAYS", "-1"),
        ("NEWSBRIEF_STORE_CONFIRM_S", "-0.5"),
    ]:
        monkeypatch.setenv(name, value)
        with pytest.raises(ValidationError) as refused:
            Settings()
        assert name in explain(refused.value)
        monkeypatch.delenv(name)
