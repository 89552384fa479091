"""Istio and Kubernetes YAML -> a validated routing model with ``FILE:LINE`` provenance.

What is read (multi-document YAML, any number of files):

* ``DestinationRule`` and ``VirtualService`` of ``networking.istio.io``
  ``v1alpha3``, ``v1beta1`` or ``v1``;
* ``Pod`` (labels, ``status.podIP``, container ports), ``Deployment``,
  ``StatefulSet`` and ``ReplicaSet`` (pod template labels and ``replicas``),
  ``Service`` (selector and ports), and ``List`` / ``*List`` documents such
  as the output of ``kubectl get pods -o yaml``.

What it means (spec §10, the Istio -> Envoy translation):

* short host names (no dot) become ``NAME.NAMESPACE.svc.cluster.local``
  using the resource's namespace (``default`` when it has none); names with
  a dot are taken as they are, like Istio does; a DestinationRule host may be
  a ``*.`` wildcard, and the most specific rule wins;
* each route destination gets the ``loadBalancer`` of the first of: the
  subset's port-level settings, the subset's policy, the rule's port-level
  settings, the rule's top-level policy;
* ``consistentHash`` gives the hash key (``httpHeaderName``, ``httpCookie``,
  ``useSourceIp``, ``httpQueryParameterName``) and the table
  (``ringHash.minimumRingSize``, ``maglev.tableSize``, or the deprecated
  ``minimumRingSize``; ring hash with 1024 entries by default);
* weighted destinations with weight 0 are dropped; a single destination
  takes all the traffic whatever its weight;
* Envoy mode's route hash policy is one entry per remaining destination that
  has a ``consistentHash``, in route order, exactly as Istio emits it.

Deployments have no IP addresses, so their pods get **synthetic, stable
addresses**: a workload ``NAMESPACE/NAME`` gets the block
``10.X.Y.0/24`` with ``X.Y`` taken from ``xxh64("NAMESPACE/NAME")``
(collisions move to the next free block, in namespace/name order), and its
replica *i* gets ``10.X.Y.(i + 2)`` (blocks continue for more than 250
replicas).  A Pod with no ``status.podIP`` gets one address the same way,
from its own name.  The same input therefore always gives the same
addresses, whatever the file order.  Real Pods (with an IP) that match a
Deployment's selector replace its synthetic pods.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from .._policy_py import _load_re2, _regex_engine
from .._ring_py import MAX_RING_SIZE
from .._validate import (
    MAX_DESTINATIONS,
    MAX_INT_DIGITS,
    MAX_MATCH_CONDITIONS,
    MAX_PODS,
    MAX_ROUTE_ENDPOINTS,
    MAX_ROUTES,
    MAX_SUBSETS,
    cap,
)
from .._validate import clip as _clip
from .._validate import is_prime as _is_prime
from .._validate import short as _short
from ..hashing import xxh64
from ..maglev import MAX_TABLE_SIZE
from .source import (
    Budget,
    InputError,
    LDict,
    LList,
    Where,
    charge_text,
    expand_paths,
    load_yaml_documents,
    read_input,
    read_stdin,
)

__all__ = (
    "HOST_LABEL",
    "Destination",
    "HashKey",
    "LoadBalancer",
    "Mesh",
    "Pod",
    "RoutePlan",
    "Scenario",
    "load_mesh",
)

#: The label added to every simulated host naming the service (FQDN) it
#: belongs to; each subset selector includes it, so destinations on
#: different services never share hosts.
HOST_LABEL = "hashlb.cli/service"

ISTIO_GROUP = "networking.istio.io"
ISTIO_VERSIONS = ("v1alpha3", "v1beta1", "v1")
WORKLOAD_KINDS = ("Deployment", "StatefulSet", "ReplicaSet")
#: Kinds that do not change where a request goes; they are skipped.
IGNORED_KINDS = frozenset(
    {
        "Namespace",
        "ConfigMap",
        "Secret",
        "ServiceAccount",
        "Role",
        "RoleBinding",
        "ClusterRole",
        "ClusterRoleBinding",
        "HorizontalPodAutoscaler",
        "PodDisruptionBudget",
        "NetworkPolicy",
        "Ingress",
        "Gateway",
        "Sidecar",
        "PeerAuthentication",
        "AuthorizationPolicy",
        "RequestAuthentication",
        "Telemetry",
        "Endpoints",
        "EndpointSlice",
    }
)
SUPPORTED_KINDS = ("DestinationRule", "VirtualService", "Pod", *WORKLOAD_KINDS, "Service", "List")

DEFAULT_MIN_RING_SIZE = 1024
DEFAULT_TABLE_SIZE = 65537
MAX_WEIGHT = 2**32 - 1

_HASH_KEYS = ("httpHeaderName", "httpCookie", "useSourceIp", "httpQueryParameterName")
_CH_FIELDS = frozenset({*_HASH_KEYS, "ringHash", "maglev", "minimumRingSize"})
_DURATION = re.compile(r"^(?:(\d+(?:\.\d+)?)(h|ms|us|µs|ns|m|s))+$")
_DURATION_PART = re.compile(r"(\d+(?:\.\d+)?)(h|ms|us|µs|ns|m|s)")
_DURATION_UNITS = {"h": 3600.0, "m": 60.0, "s": 1.0, "ms": 1e-3, "us": 1e-6, "µs": 1e-6, "ns": 1e-9}


# --------------------------------------------------------------------------
# Small typed accessors that raise InputError with the position.


def _names(items: Iterable[object], *, quote: bool = True, limit: int = 8) -> str:
    """Return a short list for a message: ``'a', 'b', ... (12 in all)``; ``none`` if empty."""
    shown: list[str] = []
    total = 0
    for item in items:
        total += 1
        if total <= limit:
            shown.append(_short(item, 60) if quote else _clip(str(item), 60))
    if not total:
        return "none"
    return ", ".join(shown) + (f", ... ({total} in all)" if total > limit else "")


def _kind_name(doc: LDict) -> str:
    meta = doc.get("metadata")
    name = meta.get("name") if isinstance(meta, dict) else None
    return f"{doc.get('kind')} {_short(name)}" if name else str(doc.get("kind"))


def _map(parent: LDict, key: str, what: str, *, required: bool = False) -> LDict | None:
    value = parent.get(key)
    if value is None:
        if required:
            raise InputError(parent.where, f"{what}: missing required field {_short(key)}")
        return None
    if not isinstance(value, LDict):
        raise InputError(
            parent.at(key), f"{what}: {_short(key)} must be a mapping, got {type(value).__name__}"
        )
    return value


def _list(parent: LDict, key: str, what: str) -> LList:
    value = parent.get(key)
    if value is None:
        return LList()
    if not isinstance(value, LList):
        raise InputError(
            parent.at(key), f"{what}: {_short(key)} must be a list, got {type(value).__name__}"
        )
    return value


def _str(parent: LDict, key: str, what: str, *, required: bool = False) -> str | None:
    value = parent.get(key)
    if value is None:
        if required:
            raise InputError(parent.where, f"{what}: missing required field {_short(key)}")
        return None
    if isinstance(value, bool) or not isinstance(value, (str, int, float)):
        raise InputError(
            parent.at(key), f"{what}: {_short(key)} must be a string, got {type(value).__name__}"
        )
    text = str(value)
    if required and not text:
        raise InputError(parent.at(key), f"{what}: {_short(key)} must not be empty")
    return text


def _int(
    parent: LDict, key: str, what: str, low: int, high: int, *, default: int | None = None
) -> int | None:
    """Return an integer field; protobuf JSON also accepts decimal strings."""
    value = parent.get(key)
    if value is None:
        return default
    ok = not isinstance(value, bool)
    if ok and isinstance(value, str) and re.fullmatch(r"\s*[+-]?\d+\s*", value):
        value = _decimal(value, parent.at(key), f"{what}: {_short(key)}")
    if not ok or not isinstance(value, int):
        raise InputError(
            parent.at(key), f"{what}: {_short(key)} must be an integer, got {_short(value)}"
        )
    if not low <= value <= high:
        raise InputError(
            parent.at(key), f"{what}: {_short(key)} must be in [{low}, {high}], got {_short(value)}"
        )
    return value


def _decimal(text: str, where: Where, what: str) -> int:
    """Convert a decimal string field, refusing more than MAX_INT_DIGITS characters."""
    digits = text.strip()
    if len(digits) > MAX_INT_DIGITS:
        raise InputError(
            where,
            f"{what}: an integer of {len(digits)} characters is too long ({cap('MAX_INT_DIGITS')})",
        )
    return int(digits)


def _labels(parent: LDict | None, key: str, what: str) -> dict[str, str]:
    if parent is None:
        return {}
    value = _map(parent, key, what)
    if value is None:
        return {}
    out: dict[str, str] = {}
    for k, v in value.items():
        if v is None or isinstance(v, (LDict, LList)):
            raise InputError(value.at(k), f"{what}: label {_short(k)} must have a string value")
        out[str(k)] = str(v).lower() if isinstance(v, bool) else str(v)
    return out


def _duration_seconds(value: object, where: Where, what: str) -> float:
    """Parse a protobuf/Go duration (``"3600s"``, ``"1h30m"``, ``"0s"``) or a number."""
    if isinstance(value, bool):
        raise InputError(where, f"{what}: expected a duration such as '3600s', got {_short(value)}")
    if isinstance(value, (int, float)):
        seconds = float(value)
    elif isinstance(value, str) and len(value) <= 64 and _DURATION.match(value.strip()):
        seconds = sum(
            float(n) * _DURATION_UNITS[u] for n, u in _DURATION_PART.findall(value.strip())
        )
    else:
        raise InputError(where, f"{what}: expected a duration such as '3600s', got {_short(value)}")
    if seconds < 0:
        raise InputError(where, f"{what}: a duration must not be negative, got {_short(value)}")
    return seconds


def resolve_host(name: str, namespace: str, domain: str) -> str:
    """Return Istio's FQDN for a host: short names get ``.NS.svc.DOMAIN``."""
    name = name.strip().lower()
    if "." in name or name == "*" or not name:
        return name
    return f"{name}.{namespace}.svc.{domain}"


