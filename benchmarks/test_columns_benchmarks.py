"""Columnar batches (issue 14): xxh64_many, pick_many, lookup_many against the C limit.

The C limit is a plain C loop over the same Arrow buffers (``_limit.h``:
hashlb's xxh64 + fastmod Maglev lookup, 10**6 keys of 16 bytes, Maglev
M = 65,537 with 100 hosts), compiled by ``_limit_build.py`` and measured in
the same run.  Each benchmark is named ``<operation>[<input>]`` and records
``ratio`` (its median over the median of its limit) in ``extra_info``.
Targets:

* ``xxh64_many`` and ``Maglev.pick_many`` on Arrow / numpy string columns
  <= 1.3x the limit; on ``list[str]`` <= 1.5x;
* ``Maglev.lookup_many`` on Arrow / pandas / polars uint64 (zero-copy)
  <= 1.2x the C lookup;
* two threads on two chunks: the speed-up of ``Maglev.pick_many`` >= 90% of
  the C loop's (``two_threads``).

``Cluster.lookup_many`` is measured against the C lookup too: with one
priority level it is its Maglev's ``lookup_many``; with two (a level that
spills part of the load to the next, as Envoy's priority loads do) it splits
the rows by level with numpy and looks each level's rows up in its table.

``RingHash.pick_many`` is measured against both the Maglev limit (the issue's
yardstick) and a C ring limit (xxh64 + a plain lower_bound on the same ring).
A numpy ``U16`` column holds 64 bytes a key (UCS4), against the Arrow
column's 20 (16 bytes + an offset): ``main`` also times a C loop that only
reads that buffer, the memory floor of any pass over it.

Run, for the table of every ratio in one process::

    python -m benchmarks.test_columns_benchmarks

or ``pytest benchmarks/test_columns_benchmarks.py --benchmark-group-by=group``.
"""

from __future__ import annotations

import statistics
import threading
import time
from collections.abc import Callable
from typing import Any

import numpy as np
import pytest

from benchmarks._limit_build import load
from hashlb import Cluster, Host

pa = pytest.importorskip("pyarrow")
_c_maglev = pytest.importorskip("hashlb._maglev_c")  # the compiled twin (a pure build skips)
_c_ring = pytest.importorskip("hashlb._ring_c")
_c_hashing = pytest.importorskip("hashlb._hashing_c")

N = 1_000_000
#: The rows of a smoke run (--benchmark-disable): enough to cross the C chunks, small
#: enough not to raise the process's peak RSS, which the later benchmarks' child
#: processes inherit (ru_maxrss counts the parent's high-water mark at exec).
SMOKE_N = 20_000
HOSTS = [Host(f"10.0.{i // 256}.{i % 256}:6379") for i in range(100)]
#: The same hosts in two priorities, 45 of the 70 at priority 0 unhealthy: Envoy's
#: priority load gives level 0 25 / 70 x 140% = 50% of the hashes, level 1 the rest.
LEVELS = [
    Host(h.address, priority=int(i >= 70), health="unhealthy" if i < 45 else "healthy")
    for i, h in enumerate(HOSTS)
]


