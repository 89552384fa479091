"""Router.route_many and RouteBatch: every entry point agrees with route() / route_hash() row by row.

Each router is built from one twin's engines (picker, tables, policy), so the
compiled fused pass (``_router_c._BatchPlan``) and the pure numpy one are
both checked against the scalar hot path, including null rows, clusters with
unhealthy hosts, bounded load with requests in flight, ``header_name``,
``use_hash_policy``, ``policy_copies`` and ``key_seed``.
"""

from __future__ import annotations

import pickle
import random
import threading
from collections.abc import Iterable
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pytest

from hashlb import NO_HOST, Host, RouteBatch, xxh64_many
from hashlb._router_config import parse_uint64
from hashlb.errors import ConfigError
from hashlb.router import Router

from ._impl import PY, Implementation

HOSTS = (
    *(Host(f"10.2.0.{i}:80", labels={"v": "stable"}) for i in range(9)),
    *(Host(f"10.2.1.{i}:80", labels={"v": "canary"}) for i in range(3)),
    *(Host(f"10.2.2.{i}:80", labels={"v": "beta"}) for i in range(2)),
)
SUBSETS = {"stable": {"v": "stable"}, "canary": {"v": "canary"}, "beta": {"v": "beta"}}
WEIGHTS = {"stable": 70, "canary": 20, "beta": 10}
USERS = [f"user-{i}" for i in range(600)]


class FixedRandom(random.Random):
    """A random.Random whose getrandbits returns queued values (route()'s draws, fixed)."""

    def __init__(self) -> None:
        super().__init__(0)
        self.queue: list[int] = []

    def getrandbits(self, k: int) -> int:
        assert self.queue, "route() drew more random values than the test queued"
        return self.queue.pop(0)


def make(
    impl: Implementation,
    *,
    mode: str = "sticky",
    balancer: str = "maglev",
    policy: Any = "header",
    hosts: Iterable[Host] = HOSTS,
    weights: dict[str, int] | None = None,
    subsets: dict[str, dict[str, str]] | None = None,
    **kw: Any,
) -> Router:
    """A Router over *impl*'s picker, tables and policy."""
    pol = impl.module("policy")
    if policy == "header":
        policy = pol.HashPolicy(pol.Header("x-user"))
    table = {"maglev": impl.module("maglev").Maglev, "ring_hash": impl.module("ring").RingHash}
    if balancer == "maglev":
        kw.setdefault("balancer_options", {"table_size": 4099})
    seed = kw.pop("seed", 0)
    picker = impl.module("subset").WeightedSubsetPicker(weights or WEIGHTS, mode=mode, seed=seed)
    return Router(
        hosts,
        subsets=subsets or SUBSETS,
        weights=picker,
        policy=policy,
        balancer=table[balancer],
        mode=mode,
        seed=seed,
        **kw,
    )


def same(router: Router, batch: RouteBatch, i: int, route: Any) -> None:
    """Row *i* of *batch* is *route*: subset, host and lookup hash."""
    assert batch.names[batch.subset[i]] == route.subset, i
    host = batch.host[i]
    assert (host == NO_HOST) == (route.host is None), i
    if route.host is not None:
        assert router.hosts[host] == route.host, i
    assert int(batch.hash[i]) == route.lookup_hash, i
    assert bool(batch.no_hash[i]) == (route.hash is None), i


def with_draws(router: Router, draws: list[int], request: Any) -> Any:
    """Route *request* with *router*'s FixedRandom queued with *draws*; check all were used."""
    rng = router.rng
    assert isinstance(rng, FixedRandom)
    rng.queue = list(draws)
    out = router.route(request)
    assert rng.queue == [], "route() drew fewer random values than queued"
    return out


def random_hashes(n: int, seed: int) -> Any:
    return np.random.default_rng(seed).integers(0, 2**64, size=n, dtype=np.uint64)


# ------------------------------------------------------------------ hashes=


@pytest.mark.parametrize("balancer", ["maglev", "ring_hash"])
@pytest.mark.parametrize("mode", ["sticky", "envoy"])
def test_hashes_agree_with_route_hash(impl: Implementation, mode: str, balancer: str) -> None:
    """Row i of route_many(hashes) is route_hash(hashes[i], values[i]); nulls get a random hash."""
    r = make(impl, mode=mode, balancer=balancer)
    h = random_hashes(2000, 1)
    mask = np.zeros(len(h), bool)
    mask[::13] = True
    values = None if mode == "sticky" else random_hashes(len(h), 2)
    batch = r.route_many(np.ma.MaskedArray(h, mask=mask), values=values)
    assert len(batch) == len(h)
    assert batch.subset.dtype == np.uint32 and batch.host.dtype == np.uint32
    assert batch.hash.dtype == np.uint64 and batch.no_hash.dtype == bool
    assert (batch.no_hash == mask).all()
    assert (batch.hash[~mask] == h[~mask]).all()
    for i in range(len(h)):
        v = None if values is None else int(values[i])
        route = r.route_hash(int(batch.hash[i]), v)
        assert batch.names[batch.subset[i]] == route.subset
        assert r.hosts[batch.host[i]] == route.host