# --------------------------------------------------------------------------
# The model.


@dataclass(frozen=True)
class HashKey:
    """One Istio ``consistentHash`` key, i.e. one Envoy route ``hash_policy`` entry.

    ``kind`` is ``"header"``, ``"cookie"``, ``"source_ip"`` or ``"query"``;
    ``cookie_ttl`` is in seconds (``None``: no ttl, so no cookie is generated).
    """

    kind: str
    name: str = ""
    cookie_path: str = ""
    cookie_ttl: float | None = None
    where: Where | None = field(default=None, compare=False)

    def describe(self) -> str:
        """Return a short form such as ``header:x-user`` (the ``--key`` syntax)."""
        if self.kind == "source_ip":
            return "source-ip"
        return f"{self.kind}:{self.name}"


@dataclass(frozen=True)
class LoadBalancer:
    """The load balancer Istio configures for one destination cluster.

    ``algorithm`` is ``"ring_hash"``, ``"maglev"`` or ``"simple"`` (no
    consistent hash: round robin, least request or random, which the
    simulator models as a uniformly random pick).  ``hash_key`` is None for
    ``"simple"`` and for ``useSourceIp: false`` (Envoy then has no hash
    policy entry and picks at random).
    """

    algorithm: str
    min_ring_size: int = DEFAULT_MIN_RING_SIZE
    table_size: int = DEFAULT_TABLE_SIZE
    hash_key: HashKey | None = None
    level: str = "default"
    where: Where | None = field(default=None, compare=False)

    def describe(self) -> str:
        """Return e.g. ``ring_hash(minimumRingSize=1024) on header:x-user``."""
        if self.algorithm == "simple":
            return f"{self.level} (no consistentHash)"
        size = (
            f"minimumRingSize={self.min_ring_size}"
            if self.algorithm == "ring_hash"
            else f"tableSize={self.table_size}"
        )
        key = self.hash_key.describe() if self.hash_key else "no hash key"
        return f"{self.algorithm}({size}) on {key}"


@dataclass(frozen=True)
class Pod:
    """A pod: name, labels, IP (real or synthetic) and container ports."""

    name: str
    namespace: str
    labels: Mapping[str, str]
    ip: str
    synthetic: bool
    ports: tuple[tuple[str, int], ...]  # (port name, containerPort), in container order
    owner: str
    where: Where

    def port_named(self, name: str) -> int | None:
        """Return the container port with this name, or None."""
        for n, p in self.ports:
            if n == name:
                return p
        return None


@dataclass(frozen=True)
class Endpoint:
    """One upstream endpoint of a destination: ``podIP:targetPort``."""

    address: str
    pod: Pod


@dataclass
class _Workload:
    kind: str
    name: str
    namespace: str
    selector: dict[str, str]
    labels: dict[str, str]
    replicas: int
    ports: tuple[tuple[str, int], ...]
    where: Where


@dataclass
class _Service:
    name: str
    namespace: str
    fqdn: str
    selector: dict[str, str]
    ports: list[tuple[str, int, int | str]]  # (name, port, targetPort)
    where: Where


@dataclass
class _Subset:
    name: str
    labels: dict[str, str]
    policy: LDict | None
    where: Where


@dataclass
class _DestinationRule:
    name: str
    namespace: str
    host: str
    policy: LDict | None
    subsets: dict[str, _Subset]
    where: Where
    host_where: Where


@dataclass
class _RouteDestination:
    host: str
    subset: str | None
    port: int | None
    weight: int
    where: Where
    weight_where: Where


