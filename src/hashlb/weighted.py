"""Envoy's weighted-cluster choice, with the health- and retry-aware weights of the newest Envoy.

``WeightedClusterSpecifierPlugin::pickWeightedCluster`` (Envoy's
``source/common/router/weighted_cluster_specifier.cc``): ``selected = value % total`` walks the clusters in configuration
order, where *value* is the route hash (``use_hash_policy``), a request
header (``header_name``) or the stream's random number.  Envoy's main branch
adjusts the weights first, with more than one cluster:

* **health-aware**: a cluster with no healthy host in any priority weighs 0
  (degraded hosts do not count; a cluster it knows nothing of keeps its
  weight); if every weight became 0 the configured weights stay;
* **retry-aware** (only when *value* is the route hash): a cluster already
  attempted by this request weighs 0 if it has at most one host (an unknown
  cluster counts as one); if every weight became 0 the health-aware weights
  stay.

:func:`pick_weighted_cluster` is that rule for one request;
:class:`~hashlb.WeightedSubsetPicker` in ``mode="envoy"`` is its hot,
unadjusted form.  Releases before Envoy's main branch do not adjust the
weights (:attr:`hashlb.versions.EnvoyProfile.health_aware_weighted_clusters`).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from ._validate import MAX_WEIGHT, check_hash, check_int, short
from .errors import ConfigError
from .versions import EnvoyProfile, profile

__all__ = ("pick_weighted_cluster",)


def _check_clusters(clusters: object) -> list[tuple[str, int]]:
    if isinstance(clusters, Mapping):
        items = list(clusters.items())
    elif isinstance(clusters, (str, bytes)) or not isinstance(clusters, Iterable):
        raise TypeError(
            f"clusters must be a mapping or (name, weight) pairs, not {type(clusters).__name__}"
        )
    else:
        items = [tuple(pair) for pair in clusters]
    out = []
    for i, item in enumerate(items):
        if len(item) != 2 or not isinstance(item[0], str):
            raise TypeError(
                f"clusters[{i}] must be a (str name, int weight) pair, got {short(item)}"
            )
        out.append((item[0], check_int(item[1], f"clusters[{item[0]!r}] weight", 0, MAX_WEIGHT)))
    if sum(w for _, w in out) > MAX_WEIGHT:
        raise ConfigError(
            f"the sum of the cluster weights must be <= 2**32 - 1, got {sum(w for _, w in out)}"
        )
    if not out or not any(w for _, w in out):
        raise ConfigError("clusters must hold at least one cluster with a non-zero weight")
    return out


def pick_weighted_cluster(
    clusters: Mapping[str, int] | Iterable[tuple[str, int]],
    value: int,
    *,
    hash_driven: bool = False,
    healthy: Mapping[str, bool] | None = None,
    attempted: Iterable[str] = (),
    host_counts: Mapping[str, int] | None = None,
    envoy_version: str | EnvoyProfile = "main",
) -> str:
    """Return the cluster Envoy picks for *value* (see the module docstring).

    :param clusters: ``{name: weight}`` or ``(name, weight)`` pairs, in
        configuration order.
    :param int value: the route hash, header value or stream random, in ``[0, 2**64)``.
    :param bool hash_driven: *value* is the route hash (``use_hash_policy``):
        only then are attempted clusters reweighted.
    :param healthy: per cluster, whether any priority has a healthy host;
        clusters not named keep their weight.
    :param attempted: the clusters this request already tried (Envoy's filter
        state ``kWeightedClusterAttemptedClustersKey``).
    :param host_counts: per cluster, its hosts over all priorities; a cluster
        not named counts as one host.
    :param envoy_version: the Envoy release (``"main"``: the adjustments; a
        numbered release: none).
    :raises ConfigError: no cluster with a weight, or a weight sum above ``2**32 - 1``.

    >>> pick_weighted_cluster({"cluster_0": 50, "cluster_1": 50}, 10, hash_driven=True,
    ...                       attempted=["cluster_0"], host_counts={"cluster_0": 1})
    'cluster_1'
    """
    items = _check_clusters(clusters)
    return _choose(
        tuple(n for n, _ in items),
        tuple(w for _, w in items),
        check_hash(value),
        hash_driven=hash_driven,
        healthy=healthy,
        attempted=attempted,
        host_counts=host_counts,
        aware=profile(envoy_version).health_aware_weighted_clusters,
    )


def _choose(
    names: tuple[str, ...],
    weights: tuple[int, ...],
    v: int,
    *,
    hash_driven: bool,
    healthy: Mapping[str, bool] | None,
    attempted: Iterable[str],
    host_counts: Mapping[str, int] | None,
    aware: bool,
) -> str:
    """:func:`pick_weighted_cluster` on checked clusters and value (*aware*: the
    profile's health- and retry-aware weights)."""
    if aware and len(names) > 1:
        if healthy is not None:
            kept = tuple(
                0 if healthy.get(n, True) is False else w
                for n, w in zip(names, weights, strict=True)
            )
            if any(kept):
                weights = kept
        tried = set(attempted)
        if hash_driven and tried:
            counts = host_counts or {}
            retry = tuple(
                0 if n in tried and counts.get(n, 1) <= 1 else w
                for n, w in zip(names, weights, strict=True)
            )
            if any(retry):
                weights = retry
    selected = v % sum(weights)
    end = 0
    for name, w in zip(names, weights, strict=True):
        end += w
        if selected < end:
            return name
    raise AssertionError("unreachable: selected < total")  # pragma: no cover
