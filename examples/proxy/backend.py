"""A tiny HTTP backend for trying the example proxy: it answers every request with its name.

Each response is ``200`` with the body ``NAME`` and a newline, so a client
in front of the proxy sees which backend served it.  ``demo.py`` starts three
of these in its own process; to run them by hand (see ``README.md``)::

    python examples/proxy/backend.py --name safe-0 --listen 127.0.0.1:9001
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import errno
import signal
import sys
from collections.abc import Sequence
from typing import Any

from aiohttp import web


def make_app(name: str) -> web.Application:
    """An aiohttp application that answers every method and path with *name*."""

    async def handler(_request: web.Request) -> web.Response:
        return web.Response(text=f"{name}\n")

    app = web.Application()
    app.router.add_route("*", "/{tail:.*}", handler)
    return app


async def start_backend(
    name: str, host: str = "127.0.0.1", port: int = 0
) -> tuple[web.AppRunner, int]:
    """Start a backend on *host*:*port* (0: a free port); return its runner and port."""
    runner = web.AppRunner(make_app(name), access_log=None, handle_signals=False)
    await runner.setup()
    site = web.TCPSite(runner, host, port)
    try:
        await site.start()
    except BaseException:
        await runner.cleanup()
        raise
    server = site._server  # aiohttp keeps the listening server here
    sockets: list[Any] = list(getattr(server, "sockets", None) or [])
    return runner, int(sockets[0].getsockname()[1])


async def _serve(name: str, host: str, port: int) -> None:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    loop.add_signal_handler(signal.SIGINT, stop.set)
    loop.add_signal_handler(signal.SIGTERM, stop.set)
    runner, bound = await start_backend(name, host, port)
    print(f"backend {name} listening on http://{host}:{bound}", file=sys.stderr, flush=True)
    try:
        await stop.wait()
    finally:
        with contextlib.suppress(Exception):
            await runner.cleanup()


def main(argv: Sequence[str] | None = None) -> int:
    """Serve until SIGINT or SIGTERM; 2 (and one line on stderr) if the port is taken."""
    ap = argparse.ArgumentParser(prog="backend.py", description=__doc__.splitlines()[0])
    ap.add_argument("--name", required=True, help="what every response says")
    ap.add_argument("--listen", default="127.0.0.1:9001", help="address:port to listen on")
    args = ap.parse_args(argv)
    host, _, port = args.listen.rpartition(":")
    if not port.isdigit() or not 0 <= int(port) <= 65535:
        ap.error(f"--listen: expected ADDRESS:PORT, got {args.listen[:80]!r}")
    try:
        asyncio.run(_serve(args.name, host.strip("[]") or "127.0.0.1", int(port)))
    except OSError as exc:
        what = "port is already in use" if exc.errno == errno.EADDRINUSE else exc.strerror
        print(f"backend.py: error: cannot listen on {args.listen}: {what}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
