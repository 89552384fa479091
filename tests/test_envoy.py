"""hashlb.envoy: loading Envoy v3 configuration (dumps, istioctl lists, bootstraps) and routing over it."""

from __future__ import annotations

import doctest
import io
import json
import random
from typing import Any

import pytest

import hashlb.envoy
from hashlb import Cluster, ConfigError, Cookie, HashPolicy, Header, Host, Request, SourceIP
from hashlb._types import replace_host
from hashlb.envoy import EnvoyConfigError, load

from ._envoy import (
    COMPARE_DUMP,
    PROXYCONFIG_DUMP,
    big_dump,
    cluster_name,
    cluster_status,
    deep,
    load_fixture,
)

RATINGS = "inbound-vip|9080|http|ratings.default.svc.cluster.local"
HTTPBIN = "inbound-vip|8000|http|httpbin.default.svc.cluster.local"
USERS = [f"user{i}" for i in range(300)]


def _sock(ip: str, port: int) -> dict[str, Any]:
    return {"socket_address": {"address": ip, "port_value": port}}


def _lb_endpoint(ip: str, port: int = 8080, **extra: Any) -> dict[str, Any]:
    return {"endpoint": {"address": _sock(ip, port)}, **extra}


def _configs(doc: dict[str, Any], kind: str) -> dict[str, Any]:
    (found,) = [c for c in doc["configs"] if c["@type"].endswith("." + kind)]
    return found  # type: ignore[no-any-return]


# -- the shared fixtures, as shipped ------------------------------------------------


def test_proxyconfig_fixture_loads_and_nothing_hashes() -> None:
    config = load(PROXYCONFIG_DUMP)
    assert sorted(config.clusters) == sorted(["agent", "prometheus_stats", HTTPBIN])
    assert config.hashing_clusters() == ()
    assert config.hashing_routes() == ()
    agent = config.cluster("agent")
    assert agent.lb_policy == "ROUND_ROBIN" and agent.discovery_type == "STATIC"
    assert [h.address for h in agent.hosts] == ["127.0.0.1:15020"]
    assert agent.endpoints is not None and agent.endpoints.source == "load_assignment"
    # the static EDS dump entry of prometheus_stats wins over its inline assignment
    stats = config.cluster("prometheus_stats")
    assert stats.endpoints is not None and stats.endpoints.source == "eds"
    assert [(h.address, h.health) for h in stats.hosts] == [("127.0.0.1:15000", "healthy")]
    # an HBONE endpoint: Envoy's internal address key
    internal = config.load_assignments["inbound-vip|8100|http|httpbin.default.svc.cluster.local"]
    assert [h.address for h in internal.hosts] == ["envoy://connect_originate/192.168.195.248:800"]
    assert internal.overprovisioning_factor == 140
    # the dump's EDS entry names another cluster: this one has no endpoints
    assert config.cluster(HTTPBIN).hosts == ()
    # routes come from the static route config and the listeners' inline ones
    assert {r.cluster for r in config.routes} >= {"agent", HTTPBIN}
    route = next(r for r in config.routes if r.cluster == HTTPBIN)
    assert route.hash_policy is None and route.match.kind == "prefix" and route.match.value == "/"
    assert route.path.startswith("configs[3].dynamic_listeners[0].active_state.listener")
    assert config.sources == (str(PROXYCONFIG_DUMP),)


def test_compare_fixture_loads_and_nothing_hashes() -> None:
    config = load(COMPARE_DUMP)
    assert list(config.clusters) == [RATINGS]
    ratings = config.cluster(RATINGS)
    assert ratings.lb_policy == "ROUND_ROBIN"
    assert ratings.healthy_panic_threshold == 50.0  # common_lb_config {} has no threshold
    assert ratings.eds_service_name == RATINGS and ratings.endpoints is None
    assert config.hashing_clusters() == () and config.hashing_routes() == ()
    rc = config.route_config("inbound-vip|9080|http|reviews-v3.default.svc.cluster.local")
    vh = rc.virtual_host("inbound|http|9080")
    assert [r.name for r in vh.routes] == ["default"]
    with pytest.raises(KeyError):
        config.virtual_host("inbound|http|9080")  # in several route configurations
    assert config.virtual_host("inbound|http|9080", route_config=rc.name) is vh


# -- consistent hashing added to copies of the fixtures -------------------------------


def test_ring_hash_and_header_policy_on_a_fixture_copy() -> None:
    doc = load_fixture(PROXYCONFIG_DUMP)
    cds = _configs(doc, "ClustersConfigDump")
    cluster = cds["dynamic_active_clusters"][0]["cluster"]
    assert cluster["name"] == HTTPBIN
    cluster["lb_policy"] = "RING_HASH"
    cluster["ring_hash_lb_config"] = {"minimum_ring_size": "2048", "maximum_ring_size": "4096"}
    cluster["common_lb_config"] = {"healthy_panic_threshold": {"value": 30}}
    eds = _configs(doc, "EndpointsConfigDump")
    eds["dynamic_endpoint_configs"].append(
        {
            "endpoint_config": {
                "@type": "type.googleapis.com/envoy.config.endpoint.v3.ClusterLoadAssignment",
                "cluster_name": HTTPBIN,
                "endpoints": [
                    {
                        "locality": {},
                        "lb_endpoints": [
                            _lb_endpoint(
                                f"10.1.0.{i}",
                                health_status="HEALTHY",
                                load_balancing_weight=1 + i % 3,
                            )
                            for i in range(1, 9)
                        ],
                    }
                ],
                "policy": {"overprovisioning_factor": 140},
            }
        }
    )
    listeners = _configs(doc, "ListenersConfigDump")
    hcm = listeners["dynamic_listeners"][0]["active_state"]["listener"]["filter_chains"][0][
        "filters"
    ][0]
    action = hcm["typed_config"]["route_config"]["virtual_hosts"][0]["routes"][0]["route"]
    assert action["cluster"] == HTTPBIN
    action["hash_policy"] = [{"header": {"header_name": "x-user"}}]

    config = load(doc)
    assert [c.name for c in config.hashing_clusters()] == [HTTPBIN]
    (route,) = config.hashing_routes()
    assert route.hash_policy == HashPolicy(Header("x-user"))
    envoy_cluster = config.cluster(HTTPBIN)
    assert not envoy_cluster.built
    hosts = [Host(f"10.1.0.{i}:8080", 1 + i % 3) for i in range(1, 9)]
    direct = Cluster(
        hosts,
        balancer="ring_hash",
        healthy_panic_threshold=30,
        min_ring_size=2048,
        max_ring_size=4096,
    )
    policy = HashPolicy(Header("x-user"))
    for user in USERS:
        request = Request(headers={"x-user": user})
        pick = config.pick(route, request)
        h = policy.hash(request)
        assert pick.hashed and pick.hash == h and pick.cluster == HTTPBIN
        assert pick.host == direct.lookup(h)
    assert envoy_cluster.built
    assert envoy_cluster.cluster.priorities[0].table.hosts == direct.priorities[0].table.hosts


