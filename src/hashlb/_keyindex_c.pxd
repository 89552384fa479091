# cython: language_level=3
"""The C of ``_keyindex_c.pyx``: the table of ``_keyindex.h`` and the class holding it."""
cimport cython
from libc.stdint cimport int64_t, uint8_t, uint64_t

from hashlb._colread cimport hlb_col


cdef extern from "_keyindex.h" nogil:
    enum:
        HLB_KI_NOMEM
        HLB_KI_FULL
    ctypedef struct hlb_keyindex:
        int64_t n
        const uint8_t *data
        int64_t data_len
        const int64_t *offsets
        int64_t null_id
    void hlb_ki_init(hlb_keyindex *k)
    void hlb_ki_free(hlb_keyindex *k)
    int hlb_ki_truncate(hlb_keyindex *k, int64_t n0)
    int64_t hlb_ki_ids(hlb_keyindex *k, const uint8_t *const *ps, const int64_t *lens,
                       int64_t n, int64_t max_keys, uint64_t *hs, int64_t *out, int *err)


cdef extern from "_arrow.h" nogil:
    int hlb_col_null(const hlb_col *c, int64_t i)
    # The bytes of row i of a checked text chunk; 0, or a hlb_col_check code.
    int hlb_col_row(const hlb_col *c, int64_t i, const uint8_t **p, int64_t *n)


@cython.final
cdef class KeyIndex:
    cdef hlb_keyindex _k
    cdef int64_t _max
    cdef bint _init
    cdef object _ids(self, list arrays)
    cdef object _keys(self)
