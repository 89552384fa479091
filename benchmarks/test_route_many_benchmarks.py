"""The fused Router.route_many (issue 14) against the C limit of routing, measured in one run.

The router: 100 hosts in two subsets (90 "stable", 10 "canary", weights
90/10), a Maglev of M = 65,537 per subset, a ``Header("x-user")`` policy,
10**6 requests whose keys are 16-byte strings in an Arrow ``string`` column.
The C limits (``_limit.h``, compiled by ``_limit_build.py``) are plain loops
over the same buffers: the subset (sticky: the picker's weighted rendezvous;
envoy: ``value % total``) and the chosen subset's Maglev lookup mapped to the
router's host index (``route_sticky``, ``route_keys``, ``route_envoy``), and
the issue's yardstick, the columnar pick limit (xxh64 + one Maglev lookup,
``pick``).  Each benchmark is named ``<operation>[<input>]`` and records its
``ratio`` to its limit (and ``ratio_to_pick``) in ``extra_info``.  Targets:

* sticky ``route_many`` from hashes <= 2x the limit, from an Arrow key column
  <= 3x;
* envoy mode <= 1.5x sticky;
* two threads on two chunks: >= 90% of the speed-up of the C loop.

Run, for the table of every ratio in one process::

    python -m benchmarks.test_route_many_benchmarks
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable
from typing import Any

import numpy as np
import pytest

from benchmarks._limit_build import load
from benchmarks.test_columns_benchmarks import _two_threads, paired_ns, thread_speedups
from hashlb import Host, Router
from hashlb.policy import HashPolicy, Header

pa = pytest.importorskip("pyarrow")
_c_router = pytest.importorskip("hashlb._router_c")  # the compiled twin (a pure build skips)
_c_subset = pytest.importorskip("hashlb._subset_c")
_c_maglev = pytest.importorskip("hashlb._maglev_c")
_c_hashing = pytest.importorskip("hashlb._hashing_c")

N = 1_000_000
SMOKE_N = 20_000
HOSTS = [
    Host(f"10.0.{i // 256}.{i % 256}:6379", labels={"v": "stable" if i < 90 else "canary"})
    for i in range(100)
]
SUBSETS = {"stable": {"v": "stable"}, "canary": {"v": "canary"}}
WEIGHTS = {"stable": 90, "canary": 10}


def router(mode: str) -> Router:
    return Router(
        HOSTS,
        subsets=SUBSETS,
        weights=_c_subset.WeightedSubsetPicker(WEIGHTS, mode=mode),
        policy=HashPolicy(Header("x-user")),
        balancer=_c_maglev.Maglev,
        balancer_options={"table_size": 65537},
        mode=mode,
    )


class Data:
    """The keys, their hashes, the routers and the buffers the C limits read."""

    def __init__(self, n: int = N) -> None:
        self.n = n
        self.keys = pa.array([f"user-{i:011d}" for i in range(n)], pa.string())
        self.hashes = _c_hashing.xxh64_many(self.keys)
        self.arrow_hashes = pa.array(self.hashes)
        self.values = np.random.default_rng(1).integers(0, 2**64, size=n, dtype=np.uint64)
        self.sticky = router("sticky")
        self.envoy = router("envoy")
        names = self.sticky.picker.names
        stride = max(len(self.sticky.tables[s].hosts) for s in names)
        self.tables = np.stack(
            [np.frombuffer(self.sticky.tables[s].table, np.uint16) for s in names]
        )
        self.index = np.zeros((len(names), stride), np.uint32)
        for i, s in enumerate(names):
            idx = self.sticky._index_of(s)
            self.index[i, : len(idx)] = idx
        self.salt = np.array(self.sticky.picker.salts, np.uint64)
        self.inv_w = np.array([1.0 / WEIGHTS[s] for s in names])
        self.ends = np.cumsum([WEIGHTS[s] for s in names]).astype(np.uint64)
        bufs = self.keys.buffers()
        self.data = np.frombuffer(bufs[2], np.uint8)
        self.offsets = np.frombuffer(bufs[1], np.int32)[: n + 1]
        self.maglev = self.sticky.tables["stable"]
        self.pick_table = np.frombuffer(self.maglev.table, np.uint16)
        self.sub = np.empty(n, np.uint32)
        self.host = np.empty(n, np.uint32)
        self.out64 = np.empty(n, np.uint64)


def limits(lim: Any, d: Data) -> dict[str, Callable[[], object]]:
    """The C-limit loops over *d*'s buffers."""
    return {
        "route_sticky": lambda: lim.route_sticky(
            d.hashes, d.salt, d.inv_w, d.tables, d.index, d.sub, d.host
        ),
        "route_keys": lambda: lim.route_keys(
            d.data, d.offsets, d.salt, d.inv_w, d.tables, d.index, d.out64, d.sub, d.host
        ),
        "route_envoy": lambda: lim.route_envoy(
            d.hashes, d.values, d.ends, d.tables, d.index, d.sub, d.host
        ),
        "route_keys_envoy": lambda: lim.route_keys_envoy(
            d.data, d.offsets, d.values, d.ends, d.tables, d.index, d.out64, d.sub, d.host
        ),
        "pick": lambda: lim.pick(d.data, d.offsets, d.pick_table, d.host),
    }


