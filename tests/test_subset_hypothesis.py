"""Property tests of the sticky subset picker: monotone, scale-free, name-keyed, on both twins."""

from __future__ import annotations

import pytest

hypothesis = pytest.importorskip("hypothesis")

import numpy as np  # noqa: E402
from hypothesis import assume, example, given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

from ._impl import Implementation  # noqa: E402
from .strategies import subset_names, subset_weights, uint64  # noqa: E402
from .test_subset import Picker, envoy_reference, sticky_reference  # noqa: E402

MAX = 2**32 - 1
#: Lower example counts for properties that check hundreds of keys per example
#: (never above the active profile's count).
FEW = min(100, settings.default.max_examples)
SOME = min(200, settings.default.max_examples)
#: Random values per example: hypothesis-drawn ones plus a seeded batch.
value_lists = st.lists(uint64, min_size=1, max_size=20)
batch_seeds = st.integers(min_value=0, max_value=2**32 - 1)


def _batch(seed: int, extra: list[int], n: int = 400) -> np.ndarray:
    """Return *extra* followed by *n* seeded random uint64 values."""
    rnd = np.random.default_rng(seed).integers(0, 2**64, size=n, dtype=np.uint64)
    return np.concatenate([np.array(extra, dtype=np.uint64), rnd])


def _names(picker: object, values: np.ndarray) -> list[str]:
    """Return the picked subset name for every value."""
    names = picker.names  # type: ignore[attr-defined]
    return [names[i] for i in picker.choose_many(values).tolist()]  # type: ignore[attr-defined]


@given(weights=subset_weights(), seed=uint64, values=value_lists)
@example(weights={"safe": 9999, "risky": 1}, seed=0, values=[0, 2**64 - 1])
@settings(max_examples=SOME)
def test_sticky_equals_reference(
    impl: Implementation, weights: dict[str, int], seed: int, values: list[int]
) -> None:
    """pick equals the documented rule for any weights, seed and value."""
    p = Picker(impl)(weights, seed=seed)
    for v in values:
        assert p.choose(v) == sticky_reference(weights, v, seed)
    assert p.choose_many(values).tolist() == [p.choose_index(v) for v in values]


@given(weights=subset_weights(), values=value_lists)
@settings(max_examples=SOME)
def test_envoy_equals_reference(
    impl: Implementation, weights: dict[str, int], values: list[int]
) -> None:
    """Envoy mode equals value % total over the intervals in mapping order."""
    p = Picker(impl)(weights, mode="envoy")
    for v in values:
        assert p.choose(v) == envoy_reference(weights, v)
    assert p.choose_many(values).tolist() == [p.choose_index(v) for v in values]


@given(
    weights=subset_weights(min_size=2),
    data=st.data(),
    seed=uint64,
    bseed=batch_seeds,
    extra=value_lists,
)
@settings(max_examples=FEW)
def test_monotone_in_each_weight(
    impl: Implementation,
    weights: dict[str, int],
    data: st.DataObject,
    seed: int,
    bseed: int,
    extra: list[int],
) -> None:
    """Raising one weight moves keys only into that subset; lowering it, only out of it."""
    name = data.draw(st.sampled_from(sorted(weights)))
    room = MAX - sum(weights.values())
    assume(room > 0)
    raised = dict(weights, **{name: weights[name] + data.draw(st.integers(1, room))})
    values = _batch(bseed, extra)
    before = _names(Picker(impl)(weights, seed=seed), values)
    after = _names(Picker(impl)(raised, seed=seed), values)
    for b, a in zip(before, after, strict=True):
        if a != b:
            assert a == name  # raising: a key only ever moves into `name`
    # Read backwards, the same pair is a decrease: keys only leave `name`.


@given(weights=subset_weights(), seed=uint64, bseed=batch_seeds, extra=value_lists, data=st.data())
@settings(max_examples=FEW)
def test_scaling_all_weights_moves_nothing(
    impl: Implementation,
    weights: dict[str, int],
    seed: int,
    bseed: int,
    extra: list[int],
    data: st.DataObject,
) -> None:
    """Multiplying every weight by the same factor changes no pick."""
    factor = data.draw(st.integers(2, max(2, MAX // sum(weights.values()))))
    assume(sum(weights.values()) * factor <= MAX)
    scaled = {k: w * factor for k, w in weights.items()}
    values = _batch(bseed, extra)
    a = Picker(impl)(weights, seed=seed).choose_many(values)
    b = Picker(impl)(scaled, seed=seed).choose_many(values)
    assert a.tolist() == b.tolist()


@given(
    weights=subset_weights(max_size=5),
    new=subset_names,
    w=st.integers(1, 1000),
    seed=uint64,
    bseed=batch_seeds,
)
@settings(max_examples=FEW)
def test_adding_a_subset_only_takes_keys(
    impl: Implementation, weights: dict[str, int], new: str, w: int, seed: int, bseed: int
) -> None:
    """Adding a subset moves keys only into it; removing it gives exactly them back."""
    assume(new not in weights and sum(weights.values()) + w <= MAX)
    grown = {**weights, new: w}
    values = _batch(bseed, [])
    before = _names(Picker(impl)(weights, seed=seed), values)
    after = _names(Picker(impl)(grown, seed=seed), values)
    for b, a in zip(before, after, strict=True):
        assert a in (b, new)


@given(weights=subset_weights(min_size=2), seed=uint64, bseed=batch_seeds, data=st.data())
@settings(max_examples=min(50, FEW))
def test_order_of_subsets_does_not_matter(
    impl: Implementation, weights: dict[str, int], seed: int, bseed: int, data: st.DataObject
) -> None:
    """Reordering the mapping changes no sticky pick (salts are keyed by name)."""
    order = data.draw(st.permutations(list(weights)))
    shuffled = {k: weights[k] for k in order}
    values = _batch(bseed, [])
    assert _names(Picker(impl)(weights, seed=seed), values) == _names(
        Picker(impl)(shuffled, seed=seed), values
    )


@given(weights=subset_weights(), seed=uint64, values=value_lists)
@settings(max_examples=SOME)
def test_zero_weight_is_never_picked(
    impl: Implementation, weights: dict[str, int], seed: int, values: list[int]
) -> None:
    """No mode ever picks a subset whose weight is 0."""
    zero = {i for i, w in enumerate(weights.values()) if w == 0}
    for mode in ("sticky", "envoy"):
        p = Picker(impl)(weights, mode=mode, seed=seed)
        assert not zero & set(p.choose_many(values).tolist())
