"""Liveness and readiness probes."""

from __future__ import annotations

import os
from collections.abc import Sized
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse

from service.api.deps import ServicesDep
from service.api.security import configured_keys, has_valid_key
from service.llm import LLMClient
from service.schemas import Readiness
from service.store import Writer

router = APIRouter(tags=["health"])


@router.get("/healthz", operation_id="health")
async def healthz() -> dict[str, str]:
    """The process is up."""
    return {"status": "ok"}


@router.get(
    "/readyz",
    operation_id="ready",
    response_model=Readiness,
    responses={
        503: {
            "description": "Not ready: no prompts loaded, or the LLM circuit is open",
            "model": Readiness,
        }
    },
)
async def readyz(services: ServicesDep, request: Request) -> Any:
    """Prompts are loaded and an engine can answer: the configured LLM or the extractive one.

    While the LLM circuit is open (and no extractive fallback is configured) this is 503 with the
    reason. A failing store does not make it 503: answers still go out, each saying
    `not_stored`, and `store` says so with what the database last said. With API keys
    configured, a caller without a valid key sees only `status`: the model name, prompt
    versions, breaker, cache and store are for the service's own clients."""
    body: dict[str, Any] = {
        "status": "ready",
        "pid": os.getpid(),  # which worker answered, under `serve --workers N`
        "engine": "llm" if services.llm else "extractive",
        "model": services.llm.model if services.llm else None,
        "prompts": [p.ref for p in services.prompts],
        "default_prompt": services.prompts.default_ref,
        # An empty cache is still on: `is not None`, not truthiness (len 0).
        "cache": {
            "state": "on",
            # Redis keeps its own count (and may be shared): entries are this process's only.
            "entries": len(services.cache) if isinstance(services.cache, Sized) else None,
            "hits": services.cache.hits,
            "misses": services.cache.misses,
        }
        if services.cache is not None
        else {"state": "off"},
        "breaker": _breaker(services.llm),
        "store": _store(services.writer),
    }
    breaker = services.llm.breaker if services.llm else None
    if breaker and breaker.state == "open" and services.settings.breaker_fallback == "error":
        body["status"] = "not ready"
        body["reason"] = (
            f"the LLM circuit is open after repeated failures ({breaker.last_failure}); "
            f"the next probe call in {breaker.seconds_to_probe():.0f} s"
        )
    keys = configured_keys(services.settings)
    if keys and not has_valid_key(request.headers, keys):
        body = {"status": body["status"]}
    return JSONResponse(body, status_code=200 if body["status"] == "ready" else 503)


def _store(writer: Writer | None) -> dict[str, Any]:
    if writer is None:
        return {"state": "off"}
    wait = writer.retry_in_s()
    return {
        "state": "failing" if wait or not writer.store.migrated else "on",
        "backend": writer.store.engine.dialect.name,
        "queued": writer.queued,
        "last_failure": writer.last_failure,
        "retry_in_s": round(wait, 1) if wait else None,
    }


def _breaker(llm: LLMClient | None) -> dict[str, Any] | None:
    if llm is None:
        return None
    b = llm.breaker
    return {"state": b.state, "last_failure": b.last_failure, "probe_in_s": b.seconds_to_probe()}
