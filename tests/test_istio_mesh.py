"""hashlb.istio, the YAML layer of ``hashlb simulate``: Istio/Kubernetes YAML -> routing model (spec §10)."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from hashlb.istio import HOST_LABEL, HashKey, InputError, Mesh, load_mesh, resolve_host
from hashlb.istio._yaml import LDict, load_yaml_documents

from ._cli import EXAMPLE
from ._impl import Implementation

PODS = """
apiVersion: v1
kind: List
items:
  - apiVersion: v1
    kind: Pod
    metadata: {name: web-a, namespace: shop, labels: {app: web, version: v1}}
    spec: {containers: [{name: c, ports: [{containerPort: 8080, name: http}]}]}
    status: {phase: Running, podIP: 10.1.0.1}
  - apiVersion: v1
    kind: Pod
    metadata: {name: web-b, namespace: shop, labels: {app: web, version: v2}}
    spec: {containers: [{name: c, ports: [{containerPort: 8080, name: http}]}]}
    status: {phase: Running, podIP: 10.1.0.2}
  - apiVersion: v1
    kind: Pod
    metadata: {name: web-old, namespace: shop, labels: {app: web, version: v1}}
    status: {phase: Succeeded, podIP: 10.1.0.9}
"""


def mesh_of(*texts: str, namespace: str = "default", unhealthy_endpoints: str = "auto") -> Mesh:
    """Return a finished Mesh from YAML texts (one file each)."""
    m = Mesh(namespace=namespace, unhealthy_endpoints=unhealthy_endpoints)
    for i, t in enumerate(texts):
        m.add_text(textwrap.dedent(t), f"f{i}.yaml")
    m.finish()
    return m


def rule(spec: str, *, api: str = "networking.istio.io/v1alpha3", ns: str = "shop") -> str:
    """Return a DestinationRule document with an indented *spec* body."""
    body = textwrap.indent(textwrap.dedent(spec).strip(), "  ")
    return f"apiVersion: {api}\nkind: DestinationRule\nmetadata: {{name: dr, namespace: {ns}}}\nspec:\n{body}\n"


def vs(http: str, *, api: str = "networking.istio.io/v1alpha3", host: str = "web") -> str:
    """Return a VirtualService for *host* in namespace shop with an indented http body."""
    body = textwrap.indent(textwrap.dedent(http).strip(), "    ")
    return (
        f"apiVersion: {api}\nkind: VirtualService\nmetadata: {{name: vs, namespace: shop}}\n"
        f"spec:\n  hosts: [{host}]\n  http:\n{body}\n"
    )


SPLIT = """
- route:
  - destination: {host: web, subset: v1}
    weight: 90
  - destination: {host: web.shop.svc.cluster.local, subset: v2}
    weight: 10
"""
SUBSETS = """
subsets:
  - {name: v1, labels: {version: v1}}
  - {name: v2, labels: {version: v2}}
"""


def test_positions_of_keys_and_items() -> None:
    """Mappings and sequences remember FILE:LINE of themselves, each key and each item."""
    ((doc, where),) = load_yaml_documents("a: 1\nb:\n  - x\n  - y: 2\n", "m.yaml")
    assert isinstance(doc, LDict) and str(where) == "m.yaml:1"
    assert str(doc.at("b")) == "m.yaml:2" and str(doc["b"].at(1)) == "m.yaml:4"
    assert str(doc["b"][1].at("y")) == "m.yaml:4"


@pytest.mark.parametrize(
    ("text", "line", "message"),
    [
        ("a: 1\nb: 2\na: 3\n", 3, "duplicate key 'a' (first at line 1)"),
        ("spec:\n  host: web\n  host: api\n", 3, "duplicate key 'host' (first at line 2)"),
        ("a: {k: 1, k: 2}\n", 1, "duplicate key 'k' (first at line 1)"),
        ("1: a\n'1': b\n", 2, "duplicate key '1' (first at line 1)"),  # one key once read
    ],
)
def test_duplicate_keys_are_refused_with_their_line(text: str, line: int, message: str) -> None:
    """kubectl's strict decoding refuses a repeated key; silently keeping the last one hides typos."""
    with pytest.raises(InputError) as e:
        load_yaml_documents(text, "mesh.yaml")
    assert str(e.value) == f"mesh.yaml:{line}: {message}"


