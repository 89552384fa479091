"""Istio and Kubernetes YAML -> a validated routing model (:class:`Mesh`) with ``FILE:LINE`` provenance.

What is read (multi-document YAML, any number of files):

* ``DestinationRule`` and ``VirtualService`` of ``networking.istio.io``
  ``v1alpha3``, ``v1beta1`` or ``v1``;
* ``Pod`` (labels, ``status.podIP``, container ports), ``Deployment``,
  ``StatefulSet`` and ``ReplicaSet`` (pod template labels and ``replicas``),
  ``Service`` (selector and ports), and ``List`` / ``*List`` documents such
  as the output of ``kubectl get pods -o yaml``.

What it means (the Istio -> Envoy translation of Istio's
``pilot/pkg/networking/core/route/route.go`` and ``cluster_traffic_policy.go``):

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
  has a ``consistentHash``, in route order, exactly as Istio emits it;
* pod health (Istio's ``pilot/pkg/xds/endpoints/endpoint_builder.go``): a pod being deleted gets no endpoint, a pod not
  Ready none or an UNHEALTHY one (:attr:`Mesh.unhealthy_endpoints`), every
  pod of a Service with ``publishNotReadyAddresses`` a healthy one, and the
  ``hashlb.io/health`` annotation sets what Envoy sees (an outlier ejection);
  each destination's ``outlierDetection.minHealthPercent`` (or Envoy's 50)
  is its cluster's panic threshold (:class:`~hashlb.istio.ClusterHealth`);
* locality (Istio's ``pilot/pkg/networking/core/loadbalancer/loadbalancer.go``): a pod's locality is its ``topology.istio.io/locality``
  or ``istio-locality`` label (``region.zone.subzone``), else the
  ``hashlb.io/locality`` annotation (on a workload's pod template, a list
  given to the replicas in turn), else the topology labels of its ``Node``
  (``spec.nodeName``); given the client's locality (``source_locality``),
  Istio's locality failover priorities and ``distribute`` weights apply
  (:mod:`hashlb.istio.locality`).

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

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace

from .._source import InputError, Where
from .._validate import (
    HEALTH_STATUSES,
    MAX_DESTINATIONS,
    MAX_PODS,
    MAX_ROUTE_ENDPOINTS,
    cap,
)
from .._validate import short as _short
from ..hashing import xxh64
from ._fields import _labels, _map, _names, _str, resolve_host
from ._precedence import (
    _load_balancer,
    merged_policy_field,
    min_health_percent,
    outlier_detection,
    route_consistent_hash,
)
from ._yaml import Budget, LDict, charge_text, expand_paths, read_input, read_stdin
from .locality import augmented_labels, grouped, locality_lb
from .model import (
    ENVOY_PANIC_THRESHOLD,
    HEALTH_ANNOTATION,
    HOST_LABEL,
    MAX_WEIGHT,
    UNHEALTHY_ENDPOINTS,
    ClusterHealth,
    Destination,
    Endpoint,
    LocalityPlan,
    Pod,
    RoutePlan,
    Scenario,
    _DestinationRule,
    _HTTPRoute,
    _RouteDestination,
    _Service,
    _Subset,
    _VirtualService,
    _Workload,
)
from .parse import (
    HOSTNAME_LABEL,
    LOCALITY_LABELS,
    NETWORK_LABEL,
    NODE_LOCALITY_LABELS,
    TOPOLOGY_LABELS,
    _container_ports,
    _Reader,
    locality_annotation,
    parse_locality,
)

__all__ = ("Mesh", "load_mesh")


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
class Mesh(_Reader):
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
    #: Which endpoints Istio sends for pods that are not Ready: one of
    #: :data:`~hashlb.istio.model.UNHEALTHY_ENDPOINTS` (``auto``: Istio 1.31's default;
    #: ``omit``: Istio before 1.31).
    unhealthy_endpoints: str = "auto"
    #: MeshConfig ``defaultTrafficPolicy.outlierDetection`` (Istio 1.31+), if given.
    mesh_outlier_detection: LDict | None = None
    #: MeshConfig ``localityLbSetting``, if given (Istio's default: enabled).
    mesh_locality_lb: LDict | None = None
    #: Node name -> labels, from ``kind: Node`` documents (pods' localities).
    nodes: dict[str, dict[str, str]] = field(default_factory=dict)
    #: The client's locality ``region/zone/subzone`` (None: no failover priorities).
    source_locality: str | None = None
    #: The client's own labels (for ``failoverPriority``), beside its topology labels.
    source_labels: dict[str, str] = field(default_factory=dict)
    #: Pods not Ready or being deleted (their endpoints depend on the Service and cluster).
    unready_pods: list[Pod] = field(default_factory=list)
    _all_pods: list[Pod] = field(default_factory=list)
    _raw_pods: list[tuple[LDict, Where]] = field(default_factory=list)
    #: Pods left out because they are not Ready or terminating: (namespace, labels, name).
    _unready: list[tuple[str, dict[str, str], str]] = field(default_factory=list)
    # Resolution state: caches (a destination repeated over many routes
    # selects its pods once) and the counts checked against the caps.
    _host_pods: dict[str, tuple[list[Pod], _Service | None]] = field(default_factory=dict)
    _members: dict[tuple[str, tuple[tuple[str, str], ...]], list[Pod]] = field(default_factory=dict)
    _destinations: int = 0
    _endpoints: int = 0
    _index: _PodIndex | None = None
    _rules_for: dict[str, _DestinationRule | None] = field(default_factory=dict)

    def finish(self) -> None:
        """Turn raw Pods and workloads into ``pods`` (real first, then synthetic).

        Pods that are not Ready or are being deleted go to :attr:`unready_pods`
        instead: whether they get an endpoint depends on the Service and the
        destination's cluster (:meth:`scenario`).
        """
        if self.unhealthy_endpoints not in UNHEALTHY_ENDPOINTS:
            raise InputError(
                None,
                f"unhealthy_endpoints must be one of {', '.join(UNHEALTHY_ENDPOINTS)}, "
                f"got {_short(self.unhealthy_endpoints)}",
            )
        self._host_pods.clear()
        self._members.clear()
        everything: list[Pod] = []
        taken: set[str] = set()
        pending: list[tuple[str, str, Pod]] = []
        for doc, where in self._raw_pods:
            name, ns, meta = self._meta(doc)
            what = f"Pod {_short(name)}"
            status = _map(doc, "status", what)
            phase = _str(status, "phase", what) if status is not None else None
            if phase in ("Succeeded", "Failed"):
                self.notes.append(f"{where}: Pod {_short(name)} is {phase}; skipped")
                continue
            labels = _labels(meta, "labels", what)
            health = _health_annotation(meta, what)
            pspec = _map(doc, "spec", what)
            node = (_str(pspec, "nodeName", what) if pspec is not None else None) or ""
            given = locality_annotation(meta, what, many=False)
            locality = self._locality(labels, given[0] if given else "", node)
            terminating = meta.get("deletionTimestamp") is not None
            ready = not (status is not None and _not_ready(status))
            if terminating or not ready:
                self._unready.append((ns, labels, name))
                self.notes.append(f"{where}: Pod {_short(name)} {self._unready_note(terminating)}")
            ports = _container_ports(pspec, what)
            ip = _str(status, "podIP", what) if status is not None else None
            pod = Pod(
                name,
                ns,
                labels,
                ip or "",
                not ip,
                ports,
                "",
                where,
                ready,
                terminating,
                health,
                locality=locality,
                node=node,
            )
            if ip:
                taken.add(ip)
                everything.append(pod)
            else:
                pending.append((ns, name, pod))
        blocks = _BlockAllocator(taken)
        for ns, name, pod in sorted(pending, key=lambda p: (p[0], p[1])):
            ip = blocks.addresses(f"{ns}/{name}", 1)[0]
            everything.append(replace(pod, ip=ip))
        real = _PodIndex(everything)
        for w in sorted(self.workloads, key=lambda w: (w.namespace, w.name, w.kind)):
            if w.selector and real.select(w.namespace, w.selector):
                self.notes.append(
                    f"{w.where}: {w.kind} {_short(w.name)} is represented by the Pods given"
                )
                continue
            if len(everything) + w.replicas > MAX_PODS:
                raise InputError(
                    w.where,
                    f"{w.kind} {_short(w.name)}: its {w.replicas} replicas make more than "
                    f"{cap('MAX_PODS')} pods in the input",
                )
            for i, ip in enumerate(blocks.addresses(f"{w.namespace}/{w.name}", w.replicas)):
                everything.append(
                    Pod(
                        f"{w.name}-{i}",
                        w.namespace,
                        dict(w.labels),
                        ip,
                        True,
                        w.ports,
                        f"{w.kind} {w.name}",
                        w.where,
                        locality=self._locality(
                            w.labels,
                            w.localities[i % len(w.localities)] if w.localities else "",
                            "",
                        ),
                    )
                )
        self._all_pods = everything
        self.pods = [p for p in everything if p.ready and not p.terminating]
        self.unready_pods = [p for p in everything if not p.ready or p.terminating]

    def _locality(self, labels: Mapping[str, str], annotated: str, node: str) -> str:
        """Return a pod's Istio locality label: Istio's label, the annotation, else its Node.

        Istio's ``getPodLocality`` (``pilot/pkg/serviceregistry/kube/controller/controller.go``)
        reads ``topology.istio.io/locality`` or ``istio-locality`` (dots for
        slashes, ``SanitizeLocalityLabel``), else the node's region, zone and
        subzone labels (``region/zone/subzone``); hashlb's annotation stands in
        for a Node the input does not hold.
        """
        for key in LOCALITY_LABELS:
            if labels.get(key):
                return parse_locality(labels[key], None, f"label {key}")
        if annotated:
            return annotated
        node_labels = self.nodes.get(node) if node else None
        if node_labels is None:
            return ""
        parts = [
            node_labels.get(ga) or (node_labels.get(beta) if beta else "") or ""
            for ga, beta in NODE_LOCALITY_LABELS
        ]
        return "/".join(parts) if any(parts) else ""

    def _unready_note(self, terminating: bool) -> str:
        """The note for a pod that is not Ready (or is being deleted): what Istio sends for it."""
        publish = " (unless its Service sets publishNotReadyAddresses)"
        if terminating:
            return "is terminating: Istio sends no endpoint for it" + publish
        if self.unhealthy_endpoints == "omit":
            return "is not Ready: Istio sends no endpoint for it" + publish
        if self.unhealthy_endpoints == "auto":
            return (
                "is not Ready: Istio sends it as an UNHEALTHY endpoint, except to clusters "
                "whose outlierDetection.minHealthPercent is above 0"
            )
        return "is not Ready: Istio sends it as an UNHEALTHY endpoint"

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
        if self._index is None or self._index.size != len(self._all_pods):
            self._index = _PodIndex(self._all_pods)
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

    def scenario(self, host: str | None = None, *, source_locality: str | None = None) -> Scenario:
        """Resolve the routes for *host* (or the only VirtualService/DestinationRule host).

        *source_locality* (``REGION[/ZONE[/SUBZONE]]``, default
        :attr:`source_locality`) is the client proxy's locality: Istio then
        applies its locality load balancing to each destination cluster for
        that client (failover priorities, ``distribute`` weights); without it
        every endpoint is at priority 0.

        :raises InputError: nothing to simulate, an ambiguous choice, or any
            resolution error (a missing rule or subset, a subset without pods).
        """
        if not self.virtual_services and not self.rules:
            raise InputError(None, "no VirtualService or DestinationRule in the input")
        self._destinations = self._endpoints = 0
        if source_locality is not None:
            self.source_locality = parse_locality(source_locality, None, "source locality")
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
            routes = [self._plan(fake, f"DestinationRule {_short(rule.name)}", service_route=True)]
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

    def _plan(self, route: _HTTPRoute, owner: str, *, service_route: bool = False) -> RoutePlan:
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
            port, _ = _endpoints(d, svc, members)
            health, sent = self._cluster_health(rule, subset, port, svc, members)
            port, endpoints = _endpoints(d, svc, [p for p in members if id(p) in sent])
            endpoints = tuple(
                replace(e, health=sent[id(e.pod)]) if sent[id(e.pod)] != "healthy" else e
                for e in endpoints
            )
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
                own = {k: v for k, v in selector.items() if k != HOST_LABEL}
                unready = [
                    n
                    for _ns, plabels, n in self._unready
                    if all(plabels.get(k) == v for k, v in own.items())
                ]
                if self.unhealthy_endpoints == "omit":
                    reason = (
                        "Istio before 1.31 sends no endpoint for them; Istio 1.31 sends "
                        "not-Ready pods as UNHEALTHY endpoints: --unhealthy-endpoints auto"
                    )
                else:
                    reason = (
                        "Istio sends no endpoint for a terminating pod, nor an UNHEALTHY one "
                        "to a cluster whose outlierDetection.minHealthPercent is above 0"
                    )
                why = (
                    f" (its pods {_names(unready)} are not Ready or terminating: {reason}; "
                    "Envoy answers 503, no healthy upstream)"
                    if unready
                    else ""
                )
                raise InputError(
                    target,
                    f"DestinationRule {_short(rule.name)} {label} selects no pods"
                    + (f" (labels {sel})" if sel else "")
                    + f"; it receives traffic from {what}{why}",
                )
            endpoints, locality = self._apply_locality(rule, subset, port, svc, endpoints, what)
            lb = _load_balancer(rule, subset, port)
            # The route side reads port-level settings only for a port the destination
            # names (route.go portLevelSettingsConsistentHash: `if dst.Port != nil`),
            # even when the Service has a single port (that port names the cluster,
            # not the hash); the no-VirtualService route uses the service port
            # (hashForService).
            route_port = port if d.port is not None or service_route else None
            hashing, route_key = route_consistent_hash(rule, subset, route_port)
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
                    name,
                    d.host,
                    d.subset,
                    port,
                    d.weight,
                    selector,
                    lb,
                    endpoints,
                    d.where,
                    route_key,
                    health,
                    hashing,
                    locality,
                )
            )
        return RoutePlan(
            route.index,
            route.name,
            tuple(route.matches) if route.matches is not None else None,
            tuple(dests),
            route.where,
            len(route.destinations) > 1,
            route.retries,
        )

    def _apply_locality(
        self,
        rule: _DestinationRule,
        subset: _Subset | None,
        port: int,
        svc: _Service | None,
        endpoints: tuple[Endpoint, ...],
        what: str,
    ) -> tuple[tuple[Endpoint, ...], LocalityPlan | None]:
        """Return the endpoints with Istio's locality priorities for the client (``loadbalancer.go``).

        The effective ``localityLbSetting`` is the cluster's merged
        ``loadBalancer`` one (an explicit ``enabled: false`` turns it off),
        else the mesh's (enabled by default: ``GetEffectiveLbSetting``);
        failover needs the cluster's own ``outlierDetection``
        (``getOutlierDetectionAndLoadBalancerSettings``, ``endpoint_builder.go``).
        Without a client locality the endpoints only get their localities.
        """
        if self.source_locality is None:
            return grouped(endpoints), None
        lb, level = merged_policy_field(rule, subset, port, "loadBalancer")
        setting = _map(lb, "localityLbSetting", level) if lb is not None else None
        source = f"localityLbSetting of {level}"
        od, _ = outlier_detection(rule, subset, port)
        failover = od is not None
        spread = svc.traffic_distribution if svc is not None else ""
        if setting is None and spread:
            # A Service's trafficDistribution forces failoverPriority labels, even without
            # outlierDetection (GetEffectiveLbSetting, Force).
            setting, failover = _forced_failover(spread), True
            source = f"Service {_short(svc.name if svc else '')} trafficDistribution {spread}"
        if setting is None:
            setting = self.mesh_locality_lb if self.mesh_locality_lb is not None else LDict()
            source = "the mesh localityLbSetting" + (
                "" if self.mesh_locality_lb is not None else " (Istio's default: enabled)"
            )
        if setting.get("enabled") is False:
            source, setting = f"{source}: enabled false", None
        client = self.source_locality
        labels = augmented_labels(self.source_labels, client)
        where = setting.where if setting is not None and setting else rule.where
        return locality_lb(
            endpoints,
            setting=setting,
            source=source,
            failover=failover,
            cluster_outlier=failover or self.mesh_outlier_detection is not None,
            client=client,
            client_labels=labels,
            where=where,
            what=what,
        )

    def _cluster_health(
        self,
        rule: _DestinationRule,
        subset: _Subset | None,
        port: int,
        svc: _Service | None,
        members: Sequence[Pod],
    ) -> tuple[ClusterHealth, dict[int, str]]:
        """Return the cluster's panic threshold and ``{id(pod): EDS health}`` of the pods sent.

        Istio's rules (``applyOutlierDetection``,
        ``applyLoadBalancer``, ``supportsUnhealthyEndpoints``,
        ``filterIstioEndpoint``): an ``outlierDetection`` block (the rule's,
        the subset's, else the mesh default) sets the threshold to its
        ``minHealthPercent`` (0 unless given); without one Envoy keeps its 50,
        or 0 when Istio sends unhealthy endpoints.  A Service with
        ``publishNotReadyAddresses`` has every pod marked ready by Kubernetes,
        so all are HEALTHY; otherwise a pod being deleted gets no endpoint and a
        pod not Ready an UNHEALTHY one only when Istio sends those to this
        cluster.  The :data:`~hashlb.istio.model.HEALTH_ANNOTATION` sets the
        health Envoy sees for a pod whose endpoint is otherwise healthy.
        """
        mode = self.unhealthy_endpoints
        od, level = outlier_detection(rule, subset, port)
        if od is None and self.mesh_outlier_detection is not None:
            od, level = self.mesh_outlier_detection, "the mesh defaultTrafficPolicy"
        # The effective block decides both (Istio 1.31: "unless minHealthPercent is
        # configured"): a mesh default with minHealthPercent > 0 also keeps them out.
        own = min_health_percent(od, level) if od is not None else 0
        sends = mode == "always" or (mode == "auto" and own == 0)
        if od is not None:
            if mode == "always":
                threshold, source = 0.0, "0: PILOT_SEND_UNHEALTHY_ENDPOINTS disables panic"
            else:
                threshold = float(min_health_percent(od, level))
                source = f"outlierDetection.minHealthPercent of {level}"
        elif mode == "omit":
            threshold, source = ENVOY_PANIC_THRESHOLD, "Envoy's default: no outlierDetection"
        else:
            threshold, source = 0.0, "0: Istio sends unhealthy endpoints, no outlierDetection"
        publish = svc is not None and svc.publish_not_ready
        sent: dict[int, str] = {}
        for p in members:
            if publish or (p.ready and not p.terminating):
                eds = (
                    "healthy"  # Kubernetes marks every endpoint ready with publishNotReadyAddresses
                )
            elif p.terminating or not sends:
                continue  # Istio sends no endpoint
            else:
                eds = "unhealthy"
            sent[id(p)] = p.health if p.health is not None and eds == "healthy" else eds
        return ClusterHealth(threshold, source, sends, od is not None), sent


def _forced_failover(spread: str) -> LDict:
    """The ``localityLbSetting`` Istio makes of a Service's ``trafficDistribution``.

    ``PreferSameZone`` (and ``PreferClose``): ``failoverPriority`` network,
    region, zone; ``PreferSameNode``: network, region, zone, subzone, hostname
    (``GetEffectiveLbSetting``, ``loadbalancer.go``).
    """
    labels = [NETWORK_LABEL, *TOPOLOGY_LABELS[:2]]
    if spread == "PreferSameNode":
        labels += [TOPOLOGY_LABELS[2], HOSTNAME_LABEL]
    setting = LDict()
    setting["enabled"] = True
    setting["failoverPriority"] = labels
    return setting


def _health_annotation(meta: LDict, what: str) -> str | None:
    """Return the pod's :data:`~hashlb.istio.model.HEALTH_ANNOTATION` (lower case), or None."""
    annotations = _map(meta, "annotations", what)
    if annotations is None or annotations.get(HEALTH_ANNOTATION) is None:
        return None
    value = annotations[HEALTH_ANNOTATION]
    name = str(value).lower() if isinstance(value, str) else None
    if name not in HEALTH_STATUSES:
        raise InputError(
            annotations.at(HEALTH_ANNOTATION),
            f"{what}: annotation {HEALTH_ANNOTATION} must be one of "
            f"{', '.join(HEALTH_STATUSES)}, got {_short(value)}",
        )
    return name


def _not_ready(status: LDict) -> bool:
    """Return True when ``status.conditions`` says ``Ready`` is ``"False"`` (Kubernetes' readiness).

    What Istio sends for such a pod depends on the Service and the cluster
    (:meth:`Mesh._cluster_health`).
    """
    conditions = status.get("conditions")
    if not isinstance(conditions, list):
        return False
    for c in conditions:
        if isinstance(c, dict) and c.get("type") == "Ready":
            return str(c.get("status")) == "False"
    return False


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


def load_mesh(
    paths: Sequence[str],
    endpoints: Sequence[str] = (),
    *,
    namespace: str = "default",
    domain: str = "cluster.local",
    stdin_text: str | None = None,
    unhealthy_endpoints: str = "auto",
    source_locality: str | None = None,
) -> Mesh:
    """Read every ``-f`` path (files or directories) and ``--endpoints`` file.

    *unhealthy_endpoints* says which endpoints Istio sends for pods that are
    not Ready (:data:`~hashlb.istio.model.UNHEALTHY_ENDPOINTS`): ``omit``
    (Istio before 1.31), ``auto`` (1.31 on, the default) or ``always``.
    *source_locality* is the client's locality for :meth:`Mesh.scenario`
    (``REGION[/ZONE[/SUBZONE]]``): Istio's locality failover for that client.

    Every path is checked before any is read; ``-`` reads standard input
    (or *stdin_text* when given), once.  The inputs together are held to the
    caps of one :class:`~hashlb.istio._yaml.Budget` (bytes, files, YAML nodes).

    :raises InputError: unreadable, malformed or oversized input (with ``FILE:LINE``).
    """
    mesh = Mesh(namespace=namespace, domain=domain, unhealthy_endpoints=unhealthy_endpoints)
    if source_locality is not None:
        mesh.source_locality = parse_locality(source_locality, None, "source locality")
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
