"""The filter_state hash method and the request's filter state (spec §8.5b, vectors-2)."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any

import pytest

from hashlb import ConfigError

from ._impl import Implementation
from ._vectors import envoy_vectors


def _vector() -> dict[str, Any]:
    return next(
        c for c in envoy_vectors("envoy-vectors-2.json")["hash_policy"] if "filter_state" in c
    )


def _state(raw: Mapping[str, Any]) -> dict[str, Any]:
    """The vector's filter state: {"hash": h} is a Hashable object, anything else is not."""
    return {
        k: v["hash"] if isinstance(v, dict) and "hash" in v else (None if v is None else object())
        for k, v in raw.items()
    }


def test_filter_state_vector(impl: Implementation) -> None:
    """Missing, null and non-hashable objects give no hash; a Hashable's hash is used as is."""
    case = _vector()
    (spec,) = case["policy"]
    state = _state(case["filter_state"])
    policy = impl.HashPolicy(impl.FilterState(spec["filter_state"]["key"]))
    assert policy.policies[0].key == "hashable"
    for req in case["requests"]:
        method = impl.FilterState(req["key"])
        request = impl.Request(filter_state=state)
        assert method.hash(request) == req["expected_hash"], req
        assert impl.HashPolicy(method).hash(request) == req["expected_hash"]


def test_filter_state_in_a_policy(impl: Implementation) -> None:
    """Combined like any method (rotl1 fold, terminal); the seed does not touch it."""
    r = impl.Request(headers={"x-user": "alice"}, filter_state={"k": 99})
    header = impl.Header("x-user")
    h = header.hash(r)
    combined = impl.HashPolicy(impl.FilterState("k"), header).hash(r)
    assert combined == (((99 << 1) | (99 >> 63)) & (2**64 - 1)) ^ h
    assert impl.HashPolicy(impl.FilterState("k", terminal=True), header).hash(r) == 99
    assert impl.HashPolicy(impl.FilterState("k"), seed=12345).hash(r) == 99
    assert impl.HashPolicy(impl.FilterState("gone"), header).hash(r) == h
    assert impl.HashPolicy(impl.FilterState("k")).evaluate(r).hash == 99


class _Raising(Mapping[str, Any]):
    def __getitem__(self, key: str) -> Any:
        raise RuntimeError("no")

    def __iter__(self) -> Iterator[str]:
        raise RuntimeError("no")

    def __len__(self) -> int:
        return 1


class _Int(int):
    pass


def test_request_data_never_raises(impl: Implementation) -> None:
    """Only exact str keys and exact ints in [0, 2**64) count; unreadable state is none."""
    state = {
        "ok": 2**64 - 1,
        "zero": 0,
        "neg": -1,
        "big": 2**64,
        "bool": True,
        "sub": _Int(5),
        "text": "12",
        b"bytes": 3,
        7: 7,
    }
    r = impl.Request(filter_state=state)
    assert dict(r.filter_state) == {"ok": 2**64 - 1, "zero": 0}
    for key in ("neg", "big", "bool", "sub", "text"):
        assert impl.FilterState(key).hash(r) is None
    assert impl.FilterState("ok").hash(r) == 2**64 - 1
    assert impl.FilterState("zero").hash(r) == 0
    for junk in (_Raising(), [("ok", 1)], "ok", 3, object()):
        r = impl.Request(filter_state=junk)
        assert dict(r.filter_state) == {} and impl.FilterState("ok").hash(r) is None
    with pytest.raises(TypeError):
        r.filter_state["x"] = 1  # type: ignore[index]
    assert impl.Request().filter_state == {}
    assert impl.Request.from_asgi({"type": "http", "headers": []}).filter_state == {}
    assert impl.Request.from_wsgi({}).filter_state == {}


def test_configuration(impl: Implementation) -> None:
    """Bad keys raise, naming the field; the method is immutable, compared by configuration."""
    with pytest.raises(ConfigError, match="FilterState key must be a non-empty string"):
        impl.FilterState("")
    with pytest.raises(TypeError, match="FilterState key"):
        impl.FilterState(3)
    with pytest.raises(TypeError):
        impl.FilterState("k", True)  # terminal is keyword-only
    m = impl.FilterState("io.grpc.channel_id", terminal=True)
    assert repr(m) == "FilterState('io.grpc.channel_id', terminal=True)"
    assert m == impl.FilterState("io.grpc.channel_id", terminal=True) != impl.FilterState("x")
    assert hash(m) == hash(impl.FilterState("io.grpc.channel_id", terminal=True))
    with pytest.raises(TypeError, match="immutable"):
        m.__init__("y")  # type: ignore[misc]
    blank = impl.FilterState.__new__(impl.FilterState)
    with pytest.raises(TypeError, match="not initialised"):
        blank.hash(impl.Request(filter_state={"k": 1}))
