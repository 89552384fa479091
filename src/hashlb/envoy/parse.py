"""Envoy v3 JSON (or YAML) -> the objects of :mod:`hashlb.envoy.model`.

The shapes read (spec ``envoy-lb-2.md`` §19):

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
from types import MappingProxyType
from typing import Any, NamedTuple

from .._types import Host
from ..errors import ConfigError
from ..policy import Cookie, FilterState, HashPolicy, Header, QueryParameter, SourceIP
from ..versions import EnvoyProfile
from ._read import (
    EnvoyConfigError,
    as_bool,
    as_list,
    as_object,
    as_str,
    as_uint,
    duration_seconds,
    enum_name,
    fail,
    get,
    read_source,
)
from .model import (
    EnvoyCluster,
    EnvoyConfig,
    HeaderMatch,
    LoadAssignment,
    RetryPolicy,
    Route,
    RouteConfig,
    RouteMatch,
    VirtualHost,
)

__all__ = ("load",)

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
_MAX_PRIORITY = 128
_RING_TYPE = "envoy.extensions.load_balancing_policies.ring_hash.v3.RingHash"
_MAGLEV_TYPE = "envoy.extensions.load_balancing_policies.maglev.v3.Maglev"
_HCM_TYPE = "envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager"


class _Ctx(NamedTuple):
    """What route parsing needs beyond the route: the release, and the connection manager's
    address settings that :class:`hashlb.SourceIP` reproduces."""

    envoy_version: str | EnvoyProfile
    use_remote_address: bool = True
    xff_num_trusted_hops: int = 0


def _type_name(obj: Mapping[str, Any]) -> str:
    """The message name of an ``Any``: the part of ``@type`` after the last ``/``."""
    t = obj.get("@type")
    return t.rsplit("/", 1)[-1] if isinstance(t, str) else ""


# -- endpoints ---------------------------------------------------------------


def _address(address: Mapping[str, Any], path: str) -> str:
    """Envoy's ``asString()`` key of an ``Address`` (spec-2 §16.2); Host canonicalises IPs."""
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
        priority = as_uint(get(group, "priority") or 0, gpath + ".priority", _MAX_PRIORITY)
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
        priority = as_uint(get(hs, "priority") or 0, hpath + ".priority", _MAX_PRIORITY)
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


# -- routes --------------------------------------------------------------------


def _hash_method(entry: Mapping[str, Any], path: str, ctx: _Ctx) -> Any:
    terminal = as_bool(get(entry, "terminal"), path + ".terminal")
    try:
        header = get(entry, "header")
        if header is not None:
            hp = path + ".header"
            header = as_object(header, hp)
            name = as_str(get(header, "header_name"), hp + ".header_name")
            rewrite = None
            rr = get(header, "regex_rewrite")
            if rr is not None:
                rr = as_object(rr, hp + ".regex_rewrite")
                pattern = as_object(get(rr, "pattern"), hp + ".regex_rewrite.pattern")
                rewrite = (
                    as_str(get(pattern, "regex"), hp + ".regex_rewrite.pattern.regex"),
                    as_str(get(rr, "substitution") or "", hp + ".regex_rewrite.substitution"),
                )
            return Header(
                name, regex_rewrite=rewrite, terminal=terminal, envoy_version=ctx.envoy_version
            )
        cookie = get(entry, "cookie")
        if cookie is not None:
            cp = path + ".cookie"
            cookie = as_object(cookie, cp)
            ttl = get(cookie, "ttl")
            attrs = []
            for i, a in enumerate(as_list(get(cookie, "attributes"), cp + ".attributes")):
                a = as_object(a, f"{cp}.attributes[{i}]")
                attrs.append(
                    (
                        as_str(get(a, "name"), f"{cp}.attributes[{i}].name"),
                        as_str(get(a, "value") or "", f"{cp}.attributes[{i}].value"),
                    )
                )
            cpath = get(cookie, "path")
            return Cookie(
                as_str(get(cookie, "name"), cp + ".name"),
                ttl=duration_seconds(ttl, cp + ".ttl") if ttl is not None else None,
                path=as_str(cpath, cp + ".path") if cpath else None,
                attributes=attrs or None,
                terminal=terminal,
            )
        conn = get(entry, "connection_properties")
        if conn is not None:
            conn = as_object(conn, path + ".connection_properties")
            if as_bool(get(conn, "source_ip"), path + ".connection_properties.source_ip"):
                return SourceIP(
                    xff_num_trusted_hops=ctx.xff_num_trusted_hops,
                    use_remote_address=ctx.use_remote_address,
                    terminal=terminal,
                )
            return None  # source_ip false adds no method
        qp = get(entry, "query_parameter")
        if qp is not None:
            qp = as_object(qp, path + ".query_parameter")
            return QueryParameter(
                as_str(get(qp, "name"), path + ".query_parameter.name"), terminal=terminal
            )
        fs = get(entry, "filter_state")
        if fs is not None:
            fs = as_object(fs, path + ".filter_state")
            return FilterState(
                as_str(get(fs, "key"), path + ".filter_state.key"), terminal=terminal
            )
    except EnvoyConfigError:
        raise
    except (ConfigError, ValueError, TypeError) as e:
        raise fail(path, str(e)) from None
    raise fail(
        path, "expected one of header, cookie, connection_properties, query_parameter, filter_state"
    )


