"""Istio's locality load balancing in the translation (spec-2 §18.6) and in ``hashlb simulate``.

Each rule is written from Istio's behaviour; the comment on each test names
the Istio source it restates (paths in github.com/istio/istio):

* ``pkg/model/proxy.go`` (``GetLocalityLabel``, ``SanitizeLocalityLabel``) and
  ``pilot/pkg/serviceregistry/kube/controller/controller.go`` (``getPodLocality``):
  where a pod's locality comes from;
* ``pilot/pkg/xds/endpoints/endpoint_builder.go`` (``generate``,
  ``getOutlierDetectionAndLoadBalancerSettings``): locality groups sorted by
  label, failover only with the cluster's ``outlierDetection``;
* ``pilot/pkg/networking/core/loadbalancer/loadbalancer.go``
  (``GetEffectiveLbSetting``, ``ApplyLocalityLoadBalancer``,
  ``applyLocalityFailover``, ``applyFailoverPriorities``,
  ``applyFailoverPriorityPerLocality``, ``applyLocalityWeights``,
  ``LocalityLBSettings.ApplyToCluster``) and ``pilot/pkg/networking/util/util.go``
  (``LbPriority``, ``LocalityMatch``): priorities and weights;
* ``pkg/config/validation/agent/validation.go`` (``ValidateLocalityLbSetting``).
"""

from __future__ import annotations

import json
import textwrap
from collections import Counter
from pathlib import Path

import pytest

pytest.importorskip("yaml")  # the istio extra; the test extra installs it

from hashlb import Cluster, Host, Request
from hashlb.istio import HOST_LABEL, InputError, TableCache, build_engines, load_mesh
from hashlb.istio.locality import lb_priority, locality_match
from hashlb.istio.model import Destination

from ._cli import error_line, run_cli, write
from ._impl import Implementation

OUTLIER = "outlierDetection: {consecutive5xxErrors: 5}"
USERS = [f"user-{i}" for i in range(300)]


def _pod(
    i: int,
    locality: str = "",
    *,
    how: str = "label",
    labels: str = "",
    node: str = "",
    health: str = "",
) -> str:
    """A Ready pod web-I at 10.0.0.(I+1), its locality given *how* (label, annotation, none)."""
    label = {"app": "web"}
    annotations = {}
    if locality and how == "label":
        label["istio-locality"] = locality.replace("/", ".")
    elif locality and how == "annotation":
        annotations["hashlb.io/locality"] = locality
    if health:
        annotations["hashlb.io/health"] = health
    extra = f", {labels}" if labels else ""
    meta = f"name: web-{i}, labels: {{{', '.join(f'{k}: {v}' for k, v in label.items())}{extra}}}"
    if annotations:
        meta += ", annotations: {" + ", ".join(f"{k}: {v}" for k, v in annotations.items()) + "}"
    spec = "containers: [{name: c, ports: [{containerPort: 8080}]}]"
    if node:
        spec += f", nodeName: {node}"
    return (
        f"---\napiVersion: v1\nkind: Pod\nmetadata: {{{meta}}}\nspec: {{{spec}}}\n"
        f"status: {{phase: Running, podIP: 10.0.0.{i + 1}}}\n"
    )


def _mesh(pods: list[str], policy: str = "", *, lb: str = "", extra: str = "") -> str:
    """A DestinationRule (ring hash on x-user, *policy* lines), a Service, the pods."""
    lines = "    loadBalancer:\n      consistentHash: {httpHeaderName: x-user}\n"
    lines += "".join(f"      {line}\n" for line in lb.splitlines() if line)
    lines += "".join(f"    {line}\n" for line in policy.splitlines() if line)
    return (
        "apiVersion: networking.istio.io/v1\nkind: DestinationRule\nmetadata: {name: web}\n"
        "spec:\n  host: web\n  trafficPolicy:\n"
        + lines
        + "---\napiVersion: v1\nkind: Service\nmetadata: {name: web}\n"
        "spec: {selector: {app: web}, ports: [{port: 80, targetPort: 8080}]}\n"
        + "".join(pods)
        + extra
    )


def _dest(text: str, client: str | None = None) -> Destination:
    (d,) = load_mesh(["-"], stdin_text=text).scenario(source_locality=client).routes[0].destinations
    return d


def _priorities(d: Destination) -> dict[str, int]:
    return {e.pod.name: e.priority for e in d.endpoints}


