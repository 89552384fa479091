"""``hashlb simulate``: where does each request go?

Reads Istio/Kubernetes YAML (:mod:`hashlb.istio`), builds one
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
import json
import sys
from collections import Counter
from collections.abc import Callable, Hashable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import IO, TYPE_CHECKING, Any

from .._source import InputError
from .._validate import (
    HEALTHY_STATUSES,
    MAX_INT_DIGITS,
    MAX_PLOT_ENDPOINTS,
    MAX_REQUESTS,
    MAX_USERS,
    cap,
)
from .._validate import short as _short
from . import _columnar
from ._replay import (
    NO_HOST,
    SET_COOKIE,
    WIDTH,
    ShareChart,
    draw_shares,
    finding,
    kept,
    no_hash_line,
    pct,
    policy_lines,
    publish,
    report_head,
    shares_table,
    stickiness_line,
    to_policy_request,
    track,
    user_key,
    user_state,
    weights_note,
    wrap,
)
from .output import OutputSet, format_table
from .traffic import KeySpec, SimRequest, parse_key, read_jsonl, synthetic

if TYPE_CHECKING:
    from ..istio import Mesh, Scenario
    from ..istio.translate import SubsetHealth

__all__ = ("DESCRIPTION", "HELP", "SimulationResult", "add_arguments", "run", "simulate")

#: ``--unhealthy-endpoints`` choices: ``hashlb.istio.model.UNHEALTHY_ENDPOINTS`` (repeated
#: here: that package needs PyYAML, and the parser is built without it).
UNHEALTHY_ENDPOINTS = ("omit", "auto", "always")

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
    #: The endpoint's health when it is not healthy (Envoy chose it in panic).
    health: str | None = None

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
        if self.health is not None:
            out["health"] = self.health
        if self.subset is not None and self.endpoint is None:
            out["no_host"] = True  # Envoy: 503, no healthy upstream
        return out


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
    #: subset -> what its Envoy cluster makes of the endpoints' health
    health: dict[str, SubsetHealth] = field(default_factory=dict)
    #: subset -> requests that got no host (Envoy's 503, no healthy upstream)
    no_host: Counter[str] = field(default_factory=Counter)
    #: subset -> requests that reached an endpoint that is not healthy (panic)
    unhealthy: Counter[str] = field(default_factory=Counter)
    #: users with at least one request on an endpoint that is not healthy
    users_on_unhealthy: int = 0

    def health_summary(self) -> dict[str, Any]:
        """Return the ``health`` part of the ``--json`` document."""
        subsets = {}
        for name, h in self.health.items():
            subsets[name] = {
                **h.as_json(),
                "requests_to_unhealthy": self.unhealthy.get(name, 0),
                "no_host": self.no_host.get(name, 0),
            }
        endpoints: dict[str, str] = {}
        for d in self.scenario.destinations:
            for e in d.endpoints:
                if e.health not in HEALTHY_STATUSES:
                    endpoints.setdefault(e.address, e.health)
        return {
            "subsets": subsets,
            "endpoints": endpoints,
            "requests_to_unhealthy": sum(self.unhealthy.values()),
            "no_host": sum(self.no_host.values()),
            "users_on_unhealthy": self.users_on_unhealthy,
        }

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
            "health": self.health_summary(),
            **self._locality_summary(),
        }

    def _locality_summary(self) -> dict[str, Any]:
        """Return ``{"localities": {address: {"locality", "priority"}}}`` when pods have one.

        Per address, the first destination that lists it (priorities are per cluster).
        """
        found: dict[str, dict[str, Any]] = {}
        for d in self.scenario.destinations:
            for e in d.endpoints:
                if e.locality is not None or e.priority:
                    found.setdefault(e.address, {"locality": e.locality, "priority": e.priority})
        return {"localities": found} if found else {}


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
    from ..istio import build_engines, plan_matches

    engines = build_engines(scenario, mode, seed)
    health: dict[str, SubsetHealth] = {}
    for e in engines:
        for name, sh in e.health.items():
            health.setdefault(name, sh)
    # per engine: (subset, address) -> health, for the endpoints that are not healthy
    sick = [
        {
            (d.name, ep.address): ep.health
            for d in e.plan.destinations
            for ep in d.endpoints
            if ep.health not in HEALTHY_STATUSES
        }
        for e in engines
    ]
    no_host: Counter[str] = Counter()
    unhealthy: Counter[str] = Counter()
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
        ukey = user_key(req.user)
        state = user_state(users, req, (None, None, False))
        k = next((k for k, e in enumerate(engines) if plan_matches(e.plan, req)), None)
        engine = engines[k] if k is not None else None
        if engine is None or k is None:
            unrouted += 1
            if decisions is not None:
                d = Decision(i, req.user, None, None, None, None, None, None)
                decisions.write(json.dumps(d.as_json(), separators=(",", ":")) + "\n")
        else:
            jar = jars.get(ukey)
            subset, address, pod, h, set_cookie = engine.route(to_policy_request(req, jar))
            if set_cookie:
                m = SET_COOKIE.match(set_cookie)
                if m:  # the client keeps the cookie and sends it back
                    jars.setdefault(ukey, {})[m.group(1)] = m.group(3)
            if h is None:
                no_hash += 1
            subsets[subset] += 1
            status = None
            if address is None:
                no_host[subset] += 1
            else:
                endpoints[address] += 1
                pods.setdefault(address, (pod or "", subset))
                status = sick[k].get((subset, address)) if sick[k] else None
                if status is not None:
                    unhealthy[subset] += 1
                    state[2] = True
            where = address if address is not None else NO_HOST
            track(state, where, subset)
            if decisions is not None:
                d = Decision(
                    i, req.user, engine.plan.name, subset, address, pod, h, set_cookie, status
                )
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
        kept(users, 0),
        kept(users, 1),
        health,
        no_host,
        unhealthy,
        sum(1 for s in users.values() if s[2]),
    )


def render(result: SimulationResult, width: int | None = WIDTH) -> str:
    """Return the human-readable report, *width* columns wide (None: as wide as it needs)."""
    sc = result.scenario
    split = any(sum(1 for d in plan.destinations if d.weight) > 1 for plan in sc.routes)
    lines = report_head(
        f"{sc.source} -> {sc.host}",
        f"mode {result.mode}, seed {result.seed}",
        result.requests,
        result.users,
        result.key,
        finding(
            result,
            one_group=result.one_subset,
            group="subset",
            split=split,
            hash_driven=result.mode == "sticky",
            next_step="Try --mode sticky: hashlb's sticky canary keeps each user on one "
            "subset and pod.",
        ),
        width,
    )
    for plan in sc.routes:
        total_w = sum(d.weight for d in plan.destinations)
        routed = sum(result.subsets.get(d.name, 0) for d in plan.destinations)
        lines.append("")
        lines.append(f"route {_short(plan.name)} ({plan.where})")
        entries = [k.describe() for k in plan.hash_keys]
        if result.mode == "sticky":
            distinct = list(dict.fromkeys(entries))
            lines.extend(policy_lines(distinct, folded=False, width=width))
            if len(distinct) < len(entries):
                lines.append("    (sticky mode hashes each distinct entry once)")
        else:
            lines.extend(policy_lines(entries, folded=True, width=width))
        lines.extend(weights_note([d.weight for d in plan.destinations], "subset", width))
        rows = []
        for d in plan.destinations:
            n = result.subsets.get(d.name, 0)
            rows.append(
                [d.name, d.weight, pct(d.weight, total_w), n, pct(n, routed), d.lb.describe()]
            )
        lines.append(shares_table("subset", rows, width))
        sick = any(e.health != "healthy" for d in plan.destinations for e in d.endpoints)
        placed = any(e.locality is not None for d in plan.destinations for e in d.endpoints)
        failover = any(d.locality is not None for d in plan.destinations)
        if sick or failover:
            lines.append("")
            lines.append(_health_table(result, plan, width))
        lines.append("")
        rows = []
        for d in plan.destinations:
            for e in d.endpoints:
                n = result.endpoints.get(e.address, 0)
                expected = d.weight / total_w / len(d.endpoints) if total_w else 0.0
                row: list[object] = [
                    e.address,
                    e.pod.name + (" *" if e.pod.synthetic else ""),
                    d.name,
                ]
                if sick:
                    row.append(e.health)
                if placed:
                    row.append(e.locality or "-")
                if failover:
                    row.append(e.priority)
                row += [n, pct(n, routed), f"{100 * expected:.1f}%"]
                rows.append(row)
        head = ["endpoint", "pod", "subset", "requests", "share", "even share"]
        extra = [("health", sick, "<"), ("locality", placed, "<"), ("priority", failover, ">")]
        shown = [(name, a) for name, on, a in extra if on]
        head[3:3] = [name for name, _ in shown]
        align = "<<<" + "".join(a for _, a in shown) + ">>>"
        cut = (1, head.index("locality")) if placed else (1,)
        lines.append(format_table(head, rows, align=align, width=width, cut=cut))
    if any(e.pod.synthetic for d in sc.destinations for e in d.endpoints):
        lines.append("* synthetic pod address (the input has no pod IP; see the docs)")
    lines.append("")
    if result.unrouted:
        lines.append(f"unrouted: {result.unrouted} requests matched no http route")
    if result.no_hash:
        lines.append(no_hash_line(result.no_hash))
    lines.extend(_health_lines(result))
    lines.append(stickiness_line(result.users, result.one_endpoint, result.one_subset, "subset"))
    return "\n".join(lines)


def _loads(h: SubsetHealth) -> str:
    """Return a level's loads as ``healthy 70%, degraded 30%`` (one level per priority)."""
    parts = [f"healthy {'/'.join(map(str, h.healthy_load))}%"]
    if any(h.degraded_load):
        parts.append(f"degraded {'/'.join(map(str, h.degraded_load))}%")
    return ", ".join(parts)