def test_every_hash_input_gives_the_same_batch(impl: Implementation) -> None:
    """numpy, list, array('Q'), Arrow uint64/int64/chunked, pandas and polars: one batch."""
    polars = pytest.importorskip("polars")
    r = make(impl)
    h = random_hashes(500, 3) >> np.uint64(1)  # fits int64 too
    gen = np.random.default_rng
    want = r.route_many(h, rng=gen(0))
    forms = [
        h.tolist(),
        tuple(h.tolist()),
        memoryview(h),
        pa.array(h, pa.uint64()),
        pa.array(h.astype(np.int64), pa.int64()),
        pa.chunked_array([pa.array(h[:200]), pa.array(h[200:])]),
        pd.Series(h),
        polars.Series(h),
    ]
    for form in forms:
        assert r.route_many(form, rng=gen(0)) == want, type(form)


def test_the_inputs_are_never_written(impl: Implementation) -> None:
    """route_many reads hashes and values in place but never writes into them."""
    for kw in ({}, {"use_hash_policy": True}):
        r = make(impl, mode="envoy", **kw)
        h = random_hashes(300, 15)
        values = np.ma.MaskedArray(random_hashes(300, 16), mask=np.arange(300) % 3 == 0)
        keep_h, keep_v = h.copy(), values.data.copy()
        batch = r.route_many(np.ma.MaskedArray(h, mask=np.arange(300) % 5 == 0), values=values)
        assert (h == keep_h).all() and (values.data == keep_v).all()
        assert not np.shares_memory(batch.hash, h)
        plain = random_hashes(300, 17)
        keep = plain.copy()
        r.route_many(h, values=plain)
        assert (plain == keep).all()


def test_nulls_in_every_hash_form(impl: Implementation) -> None:
    """None in a list, Arrow nulls and masked rows are rows without a hash, drawn alike."""
    r = make(impl, mode="envoy")
    h = random_hashes(40, 4)
    as_list: list[int | None] = h.tolist()
    for i in (0, 7, 39):
        as_list[i] = None
    arrow = pa.array(as_list, pa.uint64())
    masked = np.ma.MaskedArray(h, mask=[x is None for x in as_list])
    a, b, c = (r.route_many(x, rng=np.random.default_rng(5)) for x in (as_list, arrow, masked))
    assert a == b == c
    assert a.no_hash.tolist() == [x is None for x in as_list]
    sliced = pa.array([None, *h.tolist()], pa.uint64()).slice(1)  # an Arrow offset
    assert not r.route_many(sliced).no_hash.any()


def test_the_draws_are_documented(impl: Implementation) -> None:
    """Envoy mode: first one value per row that needs one, then one hash per no-hash row."""
    r = make(impl, mode="envoy")
    h = [5, None, 7, None]
    batch = r.route_many(h, rng=np.random.default_rng(9))
    draws = np.random.default_rng(9).integers(0, 2**64, size=6, dtype=np.uint64)
    assert batch.hash.tolist() == [5, int(draws[4]), 7, int(draws[5])]
    for i, value in enumerate(draws[:4].tolist()):
        assert batch.names[batch.subset[i]] == r.route_hash(int(batch.hash[i]), value).subset
    # sticky: only the lookup hashes are drawn, and they also pick the subset
    s = make(impl)
    sb = s.route_many([None, 3], rng=np.random.default_rng(9))
    assert sb.hash.tolist() == [int(draws[0]), 3]


def test_the_default_rng_is_reproducible_from_the_seed(impl: Implementation) -> None:
    """Without rng=, each call seeds a Generator from the router's rng (seed=)."""
    h = [None] * 50
    a, b = make(impl, seed=3), make(impl, seed=3)
    first = a.route_many(h)
    assert first == b.route_many(h)
    assert a.route_many(h) != first  # the router's rng advanced
    assert make(impl, seed=4).route_many(h) != first


