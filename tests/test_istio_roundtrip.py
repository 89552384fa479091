"""``hashlb translate``: the dump Istio would generate, and the round trip through it.

For every Istio input of the test suite (:data:`MESHES`: the example, the
meshes of the CLI and Istio tests, the ``istio`` cases of
envoy-vectors-2.json), ``simulate -f`` and ``translate | simulate
--envoy-config`` give the same decision for every request
(:func:`tests._roundtrip.round_trip`).  The translation rules are tested one
by one on the dump, each against the Istio source that makes it.
"""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

pytest.importorskip("yaml")  # the istio extra; the test extra installs it

from hashlb.envoy import load
from hashlb.istio import config_dump, load_mesh
from hashlb.istio.xds import CLUSTERS_DUMP, ENDPOINTS_DUMP, ROUTES_DUMP

from . import test_cli_simulate as cli_tests
from . import test_istio_health as health_tests
from . import test_istio_locality as locality_tests
from . import test_istio_mesh as mesh_tests
from . import test_istio_vectors2 as vector_tests
from ._cli import EXAMPLE, write
from ._roundtrip import round_trip, write_requests

# --------------------------------------------------------------------------
# The meshes of the test suite, as (files under tmp, round_trip options).

MULTI_ROUTE = """
apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata: {name: web, namespace: shop}
spec:
  host: web
  trafficPolicy:
    loadBalancer:
      consistentHash:
        httpCookie: {name: session, path: /, ttl: 60s, attributes: [{name: SameSite, value: Lax}, {name: Secure}]}
  subsets:
    - name: v1
      labels: {version: v1}
    - name: v2
      labels: {version: v2}
      trafficPolicy: {loadBalancer: {consistentHash: {httpHeaderName: x-user, maglev: {tableSize: 251}}}}
---
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: web, namespace: shop}
spec:
  hosts: [web]
  http:
    - name: canary
      match:
        - name: flagged
          headers: {x-canary: {exact: "yes"}}
        - uri: {prefix: /static}
          method: {exact: GET}
      route:
        - destination: {host: web, subset: v2}
    - name: api
      match:
        - uri: {regex: "/api.*"}
          ignoreUriCase: true
      route:
        - destination: {host: web, subset: v1}
          weight: 70
        - destination: {host: web, subset: v2}
          weight: 30
    - route:
        - destination: {host: web, subset: v1}
"""


MATCH_FEATURES = cli_tests.mesh(
    "{loadBalancer: {consistentHash: {httpHeaderName: x-user}}}",
    """
    - name: tenant
      match: [{queryParams: {user: {regex: "u1.*"}}}]
      route: [{destination: {host: web, subset: v2}}]
    - name: not-canary
      match: [{withoutHeaders: {x-canary: {exact: "yes"}}, uri: {prefix: /api}}]
      route: [{destination: {host: web, subset: v1}}]
    - name: anyone
      match: [{headers: {x-user: {regex: "*"}}, method: {prefix: PO}}]
      route: [{destination: {host: web, subset: v2}}]
""",
)


def _text(text: str) -> Callable[[Path], list[Path]]:
    def files(tmp: Path) -> list[Path]:
        return [write(tmp / "mesh" / "mesh.yaml", text)]

    return files


def _paths(*paths: Path) -> Callable[[Path], list[Path]]:
    return lambda tmp: list(paths)


def _vector(case: dict[str, Any]) -> Callable[[Path], list[Path]]:
    def files(tmp: Path) -> list[Path]:
        path = tmp / "mesh" / "mesh.yaml"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(vector_tests._mesh_yaml(case), encoding="utf-8")
        return [path]

    return files


def _health(**kw: Any) -> Callable[[Path], list[Path]]:
    pods = [health_tests._pod(i) for i in range(3)]
    pods += [health_tests._pod(i, version="v2", ready=i > 0) for i in range(3)]
    pods.append(health_tests._pod(9, health="unhealthy"))
    return _text(health_tests._mesh(pods, split=True, **kw))


