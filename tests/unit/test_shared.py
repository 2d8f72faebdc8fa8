"""Shared state through a real redis-server: the lock, the shared limit, a dead Redis."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from typing import Any

import pytest
from redis.asyncio import Redis
from redis.exceptions import ConnectionError as RedisConnectionError

from service.errors import DeadlineExceededError, RateLimitedError, RateLimitUnavailableError
from service.llm import llm_from_settings
from service.pipeline import summarize_article
from service.prompts import PromptRegistry
from service.schemas import SummaryRequest
from service.settings import Settings
from service.shared import (
    PREFIX,
    RedisCache,
    RedisLink,
    RedisTokenBuckets,
    _release,
    redis_link,
)
from tests.support import redis_server

pytestmark = pytest.mark.e2e  # a real redis-server process


@pytest.fixture(scope="module")
def redis_url() -> Iterator[str]:
    with redis_server() as (url, _):
        yield url


@pytest.fixture
async def link(redis_url: str) -> AsyncIterator[RedisLink]:
    client = Redis.from_url(redis_url)
    await client.flushdb()
    yield RedisLink(client)
    await client.aclose()


def strings(link: RedisLink, ttl_s: float = 60, lock_s: float = 5) -> RedisCache[str]:
    return RedisCache(link, ttl_s, lock_s, dump=str.encode, load=_text)


def _text(raw: bytes | str) -> str:
    return raw.decode() if isinstance(raw, bytes) else raw


def answer(value: str, calls: list[str]) -> Callable[[], Awaitable[str]]:
    async def compute() -> str:
        calls.append(value)
        await asyncio.sleep(0.05)
        return value

    return compute


async def test_processes_share_answers_and_one_computation(redis_url: str, link: RedisLink) -> None:
    other = RedisLink(Redis.from_url(redis_url))  # a second process's client
    calls: list[str] = []
    a, b = strings(link), strings(other)
    results = await asyncio.gather(
        *(c.get_or_compute("k", answer("A", calls), keep=lambda v: True) for c in (a, b, a, b))
    )
    assert calls == ["A"] and sorted(hit for _, hit in results) == [False, True, True, True]
    assert await b.get_or_compute("k", answer("B", calls), keep=lambda v: True) == ("A", True)
    assert 0 < await link.client.pttl(f"{PREFIX}cache:k") <= 60_000
    await other.client.aclose()


class MissesFirst(RedisLink):
    """A link whose first call (the cache lookup) finds nothing: as if another process kept the
    answer and let go of its lock just after this one looked."""

    missed = False

    async def run(self, call: Callable[[Redis], Awaitable[Any]]) -> Any:
        if not self.missed:
            self.missed = True
            return None
        return await super().run(call)


async def test_an_answer_kept_between_a_miss_and_the_lock_is_not_computed_again(
    redis_url: str, link: RedisLink
) -> None:
    calls: list[str] = []
    assert await strings(link).get_or_compute("k", answer("A", calls), keep=lambda v: True)
    late = MissesFirst(Redis.from_url(redis_url))
    assert await strings(late).get_or_compute("k", answer("B", calls), keep=lambda v: True) == (
        "A",
        True,
    )
    assert calls == ["A"]  # B's process found A's answer once it held the lock
    assert await link.client.get(f"{PREFIX}lock:k") is None  # and let go of the lock
    await late.client.aclose()


async def test_a_crashed_holders_lock_expires_then_a_waiter_computes(link: RedisLink) -> None:
    lock = f"{PREFIX}lock:k"
    await link.client.set(lock, "crashed-process", px=300)
    seen: list[Any] = []

    async def compute() -> str:
        seen.append(await link.client.get(lock))
        return "fresh"

    assert await strings(link).get_or_compute("k", compute, keep=lambda v: True) == ("fresh", False)
    assert seen[0] not in (None, b"crashed-process")  # it waited, then held the lock itself
    assert await link.client.exists(lock) == 0


async def test_an_answer_not_kept_or_an_error_stores_nothing_and_frees_the_lock(
    link: RedisLink,
) -> None:
    cache = strings(link)
    assert await cache.get_or_compute("k", answer("x", []), keep=lambda v: False) == ("x", False)

    async def fail() -> str:
        raise ValueError("upstream said no")

    with pytest.raises(ValueError, match="upstream said no"):
        await cache.get_or_compute("k", fail, keep=lambda v: True)
    assert await link.client.keys(f"{PREFIX}*") == []


async def test_a_lock_is_released_only_by_its_holder(link: RedisLink) -> None:
    lock = f"{PREFIX}lock:k"
    await link.client.set(lock, "someone-else")
    await _release(link, lock, "my-expired-token")
    assert await link.client.get(lock) == b"someone-else"


async def test_a_limit_is_shared_by_every_process(redis_url: str, link: RedisLink) -> None:
    other = RedisLink(Redis.from_url(redis_url))
    a, b = (RedisTokenBuckets(x, 3, on_error="allow") for x in (link, other))
    for limiter in (a, b, a):
        await limiter.take("key:1")
    with pytest.raises(RateLimitedError) as caught:
        await b.take("key:1")
    assert 1 <= caught.value.retry_after <= 20  # one token in 20 s at 3 a minute
    await a.take("key:2")  # another client has its own bucket
    await other.client.aclose()


class DeadClient:
    """A Redis client whose every command fails to connect, counting the tries."""

    def __init__(self) -> None:
        self.tries = 0

    async def get(self, *args: object, **kwargs: object) -> None:
        self.tries += 1
        raise RedisConnectionError("Connection refused")

    eval = set = get


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


async def test_a_dead_redis_is_a_miss_tried_once_a_cool_down_and_logged_once(
    caplog: pytest.LogCaptureFixture,
) -> None:
    client, clock = DeadClient(), Clock()
    link = RedisLink(client, clock=clock)  # type: ignore[arg-type]
    cache, calls = strings(link), []
    caplog.set_level(logging.WARNING, logger="service.shared")
    for _ in range(5):
        assert await cache.get_or_compute("k", answer("x", calls), keep=lambda v: True) == (
            "x",
            False,
        )
    assert len(calls) == 5 and client.tries == 1 and link.errors == 5
    clock.now = 1.5  # the cool-down is over: Redis is tried again, but not logged again yet
    await cache.get_or_compute("k", answer("x", calls), keep=lambda v: True)
    assert client.tries == 2 and len(caplog.records) == 1
    clock.now = 40  # past the quiet period: one more line, saying how many were not logged
    await cache.get_or_compute("k", answer("x", calls), keep=lambda v: True)
    assert len(caplog.records) == 2 and caplog.records[1].suppressed == 1


async def test_a_dead_redis_allows_or_denies_as_set() -> None:
    link = RedisLink(DeadClient())  # type: ignore[arg-type]
    await RedisTokenBuckets(link, 10, on_error="allow").take("key:1")
    with pytest.raises(RateLimitUnavailableError) as caught:
        await RedisTokenBuckets(link, 10, on_error="deny").take("key:1")
    assert caught.value.retry_after > 0


class Stalled:
    """A cache whose single flight waits on a holder that never answers."""

    hits = misses = 0

    async def get_or_compute(self, key: str, compute: Any, keep: Any) -> Any:
        await asyncio.Event().wait()


async def test_waiting_for_another_process_is_bounded_by_the_request_deadline(
    settings: Settings, article: str
) -> None:
    settings = settings.model_copy(update={"request_deadline_s": 0.2})
    prompts = PromptRegistry.from_dir(
        settings.prompts_dir, settings.prompt_name, settings.prompt_version
    )
    request = SummaryRequest.model_validate({"article": {"text": article}})
    async with llm_from_settings(settings) as llm:
        waiting = summarize_article(
            request, prompts=prompts, llm=llm, settings=settings, cache=Stalled()
        )
        with pytest.raises(DeadlineExceededError):
            await asyncio.wait_for(waiting, 5)  # without the bound: a TimeoutError here


async def test_a_redis_that_never_answers_costs_one_timeout_then_is_skipped() -> None:
    connections = 0

    async def silent(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        nonlocal connections
        connections += 1
        await reader.read()  # read whatever comes, answer nothing, until the client goes

    server = await asyncio.start_server(silent, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    async with server, redis_link(f"redis://127.0.0.1:{port}/0", timeout_s=0.2) as link:
        cache, calls = strings(link), []
        started = time.perf_counter()
        first = cache.get_or_compute("k", answer("x", calls), keep=lambda v: True)
        assert await asyncio.wait_for(first, 5) == ("x", False)  # without a timeout: stuck
        print(f"\nfirst request with a silent Redis: {time.perf_counter() - started:.2f} s")
        for _ in range(4):
            await cache.get_or_compute("k", answer("x", calls), keep=lambda v: True)
        assert len(calls) == 5 and connections == 1 and link.errors == 5


async def test_an_unreadable_cached_answer_is_a_miss_and_is_replaced(link: RedisLink) -> None:
    def strict(raw: bytes | str) -> str:
        text = _text(raw)
        if not text.startswith("v2:"):
            raise ValueError("an older release wrote this")
        return text

    cache = RedisCache(link, 60, 5, dump=str.encode, load=strict)
    await link.client.set(f"{PREFIX}cache:k", "v1:old shape")
    calls: list[str] = []
    assert await cache.get_or_compute("k", answer("v2:new", calls), keep=lambda v: True) == (
        "v2:new",
        False,
    )
    assert await link.client.get(f"{PREFIX}cache:k") == b"v2:new" and calls == ["v2:new"]
