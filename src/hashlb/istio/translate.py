"""The parsed Istio model -> :class:`hashlb.Router` objects, one per ``http`` route.

:func:`build_engines` makes one :class:`RouteEngine` per route of a
:class:`~hashlb.istio.Scenario`: a :class:`hashlb.Router` over the route's
hosts plus the per-subset fallbacks (another table, or a random endpoint
for a ``simple`` load balancer).  A :class:`TableCache` shares identical
tables between routes; :func:`table_bytes` estimates a table's memory
before it is built.  :func:`plan_matches` is the VirtualService
``http[].match`` test of a request.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Hashable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from .._ring_py import MAX_RING_SIZE
from .._source import InputError
from .._validate import (
    MAX_TABLE_BYTES,
    cap,
)
from .._validate import clip as _clip
from .._validate import short as _short
from .model import (
    HOST_LABEL,
    HashKey,
    LoadBalancer,
    RoutePlan,
    Scenario,
)
from .parse import match_regex

__all__ = (
    "MatchRequest",
    "RouteEngine",
    "TableCache",
    "TableKey",
    "build_engines",
    "plan_matches",
    "table_bytes",
)


class MatchRequest(Protocol):
    """What :func:`plan_matches` reads of a request: its path and its headers."""

    @property
    def path(self) -> str:
        """The request path, with its query string."""

    def header(self, name: str) -> list[str]:
        """Return the values of header *name* (``:method`` for the method)."""


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


def plan_matches(plan: RoutePlan, req: MatchRequest) -> bool:
    """Return whether *req* matches the route's ``match`` blocks (a route without any matches all)."""
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
