"""Property tests of pickling: random hosts, tables, clusters and routers round-trip, on both twins.

A rebuilt object picks exactly as the original for every drawn hash: the
packed host description loses nothing, and loading rebuilds through the
constructors.
"""

from __future__ import annotations

import pickle
from typing import Any

import pytest

hypothesis = pytest.importorskip("hypothesis")

import cloudpickle  # noqa: E402
from hypothesis import assume, given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

from hashlb import Cluster, ConfigError  # noqa: E402
from hashlb._pickling import pack_hosts, unpack_hosts  # noqa: E402
from hashlb.router import Router  # noqa: E402

from ._impl import Implementation  # noqa: E402
from .strategies import (  # noqa: E402
    any_hosts,
    cluster_hosts,
    label_selectors,
    labelled_hosts,
    uint64,
)

FEW = min(60, settings.default.max_examples)
hash_lists = st.lists(uint64, min_size=1, max_size=40)


def again(obj: object, cloud: bool) -> Any:
    data = cloudpickle.dumps(obj) if cloud else pickle.dumps(obj, protocol=pickle.HIGHEST_PROTOCOL)
    return pickle.loads(data)


@given(hosts=any_hosts())
def test_packed_hosts_round_trip(hosts: list[Any]) -> None:
    """Every field of every host survives the columnar description, in order."""
    assert unpack_hosts(pack_hosts(tuple(hosts))) == tuple(hosts)
    assert pickle.loads(pickle.dumps(pack_hosts(tuple(hosts)))) == pack_hosts(tuple(hosts))


@settings(max_examples=FEW)
@given(hosts=any_hosts(), hashes=hash_lists, cloud=st.booleans(), maglev=st.booleans())
def test_tables_pick_identically(
    impl: Implementation, hosts: list[Any], hashes: list[int], cloud: bool, maglev: bool
) -> None:
    """A rebuilt Maglev or RingHash has the same hosts and the same host for every hash."""
    unique = list({h.address: h for h in hosts}.values())
    table = (
        impl.Maglev(unique, table_size=61)
        if maglev
        else impl.RingHash(unique, min_ring_size=16, max_ring_size=64)
    )
    back = again(table, cloud)
    assert type(back) is type(table) and back.hosts == table.hosts
    assert [back.lookup(h) for h in hashes] == [table.lookup(h) for h in hashes]


@settings(max_examples=FEW)
@given(hosts=cluster_hosts(), hashes=hash_lists, cloud=st.booleans())
def test_clusters_pick_identically(
    impl: Implementation, hosts: list[Any], hashes: list[int], cloud: bool
) -> None:
    """A rebuilt Cluster (priorities, health, panic) picks the same host for every hash, attempt."""
    cluster = Cluster(hosts, balancer=impl.Maglev, table_size=31)
    back = again(cluster, cloud)
    assert back.hosts == cluster.hosts and back.priority_load == cluster.priority_load
    for attempt in (0, 1):
        assert [back.lookup(h, attempt) for h in hashes] == [
            cluster.lookup(h, attempt) for h in hashes
        ]


@settings(max_examples=FEW)
@given(
    hosts=labelled_hosts(min_size=1),
    selectors=label_selectors,
    data=st.data(),
    hashes=hash_lists,
    mode=st.sampled_from(["sticky", "envoy"]),
    maglev=st.booleans(),
    factor=st.sampled_from([None, 100, 150]),
    cloud=st.booleans(),
)
def test_routers_route_identically(
    impl: Implementation,
    hosts: list[Any],
    selectors: dict[str, dict[str, str]],
    data: st.DataObject,
    hashes: list[int],
    mode: str,
    maglev: bool,
    factor: int | None,
    cloud: bool,
) -> None:
    """A rebuilt Router sends every hash (and a request without one) to the same subset and host.

    In envoy mode the subset comes from the router's random stream: the
    pickle carries it, so the same calls in the same order agree.
    """
    weights = {name: data.draw(st.integers(0, 5), label=name) for name in selectors}
    try:
        router = Router(
            hosts,
            subsets=selectors,
            weights=impl.WeightedSubsetPicker(weights, mode=mode),
            policy=impl.HashPolicy(impl.Header("x-user")),
            balancer=impl.Maglev if maglev else impl.RingHash,
            balancer_options={"table_size": 31} if maglev else {"min_ring_size": 16},
            mode=mode,
            allow_empty=True,
            hash_balance_factor=factor,
        )
    except ConfigError:
        assume(False)
        return
    back = again(router, cloud)
    assert repr(back) == repr(router) and dict(back.members) == dict(router.members)
    for h in hashes:
        a, b = router.route_hash(h), back.route_hash(h)
        assert (a.subset, a.host, a.hash) == (b.subset, b.host, b.hash)
    a, b = router.route(impl.Request()), back.route(impl.Request())  # a random hash
    assert (a.subset, a.host, a.hash) == (b.subset, b.host, b.hash)
