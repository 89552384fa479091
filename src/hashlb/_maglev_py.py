"""Maglev consistent hashing, pure Python: the typed twin of ``_maglev_c.pyx``.

Envoy's ``MaglevTable`` (``source/extensions/load_balancing_policies/maglev/
maglev_lb.cc``; spec ``envoy-lb.md`` §5), which is the populate loop of
Eisenbud et al., "Maglev: A Fast and Reliable Software Network Load
Balancer" (NSDI 2016, §3.4, Pseudocode 1) with Envoy's weighted rounds:

1. hosts are sorted by hash-key bytes (ties: by the remaining ``Host``
   fields, then by host index -- Envoy compares pointers there, which is
   unspecified, so we pick a documented total order);
2. ``offset = xxh64(key, 0) % M`` and ``skip = xxh64(key, 1) % (M - 1) + 1``;
   a host's permutation is ``(offset + skip * next) % M``;
3. round ``iteration = 1, 2, ...`` (u32): a host takes a slot unless
   ``iteration * w < target_weight`` (IEEE doubles), and each slot taken adds
   ``max_normalized_weight`` to its ``target_weight``.  With skewed weights
   (one heavy host, thousands of light ones: about M rounds) the fill visits
   only the hosts due in each round, found with that same test
   (``_next_due``): O(M log hosts) at worst instead of O(M * hosts).

Keep names and signatures identical to the compiled twin; the docstrings both
share live in ``_maglev_doc.py`` (``tests/test_parity.py`` checks all three).
"""

from __future__ import annotations

import math
from array import array
from collections.abc import Iterable, Mapping, Sequence
from heapq import heappop, heappush
from typing import TYPE_CHECKING, Any

import xxhash

from ._columns import need_numpy, py_lookup_many, py_pick_many
from ._docstrings import attach as _attach_docs
from ._maglev_doc import DOCS as _DOCS
from ._pickling import pack_hosts, rebuild_hosts
from ._retry import Reject
from ._retry import choose as _choose
from ._slots import checked_property
from ._types import Host, positional_restore
from ._validate import MAGLEV_OPTIONS, MAX_TABLE_SIZE, uninitialised
from ._validate import as_bytes as _key_bytes
from ._validate import check_attempt as _check_attempt
from ._validate import check_table_size as _check_table_size
from ._weights import check_hash, prepare
from .versions import EnvoyProfile, profile

if TYPE_CHECKING:
    from ._types import HostIndices

__all__ = ("DEFAULT_TABLE_SIZE", "MAX_TABLE_SIZE", "Maglev")

#: Envoy's default ``table_size``.
DEFAULT_TABLE_SIZE = 65537

_M64 = 0xFFFFFFFFFFFFFFFF
_U32 = 0xFFFFFFFF
_xxh64 = xxhash.xxh64_intdigest


#: Envoy's fill iteration is a u32: its last value.
_LAST_ITERATION = 0xFFFFFFFF
# The fill visits only the hosts due in each round (buckets of next turns)
# once the largest weight exceeds this many times the mean (the round scan
# would test about that many hosts per slot); both drivers give the same
# table (tests force each).  The compiled twin's crossover differs.
_HEAP_ABOVE = 12.0


