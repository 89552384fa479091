"""Deprecated alias of the old ``hashlb.cli.mesh``: import from :mod:`hashlb.istio` (this alias goes in the next release).

``import hashlb.cli.mesh`` stays quiet; each name taken from it (``from
hashlb.cli.mesh import load_mesh``) emits a :class:`DeprecationWarning` and
returns the object of :mod:`hashlb.istio`.
"""

from __future__ import annotations

from ._moved import moved

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


__getattr__, __dir__ = moved(__name__, _MOVED)
