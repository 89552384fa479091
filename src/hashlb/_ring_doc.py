"""The docstrings the two ``ring`` twins share (``_docstrings.py`` explains the scheme)."""

DOCS: dict[str, str] = {
    "RingHash": """RingHash(hosts, *, min_ring_size=1024, max_ring_size=8388608, hash_function='xx_hash', use_hostname=False, locality_weights=None)
--

Envoy's ring hash ("ketama") load balancer: a sorted ring of host entries.

Bit-exact with Envoy's ``RING_HASH`` policy
(``source/extensions/load_balancing_policies/ring_hash/ring_hash_lb.cc``): the same hosts,
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
    are normalized per locality (``ThreadAwareLoadBalancerBase::refresh``), localities in the mapping's
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
""",
    "RingHash.grpc": """Return the ring gRPC's ``ring_hash`` builds for *endpoints* (proxyless gRPC).

gRPC's rules (gRFC A42, :mod:`hashlb.grpc`): the sizes are checked,
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
""",
    "RingHash.lookup": """lookup($self, /, hash, attempt=0)
--

Return the host Envoy picks for a request *hash* on retry *attempt*.

The first entry whose hash is ``>= hash`` (the first of equal ones),
wrapping to entry 0 past the last; attempt ``k`` takes the entry
``k`` places further on, modulo the ring size (``RingHashLoadBalancer::Ring::chooseHost``).  This does
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
""",
    "RingHash.choose_host": """choose_host($self, /, hash, *, reject=None, max_attempts=1)
--

Envoy's host-selection loop (``ThreadAwareLoadBalancerBase::LoadBalancerImpl::chooseHost``) over ``lookup(hash, k)``.

Attempts ``k = 0, 1, ...`` walk the ring; the first host *reject* does
not refuse wins, else the last attempt's (:meth:`hashlb.Cluster.choose_host`).
""",
    "RingHash.pick": """pick($self, /, key)
--

Return the host for *key*: ``lookup(xxh64(key))``.

:param key: ``str`` (hashed as UTF-8) or a bytes-like object.
:returns: the host, or ``None`` when the ring is empty.
:raises TypeError: *key* is not str or bytes-like.

>>> RingHash([Host("10.0.0.1:80")]).pick("anything")
Host('10.0.0.1:80')
""",
    "RingHash.lookup_many": """Return the host index of each request hash (attempt 0), as uint32.

:param hashes: uint64 hashes: a C-contiguous buffer or an iterable of
    ints, or a column read in place (:ref:`columnar-input`): an Arrow
    ``uint64``/``int64`` array or chunked array, any object with
    ``__arrow_c_array__``/``__arrow_c_stream__``, or a numpy masked
    ``uint64`` array (a null or masked row gives :data:`NO_HOST`).
:param out: a writable C-contiguous ``numpy.uint32`` array of one item
    per hash, written and returned (every row ``NO_HOST`` when the ring
    is empty).
:returns: host indices, typed by the input (a column: ``numpy.uint32``);
    empty when the ring is empty.
:raises TypeError: *hashes* is neither (see :ref:`batch-contract`), or
    a column of another type.
:raises ValueError: an int is outside ``[0, 2**64)``, or an Arrow array
    is inconsistent.

The compiled twin releases the GIL while it searches.

>>> lb = RingHash([Host("a:1"), Host("b:1")])
>>> list(lb.lookup_many([0, 2**64 - 1])) == [lb.ring[0][1]] * 2
True
""",
    "RingHash.pick_many": """Return the host index for each key (``lookup_many`` of their xxh64).

:param keys: ``str`` (hashed as UTF-8) or bytes-like keys, in a
    sequence, or a column read in place (:ref:`columnar-input`): an
    Arrow string/binary/view array or chunked array, any object with
    ``__arrow_c_array__``/``__arrow_c_stream__``, or a 1-D numpy
    ``S``/``U``/``StringDType`` array (a null key gives :data:`NO_HOST`).
:param out: as in :meth:`lookup_many`.
:returns: what :meth:`lookup_many` returns for their hashes (typed by
    the input, empty when the ring is empty).
:raises TypeError: the errors every table's ``pick_many`` raises for
    a bad *keys* or item (see :ref:`batch-contract`), or a column of
    another type.

>>> lb = RingHash([Host("a:1"), Host("b:1")])
>>> list(lb.pick_many(["x", b"x"]))[0] == lb.hosts.index(lb.pick("x"))
True
""",
    "RingHash.ring": """The ring as ``(entry_hash, host_index)`` pairs, sorted as Envoy sorts it.

Built on each access (O(ring size)); equal hashes are ordered by host
index, then replica number.
""",
    "RingHash.min_entries_per_host": """Envoy's ``min_hashes_per_host`` gauge: the fewest entries of an iterated host.

Hosts in zero-weight localities are not iterated and not counted;
0 for an empty ring.
""",
    "RingHash.ring_size": """Envoy's ``ring_hash_lb.size`` gauge: ``ceil(scale)``, 0 for an empty ring.

It can differ from ``len(self)``: 75 equal hosts with the default
sizes give a gauge of 1050 for a ring of 1051 entries (``RingHashLoadBalancer::Ring::Ring``).
""",
    "RingHash.ring_size_gauge": """Deprecated alias of ``ring_size`` (it warns); removed in the next release.
""",
    "RingHash.nbytes": """Bytes of ring storage held: entry hashes, host indices and search index.

Hashes are uint64 and host indices 2 bytes below 65,536 hosts, so the
total stays at or below 12 bytes per entry (the compiled twin's
prefix index included).  The :class:`~hashlb.Host` objects are not
counted.
""",
    "RingHash.min_ring_size": """The ``min_ring_size`` the ring was built with.
""",
    "RingHash.max_ring_size": """The ``max_ring_size`` the ring was built with.
""",
    "RingHash.hash_function": """The entry-key hash: ``"xx_hash"`` or ``"murmur_hash_2"``.
""",
    "RingHash.hosts": """The hosts as given; a host's index is its position here.
""",
    "RingHash.entries_per_host": """The number of ring entries of each host, aligned with ``hosts``.
""",
    "RingHash.max_entries_per_host": """Envoy's ``max_hashes_per_host`` gauge: the most entries of an iterated host.
""",
    "RingHash.normalized_order": """Host indices in Envoy's iteration order (``hashlb._weights.Prepared.order``).
""",
    "RingHash.normalized_weights": """Envoy's normalized weights, aligned with ``normalized_order``.
""",
}
