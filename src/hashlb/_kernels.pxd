# cython: language_level=3
"""Shared inline C hash kernels and buffer helpers for every ``_*_c.pyx``.

The kernels themselves are plain C in ``_hashkernels.h`` (``static inline``);
this ``.pxd`` declares them so any extension can ``cimport`` them and hash
without a Python-level call.  ``key_view`` turns a ``str``/bytes-like
object into a (pointer, length) pair: ``str`` is read as its cached UTF-8
in place (no bytes object is made), ``bytes`` directly, anything else
through the buffer protocol (C-contiguous only, and never a buffer of
Python objects: format ``O``, whose bytes are object addresses).

All C of the package lives in headers, never in a ``.pyx`` string:
``_hashkernels.h`` (declared here), ``_ring.h`` (``_ring.pxd``) and
``_maglev.h`` (the Maglev fill's helpers, declared in ``_maglev_c.pyx``).
The tables' batch drivers, written in Cython, are in ``_tables.pxd``.
CPython C-API names come from Cython's ``cpython.*`` pxds, and the few
those lack from ``_cpython.pxd``.
"""
from cpython.buffer cimport (
    PyBUF_FULL_RO,
    PyBuffer_IsContiguous,
    PyBuffer_Release,
    PyObject_GetBuffer,
)
from cpython.bytes cimport PyBytes_AS_STRING, PyBytes_CheckExact, PyBytes_GET_SIZE
from cpython.list cimport PyList_CheckExact
from cpython.unicode cimport PyUnicode_AsUTF8AndSize, PyUnicode_Check
from libc.stdint cimport uint32_t, uint64_t


cdef extern from "_hashkernels.h" nogil:
    ctypedef int hlb_fastmod_t  # opaque: 128-bit magic (or uint64_t fallback)
    uint64_t hlb_xxh64(const void *data, size_t length, uint64_t seed)
    # xxh64 of the 8 little-endian bytes of v (== hlb_xxh64(&v_le, 8, seed)).
    uint64_t hlb_xxh64_u64(uint64_t v, uint64_t seed)
    uint64_t hlb_murmur2_64(const void *data, size_t length, uint64_t seed)
    uint64_t hlb_murmur3_64(const void *data, size_t length, uint32_t seed)
    hlb_fastmod_t hlb_fastmod_magic(uint64_t d)
    uint64_t hlb_fastmod(uint64_t a, hlb_fastmod_t M, uint64_t d)
    uint64_t HLB_MURMUR2_SEED
    # An exact int as uint64: 1 on success; 0 (error cleared) if negative or >= 2**64.
    int hlb_long_as_u64(object o, uint64_t *out)
    void hlb_prefetch(const void *p)  # a cache hint; a no-op without GCC/Clang
    unsigned hlb_ctz64(uint64_t x)  # trailing zero bits; x != 0


cdef enum:
    # How many keys ahead the loops over a list of key objects prefetch them.
    KEY_PREFETCH = 32


cdef inline void prefetch_key(const void *obj) noexcept nogil:
    """Fetch the two cache lines of a short key object (its header and its bytes)."""
    hlb_prefetch(obj)
    hlb_prefetch(<const char *>obj + 64)


cdef inline bint snapshot_first(object seq, object item) noexcept:
    """True if hashing *item* may change the list *seq*: read a private copy first.

    Getting a buffer can run Python code (a PEP 688 ``__buffer__``) that
    changes the list and frees its item array; a ``str`` or exact ``bytes``
    key never runs any.  The copy (``tuple(seq)``) holds what the list held
    so far, since no Python code ran, as the pure twins' ``tuple(keys)`` does.
    """
    return PyList_CheckExact(seq) and not PyUnicode_Check(item) and not PyBytes_CheckExact(item)


cdef inline bint format_holds_objects(const char *fmt) noexcept nogil:
    """True if a buffer format has an ``O`` (Python object) item; field names are skipped."""
    cdef bint in_name = False
    if fmt == NULL:
        return False
    while fmt[0] != 0:
        if fmt[0] == 58:  # ':' opens and closes a field name in a struct format
            in_name = not in_name
        elif fmt[0] == 79 and not in_name:  # 'O'
            return True
        fmt += 1
    return False


cdef inline bint key_view(object data, Py_buffer *view, const char **ptr,
                          Py_ssize_t *size, str what) except -1:
    """Point ``ptr``/``size`` at the bytes to hash.

    Returns 1 when ``view`` holds a buffer that the caller must release with
    ``PyBuffer_Release``, else 0.  Raises TypeError naming ``what`` for
    objects that are neither str nor a C-contiguous bytes-like object, and
    for buffers of Python objects (the pure twin's ``as_bytes`` errors).
    """
    if PyUnicode_Check(data):
        ptr[0] = PyUnicode_AsUTF8AndSize(data, size)
        return 0
    if PyBytes_CheckExact(data):
        ptr[0] = PyBytes_AS_STRING(data)
        size[0] = PyBytes_GET_SIZE(data)
        return 0
    cdef bint got = True
    # The same request as memoryview(data) in the pure twin: any layout, then checked.
    try:
        PyObject_GetBuffer(data, view, PyBUF_FULL_RO)
    except (TypeError, BufferError):
        got = False
    if not got or not PyBuffer_IsContiguous(view, b'C'):
        if got:
            PyBuffer_Release(view)
        raise TypeError(
            f"{what} must be str or a C-contiguous bytes-like object, "
            f"not {type(data).__name__}"
        )
    if (view.format != NULL and not (view.format[0] == 66 and view.format[1] == 0)
            and format_holds_objects(view.format)):
        fmt = (<bytes>view.format).decode("ascii", "replace")
        PyBuffer_Release(view)
        from hashlb._validate import object_buffer_error
        raise object_buffer_error(data, what, fmt)
    ptr[0] = <const char *>view.buf
    size[0] = view.len
    return 1
