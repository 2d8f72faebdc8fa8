"""The fake LLM's latency spread: deterministic, even, restarted when the latency is set; and its
answers to the benchmark's varied articles, drawn once per article."""

from __future__ import annotations

import itertools
import json
import math
import statistics

from fastapi.testclient import TestClient

from newsbrief_dev.fake_llm import FakeState, _answer, answer, create_fake_llm
from service.schemas import Options
from tests.conftest import ARTICLES


def draws(state: FakeState, n: int) -> list[float]:
    return [state.next_latency() for _ in range(n)]


def test_no_spread_is_the_fixed_latency() -> None:
    assert draws(FakeState(latency_s=0.5), 5) == [0.5] * 5


def test_spread_fills_the_range_evenly_with_the_median_at_the_latency() -> None:
    for n in (101, 400, 999):
        waits = sorted(draws(FakeState(latency_s=0.5, spread=0.4), n))
        assert waits[0] >= 0.3 and waits[-1] < 0.7
        # Undone, the cube gives back v: evenly spread at every length, no gap wider than a few
        # times the mean one (2 / n), as n random draws would not be.
        vs = [math.copysign(abs((w / 0.5 - 1) / 0.4) ** (1 / 3), w - 0.5) for w in waits]
        assert max(b - a for a, b in itertools.pairwise(vs)) < 3 * 2 / n
        # The median within a hair of the latency: near it the cube packs the latencies closely.
        assert abs(statistics.median(waits) - 0.5) < 1e-4
        # ... and they do spread out: a quarter of them at least 25 ms from it.
        assert sum(abs(w - 0.5) >= 0.025 for w in waits) >= n / 4


def test_two_runs_of_nearly_the_same_length_draw_nearly_the_same_latencies() -> None:
    one = draws(FakeState(latency_s=0.5, spread=0.2), 400)
    other = draws(FakeState(latency_s=0.5, spread=0.2), 396)
    assert abs(statistics.median(one) - statistics.median(other)) < 0.001
    assert one[:396] == other  # the same sequence, not a fresh draw


def test_setting_the_latency_restarts_the_sequence_and_checks_the_spread() -> None:
    app = create_fake_llm()
    with TestClient(app) as client:
        asked = {"seconds": 0.5, "spread": 0.2}
        assert client.post("/_fake/latency", json=asked).json() == {"latency_s": 0.5, "spread": 0.2}
        first = draws(app.state.fake, 7)
        client.post("/_fake/latency", json=asked)
        assert draws(app.state.fake, 7) == first
        assert client.get("/_fake/stats").json()["spread"] == 0.2
        refused = client.post("/_fake/latency", json={"seconds": 0.5, "spread": 1.5})
        assert refused.status_code == 422
        assert app.state.fake.spread == 0.2  # a refused setting changes nothing


def test_the_benchmark_s_reference_line_draws_the_article_s_one_answer() -> None:
    article = (ARTICLES / "ferry-levy.txt").read_text(encoding="utf-8")
    first = answer(article + "\n\nRef. 17-1.")
    misses = _answer.cache_info().misses
    assert answer(article + "\n\nRef. 17-2.") == first == answer(article)
    assert _answer.cache_info().misses == misses
    # Anything else in the text is an article of its own.
    answer(article + "\n\nRef. 17-3. More.")
    assert _answer.cache_info().misses == misses + 1


def test_a_long_article_gets_no_more_bullets_and_claims_than_the_prompt_asks_for() -> None:
    """bench-full's long-article row repeats an article to 200,000 characters: every quote in it
    as a claim would fail the service's checks (more than 100 claims), as no model would."""
    article = (ARTICLES / "ferry-levy.txt").read_text(encoding="utf-8")
    long = "\n\n".join([article] * 60)
    data = json.loads(answer(long))
    asked = Options()
    assert 0 < len(data["claims"]) == asked.max_claims
    assert len(data["summary"]["bullets"]) <= asked.max_bullets