def _in_pod_order(d: Destination) -> list[int]:
    """The priorities of web-0, web-1, ... (the endpoints come grouped by locality)."""
    got = _priorities(d)
    return [got[f"web-{i}"] for i in range(len(got))]


# Two pods in each of us-east-1a, us-east-1b (region us-east), one in us-west-1a, one in eu-west-1a.
SPREAD = [
    ("us-east/us-east-1a/rack1", 0),
    ("us-east/us-east-1a/rack2", 1),
    ("us-east/us-east-1b", 2),
    ("us-east/us-east-1b", 3),
    ("us-west/us-west-1a", 4),
    ("eu-west/eu-west-1a", 5),
]


def _spread(**kw: str) -> list[str]:
    return [_pod(i, loc, **kw) for loc, i in SPREAD]


# --------------------------------------------------------------------------
# Where a pod's locality comes from.


def test_locality_from_istio_labels_annotation_and_node() -> None:
    """Istio's label (dots, topology.istio.io/locality first), then hashlb's annotation, then Node.

    ``pkg/model/proxy.go`` GetLocalityLabel / SanitizeLocalityLabel;
    ``kube/controller/controller.go`` getPodLocality (GA node labels, then the
    beta ones, and topology.istio.io/subzone; ``region/zone/subzone``).
    """
    nodes = textwrap.dedent(
        """\
        ---
        apiVersion: v1
        kind: Node
        metadata:
          name: n1
          labels: {topology.kubernetes.io/region: eu, topology.kubernetes.io/zone: eu-1,
                   topology.istio.io/subzone: s9}
        ---
        apiVersion: v1
        kind: Node
        metadata:
          name: n2
          labels: {failure-domain.beta.kubernetes.io/region: ap,
                   failure-domain.beta.kubernetes.io/zone: ap-2}
        """
    )
    pods = [
        _pod(0, "us.us-1.rack"),  # istio-locality with dots
        _pod(1, labels="topology.istio.io/locality: a.b, istio-locality: x.y"),
        _pod(2, "ca/ca-1", how="annotation"),
        _pod(3, node="n1"),
        _pod(4, node="n2"),
        _pod(5, "us/us-2", how="annotation", node="n1"),  # the annotation wins over the node
        _pod(6, node="unknown-node"),
        _pod(7),
    ]
    d = _dest(_mesh(pods, extra=nodes))
    got = {e.pod.name: e.locality for e in d.endpoints}
    assert got == {
        "web-0": "us/us-1/rack",
        "web-1": "a/b",
        "web-2": "ca/ca-1",
        "web-3": "eu/eu-1/s9",
        "web-4": "ap/ap-2",
        "web-5": "us/us-2",
        "web-6": None,
        "web-7": None,
    }
    # Without a client locality, nothing else changes: every endpoint at priority 0.
    assert set(_priorities(d).values()) == {0} and d.locality is None


def test_workload_annotation_spreads_replicas_in_turn() -> None:
    """A Deployment's template annotation lists localities given to replicas i % len in turn."""
    text = _mesh([]) + textwrap.dedent(
        """\
        ---
        apiVersion: apps/v1
        kind: Deployment
        metadata: {name: web}
        spec:
          replicas: 5
          selector: {matchLabels: {app: web}}
          template:
            metadata:
              labels: {app: web}
              annotations: {hashlb.io/locality: "r/z1, r/z2"}
            spec: {containers: [{name: c, ports: [{containerPort: 8080}]}]}
        """
    )
    d = _dest(text)
    got = sorted((e.pod.name, e.locality) for e in d.endpoints)
    assert got == [
        ("web-0", "r/z1"),
        ("web-1", "r/z2"),
        ("web-2", "r/z1"),
        ("web-3", "r/z2"),
        ("web-4", "r/z1"),
    ]
    # Istio groups endpoints per locality, groups sorted by label (endpoint_builder.go generate).
    assert [e.locality for e in d.endpoints] == ["r/z1"] * 3 + ["r/z2"] * 2


@pytest.mark.parametrize(
    ("value", "field"),
    [
        ("'a/b/c/d'", "hashlb.io/locality"),
        ("'/zone'", "hashlb.io/locality"),
        ("'us east'", "hashlb.io/locality"),
        ("7", "must be a string"),
    ],
)
def test_bad_locality_annotation_is_an_error_with_its_position(value: str, field: str) -> None:
    pod = _pod(0).replace(
        "labels: {app: web}", f"labels: {{app: web}}, annotations: {{hashlb.io/locality: {value}}}"
    )
    with pytest.raises(InputError, match=field) as e:
        load_mesh(["-"], stdin_text=_mesh([pod]))
    assert str(e.value).startswith("<stdin>:")


