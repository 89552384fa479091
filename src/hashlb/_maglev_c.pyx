# cython: language_level=3, freethreading_compatible=True
"""Maglev consistent hashing, compiled: the twin of ``_maglev_py.py``.

Same algorithm, names and signatures as the pure twin (read its module
docstring for the spec references), docstrings from ``_maglev_doc.py``.  The
hot paths (``pick``, ``lookup``, ``lookup_many``, ``pick_many``) hash and
index in C without any Python-level call: ``hash_key`` -> ``hlb_fastmod`` ->
slot -> ``hosts[slot]``.  The batch drivers are the ring's too
(``_tables.pxd``); the fill's pure C helpers are in ``_maglev.h``.  The fill
and the batch lookups run without the GIL.
"""
cimport cython
from cpython.array cimport array, clone
from cpython.bytes cimport PyBytes_AS_STRING, PyBytes_GET_SIZE
from cpython.tuple cimport PyTuple_GET_ITEM, PyTuple_GET_SIZE
from libc.stdint cimport uint16_t, uint32_t, uint64_t
from libc.stdlib cimport calloc, free, malloc, qsort
from libc.string cimport memcmp

from hashlb._kernels cimport hlb_ctz64, hlb_fastmod, hlb_fastmod_magic, hlb_fastmod_t, hlb_xxh64
from hashlb._tables cimport as_hash, hash_key, lookup_into, pick_into
from hashlb._colread cimport index_column

from hashlb._retry import choose as _choose
from hashlb._batch import lookup_args, pick_args
from hashlb._columns import hash_columns, key_columns
from hashlb._pickling import pack_hosts, rebuild_hosts
from hashlb._types import Host, positional_restore
from hashlb._validate import MAGLEV_OPTIONS, MAX_TABLE_SIZE, check_attempt, check_table_size
from hashlb._weights import check_hash, prepare
from hashlb.versions import profile as _profile

from hashlb._cpython cimport attach_docs
from hashlb._ready cimport check_ready
from hashlb._maglev_doc import DOCS as _DOCS
from hashlb._docstrings import public_names as _public_names

__all__ = _public_names(_DOCS, "DEFAULT_TABLE_SIZE", "MAX_TABLE_SIZE")

#: Envoy's default ``table_size``.
DEFAULT_TABLE_SIZE = 65537
# The fill replays Envoy's rounds through a heap of next turns once the
# largest weight exceeds this many times the mean (the round scan would test
# that many hosts per slot); both drivers give the same table (tests force each).
_HEAP_ABOVE = 20.0

cdef object _check_hash = check_hash
cdef object _check_attempt = check_attempt
cdef object _ZERO = 0
cdef object _ONE = 1
cdef array _H_TEMPLATE = array("H")
cdef array _I_TEMPLATE = array("I")

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


# The pure-C helpers of the fill (see _maglev.h).
cdef extern from "_maglev.h" nogil:
    const uint64_t _LAST_ITERATION "HLB_LAST_ITERATION"  # Envoy's last iteration (a u32)
    const uint64_t _NEVER "HLB_NEVER"                    # never due again
    bint _due "hlb_mg_due"(double iteration, double weight, double target)
    uint64_t _next_turn "hlb_mg_next_turn"(double weight, double target, uint64_t lo)
    uint64_t _inverse_mod "hlb_mg_inverse_mod"(uint64_t a, uint64_t m)
    void _sift_down "hlb_mg_sift_down"(uint64_t *heap, Py_ssize_t size, Py_ssize_t pos,
                                       uint64_t key)
    void _replace_top "hlb_mg_replace_top"(uint64_t *heap, Py_ssize_t size, uint64_t key)


# The state of the last slots' direct search (``_place_tail``).
cdef struct _Tail:
    uint64_t n_free
    uint64_t *free_slots   # the free slots, once at most ``tail`` are left
    uint64_t *inv          # skip**-1 mod M per host (0 until first needed)
    hlb_fastmod_t magic


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


cdef void _lookup_batch(const slot_t *tbl, const uint64_t *hs, uint32_t *out, size_t n,
                        hlb_fastmod_t magic, uint64_t m) noexcept nogil:
    cdef size_t i
    for i in range(n):
        out[i] = tbl[hlb_fastmod(hs[i], magic, m)]


# What the batch lookup reads of a Maglev (the ``table`` of ``_maglev_batch``).
cdef struct _View:
    const uint16_t *t16
    const uint32_t *t32
    hlb_fastmod_t magic
    uint64_t m


