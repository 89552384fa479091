"""Router configuration: the checks, host selection and helpers of ``hashlb.router``.

A plain module of cold paths, run when a :class:`~hashlb.Router` is built or
reconfigured (``with_weights``, ``with_hosts``, pickling); the per-request
hot path is the router unit's ``_RouteCore`` (``_router_c`` / ``_router_py``).
"""

from __future__ import annotations

import operator
import random
from collections.abc import Callable, Iterable, Mapping
from typing import Any, NamedTuple

from . import _maglev_py, _request_py, request
from ._policy_config import _check_config_name, _check_seed
from ._types import Host
from ._types import check_hosts as _check_host_list
from ._validate import HEALTHY_STATUSES, MAX_DESTINATIONS, as_int, short
from .cluster import Cluster
from .errors import ConfigError
from .maglev import Maglev

_M64 = 0xFFFFFFFFFFFFFFFF
_U32 = 0xFFFFFFFF
_ASCII_SPACE = b" \t\n\v\f\r"
#: What the header_name lookup reads: a Request of either twin.
_REQUESTS = (request.Request, _request_py.Request)
#: Digits of 2**64 - 1: a longer decimal (after leading zeros) cannot be a uint64.
_U64_DIGITS = 20
_MAGLEVS = (Maglev, _maglev_py.Maglev)


def attr(slot: str, doc: str) -> Any:
    """Return a read-only property that returns attribute *slot* (a router field)."""
    return property(operator.attrgetter(slot), doc=doc)


def fold(h: int, v: int) -> int:
    """Return Envoy's policy combination ``rotl1(h) ^ v`` (``HashPolicyImpl::generateHash``)."""
    return (((h << 1) | (h >> 63)) & _M64) ^ v


def parse_uint64(value: bytes) -> int | None:
    """Parse a header value as an unsigned 64-bit decimal, as Envoy's ``absl::SimpleAtoi``.

    Accepted: ASCII whitespace (space, ``\t\n\v\f\r``) around, one optional
    ``+``, then one or more ASCII digits (leading zeros allowed) with a
    value below 2**64.  Anything else -- a ``-`` (even ``-0``), a ``0x``
    prefix, inner spaces, ``_``, non-ASCII digits, an overflow -- gives None.
    The digits are counted before any conversion, so a value of any length
    costs one linear scan and never reaches Python's int-string limit.
    """
    text = value.strip(_ASCII_SPACE)
    if text[:1] == b"+":
        text = text[1:]
    if not text or not text.isdigit():  # bytes.isdigit: ASCII digits only
        return None
    digits = text.lstrip(b"0")
    if len(digits) > _U64_DIGITS:
        return None
    v = int(digits) if digits else 0
    return v if v <= _M64 else None


def check_mapping(value: object, field: str) -> Mapping[Any, Any]:
    if not isinstance(value, Mapping):
        raise TypeError(f"{field} must be a mapping, not {type(value).__name__}")
    return value


class Options(NamedTuple):
    """The router's options, checked (everything but hosts, subsets and weights)."""

    balancer_options: dict[str, Any]
    header: bytes | None
    header_name: str | None
    key_seed: int | None
    factor: int | None