def test_maglev_and_cookie_policy_with_istioctl_endpoints() -> None:
    doc = load_fixture(COMPARE_DUMP)
    cluster = _configs(doc, "ClustersConfigDump")["dynamic_active_clusters"][0]["cluster"]
    cluster["lb_policy"] = "MAGLEV"
    cluster["maglev_lb_config"] = {"table_size": "1021"}
    routes = _configs(doc, "RoutesConfigDump")["dynamic_route_configs"][0]["route_config"]
    action = routes["virtual_hosts"][0]["routes"][0]["route"]
    action["cluster"] = RATINGS
    action["hash_policy"] = [{"cookie": {"name": "session", "ttl": "3600s", "path": "/"}}]
    # the endpoints come from `istioctl proxy-config endpoint -o json` (camelCase, a bare list)
    statuses = [
        cluster_status(RATINGS, [(f"10.2.0.{i}", 9080, "HEALTHY", 1, {}) for i in range(1, 6)])
    ]
    config = load(doc, json.dumps(statuses))
    (route,) = config.hashing_routes()
    hosts = [Host(f"10.2.0.{i}:9080") for i in range(1, 6)]
    direct = Cluster(hosts, balancer="maglev", table_size=1021)
    policy = HashPolicy(Cookie("session", ttl=3600, path="/"))
    for user in USERS:
        request = Request(headers={"cookie": f"session={user}"})
        pick = config.pick(route, request)
        assert pick.hash == policy.hash(request) and pick.set_cookies == ()
        assert pick.host == direct.lookup(pick.hash)
    # no cookie: one is generated from the addresses, hashed, and returned to set
    request = Request(remote_address="10.9.0.1:40000", local_address="10.9.0.2:9080")
    pick = config.pick(route, request)
    assert pick.hashed and pick.set_cookies and pick.set_cookies[0].startswith('session="')
    assert pick.host == direct.lookup(policy.hash(request))


def test_no_hash_balances_randomly_from_the_rng() -> None:
    config = load(_bootstrap_doc())
    route = config.route("hashed")
    request = Request()  # no x-user header, and no source address: no hash
    a = config.pick(route, request, rng=random.Random(5))
    b = config.pick(route, request, rng=random.Random(5))
    assert not a.hashed and a.hash == b.hash == random.Random(5).getrandbits(64)
    assert a.host == b.host == config.cluster("web").cluster.lookup(a.hash)


# -- istioctl bare lists, camelCase ---------------------------------------------------


def _istioctl_lists() -> tuple[list[Any], list[Any], list[Any]]:
    clusters = [
        {
            "name": "outbound|80|v1|cart.shop.svc.cluster.local",
            "type": "EDS",
            "edsClusterConfig": {"serviceName": "outbound|80|v1|cart.shop.svc.cluster.local"},
            "lbPolicy": "RING_HASH",
            "ringHashLbConfig": {"minimumRingSize": "1024", "hashFunction": "MURMUR_HASH_2"},
            "commonLbConfig": {"healthyPanicThreshold": {}},
        },
        {
            "name": "outbound|80|v2|cart.shop.svc.cluster.local",
            "type": "EDS",
            "lbPolicy": "RING_HASH",
            "commonLbConfig": {"localityWeightedLbConfig": {}},
        },
    ]
    routes = [
        {
            "name": "80",
            "virtualHosts": [
                {
                    "name": "cart.shop.svc.cluster.local:80",
                    "domains": ["cart.shop.svc.cluster.local"],
                    "routes": [
                        {
                            "name": "cart-route",
                            "match": {"prefix": "/"},
                            "route": {
                                "weightedClusters": {
                                    "clusters": [
                                        {
                                            "name": "outbound|80|v1|cart.shop.svc.cluster.local",
                                            "weight": 90,
                                        },
                                        {
                                            "name": "outbound|80|v2|cart.shop.svc.cluster.local",
                                            "weight": 10,
                                        },
                                    ]
                                },
                                "hashPolicy": [
                                    {"header": {"headerName": "x-user"}},
                                    {"header": {"headerName": "x-user"}},
                                ],
                                "retryPolicy": {
                                    "retryOn": "connect-failure,refused-stream,unavailable",
                                    "numRetries": 2,
                                    "retryHostPredicate": [
                                        {"name": "envoy.retry_host_predicates.previous_hosts"}
                                    ],
                                    "hostSelectionRetryMaxAttempts": "5",
                                },
                            },
                        }
                    ],
                }
            ],
        }
    ]
    endpoints = [
        {
            "name": f"outbound|80|{subset}|cart.shop.svc.cluster.local",
            "addedViaApi": True,
            "hostStatuses": [
                {
                    "address": {"socketAddress": {"address": f"10.3.{n}.{i}", "portValue": 8080}},
                    "healthStatus": {"edsHealthStatus": "HEALTHY"},
                    "weight": 1,
                    "priority": 0,
                    "locality": {"region": "r", "zone": f"z{i % 2}"},
                }
                for i in range(1, 5)
            ],
        }
        for n, subset in enumerate(("v1", "v2"))
    ]
    return clusters, routes, endpoints


