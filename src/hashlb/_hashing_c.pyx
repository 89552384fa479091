# cython: language_level=3, freethreading_compatible=True
# Text signatures: see docs/explanation/performance-model.rst ("Text signatures").
"""Hash kernels, compiled: thin Python wrappers around ``_hashkernels.h``.

Keep names, signatures and docstrings identical to ``_hashing_py.py``
(``tests/test_parity.py`` checks them).
"""
from cpython.buffer cimport PyBuffer_Release
from cpython.long cimport PyLong_AsLongLongAndOverflow, PyLong_CheckExact
from libc.stdint cimport uint32_t, uint64_t

from hashlb._kernels cimport (
    hlb_murmur2_64,
    hlb_murmur3_64,
    hlb_xxh64,
    key_view,
)

import operator

from hashlb._validate import short

cimport cython

cdef object _index = operator.index
cdef object _ZERO = 0
cdef object _short = short

__all__ = ("murmur2_64", "murmur3_64", "xxh64", "xxh64_list")


cdef uint64_t _seed(object seed, int bits) except? 0xFFFFFFFFFFFFFFFF:
    """Validate a seed as an unsigned ``bits``-bit integer."""
    cdef long long v
    cdef int overflow = 0
    if PyLong_CheckExact(seed):
        v = PyLong_AsLongLongAndOverflow(seed, &overflow)
        if overflow == 0 and v >= 0 and (bits == 64 or (<uint64_t>v >> bits) == 0):
            return <uint64_t>v
    elif isinstance(seed, bool) or not hasattr(seed, "__index__"):
        raise TypeError(f"seed must be an int, not {type(seed).__name__}")
    seed = _index(seed)
    if seed < 0 or seed >> bits:
        raise ValueError(f"seed must be in [0, 2**{bits}), got {_short(seed)}")
    return <uint64_t>seed


cdef enum:
    _XXH64
    _MURMUR2
    _MURMUR3


cdef inline uint64_t _hash(int kind, object data, uint64_t seed, str what) except? 0:
    """Hash *data* (str as UTF-8, or bytes-like; *what* names it in errors) with kernel *kind*."""
    cdef Py_buffer view
    cdef const char *ptr
    cdef Py_ssize_t n
    cdef uint64_t h
    cdef bint got = key_view(data, &view, &ptr, &n, what)
    if kind == _XXH64:
        h = hlb_xxh64(ptr, <size_t>n, seed)
    elif kind == _MURMUR2:
        h = hlb_murmur2_64(ptr, <size_t>n, seed)
    else:
        h = hlb_murmur3_64(ptr, <size_t>n, <uint32_t>seed)
    if got:
        PyBuffer_Release(&view)
    return h


@cython.binding(False)
def xxh64(data, seed=0):
    """xxh64(data, seed=0)
--

Return the xxHash64 of *data* as an unsigned 64-bit int.

    :param data: ``str`` (hashed as UTF-8), ``bytes``, ``bytearray``,
        ``memoryview`` or any C-contiguous bytes-like object.
    :param int seed: the seed, in ``[0, 2**64)`` (default 0, as in Envoy).
    :raises TypeError: *data* is not str or bytes-like, or *seed* not an int.
    :raises ValueError: *seed* is out of range.

    Equal to ``xxhash.xxh64_intdigest(data, seed)`` for every input.

    >>> xxh64("foo")
    3728699739546630719
    """
    return _hash(_XXH64, data, 0 if seed is _ZERO else _seed(seed, 64), "data")


@cython.binding(False)
def xxh64_list(values, seed=0):
    """xxh64_list(values, seed=0)
--

Return Envoy's xxHash64 of a list of strings (a seed chain).

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
    cdef uint64_t h = 0 if seed is _ZERO else _seed(seed, 64)
    if isinstance(values, (str, bytes, bytearray, memoryview)):
        raise TypeError(
            f"values must be an iterable of strings, not {type(values).__name__}"
        )
    try:
        it = iter(values)
    except TypeError:
        raise TypeError(
            f"values must be an iterable of strings, not {type(values).__name__}"
        ) from None
    for value in it:
        h = _hash(_XXH64, value, h, "values[i]")
    return h


@cython.binding(False)
def murmur2_64(data, seed=0xC70F6907):
    """murmur2_64(data, seed=3339675911)
--

Return the 64-bit MurmurHash2 that Envoy's ``MURMUR_HASH_2`` uses.

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
    return _hash(_MURMUR2, data, _seed(seed, 64), "data")


@cython.binding(False)
def murmur3_64(data, seed=0):
    """murmur3_64(data, seed=0)
--

Return the first 64 bits of MurmurHash3 x64_128 as an unsigned int.

    Equal to ``mmh3.hash64(data, seed, signed=False)[0]``; for
    interoperating with systems keyed on murmur3.

    :param data: ``str`` (hashed as UTF-8) or a bytes-like object.
    :param int seed: the seed, in ``[0, 2**32)`` (MurmurHash3 seeds are 32-bit).
    :raises TypeError: *data* is not str or bytes-like, or *seed* not an int.
    :raises ValueError: *seed* is out of range.

    >>> murmur3_64("foo")
    16316970633193145697
    """
    return _hash(_MURMUR3, data, 0 if seed is _ZERO else _seed(seed, 32), "data")
