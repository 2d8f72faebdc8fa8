"""The LLM call: one chat completion, retried by tenacity on transient faults.

This is the only module that catches `openai` errors; `map_openai_error` turns each into our own.
"""

from __future__ import annotations

import asyncio
import email.utils
import json
import logging
import random
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, cast

import httpx
import openai
from tenacity import AsyncRetrying, RetryCallState, retry_if_exception

if TYPE_CHECKING:
    from openai.types.chat import ChatCompletionMessageParam
    from openai.types.chat.completion_create_params import ResponseFormat

from service.breaker import CircuitBreaker
from service.errors import (
    CapacityError,
    InvalidOutputError,
    UpstreamError,
    UpstreamQuotaError,
    UpstreamRejectedError,
    UpstreamUnavailableError,
)
from service.schemas import LLM_OUTPUT_SCHEMA
from service.settings import Settings

log = logging.getLogger(__name__)
RETRYABLE_STATUS = frozenset({408, 409, 429})  # and every 5xx


@dataclass(frozen=True)
class Reply:
    """What one successful call returned."""

    content: str | None
    refusal: str | None
    finish_reason: str | None
    prompt_tokens: int
    completion_tokens: int
    model: str


@dataclass
class CallStats:
    """Counts across every call made for one request."""

    calls: int = 0
    retries: int = 0
    prompt_tokens: int = 0
    completion_tokens: int = 0


def retry_after_seconds(headers: Mapping[str, str]) -> float | None:
    """The server's requested wait, from retry-after-ms or Retry-After (seconds or HTTP date)."""
    if (ms := headers.get("retry-after-ms")) is not None:
        try:
            return max(0.0, float(ms) / 1000)
        except ValueError:
            pass
    value = headers.get("retry-after")
    if value is None:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        when = email.utils.parsedate_to_datetime(value) if value.strip() else None
        return None if when is None else max(0.0, when.timestamp() - time.time())


def _status_error(exc: openai.APIStatusError) -> UpstreamError:
    status = exc.status_code
    detail = f"LLM answered HTTP {status}: {exc.message}"
    if status == 429 and exc.code == "insufficient_quota":
        return UpstreamQuotaError(detail)
    if status in RETRYABLE_STATUS or status >= 500:
        wait = retry_after_seconds(exc.response.headers)
        return UpstreamUnavailableError(detail, retry_after=wait)
    return UpstreamRejectedError(detail, status=status)


def _unavailable(exc: openai.OpenAIError) -> UpstreamError:
    return UpstreamUnavailableError(f"LLM unreachable: {type(exc).__name__}: {exc}")


def _rejected(exc: openai.OpenAIError) -> UpstreamError:
    return UpstreamRejectedError(f"LLM client error: {type(exc).__name__}: {exc}")


def _bad_output(exc: openai.OpenAIError) -> UpstreamError:
    return InvalidOutputError(str(exc), attempts=1, errors=[str(exc)], last_output=None)


# Every error class the openai package exports, most specific first; a test keeps this complete.
OPENAI_ERRORS: dict[type[openai.OpenAIError], Callable[[Any], UpstreamError]] = {
    openai.APITimeoutError: _unavailable,
    openai.APIConnectionError: _unavailable,
    # The status decides, not the class: 429 may be a rate limit (retry) or a spent quota (don't).
    openai.BadRequestError: _status_error,
    openai.AuthenticationError: _status_error,
    openai.OAuthError: _status_error,
    openai.PermissionDeniedError: _status_error,
    openai.NotFoundError: _status_error,
    openai.ConflictError: _status_error,
    openai.UnprocessableEntityError: _status_error,
    openai.RateLimitError: _status_error,
    openai.InternalServerError: _status_error,
    openai.APIStatusError: _status_error,
    openai.APIResponseValidationError: _bad_output,
    openai.LengthFinishReasonError: _bad_output,
    openai.ContentFilterFinishReasonError: _bad_output,
    # Not raised by chat completions over HTTP; mapped so nothing from openai escapes untranslated.
    openai.WebSocketConnectionClosedError: _unavailable,
    openai.WebSocketQueueFullError: _unavailable,
    openai.APIError: _rejected,
    openai.OpenAIError: _rejected,
}


def map_openai_error(exc: openai.OpenAIError) -> UpstreamError:
    """Translate an openai error into ours; the nearest mapped ancestor class decides."""
    for cls in type(exc).__mro__:
        if cls in OPENAI_ERRORS:
            return OPENAI_ERRORS[cls](exc)
    raise TypeError(f"not an openai error: {exc!r}")  # pragma: no cover - mro ends at OpenAIError


def build_openai_client(settings: Settings, http_client: httpx.AsyncClient) -> openai.AsyncOpenAI:
    """One client per process. max_retries=0: tenacity is the only retry layer."""
    key = settings.llm_api_key.get_secret_value() if settings.llm_api_key else "no-key-configured"
    return openai.AsyncOpenAI(
        api_key=key,
        base_url=settings.llm_base_url,
        max_retries=0,
        timeout=settings.llm_attempt_timeout_s,
        # openai's own default transport is httpx2; an explicit httpx client keeps respx working.
        http_client=http_client,  # type: ignore[arg-type]
    )