def _hash_policy(value: object, path: str, ctx: _Ctx) -> HashPolicy | None:
    methods = []
    for i, entry in enumerate(as_list(value, path)):
        method = _hash_method(as_object(entry, f"{path}[{i}]"), f"{path}[{i}]", ctx)
        if method is not None:
            methods.append(method)
    return HashPolicy(*methods) if methods else None


def _retry_policy(value: object, path: str) -> RetryPolicy:
    rp = as_object(value, path)
    retry_on = get(rp, "retry_on")
    num = get(rp, "num_retries")
    predicates = []
    for i, p in enumerate(as_list(get(rp, "retry_host_predicate"), path + ".retry_host_predicate")):
        p = as_object(p, f"{path}.retry_host_predicate[{i}]")
        predicates.append(as_str(get(p, "name"), f"{path}.retry_host_predicate[{i}].name"))
    attempts = get(rp, "host_selection_retry_max_attempts")
    return RetryPolicy(
        retry_on=as_str(retry_on, path + ".retry_on") if retry_on is not None else "",
        num_retries=as_uint(num, path + ".num_retries", _MAX_U32) if num is not None else 1,
        host_predicates=tuple(predicates),
        host_selection_retry_max_attempts=(
            as_uint(attempts, path + ".host_selection_retry_max_attempts", 2**16 - 1) or 1
            if attempts is not None
            else 1
        ),
    )


_PATH_SPECIFIERS = (
    "prefix",
    "path",
    "safe_regex",
    "path_separated_prefix",
    "path_match_policy",
    "connect_matcher",
)
_STRING_MATCH = ("exact", "prefix", "suffix", "contains", "safe_regex")


def _header_match(value: object, path: str) -> HeaderMatch:
    hm = as_object(value, path)
    name = as_str(get(hm, "name"), path + ".name")
    invert = as_bool(get(hm, "invert_match"), path + ".invert_match")
    for legacy in ("exact_match", "prefix_match", "suffix_match", "contains_match"):
        v = get(hm, legacy)
        if v is not None:
            return HeaderMatch(
                name, legacy[: -len("_match")], as_str(v, f"{path}.{legacy}"), invert
            )
    sr = get(hm, "safe_regex_match")
    if sr is not None:
        regex = as_str(
            get(as_object(sr, path + ".safe_regex_match"), "regex"),
            path + ".safe_regex_match.regex",
        )
        return HeaderMatch(name, "safe_regex", regex, invert)
    sm = get(hm, "string_match")
    if sm is not None:
        sm = as_object(sm, path + ".string_match")
        ignore = as_bool(get(sm, "ignore_case"), path + ".string_match.ignore_case")
        for kind in _STRING_MATCH:
            v = get(sm, kind)
            if v is not None:
                if kind == "safe_regex":
                    v = get(as_object(v, path + ".string_match.safe_regex"), "regex")
                return HeaderMatch(
                    name, kind, as_str(v, f"{path}.string_match.{kind}"), invert, ignore
                )
        raise fail(path + ".string_match", "expected exact, prefix, suffix, contains or safe_regex")
    present = get(hm, "present_match")
    return HeaderMatch(
        name,
        "present",
        True if present is None else as_bool(present, path + ".present_match"),
        invert,
    )


