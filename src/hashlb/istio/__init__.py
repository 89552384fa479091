"""Istio and Kubernetes YAML -> :class:`hashlb.Router` objects: the library behind ``hashlb simulate``.

Read DestinationRules, VirtualServices, Services, Deployments and Pods
with :func:`load_mesh`, pick the host to simulate with
:meth:`Mesh.scenario`, and build one :class:`RouteEngine` (a
:class:`hashlb.Router` plus per-subset fallbacks) per ``http`` route with
:func:`build_engines`.  Bad input raises :class:`InputError`, one line
that starts with ``FILE:LINE``.

This package needs PyYAML: ``pip install "hashlb[istio]"``.  What is read
and what it means (hosts, ``loadBalancer`` precedence, synthetic pod
addresses) is described in :mod:`hashlb.istio.mesh`.

>>> from hashlb.istio import build_engines, load_mesh
>>> scenario = load_mesh(["examples/istio-canary/"]).scenario()  # doctest: +SKIP
>>> engines = build_engines(scenario, "envoy", seed=0)  # doctest: +SKIP
"""

from __future__ import annotations

try:
    import yaml as _yaml_module  # noqa: F401  (checked here, used by ._yaml)
except ImportError as _e:
    raise ImportError('hashlb.istio needs PyYAML: pip install "hashlb[istio]"') from _e

from .._source import InputError, Where
from .mesh import Mesh, load_mesh
from .model import (
    HOST_LABEL,
    Destination,
    Endpoint,
    HashKey,
    LoadBalancer,
    Pod,
    RoutePlan,
    Scenario,
)
from .parse import match_regex, resolve_host
from .translate import (
    MatchRequest,
    RouteEngine,
    TableCache,
    build_engines,
    plan_matches,
    table_bytes,
)

__all__ = (
    "HOST_LABEL",
    "Destination",
    "Endpoint",
    "HashKey",
    "InputError",
    "LoadBalancer",
    "MatchRequest",
    "Mesh",
    "Pod",
    "RouteEngine",
    "RoutePlan",
    "Scenario",
    "TableCache",
    "Where",
    "build_engines",
    "load_mesh",
    "match_regex",
    "plan_matches",
    "resolve_host",
    "table_bytes",
)
