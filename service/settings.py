"""Service configuration: one Settings object, read from the environment and `.env` at the edge."""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import Annotated, Literal

from pydantic import (
    AliasChoices,
    Field,
    SecretStr,
    ValidationError,
    ValidationInfo,
    field_validator,
)
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

PACKAGE_DIR = Path(__file__).resolve().parent
# A wheel carries the prompts inside the package; a source checkout keeps them beside it.
DEFAULT_PROMPTS_DIR = next(
    (p for p in (PACKAGE_DIR / "_prompts", PACKAGE_DIR.parent / "prompts") if p.is_dir()),
    PACKAGE_DIR.parent / "prompts",
)

Provider = Literal["openai", "azure", "ollama", "vllm", "llamacpp", "openrouter", "generic"]
ResponseFormat = Literal["json_schema", "json_object"]
TokenParam = Literal["max_completion_tokens", "max_tokens"]

# URL settings: the schemes each takes, and how an error names them.
_URL_SCHEMES = {
    "redis_url": (("redis://", "rediss://", "unix://"), "redis://, rediss:// or unix://"),
    "database_url": (
        ("postgresql://", "postgresql+asyncpg://", "postgres://", "sqlite"),
        "postgresql:// (or sqlite://)",
    ),
}
_PLACEHOLDER_SECRETS = {"changeme", "changethis", "your-api-key", "sk-...", "sk-xxx", "xxx"}


