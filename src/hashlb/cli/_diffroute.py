"""``hashlb diff``'s routing: one scenario (Istio) or Envoy configuration as a routing function,
and the batch path that routes all synthetic users at once.

The batch path (:func:`batch_paths`) applies when each configuration is one
route whose every destination shares the Router's one-method hash policy, and
the traffic is synthetic users with a header, cookie, query or source-IP key:
the users' key values are hashed in one :func:`hashlb.xxh64_many` call, each
route folds Istio's copies itself and routes the whole batch
(:func:`hashlb._diffbatch.route_batch`).  It gives the same placements as
routing request by request (the random weighted-cluster values come from the
same router streams in the same order), and checks its route hashes against
the routers' own policy on the first users before it is used.
"""

from __future__ import annotations

import argparse
from collections.abc import Callable, Hashable, Sequence
from typing import TYPE_CHECKING, Any

from .._source import InputError
from .._validate import HEALTHY_STATUSES
from ..diff import Placement
from ._replay import SET_COOKIE, to_policy_request, user_key
from .traffic import KeySpec, SimRequest, synthetic, synthetic_keys

if TYPE_CHECKING:
    from ..istio import Scenario

__all__ = ("batch_paths", "configured_shares", "envoy_route", "reweight", "scenario_route")

#: How many users the batch path checks against the routers' own hash policy.
_CHECKED = 64


#: The last request converted without a cookie jar: (SimRequest, policy Request).  Every
#: configuration routes the same request in turn, so it is converted once, not once each.
_LAST: list[Any] = [None, None]


def _policy_request(req: SimRequest, jar: dict[str, str] | None) -> Any:
    """Return :func:`to_policy_request` of *req*, reused while the same request is routed."""
    if jar:
        return to_policy_request(req, jar)
    if _LAST[0] is not req:
        _LAST[1] = to_policy_request(req, None)
        _LAST[0] = req
    return _LAST[1]


def scenario_route(scenario: Scenario, mode: str, seed: int) -> Callable[[Any], Placement]:
    """Return a routing function: a :class:`SimRequest` -> ``(subset, pod)`` under *scenario*.

    A cookie Envoy generates is kept per user (the client sends it back), as
    ``hashlb simulate`` does; a request no route matches is ``(None, None)``.
    """
    from ..istio import build_engines, plan_matches

    engines = build_engines(scenario, mode, seed)
    jars: dict[Hashable, dict[str, str]] = {}
    only = engines[0] if len(engines) == 1 and engines[0].plan.matches is None else None

    def route(req: SimRequest) -> Placement:
        engine = only or next((e for e in engines if plan_matches(e.plan, req)), None)
        if engine is None:
            return (None, None)
        ukey = user_key(req.user) if jars else None
        jar = jars.get(ukey) if ukey is not None else None
        subset, _address, pod, _h, set_cookie = engine.route(_policy_request(req, jar))
        if set_cookie:
            m = SET_COOKIE.match(set_cookie)
            if m:
                jars.setdefault(user_key(req.user), {})[m.group(1)] = m.group(3)
        return (subset, pod)

    route.engines = engines  # type: ignore[attr-defined]
    return route


def envoy_route(
    args: argparse.Namespace,
    path: str,
    seed: int,
    weights: Callable[[Sequence[tuple[str, int]]], list[list[tuple[str, int]]]] | None = None,
) -> Any:
    """Return a routing function for the Envoy configuration *path*: ``(cluster, host address)``.

    The route is chosen as ``hashlb simulate --envoy-config`` chooses it
    (``--route``, ``--virtual-host``, ``--cluster``, else the only one that hashes).
    With *weights* (the route's ``(cluster, weight)`` pairs -> one such list per
    configuration), return one routing function per list instead: the same
    route with those weighted clusters, the configuration read once.

    :raises InputError: no route hashes; *weights* for several routes or a
        route without weighted clusters.
    """
    from dataclasses import replace

    from . import envoy_config

    config = envoy_config.load_config([path])
    selected, _scope, match = envoy_config.select_routes(config, args)
    routes = envoy_config.prepare(config, selected, match)
    if not routes:
        raise InputError(path, "no route hashes: nothing to compare")
    if weights is None:
        return _envoy_routing(config, selected, routes, match, seed)
    if match or len(routes) != 1 or not routes[0].weighted_clusters:
        raise InputError(
            path,
            "--set-weight and --ramp need one route with weighted clusters "
            "(choose it with --route or --cluster)",
        )
    base = routes[0]
    out = []
    for step in weights(base.weighted_clusters):
        r = replace(base, weighted_clusters=tuple(step))
        out.append(_envoy_routing(config, (r,), (r,), False, seed))
    return out


def _envoy_routing(
    config: Any, selected: Sequence[Any], routes: Sequence[Any], match: bool, seed: int
) -> Callable[[Any], Placement]:
    import random

    usable = {id(r) for r in routes}
    rngs = {id(r): (random.Random(seed), random.Random(seed ^ 0x5EED)) for r in routes}
    jars: dict[Hashable, dict[str, str]] = {}

    def route(req: SimRequest) -> Placement:
        r: Any = routes[0]
        if match:
            first: dict[str, str] = {}
            for k, v in req.headers:
                first.setdefault(k.lower(), v)
            first.setdefault(":method", "GET")
            r = next((x for x in selected if x.match.matches(req.path, first)), None)
            if r is None or id(r) not in usable:
                return (None, None)
        rng, balancer_rng = rngs[id(r)]
        if not r.weighted_clusters:
            rng.getrandbits(64)  # the stream id Envoy draws for every request
        ukey = user_key(req.user)
        pick = config.pick(
            r, to_policy_request(req, jars.get(ukey)), rng=rng, balancer_rng=balancer_rng
        )
        for set_cookie in pick.set_cookies:
            m = SET_COOKIE.match(set_cookie)
            if m:
                jars.setdefault(ukey, {})[m.group(1)] = m.group(3)
        return (pick.cluster, pick.host.address if pick.host is not None else None)

    route.routes = routes  # type: ignore[attr-defined]
    return route


