"""``hashlb simulate --envoy-config``: the simulation, from Envoy's own configuration.

Reads an admin ``/config_dump`` (with or without ``?include_eds``), the
``istioctl proxy-config cluster|route|endpoint -o json`` lists, or a static
bootstrap with :func:`hashlb.envoy.load`, chooses the route to simulate
(``--route``, ``--virtual-host``, ``--cluster``, or the only route that
hashes), and sends every request through :meth:`hashlb.envoy.EnvoyConfig.pick`:
Envoy's weighted-cluster choice, then the chosen cluster's ring or Maglev
lookup of the route hash.  The report is per Envoy cluster and per endpoint,
with the same stickiness figures, ``--json``, ``--decisions`` and ``--plot``
as ``hashlb simulate -f``.
"""

from __future__ import annotations

import argparse
import json
import random
import sys
from collections import Counter
from collections.abc import Hashable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import IO, TYPE_CHECKING, Any

from .._source import InputError
from .._validate import HEALTHY_STATUSES, MAX_PLOT_ENDPOINTS, cap
from .._validate import short as _short
from . import _replay as replay
from .output import OutputSet, format_table
from .traffic import KeySpec, SimRequest, read_jsonl, synthetic

if TYPE_CHECKING:
    from ..envoy import EnvoyCluster, EnvoyConfig, Route

__all__ = ("EnvoySimulation", "load_config", "run", "select_routes", "simulate")

#: Version of the ``--json`` schema of ``--envoy-config`` (bumped only for incompatible changes).
SCHEMA_VERSION = 1
#: At most this many routes are listed when the choice is not unique.
_MAX_LISTED = 50
#: The ``-f`` options that mean nothing with ``--envoy-config``: (dest, flag, default).
_MESH_ONLY: tuple[tuple[str, str, object], ...] = (
    ("endpoints", "--endpoints", []),
    ("host", "--host", None),
    ("namespace", "--namespace", "default"),
    ("cluster_domain", "--cluster-domain", "cluster.local"),
    ("unhealthy_endpoints", "--unhealthy-endpoints", "auto"),
    ("source_locality", "--source-locality", None),
)
_SELECTORS = (("route", "--route"), ("virtual_host", "--virtual-host"), ("cluster", "--cluster"))


def load_config(paths: Sequence[str]) -> EnvoyConfig:
    """Load the ``--envoy-config`` files together (``-``: standard input, once).

    :raises InputError: a file that cannot be read or holds bad configuration:
        ``FILE: JSON.PATH: message``.
    """
    from ..envoy import EnvoyConfigError, load

    if list(paths).count("-") > 1:
        raise InputError("--envoy-config", "'-' (standard input) can be given once")
    sources: list[object] = [sys.stdin.buffer if p == "-" else p for p in paths]
    try:
        return load(*sources)
    except EnvoyConfigError as e:
        raise InputError(e.source, str(e)) from None


def _entry(method: object) -> tuple[str, str, int | None]:
    """Return ``(kind, name, cookie ttl)`` of one hash policy entry (kind as ``--key`` spells it)."""
    from ..policy import Cookie, Header, QueryParameter, SourceIP

    if isinstance(method, Header):
        return "header", method.name.lower(), None
    if isinstance(method, Cookie):
        return "cookie", method.name, method.ttl
    if isinstance(method, QueryParameter):
        return "query", method.name, None
    if isinstance(method, SourceIP):
        return "source-ip", "", None
    return type(method).__name__, str(getattr(method, "key", "")), None


def describe_policy(route: Route) -> str:
    """Return the route's hash policy as ``header:x-user + cookie:session (ttl 3600s)``."""
    return " + ".join(policy_entries(route)) or "none"


def policy_entries(route: Route) -> list[str]:
    """Return the route's hash policy entries, each as ``header:x-user`` or ``cookie:s (ttl 1s)``."""
    policy = route.hash_policy
    if policy is None:
        return []
    parts = []
    for m in policy.policies:
        kind, name, ttl = _entry(m)
        text = f"{kind}:{name}" if name else kind
        if ttl is not None:
            text += f" (ttl {ttl}s)"
        if getattr(m, "terminal", False):
            text += " (terminal)"
        parts.append(text)
    return parts


