/* hashlb batch hash policies: find a cookie or a query parameter in every row
 * of a text column (an Arrow binary / large_binary / binary_view chunk, see
 * _arrow.h) and xxh64 it, without the GIL (HashPolicy.hash_many).
 *
 * The parsers follow Envoy: a cookie header is split on ';', a piece's name
 * runs from its first non-space to its first '=', the value is not trimmed
 * but one pair of surrounding double quotes is removed, and the first exact
 * match wins (Http::Utility::parseCookieValue, source/common/http/utility.cc);
 * a query string starts after the first '?', is split on '&', a piece with no
 * '=' is a name with an empty value, and the first match wins
 * (Http::Utility::QueryParamsMulti::parseQueryString, used by the
 * QueryParameter hash method of source/common/http/hash_policy.cc).  They
 * agree byte for byte with the scalar methods of both policy twins.
 */
#ifndef HASHLB_HASHMANY_H
#define HASHLB_HASHMANY_H

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "_arrow.h"

enum { HLB_FIND_COOKIE = 0, HLB_FIND_QUERY = 1, HLB_FIND_VALUE = 2 };

HLB_INLINE const uint8_t *hlb_find_byte(const uint8_t *p, int64_t n, int ch) {
    return n > 0 ? (const uint8_t *)memchr(p, ch, (size_t)n) : NULL;
}

/* The value of the first cookie called name (nl > 0 bytes) in the cookie
 * header [p, p + n): 1 with *v, *vn (maybe empty), or 0.  Envoy's piece name
 * runs from its first non-space to its first '='; name is a cookie token
 * (no '=', no space: _policy_config._check_cookie_name), so a piece is called
 * name exactly when name follows its leading spaces and an '=' follows name,
 * and the piece is not searched for its '=' (one memchr a piece). */
HLB_INLINE int hlb_cookie_find(const uint8_t *p, int64_t n, const uint8_t *name, int64_t nl,
                               const uint8_t **v, int64_t *vn) {
    int64_t s = 0;
    while (s <= n) {
        const uint8_t *semi = hlb_find_byte(p + s, n - s, ';');
        int64_t e = semi != NULL ? semi - p : n, k = s;
        while (k < e && p[k] == ' ') k++;
        if (e - k > nl && p[k + nl] == '=' && memcmp(p + k, name, (size_t)nl) == 0) {
            int64_t a = k + nl + 1, b = e;
            if (b - a >= 2 && p[a] == '"' && p[b - 1] == '"') {
                a++;
                b--;
            }
            *v = p + a;
            *vn = b - a;
            return 1;
        }
        s = e + 1;
    }
    return 0;
}

/* The value of the first query parameter called name in the path [p, p + n):
 * 1 with *v, *vn (empty for a bare name), or 0 (no '?', no such parameter). */
HLB_INLINE int hlb_query_find(const uint8_t *p, int64_t n, const uint8_t *name, int64_t nl,
                              const uint8_t **v, int64_t *vn) {
    const uint8_t *qm = hlb_find_byte(p, n, '?');
    int64_t s;
    if (qm == NULL) return 0;
    s = qm - p + 1;
    while (s <= n) {
        const uint8_t *amp = hlb_find_byte(p + s, n - s, '&');
        int64_t e = amp != NULL ? amp - p : n;
        const uint8_t *eq = hlb_find_byte(p + s, e - s, '=');
        int64_t end = eq != NULL ? eq - p : e;
        if (end - s == nl && (nl == 0 || memcmp(p + s, name, (size_t)nl) == 0)) {
            *v = eq != NULL ? eq + 1 : p + e;
            *vn = eq != NULL ? e - (end + 1) : 0;
            return 1;
        }
        s = e + 1;
    }
    return 0;
}

/* For every row of a checked text chunk: xxh64 (seed) of the cookie (mode
 * HLB_FIND_COOKIE; an empty value is no hash), the query parameter
 * (HLB_FIND_QUERY) called name or the row itself (HLB_FIND_VALUE: a cookie
 * value; empty is no hash) into out[i], and has[i] 1; else 0 and 0 (a null
 * row too).  Returns -1, or the row whose buffer reference is bad, with
 * its hlb_col_check code in *err. */
static int64_t hlb_col_find_hash(const hlb_col *c, int mode, const uint8_t *name, int64_t nl,
                                 uint64_t seed, uint64_t *out, uint8_t *has, int *err) {
    const hlb_col local = *c;  /* the stores to out/has cannot alias its fields */
    int64_t i;
    c = &local;
    *err = HLB_COL_OK;
    for (i = 0; i < c->length; i++) {
        const uint8_t *p = hlb_col_empty, *v = hlb_col_empty;
        int64_t n = 0, vn = 0;
        int found, r;
        out[i] = 0;
        has[i] = 0;
        if (c->kind == HLB_COL_NULL || hlb_col_null(c, i)) continue;
        r = hlb_col_row(c, i, &p, &n);
        if (r != HLB_COL_OK) {
            *err = r;
            return i;
        }
        if (mode == HLB_FIND_VALUE) {
            found = 1;
            v = p;
            vn = n;
        } else {
            found = mode == HLB_FIND_COOKIE ? hlb_cookie_find(p, n, name, nl, &v, &vn)
                                            : hlb_query_find(p, n, name, nl, &v, &vn);
        }
        if (found && (mode == HLB_FIND_QUERY || vn > 0)) {
            out[i] = hlb_xxh64(v, (size_t)vn, seed);
            has[i] = 1;
        }
    }
    return -1;
}

