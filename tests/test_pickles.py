"""Tables and pickers pickle through one ``rebuild``; pickles of earlier builds still load."""

from __future__ import annotations

import pickle
from typing import Any

import pytest

from hashlb import Host

from ._impl import Implementation

HOSTS = [Host(f"10.1.0.{i}:80", weight=1 + i % 3, locality="a" if i % 2 else "b") for i in range(6)]


def _objects(impl: Implementation) -> list[Any]:
    return [
        impl.RingHash(HOSTS, min_ring_size=64, max_ring_size=128, hash_function="murmur_hash_2"),
        impl.RingHash(HOSTS, use_hostname=True, locality_weights={"a": 1, "b": 3}),
        impl.Maglev(HOSTS, table_size=251, locality_weights={"a": 2, "b": 1}, envoy_version="1.26"),
        impl.WeightedSubsetPicker({"v1": 90, "v2": 10}, mode="envoy", seed=7),
    ]


@pytest.mark.parametrize("index", range(4))
def test_round_trip_keeps_every_option(impl: Implementation, index: int) -> None:
    """A pickled table or picker comes back equal in every option and every pick."""
    obj = _objects(impl)[index]
    back = pickle.loads(pickle.dumps(obj))
    assert type(back) is type(obj) and repr(back) == repr(obj)
    if hasattr(obj, "lookup"):
        assert back.hosts == obj.hosts and back.nbytes == obj.nbytes
        assert [back.lookup(h) for h in range(0, 2**64, 2**58)] == [
            obj.lookup(h) for h in range(0, 2**64, 2**58)
        ]
    else:
        assert back == obj and hash(back) == hash(obj)


def test_pickles_of_earlier_builds_load(impl: Implementation) -> None:
    """``_restore(first, *options)``, what earlier pickles call, rebuilds the same objects."""
    ring_mod, maglev_mod, subset_mod = (impl.module(u) for u in ("ring", "maglev", "subset"))
    ring = ring_mod._restore(tuple(HOSTS), 64, 128, "murmur_hash_2", False, None)
    want = impl.RingHash(HOSTS, min_ring_size=64, max_ring_size=128, hash_function="murmur_hash_2")
    assert (ring.min_ring_size, ring.max_ring_size, ring.hash_function) == (
        64,
        128,
        "murmur_hash_2",
    )
    assert ring.ring == want.ring and ring.nbytes == want.nbytes
    maglev = maglev_mod._restore(tuple(HOSTS), 251, False, None)  # before envoy_version existed
    assert maglev.table_size == 251 and maglev.lookup(7) == impl.Maglev(
        HOSTS, table_size=251
    ).lookup(7)
    picker = subset_mod._restore({"v1": 90, "v2": 10}, "envoy", 7)
    assert picker == impl.WeightedSubsetPicker({"v1": 90, "v2": 10}, mode="envoy", seed=7)
