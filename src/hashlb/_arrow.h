/* hashlb columnar kernels: read one column chunk (an Arrow string/binary/view
 * array, a numpy S or U array, an Arrow uint64/int64 array) in place and hash
 * or check it, without the GIL.
 *
 * Written from the Arrow columnar format specification (validity bitmaps:
 * LSB-first bits, 1 = valid; variable-size binary: n + 1 offsets of 32 or 64
 * bits into one data buffer; binary view: 16-byte views, inline up to 12
 * bytes, else a 4-byte prefix, a buffer index and an offset) and numpy's
 * fixed-width string layouts (S: bytes, U: UCS4 code points, both padded
 * with trailing NULs, which numpy strips when it reads an item).
 *
 * An hlb_col names each buffer with its size in bytes (the Cython side takes
 * them from the buffer protocol), and hlb_col_check verifies, before any key is
 * read, that every offset, view and bitmap bit the hashing reads lies inside
 * its buffer: an inconsistent or hostile array is refused with an error code,
 * never read out of bounds.  Integer reads go through memcpy (buffers need not
 * be aligned).
 */
#ifndef HASHLB_ARROW_H
#define HASHLB_ARROW_H

#include <stdint.h>
#include <stddef.h>
#include <string.h>

#include "_hashkernels.h"

#if defined(__SSE2__)
#include <emmintrin.h>
#endif

enum {
    HLB_COL_NULL = 0,  /* every row null (Arrow null type): no buffers */
    HLB_COL_OFF32 = 1, /* string / binary: int32 offsets */
    HLB_COL_OFF64 = 2, /* large_string / large_binary: int64 offsets */
    HLB_COL_VIEW = 3,  /* string_view / binary_view */
    HLB_COL_FIXED = 4, /* numpy S<width>: trailing NUL bytes stripped */
    HLB_COL_UCS4 = 5,  /* numpy U: UCS4, trailing NULs stripped, hashed as UTF-8 */
    HLB_COL_U64 = 6,   /* uint64 hashes */
    HLB_COL_I64 = 7    /* int64 hashes (non-negative) */
};

/* The error codes of hlb_col_check (hashlb/_columns.py has their messages). */
enum {
    HLB_COL_OK = 0,
    HLB_COL_E_SHAPE = 1,        /* negative length or offset */
    HLB_COL_E_VALIDITY = 2,     /* validity bitmap shorter than offset + length bits */
    HLB_COL_E_OFFSETS = 3,      /* offsets buffer shorter than offset + length + 1 entries */
    HLB_COL_E_OFF_NEG = 4,      /* the first offset is negative */
    HLB_COL_E_OFF_DECR = 5,     /* an offset is smaller than the one before */
    HLB_COL_E_OFF_DATA = 6,     /* an offset is past the end of the data buffer */
    HLB_COL_E_VIEWS = 7,        /* views buffer shorter than offset + length views */
    HLB_COL_E_VIEW_LEN = 8,     /* a view has a negative length */
    HLB_COL_E_VIEW_BUF = 9,     /* a view names a data buffer that does not exist */
    HLB_COL_E_VIEW_DATA = 10,   /* a view reaches outside its data buffer */
    HLB_COL_E_VALUES = 11,      /* values buffer shorter than offset + length items */
    HLB_COL_E_NEGATIVE = 12     /* an int64 hash is negative */
};

/* The host index of a row with no key (hashlb._columns.NO_HOST). */
#define HLB_NO_HOST 0xFFFFFFFFu

/* Where the pointer of an empty buffer points: never NULL (no arithmetic on NULL). */
static uint8_t hlb_col_empty[1];

typedef struct {
    int kind;
    int64_t length;  /* rows */
    int64_t offset;  /* rows skipped at the start of every buffer (Arrow slicing) */
    const uint8_t *validity;  /* NULL: no nulls */
    int64_t validity_size;
    const uint8_t *values;    /* offsets, views, fixed-width items or hashes */
    int64_t values_size;
    const uint8_t *data;      /* OFF32/OFF64: the data buffer */
    int64_t data_size;
    int64_t n_vbufs;          /* VIEW: the variadic data buffers */
    const uint8_t *const *vbufs;
    const int64_t *vbuf_sizes;
    int64_t width;            /* FIXED/UCS4: the item size in bytes */
} hlb_col;