@pytest.mark.parametrize("mode", ["sticky", "envoy"])
def test_a_call_without_draws_leaves_the_router_rng_alone(impl: Implementation, mode: str) -> None:
    """The default Generator is seeded on the first draw, so splitting rows into calls is free."""
    kw: dict[str, Any] = {"use_hash_policy": True} if mode == "envoy" else {}
    router = make(impl, mode=mode, **kw)
    state = router.rng.getstate()
    router.route_many(random_hashes(40, 1))  # every row has a hash: nothing to draw
    assert router.rng.getstate() == state
    keys = [f"u{i}" for i in range(70)]
    whole = make(impl, mode=mode, **kw).route_many(keys=keys)
    split = make(impl, mode=mode, **kw)
    parts = [split.route_many(keys=keys[:5]), split.route_many(keys=keys[5:])]
    assert np.array_equal(whole.host, np.concatenate([p.host for p in parts]))
    assert np.array_equal(whole.subset, np.concatenate([p.subset for p in parts]))
    assert router.rng.getstate() == state


# -------------------------------------------------------------------- keys=


@pytest.mark.parametrize("balancer", ["maglev", "ring_hash"])
@pytest.mark.parametrize("mode", ["sticky", "envoy"])
def test_keys_agree_with_route(impl: Implementation, mode: str, balancer: str) -> None:
    """route_many(keys=) is route(Request) row by row, the random draws fixed (nulls too)."""
    pol = impl.module("policy")
    r = make(impl, mode=mode, balancer=balancer, rng=FixedRandom())
    keys: list[str | None] = list(USERS)
    keys[::17] = [None] * len(keys[::17])
    values = random_hashes(len(keys), 6) if mode == "envoy" else None
    batch = r.route_many(keys=pa.array(keys), values=values, rng=np.random.default_rng(0))
    for i, k in enumerate(keys):
        req = pol.Request(headers={} if k is None else {"x-user": k})
        draws = [] if values is None else [int(values[i])]
        if k is None:
            draws.append(int(batch.hash[i]))
        same(r, batch, i, with_draws(r, draws, req))


def test_the_envoy_trap_is_gone(impl: Implementation) -> None:
    """keys= folds Istio's two policy copies; hashing the keys alone does not."""
    pol = impl.module("policy")
    r = make(impl, mode="envoy", weights={"stable": 50, "canary": 50, "beta": 0})
    assert r.policy_copies == 2
    values = random_hashes(len(USERS), 7)
    batch = r.route_many(keys=USERS, values=values)
    naive = r.route_many(xxh64_many(USERS), values=values)
    want = [r.route_policy.hash(pol.Request(headers={"x-user": u})) for u in USERS]
    assert batch.hash.tolist() == want
    assert (naive.hash != batch.hash).all()
    assert batch == r.route_many(np.array(want, dtype=np.uint64), values=values)


def test_every_key_input_gives_the_same_batch(impl: Implementation) -> None:
    """Arrow string kinds, dictionary and chunked, numpy S/U/StringDType, lists: one batch."""
    polars = pytest.importorskip("polars")
    r = make(impl)
    want = r.route_many(keys=USERS)
    forms: list[Any] = [
        tuple(USERS),
        [u.encode() for u in USERS],
        np.array(USERS),
        np.array([u.encode() for u in USERS]),
        np.array(USERS, dtype=np.dtypes.StringDType()),
        pa.array(USERS, pa.string()),
        pa.array(USERS, pa.large_string()),
        pa.array(USERS, pa.binary()),
        pa.array(USERS, pa.large_binary()),
        pa.array(USERS, pa.string_view()),
        pa.array(USERS).dictionary_encode(),
        pa.chunked_array([pa.array(USERS[:100]), pa.array(USERS[100:])]),
        pd.Series(USERS),
        polars.Series(USERS),
        iter(USERS),
    ]
    for form in forms:
        assert r.route_many(keys=form) == want, type(form)


def test_key_seed_is_the_seeded_hash(impl: Implementation) -> None:
    """Sticky mode with key_seed: keys= hashes with the seed, as route() does."""
    pol = impl.module("policy")
    r = make(impl, key_seed=0x5EED)
    batch = r.route_many(keys=USERS)
    for i, u in enumerate(USERS):
        same(r, batch, i, r.route(pol.Request(headers={"x-user": u})))
    assert batch.hash.tolist() == xxh64_many(USERS, 0x5EED).tolist()


@pytest.mark.parametrize("copies", [1, 3])
def test_policy_copies_are_folded(impl: Implementation, copies: int) -> None:
    """policy_copies=k: the route hash is the one-method hash folded k times."""
    pol = impl.module("policy")
    r = make(impl, mode="envoy", policy_copies=copies, use_hash_policy=True)
    batch = r.route_many(keys=USERS)
    for i, u in enumerate(USERS):
        same(r, batch, i, r.route(pol.Request(headers={"x-user": u})))


