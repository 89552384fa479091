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

import math
from collections import Counter
from collections.abc import Callable, Hashable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from ._diffstream import DiffTally, diff_columns

if TYPE_CHECKING:
    from ._types import Host

__all__ = (
    "DiffReport",
    "DiffTally",
    "Placement",
    "StepCounts",
    "diff",
    "diff_columns",
    "diff_many",
    "diff_steps",
    "resolve_rollout",
    "rollout_counts",
    "rollout_steps",
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
    return math.fsum(max(0.0, v - q.get(k, 0.0)) for k, v in p.items())


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
    #: ``(placement under A, placement under B)`` -> users (each request weighs
    #: ``1 / (requests of its user)``, so a user split over cells counts in part).
    matrix_users: dict[tuple[Placement, Placement], float] = field(default_factory=dict)
    #: The distance between the configured shares, when given (:func:`tv_distance`).
    configured_minimum: float | None = None
    #: Cumulative figures after this step (:func:`diff_steps`).
    cumulative: StepCounts | None = None

    @property
    def excess(self) -> float:
        """``moved - minimum`` (never negative; a float difference under 1e-12 is 0)."""
        excess = self.moved - self.minimum
        return excess if excess >= 1e-12 else 0.0

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
                    "users": self.matrix_users.get((pa, pb), 0.0),
                }
                for (pa, pb), n in sorted(self.matrix.items(), key=_matrix_order)
            ]
        )
        if self.cumulative is not None:
            out["several_pods_so_far"] = self.cumulative.several_pods
            out["several_subsets_so_far"] = self.cumulative.several_subsets
        return out

    def to_arrow(self) -> Any:
        """Return the from -> to matrix as a :class:`pyarrow.Table`, one row per cell.

        Columns: ``from_subset``, ``from_endpoint``, ``to_subset``,
        ``to_endpoint`` (strings, null for no route / no host), ``moved``
        (the placements differ), ``subset_changed``, ``users`` (float: a user
        whose requests took several cells counts in part), ``requests`` and
        ``share`` (users over :attr:`users`), in the order of :meth:`as_json`'s
        matrix.  The report's figures (:meth:`as_json` without the matrix) are
        the schema's metadata, under ``b"hashlb.diff"`` as JSON.

        :raises ImportError: pyarrow is not installed (``pip install "hashlb[columns]"``).

        >>> from hashlb.diff import diff
        >>> def a(req):
        ...     return ("stable", f"pod-{req % 2}")
        >>> def b(req):
        ...     return ("stable", f"pod-{req % 3}")
        >>> table = diff(a, b, ((u, u) for u in range(6))).to_arrow()
        >>> table.column_names[:4]
        ['from_subset', 'from_endpoint', 'to_subset', 'to_endpoint']
        >>> table.num_rows, sum(table.column("requests").to_pylist())
        (6, 6)
        """
        import json

        try:
            import pyarrow as pa
        except ImportError:
            raise ImportError(
                'DiffReport.to_arrow needs pyarrow: pip install "hashlb[columns]"'
            ) from None
        cells = sorted(self.matrix.items(), key=_matrix_order)
        users = [self.matrix_users.get(k, 0.0) for k, _ in cells]
        u = max(self.users, 1)
        figures = {k: v for k, v in self.as_json().items() if k != "matrix"}
        schema = pa.schema(
            [
                ("from_subset", pa.string()),
                ("from_endpoint", pa.string()),
                ("to_subset", pa.string()),
                ("to_endpoint", pa.string()),
                ("moved", pa.bool_()),
                ("subset_changed", pa.bool_()),
                ("users", pa.float64()),
                ("requests", pa.int64()),
                ("share", pa.float64()),
            ],
            metadata={b"hashlb.diff": json.dumps(figures).encode()},
        )
        columns = [
            [a[0] for (a, _), _ in cells],
            [a[1] for (a, _), _ in cells],
            [b[0] for (_, b), _ in cells],
            [b[1] for (_, b), _ in cells],
            [a != b for (a, b), _ in cells],
            [a[0] != b[0] for (a, b), _ in cells],
            users,
            [n for _, n in cells],
            [x / u for x in users],
        ]
        return pa.Table.from_arrays(
            [pa.array(c, type=f.type) for c, f in zip(columns, schema, strict=True)],
            schema=schema,
        )


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
    left: dict[Any, list[float]] = {}
    right: dict[Any, list[float]] = {}
    for i, (x, y) in enumerate(zip(a, b, strict=True)):
        key: Any = ("subset", subset_of[i]) if x > 0 and y > 0 else ("pod", i)
        left.setdefault(key, []).append(x)
        right.setdefault(key, []).append(y)
    # fsum: the same shares give the same distance whatever order the placements came in
    return tv_distance(
        {k: math.fsum(v) for k, v in left.items()}, {k: math.fsum(v) for k, v in right.items()}
    )


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
    # users with the same paths and counts contribute alike: group them
    groups: Counter[tuple[tuple[tuple[int, ...], int], ...]] = Counter()
    for seen in users.values():
        groups[((seen[0], seen[1]),) if type(seen) is list else tuple(sorted(seen.items()))] += 1
    steps = len(routes) - 1
    subset_of = [p[0] for p in names]
    several_pods = [0] * steps
    several_subsets = [0] * steps
    # (path, requests of its user) -> requests: all the shares need (see path_reports)
    tally: Counter[tuple[tuple[int, ...], int]] = Counter()
    for profile, many in groups.items():
        n = sum(c for _, c in profile)
        for path, c in profile:
            tally[(path, n)] += c * many
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
    return path_reports(
        names, tally, len(users), several_pods, several_subsets, configured=configured
    )


