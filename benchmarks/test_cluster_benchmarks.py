"""Clusters: the cost of priorities and health over the table (issue 12 targets).

Targets, medians from one run (each round is 1,000 calls):

* a :class:`~hashlb.Cluster` with one priority and all hosts healthy:
  ``cluster.lookup`` <= 1.15x ``Maglev.lookup`` / ``RingHash.lookup`` on the
  same hashes (group ``cluster lookup ... x1000``), and ``choose_host``
  with ``max_attempts=1`` the same (``cluster choose_host ...``);
* building a cluster of 1,000 hosts in 3 priorities <= 1.2x building its
  three tables alone (group ``cluster build 1000 hosts 3 priorities``).

Bounded load over a cluster (``BoundedLoad(cluster, ...)``) next to bounded
load over the same single table, target <= 1.15x when the cluster has one
healthy priority: ``acquire`` + ``release`` (the proxy's path, first
choices within their caps; group ``bounded acquire ...``) and ``lookup``
with every first choice overloaded (mt19937 and the probe; group
``bounded lookup overloaded ...``).

Also measured: a lookup, and a bounded acquire, on a cluster whose load is
split over two levels.  Run::

    pytest benchmarks/test_cluster_benchmarks.py --benchmark-group-by=group
"""

from __future__ import annotations

import random

import pytest

from hashlb import Cluster, Host
from tests._impl import Implementation

HOSTS_1000 = [Host(f"10.0.{i // 256}.{i % 256}:6379") for i in range(1000)]
HOSTS_3P = [
    Host(
        f"10.1.{i // 256}.{i % 256}:6379",
        priority=i % 3,
        health="unhealthy" if i % 7 == 0 else "healthy",
    )
    for i in range(1000)
]
HASHES = [random.Random(12).getrandbits(64) for _ in range(1000)]
SPLIT = [Host(f"10.2.0.{i}:80", health="unhealthy" if i < 5 else "healthy") for i in range(10)]
SPLIT += [Host(f"10.2.1.{i}:80", priority=1) for i in range(10)]


def _each(fn, values):  # type: ignore[no-untyped-def]
    def run() -> None:
        for v in values:
            fn(v)

    return run


@pytest.mark.parametrize("table", ["Maglev", "RingHash"])
@pytest.mark.benchmark(group="cluster lookup 1 priority 1000 hosts x1000")
def test_table_lookup_1000_hosts(benchmark, impl: Implementation, table: str) -> None:  # type: ignore[no-untyped-def]
    lb = getattr(impl, table)(HOSTS_1000)
    benchmark(_each(lb.lookup, HASHES))


@pytest.mark.parametrize("table", ["Maglev", "RingHash"])
@pytest.mark.benchmark(group="cluster lookup 1 priority 1000 hosts x1000")
def test_cluster_lookup_1000_hosts(benchmark, impl: Implementation, table: str) -> None:  # type: ignore[no-untyped-def]
    cluster = Cluster(HOSTS_1000, balancer=getattr(impl, table))
    benchmark(_each(cluster.lookup, HASHES))


@pytest.mark.parametrize("table", ["Maglev", "RingHash"])
@pytest.mark.benchmark(group="cluster choose_host 1 priority 1000 hosts x1000")
def test_cluster_choose_host_1000_hosts(benchmark, impl: Implementation, table: str) -> None:  # type: ignore[no-untyped-def]
    cluster = Cluster(HOSTS_1000, balancer=getattr(impl, table))
    benchmark(_each(cluster.choose_host, HASHES))


@pytest.mark.parametrize("table", ["Maglev", "RingHash"])
@pytest.mark.benchmark(group="cluster choose_host 1 priority 1000 hosts x1000")
def test_table_lookup_for_choose_host_1000_hosts(
    benchmark, impl: Implementation, table: str
) -> None:  # type: ignore[no-untyped-def]
    lb = getattr(impl, table)(HOSTS_1000)
    benchmark(_each(lb.lookup, HASHES))


@pytest.mark.benchmark(group="cluster lookup split over 2 priorities x1000")
def test_cluster_lookup_split_2_priorities(benchmark, impl: Implementation) -> None:  # type: ignore[no-untyped-def]
    cluster = Cluster(SPLIT, balancer=impl.Maglev)
    assert cluster.priority_load[0] == (70, 30)
    benchmark(_each(cluster.lookup, HASHES))


@pytest.mark.benchmark(group="cluster build 1000 hosts 3 priorities")
def test_cluster_build_1000_hosts_3_priorities(benchmark, impl: Implementation) -> None:  # type: ignore[no-untyped-def]
    benchmark(Cluster, HOSTS_3P, balancer=impl.Maglev)


@pytest.mark.benchmark(group="cluster build 1000 hosts 3 priorities")
def test_tables_build_1000_hosts_3_priorities(benchmark, impl: Implementation) -> None:  # type: ignore[no-untyped-def]
    levels = [[h for h in HOSTS_3P if h.priority == p and h.health == "healthy"] for p in range(3)]

    def build() -> None:
        for hosts in levels:
            impl.Maglev(hosts)

    benchmark(build)


# ---- bounded load over a cluster (#12) ------------------------------------------------


def _acquire_release(bl, values):  # type: ignore[no-untyped-def]
    acquire = bl.acquire

    def run() -> None:
        for v in values:
            acquire(v).release()

    return run


def _bounded(impl: Implementation, over: str, hosts: list[Host], **options: object) -> object:
    """BoundedLoad(150) over the Maglev table of *hosts*, or over a Cluster of them."""
    if over == "table":
        return impl.BoundedLoad(impl.Maglev(hosts, **options), hash_balance_factor=150)
    cluster = Cluster(hosts, balancer=impl.Maglev, **options)
    return impl.BoundedLoad(cluster, hash_balance_factor=150)


@pytest.mark.parametrize("over", ["table", "cluster"])
@pytest.mark.benchmark(group="bounded acquire 1 priority 1000 hosts x1000")
def test_bounded_acquire_release_1000_hosts(benchmark, impl: Implementation, over: str) -> None:  # type: ignore[no-untyped-def]
    benchmark(_acquire_release(_bounded(impl, over, HOSTS_1000), HASHES))


HOSTS_100 = HOSTS_1000[:100]


@pytest.mark.parametrize("over", ["table", "cluster"])
@pytest.mark.benchmark(group="bounded lookup overloaded 1 priority 100 hosts x100")
def test_bounded_lookup_overloaded_100_hosts(benchmark, impl: Implementation, over: str) -> None:  # type: ignore[no-untyped-def]
    """Every first choice is overloaded: each lookup seeds mt19937 and probes."""
    bl = _bounded(impl, over, HOSTS_100, table_size=6007)
    active = [20] * 50 + [0] * 50
    rng = random.Random(7)
    first = []
    while len(first) < 100:
        h = rng.getrandbits(64)
        if HOSTS_100.index(bl.lb.lookup(h)) < 50:  # type: ignore[attr-defined]
            first.append(h)

    def run() -> None:
        for h in first:
            bl.lookup(h, active)  # type: ignore[attr-defined]

    benchmark(run)


@pytest.mark.benchmark(group="bounded acquire split over 2 priorities x1000")
def test_bounded_acquire_release_split_2_priorities(benchmark, impl: Implementation) -> None:  # type: ignore[no-untyped-def]
    cluster = Cluster(SPLIT, balancer=impl.Maglev)
    assert cluster.priority_load[0] == (70, 30)
    benchmark(_acquire_release(impl.BoundedLoad(cluster, hash_balance_factor=150), HASHES))
