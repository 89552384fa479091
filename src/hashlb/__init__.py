"""hashlb: Envoy-exact consistent hashing (ring hash, Maglev) for Python.

The compiled (Cython) and pure-Python implementations give identical results;
:data:`IMPLEMENTATION` says which one is active (``"c"`` or ``"py"``).
"""

from __future__ import annotations

import importlib as _importlib
from typing import Any as _Any

from ._columns import NO_HOST
from ._public import publish as _publish
from ._types import HashMethod, Host, Table
from .bounded import BoundedLoad
from .cluster import Cluster
from .errors import ConfigError, HashlbError
from .hashing import IMPLEMENTATION, murmur2_64, murmur3_64, xxh64, xxh64_list, xxh64_many
from .maglev import Maglev
from .policy import Cookie, FilterState, HashPolicy, Header, QueryParameter, Request, SourceIP
from .ring import RingHash
from .routebatch import RouteBatch
from .router import Route, Router
from .subset import WeightedSubsetPicker

__version__ = "0.1.0"

__all__ = (
    "IMPLEMENTATION",
    "NO_HOST",
    "BoundedLoad",
    "Cluster",
    "ConfigError",
    "Cookie",
    "FilterState",
    "HashMethod",
    "HashPolicy",
    "HashlbError",
    "Header",
    "Host",
    "Maglev",
    "QueryParameter",
    "Request",
    "RingHash",
    "Route",
    "RouteBatch",
    "Router",
    "SourceIP",
    "Table",
    "WeightedSubsetPicker",
    "__version__",
    "murmur2_64",
    "murmur3_64",
    "xxh64",
    "xxh64_list",
    "xxh64_many",
)

# help(), repr() and pickle name the public module of the selected twin's objects.
_publish("hashlb", [globals()[name] for name in __all__])
del _publish


#: Submodules that ``hashlb.<name>`` imports on first use (PEP 562), so that
#: ``import hashlb`` stays light for proxies: ``hashlb.diff.diff(...)`` works
#: after a plain ``import hashlb``.
_SUBMODULES = frozenset({"dask", "diff", "envoy", "grpc", "istio", "replay"})


def __getattr__(name: str) -> _Any:
    if name in _SUBMODULES:
        return _importlib.import_module(f"{__name__}.{name}")
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
