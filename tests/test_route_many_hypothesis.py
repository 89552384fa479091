"""Property tests of Router.route_many: every entry point agrees with route() row by row, on both twins.

Random routers (subsets and weights, sticky or envoy, Maglev or ring, a
Header, Cookie or QueryParameter policy, terminal or not, key_seed,
use_hash_policy, policy_copies, bounded load with requests in flight) and
random key columns with null and empty values: ``route_many(keys=)``,
``route_many(columns=)`` and ``route_many(hashes=)`` each equal ``route()`` /
``route_hash()`` of every row, with the random draws fixed, and the twins
give identical batches for the same generator.
"""

from __future__ import annotations

import random
from typing import Any

import pytest

hypothesis = pytest.importorskip("hypothesis")
np = pytest.importorskip("numpy")
pa = pytest.importorskip("pyarrow")

from hypothesis import given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

from hashlb import NO_HOST, Host, RouteBatch  # noqa: E402
from hashlb.router import Router  # noqa: E402

from ._impl import PY, Implementation  # noqa: E402
from .strategies import route_configs, route_keys, uint64  # noqa: E402

FEW = min(80, settings.default.max_examples)


class FixedRandom(random.Random):
    """A random.Random whose getrandbits returns queued values."""

    def __init__(self) -> None:
        super().__init__(0)
        self.queue: list[int] = []

    def getrandbits(self, k: int) -> int:
        assert self.queue, "route() drew more random values than queued"
        return self.queue.pop(0)


def build(impl: Implementation, config: dict[str, Any]) -> Router:
    """The Router of *config* on *impl*'s engines (a FixedRandom rng)."""
    pol = impl.module("policy")
    terminal = config["terminal"]
    method = {
        "header": lambda: pol.Header("x-k", terminal=terminal),
        "cookie": lambda: pol.Cookie("k", terminal=terminal),
        "query": lambda: pol.QueryParameter("k", terminal=terminal),
    }[config["method"]]()
    hosts = [
        Host(f"10.{j}.0.{i}:80", labels={"s": name})
        for j, (name, size) in enumerate(config["sizes"].items())
        for i in range(size)
    ]
    subsets = {name: {"s": name} for name in config["weights"]}
    table = {"maglev": impl.module("maglev").Maglev, "ring_hash": impl.module("ring").RingHash}
    options = {"table_size": 31} if config["balancer"] == "maglev" else {"min_ring_size": 64}
    return Router(
        hosts,
        subsets=subsets,
        weights=impl.module("subset").WeightedSubsetPicker(config["weights"], mode=config["mode"]),
        policy=pol.HashPolicy(method),
        balancer=table[config["balancer"]],
        balancer_options=options,
        mode=config["mode"],
        rng=FixedRandom(),
        hash_balance_factor=config["factor"],
        **config["options"],
    )


def request(impl: Implementation, method: str, key: str | None) -> Any:
    """The request whose policy value is *key* (None: the value is absent)."""
    pol = impl.module("policy")
    if key is None:
        return pol.Request()
    if method == "header":
        return pol.Request(headers={"x-k": key})
    if method == "cookie":
        return pol.Request(headers={"cookie": f"k={key}"})
    return pol.Request(path=f"/p?k={key}")


def key_column(method: str, keys: list[str | None]) -> dict[str, list[str | None]]:
    """The request columns of *keys* as hash_many names them."""
    if method == "header":
        return {"header:x-k": keys}
    if method == "cookie":
        return {"header:cookie": [None if k is None else f"k={k}" for k in keys]}
    return {"path": [None if k is None else f"/p?k={k}" for k in keys]}


