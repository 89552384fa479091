"""The Envoy configuration ``hashlb.istio.config_dump`` generates, rule by rule, and ``hashlb translate``.

Each test is written from Istio's behaviour; the comment names the Istio
source (``istio/istio``, ``pilot/pkg/...``) of the rule.
"""

from __future__ import annotations

import json
import textwrap
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

pytest.importorskip("yaml")  # the istio extra; the test extra installs it

from hashlb import Request
from hashlb.envoy import load
from hashlb.istio import InputError, build_engines, config_dump, load_mesh
from hashlb.istio.model import Scenario
from hashlb.istio.xds import CLUSTERS_DUMP, ENDPOINTS_DUMP, RETRY_ON, ROUTES_DUMP

from ._cli import EXAMPLE, error_line, run_cli, write
from ._impl import Implementation
from ._roundtrip import run

PODS = """
---
apiVersion: v1
kind: Pod
metadata: {name: cart-a, namespace: shop, labels: {app: cart, version: v1}}
spec: {containers: [{name: c, ports: [{containerPort: 8080}, {containerPort: 9090}]}]}
status: {phase: Running, podIP: 10.1.0.1}
---
apiVersion: v1
kind: Pod
metadata: {name: cart-b, namespace: shop, labels: {app: cart, version: v2}}
spec: {containers: [{name: c, ports: [{containerPort: 8080}, {containerPort: 9090}]}]}
status: {phase: Running, podIP: 10.1.0.2}
---
apiVersion: v1
kind: Pod
metadata: {name: cart-c, namespace: shop, labels: {app: cart, version: v2}}
spec: {containers: [{name: c, ports: [{containerPort: 8080}, {containerPort: 9090}]}]}
status: {phase: Running, podIP: 10.1.0.3, conditions: [{type: Ready, status: 'False'}]}
"""
SERVICE = """
---
apiVersion: v1
kind: Service
metadata: {name: cart, namespace: shop}
spec: {selector: {app: cart}, ports: [{name: http, port: 80, targetPort: 8080}]}
"""
TWO_PORTS = """
---
apiVersion: v1
kind: Service
metadata: {name: cart, namespace: shop}
spec:
  selector: {app: cart}
  ports: [{name: http, port: 80, targetPort: 8080}, {name: admin, port: 90, targetPort: 9090}]
"""


def rule(spec: str) -> str:
    body = textwrap.indent(textwrap.dedent(spec).strip(), "  ")
    return (
        "---\napiVersion: networking.istio.io/v1\nkind: DestinationRule\n"
        f"metadata: {{name: cart, namespace: shop}}\nspec:\n  host: cart\n{body}\n"
    )


def vs(http: str) -> str:
    body = textwrap.indent(textwrap.dedent(http).strip(), "    ")
    return (
        "---\napiVersion: networking.istio.io/v1\nkind: VirtualService\n"
        f"metadata: {{name: cart, namespace: shop}}\nspec:\n  hosts: [cart]\n  http:\n{body}\n"
    )


SUBSETS = """
subsets:
  - {name: v1, labels: {version: v1}}
  - {name: v2, labels: {version: v2}}
"""
SPLIT = """
- route:
  - destination: {host: cart, subset: v1}
    weight: 90
  - destination: {host: cart, subset: v2}
    weight: 10
"""


def dump_of(*texts: str, **kw: Any) -> dict[str, Any]:
    return config_dump(load_mesh(["-"], stdin_text="".join(texts), **kw))


def clusters(dump: dict[str, Any]) -> dict[str, dict[str, Any]]:
    part = next(c for c in dump["configs"] if c["@type"] == CLUSTERS_DUMP)
    return {c["cluster"]["name"]: c["cluster"] for c in part["dynamic_active_clusters"]}


def routes(dump: dict[str, Any]) -> list[dict[str, Any]]:
    part = next(c for c in dump["configs"] if c["@type"] == ROUTES_DUMP)
    return [
        r
        for rc in part["dynamic_route_configs"]
        for vh in rc["route_config"]["virtual_hosts"]
        for r in vh["routes"]
    ]


