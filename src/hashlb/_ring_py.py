"""Ring hash (Envoy's ketama ring), pure Python: the typed twin of ``_ring_c.pyx``.

Envoy ``RingHashLoadBalancer::Ring::Ring``
(``source/extensions/load_balancing_policies/ring_hash/ring_hash_lb.cc``),
spec ``envoy-lb.md`` §4:

1. ``scale = min(ceil(min_w * min_ring_size) / min_w, double(max_ring_size))``
   where ``min_w`` is the smallest normalized weight (spec §3).
2. Two IEEE-double running sums, ``current`` and ``target``, both 0.0.  For
   each host in Envoy's iteration order, ``target += scale * w``; then
   ``while current < target`` the host gets its next entry and ``current``
   grows by 1.  Worked example (the 75-host quirk): 75 equal hosts, default
   sizes, ``scale = 1050.0`` but ``1050.0 * (1 / 75) == 14.000000000000002``,
   so host 0 already gets 15 entries and the ring 1051 (the gauge says 1050).
   Do not change the order of these operations: the counts depend on the
   last bit of the sums.
3. Entry ``i`` of a host hashes ``<hash key>_<i>`` (decimal ``i``) with
   xxHash64 (seed 0) or libstdc++ MurmurHash2 (seed ``0xc70f6907``).
4. Entries sorted ascending by hash.  Envoy's ``std::sort`` is not stable, so
   its order of *equal* hashes is unspecified; hashlb orders ties by host
   index, then replica number (a stable sort of entries generated host by
   host in host-index order).
5. Lookup: the first entry whose hash is ``>= h``, wrapping to entry 0
   (``bisect_left``); retry attempt ``k`` takes entry ``(p + k) % len``.

Keep names and signatures identical to the compiled twin; the docstrings both
share live in ``_ring_doc.py`` (``tests/test_parity.py`` checks all three).
"""

from __future__ import annotations

import math
from array import array
from bisect import bisect_left
from collections.abc import Iterable, Mapping, Sequence
from typing import TYPE_CHECKING, Any

import xxhash

from ._columns import need_numpy, py_lookup_many, py_pick_many
from ._docstrings import attach as _attach_docs
from ._grpc_config import ring_config as _grpc_ring_config
from ._hashing_py import murmur2_64
from ._pickling import pack_hosts, rebuild_hosts
from ._retry import Reject
from ._retry import choose as _choose
from ._ring_doc import DOCS as _DOCS
from ._slots import checked_property
from ._types import Host, positional_restore
from ._validate import HASH_FUNCTIONS as HASH_FUNCTIONS
from ._validate import MAX_RING_SIZE as MAX_RING_SIZE
from ._validate import RING_OPTIONS, renamed, uninitialised
from ._validate import as_bytes as _bytes
from ._validate import check_attempt as _check_attempt
from ._validate import check_ring_config as _check_config
from ._weights import check_hash, prepare

if TYPE_CHECKING:
    from ._types import HostIndices

__all__ = ("RingHash",)

_MAX_ATTEMPT = 2**32 - 1

_xxh64_intdigest = xxhash.xxh64_intdigest


def _ring_scale(min_weight: float, min_ring_size: int, max_ring_size: int) -> float:
    """Return Envoy's ring scale: ``min(ceil(min_w * Rmin) / min_w, double(Rmax))``."""
    return min(float(math.ceil(min_weight * min_ring_size)) / min_weight, float(max_ring_size))


def _entry_counts(
    n_hosts: int, order: Sequence[int], weights: Sequence[float], scale: float
) -> list[int]:
    """Return the entry count of every host (spec §4.2), aligned with host index.

    ``current`` only takes whole values, so "add 1 while current < target"
    ends at ``ceil(target)`` when ``target > current``: that closed form is
    exact; the sum ``target`` itself is accumulated exactly as Envoy does.
    """
    counts = [0] * n_hosts
    current = 0.0
    target = 0.0
    for index, weight in zip(order, weights, strict=True):
        target += scale * weight
        if current < target:
            top = float(math.ceil(target))
            counts[index] = int(top - current)
            current = top
    return counts


