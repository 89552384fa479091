# cython: language_level=3, freethreading_compatible=True
"""Weighted subset picker, compiled: the twin of ``_subset_py.py``.

The sticky mode's per-subset salts and reciprocal weights are precomputed
in C arrays; a pick is, per eligible subset, one 8-byte xxh64
(``hlb_xxh64_u64`` of ``_hashkernels.h``), one libm ``log`` and one
multiply, with no Python-level call.  A near-tie (the best two float scores
within a relative ``2**-40``, about one key in 10**12) is decided exactly
by ``_subset_config.exact_index``, so both twins compute the same exact
rule (see ``_subset_py``).  Validation is shared too: the ``check_*``
functions of ``_subset_config``.  Keep names, signatures and docstrings identical to
``_subset_py.py`` (``tests/test_parity.py`` checks them).
"""
cimport cython
from cpython.long cimport PyLong_CheckExact
from cpython.mem cimport PyMem_Free, PyMem_Malloc
from cpython.tuple cimport PyTuple_GET_ITEM, PyTuple_GET_SIZE
from libc.math cimport INFINITY, log
from libc.stdint cimport int64_t, uint32_t, uint64_t

from hashlb._kernels cimport hlb_xxh64, hlb_xxh64_u64

from types import MappingProxyType

from hashlb._batch import hash_buffer, index_output
from hashlb._subset_config import check_seed as _check_seed
from hashlb._subset_config import check_u64 as _check_u64
from hashlb._subset_config import check_value as _check_value
from hashlb._subset_config import check_weights as _check_weights
from hashlb._subset_config import exact_index as _exact_index
from hashlb._validate import uninitialised
from hashlb.errors import ConfigError

__all__ = ("Route", "WeightedSubsetPicker")

cdef object _MappingProxyType = MappingProxyType
cdef object _hash_buffer = hash_buffer
cdef object _index_output = index_output
cdef object _check_value_py = _check_value
cdef object _exact_index_py = _exact_index
cdef object _check_u64_py = _check_u64
cdef object _uninitialised = uninitialised


cdef double _TWO_M53 = 1.0 / 9007199254740992.0  # 2**-53, exact
# The float pass decides only when the runner-up's score exceeds the best
# one by this factor; see _subset_py._SAFE.  Read at construction (tests set
# it to inf to send every pick through the exact path).
_SAFE = 1.0 + 2.0**-40
cdef uint32_t _NEAR_TIE = 0xFFFFFFFFU  # pick_many's marker for a near-tie


cdef inline uint64_t _as_value(object value) except? 0xFFFFFFFFFFFFFFFFULL:
    """Return *value* as a uint64, raising the shared check's errors otherwise."""
    cdef uint64_t v
    if PyLong_CheckExact(value):
        try:
            v = value
            return v
        except OverflowError:
            pass
    return <uint64_t>_check_value_py(value)


def _restore(weights, mode, seed):
    """Rebuild a picker when unpickling."""
    return WeightedSubsetPicker(weights, mode=mode, seed=seed)


