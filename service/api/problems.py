"""RFC 9457 problem+json: every error the API returns, mapped from our error tree in one place."""

from __future__ import annotations

import logging
import math
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException

from service import errors

log = logging.getLogger(__name__)
TYPE_BASE = "https://newsbrief.dev/problems/"
MEDIA_TYPE = "application/problem+json"

# error class → (status, stable type slug, title); the nearest class in the MRO decides.
PROBLEMS: dict[type[errors.NewsbriefError], tuple[int, str, str]] = {
    errors.ArticleTooLongError: (413, "article-too-long", "Article text is too long"),
    errors.UnknownPromptError: (404, "unknown-prompt", "Unknown prompt version"),
    errors.UnauthorizedError: (401, "unauthorized", "API key missing or invalid"),
    errors.RateLimitedError: (429, "rate-limited", "Too many requests"),
    errors.NotStoredError: (404, "summary-not-found", "No stored summary with that id"),
    errors.BadCursorError: (400, "bad-cursor", "Invalid cursor"),
    errors.InvalidFeedbackError: (422, "invalid-feedback", "Feedback is invalid"),
    errors.RequestError: (400, "bad-request", "Bad request"),
    errors.UpstreamQuotaError: (503, "llm-quota-exhausted", "LLM quota exhausted"),
    errors.CapacityError: (503, "llm-capacity", "Too many LLM calls in flight"),
    errors.CircuitOpenError: (503, "llm-circuit-open", "LLM calls paused after failures"),
    errors.UpstreamUnavailableError: (503, "llm-unavailable", "LLM unavailable"),
    errors.UpstreamRejectedError: (502, "llm-rejected-request", "LLM rejected the request"),
    errors.BadUpstreamResponseError: (502, "llm-bad-response", "LLM answer unreadable"),
    errors.OutputBudgetError: (502, "llm-output-budget", "LLM output budget exhausted"),
    errors.InvalidOutputError: (502, "llm-invalid-output", "LLM output invalid"),
    errors.ContentFilterError: (502, "llm-content-filter", "Blocked by the content filter"),
    errors.RefusalError: (502, "llm-refusal", "The model refused"),
    errors.UpstreamError: (502, "llm-error", "LLM error"),
    errors.DeadlineExceededError: (504, "deadline-exceeded", "Request deadline exceeded"),
    errors.RateLimitUnavailableError: (503, "rate-limit-unavailable", "Rate limit unavailable"),
    errors.StoreUnavailableError: (503, "store-unavailable", "The store is unavailable"),
    errors.PromptFileError: (500, "prompt-file-invalid", "A prompt file is invalid"),
    errors.NewsbriefError: (500, "internal", "Internal error"),
}
DEFAULT_RETRY_AFTER_S = 5
# What we tell clients to wait, whatever the upstream asked of us: never a 301-digit header.
MAX_RETRY_AFTER_S = 600


def problem_body(status: int, slug: str, title: str, detail: str, **extra: Any) -> dict[str, Any]:
    """The RFC 9457 fields plus our extras: what every problem response carries."""
    return {"type": TYPE_BASE + slug, "title": title, "status": status, "detail": detail, **extra}


def problem(
    status: int,
    slug: str,
    title: str,
    detail: str,
    headers: dict[str, str] | None = None,
    **extra: Any,
) -> JSONResponse:
    body = problem_body(status, slug, title, detail, **extra)
    return JSONResponse(body, status_code=status, media_type=MEDIA_TYPE, headers=headers)


def classify(exc: errors.NewsbriefError) -> tuple[int, str, str]:
    """Status, type slug and title for one of our errors: the nearest class in PROBLEMS."""
    return next(PROBLEMS[c] for c in type(exc).__mro__ if c in PROBLEMS)