def _shares(sums: Mapping[int, int]) -> float:
    """Return ``sum over n of sums[n] / n``: requests of users with n requests, weighed 1 / n.

    Each term is one rounded division and :func:`math.fsum` rounds their sum
    once, so the result depends on the integer sums alone, not on the order
    requests, users or placements came in: any two paths that count the same
    requests (request by request, in batches, from a file) give the same float.
    """
    return math.fsum(s / n for n, s in sums.items())


def path_reports(
    names: Sequence[Placement],
    tally: Mapping[tuple[tuple[int, ...], int], int],
    users: int,
    several_pods: Sequence[int],
    several_subsets: Sequence[int],
    *,
    configured: Sequence[tuple[Mapping[Placement, float], Mapping[Placement, float]] | None]
    | None = None,
) -> list[DiffReport]:
    """Return :func:`diff_steps`'s reports from the requests counted by path.

    *tally* maps ``(path, n)`` to the requests that took *path* (one
    placement id per configuration, indexing *names*) and whose user made
    *n* requests in all; *users* is the number of users, *several_pods* /
    *several_subsets* per step the users who have seen more than one
    placement / subset over configurations ``0 .. k + 1``.  Every share is a
    sum of ``requests / n`` (see :func:`_shares`), so the figures are the same
    floats whatever order the counts were made in.
    """
    steps = len(several_pods)
    subset_of = [p[0] for p in names]
    total = sum(tally.values())
    moved: list[dict[int, int]] = [{} for _ in range(steps)]
    sub: list[dict[int, int]] = [{} for _ in range(steps)]
    r_moved = [0] * steps
    r_sub = [0] * steps
    mass: list[list[dict[int, int]]] = [[{} for _ in names] for _ in range(steps + 1)]
    matrices: list[Counter[tuple[int, int]]] = [Counter() for _ in range(steps)]
    cells: list[dict[tuple[int, int], dict[int, int]]] = [{} for _ in range(steps)]
    for (path, n), c in tally.items():
        for k, i in enumerate(path):
            m = mass[k][i]
            m[n] = m.get(n, 0) + c
        for k in range(steps):
            a, b = path[k], path[k + 1]
            matrices[k][(a, b)] += c
            cell = cells[k].setdefault((a, b), {})
            cell[n] = cell.get(n, 0) + c
            if a != b:
                moved[k][n] = moved[k].get(n, 0) + c
                r_moved[k] += c
                if subset_of[a] != subset_of[b]:
                    sub[k][n] = sub[k].get(n, 0) + c
                    r_sub[k] += c
    u = max(users, 1)
    shares = [[_shares(m) for m in per] for per in mass]
    reports = []
    for k in range(steps):
        minimum = _minimum(shares[k], shares[k + 1], subset_of) / u
        # moved >= minimum holds exactly; keep it (and [0, 1]) so under float rounding too
        mv = _unit(_shares(moved[k]) / u)
        sc = min(_unit(_shares(sub[k]) / u), mv)
        conf = configured[k] if configured else None
        reports.append(
            DiffReport(
                users=users,
                requests=total,
                moved=mv,
                subset_changed=sc,
                pod_changed=mv - sc,
                minimum=min(_unit(minimum), mv),
                requests_moved=r_moved[k],
                requests_subset_changed=r_sub[k],
                requests_pod_changed=r_moved[k] - r_sub[k],
                matrix={(names[a], names[b]): n for (a, b), n in matrices[k].items()},
                matrix_users={(names[a], names[b]): _shares(x) for (a, b), x in cells[k].items()},
                configured_minimum=tv_distance(*conf) if conf else None,
                cumulative=StepCounts(_unit(several_pods[k] / u), _unit(several_subsets[k] / u)),
            )
        )
    return reports


