"""Envoy's cluster-level choice: priority levels, host health and panic (spec-2 §14-15)."""

from __future__ import annotations

import json
import pickle
from typing import Any

import pytest

from hashlb import Cluster, ConfigError, Host
from hashlb.cluster import panic_threshold, priority_loads

from ._impl import Implementation
from ._vectors import GOLDEN_DIR, SPEC_DIR, envoy_vectors

V2 = "envoy-vectors-2.json"


def _case(section: str, name: str) -> dict[str, Any]:
    return next(c for c in envoy_vectors(V2)[section] if c["name"] == name)


def _level_hosts(priority: int, counts: list[int], base: int) -> list[Host]:
    """Hosts of one level from ``[hosts, healthy, degraded, excluded]`` counts (the rest unhealthy)."""
    n, healthy, degraded, excluded = counts
    states = (
        ["healthy"] * healthy
        + ["degraded"] * degraded
        + ["excluded"] * excluded
        + ["unhealthy"] * (n - healthy - degraded - excluded)
    )
    return [
        Host(
            f"10.{priority}.{(base + i) // 256}.{(base + i) % 256}:80", priority=priority, health=s
        )
        for i, s in enumerate(states)
    ]


def _cluster_of(levels: list[list[int]], table: Any, **options: Any) -> Cluster:
    hosts = [h for p, counts in enumerate(levels) for h in _level_hosts(p, counts, 0)]
    return Cluster(hosts, balancer=table, **options)


def test_pinned_vectors_2_match_spec() -> None:
    """The pinned copy of envoy-vectors-2.json is the spec's file, unchanged."""
    if not (SPEC_DIR / V2).exists():
        pytest.skip("../shared/spec is not beside this checkout")
    assert json.loads((GOLDEN_DIR / V2).read_text()) == json.loads((SPEC_DIR / V2).read_text())


@pytest.mark.parametrize("name", ["OverProvisioningFactor", "GentleFailover"])
@pytest.mark.parametrize("balancer", ["RingHash", "Maglev"])
def test_load_vectors(impl: Implementation, name: str, balancer: str) -> None:
    """Envoy's own load-balancer tests: every step's healthy loads and panic flags."""
    case = _case("priority_health", name)
    for step in case["steps"]:
        factor = step.get("overprovisioning_factor", case.get("overprovisioning_factor", 140))
        threshold = case.get("panic_threshold", 50)
        cluster = _cluster_of(
            step["levels"],
            getattr(impl, balancer),
            overprovisioning_factor=factor,
            healthy_panic_threshold=threshold,
        )
        healthy, degraded = cluster.priority_load
        assert list(healthy) == step["healthy_load"], step
        assert sum(healthy) + sum(degraded) == 100
        if "panic" in step:
            assert [cluster.in_panic(p) for p in range(len(step["levels"]))] == step["panic"]
        counts = priority_loads(
            [tuple(c) for c in step["levels"]],
            overprovisioning_factor=factor,
            healthy_panic_threshold=threshold,
        )
        assert counts[:2] == cluster.priority_load


def test_ring_basic_global_panic(impl: Implementation) -> None:
    """No healthy host (0% < 50%): the ring is built over all hosts (RingHashLoadBalancerTest.Basic)."""
    case = _case("priority_health", "RingBasicGlobalPanic")
    (level,) = case["priorities"]
    healthy = set(level["healthy"])
    hosts = [
        Host(h["address"], health="healthy" if i in healthy else "unhealthy")
        for i, h in enumerate(level["hosts"])
    ]
    cluster = Cluster(hosts, balancer=impl.RingHash, **case["config"])
    assert cluster.in_panic(0) is (case["expected"]["lb_healthy_panic"] == 1)
    for lookup in case["expected"]["lookups"]:
        host = cluster.lookup(lookup["hash"])
        assert host is hosts[lookup["expected_host_index"]]
        assert cluster.choose_host(lookup["hash"]) is host


def test_choose_priority_vector() -> None:
    """choosePriority: hash % 100 + 1 over cumulative healthy loads, then degraded."""
    case = _case("priority_health", "ChoosePriorityHealthyThenDegraded")
    healthy, degraded = case["healthy_load"], case["degraded_load"]
    # Levels whose loads are exactly these: P0 28 degraded, P1 44 degraded, P2 28 healthy.
    # health = 140 * H / T, degraded = 140 * D / T (floor): P0 1 of 5 degraded -> 28;
    # P1 11 of 35 degraded -> 44; P2 1 of 5 healthy -> 28; N = 100.
    levels = [[5, 0, 1, 0], [35, 0, 11, 0], [5, 1, 0, 0]]
    cluster = _cluster_of(levels, "maglev", table_size=7)
    assert cluster.priority_load == (tuple(healthy), tuple(degraded))
    for lookup in case["lookups"]:
        assert list(cluster.choose_priority(lookup["hash"])) == lookup["expected"]