def route_label(route: Route) -> str:
    """Return how the report names a route: its name, else its JSON path."""
    return route.name if route.name is not None else route.path


def _listing(config: EnvoyConfig, routes: Sequence[Route]) -> str:
    """Each route as a short block: name, virtual host and policy, clusters, the path to choose it."""
    lines = []
    for r in routes[:_MAX_LISTED]:
        clusters = []
        for name in r.cluster_names or ("-",):
            c = config.clusters.get(name)
            policy = c.lb_policy if c is not None else "missing"
            clusters.append(f"{name} ({policy})")
        lines += replay.wrap(
            f"  {r.name or '(unnamed)'}: virtual host {r.virtual_host}, "
            f"hash policy {describe_policy(r)}",
            replay.WIDTH,
            "      ",
        )
        lines += replay.wrap(f"    clusters: {', '.join(clusters)}", replay.WIDTH, "      ")
        lines.append(f"    --route {r.path}")
    more = len(routes) - _MAX_LISTED
    if more > 0:
        lines.append(f"  ... and {more} more")
    return "\n".join(lines)


def _choose(
    config: EnvoyConfig, candidates: Sequence[Route], source: str, what: str, err: IO[str]
) -> Route:
    """Return the one candidate, or list them on *err* and raise."""
    if len(candidates) == 1:
        return candidates[0]
    print(f"hashlb simulate: {source}: {len(candidates)} {what}:", file=err)
    print(_listing(config, candidates), file=err)
    raise InputError(
        source,
        f"{len(candidates)} {what}: choose one with --route NAME (a route name, or the JSON "
        "path listed), --virtual-host NAME or --cluster NAME",
    )


def select_routes(
    config: EnvoyConfig, args: argparse.Namespace, err: IO[str] | None = None
) -> tuple[tuple[Route, ...], str, bool]:
    """Return the routes to simulate, how the report names them, and whether to match paths.

    ``--route`` takes a route by name (or by its JSON path); ``--virtual-host``
    all the routes of a virtual host, each request taking the first whose
    ``match`` holds, as Envoy does; ``--cluster`` the route that hashes and
    sends to that cluster.  Without any, the only route that hashes.

    :raises InputError: nothing matches, or several routes do (they are
        listed on *err* first).
    """
    err = err if err is not None else sys.stderr
    source = ", ".join(config.sources)
    hashing = config.hashing_routes()
    if args.route is not None:
        found = [r for r in config.routes if args.route in (r.name, r.path)]
        if not found:
            raise InputError("--route", f"no route named {_short(args.route)} in {source}")
        route = _choose(config, found, source, f"routes are named {_short(args.route)}", err)
        return (route,), f"route {_short(route_label(route))}", False
    if args.virtual_host is not None:
        hosts = [
            vh
            for rc in config.route_configs
            for vh in rc.virtual_hosts
            if vh.name == args.virtual_host
        ]
        if not hosts:
            raise InputError(
                "--virtual-host", f"no virtual host {_short(args.virtual_host)} in {source}"
            )
        if len(hosts) > 1:
            what = f"route configurations have a virtual host {_short(args.virtual_host)}"
            print(f"hashlb simulate: {source}: {len(hosts)} {what}:", file=err)
            print(_listing(config, [r for vh in hosts for r in vh.routes]), file=err)
            raise InputError(
                "--virtual-host",
                f"{len(hosts)} {what} (route configurations "
                f"{', '.join(repr(vh.route_config) for vh in hosts[:5])}): choose a route "
                "with --route (a JSON path listed)",
            )
        vh = hosts[0]
        if not vh.routes:
            raise InputError("--virtual-host", f"virtual host {_short(vh.name)} has no routes")
        return vh.routes, f"virtual host {_short(vh.name)}", True
    if args.cluster is not None:
        if args.cluster not in config.clusters:
            raise InputError("--cluster", f"no cluster {_short(args.cluster)} in {source}")
        found = [r for r in hashing if args.cluster in r.cluster_names]
        if not found:
            raise InputError(
                "--cluster", f"no route that hashes sends to cluster {_short(args.cluster)}"
            )
        route = _choose(config, found, source, "routes that hash send to it", err)
        return (route,), f"route {_short(route_label(route))}", False
    if not hashing:
        if config.routes:
            print(f"hashlb simulate: {source}: the routes (none hashes):", file=err)
            print(_listing(config, config.routes), file=err)
        raise InputError(
            source,
            f"no route hashes ({len(config.routes)} routes, {len(config.clusters)} clusters, "
            f"{len(config.hashing_clusters())} of them RING_HASH or MAGLEV): a route needs a "
            "hash_policy and a RING_HASH or MAGLEV cluster",
        )
    route = _choose(config, hashing, source, "routes hash", err)
    return (route,), f"route {_short(route_label(route))}", False