# --------------------------------------------------------------------------
# Failover priorities.


def test_no_outlier_detection_no_failover() -> None:
    """Locality failover needs the cluster's outlierDetection (endpoint_builder.go; loadbalancer.go)."""
    d = _dest(_mesh(_spread()), "us-east/us-east-1a/rack1")
    assert set(_priorities(d).values()) == {0}
    assert d.locality is not None and d.locality.mode == "none"


def test_outlier_detection_turns_on_priorities_by_locality_match() -> None:
    """LbPriority: 0 same sub-zone, 1 same zone, 2 same region, 3 other region; then compacted.

    ``util.go`` LbPriority; ``loadbalancer.go`` applyLocalityFailover (the mesh
    default localityLbSetting is enabled, so outlierDetection alone turns it on).
    """
    d = _dest(_mesh(_spread(), OUTLIER), "us-east/us-east-1a/rack1")
    assert _in_pod_order(d) == [0, 1, 2, 2, 3, 3]
    assert d.locality is not None and d.locality.mode == "failover"
    assert "Istio's default: enabled" in d.locality.source
    assert d.locality.weights is None  # no failover/failoverPriority given: no locality weighting
    # A client without a sub-zone: no endpoint shares its (empty) sub-zone except none; 1a pods
    # are "same zone" (1), compacted to 0.
    d = _dest(_mesh(_spread(), OUTLIER), "us-east/us-east-1b")
    assert _in_pod_order(d) == [1, 1, 0, 0, 2, 2]
    d = _dest(_mesh(_spread(), OUTLIER), "eu-west")
    assert _in_pod_order(d) == [1, 1, 1, 1, 1, 0]


def test_endpoints_without_locality_are_another_region() -> None:
    """An endpoint with no locality has an empty region: rank 3 for any client (util.go LbPriority)."""
    pods = [_pod(0, "us-east/us-east-1a"), _pod(1)]
    d = _dest(_mesh(pods, OUTLIER), "us-east/us-east-1a")
    assert _priorities(d) == {"web-0": 0, "web-1": 1}
    assert [e.locality for e in d.endpoints] == [None, "us-east/us-east-1a"]  # "" sorts first


def test_failover_region_rules() -> None:
    """failover from the client's region: its 'to' region stays 3, other regions become 4.

    ``loadbalancer.go`` applyLocalityFailover.
    """
    lb = "localityLbSetting:\n  failover: [{from: us-east, to: eu-west}]"
    d = _dest(_mesh(_spread(), OUTLIER, lb=lb), "us-east/us-east-1a/rack1")
    assert _in_pod_order(d) == [0, 1, 2, 2, 4, 3]
    # failover given: Envoy weighs localities (ApplyToCluster), weights = endpoints per locality.
    assert d.locality is not None and d.locality.weights is not None
    assert d.locality.weights_at(2) == {"us-east/us-east-1b": 2}
    # A rule for another region changes nothing for this client.
    lb = "localityLbSetting:\n  failover: [{from: us-west, to: eu-west}]"
    d = _dest(_mesh(_spread(), OUTLIER, lb=lb), "us-east/us-east-1a/rack1")
    assert _in_pod_order(d) == [0, 1, 2, 2, 3, 3]


def test_enabled_false_and_mesh_setting() -> None:
    """GetEffectiveLbSetting: the DR's setting first (enabled: false turns it off), else the mesh's."""
    off = "localityLbSetting: {enabled: false}"
    d = _dest(_mesh(_spread(), OUTLIER, lb=off), "us-east/us-east-1a/rack1")
    assert set(_priorities(d).values()) == {0}
    assert d.locality is not None and d.locality.mode == "off"
    mesh_cm = (
        "---\napiVersion: v1\nkind: ConfigMap\nmetadata: {name: istio, namespace: istio-system}\n"
        "data:\n  mesh: |\n    localityLbSetting: {enabled: false}\n"
    )
    d = _dest(_mesh(_spread(), OUTLIER, extra=mesh_cm), "us-east/us-east-1a/rack1")
    assert set(_priorities(d).values()) == {0}
    # The DR's own setting wins over the mesh's "off".
    on = "localityLbSetting: {enabled: true}"
    d = _dest(_mesh(_spread(), OUTLIER, lb=on, extra=mesh_cm), "us-east/us-east-1a/rack1")
    assert max(_priorities(d).values()) == 3
    assert d.locality is not None and "DestinationRule 'web'" in d.locality.source