@dataclass
class _HTTPRoute:
    name: str
    index: int
    matches: list[LDict] | None
    destinations: list[_RouteDestination]
    where: Where


@dataclass
class _VirtualService:
    name: str
    namespace: str
    hosts: list[str]
    http: list[_HTTPRoute]
    where: Where


@dataclass(frozen=True)
class Destination:
    """A resolved route destination: where a share of the traffic goes."""

    name: str  # the subset name shown to users (unique within a route)
    host: str  # FQDN
    subset: str | None
    port: int
    weight: int
    selector: Mapping[str, str]  # includes HOST_LABEL
    lb: LoadBalancer
    endpoints: tuple[Endpoint, ...]
    where: Where


@dataclass(frozen=True)
class RoutePlan:
    """One ``http`` route of the VirtualService, ready to simulate."""

    index: int
    name: str
    matches: tuple[LDict, ...] | None  # None: matches every request
    destinations: tuple[Destination, ...]  # non-zero weights only
    where: Where

    @property
    def hash_keys(self) -> tuple[HashKey, ...]:
        """Envoy's route ``hash_policy``: one entry per destination with a hash key."""
        return tuple(d.lb.hash_key for d in self.destinations if d.lb.hash_key is not None)

    @property
    def weights(self) -> dict[str, int]:
        """Subset name -> configured weight, in route order."""
        return {d.name: d.weight for d in self.destinations}


@dataclass(frozen=True)
class Scenario:
    """What ``hashlb simulate`` runs: the routes of one VirtualService host."""

    host: str
    source: str  # e.g. "VirtualService 'x'"
    routes: tuple[RoutePlan, ...]
    where: Where

    @property
    def destinations(self) -> list[Destination]:
        """Every destination of every route, in order (names may repeat across routes)."""
        return [d for r in self.routes for d in r.destinations]


# --------------------------------------------------------------------------
# Loading.


class _PodIndex:
    """Pods by namespace and by ``(namespace, label, value)``, in pod order.

    A selection scans only the shortest list among its labels, so resolving
    many destinations (or workloads) costs about the pods they select, not
    the pods of the input each time.
    """

    def __init__(self, pods: Sequence[Pod]) -> None:
        self.size = len(pods)
        self.by_ns: dict[str, list[Pod]] = {}
        self.by_label: dict[tuple[str, str, str], list[Pod]] = {}
        for p in pods:
            self.by_ns.setdefault(p.namespace, []).append(p)
            for k, v in p.labels.items():
                self.by_label.setdefault((p.namespace, k, v), []).append(p)

    def select(self, namespace: str, labels: Mapping[str, str]) -> list[Pod]:
        """Return the pods of *namespace* whose labels contain *labels*."""
        if not labels:
            return list(self.by_ns.get(namespace, ()))
        shortest = min(
            (self.by_label.get((namespace, k, v), []) for k, v in labels.items()), key=len
        )
        items = list(labels.items())
        return [p for p in shortest if all(p.labels.get(k) == v for k, v in items)]