def test_a_terminal_method_is_not_folded(impl: Implementation) -> None:
    """A terminal method stops at Istio's first copy: no fold."""
    pol = impl.module("policy")
    r = make(impl, mode="envoy", policy=pol.HashPolicy(pol.Header("x-user", terminal=True)))
    assert r.policy_copies == 3
    values = random_hashes(len(USERS), 8)
    batch = r.route_many(keys=USERS, values=values)
    assert batch.hash.tolist() == xxh64_many(USERS).tolist()
    for i in range(0, len(USERS), 5):
        route = r.route_hash(r.route_policy.hash(pol.Request(headers={"x-user": USERS[i]})))
        assert route.lookup_hash == int(batch.hash[i])


def test_use_hash_policy_takes_the_route_hash(impl: Implementation) -> None:
    """use_hash_policy: the value is the route hash; a null row draws a value, then a hash."""
    pol = impl.module("policy")
    r = make(impl, mode="envoy", use_hash_policy=True, rng=FixedRandom())
    keys = [None if i % 9 == 0 else u for i, u in enumerate(USERS)]
    batch = r.route_many(keys=keys, rng=np.random.default_rng(1))
    n_null = sum(k is None for k in keys)
    draws = np.random.default_rng(1).integers(0, 2**64, size=2 * n_null, dtype=np.uint64)
    values = iter(draws[:n_null].tolist())
    for i, k in enumerate(keys):
        req = pol.Request(headers={} if k is None else {"x-user": k})
        queued = [] if k is not None else [next(values), int(batch.hash[i])]
        same(r, batch, i, with_draws(r, queued, req))
    assert batch.hash[batch.no_hash].tolist() == draws[n_null:].tolist()


def test_header_name_values_come_from_values(impl: Implementation) -> None:
    """header_name: values= holds the parsed header; a null value is a random one."""
    pol = impl.module("policy")
    r = make(impl, mode="envoy", header_name="x-pick", rng=FixedRandom())
    values: list[int | None] = random_hashes(len(USERS), 9).tolist()
    values[::7] = [None] * len(values[::7])
    batch = r.route_many(
        keys=USERS, values=pa.array(values, pa.uint64()), rng=np.random.default_rng(2)
    )
    drawn = iter(
        np.random.default_rng(2).integers(0, 2**64, size=len(values), dtype=np.uint64).tolist()
    )
    for i, (u, v) in enumerate(zip(USERS, values, strict=True)):
        headers = {"x-user": u} if v is None else {"x-user": u, "x-pick": str(v)}
        queued = [next(drawn)] if v is None else []
        req = pol.Request(headers=headers)
        same(r, batch, i, with_draws(r, queued, req))


def test_cookie_keys(impl: Implementation) -> None:
    """Cookie: keys are cookie values; an empty or null value is no hash, as route()."""
    pol = impl.module("policy")
    for ttl in (None, 3600):
        policy = pol.HashPolicy(pol.Cookie("sid", ttl=ttl))
        r = make(impl, policy=policy, rng=FixedRandom())
        keys = ["", None, "abc", *USERS[:50]]
        for form in (keys, pa.array(keys), pa.array(keys, pa.string_view())):
            batch = r.route_many(keys=form, rng=np.random.default_rng(0))
            assert batch.no_hash[:3].tolist() == [True, True, False]
            for i, k in enumerate(keys):
                req = pol.Request(headers={} if k is None else {"cookie": f"sid={k}"})
                queued = [int(batch.hash[i])] if k in ("", None) else []
                same(r, batch, i, with_draws(r, queued, req))
        assert r.route_many(keys=np.array([*keys[2:], ""]), rng=np.random.default_rng(0)).no_hash[
            -1
        ]


def test_query_parameter_and_source_ip_keys(impl: Implementation) -> None:
    """QueryParameter: the parameter value (empty hashes); SourceIP: the client_ip text."""
    pol = impl.module("policy")
    qp = make(impl, policy=pol.HashPolicy(pol.QueryParameter("u")))
    keys = ["", *USERS[:80]]
    batch = qp.route_many(keys=keys)
    for i, k in enumerate(keys):
        same(qp, batch, i, qp.route(pol.Request(path=f"/p?a=1&u={k}")))
    method = pol.SourceIP()
    ip = make(impl, policy=pol.HashPolicy(method), mode="envoy", use_hash_policy=True)
    reqs = [pol.Request(remote_address=f"10.9.{i // 250}.{i % 250}:4000") for i in range(300)]
    reqs.append(pol.Request(remote_address="[2001:db8::1]:443"))
    batch = ip.route_many(keys=[method.client_ip(q) for q in reqs])
    for i, q in enumerate(reqs):
        same(ip, batch, i, ip.route(q))


