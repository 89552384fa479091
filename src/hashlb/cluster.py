"""An Envoy cluster: priority levels, host health and panic over per-priority tables.

Envoy's cluster-level decision for ring hash and Maglev (``LoadBalancerBase``
in ``source/extensions/load_balancing_policies/common/load_balancer_impl.cc``
and ``ThreadAwareLoadBalancerBase`` in ``thread_aware_lb_impl.cc``; Envoy's
docs: "Priority levels" and "Panic threshold" under Load Balancing), in a
plain module shared by both twins: the arithmetic is a handful
of integer operations per configuration, and the per-request work is the
table's own (compiled) lookup.

* Hosts are grouped by :attr:`Host.priority <hashlb.Host.priority>`; levels
  run from 0 to the highest priority given, so a gap is an empty level.
* Each host's EDS ``health`` folds into Envoy's coarse health
  (``Host::coarseHealth()``):
  ``unknown``/``healthy`` are healthy, ``degraded`` degraded, the rest
  unhealthy; ``draining`` and ``excluded`` are also *excluded* from the
  health counts.
* Per level, the health and degraded availability (integers, scaled by the
  overprovisioning factor), the normalised total availability, the priority
  loads, the panic flags and total panic are Envoy's
  (``LoadBalancerBase::recalculatePerPriorityState``).
* A level's table holds its healthy hosts, or all its hosts when the level is
  in panic (``ThreadAwareLoadBalancerBase::refresh``): degraded hosts are
  never chosen outside panic.
* A request hash picks the level by ``hash % 100 + 1`` over the cumulative
  healthy, then degraded, loads (``LoadBalancerBase::choosePriority``), then
  that level's table, with Envoy's host-selection retry loop
  (:meth:`Cluster.choose_host`).

When one level takes all the healthy load, :meth:`Cluster.lookup` *is* that
level's ``table.lookup`` (bound at build time), so the common case costs
nothing over the table.
"""

from __future__ import annotations

import math
from array import array
from collections.abc import Callable, Iterable, Mapping
from typing import Any, NamedTuple, cast

from ._address import canonical_address
from ._batch import hash_buffer, index_output, is_numpy
from ._columns import NO_HOST as _NO_HOST
from ._columns import check_out, hash_columns, need_numpy, output, py_check, py_values, rows
from ._pickling import pack_hosts, rebuild_hosts
from ._retry import Reject, choose
from ._types import Host, Table, check_hosts, replace_host
from ._validate import (
    HEALTH_STATUSES,
    HEALTHY_STATUSES,
    as_int,
    check_hash,
    check_health,
    short,
    uninitialised,
)
from .errors import ConfigError
from .versions import EnvoyProfile, profile

__all__ = ("NO_HOST", "Cluster", "PriorityLevel", "panic_threshold", "priority_loads")

#: What :meth:`Cluster.lookup_many` writes for a hash that gets no host (the chosen
#: level's table is empty: Envoy's "no healthy upstream"); the tables' columnar
#: batches write it for a null row (``hashlb._columns.NO_HOST``, the same constant).
NO_HOST = _NO_HOST

#: EDS health -> (coarse health, excluded from the counts), as Envoy folds it, for an Envoy
#: that excludes DRAINING hosts (``EnvoyProfile.draining_excluded``; before, they are
#: unhealthy and counted).
_COARSE: Mapping[str, tuple[str, bool]] = {
    "unknown": ("healthy", False),
    "healthy": ("healthy", False),
    "unhealthy": ("unhealthy", False),
    "timeout": ("unhealthy", False),
    "draining": ("unhealthy", True),
    "degraded": ("degraded", False),
    "excluded": ("unhealthy", True),
}
assert tuple(sorted(_COARSE)) == tuple(sorted(HEALTH_STATUSES))
assert {s for s, (coarse, _) in _COARSE.items() if coarse == "healthy"} == HEALTHY_STATUSES

_BALANCERS = ("ring_hash", "maglev")


