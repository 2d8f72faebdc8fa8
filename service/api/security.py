"""API keys and per-key rate limits for /v1; health endpoints stay open."""

from __future__ import annotations

import hashlib
import hmac

from fastapi import Request

from service.api.deps import get_services
from service.errors import UnauthorizedError
from service.settings import Settings


def presented_key(request: Request) -> str | None:
    """The key from `Authorization: Bearer …` or `X-API-Key: …`."""
    auth = request.headers.get("authorization", "")
    scheme, _, token = auth.partition(" ")
    if scheme.lower() == "bearer" and token.strip():
        return token.strip()
    return request.headers.get("x-api-key") or None


def key_matches(given: str, keys: tuple[str, ...]) -> bool:
    """Compare against every configured key in constant time, without stopping at a match."""
    digest = hashlib.sha256(given.encode()).digest()
    found = False
    for key in keys:
        found |= hmac.compare_digest(digest, hashlib.sha256(key.encode()).digest())
    return found


class Guard:
    """The dependency that every /v1 route runs first."""

    def __init__(self, settings: Settings) -> None:
        self.keys = tuple(k.get_secret_value() for k in settings.api_keys)

    async def __call__(self, request: Request) -> None:  # async: no thread-pool hop per request
        who = request.client.host if request.client else "unknown"
        if self.keys:
            given = presented_key(request)
            if given is None or not key_matches(given, self.keys):
                raise UnauthorizedError(
                    "send an API key as 'Authorization: Bearer <key>' or 'X-API-Key: <key>'"
                )
            who = "key:" + hashlib.sha256(given.encode()).hexdigest()[:16]
        # The limiter is built in the lifespan: a Redis-backed one needs the running event loop.
        if (limiter := (await get_services(request)).limiter) is not None:
            await limiter.take(who)