def _weights(route: Route) -> list[tuple[str, int]]:
    if route.weighted_clusters:
        return list(route.weighted_clusters)
    return [(name, 1) for name in route.cluster_names]


@dataclass
class EnvoySimulation:
    """Counts and per-user sets from one ``--envoy-config`` simulation."""

    config: EnvoyConfig
    routes: tuple[Route, ...]
    scope: str
    seed: int
    key: str
    requests: int = 0
    #: route JSON path -> requests that took it
    by_route: Counter[str] = field(default_factory=Counter)
    clusters: Counter[str] = field(default_factory=Counter)
    endpoints: Counter[tuple[str, str]] = field(default_factory=Counter)
    unrouted: int = 0
    no_hash: int = 0
    #: cluster -> requests that got no host (Envoy's 503, no healthy upstream)
    no_host: Counter[str] = field(default_factory=Counter)
    #: cluster -> requests that reached a host that is not healthy (panic)
    unhealthy: Counter[str] = field(default_factory=Counter)
    users: int = 0
    one_endpoint: int = 0
    one_cluster: int = 0

    def simulated_clusters(self) -> list[EnvoyCluster]:
        """The clusters of the simulated routes that hash, in route order."""
        out: dict[str, EnvoyCluster] = {}
        for r in self.routes:
            for name in r.cluster_names:
                c = self.config.clusters.get(name)
                if c is not None and c.hashes:
                    out.setdefault(name, c)
        return list(out.values())

    def summary(self) -> dict[str, Any]:
        """Return the ``--json`` document (see docs/reference/cli.rst)."""
        routes = []
        for r in self.routes:
            routes.append(
                {
                    "name": r.name,
                    "path": r.path,
                    "virtual_host": r.virtual_host,
                    "route_config": r.route_config,
                    "hash_policy": describe_policy(r),
                    "weights": dict(_weights(r)),
                    "requests": self.by_route.get(r.path, 0),
                }
            )
        clusters = {}
        for c in self.simulated_clusters():
            clusters[c.name] = {
                "lb_policy": c.lb_policy,
                "requests": self.clusters.get(c.name, 0),
                "no_host": self.no_host.get(c.name, 0),
                "requests_to_unhealthy": self.unhealthy.get(c.name, 0),
                "endpoints": {
                    h.address: self.endpoints.get((c.name, h.address), 0) for h in c.hosts
                },
            }
        return {
            "schema": SCHEMA_VERSION,
            "source": list(self.config.sources),
            "scope": self.scope,
            "seed": self.seed,
            "key": self.key,
            "requests": self.requests,
            "routes": routes,
            "clusters": clusters,
            "unrouted": self.unrouted,
            "no_hash": self.no_hash,
            "no_host": sum(self.no_host.values()),
            "requests_to_unhealthy": sum(self.unhealthy.values()),
            "stickiness": {
                "users": self.users,
                "one_endpoint": self.one_endpoint,
                "one_cluster": self.one_cluster,
            },
        }