_PM = mesh_tests
_SPLIT_PORTS = _PM.SPLIT.replace("subset: v1}", "subset: v1, port: {number: 8080}}").replace(
    "subset: v2}", "subset: v2, port: {number: 8080}}"
)
_SIMPLE_SUBSET = (
    "host: web\ntrafficPolicy: {loadBalancer: {consistentHash: {httpHeaderName: x-user}}}\n"
    "subsets:\n  - {name: v1, labels: {version: v1}, trafficPolicy: {loadBalancer: "
    "{simple: ROUND_ROBIN}}}\n  - {name: v2, labels: {version: v2}}\n"
)
_PORT_RESET = (
    "host: web\ntrafficPolicy:\n  loadBalancer: {consistentHash: {httpHeaderName: x-user}}\n"
    "  portLevelSettings:\n    - port: {number: 8080}\n      connectionPool: {tcp: {maxConnections: 9}}\n"
    + _PM.SUBSETS
)

#: id -> (files of the mesh, written under tmp_path; round_trip keyword arguments).
MESHES: dict[str, tuple[Callable[[Path], list[Path]], dict[str, Any]]] = {
    "example-canary": (_paths(EXAMPLE), {}),
    "example-canary-requests": (_paths(EXAMPLE), {"requests": True, "stdin": True}),
    "example-all-pods": (
        _paths(EXAMPLE / "variants" / "all-pods", EXAMPLE / "deployments.yaml"),
        {"requests": True},
    ),
    "example-source-ip": (
        _paths(EXAMPLE / "variants" / "source-ip", EXAMPLE / "deployments.yaml"),
        {"requests": True},
    ),
    **{f"vectors2-{c['name']}": (_vector(c), {"requests": True}) for c in vector_tests.CASES},
    "mesh-precedence-port": (
        _text(_PM.PODS + "---\n" + _PM.rule(_PM.PRECEDENCE) + "---\n" + _PM.vs(_SPLIT_PORTS)),
        {"requests": True},
    ),
    "mesh-precedence-no-port": (
        _text(_PM.PODS + "---\n" + _PM.rule(_PM.PRECEDENCE) + "---\n" + _PM.vs(_PM.SPLIT)),
        {"requests": True},
    ),
    "mesh-simple-subset": (
        _text(_PM.PODS + "---\n" + _PM.rule(_SIMPLE_SUBSET) + "---\n" + _PM.vs(_PM.SPLIT)),
        {"requests": True},
    ),
    "mesh-port-level-without-lb": (
        _text(_PM.PODS + "---\n" + _PM.rule(_PORT_RESET) + "---\n" + _PM.vs(_SPLIT_PORTS)),
        {"requests": True},
    ),
    "mesh-dr-only": (
        _text(
            _PM.PODS
            + "---\n"
            + _PM.rule(
                "host: web\ntrafficPolicy: {loadBalancer: {consistentHash: {useSourceIp: true}}}"
            )
        ),
        {"requests": True},
    ),
    "cli-split-cookie": (
        _text(
            cli_tests.PODS
            + "---\n"
            + cli_tests.mesh(
                "{loadBalancer: {consistentHash: {httpCookie: {name: sid, ttl: 3600s}}}}",
                cli_tests.SPLIT,
            )
        ),
        {},
    ),
    "cli-one-maglev": (
        _text(
            cli_tests.PODS
            + "---\n"
            + cli_tests.mesh(
                "{loadBalancer: {consistentHash: {httpHeaderName: x-user, maglev: {tableSize: 1021}}}}",
                cli_tests.ONE,
            )
        ),
        {"requests": True},
    ),
    "cli-query-parameter": (
        _text(
            cli_tests.PODS
            + "---\n"
            + cli_tests.mesh(
                "{loadBalancer: {consistentHash: {httpQueryParameterName: user}}}", cli_tests.SPLIT
            )
        ),
        {"requests": True},
    ),
    "health-auto": (_health(), {"requests": True}),
    "health-omit": (_health(), {"requests": True, "options": ("--unhealthy-endpoints", "omit")}),
    "health-min-health": (
        _health(policy="outlierDetection: {minHealthPercent: 80}"),
        {"requests": True, "options": ("--unhealthy-endpoints", "omit")},
    ),
    "health-always": (
        _health(),
        {"requests": True, "options": ("--unhealthy-endpoints", "always")},
    ),
    "locality-failover": (
        _text(locality_tests._mesh(locality_tests._spread(), locality_tests.OUTLIER)),
        {"requests": True, "options": ("--source-locality", "us-east/us-east-1b")},
    ),
    "locality-spill-over": (
        _text(
            locality_tests._mesh(
                [
                    locality_tests._pod(i, "r/z1", health="unhealthy" if i < 2 else "")
                    for i in range(4)
                ]
                + [locality_tests._pod(i, "r/z2") for i in range(4, 8)],
                locality_tests.OUTLIER,
            )
        ),
        {
            "requests": True,
            "options": ("--source-locality", "r/z1", "--unhealthy-endpoints", "omit"),
        },
    ),
    "locality-distribute": (
        _text(
            locality_tests._mesh(
                [locality_tests._pod(i, "r/z1") for i in range(2)]
                + [locality_tests._pod(i, "r/z2") for i in range(2, 6)],
                lb='localityLbSetting:\n  distribute: [{from: "r/*", to: {"r/z1": 90, "r/z2": 10}}]',
            )
        ),
        {"requests": True, "options": ("--source-locality", "r/z2")},
    ),
    "multi-route": (_text(cli_tests.PODS + "---\n" + MULTI_ROUTE), {"requests": True}),
    "match-features": (_text(cli_tests.PODS + "---\n" + MATCH_FEATURES), {"requests": True}),
    "multi-route-unrouted": (
        _text(
            cli_tests.PODS
            + "---\n"
            + MULTI_ROUTE.split("    - route:\n        - destination: {host: web, subset: v1}\n")[0]
        ),
        {"requests": True},
    ),
}