@pytest.mark.parametrize("section", ["ring_hash", "maglev"])
def test_no_host_and_zero_locality_weight_vectors(impl: Implementation, section: str) -> None:
    """An empty cluster, and one whose localities all weigh 0, choose no host."""
    table = impl.RingHash if section == "ring_hash" else impl.Maglev
    for case in envoy_vectors(V2)[section]:
        hosts = [Host(h["address"], locality=h.get("locality")) for h in case["hosts"]]
        options = dict(case["config"])
        if "locality_weights" in case:
            options["locality_weights"] = dict(case["locality_weights"])
        cluster = Cluster(hosts, balancer=table, locality_weighted=True, **options)
        for lookup in case["expected"]["lookups"]:
            assert lookup["expected_host_index"] is None
            assert cluster.lookup(lookup["hash"]) is None
            assert cluster.choose_host(lookup["hash"], max_attempts=3) is None


def test_worked_examples_of_the_spec() -> None:
    """spec-2 §14.4 and §14.5 worked examples, through counts and through hosts."""
    assert priority_loads([(10, 2, 0, 0), (10, 2, 3, 0)]) == ((30, 28), (0, 42), (True, False))
    assert priority_loads([(10, 5, 0, 0), (10, 1, 0, 0)]) == ((84, 16), (0, 0), (False, True))
    assert priority_loads([(10, 5, 0, 0), (10, 1, 0, 0)], healthy_panic_threshold=0) == (
        (84, 16),
        (0, 0),
        (False, False),
    )
    cluster = _cluster_of([[10, 5, 0, 0], [10, 1, 0, 0]], "ring_hash", min_ring_size=64)
    p0, p1 = cluster.priorities
    assert (p0.in_panic, p1.in_panic) == (False, True)
    assert p0.table.hosts == p0.healthy and p1.table.hosts == p1.hosts


def test_panic_threshold_truncates_like_envoy() -> None:
    """Envoy's uint64(100 * (p / 100.0)): 29, 57 and 58 act as 28, 56 and 57."""
    assert [panic_threshold(p) for p in (0, 29, 50, 57, 58, 100)] == [0, 28, 50, 56, 57, 100]
    # Exactly at the threshold is not panic: 1 of 2 healthy is 50%, t = 50.
    assert priority_loads([(2, 1, 0, 0), (2, 0, 0, 0)])[2] == (False, True)
    # 29 configured acts as 28: 2 of 7 healthy (28.57%) is then not in panic.
    assert priority_loads([(7, 2, 0, 0), (1, 0, 0, 0)], healthy_panic_threshold=29)[2][0] is False
    assert priority_loads([(7, 2, 0, 0), (1, 0, 0, 0)], healthy_panic_threshold=29.5)[2][0] is True


def test_degraded_hosts_are_never_chosen_outside_panic(impl: Implementation) -> None:
    """One level of 4 degraded hosts: degraded load 100, no panic, an empty table (spec-2 §14.7)."""
    hosts = [Host(f"10.0.0.{i}:80", health="degraded") for i in range(4)]
    cluster = Cluster(hosts, balancer=impl.Maglev, table_size=7)
    assert cluster.priority_load == ((0,), (100,)) and not cluster.in_panic(0)
    assert cluster.choose_priority(5) == (0, "degraded")
    assert all(cluster.lookup(h) is None for h in range(0, 2**64, 2**60))


def test_draining_and_excluded_hosts_leave_the_counts(impl: Implementation) -> None:
    """draining and excluded hosts are out of the denominators, and back in the table in panic."""
    hosts = [Host("10.0.0.1:80"), Host("10.0.0.2:80", health="draining")]
    hosts += [Host("10.0.0.3:80", health="EXCLUDED")]
    cluster = Cluster(hosts, balancer=impl.RingHash, min_ring_size=64)
    (level,) = cluster.priorities
    assert level.excluded == tuple(hosts[1:]) and level.healthy == (hosts[0],)
    assert not level.in_panic and set(level.table.hosts) == {hosts[0]}
    dark = cluster.with_health({"10.0.0.1:80": "timeout"})
    (level,) = dark.priorities
    assert level.in_panic and set(level.table.hosts) == set(dark.hosts)