def reweight(
    pairs: Sequence[tuple[str, int]], given: Sequence[tuple[str, int]]
) -> list[tuple[str, int]]:
    """Return *pairs* (name, weight) with the *given* weights set.

    The others share what is left of the old total in proportion to their
    old weights (evenly when those were all 0), as ``--set-weight`` does on
    Istio YAML; Envoy keeps a cluster of weight 0 in the list.

    :raises InputError: a name the list lacks, weights above the old total,
        or a total of 0 (Envoy rejects it).
    """
    old = dict(pairs)
    want = dict(given)
    missing = sorted(set(want) - set(old))
    if missing:
        raise InputError(None, f"--set-weight: the route has no weighted cluster {missing[0]!r}")
    total = sum(old.values())
    rest = [n for n, _ in pairs if n not in want]
    left = total - sum(want.values())
    if rest and left < 0:
        raise InputError(
            None, f"--set-weight: the weights given add up to more than the route's total {total}"
        )
    old_rest = sum(old[n] for n in rest)
    shares = [(left * old[n] // old_rest) if old_rest else left // len(rest) for n in rest]
    if rest:
        shares[0] += left - sum(shares)
    new = {**dict(zip(rest, shares, strict=True)), **want}
    out = [(n, new[n]) for n, _ in pairs]
    if not sum(w for _, w in out):
        raise InputError(None, "--set-weight: the weighted clusters' total would be 0")
    return out


def configured_shares(scenario: Scenario, engines: Sequence[Any]) -> dict[Placement, float] | None:
    """Return the placement shares the configuration promises (one route only, else None).

    Each subset gets its weight's share, split evenly over the endpoints Envoy
    uses: the healthy ones, or all of them in panic.
    """
    if len(scenario.routes) != 1:
        return None
    plan, engine = scenario.routes[0], engines[0]
    total = sum(d.weight for d in plan.destinations)
    out: dict[Placement, float] = {}
    for d in plan.destinations:
        share = d.weight / total if total else 0.0
        h = engine.health.get(d.name)
        panic = h is not None and h.in_panic
        used = [e for e in d.endpoints if panic or e.health in HEALTHY_STATUSES]
        if not used:
            out[(d.name, None)] = out.get((d.name, None), 0.0) + share
        for e in used:
            key = (d.name, e.pod.name)
            out[key] = out.get(key, 0.0) + share / len(used)
    return out


def _batchable(engines: Sequence[Any]) -> Any:
    """Return the one engine of a scenario the batch path can route, or None."""
    from .._diffbatch import effective_copies

    if len(engines) != 1:
        return None
    e = engines[0]
    r = e.router
    if e.plan.matches is not None or e.own_hash is not None or e.own:
        return None
    if r._header is not None or r._generates:  # a weighted-cluster header; a cookie Envoy makes
        return None
    try:
        effective_copies(r)
    except ValueError:
        return None
    return e


def batch_paths(
    engines: Sequence[Sequence[Any]], users: int, per_user: int, key: KeySpec, seed: int
) -> tuple[list[Any], list[Placement], Any] | None:
    """Route synthetic traffic under every scenario's engines at once.

    Return ``(paths, names, users)`` for :func:`hashlb._diffbatch.diff_arrays`
    (one placement-id array per scenario, the placements ``(subset, pod)``,
    the user of each request), or None when a scenario needs the request by
    request path (several routes, subset-level keys, own tables, generated
    cookies, no numpy, or a key the routers do not hash as the batch does).
    """
    try:
        import numpy as np
    except ImportError:  # pragma: no cover - numpy is in the test extra
        return None
    from .._diffbatch import PlacementIds, route_batch, route_hashes
    from ..hashing import xxh64_many

    chosen = [_batchable(e) for e in engines]
    if any(e is None for e in chosen):
        return None
    values = synthetic_keys(users, key, seed)
    if values is None:
        return None
    key_hashes = np.asarray(xxh64_many(values), dtype=np.uint64)
    # The batch hashes must be the routers' own: check them on the first users.
    sample = []
    for req in synthetic(min(users, _CHECKED), 1, key, seed):
        sample.append(to_policy_request(req, None))
    routed = [route_hashes(e.router, key_hashes) for e in chosen]
    for e, hashes in zip(chosen, routed, strict=True):
        policy = e.router.route_policy
        head = hashes[: len(sample)].tolist()
        if any(policy.hash(req) != h for req, h in zip(sample, head, strict=True)):
            return None
    ids = PlacementIds()
    paths = []
    for e, hashes in zip(chosen, routed, strict=True):
        requests = np.tile(hashes, per_user) if per_user > 1 else hashes
        subset_idx, host_idx = route_batch(e.router, requests)
        hosts = e.router.hosts
        subsets = list(e.router.picker.names)

        def place(
            s: int, h: int | None, e: Any = e, hosts: Any = hosts, subsets: Any = subsets
        ) -> Placement:
            name = subsets[s]
            if h is None:
                return (name, None)
            d = e.dest[name]
            return (name, e.by_address[(d.host, hosts[h].address)].pod.name)

        paths.append(ids.codes(subset_idx, host_idx, len(hosts), place))
    user_ids = np.tile(np.arange(users, dtype=np.int64), per_user) if per_user > 1 else None
    return paths, ids.names, user_ids
