/* hashlb key index: a dense id for every distinct key (a byte string, or the
 * null key), in order of first appearance, exact (KeyIndex, _keyindex_c.pyx).
 *
 * An open-addressing hash table (linear probing, at most half full) of
 * (xxh64 of the key, id, length, first 16 bytes) slots; a probe that meets its
 * hash compares the key bytes (in the slot, or the stored ones for a longer
 * key), so two keys share an id only if they are equal.  hlb_ki_ids hashes a
 * block of rows first and prefetches each row's slot 32 rows ahead: the
 * table is far larger than the caches, and a miss per row is the cost.
 * The keys are stored once, one after another in id order (data + n + 1
 * offsets), which is also how they are given back (KeyIndex.keys).
 *
 * Every allocation is checked: on failure a call returns HLB_KI_NOMEM and the
 * index is left as it was before the key (the caller raises MemoryError).
 */
#ifndef HASHLB_KEYINDEX_H
#define HASHLB_KEYINDEX_H

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "_hashkernels.h"

enum { HLB_KI_NOMEM = -1, HLB_KI_FULL = -2 };

/* One slot, half a cache line: a key of up to 16 bytes is compared in it, a
 * longer one with its stored bytes. */
#define HLB_KI_INLINE 16
typedef struct {
    uint64_t hash;
    int32_t id;   /* -1: empty (ids stay below 2**31: max_keys is capped lower) */
    uint32_t len; /* the key's length, if below 2**32; else 2**32 - 1 */
    uint8_t key[HLB_KI_INLINE]; /* its first bytes, zero-padded */
} hlb_ki_slot;

typedef struct {
    hlb_ki_slot *slots;
    int64_t cap;        /* slots: 0 or a power of two */
    int64_t n;          /* keys, the null key included */
    uint8_t *data;      /* the key bytes in id order */
    int64_t data_len, data_cap;
    int64_t *offsets;   /* key id i is data[offsets[i], offsets[i + 1]) */
    int64_t off_cap;    /* entries of offsets */
    int64_t null_id;    /* the id of the null key, or -1 */
    int broken;         /* a failed truncate left it inconsistent: refuse every call */
} hlb_keyindex;

static void hlb_ki_init(hlb_keyindex *k) {
    memset(k, 0, sizeof(*k));
    k->null_id = -1;
}

static void hlb_ki_free(hlb_keyindex *k) {
    free(k->slots);
    free(k->data);
    free(k->offsets);
    hlb_ki_init(k);
}

/* Room for one more key of len bytes in data and offsets; 0 or HLB_KI_NOMEM. */
static int hlb_ki_reserve(hlb_keyindex *k, int64_t len) {
    if (k->off_cap < k->n + 2) {
        int64_t cap = k->off_cap ? k->off_cap * 2 : 1024;
        int64_t *p;
        while (cap < k->n + 2) cap *= 2;
        p = (int64_t *)realloc(k->offsets, (size_t)cap * sizeof(int64_t));
        if (p == NULL) return HLB_KI_NOMEM;
        if (k->off_cap == 0) p[0] = 0;
        k->offsets = p;
        k->off_cap = cap;
    }
    if (k->data_cap - k->data_len < len) {
        int64_t cap = k->data_cap ? k->data_cap : 1 << 16;
        uint8_t *p;
        while (cap - k->data_len < len) {
            if (cap > INT64_MAX / 2) return HLB_KI_NOMEM;
            cap *= 2;
        }
        p = (uint8_t *)realloc(k->data, (size_t)cap);
        if (p == NULL) return HLB_KI_NOMEM;
        k->data = p;
        k->data_cap = cap;
    }
    return 0;
}

/* Double the table (or make the first one) and reinsert every slot; 0 or HLB_KI_NOMEM. */
static int hlb_ki_rehash(hlb_keyindex *k) {
    int64_t cap = k->cap ? k->cap * 2 : 1 << 12, i;
    uint64_t mask = (uint64_t)cap - 1;
    hlb_ki_slot *s = (hlb_ki_slot *)malloc((size_t)cap * sizeof(hlb_ki_slot));
    if (s == NULL) return HLB_KI_NOMEM;
    for (i = 0; i < cap; i++) s[i].id = -1;
    for (i = 0; i < k->cap; i++) {
        uint64_t j;
        if (k->slots[i].id < 0) continue;
        j = k->slots[i].hash & mask;
        while (s[j].id >= 0) j = (j + 1) & mask;
        s[j] = k->slots[i];
    }
    free(k->slots);
    k->slots = s;
    k->cap = cap;
    return 0;
}

/* Whether slot s holds the key p[0..len) of hash h. */
HLB_INLINE int hlb_ki_match(const hlb_keyindex *k, const hlb_ki_slot *s, uint64_t h,
                            const uint8_t *p, int64_t len) {
    int64_t at;
    if (s->hash != h || (int64_t)s->len != (len < 0xFFFFFFFFLL ? len : 0xFFFFFFFFLL)) return 0;
    if (len <= HLB_KI_INLINE) return len == 0 || memcmp(s->key, p, (size_t)len) == 0;
    at = k->offsets[s->id];
    return k->offsets[s->id + 1] - at == len && memcmp(k->data + at, p, (size_t)len) == 0;
}

