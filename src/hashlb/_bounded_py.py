"""Bounded load, pure Python: the typed twin of ``_bounded_c.pyx``.

Envoy's ``BoundedLoadHashingLoadBalancer`` (``thread_aware_lb_impl.cc``;
spec ``envoy-lb.md`` §6), after Mirrokni, Thorup and Zadimoghaddam,
"Consistent Hashing with Bounded Loads" (arXiv 1608.01350):

* a host of normalized weight ``w`` has ``slots = max(ceil(total_slots * w), 1)``
  where ``total_slots = ((overall + 1) * factor + 99) // 100`` (u32
  arithmetic), and is acceptable while ``active / slots <= 1.0``;
* if the table's choice is overloaded, candidates are drawn by a lazy
  Fisher-Yates shuffle driven by ``std::mt19937`` seeded with the request
  hash (mod 2**32); the first acceptable one wins, else the least overloaded.

``uniform(k)`` is libstdc++'s division-based ``uniform_int_distribution``
for a 32-bit engine: ``x = rng() // (2**32 // k)``, redrawn until ``x < k``
(spec §6; it reproduces Envoy's shuffle vectors).

Keep names and signatures identical to the compiled twin; the docstrings both
share live in ``_bounded_doc.py`` (``tests/test_parity.py`` checks all
three).
"""

from __future__ import annotations

import math
import threading
from collections.abc import Sequence
from typing import Any

from ._bounded_config import Level, host_position, layout
from ._bounded_doc import DOCS as _DOCS
from ._docstrings import attach as _attach_docs
from ._slots import checked_property
from ._types import Host, Lease, rebuild
from ._validate import (
    BOUNDED_LOAD_SIGNATURE,
    MAX_SHUFFLE_N,
    REQUIRED,
    check_balance_factor,
    check_shuffle_n,
    uninitialised,
)
from ._validate import check_uint as _check_uint
from ._weights import check_hash

__all__ = ("MAX_SHUFFLE_N", "BoundedLoad", "Lease")

_U32 = 0xFFFFFFFF


class _MT19937:
    """``std::mt19937`` (32-bit Mersenne Twister, ``init_genrand`` seeding)."""

    __slots__ = ("i", "mt")

    def __init__(self, seed: int) -> None:
        mt = [0] * 624
        x = seed & _U32
        mt[0] = x
        for i in range(1, 624):
            x = (1812433253 * (x ^ (x >> 30)) + i) & _U32
            mt[i] = x
        self.mt = mt
        self.i = 624

    def __call__(self) -> int:
        if self.i >= 624:
            mt = self.mt
            for k in range(624):
                y = (mt[k] & 0x80000000) | (mt[(k + 1) % 624] & 0x7FFFFFFF)
                v = mt[(k + 397) % 624] ^ (y >> 1)
                mt[k] = v ^ 0x9908B0DF if y & 1 else v
            self.i = 0
        y = self.mt[self.i]
        self.i += 1
        y ^= y >> 11
        y ^= (y << 7) & 0x9D2C5680
        y ^= (y << 15) & 0xEFC60000
        return y ^ (y >> 18)

    def uniform(self, k: int) -> int:
        """Return a draw in ``[0, k)`` as libstdc++ does for a 32-bit engine."""
        scaling = (1 << 32) // k
        while True:
            x = self() // scaling
            if x < k:
                return x


def _mt19937(seed: int, n: int) -> list[int]:
    rng = _MT19937(_check_uint(seed, "seed", 64))
    return [rng() for _ in range(check_shuffle_n(n))]


def _probe_order(seed: int, n: int) -> list[int]:
    rng = _MT19937(_check_uint(seed, "seed", 64))
    n = check_shuffle_n(n)
    index = list(range(n))
    for i in range(n):
        j = i + rng.uniform(n - i)
        index[i], index[j] = index[j], index[i]
    return index


def _overload(active: int, total_slots: int, weight: float) -> float:
    """Envoy's ``hostOverloadFactor``: active requests per allowed slot."""
    slots = max(math.ceil(total_slots * weight), 1) & _U32
    return active / slots


