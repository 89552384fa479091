"""gRPC's ring configuration rules, shared by ``RingHash.grpc`` of both twins and :mod:`hashlb.grpc`.

A plain module that imports no table, so the ring twins can use it (see
:mod:`hashlb.grpc` for the rules and spec references).
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from ._types import Host
from ._validate import MAX_RING_SIZE, as_int, check_uint, short
from .errors import ConfigError

__all__ = ("RING_SIZE_CAP", "ring_config")

#: gRPC's default ``grpc.lb.ring_hash.ring_size_cap`` (``kRingSizeCapDefault``).
RING_SIZE_CAP = 4096


def _size(value: object, field: str) -> int:
    n = as_int(value, field)
    if not 1 <= n <= MAX_RING_SIZE:
        raise ConfigError(f"{field} must be in [1, {MAX_RING_SIZE}], got {short(value)}")
    return n


def ring_config(
    endpoints: Iterable[str | Host],
    *,
    min_ring_size: int = 1024,
    max_ring_size: int = 4096,
    ring_size_cap: int = RING_SIZE_CAP,
) -> dict[str, Any]:
    """Return the ``RingHash`` arguments of gRPC's ring for *endpoints*.

    :param endpoints: addresses (``"ip:port"``, ``"[ip6]:port"``) or
        :class:`~hashlb.Host` values, in resolver order; a repeated address
        (after canonicalisation) adds its weight to the first one.
    :returns: ``{"hosts": [...], "min_ring_size": ..., "max_ring_size": ...}``
        with the sizes capped, for ``RingHash(**ring_config(...))``.
    :raises ConfigError: a size out of range, or ``max_ring_size < min_ring_size``
        (gRPC: "maxRingSize cannot be smaller than minRingSize").
    """
    lo = _size(min_ring_size, "min_ring_size")
    hi = _size(max_ring_size, "max_ring_size")
    if hi < lo:
        raise ConfigError(
            f"max_ring_size ({hi}) cannot be smaller than min_ring_size ({lo}), as in gRPC"
        )
    cap = _size(ring_size_cap, "ring_size_cap")
    if isinstance(endpoints, (str, bytes)) or not isinstance(endpoints, Iterable):
        raise TypeError(
            f"endpoints must be an iterable of addresses or Hosts, not {type(endpoints).__name__}"
        )
    merged: dict[str, Host] = {}
    for i, endpoint in enumerate(endpoints):
        if isinstance(endpoint, str):
            host = Host(endpoint)
        elif isinstance(endpoint, Host):
            host = endpoint
        else:
            raise TypeError(
                f"endpoints[{i}] must be an address or a Host, not {type(endpoint).__name__}"
            )
        first = merged.get(host.address)
        if first is None:
            merged[host.address] = host
        else:
            weight = check_uint(first.weight + host.weight, f"endpoints[{i}] merged weight", 32)
            merged[host.address] = Host(
                first.address,
                weight,
                locality=first.locality,
                hostname=first.hostname,
                hash_key=first.hash_key,
                labels=first.labels,
            )
    return {
        "hosts": list(merged.values()),
        "min_ring_size": min(lo, cap),
        "max_ring_size": min(hi, cap),
    }
