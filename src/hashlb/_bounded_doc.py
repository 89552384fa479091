"""The docstrings the two ``bounded`` twins share (``_docstrings.py`` explains the scheme)."""

DOCS: dict[str, str] = {
    "BoundedLoad": """BoundedLoad(lb, *, hash_balance_factor)
--

Envoy's bounded-load wrapper around a Maglev or RingHash table, or a Cluster.

Caps each host at ``hash_balance_factor / 100`` times its weighted share
of the in-flight requests; an overloaded first choice is replaced by the
candidate Envoy would probe next (``BoundedLoadHashingLoadBalancer`` in
Envoy's ``source/extensions/load_balancing_policies/common/thread_aware_lb_impl.cc``).  It works on any table
exposing ``hosts``, ``lookup(hash, attempt)``, ``normalized_order`` and
``normalized_weights``.

Over a :class:`~hashlb.Cluster` each priority's table is bounded on its
own, as Envoy wraps each one: the hash chooses the level, the level's
table and weights give the candidates, and the counts are per host of
``cluster.hosts`` (every priority) against their cluster-wide total.

:meth:`lookup` is stateless: pass the per-host active request counts
(Envoy's ``rq_active`` gauges).  :meth:`acquire` / :meth:`release` keep
those counts for you, thread-safely, for a proxy embedding hashlb.

A host listed twice as the *same object* is counted at its first index.

:param lb: the table (:class:`~hashlb.Maglev` or :class:`~hashlb.RingHash`),
    or a :class:`~hashlb.Cluster` of them.
:param int hash_balance_factor: an int ``>= 100`` (``150`` allows 1.5x
    the average load), at most ``2**32 - 1``.
:raises ValueError: *hash_balance_factor* is below 100 or too large.
:raises TypeError: *hash_balance_factor* is not an int, or *lb* (or a
    cluster level's table) lacks the attributes above.

>>> from hashlb import Maglev
>>> lb = Maglev([Host("10.0.0.1:80"), Host("10.0.0.2:80")], table_size=7)
>>> bl = BoundedLoad(lb, hash_balance_factor=150)
>>> bl.lookup(3, active=[0, 0])
Host('10.0.0.1:80')
>>> bl.lookup(3, active=[7, 0])
Host('10.0.0.2:80')
""",
    "BoundedLoad.active": """The in-flight requests per host held by ``acquire()`` (a snapshot).
""",
    "BoundedLoad.lookup": """Return the host Envoy's bounded load picks for *hash*.

:param int hash: the request hash, in ``[0, 2**64)``.
:param active: the active requests of each host, aligned with
    ``lb.hosts`` (ints in ``[0, 2**32)``).
:param int attempt: the retry attempt, passed to ``lb.lookup``.
:param total: the cluster-wide active requests (Envoy's
    ``upstream_rq_active``); default ``sum(active)``.  Envoy reads it
    as a uint32, so it is taken mod ``2**32``.
:returns: the host, or ``None`` for an empty host set.
:raises ValueError: *hash*, *attempt* or a count is out of range, or
    *active* does not have one count per host.
:raises TypeError: an argument has the wrong type.

>>> from hashlb import Maglev
>>> lb = Maglev([Host("10.0.0.1:80"), Host("10.0.0.2:80")], table_size=7)
>>> BoundedLoad(lb, hash_balance_factor=200).lookup(3, [3, 1])
Host('10.0.0.1:80')
""",
    "BoundedLoad.acquire": """Pick a host with the counts held here and count one request on it.

Thread-safe.  Use the lease as a context manager, or call
:meth:`Lease.release` (or :meth:`release` with the host) when the
request ends.

:param int hash: the request hash, in ``[0, 2**64)``.
:param int attempt: the retry attempt.
:returns: a :class:`Lease`; its ``host`` is ``None`` for an empty
    host set.

>>> from hashlb import Maglev
>>> lb = Maglev([Host("10.0.0.1:80"), Host("10.0.0.2:80")], table_size=7)
>>> bl = BoundedLoad(lb, hash_balance_factor=100)
>>> with bl.acquire(3) as host:
...     host, bl.active
(Host('10.0.0.1:80'), (1, 0))
>>> bl.active
(0, 0)
""",
    "BoundedLoad.release": """Count one request on *host* as finished (the inverse of acquire).

:param host: a host of ``lb.hosts`` (the object returned by acquire).
:raises ValueError: *host* is not in the table, or has no request
    in flight.
""",
    "BoundedLoad.lb": """The wrapped table.
""",
    "BoundedLoad.hash_balance_factor": """The balance factor, in percent of the average load (``>= 100``).
""",
    "_mt19937": """Return the first *n* outputs of ``std::mt19937`` seeded with *seed*.

The seed is reduced mod ``2**32``, as the C++ standard does for a
64-bit request hash.

:param int seed: the seed, in ``[0, 2**64)``.
:param int n: how many outputs, in ``[0, MAX_SHUFFLE_N]`` (2**20).
:raises ValueError: *seed* or *n* is out of range.
:raises TypeError: *seed* or *n* is not an int.

>>> _mt19937(5489, 10000)[-1]
4123659995
""",
    "_probe_order": """Return the order in which Envoy's bounded load tries *n* candidates.

A lazy Fisher-Yates shuffle of ``range(n)`` driven by
``std::mt19937(seed)``, as Envoy's ``BoundedLoadHashingLoadBalancer``; the candidates are positions in the
table's :attr:`normalized_order`.

:param int seed: the request hash, in ``[0, 2**64)``.
:param int n: the number of candidates, in ``[0, MAX_SHUFFLE_N]`` (2**20).
:raises ValueError: *seed* or *n* is out of range.
:raises TypeError: *seed* or *n* is not an int.

>>> _probe_order(2, 5), _probe_order(6, 5), _probe_order(7, 5)
([2, 1, 0, 4, 3], [4, 0, 2, 3, 1], [0, 1, 4, 3, 2])
""",
}
