"""``hashlb simulate``: where does each request go?

Reads Istio/Kubernetes YAML (:mod:`hashlb.cli.mesh`), builds one
:class:`hashlb.Router` per ``http`` route of the chosen VirtualService, and
routes every request (:mod:`hashlb.cli.traffic`) through it.  The output is a
table per subset and per endpoint, the stickiness figures, and optionally a
JSON summary, one JSON line per decision and a PNG chart.

``--mode envoy`` (the default) is what the mesh does: the route hash is the
hash policy Istio emits (one entry per weighted destination with a
``consistentHash``), the weighted subset is drawn at random per request, and
the host inside the subset is the ring or Maglev lookup of the route hash.
``--mode sticky`` is hashlb's sticky canary: the subset is a pure function of
the same route hash, so every user keeps one subset and one endpoint.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import random
import re
import sys
from collections import Counter
from collections.abc import Callable, Hashable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import IO, Any

from .._ring_py import MAX_RING_SIZE
from .._validate import (
    MAX_INT_DIGITS,
    MAX_PLOT_ENDPOINTS,
    MAX_REQUESTS,
    MAX_TABLE_BYTES,
    MAX_USERS,
    cap,
)
from .._validate import clip as _clip
from .._validate import short as _short
from .mesh import HOST_LABEL, HashKey, LoadBalancer, RoutePlan, Scenario, load_mesh, match_regex
from .output import OutputSet, check_matplotlib, format_table, require_matplotlib, save_figure
from .source import InputError
from .traffic import KeySpec, SimRequest, parse_key, read_jsonl, synthetic

__all__ = ("SimulationResult", "add_parser", "run", "simulate")

#: Version of the ``--json`` schema (bumped only for incompatible changes).
SCHEMA_VERSION = 1


@dataclass(frozen=True)
class Decision:
    """Where one request went."""

    index: int
    user: str
    route: str | None
    subset: str | None
    endpoint: str | None
    pod: str | None
    hash: int | None
    set_cookie: str | None

    def as_json(self) -> dict[str, Any]:
        """Return the ``--decisions`` line for this decision."""
        out: dict[str, Any] = {
            "request": self.index,
            "user": self.user,
            "route": self.route,
            "subset": self.subset,
            "endpoint": self.endpoint,
            "pod": self.pod,
            "hash": self.hash,
        }
        if self.set_cookie is not None:
            out["set_cookie"] = self.set_cookie
        return out


# --------------------------------------------------------------------------
# Request matching (VirtualService http[].match).


def _string_match(sm: Mapping[str, Any], value: str | None, ignore_case: bool = False) -> bool:
    if value is None:
        return False
    if ignore_case:
        value = value.lower()
    if "exact" in sm:
        want = str(sm["exact"])
        return value == (want.lower() if ignore_case else want)
    if "prefix" in sm:
        want = str(sm["prefix"])
        return value.startswith(want.lower() if ignore_case else want)
    if "regex" in sm:
        return match_regex(sm["regex"]).fullmatch(value) is not None
    return True  # an empty StringMatch matches anything present


def _query(path: str) -> dict[str, str]:
    out: dict[str, str] = {}
    if "?" in path:
        for piece in path.split("?", 1)[1].split("&"):
            k, _, v = piece.partition("=")
            out.setdefault(k, v)
    return out


def _matches(plan: RoutePlan, req: SimRequest) -> bool:
    if plan.matches is None:
        return True
    for m in plan.matches:
        uri = req.path.split("?", 1)[0]
        ok = True
        if "uri" in m:
            ok = _string_match(m["uri"], uri, bool(m.get("ignoreUriCase")))
        if ok and "method" in m:
            ok = _string_match(m["method"], (req.header(":method") or ["GET"])[0])
        for name, sm in (m.get("headers") or {}).items():
            values = req.header(str(name))
            ok = ok and _string_match(sm, ",".join(values) if values else None)
        for name, sm in (m.get("withoutHeaders") or {}).items():
            values = req.header(str(name))
            ok = ok and not _string_match(sm, ",".join(values) if values else None)
        if m.get("queryParams"):
            q = _query(req.path)
            for name, sm in m["queryParams"].items():
                ok = ok and _string_match(sm, q.get(str(name)))
        if ok:
            return True
    return False


# --------------------------------------------------------------------------
# Routers.


def _policy_method(key: HashKey) -> Any:
    from .. import policy

    if key.kind == "header":
        return policy.Header(key.name)
    if key.kind == "cookie":
        ttl = None if key.cookie_ttl is None else int(key.cookie_ttl)
        return policy.Cookie(key.name, ttl=ttl, path=key.cookie_path or None)
    if key.kind == "query":
        return policy.QueryParameter(key.name)
    return policy.SourceIP()


def _balancer(lb: LoadBalancer) -> tuple[str, dict[str, int]]:
    if lb.algorithm == "maglev":
        return "maglev", {"table_size": lb.table_size}
    return "ring_hash", {"min_ring_size": lb.min_ring_size}


TableKey = tuple[str, tuple[tuple[str, int], ...], tuple[Any, ...]]


def _table_key(algorithm: str, options: Mapping[str, int], hosts: Iterable[Any]) -> TableKey:
    return (algorithm, tuple(sorted(options.items())), tuple(hosts))


def table_bytes(key: TableKey) -> int:
    """Return the estimated memory of a table (the compiled twin's ``nbytes``).

    A Maglev table is ``table_size`` slots of 2 bytes (4 above 65,535
    hosts); a ring has ``ceil(min_ring_size / n) * n`` entries for *n*
    hosts of weight 1 (at most 8,388,608) of 12 bytes.
    """
    algorithm, options, hosts = key
    opts = dict(options)
    n = max(len(hosts), 1)
    if algorithm == "maglev":
        return opts["table_size"] * (2 if n <= 65535 else 4)
    entries = min(-(-opts["min_ring_size"] // n) * n, MAX_RING_SIZE)
    return 12 * max(entries, n)


class TableCache:
    """One table per distinct (balancer, options, hosts): routes share identical tables.

    Tables are immutable, so two routes (or two subsets) whose tables would
    be equal use one object.  :meth:`factory` gives the ``balancer``
    callable a :class:`hashlb.Router` accepts.
    """

    def __init__(self) -> None:
        self.tables: dict[TableKey, Any] = {}

    def get(self, algorithm: str, hosts: Sequence[Any], **options: int) -> Any:
        """Return the table of *algorithm* over *hosts*, building it the first time."""
        from ..maglev import Maglev
        from ..ring import RingHash

        key = _table_key(algorithm, options, hosts)
        table = self.tables.get(key)
        if table is None:
            cls: Any = Maglev if algorithm == "maglev" else RingHash
            table = cls(key[2], **options)
            self.tables[key] = table
        return table

    def factory(self, algorithm: str) -> Callable[..., Any]:
        """Return ``balancer(hosts, **options)`` building tables through this cache."""

        def balancer(hosts: Sequence[Any], **options: int) -> Any:
            return self.get(algorithm, hosts, **options)

        return balancer


@dataclass
class _RouteHosts:
    """The hosts of one route and the tables its engine will need."""

    hosts: dict[tuple[str, str], Any]  # (service, address) -> Host
    by_address: dict[tuple[str, str], Any]  # (service, address) -> Endpoint
    balancer: str
    options: dict[str, int]
    tables: list[TableKey]


def _route_hosts(plan: RoutePlan, host_cache: dict[Hashable, Any]) -> _RouteHosts:
    """Make the route's hosts (shared between routes) and list the tables it needs."""
    from .. import Host

    hosts: dict[tuple[str, str], Any] = {}
    by_address: dict[tuple[str, str], Any] = {}
    for d in plan.destinations:
        for e in d.endpoints:
            k = (d.host, e.address)
            if k not in hosts:
                labels = {**e.pod.labels, HOST_LABEL: d.host}
                ck = (e.address, tuple(sorted(labels.items())))
                host = host_cache.get(ck)
                if host is None:
                    host = host_cache[ck] = Host(e.address, labels=labels)
                hosts[k] = host
                by_address[k] = e
    hashed = [d.lb for d in plan.destinations if d.lb.algorithm != "simple"]
    main = hashed[0] if hashed else LoadBalancer("ring_hash")
    balancer, options = _balancer(main)
    tables: list[TableKey] = []
    every = list(hosts.values())
    for d in plan.destinations:
        sel = list(d.selector.items())
        members = [h for h in every if all(h.labels.get(k) == v for k, v in sel)]
        if members:  # what the Router builds for this subset
            tables.append(_table_key(balancer, options, members))
        if d.lb.algorithm != "simple" and _balancer(d.lb) != (balancer, options):
            own = [hosts[(d.host, e.address)] for e in d.endpoints]
            algorithm, opts = _balancer(d.lb)
            tables.append(_table_key(algorithm, opts, own))
    return _RouteHosts(hosts, by_address, balancer, options, tables)


class RouteEngine:
    """One VirtualService http route: a :class:`hashlb.Router` plus per-subset fallbacks.

    When every destination has the same hash key (the usual DestinationRule
    level ``consistentHash``), the Router gets that one policy and, in envoy
    mode, folds Istio's one copy per destination itself; ``route(request)``
    decides everything.  When the destinations' keys differ (subset-level
    overrides) or some have none, the route hash is computed here from the
    exact list Istio emits (envoy mode) or from its distinct entries (sticky
    mode) and handed to ``Router.route_hash``.

    A destination whose DestinationRule configures a different table than
    the Router's (or no consistent hash at all) gets its host from its own
    table: the lookup of the same hash Envoy's cluster would use, or a
    uniformly random endpoint for a ``simple`` load balancer.

    Every table comes from *tables* (a :class:`TableCache`), so identical
    tables are shared between routes.
    """

    def __init__(
        self,
        plan: RoutePlan,
        mode: str,
        seed: int,
        tables: TableCache | None = None,
        route_hosts: _RouteHosts | None = None,
    ) -> None:
        from ..policy import HashPolicy
        from ..router import Router

        tables = tables if tables is not None else TableCache()
        rh = route_hosts if route_hosts is not None else _route_hosts(plan, {})
        self.plan = plan
        keys = plan.hash_keys
        distinct = tuple(dict.fromkeys(keys))
        homogeneous = len(distinct) == 1 and len(keys) == len(plan.destinations)
        self.own_hash: Any = None
        policy: Any = None
        if homogeneous:
            policy = HashPolicy(_policy_method(distinct[0]))
        elif keys:
            listed = keys if mode == "envoy" else distinct
            self.own_hash = HashPolicy(*[_policy_method(k) for k in listed])
        hosts = rh.hosts
        self.by_address: dict[tuple[str, str], Any] = rh.by_address
        balancer, options = rh.balancer, rh.options
        self.router = Router(
            list(hosts.values()),
            subsets={d.name: dict(d.selector) for d in plan.destinations},
            weights={d.name: d.weight for d in plan.destinations},
            policy=policy,
            balancer=tables.factory(balancer),
            balancer_options=options,
            mode=mode,
            seed=seed,
        )
        self.rng = random.Random(seed ^ 0x5EED)
        self.own: dict[str, Any] = {}
        for d in plan.destinations:
            if d.lb.algorithm != "simple" and _balancer(d.lb) == (balancer, options):
                continue
            members = [hosts[(d.host, e.address)] for e in d.endpoints]
            if d.lb.algorithm == "simple":
                self.own[d.name] = members  # no consistent hash: a random endpoint
            else:
                algorithm, opts = _balancer(d.lb)
                self.own[d.name] = tables.get(algorithm, members, **opts)
        self.dest = {d.name: d for d in plan.destinations}

    def route(self, req: Any) -> tuple[str, str, str, int | None, str | None]:
        """Return (subset, endpoint address, pod name, route hash, set_cookie)."""
        if self.own_hash is None:
            r = self.router.route(req)
            set_cookie = r.set_cookie
        else:
            result = self.own_hash.evaluate(req)
            r = self.router.route_hash(result.hash)
            set_cookie = result.set_cookie
        host = r.host
        table = self.own.get(r.subset)
        if table is not None:
            if isinstance(table, list):
                host = table[self.rng.randrange(len(table))]
            else:
                host = table.lookup(r.lookup_hash)
        d = self.dest[r.subset]
        e = self.by_address[(d.host, host.address)]
        return r.subset, host.address, e.pod.name, r.hash, set_cookie


# --------------------------------------------------------------------------
# The run.


@dataclass
class SimulationResult:
    """Counts and per-user sets from one simulation."""

    scenario: Scenario
    mode: str
    seed: int
    key: str
    requests: int
    subsets: Counter[str]
    endpoints: Counter[str]
    endpoint_pods: dict[str, tuple[str, str]]  # address -> (pod, subset)
    unrouted: int
    no_hash: int
    users: int
    one_endpoint: int
    one_subset: int

    def summary(self) -> dict[str, Any]:
        """Return the ``--json`` document (see docs/reference/cli.rst)."""
        weights: dict[str, int] = {}
        for r in self.scenario.routes:
            for d in r.destinations:
                weights.setdefault(d.name, d.weight)
        subsets = {name: self.subsets.get(name, 0) for name in weights}
        endpoints: dict[str, int] = {}
        for d in self.scenario.destinations:
            for e in d.endpoints:
                endpoints.setdefault(e.address, self.endpoints.get(e.address, 0))
        return {
            "schema": SCHEMA_VERSION,
            "host": self.scenario.host,
            "mode": self.mode,
            "seed": self.seed,
            "key": self.key,
            "requests": self.requests,
            "weights": weights,
            "subsets": subsets,
            "endpoints": endpoints,
            "unrouted": self.unrouted,
            "no_hash": self.no_hash,
            "stickiness": {
                "users": self.users,
                "one_endpoint": self.one_endpoint,
                "one_subset": self.one_subset,
            },
        }


def _to_policy_request(req: SimRequest, jar: Mapping[str, str] | None) -> Any:
    from ..policy import Request

    headers = list(req.headers)
    if jar:
        headers.append(("cookie", "; ".join(f"{k}={v}" for k, v in jar.items())))
    return Request(
        headers=headers,
        path=req.path,
        remote_address=req.remote_address,
        local_address=req.local_address,
    )


_SET_COOKIE = re.compile(r'^\s*([^=;\s]+)=("?)([^";]*)\2')


def build_engines(scenario: Scenario, mode: str, seed: int) -> list[RouteEngine]:
    """Build one :class:`RouteEngine` per route, sharing identical tables.

    The tables every route needs are listed and their memory estimated
    (:func:`table_bytes`) before any is built.

    :raises InputError: the distinct tables would take more than
        :data:`~hashlb._validate.MAX_TABLE_BYTES`, or the library rejects a
        route's configuration (the message names the route's position).
    """
    host_cache: dict[Hashable, Any] = {}
    plans = [(plan, _route_hosts(plan, host_cache)) for plan in scenario.routes]
    seen: set[TableKey] = set()
    total = 0
    for plan, rh in plans:
        for key in rh.tables:
            if key not in seen:
                seen.add(key)
                total += table_bytes(key)
        if total > MAX_TABLE_BYTES:
            raise InputError(
                plan.where,
                f"route {_short(plan.name)}: the ring and Maglev tables of the routes so far "
                f"would take about {total / 2**20:.0f} MiB, more than {cap('MAX_TABLE_BYTES')} "
                "bytes (identical tables are shared; lower maglev.tableSize or "
                "ringHash.minimumRingSize)",
            )
    tables = TableCache()
    engines = []
    for plan, rh in plans:
        try:
            engines.append(RouteEngine(plan, mode, seed, tables, rh))
        except ValueError as e:  # ConfigError: a configuration the library rejects
            raise InputError(
                plan.where, f"route {_short(plan.name)}: {_clip(str(e), 300)}"
            ) from None
    return engines


def simulate(
    scenario: Scenario,
    requests: Iterable[SimRequest],
    *,
    mode: str,
    seed: int,
    key: str,
    decisions: IO[str] | None = None,
) -> SimulationResult:
    """Route every request; write one JSON line per decision to *decisions*.

    :raises InputError: the library rejects the configuration.
    """
    engines = build_engines(scenario, mode, seed)
    subsets: Counter[str] = Counter()
    endpoints: Counter[str] = Counter()
    pods: dict[str, tuple[str, str]] = {}
    # user -> [its endpoint, its subset]: None before its first routed
    # request, _MANY once it has seen two (about 200 bytes a user).
    users: dict[Hashable, list[Any]] = {}
    jars: dict[Hashable, dict[str, str]] = {}
    unrouted = no_hash = total = 0
    for i, req in enumerate(requests):
        total += 1
        ukey = _user_key(req.user)
        state = users.get(ukey)
        if state is None:
            if len(users) >= MAX_USERS:
                raise InputError(
                    req.where, f"more than {cap('MAX_USERS')} distinct users in the requests"
                )
            state = users[ukey] = [None, None]
        engine = next((e for e in engines if _matches(e.plan, req)), None)
        if engine is None:
            unrouted += 1
            d = Decision(i, req.user, None, None, None, None, None, None)
        else:
            jar = jars.get(ukey)
            subset, address, pod, h, set_cookie = engine.route(_to_policy_request(req, jar))
            if set_cookie:
                m = _SET_COOKIE.match(set_cookie)
                if m:  # the client keeps the cookie and sends it back
                    jars.setdefault(ukey, {})[m.group(1)] = m.group(3)
            if h is None:
                no_hash += 1
            subsets[subset] += 1
            endpoints[address] += 1
            pods.setdefault(address, (pod, subset))
            if state[0] is None:
                state[0], state[1] = address, subset
            else:
                if state[0] is not _MANY and state[0] != address:
                    state[0] = _MANY
                if state[1] is not _MANY and state[1] != subset:
                    state[1] = _MANY
            d = Decision(i, req.user, engine.plan.name, subset, address, pod, h, set_cookie)
        if decisions is not None:
            decisions.write(json.dumps(d.as_json(), separators=(",", ":")) + "\n")
    return SimulationResult(
        scenario,
        mode,
        seed,
        key,
        total,
        subsets,
        endpoints,
        pods,
        unrouted,
        no_hash,
        len(users),
        sum(1 for s in users.values() if s[0] is not None and s[0] is not _MANY),
        sum(1 for s in users.values() if s[1] is not None and s[1] is not _MANY),
    )


_MANY = object()


def _user_key(user: str) -> Hashable:
    """Return what identifies a user in memory: the name, or a digest of a long one."""
    if len(user) <= 64:
        return user
    return hashlib.blake2b(user.encode("utf-8", "surrogatepass"), digest_size=16).digest()


def _pct(n: int, d: int) -> str:
    return f"{100.0 * n / d:.1f}%" if d else "-"


def render(result: SimulationResult) -> str:
    """Return the human-readable report."""
    sc = result.scenario
    lines = [
        f"hashlb simulate: {sc.source} -> {sc.host}  (mode {result.mode}, seed {result.seed})",
        f"{result.requests} requests from {result.users} users, key {result.key}",
    ]
    for plan in sc.routes:
        total_w = sum(d.weight for d in plan.destinations)
        routed = sum(result.subsets.get(d.name, 0) for d in plan.destinations)
        lines.append("")
        keys = plan.hash_keys
        if result.mode == "sticky":
            keys = tuple(dict.fromkeys(keys))
        policy = " + ".join(k.describe() for k in keys) or "none"
        note = ""
        if result.mode == "envoy" and len(keys) > 1:
            note = f", {len(keys)} entries (one per destination, as Istio emits)"
        elif result.mode == "sticky" and len(plan.hash_keys) > len(keys):
            note = " (sticky mode hashes each distinct entry once)"
        lines.append(f"route {_short(plan.name)} ({plan.where}): hash policy [{policy}]{note}")
        rows = []
        for d in plan.destinations:
            n = result.subsets.get(d.name, 0)
            rows.append(
                [d.name, d.weight, _pct(d.weight, total_w), n, _pct(n, routed), d.lb.describe()]
            )
        lines.append(
            format_table(
                ["subset", "weight", "configured", "requests", "share", "load balancer"],
                rows,
                align="<>>>><",
            )
        )
        lines.append("")
        rows = []
        for d in plan.destinations:
            for e in d.endpoints:
                n = result.endpoints.get(e.address, 0)
                expected = d.weight / total_w / len(d.endpoints) if total_w else 0.0
                rows.append(
                    [
                        e.address,
                        e.pod.name + (" *" if e.pod.synthetic else ""),
                        d.name,
                        n,
                        _pct(n, routed),
                        f"{100 * expected:.1f}%",
                    ]
                )
        lines.append(
            format_table(
                ["endpoint", "pod", "subset", "requests", "share", "even share"],
                rows,
                align="<<<>>>",
            )
        )
    if any(e.pod.synthetic for d in sc.destinations for e in d.endpoints):
        lines.append("* synthetic pod address (the input has no pod IP; see the docs)")
    lines.append("")
    if result.unrouted:
        lines.append(f"unrouted: {result.unrouted} requests matched no http route")
    if result.no_hash:
        lines.append(
            f"no hash: {result.no_hash} requests produced no hash (Envoy picks those at random)"
        )
    u = result.users
    lines.append(
        f"stickiness: {u} users; one endpoint: {result.one_endpoint} "
        f"({_pct(result.one_endpoint, u)}); one subset: {result.one_subset} "
        f"({_pct(result.one_subset, u)})"
    )
    return "\n".join(lines)


def plot(result: SimulationResult, outputs: OutputSet, flag: str = "--plot") -> None:
    """Draw the subset and endpoint shares against the configured weights."""
    plt = require_matplotlib()
    sc = result.scenario
    dests = sc.destinations
    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(11, 4.2), gridspec_kw={"width_ratios": [1, 2.2]})
    total = max(result.requests - result.unrouted, 1)
    names = [d.name for d in dests]
    total_w = {
        id(d): sum(x.weight for x in p.destinations) for p in sc.routes for d in p.destinations
    }
    x = range(len(dests))
    ax1.bar(
        [i - 0.2 for i in x],
        [100 * d.weight / total_w[id(d)] for d in dests],
        0.4,
        label="configured",
        color="#bbbbbb",
    )
    ax1.bar(
        [i + 0.2 for i in x],
        [100 * result.subsets.get(n, 0) / total for n in names],
        0.4,
        label="simulated",
        color="#3572a5",
    )
    ax1.set_xticks(list(x), names, rotation=20)
    ax1.set_ylabel("share of requests (%)")
    ax1.set_title("subsets")
    ax1.legend()
    labels, got, even = [], [], []
    for d in dests:
        for e in d.endpoints:
            labels.append(f"{e.pod.name}\n({d.name})")
            got.append(100 * result.endpoints.get(e.address, 0) / total)
            even.append(100 * d.weight / total_w[id(d)] / len(d.endpoints))
    x2 = range(len(labels))
    ax2.bar([i - 0.2 for i in x2], even, 0.4, label="even share of the weight", color="#bbbbbb")
    ax2.bar([i + 0.2 for i in x2], got, 0.4, label="simulated", color="#e07b39")
    ax2.set_xticks(list(x2), labels, rotation=20, fontsize=8)
    ax2.set_title("endpoints")
    ax2.legend()
    u = max(result.users, 1)
    fig.suptitle(
        f"{sc.host} - mode {result.mode}: {100 * result.one_subset / u:.1f}% of users "
        f"on one subset, {100 * result.one_endpoint / u:.1f}% on one endpoint",
        fontsize=10,
    )
    fig.tight_layout()
    save_figure(outputs, fig, flag, plt)