class RingHash:
    __slots__ = (
        "_counts",
        "_entry_hosts",
        "_hashes",
        "_hosts",
        "_locality_weights",
        "_max_entries",
        "_min_entries",
        "_order",
        "_ring_size",
        "_settings",
        "_weights",
    )

    _hosts: tuple[Host, ...]
    _hashes: array[int]  # sorted ascending; ties by host index, then replica
    _entry_hosts: array[int]  # host index of each entry
    _counts: tuple[int, ...]
    _order: tuple[int, ...]
    _weights: tuple[float, ...]
    _min_entries: int
    _max_entries: int
    _ring_size: int
    _settings: tuple[int, int, str, bool]
    _locality_weights: dict[str, int] | None

    def __init__(
        self,
        hosts: Iterable[Host],
        *,
        min_ring_size: int = 1024,
        max_ring_size: int = 8388608,
        hash_function: str = "xx_hash",
        use_hostname: bool = False,
        locality_weights: Mapping[str, int] | None = None,
    ) -> None:
        if hasattr(self, "_hosts"):
            raise TypeError("RingHash is immutable; __init__ cannot run twice")
        prep = prepare(hosts, use_hostname=use_hostname, locality_weights=locality_weights)
        rmin, rmax, fn = _check_config(min_ring_size, max_ring_size, hash_function)
        n_hosts = len(prep.hosts)
        hashes: list[int] = []
        if prep.order:
            scale = _ring_scale(prep.min_weight, rmin, rmax)
            counts = _entry_counts(n_hosts, prep.order, prep.weights, scale)
            gauge = math.ceil(scale)
            iterated = [counts[i] for i in prep.order]
            lo, hi = min(iterated), max(iterated)
            owners: list[int] = []
            digest = _xxh64_intdigest if fn == "xx_hash" else murmur2_64
            for index, count in enumerate(counts):  # host-index order: the tie rule
                if count:
                    prefix = prep.keys[index] + b"_"
                    hashes.extend([digest(prefix + b"%d" % i) for i in range(count)])
                    owners.extend([index] * count)
            perm = sorted(range(len(hashes)), key=hashes.__getitem__)  # stable
            hashes = [hashes[j] for j in perm]
            owners = [owners[j] for j in perm]
        else:
            counts, gauge, lo, hi, owners = [0] * n_hosts, 0, 0, 0, []
        # Everything that can fail comes before the first assignment to self.
        lw = None if locality_weights is None else dict(locality_weights)
        setter = object.__setattr__
        setter(self, "_hosts", prep.hosts)
        setter(self, "_hashes", array("Q", hashes))
        setter(self, "_entry_hosts", array("H" if n_hosts < 65536 else "I", owners))
        setter(self, "_counts", tuple(counts))
        setter(self, "_order", prep.order)
        setter(self, "_weights", prep.weights)
        setter(self, "_min_entries", lo)
        setter(self, "_max_entries", hi)
        setter(self, "_ring_size", gauge)
        setter(self, "_settings", (rmin, rmax, fn, use_hostname))
        setter(self, "_locality_weights", lw)

    # -- lookups -----------------------------------------------------------

    @classmethod
    def grpc(
        cls,
        endpoints: Iterable[str | Host],
        *,
        min_ring_size: int = 1024,
        max_ring_size: int = 4096,
        ring_size_cap: int = 4096,
    ) -> RingHash:
        return cls(
            **_grpc_ring_config(
                endpoints,
                min_ring_size=min_ring_size,
                max_ring_size=max_ring_size,
                ring_size_cap=ring_size_cap,
            )
        )

    def _at(self, h: int, k: int) -> Host | None:
        """The host of the first entry at or after *h* (wrapping), *k* entries on."""
        try:
            n = len(self._hashes)
            if not n:
                return None
            p = bisect_left(self._hashes, h)
            return self._hosts[self._entry_hosts[(p + k) % n if k or p == n else p]]
        except AttributeError:
            raise uninitialised(self, "RingHash") from None

    def lookup(self, /, hash: int, attempt: int = 0) -> Host | None:
        h = check_hash(hash)  # first, as the compiled twin: a bad hash is the error
        return self._at(h, 0 if attempt == 0 and type(attempt) is int else _check_attempt(attempt))

    def choose_host(
        self, /, hash: int, *, reject: Reject = None, max_attempts: int = 1
    ) -> Host | None:
        return _choose(self.lookup, hash, reject, max_attempts)

    def pick(self, /, key: str | bytes) -> Host | None:
        return self._at(_xxh64_intdigest(_bytes(key, "key")), 0)

    def lookup_many(self, hashes: Any, *, out: Any = None) -> HostIndices:
        return py_lookup_many(self, hashes, out)

    def _searching(self) -> bool:
        """Whether the ring has entries to look up (``py_lookup_many``'s question)."""
        return bool(self._hashes)

    def _fill(self, view: memoryview, res: Any) -> None:
        """Write the host index of each hash of *view* into *res* (``py_lookup_many``)."""
        ring = self._hashes
        n = len(ring)
        owners = self._entry_hosts
        for j, h in enumerate(view):
            p = bisect_left(ring, h)
            res[j] = owners[p if p < n else 0]

    def pick_many(self, keys: Sequence[str | bytes] | Any, *, out: Any = None) -> HostIndices:
        return py_pick_many(self, keys, out)

    def _np_lookup(self) -> Any:
        """``lookup_many`` of a numpy uint64 array, vectorised; None for an empty ring."""
        n = len(self._hashes)
        if not n:
            return None
        np = need_numpy()
        ring = np.array(self._hashes, dtype=np.uint64)
        owners = np.array(self._entry_hosts, dtype=np.uint32)

        def lookup(h: Any) -> Any:
            p = np.searchsorted(ring, h, side="left")
            p[p == n] = 0
            return owners[p]

        return lookup

    # -- the table ---------------------------------------------------------

    hosts: tuple[Host, ...] = checked_property("_hosts", "RingHash")

    @property
    def ring(self) -> tuple[tuple[int, int], ...]:
        self._ready()
        return tuple(zip(self._hashes, self._entry_hosts, strict=True))

    entries_per_host: tuple[int, ...] = checked_property("_counts", "RingHash")

    @property
    def min_entries_per_host(self) -> int:
        self._ready()
        return self._min_entries

    max_entries_per_host: int = checked_property("_max_entries", "RingHash")

    @property
    def ring_size(self) -> int:
        self._ready()
        return self._ring_size

    @property
    def ring_size_gauge(self) -> int:
        renamed("RingHash.ring_size_gauge", "RingHash.ring_size", 2)
        return self.ring_size

    normalized_order: tuple[int, ...] = checked_property("_order", "RingHash")

    normalized_weights: tuple[float, ...] = checked_property("_weights", "RingHash")

    @property
    def nbytes(self) -> int:
        self._ready()
        return len(self._hashes) * 8 + len(self._entry_hosts) * self._entry_hosts.itemsize

    @property
    def min_ring_size(self) -> int:
        self._ready()
        return self._settings[0]

    @property
    def max_ring_size(self) -> int:
        self._ready()
        return self._settings[1]

    @property
    def hash_function(self) -> str:
        self._ready()
        return self._settings[2]

    def __len__(self) -> int:
        """Return the number of ring entries."""
        self._ready()
        return len(self._hashes)

    def __repr__(self) -> str:
        if not hasattr(self, "_hosts"):
            return "<RingHash object (not initialised)>"
        return (
            f"RingHash({len(self._hosts)} hosts, {len(self._hashes)} entries, "
            f"hash_function={self._settings[2]!r})"
        )

    def __reduce__(self) -> tuple[Any, ...]:
        self._ready()
        options = dict(zip(RING_OPTIONS, (*self._settings, self._locality_weights), strict=True))
        return (rebuild_hosts, (RingHash, pack_hosts(self._hosts), options))

    def _ready(self) -> None:
        if not hasattr(self, "_hosts"):  # unset until __init__ ran
            raise uninitialised(self, "RingHash")

    def __setattr__(self, name: str, value: object) -> None:
        raise AttributeError(f"RingHash is immutable; cannot set {name!r}")

    def __delattr__(self, name: str) -> None:
        raise AttributeError(f"RingHash is immutable; cannot delete {name!r}")


# Pickles of earlier builds call _restore with the options by position.
_restore = positional_restore(RingHash, RING_OPTIONS)

_attach_docs(globals(), _DOCS)  # the docstrings shared with the compiled twin