# ----------------------------------------------------------------- columns=


def _requests(pol: Any, table: dict[str, list[Any]]) -> list[Any]:
    """The Request of every row of *table* (columns named as hash_many names them)."""
    n = len(next(iter(table.values())))
    out = []
    for i in range(n):
        headers = {k[len("header:") :]: v[i] for k, v in table.items() if k.startswith("header:")}
        headers = {k: v for k, v in headers.items() if v is not None}
        out.append(
            pol.Request(
                headers=headers,
                path=table.get("path", [None] * n)[i],
                remote_address=table.get("remote_address", [None] * n)[i],
                local_address=table.get("local_address", [None] * n)[i],
            )
        )
    return out


def _table(n: int) -> dict[str, list[Any]]:
    rng = random.Random(5)
    return {
        "header:x-user": [None if i % 7 == 0 else f"u{i}" for i in range(n)],
        "header:cookie": [None if i % 3 else f"sid=s{i % 40}; other=1" for i in range(n)],
        "header:x-pick": [None if i % 4 == 0 else str(rng.getrandbits(64)) for i in range(n)],
        "path": [f"/a?q={i % 9}" if i % 5 else "/a" for i in range(n)],
        "remote_address": [f"10.8.0.{i % 200}:5000" if i % 10 else None for i in range(n)],
        "local_address": ["10.9.0.1:80"] * n,
    }


@pytest.mark.parametrize(
    ("mode", "options"),
    [
        ("sticky", {}),
        ("sticky", {"key_seed": 77}),
        ("envoy", {}),
        ("envoy", {"header_name": "x-pick"}),
        ("envoy", {"use_hash_policy": True}),
        ("envoy", {"policy_copies": 1}),
    ],
)
def test_columns_agree_with_route(impl: Implementation, mode: str, options: dict[str, Any]) -> None:
    """route_many(columns=) is route(Request) row by row: the whole policy, copies, draws."""
    pol = impl.module("policy")
    policy = pol.HashPolicy(
        pol.Header("x-user"), pol.Cookie("sid", ttl=60), pol.QueryParameter("q")
    )
    r = make(impl, mode=mode, policy=policy, rng=FixedRandom(), **options)
    table = _table(300)
    batch = r.route_many(columns=table, rng=np.random.default_rng(3))
    n_value = 0 if mode == "sticky" else len(table["path"])
    draws = np.random.default_rng(3).integers(0, 2**64, size=2 * n_value, dtype=np.uint64)
    random_values = iter(draws.tolist())
    for i, req in enumerate(_requests(pol, table)):
        queued = []
        if mode == "envoy":
            value = None
            if "header_name" in options and table["header:x-pick"][i] is not None:
                value = parse_uint64(table["header:x-pick"][i].encode())
            elif options.get("use_hash_policy"):
                no_ttl = pol.HashPolicy(
                    *(
                        pol.Cookie("sid") if isinstance(m, pol.Cookie) else m
                        for m in r.route_policy.policies
                    )
                )
                value = no_ttl.hash(req)
            if value is None:
                queued.append(next(random_values))
        if batch.no_hash[i]:
            queued.append(int(batch.hash[i]))
        route = with_draws(r, queued, req)
        same(r, batch, i, route)
    assert batch.no_hash.any() and not batch.no_hash.all()


def test_every_columns_form_gives_the_same_batch(impl: Implementation) -> None:
    """A mapping of lists, of Arrow arrays, a pyarrow Table and a pandas DataFrame: one batch."""
    pol = impl.module("policy")
    r = make(impl, policy=pol.HashPolicy(pol.Header("x-user"), pol.SourceIP()))
    table = _table(200)
    want = r.route_many(columns=table, rng=np.random.default_rng(0))
    arrow = pa.table({k: pa.array(v, pa.string()) for k, v in table.items()})
    for form in (
        arrow,
        arrow.to_batches()[0],
        {k: pa.array(v) for k, v in table.items()},
        arrow.to_pandas(),
    ):
        assert r.route_many(columns=form, rng=np.random.default_rng(0)) == want, type(form)