@cython.final
cdef class WeightedSubsetPicker:
    """WeightedSubsetPicker(weights, *, mode='sticky', seed=0)
--

Choose a subset by weight from a 64-bit value: Envoy's way or sticky.

    :param weights: subset name -> weight (an int in ``[0, 2**32 - 1]``), in
        the order Envoy's ``weighted_clusters`` would list them.  At least one
        weight must be non-zero and the sum must fit in 32 bits.  A weight of
        0 is allowed and never chosen.
    :param str mode: ``"sticky"`` (default): weighted rendezvous hashing, a
        pure function of the value and the weights, with exact proportions
        and minimal movement when weights change.  ``"envoy"``: ``value %
        total`` over the subsets in mapping order, exactly as Envoy picks a
        weighted cluster (spec §9.1).
    :param int seed: the seed of the sticky mode's per-subset salts, in
        ``[0, 2**64)``.  Routers that must agree use the same seed.
    :raises TypeError: *weights* is not a mapping of str to int, or *seed*
        is not an int.
    :raises ~hashlb.ConfigError: no subsets, an empty name, a weight out of
        range, all weights 0, a sum above ``2**32 - 1``, an unknown *mode*
        or a *seed* out of range.

    >>> canary = WeightedSubsetPicker({"safe": 99, "risky": 1})
    >>> canary.pick(0x9E3779B97F4A7C15)
    'safe'
    >>> canary.names, canary.total
    (('safe', 'risky'), 100)
    >>> envoy = WeightedSubsetPicker({"cluster1": 30, "cluster2": 30, "cluster3": 40}, mode="envoy")
    >>> [envoy.pick(v) for v in (115, 445, 560)]
    ['cluster1', 'cluster2', 'cluster3']
    """

    cdef tuple _names
    cdef object _weights
    cdef str _mode
    cdef object _seed
    cdef bint _sticky
    cdef uint64_t _total
    cdef tuple _salts
    cdef tuple _active  # (position, salt, 1/w, w) per eligible subset, for _exact_index
    cdef double _safe  # _SAFE at construction
    cdef Py_ssize_t _n  # number of subsets (names)
    cdef Py_ssize_t _k  # number of eligible (w > 0) subsets
    cdef uint64_t *_salt_a  # [k] salts of the eligible subsets
    cdef double *_inv_w  # [k] 1.0 / w of the eligible subsets
    cdef uint32_t *_pos  # [k] their positions in _names
    cdef uint64_t *_ends  # [n] cumulative interval ends, aligned with _names

    def __cinit__(self):
        self._salt_a = NULL
        self._inv_w = NULL
        self._pos = NULL
        self._ends = NULL

    def __init__(self, weights, *, mode="sticky", seed=0):
        if self._names is not None:
            raise TypeError("WeightedSubsetPicker is immutable; __init__ cannot run twice")
        w = _check_weights(weights)
        if mode not in ("sticky", "envoy"):
            raise ConfigError(f"mode must be 'sticky' or 'envoy', got {mode!r}")
        s = _check_seed(seed)
        names = tuple(w)
        salts = []
        cdef Py_ssize_t n = len(names), k = 0, i
        cdef uint64_t acc = 0
        cdef uint64_t wi
        cdef bytes raw
        for name in names:
            raw = name.encode()
            salts.append(hlb_xxh64(<const char *>raw, <size_t>len(raw), <uint64_t>s))
            if w[name] > 0:
                k += 1
        # _names is set last: until then the picker is unusable (_ready() checks it).
        PyMem_Free(self._salt_a)
        PyMem_Free(self._inv_w)
        PyMem_Free(self._pos)
        PyMem_Free(self._ends)
        self._salt_a = <uint64_t *>PyMem_Malloc(max(k, 1) * sizeof(uint64_t))
        self._inv_w = <double *>PyMem_Malloc(max(k, 1) * sizeof(double))
        self._pos = <uint32_t *>PyMem_Malloc(max(k, 1) * sizeof(uint32_t))
        self._ends = <uint64_t *>PyMem_Malloc(n * sizeof(uint64_t))
        if not self._salt_a or not self._inv_w or not self._pos or not self._ends:
            raise MemoryError()
        k = 0
        for i in range(n):
            wi = w[names[i]]
            acc += wi
            self._ends[i] = acc
            if wi > 0:
                self._salt_a[k] = <uint64_t>salts[i]
                self._inv_w[k] = 1.0 / <double>wi
                self._pos[k] = <uint32_t>i
                k += 1
        self._weights = _MappingProxyType(w)
        self._mode = str(mode)
        self._seed = s
        self._sticky = mode == "sticky"
        self._total = acc
        self._salts = tuple(salts)
        self._active = tuple(
            (i, salts[i], 1.0 / w[names[i]], w[names[i]]) for i in range(n) if w[names[i]] > 0
        )
        self._safe = _SAFE
        self._n = n
        self._k = k
        self._names = names

    def __dealloc__(self):
        PyMem_Free(self._salt_a)
        PyMem_Free(self._inv_w)
        PyMem_Free(self._pos)
        PyMem_Free(self._ends)

    cdef int _ready(self) except -1:
        if self._names is None:
            raise _uninitialised(self, "WeightedSubsetPicker")
        return 0

    @property
    def names(self):
        """The subset names in mapping order; :meth:`pick_index` indexes this."""
        self._ready()
        return self._names

    @property
    def weights(self):
        """The weights, a read-only mapping in the given order."""
        self._ready()
        return self._weights

    @property
    def mode(self):
        """``"sticky"`` or ``"envoy"``."""
        self._ready()
        return self._mode

    @property
    def seed(self):
        """The seed of the sticky mode's salts."""
        self._ready()
        return self._seed

    @property
    def total(self):
        """The sum of the weights (Envoy's ``total``)."""
        self._ready()
        return self._total

    @property
    def salts(self):
        """The sticky mode's per-subset salts, ``xxh64(name, seed)``, aligned with :attr:`names`."""
        self._ready()
        return self._salts

    cdef Py_ssize_t _pick(self, uint64_t v) noexcept nogil:
        """Return the chosen position, or -1 for a near-tie (see ``_exact_index``)."""
        cdef Py_ssize_t i, best_i
        cdef uint64_t selected
        cdef double best, second, score
        if not self._sticky:
            if self._total == 0:  # not initialised: _pick_index raises
                return -1
            selected = v % self._total
            for i in range(self._n):
                if selected < self._ends[i]:
                    return i
            return self._n - 1  # unreachable: selected < total
        if self._k == 1:
            return self._pos[0]
        best_i = 0
        best = second = INFINITY
        for i in range(self._k):
            score = -log(<double><int64_t>((hlb_xxh64_u64(v, self._salt_a[i]) >> 11) | 1) * _TWO_M53) \
                * self._inv_w[i]
            if score < best:
                second = best
                best = score
                best_i = i
            elif score < second:
                second = score
        if second > best * self._safe:
            return self._pos[best_i]
        return -1

    cdef inline Py_ssize_t _pick_index(self, uint64_t v) except -2:
        cdef Py_ssize_t i = self._pick(v)
        if i < 0:
            self._ready()
            i = _exact_index_py(v, self._active)
        return i

    # Hot methods are plain method descriptors (no CyFunction binding): a
    # faster call.  Their signature comes from the "name($self, /, ...)\n--\n\n"
    # docstring prefix, which CPython strips from __doc__ (self is
    # positional-only in both twins, so the signatures match).
    @cython.binding(False)
    @cython.always_allow_keywords(True)
    def pick_index(self, value):
        """pick_index($self, /, value)
--

Return the position in :attr:`names` of the subset chosen for *value*.

        :param int value: the request hash (sticky mode) or Envoy's random,
            header or hash-policy value (envoy mode), in ``[0, 2**64)``.
        :raises TypeError: *value* is not an int.
        :raises ValueError: *value* is out of range.

        >>> WeightedSubsetPicker({"a": 1, "b": 1}, mode="envoy").pick_index(3)
        1
        """
        return self._pick_index(_as_value(value))

    @cython.binding(False)
    @cython.always_allow_keywords(True)
    def pick(self, value):
        """pick($self, /, value)
--

Return the name of the subset chosen for *value*.

        :param int value: the request hash (sticky mode) or Envoy's random,
            header or hash-policy value (envoy mode), in ``[0, 2**64)``.
        :raises TypeError: *value* is not an int.
        :raises ValueError: *value* is out of range.

        >>> WeightedSubsetPicker({"safe": 1, "risky": 0}).pick(12345)
        'safe'
        """
        cdef Py_ssize_t i = self._pick_index(_as_value(value))  # raises if not initialised
        return self._names[i]

    def pick_many(self, values):
        """Return the chosen subset index (into :attr:`names`) for every value.

        :param values: a C-contiguous uint64 buffer (``numpy.uint64`` array,
            ``array('Q')``) or an iterable of ints in ``[0, 2**64)``.
        :returns: uint32 indices: a numpy array for a numpy input, else
            ``array('I')``.  Element *k* equals ``pick_index(values[k])``.
        :raises TypeError: *values* is not a uint64 buffer or iterable of ints.
        :raises ValueError: an int is out of range.

        >>> list(WeightedSubsetPicker({"a": 1, "b": 1}, mode="envoy").pick_many([0, 1, 2]))
        [0, 1, 0]
        """
        view = _hash_buffer(values)
        self._ready()
        cdef Py_ssize_t n = len(view), j, near = 0
        out = _index_output(n, values)
        if n == 0:
            return out
        cdef const uint64_t[::1] h = view
        cdef uint32_t[::1] o = out
        with nogil:
            for j in range(n):
                o[j] = <uint32_t>self._pick(h[j])  # -1 becomes _NEAR_TIE
                if o[j] == _NEAR_TIE:
                    near += 1
        if near:
            for j in range(n):
                if o[j] == _NEAR_TIE:
                    o[j] = <uint32_t>self._pick_index(h[j])
        return out

    def with_weights(self, weights):
        """Return a new picker with *weights* and the same mode and seed.

        :param weights: the new subset name -> weight mapping.
        :raises TypeError: as for the constructor.
        :raises ~hashlb.ConfigError: as for the constructor.

        >>> WeightedSubsetPicker({"safe": 99, "risky": 1}).with_weights({"safe": 95, "risky": 5}).total
        100
        """
        self._ready()
        return WeightedSubsetPicker(weights, mode=self._mode, seed=self._seed)

    def __eq__(self, other):
        if not isinstance(other, WeightedSubsetPicker):
            return NotImplemented
        self._ready()
        return (
            tuple(self._weights.items()) == tuple(other.weights.items())
            and self._mode == other.mode
            and self._seed == other.seed
        )

    def __hash__(self):
        self._ready()
        return hash((tuple(self._weights.items()), self._mode, self._seed))

    def __reduce__(self):
        self._ready()
        return (_restore, (dict(self._weights), self._mode, self._seed))

    def __repr__(self):
        if self._names is None:
            return "<WeightedSubsetPicker object (not initialised)>"
        return (
            f"WeightedSubsetPicker({dict(self._weights)!r}, mode={self._mode!r}, seed={self._seed})"
        )


