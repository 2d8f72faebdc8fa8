"""The upstream client: a request's head and body leave in one write, and nothing else changes."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import httpcore
import httpx
import pytest

from service.upstream import HeadWithBody, HeadWithBodyBackend, upstream_client


class Wire(httpcore.AsyncNetworkStream):
    """A connection that records what is written to it and answers reads from a script."""

    def __init__(self, fail_writes: bool = False) -> None:
        self.events: list[tuple[str, bytes]] = []
        self.fail_writes = fail_writes

    async def write(self, buffer: bytes, timeout: float | None = None) -> None:  # noqa: ASYNC109
        if self.fail_writes:
            raise httpcore.WriteError("the server closed its end")
        self.events.append(("write", buffer))

    async def read(self, max_bytes: int, timeout: float | None = None) -> bytes:  # noqa: ASYNC109
        self.events.append(("read", b""))
        return b"answer"

    async def aclose(self) -> None:
        self.events.append(("close", b""))


async def test_a_request_head_leaves_with_its_body() -> None:
    wire = Wire()
    stream = HeadWithBody(wire)
    await stream.write(b"HEAD\r\n\r\n")
    assert wire.events == []  # held back
    await stream.write(b"body")
    await stream.write(b"")  # httpcore's end of message
    assert await stream.read(100) == b"answer"
    # The next request on the connection is held back the same way.
    await stream.write(b"HEAD2\r\n\r\n")
    await stream.write(b"body2")
    assert [data for kind, data in wire.events if kind == "write" and data] == [
        b"HEAD\r\n\r\nbody",
        b"HEAD2\r\n\r\nbody2",
    ]


async def test_a_head_without_a_body_is_sent_before_the_answer_is_read() -> None:
    wire = Wire()
    stream = HeadWithBody(wire)
    await stream.write(b"GET / HTTP/1.1\r\n\r\n")
    await stream.read(100)
    assert wire.events == [("write", b"GET / HTTP/1.1\r\n\r\n"), ("read", b"")]


async def test_a_failed_write_of_a_held_head_still_reads_the_answer() -> None:
    # httpcore does the same with a write that fails: the server may have answered and closed.
    stream = HeadWithBody(Wire(fail_writes=True))
    await stream.write(b"GET / HTTP/1.1\r\n\r\n")
    assert await stream.read(100) == b"answer"


async def test_the_upstream_client_sends_through_the_one_write_backend() -> None:
    """Against a real server on a free port: the request arrives whole and the answer is read.
    And the client's pool really uses the backend (httpx offers no setting for it)."""
    seen: list[bytes] = []

    async def serve(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        while not reader.at_eof():  # requests one after another on a kept-alive connection
            try:
                head = await reader.readuntil(b"\r\n\r\n")
            except asyncio.IncompleteReadError:
                break
            length = int(head.lower().split(b"content-length: ")[1].split(b"\r\n")[0])
            seen.append(head + await reader.readexactly(length))
            writer.write(b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nok")
            await writer.drain()
        writer.close()

    server = await asyncio.start_server(serve, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    try:
        async with upstream_client(httpx.Limits(max_connections=2)) as client:
            transport = client._transport_for_url(httpx.URL(f"http://127.0.0.1:{port}/"))
            assert isinstance(transport, httpx.AsyncHTTPTransport)
            assert isinstance(transport._pool._network_backend, HeadWithBodyBackend)
            for n in range(2):  # the second on the kept-alive connection
                body = json.dumps({"n": n, "text": "x" * 20_000}).encode()
                response = await client.post(f"http://127.0.0.1:{port}/v1/x", content=body)
                assert response.status_code == 200 and response.text == "ok"
                assert seen[-1].endswith(body)
    finally:
        server.close()
        await server.wait_closed()


@pytest.mark.parametrize("info", ["is_readable", "server_addr"])
def test_connection_details_come_from_the_connection(info: str) -> None:
    class Details(Wire):
        def get_extra_info(self, name: str) -> Any:
            return f"{name} of the wire"

    assert HeadWithBody(Details()).get_extra_info(info) == f"{info} of the wire"
