/* The C limit of the columnar benchmarks (benchmarks/test_columns_benchmarks.py).
 *
 * Plain C loops over the same Arrow buffers the library reads (a string
 * column: int32 offsets + data, no nulls) with hashlb's own kernels
 * (_hashkernels.h: xxh64, fastmod): what a hand-written C program would do,
 * with no checking, no Python and no chunking.  The benchmarks report every
 * hashlb batch entry point as a ratio to these, measured in the same run.
 */
#ifndef HASHLB_BENCH_LIMIT_H
#define HASHLB_BENCH_LIMIT_H

#include <stdint.h>
#include <stddef.h>
#include <string.h>

#include "_hashkernels.h"

/* xxh64 of every key. */
static void limit_hash(const uint8_t *data, const int32_t *off, int64_t n, uint64_t *out) {
    for (int64_t i = 0; i < n; i++)
        out[i] = hlb_xxh64(data + off[i], (size_t)(off[i + 1] - off[i]), 0);
}

/* xxh64 + Maglev lookup (table[h % M], fastmod) of every key. */
static void limit_pick(const uint8_t *data, const int32_t *off, int64_t n,
                       const uint16_t *table, uint64_t m, uint32_t *out) {
    hlb_fastmod_t magic = hlb_fastmod_magic(m);
    for (int64_t i = 0; i < n; i++) {
        uint64_t h = hlb_xxh64(data + off[i], (size_t)(off[i + 1] - off[i]), 0);
        out[i] = table[hlb_fastmod(h, magic, m)];
    }
}

/* The Maglev lookup of pre-hashed keys. */
static void limit_lookup(const uint64_t *hs, int64_t n, const uint16_t *table, uint64_t m,
                         uint32_t *out) {
    hlb_fastmod_t magic = hlb_fastmod_magic(m);
    for (int64_t i = 0; i < n; i++) out[i] = table[hlb_fastmod(hs[i], magic, m)];
}

/* Read every 8-byte word of n bytes (n a multiple of 8) and fold them: the memory
 * floor of any pass over the buffer (a numpy U16 column reads 64 bytes a key, the
 * Arrow column the limits read 20). */
static uint64_t limit_read(const uint8_t *p, int64_t n) {
    uint64_t acc = 0, w;
    for (int64_t i = 0; i + 8 <= n; i += 8) {
        memcpy(&w, p + i, 8);
        acc ^= w;
    }
    return acc;
}

/* xxh64 + a plain lower_bound over a sorted ring (wrapping to 0): the ring's limit. */
static void limit_ring(const uint8_t *data, const int32_t *off, int64_t n,
                       const uint64_t *ring, const uint32_t *owner, int64_t r, uint32_t *out) {
    for (int64_t i = 0; i < n; i++) {
        uint64_t h = hlb_xxh64(data + off[i], (size_t)(off[i + 1] - off[i]), 0);
        int64_t lo = 0, len = r;
        while (len > 0) {
            int64_t half = len >> 1;
            if (ring[lo + half] < h) { lo += half + 1; len -= half + 1; } else { len = half; }
        }
        out[i] = owner[lo == r ? 0 : lo];
    }
}

/* ---------------------------------------------------------------- the router's limit
 *
 * Router.route_many's work in a plain loop (benchmarks/test_route_many_benchmarks.py):
 * the subset of each row, then that subset's Maglev lookup (table[h % M], fastmod)
 * mapped to the router's host index.  k subsets, each a Maglev of the same size M:
 * their tables one after another in `tables` (k * M items), their host indices in
 * `index` (k * stride items).  Sticky mode chooses the subset as the weighted
 * rendezvous of the picker (xxh64 of the 8 bytes of the hash with each subset's
 * salt, the smallest -log(u) / w wins; no near-tie check); envoy mode as
 * Envoy's value % total over the cumulative weights `ends`. */

#include <math.h>

static inline uint32_t limit_sticky_one(uint64_t h, int64_t k, const uint64_t *salt,
                                        const double *inv_w) {
    double best = INFINITY;
    uint32_t best_i = 0;
    for (int64_t i = 0; i < k; i++) {
        uint64_t x = hlb_xxh64_u64(h, salt[i]);
        double u = (double)(int64_t)((x >> 11) | 1) * (1.0 / 9007199254740992.0);
        double score = -log(u) * inv_w[i];
        if (score < best) { best = score; best_i = (uint32_t)i; }
    }
    return best_i;
}