class PriorityLevel(NamedTuple):
    """One priority level of a Cluster (Envoy's HostSet)."""

    #: The level (0 is the most preferred).
    priority: int
    #: Every host of the level, in the order given (EDS order).
    hosts: tuple[Host, ...]
    #: The hosts whose coarse health is healthy (excluded ones are not).
    healthy: tuple[Host, ...]
    #: The hosts whose coarse health is degraded.
    degraded: tuple[Host, ...]
    #: The hosts kept out of the health counts (``draining``, ``excluded``).
    excluded: tuple[Host, ...]
    #: Whether the level is in panic (its table then holds all its hosts).
    in_panic: bool
    #: The level's table: built from :attr:`healthy`, or from :attr:`hosts` in panic.
    table: Table


def _check_percent(value: object) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise TypeError(f"healthy_panic_threshold must be a number, not {type(value).__name__}")
    percent = float(value)
    if not (math.isfinite(percent) and 0.0 <= percent <= 100.0):
        raise ConfigError(f"healthy_panic_threshold must be in [0, 100], got {short(value)}")
    return percent


def panic_threshold(percent: float) -> int:
    """Return Envoy's integer panic threshold for a configured *percent*.

    Envoy computes it with ``PROTOBUF_PERCENT_TO_ROUNDED_INTEGER_OR_DEFAULT(
    common_config, healthy_panic_threshold, 100, 50)`` (``maglev_lb.cc``,
    ``ring_hash_lb.cc``):

    ``uint64(100 * (percent / 100.0))``: a truncation in double, so 29 acts as 28.
    """
    return min(100, int(100 * (percent / 100.0)))


