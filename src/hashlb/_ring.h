/* hashlb ring hash (Envoy's ketama ring), the C core of _ring_c.pyx.
 *
 * Written from spec envoy-lb.md section 4 (entry counts, entry keys
 * "<hash key>_<i>", the sorted ring, the lookup "first entry >= h, wrapping
 * to 0"); the pure twin _ring_py.py is the readable definition.  This file
 * holds the build (hash every entry, sort stably, pack the owners, build the
 * prefix index) and the lookups (one hash, and a prefetching batch loop).
 *
 * Declared for Cython in _ring.pxd.  Every function is `static`: each
 * extension that includes this header gets its own copy.  The small lookup
 * helpers are `static inline`; the build and the batch loop are plain
 * `static` (HLB_RING_FN), so the compiler inlines them only where it finds
 * it worth it (an `inline` hint on them makes GCC inline them everywhere,
 * and the module's machine code grows by a third).
 * Nothing here touches Python objects, so all of it runs without the GIL.
 */
#ifndef HASHLB_RING_H
#define HASHLB_RING_H

#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "_hashkernels.h"

/* `unused`: a file that includes this header need not call every function. */
#if defined(__GNUC__) || defined(__clang__)
#define HLB_RING_FN static __attribute__((unused))
#else
#define HLB_RING_FN static
#endif

/* A built ring.  hashes: sorted ascending (ties: host index, replica).
 * owners: host index of each entry, `width` bytes little-endian.
 * index: NULL, or 2**bits + 1 bucket starts: index[b] is the first entry
 * whose top bits are >= b (index[2**bits] == n).
 * window: with an index, the smallest power of two at least the longest
 * bucket, at most HLB_RING_WINDOW; 0 without an index or past
 * HLB_RING_WINDOW_ENTRIES entries; see hlb_ring_find. */
typedef struct {
    uint64_t *hashes;
    unsigned char *owners;
    uint32_t *index;
    size_t n;
    size_t index_len;
    size_t window;
    int width;
    int shift;
} hlb_ring;

/* The longest fixed window of hlb_ring_find: 6 steps. */
#define HLB_RING_WINDOW 64
/* Rings of more entries search their bucket (window 0): most of their lookups
 * miss the cache, and a window's extra cache lines cost more than the
 * mispredicted exits it saves (2**20 entries: 22 ns a lookup, against 11;
 * 2**19: 9.2 against 9.6; 2**17: 6.4 against 8.9). */
#define HLB_RING_WINDOW_ENTRIES ((size_t)1 << 19)

HLB_RING_FN void hlb_ring_free(hlb_ring *r) {
    free(r->hashes);
    free(r->owners);
    free(r->index);
    memset(r, 0, sizeof(*r));
}

/* The position of the first entry >= h, wrapping to 0 (requires n > 0).
 *
 * With an index, h's bucket holds len entries from lo.  When the `window`
 * entries from lo all exist and len <= window (nearly always), the answer
 * is lo + the count of them below h, found in log2(window) + 1 branch-free
 * steps whatever len is: the entries past the bucket belong to later
 * buckets, so are above h.  A search of len entries would take a varying
 * number of steps, whose mispredicted exits cost more than the fixed ones
 * (a 1,100-entry ring: 3.5 ns a lookup, against 8.7). */
static inline size_t hlb_ring_find(const hlb_ring *r, uint64_t h) {
    size_t lo, len;
    if (r->index) {
        size_t b = (size_t)(h >> r->shift);
        lo = r->index[b];
        len = r->index[b + 1] - lo;
        if (HLB_LIKELY(r->window != 0 && len <= r->window && r->n - lo >= r->window)) {
            const uint64_t *w = r->hashes + lo;
            size_t pos = 0, step;
            for (step = r->window >> 1; step; step >>= 1)
                pos += w[pos + step - 1] < h ? step : 0;
            pos += w[pos] < h;
            return lo + pos == r->n ? 0 : lo + pos;
        }
    } else {
        lo = 0;
        len = r->n;
    }
    const uint64_t *base = r->hashes + lo;
    size_t p;
    if (len == 0) {
        p = lo;
    } else {
        /* branchless lower bound: the answer stays in [base, base + len] */
        while (len > 1) {
            size_t half = len >> 1;
            base = (base[half] < h) ? base + half : base;
            len -= half;
        }
        p = (size_t)(base - r->hashes) + (*base < h);
    }
    return p == r->n ? 0 : p;
}

