"""gRPC's ``ring_hash`` flavour: proxyless gRPC under Istio, and any gRPC client using ``ring_hash``.

gRPC builds the same ketama ring as Envoy (gRFC A42, "xDS Ring Hash LB
Policy"; ``src/core/load_balancing/ring_hash/ring_hash.cc`` in gRPC): the
same scale, running sums, ``<key>_<i>`` entry keys and xxHash64, so a
:class:`~hashlb.RingHash` predicts it once its inputs follow gRPC's rules:

* both ring sizes default to 1024 and 4096, are checked to be in
  ``[1, 8388608]`` with ``max_ring_size >= min_ring_size``, and are then
  **capped** at ``ring_size_cap`` (the channel argument
  ``grpc.lb.ring_hash.ring_size_cap``, default 4096);
* a repeated address is **merged** into one endpoint whose weight is the
  sum, at the position of its first appearance (Envoy drops the repeat);
* the request hash comes from one header, ``requestHashHeader``: its values
  joined with ``","`` in send order, hashed with xxHash64 (Envoy hashes each
  value and chains them), :class:`RequestHashHeader`;
* the pick walks the ring from the request's entry and takes the first
  endpoint whose connection is READY, skipping those in TRANSIENT_FAILURE
  (:func:`choose_ready`): the first live ``lookup(hash, attempt=k)``.

There is no panic, priority load or attempt loop on this path: gRPC drops
EDS endpoints that are not UNKNOWN or HEALTHY before the ring is built.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

from ._grpc_config import RING_SIZE_CAP as RING_SIZE_CAP
from ._grpc_config import ring_config as ring_config
from ._types import Host, Table
from ._validate import short
from .errors import ConfigError

__all__ = ("RING_SIZE_CAP", "RequestHashHeader", "choose_ready", "ring_config", "ring_hash")


def ring_hash(
    endpoints: Iterable[str | Host],
    *,
    min_ring_size: int = 1024,
    max_ring_size: int = 4096,
    ring_size_cap: int = RING_SIZE_CAP,
) -> Table:
    """Return ``RingHash.grpc(endpoints, ...)``: the ring gRPC builds (see ``ring_config()``).

    >>> from hashlb.grpc import ring_hash
    >>> ring = ring_hash(["127.0.0.1:50051", "127.0.0.1:50052", "127.0.0.1:50051"])
    >>> [(h.address, h.weight) for h in ring.hosts], ring.min_ring_size, ring.max_ring_size
    ([('127.0.0.1:50051', 2), ('127.0.0.1:50052', 1)], 1024, 4096)
    """
    from .ring import RingHash

    table: Table = RingHash.grpc(
        endpoints,
        min_ring_size=min_ring_size,
        max_ring_size=max_ring_size,
        ring_size_cap=ring_size_cap,
    )
    return table


class RequestHashHeader:
    """gRPC's ``requestHashHeader``: the hash of one request header, gRPC's way.

    Every value of the header, joined with ``","`` in request order, hashed
    with xxHash64 (seed 0); a present empty value hashes ``""``.  No header
    gives no hash (gRPC then draws a random one).  gRPC looks the configured
    name up as given, and gRPC metadata keys are lower case: a name with an
    upper-case letter never matches.  ``-bin`` headers are hashed as the raw
    bytes the client sent.  Honoured by gRPC without xDS only with
    ``GRPC_EXPERIMENTAL_RING_HASH_SET_REQUEST_HASH_KEY=true``.

    >>> from hashlb import Request, xxh64
    >>> method = RequestHashHeader("x-user")
    >>> method.hash(Request(headers=[("x-user", "a"), ("x-user", "b")])) == xxh64(b"a,b")
    True
    """

    __slots__ = ("_matches", "name")

    name: str
    _matches: bool

    #: A request hash from this header ends the evaluation (there is only one).
    terminal = True

    def __init__(self, name: str) -> None:
        if getattr(self, "name", None) is not None:
            raise TypeError("RequestHashHeader is immutable; it cannot be re-initialised")
        if not isinstance(name, str):
            raise TypeError(f"RequestHashHeader.name must be a str, not {type(name).__name__}")
        if not name or not name.isascii():
            raise ConfigError(
                f"RequestHashHeader.name must be a non-empty ASCII header name, got {short(name)}"
            )
        object.__setattr__(self, "name", str(name))
        object.__setattr__(self, "_matches", name == name.lower())

    def hash(self, request: Any) -> int | None:
        """Return gRPC's request hash of *request* (a ``Request``), or None."""
        from .hashing import xxh64
        from .policy import Request

        if not self._matches or not isinstance(request, Request):
            return None
        values = request.get_all(self.name)
        if not values:
            return None
        return xxh64(b",".join(values))

    def __setattr__(self, name: str, value: object) -> None:
        raise AttributeError(f"RequestHashHeader is immutable; cannot set {name!r}")

    def __reduce__(self) -> tuple[object, ...]:
        return (RequestHashHeader, (self.name,))

    def __repr__(self) -> str:
        return f"RequestHashHeader({self.name!r})"

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, RequestHashHeader):
            return NotImplemented
        return self.name == other.name

    def __hash__(self) -> int:
        return hash((RequestHashHeader, self.name))


def choose_ready(table: Table, hash: int, ready: Callable[[Host], object]) -> Host | None:
    """Return the host gRPC's ring_hash picker uses: the first READY endpoint from *hash*'s entry.

    Walks ``table.lookup(hash, attempt=k)`` for ``k = 0, 1, ...`` (one full
    turn of the ring) and returns the first host for which ``ready(host)`` is
    true; None when no endpoint is ready (gRPC then queues the call) or the
    ring is empty.  *table* is a ring from :func:`ring_hash`.
    """
    size = len(table)  # type: ignore[arg-type]
    for attempt in range(size):
        host = table.lookup(hash, attempt)
        if host is None:
            return None
        if ready(host):
            return host
    return None
