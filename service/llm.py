"""The LLM call: one chat completion, retried by tenacity on transient faults.

This is the only module that catches `openai` and `httpx` errors; `map_openai_error` turns each
into our own. The answer is read as raw bytes (capped) and parsed here, tolerantly: the shapes
real providers send (usage counts as null or strings, content as a list of blocks, an error object
inside a 200) become a Reply or one of our errors, never an exception nobody expected.
"""

from __future__ import annotations

import asyncio
import email.utils
import json
import logging
import math
import random
import re
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any

import httpx
import openai
import orjson
from tenacity import AsyncRetrying, RetryCallState, retry_if_exception

from service import tracing
from service.breaker import CircuitBreaker
from service.errors import (
    BadUpstreamResponseError,
    CapacityError,
    ContentFilterError,
    InvalidOutputError,
    OutputBudgetError,
    UpstreamError,
    UpstreamQuotaError,
    UpstreamRejectedError,
    UpstreamUnavailableError,
)
from service.metrics import Metrics
from service.prompts import schema_text
from service.providers import ChatRequest, Profile
from service.schemas import LLM_OUTPUT_SCHEMA
from service.settings import Settings
from service.turns import Turns
from service.upstream import upstream_client

log = logging.getLogger(__name__)
RETRYABLE_STATUS = frozenset({408, 409, 429})  # and every 5xx
MAX_SERVER_WAIT_S = 86_400.0  # a longer Retry-After is as good as "not today"
_SECRETS = re.compile(r"\b(sk-|org-|proj_|Bearer\s+)[\w*.-]{3,}", re.IGNORECASE)
_QUOTA_CODES = {"insufficient_quota", "billing_hard_limit_reached", "quota_exceeded"}


@dataclass(frozen=True)
class Reply:
    """What one successful call returned."""

    content: str | None
    refusal: str | None
    finish_reason: str | None


@dataclass
class CallStats:
    """Counts across every call made for one request."""

    calls: int = 0
    retries: int = 0
    prompt_tokens: int = 0
    completion_tokens: int = 0


def retry_after_seconds(headers: Mapping[str, str]) -> float | None:
    """The server's requested wait, from retry-after-ms or Retry-After (seconds or HTTP date).

    Whatever arrives is bounded to [0, MAX_SERVER_WAIT_S]; unreadable values ("soon", NaN) are
    ignored as if absent.
    """
    for name, scale in (("retry-after-ms", 1000.0), ("retry-after", 1.0)):
        value = headers.get(name)
        if value is None:
            continue
        try:
            seconds = float(value) / scale
        except ValueError:
            seconds = _http_date_wait(value) if scale == 1.0 else math.nan
        if not math.isnan(seconds):
            return min(MAX_SERVER_WAIT_S, max(0.0, seconds))
    return None


def _http_date_wait(value: str) -> float:
    try:
        return email.utils.parsedate_to_datetime(value).timestamp() - time.time()
    except (TypeError, ValueError, IndexError, OverflowError):
        return math.nan


def scrub(text: str, limit: int = 500) -> str:
    """Upstream text fit for the log: key- and org-like tokens masked, length bounded."""
    text = _SECRETS.sub(lambda m: m.group(1) + "[redacted]", text)
    return text if len(text) <= limit else text[:limit] + f"… ({len(text)} chars)"