def check_rows(
    impl: Implementation,
    r: Router,
    method: str,
    batch: RouteBatch,
    keys: list[str | None],
    values: list[int | None],
) -> None:
    """Every row of *batch* is route() of its request, route()'s draws fixed: *values[i]*
    (None: route() draws no value) then the lookup hash of a row without a hash."""
    rng = r.rng
    assert isinstance(rng, FixedRandom)
    for i, key in enumerate(keys):
        queued = [] if values[i] is None else [int(values[i])]  # type: ignore[arg-type]
        if batch.no_hash[i]:
            queued.append(int(batch.hash[i]))
        rng.queue = queued
        route = r.route(request(impl, method, key))
        assert rng.queue == []
        assert batch.names[batch.subset[i]] == route.subset
        assert (batch.host[i] == NO_HOST) == (route.host is None)
        if route.host is not None:
            assert r.hosts[batch.host[i]] == route.host
        assert int(batch.hash[i]) == route.lookup_hash
        assert bool(batch.no_hash[i]) == (route.hash is None)


def _leases(r: Router, hashes: list[int]) -> list[Any]:
    return [r.acquire_hash(h, h) for h in hashes]


@given(config=route_configs(), keys=route_keys, seed=uint64, held=st.lists(uint64, max_size=6))
@settings(max_examples=FEW, deadline=None)
def test_keys_and_columns_agree_with_route(
    impl: Implementation,
    config: dict[str, Any],
    keys: list[str | None],
    seed: int,
    held: list[int],
) -> None:
    """keys= and columns= give route() of every row (values fixed where envoy mode draws)."""
    r = build(impl, config)
    leases = _leases(r, held) if config["factor"] else []
    method, n = config["method"], len(keys)
    hash_value = config["options"].get("use_hash_policy", False)
    given = None  # sticky, or use_hash_policy: the values are route()'s own
    if config["mode"] == "envoy" and not hash_value:
        given = np.random.default_rng(seed).integers(0, 2**64, size=n, dtype=np.uint64)
    for form in ("keys", "columns"):
        gen = np.random.default_rng(seed)
        if form == "keys":
            batch = r.route_many(keys=pa.array(keys, pa.string()), values=given, rng=gen)
        else:
            batch = r.route_many(columns=key_column(method, keys), values=given, rng=gen)
        values: list[int | None] = [None] * n
        if given is not None:
            values = [int(v) for v in given]
        elif config["mode"] == "envoy":  # use_hash_policy: a row without a hash draws a value
            drawn = iter(
                np.random.default_rng(seed).integers(0, 2**64, size=n, dtype=np.uint64).tolist()
            )
            values = [next(drawn) if none else None for none in batch.no_hash.tolist()]
        check_rows(impl, r, method, batch, keys, values)
    for lease in leases:
        lease.release()


@given(
    config=route_configs(),
    hashes=st.lists(st.one_of(st.none(), uint64), max_size=40),
    seed=uint64,
)
@settings(max_examples=FEW, deadline=None)
def test_hashes_agree_with_route_hash_and_the_twins_agree(
    impl: Implementation, config: dict[str, Any], hashes: list[int | None], seed: int
) -> None:
    """hashes= gives route_hash(hash, value) of every row; the pure twin's batch is identical."""
    r = build(impl, config)
    batch = r.route_many(hashes, rng=np.random.default_rng(seed))
    assert batch.no_hash.tolist() == [h is None for h in hashes]
    draws = (
        np.random.default_rng(seed)
        .integers(0, 2**64, size=2 * len(hashes), dtype=np.uint64)
        .tolist()
    )
    if config["mode"] == "envoy":
        need = [not (config["options"].get("use_hash_policy") and h is not None) for h in hashes]
        it = iter(draws)
        values = [next(it) if n else h for n, h in zip(need, hashes, strict=True)]
    for i, h in enumerate(hashes):
        lookup = int(batch.hash[i])
        if h is not None:
            assert lookup == h
        value = None if config["mode"] == "sticky" else values[i]
        route = r.route_hash(lookup, value)
        assert batch.names[batch.subset[i]] == route.subset
        assert (batch.host[i] == NO_HOST) == (route.host is None)
        if route.host is not None:
            assert r.hosts[batch.host[i]] == route.host
    pure = build(PY, config)
    assert pure.route_many(hashes, rng=np.random.default_rng(seed)) == batch