HLB_INLINE int64_t hlb_ld_i32(const uint8_t *p) { int32_t v; memcpy(&v, p, 4); return v; }
HLB_INLINE int64_t hlb_ld_i64(const uint8_t *p) { int64_t v; memcpy(&v, p, 8); return v; }
HLB_INLINE uint64_t hlb_ld_u64(const uint8_t *p) { uint64_t v; memcpy(&v, p, 8); return v; }

/* 1 if row i (counted from the chunk's offset) is null. */
HLB_INLINE int hlb_col_null(const hlb_col *c, int64_t i) {
    int64_t j = c->offset + i;
    return c->validity != NULL && !((c->validity[j >> 3] >> (j & 7)) & 1);
}

/* The bytes of row i of a checked OFF32 / OFF64 / VIEW chunk in *p, *n; 0, or
 * the hlb_col_check code of a row whose offsets or view (re-read here: a
 * writable buffer may have changed since the check) leave its buffer. */
HLB_INLINE int hlb_col_row(const hlb_col *c, int64_t i, const uint8_t **p, int64_t *n) {
    int64_t j = c->offset + i, a, b;
    const uint8_t *v;
    switch (c->kind) {
    case HLB_COL_OFF32:
        a = hlb_ld_i32(c->values + j * 4);
        b = hlb_ld_i32(c->values + j * 4 + 4);
        break;
    case HLB_COL_OFF64:
        a = hlb_ld_i64(c->values + j * 8);
        b = hlb_ld_i64(c->values + j * 8 + 8);
        break;
    case HLB_COL_VIEW:
        v = c->values + j * 16;
        b = hlb_ld_i32(v);
        if (b < 0) return HLB_COL_E_VIEW_LEN;
        if (b <= 12) {
            *p = v + 4;
            *n = b;
            return HLB_COL_OK;
        }
        a = hlb_ld_i32(v + 8);
        if (a < 0 || a >= c->n_vbufs) return HLB_COL_E_VIEW_BUF;
        j = hlb_ld_i32(v + 12);
        if (j < 0 || j + b > c->vbuf_sizes[a]) return HLB_COL_E_VIEW_DATA;
        *p = c->vbufs[a] + j;
        *n = b;
        return HLB_COL_OK;
    default:
        return HLB_COL_E_SHAPE;
    }
    if (a < 0 || b < a || b > c->data_size) return HLB_COL_E_OFF_DATA;
    *p = c->data + a;
    *n = b - a;
    return HLB_COL_OK;
}

/* Check every buffer the readers below touch; 0, or an error code with the
 * row (from the chunk's start) in *at.  The views of a VIEW chunk are checked
 * one by one as hlb_col_hash reads them (a second pass over them would cost
 * as much as the hashing). */
