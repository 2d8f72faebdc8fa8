"""The circuit breaker hears each finished call once; the error's `breaker` field is the verdict."""

from __future__ import annotations

import asyncio

import pytest

from service import errors
from service.breaker import CircuitBreaker


@pytest.mark.parametrize(
    ("outcome", "opens"),
    [
        pytest.param(errors.UpstreamUnavailableError("503"), True, id="unavailable"),
        pytest.param(errors.BadUpstreamResponseError("html"), True, id="bad-response"),
        pytest.param(errors.UpstreamQuotaError("quota"), True, id="quota"),
        pytest.param(errors.UpstreamRejectedError("401"), False, id="rejected-it-answered"),
        pytest.param(errors.ContentFilterError(), False, id="content-filter-it-answered"),
        pytest.param(errors.OutputBudgetError(100, 100), False, id="budget-it-answered"),
        pytest.param(errors.CapacityError("ours"), False, id="capacity-ours"),
        pytest.param(asyncio.CancelledError(), False, id="cancelled"),
        pytest.param(None, False, id="success"),
    ],
)
def test_what_each_outcome_tells_the_breaker(outcome: BaseException | None, opens: bool) -> None:
    breaker = CircuitBreaker(failures=2, cooldown_s=60)
    for _ in range(2):
        breaker.before_call()
        breaker.record(outcome)
    assert (breaker.state == "open") is opens


def test_a_success_resets_the_count_and_an_abandoned_call_does_not() -> None:
    breaker = CircuitBreaker(failures=2, cooldown_s=60)
    breaker.record(errors.UpstreamUnavailableError("503"))
    breaker.record(asyncio.CancelledError())
    breaker.record(errors.UpstreamUnavailableError("503"))
    assert breaker.state == "open"
    breaker = CircuitBreaker(failures=2, cooldown_s=60)
    breaker.record(errors.UpstreamUnavailableError("503"))
    breaker.record(None)
    breaker.record(errors.UpstreamUnavailableError("503"))
    assert breaker.state == "closed"
