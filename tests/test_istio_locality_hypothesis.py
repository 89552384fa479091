"""Istio's locality failover (Hypothesis): priorities follow the locality match, picks are Envoy's.

Restated from ``pilot/pkg/networking/core/loadbalancer/loadbalancer.go``
(``applyLocalityFailover``: rank by ``util.LbPriority``, a ``failover`` rule
moving the other regions below its ``to`` region, priorities compacted to
0..N) and ``pilot/pkg/xds/endpoints/endpoint_builder.go`` (failover only with
``outlierDetection``); the routing is a :class:`hashlb.Cluster` over the
hosts at those priorities.
"""

from __future__ import annotations

import pytest

pytest.importorskip("hypothesis")
pytest.importorskip("yaml")  # the istio extra; the test extra installs it

from hypothesis import given, settings
from hypothesis import strategies as st

from hashlb import Cluster, Host, Request
from hashlb.istio import HOST_LABEL, TableCache, build_engines, load_mesh
from hashlb.istio.locality import lb_priority
from hashlb.istio.parse import split_locality

from ._impl import Implementation
from .strategies import istio_client_locality, istio_locality

Pod = tuple[str, bool]  # (locality, ejected)


def _yaml(pods: list[Pod], outlier: bool, failover_to: str | None, client: str) -> str:
    policy = "    loadBalancer:\n      consistentHash: {httpHeaderName: x-user}\n"
    if failover_to is not None:
        region = split_locality(client)[0]
        policy += (
            f"      localityLbSetting: {{failover: [{{from: {region}, to: {failover_to}}}]}}\n"
        )
    if outlier:
        policy += "    outlierDetection: {consecutive5xxErrors: 5}\n"
    text = (
        "apiVersion: networking.istio.io/v1\nkind: DestinationRule\nmetadata: {name: web}\n"
        "spec:\n  host: web\n  trafficPolicy:\n"
        + policy
        + "---\napiVersion: v1\nkind: Service\nmetadata: {name: web}\n"
        "spec: {selector: {app: web}, ports: [{port: 80, targetPort: 8080}]}\n"
    )
    for i, (locality, ejected) in enumerate(pods):
        notes = []
        if locality:
            notes.append(f"hashlb.io/locality: '{locality}'")
        if ejected:
            notes.append("hashlb.io/health: unhealthy")
        meta = f"name: web-{i}, labels: {{app: web}}, annotations: {{{', '.join(notes)}}}"
        text += (
            f"---\napiVersion: v1\nkind: Pod\nmetadata: {{{meta}}}\n"
            "spec: {containers: [{name: c, ports: [{containerPort: 8080}]}]}\n"
            f"status: {{phase: Running, podIP: 10.0.0.{i + 1}}}\n"
        )
    return text


def _rank(client: str, locality: str, failover_to: str | None) -> int:
    """Istio's rank of an endpoint for the client (util.go LbPriority plus the failover rule)."""
    me, it = split_locality(client), split_locality(locality)
    rank = lb_priority(me, it)
    if rank == 3 and failover_to is not None and it[0] != failover_to:
        rank = 4
    return rank


@settings(max_examples=40, deadline=None)
@given(
    st.lists(st.tuples(istio_locality, st.booleans()), min_size=1, max_size=8),
    istio_client_locality,
    st.booleans(),
    st.one_of(st.none(), st.sampled_from(["r1", "r2", "r3"])),
)
def test_failover_priorities_and_picks(
    impl: Implementation,
    pods: list[Pod],
    client: str,
    outlier: bool,
    failover_to: str | None,
) -> None:
    """Priorities are the compacted ranks (all 0 without outlierDetection); picks are a Cluster's."""
    if failover_to == split_locality(client)[0]:
        failover_to = None  # Istio rejects from == to
    text = _yaml(pods, outlier, failover_to, client)
    scenario = load_mesh(["-"], stdin_text=text).scenario(source_locality=client)
    (d,) = scenario.routes[0].destinations
    prio = {e.pod.name: e.priority for e in d.endpoints}
    if not outlier:
        assert set(prio.values()) == {0}
    else:
        ranks = {f"web-{i}": _rank(client, loc, failover_to) for i, (loc, _) in enumerate(pods)}
        order = sorted(set(ranks.values()))
        assert prio == {name: order.index(r) for name, r in ranks.items()}
        assert sorted(set(prio.values())) == list(range(len(order)))  # 0..N, no gap
    # Envoy's host order within a priority: the locality groups sorted by label.
    labels = [e.pod.locality for e in d.endpoints]
    assert labels == sorted(labels)
    tables = TableCache(maglev=impl.Maglev, ring_hash=impl.RingHash)
    (engine,) = build_engines(scenario, "envoy", seed=0, tables=tables)
    hosts = [
        Host(
            e.address,
            health=e.health,
            priority=e.priority,
            locality=e.locality if e.locality is not None or d.locality is None else "",
            labels={**e.pod.labels, HOST_LABEL: d.host},
        )
        for e in d.endpoints
    ]
    weighted = d.locality is not None and d.locality.weights is not None
    cluster = Cluster(
        hosts,
        balancer=_per_level(impl, d) if weighted else impl.RingHash,
        min_ring_size=1024,
        healthy_panic_threshold=d.health.panic_threshold,
        locality_weighted=weighted,
    )
    assert cluster.priority_load == tuple(
        tuple(x) for x in (engine.health[d.name].healthy_load, engine.health[d.name].degraded_load)
    )
    for i in range(40):
        _, address, _, h, _ = engine.route(Request(headers={"x-user": f"user-{i}"}))
        want = cluster.lookup(h)
        assert address == (want.address if want is not None else None)


def _per_level(impl: Implementation, d: object) -> object:
    """A table class giving each level the locality weights Istio sent for it."""
    plan = d.locality  # type: ignore[attr-defined]

    def table(hosts: list[Host], **options: object) -> object:
        level = hosts[0].priority if hosts else 0
        return impl.RingHash(hosts, locality_weights=plan.weights_at(level), **options)

    return table