def check_options(
    *,
    balancers: Iterable[str],
    balancer: object,
    balancer_options: object,
    mode: object,
    allow_empty: object,
    header_name: object,
    use_hash_policy: object,
    rng: object,
    policy: object,
    key_seed: object,
    hash_balance_factor: object,
) -> Options:
    """Validate the router's options (see :class:`~hashlb.Router` for the errors)."""
    if mode not in ("sticky", "envoy"):
        raise ConfigError(f"mode must be 'sticky' or 'envoy', got {mode!r}")
    if isinstance(balancer, str):
        if balancer not in balancers:
            raise ConfigError(f"balancer must be 'ring_hash' or 'maglev', got {balancer!r}")
    elif not callable(balancer):
        raise TypeError(f"balancer must be a str or a callable, not {type(balancer).__name__}")
    options = dict(check_mapping(balancer_options or {}, "balancer_options"))
    if not isinstance(allow_empty, bool):
        raise TypeError(f"allow_empty must be a bool, not {type(allow_empty).__name__}")
    if not isinstance(use_hash_policy, bool):
        raise TypeError(f"use_hash_policy must be a bool, not {type(use_hash_policy).__name__}")
    header: bytes | None = None
    name: str | None = None
    if header_name is not None:
        name, raw = _check_config_name(header_name, "header_name")
        header = raw.lower()
        if use_hash_policy:
            raise ConfigError(
                "header_name and use_hash_policy are exclusive (one random_value_specifier)"
            )
    if mode == "sticky" and (header_name is not None or use_hash_policy):
        raise ConfigError("header_name and use_hash_policy apply to mode='envoy' only")
    if rng is not None and not isinstance(rng, random.Random):
        raise TypeError(f"rng must be a random.Random, not {type(rng).__name__}")
    if policy is not None and not (hasattr(policy, "hash") and hasattr(policy, "policies")):
        raise TypeError(f"policy must be a HashPolicy or None, not {type(policy).__name__}")
    own_seed: object = getattr(policy, "seed", None)
    if isinstance(own_seed, int) and own_seed:
        raise ConfigError(
            "policy has its own seed; give the seed to the router "
            "(Router(..., key_seed=...), sticky mode only)"
        )
    seed: int | None = None
    if key_seed is not None:
        if mode != "sticky":
            raise ConfigError(
                "key_seed applies to mode='sticky' only (a seeded key hash is not Envoy's)"
            )
        seed = _check_seed(key_seed)
    return Options(options, header, name, seed, check_factor(hash_balance_factor))


def check_factor(factor: object) -> int | None:
    """Validate ``hash_balance_factor``: None or an int in ``[100, 2**32 - 1]``."""
    if factor is None:
        return None
    factor = as_int(factor, "hash_balance_factor")
    if not 100 <= factor <= _U32:
        raise ConfigError(f"hash_balance_factor must be in [100, 2**32 - 1], got {short(factor)}")
    return factor


def check_subsets(subsets: object) -> dict[str, dict[str, str]]:
    """Validate ``subsets`` (name -> label selector) and copy it."""
    out: dict[str, dict[str, str]] = {}
    for name, selector in check_mapping(subsets, "subsets").items():
        if not isinstance(name, str) or not name:
            raise TypeError(f"subsets keys must be non-empty str, got {name!r}")
        sel = check_mapping(selector, f"subsets[{name!r}]")
        for k, v in sel.items():
            if not isinstance(k, str) or not isinstance(v, str):
                raise TypeError(f"subsets[{name!r}] must map str to str, got {k!r}: {v!r}")
        out[name] = {str(k): str(v) for k, v in sel.items()}
    if not out:
        raise ConfigError("subsets must name at least one subset, got an empty mapping")
    return out


def check_weights_match(weights: Mapping[str, int], subsets: Mapping[str, Any]) -> None:
    """Check that every weight names a subset and every subset has a weight."""
    for name in weights:
        if name not in subsets:
            raise ConfigError(f"weights names subset {name!r}, which is not in subsets")
    for name in subsets:
        if name not in weights:
            raise ConfigError(f"subsets[{name!r}] has no weight in weights")


def check_hosts(hosts: object) -> tuple[Host, ...]:
    """Validate ``hosts``: an iterable of distinct-address :class:`~hashlb.Host`."""
    return _check_host_list(
        hosts, "each pod is one Host (give it the labels of every subset it belongs to)"
    )


def select(
    hosts: tuple[Host, ...], subsets: Mapping[str, Mapping[str, str]]
) -> dict[str, tuple[Host, ...]]:
    """Return, per subset, the hosts whose labels contain its selector, in host order.

    One pass indexes the hosts by the ``(label, value)`` pairs the selectors
    use; a selector then reads its rarest pair's hosts and checks the other
    pairs on those only.  The cost is O(hosts x selector keys + matches),
    not O(hosts x subsets).
    """
    keys = {k for selector in subsets.values() for k in selector}
    index: dict[tuple[str, str], list[int]] = {}
    for i, host in enumerate(hosts):
        labels = host.labels
        if not labels:
            continue
        for k in keys:
            v = labels.get(k)
            if v is not None:
                index.setdefault((k, v), []).append(i)
    out: dict[str, tuple[Host, ...]] = {}
    for name, selector in subsets.items():
        if not selector:
            out[name] = hosts
            continue
        items = list(selector.items())
        lists = [index.get(item, ()) for item in items]
        rarest = min(range(len(items)), key=lambda j: len(lists[j]))
        chosen: Iterable[int] = lists[rarest]
        rest = items[:rarest] + items[rarest + 1 :]
        if rest:
            chosen = [i for i in chosen if all(hosts[i].labels.get(k) == v for k, v in rest)]
        out[name] = tuple([hosts[i] for i in chosen])
    return out


