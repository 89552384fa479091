# cython: language_level=3, freethreading_compatible=True
"""Ring hash (Envoy's ketama ring), compiled: the twin of ``_ring_py.py``.

The algorithm, its exact floating-point order and the tie rule are described
in ``_ring_py.py`` (spec ``envoy-lb.md`` §4); this twin differs only in how
fast it runs.  The build, the storage (hashes, 2-4 byte owners and a prefix
index within 12 bytes per entry) and the bucketed lower bound are the C in
``_ring.h``, explained step by step in
``docs/explanation/performance-model.rst`` ("The ring build, step by
step").  Batch calls release the GIL (the drivers are Maglev's too:
``_tables.pxd``).

Keep names and signatures identical to ``_ring_py.py``; the docstrings both
share live in ``_ring_doc.py`` (``tests/test_parity.py`` checks all three).
"""
from cpython.bytes cimport PyBytes_AS_STRING, PyBytes_GET_SIZE
from cpython.pycapsule cimport PyCapsule_New
from cpython.mem cimport PyMem_Free, PyMem_Malloc
from cpython.tuple cimport PyTuple_GET_ITEM, PyTuple_GET_SIZE
from libc.math cimport ceil
from libc.stdint cimport uint32_t, uint64_t
from libc.string cimport memset

cimport cython

from hashlb._ring cimport (
    hlb_ring,
    hlb_ring_build,
    hlb_ring_counts,
    hlb_ring_find,
    hlb_ring_free,
    hlb_ring_lookup_many,
    hlb_ring_owner,
)
from hashlb._tables cimport as_hash, hash_key, lookup_into, pick_into
from hashlb._colread cimport index_column

from hashlb._grpc_config import ring_config as _grpc_ring_config
from hashlb._retry import choose as _choose
from hashlb._batch import lookup_args
from hashlb._batch import pick_args
from hashlb._columns import hash_columns, key_columns
from hashlb._validate import check_attempt as _check_attempt_py
from hashlb._validate import check_ring_config as _check_config
from hashlb._validate import renamed as _renamed
from hashlb._validate import RING_OPTIONS
from hashlb._pickling import pack_hosts, rebuild_hosts
from hashlb._types import Host, positional_restore
from hashlb._weights import check_hash as _check_hash_py
from hashlb._weights import prepare as _prepare

from hashlb._cpython cimport attach_docs
from hashlb._ready cimport check_ready
from hashlb._ring_doc import DOCS as _DOCS
from hashlb._docstrings import public_names as _public_names

__all__ = _public_names(_DOCS)

# C-level references for the per-key paths (a batch looks its helpers up once).
cdef object _check_attempt = _check_attempt_py
cdef object _check_hash = _check_hash_py
cdef object _ZERO = 0
cdef object _ONE = 1


cdef void _ring_batch(const void *ring, const uint64_t *hs, uint32_t *out,
                      size_t n) noexcept nogil:
    hlb_ring_lookup_many(<const hlb_ring *>ring, hs, out, n)




