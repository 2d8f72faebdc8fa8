"""What routes need, built once in the app lifespan and handed out through Depends."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Annotated

from fastapi import Depends, Request

from service.cache import Cache
from service.llm import LLMClient
from service.metrics import Metrics
from service.prompts import PromptRegistry
from service.ratelimit import RateLimiter
from service.schemas import SummaryResponse
from service.settings import Settings
from service.shared import RedisLink
from service.store import Store, Writer


@dataclass(frozen=True)
class Services:
    settings: Settings
    prompts: PromptRegistry
    llm: LLMClient | None
    cache: Cache[SummaryResponse] | None = None
    limiter: RateLimiter | None = None
    redis: RedisLink | None = None  # set when state is shared; its `errors` are for metrics
    metrics: Metrics = field(default_factory=Metrics)
    store: Store | None = None  # None: NEWSBRIEF_STORE=off
    writer: Writer | None = None  # the store's write path, beside it


async def get_services(request: Request) -> Services:  # async: sync ones run in a thread pool
    services: Services = request.app.state.services
    return services


ServicesDep = Annotated[Services, Depends(get_services)]
