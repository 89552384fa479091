"""WeightedSubsetPicker: Envoy's vectors, the sticky rule, batches and bad input, on both twins."""

from __future__ import annotations

import math
import pickle
from array import array
from typing import Any

import numpy as np
import pytest
import xxhash

from hashlb.errors import ConfigError

from ._impl import Implementation
from ._vectors import envoy_vectors

M64 = 2**64 - 1


def Picker(impl: Implementation) -> Any:
    """Return this twin's WeightedSubsetPicker class."""
    return impl.module("subset").WeightedSubsetPicker


WEIGHTED = envoy_vectors()["weighted_clusters"]


def sticky_reference(weights: dict[str, int], value: int, seed: int = 0) -> str:
    """Return the sticky pick, written from the documented rule with exact rationals."""
    best: tuple[str, int, int, int] | None = None
    for name, w in weights.items():
        if w == 0:
            continue
        salt = xxhash.xxh64_intdigest(name.encode(), seed)
        x = xxhash.xxh64_intdigest(value.to_bytes(8, "little"), salt)
        u = ((x >> 11) | 1) * 2.0**-53
        n, d = (-math.log(u)).as_integer_ratio()
        if best is None or n * best[2] * best[3] < best[1] * d * w:
            best = (name, n, d, w)
    assert best is not None
    return best[0]


def envoy_reference(weights: dict[str, int], value: int) -> str:
    """Return Envoy's weighted-cluster pick (spec §9.1), written out plainly."""
    selected = value % sum(weights.values())
    begin = 0
    for name, w in weights.items():
        if begin <= selected < begin + w:
            return name
        begin += w
    raise AssertionError("unreachable")


def _values(n: int, seed: int = 0) -> np.ndarray:
    """Return *n* reproducible uniformly random uint64 values."""
    return np.random.default_rng(seed).integers(0, 2**64, size=n, dtype=np.uint64)


@pytest.mark.parametrize(
    "case", WEIGHTED, ids=[str([c["weight"] for c in v["clusters"]]) for v in WEIGHTED]
)
def test_envoy_weighted_cluster_vectors(impl: Implementation, case: dict) -> None:  # type: ignore[type-arg]
    """Every weighted_clusters vector of envoy-vectors.json picks Envoy's cluster."""
    weights = {c["name"]: c["weight"] for c in case["clusters"]}
    picker = Picker(impl)(weights, mode="envoy")
    for lookup in case["lookups"]:
        assert picker.choose(lookup["random_value"]) == lookup["expected"]


def test_envoy_runtime_vectors(impl: Implementation) -> None:
    """The spec's runtime-override vectors (80/10/10, 8000/1000/1000) pick as Envoy does."""
    p = Picker(impl)({"c1": 80, "c2": 10, "c3": 10}, mode="envoy")
    assert [p.choose(v) for v in (45, 82, 92)] == ["c1", "c2", "c3"]
    p = Picker(impl)({"c1": 8000, "c2": 1000, "c3": 1000}, mode="envoy")
    assert [p.choose(v) for v in (1150, 8100, 9200)] == ["c1", "c2", "c3"]


def test_envoy_interval_boundaries(impl: Implementation) -> None:
    """Intervals are [begin, end) in mapping order; zero weights are never chosen."""
    p = Picker(impl)({"z": 0, "a": 2, "b": 0, "c": 3}, mode="envoy")
    got = [p.choose(v) for v in range(10)]
    assert got == ["a", "a", "c", "c", "c"] * 2
    assert p.choose(M64) == envoy_reference(dict(p.weights), M64)


def test_envoy_matches_reference(impl: Implementation) -> None:
    """Envoy mode equals the plain reference on random values."""
    weights = {"a": 7, "b": 0, "c": 1, "d": 92}
    p = Picker(impl)(weights, mode="envoy")
    for v in _values(2000, 1).tolist():
        assert p.choose(v) == envoy_reference(weights, v)


