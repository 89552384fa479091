# cython: language_level=3, freethreading_compatible=True
"""Maglev consistent hashing, compiled: the twin of ``_maglev_py.py``.

Same algorithm, names, signatures and docstrings as the pure twin (read its
module docstring for the spec references).  The hot paths (``pick``,
``lookup``, ``lookup_many``, ``pick_many``) hash and index in C without any
Python-level call: ``key_view`` -> ``hlb_xxh64`` -> ``hlb_fastmod`` -> slot ->
``hosts[slot]``.  The fill and the batch loops run without the GIL; with
skewed weights the fill pops the hosts due from a heap of next turns instead
of scanning every host every round (``_fill``), giving the same table.
"""
cimport cython
from cpython.array cimport array, clone
from cpython.buffer cimport (
    PyBUF_SIMPLE,
    PyBUF_WRITABLE,
    PyBuffer_Release,
    PyObject_GetBuffer,
)
from cpython.bytes cimport PyBytes_AS_STRING, PyBytes_CheckExact, PyBytes_GET_SIZE
from cpython.long cimport PyLong_CheckExact
from cpython.object cimport PyObject
from cpython.ref cimport Py_DECREF, Py_INCREF
from cpython.sequence cimport PySequence_Fast, PySequence_Fast_GET_SIZE, PySequence_Fast_ITEMS
from cpython.list cimport PyList_CheckExact
from cpython.tuple cimport PyTuple_CheckExact, PyTuple_GET_ITEM, PyTuple_GET_SIZE
from cpython.unicode cimport (
    PyUnicode_AsUTF8AndSize,
    PyUnicode_Check,
    PyUnicode_CheckExact,
    PyUnicode_DATA,
    PyUnicode_GET_LENGTH,
)
from libc.stdint cimport int64_t, uint16_t, uint32_t, uint64_t
from libc.stdlib cimport calloc, free, malloc, qsort
from libc.string cimport memcmp

from hashlb._cpython cimport PyUnicode_IS_COMPACT_ASCII
from hashlb._kernels cimport (
    hlb_ctz64,
    hlb_fastmod,
    hlb_fastmod_magic,
    hlb_fastmod_t,
    hlb_long_as_u64,
    hlb_prefetch,
    hlb_xxh64,
    key_view,
)

import array as _array_mod

from hashlb._batch import check_keys, hash_buffer, index_output, keys_error
from hashlb._types import Host
from hashlb._validate import short, uninitialised
from hashlb._weights import check_hash, prepare
from hashlb.errors import ConfigError

__all__ = ("DEFAULT_TABLE_SIZE", "MAX_TABLE_SIZE", "Maglev")

#: Envoy's default ``table_size``.
DEFAULT_TABLE_SIZE = 65537
#: The largest table size Envoy's proto documentation allows.
MAX_TABLE_SIZE = 5_000_011
# The fill replays Envoy's rounds through a heap of next turns once the
# largest weight exceeds this many times the mean (the round scan would test
# that many hosts per slot); both drivers give the same table (tests force each).
_HEAP_ABOVE = 20.0

cdef object _check_hash = check_hash
cdef object _index_output = index_output
cdef object _hash_buffer = hash_buffer
cdef object _check_keys = check_keys
cdef object _keys_error = keys_error
cdef object _uninitialised = uninitialised
cdef object _short = short
cdef object _ZERO = 0
cdef array _H_TEMPLATE = array("H")
cdef array _I_TEMPLATE = array("I")
# pick_many gathers this many keys with the GIL, then hashes them without it.
cdef Py_ssize_t _CHUNK = 2048

cdef enum:
    _PREFETCH = 8  # how many keys ahead pick_many prefetches the key objects

# The table's item type: uint16 below 65,536 hosts, else uint32.
ctypedef fused slot_t:
    uint16_t
    uint32_t

# A host of the build, in fill order (sorted by key bytes).
cdef struct _Entry:
    const char *key
    Py_ssize_t key_len
    uint32_t host      # host index
    uint32_t pos       # position in the sort input (iteration order)
    double weight      # normalized weight
    double target      # Envoy's target_weight_
    uint64_t cur       # (offset + skip * next) % M
    uint64_t skip
    uint64_t count


cdef int _cmp_entry(const void *a, const void *b) noexcept nogil:
    cdef const _Entry *x = <const _Entry *>a
    cdef const _Entry *y = <const _Entry *>b
    cdef Py_ssize_t n = x.key_len if x.key_len < y.key_len else y.key_len
    cdef int c = memcmp(x.key, y.key, <size_t>n)
    if c != 0:
        return c
    if x.key_len != y.key_len:
        return -1 if x.key_len < y.key_len else 1
    return -1 if x.pos < y.pos else (1 if x.pos > y.pos else 0)


cdef bint _is_prime(uint64_t n) noexcept nogil:
    cdef uint64_t d = 3
    if n < 2:
        return False
    if n % 2 == 0:
        return n == 2
    while d * d <= n:
        if n % d == 0:
            return False
        d += 2
    return True


