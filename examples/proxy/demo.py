"""The example proxy in front of three real backends, on loopback, in a few seconds.

Run it from the repository (after ``pip install ".[proxy]"``)::

    python examples/proxy/demo.py

It starts three backends (``backend.py``: aiohttp servers on 127.0.0.1 that
answer with their name), writes them as Pods with real IPs to a ``pods.yaml``
(what ``kubectl get pods -o yaml`` gives), and starts the proxy from the
canary mesh of ``examples/istio-canary/`` with ``--endpoints pods.yaml``, as
``hashlb_proxy.py -f examples/istio-canary/ --endpoints pods.yaml`` would.
Then it sends traffic from a few users, prints which backend each reached and
how sticky that was, ramps the canary live (a new router per step, swapped in
whole while requests are in flight), shows the same traffic in Envoy's mode
for comparison, and exits: 0 when every check held, 1 otherwise.

Everything binds 127.0.0.1 on free ports; every loop has a fixed count and
the whole run a time limit (``--time-limit``, default 60 s).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import sys
import tempfile
from collections import Counter
from collections.abc import Awaitable, Iterable, Sequence
from pathlib import Path
from typing import TypeVar

import yaml
from aiohttp import ClientSession, ClientTimeout, DummyCookieJar, web

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
from backend import start_backend  # noqa: E402
from hashlb_proxy import LOG_FORMAT, HashlbProxy, YamlRouter, add_log_level  # noqa: E402

MESH = HERE.parent / "istio-canary"
#: The backends: name -> the ``version`` label the DestinationRule's subsets select.
BACKENDS = {"safe-0": "safe", "safe-1": "safe", "risky-0": "risky"}
#: The users shown one by one; CROWD more are counted.
USERS = ("alice", "bob", "carol", "dave", "erin", "frank", "grace", "heidi")
CROWD = 200
REQUESTS_PER_USER = 5
#: The canary's share at each step of the ramp (the first is the example's 90/10).
RAMP = (10, 25, 50, 100)
HEADER = "x-myval"  # the DestinationRule's consistentHash.httpHeaderName
CONCURRENCY = 16
LOG_SAMPLE = 3
T = TypeVar("T")


class Failed(Exception):
    """A check of the demo did not hold."""


class LogSample(logging.Handler):
    """Keep the first few proxy log lines (and count them all)."""

    def __init__(self, keep: int) -> None:
        super().__init__(logging.INFO)
        self.keep = keep
        self.lines: list[str] = []
        self.count = 0

    def emit(self, record: logging.LogRecord) -> None:
        self.count += 1
        if len(self.lines) < self.keep:
            self.lines.append(record.getMessage())


def pods_yaml(ports: dict[str, int]) -> str:
    """The backends as a List of Ready Pods with real IPs, as ``kubectl get pods -o yaml``."""
    items = [
        {
            "apiVersion": "v1",
            "kind": "Pod",
            "metadata": {
                "name": name,
                "namespace": "default",
                "labels": {"app": "staff-service", "version": BACKENDS[name]},
            },
            "spec": {"containers": [{"name": "app", "ports": [{"containerPort": port}]}]},
            "status": {
                "phase": "Running",
                "podIP": "127.0.0.1",
                "conditions": [{"type": "Ready", "status": "True"}],
            },
        }
        for name, port in ports.items()
    ]
    return yaml.safe_dump({"apiVersion": "v1", "kind": "List", "items": items}, sort_keys=False)


def virtual_service(canary: int) -> str:
    """``examples/istio-canary/virtualservice.yaml`` with the canary at *canary* percent."""
    doc = yaml.safe_load((MESH / "virtualservice.yaml").read_text(encoding="utf-8"))
    for destination in doc["spec"]["http"][0]["route"]:
        risky = destination["destination"]["subset"] == "risky"
        destination["weight"] = canary if risky else 100 - canary
    return yaml.safe_dump(doc, sort_keys=False)


async def bounded(coros: Iterable[Awaitable[T]], limit: int = CONCURRENCY) -> list[T]:
    """Await *coros* with at most *limit* running at once; results in order."""
    gate = asyncio.Semaphore(limit)

    async def one(coro: Awaitable[T]) -> T:
        async with gate:
            return await coro

    return list(await asyncio.gather(*(one(c) for c in coros)))


class Demo:
    """The backends, the proxy and a client session."""

    def __init__(self, workdir: Path) -> None:
        self.workdir = workdir
        self.runners: list[web.AppRunner] = []
        self.ports: dict[str, int] = {}
        self.proxy: HashlbProxy | None = None
        self.url = ""
        self.session: ClientSession | None = None
        self.pods = workdir / "pods.yaml"

    async def start(self) -> None:
        for name in BACKENDS:
            runner, port = await start_backend(name)
            self.runners.append(runner)
            self.ports[name] = port
        self.pods.write_text(pods_yaml(self.ports), encoding="utf-8")
        self.proxy = HashlbProxy(self.router(RAMP[0]), timeout=5)
        port = await self.proxy.start("127.0.0.1", 0)
        self.url = f"http://127.0.0.1:{port}/"
        self.session = ClientSession(timeout=ClientTimeout(total=10), cookie_jar=DummyCookieJar())

    async def close(self) -> None:
        if self.session is not None:
            await self.session.close()
        if self.proxy is not None:
            await self.proxy.close()
        for runner in self.runners:
            await runner.cleanup()

    def router(self, canary: int, mode: str = "sticky") -> YamlRouter:
        """A router for the canary at *canary* percent, built once from YAML."""
        if canary == RAMP[0]:  # the example as it is: 90 / 10
            files = [str(MESH)]
        else:
            vs = self.workdir / f"virtualservice-{canary}.yaml"
            vs.write_text(virtual_service(canary), encoding="utf-8")
            files = [str(MESH / "deployments.yaml"), str(MESH / "destinationrule.yaml"), str(vs)]
        return YamlRouter(files, mode=mode, endpoints=[str(self.pods)])

    async def get(self, user: str, path: str = "/") -> str:
        """One request as *user*; the name of the backend that answered."""
        assert self.session is not None
        async with self.session.get(self.url + path.lstrip("/"), headers={HEADER: user}) as r:
            body = await r.text()
            if r.status != 200:
                raise Failed(f"{user}: the proxy answered {r.status} {body.strip()[:80]!r}")
            return body.strip()

    async def traffic(self, users: Sequence[str], per_user: int) -> dict[str, list[str]]:
        """*per_user* requests from each user; user -> the backends that answered, in order."""
        paths = ("/", "/cart", "/checkout", "/account", "/help")
        jobs = [(u, paths[i % len(paths)]) for i in range(per_user) for u in users]
        names = await bounded(self.get(u, p) for u, p in jobs)
        seen: dict[str, list[str]] = {u: [] for u in users}
        for (u, _), name in zip(jobs, names, strict=True):
            seen[u].append(name)
        return seen


def subset_of(backend: str) -> str:
    return BACKENDS[backend]


def one_backend(seen: dict[str, list[str]]) -> int:
    """How many users reached a single backend."""
    return sum(len(set(names)) == 1 for names in seen.values())


def one_version(seen: dict[str, list[str]]) -> int:
    """How many users reached a single version (subset)."""
    return sum(len({subset_of(n) for n in names}) == 1 for names in seen.values())


def check(condition: bool, message: str) -> None:
    if not condition:
        raise Failed(message)


async def run(demo: Demo, sample: LogSample) -> None:
    await demo.start()
    print("Backends (aiohttp on 127.0.0.1), given to the proxy as Pods with real IPs:")
    for name, port in demo.ports.items():
        print(f"  {name:<8} version={BACKENDS[name]:<6} 127.0.0.1:{port}")
    print(f"Proxy on {demo.url.rstrip('/')}, mode sticky, hashing the {HEADER} header:")
    print("  hashlb_proxy.py -f examples/istio-canary/ --endpoints pods.yaml")
    print()

    crowd = [f"user-{i}" for i in range(CROWD)]
    users = list(USERS)
    seen = await demo.traffic(users + crowd, REQUESTS_PER_USER)
    print(f"{len(users)} users, {REQUESTS_PER_USER} requests each (safe 90 / risky 10):")
    for u in users:
        names = Counter(seen[u])
        reached = ", ".join(f"{n} {c}/{REQUESTS_PER_USER}" for n, c in sorted(names.items()))
        print(f"  {u:<6} -> {reached}")
    everyone = len(users) + CROWD
    sticky = one_backend(seen)
    on_risky = sum(subset_of(seen[u][0]) == "risky" for u in users + crowd)
    print(
        f"Stickiness: {sticky} of {everyone} users ({len(users)} above and {CROWD} more) "
        "reached one backend only;"
    )
    print(f"  {on_risky} of them ({100 * on_risky / everyone:.0f}%) are on risky.")
    check(sticky == everyone, f"sticky mode: only {sticky} of {everyone} users stayed")
    print()

    print("Ramping the canary live: one new router per step, swapped in whole")
    print("while requests are in flight (they finish on the router they started with).")
    backend = {u: seen[u][0] for u in users + crowd}
    columns: dict[str, list[str]] = {u: [backend[u]] for u in users}
    shares = [on_risky]
    left_risky = moved_inside = in_flight = 0
    assert demo.proxy is not None
    for canary in RAMP[1:]:
        new = demo.router(canary)  # built before the swap: the swap itself is one assignment
        during = asyncio.ensure_future(demo.traffic(crowd, 1))
        await asyncio.sleep(0)  # let the first requests start on the old router
        demo.proxy.set_router(new)
        in_flight += len(await during)
        now = await demo.traffic(users + crowd, 1)
        for u in users + crowd:
            name = now[u][0]
            if subset_of(backend[u]) == "risky" and subset_of(name) != "risky":
                left_risky += 1
            elif subset_of(backend[u]) == subset_of(name) and backend[u] != name:
                moved_inside += 1
            backend[u] = name
        for u in users:
            columns[u].append(now[u][0])
        shares.append(sum(subset_of(backend[u]) == "risky" for u in users + crowd))
    print("  user   " + "".join(f"risky {c:>3}%  " for c in RAMP).rstrip())
    for u in users:
        print(f"  {u:<6} " + "".join(f"{n:<12}" for n in columns[u]).rstrip())
    print(f"  Users on risky, of {everyone}: {' -> '.join(str(s) for s in shares)}.")
    print(
        f"  Left risky: {left_risky}; changed backend within a version: {moved_inside}; "
        f"{in_flight} requests"
    )
    print("  were in flight during the swaps, all answered 200.")
    check(left_risky == 0, f"{left_risky} users left the canary during the ramp")
    check(moved_inside == 0, f"{moved_inside} users changed backend within their version")
    check(shares[-1] == everyone, "at 100% some users are not on the canary")
    print()

    demo.proxy.set_router(demo.router(RAMP[0], mode="envoy"))
    envoy = await demo.traffic(crowd, REQUESTS_PER_USER)
    kept = one_version(envoy)
    odds = 0.9**REQUESTS_PER_USER + 0.1**REQUESTS_PER_USER
    print("The same traffic in --mode envoy, Istio's behaviour: Envoy draws the subset")
    print("at random for every request, before hashing.")
    print(
        f"  {kept} of {CROWD} users ({100 * kept / CROWD:.0f}%) reached one version only "
        f"over {REQUESTS_PER_USER} requests"
    )
    print(
        f"  (expected about {100 * odds:.0f}%: 0.9^{REQUESTS_PER_USER} + 0.1^{REQUESTS_PER_USER})."
    )
    check(kept < CROWD, "envoy mode kept every user on one version")
    print()

    print(f"Proxy log, the first {len(sample.lines)} of {sample.count} lines (one per request):")
    for line in sample.lines:
        print(f"  {line}")


def main(argv: Sequence[str] | None = None) -> int:
    """Run the demo; 0 when every check held, 1 when one did not."""
    ap = argparse.ArgumentParser(prog="demo.py", description=__doc__.splitlines()[0])
    add_log_level(
        ap, "WARNING", "the proxy's log on stderr (INFO: one line per request; default WARNING)"
    )
    ap.add_argument("--time-limit", type=float, default=60.0, help="seconds, at most")
    args = ap.parse_args(argv)
    logging.basicConfig(level=args.log_level, format=LOG_FORMAT, stream=sys.stderr)
    proxy_log = logging.getLogger("hashlb.proxy")
    proxy_log.setLevel(logging.INFO)  # the sample below needs the INFO lines
    for handler in logging.getLogger().handlers:
        handler.setLevel(args.log_level)
    sample = LogSample(LOG_SAMPLE)
    proxy_log.addHandler(sample)

    async def body() -> None:
        with tempfile.TemporaryDirectory(prefix="hashlb-demo-") as tmp:
            demo = Demo(Path(tmp))
            try:
                await asyncio.wait_for(run(demo, sample), args.time_limit)
            finally:
                with contextlib.suppress(Exception):
                    await demo.close()

    try:
        asyncio.run(body())
    except Failed as exc:
        print(f"demo.py: FAILED: {exc}", file=sys.stderr)
        return 1
    except asyncio.TimeoutError:
        print(f"demo.py: FAILED: not done in {args.time_limit:g} s", file=sys.stderr)
        return 1
    print("OK: every request was answered by its backend; every check held.")
    return 0


if __name__ == "__main__":
    sys.exit(main())
