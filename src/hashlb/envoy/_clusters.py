"""Envoy v3 clusters and endpoints -> :mod:`hashlb.envoy.model` (``ClusterLoadAssignment``,
``Cluster``, ``/clusters`` ``ClusterStatus``); the documents are read by ``parse``."""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType
from typing import Any

from .._types import Host
from .._validate import MAX_PRIORITY
from ..errors import ConfigError
from ..versions import EnvoyProfile
from ._read import (
    as_bool,
    as_list,
    as_object,
    as_str,
    as_uint,
    enum_name,
    fail,
    get,
)
from .model import (
    EnvoyCluster,
    LoadAssignment,
)

_LB_POLICIES = {
    0: "ROUND_ROBIN",
    1: "LEAST_REQUEST",
    2: "RING_HASH",
    3: "RANDOM",
    5: "MAGLEV",
    6: "CLUSTER_PROVIDED",
    7: "LOAD_BALANCING_POLICY_CONFIG",
}
#: ``Cluster.RingHashLbConfig.HashFunction`` (the legacy enum).
_LEGACY_HASH = {0: "XX_HASH", 1: "MURMUR_HASH_2"}
#: ``extensions.load_balancing_policies.ring_hash.v3.RingHash.HashFunction``.
_TYPED_HASH = {0: "DEFAULT_HASH", 1: "XX_HASH", 2: "MURMUR_HASH_2"}
_HASH_FUNCTION = {"DEFAULT_HASH": "xx_hash", "XX_HASH": "xx_hash", "MURMUR_HASH_2": "murmur_hash_2"}
_DISCOVERY = {0: "STATIC", 1: "STRICT_DNS", 2: "LOGICAL_DNS", 3: "EDS", 4: "ORIGINAL_DST"}
_HEALTH = {0: "UNKNOWN", 1: "HEALTHY", 2: "UNHEALTHY", 3: "DRAINING", 4: "TIMEOUT", 5: "DEGRADED"}
_MAX_U32 = 2**32 - 1
_RING_TYPE = "envoy.extensions.load_balancing_policies.ring_hash.v3.RingHash"
_MAGLEV_TYPE = "envoy.extensions.load_balancing_policies.maglev.v3.Maglev"


def _type_name(obj: Mapping[str, Any]) -> str:
    """The message name of an ``Any``: the part of ``@type`` after the last ``/``."""
    t = obj.get("@type")
    return t.rsplit("/", 1)[-1] if isinstance(t, str) else ""


# -- endpoints ---------------------------------------------------------------


def _address(address: Mapping[str, Any], path: str) -> str:
    """Envoy's ``asString()`` key of an ``Address`` (``source/common/network/address_impl.cc``); Host canonicalises IPs."""
    sock = get(address, "socket_address")
    if sock is not None:
        sock = as_object(sock, path + ".socket_address")
        ip = as_str(get(sock, "address"), path + ".socket_address.address")
        named = get(sock, "named_port")
        if named is not None and get(sock, "port_value") is None:
            raise fail(path + ".socket_address.named_port", "named ports are not supported")
        port = as_uint(get(sock, "port_value") or 0, path + ".socket_address.port_value", 65535)
        return f"[{ip}]:{port}" if ":" in ip else f"{ip}:{port}"
    internal = get(address, "envoy_internal_address")
    if internal is not None:
        internal = as_object(internal, path + ".envoy_internal_address")
        listener = as_str(
            get(internal, "server_listener_name"),
            path + ".envoy_internal_address.server_listener_name",
        )
        ident = get(internal, "endpoint_id") or ""
        return f"envoy://{listener}/{as_str(ident, path + '.envoy_internal_address.endpoint_id')}"
    pipe = get(address, "pipe")
    if pipe is not None:
        text = as_str(get(as_object(pipe, path + ".pipe"), "path"), path + ".pipe.path")
        return text.replace("\0", "@")
    raise fail(path, "expected socket_address, envoy_internal_address or pipe")


def _locality(value: object, path: str) -> str | None:
    """A locality's name: ``region/zone/sub_zone`` without trailing empty parts; None if empty."""
    if value is None:
        return None
    loc = as_object(value, path)
    parts = [get(loc, k) or "" for k in ("region", "zone", "sub_zone")]
    for k, p in zip(("region", "zone", "sub_zone"), parts, strict=True):
        as_str(p, f"{path}.{k}")
    return "/".join(parts).rstrip("/") or None


