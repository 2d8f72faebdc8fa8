"""API keys and per-key rate limits for /v1; health endpoints stay open."""

from __future__ import annotations

import hashlib
import hmac
import math
import time
from dataclasses import dataclass, field

from fastapi import Request

from service.errors import RateLimitedError, UnauthorizedError
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


@dataclass
class TokenBuckets:
    """Per-client token buckets: `rate` requests a minute, bursts up to the same number."""

    rate_per_minute: int
    _buckets: dict[str, tuple[float, float]] = field(default_factory=dict)

    def take(self, who: str) -> None:
        now = time.monotonic()
        capacity = float(self.rate_per_minute)
        per_second = capacity / 60
        tokens, last = self._buckets.get(who, (capacity, now))
        tokens = min(capacity, tokens + (now - last) * per_second)
        if tokens < 1:
            self._buckets[who] = (tokens, now)
            raise RateLimitedError(retry_after=math.ceil((1 - tokens) / per_second))
        self._buckets[who] = (tokens - 1, now)
        if len(self._buckets) > 100_000:  # bound memory under a flood of distinct clients
            self._buckets.pop(next(iter(self._buckets)))


class Guard:
    """The dependency that every /v1 route runs first."""

    def __init__(self, settings: Settings) -> None:
        self.keys = tuple(k.get_secret_value() for k in settings.api_keys)
        self.buckets = (
            TokenBuckets(settings.rate_limit_per_minute) if settings.rate_limit_per_minute else None
        )

    async def __call__(self, request: Request) -> None:  # async: no thread-pool hop per request
        who = request.client.host if request.client else "unknown"
        if self.keys:
            given = presented_key(request)
            if given is None or not key_matches(given, self.keys):
                raise UnauthorizedError(
                    "send an API key as 'Authorization: Bearer <key>' or 'X-API-Key: <key>'"
                )
            who = "key:" + hashlib.sha256(given.encode()).hexdigest()[:16]
        if self.buckets:
            self.buckets.take(who)
