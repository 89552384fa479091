"""The example proxy's HTTP hygiene, checked on the wire (issue #10, items 15-17).

Every test runs the real proxy (examples/proxy/hashlb_proxy.py) on 127.0.0.1
in front of :class:`tests._rawhttp.RawBackend`, an origin on bare asyncio
streams that records each request exactly as its bytes arrived, and talks to
the proxy over raw sockets, so what is asserted is what went over the wire.
Waits are bounded (a generous upper bound, never a tight timing assertion)
and every loop has a count bound.
"""

from __future__ import annotations

import asyncio
import gzip
import sys
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest

pytest.importorskip("aiohttp")

import hashlb
from hashlb.policy import HashPolicy, Header
from hashlb.router import Router

from ._rawhttp import (
    OK,
    RawBackend,
    Recorded,
    Responder,
    closed_within,
    connect,
    exchange,
    fixed,
    read_response,
)

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "examples" / "proxy"))
from hashlb_proxy import (
    HOP_BY_HOP,
    HashlbProxy,
    connection_tokens,
    end_to_end,
)

pytestmark = pytest.mark.slow
BOUND = 60.0  # seconds any one test body may take, at most


class Spy:
    """A router wrapper that remembers the path of each hashlb Request it routed."""

    def __init__(self, inner: Any) -> None:
        self.inner = inner
        self.paths: list[str] = []

    def route(self, request: Any) -> Any:
        self.paths.append(request.path)
        return self.inner.route(request)


def _router(*addresses: str) -> Router:
    return Router(
        [hashlb.Host(a, labels={"v": "1"}) for a in addresses],
        subsets={"all": {"v": "1"}},
        weights={"all": 1},
        policy=HashPolicy(Header("x-user")),
    )


Body = Callable[[HashlbProxy, int, RawBackend], Awaitable[Any]]


def run(
    body: Body, *, respond: Responder | None = None, read_bodies: bool = True, **proxy_kw: Any
) -> Any:
    """One raw backend, the proxy in front of it, *body*, then tear everything down."""

    async def main() -> Any:
        backend = RawBackend(respond) if respond else RawBackend()
        backend.read_bodies = read_bodies
        await backend.start()
        proxy = HashlbProxy(Spy(_router(backend.address)), **proxy_kw)
        port = await proxy.start()
        try:
            return await asyncio.wait_for(body(proxy, port, backend), BOUND)
        finally:
            await proxy.close()
            await backend.close()

    return asyncio.run(main())


def get(target: bytes = b"/", *headers: bytes, method: bytes = b"GET") -> bytes:
    lines = [method + b" " + target + b" HTTP/1.1", b"Host: shop", *headers]
    return b"\r\n".join(lines) + b"\r\n\r\n"


# -- item 15: hop-by-hop headers ----------------------------------------------


def test_connection_tokens_parse_every_connection_header_case_insensitively() -> None:
    assert connection_tokens(["X-Foo, keep-alive", " x-BAR ,,", "Close"]) == {
        "x-foo",
        "keep-alive",
        "x-bar",
        "close",
    }
    headers = [
        ("Host", "h"),
        ("CONNECTION", "X-A"),
        ("x-a", "1"),
        ("connection", "x-b, Host"),
        ("X-B", "2"),
        ("Keep-Alive", "5"),
        ("X-C", "3"),
    ]
    assert end_to_end(headers) == [("Host", "h"), ("X-C", "3")]


def test_hop_by_hop_request_headers_never_reach_the_backend() -> None:
    """The standard set and every name listed in any Connection header are removed."""

    async def body(_p: HashlbProxy, port: int, backend: RawBackend) -> None:
        request = get(
            b"/",
            b"Connection: X-Foo, keep-alive",
            b"connection: x-BAR",
            b"X-Foo: secret",
            b"X-Bar: secret",
            b"Keep-Alive: timeout=5",
            b"Proxy-Connection: keep-alive",
            b"Proxy-Authorization: Basic c2VjcmV0",
            b"TE: trailers",
            b"Trailer: X-T",
            b"Upgrade: websocket",
            b"X-Keep: yes",
        )
        r = await exchange(port, request)
        assert r.status == 200
        (rec,) = backend.requests
        sent = set(rec.names())
        assert not sent & {n.encode() for n in HOP_BY_HOP}
        assert not sent & {b"x-foo", b"x-bar"}
        assert rec.get_all(b"x-keep") == [b"yes"]
        assert rec.get_all(b"host") == [b"shop"]

    run(body)


def test_connection_cannot_remove_host() -> None:
    """``Connection: Host`` does not make the request lose its Host header."""

    async def body(_p: HashlbProxy, port: int, backend: RawBackend) -> None:
        assert (await exchange(port, get(b"/", b"Connection: Host"))).status == 200
        assert backend.requests[0].get_all(b"host") == [b"shop"]

    run(body)


