"""Bounded load over a Cluster (#12): one bounded table per priority, requests counted per host.

Envoy wraps each priority's ring or Maglev table in its own bounded-load
balancer (``ThreadAwareLoadBalancerBase::refresh``), and the load it reads is
per host (``rq_active``) against the cluster-wide total (``upstream_rq_active``,
every priority).  ``BoundedLoad(cluster, ...)`` does the same, on both twins.
"""

from __future__ import annotations

import pickle
from typing import Any

import numpy as np
import pytest

from hashlb import Cluster, ConfigError, Host, Router
from hashlb.cluster import NO_HOST

from ._impl import Implementation


def _cluster(impl: Implementation, hosts: list[Host], **options: Any) -> Cluster:
    return Cluster(hosts, balancer=impl.Maglev, table_size=31, **options)


def _two_levels(p0_health: list[str], p1: int = 3) -> list[Host]:
    hosts = [Host(f"10.0.0.{i}:80", health=h) for i, h in enumerate(p0_health)]
    return hosts + [Host(f"10.0.1.{i}:80", priority=1) for i in range(p1)]


def test_each_level_is_bounded_load_over_its_table_with_the_cluster_total(
    impl: Implementation,
) -> None:
    """Level p's pick is BoundedLoad(p's table) with that table's counts and total = all hosts'."""
    hosts = _two_levels(["unhealthy", "healthy", "healthy", "degraded", "healthy"], p1=4)
    cluster = _cluster(impl, hosts)
    assert cluster.priority_load[0] == (84, 16)  # both levels take load
    bl = impl.BoundedLoad(cluster, hash_balance_factor=110)
    per_level = [impl.BoundedLoad(lv.table, hash_balance_factor=110) for lv in cluster.priorities]
    active = [0, 7, 1, 3, 0, 9, 0, 2, 5]
    moved = 0
    for h in range(0, 2**64, 2**57 + 12345):
        p = cluster.choose_priority(h)[0]
        table = cluster.priorities[p].table
        counts = [active[hosts.index(t)] for t in table.hosts]
        for attempt in (0, 1):
            want = per_level[p].lookup(h, counts, attempt, total=sum(active))
            assert bl.lookup(h, active, attempt) is want
            moved += want is not cluster.lookup(h, attempt)
    assert moved  # some picks were moved off an overloaded first choice