@dataclass
class Mesh:
    """Everything read from the input files, before resolution."""

    namespace: str = "default"
    domain: str = "cluster.local"
    pods: list[Pod] = field(default_factory=list)
    workloads: list[_Workload] = field(default_factory=list)
    services: list[_Service] = field(default_factory=list)
    rules: list[_DestinationRule] = field(default_factory=list)
    virtual_services: list[_VirtualService] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    budget: Budget = field(default_factory=Budget)
    _raw_pods: list[tuple[LDict, Where]] = field(default_factory=list)
    # Resolution state: caches (a destination repeated over many routes
    # selects its pods once) and the counts checked against the caps.
    _host_pods: dict[str, tuple[list[Pod], _Service | None]] = field(default_factory=dict)
    _members: dict[tuple[str, tuple[tuple[str, str], ...]], list[Pod]] = field(default_factory=dict)
    _destinations: int = 0
    _endpoints: int = 0
    _index: _PodIndex | None = None
    _rules_for: dict[str, _DestinationRule | None] = field(default_factory=dict)

    # ---- reading

    def add_text(self, text: str, filename: str, *, endpoints_only: bool = False) -> None:
        """Add every document of one YAML text (counted against the run's caps)."""
        for doc, where in load_yaml_documents(text, filename, self.budget):
            self._add_doc(doc, where, endpoints_only)

    def _count_pods(self, where: Where, what: str) -> None:
        if len(self._raw_pods) > MAX_PODS:
            raise InputError(
                where,
                f"{what}: the input has more than {cap('MAX_PODS')} pods "
                "(Pods plus the replicas of Deployments, StatefulSets and ReplicaSets)",
            )

    def _add_doc(self, doc: Any, where: Where, endpoints_only: bool) -> None:
        if not isinstance(doc, LDict):
            raise InputError(
                where, f"expected a Kubernetes object (a mapping), got {type(doc).__name__}"
            )
        kind = doc.get("kind")
        if kind is None:
            raise InputError(doc.where, "the document has no 'kind'")
        if not isinstance(kind, str):
            raise InputError(doc.at("kind"), f"'kind' must be a string, got {_short(kind)}")
        if kind == "List" or (kind.endswith("List") and "items" in doc):
            for i, item in enumerate(_list(doc, "items", kind)):
                self._add_doc(item, _list(doc, "items", kind).at(i), endpoints_only)
            return
        if endpoints_only and kind != "Pod":
            raise InputError(
                doc.at("kind"),
                f"--endpoints files hold Pods (or a List of Pods), got kind {_short(kind)}",
            )
        raw_api = doc.get("apiVersion", "")
        api = raw_api if isinstance(raw_api, str) else _short(raw_api)
        if kind in ("DestinationRule", "VirtualService"):
            group, _, version = api.partition("/")
            if group != ISTIO_GROUP or version not in ISTIO_VERSIONS:
                raise InputError(
                    doc.at("apiVersion"),
                    f"{kind}: unsupported apiVersion {_short(api)} (expected {ISTIO_GROUP}/"
                    + "|".join(ISTIO_VERSIONS)
                    + ")",
                )
            if kind == "DestinationRule":
                self._add_rule(doc)
            else:
                self._add_virtual_service(doc)
        elif kind == "Pod":
            self._raw_pods.append((doc, doc.where))
            self._count_pods(doc.where, "Pod")
        elif kind in WORKLOAD_KINDS:
            self._add_workload(doc, kind)
        elif kind == "Service":
            self._add_service(doc)
        elif kind in IGNORED_KINDS:
            self.notes.append(f"{doc.at('kind')}: {kind} does not change routing; skipped")
        else:
            raise InputError(
                doc.at("kind"),
                f"unknown kind {_short(kind)} (supported: {', '.join(SUPPORTED_KINDS)})",
            )

    def _meta(self, doc: LDict) -> tuple[str, str, LDict]:
        what = str(doc.get("kind"))
        meta = _map(doc, "metadata", what, required=True)
        assert meta is not None
        name = _str(meta, "name", what, required=True) or ""
        ns = _str(meta, "namespace", what) or self.namespace
        return name, ns, meta

    def _add_rule(self, doc: LDict) -> None:
        self._rules_for.clear()
        name, ns, _ = self._meta(doc)
        what = f"DestinationRule {_short(name)}"
        spec = _map(doc, "spec", what, required=True)
        assert spec is not None
        host = _str(spec, "host", what, required=True) or ""
        policy = _map(spec, "trafficPolicy", what)
        if policy is not None:
            _check_policy(policy, what)
        subsets: dict[str, _Subset] = {}
        items = _list(spec, "subsets", what)
        if len(items) > MAX_SUBSETS:
            raise InputError(
                items.at(MAX_SUBSETS), f"{what}: more than {cap('MAX_SUBSETS')} subsets"
            )
        for i, item in enumerate(items):
            if not isinstance(item, LDict):
                raise InputError(items.at(i), f"{what}: each subset must be a mapping")
            sname = _str(item, "name", f"{what} subset", required=True) or ""
            swhat = f"{what} subset {_short(sname)}"
            if sname in subsets:
                raise InputError(item.at("name"), f"{swhat} is defined twice")
            spolicy = _map(item, "trafficPolicy", swhat)
            if spolicy is not None:
                _check_policy(spolicy, swhat)
            subsets[sname] = _Subset(sname, _labels(item, "labels", swhat), spolicy, item.where)
        self.rules.append(
            _DestinationRule(
                name,
                ns,
                resolve_host(host, ns, self.domain),
                policy,
                subsets,
                doc.where,
                spec.at("host"),
            )
        )

    def _add_virtual_service(self, doc: LDict) -> None:
        name, ns, _ = self._meta(doc)
        what = f"VirtualService {_short(name)}"
        spec = _map(doc, "spec", what, required=True)
        assert spec is not None
        raw_hosts = _list(spec, "hosts", what)
        if not raw_hosts:
            raise InputError(spec.where, f"{what}: 'hosts' must list at least one host")
        hosts = []
        for i, h in enumerate(raw_hosts):
            if not isinstance(h, str) or not h:
                raise InputError(raw_hosts.at(i), f"{what}: each host must be a non-empty string")
            hosts.append(resolve_host(h, ns, self.domain))
        if spec.get("delegate") is not None:  # pragma: no cover - checked per route below
            raise InputError(spec.at("delegate"), f"{what}: delegate is not supported")
        routes: list[_HTTPRoute] = []
        http = _list(spec, "http", what)
        if len(http) > MAX_ROUTES:
            raise InputError(
                http.at(MAX_ROUTES), f"{what}: more than {cap('MAX_ROUTES')} http routes"
            )
        conditions = 0
        for i, item in enumerate(http):
            if not isinstance(item, LDict):
                raise InputError(http.at(i), f"{what}: each http route must be a mapping")
            route = self._http_route(item, i, what, ns)
            for m in route.matches or ():
                conditions += _conditions(m)
                if conditions > MAX_MATCH_CONDITIONS:
                    raise InputError(
                        m.where,
                        f"{what}: the http routes have more than {cap('MAX_MATCH_CONDITIONS')} "
                        "match conditions (each request is tested against them in order)",
                    )
            routes.append(route)
        self.virtual_services.append(_VirtualService(name, ns, hosts, routes, doc.where))

    def _http_route(self, item: LDict, index: int, what: str, ns: str) -> _HTTPRoute:
        rname = _str(item, "name", what) or f"http[{index}]"
        rwhat = f"{what} route {_short(rname)}"
        if item.get("delegate") is not None:
            raise InputError(item.at("delegate"), f"{rwhat}: delegate is not supported")
        matches: list[LDict] | None = None
        if item.get("match") is not None:
            mlist = _list(item, "match", rwhat)
            matches = []
            for j, m in enumerate(mlist):
                if not isinstance(m, LDict):
                    raise InputError(mlist.at(j), f"{rwhat}: each match must be a mapping")
                _check_match(m, rwhat)
                matches.append(m)
        dests: list[_RouteDestination] = []
        rlist = _list(item, "route", rwhat)
        if len(rlist) > MAX_SUBSETS:
            raise InputError(
                rlist.at(MAX_SUBSETS), f"{rwhat}: more than {cap('MAX_SUBSETS')} destinations"
            )
        for j, r in enumerate(rlist):
            if not isinstance(r, LDict):
                raise InputError(rlist.at(j), f"{rwhat}: each route destination must be a mapping")
            d = _map(r, "destination", rwhat, required=True)
            assert d is not None
            host = _str(d, "host", f"{rwhat} destination", required=True) or ""
            subset = _str(d, "subset", f"{rwhat} destination")
            port = None
            pmap = _map(d, "port", f"{rwhat} destination")
            if pmap is not None:
                port = _int(pmap, "number", f"{rwhat} destination port", 1, 65535)
            weight = _weight(r, rwhat)
            dests.append(
                _RouteDestination(
                    resolve_host(host, ns, self.domain),
                    subset,
                    port,
                    weight,
                    r.where,
                    r.at("weight"),
                )
            )
        return _HTTPRoute(rname, index, matches, dests, item.where)

    def _add_workload(self, doc: LDict, kind: str) -> None:
        name, ns, _ = self._meta(doc)
        what = f"{kind} {_short(name)}"
        spec = _map(doc, "spec", what, required=True)
        assert spec is not None
        replicas = _int(spec, "replicas", what, 0, MAX_PODS, default=1)
        assert replicas is not None
        template = _map(spec, "template", what, required=True)
        assert template is not None
        tmeta = _map(template, "metadata", f"{what} template")
        labels = _labels(tmeta, "labels", f"{what} template")
        sel = _map(spec, "selector", what)
        selector = _labels(sel, "matchLabels", f"{what} selector") if sel else dict(labels)
        pspec = _map(template, "spec", f"{what} template")
        ports = _container_ports(pspec, what)
        self.workloads.append(
            _Workload(kind, name, ns, selector, labels, replicas, ports, doc.where)
        )

    def _add_service(self, doc: LDict) -> None:
        name, ns, _ = self._meta(doc)
        what = f"Service {_short(name)}"
        spec = _map(doc, "spec", what) or LDict()
        selector = _labels(spec, "selector", what)
        ports: list[tuple[str, int, int | str]] = []
        plist = _list(spec, "ports", what)
        for i, p in enumerate(plist):
            if not isinstance(p, LDict):
                raise InputError(plist.at(i), f"{what}: each port must be a mapping")
            number = _int(p, "port", f"{what} port", 1, 65535)
            if number is None:
                raise InputError(p.where, f"{what}: a port needs 'port'")
            target: int | str = number
            raw = p.get("targetPort")
            if isinstance(raw, str) and not raw.isdigit():
                target = raw
            elif raw is not None:
                t = _int(p, "targetPort", f"{what} port", 1, 65535)
                assert t is not None
                target = t
            ports.append((_str(p, "name", what) or "", number, target))
        self.services.append(
            _Service(name, ns, f"{name}.{ns}.svc.{self.domain}", selector, ports, doc.where)
        )

    # ---- pods

    def finish(self) -> None:
        """Turn raw Pods and workloads into :attr:`pods` (real first, then synthetic)."""
        self._host_pods.clear()
        self._members.clear()
        taken: set[str] = set()
        pending: list[tuple[str, str, dict[str, str], tuple[tuple[str, int], ...], str, Where]] = []
        for doc, where in self._raw_pods:
            name, ns, meta = self._meta(doc)
            what = f"Pod {_short(name)}"
            status = _map(doc, "status", what)
            phase = _str(status, "phase", what) if status is not None else None
            if phase in ("Succeeded", "Failed"):
                self.notes.append(f"{where}: Pod {_short(name)} is {phase}; skipped")
                continue
            labels = _labels(meta, "labels", what)
            ports = _container_ports(_map(doc, "spec", what), what)
            ip = _str(status, "podIP", what) if status is not None else None
            if ip:
                taken.add(ip)
                self.pods.append(Pod(name, ns, labels, ip, False, ports, "", where))
            else:
                pending.append((name, ns, labels, ports, "", where))
        blocks = _BlockAllocator(taken)
        for name, ns, labels, ports, owner, where in sorted(pending, key=lambda p: (p[1], p[0])):
            ip = blocks.addresses(f"{ns}/{name}", 1)[0]
            self.pods.append(Pod(name, ns, labels, ip, True, ports, owner, where))
        real = _PodIndex(self.pods)
        for w in sorted(self.workloads, key=lambda w: (w.namespace, w.name, w.kind)):
            if w.selector and real.select(w.namespace, w.selector):
                self.notes.append(
                    f"{w.where}: {w.kind} {_short(w.name)} is represented by the Pods given"
                )
                continue
            if len(self.pods) + w.replicas > MAX_PODS:
                raise InputError(
                    w.where,
                    f"{w.kind} {_short(w.name)}: its {w.replicas} replicas make more than "
                    f"{cap('MAX_PODS')} pods in the input",
                )
            for i, ip in enumerate(blocks.addresses(f"{w.namespace}/{w.name}", w.replicas)):
                self.pods.append(
                    Pod(
                        f"{w.name}-{i}",
                        w.namespace,
                        dict(w.labels),
                        ip,
                        True,
                        w.ports,
                        f"{w.kind} {w.name}",
                        w.where,
                    )
                )

    # ---- resolution

    def _rule_for(self, host: str) -> _DestinationRule | None:
        if host not in self._rules_for:
            self._rules_for[host] = self._find_rule(host)
        return self._rules_for[host]

    def _find_rule(self, host: str) -> _DestinationRule | None:
        """Return the DestinationRule for an FQDN: exact host, else the longest wildcard.

        Several rules for the same host are merged as Istio does: the first
        (in file order) sets the traffic policy, subsets are the union with
        the first definition of a name winning.
        """
        exact = [r for r in self.rules if r.host == host]
        if not exact:
            wild = [
                r
                for r in self.rules
                if r.host == "*" or (r.host.startswith("*.") and host.endswith(r.host[1:]))
            ]
            if not wild:
                return None
            best = max(len(r.host) for r in wild)
            exact = [r for r in wild if len(r.host) == best]
        first = exact[0]
        if len(exact) == 1:
            return first
        merged = dict(first.subsets)
        policy = first.policy
        for r in exact[1:]:
            for k, v in r.subsets.items():
                merged.setdefault(k, v)
            if policy is None:
                policy = r.policy
        return _DestinationRule(
            first.name, first.namespace, first.host, policy, merged, first.where, first.host_where
        )

    def _service_for(self, host: str) -> _Service | None:
        for s in self.services:
            if s.fqdn == host:
                return s
        return None

    def _pod_index(self) -> _PodIndex:
        if self._index is None or self._index.size != len(self.pods):
            self._index = _PodIndex(self.pods)
        return self._index

    def host_pods(self, host: str, where: Where) -> tuple[list[Pod], _Service | None]:
        """Return the pods behind a service FQDN (Service selector, else its namespace)."""
        found = self._host_pods.get(host)
        if found is None:
            found = self._find_host_pods(host, where)
            self._host_pods[host] = found
        return found

    def _find_host_pods(self, host: str, where: Where) -> tuple[list[Pod], _Service | None]:
        svc = self._service_for(host)
        if svc is not None:
            if not svc.selector:
                return [], svc
            return self._pod_index().select(svc.namespace, svc.selector), svc
        parts = host.split(".")
        if len(parts) >= 3 and parts[2] == "svc":
            return self._pod_index().select(parts[1], {}), None
        raise InputError(
            where,
            f"host {_short(host)} is not a Kubernetes service name (NAME.NAMESPACE.svc.DOMAIN)",
        )

    def scenario(self, host: str | None = None) -> Scenario:
        """Resolve the routes for *host* (or the only VirtualService/DestinationRule host).

        :raises InputError: nothing to simulate, an ambiguous choice, or any
            resolution error (a missing rule or subset, a subset without pods).
        """
        if not self.virtual_services and not self.rules:
            raise InputError(None, "no VirtualService or DestinationRule in the input")
        self._destinations = self._endpoints = 0
        want = resolve_host(host, self.namespace, self.domain) if host else None
        candidates: list[tuple[str, _VirtualService | None]] = []
        for v in self.virtual_services:
            for h in v.hosts:
                candidates.append((h, v))
        if not self.virtual_services:
            candidates = [(r.host, None) for r in self.rules if not r.host.startswith("*")]
        if want is not None:
            chosen = [c for c in candidates if c[0] == want]
            if not chosen:
                known = _names(sorted({c[0] for c in candidates}), quote=False)
                raise InputError(None, f"--host {_short(host)}: no such host (known: {known})")
        else:
            hosts = sorted({c[0] for c in candidates})
            if len(hosts) != 1:
                raise InputError(
                    None,
                    f"the input routes several hosts ({_names(hosts, quote=False)}); choose one with --host",
                )
            chosen = [c for c in candidates if c[0] == hosts[0]]
        fqdn, vs = chosen[0]
        if vs is None:
            rule = self._rule_for(fqdn)
            assert rule is not None
            fake = _HTTPRoute(
                "default",
                0,
                None,
                [_RouteDestination(fqdn, None, None, 100, rule.where, rule.where)],
                rule.where,
            )
            routes = [self._plan(fake, f"DestinationRule {_short(rule.name)}")]
            return Scenario(fqdn, f"DestinationRule {_short(rule.name)}", tuple(routes), rule.where)
        if len(chosen) > 1:
            names = _names(c[1].name for c in chosen if c[1] is not None)
            raise InputError(
                vs.where, f"host {_short(fqdn)} is in several VirtualServices ({names}); keep one"
            )
        if not vs.http:
            raise InputError(vs.where, f"VirtualService {_short(vs.name)} has no http routes")
        routes = [self._plan(r, f"VirtualService {_short(vs.name)}") for r in vs.http]
        return Scenario(fqdn, f"VirtualService {_short(vs.name)}", tuple(routes), vs.where)

    def _plan(self, route: _HTTPRoute, owner: str) -> RoutePlan:
        what = f"{owner} route {_short(route.name)}"
        live = route.destinations
        if len(live) > 1:
            live = [d for d in live if d.weight > 0]
            if not live and route.destinations:
                raise InputError(
                    route.destinations[0].weight_where, f"{what}: every destination has weight 0"
                )
            total = sum(d.weight for d in live)
            if total > MAX_WEIGHT:
                raise InputError(
                    live[-1].weight_where,
                    f"{what}: the weights add up to {total}, more than 2**32 - 1",
                )
        if len(live) == 1 and live[0].weight == 0:
            # A single destination takes all the traffic whatever its weight.
            d0 = live[0]
            live = [_RouteDestination(d0.host, d0.subset, d0.port, 100, d0.where, d0.weight_where)]
        hosts = {d.host for d in live}
        dests: list[Destination] = []
        names: set[str] = set()
        for d in live:
            rule = self._rule_for(d.host)
            if rule is None:
                raise InputError(
                    d.where,
                    f"{what} sends traffic to host {_short(d.host)}, but no DestinationRule has "
                    "that host (a DestinationRule defines the subsets and the consistentHash)",
                )
            self._destinations += 1
            if self._destinations > MAX_DESTINATIONS:
                raise InputError(
                    d.where,
                    f"{what}: the routes have more than {cap('MAX_DESTINATIONS')} destinations "
                    "in all",
                )
            _, svc = self.host_pods(d.host, d.where)
            selector = {HOST_LABEL: d.host}
            subset = None
            if d.subset is not None:
                subset = rule.subsets.get(d.subset)
                if subset is None:
                    known = _names(rule.subsets)
                    raise InputError(
                        d.where,
                        f"{what}: subset {_short(d.subset)} is not defined in DestinationRule "
                        f"{_short(rule.name)} ({rule.where}; its subsets: {known})",
                    )
                selector.update(subset.labels)
            key = (d.host, tuple(selector.items()))
            members = self._members.get(key)
            if members is None:
                labels = {k: v for k, v in selector.items() if k != HOST_LABEL}
                if svc is None:
                    ns = d.host.split(".")[1]
                    members = self._pod_index().select(ns, labels)
                elif not svc.selector or any(
                    svc.selector.get(k, v) != v for k, v in labels.items()
                ):
                    members = []  # no pods, or the subset contradicts the Service selector
                else:
                    members = self._pod_index().select(svc.namespace, {**svc.selector, **labels})
                self._members[key] = members
            port, endpoints = _endpoints(d, svc, members)
            self._endpoints += len(endpoints)
            if self._endpoints > MAX_ROUTE_ENDPOINTS:
                raise InputError(
                    d.where,
                    f"{what}: the route destinations have more than "
                    f"{cap('MAX_ROUTE_ENDPOINTS')} endpoints in all",
                )
            if not endpoints:
                target = subset.where if subset is not None else rule.where
                label = (
                    f"subset {_short(d.subset)}" if subset is not None else f"host {_short(d.host)}"
                )
                pairs = [f"{k}={v}" for k, v in selector.items() if k != HOST_LABEL]
                sel = _names(pairs, quote=False) if pairs else ""
                raise InputError(
                    target,
                    f"DestinationRule {_short(rule.name)} {label} selects no pods"
                    + (f" (labels {sel})" if sel else "")
                    + f"; it receives traffic from {what}",
                )
            lb = _load_balancer(rule, subset, port)
            name = d.subset if d.subset is not None else d.host.split(".")[0]
            if len(hosts) > 1 and d.subset is not None:
                name = f"{d.host.split('.')[0]}/{d.subset}"
            if name in names:
                raise InputError(
                    d.where,
                    f"{what}: destination {_short(name)} is listed twice; merge the weights",
                )
            names.add(name)
            dests.append(
                Destination(
                    name, d.host, d.subset, port, d.weight, selector, lb, endpoints, d.where
                )
            )
        return RoutePlan(
            route.index,
            route.name,
            tuple(route.matches) if route.matches is not None else None,
            tuple(dests),
            route.where,
        )


