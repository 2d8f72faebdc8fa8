"""API keys and rate limits for /v1 and /metrics, checked before the body is read; health is open.

One rule for both key headers: `Authorization: Bearer <key>` (scheme in any case) and
`X-API-Key: <key>` each give the key with surrounding spaces and tabs removed; empty is none.
"""

from __future__ import annotations

import hashlib
import hmac

from starlette.datastructures import Headers
from starlette.types import ASGIApp, Receive, Scope, Send

from service.api.deps import Services
from service.api.problems import problem_for
from service.errors import NewsbriefError, UnauthorizedError
from service.settings import Settings

_OWS = " \t"  # RFC 9110 optional whitespace


def presented_key(headers: Headers) -> str | None:
    """The key from `Authorization: Bearer …` or `X-API-Key: …`, normalised as above."""
    scheme, _, token = headers.get("authorization", "").strip(_OWS).partition(" ")
    if scheme.lower() == "bearer" and token.strip(_OWS):
        return token.strip(_OWS)
    return headers.get("x-api-key", "").strip(_OWS) or None


def key_id(key: str) -> str:
    """A short id for a key that cannot be turned back into it: sha256's first 12 hex digits."""
    return hashlib.sha256(key.encode()).hexdigest()[:12]


def key_matches(given: str, keys: tuple[str, ...]) -> bool:
    """Compare against every configured key in constant time, without stopping at a match."""
    digest = hashlib.sha256(given.encode()).digest()
    found = False
    for key in keys:
        found |= hmac.compare_digest(digest, hashlib.sha256(key.encode()).digest())
    return found


def configured_keys(settings: Settings) -> tuple[str, ...]:
    return tuple(k.get_secret_value() for k in settings.api_keys)


def has_valid_key(headers: Headers, keys: tuple[str, ...]) -> bool:
    given = presented_key(headers)
    return given is not None and key_matches(given, keys)


class Guard:
    """ASGI middleware in front of /v1 and /metrics: key, then rate limit, before any body."""

    def __init__(self, app: ASGIApp, settings: Settings) -> None:
        self.app = app
        self.keys = configured_keys(settings)
        # GET /metrics is guarded like /v1 unless the operator opened it for the scraper.
        self.metrics_guarded = not settings.metrics_public

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        path: str = scope.get("path", "")
        guarded = path == "/v1" or path.startswith("/v1/")
        guarded |= path == "/metrics" and self.metrics_guarded
        if scope["type"] == "http" and guarded:
            try:
                await self.check(scope)
            except NewsbriefError as exc:
                await problem_for(exc)(scope, receive, send)
                return
        await self.app(scope, receive, send)

    async def check(self, scope: Scope) -> None:
        client = scope.get("client")
        who = client[0] if client else "unknown"
        if self.keys:
            given = presented_key(Headers(scope=scope))
            if given is None or not key_matches(given, self.keys):
                raise UnauthorizedError(
                    "send an API key as 'Authorization: Bearer <key>' or 'X-API-Key: <key>'"
                )
            who = "key:" + key_id(given)
        # The limiter is built in the lifespan: a Redis-backed one needs the running event loop.
        services: Services = scope["app"].state.services
        if services.limiter is not None:
            await services.limiter.take(who)