def problem_for(exc: errors.NewsbriefError) -> JSONResponse:
    """The one translation from our errors to HTTP."""
    status, slug, title = classify(exc)
    headers: dict[str, str] = {}
    extra: dict[str, Any] = {}
    retry = (
        errors.UpstreamUnavailableError | errors.RateLimitedError | errors.RateLimitUnavailableError
    )
    if isinstance(exc, retry) and not (isinstance(exc, errors.UpstreamQuotaError)):
        wait = exc.retry_after if exc.retry_after is not None else DEFAULT_RETRY_AFTER_S
        headers["Retry-After"] = str(max(1, math.ceil(min(MAX_RETRY_AFTER_S, wait))))
    if isinstance(exc, errors.UnauthorizedError):
        headers["WWW-Authenticate"] = 'Bearer realm="newsbrief"'
    if isinstance(exc, errors.UpstreamError):
        extra["attempts"] = exc.attempts
    if isinstance(exc, errors.InvalidOutputError):
        extra["errors"] = exc.errors[:20]
    if isinstance(exc, errors.UnknownPromptError):
        extra["available"] = exc.available
    if isinstance(exc, errors.InvalidFeedbackError):
        extra["field"] = exc.field
    if isinstance(exc, errors.ArticleTooLongError):
        extra |= {"chars": exc.chars, "limit": exc.limit}
    if status >= 500 and status not in (502, 503, 504):
        log.error("unexpected error", exc_info=exc)
    return problem(status, slug, title, str(exc), headers, **extra)


def unreadable_body(request: Request, exc: RequestValidationError) -> JSONResponse | None:
    """400 for a body that is not JSON at all, 415 for one not declared as JSON; else None."""
    media_type = request.headers.get("content-type", "").partition(";")[0].strip().lower()
    declared_json = media_type == "application/json" or media_type.endswith("+json")
    has_body = request.headers.get("content-length", "0") != "0" or (
        "transfer-encoding" in request.headers
    )
    if has_body and not declared_json:
        return problem(
            415,
            "unsupported-media-type",
            "Unsupported media type",
            f"send the body as JSON with 'Content-Type: application/json' (got "
            f"{media_type or 'no Content-Type'!r})",
        )
    for err in exc.errors():
        if err.get("type") == "json_invalid":
            where = err.get("loc", ("body", "?"))[-1]
            reason = err.get("ctx", {}).get("error", "invalid JSON")
            return problem(
                400,
                "malformed-body",
                "Request body is not valid JSON",
                f"the body is not valid JSON: {reason} at character {where}",
            )
    return None


def install(app: FastAPI) -> None:
    """Register the handlers so every error response is problem+json."""

    async def on_ours(request: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, errors.NewsbriefError)
        request.app.state.metrics.error(classify(exc)[1])
        return problem_for(exc)

    async def on_validation(request: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, RequestValidationError)
        if (unreadable := unreadable_body(request, exc)) is not None:
            return unreadable
        found = [
            {
                "loc": [str(p) for p in err.get("loc", ())],
                "msg": err.get("msg", ""),
                "type": err.get("type", ""),
            }
            for err in exc.errors()
        ]
        detail = "; ".join(f"{'.'.join(e['loc'])}: {e['msg']}" for e in found[:5])
        # One type for both (clients match on it); the title says which part of the request.
        in_body = all(e["loc"][:1] == ["body"] for e in found)
        title = "Request body is invalid" if in_body else "Request parameters are invalid"
        return problem(422, "invalid-body", title, detail, errors=found)

    async def on_http(request: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, HTTPException)
        slugs = {400: "malformed-body", 404: "not-found", 405: "method-not-allowed"}
        slug = slugs.get(exc.status_code, "http-error")
        return problem(
            exc.status_code, slug, str(exc.detail), str(exc.detail), dict(exc.headers or {})
        )

    async def on_bug(request: Request, exc: Exception) -> JSONResponse:
        log.exception("unhandled error on %s %s", request.method, request.url.path)
        return problem(500, "internal", "Internal error", "an unexpected error occurred")

    app.add_exception_handler(errors.NewsbriefError, on_ours)
    app.add_exception_handler(RequestValidationError, on_validation)
    app.add_exception_handler(HTTPException, on_http)
    app.add_exception_handler(Exception, on_bug)