def _threshold(percent: float) -> str:
    """Return ``50%``, or ``29% (acts as 28%)`` where Envoy's truncation changes it."""
    from ..cluster import panic_threshold

    acts = panic_threshold(percent)
    return f"{percent:g}%" if acts == percent else f"{percent:g}% (acts as {acts}%)"


def _health_table(result: SimulationResult, plan: Any, width: int | None = WIDTH) -> str:
    """Return the per-subset health table: counts, threshold, priority loads, panic."""
    rows = []
    for d in plan.destinations:
        h = result.health.get(d.name)
        if h is None:
            continue
        if h.in_panic:
            panic = f"PANIC: all {h.hosts} hosts"
        elif h.healthy == 0 and h.hosts:
            panic = "no: none healthy, 503"
        else:
            panic = "no: healthy only"
        rows.append(
            [
                d.name,
                h.hosts,
                h.healthy,
                h.degraded,
                h.unhealthy,
                h.excluded,
                _threshold(h.panic_threshold),
                _loads(h),
                panic,
            ]
        )
    table = format_table(
        [
            "subset",
            "hosts",
            "healthy",
            "degr.",
            "unhealthy",
            "excl.",
            "panic <",
            "priority load",
            "panic",
        ],
        rows,
        align="<>>>>>><<",
        width=width,
        cut=(0,),
    )
    if any(result.health[d.name].in_panic for d in plan.destinations if d.name in result.health):
        table += (
            "\n  PANIC: below the threshold Envoy builds the table from every host, healthy or not"
        )
    sources = [
        line
        for d in plan.destinations
        if d.name in result.health
        for line in wrap(
            f"  {d.name}: panic threshold {result.health[d.name].describe_threshold()}",
            width,
            "    ",
        )
    ]
    for d in plan.destinations:
        h = result.health.get(d.name)
        if h is None or not h.locality:
            continue
        levels = "; ".join(
            f"P{p} {', '.join(n or '-' for n in names)}: {healthy}/{hosts} healthy"
            + (" PANIC" if panic else "")
            for p, hosts, healthy, panic, names in h.levels
        )
        sources.extend(wrap(f"  {d.name}: locality {h.locality}: {levels}", width, "    "))
    return "\n".join([table, *sources])


