"""Provider and model profiles: what goes into the Chat Completions body for each kind of server.

A provider profile (`NEWSBRIEF_LLM_PROVIDER`) sets defaults that differ between real servers;
every `NEWSBRIEF_LLM_*` override set explicitly wins over its profile:

    provider    token cap parameter     response format   why
    openai      max_completion_tokens   json_schema       max_tokens is refused by o-series models
    azure       max_completion_tokens   json_schema       same models, same API (v1)
    ollama      max_tokens              json_schema       reads max_tokens, ignores the other
    vllm        max_tokens              json_schema       accepted by every vLLM release
    llamacpp    max_tokens              json_schema       the server turns the schema into a grammar
    openrouter  max_tokens              json_schema       its documented parameter, mapped per model
    generic     max_tokens              json_object       what most compatible servers accept

Reasoning models (o1/o3/o4, gpt-5 but not gpt-5-chat, codex-mini; a `vendor/` prefix as on
OpenRouter is ignored) reject any temperature but the default and count their thinking against the
output cap: they get no temperature unless one is set, and a larger cap unless one is set.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from service.settings import Provider, ResponseFormat, Settings, TokenParam

PROFILES: dict[Provider, tuple[TokenParam, ResponseFormat]] = {
    "openai": ("max_completion_tokens", "json_schema"),
    "azure": ("max_completion_tokens", "json_schema"),
    "ollama": ("max_tokens", "json_schema"),
    "vllm": ("max_tokens", "json_schema"),
    "llamacpp": ("max_tokens", "json_schema"),
    "openrouter": ("max_tokens", "json_schema"),
    "generic": ("max_tokens", "json_object"),
}
_REASONING = re.compile(r"^(o[1-9]([-.]|$)|gpt-5(?!.*-chat)|codex-mini)", re.IGNORECASE)
# Added to the prompt's cap for reasoning models: their cap counts thinking tokens too.
REASONING_ALLOWANCE = 8000


def is_reasoning_model(model: str) -> bool:
    """True for model families that reason before answering, by name."""
    return bool(_REASONING.match(model.rsplit("/", 1)[-1]))


@dataclass(frozen=True)
class ChatRequest:
    """One question for the LLM: the messages, the prompt's own output wishes, and the deadline."""

    messages: Sequence[Mapping[str, str]]
    temperature: float
    max_output_tokens: int
    deadline: float  # time.monotonic() by which the whole answer must be in
    prompt: str = "-"  # the prompt's ref, for metrics: "summarize@v1"
    reask: int = 0  # 0 for the first question, n for the nth reask


@dataclass(frozen=True)
class Profile:
    """The resolved request shape for one configured upstream."""

    model: str
    token_param: TokenParam
    response_format: ResponseFormat
    temperature: float | None  # None: the prompt's; see `reasoning`
    omit_temperature: bool
    max_output_tokens: int | None
    reasoning_effort: str | None
    reasoning: bool

    @classmethod
    def from_settings(cls, settings: Settings) -> Profile:
        token_param, response_format = PROFILES[settings.llm_provider]
        reasoning = settings.llm_reasoning_model
        if reasoning is None:
            reasoning = is_reasoning_model(settings.llm_model)
        temperature = settings.llm_temperature
        return cls(
            model=settings.llm_model,
            token_param=settings.llm_token_param or token_param,
            response_format=settings.llm_response_format or response_format,
            temperature=None if temperature == "omit" else temperature,
            omit_temperature=temperature == "omit" or (reasoning and temperature is None),
            max_output_tokens=settings.llm_max_output_tokens,
            reasoning_effort=settings.llm_reasoning_effort,
            reasoning=reasoning,
        )

    def output_cap(self, request: ChatRequest) -> int:
        if self.max_output_tokens is not None:
            return self.max_output_tokens
        extra = REASONING_ALLOWANCE if self.reasoning else 0
        return request.max_output_tokens + extra

    def body(self, request: ChatRequest, schema: dict[str, Any]) -> dict[str, Any]:
        """The Chat Completions parameters for one call (without transport options)."""
        return self.template(schema).body(request)

    def template(self, schema: dict[str, Any]) -> BodyTemplate:
        """What this profile sends on every call for one output schema, worked out once."""
        fixed: dict[str, Any] = {"model": self.model}
        if self.response_format == "json_schema":
            fixed["response_format"] = {
                "type": "json_schema",
                "json_schema": {"name": "brief", "strict": True, "schema": schema},
            }
        else:
            fixed["response_format"] = {"type": "json_object"}
        if not self.omit_temperature and self.temperature is not None:
            fixed["temperature"] = self.temperature
        if self.reasoning_effort is not None:
            fixed["reasoning_effort"] = self.reasoning_effort
        # In json_object mode the server cannot enforce the schema, so the model is told it.
        hint = (
            None
            if self.response_format == "json_schema"
            else "Your answer must be JSON matching this JSON schema:\n" + json.dumps(schema)
        )
        return BodyTemplate(self, fixed, hint)


@dataclass(frozen=True)
class BodyTemplate:
    """A profile's request body for one schema: the fixed fields built once, the rest per call."""

    profile: Profile
    fixed: Mapping[str, Any]
    schema_hint: str | None  # json_object mode: the schema, told to the model in the system message

    def body(self, request: ChatRequest) -> dict[str, Any]:
        """The Chat Completions parameters for one call (without transport options)."""
        profile = self.profile
        body = {
            **self.fixed,
            "messages": self.messages(request.messages),
            profile.token_param: profile.output_cap(request),
        }
        if not profile.omit_temperature and profile.temperature is None:
            body["temperature"] = request.temperature
        return body

    def messages(self, messages: Sequence[Mapping[str, str]]) -> list[dict[str, str]]:
        """The messages, with the schema hint in json_object mode.

        The hint joins the leading system message: many chat templates (Qwen's among them) reject
        a system message anywhere but first, so there is never a second one.
        """
        out = [dict(m) for m in messages]
        if self.schema_hint is None:
            return out
        if out and out[0].get("role") == "system":
            out[0]["content"] = f"{out[0]['content'].rstrip()}\n\n{self.schema_hint}"
            return out
        return [{"role": "system", "content": self.schema_hint}, *out]
