"""The changes ``hashlb diff -f`` applies to a base mesh: weights, pods, health, balancer, rollout."""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import replace
from typing import TYPE_CHECKING

from .._source import InputError
from .._validate import MAX_ROLLOUT_STEPS, cap
from .._validate import short as _short

if TYPE_CHECKING:
    from ..istio import Mesh, Scenario

__all__ = (
    "add_pods",
    "mark_unhealthy",
    "remove_pod",
    "rollout_meshes",
    "set_balancer",
    "set_weights",
)


def _reset(mesh: Mesh) -> None:
    """Forget the mesh's resolution caches after its pods changed."""
    mesh._host_pods.clear()
    mesh._members.clear()
    mesh._index = None


def set_weights(mesh: Mesh, weights: Sequence[tuple[str, int]]) -> None:
    """Set the weight of each named subset in every http route that lists it.

    The other destinations of such a route share what is left of the route's
    old total, in proportion to their old weights (evenly when those were all 0).

    :raises InputError: no route lists the subset, or the weights given exceed the old total.
    """
    given = dict(weights)
    found: set[str] = set()
    for vs in mesh.virtual_services:
        for route in vs.http:
            named = [d for d in route.destinations if d.subset in given]
            if not named:
                continue
            found.update(d.subset for d in named if d.subset is not None)
            old_total = sum(d.weight for d in route.destinations) or 100
            rest = [d for d in route.destinations if d.subset not in given]
            left = old_total - sum(given[d.subset] for d in named if d.subset is not None)
            if rest and left < 0:
                raise InputError(
                    None,
                    f"--set-weight: the weights given add up to more than route "
                    f"{_short(route.name)}'s total {old_total}",
                )
            for d in named:
                assert d.subset is not None
                d.weight = given[d.subset]
            old_rest = sum(d.weight for d in rest)
            shares = [
                (left * d.weight // old_rest) if old_rest else left // len(rest) for d in rest
            ]
            if rest:
                shares[0] += left - sum(shares)
            for d, w in zip(rest, shares, strict=True):
                d.weight = w
    missing = sorted(set(given) - found)
    if missing:
        raise InputError(None, f"--set-weight: no http route lists subset {_short(missing[0])}")


def _subset_labels(mesh: Mesh, subset: str) -> dict[str, str]:
    for rule in mesh.rules:
        s = rule.subsets.get(subset)
        if s is not None:
            return dict(s.labels)
    raise InputError(None, f"--to: no DestinationRule has a subset {_short(subset)}")


def add_pods(mesh: Mesh, count: int, subset: str) -> list[str]:
    """Add *count* pods like the last pod of *subset*; return their names."""
    from ..istio.mesh import _BlockAllocator

    labels = _subset_labels(mesh, subset)
    members = [p for p in mesh.pods if all(p.labels.get(k) == v for k, v in labels.items())]
    if not members:
        raise InputError(None, f"--to: subset {_short(subset)} has no pod to copy")
    template = members[-1]
    stem = re.sub(r"-\d+$", "", template.name)
    taken = {p.name for p in mesh._all_pods}
    blocks = _BlockAllocator(p.ip for p in mesh._all_pods)
    ips = blocks.addresses(f"{template.namespace}/{stem}+added", count)
    names: list[str] = []
    i = 0
    for ip in ips:
        while f"{stem}-{i}" in taken:
            i += 1
        name = f"{stem}-{i}"
        taken.add(name)
        pod = replace(template, name=name, ip=ip, synthetic=True, health=None)
        mesh._all_pods.append(pod)
        mesh.pods.append(pod)
        names.append(name)
    _reset(mesh)
    return names


def _find_pod(mesh: Mesh, name: str, flag: str) -> int:
    for i, p in enumerate(mesh._all_pods):
        if p.name == name:
            return i
    raise InputError(None, f"{flag}: no pod named {_short(name)}")


def remove_pod(mesh: Mesh, name: str) -> None:
    """Remove the pod *name* from the mesh."""
    pod = mesh._all_pods.pop(_find_pod(mesh, name, "--remove-pod"))
    mesh.pods = [p for p in mesh.pods if p is not pod]
    _reset(mesh)


def mark_unhealthy(mesh: Mesh, name: str) -> None:
    """Give pod *name* Envoy health ``unhealthy`` (as the health annotation does)."""
    i = _find_pod(mesh, name, "--unhealthy")
    old = mesh._all_pods[i]
    new = replace(old, health="unhealthy")
    mesh._all_pods[i] = new
    mesh.pods = [new if p is old else p for p in mesh.pods]
    _reset(mesh)


def set_balancer(scenario: Scenario, algorithm: str | None, min_ring: int | None) -> Scenario:
    """Return *scenario* with every consistent-hash destination on *algorithm* / ring size."""
    routes = []
    for plan in scenario.routes:
        dests = []
        for d in plan.destinations:
            lb = d.lb
            if lb.algorithm != "simple":
                if algorithm is not None:
                    lb = replace(lb, algorithm=algorithm)
                if min_ring is not None:
                    lb = replace(lb, min_ring_size=min_ring)
            dests.append(replace(d, lb=lb))
        routes.append(replace(plan, destinations=tuple(dests)))
    return replace(scenario, routes=tuple(routes))


def rollout_meshes(
    mesh: Mesh, subset: str, max_surge: int | str, max_unavailable: int | str
) -> tuple[list[Mesh], list[str], set[str]]:
    """Return the mesh at every step of rolling *subset*'s pods out, each step's label
    (``8old+2new``) and the new pods' names.

    The old pods of *subset* are replaced as a Deployment's RollingUpdate
    replaces them (:func:`hashlb.diff.rollout_counts`): new pods copy the
    subset's last pod with a new name (a new pod-template-hash) and a new IP,
    and every new pod is ready at the step that creates it.

    :raises InputError: no DestinationRule has the subset, it has no pod, the
        values are malformed or both 0, or the rollout takes more than
        :data:`~hashlb._validate.MAX_ROLLOUT_STEPS` steps.
    """
    import copy

    from ..diff import rollout_counts
    from ..istio.mesh import _BlockAllocator

    labels = _subset_labels(mesh, subset)
    old = [p for p in mesh.pods if all(p.labels.get(k) == v for k, v in labels.items())]
    if not old:
        raise InputError(None, f"--rollout: subset {_short(subset)} has no pod to replace")
    try:
        counts = rollout_counts(len(old), max_surge, max_unavailable)
    except ValueError as e:
        raise InputError(None, f"--rollout: {e}") from None
    if len(counts) - 1 > MAX_ROLLOUT_STEPS:
        raise InputError(
            None,
            f"--rollout takes {len(counts) - 1} steps, more than {cap('MAX_ROLLOUT_STEPS')} "
            "(raise --max-surge or --max-unavailable)",
        )
    template = old[-1]
    stem = re.sub(r"-\d+$", "", template.name)
    taken = {p.name for p in mesh._all_pods}
    blocks = _BlockAllocator(p.ip for p in mesh._all_pods)
    ips = blocks.addresses(f"{template.namespace}/{stem}+rollout", len(old))
    new = []
    for i, ip in enumerate(ips):
        name = f"{stem}-new-{i}"
        while name in taken:
            name += "x"
        taken.add(name)
        new.append(replace(template, name=name, ip=ip, synthetic=True, health=None))
    meshes = []
    old_ids = {id(p) for p in old}
    for n_old, n_new in counts:
        kept = {id(p) for p in old[:n_old]}
        m = copy.copy(mesh)
        m.pods = [p for p in mesh.pods if id(p) not in old_ids or id(p) in kept] + new[:n_new]
        m._all_pods = [p for p in mesh._all_pods if id(p) not in old_ids or id(p) in kept] + new[
            :n_new
        ]
        m._host_pods = {}
        m._members = {}
        m._index = None
        meshes.append(m)
    steps = [f"{n_old}old+{n_new}new" for n_old, n_new in counts]
    return meshes, steps, {p.name for p in new}
