"""Liveness and readiness probes."""

from __future__ import annotations

import os
from collections.abc import Sized
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse

from service.api.deps import ServicesDep
from service.api.security import configured_keys, has_valid_key
from service.schemas import Readiness

router = APIRouter(tags=["health"])


@router.get("/healthz", operation_id="health")
async def healthz() -> dict[str, str]:
    """The process is up."""
    return {"status": "ok"}


@router.get(
    "/readyz",
    operation_id="ready",
    response_model=Readiness,
    responses={503: {"description": "Not ready (no prompts loaded)", "model": Readiness}},
)
async def readyz(services: ServicesDep, request: Request) -> Any:
    """Prompts are loaded and an engine can answer: the configured LLM or the extractive one.

    With API keys configured, a caller without a valid key sees only `status`: the model name,
    prompt versions and cache counters are for the service's own clients."""
    body = {
        "status": "ready",
        "pid": os.getpid(),  # which worker answered, under `serve --workers N`
        "engine": "llm" if services.llm else "extractive",
        "model": services.llm.model if services.llm else None,
        "prompts": [p.ref for p in services.prompts],
        "default_prompt": services.prompts.default_ref,
        "cache": {
            # Redis keeps its own count (and may be shared): entries are this process's only.
            "entries": len(services.cache) if isinstance(services.cache, Sized) else None,
            "hits": services.cache.hits,
            "misses": services.cache.misses,
        }
        if services.cache is not None
        else None,
    }
    keys = configured_keys(services.settings)
    if keys and not has_valid_key(request.headers, keys):
        body = {"status": body["status"]}
    return JSONResponse(body, status_code=200 if body["status"] == "ready" else 503)