class Settings(BaseSettings):
    """Every knob the service has; env names are the field names with the NEWSBRIEF_ prefix."""

    model_config = SettingsConfigDict(
        env_prefix="NEWSBRIEF_", env_file=".env", extra="ignore", populate_by_name=True
    )

    llm_base_url: str | None = Field(
        default=None, validation_alias=AliasChoices("NEWSBRIEF_LLM_BASE_URL", "OPENAI_BASE_URL")
    )
    llm_api_key: SecretStr | None = Field(
        default=None, validation_alias=AliasChoices("NEWSBRIEF_LLM_API_KEY", "OPENAI_API_KEY")
    )
    llm_model: str = "gpt-4o-mini"
    # The provider profile sets the defaults below; each set explicitly wins (service.providers).
    llm_provider: Provider = "openai"
    llm_response_format: ResponseFormat | None = None
    llm_token_param: TokenParam | None = None
    llm_temperature: Annotated[float, Field(ge=0, le=2)] | Literal["omit"] | None = None
    llm_max_output_tokens: int | None = Field(default=None, gt=0)
    llm_reasoning_effort: str | None = Field(default=None, min_length=1, max_length=20)
    llm_reasoning_model: bool | None = None
    llm_max_response_bytes: int = Field(default=1_000_000, ge=1024)
    llm_attempt_timeout_s: float = Field(default=30.0, gt=0)
    llm_max_attempts: int = Field(default=4, ge=1, le=10)
    llm_backoff_initial_s: float = Field(default=0.5, ge=0)
    llm_backoff_max_s: float = Field(default=8.0, ge=0)
    llm_max_reasks: int = Field(default=2, ge=0, le=5)

    llm_max_concurrency: int = Field(default=64, ge=1)
    llm_queue_timeout_s: float = Field(default=5.0, ge=0)
    breaker_failures: int = Field(default=5, ge=1)
    breaker_cooldown_s: float = Field(default=30.0, gt=0)
    breaker_fallback: Literal["error", "extractive"] = "error"

    cache_size: int = Field(default=1024, ge=0)  # 0 turns the result cache off
    cache_ttl_s: float = Field(default=3600.0, gt=0)

    request_deadline_s: float = Field(default=90.0, gt=0)
    max_article_chars: int = Field(default=100_000, ge=1)
    max_body_bytes: int = Field(default=2_000_000, ge=1024)

    api_keys: Annotated[tuple[SecretStr, ...], NoDecode] = ()
    rate_limit_per_minute: int = Field(default=0, ge=0)

    # Unset: cache, single flight and rate limits live in each process. Set: shared through Redis.
    redis_url: SecretStr | None = None  # a secret: the URL may carry a password
    redis_timeout_s: float = Field(default=0.25, gt=0)  # connect and each command
    rate_limit_on_redis_error: Literal["allow", "deny"] = "allow"

    # The store (service/store): every answer kept, with its request, for audit and search.
    store: Literal["on", "off"] = "on"
    store_article_text: bool = True  # false: the article's sha256 only (claim evidence is kept)
    data_dir: Path = Path("data")  # the SQLite file lives here unless database_url is set
    database_url: SecretStr | None = None  # postgresql://…; a secret: it may carry a password
    retention_days: int = Field(default=0, ge=0)  # 0 keeps every answer
    # How long an answer waits for its write to be committed; past it, it goes out not_stored.
    # A write takes about a millisecond; a second is room for a busy database, not a dead one
    # (refused at once). 0: out at once, not_stored only when the store is known failing or full.
    store_confirm_s: float = Field(default=1.0, ge=0, le=10)
    store_queue_size: int = Field(default=1000, ge=1)  # answers waiting to be written

    prompts_dir: Path = DEFAULT_PROMPTS_DIR
    prompt_name: str = "summarize"
    prompt_version: str = "v1"

    host: str = "127.0.0.1"
    port: int = Field(default=8000, ge=0, le=65535)
    # HTTP limits the server layer enforces (service/api/server.py); httptools has none of them.
    max_header_bytes: int = Field(default=16_384, ge=1024)
    header_timeout_s: float = Field(default=10.0, gt=0)
    body_timeout_s: float = Field(default=30.0, gt=0)
    keep_alive_s: float = Field(default=5.0, gt=0)
    max_connections: int | None = Field(default=None, ge=2)  # None: from the descriptor limit
    forwarded_allow_ips: str = ""  # proxies whose X-Forwarded-* are trusted; "" trusts none
    # Processes on the port (uvicorn workers); each keeps its own cache, single flight and limits.
    workers: int = Field(default=1, ge=1, le=64)
    shutdown_grace_s: float = Field(default=20.0, ge=0)
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = "INFO"
    log_format: Literal["json", "text"] = "json"
    # GET /metrics asks for an API key like /v1 when keys are set, unless this is true.
    metrics_public: bool = False
    # prometheus_client's own variable: workers share their metrics through files there.
    prometheus_multiproc_dir: str | None = Field(
        default=None, validation_alias=AliasChoices("PROMETHEUS_MULTIPROC_DIR")
    )

    @field_validator("api_keys", mode="before")
    @classmethod
    def _comma_separated(cls, value: object) -> object:
        if isinstance(value, str):
            return tuple(k.strip() for k in value.split(",") if k.strip())
        return value

    @field_validator("llm_api_key")
    @classmethod
    def _reject_placeholder(cls, value: SecretStr | None) -> SecretStr | None:
        if value is not None and value.get_secret_value().strip().lower() in _PLACEHOLDER_SECRETS:
            raise ValueError("the LLM API key is a placeholder; set a real key or unset it")
        return value

    @field_validator("redis_url", "database_url")
    @classmethod
    def _url_scheme(cls, value: SecretStr | None, info: ValidationInfo) -> SecretStr | None:
        url = value.get_secret_value().strip() if value is not None else ""
        if not url:
            return None
        schemes, shown = _URL_SCHEMES[info.field_name or ""]
        if not url.startswith(schemes):
            raise ValueError(f"the URL must start with {shown}")
        return SecretStr(url)

    @field_validator("llm_base_url")
    @classmethod
    def _blank_is_unset(cls, value: str | None) -> str | None:
        return value.strip() or None if value is not None else None

    @property
    def llm_configured(self) -> bool:
        """An LLM counts as configured when a key or a base URL is set."""
        return self.llm_api_key is not None or self.llm_base_url is not None


def explain(exc: ValidationError) -> str:
    """A settings error as one line naming each environment variable, without pydantic's dump."""
    found: dict[str, list[str]] = {}
    for err in exc.errors(include_url=False):
        field = str(err["loc"][0]) if err["loc"] else "settings"
        name = field if field.isupper() else f"NEWSBRIEF_{field.upper()}"
        message = err["msg"].removeprefix("Value error, ")
        found.setdefault(name, []).append(message[:1].lower() + message[1:])
    return "; ".join(f"{name}: {' or '.join(msgs)}" for name, msgs in found.items())


@lru_cache
def get_settings() -> Settings:
    """The process's settings, read once; tests build Settings(...) directly instead."""
    return Settings()
