"""How `newsbrief serve` runs uvicorn: its httptools protocol plus the limits httptools lacks.

httptools buffers a header line by repeated concatenation with no size limit (quadratic CPU), and
uvicorn times out only idle keep-alive connections. `LimitedHttpTools` adds, per connection:

- a cap on the request line + headers (`max_header_bytes`): 431 problem+json, then close;
- a deadline for the whole request head (`header_timeout_s`), from connect or from the first
  read that leaves a head incomplete: 408 if part of a head came, a silent close if nothing did;
- a cap on open connections (`max_connections`): a new connection over the cap evicts the
  longest-waiting one with no request in flight (idle or still sending its head); if every
  connection is busy, the newcomer gets 503 and is closed;
- half-close: a client that shuts down its sending side after a complete request still gets
  its answer; a one-off interim `100 Continue` tells such a client from one that has gone
  (whose kernel answers with a reset), and a gone client's request is cancelled as before.

Body read timeouts live in the ASGI layer (middleware.BodyLimit), where the answer is ordinary.
uvicorn's h11 protocol has a head limit (h11_max_incomplete_event_size) but parses in pure
Python on every request and answers an oversized head with a plain 400, hence this subclass.
"""

from __future__ import annotations

import json
import logging
import resource
import socket
from asyncio import Transport
from asyncio.events import TimerHandle
from dataclasses import asdict, dataclass
from typing import Any, ClassVar

import uvicorn
from uvicorn.protocols.http.httptools_impl import (
    STATUS_LINE,
    HttpToolsProtocol,
    RequestResponseCycle,
)

from service.api.problems import MEDIA_TYPE, problem_body
from service.settings import Settings

log = logging.getLogger(__name__)
DESCRIPTOR_RESERVE = 64  # listening socket, log files, the event loop's own, imports
# How long after the interim response a gone client's reset has surely arrived (loopback: µs).
PEER_CHECK_S = 1.0


@dataclass(frozen=True)
class HttpLimits:
    max_header_bytes: int
    header_timeout_s: float
    max_connections: int


