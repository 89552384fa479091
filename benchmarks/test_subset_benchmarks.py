"""Weighted subsets: the picker alone, and Router.route against its parts (issue 5 targets).

Targets, medians from one run:

* ``WeightedSubsetPicker.choose`` <= 100 ns per choice (each round is 1,000
  calls, so median / 1,000 = ns per call, loop included);
* ``Router.route(request)`` with a header policy and Maglev <= 2.5x the
  baseline in the same group: ``policy.hash(request)`` plus
  ``Maglev.pick(key)`` for the same 1,000 requests and keys.

The fleet is 100 pods (90 "safe", 10 "risky") behind a 99/1 canary; the
requests carry 3 headers, the user in ``x-user``.  Run::

    pytest benchmarks/test_subset_benchmarks.py --benchmark-group-by=group
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

from hashlb import Host
from hashlb.router import Router
from tests._impl import Implementation

VALUES_1K = np.random.default_rng(5).integers(0, 2**64, size=1000, dtype=np.uint64).tolist()
VALUES_1M = np.random.default_rng(6).integers(0, 2**64, size=1_000_000, dtype=np.uint64)
FLEET = [
    Host(f"10.0.{i // 256}.{i % 256}:8080", labels={"version": "risky" if i % 10 == 0 else "safe"})
    for i in range(100)
]
SUBSETS = {"safe": {"version": "safe"}, "risky": {"version": "risky"}}
USERS = [f"user-{i:011d}" for i in range(1000)]


def _picker(impl: Implementation, weights: dict[str, int], mode: str = "sticky") -> Any:
    return impl.module("subset").WeightedSubsetPicker(weights, mode=mode)


def _call_all(fn, args):  # type: ignore[no-untyped-def]
    """Return a closure calling fn(arg) for every arg."""

    def run() -> None:
        for a in args:
            fn(a)

    return run


# ---- the picker -------------------------------------------------------------------


@pytest.mark.benchmark(group="subset pick x1000")
def test_subset_pick_sticky_2_subsets(benchmark, impl: Implementation) -> None:  # type: ignore[no-untyped-def]
    benchmark(_call_all(_picker(impl, {"safe": 99, "risky": 1}).choose, VALUES_1K))


@pytest.mark.benchmark(group="subset pick x1000")
def test_subset_pick_sticky_4_subsets(benchmark, impl: Implementation) -> None:  # type: ignore[no-untyped-def]
    p = _picker(impl, {"v1": 70, "v2": 20, "v3": 9, "v4": 1})
    benchmark(_call_all(p.choose, VALUES_1K))


@pytest.mark.benchmark(group="subset pick x1000")
def test_subset_pick_envoy_2_subsets(benchmark, impl: Implementation) -> None:  # type: ignore[no-untyped-def]
    benchmark(_call_all(_picker(impl, {"safe": 99, "risky": 1}, "envoy").choose, VALUES_1K))


@pytest.mark.benchmark(group="subset pick x1000")
def test_subset_pick_floor_empty_c_method(benchmark) -> None:  # type: ignore[no-untyped-def]
    """The floor: a builtin one-argument method that does nothing, ``[].count(value)``."""
    benchmark(_call_all([].count, VALUES_1K))


@pytest.mark.benchmark(group="subset pick_many 1M")
def test_subset_pick_many_sticky_2_subsets_1m(benchmark, impl: Implementation) -> None:  # type: ignore[no-untyped-def]
    p = _picker(impl, {"safe": 99, "risky": 1})
    benchmark(p.choose_many, VALUES_1M)


@pytest.mark.benchmark(group="subset pick_many 1M")
def test_subset_pick_many_envoy_2_subsets_1m(benchmark, impl: Implementation) -> None:  # type: ignore[no-untyped-def]
    p = _picker(impl, {"safe": 99, "risky": 1}, "envoy")
    benchmark(p.choose_many, VALUES_1M)


# ---- Router.route against its parts ------------------------------------------------


def _setup(impl: Implementation, mode: str = "sticky") -> tuple[Router, Any, Any, list[Any]]:
    """Return (router, policy, maglev over the fleet, requests) built from *impl*."""
    pol = impl.module("policy")
    policy = pol.HashPolicy(pol.Header("x-user"))
    router = Router(
        FLEET,
        subsets=SUBSETS,
        weights=_picker(impl, {"safe": 99, "risky": 1}, mode),
        policy=policy,
        balancer=impl.module("maglev").Maglev,
        mode=mode,
    )
    maglev = impl.module("maglev").Maglev(FLEET)
    requests = [
        pol.Request(headers=[(b"host", b"staff"), (b"x-user", u.encode()), (b"accept", b"*/*")])
        for u in USERS
    ]
    return router, policy, maglev, requests


@pytest.mark.benchmark(group="router route header+maglev x1000")
def test_router_route_sticky_header_maglev(benchmark, impl: Implementation) -> None:  # type: ignore[no-untyped-def]
    router, _, _, requests = _setup(impl)
    benchmark(_call_all(router.route, requests))


@pytest.mark.benchmark(group="router route header+maglev x1000")
def test_router_route_envoy_header_maglev(benchmark, impl: Implementation) -> None:  # type: ignore[no-untyped-def]
    router, _, _, requests = _setup(impl, "envoy")
    benchmark(_call_all(router.route, requests))


@pytest.mark.benchmark(group="router route header+maglev x1000")
def test_router_baseline_policy_hash_plus_maglev_pick(benchmark, impl: Implementation) -> None:  # type: ignore[no-untyped-def]
    _, policy, maglev, requests = _setup(impl)
    hash_, pick = policy.hash, maglev.pick
    pairs = list(zip(requests, USERS, strict=True))

    def run() -> None:
        for request, key in pairs:
            hash_(request)
            pick(key)

    benchmark(run)


@pytest.mark.benchmark(group="router route_hash x1000")
def test_router_route_hash_sticky_maglev(benchmark, impl: Implementation) -> None:  # type: ignore[no-untyped-def]
    router, _, _, _ = _setup(impl)
    benchmark(_call_all(router.route_hash, VALUES_1K))


@pytest.mark.benchmark(group="router route_many 1M")
def test_router_route_many_sticky_maglev_1m(benchmark, impl: Implementation) -> None:  # type: ignore[no-untyped-def]
    router, _, _, _ = _setup(impl)
    benchmark(router.route_many, VALUES_1M)


@pytest.mark.benchmark(group="router with_weights")
def test_router_with_weights(benchmark, impl: Implementation) -> None:  # type: ignore[no-untyped-def]
    router, _, _, _ = _setup(impl)
    benchmark(router.with_weights, {"safe": 95, "risky": 5})


# ---- Router.with_weights / with_hosts by fleet size ------------------------------------
# with_weights reuses every table and per-subset lookup: its cost is O(subsets),
# independent of the host count.  with_hosts re-selects the members (one pass
# over the hosts) and rebuilds only the subsets whose member tuple changed.


def _big_router(impl: Implementation, n_hosts: int, n_subsets: int) -> tuple[Router, list[Host]]:
    """Return a sticky ring-hash router over *n_hosts* hosts in *n_subsets* subsets."""
    hosts = [
        Host(f"10.{i >> 16}.{(i >> 8) & 255}.{i & 255}:80", labels={"s": f"s{i % n_subsets}"})
        for i in range(n_hosts)
    ]
    pol = impl.module("policy")
    router = Router(
        hosts,
        subsets={f"s{j}": {"s": f"s{j}"} for j in range(n_subsets)},
        weights=_picker(impl, {f"s{j}": 1 + j for j in range(n_subsets)}),
        policy=pol.HashPolicy(pol.Header("x-user")),
        balancer=impl.module("ring").RingHash,
        balancer_options={"min_ring_size": 64, "max_ring_size": 1024},
    )
    return router, hosts


@pytest.mark.benchmark(group="router with_weights by size")
@pytest.mark.parametrize(("n_hosts", "n_subsets"), [(100, 2), (20_000, 50)])
def test_router_with_weights_by_size(
    benchmark, impl: Implementation, n_hosts: int, n_subsets: int
) -> None:  # type: ignore[no-untyped-def]
    router, _ = _big_router(impl, n_hosts, n_subsets)
    benchmark(router.with_weights, {f"s{j}": 2 + j for j in range(n_subsets)})


@pytest.mark.benchmark(group="router with_hosts by size")
@pytest.mark.parametrize(("n_hosts", "n_subsets"), [(100, 2), (20_000, 50)])
def test_router_with_hosts_one_changed_by_size(
    benchmark, impl: Implementation, n_hosts: int, n_subsets: int
) -> None:  # type: ignore[no-untyped-def]
    """One host replaced: one subset's table is rebuilt, every other one is reused."""
    router, hosts = _big_router(impl, n_hosts, n_subsets)
    hosts[0] = Host("10.255.255.254:80", labels={"s": "s0"})
    benchmark(router.with_hosts, hosts)


