# cython: language_level=3, freethreading_compatible=True
"""Bounded load, compiled: the twin of ``_bounded_py.py``.

Same algorithm, names and signatures as the pure twin (read its module
docstring for the spec references), docstrings from
``_bounded_doc.py``.  ``std::mt19937``, the lazy Fisher-Yates shuffle and the
overload rule run in C; only ``lb.lookup`` is a Python-level call.
"""
from cpython.long cimport PyLong_CheckExact
from cpython.tuple cimport PyTuple_GET_ITEM
from cpython.sequence cimport (
    PySequence_Fast,
    PySequence_Fast_GET_ITEM,
    PySequence_Fast_GET_SIZE,
)
from libc.math cimport ceil
from libc.stdint cimport uint32_t, uint64_t
from libc.stdlib cimport free, malloc

from hashlb._kernels cimport hlb_long_as_u64

import threading

from hashlb._bounded_config import host_position as _host_position
from hashlb._bounded_config import layout as _layout_py
from hashlb._types import Host, Lease, rebuild
from hashlb._validate import (
    BOUNDED_LOAD_SIGNATURE,
    MAX_SHUFFLE_N,
    REQUIRED,
    check_balance_factor,
    check_shuffle_n,
    check_uint,
)
from hashlb._weights import check_hash

from hashlb._cpython cimport attach_docs
from hashlb._ready cimport check_ready
from hashlb._bounded_doc import DOCS as _DOCS
from hashlb._docstrings import public_names as _public_names

__all__ = _public_names(_DOCS, "Lease", "MAX_SHUFFLE_N")

cdef object _check_hash = check_hash
cdef object _check_uint_py = check_uint
cdef object _check_shuffle_n = check_shuffle_n
cdef object _check_balance_factor = check_balance_factor
cdef object _layout = _layout_py

# ------------------------------------------------------------ std::mt19937
# Lazy: the state is seeded and twisted one element at a time, just ahead of
# the output that needs it.  Twisting element k in order reads mt[k] and
# mt[k + 1] (not yet twisted) and mt[(k + 397) % 624] (twisted iff it is
# below k), exactly as the standard's whole-block twist does, so the outputs
# are identical; a request usually needs a handful of draws, not 624.
cdef struct _MT:
    uint32_t mt[624]
    int i          # the next element to twist and output
    int seeded     # mt[0:seeded] hold their seed values


cdef void _mt_seed(_MT *r, uint64_t seed) noexcept nogil:
    r.mt[0] = <uint32_t>seed
    r.seeded = 1
    r.i = 0


cdef uint32_t _mt_next(_MT *r) noexcept nogil:
    cdef int k = r.i
    cdef int upto
    cdef uint32_t x, y
    if r.seeded < 624:
        upto = k + 398 if k + 398 < 624 else 624
        while r.seeded < upto:
            x = r.mt[r.seeded - 1]
            r.mt[r.seeded] = <uint32_t>(1812433253u * (x ^ (x >> 30)) + <uint32_t>r.seeded)
            r.seeded += 1
    y = (r.mt[k] & 0x80000000u) | (r.mt[k + 1 if k < 623 else 0] & 0x7FFFFFFFu)
    y = r.mt[k + 397 if k < 227 else k - 227] ^ (y >> 1) ^ (0x9908B0DFu if y & 1 else 0u)
    r.mt[k] = y
    r.i = k + 1 if k < 623 else 0
    y ^= y >> 11
    y ^= (y << 7) & 0x9D2C5680u
    y ^= (y << 15) & 0xEFC60000u
    return y ^ (y >> 18)


cdef uint32_t _mt_uniform(_MT *r, uint32_t k) noexcept nogil:
    """A draw in [0, k): libstdc++'s division-based uniform_int_distribution."""
    cdef uint64_t scaling = (<uint64_t>1 << 32) // k
    cdef uint64_t x
    while True:
        x = _mt_next(r) // scaling
        if x < k:
            return <uint32_t>x


cdef inline uint32_t _shuffle_step(_MT *r, uint32_t *idx, uint32_t i, uint32_t n) noexcept nogil:
    """Step *i* of the lazy Fisher-Yates shuffle of ``idx[0:n]``: swap a draw into ``idx[i]``, return it."""
    cdef uint32_t j = i + _mt_uniform(r, n - i)
    cdef uint32_t tmp = idx[i]
    idx[i] = idx[j]
    idx[j] = tmp
    return idx[i]


cdef uint64_t _check_uint(object value, str field, int bits) except? 0xFFFFFFFFFFFFFFFF:
    """An int in ``[0, 2**bits)``, bits 32 or 64: exact ints in C, the rest by ``check_uint``."""
    cdef uint64_t v
    if PyLong_CheckExact(value) and hlb_long_as_u64(value, &v):
        if bits >= 64 or (v >> bits) == 0:
            return v
    return <uint64_t>_check_uint_py(value, field, bits)


