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
    HEALTHY_STATUSES,
    MAX_TABLE_BYTES,
    cap,
)
from .._validate import clip as _clip
from .._validate import short as _short
from .model import (
    HOST_LABEL,
    Destination,
    HashKey,
    LoadBalancer,
    LocalityPlan,
    RoutePlan,
    Scenario,
)
from .parse import match_regex

__all__ = (
    "MatchRequest",
    "RouteEngine",
    "SubsetHealth",
    "TableCache",
    "TableKey",
    "build_engines",
    "plan_matches",
    "table_bytes",
)


class MatchRequest(Protocol):
    """What ``plan_matches()`` reads of a request: its path and its headers."""

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
    if "regex" in sm and sm["regex"] != "*":  # "*": a presence test (canBeConvertedToPresentMatch)
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
        return policy.Cookie(
            key.name,
            ttl=ttl,
            path=key.cookie_path or None,
            attributes=key.cookie_attributes or None,
        )
    if key.kind == "query":
        return policy.QueryParameter(key.name)
    return policy.SourceIP()


def _balancer(lb: LoadBalancer) -> tuple[str, dict[str, int]]:
    if lb.algorithm == "maglev":
        return "maglev", {"table_size": lb.table_size}
    return "ring_hash", {"min_ring_size": lb.min_ring_size}


TableKey = tuple[str, tuple[tuple[str, Any], ...], tuple[Any, ...]]