def _weight(r: LDict, what: str) -> int:
    raw = r.get("weight")
    if raw is None:
        return 0
    value: object = raw
    if isinstance(raw, str) and re.fullmatch(r"\s*\d+\s*", raw):
        value = _decimal(raw, r.at("weight"), f"{what}: weight")
    if isinstance(value, bool) or not isinstance(value, int):
        raise InputError(
            r.at("weight"), f"{what}: weight must be a whole number 0..2**32-1, got {_short(raw)}"
        )
    if not 0 <= value <= MAX_WEIGHT:
        raise InputError(
            r.at("weight"), f"{what}: weight must be a whole number 0..2**32-1, got {_short(raw)}"
        )
    return value


def _container_ports(pspec: LDict | None, what: str) -> tuple[tuple[str, int], ...]:
    if pspec is None:
        return ()
    out: list[tuple[str, int]] = []
    containers = _list(pspec, "containers", what)
    for i, c in enumerate(containers):
        if not isinstance(c, LDict):
            raise InputError(containers.at(i), f"{what}: each container must be a mapping")
        plist = _list(c, "ports", f"{what} container")
        for j, p in enumerate(plist):
            if not isinstance(p, LDict):
                raise InputError(plist.at(j), f"{what}: each container port must be a mapping")
            number = _int(p, "containerPort", f"{what} container port", 1, 65535)
            if number is None:
                raise InputError(p.where, f"{what}: a container port needs 'containerPort'")
            out.append((_str(p, "name", what) or "", number))
    return tuple(out)


