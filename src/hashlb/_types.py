"""Value types shared by both implementations: :class:`Host`, :class:`Lease`, and the protocols.

A plain Python module that the compiled and the pure twins both import, so
there is one ``Host`` and one ``Lease`` type (msgpack's ``ext.py`` pattern).  :class:`Table`
and :class:`HashMethod` name what a router needs of a table and of a hash
method, so that a user's own table or method can stand in for hashlb's.
"""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType, TracebackType
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

from ._validate import uninitialised

if TYPE_CHECKING:
    from .bounded import BoundedLoad

__all__ = ("MAX_WEIGHT", "HashMethod", "Host", "Lease", "Table")

#: Envoy weights are uint32; a weight (and a sum of weights) must fit.
MAX_WEIGHT = 2**32 - 1

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
        ``"[ip6]:port"`` for IPv6 -- the string Envoy hashes by default.
    :param int weight: the load-balancing weight, ``1 <= weight <= 2**32 - 1``.
    :param hostname: the host name, hashed instead of the address when a table
        is built with ``use_hostname=True``.
    :param hash_key: an explicit hash key (Envoy's ``envoy.lb`` ``hash_key``
        metadata); when set and non-empty it wins over hostname and address.
    :param locality: the locality name, used with ``locality_weights``.
    :param labels: pod labels (e.g. ``{"version": "canary"}``), matched by
        subset selectors.
    :raises TypeError: a field has the wrong type.
    :raises ValueError: the address is empty or the weight is out of range.

    >>> Host("10.0.0.1:8080", 2, labels={"version": "v1"})
    Host('10.0.0.1:8080', 2, labels={'version': 'v1'})
    >>> Host("10.0.0.1:8080").key()
    '10.0.0.1:8080'
    """

    __slots__ = (
        "_hash",
        "_key_bytes",
        "address",
        "hash_key",
        "hostname",
        "labels",
        "locality",
        "weight",
    )

    address: str
    weight: int
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
        hostname: str | None = None,
        hash_key: str | None = None,
        locality: str | None = None,
        labels: Mapping[str, str] = _EMPTY,
    ) -> None:
        if type(address) is not str:
            if not isinstance(address, str):
                raise TypeError(f"Host.address must be a str, not {type(address).__name__}")
            address = str(address)
        if not address:
            raise ValueError("Host.address must not be empty")
        if type(weight) is not int:
            if isinstance(weight, bool) or not hasattr(weight, "__index__"):
                raise TypeError(f"Host.weight must be an int, not {type(weight).__name__}")
            weight = int(weight.__index__())
        if not 1 <= weight <= MAX_WEIGHT:
            raise ValueError(f"Host.weight must be in [1, 2**32 - 1], got {weight} for {address!r}")
        if labels is _EMPTY or (type(labels) is dict and not labels):
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
        setter = object.__setattr__
        setter(self, "address", address)
        setter(self, "weight", weight)
        setter(self, "hostname", hostname)
        setter(self, "hash_key", hash_key)
        setter(self, "locality", locality)
        setter(self, "labels", frozen)
        setter(self, "_key_bytes", (hash_key or address).encode())
        setter(self, "_hash", hash((address, weight, hostname, hash_key, locality, label_key)))

    def key(self, use_hostname: bool = False) -> str:
        """Return the string Envoy hashes for this host (spec §2).

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
            self.hostname or "",
            self.hash_key or "",
            self.locality or "",
            sorted(self.labels.items()),
        )

    def __reduce__(self) -> tuple[object, ...]:
        return (
            _restore,
            (
                self.address,
                self.weight,
                self.hostname,
                self.hash_key,
                self.locality,
                dict(self.labels),
            ),
        )

    def __repr__(self) -> str:
        parts = [repr(self.address)]
        if self.weight != 1:
            parts.append(repr(self.weight))
        for name in ("hostname", "hash_key", "locality"):
            value = getattr(self, name)
            if value is not None:
                parts.append(f"{name}={value!r}")
        if self.labels:
            parts.append(f"labels={dict(self.labels)!r}")
        return f"Host({', '.join(parts)})"


def _restore(
    address: str,
    weight: int,
    hostname: str | None,
    hash_key: str | None,
    locality: str | None,
    labels: dict[str, str],
) -> Host:
    return Host(
        address, weight, hostname=hostname, hash_key=hash_key, locality=locality, labels=labels
    )


class Lease:
    """An in-flight request on a host, from :meth:`BoundedLoad.acquire`.

    Use it as a context manager (``with bl.acquire(h) as host:``); leaving
    the block releases the request.  :meth:`release` may also be called
    directly; a lease releases at most once.  *balancer* is the
    :class:`~hashlb.BoundedLoad` that counts the request, *index* the host's
    index in it (``-1``: nothing to release).
    """

    __slots__ = ("_balancer", "_index", "host")

    host: Host | None

    def __init__(self, balancer: BoundedLoad, index: int, host: Host | None) -> None:
        self._balancer = balancer
        self._index = index
        #: The host chosen (``None`` for an empty host set).
        self.host = host

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
        try:
            return self.host
        except AttributeError:
            raise uninitialised(self, "Lease") from None

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.release()

    def __repr__(self) -> str:
        if not hasattr(self, "_index"):
            return "<Lease object (not initialised)>"
        state = "released" if self._index < 0 else "held"
        return f"<Lease {self.host!r} {state}>"


@runtime_checkable
class Table(Protocol):
    """A hash -> host table: what :class:`~hashlb.Router` and bounded load need.

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

    def lookup_many(self, hashes: Any) -> Any:
        """Return the host index of each hash (attempt 0), as a uint32 array."""
        ...


@runtime_checkable
class HashMethod(Protocol):
    """One hash method of a :class:`~hashlb.HashPolicy`: request -> hash, or None.

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
