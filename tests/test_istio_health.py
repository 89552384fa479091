"""Pod health and panic in the Istio translation (spec-2 §14, §18.2, §18.5) and in ``hashlb simulate``.

The meshes are real YAML: a DestinationRule, a Service and Pods whose
``status.conditions``, ``metadata.deletionTimestamp`` and ``hashlb.io/health``
annotation give their health.  Routing runs on both twins' tables through
``impl`` (in process) and through ``python -m hashlb`` (end to end).
"""

from __future__ import annotations

import json
import textwrap
from collections import Counter
from pathlib import Path
from typing import Any

import pytest

pytest.importorskip("yaml")  # the istio extra; the test extra installs it

from hashlb import Cluster, Host, Request
from hashlb.cluster import panic_threshold
from hashlb.istio import HOST_LABEL, InputError, TableCache, build_engines, load_mesh
from hashlb.istio.model import UNHEALTHY_ENDPOINTS

from ._cli import run_cli, write
from ._impl import Implementation

READY = "conditions: [{type: Ready, status: 'True'}]"
NOT_READY = "conditions: [{type: Ready, status: 'False'}]"


def _pod(
    i: int,
    *,
    version: str = "v1",
    health: str | None = None,
    ready: bool = True,
    deleting: bool = False,
) -> str:
    meta = [f"name: web-{version}-{i}", f"labels: {{app: web, version: {version}}}"]
    if health is not None:
        meta.append(f"annotations: {{hashlb.io/health: {health}}}")
    if deleting:
        meta.append('deletionTimestamp: "2026-12-01T00:00:00Z"')
    ip = f"10.{1 if version == 'v1' else 2}.0.{i + 1}"
    return textwrap.dedent(
        f"""\
        ---
        apiVersion: v1
        kind: Pod
        metadata: {{{", ".join(meta)}}}
        spec: {{containers: [{{name: c, ports: [{{containerPort: 8080}}]}}]}}
        status: {{phase: Running, podIP: {ip}, {READY if ready else NOT_READY}}}
        """
    )


def _mesh(
    pods: list[str],
    *,
    policy: str = "",
    v2_policy: str = "",
    service: str = "",
    split: bool = False,
    extra: str = "",
) -> str:
    """A DestinationRule (header x-user, ring hash; subsets v1, v2), a Service, a VirtualService."""
    lines = ["  trafficPolicy:", "    loadBalancer: {consistentHash: {httpHeaderName: x-user}}"]
    lines += [f"    {line}" for line in policy.splitlines() if line]
    v2 = f", trafficPolicy: {v2_policy}" if v2_policy else ""
    route = (
        "      - destination: {host: web, subset: v1}\n        weight: 50\n"
        "      - destination: {host: web, subset: v2}\n        weight: 50\n"
        if split
        else "      - destination: {host: web, subset: v1}\n"
    )
    return (
        "apiVersion: networking.istio.io/v1\nkind: DestinationRule\nmetadata: {name: web}\n"
        "spec:\n  host: web\n"
        + "\n".join(lines)
        + "\n  subsets:\n    - {name: v1, labels: {version: v1}}\n"
        + f"    - {{name: v2, labels: {{version: v2}}{v2}}}\n"
        + "---\napiVersion: networking.istio.io/v1\nkind: VirtualService\nmetadata: {name: web}\n"
        + "spec:\n  hosts: [web]\n  http:\n    - route:\n"
        + route
        + "---\napiVersion: v1\nkind: Service\nmetadata: {name: web}\n"
        + f"spec: {{selector: {{app: web}}, ports: [{{port: 80, targetPort: 8080}}]{service}}}\n"
        + "".join(pods)
        + extra
    )


def _scenario(text: str, unhealthy_endpoints: str = "omit") -> Any:
    return load_mesh(["-"], stdin_text=text, unhealthy_endpoints=unhealthy_endpoints).scenario()


def _engine(impl: Implementation, text: str, **kw: str) -> Any:
    tables = TableCache(maglev=impl.Maglev, ring_hash=impl.RingHash)
    (engine,) = build_engines(_scenario(text, **kw), "envoy", seed=0, tables=tables)
    return engine


USERS = [f"user-{i}" for i in range(600)]


def _picks(engine: Any) -> Counter[str | None]:
    return Counter(engine.route(Request(headers={"x-user": u}))[1] for u in USERS)


def _health(d: Any) -> dict[str, str]:
    return {e.pod.name: e.health for e in d.endpoints}