def _endpoints(
    d: _RouteDestination, svc: _Service | None, pods: Sequence[Pod]
) -> tuple[int, tuple[Endpoint, ...]]:
    """Return the service port and the ``podIP:targetPort`` endpoints."""
    if svc is not None and svc.ports:
        if d.port is not None:
            match = [p for p in svc.ports if p[1] == d.port]
            if not match:
                known = _names((p[1] for p in svc.ports), quote=False)
                raise InputError(
                    d.where, f"Service {_short(svc.name)} has no port {d.port} (its ports: {known})"
                )
            sp = match[0]
        elif len(svc.ports) == 1:
            sp = svc.ports[0]
        else:
            raise InputError(
                d.where,
                f"Service {_short(svc.name)} has several ports; the destination must set port.number",
            )
        out = []
        for p in pods:
            target = sp[2]
            tp = p.port_named(target) if isinstance(target, str) else target
            if tp is None:
                continue  # Kubernetes leaves such pods out of the endpoints
            out.append(Endpoint(_join(p.ip, tp), p))
        return sp[1], tuple(out)
    if d.port is not None:
        return d.port, tuple(Endpoint(_join(p.ip, d.port), p) for p in pods)
    # No Service and no destination port: each pod's own first containerPort
    # (podIP:containerPort), 80 for a pod that declares none.
    ports = [next((pp for _, pp in p.ports), 80) for p in pods]
    first = ports[0] if ports else 80
    return first, tuple(Endpoint(_join(p.ip, pp), p) for p, pp in zip(pods, ports, strict=True))


