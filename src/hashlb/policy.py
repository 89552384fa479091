"""Envoy's HTTP hash policies: request -> 64-bit hash (``source/common/http/hash_policy.cc``).

Dispatcher for the compiled ``_policy_c`` or the pure ``_policy_py`` twin::

    from hashlb.policy import HashPolicy, Header, Cookie, SourceIP, QueryParameter, Request

A :class:`HashPolicy` is an ordered list of hash methods; evaluated on a
:class:`Request` it gives the hash Envoy's router would compute, or None.
:class:`Request` lives in :mod:`hashlb.request` and is re-exported here.
The names are the twin's ``__all__`` (one list, in ``_policy_py``/``_policy_c``).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from ._compat import USE_EXTENSIONS

if TYPE_CHECKING or not USE_EXTENSIONS:
    from ._policy_py import *  # noqa: F403
    from ._policy_py import __all__ as __all__
else:
    from ._policy_c import *  # noqa: F403
    from ._policy_c import __all__ as __all__

from ._public import publish as _publish

# help() and pickle name this module for the names hashlb does not export (HashResult).
_publish(__name__, [globals()[name] for name in ("HashResult",)])
del _publish
