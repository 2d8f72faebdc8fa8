"""Prometheus metrics: every series newsbrief exports, and the small functions that record them.

One `Metrics` per app, on a registry of its own, so two apps in one process (tests) never share
counts. Labels stay bounded: route templates (never raw paths), the configured model, loaded
prompt refs, error classes, warning codes; never article text, ids or keys.

With PROMETHEUS_MULTIPROC_DIR set before the process starts, prometheus_client keeps every value
in files in that directory, one set per worker process, and a scrape adds up all the workers'
files; gauges then say how they combine (`multiprocess_mode`).
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from typing import Literal, TypeVar, cast

from prometheus_client import (
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
    multiprocess,
)
from prometheus_client.metrics import MetricWrapperBase

from service.breaker import State
from service.schemas import SummaryResponse

M = TypeVar("M", bound=MetricWrapperBase)
BREAKER_STATES: tuple[State, ...] = ("closed", "open", "half-open")
# From a cached answer (a few ms) to the 90 s default request deadline.
LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120)


class Metrics:
    """The metric objects, and one recording method per event the service reports."""

    def __init__(self, multiprocess_dir: str | None = None) -> None:
        self.multiprocess_dir = multiprocess_dir
        self.registry = r = CollectorRegistry()
        self.http_requests = Counter(
            "newsbrief_http_requests",
            "HTTP requests answered, by route template, method and status",
            ["route", "method", "status"],
            registry=r,
        )
        self.http_duration = Histogram(
            "newsbrief_http_request_duration_seconds",
            "Time from request start to the end of the response, by route template and method",
            ["route", "method"],
            buckets=LATENCY_BUCKETS,
            registry=r,
        )
        self.http_in_flight = Gauge(
            "newsbrief_http_requests_in_flight",
            "HTTP requests being answered now",
            registry=r,
            multiprocess_mode="livesum",
        )
        self.errors = Counter(
            "newsbrief_errors",
            "Requests answered with one of newsbrief's own problems, by problem type "
            "(llm-*: upstream failures)",
            ["type"],
            registry=r,
        )
        self.llm_calls = Counter(
            "newsbrief_llm_calls",
            "Calls sent to the LLM (each retry and reask is one), by model and prompt",
            ["model", "prompt"],
            registry=r,
        )
        self.llm_retries = Counter(
            "newsbrief_llm_retries",
            "LLM calls repeated after a transient fault",
            ["model", "prompt"],
            registry=r,
        )
        self.llm_reasks = Counter(
            "newsbrief_llm_reasks",
            "LLM calls that send an answer back with its problems",
            ["model", "prompt"],
            registry=r,
        )
        self.llm_tokens = Counter(
            "newsbrief_llm_tokens",
            "Tokens the LLM reported, by model, prompt and kind (prompt or completion)",
            ["model", "prompt", "kind"],
            registry=r,
        )
        self.llm_failures = Counter(
            "newsbrief_llm_failures",
            "LLM calls that failed, by error class (the `error` of the WARNING log line)",
            ["model", "error"],
            registry=r,
        )
        self.llm_in_flight = Gauge(
            "newsbrief_llm_calls_in_flight",
            "Calls to the LLM waiting for an answer now",
            registry=r,
            multiprocess_mode="livesum",
        )
        self.breaker = Gauge(
            "newsbrief_llm_breaker_state",
            "1 for the LLM circuit breaker's current state, 0 for the others",
            ["state"],
            registry=r,
            multiprocess_mode="livemax",  # with workers: 1 if any live worker is in that state
        )
        self.claims_returned = Counter(
            "newsbrief_claims_returned", "Claims returned in answers", registry=r
        )
        self.claims_dropped = Counter(
            "newsbrief_claims_dropped",
            "Claims left out of answers, by reason (the claim_dropped_* warning code)",
            ["reason"],
            registry=r,
        )
        self.warnings = Counter(
            "newsbrief_response_warnings",
            "Warnings in answers, by code",
            ["code"],
            registry=r,
        )
        self.redis_errors = Counter(
            "newsbrief_redis_errors",
            "Redis calls that failed or were skipped in a cool-down (shared state only)",
            registry=r,
        )
        self._redis_errors_seen = 0
        self._children: dict[tuple[MetricWrapperBase, tuple[str, ...]], MetricWrapperBase] = {}
        self._breaker_shown: State | None = None
        self.cache = Counter(
            "newsbrief_cache_lookups",
            "Result cache lookups that answered an LLM request: hit, or miss (a fresh answer)",
            ["result"],
            registry=r,
        )
        self.store_writes = Counter(
            "newsbrief_store_writes",
            "Answers handed to the store, by outcome: stored, failed (the database refused or "
            "was unreachable), refused (queue full, or the store failed moments ago)",
            ["outcome"],
            registry=r,
        )
        for outcome in ("stored", "failed", "refused"):
            self.store_writes.labels(outcome)

    def _child(self, metric: M, *values: str) -> M:
        """metric.labels(*values), looked up once: labels() checks and locks on every call
        (~3 us), several times a request. Label values are bounded (above), so is this dict."""
        key = (metric, values)
        child = self._children.get(key)
        if child is None:
            child = self._children[key] = metric.labels(*values)
        return cast(M, child)

    def prepare(self, model: str, prompts: Iterable[str]) -> None:
        """Show the LLM series at 0 from the start: a rate over a missing series shows nothing."""
        for prompt in prompts:
            for counter in (self.llm_calls, self.llm_retries, self.llm_reasks):
                counter.labels(model, prompt)
            for kind in ("prompt", "completion"):
                self.llm_tokens.labels(model, prompt, kind)
        for result in ("hit", "miss"):
            self.cache.labels(result)

    def request(self, route: str, method: str, status: int, seconds: float) -> None:
        self._child(self.http_requests, route, method, str(status)).inc()
        self._child(self.http_duration, route, method).observe(seconds)

    def error(self, problem_type: str) -> None:
        self._child(self.errors, problem_type).inc()

    def llm_call(
        self,
        model: str,
        prompt: str,
        prompt_tokens: int,
        completion_tokens: int,
        failure: BaseException | None,
    ) -> None:
        """One call that went upstream: its tokens, and its error class if it failed."""
        self._child(self.llm_calls, model, prompt).inc()
        self._child(self.llm_tokens, model, prompt, "prompt").inc(prompt_tokens)
        self._child(self.llm_tokens, model, prompt, "completion").inc(completion_tokens)
        if failure is not None:
            self._child(self.llm_failures, model, type(failure).__name__).inc()

    def llm_retry(self, model: str, prompt: str) -> None:
        self._child(self.llm_retries, model, prompt).inc()

    def llm_reask(self, model: str, prompt: str) -> None:
        self._child(self.llm_reasks, model, prompt).inc()

    def redis_errors_now(self, total: int) -> None:
        """Bring the counter up to the Redis link's own running count (read at each scrape)."""
        self.redis_errors.inc(max(0, total - self._redis_errors_seen))
        self._redis_errors_seen = max(total, self._redis_errors_seen)

    def store_written(self, outcome: str, answers: int) -> None:
        self._child(self.store_writes, outcome).inc(answers)

    def breaker_state(self, state: State) -> None:
        if state == self._breaker_shown:  # after every call, and nearly always unchanged
            return
        self._breaker_shown = state
        for name in BREAKER_STATES:
            self.breaker.labels(name).set(1 if name == state else 0)

    def answered(self, response: SummaryResponse, cache: Literal["hit", "miss"] | None) -> None:
        """One answer sent: its claims, its warnings, and whether the cache gave it."""
        self.claims_returned.inc(len(response.claims))
        for warning in response.warnings:
            self._child(self.warnings, warning.code).inc()
            if warning.code.startswith("claim_dropped_"):
                self._child(self.claims_dropped, warning.code).inc()
        if cache is not None:
            self._child(self.cache, cache).inc()

    def exposition(self) -> bytes:
        """The text format for a scrape: this process's series, or every worker's."""
        if self.multiprocess_dir is None:
            return generate_latest(self.registry)
        registry = CollectorRegistry()
        # prometheus_client's multiprocess module has no annotations.
        multiprocess.MultiProcessCollector(registry, path=self.multiprocess_dir)  # type: ignore[no-untyped-call]
        return generate_latest(registry)

    def close(self) -> None:
        """This worker is stopping: its live gauges leave the shared directory with it."""
        if self.multiprocess_dir is not None:
            multiprocess.mark_process_dead(os.getpid(), self.multiprocess_dir)  # type: ignore[no-untyped-call]
