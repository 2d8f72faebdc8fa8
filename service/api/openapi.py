"""The OpenAPI document as generated clients need it: a `Problem` schema on every error response,
the two API-key schemes on /v1, and short operation ids (set on each route)."""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI

from service.api.problems import MEDIA_TYPE
from service.schemas import Problem

PROBLEM_REF = {"$ref": "#/components/schemas/Problem"}
SECURITY_SCHEMES = {
    "bearerKey": {"type": "http", "scheme": "bearer", "description": "Authorization: Bearer <key>"},
    "apiKeyHeader": {"type": "apiKey", "in": "header", "name": "X-API-Key"},
}
WHEN: dict[int, str] = {
    400: "The body is not parseable JSON",
    401: "API keys are configured and none valid was sent",
    404: "Unknown prompt version",
    408: "The body did not arrive within NEWSBRIEF_BODY_TIMEOUT_S",
    413: "Body or article text over the configured maximum",
    415: "The body is not sent as Content-Type: application/json",
    422: "Invalid body, or empty article text",
    429: "Rate limit for this API key or address; see Retry-After",
    431: "Request line and headers over NEWSBRIEF_MAX_HEADER_BYTES",
    502: "The LLM's answer was unusable (invalid, unreadable, refused, filtered, over budget) "
    "or the upstream rejected the call",
    503: "The LLM is unreachable, rate-limited or saturated; see Retry-After",
    504: "The request deadline ran out",
}


def problem_responses(*statuses: int) -> dict[int | str, dict[str, Any]]:
    """`responses=` for a route: each status answered with a problem+json body."""
    return {
        s: {"description": WHEN[s], "content": {MEDIA_TYPE: {"schema": PROBLEM_REF}}}
        for s in statuses
    }


class DocumentedAPI(FastAPI):
    """FastAPI whose document declares problem bodies and the key schemes."""

    def __init__(self, *, keys_required: bool, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.keys_required = keys_required

    def openapi(self) -> dict[str, Any]:
        if self.openapi_schema is not None:
            return self.openapi_schema
        doc = super().openapi()
        components = doc.setdefault("components", {})
        schemas = components.setdefault("schemas", {})
        problem = Problem.model_json_schema(ref_template="#/components/schemas/{model}")
        schemas |= problem.pop("$defs", {}) | {"Problem": problem}
        components["securitySchemes"] = SECURITY_SCHEMES
        # Without keys configured /v1 is open too: `{}` says no scheme is needed.
        security: list[dict[str, list[str]]] = [{"bearerKey": []}, {"apiKeyHeader": []}]
        if not self.keys_required:
            security.append({})
        for path, item in doc.get("paths", {}).items():
            if path.startswith("/v1/"):
                for operation in item.values():
                    operation["security"] = security
        return doc
