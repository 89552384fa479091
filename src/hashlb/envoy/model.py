"""The objects :func:`hashlb.envoy.load` returns: clusters, endpoints, route configurations, routes.

Everything is read and checked when the configuration is loaded (a bad
value raises :class:`~hashlb.envoy.EnvoyConfigError` naming its JSON path,
and nothing is returned); the :class:`hashlb.Cluster` of a hashing cluster,
with its ring or Maglev tables, is built only when
:attr:`EnvoyCluster.cluster` is first read, and then kept.
"""

from __future__ import annotations

import random
import threading
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any, Protocol, TypeVar

from .._pickling import pack_hosts, unpack_hosts
from .._router_config import parse_uint64
from .._types import Host, replace_host
from .._validate import HEALTHY_STATUSES
from ..cluster import Cluster
from ..errors import ConfigError
from ..policy import HashPolicy, Request
from ..versions import EnvoyProfile, profile
from ..weighted import _check_clusters as _check_weighted
from ..weighted import _choose as _choose_weighted
from ._read import EnvoyConfigError

__all__ = (
    "HASHING_POLICIES",
    "EnvoyCluster",
    "EnvoyConfig",
    "HeaderMatch",
    "LoadAssignment",
    "Pick",
    "RetryPolicy",
    "Route",
    "RouteConfig",
    "RouteMatch",
    "VirtualHost",
)

#: The ``lb_policy`` values whose clusters hash (and build a :class:`hashlb.Cluster`).
HASHING_POLICIES = ("RING_HASH", "MAGLEV")

_EMPTY: Mapping[str, Any] = MappingProxyType({})


@dataclass(frozen=True, slots=True, eq=False)
class LoadAssignment:
    """A cluster's endpoints: an EDS ``ClusterLoadAssignment`` (or the ``/clusters`` host list).

    :ivar cluster_name: the assignment's ``cluster_name`` (the EDS service name).
    :ivar hosts: one :class:`hashlb.Host` per endpoint, in EDS order; an
        address repeated later in the assignment is dropped, as Envoy keeps
        only the first.
    :ivar overprovisioning_factor: ``policy.overprovisioning_factor`` (140 when unset).
    :ivar locality_weights: ``{locality: load_balancing_weight}`` of the
        localities that have one (locality names are ``region/zone/sub_zone``).
    :ivar path: the JSON path it was read from.
    :ivar source: what it was read from: ``"eds"`` (a ``ClusterLoadAssignment``),
        ``"load_assignment"`` (a cluster's inline one) or ``"clusters"``
        (``/clusters?format=json`` / ``istioctl proxy-config endpoint``).
    """

    cluster_name: str
    hosts: tuple[Host, ...]
    overprovisioning_factor: int
    locality_weights: Mapping[str, int]
    path: str
    source: str

    def __reduce__(self) -> tuple[object, ...]:
        # Hosts packed (hashlb._pickling), the weights as a plain dict.
        return (
            _load_assignment,
            (
                self.cluster_name,
                pack_hosts(self.hosts),
                self.overprovisioning_factor,
                dict(self.locality_weights),
                self.path,
                self.source,
            ),
        )


def _load_assignment(
    name: str, packed: object, factor: int, weights: dict[str, int], path: str, source: str
) -> LoadAssignment:
    """Rebuild a pickled :class:`LoadAssignment`."""
    return LoadAssignment(
        name, unpack_hosts(packed), factor, MappingProxyType(dict(weights)), path, source
    )


