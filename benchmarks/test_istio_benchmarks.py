"""``hashlb.istio``: translating a mesh into the Envoy configuration Istio generates.

* ``translate``: :func:`hashlb.istio.config_dump` of a generated mesh of N
  services (each a Service, a DestinationRule with two subsets and a
  header hash, a VirtualService splitting 90/10, and four pods), the mesh
  already loaded: 50 and 500 services (the 500-service scale: 2,000 pods,
  1,000 clusters, 500 virtual hosts);
* ``translate command``: the whole ``hashlb translate -f DIR -o FILE`` of
  the 500-service mesh (reading the YAML dominates).

Run::

    pytest benchmarks/test_istio_benchmarks.py --benchmark-group-by=group
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

pytest.importorskip("yaml")

from hashlb.__main__ import main
from hashlb.istio import config_dump, load_mesh


def mesh_yaml(services: int) -> str:
    """The YAML of *services* services, each with subsets v1 (3 pods) and v2 (1 pod)."""
    docs = []
    for i in range(services):
        name = f"svc{i}"
        docs.append(
            f"apiVersion: networking.istio.io/v1\nkind: DestinationRule\nmetadata: {{name: {name}}}\n"
            f"spec:\n  host: {name}\n"
            "  trafficPolicy: {loadBalancer: {consistentHash: {httpHeaderName: x-user}}}\n"
            "  subsets: [{name: v1, labels: {version: v1}}, {name: v2, labels: {version: v2}}]\n"
        )
        docs.append(
            f"apiVersion: networking.istio.io/v1\nkind: VirtualService\nmetadata: {{name: {name}}}\n"
            f"spec:\n  hosts: [{name}]\n  http:\n  - name: {name}\n    route:\n"
            f"    - {{destination: {{host: {name}, subset: v1}}, weight: 90}}\n"
            f"    - {{destination: {{host: {name}, subset: v2}}, weight: 10}}\n"
        )
        docs.append(
            f"apiVersion: v1\nkind: Service\nmetadata: {{name: {name}}}\n"
            f"spec: {{selector: {{app: {name}}}, ports: [{{port: 80, targetPort: 8080}}]}}\n"
        )
        for j, version in enumerate(("v1", "v1", "v1", "v2")):
            docs.append(
                f"apiVersion: v1\nkind: Pod\nmetadata: {{name: {name}-{j}, labels: "
                f"{{app: {name}, version: {version}}}}}\n"
                "spec: {containers: [{name: c, ports: [{containerPort: 8080}]}]}\n"
                f"status: {{phase: Running, podIP: 10.{i // 250}.{i % 250}.{j + 2}}}\n"
            )
    return "---\n".join(docs)


@pytest.mark.benchmark(group="translate")
@pytest.mark.parametrize("services", [50, 500])
def test_translate_mesh(benchmark, services: int) -> None:  # type: ignore[no-untyped-def]
    mesh = load_mesh(["-"], stdin_text=mesh_yaml(services))
    dump = benchmark.pedantic(config_dump, (mesh,), rounds=5)
    clusters = dump["configs"][0]["dynamic_active_clusters"]
    assert len(clusters) == 2 * services
    assert (
        len(dump["configs"][1]["dynamic_route_configs"][0]["route_config"]["virtual_hosts"])
        == services
    )


@pytest.mark.benchmark(group="translate command")
def test_translate_command_500_services(benchmark, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    (tmp_path / "mesh").mkdir()
    (tmp_path / "mesh" / "mesh.yaml").write_text(mesh_yaml(500), encoding="utf-8")
    out = tmp_path / "dump.json"
    args = ["translate", "-f", str(tmp_path / "mesh"), "-o", str(out)]
    code = benchmark.pedantic(main, (args,), rounds=3)
    assert code == 0
    assert (
        len(json.loads(out.read_text(encoding="utf-8"))["configs"][2]["dynamic_endpoint_configs"])
        == 1000
    )