def test_merge_keys_may_be_overridden() -> None:
    """``<<: *anchor`` then an explicit key is YAML's override, not a duplicate."""
    ((doc, _),) = load_yaml_documents("b: &b {x: 1, y: 2}\nm: {<<: *b, x: 5}\n", "m.yaml")
    assert doc["m"] == {"x": 5, "y": 2}


def test_example_loads_as_the_seed_describes() -> None:
    """The shipped example: 2 safe + 1 risky pod, 90/10, header x-myval, ring 1024, Istio's 2 policies."""
    m = load_mesh([str(EXAMPLE)])
    sc = m.scenario()
    assert sc.host == "fleetman-staff-service.default.svc.cluster.local"
    (plan,) = sc.routes
    assert plan.weights == {"safe": 90, "risky": 10}
    assert [len(d.endpoints) for d in plan.destinations] == [2, 1]
    assert all(e.address.endswith(":8080") for d in plan.destinations for e in d.endpoints)
    assert {d.lb.algorithm for d in plan.destinations} == {"ring_hash"}
    assert {d.lb.min_ring_size for d in plan.destinations} == {1024}
    assert plan.hash_keys == (HashKey("header", "x-myval"), HashKey("header", "x-myval"))


def test_synthetic_addresses_are_stable_and_documented(impl: Implementation) -> None:
    """Deployment pods get 10.X.Y.(i+2) with X.Y from xxh64("ns/name"), whatever the file order."""
    xxh64 = impl.module("hashing").xxh64
    dep = EXAMPLE / "deployments.yaml"
    a = load_mesh([str(dep), str(EXAMPLE / "virtualservice.yaml")])
    b = load_mesh([str(EXAMPLE / "virtualservice.yaml"), str(dep)])
    assert [p.ip for p in a.pods] == [p.ip for p in b.pods]
    block = xxh64("default/staff-service") & 0xFFFF
    assert [p.ip for p in a.pods if p.owner == "Deployment staff-service"] == [
        f"10.{block >> 8}.{block & 0xFF}.2",
        f"10.{block >> 8}.{block & 0xFF}.3",
    ]
    assert all(p.synthetic for p in a.pods)


def test_kubectl_pod_list_real_ips_and_terminated_pods() -> None:
    """A `kubectl get pods -o yaml` List gives podIP endpoints; Succeeded pods are skipped."""
    m = mesh_of(PODS, rule("host: web\n" + SUBSETS), vs(SPLIT))
    assert [(p.name, p.ip, p.synthetic) for p in m.pods] == [
        ("web-a", "10.1.0.1", False),
        ("web-b", "10.1.0.2", False),
    ]
    plan = m.scenario().routes[0]
    assert [[e.address for e in d.endpoints] for d in plan.destinations] == [
        ["10.1.0.1:8080"],
        ["10.1.0.2:8080"],
    ]


def test_real_pods_replace_a_deployments_synthetic_ones() -> None:
    """A Deployment whose selector matches given Pods adds no synthetic pods."""
    dep = """
    apiVersion: apps/v1
    kind: Deployment
    metadata: {name: web, namespace: shop}
    spec:
      replicas: 5
      selector: {matchLabels: {app: web}}
      template: {metadata: {labels: {app: web, version: v1}}}
    """
    m = mesh_of(PODS, dep)
    assert len(m.pods) == 2 and not any(p.synthetic for p in m.pods)


@pytest.mark.parametrize("kind", ["Deployment", "StatefulSet", "ReplicaSet"])
def test_workload_kinds_and_replicas(kind: str) -> None:
    """Workloads give `replicas` pods (default 1) with the template labels and ports."""
    doc = f"""
    apiVersion: apps/v1
    kind: {kind}
    metadata: {{name: api}}
    spec:
      replicas: 3
      selector: {{matchLabels: {{app: api}}}}
      template:
        metadata: {{labels: {{app: api, version: v1}}}}
        spec: {{containers: [{{name: c, ports: [{{containerPort: 9000}}]}}]}}
    """
    m = mesh_of(doc)
    assert [p.name for p in m.pods] == ["api-0", "api-1", "api-2"]
    assert {p.ports for p in m.pods} == {(("", 9000),)}
    assert {p.namespace for p in m.pods} == {"default"}