@dataclass(frozen=True, slots=True, eq=False)
class EnvoyCluster:
    """One Envoy ``Cluster``, with its endpoints.

    :ivar name: the cluster name.
    :ivar lb_policy: ``RING_HASH``, ``MAGLEV``, ``ROUND_ROBIN``, ``LEAST_REQUEST``,
        ``RANDOM``, ``CLUSTER_PROVIDED`` or ``LOAD_BALANCING_POLICY_CONFIG``
        (a typed ``load_balancing_policy`` that is not ring hash or Maglev).
    :ivar discovery_type: ``type`` (``EDS``, ``STATIC``, ``STRICT_DNS``, ...),
        or the name of a ``cluster_type`` extension.
    :ivar eds_service_name: ``eds_cluster_config.service_name``, or the
        cluster name: the ``cluster_name`` of its EDS assignment.
    :ivar balancer_options: the table options read from ``ring_hash_lb_config``
        (``min_ring_size``, ``max_ring_size``, ``hash_function``) or
        ``maglev_lb_config`` (``table_size``), or from the typed policy, plus
        ``use_hostname`` (``consistent_hashing_lb_config.use_hostname_for_hashing``).
    :ivar healthy_panic_threshold: ``common_lb_config.healthy_panic_threshold``
        in percent (50 when absent, 0 for ``{}``).
    :ivar locality_weighted: ``locality_weighted_lb_config`` is set.
    :ivar hash_balance_factor: ``consistent_hashing_lb_config.hash_balance_factor``
        (bounded load), or None.
    :ivar endpoints: its :class:`LoadAssignment`, or None when the input has none.
    :ivar path: the JSON path of the ``Cluster`` message.
    :ivar node_locality: the Envoy node's own locality (bootstrap
        ``node.locality``), which Envoy puts first among the localities, or None.
    """

    name: str
    lb_policy: str
    discovery_type: str
    eds_service_name: str
    balancer_options: Mapping[str, Any]
    healthy_panic_threshold: float
    locality_weighted: bool
    hash_balance_factor: int | None
    endpoints: LoadAssignment | None
    path: str
    envoy_version: str | EnvoyProfile = "main"
    node_locality: str | None = None
    _built: dict[str, Cluster] = field(default_factory=dict, init=False, repr=False)
    _lock: threading.Lock = field(default_factory=threading.Lock, init=False, repr=False)

    def __reduce__(self) -> tuple[object, ...]:
        # The fields given to the constructor; the built Cluster is built again on use.
        fields = {f: getattr(self, f) for f in _CLUSTER_FIELDS}
        fields["balancer_options"] = dict(self.balancer_options)
        return (_envoy_cluster, (fields,))

    @property
    def hashes(self) -> bool:
        """Whether the cluster uses a hashing load balancer (``RING_HASH`` or ``MAGLEV``)."""
        return self.lb_policy in HASHING_POLICIES

    @property
    def hosts(self) -> tuple[Host, ...]:
        """The endpoints, in EDS order (empty when the input has none)."""
        return self.endpoints.hosts if self.endpoints is not None else ()

    @property
    def built(self) -> bool:
        """Whether ``cluster`` has been built."""
        return "cluster" in self._built

    @property
    def cluster(self) -> Cluster:
        """The ``hashlb.Cluster`` Envoy runs for this cluster, built on first use.

        Its priorities, health, panic threshold, overprovisioning factor and
        locality weights are the configuration's; its tables are ring hash or
        Maglev with :attr:`balancer_options`.

        :raises EnvoyConfigError: the cluster does not hash (its message names
            ``<path>.lb_policy``), or an option the table rejects.
        """
        built = self._built.get("cluster")
        if built is not None:
            return built
        with self._lock:
            built = self._built.get("cluster")
            if built is None:
                built = self._build()
                self._built["cluster"] = built
        return built

    def _build(self) -> Cluster:
        if not self.hashes:
            raise EnvoyConfigError(
                self.path + ".lb_policy",
                f"{self.lb_policy} does not hash: only RING_HASH and MAGLEV clusters "
                f"build a hashlb Cluster (cluster {self.name!r})",
            )
        options = dict(self.balancer_options)
        assignment = self.endpoints
        factor = 140
        hosts = self.hosts
        if options.get("use_hostname"):
            # Envoy hashes ``Endpoint.hostname`` as it is: an endpoint without one hashes ""
            hosts = tuple(
                h if h.hostname is not None else replace_host(h, hostname="") for h in hosts
            )
        if assignment is not None:
            factor = assignment.overprovisioning_factor
            if self.locality_weighted and assignment.locality_weights:
                hosts, options["locality_weights"] = _locality_weighting(
                    hosts, assignment.locality_weights, self.node_locality
                )
        try:
            return Cluster(
                hosts,
                balancer="ring_hash" if self.lb_policy == "RING_HASH" else "maglev",
                overprovisioning_factor=factor,
                healthy_panic_threshold=self.healthy_panic_threshold,
                locality_weighted=self.locality_weighted,
                envoy_version=self.envoy_version,
                **options,
            )
        except (ConfigError, ValueError, TypeError) as e:
            raise EnvoyConfigError(self.path, f"cluster {self.name!r}: {e}") from None