def _next_due(weight: float, target: float, lo: int) -> int:
    """Return the first iteration ``t >= lo`` that passes Envoy's turn test, or -1.

    The test is Envoy's own: a host takes a turn in iteration ``t`` unless
    ``t * weight < target`` (``t`` converted to a double, IEEE product and
    comparison).  It is monotone in ``t`` (rounding is monotone, weights are
    ``>= 0``), so the answer is found by evaluating that test only: a guess
    ``ceil(target / weight)`` (the division only guesses, it is within one
    of the answer), widened by doubling until it brackets the answer, then
    bisected.  -1: not before Envoy's last (u32) iteration.
    """
    if lo > _LAST_ITERATION:
        return -1
    if not lo * weight < target:
        return lo
    if _LAST_ITERATION * weight < target:
        return -1
    # Invariant from here: the test fails at a and passes at b, a < b; so
    # b * weight >= target > a * weight and weight > 0.
    a = lo
    b = _LAST_ITERATION
    est = target / weight
    if est < _LAST_ITERATION:
        c = max(math.ceil(est), a + 1)
        step = 1
        if not c * weight < target:
            b = c
            while b - a > 1:  # widen downwards
                c = b - step if b - a > step else a
                if c == a:
                    break
                if not c * weight < target:
                    b = c
                    step <<= 1
                else:
                    a = c
                    break
        else:
            a = c
            while b - a > 1:  # widen upwards
                c = a + step if b - a > step else b
                if c == b:
                    break
                if not c * weight < target:
                    b = c
                    break
                a = c
                step <<= 1
    while b - a > 1:
        c = (a + b) >> 1
        if not c * weight < target:
            b = c
        else:
            a = c
    return b


def _place(
    slots: list[int], cur: list[int], skip: list[int], count: list[int], h: int, i: int, m: int
) -> None:
    """Give fill position *i* (host index *h*) its next slot: the first free one of its permutation."""
    c = cur[i]
    s = skip[i]
    while slots[c] >= 0:
        c += s
        if c >= m:
            c -= m
    slots[c] = h
    c += s
    cur[i] = c - m if c >= m else c
    count[i] += 1


def _build_order(
    hosts: tuple[Host, ...], keys: tuple[bytes, ...], order: Sequence[int]
) -> list[int]:
    """Return the positions in *order* sorted as Maglev fills them.

    By hash-key bytes; hosts with equal keys by ``Host._sort_key()`` (every
    other field), then by host index.
    """
    pos = sorted(range(len(order)), key=lambda p: keys[order[p]])
    i = 0
    n = len(pos)
    while i < n:
        j = i + 1
        while j < n and keys[order[pos[j]]] == keys[order[pos[i]]]:
            j += 1
        if j - i > 1:
            pos[i:j] = sorted(pos[i:j], key=lambda p: (hosts[order[p]]._sort_key(), order[p]))
        i = j
    return pos