# --------------------------------------------------------------------------
# Command line.


def _positive(text: str) -> int:
    try:
        if len(text) > MAX_INT_DIGITS:
            raise ValueError(text)
        v = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"invalid positive integer: {_short(text)}") from None
    if v < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, got {v}")
    return v


def _seed(text: str) -> int:
    try:
        if len(text) > MAX_INT_DIGITS:
            raise ValueError(text)
        v = int(text, 0)
    except ValueError:
        raise argparse.ArgumentTypeError(f"invalid seed: {_short(text)}") from None
    if not 0 <= v < 2**64:
        raise argparse.ArgumentTypeError(f"the seed must be in [0, 2**64), got {v}")
    return v


def _key(text: str) -> KeySpec:
    try:
        return parse_key(text)
    except ValueError as e:
        raise argparse.ArgumentTypeError(str(e)) from None


def add_parser(sub: Any) -> argparse.ArgumentParser:
    """Add the ``simulate`` subcommand to *sub* (from ``add_subparsers``)."""
    p: argparse.ArgumentParser = sub.add_parser(
        "simulate",
        help="route requests through Istio/Kubernetes YAML as Envoy would",
        description=(
            "Route requests through Istio DestinationRules and VirtualServices and "
            "Kubernetes Deployments/Pods exactly as Envoy would, and report where they went."
        ),
    )
    g = p.add_argument_group("mesh")
    g.add_argument(
        "-f",
        "--file",
        action="append",
        required=True,
        metavar="PATH",
        help="a YAML file or a directory of them (repeatable; '-' reads stdin)",
    )
    g.add_argument(
        "--endpoints",
        action="append",
        default=[],
        metavar="PATH",
        help="Pods with real IPs, e.g. kubectl get pods -o yaml (repeatable)",
    )
    g.add_argument("--host", help="the VirtualService host to simulate (when there are several)")
    g.add_argument(
        "-n",
        "--namespace",
        default="default",
        help="namespace of resources that name none (default: default)",
    )
    g.add_argument(
        "--cluster-domain",
        default="cluster.local",
        help="the cluster's DNS domain (default: cluster.local)",
    )
    r = p.add_argument_group("requests")
    src = r.add_mutually_exclusive_group()
    src.add_argument(
        "--requests",
        metavar="JSONL",
        help="one JSON request per line: headers, cookies, path, source_ip, user ('-': stdin)",
    )
    src.add_argument("--users", type=_positive, metavar="N", help="synthetic users (default: 1000)")
    r.add_argument(
        "--requests-per-user",
        type=_positive,
        default=20,
        metavar="R",
        help="requests each synthetic user sends (default: 20)",
    )
    r.add_argument(
        "--key",
        type=_key,
        metavar="KEY",
        help="what synthetic users send: header:NAME, cookie:NAME, query:NAME, source-ip "
        "or none (default: the route's first hash key)",
    )
    r.add_argument(
        "--mode",
        choices=("envoy", "sticky"),
        default="envoy",
        help="envoy: what the mesh does (default); sticky: hashlb's sticky canary",
    )
    r.add_argument(
        "--seed",
        type=_seed,
        default=0,
        help="seed of the synthetic users and of Envoy's per-request random (default: 0)",
    )
    o = p.add_argument_group("output")
    o.add_argument("--json", metavar="PATH", help="write the summary as JSON ('-': stdout)")
    o.add_argument(
        "--decisions", metavar="PATH", help="write one JSON line per request ('-': stdout)"
    )
    o.add_argument(
        "--plot", metavar="PNG", help="draw the shares as a PNG bar chart ('-': stdout, not a tty)"
    )
    o.add_argument("-q", "--quiet", action="store_true", help="do not print the report")
    p.set_defaults(run=run)
    return p


