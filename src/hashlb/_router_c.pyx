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
from cpython.mem cimport PyMem_Free, PyMem_Malloc
from cpython.tuple cimport PyTuple_GET_ITEM, PyTuple_GET_SIZE
from libc.stdint cimport uint32_t, uint64_t

from hashlb._subset_c cimport WeightedSubsetPicker, as_value

from hashlb._subset_config import check_u64 as _check_u64

from hashlb._cpython cimport attach_docs
from hashlb._ready cimport check_ready
from hashlb._router_doc import DOCS as _DOCS
from hashlb._docstrings import public_names as _public_names

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



# The shared docstrings (``_router_doc.py``).
attach_docs(globals(), _DOCS)
