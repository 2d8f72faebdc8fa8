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
- an empty SQLite store's migrations (~15 ms of Alembic loading its scripts and running the DDL a
  store). The first empty database of the session is migrated by Alembic for real; every later
  empty one gets a page-for-page copy of it (SQLite's backup API). A database that is not empty
  is upgraded by Alembic as usual, and `migrations_each_time()` turns the copy off for a test
  about the migrations themselves.
"""

from __future__ import annotations

import copy
import os
import sqlite3
from collections.abc import Hashable, Iterator, Sequence
from contextlib import contextmanager
from typing import Any

import httpx._transports.default as httpx_transports
import pytest
import yaml
from fastapi import applications
from fastapi.routing import APIRoute
from sqlalchemy import Engine
from starlette.routing import BaseRoute

from service.store import store as store_module

generate_openapi = applications.get_openapi  # FastAPI's own, for a test to compare
_create_ssl_context = httpx_transports.create_ssl_context
_safe_load = yaml.safe_load
_upgrade_sync = store_module.upgrade_sync
_copies = {"on": True}


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

    template: list[sqlite3.Connection] = []  # the first empty database, once migrated

    def upgrade_sync(engine: Engine) -> None:
        raw = engine.raw_connection()
        try:
            empty = not raw.driver_connection.execute(
                "SELECT count(*) FROM sqlite_master"
            ).fetchone()[0]
            if empty and _copies["on"] and template:
                template[0].backup(raw.driver_connection)
                return
        finally:
            raw.close()
        _upgrade_sync(engine)
        if empty and _copies["on"] and not template:
            template.append(sqlite3.connect(":memory:", check_same_thread=False))
            raw = engine.raw_connection()
            try:
                raw.driver_connection.backup(template[0])
            finally:
                raw.close()

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(store_module, "upgrade_sync", upgrade_sync)
        patch.setattr(applications, "get_openapi", get_openapi)
        patch.setattr(httpx_transports, "create_ssl_context", create_ssl_context)
        patch.setattr(yaml, "safe_load", safe_load)
        yield


@contextmanager
def migrations_each_time() -> Iterator[None]:
    """Every empty SQLite store in this block is migrated by Alembic itself."""
    _copies["on"] = False
    try:
        yield
    finally:
        _copies["on"] = True
