# cython: language_level=3
"""Declarations of the ring hash's C core, ``_ring.h`` (cimported by ``_ring_c.pyx``).

``hlb_ring`` is a built ring: sorted entry hashes, their host indices packed
in ``width`` bytes each, and an optional prefix index (see ``_ring.h``).
Every function is ``static inline`` C that touches no Python object, so
each may run without the GIL.
"""
from libc.stdint cimport uint32_t, uint64_t


cdef extern from "_ring.h" nogil:
    ctypedef struct hlb_ring:
        uint64_t *hashes
        unsigned char *owners
        uint32_t *index
        size_t n
        size_t index_len
        size_t window
        int width
        int shift
    void hlb_ring_free(hlb_ring *r)
    size_t hlb_ring_find(const hlb_ring *r, uint64_t h)
    uint32_t hlb_ring_owner(const hlb_ring *r, size_t p)
    void hlb_ring_lookup_many(const hlb_ring *r, const uint64_t *hs, uint32_t *out, size_t m)
    size_t hlb_ring_counts(size_t n_iter, const uint32_t *order, const double *weights,
                           double scale, uint32_t *counts)
    int hlb_ring_build(hlb_ring *r, size_t n_hosts, const char *const *keys,
                       const size_t *key_lens, const uint32_t *counts, size_t n,
                       int murmur)