# --------------------------------------------------------------------------
# Cluster side: the panic threshold.


@pytest.mark.parametrize(
    ("policy", "v2_policy", "mode", "threshold", "source"),
    [
        ("", "", "omit", 50.0, "Envoy's default"),
        ("outlierDetection: {consecutive5xxErrors: 3}", "", "omit", 0.0, "DestinationRule 'web'"),
        ("outlierDetection: {minHealthPercent: 29}", "", "omit", 29.0, "DestinationRule 'web'"),
        (
            "outlierDetection: {minHealthPercent: 29}",
            "{outlierDetection: {minHealthPercent: 70}}",
            "omit",
            70.0,
            "subset 'v2'",
        ),
        (  # a subset port-level entry replaces outlierDetection even when it has none
            "outlierDetection: {minHealthPercent: 29}",
            "{portLevelSettings: [{port: {number: 80}}]}",
            "omit",
            50.0,
            "Envoy's default",
        ),
        ("", "", "auto", 0.0, "Istio sends unhealthy endpoints"),
        ("outlierDetection: {minHealthPercent: 60}", "", "auto", 60.0, "DestinationRule 'web'"),
        ("outlierDetection: {minHealthPercent: 60}", "", "always", 0.0, "PILOT_SEND_UNHEALTHY"),
    ],
)
def test_outlier_detection_sets_the_panic_threshold(
    policy: str, v2_policy: str, mode: str, threshold: float, source: str
) -> None:
    """minHealthPercent (default 0 = off) with outlierDetection, else Envoy's 50 (0 when Istio sends unhealthy)."""
    text = _mesh([_pod(0), _pod(0, version="v2")], policy=policy, v2_policy=v2_policy, split=True)
    v1, v2 = _scenario(text, mode).routes[0].destinations
    assert v2.health.panic_threshold == threshold and source in v2.health.source
    if not v2_policy:
        assert v1.health == v2.health
    assert panic_threshold(29.0) == 28  # and Envoy truncates 29 to 28 (spec-2 §14.5)


def test_mesh_default_outlier_detection_applies_where_the_rule_sets_none() -> None:
    """MeshConfig defaultTrafficPolicy.outlierDetection (the istio ConfigMap) fills a rule without one."""
    config = textwrap.dedent(
        """\
        ---
        apiVersion: v1
        kind: ConfigMap
        metadata: {name: istio, namespace: istio-system}
        data:
          mesh: |
            defaultTrafficPolicy:
              outlierDetection: {minHealthPercent: 40}
        """
    )
    pods = [_pod(0), _pod(0, version="v2")]
    text = _mesh(pods, v2_policy="{outlierDetection: {minHealthPercent: 10}}", split=True)
    v1, v2 = _scenario(text + config).routes[0].destinations
    assert v1.health.panic_threshold == 40.0 and "mesh defaultTrafficPolicy" in v1.health.source
    assert v2.health.panic_threshold == 10.0
    bad = config.replace("minHealthPercent: 40", "minHealthPercent: 140")
    with pytest.raises(InputError, match=r"minHealthPercent' must be in \[0, 100\], got 140"):
        _scenario(text + bad)
    # The mesh default's minHealthPercent also keeps not-Ready pods' UNHEALTHY endpoints
    # out (Istio 1.31: "unless minHealthPercent is configured"), so panic cannot reach them.
    unready = [_pod(0, ready=False), _pod(1, ready=False), _pod(2)]
    (d,) = _scenario(_mesh(unready) + config).routes[0].destinations
    assert d.health.panic_threshold == 40.0 and not d.health.unhealthy_sent
    assert _health(d) == {"web-v1-2": "healthy"}


def test_min_health_percent_is_checked_with_its_position() -> None:
    """A minHealthPercent outside 0..100 is an error naming the field and its line."""
    text = _mesh([_pod(0)], policy="outlierDetection: {minHealthPercent: -1}")
    with pytest.raises(InputError, match=r"<stdin>:\d+: .*minHealthPercent' must be in \[0, 100\]"):
        _scenario(text)


# --------------------------------------------------------------------------
# Panic: what the threshold does to the routing.


def test_threshold_zero_never_sends_traffic_to_unhealthy_hosts(impl: Implementation) -> None:
    """outlierDetection without minHealthPercent: 4 of 5 pods ejected, the last one takes everyone."""
    pods = [_pod(i, health="unhealthy" if i < 4 else None) for i in range(5)]
    engine = _engine(impl, _mesh(pods, policy="outlierDetection: {consecutive5xxErrors: 5}"))
    h = engine.health["v1"]
    assert (h.hosts, h.healthy, h.unhealthy, h.panic_threshold, h.in_panic) == (5, 1, 4, 0.0, False)
    assert _picks(engine) == {"10.1.0.5:8080": len(USERS)}