def classify(status: int, code: object, message: str, headers: Mapping[str, str]) -> UpstreamError:
    """An upstream error, from an HTTP status or the `code` of an error object in a 200 body.

    The public message says only what kind of failure it was; what the upstream said goes into
    `reason`, for the log.
    """
    code_text = str(code or "").lower()
    reason = scrub(f"HTTP {status} {code_text}: {message}".replace(" :", ":"))
    error: UpstreamError
    if code_text == "content_filter" or "responsibleaipolicyviolation" in code_text:
        error = ContentFilterError(reason=reason)
    elif status == 402 or code_text in _QUOTA_CODES:
        error = UpstreamQuotaError("the LLM account's quota or credits are spent", reason=reason)
    elif status in RETRYABLE_STATUS or status >= 500:
        error = UpstreamUnavailableError(
            f"the LLM answered HTTP {status}{' (rate limited)' if status == 429 else ''}",
            retry_after=retry_after_seconds(headers),
            reason=reason,
        )
    else:
        hint = {
            401: "; check NEWSBRIEF_LLM_API_KEY",
            403: "; check NEWSBRIEF_LLM_API_KEY and the model's access",
            404: "; check NEWSBRIEF_LLM_MODEL and NEWSBRIEF_LLM_BASE_URL",
        }.get(status, "; the server log has the upstream's reason")
        if code_text.startswith("unsupported_"):  # e.g. temperature on a reasoning model
            hint = "; a parameter does not suit this model: see NEWSBRIEF_LLM_PROVIDER"
        error = UpstreamRejectedError(
            f"the LLM rejected the call with HTTP {status}{hint}", status=status, reason=reason
        )
    # OpenAI says outright whether a retry can help; its word beats our guess from the status.
    should_retry = headers.get("x-should-retry", "").strip().lower()
    if should_retry in ("true", "false"):
        error.retryable = should_retry == "true"
    return error


# An error object inside a 200 names its kind by a code: a number (OpenRouter) or a word.
_CODE_STATUS = {
    "invalid_api_key": 401,
    "authentication_error": 401,
    "permission_denied": 403,
    "model_not_found": 404,
    "not_found_error": 404,
    "rate_limit_exceeded": 429,
    "invalid_request_error": 400,
    "context_length_exceeded": 400,
    "content_filter": 400,
    "insufficient_quota": 429,
}


def _status_of(code: object) -> int:
    number = _count(code)
    if 100 <= number <= 599:
        return number
    return _CODE_STATUS.get(str(code).lower(), 502)  # unknown: a failure while generating


def _status_error(exc: openai.APIStatusError) -> UpstreamError:
    return classify(exc.status_code, exc.code, exc.message, exc.response.headers)


def _unavailable(exc: Exception) -> UpstreamError:
    return UpstreamUnavailableError(
        "the LLM could not be reached", reason=scrub(f"{type(exc).__name__}: {exc}")
    )


def _rejected(exc: openai.OpenAIError) -> UpstreamError:
    return UpstreamRejectedError(
        "the LLM client refused the call", reason=scrub(f"{type(exc).__name__}: {exc}")
    )


def _bad_response(exc: openai.OpenAIError) -> UpstreamError:
    return BadUpstreamResponseError(
        "the LLM's answer could not be read", reason=scrub(f"{type(exc).__name__}: {exc}")
    )


def _cut_off(exc: openai.OpenAIError) -> UpstreamError:
    return InvalidOutputError(
        "the answer was cut off", attempts=1, errors=["cut off"], last_output=None
    )


def _filtered(exc: openai.OpenAIError) -> UpstreamError:
    return ContentFilterError(reason=scrub(str(exc)))


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
    openai.APIResponseValidationError: _bad_response,
    openai.LengthFinishReasonError: _cut_off,
    openai.ContentFilterFinishReasonError: _filtered,
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


def _count(value: object) -> int:
    """A token count as servers send it: an int, a numeric string, a float, null, or junk (0)."""
    if isinstance(value, bool):
        return 0
    if isinstance(value, int):
        return max(0, value)
    try:
        number = float(value) if isinstance(value, str | float) else math.nan
    except ValueError:
        return 0
    return int(number) if math.isfinite(number) and number >= 0 else 0


def _text(content: object) -> str | None:
    """Message content as text: a string, or the text blocks of a list joined (Mistral)."""
    if content is None or isinstance(content, str):
        return content
    if isinstance(content, list):
        parts = [
            block if isinstance(block, str) else block.get("text")
            for block in content
            if isinstance(block, str) or (isinstance(block, dict) and block.get("type") == "text")
        ]
        return "".join(p for p in parts if isinstance(p, str))
    raise BadUpstreamResponseError(
        "the LLM's answer has no readable content",
        reason=f"message content is a {type(content).__name__}",
    )


def _parse_json(raw: bytes) -> Any:
    """orjson, several times faster; json for what orjson refuses and json reads (a lone
    surrogate escape, NaN), so every body reads as it did before."""
    try:
        return orjson.loads(raw)
    except orjson.JSONDecodeError:
        return json.loads(raw)