# ---- Router defences: key_seed and bounded load (issue 10) ---------------------------


def _defence_router(impl: Implementation, **options: int) -> tuple[list[Any], Router]:
    """The 99/1 header + Maglev router of this group, with one defence option."""
    _, _, _, requests = _setup(impl)
    pol = impl.module("policy")
    router = Router(
        FLEET,
        subsets=SUBSETS,
        weights=_picker(impl, {"safe": 99, "risky": 1}),
        policy=pol.HashPolicy(pol.Header("x-user")),
        balancer=impl.module("maglev").Maglev,
        **options,
    )
    return requests, router


@pytest.mark.benchmark(group="router defences header+maglev x1000")
def test_router_route_sticky_key_seed(benchmark, impl: Implementation) -> None:  # type: ignore[no-untyped-def]
    """route() with key_seed: the same hot path, the policy hashes with a seed."""
    requests, router = _defence_router(impl, key_seed=0x5EED)
    benchmark(_call_all(router.route, requests))


@pytest.mark.benchmark(group="router defences header+maglev x1000")
def test_router_acquire_release_bounded_150(benchmark, impl: Implementation) -> None:  # type: ignore[no-untyped-def]
    """acquire() + release() with hash_balance_factor=150, one request in flight at a time."""
    requests, router = _defence_router(impl, hash_balance_factor=150)
    acquire = router.acquire

    def run() -> None:
        for r in requests:
            acquire(r).release()

    benchmark(run)


@pytest.mark.benchmark(group="router defences header+maglev x1000")
def test_router_route_bounded_150_peek(benchmark, impl: Implementation) -> None:  # type: ignore[no-untyped-def]
    """route() with hash_balance_factor=150: a peek at bounded load's choice (90-host subset)."""
    requests, router = _defence_router(impl, hash_balance_factor=150)
    benchmark(_call_all(router.route, requests))
