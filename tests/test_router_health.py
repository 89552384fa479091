"""A router subset with host health or priorities routes as Envoy's cluster does (spec-2 §14)."""

from __future__ import annotations

import pickle
from typing import Any

import numpy as np
import pytest

from hashlb import Cluster, ConfigError, Host, Router
from hashlb.cluster import NO_HOST

from ._impl import Implementation

SUBSETS = {"v1": {"v": "v1"}, "v2": {"v": "v2"}}


def _hosts(v1_health: list[str], v2: list[Host] | None = None) -> list[Host]:
    hosts = [Host(f"10.1.0.{i}:80", labels={"v": "v1"}, health=h) for i, h in enumerate(v1_health)]
    return hosts + (v2 or [Host(f"10.2.0.{i}:80", labels={"v": "v2"}) for i in range(4)])


def _router(impl: Implementation, hosts: list[Host], **options: Any) -> Router:
    return Router(
        hosts,
        subsets=SUBSETS,
        weights=impl.WeightedSubsetPicker({"v1": 50, "v2": 50}),
        policy=None,
        balancer=impl.Maglev,
        balancer_options={"table_size": 101},
        **options,
    )


def test_unhealthy_hosts_leave_the_subset_table(impl: Implementation) -> None:
    """4 of 10 pods unhealthy (no panic): no route lands on them; the subset is a Cluster."""
    hosts = _hosts(["unhealthy"] * 4 + ["healthy"] * 6)
    router = _router(impl, hosts)
    assert isinstance(router.tables["v1"], Cluster) and isinstance(router.tables["v2"], impl.Maglev)
    cluster = Cluster(hosts[:10], balancer=impl.Maglev, table_size=101)
    for h in range(0, 2**64, 2**56 + 7):
        route = router.route_hash(h)
        if route.subset == "v1":
            assert route.host == cluster.lookup(route.lookup_hash)
            assert route.host.health == "healthy"


def test_panic_spreads_over_every_host(impl: Implementation) -> None:
    """7 of 10 unhealthy (30% < 50%): the subset's table spans all ten, as Envoy's does."""
    router = _router(impl, _hosts(["unhealthy"] * 7 + ["healthy"] * 3))
    assert router.tables["v1"].in_panic(0)
    seen = {router.route_hash(h).host.health for h in range(0, 2**64, 2**54 + 1)}
    assert seen == {"healthy", "unhealthy"}
    calm = _router(
        impl,
        _hosts(["unhealthy"] * 7 + ["healthy"] * 3),
        cluster_options={"healthy_panic_threshold": 0},
    )
    assert {calm.route_hash(h).host.health for h in range(0, 2**64, 2**54 + 1)} == {"healthy"}


def test_no_healthy_host_is_no_host_in_route_and_route_many(impl: Implementation) -> None:
    """A level reached through degraded load has no healthy host: Route.host None, NO_HOST."""
    v1 = ["healthy"] + ["unhealthy"] * 9  # P0 health 14
    v1_hosts = [Host(f"10.1.0.{i}:80", labels={"v": "v1"}, health=h) for i, h in enumerate(v1)]
    v1_hosts += [
        Host(f"10.1.1.{i}:80", labels={"v": "v1"}, priority=1, health="degraded") for i in range(3)
    ]
    router = _router(
        impl, v1_hosts + [Host(f"10.2.0.{i}:80", labels={"v": "v2"}) for i in range(4)]
    )
    cluster = router.tables["v1"]
    assert cluster.priority_load == ((14, 0), (0, 86))
    hashes = [h for h in range(0, 2**64, 2**55 + 3) if router.route_hash(h).subset == "v1"]
    none = [h for h in hashes if router.route_hash(h).host is None]
    assert none and all(cluster.choose_priority(h) == (1, "degraded") for h in none)
    batch = router.route_many(np.array(hashes, dtype=np.uint64))
    subsets, hosts = batch.subset, batch.host
    for h, s, i in zip(hashes, subsets, hosts, strict=True):
        route = router.route_hash(h)
        assert router.picker.names[s] == route.subset
        assert (i == NO_HOST) == (route.host is None)
        if route.host is not None:
            assert router.hosts[i] == route.host


def test_cluster_options_and_errors(impl: Implementation) -> None:
    """Options reach every subset's cluster; bad keys raise; bounded load with health works."""
    healthy = _hosts(["healthy"] * 4)
    router = _router(impl, healthy, cluster_options={"overprovisioning_factor": 100})
    assert all(isinstance(t, Cluster) for t in router.tables.values())
    assert pickle.loads(pickle.dumps(router)).tables["v1"].priority_load == ((100,), (0,))
    with pytest.raises(ConfigError, match="cluster_options has no option 'colour'"):
        _router(impl, healthy, cluster_options={"colour": 1})
    # bounded load with host health works since #12 (tests/test_bounded_cluster.py)
    bounded = _router(impl, _hosts(["unhealthy", "healthy"]), hash_balance_factor=150)
    assert bounded.bounded_loads["v1"].lb is bounded.tables["v1"]
    assert bounded.acquire_hash(5).route.host is not None
    plain = _router(impl, healthy)
    assert all(isinstance(t, impl.Maglev) for t in plain.tables.values())