def test_subset_outlier_detection_decides_failover() -> None:
    """Failover follows the merged policy's outlierDetection (MergeSubsetTrafficPolicy, util.go)."""
    rule = textwrap.dedent(
        f"""\
        apiVersion: networking.istio.io/v1
        kind: DestinationRule
        metadata: {{name: web}}
        spec:
          host: web
          trafficPolicy:
            loadBalancer: {{consistentHash: {{httpHeaderName: x-user}}}}
          subsets:
          - name: od
            labels: {{app: web}}
            trafficPolicy: {{{OUTLIER}}}
          - name: plain
            labels: {{app: web}}
        ---
        apiVersion: networking.istio.io/v1
        kind: VirtualService
        metadata: {{name: web}}
        spec:
          hosts: [web]
          http:
          - name: a
            match: [{{headers: {{x-to: {{exact: od}}}}}}]
            route: [{{destination: {{host: web, subset: od}}}}]
          - name: b
            route: [{{destination: {{host: web, subset: plain}}}}]
        ---
        apiVersion: v1
        kind: Service
        metadata: {{name: web}}
        spec: {{selector: {{app: web}}, ports: [{{port: 80, targetPort: 8080}}]}}
        """
    )
    text = rule + "".join(_spread())
    routes = load_mesh(["-"], stdin_text=text).scenario(source_locality="us-west").routes
    assert max(_priorities(routes[0].destinations[0]).values()) == 1
    assert set(_priorities(routes[1].destinations[0]).values()) == {0}


def test_failover_priority_labels() -> None:
    """failoverPriority: priority n - j at the first label j that differs; 'label=value' overrides.

    ``loadbalancer.go`` applyFailoverPriorities / applyFailoverPriorityPerLocality
    (endpoint and proxy labels carry the topology labels, ``AugmentLabels``).
    """
    pods = [
        _pod(0, "r1/z1", labels="tier: gold"),
        _pod(1, "r1/z2", labels="tier: gold"),
        _pod(2, "r1/z1", labels="tier: bronze"),
        _pod(3, "r2/z1", labels="tier: gold"),
    ]
    region_zone = (
        "localityLbSetting:\n  failoverPriority: [topology.kubernetes.io/region, "
        "topology.kubernetes.io/zone]"
    )
    d = _dest(_mesh(pods, OUTLIER, lb=region_zone), "r1/z1")
    assert _priorities(d) == {"web-0": 0, "web-2": 0, "web-1": 1, "web-3": 2}
    assert d.locality is not None and d.locality.mode == "failoverPriority"
    # "tier=gold" compares endpoints with the value given, not with the client's labels.
    tier = "localityLbSetting:\n  failoverPriority: ['tier=gold', topology.kubernetes.io/region]"
    d = _dest(_mesh(pods, OUTLIER, lb=tier), "r2")
    assert _priorities(d) == {"web-3": 0, "web-0": 1, "web-1": 1, "web-2": 2}
    # Locality weights per (priority, locality): endpoints counted in each part.
    assert d.locality is not None and d.locality.weights_at(1) == {"r1/z1": 1, "r1/z2": 1}
    # A leading network label that differs adds n and matching goes on (the client has none).
    net = (
        "localityLbSetting:\n  failoverPriority: [topology.istio.io/network, "
        "topology.kubernetes.io/region]"
    )
    pods[3] = _pod(3, "r2/z1", labels="topology.istio.io/network: n2")
    other = [*pods, _pod(4, "r2/z1")]  # r2 on the client's network: 1; web-3: 2 + 1 = 3
    d = _dest(_mesh(other, OUTLIER, lb=net), "r1")
    assert _priorities(d) == {"web-0": 0, "web-1": 0, "web-2": 0, "web-4": 1, "web-3": 2}
    # failoverPriority plus failover: both apply (priority * 5 + rank, compacted).
    both = "localityLbSetting:\n  failoverPriority: ['tier=gold']\n  failover: [{from: r1, to: r2}]"
    pods[3] = _pod(3, "r2/z1", labels="tier: gold")
    d = _dest(_mesh(pods, OUTLIER, lb=both), "r1/z1")
    assert _priorities(d) == {"web-0": 0, "web-1": 1, "web-3": 2, "web-2": 3}


