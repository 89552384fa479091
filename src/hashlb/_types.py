"""Value types shared by both implementations: :class:`Host`, :class:`Lease`, and the protocols.

A plain Python module that the compiled and the pure twins both import, so
there is one ``Host`` and one ``Lease`` type (msgpack's ``ext.py`` pattern).  :class:`Table`
and :class:`HashMethod` name what a router needs of a table and of a hash
method, so that a user's own table or method can stand in for hashlb's.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from types import MappingProxyType, TracebackType
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

from ._address import canonical_address
from ._slots import checked_property
from ._validate import (
    LEASE_NOT_PICKLED,
    MAX_PRIORITY,
    MAX_WEIGHT,
    as_int,
    check_health,
    refuse_pickle,
    short,
    uninitialised,
)
from .errors import ConfigError


class _Counts(Protocol):
    """What a :class:`Lease` needs of its balancer (a :class:`~hashlb.BoundedLoad`)."""

    def _release_index(self, index: int) -> None: ...


__all__ = ("MAX_WEIGHT", "HashMethod", "Host", "Lease", "Table")

if TYPE_CHECKING:  # numpy is optional at run time; these names exist only for typing
    from array import array
    from typing import TypeAlias

    import numpy as np
    import numpy.typing as npt

    #: What the batch lookups return: ``uint32`` host indices (``hashlb.NO_HOST`` for
    #: none), a numpy array for numpy or columnar input, ``array('I')`` for a list.
    HostIndices: TypeAlias = "array[int] | npt.NDArray[np.uint32]"
    #: What ``xxh64_many`` returns: ``uint64`` hashes, masked where a row was null.
    Hashes: TypeAlias = "npt.NDArray[np.uint64] | np.ma.MaskedArray[Any, np.dtype[np.uint64]]"


_EMPTY: Mapping[str, str] = MappingProxyType({})


def _opt_str(value: object, field: str) -> str | None:
    if value is None or type(value) is str:
        return value
    if isinstance(value, str):
        return str(value)
    raise TypeError(f"Host.{field} must be a str or None, not {type(value).__name__}")


class Host:
    """An upstream endpoint: an immutable, hashable value.

    :param str address: the endpoint address, ``"ip:port"`` for IPv4 or
        ``"[ip6]:port"`` for IPv6 -- the string Envoy hashes by default.  An
        IP literal is stored as Envoy prints it back (``asString()``):
        ``"[01:023::00Ef]:32000"`` becomes ``"[1:23::ef]:32000"``; any other
        string (a DNS name, an ``envoy://`` internal address) is kept as given.
    :param int weight: the load-balancing weight, ``1 <= weight <= 2**32 - 1``.
    :param int priority: the priority level (EDS ``LocalityLbEndpoints.priority``),
        ``0 <= priority <= 128``; 0 is the most preferred.
    :param str health: the EDS health status, case-insensitive: ``"unknown"``,
        ``"healthy"``, ``"unhealthy"``, ``"draining"``, ``"timeout"``,
        ``"degraded"``, or ``"excluded"`` (kept out of the health counts);
        stored in lower case.  A table built directly from hosts uses every host
        it is given; health decides which hosts a cluster's tables hold.
    :param hostname: the host name, hashed instead of the address when a table
        is built with ``use_hostname=True``.
    :param hash_key: an explicit hash key (Envoy's ``envoy.lb`` ``hash_key``
        metadata); when set and non-empty it wins over hostname and address.
    :param locality: the locality name, used with ``locality_weights``.
    :param labels: pod labels (e.g. ``{"version": "canary"}``), matched by
        subset selectors.
    :raises TypeError: a field has the wrong type.
    :raises ValueError: the address is empty or malformed (an unbracketed IPv6
        address, a malformed IP literal, a port outside ``[0, 65535]``: a
        :class:`~hashlb.errors.ConfigError`), or the weight, priority or
        health is out of range.

    >>> Host("10.0.0.1:8080", 2, labels={"version": "v1"})
    Host('10.0.0.1:8080', 2, labels={'version': 'v1'})
    >>> Host("10.0.0.1:8080").key()
    '10.0.0.1:8080'
    >>> Host("[01:023::00Ef]:32000", priority=1, health="DEGRADED")
    Host('[1:23::ef]:32000', priority=1, health='degraded')
    """

    __slots__ = (
        "_hash",
        "_key_bytes",
        "address",
        "hash_key",
        "health",
        "hostname",
        "labels",
        "locality",
        "priority",
        "weight",
    )

    address: str
    weight: int
    priority: int
    health: str
    hostname: str | None
    hash_key: str | None
    locality: str | None
    labels: Mapping[str, str]
    _hash: int
    _key_bytes: bytes  # key(use_hostname=False).encode(), precomputed for table builds

    def __init__(
        self,
        address: str,
        weight: int = 1,
        *,
        priority: int = 0,
        health: str = "healthy",
        locality: str | None = None,
        hostname: str | None = None,
        hash_key: str | None = None,
        labels: Mapping[str, str] | None = None,
    ) -> None:
        if type(address) is not str:
            if not isinstance(address, str):
                raise TypeError(f"Host.address must be a str, not {type(address).__name__}")
            address = str(address)
        if not address:
            raise ValueError("Host.address must not be empty")
        address = canonical_address(address)
        if type(weight) is not int:
            if isinstance(weight, bool) or not hasattr(weight, "__index__"):
                raise TypeError(f"Host.weight must be an int, not {type(weight).__name__}")
            weight = int(weight.__index__())
        if not 1 <= weight <= MAX_WEIGHT:
            raise ValueError(f"Host.weight must be in [1, 2**32 - 1], got {weight} for {address!r}")
        if priority != 0 or type(priority) is not int:
            priority = as_int(priority, "Host.priority")
            if not 0 <= priority <= MAX_PRIORITY:
                raise ValueError(f"Host.priority must be in [0, {MAX_PRIORITY}], got {priority}")
        if health != "healthy":
            health = check_health(health, "Host.health")
        if labels is None or labels is _EMPTY or (type(labels) is dict and not labels):
            frozen: Mapping[str, str] = _EMPTY
            label_key: frozenset[tuple[str, str]] | None = None
        else:
            if not isinstance(labels, Mapping):
                raise TypeError(f"Host.labels must be a mapping, not {type(labels).__name__}")
            items = {}
            for k, v in labels.items():
                if not isinstance(k, str) or not isinstance(v, str):
                    raise TypeError(f"Host.labels must map str to str, got {k!r}: {v!r}")
                items[str(k)] = str(v)
            frozen = MappingProxyType(items) if items else _EMPTY
            label_key = frozenset(items.items()) if items else None
        if hostname is not None:
            hostname = _opt_str(hostname, "hostname")
        if hash_key is not None:
            hash_key = _opt_str(hash_key, "hash_key")
        if locality is not None:
            locality = _opt_str(locality, "locality")
        if getattr(self, "_hash", None) is not None:
            raise TypeError("Host is immutable; it cannot be re-initialised")
        # The slot descriptors' own setters: faster than object.__setattr__,
        # which pays for the guard above (below the class).
        _set_address(self, address)
        _set_weight(self, weight)
        _set_priority(self, priority)
        _set_health(self, health)
        _set_hostname(self, hostname)
        _set_hash_key(self, hash_key)
        _set_locality(self, locality)
        _set_labels(self, frozen)
        _set_key_bytes(self, (hash_key or address).encode())
        _set_hash(
            self, hash((address, weight, priority, health, hostname, hash_key, locality, label_key))
        )

    def key(self, use_hostname: bool = False) -> str:
        """Return the string Envoy hashes for this host (its ``hashKey()``).

        ``hash_key`` if set and non-empty, else ``hostname`` when
        *use_hostname* (and the hostname is set), else ``address``.
        """
        if self.hash_key:
            return self.hash_key
        if use_hostname and self.hostname is not None:
            return self.hostname
        return self.address

    def _fields(self) -> tuple[object, ...]:
        return (
            self.address,
            self.weight,
            self.priority,
            self.health,
            self.hostname,
            self.hash_key,
            self.locality,
            dict(self.labels),
        )

    def __setattr__(self, name: str, value: object) -> None:
        raise AttributeError(f"Host is immutable; cannot set {name!r}")

    def __delattr__(self, name: str) -> None:
        raise AttributeError(f"Host is immutable; cannot delete {name!r}")

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Host):
            return NotImplemented
        return self._fields() == other._fields()

    def __hash__(self) -> int:
        return self._hash

    def _sort_key(self) -> tuple[object, ...]:
        """Return a total order over every field (used to break key ties)."""
        return (
            self.address.encode(),
            self.weight,
            self.priority,
            self.health,
            self.hostname or "",
            self.hash_key or "",
            self.locality or "",
            sorted(self.labels.items()),
        )

    def __reduce__(self) -> tuple[object, ...]:
        return (_restore, self._fields())

    def __repr__(self) -> str:
        parts = [repr(self.address)]
        if self.weight != 1:
            parts.append(repr(self.weight))
        if self.priority:
            parts.append(f"priority={self.priority!r}")
        if self.health != "healthy":
            parts.append(f"health={self.health!r}")
        for name in ("hostname", "hash_key", "locality"):
            value = getattr(self, name)
            if value is not None:
                parts.append(f"{name}={value!r}")
        if self.labels:
            parts.append(f"labels={dict(self.labels)!r}")
        return f"Host({', '.join(parts)})"


# Host.__setattr__ refuses every write, so __init__ writes through the slot
# descriptors: ``Host.__dict__["address"].__set__(host, value)``.
(
    _set_address,
    _set_weight,
    _set_priority,
    _set_health,
    _set_hostname,
    _set_hash_key,
    _set_locality,
    _set_labels,
    _set_key_bytes,
    _set_hash,
) = (
    Host.__dict__[name].__set__
    for name in (
        "address",
        "weight",
        "priority",
        "health",
        "hostname",
        "hash_key",
        "locality",
        "labels",
        "_key_bytes",
        "_hash",
    )
)


def check_hosts(hosts: object, hint: str) -> tuple[Host, ...]:
    """Return *hosts* as a tuple of :class:`Host` with distinct addresses.

    :raises TypeError: not an iterable of Host.
    :raises ConfigError: a repeated address; the message ends with *hint*.
    """
    if isinstance(hosts, (str, bytes, Host)) or not isinstance(hosts, Iterable):
        raise TypeError(f"hosts must be an iterable of Host, not {type(hosts).__name__}")
    out = tuple(hosts)
    seen: dict[str, int] = {}
    for i, h in enumerate(out):
        if not isinstance(h, Host):
            raise TypeError(f"hosts[{i}] must be a Host, not {type(h).__name__}")
        j = seen.setdefault(h.address, i)
        if j != i:
            raise ConfigError(
                f"hosts[{i}] repeats the address {short(h.address)} of hosts[{j}]: {hint}"
            )
    return out


def _restore(address: str, weight: int, *fields: Any) -> Host:
    """Rebuild a pickled Host (the fields of 0.1 pickles had no priority and health)."""
    if len(fields) == 4:
        fields = (0, "healthy", *fields)
    return Host(address, weight, **dict(zip(_KEYWORDS, fields, strict=True)))


def rebuild(cls: Any, args: tuple[Any, ...], options: dict[str, Any]) -> Any:
    """Rebuild a pickled object of either twin from its constructor call: ``cls(*args, **options)``.

    Tables, pickers and hash policies pickle their constructor arguments,
    not their slots: what they derive (a ring, a compiled ``regex_rewrite``)
    is built again on load, and an immutable ``__setattr__`` is never called.
    """
    return cls(*args, **options)


def positional_restore(cls: Any, names: tuple[str, ...]) -> Any:
    """Return the ``_restore`` that pickles of earlier builds call: ``(first, *values)``.

    Those pickles stored the options by position, in *names* order; a
    shorter tuple (from before an option existed) leaves the rest at their
    defaults.
    """

    def _restore(first: object, *values: Any) -> Any:
        return cls(first, **dict(zip(names, values, strict=False)))

    return _restore


def replace_host(host: Host, **changes: Any) -> Host:
    """Return a new Host with the fields of *host* but *changes* (keyword fields only)."""
    values: dict[str, Any] = dict(zip(_KEYWORDS, host._fields()[2:], strict=True))
    values.update(changes)
    return Host(host.address, host.weight, **values)


#: Host's keyword fields, in ``_fields()`` order after address and weight.
_KEYWORDS = ("priority", "health", "hostname", "hash_key", "locality", "labels")


class Lease:
    """An in-flight request on a host, from BoundedLoad.acquire().

    Use it as a context manager (``with bl.acquire(h) as host:``); leaving
    the block releases the request.  :meth:`release` may also be called
    directly; a lease releases at most once.  *balancer* is the
    :class:`~hashlb.BoundedLoad` that counts the request, *index* the host's
    index in it (``-1``: nothing to release).
    """

    __slots__ = ("_balancer", "_host", "_index")

    host: Host | None = checked_property(
        "_host", "Lease", "The host chosen (``None`` for an empty host set)."
    )

    def __init__(self, balancer: _Counts, index: int, host: Host | None) -> None:
        self._balancer = balancer
        self._index = index
        self._host = host

    def release(self) -> None:
        """Release the request (idempotent)."""
        try:
            index = self._index
        except AttributeError:
            raise uninitialised(self, "Lease") from None
        if index >= 0:
            self._index = -1
            self._balancer._release_index(index)

    def __enter__(self) -> Host | None:
        return self.host

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.release()

    def __reduce__(self) -> tuple[Any, ...]:
        raise refuse_pickle(self, LEASE_NOT_PICKLED)

    def __repr__(self) -> str:
        if not hasattr(self, "_index"):
            return "<Lease object (not initialised)>"
        state = "released" if self._index < 0 else "held"
        return f"<Lease {self.host!r} {state}>"


@runtime_checkable
class Table(Protocol):
    """A hash -> host table: what a Router and bounded load need.

    Envoy's ``chooseHost(hash, attempt)``: :class:`~hashlb.Maglev` and
    :class:`~hashlb.RingHash` are tables, and so is any object with these
    members (``isinstance(obj, hashlb.Table)`` checks that they exist).
    """

    @property
    def hosts(self) -> tuple[Host, ...]:
        """The hosts, in host-index order."""
        ...

    def lookup(self, hash: int, attempt: int = 0) -> Host | None:
        """Return the host for request *hash* on retry *attempt*, or None when empty."""
        ...

    def lookup_many(self, hashes: Any) -> HostIndices:
        """Return the host index of each hash (attempt 0), as a uint32 array."""
        ...


@runtime_checkable
class HashMethod(Protocol):
    """One hash method of a HashPolicy: request -> hash, or None.

    :class:`~hashlb.Header`, :class:`~hashlb.Cookie`, :class:`~hashlb.SourceIP`
    and :class:`~hashlb.QueryParameter` are hash methods.
    """

    @property
    def terminal(self) -> bool:
        """Whether a hash from this method ends the policy's evaluation."""
        ...

    def hash(self, request: Any) -> int | None:
        """Return this method's hash of *request*, or None when it yields none."""
        ...
