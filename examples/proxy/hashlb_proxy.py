"""A small but real HTTP reverse proxy that routes with :class:`hashlb.Router`.

Why aiohttp rather than bare asyncio: a proxy must parse and emit HTTP/1.1
correctly (chunked bodies, keep-alive, header folding, 100-continue, hop-by-hop
headers).  aiohttp gives a battle-tested server *and* client with streaming
in both directions, so this file only holds the routing logic, which is the
part that embeds hashlb.

Per request the proxy

1. builds a :class:`hashlb.policy.Request` from the raw headers, the raw path
   and the connection's addresses (no header is copied or decoded up front);
2. asks the current router for a :class:`hashlb.Route` (subset, host, hash and
   an optional ``Set-Cookie`` when the cookie policy generated one);
3. forwards the request to ``http://<host.address><path>``, streams the
   response back, and adds the ``Set-Cookie`` header when hashlb made one.

A backend that refuses or drops the connection yields ``502 Bad Gateway``
(``504`` on timeout); the proxy keeps serving everyone else.

Reloading: the router is immutable.  :meth:`HashlbProxy.set_router` swaps
in a new one; requests already in flight keep the router they started with,
so nothing is dropped.  From the command line, ``SIGHUP`` re-reads the YAML
files and swaps the new router in.

Run it::

    python examples/proxy/hashlb_proxy.py -f examples/istio-canary/ --listen 127.0.0.1:8080
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import signal
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from ipaddress import ip_address
from typing import Any

from aiohttp import ClientError, ClientSession, ClientTimeout, TCPConnector, web

from hashlb import Host
from hashlb.policy import Request

# RFC 9110 §7.6.1: connection-specific headers are not forwarded.
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


class HashlbProxy:
    """An aiohttp application that routes every request with a hashlb Router.

    :param router: a :class:`hashlb.Router` (anything with ``route(request)``).
    :param timeout: seconds allowed for a backend to answer (default 10).
    :param debug_headers: add ``x-hashlb-subset`` / ``x-hashlb-endpoint`` to
        responses (handy for tests and for watching a canary).
    """

    def __init__(self, router: Any, *, timeout: float = 10.0, debug_headers: bool = True) -> None:
        self._router = router
        self._timeout = ClientTimeout(total=timeout, connect=min(timeout, 3.0))
        self._debug = debug_headers
        self._session: ClientSession | None = None
        self.in_flight = 0

    @property
    def router(self) -> Any:
        """Return the router new requests are routed with."""
        return self._router

    def set_router(self, router: Any) -> Any:
        """Swap in a new router; return the old one. In-flight requests are unaffected."""
        old, self._router = self._router, router
        return old

    def app(self) -> web.Application:
        """Return the aiohttp application."""
        app = web.Application()
        app.router.add_route("*", "/{tail:.*}", self.handle)
        app.on_startup.append(self._start)
        app.on_cleanup.append(self._stop)
        return app

    async def _start(self, _app: web.Application) -> None:
        self._session = ClientSession(
            connector=TCPConnector(limit=256, force_close=False),
            timeout=self._timeout,
            auto_decompress=False,
        )

    async def _stop(self, _app: web.Application) -> None:
        if self._session is not None:
            await self._session.close()

    def to_hashlb_request(self, request: web.Request) -> Request:
        """Build a hashlb Request from an aiohttp one (raw headers, raw path)."""
        transport = request.transport
        peer = transport.get_extra_info("peername") if transport else None
        sock = transport.get_extra_info("sockname") if transport else None
        return Request(
            headers=request.raw_headers,
            path=request.raw_path,
            remote_address=format_address(peer),
            local_address=format_address(sock),
        )

    async def handle(self, request: web.Request) -> web.StreamResponse:
        """Route, forward and stream back one request."""
        router = self._router  # one router for the whole request, even across a reload
        route = router.route(self.to_hashlb_request(request))
        if route.host is None:
            return web.Response(status=503, text="no healthy upstream\n")
        assert self._session is not None
        headers = [(k, v) for k, v in request.headers.items() if k.lower() not in HOP_BY_HOP]
        peer = format_address(
            request.transport.get_extra_info("peername") if request.transport else None
        )
        if peer is not None:
            client_ip = peer.rsplit(":", 1)[0].strip("[]")
            prior = request.headers.get("X-Forwarded-For")
            headers = [(k, v) for k, v in headers if k.lower() != "x-forwarded-for"]
            headers.append(("X-Forwarded-For", f"{prior}, {client_ip}" if prior else client_ip))
        url = f"http://{route.host.address}{request.raw_path}"
        self.in_flight += 1
        try:
            try:
                upstream = await self._session.request(
                    request.method,
                    url,
                    headers=headers,
                    data=request.content if request.body_exists else None,
                    allow_redirects=False,
                )
            except asyncio.TimeoutError:
                return web.Response(status=504, text=f"upstream {route.host.address} timed out\n")
            except (ClientError, OSError) as exc:
                return web.Response(
                    status=502, text=f"upstream {route.host.address} failed: {type(exc).__name__}\n"
                )
            async with upstream:
                response = web.StreamResponse(status=upstream.status, reason=upstream.reason)
                for k, v in upstream.headers.items():
                    if k.lower() not in HOP_BY_HOP and k.lower() != "content-length":
                        response.headers.add(k, v)
                if upstream.headers.get("Content-Length") is not None:
                    response.content_length = int(upstream.headers["Content-Length"])
                for cookie in getattr(route, "set_cookies", None) or (
                    (route.set_cookie,) if route.set_cookie else ()
                ):
                    response.headers.add("Set-Cookie", cookie)
                if self._debug:
                    response.headers["x-hashlb-subset"] = str(route.subset)
                    response.headers["x-hashlb-endpoint"] = route.host.address
                await response.prepare(request)
                try:
                    async for chunk in upstream.content.iter_chunked(65536):
                        await response.write(chunk)
                except (ClientError, OSError, asyncio.TimeoutError):
                    # Headers are out: all we can do is cut the stream short.
                    request.transport and request.transport.close()  # type: ignore[func-returns-value]
                    return response
                await response.write_eof()
                return response
        finally:
            self.in_flight -= 1


@dataclass(frozen=True)
class YamlRoute:
    """What :class:`YamlRouter` returns: the fields of :class:`hashlb.Route` the proxy uses."""

    subset: str
    host: Host
    hash: int | None
    set_cookie: str | None


class YamlRouter:
    """Route like ``hashlb simulate`` does, from Istio/Kubernetes YAML.

    It wraps the CLI's route engine for the VirtualService's first http
    route that has no ``match`` (a catch-all), so the proxy follows exactly
    the configuration ``hashlb simulate`` reads: the DestinationRule's
    consistent hash (with subset and port overrides), the weighted subsets,
    and Istio's per-destination hash policies in envoy mode.
    """

    def __init__(
        self, paths: Sequence[str], *, mode: str = "sticky", seed: int = 0, host: str | None = None
    ) -> None:
        from hashlb.cli.mesh import load_mesh
        from hashlb.cli.simulate import build_engines

        scenario = load_mesh(list(paths)).scenario(host)
        engines = [e for e in build_engines(scenario, mode, seed) if e.plan.matches is None]
        if not engines:
            raise ValueError(f"{scenario.source} has no http route without a match")
        self.engine = engines[0]
        self.scenario = scenario

    def route(self, request: Request) -> YamlRoute:
        """Route one request: subset, endpoint, hash and Set-Cookie."""
        subset, address, _pod, h, set_cookie = self.engine.route(request)
        return YamlRoute(subset, Host(address), h, set_cookie)


def load_router(paths: Sequence[str], *, mode: str, seed: int, host: str | None) -> YamlRouter:
    """Build a router from the same Istio/Kubernetes YAML as ``hashlb simulate``."""
    return YamlRouter(paths, mode=mode, seed=seed, host=host)


async def serve(
    proxy: HashlbProxy, listen: str, *, reload: Callable[[], Any] | None = None
) -> None:  # pragma: no cover - exercised by hand; the tests drive HashlbProxy.app()
    """Serve until interrupted; on SIGHUP swap in ``reload()``'s router."""
    host, _, port = listen.rpartition(":")
    runner = web.AppRunner(proxy.app())
    await runner.setup()
    site = web.TCPSite(runner, host.strip("[]") or "127.0.0.1", int(port))
    await site.start()
    print(f"hashlb proxy listening on http://{listen}", file=sys.stderr)
    loop = asyncio.get_running_loop()
    stop = asyncio.Event()
    loop.add_signal_handler(signal.SIGINT, stop.set)
    loop.add_signal_handler(signal.SIGTERM, stop.set)
    if reload is not None:

        def on_hup() -> None:
            try:
                proxy.set_router(reload())
                print("reloaded: new router swapped in", file=sys.stderr)
            except Exception as exc:  # keep serving with the old router
                print(f"reload failed, keeping the old router: {exc}", file=sys.stderr)

        loop.add_signal_handler(signal.SIGHUP, on_hup)
    await stop.wait()
    with contextlib.suppress(Exception):
        await runner.cleanup()


def main(argv: Sequence[str] | None = None) -> int:  # pragma: no cover - CLI wrapper
    """Run the proxy from the command line."""
    ap = argparse.ArgumentParser(description="hashlb reverse proxy (aiohttp)")
    ap.add_argument(
        "-f",
        "--file",
        action="append",
        required=True,
        help="Istio/Kubernetes YAML (file or directory)",
    )
    ap.add_argument("--host", help="the VirtualService host to serve (default: the only one)")
    ap.add_argument("--listen", default="127.0.0.1:8080", help="address:port to listen on")
    ap.add_argument("--mode", choices=("sticky", "envoy"), default="sticky")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--timeout", type=float, default=10.0, help="backend timeout, seconds")
    args = ap.parse_args(argv)

    def reload() -> Any:
        return load_router(args.file, mode=args.mode, seed=args.seed, host=args.host)

    proxy = HashlbProxy(reload(), timeout=args.timeout)
    asyncio.run(serve(proxy, args.listen, reload=reload))
    return 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
