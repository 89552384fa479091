# cython: language_level=3, freethreading_compatible=True
"""Ring hash (Envoy's ketama ring), compiled: the twin of ``_ring_py.py``.

The algorithm, its exact floating-point order and the tie rule are described
in ``_ring_py.py`` (spec ``envoy-lb.md`` §4).  What differs here is only how
fast it runs:

* build: entry keys ``<hash key>_<i>`` are formatted in one C buffer (the
  decimal suffix is incremented in place) and hashed in C, host by host in
  host-index order; then one MSD radix pass (a counting scatter on the top
  ~log2(n/4) bits of the hash; entry hashes are uniform, so buckets hold
  about 4 entries) and a stable insertion sort per bucket (a merge sort for
  the rare large bucket) finish the sort.  Stable, so ties keep generation
  order (host index, then replica).  A full LSD radix sort (6 scatter
  passes) measured 2-3x slower here: each scatter pass costs as much as the
  whole bucket sort;
* storage: hashes as ``uint64``, host indices in 2 bytes below 65,536 hosts
  (3 below 2**24, else 4), plus a prefix index: ``index[b]`` is the first
  entry whose top ``bits`` bits are ``>= b``.  The index is sized to keep the
  total at <= 12 bytes per entry (average bucket 2-4 entries);
* lookup: the bucket of ``h >> (64 - bits)`` bounds a branchless lower bound,
  so the result is exactly "the first entry >= h, wrapping to 0": entries
  before the bucket have a smaller prefix (so are < h), entries after it a
  larger one (so are > h);
* batch calls release the GIL.

Keep names, signatures and docstrings identical to ``_ring_py.py``
(``tests/test_parity.py`` checks them).
"""
from cpython.buffer cimport (
    PyBUF_SIMPLE,
    PyBUF_WRITABLE,
    PyBuffer_Release,
    PyObject_GetBuffer,
)
from cpython.bytes cimport PyBytes_AS_STRING, PyBytes_GET_SIZE
from cpython.mem cimport PyMem_Free, PyMem_Malloc
from cpython.ref cimport PyObject
from cpython.sequence cimport (
    PySequence_Fast,
    PySequence_Fast_GET_ITEM,
    PySequence_Fast_GET_SIZE,
)
from cpython.list cimport PyList_CheckExact
from cpython.tuple cimport PyTuple_CheckExact, PyTuple_GET_ITEM, PyTuple_GET_SIZE
from libc.stdint cimport uint32_t, uint64_t
from libc.string cimport memset

cimport cython

from hashlb._kernels cimport hlb_xxh64, key_view

from hashlb._batch import hash_buffer as _hash_buffer_py
from hashlb._batch import index_output as _index_output_py
from hashlb._validate import check_attempt as _check_attempt_py
from hashlb._validate import check_key_array as _check_key_array_py
from hashlb._validate import uninitialised as _uninitialised_py
from hashlb._ring_py import _check_config as _check_config_py
from hashlb._types import Host
from hashlb._weights import check_hash as _check_hash_py
from hashlb._weights import prepare as _prepare_py

__all__ = ("RingHash",)

cdef object _hash_buffer = _hash_buffer_py
cdef object _index_output = _index_output_py
cdef object _check_attempt = _check_attempt_py
cdef object _check_config = _check_config_py
cdef object _check_hash = _check_hash_py
cdef object _prepare = _prepare_py
cdef object _check_key_array = _check_key_array_py
cdef object _uninitialised = _uninitialised_py
cdef object _ZERO = 0
cdef enum:
    _CHUNK = 2048  # pick_many hashes keys in chunks of this many (16 KiB of stack)


cdef extern from "Python.h":
    bint PyLong_CheckExact(object o)
    bint PyUnicode_Check(object o)
    bint PyBytes_CheckExact(object o)
    const char *PyUnicode_AsUTF8AndSize(object s, Py_ssize_t *size) except NULL


