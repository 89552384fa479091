"""The Envoy configuration Istio generates for a sidecar, as an admin ``/config_dump`` document.

:func:`config_dump` turns a :class:`~hashlb.istio.Mesh` (every host it
routes) or :class:`~hashlb.istio.Scenario` objects into the JSON document
``curl localhost:15000/config_dump?include_eds`` prints (proto3 JSON field
names, snake_case; 64-bit integers as strings): a ``ClustersConfigDump``
(``dynamic_active_clusters[].cluster``), a ``RoutesConfigDump``
(``dynamic_route_configs[].route_config``) and an ``EndpointsConfigDump``
(``dynamic_endpoint_configs[].endpoint_config``).  It holds what changes
where a request goes, following Istio's code (``pilot/pkg/networking/core``):

* one cluster per (port, subset, host), named by ``BuildSubsetKey``
  (``outbound|80|v1|cart.shop.svc.cluster.local``), with ``lb_policy``
  ``RING_HASH`` / ``MAGLEV`` and their table options, or the ``simple``
  balancer (``ROUND_ROBIN`` is proto3's default and so not printed;
  ``LEAST_REQUEST`` for ``LEAST_CONN``, ``LEAST_REQUEST`` or no
  ``loadBalancer``; ``RANDOM``), and ``common_lb_config.healthy_panic_threshold``
  when Istio sets it (``cluster_traffic_policy.go``);
* each cluster's ``ClusterLoadAssignment``: endpoints grouped by
  (priority, locality), each with its address, ``health_status`` and
  ``load_balancing_weight`` (``pilot/pkg/xds/endpoints/``);
* one ``RouteConfiguration`` per port (named by the port) with one virtual
  host per VirtualService host (``HOST:PORT``), one route per ``match``
  block (Istio's names: the http route's ``name``, ``.MATCH`` appended for a
  named match; ``default`` without a VirtualService), the ``match`` as
  ``TranslateRouteMatch`` builds it, ``route.cluster`` for a single
  destination or ``weighted_clusters`` (zero weights dropped), the
  ``hash_policy`` list with one entry per destination (``route.go``) and
  Istio's default ``retry_policy`` (``route/retry/retry.go``).

The document round-trips through :func:`json.dumps` and
:func:`hashlb.envoy.load`:

>>> from hashlb.envoy import load
>>> from hashlb.istio import config_dump, load_mesh
>>> text = '''
... apiVersion: networking.istio.io/v1
... kind: DestinationRule
... metadata: {name: cart, namespace: shop}
... spec:
...   host: cart
...   trafficPolicy:
...     loadBalancer: {consistentHash: {httpCookie: {name: sid, ttl: 60s}, maglev: {}}}
... ---
... {kind: Pod, apiVersion: v1, metadata: {name: cart-0, namespace: shop, labels: {app: cart}},
...  spec: {containers: [{name: cart, ports: [{containerPort: 9000}]}]},
...  status: {podIP: 10.0.0.7}}
... '''
>>> config = load(config_dump(load_mesh(["-"], stdin_text=text)))
>>> [(c.name, c.lb_policy) for c in config.clusters.values()]
[('outbound|9000||cart.shop.svc.cluster.local', 'MAGLEV')]
>>> route = config.route("default")
>>> route.virtual_host, [h.address for h in config.route_clusters(route)[0].hosts]
('cart.shop.svc.cluster.local:9000', ['10.0.0.7:9000'])
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from .._source import InputError
from .mesh import Mesh
from .model import DEFAULT_TABLE_SIZE, Destination, Endpoint, HashKey, RoutePlan, Scenario
from .parse import parse_locality

__all__ = (
    "BOOTSTRAP_DUMP",
    "CLUSTERS_DUMP",
    "ENDPOINTS_DUMP",
    "ROUTES_DUMP",
    "cluster",
    "cluster_name",
    "config_dump",
    "hash_policy",
    "load_assignment",
    "route_match",
    "routes",
    "virtual_host",
)

_T = "type.googleapis.com/"
#: The ``@type`` of the three parts of the document (as Envoy's admin prints them).
BOOTSTRAP_DUMP = _T + "envoy.admin.v3.BootstrapConfigDump"
CLUSTERS_DUMP = _T + "envoy.admin.v3.ClustersConfigDump"
ROUTES_DUMP = _T + "envoy.admin.v3.RoutesConfigDump"
ENDPOINTS_DUMP = _T + "envoy.admin.v3.EndpointsConfigDump"
_CLUSTER = _T + "envoy.config.cluster.v3.Cluster"
_ROUTE_CONFIG = _T + "envoy.config.route.v3.RouteConfiguration"
_ASSIGNMENT = _T + "envoy.config.endpoint.v3.ClusterLoadAssignment"
_PREVIOUS_HOSTS = {
    "name": "envoy.retry_host_predicates.previous_hosts",
    "typed_config": {
        "@type": _T + "envoy.extensions.retry.host.previous_hosts.v3.PreviousHostsPredicate"
    },
}
#: retry.go ``defaultRetryOn``.
RETRY_ON = "connect-failure,refused-stream,unavailable,cancelled,retriable-status-codes"
#: ``loadBalancer.simple`` -> the cluster's ``lb_policy`` (cluster_traffic_policy.go
#: ``applyLoadBalancer``; unset and ``UNSPECIFIED`` take ``defaultLBAlgorithm``).
_SIMPLE = {
    "ROUND_ROBIN": "ROUND_ROBIN",
    "LEAST_CONN": "LEAST_REQUEST",
    "LEAST_REQUEST": "LEAST_REQUEST",
    "RANDOM": "RANDOM",
    "PASSTHROUGH": "CLUSTER_PROVIDED",
}
_DEFAULT_LB = "LEAST_REQUEST"
#: hashlb health -> EDS ``health_status`` (``excluded`` has no EDS value: DRAINING,
#: which Envoy also leaves out of the health counts).
_HEALTH = {
    "healthy": "HEALTHY",
    "unhealthy": "UNHEALTHY",
    "draining": "DRAINING",
    "timeout": "TIMEOUT",
    "degraded": "DEGRADED",
    "excluded": "DRAINING",
}


def cluster_name(d: Destination) -> str:
    """Return Istio's cluster name of a destination: ``outbound|PORT|SUBSET|HOST`` (``BuildSubsetKey``)."""
    return f"outbound|{d.port}|{d.subset or ''}|{d.host}"