def _join(ip: str, port: int) -> str:
    return f"[{ip}]:{port}" if ":" in ip else f"{ip}:{port}"


class _BlockAllocator:
    """Stable synthetic addresses in 10.0.0.0/8 (see the module docstring)."""

    def __init__(self, taken: Iterable[str]) -> None:
        self._used_blocks: set[int] = set()
        for ip in taken:
            parts = ip.split(".")
            if len(parts) == 4 and parts[0] == "10" and all(x.isdigit() for x in parts):
                self._used_blocks.add(int(parts[1]) * 256 + int(parts[2]))

    def _block(self, name: str) -> int:
        b = xxh64(name) & 0xFFFF
        while b in self._used_blocks:
            b = (b + 1) & 0xFFFF
        self._used_blocks.add(b)
        return b

    def addresses(self, name: str, count: int) -> list[str]:
        out: list[str] = []
        block = self._block(name)
        for i in range(count):
            j = i % 250
            if i and j == 0:
                block = self._block(f"{name}#{i // 250}")
            out.append(f"10.{block >> 8}.{block & 0xFF}.{j + 2}")
        return out


# --------------------------------------------------------------------------
# Traffic policy.

_LB_FIELDS = frozenset(
    {"simple", "consistentHash", "localityLbSetting", "warmupDurationSecs", "warmup"}
)
_MATCH_FIELDS = frozenset(
    {"name", "uri", "headers", "withoutHeaders", "queryParams", "ignoreUriCase", "method"}
)


def _check_policy(policy: LDict, what: str) -> None:
    """Validate the parts of a trafficPolicy the simulator uses (eagerly, for positions)."""
    lb = _map(policy, "loadBalancer", what)
    if lb is not None:
        _check_lb(lb, what)
    pls = _list(policy, "portLevelSettings", what)
    for i, item in enumerate(pls):
        if not isinstance(item, LDict):
            raise InputError(pls.at(i), f"{what}: each portLevelSettings entry must be a mapping")
        port = _map(item, "port", f"{what} portLevelSettings", required=True)
        assert port is not None
        _int(port, "number", f"{what} portLevelSettings port", 1, 65535)
        if port.get("number") is None:
            raise InputError(port.where, f"{what}: portLevelSettings port needs 'number'")
        plb = _map(item, "loadBalancer", f"{what} portLevelSettings")
        if plb is not None:
            _check_lb(plb, f"{what} port {port.get('number')}")


def _check_lb(lb: LDict, what: str) -> None:
    for k in lb:
        if k not in _LB_FIELDS:
            raise InputError(lb.at(k), f"{what}: unknown loadBalancer field {_short(k)}")
    ch = _map(lb, "consistentHash", what)
    if ch is not None and lb.get("simple") is not None:
        raise InputError(
            lb.at("simple"), f"{what}: loadBalancer sets both 'simple' and 'consistentHash'"
        )
    if ch is not None:
        _parse_consistent_hash(ch, what)


def _parse_consistent_hash(ch: LDict, what: str) -> tuple[str, int, int, HashKey | None]:
    """Return (algorithm, min_ring_size, table_size, hash key) of a consistentHash."""
    cwhat = f"{what} consistentHash"
    for k in ch:
        if k not in _CH_FIELDS:
            raise InputError(
                ch.at(k),
                f"{cwhat}: unknown field {_short(k)} (expected one of {', '.join(sorted(_CH_FIELDS))})",
            )
    keys = [k for k in _HASH_KEYS if k in ch]
    if len(keys) > 1:
        raise InputError(
            ch.at(keys[1]), f"{cwhat}: set only one of {', '.join(_HASH_KEYS)}; got {keys}"
        )
    if not keys:
        raise InputError(ch.where, f"{cwhat}: needs one of {', '.join(_HASH_KEYS)}")
    key: HashKey | None
    k = keys[0]
    if k == "httpHeaderName":
        name = _str(ch, k, cwhat, required=True) or ""
        key = HashKey("header", name.lower(), where=ch.at(k))
    elif k == "httpQueryParameterName":
        key = HashKey("query", _str(ch, k, cwhat, required=True) or "", where=ch.at(k))
    elif k == "useSourceIp":
        value = ch.get(k)
        if not isinstance(value, bool):
            raise InputError(
                ch.at(k), f"{cwhat}: useSourceIp must be true or false, got {_short(value)}"
            )
        key = HashKey("source_ip", where=ch.at(k)) if value else None
    else:
        cookie = _map(ch, k, cwhat, required=True)
        assert cookie is not None
        cname = _str(cookie, "name", f"{cwhat} httpCookie", required=True) or ""
        path = _str(cookie, "path", f"{cwhat} httpCookie") or ""
        ttl = None
        if cookie.get("ttl") is not None:
            ttl = _duration_seconds(cookie["ttl"], cookie.at("ttl"), f"{cwhat} httpCookie ttl")
        for extra in cookie:
            if extra not in ("name", "path", "ttl", "attributes"):
                raise InputError(
                    cookie.at(extra), f"{cwhat}: unknown httpCookie field {_short(extra)}"
                )
        key = HashKey("cookie", cname, path, ttl, where=ch.at(k))
    ring = _map(ch, "ringHash", cwhat)
    maglev = _map(ch, "maglev", cwhat)
    if ring is not None and maglev is not None:
        raise InputError(ch.at("maglev"), f"{cwhat}: set only one of ringHash and maglev")
    deprecated = _int(ch, "minimumRingSize", cwhat, 0, MAX_RING_SIZE, default=0) or 0
    if maglev is not None:
        size = _int(maglev, "tableSize", f"{cwhat} maglev", 0, MAX_TABLE_SIZE, default=0) or 0
        if size and not _is_prime(size):
            raise InputError(
                maglev.at("tableSize"),
                f"{cwhat} maglev: tableSize must be a prime number, got {size}",
            )
        return "maglev", DEFAULT_MIN_RING_SIZE, size or DEFAULT_TABLE_SIZE, key
    if ring is not None:
        size = _int(ring, "minimumRingSize", f"{cwhat} ringHash", 0, MAX_RING_SIZE, default=0) or 0
        return "ring_hash", size or DEFAULT_MIN_RING_SIZE, DEFAULT_TABLE_SIZE, key
    return "ring_hash", deprecated or DEFAULT_MIN_RING_SIZE, DEFAULT_TABLE_SIZE, key


