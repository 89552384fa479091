"""Property: ``hashlb simulate --decisions`` agrees with calling ``Router.route`` directly."""

from __future__ import annotations

import json
import tempfile
from pathlib import Path

import pytest

hypothesis = pytest.importorskip("hypothesis")

from hypothesis import given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

from hashlb import Host  # noqa: E402
from hashlb.cli import run_command  # noqa: E402
from hashlb.router import Router  # noqa: E402

from ._impl import Implementation  # noqa: E402
from .strategies import cli_splits  # noqa: E402

KEYS = {
    "header": ("httpHeaderName: x-user", "x-user"),
    "query": ("httpQueryParameterName: u", "u"),
    "source_ip": ("useSourceIp: true", ""),
}


def _mesh(split: list[tuple[int, int]], key: str, table: str) -> tuple[str, list[Host]]:
    """Return YAML for *split* (weight, pods per subset) and the hosts it defines."""
    docs, hosts = [], []
    for s, (_, pods) in enumerate(split):
        for p in range(pods):
            ip = f"10.9.{s}.{p + 1}"
            hosts.append(Host(f"{ip}:8080", labels={"version": f"v{s}"}))
            docs.append(
                f"apiVersion: v1\nkind: Pod\nmetadata: {{name: p{s}-{p}, labels: {{version: v{s}}}}}\n"
                f"spec: {{containers: [{{name: c, ports: [{{containerPort: 8080}}]}}]}}\n"
                f"status: {{podIP: {ip}}}\n"
            )
    subsets = "".join(
        f"    - {{name: v{s}, labels: {{version: v{s}}}}}\n" for s in range(len(split))
    )
    docs.append(
        "apiVersion: networking.istio.io/v1\nkind: DestinationRule\nmetadata: {name: web}\n"
        f"spec:\n  host: web\n  trafficPolicy:\n    loadBalancer:\n"
        f"      consistentHash: {{{KEYS[key][0]}, {table}}}\n  subsets:\n{subsets}"
    )
    route = "".join(
        f"        - destination: {{host: web, subset: v{s}}}\n          weight: {w}\n"
        for s, (w, _) in enumerate(split)
    )
    docs.append(
        "apiVersion: networking.istio.io/v1\nkind: VirtualService\nmetadata: {name: web}\n"
        f"spec:\n  hosts: [web]\n  http:\n    - route:\n{route}"
    )
    return "---\n".join(docs), hosts


@settings(max_examples=20)  # each example runs the whole command in-process
@given(
    split=cli_splits,
    key=st.sampled_from(sorted(KEYS)),
    table=st.sampled_from(
        ["ringHash: {minimumRingSize: 64}", "maglev: {tableSize: 251}", "minimumRingSize: 0"]
    ),
    mode=st.sampled_from(["envoy", "sticky"]),
    seed=st.integers(min_value=0, max_value=2**64 - 1),
    values=st.lists(
        st.sampled_from(["a", "b", "c", "alice", "", "10.0.0.7", "2001:db8::1"]),
        min_size=1,
        max_size=25,
    ),
)
def test_decisions_agree_with_router_route(
    impl: Implementation,
    split: list[tuple[int, int]],
    key: str,
    table: str,
    mode: str,
    seed: int,
    values: list[str],
) -> None:
    """Every decision line equals Router.route on the same hosts, weights, policy, mode and seed."""
    text, hosts = _mesh(split, key, table)
    requests = []
    for i, v in enumerate(values):
        if key == "header":
            requests.append({"user": v, "headers": {"x-user": v}})
        elif key == "query":
            requests.append({"user": v, "path": f"/?u={v}&i={i}"})
        else:
            requests.append({"user": v, "source_ip": v or "192.0.2.1"})
    with tempfile.TemporaryDirectory() as d:
        (Path(d) / "mesh.yaml").write_text(text)
        (Path(d) / "r.jsonl").write_text("\n".join(json.dumps(r) for r in requests))
        code = run_command(
            [
                "simulate",
                "-f",
                f"{d}/mesh.yaml",
                "--requests",
                f"{d}/r.jsonl",
                "--mode",
                mode,
                "--seed",
                str(seed),
                "--decisions",
                f"{d}/d.jsonl",
                "-q",
            ]
        )
        assert code == 0
        got = [json.loads(line) for line in (Path(d) / "d.jsonl").read_text().splitlines()]

    method = {
        "header": lambda: impl.Header("x-user"),
        "query": lambda: impl.QueryParameter("u"),
        "source_ip": lambda: impl.SourceIP(),
    }[key]()
    live = {f"v{s}": w for s, (w, _) in enumerate(split) if w > 0}
    if "maglev" in table:
        balancer, options = impl.Maglev, {"table_size": 251}
    else:
        balancer, options = impl.RingHash, {"min_ring_size": 64 if "64" in table else 1024}
    router = Router(
        hosts,
        subsets={name: {"version": name} for name in live},
        weights=live,
        policy=impl.HashPolicy(method),
        balancer=balancer,
        balancer_options=options,
        mode=mode,
        seed=seed,
    )
    assert len(got) == len(requests)
    for line, req in zip(got, requests, strict=True):
        ip = req.get("source_ip")
        remote = None if ip is None else (f"[{ip}]:50000" if ":" in ip else f"{ip}:50000")
        r = router.route(
            impl.Request(
                headers=req.get("headers", {}),
                path=req.get("path", "/"),
                remote_address=remote,
                local_address="10.96.0.1:80",
            )
        )
        assert (line["subset"], line["endpoint"], line["hash"]) == (
            r.subset,
            r.host.address,
            r.hash,
        )