def test_counts_are_per_host_across_priorities(impl: Implementation) -> None:
    """acquire counts on the host picked in any level; every level's bound reads the total."""
    hosts = _two_levels(["unhealthy", "unhealthy", "healthy", "healthy", "healthy"], p1=3)
    cluster = _cluster(impl, hosts)
    bl = impl.BoundedLoad(cluster, hash_balance_factor=100)
    leases = [bl.acquire(h) for h in range(300)]
    assert sum(bl.active) == 300 and len(bl.active) == len(hosts)
    assert bl.active[0] == bl.active[1] == 0  # unhealthy, out of the tables
    picked = {lease.host.priority for lease in leases}
    assert picked == {0, 1}
    for lease in leases:
        assert lease.host in cluster.priorities[lease.host.priority].table.hosts
    # within a level the bound spreads the load: no host holds more than its cap
    for level in cluster.priorities:
        table = level.table
        for i, w in zip(table.normalized_order, table.normalized_weights, strict=True):
            cap = -(-((300 + 1) * 100 + 99) // 100 * w // 1)
            assert bl.active[hosts.index(table.hosts[i])] <= cap
    for lease in leases:
        lease.release()
    assert bl.active == (0,) * len(hosts)


def test_the_total_of_other_levels_loosens_a_levels_bound(impl: Implementation) -> None:
    """Envoy's total is cluster-wide: requests in flight on P1 raise P0's caps."""
    hosts = _two_levels(["healthy", "healthy", "unhealthy", "unhealthy"], p1=2)
    cluster = _cluster(impl, hosts)
    bl = impl.BoundedLoad(cluster, hash_balance_factor=100)
    h = next(h for h in range(1000) if cluster.choose_priority(h)[0] == 0)
    first = cluster.lookup(h)
    i = hosts.index(first)
    active = [0] * len(hosts)
    active[i] = 5  # alone, 5 of 5 in flight: over its cap of 3
    assert bl.lookup(h, active) is not first
    active[4] = active[5] = 20  # P1 busy: P0's caps grow to 23
    assert bl.lookup(h, active) is first


def test_health_change_moves_only_onto_healthy_hosts(impl: Implementation) -> None:
    """Outside panic an unhealthy host is never picked, however loaded the others are."""
    hosts = [Host(f"10.0.0.{i}:80") for i in range(6)]
    cluster = _cluster(impl, hosts).with_health({"10.0.0.1:80": "unhealthy"})
    assert not cluster.in_panic(0)
    bl = impl.BoundedLoad(cluster, hash_balance_factor=100)
    active = [50, 0, 50, 50, 50, 50]  # the idle host is the unhealthy one
    for h in range(0, 2**64, 2**58 + 1):
        got = bl.lookup(h, active)
        assert got is not None and got.health == "healthy"
    sick = cluster.hosts[1]
    with pytest.raises(ValueError, match="no request in flight"):
        bl.release(sick)
    with pytest.raises(ValueError, match="not in this table"):
        bl.release(Host("10.9.9.9:80"))


def test_panic_spreads_bounded_load_over_every_host_of_the_level(impl: Implementation) -> None:
    """In panic the level's table holds all its hosts, and bounded load may pick unhealthy ones."""
    hosts = [Host(f"10.0.0.{i}:80", health="healthy" if i < 2 else "unhealthy") for i in range(6)]
    cluster = _cluster(impl, hosts)
    assert cluster.in_panic(0)
    bl = impl.BoundedLoad(cluster, hash_balance_factor=100)
    for h in range(120):
        bl.acquire(h)
    assert all(a > 0 for a in bl.active)  # all six, the unhealthy four included
    assert max(bl.active) <= 21  # cap: ceil(121 / 6)
    calm = impl.BoundedLoad(
        _cluster(impl, hosts, healthy_panic_threshold=0), hash_balance_factor=100
    )
    for h in range(120):
        calm.acquire(h)
    assert calm.active[2:] == (0, 0, 0, 0) and sum(calm.active) == 120


def test_no_host_in_the_chosen_level(impl: Implementation) -> None:
    """A level reached through degraded load has no healthy host: None, and nothing is counted."""
    hosts = [Host("10.0.0.0:80")] + [Host(f"10.0.0.{i}:80", health="unhealthy") for i in (1, 2)]
    hosts += [Host(f"10.0.1.{i}:80", priority=1, health="degraded") for i in range(3)]
    cluster = _cluster(impl, hosts, healthy_panic_threshold=0)
    bl = impl.BoundedLoad(cluster, hash_balance_factor=150)
    h = next(h for h in range(100) if cluster.choose_priority(h) == (1, "degraded"))
    assert cluster.lookup(h) is None
    assert bl.lookup(h, [0] * len(hosts)) is None
    lease = bl.acquire(h)
    assert lease.host is None and sum(bl.active) == 0
    lease.release()  # a no-host lease releases nothing


def test_wrapper_checks_and_describes_itself(impl: Implementation) -> None:
    """active aligns with cluster.hosts; lb is the cluster; the repr names it; pickling works."""
    hosts = _two_levels(["healthy", "unhealthy"], p1=2)
    cluster = _cluster(impl, hosts)
    bl = impl.BoundedLoad(cluster, hash_balance_factor=125)
    assert bl.lb is cluster and bl.hash_balance_factor == 125
    assert bl.active == (0, 0, 0, 0) and "Cluster" in repr(bl)
    with pytest.raises(ValueError, match=r"one count per host \(4\)"):
        bl.lookup(1, [0, 0])
    assert pickle.loads(pickle.dumps(cluster)).lookup(7) == cluster.lookup(7)


def test_a_level_table_that_is_not_a_table_is_refused(impl: Implementation) -> None:
    """A cluster over a custom balancer whose tables lack normalized weights: a TypeError."""

    class Bare:
        def __init__(self, hosts: list[Host]) -> None:
            self.hosts = tuple(hosts)

        def lookup(self, hash: int, attempt: int = 0) -> Host | None:
            return self.hosts[hash % len(self.hosts)] if self.hosts else None

    cluster = Cluster([Host("10.0.0.1:80")], balancer=Bare)
    with pytest.raises(TypeError, match=r"lb\.priorities\[0\]\.table must be a hashlb table"):
        impl.BoundedLoad(cluster, hash_balance_factor=150)


# ---- the Router: bounded load in a subset with health or priorities ---------------

SUBSETS = {"v1": {"v": "v1"}, "v2": {"v": "v2"}}


def _router(impl: Implementation, mode: str = "sticky", **options: Any) -> Router:
    hosts = [
        Host(f"10.1.0.{i}:80", labels={"v": "v1"}, health="unhealthy" if i < 2 else "healthy")
        for i in range(6)
    ]
    hosts += [Host(f"10.1.1.{i}:80", labels={"v": "v1"}, priority=1) for i in range(2)]
    hosts += [Host(f"10.2.0.{i}:80", labels={"v": "v2"}) for i in range(3)]
    return Router(
        hosts,
        subsets=SUBSETS,
        weights=impl.WeightedSubsetPicker({"v1": 70, "v2": 30}, mode=mode),
        policy=None,
        balancer=impl.Maglev,
        balancer_options={"table_size": 101},
        mode=mode,
        **options,
    )


@pytest.mark.parametrize("mode", ["sticky", "envoy"])
def test_router_bounded_load_with_health_and_priorities(impl: Implementation, mode: str) -> None:
    """hash_balance_factor now works on a subset that is a Cluster, in both modes."""
    router = _router(impl, mode, hash_balance_factor=100)
    cluster = router.tables["v1"]
    assert isinstance(cluster, Cluster) and cluster.priority_load[0] == (93, 7)
    bl = router.bounded_loads["v1"]
    assert bl.lb is cluster
    leases = [router.acquire_hash(h, h) for h in range(0, 2**64, 2**55 + 17)]
    v1 = [lease for lease in leases if lease.route.subset == "v1"]
    assert v1 and sum(bl.active) == len(v1)
    assert all(lease.route.host.health == "healthy" for lease in v1)
    assert bl.active[0] == bl.active[1] == 0
    # the route (and route_many) peek at the same rule with the counts in flight
    for h in range(0, 2**64, 2**58 + 5):
        route = router.route_hash(h, h)
        if route.subset == "v1":
            assert route.host is bl.lookup(route.lookup_hash, bl.active)
    hashes = np.arange(0, 2**64 - 2**58, 2**58 + 5, dtype=np.uint64)
    batch = router.route_many(hashes, values=None if mode == "sticky" else hashes)
    subsets, idx = batch.subset, batch.host
    for h, s, i in zip(hashes.tolist(), subsets, idx, strict=True):
        route = router.route_hash(h, h)
        assert router.picker.names[s] == route.subset
        assert router.hosts[i] == route.host
    for lease in leases:
        lease.release()
    assert sum(bl.active) == 0


def test_router_route_many_gives_no_host_under_load(impl: Implementation) -> None:
    """With requests in flight, a level without a host still comes back as NO_HOST."""
    hosts = [Host("10.1.0.0:80", labels={"v": "v1"})]
    hosts += [Host(f"10.1.0.{i}:80", labels={"v": "v1"}, health="unhealthy") for i in (1, 2)]
    hosts += [
        Host(f"10.1.1.{i}:80", labels={"v": "v1"}, priority=1, health="degraded") for i in range(3)
    ]
    router = Router(
        hosts,
        subsets={"v1": {"v": "v1"}},
        weights=impl.WeightedSubsetPicker({"v1": 1}),
        policy=None,
        balancer=impl.Maglev,
        balancer_options={"table_size": 31},
        hash_balance_factor=150,
        cluster_options={"healthy_panic_threshold": 0},
    )
    held = router.acquire_hash(0)
    assert held.route.host is not None and sum(router.bounded_loads["v1"].active) == 1
    hashes = np.arange(200, dtype=np.uint64)
    idx = router.route_many(hashes).host
    for h, i in zip(hashes.tolist(), idx, strict=True):
        route = router.route_hash(h)
        assert (i == NO_HOST) == (route.host is None)
    assert (idx == NO_HOST).any()
    held.release()


def test_router_bad_factor_is_still_refused(impl: Implementation) -> None:
    """The factor's own range check is unchanged."""
    with pytest.raises(ConfigError, match="hash_balance_factor must be in"):
        _router(impl, hash_balance_factor=99)


def test_a_cluster_subclass_cannot_steer_the_wrapper_out_of_range(impl: Implementation) -> None:
    """A subclass whose choose_priority names a missing level is refused, on both twins."""

    class Liar(Cluster):
        def choose_priority(self, hash: int) -> tuple[int, str]:
            return (7, "healthy")

    class Floaty(Cluster):
        def choose_priority(self, hash: int) -> tuple[int, str]:
            return (0.0, "healthy")  # type: ignore[return-value]

    for cls in (Liar, Floaty):
        cluster = cls([Host("10.0.0.1:80")], balancer=impl.Maglev, table_size=7)
        with pytest.raises(ValueError, match=r"not one of lb\.priorities"):
            impl.BoundedLoad(cluster, hash_balance_factor=150)


def test_a_cluster_subclass_cannot_hand_levels_beyond_its_hosts(impl: Implementation) -> None:
    """A subclass with no hosts whose level table holds 64 is refused before any count exists
    (the compiled twin used to write past its per-host arrays)."""
    from hashlb.cluster import PriorityLevel

    hosts = tuple(Host(f"10.0.0.{i}:80") for i in range(64))
    table = impl.RingHash(hosts, min_ring_size=64)

    class Hollow(Cluster):
        @property
        def priorities(self) -> tuple[PriorityLevel, ...]:
            return (PriorityLevel(0, hosts, hosts, (), (), False, table),)

    with pytest.raises(ValueError, match=r"lb\.priorities\[0\]\.table holds a host that is not in"):
        impl.BoundedLoad(Hollow([]), hash_balance_factor=150)


def test_a_table_returning_a_foreign_host_is_a_value_error(impl: Implementation) -> None:
    """lookup must return one of lb.hosts: both twins raise the same ValueError."""
    real = impl.Maglev([Host("10.0.0.1:80"), Host("10.0.0.2:80")], table_size=7)

    class Stranger:
        hosts = real.hosts
        normalized_order = real.normalized_order
        normalized_weights = real.normalized_weights

        def lookup(self, hash: int, attempt: int = 0) -> Host:
            return Host("10.9.9.9:80")

    bl = impl.BoundedLoad(Stranger(), hash_balance_factor=150)
    with pytest.raises(ValueError, match=r"not one of lb\.hosts"):
        bl.lookup(1, [0, 0])
    with pytest.raises(ValueError, match=r"not one of lb\.hosts"):
        bl.acquire(1)
    assert bl.active == (0, 0)