def _host(
    address: str,
    weight: int,
    priority: int,
    health: str,
    locality: str | None,
    hostname: str | None,
    hash_key: str | None,
    path: str,
) -> Host:
    try:
        return Host(
            address,
            max(1, weight),  # HostImplBase::weight stores max(1, w)
            priority=priority,
            health=health,
            locality=locality,
            hostname=hostname or None,
            hash_key=hash_key or None,
        )
    except (ConfigError, ValueError, TypeError) as e:
        raise fail(path, str(e)) from None


def _hash_key(lb_endpoint: Mapping[str, Any], path: str) -> str | None:
    """``metadata.filter_metadata["envoy.lb"].hash_key`` when it is a non-empty string."""
    meta = get(lb_endpoint, "metadata")
    if meta is None:
        return None
    filt = get(as_object(meta, path + ".metadata"), "filter_metadata")
    if filt is None:
        return None
    lb = as_object(filt, path + ".metadata.filter_metadata").get("envoy.lb")
    if not isinstance(lb, Mapping):
        return None
    key = lb.get("hash_key")
    return key if isinstance(key, str) and key else None  # other kinds are ignored, as in Envoy


def _load_assignment(
    cla: Mapping[str, Any], path: str, source: str, fallback: str = ""
) -> LoadAssignment:
    name = get(cla, "cluster_name")
    name = as_str(name, path + ".cluster_name") if name is not None else fallback
    hosts: list[Host] = []
    seen: set[str] = set()
    weights: dict[str, int] = {}
    for i, group in enumerate(as_list(get(cla, "endpoints"), path + ".endpoints")):
        gpath = f"{path}.endpoints[{i}]"
        group = as_object(group, gpath)
        locality = _locality(get(group, "locality"), gpath + ".locality")
        priority = as_uint(get(group, "priority") or 0, gpath + ".priority", MAX_PRIORITY)
        lw = get(group, "load_balancing_weight")
        if lw is not None:
            w = as_uint(lw, gpath + ".load_balancing_weight", _MAX_U32)
            if w:
                weights.setdefault(locality or "", w)
        for j, lbe in enumerate(as_list(get(group, "lb_endpoints"), gpath + ".lb_endpoints")):
            epath = f"{gpath}.lb_endpoints[{j}]"
            lbe = as_object(lbe, epath)
            if get(lbe, "endpoint_name") is not None and get(lbe, "endpoint") is None:
                raise fail(epath + ".endpoint_name", "named endpoints (LEDS) are not supported")
            ep = as_object(get(lbe, "endpoint"), epath + ".endpoint")
            address = _address(
                as_object(get(ep, "address"), epath + ".endpoint.address"),
                epath + ".endpoint.address",
            )
            weight = as_uint(
                get(lbe, "load_balancing_weight") or 1, epath + ".load_balancing_weight", _MAX_U32
            )
            health_value = get(lbe, "health_status")
            health = (
                enum_name(health_value, epath + ".health_status", _HEALTH).lower()
                if health_value is not None
                else "unknown"
            )
            hostname = get(ep, "hostname")
            if hostname is not None:
                hostname = as_str(hostname, epath + ".endpoint.hostname")
            host = _host(
                address, weight, priority, health, locality, hostname, _hash_key(lbe, epath), epath
            )
            if host.address in seen:
                continue  # "only the first one will be retained" (EDS de-duplication)
            seen.add(host.address)
            hosts.append(host)
    factor = 140
    policy = get(cla, "policy")
    if policy is not None:
        of = get(as_object(policy, path + ".policy"), "overprovisioning_factor")
        if of is not None:
            factor = as_uint(of, path + ".policy.overprovisioning_factor", _MAX_U32)
            if factor == 0:
                raise fail(path + ".policy.overprovisioning_factor", "must be greater than 0")
    return LoadAssignment(name, tuple(hosts), factor, MappingProxyType(weights), path, source)


