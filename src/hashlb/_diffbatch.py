"""The batch engine of :mod:`hashlb.diff`: placements as integer arrays, counted with numpy.

:func:`diff_arrays` computes the same reports as :func:`hashlb.diff.diff_steps`
from one array of placement ids per configuration (and the user of each
request), without a Python step per request.  :func:`route_hashes` and
:func:`router_placements` turn a router and the requests' key hashes into
such an array with the router's batch route.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .diff import DiffReport, Placement

_M64 = (1 << 64) - 1


def require_numpy() -> Any:
    """Return numpy, or raise ImportError naming the extra that installs it."""
    try:
        import numpy as np
    except ImportError:  # pragma: no cover - numpy is in the test extra
        raise ImportError('the batch diff needs numpy: pip install "hashlb[columns]"') from None
    return np


def fold_copies(key_hashes: Any, copies: int) -> Any:
    """Return the route hashes of *copies* identical one-method policies (uint64 array).

    Envoy folds each further copy as ``rotl1(acc) ^ h``
    (``source/common/http/hash_policy.cc``), as :func:`hashlb.router.istio_route_hash`.
    """
    np = require_numpy()
    h = np.asarray(key_hashes, dtype=np.uint64)
    acc = h.copy()
    one, sixty_three = np.uint64(1), np.uint64(63)
    for _ in range(copies - 1):
        acc = ((acc << one) | (acc >> sixty_three)) ^ h
    return acc


def effective_copies(router: Any) -> int:
    """Return how many copies of the router's one-method key policy its route hash folds.

    :raises ValueError: the router's policy has several methods, or a seed (the
        route hash is then not a fold of the plain key hash).
    """
    policy = router.policy
    route = router.route_policy
    if policy is None or route is None or len(policy.policies) != 1:
        raise ValueError("the batch diff needs routers with a one-method hash policy")
    if route.seed != 0 or policy.seed != 0:
        raise ValueError("the batch diff needs unseeded hash policies (no key_seed)")
    method = policy.policies[0]
    copies = 0
    for p in route.policies:
        if p != method:
            raise ValueError("the batch diff needs routers with a one-method hash policy")
        copies += 1
        if p.terminal:
            break
    return copies


def _one_call_is_many() -> bool:
    """Whether ``getrandbits(64 * n)`` is ``n`` calls of ``getrandbits(64)``, the first lowest.

    CPython fills a wide ``getrandbits`` from the least significant 32-bit
    word up (``Modules/_randommodule.c``), so it is; checked once, not assumed.
    """
    import random

    one, many = random.Random(12345), random.Random(12345)
    wide = one.getrandbits(64 * 3)
    return wide == sum(many.getrandbits(64) << (64 * i) for i in range(3))


_WIDE_DRAW = _one_call_is_many()


def random_values(rng: Any, n: int) -> Any:
    """Return *n* values of ``rng.getrandbits(64)``, in draw order, as a uint64 array."""
    np = require_numpy()
    if n == 0:
        return np.zeros(0, dtype=np.uint64)
    if _WIDE_DRAW:
        data = rng.getrandbits(64 * n).to_bytes(8 * n, "little")
        return np.frombuffer(data, dtype="<u8").astype(np.uint64)
    draw = rng.getrandbits  # pragma: no cover - another Python's generator
    return np.fromiter((draw(64) for _ in range(n)), dtype=np.uint64, count=n)


def route_batch(router: Any, hashes: Any) -> tuple[Any, Any]:
    """Route the route hashes *hashes* (uint64) at once: ``(subset indices, host indices)``.

    The one place the diff calls the router's batch route.  In envoy mode
    without ``use_hash_policy`` the weighted-cluster values are drawn here
    from the router's ``rng``, as many calls of ``route`` would draw them.
    """
    np = require_numpy()
    if router.mode == "envoy" and not router._use_hash_policy:
        values = random_values(router.rng, len(hashes))
        batch = router.route_many(hashes, values=values)
    else:
        batch = router.route_many(hashes)
    return np.asarray(batch.subset, dtype=np.int64), np.asarray(batch.host, dtype=np.int64)


def _compact(codes: Any, size: int) -> tuple[Any, Any]:
    """Return ``(distinct codes, index of each code among them)`` of codes in ``[0, size)``."""
    np = require_numpy()
    if size <= 1 << 22:
        present = np.bincount(codes, minlength=size) > 0
        uniq = np.flatnonzero(present)
        where = np.cumsum(present) - 1
        return uniq, where[codes]
    uniq, inverse = np.unique(codes, return_inverse=True)
    return uniq, inverse.reshape(-1)


def route_hashes(router: Any, key_hashes: Any) -> Any:
    """Return *router*'s route hashes for requests whose key policy hashed to *key_hashes*."""
    return fold_copies(key_hashes, effective_copies(router))