def _default_key(scenario: Scenario) -> KeySpec:
    for plan in scenario.routes:
        for k in plan.hash_keys:
            if k.kind == "source_ip":
                return KeySpec("source-ip")
            if k.kind == "cookie" and k.cookie_ttl is not None:
                return KeySpec("none")  # Envoy generates the cookie
            return KeySpec(k.kind, k.name)
    return KeySpec("none")


def _key_note(scenario: Scenario, key: KeySpec) -> str | None:
    if key.kind in ("none", "source-ip"):
        return None
    kind = {"header": "header", "cookie": "cookie", "query": "query"}[key.kind]
    for plan in scenario.routes:
        for k in plan.hash_keys:
            if k.kind == kind and k.name == key.name:
                return None
    return (
        f"note: no hash policy uses {key}; those requests have no hash "
        "and Envoy balances them at random"
    )


def _check_counts(args: argparse.Namespace) -> None:
    """Refuse request counts over the caps, before anything is read or built."""
    if args.requests:
        if args.key is not None:
            raise InputError(
                None, "--key applies to synthetic users; a --requests file carries its own keys"
            )
        if args.requests == "-" and "-" in args.file + args.endpoints:
            raise InputError(
                None, "--requests - and -f - (or --endpoints -) both read standard input"
            )
        return
    users = args.users if args.users is not None else 1000
    if users > MAX_USERS:
        raise InputError(None, f"--users {users} is more than {cap('MAX_USERS')}")
    total = users * args.requests_per_user
    if total > MAX_REQUESTS:
        raise InputError(
            None,
            f"--users {users} x --requests-per-user {args.requests_per_user} = {total} "
            f"requests, more than {cap('MAX_REQUESTS')}",
        )


