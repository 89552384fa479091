# cython: language_level=3
"""What ``_router_c.pyx`` cimports from ``_subset_c.pyx``: the compiled picker, C to C.

The router's hot path chooses a subset through the picker's C method
``_choose_index`` (a C call through the type's vtable, no Python-level call)
and reads request values with the inline ``as_value``, whose slow path (a
non-``int`` or an out-of-range value) is ``_subset_c.as_value_slow``.
"""
cimport cython
from cpython.long cimport PyLong_CheckExact
from libc.stdint cimport uint32_t, uint64_t


cdef uint64_t as_value_slow(object value) except? 0xFFFFFFFFFFFFFFFFULL


cdef inline uint64_t as_value(object value) except? 0xFFFFFFFFFFFFFFFFULL:
    """Return *value* as a uint64, raising ``_subset_config.check_value``'s errors otherwise."""
    cdef uint64_t v
    if PyLong_CheckExact(value):
        try:
            v = value
            return v
        except OverflowError:
            pass
    return as_value_slow(value)


@cython.final
cdef class WeightedSubsetPicker:
    cdef tuple _names
    cdef object _weights
    cdef str _mode
    cdef object _seed
    cdef bint _sticky
    cdef uint64_t _total
    cdef tuple _salts
    cdef tuple _active  # (position, salt, 1/w, w) per eligible subset, for _exact_index
    cdef double _safe  # _SAFE at construction
    cdef Py_ssize_t _n  # number of subsets (names)
    cdef Py_ssize_t _k  # number of eligible (w > 0) subsets
    cdef uint64_t *_salt_a  # [k] salts of the eligible subsets
    cdef double *_inv_w  # [k] 1.0 / w of the eligible subsets
    cdef uint32_t *_pos  # [k] their positions in _names
    cdef uint64_t *_ends  # [n] cumulative interval ends, aligned with _names

    cdef int _ready(self) except -1
    cdef Py_ssize_t _choose(self, uint64_t v) noexcept nogil
    cdef Py_ssize_t _choose_index(self, uint64_t v) except -2
