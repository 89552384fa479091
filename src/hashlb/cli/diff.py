"""``hashlb diff``: what a configuration change does to the users.

The same traffic (synthetic users or a ``--requests`` file, as ``hashlb
simulate`` makes it) is routed under configuration A and configuration B,
each Istio YAML: two directories (``-a DIR -b DIR``), or one base (``-f``)
plus a change (``--set-weight``, ``--add-pods N --to SUBSET``,
``--remove-pod``, ``--unhealthy``, ``--balancer``, ``--min-ring-size``), or a
ramp of weights (``--ramp SUBSET=0,1,5``).  The report compares who moved with
the minimum any scheme must move (:mod:`hashlb.diff`); its first line says it
in plain words, with the cause when it is a known one.
"""

from __future__ import annotations

import argparse
import copy
import re
import sys
from collections.abc import Callable, Hashable, Iterator, Sequence
from dataclasses import replace
from typing import IO, TYPE_CHECKING, Any

from .._source import InputError
from .._validate import HEALTHY_STATUSES, MAX_CHANGES, MAX_INT_DIGITS, MAX_RAMP_STEPS
from .._validate import short as _short
from ..diff import DiffReport, Placement, diff_steps
from ._replay import SET_COOKIE, WIDTH, publish, to_policy_request, user_key, wrap
from .output import OutputSet, format_table
from .simulate import (
    UNHEALTHY_ENDPOINTS,
    _check_counts,
    _default_key,
    _key,
    _load_mesh,
    _positive,
    _seed,
)
from .traffic import SimRequest, read_jsonl, synthetic

if TYPE_CHECKING:
    from ..istio import Mesh, Scenario

__all__ = ("DESCRIPTION", "HELP", "add_arguments", "run")

HELP = "what a configuration change does to users: who moves, and the minimum that must"
DESCRIPTION = (
    "Route the same traffic under configuration A and configuration B (Istio YAML: -a DIR "
    "-b DIR, or -f DIR plus a change, or a --ramp of weights) and report the users whose "
    "subset or pod changed, against the fewest any routing could move."
)

MODES = ("envoy", "sticky")


# --------------------------------------------------------------------------
# Changes applied to a base mesh.


def _weight_arg(text: str) -> tuple[str, int]:
    name, sep, value = text.partition("=")
    if not sep or not name or not value.isdigit() or len(value) > MAX_INT_DIGITS:
        raise argparse.ArgumentTypeError(f"expected SUBSET=WEIGHT, got {_short(text)}")
    return name, int(value)


def _ramp_arg(text: str) -> tuple[str, list[int]]:
    name, sep, values = text.partition("=")
    steps = values.split(",")
    if not sep or not name or not all(s.isdigit() and len(s) <= MAX_INT_DIGITS for s in steps):
        raise argparse.ArgumentTypeError(f"expected SUBSET=W0,W1,..., got {_short(text)}")
    if not 2 <= len(steps) <= MAX_RAMP_STEPS:
        raise argparse.ArgumentTypeError(
            f"a ramp has 2 to {MAX_RAMP_STEPS} steps, got {len(steps)}"
        )
    return name, [int(s) for s in steps]


def _reset(mesh: Mesh) -> None:
    """Forget the mesh's resolution caches after its pods changed."""
    mesh._host_pods.clear()
    mesh._members.clear()
    mesh._index = None


