"""Every error newsbrief raises on purpose, as one tree.

    NewsbriefError
    ├── RequestError                 the request cannot be served as sent (4xx)
    │   ├── ArticleTooLongError      article text is over the configured maximum
    │   ├── UnknownPromptError       no prompt with that name and version
    │   ├── UnauthorizedError        no valid API key was given
    │   ├── RateLimitedError         this API key sent too many requests; try later
    │   ├── NotStoredError           no stored summary has that id (or the store is off)
    │   ├── BadCursorError           a list cursor was not made by us for this query
    │   └── InvalidFeedbackError     feedback names a claim or field the summary lacks
    ├── PromptFileError              a prompt file is invalid (raised at load, never per request)
    ├── UpstreamError                the LLM gave no usable answer
    │   ├── UpstreamUnavailableError timeouts, connection errors, 408/409/429/5xx, even in a 200
    │   │   ├── UpstreamQuotaError   the account's quota is exhausted; retrying cannot help
    │   │   ├── CapacityError        too many calls already in flight to the LLM; try later
    │   │   └── CircuitOpenError     the LLM kept failing; calls are paused for a cool-down
    │   ├── BadUpstreamResponseError the HTTP answer is unreadable: not JSON, wrong shape, too big
    │   ├── UpstreamRejectedError    the LLM refused our call itself (400/401/403/404/422)
    │   ├── OutputBudgetError        the output token cap was spent before any answer (reasoning)
    │   ├── InvalidOutputError       the answer still failed validation after every reask
    │   └── RefusalError             the model declined to answer
    │       └── ContentFilterError   the provider's content filter blocked the prompt or answer
    ├── DeadlineExceededError        the overall per-request deadline ran out
    ├── RateLimitUnavailableError    the shared rate limit cannot be checked and must deny
    ├── StoreUnavailableError        the store (database) failed or cannot be reached
    └── EvalError                    the eval suite cannot run as asked (never over HTTP)
        ├── DatasetError             an eval case file is invalid
        ├── CassetteError            a cassette is missing, invalid, or may not be overwritten
        └── DevToolsMissingError     the eval suite or fake LLM asked of an install without them

Errors carry their context as fields; `service.api.problems` maps each class to an HTTP status
once, and `service.llm` is the only place that translates `openai` errors into these.

Two rules ride on the tree instead of on `except` order: `retryable` (another attempt may get a
different answer; an instance may say otherwise, e.g. when the upstream sent `x-should-retry`) and
`breaker` (what the failure says about the upstream's health: "down" counts toward opening the
circuit, "up" means it answered, "unknown" says nothing). An upstream error's message is short,
public and free of upstream text; `reason` keeps what the upstream said, for the log only.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Literal

Health = Literal["down", "up", "unknown"]


class NewsbriefError(Exception):
    """Base of every error newsbrief raises on purpose."""


class RequestError(NewsbriefError):
    """The request cannot be served as sent."""


class ArticleTooLongError(RequestError):
    """Article text is longer than the configured maximum."""

    def __init__(self, chars: int, limit: int) -> None:
        super().__init__(f"article text has {chars} characters; the limit is {limit}")
        self.chars = chars
        self.limit = limit


class UnknownPromptError(RequestError):
    """No prompt is loaded under that name and version."""

    def __init__(self, ref: str, available: Sequence[str]) -> None:
        super().__init__(f"unknown prompt {ref!r}; available: {', '.join(available) or 'none'}")
        self.ref = ref
        self.available = list(available)


class UnauthorizedError(RequestError):
    """No valid API key was given."""


class RateLimitedError(RequestError):
    """This API key sent too many requests; try again after retry_after seconds."""

    def __init__(self, retry_after: float) -> None:
        super().__init__(f"rate limit exceeded; retry in {retry_after:.0f} s")
        self.retry_after = retry_after


class NotStoredError(RequestError):
    """No stored summary has that id, or the store is off."""


class BadCursorError(RequestError):
    """A list cursor that this service did not hand out for this query."""


class InvalidFeedbackError(RequestError):
    """Feedback that names a claim or field the summary does not have, or is otherwise invalid."""

    def __init__(self, message: str, *, field: str) -> None:
        super().__init__(message)
        self.field = field


class PromptFileError(NewsbriefError):
    """A prompt file is invalid: bad YAML, unknown fields, or unknown or missing variables."""

    def __init__(self, path: str, problem: str) -> None:
        super().__init__(f"{path}: {problem}")
        self.path = path
        self.problem = problem


class UpstreamError(NewsbriefError):
    """The LLM gave no usable answer."""

    retryable: bool = False
    breaker: Health = "up"

    def __init__(self, message: str, *, attempts: int = 0, reason: str | None = None) -> None:
        super().__init__(message)
        self.attempts = attempts
        self.reason = reason or message


class UpstreamUnavailableError(UpstreamError):
    """The LLM could not be reached or kept failing transiently, after every retry."""

    retryable = True
    breaker: Health = "down"

    def __init__(
        self,
        message: str,
        *,
        attempts: int = 0,
        retry_after: float | None = None,
        reason: str | None = None,
    ) -> None:
        super().__init__(message, attempts=attempts, reason=reason)
        self.retry_after = retry_after


class UpstreamQuotaError(UpstreamUnavailableError):
    """The LLM account's quota is exhausted; retrying cannot help until someone acts."""

    retryable = False