#: Meshes with no route that hashes: no hash policy (a keyless consistentHash), or a
#: hash policy over clusters that balance simply (a port-level entry without loadBalancer).
NOT_HASHING = {"vectors2-ConsistentHashWithoutKeyAccepted", "mesh-port-level-without-lb"}


@pytest.mark.parametrize("name", list(MESHES))
def test_round_trip_gives_the_same_decisions(name: str, tmp_path: Path) -> None:
    """simulate -f DIR and translate -f DIR | simulate --envoy-config - agree, request by request."""
    files, kw = MESHES[name]
    kw = dict(kw)
    if kw.pop("requests", False):
        kw["requests"] = write_requests(tmp_path / "requests.jsonl")
    counts = round_trip(tmp_path, files(tmp_path), **kw)
    if name in NOT_HASHING:  # the Envoy side has no route to simulate, and says so
        assert counts["compared"] == 0 and counts["not_hashing"] > 0
    else:
        assert counts["compared"] > 0 and counts["endpoints"] > 0, counts


def test_round_trip_through_a_pipe(tmp_path: Path) -> None:
    """The shell form: `hashlb translate -f DIR | hashlb simulate --envoy-config - --decisions -`."""
    translate = subprocess.run(
        [sys.executable, "-m", "hashlb", "translate", "-f", str(EXAMPLE)],
        capture_output=True,
        check=True,
        timeout=300,
    )
    envoy = subprocess.run(
        [sys.executable, "-m", "hashlb", "simulate", "--envoy-config", "-", "--decisions", "-"],
        input=translate.stdout,
        capture_output=True,
        check=True,
        timeout=300,
    )
    mesh = subprocess.run(
        [sys.executable, "-m", "hashlb", "simulate", "-f", str(EXAMPLE), "--decisions", "-"],
        capture_output=True,
        check=True,
        timeout=300,
    )
    a = [json.loads(line) for line in mesh.stdout.splitlines()]
    b = [json.loads(line) for line in envoy.stdout.splitlines()]
    assert len(a) == len(b) == 20000
    assert [(x["endpoint"], x["hash"]) for x in a] == [(y["endpoint"], y["hash"]) for y in b]
    assert {y["cluster"].split("|")[2] for y in b} == {x["subset"] for x in a} == {"safe", "risky"}


