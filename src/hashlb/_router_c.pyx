# cython: language_level=3, freethreading_compatible=True
"""The router's per-request hot path, compiled: the twin of ``_router_py.py``.

:class:`Route` is built without its ``__init__`` (``_new_route``, from a
freelist), and ``_RouteCore`` chooses the subset through the compiled
picker's C method (``cimport`` of ``_subset_c.pxd``): for a Maglev subset a
route makes no Python-level call apart from the policy's hash.  Keep names and
signatures identical to ``_router_py.py``; the docstrings both share live in
``_router_doc.py`` (``tests/test_parity.py`` checks all three).
"""
cimport cython
from cpython.buffer cimport PyBUF_SIMPLE, PyBUF_WRITABLE, PyBuffer_Release, PyObject_GetBuffer
from cpython.mem cimport PyMem_Free, PyMem_Malloc
from cpython.pycapsule cimport PyCapsule_GetPointer
from cpython.tuple cimport PyTuple_GET_ITEM, PyTuple_GET_SIZE
from libc.stdint cimport int64_t, uint8_t, uint32_t, uint64_t

from hashlb._colread cimport _bad_row, col_close, col_hold, col_open, hlb_col_hash
from hashlb._kernels cimport hlb_fastmod, hlb_fastmod_magic, hlb_fastmod_t
from hashlb._tables cimport BATCH_CHUNK
from hashlb._ring cimport hlb_ring, hlb_ring_find, hlb_ring_owner
from hashlb._subset_c cimport WeightedSubsetPicker, as_value

from hashlb._subset_config import check_u64 as _check_u64

from hashlb._cpython cimport attach_docs
from hashlb._ready cimport check_ready
from hashlb._router_doc import DOCS as _DOCS
from hashlb._docstrings import public_names as _public_names
from hashlb._ring_c import RingHash as _RingHash

__all__ = _public_names(_DOCS)

cdef object _check_u64_py = _check_u64


@cython.final
@cython.freelist(32)
cdef class Route:

    cdef object _subset
    cdef object _host
    cdef object _hash
    cdef object _set_cookie
    cdef object _lookup_hash
    cdef bint _set  # __init__ (or _new_route) ran

    def __init__(self, subset, host, hash, set_cookie, lookup_hash):
        _fill(self, subset, host, hash, set_cookie, lookup_hash)

    @property
    def subset(self):
        self._ready()
        return self._subset

    @property
    def host(self):
        self._ready()
        return self._host

    @property
    def hash(self):
        self._ready()
        return self._hash

    @property
    def set_cookie(self):
        self._ready()
        return self._set_cookie

    @property
    def lookup_hash(self):
        self._ready()
        return self._lookup_hash

    cdef int _ready(self) except -1:
        return check_ready(self, self._set, "Route")

    cdef tuple _fields(self):
        self._ready()
        return (self._subset, self._host, self._hash, self._set_cookie, self._lookup_hash)

    def __iter__(self):
        return iter(self._fields())

    def __eq__(self, other):
        if not isinstance(other, Route):
            return NotImplemented
        return self._fields() == (<Route>other)._fields()

    def __hash__(self):
        return hash(self._fields())

    def __reduce__(self):
        return (Route, self._fields())

    def __repr__(self):
        if not self._set:
            return "<Route object (not initialised)>"
        return (
            f"Route(subset={self._subset!r}, host={self._host!r}, hash={self._hash!r}, "
            f"set_cookie={self._set_cookie!r}, lookup_hash={self._lookup_hash!r})"
        )


cdef inline void _fill(Route r, object subset, object host, object h, object cookie, object lh):
    r._set = True
    r._subset = subset
    r._host = host
    r._hash = h
    r._set_cookie = cookie
    r._lookup_hash = lh


cdef inline Route _new_route(object subset, object host, object h, object cookie, object lh):
    """Return a Route without the ``__init__`` call (the hot path's constructor)."""
    cdef Route r = Route.__new__(Route)
    _fill(r, subset, host, h, cookie, lh)
    return r


