# cython: language_level=3
"""The batch drivers shared by the compiled tables (``_ring_c``, ``_maglev_c``).

``lookup_many`` and ``pick_many`` are one contract on every table
(``hashlb._batch``): ``_batch.lookup_args``/``_batch.pick_args`` check the
input and make the output array in plain Python; the drivers here do the C
part: :func:`lookup_into` hands a uint64 buffer to the table's
``batch_fn`` without the GIL, :func:`pick_into` hashes the keys with xxh64
in chunks of ``BATCH_CHUNK`` (with the GIL: they are Python objects) and
hands each chunk to the same ``batch_fn`` without it.  :func:`as_hash` and
:func:`hash_key` read the argument of ``lookup`` and ``pick``.  Every
function is ``cdef inline``, compiled into each table's module (no call
crosses a module boundary).
"""
from cpython.buffer cimport PyBUF_SIMPLE, PyBUF_WRITABLE, PyBuffer_Release, PyObject_GetBuffer
from cpython.bytes cimport PyBytes_CheckExact
from cpython.long cimport PyLong_CheckExact
from cpython.object cimport PyObject
from cpython.sequence cimport PySequence_Fast_GET_SIZE, PySequence_Fast_ITEMS
from cpython.unicode cimport PyUnicode_Check, PyUnicode_CheckExact, PyUnicode_DATA, PyUnicode_GET_LENGTH
from libc.stdint cimport uint32_t, uint64_t

from hashlb._cpython cimport PyUnicode_IS_COMPACT_ASCII
from hashlb._kernels cimport (
    KEY_PREFETCH,
    hlb_long_as_u64,
    hlb_xxh64,
    key_view,
    prefetch_key,
    snapshot_first,
)

# A table's batch lookup: the host index of each of *n* hashes (attempt 0).
ctypedef void (*batch_fn)(const void *table, const uint64_t *hashes, uint32_t *out,
                          size_t n) noexcept nogil

cdef enum:
    BATCH_CHUNK = 2048  # pick_many hashes this many keys per chunk (16 KiB of stack)


cdef inline uint64_t as_hash(object value, object check_hash) except? 0xFFFFFFFFFFFFFFFF:
    """A request hash as uint64: exact ints in range in C, the rest by *check_hash*."""
    cdef uint64_t v
    if PyLong_CheckExact(value) and hlb_long_as_u64(value, &v):
        return v
    return <uint64_t>check_hash(value)


cdef inline uint64_t hash_key(object key) except? 0:
    """xxh64 of a request key of ``pick``: ``str`` (its UTF-8) or bytes-like."""
    cdef Py_buffer view
    cdef const char *ptr
    cdef Py_ssize_t n
    cdef uint64_t h
    if PyUnicode_CheckExact(key) and PyUnicode_IS_COMPACT_ASCII(key):
        return hlb_xxh64(PyUnicode_DATA(key), <size_t>PyUnicode_GET_LENGTH(key), 0)
    cdef bint got = key_view(key, &view, &ptr, &n, "key")
    h = hlb_xxh64(ptr, <size_t>n, 0)
    if got:
        PyBuffer_Release(&view)
    return h


cdef inline int lookup_into(object view, object out, const void *table,
                            batch_fn fn) except -1:
    """Write ``fn`` of the uint64 buffer *view* into the uint32 buffer *out*, GIL released."""
    cdef Py_buffer src
    cdef Py_buffer dst
    PyObject_GetBuffer(view, &src, PyBUF_SIMPLE)
    try:
        PyObject_GetBuffer(out, &dst, PyBUF_WRITABLE)
        try:
            with nogil:
                fn(table, <const uint64_t *>src.buf, <uint32_t *>dst.buf,
                   <size_t>(src.len // <Py_ssize_t>sizeof(uint64_t)))
        finally:
            PyBuffer_Release(&dst)
    finally:
        PyBuffer_Release(&src)
    return 0


cdef inline uint64_t _hash_item(object item, Py_ssize_t i) except? 0:
    """xxh64 of a key that is not a compact ASCII str (*i* names it in errors)."""
    cdef Py_buffer view
    cdef const char *ptr
    cdef Py_ssize_t size
    cdef uint64_t h
    if PyUnicode_Check(item) or PyBytes_CheckExact(item):
        return hash_key(item)
    cdef bint got = key_view(item, &view, &ptr, &size, f"keys[{i}]")  # always a buffer here
    h = hlb_xxh64(ptr, <size_t>size, 0)
    if got:
        PyBuffer_Release(&view)
    return h


cdef inline int pick_into(object seq, object out, const void *table, batch_fn fn,
                          bint searching) except -1:
    """Hash every key of the list or tuple *seq*; when *searching*, write ``fn`` of them into *out*.

    Without *searching* (an empty table) the keys are still hashed, so a bad
    key raises the same error on every table.
    """
    cdef Py_ssize_t n = PySequence_Fast_GET_SIZE(seq)
    cdef Py_ssize_t start = 0, j, count
    cdef uint64_t hs[BATCH_CHUNK]
    cdef PyObject **items
    cdef PyObject *item
    cdef Py_buffer dst
    cdef uint32_t *outp = NULL
    cdef bint copied = False
    searching = searching and n != 0
    if searching:
        PyObject_GetBuffer(out, &dst, PyBUF_WRITABLE)
        outp = <uint32_t *>dst.buf
    try:
        while start < n:
            # Re-read the list each chunk: another thread may resize it while
            # the GIL is released.
            if PySequence_Fast_GET_SIZE(seq) != n:
                raise RuntimeError("keys changed size during pick_many")
            count = n - start if n - start < BATCH_CHUNK else BATCH_CHUNK
            items = PySequence_Fast_ITEMS(seq) + start
            for j in range(count):
                if start + j + KEY_PREFETCH < n:
                    # The key objects are scattered in memory; fetch ahead
                    # (into the next chunk too).
                    prefetch_key(items[j + KEY_PREFETCH])
                item = items[j]
                if PyUnicode_CheckExact(<object>item) and PyUnicode_IS_COMPACT_ASCII(<object>item):
                    hs[j] = hlb_xxh64(PyUnicode_DATA(<object>item),
                                      <size_t>PyUnicode_GET_LENGTH(<object>item), 0)
                    continue
                if not copied and snapshot_first(seq, <object>item):
                    seq = tuple(seq)
                    copied = True
                    items = PySequence_Fast_ITEMS(seq) + start
                    item = items[j]
                hs[j] = _hash_item(<object>item, start + j)
            if searching:
                with nogil:
                    fn(table, hs, outp + start, <size_t>count)
            start += count
    finally:
        if searching:
            PyBuffer_Release(&dst)
    return 0
