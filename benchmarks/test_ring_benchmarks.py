"""RingHash: pick, lookups and builds, with their baselines in the same groups.

Targets (issue 3), medians from one run:

* ``RingHash.pick(str)``, 1000 hosts, default ring: <= 1.3x
  ``xxhash.xxh64_intdigest(s.encode())`` (group "ring pick str");
* ``RingHash.lookup_many`` on a ring of ~1M entries: <= 40 ns/key (group
  "ring lookup_many 1M entries"; ``numpy.searchsorted`` on the same sorted
  hashes is the plain binary search, in the same group);
* build, 500 hosts x 256000 entries: <= 20 ms (Envoy: 43 ms).

Per-call figures: each round of a ``x1000`` benchmark makes 1,000 calls, so
median / 1000 is the cost per call (loop overhead included on both sides);
batch benchmarks divide the median by the batch size.  Build benchmarks
record ``nbytes`` per entry in ``extra_info``.  Run::

    pytest benchmarks/test_ring_benchmarks.py --benchmark-group-by=group
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
import xxhash

from hashlb import Host, RingHash
from tests._impl import Implementation

KEYS_16B = [f"user-{i:011d}" for i in range(1000)]
assert all(len(k) == 16 for k in KEYS_16B)
HASHES_1M = np.random.default_rng(2024).integers(0, 2**64, size=1_000_000, dtype=np.uint64)
KEYS_100K = [f"session-{i:08d}" for i in range(100_000)]


def envoy_hosts(n: int) -> list[Host]:
    """Return Envoy's benchmark hosts ``10.0.{i/256}.{i%256}:6379`` (spec §12)."""
    return [Host(f"10.0.{i // 256}.{i % 256}:6379") for i in range(n)]


HOSTS_500 = envoy_hosts(500)
HOSTS_1000 = envoy_hosts(1000)
_RINGS: dict[tuple[str, str], Any] = {}


def _ring(impl: Implementation, name: str) -> Any:
    """Build (once per twin) the named ring used by the lookup benchmarks."""
    if (impl.tag, name) not in _RINGS:
        if name == "default-1000":
            lb = impl.RingHash(HOSTS_1000)  # 2000 entries
        else:  # "1m": 1000 hosts x 1049 entries = 1,049,000
            lb = impl.RingHash(HOSTS_1000, min_ring_size=2**20)
        _RINGS[impl.tag, name] = lb
    return _RINGS[impl.tag, name]


# -- pick(str) against the hashing floor -------------------------------------------------------


@pytest.mark.benchmark(group="ring pick str, 1000 hosts, default ring (x1000)")
def test_ring_pick_str_1000_hosts(benchmark, impl: Implementation) -> None:  # type: ignore[no-untyped-def]
    pick = _ring(impl, "default-1000").pick
    keys = KEYS_16B

    def run() -> None:
        for k in keys:
            pick(k)

    benchmark(run)


@pytest.mark.benchmark(group="ring pick str, 1000 hosts, default ring (x1000)")
def test_ring_pick_baseline_xxhash_encode(benchmark) -> None:  # type: ignore[no-untyped-def]
    f = xxhash.xxh64_intdigest
    keys = KEYS_16B

    def run() -> None:
        for k in keys:
            f(k.encode())

    benchmark(run)


@pytest.mark.benchmark(group="ring lookup int, 1000 hosts, default ring (x1000)")
def test_ring_lookup_int_1000_hosts(benchmark, impl: Implementation) -> None:  # type: ignore[no-untyped-def]
    lookup = _ring(impl, "default-1000").lookup
    hashes = [int(h) for h in HASHES_1M[:1000]]

    def run() -> None:
        for h in hashes:
            lookup(h)

    benchmark(run)


# -- batch lookups on a ~1M-entry ring --------------------------------------------------------


@pytest.mark.benchmark(group="ring lookup_many, 1M entries (x1M keys)")
def test_ring_lookup_many_1m_entries(benchmark, impl: Implementation) -> None:  # type: ignore[no-untyped-def]
    lb = _ring(impl, "1m")
    if impl.is_pure_python:  # bisect in Python: correct, not fast; time it once
        benchmark.pedantic(lb.lookup_many, args=(HASHES_1M[:100_000],), rounds=1)
    else:
        benchmark(lb.lookup_many, HASHES_1M)
    benchmark.extra_info["ring_entries"] = len(lb)


@pytest.mark.benchmark(group="ring lookup_many, 1M entries (x1M keys)")
def test_ring_lookup_many_baseline_searchsorted(benchmark) -> None:  # type: ignore[no-untyped-def]
    lb = RingHash(HOSTS_1000, min_ring_size=2**20)  # the active twin; the same ring
    ring = np.array([h for h, _ in lb.ring], dtype=np.uint64)
    benchmark(np.searchsorted, ring, HASHES_1M)


@pytest.mark.benchmark(group="ring pick_many, 1000 hosts, default ring (x100k keys)")
def test_ring_pick_many_1000_hosts(benchmark, impl: Implementation) -> None:  # type: ignore[no-untyped-def]
    benchmark(_ring(impl, "default-1000").pick_many, KEYS_100K)


# -- builds ------------------------------------------------------------------------------------


def _build(benchmark, impl: Implementation, hosts: list[Host], **kw: Any) -> None:  # type: ignore[no-untyped-def]
    """Time RingHash(hosts, **kw); the pure twin is timed in a few rounds only."""
    if impl.is_pure_python:
        lb = benchmark.pedantic(impl.RingHash, args=(hosts,), kwargs=kw, rounds=2)
    else:
        lb = benchmark(impl.RingHash, hosts, **kw)
    benchmark.extra_info["ring_entries"] = len(lb)
    benchmark.extra_info["nbytes_per_entry"] = round(lb.nbytes / max(len(lb), 1), 3)


@pytest.mark.benchmark(group="ring build, 500 hosts x 256000")
def test_ring_build_500_hosts_256000(benchmark, impl: Implementation) -> None:  # type: ignore[no-untyped-def]
    _build(benchmark, impl, HOSTS_500, min_ring_size=256000)


@pytest.mark.benchmark(group="ring build, 500 hosts x 65536")
def test_ring_build_500_hosts_65536(benchmark, impl: Implementation) -> None:  # type: ignore[no-untyped-def]
    _build(benchmark, impl, HOSTS_500, min_ring_size=65536)


@pytest.mark.benchmark(group="ring build, 100 hosts x 65536")
def test_ring_build_100_hosts_65536(benchmark, impl: Implementation) -> None:  # type: ignore[no-untyped-def]
    _build(benchmark, impl, HOSTS_1000[:100], min_ring_size=65536)


@pytest.mark.benchmark(group="ring build, 1000 hosts, default ring")
def test_ring_build_1000_hosts_default(benchmark, impl: Implementation) -> None:  # type: ignore[no-untyped-def]
    _build(benchmark, impl, HOSTS_1000)
