"""The app factory: settings in, a FastAPI app out, with clients built once in the lifespan."""

from __future__ import annotations

import asyncio
import gc
import logging
import os
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import NamedTuple
from urllib.parse import urlsplit

from fastapi import FastAPI
from fastapi_offline import FastAPIOffline
from sqlalchemy.engine import make_url

from service import __version__, tracing
from service.api import problems
from service.api.deps import Services
from service.api.middleware import BodyLimit, Observe, RequestId
from service.api.openapi import document
from service.api.routes import health, metrics, prompts, stored, summaries
from service.api.security import Guard
from service.cache import Cache, ResultCache
from service.errors import StoreUnavailableError
from service.llm import LLMClient, llm_from_settings
from service.metrics import Metrics
from service.prompts import PromptRegistry
from service.ratelimit import RateLimiter, TokenBuckets
from service.schemas import SummaryResponse
from service.settings import Settings, get_settings
from service.shared import RedisCache, RedisLink, RedisTokenBuckets, redis_link
from service.store import Store, Writer, open_store, retention

log = logging.getLogger(__name__)


def create_app(settings: Settings | None = None) -> FastAPI:
    settings = settings or get_settings()
    # The standard OTEL_* variables turn tracing on (with the otel extra installed).
    if (provider := tracing.from_environment(os.environ)) is not None:
        tracing.install(provider)
    observed = Metrics(settings.prometheus_multiproc_dir)
    # Load prompts now, not in the lifespan: a broken prompt file stops start-up with its name.
    registry = PromptRegistry.from_dir(
        settings.prompts_dir, settings.prompt_name, settings.prompt_version
    )

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        async with (
            llm_from_settings(settings, observed) as llm,
            state(settings) as shared,
            keeping(settings, observed) as (store, writer),
        ):
            app.state.services = Services(
                settings, registry, llm, *shared, metrics=observed, store=store, writer=writer
            )
            if llm is not None:
                observed.breaker_state(llm.breaker.state)
                observed.prepare(llm.model, (p.ref for p in registry))
            _announce(settings, registry, llm)
            app.openapi()  # built once now: Observe reads its paths for requests refused early
            # What is alive now (modules, schemas, the app) lives as long as the process. Moved
            # out of the collector's sight, it no longer makes each full collection long: one
            # triggered by a worker thread's allocations holds the GIL, so the event loop waits.
            gc.freeze()
            try:
                yield
            finally:
                observed.close()

    # /docs and /redoc load their scripts from the package (fastapi-offline), not a CDN.
    app = FastAPIOffline(
        title="newsbrief",
        version=__version__,
        summary="News article → structured, evidence-grounded brief.",
        lifespan=lifespan,
        # FastAPI's own request spans, on our provider only: its metrics and logs stay off
        # (Prometheus and our JSON logs do those), and so does all of it while tracing is off.
        telemetry={
            "tracing": tracing.enabled(),
            "tracer_provider": tracing.provider(),
            "metrics": False,
            "logs": False,
            "auto_configure": False,
        },
    )
    document(app, keys_required=bool(settings.api_keys))
    app.state.metrics = observed  # the problem handlers count errors by type here
    problems.install(app)
    # Added last = outermost. Every response carries the request id and is counted; the key and
    # rate limit are checked before a byte of body is read, then the body is read within limits.
    app.add_middleware(
        BodyLimit, max_bytes=settings.max_body_bytes, timeout_s=settings.body_timeout_s
    )
    app.add_middleware(Guard, settings=settings)
    app.add_middleware(Observe, metrics=observed)
    app.add_middleware(RequestId)
    app.include_router(health.router)
    app.include_router(metrics.router)
    app.include_router(prompts.router)
    app.include_router(summaries.router)
    app.include_router(stored.router)
    return app


class State(NamedTuple):
    """The result cache and the rate limiter, and the Redis link when they are shared."""

    cache: Cache[SummaryResponse] | None
    limiter: RateLimiter | None
    redis: RedisLink | None = None


@asynccontextmanager
async def state(settings: Settings) -> AsyncIterator[State]:
    """The state that processes may share: kept in this process, or in Redis when it is set."""
    rate = settings.rate_limit_per_minute
    if settings.redis_url is None:
        size, ttl = settings.cache_size, settings.cache_ttl_s
        yield State(ResultCache(size, ttl) if size else None, TokenBuckets(rate) if rate else None)
        return
    url = settings.redis_url.get_secret_value()
    async with redis_link(url, settings.redis_timeout_s) as link:
        # A lock lives as long as one request may take, so a crashed holder frees it in time.
        cache = RedisCache(
            link,
            settings.cache_ttl_s,
            lock_s=settings.request_deadline_s,
            dump=lambda r: r.model_dump_json().encode(),
            load=SummaryResponse.model_validate_json,
        )
        limiter = RedisTokenBuckets(link, rate, settings.rate_limit_on_redis_error)
        yield State(cache if settings.cache_size else None, limiter if rate else None, link)


@asynccontextmanager
async def keeping(
    settings: Settings, metrics: Metrics
) -> AsyncIterator[tuple[Store | None, Writer | None]]:
    """The store with its writer and retention task running, or nothing when it is off."""
    if settings.store == "off":
        yield None, None
        return
    async with open_store(settings, migrate=False) as store:
        writer = Writer(store, settings.store_queue_size, on_written=metrics.store_written)
        try:
            await store.migrate()
        except StoreUnavailableError as exc:
            # Answers go on without the store (each says not_stored); the writer migrates first.
            log.error("store unavailable at start-up", extra={"reason": exc.reason})
            writer.last_failure = exc.reason
        writer.start()
        cleanup = None
        if settings.retention_days:
            cleanup = asyncio.create_task(retention.keep_removing(store, settings.retention_days))
        try:
            yield store, writer
        finally:
            if cleanup is not None:
                cleanup.cancel()
            await writer.close(timeout_s=settings.shutdown_grace_s)


def _announce(settings: Settings, registry: PromptRegistry, llm: LLMClient | None) -> None:
    """One INFO line at start-up saying what answers and within which limits; never the key."""
    upstream = urlsplit(settings.llm_base_url or "https://api.openai.com/v1")
    host = f"{upstream.hostname}:{upstream.port}" if upstream.port else upstream.hostname
    facts: dict[str, object] = {
        "engine": "llm" if llm else "extractive",
        "model": llm.model if llm else None,
        "upstream_host": host if llm else None,
        "provider": settings.llm_provider if llm else None,
        "default_prompt": registry.default_ref,
        "max_article_chars": settings.max_article_chars,
        "max_body_bytes": settings.max_body_bytes,
        "request_deadline_s": settings.request_deadline_s,
        "llm_max_concurrency": settings.llm_max_concurrency,
        "llm_max_attempts": settings.llm_max_attempts,
        "llm_max_reasks": settings.llm_max_reasks,
        "rate_limit_per_minute": settings.rate_limit_per_minute,
        "cache_size": settings.cache_size,
        "store": _store_shown(settings),
        "retention_days": settings.retention_days or None,
        "api_keys": len(settings.api_keys),
        "metrics_public": settings.metrics_public,
        "tracing": tracing.enabled(),
    }
    shown = " ".join(f"{k}={v}" for k, v in facts.items() if v is not None)
    log.info(f"newsbrief starting: {shown}", extra=facts)


def _store_shown(settings: Settings) -> str:
    """Where answers are kept, without the database password."""
    if settings.store == "off":
        return "off"
    if settings.database_url is None:
        return f"sqlite:{settings.data_dir}"
    url = make_url(settings.database_url.get_secret_value())
    return url.render_as_string(hide_password=True)
