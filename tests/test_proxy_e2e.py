"""End to end: real backends on 127.0.0.1, the example proxy in front, real HTTP.

Every server binds 127.0.0.1 on a free port; request counts and timeouts are
bounded.  The proxy (examples/proxy/hashlb_proxy.py) routes with the
dispatched hashlb (compiled, or pure under HASHLB_NO_EXTENSIONS=1).
"""

from __future__ import annotations

import asyncio
import math
import sys
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest

aiohttp = pytest.importorskip("aiohttp")
from aiohttp import ClientSession, ClientTimeout, web  # noqa: E402

import hashlb  # noqa: E402
from hashlb.policy import Cookie, HashPolicy, Header, SourceIP  # noqa: E402
from hashlb.router import Router  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "examples" / "proxy"))
from hashlb_proxy import HashlbProxy  # noqa: E402

pytestmark = pytest.mark.slow
TIMEOUT = ClientTimeout(total=10)


async def _start(app: web.Application) -> tuple[web.AppRunner, int]:
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    return runner, port


def _backend(name: str) -> web.Application:
    async def handler(_request: web.Request) -> web.Response:
        return web.Response(text=name)

    app = web.Application()
    app.router.add_route("*", "/{tail:.*}", handler)
    return app


class Mesh:
    """Five named backends (3 stable, 2 canary) and the proxy in front of them."""

    def __init__(self) -> None:
        self.backends: dict[str, tuple[web.AppRunner, int]] = {}
        self.stopped: set[str] = set()
        self.proxy: HashlbProxy | None = None
        self.url = ""

    async def start(self, policy: HashPolicy, weights: dict[str, int]) -> None:
        for name in ("stable-a", "stable-b", "stable-c", "canary-a", "canary-b"):
            self.backends[name] = await _start(_backend(name))
        hosts = [
            hashlb.Host(f"127.0.0.1:{port}", labels={"version": name.split("-")[0]})
            for name, (_, port) in self.backends.items()
        ]
        router = Router(
            hosts,
            subsets={"stable": {"version": "stable"}, "canary": {"version": "canary"}},
            weights=weights,
            policy=policy,
            balancer="maglev",
            mode="sticky",
        )
        # debug_headers: the tests read x-hashlb-subset (off by default).
        self.proxy = HashlbProxy(router, timeout=5, debug_headers=True)
        port = await self.proxy.start("127.0.0.1", 0)
        self.url = f"http://127.0.0.1:{port}"

    async def stop(self) -> None:
        if self.proxy is not None:
            await self.proxy.close()
        for name, (runner, _) in self.backends.items():
            if name not in self.stopped:
                await runner.cleanup()

    def name_of(self, address: str) -> str:
        port = int(address.rsplit(":", 1)[1])
        return next(n for n, (_, p) in self.backends.items() if p == port)


def run(
    policy: HashPolicy,
    body: Callable[[Mesh, ClientSession], Awaitable[Any]],
    weights: dict[str, int] | None = None,
) -> Any:
    """Start the mesh, run *body* with a client session, tear everything down."""

    async def main() -> Any:
        mesh = Mesh()
        try:
            await mesh.start(policy, weights or {"stable": 90, "canary": 10})
            async with ClientSession(timeout=TIMEOUT, cookie_jar=aiohttp.DummyCookieJar()) as s:
                return await asyncio.wait_for(body(mesh, s), timeout=120)
        finally:
            await mesh.stop()

    return asyncio.run(main())


async def _get(s: ClientSession, url: str, **kw: Any) -> tuple[int, str, Any]:
    async with s.get(url, **kw) as r:
        return r.status, await r.text(), r.headers


async def _bounded(coros: list[Awaitable[Any]], limit: int = 32) -> list[Any]:
    sem = asyncio.Semaphore(limit)

    async def one(c: Awaitable[Any]) -> Any:
        async with sem:
            return await c

    return await asyncio.gather(*(one(c) for c in coros))