def _duration(seconds: float) -> str:
    """A ``google.protobuf.Duration`` in proto3 JSON: ``"3600s"``, ``"1.500s"``."""
    if float(seconds).is_integer():
        return f"{int(seconds)}s"
    text = f"{seconds:.9f}".rstrip("0")
    whole, _, frac = text.partition(".")
    digits = 3 if len(frac) <= 3 else 6 if len(frac) <= 6 else 9
    return f"{whole}.{frac.ljust(digits, '0')}s"


def cluster(d: Destination) -> dict[str, Any]:
    """Return the ``Cluster`` Istio generates for destination *d* (an EDS cluster).

    ``lb_policy`` and the table: ``ApplyRingHashLoadBalancer`` (a ring always
    carries ``ring_hash_lb_config.minimum_ring_size``; a Maglev table its
    ``table_size`` when it is not Envoy's 65537); the panic threshold when
    Istio sets one: ``outlierDetection.minHealthPercent`` (``applyOutlierDetection``),
    or 0 when it sends unhealthy endpoints (``applyLoadBalancer``).
    """
    name = cluster_name(d)
    out: dict[str, Any] = {
        "@type": _CLUSTER,
        "name": name,
        "type": "EDS",
        "eds_cluster_config": {
            "eds_config": {"ads": {}, "initial_fetch_timeout": "0s", "resource_api_version": "V3"},
            "service_name": name,
        },
        "connect_timeout": "10s",
    }
    lb = d.lb
    if lb.algorithm == "ring_hash":
        out["lb_policy"] = "RING_HASH"
        out["ring_hash_lb_config"] = {"minimum_ring_size": str(lb.min_ring_size)}
    elif lb.algorithm == "maglev":
        out["lb_policy"] = "MAGLEV"
        if lb.table_size != DEFAULT_TABLE_SIZE:
            out["maglev_lb_config"] = {"table_size": str(lb.table_size)}
    else:
        policy = _SIMPLE.get(lb.simple, _DEFAULT_LB)
        if policy == "CLUSTER_PROVIDED":
            out["type"] = "ORIGINAL_DST"
            del out["eds_cluster_config"]
        if policy != "ROUND_ROBIN":  # proto3 JSON leaves out an enum's default value
            out["lb_policy"] = policy
    health = d.health
    common: dict[str, Any] = {}
    if health.outlier_detection or health.unhealthy_sent:
        threshold = health.panic_threshold
        common["healthy_panic_threshold"] = {"value": threshold} if threshold else {}
    if d.locality is not None and d.locality.weights is not None:
        # LocalityLBSettings.ApplyToCluster (loadbalancer.go): distribute weighs localities
        common["locality_weighted_lb_config"] = {}
    if common:
        out["common_lb_config"] = common
    out["metadata"] = {
        "filter_metadata": {
            "istio": {
                "services": [
                    {
                        "host": d.host,
                        "name": d.host.split(".")[0],
                        "namespace": d.host.split(".")[1] if "." in d.host else "",
                    }
                ]
            }
        }
    }
    return out