def prepare(config: EnvoyConfig, routes: Sequence[Route], match: bool) -> tuple[Route, ...]:
    """Check and build what the simulation touches; return the routes that can be simulated.

    A route named alone (``--route``, ``--cluster``) must send to clusters
    the configuration holds, at least one of which hashes (the others pick a
    random healthy host, as a weighted canary on a simple subset does); in a virtual host the routes that
    do not hash are left out (their requests are counted ``unrouted``).

    :raises InputError: a missing cluster, a cluster that does not hash, or
        a table option the cluster rejects (``FILE: JSON.PATH: message``).
    """
    from ..envoy import EnvoyConfigError

    source = ", ".join(config.sources)
    hashing = {id(r) for r in config.hashing_routes()}
    out = []
    try:
        for r in routes:
            if match and id(r) not in hashing:
                continue
            clusters = config.route_clusters(r)
            hashing_clusters = [c for c in clusters if c.hashes] or clusters[:1]
            # a simple balancer beside a hashing one has no table: a random healthy host
            for c in hashing_clusters:
                c.cluster  # noqa: B018 - builds (and checks) its tables now; raises if none hashes
            out.append(r)
    except EnvoyConfigError as e:
        raise InputError(source, str(e)) from None
    return tuple(out)


def simulate(
    config: EnvoyConfig,
    routes: tuple[Route, ...],
    requests: Iterable[SimRequest],
    *,
    scope: str,
    match: Sequence[Route] | None = None,
    seed: int,
    key: str,
    decisions: IO[str] | None = None,
) -> EnvoySimulation:
    """Send every request through :meth:`EnvoyConfig.pick`; write one JSON line per decision.

    With *match* (a virtual host's routes, in order), a request takes the
    first whose ``match`` holds, as Envoy does (a route that is not in
    *routes*, or none, leaves it ``unrouted``); otherwise every request
    takes ``routes[0]``.
    """
    result = EnvoySimulation(config, routes, scope, seed, key)
    usable = {id(r) for r in routes}
    # One random stream per route, as ``-f`` has one Router (and rng) per http
    # route, and one for the picks of clusters that do not hash: the two inputs
    # of the same mesh then draw the same values (the round trip of ``translate``).
    rngs = {id(r): (random.Random(seed), random.Random(seed ^ 0x5EED)) for r in routes}
    users: dict[Hashable, list[Any]] = {}
    jars: dict[Hashable, dict[str, str]] = {}
    for i, req in enumerate(requests):
        result.requests += 1
        ukey = replay.user_key(req.user)
        state = replay.user_state(users, req, (None, None))
        route: Route | None = routes[0]
        if match is not None:
            first: dict[str, str] = {}
            for k, v in req.headers:
                first.setdefault(k.lower(), v)
            first.setdefault(":method", "GET")  # every request has one (-f assumes GET too)
            route = next((r for r in match if r.match.matches(req.path, first)), None)
            if route is not None and id(route) not in usable:
                route = None
        if route is None:
            result.unrouted += 1
            if decisions is not None:
                line = {"request": i, "user": req.user, "route": None, "cluster": None}
                line.update(endpoint=None, hash=None, hashed=False)
                decisions.write(json.dumps(line, separators=(",", ":")) + "\n")
            continue
        rng, balancer_rng = rngs[id(route)]
        if not route.weighted_clusters:
            rng.getrandbits(64)  # the stream id Envoy draws for every request
        pick = config.pick(
            route,
            replay.to_policy_request(req, jars.get(ukey)),
            rng=rng,
            balancer_rng=balancer_rng,
        )
        result.by_route[route.path] += 1
        for set_cookie in pick.set_cookies:
            m = replay.SET_COOKIE.match(set_cookie)
            if m:  # the client keeps the cookie and sends it back
                jars.setdefault(ukey, {})[m.group(1)] = m.group(3)
        if not pick.hashed:
            result.no_hash += 1
        result.clusters[pick.cluster] += 1
        host = pick.host
        health = None
        where: object
        if host is None:
            result.no_host[pick.cluster] += 1
            where = replay.NO_HOST
        else:
            result.endpoints[(pick.cluster, host.address)] += 1
            if host.health not in HEALTHY_STATUSES:
                health = host.health
                result.unhealthy[pick.cluster] += 1
            where = (pick.cluster, host.address)
        replay.track(state, where, pick.cluster)
        if decisions is not None:
            out: dict[str, Any] = {
                "request": i,
                "user": req.user,
                "route": route_label(route),
                "cluster": pick.cluster,
                "endpoint": host.address if host is not None else None,
                "hash": pick.hash,
                "hashed": pick.hashed,
            }
            if pick.set_cookies:
                out["set_cookie"] = pick.set_cookies[0]
            if health is not None:
                out["health"] = health
            if host is None:
                out["no_host"] = True  # Envoy: 503, no healthy upstream
            decisions.write(json.dumps(out, separators=(",", ":")) + "\n")
    result.users = len(users)
    result.one_endpoint = replay.kept(users, 0)
    result.one_cluster = replay.kept(users, 1)
    return result


