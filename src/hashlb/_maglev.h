/* hashlb Maglev: the C helpers of _maglev_c.pyx's fill (no Python object).
 *
 * Envoy's fill counts rounds in a uint32_t (spec envoy-lb.md section 5,
 * step 3 of the _maglev_py.py module docstring).  hlb_mg_next_turn and the
 * heap of next turns work on uint64_t round numbers, with
 * HLB_LAST_ITERATION the last round Envoy can reach and HLB_NEVER for a
 * host that is never due again.
 */
#ifndef HASHLB_MAGLEV_H
#define HASHLB_MAGLEV_H

#include <stddef.h>
#include <stdint.h>

#define HLB_LAST_ITERATION ((uint64_t)0xFFFFFFFFu)
#define HLB_NEVER (~(uint64_t)0)

/* 1 if n is prime (trial division; n <= 5,000,011 here). */
static inline int hlb_mg_is_prime(uint64_t n) {
    uint64_t d;
    if (n < 2) return 0;
    if (n % 2 == 0) return n == 2;
    for (d = 3; d * d <= n; d += 2)
        if (n % d == 0) return 0;
    return 1;
}

/* a**-1 mod m for prime m and 0 < a < m (extended Euclid). */
static inline uint64_t hlb_mg_inverse_mod(uint64_t a, uint64_t m) {
    int64_t t = 0, new_t = 1, q, tmp;
    int64_t r = (int64_t)m, new_r = (int64_t)a;
    while (new_r != 0) {
        q = r / new_r;
        tmp = t - q * new_t;
        t = new_t;
        new_t = tmp;
        tmp = r - q * new_r;
        r = new_r;
        new_r = tmp;
    }
    return (uint64_t)(t < 0 ? t + (int64_t)m : t);
}

/* Envoy's turn test: does a host take a slot in round `iteration`?
 *
 * Do not change: Envoy skips the host if iteration * weight_ <
 * target_weight_, its u32 round converted to double (exact; callers pass
 * it converted) times a double, compared as doubles (no FMA can form: the
 * product feeds a comparison, not an addition; x86-64 and arm64 doubles
 * have no excess precision). */
static inline int hlb_mg_due(double iteration, double weight, double target) {
    return !(iteration * weight < target);
}

/* The first iteration t >= lo with hlb_mg_due(t), or HLB_NEVER.
 *
 * hlb_mg_due(t) is monotone in t (t * weight rounds monotonically for
 * weight >= 0), so the answer is found by evaluating Envoy's exact test: a
 * guess ceil(target / weight) (the division only guesses, it is within one
 * of the answer), widened by doubling until it brackets the answer, then
 * bisected.  Usually four tests and one division. */
static inline uint64_t hlb_mg_next_turn(double weight, double target, uint64_t lo) {
    double est;
    uint64_t a, b, c, step;
    if (lo > HLB_LAST_ITERATION) return HLB_NEVER;
    if (hlb_mg_due((double)lo, weight, target)) return lo;
    if (!hlb_mg_due((double)HLB_LAST_ITERATION, weight, target)) return HLB_NEVER;
    /* Invariant from here: due(a) is false, due(b) is true, a < b; so
     * b * weight >= target > a * weight and weight > 0. */
    a = lo;
    b = HLB_LAST_ITERATION;
    est = target / weight;
    if (est < (double)HLB_LAST_ITERATION) {
        c = (uint64_t)est;
        if ((double)c < est) c += 1;
        if (c <= a) c = a + 1;
        step = 1;
        if (hlb_mg_due((double)c, weight, target)) {
            b = c;
            while (b - a > 1) { /* widen downwards */
                c = b - a > step ? b - step : a;
                if (c == a) break;
                if (hlb_mg_due((double)c, weight, target)) {
                    b = c;
                    step <<= 1;
                } else {
                    a = c;
                    break;
                }
            }
        } else {
            a = c;
            while (b - a > 1) { /* widen upwards */
                c = b - a > step ? a + step : b;
                if (c == b) break;
                if (hlb_mg_due((double)c, weight, target)) {
                    b = c;
                    break;
                }
                a = c;
                step <<= 1;
            }
        }
    }
    while (b - a > 1) {
        c = a + ((b - a) >> 1);
        if (hlb_mg_due((double)c, weight, target)) b = c;
        else a = c;
    }
    return b;
}

/* Put key at pos of a binary min-heap of size keys and sift it down. */
static inline void hlb_mg_sift_down(uint64_t *heap, ptrdiff_t size, ptrdiff_t pos, uint64_t key) {
    ptrdiff_t child;
    for (;;) {
        child = 2 * pos + 1;
        if (child >= size) break;
        if (child + 1 < size && heap[child + 1] < heap[child]) child += 1;
        if (heap[child] >= key) break;
        heap[pos] = heap[child];
        pos = child;
    }
    heap[pos] = key;
}

/* Replace the least key of a binary min-heap of size keys by key.
 *
 * A sift-down that picks the smaller child without a branch (the costly
 * mispredictions of a heap); the remaining branch is predictable in both
 * common cases: a key that stays on top (one heavy host) or sinks to the
 * bottom (hosts of similar weight). */
static inline void hlb_mg_replace_top(uint64_t *heap, ptrdiff_t size, uint64_t key) {
    ptrdiff_t pos = 0, child;
    ptrdiff_t last = (size - 3) >> 1; /* the last node with two children */
    uint64_t smaller;
    while (pos <= last) {
        child = 2 * pos + 1;
        child += heap[child + 1] < heap[child];
        smaller = heap[child];
        if (smaller >= key) {
            heap[pos] = key;
            return;
        }
        heap[pos] = smaller;
        pos = child;
    }
    child = 2 * pos + 1;
    if (child < size && heap[child] < key) { /* one child left at the bottom */
        heap[pos] = heap[child];
        pos = child;
    }
    heap[pos] = key;
}

#endif /* HASHLB_MAGLEV_H */
