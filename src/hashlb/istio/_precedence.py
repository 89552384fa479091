"""Istio's traffic policy precedence: which ``loadBalancer`` and ``outlierDetection`` a cluster gets.

The cluster side follows ``MergeSubsetTrafficPolicy``
(``pilot/pkg/networking/util/util.go``) and ``MergeTrafficPolicy``
(``pilot/pkg/model/destination_rule.go``): the rule's policy resolved for the
port, then the subset's.  The route side (the hash policy entry of each
destination) follows ``HashForHTTPDestination``
(``pilot/pkg/networking/core/route/route.go``), which reads only
``consistentHash`` fields.  The fields themselves are checked by
:mod:`hashlb.istio.parse` when the documents are read.
"""

from __future__ import annotations

from .._validate import short as _short
from ._fields import _int, _list
from ._yaml import LDict
from .model import HashKey, LoadBalancer, _DestinationRule, _Subset
from .parse import _parse_consistent_hash

__all__ = (
    "merged_policy_field",
    "min_health_percent",
    "outlier_detection",
    "route_consistent_hash",
    "route_hash_key",
)


def _port_lb(policy: LDict | None, port: int) -> LDict | None:
    if policy is None:
        return None
    for item in _list(policy, "portLevelSettings", "trafficPolicy"):
        pm = item.get("port")
        if isinstance(pm, LDict) and _int(pm, "number", "port", 1, 65535) == port:
            lb = item.get("loadBalancer")
            return lb if isinstance(lb, LDict) else None
    return None


def _levels(
    rule: _DestinationRule, subset: _Subset | None, port: int
) -> list[tuple[str, LDict | None]]:
    """The loadBalancer of each level, in Istio's precedence order."""
    sp = subset.policy if subset is not None else None
    return [
        (f"subset {_short(subset.name)} port {port}" if subset else "", _port_lb(sp, port)),
        (f"subset {_short(subset.name)}" if subset else "", sp.get("loadBalancer") if sp else None),
        (f"DestinationRule {_short(rule.name)} port {port}", _port_lb(rule.policy, port)),
        (
            f"DestinationRule {_short(rule.name)}",
            rule.policy.get("loadBalancer") if rule.policy else None,
        ),
    ]


def _load_balancer(rule: _DestinationRule, subset: _Subset | None, port: int) -> LoadBalancer:
    """The cluster's ``loadBalancer``, merged as Istio merges a cluster's traffic policy.

    ``MergeSubsetTrafficPolicy`` (``pilot/pkg/networking/util/util.go``): the
    rule's policy resolved for *port* (a ``portLevelSettings`` entry for the
    port replaces it whole: "port level policies do not inherit", so an entry
    without ``loadBalancer`` leaves the cluster on Istio's default), then the
    subset's: its port-level entry replaces the field even when it has no
    ``loadBalancer``, else a subset ``loadBalancer`` replaces the rule's
    (``MergeTrafficPolicy``, ``pilot/pkg/model/destination_rule.go``).
    """
    lb, level = merged_policy_field(rule, subset, port, "loadBalancer")
    if not isinstance(lb, LDict):
        return LoadBalancer("simple", level=f"{level} default", where=rule.where)
    ch = lb.get("consistentHash")
    if isinstance(ch, LDict):
        algo, ring, table, key = _parse_consistent_hash(ch, level)
        return LoadBalancer(algo, ring, table, key, level, ch.where)
    simple = lb.get("simple")
    return LoadBalancer(
        "simple",
        level=f"{level} loadBalancer",
        where=lb.where,
        simple=str(simple).upper() if isinstance(simple, str) else "",
    )


def _port_policy(policy: LDict | None, port: int) -> tuple[LDict | None, bool]:
    """Istio's ``GetPortLevelTrafficPolicy``: the entry for *port* replaces the whole policy."""
    if policy is None:
        return None, False
    for item in _list(policy, "portLevelSettings", "trafficPolicy"):
        pm = item.get("port")
        if isinstance(pm, LDict) and _int(pm, "number", "port", 1, 65535) == port:
            return item, True
    return policy, False


def outlier_detection(
    rule: _DestinationRule, subset: _Subset | None, port: int
) -> tuple[LDict | None, str]:
    """Return the cluster's ``outlierDetection`` and the level it came from (Istio's ``cluster_traffic_policy.go``).

    The rule's policy resolved for the port (a port-level entry replaces it
    whole), then the subset's: its port-level entry replaces the field even
    when it has none, else a subset ``outlierDetection`` replaces the rule's
    (Istio's ``MergeSubsetTrafficPolicy``).
    """
    return merged_policy_field(rule, subset, port, "outlierDetection")


def merged_policy_field(
    rule: _DestinationRule, subset: _Subset | None, port: int, name: str
) -> tuple[LDict | None, str]:
    """Return field *name* of Istio's ``MergeSubsetTrafficPolicy`` for *port*, and its level.

    (``pilot/pkg/networking/util/util.go``): the rule's policy resolved for the
    port (a port-level entry replaces it whole), then the subset's: its
    port-level entry replaces the field even when it has none, else a subset
    field replaces the rule's.
    """
    policy, port_level = _port_policy(rule.policy, port)
    found = policy.get(name) if policy is not None else None
    label = f"DestinationRule {_short(rule.name)}" + (f" port {port}" if port_level else "")
    if subset is not None and subset.policy is not None:
        spolicy, sport_level = _port_policy(subset.policy, port)
        assert spolicy is not None
        own = spolicy.get(name)
        if own is not None or sport_level:
            found = own
            label = f"subset {_short(subset.name)}" + (f" port {port}" if sport_level else "")
    return found, label


def min_health_percent(od: LDict, what: str) -> int:
    """Return ``minHealthPercent`` of an ``outlierDetection`` block (0 when unset)."""
    return _int(od, "minHealthPercent", f"{what} outlierDetection", 0, 100, default=0) or 0


def route_hash_key(
    rule: _DestinationRule, subset: _Subset | None, port: int | None
) -> HashKey | None:
    """Return the route's hash key for a destination: Istio's ``HashForHTTPDestination``.

    Only ``consistentHash`` fields are consulted, in the same precedence, so a
    subset with ``loadBalancer.simple`` leaves the rule's consistentHash in
    force for the route (its cluster still balances simply).
    Port-level settings count only for a *port* (None: the destination names
    no port and the service does not have exactly one; ``route.go``
    ``portLevelSettingsConsistentHash``).
    """
    return route_consistent_hash(rule, subset, port)[1]


def route_consistent_hash(
    rule: _DestinationRule, subset: _Subset | None, port: int | None
) -> tuple[bool, HashKey | None]:
    """Return (a ``consistentHash`` applies to the route, its hash key) (see :func:`route_hash_key`).

    A ``consistentHash`` without a key (or ``useSourceIp: false``) applies
    but has no key: Istio then emits no hash policy entry yet still treats
    the route as hashing for its retry policy (``retry.go`` ``ConvertPolicy``).
    """
    levels = _levels(rule, subset, port if port is not None else 0)
    if port is None:
        levels = [levels[1], levels[3]]  # no port-level settings without a port
    for level, lb in levels:
        ch = lb.get("consistentHash") if isinstance(lb, LDict) else None
        if isinstance(ch, LDict):
            return True, _parse_consistent_hash(ch, level)[3]
    return False, None
