"""Host-set preparation shared by every table (hash keys, normalized weights), in plain Python.

Both twins of both engines call :func:`prepare` at build time, so hash-key
choice, validation and weight normalization exist once.  Normalized weights
are IEEE doubles computed in exactly Envoy's order of operations
(``ThreadAwareLoadBalancerBase::refresh``): ``(weight * 1.0) / sum``, or
``(weight * (locality_weight / lsum)) / locality_host_weight_sum``.  Do not
"simplify" these expressions: the ring's entry counts depend on the last bit.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from ._types import Host
from ._validate import MAX_WEIGHT, check_hash, check_int, short, str_keyed_items
from .errors import ConfigError

__all__ = ("Prepared", "check_hash", "prepare")


@dataclass(frozen=True)
class Prepared:
    """A validated host set, ready for a table build.

    ``hosts`` is the tuple in the caller's order (host index = position).
    ``order`` lists the host indices in Envoy's iteration order (host order,
    or locality by locality in ``locality_weights`` order, hosts in given
    order within a locality); hosts in zero-weight localities are left out.
    ``weights[i]`` is the normalized weight of ``order[i]``.
    """

    hosts: tuple[Host, ...]
    keys: tuple[bytes, ...]  # hash key bytes, aligned with hosts
    order: tuple[int, ...]
    weights: tuple[float, ...]
    min_weight: float
    max_weight: float


def prepare(
    hosts: Iterable[Host],
    *,
    use_hostname: bool = False,
    locality_weights: Mapping[str, int] | None = None,
) -> Prepared:
    """Validate *hosts* and compute Envoy's normalized weights.

    As ``ThreadAwareLoadBalancerBase::refresh`` (``normalizeWeights``) does in
    ``source/extensions/load_balancing_policies/common/thread_aware_lb_impl.cc``.

    :raises TypeError: an item is not a :class:`Host`, or a weight is not an int.
    :raises ~hashlb.ConfigError: two hosts have the same address.
    :raises ValueError: the weight sum exceeds ``2**32 - 1``, a host names a
        locality missing from *locality_weights*, or a locality weight is
        out of range.
    """
    if isinstance(hosts, (str, bytes, Host)):
        raise TypeError(f"hosts must be an iterable of Host, not {type(hosts).__name__}")
    try:
        host_tuple = tuple(hosts)
    except TypeError:
        raise TypeError(f"hosts must be an iterable of Host, not {type(hosts).__name__}") from None
    if not all([isinstance(h, Host) for h in host_tuple]):
        i, bad = next((i, h) for i, h in enumerate(host_tuple) if not isinstance(h, Host))
        raise TypeError(f"hosts[{i}] must be a Host, not {type(bad).__name__}")
    if len({h.address for h in host_tuple}) != len(host_tuple):
        seen: set[str] = set()
        for i, h in enumerate(host_tuple):
            if h.address in seen:
                raise ConfigError(
                    f"hosts[{i}] repeats the address {short(h.address)}: a table holds each "
                    "address once (give one Host a larger weight instead)"
                )
            seen.add(h.address)
    if not isinstance(use_hostname, bool):
        raise TypeError(f"use_hostname must be a bool, not {type(use_hostname).__name__}")
    if use_hostname:
        keys = tuple([h.key(True).encode() for h in host_tuple])
    else:
        keys = tuple([h._key_bytes for h in host_tuple])
    # The compiled builds read these as C bytes and counts: a Host subclass that
    # overrides a field must still give bytes keys and int weights in range.
    if not all([type(k) is bytes for k in keys]):
        i = next(i for i, k in enumerate(keys) if type(k) is not bytes)
        raise TypeError(f"hosts[{i}] gives a hash key of type {type(keys[i]).__name__}, not bytes")
    raw = [h.weight for h in host_tuple]
    if not all([type(w) is int and 1 <= w <= MAX_WEIGHT for w in raw]):
        i = next(i for i, w in enumerate(raw) if not (type(w) is int and 1 <= w <= MAX_WEIGHT))
        if type(raw[i]) is not int:
            raise TypeError(f"hosts[{i}].weight must be an int, not {type(raw[i]).__name__}")
        raise ValueError(f"hosts[{i}].weight must be in [1, 2**32 - 1], got {short(raw[i])}")

    if locality_weights is None:
        total = sum(raw)
        if total > MAX_WEIGHT:
            raise ValueError(f"the sum of host weights must be <= 2**32 - 1, got {total}")
        order = tuple(range(len(host_tuple)))
        weights = tuple([(w * 1.0) / total for w in raw])
    else:
        lw: dict[str, int] = {}
        items = str_keyed_items(
            locality_weights, "locality_weights", "a mapping", "locality_weights keys"
        )
        for name, w in items:
            lw[name] = check_int(w, f"locality_weights[{name!r}]", 0, MAX_WEIGHT)
        lsum = sum(lw.values())
        if lsum > MAX_WEIGHT:
            raise ValueError(f"the sum of locality_weights must be <= 2**32 - 1, got {lsum}")
        members: dict[str, list[int]] = {name: [] for name in lw}
        for i, h in enumerate(host_tuple):
            if h.locality is None:
                raise ValueError(
                    f"hosts[{i}] ({h.address}) has no locality, but locality_weights is set"
                )
            if h.locality not in members:
                raise ValueError(
                    f"hosts[{i}] ({h.address}) names locality {h.locality!r}, "
                    "which is missing from locality_weights"
                )
            members[h.locality].append(i)
        for name, idx in members.items():
            s = sum(raw[i] for i in idx)
            if s > MAX_WEIGHT:
                raise ValueError(
                    f"the sum of host weights in locality {name!r} must be <= 2**32 - 1, got {s}"
                )
        order_l: list[int] = []
        weights_l: list[float] = []
        if lsum > 0:
            for name, w in lw.items():
                if w == 0 or not members[name]:
                    continue
                nlw = w / lsum
                host_sum = sum(raw[i] for i in members[name])
                for i in members[name]:
                    order_l.append(i)
                    weights_l.append((raw[i] * nlw) / host_sum)
        order, weights = tuple(order_l), tuple(weights_l)

    # Envoy starts the running min at 1.0 and the max at 0.0.
    min_w: float = min(1.0, *weights) if weights else 1.0
    max_w: float = max(0.0, *weights) if weights else 0.0
    return Prepared(host_tuple, keys, order, weights, min_w, max_w)
