"""Raw HTTP/1.1 on loopback sockets, for testing the example proxy on the wire.

:class:`RawBackend` is an origin server written on bare asyncio streams: it
records every request exactly as the bytes arrived (request line, header
lines with their case and order, the body as framed on the wire), so a test
sees what the proxy really sent, not what a library made of it.  The client
helpers send exact bytes and read one response back.

Every read has a timeout and every loop a count bound; everything binds
127.0.0.1.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

READ_TIMEOUT = 10.0
MAX_REQUESTS_PER_CONNECTION = 1000
MAX_CHUNKS = 100_000


@dataclass
class Recorded:
    """One request as a backend received it."""

    head: bytes  # request line and header lines, up to and including the blank line
    line: bytes  # the request line, without CRLF
    headers: list[tuple[bytes, bytes]]  # (name, value) exactly as sent, in order
    body: bytes = b""  # the body after de-chunking
    wire_body: bytes = b""  # the body bytes as they were framed on the wire
    chunked: bool = False

    @property
    def method(self) -> bytes:
        return self.line.split(b" ", 1)[0]

    @property
    def target(self) -> bytes:
        return self.line.split(b" ")[1]

    def names(self) -> list[bytes]:
        """Header names, lower-cased, in order."""
        return [k.lower() for k, _ in self.headers]

    def get_all(self, name: bytes) -> list[bytes]:
        return [v for k, v in self.headers if k.lower() == name.lower()]


def parse_head(head: bytes) -> tuple[bytes, list[tuple[bytes, bytes]]]:
    """Split a message head into its first line and (name, value) pairs."""
    lines = head[: -len(b"\r\n\r\n")].split(b"\r\n")
    headers = []
    for line in lines[1:]:
        name, _, value = line.partition(b":")
        headers.append((name, value.strip(b" \t")))
    return lines[0], headers


async def _read(coro: Awaitable[bytes]) -> bytes:
    return await asyncio.wait_for(coro, READ_TIMEOUT)


async def read_body(
    reader: asyncio.StreamReader, headers: list[tuple[bytes, bytes]], *, until_close: bool
) -> tuple[bytes, bytes, bool]:
    """Read a body framed by *headers*: (body, wire bytes, chunked)."""
    te = [v.lower() for k, v in headers if k.lower() == b"transfer-encoding"]
    cl = [v for k, v in headers if k.lower() == b"content-length"]
    if te:
        assert te == [b"chunked"], te
        body, wire = b"", b""
        for _ in range(MAX_CHUNKS):
            size_line = await _read(reader.readuntil(b"\r\n"))
            wire += size_line
            size = int(size_line.split(b";")[0], 16)
            if size == 0:
                trailer = await _read(reader.readuntil(b"\r\n"))
                wire += trailer
                assert trailer == b"\r\n", trailer
                return body, wire, True
            data = await _read(reader.readexactly(size + 2))
            wire += data
            body += data[:-2]
        raise AssertionError("too many chunks")
    if cl:
        assert len(set(cl)) == 1, cl
        data = await _read(reader.readexactly(int(cl[0])))
        return data, data, False
    if until_close:
        data = await _read(reader.read())
        return data, data, False
    return b"", b"", False


Responder = Callable[[Recorded, asyncio.StreamWriter], Awaitable[bool]]


def fixed(response: bytes) -> Responder:
    """A responder that writes *response* to every request; the connection stays open."""

    async def respond(_req: Recorded, writer: asyncio.StreamWriter) -> bool:
        writer.write(response)
        await writer.drain()
        return True

    return respond


OK = b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok"


@dataclass
class RawBackend:
    """An origin on 127.0.0.1 that records each request as it came off the socket.

    *respond(request, writer)* writes the response and returns whether to keep
    the connection open.  ``open_now``/``max_open`` count connections.  With
    ``read_bodies=False`` the body is left unread (a backend that stops
    reading).
    """

    respond: Responder = field(default_factory=lambda: fixed(OK))
    requests: list[Recorded] = field(default_factory=list)
    open_now: int = 0
    max_open: int = 0
    connections: int = 0
    port: int = 0
    closed_by_peer: int = 0
    read_bodies: bool = True
    _server: asyncio.AbstractServer | None = None
    _tasks: set[asyncio.Task[None]] = field(default_factory=set)
    arrived: asyncio.Event = field(default_factory=asyncio.Event)

    async def start(self) -> RawBackend:
        self._server = await asyncio.start_server(self._serve, "127.0.0.1", 0, limit=1 << 20)
        self.port = self._server.sockets[0].getsockname()[1]
        return self

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.port}"

    async def close(self) -> None:
        if self._server is not None:
            self._server.close()
        for task in list(self._tasks):
            task.cancel()
        for task in list(self._tasks):
            with contextlib.suppress(Exception, asyncio.CancelledError):
                await task
        if self._server is not None:
            await self._server.wait_closed()

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        self._tasks.add(task)
        self.connections += 1
        self.open_now += 1
        self.max_open = max(self.max_open, self.open_now)
        try:
            for _ in range(MAX_REQUESTS_PER_CONNECTION):
                try:
                    head = await _read(reader.readuntil(b"\r\n\r\n"))
                except (asyncio.IncompleteReadError, ConnectionError):
                    self.closed_by_peer += 1
                    return
                line, headers = parse_head(head)
                rec = Recorded(head, line, headers)
                self.requests.append(rec)
                self.arrived.set()
                if self.read_bodies:
                    rec.body, rec.wire_body, rec.chunked = await read_body(
                        reader, headers, until_close=False
                    )
                if not await self.respond(rec, writer):
                    return
        except (asyncio.IncompleteReadError, ConnectionError):
            self.closed_by_peer += 1
        finally:
            self.open_now -= 1
            writer.close()
            with contextlib.suppress(Exception, asyncio.CancelledError):
                await writer.wait_closed()
            self._tasks.discard(task)


@dataclass
class Response:
    """One response as the client received it."""

    status: int
    line: bytes
    headers: list[tuple[bytes, bytes]]
    body: bytes
    head: bytes

    def names(self) -> list[bytes]:
        return [k.lower() for k, _ in self.headers]

    def get_all(self, name: bytes) -> list[bytes]:
        return [v for k, v in self.headers if k.lower() == name.lower()]


async def read_response(reader: asyncio.StreamReader, *, head_request: bool = False) -> Response:
    """Read one response (skipping 1xx interim responses)."""
    for _ in range(10):
        head = await _read(reader.readuntil(b"\r\n\r\n"))
        line, headers = parse_head(head)
        status = int(line.split(b" ")[1])
        if 100 <= status < 200:
            continue
        if head_request or status in (204, 304):
            body = b""
        else:
            framed = any(k.lower() in (b"content-length", b"transfer-encoding") for k, _ in headers)
            body, _, _ = await read_body(reader, headers, until_close=not framed)
        return Response(status, line, headers, body, head)
    raise AssertionError("too many interim responses")


async def connect(port: int) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
    return await asyncio.open_connection("127.0.0.1", port, limit=1 << 20)


async def exchange(port: int, data: bytes, *, head_request: bool = False) -> Response:
    """Open a connection, send *data*, read one response, close."""
    reader, writer = await connect(port)
    try:
        writer.write(data)
        await writer.drain()
        return await read_response(reader, head_request=head_request)
    finally:
        writer.close()
        with contextlib.suppress(Exception, asyncio.CancelledError):
            await writer.wait_closed()


async def closed_within(reader: asyncio.StreamReader, seconds: float) -> bool:
    """Read until EOF or a reset (True) or until *seconds* pass (False)."""
    loop = asyncio.get_running_loop()
    end = loop.time() + seconds
    for _ in range(100_000):
        left = end - loop.time()
        if left <= 0:
            return False
        try:
            data = await asyncio.wait_for(reader.read(65536), left)
        except asyncio.TimeoutError:
            return False
        except ConnectionError:
            return True
        if not data:
            return True
    return False