def _socket_address(address: str) -> dict[str, Any]:
    ip, _, port = address.rpartition(":")
    if ip.startswith("[") and ip.endswith("]"):
        ip = ip[1:-1]
    return {"socket_address": {"address": ip, "port_value": int(port)}}


def _locality(name: str) -> dict[str, str]:
    parts = [*name.split("/"), "", "", ""][:3]
    return {k: v for k, v in zip(("region", "zone", "sub_zone"), parts, strict=True) if v}


def _lb_endpoint(e: Endpoint) -> dict[str, Any]:
    out: dict[str, Any] = {
        "endpoint": {"address": _socket_address(e.address), "health_check_config": {}},
    }
    status = _HEALTH.get(e.health)
    if status is not None:  # UNKNOWN is proto3's default
        out["health_status"] = status
    pod = e.pod
    out["metadata"] = {
        "filter_metadata": {"istio": {"workload": f"{pod.owner or pod.name};{pod.namespace}"}}
    }
    out["load_balancing_weight"] = 1
    return out


def load_assignment(d: Destination) -> dict[str, Any]:
    """Return the ``ClusterLoadAssignment`` of destination *d*'s cluster.

    Endpoints are grouped by (priority, locality) in the order they first
    appear, as Istio's EDS builder groups them by locality, with the
    failover priorities Istio gives them for the client
    (``--source-locality``).  Each group's ``load_balancing_weight`` is the
    sum of its endpoints' weights, or its ``distribute`` weight when the
    cluster weighs localities (``loadbalancer.go`` ``applyLocalityWeights``).
    """
    groups: dict[tuple[int, str | None], list[dict[str, Any]]] = {}
    for e in d.endpoints:
        key = (e.priority, e.locality or None)
        groups.setdefault(key, []).append(_lb_endpoint(e))
    weighted = d.locality is not None and d.locality.weights is not None
    endpoints = []
    for (priority, locality), items in groups.items():
        group: dict[str, Any] = {}
        if locality:
            group["locality"] = _locality(locality)
        group["lb_endpoints"] = items
        if not weighted:
            group["load_balancing_weight"] = sum(i["load_balancing_weight"] for i in items)
        elif d.locality is not None:  # applyLocalityWeights: the distribute weight
            weight = d.locality.weights_at(priority).get(locality or "")
            if weight:
                group["load_balancing_weight"] = weight
        if priority:
            group["priority"] = priority
        endpoints.append(group)
    return {"@type": _ASSIGNMENT, "cluster_name": cluster_name(d), "endpoints": endpoints}


def hash_policy(key: HashKey) -> dict[str, Any]:
    """Return the route ``hash_policy`` entry of one key (``ConsistentHashToHashPolicy``; never ``terminal``)."""
    if key.kind == "header":
        return {"header": {"header_name": key.name}}
    if key.kind == "cookie":
        cookie: dict[str, Any] = {"name": key.name}
        if key.cookie_ttl is not None:
            cookie["ttl"] = _duration(key.cookie_ttl)
        if key.cookie_path:
            cookie["path"] = key.cookie_path
        if key.cookie_attributes:
            cookie["attributes"] = [
                {"name": n, "value": v} if v else {"name": n} for n, v in key.cookie_attributes
            ]
        return {"cookie": cookie}
    if key.kind == "query":
        return {"query_parameter": {"name": key.name}}
    return {"connection_properties": {"source_ip": True}}