def _lb(cluster: EnvoyCluster) -> str:
    options = ", ".join(f"{k}={v}" for k, v in sorted(cluster.balancer_options.items()))
    return f"{cluster.lb_policy}({options})"


def render(result: EnvoySimulation, width: int | None = replay.WIDTH) -> str:
    """Return the human-readable report, *width* columns wide (None: as wide as it needs)."""
    config = result.config
    split_routes = [r for r in result.routes if sum(1 for _, w in _weights(r) if w) > 1]
    lines = replay.report_head(
        f"{', '.join(config.sources)} -> {result.scope}",
        f"seed {result.seed}",
        result.requests,
        result.users,
        result.key,
        replay.finding(
            result,
            one_group=result.one_cluster,
            group="cluster",
            split=bool(split_routes),
            hash_driven=all(r.use_hash_policy for r in split_routes),
            next_step="A route whose weighted_clusters set use_hash_policy: true (Envoy 1.36+) "
            "picks the cluster from the route hash, and users keep cluster and pod.",
        ),
        width,
    )
    for r in result.routes:
        weights = _weights(r)
        total_w = sum(w for _, w in weights)
        routed = result.by_route.get(r.path, 0)
        lines.append("")
        name = _short(r.name) if r.name is not None else "(unnamed)"
        lines.extend(
            replay.wrap(f"route {name} ({r.path}), virtual host {_short(r.virtual_host)}", width)
        )
        lines.extend(replay.policy_lines(policy_entries(r), folded=True, width=width, istio=False))
        lines.extend(replay.weights_note([w for _, w in weights], "cluster", width))
        rows: list[list[object]] = []
        for cname, w in weights:
            n = result.clusters.get(cname, 0)
            c = config.clusters[cname]
            rows.append([cname, w, replay.pct(w, total_w), n, replay.pct(n, routed), _lb(c)])
        lines.append(replay.shares_table("cluster", rows, width))
        sick = any(
            h.health not in HEALTHY_STATUSES
            for cname, _ in weights
            for h in config.clusters[cname].hosts
        )
        lines.append("")
        rows = []
        for cname, w in weights:
            hosts = config.clusters[cname].hosts
            for h in hosts:
                n = result.endpoints.get((cname, h.address), 0)
                even = w / total_w / len(hosts) if total_w else 0.0
                row: list[object] = [h.address, cname]
                if sick:
                    row.append(h.health)
                row += [n, replay.pct(n, routed), f"{100 * even:.1f}%"]
                rows.append(row)
        head = ["endpoint", "cluster", "requests", "share", "even share"]
        if sick:
            head.insert(2, "health")
        lines.append(format_table(head, rows, align="<<<>>>" if sick else "<<>>>", width=width))
    lines.append("")
    if result.unrouted:
        lines.append(
            f"unrouted: {result.unrouted} requests matched no route that hashes "
            f"in the {result.scope}"
        )
    if result.no_hash:
        lines.append(replay.no_hash_line(result.no_hash))
    bad = sum(result.unhealthy.values())
    if bad:
        lines.append(f"panic: {bad} requests reached endpoints that are not healthy")
    none = sum(result.no_host.values())
    if none:
        lines.append(f"no healthy upstream: {none} requests got no host (Envoy answers 503)")
    lines.append(
        replay.stickiness_line(result.users, result.one_endpoint, result.one_cluster, "cluster")
    )
    return "\n".join(lines)