class Maglev:
    __slots__ = (
        "_entries",
        "_envoy",
        "_hosts",
        "_locality_weights",
        "_max_entries",
        "_min_entries",
        "_order",
        "_pin",
        "_slots",
        "_table",
        "_table_size",
        "_use_hostname",
        "_weights",
    )

    _entries: tuple[int, ...]
    _hosts: tuple[Host, ...]
    _locality_weights: dict[str, int] | None
    _envoy: EnvoyProfile
    _max_entries: int
    _min_entries: int
    _order: tuple[int, ...]
    _pin: memoryview  # an export of _table: it cannot be resized (as in the compiled twin)
    _slots: int
    _table: array[int]
    _table_size: int
    _use_hostname: bool
    _weights: tuple[float, ...]

    def __init__(
        self,
        hosts: Iterable[Host],
        *,
        table_size: int = DEFAULT_TABLE_SIZE,
        use_hostname: bool = False,
        locality_weights: Mapping[str, int] | None = None,
        envoy_version: str | EnvoyProfile = "main",
    ) -> None:
        if hasattr(self, "_table"):
            raise TypeError("Maglev is immutable; __init__ cannot run twice")
        m = _check_table_size(table_size)
        envoy = profile(envoy_version)
        prep = prepare(hosts, use_hostname=use_hostname, locality_weights=locality_weights)
        hosts_t = prep.hosts
        order = prep.order
        n = len(order)
        counts = [0] * len(hosts_t)
        table = array("H" if len(hosts_t) < 65536 else "I")
        min_e = max_e = 0
        if n == 1:
            # Envoy's DegenerateMaglevTable: one host takes every slot; the
            # gauges read 1/1 (spec §5.4).
            table = array(table.typecode, [order[0]]) * m
            counts[order[0]] = m
            min_e = max_e = 1
        elif n > 1:
            keys = prep.keys
            weights = prep.weights
            max_w = prep.max_weight
            sorted_pos = (
                _build_order(hosts_t, keys, order) if envoy.maglev_sorted_fill else list(range(n))
            )
            host = [order[p] for p in sorted_pos]
            w = [weights[p] for p in sorted_pos]
            skip = [_xxh64(keys[h], 1) % (m - 1) + 1 for h in host]
            # cur[i] == (offset + skip * next) % M, advanced by one skip per probe.
            cur = [_xxh64(keys[h], 0) % m for h in host]
            target = [0.0] * n
            count = [0] * n
            slots: list[int] = [-1] * m
            filled = 0
            if n * max_w <= _HEAP_ABOVE * sum(w):
                # Envoy's rounds as Envoy runs them: every host, every round.
                iteration = 1
                while filled < m:
                    for i in range(n):
                        if filled >= m:
                            break
                        if iteration * w[i] < target[i]:
                            continue
                        target[i] += max_w
                        _place(slots, cur, skip, count, host[i], i, m)
                        filled += 1
                    iteration = (iteration + 1) & _U32
            else:
                # The same turns, round by round, visiting only the hosts due:
                # a host's test depends only on its own target, which changes
                # only when it takes a turn, so _next_due gives its next turn.
                # due[t] lists the hosts due in round t; ``rounds`` is a heap of
                # those t.  One heavy host and many light ones: about M rounds
                # of one turn each, instead of M rounds of every host.
                due: dict[int, list[int]] = {}
                for i in range(n):
                    t = _next_due(w[i], 0.0, 1)
                    if t >= 0:
                        due.setdefault(t, []).append(i)
                rounds = sorted(due)
                while filled < m:
                    if not rounds:  # pragma: no cover - a largest-weight host is due every round
                        raise RuntimeError("Maglev fill ran out of due hosts")
                    t = heappop(rounds)
                    now = due.pop(t)
                    now.sort()  # Envoy's order within a round: fill position
                    t += 1
                    nxt = due.get(t)
                    for i in now:
                        if filled >= m:
                            break
                        tg = target[i] + max_w
                        target[i] = tg
                        _place(slots, cur, skip, count, host[i], i, m)
                        filled += 1
                        wi = w[i]
                        if not t * wi < tg:  # due again next round
                            if nxt is None:
                                nxt = due[t] = []
                                heappush(rounds, t)
                            nxt.append(i)
                            continue
                        later = _next_due(wi, tg, t)
                        if later >= 0:
                            bucket = due.get(later)
                            if bucket is None:
                                due[later] = [i]
                                heappush(rounds, later)
                            else:
                                bucket.append(i)
            table = array(table.typecode, slots)
            for i in range(n):
                counts[host[i]] = count[i]
            min_e = min(count)
            max_e = max(count)
        # Everything that can fail comes before the first assignment to self.
        lw = None if locality_weights is None else dict(locality_weights)
        setter = object.__setattr__
        setter(self, "_pin", memoryview(table))
        setter(self, "_hosts", hosts_t)
        setter(self, "_table", table)
        setter(self, "_slots", len(table))
        setter(self, "_table_size", m)
        setter(self, "_entries", tuple(counts))
        setter(self, "_min_entries", min_e)
        setter(self, "_max_entries", max_e)
        setter(self, "_order", order)
        setter(self, "_weights", prep.weights)
        setter(self, "_use_hostname", use_hostname)
        setter(self, "_locality_weights", lw)
        setter(self, "_envoy", envoy)

    def __setattr__(self, name: str, value: object) -> None:
        raise AttributeError(f"Maglev is immutable; cannot set {name!r}")

    def __delattr__(self, name: str) -> None:
        raise AttributeError(f"Maglev is immutable; cannot delete {name!r}")

    hosts: tuple[Host, ...] = checked_property("_hosts", "Maglev")

    @property
    def table(self) -> memoryview:
        self._ready()
        return memoryview(self._table).toreadonly()

    table_size: int = checked_property("_table_size", "Maglev")

    entries_per_host: tuple[int, ...] = checked_property("_entries", "Maglev")

    min_entries_per_host: int = checked_property("_min_entries", "Maglev")

    max_entries_per_host: int = checked_property("_max_entries", "Maglev")

    @property
    def nbytes(self) -> int:
        self._ready()
        return self._slots * self._table.itemsize

    normalized_order: tuple[int, ...] = checked_property("_order", "Maglev")

    normalized_weights: tuple[float, ...] = checked_property("_weights", "Maglev")

    # self is positional-only, as in the compiled twin's fast method descriptors.
    def lookup(self, /, hash: int, attempt: int = 0) -> Host | None:
        if type(hash) is not int or not 0 <= hash <= _M64:
            hash = check_hash(hash)
        if attempt:
            hash ^= (1 << 64) - _check_attempt(attempt)
        elif type(attempt) is not int:
            _check_attempt(attempt)
        return self._at(hash)

    def _at(self, h: int) -> Host | None:
        """The host of table slot ``h % M``."""
        try:
            if not self._slots:
                return None
            return self._hosts[self._table[h % self._table_size]]
        except AttributeError:
            raise uninitialised(self, "Maglev") from None

    def choose_host(
        self, /, hash: int, *, reject: Reject = None, max_attempts: int = 1
    ) -> Host | None:
        return _choose(self.lookup, hash, reject, max_attempts)

    def pick(self, /, key: str | bytes) -> Host | None:
        return self._at(_xxh64(_key_bytes(key, "key")))

    def lookup_many(self, hashes: Any, *, out: Any = None) -> HostIndices:
        return py_lookup_many(self, hashes, out)

    def _searching(self) -> bool:
        """Whether the table has slots to look up (``py_lookup_many``'s question)."""
        return bool(self._slots)

    def _fill(self, view: memoryview, res: Any) -> None:
        """Write the host index of each hash of *view* into *res* (``py_lookup_many``)."""
        t = self._table
        m = self._table_size
        for i, h in enumerate(view):
            res[i] = t[h % m]

    def pick_many(self, keys: Sequence[str | bytes] | Any, *, out: Any = None) -> HostIndices:
        return py_pick_many(self, keys, out)

    def _np_lookup(self) -> Any:
        """``lookup_many`` of a numpy uint64 array, vectorised; None for an empty table."""
        if not self._slots:
            return None
        np = need_numpy()
        table = np.frombuffer(self._table, dtype=f"u{self._table.itemsize}")
        m = np.uint64(self._table_size)
        return lambda h: table[h % m]

    def _ready(self) -> None:
        try:
            self._hosts  # noqa: B018 - unset until __init__ ran
        except AttributeError:
            raise uninitialised(self, "Maglev") from None

    def __len__(self) -> int:
        self._ready()
        return self._slots

    def __repr__(self) -> str:
        if not hasattr(self, "_hosts"):
            return "<Maglev object (not initialised)>"
        return f"Maglev({len(self._hosts)} hosts, table_size={self._table_size})"

    def __reduce__(self) -> tuple[Any, ...]:
        self._ready()
        values = (self._table_size, self._use_hostname, self._locality_weights, self._envoy)
        options = dict(zip(MAGLEV_OPTIONS, values, strict=True))
        return (rebuild_hosts, (Maglev, pack_hosts(self._hosts), options))


# Pickles of earlier builds call _restore with the options by position.
_restore = positional_restore(Maglev, MAGLEV_OPTIONS)

_attach_docs(globals(), _DOCS)  # the docstrings shared with the compiled twin
