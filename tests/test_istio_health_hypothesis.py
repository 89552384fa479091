"""Pod health in the Istio translation (Hypothesis): endpoints, thresholds and picks match Envoy's cluster."""

from __future__ import annotations

import pytest

pytest.importorskip("hypothesis")
pytest.importorskip("yaml")  # the istio extra; the test extra installs it

from hypothesis import given, settings
from hypothesis import strategies as st

from hashlb import Cluster, Host, Request
from hashlb.istio import HOST_LABEL, InputError, TableCache, build_engines, load_mesh
from hashlb.istio.model import UNHEALTHY_ENDPOINTS

from ._impl import Implementation
from .strategies import istio_outlier, istio_pod_states

PodState = tuple[bool, bool, "str | None"]


def _yaml(states: list[PodState], outlier: int | None, publish: bool) -> str:
    od = ""
    if outlier is not None:
        od = "    outlierDetection: {consecutive5xxErrors: 5"
        od += f", minHealthPercent: {outlier}}}\n" if outlier >= 0 else "}\n"
    text = (
        "apiVersion: networking.istio.io/v1\nkind: DestinationRule\nmetadata: {name: web}\n"
        "spec:\n  host: web\n  trafficPolicy:\n"
        "    loadBalancer: {consistentHash: {httpHeaderName: x-user}}\n"
        + od
        + "---\napiVersion: v1\nkind: Service\nmetadata: {name: web}\n"
        + "spec: {selector: {app: web}, ports: [{port: 80, targetPort: 8080}]"
        + (", publishNotReadyAddresses: true}\n" if publish else "}\n")
    )
    for i, (ready, deleting, health) in enumerate(states):
        meta = f"name: web-{i}, labels: {{app: web}}"
        if health is not None:
            meta += f", annotations: {{hashlb.io/health: {health}}}"
        if deleting:
            meta += ', deletionTimestamp: "2026-12-01T00:00:00Z"'
        text += (
            f"---\napiVersion: v1\nkind: Pod\nmetadata: {{{meta}}}\n"
            "spec: {containers: [{name: c, ports: [{containerPort: 8080}]}]}\n"
            f"status: {{phase: Running, podIP: 10.0.0.{i + 1}, conditions: "
            f"[{{type: Ready, status: '{ready}'}}]}}\n"
        )
    return text


def _expected(
    states: list[PodState], outlier: int | None, publish: bool, mode: str
) -> tuple[dict[str, str], float]:
    """Istio's rules restated (spec-2 §18.5): {pod: EDS health} of the endpoints sent, threshold."""
    min_health = max(outlier, 0) if outlier is not None else 0
    sends = mode == "always" or (mode == "auto" and min_health == 0)
    if outlier is not None:
        threshold = 0.0 if mode == "always" else float(min_health)
    else:
        threshold = 50.0 if mode == "omit" else 0.0
    sent = {}
    for i, (ready, deleting, health) in enumerate(states):
        if publish or (ready and not deleting):
            sent[f"web-{i}"] = health or "healthy"
        elif not deleting and sends:
            sent[f"web-{i}"] = "unhealthy"
    return sent, threshold


@settings(max_examples=40, deadline=None)
@given(
    st.lists(istio_pod_states, min_size=1, max_size=7),
    istio_outlier,
    st.booleans(),
    st.sampled_from(UNHEALTHY_ENDPOINTS),
)
def test_endpoints_threshold_and_picks_are_envoys(
    impl: Implementation, states: list[PodState], outlier: int | None, publish: bool, mode: str
) -> None:
    """Which pods are sent with which health, the threshold, and every pick equal a Cluster's."""
    text = _yaml(states, outlier, publish)
    sent, threshold = _expected(states, outlier, publish, mode)
    if not sent:
        with pytest.raises(InputError, match="selects no pods"):
            load_mesh(["-"], stdin_text=text, unhealthy_endpoints=mode).scenario()
        return
    scenario = load_mesh(["-"], stdin_text=text, unhealthy_endpoints=mode).scenario()
    (d,) = scenario.routes[0].destinations
    assert {e.pod.name: e.health for e in d.endpoints} == sent
    assert d.health.panic_threshold == threshold
    tables = TableCache(maglev=impl.Maglev, ring_hash=impl.RingHash)
    (engine,) = build_engines(scenario, "envoy", seed=0, tables=tables)
    hosts = [
        Host(e.address, health=e.health, labels={**e.pod.labels, HOST_LABEL: d.host})
        for e in d.endpoints
    ]
    cluster = Cluster(
        hosts, balancer=impl.RingHash, min_ring_size=1024, healthy_panic_threshold=threshold
    )
    assert engine.health[d.name].in_panic == cluster.in_panic(0)
    health = {e.address: e.health for e in d.endpoints}
    for i in range(40):
        _, address, _, h, _ = engine.route(Request(headers={"x-user": f"user-{i}"}))
        want = cluster.lookup(h)
        assert address == (want.address if want is not None else None)
        if address is not None and not cluster.in_panic(0):
            assert health[address] in ("healthy", "unknown")  # never a sick host outside panic
