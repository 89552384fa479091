"""Envoy configuration for the ``hashlb.envoy`` tests and benchmarks: fixtures and a generated dump.

:func:`big_dump` generates an admin ``/config_dump?include_eds`` document of
any size (the issue's 500 clusters x 20 endpoints and 2,000 routes by default),
shaped as Envoy prints it: proto field names, ``@type`` on every ``Any``,
64-bit values as strings.  Nothing generated is checked in.
"""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

#: Istio's own test data (Apache-2.0), checked in unchanged: see golden/envoy/README.md.
FIXTURES = Path(__file__).resolve().parent / "golden" / "envoy"
PROXYCONFIG_DUMP = FIXTURES / "istioctl-proxyconfig-config_dump.json"
COMPARE_DUMP = FIXTURES / "istioctl-compare-configdump.json"

_ADMIN = "type.googleapis.com/envoy.admin.v3."
_CLUSTER = "type.googleapis.com/envoy.config.cluster.v3.Cluster"
_ROUTES = "type.googleapis.com/envoy.config.route.v3.RouteConfiguration"
_CLA = "type.googleapis.com/envoy.config.endpoint.v3.ClusterLoadAssignment"
_STAMP = "2026-12-01T00:00:00.000Z"


def load_fixture(path: Path) -> Any:
    """Return a fresh parsed copy of a shared fixture (tests may change it)."""
    return json.loads(path.read_text(encoding="utf-8"))


def cluster_name(i: int) -> str:
    """The name of generated cluster *i* (Istio's spelling)."""
    return f"outbound|80||svc{i}.ns{i % 7}.svc.cluster.local"