def diff_many(
    routers: Sequence[Any],
    key_hashes: Any,
    *,
    users: Any = None,
    configured: Sequence[tuple[Mapping[Placement, float], Mapping[Placement, float]] | None]
    | None = None,
) -> list[DiffReport]:
    """Route a batch of requests under every router of *routers*; one report per consecutive pair.

    The batch form of :func:`diff_steps` for :class:`hashlb.Router` objects:
    *key_hashes* are the requests' hashes under the routers' one-method key
    policy (``router.policy.hash(request)``, e.g. :func:`hashlb.xxh64_many` of
    the header values), and each router folds them into its own route hash
    (Istio's copies in envoy mode) and routes them all at once.  A placement
    is ``(subset, host address)``.  *users* gives the user of each request
    (default: each request is its own user).  Envoy mode draws its random
    weighted-cluster values from each router's ``rng``, as many routes in turn
    would: routers built with the same seed give every request the same value
    (routers made by ``with_weights`` share one ``rng``, so they do not).

    :raises ValueError: fewer than two routers, a router whose policy has
        several methods or a seed, or arrays of different lengths.
    :raises ImportError: numpy is not installed (``pip install "hashlb[columns]"``).

    >>> from hashlb import Header, HashPolicy, Host, Router, xxh64_many
    >>> from hashlb.diff import diff_many
    >>> hosts = [Host(f"10.0.0.{i}:80", labels={"v": "a" if i < 3 else "b"}) for i in range(4)]
    >>> subsets = {"a": {"v": "a"}, "b": {"v": "b"}}
    >>> policy = HashPolicy(Header("x-user"))
    >>> before = Router(hosts, subsets=subsets, weights={"a": 100, "b": 0}, policy=policy)
    >>> after = before.with_weights({"a": 90, "b": 10})
    >>> keys = xxh64_many([f"user-{i}" for i in range(10000)])
    >>> (report,) = diff_many([before, after], keys)
    >>> report.excess  # sticky mode: only the users the canary must take move
    0.0
    >>> round(report.minimum, 2)
    0.1
    """
    from ._diffbatch import PlacementIds, diff_arrays, require_numpy, router_placements

    np = require_numpy()
    if len(routers) < 2:
        raise ValueError(f"diff_many needs at least two routers, got {len(routers)}")
    keys = np.asarray(key_hashes, dtype=np.uint64)
    ids = PlacementIds()
    paths = [router_placements(r, keys, ids) for r in routers]
    return diff_arrays(paths, ids.names, users, configured=configured)


# --------------------------------------------------------------------------
# Rollouts: a Deployment's RollingUpdate, step by step.


