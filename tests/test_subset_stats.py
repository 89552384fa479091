"""Statistical tests of the sticky picker: exact proportions, the canary ramp, decorrelation.

Every test draws its keys from a fixed seed, so results are reproducible; the
tolerances are 4 binomial standard deviations (two-sided p ~ 6e-5 per check)
or a chi-square critical value at p = 1e-4.  10**6 keys per test run through
``pick_many`` (vectorized in both twins), so each takes well under a second.
"""

from __future__ import annotations

import itertools
import math
from typing import Any

import numpy as np
import pytest

from hashlb import Host

from ._impl import Implementation

N = 10**6
SIGMAS = 4.0
#: The standard normal quantile for a one-sided p of 1e-4 (chi-square critical values).
Z_1E4 = 3.719


def Picker(impl: Implementation) -> Any:
    """Return this twin's WeightedSubsetPicker class."""
    return impl.module("subset").WeightedSubsetPicker


def _keys(n: int = N, seed: int = 2024) -> np.ndarray:
    """Return *n* reproducible uniformly random 64-bit request hashes."""
    return np.random.default_rng(seed).integers(0, 2**64, size=n, dtype=np.uint64)


def _within(count: int, n: int, p: float, sigmas: float = SIGMAS) -> bool:
    """Return True if *count* is within *sigmas* binomial sigmas of n * p."""
    return abs(count - n * p) <= sigmas * math.sqrt(n * p * (1.0 - p))


def chi2_critical(df: int, z: float = Z_1E4) -> float:
    """Return the chi-square critical value for *df* (Wilson-Hilferty approximation)."""
    a = 2.0 / (9.0 * df)
    return float(df * (1.0 - a + z * math.sqrt(a)) ** 3)


@pytest.mark.parametrize(
    "weights",
    [
        {"safe": 9999, "risky": 1},  # 1 in 10,000
        {"safe": 99, "risky": 1},  # a 1% canary
        {"safe": 1, "risky": 1},
        {"safe": 90, "risky": 10},
        {"a": 9989, "b": 10, "c": 1},
        {"a": 5000, "b": 3000, "c": 1999, "d": 1},
        {"a": 1, "b": 2, "c": 3, "d": 4, "e": 5, "f": 6},
    ],
    ids=lambda w: "/".join(map(str, w.values())),
)
def test_exact_proportions(impl: Implementation, weights: dict[str, int]) -> None:
    """Over 10**6 random keys every subset's share is within 4 sigma of w / sum(w)."""
    counts = np.bincount(Picker(impl)(weights).choose_many(_keys()), minlength=len(weights))
    total = sum(weights.values())
    for count, w in zip(counts.tolist(), weights.values(), strict=True):
        assert _within(count, N, w / total), (count, N * w / total)


def test_proportions_do_not_depend_on_the_seed(impl: Implementation) -> None:
    """A 1% canary is 1% under several salt seeds (not one lucky seed)."""
    keys = _keys(200_000, seed=7)
    for seed in (1, 2, 3, 2**63 + 5):
        counts = np.bincount(
            Picker(impl)({"safe": 99, "risky": 1}, seed=seed).choose_many(keys),
            minlength=2,
        )
        assert _within(int(counts[1]), len(keys), 0.01)


RAMP = (1, 5, 10, 25, 50, 100)


def test_monotone_canary_ramp(impl: Implementation) -> None:
    """1->5->10->25->50->100%: canary keys stay; the moved share equals the weight change."""
    keys = _keys()
    previous = None
    old_pct = 0
    for pct in RAMP:
        in_canary = Picker(impl)({"safe": 100 - pct, "risky": pct}).choose_many(keys) == 1
        assert _within(int(in_canary.sum()), N, pct / 100)
        if previous is not None:
            assert not (previous & ~in_canary).any(), "a canary key left the canary"
            moved = int((in_canary & ~previous).sum())
            assert _within(moved, N, (pct - old_pct) / 100), (pct, moved)
        previous, old_pct = in_canary, pct
    assert previous is not None and previous.all()


def test_ramp_down_only_releases_canary_keys(impl: Implementation) -> None:
    """Rolling back 25% -> 5% -> 0% moves only canary keys, back to the safe subset."""
    keys = _keys(300_000, seed=11)
    picks = [Picker(impl)({"safe": 100 - p, "risky": p}).choose_many(keys) for p in (25, 5, 0)]
    for before, after in itertools.pairwise(picks):
        moved = before != after
        assert (before[moved] == 1).all() and (after[moved] == 0).all()
    assert not picks[-1].any()


def test_three_subsets_ramp_moves_only_into_the_raised_one(impl: Implementation) -> None:
    """With three subsets, raising one never moves a key between the other two."""
    keys = _keys(300_000, seed=12)
    a = Picker(impl)({"v1": 60, "v2": 30, "v3": 10}).choose_many(keys)
    b = Picker(impl)({"v1": 60, "v2": 30, "v3": 40}).choose_many(keys)
    moved = a != b
    assert (b[moved] == 2).all()
    assert _within(int(moved.sum()), len(keys), 40 / 130 - 10 / 100)


def independence_chi2(rows: np.ndarray, cols: np.ndarray, n_rows: int, n_cols: int) -> float:
    """Return Pearson's chi-square of independence for paired labels *rows* x *cols*."""
    table = np.bincount(
        rows.astype(np.int64) * n_cols + cols.astype(np.int64), minlength=n_rows * n_cols
    ).reshape(n_rows, n_cols)
    expected = np.outer(table.sum(axis=1), table.sum(axis=0)) / table.sum()
    return float(((table - expected) ** 2 / expected).sum())


@pytest.mark.parametrize("balancer", [("maglev", "Maglev"), ("ring", "RingHash")], ids=str)
@pytest.mark.parametrize("weights", [{"safe": 99, "risky": 1}, {"safe": 50, "risky": 50}], ids=str)
def test_decorrelated_host_choice(
    impl: Implementation, balancer: tuple[str, str], weights: dict[str, int]
) -> None:
    """The host a key gets from a table is independent of its subset (chi-square, p=1e-4)."""
    keys = _keys()
    hosts = [Host(f"10.0.1.{i}:8080") for i in range(8)]
    table = getattr(impl.module(balancer[0]), balancer[1])(hosts)
    picked = Picker(impl)(weights).choose_many(keys)
    host = np.asarray(table.lookup_many(keys))
    stat = independence_chi2(picked, host, 2, len(hosts))
    assert stat < chi2_critical(len(hosts) - 1), stat


def test_decorrelation_test_has_power(impl: Implementation) -> None:
    """Negative control: a canary chosen from the Maglev slot itself fails the same test."""
    keys = _keys()
    hosts = [Host(f"10.0.1.{i}:8080") for i in range(8)]
    table = impl.module("maglev").Maglev(hosts)
    # A correlated scheme: the canary is the first 1% of the table's slots.
    canary = (keys % np.uint64(table.table_size)) < np.uint64(table.table_size // 100)
    host = np.asarray(table.lookup_many(keys))
    stat = independence_chi2(canary, host, 2, len(hosts))
    assert stat > 3 * chi2_critical(len(hosts) - 1), stat


def test_subset_decisions_are_mutually_independent(impl: Implementation) -> None:
    """Pickers with different seeds decide independently (2x2 contingency, p=1e-4)."""
    keys = _keys()
    a = Picker(impl)({"safe": 1, "risky": 1}, seed=1).choose_many(keys)
    b = Picker(impl)({"safe": 1, "risky": 1}, seed=2).choose_many(keys)
    assert independence_chi2(a, b, 2, 2) < chi2_critical(1)