static inline uint32_t limit_host(uint64_t h, uint32_t s, const uint16_t *tables, uint64_t m,
                                  hlb_fastmod_t magic, const uint32_t *index, int64_t stride) {
    return index[(int64_t)s * stride + tables[(uint64_t)s * m + hlb_fastmod(h, magic, m)]];
}

/* Sticky routing of pre-computed hashes. */
static void limit_route_sticky(const uint64_t *hs, int64_t n, int64_t k, const uint64_t *salt,
                               const double *inv_w, const uint16_t *tables, uint64_t m,
                               const uint32_t *index, int64_t stride, uint32_t *sub,
                               uint32_t *host) {
    hlb_fastmod_t magic = hlb_fastmod_magic(m);
    for (int64_t j = 0; j < n; j++) {
        uint32_t s = limit_sticky_one(hs[j], k, salt, inv_w);
        sub[j] = s;
        host[j] = limit_host(hs[j], s, tables, m, magic, index, stride);
    }
}

/* Sticky routing of a string key column: xxh64 of each key, then as above. */
static void limit_route_keys(const uint8_t *data, const int32_t *off, int64_t n, int64_t k,
                             const uint64_t *salt, const double *inv_w, const uint16_t *tables,
                             uint64_t m, const uint32_t *index, int64_t stride, uint64_t *hs,
                             uint32_t *sub, uint32_t *host) {
    hlb_fastmod_t magic = hlb_fastmod_magic(m);
    for (int64_t j = 0; j < n; j++) {
        uint64_t h = hlb_xxh64(data + off[j], (size_t)(off[j + 1] - off[j]), 0);
        uint32_t s = limit_sticky_one(h, k, salt, inv_w);
        hs[j] = h;
        sub[j] = s;
        host[j] = limit_host(h, s, tables, m, magic, index, stride);
    }
}

/* Envoy routing: the subset from each row's value (value % total over `ends`). */
static void limit_route_envoy(const uint64_t *hs, const uint64_t *vs, int64_t n, int64_t k,
                              const uint64_t *ends, const uint16_t *tables, uint64_t m,
                              const uint32_t *index, int64_t stride, uint32_t *sub,
                              uint32_t *host) {
    hlb_fastmod_t magic = hlb_fastmod_magic(m);
    uint64_t total = ends[k - 1];
    for (int64_t j = 0; j < n; j++) {
        uint64_t v = vs[j] % total;
        uint32_t s = 0;
        while (s + 1 < (uint64_t)k && v >= ends[s]) s++;
        sub[j] = s;
        host[j] = limit_host(hs[j], s, tables, m, magic, index, stride);
    }
}

/* Envoy routing of a string key column: xxh64 of each key, the subset from each row's
 * value as above. */
static void limit_route_keys_envoy(const uint8_t *data, const int32_t *off, const uint64_t *vs,
                                   int64_t n, int64_t k, const uint64_t *ends,
                                   const uint16_t *tables, uint64_t m, const uint32_t *index,
                                   int64_t stride, uint64_t *hs, uint32_t *sub, uint32_t *host) {
    hlb_fastmod_t magic = hlb_fastmod_magic(m);
    uint64_t total = ends[k - 1];
    for (int64_t j = 0; j < n; j++) {
        uint64_t h = hlb_xxh64(data + off[j], (size_t)(off[j + 1] - off[j]), 0);
        uint64_t v = vs[j] % total;
        uint32_t s = 0;
        while (s + 1 < (uint64_t)k && v >= ends[s]) s++;
        hs[j] = h;
        sub[j] = s;
        host[j] = limit_host(h, s, tables, m, magic, index, stride);
    }
}

/* The cookie limit: find the cookie called name in every cookie header (split
 * on ';', leading spaces skipped, the first exact name wins) and xxh64 its
 * value: what a hand-written C loop over the cookie column does. */
static void limit_cookie(const uint8_t *data, const int32_t *off, int64_t n,
                         const uint8_t *name, int64_t nl, uint64_t *out) {
    for (int64_t i = 0; i < n; i++) {
        const uint8_t *p = data + off[i], *end = data + off[i + 1];
        uint64_t h = 0;
        while (p < end) {
            const uint8_t *semi = memchr(p, ';', (size_t)(end - p));
            const uint8_t *e = semi ? semi : end;
            while (p < e && *p == ' ') p++;
            if (e - p > nl && p[nl] == '=' && memcmp(p, name, (size_t)nl) == 0) {
                h = hlb_xxh64(p + nl + 1, (size_t)(e - p - nl - 1), 0);
                break;
            }
            p = e + 1;
        }
        out[i] = h;
    }
}

#endif
