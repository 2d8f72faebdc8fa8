"""State shared by every worker and replica through Redis: the result cache and the rate limits.

Set NEWSBRIEF_REDIS_URL to use it. Redis is a help, never a dependency of an answer: when it
cannot be reached the cache misses (the LLM answers), the rate limit allows or denies as
NEWSBRIEF_RATE_LIMIT_ON_REDIS_ERROR says, and the failure is logged at most once per
`_COMPLAINT_EVERY_S` and counted in `RedisLink.errors`. After a failure Redis is left alone for
`_COOL_DOWN_S`, so a dead or black-holed server costs one short timeout, not one per request.

Single flight across processes: the first caller of a key takes a lock (SET NX with a timeout of
the request deadline, so a crashed holder cannot block the key for longer); the others poll for
the value until it appears, the lock goes away (then one of them takes it) or their own request
deadline ends (the pipeline bounds the wait).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from typing import Generic, Literal, TypeVar

from redis.asyncio import Redis
from redis.backoff import NoBackoff
from redis.exceptions import RedisError
from redis.retry import Retry

from service.errors import RateLimitedError, RateLimitUnavailableError

log = logging.getLogger(__name__)
T = TypeVar("T")
R = TypeVar("R")

PREFIX = "newsbrief:"
_COOL_DOWN_S = 1.0
_COMPLAINT_EVERY_S = 30.0
_POLL_S = (0.01, 0.1)  # waiters poll from the first to the second, doubling


class RedisDownError(Exception):
    """Redis failed just now, or recently enough that it is not being tried (internal)."""


class RedisLink:
    """One Redis client per process, with the cool-down, the throttled log and the error count."""

    def __init__(self, client: Redis, clock: Callable[[], float] = time.monotonic) -> None:
        self.client = client
        self.errors = 0  # every failed or skipped call, for metrics
        self._clock = clock
        self._down_until = -math.inf
        self._last_complaint = -math.inf
        self._quiet = 0  # failures since the last log line

    async def run(self, call: Callable[[Redis], Awaitable[R]]) -> R:
        """The call's result; RedisDownError when Redis fails or is cooling down."""
        if self._clock() < self._down_until:
            self.errors += 1
            raise RedisDownError
        try:
            return await call(self.client)
        except (RedisError, OSError) as exc:
            self._failed(exc)
            raise RedisDownError from exc

    def _failed(self, exc: BaseException) -> None:
        now = self._clock()
        self.errors += 1
        self._down_until = now + _COOL_DOWN_S
        if now - self._last_complaint < _COMPLAINT_EVERY_S:
            self._quiet += 1
            return
        log.warning(
            "redis unavailable; answering without shared state",
            extra={"error": f"{type(exc).__name__}: {exc}", "suppressed": self._quiet},
        )
        self._last_complaint, self._quiet = now, 0


@asynccontextmanager
async def redis_link(url: str, timeout_s: float) -> AsyncIterator[RedisLink]:
    """A link to the Redis at `url`; connecting is lazy, so a dead Redis does not stop start-up."""
    client = Redis.from_url(
        url,
        socket_timeout=timeout_s,
        socket_connect_timeout=timeout_s,
        retry=Retry(NoBackoff(), 0),  # one short try; the next request tries again
        health_check_interval=0,
    )
    try:
        yield RedisLink(client)
    finally:
        await client.aclose()


