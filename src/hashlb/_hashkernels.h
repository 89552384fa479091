/* hashlb hash kernels: xxHash64, libstdc++ MurmurHash2 (64-bit _Hash_bytes) and
 * MurmurHash3 x64_128 (first 64 bits).
 *
 * Written from the algorithm definitions:
 *   - xxHash64: Yann Collet, "xxHash fast digest algorithm", XXH64 spec (v0.1.1).
 *   - MurmurHash2 64-bit as in libstdc++ libsupc++/hash_bytes.cc (_Hash_bytes,
 *     __SIZEOF_SIZE_T__ == 8); Envoy's MURMUR_HASH_2 (spec envoy-lb.md §1.3).
 *     NOT Appleby's MurmurHash64A.
 *   - MurmurHash3_x64_128, Austin Appleby (public domain), first 64-bit word.
 *
 * Every function is `static inline`, so each Cython module that cimports
 * `hashlb._kernels` (which declares them) gets its own inlined copy and the
 * hot paths never call back into Python.  The small portable helpers the
 * extensions share (prefetch, count trailing zeros) live here too.
 * All arithmetic is mod 2**64 on uint64_t. Reads are little-endian on every
 * platform (memcpy + byte swap on big-endian hosts), as in Envoy's newest
 * murmurHash2 and in XXH64's canonical definition.
 * Do not change the integer widths: the overflow behaviour is the algorithm.
 */
#ifndef HASHLB_HASHKERNELS_H
#define HASHLB_HASHKERNELS_H

#include <stdint.h>
#include <stddef.h>
#include <string.h>

#if defined(__GNUC__) || defined(__clang__)
#define HLB_INLINE static inline __attribute__((always_inline))
#define HLB_LIKELY(x) __builtin_expect(!!(x), 1)
#else
#define HLB_INLINE static inline
#define HLB_LIKELY(x) (x)
#endif

/* hlb_prefetch(p): a read hint for the cache line of p (a no-op without
 * GCC/Clang builtins).  hlb_ctz64(x): the number of trailing zero bits of
 * x, for x != 0. */
#if defined(__GNUC__) || defined(__clang__)
#define hlb_prefetch(p) __builtin_prefetch((const void *)(p))
#define hlb_ctz64(x) ((unsigned)__builtin_ctzll(x))
#else
#define hlb_prefetch(p) ((void)(p))
static inline unsigned hlb_ctz64(unsigned long long x) {
    unsigned n = 0;
    while (!(x & 1)) { x >>= 1; n++; }
    return n;
}
#endif

#if defined(__BYTE_ORDER__) && (__BYTE_ORDER__ == __ORDER_BIG_ENDIAN__)
#define HLB_BIG_ENDIAN 1
#endif

HLB_INLINE uint64_t hlb_rotl64(uint64_t x, int r) { return (x << r) | (x >> (64 - r)); }

HLB_INLINE uint64_t hlb_read64(const unsigned char *p) {
    uint64_t v;
    memcpy(&v, p, 8);
#ifdef HLB_BIG_ENDIAN
    v = __builtin_bswap64(v);
#endif
    return v;
}