cdef uint64_t _check_table_size(object value) except 0:
    if type(value) is not int:
        if isinstance(value, bool) or not hasattr(value, "__index__"):
            raise TypeError(f"table_size must be an int, not {type(value).__name__}")
        value = value.__index__()
    if not 2 <= value <= MAX_TABLE_SIZE:
        raise ConfigError(f"table_size must be a prime in [2, {MAX_TABLE_SIZE}], got {_short(value)}")
    if not _is_prime(<uint64_t>value):
        raise ConfigError(f"The table size of maglev must be prime number (table_size={value})")
    return <uint64_t>value


cdef uint64_t _check_attempt(object value) except? 0xFFFFFFFFFFFFFFFF:
    if type(value) is not int:
        if isinstance(value, bool) or not hasattr(value, "__index__"):
            raise TypeError(f"attempt must be an int, not {type(value).__name__}")
        value = value.__index__()
    if not 0 <= value <= 0xFFFFFFFF:
        raise ValueError(f"attempt must be in [0, 2**32), got {_short(value)}")
    return <uint64_t>value


cdef inline uint64_t _hash_arg(object value) except? 0xFFFFFFFFFFFFFFFF:
    cdef uint64_t v
    if PyLong_CheckExact(value) and hlb_long_as_u64(value, &v):
        return v
    return <uint64_t>_check_hash(value)


cdef uint64_t _inverse_mod(uint64_t a, uint64_t m) noexcept nogil:
    """Return a**-1 mod m for prime m and 0 < a < m (extended Euclid)."""
    cdef int64_t t = 0, new_t = 1, q, tmp
    cdef int64_t r = <int64_t>m, new_r = <int64_t>a
    while new_r != 0:
        q = r // new_r
        tmp = t - q * new_t
        t = new_t
        new_t = tmp
        tmp = r - q * new_r
        r = new_r
        new_r = tmp
    return <uint64_t>(t + <int64_t>m if t < 0 else t)


# Envoy's last iteration (a u32), and "never due again" (see _maglev.h).
cdef extern from "_maglev.h":
    const uint64_t _LAST_ITERATION "HLB_LAST_ITERATION"
    const uint64_t _NEVER "HLB_NEVER"


# The state of the last slots' direct search (``_place_tail``).
cdef struct _Tail:
    uint64_t n_free
    uint64_t *free_slots   # the free slots, once at most ``tail`` are left
    uint64_t *inv          # skip**-1 mod M per host (0 until first needed)
    hlb_fastmod_t magic


cdef inline bint _due(double iteration, double weight, double target) noexcept nogil:
    """Envoy's turn test: does a host take a slot in round *iteration*?

    Do not change: Envoy skips the host if ``iteration * weight_ <
    target_weight_``, its u32 round converted to double (exact; callers
    pass it converted) times a double, compared as doubles (no FMA can form:
    the product feeds a comparison, not an addition; x86-64 and arm64
    doubles have no excess precision).
    """
    return not (iteration * weight < target)


cdef uint64_t _next_turn(double weight, double target, uint64_t lo) noexcept nogil:
    """Return the first iteration ``t >= lo`` with ``_due(t)``, or ``_NEVER``.

    ``_due(t)`` is monotone in ``t`` (``t * weight`` rounds monotonically
    for ``weight >= 0``), so the answer is found by evaluating Envoy's exact
    test: a guess ``ceil(target / weight)`` (the division only guesses, it
    is within one of the answer), widened by doubling until it brackets the
    answer, then bisected.  Usually four tests and one division.
    """
    cdef double est
    cdef uint64_t a, b, c, step
    if lo > _LAST_ITERATION:
        return _NEVER
    if _due(<double>lo, weight, target):
        return lo
    if not _due(<double>_LAST_ITERATION, weight, target):
        return _NEVER
    # Invariant from here: _due(a) is false, _due(b) is true, a < b; so
    # b * weight >= target > a * weight and weight > 0.
    a = lo
    b = _LAST_ITERATION
    est = target / weight
    if est < <double>_LAST_ITERATION:
        c = <uint64_t>est
        if <double>c < est:
            c += 1
        if c <= a:
            c = a + 1
        step = 1
        if _due(<double>c, weight, target):
            b = c
            while b - a > 1:   # widen downwards
                c = b - step if b - a > step else a
                if c == a:
                    break
                if _due(<double>c, weight, target):
                    b = c
                    step <<= 1
                else:
                    a = c
                    break
        else:
            a = c
            while b - a > 1:   # widen upwards
                c = a + step if b - a > step else b
                if c == b:
                    break
                if _due(<double>c, weight, target):
                    b = c
                    break
                a = c
                step <<= 1
    while b - a > 1:
        c = a + ((b - a) >> 1)
        if _due(<double>c, weight, target):
            b = c
        else:
            a = c
    return b


def _next_due(double weight, double target, uint64_t lo):
    """``_next_turn`` for the tests: the first round ``>= lo`` due, or -1 (never)."""
    cdef uint64_t t = _next_turn(weight, target, lo)
    return -1 if t == _NEVER else <object>t