class RedisCache(Generic[T]):
    """The result cache in Redis, with a lock per key for single flight across processes."""

    def __init__(
        self,
        link: RedisLink,
        ttl_s: float,
        lock_s: float,
        dump: Callable[[T], bytes],
        load: Callable[[bytes | str], T],
    ) -> None:
        self.link = link
        self.ttl_ms = max(1, int(ttl_s * 1000))
        self.lock_ms = max(1, int(lock_s * 1000))
        self._dump = dump
        self._load = load
        self.hits = self.misses = 0

    async def get_or_compute(
        self, key: str, compute: Callable[[], Awaitable[T]], keep: Callable[[T], bool]
    ) -> tuple[T, bool]:
        """The cached value (True), or a freshly computed one (False) that is stored if `keep`."""
        token = uuid.uuid4().hex
        value_key, lock_key = f"{PREFIX}cache:{key}", f"{PREFIX}lock:{key}"
        pause = _POLL_S[0]
        locked = False
        try:
            while True:
                if (raw := await self.link.run(lambda r: r.get(value_key))) is not None:
                    try:
                        value = self._load(raw)
                    except ValueError:  # written by an older release in a rolling update
                        log.info("unreadable cached answer dropped", extra={"key": key})
                        await self.link.run(lambda r: r.delete(value_key))
                        continue
                    if locked:  # kept by another between our miss and our lock: not ours to pay
                        await _release(self.link, lock_key, token)
                    self.hits += 1
                    return value, True
                if locked:
                    break
                if await self.link.run(lambda r: r.set(lock_key, token, nx=True, px=self.lock_ms)):
                    # Look once more: the holder before us may have kept the answer and let go
                    # of the lock between our miss above and this lock.
                    locked = True
                    continue
                await asyncio.sleep(pause)  # another process is computing this answer
                pause = min(_POLL_S[1], pause * 2)
        except RedisDownError:
            if locked:
                await _release(self.link, lock_key, token)
            self.misses += 1
            return await compute(), False  # no shared state: answer, store nothing
        self.misses += 1
        try:
            value = await compute()
            if keep(value):
                blob = self._dump(value)
                await self.link.run(lambda r: r.set(value_key, blob, px=self.ttl_ms))
        except RedisDownError:
            pass  # the answer stands; it just is not shared
        finally:
            await _release(self.link, lock_key, token)
        return value, False


# Delete the lock only if it is still ours: it may have expired and been taken by another.
_RELEASE = "if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end"


async def _release(link: RedisLink, lock_key: str, token: str) -> None:
    with contextlib.suppress(RedisDownError):  # else the lock times out by itself
        await link.run(lambda r: r.eval(_RELEASE, 1, lock_key, token))


# A token bucket per client, on Redis's clock so every replica agrees: `capacity` tokens a
# minute, bursts up to `capacity`. Returns the milliseconds to wait, 0 when the call may go.
_TAKE = """
local capacity = tonumber(ARGV[1])
local per_ms = capacity / 60000
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + tonumber(t[2]) / 1000
local b = redis.call('HMGET', KEYS[1], 'tokens', 'at')
local tokens = tonumber(b[1]) or capacity
local last = tonumber(b[2]) or now
tokens = math.min(capacity, tokens + math.max(0, now - last) * per_ms)
local wait = 0
if tokens >= 1 then tokens = tokens - 1 else wait = math.ceil((1 - tokens) / per_ms) end
redis.call('HSET', KEYS[1], 'tokens', tostring(tokens), 'at', tostring(now))
redis.call('PEXPIRE', KEYS[1], 61000)
return wait
"""


class RedisTokenBuckets:
    """Per-client token buckets in Redis, shared by every process that uses the same server."""

    def __init__(
        self, link: RedisLink, rate_per_minute: int, on_error: Literal["allow", "deny"]
    ) -> None:
        self.link = link
        self.rate_per_minute = rate_per_minute
        self.on_error = on_error

    async def take(self, who: str) -> None:
        key = f"{PREFIX}rate:{who}"
        try:
            wait_ms = await self.link.run(lambda r: r.eval(_TAKE, 1, key, self.rate_per_minute))
        except RedisDownError:
            if self.on_error == "deny":
                raise RateLimitUnavailableError(retry_after=_COOL_DOWN_S) from None
            return
        if int(wait_ms) > 0:
            raise RateLimitedError(retry_after=math.ceil(int(wait_ms) / 1000))