def read_completion(raw: bytes, headers: Mapping[str, str], cap: int, stats: CallStats) -> Reply:
    """The Reply in one Chat Completions body, or the upstream error the body stands for."""
    try:
        data = _parse_json(raw)
    except (ValueError, RecursionError):  # RecursionError: nesting deeper than the parser goes
        # Only the opening bytes: enough to tell an HTML page from cut-off JSON, too few to carry
        # the answer's text (which quotes the article) into the log.
        raise BadUpstreamResponseError(
            "the LLM's answer is not JSON",
            reason=f"a {len(raw)}-byte 200 body that is not JSON, starting {raw[:60]!r}",
        ) from None
    if not isinstance(data, dict):
        raise BadUpstreamResponseError(
            "the LLM's answer is not a completion", reason=f"a JSON {type(data).__name__}"
        )
    choices = data.get("choices")
    first = choices[0] if isinstance(choices, list) and choices else None
    error = data.get("error") or (first.get("error") if isinstance(first, dict) else None)
    if error:  # OpenRouter and some proxies report failures inside a 200
        if not isinstance(error, dict):
            error = {"message": str(error)}
        code = error.get("code") or error.get("type")
        raise classify(_status_of(code), code, str(error.get("message", "")), headers)
    usage: dict[str, Any] = data["usage"] if isinstance(data.get("usage"), dict) else {}
    stats.prompt_tokens += _count(usage.get("prompt_tokens"))
    stats.completion_tokens += _count(usage.get("completion_tokens"))
    if choices == []:
        return Reply(None, None, "empty_choices")
    if not isinstance(first, dict):
        raise BadUpstreamResponseError(
            "the LLM's answer is not a completion", reason=f"choices is a {type(choices).__name__}"
        )
    finish_reason = first.get("finish_reason")
    finish_reason = str(finish_reason) if finish_reason is not None else None
    if finish_reason == "content_filter":
        raise ContentFilterError(reason="finish_reason content_filter")
    message = first.get("message")
    if not isinstance(message, dict):
        raise BadUpstreamResponseError(
            "the LLM's answer has no message",
            reason=f"choices[0].message is a {type(message).__name__}",
        )
    content = _text(message.get("content"))
    if finish_reason == "length" and not (content or "").strip():
        details = usage.get("completion_tokens_details")
        reasoning = _count(details.get("reasoning_tokens")) if isinstance(details, dict) else 0
        raise OutputBudgetError(cap, reasoning)  # a reask would spend the same budget again
    refusal = message.get("refusal")
    return Reply(content, refusal if isinstance(refusal, str) else None, finish_reason)


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


def _retryable(exc: BaseException) -> bool:
    return isinstance(exc, UpstreamError) and exc.retryable


