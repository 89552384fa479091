"""Envoy v3 JSON (or YAML) -> the objects of :mod:`hashlb.envoy.model`.

The shapes read (Envoy's admin ``/config_dump``, ``envoy.admin.v3.ConfigDump``):

* an admin ``/config_dump`` (``{"configs": [...]}``, with or without
  ``?include_eds``): ``ClustersConfigDump`` (``static_clusters``,
  ``dynamic_active_clusters``; warming clusters are skipped),
  ``RoutesConfigDump`` (``static_route_configs``, ``dynamic_route_configs``),
  ``EndpointsConfigDump`` (``static_endpoint_configs``,
  ``dynamic_endpoint_configs``), ``ListenersConfigDump`` (route
  configurations inline in an ``HttpConnectionManager``); other dumps are
  ignored;
* ``istioctl proxy-config cluster|route|endpoint -o json``: a bare list of
  ``Cluster``, ``RouteConfiguration`` or ``/clusters`` ``ClusterStatus``
  messages (an element is recognised by its fields);
* a static bootstrap: ``static_resources.clusters`` (endpoints in their
  ``load_assignment``) and ``static_resources.listeners``.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Mapping
from typing import Any

from ..versions import EnvoyProfile
from ._clusters import _cluster, _cluster_status, _load_assignment, _locality, _type_name
from ._read import (
    EnvoyConfigError,
    as_list,
    as_object,
    fail,
    get,
    read_source,
)
from ._routes import _Ctx, _listener_routes, _route_config
from .model import (
    EnvoyCluster,
    EnvoyConfig,
    LoadAssignment,
    RouteConfig,
)

__all__ = ("load",)


# -- documents -------------------------------------------------------------------


class _Collector:
    """Everything read from the inputs, before the clusters get their endpoints."""

    def __init__(self, envoy_version: str | EnvoyProfile) -> None:
        self.envoy_version = envoy_version
        self.ctx = _Ctx(envoy_version)
        self.source = ""
        self.clusters: dict[str, tuple[EnvoyCluster, LoadAssignment | None]] = {}
        self.eds: dict[str, LoadAssignment] = {}
        self.status: dict[str, LoadAssignment] = {}
        #: RouteConfig objects, and (message, path, source) of RDS ones, parsed once every
        #: listener is read (their connection manager settings are the listener's).
        self.route_configs: list[RouteConfig | tuple[Mapping[str, Any], str, str]] = []
        self.rds: dict[str, _Ctx] = {}
        self.node_locality: str | None = None

    def bootstrap_node(self, bootstrap: object, path: str) -> None:
        """Read ``node.locality`` of a bootstrap (the first one read wins)."""
        node = get(as_object(bootstrap, path), "node")
        if node is not None and self.node_locality is None:
            npath = f"{path}.node" if path else "node"
            self.node_locality = _locality(
                get(as_object(node, npath), "locality"), npath + ".locality"
            )

    def cluster(self, value: object, path: str) -> None:
        msg = as_object(value, path)
        parsed = _cluster(msg, path, self.envoy_version)
        first = self.clusters.get(parsed[0].name)
        if first is not None:
            raise fail(
                path + ".name",
                f"cluster {parsed[0].name[:200]!r} appears twice (first at {first[0].path})",
            )
        self.clusters[parsed[0].name] = parsed

    def endpoints(self, value: object, path: str) -> None:
        cla = _load_assignment(as_object(value, path), path, "eds")
        self.eds.setdefault(cla.cluster_name, cla)

    def cluster_status(self, value: object, path: str) -> None:
        la = _cluster_status(as_object(value, path), path)
        self.status.setdefault(la.cluster_name, la)

    def route_config(self, value: object, path: str) -> None:
        self.route_configs.append((as_object(value, path), path, self.source))

    def listener(self, value: object, path: str) -> None:
        self.route_configs.extend(
            _listener_routes(as_object(value, path), path, self.ctx, self.rds)
        )

    def finish_routes(self) -> list[RouteConfig]:
        out = []
        for item in self.route_configs:
            if isinstance(item, RouteConfig):
                out.append(item)
                continue
            rc, path, source = item
            name = get(rc, "name")
            ctx = self.rds.get(name, self.ctx) if isinstance(name, str) else self.ctx
            try:
                out.append(_route_config(rc, path, ctx))
            except EnvoyConfigError as e:
                e.source = source
                raise
        return out


def _each(
    container: Mapping[str, Any],
    key: str,
    inner: str | None,
    path: str,
    read: Callable[[object, str], None],
) -> None:
    for i, item in enumerate(as_list(get(container, key), f"{path}.{key}")):
        ipath = f"{path}.{key}[{i}]"
        if inner is None:
            read(item, ipath)
        else:
            value = get(as_object(item, ipath), inner)
            if value is not None:
                read(value, f"{ipath}.{inner}")


def _config_dump(doc: Mapping[str, Any], out: _Collector) -> None:
    for i, cfg in enumerate(as_list(doc.get("configs"), "configs")):
        path = f"configs[{i}]"
        cfg = as_object(cfg, path)
        kind = _type_name(cfg).rsplit(".", 1)[-1]
        if kind == "BootstrapConfigDump":
            bootstrap = get(cfg, "bootstrap")
            if bootstrap is not None:
                out.bootstrap_node(bootstrap, path + ".bootstrap")
        elif kind == "ClustersConfigDump":
            _each(cfg, "static_clusters", "cluster", path, out.cluster)
            _each(cfg, "dynamic_active_clusters", "cluster", path, out.cluster)
        elif kind == "EndpointsConfigDump":
            _each(cfg, "static_endpoint_configs", "endpoint_config", path, out.endpoints)
            _each(cfg, "dynamic_endpoint_configs", "endpoint_config", path, out.endpoints)
        elif kind == "RoutesConfigDump":
            _each(cfg, "static_route_configs", "route_config", path, out.route_config)
            _each(cfg, "dynamic_route_configs", "route_config", path, out.route_config)
        elif kind == "ListenersConfigDump":
            _each(cfg, "static_listeners", "listener", path, out.listener)
            for j, item in enumerate(
                as_list(get(cfg, "dynamic_listeners"), path + ".dynamic_listeners")
            ):
                ipath = f"{path}.dynamic_listeners[{j}]"
                active = get(as_object(item, ipath), "active_state")
                if active is not None:
                    listener = get(as_object(active, ipath + ".active_state"), "listener")
                    if listener is not None:
                        out.listener(listener, ipath + ".active_state.listener")


def _bootstrap(doc: Mapping[str, Any], out: _Collector) -> None:
    out.bootstrap_node(doc, "")
    sr = as_object(get(doc, "static_resources"), "static_resources")
    _each(sr, "clusters", None, "static_resources", out.cluster)
    _each(sr, "listeners", None, "static_resources", out.listener)


def _bare_list(doc: list[Any], out: _Collector) -> None:
    for i, item in enumerate(doc):
        path = f"[{i}]"
        item = as_object(item, path)
        if get(item, "virtual_hosts") is not None or _type_name(item).endswith(
            "RouteConfiguration"
        ):
            out.route_config(item, path)
        elif get(item, "host_statuses") is not None:
            out.cluster_status(item, path)
        elif get(item, "cluster_name") is not None and get(item, "endpoints") is not None:
            out.endpoints(item, path)
        elif get(item, "filter_chains") is not None:
            out.listener(item, path)
        elif get(item, "name") is not None and (
            get(item, "added_via_api") is not None or get(item, "eds_service_name") is not None
        ):
            out.cluster_status(item, path)  # a ClusterStatus with no hosts
        else:
            out.cluster(item, path)


def _document(doc: Any, out: _Collector) -> None:
    if isinstance(doc, list):
        _bare_list(doc, out)
        return
    doc = as_object(doc, "")
    if "configs" in doc:
        _config_dump(doc, out)
    elif get(doc, "static_resources") is not None:
        _bootstrap(doc, out)
    elif get(doc, "virtual_hosts") is not None:
        out.route_config(doc, "")
    elif get(doc, "cluster_statuses") is not None:  # /clusters?format=json
        _each(doc, "cluster_statuses", None, "", out.cluster_status)
    else:
        raise fail(
            "",
            "not Envoy configuration: expected a /config_dump ({'configs': [...]}), a bootstrap "
            "(static_resources), or a list of clusters, route configurations or endpoints",
        )


def _finish(out: _Collector, sources: tuple[str, ...]) -> EnvoyConfig:
    clusters = {}
    for name, (cluster, inline) in out.clusters.items():
        endpoints = out.status.get(name) or out.eds.get(cluster.eds_service_name) or inline
        if endpoints is not None or out.node_locality is not None:
            cluster = dataclasses.replace(
                cluster, endpoints=endpoints, node_locality=out.node_locality
            )
        clusters[name] = cluster
    assignments = dict(out.eds)
    for la in out.status.values():
        assignments.setdefault(la.cluster_name, la)
    return EnvoyConfig(clusters, assignments, tuple(out.finish_routes()), sources)


def load(*sources: object, envoy_version: str | EnvoyProfile = "main") -> EnvoyConfig:
    """Read Envoy v3 configuration into an ``EnvoyConfig``.

    :param sources: one or more inputs, read together (e.g. the three files of
        ``istioctl proxy-config cluster|route|endpoint -o json``): a path, a
        file object, JSON or YAML text (``str`` or ``bytes``), or an already
        parsed ``dict``/``list``.  Each is an admin ``/config_dump``, a bare
        list of ``Cluster`` / ``RouteConfiguration`` / ``ClusterStatus`` /
        ``ClusterLoadAssignment`` messages, or a static bootstrap.
    :param envoy_version: the Envoy release the clusters and header policies
        reproduce (see :class:`hashlb.Cluster`).
    :raises EnvoyConfigError: an input that cannot be read, is not JSON or
        YAML, or holds a bad value; the message starts with the JSON path
        (``configs[2].dynamic_active_clusters[4].cluster.lb_policy: ...``) and
        :attr:`~EnvoyConfigError.source` names the input.  Nothing is returned
        then.
    :raises TypeError: a source of an unsupported type.
    """
    if not sources:
        raise TypeError("load() needs at least one source")
    out = _Collector(envoy_version)
    names = []
    for source in sources:
        doc, name = read_source(source)
        names.append(name)
        out.source = name
        try:
            _document(doc, out)
        except EnvoyConfigError as e:
            e.source = name
            raise
        except RecursionError:
            raise EnvoyConfigError("", "nested too deeply", name) from None
    return _finish(out, tuple(names))
