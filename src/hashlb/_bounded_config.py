"""What a BoundedLoad wraps, read once for both twins: a table, or a Cluster's levels.

Envoy wraps each priority's ring or Maglev table in its own
``BoundedLoadHashingLoadBalancer`` (``ThreadAwareLoadBalancerBase::refresh``
builds one per priority, in ``thread_aware_lb_impl.cc``), while the load it
counts is per host (``rq_active``) and cluster-wide (``upstream_rq_active``,
every priority).  So a :class:`~hashlb.Cluster` becomes one *level* per
priority -- its table's lookup, and its normalized order and weights mapped to
the cluster's host indices -- plus the level each ``hash % 100`` chooses;
the counts are indexed by :attr:`Cluster.hosts <hashlb.Cluster.hosts>`.  A
plain table is the one-level case.
"""

from __future__ import annotations

from typing import Any

from ._types import Host
from ._validate import check_normalized_weights, short
from .cluster import Cluster

__all__ = ("Level", "host_position", "layout")


def host_position(hosts: tuple[Host, ...], host: object) -> int:
    """Return *host*'s index in *hosts* by equality (``release`` of an equal copy).

    :raises ValueError: *host* is not one of *hosts*.
    """
    try:
        return hosts.index(host)
    except ValueError:
        raise ValueError(f"host {host!r} is not in this table") from None


#: One level: ``(lookup, order, weights)``, *order* in the BoundedLoad's host indices.
Level = tuple[Any, tuple[int, ...], tuple[float, ...]]


def _table_level(
    lb: Any, index: dict[int, int] | None, where: str
) -> tuple[tuple[Any, ...], Level]:
    """Return *lb*'s hosts and level (its lookup, normalized order and weights).

    *index* maps ``id(host)`` to the BoundedLoad's host index (a Cluster's
    level); None for a table wrapped alone, whose own host indices are used.
    """
    try:
        hosts = tuple(lb.hosts)
        order = tuple(int(i) for i in lb.normalized_order)
        weights = tuple(float(w) for w in lb.normalized_weights)
        lookup = lb.lookup
    except AttributeError as e:
        raise TypeError(
            f"{where} must be a hashlb table (hosts, lookup, normalized_order, "
            f"normalized_weights): {e}"
        ) from None
    if len(order) != len(weights):
        raise ValueError(
            f"{where}.normalized_order and {where}.normalized_weights differ in length"
        )
    check_normalized_weights(weights)
    for i in order:
        if not 0 <= i < len(hosts):
            raise ValueError(f"{where}.normalized_order holds {i}, not a host index")
    if index is not None:  # a Cluster's level: always mapped, even over no hosts
        try:
            order = tuple(index[id(hosts[i])] for i in order)
        except KeyError:
            raise ValueError(f"{where} holds a host that is not in lb.hosts") from None
    return hosts, (lookup, order, weights)


def layout(
    lb: object,
) -> tuple[tuple[Host, ...], dict[int, int], tuple[Level, ...], tuple[int, ...] | None]:
    """Return ``(hosts, index, levels, choice)`` for ``BoundedLoad(lb)``.

    *hosts* are the hosts counted (``lb.hosts``), *index* maps ``id(host)``
    to its first index there, *levels* hold one :data:`Level` per priority
    (one for a table), and *choice* is the level of each ``hash % 100``
    (None for a table: always level 0).

    :raises TypeError: *lb* (or a level's table) lacks a table's attributes.
    :raises ValueError: inconsistent normalized order or weights.
    """
    index: dict[int, int] = {}
    if not isinstance(lb, Cluster):
        hosts, level = _table_level(lb, None, "lb")
        for i, h in enumerate(hosts):
            index.setdefault(id(h), i)
        return hosts, index, (level,), None
    hosts = tuple(lb.hosts)
    for i, h in enumerate(hosts):
        index.setdefault(id(h), i)
    levels = tuple(
        _table_level(level.table, index, f"lb.priorities[{p}].table")[1]
        for p, level in enumerate(lb.priorities)
    )
    choice = tuple(lb.choose_priority(r)[0] for r in range(100))
    for p in choice:  # a subclass may say anything: the compiled twin indexes with it
        if type(p) is not int or not 0 <= p < len(levels):
            raise ValueError(f"lb.choose_priority gave level {short(p)}, not one of lb.priorities")
    return hosts, index, levels, choice