@cython.final
cdef class _RouteCore:
    """The per-request hot path of :class:`~hashlb.Router` (see ``_router_py._RouteCore``).

    For a Maglev subset the host is ``hosts[table[h % size]]`` (spec §5.3),
    read from the table's memoryview without a Python-level call; any other
    table is asked through its ``lookup``.
    """

    cdef object _hash_fn
    cdef bint _generates
    cdef WeightedSubsetPicker _picker
    cdef tuple _names
    cdef tuple _lookups
    cdef tuple _views  # keeps the Maglev table memoryviews alive
    cdef tuple _hosts  # per subset: the table's hosts (Maglev fast path)
    cdef object _getrandbits
    cdef bint _sticky
    cdef object _value_fn
    cdef Py_ssize_t _n
    cdef const void **_tab  # per subset: Maglev table data, or NULL
    cdef uint64_t *_size
    cdef int *_wide  # 1 for uint32 items, 0 for uint16

    def __cinit__(self):
        self._tab = NULL
        self._size = NULL
        self._wide = NULL

    def __init__(self, hash_fn, generates, picker, tables, getrandbits, sticky, value_fn):
        cdef Py_ssize_t i, n
        cdef const unsigned char[::1] raw
        # A private copy: tables[i] is read without bounds checks, and memoryview() below
        # can run Python code (a PEP 688 __buffer__) that could shrink a list.
        tables = tuple(tables)
        n = len(tables)
        if self._picker is not None:
            raise TypeError("_RouteCore is immutable; __init__ cannot run twice")
        if not isinstance(picker, WeightedSubsetPicker):
            raise TypeError("picker must be the compiled WeightedSubsetPicker")
        if n != len(picker.names):  # the picker's index selects a table
            raise ValueError(
                f"tables must have one entry per subset ({len(picker.names)}), got {n}"
            )
        # _picker is set last: until then the core is unusable (route() checks it).
        PyMem_Free(self._tab)
        PyMem_Free(self._size)
        PyMem_Free(self._wide)
        self._hash_fn = hash_fn
        self._generates = bool(generates)
        self._names = picker.names
        self._lookups = tuple(t[0] for t in tables)
        self._getrandbits = getrandbits
        self._sticky = bool(sticky)
        self._value_fn = value_fn
        self._n = n
        self._tab = <const void **>PyMem_Malloc(max(n, 1) * sizeof(void *))
        self._size = <uint64_t *>PyMem_Malloc(max(n, 1) * sizeof(uint64_t))
        self._wide = <int *>PyMem_Malloc(max(n, 1) * sizeof(int))
        if not self._tab or not self._size or not self._wide:
            raise MemoryError()
        views = []
        hosts = []
        for i in range(n):
            self._tab[i] = NULL
            self._size[i] = 0
            self._wide[i] = 0
        for i in range(n):
            lookup, view, size, table_hosts = tables[i]
            if view is None:
                hosts.append(table_hosts)
                views.append(None)
                continue
            hosts.append(tuple(table_hosts))  # indexed in C: it must be a tuple
            view = memoryview(view)
            if (view.format not in ("H", "I") or view.ndim != 1 or len(view) != size
                    or size == 0 or not view.c_contiguous):
                raise ValueError("a Maglev table must be a non-empty H or I memoryview of table_size items")
            raw = view.cast("B")
            views.append(view)
            self._tab[i] = <const void *>&raw[0]
            self._size[i] = <uint64_t>size
            self._wide[i] = view.format == "I"
        self._views = tuple(views)
        self._hosts = tuple(hosts)
        self._picker = picker

    def __dealloc__(self):
        PyMem_Free(self._tab)
        PyMem_Free(self._size)
        PyMem_Free(self._wide)

    cdef inline object _host(self, Py_ssize_t i, object lh, uint64_t v):
        cdef const void *tab = self._tab[i]
        cdef uint64_t slot
        cdef Py_ssize_t k
        cdef tuple hosts
        if tab == NULL:
            return self._lookups[i](lh)
        slot = v % self._size[i]
        if self._wide[i]:
            k = (<const uint32_t *>tab)[slot]
        else:
            k = (<const unsigned short *>tab)[slot]
        hosts = <tuple>self._hosts[i]
        if k >= PyTuple_GET_SIZE(hosts):  # the table came from the caller: check its items
            raise IndexError("tuple index out of range")
        return <object>PyTuple_GET_ITEM(hosts, k)

    cdef inline object _draw(self, object request, object h):
        """The subset value when none is given: None (sticky), random, or the configured one."""
        if self._sticky:
            return None
        if self._value_fn is None:
            return self._getrandbits(64)
        return self._value_fn(request, h)

    cdef inline Route _place(self, object h, object value, object cookie):
        """Choose the subset (from *h*, or envoy mode's *value*) and the host; build the Route.

        Envoy mode draws a random lookup hash (for ``h is None``) *after* its value.
        """
        cdef object lh
        cdef uint64_t v
        cdef Py_ssize_t i
        if self._sticky:
            lh = self._getrandbits(64) if h is None else h
            v = as_value(lh)
            i = self._picker._choose_index(v)
        else:
            i = self._picker._choose_index(as_value(value))
            lh = self._getrandbits(64) if h is None else h
            v = as_value(lh)
        return _new_route(self._names[i], self._host(i, lh, v), h, cookie, lh)

    @cython.binding(False)
    def route(self, request):
        """route($self, request, /)
--

Return where *request* goes (see :meth:`hashlb.Router.route`)."""
        cdef object h, cookie = None, result
        check_ready(self, self._picker is not None, "_RouteCore")
        if self._hash_fn is None:
            h = None
        elif self._generates:
            result = self._hash_fn(request)
            h = result.hash
            cookie = result.set_cookie
        else:
            h = self._hash_fn(request)
        return self._place(h, self._draw(request, h), cookie)

    @cython.binding(False)
    def route_hash(self, hash, value=None):
        """route_hash($self, /, hash, value=None)
--

Route a pre-computed hash (see :meth:`hashlb.Router.route_hash`)."""
        cdef object h = None if hash is None else _check_u64_py(hash, "hash")
        check_ready(self, self._picker is not None, "_RouteCore")
        if value is None or self._sticky:  # sticky mode places by the hash alone
            return self._place(h, self._draw(None, h), None)
        return self._place(h, _check_u64_py(value, "value"), None)