def cases(d: Data) -> dict[str, tuple[str, Callable[[], object]]]:
    """Every benchmarked call: ``name -> (limit it is measured against, call)``."""
    rng = np.random.default_rng
    return {
        "route_many sticky[numpy hashes]": ("route_sticky", lambda: d.sticky.route_many(d.hashes)),
        "route_many sticky[arrow hashes]": (
            "route_sticky",
            lambda: d.sticky.route_many(d.arrow_hashes),
        ),
        "route_many sticky[keys=arrow string]": (
            "route_keys",
            lambda: d.sticky.route_many(keys=d.keys),
        ),
        "route_many envoy[hashes, values=]": (
            "route_envoy",
            lambda: d.envoy.route_many(d.hashes, values=d.values),
        ),
        "route_many envoy[hashes, random values]": (
            "route_envoy",
            lambda: d.envoy.route_many(d.hashes, rng=rng(2)),
        ),
        "route_many envoy[keys=arrow string, values=]": (
            "route_keys_envoy",
            lambda: d.envoy.route_many(keys=d.keys, values=d.values),
        ),
    }


def two_thread_speedups(lim: Any, d: Data) -> dict[str, float]:
    """:func:`~benchmarks.test_columns_benchmarks.thread_speedups` of sticky ``route_many``."""

    def c_route(lo: int, hi: int) -> None:
        lim.route_sticky(
            d.hashes[lo:hi], d.salt, d.inv_w, d.tables, d.index, d.sub[lo:hi], d.host[lo:hi]
        )

    def hashlb_route(lo: int, hi: int) -> None:
        d.sticky.route_many(d.hashes[lo:hi])

    return thread_speedups(c_route, "route_many sticky[numpy hashes]", hashlb_route, d.n)


# ---------------------------------------------------------------- pytest-benchmark


def _disabled(request: pytest.FixtureRequest) -> bool:
    return bool(request.config.getoption("benchmark_disable", False))


@pytest.fixture(scope="module")
def data(request: pytest.FixtureRequest) -> Data:
    return Data(SMOKE_N if _disabled(request) else N)


@pytest.fixture(scope="module")
def limit(data: Data, request: pytest.FixtureRequest) -> dict[str, float]:
    """The median ns/row of every C limit."""
    lim = load()
    if lim is None:
        pytest.skip("the C limit helper cannot be built here (no Cython / compiler)")
    rounds = 1 if _disabled(request) else 9
    out = {}
    for k, f in limits(lim, data).items():
        f()
        times = []
        for _ in range(rounds):
            t0 = time.perf_counter()
            f()
            times.append(time.perf_counter() - t0)
        out[k] = statistics.median(times) * 1e9 / data.n
    return out