cdef int _place_tail(slot_t *tbl, _Tail *f, _Entry *e, Py_ssize_t n, Py_ssize_t i,
                     const uint64_t *used, uint64_t m, uint64_t filled) noexcept nogil:
    """Place host *i* once at most ``tail`` slots are free.  -1: out of memory.

    Free slot ``s`` is ``((s - cur) * skip**-1) % M`` probes away (M is
    prime); the nearest free slot is the one Envoy's probe loop reaches
    first.  The occupancy bitmap is read once, a word at a time, to list the
    free slots.
    """
    cdef uint64_t j, d, best, best_j, c, word
    if f.free_slots == NULL:
        f.free_slots = <uint64_t *>malloc(<size_t>(m - filled) * sizeof(uint64_t))
        f.inv = <uint64_t *>calloc(<size_t>n, sizeof(uint64_t))   # 0: not computed yet
        if f.free_slots == NULL or f.inv == NULL:
            return -1
        for j in range((m + 63) >> 6):   # word by word: the free bits of each
            word = ~used[j]
            if j == (m - 1) >> 6 and m & 63:
                word &= ((<uint64_t>1) << (m & 63)) - 1
            while word:
                f.free_slots[f.n_free] = (j << 6) | hlb_ctz64(word)
                f.n_free += 1
                word &= word - 1
    # Locals, so the search loop keeps them in registers.
    cdef uint64_t *free_slots = f.free_slots
    cdef uint64_t n_free = f.n_free
    cdef uint64_t back = m - e[i].cur
    if f.inv[i] == 0:   # only the hosts that take a turn now need theirs
        f.inv[i] = _inverse_mod(e[i].skip, m)
    cdef uint64_t inv = f.inv[i]
    cdef hlb_fastmod_t magic = f.magic
    best = m
    best_j = 0
    for j in range(n_free):
        d = hlb_fastmod((free_slots[j] + back) * inv, magic, m)
        if d < best:
            best = d
            best_j = j
    c = free_slots[best_j]
    n_free -= 1
    free_slots[best_j] = free_slots[n_free]
    f.n_free = n_free
    tbl[c] = <slot_t>e[i].host
    c += e[i].skip
    if c >= m:
        c -= m
    e[i].cur = c
    e[i].count += 1
    return 0


cdef inline int _place(slot_t *tbl, _Tail *f, _Entry *e, Py_ssize_t n, Py_ssize_t i,
                       uint64_t *used, uint64_t m, uint64_t filled,
                       uint64_t tail) noexcept nogil:
    """Give host *i* its next slot: the first free one of its permutation.

    While more than *tail* slots are free, probe one by one, as Envoy does,
    in the occupancy bitmap *used* (M bits, cache-resident); then
    ``_place_tail``.  The caller counts *filled*.  -1: out of memory.
    """
    cdef uint64_t c, s
    if m - filled <= tail:
        return _place_tail(tbl, f, e, n, i, used, m, filled)
    c = e[i].cur
    s = e[i].skip
    while (used[c >> 6] >> (c & 63)) & 1:
        c += s
        if c >= m:
            c -= m
    used[c >> 6] |= (<uint64_t>1) << (c & 63)
    tbl[c] = <slot_t>e[i].host
    c += s
    if c >= m:
        c -= m
    e[i].cur = c
    e[i].count += 1
    return 0


cdef inline void _sift_down(uint64_t *heap, Py_ssize_t size, Py_ssize_t pos,
                            uint64_t key) noexcept nogil:
    """Put *key* at *pos* of a binary min-heap of *size* keys and sift it down."""
    cdef Py_ssize_t child
    while True:
        child = 2 * pos + 1
        if child >= size:
            break
        if child + 1 < size and heap[child + 1] < heap[child]:
            child += 1
        if heap[child] >= key:
            break
        heap[pos] = heap[child]
        pos = child
    heap[pos] = key


cdef inline void _replace_top(uint64_t *heap, Py_ssize_t size, uint64_t key) noexcept nogil:
    """Replace the least key of a binary min-heap of *size* keys by *key*.

    A sift-down that picks the smaller child without a branch (the costly
    mispredictions of a heap); the remaining branch is predictable in both
    common cases: a key that stays on top (one heavy host) or sinks to the
    bottom (hosts of similar weight).
    """
    cdef Py_ssize_t pos = 0, child
    cdef Py_ssize_t last = (size - 3) >> 1   # the last node with two children
    cdef uint64_t smaller
    while pos <= last:
        child = 2 * pos + 1
        child += heap[child + 1] < heap[child]
        smaller = heap[child]
        if smaller >= key:
            heap[pos] = key
            return
        heap[pos] = smaller
        pos = child
    child = 2 * pos + 1
    if child < size and heap[child] < key:   # one child left at the bottom
        heap[pos] = heap[child]
        pos = child
    heap[pos] = key


cdef int _scan_rounds(slot_t *tbl, _Entry *e, Py_ssize_t n, uint64_t m, double max_w,
                      uint64_t *used, _Tail *f, uint64_t tail) noexcept nogil:
    """The round scan: every host, every round, as Envoy runs it.  -1: out of memory."""
    cdef uint64_t filled = 0
    cdef uint32_t iteration = 1
    cdef double it
    cdef Py_ssize_t i
    while filled < m:
        it = <double>iteration
        for i in range(n):
            if filled >= m:
                break
            if not _due(it, e[i].weight, e[i].target):
                continue
            e[i].target += max_w
            if _place(tbl, f, e, n, i, used, m, filled, tail) != 0:
                return -1
            filled += 1
        iteration += 1
    return 0