def _route_match(value: object, path: str) -> RouteMatch:
    m = as_object(value, path)
    kind, text = "prefix", ""
    for spec in _PATH_SPECIFIERS:
        v = get(m, spec)
        if v is not None:
            kind = spec
            if spec == "safe_regex":
                text = as_str(
                    get(as_object(v, path + ".safe_regex"), "regex"), path + ".safe_regex.regex"
                )
            elif isinstance(v, str):
                text = v
            break
    else:
        raise fail(
            path, "expected a path specifier (prefix, path, safe_regex, path_separated_prefix, ...)"
        )
    headers = tuple(
        _header_match(h, f"{path}.headers[{i}]")
        for i, h in enumerate(as_list(get(m, "headers"), path + ".headers"))
    )
    cs = get(m, "case_sensitive")
    sensitive = (
        True
        if cs is None
        else as_bool(
            cs if not isinstance(cs, Mapping) else cs.get("value", True), path + ".case_sensitive"
        )
    )
    return RouteMatch(kind, text, headers, sensitive)


def _route(
    route: Mapping[str, Any],
    path: str,
    vhost: str,
    rc_name: str,
    vh_retry: RetryPolicy | None,
    ctx: _Ctx,
) -> Route:
    name = get(route, "name")
    match = _route_match(get(route, "match"), path + ".match")
    action = get(route, "route")
    cluster: str | None = None
    weighted: tuple[tuple[str, int], ...] = ()
    header_name: str | None = None
    use_hash = False
    policy: HashPolicy | None = None
    retry = vh_retry
    if action is None:
        kind = next(
            (
                k
                for k in ("redirect", "direct_response", "filter_action", "non_forwarding_action")
                if get(route, k) is not None
            ),
            "none",
        )
    else:
        kind = "route"
        apath = path + ".route"
        action = as_object(action, apath)
        c = get(action, "cluster")
        wc = get(action, "weighted_clusters")
        if c is not None:
            cluster = as_str(c, apath + ".cluster")
        elif wc is not None:
            wpath = apath + ".weighted_clusters"
            wc = as_object(wc, wpath)
            items = []
            for i, entry in enumerate(as_list(get(wc, "clusters"), wpath + ".clusters")):
                epath = f"{wpath}.clusters[{i}]"
                entry = as_object(entry, epath)
                w = get(entry, "weight")
                items.append(
                    (
                        as_str(get(entry, "name"), epath + ".name"),
                        as_uint(w, epath + ".weight", _MAX_U32) if w is not None else 0,
                    )
                )
            if not items:
                raise fail(wpath + ".clusters", "no cluster")
            if sum(w for _, w in items) == 0:
                raise fail(wpath + ".clusters", "every weight is 0")
            if sum(w for _, w in items) > _MAX_U32:
                raise fail(wpath + ".clusters", "the weights sum to more than 2**32 - 1")
            weighted = tuple(items)
            hn = get(wc, "header_name")
            if hn is not None:
                header_name = as_str(hn, wpath + ".header_name")
            use_hash = as_bool(get(wc, "use_hash_policy"), wpath + ".use_hash_policy")
        else:
            kind = next(
                (
                    k
                    for k in (
                        "cluster_header",
                        "cluster_specifier_plugin",
                        "inline_cluster_specifier_plugin",
                    )
                    if get(action, k) is not None
                ),
                "route",
            )
        policy = _hash_policy(get(action, "hash_policy"), apath + ".hash_policy", ctx)
        rp = get(action, "retry_policy")
        if rp is not None:
            retry = _retry_policy(rp, apath + ".retry_policy")
    return Route(
        name=as_str(name, path + ".name") if name is not None else None,
        match=match,
        action=kind,
        cluster=cluster,
        weighted_clusters=weighted,
        header_name=header_name,
        use_hash_policy=use_hash,
        hash_policy=policy,
        retry_policy=retry,
        virtual_host=vhost,
        route_config=rc_name,
        path=path,
    )