class Data:
    """The keys in every form, the tables, and the buffers the C limit reads."""

    def __init__(self, n: int = N) -> None:
        self.n = n
        self.keys = [f"user-{i:011d}" for i in range(n)]  # 16 bytes each
        self.arrow = pa.array(self.keys, pa.string())
        self.forms: dict[str, Any] = {
            "arrow string": self.arrow,
            "arrow large_string": pa.array(self.keys, pa.large_string()),
            "arrow string_view": pa.array(self.keys, pa.string_view()),
            "numpy S16": np.array(self.keys, dtype="S16"),
            "numpy U16": np.array(self.keys, dtype="U16"),
            "list[str]": self.keys,
        }
        self.maglev = _c_maglev.Maglev(HOSTS, table_size=65537)
        maglev = _c_maglev.Maglev
        self.cluster1 = Cluster(HOSTS, balancer=maglev, table_size=65537)
        self.cluster2 = Cluster(LEVELS, balancer=maglev, table_size=65537)
        self.ring = _c_ring.RingHash(HOSTS)
        self.hashes = _c_hashing.xxh64_many(self.arrow)
        self.hash_forms: dict[str, Any] = {
            "numpy uint64": self.hashes,
            "arrow uint64": pa.array(self.hashes),
        }
        try:
            import pandas as pd

            self.hash_forms["pandas uint64"] = pd.Series(self.hashes, copy=False)
        except ImportError:  # pragma: no cover - pandas is in the test extra
            pass
        try:
            import polars as pl

            self.hash_forms["polars uint64"] = pl.Series(self.hashes)
        except ImportError:  # pragma: no cover - polars is in the test extra
            pass
        bufs = self.arrow.buffers()
        self.data = np.frombuffer(bufs[2], np.uint8)
        self.offsets = np.frombuffer(bufs[1], np.int32)[: n + 1]
        self.table = np.frombuffer(self.maglev.table, np.uint16)
        ring = self.ring.ring
        self.ring_hashes = np.array([h for h, _ in ring], np.uint64)
        self.ring_owners = np.array([o for _, o in ring], np.uint32)
        self.out32 = np.empty(n, np.uint32)
        self.out64 = np.empty(n, np.uint64)


def limits(lim: Any, d: Data) -> dict[str, Callable[[], object]]:
    """The C-limit loops over *d*'s buffers."""
    return {
        "hash": lambda: lim.hash(d.data, d.offsets, d.out64),
        "pick": lambda: lim.pick(d.data, d.offsets, d.table, d.out32),
        "lookup": lambda: lim.lookup(d.hashes, d.table, d.out32),
        "ring": lambda: lim.ring(d.data, d.offsets, d.ring_hashes, d.ring_owners, d.out32),
    }


def cases(d: Data) -> dict[str, tuple[str, Callable[[], object]]]:
    """Every benchmarked call: ``name -> (limit it is measured against, call)``."""
    out: dict[str, tuple[str, Callable[[], object]]] = {}
    for form, x in d.forms.items():
        out[f"xxh64_many[{form}]"] = ("hash", lambda x=x: _c_hashing.xxh64_many(x))
        out[f"Maglev.pick_many[{form}]"] = ("pick", lambda x=x: d.maglev.pick_many(x))
    out["xxh64_many[arrow string, out=]"] = (
        "hash",
        lambda: _c_hashing.xxh64_many(d.arrow, out=d.out64),
    )
    out["Maglev.pick_many[arrow string, out=]"] = (
        "pick",
        lambda: d.maglev.pick_many(d.arrow, out=d.out32),
    )
    for form in ("arrow string", "numpy S16", "list[str]"):
        x = d.forms[form]
        out[f"RingHash.pick_many[{form}]"] = ("pick", lambda x=x: d.ring.pick_many(x))
        out[f"RingHash.pick_many[{form}] vs ring"] = ("ring", lambda x=x: d.ring.pick_many(x))
    for form, h in d.hash_forms.items():
        out[f"Maglev.lookup_many[{form}]"] = ("lookup", lambda h=h: d.maglev.lookup_many(h))
    for form in ("numpy uint64", "arrow uint64"):
        h = d.hash_forms[form]
        for levels, cluster in (("1 level", d.cluster1), ("2 levels", d.cluster2)):
            out[f"Cluster.lookup_many[{form}, {levels}]"] = (
                "lookup",
                lambda h=h, c=cluster: c.lookup_many(h, out=d.out32),
            )
    return out


def median_ns(fn: Callable[[], object], n: int, rounds: int = 9) -> float:
    """The median wall time of *fn* in ns per key of *n* (one warm-up call first)."""
    fn()
    times = []
    for _ in range(rounds):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times) * 1e9 / n