def test_istio_helpers_restated() -> None:
    """util.go LocalityMatch and LbPriority on their corner cases."""
    assert locality_match(("r", "z", "s"), "r")
    assert locality_match(("r", "z", "s"), "r/*")
    assert locality_match(("r", "z", "s"), "*/z/s")
    assert not locality_match(("r", "z", "s"), "r/y")
    assert [
        lb_priority(("r", "z", "s"), x)
        for x in [("r", "z", "s"), ("r", "z", ""), ("r", "y", "s"), ("q", "z", "s")]
    ] == [0, 1, 2, 3]


# --------------------------------------------------------------------------
# distribute: locality weights.


def test_distribute_sets_locality_weights_and_drops_unmatched() -> None:
    """applyLocalityWeights: ceil(group * w / sum) per matched group; unmatched groups dropped.

    Applies with or without outlierDetection; everything stays at priority 0.
    """
    lb = textwrap.dedent(
        """\
        localityLbSetting:
          distribute:
          - from: us-west/*
            to: {"eu-west/*": 100}
          - from: us-east/*
            to: {"us-east/us-east-1a/*": 70, "us-east/us-east-1b/*": 20, "us-west/*": 10}
        """
    )
    d = _dest(_mesh(_spread(), lb=lb), "us-east/us-east-1b")
    assert set(_priorities(d).values()) == {0}
    assert sorted(e.pod.name for e in d.endpoints) == ["web-0", "web-1", "web-2", "web-3", "web-4"]
    assert d.locality is not None and d.locality.mode == "distribute"
    # Two 1a groups (rack1, rack2) of 1 pod share 70: ceil(1 * 70 / 2) = 35 each.  The
    # client's own locality comes first (Envoy's hostsPerLocality order).
    assert d.locality.weights == (
        (
            0,
            (
                ("us-east/us-east-1b", 20),
                ("us-east/us-east-1a/rack1", 35),
                ("us-east/us-east-1a/rack2", 35),
                ("us-west/us-west-1a", 10),
            ),
        ),
    )
    # No 'from' matches the client: weights are the endpoint counts, nothing dropped.
    d = _dest(_mesh(_spread(), lb=lb), "ap-south")
    assert len(d.endpoints) == 6 and d.locality is not None
    assert d.locality.weights_at(0)["us-east/us-east-1b"] == 2


def test_distribute_to_nothing_is_an_error() -> None:
    lb = 'localityLbSetting:\n  distribute: [{from: "*", to: {"ap/*": 100}}]'
    with pytest.raises(InputError, match=r"distribute.*no locality that has endpoints"):
        _dest(_mesh(_spread(), lb=lb), "us-east")


@pytest.mark.parametrize(
    ("lb", "message"),
    [
        (
            "localityLbSetting:\n  distribute: [{from: a, to: {b: 100}}]\n  failover: [{from: a, to: b}]",
            "can not simultaneously specify 'distribute' and 'failover'",
        ),
        (
            "localityLbSetting:\n  distribute: [{from: a, to: {b: 60, c: 30}}]",
            "add up to 90, not 100",
        ),
        (
            "localityLbSetting:\n  distribute: [{from: a, to: {b: 0, c: 100}}]",
            r"must be in \[1, 100\]",
        ),
        ("localityLbSetting:\n  failover: [{from: a, to: a}]", "must be different regions"),
        ("localityLbSetting:\n  failover: [{from: a/z, to: b}]", "must be a region"),
        ("localityLbSetting: {enabled: 1}", "enabled must be true or false"),
        ("localityLbSetting: {failovr: []}", "unknown field 'failovr'"),
        (
            "localityLbSetting:\n  failover: [{from: a, to: b}]\n"
            "  failoverPriority: [topology.kubernetes.io/zone]",
            "can not simultaneously set 'failover' and topology label",
        ),
    ],
)
def test_locality_lb_setting_is_validated_as_istio_does(lb: str, message: str) -> None:
    """ValidateLocalityLbSetting (pkg/config/validation/agent/validation.go)."""
    with pytest.raises(InputError, match=message) as e:
        load_mesh(["-"], stdin_text=_mesh(_spread(), OUTLIER, lb=lb))
    assert str(e.value).startswith("<stdin>:")


