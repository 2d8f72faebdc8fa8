"""The upstream client against real servers on free ports: what goes out is exactly what the LLM
client built, answers come back as httpx responses, and every way a call can fail is an httpx
error (which service/llm.py maps to the service's own)."""

from __future__ import annotations

import asyncio
import json
import ssl
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from pathlib import Path

import httpx
import pytest
import trustme

from service.upstream import upstream_client

Handler = Callable[[asyncio.StreamReader, asyncio.StreamWriter], Awaitable[None]]
LIMITS = httpx.Limits(max_connections=4)


@asynccontextmanager
async def serving(handler: Handler) -> AsyncIterator[str]:
    server = await asyncio.start_server(handler, "127.0.0.1", 0)
    try:
        yield f"http://127.0.0.1:{server.sockets[0].getsockname()[1]}"
    finally:
        server.close()
        await server.wait_closed()


async def read_request(reader: asyncio.StreamReader) -> bytes | None:
    try:
        head = await reader.readuntil(b"\r\n\r\n")
    except asyncio.IncompleteReadError:
        return None
    length = int(head.lower().split(b"content-length: ")[1].split(b"\r\n")[0])
    return head + await reader.readexactly(length)


def post(url: str, body: bytes, timeout: float = 5.0) -> httpx.Request:
    """A request as LLMClient builds one: its own headers, in order, and a byte stream."""
    host = url.split("://", 1)[1].encode()
    headers = [
        (b"Host", host),
        (b"accept", b"application/json"),
        (b"user-agent", b"AsyncOpenAI/Python test"),
        (b"authorization", b"Bearer test-not-a-key"),
        (b"Content-Length", str(len(body)).encode()),
    ]
    return httpx.Request(
        "POST",
        f"{url}/v1/chat/completions",
        headers=headers,
        stream=httpx.ByteStream(body),
        extensions={"timeout": httpx.Timeout(timeout).as_dict()},
    )


async def send(url: str, body: bytes = b"{}", wait_s: float = 5.0) -> httpx.Response:
    async with upstream_client(LIMITS) as client:
        transport = client._transport_for_url(httpx.URL(url))
        response = await transport.handle_async_request(post(url, body, wait_s))
        await response.aread()
        return response