cdef int _heap_rounds(slot_t *tbl, _Entry *e, Py_ssize_t n, uint64_t m, double max_w,
                      uint64_t *used, _Tail *f, uint64_t tail) noexcept nogil:
    """The same turns from a heap of (next due round, position).  -1: out of memory."""
    cdef uint64_t filled = 0
    cdef Py_ssize_t i, size = 0
    cdef uint64_t key, t, nd
    cdef uint64_t *heap = <uint64_t *>malloc(<size_t>n * sizeof(uint64_t))
    cdef int rc = 0
    if heap == NULL:
        return -1
    for i in range(n):
        nd = _next_turn(e[i].weight, e[i].target, 1)
        if nd != _NEVER:
            heap[size] = (nd << 32) | <uint64_t>i
            size += 1
    i = size // 2
    while i > 0:
        i -= 1
        _sift_down(heap, size, i, heap[i])
    while filled < m:
        if size == 0:
            rc = -2  # cannot happen: a host of the largest weight is due every round
            break
        key = heap[0]
        t = key >> 32
        i = <Py_ssize_t>(key & _LAST_ITERATION)
        e[i].target += max_w
        if _place(tbl, f, e, n, i, used, m, filled, tail) != 0:
            rc = -1
            break
        filled += 1
        nd = _next_turn(e[i].weight, e[i].target, t + 1)
        if nd == _NEVER:
            size -= 1
            key = heap[size]
        else:
            key = (nd << 32) | <uint64_t>i
        if size:
            _replace_top(heap, size, key)
    free(heap)
    return rc


cdef int _fill(slot_t *tbl, _Entry *e, Py_ssize_t n, uint64_t m, double max_w,
               bint by_heap) noexcept nogil:
    """Envoy's weighted fill (spec §5.2 step 4).  Returns -1 if out of memory.

    Envoy walks every host in every round (``iteration``) and gives a slot
    to each host whose turn test passes.  Two drivers produce exactly that
    sequence of turns:

    * the round scan (``_scan_rounds``) does what Envoy does; with weights near equal almost
      every host takes a turn each round, so nothing is wasted;
    * *by_heap* (``_heap_rounds``): a min-heap of ``(next due iteration,
      fill position)``.  A
      host's test depends only on its own ``target`` (Envoy's
      ``target_weight_``), which changes only when it takes a turn, so after
      each turn ``_next_turn`` computes, with Envoy's exact test, the next
      iteration that passes; popping in (iteration, position) order replays
      Envoy's rounds without visiting the hosts that are not due.  Costs
      O(log n) per slot instead of O(n) per round, which matters when one
      heavy host takes a turn every round and thousands of light ones almost
      never (about M rounds).

    Either way each turn takes the first free slot of the host's
    permutation (``_place``).
    """
    cdef _Tail f
    cdef uint64_t tail = 1
    cdef int rc
    f.n_free = 0
    f.free_slots = NULL
    f.inv = NULL
    f.magic = hlb_fastmod_magic(m)
    cdef uint64_t *used = <uint64_t *>calloc(<size_t>((m + 63) >> 6), sizeof(uint64_t))
    if used == NULL:
        return -1
    while tail * tail < m:
        tail += 1
    if by_heap:
        rc = _heap_rounds(tbl, e, n, m, max_w, used, &f, tail)
    else:
        rc = _scan_rounds(tbl, e, n, m, max_w, used, &f, tail)
    free(used)
    free(f.free_slots)
    free(f.inv)
    return rc


cdef void _lookup_batch(const slot_t *tbl, const uint64_t *hs, uint32_t *out, Py_ssize_t n,
                        hlb_fastmod_t magic, uint64_t m) noexcept nogil:
    cdef Py_ssize_t i
    for i in range(n):
        out[i] = tbl[hlb_fastmod(hs[i], magic, m)]


cdef struct _Key:
    const char *ptr
    Py_ssize_t len     # -1: ``hash`` already holds the key's hash
    uint64_t hash
    PyObject *obj      # the key (one reference held while the GIL is released)


cdef void _pick_batch(const slot_t *tbl, const _Key *keys, uint32_t *out, Py_ssize_t n,
                      hlb_fastmod_t magic, uint64_t m) noexcept nogil:
    cdef Py_ssize_t i
    cdef uint64_t h
    for i in range(n):
        if keys[i].len >= 0:
            h = hlb_xxh64(keys[i].ptr, <size_t>keys[i].len, 0)
        else:
            h = keys[i].hash
        out[i] = tbl[hlb_fastmod(h, magic, m)]


def _restore(hosts, table_size, use_hostname, locality_weights):
    return Maglev(
        hosts, table_size=table_size, use_hostname=use_hostname, locality_weights=locality_weights
    )


