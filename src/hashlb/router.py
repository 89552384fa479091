"""Weighted subsets of hosts behind one hash policy: an Istio route, sticky or Envoy-exact.

A :class:`Router` is what a VirtualService ``http`` route with weighted
destinations becomes in Envoy: a hash policy (request -> hash), a weighted
choice between subsets (DestinationRule ``subsets``, picked by labels) and,
inside the chosen subset, a ring-hash or Maglev table (hash -> host).

``mode="envoy"`` reproduces Envoy and Istio exactly (Envoy's
``source/common/router/weighted_cluster_specifier.cc`` and
``source/common/http/hash_policy.cc``; Istio's
``pilot/pkg/networking/core/route/route.go``):

* the subset comes from ``value % total`` over the weights in mapping order,
  where *value* is, per request, a fresh random 64-bit stream id (default),
  the decimal integer in header ``header_name``, or -- Envoy 1.36+
  ``use_hash_policy`` -- the route hash evaluated without generating a
  cookie (falling back to the random value when there is none);
* Istio appends the DestinationRule's hash policy once per destination of
  non-zero weight, so with *k* such subsets the route hash is the policy
  evaluated *k* times and folded with ``rotl1(h) ^ v`` (two subsets with a
  one-method policy: ``rotl1(h) ^ h``).

``mode="sticky"`` (hashlb's own) picks the subset with
:class:`~hashlb.WeightedSubsetPicker`'s weighted rendezvous hashing of the
plain policy hash: a user keeps their subset *and* host while the weights
ramp, except for the keys a ramp must move.

The two defaults differ on purpose: ``Router(mode="sticky")`` is the
default of the library, because a proxy built on hashlb routes with it and
stickiness is what it is for, while ``hashlb simulate --mode envoy`` is the
default of the command, because it predicts what the mesh does today.

Both modes pick the host inside the subset as Envoy would: the subset's
table looks up the route hash.  When the policy yields no hash, Envoy uses a
random one; so does the router, from its :class:`random.Random`.

Against hostile keys (hash flooding), ``key_seed=`` (sticky mode) seeds the
key hash with a secret, and ``hash_balance_factor=`` (both modes) is Envoy's
bounded load in every subset, counted by :meth:`Router.acquire`.

The router is plain Python over the compiled engines, and its per-request
hot path is the router unit's ``_RouteCore`` (``_router_c`` or
``_router_py``, chosen through ``_compat``); its configuration checks live in
``_router_config``.  It is immutable, and :meth:`Router.with_weights` /
:meth:`Router.with_hosts` return new routers that reuse every table whose
hosts did not change.
"""

from __future__ import annotations

import random
import warnings
from collections.abc import Callable, Iterable, Mapping
from types import MappingProxyType
from typing import TYPE_CHECKING, Any

from . import _router_py
from ._bounded_py import BoundedLoad as _PyBoundedLoad
from ._compat import USE_EXTENSIONS
from ._pickling import pack_hosts, pack_rng, rebuild_router
from ._routemany import route_many as _route_many
from ._router_config import NO_TABLE as _NO_TABLE
from ._router_config import attr as _attr
from ._router_config import bounded_peek as _bounded_peek
from ._router_config import build_tables as _build_tables
from ._router_config import check_cluster_options as _check_cluster_options
from ._router_config import check_copies as _check_copies
from ._router_config import check_hosts as _check_hosts
from ._router_config import check_options as _check_options
from ._router_config import check_subsets as _check_subsets
from ._router_config import check_weights_match as _check_weights_match
from ._router_config import fold as _fold
from ._router_config import make_value_fn as _make_value_fn
from ._router_config import parse_uint64 as _parse_uint64  # noqa: F401 - tests import it here
from ._router_config import route_policy as _route_policy
from ._router_config import subset_table as _subset_table
from ._subset_py import WeightedSubsetPicker as _PyPicker
from ._types import Host, Table
from ._validate import LEASE_NOT_PICKLED, refuse_pickle
from .bounded import BoundedLoad
from .errors import ConfigError
from .maglev import Maglev
from .policy import HashPolicy
from .ring import RingHash
from .routebatch import RouteBatch
from .subset import WeightedSubsetPicker

if TYPE_CHECKING or not USE_EXTENSIONS:
    from ._router_py import Route
else:
    from ._router_c import Route
#: The compiled twin's route core, when the extensions are in use.
_COMPILED_CORE: Any = None
if USE_EXTENSIONS:
    from ._router_c import _RouteCore as _COMPILED_CORE

__all__ = ("Route", "RouteLease", "Router", "istio_route_hash")

_BALANCERS: dict[str, Callable[..., Any]] = {"ring_hash": RingHash, "maglev": Maglev}
_PICKERS = (WeightedSubsetPicker, _PyPicker)