def test_istioctl_bare_lists_in_camel_case() -> None:
    clusters, routes, endpoints = _istioctl_lists()
    config = load(
        json.dumps(clusters), io.StringIO(json.dumps(routes)), json.dumps(endpoints).encode()
    )
    v1 = config.cluster("outbound|80|v1|cart.shop.svc.cluster.local")
    assert v1.balancer_options == {"min_ring_size": 1024, "hash_function": "murmur_hash_2"}
    assert v1.healthy_panic_threshold == 0.0  # {} is 0 %
    assert v1.endpoints is not None and v1.endpoints.source == "clusters"
    assert [h.locality for h in v1.hosts] == ["r/z1", "r/z0", "r/z1", "r/z0"]
    assert config.cluster("outbound|80|v2|cart.shop.svc.cluster.local").locality_weighted
    (route,) = config.hashing_routes()
    assert route.weighted_clusters == (
        ("outbound|80|v1|cart.shop.svc.cluster.local", 90),
        ("outbound|80|v2|cart.shop.svc.cluster.local", 10),
    )
    assert route.hash_policy == HashPolicy(Header("x-user"), Header("x-user"))  # Istio's two copies
    retry = route.retry_policy
    assert retry is not None and retry.previous_hosts and retry.max_attempts == 6
    assert retry.num_retries == 2 and retry.retry_on.startswith("connect-failure")
    direct = {
        name: Cluster(
            [Host(f"10.3.{n}.{i}:8080", locality=f"r/z{i % 2}") for i in range(1, 5)],
            balancer="ring_hash",
            **opts,
        )
        for n, (name, opts) in enumerate(
            [
                (
                    route.weighted_clusters[0][0],
                    {"healthy_panic_threshold": 0, "hash_function": "murmur_hash_2"},
                ),
                (route.weighted_clusters[1][0], {"locality_weighted": True}),
            ]
        )
    }
    seen = set()
    for user in USERS:
        pick = config.pick(route, Request(headers={"x-user": user}), rng=random.Random(user))
        seen.add(pick.cluster)
        assert pick.host == direct[pick.cluster].lookup(pick.hash)
    assert seen == set(direct)


def test_camel_case_and_snake_case_load_the_same() -> None:
    doc = big_dump(clusters=6, endpoints=4, routes=30)

    def camel(value: Any) -> Any:
        if isinstance(value, dict):
            out = {}
            for k, v in value.items():
                head, *rest = k.split("_")
                key = (
                    k if k.startswith("@") else head + "".join(p[:1].upper() + p[1:] for p in rest)
                )
                out[key] = camel(v)
            return out
        if isinstance(value, list):
            return [camel(v) for v in value]
        return value

    snake, other = load(doc), load(camel(doc))
    assert list(snake.clusters) == list(other.clusters)
    for name, c in snake.clusters.items():
        o = other.clusters[name]
        assert (c.lb_policy, dict(c.balancer_options), c.healthy_panic_threshold, c.hosts) == (
            o.lb_policy,
            dict(o.balancer_options),
            o.healthy_panic_threshold,
            o.hosts,
        )
    assert [(r.name, r.cluster_names, r.hash_policy, r.retry_policy) for r in snake.routes] == [
        (r.name, r.cluster_names, r.hash_policy, r.retry_policy) for r in other.routes
    ]


# -- a static bootstrap in YAML -------------------------------------------------------

BOOTSTRAP_YAML = """
static_resources:
  listeners:
  - name: ingress
    address: {socket_address: {address: 0.0.0.0, port_value: 10000}}
    filter_chains:
    - filters:
      - name: envoy.filters.network.http_connection_manager
        typed_config:
          "@type": type.googleapis.com/envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager
          stat_prefix: ingress
          use_remote_address: true
          xff_num_trusted_hops: 1
          route_config:
            name: local_route
            virtual_hosts:
            - name: web
              domains: ["*"]
              retry_policy: {retry_on: 5xx, host_selection_retry_max_attempts: 3}
              routes:
              - name: hashed
                match: {prefix: /api, headers: [{name: x-canary, present_match: true, invert_match: true}]}
                route:
                  cluster: web
                  hash_policy:
                  - header: {header_name: x-user, regex_rewrite: {pattern: {regex: "^(\\\\w+)@.*$"}, substitution: "\\\\1"}}
                    terminal: true
                  - connection_properties: {source_ip: true}
              - name: canary
                match: {path: /api/v2, headers: [{name: x-canary, string_match: {exact: "YES", ignore_case: true}}]}
                route: {cluster: plain}
              - name: other
                match: {prefix: /}
                direct_response: {status: 404}
  clusters:
  - name: web
    type: STATIC
    lb_policy: RING_HASH
    ring_hash_lb_config: {minimum_ring_size: 512, maximum_ring_size: 1024}
    common_lb_config:
      healthy_panic_threshold: {value: 25}
      locality_weighted_lb_config: {}
    load_assignment:
      cluster_name: web
      policy: {overprovisioning_factor: 200}
      endpoints:
      - locality: {region: eu, zone: a}
        load_balancing_weight: 3
        lb_endpoints:
        - endpoint: {address: {socket_address: {address: 10.0.0.1, port_value: 80}}}
          metadata: {filter_metadata: {envoy.lb: {hash_key: alpha}}}
        - endpoint: {address: {socket_address: {address: 10.0.0.2, port_value: 80}}}
          health_status: UNHEALTHY
          load_balancing_weight: 2
        - endpoint: {address: {socket_address: {address: 10.0.0.1, port_value: 80}}}
      - locality: {region: eu, zone: b}
        load_balancing_weight: 1
        lb_endpoints:
        - endpoint: {address: {socket_address: {address: "2001:0db8::0001", port_value: 80}}}
          health_status: DEGRADED
        - endpoint: {address: {socket_address: {address: 10.0.0.3, port_value: 80}}, hostname: c.example}
      - priority: 1
        lb_endpoints:
        - endpoint: {address: {socket_address: {address: 10.0.1.1, port_value: 80}}}
          health_status: DRAINING
        - endpoint: {address: {socket_address: {address: 10.0.1.2, port_value: 80}}}
  - name: plain
    type: STRICT_DNS
    load_assignment:
      cluster_name: plain
      endpoints:
      - lb_endpoints:
        - endpoint: {address: {socket_address: {address: plain.example, port_value: 80}}}
"""


