"""Maglev and bounded load: pick, batch lookups, build (issue 3 targets).

Targets, medians from one run:

* ``Maglev.pick(str)`` at 10 and 1,000 hosts <= 1.0x the
  ``xxhash.xxh64_intdigest(s.encode())`` baseline in the same group (each
  round is 1,000 calls, so median / 1,000 = ns per call, loop included);
* ``Maglev.lookup_many`` on 2M pre-hashed keys <= 2 ns/key;
* ``Maglev.pick_many(list[str])`` <= 20 ns/key (100,000 keys per round);
* build, 1,000 hosts, M = 65,537 <= 2 ms;
* build with skewed weights (all weight 1 but one host holding the rest of
  the uint32 budget, the shape of maglev_weight_dos.py) <= 5x the build
  with equal weights, in each twin: compare ``skewed`` with ``equal`` in the
  groups ``maglev build equal vs skewed ...`` (1,000 hosts at M = 65,537
  and 4,000 hosts at M = 655,373);
* memory <= 2 bytes/slot below 65,536 hosts (``extra_info``; asserted in
  tests/test_maglev.py).

Hosts and keys follow Envoy's benchmarks (spec §12): hosts
``10.0.{i/256}.{i%256}:6379``, weight 1.  Run::

    pytest benchmarks/test_maglev_benchmarks.py --benchmark-group-by=group
"""

from __future__ import annotations

import numpy as np
import pytest
import xxhash

from hashlb import Host
from tests._impl import Implementation

HOSTS_10 = [Host(f"10.0.{i // 256}.{i % 256}:6379") for i in range(10)]
HOSTS_100 = [Host(f"10.0.{i // 256}.{i % 256}:6379") for i in range(100)]
HOSTS_1000 = [Host(f"10.0.{i // 256}.{i % 256}:6379") for i in range(1000)]
HOSTS_4000 = [Host(f"10.0.{i // 256}.{i % 256}:6379") for i in range(4000)]
KEYS_1K = [f"user-{i:011d}" for i in range(1000)]
KEYS_100K = [f"session-{i:08d}" for i in range(100_000)]
HASHES_2M = np.random.default_rng(12).integers(0, 2**64 - 1, size=2_000_000, dtype=np.uint64)


def _pick_all(fn, keys):  # type: ignore[no-untyped-def]
    """Return a closure that picks every key once."""

    def run() -> None:
        for k in keys:
            fn(k)

    return run


def _baseline(keys):  # type: ignore[no-untyped-def]
    """Return the floor: xxhash.xxh64_intdigest(s.encode()) over every key."""
    f = xxhash.xxh64_intdigest

    def run() -> None:
        for k in keys:
            f(k.encode())

    return run


# ---- pick(str) vs the xxhash floor ---------------------------------------------


@pytest.mark.benchmark(group="maglev pick str 10 hosts x1000")
def test_maglev_pick_str_10_hosts(benchmark, impl: Implementation) -> None:  # type: ignore[no-untyped-def]
    lb = impl.Maglev(HOSTS_10)
    benchmark(_pick_all(lb.pick, KEYS_1K))


@pytest.mark.benchmark(group="maglev pick str 10 hosts x1000")
def test_xxhash_encode_floor_for_10_hosts(benchmark) -> None:  # type: ignore[no-untyped-def]
    benchmark(_baseline(KEYS_1K))


@pytest.mark.benchmark(group="maglev pick str 1000 hosts x1000")
def test_maglev_pick_str_1000_hosts(benchmark, impl: Implementation) -> None:  # type: ignore[no-untyped-def]
    lb = impl.Maglev(HOSTS_1000)
    benchmark(_pick_all(lb.pick, KEYS_1K))


@pytest.mark.benchmark(group="maglev pick str 1000 hosts x1000")
def test_xxhash_encode_floor_for_1000_hosts(benchmark) -> None:  # type: ignore[no-untyped-def]
    benchmark(_baseline(KEYS_1K))


@pytest.mark.benchmark(group="maglev lookup int 1000 hosts x1000")
def test_maglev_lookup_int_1000_hosts(benchmark, impl: Implementation) -> None:  # type: ignore[no-untyped-def]
    lb = impl.Maglev(HOSTS_1000)
    hashes = [int(h) for h in HASHES_2M[:1000]]
    benchmark(_pick_all(lb.lookup, hashes))