def test_hop_by_hop_response_headers_never_reach_the_client() -> None:
    response = (
        b"HTTP/1.1 200 OK\r\n"
        b"Connection: X-Secret\r\n"
        b"connection: x-OTHER, keep-alive\r\n"
        b"X-Secret: internal\r\n"
        b"X-Other: internal\r\n"
        b"Keep-Alive: timeout=5\r\n"
        b"Proxy-Authenticate: Basic\r\n"
        b"Proxy-Connection: keep-alive\r\n"
        b"Trailer: X-T\r\n"
        b"Upgrade: h2c\r\n"
        b"X-Keep: yes\r\n"
        b"Content-Length: 2\r\n\r\nok"
    )

    async def body(_p: HashlbProxy, port: int, _b: RawBackend) -> None:
        r = await exchange(port, get())
        assert r.status == 200 and r.body == b"ok"
        names = set(r.names())
        assert not names & {b"x-secret", b"x-other", b"keep-alive", b"proxy-authenticate"}
        assert not names & {b"proxy-connection", b"trailer", b"upgrade"}
        assert r.get_all(b"x-keep") == [b"yes"]
        assert r.get_all(b"connection") in ([], [b"keep-alive"])  # the proxy's own, if any

    run(body, respond=fixed(response))


def test_request_body_framing_is_the_proxys_own() -> None:
    """A chunked body is re-framed by the proxy; a Content-Length body keeps its length."""

    async def body(_p: HashlbProxy, port: int, backend: RawBackend) -> None:
        chunked = (
            b"POST /c HTTP/1.1\r\nHost: shop\r\nTransfer-Encoding: chunked\r\n\r\n"
            b"5\r\nhello\r\n6\r\n world\r\n0\r\n\r\n"
        )
        assert (await exchange(port, chunked)).status == 200
        sized = b"POST /s HTTP/1.1\r\nHost: shop\r\nContent-Length: 5\r\n\r\nhello"
        assert (await exchange(port, sized)).status == 200
        c, s = backend.requests
        assert c.body == b"hello world" and c.chunked
        assert c.get_all(b"content-length") == []
        assert s.body == b"hello" and not s.chunked
        assert s.get_all(b"content-length") == [b"5"]
        assert s.get_all(b"transfer-encoding") == []

    run(body)


# -- item 16: the request target, byte for byte ---------------------------------

TARGETS = [
    b"/public/%2e%2e/admin",
    b"/public/%2E%2E/admin",
    b"/public/../admin",
    b"/a/./b",
    b"/a%2fb%2Fc",
    b"//double//slashes/",
    b"/q?a=%2f&b=%2F&c=%zz&d=a+b&e=%20",
    b"/x;param=1?y=2?z",
    b"/%7e/~user/",
    b"/%00",
    b"/a?",  # see test_an_empty_query_is_the_one_exception
]


@pytest.mark.parametrize("target", [t for t in TARGETS if t != b"/a?"], ids=repr)
def test_request_target_is_forwarded_byte_for_byte(target: bytes) -> None:
    """The backend sees exactly the target the hash was computed on."""

    async def body(proxy: HashlbProxy, port: int, backend: RawBackend) -> None:
        assert (await exchange(port, get(target))).status == 200
        (rec,) = backend.requests
        assert rec.target == target
        assert proxy.router.paths == [target.decode()]

    run(body)


def test_an_empty_query_is_the_one_exception() -> None:
    """``/a?`` reaches the backend as ``/a`` (yarl cannot hold an empty query); documented."""

    async def body(proxy: HashlbProxy, port: int, backend: RawBackend) -> None:
        assert (await exchange(port, get(b"/a?"))).status == 200
        assert backend.requests[0].target == b"/a"
        assert proxy.router.paths == ["/a?"]

    run(body)


@pytest.mark.parametrize(
    "request_bytes",
    [
        b"GET http://evil.example/admin HTTP/1.1\r\nHost: shop\r\n\r\n",  # absolute-form
        b"CONNECT evil.example:443 HTTP/1.1\r\nHost: evil.example:443\r\n\r\n",  # authority
        b"OPTIONS * HTTP/1.1\r\nHost: shop\r\n\r\n",  # asterisk-form
        b"GET /a#frag HTTP/1.1\r\nHost: shop\r\n\r\n",
        b"GET /caf\xc3\xa9 HTTP/1.1\r\nHost: shop\r\n\r\n",  # raw non-ASCII in the target
        b"GET / HTTP/1.1\r\n\r\n",  # no Host
        b"GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n",  # two Hosts
        b"GET / HTTP/1.0\r\n\r\n",  # HTTP/1.0 without Host
        b"GET / HTTP/1.1\r\nHost: shop\r\nX-Bin: \xff\xfe\r\n\r\n",  # not UTF-8
    ],
    ids=repr,
)
def test_requests_the_proxy_cannot_forward_faithfully_get_400(request_bytes: bytes) -> None:
    async def body(_p: HashlbProxy, port: int, backend: RawBackend) -> None:
        r = await exchange(port, request_bytes)
        assert r.status == 400
        assert backend.requests == []

    run(body)


# -- item 17a: timeouts and caps on the client side --------------------------------


