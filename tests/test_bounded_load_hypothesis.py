"""Bounded-load properties (Hypothesis), on both twins and both engines."""

from __future__ import annotations

import math

import pytest

pytest.importorskip("hypothesis")

from hypothesis import given, settings
from hypothesis import strategies as st

from hashlb import Host

from ._impl import Implementation
from .reference import bounded_load_reference
from .strategies import host_lists, uint64

factors = st.one_of(st.sampled_from([100, 101, 125, 150, 200]), st.integers(100, 2**32 - 1))


def _overload(active: int, overall: int, factor: int, w: float) -> float:
    """Envoy's overload factor of one host (spec §6)."""
    total_slots = (((overall % 2**32 + 1) * factor + 99) % 2**32) // 100
    return active / max(math.ceil(total_slots * w) % 2**32, 1)


@settings(max_examples=150)
@given(
    hosts=host_lists(min_size=1, max_size=10),
    engine=st.sampled_from(["maglev", "ring"]),
    factor=factors,
    h=uint64,
    attempt=st.integers(0, 3),
    data=st.data(),
)
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
    lb = (
        impl.Maglev(hosts, table_size=61)
        if engine == "maglev"
        else impl.RingHash(hosts, min_ring_size=32, max_ring_size=256)
    )
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