def test_columns_without_a_policy_are_random(impl: Implementation) -> None:
    r = make(impl, policy=None)
    batch = r.route_many(columns={"header:x-user": ["a", "b"]}, rng=np.random.default_rng(1))
    assert batch.no_hash.all()
    with pytest.raises(ValueError, match="unknown column"):
        r.route_many(columns={"x-user": ["a"]})


# -------------------------------------------------- clusters, bounded load


def test_a_cluster_subset_with_unhealthy_hosts(impl: Implementation) -> None:
    """A subset with host health is a Cluster: route_many follows it, NO_HOST included."""
    hosts = [
        *(Host(f"10.3.0.{i}:80", labels={"v": "stable"}) for i in range(4)),
        Host("10.3.1.0:80", labels={"v": "canary"}),
        *(Host(f"10.3.1.{i}:80", labels={"v": "canary"}, health="unhealthy") for i in (1, 2, 3)),
        *(
            Host(f"10.3.2.{i}:80", labels={"v": "canary"}, priority=1, health="degraded")
            for i in range(2)
        ),
    ]
    for balancer in ("maglev", "ring_hash"):
        r = make(
            impl,
            hosts=hosts,
            subsets={"stable": {"v": "stable"}, "canary": {"v": "canary"}},
            weights={"stable": 50, "canary": 50},
            balancer=balancer,
            cluster_options={"healthy_panic_threshold": 0},
        )
        h = random_hashes(3000, 10)
        batch = r.route_many(h)
        for i in range(len(h)):
            same(r, batch, i, r.route_hash(int(h[i])))
        assert (batch.host == NO_HOST).any()
        arrow = batch.to_arrow()
        assert arrow.column("endpoint").null_count == int((batch.host == NO_HOST).sum())


@pytest.mark.parametrize("mode", ["sticky", "envoy"])
def test_bounded_load_with_requests_in_flight(impl: Implementation, mode: str) -> None:
    """With leases held, each row is bounded load's choice (as route_hash peeks it)."""
    r = make(impl, mode=mode, hash_balance_factor=100)
    leases = [r.acquire_hash(int(x), int(x)) for x in random_hashes(40, 11)]
    h = random_hashes(800, 12)
    values = None if mode == "sticky" else h
    batch = r.route_many(h, values=values)
    moved = 0
    for i in range(len(h)):
        route = r.route_hash(int(h[i]), None if values is None else int(values[i]))
        same(r, batch, i, route)
        moved += route.host != r.tables[route.subset].lookup(int(h[i]))
    assert moved > 0  # the load moved some keys
    for lease in leases:
        lease.release()
    plain = r.route_many(h, values=values)
    for i in range(0, len(h), 3):
        assert r.hosts[plain.host[i]] == r.tables[plain.names[plain.subset[i]]].lookup(int(h[i]))


def test_allow_empty_and_with_hosts(impl: Implementation) -> None:
    """An empty subset is never chosen; a router from with_hosts builds its own plan."""
    subsets = {**SUBSETS, "ghost": {"v": "ghost"}}
    r = make(impl, subsets=subsets, weights={**WEIGHTS, "ghost": 40}, allow_empty=True)
    h = random_hashes(500, 13)
    batch = r.route_many(h)
    assert "ghost" not in {batch.names[s] for s in batch.subset}
    extra = Host("10.2.1.9:80", labels={"v": "canary"})
    r2 = r.with_hosts([*HOSTS, extra])
    b2 = r2.route_many(h)
    assert b2.hosts[-1] == extra
    for i in range(len(h)):
        same(r2, b2, i, r2.route_hash(int(h[i])))


def test_twins_are_bit_exact(impl: Implementation) -> None:
    """This twin's batch equals the pure twin's for the same input and rng."""
    for mode in ("sticky", "envoy"):
        for balancer in ("maglev", "ring_hash"):
            a = make(impl, mode=mode, balancer=balancer)
            b = make(PY, mode=mode, balancer=balancer)
            keys = [None if i % 11 == 0 else u for i, u in enumerate(USERS)]
            got = [x.route_many(keys=keys, rng=np.random.default_rng(4)) for x in (a, b)]
            assert got[0] == got[1]