def test_half_open_connections_are_closed_by_the_head_timeout() -> None:
    """Silent, partial and trickling request heads are all cut (header_timeout=0.5 s)."""

    async def body(_p: HashlbProxy, port: int, backend: RawBackend) -> None:
        silent = [await connect(port) for _ in range(4)]
        partial = [await connect(port) for _ in range(3)]
        for _, w in partial:
            w.write(b"GET /slow HTTP/1.1\r\nHost: shop\r\nX-A: ")
        trickle = [await connect(port) for _ in range(3)]
        head = get(b"/trickle", b"X-Pad: " + b"p" * 200)
        done = asyncio.Event()

        async def drip(w: asyncio.StreamWriter) -> int:
            sent = 0
            for byte in head[:-1]:  # never the last byte: the head never completes
                if done.is_set() or w.is_closing():
                    break
                try:
                    w.write(bytes([byte]))
                    await w.drain()
                except ConnectionError:
                    break
                sent += 1
                await asyncio.sleep(0.02)
            return sent

        drips = [asyncio.ensure_future(drip(w)) for _, w in trickle]
        everyone = silent + partial + trickle
        closed = await asyncio.gather(*(closed_within(r, 20.0) for r, _ in everyone))
        done.set()
        sent = await asyncio.gather(*drips)
        for _, w in everyone:
            w.close()
        assert all(closed), closed  # 10 of 10 closed by the proxy
        assert all(n < len(head) - 1 for n in sent), sent  # the trickle was cut short
        assert backend.requests == []

    run(body, header_timeout=0.5)


def test_head_timeout_never_cuts_a_request_being_handled() -> None:
    """A backend slower than header_timeout still answers; keep-alive reuse still works."""

    async def slow(_req: Recorded, writer: asyncio.StreamWriter) -> bool:
        await asyncio.sleep(2.5)
        writer.write(OK)
        await writer.drain()
        return True

    async def body(_p: HashlbProxy, port: int, backend: RawBackend) -> None:
        reader, writer = await connect(port)
        try:
            for i in range(2):
                writer.write(get(f"/{i}".encode()))
                await writer.drain()
                r = await read_response(reader)
                assert r.status == 200 and r.body == b"ok"
        finally:
            writer.close()
        assert [r.target for r in backend.requests] == [b"/0", b"/1"]

    run(body, respond=slow, header_timeout=1.0, timeout=10)


def test_a_head_sent_in_pieces_within_the_timeout_is_served() -> None:
    async def body(_p: HashlbProxy, port: int, _b: RawBackend) -> None:
        reader, writer = await connect(port)
        try:
            request = get(b"/pieces", b"X-A: 1")
            for i in range(0, len(request), 7):
                writer.write(request[i : i + 7])
                await writer.drain()
                await asyncio.sleep(0.01)
            assert (await read_response(reader)).status == 200
        finally:
            writer.close()

    run(body, header_timeout=20)


def test_idle_keepalive_connections_are_closed() -> None:
    async def body(_p: HashlbProxy, port: int, _b: RawBackend) -> None:
        reader, writer = await connect(port)
        try:
            writer.write(get())
            await writer.drain()
            assert (await read_response(reader)).status == 200
            assert await closed_within(reader, 20.0)
        finally:
            writer.close()

    run(body, keepalive_timeout=0.5)


def test_connections_past_max_connections_are_closed_at_once() -> None:
    async def body(proxy: HashlbProxy, port: int, _b: RawBackend) -> None:
        held = [await connect(port) for _ in range(3)]
        for _ in range(2000):  # let the proxy count them
            if proxy.connections == 3:
                break
            await asyncio.sleep(0.01)
        assert proxy.connections == 3
        reader, writer = await connect(port)
        assert await closed_within(reader, 20.0)
        writer.close()
        r, w = held[0]
        w.write(get())
        await w.drain()
        assert (await read_response(r)).status == 200  # the held ones are served
        for _, w in held:
            w.close()

    run(body, max_connections=3)


@pytest.mark.parametrize(
    ("target", "extra", "status"),
    [
        (b"/", [b"X-H%d: v" % i for i in range(89)], 200),  # 90 headers with Host: fine
        (b"/", [b"X-H%d: v" % i for i in range(101)], 400),  # max_headers=100
        (b"/", [b"X-Long: " + b"v" * 9000], 400),  # max_line_size=8190 (a value)
        (b"/", [b"X" * 9000 + b": v"], 400),  # (a name)
        (b"/" + b"a" * 9000, [], 400),  # (the request line)
        (b"/", [b"X-P%d: " % i + b"v" * 8000 for i in range(9)], 431),  # max_header_bytes
    ],
    ids=["90-headers", "101-headers", "long-value", "long-name", "long-target", "total"],
)
def test_header_caps(target: bytes, extra: list[bytes], status: int) -> None:
    async def body(_p: HashlbProxy, port: int, backend: RawBackend) -> None:
        r = await exchange(port, get(target, *extra))
        assert r.status == status
        assert len(backend.requests) == (status == 200)

    run(body)