@pytest.mark.parametrize(
    "weights",
    [{"safe": 99, "risky": 1}, {"a": 1, "b": 2, "c": 0, "d": 3}, {"x": 5, "y": 5, "z": 5}],
)
def test_sticky_matches_reference(impl: Implementation, weights: dict[str, int]) -> None:
    """Sticky mode equals the documented rule (salted xxh64, -ln u / w compared exactly)."""
    p = Picker(impl)(weights, seed=42)
    for v in [*_values(2000, 2).tolist(), 0, 1, M64]:
        assert p.choose(v) == sticky_reference(weights, v, seed=42)


def test_sticky_pinned_picks(impl: Implementation) -> None:
    """A few sticky picks are pinned, so the rule cannot drift silently."""
    p = Picker(impl)({"safe": 50, "risky": 50})
    got = "".join("sr"[p.choose_index(v)] for v in range(32))
    assert got == "".join(
        "sr"[sticky_reference({"safe": 50, "risky": 50}, v) == "risky"] for v in range(32)
    )
    assert got == PINNED_50_50


#: sticky picks of values 0..31 for {"safe": 50, "risky": 50}, seed 0.
PINNED_50_50 = "rsrssrrssssssrrrrsssrsrsrsrrrrrs"


def test_salts_are_by_name(impl: Implementation) -> None:
    """Each salt is xxh64(name, seed): it does not depend on position."""
    p = Picker(impl)({"safe": 1, "risky": 1}, seed=9)
    assert p.salts == tuple(xxhash.xxh64_intdigest(n.encode(), 9) for n in ("safe", "risky"))
    q = Picker(impl)({"risky": 1, "safe": 1}, seed=9)
    assert q.salts == p.salts[::-1]


