"""A small but real HTTP reverse proxy that routes with :class:`hashlb.Router`.

Why aiohttp rather than bare asyncio: a proxy must parse and emit HTTP/1.1
correctly (chunked bodies, keep-alive, 100-continue, request smuggling
defences).  aiohttp gives a battle-tested server *and* client with streaming
in both directions, so this file holds the routing logic and the proxy's
HTTP hygiene, nothing else.

Per request the proxy

1. checks the request: an origin-form target (``/path?query``), exactly one
   ``Host``, header bytes within the caps, values that are valid UTF-8;
2. builds a :class:`hashlb.policy.Request` from the raw headers, the raw
   target and the connection's addresses (no header is copied or decoded up
   front);
3. asks the current router for a :class:`hashlb.Route` (subset, host, hash
   and an optional ``Set-Cookie`` when the cookie policy generated one);
4. forwards the request to ``http://<host.address><target>`` with the target
   byte for byte as received, the client's end-to-end headers exactly as sent
   (no ``Accept``/``Accept-Encoding``/``User-Agent``/``Content-Type`` of its
   own), hop-by-hop headers removed (RFC 9110 §7.6.1), ``X-Forwarded-For``
   and ``X-Forwarded-Proto`` set, and the body streamed;
5. streams the response back, bytes untouched (no decompression), with the
   backend's hop-by-hop headers removed, and adds the ``Set-Cookie`` header
   when hashlb made one.

A backend that refuses or drops the connection yields ``502 Bad Gateway``
(``504`` on timeout); error bodies never name a backend.  Every wait is
bounded: the request head (``header_timeout``), an idle keep-alive connection
(``keepalive_timeout``), a silent client while its body streams or while it
does not read the response (``client_timeout``), and the backend
(``timeout``).  See ``docs/how-to/embed-in-a-proxy.rst`` for every cap.

Reloading: the router is immutable.  :meth:`HashlbProxy.set_router` swaps
in a new one; requests already in flight keep the router they started with,
so nothing is dropped.  From the command line, ``SIGHUP`` re-reads the YAML
files and swaps the new router in.

Each request is logged in one line (logger ``hashlb.proxy``): method, path,
key (the hash, in hex), subset, endpoint, status and time; see
:class:`RequestLog`.

Run it (``pods.yaml``: the real pods, ``kubectl get pods -o yaml``; without
it a Deployment's pods get synthetic addresses where nothing answers)::

    python examples/proxy/hashlb_proxy.py -f examples/istio-canary/ \
        --endpoints pods.yaml --listen 127.0.0.1:8080

``demo.py`` runs it in front of three loopback backends; ``README.md`` says
how to point it at your own.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import errno
import functools
import logging
import signal
import sys
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable, Sequence
from dataclasses import dataclass
from http import HTTPStatus
from ipaddress import ip_address
from typing import Any

from aiohttp import (
    ClientError,
    ClientResponse,
    ClientSession,
    ClientTimeout,
    DummyCookieJar,
    TCPConnector,
    web,
)
from aiohttp.client_proto import ResponseHandler
from aiohttp.http_exceptions import HttpProcessingError
from aiohttp.streams import StreamReader
from yarl import URL

from hashlb import Host
from hashlb.policy import Request

log = logging.getLogger("hashlb.proxy")

# RFC 9110 §7.6.1: connection-specific headers are not forwarded, in either
# direction, and neither is any header a ``Connection`` header names.
HOP_BY_HOP = frozenset(
    {
        "connection",
        "keep-alive",
        "proxy-authenticate",
        "proxy-authorization",
        "proxy-connection",
        "te",
        "trailer",
        "transfer-encoding",
        "upgrade",
    }
)
# ``Connection: host`` must not make the request lose its Host.
_NEVER_NOMINATED = frozenset({"host"})
# Client headers about earlier hops that ``forwarded="replace"`` drops.
FORWARDING_HEADERS = frozenset(
    {
        "forwarded",
        "x-forwarded-for",
        "x-forwarded-host",
        "x-forwarded-port",
        "x-forwarded-proto",
        "x-real-ip",
    }
)
# aiohttp's client adds these unless told not to; the proxy sends only what
# the client sent (Host is always the client's: exactly one is required).
SKIP_AUTO_HEADERS = ("Accept", "Accept-Encoding", "User-Agent", "Content-Type")
# The Server header of the proxy's own responses (no software versions).
SERVER_NAME = "hashlb-proxy"
_STREAM_CHUNK = 65536
# A logged request field (path, method) is cut to this many characters.
_LOG_FIELD = 200


def loggable(value: object, limit: int = _LOG_FIELD) -> str:
    """Return *value* safe for a one-line log: escaped, cut to *limit* characters.

    Control characters, quotes and other unprintable characters are escaped
    as ``repr`` does (a request cannot forge a second log line or colour a
    terminal), and a long value ends in ``...``.
    """
    text = value if isinstance(value, str) else str(value)
    cut = len(text) > limit
    shown = repr(text[:limit])[1:-1]
    return shown + "..." if cut else shown


def describe_failure(exc: BaseException) -> str:
    """A short, bounded reason for a backend failure: the error type and the OS reason."""
    reason = type(exc).__name__
    os_error = getattr(exc, "os_error", None)
    if isinstance(os_error, OSError) and os_error.errno is not None:
        reason += f" ({errno.errorcode.get(os_error.errno, os_error.errno)})"
    return reason


@dataclass
class RequestLog:
    """What the request log line says about one request, filled in as it goes."""

    key: str = "-"
    subset: str = "-"
    endpoint: str = "-"
    error: str | None = None
    #: the error is the backend's (or no backend): the line is a WARNING
    backend_error: bool = False

    def fail(self, reason: str, *, backend: bool = True) -> None:
        """Record why the request did not end well (the first reason wins)."""
        if self.error is None:
            self.error = reason
            self.backend_error = backend

    def line(self, method: str, path: str, status: int | None, ms: float) -> str:
        """The log line: method, path, key, subset, endpoint, status, time."""
        text = (
            f"{loggable(method, 20)} {loggable(path)} key={self.key} subset={self.subset} "
            f"endpoint={self.endpoint} status={status if status is not None else '-'} "
            f"time={ms:.1f}ms"
        )
        return text if self.error is None else f"{text} error={self.error}"


def format_address(peer: Any) -> str | None:
    """Format a socket address as Envoy does: ``ip:port`` or ``[ip6]:port``."""
    if not isinstance(peer, tuple) or len(peer) < 2:
        return None
    host, port = peer[0], peer[1]
    try:
        ip = ip_address(host.split("%", 1)[0])
    except (ValueError, AttributeError):
        return None
    return f"[{ip.compressed}]:{port}" if ip.version == 6 else f"{ip}:{port}"


def connection_tokens(values: Iterable[str]) -> set[str]:
    """Return the header names listed in ``Connection`` values, lower-cased.

    Every ``Connection`` header counts, each a comma-separated token list
    (RFC 9110 §7.6.1); empty list elements are ignored.
    """
    names: set[str] = set()
    for value in values:
        for token in value.split(","):
            token = token.strip().lower()
            if token:
                names.add(token)
    return names


def end_to_end(headers: Iterable[tuple[str, str]]) -> list[tuple[str, str]]:
    """Return *headers* without the hop-by-hop ones, order and case kept."""
    items = list(headers)
    nominated = connection_tokens(v for k, v in items if k.lower() == "connection")
    drop = HOP_BY_HOP | (nominated - _NEVER_NOMINATED)
    return [(k, v) for k, v in items if k.lower() not in drop]


def decode_headers(raw: Iterable[tuple[bytes, bytes]]) -> list[tuple[str, str]] | None:
    """Decode raw header pairs, names and case as they came; None if a value is not UTF-8.

    aiohttp's parsed headers are not faithful enough to forward: its C parser
    respells well-known names (``aCCept`` becomes ``Accept``) and decodes
    values with ``surrogateescape``, which its client then cannot send back
    as the same bytes.  Names are tokens (ASCII, checked by the parser).
    """
    try:
        return [(k.decode("latin-1"), v.decode("utf-8")) for k, v in raw]
    except UnicodeDecodeError:
        return None


def _positive(name: str, value: Any, *, integer: bool = False) -> Any:
    """Return *value* if it is a positive finite number (an int if *integer*)."""
    kind = "an int" if integer else "a number"
    if isinstance(value, bool) or not isinstance(value, int if integer else (int, float)):
        raise TypeError(f"{name} must be {kind}, got {type(value).__name__}")
    if not 0 < value < float("inf"):  # also refuses NaN
        raise ValueError(f"{name} must be {kind} > 0 and finite, got {value!r}")
    return value


class _GuardedProtocol(web.RequestHandler):
    """aiohttp's request handler plus a request-head timeout and a connection cap.

    aiohttp has no timeout for *reading* a request head: a connection that
    sends nothing, or a byte a minute, is held until its keep-alive timer
    fires (3630 s by default in aiohttp 3.14; older releases do not start
    that timer before the first request at all).
    The head timer is armed when the connection opens and again by the first
    byte of each new request; it is disarmed when the request's handler
    starts (the proxy's middleware calls :meth:`request_started`).
    If it fires while no request is being handled, the connection is closed.
    """

    def __init__(self, manager: web.Server, proxy: HashlbProxy, **kwargs: Any) -> None:
        super().__init__(manager, **kwargs)
        self._hl_proxy = proxy
        self._hl_loop = kwargs["loop"]
        self._hl_timer: asyncio.TimerHandle | None = None
        self._hl_busy = False
        self._hl_counted = False

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        super().connection_made(transport)
        proxy = self._hl_proxy
        if proxy.connections >= proxy.max_connections:
            log.warning(
                "connection cap (%d) reached: closing a new connection", proxy.max_connections
            )
            self.force_close()
            return
        proxy.connections += 1
        self._hl_counted = True
        self._hl_arm()

    def data_received(self, data: bytes) -> None:
        if data and self._hl_timer is None and not self._hl_busy:
            self._hl_arm()  # the first byte of a new request head
        super().data_received(data)

    def connection_lost(self, exc: BaseException | None) -> None:
        self._hl_disarm()
        if self._hl_counted:
            self._hl_counted = False
            self._hl_proxy.connections -= 1
        super().connection_lost(exc)

    def request_started(self) -> None:
        """The head is in and a handler runs: stop the head timer."""
        self._hl_busy = True
        self._hl_disarm()

    def request_finished(self) -> None:
        """The handler returned; the next request's first byte re-arms the timer."""
        self._hl_busy = False

    def handle_error(
        self,
        request: Any,
        status: int = 500,
        exc: BaseException | None = None,
        message: str | None = None,
    ) -> web.StreamResponse:
        # A request aiohttp's parser refused (400) or one that broke it: no
        # software version in the Server header, as for every own response.
        response = super().handle_error(request, status, exc, message)
        response.headers["Server"] = SERVER_NAME
        return response

    def log_exception(self, *args: Any, **kwargs: Any) -> None:
        # A malformed request is the client's doing: one INFO line, not an
        # ERROR with a traceback per bad request (a cheap way to flood logs).
        exc = kwargs.get("exc_info")
        if isinstance(exc, HttpProcessingError):
            log.info("refused a malformed request (%s %s)", exc.code, type(exc).__name__)
            return
        super().log_exception(*args, **kwargs)

    def _hl_arm(self) -> None:
        self._hl_timer = self._hl_loop.call_later(
            self._hl_proxy.header_timeout, self._hl_head_timed_out
        )

    def _hl_disarm(self) -> None:
        if self._hl_timer is not None:
            self._hl_timer.cancel()
            self._hl_timer = None

    def _hl_head_timed_out(self) -> None:
        self._hl_timer = None
        if self._hl_busy or self.transport is None:
            return
        peer = self.transport.get_extra_info("peername")
        log.info(
            "request head not complete in %ss from %s: closing", self._hl_proxy.header_timeout, peer
        )
        self.force_close()


class _BackendProtocol(ResponseHandler):
    """aiohttp's client protocol, dropping a connection that speaks out of turn.

    Bytes a backend sends after its final response is complete (a stray
    second response, say) would wait in the pooled connection and be read as
    the response to the *next* request on it: another user's response.
    aiohttp only notices when they arrive before the connection is released;
    this protocol closes the connection whenever they arrive.
    """

    _hl_final: Any = None  # the body stream of the final (non-1xx) response

    def set_response_params(self, *args: Any, **kwargs: Any) -> None:
        self._hl_final = None  # a new request on this connection
        super().set_response_params(*args, **kwargs)

    def feed_data(self, data: Any, *args: Any) -> None:
        message, payload = data
        if getattr(message, "code", 0) >= 200:
            self._hl_final = payload
        super().feed_data(data, *args)

    def data_received(self, data: bytes) -> None:
        final = self._hl_final
        if data and final is not None and final.is_eof():
            log.warning("a backend sent %d bytes after its response: connection closed", len(data))
            if self.transport is not None:
                self.transport.close()  # never handed to another request
            return
        super().data_received(data)


class _BackendConnector(TCPConnector):
    """A TCPConnector whose connections use :class:`_BackendProtocol`."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self._factory = functools.partial(_BackendProtocol, loop=self._loop)  # type: ignore[assignment]


class _Forwarded(web.StreamResponse):
    """A backend's response on its way out: remembers what the backend did not send."""

    no_content_type = False
    no_server = False


async def _response_prepare(_request: web.Request, response: web.StreamResponse) -> None:
    """Undo what aiohttp adds to a forwarded response that the backend did not send.

    aiohttp's ``prepare`` sets a default ``Content-Type`` and its own
    ``Server`` (with its version); this hook runs after that and before the
    head is written.
    """
    if isinstance(response, _Forwarded):
        if response.no_content_type:
            response.headers.popall("Content-Type", None)
        if response.no_server:
            response.headers.popall("Server", None)
    else:  # the proxy's own (or aiohttp's: 404, 417): no software version
        response.headers["Server"] = SERVER_NAME


class _ClientStalled(Exception):
    """The client sent no body bytes for ``client_timeout`` seconds."""


class _BackendStalled(Exception):
    """The backend took no body bytes for ``timeout`` seconds."""


class _Body:
    """The client's request body on its way to the backend, and whose turn it is.

    ``backend_since`` is when the backend was handed a chunk it has not taken
    yet; it is None while the proxy waits for the client (bounded by
    *client_idle*) and once the body is done.
    """

    def __init__(self, content: StreamReader, client_idle: float) -> None:
        self._content = content
        self._idle = client_idle
        self._loop = asyncio.get_running_loop()
        self.backend_since: float | None = None

    async def chunks(self) -> AsyncIterator[bytes]:
        """Yield the body as it arrives; a client silent for too long ends it."""
        while True:
            try:
                chunk = await asyncio.wait_for(self._content.readany(), self._idle)
            except asyncio.TimeoutError:
                raise _ClientStalled from None
            if not chunk:
                return
            self.backend_since = self._loop.time()
            yield chunk  # aiohttp's client asks for the next one once this one is written
            self.backend_since = None


class HashlbProxy:
    """An HTTP/1.1 reverse proxy that routes every request with a hashlb Router.

    :param router: a :class:`hashlb.Router` (anything with ``route(request)``).
    :param timeout: seconds a backend may take for each step: to give a
        connection (pool wait and connect), to take the next piece of the
        request body, to start its response once the request is sent, and
        between two reads of its response (default 10).
    :param debug_headers: add ``x-hashlb-subset`` / ``x-hashlb-endpoint`` to
        responses.  Off by default: they reveal internal addresses.
    :param header_timeout: seconds a connection may take to deliver a complete
        request head, counted from the connection's start or from the first
        byte of the request (default 10).
    :param keepalive_timeout: seconds an idle keep-alive connection is kept
        (default 60).
    :param client_timeout: seconds the client may stay silent while its body
        streams in, or not read while the response streams out (default 60).
    :param forwarded: ``"append"`` (default) adds the client's address to the
        ``X-Forwarded-For`` chain it sent; ``"replace"`` drops every
        forwarding header the client sent (``X-Forwarded-*``, ``X-Real-IP``,
        ``Forwarded``) and sends only the client's address.  Either way
        ``X-Forwarded-Proto`` is set to ``http``.
    :param max_line_size: cap on the request line and on each header line
        (bytes, default 8190).
    :param max_headers: cap on the number of request headers (default 100).
    :param max_header_bytes: cap on the request's header names and values
        together (bytes, default 65536); more gives ``431``.
    :param max_connections: cap on open client connections (default 1024); a
        connection past it is closed at once.
    :param backend_connections: cap on open backend connections (default 256).
    :param backend_connections_per_host: cap per backend (default 128), so one
        slow backend cannot hold every connection.
    """

    def __init__(
        self,
        router: Any,
        *,
        timeout: float = 10.0,
        debug_headers: bool = False,
        header_timeout: float = 10.0,
        keepalive_timeout: float = 60.0,
        client_timeout: float = 60.0,
        forwarded: str = "append",
        max_line_size: int = 8190,
        max_headers: int = 100,
        max_header_bytes: int = 65536,
        max_connections: int = 1024,
        backend_connections: int = 256,
        backend_connections_per_host: int = 128,
    ) -> None:
        self._router = router
        self.timeout = _positive("timeout", timeout)
        self.header_timeout = _positive("header_timeout", header_timeout)
        self.keepalive_timeout = _positive("keepalive_timeout", keepalive_timeout)
        self.client_timeout = _positive("client_timeout", client_timeout)
        if forwarded not in ("append", "replace"):
            raise ValueError(
                f"forwarded must be 'append' or 'replace', got {str(forwarded)[:40]!r}"
            )
        self.forwarded = forwarded
        self.max_line_size = _positive("max_line_size", max_line_size, integer=True)
        self.max_headers = _positive("max_headers", max_headers, integer=True)
        self.max_header_bytes = _positive("max_header_bytes", max_header_bytes, integer=True)
        self.max_connections = _positive("max_connections", max_connections, integer=True)
        self.backend_connections = _positive(
            "backend_connections", backend_connections, integer=True
        )
        self.backend_connections_per_host = _positive(
            "backend_connections_per_host", backend_connections_per_host, integer=True
        )
        self._debug = bool(debug_headers)
        self._session: ClientSession | None = None
        self._runner: web.AppRunner | None = None
        self._listener: asyncio.AbstractServer | None = None
        self.in_flight = 0
        self.connections = 0

    @property
    def router(self) -> Any:
        """Return the router new requests are routed with."""
        return self._router

    def set_router(self, router: Any) -> Any:
        """Swap in a new router; return the old one. In-flight requests are unaffected."""
        old, self._router = self._router, router
        return old

    # -- serving -----------------------------------------------------------

    @web.middleware
    async def _middleware(
        self,
        request: web.Request,
        handler: Callable[[web.Request], Awaitable[web.StreamResponse]],
    ) -> web.StreamResponse:
        """Handle every request with :meth:`handle`, telling the protocol while it runs.

        aiohttp's router has already answered ``Expect: 100-continue``; any
        target it could not match (``*``, ``host:port``) goes to
        :meth:`handle` too, which refuses it with ``400``.
        """
        protocol = request.protocol
        guarded = protocol if isinstance(protocol, _GuardedProtocol) else None
        if guarded is not None:
            guarded.request_started()
        del handler  # always self.handle, matched or not
        try:
            return await self.handle(request)
        finally:
            if guarded is not None:
                guarded.request_finished()

    def _app(self) -> web.Application:
        app = web.Application(middlewares=[self._middleware])
        app.router.add_route("*", "/{tail:.*}", self.handle)
        app.on_response_prepare.append(_response_prepare)
        app.on_startup.append(self._start_session)
        app.on_cleanup.append(self._stop_session)
        return app

    def _protocol(self, server: web.Server, loop: asyncio.AbstractEventLoop) -> _GuardedProtocol:
        return _GuardedProtocol(
            server,
            self,
            loop=loop,
            keepalive_timeout=self.keepalive_timeout,
            max_line_size=self.max_line_size,
            max_field_size=self.max_line_size,
            max_headers=self.max_headers,
            auto_decompress=False,  # a gzip request body is forwarded as gzip
            access_log=None,
        )

    async def start(self, host: str = "127.0.0.1", port: int = 0) -> int:
        """Listen on *host*:*port* (0: any free port); return the bound port."""
        if self._runner is not None:
            raise RuntimeError("the proxy is already started")
        loop = asyncio.get_running_loop()
        runner = web.AppRunner(self._app(), handle_signals=False, shutdown_timeout=self.timeout)
        await runner.setup()
        self._runner = runner
        server = runner.server
        assert server is not None
        try:
            self._listener = await loop.create_server(
                lambda: self._protocol(server, loop), host, port, reuse_address=True
            )
        except BaseException:
            self._runner = None
            await runner.cleanup()
            raise
        sockets = self._listener.sockets or ()
        return int(sockets[0].getsockname()[1])

    async def close(self) -> None:
        """Stop listening, finish or cut the requests in flight, close the backend pool."""
        listener, self._listener = self._listener, None
        runner, self._runner = self._runner, None
        if listener is not None:
            listener.close()
        if runner is not None:
            await runner.cleanup()
        if listener is not None:
            await listener.wait_closed()

    async def _start_session(self, _app: web.Application) -> None:
        self._session = ClientSession(
            connector=_BackendConnector(
                limit=self.backend_connections,
                limit_per_host=self.backend_connections_per_host,
                force_close=False,
            ),
            timeout=ClientTimeout(
                total=None,  # a long download is fine while bytes keep coming
                connect=self.timeout,  # pool wait + connect
                sock_connect=min(self.timeout, 3.0),
                sock_read=self.timeout,
            ),
            auto_decompress=False,  # bodies pass through with their Content-Encoding
            skip_auto_headers=SKIP_AUTO_HEADERS,
            cookie_jar=DummyCookieJar(),  # never mix one user's cookies into another's request
            requote_redirect_url=False,
        )

    async def _stop_session(self, _app: web.Application) -> None:
        if self._session is not None:
            await self._session.close()

    # -- one request -------------------------------------------------------

    def to_hashlb_request(self, request: web.Request) -> Request:
        """Build a hashlb Request from an aiohttp one (raw headers, raw target)."""
        transport = request.transport
        peer = transport.get_extra_info("peername") if transport else None
        sock = transport.get_extra_info("sockname") if transport else None
        return Request(
            headers=request.raw_headers,
            path=request.raw_path,
            remote_address=format_address(peer),
            local_address=format_address(sock),
        )

    @staticmethod
    def _reply(status: int, *, close: bool = False) -> web.Response:
        """The proxy's own response: a status line and its phrase, nothing internal."""
        phrase = HTTPStatus(status).phrase
        response = web.Response(
            status=status, text=f"{status} {phrase}\n", headers={"Server": SERVER_NAME}
        )
        if close:
            response.force_close()
        return response

    def _check(self, request: web.Request, headers: list[tuple[str, str]] | None) -> int | None:
        """Return the status that refuses *request*, or None when it may be forwarded."""
        target = request.raw_path
        # Origin-form only (RFC 9112 §3.2.1): an absolute-form, authority-form
        # (CONNECT) or asterisk-form target is not proxied; a fragment is not
        # part of a request target, and a URI is ASCII (aiohttp's C parser
        # refuses raw non-ASCII bytes already, its Python parser does not).
        if not target.startswith("/") or "#" in target or not target.isascii():
            return 400
        if headers is None:
            return 400  # not UTF-8: aiohttp's client could not send these bytes as they came
        if sum(1 for k, _ in headers if k.lower() == "host") != 1:
            return 400  # RFC 9112 §3.2: exactly one Host
        if sum(len(k) + len(v) for k, v in request.raw_headers) > self.max_header_bytes:
            return 431
        return None

    def _upstream_headers(
        self, headers: list[tuple[str, str]], peer: str | None
    ) -> list[tuple[str, str]]:
        """The headers sent to the backend: the client's end-to-end ones, as sent."""
        headers = end_to_end(headers)
        # The proxy answered any 100-continue itself (aiohttp's expect handler).
        drop = {"expect", "x-forwarded-proto"}
        if self.forwarded == "replace":
            drop |= FORWARDING_HEADERS
        prior = [v for k, v in headers if k.lower() == "x-forwarded-for"]
        drop.add("x-forwarded-for")
        out = [(k, v) for k, v in headers if k.lower() not in drop]
        if peer is not None:
            client_ip = peer.rsplit(":", 1)[0].strip("[]")
            chain = [*prior, client_ip] if self.forwarded == "append" else [client_ip]
            out.append(("X-Forwarded-For", ", ".join(chain)))
        out.append(("X-Forwarded-Proto", "http"))
        return out

    async def handle(self, request: web.Request) -> web.StreamResponse:
        """Check, route, forward and stream back one request, then log it in one line.

        The line (logger ``hashlb.proxy``) is ``INFO``, or ``WARNING`` when
        the backend failed or there was no backend to ask; see
        :class:`RequestLog`.
        """
        start = time.perf_counter()
        entry = RequestLog()
        status: int | None = None
        try:
            response = await self._handle(request, entry)
            status = response.status
            return response
        except asyncio.CancelledError:
            entry.fail("client went away", backend=False)
            raise
        finally:
            ms = (time.perf_counter() - start) * 1000
            level = logging.WARNING if entry.backend_error else logging.INFO
            if log.isEnabledFor(level):
                log.log(level, "%s", entry.line(request.method, request.raw_path, status, ms))

    async def _handle(self, request: web.Request, entry: RequestLog) -> web.StreamResponse:
        headers = decode_headers(request.raw_headers)
        refused = self._check(request, headers)
        if refused is not None or headers is None:
            return self._reply(refused or 400, close=True)
        router = self._router  # one router for the whole request, even across a reload
        hashlb_request = self.to_hashlb_request(request)
        route = router.route(hashlb_request)
        entry.key = "-" if route.hash is None else f"{route.hash:016x}"
        entry.subset = loggable(route.subset, 80)
        if route.host is None:
            entry.fail("no healthy backend in the subset")
            return self._reply(503)
        assert self._session is not None
        remote = hashlb_request.remote_address
        peer = remote if isinstance(remote, str) else None
        address = route.host.address
        entry.endpoint = loggable(address, 80)
        url = URL(f"http://{address}{request.raw_path}", encoded=True)
        body = _Body(request.content, self.client_timeout) if request.body_exists else None
        self.in_flight += 1
        try:
            try:
                upstream = await self._send(
                    self._session.request(
                        request.method,
                        url,
                        headers=self._upstream_headers(headers, peer),
                        data=body.chunks() if body is not None else None,
                        allow_redirects=False,
                    ),
                    body,
                )
            except _ClientStalled:
                entry.fail("client stalled its body", backend=False)
                return self._reply(408, close=True)
            except (asyncio.TimeoutError, _BackendStalled) as exc:
                entry.fail(f"backend timed out ({type(exc).__name__})")
                return self._reply(504)
            except (ClientError, OSError, ValueError) as exc:
                if isinstance(exc.__cause__, _ClientStalled) or isinstance(
                    exc.__context__, _ClientStalled
                ):
                    entry.fail("client stalled its body", backend=False)
                    return self._reply(408, close=True)
                entry.fail(f"backend failed: {describe_failure(exc)}")
                return self._reply(502)
            async with upstream:
                return await self._relay(request, route, upstream, entry)
        finally:
            self.in_flight -= 1

    async def _send(self, sending: Awaitable[ClientResponse], body: _Body | None) -> ClientResponse:
        """Await the backend's response head; a backend that takes no body bytes
        for ``timeout`` seconds raises :class:`_BackendStalled`.

        aiohttp's ``sock_read`` only starts once the body is written and it has
        no write timeout, so a backend that stops reading would hold the
        request (and both connections) for ever.
        """
        if body is None:  # nothing to write: connect and sock_read bound it all
            return await sending
        task = asyncio.ensure_future(sending)
        loop = asyncio.get_running_loop()
        try:
            while True:
                done, _ = await asyncio.wait({task}, timeout=self.timeout / 4)
                if done:
                    return task.result()
                since = body.backend_since
                if since is not None and loop.time() - since >= self.timeout:
                    raise _BackendStalled
        finally:
            if not task.done():
                task.cancel()
                await asyncio.wait({task})

    async def _relay(
        self, request: web.Request, route: Any, upstream: Any, entry: RequestLog
    ) -> web.StreamResponse:
        """Stream the backend's response to the client."""
        address = route.host.address
        if upstream.status < 200:
            # 101 (or another 1xx aiohttp passed on): the proxy never asks
            # for an upgrade (Upgrade is hop-by-hop), so this backend is broken.
            entry.fail(f"backend answered {int(upstream.status)}")
            upstream.close()
            return self._reply(502)
        raw = decode_headers(upstream.raw_headers)
        if raw is None:
            entry.fail("backend sent a header that is not UTF-8")
            return self._reply(502)
        try:
            response = _Forwarded(status=upstream.status, reason=upstream.reason)
        except ValueError:
            entry.fail("backend sent an unusable status line")
            return self._reply(502)
        for k, v in end_to_end(raw):
            if k.lower() != "content-length":
                response.headers.add(k, v)
        if "Transfer-Encoding" not in upstream.headers and upstream.content_length is not None:
            response.content_length = upstream.content_length
        for cookie in getattr(route, "set_cookies", None) or (
            (route.set_cookie,) if route.set_cookie else ()
        ):
            response.headers.add("Set-Cookie", cookie)
        if self._debug:
            response.headers["x-hashlb-subset"] = str(route.subset)
            response.headers["x-hashlb-endpoint"] = address
        response.no_content_type = "Content-Type" not in response.headers
        response.no_server = "Server" not in response.headers
        try:
            await response.prepare(request)
        except ValueError:  # a control character aiohttp will not write
            entry.fail("backend sent a header that cannot be forwarded")
            return self._reply(502)
        transport = request.transport
        loop = asyncio.get_running_loop()
        stalled = False

        def cut() -> None:  # the client stopped reading: drop it, buffer and all
            nonlocal stalled
            stalled = True
            if transport is not None:
                transport.abort()

        try:
            async for chunk in upstream.content.iter_chunked(_STREAM_CHUNK):
                # A timer, not wait_for: no task per chunk.
                timer = loop.call_later(self.client_timeout, cut)
                try:
                    await response.write(chunk)
                finally:
                    timer.cancel()
            await response.write_eof()
        except (ClientError, OSError, asyncio.TimeoutError) as exc:
            # Headers are out: all we can do is cut both streams short.
            if stalled:
                entry.fail("client stopped reading the response: cut", backend=False)
            else:
                backend = isinstance(exc, (ClientError, asyncio.TimeoutError))
                side = "backend" if backend else "client"
                entry.fail(f"response stream cut ({side}): {type(exc).__name__}", backend=backend)
            upstream.close()
            if transport is not None:
                transport.close()  # after what was written (abort() if it stalled)
        return response


@dataclass(frozen=True)
class YamlRoute:
    """What :class:`YamlRouter` returns: the fields of :class:`hashlb.Route` the proxy uses."""

    subset: str
    host: Host | None  # None: the subset has no host to give (the proxy answers 503)
    hash: int | None
    set_cookie: str | None


class YamlRouter:
    """Route like ``hashlb simulate`` does, from Istio/Kubernetes YAML.

    It wraps :mod:`hashlb.istio`'s route engine for the VirtualService's first http
    route that has no ``match`` (a catch-all), so the proxy follows exactly
    the configuration ``hashlb simulate`` reads: the DestinationRule's
    consistent hash (with subset and port overrides), the weighted subsets,
    and Istio's per-destination hash policies in envoy mode.

    *endpoints* are files of Pods with real IPs (``kubectl get pods -o
    yaml``), as ``hashlb simulate --endpoints`` reads them: Pods matching a
    Deployment's selector replace its synthetic pods, so the endpoints are
    ``podIP:containerPort`` (or the Service's ``targetPort``).
    """

    def __init__(
        self,
        paths: Sequence[str],
        *,
        mode: str = "sticky",
        seed: int = 0,
        host: str | None = None,
        endpoints: Sequence[str] = (),
    ) -> None:
        from hashlb.istio import build_engines, load_mesh

        scenario = load_mesh(list(paths), list(endpoints)).scenario(host)
        engines = [e for e in build_engines(scenario, mode, seed) if e.plan.matches is None]
        if not engines:
            raise ValueError(f"{scenario.source} has no http route without a match")
        self.engine = engines[0]
        self.scenario = scenario

    def endpoints(self) -> dict[str, list[tuple[str, str, bool]]]:
        """Return subset -> [(pod name, address, synthetic)] for the routed subsets."""
        out: dict[str, list[tuple[str, str, bool]]] = {}
        for d in self.engine.plan.destinations:
            out[d.name] = [(e.pod.name, e.address, e.pod.synthetic) for e in d.endpoints]
        return out

    def route(self, request: Request) -> YamlRoute:
        """Route one request: subset, endpoint, hash and Set-Cookie."""
        subset, address, _pod, h, set_cookie = self.engine.route(request)
        return YamlRoute(subset, None if address is None else Host(address), h, set_cookie)


def load_router(
    paths: Sequence[str],
    *,
    mode: str,
    seed: int,
    host: str | None,
    endpoints: Sequence[str] = (),
) -> YamlRouter:
    """Build a router from the same Istio/Kubernetes YAML as ``hashlb simulate``."""
    return YamlRouter(paths, mode=mode, seed=seed, host=host, endpoints=endpoints)


class StartupError(Exception):
    """The proxy cannot start; ``str()`` is the one-line reason printed before exit 2."""


def parse_listen(listen: str) -> tuple[str, int]:
    """Split ``ADDRESS:PORT`` (``[IPv6]:PORT``) into (address, port); ValueError if malformed."""
    host, sep, port = listen.rpartition(":")
    if not sep or not port.isdigit() or not 0 <= int(port) <= 65535:
        raise ValueError(f"--listen: expected ADDRESS:PORT, got {loggable(listen, 80)!r}")
    return host.strip("[]") or "127.0.0.1", int(port)


async def listen_on(proxy: HashlbProxy, listen: str) -> int:
    """Start *proxy* on *listen*; a taken or unusable address raises :class:`StartupError`."""
    host, port = parse_listen(listen)
    try:
        return await proxy.start(host, port)
    except OSError as exc:
        if exc.errno == errno.EADDRINUSE:
            raise StartupError(
                f"cannot listen on {loggable(listen, 80)}: port {port} is already in use "
                "(stop what holds it, or pick another with --listen ADDRESS:PORT)"
            ) from None
        reason = exc.strerror or type(exc).__name__
        raise StartupError(f"cannot listen on {loggable(listen, 80)}: {reason}") from None


async def serve(
    proxy: HashlbProxy, listen: str, *, reload: Callable[[], Any] | None = None
) -> None:
    """Serve until SIGINT or SIGTERM; on SIGHUP swap in ``reload()``'s router.

    :raises StartupError: the address cannot be listened on (the port is taken).
    """
    host, _ = parse_listen(listen)
    loop = asyncio.get_running_loop()
    stop = asyncio.Event()
    loop.add_signal_handler(signal.SIGINT, stop.set)
    loop.add_signal_handler(signal.SIGTERM, stop.set)
    port = await listen_on(proxy, listen)
    shown = f"[{host}]" if ":" in host else host
    print(f"hashlb proxy listening on http://{shown}:{port}", file=sys.stderr, flush=True)
    if reload is not None:

        def on_hup() -> None:
            try:
                router = reload()
                proxy.set_router(router)
                print("reloaded: new router swapped in", file=sys.stderr)
                warn_synthetic(router)
            except Exception as exc:  # keep serving with the old router
                print(f"reload failed, keeping the old router: {exc}", file=sys.stderr)

        loop.add_signal_handler(signal.SIGHUP, on_hup)
    await stop.wait()
    with contextlib.suppress(Exception):
        await proxy.close()


def warn_synthetic(router: Any) -> None:
    """Warn when endpoints have synthetic addresses: nothing answers there."""
    endpoints = getattr(router, "endpoints", None)
    if endpoints is None:
        return
    pods = [e for members in endpoints().values() for e in members]
    synthetic = [name for name, _, fake in pods if fake]
    if synthetic:
        log.warning(
            "%d of %d endpoints have synthetic addresses (a Deployment has no pod IPs): "
            "requests routed to them fail with 502; give the real pods with "
            "--endpoints pods.yaml (kubectl get pods -o yaml)",
            len(synthetic),
            len(pods),
        )


LOG_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"


def add_log_level(ap: argparse.ArgumentParser, default: str, help: str) -> None:
    """Add ``--log-level {DEBUG,INFO,WARNING,ERROR}`` (any case) to *ap*."""
    ap.add_argument(
        "--log-level",
        choices=("DEBUG", "INFO", "WARNING", "ERROR"),
        default=default,
        type=str.upper,
        help=help,
    )


def main(argv: Sequence[str] | None = None) -> int:
    """Run the proxy from the command line; 2 (and one line on stderr) if it cannot start."""
    ap = argparse.ArgumentParser(
        prog="hashlb_proxy.py", description="hashlb reverse proxy (aiohttp)"
    )
    ap.add_argument(
        "-f",
        "--file",
        action="append",
        required=True,
        help="Istio/Kubernetes YAML (file or directory)",
    )
    ap.add_argument(
        "--endpoints",
        action="append",
        default=[],
        metavar="PODS.yaml",
        help="Pods with real IPs (kubectl get pods -o yaml), as in hashlb simulate; repeatable",
    )
    ap.add_argument("--host", help="the VirtualService host to serve (default: the only one)")
    ap.add_argument("--listen", default="127.0.0.1:8080", help="address:port to listen on")
    ap.add_argument("--mode", choices=("sticky", "envoy"), default="sticky")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--timeout", type=float, default=10.0, help="backend timeout, seconds")
    ap.add_argument(
        "--header-timeout", type=float, default=10.0, help="seconds to receive a request head"
    )
    ap.add_argument(
        "--keepalive-timeout", type=float, default=60.0, help="idle keep-alive, seconds"
    )
    ap.add_argument(
        "--client-timeout",
        type=float,
        default=60.0,
        help="seconds a client may stall its body or its reading",
    )
    ap.add_argument(
        "--forwarded",
        choices=("append", "replace"),
        default="append",
        help="append to the client's X-Forwarded-For, or replace it",
    )
    ap.add_argument("--max-connections", type=int, default=1024, help="client connections cap")
    ap.add_argument(
        "--debug-headers",
        action="store_true",
        help="add x-hashlb-subset/x-hashlb-endpoint to responses (reveals backend addresses)",
    )
    add_log_level(ap, "INFO", "INFO (default) logs one line per request; WARNING only failures")
    args = ap.parse_args(argv)
    try:
        parse_listen(args.listen)
    except ValueError as exc:
        ap.error(str(exc))
    logging.basicConfig(level=args.log_level, format=LOG_FORMAT, stream=sys.stderr)
    try:
        from hashlb.istio import InputError  # bad or unreadable YAML: FILE:LINE: reason
    except ImportError as exc:  # PyYAML is missing: pip install ".[proxy]"
        print(f"hashlb_proxy.py: error: {_one_line(exc)}", file=sys.stderr)
        return 2

    def reload() -> Any:
        return load_router(
            args.file, mode=args.mode, seed=args.seed, host=args.host, endpoints=args.endpoints
        )

    try:
        router = reload()
        proxy = HashlbProxy(
            router,
            timeout=args.timeout,
            header_timeout=args.header_timeout,
            keepalive_timeout=args.keepalive_timeout,
            client_timeout=args.client_timeout,
            forwarded=args.forwarded,
            max_connections=args.max_connections,
            debug_headers=args.debug_headers,
        )
        warn_synthetic(router)
        asyncio.run(serve(proxy, args.listen, reload=reload))
    except (StartupError, InputError, ValueError, TypeError, ImportError) as exc:
        # ValueError: a ConfigError the library raised; ImportError: PyYAML missing.
        print(f"hashlb_proxy.py: error: {_one_line(exc)}", file=sys.stderr)
        return 2
    return 0


def _one_line(exc: BaseException) -> str:
    """The exception's message on one line, cut to a few hundred characters."""
    text = " ".join(str(exc).split()) or type(exc).__name__
    return text if len(text) <= 400 else text[:400] + "..."


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