class LLMClient:
    """Chat completions with structured output, retried with backoff inside a deadline."""

    def __init__(
        self,
        http: httpx.AsyncClient,
        settings: Settings,
        output_schema: dict[str, Any] = LLM_OUTPUT_SCHEMA,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
        breaker: CircuitBreaker | None = None,
        metrics: Metrics | None = None,
    ) -> None:
        self._sdk = build_openai_client(settings, http)
        # The SDK's endpoint and headers (auth, user agent, platform), worked out once: a call
        # sends them as they are with its body's bytes, so none of the SDK's per-call request
        # machinery (option models, header merging, URL parsing) runs on the hot path.
        self._url = httpx.URL(str(self._sdk.base_url).rstrip("/") + "/chat/completions")
        # The client's transport for that URL (its pool, or the proxy or mock mounted for it),
        # called directly: the client's own layers around a send (auth flow, redirects, and a
        # cookie jar fed from every response, ~0.07 ms a call) do nothing for this API, whose
        # auth is a header and which neither redirects nor needs cookies. The client's event
        # hooks do not run either: whatever must see each call wraps the transport. Looked up
        # on each call (a dictionary walk), so a mock mounted on the client later still counts.
        self._http = http
        sdk_headers = {**self._sdk.default_headers, **self._sdk.auth_headers}
        headers = {
            **http.headers,  # the client's own (accept-encoding, connection), then the SDK's
            **{k.lower(): v for k, v in sdk_headers.items() if isinstance(v, str)},
            "x-stainless-retry-count": "0",  # tenacity retries; the SDK's own never run
        }
        # As bytes, in the order httpx would send them (Host first), so a call builds its
        # request from a stream without httpx's header handling: ~40 -> ~10 us a call.
        self._head = [
            (b"Host", self._url.netloc),
            *((k.encode(), v.encode()) for k, v in headers.items()),
        ]
        self.metrics = metrics or Metrics()
        self.breaker = breaker or CircuitBreaker(
            settings.breaker_failures, settings.breaker_cooldown_s
        )
        # Calls in flight to the upstream, process-wide: the rest wait, but not for long.
        self._slots = asyncio.Semaphore(settings.llm_max_concurrency)
        self._turns = Turns()
        self.model = settings.llm_model
        self.profile = Profile.from_settings(settings)
        self._settings = settings
        self.schema = output_schema
        # The schema as prompts show it: json's indented encoder is pure Python (~0.1 ms).
        self.schema_text = schema_text(output_schema)
        self._template = self.profile.template(output_schema)
        self._sleep = sleep

    async def complete(self, request: ChatRequest, stats: CallStats) -> Reply:
        """One answer; transient faults are retried until attempts or the deadline run out.

        It is handed back in its turn: checking it and answering with it is the request's CPU
        work, and one answer a pass of the event loop starts that, so that new requests get in
        between (service/turns.py). The wait comes after the call, its upstream slot and its
        trace span: it is the service's own queueing, not the upstream's.
        """
        reply = await self._attempts(request, stats)
        await self._turns.take()
        return reply

    async def _attempts(self, request: ChatRequest, stats: CallStats) -> Reply:
        if request.reask:
            self.metrics.llm_reask(self.model, request.prompt)
        self.breaker.before_call()
        outcome: BaseException | None = None
        try:
            try:
                # Nearly every call ends in its first attempt: that one runs without tenacity's
                # machinery (~0.05-0.09 ms a call); a fault hands it to the retry loop.
                return await self._once(request, stats)
            except Exception as first:
                return await self._retried(request, stats, first)
        except BaseException as exc:
            outcome = exc
            if isinstance(exc, UpstreamError):
                exc.attempts = stats.calls
            raise
        finally:
            self.breaker.record(outcome)  # the one place the breaker hears how a call ended
            self.metrics.breaker_state(self.breaker.state)

    async def _retried(self, request: ChatRequest, stats: CallStats, first: Exception) -> Reply:
        """The attempts after a first that raised `first`, as tenacity decides them."""
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
            out_of_time = request.deadline - time.monotonic() < state.upcoming_sleep
            return state.attempt_number >= s.llm_max_attempts or out_of_time

        def count_retry(state: RetryCallState) -> None:
            stats.retries += 1
            self.metrics.llm_retry(self.model, request.prompt)

        retrying = AsyncRetrying(
            stop=stop,
            wait=wait,
            retry=retry_if_exception(_retryable),
            before_sleep=count_retry,
            reraise=True,
            sleep=self._sleep,
        )
        pending: Exception | None = first
        async for attempt in retrying:
            with attempt:
                if pending is not None:  # tenacity's attempt 1 is the one that already failed
                    failed, pending = pending, None
                    raise failed
                reply = await self._once(request, stats)
        return reply

    async def _once(self, request: ChatRequest, stats: CallStats) -> Reply:
        try:
            async with asyncio.timeout(self._settings.llm_queue_timeout_s):
                await self._slots.acquire()
        except TimeoutError:
            raise CapacityError(
                f"{self._settings.llm_max_concurrency} LLM calls already in flight",
                retry_after=1.0,
            ) from None
        try:
            return await self._observed(request, stats)
        except UpstreamError as exc:
            log.warning(
                "LLM attempt failed",
                extra={
                    "attempt": stats.calls,
                    "error": type(exc).__name__,
                    "reason": exc.reason,
                    "retryable": exc.retryable,
                },
            )
            raise
        finally:
            self._slots.release()

    async def _observed(self, request: ChatRequest, stats: CallStats) -> Reply:
        """One call, counted in the metrics and traced as a GenAI "chat" span."""
        attributes: dict[str, tracing.Attribute] = {
            "gen_ai.operation.name": "chat",
            "gen_ai.provider.name": self._settings.llm_provider,
            "gen_ai.request.model": self.model,
            "gen_ai.request.temperature": request.temperature,
            "newsbrief.prompt": request.prompt,
            "newsbrief.reask": request.reask,
        }
        before = (stats.prompt_tokens, stats.completion_tokens)
        failure: BaseException | None = None
        with (
            self.metrics.llm_in_flight.track_inprogress(),
            tracing.span(f"chat {self.model}", attributes, client=True) as span,
        ):
            try:
                reply = await self._call(request, stats)
            except BaseException as exc:
                failure = exc
                span.set_attribute("error.type", type(exc).__name__)
                raise
            finally:
                used = (stats.prompt_tokens - before[0], stats.completion_tokens - before[1])
                span.set_attribute("gen_ai.usage.input_tokens", used[0])
                span.set_attribute("gen_ai.usage.output_tokens", used[1])
                self.metrics.llm_call(self.model, request.prompt, *used, failure)
            span.set_attribute("gen_ai.response.finish_reasons", [reply.finish_reason or ""])
            return reply

    async def _call(self, request: ChatRequest, stats: CallStats) -> Reply:
        remaining = request.deadline - time.monotonic()
        timeout = max(0.05, min(self._settings.llm_attempt_timeout_s, remaining))
        stats.calls += 1
        log.debug(
            "LLM call", extra={"call": stats.calls, "model": self.model, "timeout_s": timeout}
        )
        body = self._template.body(request)
        # The body is already a plain, correct dict: its bytes go out with the SDK's headers,
        # skipping the SDK's per-call walk of the params' type annotations.
        content = orjson.dumps(body)
        head = [
            *self._head,
            (b"x-stainless-read-timeout", str(timeout).encode()),
            (b"Content-Length", str(len(content)).encode()),
        ]
        post = httpx.Request(
            "POST",
            self._url,
            headers=head,
            stream=httpx.ByteStream(content),
            extensions={"timeout": httpx.Timeout(timeout).as_dict()},
        )
        try:
            transport = self._http._transport_for_url(self._url)
            response = await transport.handle_async_request(post)
            response.request = post
            try:
                if response.is_error:  # the SDK's error class for the status, as it raises it
                    await response.aread()
                    # At run time the SDK reads an httpx response as well as its httpx2 one.
                    raise self._sdk._make_status_error_from_response(response)  # type: ignore[arg-type]
                raw = await self._read_capped(response)
            finally:
                await response.aclose()
        except openai.OpenAIError as exc:
            raise map_openai_error(exc) from exc
        except httpx.HTTPError as exc:
            raise _unavailable(exc) from exc
        return read_completion(raw, response.headers, body[self.profile.token_param], stats)

    async def _read_capped(self, response: httpx.Response) -> bytes:
        """The body, refused unread past the size cap: a runaway answer never reaches a parser."""
        cap = self._settings.llm_max_response_bytes
        declared = _count(response.headers.get("content-length"))
        chunks: list[bytes] = []
        size = declared
        if declared <= cap:
            size = 0
            async for chunk in response.aiter_bytes():
                size += len(chunk)
                if size > cap:
                    break
                chunks.append(chunk)
        if size > cap:
            error = BadUpstreamResponseError(
                f"the LLM's answer is over the {cap}-byte limit",
                reason=f"answer over NEWSBRIEF_LLM_MAX_RESPONSE_BYTES={cap}",
            )
            error.retryable = False  # a model that floods once floods again
            raise error
        return b"".join(chunks)


@asynccontextmanager
async def llm_from_settings(
    settings: Settings, metrics: Metrics | None = None
) -> AsyncIterator[LLMClient | None]:
    """The process's LLM client with its connection pool, or None when no LLM is configured."""
    if not settings.llm_configured:
        yield None
        return
    # Enough pooled connections for many requests in flight to one upstream.
    limits = httpx.Limits(max_connections=1000, max_keepalive_connections=100)
    async with upstream_client(limits) as http:
        yield LLMClient(http, settings, metrics=metrics)