def test_single_level_lookup_is_the_tables_own(impl: Implementation) -> None:
    """All the healthy load on level 0: Cluster.lookup is bound to that table's lookup."""
    hosts = [Host(f"10.0.0.{i}:80", i % 3 + 1) for i in range(20)]
    cluster = Cluster(hosts, balancer=impl.Maglev)
    table = impl.Maglev(hosts)
    assert cluster.lookup == cluster.priorities[0].table.lookup
    for h in range(0, 2**64, 2**59 + 12345):
        assert cluster.lookup(h) == table.lookup(h)
        assert cluster.lookup(h, 3) == table.lookup(h, 3)
        assert cluster.choose_host(h) == table.lookup(h)
    hs = list(range(0, 2**64, 2**59 + 12345))
    assert list(cluster.lookup_many(hs)) == [hosts.index(cluster.lookup(h)) for h in hs]


def test_choose_host_retry_loop(impl: Implementation) -> None:
    """previous_hosts: reject the tried hosts; all rejected gives the last attempt's host."""
    hosts = [Host(f"10.0.0.{i}:80") for i in range(5)]
    cluster = Cluster(hosts, balancer=impl.RingHash, min_ring_size=64)
    for h in (0, 12345, 2**63, 2**64 - 1):
        first = cluster.lookup(h)
        tried = {first}
        second = cluster.choose_host(h, reject=tried.__contains__, max_attempts=6)
        walk = [cluster.lookup(h, a) for a in range(6)]
        expected = next((x for x in walk if x not in tried), walk[-1])
        assert second is expected
        everything = cluster.choose_host(h, reject=lambda host: True, max_attempts=4)
        assert everything is cluster.lookup(h, 3)
    with pytest.raises(ValueError, match=r"max_attempts must be in \[1, 65536\], got 0"):
        cluster.choose_host(1, max_attempts=0)
    with pytest.raises(TypeError, match="reject must be callable or None, not int"):
        cluster.choose_host(1, reject=3)  # type: ignore[arg-type]


def test_levels_gaps_and_priority_errors(impl: Implementation) -> None:
    """A gap is an empty level (in panic whenever t > 0 and N < 100); bad priorities raise."""
    cluster = Cluster([Host("10.0.0.1:80"), Host("10.0.0.2:80", priority=2)], balancer=impl.Maglev)
    assert [lv.hosts for lv in cluster.priorities][1] == ()
    assert cluster.priority_load == ((100, 0, 0), (0, 0, 0))
    assert not cluster.in_panic(1)  # N == 100: no level is in panic
    with pytest.raises(ValueError, match=r"priority must be in \[0, 2\], got 3"):
        cluster.in_panic(3)


def test_configuration_errors(impl: Implementation) -> None:
    """Bad configuration raises before anything is built, naming the field."""
    hosts = [Host("10.0.0.1:80")]
    with pytest.raises(ConfigError, match=r"repeats the address '10\.0\.0\.1:80' of hosts\[0\]"):
        Cluster([Host("10.0.0.1:80"), Host("10.0.0.1:80", priority=1)], balancer=impl.Maglev)
    with pytest.raises(ConfigError, match="balancer must be one of ring_hash, maglev"):
        Cluster(hosts, balancer="round_robin")
    with pytest.raises(TypeError, match="balancer must be 'ring_hash', 'maglev' or a table class"):
        Cluster(hosts, balancer=3)  # type: ignore[arg-type]
    with pytest.raises(ConfigError, match=r"overprovisioning_factor must be in \[1, 2\*\*32 - 1\]"):
        Cluster(hosts, overprovisioning_factor=0)
    with pytest.raises(ConfigError, match=r"healthy_panic_threshold must be in \[0, 100\]"):
        Cluster(hosts, healthy_panic_threshold=100.5)
    with pytest.raises(TypeError, match="healthy_panic_threshold must be a number, not bool"):
        Cluster(hosts, healthy_panic_threshold=True)
    with pytest.raises(TypeError, match="weighted_priority_health must be a bool"):
        Cluster(hosts, weighted_priority_health=1)  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="hosts\\[0\\] must be a Host, not str"):
        Cluster(["10.0.0.1:80"])  # type: ignore[list-item]
    with pytest.raises(TypeError, match="table_size"):
        Cluster(hosts, balancer=impl.Maglev, table_size="7")