@pytest.mark.parametrize("bad", ["", "/z", "a/b/c/d", "a b", "*"])
def test_bad_source_locality(bad: str) -> None:
    mesh = load_mesh(["-"], stdin_text=_mesh(_spread()))
    with pytest.raises(InputError, match="source locality"):
        mesh.scenario(source_locality=bad)


# --------------------------------------------------------------------------
# Routing: the engines are Envoy's cluster over those priorities.


def _cluster(impl: Implementation, d: Destination, **options: object) -> Cluster:
    hosts = [
        Host(
            e.address,
            health=e.health,
            priority=e.priority,
            locality=e.locality,
            labels={**e.pod.labels, HOST_LABEL: d.host},
        )
        for e in d.endpoints
    ]
    return Cluster(hosts, balancer=impl.RingHash, min_ring_size=1024, **options)  # type: ignore[arg-type]


def _routes(impl: Implementation, text: str, client: str | None) -> list[str | None]:
    scenario = load_mesh(["-"], stdin_text=text).scenario(source_locality=client)
    tables = TableCache(maglev=impl.Maglev, ring_hash=impl.RingHash)
    (engine,) = build_engines(scenario, "envoy", seed=0, tables=tables)
    return [engine.route(Request(headers={"x-user": u}))[1] for u in USERS]


def test_picks_are_the_clusters_and_spill_over(impl: Implementation) -> None:
    """Two of the client's zone's pods ejected: 2 of 4 healthy -> P0 70%, the rest spills over."""
    pods = [_pod(i, "r/z1", health="unhealthy" if i < 2 else "") for i in range(4)]
    pods += [_pod(i, "r/z2") for i in range(4, 8)]
    text = _mesh(pods, OUTLIER)
    d = _dest(text, "r/z1")
    cluster = _cluster(impl, d, healthy_panic_threshold=0)
    assert cluster.priority_load == ((70, 30), (0, 0))
    picks = _routes(impl, text, "r/z1")
    scenario = load_mesh(["-"], stdin_text=text).scenario(source_locality="r/z1")
    (engine,) = build_engines(scenario, "envoy", seed=0)
    for u, address in zip(USERS, picks, strict=True):
        h = engine.route(Request(headers={"x-user": u}))[3]
        want = cluster.lookup(h)
        assert address == (want.address if want is not None else None)
    zones = Counter(a.rsplit(".", 1)[1][0] for a in picks if a)
    assert zones["3"] + zones["4"] > 0  # the healthy local pods 10.0.0.3/4
    assert sum(1 for a in picks if a in {"10.0.0.1:8080", "10.0.0.2:8080"}) == 0
    remote = sum(1 for a in picks if a and int(a.split(".")[3].split(":")[0]) > 4)
    assert 0.2 * len(USERS) < remote < 0.4 * len(USERS)
    health = engine.health["web"]
    assert [lv[:3] for lv in health.levels] == [(0, 4, 2), (1, 4, 4)]


def test_distribute_picks_follow_the_locality_weights(impl: Implementation) -> None:
    """distribute: the engine is a locality-weighted cluster (ApplyToCluster sets the config)."""
    lb = 'localityLbSetting:\n  distribute: [{from: "r/*", to: {"r/z1": 90, "r/z2": 10}}]'
    pods = [_pod(i, "r/z1") for i in range(2)] + [_pod(i, "r/z2") for i in range(2, 4)]
    text = _mesh(pods, lb=lb)
    d = _dest(text, "r/z2")
    assert d.locality is not None and d.locality.weights is not None
    cluster = _cluster(impl, d, locality_weighted=True, locality_weights=d.locality.weights_at(0))
    picks = _routes(impl, text, "r/z2")
    scenario = load_mesh(["-"], stdin_text=text).scenario(source_locality="r/z2")
    (engine,) = build_engines(scenario, "envoy", seed=0)
    for u, address in zip(USERS, picks, strict=True):
        want = cluster.lookup(engine.route(Request(headers={"x-user": u}))[3])
        assert want is not None and address == want.address
    z1 = sum(1 for a in picks if a in {"10.0.0.1:8080", "10.0.0.2:8080"})
    assert z1 > 0.8 * len(USERS)  # 90% of the ring, where flat it would be half
    flat = _routes(impl, _mesh(pods), "r/z2")
    assert sum(1 for a in flat if a in {"10.0.0.1:8080", "10.0.0.2:8080"}) < 0.7 * len(USERS)


# --------------------------------------------------------------------------
# hashlb simulate, end to end: istio#41674.