cdef extern from *:
    """
    #include <math.h>
    #include <stdint.h>
    #include <stdlib.h>
    #include <string.h>
    #include "_hashkernels.h"

    /* A built ring.  hashes: sorted ascending (ties: host index, replica).
     * owners: host index of each entry, `width` bytes little-endian.
     * index: NULL, or 2**bits + 1 bucket starts: index[b] is the first entry
     * whose top bits are >= b (index[2**bits] == n). */
    typedef struct {
        uint64_t *hashes;
        unsigned char *owners;
        uint32_t *index;
        size_t n;
        size_t index_len;
        int width;
        int shift;
    } hlb_ring;

    static void hlb_ring_free(hlb_ring *r) {
        free(r->hashes);
        free(r->owners);
        free(r->index);
        memset(r, 0, sizeof(*r));
    }

    /* The position of the first entry >= h, wrapping to 0 (requires n > 0). */
    static inline size_t hlb_ring_find(const hlb_ring *r, uint64_t h) {
        size_t lo, len;
        if (r->index) {
            size_t b = (size_t)(h >> r->shift);
            lo = r->index[b];
            len = r->index[b + 1] - lo;
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
    #define HLB_DIST 16
    static void hlb_ring_lookup_many(const hlb_ring *r, const uint64_t *hs, uint32_t *out,
                                     size_t m) {
        size_t j;
        if (!r->index || m <= 2 * HLB_DIST) {
            for (j = 0; j < m; j++) out[j] = hlb_ring_owner(r, hlb_ring_find(r, hs[j]));
            return;
        }
        const uint32_t *ix = r->index;
        const int sh = r->shift;
        const size_t w = (size_t)r->width;
        for (j = 0; j < m; j++) {
            if (j + 2 * HLB_DIST < m) __builtin_prefetch(ix + (size_t)(hs[j + 2 * HLB_DIST] >> sh));
            if (j + HLB_DIST < m)
                __builtin_prefetch(r->hashes + ix[(size_t)(hs[j + HLB_DIST] >> sh)]);
            size_t p = hlb_ring_find(r, hs[j]);
            __builtin_prefetch(r->owners + p * w);
            out[j] = (uint32_t)p;
            if (j >= HLB_DIST) out[j - HLB_DIST] = hlb_ring_owner(r, out[j - HLB_DIST]);
        }
        for (j = m - HLB_DIST; j < m; j++) out[j] = hlb_ring_owner(r, out[j]);
    }

    /* Entry counts (spec 4.2), in Envoy's order of double operations:
     * target += scale * w, then add entries while current < target.  The
     * product is stored through a volatile so no compiler can fuse it into an
     * FMA (-ffp-contract), and so is the sum, so no excess precision (x87)
     * survives an addition; current only takes whole values, so the loop
     * "current += 1 while current < target" ends exactly at ceil(target).
     * Returns the total entry count. */
    static size_t hlb_ring_counts(size_t n_iter, const uint32_t *order, const double *weights,
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

    /* Sort entries by hash, stably.  Hashes are uniform, so one counting
     * scatter on the top `bits` bits leaves small buckets (about 4 entries);
     * each is finished with an insertion sort (stable: equal hashes keep
     * generation order), or a merge sort when a bucket is large, which only
     * happens when many hosts share hash keys.  O(n) expected, O(n log n)
     * worst case. */
    typedef struct { uint64_t hash; uint32_t owner; uint32_t pad; } hlb_entry;

    static void hlb_merge_sort(hlb_entry *a, hlb_entry *tmp, size_t n) {
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
     * (counts[h] entries each), stably by hash.  The result is written back
     * to hashes and to owners (`width` bytes each); `scratch` holds n
     * entries.  Small buckets are placed by rank (branch-free counting:
     * rank = entries below it + equal ones before it, so stable); buckets of
     * more than 16 entries are merge-sorted.  Returns 0, or -1 when out of
     * memory. */
    static int hlb_bucket_sort(uint64_t *hashes, const uint32_t *counts, size_t n_hosts,
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

    /* Build the ring: entries of each host in host-index order, hashed,
     * bucket-sorted, then the owner array and the prefix index.
     * Returns 0, or -1 when out of memory. */
    static int hlb_ring_build(hlb_ring *r, size_t n_hosts, const char *const *keys,
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
    """
    ctypedef struct hlb_ring:
        uint64_t *hashes
        unsigned char *owners
        uint32_t *index
        size_t n
        size_t index_len
        int width
        int shift
    void hlb_ring_free(hlb_ring *r) nogil
    size_t hlb_ring_find(const hlb_ring *r, uint64_t h) nogil
    uint32_t hlb_ring_owner(const hlb_ring *r, size_t p) nogil
    void hlb_ring_lookup_many(const hlb_ring *r, const uint64_t *hs, uint32_t *out,
                              size_t m) nogil
    size_t hlb_ring_counts(size_t n_iter, const uint32_t *order, const double *weights,
                           double scale, uint32_t *counts) nogil
    int hlb_ring_build(hlb_ring *r, size_t n_hosts, const char *const *keys,
                       const size_t *key_lens, const uint32_t *counts, size_t n,
                       int murmur) nogil
    double ceil(double x) nogil
    int hlb_long_as_u64(object o, uint64_t *out)


