"""Cluster properties (Hypothesis) on both twins' tables: loads, panic, health changes, retries."""

from __future__ import annotations

import pytest

pytest.importorskip("hypothesis")

from hypothesis import given
from hypothesis import strategies as st

from hashlb import Cluster, Host
from hashlb.cluster import panic_threshold, priority_loads

from ._impl import Implementation
from .reference import envoy_priority_state
from .strategies import cluster_hosts, level_counts, panic_percents, uint64


def _hosts_of(levels: list[tuple[int, int, int, int]]) -> list[Host]:
    out = []
    for p, (n, h, d, x) in enumerate(levels):
        states = ["healthy"] * h + ["degraded"] * d + ["excluded"] * x
        states += ["unhealthy"] * (n - h - d - x)
        out += [Host(f"10.{p}.0.{i}:80", priority=p, health=s) for i, s in enumerate(states)]
    return out


@given(level_counts(), st.integers(1, 400), panic_percents)
def test_loads_match_envoys_step_by_step_model(levels: list, factor: int, percent: float) -> None:
    """Loads and panic equal Envoy's constructor run level by level; loads sum to exactly 100."""
    healthy, degraded, panic = priority_loads(
        levels, overprovisioning_factor=factor, healthy_panic_threshold=percent
    )
    model = envoy_priority_state(
        [(n, h, d, x, h, d, n - x) for n, h, d, x in levels], factor, panic_threshold(percent)
    )
    assert (list(healthy), list(degraded), list(panic)) == model
    assert all(v >= 0 for v in healthy + degraded)
    if sum(healthy) + sum(degraded) != 100:
        # Envoy's one corner (its IS_ENVOY_BUG fallback): the availability rounds down to
        # 0 while some level is not below a threshold > 0 (no total panic): nothing sets them.
        assert set(healthy + degraded) == {0} and not all(panic)
        assert panic_threshold(percent) > 0
        assert all(
            factor * h // (n - x) == 0 == factor * d // (n - x) for n, h, d, x in levels if n - x
        )


@given(level_counts(), panic_percents)
def test_panic_exactly_when_the_available_share_is_below_the_threshold(
    levels: list, percent: float
) -> None:
    """A level panics iff N < 100 and (healthy + degraded) / counted hosts < t, or t == 0 never."""
    _h, _d, panic = priority_loads(levels, healthy_panic_threshold=percent)
    t = panic_threshold(percent)
    health = [min(100, 140 * h // (n - x)) if n - x else 0 for n, h, d, x in levels]
    degr = [min(100, 140 * d // (n - x)) if n - x else 0 for n, h, d, x in levels]
    normalized = min(100, sum(health) + sum(degr))
    for (n, h, d, x), flag in zip(levels, panic, strict=True):
        share = (100.0 * h / (n - x) + 100.0 * d / (n - x)) if n - x else 0.0
        assert flag == (normalized != 100 and not (t == 0 and normalized == 0) and share < t)


@given(cluster_hosts(), st.sampled_from(["RingHash", "Maglev"]), st.lists(uint64, max_size=20))
def test_each_levels_table_holds_its_healthy_hosts_or_all_in_panic(
    impl: Implementation, hosts: list, balancer: str, hashes: list
) -> None:
    """Every lookup is the chosen level's table built from exactly Envoy's source list."""
    table = getattr(impl, balancer)
    options = {"table_size": 13} if balancer == "Maglev" else {"min_ring_size": 16}
    cluster = Cluster(hosts, balancer=table, **options)
    for level in cluster.priorities:
        source = level.hosts if level.in_panic else level.healthy
        assert level.table.hosts == source
        assert all(h.health in ("unknown", "healthy") for h in level.healthy)
        assert not set(level.degraded) & set(level.table.hosts) or level.in_panic
    for h in hashes:
        p, _state = cluster.choose_priority(h)
        expected = getattr(impl, balancer)(list(cluster.priorities[p].table.hosts), **options)
        assert cluster.lookup(h) == expected.lookup(h)
        assert cluster.lookup(h, 2) == expected.lookup(h, 2)


@given(
    st.integers(2, 12),
    st.data(),
    st.sampled_from(["RingHash", "Maglev"]),
    st.lists(uint64, min_size=1, max_size=40),
)
def test_an_unhealthy_host_moves_its_own_keys(
    impl: Implementation, n: int, data: st.DataObject, balancer: str, hashes: list
) -> None:
    """Outside panic, marking a host unhealthy moves every key it owned off it, and the
    other keys only as the table's own rebuild on the remaining hosts moves them; with one
    ring entry per host (the ring unchanged but for the host's entry) no other key moves."""
    hosts = [Host(f"10.4.0.{i}:80") for i in range(n)]
    gone = data.draw(st.sampled_from(hosts))
    options = {"table_size": 101} if balancer == "Maglev" else {"min_ring_size": 1}
    cluster = Cluster(hosts, balancer=getattr(impl, balancer), healthy_panic_threshold=0, **options)
    after = cluster.with_health({gone.address: "unhealthy"})
    rebuilt = getattr(impl, balancer)([h for h in hosts if h is not gone], **options)
    for h in hashes:
        before_host, after_host = cluster.lookup(h), after.lookup(h)
        assert after_host == rebuilt.lookup(h) and after_host != gone
        if balancer == "RingHash" and before_host != gone:
            assert after_host == before_host


@given(
    cluster_hosts(), uint64, st.integers(1, 8), st.data(), st.sampled_from(["RingHash", "Maglev"])
)
def test_choose_host_never_returns_a_rejected_host_while_another_remains(
    impl: Implementation, hosts: list, h: int, attempts: int, data: st.DataObject, balancer: str
) -> None:
    """The first attempt whose host is not rejected wins; all rejected gives the last one."""
    options = {"table_size": 13} if balancer == "Maglev" else {"min_ring_size": 8}
    cluster = Cluster(hosts, balancer=getattr(impl, balancer), **options)
    addresses = sorted({x.address for x in hosts})
    rejected = set(data.draw(st.lists(st.sampled_from(addresses), unique=True))) if hosts else set()
    got = cluster.choose_host(
        h, reject=lambda host: host.address in rejected, max_attempts=attempts
    )
    walk = [cluster.lookup(h, a) for a in range(attempts)]
    if walk[0] is None:
        assert got is None
    elif any(x.address not in rejected for x in walk):
        assert got is next(x for x in walk if x.address not in rejected)
    else:
        assert got is walk[-1]
    table = cluster.priorities[cluster.choose_priority(h)[0]].table
    assert got is table.choose_host(
        h, reject=lambda host: host.address in rejected, max_attempts=attempts
    )