def _twin(picker: Any) -> tuple[Any, Any]:
    """Return the route core and bounded-load class of *picker*'s twin.

    ``_compat.USE_EXTENSIONS`` decides which twin the public names are; a
    router then runs on the twin of its picker, so a pure picker (a prebuilt
    ``weights=``) gets the pure core even when the extensions are in use.
    """
    if isinstance(picker, _PyPicker):
        return _router_py._RouteCore, _PyBoundedLoad
    if _COMPILED_CORE is None:  # a compiled picker under HASHLB_NO_EXTENSIONS
        from ._router_c import _RouteCore

        return _RouteCore, BoundedLoad
    return _COMPILED_CORE, BoundedLoad


def istio_route_hash(h: int, copies: int) -> int:
    """Return the route hash of *copies* identical one-method policies yielding *h*.

    Istio appends the DestinationRule's hash policy once per weighted
    destination (Istio's ``pilot/pkg/networking/core/route/route.go``), so Envoy folds the same value *copies* times:
    ``h``, then ``rotl1(acc) ^ h`` for each further copy.

    :param int h: the hash of the one-method policy, in ``[0, 2**64)``.
    :param int copies: how many copies Istio emitted (``>= 1``).

    >>> from hashlb.router import istio_route_hash
    >>> istio_route_hash(1, 2)  # rotl1(1) ^ 1
    3
    >>> istio_route_hash(5, 1)
    5
    """
    acc = h
    for _ in range(copies - 1):
        acc = _fold(acc, h)
    return acc


