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

Both twins take ``L_i`` from the platform's libm ``log`` (``math.log``
here), so they agree bit for bit.
Keep names, signatures and docstrings identical to the compiled twin.
"""

from __future__ import annotations

import math
from array import array
from collections.abc import Mapping
from types import MappingProxyType
from typing import Any

import xxhash

from ._batch import hash_buffer, index_output, is_numpy, np_xxh64_u64
from ._slots import checked_property
from ._subset_config import check_seed as _check_seed
from ._subset_config import check_value as _check_value
from ._subset_config import check_weights as _check_weights
from ._subset_config import exact_index as _exact_index
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


def _restore(weights: dict[str, int], mode: str, seed: int) -> Any:
    """Rebuild a picker when unpickling."""
    return WeightedSubsetPicker(weights, mode=mode, seed=seed)


class WeightedSubsetPicker:
    """Choose a subset by weight from a 64-bit value: Envoy's way or sticky.

    :param weights: subset name -> weight (an int in ``[0, 2**32 - 1]``), in
        the order Envoy's ``weighted_clusters`` would list them.  At least one
        weight must be non-zero and the sum must fit in 32 bits.  A weight of
        0 is allowed and never chosen.
    :param str mode: ``"sticky"`` (default): weighted rendezvous hashing, a
        pure function of the value and the weights, with exact proportions
        and minimal movement when weights change.  ``"envoy"``: ``value %
        total`` over the subsets in mapping order, exactly as Envoy picks a
        weighted cluster (spec §9.1).
    :param int seed: the seed of the sticky mode's per-subset salts, in
        ``[0, 2**64)``.  Routers that must agree use the same seed.
    :raises TypeError: *weights* is not a mapping of str to int, or *seed*
        is not an int.
    :raises ~hashlb.ConfigError: no subsets, an empty name, a weight out of
        range, all weights 0, a sum above ``2**32 - 1``, an unknown *mode*
        or a *seed* out of range.

    >>> canary = WeightedSubsetPicker({"safe": 99, "risky": 1})
    >>> canary.choose(0x9E3779B97F4A7C15)
    'safe'
    >>> canary.names, canary.total
    (('safe', 'risky'), 100)
    >>> envoy = WeightedSubsetPicker({"cluster1": 30, "cluster2": 30, "cluster3": 40}, mode="envoy")
    >>> [envoy.choose(v) for v in (115, 445, 560)]
    ['cluster1', 'cluster2', 'cluster3']
    """

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

    names: tuple[str, ...] = checked_property(
        "_names",
        "WeightedSubsetPicker",
        "The subset names in mapping order; :meth:`choose_index` indexes this.",
    )
    weights: Mapping[str, int] = checked_property(
        "_weights", "WeightedSubsetPicker", "The weights, a read-only mapping in the given order."
    )
    mode: str = checked_property("_mode", "WeightedSubsetPicker", '``"sticky"`` or ``"envoy"``.')
    seed: int = checked_property(
        "_seed", "WeightedSubsetPicker", "The seed of the sticky mode's salts."
    )
    total: int = checked_property(
        "_total", "WeightedSubsetPicker", "The sum of the weights (Envoy's ``total``)."
    )
    salts: tuple[int, ...] = checked_property(
        "_salts",
        "WeightedSubsetPicker",
        "The sticky mode's per-subset salts, ``xxh64(name, seed)``, aligned with :attr:`names`.",
    )

    # self is positional-only, as in the compiled twin's fast method descriptors.
    def choose_index(self, /, value: int) -> int:
        """Return the position in :attr:`names` of the subset chosen for *value*.

        :param int value: the request hash (sticky mode) or Envoy's random,
            header or hash-policy value (envoy mode), in ``[0, 2**64)``.
        :raises TypeError: *value* is not an int.
        :raises ValueError: *value* is out of range.

        >>> WeightedSubsetPicker({"a": 1, "b": 1}, mode="envoy").choose_index(3)
        1
        """
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
        best_i = -1
        best = second = math.inf
        for i, salt, inv_w, _w in active:
            score = -log(((_xxh64(key, salt) >> 11) | 1) * _TWO_M53) * inv_w
            if score < best:
                second = best
                best = score
                best_i = i
            elif score < second:
                second = score
        if second > best * self._safe:
            return best_i
        return _exact_index(v, active)  # a near-tie: about one key in 10**12

    def choose(self, /, value: int) -> str:
        """Return the name of the subset chosen for *value*.

        :param int value: the request hash (sticky mode) or Envoy's random,
            header or hash-policy value (envoy mode), in ``[0, 2**64)``.
        :raises TypeError: *value* is not an int.
        :raises ValueError: *value* is out of range.

        >>> WeightedSubsetPicker({"safe": 1, "risky": 0}).choose(12345)
        'safe'
        """
        try:
            return self._names[self.choose_index(value)]
        except AttributeError:
            raise uninitialised(self, "WeightedSubsetPicker") from None

    def choose_many(self, values: Any) -> Any:
        """Return the chosen subset index (into :attr:`names`) for every value.

        :param values: a C-contiguous uint64 buffer (``numpy.uint64`` array,
            ``array('Q')``) or an iterable of ints in ``[0, 2**64)``.
        :returns: uint32 indices: a numpy array for a numpy input, else
            ``array('I')``.  Element *k* equals ``choose_index(values[k])``.
        :raises TypeError: *values* is not a uint64 buffer or iterable of ints.
        :raises ValueError: an int is out of range.

        >>> list(WeightedSubsetPicker({"a": 1, "b": 1}, mode="envoy").choose_many([0, 1, 2]))
        [0, 1, 0]
        """
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
        """Deprecated alias of :meth:`choose_index` (removed in the next release)."""
        renamed("WeightedSubsetPicker.pick_index", "WeightedSubsetPicker.choose_index", 2)
        return self.choose_index(value)

    def pick(self, /, value: int) -> str:
        """Deprecated alias of :meth:`choose` (removed in the next release)."""
        renamed("WeightedSubsetPicker.pick", "WeightedSubsetPicker.choose", 2)
        return self.choose(value)

    def pick_many(self, values: Any) -> Any:
        """Deprecated alias of :meth:`choose_many` (removed in the next release)."""
        renamed("WeightedSubsetPicker.pick_many", "WeightedSubsetPicker.choose_many", 2)
        return self.choose_many(values)

    def with_weights(self, weights: Mapping[str, int]) -> WeightedSubsetPicker:
        """Return a new picker with *weights* and the same mode and seed.

        :param weights: the new subset name -> weight mapping.
        :raises TypeError: as for the constructor.
        :raises ~hashlb.ConfigError: as for the constructor.

        >>> WeightedSubsetPicker({"safe": 99, "risky": 1}).with_weights({"safe": 95, "risky": 5}).total
        100
        """
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
        self._ready()
        return (
            tuple(self._weights.items()) == tuple(other.weights.items())
            and self._mode == other.mode
            and self._seed == other.seed
        )

    def __hash__(self) -> int:
        try:
            return hash((tuple(self._weights.items()), self._mode, self._seed))
        except AttributeError:
            raise uninitialised(self, "WeightedSubsetPicker") from None

    def __reduce__(self) -> tuple[Any, ...]:
        self._ready()
        return (_restore, (dict(self._weights), self._mode, self._seed))

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
