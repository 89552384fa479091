"""``Router.route_many``: the batch driver, shared by both twins (plain Python over numpy).

The driver reads the input column (``_columns``), computes the route hash of
every row (``keys=``: the route's one-method policy hashed with
``xxh64_many``, its copies folded), draws the random values and hashes from
a ``numpy.random.Generator``, and hands the rows to the router twin's
``_BatchPlan`` (``_router_c``: one C pass with the GIL released, the subset
pick and the subset's table lookup by pointer; ``_router_py``: numpy).  Rows
of subsets the plan does not index itself (a :class:`~hashlb.Cluster`, a
table of another kind, a bounded load with requests in flight) are looked up
here, subset by subset.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from . import _policy_py, _router_py, policy
from ._batch import check_keys, hash_buffer
from ._columns import (
    K_FIXED,
    K_OFF32,
    K_OFF64,
    K_UCS4,
    K_VIEW,
    NO_HOST,
    hash_columns,
    key_columns,
    need_numpy,
    py_check,
    py_values,
    rows,
)
from ._subset_py import WeightedSubsetPicker as _PyPicker
from .errors import ConfigError
from .routebatch import RouteBatch

if TYPE_CHECKING:
    from .router import Router

#: The one-method policies ``keys=`` reads: the value each hashes is the key itself.
_KEY_METHODS = ("Header", "Cookie", "QueryParameter", "SourceIP")


def _method_kind(method: object) -> str | None:
    """The name of *method*'s class if it is one of either twin's :data:`_KEY_METHODS`."""
    for name in _KEY_METHODS:
        if isinstance(method, (getattr(policy, name), getattr(_policy_py, name))):
            return name
    return None


class KeySpec:
    """How ``keys=`` becomes route hashes: the xxh64 seed, the copies folded,
    and whether an empty key is no hash (a cookie with an empty value)."""

    __slots__ = ("copies", "empty_is_none", "seed")

    def __init__(self, seed: int, copies: int, empty_is_none: bool) -> None:
        self.seed = seed
        self.copies = copies
        self.empty_is_none = empty_is_none


def key_spec(router: Router) -> KeySpec:
    """Check that *router*'s policy is one key method and say how to hash ``keys=``.

    :raises ~hashlb.ConfigError: no policy, several methods, a method that
        does not hash one request value (``FilterState``), or a header with a
        ``regex_rewrite`` (the rewrite applies to the request's value).
    """
    pol = router.policy
    use = "use columns= (the request columns) or hashes= (route hashes)"
    if pol is None:
        raise ConfigError(f"route_many(keys=) needs a policy of one key method; {use}")
    methods = tuple(pol.policies)
    kind = _method_kind(methods[0]) if len(methods) == 1 else None
    if kind is None:
        got = ", ".join(type(m).__name__ for m in methods)
        raise ConfigError(
            "route_many(keys=) needs a policy of exactly one Header, Cookie, QueryParameter "
            f"or SourceIP method, got HashPolicy({got}); {use}"
        )
    method: Any = methods[0]
    if kind == "Header" and method.regex_rewrite is not None:
        raise ConfigError(
            f"route_many(keys=) cannot apply a Header's regex_rewrite to the keys; {use}"
        )
    # Istio's copies of a one-method policy fold the same hash; a terminal method
    # stops at the first copy that yields one (Envoy's HashPolicyImpl::generateHash).
    copies = 1 if method.terminal else router.policy_copies
    return KeySpec(router.key_seed or 0, copies, kind == "Cookie")


def check_rng(rng: object) -> Any:
    """Return *rng* if it is a ``numpy.random.Generator`` (None passes), else raise TypeError."""
    if rng is None:
        return None
    np = need_numpy()
    if not isinstance(rng, np.random.Generator):
        raise TypeError(f"rng must be a numpy.random.Generator, not {type(rng).__name__[:60]}")
    return rng


def read_hashes(np: Any, hashes: object, field: str, copy: bool = True) -> tuple[Any, Any]:
    """A uint64 column as ``(values, null)``: a uint64 array and a bool mask.

    Arrow uint64/int64 (chunked), numpy (masked) uint64, uint64 buffers and
    lists of ints (None: null) are read; null rows hold 0.  The values are a
    new writable array, or without *copy* possibly a read-only view of the
    input when it has no null.
    """
    chunks = hash_columns(hashes)
    if chunks is not None and not copy and len(chunks) == 1:
        py_check(chunks[0], 0)
        vals, missing = py_values(chunks[0])
        if not missing.any():
            return vals, missing
    if chunks is not None:
        n = rows(chunks)
        out = np.empty(n, np.uint64)
        null = np.zeros(n, bool)
        base = 0
        for chunk in chunks:
            py_check(chunk, base)
            vals, missing = py_values(chunk)
            out[base : base + chunk[1]] = vals
            null[base : base + chunk[1]] = missing
            base += chunk[1]
        out[null] = 0
        return out, null
    none = None
    if (type(hashes) is list or type(hashes) is tuple) and any(x is None for x in hashes):
        none = np.array([x is None for x in hashes], bool)
        hashes = [0 if x is None else x for x in hashes]
    try:
        view = hash_buffer(hashes)
    except (TypeError, ValueError) as e:
        raise type(e)(str(e).replace("hashes", field, 1)) from None
    if not len(view):
        out = np.zeros(0, np.uint64)
    elif copy:
        out = np.array(view, dtype=np.uint64)
    else:
        out = np.frombuffer(view, dtype=np.uint64)
    return out, (np.zeros(len(out), bool) if none is None else none)


def _empty_rows(np: Any, keys: object) -> Any:
    """True at the rows of a key column (already checked) that are empty keys."""
    parts = []
    for chunk in key_columns(keys) or ():
        kind, n, off, _, values, _data, _vbufs, _width, source = chunk
        if kind in (K_OFF32, K_OFF64):
            if n == 0:
                parts.append(np.zeros(0, bool))
                continue
            offs = np.frombuffer(values, np.int32 if kind == K_OFF32 else np.int64)
            parts.append(np.diff(offs[off : off + n + 1]) == 0)
        elif kind == K_VIEW:
            meta = np.frombuffer(values, np.int32)[off * 4 : (off + n) * 4 : 4]
            parts.append(meta == 0)
        elif kind in (K_FIXED, K_UCS4):
            parts.append(np.asarray(source[off : off + n] == source.dtype.type()))
        else:  # K_NULL: every row is null anyway
            parts.append(np.ones(n, bool))
    return np.concatenate(parts) if parts else np.zeros(0, bool)


def read_keys(np: Any, keys: object, spec: KeySpec, xxh64_many: Any) -> tuple[Any, Any]:
    """The route hash of every key and the no-hash mask (null keys; empty cookies)."""
    columnar = type(keys) is not list and type(keys) is not tuple and key_columns(keys) is not None
    if not columnar:
        if type(keys) is not list and type(keys) is not tuple:
            check_keys(keys)  # a str, bytes or refused numpy array is not a sequence of keys
            keys = list(keys)  # type: ignore[call-overload]
        seq: list[Any] | tuple[Any, ...] = keys  # type: ignore[assignment]
        none = np.array([k is None for k in seq], bool)
        if none.any():
            seq = [b"" if k is None else k for k in seq]
        h = np.asarray(xxh64_many(seq, spec.seed), dtype=np.uint64)
        if spec.empty_is_none:
            none |= np.array([len(k) == 0 for k in seq], bool)
    else:
        res = xxh64_many(keys, spec.seed)
        if isinstance(res, np.ma.MaskedArray):
            h, none = np.asarray(res.data), np.ma.getmaskarray(res).copy()
        else:
            h, none = np.asarray(res), np.zeros(len(res), bool)
        if spec.empty_is_none:
            none |= _empty_rows(np, keys)
    if spec.copies > 1:  # Envoy's fold rotl1(acc) ^ h, in place (no temporaries per copy)
        acc = h.copy()
        top = np.empty_like(h)
        one, sixty_three = np.uint64(1), np.uint64(63)
        for _ in range(spec.copies - 1):
            np.right_shift(acc, sixty_three, out=top)
            np.left_shift(acc, one, out=acc)
            np.bitwise_or(acc, top, out=acc)
            np.bitwise_xor(acc, h, out=acc)
        h = acc
    h[none] = 0
    return h, none


def _twins(router: Router) -> tuple[Any, Any]:
    """The ``_BatchPlan`` class and ``xxh64_many`` of the twin *router* runs on."""
    if isinstance(router.picker, _PyPicker):
        from . import _hashing_py

        return _router_py._BatchPlan, _hashing_py.xxh64_many
    from . import _hashing_c, _router_c

    return _router_c._BatchPlan, _hashing_c.xxh64_many


def plan(router: Router) -> Any:
    """The router's ``_BatchPlan``, built on first use and cached on the router."""
    cached = router.__dict__.get("_batch_plan")
    if cached is not None:
        return cached
    np = need_numpy()
    cls = _twins(router)[0]
    tables: list[tuple[Any, Any, Any]] = []
    for name in router.picker.names:
        table = router.tables.get(name)
        if table is None:
            tables.append((None, None, None))
            continue
        view = router._specs[name][1]
        index = np.asarray(router._index_of(name), dtype=np.uint32)
        tables.append((table, view, index))
    made = cls(router.picker, tuple(tables))
    router.__dict__["_batch_plan"] = made
    return made


def _slow_rows(router: Router, np: Any, i: int, h: Any, sub: Any, host: Any) -> None:
    """Look the rows of subset *i* up through its table (or bounded load) in Python."""
    name = router.picker.names[i]
    table = router.tables.get(name)
    if table is None:
        return
    where = np.flatnonzero(sub == i)
    if not len(where):
        return
    keys = np.ascontiguousarray(h[where])
    bl = router.bounded_loads.get(name)
    active = None if bl is None else bl.active
    if bl is None or active is None or not any(active):
        local = np.asarray(table.lookup_many(keys)).astype(np.int64)
    else:  # bounded load with requests in flight: Envoy's rule, key by key
        position = {id(x): j for j, x in enumerate(table.hosts)}
        local = np.array(
            [
                NO_HOST if x is None else position[id(x)]
                for x in (bl.lookup(k, active) for k in keys.tolist())
            ],
            dtype=np.int64,
        )
    index = np.asarray(router._index_of(name), dtype=np.uint32)
    none = local == NO_HOST  # a cluster level with no host (Envoy: no healthy upstream)
    host[where] = np.where(none, NO_HOST, index[np.where(none, 0, local)])


def read_columns(np: Any, router: Router, columns: object) -> tuple[Any, Any]:
    """The route hash of every row of a table of request columns (``HashPolicy.hash_many``)."""
    policy = router.route_policy
    if policy is None:  # no policy: every request gets a random hash
        from ._hashmany import _Batch

        n = _Batch(columns).n
        return np.zeros(n, np.uint64), np.ones(n, bool)
    h, none = policy.hash_many(columns)  # a new array: no-hash rows get their draws in it
    h = np.asarray(h, dtype=np.uint64)
    if not h.flags.writeable:
        h = h.copy()
    h[none] = 0
    return h, np.asarray(none, dtype=bool)


def column_values(np: Any, router: Router, columns: object, h: Any, no_hash: Any) -> Any:
    """Envoy mode's weighted-cluster values of request columns, as ``route()`` reads them.

    ``(values, draw)``: from the ``header_name`` column (exactly one value, a
    decimal uint64), or the route hash evaluated without generating a cookie
    (``use_hash_policy``); *draw* marks the rows that need a random one.
    """
    n = len(h)
    vals = np.zeros(n, np.uint64)
    draw = np.ones(n, bool)
    header = router._header_name
    if header is not None:
        from ._hashmany import _Batch
        from ._router_config import parse_uint64

        batch = _Batch(columns)
        key = "header:" + header.lower()
        if key in batch.text:
            for i, got in enumerate(batch.values(key)):
                if len(got) == 1:
                    v = parse_uint64(got[0])
                    if v is not None:
                        vals[i] = v
                        draw[i] = False
    elif router._use_hash_policy:
        value_policy = getattr(router._value_hash, "__self__", None)
        if value_policy is None or value_policy is router.route_policy:
            w, none = h, no_hash
        else:  # a cookie with a ttl: the value is the hash without generating one
            w, none = value_policy.hash_many(columns)
            none = np.asarray(none, dtype=bool)
        take = ~none
        vals[take] = np.asarray(w)[take]
        draw = none.copy()
    return vals, draw


def _fused_keys(
    np: Any,
    router: Router,
    batch_plan: Any,
    keys: object,
    spec: KeySpec,
    values: object,
    gen: Any,
) -> RouteBatch | None:
    """``keys=`` hashed and routed in the compiled plan's one pass, or None (not possible).

    The plan must have ``route_keys`` (the C twin), *keys* must be a column
    (not a list), a cookie's empty values need the general path, and in envoy
    mode every row's value must be known before the pass: given without
    nulls, drawn for every row (the default), or the route hash
    (``use_hash_policy``).  The draws are those of the general path, in its
    order: the values first, then the lookup hashes of the rows without a hash.
    """
    route_keys = getattr(batch_plan, "route_keys", None)
    if route_keys is None or spec.empty_is_none:
        return None
    if type(keys) is list or type(keys) is tuple:
        return None
    chunks = key_columns(keys)
    if chunks is None:
        return None
    n = rows(chunks)
    sticky = router.mode == "sticky"
    hash_value = not sticky and router._use_hash_policy
    vals = None
    if not sticky and values is not None:
        vals, missing = read_hashes(np, values, "values", copy=False)
        if len(vals) != n:
            raise ValueError(f"values has {len(vals)} items, the batch has {n} rows")
        if missing.any():
            return None  # a row's default value may be its hash: the general path
        vals = np.ascontiguousarray(vals)
    random64 = _drawer(np, router, gen)
    if not sticky and vals is None and not hash_value:
        vals = random64(n)
    h = np.empty(n, np.uint64)
    nulls = np.zeros(n, np.uint8)
    sub = np.empty(n, np.uint32)
    host = np.empty(n, np.uint32)
    route_keys(chunks, spec.seed, spec.copies, vals, h, nulls, sub, host)
    no_hash = nulls.view(bool)
    where = np.flatnonzero(no_hash)
    if len(where):
        m = len(where)
        # envoy mode with use_hash_policy and no values: these rows draw their value first
        drawn = None
        if vals is None and not sticky:
            drawn = random64(m)
        lookup = random64(m)
        h[where] = lookup
        if sticky:
            row_values = lookup
        elif vals is None:
            row_values = drawn
        else:
            row_values = vals[where]
        s2, h2 = np.empty(m, np.uint32), np.empty(m, np.uint32)
        batch_plan.route(lookup, np.ascontiguousarray(row_values), s2, h2)
        sub[where] = s2
        host[where] = h2
    _finish(router, np, batch_plan, h, sub, host)
    return RouteBatch._trusted(sub, host, h, no_hash, router.picker.names, router.hosts)


def _drawer(np: Any, router: Router, gen: Any) -> Callable[[int], Any]:
    """Return ``random64(m)``: *m* uint64s from *gen*, or by default from a Generator seeded
    from the router's own rng on the first draw (a call that draws nothing leaves that rng
    as it was, so results do not depend on how the rows are split into calls)."""
    state = [gen]

    def draw(m: int) -> Any:
        g = state[0]
        if g is None:  # reproducible from the router's seed; advances the router's rng
            g = state[0] = np.random.default_rng(router.rng.getrandbits(128))
        return g.integers(0, 1 << 64, size=m, dtype=np.uint64)

    return draw


def _finish(router: Router, np: Any, batch_plan: Any, h: Any, sub: Any, host: Any) -> None:
    """Look up the rows of the subsets the plan left (and of bounded loads in flight)."""
    slow = set(batch_plan.slow)
    for i, name in enumerate(router.picker.names):
        bl = router.bounded_loads.get(name)
        if bl is not None and any(bl.active):
            slow.add(i)
    for i in sorted(slow):
        _slow_rows(router, np, i, h, sub, host)


def route_many(
    router: Router, hashes: object, keys: object, columns: object, values: object, rng: object
) -> RouteBatch:
    """``Router.route_many`` (see its documentation)."""
    given = [
        name
        for name, x in (("hashes", hashes), ("keys", keys), ("columns", columns))
        if x is not None
    ]
    if len(given) != 1:
        raise TypeError(
            "route_many takes exactly one of hashes=, keys= or columns=, "
            f"got {' and '.join(given) if given else 'none'}"
        )
    gen = check_rng(rng)
    np = need_numpy()
    sticky = router.mode == "sticky"
    if sticky and values is not None:
        raise ConfigError("values apply to mode='envoy' only")
    batch_plan = plan(router)
    if keys is not None:
        spec = key_spec(router)
        fused = _fused_keys(np, router, batch_plan, keys, spec, values, gen)
        if fused is not None:
            return fused
        h, no_hash = read_keys(np, keys, spec, _twins(router)[1])
    elif columns is not None:
        h, no_hash = read_columns(np, router, columns)
    else:
        h, no_hash = read_hashes(np, hashes, "hashes")
    n = len(h)
    random64 = _drawer(np, router, gen)
    if sticky:
        if no_hash.any():
            h[no_hash] = random64(int(no_hash.sum()))
        vals = h
    else:
        if values is None:
            vals, draw, owned = np.zeros(n, np.uint64), np.ones(n, bool), True
        else:  # the caller's values, read in place unless a row must be filled in
            vals, draw = read_hashes(np, values, "values", copy=False)
            owned = False
            if len(vals) != n:
                raise ValueError(f"values has {len(vals)} items, the batch has {n} rows")
        if draw.any() and columns is not None:  # the header column, or the value hash
            default, missing = column_values(np, router, columns, h, no_hash)
        elif draw.any() and router._use_hash_policy:
            default, missing = h, no_hash
        else:  # random (with header_name: there are no headers to read)
            default = missing = None
        if default is not None:
            take = draw & ~missing
            if take.any():
                vals, owned = (vals if owned else vals.copy()), True
                vals[take] = default[take]
            draw &= missing
        if draw.any():
            vals, owned = (vals if owned else vals.copy()), True
            vals[draw] = random64(int(draw.sum()))
        if no_hash.any():
            h[no_hash] = random64(int(no_hash.sum()))
    sub = np.empty(n, np.uint32)
    host = np.empty(n, np.uint32)
    batch_plan.route(h, vals, sub, host)
    _finish(router, np, batch_plan, h, sub, host)
    return RouteBatch._trusted(sub, host, h, no_hash, router.picker.names, router.hosts)