class CapacityError(UpstreamUnavailableError):
    """Too many calls are already in flight to the LLM; waiting longer was not allowed."""

    retryable = False
    breaker: Health = "unknown"  # our own back-pressure says nothing about the upstream


class CircuitOpenError(UpstreamUnavailableError):
    """The LLM kept failing, so calls are paused until the cool-down ends."""


class BadUpstreamResponseError(UpstreamError):
    """The upstream's HTTP answer could not be read: not JSON, not a completion, or too large."""

    retryable = True  # a proxy hiccup or a cut-off body may not repeat
    breaker: Health = "down"


class UpstreamRejectedError(UpstreamError):
    """The LLM rejected the call itself (bad request, bad credentials, unknown model)."""

    def __init__(
        self,
        message: str,
        *,
        status: int | None = None,
        attempts: int = 0,
        reason: str | None = None,
    ) -> None:
        super().__init__(message, attempts=attempts, reason=reason)
        self.status = status


class OutputBudgetError(UpstreamError):
    """The output token cap ran out before any answer text: a reasoning model spent it thinking."""

    def __init__(self, cap: int | None, reasoning_tokens: int, *, attempts: int = 0) -> None:
        super().__init__(
            f"the model used its whole output budget ({cap or 'provider default'} tokens, "
            f"{reasoning_tokens} of them reasoning) before answering; raise "
            "NEWSBRIEF_LLM_MAX_OUTPUT_TOKENS or lower NEWSBRIEF_LLM_REASONING_EFFORT",
            attempts=attempts,
        )
        self.cap = cap
        self.reasoning_tokens = reasoning_tokens


class InvalidOutputError(UpstreamError):
    """The LLM's answer still failed validation after every reask."""

    def __init__(
        self, message: str, *, attempts: int, errors: Sequence[str], last_output: str | None
    ) -> None:
        super().__init__(message, attempts=attempts)
        self.errors = list(errors)
        self.last_output = last_output


class RefusalError(UpstreamError):
    """The model declined to answer."""

    def __init__(self, refusal: str, *, attempts: int) -> None:
        super().__init__(f"the model refused: {refusal[:200]}", attempts=attempts)
        self.refusal = refusal


class ContentFilterError(RefusalError):
    """The provider's content filter blocked the prompt (a 400) or the answer (finish_reason)."""

    def __init__(self, *, attempts: int = 0, reason: str | None = None) -> None:
        message = "the provider's content filter blocked the prompt or the answer"
        UpstreamError.__init__(self, message, attempts=attempts, reason=reason)
        self.refusal = message


class DeadlineExceededError(NewsbriefError):
    """The overall per-request deadline ran out before an answer was ready."""

    def __init__(self, deadline_s: float) -> None:
        super().__init__(f"no answer within the {deadline_s:g} s request deadline")
        self.deadline_s = deadline_s


class RateLimitUnavailableError(NewsbriefError):
    """Redis, which holds the shared rate limits, is unreachable and the setting says deny."""

    def __init__(self, retry_after: float) -> None:
        super().__init__(
            "the rate limit cannot be checked right now (NEWSBRIEF_RATE_LIMIT_ON_REDIS_ERROR=deny)"
        )
        self.retry_after = retry_after


class StoreUnavailableError(NewsbriefError):
    """The store failed or cannot be reached; `reason` keeps the driver's words, for the log."""

    def __init__(self, message: str, *, reason: str | None = None) -> None:
        super().__init__(message)
        self.reason = reason


class EvalError(NewsbriefError):
    """The eval suite cannot run as asked."""


class DatasetError(EvalError):
    """An eval case file is invalid."""


class CassetteError(EvalError):
    """A cassette is missing, invalid, or may not be overwritten."""


class DevToolsMissingError(EvalError):
    """The eval suite or the fake LLM was asked of an install that has only the service."""

    def __init__(self, missing: str) -> None:
        self.missing = missing
        super().__init__(
            f"this needs the development tools ({missing} is missing): they run from a source "
            "checkout with the dev extra: make dev, or pip install -e '.[dev]'"
        )
