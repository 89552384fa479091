"""Properties of :mod:`hashlb.diff`: the minimum is a lower bound, sticky routing attains it.

* For any two routings of any traffic, ``moved >= minimum``, ``moved =
  subset_changed + pod_changed`` and every share lies in [0, 1].
* Sticky mode (hashlb's :class:`~hashlb.Router`, two subsets, canary last)
  moves exactly the minimum for any weight change: ``excess == 0``.
* A ring whose surviving pods keep their entries (Envoy's ring gives each
  pod ``ceil(minimumRingSize / pods)`` entries: the test keeps it fixed)
  moves exactly the minimum when a pod is removed, and when pods are added.
"""

from __future__ import annotations

from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from hashlb import Host
from hashlb.diff import diff, diff_steps

from ._impl import Implementation

placements = st.tuples(st.sampled_from(["s", "t", None]), st.sampled_from(["p", "q", "r", None]))


@settings(max_examples=200, deadline=None)
@given(
    st.lists(
        st.tuples(st.integers(0, 6), placements, placements, placements),
        min_size=1,
        max_size=40,
    )
)
def test_moved_is_never_below_the_minimum(rows: list[Any]) -> None:
    traffic = [(user, i) for i, (user, *_rest) in enumerate(rows)]
    routes = [lambda i, k=k: rows[i][1 + k] for k in range(3)]
    for report in diff_steps(routes, traffic):
        assert 0.0 <= report.minimum <= report.moved <= 1.0
        assert report.excess == report.moved - report.minimum
        assert abs(report.subset_changed + report.pod_changed - report.moved) < 1e-9
        assert report.requests_subset_changed + report.requests_pod_changed == (
            report.requests_moved
        )
        assert sum(report.matrix.values()) == len(rows)
        assert report.cumulative is not None
        assert report.cumulative.several_subsets <= report.cumulative.several_pods


def _router(impl: Implementation, canary: int) -> Any:
    from hashlb import Router

    hosts = [
        Host(f"10.0.0.{i}:80", labels={"v": "stable" if i < 5 else "canary"}) for i in range(8)
    ]
    picker = impl.module("subset").WeightedSubsetPicker(
        {"stable": 100 - canary, "canary": canary}, mode="sticky", seed=0
    )
    return Router(
        hosts,
        subsets={"stable": {"v": "stable"}, "canary": {"v": "canary"}},
        weights=picker,
        policy=None,
        balancer=impl.module("ring").RingHash,
        mode="sticky",
    )


def _sticky(router: Any) -> Any:
    def route(h: int) -> tuple[str, str]:
        r = router.route_hash(h)
        return (r.subset, r.host.address)

    return route


keys = st.lists(st.integers(0, 2**64 - 1), min_size=1, max_size=300, unique=True)


@settings(max_examples=30, deadline=None)
@given(st.integers(0, 100), st.integers(0, 100), keys)
def test_sticky_weight_change_moves_exactly_the_minimum(
    impl: Implementation, before: int, after: int, hashes: list[int]
) -> None:
    a, b = _router(impl, before), _router(impl, after)
    report = diff(_sticky(a), _sticky(b), [(h, h) for h in hashes])
    assert report.excess == 0.0
    assert report.pod_changed == 0.0
    assert report.moved == report.subset_changed == report.minimum


def _ring(impl: Implementation, hosts: int, entries: int, pods: int) -> Any:
    """A ring of the first *pods* of *hosts* addresses, *entries* ring entries a pod."""
    ring = impl.module("ring").RingHash(
        [Host(f"10.1.0.{i}:80") for i in range(pods)], min_ring_size=entries * pods
    )

    def route(h: int) -> tuple[str, str]:
        return ("s", ring.lookup(h).address)

    return route


@settings(max_examples=30, deadline=None)
@given(st.integers(2, 9), st.integers(1, 40), st.integers(1, 3), keys)
def test_ring_removal_and_addition_move_exactly_the_minimum(
    impl: Implementation, pods: int, entries: int, added: int, hashes: list[int]
) -> None:
    traffic = [(h, h) for h in hashes]
    full = _ring(impl, pods + added, entries, pods + added)
    fewer = _ring(impl, pods + added, entries, pods)
    removal = diff(full, fewer, traffic)
    addition = diff(fewer, full, traffic)
    for report in (removal, addition):
        assert report.excess == 0.0
        assert report.moved == report.minimum
