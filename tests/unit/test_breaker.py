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


class Clock:
    """Time that moves only when the test says so."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def opened(clock: Clock) -> CircuitBreaker:
    breaker = CircuitBreaker(failures=2, cooldown_s=30, clock=clock)
    for _ in range(2):
        breaker.before_call()
        breaker.record_failure()
    assert breaker.state == "open"
    return breaker


def test_an_open_circuit_fails_fast_with_the_cooldown_left_as_retry_after() -> None:
    clock = Clock()
    breaker = opened(clock)
    clock.now += 12
    with pytest.raises(errors.CircuitOpenError) as caught:
        breaker.before_call()
    assert caught.value.retry_after == pytest.approx(18)
    clock.now += 17.5  # under a second left: still at least 1 s, never a 0 retry-after
    with pytest.raises(errors.CircuitOpenError) as caught:
        breaker.before_call()
    assert caught.value.retry_after == 1.0


def test_after_the_cooldown_one_probe_goes_through_and_the_rest_still_fail_fast() -> None:
    clock = Clock()
    breaker = opened(clock)
    clock.now += 30
    assert breaker.state == "half-open"
    breaker.before_call()  # the probe
    with pytest.raises(errors.CircuitOpenError):
        breaker.before_call()


def test_a_good_probe_closes_the_circuit() -> None:
    clock = Clock()
    breaker = opened(clock)
    clock.now += 30
    breaker.before_call()
    breaker.record(None)
    assert breaker.state == "closed"
    breaker.before_call()
    breaker.before_call()  # closed: everyone goes through


def test_a_failed_probe_opens_it_again_for_a_whole_cooldown() -> None:
    clock = Clock()
    breaker = opened(clock)
    clock.now += 31
    breaker.before_call()
    breaker.record(errors.UpstreamUnavailableError("503"))
    assert breaker.state == "open"
    clock.now += 29
    assert breaker.state == "open"
    clock.now += 1
    assert breaker.state == "half-open"


def test_an_abandoned_probe_lets_the_next_caller_probe() -> None:
    clock = Clock()
    breaker = opened(clock)
    clock.now += 30
    breaker.before_call()
    breaker.record(asyncio.CancelledError())
    breaker.before_call()  # a new probe, not a fail-fast
    with pytest.raises(errors.CircuitOpenError):
        breaker.before_call()