def assignments(dump: dict[str, Any]) -> dict[str, dict[str, Any]]:
    part = next(c for c in dump["configs"] if c["@type"] == ENDPOINTS_DUMP)
    return {
        e["endpoint_config"]["cluster_name"]: e["endpoint_config"]
        for e in part["dynamic_endpoint_configs"]
    }


V1 = "outbound|80|v1|cart.shop.svc.cluster.local"
V2 = "outbound|80|v2|cart.shop.svc.cluster.local"


def test_names_are_istios() -> None:
    """model/service.go BuildSubsetKey; route.go TranslateRoute (NAME.MATCH) and the vhost HOST:PORT."""
    http = """
    - name: canary
      match: [{name: beta, headers: {x-beta: {exact: "1"}}}, {uri: {prefix: /v2}}]
      route: [{destination: {host: cart, subset: v2}}]
    - route: [{destination: {host: cart, subset: v1}}]
    """
    dump = dump_of(PODS, SERVICE, rule(SUBSETS), vs(http))
    assert list(clusters(dump)) == [V2, V1]
    assert [r.get("name") for r in routes(dump)] == ["canary.beta", "canary", None]
    config = load(dump)
    (rc,) = config.route_configs
    assert rc.name == "80" and [vh.name for vh in rc.virtual_hosts] == [
        "cart.shop.svc.cluster.local:80"
    ]
    assert config.routes[2].cluster == V1


def test_dr_only_service_route_is_named_default() -> None:
    """route.go buildSidecarVirtualHostForService: route 'default', hashForService's key, DefaultPolicy."""
    dump = dump_of(
        PODS,
        SERVICE,
        rule("trafficPolicy: {loadBalancer: {consistentHash: {httpHeaderName: x-user}}}"),
    )
    (route,) = routes(dump)
    assert route["name"] == "default" and route["match"] == {"prefix": "/"}
    assert route["route"]["cluster"] == "outbound|80||cart.shop.svc.cluster.local"
    assert route["route"]["hash_policy"] == [{"header": {"header_name": "x-user"}}]
    # the service route's retry policy is ConvertPolicy(mesh default, false): previous_hosts
    assert route["route"]["retry_policy"]["retry_host_predicate"][0]["name"].endswith(
        "previous_hosts"
    )


def test_retry_policy_previous_hosts_only_when_the_route_does_not_hash() -> None:
    """route/retry/retry.go ConvertPolicy(nil, consistentHash): consistentHash is true only for a
    single destination with a consistentHash (route.go applyHTTPRouteDestination); a weighted route
    gets previous_hosts; host_selection_retry_max_attempts is 5 on every route."""
    ch = rule(
        "trafficPolicy: {loadBalancer: {consistentHash: {httpHeaderName: x-user}}}\n" + SUBSETS
    )
    single = "- route: [{destination: {host: cart, subset: v1}}]"
    keyless = rule("trafficPolicy: {loadBalancer: {consistentHash: {}}}\n" + SUBSETS)
    simple = rule("trafficPolicy: {loadBalancer: {simple: RANDOM}}\n" + SUBSETS)
    cases = [
        (ch, SPLIT, True),
        (ch, single, False),
        (keyless, single, False),
        (simple, single, True),
    ]
    for dr, http, predicate in cases:
        (route,) = routes(dump_of(PODS, SERVICE, dr, vs(http)))
        retry = route["route"]["retry_policy"]
        assert retry["retry_on"] == RETRY_ON and retry["num_retries"] == 2
        assert retry["host_selection_retry_max_attempts"] == "5"
        assert ("retry_host_predicate" in retry) == predicate, (dr, http)
        policy = load({"configs": [{"@type": ROUTES_DUMP, "dynamic_route_configs": [
            {"route_config": {"name": "80", "virtual_hosts": [{"name": "x", "domains": ["*"], "routes": [route]}]}}
        ]}]}).routes[0].retry_policy  # fmt: skip
        assert policy is not None and policy.previous_hosts == predicate
        assert policy.max_attempts == 6