#: The fields :class:`EnvoyCluster`'s constructor takes (what its pickle holds).
_CLUSTER_FIELDS = (
    "name",
    "lb_policy",
    "discovery_type",
    "eds_service_name",
    "balancer_options",
    "healthy_panic_threshold",
    "locality_weighted",
    "hash_balance_factor",
    "endpoints",
    "path",
    "envoy_version",
    "node_locality",
)


def _envoy_cluster(fields: dict[str, Any]) -> EnvoyCluster:
    """Rebuild a pickled :class:`EnvoyCluster` (its options a read-only view again)."""
    options = MappingProxyType(dict(fields["balancer_options"]))
    return EnvoyCluster(**{**fields, "balancer_options": options})


@dataclass(frozen=True, slots=True)
class HeaderMatch:
    """One ``match.headers`` entry: *kind* is ``exact``, ``prefix``, ``suffix``,
    ``contains``, ``present`` or ``safe_regex``."""

    name: str
    kind: str
    value: str | bool
    invert: bool = False
    ignore_case: bool = False
    #: ``treat_missing_header_as_empty``: an absent header is tested as ``""``.
    treat_missing_as_empty: bool = False


@dataclass(frozen=True, slots=True)
class RouteMatch:
    """A route's ``match``: the path rule and the header rules.

    :ivar kind: ``prefix``, ``path``, ``path_separated_prefix``, ``safe_regex``
        or another path specifier's name.
    :ivar value: its value (``"/"`` for ``prefix: "/"``).
    :ivar headers: the :class:`HeaderMatch` rules, all of which must hold.
    :ivar case_sensitive: ``case_sensitive`` (default true).
    :ivar query_parameters: the ``query_parameters`` rules (a :class:`HeaderMatch`
        each, tested on the first value of the parameter), all of which must hold.
    """

    kind: str
    value: str
    headers: tuple[HeaderMatch, ...] = ()
    case_sensitive: bool = True
    query_parameters: tuple[HeaderMatch, ...] = ()

    def matches(self, path: str, headers: Mapping[str, str] | None = None) -> bool:
        """Return whether a request for *path* with *headers* matches.

        Path rules are Envoy's: ``prefix`` and ``path`` compare the path
        without its query string, ``path_separated_prefix`` needs the prefix
        to end at ``/``, ``?`` or the end.  Header values are the first
        value of a header (names compared case-insensitively).  A
        ``safe_regex`` rule is run with Python's :mod:`re` ``fullmatch``.
        """
        bare = path.split("?", 1)[0].split("#", 1)[0]
        want = self.value
        if not self.case_sensitive:
            bare, want = bare.lower(), want.lower()
        if self.kind == "prefix":
            ok = bare.startswith(want)
        elif self.kind == "path":
            ok = bare == want
        elif self.kind == "path_separated_prefix":
            ok = bare == want or bare.startswith(want + "/")
        elif self.kind == "safe_regex":
            ok = _regex(self.value).fullmatch(path.split("?", 1)[0]) is not None
        else:
            return False
        if not ok:
            return False
        lowered = {k.lower(): v for k, v in (headers or {}).items()}
        if not all(_header_matches(rule, lowered.get(rule.name.lower())) for rule in self.headers):
            return False
        if self.query_parameters:
            query = _query_values(path)
            return all(
                _header_matches(rule, query.get(rule.name)) for rule in self.query_parameters
            )
        return True


def _query_values(path: str) -> dict[str, str]:
    """The first value of each query parameter of *path* (Envoy's ``getFirstValue``)."""
    out: dict[str, str] = {}
    if "?" in path:
        for piece in path.split("?", 1)[1].split("#", 1)[0].split("&"):
            k, _, v = piece.partition("=")
            out.setdefault(k, v)
    return out


def _regex(pattern: str) -> Any:
    import re

    return re.compile(pattern)