def _table_key(algorithm: str, options: Mapping[str, Any], hosts: Iterable[Any]) -> TableKey:
    frozen = ((k, tuple(v.items()) if isinstance(v, Mapping) else v) for k, v in options.items())
    return (algorithm, tuple(sorted(frozen)), tuple(hosts))


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
        return int(opts["table_size"]) * (2 if n <= 65535 else 4)
    entries = min(-(-int(opts["min_ring_size"]) // n) * n, MAX_RING_SIZE)
    return 12 * max(entries, n)


class TableCache:
    """One table per distinct (balancer, options, hosts): routes share identical tables.

    Tables are immutable, so two routes (or two subsets) whose tables would
    be equal use one object.  :meth:`factory` gives the ``balancer``
    callable a :class:`hashlb.Router` accepts.  *maglev* and *ring_hash*
    are the table classes (default :class:`hashlb.Maglev` and
    :class:`hashlb.RingHash`; e.g. the pure twin's, to compare the twins).
    """

    def __init__(self, *, maglev: Any = None, ring_hash: Any = None) -> None:
        self.tables: dict[TableKey, Any] = {}
        self.classes = {"maglev": maglev, "ring_hash": ring_hash}

    def get(self, algorithm: str, hosts: Sequence[Any], **options: Any) -> Any:
        """Return the table of *algorithm* over *hosts*, building it the first time."""
        from ..maglev import Maglev
        from ..ring import RingHash

        key = _table_key(algorithm, options, hosts)
        table = self.tables.get(key)
        if table is None:
            cls: Any = self.classes.get(algorithm) or (
                Maglev if algorithm == "maglev" else RingHash
            )
            table = cls(key[2], **options)
            self.tables[key] = table
        return table

    def factory(self, algorithm: str) -> Callable[..., Any]:
        """Return ``balancer(hosts, **options)`` building tables through this cache."""
        return _CachedBalancer(self, algorithm, None)

    def weighted_factory(self, algorithm: str, plan: LocalityPlan) -> Callable[..., Any]:
        """Return a ``balancer`` that gives each priority level its locality weights.

        Envoy weighs a level's localities with the weights Istio sent for that
        priority (``locality_weighted_lb_config``; Envoy's ``load_balancer_impl.cc``); a
        :class:`hashlb.Cluster` builds one table per level from hosts of one
        priority, so the level is that of the hosts.
        """

        return _CachedBalancer(self, algorithm, plan)

    def __reduce__(self) -> tuple[object, ...]:
        # The table classes only: a loaded cache starts empty and builds on use.
        return (_table_cache, (self.classes["maglev"], self.classes["ring_hash"]))


def _table_cache(maglev: Any, ring_hash: Any) -> TableCache:
    return TableCache(maglev=maglev, ring_hash=ring_hash)


class _CachedBalancer:
    """A ``balancer(hosts, **options)`` over a :class:`TableCache` (it pickles, unlike a closure).

    With a locality *plan*, each priority level gets the plan's weights for
    the level of its hosts.
    """

    __slots__ = ("algorithm", "cache", "plan")

    def __init__(self, cache: TableCache, algorithm: str, plan: LocalityPlan | None) -> None:
        self.cache, self.algorithm, self.plan = cache, algorithm, plan

    def __call__(self, hosts: Sequence[Any], **options: Any) -> Any:
        if self.plan is not None:
            level = hosts[0].priority if hosts else 0
            options["locality_weights"] = self.plan.weights_at(level)
        return self.cache.get(self.algorithm, hosts, **options)

    def __reduce__(self) -> tuple[object, ...]:
        return (_CachedBalancer, (self.cache, self.algorithm, self.plan))


class _Pool:
    """A stand-in table that only holds its hosts: a ``simple`` cluster's choice is random.

    A :class:`hashlb.Cluster` over it gives the health arithmetic (loads,
    panic, which hosts a level would use) without building a ring or table.
    """

    def __init__(self, hosts: Sequence[Any], **_options: Any) -> None:
        self.hosts = tuple(hosts)

    def lookup(self, hash: int, attempt: int = 0) -> Any:
        return self.hosts[0] if self.hosts else None

    def lookup_many(self, hashes: Any) -> Any:  # pragma: no cover - never batched
        raise NotImplementedError


#: The counts and the threshold of a :class:`SubsetHealth`, as ``--json`` lists them first.
_HEALTH_FIELDS = (
    "hosts",
    "healthy",
    "degraded",
    "unhealthy",
    "excluded",
    "panic_threshold",
    "threshold_source",
)


@dataclass(frozen=True)
class SubsetHealth:
    """What Envoy's cluster for one destination makes of its endpoints' health (Envoy's ``load_balancer_impl.cc``).

    Host counts (``excluded`` ones, ``draining``/``excluded``, are among
    ``hosts`` but out of the health counts), the panic threshold Istio set
    and where it came from, the priority loads in percent and whether the
    level is in panic (its table then holds every host).
    """

    hosts: int
    healthy: int
    degraded: int
    excluded: int
    panic_threshold: float
    threshold_source: str
    healthy_load: tuple[int, ...]
    degraded_load: tuple[int, ...]
    in_panic: bool
    unhealthy_sent: bool
    #: Per priority level (when the destination has several, or localities):
    #: ``(priority, hosts, healthy, in_panic, localities)``.
    levels: tuple[tuple[int, int, int, bool, tuple[str, ...]], ...] = ()
    #: What Istio's locality load balancing did (``LocalityPlan.describe``), "" without it.
    locality: str = ""

    def describe_threshold(self) -> str:
        """Return e.g. ``50% (Envoy's default: no outlierDetection)``."""
        return f"{self.panic_threshold:g}% ({self.threshold_source})"

    @property
    def unhealthy(self) -> int:
        """Hosts neither healthy, degraded nor excluded (unhealthy, timeout)."""
        return self.hosts - self.healthy - self.degraded - self.excluded

    def as_json(self) -> dict[str, Any]:
        """Return the ``--json`` form (see docs/reference/cli.rst)."""
        return {
            **{name: getattr(self, name) for name in _HEALTH_FIELDS},
            "priority_load": {
                "healthy": list(self.healthy_load),
                "degraded": list(self.degraded_load),
            },
            "in_panic": self.in_panic,
            "unhealthy_endpoints_sent": self.unhealthy_sent,
            **(
                {
                    "locality": self.locality,
                    "priorities": [
                        {
                            "priority": p,
                            "hosts": n,
                            "healthy": h,
                            "in_panic": panic,
                            "localities": list(names),
                        }
                        for p, n, h, panic, names in self.levels
                    ],
                }
                if self.levels
                else {}
            ),
        }


def _health_cluster(hosts: Sequence[Any], threshold: float) -> Any:
    from ..cluster import Cluster

    return Cluster(hosts, balancer=_Pool, healthy_panic_threshold=threshold)


def subset_health(d: Destination, hosts: Sequence[Any]) -> SubsetHealth:
    """Return the :class:`SubsetHealth` of destination *d* over its *hosts* (with their health)."""
    cluster = _health_cluster(hosts, d.health.panic_threshold)
    healthy_load, degraded_load = cluster.priority_load
    level = cluster.priorities[0]
    levels: tuple[tuple[int, int, int, bool, tuple[str, ...]], ...] = ()
    if d.locality is not None or any(h.priority for h in hosts):
        levels = tuple(
            (
                lv.priority,
                len(lv.hosts),
                len(lv.healthy),
                lv.in_panic,
                tuple(dict.fromkeys(h.locality or "" for h in lv.hosts)),
            )
            for lv in cluster.priorities
        )
    return SubsetHealth(
        len(level.hosts),
        len(level.healthy),
        len(level.degraded),
        len(level.excluded),
        d.health.panic_threshold,
        d.health.source,
        healthy_load,
        degraded_load,
        level.in_panic,
        d.health.unhealthy_sent,
        levels,
        d.locality.describe() if d.locality is not None else "",
    )


@dataclass
class _RouteHosts:
    """The hosts of one route and the tables its engine will need."""

    hosts: dict[tuple[str, str], Any]  # (service, address) -> Host (the Router's)
    by_address: dict[tuple[str, str], Any]  # (service, address) -> Endpoint
    balancer: str
    options: dict[str, int]
    tables: list[TableKey]
    #: destination name -> its hosts, each with the health its cluster gives it
    members: dict[str, list[Any]]
    #: the Router's panic threshold, None when every endpoint is healthy
    threshold: float | None
    #: destinations the Router cannot route itself (another table, balancer or health)
    own: set[str]


def _healthy(hosts: Iterable[Any]) -> bool:
    """Whether a plain table serves these hosts: all healthy, all at priority 0."""
    return all(h.health in HEALTHY_STATUSES and not h.priority for h in hosts)


def _weighted(d: Destination) -> bool:
    """Whether Envoy weighs the destination's localities (its own cluster then)."""
    return d.locality is not None and d.locality.weights is not None


def _route_hosts(plan: RoutePlan, host_cache: dict[Hashable, Any]) -> _RouteHosts:
    """Make the route's hosts (shared between routes) and list the tables it needs."""
    from .. import Host

    hosts: dict[tuple[str, str], Any] = {}
    by_address: dict[tuple[str, str], Any] = {}
    members: dict[str, list[Any]] = {}
    for d in plan.destinations:
        own: list[Any] = []
        for e in d.endpoints:
            labels = {**e.pod.labels, HOST_LABEL: d.host}
            ck = (e.address, tuple(sorted(labels.items())), e.health, e.priority, e.locality)
            host = host_cache.get(ck)
            if host is None:
                host = host_cache[ck] = Host(
                    e.address,
                    labels=labels,
                    health=e.health,
                    priority=e.priority,
                    locality=e.locality,
                )
            own.append(host)
            k = (d.host, e.address)
            if k not in hosts:
                hosts[k] = host
                by_address[k] = e
        members[d.name] = own
    hashed = [d.lb for d in plan.destinations if d.lb.algorithm != "simple"]
    main = hashed[0] if hashed else LoadBalancer("ring_hash")
    balancer, options = _balancer(main)
    every = list(hosts.values())
    chosen = {}
    for d in plan.destinations:
        sel = list(d.selector.items())
        chosen[d.name] = [h for h in every if all(h.labels.get(k) == v for k, v in sel)]
    unhealthy = [d for d in plan.destinations if not _healthy(members[d.name])]
    threshold = None
    if unhealthy:
        routed = [d for d in unhealthy if chosen[d.name] == members[d.name]]
        threshold = (routed or unhealthy)[0].health.panic_threshold
    own_names: set[str] = set()
    tables: list[TableKey] = []
    for d in plan.destinations:
        if chosen[d.name]:  # what the Router builds for this subset
            tables.append(_table_key(balancer, options, chosen[d.name]))
        same_table = d.lb.algorithm != "simple" and _balancer(d.lb) == (balancer, options)
        same_hosts = chosen[d.name] == members[d.name]
        same_health = _healthy(members[d.name]) or d.health.panic_threshold == threshold
        if same_table and same_hosts and same_health and not _weighted(d):
            continue
        own_names.add(d.name)
        if d.lb.algorithm != "simple" and not (same_table and same_hosts and not _weighted(d)):
            algorithm, opts = _balancer(d.lb)
            tables.append(_table_key(algorithm, opts, members[d.name]))
    return _RouteHosts(hosts, by_address, balancer, options, tables, members, threshold, own_names)


class RouteEngine:
    """One VirtualService http route: a ``hashlb.Router`` plus per-subset fallbacks.

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

    A ``simple`` destination generates no cookie: Envoy evaluates the hash
    policy only for a hashing load balancer.

    Endpoints that are not healthy make each destination's table a
    :class:`hashlb.Cluster` with the panic threshold Istio gives that
    cluster (:attr:`health`): outside panic only healthy hosts are chosen,
    in panic all of them, and no host at all (Envoy's 503, no healthy
    upstream) when the chosen level has none.

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
        from ..cluster import Cluster
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
        cluster_options = (
            None if rh.threshold is None else {"healthy_panic_threshold": rh.threshold}
        )
        self.router = Router(
            list(hosts.values()),
            subsets={d.name: dict(d.selector) for d in plan.destinations},
            weights={d.name: d.weight for d in plan.destinations},
            policy=policy,
            balancer=tables.factory(balancer),
            balancer_options=options,
            mode=mode,
            seed=seed,
            cluster_options=cluster_options,
        )
        self.rng = random.Random(seed ^ 0x5EED)
        self.own: dict[str, Any] = {}
        #: destinations whose ``own`` entry is a ``simple`` balancer's pool
        self.random: set[str] = set()
        #: destination name -> :class:`SubsetHealth` (counts, loads, panic)
        self.health: dict[str, SubsetHealth] = {}
        for d in plan.destinations:
            members = rh.members[d.name]
            self.health[d.name] = subset_health(d, members)
            if d.name not in rh.own:
                continue
            threshold = d.health.panic_threshold
            if d.lb.algorithm == "simple":
                # no consistent hash: a random endpoint (of those Envoy would use)
                self.random.add(d.name)
                self.own[d.name] = (
                    members if _healthy(members) else _health_cluster(members, threshold)
                )
            elif _healthy(members) and not _weighted(d):
                algorithm, opts = _balancer(d.lb)
                self.own[d.name] = tables.get(algorithm, members, **opts)
            else:
                algorithm, opts = _balancer(d.lb)
                table_options: dict[str, Any] = dict(opts)
                factory = tables.factory(algorithm)
                if d.locality is not None and d.locality.weights is not None:
                    factory = tables.weighted_factory(algorithm, d.locality)
                    table_options["locality_weighted"] = True
                self.own[d.name] = Cluster(
                    members,
                    balancer=factory,
                    healthy_panic_threshold=threshold,
                    **table_options,
                )
        self.dest = {d.name: d for d in plan.destinations}

    def _random(self, pool: Any) -> Any:
        """A ``simple`` balancer's pick: uniform over the hosts Envoy would use, or None."""
        if isinstance(pool, list):
            return pool[self.rng.randrange(len(pool))]
        levels = pool.priorities
        if len(levels) == 1 and levels[0].in_panic:
            choices = levels[0].hosts
        else:
            # the level by its loads (Envoy's choosePriority), as for a hash
            p, state = pool.choose_priority(self.rng.randrange(100))
            level = levels[p]
            if level.in_panic:
                choices = level.hosts
            elif state == "healthy":
                choices = level.healthy
            else:
                choices = level.degraded  # a round-robin or random LB does use degraded hosts
        return choices[self.rng.randrange(len(choices))] if choices else None

    def route(self, req: Any) -> tuple[str, str | None, str | None, int | None, str | None]:
        """Return (subset, endpoint address, pod name, route hash, set_cookie).

        The address and pod are None when the subset's cluster has no host
        to give (Envoy answers 503, no healthy upstream).
        """
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
            random_pick = r.subset in self.random
            host = self._random(table) if random_pick else table.lookup(r.lookup_hash)
            if random_pick:
                # Envoy computes the hash (and so generates a cookie) only for a
                # hashing balancer: round robin never asks the route for it.
                set_cookie = None
        if host is None:
            return r.subset, None, None, r.hash, set_cookie
        d = self.dest[r.subset]
        e = self.by_address[(d.host, host.address)]
        return r.subset, host.address, e.pod.name, r.hash, set_cookie


# --------------------------------------------------------------------------
# The run.


def build_engines(
    scenario: Scenario, mode: str, seed: int, *, tables: TableCache | None = None
) -> list[RouteEngine]:
    """Build one ``RouteEngine`` per route, sharing identical tables.

    The tables every route needs are listed and their memory estimated
    (:func:`table_bytes`) before any is built; *tables* (default a new
    :class:`TableCache`) builds and shares them.

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
    tables = tables if tables is not None else TableCache()
    engines = []
    for plan, rh in plans:
        try:
            engines.append(RouteEngine(plan, mode, seed, tables, rh))
        except ValueError as e:  # ConfigError: a configuration the library rejects
            raise InputError(
                plan.where, f"route {_short(plan.name)}: {_clip(str(e), 300)}"
            ) from None
    return engines