def _cluster_status(status: Mapping[str, Any], path: str) -> LoadAssignment:
    """``envoy.admin.v3.ClusterStatus`` (``/clusters?format=json``): hosts in Envoy's order."""
    name = as_str(get(status, "name"), path + ".name")
    hosts = []
    seen: set[str] = set()
    for i, hs in enumerate(as_list(get(status, "host_statuses"), path + ".host_statuses")):
        hpath = f"{path}.host_statuses[{i}]"
        hs = as_object(hs, hpath)
        address = _address(as_object(get(hs, "address"), hpath + ".address"), hpath + ".address")
        flags = get(hs, "health_status") or {}
        flags = as_object(flags, hpath + ".health_status")
        eds = get(flags, "eds_health_status")
        health = (
            enum_name(eds, hpath + ".health_status.eds_health_status", _HEALTH).lower()
            if eds is not None
            else "unknown"
        )
        if as_bool(get(flags, "pending_active_hc"), hpath) or as_bool(
            get(flags, "excluded_via_immediate_hc_fail"), hpath
        ):
            health = "excluded"
        elif any(
            as_bool(get(flags, f), f"{hpath}.health_status.{f}")
            for f in ("failed_active_health_check", "failed_outlier_check", "active_hc_timeout")
        ):
            health = "unhealthy"
        elif as_bool(get(flags, "failed_active_degraded_check"), hpath) and health in (
            "unknown",
            "healthy",
        ):
            health = "degraded"
        weight = as_uint(get(hs, "weight") or 1, hpath + ".weight", _MAX_U32)
        priority = as_uint(get(hs, "priority") or 0, hpath + ".priority", MAX_PRIORITY)
        locality = _locality(get(hs, "locality"), hpath + ".locality")
        hostname = get(hs, "hostname")
        if hostname is not None:
            hostname = as_str(hostname, hpath + ".hostname")
        host = _host(address, weight, priority, health, locality, hostname, None, hpath)
        if host.address not in seen:
            seen.add(host.address)
            hosts.append(host)
    return LoadAssignment(name, tuple(hosts), 140, MappingProxyType({}), path, "clusters")


# -- clusters ----------------------------------------------------------------


def _consistent_hashing(
    config: Mapping[str, Any], path: str, options: dict[str, Any]
) -> int | None:
    """Read ``consistent_hashing_lb_config`` into *options*; return ``hash_balance_factor``."""
    chc = get(config, "consistent_hashing_lb_config")
    if chc is None:
        return None
    chc = as_object(chc, path + ".consistent_hashing_lb_config")
    if as_bool(
        get(chc, "use_hostname_for_hashing"),
        path + ".consistent_hashing_lb_config.use_hostname_for_hashing",
    ):
        options["use_hostname"] = True
    factor = get(chc, "hash_balance_factor")
    if factor is None:
        return None
    return (
        as_uint(factor, path + ".consistent_hashing_lb_config.hash_balance_factor", _MAX_U32)
        or None
    )


def _ring_options(
    config: Mapping[str, Any], path: str, enum: Mapping[int, str], options: dict[str, Any]
) -> None:
    for name, key in (
        ("minimum_ring_size", "min_ring_size"),
        ("maximum_ring_size", "max_ring_size"),
    ):
        value = get(config, name)
        if value is not None:
            options[key] = as_uint(value, f"{path}.{name}")
    fn = get(config, "hash_function")
    if fn is not None:
        options["hash_function"] = _HASH_FUNCTION[enum_name(fn, path + ".hash_function", enum)]


def _typed_policy(
    cluster: Mapping[str, Any], path: str, options: dict[str, Any]
) -> tuple[str, bool, int | None]:
    """Read ``load_balancing_policy``: (lb_policy, locality_weighted, hash_balance_factor)."""
    lbp = as_object(get(cluster, "load_balancing_policy"), path)
    policies = as_list(get(lbp, "policies"), path + ".policies")
    if not policies:
        raise fail(path + ".policies", "no policy")
    ppath = path + ".policies[0].typed_extension_config"
    tec = as_object(
        get(as_object(policies[0], path + ".policies[0]"), "typed_extension_config"), ppath
    )
    typed = as_object(get(tec, "typed_config"), ppath + ".typed_config")
    tname = _type_name(typed)
    tpath = ppath + ".typed_config"
    if tname not in (_RING_TYPE, _MAGLEV_TYPE):
        return "LOAD_BALANCING_POLICY_CONFIG", False, None
    locality = get(typed, "locality_weighted_lb_config") is not None
    if tname == _RING_TYPE:
        _ring_options(typed, tpath, _TYPED_HASH, options)
        if as_bool(get(typed, "use_hostname_for_hashing"), tpath + ".use_hostname_for_hashing"):
            options["use_hostname"] = True
        factor = _consistent_hashing(typed, tpath, options)
        if factor is None and get(typed, "hash_balance_factor") is not None:
            factor = (
                as_uint(get(typed, "hash_balance_factor"), tpath + ".hash_balance_factor", _MAX_U32)
                or None
            )
        return "RING_HASH", locality, factor
    size = get(typed, "table_size")
    if size is not None:
        options["table_size"] = as_uint(size, tpath + ".table_size")
    return "MAGLEV", locality, _consistent_hashing(typed, tpath, options)