def test_header_users_always_land_on_the_same_backend() -> None:
    """Each x-user sees exactly one backend over repeated requests."""

    async def body(mesh: Mesh, s: ClientSession) -> None:
        users = [f"user-{i}" for i in range(60)]
        results = await _bounded(
            [_get(s, mesh.url + "/x", headers={"x-user": u}) for u in users for _ in range(4)]
        )
        seen: dict[str, set[str]] = {}
        for (status, text, _), u in zip(results, [u for u in users for _ in range(4)], strict=True):
            assert status == 200
            seen.setdefault(u, set()).add(text)
        assert all(len(v) == 1 for v in seen.values())
        assert len({next(iter(v)) for v in seen.values()}) >= 3  # users really spread out

    run(HashPolicy(Header("x-user")), body)


def test_cookie_is_issued_when_absent_and_honoured_after() -> None:
    """A missing cookie is generated (Set-Cookie); sending it back pins the backend."""

    async def body(mesh: Mesh, s: ClientSession) -> None:
        for _ in range(10):
            status, first, headers = await _get(s, mesh.url + "/")
            assert status == 200
            set_cookie = headers.get("Set-Cookie")
            assert set_cookie and set_cookie.startswith('session="') and "HttpOnly" in set_cookie
            assert "Max-Age=3600" in set_cookie and "Path=/" in set_cookie
            value = set_cookie.split(";", 1)[0]  # session="0123456789abcdef"
            for _ in range(5):
                status, text, again = await _get(s, mesh.url + "/", headers={"Cookie": value})
                assert status == 200 and text == first
                assert "Set-Cookie" not in again  # present cookie: none issued

    run(HashPolicy(Cookie("session", ttl=3600, path="/")), body)


def test_source_ip_affinity_and_xff_trusted_hop() -> None:
    """Source-IP users are sticky, directly and behind one trusted XFF hop."""

    async def body(mesh: Mesh, s: ClientSession) -> None:
        direct = {(await _get(s, mesh.url + "/"))[1] for _ in range(10)}
        assert len(direct) == 1  # every request comes from 127.0.0.1
        seen: dict[str, set[str]] = {}
        for i in range(40):
            ip = f"203.0.113.{i}"
            for _ in range(3):
                _, text, _ = await _get(s, mesh.url + "/", headers={"X-Forwarded-For": ip})
                seen.setdefault(ip, set()).add(text)
        assert all(len(v) == 1 for v in seen.values())
        assert len({next(iter(v)) for v in seen.values()}) >= 3

    run(HashPolicy(SourceIP(xff_num_trusted_hops=1)), body)


def test_sticky_canary_split_and_live_ramp() -> None:
    """90/10 over 2000 users: canary share within 4 sigma; a live ramp to 20% keeps every canary user."""

    async def body(mesh: Mesh, s: ClientSession) -> None:
        users = [f"u{i}" for i in range(2000)]
        first = await _bounded([_get(s, mesh.url + "/", headers={"x-user": u}) for u in users])
        subset = {u: r[2]["x-hashlb-subset"] for u, r in zip(users, first, strict=True)}
        backend = {u: r[1] for u, r in zip(users, first, strict=True)}
        canary = [u for u in users if subset[u] == "canary"]
        p, n = 0.10, len(users)
        assert abs(len(canary) / n - p) <= 4 * math.sqrt(p * (1 - p) / n)

        assert mesh.proxy is not None
        old = mesh.proxy.router
        # Swap while requests are in flight: none may fail.
        inflight = asyncio.ensure_future(
            _bounded([_get(s, mesh.url + "/", headers={"x-user": u}) for u in users[:300]])
        )
        await asyncio.sleep(0)
        mesh.proxy.set_router(old.with_weights({"stable": 80, "canary": 20}))
        assert all(r[0] == 200 for r in await inflight)

        after = await _bounded([_get(s, mesh.url + "/", headers={"x-user": u}) for u in users])
        sub2 = {u: r[2]["x-hashlb-subset"] for u, r in zip(users, after, strict=True)}
        assert all(sub2[u] == "canary" for u in canary)  # nobody leaves the canary
        assert all(
            r[1] == backend[u] for u, r in zip(users, after, strict=True) if sub2[u] == subset[u]
        )
        share = sum(v == "canary" for v in sub2.values()) / n
        assert abs(share - 0.2) <= 4 * math.sqrt(0.2 * 0.8 / n)

    run(HashPolicy(Header("x-user")), body)


