"""Istio's locality load balancing for one client: failover priorities and locality weights.

Istio rewrites each destination cluster's endpoints per proxy, from the
proxy's locality (``pilot/pkg/networking/core/loadbalancer/loadbalancer.go``
``ApplyLocalityLoadBalancer``, called from ``pilot/pkg/xds/endpoints/endpoint_builder.go``):

* endpoints are grouped per locality, the groups sorted by their locality
  label (``endpoint_builder.go`` ``generate``), each group weighing the sum
  of its endpoints' weights;
* ``distribute`` (``applyLocalityWeights``): the first entry whose ``from``
  matches the client sets each group's weight to ``ceil(group · weight /
  Σ groups)`` over the groups each ``to`` key matches; groups no key matches
  lose their endpoints; everything stays at priority 0;
* otherwise, only when the cluster has ``outlierDetection``: ``failoverPriority``
  labels (``applyFailoverPriorities``) split each group by how many leading
  labels the endpoint shares with the client, then (alone, or after them
  when ``failover`` is also given) ``applyLocalityFailover`` ranks each group
  0 (same region, zone and sub-zone), 1 (same zone), 2 (same region), 3 (other
  region), 4 (a region the client's ``failover`` entry does not name),
  combined as ``old · 5 + rank``; the priorities are then compacted to 0..N.

Envoy weighs localities inside a priority (``locality_weighted_lb_config``)
only when ``distribute`` is given, or failover applies with ``failover`` or
``failoverPriority`` given (``LocalityLBSettings.ApplyToCluster``).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import replace

from .._source import InputError, Where
from .._validate import short as _short
from ._yaml import LDict
from .model import Endpoint, LocalityPlan
from .parse import (
    HOSTNAME_LABEL,
    NETWORK_LABEL,
    TOPOLOGY_LABELS,
    split_locality,
)

__all__ = (
    "augmented_labels",
    "envoy_locality",
    "grouped",
    "lb_priority",
    "locality_lb",
    "locality_match",
)

Locality = tuple[str, str, str]


def envoy_locality(label: str) -> str | None:
    """Return Envoy's ``region/zone/sub_zone`` for an Istio locality label (None for "")."""
    if not label:
        return None
    return "/".join(split_locality(label)).rstrip("/")


def augmented_labels(labels: Mapping[str, str], locality: str, node: str = "") -> dict[str, str]:
    """Istio's ``AugmentLabels``: the labels plus the topology labels of *locality* and *node*.

    (``pilot/pkg/serviceregistry/util/label/label.go``): region, zone and
    sub-zone labels when non-empty, ``kubernetes.io/hostname`` for a node.
    """
    out = dict(labels)
    for key, value in zip(TOPOLOGY_LABELS, split_locality(locality), strict=True):
        if value:
            out[key] = value
    if node:
        out[HOSTNAME_LABEL] = node
    return out


def locality_match(locality: Locality, rule: str) -> bool:
    """Istio's ``util.LocalityMatch``: ``*`` or a missing zone / sub-zone matches anything."""
    region, zone, subzone = split_locality(rule)
    return (
        (region == "*" or locality[0] == region)
        and (zone in ("*", "") or locality[1] == zone)
        and (subzone in ("*", "") or locality[2] == subzone)
    )


def lb_priority(client: Locality, endpoint: Locality) -> int:
    """Istio's ``util.LbPriority``: 0 same sub-zone, 1 same zone, 2 same region, 3 else."""
    if client[0] != endpoint[0]:
        return 3
    if client[1] != endpoint[1]:
        return 2
    return 0 if client[2] == endpoint[2] else 1


def _compact(priorities: Sequence[int]) -> list[int]:
    """Renumber priorities 0..N in increasing order, without gaps (Istio's step 2)."""
    rank = {p: i for i, p in enumerate(sorted(set(priorities)))}
    return [rank[p] for p in priorities]


def _failover_priority(
    client_labels: Mapping[str, str], labels: Mapping[str, str], names: Sequence[str]
) -> int:
    """Istio's ``applyFailoverPriorityPerLocality`` for one endpoint."""
    n = len(names)
    network_first = n > 0 and names[0] == NETWORK_LABEL
    priority = adjust = 0
    for j, item in enumerate(names):
        label, sep, override = item.partition("=")
        want = override if sep else client_labels.get(label, "")
        if want != labels.get(label, ""):
            if j == 0 and network_first:
                adjust = n  # another network: keep matching, one block lower
                continue
            priority = n - j
            break
    return priority + adjust


def _locality_failover(
    client: Locality, groups: Sequence[Locality], old: Sequence[int], rules: Sequence[LDict]
) -> list[int]:
    """Istio's ``applyLocalityFailover`` over groups (their localities and prior priorities)."""
    out = []
    for locality, before in zip(groups, old, strict=True):
        p = lb_priority(client, locality)
        if p == 3:
            for rule in rules:
                if str(rule.get("from")) == client[0]:
                    if locality[0] != str(rule.get("to")):
                        p = 4
                    break
        out.append(before * 5 + p)
    return _compact(out)


def grouped(endpoints: Sequence[Endpoint]) -> tuple[Endpoint, ...]:
    """Return the endpoints grouped by locality, groups sorted by label, with their Envoy locality.

    Istio's ``generate`` (``endpoint_builder.go``): one ``LocalityLbEndpoints``
    per locality label, sorted, endpoints in order within each (Envoy's host
    order within a priority).
    """
    order = sorted(range(len(endpoints)), key=lambda i: endpoints[i].pod.locality)
    return tuple(
        replace(endpoints[i], locality=envoy_locality(endpoints[i].pod.locality))
        if endpoints[i].pod.locality
        else endpoints[i]
        for i in order
    )