def _present(sm: Mapping[str, Any]) -> bool:
    """``canBeConvertedToPresentMatch``: an empty StringMatch, or the regex ``*``."""
    return not any(k in sm for k in ("exact", "prefix", "regex")) or sm.get("regex") == "*"


def _string_matcher(sm: Mapping[str, Any]) -> dict[str, Any]:
    """``ConvertToEnvoyMatch``: exact, prefix, or a RE2 ``safe_regex``."""
    if "exact" in sm:
        return {"exact": str(sm["exact"])}
    if "prefix" in sm:
        return {"prefix": str(sm["prefix"])}
    return {"safe_regex": {"regex": str(sm["regex"])}}


def _header_matcher(name: str, sm: Mapping[str, Any]) -> dict[str, Any]:
    if _present(sm):
        return {"name": name, "present_match": True}
    return {"name": name, "string_match": _string_matcher(sm)}


def route_match(m: Mapping[str, Any] | None) -> dict[str, Any]:
    """Return the Envoy ``RouteMatch`` of one VirtualService match block (``TranslateRouteMatch``).

    Headers, then ``withoutHeaders`` (``invert_match``, and
    ``treat_missing_header_as_empty`` unless a presence test), sorted by
    name; the ``uri`` as ``path`` / ``prefix`` / ``safe_regex`` (``prefix: /``
    without one); ``case_sensitive`` from ``ignoreUriCase``; the ``method``
    as a ``:method`` header; ``queryParams`` as ``query_parameters``.
    """
    if m is None:
        return {"prefix": "/"}
    headers = [_header_matcher(str(n), sm) for n, sm in (m.get("headers") or {}).items()]
    for n, sm in (m.get("withoutHeaders") or {}).items():
        h = _header_matcher(str(n), sm)
        h["invert_match"] = True
        if not _present(sm):
            h["treat_missing_header_as_empty"] = True
        headers.append(h)
    headers.sort(key=lambda h: str(h["name"]))
    out: dict[str, Any] = {"prefix": "/"}
    uri = m.get("uri")
    if uri is not None:
        if "exact" in uri:
            out = {"path": str(uri["exact"])}
        elif "prefix" in uri:
            out = {"prefix": str(uri["prefix"])}
        elif "regex" in uri:
            out = {"safe_regex": {"regex": str(uri["regex"])}}
    out["case_sensitive"] = not bool(m.get("ignoreUriCase"))
    if m.get("method") is not None:
        headers.append(_header_matcher(":method", m["method"]))
    if headers:
        out["headers"] = headers
    params = []
    for n, sm in (m.get("queryParams") or {}).items():
        if _present(sm):
            params.append({"name": str(n), "present_match": True})
        else:
            params.append({"name": str(n), "string_match": _string_matcher(sm)})
    if params:
        out["query_parameters"] = params
    return out


def _catch_all(match: Mapping[str, Any]) -> bool:
    """``IsCatchAllRoute``: prefix ``/`` (or regex ``.*``) and no header or query test."""
    path = match.get("prefix") == "/" or match.get("safe_regex", {}).get("regex") == ".*"
    return path and not match.get("headers") and not match.get("query_parameters")