def big_dump(clusters: int = 500, endpoints: int = 20, routes: int = 2000) -> dict[str, Any]:
    """Return a ``/config_dump?include_eds`` document of the given size.

    Even clusters use ``RING_HASH``, odd ones ``MAGLEV``; every endpoint has
    a distinct IPv4 address in one of three localities, every fifth is in
    priority 1.  Routes are spread over 20 route configurations of 10
    virtual hosts; each has a header or cookie hash policy, Istio's retry
    policy, and every tenth has two weighted clusters.
    """
    cds = []
    eds = []
    for c in range(clusters):
        name = cluster_name(c)
        cluster: dict[str, Any] = {
            "@type": _CLUSTER,
            "name": name,
            "type": "EDS",
            "eds_cluster_config": {"eds_config": {"ads": {}, "resource_api_version": "V3"}},
            "connect_timeout": "10s",
            "circuit_breakers": {"thresholds": [{"max_connections": 4294967295}]},
            "common_lb_config": {"healthy_panic_threshold": {"value": 40}},
            "metadata": {"filter_metadata": {"istio": {"services": [{"name": f"svc{c}"}]}}},
        }
        if c % 2 == 0:
            cluster["lb_policy"] = "RING_HASH"
            cluster["ring_hash_lb_config"] = {"minimum_ring_size": "1024"}
        else:
            cluster["lb_policy"] = "MAGLEV"
            cluster["maglev_lb_config"] = {"table_size": "1021"}
        cds.append({"version_info": "v1", "cluster": cluster, "last_updated": _STAMP})
        by_locality: dict[tuple[int, int], list[dict[str, Any]]] = {}
        for e in range(endpoints):
            n = c * endpoints + e
            by_locality.setdefault((e % 3, 1 if e % 5 == 4 else 0), []).append(
                {
                    "endpoint": {
                        "address": {
                            "socket_address": {
                                "address": f"10.{n >> 16 & 255}.{n >> 8 & 255}.{n & 255}",
                                "port_value": 8080,
                            }
                        },
                        "health_check_config": {},
                    },
                    "health_status": "HEALTHY",
                    "metadata": {"filter_metadata": {"istio": {"workload": f"w{n}"}}},
                    "load_balancing_weight": 1,
                }
            )
        eds.append(
            {
                "endpoint_config": {
                    "@type": _CLA,
                    "cluster_name": name,
                    "endpoints": [
                        {
                            "locality": {"region": "r1", "zone": f"z{zone}"},
                            "lb_endpoints": members,
                            "load_balancing_weight": len(members),
                            **({"priority": priority} if priority else {}),
                        }
                        for (zone, priority), members in sorted(by_locality.items())
                    ],
                    "policy": {"overprovisioning_factor": 140},
                }
            }
        )
    configs = 20
    per_config = max(1, routes // configs)
    rds = []
    made = 0
    for rc in range(configs):
        vhosts = []
        for v in range(10):
            vroutes = []
            for _ in range(per_config // 10 + (1 if v < per_config % 10 else 0)):
                if made >= routes:
                    break
                target = made % max(1, clusters)
                action: dict[str, Any] = {
                    "timeout": "0s",
                    "retry_policy": {
                        "retry_on": "connect-failure,refused-stream,unavailable",
                        "num_retries": 2,
                        "retry_host_predicate": [
                            {
                                "name": "envoy.retry_host_predicates.previous_hosts",
                                "typed_config": {
                                    "@type": "type.googleapis.com/envoy.extensions."
                                    "retry.host.previous_hosts.v3.PreviousHostsPredicate"
                                },
                            }
                        ],
                        "host_selection_retry_max_attempts": "5",
                    },
                    "hash_policy": [
                        {"header": {"header_name": "x-user"}}
                        if made % 2 == 0
                        else {"cookie": {"name": "session", "ttl": "3600s", "path": "/"}}
                    ],
                    "max_stream_duration": {"max_stream_duration": "0s"},
                }
                if made % 10 == 9 and clusters > 1:
                    action["weighted_clusters"] = {
                        "clusters": [
                            {"name": cluster_name(target), "weight": 90},
                            {"name": cluster_name((target + 1) % clusters), "weight": 10},
                        ]
                    }
                else:
                    action["cluster"] = cluster_name(target)
                vroutes.append(
                    {
                        "name": f"route{made}",
                        "match": {"prefix": f"/r{made}"},
                        "route": action,
                        "decorator": {"operation": f"svc{target}:80/*"},
                    }
                )
                made += 1
            vhosts.append(
                {
                    "name": f"vh{rc}-{v}:80",
                    "domains": [f"vh{rc}-{v}.example", f"vh{rc}-{v}.example:80"],
                    "routes": vroutes,
                    "include_request_attempt_count": True,
                }
            )
        rds.append(
            {
                "version_info": "v1",
                "route_config": {
                    "@type": _ROUTES,
                    "name": f"{8000 + rc}",
                    "virtual_hosts": vhosts,
                    "validate_clusters": False,
                },
                "last_updated": _STAMP,
            }
        )
    return {
        "configs": [
            {"@type": _ADMIN + "BootstrapConfigDump", "bootstrap": {"node": {"id": "gen"}}},
            {
                "@type": _ADMIN + "ClustersConfigDump",
                "version_info": "v1",
                "dynamic_active_clusters": cds,
            },
            {"@type": _ADMIN + "EndpointsConfigDump", "dynamic_endpoint_configs": eds},
            {"@type": _ADMIN + "RoutesConfigDump", "dynamic_route_configs": rds},
        ]
    }


def cluster_status(
    name: str, hosts: list[tuple[str, int, str, int, dict[str, Any]]]
) -> dict[str, Any]:
    """Return one ``istioctl proxy-config endpoint -o json`` entry (a ``/clusters`` ClusterStatus).

    *hosts* are ``(ip, port, eds_health_status, weight, locality)``, printed
    in camelCase as ``istioctl`` prints them.
    """
    return {
        "name": name,
        "addedViaApi": True,
        "hostStatuses": [
            {
                "address": {"socketAddress": {"address": ip, "portValue": port}},
                "healthStatus": {"edsHealthStatus": health},
                "weight": weight,
                "locality": locality,
            }
            for ip, port, health, weight, locality in hosts
        ],
    }


def deep(value: Any) -> Any:
    """Return a deep copy (a test changes its own copy of a fixture)."""
    return copy.deepcopy(value)
