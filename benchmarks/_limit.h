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