def _retry_policy(hashing: bool, retries: Mapping[str, Any] | None = None) -> dict[str, Any] | None:
    """retry.go ``ConvertPolicy``: the default policy, changed by a VirtualService ``retries``.

    The default: ``previous_hosts`` only when the route does not hash
    (``DefaultPolicy`` vs ``DefaultConsistentHashPolicy``),
    ``host_selection_retry_max_attempts: 5`` always.  ``retries.attempts``
    of 0 disables retries (None: no ``retry_policy``); else it is
    ``num_retries``; ``retryOn`` replaces ``retry_on`` (its numbers become
    ``retriable_status_codes``, as ``parseRetryOn`` does); ``perTryTimeout``,
    ``retryRemoteLocalities`` (``previous_priorities``) and
    ``retryIgnorePreviousHosts`` (``previous_hosts`` or none) are carried.
    """
    out: dict[str, Any] = {"retry_on": RETRY_ON, "num_retries": 2}
    if not hashing:
        out["retry_host_predicate"] = [_PREVIOUS_HOSTS]
    out["host_selection_retry_max_attempts"] = "5"
    if retries is None:
        return out
    if int(retries.get("attempts") or 0) <= 0:
        return None
    out["num_retries"] = int(retries["attempts"])
    if retries.get("perTryTimeout") is not None:
        out["per_try_timeout"] = str(retries["perTryTimeout"])
    if retries.get("retryOn"):
        words, codes = [], []
        for part in str(retries["retryOn"]).split(","):
            part = part.strip()
            if not part:
                continue
            if part.isdigit():
                codes.append(int(part))
            else:
                words.append(part)
        if codes and "retriable-status-codes" not in words:
            words.append("retriable-status-codes")
        out["retry_on"] = ",".join(words)
        if codes:
            out["retriable_status_codes"] = codes
    if retries.get("retryRemoteLocalities"):
        out["retry_priority"] = {
            "name": "envoy.retry_priorities.previous_priorities",
            "typed_config": {
                "@type": _T + "envoy.extensions.retry.priority.previous_priorities.v3."
                "PreviousPrioritiesConfig",
                "update_frequency": 2,
            },
        }
    if "retryIgnorePreviousHosts" in retries:
        if retries["retryIgnorePreviousHosts"]:
            out["retry_host_predicate"] = [_PREVIOUS_HOSTS]
        else:
            out.pop("retry_host_predicate", None)
    return out


def _route_name(plan: RoutePlan) -> str:
    """The http route's own ``name`` ("" when unnamed: hashlb's ``http[N]`` is a label)."""
    return "" if plan.name == f"http[{plan.index}]" else plan.name


def routes(plan: RoutePlan, *, service_route: bool = False) -> list[dict[str, Any]]:
    """Return the Envoy routes of one http route: one per ``match`` block (``TranslateRoute``).

    *service_route*: the route Istio builds for a service without a
    VirtualService (``buildSidecarVirtualHostForService``: named ``default``,
    its retry policy always the non-hashing default).
    """
    action: dict[str, Any] = {}
    if plan.weighted:  # applyHTTPRouteDestination: several destinations listed
        action["weighted_clusters"] = {
            "clusters": [{"name": cluster_name(d), "weight": d.weight} for d in plan.destinations]
        }
    else:
        action["cluster"] = cluster_name(plan.destinations[0])
    action["timeout"] = "0s"
    hashing = not plan.weighted and any(d.route_consistent_hash for d in plan.destinations)
    retry = _retry_policy(hashing and not service_route, None if service_route else plan.retries)
    if retry is not None:
        action["retry_policy"] = retry
    policy = [hash_policy(k) for k in plan.hash_keys]
    if policy:
        action["hash_policy"] = policy
    action["max_grpc_timeout"] = "0s"
    base = _route_name(plan)
    out = []
    for m in plan.matches if plan.matches is not None else (None,):
        name = base
        if m is not None and m.get("name"):
            name = f"{base}.{m['name']}"
        match = route_match(m)
        entry: dict[str, Any] = {}
        if name:
            entry["name"] = name
        entry["match"] = match
        entry["route"] = action
        out.append(entry)
        if _catch_all(match):
            break  # BuildHTTPRoutesForVirtualService stops at a catch-all route
    return out


def _port(scenario: Scenario) -> int:
    """The port of the scenario's virtual host: its own host's destination port."""
    dests = scenario.destinations
    own = [d for d in dests if d.host == scenario.host]
    return (own or dests)[0].port if dests else 80


def _domains(host: str) -> list[str]:
    """The host and its short forms (``name``, ``name.ns``, ``name.ns.svc``) for a service host."""
    parts = host.split(".")
    out = [host]
    if len(parts) > 3 and parts[2] == "svc":
        out += [parts[0], ".".join(parts[:2]), ".".join(parts[:3])]
    return out


