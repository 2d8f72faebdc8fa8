"""Liveness and readiness probes."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter

from service.api.deps import ServicesDep

router = APIRouter(tags=["health"])


@router.get("/healthz")
async def healthz() -> dict[str, str]:
    """The process is up."""
    return {"status": "ok"}


@router.get("/readyz", responses={503: {"description": "Not ready"}})
async def readyz(services: ServicesDep) -> Any:
    """Prompts are loaded and an engine can answer: the configured LLM or the extractive one."""
    body = {
        "status": "ready",
        "engine": "llm" if services.llm else "extractive",
        "model": services.llm.model if services.llm else None,
        "prompts": [p.ref for p in services.prompts],
        "default_prompt": services.prompts.default_ref,
        "cache": {
            "entries": len(services.cache),
            "hits": services.cache.hits,
            "misses": services.cache.misses,
        }
        if services.cache
        else None,
    }
    return body