cdef class RingHash:

    cdef hlb_ring _r
    cdef tuple _hosts
    cdef tuple _counts
    cdef tuple _order
    cdef tuple _weights
    cdef tuple _settings
    cdef object _locality_weights
    cdef Py_ssize_t _min_entries
    cdef Py_ssize_t _max_entries
    cdef object _ring_size

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
        self._ring_size = gauge
        self._settings = settings
        self._locality_weights = lw
        self._hosts = host_tuple

    @classmethod
    def grpc(cls, endpoints, *, min_ring_size=1024, max_ring_size=4096, ring_size_cap=4096):
        return cls(
            **_grpc_ring_config(
                endpoints,
                min_ring_size=min_ring_size,
                max_ring_size=max_ring_size,
                ring_size_cap=ring_size_cap,
            )
        )

    # -- lookups -----------------------------------------------------------

    @cython.binding(False)
    def lookup(self, hash, attempt=0):
        cdef uint64_t h = as_hash(hash, _check_hash)
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
    def choose_host(self, hash, *, reject=None, max_attempts=1):
        cdef uint64_t h = as_hash(hash, _check_hash)
        if reject is None and max_attempts is _ONE:
            if self._r.n == 0:
                self._ready()
                return None
            return <object>PyTuple_GET_ITEM(
                self._hosts, hlb_ring_owner(&self._r, hlb_ring_find(&self._r, h))
            )
        return _choose(self.lookup, h, reject, max_attempts)

    @cython.binding(False)
    def pick(self, key):
        cdef uint64_t h = hash_key(key)
        if self._r.n == 0:
            self._ready()
            return None
        return <object>PyTuple_GET_ITEM(
            self._hosts, hlb_ring_owner(&self._r, hlb_ring_find(&self._r, h))
        )

    def lookup_many(self, hashes, *, out=None):
        chunks = hash_columns(hashes)
        if chunks is not None:
            self._ready()
            return index_column(chunks, out, &self._r, _ring_batch, self._r.n != 0, False)
        view, res = lookup_args(hashes, self._r.n != 0, out)
        self._ready()
        if self._r.n:
            lookup_into(view, res, &self._r, _ring_batch)
        return res

    def pick_many(self, keys, *, out=None):
        self._ready()
        chunks = key_columns(keys)
        if chunks is not None:
            return index_column(chunks, out, &self._r, _ring_batch, self._r.n != 0, True)
        seq, res = pick_args(keys, self._r.n != 0, out)
        pick_into(seq, res, &self._r, _ring_batch, self._r.n != 0)
        return res

    # -- the table ---------------------------------------------------------

    cdef int _ready(self) except -1:
        return check_ready(self, self._hosts is not None, "RingHash")

    def _ring_capsule(self):
        """A capsule ``"hashlb.hlb_ring"`` of this ring's ``hlb_ring`` (``_ring.h``).

        The router's batch pass (``_router_c._BatchPlan``) looks hashes up in it
        without the GIL; it holds this table while it does (the ring never
        changes after ``__init__``).
        """
        self._ready()
        return PyCapsule_New(<void *>&self._r, b"hashlb.hlb_ring", NULL)

    @property
    def hosts(self):
        self._ready()
        return self._hosts

    @property
    def ring(self):
        cdef size_t i
        self._ready()
        return tuple([
            (self._r.hashes[i], hlb_ring_owner(&self._r, i)) for i in range(self._r.n)
        ])

    @property
    def entries_per_host(self):
        self._ready()
        return self._counts

    @property
    def min_entries_per_host(self):
        self._ready()
        return self._min_entries

    @property
    def max_entries_per_host(self):
        self._ready()
        return self._max_entries

    @property
    def ring_size(self):
        self._ready()
        return self._ring_size

    @property
    def ring_size_gauge(self):
        _renamed("RingHash.ring_size_gauge", "RingHash.ring_size", 1)
        return self.ring_size

    @property
    def normalized_order(self):
        self._ready()
        return self._order

    @property
    def normalized_weights(self):
        self._ready()
        return self._weights

    @property
    def nbytes(self):
        self._ready()
        return (self._r.n * (8 + <size_t>self._r.width)
                + self._r.index_len * sizeof(uint32_t))

    @property
    def min_ring_size(self):
        self._ready()
        return self._settings[0]

    @property
    def max_ring_size(self):
        self._ready()
        return self._settings[1]

    @property
    def hash_function(self):
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
        options = dict(zip(RING_OPTIONS, (*self._settings, self._locality_weights), strict=True))
        return (rebuild_hosts, (RingHash, pack_hosts(self._hosts), options))


# Pickles of earlier builds call _restore with the options by position.
_restore = positional_restore(RingHash, RING_OPTIONS)

# The shared docstrings (``_ring_doc.py``).
attach_docs(globals(), _DOCS)
