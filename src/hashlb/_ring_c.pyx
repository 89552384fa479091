# cython: language_level=3, freethreading_compatible=True
# Text signatures: see docs/explanation/performance-model.rst ("Text signatures").
"""Ring hash (Envoy's ketama ring), compiled: the twin of ``_ring_py.py``.

The algorithm, its exact floating-point order and the tie rule are described
in ``_ring_py.py`` (spec ``envoy-lb.md`` §4); this twin differs only in how
fast it runs.  The build, the storage (hashes, 2-4 byte owners and a prefix
index within 12 bytes per entry) and the bucketed lower bound are the C in
``_ring.h``, explained step by step in
``docs/explanation/performance-model.rst`` ("The ring build, step by
step").  Batch calls release the GIL (the drivers are Maglev's too:
``_tables.pxd``).

Keep names, signatures and docstrings identical to ``_ring_py.py``
(``tests/test_parity.py`` checks them).
"""
from cpython.bytes cimport PyBytes_AS_STRING, PyBytes_GET_SIZE
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

from hashlb._grpc_config import ring_config as _grpc_ring_config
from hashlb._retry import choose as _choose
from hashlb._batch import lookup_args as _lookup_args_py
from hashlb._batch import pick_args as _pick_args_py
from hashlb._validate import check_attempt as _check_attempt_py
from hashlb._validate import check_ring_config as _check_config
from hashlb._validate import renamed as _renamed
from hashlb._validate import uninitialised as _uninitialised
from hashlb._types import Host
from hashlb._weights import check_hash as _check_hash_py
from hashlb._weights import prepare as _prepare

__all__ = ("RingHash",)

# C-level references for the per-call paths; cold paths use the imports above.
cdef object _lookup_args = _lookup_args_py
cdef object _pick_args = _pick_args_py
cdef object _check_attempt = _check_attempt_py
cdef object _check_hash = _check_hash_py
cdef object _ZERO = 0
cdef object _ONE = 1


cdef void _ring_batch(const void *ring, const uint64_t *hs, uint32_t *out,
                      size_t n) noexcept nogil:
    hlb_ring_lookup_many(<const hlb_ring *>ring, hs, out, n)


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
        """Return the ring gRPC's ``ring_hash`` builds for *endpoints* (proxyless gRPC).

        gRPC's rules (spec-2 §20, :mod:`hashlb.grpc`): the sizes are checked,
        then both capped at *ring_size_cap*; a repeated address becomes one
        endpoint whose weight is the sum, at its first position.

        :param endpoints: addresses or :class:`~hashlb.Host` values, in
            resolver order.
        :param int min_ring_size: gRPC's ``minRingSize`` (default 1024).
        :param int max_ring_size: gRPC's ``maxRingSize`` (default 4096).
        :param int ring_size_cap: the channel argument
            ``grpc.lb.ring_hash.ring_size_cap`` (default 4096).
        :raises ~hashlb.ConfigError: a size out of range, or
            ``max_ring_size < min_ring_size``.

        >>> ring = RingHash.grpc(["10.0.0.1:50051", "10.0.0.2:50051", "10.0.0.1:50051"])
        >>> [h.weight for h in ring.hosts], ring.min_ring_size, ring.max_ring_size
        ([2, 1], 1024, 4096)
        >>> RingHash.grpc(["10.0.0.1:50051"], min_ring_size=8192, max_ring_size=8192).max_ring_size
        4096
        """
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
        """choose_host($self, /, hash, *, reject=None, max_attempts=1)
--

Envoy's host-selection loop (``chooseHost``, spec-2 §15.1) over ``lookup(hash, k)``.

        Attempts ``k = 0, 1, ...`` walk the ring; the first host *reject* does
        not refuse wins, else the last attempt's (:meth:`hashlb.Cluster.choose_host`).
        """
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
        """pick($self, /, key)
--

Return the host for *key*: ``lookup(xxh64(key))``.

        :param key: ``str`` (hashed as UTF-8) or a bytes-like object.
        :returns: the host, or ``None`` when the ring is empty.
        :raises TypeError: *key* is not str or bytes-like.

        >>> RingHash([Host("10.0.0.1:80")]).pick("anything")
        Host('10.0.0.1:80')
        """
        cdef uint64_t h = hash_key(key)
        if self._r.n == 0:
            self._ready()
            return None
        return <object>PyTuple_GET_ITEM(
            self._hosts, hlb_ring_owner(&self._r, hlb_ring_find(&self._r, h))
        )

    def lookup_many(self, hashes):
        """Return the host index of each request hash (attempt 0), as uint32.

        :param hashes: uint64 hashes: a C-contiguous buffer or an iterable of ints.
        :returns: host indices, typed by the input; empty when the ring is empty.
        :raises TypeError: *hashes* is neither (see :ref:`batch-contract`).
        :raises ValueError: an int is outside ``[0, 2**64)``.

        The compiled twin releases the GIL while it searches.

        >>> lb = RingHash([Host("a:1"), Host("b:1")])
        >>> list(lb.lookup_many([0, 2**64 - 1])) == [lb.ring[0][1]] * 2
        True
        """
        view, out = _lookup_args(hashes, self._r.n != 0)
        self._ready()
        if self._r.n:
            lookup_into(view, out, &self._r, _ring_batch)
        return out

    def pick_many(self, keys):
        """Return the host index for each key (``lookup_many`` of their xxh64).

        :param keys: ``str`` (hashed as UTF-8) or bytes-like keys, in a sequence.
        :returns: what :meth:`lookup_many` returns for their hashes (typed by
            the input, empty when the ring is empty).
        :raises TypeError: the errors every table's ``pick_many`` raises for
            a bad *keys* or item (see :ref:`batch-contract`).

        >>> lb = RingHash([Host("a:1"), Host("b:1")])
        >>> list(lb.pick_many(["x", b"x"]))[0] == lb.hosts.index(lb.pick("x"))
        True
        """
        self._ready()
        seq, out = _pick_args(keys, self._r.n != 0)
        pick_into(seq, out, &self._r, _ring_batch, self._r.n != 0)
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
    def ring_size(self):
        """Envoy's ``ring_hash_lb.size`` gauge: ``ceil(scale)``, 0 for an empty ring.

        It can differ from ``len(self)``: 75 equal hosts with the default
        sizes give a gauge of 1050 for a ring of 1051 entries (spec §4.2).
        """
        self._ready()
        return self._ring_size

    @property
    def ring_size_gauge(self):
        """Deprecated alias of :attr:`ring_size` (it warns); removed in the next release."""
        _renamed("RingHash.ring_size_gauge", "RingHash.ring_size", 1)
        return self.ring_size

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