def test_exact_path_agrees_with_float_path(
    impl: Implementation, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Forcing every pick through the exact comparison changes no result."""
    weights = {"a": 3, "b": 1, "c": 4, "d": 1, "e": 5}
    values = _values(20000, 3)
    fast = Picker(impl)(weights)
    monkeypatch.setattr(impl.module("subset"), "_SAFE", math.inf)
    exact = Picker(impl)(weights)
    assert list(exact.choose_many(values)) == list(fast.choose_many(values))
    assert [exact.choose_index(v) for v in values[:2000].tolist()] == list(
        fast.choose_many(values[:2000])
    )


def test_exact_ties_go_to_the_first_subset(impl: Implementation) -> None:
    """With a single eligible subset, and on exact ties, the first in mapping order wins."""
    p = Picker(impl)({"off": 0, "only": 3})
    assert {p.choose(v) for v in _values(100, 4).tolist()} == {"only"}
    mod = impl.module("subset")
    # Two entries with the same salt tie exactly on every value.
    assert mod._exact_index(12345, ((4, 7, 1.0, 1), (2, 7, 1.0, 1))) == 4
    assert mod._exact_index(12345, ((4, 7, 0.5, 2), (2, 7, 1.0, 1))) == 4


def test_weight_zero_drains(impl: Implementation) -> None:
    """A subset of weight 0 gets no key, in both modes."""
    values = _values(50000, 5)
    for mode in ("sticky", "envoy"):
        p = Picker(impl)({"safe": 1, "risky": 0, "other": 2}, mode=mode)
        assert 1 not in set(p.choose_many(values).tolist())


@pytest.mark.parametrize("mode", ["sticky", "envoy"])
def test_pick_many_equals_pick(impl: Implementation, mode: str) -> None:
    """pick_many(values)[k] == pick_index(values[k]) for numpy, array and list inputs."""
    p = Picker(impl)({"a": 10, "b": 0, "c": 1, "d": 89}, mode=mode, seed=3)
    values = _values(5000, 6)
    expected = [p.choose_index(v) for v in values.tolist()]
    out = p.choose_many(values)
    assert isinstance(out, np.ndarray) and out.dtype == np.uint32
    assert out.tolist() == expected
    out = p.choose_many(array("Q", values.tolist()))
    assert isinstance(out, array) and out.typecode == "I"
    assert out.tolist() == expected
    assert p.choose_many(values.tolist()[:50]).tolist() == expected[:50]
    assert len(p.choose_many([])) == 0
    assert len(p.choose_many(np.zeros(0, dtype=np.uint64))) == 0


def test_pick_many_bad_input(impl: Implementation) -> None:
    """pick_many rejects buffers of other types and out-of-range ints."""
    p = Picker(impl)({"a": 1, "b": 1})
    with pytest.raises(TypeError):
        p.choose_many(np.zeros(3, dtype=np.int32))
    with pytest.raises(ValueError):
        p.choose_many([2**64])
    with pytest.raises(TypeError):
        p.choose_many("abc")


def test_properties_and_value_semantics(impl: Implementation) -> None:
    """names, weights, mode, seed and total describe the picker; eq/hash/pickle/repr work."""
    p = Picker(impl)({"safe": 99, "risky": 1}, mode="sticky", seed=5)
    assert p.names == ("safe", "risky")
    assert dict(p.weights) == {"safe": 99, "risky": 1}
    assert list(p.weights) == ["safe", "risky"]
    with pytest.raises(TypeError):
        p.weights["safe"] = 3  # type: ignore[index]
    assert (p.mode, p.seed, p.total) == ("sticky", 5, 100)
    q = pickle.loads(pickle.dumps(p))
    assert q == p and hash(q) == hash(p) and type(q) is type(p)
    assert q.choose(77) == p.choose(77)
    assert p != Picker(impl)({"safe": 99, "risky": 1}, seed=6)
    assert p != Picker(impl)({"risky": 1, "safe": 99}, seed=5)
    assert repr(p) == "WeightedSubsetPicker({'safe': 99, 'risky': 1}, mode='sticky', seed=5)"


def test_with_weights_keeps_mode_and_seed(impl: Implementation) -> None:
    """with_weights returns a new picker with the same mode and seed."""
    p = Picker(impl)({"safe": 99, "risky": 1}, mode="envoy", seed=8)
    q = p.with_weights({"safe": 95, "risky": 5})
    assert (q.mode, q.seed, dict(q.weights)) == ("envoy", 8, {"safe": 95, "risky": 5})
    assert dict(p.weights) == {"safe": 99, "risky": 1}


def test_weights_mapping_is_copied(impl: Implementation) -> None:
    """Mutating the caller's dict afterwards does not change the picker."""
    w = {"safe": 1, "risky": 1}
    p = Picker(impl)(w)
    w["risky"] = 0
    assert dict(p.weights) == {"safe": 1, "risky": 1}


@pytest.mark.parametrize(
    ("weights", "kwargs", "error", "match"),
    [
        ({}, {}, ConfigError, "at least one subset"),
        ({"a": 0, "b": 0}, {}, ConfigError, "must not all be 0"),
        ({"a": -1, "b": 2}, {}, ConfigError, r"weights\['a'\] must be in \[0, 2\*\*32 - 1\]"),
        ({"a": 2**32}, {}, ConfigError, r"weights\['a'\]"),
        ({"a": 2**31, "b": 2**31}, {}, ConfigError, "sum of weights must be <= 2\\*\\*32 - 1"),
        ({"a": 1.5}, {}, TypeError, r"weights\['a'\] must be an int"),
        ({"a": True}, {}, TypeError, r"weights\['a'\] must be an int"),
        ({1: 1}, {}, TypeError, "subset names"),
        ({"": 1}, {}, ConfigError, "must not be empty"),
        ({"a\udc80": 1}, {}, ConfigError, "not valid Unicode"),
        ([("a", 1)], {}, TypeError, "weights must be a mapping"),
        ({"a": 1}, {"mode": "random"}, ConfigError, "mode must be 'sticky' or 'envoy'"),
        ({"a": 1}, {"seed": -1}, ConfigError, "seed must be in"),
        ({"a": 1}, {"seed": 2**64}, ConfigError, "seed must be in"),
        ({"a": 1}, {"seed": "x"}, TypeError, "seed must be an int"),
    ],
)
def test_bad_configuration(
    impl: Implementation,
    weights: object,
    kwargs: dict,
    error: type,
    match: str,  # type: ignore[type-arg]
) -> None:
    """Each bad configuration raises at construction, naming the field."""
    with pytest.raises(error, match=match):
        Picker(impl)(weights, **kwargs)


@pytest.mark.parametrize(
    ("value", "error"),
    [(-1, ValueError), (2**64, ValueError), (1.0, TypeError), (True, TypeError), ("1", TypeError)],
)
def test_bad_value(impl: Implementation, value: object, error: type) -> None:
    """pick/pick_index reject values that are not ints in [0, 2**64)."""
    for mode in ("sticky", "envoy"):
        p = Picker(impl)({"a": 1, "b": 1}, mode=mode)
        with pytest.raises(error, match="value"):
            p.choose(value)
        with pytest.raises(error, match="value"):
            p.choose_index(value)


def test_int_subclasses_and_index(impl: Implementation) -> None:
    """Values and weights that are int subclasses or have __index__ are accepted."""

    class Big(int):
        pass

    p = Picker(impl)({"a": Big(1), "b": np.uint32(3)}, mode="envoy")
    assert p.choose(Big(3)) == "b"
    assert p.choose(np.uint64(2**64 - 1)) == envoy_reference({"a": 1, "b": 3}, 2**64 - 1)


@pytest.mark.parametrize(
    ("old", "new"),
    [("pick", "choose"), ("pick_index", "choose_index"), ("pick_many", "choose_many")],
)
def test_deprecated_pick_names_warn_and_give_the_same_result(
    impl: Implementation, old: str, new: str
) -> None:
    """pick/pick_index/pick_many still work for one release: a DeprecationWarning naming the
    new method, pointing at the caller's line, then exactly the new method's result."""
    p = impl.WeightedSubsetPicker({"safe": 60, "risky": 40}, seed=3)
    values = _values(50, 7).tolist()
    message = (
        rf"^WeightedSubsetPicker\.{old} is deprecated and will be removed in the next release; "
        rf"use WeightedSubsetPicker\.{new}$"
    )
    if old == "pick_many":
        with pytest.warns(DeprecationWarning, match=message) as record:
            got = list(getattr(p, old)(values))
        assert got == list(p.choose_many(values))
    else:
        got = []
        for v in values:
            with pytest.warns(DeprecationWarning, match=message) as record:
                got.append(getattr(p, old)(v))
        assert got == [getattr(p, new)(v) for v in values]
    assert [w.filename for w in record] == [__file__]
    bad = "hashes must be ints" if old == "pick_many" else "value must be an int"
    with pytest.raises(TypeError, match=bad), pytest.warns(DeprecationWarning):
        getattr(p, old)(["x"] if old == "pick_many" else "x")


def test_route_stays_importable_from_hashlb_subset() -> None:
    """Route moved to the router unit; ``hashlb.subset.Route`` is still the same class."""
    import hashlb.router
    import hashlb.subset

    assert hashlb.subset.Route is hashlb.router.Route is hashlb.Route


def test_route_pickled_before_the_move_still_loads(impl: Implementation) -> None:
    """A Route pickled when it lived in the subset unit (``hashlb._subset_*.Route``) loads."""
    route = impl.module("router").Route("safe", None, 42, None, 42)
    data = pickle.dumps(route, protocol=2)  # GLOBAL "module\nname\n": the name can be swapped
    # the twin in use pickles as hashlb.Route, the other as hashlb._router_<twin>.Route
    name = f"{type(route).__module__}\nRoute\n".encode()
    assert name in data
    loaded = pickle.loads(data.replace(name, f"hashlb._subset_{impl}\nRoute\n".encode()))
    assert loaded == route and type(loaded) is type(route)
    with pytest.raises(AttributeError, match="no attribute 'Nope'"):
        impl.module("subset").Nope  # noqa: B018
