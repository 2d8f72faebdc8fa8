"""The app factory: settings in, a FastAPI app out, with clients built once in the lifespan."""

from __future__ import annotations

import gc
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import NamedTuple

from fastapi import FastAPI
from fastapi_offline import FastAPIOffline

from service import __version__
from service.api import problems
from service.api.deps import Services
from service.api.middleware import BodyLimit, RequestId
from service.api.openapi import document
from service.api.routes import health, prompts, summaries
from service.api.security import Guard
from service.cache import Cache, ResultCache
from service.llm import llm_from_settings
from service.prompts import PromptRegistry
from service.ratelimit import RateLimiter, TokenBuckets
from service.schemas import SummaryResponse
from service.settings import Settings, get_settings
from service.shared import RedisCache, RedisLink, RedisTokenBuckets, redis_link


def create_app(settings: Settings | None = None) -> FastAPI:
    settings = settings or get_settings()
    # Load prompts now, not in the lifespan: a broken prompt file stops start-up with its name.
    registry = PromptRegistry.from_dir(
        settings.prompts_dir, settings.prompt_name, settings.prompt_version
    )

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        async with llm_from_settings(settings) as llm, state(settings) as shared:
            app.state.services = Services(settings, registry, llm, *shared)
            # What is alive now (modules, schemas, the app) lives as long as the process. Moved
            # out of the collector's sight, it no longer makes each full collection long: one
            # triggered by a worker thread's allocations holds the GIL, so the event loop waits.
            gc.freeze()
            yield

    # /docs and /redoc load their scripts from the package (fastapi-offline), not a CDN.
    app = FastAPIOffline(
        title="newsbrief",
        version=__version__,
        summary="News article → structured, evidence-grounded brief.",
        lifespan=lifespan,
    )
    document(app, keys_required=bool(settings.api_keys))
    problems.install(app)
    # Added last = outermost. Every response carries the request id; the key and rate limit
    # are checked before a byte of body is read, then the body is read within its limits.
    app.add_middleware(
        BodyLimit, max_bytes=settings.max_body_bytes, timeout_s=settings.body_timeout_s
    )
    app.add_middleware(Guard, settings=settings)
    app.add_middleware(RequestId)
    app.include_router(health.router)
    app.include_router(prompts.router)
    app.include_router(summaries.router)
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