def plot(result: EnvoySimulation, outputs: OutputSet) -> None:
    """Draw the cluster and endpoint shares against the configured weights."""
    total = max(result.requests - result.unrouted, 1)
    u = max(result.users, 1)
    chart = replay.ShareChart(
        f"{result.scope}: {100 * result.one_cluster / u:.1f}% of users on one cluster, "
        f"{100 * result.one_endpoint / u:.1f}% on one endpoint",
        "clusters",
        fontsize=7,
    )
    for r in result.routes:
        weights = _weights(r)
        total_w = sum(w for _, w in weights) or 1
        for cname, w in weights:
            share = 100 * w / total_w
            chart.groups.add(_short(cname, 30), share, 100 * result.clusters.get(cname, 0) / total)
            hosts = result.config.clusters[cname].hosts
            for h in hosts:
                got = 100 * result.endpoints.get((cname, h.address), 0) / total
                chart.endpoints.add(
                    f"{h.address}\n({_short(cname, 30)})", share / max(len(hosts), 1), got
                )
    replay.draw_shares(chart, outputs)


def default_key(routes: Sequence[Route]) -> KeySpec:
    """Return what synthetic users send: the first hash key of the routes (as ``-f`` does)."""
    for r in routes:
        for m in r.hash_policy.policies if r.hash_policy is not None else ():
            kind, name, ttl = _entry(m)
            if kind == "cookie" and ttl is not None:
                return KeySpec("none")  # Envoy generates the cookie
            if kind in ("header", "cookie", "query"):
                return KeySpec(kind, name)
            if kind == "source-ip":
                return KeySpec(kind)
    return KeySpec("none")


def check_arguments(args: argparse.Namespace) -> None:
    """Refuse the ``-f`` options with ``--envoy-config``, and the route options without it.

    :raises InputError: such an option.
    """
    if not args.envoy_config:
        for dest, flag in _SELECTORS:
            if getattr(args, dest, None) is not None:
                raise InputError(None, f"{flag} applies to --envoy-config")
        return
    for dest, flag, default in _MESH_ONLY:
        if getattr(args, dest, default) != default:
            raise InputError(None, f"{flag} applies to -f (Istio YAML), not to --envoy-config")
    if args.mode != "envoy":
        raise InputError(
            None, "--mode sticky applies to -f (Istio YAML); --envoy-config simulates Envoy"
        )
    chosen = [flag for dest, flag in _SELECTORS if getattr(args, dest, None) is not None]
    if len(chosen) > 1:
        raise InputError(None, f"{' and '.join(chosen)}: give one of them")


def run(
    args: argparse.Namespace,
    outputs: OutputSet,
    out: IO[str] | None = None,
) -> int:
    """Run ``hashlb simulate --envoy-config`` with parsed *args*; raise InputError on bad input."""
    out = out if out is not None else sys.stdout
    outputs.add(args.json, "--json")
    outputs.add(args.decisions, "--decisions")
    outputs.add_plot(args.plot)
    config = load_config(args.envoy_config)
    selected, scope, match = select_routes(config, args)
    routes = prepare(config, selected, match)
    if not routes:
        raise InputError("--virtual-host", f"no route of the {scope} hashes: nothing to simulate")
    if args.plot:
        count = sum(len(config.clusters[n].hosts) for r in routes for n in dict(_weights(r)))
        if count > MAX_PLOT_ENDPOINTS:
            raise InputError(
                "--plot",
                f"the chart would have {count} endpoint bars, more than "
                f"{cap('MAX_PLOT_ENDPOINTS')}; leave out --plot (the --json summary has every "
                "endpoint)",
            )
    if args.requests:
        requests: Iterable[SimRequest] = read_jsonl(args.requests)
        key_text = f"from {args.requests}"
    else:
        users = args.users if args.users is not None else 1000
        key = args.key if args.key is not None else default_key(routes)
        requests = synthetic(users, args.requests_per_user, key, args.seed)
        key_text = str(key)
    kwargs: dict[str, Any] = {
        "scope": scope,
        "match": selected if match else None,
        "seed": args.seed,
        "key": key_text,
    }
    if args.decisions:
        with outputs.open("--decisions") as f:
            result = simulate(config, routes, requests, decisions=f, **kwargs)
    else:
        result = simulate(config, routes, requests, **kwargs)
    return replay.publish(
        args,
        outputs,
        out,
        result.summary,
        lambda: plot(result, outputs),
        lambda: render(result, None if args.wide else replay.WIDTH),
    )