def _mt19937(seed, n):
    cdef _MT r
    cdef uint64_t i, count
    _mt_seed(&r, _check_uint(seed, "seed", 64))
    count = <uint64_t>_check_shuffle_n(n)
    return [_mt_next(&r) for i in range(count)]


def _probe_order(seed, n):
    cdef _MT r
    cdef uint32_t i, count
    _mt_seed(&r, _check_uint(seed, "seed", 64))
    count = <uint32_t>_check_shuffle_n(n)
    cdef uint32_t *idx = <uint32_t *>malloc(<size_t>(count if count else 1) * sizeof(uint32_t))
    if idx == NULL:
        raise MemoryError()
    try:
        for i in range(count):
            idx[i] = i
        for i in range(count):
            _shuffle_step(&r, idx, i, count)
        return [idx[i] for i in range(count)]
    finally:
        free(idx)


cdef inline double _overload(uint32_t active, uint32_t total_slots, double weight) noexcept nogil:
    """Envoy's ``hostOverloadFactor``: active requests per allowed slot."""
    cdef uint32_t slots = <uint32_t>ceil(total_slots * weight)
    if slots < 1:
        slots = 1
    return <double>active / slots


cdef class BoundedLoad:

    cdef object _lb
    cdef tuple _lookups    # per level: its table's lookup
    cdef object _lock
    cdef dict _index
    cdef tuple _hosts
    cdef uint32_t _factor
    cdef Py_ssize_t _n_hosts
    cdef Py_ssize_t _n_levels
    cdef uint32_t _choice[100]  # the level of each hash % 100
    cdef Py_ssize_t *_starts    # level p's candidates: _order[_starts[p]:_starts[p + 1]]
    cdef uint32_t *_order
    cdef double *_weights
    cdef double *_weight_of
    cdef uint32_t *_active
    cdef uint64_t _total       # sum(_active[0:_n_hosts]), kept by acquire/release

    def __cinit__(self, *args, **kwargs):
        self._starts = NULL
        self._order = NULL
        self._weights = NULL
        self._weight_of = NULL
        self._active = NULL

    def __dealloc__(self):
        free(self._starts)
        free(self._order)
        free(self._weights)
        free(self._weight_of)
        free(self._active)

    __signature__ = BOUNDED_LOAD_SIGNATURE

    def __init__(self, lb, *args, hash_balance_factor=REQUIRED):
        cdef Py_ssize_t i, n, k, p, at
        if self._active != NULL:
            raise TypeError("BoundedLoad is immutable; __init__ cannot run twice")
        # *args: the deprecated positional factor (it warns for one release).
        factor = _check_balance_factor(args, hash_balance_factor, 1)
        hosts, index, levels, choice = _layout(lb)
        n = len(hosts)
        k = sum([len(level[1]) for level in levels])
        self._starts = <Py_ssize_t *>malloc(<size_t>(len(levels) + 1) * sizeof(Py_ssize_t))
        self._order = <uint32_t *>malloc(<size_t>(k + 1) * sizeof(uint32_t))
        self._weights = <double *>malloc(<size_t>(k + 1) * sizeof(double))
        self._weight_of = <double *>malloc(<size_t>(n + 1) * sizeof(double))
        self._active = <uint32_t *>malloc(<size_t>(n + 1) * sizeof(uint32_t))
        if (self._starts == NULL or self._order == NULL or self._weights == NULL
                or self._weight_of == NULL or self._active == NULL):
            raise MemoryError()
        for i in range(n):
            self._weight_of[i] = 0.0
            self._active[i] = 0
        at = 0
        for p in range(len(levels)):
            self._starts[p] = at
            _lookup, order, weights = levels[p]
            for i in range(len(order)):
                if not 0 <= order[i] < n:  # layout() maps every level into [0, n)
                    raise ValueError(f"level {p} names host index {order[i]} of {n}")
                self._order[at] = <uint32_t>order[i]
                self._weights[at] = <double>weights[i]
                self._weight_of[order[i]] = <double>weights[i]
                at += 1
        self._starts[len(levels)] = at
        for i in range(100):
            self._choice[i] = 0 if choice is None else <uint32_t>choice[i]
        self._lb = lb
        self._lookups = tuple([level[0] for level in levels])
        self._lock = threading.Lock()
        self._index = index
        self._hosts = hosts
        self._factor = <uint32_t>factor
        self._n_hosts = n
        self._n_levels = len(levels)

    cdef int _ready(self) except -1:
        return check_ready(self, self._hosts is not None, "BoundedLoad")

    @property
    def lb(self):
        self._ready()
        return self._lb

    @property
    def hash_balance_factor(self):
        self._ready()
        return self._factor

    @property
    def active(self):
        cdef Py_ssize_t i
        self._ready()
        with self._lock:
            return tuple([self._active[i] for i in range(self._n_hosts)])

    def lookup(self, hash, active, attempt=0, *, total=None):
        cdef Py_ssize_t i = 0
        cdef Py_ssize_t n_hosts = self._n_hosts
        cdef uint64_t overall = 0
        cdef uint32_t c
        cdef uint32_t *counts
        self._ready()
        if isinstance(active, (str, bytes)):
            raise TypeError(f"active must be a sequence of ints, not {type(active).__name__}")
        try:
            seq = PySequence_Fast(active, b"active must be a sequence of ints")
        except TypeError:
            raise TypeError(
                f"active must be a sequence of ints, not {type(active).__name__}"
            ) from None
        counts = <uint32_t *>malloc(<size_t>(n_hosts + 1) * sizeof(uint32_t))
        if counts == NULL:
            raise MemoryError()
        try:
            # A count's __index__ may run Python code that resizes the list: hold each
            # item and re-read the length at every step (no borrowed item pointer
            # survives the call), which is also how the pure twin's iteration reads it.
            while i < PySequence_Fast_GET_SIZE(seq):
                item = <object>PySequence_Fast_GET_ITEM(seq, i)
                c = <uint32_t>_check_uint(item, "active[i]", 32)
                if i < n_hosts:
                    counts[i] = c
                overall += c
                i += 1
            if i != n_hosts:
                raise ValueError(f"active must have one count per host ({n_hosts}), got {i}")
            if total is not None:
                overall = _check_uint(total, "total", 64)
            return _choose(self, hash, attempt, counts, overall)
        finally:
            free(counts)

    def acquire(self, hash, attempt=0):
        cdef Py_ssize_t i = -1
        self._ready()
        with self._lock:
            host = _choose(self, hash, attempt, self._active, self._total)
            if host is None:
                return Lease(self, -1, None)
            i = self._index[id(host)]
            self._active[i] += 1
            self._total += 1
        return Lease(self, i, host)

    def release(self, host):
        self._ready()
        i = self._index.get(id(host))
        if i is None:
            i = _host_position(self._hosts, host)
        self._release_index(i)

    def _release_index(self, index):
        cdef Py_ssize_t i
        self._ready()
        if not 0 <= index < self._n_hosts:  # a Lease can be made by hand
            raise IndexError(f"host index {index!r:.40} out of range for {self._n_hosts} hosts")
        i = index
        with self._lock:
            if self._active[i] == 0:
                raise ValueError(f"host {self._hosts[i]!r} has no request in flight")
            self._active[i] -= 1
            self._total -= 1

    def __reduce__(self):
        # The table and the factor; the in-flight counts start at zero on load.
        self._ready()
        return (rebuild, (BoundedLoad, (self._lb,), {"hash_balance_factor": self._factor}))

    def __repr__(self):
        if self._hosts is None:
            return "<BoundedLoad object (not initialised)>"
        return f"BoundedLoad({self._lb!r}, hash_balance_factor={self._factor})"