@pytest.mark.parametrize(
    ("retries", "expected"),
    [
        ("{attempts: 0}", None),  # ConvertPolicy: attempts <= 0 disables retries
        (
            "{attempts: 5, retryOn: 'gateway-error,503', perTryTimeout: 2s}",
            {"num_retries": 5, "retry_on": "gateway-error,retriable-status-codes",
             "retriable_status_codes": [503], "per_try_timeout": "2s", "predicate": True},
        ),
        ("{attempts: 3, retryIgnorePreviousHosts: false}", {"num_retries": 3, "predicate": False}),
        ("{attempts: 1, retryRemoteLocalities: true}", {"num_retries": 1, "priority": True}),
    ],
)  # fmt: skip
def test_virtual_service_retries_change_the_default_policy(
    retries: str, expected: dict[str, Any] | None
) -> None:
    """route/retry/retry.go ConvertPolicy(in.Retries, consistentHash): a VirtualService's own
    retries start from the default policy; attempts 0 emits no retry_policy; retryOn's numbers
    become retriable_status_codes (parseRetryOn); the switches set or drop the predicates."""
    ch = rule(
        "trafficPolicy: {loadBalancer: {consistentHash: {httpHeaderName: x-user}}}\n" + SUBSETS
    )
    http = SPLIT.rstrip("\n") + f"\n  retries: {retries}\n"
    (route,) = routes(dump_of(PODS, SERVICE, ch, vs(http)))
    retry = route["route"].get("retry_policy")
    if expected is None:
        assert retry is None
        return
    assert retry["num_retries"] == expected["num_retries"]
    assert retry["retry_on"] == expected.get("retry_on", RETRY_ON)
    assert retry.get("retriable_status_codes") == expected.get("retriable_status_codes")
    assert retry.get("per_try_timeout") == expected.get("per_try_timeout")
    assert ("retry_host_predicate" in retry) == expected.get("predicate", True)
    assert ("retry_priority" in retry) == expected.get("priority", False)
    assert retry["host_selection_retry_max_attempts"] == "5"
    config = load(dump_of(PODS, SERVICE, ch, vs(http)))  # Envoy's loader reads it back
    policy = config.routes[0].retry_policy
    assert policy is not None and policy.previous_hosts == expected.get("predicate", True)


def test_virtual_service_retries_are_checked() -> None:
    ch = rule("trafficPolicy: {loadBalancer: {consistentHash: {httpHeaderName: x-user}}}\n")
    for bad, message in (
        ("{attempts: -1}", "attempts"),
        ("{attempts: 2, retryOn: [5xx]}", "retryOn"),
        ("{attempts: 2, perTryTimeout: soon}", "perTryTimeout"),
        ("{attempts: 2, retryRemoteLocalities: yes please}", "retryRemoteLocalities"),
        ("{attempts: 2, hedge: true}", "unknown field 'hedge'"),
    ):
        http = "- route: [{destination: {host: cart}}]\n  retries: " + bad + "\n"
        with pytest.raises(InputError, match=message):
            dump_of(PODS, SERVICE, ch, vs(http))


def test_weighted_clusters_drop_zero_weights_and_copy_the_hash_policy() -> None:
    """route.go applyHTTPRouteDestination: a 0-weight destination is skipped (with its hash copy);
    processWeightedDestination appends one hash_policy entry per destination."""
    three = SPLIT + "  - destination: {host: cart}\n    weight: 0\n"
    dr = rule(
        "trafficPolicy: {loadBalancer: {consistentHash: {httpHeaderName: x-user}}}\n" + SUBSETS
    )
    (route,) = routes(dump_of(PODS, SERVICE, dr, vs(three)))
    assert route["route"]["weighted_clusters"] == {
        "clusters": [{"name": V1, "weight": 90}, {"name": V2, "weight": 10}]
    }
    assert route["route"]["hash_policy"] == [{"header": {"header_name": "x-user"}}] * 2


