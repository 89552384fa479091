"""Properties of :mod:`hashlb.diff`: the minimum is a lower bound, sticky routing attains it.

* For any two routings of any traffic, ``moved >= minimum``, ``moved =
  subset_changed + pod_changed`` and every share lies in [0, 1].
* Sticky mode (hashlb's :class:`~hashlb.Router`, two subsets, canary last)
  moves exactly the minimum for any weight change: ``excess == 0``.
* A ring whose surviving pods keep their entries (Envoy's ring gives each
  pod ``ceil(minimumRingSize / pods)`` entries: the test keeps it fixed)
  moves exactly the minimum when a pod is removed, and when pods are added.
* A rollout (:func:`~hashlb.diff.rollout_counts`) keeps every step within
  the Deployment's bounds: ``old + new >= replicas - maxUnavailable`` (every
  pod counted is ready), ``old + new <= replicas + maxSurge``, one scale-up or
  one scale-down a step, and the last step has only new pods; the host lists
  of :func:`~hashlb.diff.rollout_steps` keep the other subsets as they are.
* The batch engine gives :func:`~hashlb.diff.diff_steps`'s figures for any
  placements and users, and :meth:`~hashlb.diff.DiffReport.to_arrow` holds
  the JSON's matrix.
"""

from __future__ import annotations

import itertools
from typing import Any

import pytest
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
        gap = report.moved - report.minimum  # float noise (under 1e-12) is no excess
        assert report.excess == (gap if gap >= 1e-12 else 0.0)
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


# --------------------------------------------------------------------------
# Rollouts, the batch engine and to_arrow.

rollout_value = st.one_of(
    st.integers(0, 12), st.integers(0, 150).map(lambda p: f"{p}%"), st.integers(0, 12).map(str)
)


def _count(value: int | str, replicas: int, up: bool) -> int:
    """The value as pods, rounded as Kubernetes rounds it (independent of the library)."""
    if isinstance(value, str) and value.endswith("%"):
        exact = int(value[:-1]) * replicas
        return -(-exact // 100) if up else exact // 100
    return int(value)


@settings(max_examples=300, deadline=None)
@given(st.integers(0, 40), rollout_value, rollout_value)
def test_rollout_keeps_the_deployment_bounds(replicas: int, surge: Any, unavailable: Any) -> None:
    from hashlb.diff import rollout_counts

    if str(surge).rstrip("%") == "0" and str(unavailable).rstrip("%") == "0":
        with pytest.raises(ValueError, match="may not both be 0"):
            rollout_counts(replicas, surge, unavailable)
        return
    max_surge = _count(surge, replicas, True)
    max_unavailable = _count(unavailable, replicas, False)
    if max_surge == 0 and max_unavailable == 0:
        max_unavailable = 1
    states = rollout_counts(replicas, surge, unavailable)
    assert states[0] == (replicas, 0)
    assert states[-1] == (0, replicas)  # the last step has only new pods
    for (old, new), (old2, new2) in itertools.pairwise(states):
        assert (old2 == old and new2 > new) or (old2 < old and new2 == new)  # one action a step
    for old, new in states:
        assert old + new >= replicas - max_unavailable  # every pod counted is available
        assert old + new <= replicas + max_surge
        assert 0 <= new <= replicas


@settings(max_examples=60, deadline=None)
@given(st.integers(1, 6), st.integers(0, 3), rollout_value, rollout_value)
def test_rollout_steps_keep_the_bounds_on_hosts(
    replicas: int, others: int, surge: Any, unavailable: Any
) -> None:
    from hashlb.diff import rollout_steps

    if str(surge).rstrip("%") == "0" and str(unavailable).rstrip("%") == "0":
        return  # refused, as above
    hosts = [Host(f"10.0.0.{i}:80", labels={"v": "a"}) for i in range(replicas)]
    hosts += [Host(f"10.0.1.{i}:80", labels={"v": "b"}) for i in range(others)]
    steps = rollout_steps(hosts, {"v": "a"}, surge, unavailable)
    old = set(hosts[:replicas])
    for step in steps:
        assert [h for h in step if h.labels["v"] == "b"] == hosts[replicas:]
        assert len({h.address for h in step}) == len(step)
    assert not old & set(steps[-1])
    assert len([h for h in steps[-1] if h.labels["v"] == "a"]) == replicas


paths_strategy = st.integers(1, 60).flatmap(
    lambda n: st.tuples(
        st.lists(st.integers(0, 5), min_size=n, max_size=n),
        st.lists(st.lists(st.integers(0, 5), min_size=n, max_size=n), min_size=2, max_size=4),
    )
)


@settings(max_examples=150, deadline=None)
@given(paths_strategy)
def test_batch_engine_matches_diff_steps(data: Any) -> None:
    """diff_arrays over placement ids == diff_steps over the same placements, any users."""
    import numpy as np

    from hashlb._diffbatch import diff_arrays

    users, paths = data
    names = [("s", "p"), ("s", "q"), ("t", "p"), ("t", None), (None, None), ("u", "r")]
    routes = [lambda i, k=k: names[paths[k][i]] for k in range(len(paths))]
    slow = diff_steps(routes, [(u, i) for i, u in enumerate(users)])
    fast = diff_arrays([np.array(p) for p in paths], names, np.array(users))
    for x, y in zip(slow, fast, strict=True):
        for f in ("users", "requests", "requests_moved", "requests_subset_changed"):
            assert getattr(x, f) == getattr(y, f)
        for f in ("moved", "subset_changed", "pod_changed", "minimum", "excess"):
            assert abs(getattr(x, f) - getattr(y, f)) < 1e-9
        assert x.matrix == y.matrix
        assert x.matrix_users.keys() == y.matrix_users.keys()
        assert all(abs(x.matrix_users[k] - y.matrix_users[k]) < 1e-9 for k in x.matrix_users)
        assert x.cumulative == y.cumulative


@settings(max_examples=80, deadline=None)
@given(st.lists(st.tuples(st.integers(0, 6), placements, placements), min_size=1, max_size=40))
def test_to_arrow_agrees_with_the_json(rows: list[Any]) -> None:
    traffic = [(user, i) for i, (user, *_rest) in enumerate(rows)]
    report = diff(lambda i: rows[i][1], lambda i: rows[i][2], traffic)
    table = report.to_arrow()
    doc = report.as_json()
    assert table.num_rows == len(doc["matrix"])
    for row, cell in zip(table.to_pylist(), doc["matrix"], strict=True):
        assert (row["from_subset"], row["from_endpoint"]) == (
            cell["from"]["subset"],
            cell["from"]["pod"],
        )
        assert (row["to_subset"], row["to_endpoint"]) == (cell["to"]["subset"], cell["to"]["pod"])
        assert row["requests"] == cell["requests"] and row["users"] == cell["users"]
        assert row["moved"] == (
            (row["from_subset"], row["from_endpoint"]) != (row["to_subset"], row["to_endpoint"])
        )
        assert abs(row["share"] - cell["users"] / report.users) < 1e-12
    assert abs(sum(r["share"] for r in table.to_pylist() if r["moved"]) - report.moved) < 1e-9