static int hlb_col_check(const hlb_col *c, int64_t *at) {
    int64_t i, n = c->length, o = c->offset, end;
    *at = 0;
    if (n < 0 || o < 0 || o > INT64_MAX / 16 - n - 1) return HLB_COL_E_SHAPE;
    end = o + n;
    if (c->kind == HLB_COL_NULL) return HLB_COL_OK;
    if (c->validity != NULL && c->validity_size < (end + 7) / 8) return HLB_COL_E_VALIDITY;
    switch (c->kind) {
    case HLB_COL_OFF32:
    case HLB_COL_OFF64: {
        int w = c->kind == HLB_COL_OFF32 ? 4 : 8;
        int64_t prev, cur;
        /* Arrow allows an empty offsets buffer for an array of no rows. */
        if (n == 0 && c->values_size == 0) return HLB_COL_OK;
        if (c->values_size / w < end + 1) return HLB_COL_E_OFFSETS;
        prev = w == 4 ? hlb_ld_i32(c->values + o * 4) : hlb_ld_i64(c->values + o * 8);
        if (prev < 0) return HLB_COL_E_OFF_NEG;
        /* Blocks of 256 offsets: a branch-free OR of "smaller than the one
         * before" over each (the compiler vectorises it: half the time of a
         * test per offset), and the first such offset looked for only in a
         * block that has one. */
#define HLB_CHECK_OFFSETS(W, LOAD)                                              \
        for (i = 0; i < n; i += 256) {                                          \
            const uint8_t *v = c->values + (o + i) * (W);                       \
            int64_t k, e = n - i < 256 ? n - i : 256;                           \
            unsigned bad = 0;                                                   \
            for (k = 0; k < e; k++) bad |= LOAD(v + (k + 1) * (W)) < LOAD(v + k * (W)); \
            if (bad)                                                            \
                for (k = 0; k < e; k++)                                         \
                    if (LOAD(v + (k + 1) * (W)) < LOAD(v + k * (W))) {          \
                        *at = i + k;                                            \
                        return HLB_COL_E_OFF_DECR;                              \
                    }                                                           \
        }
        if (w == 4) {
            HLB_CHECK_OFFSETS(4, hlb_ld_i32)
        } else {
            HLB_CHECK_OFFSETS(8, hlb_ld_i64)
        }
#undef HLB_CHECK_OFFSETS
        cur = w == 4 ? hlb_ld_i32(c->values + (o + n) * 4) : hlb_ld_i64(c->values + (o + n) * 8);
        if (cur > c->data_size) { *at = n > 0 ? n - 1 : 0; return HLB_COL_E_OFF_DATA; }
        return HLB_COL_OK;
    }
    case HLB_COL_VIEW:
        /* Each view is checked where it is hashed (hlb_col_hash), while it is in cache. */
        if (c->values_size / 16 < end) return HLB_COL_E_VIEWS;
        return HLB_COL_OK;
    case HLB_COL_FIXED:
    case HLB_COL_UCS4:
        if (c->width < 0 || (c->width > 0 && c->values_size / c->width < end))
            return HLB_COL_E_VALUES;
        return HLB_COL_OK;
    case HLB_COL_U64:
    case HLB_COL_I64:
        if (c->values_size / 8 < end) return HLB_COL_E_VALUES;
        if (c->kind == HLB_COL_I64)
            for (i = 0; i < n; i++)
                if (hlb_ld_i64(c->values + (o + i) * 8) < 0 && !hlb_col_null(c, i)) {
                    *at = i;
                    return HLB_COL_E_NEGATIVE;
                }
        return HLB_COL_OK;
    default:
        return HLB_COL_E_SHAPE;
    }
}

/* UTF-8 of n UCS4 code points at p (trailing NULs already cut) into dst
 * (4 * n bytes); its length, or -1 for a surrogate or a value past U+10FFFF
 * (which Python's str.encode refuses too). */
HLB_INLINE int64_t hlb_ucs4_utf8(const uint8_t *p, int64_t n, uint8_t *dst) {
    int64_t i, k = 0;
    for (i = 0; i < n; i++) {
        uint32_t u;
        memcpy(&u, p + 4 * i, 4);
        if (u < 0x80) {
            dst[k++] = (uint8_t)u;
        } else if (u < 0x800) {
            dst[k++] = (uint8_t)(0xC0 | (u >> 6));
            dst[k++] = (uint8_t)(0x80 | (u & 0x3F));
        } else if (u < 0x10000) {
            if (u >= 0xD800 && u <= 0xDFFF) return -1;
            dst[k++] = (uint8_t)(0xE0 | (u >> 12));
            dst[k++] = (uint8_t)(0x80 | ((u >> 6) & 0x3F));
            dst[k++] = (uint8_t)(0x80 | (u & 0x3F));
        } else if (u <= 0x10FFFF) {
            dst[k++] = (uint8_t)(0xF0 | (u >> 18));
            dst[k++] = (uint8_t)(0x80 | ((u >> 12) & 0x3F));
            dst[k++] = (uint8_t)(0x80 | ((u >> 6) & 0x3F));
            dst[k++] = (uint8_t)(0x80 | (u & 0x3F));
        } else {
            return -1;
        }
    }
    return k;
}