def test_simple_subset_keeps_the_dr_hash_copy_on_a_round_robin_cluster() -> None:
    """route.go HashForHTTPDestination reads only consistentHash fields, so a subset with
    loadBalancer.simple still adds the DR-level copy; its cluster is ROUND_ROBIN
    (cluster_traffic_policy.go applyRoundRobinLoadBalancer; proto3 JSON omits the enum default)."""
    dr = rule(
        "trafficPolicy: {loadBalancer: {consistentHash: {httpHeaderName: x-user}}}\n"
        "subsets:\n  - {name: v1, labels: {version: v1}}\n"
        "  - {name: v2, labels: {version: v2}, trafficPolicy: {loadBalancer: {simple: ROUND_ROBIN}}}\n"
    )
    dump = dump_of(PODS, SERVICE, dr, vs(SPLIT))
    (route,) = routes(dump)
    assert route["route"]["hash_policy"] == [{"header": {"header_name": "x-user"}}] * 2
    c = clusters(dump)
    assert c[V1]["lb_policy"] == "RING_HASH" and "lb_policy" not in c[V2]
    assert load(dump).cluster(V2).lb_policy == "ROUND_ROBIN"


@pytest.mark.parametrize(
    ("simple", "lb_policy"),
    [
        ("LEAST_CONN", "LEAST_REQUEST"),
        ("LEAST_REQUEST", "LEAST_REQUEST"),
        ("RANDOM", "RANDOM"),
        (None, "LEAST_REQUEST"),
    ],
)
def test_simple_load_balancers(simple: str | None, lb_policy: str) -> None:
    """cluster_traffic_policy.go applyLoadBalancer; no loadBalancer: defaultLBAlgorithm (LEAST_REQUEST)."""
    policy = f"trafficPolicy: {{loadBalancer: {{simple: {simple}}}}}" if simple else "subsets: []"
    (cluster,) = clusters(dump_of(PODS, SERVICE, rule(policy))).values()
    assert cluster["lb_policy"] == lb_policy and "ring_hash_lb_config" not in cluster


def test_port_level_entry_without_load_balancer_resets_the_cluster() -> None:
    """util.go GetPortLevelTrafficPolicy: "port level policies do not inherit": the entry for the
    port replaces the whole policy, so without loadBalancer the cluster takes Istio's default
    (LEAST_REQUEST); the route side still takes the DR-level consistentHash (route.go
    portLevelSettingsConsistentHash returns nil for an entry without one)."""
    dr = rule(
        "trafficPolicy:\n  loadBalancer: {consistentHash: {httpHeaderName: x-user}}\n"
        "  portLevelSettings:\n    - port: {number: 80}\n      connectionPool: {tcp: {maxConnections: 5}}\n"
        + SUBSETS
    )
    named = SPLIT.replace("subset: v1}", "subset: v1, port: {number: 80}}").replace(
        "subset: v2}", "subset: v2, port: {number: 80}}"
    )
    scenario = load_mesh(["-"], stdin_text=PODS + SERVICE + dr + vs(named)).scenario()
    assert [d.lb.algorithm for d in scenario.routes[0].destinations] == ["simple", "simple"]
    dump = config_dump(scenario)
    assert {c.get("lb_policy") for c in clusters(dump).values()} == {"LEAST_REQUEST"}
    (route,) = routes(dump)
    assert route["route"]["hash_policy"] == [{"header": {"header_name": "x-user"}}] * 2
    # a subset's port-level entry without loadBalancer resets the subset's loadBalancer too
    dr2 = rule(
        "subsets:\n  - name: v1\n    labels: {version: v1}\n    trafficPolicy:\n"
        "      loadBalancer: {consistentHash: {httpHeaderName: x-user}}\n"
        "      portLevelSettings: [{port: {number: 80}, connectionPool: {tcp: {maxConnections: 5}}}]\n"
        "  - {name: v2, labels: {version: v2}}\n"
    )
    scenario = load_mesh(["-"], stdin_text=PODS + SERVICE + dr2 + vs(named)).scenario()
    assert scenario.routes[0].destinations[0].lb.algorithm == "simple"


