"""Weighted subset picker, pure Python: the typed twin of ``_subset_c.pyx``.

Two modes choose a subset (a DestinationRule subset, an Envoy weighted
cluster) from a 64-bit value:

``"envoy"``
    Envoy's ``weighted_clusters`` rule (spec §9.1): ``selected = value %
    total``, then the first subset, in mapping order, whose cumulative
    interval ``[begin, end)`` contains ``selected``.  Zero weights are never
    chosen.

``"sticky"``
    Weighted rendezvous hashing (Schindelhauer & Schomaker, "Weighted
    distributed hash tables", SPAA 2005; the "-ln(U)/w" form).  For every
    subset *i* with ``w_i > 0``::

        salt_i = xxh64(name_i as UTF-8, seed)           # by NAME, not position
        x_i    = xxh64(value as 8 little-endian bytes, seed=salt_i)
        u_i    = ((x_i >> 11) | 1) * 2**-53             # uniform in (0, 1)
        L_i    = -log(u_i)                              # an IEEE double (libm)

    and the subset with the smallest ``L_i / w_i`` wins, compared *exactly*
    as rational numbers (ties: the first in mapping order).  The ``L_i /
    w_i`` are independent exponentials of rate ``w_i``, so subset *i* wins
    with probability ``w_i / sum(w)``.  Because the comparison is exact:

    * raising ``w_i`` only lowers subset *i*'s score, so keys move *into*
      subset *i* and never between other subsets (lowering it: only keys
      leaving *i* move);
    * multiplying every weight by the same factor changes no comparison;
    * a weight of 0 drains the subset;
    * the salt depends on the subset's *name*, so adding or removing other
      subsets moves only keys won or released by them.

    A choice first compares the floating-point scores ``L_i * (1.0 / w_i)``;
    only when the best two are within a relative ``2**-40`` (about one key
    in 10**12) does it fall back to the exact comparison.

    ``x_i`` is a *separately seeded* hash of the request hash, so the subset
    decision is statistically independent of the host decision (a table
    lookup of the request hash itself): the "decorrelation" that Envoy's
    ``use_hash_policy`` lacks.

Both twins take ``L_i`` from the platform's libm ``log`` (``math.log`` here),
so they agree bit for bit.  Keep names and signatures identical to the
compiled twin; the docstrings both share live in ``_subset_doc.py``
(``tests/test_parity.py`` checks all three).
"""

from __future__ import annotations

import heapq
import math
from array import array
from collections.abc import Mapping
from types import MappingProxyType
from typing import Any

import xxhash

from ._batch import hash_buffer, index_output, is_numpy, np_xxh64_u64
from ._docstrings import attach as _attach_docs
from ._slots import checked_property
from ._subset_config import check_seed as _check_seed
from ._subset_config import check_value as _check_value
from ._subset_config import check_weights as _check_weights
from ._subset_config import exact_index as _exact_index
from ._subset_config import picker_key as _picker_key
from ._subset_doc import DOCS as _DOCS
from ._types import positional_restore, rebuild
from ._validate import renamed, uninitialised
from .errors import ConfigError

__all__ = ("WeightedSubsetPicker",)

_M64 = 0xFFFFFFFFFFFFFFFF
_TWO_M53 = 2.0**-53
#: The float pass decides only when the runner-up's score exceeds the best
#: one by this factor; the scores carry a few ulp of rounding (and numpy's
#: SIMD ``log`` may differ from libm's in the last bit), far below 2**-40.
#: Read at construction (tests set it to inf to exercise the exact path).
_SAFE = 1.0 + 2.0**-40
_MODES = ("sticky", "envoy")
_xxh64 = xxhash.xxh64_intdigest


