"""The app factory: settings in, a FastAPI app out, with clients built once in the lifespan."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import Depends, FastAPI
from fastapi_offline import FastAPIOffline

from service import __version__
from service.api import problems
from service.api.deps import Services
from service.api.middleware import BodyLimit, RequestId
from service.api.routes import health, prompts, summaries
from service.api.security import Guard
from service.cache import ResultCache
from service.llm import llm_from_settings
from service.prompts import PromptRegistry
from service.schemas import SummaryResponse
from service.settings import Settings, get_settings


def create_app(settings: Settings | None = None) -> FastAPI:
    settings = settings or get_settings()
    # Load prompts now, not in the lifespan: a broken prompt file stops start-up with its name.
    registry = PromptRegistry.from_dir(
        settings.prompts_dir, settings.prompt_name, settings.prompt_version
    )

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        async with llm_from_settings(settings) as llm:
            cache: ResultCache[SummaryResponse] | None = (
                ResultCache(settings.cache_size, settings.cache_ttl_s)
                if settings.cache_size
                else None
            )
            app.state.services = Services(settings, registry, llm, cache)
            yield

    # A FastAPI app whose /docs and /redoc pages load their scripts from the package, not a CDN.
    app = FastAPIOffline(
        title="newsbrief",
        version=__version__,
        summary="News article → structured, evidence-grounded brief.",
        lifespan=lifespan,
    )
    problems.install(app)
    # Added last = outermost: every response, 413s included, carries the request id.
    app.add_middleware(BodyLimit, max_bytes=settings.max_body_bytes)
    app.add_middleware(RequestId)
    guarded = [Depends(Guard(settings))]
    app.include_router(health.router)
    app.include_router(prompts.router, dependencies=guarded)
    app.include_router(summaries.router, dependencies=guarded)
    return app