def _subsets(names: Sequence[str]) -> str:
    """Return ``subset 'a' is`` or ``subsets 'a', 'b' are`` for a sentence."""
    quoted = ", ".join(map(repr, names))
    return f"subset {quoted} is" if len(names) == 1 else f"subsets {quoted} are"


def _health_lines(result: SimulationResult) -> list[str]:
    """Return the summary lines on panic and no-host requests (none when all is healthy)."""
    lines = []
    routed = result.requests - result.unrouted
    bad = sum(result.unhealthy.values())
    if bad:
        panicking = [n for n, h in result.health.items() if h.in_panic]
        lines.append(
            f"panic: {bad} requests ({pct(bad, routed)}) from {result.users_on_unhealthy} users "
            f"({pct(result.users_on_unhealthy, result.users)}) reached endpoints that are not "
            "healthy" + (f" ({_subsets(panicking)} in panic)" if panicking else "")
        )
    none = sum(result.no_host.values())
    if none:
        lines.append(
            f"no healthy upstream: {none} requests ({pct(none, routed)}) got no host "
            "(Envoy answers 503)"
        )
    quiet = [
        n
        for n, h in result.health.items()
        if h.hosts > h.healthy and not h.in_panic and not result.unhealthy.get(n)
    ]
    if quiet:
        lines.append(
            f"not in panic: {_subsets(quiet)} sent no request to an endpoint that is not healthy"
        )
    return lines


