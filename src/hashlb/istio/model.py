"""The parsed Istio model: hash keys, load balancers, pods, destinations, route plans.

These are the values :func:`hashlb.istio.load_mesh` resolves a mesh into
(:meth:`hashlb.istio.Mesh.scenario`), and what :mod:`hashlb.istio.translate`
turns into :class:`hashlb.Router` objects.  Every value remembers where in
the input it came from (:class:`~hashlb.istio.Where`), for error messages.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from .._source import Where
from .._validate import MAX_WEIGHT
from ._yaml import LDict

__all__ = (
    "DEFAULT_MIN_RING_SIZE",
    "DEFAULT_TABLE_SIZE",
    "ENVOY_PANIC_THRESHOLD",
    "HEALTH_ANNOTATION",
    "HOST_LABEL",
    "LOCALITY_ANNOTATION",
    "MAX_WEIGHT",
    "UNHEALTHY_ENDPOINTS",
    "ClusterHealth",
    "Destination",
    "Endpoint",
    "HashKey",
    "LoadBalancer",
    "LocalityPlan",
    "Pod",
    "RoutePlan",
    "Scenario",
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
SUPPORTED_KINDS = (
    "DestinationRule",
    "VirtualService",
    "Pod",
    *WORKLOAD_KINDS,
    "Service",
    "Node",
    "List",
)

#: The pod annotation that sets the health Envoy sees for the pod's endpoint:
#: what the mesh cannot tell from Pod status (an outlier ejection is
#: ``unhealthy``), one of :data:`hashlb._validate.HEALTH_STATUSES`.
HEALTH_ANNOTATION = "hashlb.io/health"

#: The pod (or pod template) annotation giving a pod's locality when neither an Istio
#: locality label nor a Node says it: ``REGION/ZONE/SUBZONE`` (or with dots), or for a
#: workload a comma-separated list given to its replicas in turn (replica *i* gets
#: item ``i % len``), as a topology spread would place them.
LOCALITY_ANNOTATION = "hashlb.io/locality"

#: Envoy's ``healthy_panic_threshold`` when the cluster sets none (percent).
ENVOY_PANIC_THRESHOLD = 50.0

#: Which endpoints Istio sends for pods that are not Ready (``Mesh.unhealthy_endpoints``):
#: ``omit`` none (Istio before 1.31, or ``PILOT_AUTO_SEND_UNHEALTHY_ENDPOINTS=false``);
#: ``auto`` UNHEALTHY ones unless the cluster's ``minHealthPercent`` is above 0 (Istio 1.31+);
#: ``always`` UNHEALTHY ones whatever the rule, panic disabled (``PILOT_SEND_UNHEALTHY_ENDPOINTS=true``).
UNHEALTHY_ENDPOINTS = ("omit", "auto", "always")

DEFAULT_MIN_RING_SIZE = 1024
DEFAULT_TABLE_SIZE = 65537


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
    #: ``httpCookie.attributes`` as ``(name, value)`` pairs, carried into the Set-Cookie.
    cookie_attributes: tuple[tuple[str, str], ...] = ()

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
    #: ``loadBalancer.simple`` as written (``ROUND_ROBIN``, ...), ``""`` when unset:
    #: Istio's cluster ``lb_policy`` (:mod:`hashlb.istio.xds`).
    simple: str = ""

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
    #: ``status.conditions`` Ready is not ``"False"``.
    ready: bool = True
    #: ``metadata.deletionTimestamp`` is set (the pod is being deleted).
    terminating: bool = False
    #: The :data:`HEALTH_ANNOTATION` value (lower case), None without one.
    health: str | None = None
    #: Istio's locality label ``region/zone/subzone`` ("" when unknown): the pod label
    #: ``topology.istio.io/locality`` or ``istio-locality``, else the
    #: :data:`LOCALITY_ANNOTATION`, else the labels of the pod's Node.
    locality: str = ""
    #: ``spec.nodeName`` ("" when not given): Istio's ``kubernetes.io/hostname`` label.
    node: str = ""

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
    #: The EDS health Envoy sees (a :class:`hashlb.Host` ``health``).
    health: str = "healthy"
    #: The EDS priority Istio gives the endpoint for the client's locality (a
    #: :class:`hashlb.Host` ``priority``; 0 without ``source_locality``).
    priority: int = 0
    #: Envoy's locality ``region/zone/sub_zone`` (a :class:`hashlb.Host` ``locality``),
    #: None when the pod's locality is unknown.
    locality: str | None = None


@dataclass(frozen=True)
class ClusterHealth:
    """How Istio configures a destination cluster's health handling (Istio's ``applyOutlierDetection``).

    ``panic_threshold`` is Envoy's ``healthy_panic_threshold`` in percent;
    ``source`` says where it came from (e.g. ``outlierDetection.minHealthPercent
    of DestinationRule 'web'``); ``unhealthy_sent`` whether the cluster's
    endpoints include the UNHEALTHY ones of pods that are not Ready.
    """

    panic_threshold: float = ENVOY_PANIC_THRESHOLD
    source: str = "Envoy's default: no outlierDetection"
    unhealthy_sent: bool = False
    outlier_detection: bool = False

    def describe(self) -> str:
        """Return e.g. ``50% (Envoy's default: no outlierDetection)``."""
        return f"{self.panic_threshold:g}% ({self.source})"


@dataclass(frozen=True)
class LocalityPlan:
    """What Istio's locality load balancing did to one destination cluster (Istio's ``pilot/pkg/networking/core/loadbalancer/loadbalancer.go``).

    ``mode`` is ``"failover"`` (priorities by how much of the locality matches the
    client, with the ``failover`` region rules), ``"failoverPriority"`` (priorities by
    the leading labels that match), ``"distribute"`` (locality weights, one priority)
    or ``"none"`` (locality LB applies but changes nothing: no ``outlierDetection``).
    ``source`` says which setting applied; ``weights`` is, when Envoy weighs
    localities (``locality_weighted_lb_config``), ``(priority, ((locality, weight),
    ...))`` per level in Envoy's locality order (the client's first, then by
    region, zone, sub-zone).
    """

    mode: str
    source: str
    client: str
    weights: tuple[tuple[int, tuple[tuple[str, int], ...]], ...] | None = None

    def describe(self) -> str:
        """Return e.g. ``failover for client us-east/us-east-1a (localityLbSetting of ...)``."""
        weighted = ", locality-weighted" if self.weights is not None else ""
        return f"{self.mode} for client {self.client}{weighted} ({self.source})"

    def weights_at(self, priority: int) -> dict[str, int]:
        """Return the locality weights of level *priority* (empty when not weighted)."""
        for p, items in self.weights or ():
            if p == priority:
                return dict(items)
        return {}


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
    #: The :data:`LOCALITY_ANNOTATION` items, given to the replicas in turn.
    localities: tuple[str, ...] = ()


@dataclass
class _Service:
    name: str
    namespace: str
    fqdn: str
    selector: dict[str, str]
    ports: list[tuple[str, int, int | str]]  # (name, port, targetPort)
    where: Where
    #: ``spec.publishNotReadyAddresses``: Kubernetes marks every endpoint ready.
    publish_not_ready: bool = False
    #: ``spec.trafficDistribution`` (else the ``networking.istio.io/traffic-distribution``
    #: annotation) as Istio reads it: ``PreferSameZone``, ``PreferSameNode`` or "".
    traffic_distribution: str = ""


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
    #: ``http[].retries``, checked (see ``parse.route_retries``); None when unset.
    retries: Mapping[str, object] | None = None


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
    #: The route's hash key for this destination (Istio's ``HashForHTTPDestination``):
    #: the cluster's own key, or the rule's when a subset balances simply.
    route_key: HashKey | None = None
    #: The cluster's panic threshold and where it came from.
    health: ClusterHealth = field(default_factory=ClusterHealth)
    #: Istio's ``HashForHTTPDestination`` found a ``consistentHash`` (even one
    #: without a key): the route then gets no ``previous_hosts`` retry predicate.
    route_consistent_hash: bool = False
    #: Istio's locality load balancing for the client (None without ``source_locality``).
    locality: LocalityPlan | None = None


@dataclass(frozen=True)
class RoutePlan:
    """One ``http`` route of the VirtualService, ready to simulate."""

    index: int
    name: str
    matches: tuple[LDict, ...] | None  # None: matches every request
    destinations: tuple[Destination, ...]  # non-zero weights only
    where: Where
    #: The route lists more than one destination: Istio emits ``weighted_clusters``
    #: (zero weights dropped), else ``route.cluster``.
    weighted: bool = False
    #: ``http[].retries``: ``attempts``, ``retryOn``, ``perTryTimeout``,
    #: ``retryRemoteLocalities``, ``retryIgnorePreviousHosts``; None when unset.
    retries: Mapping[str, object] | None = None

    @property
    def hash_keys(self) -> tuple[HashKey, ...]:
        """Envoy's route ``hash_policy``: one entry per destination with a hash key."""
        return tuple(d.route_key for d in self.destinations if d.route_key is not None)

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
