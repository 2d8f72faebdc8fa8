"""The HTTP client the LLM calls go through: httpx's interface over aiohttp's connections.

httpx's own transport parses HTTP/1.1 in pure Python (h11) over anyio streams, with locks and
cancel scopes around every read and write: against the project's fake LLM that is 0.85 ms of CPU
a call, a quarter of all a request costs. aiohttp reads the same answers with a C parser over
plain asyncio streams: 0.26-0.32 ms alone, about 0.4 ms with the httpx request and response
around it. Everything above the transport stays httpx: LLMClient builds an httpx.Request and
reads an httpx.Response, respx mocks the client in tests, and every failure is an httpx error.
A proxy from the environment (HTTP_PROXY, HTTPS_PROXY, ALL_PROXY, NO_PROXY) is honoured as httpx
would: the request goes through it, CONNECT-tunnelled for https, its credentials sent as
Proxy-Authorization and kept out of every error's text.
"""

from __future__ import annotations

import ssl
import urllib.request
from collections.abc import AsyncIterator
from typing import NamedTuple

import aiohttp
import httpx

# aiohttp's failures as httpx's, most specific first: the LLM client maps httpx's errors once
# (service/llm.py), whichever transport carried the call.
_ERRORS: tuple[tuple[type[BaseException], type[httpx.TransportError]], ...] = (
    (aiohttp.ClientHttpProxyError, httpx.ProxyError),  # the proxy refused (407, 403, …)
    (aiohttp.ClientProxyConnectionError, httpx.ProxyError),  # the proxy could not be reached
    (aiohttp.ConnectionTimeoutError, httpx.ConnectTimeout),
    (aiohttp.ServerTimeoutError, httpx.ReadTimeout),  # the socket went quiet past the timeout
    (aiohttp.ClientConnectorError, httpx.ConnectError),  # refused, unreachable, DNS, TLS
    (aiohttp.ServerDisconnectedError, httpx.RemoteProtocolError),
    (aiohttp.ClientPayloadError, httpx.ReadError),  # the body broke off or would not decode
    (aiohttp.ClientResponseError, httpx.RemoteProtocolError),  # not HTTP as it should be
    (aiohttp.ClientError, httpx.NetworkError),
)


def _as_httpx(exc: aiohttp.ClientError, request: httpx.Request) -> httpx.TransportError:
    kind = next(to for frm, to in _ERRORS if isinstance(exc, frm))
    return kind(str(exc) or type(exc).__name__, request=request)


class _Proxy(NamedTuple):
    url: str  # without its credentials: aiohttp repeats the URL in its errors, which are logged
    headers: dict[str, str] | None  # Proxy-Authorization, from the URL's credentials


class AiohttpTransport(httpx.AsyncBaseTransport):
    """An httpx transport whose requests go out on an aiohttp session's pooled connections."""

    def __init__(self, limits: httpx.Limits, ssl_context: ssl.SSLContext) -> None:
        self._limits = limits
        self._ssl = ssl_context
        self._session: aiohttp.ClientSession | None = None  # opened in the loop that uses it
        self._closed = False
        self._proxies: dict[tuple[str, str], _Proxy | None] = {}  # by (scheme, host)

    def _proxy_for(self, request: httpx.Request) -> _Proxy | None:
        """The environment's proxy for the request's URL, looked up once per host (aiohttp's
        own lookup reads the whole environment on every request), read as httpx reads it."""
        url = request.url
        key = (url.scheme, url.host)
        if key in self._proxies:
            return self._proxies[key]
        found = urllib.request.getproxies()
        given = found.get(url.scheme) or found.get("all")
        proxy = None
        if given and not urllib.request.proxy_bypass(url.host):
            parts = httpx.URL(given if "://" in given else f"http://{given}")  # "host:3128"
            if parts.scheme not in ("http", "https"):
                raise httpx.ProxyError(
                    f"the {parts.scheme} proxy in the environment is not supported: name an "
                    "http:// proxy in HTTPS_PROXY / HTTP_PROXY / ALL_PROXY",
                    request=request,
                )
            auth = None
            if parts.username:
                basic = aiohttp.encode_basic_auth(parts.username, parts.password)
                auth = {"Proxy-Authorization": basic}
            proxy = _Proxy(str(parts.copy_with(username=None, password=None)), auth)
        self._proxies[key] = proxy
        return proxy

    def _open(self) -> aiohttp.ClientSession:
        connector = aiohttp.TCPConnector(
            limit=self._limits.max_connections or 0,  # 0: aiohttp's "no limit"
            keepalive_timeout=self._limits.keepalive_expiry,
            ssl=self._ssl,
        )
        # The request's own headers only (the LLM client sends all it means to); the answer's
        # bytes as they came, for httpx to decode as its Content-Encoding says.
        self._session = aiohttp.ClientSession(
            connector=connector,
            auto_decompress=False,
            skip_auto_headers=("Accept", "Accept-Encoding", "User-Agent", "Content-Type"),
        )
        return self._session

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        if self._closed:  # a call racing shutdown: refused as httpx refuses one, not a new session
            raise httpx.ConnectError("the upstream client is closed", request=request)
        session = self._session or self._open()
        proxy = self._proxy_for(request)
        timeout = request.extensions.get("timeout", {})
        headers = [(k.decode("latin-1"), v.decode("latin-1")) for k, v in request.headers.raw]
        try:
            answer = await session.request(
                request.method,
                str(request.url),
                headers=headers,
                data=await request.aread(),
                allow_redirects=False,
                proxy=proxy.url if proxy else None,
                proxy_headers=proxy.headers if proxy else None,
                timeout=aiohttp.ClientTimeout(
                    connect=timeout.get("pool"),  # a free connection, then connected
                    sock_connect=timeout.get("connect"),
                    sock_read=timeout.get("read"),
                ),
            )
        except aiohttp.ClientError as exc:
            raise _as_httpx(exc, request) from exc
        return httpx.Response(
            answer.status,
            headers=answer.raw_headers,
            stream=_Body(answer, request),
            request=request,
            extensions={
                "http_version": b"HTTP/1.1",
                "reason_phrase": (answer.reason or "").encode(),
            },
        )

    async def aclose(self) -> None:
        self._closed = True
        if self._session is not None:
            await self._session.close()
            self._session = None


class _Body(httpx.AsyncByteStream):
    def __init__(self, answer: aiohttp.ClientResponse, request: httpx.Request) -> None:
        self._answer = answer
        self._request = request

    async def __aiter__(self) -> AsyncIterator[bytes]:
        try:
            async for chunk in self._answer.content.iter_any():
                yield chunk
        except aiohttp.ClientError as exc:
            raise _as_httpx(exc, self._request) from exc

    async def aclose(self) -> None:
        # Read to the end, the connection goes back to the pool; left unread (a reader that
        # stopped at a size cap), aiohttp closes it, as nothing else can use it.
        self._answer.release()


def upstream_client(limits: httpx.Limits) -> httpx.AsyncClient:
    """An httpx client whose calls all go through aiohttp, the environment's proxy included
    (httpx turns its own proxies off when it is given a transport), with the CA bundle httpx
    itself would use (certifi, or SSL_CERT_FILE / SSL_CERT_DIR)."""
    transport = AiohttpTransport(limits, httpx.create_ssl_context(trust_env=True))
    return httpx.AsyncClient(transport=transport, limits=limits)