def _bootstrap_doc() -> str:
    return BOOTSTRAP_YAML


def test_static_bootstrap_yaml() -> None:
    config = load(BOOTSTRAP_YAML)
    web = config.cluster("web")
    assert web.lb_policy == "RING_HASH" and web.locality_weighted
    assert web.healthy_panic_threshold == 25.0
    assert web.endpoints is not None and web.endpoints.overprovisioning_factor == 200
    assert dict(web.endpoints.locality_weights) == {"eu/a": 3, "eu/b": 1}
    expected = [
        Host("10.0.0.1:80", locality="eu/a", hash_key="alpha", health="unknown"),
        Host("10.0.0.2:80", 2, locality="eu/a", health="unhealthy"),
        # the repeated 10.0.0.1:80 is dropped: Envoy keeps the first
        Host("[2001:db8::1]:80", locality="eu/b", health="degraded"),
        Host("10.0.0.3:80", locality="eu/b", hostname="c.example", health="unknown"),
        Host("10.0.1.1:80", priority=1, health="draining"),
        Host("10.0.1.2:80", priority=1, health="unknown"),
    ]
    assert list(web.hosts) == expected
    # with locality weighting every host has a locality ("" for the empty one, weight 0)
    placed = [h if h.locality else replace_host(h, locality="") for h in expected]
    direct = Cluster(
        placed,
        balancer="ring_hash",
        overprovisioning_factor=200,
        healthy_panic_threshold=25,
        locality_weighted=True,
        locality_weights={"": 0, "eu/a": 3, "eu/b": 1},
        min_ring_size=512,
        max_ring_size=1024,
    )
    assert web.cluster.priority_load == direct.priority_load
    assert web.cluster.hosts == direct.hosts
    route = config.route("hashed")
    assert route.hash_policy == HashPolicy(
        Header("x-user", regex_rewrite=(r"^(\w+)@.*$", r"\1"), terminal=True),
        SourceIP(xff_num_trusted_hops=1, use_remote_address=True),  # the connection manager's
    )
    assert route.retry_policy is not None and route.retry_policy.max_attempts == 4  # the vhost's
    assert not route.retry_policy.previous_hosts
    for user in USERS:
        request = Request(headers={"x-user": f"{user}@example.com"}, remote_address="10.9.9.9:5000")
        pick = config.pick(route, request)
        assert pick.host == direct.lookup(route.hash_policy.hash(request))
    assert [r.name for r in config.hashing_routes()] == ["hashed"]
    plain = config.cluster("plain")
    assert plain.discovery_type == "STRICT_DNS" and [h.address for h in plain.hosts] == [
        "plain.example:80"
    ]
    with pytest.raises(
        EnvoyConfigError, match=r"^static_resources\.clusters\[1\]\.lb_policy: ROUND_ROBIN"
    ):
        plain.cluster  # noqa: B018
    # matching
    vh = config.virtual_host("web")
    assert vh.route_for("/api/x") is route
    assert vh.route_for("/api/x", {"X-Canary": "1"}) is config.route("other")
    assert vh.route_for("/api/v2?q=1", {"x-canary": "yes"}) is config.route("canary")
    assert vh.route_for("/elsewhere").action == "direct_response"  # type: ignore[union-attr]


def test_bootstrap_json_with_typed_load_balancing_policy() -> None:
    doc = {
        "static_resources": {
            "clusters": [
                {
                    "name": "m",
                    "load_balancing_policy": {
                        "policies": [
                            {
                                "typed_extension_config": {
                                    "name": "envoy.load_balancing_policies.maglev",
                                    "typed_config": {
                                        "@type": "type.googleapis.com/envoy.extensions."
                                        "load_balancing_policies.maglev.v3.Maglev",
                                        "table_size": 13,
                                        "consistent_hashing_lb_config": {
                                            "use_hostname_for_hashing": True,
                                            "hash_balance_factor": 150,
                                        },
                                    },
                                }
                            }
                        ]
                    },
                    "load_assignment": {
                        "endpoints": [
                            {
                                "lb_endpoints": [
                                    {
                                        "endpoint": {
                                            "address": _sock(f"10.5.0.{i}", 80),
                                            "hostname": f"h{i}",
                                        }
                                    }
                                    for i in range(3)
                                ]
                            }
                        ]
                    },
                }
            ]
        }
    }
    m = load(json.dumps(doc)).cluster("m")
    assert m.lb_policy == "MAGLEV" and m.hash_balance_factor == 150
    assert dict(m.balancer_options) == {"table_size": 13, "use_hostname": True}
    direct = Cluster(
        [Host(f"10.5.0.{i}:80", hostname=f"h{i}", health="unknown") for i in range(3)],
        balancer="maglev",
        table_size=13,
        use_hostname=True,
    )
    assert [m.cluster.lookup(h) for h in range(50)] == [direct.lookup(h) for h in range(50)]


def test_tables_are_lazy_and_built_once() -> None:
    config = load(big_dump(clusters=10, endpoints=5, routes=40))
    assert not any(c.built for c in config)
    route = config.routes[0]
    config.pick(route, Request(headers={"x-user": "a"}))
    assert [c.name for c in config if c.built] == [route.cluster]
    first = config.cluster(route.cluster or "").cluster
    assert config.cluster(route.cluster or "").cluster is first


def test_module_docstring_examples() -> None:
    result = doctest.testmod(hashlb.envoy, optionflags=doctest.ELLIPSIS)
    assert result.failed == 0 and result.attempted > 0


# -- bad input --------------------------------------------------------------------------