cdef void _maglev_batch(const void *table, const uint64_t *hs, uint32_t *out,
                        size_t n) noexcept nogil:
    cdef const _View *v = <const _View *>table
    if v.t16 != NULL:
        _lookup_batch(v.t16, hs, out, n, v.magic, v.m)
    else:
        _lookup_batch(v.t32, hs, out, n, v.magic, v.m)




cdef class Maglev:

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
    cdef object _envoy  # the EnvoyProfile (pickled with the table)
    cdef object _pin  # a buffer export of _table: it cannot be resized under _t16/_t32

    def __init__(self, hosts, *, table_size=DEFAULT_TABLE_SIZE, use_hostname=False,
                 locality_weights=None, envoy_version="main"):
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
        cdef uint64_t m = <uint64_t>check_table_size(table_size)
        envoy = _profile(envoy_version)
        cdef bint sorted_fill = envoy.maglev_sorted_fill
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
                if sorted_fill:
                    qsort(e, <size_t>n, sizeof(_Entry), _cmp_entry)
                # Equal keys: order by the remaining Host fields, then index.
                i = 0
                while sorted_fill and i < n:
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
        self._envoy = envoy

    cdef int _ready(self) except -1:
        return check_ready(self, self._hosts is not None, "Maglev")

    cdef _View _view(self):
        cdef _View v
        v.t16 = self._t16
        v.t32 = self._t32
        v.magic = self._magic
        v.m = self._m
        return v

    @property
    def hosts(self):
        self._ready()
        return self._hosts

    @property
    def table(self):
        self._ready()
        return memoryview(self._table).toreadonly()

    @property
    def table_size(self):
        self._ready()
        return self._m

    @property
    def entries_per_host(self):
        self._ready()
        return self._entries

    @property
    def min_entries_per_host(self):
        self._ready()
        return self._min_entries

    @property
    def max_entries_per_host(self):
        self._ready()
        return self._max_entries

    @property
    def nbytes(self):
        self._ready()
        return self._slots * (2 if self._t32 == NULL else 4)

    @property
    def normalized_order(self):
        self._ready()
        return self._order

    @property
    def normalized_weights(self):
        self._ready()
        return self._weights

    @cython.binding(False)
    def lookup(self, hash, attempt=0):
        cdef uint64_t h = as_hash(hash, _check_hash)
        cdef uint64_t a
        if attempt is not _ZERO:
            a = <uint64_t>_check_attempt(attempt)
            if a:
                h ^= (<uint64_t>0) - a
        return _host_at(self, h)

    @cython.binding(False)
    def choose_host(self, hash, *, reject=None, max_attempts=1):
        cdef uint64_t h = as_hash(hash, _check_hash)
        if reject is None and max_attempts is _ONE:
            return _host_at(self, h)
        return _choose(self.lookup, h, reject, max_attempts)

    @cython.binding(False)
    @cython.always_allow_keywords(True)
    def pick(self, key):
        return _host_at(self, hash_key(key))

    def lookup_many(self, hashes, *, out=None):
        cdef _View v = self._view()
        chunks = hash_columns(hashes)
        if chunks is not None:
            self._ready()
            return index_column(chunks, out, &v, _maglev_batch, self._slots != 0, False)
        view, res = lookup_args(hashes, self._slots != 0, out)
        self._ready()
        if self._slots:
            lookup_into(view, res, &v, _maglev_batch)
        return res

    def pick_many(self, keys, *, out=None):
        cdef _View v = self._view()
        self._ready()
        chunks = key_columns(keys)
        if chunks is not None:
            return index_column(chunks, out, &v, _maglev_batch, self._slots != 0, True)
        seq, res = pick_args(keys, self._slots != 0, out)
        pick_into(seq, res, &v, _maglev_batch, self._slots != 0)
        return res

    def __len__(self):
        self._ready()
        return self._slots

    def __repr__(self):
        if self._hosts is None:
            return "<Maglev object (not initialised)>"
        return f"Maglev({len(self._hosts)} hosts, table_size={self._m})"

    def __reduce__(self):
        self._ready()
        values = (self._m, self._use_hostname, self._locality_weights, self._envoy)
        options = dict(zip(MAGLEV_OPTIONS, values, strict=True))
        return (rebuild_hosts, (Maglev, pack_hosts(self._hosts), options))


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


# Pickles of earlier builds call _restore with the options by position.
_restore = positional_restore(Maglev, MAGLEV_OPTIONS)

# The shared docstrings (``_maglev_doc.py``).
attach_docs(globals(), _DOCS)
