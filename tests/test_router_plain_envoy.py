"""Plain Envoy routes vs Istio's: the route hash policy list is explicit (spec-2 §17.1)."""

from __future__ import annotations

from typing import Any

import pytest

from hashlb import ConfigError, Host, Router

from ._impl import Implementation
from ._vectors import envoy_vectors


def _router(impl: Implementation, **options: Any) -> Router:
    hosts = [Host(f"10.0.0.{i}:80", labels={"c": "cluster_0"}) for i in range(3)]
    hosts += [Host(f"10.0.1.{i}:80", labels={"c": "cluster_1"}) for i in range(3)]
    return Router(
        hosts,
        subsets={"cluster_0": {"c": "cluster_0"}, "cluster_1": {"c": "cluster_1"}},
        weights=impl.WeightedSubsetPicker({"cluster_0": 60, "cluster_1": 40}, mode="envoy"),
        balancer=impl.Maglev,
        policy=impl.HashPolicy(impl.Header("x-user-id")),
        mode="envoy",
        use_hash_policy=True,
        **options,
    )


def test_use_hash_policy_on_a_plain_envoy_route(impl: Implementation) -> None:
    """policy_copies=1: the route's own list picks the cluster by hash % total, every user."""
    case = next(
        c
        for c in envoy_vectors("envoy-vectors-2.json")["weighted_clusters"]
        if c["name"] == "UseHashPolicyPlainEnvoy_picker"
    )
    plain = _router(impl, policy_copies=1)
    istio = _router(impl)
    assert (plain.policy_copies, istio.policy_copies) == (1, 2)
    wrong = 0
    for user, expected in case["users"].items():
        request = impl.Request(headers={"x-user-id": user})
        assert plain.route(request).subset == expected, user
        wrong += istio.route(request).subset != expected
    assert wrong > 0  # Istio's two copies change the hash, and with it the cluster


def test_policy_copies_checks(impl: Implementation) -> None:
    """An int in [1, 1024], envoy mode only; three copies fold three times."""
    three = _router(impl, policy_copies=3)
    assert three.policy_copies == 3 and len(three.route_policy.policies) == 3
    with pytest.raises(ConfigError, match=r"policy_copies must be in \[1, 1024\], got 0"):
        _router(impl, policy_copies=0)
    with pytest.raises(TypeError, match="policy_copies must be an int"):
        _router(impl, policy_copies="1")
    with pytest.raises(ConfigError, match="policy_copies applies to mode='envoy' only"):
        Router(
            [Host("10.0.0.1:80", labels={"c": "a"})],
            subsets={"a": {"c": "a"}},
            weights=impl.WeightedSubsetPicker({"a": 1}),
            policy=None,
            policy_copies=1,
        )