def set_weights(mesh: Mesh, weights: Sequence[tuple[str, int]]) -> None:
    """Set the weight of each named subset in every http route that lists it.

    The other destinations of such a route share what is left of the route's
    old total, in proportion to their old weights (evenly when those were all 0).

    :raises InputError: no route lists the subset, or the weights given exceed the old total.
    """
    given = dict(weights)
    found: set[str] = set()
    for vs in mesh.virtual_services:
        for route in vs.http:
            named = [d for d in route.destinations if d.subset in given]
            if not named:
                continue
            found.update(d.subset for d in named if d.subset is not None)
            old_total = sum(d.weight for d in route.destinations) or 100
            rest = [d for d in route.destinations if d.subset not in given]
            left = old_total - sum(given[d.subset] for d in named if d.subset is not None)
            if rest and left < 0:
                raise InputError(
                    None,
                    f"--set-weight: the weights given add up to more than route "
                    f"{_short(route.name)}'s total {old_total}",
                )
            for d in named:
                assert d.subset is not None
                d.weight = given[d.subset]
            old_rest = sum(d.weight for d in rest)
            shares = [
                (left * d.weight // old_rest) if old_rest else left // len(rest) for d in rest
            ]
            if rest:
                shares[0] += left - sum(shares)
            for d, w in zip(rest, shares, strict=True):
                d.weight = w
    missing = sorted(set(given) - found)
    if missing:
        raise InputError(None, f"--set-weight: no http route lists subset {_short(missing[0])}")


def _subset_labels(mesh: Mesh, subset: str) -> dict[str, str]:
    for rule in mesh.rules:
        s = rule.subsets.get(subset)
        if s is not None:
            return dict(s.labels)
    raise InputError(None, f"--to: no DestinationRule has a subset {_short(subset)}")


def add_pods(mesh: Mesh, count: int, subset: str) -> list[str]:
    """Add *count* pods like the last pod of *subset*; return their names."""
    from ..istio.mesh import _BlockAllocator

    labels = _subset_labels(mesh, subset)
    members = [p for p in mesh.pods if all(p.labels.get(k) == v for k, v in labels.items())]
    if not members:
        raise InputError(None, f"--to: subset {_short(subset)} has no pod to copy")
    template = members[-1]
    stem = re.sub(r"-\d+$", "", template.name)
    taken = {p.name for p in mesh._all_pods}
    blocks = _BlockAllocator(p.ip for p in mesh._all_pods)
    ips = blocks.addresses(f"{template.namespace}/{stem}+added", count)
    names: list[str] = []
    i = 0
    for ip in ips:
        while f"{stem}-{i}" in taken:
            i += 1
        name = f"{stem}-{i}"
        taken.add(name)
        pod = replace(template, name=name, ip=ip, synthetic=True, health=None)
        mesh._all_pods.append(pod)
        mesh.pods.append(pod)
        names.append(name)
    _reset(mesh)
    return names


def _find_pod(mesh: Mesh, name: str, flag: str) -> int:
    for i, p in enumerate(mesh._all_pods):
        if p.name == name:
            return i
    raise InputError(None, f"{flag}: no pod named {_short(name)}")


def remove_pod(mesh: Mesh, name: str) -> None:
    """Remove the pod *name* from the mesh."""
    pod = mesh._all_pods.pop(_find_pod(mesh, name, "--remove-pod"))
    mesh.pods = [p for p in mesh.pods if p is not pod]
    _reset(mesh)


def mark_unhealthy(mesh: Mesh, name: str) -> None:
    """Give pod *name* Envoy health ``unhealthy`` (as the health annotation does)."""
    i = _find_pod(mesh, name, "--unhealthy")
    old = mesh._all_pods[i]
    new = replace(old, health="unhealthy")
    mesh._all_pods[i] = new
    mesh.pods = [new if p is old else p for p in mesh.pods]
    _reset(mesh)


def set_balancer(scenario: Scenario, algorithm: str | None, min_ring: int | None) -> Scenario:
    """Return *scenario* with every consistent-hash destination on *algorithm* / ring size."""
    routes = []
    for plan in scenario.routes:
        dests = []
        for d in plan.destinations:
            lb = d.lb
            if lb.algorithm != "simple":
                if algorithm is not None:
                    lb = replace(lb, algorithm=algorithm)
                if min_ring is not None:
                    lb = replace(lb, min_ring_size=min_ring)
            dests.append(replace(d, lb=lb))
        routes.append(replace(plan, destinations=tuple(dests)))
    return replace(scenario, routes=tuple(routes))


# --------------------------------------------------------------------------
# Routing one scenario.


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


def envoy_route(args: argparse.Namespace, path: str, seed: int) -> Callable[[Any], Placement]:
    """Return a routing function for the Envoy configuration *path*: ``(cluster, host address)``.

    The route is chosen as ``hashlb simulate --envoy-config`` chooses it
    (``--route``, ``--virtual-host``, ``--cluster``, else the only one that hashes).
    """
    import random

    from . import envoy_config

    config = envoy_config.load_config([path])
    selected, _scope, match = envoy_config.select_routes(config, args)
    routes = envoy_config.prepare(config, selected, match)
    if not routes:
        raise InputError(path, "no route hashes: nothing to compare")
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


# --------------------------------------------------------------------------
# Causes and the finding.


def causes(a: Scenario, b: Scenario, mode: str, engines_a: Any, engines_b: Any) -> list[str]:
    """Return the known causes of remapping between *a* and *b* (plain words)."""
    out: list[str] = []
    for pa, pb in zip(a.routes, b.routes, strict=False):
        ka, kb = pa.hash_keys, pb.hash_keys
        da, db = list(dict.fromkeys(ka)), list(dict.fromkeys(kb))
        if da != db:
            out.append("the hash key changed, so every route hash changes")
        elif mode == "envoy" and len(ka) != len(kb):
            out.append(
                "Istio adds one hash policy per weighted destination "
                f"({len(ka)} -> {len(kb)} copies), which changes every route hash"
            )
        lbs_a = {d.name: d.lb for d in pa.destinations}
        dests_a = {d.name: d for d in pa.destinations}
        for d in pb.destinations:
            la = lbs_a.get(d.name)
            if la is None:
                continue
            if la.algorithm != d.lb.algorithm:
                out.append(
                    f"subset {d.name!r}'s balancer changed ({la.algorithm} -> {d.lb.algorithm})"
                )
            elif la.algorithm == "ring_hash" and la.min_ring_size != d.lb.min_ring_size:
                out.append(
                    f"subset {d.name!r}'s ring size changed "
                    f"({la.min_ring_size} -> {d.lb.min_ring_size})"
                )
            elif la.algorithm == "maglev" and la.table_size != d.lb.table_size:
                out.append(
                    f"subset {d.name!r}'s table size changed ({la.table_size} -> {d.lb.table_size})"
                )
            else:
                out.extend(_refill(d.name, la.algorithm, la.min_ring_size, dests_a[d.name], d))
    for ea, eb in zip(engines_a, engines_b, strict=False):
        for name, h in eb.health.items():
            before = ea.health.get(name)
            if h.in_panic and not (before is not None and before.in_panic):
                out.append(f"subset {name!r} entered panic (Envoy then uses every host)")
    return list(dict.fromkeys(out))


def _refill(name: str, algorithm: str, ring: int, a: Any, b: Any) -> list[str]:
    """Return the cause when a subset's pods changed and its table reshuffles the pods that stay."""
    pods_a = {e.pod.name for e in a.endpoints}
    pods_b = {e.pod.name for e in b.endpoints}
    if pods_a == pods_b or not (pods_a & pods_b):
        return []
    count = f"{len(pods_a)} -> {len(pods_b)} pods"
    if algorithm == "ring_hash":
        return [
            f"subset {name!r} went from {count} and Envoy's ring spreads minimumRingSize={ring} "
            "entries over them, so the pods that stay change entries and users move between them"
        ]
    if algorithm == "maglev":
        return [
            f"subset {name!r} went from {count} and Maglev refills its whole table, "
            "which moves some users between the pods that stay"
        ]
    return []


def _share(x: float) -> str:
    return f"{100 * x:.1f}%"


def change_words(a: Scenario, b: Scenario, label: str | None) -> str:
    """Return e.g. ``Starting the canary 'risky'`` for the sentence's subject."""
    if label:
        return label
    wa = {d.name: d.weight for r in a.routes for d in r.destinations}
    wb = {d.name: d.weight for r in b.routes for d in r.destinations}
    started = [n for n in wb if n not in wa]
    stopped = [n for n in wa if n not in wb]
    if started and not stopped:
        return f"Starting {_short(started[0])}"
    if stopped and not started:
        return f"Stopping {_short(stopped[0])}"
    return "The change"


def finding_line(
    what: str, mode: str, report: DiffReport, why: list[str], other: tuple[str, DiffReport] | None
) -> str:
    """Return the report's first line: who moved, who had to, why, and the other mode."""
    text = (
        f"{what} moves {_share(report.moved)} of users to another pod"
        f"{'' if mode == 'envoy' else ' (sticky mode)'}; "
        f"{_share(report.minimum)} would have to move."
    )
    if why and report.excess > 0.005:
        text += " Cause: " + "; ".join(why) + "."
    if other is not None:
        text += f" {other[0].capitalize()} mode moves {_share(other[1].moved)}."
    return text


# --------------------------------------------------------------------------
# Command line.


def add_arguments(p: argparse.ArgumentParser) -> None:
    """Add the ``diff`` options to *p*."""
    g = p.add_argument_group("configurations")
    g.add_argument("-a", metavar="DIR", action="append", help="configuration A: Istio YAML")
    g.add_argument("-b", metavar="DIR", action="append", help="configuration B: Istio YAML")
    g.add_argument(
        "-f",
        "--file",
        action="append",
        metavar="PATH",
        help="the base configuration (with a change)",
    )
    g.add_argument("--envoy-config-a", metavar="FILE", help="configuration A: Envoy config")
    g.add_argument("--envoy-config-b", metavar="FILE", help="configuration B: Envoy config")
    pick = g.add_mutually_exclusive_group()
    pick.add_argument("--route", metavar="NAME", help="with --envoy-config-a/-b: the route")
    pick.add_argument("--virtual-host", metavar="NAME", help="with --envoy-config-a/-b")
    pick.add_argument("--cluster", metavar="NAME", help="with --envoy-config-a/-b")
    g.add_argument("--endpoints", action="append", default=[], metavar="PATH")
    g.add_argument("--host", help="the VirtualService host (when there are several)")
    g.add_argument("-n", "--namespace", default="default")
    g.add_argument("--cluster-domain", default="cluster.local")
    g.add_argument("--unhealthy-endpoints", choices=UNHEALTHY_ENDPOINTS, default="auto")
    c = p.add_argument_group("change (with -f)")
    c.add_argument(
        "--set-weight", type=_weight_arg, action="append", default=[], metavar="SUBSET=W"
    )
    c.add_argument("--add-pods", type=_positive, metavar="N", help="add N pods (with --to)")
    c.add_argument("--to", metavar="SUBSET", help="the subset --add-pods adds to")
    c.add_argument("--remove-pod", action="append", default=[], metavar="NAME")
    c.add_argument("--unhealthy", action="append", default=[], metavar="POD")
    c.add_argument("--balancer", choices=("maglev", "ring_hash"))
    c.add_argument("--min-ring-size", type=_positive, metavar="N")
    c.add_argument(
        "--ramp",
        type=_ramp_arg,
        metavar="SUBSET=W0,W1,...",
        help="a weight schedule: one diff per step, and who has seen several pods so far",
    )
    r = p.add_argument_group("requests")
    src = r.add_mutually_exclusive_group()
    src.add_argument("--requests", metavar="JSONL", help="one JSON request per line")
    src.add_argument("--users", type=_positive, metavar="N", help="synthetic users (default: 1000)")
    r.add_argument("--requests-per-user", type=_positive, default=20, metavar="R")
    r.add_argument("--key", type=_key, metavar="KEY")
    r.add_argument("--mode", choices=(*MODES, "both"), default="envoy")
    r.add_argument("--seed", type=_seed, default=0)
    o = p.add_argument_group("output")
    o.add_argument("--json", metavar="PATH", help="write the figures as JSON ('-': stdout)")
    o.add_argument(
        "--plot", metavar="PNG", help="draw who moved as stacked bars per step ('-': stdout)"
    )
    o.add_argument("-q", "--quiet", action="store_true", help="do not print the report")
    o.add_argument("--wide", action="store_true", help=f"do not cut the report to {WIDTH} columns")
    p.set_defaults(run=run, decisions=None)


def _changes(args: argparse.Namespace) -> bool:
    return bool(
        args.set_weight
        or args.add_pods
        or args.remove_pod
        or args.unhealthy
        or args.balancer
        or args.min_ring_size
    )


def _check(args: argparse.Namespace) -> None:
    envoy = args.envoy_config_a is not None or args.envoy_config_b is not None
    if envoy:
        if args.envoy_config_a is None or args.envoy_config_b is None:
            raise InputError(None, "--envoy-config-a and --envoy-config-b go together")
        if args.a or args.b or args.file or _changes(args) or args.ramp:
            raise InputError(None, "--envoy-config-a/-b compare two Envoy configurations alone")
        if args.mode != "envoy":
            raise InputError(None, "--mode sticky applies to Istio YAML; Envoy config is Envoy")
        if "-" in (args.envoy_config_a, args.envoy_config_b):
            raise InputError(None, "hashlb diff reads its configurations from files, not stdin")
        return
    if args.route or args.virtual_host or args.cluster:
        raise InputError(None, "--route, --virtual-host and --cluster apply to --envoy-config-a/-b")
    pair = args.a is not None or args.b is not None
    if pair and (args.a is None or args.b is None):
        raise InputError(None, "-a and -b go together")
    if pair and (args.file or _changes(args) or args.ramp):
        raise InputError(None, "-a/-b compare two configurations; -f takes a change or --ramp")
    if not pair and not args.file:
        raise InputError(
            None,
            "give -a DIR -b DIR, --envoy-config-a/-b FILE, or -f DIR with a change or --ramp",
        )
    if args.file and not (_changes(args) or args.ramp):
        raise InputError(None, "-f needs a change (--set-weight, --add-pods, ...) or --ramp")
    if args.ramp and _changes(args):
        raise InputError(None, "--ramp is a change of its own; leave out the other changes")
    if (args.add_pods is None) != (args.to is None):
        raise InputError(None, "--add-pods N and --to SUBSET go together")
    if "-" in (args.a or []) + (args.b or []) + (args.file or []) + args.endpoints:
        raise InputError(None, "hashlb diff reads its configurations from files, not stdin")
    if len(args.set_weight) + len(args.remove_pod) + len(args.unhealthy) > MAX_CHANGES:
        raise InputError(None, f"more than {MAX_CHANGES} changes")


def _mesh(args: argparse.Namespace, files: list[str]) -> Mesh:
    return _load_mesh()(
        files,
        args.endpoints,
        namespace=args.namespace,
        domain=args.cluster_domain,
        unhealthy_endpoints=args.unhealthy_endpoints,
    )


def _configs(args: argparse.Namespace) -> tuple[list[Scenario], list[str], str | None]:
    """Return the scenarios to compare in order, their labels, and the change's words."""
    if args.a is not None:
        a = _mesh(args, args.a).scenario(args.host)
        b = _mesh(args, args.b).scenario(args.host)
        return [a, b], ["A", "B"], None
    base = _mesh(args, args.file)
    if args.ramp:
        subset, steps = args.ramp
        out = []
        for w in steps:
            m = copy.deepcopy(base)
            set_weights(m, [(subset, w)])
            out.append(m.scenario(args.host))
        return out, [f"{subset}={w}" for w in steps], None
    a = base.scenario(args.host)
    m = copy.deepcopy(base)
    words: list[str] = []
    if args.set_weight:
        set_weights(m, args.set_weight)
    if args.add_pods:
        add_pods(m, args.add_pods, args.to)
        words.append(f"Adding {args.add_pods} pod{'s' if args.add_pods > 1 else ''} to {args.to!r}")
    for name in args.remove_pod:
        remove_pod(m, name)
        words.append(f"Removing pod {_short(name)}")
    for name in args.unhealthy:
        mark_unhealthy(m, name)
        words.append(f"Pod {_short(name)} turning unhealthy")
    b = m.scenario(args.host)
    if args.balancer or args.min_ring_size:
        b = set_balancer(b, args.balancer, args.min_ring_size)
        if args.balancer:
            words.append(f"Switching to {args.balancer}")
        if args.min_ring_size:
            words.append(f"Setting minimumRingSize to {args.min_ring_size}")
    label = None
    if words and not args.set_weight:
        label = ", ".join(words)
    return [a, b], ["base", "changed"], label


def _traffic(
    args: argparse.Namespace, scenario: Scenario
) -> Callable[[], Iterator[tuple[str, SimRequest]]]:
    def make() -> Iterator[tuple[str, SimRequest]]:
        if args.requests:
            reqs: Iterator[SimRequest] = read_jsonl(args.requests)
        else:
            users = args.users if args.users is not None else 1000
            key = args.key if args.key is not None else _default_key(scenario)
            reqs = synthetic(users, args.requests_per_user, key, args.seed)
        return ((r.user, r) for r in reqs)

    return make


def _run_mode(
    mode: str, scenarios: list[Scenario], seed: int, traffic: Callable[[], Iterator[Any]]
) -> tuple[list[DiffReport], list[Any]]:
    from .._validate import MAX_USERS

    routes = [scenario_route(s, mode, seed) for s in scenarios]
    engines = [r.engines for r in routes]  # type: ignore[attr-defined]
    shares = [configured_shares(s, e) for s, e in zip(scenarios, engines, strict=True)]
    configured = [
        (shares[k], shares[k + 1]) if shares[k] is not None and shares[k + 1] is not None else None
        for k in range(len(scenarios) - 1)
    ]
    try:
        reports = diff_steps(routes, traffic(), configured=configured, max_users=MAX_USERS)  # type: ignore[arg-type]
    except ValueError as e:
        raise InputError(None, str(e)) from None
    return reports, engines


def _matrix_table(report: DiffReport, width: int | None, limit: int = 12) -> str:
    rows = []
    moved = [(k, n) for k, n in report.matrix.items() if k[0] != k[1]]
    moved.sort(key=lambda kn: (-kn[1], str(kn[0])))
    for (pa, pb), n in moved[:limit]:
        rows.append(
            [f"{pa[0]}/{pa[1]}", f"{pb[0]}/{pb[1]}", n, _share(n / max(report.requests, 1))]
        )
    if len(moved) > limit:
        rest = sum(n for _, n in moved[limit:])
        rows.append(
            [f"({len(moved) - limit} more)", "", rest, _share(rest / max(report.requests, 1))]
        )
    return format_table(
        ["from subset/pod", "to subset/pod", "requests", "share"],
        rows,
        align="<<>>",
        width=width,
        cut=(0, 1),
    )


def _summary_rows(mode: str, labels: list[str], reports: list[DiffReport]) -> list[list[object]]:
    rows: list[list[object]] = []
    for k, r in enumerate(reports):
        row: list[object] = [
            mode,
            f"{labels[k]} -> {labels[k + 1]}",
            _share(r.moved),
            _share(r.subset_changed),
            _share(r.pod_changed),
            _share(r.minimum),
            _share(r.excess),
        ]
        if len(reports) > 1 and r.cumulative is not None:
            row += [_share(r.cumulative.several_pods), _share(r.cumulative.several_subsets)]
        rows.append(row)
    return rows


def _render(
    args: argparse.Namespace,
    modes: list[str],
    results: dict[str, list[DiffReport]],
    labels: list[str],
    findings: list[str],
    width: int | None,
) -> str:
    """Return the report: the finding(s) first, then the summary table and who moved."""
    reports = results[modes[0]]
    lines: list[str] = []
    if len(reports) > 1:
        # the first line is about the whole ramp; then one finding per step
        end = reports[-1].cumulative
        most = max(range(len(reports)), key=lambda k: reports[k].excess)
        worst = reports[most]
        lines.extend(
            wrap(
                f"Ramping {labels[0]} -> {labels[-1]} in {len(reports)} steps: "
                f"{_share(end.several_pods if end else 0.0)} of users have seen more than one "
                f"pod by the end; the step {labels[most]} -> {labels[most + 1]} moves "
                f"{_share(worst.moved)} where {_share(worst.minimum)} would have to.",
                width,
            )
        )
    for text in findings:
        lines.extend(wrap(text if len(reports) == 1 else f"- {text}", width))
    lines.append("")
    lines.append(f"{reports[0].users} users, {reports[0].requests} requests, seed {args.seed}")
    head = ["mode", "step", "moved", "subset", "pod", "minimum", "excess"]
    if len(reports) > 1:
        head += ["seen >1 pod", "seen >1 subset"]
    rows = [row for m in modes for row in _summary_rows(m, labels, results[m])]
    lines.append(
        format_table(head, rows, align="<<" + ">" * (len(head) - 2), width=width, cut=(1,))
    )
    if len(reports) == 1:
        for m in modes:
            lines.append("")
            lines.append(f"who moved ({m} mode, requests):")
            lines.append(_matrix_table(results[m][0], width))
    return "\n".join(lines)


def _summary(modes: list[str], results: dict[str, list[DiffReport]], labels: list[str]) -> Any:
    """Return the ``--json`` document: one mode at the top level, else one per mode."""

    def one(reports: list[DiffReport]) -> dict[str, Any]:
        if len(reports) == 1:
            return reports[0].as_json()
        return {
            "users": reports[0].users,
            "steps": [
                {"from": labels[k], "to": labels[k + 1], **r.as_json()}
                for k, r in enumerate(reports)
            ],
        }

    if len(modes) == 1:
        return one(results[modes[0]])
    return {m: one(results[m]) for m in modes}


def plot(
    modes: list[str],
    results: dict[str, list[DiffReport]],
    labels: list[str],
    outputs: OutputSet,
) -> None:
    """Draw who went where: per mode and step, a stacked bar of the users who stayed,
    changed pod within their subset and changed subset, with the minimum marked."""
    from .output import require_matplotlib, save_figure

    plt = require_matplotlib()
    bars = [(m, k, r) for m in modes for k, r in enumerate(results[m])]
    fig, ax = plt.subplots(figsize=(max(5.0, 1.1 * len(bars) + 2), 4.2))
    x = list(range(len(bars)))
    sub = [100 * r.subset_changed for _, _, r in bars]
    pod = [100 * r.pod_changed for _, _, r in bars]
    stay = [100 - a - b for a, b in zip(sub, pod, strict=True)]
    ax.bar(x, sub, 0.6, label="changed subset", color="#c0392b")
    ax.bar(x, pod, 0.6, bottom=sub, label="changed pod, same subset", color="#e07b39")
    ax.bar(
        x,
        stay,
        0.6,
        bottom=[a + b for a, b in zip(sub, pod, strict=True)],
        label="stayed",
        color="#bbbbbb",
    )
    ax.scatter(
        x,
        [100 * r.minimum for _, _, r in bars],
        marker="_",
        s=600,
        color="black",
        label="minimum",
        zorder=3,
    )
    names = [f"{m}\n{labels[k]} -> {labels[k + 1]}" for m, k, _ in bars]
    ax.set_xticks(x, names, rotation=20 if len(bars) > 4 else 0, fontsize=8)
    ax.set_ylabel("share of users (%)")
    ax.set_ylim(0, 100)
    ax.legend(fontsize=8, loc="upper left", bbox_to_anchor=(1.0, 1.0))
    ax.set_title(f"who moved ({bars[0][2].users} users)", fontsize=10)
    fig.tight_layout()
    save_figure(outputs, fig, "--plot", plt)


def _envoy_policy_cause(a: Any, b: Any) -> list[str]:
    """Return the cause when the routes' hash policies have a different number of entries."""

    def entries(route: Any) -> int:
        return len(route.hash_policy.policies) if route.hash_policy is not None else 0

    na, nb = entries(a.routes[0]), entries(b.routes[0])
    if na != nb:
        return [
            f"the route's hash policy changed ({na} -> {nb} entries), which changes every route hash"
        ]
    return []


def _run_envoy(args: argparse.Namespace, outputs: OutputSet, out: IO[str]) -> int:
    from .._validate import MAX_USERS
    from . import envoy_config

    a = envoy_route(args, args.envoy_config_a, args.seed)
    b = envoy_route(args, args.envoy_config_b, args.seed)

    def traffic() -> Iterator[tuple[str, SimRequest]]:
        if args.requests:
            reqs: Iterator[SimRequest] = read_jsonl(args.requests)
        else:
            users = args.users if args.users is not None else 1000
            key = args.key if args.key is not None else envoy_config.default_key(a.routes)  # type: ignore[attr-defined]
            reqs = synthetic(users, args.requests_per_user, key, args.seed)
        return ((r.user, r) for r in reqs)

    try:
        reports = diff_steps([a, b], traffic(), max_users=MAX_USERS)
    except ValueError as e:
        raise InputError(None, str(e)) from None
    results = {"envoy": reports}
    labels = ["A", "B"]
    why = _envoy_policy_cause(a, b)
    findings = [finding_line("Going from A to B", "envoy", reports[0], why, None)]
    width = None if args.wide else WIDTH
    return publish(
        args,
        outputs,
        out,
        lambda: _summary(["envoy"], results, labels),
        lambda: plot(["envoy"], results, labels, outputs),
        lambda: _render(args, ["envoy"], results, labels, findings, width),
    )


def run(args: argparse.Namespace, outputs: OutputSet, out: IO[str] | None = None) -> int:
    """Run ``hashlb diff`` with parsed *args*; raise InputError on bad input."""
    out = out if out is not None else sys.stdout
    _check(args)
    args.file, saved = (args.file or args.a or ["."]), args.file  # _check_counts reads args.file
    _check_counts(args)
    args.file = saved
    outputs.add(args.json, "--json")
    outputs.add_plot(args.plot)
    if args.envoy_config_a is not None:
        return _run_envoy(args, outputs, out)
    scenarios, labels, label = _configs(args)
    modes = list(MODES) if args.mode == "both" else [args.mode]
    traffic = _traffic(args, scenarios[0])
    runs = {m: _run_mode(m, scenarios, args.seed, traffic) for m in modes}
    results = {m: runs[m][0] for m in modes}
    first, other = modes[0], (modes[1] if len(modes) > 1 else None)
    engines = runs[first][1]
    findings = []
    for k, r in enumerate(results[first]):
        what = change_words(scenarios[k], scenarios[k + 1], label)
        if len(scenarios) > 2:
            what = f"Step {labels[k]} -> {labels[k + 1]}"
        why = causes(scenarios[k], scenarios[k + 1], first, engines[k], engines[k + 1])
        o = (other, results[other][k]) if other else None
        findings.append(finding_line(what, first, r, why, o))
    width = None if args.wide else WIDTH
    return publish(
        args,
        outputs,
        out,
        lambda: _summary(modes, results, labels),
        lambda: plot(modes, results, labels, outputs),
        lambda: _render(args, modes, results, labels, findings, width),
    )
