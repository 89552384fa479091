"""Envoy's host-selection retry loop, shared by the tables of both twins and by clusters.

``ThreadAwareLoadBalancerBase::LoadBalancerImpl::chooseHost`` (Envoy's
``source/extensions/load_balancing_policies/common/thread_aware_lb_impl.cc``): try attempts ``0, 1, ...``
of one table until the retry host predicates accept a host; a ``None`` from
the table ends the loop at once, and when every attempt is rejected the last
attempt's host is returned.  The first try of a request (one attempt, no
predicate) never reaches this module: each table answers it in C.
"""

from __future__ import annotations

from collections.abc import Callable

from ._types import Host
from ._validate import MAX_ATTEMPTS, as_int

__all__ = ("Reject", "check_retry", "choose")


#: A retry host predicate: true for a host to pass over ("select another host"), or None.
Reject = Callable[[Host], object] | None


def check_retry(reject: object, max_attempts: object) -> int:
    """Return *max_attempts* checked to be in ``[1, MAX_ATTEMPTS]``; *reject* must be callable or None."""
    attempts = as_int(max_attempts, "max_attempts")
    if not 1 <= attempts <= MAX_ATTEMPTS:
        raise ValueError(f"max_attempts must be in [1, {MAX_ATTEMPTS}], got {attempts}")
    if reject is not None and not callable(reject):
        raise TypeError(f"reject must be callable or None, not {type(reject).__name__}")
    return attempts


def choose(
    lookup: Callable[[int, int], Host | None],
    hash: int,
    reject: Reject,
    max_attempts: object,
) -> Host | None:
    """Run ``chooseHost`` over ``lookup(hash, attempt)``; the arguments are checked here.

    A first try (one attempt, no *reject*) is ``lookup(hash, 0)``.
    """
    if reject is None and max_attempts == 1 and type(max_attempts) is int:
        return lookup(hash, 0)
    attempts = check_retry(reject, max_attempts)
    host = None
    for attempt in range(attempts):
        host = lookup(hash, attempt)
        if host is None or reject is None or not reject(host):
            return host
    return host