static inline uint32_t hlb_ring_owner(const hlb_ring *r, size_t p) {
    const unsigned char *o = r->owners + p * (size_t)r->width;
    switch (r->width) {
    case 2: return (uint32_t)o[0] | ((uint32_t)o[1] << 8);
    case 3: return (uint32_t)o[0] | ((uint32_t)o[1] << 8) | ((uint32_t)o[2] << 16);
    default:
        return (uint32_t)o[0] | ((uint32_t)o[1] << 8) | ((uint32_t)o[2] << 16)
               | ((uint32_t)o[3] << 24);
    }
}

/* Batch lookup as a software pipeline: while key j is searched, the
 * bucket bounds of key j + D and the index slot of key j + 2D are
 * prefetched, and the owner of key j - D (prefetched D steps ago) is
 * read, so the cache misses of independent keys overlap. */
#define HLB_RING_DIST 16
HLB_RING_FN void hlb_ring_lookup_many(const hlb_ring *r, const uint64_t *hs, uint32_t *out,
                                      size_t m) {
    size_t j;
    /* A ring with a window is in cache: nothing to prefetch. */
    if (!r->index || r->window || m <= 2 * HLB_RING_DIST) {
        for (j = 0; j < m; j++) out[j] = hlb_ring_owner(r, hlb_ring_find(r, hs[j]));
        return;
    }
    const uint32_t *ix = r->index;
    const int sh = r->shift;
    const size_t w = (size_t)r->width;
    for (j = 0; j < m; j++) {
        if (j + 2 * HLB_RING_DIST < m)
            hlb_prefetch(ix + (size_t)(hs[j + 2 * HLB_RING_DIST] >> sh));
        if (j + HLB_RING_DIST < m)
            hlb_prefetch(r->hashes + ix[(size_t)(hs[j + HLB_RING_DIST] >> sh)]);
        size_t p = hlb_ring_find(r, hs[j]);
        hlb_prefetch(r->owners + p * w);
        out[j] = (uint32_t)p;
        if (j >= HLB_RING_DIST) out[j - HLB_RING_DIST] = hlb_ring_owner(r, out[j - HLB_RING_DIST]);
    }
    for (j = m - HLB_RING_DIST; j < m; j++) out[j] = hlb_ring_owner(r, out[j]);
}

/* Entry counts (spec 4.2), in Envoy's order of double operations:
 * target += scale * w, then add entries while current < target.  The
 * product is stored through a volatile so no compiler can fuse it into an
 * FMA (-ffp-contract), and so is the sum, so no excess precision (x87)
 * survives an addition; current only takes whole values, so the loop
 * "current += 1 while current < target" ends exactly at ceil(target).
 * Returns the total entry count. */
HLB_RING_FN size_t hlb_ring_counts(size_t n_iter, const uint32_t *order, const double *weights,
                                   double scale, uint32_t *counts) {
    double current = 0.0;
    volatile double target = 0.0;
    for (size_t k = 0; k < n_iter; k++) {
        volatile double step = scale * weights[k];
        target += step;
        if (current < target) {
            double top = ceil(target);
            counts[order[k]] = (uint32_t)(top - current);
            current = top;
        }
    }
    return (size_t)current;
}

/* One ring entry while sorting: its hash and its host index. */
typedef struct { uint64_t hash; uint32_t owner; uint32_t pad; } hlb_entry;

/* Stable merge sort of a[0:n] by hash (tmp holds n entries), finishing runs
 * of at most 16 entries with an insertion sort.  Only large buckets of
 * hlb_bucket_sort come here, which needs many hosts sharing hash keys. */