def locality_lb(
    endpoints: Sequence[Endpoint],
    *,
    setting: LDict | None,
    source: str,
    failover: bool,
    cluster_outlier: bool = False,
    client: str,
    client_labels: Mapping[str, str],
    where: Where | None,
    what: str,
) -> tuple[tuple[Endpoint, ...], LocalityPlan]:
    """Return the endpoints as Istio sends them to a client at *client*, and what was done.

    *setting* is the effective ``localityLbSetting`` (None: disabled);
    *failover* whether the rule gives the cluster ``outlierDetection`` (failover
    applies to its endpoints), *cluster_outlier* whether the cluster has one
    at all (the mesh default counts there: Envoy then weighs localities when
    ``failover`` or ``failoverPriority`` is given, ``ApplyToCluster``);
    *client* the client's locality label, *client_labels* its labels
    (augmented with its topology labels).  Each endpoint comes back with its
    ``priority`` and Envoy ``locality``, grouped by locality in Istio's order.

    :raises InputError: ``distribute`` leaves the client no endpoint.
    """
    eps = list(grouped(endpoints))
    labels = [e.pod.locality for e in eps]
    if setting is None:
        return tuple(eps), LocalityPlan("off", source, client)
    me = split_locality(client)
    distribute = setting.get("distribute") or []
    rules = setting.get("failover") or []
    names = [str(x) for x in setting.get("failoverPriority") or []]
    if distribute:
        return _distribute(eps, labels, distribute, me, source, client, where, what)
    if not failover:
        if cluster_outlier and (rules or names):
            named = _named(eps)
            return named, LocalityPlan("none", source, client, _weights(named, me, {}))
        return tuple(eps), LocalityPlan("none", source, client)
    groups = [split_locality(x) for x in labels]
    if names:
        mode = "failoverPriority"
        prio = [
            _failover_priority(
                client_labels, augmented_labels(e.pod.labels, e.pod.locality, e.pod.node), names
            )
            for e in eps
        ]
        prio = _compact(prio)
        if rules:
            prio = _locality_failover(me, groups, prio, rules)
    else:
        mode = "failover"
        prio = _locality_failover(me, groups, [0] * len(eps), rules)
    out = tuple(replace(e, priority=p) for e, p in zip(eps, prio, strict=True))
    weights = None
    if rules or names:
        out = _named(out)
        weights = _weights(out, me, {})
    return out, LocalityPlan(mode, source, client, weights)


def _distribute(
    eps: list[Endpoint],
    labels: list[str],
    distribute: Sequence[LDict],
    me: Locality,
    source: str,
    client: str,
    where: Where | None,
    what: str,
) -> tuple[tuple[Endpoint, ...], LocalityPlan]:
    """``applyLocalityWeights``: one weight per locality group; unmatched groups are dropped."""
    group_of = list(dict.fromkeys(labels))
    size = {g: labels.count(g) for g in group_of}
    weight: dict[str, int] = dict(size)
    rule = next((r for r in distribute if locality_match(me, str(r.get("from")))), None)
    if rule is not None:
        left = set(group_of)
        for pattern, w in (rule.get("to") or {}).items():
            matched = [
                g for g in group_of if g in left and locality_match(split_locality(g), pattern)
            ]
            total = sum(size[g] for g in matched)
            for g in matched:
                left.discard(g)
                weight[g] = math.ceil(float(size[g] * int(w)) / float(total))
        eps = [e for e, g in zip(eps, labels, strict=True) if g not in left]
        for g in left:
            del weight[g]
        if not eps:
            raise InputError(
                where,
                f"{what}: localityLbSetting.distribute from {_short(rule.get('from'))} sends "
                f"a client at {_short(client)} to no locality that has endpoints (Envoy: 503)",
            )
    given = {envoy_locality(g) or "": w for g, w in weight.items()}
    out = _named(eps)
    return out, LocalityPlan("distribute", source, client, _weights(out, me, given))


def _named(eps: Sequence[Endpoint]) -> tuple[Endpoint, ...]:
    """Give endpoints of an unknown locality Envoy's empty one (weighted hosts need a name)."""
    return tuple(e if e.locality is not None else replace(e, locality="") for e in eps)


def _weights(
    eps: Sequence[Endpoint], me: Locality, given: Mapping[str, int]
) -> tuple[tuple[int, tuple[tuple[str, int], ...]], ...]:
    """Per priority, each locality's weight in Envoy's order: the client's first, then sorted.

    A locality's weight is *given* (``distribute``, one priority), else the
    count of its endpoints at that priority (Istio's ``LoadBalancingWeight``,
    the sum of endpoint weights of 1).
    """
    counts: dict[int, dict[str, int]] = {}
    for e in eps:
        name = e.locality or ""
        level = counts.setdefault(e.priority, {})
        level[name] = level.get(name, 0) + 1
    mine = "/".join(me).rstrip("/")
    out = []
    for p in sorted(counts):
        names = sorted(counts[p], key=lambda n: (n != mine, split_locality(n)))
        out.append((p, tuple((n, given.get(n, counts[p][n])) for n in names)))
    return tuple(out)