def make_value_fn(
    header: bytes | None,
    value_hash: Callable[[Any], int | None] | None,
    generates: bool,
    rand: Callable[[int], int],
) -> Callable[[Any, int | None], int]:
    """Return envoy mode's weighted-cluster value: from *header*, or *value_hash*, else random."""

    def value(request: Any, h: int | None) -> int:
        if header is not None:
            if request is not None:
                if not issubclass(type(request), _REQUESTS):
                    raise TypeError(f"request must be a Request, not {type(request).__name__}")
                values = request.get_all(header)
                if len(values) == 1:
                    v = parse_uint64(values[0])
                    if v is not None:
                        return v
        elif value_hash is not None:
            w = value_hash(request) if generates and request is not None else h
            if w is not None:
                return w
        return rand(64)

    return value


def bounded_peek(bounded: Mapping[str, Any]) -> Callable[[Any], Any]:
    """Return ``route -> route`` with the host bounded load picks now (nothing counted)."""

    def peek(route: Any) -> Any:
        bl = bounded[route.subset]
        host = bl.lookup(route.lookup_hash, bl.active)
        if host is route.host:
            return route
        return type(route)(route.subset, host, route.hash, route.set_cookie, route.lookup_hash)

    return peek


def _no_host(h: int) -> Host | None:
    return None


#: The route-core spec of a subset without hosts (``allow_empty``).
NO_TABLE: tuple[Any, Any, int, Any] = (_no_host, None, 0, ())


def table_spec(table: Any) -> tuple[Any, Any, int, Any]:
    """Return ``(lookup, maglev_table, table_size, hosts)`` of *table* for the route core."""
    if isinstance(table, _MAGLEVS):
        return (table.lookup, table.table, table.table_size, table.hosts)
    return (table.lookup, None, 0, ())


#: ``(members, tables, specs, bounded)`` per subset name, then the empty subsets: what
#: :func:`build_tables` returns (an ``old`` build is passed without the empty ones).
Tables = tuple[
    dict[str, tuple[Host, ...]],
    dict[str, Any],
    dict[str, tuple[Any, Any, int, Any]],
    dict[str, Any],
    tuple[str, ...],
]


#: The keys ``Router(cluster_options=...)`` passes on to :class:`~hashlb.Cluster`.
CLUSTER_OPTIONS = (
    "overprovisioning_factor",
    "healthy_panic_threshold",
    "weighted_priority_health",
    "locality_weighted",
    "envoy_version",
)


def check_cluster_options(options: object) -> dict[str, Any]:
    """Validate ``Router(cluster_options=...)``: a mapping of :data:`CLUSTER_OPTIONS` keys."""
    out = dict(check_mapping(options or {}, "cluster_options"))
    for key in out:
        if key not in CLUSTER_OPTIONS:
            raise ConfigError(
                f"cluster_options has no option {short(key)} (use {', '.join(CLUSTER_OPTIONS)})"
            )
    return out


def subset_table(
    chosen: tuple[Host, ...],
    factory: Callable[..., Any],
    balancer_options: Mapping[str, Any],
    cluster_options: Mapping[str, Any],
) -> Any:
    """Build a subset's table: a plain table when every host is healthy at priority 0,
    else a :class:`~hashlb.Cluster` (Envoy's priorities, health and panic) over it."""
    if (
        all(h.priority == 0 and h.health in HEALTHY_STATUSES for h in chosen)
        and not cluster_options
    ):
        return factory(chosen, **balancer_options)
    return Cluster(chosen, balancer=factory, **cluster_options, **balancer_options)