@pytest.mark.parametrize(
    ("mode", "options"),
    [
        ("sticky", {}),
        ("sticky", {"key_seed": 9}),
        ("envoy", {}),
        ("envoy", {"use_hash_policy": True}),
        ("envoy", {"policy_copies": 4}),
    ],
)
def test_a_key_column_and_a_key_list_give_one_batch(
    impl: Implementation, mode: str, options: dict[str, Any]
) -> None:
    """A column (the compiled twin hashes and routes it in one pass) equals the list path and
    the pure twin, nulls, draws and given values included."""
    keys = [None if i % 13 == 0 else u for i, u in enumerate(USERS)]
    given = [None] if mode == "sticky" else [None, random_hashes(len(keys), 19)]
    for balancer in ("maglev", "ring_hash"):
        a = make(impl, mode=mode, balancer=balancer, **options)
        pure = make(PY, mode=mode, balancer=balancer, **options)
        for values in given:
            want = a.route_many(keys=keys, values=values, rng=np.random.default_rng(6))
            for form in (
                pa.array(keys),
                pa.chunked_array([pa.array(keys[:77]), pa.array(keys[77:])]),
            ):
                got = a.route_many(keys=form, values=values, rng=np.random.default_rng(6))
                assert got == want
            assert (
                pure.route_many(keys=pa.array(keys), values=values, rng=np.random.default_rng(6))
                == want
            )
    # a values column with a null takes the general path, with the same result
    r = make(impl, mode="envoy", use_hash_policy=True)
    vals = pa.array([None, *random_hashes(len(keys) - 1, 20).tolist()], pa.uint64())
    assert r.route_many(keys=pa.array(keys), values=vals, rng=np.random.default_rng(1)) == (
        r.route_many(keys=keys, values=vals, rng=np.random.default_rng(1))
    )


