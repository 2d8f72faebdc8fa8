"""GET /metrics: the Prometheus text exposition of every newsbrief series."""

from __future__ import annotations

from fastapi import APIRouter, Response
from prometheus_client import CONTENT_TYPE_LATEST

from service.api.deps import ServicesDep

router = APIRouter(tags=["metrics"])


@router.get(
    "/metrics",
    operation_id="metrics",
    response_class=Response,
    responses={200: {"content": {"text/plain": {}}}},
)
async def metrics(services: ServicesDep) -> Response:
    """Prometheus metrics; needs an API key when keys are set, unless NEWSBRIEF_METRICS_PUBLIC."""
    if services.llm is not None:  # open turns half-open by the clock alone, with no call
        services.metrics.breaker_state(services.llm.breaker.state)
    if services.redis is not None:  # the link counts its own failures; catch up with them here
        services.metrics.redis_errors_now(services.redis.errors)
    return Response(services.metrics.exposition(), media_type=CONTENT_TYPE_LATEST)
