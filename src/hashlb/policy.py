"""Envoy's HTTP hash policies: request -> 64-bit hash (spec §8).

Dispatcher for the compiled ``_policy_c`` or the pure ``_policy_py`` twin::

    from hashlb.policy import HashPolicy, Header, Cookie, SourceIP, QueryParameter, Request

A :class:`HashPolicy` is an ordered list of hash methods; evaluated on a
:class:`Request` it gives the hash Envoy's router would compute, or None.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from ._compat import USE_EXTENSIONS

__all__ = (
    "Cookie",
    "HashPolicy",
    "HashResult",
    "Header",
    "QueryParameter",
    "Request",
    "SourceIP",
)

if TYPE_CHECKING or not USE_EXTENSIONS:
    from ._policy_py import (
        Cookie,
        HashPolicy,
        HashResult,
        Header,
        QueryParameter,
        Request,
        SourceIP,
    )
else:
    from ._policy_c import (
        Cookie,
        HashPolicy,
        HashResult,
        Header,
        QueryParameter,
        Request,
        SourceIP,
    )
