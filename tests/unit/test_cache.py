"""The result cache: LRU, TTL, single flight, and what is never cached."""

from __future__ import annotations

import asyncio

import pytest

from service.cache import ResultCache, cache_key


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def test_lru_evicts_the_least_recently_used() -> None:
    cache: ResultCache[str] = ResultCache(size=2, ttl_s=60)
    cache.put("a", "A")
    cache.put("b", "B")
    assert cache.get("a") == "A"  # a is now the most recent
    cache.put("c", "C")
    assert (cache.get("a"), cache.get("b"), cache.get("c")) == ("A", None, "C")


def test_entries_expire_after_the_ttl() -> None:
    clock = Clock()
    cache: ResultCache[str] = ResultCache(size=10, ttl_s=5, clock=clock)
    cache.put("a", "A")
    clock.now = 4.9
    assert cache.get("a") == "A"
    clock.now = 5.1
    assert cache.get("a") is None and len(cache) == 0


def test_key_covers_every_part() -> None:
    base = cache_key("article", "prompt", "model", '{"max_bullets":5}')
    assert (
        len(
            {
                base,
                *(
                    cache_key(*parts)
                    for parts in [
                        ("article2", "prompt", "model", '{"max_bullets":5}'),
                        ("article", "prompt2", "model", '{"max_bullets":5}'),
                        ("article", "prompt", "model2", '{"max_bullets":5}'),
                        ("article", "prompt", "model", '{"max_bullets":4}'),
                    ]
                ),
            }
        )
        == 5
    )


async def test_identical_requests_in_flight_share_one_computation() -> None:
    cache: ResultCache[str] = ResultCache(size=10, ttl_s=60)
    calls = 0

    async def compute() -> str:
        nonlocal calls
        calls += 1
        await asyncio.sleep(0.05)
        return "answer"

    results = await asyncio.gather(
        *(cache.get_or_compute("k", compute, keep=lambda v: True) for _ in range(10))
    )
    assert calls == 1
    assert [hit for _, hit in results].count(False) == 1 and cache.hits == 9


async def test_errors_are_shared_but_not_cached() -> None:
    cache: ResultCache[str] = ResultCache(size=10, ttl_s=60)

    async def fail() -> str:
        await asyncio.sleep(0.01)
        raise RuntimeError("upstream down")

    results = await asyncio.gather(
        *(cache.get_or_compute("k", fail, keep=lambda v: True) for _ in range(3)),
        return_exceptions=True,
    )
    assert all(isinstance(r, RuntimeError) for r in results) and len(cache) == 0


async def test_a_cancelled_first_caller_does_not_fail_the_waiters() -> None:
    cache: ResultCache[str] = ResultCache(size=10, ttl_s=60)
    started = asyncio.Event()

    async def slow() -> str:
        started.set()
        await asyncio.sleep(10)
        return "never"

    async def quick() -> str:
        return "fresh"

    first = asyncio.ensure_future(cache.get_or_compute("k", slow, keep=lambda v: True))
    await started.wait()
    waiter = asyncio.ensure_future(cache.get_or_compute("k", quick, keep=lambda v: True))
    await asyncio.sleep(0)
    first.cancel()
    with pytest.raises(asyncio.CancelledError):
        await first
    assert await waiter == ("fresh", False)


async def test_values_keep_rejects_are_not_stored() -> None:
    cache: ResultCache[str] = ResultCache(size=10, ttl_s=60)

    async def degraded() -> str:
        return "extractive"

    await cache.get_or_compute("k", degraded, keep=lambda v: v == "llm")
    assert len(cache) == 0