def test_outlier_detection_makes_two_zones_pick_different_pods(
    impl: Implementation, tmp_path: Path
) -> None:
    """istio#41674: with outlierDetection, proxies in two zones send one user to different pods.

    Without outlierDetection (or without --source-locality) both zones agree.
    """
    write(tmp_path / "od" / "mesh.yaml", _mesh(_spread(), OUTLIER))
    write(tmp_path / "plain" / "mesh.yaml", _mesh(_spread()))
    base = ["simulate", "--users", "50", "--requests-per-user", "1"]

    def decisions(directory: str, zone: str | None) -> dict[str, str]:
        name = f"{directory}-{(zone or 'none').replace('/', '_')}"
        args = [*base, "-f", directory, "--decisions", f"{name}.jsonl", "--json", f"{name}.json"]
        if zone is not None:
            args += ["--source-locality", zone]
        proc = run_cli(impl, *args, cwd=tmp_path)
        assert proc.returncode == 0, proc.stderr
        rows = (tmp_path / f"{name}.jsonl").read_text().splitlines()
        return {r["user"]: r["endpoint"] for r in map(json.loads, rows)}

    east_a = decisions("od", "us-east/us-east-1a/rack1")
    east_b = decisions("od", "us-east/us-east-1b")
    assert set(east_a.values()) == {"10.0.0.1:8080"}  # its own sub-zone holds one pod
    assert set(east_b.values()) == {"10.0.0.3:8080", "10.0.0.4:8080"}
    assert all(east_a[u] != east_b[u] for u in east_a)
    s = json.loads((tmp_path / "od-us-east_us-east-1b.json").read_text())
    assert s["localities"]["10.0.0.3:8080"] == {"locality": "us-east/us-east-1b", "priority": 0}
    assert s["localities"]["10.0.0.6:8080"] == {"locality": "eu-west/eu-west-1a", "priority": 2}
    web = s["health"]["subsets"]["web"]
    assert [lv["priority"] for lv in web["priorities"]] == [0, 1, 2]
    assert web["priorities"][0]["localities"] == ["us-east/us-east-1b"]
    assert web["locality"].startswith("failover for client us-east/us-east-1b")
    plain_a = decisions("plain", "us-east/us-east-1a/rack1")
    plain_b = decisions("plain", "us-east/us-east-1b")
    assert plain_a == plain_b == decisions("od", None)