def test_a_stalled_request_body_gets_408() -> None:
    """Headers say 100 bytes, 10 come, then silence: 408 after client_timeout."""

    async def body(_p: HashlbProxy, port: int, backend: RawBackend) -> None:
        reader, writer = await connect(port)
        try:
            writer.write(
                b"POST / HTTP/1.1\r\nHost: shop\r\nContent-Length: 100\r\n\r\n" + b"x" * 10
            )
            await writer.drain()
            r = await read_response(reader)
            assert r.status == 408
            assert await closed_within(reader, 20.0)
        finally:
            writer.close()
        assert backend.requests[0].line == b"POST / HTTP/1.1"

    run(body, client_timeout=0.5)


def test_a_client_that_does_not_read_is_cut_and_the_backend_freed() -> None:
    """The backend streams 1 MiB chunks to a client that never reads: both ends are closed."""
    chunk = b"z" * (1 << 20)
    sent: list[int] = []

    async def firehose(_req: Recorded, writer: asyncio.StreamWriter) -> bool:
        writer.write(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n")
        n = 0
        for _ in range(512):  # at most 512 MiB, far more than any socket buffers
            try:
                writer.write(b"%x\r\n%s\r\n" % (len(chunk), chunk))
                await asyncio.wait_for(writer.drain(), 30)
            except (ConnectionError, asyncio.TimeoutError):
                break
            n += 1
        sent.append(n)
        return False

    async def body(proxy: HashlbProxy, port: int, backend: RawBackend) -> None:
        reader, writer = await connect(port)
        writer.write(get())
        await writer.drain()
        for _ in range(2000):  # the backend is cut off: its writes fail
            if sent:
                break
            await asyncio.sleep(0.02)
        assert sent and sent[0] < 512, sent
        for _ in range(2000):  # the client's connection is gone, unread buffer and all
            if proxy.connections == 0:
                break
            await asyncio.sleep(0.01)
        assert proxy.connections == 0
        assert await closed_within(reader, 20.0)
        writer.close()

    run(body, respond=firehose, client_timeout=0.5)


def test_a_backend_that_stops_reading_the_body_gives_504() -> None:
    """aiohttp's client has no write timeout: the proxy's own watchdog ends the wait."""
    gate = asyncio.Event()

    async def deaf(_req: Recorded, _writer: asyncio.StreamWriter) -> bool:
        await asyncio.wait_for(gate.wait(), 60)  # never reads the body
        return False

    async def body(_p: HashlbProxy, port: int, backend: RawBackend) -> None:
        reader, writer = await connect(port)
        chunk = b"x" * (1 << 20)
        total = 512 * len(chunk)
        writer.write(b"POST / HTTP/1.1\r\nHost: shop\r\nContent-Length: %d\r\n\r\n" % total)
        response = asyncio.ensure_future(read_response(reader))
        pushed = 0
        for _ in range(512):  # until the socket buffers on every hop are full
            if response.done():
                break
            writer.write(chunk)
            try:
                await asyncio.wait_for(writer.drain(), 5)
            except (asyncio.TimeoutError, ConnectionError):
                break
            pushed += 1
        r = await asyncio.wait_for(response, 30)
        gate.set()
        writer.close()
        assert r.status == 504 and r.body == b"504 Gateway Timeout\n"
        assert pushed < 512  # the body was never all taken

    run(body, respond=deaf, read_bodies=False, timeout=0.5)


def test_backend_connections_are_capped_per_host() -> None:
    async def slow(_req: Recorded, writer: asyncio.StreamWriter) -> bool:
        await asyncio.sleep(0.2)
        writer.write(OK)
        await writer.drain()
        return True

    async def body(_p: HashlbProxy, port: int, backend: RawBackend) -> None:
        results = await asyncio.gather(*(exchange(port, get(b"/%d" % i)) for i in range(8)))
        assert all(r.status == 200 for r in results)
        assert len(backend.requests) == 8
        assert backend.max_open <= 2

    run(body, respond=slow, backend_connections_per_host=2)


# -- item 17b: debug headers and error bodies -----------------------------------


def test_no_debug_headers_and_no_internal_addresses_by_default() -> None:
    async def body(_p: HashlbProxy, port: int, backend: RawBackend) -> None:
        r = await exchange(port, get())
        assert r.status == 200
        assert not [n for n in r.names() if n.startswith(b"x-hashlb")]
        assert str(backend.port).encode() not in r.head
        assert b"aiohttp" not in r.head and b"Python" not in r.head

    run(body)


def test_debug_headers_when_asked() -> None:
    async def body(_p: HashlbProxy, port: int, backend: RawBackend) -> None:
        r = await exchange(port, get())
        assert r.get_all(b"x-hashlb-subset") == [b"all"]
        assert r.get_all(b"x-hashlb-endpoint") == [backend.address.encode()]

    run(body, debug_headers=True)


def test_error_responses_name_no_backend_and_carry_no_traceback() -> None:
    async def hang_up(_req: Recorded, writer: asyncio.StreamWriter) -> bool:
        writer.transport.abort()
        return False

    async def body(_p: HashlbProxy, port: int, backend: RawBackend) -> None:
        r = await exchange(port, get())
        assert r.status == 502
        assert r.body == b"502 Bad Gateway\n"
        assert str(backend.port).encode() not in r.head + r.body
        assert r.get_all(b"server") == [b"hashlb-proxy"]
        bad = await exchange(port, b"GET / HTTP/1.1\r\nHost: shop\r\nBad Header\r\n\r\n")
        assert bad.status == 400
        assert b"Traceback" not in bad.body and b"aiohttp" not in bad.head

    run(body, respond=hang_up)


def test_backend_timeout_gives_a_bare_504() -> None:
    async def never(_req: Recorded, _writer: asyncio.StreamWriter) -> bool:
        await asyncio.sleep(30)
        return False

    async def body(_p: HashlbProxy, port: int, backend: RawBackend) -> None:
        r = await exchange(port, get())
        assert r.status == 504 and r.body == b"504 Gateway Timeout\n"
        assert str(backend.port).encode() not in r.head + r.body

    run(body, respond=never, timeout=0.5)


# -- item 17c: only what the client sent; bodies untouched ----------------------


def test_the_backend_gets_exactly_the_clients_headers() -> None:
    """Order, case, values and duplicates kept; no Accept, Accept-Encoding, User-Agent or Content-Type added.

    (A name repeated with different cases is sent with one of them: aiohttp's
    multidict keeps one spelling per name.  Names are case-insensitive.)
    """

    async def body(_p: HashlbProxy, port: int, backend: RawBackend) -> None:
        sent = [b"X-Z: 1", b"x-a: 2", b"X-Z: 3", b"Cookie: a=1", b"Cookie: b=2", b"aCCept: x/y"]
        assert (await exchange(port, get(b"/", *sent))).status == 200
        post = b"POST /p HTTP/1.1\r\nHost: shop\r\nContent-Length: 3\r\n\r\nabc"
        assert (await exchange(port, post)).status == 200
        g, p = backend.requests
        assert g.headers == [
            (b"Host", b"shop"),
            (b"X-Z", b"1"),
            (b"x-a", b"2"),
            (b"X-Z", b"3"),
            (b"Cookie", b"a=1"),
            (b"Cookie", b"b=2"),
            (b"aCCept", b"x/y"),
            (b"X-Forwarded-For", b"127.0.0.1"),
            (b"X-Forwarded-Proto", b"http"),
        ]
        assert p.headers == [
            (b"Host", b"shop"),
            (b"Content-Length", b"3"),
            (b"X-Forwarded-For", b"127.0.0.1"),
            (b"X-Forwarded-Proto", b"http"),
        ]

    run(body)


def test_compressed_bodies_pass_through_byte_for_byte() -> None:
    """Neither the request nor the response is decompressed, and no header is invented."""
    payload = gzip.compress(b"hello " * 1000)
    reply = gzip.compress(b"world " * 1000)
    response = (
        b"HTTP/1.1 200 OK\r\nContent-Encoding: gzip\r\nContent-Length: %d\r\n\r\n" % len(reply)
        + reply
    )

    async def body(_p: HashlbProxy, port: int, backend: RawBackend) -> None:
        request = (
            b"POST /up HTTP/1.1\r\nHost: shop\r\nContent-Encoding: gzip\r\n"
            b"Content-Length: %d\r\n\r\n" % len(payload)
        ) + payload
        r = await exchange(port, request)
        assert r.status == 200
        assert r.body == reply
        assert r.get_all(b"content-encoding") == [b"gzip"]
        assert r.get_all(b"content-type") == []  # not invented by the proxy
        assert r.get_all(b"server") == []
        (rec,) = backend.requests
        assert rec.body == payload
        assert rec.get_all(b"content-encoding") == [b"gzip"]
        assert rec.get_all(b"content-type") == []

    run(body, respond=fixed(response))


def test_backend_cookies_are_never_replayed_to_other_users() -> None:
    """The proxy keeps no cookie jar: one user's Set-Cookie never rides on another's request."""
    response = b"HTTP/1.1 200 OK\r\nSet-Cookie: sid=alice; Path=/\r\nContent-Length: 2\r\n\r\nok"

    async def main() -> None:
        backend = await RawBackend(fixed(response)).start()
        # A hostname, not an IP: aiohttp's default cookie jar would store this one.
        proxy = HashlbProxy(_router(f"localhost:{backend.port}"))
        port = await proxy.start()
        try:
            for i in range(3):
                r = await exchange(port, get(b"/%d" % i))
                assert r.status == 200 and r.get_all(b"set-cookie") == [b"sid=alice; Path=/"]
            assert all(rec.get_all(b"cookie") == [] for rec in backend.requests)
        finally:
            await proxy.close()
            await backend.close()

    asyncio.run(asyncio.wait_for(main(), BOUND))


def test_bodies_are_streamed_not_buffered() -> None:
    """The backend sees the first half of a body before the client has sent the second."""
    first, second = b"a" * 100_000, b"b" * 100_000

    async def body(_p: HashlbProxy, port: int, backend: RawBackend) -> None:
        reader, writer = await connect(port)
        try:
            writer.write(
                b"POST / HTTP/1.1\r\nHost: shop\r\nContent-Length: %d\r\n\r\n"
                % (len(first) + len(second))
                + first
            )
            await writer.drain()
            await asyncio.wait_for(backend.arrived.wait(), 20)  # the head went through alone
            writer.write(second)
            await writer.drain()
            assert (await read_response(reader)).status == 200
        finally:
            writer.close()
        assert backend.requests[0].body == first + second

    run(body)


# -- forwarding headers -----------------------------------------------------------


def test_x_forwarded_for_append() -> None:
    async def body(_p: HashlbProxy, port: int, backend: RawBackend) -> None:
        request = get(
            b"/",
            b"X-Forwarded-For: 203.0.113.9",
            b"x-forwarded-for: 198.51.100.1, 10.0.0.1",
            b"X-Forwarded-Proto: https",
            b"X-Real-IP: 203.0.113.9",
        )
        assert (await exchange(port, request)).status == 200
        (rec,) = backend.requests
        assert rec.get_all(b"x-forwarded-for") == [
            b"203.0.113.9, 198.51.100.1, 10.0.0.1, 127.0.0.1"
        ]
        assert rec.get_all(b"x-forwarded-proto") == [b"http"]  # a client cannot claim https
        assert rec.get_all(b"x-real-ip") == [b"203.0.113.9"]

    run(body)


def test_x_forwarded_for_replace() -> None:
    async def body(_p: HashlbProxy, port: int, backend: RawBackend) -> None:
        request = get(
            b"/",
            b"X-Forwarded-For: 203.0.113.9",
            b"X-Forwarded-Host: evil.example",
            b"X-Forwarded-Port: 443",
            b"X-Real-IP: 203.0.113.9",
            b"Forwarded: for=203.0.113.9",
        )
        assert (await exchange(port, request)).status == 200
        (rec,) = backend.requests
        assert rec.get_all(b"x-forwarded-for") == [b"127.0.0.1"]
        assert rec.get_all(b"x-forwarded-proto") == [b"http"]
        for name in (b"x-forwarded-host", b"x-forwarded-port", b"x-real-ip", b"forwarded"):
            assert rec.get_all(name) == []

    run(body, forwarded="replace")


# -- request smuggling and response header injection -------------------------------

SMUGGLE = b"GET /smuggled HTTP/1.1\r\nHost: shop\r\n\r\n"
SMUGGLING = {
    "cl-te": b"POST / HTTP/1.1\r\nHost: shop\r\nContent-Length: 4\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
    "te-cl": b"POST / HTTP/1.1\r\nHost: shop\r\nTransfer-Encoding: chunked\r\nContent-Length: 48\r\n\r\n0\r\n\r\n",
    "two-cl": b"POST / HTTP/1.1\r\nHost: shop\r\nContent-Length: 0\r\nContent-Length: 40\r\n\r\n",
    "cl-list": b"POST / HTTP/1.1\r\nHost: shop\r\nContent-Length: 0, 40\r\n\r\n",
    "cl-plus": b"POST / HTTP/1.1\r\nHost: shop\r\nContent-Length: +0\r\n\r\n",
    "te-identity": b"POST / HTTP/1.1\r\nHost: shop\r\nTransfer-Encoding: chunked, identity\r\n\r\n0\r\n\r\n",
    "te-x": b"POST / HTTP/1.1\r\nHost: shop\r\nTransfer-Encoding: xchunked\r\n\r\n0\r\n\r\n",
    "te-space": b"POST / HTTP/1.1\r\nHost: shop\r\nTransfer-Encoding : chunked\r\n\r\n0\r\n\r\n",
    "te-fold": b"POST / HTTP/1.1\r\nHost: shop\r\nTransfer-Encoding:\r\n chunked\r\n\r\n0\r\n\r\n",
    "te-twice": b"POST / HTTP/1.1\r\nHost: shop\r\nTransfer-Encoding: chunked\r\nTransfer-Encoding: x\r\n\r\n0\r\n\r\n",
    "te-http10": b"POST / HTTP/1.0\r\nHost: shop\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
    "bare-lf": b"POST / HTTP/1.1\nHost: shop\nContent-Length: 0\n\n",
    "chunk-hex": b"POST / HTTP/1.1\r\nHost: shop\r\nTransfer-Encoding: chunked\r\n\r\n0x0\r\n\r\n",
    "chunk-huge": b"POST / HTTP/1.1\r\nHost: shop\r\nTransfer-Encoding: chunked\r\n\r\nffffffffffffffffff0\r\n\r\n",
    "nul": b"POST / HTTP/1.1\r\nHost: shop\r\nX-A: a\x00b\r\nContent-Length: 0\r\n\r\n",
}


@pytest.mark.parametrize("name", list(SMUGGLING))
def test_request_smuggling_never_reaches_the_backend(name: str) -> None:
    """Whatever the proxy makes of an ambiguous message, the backend never sees /smuggled."""

    async def body(_p: HashlbProxy, port: int, backend: RawBackend) -> None:
        reader, writer = await connect(port)
        statuses = []
        try:
            writer.write(SMUGGLING[name] + SMUGGLE)
            await writer.drain()
            for _ in range(3):
                try:
                    statuses.append((await read_response(reader)).status)
                except (asyncio.IncompleteReadError, ConnectionError):
                    break
        finally:
            writer.close()
        assert all(rec.target != b"/smuggled" for rec in backend.requests)
        # aiohttp's (llhttp, strict) parser refuses every one of these with 400
        # and closes: nothing reaches the backend, and no second response comes.
        assert statuses == [400], statuses
        assert backend.requests == []

    run(body)


INJECTIONS = {
    "bare-cr": b"X-A: a\rX-Injected: 1\r\n",
    "nul": b"X-A: a\x00X-Injected: 1\r\n",
    "ctl": b"X-A: a\x1bX-Injected: 1\r\n",
    "del": b"X-A: a\x7fX-Injected: 1\r\n",
}


@pytest.mark.parametrize("name", list(INJECTIONS))
def test_upstream_control_characters_give_502(name: str) -> None:
    """A control character in a backend's header value is never written to the client."""
    response = b"HTTP/1.1 200 OK\r\n" + INJECTIONS[name] + b"Content-Length: 2\r\n\r\nok"

    async def body(_p: HashlbProxy, port: int, _b: RawBackend) -> None:
        r = await exchange(port, get())
        assert r.status == 502 and r.body == b"502 Bad Gateway\n"
        assert not [n for n in r.names() if b"injected" in n or n == b"x-a"]

    run(body, respond=fixed(response))


def test_upstream_obs_fold_is_unfolded_into_one_value() -> None:
    """RFC 9112 §5.2: a folded line joins its header's value; it is not a new header."""
    response = b"HTTP/1.1 200 OK\r\nX-A: a\r\n X-Injected: 1\r\nContent-Length: 2\r\n\r\nok"

    async def body(_p: HashlbProxy, port: int, _b: RawBackend) -> None:
        r = await exchange(port, get())
        assert r.status == 200
        assert r.get_all(b"x-a") == [b"a X-Injected: 1"]
        assert not [n for n in r.names() if b"injected" in n]

    run(body, respond=fixed(response))


def test_a_bare_lf_from_upstream_ends_a_header_line_on_both_sides() -> None:
    """RFC 9112 §2.2 lets a recipient take a bare LF as a line end; the client then gets CRLF."""
    response = b"HTTP/1.1 200 OK\r\nX-A: a\nX-B: b\r\nContent-Length: 2\r\n\r\nok"

    async def body(_p: HashlbProxy, port: int, _b: RawBackend) -> None:
        r = await exchange(port, get())
        assert r.status == 200
        assert r.get_all(b"x-a") == [b"a"] and r.get_all(b"x-b") == [b"b"]
        assert b"\n" not in r.head.replace(b"\r\n", b"")

    run(body, respond=fixed(response))


def test_upstream_cl_and_te_together_do_not_desync_the_client() -> None:
    """A backend that sends both gets either a 502 or a body re-framed by the proxy."""
    response = (
        b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nTransfer-Encoding: chunked\r\n\r\n"
        b"5\r\nhello\r\n0\r\n\r\n"
    )

    async def body(_p: HashlbProxy, port: int, _b: RawBackend) -> None:
        reader, writer = await connect(port)
        try:
            writer.write(get(b"/1") + get(b"/2"))
            await writer.drain()
            first = await read_response(reader)
            assert first.status in (200, 502)
            if first.status == 200:
                assert first.body == b"hello"
                assert (
                    len(first.get_all(b"content-length") + first.get_all(b"transfer-encoding")) == 1
                )
                second = await read_response(reader)
                assert second.status in (200, 502)
        finally:
            writer.close()

    run(body, respond=fixed(response))


# -- framing and protocol edges -------------------------------------------------


def test_an_upgrade_request_reaches_the_backend_as_a_plain_request() -> None:
    """Upgrade and Connection are hop-by-hop: no WebSocket/h2c tunnel through the proxy."""

    async def body(_p: HashlbProxy, port: int, backend: RawBackend) -> None:
        request = get(
            b"/ws", b"Upgrade: websocket", b"Connection: Upgrade", b"Sec-WebSocket-Version: 13"
        )
        assert (await exchange(port, request)).status == 200
        (rec,) = backend.requests
        assert rec.get_all(b"upgrade") == [] and rec.get_all(b"connection") == []
        assert rec.get_all(b"sec-websocket-version") == [b"13"]

    run(body)


def test_an_unrequested_101_from_a_backend_gives_502() -> None:
    response = (
        b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\nraw"
    )

    async def body(_p: HashlbProxy, port: int, _b: RawBackend) -> None:
        r = await exchange(port, get())
        assert r.status == 502 and b"raw" not in r.body

    run(body, respond=fixed(response))


def test_expect_100_continue_is_answered_by_the_proxy() -> None:
    """The proxy sends 100 Continue itself and does not forward Expect."""

    async def body(_p: HashlbProxy, port: int, backend: RawBackend) -> None:
        reader, writer = await connect(port)
        try:
            writer.write(
                b"POST /e HTTP/1.1\r\nHost: shop\r\nExpect: 100-continue\r\n"
                b"Content-Length: 5\r\n\r\n"
            )
            await writer.drain()
            interim = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 20)
            assert interim.startswith(b"HTTP/1.1 100 ")
            writer.write(b"hello")
            await writer.drain()
            assert (await read_response(reader)).status == 200
        finally:
            writer.close()
        (rec,) = backend.requests
        assert rec.body == b"hello" and rec.get_all(b"expect") == []

    run(body)


