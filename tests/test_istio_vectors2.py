"""Istio's translation rules of envoy-vectors-2.json: the route hash policy list and the cluster LB."""

from __future__ import annotations

from typing import Any

import pytest

pytest.importorskip("yaml")  # the istio extra; the test extra installs it

import yaml

from hashlb import Request
from hashlb.istio import build_engines, load_mesh

from ._vectors import envoy_vectors

CASES = envoy_vectors("envoy-vectors-2.json")["istio"]


def _lb(spec: dict[str, Any]) -> dict[str, Any]:
    if "consistentHash" in spec:
        return {"loadBalancer": {"consistentHash": spec["consistentHash"]}}
    if "simple" in spec:
        return {"loadBalancer": {"simple": spec["simple"]}}
    return {}


def _mesh_yaml(case: dict[str, Any]) -> str:
    """A DestinationRule, VirtualService, Service and two Deployments (version v1, v2) for *case*."""
    dr = case["dr"]
    policy: dict[str, Any] = dict(_lb(dr.get("top", {})))
    if "port_level" in dr:
        policy["portLevelSettings"] = [
            {"port": {"number": int(p)}, **_lb(v)} for p, v in dr["port_level"].items()
        ]
    spec: dict[str, Any] = {"host": "svc", **({"trafficPolicy": policy} if policy else {})}
    if "subsets" in dr:
        spec["subsets"] = [
            {"name": n, "labels": v["labels"], **({"trafficPolicy": _lb(v)} if _lb(v) else {})}
            for n, v in dr["subsets"].items()
        ]
    route = []
    for r in case["vs_route"]:
        dest: dict[str, Any] = {"host": "svc"}
        if "subset" in r:
            dest["subset"] = r["subset"]
        if "port" in r:
            dest["port"] = {"number": r["port"]}
        route.append({"destination": dest, "weight": r["weight"]})
    docs: list[dict[str, Any]] = [
        {"apiVersion": "networking.istio.io/v1", "kind": "DestinationRule",
         "metadata": {"name": "svc"}, "spec": spec},
        {"apiVersion": "networking.istio.io/v1", "kind": "VirtualService",
         "metadata": {"name": "svc"}, "spec": {"hosts": ["svc"], "http": [{"route": route}]}},
        {"apiVersion": "v1", "kind": "Service", "metadata": {"name": "svc"},
         "spec": {"selector": {"app": "svc"}, "ports": [{"port": 8080, "targetPort": 8080}]}},
    ]  # fmt: skip
    for v in ("v1", "v2"):
        labels = {"app": "svc", "version": v}
        docs.append(
            {
                "apiVersion": "apps/v1",
                "kind": "Deployment",
                "metadata": {"name": f"svc-{v}"},
                "spec": {
                    "replicas": 2,
                    "selector": {"matchLabels": labels},
                    "template": {
                        "metadata": {"labels": labels},
                        "spec": {"containers": [{"name": "c", "ports": [{"containerPort": 8080}]}]},
                    },
                },
            }
        )
    return yaml.safe_dump_all(docs)


@pytest.mark.parametrize("case", CASES, ids=[c["name"] for c in CASES])
def test_istio_translation_vectors(case: dict[str, Any]) -> None:
    """The route's hash policy list (one entry per destination) and each cluster's balancer."""
    scenario = load_mesh(["-"], stdin_text=_mesh_yaml(case)).scenario()
    (plan,) = scenario.routes
    assert [[k.kind, k.name] for k in plan.hash_keys] == case["expected_route_hash_policy"]
    expected_lb = case.get("expected_cluster_lb")
    if expected_lb is not None:
        assert {d.name: d.lb.algorithm for d in plan.destinations} == expected_lb
    (engine,) = build_engines(scenario, "envoy", seed=1)
    subset, address, _pod, route_hash, _cookie = engine.route(Request(headers={"x-user": "a"}))
    assert subset in {d.name for d in plan.destinations} and address
    if not plan.hash_keys:  # no hash policy: Envoy hashes a random value per request
        assert route_hash is None