def plot(result: SimulationResult, outputs: OutputSet, flag: str = "--plot") -> None:
    """Draw the subset and endpoint shares against the configured weights."""
    sc = result.scenario
    total = max(result.requests - result.unrouted, 1)
    total_w = {
        id(d): sum(x.weight for x in p.destinations) for p in sc.routes for d in p.destinations
    }
    u = max(result.users, 1)
    chart = ShareChart(
        f"{sc.host} - mode {result.mode}: {100 * result.one_subset / u:.1f}% of users "
        f"on one subset, {100 * result.one_endpoint / u:.1f}% on one endpoint",
        "subsets",
    )
    for d in sc.destinations:
        share = 100 * d.weight / total_w[id(d)]
        chart.groups.add(d.name, share, 100 * result.subsets.get(d.name, 0) / total)
        for e in d.endpoints:
            got = 100 * result.endpoints.get(e.address, 0) / total
            chart.endpoints.add(f"{e.pod.name}\n({d.name})", share / len(d.endpoints), got)
    draw_shares(chart, outputs, flag)


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


#: The one-line help of ``hashlb simulate`` and its longer description.
HELP = "route requests through Istio/Kubernetes YAML or Envoy config as Envoy would"
DESCRIPTION = (
    "Route requests through Istio DestinationRules and VirtualServices and "
    "Kubernetes Deployments/Pods (-f), or through Envoy's own configuration "
    "(--envoy-config: a config dump, istioctl proxy-config JSON or a bootstrap), "
    "exactly as Envoy would, and report where they went."
)