/* Narrow n UCS4 code points at p to one byte each into dst (n + 8 bytes of
 * room).  Returns a value below 0x80 if every code point is (ASCII, the common
 * case: dst holds their UTF-8), else one of 0x80 or more (the caller encodes
 * them, hlb_ucs4_utf8).
 * Whole 16- and 8-byte stores: byte stores would stall the hash's 8-byte
 * loads.  SSE2 (every x86-64) packs 16 code points per step, then 8; the rest
 * (and everything elsewhere) are shifted 8 at a time into one word. */
HLB_INLINE uint32_t hlb_ucs4_narrow(const uint8_t *p, int64_t n, uint8_t *dst) {
    int64_t j = 0;
    uint32_t u, any = 0;
#if defined(__SSE2__) && !defined(HLB_BIG_ENDIAN)
    __m128i acc = _mm_setzero_si128();
    for (; j + 16 <= n; j += 16) {
        const __m128i *q = (const __m128i *)(const void *)(p + 4 * j);
        __m128i a0 = _mm_loadu_si128(q), a1 = _mm_loadu_si128(q + 1);
        __m128i a2 = _mm_loadu_si128(q + 2), a3 = _mm_loadu_si128(q + 3);
        acc = _mm_or_si128(acc, _mm_or_si128(_mm_or_si128(a0, a1), _mm_or_si128(a2, a3)));
        /* Saturating packs: exact for code points below 0x80 (the only case used). */
        _mm_storeu_si128((__m128i *)(void *)(dst + j),
                         _mm_packus_epi16(_mm_packs_epi32(a0, a1), _mm_packs_epi32(a2, a3)));
    }
    if (j + 8 <= n) {  /* 8 more code points: one 8-byte store */
        const __m128i *q = (const __m128i *)(const void *)(p + 4 * j);
        __m128i a0 = _mm_loadu_si128(q), a1 = _mm_loadu_si128(q + 1);
        acc = _mm_or_si128(acc, _mm_or_si128(a0, a1));
        _mm_storel_epi64((__m128i *)(void *)(dst + j),
                         _mm_packus_epi16(_mm_packs_epi32(a0, a1), _mm_setzero_si128()));
        j += 8;
    }
    /* Every lane's bits from 7 up zero: all ASCII; else report one non-ASCII bit. */
    if (_mm_movemask_epi8(_mm_cmpeq_epi32(_mm_srli_epi32(acc, 7), _mm_setzero_si128())) != 0xFFFF)
        any = 0x80;
#endif
    for (; j < n; j += 8) {  /* 8 code points per word; the last word may be partial */
        uint64_t w = 0;
        int k;
        for (k = 0; k < 8 && j + k < n; k++) {
            memcpy(&u, p + 4 * (j + k), 4);
            any |= u;
            w |= (uint64_t)(u & 0xFF) << (8 * k);
        }
#ifdef HLB_BIG_ENDIAN
        w = __builtin_bswap64(w);  /* byte k of the key is byte k in memory */
#endif
        memcpy(dst + j, &w, 8);
    }
    return any;
}

/* n less the trailing NUL bytes of s[0..n), tested 8 at a time while it can. */
HLB_INLINE int64_t hlb_trim_nul(const uint8_t *s, int64_t n) {
    while (n >= 8 && hlb_ld_u64(s + n - 8) == 0) n -= 8;
    while (n > 0 && s[n - 1] == 0) n--;
    return n;
}