def test_default_threshold_50_panics_below_half(impl: Implementation) -> None:
    """No outlierDetection (Envoy's 50): 3 of 5 ejected is panic, users spread over all five."""
    pods = [_pod(i, health="unhealthy" if i < 3 else None) for i in range(5)]
    engine = _engine(impl, _mesh(pods))
    assert engine.health["v1"].in_panic and engine.health["v1"].healthy_load == (100,)
    picks = _picks(engine)
    assert set(picks) == {f"10.1.0.{i}:8080" for i in range(1, 6)}
    # exactly Envoy's cluster: the ring over all five hosts, the route hash as the key
    (d,) = engine.plan.destinations
    hosts = [
        Host(e.address, health=e.health, labels={**e.pod.labels, HOST_LABEL: d.host})
        for e in d.endpoints
    ]
    cluster = Cluster(hosts, balancer=impl.RingHash, min_ring_size=1024)
    assert cluster.in_panic(0)
    for u in USERS[:50]:
        _, address, _, h, _ = engine.route(Request(headers={"x-user": u}))
        assert address == cluster.lookup(h).address
    calm = _engine(impl, _mesh([_pod(i, health="unhealthy" if i < 2 else None) for i in range(5)]))
    assert not calm.health["v1"].in_panic  # 3 of 5 healthy: 60% >= 50%
    assert set(_picks(calm)) == {"10.1.0.3:8080", "10.1.0.4:8080", "10.1.0.5:8080"}


def test_each_subset_keeps_its_own_threshold(impl: Implementation) -> None:
    """v1 (rule: panic off) and v2 (subset: minHealthPercent 50) both 2 of 3 down: only v2 panics."""
    pods = [_pod(i, health="unhealthy" if i < 2 else None) for i in range(3)]
    pods += [_pod(i, version="v2", health="unhealthy" if i < 2 else None) for i in range(3)]
    text = _mesh(
        pods,
        policy="outlierDetection: {consecutive5xxErrors: 5}",
        v2_policy="{outlierDetection: {minHealthPercent: 50}}",
        split=True,
    )
    engine = _engine(impl, text)
    assert not engine.health["v1"].in_panic and engine.health["v2"].in_panic
    seen: dict[str, set[str]] = {"v1": set(), "v2": set()}
    for u in USERS:
        subset, address, _, _, _ = engine.route(Request(headers={"x-user": u}))
        seen[subset].add(address)
    assert seen["v1"] == {"10.1.0.3:8080"}
    assert seen["v2"] == {"10.2.0.1:8080", "10.2.0.2:8080", "10.2.0.3:8080"}


# --------------------------------------------------------------------------
# Endpoint side: which pods get an endpoint, with which health.

MIXED = [_pod(0), _pod(1, ready=False), _pod(2, deleting=True), _pod(3, health="Degraded")]


@pytest.mark.parametrize("mode", UNHEALTHY_ENDPOINTS)
def test_not_ready_and_terminating_pods_by_mode(mode: str) -> None:
    """Not Ready: none (omit), UNHEALTHY (auto, always); being deleted: never; the annotation applies."""
    (d,) = _scenario(_mesh(MIXED), mode).routes[0].destinations
    want = {"web-v1-0": "healthy", "web-v1-3": "degraded"}
    if mode != "omit":
        want["web-v1-1"] = "unhealthy"
    assert _health(d) == want
    assert d.health.unhealthy_sent == (mode != "omit")
    assert d.health.panic_threshold == (50.0 if mode == "omit" else 0.0)


def test_min_health_percent_keeps_unhealthy_endpoints_out() -> None:
    """Istio 1.31 (auto): a cluster with minHealthPercent > 0 gets no UNHEALTHY endpoint; always: it does."""
    text = _mesh(MIXED, policy="outlierDetection: {minHealthPercent: 50}")
    (auto,) = _scenario(text, "auto").routes[0].destinations
    assert "web-v1-1" not in _health(auto) and auto.health.panic_threshold == 50.0
    (always,) = _scenario(text, "always").routes[0].destinations
    assert _health(always)["web-v1-1"] == "unhealthy" and always.health.panic_threshold == 0.0