def test_service_selector_and_named_target_port() -> None:
    """With a Service, pods come from its selector and endpoints use its (named) targetPort."""
    svc = """
    apiVersion: v1
    kind: Service
    metadata: {name: web, namespace: shop}
    spec:
      selector: {app: web}
      ports: [{name: http, port: 80, targetPort: http}]
    """
    m = mesh_of(PODS, svc, rule("host: web\n" + SUBSETS), vs(SPLIT))
    plan = m.scenario().routes[0]
    assert [d.port for d in plan.destinations] == [80, 80]
    assert plan.destinations[0].endpoints[0].address == "10.1.0.1:8080"


@pytest.mark.parametrize("api", ["v1alpha3", "v1beta1", "v1"])
def test_istio_api_versions(api: str) -> None:
    """DestinationRule and VirtualService load from v1alpha3, v1beta1 and v1."""
    full = f"networking.istio.io/{api}"
    m = mesh_of(PODS, rule("host: web\n" + SUBSETS, api=full), vs(SPLIT, api=full))
    assert m.scenario().routes[0].weights == {"v1": 90, "v2": 10}


def test_host_matching_short_name_fqdn_and_namespace_default() -> None:
    """Short names resolve in the resource's namespace; names with dots are kept (as Istio does)."""
    assert resolve_host("web", "shop", "cluster.local") == "web.shop.svc.cluster.local"
    assert resolve_host("Web.Shop.svc.cluster.local", "x", "cluster.local") == (
        "web.shop.svc.cluster.local"
    )
    assert resolve_host("web.shop", "x", "cluster.local") == "web.shop"
    # a rule without a namespace lives in "default" (or -n): it does not match shop's host
    bare = rule("host: web\n" + SUBSETS, ns="default").replace(", namespace: default", "")
    m = mesh_of(PODS, bare, vs(SPLIT))
    with pytest.raises(InputError, match="no DestinationRule has that host"):
        m.scenario()
    m = mesh_of(PODS, bare, vs(SPLIT), namespace="shop")
    assert m.scenario().routes[0].weights == {"v1": 90, "v2": 10}


def test_wildcard_rule_and_most_specific_wins() -> None:
    """A `*.shop.svc.cluster.local` rule applies; an exact-host rule beats it."""
    wild = rule(
        "host: '*.shop.svc.cluster.local'\ntrafficPolicy: {loadBalancer: {consistentHash: {useSourceIp: true}}}\n"
        + SUBSETS
    )
    m = mesh_of(PODS, wild, vs(SPLIT))
    assert m.scenario().routes[0].hash_keys == (HashKey("source_ip"), HashKey("source_ip"))
    exact = rule(
        "host: web\ntrafficPolicy: {loadBalancer: {consistentHash: {httpHeaderName: X-User}}}\n"
        + SUBSETS
    )
    m = mesh_of(PODS, wild, exact, vs(SPLIT))
    assert m.scenario().routes[0].hash_keys == (HashKey("header", "x-user"),) * 2


@pytest.mark.parametrize(
    ("ch", "algorithm", "ring", "table"),
    [
        ("{httpHeaderName: x}", "ring_hash", 1024, 65537),
        ("{httpHeaderName: x, minimumRingSize: 4096}", "ring_hash", 4096, 65537),
        ("{httpHeaderName: x, ringHash: {minimumRingSize: 2048}}", "ring_hash", 2048, 65537),
        ("{httpHeaderName: x, ringHash: {}}", "ring_hash", 1024, 65537),
        ("{httpHeaderName: x, maglev: {tableSize: 251}}", "maglev", 1024, 251),
        ("{httpHeaderName: x, maglev: {}}", "maglev", 1024, 65537),
    ],
)
def test_table_settings(ch: str, algorithm: str, ring: int, table: int) -> None:
    """ringHash.minimumRingSize, maglev.tableSize and the deprecated minimumRingSize map as Istio maps them."""
    m = mesh_of(
        PODS,
        rule(f"host: web\ntrafficPolicy: {{loadBalancer: {{consistentHash: {ch}}}}}\n" + SUBSETS),
        vs(SPLIT),
    )
    lb = m.scenario().routes[0].destinations[0].lb
    assert (lb.algorithm, lb.min_ring_size, lb.table_size) == (algorithm, ring, table)


