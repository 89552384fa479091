"""The example proxy's request log: one ``logging`` line per request, on real sockets.

The proxy (examples/proxy/hashlb_proxy.py) runs in this process on
127.0.0.1 in front of real aiohttp backends; the log records are read with
pytest's ``caplog``.  A backend that refuses connections is a socket bound
to a loopback port that does not listen (the kernel refuses at once).
"""

from __future__ import annotations

import asyncio
import logging
import re
import socket
import sys
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest

pytest.importorskip("aiohttp")
from aiohttp import ClientSession, ClientTimeout

from ._rawhttp import exchange
from .test_proxy_security import _router

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "examples" / "proxy"))
from backend import start_backend
from hashlb_proxy import HashlbProxy, RequestLog, loggable

pytestmark = pytest.mark.slow
LINE = re.compile(
    r"(?P<method>\S+) (?P<path>\S+) key=(?P<key>[0-9a-f]{16}|-) subset=(?P<subset>\S+) "
    r"endpoint=(?P<endpoint>\S+) status=(?P<status>\d{3}|-) time=\d+\.\dms"
    r"(?: error=(?P<error>.+))?"
)


Body = Callable[[ClientSession, str, list[str]], Awaitable[Any]]


def run(body: Body, *, refused: bool = False) -> Any:
    """A backend (or a refusing port), the proxy in front, *body*(session, url, addresses)."""

    async def main() -> Any:
        runner = None
        holder = socket.socket()
        proxy: HashlbProxy | None = None
        try:
            if refused:
                holder.bind(("127.0.0.1", 0))  # bound, never listening: connect is refused
                address = f"127.0.0.1:{holder.getsockname()[1]}"
            else:
                runner, port = await start_backend("b0")
                address = f"127.0.0.1:{port}"
            proxy = HashlbProxy(_router(address), timeout=5)
            pport = await proxy.start()
            async with ClientSession(timeout=ClientTimeout(total=10)) as s:
                return await body(s, f"http://127.0.0.1:{pport}", [address])
        finally:
            if proxy is not None:
                await proxy.close()
            if runner is not None:
                await runner.cleanup()
            holder.close()

    return asyncio.run(asyncio.wait_for(main(), timeout=60))


def proxy_records(caplog: pytest.LogCaptureFixture) -> list[logging.LogRecord]:
    return [r for r in caplog.records if r.name == "hashlb.proxy"]


def test_each_request_is_one_info_line(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="hashlb.proxy")

    async def body(s: ClientSession, url: str, addresses: list[str]) -> None:
        for path in ("/", "/cart?item=7", "/a%2Fb"):
            async with s.post(url + path, headers={"x-user": "alice"}, data=b"x") as r:
                assert r.status == 200 and await r.text() == "b0\n"

    run(body)
    records = proxy_records(caplog)
    assert len(records) == 3
    for record, path in zip(records, ("/", "/cart?item=7", "/a%2Fb"), strict=True):
        assert record.levelno == logging.INFO and record.exc_info is None
        entry = LINE.fullmatch(record.getMessage())
        assert entry is not None, record.getMessage()
        assert entry.group("method") == "POST" and entry.group("path") == path
        assert entry.group("subset") == "all" and entry.group("status") == "200"
        assert entry.group("endpoint").startswith("127.0.0.1:")
        assert entry.group("error") is None
    keys = {LINE.fullmatch(r.getMessage()).group("key") for r in records}  # type: ignore[union-attr]
    assert len(keys) == 1 and "-" not in keys  # one user, one hash


def test_the_key_is_the_hash_of_the_request_key(caplog: pytest.LogCaptureFixture) -> None:
    """``key=`` is the route's hash in hex (not the header value); ``-`` without a key."""
    caplog.set_level(logging.INFO, logger="hashlb.proxy")
    from hashlb.policy import Request

    async def body(s: ClientSession, url: str, addresses: list[str]) -> int | None:
        async with s.get(url + "/", headers={"x-user": "secret-token-123"}) as r:
            assert r.status == 200
        async with s.get(url + "/") as r:
            assert r.status == 200
        router = _router(*addresses)
        return router.route(Request(headers=[(b"x-user", b"secret-token-123")], path="/")).hash

    expected = run(body)
    first, second = (r.getMessage() for r in proxy_records(caplog))
    assert expected is not None and f"key={expected:016x} " in first
    assert "secret-token-123" not in first
    assert " key=- " in second


def test_a_refused_backend_is_a_502_and_one_warning_line(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO)

    async def body(s: ClientSession, url: str, addresses: list[str]) -> None:
        async with s.get(url + "/x", headers={"x-user": "bob"}) as r:
            assert r.status == 502
            assert await r.text() == "502 Bad Gateway\n"  # names no backend

    run(body, refused=True)
    records = proxy_records(caplog)
    assert len(records) == 1
    (record,) = records
    assert record.levelno == logging.WARNING and record.exc_info is None
    entry = LINE.fullmatch(record.getMessage())
    assert entry is not None, record.getMessage()
    assert entry.group("status") == "502" and entry.group("path") == "/x"
    assert entry.group("error") == "backend failed: ClientConnectorError (ECONNREFUSED)"
    # nothing else logged a warning or a traceback (aiohttp included)
    assert [r for r in caplog.records if r.levelno >= logging.WARNING] == [record]
    assert all(r.exc_info is None for r in caplog.records)


def test_a_refused_request_is_logged_without_routing(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="hashlb.proxy")

    async def body(s: ClientSession, url: str, addresses: list[str]) -> None:
        # an absolute-form target: the proxy refuses it with 400 before any routing
        port = int(url.rsplit(":", 1)[1])
        response = await exchange(port, b"GET http://evil/x HTTP/1.1\r\nHost: a\r\n\r\n")
        assert response.status == 400

    run(body)
    (record,) = proxy_records(caplog)
    assert record.levelno == logging.INFO
    entry = LINE.fullmatch(record.getMessage())
    assert entry is not None
    assert (entry.group("key"), entry.group("subset"), entry.group("endpoint")) == ("-", "-", "-")
    assert entry.group("status") == "400"


@pytest.mark.parametrize(
    ("value", "shown"),
    [
        ("/a\r\nGET /forged", "/a\\r\\nGET /forged"),
        ("/\x1b[31mred", "/\\x1b[31mred"),
        ("/\u202eevil", "/\\u202eevil"),
        ("/quote'\"", "/quote'\""),
        ("/back\\slash", "/back\\\\slash"),
    ],
    ids=["crlf", "ansi", "bidi", "quotes", "backslash"],
)
def test_logged_values_cannot_forge_lines(value: str, shown: str) -> None:
    text = loggable(value)
    assert "\n" not in text and "\r" not in text and "\x1b" not in text
    if "'" in value and '"' in value:
        assert text == shown.replace("'", "\\'")
    else:
        assert text == shown


def test_logged_values_are_cut() -> None:
    assert loggable("/" + "a" * 1000) == "/" + "a" * 199 + "..."
    assert loggable("/" + "a" * 199) == "/" + "a" * 199
    line = RequestLog().line("GET", "/" + "\n" * 5000, None, 1.25)
    assert len(line) < 1000 and line.endswith("status=- time=1.2ms")
