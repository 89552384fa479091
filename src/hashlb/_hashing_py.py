"""Hash kernels, pure Python: the typed twin of ``_hashing_c.pyx``.

``xxh64`` and ``murmur3_64`` delegate to the ``xxhash`` and ``mmh3`` packages
(bit-identical by construction); ``murmur2_64`` (libstdc++ ``_Hash_bytes``,
which no package provides) is written out here.  Keep names, signatures and
docstrings identical to the compiled twin.
"""

from __future__ import annotations

import operator
from collections.abc import Iterable

import mmh3
import xxhash

from ._validate import as_bytes as _bytes
from ._validate import short

__all__ = ("murmur2_64", "murmur3_64", "xxh64", "xxh64_list")

#: What the hash functions accept: text (hashed as UTF-8) or a bytes-like object.
Data = str | bytes | bytearray | memoryview

_M64 = 0xFFFFFFFFFFFFFFFF
_MURMUR2_MUL = 0xC6A4A7935BD1E995
_xxh64_intdigest = xxhash.xxh64_intdigest
_hash64 = mmh3.hash64


def _seed(seed: object, bits: int) -> int:
    """Validate a seed as an unsigned ``bits``-bit integer."""
    if type(seed) is not int:
        if isinstance(seed, bool) or not hasattr(seed, "__index__"):
            raise TypeError(f"seed must be an int, not {type(seed).__name__}")
        seed = operator.index(seed)
    assert isinstance(seed, int)
    if seed < 0 or seed >> bits:
        raise ValueError(f"seed must be in [0, 2**{bits}), got {short(seed)}")
    return seed


def xxh64(data: Data, seed: int = 0) -> int:
    """Return the xxHash64 of *data* as an unsigned 64-bit int.

    :param data: ``str`` (hashed as UTF-8), ``bytes``, ``bytearray``,
        ``memoryview`` or any C-contiguous bytes-like object.
    :param int seed: the seed, in ``[0, 2**64)`` (default 0, as in Envoy).
    :raises TypeError: *data* is not str or bytes-like, or *seed* not an int.
    :raises ValueError: *seed* is out of range.

    Equal to ``xxhash.xxh64_intdigest(data, seed)`` for every input.

    >>> xxh64("foo")
    3728699739546630719
    """
    return _xxh64_intdigest(
        _bytes(data, "data"), 0 if seed == 0 and type(seed) is int else _seed(seed, 64)
    )


def xxh64_list(values: Iterable[Data], seed: int = 0) -> int:
    """Return Envoy's xxHash64 of a list of strings (a seed chain).

    ``h = seed``; then for each value ``h = xxh64(value, seed=h)``; return
    ``h`` (spec §1.2).  It is *not* the hash of the concatenation.  An empty
    list returns *seed* unchanged; one value equals ``xxh64(value, seed)``.

    :param values: an iterable of ``str`` or bytes-like values.
    :param int seed: the initial seed, in ``[0, 2**64)``.
    :raises TypeError: *values* is not iterable, or holds a non-string.
    :raises ValueError: *seed* is out of range.

    >>> xxh64_list(["foo", "bar"])
    17745830980996999794
    """
    h = _seed(seed, 64)
    if isinstance(values, (str, bytes, bytearray, memoryview)):
        raise TypeError(f"values must be an iterable of strings, not {type(values).__name__}")
    try:
        it = iter(values)
    except TypeError:
        raise TypeError(
            f"values must be an iterable of strings, not {type(values).__name__}"
        ) from None
    for value in it:
        h = _xxh64_intdigest(_bytes(value, "values[i]"), h)
    return h


def murmur2_64(data: Data, seed: int = 0xC70F6907) -> int:
    """Return the 64-bit MurmurHash2 that Envoy's ``MURMUR_HASH_2`` uses.

    This is libstdc++'s ``_Hash_bytes`` for 64-bit ``size_t`` (what
    ``std::hash<std::string>`` computes on 64-bit GNU systems), with Envoy's
    seed ``0xc70f6907`` by default (spec §1.3).  It is **not** Appleby's
    MurmurHash64A.

    :param data: ``str`` (hashed as UTF-8) or a bytes-like object.
    :param int seed: the seed, in ``[0, 2**64)``.
    :raises TypeError: *data* is not str or bytes-like, or *seed* not an int.
    :raises ValueError: *seed* is out of range.

    >>> murmur2_64("foo")
    9631199822919835226
    """
    buf = bytes(_bytes(data, "data"))
    s = _seed(seed, 64)
    m = _MURMUR2_MUL
    n = len(buf)
    aligned = n & ~7
    h = s ^ ((n * m) & _M64)
    from_bytes = int.from_bytes
    for i in range(0, aligned, 8):
        d = (from_bytes(buf[i : i + 8], "little") * m) & _M64
        d = ((d ^ (d >> 47)) * m) & _M64
        h = ((h ^ d) * m) & _M64
    if n & 7:
        h = ((h ^ from_bytes(buf[aligned:], "little")) * m) & _M64
    h = ((h ^ (h >> 47)) * m) & _M64
    return h ^ (h >> 47)


def murmur3_64(data: Data, seed: int = 0) -> int:
    """Return the first 64 bits of MurmurHash3 x64_128 as an unsigned int.

    Equal to ``mmh3.hash64(data, seed, signed=False)[0]``; for
    interoperating with systems keyed on murmur3.

    :param data: ``str`` (hashed as UTF-8) or a bytes-like object.
    :param int seed: the seed, in ``[0, 2**32)`` (MurmurHash3 seeds are 32-bit).
    :raises TypeError: *data* is not str or bytes-like, or *seed* not an int.
    :raises ValueError: *seed* is out of range.

    >>> murmur3_64("foo")
    16316970633193145697
    """
    buf = _bytes(data, "data")
    if type(buf) is not bytes:
        buf = bytes(buf)  # mmh3 accepts read-only buffers only
    return _hash64(buf, _seed(seed, 32), signed=False)[0]