class LimitedHttpTools(HttpToolsProtocol):
    """uvicorn's httptools protocol with the limits above; `limits` is set by `protocol_for`."""

    limits: ClassVar[HttpLimits]

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.reading_head = False  # between the first byte of a request and its blank line
        self.head_bytes = 0  # of this head, in the reads after the one it began in
        self.head_began = False  # in the current read
        self.head_partial = False  # some read ended inside this head
        self.read_size = 0
        self.head_timer: TimerHandle | None = None
        self.idle_since: float | None = None  # None while a request is in flight

    def connection_made(self, transport: Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self.idle_since = self.loop.time()
        if self._open_connections() > self.limits.max_connections and not self._evict_one():
            self._answer_and_close(
                503,
                "too-many-connections",
                "Too many connections",
                f"the server holds its maximum of {self.limits.max_connections} connections",
                {"retry-after": "1"},
            )
            return
        self._arm_head_timer()

    def connection_lost(self, exc: Exception | None) -> None:
        self._disarm_head_timer()
        super().connection_lost(exc)

    def data_received(self, data: bytes) -> None:
        if self.transport.is_closing():
            return  # answered already (431, 408, 503): nothing more is read
        # Parse first: one read is bounded by the loop's buffer, so its cost is linear; it is
        # the reads after it, concatenated inside httptools, that would cost quadratic CPU.
        self.read_size = len(data)
        self.head_began = False
        super().data_received(data)
        if self.reading_head:  # a head still incomplete at the end of a read
            self.head_partial = True
            # The read a head began in may also hold the end of the request before it, so it
            # is not counted: the cap is then the limit plus at most one read, still linear.
            if not self.head_began:
                self.head_bytes += len(data)
            if self.head_bytes > self.limits.max_header_bytes:
                self._head_too_large()
            else:
                # Armed only now: a head that arrives whole in one read (the usual case)
                # costs no timer at all.
                self._arm_head_timer()

    # Once answered and closing, the rest of this read is parsed but nothing more is started.
    def on_message_begin(self) -> None:
        if not self.transport.is_closing():
            super().on_message_begin()
            self.reading_head = True
            self.head_began = True
            self.head_partial = False
            self.head_bytes = 0

    def on_headers_complete(self) -> None:
        if self.transport.is_closing():
            return
        self.reading_head = False
        self.idle_since = None
        self._disarm_head_timer()
        # A head that came in one read is at most that read: only a longer read, or a head
        # spread over several, is measured exactly.
        if self.head_partial or self.read_size > self.limits.max_header_bytes:
            size = len(self.url) + sum(len(name) + len(value) + 4 for name, value in self.headers)
            if size > self.limits.max_header_bytes:
                self._head_too_large()
                return
        super().on_headers_complete()

    def on_body(self, body: bytes) -> None:
        if not self.transport.is_closing():
            super().on_body(body)

    def on_message_complete(self) -> None:
        if not self.transport.is_closing():
            super().on_message_complete()

    def on_response_complete(self) -> None:
        super().on_response_complete()
        cycle = self.cycle
        if cycle.response_complete:  # no pipelined request started
            self.idle_since = self.loop.time()
            if cycle.more_body:
                # Answered before the body was all in (401, 413): the rest is read and dropped,
                # so a client still sending can read the answer rather than a reset, but only
                # for as long as a head may take.
                self.loop.call_later(self.limits.header_timeout_s, self._end_linger, cycle)

    def _end_linger(self, cycle: RequestResponseCycle) -> None:
        if cycle is self.cycle and cycle.more_body and not self.transport.is_closing():
            self.transport.close()

    # asyncio.Protocol allows a bool here (True keeps the socket open); uvicorn's says None.
    def eof_received(self) -> bool | None:  # type: ignore[override]
        cycle = self.cycle
        if (
            cycle is None
            or cycle.response_complete
            or cycle.more_body
            or cycle.scope["http_version"] == "1.0"  # no 1xx allowed: treat EOF as gone
        ):
            return None  # nothing to answer, or the request is incomplete: close
        # The whole request is in and its answer is pending: the client may only have shut its
        # sending side. Keep the socket open for writing and close once answered.
        cycle.keep_alive = False
        if not cycle.response_started:
            cycle.waiting_for_100_continue = False
            self.transport.write(STATUS_LINE[100] + b"\r\n")
            self.loop.call_later(PEER_CHECK_S, self._drop_if_peer_gone)
        return True

    def _drop_if_peer_gone(self) -> None:
        if self.transport.is_closing():
            return
        sock = self.transport.get_extra_info("socket")
        if sock is not None and sock.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR):
            self.transport.abort()  # connection_lost marks the request disconnected: cancelled

    def send_400_response(self, msg: str) -> None:
        """What uvicorn sends when httptools cannot parse the request: as a problem, too."""
        self._answer_and_close(400, "invalid-http", "Invalid HTTP request", msg)

    def _head_too_large(self) -> None:
        self._answer_and_close(
            431,
            "headers-too-large",
            "Request headers are too large",
            f"the request line and headers are over the {self.limits.max_header_bytes}-byte limit",
            limit=self.limits.max_header_bytes,
        )

    def _head_timed_out(self) -> None:
        self.head_timer = None
        if self.transport.is_closing():
            return
        if self.cycle is not None and not self.cycle.response_complete:
            self._arm_head_timer()  # a pipelined head waits behind a request being answered
        elif self.reading_head:
            self._answer_and_close(
                408,
                "header-timeout",
                "Request headers took too long",
                f"the request line and headers did not arrive within "
                f"{self.limits.header_timeout_s:g} s",
            )
        else:
            self.transport.close()  # connected and sent nothing: no request to answer

    def _arm_head_timer(self) -> None:
        if self.head_timer is None:
            self.head_timer = self.loop.call_later(
                self.limits.header_timeout_s, self._head_timed_out
            )

    def _disarm_head_timer(self) -> None:
        if self.head_timer is not None:
            self.head_timer.cancel()
            self.head_timer = None

    def _open_connections(self) -> int:
        if len(self.connections) <= self.limits.max_connections:
            return len(self.connections)  # the usual case, without a walk over them all
        return sum(1 for c in self.connections if not c.transport.is_closing())

    def _evict_one(self) -> bool:
        idle = [
            c
            for c in self.connections
            if c is not self
            and isinstance(c, LimitedHttpTools)
            and c.idle_since is not None
            and not c.transport.is_closing()
        ]
        if not idle:
            return False
        oldest = min(idle, key=lambda c: c.idle_since or 0.0)
        oldest.transport.close()
        return True

    def _answer_and_close(
        self,
        status: int,
        slug: str,
        title: str,
        detail: str,
        headers: dict[str, str] | None = None,
        **extra: Any,
    ) -> None:
        """A problem written straight to the socket: there is no request for the app to see."""
        self._disarm_head_timer()
        if self.cycle is None or self.cycle.response_complete:  # never cut into an answer
            body = json.dumps(problem_body(status, slug, title, detail, **extra)).encode()
            fields = [*self.server_state.default_headers]
            fields += [(k.encode(), v.encode()) for k, v in (headers or {}).items()]
            fields += [
                (b"content-type", MEDIA_TYPE.encode()),
                (b"content-length", str(len(body)).encode()),
                (b"connection", b"close"),
            ]
            head = b"".join(name + b": " + value + b"\r\n" for name, value in fields)
            self.transport.write(STATUS_LINE[status] + head + b"\r\n" + body)
        self.transport.close()


def protocol_for(limits: HttpLimits) -> type[LimitedHttpTools]:
    """A protocol class carrying these limits (uvicorn builds one instance per connection)."""
    return type("LimitedHttpTools", (LimitedHttpTools,), {"limits": limits})


def connection_cap(settings: Settings) -> int:
    """NEWSBRIEF_MAX_CONNECTIONS, or what the descriptor limit leaves after a reserve for
    upstream connections, logs and files: so a flood of sockets can never exhaust it."""
    if settings.max_connections is not None:
        return settings.max_connections
    soft, _ = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft == resource.RLIM_INFINITY:
        soft = 65_536
    return max(16, soft - settings.llm_max_concurrency - DESCRIPTOR_RESERVE)


def uvicorn_options(settings: Settings) -> dict[str, Any]:
    """The server options that follow from settings; `newsbrief serve` adds host, port, logs."""
    limits = HttpLimits(
        max_header_bytes=settings.max_header_bytes,
        header_timeout_s=settings.header_timeout_s,
        max_connections=connection_cap(settings),
    )
    trusted = settings.forwarded_allow_ips.strip()
    return {
        "http": protocol_for(limits),
        "timeout_keep_alive": settings.keep_alive_s,
        # uvicorn trusts X-Forwarded-* from loopback unless told otherwise: trust only the
        # proxies configured, and none by default.
        "proxy_headers": bool(trusted),
        "forwarded_allow_ips": trusted or "",
        "timeout_graceful_shutdown": int(settings.shutdown_grace_s),
    }


def run(settings: Settings, app: Any, **options: Any) -> None:
    server_options = uvicorn_options(settings)
    log.info("HTTP limits", extra=asdict(server_options["http"].limits))
    uvicorn.run(app, **server_options, **options)