class PlacementIds:
    """Global ids of placements (``(subset, pod)``) shared by every configuration."""

    def __init__(self) -> None:
        self.ids: dict[Placement, int] = {}
        self.names: list[Placement] = []

    def id(self, placement: Placement) -> int:
        """Return the id of *placement* (a new one the first time)."""
        i = self.ids.get(placement)
        if i is None:
            i = self.ids[placement] = len(self.names)
            self.names.append(placement)
        return i

    def codes(
        self,
        subset_idx: Any,
        host_idx: Any,
        n_hosts: int,
        place: Callable[[int, int | None], Placement],
    ) -> Any:
        """Return the placement id of each ``(subset index, host index)`` pair.

        *place* names the pair's placement (host index None: ``NO_HOST``, a
        subset level with no host to give); it is called once per distinct pair.
        """
        np = require_numpy()
        host = np.where(host_idx >= n_hosts, n_hosts, host_idx)
        pair = subset_idx * (n_hosts + 1) + host
        uniq, inverse = _compact(pair, (int(subset_idx.max(initial=0)) + 1) * (n_hosts + 1))
        out = []
        for c in uniq.tolist():
            s, h = divmod(c, n_hosts + 1)
            out.append(self.id(place(s, h if h < n_hosts else None)))
        table = np.array(out, dtype=np.int64)
        return table[inverse]


def router_placements(router: Any, key_hashes: Any, ids: PlacementIds) -> Any:
    """Route *key_hashes* through *router*; return placement ids of ``(subset, host address)``."""
    subset_idx, host_idx = route_batch(router, route_hashes(router, key_hashes))
    hosts = router.hosts
    subsets = list(router.picker.names)

    def place(s: int, h: int | None) -> Placement:
        return (subsets[s], None if h is None else hosts[h].address)

    return ids.codes(subset_idx, host_idx, len(hosts), place)


def diff_arrays(
    paths: Sequence[Any],
    names: Sequence[Placement],
    users: Any = None,
    *,
    configured: Sequence[tuple[Mapping[Placement, float], Mapping[Placement, float]] | None]
    | None = None,
) -> list[DiffReport]:
    """Return :func:`hashlb.diff.diff_steps`'s reports from placement-id arrays.

    *paths* holds one integer array per configuration (the placement id of
    each request, indexing *names*); *users* the user of each request (any
    integers; default: every request is its own user).
    """
    from .diff import DiffReport, StepCounts, _minimum, _unit, tv_distance

    np = require_numpy()
    if len(paths) < 2:
        raise ValueError(f"diff_steps needs at least two routes, got {len(paths)}")
    p = [np.asarray(x, dtype=np.int64) for x in paths]
    n = len(p[0])
    if any(len(x) != n for x in p):
        raise ValueError("every configuration needs one placement per request")
    if users is None:
        uid = np.arange(n, dtype=np.int64)
        n_users = n
        first = uid
    else:
        raw = np.asarray(users)
        if len(raw) != n:
            raise ValueError(f"users has {len(raw)} items, the placements {n}")
        _, first, uid = np.unique(raw, return_index=True, return_inverse=True)
        uid = uid.reshape(-1)
        n_users = len(first)
    counts = np.bincount(uid, minlength=n_users)
    w = 1.0 / counts[uid]
    n_names = len(names)
    subset_code: dict[str | None, int] = {}
    subset_of = np.array(
        [subset_code.setdefault(s, len(subset_code)) for s, _ in names], dtype=np.int64
    )
    mass = [np.bincount(x, weights=w, minlength=n_names) for x in p]
    subsets = [s for s, _ in names]
    u = max(n_users, 1)
    ref_pod = p[0][first][uid]
    ref_sub = subset_of[ref_pod]
    seen_pod = p[0] != ref_pod
    seen_sub = subset_of[p[0]] != ref_sub
    reports = []
    for k in range(len(p) - 1):
        a, b = p[k], p[k + 1]
        changed = a != b
        sub_changed = subset_of[a] != subset_of[b]
        moved = float(w[changed].sum())
        sub = float(w[sub_changed].sum())
        r_moved = int(changed.sum())
        r_sub = int(sub_changed.sum())
        code = a * n_names + b
        uniq, inverse = _compact(code, n_names * n_names)
        cnt = np.bincount(inverse, minlength=len(uniq))
        cell_users = np.bincount(inverse, weights=w, minlength=len(uniq))
        matrix = {}
        matrix_users = {}
        for c, m, mu in zip(uniq.tolist(), cnt.tolist(), cell_users.tolist(), strict=True):
            key = (names[c // n_names], names[c % n_names])
            matrix[key] = m
            matrix_users[key] = mu
        seen_pod |= b != ref_pod
        seen_sub |= subset_of[b] != ref_sub
        several_pods = int(np.count_nonzero(np.bincount(uid, weights=seen_pod, minlength=u)))
        several_subs = int(np.count_nonzero(np.bincount(uid, weights=seen_sub, minlength=u)))
        minimum = _minimum(mass[k].tolist(), mass[k + 1].tolist(), subsets) / u
        mv = _unit(moved / u)
        sc = min(_unit(sub / u), mv)
        conf = configured[k] if configured else None
        reports.append(
            DiffReport(
                users=n_users,
                requests=n,
                moved=mv,
                subset_changed=sc,
                pod_changed=mv - sc,
                minimum=min(_unit(minimum), mv),
                requests_moved=r_moved,
                requests_subset_changed=r_sub,
                requests_pod_changed=r_moved - r_sub,
                matrix=matrix,
                matrix_users=matrix_users,
                configured_minimum=tv_distance(*conf) if conf else None,
                cumulative=StepCounts(_unit(several_pods / u), _unit(several_subs / u)),
            )
        )
    return reports