def test_weighted_priority_health() -> None:
    """With weighted_priority_health, availability sums weights; panic still counts hosts."""
    hosts = [Host("10.0.0.1:80", 9), Host("10.0.0.2:80", 1, health="unhealthy")]
    hosts += [Host("10.0.1.1:80", priority=1)]
    counted = Cluster(hosts, balancer="maglev", table_size=7)
    weighted = Cluster(hosts, balancer="maglev", table_size=7, weighted_priority_health=True)
    assert counted.priority_load == ((70, 30), (0, 0))  # 140 * 1 / 2
    assert weighted.priority_load == ((100, 0), (0, 0))  # min(100, 140 * 9 / 10)


def test_with_health_reuses_unchanged_tables(impl: Implementation) -> None:
    """Only the level whose hosts changed is rebuilt; addresses match after canonicalisation."""
    hosts = [Host(f"10.0.0.{i}:80") for i in range(4)]
    hosts += [Host(f"[2001:db8::{i}]:80", priority=1) for i in range(1, 5)]
    cluster = Cluster(hosts, balancer=impl.Maglev, table_size=101)
    after = cluster.with_health({"[2001:DB8::0:3]:80": "unhealthy"})
    assert after.priorities[0].table is cluster.priorities[0].table
    assert after.priorities[1].table is not cluster.priorities[1].table
    assert after.priorities[1].healthy == tuple(hosts[4:6] + hosts[7:])
    assert cluster.with_health({"10.0.0.1:80": "HEALTHY"}).priorities[0].table is (
        cluster.priorities[0].table
    )
    with pytest.raises(ConfigError, match=r"with_health: no host has the address '10\.9\.9\.9:80'"):
        cluster.with_health({"10.9.9.9:80": "unhealthy"})
    with pytest.raises(ValueError, match="must be one of unknown, healthy"):
        cluster.with_health({"10.0.0.1:80": "sick"})


def test_immutable_pickle_repr(impl: Implementation) -> None:
    """A cluster is immutable, pickles to an equal configuration and has a repr."""
    hosts = [Host("10.0.0.1:80"), Host("10.0.0.2:80", priority=1, health="degraded")]
    cluster = Cluster(hosts, balancer=impl.RingHash, min_ring_size=64)
    with pytest.raises(AttributeError, match="immutable"):
        cluster.hosts = ()  # type: ignore[misc]
    with pytest.raises(TypeError, match="immutable"):
        cluster.__init__(hosts)  # type: ignore[misc]
    again = pickle.loads(pickle.dumps(cluster))
    assert again.hosts == cluster.hosts and again.priority_load == cluster.priority_load
    assert [again.lookup(h) for h in range(0, 2**64, 2**60)] == [
        cluster.lookup(h) for h in range(0, 2**64, 2**60)
    ]
    assert repr(cluster) == (
        "<Cluster 2 hosts in 2 priorities healthy_load=[100, 0] degraded_load=[0, 0] panic=[]>"
    )
    blank = Cluster.__new__(Cluster)
    assert repr(blank) == "<Cluster object (not initialised)>"
    with pytest.raises(TypeError, match="not initialised"):
        blank.lookup(1)


def test_loads_that_do_not_sum_to_100_fall_back_to_level_0(impl: Implementation) -> None:
    """Envoy's corner: availability rounds to 0 but no level is in panic (a small factor or a
    low threshold), so the loads stay 0 and choosePriority falls back to (0, healthy)."""
    assert priority_loads(
        [(2, 0, 1, 0)], overprovisioning_factor=1, healthy_panic_threshold=29
    ) == (
        (0,),
        (0,),
        (False,),
    )
    hosts = [Host("10.0.0.1:80", health="degraded"), Host("10.0.0.2:80", health="unhealthy")]
    cluster = Cluster(hosts, balancer=impl.Maglev, overprovisioning_factor=1, table_size=7)
    assert cluster.priority_load == ((0,), (0,)) and not cluster.in_panic(0)
    assert cluster.choose_priority(77) == (0, "healthy")
    assert cluster.lookup(77) is None  # level 0's table holds its healthy hosts: none
    # With the defaults (factor 140, threshold 50) the loads always sum to 100.
    assert priority_loads([(150, 1, 1, 0)], healthy_panic_threshold=1)[0] == (0,)
    assert sum(priority_loads([(150, 1, 1, 0)])[0]) == 100
