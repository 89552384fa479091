"""Envoy's weighted-cluster choice: header values, health- and retry-aware weights (spec-2 §17.2)."""

from __future__ import annotations

from typing import Any

import pytest

from hashlb import ConfigError, Host, Router
from hashlb.weighted import pick_weighted_cluster

from ._impl import Implementation
from ._vectors import envoy_vectors


def _case(name: str) -> dict[str, Any]:
    return next(
        c for c in envoy_vectors("envoy-vectors-2.json")["weighted_clusters"] if c["name"] == name
    )


def test_header_name_random_value_vector(impl: Implementation) -> None:
    """header_name: one value parsed as absl::SimpleAtoi, then value % total (Router, envoy mode)."""
    case = _case("HeaderNameRandomValue")
    names = [n for n, _ in case["clusters"]]
    hosts = [Host(f"10.0.{i}.1:80", labels={"c": n}) for i, n in enumerate(names)]
    router = Router(
        hosts,
        subsets={n: {"c": n} for n in names},
        weights=impl.WeightedSubsetPicker(dict(case["clusters"]), mode="envoy"),
        policy=None,
        mode="envoy",
        header_name=case["header_name"],
        balancer=impl.Maglev,
        balancer_options={"table_size": 7},
    )
    for req in case["requests"]:
        route = router.route(impl.Request(headers={case["header_name"]: req["value"]}))
        assert route.subset == req["expected"], req
        value = int(req["value"].strip())
        assert pick_weighted_cluster(case["clusters"], value) == req["expected"]


def test_retry_aware_single_endpoint_cluster_vector() -> None:
    """An attempted cluster with one host weighs 0 on the retry (hash-driven choice)."""
    case = _case("RetryAwareSingleEndpointCluster")
    for req in case["requests"]:
        got = pick_weighted_cluster(
            case["clusters"],
            req["hash"],
            hash_driven=True,
            attempted=req["attempted"],
            host_counts=case["endpoints_per_cluster"],
        )
        assert got == req["expected"], req
    # Not hash-driven (a random value or a header): attempts do not reweight.
    assert pick_weighted_cluster(case["clusters"], 10, attempted=["cluster_0"]) == "cluster_0"
    # A numbered release (no adjustment yet) keeps the configured weights.
    assert (
        pick_weighted_cluster(
            case["clusters"], 10, hash_driven=True, attempted=["cluster_0"], envoy_version="1.38"
        )
        == "cluster_0"
    )


def test_health_and_retry_rules() -> None:
    """Health-aware zeroes clusters without a healthy host; all zero keeps the weights."""
    clusters = [("a", 50), ("b", 30), ("c", 20)]
    assert pick_weighted_cluster(clusters, 10, healthy={"a": False}) == "b"
    assert pick_weighted_cluster(clusters, 10, healthy={"a": False, "b": False, "c": False}) == "a"
    assert pick_weighted_cluster(clusters, 10, healthy={"x": False}) == "a"  # unknown: kept
    # Multi-host clusters keep their weight when attempted (the host predicate handles them).
    assert (
        pick_weighted_cluster(clusters, 10, hash_driven=True, attempted=["a"], host_counts={"a": 3})
        == "a"
    )
    # Unknown clusters count as one host; every cluster tried: the health-aware weights stay.
    assert pick_weighted_cluster(clusters, 10, hash_driven=True, attempted=["a"]) == "b"
    assert pick_weighted_cluster(clusters, 10, hash_driven=True, attempted=["a", "b", "c"]) == "a"
    # One cluster: no adjustment at all.
    assert pick_weighted_cluster([("a", 1)], 5, healthy={"a": False}) == "a"


def test_same_as_the_envoy_picker(impl: Implementation) -> None:
    """Without adjustments the rule is the envoy-mode picker's choose(value)."""
    weights = {"a": 7, "b": 0, "c": 13, "d": 1}
    picker = impl.WeightedSubsetPicker(weights, mode="envoy")
    for v in (0, 1, 6, 7, 19, 20, 21, 2**63, 2**64 - 1, 123456789):
        assert pick_weighted_cluster(weights, v) == picker.choose(v)


def test_errors() -> None:
    """Bad clusters and values raise, naming the field."""
    with pytest.raises(ConfigError, match="at least one cluster with a non-zero weight"):
        pick_weighted_cluster({"a": 0}, 1)
    with pytest.raises(ConfigError, match="sum of the cluster weights"):
        pick_weighted_cluster({"a": 2**32 - 1, "b": 1}, 1)
    with pytest.raises(ValueError, match="weight"):
        pick_weighted_cluster({"a": -1}, 1)
    with pytest.raises(TypeError, match="clusters must be a mapping"):
        pick_weighted_cluster("ab", 1)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="hash"):
        pick_weighted_cluster({"a": 1}, -1)