def _check_plot(scenario: Scenario) -> None:
    addresses = {e.address for d in scenario.destinations for e in d.endpoints}
    if len(addresses) > MAX_PLOT_ENDPOINTS:
        raise InputError(
            "--plot",
            f"the chart would have {len(addresses)} endpoint bars, more than "
            f"{cap('MAX_PLOT_ENDPOINTS')}; leave out --plot (the --json summary has every endpoint)",
        )


def run(args: argparse.Namespace, outputs: OutputSet, out: IO[str] | None = None) -> int:
    """Run ``hashlb simulate`` with parsed *args*; raise InputError on bad input.

    Every count and output is checked before the YAML is read; the caps on
    what the YAML asks for are checked before any table is built.  The
    report goes to *out* (standard output) unless ``-q`` or an output is ``-``.
    """
    out = out if out is not None else sys.stdout
    _check_counts(args)
    outputs.add(args.json, "--json")
    outputs.add(args.decisions, "--decisions")
    outputs.add(args.plot, "--plot", binary=True)
    if args.plot:
        check_matplotlib()
    mesh = load_mesh(
        args.file,
        args.endpoints,
        namespace=args.namespace,
        domain=args.cluster_domain,
    )
    scenario = mesh.scenario(args.host)
    if args.plot:
        _check_plot(scenario)
    for text in mesh.notes:
        print(f"hashlb simulate: note: {text}", file=sys.stderr)
    if args.requests:
        requests: Sequence[SimRequest] | Iterable[SimRequest] = read_jsonl(args.requests)
        key_text = f"from {args.requests}"
    else:
        users = args.users if args.users is not None else 1000
        key = args.key if args.key is not None else _default_key(scenario)
        note = _key_note(scenario, key)
        if note:
            print(f"hashlb simulate: {note}", file=sys.stderr)
        requests = synthetic(users, args.requests_per_user, key, args.seed)
        key_text = str(key)
    if args.decisions:
        with outputs.open("--decisions") as f:
            result = simulate(
                scenario, requests, mode=args.mode, seed=args.seed, key=key_text, decisions=f
            )
    else:
        result = simulate(scenario, requests, mode=args.mode, seed=args.seed, key=key_text)
    if args.json:
        with outputs.open("--json") as f:
            json.dump(result.summary(), f, indent=2)
            f.write("\n")
    if args.plot:
        plot(result, outputs)
    if not args.quiet and not outputs.uses_stdout:
        outputs.report(render(result), out)
    return 0