def _dump(
    clusters: list[Any] = (), routes: list[Any] = (), endpoints: list[Any] = ()
) -> dict[str, Any]:  # type: ignore[assignment]
    admin = "type.googleapis.com/envoy.admin.v3."
    return {
        "configs": [
            {"@type": admin + "BootstrapConfigDump", "bootstrap": {}},
            {
                "@type": admin + "ClustersConfigDump",
                "dynamic_active_clusters": [{"cluster": c} for c in clusters],
            },
            {
                "@type": admin + "EndpointsConfigDump",
                "dynamic_endpoint_configs": [{"endpoint_config": e} for e in endpoints],
            },
            {
                "@type": admin + "RoutesConfigDump",
                "dynamic_route_configs": [{"route_config": r} for r in routes],
            },
        ]
    }


def _cla(name: str, *lb_endpoints: dict[str, Any], **group: Any) -> dict[str, Any]:
    return {"cluster_name": name, "endpoints": [{"lb_endpoints": list(lb_endpoints), **group}]}


def _rc(action: dict[str, Any]) -> dict[str, Any]:
    return {
        "name": "80",
        "virtual_hosts": [
            {
                "name": "vh",
                "domains": ["*"],
                "routes": [{"match": {"prefix": "/"}, "route": action}],
            }
        ],
    }


def _ring(**ring_hash_lb_config: Any) -> dict[str, Any]:
    return {"name": "c", "lb_policy": "RING_HASH", "ring_hash_lb_config": ring_hash_lb_config}


_C = [{"name": f"c{i}", "lb_policy": "RING_HASH"} for i in range(5)]
_BAD = [
    pytest.param(
        _dump(clusters=[*_C[:4], {"name": "c4", "lb_policy": "FASTEST"}]),
        r"^configs\[1\]\.dynamic_active_clusters\[4\]\.cluster\.lb_policy: unknown value 'FASTEST'",
        id="unknown-lb_policy",
    ),
    pytest.param(
        _dump(clusters=[{"name": "c", "lb_policy": 4}]),
        r"^configs\[1\]\.dynamic_active_clusters\[0\]\.cluster\.lb_policy: unknown value 4",
        id="reserved-lb_policy-number",
    ),
    pytest.param(
        _dump(_C[:1], endpoints=[_cla("c0", _lb_endpoint("10.0.0.1", load_balancing_weight=-3))]),
        r"^configs\[2\]\.dynamic_endpoint_configs\[0\]\.endpoint_config\.endpoints\[0\]\.lb_endpoints\[0\]"
        r"\.load_balancing_weight: must not be negative, got -3",
        id="negative-endpoint-weight",
    ),
    pytest.param(
        _dump(_C[:1], endpoints=[_cla("c0", _lb_endpoint("10.0.0.1"), load_balancing_weight="-1")]),
        r"^configs\[2\]\.dynamic_endpoint_configs\[0\]\.endpoint_config\.endpoints\[0\]\.load_balancing_weight: "
        r"must not be negative",
        id="negative-locality-weight",
    ),
    pytest.param(
        _dump(
            _C[:1], endpoints=[_cla("c0", _lb_endpoint("10.0.0.1", load_balancing_weight=2**32))]
        ),
        r"lb_endpoints\[0\]\.load_balancing_weight: must be at most 4294967295",
        id="weight-over-uint32",
    ),
    pytest.param(
        _dump(_C[:1], endpoints=[_cla("c0", _lb_endpoint("10.0.0.01"))]),
        r"lb_endpoints\[0\]: Host\.address",
        id="malformed-ipv4",
    ),
    pytest.param(
        _dump(_C[:1], endpoints=[_cla("c0", _lb_endpoint("10.0.0.1", 70000))]),
        r"lb_endpoints\[0\]\.endpoint\.address\.socket_address\.port_value: must be at most 65535",
        id="port-out-of-range",
    ),
    pytest.param(
        _dump(_C[:1], endpoints=[_cla("c0", _lb_endpoint("10.0.0.1", health_status="SICK"))]),
        r"lb_endpoints\[0\]\.health_status: unknown value 'SICK'",
        id="unknown-health",
    ),
    pytest.param(
        _dump(_C[:1], endpoints=[_cla("c0", {"endpoint": {"address": {}}})]),
        r"lb_endpoints\[0\]\.endpoint\.address: expected socket_address, envoy_internal_address or pipe",
        id="address-without-kind",
    ),
    pytest.param(
        _dump(_C[:1], endpoints=[_cla("c0", _lb_endpoint("10.0.0.1"), priority=129)]),
        r"endpoints\[0\]\.priority: must be at most 128",
        id="priority-over-128",
    ),
    pytest.param(
        _dump(
            _C[:1],
            endpoints=[
                {"cluster_name": "c0", "endpoints": [], "policy": {"overprovisioning_factor": 0}}
            ],
        ),
        r"endpoint_config\.policy\.overprovisioning_factor: must be greater than 0",
        id="zero-overprovisioning",
    ),
    pytest.param(
        _dump([_ring(minimum_ring_size="-5")]),
        r"cluster\.ring_hash_lb_config\.minimum_ring_size: must not be negative",
        id="negative-ring-size",
    ),
    pytest.param(
        _dump([_ring(hash_function="SHA1")]),
        r"cluster\.ring_hash_lb_config\.hash_function: unknown value 'SHA1'",
        id="unknown-hash-function",
    ),
    pytest.param(
        _dump([{"name": "c", "common_lb_config": {"healthy_panic_threshold": {"value": 101}}}]),
        r"cluster\.common_lb_config\.healthy_panic_threshold\.value: must be in \[0, 100\]",
        id="panic-threshold-over-100",
    ),
    pytest.param(
        _dump([{"name": "c"}, {"name": "c"}]),
        r"^configs\[1\]\.dynamic_active_clusters\[1\]\.cluster\.name: cluster 'c' appears twice",
        id="duplicate-cluster",
    ),
    pytest.param(
        _dump([{"lb_policy": "MAGLEV"}]),
        r"^configs\[1\]\.dynamic_active_clusters\[0\]\.cluster\.name: expected a string, got null",
        id="cluster-without-name",
    ),
    pytest.param(
        _dump(routes=[_rc({"cluster": "c", "hash_policy": [{"terminal": True}]})]),
        r"^configs\[3\]\.dynamic_route_configs\[0\]\.route_config\.virtual_hosts\[0\]\.routes\[0\]"
        r"\.route\.hash_policy\[0\]: expected one of header",
        id="hash-policy-without-method",
    ),
    pytest.param(
        _dump(routes=[_rc({"cluster": "c", "hash_policy": [{"header": {"header_name": ""}}]})]),
        r"routes\[0\]\.route\.hash_policy\[0\]: .*empty",
        id="empty-header-name",
    ),
    pytest.param(
        _dump(
            routes=[
                _rc(
                    {
                        "cluster": "c",
                        "hash_policy": [
                            {
                                "header": {
                                    "header_name": "x",
                                    "regex_rewrite": {
                                        "pattern": {"regex": "("},
                                        "substitution": "",
                                    },
                                }
                            }
                        ],
                    }
                )
            ]
        ),
        r"routes\[0\]\.route\.hash_policy\[0\]: ",
        id="bad-rewrite-regex",
    ),
    pytest.param(
        _dump(
            routes=[
                _rc({"cluster": "c", "hash_policy": [{"cookie": {"name": "s", "ttl": "soon"}}]})
            ]
        ),
        r"routes\[0\]\.route\.hash_policy\[0\]\.cookie\.ttl: expected a duration",
        id="bad-cookie-ttl",
    ),
    pytest.param(
        _dump(routes=[_rc({"weighted_clusters": {"clusters": [{"name": "a", "weight": 0}]}})]),
        r"routes\[0\]\.route\.weighted_clusters\.clusters: every weight is 0",
        id="weighted-all-zero",
    ),
    pytest.param(
        _dump(routes=[_rc({"weighted_clusters": {"clusters": [{"name": "a", "weight": -1}]}})]),
        r"routes\[0\]\.route\.weighted_clusters\.clusters\[0\]\.weight: must not be negative",
        id="weighted-negative",
    ),
    pytest.param(
        _dump(
            routes=[
                _rc({"cluster": "c", "retry_policy": {"host_selection_retry_max_attempts": "x"}})
            ]
        ),
        r"route\.retry_policy\.host_selection_retry_max_attempts: expected an unsigned integer",
        id="bad-retry-attempts",
    ),
    pytest.param(
        _dump(routes=[{"name": "r", "virtual_hosts": {"name": "vh"}}]),
        r"^configs\[3\]\.dynamic_route_configs\[0\]\.route_config\.virtual_hosts: expected a list, got an object",
        id="object-for-list",
    ),
    pytest.param(
        _dump(routes=[_rc({"cluster": 7})]),
        r"routes\[0\]\.route\.cluster: expected a string, got a number",
        id="cluster-not-a-string",
    ),
    pytest.param({"hello": "world"}, r"^<document>: not Envoy configuration", id="not-envoy"),
    pytest.param([1], r"^\[0\]: expected an object, got a number", id="bare-list-of-numbers"),
    pytest.param('{"configs": [', r"^not valid JSON: ", id="not-json"),
    pytest.param("{\n  'configs': [\n", r"^not valid JSON", id="not-json-nor-yaml"),
    pytest.param("key: [unclosed\n", r"^neither JSON nor YAML: ", id="not-yaml"),
    pytest.param(b"\xff\xfe{}", r"^not UTF-8 text", id="not-utf8"),
    pytest.param("   \n", r"^empty input", id="empty"),
    pytest.param('{"configs": [' + "1" * 5000 + "]}", r"^not valid JSON", id="huge-int"),
    pytest.param("[" * 100000 + "]" * 100000, r"nested too deeply", id="deep-json"),
]