/* Little-endian on every host; GCC and Clang compile it to one load. */
HLB_INLINE uint32_t hlb_read32(const unsigned char *p) {
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

/* ------------------------------------------------------------------ XXH64 */
#define HLB_P64_1 0x9E3779B185EBCA87ULL
#define HLB_P64_2 0xC2B2AE3D27D4EB4FULL
#define HLB_P64_3 0x165667B19E3779F9ULL
#define HLB_P64_4 0x85EBCA77C2B2AE63ULL
#define HLB_P64_5 0x27D4EB2F165667C5ULL

HLB_INLINE uint64_t hlb_xxh64_round(uint64_t acc, uint64_t input) {
    acc += input * HLB_P64_2;
    acc = hlb_rotl64(acc, 31);
    return acc * HLB_P64_1;
}

HLB_INLINE uint64_t hlb_xxh64_merge(uint64_t acc, uint64_t val) {
    acc ^= hlb_xxh64_round(0, val);
    return acc * HLB_P64_1 + HLB_P64_4;
}

HLB_INLINE uint64_t hlb_xxh64_avalanche(uint64_t h) {
    h ^= h >> 33;
    h *= HLB_P64_2;
    h ^= h >> 29;
    h *= HLB_P64_3;
    h ^= h >> 32;
    return h;
}

HLB_INLINE uint64_t hlb_xxh64(const void *data, size_t len, uint64_t seed) {
    const unsigned char *p = (const unsigned char *)data;
    const unsigned char *const end = p + len;
    uint64_t h;

    if (len >= 32) {
        const unsigned char *const limit = end - 32;
        uint64_t v1 = seed + HLB_P64_1 + HLB_P64_2;
        uint64_t v2 = seed + HLB_P64_2;
        uint64_t v3 = seed;
        uint64_t v4 = seed - HLB_P64_1;
        do {
            v1 = hlb_xxh64_round(v1, hlb_read64(p));
            v2 = hlb_xxh64_round(v2, hlb_read64(p + 8));
            v3 = hlb_xxh64_round(v3, hlb_read64(p + 16));
            v4 = hlb_xxh64_round(v4, hlb_read64(p + 24));
            p += 32;
        } while (p <= limit);
        h = hlb_rotl64(v1, 1) + hlb_rotl64(v2, 7) + hlb_rotl64(v3, 12) + hlb_rotl64(v4, 18);
        h = hlb_xxh64_merge(h, v1);
        h = hlb_xxh64_merge(h, v2);
        h = hlb_xxh64_merge(h, v3);
        h = hlb_xxh64_merge(h, v4);
    } else {
        h = seed + HLB_P64_5;
    }
    h += (uint64_t)len;

    while (p + 8 <= end) {
        h ^= hlb_xxh64_round(0, hlb_read64(p));
        h = hlb_rotl64(h, 27) * HLB_P64_1 + HLB_P64_4;
        p += 8;
    }
    if (p + 4 <= end) {
        h ^= (uint64_t)hlb_read32(p) * HLB_P64_1;
        h = hlb_rotl64(h, 23) * HLB_P64_2 + HLB_P64_3;
        p += 4;
    }
    while (p < end) {
        h ^= (uint64_t)(*p) * HLB_P64_5;
        h = hlb_rotl64(h, 11) * HLB_P64_1;
        p++;
    }
    return hlb_xxh64_avalanche(h);
}

/* XXH64 of the 8 little-endian bytes of v: hlb_xxh64(&v_le, 8, seed) with
 * the input already in a register (no buffer, no length dispatch).  Used
 * by the sticky subset picker, once per subset and request. */
HLB_INLINE uint64_t hlb_xxh64_u64(uint64_t v, uint64_t seed) {
    uint64_t h = seed + HLB_P64_5 + 8;
    h ^= hlb_xxh64_round(0, v);
    h = hlb_rotl64(h, 27) * HLB_P64_1 + HLB_P64_4;
    return hlb_xxh64_avalanche(h);
}

/* --------------------------------------- MurmurHash2, libstdc++ 64-bit */
#define HLB_MURMUR2_SEED 0xc70f6907ULL
#define HLB_MURMUR2_MUL 0xc6a4a7935bd1e995ULL

HLB_INLINE uint64_t hlb_shift_mix(uint64_t v) { return v ^ (v >> 47); }

HLB_INLINE uint64_t hlb_murmur2_64(const void *data, size_t len, uint64_t seed) {
    const unsigned char *p = (const unsigned char *)data;
    const size_t len_aligned = len & ~(size_t)7;
    const unsigned char *const end = p + len_aligned;
    uint64_t h = seed ^ ((uint64_t)len * HLB_MURMUR2_MUL);
    for (; p != end; p += 8) {
        const uint64_t d = hlb_shift_mix(hlb_read64(p) * HLB_MURMUR2_MUL) * HLB_MURMUR2_MUL;
        h ^= d;
        h *= HLB_MURMUR2_MUL;
    }
    if ((len & 7) != 0) {
        /* load_bytes: the remaining bytes as a little-endian integer */
        uint64_t d = 0;
        int n = (int)(len & 7);
        for (--n; n >= 0; --n) d = (d << 8) + (uint64_t)end[n];
        h ^= d;
        h *= HLB_MURMUR2_MUL;
    }
    h = hlb_shift_mix(h) * HLB_MURMUR2_MUL;
    return hlb_shift_mix(h);
}

/* ------------------------------------ MurmurHash3 x64_128, first word */
HLB_INLINE uint64_t hlb_fmix64(uint64_t k) {
    k ^= k >> 33;
    k *= 0xff51afd7ed558ccdULL;
    k ^= k >> 33;
    k *= 0xc4ceb9fe1a85ec53ULL;
    k ^= k >> 33;
    return k;
}

/* MurmurHash3's two lane mixes of a 64-bit word k. */
HLB_INLINE uint64_t hlb_mm3_k1(uint64_t k) {
    return hlb_rotl64(k * 0x87c37b91114253d5ULL, 31) * 0x4cf5ad432745937fULL;
}
HLB_INLINE uint64_t hlb_mm3_k2(uint64_t k) {
    return hlb_rotl64(k * 0x4cf5ad432745937fULL, 33) * 0x87c37b91114253d5ULL;
}

HLB_INLINE uint64_t hlb_murmur3_64(const void *data, size_t len, uint32_t seed) {
    const unsigned char *p = (const unsigned char *)data;
    const size_t nblocks = len / 16, rest = len & 15;
    unsigned char tail[16] = {0};
    uint64_t h1 = seed, h2 = seed;
    size_t i;
    for (i = 0; i < nblocks; i++) {
        h1 ^= hlb_mm3_k1(hlb_read64(p + i * 16));
        h1 = hlb_rotl64(h1, 27); h1 += h2; h1 = h1 * 5 + 0x52dce729;
        h2 ^= hlb_mm3_k2(hlb_read64(p + i * 16 + 8));
        h2 = hlb_rotl64(h2, 31); h2 += h1; h2 = h2 * 5 + 0x38495ab5;
    }
    /* The last len % 16 bytes, zero-padded, are the two little-endian words
     * the reference's byte-by-byte switch assembles. */
    if (rest) {
        memcpy(tail, p + nblocks * 16, rest);
        if (rest > 8) h2 ^= hlb_mm3_k2(hlb_read64(tail + 8));
        h1 ^= hlb_mm3_k1(hlb_read64(tail));
    }
    h1 ^= (uint64_t)len;
    h2 ^= (uint64_t)len;
    h1 += h2;
    h2 += h1;
    h1 = hlb_fmix64(h1);
    h2 = hlb_fmix64(h2);
    h1 += h2;
    return h1;
}

/* -------------------------------------------- exact fast h % d (Lemire)
 * "Faster Remainder by Direct Computation" (Lemire, Kaser, Kurz 2019),
 * 64-bit numerator variant with a 128-bit magic M = ceil(2**128 / d).
 * Exact for every uint64 a and every 1 <= d < 2**32 (tested against `%`).
 * Falls back to the division where the compiler has no 128-bit integers. */
#if defined(__SIZEOF_INT128__)
#define HLB_HAVE_FASTMOD 1
typedef unsigned __int128 hlb_u128;
typedef hlb_u128 hlb_fastmod_t;
HLB_INLINE hlb_fastmod_t hlb_fastmod_magic(uint64_t d) {
    return ((hlb_u128)0 - 1) / d + 1;
}
HLB_INLINE uint64_t hlb_fastmod(uint64_t a, hlb_fastmod_t M, uint64_t d) {
    hlb_u128 lowbits = M * a;
    hlb_u128 bottom = ((lowbits & 0xFFFFFFFFFFFFFFFFULL) * d) >> 64;
    hlb_u128 top = (lowbits >> 64) * d;
    return (uint64_t)((bottom + top) >> 64);
}
#else
typedef uint64_t hlb_fastmod_t;
HLB_INLINE hlb_fastmod_t hlb_fastmod_magic(uint64_t d) { return d; }
HLB_INLINE uint64_t hlb_fastmod(uint64_t a, hlb_fastmod_t M, uint64_t d) { (void)M; return a % d; }
#endif

/* ------------------------------------------- Python int -> uint64 fast
 * Only when compiled inside a CPython extension (Python.h included first). */
#ifdef Py_PYTHON_H
/* An exact int as uint64: 1 on success, 0 (error cleared) when it is
 * negative or too large.  PyLong_AsUnsignedLong reads the digits in a
 * loop; 3.11's PyLong_AsUnsignedLongLong goes through _PyLong_AsByteArray
 * for every multi-digit value, which costs ~40 ns per lookup. */
static inline int hlb_long_as_u64(PyObject *o, uint64_t *out) {
#if SIZEOF_LONG == 8
    unsigned long v = PyLong_AsUnsignedLong(o);
    if (v == (unsigned long)-1 && PyErr_Occurred()) { PyErr_Clear(); return 0; }
#else
    unsigned long long v = PyLong_AsUnsignedLongLong(o);
    if (v == (unsigned long long)-1 && PyErr_Occurred()) { PyErr_Clear(); return 0; }
#endif
    *out = (uint64_t)v;
    return 1;
}
#endif

#endif /* HASHLB_HASHKERNELS_H */