HLB_RING_FN void hlb_merge_sort(hlb_entry *a, hlb_entry *tmp, size_t n) {
    if (n <= 16) {
        for (size_t i = 1; i < n; i++) {
            hlb_entry c = a[i];
            size_t j = i;
            while (j > 0 && a[j - 1].hash > c.hash) { a[j] = a[j - 1]; j--; }
            a[j] = c;
        }
        return;
    }
    size_t h = n / 2, i = 0, j = h, k = 0;
    hlb_merge_sort(a, tmp, h);
    hlb_merge_sort(a + h, tmp, n - h);
    while (i < h && j < n) tmp[k++] = (a[j].hash < a[i].hash) ? a[j++] : a[i++];
    while (i < h) tmp[k++] = a[i++];
    memcpy(a, tmp, k * sizeof(hlb_entry));
}

static inline void hlb_put_owner(unsigned char *owners, int width, size_t pos, uint32_t v) {
    unsigned char *o = owners + pos * (size_t)width;
    o[0] = (unsigned char)v;
    o[1] = (unsigned char)(v >> 8);
    if (width > 2) o[2] = (unsigned char)(v >> 16);
    if (width > 3) o[3] = (unsigned char)(v >> 24);
}

/* Sort the entries (hashes[i], owner of entry i), generated host by host
 * (counts[h] entries each), stably by hash: equal hashes keep generation
 * order (host index, then replica).  The result is written back to hashes
 * and to owners (`width` bytes each); `scratch` holds n entries.
 *
 * Hashes are uniform, so one counting scatter into `scratch` on the top
 * `bits` bits (2 to 4 entries per bucket on average) does most of the work.  Each
 * bucket of at most 16 entries is then placed by rank, straight into
 * hashes and owners: an entry's rank is the number of entries of its
 * bucket with a smaller hash plus the equal ones generated before it
 * (branch-free counting, k*k compares for k <= 16 entries; stable).  A
 * larger bucket is merge-sorted (hlb_merge_sort) and copied out.  O(n)
 * expected, O(n log n) worst case.  Returns 0, or -1 when out of memory. */
HLB_RING_FN int hlb_bucket_sort(uint64_t *hashes, const uint32_t *counts, size_t n_hosts,
                                size_t n, hlb_entry *scratch, unsigned char *owners,
                                int width) {
    int bits = 0;
    while (bits < 20 && ((size_t)4 << bits) <= n) bits++;
    size_t nb = (size_t)1 << bits, i, b, h;
    int shift = 64 - bits;
    uint32_t *start = calloc(nb + 1, sizeof(uint32_t));
    hlb_entry *tmp = NULL;
    if (!start) return -1;
    if (bits) {
        for (i = 0; i < n; i++) start[(size_t)(hashes[i] >> shift) + 1]++;
        for (b = 0; b < nb; b++) start[b + 1] += start[b];
    } else {
        start[1] = (uint32_t)n;
    }
    i = 0;
    for (h = 0; h < n_hosts; h++) {
        for (uint32_t c = counts[h]; c; c--, i++) {
            uint64_t k = hashes[i];
            hlb_entry *e = scratch + start[bits ? (size_t)(k >> shift) : 0]++;
            e->hash = k;
            e->owner = (uint32_t)h;
            e->pad = 0;
        }
    }
    /* start[b] is now the end of bucket b */
    size_t lo = 0;
    for (b = 0; b < nb; b++) {
        size_t hi = start[b], k = hi - lo;
        const hlb_entry *e = scratch + lo;
        if (k <= 16) {
            for (size_t x = 0; x < k; x++) {
                uint64_t v = e[x].hash;
                size_t rank = 0;
                for (size_t y = 0; y < k; y++)
                    rank += (e[y].hash < v) | ((e[y].hash == v) & (y < x));
                hashes[lo + rank] = v;
                hlb_put_owner(owners, width, lo + rank, e[x].owner);
            }
        } else {
            if (!tmp) {
                size_t largest = 0, l2 = 0;
                for (size_t c = 0; c < nb; c++) {
                    if (start[c] - l2 > largest) largest = start[c] - l2;
                    l2 = start[c];
                }
                tmp = malloc(largest * sizeof(hlb_entry));
                if (!tmp) { free(start); return -1; }
            }
            hlb_merge_sort(scratch + lo, tmp, k);
            for (size_t x = 0; x < k; x++) {
                hashes[lo + x] = e[x].hash;
                hlb_put_owner(owners, width, lo + x, e[x].owner);
            }
        }
        lo = hi;
    }
    free(tmp);
    free(start);
    return 0;
}

