# cython: language_level=3
"""Python wrappers of the C limit loops (``_limit.h``), built by ``benchmarks/_limit_build.py``.

Each takes buffer objects (pyarrow buffers, numpy arrays), asks for no
checking, and releases the GIL over the loop (so two threads can run two
chunks, the two-thread baseline).
"""
from libc.stdint cimport int32_t, int64_t, uint8_t, uint16_t, uint32_t, uint64_t


cdef extern from "_limit.h" nogil:
    void limit_hash(const uint8_t *data, const int32_t *off, int64_t n, uint64_t *out)
    void limit_pick(const uint8_t *data, const int32_t *off, int64_t n,
                    const uint16_t *table, uint64_t m, uint32_t *out)
    void limit_lookup(const uint64_t *hs, int64_t n, const uint16_t *table, uint64_t m,
                      uint32_t *out)
    void limit_ring(const uint8_t *data, const int32_t *off, int64_t n,
                    const uint64_t *ring, const uint32_t *owner, int64_t r, uint32_t *out)
    void limit_cookie(const uint8_t *data, const int32_t *off, int64_t n,
                      const uint8_t *name, int64_t nl, uint64_t *out)


def hash(const uint8_t[::1] data, const int32_t[::1] off, uint64_t[::1] out):
    with nogil:
        limit_hash(&data[0], &off[0], out.shape[0], &out[0])


def pick(const uint8_t[::1] data, const int32_t[::1] off, const uint16_t[::1] table,
         uint32_t[::1] out):
    with nogil:
        limit_pick(&data[0], &off[0], out.shape[0], &table[0], table.shape[0], &out[0])


def lookup(const uint64_t[::1] hs, const uint16_t[::1] table, uint32_t[::1] out):
    with nogil:
        limit_lookup(&hs[0], out.shape[0], &table[0], table.shape[0], &out[0])


def ring(const uint8_t[::1] data, const int32_t[::1] off, const uint64_t[::1] ring,
         const uint32_t[::1] owner, uint32_t[::1] out):
    with nogil:
        limit_ring(&data[0], &off[0], out.shape[0], &ring[0], &owner[0], ring.shape[0], &out[0])


def cookie(const uint8_t[::1] data, const int32_t[::1] off, const uint8_t[::1] name,
           uint64_t[::1] out):
    with nogil:
        limit_cookie(&data[0], &off[0], out.shape[0], &name[0], name.shape[0], &out[0])
