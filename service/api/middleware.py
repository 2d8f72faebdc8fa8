"""Pure ASGI middleware: a request id on every request, metrics for each, and a body size and
time limit enforced as the body streams in (chunked bodies included), before any route or
upstream call runs."""

from __future__ import annotations

import asyncio
import re
import time
import uuid
from typing import Any

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from service.api.problems import problem
from service.logs import request_id
from service.metrics import Metrics

# Any other method a client sends is counted as "other": labels stay bounded.
_METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})

# Ids go into every log line: letters, digits and . _ : - only, so none can forge or split one.
SAFE_REQUEST_ID = re.compile(r"[A-Za-z0-9._:-]{1,64}")


class RequestId:
    """Takes X-Request-ID from the client (if safe) or makes one; echoes it on the response."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        given = dict(scope["headers"]).get(b"x-request-id", b"").decode("latin-1")
        rid = given if SAFE_REQUEST_ID.fullmatch(given) else uuid.uuid4().hex
        token = request_id.set(rid)

        async def send_with_id(message: Message) -> None:
            if message["type"] == "http.response.start":
                message["headers"] = [*message.get("headers", []), (b"x-request-id", rid.encode())]
            await send(message)

        try:
            await self.app(scope, receive, send_with_id)
        finally:
            request_id.reset(token)


class Observe:
    """Counts and times every request by route template and status."""

    def __init__(self, app: ASGIApp, metrics: Metrics) -> None:
        self.app = app
        self.metrics = metrics

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        method = scope["method"] if scope["method"] in _METHODS else "other"
        status = 500  # unless a response starts: an exception escaped to the server

        async def send_observed(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        with self.metrics.http_in_flight.track_inprogress():
            try:
                await self.app(scope, receive, send_observed)
            finally:
                route = _route_template(scope)
                self.metrics.request(route, method, status, time.perf_counter() - started)


def _route_template(scope: Scope) -> str:
    """The path template that serves this request ("/v1/summaries"), never the raw path."""
    route = scope.get("route")
    if route is None and "app" in scope:  # answered before routing, e.g. a 413 from BodyLimit
        # Our paths have no parameters: a path equal to a documented one is its own template.
        # The document is built at start-up (app.py); building it here would stall the loop.
        known = (scope["app"].openapi_schema or {}).get("paths", {})
        return scope["path"] if scope["path"] in known else "unmatched"
    path = getattr(route, "path", None)
    return path if isinstance(path, str) else "unmatched"


class BodyLimit:
    """Reads the request body itself, up to max_bytes within timeout_s; one byte more is 413,
    a body still arriving after timeout_s (a trickle, or a client that stopped) is 408."""

    def __init__(self, app: ASGIApp, max_bytes: int, timeout_s: float) -> None:
        self.app = app
        self.max_bytes = max_bytes
        self.timeout_s = timeout_s

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] in ("GET", "HEAD", "OPTIONS"):
            await self.app(scope, receive, send)
            return
        declared = dict(scope["headers"]).get(b"content-length")
        if declared is not None and declared.isdigit() and int(declared) > self.max_bytes:
            await self._too_large(send)
            return
        chunks: list[bytes] = []
        size = 0
        try:
            async with asyncio.timeout(self.timeout_s):
                while True:
                    message = await receive()
                    if message["type"] == "http.disconnect":
                        return  # the client left before sending its body: nobody to answer
                    size += len(message.get("body", b""))
                    if size > self.max_bytes:
                        await self._too_large(send)
                        return
                    chunks.append(message.get("body", b""))
                    if not message.get("more_body", False):
                        break
        except TimeoutError:
            await _refuse(
                send,
                408,
                "body-timeout",
                "Request body took too long",
                f"the request body did not arrive within {self.timeout_s:g} s",
                {"connection": "close"},  # the client is too slow to wait for the rest
            )
            return
        body = b"".join(chunks)
        replayed = False

        async def replay() -> Message:
            nonlocal replayed
            if not replayed:
                replayed = True
                return {"type": "http.request", "body": body, "more_body": False}
            return await receive()  # after the body: wait for the disconnect, as usual

        await self.app(scope, replay, send)

    async def _too_large(self, send: Send) -> None:
        await _refuse(
            send,
            413,
            "body-too-large",
            "Request body is too large",
            f"the request body is over the {self.max_bytes}-byte limit",
            limit=self.max_bytes,
        )


async def _refuse(
    send: Send,
    status: int,
    slug: str,
    title: str,
    detail: str,
    headers: dict[str, str] | None = None,
    **extra: Any,
) -> None:
    """Answer without the body; the server layer drops the rest of it (server.LimitedHttpTools)."""
    response = problem(status, slug, title, detail, headers, **extra)
    await response({"type": "http"}, _no_receive, send)


async def _no_receive() -> Message:  # pragma: no cover - a plain JSONResponse never reads
    return {"type": "http.disconnect"}