cdef class Maglev:
    """Maglev(hosts, *, table_size=65537, use_hostname=False, locality_weights=None)
--

Envoy's Maglev table: a host for each 64-bit request hash.

    Bit-exact with Envoy's ``MAGLEV`` load balancer (spec §5): for the same
    hosts, weights and request hash it picks the same host.  Build it once
    (tables are immutable and safe to share between threads) and rebuild on
    membership changes.

    Hosts are sorted by hash-key bytes before the fill, so the table does not
    depend on the order of *hosts*; hosts whose keys are equal are ordered by
    their remaining fields (address, weight, hostname, hash_key, locality,
    labels) and then by position.  Each host's hash key is ``hash_key``, else
    ``hostname`` when *use_hostname*, else ``address`` (spec §2).

    Memory: the table holds ``table_size`` slots of 2 bytes (below 65,536
    hosts; 4 bytes above), so at most ~10 MB at the largest size.

    One host: every slot holds it (``entries_per_host == (table_size,)``),
    while :attr:`min_entries_per_host` and :attr:`max_entries_per_host`
    report 1, as newest Envoy's gauges do for its degenerate table.  No
    hosts (or only hosts in zero-weight localities): the table is empty,
    lookups return ``None`` and batch lookups return an empty array.

    :param hosts: an iterable of :class:`~hashlb.Host`; host index =
        position in :attr:`hosts`.
    :param int table_size: a prime ``M`` in ``[2, 5000011]`` (Envoy's
        default 65537).  Choose ``M > 100 * len(hosts)`` for shares within 1%.
    :param bool use_hostname: hash each host's ``hostname`` instead of its
        address (Envoy's ``use_hostname_for_hashing``).
    :param locality_weights: locality name -> weight; normalizes weights per
        locality (spec §3), localities in the mapping's order.  A locality of
        weight 0 gets no slots.
    :raises ValueError: a table size out of range or not prime (the message
        names ``table_size``), a weight sum above ``2**32 - 1``, or a host
        locality missing from *locality_weights*.
    :raises TypeError: an item of *hosts* is not a ``Host``, or an option has
        the wrong type.

    >>> lb = Maglev([Host(f"127.0.0.1:{p}") for p in range(90, 96)], table_size=7)
    >>> list(lb.table)
    [2, 4, 0, 1, 5, 0, 3]
    >>> lb.lookup(9)
    Host('127.0.0.1:90')
    >>> lb.pick("user-42")
    Host('127.0.0.1:90')
    """

    cdef tuple _hosts
    cdef array _table
    cdef const uint16_t *_t16
    cdef const uint32_t *_t32
    cdef uint64_t _m            # table size M
    cdef hlb_fastmod_t _magic
    cdef Py_ssize_t _slots      # len(table): M, or 0 for an empty host set
    cdef tuple _entries
    cdef Py_ssize_t _min_entries
    cdef Py_ssize_t _max_entries
    cdef tuple _order
    cdef tuple _weights
    cdef bint _use_hostname
    cdef object _locality_weights
    cdef object _pin  # a buffer export of _table: it cannot be resized under _t16/_t32

    def __init__(self, hosts, *, table_size=DEFAULT_TABLE_SIZE, use_hostname=False,
                 locality_weights=None):
        cdef Py_ssize_t n, i, j, k, n_hosts
        cdef _Entry *e = NULL
        cdef bint wide
        cdef int rc = 0
        cdef double max_w
        cdef double sum_w = 0.0
        cdef bint by_heap
        cdef uint64_t offset
        cdef list counts
        if self._hosts is not None:
            raise TypeError("Maglev is immutable; __init__ cannot run twice")
        cdef uint64_t m = _check_table_size(table_size)
        prep = prepare(hosts, use_hostname=use_hostname, locality_weights=locality_weights)
        cdef tuple hosts_t = prep.hosts
        cdef tuple order = prep.order
        cdef tuple weights = prep.weights
        cdef tuple keys = prep.keys
        n_hosts = PyTuple_GET_SIZE(hosts_t)
        n = PyTuple_GET_SIZE(order)
        wide = n_hosts >= 65536
        counts = [0] * n_hosts
        table = clone(_I_TEMPLATE if wide else _H_TEMPLATE, 0, False)
        self._min_entries = 0
        self._max_entries = 0
        if n == 1:
            # Envoy's DegenerateMaglevTable: one host takes every slot; the
            # gauges read 1/1 (spec §5.4).
            table = clone(_I_TEMPLATE if wide else _H_TEMPLATE, <Py_ssize_t>m, False)
            k = order[0]
            if wide:
                for i in range(<Py_ssize_t>m):
                    table.data.as_uints[i] = <uint32_t>k
            else:
                for i in range(<Py_ssize_t>m):
                    table.data.as_ushorts[i] = <uint16_t>k
            counts[k] = <Py_ssize_t>m
            self._min_entries = 1
            self._max_entries = 1
        elif n > 1:
            table = clone(_I_TEMPLATE if wide else _H_TEMPLATE, <Py_ssize_t>m, False)
            max_w = prep.max_weight
            e = <_Entry *>malloc(<size_t>n * sizeof(_Entry))
            if e == NULL:
                raise MemoryError()
            try:
                for i in range(n):
                    k = order[i]
                    key = <bytes>PyTuple_GET_ITEM(keys, k)
                    e[i].key = PyBytes_AS_STRING(key)
                    e[i].key_len = PyBytes_GET_SIZE(key)
                    e[i].host = <uint32_t>k
                    e[i].pos = <uint32_t>i
                    e[i].weight = <double>weights[i]
                    e[i].target = 0.0
                    e[i].count = 0
                qsort(e, <size_t>n, sizeof(_Entry), _cmp_entry)
                # Equal keys: order by the remaining Host fields, then index.
                i = 0
                while i < n:
                    j = i + 1
                    while (j < n and e[j].key_len == e[i].key_len
                           and memcmp(e[j].key, e[i].key, <size_t>e[i].key_len) == 0):
                        j += 1
                    if j - i > 1:
                        _sort_ties(e, i, j, hosts_t, order, weights, keys)
                    i = j
                for i in range(n):
                    offset = hlb_xxh64(e[i].key, <size_t>e[i].key_len, 0) % m
                    e[i].skip = hlb_xxh64(e[i].key, <size_t>e[i].key_len, 1) % (m - 1) + 1
                    e[i].cur = offset
                    sum_w += e[i].weight
                by_heap = <double>n * max_w > <double>_HEAP_ABOVE * sum_w and <uint64_t>n <= _LAST_ITERATION
                with nogil:
                    if wide:
                        rc = _fill(table.data.as_uints, e, n, m, max_w, by_heap)
                    else:
                        rc = _fill(table.data.as_ushorts, e, n, m, max_w, by_heap)
                if rc == -1:
                    raise MemoryError()
                if rc != 0:  # pragma: no cover - a host of the largest weight is due every round
                    raise RuntimeError("Maglev fill ran out of due hosts")
                self._min_entries = <Py_ssize_t>e[0].count
                for i in range(n):
                    counts[e[i].host] = <Py_ssize_t>e[i].count
                    if <Py_ssize_t>e[i].count < self._min_entries:
                        self._min_entries = <Py_ssize_t>e[i].count
                    if <Py_ssize_t>e[i].count > self._max_entries:
                        self._max_entries = <Py_ssize_t>e[i].count
            finally:
                free(e)
        # Everything that can fail comes before the first assignment to self.
        lw = None if locality_weights is None else dict(locality_weights)
        entries = tuple(counts)
        self._pin = memoryview(table)
        self._hosts = hosts_t
        self._table = table
        self._slots = len(table)
        self._t16 = NULL
        self._t32 = NULL
        if self._slots:
            if wide:
                self._t32 = table.data.as_uints
            else:
                self._t16 = table.data.as_ushorts
        self._m = m
        self._magic = hlb_fastmod_magic(m)
        self._entries = entries
        self._order = order
        self._weights = weights
        self._use_hostname = use_hostname
        self._locality_weights = lw

    cdef int _ready(self) except -1:
        if self._hosts is None:
            raise _uninitialised(self, "Maglev")
        return 0

    @property
    def hosts(self):
        """The hosts, in the order given; a host index is a position here."""
        self._ready()
        return self._hosts

    @property
    def table(self):
        """The table: the host index of each slot (a read-only memoryview).

        ``len(table) == table_size``, or 0 for an empty host set.  Items are
        ``uint16`` below 65,536 hosts, else ``uint32``.
        """
        self._ready()
        return memoryview(self._table).toreadonly()

    @property
    def table_size(self):
        """The table size ``M`` (a prime)."""
        self._ready()
        return self._m

    @property
    def entries_per_host(self):
        """The number of slots each host holds, aligned with :attr:`hosts`."""
        self._ready()
        return self._entries

    @property
    def min_entries_per_host(self):
        """Envoy's ``min_entries_per_host`` gauge (1 for one host, 0 for none)."""
        self._ready()
        return self._min_entries

    @property
    def max_entries_per_host(self):
        """Envoy's ``max_entries_per_host`` gauge (1 for one host, 0 for none)."""
        self._ready()
        return self._max_entries

    @property
    def nbytes(self):
        """Bytes of table storage held (2 or 4 per slot)."""
        self._ready()
        return self._slots * (2 if self._t32 == NULL else 4)

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

    # Hot methods are plain method descriptors (no CyFunction binding): a
    # faster call.  Their signature comes from the "name($self, /, ...)\n--\n\n"
    # docstring prefix, which CPython strips from __doc__ (self is
    # positional-only in both twins, so the signatures match).
    @cython.binding(False)
    def lookup(self, hash, attempt=0):
        """lookup($self, /, hash, attempt=0)
--

Return the host for a request hash: ``hosts[table[hash % M]]``.

        Retry *attempt* ``k > 0`` first XORs the hash with ``2**64 - k``, as
        Envoy's host-selection retries do (spec §5.3).

        :param int hash: the request hash, in ``[0, 2**64)``.
        :param int attempt: the retry attempt, in ``[0, 2**32)``.
        :returns: the host, or ``None`` for an empty host set.
        :raises ValueError: *hash* or *attempt* is out of range.
        :raises TypeError: *hash* or *attempt* is not an int.

        >>> lb = Maglev([Host("10.0.0.1:80"), Host("10.0.0.2:80")], table_size=7)
        >>> lb.lookup(3), lb.lookup(3, attempt=1)
        (Host('10.0.0.1:80'), Host('10.0.0.2:80'))
        """
        cdef uint64_t h = _hash_arg(hash)
        cdef uint64_t a
        if attempt is not _ZERO:
            a = _check_attempt(attempt)
            if a:
                h ^= (<uint64_t>0) - a
        return _host_at(self, h)

    @cython.binding(False)
    @cython.always_allow_keywords(True)
    def pick(self, key):
        """pick($self, /, key)
--

Return the host for a request key: ``lookup(xxh64(key))``.

        :param key: ``str`` (hashed as UTF-8) or a bytes-like object.
        :returns: the host, or ``None`` for an empty host set.
        :raises TypeError: *key* is not str or bytes-like.

        >>> lb = Maglev([Host("10.0.0.1:80"), Host("10.0.0.2:80")], table_size=7)
        >>> lb.pick("alice")
        Host('10.0.0.1:80')
        """
        cdef Py_buffer view
        cdef const char *ptr
        cdef Py_ssize_t n
        cdef uint64_t h
        if PyUnicode_CheckExact(key) and PyUnicode_IS_COMPACT_ASCII(key):
            h = hlb_xxh64(PyUnicode_DATA(key), <size_t>PyUnicode_GET_LENGTH(key), 0)
        elif key_view(key, &view, &ptr, &n, "key"):
            h = hlb_xxh64(ptr, <size_t>n, 0)
            PyBuffer_Release(&view)
        else:
            h = hlb_xxh64(ptr, <size_t>n, 0)
        return _host_at(self, h)

    def lookup_many(self, hashes):
        """Return the host index of every hash (attempt 0), as ``uint32``.

        :param hashes: a C-contiguous uint64 buffer (``numpy.uint64`` array,
            ``array('Q')``), read without copying, or an iterable of ints.
        :returns: a ``numpy.uint32`` array for numpy input, else
            ``array('I')``; empty for an empty host set.
        :raises TypeError: a buffer of another item type.
        :raises ValueError: an int outside ``[0, 2**64)``.

        The compiled twin releases the GIL while it looks up.

        >>> lb = Maglev([Host("10.0.0.1:80"), Host("10.0.0.2:80")], table_size=7)
        >>> list(lb.lookup_many([0, 1, 2, 3]))
        [0, 1, 0, 0]
        """
        cdef Py_buffer src
        cdef Py_buffer dst
        cdef Py_ssize_t n
        view = _hash_buffer(hashes)
        if not self._slots:
            self._ready()
            return _index_output(0, hashes)
        n = len(view)
        out = _index_output(n, hashes)
        PyObject_GetBuffer(view, &src, PyBUF_SIMPLE)
        try:
            PyObject_GetBuffer(out, &dst, PyBUF_WRITABLE)
            try:
                with nogil:
                    if self._t16 != NULL:
                        _lookup_batch(self._t16, <const uint64_t *>src.buf,
                                      <uint32_t *>dst.buf, n, self._magic, self._m)
                    else:
                        _lookup_batch(self._t32, <const uint64_t *>src.buf,
                                      <uint32_t *>dst.buf, n, self._magic, self._m)
            finally:
                PyBuffer_Release(&dst)
        finally:
            PyBuffer_Release(&src)
        return out

    def pick_many(self, keys):
        """Return the host index of every key: ``lookup_many(xxh64(key) ...)``.

        :param keys: a sequence of ``str`` (hashed as UTF-8) or bytes-like keys.
        :returns: a ``numpy.uint32`` array for a numpy array of keys, else
            ``array('I')``; empty for an empty host set.
        :raises TypeError: *keys* is a single str/bytes, not iterable, a
            numpy array that is not 1-D of str, bytes or objects (numbers are
            hashes: pass them to :meth:`lookup_many`), or holds an item that
            is not str or bytes-like (named ``keys[i]``).

        The compiled twin releases the GIL while it hashes and looks up.

        >>> lb = Maglev([Host("10.0.0.1:80"), Host("10.0.0.2:80")], table_size=7)
        >>> list(lb.pick_many(["alice", "bob", b"carol"]))
        [0, 1, 1]
        """
        cdef Py_ssize_t n, i, start, chunk, held
        cdef _Key *buf = NULL
        cdef Py_buffer dst
        cdef PyObject *item
        cdef PyObject **items
        cdef uint32_t *out_p
        cdef bint copied = False
        self._ready()
        if not (PyList_CheckExact(keys) or PyTuple_CheckExact(keys)):
            _check_keys(keys)
        try:
            seq = PySequence_Fast(keys, b"keys must be a sequence")  # a list or tuple: no copy
        except TypeError:
            raise _keys_error(keys) from None
        n = PySequence_Fast_GET_SIZE(seq)
        out = _index_output(n if self._slots else 0, keys)
        chunk = n if n < _CHUNK else _CHUNK
        if chunk == 0:
            chunk = 1
        buf = <_Key *>malloc(<size_t>chunk * sizeof(_Key))
        if buf == NULL:
            raise MemoryError()
        try:
            PyObject_GetBuffer(out, &dst, PyBUF_WRITABLE)
            try:
                out_p = <uint32_t *>dst.buf
                start = 0
                while start < n:
                    # Re-read the list each chunk: another thread may resize it
                    # while the GIL is released.
                    if PySequence_Fast_GET_SIZE(seq) != n:
                        raise RuntimeError("keys changed size during pick_many")
                    items = PySequence_Fast_ITEMS(seq)
                    if n - start < chunk:
                        chunk = n - start
                    held = 0
                    try:
                        for i in range(chunk):
                            if i + _PREFETCH < chunk:
                                # The key objects are scattered in memory; fetch ahead.
                                hlb_prefetch(items[start + i + _PREFETCH])
                            item = items[start + i]
                            buf[i].len = -1
                            if (PyUnicode_CheckExact(<object>item)
                                    and PyUnicode_IS_COMPACT_ASCII(<object>item)):
                                buf[i].ptr = <const char *>PyUnicode_DATA(<object>item)
                                buf[i].len = PyUnicode_GET_LENGTH(<object>item)
                            elif PyUnicode_Check(<object>item):
                                buf[i].ptr = PyUnicode_AsUTF8AndSize(<object>item, &buf[i].len)
                            elif PyBytes_CheckExact(<object>item):
                                buf[i].ptr = PyBytes_AS_STRING(<object>item)
                                buf[i].len = PyBytes_GET_SIZE(<object>item)
                            else:
                                if not copied and PyList_CheckExact(seq):
                                    # Getting a buffer can run Python code (a PEP 688
                                    # __buffer__) that changes the list and frees its item
                                    # array: read a private copy from here on, which holds
                                    # what the list held so far (no Python code ran), as
                                    # the pure twin's tuple(keys) does.
                                    seq = tuple(seq)
                                    copied = True
                                    if PyTuple_GET_SIZE(seq) != n:
                                        raise RuntimeError("keys changed size during pick_many")
                                    items = PySequence_Fast_ITEMS(seq)
                                    item = items[start + i]
                                _hash_other(<object>item, start + i, &buf[i])
                            held = i + 1
                            if buf[i].len >= 0:
                                # Keep the key alive while the GIL is released.
                                buf[i].obj = item
                                Py_INCREF(<object>item)
                        if self._slots:
                            with nogil:
                                if self._t16 != NULL:
                                    _pick_batch(self._t16, buf, out_p + start, chunk,
                                                self._magic, self._m)
                                else:
                                    _pick_batch(self._t32, buf, out_p + start, chunk,
                                                self._magic, self._m)
                    finally:
                        for i in range(held):
                            if buf[i].len >= 0:
                                Py_DECREF(<object>buf[i].obj)
                    start += chunk
            finally:
                PyBuffer_Release(&dst)
        finally:
            free(buf)
        return out

    def __len__(self):
        self._ready()
        return self._slots

    def __repr__(self):
        if self._hosts is None:
            return "<Maglev object (not initialised)>"
        return f"Maglev({len(self._hosts)} hosts, table_size={self._m})"

    def __reduce__(self):
        self._ready()
        return (
            _restore,
            (self._hosts, self._m, self._use_hostname, self._locality_weights),
        )


