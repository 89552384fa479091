"""The hash-policy and Set-Cookie cases of envoy-vectors-2.json, on both twins."""

from __future__ import annotations

from types import ModuleType
from typing import Any

import pytest

from ._impl import Implementation
from ._vectors import envoy_vectors

V2 = envoy_vectors("envoy-vectors-2.json")


@pytest.fixture
def P(impl: Implementation) -> ModuleType:
    """Return this twin's policy module."""
    return impl.module("policy")


def _method(P: ModuleType, spec: dict[str, Any]) -> Any:
    ((kind, args),) = spec.items()
    if kind == "source_ip":
        return P.SourceIP()
    if kind == "cookie":
        return P.Cookie(args["name"])
    if kind == "query_parameter":
        return P.QueryParameter(args["name"])
    if kind == "header":
        return P.Header(args["header_name"])
    if kind == "filter_state":
        return P.FilterState(args["key"])
    raise AssertionError(kind)


CASES = [c for c in V2["hash_policy"] if "filter_state" not in c]  # filter_state: test_filter_state


@pytest.mark.parametrize("case", CASES, ids=[c["name"] for c in CASES])
def test_hash_policy_vectors_2(P: ModuleType, case: dict[str, Any]) -> None:
    """Every request of each case hashes to Envoy's value (None: no hash)."""
    policy = P.HashPolicy(*[_method(P, m) for m in case["policy"]])
    for req in case["requests"]:
        request = P.Request(
            headers=[tuple(h) for h in req.get("headers", [])],
            remote_address=req.get("remote"),
            path=req.get("path"),
        )
        assert policy.hash(request) == req["expected_hash"], req


def test_set_cookie_value_vectors_2(P: ModuleType) -> None:
    """makeSetCookieValue with httponly (hash-policy cookies always set it)."""
    (case,) = [c for c in V2["set_cookie"] if "rows" in c]
    for row in case["rows"]:
        cookie = P.Cookie(row["name"], ttl=row["max_age"], path=row["path"] or None)
        assert cookie.set_cookie_value(row["value"]) == row["expected"], row