# ---- batch calls ------------------------------------------------------------------


@pytest.mark.benchmark(group="maglev lookup_many 2M")
def test_maglev_lookup_many_2m_keys(benchmark, impl: Implementation) -> None:  # type: ignore[no-untyped-def]
    lb = impl.Maglev(HOSTS_1000)
    benchmark.extra_info["keys"] = len(HASHES_2M)
    benchmark(lb.lookup_many, HASHES_2M)


@pytest.mark.benchmark(group="maglev lookup_many 2M")
def test_numpy_modulo_floor_2m_keys(benchmark) -> None:  # type: ignore[no-untyped-def]
    """numpy's ``table[h % M]``: a vectorized floor for lookup_many."""
    table = np.asarray(_TABLE_1000)
    m = np.uint64(65537)
    benchmark(lambda: table[HASHES_2M % m])


@pytest.mark.benchmark(group="maglev pick_many 100k str")
def test_maglev_pick_many_100k_str(benchmark, impl: Implementation) -> None:  # type: ignore[no-untyped-def]
    lb = impl.Maglev(HOSTS_1000)
    benchmark.extra_info["keys"] = len(KEYS_100K)
    benchmark(lb.pick_many, KEYS_100K)


# ---- build -------------------------------------------------------------------------


@pytest.mark.benchmark(group="maglev build 1000 hosts M=65537")
def test_maglev_build_1000_hosts(benchmark, impl: Implementation) -> None:  # type: ignore[no-untyped-def]
    lb = benchmark(impl.Maglev, HOSTS_1000, table_size=65537)
    benchmark.extra_info["bytes_per_slot"] = lb.nbytes / lb.table_size


@pytest.mark.benchmark(group="maglev build 100 hosts M=65537")
def test_maglev_build_100_hosts(benchmark, impl: Implementation) -> None:  # type: ignore[no-untyped-def]
    benchmark(impl.Maglev, HOSTS_100, table_size=65537)


def _skewed(hosts: list[Host]) -> list[Host]:
    """Return *hosts* at weight 1 but the last, which holds the rest of 2**32 - 1."""
    heavy = Host(hosts[-1].address, 2**32 - 1 - (len(hosts) - 1))
    return [*hosts[:-1], heavy]


@pytest.mark.benchmark(group="maglev build equal vs skewed 1000 hosts M=65537")
@pytest.mark.parametrize("weights", ["equal", "skewed"])
def test_maglev_build_weights_1000_hosts(benchmark, impl: Implementation, weights: str) -> None:  # type: ignore[no-untyped-def]
    hosts = HOSTS_1000 if weights == "equal" else _skewed(HOSTS_1000)
    lb = benchmark(impl.Maglev, hosts, table_size=65537)
    benchmark.extra_info["max_entries_per_host"] = lb.max_entries_per_host


@pytest.mark.benchmark(group="maglev build equal vs skewed 4000 hosts M=655373")
@pytest.mark.parametrize("weights", ["equal", "skewed"])
def test_maglev_build_weights_4000_hosts(benchmark, impl: Implementation, weights: str) -> None:  # type: ignore[no-untyped-def]
    hosts = HOSTS_4000 if weights == "equal" else _skewed(HOSTS_4000)
    lb = benchmark(impl.Maglev, hosts, table_size=655373)
    benchmark.extra_info["max_entries_per_host"] = lb.max_entries_per_host


# ---- bounded load -------------------------------------------------------------------


@pytest.mark.benchmark(group="bounded load lookup 100 hosts x100")
def test_bounded_lookup_overloaded_100_hosts(benchmark, impl: Implementation) -> None:  # type: ignore[no-untyped-def]
    """Every first choice is overloaded: each lookup seeds mt19937 and probes."""
    lb = impl.Maglev(HOSTS_100, table_size=6007)
    bl = impl.BoundedLoad(lb, hash_balance_factor=150)
    active = [20] * 50 + [0] * 50
    hashes = [int(h) for h in HASHES_2M[:2000]]
    first = [h for h in hashes if HOSTS_100.index(lb.lookup(h)) < 50][:100]

    def run() -> None:
        for h in first:
            bl.lookup(h, active)

    benchmark(run)


def _table_1000() -> list[int]:
    """Return the 1,000-host table (for the numpy floor)."""
    from hashlb import Maglev

    return list(Maglev(HOSTS_1000).table)


_TABLE_1000 = _table_1000()