def test_publish_not_ready_addresses_makes_every_pod_healthy() -> None:
    """Kubernetes marks every endpoint ready for such a Service: not-Ready and deleted pods are HEALTHY."""
    text = _mesh(MIXED, service=", publishNotReadyAddresses: true")
    for mode in UNHEALTHY_ENDPOINTS:
        (d,) = _scenario(text, mode).routes[0].destinations
        assert _health(d) == {
            "web-v1-0": "healthy",
            "web-v1-1": "healthy",
            "web-v1-2": "healthy",
            "web-v1-3": "degraded",
        }
    bad = _mesh(MIXED, service=", publishNotReadyAddresses: 'yes'")
    with pytest.raises(InputError, match="publishNotReadyAddresses must be true or false"):
        _scenario(bad)


def test_unhealthy_endpoints_with_threshold_zero_get_no_traffic_or_503(
    impl: Implementation,
) -> None:
    """Istio 1.31: not-Ready pods are UNHEALTHY endpoints, panic off; none Ready means no host (503)."""
    engine = _engine(impl, _mesh([_pod(0), _pod(1, ready=False)]), unhealthy_endpoints="auto")
    assert _picks(engine) == {"10.1.0.1:8080": len(USERS)}
    down = _engine(
        impl, _mesh([_pod(0, ready=False), _pod(1, ready=False)]), unhealthy_endpoints="auto"
    )
    assert down.health["v1"].healthy == 0 and not down.health["v1"].in_panic
    assert _picks(down) == {None: len(USERS)}


def test_health_annotation_is_checked() -> None:
    """hashlb.io/health takes Envoy's EDS health names, case-insensitive; anything else is an error."""
    (d,) = _scenario(_mesh([_pod(0, health="DRAINING"), _pod(1)])).routes[0].destinations
    assert _health(d) == {"web-v1-0": "draining", "web-v1-1": "healthy"}
    with pytest.raises(
        InputError, match=r"<stdin>:\d+: Pod 'web-v1-0': annotation hashlb.io/health"
    ):
        _scenario(_mesh([_pod(0, health="ejected")]))
    with pytest.raises(InputError, match="unhealthy_endpoints must be one of omit, auto, always"):
        load_mesh(["-"], stdin_text=_mesh([_pod(0)]), unhealthy_endpoints="sometimes")


def test_simulate_choices_match_the_model() -> None:
    """The CLI's --unhealthy-endpoints choices are the model's (repeated so the parser needs no YAML)."""
    from hashlb.cli.simulate import UNHEALTHY_ENDPOINTS as CLI_CHOICES

    assert CLI_CHOICES == UNHEALTHY_ENDPOINTS


# --------------------------------------------------------------------------
# hashlb simulate, end to end.