def test_two_threads_on_two_chunks(impl: Implementation) -> None:
    """Two threads routing two halves give the rows of one call."""
    r = make(impl, balancer="ring_hash")
    h = random_hashes(200_000, 14)
    whole = r.route_many(h)
    parts: dict[int, RouteBatch] = {}

    def run(k: int) -> None:
        parts[k] = r.route_many(h[k * 100_000 : (k + 1) * 100_000])

    threads = [threading.Thread(target=run, args=(k,)) for k in (0, 1)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    assert np.concatenate([parts[0].host, parts[1].host]).tolist() == whole.host.tolist()
    assert np.concatenate([parts[0].subset, parts[1].subset]).tolist() == whole.subset.tolist()


# ------------------------------------------------------------ RouteBatch


def test_route_batch_to_arrow_and_pandas(impl: Implementation) -> None:
    """to_arrow: dictionary subset/endpoint, uint64 hash, bool no_hash; to_pandas: categoricals."""
    r = make(impl)
    keys = [None, *USERS[:30]]
    batch = r.route_many(keys=keys)
    table = batch.to_arrow()
    assert table.column_names == ["subset", "endpoint", "hash", "no_hash"]
    assert pa.types.is_dictionary(table.schema.field("subset").type)
    assert pa.types.is_dictionary(table.schema.field("endpoint").type)
    assert table.schema.field("hash").type == pa.uint64()
    rows = table.to_pylist()
    for i, row in enumerate(rows):
        assert row["subset"] == batch.names[batch.subset[i]]
        assert row["endpoint"] == r.hosts[batch.host[i]].address
        assert row["hash"] == int(batch.hash[i]) and row["no_hash"] == bool(batch.no_hash[i])
    frame = batch.to_pandas()
    assert isinstance(frame["subset"].dtype, pd.CategoricalDtype)
    assert isinstance(frame["endpoint"].dtype, pd.CategoricalDtype)
    assert frame["subset"].tolist() == [row["subset"] for row in rows]
    assert frame["endpoint"].tolist() == [row["endpoint"] for row in rows]
    assert frame["hash"].tolist() == batch.hash.tolist()


def test_route_batch_value_semantics(impl: Implementation) -> None:
    """Equality, pickle, repr, read-only arrays and checked construction."""
    r = make(impl)
    batch = r.route_many(keys=[None, "a", "b"], rng=np.random.default_rng(0))
    back = pickle.loads(pickle.dumps(batch))
    assert back == batch and back is not batch
    assert batch != r.route_many(keys=["x", "a", "b"])
    assert batch.__eq__(3) is NotImplemented
    assert "3 rows" in repr(batch) and "1 without a hash" in repr(batch)
    with pytest.raises(ValueError):
        batch.subset[0] = 1
    with pytest.raises(TypeError):
        hash(batch)
    names, hosts = batch.names, batch.hosts
    u32, u64, ok = np.zeros(2, np.uint32), np.zeros(2, np.uint64), np.zeros(2, bool)
    with pytest.raises(TypeError, match="subset"):
        RouteBatch(u64, u32, u64, ok, names, hosts)
    with pytest.raises(ValueError, match="host has 1 rows"):
        RouteBatch(u32, u32[:1], u64, ok, names, hosts)
    with pytest.raises(ValueError, match="past the end of names"):
        RouteBatch(np.full(2, 9, np.uint32), u32, u64, ok, names, hosts)
    with pytest.raises(ValueError, match="past the end of hosts"):
        RouteBatch(u32, np.full(2, 99, np.uint32), u64, ok, names, hosts)
    empty = r.route_many([])
    assert len(empty) == 0 and empty.to_arrow().num_rows == 0 and len(empty.to_pandas()) == 0


# -------------------------------------------------------------- bad input


def test_exactly_one_input(impl: Implementation) -> None:
    r = make(impl)
    with pytest.raises(TypeError, match="got none"):
        r.route_many()
    with pytest.raises(TypeError, match="hashes and keys"):
        r.route_many([1], keys=["a"])
    with pytest.raises(TypeError, match="keys and columns"):
        r.route_many(keys=["a"], columns={"header:x-user": ["a"]})
    with pytest.raises(TypeError, match="Generator"):
        r.route_many([1], rng=random.Random(0))
    with pytest.raises(ConfigError, match="envoy"):
        r.route_many([1], values=[1])
    with pytest.raises(ValueError, match="values has 1 items"):
        make(impl, mode="envoy").route_many([1, 2], values=[1])


def test_keys_need_a_one_method_key_policy(impl: Implementation) -> None:
    pol = impl.module("policy")
    bad = [
        None,
        pol.HashPolicy(pol.Header("a"), pol.Header("b")),
        pol.HashPolicy(pol.FilterState("k")),
        pol.HashPolicy(pol.Header("a", regex_rewrite=("x", "y"))),
    ]
    for policy in bad:
        with pytest.raises(ConfigError, match="columns="):
            make(impl, policy=policy).route_many(keys=["a"])


def test_hostile_inputs_raise_clear_errors(impl: Implementation) -> None:
    r = make(impl, mode="envoy")
    for hashes, err in [
        ("abc", TypeError),
        (np.zeros(3, np.float64), TypeError),
        (np.zeros((2, 2), np.uint64), TypeError),
        ([1, -1], ValueError),
        ([2**64], ValueError),
        ([1.5], TypeError),
        (pa.array([1, -5], pa.int64()), ValueError),
        (pa.array(["a"]), TypeError),
        (object(), TypeError),
    ]:
        with pytest.raises(err):
            r.route_many(hashes)
    for keys, err in [
        ("abc", TypeError),
        (b"abc", TypeError),
        (pa.array([1, 2]), TypeError),
        (np.zeros(3), TypeError),
        ([1, 2], TypeError),
    ]:
        with pytest.raises(err):
            r.route_many(keys=keys)
    with pytest.raises(TypeError):
        r.route_many([1], values=pa.array(["x"]))
    # decreasing offsets: pyarrow's cheap validation lets them through, the readers do not
    offsets = pa.py_buffer(np.array([0, 5, 2, 3], np.int32).tobytes())
    arr = pa.Array.from_buffers(pa.string(), 3, [None, offsets, pa.py_buffer(b"abc")])
    with pytest.raises(ValueError, match="invalid column at row 1: an offset is smaller"):
        r.route_many(keys=arr)
    with pytest.raises(ValueError, match="invalid column at row 1: an offset is smaller"):
        make(
            impl, policy=impl.module("policy").HashPolicy(impl.module("policy").Cookie("c"))
        ).route_many(keys=arr)


def test_the_batch_plan_refuses_bad_arguments(impl: Implementation) -> None:
    """The twin's private batch pass checks what it is given (it never reads out of bounds)."""
    from hashlb import _routemany

    r = make(impl)
    plan_cls = type(_routemany.plan(r))
    picker = r.picker
    view = r.tables["stable"].table
    with pytest.raises(TypeError):
        plan_cls(object(), [])
    with pytest.raises(ValueError, match="one entry per subset"):
        plan_cls(picker, [])
    short = np.zeros(1, np.uint32)  # the table names hosts 0..8: index 1+ is out of range
    plan = plan_cls(picker, [(r.tables[n], view, short) for n in picker.names])
    h = random_hashes(100, 18)
    sub, host = np.empty(100, np.uint32), np.empty(100, np.uint32)
    with pytest.raises(IndexError, match="out of range"):
        plan.route(h, h, sub, host)
    with pytest.raises(ValueError, match="differ in length"):
        plan.route(h, h[:5], sub, host)
    with pytest.raises((TypeError, BufferError)):
        plan.route(h, h, sub, b"x" * 100)  # read-only output
    fresh = plan_cls.__new__(plan_cls)
    with pytest.raises(TypeError, match=r"not initialised|__init__"):
        fresh.route(h, h, sub, host)
