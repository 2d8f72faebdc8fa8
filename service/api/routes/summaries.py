"""POST /v1/summaries: one article in, one grounded brief out."""

from __future__ import annotations

import asyncio
import logging
import time
from contextlib import suppress

from fastapi import APIRouter, Request, Response

from service.api.deps import ServicesDep
from service.api.openapi import problem_responses
from service.pipeline import summarize_article
from service.schemas import SummaryRequest, SummaryResponse

log = logging.getLogger(__name__)
router = APIRouter(prefix="/v1", tags=["summaries"])

CLIENT_CLOSED = 499  # nginx's code: the client went away; nobody reads this response


async def _client_gone(request: Request) -> None:
    while (await request.receive())["type"] != "http.disconnect":
        pass


@router.post(
    "/summaries",
    operation_id="createSummary",
    responses=problem_responses(400, 401, 404, 408, 413, 415, 422, 429, 431, 502, 503, 504),
    response_model=SummaryResponse,
)
async def create_summary(body: SummaryRequest, services: ServicesDep, request: Request) -> Response:
    """Summarise an article; every claim's evidence is verified verbatim against article.text."""
    started = time.perf_counter()
    work = asyncio.ensure_future(
        summarize_article(
            body,
            prompts=services.prompts,
            llm=services.llm,
            settings=services.settings,
            cache=services.cache,
        )
    )
    gone = asyncio.ensure_future(_client_gone(request))
    try:
        await asyncio.wait({work, gone}, return_when=asyncio.FIRST_COMPLETED)
    finally:
        gone.cancel()
    if not work.done():  # the client disconnected: stop paying for an answer nobody will read
        work.cancel()
        with suppress(asyncio.CancelledError):
            await work
        log.info("client disconnected; summary cancelled")
        return Response(status_code=CLIENT_CLOSED)
    result = work.result()  # re-raises the pipeline's error for the problem handlers
    through_cache = services.cache is not None and result.engine == "llm"
    services.metrics.answered(
        result, cache=("hit" if result.cached else "miss") if through_cache else None
    )
    log.info(
        "summary",
        extra={
            "engine": result.engine,
            "cached": result.cached,
            "claims": len(result.claims),
            "warnings": [w.code for w in result.warnings],
            "llm_calls": result.usage.llm_calls,
            "reasks": result.usage.reasks,
            "retries": result.usage.retries,
            "ms": round((time.perf_counter() - started) * 1000, 1),
        },
    )
    # The pipeline built and checked the model: it goes out as its JSON, not validated again.
    return Response(result.model_dump_json(), media_type="application/json")