def _distribute(avail: list[int], total: int, normalized: int) -> tuple[list[int], int, int]:
    """Envoy's ``distributeLoad``: (loads, first level with availability or -1, load left)."""
    loads = []
    first = -1
    for i, a in enumerate(avail):
        load = min(total, a * 100 // normalized)
        loads.append(load)
        total -= load
        if a > 0 and first < 0:
            first = i
    return loads, first, total


def priority_loads(
    levels: Iterable[tuple[int, int, int, int]],
    *,
    overprovisioning_factor: int = 140,
    healthy_panic_threshold: float = 50.0,
) -> tuple[tuple[int, ...], tuple[int, ...], tuple[bool, ...]]:
    """Return Envoy's (healthy loads, degraded loads, panic flags) for per-level counts.

    Each level is ``(hosts, healthy, degraded, excluded)`` host counts (the
    excluded hosts are among *hosts*).  The counts form of the arithmetic a
    :class:`Cluster` runs (``weighted_priority_health`` off).

    The loads sum to 100, but for one corner that Envoy has too: when every
    level's availability rounds down to 0 (a small factor, or few available
    hosts among many) while some level is not in panic, nothing sets the
    loads; they stay 0 and :meth:`Cluster.choose_priority` falls back to
    level 0, as Envoy's ``choosePriority`` does.  With the default factor and
    a threshold of 2% or more this cannot happen.

    >>> from hashlb.cluster import priority_loads
    >>> priority_loads([(10, 2, 0, 0), (10, 2, 3, 0)])
    ((30, 28), (0, 42), (True, False))
    """
    counts = [tuple(as_int(c, "levels") for c in level) for level in levels]
    sizes = [(n, h, d, x, n - x, h, d, n - x) for n, h, d, x in counts]
    return _loads(sizes, _check_factor(overprovisioning_factor), healthy_panic_threshold)


def _check_factor(value: object) -> int:
    factor = as_int(value, "overprovisioning_factor")
    if not 0 < factor < 2**32:
        raise ConfigError(f"overprovisioning_factor must be in [1, 2**32 - 1], got {short(value)}")
    return factor


def _loads(
    sizes: list[tuple[int, int, int, int, int, int, int, int]],
    factor: int,
    threshold_percent: float,
) -> tuple[tuple[int, ...], tuple[int, ...], tuple[bool, ...]]:
    """The loads and panic flags of Envoy's ``recalculatePerPriorityState``.

    *sizes* holds, per level: (hosts, healthy, degraded, excluded) counts,
    then the count of non-excluded hosts, and the healthy, degraded and total
    amounts of availability (counts, or weights with ``weighted_priority_health``).
    """
    n = len(sizes)
    health, degraded = [], []
    for _hosts, _h, _d, _x, counted, h_amount, d_amount, total in sizes:
        if counted == 0:
            health.append(0)
            degraded.append(0)
        else:
            health.append(min(100, factor * h_amount // total))
            degraded.append(min(100, factor * d_amount // total))
    normalized = min(100, sum(health) + sum(degraded))
    healthy_load, degraded_load = [0] * n, [0] * n
    if normalized > 0:
        healthy_load, first_h, left = _distribute(health, 100, normalized)
        degraded_load, first_d, left = _distribute(degraded, left, normalized)
        if left:
            if first_h >= 0:
                healthy_load[first_h] += left
            else:
                degraded_load[first_d] += left
    threshold = panic_threshold(threshold_percent)
    panic = [False] * n
    if threshold == 0 and normalized == 0:
        healthy_load = [0] * n
        if n:
            healthy_load[0] = 100
        return tuple(healthy_load), tuple(degraded_load), tuple(panic)
    if normalized != 100:
        for i, (_hosts, h, d, _x, counted, *_) in enumerate(sizes):
            h_pct = 100.0 * h / counted if counted else 0.0
            d_pct = 100.0 * d / counted if counted else 0.0
            panic[i] = h_pct + d_pct < threshold
    if n and all(panic):
        # Total panic: loads by host counts, excluded hosts included.
        everyone = sum(s[0] for s in sizes)
        degraded_load = [0] * n
        if everyone == 0:
            healthy_load = [100] + [0] * (n - 1)
        else:
            healthy_load = [100 * s[0] // everyone for s in sizes]
            left = 100 - sum(healthy_load)
            if left:
                first = next(i for i, s in enumerate(sizes) if s[0])
                healthy_load[first] += left
    return tuple(healthy_load), tuple(degraded_load), tuple(panic)


def _choose(healthy: tuple[int, ...], degraded: tuple[int, ...], hash: int) -> tuple[int, str]:
    """Envoy's ``choosePriority``: ``hash % 100 + 1`` over cumulative healthy, then degraded."""
    x = hash % 100 + 1
    total = 0
    for i, load in enumerate(healthy):
        total += load
        if x <= total:
            return i, "healthy"
    for i, load in enumerate(degraded):
        total += load
        if x <= total:
            return i, "degraded"
    return 0, "healthy"  # Envoy's fallback when the loads sum to less than 100


def _table_factory(balancer: object) -> Callable[..., Table]:
    if isinstance(balancer, str):
        if balancer == "ring_hash":
            from .ring import RingHash

            return RingHash
        if balancer == "maglev":
            from .maglev import Maglev

            return Maglev
        raise ConfigError(
            f"balancer must be one of {', '.join(_BALANCERS)} or a table class, "
            f"got {short(balancer)}"
        )
    if not callable(balancer):
        raise TypeError(
            f"balancer must be 'ring_hash', 'maglev' or a table class, not {type(balancer).__name__}"
        )
    return balancer


class Cluster:
    """Envoy's cluster for ring hash or Maglev: priority levels, health and panic.

    :param hosts: the endpoints (:class:`~hashlb.Host`), each address once;
        their ``priority`` groups them into levels, their ``health`` decides
        which hosts each level's table holds.
    :param balancer: ``"ring_hash"`` (:class:`~hashlb.RingHash`), ``"maglev"``
        (:class:`~hashlb.Maglev`), or any table class called as
        ``balancer(hosts, **balancer_options)``.
    :param int overprovisioning_factor: EDS ``overprovisioning_factor``, in
        percent (default 140).
    :param float healthy_panic_threshold: ``common_lb_config.healthy_panic_threshold``,
        in percent (default 50; 0 disables panic).  Envoy truncates it:
        29 acts as 28 (:func:`panic_threshold`).
    :param bool weighted_priority_health: EDS ``weighted_priority_health``:
        availability from host weights instead of host counts (panic still
        counts hosts, as in Envoy).
    :param bool locality_weighted: apply ``locality_weights`` (a balancer
        option) inside each level, as Envoy's ``locality_weighted_lb_config``;
        when False the locality weights are ignored.
    :param envoy_version: the Envoy release to reproduce (``"1.28"``, or an
        :class:`~hashlb.versions.EnvoyProfile`); ``"main"``, the default, is
        the newest behaviour.  Here it decides whether ``draining`` hosts are
        excluded (1.29 on) or unhealthy and counted, and whether
        ``weighted_priority_health`` exists (1.27 on).
    :param balancer_options: passed to every level's table
        (``min_ring_size``, ``table_size``, ``hash_function``, ...).
    :raises TypeError: an argument has the wrong type.
    :raises ConfigError: a repeated address, or an option out of range.

    >>> from hashlb import Cluster, Host
    >>> hosts = [Host(f"10.0.0.{i}:80", health="unhealthy" if i < 3 else "healthy")
    ...          for i in range(4)] + [Host("10.0.1.1:80", priority=1)]
    >>> cluster = Cluster(hosts, balancer="maglev", table_size=7)
    >>> cluster.priority_load, cluster.in_panic(0)
    (((35, 65), (0, 0)), False)
    >>> cluster.choose_priority(34), cluster.choose_priority(35)
    ((0, 'healthy'), (1, 'healthy'))
    """

    hosts: tuple[Host, ...]
    _levels: tuple[PriorityLevel, ...]
    _healthy_load: tuple[int, ...]
    _degraded_load: tuple[int, ...]
    _config: tuple[dict[str, Any], dict[str, Any]]
    _choices: tuple[tuple[int, str], ...]
    _lookups: tuple[Callable[[int, int], Host | None], ...]

    def __init__(
        self,
        hosts: Iterable[Host],
        *,
        balancer: str | Callable[..., Table] = "ring_hash",
        overprovisioning_factor: int = 140,
        healthy_panic_threshold: float = 50.0,
        weighted_priority_health: bool = False,
        locality_weighted: bool = False,
        envoy_version: str | EnvoyProfile = "main",
        **balancer_options: Any,
    ) -> None:
        if "_levels" in self.__dict__:
            raise TypeError("Cluster is immutable; it cannot be re-initialised")
        config = {
            "balancer": balancer,
            "overprovisioning_factor": _check_factor(overprovisioning_factor),
            "healthy_panic_threshold": _check_percent(healthy_panic_threshold),
            "weighted_priority_health": weighted_priority_health,
            "locality_weighted": locality_weighted,
            "envoy_version": profile(envoy_version),
        }
        checked = check_hosts(hosts, "a cluster holds each address once, whatever its priority")
        self._build(checked, config, balancer_options, {})

    def _build(
        self,
        hosts: tuple[Host, ...],
        config: dict[str, Any],
        balancer_options: dict[str, Any],
        reuse: Mapping[tuple[Host, ...], Table],
    ) -> None:
        """Build the levels from *config*: the constructor's keywords, checked but the flags."""
        factory = _table_factory(config["balancer"])
        factor: int = config["overprovisioning_factor"]
        percent: float = config["healthy_panic_threshold"]
        weighted_priority_health = config["weighted_priority_health"]
        locality_weighted = config["locality_weighted"]
        envoy: EnvoyProfile = config["envoy_version"]
        for name, flag in (
            ("weighted_priority_health", weighted_priority_health),
            ("locality_weighted", locality_weighted),
        ):
            if not isinstance(flag, bool):
                raise TypeError(f"{name} must be a bool, not {type(flag).__name__}")
        if weighted_priority_health and not envoy.weighted_priority_health:
            raise ConfigError(
                f"weighted_priority_health needs Envoy 1.27 or later (envoy_version {envoy.version})"
            )
        coarse_of = dict(_COARSE)
        if not envoy.draining_excluded:
            coarse_of["draining"] = ("unhealthy", False)
        options = dict(balancer_options)
        if not locality_weighted:
            options.pop("locality_weights", None)
        top = max((h.priority for h in hosts), default=0)
        grouped: list[list[Host]] = [[] for _ in range(top + 1)]
        for h in hosts:
            grouped[h.priority].append(h)
        sizes = []
        parts = []
        for members in grouped:
            healthy, degraded, excluded = [], [], []
            for h in members:
                coarse, out = coarse_of[h.health]
                if out:
                    excluded.append(h)
                elif coarse == "healthy":
                    healthy.append(h)
                elif coarse == "degraded":
                    degraded.append(h)
            counted = len(members) - len(excluded)
            if weighted_priority_health:
                amounts = (
                    sum(h.weight for h in healthy),
                    sum(h.weight for h in degraded),
                    sum(h.weight for h in members) - sum(h.weight for h in excluded),
                )
            else:
                amounts = (len(healthy), len(degraded), counted)
            sizes.append(
                (len(members), len(healthy), len(degraded), len(excluded), counted, *amounts)
            )
            parts.append((tuple(members), tuple(healthy), tuple(degraded), tuple(excluded)))
        healthy_load, degraded_load, panic = _loads(sizes, factor, percent)
        levels = []
        cache = dict(reuse)
        for p, ((members_t, healthy_t, degraded_t, excluded_t), in_panic) in enumerate(
            zip(parts, panic, strict=True)
        ):
            source = members_t if in_panic else healthy_t
            table = cache.get(source)
            if table is None:
                table = factory(list(source), **options)
                cache[source] = table
            levels.append(
                PriorityLevel(p, members_t, healthy_t, degraded_t, excluded_t, in_panic, table)
            )
        d = self.__dict__
        d["hosts"] = hosts
        d["_levels"] = tuple(levels)
        d["_healthy_load"] = healthy_load
        d["_degraded_load"] = degraded_load
        d["_config"] = (config, dict(balancer_options))
        # choosePriority depends on hash % 100 only: one answer per remainder.
        choices = tuple(_choose(healthy_load, degraded_load, r) for r in range(100))
        d["_choices"] = choices
        d["_lookups"] = tuple(levels[p].table.lookup for p, _state in choices)
        if healthy_load[0] == 100:
            # Every hash chooses level 0: the cluster's lookup (and, for
            # hashlb's tables, choose_host) is that table's own.
            d["lookup"] = levels[0].table.lookup
            choose = getattr(levels[0].table, "choose_host", None)
            if callable(choose):
                d["choose_host"] = choose

    # -- the per-request choice --------------------------------------------

    def lookup(self, hash: int, attempt: int = 0) -> Host | None:
        """Return the host Envoy picks for request *hash* on retry *attempt*.

        The level is chosen by :meth:`choose_priority` (the same *hash* for
        every attempt), then that level's ``table.lookup(hash, attempt)``;
        ``None`` when that table is empty (no healthy host, not in panic).
        """
        h, lookup = self._level_lookup(hash)
        return lookup(h, attempt)

    def choose_host(
        self, hash: int, *, reject: Reject = None, max_attempts: int = 1
    ) -> Host | None:
        """Envoy's ``chooseHost`` loop: try attempts 0, 1, ... until *reject* accepts a host.

        :param int hash: the request hash, in ``[0, 2**64)``.
        :param reject: ``reject(host)`` true means "select another host"
            (Envoy's retry host predicates; ``previous_hosts`` is
            ``reject=tried.__contains__``).  ``None`` accepts the first host.
        :param int max_attempts: the attempts to make, ``1 + host_selection_retry_max_attempts``
            on a retry (Envoy: 2 by default, Istio 6), in ``[1, 2**16]``.
        :returns: the first host not rejected; a ``None`` from the table ends
            the loop at once; when every attempt is rejected, the last
            attempt's host (as Envoy does).
        """
        h, lookup = self._level_lookup(hash)
        return choose(lookup, h, reject, max_attempts)

    def lookup_many(self, hashes: Any, *, out: Any = None) -> Any:
        """Return the host index (in ``hosts``) of each hash, attempt 0, as uint32.

        The batch contract of the tables (:meth:`hashlb.Maglev.lookup_many`):
        *hashes* is a uint64 buffer or an iterable of ints (the result a
        numpy array for numpy input, else ``array('I')``), or a column read
        in place (an Arrow ``uint64``/``int64`` array or chunked array, any
        object with ``__arrow_c_array__``/``__arrow_c_stream__`` such as a
        pandas or polars Series, a numpy masked ``uint64`` array; the result
        a numpy ``uint32`` array, a null row :data:`NO_HOST`).  A hash whose
        level has no host to give is :data:`NO_HOST` too.  *out*, a
        writable C-contiguous ``numpy.uint32`` array of one item per hash,
        is written and returned.  Each level's rows run in its table's own
        ``lookup_many``; a cluster of one level whose table holds every host
        is that table's lookup.
        """
        levels = self._check()
        table = levels[0].table
        if len(levels) == 1 and self.hosts and table.hosts == self.hosts:
            # the table's indices are the cluster's (hashlb's tables take out=)
            if out is None:
                return table.lookup_many(hashes)
            if type(table).__module__.split(".")[0] == "hashlb":
                return cast(Any, table).lookup_many(hashes, out=out)
        chunks = hash_columns(hashes)
        if chunks is not None:
            return self._lookup_columns(levels, chunks, out)
        view = hash_buffer(hashes)
        n = len(view)
        res = index_output(n, hashes) if out is None else check_out(out, n, "uint32")
        if n == 0:
            return res
        if is_numpy(hashes) or out is not None:  # numpy is here: the levels' rows with numpy
            res[:] = NO_HOST
            self._fill_levels(need_numpy(), levels, need_numpy().frombuffer(view, "u8"), None, res)
            return res
        position = {id(h): i for i, h in enumerate(self.hosts)}
        if len(levels) == 1:
            parts: list[tuple[Any, list[int] | None]] = [(levels[0], None)]
        else:
            by_level: dict[int, list[int]] = {}
            for k, h in enumerate(view):
                by_level.setdefault(self._choices[h % 100][0], []).append(k)
            parts = [(levels[p], ks) for p, ks in by_level.items()]
        for level, ks in parts:
            table = level.table
            where = [position[id(h)] for h in table.hosts]
            sub: Any = view if ks is None else array("Q", [view[k] for k in ks])
            local = table.lookup_many(sub)
            ks_all = range(n) if ks is None else ks
            if len(local) == 0:  # an empty table: no host for these hashes
                for k in ks_all:
                    res[k] = NO_HOST
            else:
                for k, j in zip(ks_all, local, strict=True):
                    res[k] = where[j]
        return res

    def _lookup_columns(
        self, levels: tuple[PriorityLevel, ...], chunks: list[tuple[Any, ...]], out: Any
    ) -> Any:
        """``lookup_many`` of a hash column (``_columns`` chunks), level by level with numpy."""
        np = need_numpy()
        n = rows(chunks)
        res = output(n, out, "uint32")
        if len(chunks) == 1:
            py_check(chunks[0])
            values, null = py_values(chunks[0])  # a view of the column when aligned
        else:
            values, null = np.empty(n, np.uint64), np.empty(n, bool)
            base = 0
            for chunk in chunks:
                py_check(chunk, base)
                end = base + chunk[1]
                values[base:end], null[base:end] = py_values(chunk)
                base = end
        res[:] = NO_HOST
        if n == 0:
            return res
        self._fill_levels(np, levels, values, null if null.any() else None, res)
        return res

    def _fill_levels(
        self, np: Any, levels: tuple[PriorityLevel, ...], values: Any, null: Any, res: Any
    ) -> None:
        """Write the host index of each non-null row of uint64 *values* into *res* (numpy)."""
        position = {id(h): i for i, h in enumerate(self.hosts)}
        level_of = None
        if len(levels) > 1:
            # hash % 100 (floor division by a scalar: numpy's fast path), then its level
            x = np.floor_divide(values, np.uint64(100))
            np.subtract(values, np.multiply(x, np.uint64(100), out=x), out=x)
            choice = np.array([c[0] for c in self._choices], dtype=np.uint8)
            level_of = np.take(choice, x.view(np.int64))
        for p, level in enumerate(levels):
            hosts = level.table.hosts
            if not hosts:
                continue  # no host for this level's hashes
            if level_of is None:
                sel = None if null is None else np.flatnonzero(~null)
            else:
                wanted = level_of == p
                sel = np.flatnonzero(wanted if null is None else wanted & ~null)
                if len(sel) == 0:
                    continue
            where = np.array([position[id(h)] for h in hosts], dtype=np.uint32)
            sub = values if sel is None else np.take(values, sel)
            local = np.asarray(level.table.lookup_many(np.ascontiguousarray(sub)))
            if sel is None:
                np.take(where, local, out=res)
            else:
                np.put(res, sel, np.take(where, local))

    def choose_priority(self, hash: int) -> tuple[int, str]:
        """Return Envoy's ``choosePriority`` for *hash*: ``(level, "healthy" | "degraded")``.

        ``x = hash % 100 + 1`` walks the cumulative healthy loads, then
        (with the same running sum) the degraded ones.  A level reached
        through its degraded load still uses its table of healthy hosts.
        """
        if type(hash) is not int:
            hash = check_hash(hash)
        try:
            return self._choices[hash % 100]
        except AttributeError:
            raise uninitialised(self, "Cluster") from None

    # -- what the cluster looks like ----------------------------------------

    @property
    def priority_load(self) -> tuple[tuple[int, ...], tuple[int, ...]]:
        """The (healthy, degraded) load of each level, in percent; they sum to 100."""
        self._check()
        return self._healthy_load, self._degraded_load

    @property
    def priorities(self) -> tuple[PriorityLevel, ...]:
        """One ``PriorityLevel`` per level, 0 up to the highest priority given."""
        return self._check()

    def in_panic(self, priority: int) -> bool:
        """Return whether level *priority* is in panic (its table then holds all its hosts)."""
        levels = self._check()
        p = as_int(priority, "priority")
        if not 0 <= p < len(levels):
            raise ValueError(f"priority must be in [0, {len(levels) - 1}], got {p}")
        return levels[p].in_panic

    def with_health(self, health: Mapping[str, str]) -> Cluster:
        """Return a new cluster whose hosts at the given addresses have the given health.

        :param health: ``{address: health}``; an address is matched after
            canonicalisation (``"[::1]:80"`` and ``"[0::1]:80"`` are one).
            The tables of levels whose hosts and panic state did not change
            are reused.
        :raises ConfigError: an address that is not in the cluster.
        """
        levels = self._check()
        if not isinstance(health, Mapping):
            raise TypeError(f"health must be a mapping, not {type(health).__name__}")
        changes: dict[str, str] = {}
        for address, status in health.items():
            if not isinstance(address, str):
                raise TypeError(f"health keys must be str addresses, got {short(address)}")
            changes[canonical_address(address)] = check_health(status, f"health[{address!r}]")
        known = {h.address for h in self.hosts}
        for address in changes:
            if address not in known:
                raise ConfigError(f"with_health: no host has the address {short(address)}")
        hosts = tuple(
            replace_host(h, health=changes[h.address])
            if changes.get(h.address, h.health) != h.health
            else h
            for h in self.hosts
        )
        reuse = {}
        for level in levels:
            reuse[level.hosts if level.in_panic else level.healthy] = level.table
        out = Cluster.__new__(Cluster)
        out._build(hosts, *self._config, reuse)
        return out

    # -- plumbing -------------------------------------------------------------

    def _level_lookup(self, hash: int) -> tuple[int, Callable[[int, int], Host | None]]:
        """Return *hash* checked and the lookup of the level ``choosePriority`` gives it."""
        if type(hash) is not int:
            hash = check_hash(hash)
        try:
            return hash, self._lookups[hash % 100]
        except AttributeError:
            raise uninitialised(self, "Cluster") from None

    def _check(self) -> tuple[PriorityLevel, ...]:
        try:
            return self.__dict__["_levels"]  # type: ignore[no-any-return]
        except KeyError:
            raise uninitialised(self, "Cluster") from None

    def __setattr__(self, name: str, value: object) -> None:
        raise AttributeError(f"Cluster is immutable; cannot set {name!r}")

    def __delattr__(self, name: str) -> None:
        raise AttributeError(f"Cluster is immutable; cannot delete {name!r}")

    def __len__(self) -> int:
        self._check()
        return len(self.hosts)

    def __repr__(self) -> str:
        if "_levels" not in self.__dict__:
            return "<Cluster object (not initialised)>"
        healthy, degraded = self.priority_load
        panic = [lv.priority for lv in self._levels if lv.in_panic]
        return (
            f"<Cluster {len(self.hosts)} hosts in {len(self._levels)} priorities "
            f"healthy_load={list(healthy)} degraded_load={list(degraded)} panic={panic}>"
        )

    def __reduce__(self) -> tuple[object, ...]:
        """Pickle the hosts (packed, ``_pickling``) and options; the tables rebuild on load."""
        self._check()
        config, options = self._config
        return (rebuild_hosts, (Cluster, pack_hosts(self.hosts), {**config, **options}))


def _restore(hosts: tuple[Host, ...], config: dict[str, Any], options: dict[str, Any]) -> Cluster:
    """Rebuild a cluster from a pickle of an earlier build (its hosts one by one)."""
    return Cluster(hosts, **config, **options)