# --------------------------------------------------------------------------
# The dump itself: its shape and each Istio rule.


def _dump(text: str, **kw: Any) -> dict[str, Any]:
    return config_dump(load_mesh(["-"], stdin_text=text, **kw))


def _part(dump: dict[str, Any], type_url: str) -> dict[str, Any]:
    (part,) = [c for c in dump["configs"] if c["@type"] == type_url]
    return part


def _clusters(dump: dict[str, Any]) -> dict[str, dict[str, Any]]:
    part = _part(dump, CLUSTERS_DUMP)
    return {c["cluster"]["name"]: c["cluster"] for c in part["dynamic_active_clusters"]}


def _routes(dump: dict[str, Any]) -> list[dict[str, Any]]:
    part = _part(dump, ROUTES_DUMP)
    return [
        r
        for rc in part["dynamic_route_configs"]
        for vh in rc["route_config"]["virtual_hosts"]
        for r in vh["routes"]
    ]


def test_dump_shape_and_json_round_trip() -> None:
    """Three admin dump parts with their @type URLs; json.dumps and hashlb.envoy.load read it back."""
    dump = config_dump(load_mesh([str(EXAMPLE)]))
    assert [c["@type"] for c in dump["configs"]] == [CLUSTERS_DUMP, ROUTES_DUMP, ENDPOINTS_DUMP]
    text = json.dumps(dump)
    config = load(text)
    assert sorted(config.clusters) == [
        "outbound|8080|risky|fleetman-staff-service.default.svc.cluster.local",
        "outbound|8080|safe|fleetman-staff-service.default.svc.cluster.local",
    ]
    (route,) = config.routes
    assert route.virtual_host == "fleetman-staff-service.default.svc.cluster.local:8080"
    assert route.route_config == "8080"
    assert dict(route.weighted_clusters) == {
        "outbound|8080|safe|fleetman-staff-service.default.svc.cluster.local": 90,
        "outbound|8080|risky|fleetman-staff-service.default.svc.cluster.local": 10,
    }
    assert [h.address for h in config.cluster(route.weighted_clusters[0][0]).hosts] == [
        "10.151.152.2:8080",
        "10.151.152.3:8080",
    ]
    assert all(h.health == "healthy" for c in config.clusters.values() for h in c.hosts)


@pytest.mark.parametrize("case", vector_tests.CASES, ids=[c["name"] for c in vector_tests.CASES])
def test_vectors2_through_the_dump(case: dict[str, Any]) -> None:
    """envoy-vectors-2.json's istio cases: the dump's hash_policy list and each cluster's lb_policy."""
    dump = _dump(vector_tests._mesh_yaml(case))
    (route,) = _routes(dump)
    policy = route["route"].get("hash_policy", [])
    got = []
    for entry in policy:
        ((kind, body),) = entry.items()
        assert "terminal" not in entry  # Istio never sets it
        got.append(["header", body["header_name"]] if kind == "header" else [kind, body["name"]])
    assert got == case["expected_route_hash_policy"]
    names = {"simple": None, "ring_hash": "RING_HASH", "maglev": "MAGLEV"}
    expected = case.get("expected_cluster_lb")
    if expected is not None:
        clusters = _clusters(dump)
        by_subset = {n.split("|")[2] or "svc": c for n, c in clusters.items()}
        for subset, lb in expected.items():
            policy_name = by_subset[subset].get("lb_policy", "ROUND_ROBIN")
            if lb == "simple":  # route.go still emits the DR copy; the cluster balances simply
                assert policy_name in ("ROUND_ROBIN", "LEAST_REQUEST", "RANDOM")
            else:
                assert policy_name == names[lb]
    config = load(dump)
    assert config.routes[0].hash_policy is None or len(
        config.routes[0].hash_policy.policies
    ) == len(got)