/* Build the ring: hash the entries of each host in host-index order, sort
 * them into the hash and owner arrays (hlb_bucket_sort), then build the
 * prefix index.  Returns 0, or -1 when out of memory (r is then empty). */
HLB_RING_FN int hlb_ring_build(hlb_ring *r, size_t n_hosts, const char *const *keys,
                               const size_t *key_lens, const uint32_t *counts, size_t n,
                               int murmur) {
    size_t maxlen = 0, pos = 0, h;
    memset(r, 0, sizeof(*r));
    for (h = 0; h < n_hosts; h++)
        if (counts[h] && key_lens[h] > maxlen) maxlen = key_lens[h];
    int width = n_hosts <= 0xFFFF ? 2 : n_hosts <= 0xFFFFFF ? 3 : 4;
    uint64_t *hashes = malloc(n * sizeof(uint64_t));
    hlb_entry *sorted = malloc(n * sizeof(hlb_entry));
    unsigned char *owners = NULL;
    uint32_t *index = NULL;
    char *buf = malloc(maxlen + 32);
    if (!hashes || !sorted || !buf) goto fail;

    /* 1. hash "<key>_<i>" for every entry, host by host in index order */
    for (h = 0; h < n_hosts; h++) {
        uint32_t c = counts[h];
        if (!c) continue;
        size_t len = key_lens[h];
        memcpy(buf, keys[h], len);
        buf[len] = '_';
        char *dig = buf + len + 1;
        size_t nd = 1;
        dig[0] = '0';
        for (uint32_t k = 0; k < c; k++) {
            size_t total = len + 1 + nd;
            hashes[pos++] = murmur ? hlb_murmur2_64(buf, total, HLB_MURMUR2_SEED)
                                   : hlb_xxh64(buf, total, 0);
            /* increment the decimal suffix in place */
            size_t j = nd;
            while (j > 0 && dig[j - 1] == '9') dig[--j] = '0';
            if (j > 0) {
                dig[j - 1]++;
            } else {
                dig[0] = '1';
                dig[nd++] = '0';
            }
        }
    }
    free(buf); buf = NULL;

    /* 2. sort stably (ties keep host index, then replica order) into
     * the hash array and the owner array */
    owners = malloc(n * (size_t)width);
    if (!owners) goto fail;
    if (hlb_bucket_sort(hashes, counts, n_hosts, n, sorted, owners, width)) goto fail;
    free(sorted); sorted = NULL;

    /* 3. prefix index within the 12 bytes/entry budget: (2**bits + 1) * 4
     * <= (4 - width) * n bytes (2 per entry for 2-byte owners); a quarter
     * byte per entry for 4-byte owners. */
    size_t budget = width < 4 ? (size_t)(4 - width) * n : n / 4;
    int bits = 0;
    while (bits < 26 && ((((size_t)2) << bits) + 1) * 4 <= budget) bits++;
    if (bits > 0) {
        size_t nb = (size_t)1 << bits, j = 0;
        index = malloc((nb + 1) * sizeof(uint32_t));
        if (!index) goto fail;
        int shift = 64 - bits;
        for (size_t b = 0; b < nb; b++) {
            while (j < n && (size_t)(hashes[j] >> shift) < b) j++;
            index[b] = (uint32_t)j;
        }
        index[nb] = (uint32_t)n;
        size_t longest = 0;
        for (size_t b = 0; b < nb; b++)
            if (index[b + 1] - index[b] > longest) longest = index[b + 1] - index[b];
        if (n <= HLB_RING_WINDOW_ENTRIES)
            for (r->window = 1; r->window < longest && r->window < HLB_RING_WINDOW;)
                r->window <<= 1;
        r->index = index;
        r->index_len = nb + 1;
        r->shift = shift;
    }
    r->hashes = hashes;
    r->owners = owners;
    r->n = n;
    r->width = width;
    return 0;
fail:
    free(hashes); free(sorted); free(owners); free(index); free(buf);
    memset(r, 0, sizeof(*r));
    return -1;
}

#endif /* HASHLB_RING_H */
