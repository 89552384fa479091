"""Deprecated alias of the old ``hashlb.cli.mesh``: import from :mod:`hashlb.istio` (this alias goes in the next release).

``import hashlb.cli.mesh`` stays quiet; each name taken from it (``from
hashlb.cli.mesh import load_mesh``) emits a :class:`DeprecationWarning` and
returns the object of :mod:`hashlb.istio`.
"""

from __future__ import annotations

import importlib
import warnings
from typing import Any

#: Where each name lives now.
_MOVED = {
    "HOST_LABEL": "hashlb.istio",
    "Destination": "hashlb.istio",
    "Endpoint": "hashlb.istio",
    "HashKey": "hashlb.istio",
    "LoadBalancer": "hashlb.istio",
    "Mesh": "hashlb.istio",
    "Pod": "hashlb.istio",
    "RoutePlan": "hashlb.istio",
    "Scenario": "hashlb.istio",
    "load_mesh": "hashlb.istio",
    "match_regex": "hashlb.istio",
    "resolve_host": "hashlb.istio",
}


def __getattr__(name: str) -> Any:
    module = _MOVED.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    warnings.warn(
        f"hashlb.cli.mesh.{name} is deprecated: import it from {module} "
        '(pip install "hashlb[istio]")',
        DeprecationWarning,
        stacklevel=2,
    )
    return getattr(importlib.import_module(module), name)


def __dir__() -> list[str]:
    return sorted(_MOVED)