def test_dead_backend_gives_502_and_no_crash() -> None:
    """Users of a stopped backend get 502; everyone else is still served."""

    async def body(mesh: Mesh, s: ClientSession) -> None:
        users = [f"user-{i}" for i in range(80)]
        before = {u: (await _get(s, mesh.url + "/", headers={"x-user": u}))[1] for u in users}
        victim = before[users[0]]
        runner, _ = mesh.backends[victim]
        await runner.cleanup()
        mesh.stopped.add(victim)
        for u in users:
            status, text, _ = await _get(s, mesh.url + "/", headers={"x-user": u})
            if before[u] == victim:
                assert status == 502
            else:
                assert status == 200 and text == before[u]
        status, _, _ = await _get(s, mesh.url + "/", headers={"x-user": users[1]})
        assert status in (200, 502)  # the proxy is still up

    run(HashPolicy(Header("x-user")), body)


def test_proxy_configured_from_istio_yaml(tmp_path: Path) -> None:
    """The proxy reads the same Istio YAML as ``hashlb simulate`` and pins header users."""
    from hashlb_proxy import YamlRouter

    async def main() -> None:
        runners = []
        proxy: HashlbProxy | None = None
        try:
            pods = []
            for name in ("safe-0", "safe-1", "risky-0"):
                runner, port = await _start(_backend(name))
                runners.append(runner)
                version = name.split("-")[0]
                pods.append(
                    f"""- apiVersion: v1
  kind: Pod
  metadata: {{name: staff-{name}, namespace: default, labels: {{app: staff-service, version: {version}}}}}
  spec: {{containers: [{{name: app, ports: [{{containerPort: {port}}}]}}]}}
  status: {{podIP: 127.0.0.1}}"""
                )
            (tmp_path / "pods.yaml").write_text(
                "apiVersion: v1\nkind: List\nitems:\n" + "\n".join(pods) + "\n"
            )
            (tmp_path / "mesh.yaml").write_text(
                """apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata: {name: staff, namespace: default}
spec:
  host: fleetman-staff-service
  trafficPolicy: {loadBalancer: {consistentHash: {httpHeaderName: x-myval}}}
  subsets:
  - {name: safe, labels: {version: safe}}
  - {name: risky, labels: {version: risky}}
---
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: staff, namespace: default}
spec:
  hosts: [fleetman-staff-service.default.svc.cluster.local]
  http:
  - route:
    - {destination: {host: fleetman-staff-service, subset: safe}, weight: 90}
    - {destination: {host: fleetman-staff-service, subset: risky}, weight: 10}
"""
            )
            proxy = HashlbProxy(
                YamlRouter([str(tmp_path)], mode="sticky"), timeout=5, debug_headers=True
            )
            pport = await proxy.start()
            url = f"http://127.0.0.1:{pport}/"
            async with ClientSession(timeout=TIMEOUT) as s:
                seen: dict[str, set[str]] = {}
                for i in range(60):
                    for _ in range(3):
                        status, text, headers = await _get(s, url, headers={"x-myval": f"user-{i}"})
                        assert status == 200
                        assert text.split("-")[0] == headers["x-hashlb-subset"]
                        seen.setdefault(f"user-{i}", set()).add(text)
                assert all(len(v) == 1 for v in seen.values())
                assert {next(iter(v)) for v in seen.values()} >= {"safe-0", "safe-1"}
        finally:
            if proxy is not None:
                await proxy.close()
            for r in runners:
                await r.cleanup()

    asyncio.run(asyncio.wait_for(main(), timeout=60))