def test_simulate_shows_the_panic(impl: Implementation, tmp_path: Path) -> None:
    """3 of 5 pods ejected, Envoy's 50: the report and --json show the panic and who it moves."""
    pods = [_pod(i, health="unhealthy" if i < 3 else None) for i in range(5)]
    write(tmp_path / "mesh.yaml", _mesh(pods))
    args = ["simulate", "-f", "mesh.yaml", "--users", "100", "--requests-per-user", "3"]
    args += ["--unhealthy-endpoints", "omit"]  # Istio before 1.31: Envoy's 50% stays
    proc = run_cli(impl, *args, "--json", "s.json", "--decisions", "d.jsonl", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    out = proc.stdout
    assert "PANIC: all 5 hosts" in out
    assert "PANIC: below the threshold Envoy builds the table from every host" in out
    assert "v1: panic threshold 50% (Envoy's default: no outlierDetection)" in out
    assert "unhealthy" in out and "health" in out.split("endpoint ", 1)[1].splitlines()[0]
    s = json.loads((tmp_path / "s.json").read_text())
    h = s["health"]
    assert h["subsets"]["v1"] == {
        "hosts": 5,
        "healthy": 2,
        "degraded": 0,
        "unhealthy": 3,
        "excluded": 0,
        "panic_threshold": 50.0,
        "threshold_source": "Envoy's default: no outlierDetection",
        "priority_load": {"healthy": [100], "degraded": [0]},
        "in_panic": True,
        "unhealthy_endpoints_sent": False,
        "requests_to_unhealthy": h["requests_to_unhealthy"],
        "no_host": 0,
    }
    assert h["endpoints"] == {f"10.1.0.{i}:8080": "unhealthy" for i in (1, 2, 3)}
    bad = sum(s["endpoints"][a] for a in h["endpoints"])
    assert h["requests_to_unhealthy"] == bad > 0
    assert f"panic: {bad} requests" in out
    assert 0 < h["users_on_unhealthy"] <= 100 and h["no_host"] == 0
    rows = [json.loads(line) for line in (tmp_path / "d.jsonl").read_text().splitlines()]
    flagged = [r for r in rows if "health" in r]
    assert len(flagged) == bad and all(r["endpoint"] in h["endpoints"] for r in flagged)
    assert len({r["user"] for r in flagged}) == h["users_on_unhealthy"]


def test_simulate_counts_no_healthy_upstream(impl: Implementation, tmp_path: Path) -> None:
    """--unhealthy-endpoints auto, every pod not Ready: no host for anyone (Envoy's 503)."""
    write(tmp_path / "mesh.yaml", _mesh([_pod(0, ready=False), _pod(1, ready=False)]))
    args = ["simulate", "-f", "mesh.yaml", "--users", "20", "--requests-per-user", "2"]
    proc = run_cli(impl, *args, "--unhealthy-endpoints", "auto", "--json", "s.json", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert (
        "no healthy upstream: 40 requests (100.0%) got no host (Envoy answers 503)" in proc.stdout
    )
    assert "sends it as an UNHEALTHY endpoint" in proc.stderr
    s = json.loads((tmp_path / "s.json").read_text())
    assert s["health"]["no_host"] == 40 and s["health"]["subsets"]["v1"]["no_host"] == 40
    assert s["health"]["subsets"]["v1"]["panic_threshold"] == 0.0
    assert sum(s["endpoints"].values()) == 0 and s["subsets"] == {"v1": 40}
    default = run_cli(impl, *args, "--json", "d.json", cwd=tmp_path)  # auto is the default
    assert default.returncode == 0 and json.loads((tmp_path / "d.json").read_text()) == s
    omit = run_cli(impl, *args, "--unhealthy-endpoints", "omit", cwd=tmp_path)  # no endpoint
    assert omit.returncode != 0 and "are not Ready or terminating" in omit.stderr


def test_simple_balancer_picks_among_the_hosts_envoy_would_use(impl: Implementation) -> None:
    """A ROUND_ROBIN subset (simulated as random) uses healthy hosts only, all hosts in panic."""
    pods = [_pod(0, version="v2", health="unhealthy"), _pod(1, version="v2", health="unhealthy")]
    pods += [_pod(2, version="v2"), _pod(0)]
    simple = "{loadBalancer: {simple: ROUND_ROBIN}"
    off = _engine(impl, _mesh(pods, v2_policy=simple + ", outlierDetection: {}}", split=True))
    assert off.health["v2"].panic_threshold == 0.0 and not off.health["v2"].in_panic
    v2 = Counter(
        address
        for subset, address, *_ in (off.route(Request(headers={"x-user": u})) for u in USERS)
        if subset == "v2"
    )
    assert set(v2) == {"10.2.0.3:8080"}
    panic = _engine(impl, _mesh(pods, v2_policy=simple + "}", split=True))
    assert panic.health["v2"].in_panic  # 1 of 3 healthy < 50%
    v2 = Counter(
        address
        for subset, address, *_ in (panic.route(Request(headers={"x-user": u})) for u in USERS)
        if subset == "v2"
    )
    assert set(v2) == {"10.2.0.1:8080", "10.2.0.2:8080", "10.2.0.3:8080"}


def test_health_annotation_in_an_endpoints_file_and_truncated_threshold(
    impl: Implementation, tmp_path: Path
) -> None:
    """Pods given with --endpoints carry the annotation too; 29% is shown as acting as 28%."""
    pods = [_pod(i, health="unhealthy" if i < 4 else None) for i in range(6)]
    write(tmp_path / "mesh.yaml", _mesh([], policy="outlierDetection: {minHealthPercent: 29}"))
    write(tmp_path / "pods.yaml", "".join(pods))
    m = load_mesh([str(tmp_path / "mesh.yaml")], [str(tmp_path / "pods.yaml")])
    (d,) = m.scenario().routes[0].destinations
    assert [e.health for e in d.endpoints] == ["unhealthy"] * 4 + ["healthy"] * 2
    args = ["simulate", "-f", "mesh.yaml", "--endpoints", "pods.yaml", "--users", "30"]
    proc = run_cli(impl, *args, cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert "29% (acts as 28%)" in proc.stdout  # 2 of 6 healthy = 33.3%: not in panic
    assert "no: healthy only" in proc.stdout