@pytest.mark.parametrize(
    ("ch", "key"),
    [
        ("{httpHeaderName: X-User}", HashKey("header", "x-user")),
        ("{httpCookie: {name: sid, path: /, ttl: 3600s}}", HashKey("cookie", "sid", "/", 3600.0)),
        ("{httpCookie: {name: sid, ttl: 1h30m}}", HashKey("cookie", "sid", "", 5400.0)),
        ("{httpCookie: {name: sid}}", HashKey("cookie", "sid")),
        ("{useSourceIp: true}", HashKey("source_ip")),
        ("{httpQueryParameterName: user}", HashKey("query", "user")),
    ],
)
def test_the_four_hash_keys(ch: str, key: HashKey) -> None:
    """Each consistentHash key becomes the matching hash policy entry."""
    m = mesh_of(
        PODS,
        rule(f"host: web\ntrafficPolicy: {{loadBalancer: {{consistentHash: {ch}}}}}\n" + SUBSETS),
        vs(SPLIT),
    )
    assert m.scenario().routes[0].hash_keys == (key, key)


def test_use_source_ip_false_emits_no_policy() -> None:
    """useSourceIp: false keeps the ring but emits no hash policy (Envoy: random)."""
    m = mesh_of(
        PODS,
        rule(
            "host: web\ntrafficPolicy: {loadBalancer: {consistentHash: {useSourceIp: false}}}\n"
            + SUBSETS
        ),
        vs(SPLIT),
    )
    plan = m.scenario().routes[0]
    assert plan.hash_keys == () and plan.destinations[0].lb.algorithm == "ring_hash"


PRECEDENCE = """
host: web
trafficPolicy:
  loadBalancer: {consistentHash: {httpHeaderName: dr-top}}
  portLevelSettings:
    - port: {number: 8080}
      loadBalancer: {consistentHash: {httpHeaderName: dr-port}}
subsets:
  - name: v1
    labels: {version: v1}
    trafficPolicy:
      loadBalancer: {consistentHash: {httpHeaderName: subset}}
      portLevelSettings:
        - port: {number: 8080}
          loadBalancer: {consistentHash: {httpHeaderName: subset-port}}
  - name: v2
    labels: {version: v2}
    trafficPolicy:
      loadBalancer: {consistentHash: {httpHeaderName: subset}}
"""


@pytest.mark.parametrize(
    ("port", "v1", "v2"),
    [(8080, "subset-port", "subset"), (9090, "subset", "subset")],
)
def test_override_precedence_subset_port_subset_rule_port_rule(port: int, v1: str, v2: str) -> None:
    """Subset port-level beats subset, which beats rule port-level, which beats the rule."""
    split = SPLIT.replace("subset: v1}", f"subset: v1, port: {{number: {port}}}}}").replace(
        "subset: v2}", f"subset: v2, port: {{number: {port}}}}}"
    )
    m = mesh_of(PODS, rule(PRECEDENCE), vs(split))
    keys = m.scenario().routes[0].hash_keys
    assert keys == (HashKey("header", v1), HashKey("header", v2))


