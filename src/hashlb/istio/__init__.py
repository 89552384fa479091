"""Istio and Kubernetes YAML -> ``hashlb.Router`` objects: the library behind ``hashlb simulate``.

Read DestinationRules, VirtualServices, Services, Deployments and Pods
with :func:`load_mesh`, pick the host to simulate with
:meth:`Mesh.scenario`, and build one :class:`RouteEngine` (a
:class:`hashlb.Router` plus per-subset fallbacks) per ``http`` route with
:func:`build_engines`.  Bad input raises :class:`InputError`, one line
that starts with ``FILE:LINE``.

This package needs PyYAML: ``pip install "hashlb[istio]"``.  What is read
and what it means (hosts, ``loadBalancer`` precedence, synthetic pod
addresses) is described in :mod:`hashlb.istio.mesh`.

One Deployment of three replicas behind a Service, hashed on a header
(``-`` reads *stdin_text*; the pods get stable synthetic addresses):

>>> from hashlb import Request
>>> from hashlb.istio import build_engines, load_mesh
>>> mesh_yaml = '''
... apiVersion: networking.istio.io/v1
... kind: DestinationRule
... metadata: {name: web}
... spec:
...   host: web
...   trafficPolicy: {loadBalancer: {consistentHash: {httpHeaderName: x-user}}}
... ---
... apiVersion: apps/v1
... kind: Deployment
... metadata: {name: web}
... spec:
...   replicas: 3
...   selector: {matchLabels: {app: web}}
...   template:
...     metadata: {labels: {app: web}}
...     spec: {containers: [{name: web, ports: [{containerPort: 8080}]}]}
... ---
... apiVersion: v1
... kind: Service
... metadata: {name: web}
... spec: {selector: {app: web}, ports: [{port: 80, targetPort: 8080}]}
... '''
>>> scenario = load_mesh(["-"], stdin_text=mesh_yaml).scenario()
>>> scenario.host
'web.default.svc.cluster.local'
>>> (engine,) = build_engines(scenario, "envoy", seed=0)
>>> subset, address, pod, route_hash, set_cookie = engine.route(Request(headers={"x-user": "alice"}))
>>> subset, address, pod
('web', '10.85.167.2:8080', 'web-0')
"""

from __future__ import annotations

try:
    import yaml as _yaml_module  # noqa: F401  (checked here, used by ._yaml)
except ImportError as _e:
    raise ImportError('hashlb.istio needs PyYAML: pip install "hashlb[istio]"') from _e

from .._source import InputError, Where
from ._fields import resolve_host
from .mesh import Mesh, load_mesh
from .model import (
    HEALTH_ANNOTATION,
    HOST_LABEL,
    LOCALITY_ANNOTATION,
    ClusterHealth,
    Destination,
    Endpoint,
    HashKey,
    LoadBalancer,
    LocalityPlan,
    Pod,
    RoutePlan,
    Scenario,
)
from .parse import match_regex
from .translate import (
    MatchRequest,
    RouteEngine,
    SubsetHealth,
    TableCache,
    build_engines,
    plan_matches,
    table_bytes,
)
from .xds import config_dump

__all__ = (
    "HEALTH_ANNOTATION",
    "HOST_LABEL",
    "LOCALITY_ANNOTATION",
    "ClusterHealth",
    "Destination",
    "Endpoint",
    "HashKey",
    "InputError",
    "LoadBalancer",
    "LocalityPlan",
    "MatchRequest",
    "Mesh",
    "Pod",
    "RouteEngine",
    "RoutePlan",
    "Scenario",
    "SubsetHealth",
    "TableCache",
    "Where",
    "build_engines",
    "config_dump",
    "load_mesh",
    "match_regex",
    "plan_matches",
    "resolve_host",
    "table_bytes",
)