/* The id of the key p[0..len) of xxh64 h (a new id, the next one, for a new
 * key): >= 0, or HLB_KI_FULL (a new key past max_keys keys) or HLB_KI_NOMEM. */
static int64_t hlb_ki_id(hlb_keyindex *k, const uint8_t *p, int64_t len, uint64_t h,
                         int64_t max_keys) {
    uint64_t mask, j;
    int64_t id;
    hlb_ki_slot *s;
    if (k->cap != 0) {
        mask = (uint64_t)k->cap - 1;
        for (j = h & mask; k->slots[j].id >= 0; j = (j + 1) & mask)
            if (hlb_ki_match(k, &k->slots[j], h, p, len)) return k->slots[j].id;
    }
    if (k->n >= max_keys || k->n >= 0x7FFFFFFF) return HLB_KI_FULL;
    if ((k->n + 1) * 2 > k->cap && hlb_ki_rehash(k) != 0) return HLB_KI_NOMEM;
    if (hlb_ki_reserve(k, len) != 0) return HLB_KI_NOMEM;
    mask = (uint64_t)k->cap - 1;
    for (j = h & mask; k->slots[j].id >= 0; j = (j + 1) & mask) {
    }
    id = k->n++;
    s = &k->slots[j];
    s->hash = h;
    s->id = (int32_t)id;
    s->len = (uint32_t)(len < 0xFFFFFFFFLL ? len : 0xFFFFFFFFLL);
    memset(s->key, 0, HLB_KI_INLINE);
    memcpy(s->key, p, (size_t)(len < HLB_KI_INLINE ? len : HLB_KI_INLINE));
    if (len > 0) memcpy(k->data + k->data_len, p, (size_t)len);
    k->data_len += len;
    k->offsets[id + 1] = k->data_len;
    return id;
}

/* The id of the null key (stored as an empty key; keys() marks it null). */
static int64_t hlb_ki_null(hlb_keyindex *k, int64_t max_keys) {
    if (k->null_id >= 0) return k->null_id;
    if (k->n >= max_keys || k->n >= 0x7FFFFFFF) return HLB_KI_FULL;
    if (hlb_ki_reserve(k, 0) != 0) return HLB_KI_NOMEM;
    k->null_id = k->n++;
    k->offsets[k->null_id + 1] = k->data_len;
    return k->null_id;
}

/* Forget every key of id n0 and up (what one call added, when it fails): the
 * table is rebuilt from the older keys (a rehash may have ordered the probe
 * chains otherwise).  0, or HLB_KI_NOMEM: then the index is broken and every
 * later call fails (hlb_ki_ids returns HLB_KI_NOMEM). */
static int hlb_ki_truncate(hlb_keyindex *k, int64_t n0) {
    int64_t i;
    uint64_t mask;
    hlb_ki_slot *s;
    if (n0 >= k->n) return 0;
    k->n = n0;
    k->data_len = n0 > 0 ? k->offsets[n0] : 0;
    if (k->null_id >= n0) k->null_id = -1;
    if (k->cap == 0) return 0;
    s = (hlb_ki_slot *)malloc((size_t)k->cap * sizeof(hlb_ki_slot));
    if (s == NULL) {
        k->broken = 1;
        return HLB_KI_NOMEM;
    }
    mask = (uint64_t)k->cap - 1;
    for (i = 0; i < k->cap; i++) s[i].id = -1;
    for (i = 0; i < k->cap; i++) {
        uint64_t j;
        if (k->slots[i].id < 0 || k->slots[i].id >= n0) continue;
        for (j = k->slots[i].hash & mask; s[j].id >= 0; j = (j + 1) & mask) {
        }
        s[j] = k->slots[i];
    }
    free(k->slots);
    k->slots = s;
    return 0;
}

/* The ids of n keys (ps[i], lens[i]; a negative length: the null key) into
 * out: -1, or the first row refused with its code (HLB_KI_FULL, HLB_KI_NOMEM)
 * in *err (the rows before it have their ids).  hs: n hashes of scratch. */
static int64_t hlb_ki_ids(hlb_keyindex *k, const uint8_t *const *ps, const int64_t *lens,
                          int64_t n, int64_t max_keys, uint64_t *hs, int64_t *out, int *err) {
    int64_t i, id;
    enum { AHEAD = 32 };  /* measured: 24-32 rows ahead take half the time of 8 */
    if (k->broken) {
        *err = HLB_KI_NOMEM;
        return 0;
    }
    for (i = 0; i < n; i++)
        hs[i] = lens[i] < 0 ? 0 : hlb_xxh64(ps[i], (size_t)lens[i], 0);
    for (i = 0; i < n; i++) {
        if (i + AHEAD < n && k->cap != 0)
            hlb_prefetch(&k->slots[hs[i + AHEAD] & ((uint64_t)k->cap - 1)]);
        id = lens[i] < 0 ? hlb_ki_null(k, max_keys) : hlb_ki_id(k, ps[i], lens[i], hs[i], max_keys);
        if (id < 0) {
            *err = (int)id;
            return i;
        }
        out[i] = id;
    }
    return -1;
}

#endif /* HASHLB_KEYINDEX_H */