def test_head_responses_keep_their_content_length() -> None:
    response = b"HTTP/1.1 200 OK\r\nContent-Length: 1234\r\n\r\n"

    async def body(_p: HashlbProxy, port: int, _b: RawBackend) -> None:
        reader, writer = await connect(port)
        try:
            for _ in range(2):  # and the connection stays in step
                writer.write(get(method=b"HEAD"))
                await writer.drain()
                r = await read_response(reader, head_request=True)
                assert r.status == 200 and r.get_all(b"content-length") == [b"1234"]
        finally:
            writer.close()

    run(body, respond=fixed(response))


@pytest.mark.parametrize(
    "response",
    [
        b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n",
        b"HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nhello",
    ],
    ids=["chunked", "content-length"],
)
def test_a_backend_dying_mid_body_is_never_passed_off_as_complete(response: bytes) -> None:
    """The client sees the stream cut (no final chunk, fewer bytes than announced)."""

    async def die(_req: Recorded, writer: asyncio.StreamWriter) -> bool:
        writer.write(response)
        await writer.drain()
        await asyncio.sleep(0.2)
        writer.transport.abort()
        return False

    async def body(_p: HashlbProxy, port: int, _b: RawBackend) -> None:
        reader, writer = await connect(port)
        try:
            writer.write(get())
            await writer.drain()
            with pytest.raises((asyncio.IncompleteReadError, ConnectionError)):
                await read_response(reader)
            assert await closed_within(reader, 20.0)
        finally:
            writer.close()

    run(body, respond=die)