def virtual_host(scenario: Scenario) -> dict[str, Any]:
    """Return the ``VirtualHost`` of a scenario: ``HOST:PORT``, every route in order."""
    port = _port(scenario)
    service_route = not scenario.source.startswith("VirtualService")
    entries: list[dict[str, Any]] = []
    for plan in scenario.routes:
        entries.extend(routes(plan, service_route=service_route))
        if entries and _catch_all(entries[-1]["match"]):
            break
    return {
        "name": f"{scenario.host}:{port}",
        "domains": _domains(scenario.host),
        "routes": entries,
        "include_request_attempt_count": True,
    }


def _scenarios(
    source: Mesh | Scenario | Iterable[Scenario],
    hosts: Iterable[str] | None,
    source_locality: str | None,
) -> list[Scenario]:
    if isinstance(source, Scenario):
        return [source]
    if not isinstance(source, Mesh):
        return list(source)
    if hosts is None:
        names = {h for v in source.virtual_services for h in v.hosts}
        if not source.virtual_services:
            names = {r.host for r in source.rules if not r.host.startswith("*")}
        hosts = sorted(names)
    return [source.scenario(h, source_locality=source_locality) for h in hosts]


def config_dump(
    source: Mesh | Scenario | Iterable[Scenario],
    *,
    hosts: Iterable[str] | None = None,
    source_locality: str | None = None,
    version_info: str = "hashlb",
) -> dict[str, Any]:
    """Return the ``/config_dump`` document of the Envoy configuration Istio generates.

    *source* is a :class:`~hashlb.istio.Mesh` (every host its
    VirtualServices route, or only *hosts*; without VirtualServices, every
    DestinationRule host), one :class:`~hashlb.istio.Scenario` or several.
    Clusters are listed once each, in the order the routes first name them;
    route configurations are one per port, named by the port.
    *source_locality* (``REGION[/ZONE[/SUBZONE]]``) is the client proxy's
    locality, as for :meth:`Mesh.scenario`: the endpoints then get Istio's
    failover priorities and ``distribute`` weights for that client, and the
    document starts with a ``BootstrapConfigDump`` whose ``node.locality`` it
    is (Envoy orders localities from the node's own).

    :raises InputError: a host that cannot be resolved (as :meth:`Mesh.scenario`).
    """
    scenarios = _scenarios(source, hosts, source_locality)
    clusters: dict[str, dict[str, Any]] = {}
    assignments: dict[str, dict[str, Any]] = {}
    by_port: dict[int, list[dict[str, Any]]] = {}
    for sc in scenarios:
        if not sc.routes:
            raise InputError(sc.where, f"{sc.source}: no routes to translate")
        for d in sc.destinations:
            name = cluster_name(d)
            if name not in clusters:
                clusters[name] = cluster(d)
                if clusters[name]["type"] == "EDS":
                    assignments[name] = load_assignment(d)
        by_port.setdefault(_port(sc), []).append(virtual_host(sc))
    meta = {"version_info": version_info, "last_updated": "1970-01-01T00:00:00Z"}
    configs: list[dict[str, Any]] = []
    if isinstance(source, Mesh):
        client = source.source_locality  # parsed by Mesh.scenario
    else:
        client = (
            parse_locality(source_locality, None, "source locality") if source_locality else None
        )
    if client:
        node = {
            "id": "sidecar~0.0.0.0~hashlb.default~default.svc.cluster.local",
            "locality": _locality(client),
        }
        configs.append({"@type": BOOTSTRAP_DUMP, "bootstrap": {"node": node}})
    configs.append(
        {
            "@type": CLUSTERS_DUMP,
            "version_info": version_info,
            "dynamic_active_clusters": [{**meta, "cluster": c} for c in clusters.values()],
        }
    )
    configs.append(
        {
            "@type": ROUTES_DUMP,
            "dynamic_route_configs": [
                {
                    **meta,
                    "route_config": {
                        "@type": _ROUTE_CONFIG,
                        "name": str(port),
                        "virtual_hosts": vhosts,
                        "validate_clusters": False,
                    },
                }
                for port, vhosts in sorted(by_port.items())
            ],
        }
    )
    configs.append(
        {
            "@type": ENDPOINTS_DUMP,
            "dynamic_endpoint_configs": [
                {**meta, "endpoint_config": a} for a in assignments.values()
            ],
        }
    )
    return {"configs": configs}
