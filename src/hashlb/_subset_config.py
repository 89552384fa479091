"""Weighted subset picker: the checks and the exact tie-break both twins share.

A plain Python module that ``_subset_c`` and ``_subset_py`` both import, so
the compiled twin never imports the pure one (msgpack's ``exceptions.py``
pattern).  Everything here is a cold path: configuration checks run at
construction, the value checks only on a value that is not an exact ``int``
in range, and :func:`exact_index` only on a near-tie of the float scores
(about one key in 10**12; see ``_subset_py`` for the rule).
"""

from __future__ import annotations

import math
from typing import Any

import xxhash

from ._validate import MAX_WEIGHT, as_int, check_uint, short, str_keyed_items
from .errors import ConfigError

__all__ = (
    "check_seed",
    "check_u64",
    "check_value",
    "check_weights",
    "exact_index",
    "picker_key",
)

_M64 = 0xFFFFFFFFFFFFFFFF
_TWO_M53 = 2.0**-53
_xxh64 = xxhash.xxh64_intdigest


def check_seed(seed: object) -> int:
    """Validate ``seed``: an int in ``[0, 2**64)``."""
    s = as_int(seed, "seed")
    if not 0 <= s <= _M64:
        raise ConfigError(f"seed must be in [0, 2**64), got {short(s)}")
    return s


def check_u64(value: object, field: str) -> int:
    """Validate *field*: an int in ``[0, 2**64)``."""
    if type(value) is int and 0 <= value <= _M64:
        return value
    return check_uint(value, field, 64)


def check_value(value: object) -> int:
    """Validate a value to choose with: an int in ``[0, 2**64)``."""
    return check_u64(value, "value")


def check_weights(weights: object) -> dict[str, int]:
    """Validate ``weights`` (subset name -> uint32 weight) and copy it in order.

    :raises TypeError: not a mapping, a name that is not a str, or a weight
        that is not an int.
    :raises ConfigError: no subsets, an empty name, a negative weight or one
        above ``2**32 - 1``, all weights 0, or a sum above ``2**32 - 1``.
    """
    out: dict[str, int] = {}
    expected = "a mapping of subset name to int weight"
    for name, w in str_keyed_items(weights, "weights", expected, "weights keys (subset names)"):
        if not name:
            raise ConfigError("weights keys (subset names) must not be empty")
        try:
            name.encode()
        except UnicodeEncodeError:
            raise ConfigError(f"weights key {name!r} is not valid Unicode text") from None
        wi = w if type(w) is int else as_int(w, f"weights[{name!r}]")
        if not 0 <= wi <= MAX_WEIGHT:
            raise ConfigError(f"weights[{name!r}] must be in [0, 2**32 - 1], got {wi}")
        out[str(name)] = wi
    if not out:
        raise ConfigError("weights must name at least one subset, got an empty mapping")
    total = sum(out.values())
    if total == 0:
        raise ConfigError(f"weights must not all be 0, got {out}")
    if total > MAX_WEIGHT:
        raise ConfigError(f"the sum of weights must be <= 2**32 - 1, got {total}")
    return out


def picker_key(picker: Any) -> tuple[Any, ...]:
    """What a picker compares and hashes by: its weights in order, mode and seed."""
    return (tuple(picker.weights.items()), picker.mode, picker.seed)


def exact_index(value: int, active: tuple[tuple[int, int, float, int], ...]) -> int:
    """Return the sticky winner for *value*, comparing ``L_i / w_i`` exactly.

    *active* holds ``(position, salt, 1.0 / w, w)`` per eligible subset in
    mapping order.  ``L / w < L' / w'`` is decided on the exact rationals
    (a double is ``n / d`` with ``d`` a power of two); ties keep the first.
    """
    key = value.to_bytes(8, "little")
    log = math.log
    best_pos = -1
    bn = bd = bw = 0
    for pos, salt, _inv_w, w in active:
        n, d = (-log(((_xxh64(key, salt) >> 11) | 1) * _TWO_M53)).as_integer_ratio()
        if best_pos < 0 or n * bd * bw < bn * d * w:
            best_pos, bn, bd, bw = pos, n, d, w
    return best_pos