def test_port_level_hash_only_for_the_named_port() -> None:
    """route.go portLevelSettingsConsistentHash: the route reads the entry of the port the
    destination names; the cluster of each port takes that port's own entry."""
    dr = rule(
        "trafficPolicy:\n  loadBalancer: {consistentHash: {httpHeaderName: top}}\n"
        "  portLevelSettings:\n    - port: {number: 90}\n"
        "      loadBalancer: {consistentHash: {httpHeaderName: admin, maglev: {tableSize: 251}}}\n"
    )
    for port, key, policy in ((80, "top", "RING_HASH"), (90, "admin", "MAGLEV")):
        http = f"- route: [{{destination: {{host: cart, port: {{number: {port}}}}}}}]"
        dump = dump_of(PODS, TWO_PORTS, dr, vs(http))
        (route,) = routes(dump)
        assert route["route"]["hash_policy"] == [{"header": {"header_name": key}}]
        (cluster,) = clusters(dump).values()
        assert cluster["name"] == f"outbound|{port}||cart.shop.svc.cluster.local"
        assert cluster["lb_policy"] == policy


def test_consistent_hash_without_a_key() -> None:
    """cluster_traffic_policy.go ApplyRingHashLoadBalancer: ConsistentHashLB{} is RING_HASH with a
    1024-entry ring; route.go ConsistentHashToHashPolicy emits no entry for it."""
    dump = dump_of(PODS, SERVICE, rule("trafficPolicy: {loadBalancer: {consistentHash: {}}}"))
    (cluster,) = clusters(dump).values()
    assert cluster["lb_policy"] == "RING_HASH"
    assert cluster["ring_hash_lb_config"] == {"minimum_ring_size": "1024"}
    (route,) = routes(dump)
    assert "hash_policy" not in route["route"]


def test_cookie_ttl_path_and_attributes() -> None:
    """route.go ConsistentHashToHashPolicy copies the cookie name, ttl, path and attributes;
    Envoy adds the attributes to the cookie it generates (both simulate paths do)."""
    dr = rule(
        "trafficPolicy:\n  loadBalancer:\n    consistentHash:\n      httpCookie:\n"
        "        name: session\n        path: /shop\n        ttl: 1.5s\n"
        "        attributes: [{name: SameSite, value: Strict}, {name: Partitioned}]\n"
    )
    text = PODS + SERVICE + dr
    (route,) = routes(dump_of(text))
    assert route["route"]["hash_policy"] == [
        {"cookie": {"name": "session", "ttl": "1.500s", "path": "/shop",
                    "attributes": [{"name": "SameSite", "value": "Strict"}, {"name": "Partitioned"}]}}
    ]  # fmt: skip
    request = Request(remote_address="10.9.0.1:4000", local_address="10.0.0.1:80")
    (engine,) = build_engines(load_mesh(["-"], stdin_text=text).scenario(), "envoy", seed=0)
    cookie = engine.route(request)[4]
    assert (
        cookie is not None and "; SameSite=Strict; Partitioned" in cookie and "Path=/shop" in cookie
    )
    config = load(dump_of(text))
    pick = config.pick(config.routes[0], request)
    assert pick.set_cookies == (cookie,)


def test_source_ip_and_query_parameter_entries() -> None:
    """route.go ConsistentHashToHashPolicy: useSourceIp -> connection_properties.source_ip,
    httpQueryParameterName -> query_parameter."""
    for ch, entry in (
        ("{useSourceIp: true}", {"connection_properties": {"source_ip": True}}),
        ("{httpQueryParameterName: user}", {"query_parameter": {"name": "user"}}),
    ):
        (route,) = routes(
            dump_of(
                PODS, SERVICE, rule(f"trafficPolicy: {{loadBalancer: {{consistentHash: {ch}}}}}")
            )
        )
        assert route["route"]["hash_policy"] == [entry]


