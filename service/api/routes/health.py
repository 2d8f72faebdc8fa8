"""Liveness and readiness probes."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter
from fastapi.responses import JSONResponse

from service.api.deps import ServicesDep
from service.llm import LLMClient

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
        # An empty cache is still on: `is not None`, not truthiness (len 0).
        "cache": {
            "state": "on",
            "entries": len(services.cache),
            "hits": services.cache.hits,
            "misses": services.cache.misses,
        }
        if services.cache is not None
        else {"state": "off"},
        "breaker": _breaker(services.llm),
    }
    if not body["prompts"]:
        return JSONResponse({**body, "status": "not ready"}, status_code=503)
    breaker = services.llm.breaker if services.llm else None
    if breaker and breaker.state == "open" and services.settings.breaker_fallback == "error":
        reason = (
            f"the LLM circuit is open after repeated failures ({breaker.last_failure}); "
            f"the next probe call in {breaker.seconds_to_probe():.0f} s"
        )
        return JSONResponse({**body, "status": "not ready", "reason": reason}, status_code=503)
    return body


def _breaker(llm: LLMClient | None) -> dict[str, Any] | None:
    if llm is None:
        return None
    b = llm.breaker
    return {"state": b.state, "last_failure": b.last_failure, "probe_in_s": b.seconds_to_probe()}