def test_rule_port_level_beats_rule_top_level() -> None:
    """Without subset policies, the rule's port-level setting wins for the port the destination
    names; a destination that names no port hashes on the rule's top level, even when the
    Service has only that port (route.go portLevelSettingsConsistentHash: `if dst.Port != nil`)."""
    text = PRECEDENCE.split("subsets:")[0] + SUBSETS
    m = mesh_of(PODS, rule(text), vs(SPLIT))
    assert m.scenario().routes[0].hash_keys == (HashKey("header", "dr-top"),) * 2
    for port, key in ((8080, "dr-port"), (9090, "dr-top")):
        split = SPLIT.replace("subset: v1}", f"subset: v1, port: {{number: {port}}}}}").replace(
            "subset: v2}", f"subset: v2, port: {{number: {port}}}}}"
        )
        m = mesh_of(PODS, rule(text), vs(split))
        assert m.scenario().routes[0].hash_keys == (HashKey("header", key),) * 2, port


def test_simple_load_balancer_overrides_a_hash() -> None:
    """A subset with `simple: ROUND_ROBIN` balances simply, but the route still carries the
    rule's consistentHash for it: Istio's HashForHTTPDestination reads only consistentHash
    fields (spec-2 §18.1), so both destinations add a policy entry."""
    text = "host: web\ntrafficPolicy: {loadBalancer: {consistentHash: {httpHeaderName: x}}}\nsubsets:\n  - {name: v1, labels: {version: v1}, trafficPolicy: {loadBalancer: {simple: ROUND_ROBIN}}}\n  - {name: v2, labels: {version: v2}}\n"
    plan = mesh_of(PODS, rule(text), vs(SPLIT)).scenario().routes[0]
    assert [d.lb.algorithm for d in plan.destinations] == ["simple", "ring_hash"]
    assert [d.lb.hash_key for d in plan.destinations] == [None, HashKey("header", "x")]
    assert plan.hash_keys == (HashKey("header", "x"), HashKey("header", "x"))


def test_zero_weight_destinations_are_dropped() -> None:
    """A 0-weight destination (the seed's risky: 0) is dropped with its policy entry."""
    split = SPLIT.replace("weight: 10\n", "weight: 0\n").replace("weight: 90", "weight: 100")
    m = mesh_of(
        PODS,
        rule(
            "host: web\ntrafficPolicy: {loadBalancer: {consistentHash: {httpHeaderName: x}}}\n"
            + SUBSETS
        ),
        vs(split),
    )
    plan = m.scenario().routes[0]
    assert plan.weights == {"v1": 100} and plan.hash_keys == (HashKey("header", "x"),)


def test_single_destination_takes_all_traffic() -> None:
    """One destination without a weight gets everything (the seed's all-pods example)."""
    m = load_mesh([str(EXAMPLE / "variants" / "all-pods"), str(EXAMPLE / "deployments.yaml")])
    (plan,) = m.scenario().routes
    assert plan.weights == {"all-staff-service-pods": 100}
    assert len(plan.destinations[0].endpoints) == 3


def test_destinations_on_two_services_get_distinct_selectors() -> None:
    """Destinations on different hosts are named host/subset and select by service."""
    two = """
    apiVersion: networking.istio.io/v1
    kind: DestinationRule
    metadata: {name: dr2, namespace: shop}
    spec:
      host: api
      subsets: [{name: v1, labels: {version: v1}}]
    ---
    apiVersion: v1
    kind: Service
    metadata: {name: api, namespace: shop}
    spec: {selector: {app: web}, ports: [{port: 8080}]}
    """
    split = SPLIT.replace("web.shop.svc.cluster.local, subset: v2", "api, subset: v1")
    m = mesh_of(PODS, rule("host: web\n" + SUBSETS), two, vs(split))
    plan = m.scenario().routes[0]
    assert [d.name for d in plan.destinations] == ["web/v1", "api/v1"]
    assert plan.destinations[1].selector == {
        HOST_LABEL: "api.shop.svc.cluster.local",
        "version": "v1",
    }


def test_http_routes_with_matches_are_kept_in_order() -> None:
    """Each http route becomes a plan; `match` blocks are kept for request matching."""
    http = """
    - name: pinned
      match: [{headers: {x-canary: {exact: "yes"}}}]
      route: [{destination: {host: web, subset: v2}}]
    - route: [{destination: {host: web, subset: v1}}]
    """
    m = mesh_of(PODS, rule("host: web\n" + SUBSETS), vs(http))
    routes = m.scenario().routes
    assert [r.name for r in routes] == ["pinned", "http[1]"]
    assert routes[0].matches is not None and routes[1].matches is None


