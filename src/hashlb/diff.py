"""What a configuration change does to users: route the same traffic twice and compare.

:func:`diff` sends every request of one traffic sample through two routing
functions (configuration A and configuration B) and returns a
:class:`DiffReport`: which users changed subset, which changed pod within
the same subset, the from -> to matrix, and the **minimum**: the fewest users
any routing scheme could move and still give configuration B's placement on
this traffic.  :func:`diff_steps` does the same for a sequence of
configurations (a ramp), one report per step plus the cumulative share of
users who have seen more than one pod or more than one subset so far.

A routing function takes one request and returns its *placement*, the pair
``(subset, pod)`` (either may be None: no route, no host).  A user's
requests all count: each request weighs ``1 / (requests of its user)``, so
every share below is a share of users in [0, 1] (with one request per user,
or a user that always lands on one pod, it is the plain share of users).

Definitions (``w(r)`` is a request's weight, ``U`` the number of users):

* ``moved``: ``sum w(r)`` over requests whose placement under B differs from A,
  over ``U``; ``subset_changed``: those whose subset differs;
  ``pod_changed``: same subset, another pod (so ``moved = subset_changed + pod_changed``).
* ``minimum``: the total-variation distance between the distributions of
  the traffic under A and under B, ``sum over outcomes o of max(0, mass_A(o) -
  mass_B(o)) / U``, where an outcome is a subset for the pods that get
  traffic under both A and B, and the pod itself for a pod that gets traffic
  under only one of them.  So for a weight change it is the distance of the
  two subset distributions; for pods removed, the share of users the removed
  pods held; for pods added, the share the new pods take; for a pod turned
  unhealthy (outside panic), the share it held; for a change that does
  several of these, their combination.  It is measured on this traffic, so
  ``moved >= minimum`` always holds, and a routing that keeps every user it
  can (sticky mode for weight changes and removals) has ``excess == 0``
  exactly.
* ``excess = moved - minimum``: what a scheme with the fewest moves saves.
* ``configured_minimum`` (when given the configured placement shares of A and
  B, see :func:`tv_distance`): the same distance between the shares the
  configurations promise (weights, even shares of the endpoints), free of
  sampling noise.

>>> def a(req):
...     return ("stable", f"pod-{req % 2}")
>>> def b(req):
...     return ("stable", f"pod-{req % 3}")
>>> report = diff(a, b, ((u, u) for u in range(6)))
>>> report.users, report.moved, report.minimum
(6, 0.6666666666666666, 0.3333333333333333)
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Hashable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

__all__ = (
    "DiffReport",
    "Placement",
    "StepCounts",
    "diff",
    "diff_steps",
    "tv_distance",
)

#: Where one request went: ``(subset, pod)``.
Placement = tuple[str | None, str | None]

#: A routing function: request -> placement.
Route = Callable[[Any], Placement]


def tv_distance(p: Mapping[Any, float], q: Mapping[Any, float]) -> float:
    """Return the total-variation distance ``sum max(0, p[x] - q[x])`` of two distributions.

    *p* and *q* map outcomes to shares (each summing to 1, or to the same
    total); the result is the least share of *p*'s mass that must move to
    make it *q*.

    >>> tv_distance({"stable": 1.0}, {"stable": 0.99, "canary": 0.01})
    0.010000000000000009
    """
    return sum(max(0.0, v - q.get(k, 0.0)) for k, v in p.items())


@dataclass(frozen=True)
class StepCounts:
    """Cumulative stickiness after a step: shares of users who have seen more than one ..."""

    #: ... pod (placement), over the configurations so far.
    several_pods: float
    #: ... subset (version), over the configurations so far.
    several_subsets: float


@dataclass
class DiffReport:
    """What changed between two routings of the same traffic (see :mod:`hashlb.diff`)."""

    users: int
    requests: int
    #: Shares of users in [0, 1] (each request weighs 1 / its user's requests).
    moved: float
    subset_changed: float
    pod_changed: float
    minimum: float
    #: Request counts.
    requests_moved: int
    requests_subset_changed: int
    requests_pod_changed: int
    #: ``(placement under A, placement under B)`` -> requests.
    matrix: dict[tuple[Placement, Placement], int] = field(default_factory=dict)
    #: The distance between the configured shares, when given (:func:`tv_distance`).
    configured_minimum: float | None = None
    #: Cumulative figures after this step (:func:`diff_steps`).
    cumulative: StepCounts | None = None

    @property
    def excess(self) -> float:
        """``moved - minimum`` (never negative)."""
        return max(0.0, self.moved - self.minimum)

    def subset_matrix(self) -> dict[tuple[str | None, str | None], int]:
        """Return ``(subset under A, subset under B)`` -> requests."""
        out: Counter[tuple[str | None, str | None]] = Counter()
        for (pa, pb), n in self.matrix.items():
            out[(pa[0], pb[0])] += n
        return dict(out)

    def as_json(self) -> dict[str, Any]:
        """Return the report as a JSON-ready dict (shares of users in [0, 1])."""
        out: dict[str, Any] = {name: getattr(self, name) for name in _JSON_FIELDS}
        out.update(
            matrix=[
                {
                    "from": {"subset": pa[0], "pod": pa[1]},
                    "to": {"subset": pb[0], "pod": pb[1]},
                    "requests": n,
                }
                for (pa, pb), n in sorted(self.matrix.items(), key=_matrix_order)
            ]
        )
        if self.cumulative is not None:
            out["several_pods_so_far"] = self.cumulative.several_pods
            out["several_subsets_so_far"] = self.cumulative.several_subsets
        return out


#: The report's figures in ``--json``, in this order (each an attribute of the report).
_JSON_FIELDS = (
    "users",
    "requests",
    "moved",
    "subset_changed",
    "pod_changed",
    "minimum",
    "excess",
    "configured_minimum",
    "requests_moved",
    "requests_subset_changed",
    "requests_pod_changed",
)


def _unit(x: float) -> float:
    """Clamp a share to [0, 1] (sums of 1 / n weights can round just past 1)."""
    return min(1.0, max(0.0, x))


def _minimum(a: Sequence[float], b: Sequence[float], subset_of: Sequence[str | None]) -> float:
    """Return the distance of *a* and *b* with the pods both hold merged per subset.

    A placement that has traffic under both configurations counts as its
    subset (``(subset, *)``); one that has traffic under only one (a pod
    removed, added or turned unhealthy, a subset started or stopped) counts
    on its own.  Merging outcomes never raises a total-variation distance, so
    the result stays a lower bound of what moved, and it is free of the
    noise of how a remap reshuffles users among pods both sides use.
    """
    left: dict[Any, float] = {}
    right: dict[Any, float] = {}
    for i, (x, y) in enumerate(zip(a, b, strict=True)):
        key: Any = ("subset", subset_of[i]) if x > 0 and y > 0 else ("pod", i)
        left[key] = left.get(key, 0.0) + x
        right[key] = right.get(key, 0.0) + y
    return tv_distance(left, right)


def _matrix_order(item: tuple[tuple[Placement, Placement], int]) -> tuple[Any, ...]:
    (pa, pb), n = item
    return (-n, str(pa), str(pb))


def diff(
    route_a: Route,
    route_b: Route,
    traffic: Iterable[tuple[Hashable, Any]],
    *,
    configured: tuple[Mapping[Placement, float], Mapping[Placement, float]] | None = None,
) -> DiffReport:
    """Route every ``(user, request)`` of *traffic* under A and under B; compare.

    *configured*, when given, is the pair of placement shares the two
    configurations promise; its distance is the report's ``configured_minimum``.
    """
    (report,) = diff_steps(
        [route_a, route_b], traffic, configured=[configured] if configured else None
    )
    report.cumulative = None
    return report


def diff_steps(
    routes: Sequence[Route],
    traffic: Iterable[tuple[Hashable, Any]],
    *,
    configured: Sequence[tuple[Mapping[Placement, float], Mapping[Placement, float]] | None]
    | None = None,
    max_users: int | None = None,
) -> list[DiffReport]:
    """Route the traffic under every configuration of *routes*; one report per consecutive pair.

    Each report's :attr:`~DiffReport.cumulative` says which share of users has
    seen more than one pod / subset over configurations ``0 .. k``.
    *configured* gives, per step, the configured shares (or None).
    *max_users* bounds the distinct users kept in memory (ValueError beyond).

    :raises ValueError: fewer than two routes, or more than *max_users* users.
    """
    if len(routes) < 2:
        raise ValueError(f"diff_steps needs at least two routes, got {len(routes)}")
    ids: dict[Placement, int] = {}
    names: list[Placement] = []
    # user -> [path, requests] while all its requests took one path (a tuple of
    # placement ids, one per route), else a Counter of its paths
    users: dict[Hashable, Any] = {}
    total = 0
    for user, req in traffic:
        placed = [route(req) for route in routes]
        try:
            path = tuple([ids[p] for p in placed])
        except KeyError:
            for p in placed:
                if p not in ids:
                    ids[p] = len(names)
                    names.append(p)
            path = tuple([ids[p] for p in placed])
        seen = users.get(user)
        if seen is None:
            if max_users is not None and len(users) >= max_users:
                raise ValueError(f"more than {max_users} distinct users in the traffic")
            users[user] = [path, 1]
        elif type(seen) is list:
            if seen[0] == path:
                seen[1] += 1
            else:
                users[user] = Counter({seen[0]: seen[1], path: 1})
        else:
            seen[path] += 1
        total += 1
    # users with the same paths and counts contribute alike: group them
    groups: Counter[tuple[tuple[tuple[int, ...], int], ...]] = Counter()
    for seen in users.values():
        groups[((seen[0], seen[1]),) if type(seen) is list else tuple(sorted(seen.items()))] += 1
    steps = len(routes) - 1
    subset_of = [p[0] for p in names]
    n_users = len(users)
    reports = []
    several_pods = [0] * steps
    several_subsets = [0] * steps
    moved = [0.0] * steps
    sub = [0.0] * steps
    r_moved = [0] * steps
    r_sub = [0] * steps
    mass: list[list[float]] = [[0.0] * len(names) for _ in routes]
    matrices: list[Counter[tuple[int, int]]] = [Counter() for _ in range(steps)]
    for profile, many in groups.items():
        n = sum(c for _, c in profile)
        w = many / n
        for path, c in profile:
            wc = w * c
            cm = c * many
            for k, i in enumerate(path):
                mass[k][i] += wc
            for k in range(steps):
                a, b = path[k], path[k + 1]
                matrices[k][(a, b)] += cm
                if a != b:
                    moved[k] += wc
                    r_moved[k] += cm
                    if subset_of[a] != subset_of[b]:
                        sub[k] += wc
                        r_sub[k] += cm
        # cumulative: distinct placements / subsets over configurations 0 .. k+1
        pods: set[int] = set()
        subs: set[str | None] = set()
        for k in range(len(routes)):
            for path, _c in profile:
                pods.add(path[k])
                subs.add(subset_of[path[k]])
            if k:
                several_pods[k - 1] += many * (len(pods) > 1)
                several_subsets[k - 1] += many * (len(subs) > 1)
    u = max(n_users, 1)
    for k in range(steps):
        minimum = _minimum(mass[k], mass[k + 1], subset_of) / u
        # moved >= minimum holds exactly; keep it (and [0, 1]) so under float rounding too
        mv = _unit(moved[k] / u)
        sc = min(_unit(sub[k] / u), mv)
        conf = configured[k] if configured else None
        reports.append(
            DiffReport(
                users=n_users,
                requests=total,
                moved=mv,
                subset_changed=sc,
                pod_changed=mv - sc,
                minimum=min(_unit(minimum), mv),
                requests_moved=r_moved[k],
                requests_subset_changed=r_sub[k],
                requests_pod_changed=r_moved[k] - r_sub[k],
                matrix={(names[a], names[b]): n for (a, b), n in matrices[k].items()},
                configured_minimum=tv_distance(*conf) if conf else None,
                cumulative=StepCounts(_unit(several_pods[k] / u), _unit(several_subsets[k] / u)),
            )
        )
    return reports