@pytest.mark.parametrize(("doc", "pattern"), _BAD)
def test_bad_input_names_the_json_path(doc: Any, pattern: str) -> None:
    with pytest.raises(EnvoyConfigError, match=pattern) as info:
        load(deep(doc))
    assert isinstance(info.value, ConfigError) and isinstance(info.value, ValueError)
    assert "\n" not in str(info.value) and len(str(info.value)) < 600
    assert str(info.value).startswith(info.value.path) or not info.value.path


def test_error_source_names_the_input(tmp_path: Any) -> None:
    good = tmp_path / "clusters.json"
    good.write_text(json.dumps([{"name": "a"}]))
    bad = tmp_path / "dump.json"
    bad.write_text(json.dumps(_dump([{"name": "b", "lb_policy": "NOPE"}])))
    with pytest.raises(EnvoyConfigError) as info:
        load(good, bad)
    assert info.value.source == str(bad)
    assert info.value.path == "configs[1].dynamic_active_clusters[0].cluster.lb_policy"
    with pytest.raises(EnvoyConfigError, match="cannot read") as info:
        load(tmp_path / "missing.json")
    assert info.value.source == str(tmp_path / "missing.json")
    with pytest.raises(TypeError, match="source must be"):
        load(42)
    with pytest.raises(TypeError, match="at least one source"):
        load()


def test_route_to_a_missing_cluster_fails_when_built() -> None:
    weighted = {
        "weighted_clusters": {
            "clusters": [{"name": "c0", "weight": 1}, {"name": "gone", "weight": 1}]
        }
    }
    config = load(
        _dump(
            _C[:1],
            routes=[
                _rc({"cluster": "nowhere", "hash_policy": [{"header": {"header_name": "x"}}]}),
                _rc(weighted),
            ],
        )
    )
    first, second = config.routes
    assert config.hashing_routes() == ()  # its cluster is unknown: it cannot hash
    prefix = "configs[3].dynamic_route_configs"
    with pytest.raises(EnvoyConfigError) as info:
        config.route_clusters(first)
    assert str(info.value) == (
        f"{prefix}[0].route_config.virtual_hosts[0].routes[0].route.cluster: "
        "cluster 'nowhere' is not in the configuration"
    )
    with pytest.raises(
        EnvoyConfigError,
        match=r"^configs\[3\]\.dynamic_route_configs\[1\]\.route_config"
        r"\.virtual_hosts\[0\]\.routes\[0\]\.route\.weighted_clusters\.clusters\[1\]\.name: "
        r"cluster 'gone'",
    ):
        config.pick(second, Request())
    with pytest.raises(KeyError, match="no cluster"):
        config.cluster("gone")