def _header_matches(rule: HeaderMatch, value: str | None) -> bool:
    if value is None and rule.treat_missing_as_empty and rule.kind != "present":
        value = ""
    if rule.kind == "present":
        ok = (value is not None) == bool(rule.value)
    elif value is None:
        return False  # an absent header never matches a value rule, inverted or not
    else:
        want = str(rule.value)
        have = value
        if rule.ignore_case:
            want, have = want.lower(), have.lower()
        if rule.kind == "exact":
            ok = have == want
        elif rule.kind == "prefix":
            ok = have.startswith(want)
        elif rule.kind == "suffix":
            ok = have.endswith(want)
        elif rule.kind == "contains":
            ok = want in have
        elif rule.kind == "safe_regex":
            ok = _regex(want).fullmatch(value) is not None
        else:
            ok = False
    return ok != rule.invert


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    """A route's (or its virtual host's) ``retry_policy``, as far as host selection uses it.

    :ivar retry_on: the ``retry_on`` conditions (comma-separated, as configured).
    :ivar num_retries: ``num_retries`` (1 when unset).
    :ivar host_predicates: the ``retry_host_predicate`` names
        (``envoy.retry_host_predicates.previous_hosts``, ...).
    :ivar host_selection_retry_max_attempts: 1 when unset, as in Envoy.
    """

    retry_on: str
    num_retries: int
    host_predicates: tuple[str, ...]
    host_selection_retry_max_attempts: int

    @property
    def max_attempts(self) -> int:
        """The table positions a retry tries: ``1 + host_selection_retry_max_attempts``.

        Pass it as ``max_attempts`` to :meth:`hashlb.Cluster.choose_host` on a retry.
        """
        return 1 + self.host_selection_retry_max_attempts

    @property
    def previous_hosts(self) -> bool:
        """Whether the ``previous_hosts`` predicate rejects hosts already tried."""
        return any(p.endswith("previous_hosts") for p in self.host_predicates)


@dataclass(frozen=True, slots=True)
class Route:
    """One route of a virtual host.

    :ivar name: the route ``name``, or None.
    :ivar match: its :class:`RouteMatch`.
    :ivar action: ``route``, ``redirect``, ``direct_response`` or another action's name.
    :ivar cluster: ``route.cluster``, or None.
    :ivar weighted_clusters: ``route.weighted_clusters.clusters`` as
        ``(name, weight)`` pairs, in configuration order (empty otherwise).
    :ivar header_name: ``weighted_clusters.header_name``, or None.
    :ivar use_hash_policy: ``weighted_clusters.use_hash_policy``.
    :ivar hash_policy: ``route.hash_policy`` as a :class:`hashlb.HashPolicy`
        (every entry, in order, with ``terminal``), or None when it is empty.
    :ivar retry_policy: the route's :class:`RetryPolicy`, else its virtual
        host's, or None.
    :ivar virtual_host: the name of its virtual host.
    :ivar route_config: the name of its route configuration.
    :ivar path: the JSON path of the route.
    """

    name: str | None
    match: RouteMatch
    action: str
    cluster: str | None
    weighted_clusters: tuple[tuple[str, int], ...]
    header_name: str | None
    use_hash_policy: bool
    hash_policy: HashPolicy | None
    retry_policy: RetryPolicy | None
    virtual_host: str
    route_config: str
    path: str

    @property
    def cluster_names(self) -> tuple[str, ...]:
        """The clusters the route sends to: its cluster, or its weighted clusters."""
        if self.cluster is not None:
            return (self.cluster,)
        return tuple(name for name, _ in self.weighted_clusters)

    def cluster_path(self, name: str) -> str:
        """The JSON path of the reference to cluster *name* in this route."""
        if self.cluster == name:
            return self.path + ".route.cluster"
        for i, (n, _) in enumerate(self.weighted_clusters):
            if n == name:
                return f"{self.path}.route.weighted_clusters.clusters[{i}].name"
        return self.path + ".route"


@dataclass(frozen=True, slots=True)
class VirtualHost:
    """A virtual host: ``name``, ``domains`` and its routes, in order."""

    name: str
    domains: tuple[str, ...]
    routes: tuple[Route, ...]
    route_config: str
    path: str

    def route_for(self, path: str, headers: Mapping[str, str] | None = None) -> Route | None:
        """Return the first route whose ``RouteMatch`` matches, as Envoy does, or None."""
        for route in self.routes:
            if route.match.matches(path, headers):
                return route
        return None


@dataclass(frozen=True, slots=True)
class RouteConfig:
    """A ``RouteConfiguration``: its name and virtual hosts."""

    name: str
    virtual_hosts: tuple[VirtualHost, ...]
    path: str

    def virtual_host(self, name: str) -> VirtualHost:
        """Return the virtual host called *name*.

        :raises KeyError: there is none.
        """
        return _named(
            self.virtual_hosts,
            name,
            f"route configuration {self.name!r} has no virtual host {name[:200]!r}",
        )