def resolve_rollout(
    replicas: int, max_surge: int | str, max_unavailable: int | str
) -> tuple[int, int]:
    """Return ``(surge, unavailable)`` as pod counts for a Deployment of *replicas* pods.

    Each is a count (``int`` or a digit string) or a percentage of *replicas*
    (``"25%"``); as Kubernetes' ``ResolveFenceposts``
    (``pkg/controller/deployment/util/deployment_util.go``) does, a surge
    percentage rounds up and an unavailable one rounds down, and when both
    come out 0 the unavailable count is 1.

    :raises ValueError: a malformed value, a negative one, or both given as 0
        (Kubernetes' validation rejects that: the rollout could never start).

    >>> from hashlb.diff import resolve_rollout
    >>> resolve_rollout(10, "25%", "25%")
    (3, 2)
    >>> resolve_rollout(3, 1, 0)
    (1, 0)
    >>> resolve_rollout(3, "10%", "0%")
    (1, 0)
    >>> resolve_rollout(5, "0%", "10%")
    (0, 1)
    """
    from ._validate import MAX_ROLLOUT_REPLICAS, cap, check_rollout_value

    if type(replicas) is not int or not 0 <= replicas <= MAX_ROLLOUT_REPLICAS:
        raise ValueError(
            f"replicas must be an int in [0, {cap('MAX_ROLLOUT_REPLICAS')}], got {replicas!r}"
        )
    surge_v, surge_pct = check_rollout_value(max_surge, "max_surge")
    unavail_v, unavail_pct = check_rollout_value(max_unavailable, "max_unavailable")
    if surge_v == 0 and unavail_v == 0:
        raise ValueError("max_surge and max_unavailable may not both be 0")
    surge = -(-surge_v * replicas // 100) if surge_pct else surge_v
    unavailable = unavail_v * replicas // 100 if unavail_pct else unavail_v
    if surge == 0 and unavailable == 0:
        unavailable = 1
    return surge, unavailable


def rollout_counts(
    replicas: int, max_surge: int | str, max_unavailable: int | str
) -> list[tuple[int, int]]:
    """Return ``(old pods, new pods)`` after each step of a RollingUpdate, from ``(replicas, 0)``.

    The model follows the Deployment controller's ``rolloutRolling``
    (``pkg/controller/deployment/rolling.go``): each sync either scales the new
    ReplicaSet up (``NewRSNewReplicas``: up to ``replicas + surge`` pods in all,
    never more than *replicas* new ones) or, when it cannot, scales the old
    ones down (``reconcileOldReplicaSets``: keeping at least ``replicas -
    unavailable`` available).  Every new pod becomes ready before the next
    step and no pod fails, so a step is one scale-up or one scale-down, and
    the pods a step counts are exactly the ready ones.

    >>> from hashlb.diff import rollout_counts
    >>> rollout_counts(3, 1, 0)
    [(3, 0), (3, 1), (2, 1), (2, 2), (1, 2), (1, 3), (0, 3)]
    >>> rollout_counts(4, "25%", "25%")
    [(4, 0), (4, 1), (2, 1), (2, 3), (0, 3), (0, 4)]
    >>> rollout_counts(4, "50%", "50%")
    [(4, 0), (4, 2), (0, 2), (0, 4)]
    """
    surge, unavailable = resolve_rollout(replicas, max_surge, max_unavailable)
    old, new = replicas, 0
    states = [(old, new)]
    while old or new < replicas:
        room = replicas + surge - (old + new)
        up = min(room, replicas - new)
        if up > 0:
            new += up
        else:
            down = min(old, old + new - (replicas - unavailable))
            if down <= 0:  # pragma: no cover - resolve_rollout keeps surge + unavailable >= 1
                raise AssertionError("the rollout cannot progress")
            old -= down
        states.append((old, new))
    return states


def rollout_steps(
    hosts: Sequence[Host],
    subset: Mapping[str, str],
    max_surge: int | str,
    max_unavailable: int | str,
    *,
    template_hash: str = "rollout",
) -> list[list[Host]]:
    """Return the host list at every step of replacing *subset*'s hosts by new ones.

    *subset* is a label selector (as :class:`hashlb.Router`'s ``subsets``);
    the hosts it matches are the old pods, replaced as a Deployment's
    RollingUpdate replaces them (:func:`rollout_counts`).  A new pod is a copy
    of the last old one with a new address (unused in *hosts*, same port)
    and the label ``pod-template-hash`` set to *template_hash*, as a new
    ReplicaSet's pods get a new name and IP.  Scaling down removes the old
    pod listed last first (Kubernetes deletes the pod ready for the
    shortest time first, ``pkg/controller/controller_utils.go`` ``ActivePods``);
    the other hosts keep their places and new pods follow them.

    The first list is *hosts*; the last has only new pods in the subset.

    :raises ValueError: the selector matches no host, or as :func:`resolve_rollout`.

    >>> from hashlb import Host
    >>> from hashlb.diff import rollout_steps
    >>> hosts = [Host(f"10.0.0.{i}:80", labels={"v": "a"}) for i in range(2)]
    >>> [[h.address for h in step] for step in rollout_steps(hosts, {"v": "a"}, 1, 0)]
    ... # doctest: +NORMALIZE_WHITESPACE
    [['10.0.0.0:80', '10.0.0.1:80'], ['10.0.0.0:80', '10.0.0.1:80', '10.0.0.2:80'],
     ['10.0.0.0:80', '10.0.0.2:80'], ['10.0.0.0:80', '10.0.0.2:80', '10.0.0.3:80'],
     ['10.0.0.2:80', '10.0.0.3:80']]
    """
    import ipaddress

    from ._types import Host as _Host

    hosts = list(hosts)
    old = [h for h in hosts if all(h.labels.get(k) == v for k, v in subset.items())]
    if not old:
        raise ValueError(f"the selector {dict(subset)!r} matches no host")
    template = old[-1]
    counts = rollout_counts(len(old), max_surge, max_unavailable)
    taken = {h.address for h in hosts}
    addr, _, port = template.address.rpartition(":")
    try:
        ip: Any = ipaddress.ip_address(addr.strip("[]"))
    except ValueError:
        ip = ipaddress.ip_address("10.0.0.1")
    fresh: list[Host] = []
    labels = {**template.labels, "pod-template-hash": template_hash}
    while len(fresh) < len(old):
        ip += 1
        text = f"[{ip}]:{port}" if ip.version == 6 else f"{ip}:{port}"
        if text in taken:
            continue
        taken.add(text)
        fresh.append(
            _Host(
                text,
                template.weight,
                priority=template.priority,
                health=template.health,
                locality=template.locality,
                labels=labels,
            )
        )
    out = []
    for n_old, n_new in counts:
        kept = set(map(id, old[:n_old]))
        old_ids = set(map(id, old))
        step = [h for h in hosts if id(h) not in old_ids or id(h) in kept]
        out.append(step + fresh[:n_new])
    return out