class LLMClient:
    """Chat completions with structured output, retried with backoff inside a deadline."""

    def __init__(
        self,
        client: openai.AsyncOpenAI,
        settings: Settings,
        output_schema: dict[str, Any] = LLM_OUTPUT_SCHEMA,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
        breaker: CircuitBreaker | None = None,
    ) -> None:
        self._client = client
        self.breaker = breaker or CircuitBreaker(
            settings.breaker_failures, settings.breaker_cooldown_s
        )
        # Calls in flight to the upstream, process-wide: the rest wait, but not for long.
        self._slots = asyncio.Semaphore(settings.llm_max_concurrency)
        self.model = settings.llm_model
        self._settings = settings
        self.schema = output_schema
        if settings.llm_response_format == "json_schema":
            self._response_format: dict[str, Any] = {
                "type": "json_schema",
                "json_schema": {"name": "brief", "strict": True, "schema": output_schema},
            }
        else:
            self._response_format = {"type": "json_object"}
        self._sleep = sleep

    def schema_hint(self) -> list[dict[str, str]]:
        """In json_object mode the server cannot enforce the schema, so the model is told it."""
        if self._response_format["type"] == "json_schema":
            return []
        return [
            {
                "role": "system",
                "content": "Your answer must be JSON matching this JSON schema:\n"
                + json.dumps(self.schema),
            }
        ]

    async def complete(
        self,
        messages: list[dict[str, str]],
        *,
        temperature: float,
        max_tokens: int,
        deadline: float,
        stats: CallStats,
    ) -> Reply:
        """One answer; transient faults are retried until attempts or the deadline run out."""
        s = self._settings

        def wait(state: RetryCallState) -> float:
            backoff = min(
                s.llm_backoff_max_s, s.llm_backoff_initial_s * 2 ** (state.attempt_number - 1)
            )
            pause = random.uniform(backoff / 2, backoff)  # jitter: clients do not march together
            exc = state.outcome.exception() if state.outcome else None
            server = getattr(exc, "retry_after", None)
            return pause if server is None else max(pause, server)

        def stop(state: RetryCallState) -> bool:
            # tenacity plans the wait before asking whether to stop: give up now rather than
            # sleep past the deadline, so the caller still gets a clean 503 in time.
            out_of_time = deadline - time.monotonic() < state.upcoming_sleep
            return state.attempt_number >= s.llm_max_attempts or out_of_time

        def count_retry(state: RetryCallState) -> None:
            stats.retries += 1

        retrying = AsyncRetrying(
            stop=stop,
            wait=wait,
            # Exactly the transient class: its subclass UpstreamQuotaError is not worth retrying.
            retry=retry_if_exception(lambda e: type(e) is UpstreamUnavailableError),
            before_sleep=count_retry,
            reraise=True,
            sleep=self._sleep,
        )
        self.breaker.before_call()
        try:
            async for attempt in retrying:
                with attempt:
                    reply = await self._once(messages, temperature, max_tokens, deadline, stats)
        except CapacityError:
            self.breaker.abandon()  # our own back-pressure says nothing about the upstream
            raise
        except UpstreamUnavailableError as exc:
            self.breaker.record_failure()
            exc.attempts = stats.calls
            raise
        except UpstreamError as exc:
            self.breaker.record_success()  # it answered, if not as hoped: it is up
            exc.attempts = stats.calls
            raise
        except BaseException:
            self.breaker.abandon()  # cancelled (deadline, client gone): no verdict either way
            raise
        self.breaker.record_success()
        return reply

    async def _once(
        self,
        messages: list[dict[str, str]],
        temperature: float,
        max_tokens: int,
        deadline: float,
        stats: CallStats,
    ) -> Reply:
        try:
            async with asyncio.timeout(self._settings.llm_queue_timeout_s):
                await self._slots.acquire()
        except TimeoutError:
            raise CapacityError(
                f"{self._settings.llm_max_concurrency} LLM calls already in flight",
                retry_after=1.0,
            ) from None
        try:
            return await self._call(messages, temperature, max_tokens, deadline, stats)
        finally:
            self._slots.release()

    async def _call(
        self,
        messages: list[dict[str, str]],
        temperature: float,
        max_tokens: int,
        deadline: float,
        stats: CallStats,
    ) -> Reply:
        remaining = deadline - time.monotonic()
        timeout = max(0.05, min(self._settings.llm_attempt_timeout_s, remaining))
        stats.calls += 1
        log.debug(
            "LLM call", extra={"call": stats.calls, "model": self.model, "timeout_s": timeout}
        )
        try:
            completion = await self._client.chat.completions.create(
                model=self.model,
                messages=cast("list[ChatCompletionMessageParam]", messages),
                temperature=temperature,
                max_completion_tokens=max_tokens,
                response_format=cast("ResponseFormat", self._response_format),
                timeout=timeout,
            )
        except openai.OpenAIError as exc:
            raise map_openai_error(exc) from exc
        if completion.usage is not None:
            stats.prompt_tokens += completion.usage.prompt_tokens
            stats.completion_tokens += completion.usage.completion_tokens
        if not completion.choices:
            return Reply(None, None, "empty_choices", 0, 0, completion.model)
        choice = completion.choices[0]
        return Reply(
            content=choice.message.content,
            refusal=choice.message.refusal,
            finish_reason=choice.finish_reason,
            prompt_tokens=completion.usage.prompt_tokens if completion.usage else 0,
            completion_tokens=completion.usage.completion_tokens if completion.usage else 0,
            model=completion.model,
        )


@asynccontextmanager
async def llm_from_settings(settings: Settings) -> AsyncIterator[LLMClient | None]:
    """The process's LLM client with its connection pool, or None when no LLM is configured."""
    if not settings.llm_configured:
        yield None
        return
    # Enough pooled connections for many requests in flight to one upstream.
    limits = httpx.Limits(max_connections=1000, max_keepalive_connections=100)
    async with httpx.AsyncClient(limits=limits) as http:
        yield LLMClient(build_openai_client(settings, http), settings)