cdef object _choose(BoundedLoad self, object hash, object attempt, const uint32_t *counts,
                    uint64_t overall):
    cdef uint64_t h = _check_hash(hash)
    cdef Py_ssize_t first, least, alt, start
    cdef uint32_t total_slots, i, n, k, p
    cdef double least_factor, factor
    cdef _MT r
    cdef uint32_t *idx
    p = self._choice[h % 100]
    host = (<object>PyTuple_GET_ITEM(self._lookups, p))(h, attempt)
    if host is None:
        return None
    where = self._index.get(id(host))
    if where is None:
        raise ValueError(f"lb.lookup returned {host!r}, not one of lb.hosts")
    first = <Py_ssize_t>where
    # Do not change: Envoy computes this in uint32 arithmetic.
    total_slots = ((<uint32_t>overall + 1u) * self._factor + 99u) // 100u
    least = first
    least_factor = _overload(counts[first], total_slots, self._weight_of[first])
    if least_factor <= 1.0:
        return host
    start = self._starts[p]
    n = <uint32_t>(self._starts[p + 1] - start)
    idx = <uint32_t *>malloc(<size_t>(n + 1) * sizeof(uint32_t))
    if idx == NULL:
        raise MemoryError()
    with nogil:
        _mt_seed(&r, h)
        for i in range(n):
            idx[i] = i
        for i in range(n):
            k = _shuffle_step(&r, idx, i, n)
            alt = self._order[start + k]
            if alt == first:
                continue
            factor = _overload(counts[alt], total_slots, self._weights[start + k])
            if factor <= 1.0:
                least = alt
                break
            if least_factor > factor:
                least = alt
                least_factor = factor
    free(idx)
    return self._hosts[least]



# The shared docstrings (``_bounded_doc.py``).
attach_docs(globals(), _DOCS)