/* xxh64 (seed) of rows [start, start + count) of a checked string column into
 * out[0..count).  A null row gets 0 in out and 1 in isnull (when isnull is not
 * NULL; else nothing marks it); other rows 0 in isnull.  scratch: width + 8
 * bytes (UCS4 only).  Returns -1, or a row (from the chunk's start) the caller
 * reports: with *err 0, its code points have no UTF-8 (UCS4); else *err is
 * the hlb_col_check code of its view (VIEW). */
static int64_t hlb_col_hash(const hlb_col *c, int64_t start, int64_t count, uint64_t seed,
                            uint64_t *out, uint8_t *isnull, uint8_t *scratch, int *err) {
    int64_t i, r;
    /* A local copy: the stores to out (uint64_t) could alias the int64_t fields
     * of *c, which the loops would then reload after every row. */
    const hlb_col local = *c;
    const int64_t o = local.offset;
    c = &local;
    *err = HLB_COL_OK;
    if (isnull != NULL) memset(isnull, 0, (size_t)count);
    switch (c->kind) {
    /* One loop for both offset widths: W bytes per offset, read with LOAD; a
     * macro, not a width test per row, so each case stays a tight loop.  The
     * offsets were checked (hlb_col_check), but a writable buffer can change
     * since: each pair is bounded again here (a predictable branch). */
#define HLB_HASH_OFFSETS(W, LOAD)                                          \
        for (i = 0; i < count; i++) {                                      \
            const uint8_t *p = c->values + (o + start + i) * (W);          \
            int64_t a = LOAD(p), b = LOAD(p + (W));                        \
            if (a < 0 || b < a || b > c->data_size) {                      \
                *err = HLB_COL_E_OFF_DATA;                                 \
                return start + i;                                          \
            }                                                              \
            out[i] = hlb_xxh64(c->data + a, (size_t)(b - a), seed);        \
        }
    case HLB_COL_OFF32:
        HLB_HASH_OFFSETS(4, hlb_ld_i32)
        break;
    case HLB_COL_OFF64:
        HLB_HASH_OFFSETS(8, hlb_ld_i64)
        break;
#undef HLB_HASH_OFFSETS
    case HLB_COL_VIEW:
        /* Two copies of one loop: with no validity bitmap (the usual case) no
         * row is tested for null (the branch costs a tenth of a 16-byte key). */
#define HLB_HASH_VIEWS(SKIP)                                                       \
        for (i = 0; i < count; i++) {                                              \
            const uint8_t *v = c->values + (o + start + i) * 16;                   \
            int64_t len = hlb_ld_i32(v), buf, off;                                 \
            if (SKIP) { out[i] = 0; continue; }                                    \
            if (len <= 12) {                                                       \
                if (len < 0) { *err = HLB_COL_E_VIEW_LEN; return start + i; }      \
                out[i] = hlb_xxh64(v + 4, (size_t)len, seed);                      \
                continue;                                                          \
            }                                                                      \
            buf = hlb_ld_i32(v + 8);                                               \
            off = hlb_ld_i32(v + 12);                                              \
            if (buf < 0 || buf >= c->n_vbufs) { *err = HLB_COL_E_VIEW_BUF; return start + i; } \
            if (off < 0 || off + len > c->vbuf_sizes[buf]) {                       \
                *err = HLB_COL_E_VIEW_DATA;                                        \
                return start + i;                                                  \
            }                                                                      \
            out[i] = hlb_xxh64(c->vbufs[buf] + off, (size_t)len, seed);            \
        }
        if (c->validity == NULL) {
            HLB_HASH_VIEWS(0)
        } else {
            HLB_HASH_VIEWS(hlb_col_null(c, start + i))
        }
#undef HLB_HASH_VIEWS
        break;
    case HLB_COL_FIXED:
        for (i = 0; i < count; i++) {
            const uint8_t *p = c->values + (o + start + i) * c->width;
            int64_t len = c->width;
            while (len > 0 && p[len - 1] == 0) len--;
            out[i] = hlb_xxh64(p, (size_t)len, seed);
        }
        break;
    case HLB_COL_UCS4: {
        /* Every item is narrowed whole, trailing NULs included (a loop of fixed
         * length, which predicts and pipelines better than cutting them first);
         * when all its code points are ASCII the narrowed bytes are the key and
         * its trailing NUL bytes are its trailing NULs.  Items of up to 16 code
         * points (numpy's width is the longest key's) get a loop each, where N
         * is a constant: the narrowing is then straight-line code, 15-20% less
         * time a key than with N known only at run time. */
#define HLB_HASH_UCS4(N)                                                        \
        for (i = 0; i < count; i++) {                                           \
            const uint8_t *p = c->values + (o + start + i) * c->width;          \
            if (hlb_ucs4_narrow(p, (N), scratch) < 0x80) {                      \
                r = (N) > 0 && scratch[(N) - 1] != 0 ? (N) : hlb_trim_nul(scratch, (N)); \
            } else {                                                            \
                int64_t len = (N);                                              \
                uint32_t u;                                                     \
                while (len > 0 && (memcpy(&u, p + 4 * (len - 1), 4), u == 0)) len--; \
                r = hlb_ucs4_utf8(p, len, scratch);                             \
                if (r < 0) return start + i;  /* *err stays 0: no UTF-8 */      \
            }                                                                   \
            out[i] = hlb_xxh64(scratch, (size_t)r, seed);                       \
        }
        const int64_t n = c->width / 4;
        switch (n) {
        case 1: HLB_HASH_UCS4(1) break;
        case 2: HLB_HASH_UCS4(2) break;
        case 3: HLB_HASH_UCS4(3) break;
        case 4: HLB_HASH_UCS4(4) break;
        case 5: HLB_HASH_UCS4(5) break;
        case 6: HLB_HASH_UCS4(6) break;
        case 7: HLB_HASH_UCS4(7) break;
        case 8: HLB_HASH_UCS4(8) break;
        case 9: HLB_HASH_UCS4(9) break;
        case 10: HLB_HASH_UCS4(10) break;
        case 11: HLB_HASH_UCS4(11) break;
        case 12: HLB_HASH_UCS4(12) break;
        case 13: HLB_HASH_UCS4(13) break;
        case 14: HLB_HASH_UCS4(14) break;
        case 15: HLB_HASH_UCS4(15) break;
        case 16: HLB_HASH_UCS4(16) break;
        default: HLB_HASH_UCS4(n) break;
        }
#undef HLB_HASH_UCS4
        break;
    }
    default: /* HLB_COL_NULL */
        for (i = 0; i < count; i++) out[i] = 0;
        break;
    }
    if (c->kind == HLB_COL_NULL || c->validity != NULL) {
        for (i = 0; i < count; i++) {
            if (c->kind == HLB_COL_NULL || hlb_col_null(c, start + i)) {
                out[i] = 0;
                if (isnull != NULL) isnull[i] = 1;
            }
        }
    }
    return -1;
}

/* The hashes of rows [start, start + count) of a checked U64/I64 column:
 * a pointer into the buffer when it is 8-byte aligned, else a copy in tmp. */
HLB_INLINE const uint64_t *hlb_col_u64(const hlb_col *c, int64_t start, int64_t count,
                                       uint64_t *tmp) {
    const uint8_t *p = c->values + (c->offset + start) * 8;
    if (((uintptr_t)p & 7) == 0) return (const uint64_t *)(const void *)p;
    memcpy(tmp, p, (size_t)count * 8);
    return tmp;
}

/* out[i] = none for every null row of [start, start + count). */
HLB_INLINE void hlb_col_mark_nulls(const hlb_col *c, int64_t start, int64_t count,
                                   uint32_t *out, uint32_t none) {
    int64_t i;
    if (c->kind == HLB_COL_NULL) {
        for (i = 0; i < count; i++) out[i] = none;
        return;
    }
    if (c->validity == NULL) return;
    for (i = 0; i < count; i++)
        if (hlb_col_null(c, start + i)) out[i] = none;
}

#endif /* HASHLB_ARROW_H */