def test_duplicate_rules_merge_as_istio_does() -> None:
    """Two rules for one host: the first sets the policy, subsets are united."""
    a = rule(
        "host: web\ntrafficPolicy: {loadBalancer: {consistentHash: {httpHeaderName: a}}}\nsubsets: [{name: v1, labels: {version: v1}}]"
    )
    b = rule(
        "host: web\ntrafficPolicy: {loadBalancer: {consistentHash: {httpHeaderName: b}}}\nsubsets: [{name: v2, labels: {version: v2}}]"
    )
    m = mesh_of(PODS, a, b, vs(SPLIT))
    assert m.scenario().routes[0].hash_keys == (HashKey("header", "a"),) * 2


def test_stdin_and_directory_expansion(tmp_path: Path) -> None:
    """-f DIR reads its .yaml/.yml/.json files in name order; '-' reads stdin."""
    (tmp_path / "b.yml").write_text(textwrap.dedent(PODS))
    (tmp_path / "a.yaml").write_text(rule("host: web\n" + SUBSETS))
    (tmp_path / "notes.txt").write_text("not yaml: [")
    m = load_mesh([str(tmp_path), "-"], stdin_text=vs(SPLIT))
    assert m.scenario().routes[0].weights == {"v1": 90, "v2": 10}


def test_not_ready_and_terminating_pods_get_no_endpoint() -> None:
    """Istio sends no endpoint for a pod whose Ready condition is False, or one being deleted."""
    pods = PODS.replace(
        "status: {phase: Running, podIP: 10.1.0.2}",
        "status: {phase: Running, podIP: 10.1.0.2, conditions: [{type: Ready, status: 'False'}]}",
    )
    extra = """
    apiVersion: v1
    kind: Pod
    metadata: {name: web-c, namespace: shop, labels: {app: web, version: v1},
               deletionTimestamp: "2026-12-01T00:00:00Z"}
    spec: {containers: [{name: c, ports: [{containerPort: 8080, name: http}]}]}
    status: {phase: Running, podIP: 10.1.0.3, conditions: [{type: Ready, status: 'True'}]}
    """
    m = mesh_of(pods, extra, rule("host: web\n" + SUBSETS), vs(SPLIT))
    assert [p.name for p in m.pods] == ["web-a"]
    assert any("web-b" in n and "not Ready" in n for n in m.notes)
    assert any("web-c" in n and "terminating" in n for n in m.notes)
    ready = PODS.replace(
        "status: {phase: Running, podIP: 10.1.0.2}",
        "status: {phase: Running, podIP: 10.1.0.2, conditions: [{type: Ready, status: 'True'}]}",
    )
    assert [p.name for p in mesh_of(ready, rule("host: web\n" + SUBSETS), vs(SPLIT)).pods] == [
        "web-a",
        "web-b",
    ]


def test_a_subset_whose_pods_are_all_not_ready_says_why() -> None:
    """Every pod of a subset not Ready: Istio before 1.31 sends no endpoint (the error names
    the pods and Envoy's 503); 1.31 sends them UNHEALTHY, with panic off (every request 503s)."""
    pods = PODS.replace(
        "status: {phase: Running, podIP: 10.1.0.2}",
        "status: {phase: Running, podIP: 10.1.0.2, conditions: [{type: Ready, status: 'False'}]}",
    )
    texts = (pods, rule("host: web\n" + SUBSETS), vs(SPLIT))
    with pytest.raises(InputError, match="its pods 'web-b' are not Ready or terminating"):
        mesh_of(*texts, unhealthy_endpoints="omit").scenario()
    (route,) = mesh_of(*texts).scenario().routes
    healths = {e.pod.name: (e.health, d.health) for d in route.destinations for e in d.endpoints}
    health, cluster = healths["web-b"]
    assert health == "unhealthy" and cluster.unhealthy_sent and cluster.panic_threshold == 0
