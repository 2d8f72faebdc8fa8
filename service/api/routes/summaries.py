"""POST /v1/summaries: one article in, one grounded brief out."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter

from service.api.deps import ServicesDep
from service.pipeline import summarize_article
from service.schemas import SummaryRequest, SummaryResponse

router = APIRouter(prefix="/v1", tags=["summaries"])

_PROBLEM: dict[str, Any] = {"content": {"application/problem+json": {}}}
ERRORS: dict[int | str, dict[str, Any]] = {
    404: {"description": "Unknown prompt version", **_PROBLEM},
    413: {"description": "Article text over the configured maximum", **_PROBLEM},
    422: {"description": "Invalid body, or empty article text", **_PROBLEM},
    502: {"description": "The LLM's answer was unusable (invalid, refused, rejected)", **_PROBLEM},
    503: {"description": "The LLM is unreachable or rate-limited; see Retry-After", **_PROBLEM},
    504: {"description": "The request deadline ran out", **_PROBLEM},
}


@router.post("/summaries", responses=ERRORS)
async def create_summary(body: SummaryRequest, services: ServicesDep) -> SummaryResponse:
    """Summarise an article; every claim's evidence is verified verbatim against article.text."""
    return await summarize_article(
        body, prompts=services.prompts, llm=services.llm, settings=services.settings
    )