class WeightedSubsetPicker:
    __slots__ = (
        "_active",
        "_ends",
        "_inv_w",
        "_mode",
        "_names",
        "_safe",
        "_salts",
        "_seed",
        "_sticky",
        "_total",
        "_weights",
    )

    _names: tuple[str, ...]
    _weights: Mapping[str, int]
    _mode: str
    _seed: int
    _sticky: bool
    _total: int
    _salts: tuple[int, ...]
    _active: tuple[tuple[int, int, float, int], ...]  # (position, salt, 1/w, w), w > 0
    _ends: tuple[int, ...]  # cumulative interval ends, aligned with names
    _safe: float  # _SAFE at construction

    def __init__(self, weights: Mapping[str, int], *, mode: str = "sticky", seed: int = 0) -> None:
        if hasattr(self, "_names"):
            raise TypeError("WeightedSubsetPicker is immutable; __init__ cannot run twice")
        w = _check_weights(weights)
        if mode not in _MODES:
            raise ConfigError(f"mode must be 'sticky' or 'envoy', got {mode!r}")
        s = _check_seed(seed)
        names = tuple(w)
        salts = tuple(_xxh64(n.encode(), s) for n in names)
        ends: list[int] = []
        acc = 0
        for n in names:
            acc += w[n]
            ends.append(acc)
        self._weights = MappingProxyType(w)
        self._mode = str(mode)
        self._seed = s
        self._sticky = mode == "sticky"
        self._total = acc
        self._salts = salts
        self._active = tuple(
            (i, salts[i], 1.0 / w[n], w[n]) for i, n in enumerate(names) if w[n] > 0
        )
        self._ends = tuple(ends)
        self._safe = _SAFE
        self._names = names  # last: until then the picker is unusable

    names: tuple[str, ...] = checked_property("_names", "WeightedSubsetPicker")
    weights: Mapping[str, int] = checked_property("_weights", "WeightedSubsetPicker")
    mode: str = checked_property("_mode", "WeightedSubsetPicker")
    seed: int = checked_property("_seed", "WeightedSubsetPicker")
    total: int = checked_property("_total", "WeightedSubsetPicker")
    salts: tuple[int, ...] = checked_property("_salts", "WeightedSubsetPicker")

    # self is positional-only, as in the compiled twin's fast method descriptors.
    def choose_index(self, /, value: int) -> int:
        v = value if type(value) is int and 0 <= value <= _M64 else _check_value(value)
        try:
            sticky = self._sticky
        except AttributeError:
            raise uninitialised(self, "WeightedSubsetPicker") from None
        if not sticky:
            selected = v % self._total
            for i, end in enumerate(self._ends):
                if selected < end:
                    return i
            raise AssertionError("unreachable: selected < total")  # pragma: no cover
        active = self._active
        if len(active) == 1:
            return active[0][0]
        key = v.to_bytes(8, "little")
        log = math.log
        # The two lowest scores (ties to the lower index, as the compiled loop).
        (best, best_i), (second, _) = heapq.nsmallest(
            2,
            (
                (-log(((_xxh64(key, salt) >> 11) | 1) * _TWO_M53) * inv_w, i)
                for i, salt, inv_w, _w in active
            ),
        )
        if second > best * self._safe:
            return best_i
        return _exact_index(v, active)  # a near-tie: about one key in 10**12

    def choose(self, /, value: int) -> str:
        try:
            return self._names[self.choose_index(value)]
        except AttributeError:
            raise uninitialised(self, "WeightedSubsetPicker") from None

    def choose_many(self, values: Any) -> Any:
        view = hash_buffer(values)
        self._ready()
        n = len(view)
        try:
            import numpy as np
        except ImportError:  # pragma: no cover - numpy is in the test extra
            out = index_output(n, values)
            choose = self.choose_index
            for k in range(n):
                out[k] = choose(view[k])
            return out
        h = np.frombuffer(view, dtype=np.uint64) if n else np.zeros(0, dtype=np.uint64)
        if not self._sticky:
            ends = np.array(self._ends, dtype=np.uint64)
            idx = np.searchsorted(ends, h % np.uint64(self._total), side="right")
        elif len(self._active) == 1:
            idx = np.full(n, self._active[0][0], dtype=np.intp)
        else:
            scores = np.empty((len(self._active), n), dtype=np.float64)
            for row, (_, salt, inv_w, _w) in enumerate(self._active):
                x = np_xxh64_u64(np, h, salt)
                u = ((x >> np.uint64(11)) | np.uint64(1)).astype(np.float64) * _TWO_M53
                np.multiply(-np.log(u), inv_w, out=scores[row])
            best = np.argmin(scores, axis=0)
            positions = np.array([a[0] for a in self._active], dtype=np.intp)
            idx = positions[best]
            two = np.partition(scores, 1, axis=0)[:2]
            near = np.nonzero(~(two[1] > two[0] * self._safe))[0]
            for k in near.tolist():  # near-ties: decide exactly, with libm's log
                idx[k] = _exact_index(int(h[k]), self._active)
        out = index_output(n, values)
        if is_numpy(out):
            out[:] = idx
        else:
            out = array("I", idx.astype(np.uint32).tobytes())
        return out

    def pick_index(self, /, value: int) -> int:
        renamed("WeightedSubsetPicker.pick_index", "WeightedSubsetPicker.choose_index", 2)
        return self.choose_index(value)

    def pick(self, /, value: int) -> str:
        renamed("WeightedSubsetPicker.pick", "WeightedSubsetPicker.choose", 2)
        return self.choose(value)

    def pick_many(self, values: Any) -> Any:
        renamed("WeightedSubsetPicker.pick_many", "WeightedSubsetPicker.choose_many", 2)
        return self.choose_many(values)

    def with_weights(self, weights: Mapping[str, int]) -> WeightedSubsetPicker:
        try:
            return WeightedSubsetPicker(weights, mode=self._mode, seed=self._seed)
        except AttributeError:
            raise uninitialised(self, "WeightedSubsetPicker") from None

    def _ready(self) -> None:
        try:
            self._names  # noqa: B018 - unset until __init__ ran
        except AttributeError:
            raise uninitialised(self, "WeightedSubsetPicker") from None

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, WeightedSubsetPicker):
            return NotImplemented
        return _picker_key(self) == _picker_key(other)

    def __hash__(self) -> int:
        return hash(_picker_key(self))

    def __reduce__(self) -> tuple[Any, ...]:
        self._ready()
        options = {"mode": self._mode, "seed": self._seed}
        return (rebuild, (WeightedSubsetPicker, (dict(self._weights),), options))

    def __repr__(self) -> str:
        if not hasattr(self, "_names"):
            return "<WeightedSubsetPicker object (not initialised)>"
        return (
            f"WeightedSubsetPicker({dict(self._weights)!r}, mode={self._mode!r}, seed={self._seed})"
        )


def __getattr__(name: str) -> Any:
    """Resolve ``Route``, which moved to the router unit, for pickles made before the move."""
    if name == "Route":
        from ._router_py import Route

        return Route
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


# Pickles of earlier builds call _restore with the options by position.
_restore = positional_restore(WeightedSubsetPicker, ("mode", "seed"))

_attach_docs(globals(), _DOCS)  # the docstrings shared with the compiled twin