def test_a_stray_backend_response_is_never_served_to_the_next_request() -> None:
    """Response queue poisoning: bytes after a complete response close the pooled connection."""
    stray = b"HTTP/1.1 200 OK\r\nContent-Length: 13\r\n\r\nalice's data!"
    count = 0

    async def respond(_req: Recorded, writer: asyncio.StreamWriter) -> bool:
        nonlocal count
        count += 1
        writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n%d" % (len(str(count)), count))
        await writer.drain()
        if count == 1:
            await asyncio.sleep(0.2)  # after the proxy has pooled the connection
            writer.write(stray)
            await writer.drain()
        return True

    async def body(_p: HashlbProxy, port: int, backend: RawBackend) -> None:
        first = await exchange(port, get(b"/alice"))
        assert first.status == 200 and first.body == b"1"
        for _ in range(1000):  # until the proxy has dropped the poisoned connection
            if backend.closed_by_peer:
                break
            await asyncio.sleep(0.02)
        assert backend.closed_by_peer == 1
        second = await exchange(port, get(b"/bob"))
        assert second.status == 200 and second.body == b"2"  # bob's own response
        assert backend.connections == 2  # on a new connection
        assert [r.target for r in backend.requests] == [b"/alice", b"/bob"]

    run(body, respond=respond)