/* Fold one method's hashes into a policy's (HashPolicy.hash): for each row
 * not done, a hash v[i] (has[i]) becomes h[i] if the row has none yet
 * (have[i] 0), else h[i] = rotl1(h[i]) ^ v[i]; after a terminal method, a row
 * that has a hash is done.  Rows without a hash keep h[i] (0). */
static void hlb_fold(uint64_t *h, uint8_t *have, uint8_t *done, const uint64_t *v,
                     const uint8_t *has, int64_t n, int terminal) {
    int64_t i;
    for (i = 0; i < n; i++) {
        if (done[i]) continue;
        if (has[i]) {
            h[i] = have[i] ? (((h[i] << 1) | (h[i] >> 63)) ^ v[i]) : v[i];
            have[i] = 1;
        }
        if (terminal && have[i]) done[i] = 1;
    }
}

/* One header value: its bytes. */
typedef struct {
    const uint8_t *p;
    int64_t n;
} hlb_span;

/* Bytewise order, a prefix first: Python's bytes order and Envoy's std::sort
 * of the header values (absl::string_view comparison). */
static int hlb_span_cmp(const void *a, const void *b) {
    const hlb_span *x = (const hlb_span *)a, *y = (const hlb_span *)b;
    int64_t m = x->n < y->n ? x->n : y->n;
    int r = m > 0 ? memcmp(x->p, y->p, (size_t)m) : 0;
    if (r != 0) return r;
    return x->n < y->n ? -1 : x->n > y->n;
}

/* A multi-valued header per row: a list<text> column given as its validity
 * (NULL: no nulls; bit loff + i is row i), its offsets (w = 4 or 8 bytes,
 * offsets_size bytes, entry loff + i) and its checked child chunk.  A row's
 * values are its non-null child items; none is no hash; with first_only the
 * first one is hashed (Envoy before 1.18), else they are sorted and chained:
 * h = seed, then h = xxh64(value, h) for each (one value: xxh64(value, seed)).
 * scratch holds scratch_n spans (the longest row).  Returns -1, or the row
 * whose offsets or item are bad with its hlb_col_check code in *err. */
static int64_t hlb_list_chain(const uint8_t *validity, int64_t validity_size, int64_t loff,
                              const uint8_t *offsets, int64_t offsets_size, int w,
                              const hlb_col *child, int64_t n, int first_only, uint64_t seed,
                              hlb_span *scratch, int64_t scratch_n, uint64_t *out,
                              uint8_t *has, int *err) {
    int64_t i, k;
    *err = HLB_COL_OK;
    if (n < 0 || loff < 0 || (w != 4 && w != 8)) {
        *err = HLB_COL_E_SHAPE;
        return 0;
    }
    if (n == 0) return -1;
    if (offsets_size / w < loff + n + 1) {
        *err = HLB_COL_E_OFFSETS;
        return 0;
    }
    if (validity != NULL && validity_size < (loff + n + 7) / 8) {
        *err = HLB_COL_E_VALIDITY;
        return 0;
    }
    for (i = 0; i < n; i++) {
        int64_t j = loff + i, a, b, cnt = 0;
        uint64_t h = seed;
        out[i] = 0;
        has[i] = 0;
        if (validity != NULL && !((validity[j >> 3] >> (j & 7)) & 1)) continue;
        a = w == 4 ? hlb_ld_i32(offsets + j * 4) : hlb_ld_i64(offsets + j * 8);
        b = w == 4 ? hlb_ld_i32(offsets + j * 4 + 4) : hlb_ld_i64(offsets + j * 8 + 8);
        if (a < 0 || b < a || b > child->length) {
            *err = HLB_COL_E_OFF_DATA;
            return i;
        }
        if (b - a > scratch_n) {
            *err = HLB_COL_E_SHAPE;
            return i;
        }
        for (k = a; k < b; k++) {
            const uint8_t *p;
            int64_t len;
            int r;
            if (child->kind == HLB_COL_NULL || hlb_col_null(child, k)) continue;
            r = hlb_col_row(child, k, &p, &len);
            if (r != HLB_COL_OK) {
                *err = r;
                return i;
            }
            scratch[cnt].p = p;
            scratch[cnt].n = len;
            cnt++;
            if (first_only) break;
        }
        if (cnt == 0) continue;
        if (cnt > 16) {
            qsort(scratch, (size_t)cnt, sizeof(hlb_span), hlb_span_cmp);
        } else {  /* a few values (the usual case): insertion sort, no calls */
            int64_t x, y;
            for (x = 1; x < cnt; x++) {
                hlb_span t = scratch[x];
                for (y = x; y > 0 && hlb_span_cmp(&scratch[y - 1], &t) > 0; y--)
                    scratch[y] = scratch[y - 1];
                scratch[y] = t;
            }
        }
        for (k = 0; k < cnt; k++) h = hlb_xxh64(scratch[k].p, (size_t)scratch[k].n, h);
        out[i] = h;
        has[i] = 1;
    }
    return -1;
}

#endif /* HASHLB_HASHMANY_H */