def _panic_threshold(common: Mapping[str, Any], path: str) -> float:
    threshold = get(common, "healthy_panic_threshold")
    if threshold is None:
        return 50.0
    # ``{}`` is 0 %: the value is omitted at its default
    value = threshold.get("value", 0) if isinstance(threshold, Mapping) else threshold
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise fail(path + ".healthy_panic_threshold.value", f"expected a number, got {value!r:.40}")
    if not 0.0 <= float(value) <= 100.0:
        raise fail(path + ".healthy_panic_threshold.value", f"must be in [0, 100], got {value}")
    return float(value)


def _cluster(
    cluster: Mapping[str, Any], path: str, envoy_version: str | EnvoyProfile
) -> tuple[EnvoyCluster, LoadAssignment | None]:
    name = as_str(get(cluster, "name"), path + ".name")
    options: dict[str, Any] = {}
    policy_value = get(cluster, "lb_policy")
    lb_policy = (
        enum_name(policy_value, path + ".lb_policy", _LB_POLICIES)
        if policy_value is not None
        else "ROUND_ROBIN"
    )
    locality = False
    factor: int | None = None
    if get(cluster, "load_balancing_policy") is not None and lb_policy in (
        "ROUND_ROBIN",
        "LOAD_BALANCING_POLICY_CONFIG",
    ):
        lb_policy, locality, factor = _typed_policy(
            cluster, path + ".load_balancing_policy", options
        )
    elif lb_policy == "RING_HASH":
        rh = get(cluster, "ring_hash_lb_config")
        if rh is not None:
            _ring_options(
                as_object(rh, path + ".ring_hash_lb_config"),
                path + ".ring_hash_lb_config",
                _LEGACY_HASH,
                options,
            )
    elif lb_policy == "MAGLEV":
        mg = get(cluster, "maglev_lb_config")
        if mg is not None:
            size = get(as_object(mg, path + ".maglev_lb_config"), "table_size")
            if size is not None:
                options["table_size"] = as_uint(size, path + ".maglev_lb_config.table_size")
    threshold = 50.0
    common = get(cluster, "common_lb_config")
    if common is not None:
        cpath = path + ".common_lb_config"
        common = as_object(common, cpath)
        threshold = _panic_threshold(common, cpath)
        if get(common, "locality_weighted_lb_config") is not None:
            locality = True
        f = _consistent_hashing(common, cpath, options)
        factor = f if f is not None else factor
    if lb_policy != "RING_HASH":
        for key in ("min_ring_size", "max_ring_size", "hash_function"):
            options.pop(key, None)
    if lb_policy != "MAGLEV":
        options.pop("table_size", None)
    dtype = get(cluster, "type")
    if dtype is not None:
        discovery = enum_name(dtype, path + ".type", _DISCOVERY)
    elif get(cluster, "cluster_type") is not None:
        ct = as_object(get(cluster, "cluster_type"), path + ".cluster_type")
        discovery = str(get(ct, "name") or "cluster_type")
    else:
        discovery = "STATIC"
    service = name
    ecc = get(cluster, "eds_cluster_config")
    if ecc is not None:
        sn = get(as_object(ecc, path + ".eds_cluster_config"), "service_name")
        if sn:
            service = as_str(sn, path + ".eds_cluster_config.service_name")
    inline = None
    la = get(cluster, "load_assignment")
    if la is not None:
        inline = _load_assignment(
            as_object(la, path + ".load_assignment"),
            path + ".load_assignment",
            "load_assignment",
            name,
        )
    out = EnvoyCluster(
        name=name,
        lb_policy=lb_policy,
        discovery_type=discovery,
        eds_service_name=service,
        balancer_options=MappingProxyType(options),
        healthy_panic_threshold=threshold,
        locality_weighted=locality,
        hash_balance_factor=factor,
        endpoints=None,
        path=path,
        envoy_version=envoy_version,
    )
    return out, inline