def test_a_table_option_rejected_at_build_names_the_cluster() -> None:
    config = load(
        _dump(
            [{"name": "c", "lb_policy": "MAGLEV", "maglev_lb_config": {"table_size": "100"}}],
            endpoints=[_cla("c", _lb_endpoint("10.0.0.1"))],
        )
    )
    cluster = config.cluster("c")
    with pytest.raises(
        EnvoyConfigError,
        match=r"^configs\[1\]\.dynamic_active_clusters\[0\]\.cluster: cluster 'c': ",
    ):
        cluster.cluster  # noqa: B018
    assert not cluster.built


def test_warming_clusters_and_other_dumps_are_ignored() -> None:
    doc = _dump([{"name": "a"}])
    doc["configs"][1]["dynamic_warming_clusters"] = [
        {"cluster": {"name": "a", "lb_policy": "WHATEVER"}}
    ]
    doc["configs"].append({"@type": "type.googleapis.com/envoy.admin.v3.SecretsConfigDump", "x": 1})
    assert list(load(doc).clusters) == ["a"]


def test_big_dump_shape() -> None:
    config = load(big_dump(clusters=20, endpoints=20, routes=100))
    assert len(config.clusters) == 20 and len(config.routes) == 100
    c = config.cluster(cluster_name(1))
    assert c.lb_policy == "MAGLEV" and len(c.hosts) == 20
    assert {h.priority for h in c.hosts} == {0, 1}
    assert len(config.hashing_routes()) == 100


def test_weighted_clusters_by_header_name_and_by_hash_policy() -> None:
    clusters, routes, endpoints = _istioctl_lists()
    wc = routes[0]["virtualHosts"][0]["routes"][0]["route"]["weightedClusters"]
    wc["headerName"] = "x-cluster"
    config = load(clusters, routes, endpoints)
    route = config.routes[0]
    assert route.header_name == "x-cluster" and not route.use_hash_policy
    v1, v2 = (name for name, _ in route.weighted_clusters)
    for value, want in (("5", v1), ("89", v1), (" +90 ", v2), ("199", v2)):
        assert (
            config.pick(route, Request(headers={"x-cluster": value, "x-user": "a"})).cluster == want
        )
    # several values or no number: the stream's random value decides
    rng_value = random.Random(3).getrandbits(64)
    expected = v1 if rng_value % 100 < 90 else v2
    two = Request(headers=[("x-cluster", "5"), ("x-cluster", "95")])
    assert config.pick(route, two, rng=random.Random(3)).cluster == expected
    del wc["headerName"]
    wc["useHashPolicy"] = True
    config = load(clusters, routes, endpoints)
    route = config.routes[0]
    assert route.use_hash_policy
    for user in USERS[:50]:
        request = Request(headers={"x-user": user})
        pick = config.pick(route, request)
        assert route.hash_policy is not None
        h = route.hash_policy.hash(request)
        assert pick.cluster == (v1 if h % 100 < 90 else v2)
        assert pick.host == config.cluster(pick.cluster).cluster.lookup(h)


def test_releases_older_than_a_weighted_cluster_field_ignore_it() -> None:
    """``header_name`` (1.22) and ``use_hash_policy`` (1.36): an older Envoy draws randomly."""
    clusters, routes, endpoints = _istioctl_lists()
    wc = routes[0]["virtualHosts"][0]["routes"][0]["route"]["weightedClusters"]
    wc["headerName"] = "x-cluster"
    config = load(clusters, routes, endpoints)
    route = config.routes[0]
    v1, v2 = (name for name, _ in route.weighted_clusters)
    request = Request(headers={"x-cluster": "95", "x-user": "a"})
    assert config.pick(route, request, envoy_version="1.22").cluster == v2
    seeds = [s for s in range(40) if random.Random(s).getrandbits(64) % 100 < 90]
    for seed in seeds[:5]:  # the random value says v1, the ignored header said v2
        pick = config.pick(route, request, rng=random.Random(seed), envoy_version="1.21")
        assert pick.cluster == v1
    del wc["headerName"]
    wc["useHashPolicy"] = True
    config = load(clusters, routes, endpoints)
    route = config.routes[0]
    assert route.hash_policy is not None
    moved = 0
    for i, user in enumerate(USERS[:50]):
        request = Request(headers={"x-user": user})
        h = route.hash_policy.hash(request)
        by_hash = v1 if h % 100 < 90 else v2
        assert config.pick(route, request, envoy_version="1.36").cluster == by_hash
        value = random.Random(i).getrandbits(64)
        old = config.pick(route, request, rng=random.Random(i), envoy_version="1.35")
        assert old.cluster == (v1 if value % 100 < 90 else v2)
        moved += old.cluster != by_hash
    assert moved > 0


def test_source_ip_takes_the_connection_managers_address_settings() -> None:
    hcm = "type.googleapis.com/envoy.extensions.filters.network.http_connection_manager.v3."
    source_ip = {"cluster": "c0", "hash_policy": [{"connection_properties": {"source_ip": True}}]}
    doc = _dump(_C[:1], routes=[{**_rc(source_ip), "name": "80"}, {**_rc(source_ip), "name": "81"}])
    listener = {
        "name": "0.0.0.0_80",
        "filter_chains": [
            {
                "filters": [
                    {
                        "name": "envoy.filters.network.http_connection_manager",
                        "typed_config": {
                            "@type": hcm + "HttpConnectionManager",
                            "rds": {"route_config_name": "80"},
                            "xff_num_trusted_hops": 2,
                        },
                    }
                ]
            }
        ],
    }
    # the listeners come after the routes: the RDS configurations wait for them
    doc["configs"].append(
        {
            "@type": "type.googleapis.com/envoy.admin.v3.ListenersConfigDump",
            "dynamic_listeners": [{"name": "0.0.0.0_80", "active_state": {"listener": listener}}],
        }
    )
    config = load(doc)
    by_config = {r.route_config: r.hash_policy for r in config.routes}
    # Envoy's default use_remote_address is false; a route configuration no listener names
    # keeps hashlb's SourceIP defaults
    assert by_config == {
        "80": HashPolicy(SourceIP(xff_num_trusted_hops=2, use_remote_address=False)),
        "81": HashPolicy(SourceIP()),
    }
    request = Request(
        headers={"x-forwarded-for": "1.1.1.1, 2.2.2.2, 3.3.3.3"}, remote_address="9.9.9.9:1"
    )
    assert by_config["80"] is not None and by_config["81"] is not None
    assert by_config["80"].hash(request) != by_config["81"].hash(request)