def test_backend_connections_are_reused_across_interim_responses() -> None:
    """The stray-bytes guard never fires on a well-behaved backend (1xx sent apart included)."""

    async def respond(req: Recorded, writer: asyncio.StreamWriter) -> bool:
        if req.target == b"/hints":
            writer.write(b"HTTP/1.1 103 Early Hints\r\nLink: </s.css>; rel=preload\r\n\r\n")
            await writer.drain()
            await asyncio.sleep(0.1)
        writer.write(OK if req.method != b"HEAD" else OK[: -len(b"ok")])
        await writer.drain()
        return True

    async def body(_p: HashlbProxy, port: int, backend: RawBackend) -> None:
        for target in (b"/a", b"/hints", b"/b", b"/hints", b"/c"):
            r = await exchange(port, get(target))
            assert r.status == 200 and r.body == b"ok"
            r = await exchange(port, get(target, method=b"HEAD"), head_request=True)
            assert r.status == 200
        assert backend.connections == 1  # one pooled connection did it all

    run(body, respond=respond)


# -- configuration -----------------------------------------------------------------


@pytest.mark.parametrize(
    ("kw", "exc"),
    [
        ({"timeout": 0}, ValueError),
        ({"header_timeout": -1}, ValueError),
        ({"client_timeout": float("nan")}, ValueError),
        ({"keepalive_timeout": float("inf")}, ValueError),
        ({"max_headers": 0}, ValueError),
        ({"max_connections": 1.5}, TypeError),
        ({"backend_connections": True}, TypeError),
        ({"timeout": "10"}, TypeError),
        ({"forwarded": "trust"}, ValueError),
    ],
)
def test_bad_configuration_is_refused(kw: dict[str, Any], exc: type[Exception]) -> None:
    with pytest.raises(exc, match=next(iter(kw))):
        HashlbProxy(_router("127.0.0.1:1"), **kw)
