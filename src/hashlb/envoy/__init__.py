"""Envoy v3 configuration -> hashlb: clusters, endpoints and routes from a config dump.

:func:`load` reads an admin ``/config_dump`` (with or without
``?include_eds``), the bare lists of ``istioctl proxy-config
cluster|route|endpoint -o json``, or a static bootstrap (JSON or YAML), in
proto3 JSON field names (snake_case, or lowerCamelCase as ``istioctl``
prints them).  It returns an :class:`EnvoyConfig`:

* :attr:`EnvoyConfig.clusters`: one :class:`EnvoyCluster` per cluster, with
  its ``lb_policy``, table options, panic threshold, locality weighting and
  endpoints (:class:`LoadAssignment`: :class:`hashlb.Host` objects with
  priority, health, weight, locality and ``envoy.lb`` ``hash_key``); its
  :attr:`EnvoyCluster.cluster` is the :class:`hashlb.Cluster` Envoy runs,
  built on first use;
* :attr:`EnvoyConfig.route_configs`: :class:`RouteConfig` -> :class:`VirtualHost`
  -> :class:`Route`, each route with its :class:`RouteMatch`, cluster or
  weighted clusters, :class:`hashlb.HashPolicy` and :class:`RetryPolicy`;
* :meth:`EnvoyConfig.hashing_routes` and :meth:`EnvoyConfig.hashing_clusters`:
  what hashes; :meth:`EnvoyConfig.pick`: the cluster and host of a request.

Bad input raises :class:`EnvoyConfigError` (a :class:`hashlb.ConfigError`)
whose message starts with the JSON path of the bad value.  Reading YAML
needs PyYAML (``pip install "hashlb[istio]"``); JSON needs nothing.

>>> from hashlb import Request
>>> from hashlb.envoy import load
>>> config = load('''{"static_resources": {"clusters": [{"name": "web",
...   "lb_policy": "MAGLEV", "maglev_lb_config": {"table_size": "7"},
...   "load_assignment": {"endpoints": [{"lb_endpoints": [
...     {"endpoint": {"address": {"socket_address": {"address": "10.0.0.1", "port_value": 80}}}},
...     {"endpoint": {"address": {"socket_address": {"address": "10.0.0.2", "port_value": 80}}}}]}]}}],
...   "listeners": []}}''')
>>> web = config.cluster("web")
>>> web.lb_policy, [h.address for h in web.hosts], web.built
('MAGLEV', ['10.0.0.1:80', '10.0.0.2:80'], False)
>>> web.cluster.lookup(12345).address
'10.0.0.2:80'
"""

from __future__ import annotations

from . import model as _model
from ._read import EnvoyConfigError
from .model import *  # noqa: F403
from .parse import load

__all__ = ("EnvoyConfigError", "load", *_model.__all__)
