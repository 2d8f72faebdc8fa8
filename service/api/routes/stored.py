"""The store's API: kept summaries by id and in lists, claims across articles, feedback."""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, Path, Query, Response

from service.api.deps import ServicesDep
from service.api.openapi import problem_responses
from service.errors import NotStoredError
from service.schemas import (
    ONE_LINE_PATTERN,
    ClaimPage,
    FeedbackIn,
    FeedbackList,
    FeedbackOut,
    QueryDateTime,
    Stance,
    SummaryPage,
    SummaryResponse,
)
from service.store import Store

router = APIRouter(prefix="/v1", tags=["store"])

SummaryId = Annotated[
    str,
    Path(
        description="the `id` of a summary response",
        min_length=1,
        max_length=64,
        pattern=ONE_LINE_PATTERN,
    ),
]
Since = Annotated[QueryDateTime | None, Query(description="kept at or after (RFC 3339)")]
Until = Annotated[QueryDateTime | None, Query(description="kept before (RFC 3339)")]
Cursor = Annotated[
    str | None,
    Query(
        max_length=500, pattern=ONE_LINE_PATTERN, description="`next_cursor` of the previous page"
    ),
]
Limit = Annotated[int, Query(ge=1, le=200, description="items per page")]
READ_ERRORS = problem_responses(401, 404, 422, 429, 431, 503)
LIST_ERRORS = problem_responses(400, 401, 404, 422, 429, 431, 503)
STORED_AT = {
    "Stored-At": {
        "description": "when the summary was kept (RFC 3339, UTC)",
        "schema": {"type": "string", "format": "date-time"},
    }
}


def _store(services: ServicesDep) -> Store:
    if services.store is None:
        raise NotStoredError("the store is off (NEWSBRIEF_STORE=off): nothing is kept")
    return services.store


@router.get(
    "/summaries/{summary_id}",
    operation_id="getSummary",
    response_model=SummaryResponse,
    responses={200: {"headers": STORED_AT}, **READ_ERRORS},
)
async def get_summary(summary_id: SummaryId, services: ServicesDep) -> Response:
    """A kept summary: the response body byte for byte as it was sent, and when it was kept."""
    stored = await _store(services).get(summary_id)
    stored_at = stored.created_at.isoformat().replace("+00:00", "Z")
    return Response(stored.body, media_type="application/json", headers={"Stored-At": stored_at})


@router.delete(
    "/summaries/{summary_id}",
    operation_id="deleteSummary",
    status_code=204,
    response_class=Response,
    responses=READ_ERRORS,
)
async def delete_summary(summary_id: SummaryId, services: ServicesDep) -> Response:
    """Remove a kept summary with its article text, claims and feedback."""
    await _store(services).delete(summary_id)
    return Response(status_code=204)


@router.get("/summaries", operation_id="listSummaries", responses=LIST_ERRORS)
async def list_summaries(
    services: ServicesDep,
    source: Annotated[
        str | None,
        Query(max_length=200, pattern=ONE_LINE_PATTERN, description="the article's source"),
    ] = None,
    since: Since = None,
    until: Until = None,
    cursor: Cursor = None,
    limit: Limit = 50,
) -> SummaryPage:
    """Kept summaries, newest first, a page at a time."""
    return await _store(services).summaries(
        source=source, since=since, until=until, after=cursor, limit=limit
    )


@router.get("/claims", operation_id="listClaims", responses=LIST_ERRORS)
async def list_claims(
    services: ServicesDep,
    holder: Annotated[
        str | None,
        Query(
            max_length=200,
            pattern=ONE_LINE_PATTERN,
            description="who holds the position: a full name, a surname, or a title and surname "
            "(the forms one article treats as the same person)",
        ),
    ] = None,
    target: Annotated[
        str | None,
        Query(
            max_length=200,
            pattern=ONE_LINE_PATTERN,
            description="words the claim's target contains",
        ),
    ] = None,
    stance: Stance | None = None,
    attribution_status: Literal["verified", "unverified"] | None = None,
    since: Since = None,
    until: Until = None,
    cursor: Cursor = None,
    limit: Limit = 50,
) -> ClaimPage:
    """Claims from every kept summary, newest first, each with its summary id and evidence."""
    return await _store(services).claims(
        holder=holder,
        target=target,
        stance=stance.value if stance else None,
        attribution_status=attribution_status,
        since=since,
        until=until,
        after=cursor,
        limit=limit,
    )


@router.post(
    "/summaries/{summary_id}/feedback",
    operation_id="addFeedback",
    status_code=201,
    responses=problem_responses(400, 401, 404, 413, 415, 422, 429, 431, 503),
)
async def add_feedback(
    summary_id: SummaryId, body: FeedbackIn, services: ServicesDep
) -> FeedbackOut:
    """A reviewer's verdict on one claim (by index) or one summary field, with a correction."""
    return await _store(services).add_feedback(summary_id, body)


@router.get("/summaries/{summary_id}/feedback", operation_id="listFeedback", responses=READ_ERRORS)
async def list_feedback(summary_id: SummaryId, services: ServicesDep) -> FeedbackList:
    """Feedback on a kept summary, oldest first."""
    return FeedbackList(items=await _store(services).feedback(summary_id))
