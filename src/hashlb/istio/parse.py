"""Parsing the Istio and Kubernetes documents, field by field, with ``FILE:LINE`` errors.

:class:`_Reader` (the reading half of :class:`hashlb.istio.Mesh`) takes each
document of a YAML stream: ``DestinationRule`` and ``VirtualService``
(``networking.istio.io``), ``Pod``, ``Deployment``, ``StatefulSet``,
``ReplicaSet``, ``Service`` and ``List``.  The functions below check one
field at a time and raise :class:`~hashlb.istio.InputError` naming the
field, its position and a short form of the bad value; the traffic policy
helpers apply Istio's ``loadBalancer`` precedence.
"""

from __future__ import annotations

import re
from typing import Any

from .._policy_py import _load_re2, _regex_engine
from .._ring_py import MAX_RING_SIZE
from .._source import InputError, Where
from .._validate import (
    MAX_MATCH_CONDITIONS,
    MAX_PODS,
    MAX_ROUTES,
    MAX_SUBSETS,
    cap,
)
from .._validate import clip as _clip
from .._validate import is_prime as _is_prime
from .._validate import short as _short
from ..maglev import MAX_TABLE_SIZE
from ._fields import (
    _decimal,
    _duration_seconds,
    _int,
    _labels,
    _list,
    _map,
    _mappings,
    _str,
    resolve_host,
)
from ._yaml import Budget, LDict, load_yaml_documents
from .model import (
    DEFAULT_MIN_RING_SIZE,
    DEFAULT_TABLE_SIZE,
    IGNORED_KINDS,
    ISTIO_GROUP,
    ISTIO_VERSIONS,
    LOCALITY_ANNOTATION,
    MAX_WEIGHT,
    SUPPORTED_KINDS,
    WORKLOAD_KINDS,
    HashKey,
    Pod,
    _DestinationRule,
    _HTTPRoute,
    _RouteDestination,
    _Service,
    _Subset,
    _VirtualService,
    _Workload,
)

__all__ = ("match_regex", "resolve_host")

_HASH_KEYS = ("httpHeaderName", "httpCookie", "useSourceIp", "httpQueryParameterName")
_CH_FIELDS = frozenset({*_HASH_KEYS, "ringHash", "maglev", "minimumRingSize"})


# --------------------------------------------------------------------------
# Reading documents (the first half of Mesh).