def test_panic_threshold_from_min_health_percent_and_unhealthy_endpoints() -> None:
    """cluster_traffic_policy.go applyOutlierDetection (minHealthPercent -> healthy_panic_threshold)
    and applyLoadBalancer (0 when Istio sends unhealthy endpoints); xds/endpoints: UNHEALTHY."""
    od = rule(
        "trafficPolicy:\n  loadBalancer: {consistentHash: {httpHeaderName: x}}\n  outlierDetection: {minHealthPercent: 30}\n"
    )
    plain = rule("trafficPolicy: {loadBalancer: {consistentHash: {httpHeaderName: x}}}")
    cases = [
        (od, "omit", {"healthy_panic_threshold": {"value": 30.0}}, 2, 30.0),
        (plain, "omit", None, 2, 50.0),
        (plain, "auto", {"healthy_panic_threshold": {}}, 3, 0.0),
    ]
    for dr, mode, common, endpoints, threshold in cases:
        dump = dump_of(PODS, SERVICE, dr, unhealthy_endpoints=mode)
        (cluster,) = clusters(dump).values()
        assert cluster.get("common_lb_config") == common
        (assignment,) = assignments(dump).values()
        lb = [e for g in assignment["endpoints"] for e in g["lb_endpoints"]]
        assert [e["health_status"] for e in lb] == ["HEALTHY", "HEALTHY", "UNHEALTHY"][:endpoints]
        assert load(dump).cluster(cluster["name"]).healthy_panic_threshold == threshold


def test_matches_translate_as_istio_does() -> None:
    """route.go TranslateRouteMatch: headers and withoutHeaders sorted by name (invert_match,
    treat_missing_header_as_empty unless a presence test), uri exact/prefix/regex,
    case_sensitive, :method, query_parameters; regex '*' is a present_match."""
    http = """
    - match:
        - headers: {x-b: {prefix: be}, x-a: {regex: "*"}}
          withoutHeaders: {x-c: {exact: "no"}, x-d: {}}
          uri: {exact: /cart}
          ignoreUriCase: true
          method: {exact: POST}
          queryParams: {tenant: {exact: "7"}}
        - uri: {regex: "/api/.*"}
      route: [{destination: {host: cart}}]
    """
    dump = dump_of(
        PODS,
        SERVICE,
        rule("trafficPolicy: {loadBalancer: {consistentHash: {httpHeaderName: x}}}"),
        vs(http),
    )
    first, second = routes(dump)
    assert first["match"] == {
        "path": "/cart",
        "case_sensitive": False,
        "headers": [
            {"name": "x-a", "present_match": True},
            {"name": "x-b", "string_match": {"prefix": "be"}},
            {"name": "x-c", "string_match": {"exact": "no"}, "invert_match": True, "treat_missing_header_as_empty": True},
            {"name": "x-d", "present_match": True, "invert_match": True},
            {"name": ":method", "string_match": {"exact": "POST"}},
        ],
        "query_parameters": [{"name": "tenant", "string_match": {"exact": "7"}}],
    }  # fmt: skip
    assert second["match"] == {"safe_regex": {"regex": "/api/.*"}, "case_sensitive": True}
    config = load(dump)
    good = {"x-a": "1", "x-b": "beta", ":method": "POST", "x-c": "yes"}
    match = config.routes[0].match
    assert match.matches("/CART?tenant=7", good)
    assert not match.matches("/cart?tenant=8", good)  # the query parameter
    assert not match.matches("/cart?tenant=7", {**good, ":method": "GET"})
    assert not match.matches("/cart?tenant=7", {**good, "x-c": "no"})  # withoutHeaders
    assert not match.matches("/cart?tenant=7", {**good, "x-d": "1"})
    del good["x-c"]  # absent: treated as "" (treat_missing_header_as_empty), so not "no"
    assert match.matches("/cart?tenant=7", good)