cdef inline uint64_t _as_hash(object value) except? 0xFFFFFFFFFFFFFFFF:
    """Return a request hash as uint64 (fast path for exact ints in range)."""
    cdef uint64_t v
    if PyLong_CheckExact(value) and hlb_long_as_u64(value, &v):
        return v
    return <uint64_t>_check_hash(value)


def _restore(hosts, min_ring_size, max_ring_size, hash_function, use_hostname,
             locality_weights):
    """Rebuild a pickled :class:`RingHash`."""
    return RingHash(
        hosts,
        min_ring_size=min_ring_size,
        max_ring_size=max_ring_size,
        hash_function=hash_function,
        use_hostname=use_hostname,
        locality_weights=locality_weights,
    )


cdef class RingHash:
    """RingHash(hosts, *, min_ring_size=1024, max_ring_size=8388608, hash_function='xx_hash', use_hostname=False, locality_weights=None)
--

    Envoy's ring hash ("ketama") load balancer: a sorted ring of host entries.

    Bit-exact with Envoy's ``RING_HASH`` policy (spec §4): the same hosts,
    options and request hash choose the same host, entry for entry.

    :param hosts: the :class:`~hashlb.Host` endpoints; a host's index is its
        position in :attr:`hosts`.  An empty host set is legal: lookups
        return ``None`` and batch lookups return an empty array.
    :param int min_ring_size: Envoy's ``minimum_ring_size``, in
        ``[1, 8388608]`` (default 1024).
    :param int max_ring_size: Envoy's ``maximum_ring_size``, in
        ``[min_ring_size, 8388608]`` (default 8388608).
    :param str hash_function: ``"xx_hash"`` (Envoy's default) or
        ``"murmur_hash_2"``: how entry keys ``<hash key>_<i>`` are hashed.
        Request hashes (:meth:`pick`) are always xxHash64.
    :param bool use_hostname: hash a host's ``hostname`` instead of its
        address (Envoy's ``use_hostname_for_hashing``).
    :param locality_weights: locality name -> weight.  When given, weights
        are normalized per locality (spec §3), localities in the mapping's
        order; a locality of weight 0 contributes no entries.
    :raises TypeError: a host is not a :class:`~hashlb.Host`, or an option
        has the wrong type.
    :raises ValueError: a ring size is out of range, ``min_ring_size >
        max_ring_size`` ("ring hash: minimum_ring_size (20) >
        maximum_ring_size (10)"), an unknown *hash_function*, a weight sum
        above ``2**32 - 1``, or a host's locality missing from
        *locality_weights*.

    The ring holds ``ceil(scale * sum(w))`` entries, which is at most
    *max_ring_size* plus one entry of floating-point rounding (the 75-host
    quirk), so memory is capped: at most 12 bytes per entry below 65,536
    hosts (see :attr:`nbytes`).  Entries with equal hashes (only when two
    hosts share a hash key) are ordered by host index, then replica number;
    Envoy leaves that order unspecified.

    >>> lb = RingHash([Host("127.0.0.1:90"), Host("127.0.0.1:91")], min_ring_size=4)
    >>> lb
    RingHash(2 hosts, 4 entries, hash_function='xx_hash')
    >>> lb.ring[0]
    (1033482794131418490, 0)
    >>> lb.lookup(0)
    Host('127.0.0.1:90')
    >>> lb.pick("user-42").address
    '127.0.0.1:91'
    """

    cdef hlb_ring _r
    cdef tuple _hosts
    cdef tuple _counts
    cdef tuple _order
    cdef tuple _weights
    cdef tuple _settings
    cdef object _locality_weights
    cdef Py_ssize_t _min_entries
    cdef Py_ssize_t _max_entries
    cdef object _ring_size_gauge

    def __cinit__(self):
        memset(&self._r, 0, sizeof(hlb_ring))

    def __dealloc__(self):
        hlb_ring_free(&self._r)

    def __init__(self, hosts, *, min_ring_size=1024, max_ring_size=8388608,
                 hash_function="xx_hash", use_hostname=False, locality_weights=None):
        if self._hosts is not None:
            raise TypeError("RingHash is immutable; __init__ cannot run twice")
        prep = _prepare(hosts, use_hostname=use_hostname, locality_weights=locality_weights)
        rmin, rmax, fn = _check_config(min_ring_size, max_ring_size, hash_function)
        cdef tuple host_tuple = prep.hosts
        cdef tuple keys = prep.keys
        cdef tuple order = prep.order
        cdef tuple weights = prep.weights
        cdef size_t n_hosts = <size_t>PyTuple_GET_SIZE(host_tuple)
        cdef size_t n_iter = <size_t>PyTuple_GET_SIZE(order)
        cdef uint32_t *counts = NULL
        cdef uint32_t *order_c = NULL
        cdef double *weights_c = NULL
        cdef const char **key_ptrs = NULL
        cdef size_t *key_lens = NULL
        cdef double min_w, scale, rmax_d
        cdef size_t i, total = 0
        cdef int rc = 0, murmur = fn == "murmur_hash_2"
        cdef uint32_t lo = 0, hi = 0, c
        cdef hlb_ring ring
        cdef bint committed = False
        memset(&ring, 0, sizeof(hlb_ring))
        gauge = 0
        # Built into a local ring, committed to self at the end once nothing can fail: a
        # half-built ring is never reachable (a caller may catch an error of __init__).
        try:
            counts = <uint32_t *>PyMem_Malloc((n_hosts + 1) * sizeof(uint32_t))
            if counts == NULL:
                raise MemoryError()
            memset(counts, 0, (n_hosts + 1) * sizeof(uint32_t))
            if n_iter:
                order_c = <uint32_t *>PyMem_Malloc(n_iter * sizeof(uint32_t))
                weights_c = <double *>PyMem_Malloc(n_iter * sizeof(double))
                key_ptrs = <const char **>PyMem_Malloc(n_hosts * sizeof(char *))
                key_lens = <size_t *>PyMem_Malloc(n_hosts * sizeof(size_t))
                if not order_c or not weights_c or not key_ptrs or not key_lens:
                    raise MemoryError()
                for i in range(n_iter):
                    order_c[i] = <uint32_t>(<object>PyTuple_GET_ITEM(order, i))
                    weights_c[i] = <double>(<object>PyTuple_GET_ITEM(weights, i))
                for i in range(n_hosts):
                    key = <object>PyTuple_GET_ITEM(keys, i)
                    key_ptrs[i] = PyBytes_AS_STRING(key)
                    key_lens[i] = <size_t>PyBytes_GET_SIZE(key)
                # scale = std::min(ceil(min_w * Rmin) / min_w, double(Rmax))
                min_w = prep.min_weight
                scale = ceil(min_w * <double>rmin) / min_w
                rmax_d = <double>rmax
                if rmax_d < scale:
                    scale = rmax_d
                gauge = <uint64_t>ceil(scale)
                total = hlb_ring_counts(n_iter, order_c, weights_c, scale, counts)
                lo = counts[order_c[0]]
                hi = lo
                for i in range(n_iter):
                    c = counts[order_c[i]]
                    if c < lo:
                        lo = c
                    if c > hi:
                        hi = c
                if total:
                    with nogil:
                        rc = hlb_ring_build(&ring, n_hosts, key_ptrs, key_lens, counts,
                                            total, murmur)
                    if rc:
                        raise MemoryError()
            counts_t = tuple([counts[i] for i in range(n_hosts)])
            settings = (rmin, rmax, fn, use_hostname)
            lw = None if locality_weights is None else dict(locality_weights)
            hlb_ring_free(&self._r)
            self._r = ring
            committed = True
        finally:
            if not committed:
                hlb_ring_free(&ring)
            PyMem_Free(counts)
            PyMem_Free(order_c)
            PyMem_Free(weights_c)
            PyMem_Free(key_ptrs)
            PyMem_Free(key_lens)
        self._counts = counts_t
        self._order = order
        self._weights = weights
        self._min_entries = lo
        self._max_entries = hi
        self._ring_size_gauge = gauge
        self._settings = settings
        self._locality_weights = lw
        self._hosts = host_tuple

    # -- lookups -----------------------------------------------------------

    # The hot single-key methods are plain method descriptors (no CyFunction
    # binding): a faster call.  Their signature comes from the
    # "name($self, /, ...)\n--\n\n" docstring prefix, which CPython strips
    # from __doc__ (self is positional-only in both twins).
    @cython.binding(False)
    def lookup(self, hash, attempt=0):
        """lookup($self, /, hash, attempt=0)
--

Return the host Envoy picks for a request *hash* on retry *attempt*.

        The first entry whose hash is ``>= hash`` (the first of equal ones),
        wrapping to entry 0 past the last; attempt ``k`` takes the entry
        ``k`` places further on, modulo the ring size (spec §4.4).  This does
        not guarantee a different host.

        :param int hash: the request hash, in ``[0, 2**64)``.
        :param int attempt: the retry attempt, in ``[0, 2**32)`` (0 = first try).
        :returns: the host (the very object in :attr:`hosts`), or ``None``
            when the ring is empty.
        :raises TypeError: *hash* or *attempt* is not an int.
        :raises ValueError: *hash* or *attempt* is out of range.

        >>> lb = RingHash([Host("a:1"), Host("b:1")])
        >>> lb.lookup(2**64 - 1) is lb.lookup(0)
        True
        """
        cdef uint64_t h = _as_hash(hash)
        cdef uint64_t k = 0
        cdef size_t p
        if attempt is not _ZERO:
            k = <uint64_t>_check_attempt(attempt)
        if self._r.n == 0:
            self._ready()
            return None
        p = hlb_ring_find(&self._r, h)
        if k:
            p = <size_t>((p + k) % self._r.n)
        return <object>PyTuple_GET_ITEM(self._hosts, hlb_ring_owner(&self._r, p))

    @cython.binding(False)
    def pick(self, key):
        """pick($self, /, key)
--

Return the host for *key*: ``lookup(xxh64(key))``.

        :param key: ``str`` (hashed as UTF-8) or a bytes-like object.
        :returns: the host, or ``None`` when the ring is empty.
        :raises TypeError: *key* is not str or bytes-like.

        >>> RingHash([Host("10.0.0.1:80")]).pick("anything")
        Host('10.0.0.1:80')
        """
        cdef Py_buffer view
        cdef const char *ptr
        cdef Py_ssize_t size
        cdef uint64_t h
        if key_view(key, &view, &ptr, &size, "key"):
            h = hlb_xxh64(ptr, <size_t>size, 0)
            PyBuffer_Release(&view)
        else:
            h = hlb_xxh64(ptr, <size_t>size, 0)
        if self._r.n == 0:
            self._ready()
            return None
        return <object>PyTuple_GET_ITEM(
            self._hosts, hlb_ring_owner(&self._r, hlb_ring_find(&self._r, h))
        )

    def lookup_many(self, hashes):
        """Return the host index of each request hash (attempt 0), as uint32.

        :param hashes: a C-contiguous uint64 buffer (``numpy.uint64`` array,
            ``array('Q')``) or an iterable of ints in ``[0, 2**64)``.
        :returns: a ``numpy.uint32`` array when *hashes* is a numpy array,
            else ``array('I')``; empty when the ring is empty.
        :raises TypeError: *hashes* is not a uint64 buffer or iterable of ints.
        :raises ValueError: an int is outside ``[0, 2**64)``.

        The compiled twin releases the GIL while it searches.

        >>> lb = RingHash([Host("a:1"), Host("b:1")])
        >>> list(lb.lookup_many([0, 2**64 - 1])) == [lb.ring[0][1]] * 2
        True
        """
        view = _hash_buffer(hashes)
        cdef size_t m = <size_t>len(view)
        self._ready()
        out = _index_output(m if self._r.n else 0, hashes)
        if self._r.n == 0 or m == 0:
            return out
        cdef Py_buffer inb
        cdef Py_buffer outb
        PyObject_GetBuffer(view, &inb, PyBUF_SIMPLE)
        try:
            PyObject_GetBuffer(out, &outb, PyBUF_WRITABLE)
            try:
                with nogil:
                    hlb_ring_lookup_many(&self._r, <const uint64_t *>inb.buf,
                                         <uint32_t *>outb.buf, m)
            finally:
                PyBuffer_Release(&outb)
        finally:
            PyBuffer_Release(&inb)
        return out

    def pick_many(self, keys):
        """Return the host index for each key (``lookup_many`` of their xxh64).

        :param keys: a sequence of ``str`` (hashed as UTF-8) or bytes-like keys.
        :returns: ``array('I')`` of host indices; empty when the ring is empty.
        :raises TypeError: a key is not str or bytes-like, or *keys* is a
            numpy array that is not 1-D of str, bytes or objects (numbers are
            hashes: pass them to :meth:`lookup_many`).

        >>> lb = RingHash([Host("a:1"), Host("b:1")])
        >>> list(lb.pick_many(["x", b"x"]))[0] == lb.hosts.index(lb.pick("x"))
        True
        """
        self._ready()
        if isinstance(keys, (str, bytes)):
            raise TypeError(
                f"keys must be a sequence of str or bytes, not {type(keys).__name__}"
            )
        if not (PyList_CheckExact(keys) or PyTuple_CheckExact(keys)):
            _check_key_array(keys)
        # A list or tuple is read in place (no copy); anything else becomes a list.
        seq = PySequence_Fast(keys, "keys must be a sequence of str or bytes")
        cdef Py_ssize_t m = PySequence_Fast_GET_SIZE(seq)
        cdef Py_ssize_t start, j, count
        cdef Py_buffer view
        cdef Py_buffer outb
        cdef const char *ptr
        cdef Py_ssize_t size
        cdef uint64_t hs[_CHUNK]
        cdef uint32_t *outp = NULL
        cdef bint copied = False
        cdef bint searching = self._r.n != 0 and m != 0
        out = _index_output(m if self._r.n else 0, None)
        if searching:
            PyObject_GetBuffer(out, &outb, PyBUF_WRITABLE)
            outp = <uint32_t *>outb.buf
        try:
            # Hash a chunk under the GIL (the keys are Python objects), then
            # search it with the GIL released.
            for start in range(0, m, _CHUNK):
                count = min(<Py_ssize_t>_CHUNK, m - start)
                for j in range(count):
                    if PySequence_Fast_GET_SIZE(seq) != m:
                        raise RuntimeError("keys changed size during pick_many")
                    key = <object>PySequence_Fast_GET_ITEM(seq, start + j)
                    if (not (PyUnicode_Check(key) or PyBytes_CheckExact(key))
                            and not copied and PyList_CheckExact(seq)):
                        # A buffer's __buffer__ (PEP 688) may run Python code that changes
                        # the list: hash a private copy of it from here on, as the pure
                        # twin's tuple(keys) does (no Python code ran before this point).
                        seq = tuple(seq)
                        copied = True
                    if key_view(key, &view, &ptr, &size, "key"):
                        hs[j] = hlb_xxh64(ptr, <size_t>size, 0)
                        PyBuffer_Release(&view)
                    else:
                        hs[j] = hlb_xxh64(ptr, <size_t>size, 0)
                if searching:
                    with nogil:
                        hlb_ring_lookup_many(&self._r, hs, outp + start, <size_t>count)
        finally:
            if searching:
                PyBuffer_Release(&outb)
        return out

    # -- the table ---------------------------------------------------------

    cdef int _ready(self) except -1:
        if self._hosts is None:
            raise _uninitialised(self, "RingHash")
        return 0

    @property
    def hosts(self):
        """The hosts as given; a host's index is its position here."""
        self._ready()
        return self._hosts

    @property
    def ring(self):
        """The ring as ``(entry_hash, host_index)`` pairs, sorted as Envoy sorts it.

        Built on each access (O(ring size)); equal hashes are ordered by host
        index, then replica number.
        """
        cdef size_t i
        self._ready()
        return tuple([
            (self._r.hashes[i], hlb_ring_owner(&self._r, i)) for i in range(self._r.n)
        ])

    @property
    def entries_per_host(self):
        """The number of ring entries of each host, aligned with :attr:`hosts`."""
        self._ready()
        return self._counts

    @property
    def min_entries_per_host(self):
        """Envoy's ``min_hashes_per_host`` gauge: the fewest entries of an iterated host.

        Hosts in zero-weight localities are not iterated and not counted;
        0 for an empty ring.
        """
        self._ready()
        return self._min_entries

    @property
    def max_entries_per_host(self):
        """Envoy's ``max_hashes_per_host`` gauge: the most entries of an iterated host."""
        self._ready()
        return self._max_entries

    @property
    def ring_size_gauge(self):
        """Envoy's ``ring_hash_lb.size`` gauge: ``ceil(scale)``, 0 for an empty ring.

        It can differ from ``len(self)``: 75 equal hosts with the default
        sizes give a gauge of 1050 for a ring of 1051 entries (spec §4.2).
        """
        self._ready()
        return self._ring_size_gauge

    @property
    def normalized_order(self):
        """Host indices in Envoy's iteration order (``hashlb._weights.Prepared.order``)."""
        self._ready()
        return self._order

    @property
    def normalized_weights(self):
        """Envoy's normalized weights, aligned with :attr:`normalized_order`."""
        self._ready()
        return self._weights

    @property
    def nbytes(self):
        """Bytes of ring storage held: entry hashes, host indices and search index.

        Hashes are uint64 and host indices 2 bytes below 65,536 hosts, so the
        total stays at or below 12 bytes per entry (the compiled twin's
        prefix index included).  The :class:`~hashlb.Host` objects are not
        counted.
        """
        self._ready()
        return (self._r.n * (8 + <size_t>self._r.width)
                + self._r.index_len * sizeof(uint32_t))

    @property
    def min_ring_size(self):
        """The ``min_ring_size`` the ring was built with."""
        self._ready()
        return self._settings[0]

    @property
    def max_ring_size(self):
        """The ``max_ring_size`` the ring was built with."""
        self._ready()
        return self._settings[1]

    @property
    def hash_function(self):
        """The entry-key hash: ``"xx_hash"`` or ``"murmur_hash_2"``."""
        self._ready()
        return self._settings[2]

    def __len__(self):
        """Return the number of ring entries."""
        self._ready()
        return self._r.n

    def __repr__(self):
        if self._hosts is None:
            return "<RingHash object (not initialised)>"
        return (
            f"RingHash({len(self._hosts)} hosts, {self._r.n} entries, "
            f"hash_function={self._settings[2]!r})"
        )

    def __reduce__(self):
        self._ready()
        rmin, rmax, fn, use_hostname = self._settings
        return (_restore, (self._hosts, rmin, rmax, fn, use_hostname, self._locality_weights))
