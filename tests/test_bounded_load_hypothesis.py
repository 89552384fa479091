"""Bounded-load properties (Hypothesis), on both twins and both engines."""

from __future__ import annotations

import math
from typing import Any

import pytest

pytest.importorskip("hypothesis")

from hypothesis import given, settings
from hypothesis import strategies as st

from hashlb import Cluster, Host

from ._impl import Implementation
from .reference import bounded_cluster_reference, bounded_load_reference
from .strategies import active_counts, cluster_hosts, host_lists, uint64

factors = st.one_of(st.sampled_from([100, 101, 125, 150, 200]), st.integers(100, 2**32 - 1))
#: The draws of a lookup case besides the hosts: table engine, factor, hash, attempt, counts.
LOOKUPS = {
    "engine": st.sampled_from(["maglev", "ring"]),
    "factor": factors,
    "h": uint64,
    "attempt": st.integers(0, 3),
    "data": st.data(),
}


def _table(impl: Implementation, engine: str, hosts: list[Host]) -> object:
    """A small Maglev or ring over *hosts* (small enough for the literal references)."""
    if engine == "maglev":
        return impl.Maglev(hosts, table_size=61)
    return impl.RingHash(hosts, min_ring_size=32, max_ring_size=256)


def _overload(active: int, overall: int, factor: int, w: float) -> float:
    """Envoy's overload factor of one host (spec §6)."""
    total_slots = (((overall % 2**32 + 1) * factor + 99) % 2**32) // 100
    return active / max(math.ceil(total_slots * w) % 2**32, 1)


@settings(max_examples=150)
@given(hosts=host_lists(min_size=1, max_size=10), **LOOKUPS)
def test_agrees_with_reference(
    impl: Implementation,
    hosts: list[Host],
    engine: str,
    factor: int,
    h: int,
    attempt: int,
    data: st.DataObject,
) -> None:
    """Any hosts, loads, factor, hash and attempt: the literal reference picks the same host."""
    lb: Any = _table(impl, engine, hosts)
    active = data.draw(st.lists(st.integers(0, 50), min_size=len(hosts), max_size=len(hosts)))
    got = impl.BoundedLoad(lb, hash_balance_factor=factor).lookup(h, active, attempt)
    first = hosts.index(lb.lookup(h, attempt))
    want = bounded_load_reference(
        first,
        h,
        active,
        list(lb.normalized_order),
        list(lb.normalized_weights),
        factor,
        sum(active),
    )
    assert hosts.index(got) == want


@settings(max_examples=150)
@given(hosts=host_lists(min_size=1, max_size=10), factor=factors, h=uint64, data=st.data())
def test_picks_an_acceptable_host_when_one_exists(
    impl: Implementation, hosts: list[Host], factor: int, h: int, data: st.DataObject
) -> None:
    """The pick is within its cap whenever some host is; else no host is less overloaded."""
    lb = impl.Maglev(hosts, table_size=61)
    active = data.draw(st.lists(st.integers(0, 30), min_size=len(hosts), max_size=len(hosts)))
    overall = sum(active)
    weight = dict(zip(lb.normalized_order, lb.normalized_weights, strict=True))
    load = [_overload(active[i], overall, factor, weight[i]) for i in range(len(hosts))]
    got = hosts.index(impl.BoundedLoad(lb, hash_balance_factor=factor).lookup(h, active))
    if min(load) <= 1.0:
        assert load[got] <= 1.0
    else:
        assert load[got] == min(load)


# ---- bounded load over a Cluster (#12): one bounded table per priority, counts per host


def _cluster(impl: Implementation, hosts: list[Host], engine: str) -> Cluster:
    """A cluster whose levels are :func:`_table` tables."""
    return Cluster(hosts, balancer=lambda level: _table(impl, engine, level))


def _hot_first(cluster: Cluster, h: int, attempt: int, data: st.DataObject) -> list[int]:
    """Draw skewed counts; often make the table's first choice hot, so that probing runs."""
    active = data.draw(active_counts(len(cluster.hosts)))
    first = cluster.lookup(h, attempt)
    if first is not None and data.draw(st.booleans()):
        active[cluster.hosts.index(first)] += data.draw(st.integers(20, 2000))
    return active


@settings(max_examples=150)
@given(hosts=cluster_hosts(max_size=12), **LOOKUPS)
def test_cluster_agrees_with_envoys_rule_built_from_the_hosts(
    impl: Implementation,
    hosts: list[Host],
    engine: str,
    factor: int,
    h: int,
    attempt: int,
    data: st.DataObject,
) -> None:
    """Any priorities, health, loads, factor, hash: the reference model picks the same host.

    The model derives the level (loads, panic) and builds that level's table itself;
    the bound uses the cluster-wide total of requests in flight.
    """
    cluster = _cluster(impl, hosts, engine)
    active = _hot_first(cluster, h, attempt, data)
    got = impl.BoundedLoad(cluster, hash_balance_factor=factor).lookup(h, active, attempt)
    want = bounded_cluster_reference(
        hosts, h, attempt, active, factor, lambda level: _table(impl, engine, level)
    )
    assert (None if got is None else hosts.index(got)) == want


@settings(max_examples=150)
@given(hosts=cluster_hosts(max_size=12), factor=factors, h=uint64, data=st.data())
def test_cluster_pick_stays_within_the_bound_of_its_level(
    impl: Implementation, hosts: list[Host], factor: int, h: int, data: st.DataObject
) -> None:
    """The pick is in its level's table and within its cap whenever a host of that table is."""
    cluster = _cluster(impl, hosts, "maglev")
    active = _hot_first(cluster, h, 0, data)
    got = impl.BoundedLoad(cluster, hash_balance_factor=factor).lookup(h, active)
    table = cluster.priorities[cluster.choose_priority(h)[0]].table
    if not table.hosts:
        assert got is None
        return
    assert got in table.hosts
    overall = sum(active)
    weight = {
        table.hosts[i]: w
        for i, w in zip(table.normalized_order, table.normalized_weights, strict=True)
    }
    load = {t: _overload(active[hosts.index(t)], overall, factor, weight[t]) for t in table.hosts}
    if min(load.values()) <= 1.0:
        assert load[got] <= 1.0
    else:
        assert load[got] == min(load.values())


@settings(max_examples=100)
@given(hosts=host_lists(min_size=1, max_size=10), **LOOKUPS)
def test_a_healthy_single_priority_cluster_is_the_table(
    impl: Implementation,
    hosts: list[Host],
    engine: str,
    factor: int,
    h: int,
    attempt: int,
    data: st.DataObject,
) -> None:
    """One healthy priority: BoundedLoad(cluster) gives exactly what BoundedLoad(table) gives."""
    cluster = _cluster(impl, hosts, engine)
    table = cluster.priorities[0].table
    over_cluster = impl.BoundedLoad(cluster, hash_balance_factor=factor)
    over_table = impl.BoundedLoad(table, hash_balance_factor=factor)
    active = data.draw(active_counts(len(hosts)))
    for x in [h, *data.draw(st.lists(uint64, max_size=40))]:
        assert over_cluster.lookup(x, active, attempt) is over_table.lookup(x, active, attempt)
        # stateful: the same acquisitions count the same hosts
        assert over_cluster.acquire(x, attempt).host is over_table.acquire(x, attempt).host
    assert over_cluster.active == over_table.active