async def test_the_request_goes_out_as_built_and_the_connection_is_kept() -> None:
    seen: list[bytes] = []
    connections = 0

    async def serve(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        nonlocal connections
        connections += 1
        while (request := await read_request(reader)) is not None:
            seen.append(request)
            writer.write(b"HTTP/1.1 200 OK\r\ncontent-type: application/json\r\n")
            writer.write(b'content-length: 11\r\nx-request-id: r1\r\n\r\n{"ok":true}')
            await writer.drain()
        writer.close()

    async with serving(serve) as url, upstream_client(LIMITS) as client:
        transport = client._transport_for_url(httpx.URL(url))
        for n in range(2):  # the second on the kept-alive connection
            body = json.dumps({"n": n, "text": "x" * 20_000}).encode()
            response = await transport.handle_async_request(post(url, body))
            await response.aread()
            assert response.status_code == 200 and response.json() == {"ok": True}
            assert response.headers["x-request-id"] == "r1"
            head, _, sent = seen[-1].partition(b"\r\n\r\n")
            assert sent == body
            lines = head.split(b"\r\n")
            assert lines[0] == b"POST /v1/chat/completions HTTP/1.1"
            # Exactly the headers the LLM client gave, none added by aiohttp (its own user
            # agent, accept or content type would change what the provider sees).
            names = sorted(line.split(b":")[0].lower() for line in lines[1:])
            assert names == [
                b"accept",
                b"authorization",
                b"content-length",
                b"host",
                b"user-agent",
            ]
            assert b"user-agent: AsyncOpenAI/Python test" in lines
    assert connections == 1


async def test_a_compressed_answer_is_decoded_by_httpx() -> None:
    import gzip

    packed = gzip.compress(b'{"ok":true}')

    async def serve(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await read_request(reader)
        writer.write(b"HTTP/1.1 200 OK\r\ncontent-encoding: gzip\r\n")
        writer.write(b"content-length: %d\r\n\r\n" % len(packed) + packed)
        await writer.drain()
        writer.close()

    async with serving(serve) as url:
        assert (await send(url)).json() == {"ok": True}


async def test_an_answer_not_read_to_the_end_closes_its_connection() -> None:
    """A reader that stops at a size cap: the rest of that answer must not be read as the next
    answer on a reused connection."""
    connections = 0

    async def serve(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        nonlocal connections
        connections += 1
        while await read_request(reader) is not None:
            writer.write(b"HTTP/1.1 200 OK\r\ncontent-length: 200000\r\n\r\n" + b"a" * 200_000)
            await writer.drain()
        writer.close()

    async with serving(serve) as url, upstream_client(LIMITS) as client:
        transport = client._transport_for_url(httpx.URL(url))
        for _ in range(2):
            response = await transport.handle_async_request(post(url, b"{}"))
            async for _chunk in response.aiter_bytes():
                break
            await response.aclose()
    assert connections == 2


async def drop(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    await read_request(reader)
    writer.close()


async def garbage(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    await read_request(reader)
    writer.write(b"this is not HTTP at all\r\n\r\n")
    await writer.drain()
    writer.close()


async def cut_short(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    await read_request(reader)
    writer.write(b'HTTP/1.1 200 OK\r\ncontent-length: 100\r\n\r\n{"partial":')
    await writer.drain()
    writer.close()


async def silent(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    await read_request(reader)
    await asyncio.sleep(5)


@pytest.mark.parametrize(
    ("handler", "error"),
    [
        (drop, httpx.RemoteProtocolError),
        (garbage, httpx.RemoteProtocolError),
        (cut_short, httpx.ReadError),
        (silent, httpx.ReadTimeout),
    ],
    ids=["closed-before-answering", "not-http", "body-cut-short", "no-answer-in-time"],
)
async def test_each_failure_is_an_httpx_error(handler: Handler, error: type[Exception]) -> None:
    async with serving(handler) as url:
        with pytest.raises(error):
            await send(url, wait_s=0.3)


async def test_nobody_listening_is_a_connect_error() -> None:
    async with serving(drop) as url:
        pass  # the port is free again
    with pytest.raises(httpx.ConnectError):
        await send(url)


async def answer_ok(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    if await read_request(reader) is not None:
        writer.write(b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nok")
        await writer.drain()
    writer.close()


@pytest.mark.parametrize("given", ["http://{}", "{}"], ids=["with-scheme", "host-and-port"])
async def test_a_proxy_from_the_environment_carries_the_call(
    monkeypatch: pytest.MonkeyPatch, given: str
) -> None:
    seen: list[bytes] = []

    async def proxy(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        if (request := await read_request(reader)) is not None:
            seen.append(request)
            writer.write(b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nok")
            await writer.drain()
        writer.close()

    async with serving(proxy) as proxy_url:
        # "proxy.corp:3128" with no scheme is common, and httpx reads it as http://.
        monkeypatch.setenv("HTTP_PROXY", given.format(proxy_url.removeprefix("http://")))
        monkeypatch.setenv("NO_PROXY", "")
        assert (await send("http://llm.invalid")).text == "ok"
    assert seen[0].startswith(b"POST http://llm.invalid/v1/chat/completions HTTP/1.1")


async def test_no_proxy_hosts_are_reached_directly(monkeypatch: pytest.MonkeyPatch) -> None:
    seen: list[bytes] = []

    async def proxy(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        seen.append(await reader.read(100))
        writer.close()

    async with serving(proxy) as proxy_url, serving(answer_ok) as direct:
        monkeypatch.setenv("HTTP_PROXY", proxy_url)
        monkeypatch.setenv("NO_PROXY", "127.0.0.1")
        assert (await send(direct)).text == "ok"
    assert seen == []


async def test_a_proxy_s_credentials_are_sent_and_kept_out_of_errors(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """An https call tunnels through CONNECT; a proxy that refuses it (407) is a ProxyError
    whose text, which reaches the logs, holds no password."""
    heads: list[bytes] = []

    async def refusing(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        heads.append(await reader.readuntil(b"\r\n\r\n"))
        writer.write(b"HTTP/1.1 407 Proxy Authentication Required\r\ncontent-length: 0\r\n\r\n")
        await writer.drain()
        writer.close()

    async with serving(refusing) as proxy_url:
        where = proxy_url.removeprefix("http://")
        monkeypatch.setenv("HTTPS_PROXY", f"http://newsroom:s3cret-word@{where}")
        monkeypatch.setenv("NO_PROXY", "")
        with pytest.raises(httpx.ProxyError) as refused:
            await send("https://llm.invalid")
    assert heads[0].startswith(b"CONNECT llm.invalid:443 HTTP/1.1")
    assert b"proxy-authorization: basic " in heads[0].lower()
    assert "s3cret-word" not in str(refused.value)


async def test_a_socks_proxy_is_refused_with_what_to_do(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ALL_PROXY", "socks5://127.0.0.1:1080")
    monkeypatch.setenv("NO_PROXY", "")
    with pytest.raises(httpx.ProxyError, match=r"socks5 proxy .* not supported"):
        await send("http://llm.invalid")


async def test_a_call_after_close_is_refused_not_given_a_new_session() -> None:
    client = upstream_client(LIMITS)
    transport = client._transport_for_url(httpx.URL("http://127.0.0.1:9"))
    await client.aclose()
    with pytest.raises(httpx.ConnectError, match="closed"):
        await transport.handle_async_request(post("http://127.0.0.1:9", b"{}"))


@pytest.mark.parametrize("trusted", [True, False], ids=["ca-trusted", "ca-unknown"])
async def test_tls_checks_the_server_against_the_ca_bundle(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, trusted: bool
) -> None:
    """The providers are all https: a certificate from a trusted CA (here via SSL_CERT_FILE, as
    httpx reads it) is accepted, one from any other CA refused."""
    authority = trustme.CA()
    served = authority.issue_cert("127.0.0.1")
    server_context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    served.configure_cert(server_context)
    bundle = tmp_path / "ca.pem"
    (authority if trusted else trustme.CA()).cert_pem.write_to_path(str(bundle))
    monkeypatch.setenv("SSL_CERT_FILE", str(bundle))

    async def serve(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        if await read_request(reader) is not None:
            writer.write(b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nok")
            await writer.drain()
        writer.close()

    server = await asyncio.start_server(serve, "127.0.0.1", 0, ssl=server_context)
    url = f"https://127.0.0.1:{server.sockets[0].getsockname()[1]}"
    try:
        if trusted:
            assert (await send(url)).text == "ok"
        else:
            with pytest.raises(httpx.ConnectError, match="CERTIFICATE_VERIFY_FAILED"):
                await send(url)
    finally:
        server.close()
        await server.wait_closed()
