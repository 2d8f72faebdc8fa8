"""Per-client rate limits: one interface, kept in process memory or shared through Redis."""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, field
from typing import Protocol

from service.errors import RateLimitedError


class RateLimiter(Protocol):
    """What the API's guard calls once per request; raises RateLimitedError when over the limit."""

    async def take(self, who: str) -> None: ...


@dataclass
class TokenBuckets:
    """Per-client token buckets in this process: `rate` a minute, bursts up to the same number."""

    rate_per_minute: int
    _buckets: dict[str, tuple[float, float]] = field(default_factory=dict)

    async def take(self, who: str) -> None:
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