def test_the_limit_routes_as_the_router(data: Data) -> None:
    """The C limit loops compute what route_many computes (so the ratios compare like with like)."""
    lim = load()
    if lim is None:
        pytest.skip("the C limit helper cannot be built here (no Cython / compiler)")
    d = data
    limits(lim, d)["route_sticky"]()
    batch = d.sticky.route_many(d.hashes)
    assert (batch.subset == d.sub).all() and (batch.host == d.host).all()
    limits(lim, d)["route_keys"]()
    assert (d.out64 == d.hashes).all() and (batch.host == d.host).all()
    limits(lim, d)["route_envoy"]()
    batch = d.envoy.route_many(d.hashes, values=d.values)
    assert (batch.subset == d.sub).all() and (batch.host == d.host).all()
    limits(lim, d)["route_keys_envoy"]()
    assert (batch.subset == d.sub).all() and (batch.host == d.host).all()


_NAMES = [
    "route_many sticky[numpy hashes]",
    "route_many sticky[arrow hashes]",
    "route_many sticky[keys=arrow string]",
    "route_many envoy[hashes, values=]",
    "route_many envoy[hashes, random values]",
    "route_many envoy[keys=arrow string, values=]",
]


@pytest.mark.parametrize("name", _NAMES)
def test_route_many(benchmark: Any, data: Data, limit: dict[str, float], name: str) -> None:
    """One route_many over 10**6 rows; extra_info: ns/row, its limit's, and the ratios."""
    which, fn = cases(data)[name]
    benchmark.group = f"route_many 1e6 rows: {which}"
    benchmark(fn)
    benchmark.extra_info["limit_ns_per_row"] = limit[which]
    stats = getattr(benchmark, "stats", None)
    if stats is not None:
        ns = stats.stats.median * 1e9 / data.n
        benchmark.extra_info["ns_per_row"] = ns
        benchmark.extra_info["ratio"] = ns / limit[which]
        benchmark.extra_info["ratio_to_pick"] = ns / limit["pick"]


def test_route_many_two_threads(benchmark: Any, data: Data, request: pytest.FixtureRequest) -> None:
    """Two threads on two chunks: extra_info has both speed-ups and their ratio."""
    lim = load()
    if lim is None:
        pytest.skip("the C limit helper cannot be built here (no Cython / compiler)")

    def hashlb_route(lo: int, hi: int) -> None:
        data.sticky.route_many(data.hashes[lo:hi])

    benchmark.group = "route_many 1e6 rows: two threads"
    benchmark(_two_threads(hashlb_route, data.n))
    if not _disabled(request):
        speed = two_thread_speedups(lim, data)
        benchmark.extra_info["share_of_c_speedup"] = speed.pop("share")
        benchmark.extra_info.update(speed)


def main() -> None:
    """Print every median and ratio, each case measured in rounds alternating with its limit."""
    lim = load()
    if lim is None:
        raise SystemExit("the C limit helper cannot be built here")
    d = Data()
    base = limits(lim, d)
    for name, (which, fn) in cases(d).items():
        ns, ref, ratio = paired_ns(fn, base[which], d.n)
        _, pick, to_pick = paired_ns(fn, base["pick"], d.n)
        print(
            f"{name:46s} {ns:7.2f} ns/row  {ratio:5.2f}x the {which} limit ({ref:.2f})"
            f"  {to_pick:5.2f}x the pick limit ({pick:.2f})"
        )
    table = cases(d)
    for name, against in (
        ("route_many envoy[hashes, values=]", "route_many sticky[numpy hashes]"),
        ("route_many envoy[hashes, random values]", "route_many sticky[numpy hashes]"),
        ("route_many envoy[keys=arrow string, values=]", "route_many sticky[keys=arrow string]"),
    ):
        _, _, ratio = paired_ns(table[name][1], table[against][1], d.n)
        print(f"{name:46s} {ratio:5.2f}x {against}")
    speed = two_thread_speedups(lim, d)
    share = speed.pop("share")
    for name, s in speed.items():
        print(f"two threads, {name:34s} speed-up {s:.2f}x")
    print(f"two threads: route_many gets {share:.0%} of the C loop's speed-up (median of rounds)")


if __name__ == "__main__":
    main()