class BoundedLoad:
    __slots__ = (
        "_active",
        "_choice",
        "_factor",
        "_hosts",
        "_index",
        "_lb",
        "_levels",
        "_lock",
        "_total",
        "_weight_of",
    )

    _active: list[int]
    #: ``[sum(_active)]``: the total kept by acquire/release (a cell: the slots are frozen).
    _total: list[int]
    _choice: tuple[int, ...] | None
    _factor: int
    _hosts: tuple[Host, ...]
    _index: dict[int, int]
    _lb: Any
    _levels: tuple[Level, ...]
    _lock: threading.Lock
    _weight_of: dict[int, float]

    __signature__ = BOUNDED_LOAD_SIGNATURE

    def __init__(self, lb: Any, *args: int, hash_balance_factor: int = REQUIRED) -> None:  # type: ignore[assignment]
        if hasattr(self, "_lb"):
            raise TypeError("BoundedLoad is immutable; __init__ cannot run twice")
        # *args: the deprecated positional factor (it warns for one release).
        factor = check_balance_factor(args, hash_balance_factor, 2)
        hosts, index, levels, choice = layout(lb)
        weight_of: dict[int, float] = {}
        for _lookup, order, weights in levels:
            weight_of.update(zip(order, weights, strict=True))
        setter = object.__setattr__
        setter(self, "_lb", lb)
        setter(self, "_factor", factor)
        setter(self, "_hosts", hosts)
        setter(self, "_index", index)
        setter(self, "_levels", levels)
        setter(self, "_choice", choice)
        setter(self, "_weight_of", weight_of)
        setter(self, "_active", [0] * len(hosts))
        setter(self, "_total", [0])
        setter(self, "_lock", threading.Lock())

    def __setattr__(self, name: str, value: object) -> None:
        raise AttributeError(f"BoundedLoad is immutable; cannot set {name!r}")

    def __reduce__(self) -> tuple[Any, ...]:
        # The table and the factor; the in-flight counts start at zero on load.
        self._ready()
        return (rebuild, (BoundedLoad, (self._lb,), {"hash_balance_factor": self._factor}))

    def _ready(self) -> None:
        try:
            self._hosts  # noqa: B018 - unset until __init__ ran
        except AttributeError:
            raise uninitialised(self, "BoundedLoad") from None

    lb: Any = checked_property("_lb", "BoundedLoad")

    hash_balance_factor: int = checked_property("_factor", "BoundedLoad")

    @property
    def active(self) -> tuple[int, ...]:
        self._ready()
        with self._lock:
            return tuple(self._active)

    def lookup(
        self, hash: int, active: Sequence[int], attempt: int = 0, *, total: int | None = None
    ) -> Host | None:
        self._ready()
        counts = self._counts(active)
        overall = sum(counts) if total is None else _check_uint(total, "total", 64)
        return self._choose(hash, attempt, counts, overall)

    def acquire(self, hash: int, attempt: int = 0) -> Lease:
        self._ready()
        with self._lock:
            total = self._total
            host = self._choose(hash, attempt, self._active, total[0])
            if host is None:
                return Lease(self, -1, None)
            i = self._index[id(host)]
            self._active[i] += 1
            total[0] += 1
        return Lease(self, i, host)

    def release(self, host: Host) -> None:
        self._ready()
        i = self._index.get(id(host))
        if i is None:
            i = host_position(self._hosts, host)
        self._release_index(i)

    def _release_index(self, i: int) -> None:
        self._ready()
        if not 0 <= i < len(self._hosts):  # a Lease can be made by hand
            raise IndexError(f"host index {i!r:.40} out of range for {len(self._hosts)} hosts")
        with self._lock:
            if self._active[i] <= 0:
                raise ValueError(f"host {self._hosts[i]!r} has no request in flight")
            self._active[i] -= 1
            self._total[0] -= 1

    def _counts(self, active: Sequence[int]) -> list[int]:
        if isinstance(active, (str, bytes)):
            raise TypeError(f"active must be a sequence of ints, not {type(active).__name__}")
        try:
            counts = [_check_uint(a, "active[i]", 32) for a in active]
        except TypeError as e:
            if "active[i]" in str(e):
                raise
            raise TypeError(
                f"active must be a sequence of ints, not {type(active).__name__}"
            ) from None
        if len(counts) != len(self._hosts):
            raise ValueError(
                f"active must have one count per host ({len(self._hosts)}), got {len(counts)}"
            )
        return counts

    def _choose(self, hash: int, attempt: int, counts: list[int], overall: int) -> Host | None:
        hash = check_hash(hash)
        choice = self._choice
        lookup, order, weights = self._levels[0 if choice is None else choice[hash % 100]]
        host = lookup(hash, attempt)
        if host is None:
            return None
        first = self._index.get(id(host))
        if first is None:
            raise ValueError(f"lb.lookup returned {host!r}, not one of lb.hosts")
        # Do not change: Envoy computes this in uint32 arithmetic.
        total_slots = ((((overall & _U32) + 1) & _U32) * self._factor + 99) & _U32
        total_slots //= 100
        least = first
        least_factor = _overload(counts[first], total_slots, self._weight_of.get(first, 0.0))
        if least_factor <= 1.0:
            return self._hosts[first]
        rng = _MT19937(hash)
        n = len(order)
        index = list(range(n))
        for i in range(n):
            j = i + rng.uniform(n - i)
            index[i], index[j] = index[j], index[i]
            k = index[i]
            alt = order[k]
            if alt == first:
                continue
            factor = _overload(counts[alt], total_slots, weights[k])
            if factor <= 1.0:
                return self._hosts[alt]
            if least_factor > factor:
                least = alt
                least_factor = factor
        return self._hosts[least]

    def __repr__(self) -> str:
        if not hasattr(self, "_hosts"):
            return "<BoundedLoad object (not initialised)>"
        return f"BoundedLoad({self._lb!r}, hash_balance_factor={self._factor})"


_attach_docs(globals(), _DOCS)  # the docstrings shared with the compiled twin