@cython.final
@cython.freelist(32)
cdef class Route:
    """Route(subset, host, hash, set_cookie, lookup_hash)
--

Where a request goes: the subset, the host, and the hashes that chose them.

    :class:`~hashlb.Router` returns one per request.  Routes compare equal
    field by field and unpack like a tuple, in the order of the parameters.

    :param str subset: the subset (weighted destination) chosen.
    :param host: the :class:`~hashlb.Host` chosen inside the subset.
    :param hash: the route hash from the hash policy, or None when the
        policy yielded none.
    :param set_cookie: the ``Set-Cookie`` header value to send with the
        response (a generated cookie), or None.
    :param int lookup_hash: the hash the host was looked up with: *hash*,
        or the random hash drawn when *hash* is None.

    >>> r = Route("safe", None, 42, None, 42)
    >>> r.subset, r.hash, r.lookup_hash
    ('safe', 42, 42)
    >>> subset, host, h, cookie, lookup_hash = r
    """

    cdef object _subset
    cdef object _host
    cdef object _hash
    cdef object _set_cookie
    cdef object _lookup_hash
    cdef bint _set  # __init__ (or _new_route) ran

    def __init__(self, subset, host, hash, set_cookie, lookup_hash):
        self._set = True
        self._subset = subset
        self._host = host
        self._hash = hash
        self._set_cookie = set_cookie
        self._lookup_hash = lookup_hash

    @property
    def subset(self):
        """The subset (weighted destination) chosen."""
        self._ready()
        return self._subset

    @property
    def host(self):
        """The host chosen inside the subset."""
        self._ready()
        return self._host

    @property
    def hash(self):
        """The route hash from the policy, or None when the policy yielded none."""
        self._ready()
        return self._hash

    @property
    def set_cookie(self):
        """The ``Set-Cookie`` header value to send, or None."""
        self._ready()
        return self._set_cookie

    @property
    def lookup_hash(self):
        """The hash the host was looked up with: :attr:`hash`, or a random one."""
        self._ready()
        return self._lookup_hash

    cdef int _ready(self) except -1:
        if not self._set:
            raise _uninitialised(self, "Route")
        return 0

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


