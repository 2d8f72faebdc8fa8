"""Two `newsbrief serve` processes share one real redis-server: one cache, one flight, one limit.

Also what happens when Redis dies under them: answers go on (cache misses), the rate limit allows
or denies as set, nothing is a 500, and the failure is logged once, not once per request.
"""

from __future__ import annotations

import tempfile
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import ExitStack
from typing import Any

import httpx
import pytest

from tests.conftest import ARTICLES
from tests.support import fake_llm, redis_server, service, stop

pytestmark = pytest.mark.e2e
ARTICLE = (ARTICLES / "ferry-levy.txt").read_text(encoding="utf-8")
LLM = {"llm_model": "fake-model", "llm_backoff_initial_s": "0.01"}


def article(tag: str) -> dict[str, Any]:
    """A request for an article no other test sends, so its cache key is its own."""
    return {"article": {"text": f"{ARTICLE}\n\nFiled from the harbour office, run {tag}."}}


def upstream_calls(fake: str) -> int:
    calls: int = httpx.get(f"{fake}/_fake/stats").json()["requests"]
    return calls


@pytest.fixture(scope="module")
def pair() -> Iterator[dict[str, str]]:
    """A fake LLM, one Redis, and services A and B using both (rate limit 5 a minute per key)."""
    with ExitStack() as stack:
        fake = stack.enter_context(fake_llm(latency_s=0.5))
        url, _ = stack.enter_context(redis_server())
        shared = LLM | {
            "llm_base_url": f"{fake}/v1",
            "redis_url": url,
            "api_keys": "key-cache,key-flight,key-limit",
            "rate_limit_per_minute": "5",
        }
        a = stack.enter_context(service(**shared))
        b = stack.enter_context(service(**shared))
        yield {"fake": fake, "a": a, "b": b}


def post(base: str, body: dict[str, Any], key: str) -> httpx.Response:
    return httpx.post(f"{base}/v1/summaries", json=body, headers={"X-API-Key": key}, timeout=30)


def test_an_answer_through_a_is_a_cache_hit_through_b(pair: dict[str, str]) -> None:
    body = article("cache-hit")
    before = upstream_calls(pair["fake"])
    first = post(pair["a"], body, "key-cache")
    assert first.status_code == 200 and first.json()["cached"] is False
    after_a = upstream_calls(pair["fake"])
    second = post(pair["b"], body, "key-cache")
    assert second.status_code == 200 and second.json()["cached"] is True
    assert after_a - before == 1
    assert upstream_calls(pair["fake"]) == after_a  # B paid nothing
    assert second.json()["summary"] == first.json()["summary"]


def test_concurrent_identical_requests_through_a_and_b_make_one_upstream_call(
    pair: dict[str, str],
) -> None:
    body = article("single-flight")
    before = upstream_calls(pair["fake"])

    with ThreadPoolExecutor(4) as pool:  # 4: under the key's limit of 5
        bases = [pair["a"], pair["b"], pair["a"], pair["b"]]
        replies = list(pool.map(lambda base: post(base, body, "key-flight"), bases))
    assert [r.status_code for r in replies] == [200] * 4
    assert upstream_calls(pair["fake"]) - before == 1  # the fake answers after 0.5 s
    assert sorted(r.json()["cached"] for r in replies) == [False, True, True, True]


def test_a_key_limited_to_n_a_minute_gets_n_in_total_across_a_and_b(
    pair: dict[str, str],
) -> None:
    headers = {"X-API-Key": "key-limit"}  # the key, not the process, is what is limited
    statuses = [
        httpx.get(f"{pair['a' if i % 2 else 'b']}/v1/prompts", headers=headers).status_code
        for i in range(12)
    ]
    assert statuses.count(200) == 5 and statuses.count(429) == 7, statuses


@pytest.fixture
def doomed() -> Iterator[dict[str, Any]]:
    """Services that allow and that deny when Redis fails, on a Redis the test will kill."""
    with ExitStack() as stack:
        fake = stack.enter_context(fake_llm())
        url, proc = stack.enter_context(redis_server())
        common = LLM | {"llm_base_url": f"{fake}/v1", "redis_url": url}
        common |= {"rate_limit_per_minute": "1000", "redis_timeout_s": "0.2"}
        log = stack.enter_context(tempfile.TemporaryFile())
        allow = stack.enter_context(service(log, rate_limit_on_redis_error="allow", **common))
        deny = stack.enter_context(service(rate_limit_on_redis_error="deny", **common))
        yield {"fake": fake, "allow": allow, "deny": deny, "redis": proc, "log": log}


def test_redis_killed_mid_run_answers_go_on_and_the_limit_does_as_set(
    doomed: dict[str, Any],
) -> None:
    body = article("redis-killed")
    warm = httpx.post(f"{doomed['allow']}/v1/summaries", json=body, timeout=30)
    assert warm.status_code == 200
    assert httpx.post(f"{doomed['allow']}/v1/summaries", json=body, timeout=30).json()["cached"]

    stop(doomed["redis"])
    before = upstream_calls(doomed["fake"])
    replies = [
        httpx.post(f"{doomed['allow']}/v1/summaries", json=body, timeout=30) for _ in range(8)
    ]
    assert [r.status_code for r in replies] == [200] * 8
    assert not any(r.json()["cached"] for r in replies)  # a miss: the LLM answered each
    assert upstream_calls(doomed["fake"]) - before == 8

    denied = httpx.get(f"{doomed['deny']}/v1/prompts")
    assert denied.status_code == 503, denied.text
    assert denied.json()["type"].endswith("/rate-limit-unavailable")
    assert int(denied.headers["Retry-After"]) >= 1
    assert httpx.get(f"{doomed['deny']}/healthz").status_code == 200  # probes stay open

    doomed["log"].seek(0)
    lines = doomed["log"].read().decode(errors="replace").splitlines()
    assert sum("redis unavailable" in line for line in lines) == 1, lines[-5:]
    assert not any("unhandled error" in line or "unexpected error" in line for line in lines)
