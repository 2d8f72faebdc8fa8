"""The HTTP client the LLM calls go through: httpx's, with each request sent in one write.

httpcore writes a request's head and its body separately. Over a fast link (the same host, or
the same rack) each write is a send of its own that wakes the server, which reads the head
alone and waits again for the body: two sends and two wake-ups a call where one does. Here a
connection holds the head back until the next write (the body) or read, and sends both at once.
Nothing else changes: the same bytes, in the same order, before the answer is read.
"""

# httpcore's stream and backend interfaces take their timeouts as arguments.
# ruff: noqa: ASYNC109

from __future__ import annotations

import ssl
from collections.abc import Iterable
from contextlib import suppress
from typing import Any

import httpcore
import httpx


class HeadWithBody(httpcore.AsyncNetworkStream):
    """A connection whose first write after a read (a request's head) waits for the next."""

    def __init__(self, stream: httpcore.AsyncNetworkStream) -> None:
        self._stream = stream
        self._held: bytes | None = None
        self._hold = True  # the next write starts a request
        self._timeout: float | None = None

    async def write(self, buffer: bytes, timeout: float | None = None) -> None:
        if self._hold:
            self._held, self._hold, self._timeout = buffer, False, timeout
            return
        if self._held is not None:
            buffer, self._held = self._held + buffer, None
        await self._stream.write(buffer, timeout)

    async def read(self, max_bytes: int, timeout: float | None = None) -> bytes:
        if self._held is not None:  # a request with no body: its head goes now
            held, self._held = self._held, None
            # As httpcore does with a failed write: a server may close early and still answer.
            with suppress(httpcore.WriteError):
                await self._stream.write(held, self._timeout)
        self._hold = True
        return await self._stream.read(max_bytes, timeout)

    async def aclose(self) -> None:
        await self._stream.aclose()

    async def start_tls(
        self,
        ssl_context: ssl.SSLContext,
        server_hostname: str | None = None,
        timeout: float | None = None,
    ) -> httpcore.AsyncNetworkStream:
        return HeadWithBody(await self._stream.start_tls(ssl_context, server_hostname, timeout))

    def get_extra_info(self, info: str) -> Any:
        return self._stream.get_extra_info(info)


class HeadWithBodyBackend(httpcore.AsyncNetworkBackend):
    """httpcore's network backend, its connections wrapped in HeadWithBody."""

    def __init__(self, backend: httpcore.AsyncNetworkBackend) -> None:
        self._backend = backend

    async def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,
        local_address: str | None = None,
        socket_options: Iterable[Any] | None = None,
    ) -> httpcore.AsyncNetworkStream:
        stream = await self._backend.connect_tcp(host, port, timeout, local_address, socket_options)
        return HeadWithBody(stream)

    async def connect_unix_socket(
        self,
        path: str,
        timeout: float | None = None,
        socket_options: Iterable[Any] | None = None,
    ) -> httpcore.AsyncNetworkStream:
        stream = await self._backend.connect_unix_socket(path, timeout, socket_options)
        return HeadWithBody(stream)

    async def sleep(self, seconds: float) -> None:
        await self._backend.sleep(seconds)


def upstream_client(limits: httpx.Limits) -> httpx.AsyncClient:
    """An httpx client whose default transport sends each request in one write. httpx takes no
    network backend, so its pool's is wrapped once here (a test holds that it still is)."""
    transport = httpx.AsyncHTTPTransport(limits=limits)
    pool = transport._pool
    pool._network_backend = HeadWithBodyBackend(pool._network_backend)
    return httpx.AsyncClient(transport=transport)