cdef inline Route _new_route(object subset, object host, object h, object cookie, object lh):
    cdef Route r = Route.__new__(Route)
    r._set = True
    r._subset = subset
    r._host = host
    r._hash = h
    r._set_cookie = cookie
    r._lookup_hash = lh
    return r


@cython.final
cdef class _RouteCore:
    """The per-request hot path of :class:`~hashlb.Router` (see ``_subset_py._RouteCore``).

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

    @cython.binding(False)
    def route(self, request):
        """Return where *request* goes (see :meth:`hashlb.Router.route`)."""
        cdef object h, lh, cookie = None, result
        cdef uint64_t v
        cdef Py_ssize_t i
        if self._picker is None:
            raise _uninitialised(self, "_RouteCore")
        if self._hash_fn is None:
            h = None
        elif self._generates:
            result = self._hash_fn(request)
            h = result.hash
            cookie = result.set_cookie
        else:
            h = self._hash_fn(request)
        if self._sticky:
            lh = self._getrandbits(64) if h is None else h
            v = _as_value(lh)
            i = self._picker._pick_index(v)
        else:
            if self._value_fn is None:
                value = self._getrandbits(64)
            else:
                value = self._value_fn(request, h)
            i = self._picker._pick_index(_as_value(value))
            lh = self._getrandbits(64) if h is None else h
            v = _as_value(lh)
        return _new_route(self._names[i], self._host(i, lh, v), h, cookie, lh)

    @cython.binding(False)
    def route_hash(self, hash, value=None):
        """Route a pre-computed hash (see :meth:`hashlb.Router.route_hash`)."""
        cdef object h = None if hash is None else _check_u64_py(hash, "hash")
        cdef object lh
        cdef uint64_t v
        cdef Py_ssize_t i
        if self._picker is None:
            raise _uninitialised(self, "_RouteCore")
        if self._sticky:
            lh = self._getrandbits(64) if h is None else h
            v = _as_value(lh)
            i = self._picker._pick_index(v)
        else:
            if value is not None:
                value = _check_u64_py(value, "value")
            elif self._value_fn is None:
                value = self._getrandbits(64)
            else:
                value = self._value_fn(None, h)
            i = self._picker._pick_index(_as_value(value))
            lh = self._getrandbits(64) if h is None else h
            v = _as_value(lh)
        return _new_route(self._names[i], self._host(i, lh, v), h, None, lh)