@dataclass(frozen=True, slots=True)
class Pick:
    """What ``EnvoyConfig.pick()`` decides for one request.

    :ivar cluster: the cluster name chosen (the only one, or a weighted one).
    :ivar host: the host chosen, or None (no healthy host in the chosen priority).
    :ivar hash: the request hash (the policy's, or the random one Envoy
        uses when the policy yields none).
    :ivar hashed: whether the hash came from the policy.
    :ivar set_cookies: the ``Set-Cookie`` values a cookie policy generated.
    """

    cluster: str
    host: Host | None
    hash: int
    hashed: bool
    set_cookies: tuple[str, ...]


class EnvoyConfig:
    """A loaded Envoy configuration: clusters (with endpoints) and route configurations.

    Made by :func:`hashlb.envoy.load`.  Read-only: the mappings are views.
    """

    __slots__ = ("_clusters", "_endpoints", "_plans", "_route_configs", "_routes", "_sources")

    def __init__(
        self,
        clusters: Mapping[str, EnvoyCluster],
        endpoints: Mapping[str, LoadAssignment],
        route_configs: tuple[RouteConfig, ...],
        sources: tuple[str, ...],
    ) -> None:
        self._clusters = MappingProxyType(dict(clusters))
        self._endpoints = MappingProxyType(dict(endpoints))
        self._route_configs = route_configs
        self._routes = tuple(
            r for rc in route_configs for vh in rc.virtual_hosts for r in vh.routes
        )
        self._sources = sources
        # per (route, profile): what pick() needs of its weighted clusters, made once
        self._plans: dict[tuple[int, Any], _WeightedPlan] = {}

    def __reduce__(self) -> tuple[object, ...]:
        # What the constructor takes; the pick plans are made again on use.
        clusters, endpoints = dict(self._clusters), dict(self._endpoints)
        return (EnvoyConfig, (clusters, endpoints, self._route_configs, self._sources))

    @property
    def clusters(self) -> Mapping[str, EnvoyCluster]:
        """Every cluster (static and dynamic active; warming ones are not read), by name."""
        return self._clusters

    @property
    def load_assignments(self) -> Mapping[str, LoadAssignment]:
        """Every endpoint assignment read, by ``cluster_name`` (EDS service name)."""
        return self._endpoints

    @property
    def route_configs(self) -> tuple[RouteConfig, ...]:
        """Every route configuration (RDS, static, or inline in a listener), in input order."""
        return self._route_configs

    @property
    def routes(self) -> tuple[Route, ...]:
        """Every route of every virtual host, in input order."""
        return self._routes

    @property
    def sources(self) -> tuple[str, ...]:
        """The names of the inputs read (file names, ``<text>``, ``<object>``)."""
        return self._sources

    def cluster(self, name: str) -> EnvoyCluster:
        """Return the cluster called *name*.

        :raises KeyError: there is none.
        """
        try:
            return self._clusters[name]
        except KeyError:
            raise KeyError(f"no cluster {name[:200]!r} in the configuration") from None

    def route_config(self, name: str) -> RouteConfig:
        """Return the route configuration called *name* (the first, if several share it).

        :raises KeyError: there is none.
        """
        return _named(
            self._route_configs, name, f"no route configuration {name[:200]!r} in the configuration"
        )

    def virtual_host(self, name: str, route_config: str | None = None) -> VirtualHost:
        """Return the virtual host called *name* (in *route_config*, if given).

        :raises KeyError: there is none, or several route configurations have
            one of that name and *route_config* is not given.
        """
        if route_config is not None:
            return self.route_config(route_config).virtual_host(name)
        found = [vh for rc in self._route_configs for vh in rc.virtual_hosts if vh.name == name]
        if not found:
            raise KeyError(f"no virtual host {name[:200]!r} in the configuration")
        if len(found) > 1:
            names = ", ".join(repr(vh.route_config) for vh in found[:5])
            raise KeyError(
                f"virtual host {name[:200]!r} is in several route configurations ({names}): "
                "name one with route_config="
            )
        return found[0]

    def route(self, name: str) -> Route:
        """Return the route called *name* (route names are unique in Envoy's output).

        :raises KeyError: there is none, or several.
        """
        found = [r for r in self._routes if r.name == name]
        if len(found) != 1:
            what = "no route" if not found else f"{len(found)} routes"
            raise KeyError(f"{what} named {name[:200]!r} in the configuration")
        return found[0]

    def route_clusters(self, route: Route) -> tuple[EnvoyCluster, ...]:
        """Return the clusters *route* sends to, in order.

        :raises EnvoyConfigError: the route names a cluster the configuration
            lacks (the message starts with the path of that name), or it has
            no cluster at all (a redirect, a direct response, ``cluster_header``).
        """
        names = route.cluster_names
        if not names:
            raise EnvoyConfigError(
                route.path + ".route",
                f"route {route.name!r} has no cluster to send to (action {route.action})",
            )
        out = []
        for name in names:
            found = self._clusters.get(name)
            if found is None:
                raise EnvoyConfigError(
                    route.cluster_path(name), f"cluster {name[:200]!r} is not in the configuration"
                )
            out.append(found)
        return tuple(out)

    def hashing_clusters(self) -> tuple[EnvoyCluster, ...]:
        """The clusters whose ``lb_policy`` is ``RING_HASH`` or ``MAGLEV``."""
        return tuple(c for c in self._clusters.values() if c.hashes)

    def hashing_routes(self) -> tuple[Route, ...]:
        """The routes that hash: a ``hash_policy`` and a cluster using ring hash or Maglev.

        A route counts when at least one of its clusters that the
        configuration holds is a hashing cluster.
        """
        out = []
        for r in self._routes:
            if r.hash_policy is None:
                continue
            for name in r.cluster_names:
                c = self._clusters.get(name)
                if c is not None and c.hashes:
                    out.append(r)
                    break
        return tuple(out)

    def pick(
        self,
        route: Route,
        request: Request,
        *,
        rng: random.Random | None = None,
        envoy_version: str | EnvoyProfile = "main",
        balancer_rng: random.Random | None = None,
    ) -> Pick:
        """Return the cluster and host Envoy picks for *request* on *route* (first try).

        The route's hash policy gives the hash (a fresh random 64-bit value
        from *rng* when it yields none, as Envoy balances randomly).  With
        weighted clusters the cluster comes from ``header_name``, from the
        route hash evaluated without generating a cookie (``use_hash_policy``)
        or from a random value drawn first, over the weights in order (a release older
        than the field, 1.22 for ``header_name`` and 1.36 for
        ``use_hash_policy`` in *envoy_version*, ignores it and draws randomly)
        (:func:`hashlb.weighted.pick_weighted_cluster`); then that cluster's
        :attr:`EnvoyCluster.cluster` (built now if it was not) looks the hash
        up.  A cluster that does not hash (``ROUND_ROBIN``,
        ``LEAST_REQUEST``, ``RANDOM``, ...) gives a uniformly random healthy
        host (any host when none is healthy) drawn from *balancer_rng*
        (default *rng*), so that the draws of *rng* do not depend on it, and
        no cookie (Envoy computes the hash only for a hashing balancer).

        :raises EnvoyConfigError: a cluster the route names is missing.
        """
        rand = rng if rng is not None else random.Random()
        policy = route.hash_policy
        h: int | None = None
        cookies: tuple[str, ...] = ()
        if policy is not None:
            result = policy.evaluate(request)
            h = result.hash
            if result.set_cookie is not None:
                cookies = (result.set_cookie,)
        hashed = h is not None
        plan = self._plan(route, envoy_version)
        chosen = plan.clusters[0]
        if plan.names:
            value: int | None = None
            if plan.header_name is not None:
                values = request.get_all(plan.header_name)
                if len(values) == 1:
                    value = parse_uint64(values[0])
            elif plan.use_hash_policy and policy is not None:
                value = _no_cookie_hash(policy, request)
            if value is None:
                value = rand.getrandbits(64)
            name = _choose_weighted(
                plan.names,
                plan.weights,
                value,
                hash_driven=plan.use_hash_policy,
                healthy=plan.healthy,
                attempted=(),
                host_counts=None,
                aware=plan.aware,
            )
            chosen = self._clusters[name]
        if h is None:
            h = rand.getrandbits(64)
        if chosen.hashes:
            host = chosen.cluster.lookup(h)
        else:
            host = _any_host(chosen, balancer_rng if balancer_rng is not None else rand)
            cookies = ()  # only a hashing balancer has Envoy compute the hash (and the cookie)
        return Pick(chosen.name, host, h, hashed, cookies)

    def _plan(self, route: Route, envoy_version: str | EnvoyProfile) -> _WeightedPlan:
        """What :meth:`pick` needs of *route*'s clusters, checked once per route and profile."""
        key = (id(route), envoy_version)
        plan = self._plans.get(key)
        if plan is None or plan.route is not route:
            clusters = self.route_clusters(route)
            names: tuple[str, ...] = ()
            weights: tuple[int, ...] = ()
            if len(route.weighted_clusters) > 0:
                items = _check_weighted(route.weighted_clusters)
                names, weights = tuple(n for n, _ in items), tuple(w for _, w in items)
            prof = profile(envoy_version)
            plan = _WeightedPlan(
                route,
                clusters,
                names,
                weights,
                MappingProxyType({c.name: _has_healthy(c) for c in clusters}),
                prof.health_aware_weighted_clusters,
                # Fields a release does not know are ignored by it, as protobuf does.
                route.header_name if prof.weighted_cluster_header_name else None,
                route.use_hash_policy and prof.weighted_cluster_use_hash_policy,
            )
            self._plans[key] = plan
        return plan

    def __iter__(self) -> Iterator[EnvoyCluster]:
        return iter(self._clusters.values())

    def __repr__(self) -> str:
        return (
            f"<EnvoyConfig {len(self._clusters)} clusters, {len(self._route_configs)} route "
            f"configurations, {len(self._routes)} routes>"
        )