def build_tables(
    hosts: tuple[Host, ...],
    subsets: Mapping[str, Mapping[str, str]],
    factory: Callable[[tuple[Host, ...]], Any],
    allow_empty: bool,
    bounded_load: Callable[[Any], Any] | None,
    old: tuple[Any, Any, Any, Any] | None,
) -> Tables:
    """Select each subset's hosts and build its table with *factory*.

    With *old* (``with_hosts``), a subset whose member tuple did not change
    keeps *old*'s table, route-core spec and bounded load (its in-flight
    counts); a changed subset reuses any table of *old* or of this build over
    the same hosts.  *bounded_load* wraps each new table (``hash_balance_factor``).
    """
    members = select(hosts, subsets)
    tables: dict[str, Any] = {}
    specs: dict[str, tuple[Any, Any, int, Any]] = {}
    bounded: dict[str, Any] = {}
    empty: list[str] = []
    by_members: dict[tuple[Host, ...], Any] = {}
    if old is not None:
        old_members, old_tables, old_specs, old_bounded = old
        by_members = {old_members[n]: t for n, t in old_tables.items()}
    for name, chosen in members.items():
        if old is not None and name in old_tables and old_members.get(name) == chosen:
            tables[name] = old_tables[name]
            specs[name] = old_specs[name]
            if name in old_bounded:  # the in-flight counts carry over
                bounded[name] = old_bounded[name]
            continue
        table = by_members.get(chosen) if chosen else None
        if table is None and chosen:
            table = factory(chosen)
        if table is None or (not isinstance(table, Cluster) and table.lookup(0) is None):
            if not allow_empty:
                raise ConfigError(
                    f"subsets[{name!r}] selector {dict(subsets[name])!r} matches no host "
                    "(pass allow_empty=True to skip it)"
                )
            empty.append(name)
            continue
        by_members[chosen] = table
        tables[name] = table
        specs[name] = table_spec(table)
        if bounded_load is not None:  # one per subset: a subset is one Envoy cluster
            # (a Cluster's priorities each get their own bounded load, counted per host)
            bounded[name] = bounded_load(table)
    return members, tables, specs, bounded, tuple(empty)


#: ``(copies, route_policy, generates, hash_fn, value_hash)``: see :func:`route_policy`.
RoutePolicy = tuple[int, Any, bool, Callable[[Any], Any] | None, Callable[[Any], int | None] | None]


def check_copies(copies: object, mode: object) -> int | None:
    """Validate ``Router(policy_copies=...)``: None (Istio's rule) or an int in [1, MAX_DESTINATIONS]."""
    if copies is None:
        return None
    n = as_int(copies, "policy_copies")
    if not 1 <= n <= MAX_DESTINATIONS:
        raise ConfigError(f"policy_copies must be in [1, {MAX_DESTINATIONS}], got {n}")
    if mode != "envoy":
        raise ConfigError("policy_copies applies to mode='envoy' only")
    return n


def route_policy(
    policy: Any,
    weights: Mapping[str, int],
    sticky: bool,
    use_hash_policy: bool,
    copies: int | None = None,
) -> RoutePolicy:
    """Return ``(copies, route_policy, generates, hash_fn, value_hash)`` for the key *policy*.

    In envoy mode Istio gives the route one copy of the policy per
    destination of non-zero weight (``route/route.go``).  A policy with a cookie ttl
    *generates* (the core calls ``evaluate``); with ``use_hash_policy`` the
    weighted-cluster value is the policy's hash evaluated "with no cookie
    generator", as Envoy does: a cookie method with a ttl behaves like one
    without.  An explicit *copies* (``Router(policy_copies=...)``) replaces
    Istio's count: 1 is a plain Envoy route's own list.
    """
    if copies is None:
        copies = 1 if sticky else max(1, sum(1 for w in weights.values() if w > 0))
    route = policy
    if policy is not None and copies > 1:
        route = type(policy)(*(tuple(policy.policies) * copies))
    if route is None:
        return (copies, None, False, None, None)
    generates = any(getattr(p, "ttl", None) is not None for p in route.policies)
    value_hash: Callable[[Any], int | None] | None = None
    if use_hash_policy and generates:
        methods = [
            type(p)(p.name, terminal=p.terminal) if getattr(p, "ttl", None) is not None else p
            for p in route.policies
        ]
        value_hash = type(route)(*methods).hash
    elif use_hash_policy:
        value_hash = route.hash
    return (copies, route, generates, route.evaluate if generates else route.hash, value_hash)
