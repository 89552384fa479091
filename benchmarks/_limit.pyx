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
    void limit_route_sticky(const uint64_t *hs, int64_t n, int64_t k, const uint64_t *salt,
                            const double *inv_w, const uint16_t *tables, uint64_t m,
                            const uint32_t *index, int64_t stride, uint32_t *sub, uint32_t *host)
    void limit_route_keys(const uint8_t *data, const int32_t *off, int64_t n, int64_t k,
                          const uint64_t *salt, const double *inv_w, const uint16_t *tables,
                          uint64_t m, const uint32_t *index, int64_t stride, uint64_t *hs,
                          uint32_t *sub, uint32_t *host)
    void limit_route_keys_envoy(const uint8_t *data, const int32_t *off, const uint64_t *vs,
                                int64_t n, int64_t k, const uint64_t *ends,
                                const uint16_t *tables, uint64_t m, const uint32_t *index,
                                int64_t stride, uint64_t *hs, uint32_t *sub, uint32_t *host)
    void limit_route_envoy(const uint64_t *hs, const uint64_t *vs, int64_t n, int64_t k,
                           const uint64_t *ends, const uint16_t *tables, uint64_t m,
                           const uint32_t *index, int64_t stride, uint32_t *sub, uint32_t *host)

    uint64_t limit_read(const uint8_t *p, int64_t n)
    void limit_cookie(const uint8_t *data, const int32_t *off, int64_t n,
                      const uint8_t *name, int64_t nl, uint64_t *out)


def hash(const uint8_t[::1] data, const int32_t[::1] off, uint64_t[::1] out):
    with nogil:
        limit_hash(&data[0], &off[0], out.shape[0], &out[0])


def read(const uint8_t[::1] data):
    cdef uint64_t acc
    with nogil:
        acc = limit_read(&data[0], data.shape[0])
    return acc


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


def route_sticky(const uint64_t[::1] hs, const uint64_t[::1] salt, const double[::1] inv_w,
                 const uint16_t[:, ::1] tables, const uint32_t[:, ::1] index,
                 uint32_t[::1] sub, uint32_t[::1] host):
    with nogil:
        limit_route_sticky(&hs[0], hs.shape[0], salt.shape[0], &salt[0], &inv_w[0],
                           &tables[0, 0], tables.shape[1], &index[0, 0], index.shape[1],
                           &sub[0], &host[0])


def route_keys(const uint8_t[::1] data, const int32_t[::1] off, const uint64_t[::1] salt,
               const double[::1] inv_w, const uint16_t[:, ::1] tables,
               const uint32_t[:, ::1] index, uint64_t[::1] hs, uint32_t[::1] sub,
               uint32_t[::1] host):
    with nogil:
        limit_route_keys(&data[0], &off[0], sub.shape[0], salt.shape[0], &salt[0], &inv_w[0],
                         &tables[0, 0], tables.shape[1], &index[0, 0], index.shape[1],
                         &hs[0], &sub[0], &host[0])


def route_envoy(const uint64_t[::1] hs, const uint64_t[::1] vs, const uint64_t[::1] ends,
                const uint16_t[:, ::1] tables, const uint32_t[:, ::1] index,
                uint32_t[::1] sub, uint32_t[::1] host):
    with nogil:
        limit_route_envoy(&hs[0], &vs[0], hs.shape[0], ends.shape[0], &ends[0],
                          &tables[0, 0], tables.shape[1], &index[0, 0], index.shape[1],
                          &sub[0], &host[0])


def route_keys_envoy(const uint8_t[::1] data, const int32_t[::1] off, const uint64_t[::1] vs,
                     const uint64_t[::1] ends, const uint16_t[:, ::1] tables,
                     const uint32_t[:, ::1] index, uint64_t[::1] hs, uint32_t[::1] sub,
                     uint32_t[::1] host):
    with nogil:
        limit_route_keys_envoy(&data[0], &off[0], &vs[0], sub.shape[0], ends.shape[0],
                               &ends[0], &tables[0, 0], tables.shape[1], &index[0, 0],
                               index.shape[1], &hs[0], &sub[0], &host[0])

def cookie(const uint8_t[::1] data, const int32_t[::1] off, const uint8_t[::1] name,
           uint64_t[::1] out):
    with nogil:
        limit_cookie(&data[0], &off[0], out.shape[0], &name[0], name.shape[0], &out[0])