# ------------------------------------------------------------ the batch pass

cdef enum:
    _K_NONE = 0    # a subset without a table here: its rows are left to the caller
    _K_MAGLEV = 1  # a Maglev table (uint16 or uint32 items), indexed by pointer
    _K_RING = 2    # a compiled ring (hlb_ring), searched by pointer

cdef uint32_t _NO_HOST = 0xFFFFFFFFU
cdef uint32_t _NEAR = 0xFFFFFFFEU  # a sticky near-tie: decided with the GIL after the pass


cdef struct _Sub:
    int kind
    int wide                 # Maglev: 1 for uint32 items
    const void *tab          # Maglev: the table's items
    uint64_t m               # Maglev: the table size
    hlb_fastmod_t magic      # Maglev: h % m without a division
    const hlb_ring *ring     # ring: the compiled ring
    const uint32_t *index    # table host index -> router host index
    uint32_t n_index


@cython.final
cdef class _BatchPlan:
    """The fused batch pass of ``Router.route_many`` (see ``_router_py._BatchPlan``).

    One loop over the rows, the GIL released: the subset from the picker's
    C ``_choose``, then the host from the subset's Maglev table or compiled
    ring by pointer, mapped to the router's host index.  Sticky near-ties
    (``_choose`` returns -1) are decided after the loop with the GIL.
    """

    cdef WeightedSubsetPicker _picker
    cdef tuple _keep  # the tables, memoryviews and index arrays the pointers point into
    cdef tuple _slow  # the positions of the subsets left to the caller
    cdef _Sub *_subs
    cdef Py_ssize_t _n
    cdef bint _inline_envoy  # envoy mode, total < 2**32: value % total by fastmod, inlined
    cdef uint64_t _total
    cdef hlb_fastmod_t _magic
    cdef const uint64_t *_ends
    cdef Py_ssize_t _last

    def __cinit__(self):
        self._subs = NULL

    def __dealloc__(self):
        PyMem_Free(self._subs)

    def __init__(self, picker, tables):
        cdef Py_ssize_t i, n
        cdef const unsigned char[::1] raw
        cdef const uint32_t[::1] idx
        cdef _Sub *sub
        tables = tuple(tables)
        n = len(tables)
        if self._picker is not None:
            raise TypeError("_BatchPlan is immutable; __init__ cannot run twice")
        if not isinstance(picker, WeightedSubsetPicker):
            raise TypeError("picker must be the compiled WeightedSubsetPicker")
        if n != len(picker.names):
            raise ValueError(
                f"tables must have one entry per subset ({len(picker.names)}), got {n}"
            )
        PyMem_Free(self._subs)  # a failed __init__ before may have left one
        self._subs = <_Sub *>PyMem_Malloc(max(n, 1) * sizeof(_Sub))
        if self._subs == NULL:
            raise MemoryError()
        keep = []
        slow = []
        for i in range(n):
            sub = &self._subs[i]
            sub.kind = _K_NONE
            sub.tab = NULL
            sub.ring = NULL
            sub.index = NULL
            sub.n_index = 0
            sub.m = 0
            sub.wide = 0
            table, view, index = tables[i]
            if table is None:
                continue
            if view is not None:
                view = memoryview(view)
                if (view.format not in ("H", "I") or view.ndim != 1 or len(view) == 0
                        or not view.c_contiguous):
                    raise ValueError("a Maglev table must be a non-empty H or I memoryview")
                raw = view.cast("B")
                keep.append(view)
                sub.kind = _K_MAGLEV
                sub.tab = <const void *>&raw[0]
                sub.wide = view.format == "I"
                sub.m = <uint64_t>len(view)
                sub.magic = hlb_fastmod_magic(sub.m)
            elif isinstance(table, _RingHash) and len(table):
                sub.kind = _K_RING
                cap = table._ring_capsule()
                sub.ring = <const hlb_ring *>PyCapsule_GetPointer(cap, b"hashlb.hlb_ring")
                keep.append(table)
            else:
                slow.append(i)
                continue
            idx = index
            keep.append(index)
            sub.n_index = <uint32_t>len(index)
            sub.index = &idx[0] if len(index) else NULL
        self._keep = tuple(keep)
        self._slow = tuple(slow)
        self._n = n
        cdef WeightedSubsetPicker p = picker
        self._total = p._total
        self._inline_envoy = not p._sticky and 0 < self._total <= 0xFFFFFFFFULL
        if self._inline_envoy:
            self._magic = hlb_fastmod_magic(self._total)
        self._ends = p._ends
        self._last = p._n - 1
        self._picker = picker

    @property
    def slow(self):
        """The positions of the subsets whose rows ``route`` leaves to the caller."""
        check_ready(self, self._picker is not None, "_BatchPlan")
        return self._slow

    def route(self, hashes, values, subsets, hosts):
        """Write the subset and host index of every row into *subsets* and *hosts*.

        *hashes*: the lookup hashes, *values*: the picker's values (the hashes
        in sticky mode), both C-contiguous uint64 arrays of one length;
        *subsets* and *hosts*: writable uint32 arrays of that length.  Rows of
        a subset in :attr:`slow` get :data:`NO_HOST` here.
        """
        cdef Py_buffer hb, vb, sb, ob
        cdef Py_ssize_t n, j, near = 0
        cdef Py_ssize_t i
        cdef int bad = 0
        check_ready(self, self._picker is not None, "_BatchPlan")
        PyObject_GetBuffer(hashes, &hb, PyBUF_SIMPLE)
        try:
            PyObject_GetBuffer(values, &vb, PyBUF_SIMPLE)
            try:
                PyObject_GetBuffer(subsets, &sb, PyBUF_WRITABLE)
                try:
                    PyObject_GetBuffer(hosts, &ob, PyBUF_WRITABLE)
                    try:
                        n = hb.len // 8
                        if vb.len // 8 != n or sb.len // 4 != n or ob.len // 4 != n:
                            raise ValueError("hashes, values, subsets and hosts differ in length")
                        with nogil:
                            bad = self._pass(<const uint64_t *>hb.buf, <const uint64_t *>vb.buf,
                                             <uint32_t *>sb.buf, <uint32_t *>ob.buf, n, &near)
                        if near:
                            bad |= self._near(<const uint64_t *>hb.buf, <const uint64_t *>vb.buf,
                                              <uint32_t *>sb.buf, <uint32_t *>ob.buf, n)
                        if bad:
                            raise IndexError("a table holds a host index out of range")
                    finally:
                        PyBuffer_Release(&ob)
                finally:
                    PyBuffer_Release(&sb)
            finally:
                PyBuffer_Release(&vb)
        finally:
            PyBuffer_Release(&hb)
        return None

    def route_keys(self, chunks, seed, copies, values, hashes, nohash, subsets, hosts):
        """Hash a key column and route its rows in one pass (``route_many(keys=)``).

        *chunks*: a key column (``_columns.key_columns``), hashed with xxh64
        (*seed*) and Istio's *copies* folded (``rotl1(acc) ^ h``) into
        *hashes*; a null row gets 0 there, 1 in *nohash* (a zeroed uint8
        array) and ``NO_HOST`` in *subsets* and *hosts* (the caller routes it
        with its random lookup hash).  The picker's value of a row is
        *values* (envoy mode's, a uint64 array) or, None, its route hash.
        The column is read ``BATCH_CHUNK`` rows at a time and each batch is
        hashed and routed before the next, the GIL released.
        """
        cdef Py_buffer hb, nb, sb, ob, vb
        cdef Py_ssize_t n = 0, near = 0, base = 0, j, row
        cdef int64_t start, count, bad_row = -1
        cdef int err = 0, bad = 0, have_values = values is not None
        cdef uint64_t s_seed = seed, x, acc
        cdef Py_ssize_t k_copies = copies, c
        cdef const uint64_t *vp = NULL
        cdef uint64_t *hp
        cdef uint8_t *np_
        cdef uint32_t *sp
        cdef uint32_t *op
        cdef col_hold hold
        check_ready(self, self._picker is not None, "_BatchPlan")
        if k_copies < 1:
            raise ValueError("copies must be at least 1")
        chunks = list(chunks)
        for chunk in chunks:
            n += chunk[1]
        PyObject_GetBuffer(hashes, &hb, PyBUF_WRITABLE)
        try:
            PyObject_GetBuffer(nohash, &nb, PyBUF_WRITABLE)
            try:
                PyObject_GetBuffer(subsets, &sb, PyBUF_WRITABLE)
                try:
                    PyObject_GetBuffer(hosts, &ob, PyBUF_WRITABLE)
                    try:
                        if have_values:
                            PyObject_GetBuffer(values, &vb, PyBUF_SIMPLE)
                        try:
                            if (hb.len // 8 != n or nb.len != n or sb.len // 4 != n
                                    or ob.len // 4 != n or (have_values and vb.len // 8 != n)):
                                raise ValueError("the column and the outputs differ in length")
                            hp = <uint64_t *>hb.buf
                            np_ = <uint8_t *>nb.buf
                            sp = <uint32_t *>sb.buf
                            op = <uint32_t *>ob.buf
                            if have_values:
                                vp = <const uint64_t *>vb.buf
                            for chunk in chunks:
                                col_open(&hold, chunk, base)
                                try:
                                    with nogil:
                                        start = 0
                                        while start < hold.c.length:
                                            count = hold.c.length - start
                                            if count > BATCH_CHUNK:
                                                count = BATCH_CHUNK
                                            bad_row = hlb_col_hash(
                                                &hold.c, start, count, s_seed, hp + base + start,
                                                np_ + base + start, hold.scratch, &err)
                                            if bad_row >= 0:
                                                break
                                            for j in range(count):
                                                row = base + start + j
                                                if np_[row]:
                                                    sp[row] = _NO_HOST
                                                    op[row] = _NO_HOST
                                                    continue
                                                x = hp[row]
                                                acc = x
                                                for c in range(1, k_copies):
                                                    acc = ((acc << 1) | (acc >> 63)) ^ x
                                                hp[row] = acc
                                                near += self._one(row, acc,
                                                                  vp[row] if have_values else acc,
                                                                  sp, op, &bad)
                                            start += count
                                    if bad_row >= 0:
                                        _bad_row(chunk, bad_row, err, base)
                                finally:
                                    col_close(&hold)
                                base += chunk[1]
                            if near:
                                bad |= self._near_rows(hp, vp, np_, sp, op, n)
                            if bad:
                                raise IndexError("a table holds a host index out of range")
                        finally:
                            if have_values:
                                PyBuffer_Release(&vb)
                    finally:
                        PyBuffer_Release(&ob)
                finally:
                    PyBuffer_Release(&sb)
            finally:
                PyBuffer_Release(&nb)
        finally:
            PyBuffer_Release(&hb)
        return None

    cdef inline Py_ssize_t _envoy(self, uint64_t v) noexcept nogil:
        """Envoy's subset: value % total over the cumulative weights (the picker's _choose)."""
        cdef uint64_t sel = hlb_fastmod(v, self._magic, self._total)
        cdef Py_ssize_t i = 0
        while i < self._last and sel >= self._ends[i]:
            i += 1
        return i

    cdef inline int _one(self, Py_ssize_t row, uint64_t h, uint64_t v, uint32_t *s, uint32_t *o,
                         int *bad) noexcept nogil:
        """Route one row: 1 for a sticky near-tie (left for :meth:`_near_rows`), else 0."""
        cdef Py_ssize_t i = self._envoy(v) if self._inline_envoy else self._picker._choose(v)
        if i < 0:
            s[row] = _NEAR
            o[row] = _NO_HOST
            return 1
        s[row] = <uint32_t>i
        o[row] = self._host(i, h, bad)
        return 0

    cdef int _near_rows(self, const uint64_t *h, const uint64_t *v, const uint8_t *null,
                        uint32_t *s, uint32_t *o, Py_ssize_t n) except -1:
        cdef Py_ssize_t j, i
        cdef int bad = 0
        for j in range(n):
            if s[j] == _NEAR and not null[j]:
                i = self._picker._choose_index(h[j] if v == NULL else v[j])
                s[j] = <uint32_t>i
                o[j] = self._host(i, h[j], &bad)
        return bad

    cdef inline uint32_t _host(self, Py_ssize_t i, uint64_t h, int *bad) noexcept nogil:
        cdef const _Sub *sub = &self._subs[i]
        cdef uint64_t k
        if sub.kind == _K_MAGLEV:
            k = hlb_fastmod(h, sub.magic, sub.m)
            if sub.wide:
                k = (<const uint32_t *>sub.tab)[k]
            else:
                k = (<const unsigned short *>sub.tab)[k]
        elif sub.kind == _K_RING:
            k = hlb_ring_owner(sub.ring, hlb_ring_find(sub.ring, h))
        else:
            return _NO_HOST
        if k >= sub.n_index:  # a table from the caller: never trust an item
            bad[0] = 1
            return _NO_HOST
        return sub.index[k]

    cdef int _pass(self, const uint64_t *h, const uint64_t *v, uint32_t *s, uint32_t *o,
                   Py_ssize_t n, Py_ssize_t *near) noexcept nogil:
        cdef Py_ssize_t j, i
        cdef int bad = 0
        cdef Py_ssize_t ties = 0
        if self._inline_envoy:
            for j in range(n):
                i = self._envoy(v[j])
                s[j] = <uint32_t>i
                o[j] = self._host(i, h[j], &bad)
            near[0] = 0
            return bad
        for j in range(n):
            i = self._picker._choose(v[j])
            if i < 0:
                s[j] = _NEAR
                o[j] = _NO_HOST
                ties += 1
                continue
            s[j] = <uint32_t>i
            o[j] = self._host(i, h[j], &bad)
        near[0] = ties
        return bad

    cdef int _near(self, const uint64_t *h, const uint64_t *v, uint32_t *s, uint32_t *o,
                   Py_ssize_t n) except -1:
        cdef Py_ssize_t j, i
        cdef int bad = 0
        for j in range(n):
            if s[j] == _NEAR:
                i = self._picker._choose_index(v[j])
                s[j] = <uint32_t>i
                o[j] = self._host(i, h[j], &bad)
        return bad


# The shared docstrings (``_router_doc.py``).
attach_docs(globals(), _DOCS)