def _two_threads(fn: Callable[[int, int], object], n: int) -> Callable[[], None]:
    """Run ``fn(lo, hi)`` on two halves of *n* rows in two threads."""

    def run() -> None:
        ts = [
            threading.Thread(target=fn, args=(0, n // 2)),
            threading.Thread(target=fn, args=(n // 2, n)),
        ]
        for t in ts:
            t.start()
        for t in ts:
            t.join()

    return run


def thread_speedups(
    c_loop: Callable[[int, int], object],
    name: str,
    fn: Callable[[int, int], object],
    n: int,
    rounds: int = 31,
) -> dict[str, float]:
    """The speed-up of two threads on two chunks of *n* rows over one thread, C's and *fn*'s.

    Every round times the C loop on one thread and on two, then *fn* on one
    and on two, back to back: the load of the shared machine drifts between
    rounds, much less within one.  Each speed-up (keys ``"C loop"`` and
    *name*) is the median over rounds of (one thread's time / two threads'
    time); ``"share"`` is the median over rounds of *fn*'s speed-up over the
    C loop's in the same round.
    """
    runs = [(lambda f=f: f(0, n), _two_threads(f, n)) for f in (c_loop, fn)]
    for one, two in runs:  # warm up
        one()
        two()
    speedups: list[list[float]] = [[], []]
    for _ in range(rounds):
        for k, (one, two) in enumerate(runs):
            t0 = time.perf_counter()
            one()
            t1 = time.perf_counter()
            two()
            speedups[k].append((t1 - t0) / (time.perf_counter() - t1))
    out = {key: statistics.median(s) for key, s in zip(("C loop", name), speedups, strict=True)}
    out["share"] = statistics.median(h / c for c, h in zip(*speedups, strict=True))
    return out


def two_thread_speedups(lim: Any, d: Data) -> dict[str, float]:
    """:func:`thread_speedups` of ``Maglev.pick_many`` over an Arrow string column."""

    def c_pick(lo: int, hi: int) -> None:
        lim.pick(d.data, d.offsets[lo : hi + 1], d.table, d.out32[lo:hi])

    def hashlb_pick(lo: int, hi: int) -> None:
        d.maglev.pick_many(d.arrow.slice(lo, hi - lo), out=d.out32[lo:hi])

    return thread_speedups(c_pick, "Maglev.pick_many[arrow string]", hashlb_pick, d.n)


# ---------------------------------------------------------------- pytest-benchmark


def _disabled(request: pytest.FixtureRequest) -> bool:
    return bool(request.config.getoption("benchmark_disable", False))


@pytest.fixture(scope="module")
def data(request: pytest.FixtureRequest) -> Data:
    """The columns: 10**6 keys, or SMOKE_N in a smoke run (--benchmark-disable)."""
    return Data(SMOKE_N if _disabled(request) else N)


@pytest.fixture(scope="module")
def limit(data: Data, request: pytest.FixtureRequest) -> dict[str, float]:
    """The median ns/key of every C limit (run once only under --benchmark-disable)."""
    lim = load()
    if lim is None:
        pytest.skip("the C limit helper cannot be built here (no Cython / compiler)")
    rounds = 1 if _disabled(request) else 9
    return {k: median_ns(f, data.n, rounds) for k, f in limits(lim, data).items()}


def _case_names() -> list[str]:
    """The names :func:`cases` gives (the parameters, known before any data is built)."""
    forms = ["arrow string", "arrow large_string", "arrow string_view", "numpy S16"]
    forms += ["numpy U16", "list[str]"]
    names = [f"{op}[{f}]" for f in forms for op in ("xxh64_many", "Maglev.pick_many")]
    names += ["xxh64_many[arrow string, out=]", "Maglev.pick_many[arrow string, out=]"]
    for f in ("arrow string", "numpy S16", "list[str]"):
        names += [f"RingHash.pick_many[{f}]", f"RingHash.pick_many[{f}] vs ring"]
    names += [f"Maglev.lookup_many[{f} uint64]" for f in ("numpy", "arrow", "pandas", "polars")]
    names += [
        f"Cluster.lookup_many[{f} uint64, {levels}]"
        for f in ("numpy", "arrow")
        for levels in ("1 level", "2 levels")
    ]
    return names


@pytest.mark.parametrize("name", _case_names())
def test_columns(benchmark: Any, data: Data, limit: dict[str, float], name: str) -> None:
    """One batch call over 10**6 keys; extra_info: ns/key of it and of its limit, and the ratio."""
    table = cases(data)
    if name not in table:
        pytest.skip(f"{name}: its library is not installed")
    which, fn = table[name]
    benchmark.group = f"columns 1e6 keys: {which}"
    benchmark(fn)
    benchmark.extra_info["limit_ns_per_key"] = limit[which]
    stats = getattr(benchmark, "stats", None)
    if stats is not None:
        ns = stats.stats.median * 1e9 / data.n
        benchmark.extra_info["ns_per_key"] = ns
        benchmark.extra_info["ratio"] = ns / limit[which]


def test_two_threads(benchmark: Any, data: Data, request: pytest.FixtureRequest) -> None:
    """Two threads on two chunks: extra_info has both speed-ups and their ratio."""
    lim = load()
    if lim is None:
        pytest.skip("the C limit helper cannot be built here (no Cython / compiler)")

    def hashlb_pick(lo: int, hi: int) -> None:
        data.maglev.pick_many(data.arrow.slice(lo, hi - lo), out=data.out32[lo:hi])

    benchmark.group = "columns 1e6 keys: two threads"
    benchmark(_two_threads(hashlb_pick, data.n))
    if not _disabled(request):
        speed = two_thread_speedups(lim, data)
        benchmark.extra_info["share_of_c_speedup"] = speed.pop("share")
        benchmark.extra_info.update(speed)


def paired_ns(
    fn: Callable[[], object], base: Callable[[], object], n: int, rounds: int = 15
) -> tuple[float, float, float]:
    """Medians of *fn* and *base* in ns/key, and the median of their ratio round by round.

    The two run in alternate rounds and the ratio is taken within each round:
    the machine is shared, its load drifts between rounds, not within one.
    """
    fn()
    base()
    a, b = [], []
    for _ in range(rounds):
        for f, acc in ((fn, a), (base, b)):
            t0 = time.perf_counter()
            f()
            acc.append(time.perf_counter() - t0)
    ratio = statistics.median(x / y for x, y in zip(a, b, strict=True))
    return statistics.median(a) * 1e9 / n, statistics.median(b) * 1e9 / n, ratio


def main() -> None:
    """Print every median and ratio, each case measured in rounds alternating with its limit."""
    lim = load()
    if lim is None:
        raise SystemExit("the C limit helper cannot be built here")
    d = Data()
    base = limits(lim, d)
    for name, (which, fn) in cases(d).items():
        ns, ref, ratio = paired_ns(fn, base[which], d.n)
        print(f"{name:45s} {ns:7.2f} ns/key  {ratio:5.2f}x the {which} limit ({ref:.2f})")
    # The memory floor of the numpy U16 rows: a C loop that only reads their buffer
    # (64 bytes a key, against the Arrow column's 20).
    u16 = d.forms["numpy U16"].view(np.uint8)
    ns, ref, ratio = paired_ns(lambda: lim.read(u16), base["hash"], d.n)
    name = "C loop reading the numpy U16 buffer"
    print(f"{name:45s} {ns:7.2f} ns/key  {ratio:5.2f}x the hash limit")
    speed = two_thread_speedups(lim, d)
    share = speed.pop("share")
    for name, s in speed.items():
        print(f"two threads, {name:32s} speed-up {s:.2f}x")
    print(f"two threads: hashlb gets {share:.0%} of the C loop's speed-up (median of rounds)")


if __name__ == "__main__":
    main()
