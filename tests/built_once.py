"""Costly, pure parts of building an app or an HTTP client, built once per test session.

Every test builds its own app, so no state (cache, breaker, metrics, mocks) leaks from one test
to the next. Three parts of that build come out the same from app to app, and were most of its
cost (about half the CPU time of make check's tests went into them):

- the OpenAPI document FastAPI generates from the routes (~50 ms an app; the lifespan builds it
  at start-up). The service's own edits to it (`service/api/openapi.py`) still run on each app.
- the CA bundle httpx parses into every client's TLS context (~30 ms a client). No test speaks
  TLS: the LLM is mocked (respx) or a loopback http:// server.
- the YAML of the prompt files, parsed by pure-Python PyYAML (~5 ms an app). Equal text gives
  an equal copy; the checks on what it holds (`service/prompts.py`) still run on each app.
"""

from __future__ import annotations

import copy
import os
from collections.abc import Hashable, Iterator, Sequence
from contextlib import contextmanager
from typing import Any

import httpx._transports.default as httpx_transports
import pytest
import yaml
from fastapi import applications
from fastapi.routing import APIRoute
from starlette.routing import BaseRoute

generate_openapi = applications.get_openapi  # FastAPI's own, for a test to compare
_create_ssl_context = httpx_transports.create_ssl_context
_safe_load = yaml.safe_load


def _documented(routes: Sequence[BaseRoute]) -> tuple[Hashable, ...]:
    """What the document is built from. A route's documentation is declared with its endpoint
    (module-level routers), so the same endpoint on the same path and methods documents the same."""
    return tuple(
        (r.path, frozenset(r.methods), r.endpoint)
        for r in routes
        if isinstance(r, APIRoute) and r.include_in_schema
    )


@contextmanager
def built_once() -> Iterator[None]:
    """Within this block, equal inputs give a copy of the first result instead of a rebuild."""
    documents: dict[Hashable, dict[str, Any]] = {}
    tls: dict[Hashable, Any] = {}
    parsed: dict[str | bytes, Any] = {}

    def get_openapi(*, routes: Sequence[BaseRoute], **rest: Any) -> dict[str, Any]:
        key = (_documented(routes), repr(sorted(rest.items(), key=lambda kv: kv[0])))
        if key not in documents:
            documents[key] = generate_openapi(routes=routes, **rest)
        return copy.deepcopy(documents[key])  # each app edits its own copy in place

    def create_ssl_context(verify: Any = True, cert: Any = None, trust_env: bool = True) -> Any:
        if verify is not True or cert is not None:
            return _create_ssl_context(verify=verify, cert=cert, trust_env=trust_env)
        # httpx reads these two variables for the CA bundle when trust_env is on.
        key = (trust_env, os.environ.get("SSL_CERT_FILE"), os.environ.get("SSL_CERT_DIR"))
        if key not in tls:
            tls[key] = _create_ssl_context(verify=True, trust_env=trust_env)
        return tls[key]

    def safe_load(stream: Any) -> Any:
        if not isinstance(stream, str | bytes):  # a file: read by the parser as it goes
            return _safe_load(stream)
        if stream not in parsed:  # a YAML error is raised each time: nothing is kept
            parsed[stream] = _safe_load(stream)
        return copy.deepcopy(parsed[stream])

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(applications, "get_openapi", get_openapi)
        patch.setattr(httpx_transports, "create_ssl_context", create_ssl_context)
        patch.setattr(yaml, "safe_load", safe_load)
        yield
