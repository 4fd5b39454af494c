"""The HTTP listener's bounds: open connections capped, request heads and bodies timed, idle
keep-alive connections closed — what aiohttp leaves to the server that owns the sockets."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from http import HTTPStatus
from typing import cast

import msgspec
import structlog
from aiohttp import web
from aiohttp.web_protocol import RequestHandler
from aiohttp.web_request import BaseRequest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily

from smsengine.api.schemas import ErrorResponse
from smsengine.domain.errors import ErrorCode, SmsError, message_for

log = structlog.get_logger("smsengine.http")


def _canned(status: str, code: ErrorCode, detail: str) -> bytes:
    """A whole response written straight to a socket, before (or instead of) aiohttp parsing."""
    body = msgspec.json.encode(ErrorResponse(code=code, message=f"{message_for(code)} ({detail})"))
    head = (f"HTTP/1.1 {status}\r\nContent-Type: application/json\r\nContent-Length: {len(body)}\r\n"
            "Connection: close\r\n\r\n")
    return head.encode() + body


# where a connection is: waiting for a request head (timed), in a handler (the body's own deadline
# applies), or between requests (aiohttp's keep-alive timeout applies)
_HEAD, _HANDLING, _IDLE = range(3)


class _Connection(asyncio.Protocol):
    """One client socket: refused at once beyond the cap, else handed to aiohttp's protocol
    (`inner`) with a deadline on each request head. The head of a connection's first request is
    timed from the accept, a later one's from its first byte after the previous request's handler
    ended. Bytes that come while a handler runs (its body, a pipelined request) are not timed here."""

    __slots__ = ("listener", "inner", "transport", "_timer", "_state", "_served")

    def __init__(self, listener: Listener) -> None:
        self.listener = listener
        self.inner: asyncio.BaseProtocol | None = None
        self.transport: asyncio.Transport | None = None
        self._timer: asyncio.TimerHandle | None = None
        self._state = _IDLE
        self._served = False  # a request reached the handlers: a response may be on the wire

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # a stream transport, though not always an asyncio.Transport subclass (uvloop's are not)
        self.transport = transport = cast(asyncio.Transport, transport)
        listener = self.listener
        if len(listener.open) >= listener.max_connections:
            listener.refuse(transport)
            return
        listener.open[transport] = self
        self._expect_head()
        assert listener.protocol_factory is not None, "a Listener serves once its site starts"
        self.inner = listener.protocol_factory()
        self.inner.connection_made(transport)

    def data_received(self, data: bytes) -> None:
        if self._state == _IDLE:
            self._expect_head()
        if self.inner is not None:
            self.inner.data_received(data)  # type: ignore[attr-defined]

    def eof_received(self) -> bool | None:
        return self.inner.eof_received() if self.inner is not None else None  # type: ignore[attr-defined]

    def pause_writing(self) -> None:
        if self.inner is not None:
            self.inner.pause_writing()

    def resume_writing(self) -> None:
        if self.inner is not None:
            self.inner.resume_writing()

    def connection_lost(self, exc: Exception | None) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        if self.transport is not None:
            self.listener.open.pop(self.transport, None)
        if self.inner is not None:
            self.inner.connection_lost(exc)
            self.inner = None

    # -- request boundaries, from the listener's middleware --------------------------------------------
    def _expect_head(self) -> None:
        self._state = _HEAD
        self._timer = asyncio.get_running_loop().call_later(self.listener.header_timeout, self._head_late)

    def handler_started(self) -> None:
        self._state = _HANDLING
        self._served = True
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None

    def handler_ended(self) -> None:
        self._state = _IDLE

    def _head_late(self) -> None:
        self._timer = None
        if self._state != _HEAD or self.transport is None or self.transport.is_closing():
            return
        self.listener.head_timeouts += 1
        # a 408 only where no response of ours can be half written on the socket
        if not self._served:
            self.transport.write(self.listener.head_timeout_response)
        self.transport.close()


class Listener:
    """Owns the sockets of the HTTP server (the socket owner of hypercorn's tcp_server): wraps
    aiohttp's protocol factory, keeps the open connections, times request heads, and through its
    middleware marks where requests begin and bounds how long a body may take.

    Cost on the hot path: per request one middleware frame, a dict lookup and one timer armed
    and cancelled — 3.9 µs of bookkeeping measured alone (uvloop). benchmarks/e2e_bench.py at 10
    numbers a request (-n 20000, 4 alternating runs each, this 2-core machine shared): 5,229
    msg/s median with the listener, 5,090 without, engine CPU 3.2 s both: within the noise."""

    def __init__(self, *, header_timeout: float, body_timeout: float, max_connections: int,
                 log_every: float = 10.0) -> None:
        # aiohttp's protocol (the runner's server), set by ListenerSite: the middleware is needed
        # before the app is frozen, the runner's server only after
        self.protocol_factory: Callable[[], asyncio.BaseProtocol] | None = None
        self.header_timeout = header_timeout
        self.body_timeout = body_timeout
        self.max_connections = max_connections
        self.open: dict[asyncio.BaseTransport, _Connection] = {}
        self.refused = 0
        self.head_timeouts = 0
        self.body_timeouts = 0
        self.head_timeout_response = _canned("408 Request Timeout", ErrorCode.REQUEST_TIMEOUT,
                                             f"request head not complete within {header_timeout:g} s")
        self._busy_response = _canned("503 Service Unavailable", ErrorCode.TOO_MANY_CONNECTIONS,
                                      f"{max_connections} open")
        self._log_every = log_every
        self._logged_at = 0.0
        self._refused_logged = 0

    def __call__(self) -> asyncio.Protocol:
        """The protocol factory for loop.create_server."""
        return _Connection(self)

    def refuse(self, transport: asyncio.Transport) -> None:
        self.refused += 1
        transport.write(self._busy_response)
        transport.close()
        now = time.monotonic()
        if now - self._logged_at >= self._log_every:  # one line per period, not one per connection
            log.warning("http.connections_refused", refused=self.refused - self._refused_logged,
                        open=len(self.open), max_connections=self.max_connections)
            self._logged_at = now
            self._refused_logged = self.refused

    @web.middleware
    async def middleware(self, request: web.Request, handler):
        """Innermost of the catalogue's middlewares' reach, outermost of the body's readers."""
        connection = self.open.get(request.transport)  # type: ignore[arg-type]
        if connection is None:  # not one of ours (a test client, a closed connection)
            return await self._bounded(request, handler)
        connection.handler_started()
        try:
            return await self._bounded(request, handler)
        finally:
            connection.handler_ended()

    async def _bounded(self, request: web.Request, handler):
        if request.body_exists and not request.content.is_eof():
            try:
                async with asyncio.timeout(self.body_timeout):
                    await request.read()
            except TimeoutError:
                self.body_timeouts += 1
                raise SmsError(ErrorCode.REQUEST_TIMEOUT,
                               f"request body not complete within {self.body_timeout:g} s") from None
        return await handler(request)

    def collect(self):
        """Prometheus: registered in the engine's registry by the composition root."""
        yield GaugeMetricFamily("smsengine_http_connections_open", "client connections open", value=len(self.open))
        yield CounterMetricFamily("smsengine_http_connections_refused",
                                  "connections closed at accept: over http.max_connections", value=self.refused)
        yield CounterMetricFamily("smsengine_http_head_timeouts",
                                  "connections closed: request head late (http.header_timeout_s)",
                                  value=self.head_timeouts)
        yield CounterMetricFamily("smsengine_http_body_timeouts",
                                  "requests refused: body late (http.body_timeout_s)", value=self.body_timeouts)


class _CatalogueErrors(RequestHandler):
    """aiohttp's protocol, answering what its own parser refuses (a malformed request line or
    header, bad chunking, a head over the size limit) with the catalogue's JSON like every other
    error, instead of plain text: before any middleware runs, this is the only place to do it."""

    def handle_error(self, request: BaseRequest, status: int = 500, exc: BaseException | None = None,
                     message: str | None = None) -> web.StreamResponse:
        super().handle_error(request, status, exc, message)  # its logging and its checks
        code = ErrorCode.INTERNAL if status >= 500 else ErrorCode.REQUEST_MALFORMED
        detail = (message or HTTPStatus(status).phrase).strip().splitlines()[0][:200]
        response = web.Response(status=status, content_type="application/json",
                                body=msgspec.json.encode(ErrorResponse(code=code,
                                                                       message=f"{message_for(code)} ({detail})")))
        response.force_close()
        return response


def _protocols(server: web.Server) -> Callable[[], RequestHandler]:
    """What `server()` makes, as _CatalogueErrors (tests/api/test_bad_input.py checks the JSON)."""
    return lambda: _CatalogueErrors(server, loop=server._loop, **server._kwargs)


class ListenerSite(web.BaseSite):
    """A TCP site whose connections go through a Listener (aiohttp's TCPSite hands them straight
    to the runner's protocol)."""

    __slots__ = ("_host", "_port", "_listener")

    def __init__(self, runner: web.BaseRunner, listener: Listener, host: str, port: int, *,
                 backlog: int = 1024) -> None:
        super().__init__(runner, backlog=backlog)
        assert runner.server is not None
        listener.protocol_factory = _protocols(runner.server)
        self._listener = listener
        self._host = host
        self._port = port

    @property
    def name(self) -> str:
        return f"http://{self._host}:{self._port}"

    @property
    def port(self) -> int:
        """The bound port (the configured one may be 0)."""
        if self._server is not None and self._server.sockets:
            return self._server.sockets[0].getsockname()[1]
        return self._port

    async def start(self) -> None:
        await super().start()
        self._server = await asyncio.get_running_loop().create_server(
            self._listener, self._host, self._port, backlog=self._backlog, reuse_address=True)
