# cython: language_level=3, freethreading_compatible=True
"""Hash kernels, compiled: thin Python wrappers around ``_hashkernels.h``.

Keep names and signatures identical to ``_hashing_py.py``; the docstrings
both share live in ``_hashing_doc.py`` (``tests/test_parity.py`` checks all
three).
"""
from cpython.buffer cimport PyBuffer_Release
from cpython.long cimport PyLong_AsLongLongAndOverflow, PyLong_CheckExact
from cpython.sequence cimport PySequence_Fast_GET_SIZE, PySequence_Fast_ITEMS
from cpython.object cimport PyObject
from cpython.unicode cimport PyUnicode_CheckExact, PyUnicode_DATA, PyUnicode_GET_LENGTH
from libc.stdint cimport uint8_t, uint32_t, uint64_t

from hashlb._kernels cimport (
    hlb_murmur2_64,
    hlb_murmur3_64,
    KEY_PREFETCH,
    hlb_xxh64,
    key_view,
    prefetch_key,
    snapshot_first,
)

from hashlb._colread cimport hash_chunks, writable
from hashlb._cpython cimport PyUnicode_IS_COMPACT_ASCII

import operator

from hashlb._batch import key_sequence as _key_sequence
from hashlb._columns import key_columns as _key_columns
from hashlb._columns import masked as _masked
from hashlb._columns import null_mask as _null_mask
from hashlb._columns import output as _output
from hashlb._columns import rows as _rows
from hashlb._validate import iter_strings as _iter_strings
from hashlb._validate import short

cimport cython

from hashlb._cpython cimport attach_docs, hlb_set_type_name
from hashlb._hashing_doc import DOCS as _DOCS
from hashlb._docstrings import public_names as _public_names

cdef object _index = operator.index
cdef object _ZERO = 0
cdef object _short = short

__all__ = _public_names(_DOCS)


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
    return _hash(_XXH64, data, 0 if seed is _ZERO else _seed(seed, 64), "data")


@cython.binding(False)
def xxh64_list(values, seed=0):
    cdef uint64_t h = 0 if seed is _ZERO else _seed(seed, 64)
    for value in _iter_strings(values, "values"):
        h = _hash(_XXH64, value, h, "values[i]")
    return h


@cython.binding(False)
def xxh64_many(values, seed=0, *, out=None):
    cdef uint64_t s = 0 if seed is _ZERO else _seed(seed, 64)
    cdef Py_buffer dst, nul
    cdef uint64_t *p
    cdef PyObject *item
    cdef PyObject **items
    cdef Py_ssize_t i, n
    cdef bint copied = False
    chunks = _key_columns(values)
    if chunks is None:
        seq = _key_sequence(values)
        n = PySequence_Fast_GET_SIZE(seq)
        res = _output(n, out, "uint64")
        p = <uint64_t *>writable(res, &dst)
        try:
            items = PySequence_Fast_ITEMS(seq)
            for i in range(n):
                if i + KEY_PREFETCH < n:
                    prefetch_key(items[i + KEY_PREFETCH])  # the objects are scattered in memory
                item = items[i]
                if PyUnicode_CheckExact(<object>item) and PyUnicode_IS_COMPACT_ASCII(<object>item):
                    p[i] = hlb_xxh64(PyUnicode_DATA(<object>item),
                                     <size_t>PyUnicode_GET_LENGTH(<object>item), s)
                    continue
                if not copied and snapshot_first(seq, <object>item):
                    seq = tuple(seq)
                    copied = True
                    items = PySequence_Fast_ITEMS(seq)
                    item = items[i]
                p[i] = _hash(_XXH64, <object>item, s, f"values[{i}]")
        finally:
            PyBuffer_Release(&dst)
        return res
    res = _output(_rows(chunks), out, "uint64")
    mask = _null_mask(chunks)
    p = <uint64_t *>writable(res, &dst)
    try:
        if mask is None:
            hash_chunks(chunks, s, p, NULL)
        else:
            try:
                hash_chunks(chunks, s, p, <uint8_t *>writable(mask, &nul))
            finally:
                PyBuffer_Release(&nul)
    finally:
        PyBuffer_Release(&dst)
    return res if mask is None else _masked(res, mask)


@cython.binding(False)
def murmur2_64(data, seed=0xC70F6907):
    return _hash(_MURMUR2, data, _seed(seed, 64), "data")


@cython.binding(False)
def murmur3_64(data, seed=0):
    return _hash(_MURMUR3, data, 0 if seed is _ZERO else _seed(seed, 32), "data")



# The shared docstrings (``_hashing_doc.py``).
def _set_type_name(cls, name):
    """Name the compiled class *cls* ``name`` (``"hashlb.Maglev"``): see ``hashlb._public``.

    Returns whether it was renamed (False for a heap type, which takes
    ``__module__`` by assignment).
    """
    if not isinstance(name, str) or "." not in name:
        raise TypeError(f"name must be a dotted str, not {name!r:.60}")
    return bool(hlb_set_type_name(cls, name.encode("ascii")))


attach_docs(globals(), _DOCS)
