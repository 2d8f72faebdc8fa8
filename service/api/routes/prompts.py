"""The prompt versions this service can answer with."""

from __future__ import annotations

from fastapi import APIRouter

from service.api.deps import ServicesDep
from service.api.openapi import problem_responses
from service.schemas import PromptInfo

router = APIRouter(prefix="/v1", tags=["prompts"])


@router.get("/prompts", operation_id="listPrompts", responses=problem_responses(401, 429, 431))
async def list_prompts(services: ServicesDep) -> list[PromptInfo]:
    return [
        PromptInfo(
            name=p.spec.name,
            version=p.spec.version,
            sha256=p.sha256,
            description=p.spec.description,
            default=p.ref == services.prompts.default_ref,
        )
        for p in services.prompts
    ]