cdef int _hash_other(object item, Py_ssize_t i, _Key *k) except -1:
    """Hash a key that is neither str nor bytes (a buffer) while holding the GIL."""
    cdef Py_buffer view
    cdef const char *ptr
    cdef Py_ssize_t size
    if key_view(item, &view, &ptr, &size, f"keys[{i}]"):
        k.hash = hlb_xxh64(ptr, <size_t>size, 0)
        PyBuffer_Release(&view)
    else:  # pragma: no cover - str and bytes are handled by the caller
        k.hash = hlb_xxh64(ptr, <size_t>size, 0)
    k.ptr = NULL
    k.len = -1
    return 0


cdef int _sort_ties(_Entry *e, Py_ssize_t i, Py_ssize_t j, tuple hosts, tuple order,
                    tuple weights, tuple keys) except -1:
    """Order e[i:j] (equal keys) by ``(Host._sort_key(), host index)``."""
    cdef Py_ssize_t a
    run = sorted(
        [(e[a].host, e[a].pos) for a in range(i, j)],
        key=lambda hp: (hosts[hp[0]]._sort_key(), hp[0]),
    )
    for a in range(i, j):
        hp = run[a - i]
        e[a].host = <uint32_t>hp[0]
        e[a].pos = <uint32_t>hp[1]
        e[a].weight = <double>weights[hp[1]]
    return 0


cdef inline object _host_at(Maglev self, uint64_t h):
    cdef uint64_t s
    cdef Py_ssize_t i
    if self._t16 != NULL:
        i = self._t16[hlb_fastmod(h, self._magic, self._m)]
    elif self._t32 != NULL:
        i = self._t32[hlb_fastmod(h, self._magic, self._m)]
    else:
        self._ready()
        return None
    # The table's array is reachable (table.obj) and writable: never trust an item.
    if i >= PyTuple_GET_SIZE(self._hosts):
        raise IndexError("tuple index out of range")
    return <object>PyTuple_GET_ITEM(self._hosts, i)
