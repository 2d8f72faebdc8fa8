"""The result cache: the same article, prompt, model and options never pay for a second answer.

`Cache` is what the pipeline calls; `ResultCache` is the in-process one, an LRU with a TTL.
Identical requests that arrive while the first is still being answered wait for that answer
instead of calling the LLM again (single flight). `service.shared` has the Redis-backed one that
every worker and replica share.
"""

from __future__ import annotations

import asyncio
import hashlib
import time
from collections import OrderedDict
from collections.abc import Awaitable, Callable
from typing import Generic, Protocol, TypeVar

T = TypeVar("T")


class Cache(Protocol[T]):
    """A result cache with single flight; `hits` and `misses` count answers (for metrics)."""

    hits: int
    misses: int

    async def get_or_compute(
        self, key: str, compute: Callable[[], Awaitable[T]], keep: Callable[[T], bool]
    ) -> tuple[T, bool]:
        """The cached value (True), or a freshly computed one (False) that is stored if `keep`."""
        ...


def cache_key(article_sha256: str, prompt_sha256: str, model: str, options_json: str) -> str:
    parts = "\x1f".join((article_sha256, prompt_sha256, model, options_json))
    return hashlib.sha256(parts.encode()).hexdigest()


class ResultCache(Generic[T]):
    def __init__(
        self, size: int, ttl_s: float, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.size = size
        self.ttl_s = ttl_s
        self._clock = clock
        self._items: OrderedDict[str, tuple[float, T]] = OrderedDict()
        self._pending: dict[str, asyncio.Future[T]] = {}
        self.hits = self.misses = 0

    def __len__(self) -> int:
        return len(self._items)

    def get(self, key: str) -> T | None:
        entry = self._items.get(key)
        if entry is None:
            return None
        stored_at, value = entry
        if self._clock() - stored_at > self.ttl_s:
            del self._items[key]
            return None
        self._items.move_to_end(key)
        return value

    def put(self, key: str, value: T) -> None:
        self._items[key] = (self._clock(), value)
        self._items.move_to_end(key)
        while len(self._items) > self.size:
            self._items.popitem(last=False)

    async def get_or_compute(
        self, key: str, compute: Callable[[], Awaitable[T]], keep: Callable[[T], bool]
    ) -> tuple[T, bool]:
        """The cached value (True), or a freshly computed one (False) that is stored if `keep`."""
        if (value := self.get(key)) is not None:
            self.hits += 1
            return value, True
        if (pending := self._pending.get(key)) is not None:
            try:
                value = await asyncio.shield(pending)
            except _WaitedCallCancelledError:
                pass  # the first caller was cancelled: compute for ourselves below
            else:
                self.hits += 1
                return value, True
        self.misses += 1
        future: asyncio.Future[T] = asyncio.get_running_loop().create_future()
        self._pending[key] = future
        try:
            value = await compute()
        except BaseException as exc:
            if not future.done():
                # Waiters retry on their own rather than inherit this caller's error or
                # cancellation (this caller's client may simply have gone away).
                cancelled = isinstance(exc, asyncio.CancelledError)
                future.set_exception(_WaitedCallCancelledError() if cancelled else exc)
                future.exception()  # mark retrieved: no "never retrieved" noise without waiters
            raise
        finally:
            self._pending.pop(key, None)
        future.set_result(value)
        if keep(value):
            self.put(key, value)
        return value, False


class _WaitedCallCancelledError(Exception):
    """The call being waited on was cancelled; the waiter should compute for itself."""