def test_simulate_report_shows_localities_and_priorities(
    impl: Implementation, tmp_path: Path
) -> None:
    write(tmp_path / "mesh.yaml", _mesh(_spread(), OUTLIER))
    args = ["simulate", "-f", "mesh.yaml", "--users", "20", "--source-locality", "us-west"]
    proc = run_cli(impl, *args, cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    out = proc.stdout
    head = next(line for line in out.splitlines() if line.startswith("endpoint "))
    assert head.split()[:6] == ["endpoint", "pod", "subset", "locality", "priority", "requests"]
    assert "web: locality failover for client us-west" in out
    assert "P0 us-west/us-west-1a: 1/1 healthy" in out
    # Without the option: a locality column, no priority column, no failover line.
    proc = run_cli(impl, "simulate", "-f", "mesh.yaml", "--users", "20", cwd=tmp_path)
    head = next(line for line in proc.stdout.splitlines() if line.startswith("endpoint "))
    assert "locality" in head and "priority" not in head
    assert "failover for client" not in proc.stdout


def test_simulate_rejects_a_bad_source_locality(impl: Implementation, tmp_path: Path) -> None:
    write(tmp_path / "mesh.yaml", _mesh(_spread(), OUTLIER))
    proc = run_cli(
        impl, "simulate", "-f", "mesh.yaml", "--source-locality", "a/b/c/d", cwd=tmp_path
    )
    assert proc.returncode == 2
    assert "source locality" in error_line(proc) and "REGION[/ZONE[/SUBZONE]]" in error_line(proc)


def test_source_locality_is_refused_with_envoy_config(impl: Implementation, tmp_path: Path) -> None:
    """An Envoy dump already holds each endpoint's priority: the option belongs to -f."""
    write(tmp_path / "dump.json", "{}")
    proc = run_cli(
        impl, "simulate", "--envoy-config", "dump.json", "--source-locality", "r/z", cwd=tmp_path
    )
    assert proc.returncode == 2
    assert "--source-locality applies to -f" in error_line(proc)


@pytest.mark.parametrize(
    ("how", "mode"),
    [
        ("trafficDistribution: PreferClose", "zone"),
        ("trafficDistribution: PreferSameNode", "node"),
        ("annotation: PreferSameZone", "zone"),
        ("trafficDistribution: Other", "off"),
    ],
)
def test_service_traffic_distribution_forces_failover_priority(how: str, mode: str) -> None:
    """A Service's trafficDistribution: forced failoverPriority labels, no outlierDetection needed.

    ``pilot/pkg/model/service.go`` GetTrafficDistribution (spec field, then the
    networking.istio.io/traffic-distribution annotation); ``loadbalancer.go``
    GetEffectiveLbSetting (PreferSameZone: network, region, zone; PreferSameNode
    adds subzone and hostname; Force).
    """
    pods = [_pod(0, "r1/z1", node="n1"), _pod(1, "r1/z2"), _pod(2, "r2/z1"), _pod(3, "r1/z1")]
    text = _mesh(pods)
    field, _, value = how.partition(": ")
    if field == "annotation":
        meta = f"{{name: web, annotations: {{networking.istio.io/traffic-distribution: {value}}}}}"
        text = text.replace(
            "kind: Service\nmetadata: {name: web}", f"kind: Service\nmetadata: {meta}"
        )
    else:
        text = text.replace("spec: {selector: {app: web}", f"spec: {{{how}, selector: {{app: web}}")
    assert value in text
    d = _dest(text, "r1/z1")
    if mode == "off":
        assert set(_priorities(d).values()) == {0}
        return
    assert d.locality is not None and "trafficDistribution" in d.locality.source
    assert d.locality.mode == "failoverPriority" and d.locality.weights is not None
    if mode == "zone":
        assert _in_pod_order(d) == [0, 1, 2, 0]
    else:
        # The client's node is unknown (""): web-0, on node n1, differs on the hostname label.
        assert _in_pod_order(d) == [1, 2, 3, 0]


def test_simple_balancer_follows_the_priority_loads(impl: Implementation) -> None:
    """A ROUND_ROBIN cluster with failover priorities picks in priority 0 while it is healthy,
    and spills over by the priority loads (Envoy's choosePriority) when it is not."""
    lb = "loadBalancer: {simple: ROUND_ROBIN}"
    rule = _mesh([_pod(0, "r/z1"), _pod(1, "r/z2"), _pod(2, "r/z2")], OUTLIER + "\n" + lb)
    rule = rule.replace("    loadBalancer:\n      consistentHash: {httpHeaderName: x-user}\n", "")
    assert "ROUND_ROBIN" in rule and "consistentHash" not in rule
    picks = Counter(_routes(impl, rule, "r/z1"))
    assert set(picks) == {"10.0.0.1:8080"}
    ejected = rule.replace(
        "labels: {app: web, istio-locality: r.z1}",
        "labels: {app: web, istio-locality: r.z1}, annotations: {hashlb.io/health: unhealthy}",
    )
    assert "hashlb.io/health" in ejected
    picks = Counter(_routes(impl, ejected, "r/z1"))
    assert set(picks) == {"10.0.0.2:8080", "10.0.0.3:8080"}  # P0 has no healthy host: load 0


def test_mesh_default_outlier_detection_weighs_but_does_not_fail_over() -> None:
    """The mesh defaultTrafficPolicy's outlierDetection reaches the cluster (CDS), not the
    endpoints: no priorities (endpoint_builder.go reads the DestinationRule only), but with
    'failover' given Envoy weighs localities (ApplyToCluster sees the cluster's outlierDetection)."""
    mesh_cm = (
        "---\napiVersion: v1\nkind: ConfigMap\nmetadata: {name: istio, namespace: istio-system}\n"
        "data:\n  mesh: |\n    defaultTrafficPolicy:\n      outlierDetection: {consecutive5xxErrors: 5}\n"
    )
    lb = "localityLbSetting:\n  failover: [{from: us-east, to: eu-west}]"
    d = _dest(_mesh(_spread(), lb=lb, extra=mesh_cm), "us-east/us-east-1a/rack1")
    assert set(_priorities(d).values()) == {0}
    assert d.locality is not None and d.locality.mode == "none"
    assert d.locality.weights_at(0)["us-east/us-east-1b"] == 2
    d = _dest(_mesh(_spread(), lb=lb), "us-east/us-east-1a/rack1")  # no outlierDetection at all
    assert d.locality is not None and d.locality.weights is None