def _port_lb(policy: LDict | None, port: int) -> LDict | None:
    if policy is None:
        return None
    for item in _list(policy, "portLevelSettings", "trafficPolicy"):
        pm = item.get("port")
        if isinstance(pm, LDict) and _int(pm, "number", "port", 1, 65535) == port:
            lb = item.get("loadBalancer")
            return lb if isinstance(lb, LDict) else None
    return None


def _load_balancer(rule: _DestinationRule, subset: _Subset | None, port: int) -> LoadBalancer:
    """Apply Istio's precedence: subset port-level, subset, rule port-level, rule top level."""
    sp = subset.policy if subset is not None else None
    levels: list[tuple[str, LDict | None]] = [
        (f"subset {_short(subset.name)} port {port}" if subset else "", _port_lb(sp, port)),
        (f"subset {_short(subset.name)}" if subset else "", sp.get("loadBalancer") if sp else None),
        (f"DestinationRule {_short(rule.name)} port {port}", _port_lb(rule.policy, port)),
        (
            f"DestinationRule {_short(rule.name)}",
            rule.policy.get("loadBalancer") if rule.policy else None,
        ),
    ]
    for level, lb in levels:
        if not isinstance(lb, LDict):
            continue
        ch = lb.get("consistentHash")
        if isinstance(ch, LDict):
            algo, ring, table, key = _parse_consistent_hash(ch, level)
            return LoadBalancer(algo, ring, table, key, level, ch.where)
        return LoadBalancer("simple", level=f"{level} loadBalancer", where=lb.where)
    return LoadBalancer(
        "simple", level=f"DestinationRule {_short(rule.name)} default", where=rule.where
    )


def _conditions(m: LDict) -> int:
    """Return how many conditions one match block holds (at least 1)."""
    n = sum(1 for k in ("uri", "method") if k in m)
    for k in ("headers", "withoutHeaders", "queryParams"):
        hm = m.get(k)
        n += len(hm) if isinstance(hm, LDict) else 0
    return max(n, 1)


def _check_match(m: LDict, what: str) -> None:
    for k in m:
        if k not in _MATCH_FIELDS:
            raise InputError(
                m.at(k),
                f"{what}: match field {_short(k)} cannot be simulated "
                f"(supported: {', '.join(sorted(_MATCH_FIELDS))})",
            )
    for k in ("uri", "method"):
        sm = _map(m, k, what)
        if sm is not None:
            _check_string_match(sm, f"{what} match {k}")
    for k in ("headers", "withoutHeaders", "queryParams"):
        hm = _map(m, k, what)
        if hm is not None:
            for name, sm in hm.items():
                if not isinstance(sm, LDict):
                    raise InputError(
                        hm.at(name), f"{what} match {k} {_short(name)} must be a mapping"
                    )
                _check_string_match(sm, f"{what} match {k} {_short(name)}")


def _check_string_match(sm: LDict, what: str) -> None:
    kinds = [k for k in ("exact", "prefix", "regex") if k in sm]
    extra = [k for k in sm if k not in ("exact", "prefix", "regex")]
    if extra:
        raise InputError(sm.at(extra[0]), f"{what}: unknown string match {_short(extra[0])}")
    if len(kinds) > 1:
        raise InputError(sm.at(kinds[1]), f"{what}: set only one of exact, prefix, regex")
    if "regex" in sm:
        pattern = sm["regex"]
        if not isinstance(pattern, str):
            raise InputError(
                sm.at("regex"), f"{what}: regex must be a string, got {type(pattern).__name__}"
            )
        try:
            match_regex(pattern)
        except Exception as e:  # re.error, or RE2's error (its message may be bytes)
            reason = e.args[0] if e.args else e
            if isinstance(reason, bytes):
                reason = reason.decode("utf-8", "replace")
            raise InputError(
                sm.at("regex"), f"{what}: bad regex: {_clip(str(reason), 200)}"
            ) from None


_REGEX_CACHE: dict[str, Any] = {}


def match_regex(pattern: str) -> Any:
    """Compile a StringMatch ``regex`` as Envoy does: with RE2 (linear time).

    Envoy's ``safe_regex`` is Google RE2, which matches in time linear in the
    input; ``google-re2`` (a dependency of hashlb) gives the same engine and
    syntax, so a pattern RE2 rejects (backreferences, lookaround) is rejected
    here too.  The engine is chosen as for ``regex_rewrite``: Python's
    backtracking :mod:`re` only with ``HASHLB_REGEX_ENGINE=re`` (a hostile
    pattern can then take exponential time).  Compiled patterns are cached.

    :raises ConfigError: RE2 is needed but cannot be imported.
    """
    compiled = _REGEX_CACHE.get(pattern)
    if compiled is None:
        if _regex_engine() == "re":
            compiled = re.compile(pattern)
        else:
            re2 = _load_re2()
            options = re2.Options()
            options.log_errors = False  # the error comes back as one line instead
            compiled = re2.compile(pattern, options)
        _REGEX_CACHE[pattern] = compiled
    return compiled


def load_mesh(
    paths: Sequence[str],
    endpoints: Sequence[str] = (),
    *,
    namespace: str = "default",
    domain: str = "cluster.local",
    stdin_text: str | None = None,
) -> Mesh:
    """Read every ``-f`` path (files or directories) and ``--endpoints`` file.

    Every path is checked before any is read; ``-`` reads standard input
    (or *stdin_text* when given), once.  The inputs together are held to the
    caps of :class:`~hashlb.cli.source.Budget` (bytes, files, YAML nodes).

    :raises InputError: unreadable, malformed or oversized input (with ``FILE:LINE``).
    """
    mesh = Mesh(namespace=namespace, domain=domain)
    groups = [
        (expand_paths(group, mesh.budget), only)
        for group, only in ((paths, False), (endpoints, True))
    ]
    for files, only_pods in groups:
        for p in files:
            if str(p) == "-":
                name = "<stdin>"
                if stdin_text is None:
                    text = read_stdin(mesh.budget)
                else:
                    charge_text(stdin_text, name, mesh.budget)
                    text = stdin_text
            else:
                name = str(p)
                text = read_input(p, mesh.budget, name)
            mesh.add_text(text, name, endpoints_only=only_pods)
    mesh.finish()
    return mesh
