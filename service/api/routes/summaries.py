"""POST /v1/summaries: one article in, one grounded brief out."""

from __future__ import annotations

import asyncio
import logging
import time

from fastapi import APIRouter, Request, Response

from service.api.deps import ServicesDep
from service.api.openapi import problem_responses
from service.api.security import key_id, presented_key
from service.errors import StoreUnavailableError
from service.logs import request_id
from service.pipeline import summarize_article
from service.schemas import ResponseWarning, SummaryRequest, SummaryResponse
from service.store import Answer, Writer

log = logging.getLogger(__name__)
router = APIRouter(prefix="/v1", tags=["summaries"])

CLIENT_CLOSED = 499  # nginx's code: the client went away; nobody reads this response


async def _cancel_when_gone(request: Request, task: asyncio.Task[object]) -> None:
    """Cancel `task` if the client disconnects (and then end, not cancelled): the route stops
    paying for an answer nobody will read."""
    while (await request.receive())["type"] != "http.disconnect":
        pass
    task.cancel()


@router.post(
    "/summaries",
    operation_id="createSummary",
    responses={
        200: {
            "headers": {
                "Location": {
                    "description": "where the kept answer is read back (absent when not kept)",
                    "schema": {"type": "string"},
                }
            }
        },
        **problem_responses(400, 401, 404, 408, 413, 415, 422, 429, 431, 502, 503, 504),
    },
    response_model=SummaryResponse,
)
async def create_summary(body: SummaryRequest, services: ServicesDep, request: Request) -> Response:
    """Summarise an article; every claim's evidence is verified verbatim against article.text."""
    started = time.perf_counter()
    # One watcher task beside this one (not the pipeline in a task of its own and a wait on
    # both: two tasks, a future and more loop turns for every request).
    task = asyncio.current_task()
    assert task is not None  # a route always runs in a task
    watcher = asyncio.ensure_future(_cancel_when_gone(request, task))
    try:
        result = await summarize_article(
            body,
            prompts=services.prompts,
            llm=services.llm,
            settings=services.settings,
            cache=services.cache,
        )
    except asyncio.CancelledError:
        if not watcher.done() or watcher.cancelled():
            raise  # cancelled from outside (shutdown), not by the watcher: not ours to answer
        task.uncancel()
        log.info("client disconnected; summary cancelled")
        return Response(status_code=CLIENT_CLOSED)
    finally:
        watcher.cancel()
    sent = result.model_dump_json().encode()
    headers: dict[str, str] = {}
    if services.writer is not None:
        answer = Answer(
            body,
            result,
            sent,
            latency_ms=round((time.perf_counter() - started) * 1000, 3),
            api_key_id=key_id(given) if (given := presented_key(request.headers)) else None,
            request_id=request_id.get(),
            upstream_text=result._upstream_text,
        )
        confirm_s = services.settings.store_confirm_s
        if (trouble := await _keep(services.writer, answer, confirm_s)) is None:
            headers["Location"] = f"/v1/summaries/{result.id}"
        else:
            result = result.model_copy(update={"warnings": [*result.warnings, trouble]})
            sent = result.model_dump_json().encode()
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
    return Response(sent, media_type="application/json", headers=headers)


async def _keep(writer: Writer, answer: Answer, confirm_s: float) -> ResponseWarning | None:
    """Hand the answer to the store; the `not_stored` warning to send if it was refused at once,
    or (with `confirm_s`) if its write failed or was not committed within that time. Either way
    the client gets its answer."""
    kept = writer.submit(answer)
    detail = None
    try:
        if kept.done() or confirm_s:
            # Awaited bare, not through shield and wait_for: each of theirs is one more turn of
            # the loop behind every other request's work. A timeout cancels only this future;
            # the writer still writes the answer (it leaves alone futures nobody waits on).
            async with asyncio.timeout(confirm_s or None):
                await kept
    except StoreUnavailableError as exc:
        detail = f"the answer was not kept: {exc}"
    except TimeoutError:
        detail = f"the store did not confirm keeping the answer within {confirm_s:g} s"
    if not kept.done() or detail is None:
        # Queued, or kept: a failure from here on is the writer's to log and count.
        kept.add_done_callback(_ignore_outcome)
    if detail is None:
        return None
    log.warning("summary not stored", extra={"summary_id": answer.response.id, "reason": detail})
    return ResponseWarning(code="not_stored", detail=f"{detail}; the brief itself is complete")


def _ignore_outcome(kept: asyncio.Future[None]) -> None:
    if not kept.cancelled():
        kept.exception()  # retrieved: asyncio then does not log it as never retrieved