def test_the_node_locality_comes_first_among_localities() -> None:
    endpoints = [
        {
            "locality": {"region": "eu", "zone": zone},
            "load_balancing_weight": weight,
            "lb_endpoints": [_lb_endpoint(f"10.8.{n}.{i}") for i in range(1, 4)],
        }
        for n, (zone, weight) in enumerate([("a", 2), ("b", 1), ("c", 3)])
    ]
    cluster = {
        "name": "m",
        "lb_policy": "MAGLEV",
        "maglev_lb_config": {"table_size": "101"},
        "common_lb_config": {"locality_weighted_lb_config": {}},
        "load_assignment": {"endpoints": endpoints},
    }
    hosts = [
        Host(f"10.8.{n}.{i}:8080", locality=f"eu/{z}", health="unknown")
        for n, z in enumerate("abc")
        for i in range(1, 4)
    ]
    hashes = range(0, 2**64 - 1, 2**57 + 12345)
    plain = load({"static_resources": {"clusters": [cluster]}}).cluster("m")
    assert plain.node_locality is None
    in_b = load(
        {
            "node": {"locality": {"region": "eu", "zone": "b"}},
            "static_resources": {"clusters": [cluster]},
        }
    ).cluster("m")
    assert in_b.node_locality == "eu/b"
    for envoy_cluster, order in (
        (plain, ["eu/a", "eu/b", "eu/c"]),
        (in_b, ["eu/b", "eu/a", "eu/c"]),
    ):
        weights = {"eu/a": 2, "eu/b": 1, "eu/c": 3}
        direct = Cluster(
            hosts,
            balancer="maglev",
            table_size=101,
            locality_weighted=True,
            locality_weights={name: weights[name] for name in order},
        )
        assert [envoy_cluster.cluster.lookup(h) for h in hashes] == [
            direct.lookup(h) for h in hashes
        ]
    # in a config dump, the node is the BootstrapConfigDump's
    doc = load_fixture(PROXYCONFIG_DUMP)
    node = _configs(doc, "BootstrapConfigDump")["bootstrap"]["node"]
    node["locality"] = {"region": "us", "zone": "z1"}
    assert load(doc).cluster("agent").node_locality == "us/z1"


def test_use_hostname_hashes_an_empty_hostname_as_envoy_does() -> None:
    cluster = {
        "name": "r",
        "lb_policy": "RING_HASH",
        "ring_hash_lb_config": {"minimum_ring_size": "64", "maximum_ring_size": "64"},
        "common_lb_config": {"consistent_hashing_lb_config": {"use_hostname_for_hashing": True}},
        "load_assignment": {
            "endpoints": [
                {
                    "lb_endpoints": [
                        {"endpoint": {"address": _sock("10.6.0.1", 80), "hostname": "a.example"}},
                        {"endpoint": {"address": _sock("10.6.0.2", 80)}},
                        {"endpoint": {"address": _sock("10.6.0.3", 80)}},
                    ]
                }
            ]
        },
    }
    r = load({"static_resources": {"clusters": [cluster]}}).cluster("r")
    assert [h.hostname for h in r.hosts] == ["a.example", None, None]
    table = r.cluster.priorities[0].table
    assert [h.key(use_hostname=True) for h in table.hosts] == ["a.example", "", ""]
    direct = Cluster(
        [
            Host("10.6.0.1:80", hostname="a.example", health="unknown"),
            Host("10.6.0.2:80", hostname="", health="unknown"),
            Host("10.6.0.3:80", hostname="", health="unknown"),
        ],
        balancer="ring_hash",
        min_ring_size=64,
        max_ring_size=64,
        use_hostname=True,
    )
    hashes = range(0, 2**64 - 1, 2**58 + 7)
    assert [r.cluster.lookup(h) for h in hashes] == [direct.lookup(h) for h in hashes]


def test_health_aware_weights_follow_the_profile_of_each_pick() -> None:
    """A weighted route whose cluster has no healthy host: Envoy main gives it weight 0
    (health-aware), a numbered release keeps its weight; one config answers both."""

    def cluster(name: str, health: str) -> dict[str, Any]:
        endpoints = [
            {
                "endpoint": {
                    "address": {"socket_address": {"address": f"10.{n}.0.1", "port_value": 80}}
                },
                "health_status": health,
            }
            for n in (1 if name == "a" else 2,)
        ]
        return {
            "name": name,
            "lb_policy": "MAGLEV",
            "load_assignment": {"cluster_name": name, "endpoints": [{"lb_endpoints": endpoints}]},
        }

    route = {
        "name": "r",
        "virtual_hosts": [
            {
                "name": "vh",
                "domains": ["*"],
                "routes": [
                    {
                        "name": "split",
                        "match": {"prefix": "/"},
                        "route": {
                            "weighted_clusters": {
                                "clusters": [
                                    {"name": "a", "weight": 50},
                                    {"name": "b", "weight": 50},
                                ]
                            },
                            "hash_policy": [{"header": {"header_name": "x-user"}}],
                        },
                    }
                ],
            }
        ],
    }
    config = load([cluster("a", "HEALTHY"), cluster("b", "UNHEALTHY")], [route])
    r = config.route("split")
    users = [Request(headers={"x-user": f"user-{i}"}) for i in range(200)]
    rng = random.Random(1)  # the weighted choice is a stream random (no use_hash_policy)
    main = {config.pick(r, u, rng=rng).cluster for u in users}
    old = {config.pick(r, u, rng=rng, envoy_version="1.36").cluster for u in users}
    assert main == {"a"} and old == {"a", "b"}
    assert {config.pick(r, u, rng=rng).cluster for u in users} == main  # the cached plan