def _route_config(
    rc: Mapping[str, Any], path: str, ctx: _Ctx, default_name: str = ""
) -> RouteConfig:
    n = get(rc, "name")
    name = as_str(n, path + ".name") if n is not None else default_name
    vhosts = []
    for i, vh in enumerate(as_list(get(rc, "virtual_hosts"), path + ".virtual_hosts")):
        vpath = f"{path}.virtual_hosts[{i}]"
        vh = as_object(vh, vpath)
        vname = as_str(get(vh, "name"), vpath + ".name")
        domains = tuple(
            as_str(d, f"{vpath}.domains[{j}]")
            for j, d in enumerate(as_list(get(vh, "domains"), vpath + ".domains"))
        )
        vrp = get(vh, "retry_policy")
        vh_retry = _retry_policy(vrp, vpath + ".retry_policy") if vrp is not None else None
        routes = tuple(
            _route(
                as_object(r, f"{vpath}.routes[{j}]"),
                f"{vpath}.routes[{j}]",
                vname,
                name,
                vh_retry,
                ctx,
            )
            for j, r in enumerate(as_list(get(vh, "routes"), vpath + ".routes"))
        )
        vhosts.append(VirtualHost(vname, domains, routes, name, vpath))
    return RouteConfig(name, tuple(vhosts), path)


def _listener_routes(
    listener: Mapping[str, Any], path: str, ctx: _Ctx, rds: dict[str, _Ctx]
) -> list[RouteConfig]:
    """Route configurations inline in a listener's ``HttpConnectionManager`` filters.

    The connection manager's ``use_remote_address`` and ``xff_num_trusted_hops``
    go to the source IP hash policies of its routes: of the inline route
    configuration, or (in *rds*, the first listener naming it wins) of the
    one it names in ``rds.route_config_name``.
    """
    out = []
    lname = get(listener, "name") or ""
    chains = [
        (f"{path}.filter_chains[{i}]", c)
        for i, c in enumerate(as_list(get(listener, "filter_chains"), path + ".filter_chains"))
    ]
    default = get(listener, "default_filter_chain")
    if default is not None:
        chains.append((path + ".default_filter_chain", default))
    for cpath, chain in chains:
        chain = as_object(chain, cpath)
        for j, f in enumerate(as_list(get(chain, "filters"), cpath + ".filters")):
            fpath = f"{cpath}.filters[{j}]"
            f = as_object(f, fpath)
            typed = get(f, "typed_config")
            if not isinstance(typed, Mapping) or _type_name(typed) != _HCM_TYPE:
                continue
            tpath = fpath + ".typed_config"
            hops = get(typed, "xff_num_trusted_hops")
            here = ctx._replace(
                use_remote_address=as_bool(
                    _unwrap(get(typed, "use_remote_address")), tpath + ".use_remote_address"
                ),
                xff_num_trusted_hops=(
                    as_uint(hops, tpath + ".xff_num_trusted_hops", _MAX_U32)
                    if hops is not None
                    else 0
                ),
            )
            rc = get(typed, "route_config")
            if rc is not None:
                rpath = tpath + ".route_config"
                out.append(_route_config(as_object(rc, rpath), rpath, here, f"{lname}"))
            named = get(typed, "rds")
            if isinstance(named, Mapping):
                name = get(named, "route_config_name")
                if isinstance(name, str):
                    rds.setdefault(name, here)
    return out


def _unwrap(value: object) -> object:
    """A ``google.protobuf.BoolValue`` printed as ``{"value": ...}`` (or plainly)."""
    if isinstance(value, Mapping) and set(value) <= {"value"}:
        return value.get("value", False)
    return value


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
    """Read Envoy v3 configuration into an :class:`~hashlb.envoy.EnvoyConfig`.

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
