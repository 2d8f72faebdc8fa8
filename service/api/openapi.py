"""The OpenAPI document as generated clients need it: a `Problem` schema on every error response,
the two API-key schemes on /v1, and short operation ids (set on each route)."""

from __future__ import annotations

import copy
from functools import cache
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


@cache
def _problem_schemas() -> dict[str, Any]:
    """`Problem` and the models it refers to, as components (generated once: ~2 ms)."""
    problem = Problem.model_json_schema(ref_template="#/components/schemas/{model}")
    defs: dict[str, Any] = problem.pop("$defs", {})
    return defs | {"Problem": problem}


def document(app: FastAPI, *, keys_required: bool) -> None:
    """Declare problem bodies and the key schemes in the app's OpenAPI document, the way FastAPI
    documents extending it: by replacing `app.openapi`."""
    generate = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is not None:
            return app.openapi_schema
        doc = generate()  # also caches it as app.openapi_schema; the edits below go into that
        components = doc.setdefault("components", {})
        schemas = components.setdefault("schemas", {})
        schemas |= copy.deepcopy(_problem_schemas())
        components["securitySchemes"] = SECURITY_SCHEMES
        # Without keys configured /v1 is open too: `{}` says no scheme is needed.
        security: list[dict[str, list[str]]] = [{"bearerKey": []}, {"apiKeyHeader": []}]
        if not keys_required:
            security.append({})
        for path, item in doc.get("paths", {}).items():
            if path.startswith("/v1/"):
                for operation in item.values():
                    operation["security"] = security
        return doc

    app.openapi = openapi  # type: ignore[method-assign]