class _Named(Protocol):
    @property
    def name(self) -> str: ...


_N = TypeVar("_N", bound=_Named)


def _named(items: Iterable[_N], name: str, missing: str) -> _N:
    """Return the first of *items* called *name*; else raise ``KeyError(missing)``."""
    for item in items:
        if item.name == name:
            return item
    raise KeyError(missing)


def _locality_key(name: str) -> tuple[str, ...]:
    """``LocalityLess``: (region, zone, sub_zone) compared lexicographically."""
    parts = name.split("/")
    return tuple(parts + [""] * (3 - len(parts)))


def _locality_weighting(
    hosts: tuple[Host, ...], configured: Mapping[str, int], node: str | None = None
) -> tuple[tuple[Host, ...], dict[str, int]]:
    """Hosts and weights for locality weighting (Envoy's ``load_balancer_impl.cc``).

    Every host gets a locality (``""`` for the empty one); a locality with no
    ``load_balancing_weight`` weighs 0 (skipped), and localities are ordered
    by ``LocalityLess``, the node's own (non-empty) locality first.
    """
    placed = tuple(h if h.locality is not None else replace_host(h, locality="") for h in hosts)
    names = {h.locality or "" for h in placed} | set(configured)
    order = sorted(names, key=lambda n: (n != node, _locality_key(n)))
    weights = {name: configured.get(name, 0) for name in order}
    return placed, weights