class Router:
    """Route requests to weighted subsets of hosts: Envoy-exact or sticky.

    :param hosts: every :class:`~hashlb.Host` of the service, with ``labels``.
    :param subsets: subset name -> label selector (a DestinationRule's
        ``subsets``): a subset is every host whose labels contain the
        selector's labels.
    :param weights: subset name -> weight, in route order (a VirtualService's
        weighted destinations); every subset needs a weight and every weight
        a subset.  A prebuilt :class:`~hashlb.WeightedSubsetPicker` is also
        accepted (its mode and seed must equal *mode* and *seed*).
    :param policy: the :class:`~hashlb.policy.HashPolicy` (request -> hash),
        or None for none (every request then gets a random hash).
    :param balancer: ``"ring_hash"`` (Istio's default) or ``"maglev"``, or a
        callable ``balancer(hosts, **balancer_options)`` returning a table
        with ``lookup(hash)`` (e.g. the pure twin's class).
    :param balancer_options: keyword arguments for every subset's table
        (``table_size=...``, ``min_ring_size=...``).
    :param str mode: ``"sticky"`` (default) or ``"envoy"`` (see the module
        documentation).
    :param int seed: seeds the sticky picker's salts and the default random
        generator (reproducible simulations).
    :param bool allow_empty: skip a subset whose selector matches no host
        (its weight counts as 0, as Envoy's health-aware weights do for a
        cluster without healthy hosts) instead of raising.
    :param header_name: envoy mode: take the subset value from this request
        header: exactly one value that is a decimal uint64 as Envoy's
        ``absl::SimpleAtoi`` reads it (surrounding ASCII whitespace and one
        ``+`` allowed); anything else gives the random value.
    :param bool use_hash_policy: envoy mode: take the subset value from the
        route hash (Envoy 1.36+), evaluated without generating a cookie.
    :param rng: the :class:`random.Random` for random values and hashes;
        default ``random.Random(seed)``.  Routers made by :meth:`with_weights`
        and :meth:`with_hosts` share it.
    :param key_seed: sticky mode: the xxh64 seed of the request-key hash
        (the policy is evaluated as ``HashPolicy(..., seed=key_seed)``; see
        :attr:`route_policy`), an int in ``[0, 2**64)``, or None (default)
        for Envoy's unseeded hash.  A random secret (``secrets.randbits(64)``)
        makes the key -> subset and key -> host mapping unpredictable, which
        defeats hash flooding with keys chosen offline; every router that
        must agree (all proxies of a fleet) needs the same one.  Not allowed
        in envoy mode, where it would break compatibility with Envoy.
    :param hash_balance_factor: Envoy's bounded load (both modes): each
        subset's table is wrapped in :class:`~hashlb.BoundedLoad` with this
        factor (an int in ``[100, 2**32 - 1]``; 150 caps a host at 1.5x its
        share of the subset's requests in flight).  A subset that is a
        :class:`~hashlb.Cluster` gets Envoy's bounded load per priority,
        counted per host across its priorities.  Count requests with
        :meth:`acquire`; None (default) for plain consistent hashing.
    :param policy_copies: envoy mode: how many copies of *policy* the route's
        hash policy list holds.  None (default) is Istio's translation, one
        copy per destination with a non-zero weight; 1 is a hand-written
        Envoy route with its own single list.  An int in
        ``[1, 1024]``.
    :param cluster_options: options of the :class:`~hashlb.Cluster` that
        a subset becomes when any of its hosts has a ``priority`` other than 0
        or a health other than healthy/unknown: ``overprovisioning_factor``,
        ``healthy_panic_threshold``, ``weighted_priority_health``,
        ``locality_weighted``, ``envoy_version`` (Envoy's defaults when
        omitted).  Such a subset routes as Envoy does: priority loads, panic,
        and no host (``Route.host`` None) when the chosen level has none.
        Given at all, every subset is a cluster.
    :raises ~hashlb.ConfigError: no subsets; all weights 0; a negative
        weight or a sum above ``2**32 - 1``; a weight for an unknown subset
        or a subset without a weight; a selector matching no host (unless
        *allow_empty*); no non-empty subset with a non-zero weight; an
        unknown *mode* or *balancer*; a picker whose mode or seed differs;
        *header_name* or *use_hash_policy* outside envoy mode, or both;
        *key_seed* in envoy mode or out of range; a *policy* with its own
        non-zero seed; *hash_balance_factor* or *policy_copies* out of range,
        or *policy_copies* outside envoy mode.
    :raises TypeError: an argument of the wrong type, or a table that
        :class:`~hashlb.BoundedLoad` cannot wrap.

    >>> from hashlb.policy import HashPolicy, Header, Request
    >>> hosts = [Host(f"10.0.0.{i}:8080", labels={"version": "safe"}) for i in (1, 2)]
    >>> hosts.append(Host("10.0.0.3:8080", labels={"version": "risky"}))
    >>> router = Router(hosts, subsets={"safe": {"version": "safe"}, "risky": {"version": "risky"}},
    ...                 weights={"safe": 99, "risky": 1}, policy=HashPolicy(Header("x-user")),
    ...                 balancer="maglev")
    >>> route = router.route(Request(headers={"x-user": "alice"}))
    >>> route.subset, route.host.address
    ('safe', '10.0.0.2:8080')
    >>> router.with_weights({"safe": 50, "risky": 50}).route(Request(headers={"x-user": "alice"})).subset
    'risky'
    """

    __slots__ = (
        "__dict__",
        "_allow_empty",
        "_balancer",
        "_balancer_options",
        "_bounded",
        "_bounded_cls",
        "_cluster_options",
        "_copies",
        "_empty",
        "_factor",
        "_generates",
        "_hash",
        "_header",
        "_header_name",
        "_host_index",
        "_hosts",
        "_key_policy",
        "_key_seed",
        "_members",
        "_mode",
        "_names",
        "_picker",
        "_policy",
        "_policy_copies",
        "_rng",
        "_route_hash_policy",
        "_seed",
        "_specs",
        "_sticky",
        "_subsets",
        "_tables",
        "_use_hash_policy",
        "_value_hash",
        "_weights",
    )

    _allow_empty: bool
    _balancer: str | Callable[..., Any]
    _balancer_options: Mapping[str, Any]
    _bounded: dict[str, Any]
    _bounded_cls: Any
    _copies: int
    _cluster_options: Mapping[str, Any]
    _policy_copies: int | None
    _empty: tuple[str, ...]
    _factor: int | None
    _generates: bool
    _hash: Callable[[Any], Any] | None
    _header: bytes | None
    _header_name: str | None
    _hosts: tuple[Host, ...]
    _key_policy: Any
    _key_seed: int | None
    _host_index: dict[str | None, Any]
    _members: dict[str, tuple[Host, ...]]
    _mode: str
    _names: tuple[str, ...]
    _picker: WeightedSubsetPicker
    _policy: HashPolicy | None
    _route_hash_policy: HashPolicy | None
    _rng: random.Random
    _seed: int
    _sticky: bool
    _subsets: Mapping[str, Mapping[str, str]]
    _specs: dict[str, tuple[Any, Any, int, Any]]
    _tables: dict[str, Any]
    _use_hash_policy: bool
    _value_hash: Callable[[Any], int | None] | None
    _weights: Mapping[str, int]

    def __init__(
        self,
        hosts: Iterable[Host],
        *,
        subsets: Mapping[str, Mapping[str, str]],
        weights: Mapping[str, int] | WeightedSubsetPicker,
        policy: HashPolicy | None,
        balancer: str | Callable[..., Any] = "ring_hash",
        balancer_options: Mapping[str, Any] | None = None,
        mode: str = "sticky",
        seed: int = 0,
        allow_empty: bool = False,
        header_name: str | None = None,
        use_hash_policy: bool = False,
        rng: random.Random | None = None,
        key_seed: int | None = None,
        hash_balance_factor: int | None = None,
        policy_copies: int | None = None,
        cluster_options: Mapping[str, Any] | None = None,
    ) -> None:
        set_ = object.__setattr__
        opts = _check_options(
            balancers=_BALANCERS,
            balancer=balancer,
            balancer_options=balancer_options,
            mode=mode,
            allow_empty=allow_empty,
            header_name=header_name,
            use_hash_policy=use_hash_policy,
            rng=rng,
            policy=policy,
            key_seed=key_seed,
            hash_balance_factor=hash_balance_factor,
        )
        key_seed = opts.key_seed

        subsets_d = _check_subsets(subsets)
        if isinstance(weights, _PICKERS):
            base = weights
            if base.mode != mode or base.seed != seed:
                raise ConfigError(
                    f"weights is a WeightedSubsetPicker with mode={base.mode!r}, "
                    f"seed={base.seed}, but the router has mode={mode!r}, seed={seed}"
                )
        else:
            # Validates weights (names, ranges, sum) with the picker's messages.
            base = WeightedSubsetPicker(weights, mode=mode, seed=seed)
        _check_weights_match(base.weights, subsets_d)

        host_t = _check_hosts(hosts)
        set_(self, "_hosts", host_t)
        set_(self, "_subsets", MappingProxyType(subsets_d))
        set_(self, "_balancer", balancer)
        set_(self, "_balancer_options", MappingProxyType(opts.balancer_options))
        set_(self, "_mode", mode)
        set_(self, "_sticky", mode == "sticky")
        set_(self, "_seed", base.seed)
        set_(self, "_allow_empty", allow_empty)
        set_(self, "_header_name", opts.header_name)
        set_(self, "_header", opts.header)
        set_(self, "_use_hash_policy", use_hash_policy)
        set_(self, "_policy_copies", _check_copies(policy_copies, mode))
        set_(self, "_cluster_options", MappingProxyType(_check_cluster_options(cluster_options)))
        set_(self, "_rng", rng if rng is not None else random.Random(seed))
        set_(self, "_policy", policy)
        key_policy = policy
        if policy is not None and key_seed is not None:
            try:
                key_policy = type(policy)(*policy.policies, seed=key_seed)
            except TypeError:
                raise TypeError(
                    f"key_seed needs a HashPolicy (which takes seed=), not {type(policy).__name__}"
                ) from None
        set_(self, "_key_seed", key_seed)
        set_(self, "_key_policy", key_policy)
        set_(self, "_factor", opts.factor)
        set_(self, "_bounded_cls", _twin(base)[1])
        self._build_tables(None)
        self._configure(base)

    # -- construction helpers ----------------------------------------------

    def _build_tables(self, old: Router | None) -> None:
        """Select each subset's hosts and build its table (see ``_router_config.build_tables``)."""
        factory = _BALANCERS[self._balancer] if isinstance(self._balancer, str) else self._balancer
        members, tables, specs, bounded, empty = _build_tables(
            self._hosts,
            self._subsets,
            lambda hosts: _subset_table(
                hosts, factory, self._balancer_options, self._cluster_options
            ),
            self._allow_empty,
            None
            if self._factor is None
            else lambda t: self._bounded_cls(t, hash_balance_factor=self._factor),
            None if old is None else (old._members, old._tables, old._specs, old._bounded),
        )
        object.__setattr__(self, "_members", members)
        object.__setattr__(self, "_bounded", bounded)
        object.__setattr__(self, "_tables", tables)
        object.__setattr__(self, "_specs", specs)
        object.__setattr__(self, "_empty", empty)
        object.__setattr__(self, "_host_index", {})

    def _configure(self, base: Any) -> None:
        """Set the weights from picker *base*: the effective picker and the route policy.

        O(subsets): it reads the per-subset tables and specs, never the hosts.
        """
        set_ = object.__setattr__
        weights = dict(base.weights)
        effective = {n: (0 if n in self._empty else w) for n, w in weights.items()}
        if not any(effective.values()):
            raise ConfigError(
                f"no subset with a non-zero weight has hosts (empty: {list(self._empty)})"
            )
        picker = base if effective == weights else base.with_weights(effective)
        names = picker.names
        set_(self, "_weights", MappingProxyType(weights))
        set_(self, "_picker", picker)
        set_(self, "_names", names)
        copies, route_policy, generates, hash_fn, value_hash = _route_policy(
            self._key_policy, weights, self._sticky, self._use_hash_policy, self._policy_copies
        )
        set_(self, "_copies", copies)
        set_(self, "_route_hash_policy", route_policy)
        set_(self, "_generates", generates)
        set_(self, "_hash", hash_fn)
        set_(self, "_value_hash", value_hash)
        # The hot path: this picker's twin's _RouteCore, bound as self.route
        # and self.route_hash (instance attributes shadow the methods below).
        core_cls = _twin(picker)[0]
        specs = self._specs
        core = core_cls(
            self._hash,
            generates,
            picker,
            tuple(specs.get(n, _NO_TABLE) for n in names),
            self._rng.getrandbits,
            self._sticky,
            self._make_value_fn(),
        )
        self.__dict__["_core"] = core
        if self._bounded:
            peek = _bounded_peek(self._bounded)
            core_route, core_route_hash = core.route, core.route_hash

            def route(request: Any) -> Any:
                return peek(core_route(request))

            def route_hash(hash: int | None, value: int | None = None) -> Any:
                return peek(core_route_hash(hash, value))

            self.__dict__["route"] = route
            self.__dict__["route_hash"] = route_hash
        else:
            self.__dict__["route"] = core.route
            self.__dict__["route_hash"] = core.route_hash

    def _make_value_fn(self) -> Callable[[Any, int | None], int] | None:
        """Return the envoy-mode weighted-cluster value: header or hash policy, else random.

        None when the value is always random (the core then draws it itself).
        """
        if self._sticky or (self._header is None and self._value_hash is None):
            return None
        return _make_value_fn(
            self._header, self._value_hash, self._generates, self._rng.getrandbits
        )

    def _index_of(self, name: str) -> Any:
        """Return, for subset *name*, the router host index of each table host.

        Computed on first use (by :meth:`route_many`) and cached; routers made
        by :meth:`with_weights` share the cache (same hosts).
        """
        cache = self._host_index
        index = cache.get(name)
        if index is None:
            table = self._tables[name]
            position = cache.get(None)
            if position is None:
                position = {}
                for i, h in enumerate(self._hosts):
                    position.setdefault(h, i)
                cache[None] = position
            index = [position[h] for h in table.hosts]
            cache[name] = index
        return index

    def _derive(self) -> Router:
        """Return a shallow copy to reconfigure (tables and rng are shared)."""
        new = Router.__new__(Router)
        for slot in Router.__slots__:
            if slot != "__dict__":  # holds the bound route core; _configure sets it
                object.__setattr__(new, slot, getattr(self, slot))
        return new

    # -- public API ----------------------------------------------------------

    hosts: tuple[Host, ...] = _attr(
        "_hosts", "Every host, in the given order (router host index = position)."
    )

    subsets: Mapping[str, Mapping[str, str]] = _attr(
        "_subsets", "Subset name -> label selector, as given."
    )

    weights: Mapping[str, int] = _attr(
        "_weights", "Subset name -> weight, as configured (empty subsets keep theirs here)."
    )

    picker: WeightedSubsetPicker = _attr(
        "_picker", "The ``WeightedSubsetPicker`` in use (empty subsets at weight 0)."
    )

    @property
    def tables(self) -> Mapping[str, Table]:
        """Subset name -> its ring or Maglev table (subsets with hosts only)."""
        return MappingProxyType(self._tables)

    @property
    def members(self) -> Mapping[str, tuple[Host, ...]]:
        """Subset name -> the hosts its selector matches, in host order."""
        return MappingProxyType(self._members)

    empty_subsets: tuple[str, ...] = _attr(
        "_empty", "The subsets skipped because no host matches (``allow_empty=True``)."
    )

    policy: HashPolicy | None = _attr("_policy", "The hash policy as given (one copy).")

    @property
    def route_policy(self) -> HashPolicy | None:
        """The policy whose hash the tables look up: in envoy mode, Istio's copies;
        with :attr:`key_seed`, the policy seeded with it."""
        return self._route_hash_policy

    key_seed: int | None = _attr(
        "_key_seed",
        "The seed of the request-key hash (sticky mode), or None for Envoy's unseeded one.",
    )

    hash_balance_factor: int | None = _attr(
        "_factor", "Envoy's bounded-load factor (percent of the average load), or None."
    )

    @property
    def bounded_loads(self) -> Mapping[str, Any]:
        """Subset name -> its ``BoundedLoad`` (empty without a factor).

        Each holds the in-flight counts of its subset (``.active``), counted
        by :meth:`acquire`; routers made by :meth:`with_weights` share them.
        """
        return MappingProxyType(self._bounded)

    @property
    def policy_copies(self) -> int:
        """How many copies of the hash policy the route hash folds (1 in sticky mode).

        In envoy mode, Istio gives the route one copy of the policy per
        destination with a non-zero weight, and Envoy folds them all:
        ``rotl1(h) ^ h`` for two; ``Router(policy_copies=1)`` is a plain Envoy
        route with its own single list.
        """
        return self._copies

    @property
    def istio_copies(self) -> int:
        """Deprecated alias of ``policy_copies`` (removed in the next release)."""
        warnings.warn(
            "Router.istio_copies is deprecated; use Router.policy_copies",
            DeprecationWarning,
            stacklevel=2,
        )
        return self._copies

    @property
    def mode(self) -> str:
        """``"sticky"`` or ``"envoy"``."""
        return self._mode

    seed: int = _attr(
        "_seed", "The seed of the picker's salts and of the default random generator."
    )

    @property
    def balancer(self) -> str | Callable[..., Any]:
        """``"ring_hash"``, ``"maglev"`` or the table factory given."""
        return self._balancer

    balancer_options: Mapping[str, Any] = _attr(
        "_balancer_options", "The keyword arguments of every table."
    )

    rng: random.Random = _attr("_rng", "The random generator of random values and hashes.")

    def route(self, request: Any) -> Route:
        """Return where *request* goes: the subset, the host and the hashes used.

        The policy hash (in envoy mode, of Istio's policy copies) picks the
        host inside the subset; when the policy yields none, a random hash
        from :attr:`rng` does.  Sticky mode picks the subset from the same
        hash; envoy mode from the weighted-cluster value, drawn *before* a
        random hash.  A generated cookie comes back as ``set_cookie``.

        With :attr:`hash_balance_factor`, the host is the one bounded load
        picks with the requests now in flight (as :meth:`acquire` would), but
        this request is not counted: use :meth:`acquire` to route and count.

        :param request: a :class:`~hashlb.policy.Request`.
        :raises TypeError: *request* is not a Request (with a policy or *header_name*).

        The compiled twin runs this without Python-level calls for a Maglev
        subset, apart from the policy's hash.
        """
        route: Callable[[Any], Route] = self.__dict__["route"]
        return route(request)

    def acquire(self, request: Any) -> RouteLease:
        """Route *request* and count it in flight until the lease is released.

        With :attr:`hash_balance_factor`, the host is chosen by Envoy's
        bounded load from the requests in flight in the chosen subset, and
        this one is counted on it (atomically, under the subset's lock:
        threads may share a router).  Without a factor it routes like
        :meth:`route` and counts nothing, so proxy code can always use it.

        :param request: a :class:`~hashlb.policy.Request`.
        :returns: a :class:`RouteLease`: use it as a context manager
            (``with router.acquire(request) as route:``), or call
            :meth:`RouteLease.release` when the response is done.
        :raises TypeError: *request* is not a Request (with a policy).
        """
        return self._lease(self.__dict__["_core"].route(request))

    def acquire_hash(self, hash: int | None, value: int | None = None) -> RouteLease:
        """Route a pre-computed route hash and count it in flight (see ``acquire()``).

        :param hash: as for :meth:`route_hash`.
        :param value: as for :meth:`route_hash`.
        :raises TypeError: a hash or value that is not an int.
        :raises ValueError: a hash or value outside ``[0, 2**64)``.
        """
        return self._lease(self.__dict__["_core"].route_hash(hash, value))

    def _lease(self, route: Any) -> RouteLease:
        bl = self._bounded.get(route.subset)
        if bl is None:
            return RouteLease(route, None)
        lease = bl.acquire(route.lookup_hash)
        if lease.host is not route.host:
            route = type(route)(
                route.subset, lease.host, route.hash, route.set_cookie, route.lookup_hash
            )
        return RouteLease(route, lease)

    def route_hash(self, hash: int | None, value: int | None = None) -> Route:
        """Route a pre-computed route hash (for simulators).

        :param hash: the hash the tables look up -- the :attr:`route_policy`
            hash: in envoy mode Istio's copies folded in, with
            :attr:`key_seed` the seeded hash -- or None for a random one.
        :param value: envoy mode: the weighted-cluster value; by default the
            hash with ``use_hash_policy``, else a random value (there is no
            request to read ``header_name`` from).  Ignored in sticky mode,
            where the subset is a function of the hash.
        :raises TypeError: a hash or value that is not an int.
        :raises ValueError: a hash or value outside ``[0, 2**64)``.
        """
        route_hash: Callable[[int | None, int | None], Route] = self.__dict__["route_hash"]
        return route_hash(hash, value)

    def route_many(
        self,
        hashes: Any = None,
        *,
        keys: Any = None,
        columns: Any = None,
        values: Any = None,
        rng: Any = None,
    ) -> RouteBatch:
        """Route a whole column of requests at once, in one pass: a ``RouteBatch``.

        Exactly one of *hashes*, *keys* and *columns* gives the rows:

        :param hashes: the route hashes, as :meth:`route_hash` takes them
            (the :attr:`route_policy` hash: Istio's copies folded, seeded
            with :attr:`key_seed`): an Arrow ``uint64``/``int64`` column
            (chunked too), a numpy ``uint64`` array (masked too), a uint64
            buffer, or a list of ints.  A null (or None) is a request
            without a hash, as ``route_hash(None)``: a random lookup hash.
        :param keys: the value the route's one-method policy hashes: the
            header value of a :class:`~hashlb.policy.Header`, the cookie
            value of a :class:`~hashlb.policy.Cookie`, the parameter value
            of a :class:`~hashlb.policy.QueryParameter`, the client IP text
            of a :class:`~hashlb.policy.SourceIP` (as ``client_ip`` gives
            it); any column :func:`~hashlb.xxh64_many` reads (Arrow string
            and binary columns, numpy ``S``/``U``/``StringDType``, a list).
            The route hash is computed as :meth:`route` computes it: xxh64
            with :attr:`key_seed`, then in envoy mode Istio's
            :attr:`policy_copies` folded (a ``terminal`` method stops at the
            first).  A null key is no hash, and so is an empty cookie value
            (Envoy hashes no empty cookie).  A cookie with a ``ttl`` is not
            generated: there are no addresses to generate it from (as
            :meth:`route` of a request without them).
        :param columns: a table of request columns, hashed by the route's
            whole policy with :meth:`HashPolicy.hash_many
            <hashlb.policy.HashPolicy.hash_many>` (its column names and
            types: ``"header:<name>"``, ``"cookie:<name>"``, ``"path"``,
            ``"remote_address"``, ``"local_address"``,
            ``"filter_state:<key>"``, ...): a mapping of columns, a pyarrow
            Table or RecordBatch, a pandas or polars DataFrame.  The route
            hash is :attr:`route_policy`'s, as :meth:`route` computes it
            (generated cookies included); in envoy mode ``header_name``
            reads its ``"header:<name>"`` column.
        :param values: envoy mode: the weighted-cluster values, uint64 as
            *hashes* (a null: the default value of that row).  By default,
            as :meth:`route`: with ``header_name`` the header's value
            (*columns* only: with *hashes* or *keys* there are no headers,
            so parse the header into *values*), with ``use_hash_policy``
            the route hash (evaluated without generating a cookie), and a
            random value for every other row.
        :param rng: the ``numpy.random.Generator`` of the random draws;
            default a new one seeded with 128 bits of :attr:`rng` at the
            call's first draw (so reproducible from :attr:`seed`; a call
            that draws nothing leaves :attr:`rng` untouched).
            In envoy mode it first draws one uint64 per row that needs a
            random weighted-cluster value, in row order, then in both modes
            one uint64 per row without a hash (its lookup hash), in row order.
        :returns: a :class:`~hashlb.RouteBatch`: per row the subset index
            (into ``picker.names``), the host index (into :attr:`hosts`,
            :data:`hashlb.NO_HOST` where a cluster level had no host), the
            lookup hash and the no-hash flag.
        :raises TypeError: not exactly one of *hashes*, *keys* and *columns*, a column
            of a type that is not read, an *rng* that is not a Generator.
        :raises ValueError: a hash out of range, an inconsistent Arrow
            column, *values* of another length.
        :raises ~hashlb.ConfigError: *values* in sticky mode; *keys* with a
            policy that is not one Header/Cookie/QueryParameter/SourceIP
            method (or none, or a header with ``regex_rewrite``).

        The compiled twin picks the subset and looks the host up in one C
        pass without the GIL for Maglev and ring subsets (a ``keys=``
        column is hashed in the same pass); a subset that is
        a :class:`~hashlb.Cluster` (host health, priorities) is looked up
        through its ``lookup_many``.  With :attr:`hash_balance_factor`, each
        host is the one bounded load picks with the requests in flight when
        the call starts (a batch counts nothing; a subset with requests in
        flight is looked up key by key).
        """
        return _route_many(self, hashes, keys, columns, values, rng)

    def with_weights(self, weights: Mapping[str, int]) -> Router:
        """Return a new router with *weights*, reusing every table (and the rng).

        Membership, tables and per-subset lookups are shared with this router
        (a weight change never changes membership); only the picker and the
        route core are rebuilt, so the cost is O(subsets) and independent of
        the host count (about 10 µs for 2 subsets, 40 µs for 50).

        :param weights: subset name -> weight, as for the constructor.
        :raises ~hashlb.ConfigError: as for the constructor.
        """
        base = self._picker.with_weights(weights)
        _check_weights_match(base.weights, self._subsets)
        new = self._derive()
        new._configure(base)
        return new

    def with_hosts(self, hosts: Iterable[Host]) -> Router:
        """Return a new router over *hosts*, reusing the tables of unchanged subsets.

        The members are selected again in one pass over *hosts* (indexed by
        the selectors' labels); a subset whose member tuple is unchanged keeps
        its table, and only the others are built (about 6 ms for 20,000 hosts
        in 50 subsets with one subset changed, plus that subset's build).

        With :attr:`hash_balance_factor`, a subset that keeps its table
        keeps its :class:`~hashlb.BoundedLoad` and in-flight counts; a rebuilt
        subset starts from zero, and leases taken before release into the old
        counts (so the new router briefly under-counts that subset's load).

        :param hosts: the new host list.
        :raises ~hashlb.ConfigError: a selector now matches no host (unless
            ``allow_empty``), or no non-empty subset has a non-zero weight.
        """
        new = self._derive()
        object.__setattr__(new, "_hosts", _check_hosts(hosts))
        new._build_tables(self)
        new._configure(self._picker.with_weights(dict(self._weights)))
        return new

    def __setattr__(self, name: str, value: object) -> None:
        raise AttributeError(f"Router is immutable; cannot set {name!r}")

    def __reduce__(self) -> tuple[Any, ...]:
        """Pickle the configuration, hosts packed (``_pickling``); in-flight counts start at zero."""
        picker = type(self._picker)(dict(self._weights), mode=self._mode, seed=self._seed)
        config = {
            "subsets": {n: dict(sel) for n, sel in self._subsets.items()},
            "weights": picker,
            "policy": self._policy,
            "balancer": self._balancer,
            "balancer_options": dict(self._balancer_options),
            "mode": self._mode,
            "seed": self._seed,
            "allow_empty": self._allow_empty,
            "header_name": self._header_name,
            "use_hash_policy": self._use_hash_policy,
            "rng": pack_rng(self._rng, self._seed),
            "key_seed": self._key_seed,
            "hash_balance_factor": self._factor,
            "policy_copies": self._policy_copies,
            "cluster_options": dict(self._cluster_options),
        }
        return (rebuild_router, (Router, pack_hosts(self._hosts), config))

    def __repr__(self) -> str:
        extra = ""
        if self._key_seed is not None:
            extra += ", key_seed=<hidden>"  # a secret: never printed
        if self._factor is not None:
            extra += f", hash_balance_factor={self._factor}"
        return (
            f"Router({len(self._hosts)} hosts, weights={dict(self._weights)!r}, "
            f"mode={self._mode!r}, balancer={self._balancer!r}{extra})"
        )