class _Reader:
    """Read documents into the raw records of :class:`hashlb.istio.Mesh` (its base class)."""

    namespace: str
    domain: str
    pods: list[Pod]
    workloads: list[_Workload]
    services: list[_Service]
    rules: list[_DestinationRule]
    virtual_services: list[_VirtualService]
    notes: list[str]
    budget: Budget
    _raw_pods: list[tuple[LDict, Where]]
    _rules_for: dict[str, _DestinationRule | None]
    mesh_outlier_detection: LDict | None
    mesh_locality_lb: LDict | None
    nodes: dict[str, dict[str, str]]

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
        elif kind == "Node":
            self._add_node(doc)
        elif kind == "ConfigMap" and _is_mesh_config(doc):
            self._add_mesh_config(doc)
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
        subset_limit = ("MAX_SUBSETS", MAX_SUBSETS, "subsets")
        for item in _mappings(spec, "subsets", what, "subset", subset_limit):
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

    def _add_mesh_config(self, doc: LDict) -> None:
        """Read MeshConfig ``defaultTrafficPolicy.outlierDetection`` from the ``istio`` ConfigMap."""
        data = _map(doc, "data", "ConfigMap 'istio'")
        assert data is not None
        text = _str(data, "mesh", "ConfigMap 'istio' data")
        where = data.at("mesh")
        docs = load_yaml_documents(text or "", f"{where} (data.mesh)", self.budget)
        if not docs:
            return
        mesh, _ = docs[0]
        what = "MeshConfig (ConfigMap 'istio' data.mesh)"
        if not isinstance(mesh, LDict):
            raise InputError(where, f"{what} must be a mapping")
        locality_lb = _map(mesh, "localityLbSetting", what)
        if locality_lb is not None:
            check_locality_lb(locality_lb, what)
            self._rules_for.clear()
            self.mesh_locality_lb = locality_lb
            self.notes.append(f"{where}: MeshConfig sets localityLbSetting")
        policy = _map(mesh, "defaultTrafficPolicy", what)
        if policy is None:
            return
        check_outlier_detection(policy, f"{what} defaultTrafficPolicy")
        self._rules_for.clear()
        self.mesh_outlier_detection = _map(policy, "outlierDetection", what)
        self.notes.append(
            f"{where}: MeshConfig defaultTrafficPolicy"
            + (" sets outlierDetection" if self.mesh_outlier_detection is not None else "")
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
        http = _mappings(
            spec, "http", what, "http route", ("MAX_ROUTES", MAX_ROUTES, "http routes")
        )
        conditions = 0
        for i, item in enumerate(http):
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
            matches = []
            for m in _mappings(item, "match", rwhat, "match"):
                _check_match(m, rwhat)
                matches.append(m)
        dests: list[_RouteDestination] = []
        dest_limit = ("MAX_SUBSETS", MAX_SUBSETS, "destinations")
        for r in _mappings(item, "route", rwhat, "route destination", dest_limit):
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
        retries = route_retries(item, rwhat)
        return _HTTPRoute(rname, index, matches, dests, item.where, retries)

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
        localities = locality_annotation(tmeta, f"{what} template", many=True)
        self.workloads.append(
            _Workload(kind, name, ns, selector, labels, replicas, ports, doc.where, localities)
        )

    def _add_node(self, doc: LDict) -> None:
        """Keep a Node's labels: Istio reads a pod's locality from its node's topology labels."""
        name, _, meta = self._meta(doc)
        self.nodes[name] = _labels(meta, "labels", f"Node {_short(name)}")

    def _add_service(self, doc: LDict) -> None:
        name, ns, meta = self._meta(doc)
        what = f"Service {_short(name)}"
        spec = _map(doc, "spec", what) or LDict()
        selector = _labels(spec, "selector", what)
        ports: list[tuple[str, int, int | str]] = []
        for p in _mappings(spec, "ports", what, "port"):
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
        publish = spec.get("publishNotReadyAddresses", False)
        if not isinstance(publish, bool):
            raise InputError(
                spec.at("publishNotReadyAddresses"),
                f"{what}: publishNotReadyAddresses must be true or false, got {_short(publish)}",
            )
        self.services.append(
            _Service(
                name,
                ns,
                f"{name}.{ns}.svc.{self.domain}",
                selector,
                ports,
                doc.where,
                publish,
                _traffic_distribution(spec, meta, what),
            )
        )

    # ---- pods


#: Istio's ``GetTrafficDistribution`` (``pilot/pkg/model/service.go``): the Service's
#: ``spec.trafficDistribution``, else this annotation (lower case), else none.
TRAFFIC_DISTRIBUTION_ANNOTATION = "networking.istio.io/traffic-distribution"
_TRAFFIC_DISTRIBUTION = {
    "preferclose": "PreferSameZone",
    "prefersamezone": "PreferSameZone",
    "prefersamenode": "PreferSameNode",
}


def _traffic_distribution(spec: LDict, meta: LDict, what: str) -> str:
    """Return ``PreferSameZone``, ``PreferSameNode`` or "" as Istio reads a Service."""
    value = _str(spec, "trafficDistribution", what)
    if value is not None and value in ("PreferClose", "PreferSameZone", "PreferSameNode"):
        return _TRAFFIC_DISTRIBUTION[value.lower()]
    annotations = _map(meta, "annotations", what)
    raw = _str(annotations, TRAFFIC_DISTRIBUTION_ANNOTATION, what) if annotations else None
    return _TRAFFIC_DISTRIBUTION.get((raw or "").lower(), "")


#: The ``HTTPRetry`` fields hashlb reads (networking/v1 ``HTTPRetry``).
_RETRY_FIELDS = frozenset(
    {"attempts", "perTryTimeout", "retryOn", "retryRemoteLocalities", "retryIgnorePreviousHosts"}
)


def route_retries(item: LDict, what: str) -> dict[str, object] | None:
    """Return the checked ``retries`` of an http route (None when unset).

    ``attempts`` an int in ``[0, 2**31)``, ``retryOn`` a comma-separated string,
    ``perTryTimeout`` a duration, the two switches booleans; any other field is
    refused, naming it.
    """
    r = _map(item, "retries", what)
    if r is None:
        return None
    rwhat = f"{what} retries"
    for k in r:
        if k not in _RETRY_FIELDS:
            raise InputError(
                r.at(k),
                f"{rwhat}: unknown field {_short(k)} (expected one of "
                f"{', '.join(sorted(_RETRY_FIELDS))})",
            )
    out: dict[str, object] = {"attempts": _int(r, "attempts", rwhat, 0, 2**31 - 1, default=0)}
    retry_on = _str(r, "retryOn", rwhat)
    if retry_on is not None:
        out["retryOn"] = retry_on
    if r.get("perTryTimeout") is not None:
        _duration_seconds(r["perTryTimeout"], r.at("perTryTimeout"), f"{rwhat} perTryTimeout")
        out["perTryTimeout"] = str(r["perTryTimeout"])
    for flag in ("retryRemoteLocalities", "retryIgnorePreviousHosts"):
        value = r.get(flag)
        if value is not None:
            if not isinstance(value, bool):
                raise InputError(r.at(flag), f"{rwhat} {flag}: expected true or false")
            out[flag] = value
    return out


def _is_mesh_config(doc: LDict) -> bool:
    """Return whether *doc* is Istio's mesh ConfigMap: named ``istio``, with ``data.mesh``."""
    meta, data = doc.get("metadata"), doc.get("data")
    return (
        isinstance(meta, LDict)
        and meta.get("name") == "istio"
        and isinstance(data, LDict)
        and data.get("mesh") is not None
    )


def _weight(r: LDict, what: str) -> int:
    raw = r.get("weight")
    if raw is None:
        return 0
    value: object = raw
    if isinstance(raw, str) and re.fullmatch(r"\s*\d+\s*", raw):
        value = _decimal(raw, r.at("weight"), f"{what}: weight")
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= MAX_WEIGHT:
        raise InputError(
            r.at("weight"), f"{what}: weight must be a whole number 0..2**32-1, got {_short(raw)}"
        )
    return value


def _container_ports(pspec: LDict | None, what: str) -> tuple[tuple[str, int], ...]:
    if pspec is None:
        return ()
    out: list[tuple[str, int]] = []
    for c in _mappings(pspec, "containers", what, "container"):
        plist = _list(c, "ports", f"{what} container")
        for j, p in enumerate(plist):
            if not isinstance(p, LDict):
                raise InputError(plist.at(j), f"{what}: each container port must be a mapping")
            number = _int(p, "containerPort", f"{what} container port", 1, 65535)
            if number is None:
                raise InputError(p.where, f"{what}: a container port needs 'containerPort'")
            out.append((_str(p, "name", what) or "", number))
    return tuple(out)


# --------------------------------------------------------------------------
# Traffic policy.

_LOCALITY_LB_FIELDS = frozenset({"enabled", "distribute", "failover", "failoverPriority"})
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
    check_outlier_detection(policy, what)
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
        check_outlier_detection(item, f"{what} port {port.get('number')}")


def check_outlier_detection(policy: LDict, what: str) -> None:
    """Validate ``outlierDetection.minHealthPercent`` (Istio: an integer percentage, 0..100)."""
    od = _map(policy, "outlierDetection", what)
    if od is not None:
        _int(od, "minHealthPercent", f"{what} outlierDetection", 0, 100)


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
    setting = _map(lb, "localityLbSetting", what)
    if setting is not None:
        check_locality_lb(setting, f"{what} loadBalancer")


def check_locality_lb(setting: LDict, what: str) -> None:
    """Validate a ``localityLbSetting`` as Istio's ``ValidateLocalityLbSetting`` does.

    (``pkg/config/validation/agent/validation.go``): ``distribute`` and
    ``failover`` exclude each other; each ``distribute`` entry has a ``from``
    and ``to`` weights in [1, 100] summing to 100; a ``failover`` entry names
    two different regions (no ``/``, no ``*``); ``failoverPriority`` is a list
    of label names (``label`` or ``label=value``) and, with ``failover``, holds
    no region/zone/subzone label.
    """
    lwhat = f"{what} localityLbSetting"
    _only_fields(setting, _LOCALITY_LB_FIELDS, f"{lwhat}: unknown field", "(expected one of")
    enabled = setting.get("enabled")
    if enabled is not None and not isinstance(enabled, bool):
        raise InputError(
            setting.at("enabled"), f"{lwhat}: enabled must be true or false, got {_short(enabled)}"
        )
    distribute = list(_mappings(setting, "distribute", lwhat, "distribute entry"))
    failover = list(_mappings(setting, "failover", lwhat, "failover entry"))
    if distribute and failover:
        raise InputError(
            setting.at("failover"),
            f"{lwhat}: can not simultaneously specify 'distribute' and 'failover'",
        )
    for entry in distribute:
        dwhat = f"{lwhat} distribute"
        _str(entry, "from", dwhat, required=True)
        to = _map(entry, "to", dwhat, required=True)
        assert to is not None
        total = 0
        for loc in to:
            total += _int(to, loc, f"{dwhat} to", 1, 100) or 0
        if total != 100:
            raise InputError(to.where, f"{dwhat}: the 'to' weights add up to {total}, not 100")
    for entry in failover:
        fwhat = f"{lwhat} failover"
        src = _str(entry, "from", fwhat, required=True) or ""
        dst = _str(entry, "to", fwhat, required=True) or ""
        if src == dst:
            raise InputError(entry.where, f"{fwhat}: 'from' and 'to' must be different regions")
        for key, value in (("from", src), ("to", dst)):
            if "/" in value or "*" in value:
                raise InputError(
                    entry.at(key),
                    f"{fwhat}: {key} must be a region (no '/' or '*'), got {_short(value)}",
                )
    labels = _list(setting, "failoverPriority", lwhat)
    for i, item in enumerate(labels):
        if not isinstance(item, str) or not item:
            raise InputError(
                labels.at(i), f"{lwhat}: each failoverPriority item must be a label name"
            )
        if failover and item.split("=", 1)[0] in TOPOLOGY_LABELS:
            raise InputError(
                labels.at(i),
                f"{lwhat}: can not simultaneously set 'failover' and topology label "
                f"{_short(item)} in 'failoverPriority'",
            )


#: The topology labels Istio adds to every endpoint and proxy from its locality
#: (``AugmentLabels``, ``pilot/pkg/serviceregistry/util/label/label.go``).
REGION_LABEL = "topology.kubernetes.io/region"
ZONE_LABEL = "topology.kubernetes.io/zone"
SUBZONE_LABEL = "topology.istio.io/subzone"
TOPOLOGY_LABELS = (REGION_LABEL, ZONE_LABEL, SUBZONE_LABEL)
HOSTNAME_LABEL = "kubernetes.io/hostname"
NETWORK_LABEL = "topology.istio.io/network"
#: The pod labels Istio reads a locality from, first wins (``GetLocalityLabel``,
#: ``pkg/model/proxy.go``).
LOCALITY_LABELS = ("topology.istio.io/locality", "istio-locality")
#: Node labels: region, zone (the GA label, then the beta one), subzone
#: (``getPodLocality``, ``pilot/pkg/serviceregistry/kube/controller/controller.go``).
NODE_LOCALITY_LABELS = (
    (REGION_LABEL, "failure-domain.beta.kubernetes.io/region"),
    (ZONE_LABEL, "failure-domain.beta.kubernetes.io/zone"),
    (SUBZONE_LABEL, ""),
)
_LOCALITY_PART = re.compile(r"^[A-Za-z0-9_.-]{0,63}$")


def sanitize_locality(label: str) -> str:
    """Istio's ``SanitizeLocalityLabel``: without a ``/``, dots separate the parts."""
    return label if "/" in label else label.replace(".", "/")


def split_locality(locality: str) -> tuple[str, str, str]:
    """Istio's ``SplitLocalityLabel``: ``region/zone/subzone`` -> its three parts ("" if absent)."""
    items = locality.split("/")
    items += [""] * (3 - len(items))
    return items[0], items[1], items[2]


def parse_locality(text: str, where: Where | None, what: str) -> str:
    """Check a locality given by the user (``REGION[/ZONE[/SUBZONE]]``, or with dots)."""
    value = sanitize_locality(text.strip())
    parts = value.split("/")
    ok = 1 <= len(parts) <= 3 and parts[0] != "" and all(_LOCALITY_PART.match(p) for p in parts)
    if not ok:
        raise InputError(
            where,
            f"{what}: a locality is REGION[/ZONE[/SUBZONE]] (or with dots), got {_short(text)}",
        )
    return "/".join(split_locality(value)).rstrip("/")


def locality_annotation(meta: LDict | None, what: str, *, many: bool) -> tuple[str, ...]:
    """Return the :data:`~hashlb.istio.model.LOCALITY_ANNOTATION` localities (none without it)."""
    annotations = _map(meta, "annotations", what) if meta is not None else None
    if annotations is None or annotations.get(LOCALITY_ANNOTATION) is None:
        return ()
    value = annotations[LOCALITY_ANNOTATION]
    where = annotations.at(LOCALITY_ANNOTATION)
    if not isinstance(value, str):
        raise InputError(
            where, f"{what}: annotation {LOCALITY_ANNOTATION} must be a string, got {_short(value)}"
        )
    items = [v for v in value.split(",")] if many else [value]
    if len(items) > MAX_PODS:
        raise InputError(where, f"{what}: annotation {LOCALITY_ANNOTATION} lists too many items")
    return tuple(
        parse_locality(v, where, f"{what} annotation {LOCALITY_ANNOTATION}") for v in items
    )


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
    key: HashKey | None = None
    # No key is valid Istio (validation does not require one): the cluster is a
    # ring (or Maglev) and the route gets no hash policy entry, so Envoy hashes
    # a random value.
    k = keys[0] if keys else ""
    if not keys:
        pass
    elif k == "httpHeaderName":
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
        attributes = _cookie_attributes(cookie, f"{cwhat} httpCookie")
        key = HashKey("cookie", cname, path, ttl, where=ch.at(k), cookie_attributes=attributes)
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


def _cookie_attributes(cookie: LDict, what: str) -> tuple[tuple[str, str], ...]:
    """Return ``httpCookie.attributes`` (``[{name, value}]``) as ``(name, value)`` pairs.

    Istio copies them into the route's cookie hash policy
    (``ConsistentHashToHashPolicy``, ``route.go``), so Envoy adds them to the
    cookie it generates.
    """
    out: list[tuple[str, str]] = []
    for item in _mappings(cookie, "attributes", what, "attribute"):
        name = _str(item, "name", f"{what} attribute", required=True) or ""
        out.append((name, _str(item, "value", f"{what} attribute {_short(name)}") or ""))
    return tuple(out)


def _conditions(m: LDict) -> int:
    """Return how many conditions one match block holds (at least 1)."""
    n = sum(1 for k in ("uri", "method") if k in m)
    for k in ("headers", "withoutHeaders", "queryParams"):
        hm = m.get(k)
        n += len(hm) if isinstance(hm, LDict) else 0
    return max(n, 1)


def _only_fields(m: LDict, allowed: frozenset[str], before: str, after: str) -> None:
    """Raise ``BEFORE 'key' AFTER a, b)`` at the first key of *m* not in *allowed*."""
    for k in m:
        if k not in allowed:
            raise InputError(m.at(k), f"{before} {_short(k)} {after} {', '.join(sorted(allowed))})")


def _check_match(m: LDict, what: str) -> None:
    _only_fields(m, _MATCH_FIELDS, f"{what}: match field", "cannot be simulated (supported:")
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
    if "regex" in sm and sm["regex"] != "*":  # Istio: regex "*" is a presence test
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
