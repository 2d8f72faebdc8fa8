"""A circuit breaker for the LLM: after repeated failures, fail fast for a cool-down, then let one
probe call through; its success closes the circuit, its failure opens it again.

    closed ──(N failures in a row)──▶ open ──(cool-down over)──▶ half-open ──(probe ok)──▶ closed
                                       ▲                              │
                                       └────────(probe failed)────────┘
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Literal

from service.errors import CircuitOpenError, UpstreamError

State = Literal["closed", "open", "half-open"]


class CircuitBreaker:
    def __init__(
        self, failures: int, cooldown_s: float, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.threshold = failures
        self.cooldown_s = cooldown_s
        self._clock = clock
        self._failures = 0
        self._opened_at: float | None = None
        self._probing = False
        self.last_failure: str | None = None  # the public message of the latest "down" error

    @property
    def state(self) -> State:
        if self._opened_at is None:
            return "closed"
        return "open" if self._clock() - self._opened_at < self.cooldown_s else "half-open"

    def before_call(self) -> None:
        """Raise CircuitOpenError unless a call may go upstream now."""
        state = self.state
        if state == "closed":
            return
        if state == "half-open" and not self._probing:
            self._probing = True  # this caller is the probe; others still fail fast
            return
        raise CircuitOpenError(
            "the LLM failed repeatedly; calls are paused",
            retry_after=max(1.0, self.seconds_to_probe()),
            attempts=0,
        )

    def seconds_to_probe(self) -> float:
        """How long until a probe call may go through: 0 unless the circuit is open."""
        if self._opened_at is None:
            return 0.0
        return max(0.0, self.cooldown_s - (self._clock() - self._opened_at))

    def record(self, outcome: BaseException | None) -> None:
        """Book one finished call: None is a success; an error counts as its `breaker` says."""
        health = outcome.breaker if isinstance(outcome, UpstreamError) else "unknown"
        if outcome is None or health == "up":
            self.record_success()  # it answered, if not as hoped: it is up
        elif health == "down":
            self.last_failure = f"{type(outcome).__name__}: {outcome}"
            self.record_failure()
        else:
            self.abandon()  # cancelled, or our own back-pressure: no verdict either way

    def record_success(self) -> None:
        self._failures = 0
        self._opened_at = None
        self._probing = False

    def abandon(self) -> None:
        """The call ended without telling us anything about the upstream (e.g. cancelled)."""
        self._probing = False

    def record_failure(self) -> None:
        self._failures += 1
        if self._probing or self._failures >= self.threshold:
            self._opened_at = self._clock()
        self._probing = False