class RouteLease:
    """A routed request in flight, from ``Router.acquire()``.

    With bounded load the request is counted on :attr:`route`'s host until
    :meth:`release` (or the end of a ``with`` block, which gives the
    :class:`Route`).  Releasing is idempotent and thread-safe.  Without
    ``hash_balance_factor`` nothing is counted and releasing does nothing.

    >>> from hashlb.policy import HashPolicy, Header, Request
    >>> hosts = [Host(f"10.0.0.{i}:80", labels={"v": "a"}) for i in range(4)]
    >>> router = Router(hosts, subsets={"a": {"v": "a"}}, weights={"a": 1},
    ...                 policy=HashPolicy(Header("x-user")), hash_balance_factor=150)
    >>> with router.acquire(Request(headers={"x-user": "alice"})) as route:
    ...     sum(router.bounded_loads["a"].active)
    1
    >>> sum(router.bounded_loads["a"].active)
    0
    """

    __slots__ = ("_box", "route")

    route: Route

    def __init__(self, route: Route, lease: Any) -> None:
        #: The :class:`Route`: subset, host (bounded load's choice) and hashes.
        self.route = route
        self._box = [] if lease is None else [lease]

    @property
    def host(self) -> Host | None:
        """The host the request is counted on (``route.host``)."""
        host: Host | None = self.route.host
        return host

    @property
    def held(self) -> bool:
        """Whether the request is still counted in flight."""
        return bool(self._box)

    def release(self) -> None:
        """Count the request as finished (idempotent, thread-safe)."""
        try:
            lease = self._box.pop()  # atomic: only one caller gets the lease
        except IndexError:
            return
        lease.release()

    def __enter__(self) -> Route:
        return self.route

    def __exit__(self, *exc: object) -> None:
        self.release()

    def __reduce__(self) -> tuple[Any, ...]:
        raise refuse_pickle(self, LEASE_NOT_PICKLED)

    def __repr__(self) -> str:
        state = "held" if self._box else "released"
        return f"<RouteLease {self.route.subset!r} {self.route.host!r} {state}>"


def _restore_router(hosts: tuple[Host, ...], config: dict[str, Any]) -> Router:
    """Rebuild a router from a pickle of an earlier build (its hosts one by one)."""
    return Router(hosts, **config)
