"""The docstrings the two ``maglev`` twins share (``_docstrings.py`` explains the scheme)."""

DOCS: dict[str, str] = {
    "Maglev": """Maglev(hosts, *, table_size=65537, use_hostname=False, locality_weights=None, envoy_version='main')
--

Envoy's Maglev table: a host for each 64-bit request hash.

Bit-exact with Envoy's ``MAGLEV`` load balancer
(``source/extensions/load_balancing_policies/maglev/maglev_lb.cc``): for the same
hosts, weights and request hash it picks the same host.  Build it once
(tables are immutable and safe to share between threads) and rebuild on
membership changes.

Hosts are sorted by hash-key bytes before the fill, so the table does not
depend on the order of *hosts*; hosts whose keys are equal are ordered by
their remaining fields (address, weight, hostname, hash_key, locality,
labels) and then by position.  Envoy before 1.27 filled in the order of
*hosts* instead (``envoy_version="1.26"``).  Each host's hash key is ``hash_key``, else
``hostname`` when *use_hostname*, else ``address`` (Envoy's ``hashKey()``).

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
    locality (``ThreadAwareLoadBalancerBase::refresh``), localities in the mapping's order.  A locality of
    weight 0 gets no slots.
:param envoy_version: the Envoy release to reproduce (``"1.26"``, an
    :class:`~hashlb.versions.EnvoyProfile`, or ``"main"``, the newest):
    before 1.27 the fill takes the hosts unsorted.
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
""",
    "Maglev.table": """The table: the host index of each slot (a read-only memoryview).

``len(table) == table_size``, or 0 for an empty host set.  Items are
``uint16`` below 65,536 hosts, else ``uint32``.
""",
    "Maglev.nbytes": """Bytes of table storage held (2 or 4 per slot).
""",
    "Maglev.lookup": """lookup($self, /, hash, attempt=0)
--

Return the host for a request hash: ``hosts[table[hash % M]]``.

Retry *attempt* ``k > 0`` first XORs the hash with ``2**64 - k``, as
Envoy's host-selection retries do (``OriginalMaglevTable::chooseHost``).

:param int hash: the request hash, in ``[0, 2**64)``.
:param int attempt: the retry attempt, in ``[0, 2**32)``.
:returns: the host, or ``None`` for an empty host set.
:raises ValueError: *hash* or *attempt* is out of range.
:raises TypeError: *hash* or *attempt* is not an int.

>>> lb = Maglev([Host("10.0.0.1:80"), Host("10.0.0.2:80")], table_size=7)
>>> lb.lookup(3), lb.lookup(3, attempt=1)
(Host('10.0.0.1:80'), Host('10.0.0.2:80'))
""",
    "Maglev.choose_host": """choose_host($self, /, hash, *, reject=None, max_attempts=1)
--

Envoy's host-selection loop (``ThreadAwareLoadBalancerBase::LoadBalancerImpl::chooseHost``) over ``lookup(hash, k)``.

Each attempt ``k`` reads the slot of ``hash ^ (2**64 - k)``; the first host
*reject* does not refuse wins (:meth:`hashlb.Cluster.choose_host`).
""",
    "Maglev.pick": """pick($self, /, key)
--

Return the host for a request key: ``lookup(xxh64(key))``.

:param key: ``str`` (hashed as UTF-8) or a bytes-like object.
:returns: the host, or ``None`` for an empty host set.
:raises TypeError: *key* is not str or bytes-like.

>>> lb = Maglev([Host("10.0.0.1:80"), Host("10.0.0.2:80")], table_size=7)
>>> lb.pick("alice")
Host('10.0.0.1:80')
""",
    "Maglev.lookup_many": """Return the host index of every hash (attempt 0), as ``uint32``.

One contract for every table (:ref:`batch-contract`): *hashes* is a
C-contiguous uint64 buffer, read without copying, or an iterable of
ints in ``[0, 2**64)``; the result is a ``numpy.uint32`` array for
numpy input, else ``array('I')``, and empty for an empty host set.
*hashes* may also be a column (:ref:`columnar-input`): an Arrow
``uint64``/``int64`` array or chunked array, any object with
``__arrow_c_array__``/``__arrow_c_stream__`` (a pandas or polars
Series), or a numpy masked ``uint64`` array, read in place; a null
(masked) row gives :data:`NO_HOST`, the result is a ``numpy.uint32``
array.  *out*, a writable C-contiguous ``numpy.uint32`` array of one
item per hash, is written and returned (every row ``NO_HOST`` for an
empty host set).  The compiled twin releases the GIL while it looks up.

>>> lb = Maglev([Host("10.0.0.1:80"), Host("10.0.0.2:80")], table_size=7)
>>> list(lb.lookup_many([0, 1, 2, 3]))
[0, 1, 0, 0]
""",
    "Maglev.pick_many": """Return the host index of every key: ``lookup_many(xxh64(key) ...)``.

*keys* is a sequence of ``str`` (hashed as UTF-8) or bytes-like keys,
or a column read in place (:ref:`columnar-input`): an Arrow
``string``/``large_string``/``binary``/``large_binary``/``string_view``/
``binary_view`` array or chunked array, any object with
``__arrow_c_array__``/``__arrow_c_stream__`` (a pandas or polars
Series), or a 1-D numpy ``S``/``U`` (or ``StringDType``) array.  A null key gives
:data:`NO_HOST`.  The result type, the empty-table result and the
``TypeError`` of a bad *keys* or item are every table's
(:ref:`batch-contract`); *out* is as in :meth:`lookup_many`.  The
compiled twin hashes the keys in chunks and looks each chunk up with
the GIL released (a column: all of it without the GIL).

>>> lb = Maglev([Host("10.0.0.1:80"), Host("10.0.0.2:80")], table_size=7)
>>> list(lb.pick_many(["alice", "bob", b"carol"]))
[0, 1, 1]
""",
    "Maglev.hosts": """The hosts, in the order given; a host index is a position here.
""",
    "Maglev.table_size": """The table size ``M`` (a prime).
""",
    "Maglev.entries_per_host": """The number of slots each host holds, aligned with ``hosts``.
""",
    "Maglev.min_entries_per_host": """Envoy's ``min_entries_per_host`` gauge (1 for one host, 0 for none).
""",
    "Maglev.max_entries_per_host": """Envoy's ``max_entries_per_host`` gauge (1 for one host, 0 for none).
""",
    "Maglev.normalized_order": """Host indices in Envoy's iteration order (``hashlb._weights.Prepared.order``).
""",
    "Maglev.normalized_weights": """Envoy's normalized weights, aligned with ``normalized_order``.
""",
}
