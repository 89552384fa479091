"""Envoy v3 routes -> :mod:`hashlb.envoy.model` (``RouteConfiguration``, virtual hosts,
routes, their hash policy and retry policy, and the route configurations inline in a
listener's ``HttpConnectionManager``); the documents are read by ``parse``."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import replace
from typing import Any, NamedTuple

from ..errors import ConfigError
from ..policy import Cookie, FilterState, HashPolicy, Header, QueryParameter, SourceIP
from ..versions import EnvoyProfile
from ._clusters import _MAX_U32, _type_name
from ._read import (
    EnvoyConfigError,
    as_bool,
    as_list,
    as_object,
    as_str,
    as_uint,
    duration_seconds,
    fail,
    get,
)
from .model import (
    HeaderMatch,
    RetryPolicy,
    Route,
    RouteConfig,
    RouteMatch,
    VirtualHost,
)

_HCM_TYPE = "envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager"


class _Ctx(NamedTuple):
    """What route parsing needs beyond the route: the release, and the connection manager's
    address settings that :class:`hashlb.SourceIP` reproduces."""

    envoy_version: str | EnvoyProfile
    use_remote_address: bool = True
    xff_num_trusted_hops: int = 0


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
    match = _header_rule(value, path)
    hm = as_object(value, path)
    missing = get(hm, "treat_missing_header_as_empty")
    if missing is not None and as_bool(missing, path + ".treat_missing_header_as_empty"):
        match = replace(match, treat_missing_as_empty=True)
    return match


def _query_match(value: object, path: str) -> HeaderMatch:
    """A ``QueryParameterMatcher``: ``string_match`` or ``present_match`` (default: present)."""
    return _header_rule(value, path)


def _header_rule(value: object, path: str) -> HeaderMatch:
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
    queries = tuple(
        _query_match(q, f"{path}.query_parameters[{i}]")
        for i, q in enumerate(as_list(get(m, "query_parameters"), path + ".query_parameters"))
    )
    cs = get(m, "case_sensitive")
    sensitive = (
        True
        if cs is None
        else as_bool(
            cs if not isinstance(cs, Mapping) else cs.get("value", True), path + ".case_sensitive"
        )
    )
    return RouteMatch(kind, text, headers, sensitive, queries)


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