@dataclass(frozen=True)
class _WeightedPlan:
    route: Route  # kept so that its id cannot be reused while the plan lives
    clusters: tuple[EnvoyCluster, ...]
    names: tuple[str, ...]  # the weighted clusters, checked; empty for route.cluster
    weights: tuple[int, ...]
    healthy: Mapping[str, bool]
    aware: bool
    header_name: str | None  # route.header_name, if the release reads it (1.22+)
    use_hash_policy: bool  # route.use_hash_policy, if the release reads it (1.36+)


def _any_host(cluster: EnvoyCluster, rand: random.Random) -> Host | None:
    """A non-hashing balancer's pick, modelled as uniform over the healthy hosts (else all)."""
    hosts = cluster.hosts
    healthy = [h for h in hosts if h.health in HEALTHY_STATUSES]
    pool = healthy or list(hosts)
    return pool[rand.randrange(len(pool))] if pool else None


def _has_healthy(cluster: EnvoyCluster) -> bool:
    """Whether any priority of *cluster* has a healthy host (Envoy's health-aware weights)."""
    return any(h.health in HEALTHY_STATUSES for h in cluster.hosts)


def _no_cookie_hash(policy: HashPolicy, request: Request) -> int | None:
    """The policy hash without generating a cookie (Envoy's weighted-cluster evaluation)."""
    plain = [m for m in policy.policies if getattr(m, "ttl", None) is None]
    if len(plain) == len(policy.policies):
        return policy.hash(request)
    from ..policy import Cookie

    rebuilt = [
        Cookie(m.name, terminal=m.terminal) if isinstance(m, Cookie) and m.ttl is not None else m
        for m in policy.policies
    ]
    return HashPolicy(*rebuilt, seed=policy.seed).hash(request)