def add_arguments(p: argparse.ArgumentParser) -> None:
    """Add the ``simulate`` options to *p*, the parser :mod:`hashlb.cli` made from :data:`HELP`."""
    g = p.add_argument_group("mesh")
    inputs = g.add_mutually_exclusive_group(required=True)
    inputs.add_argument(
        "-f",
        "--file",
        action="append",
        metavar="PATH",
        help="a YAML file or a directory of them (repeatable; '-' reads stdin)",
    )
    inputs.add_argument(
        "--envoy-config",
        action="append",
        metavar="FILE",
        help="Envoy configuration instead of Istio YAML: an admin /config_dump, istioctl "
        "proxy-config JSON or a bootstrap (repeatable, e.g. istioctl's cluster, route and "
        "endpoint files; '-' reads stdin)",
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
    g.add_argument(
        "--unhealthy-endpoints",
        choices=UNHEALTHY_ENDPOINTS,
        default="auto",
        help="what Istio sends for pods that are not Ready: auto (an UNHEALTHY endpoint "
        "unless the cluster's minHealthPercent is above 0: Istio 1.31 on, the default), "
        "omit (no endpoint: Istio before 1.31) or always "
        "(PILOT_SEND_UNHEALTHY_ENDPOINTS=true; panic disabled)",
    )
    g.add_argument(
        "--source-locality",
        metavar="REGION[/ZONE[/SUBZONE]]",
        help="the client proxy's locality: Istio's locality failover priorities (with "
        "outlierDetection) and localityLbSetting.distribute weights for that client; "
        "without it every endpoint is at priority 0",
    )
    e = p.add_argument_group("route (with --envoy-config)")
    pick = e.add_mutually_exclusive_group()
    pick.add_argument(
        "--route", metavar="NAME", help="the route to simulate: its name or its JSON path"
    )
    pick.add_argument(
        "--virtual-host",
        metavar="NAME",
        help="simulate a virtual host: each request takes its first matching route",
    )
    pick.add_argument(
        "--cluster", metavar="NAME", help="simulate the route that hashes and sends to NAME"
    )
    r = p.add_argument_group("requests")
    src = r.add_mutually_exclusive_group()
    src.add_argument(
        "--requests",
        metavar="FILE",
        help="one JSON request per line: headers, cookies, path, source_ip, user ('-': stdin); "
        "with --column, a Parquet, CSV or JSON-lines table of logged requests",
    )
    src.add_argument("--users", type=_positive, metavar="N", help="synthetic users (default: 1000)")
    _columnar.add_arguments(r)
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
    o.add_argument(
        "--wide",
        action="store_true",
        help=f"do not wrap or cut the report to {WIDTH} columns",
    )
    p.set_defaults(run=run)


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
        if args.requests == "-" and "-" in (args.file or []) + args.endpoints:
            raise InputError(
                None, "--requests - and -f - (or --endpoints -) both read standard input"
            )
        if args.requests == "-" and "-" in (args.envoy_config or []):
            raise InputError(None, "--requests - and --envoy-config - both read standard input")
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


def _load_mesh() -> Callable[..., Mesh]:
    """Return :func:`hashlb.istio.load_mesh`; without PyYAML, an InputError saying what to install."""
    try:
        from ..istio import load_mesh
    except ImportError as e:  # hashlb.istio says: pip install "hashlb[istio]"
        raise InputError(None, str(e)) from None
    return load_mesh


def mesh_from_args(args: argparse.Namespace, load_mesh: Callable[..., Mesh]) -> Mesh:
    """Load the ``-f`` files with the mesh options (``--endpoints``, ``-n``, ``--cluster-domain``,
    ``--unhealthy-endpoints``), as ``simulate`` and ``translate`` read them."""
    return load_mesh(
        args.file,
        args.endpoints,
        namespace=args.namespace,
        domain=args.cluster_domain,
        unhealthy_endpoints=args.unhealthy_endpoints,
    )


def run(args: argparse.Namespace, outputs: OutputSet, out: IO[str] | None = None) -> int:
    """Run ``hashlb simulate`` with parsed *args*; raise InputError on bad input.

    Every count and output is checked before the YAML is read; the caps on
    what the YAML asks for are checked before any table is built.  The
    report goes to *out* (standard output) unless ``-q`` or an output is ``-``.
    """
    out = out if out is not None else sys.stdout
    from . import envoy_config

    envoy_config.check_arguments(args)
    if args.envoy_config and (args.column or args.format or args.batch_rows is not None):
        raise InputError("--column", "--column applies to -f (Istio YAML), not --envoy-config")
    if args.envoy_config:
        _check_counts(args)
        return envoy_config.run(args, outputs, out)
    load_mesh = _load_mesh()
    _check_counts(args)
    outputs.add(args.json, "--json")
    outputs.add(args.decisions, "--decisions")
    outputs.add_plot(args.plot)
    mesh = mesh_from_args(args, load_mesh)
    scenario = mesh.scenario(args.host, source_locality=args.source_locality)
    if args.plot:
        _check_plot(scenario)
    for text in mesh.notes:
        print(f"hashlb simulate: note: {text}", file=sys.stderr)
    if _columnar.wanted(args):
        result = _columnar.run_file(args, scenario, f"from {args.requests}")
        return publish(
            args,
            outputs,
            out,
            result.summary,
            lambda: plot(result, outputs),
            lambda: render(result, None if args.wide else WIDTH),
        )
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
    return publish(
        args,
        outputs,
        out,
        result.summary,
        lambda: plot(result, outputs),
        lambda: render(result, None if args.wide else WIDTH),
    )