def test_routes_stop_at_a_catch_all() -> None:
    """route.go BuildHTTPRoutesForVirtualService stops after a catch-all route (IsCatchAllRoute)."""
    http = """
    - match: [{uri: {prefix: /}}]
      route: [{destination: {host: cart, subset: v1}}]
    - route: [{destination: {host: cart, subset: v2}}]
    """
    dr = rule("trafficPolicy: {loadBalancer: {consistentHash: {httpHeaderName: x}}}\n" + SUBSETS)
    assert [r["route"]["cluster"] for r in routes(dump_of(PODS, SERVICE, dr, vs(http)))] == [V1]


def test_endpoints_grouped_by_priority_and_locality() -> None:
    """xds/endpoints: LocalityLbEndpoints per locality (and priority), with its summed weight."""
    scenario = load_mesh(["-"], stdin_text=PODS + SERVICE + rule("subsets: []")).scenario()
    plan = scenario.routes[0]
    d = plan.destinations[0]
    placed = tuple(
        replace(e, priority=i // 2, locality=("eu/a", "eu/b", "us/c")[i])
        for i, e in enumerate(d.endpoints)
    )
    scenario = replace(
        scenario, routes=(replace(plan, destinations=(replace(d, endpoints=placed),)),)
    )
    dump = config_dump(scenario)
    (assignment,) = assignments(dump).values()
    groups = [
        (g.get("priority", 0), g["locality"], len(g["lb_endpoints"]), g["load_balancing_weight"])
        for g in assignment["endpoints"]
    ]
    assert groups == [
        (0, {"region": "eu", "zone": "a"}, 1, 1),
        (0, {"region": "eu", "zone": "b"}, 1, 1),
        (1, {"region": "us", "zone": "c"}, 1, 1),
    ]
    hosts = load(dump).cluster(next(iter(clusters(dump)))).hosts
    assert [(h.priority, h.locality) for h in hosts] == [(0, "eu/a"), (0, "eu/b"), (1, "us/c")]


def test_config_dump_of_scenarios_and_hosts() -> None:
    """A Scenario, a list of them, or a Mesh (all hosts, or those named) give the same document."""
    mesh = load_mesh([str(EXAMPLE)])
    scenario = mesh.scenario()
    assert config_dump(scenario) == config_dump([scenario]) == config_dump(mesh)
    assert config_dump(mesh, hosts=[scenario.host]) == config_dump(mesh)
    assert isinstance(scenario, Scenario)


# --------------------------------------------------------------------------
# hashlb translate


def test_translate_prints_and_writes_the_same_json(tmp_path: Path) -> None:
    code, out, err = run(["translate", "-f", EXAMPLE])
    assert code == 0, err
    target = tmp_path / "dump.json"
    code, out2, err = run(["translate", "-f", EXAMPLE, "-o", target])
    assert code == 0 and out2 == "", err
    assert (
        json.loads(out)
        == json.loads(target.read_text(encoding="utf-8"))
        == config_dump(load_mesh([str(EXAMPLE)]))
    )


def test_translate_bad_input_one_line_exit_2_nothing_written(
    impl: Implementation, tmp_path: Path
) -> None:
    """Bad YAML is one line naming FILE:LINE, exit 2; an existing -o file is left as it was."""
    bad = write(
        tmp_path / "mesh" / "dr.yaml",
        rule("trafficPolicy: {loadBalancer: {consistentHash: {ringHash: 5}}}"),
    )
    target = tmp_path / "dump.json"
    target.write_text("old", encoding="utf-8")
    proc = run_cli(impl, "translate", "-f", bad.parent, "-o", target)
    assert proc.returncode == 2 and proc.stdout == ""
    line = error_line(proc)
    assert line.startswith("hashlb translate: error: ") and f"{bad}:" in line and "ringHash" in line
    assert target.read_text(encoding="utf-8") == "old"
    code, _, err = run(["translate", "-f", EXAMPLE, "--host", "nope", "-o", target])
    assert code == 2 and "--host 'nope': no such host" in err
    assert target.read_text(encoding="utf-8") == "old"


def test_translate_options_match_simulate(tmp_path: Path) -> None:
    """--namespace, --cluster-domain and --unhealthy-endpoints mean what they mean for simulate -f."""
    dr = rule("trafficPolicy: {loadBalancer: {consistentHash: {httpHeaderName: x}}}")
    write(tmp_path / "m.yaml", (PODS + SERVICE + dr).replace("namespace: shop", "namespace: web"))
    code, out, err = run(
        [
            "translate",
            "-f",
            tmp_path / "m.yaml",
            "-n",
            "web",
            "--cluster-domain",
            "corp",
            "--unhealthy-endpoints",
            "omit",
        ]
    )
    assert code == 0, err
    dump = json.loads(out)
    assert list(clusters(dump)) == ["outbound|80||cart.web.svc.corp"]
    (assignment,) = assignments(dump).values()
    assert len(assignment["endpoints"][0]["lb_endpoints"]) == 2  # the pod not Ready is omitted


def test_locality_priorities_and_distribute_weights_in_the_dump() -> None:
    """loadbalancer.go: failover priorities go to EDS ``priority``; ``distribute`` sets the
    locality weights and ``locality_weighted_lb_config``; the node's locality (the client) is
    the bootstrap ``node.locality``, from which Envoy orders the localities."""
    from . import test_istio_locality as loc

    text = loc._mesh([loc._pod(0, "r/z1"), loc._pod(1, "r/z2"), loc._pod(2, "q/z9")], loc.OUTLIER)
    dump = config_dump(load_mesh(["-"], stdin_text=text), source_locality="r.z1")
    bootstrap = dump["configs"][0]
    assert bootstrap["bootstrap"]["node"]["locality"] == {"region": "r", "zone": "z1"}
    (assignment,) = assignments(dump).values()
    got = [(g.get("priority", 0), g["locality"]) for g in assignment["endpoints"]]
    assert sorted(got, key=lambda g: g[0]) == [
        (0, {"region": "r", "zone": "z1"}),
        (1, {"region": "r", "zone": "z2"}),
        (2, {"region": "q", "zone": "z9"}),
    ]
    config = load(dump)
    (cluster,) = config.clusters.values()
    assert cluster.node_locality == "r/z1"
    assert sorted((h.priority, h.locality) for h in cluster.hosts) == [
        (0, "r/z1"),
        (1, "r/z2"),
        (2, "q/z9"),
    ]
    lb = 'localityLbSetting:\n  distribute: [{from: "r/*", to: {"r/z1": 75, "r/z2": 25}}]'
    text = loc._mesh([loc._pod(0, "r/z1"), loc._pod(1, "r/z2")], lb=lb)
    dump = config_dump(load_mesh(["-"], stdin_text=text), source_locality="r/z2")
    (c,) = clusters(dump).values()
    assert c["common_lb_config"]["locality_weighted_lb_config"] == {}
    (assignment,) = assignments(dump).values()
    weights = {g["locality"]["zone"]: g["load_balancing_weight"] for g in assignment["endpoints"]}
    assert weights == {"z1": 75, "z2": 25}
    (cluster,) = load(dump).clusters.values()
    assert cluster.locality_weighted and cluster.endpoints is not None
    assert dict(cluster.endpoints.locality_weights) == {"r/z1": 75, "r/z2": 25}
    # without a client locality: no bootstrap, every endpoint at priority 0
    plain = config_dump(load_mesh(["-"], stdin_text=text))
    assert [c["@type"] for c in plain["configs"]] == [CLUSTERS_DUMP, ROUTES_DUMP, ENDPOINTS_DUMP]
