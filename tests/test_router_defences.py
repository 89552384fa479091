"""Hash flooding and its two defences in the Router (issue 10 item 13), on both twins.

Tables hash request keys with unseeded xxh64, as Envoy does, so keys chosen
offline can all land on one host.  ``key_seed`` (sticky mode) seeds the key
hash itself; ``hash_balance_factor`` is Envoy's bounded load, which caps a
host's share of the requests in flight whatever the keys.
"""

from __future__ import annotations

import doctest
import math
import pickle
import random
import threading
from collections import Counter
from typing import Any

import numpy as np
import pytest
import xxhash

import hashlb.router
from hashlb import Host
from hashlb.errors import ConfigError
from hashlb.router import RouteLease, Router

from ._impl import Implementation

#: 8 "safe" pods and 2 "risky" ones behind a 90/10 split.
FLEET = (
    *(Host(f"10.3.0.{i}:8080", labels={"version": "safe"}) for i in range(8)),
    *(Host(f"10.3.1.{i}:8080", labels={"version": "risky"}) for i in range(2)),
)
SUBSETS = {"safe": {"version": "safe"}, "risky": {"version": "risky"}}
WEIGHTS = {"safe": 90, "risky": 10}
FLOOD = 500
#: Candidate keys searched for the flood (about 1 in 9 lands on a given safe pod).
CANDIDATES = 20_000
#: A false failure of a statistical assertion is at most this likely.
ALPHA = 1e-10


def make(impl: Implementation, mode: str = "sticky", seed: int = 0, **kw: Any) -> Router:
    """Return a router built from *impl*'s picker, Maglev and policy."""
    pol = impl.module("policy")
    kw.setdefault("policy", pol.HashPolicy(pol.Header("x-user")))
    return Router(
        FLEET,
        subsets=SUBSETS,
        weights=impl.module("subset").WeightedSubsetPicker(WEIGHTS, mode=mode, seed=seed),
        balancer=impl.module("maglev").Maglev,
        balancer_options={"table_size": 4099},
        mode=mode,
        seed=seed,
        **kw,
    )


def request(impl: Implementation, key: str) -> Any:
    return impl.module("policy").Request(headers={"x-user": key})


def flood_keys(router: Router) -> tuple[list[str], Host]:
    """Return FLOOD keys that the unseeded *router* sends to one host, and that host.

    A brute-force offline search, as an attacker would run it: hash candidate
    keys as the router does (Envoy's unseeded xxh64; in envoy mode Istio's
    folded copies) and keep those that land on the most popular host
    (bounded: CANDIDATES keys).  In envoy mode the subset is random per
    request, so the search targets a host of "safe" (weighted-cluster value 0).
    """
    keys = [f"user-{i}" for i in range(CANDIDATES)]
    hashes = np.array([xxhash.xxh64_intdigest(k.encode()) for k in keys], dtype=np.uint64)
    if router.mode == "envoy":  # two copies of the policy: rotl1(h) ^ h
        hashes = ((hashes << np.uint64(1)) | (hashes >> np.uint64(63))) ^ hashes
        host_idx = router.route_many(hashes, values=np.zeros(CANDIDATES, dtype=np.uint64)).host
    else:
        host_idx = router.route_many(hashes).host
    target, count = Counter(host_idx.tolist()).most_common(1)[0]
    assert count >= FLOOD, f"only {count} of {CANDIDATES} candidates land on one host"
    chosen = [k for k, i in zip(keys, host_idx.tolist(), strict=True) if i == target][:FLOOD]
    return chosen, router.hosts[target]


def binomial_upper(n: int, p: float, alpha: float) -> int:
    """Return the smallest k with P(Binomial(n, p) >= k) <= alpha (exact sum, log space)."""
    tail = 0.0
    for k in range(n, -1, -1):
        log_pk = (
            math.lgamma(n + 1)
            - math.lgamma(k + 1)
            - math.lgamma(n - k + 1)
            + k * math.log(p)
            + (n - k) * math.log1p(-p)
        )
        tail += math.exp(log_pk)
        if tail > alpha:
            return k + 1
    return 0  # pragma: no cover - alpha >= 1


def host_probabilities(router: Router) -> dict[Host, float]:
    """Return each host's probability for a uniformly random route hash (exact shares)."""
    total = sum(router.weights.values())
    prob: Counter[Host] = Counter()
    for name, table in router.tables.items():
        slots = Counter(table.table.tolist())
        for index, n in slots.items():
            prob[table.hosts[index]] += router.weights[name] / total * n / table.table_size
    return dict(prob)


# ---- the attack and the seed --------------------------------------------------------


def test_flood_lands_on_one_host_without_a_seed(impl: Implementation) -> None:
    """500 keys found offline put 100% of the requests on one host (the threat)."""
    router = make(impl)
    keys, target = flood_keys(router)
    hosts = Counter(router.route(request(impl, k)).host for k in keys)
    assert hosts == {target: FLOOD}


def test_key_seed_spreads_the_flood(impl: Implementation) -> None:
    """With a secret key seed the same keys spread as random keys would.

    The seed is drawn at random for each run; each host's count is below the
    binomial quantile of its exact share at ALPHA / hosts, so a false failure
    has probability <= 1e-10 (assuming xxh64 with an unknown seed behaves as
    a random function of these keys).
    """
    keys, target = flood_keys(make(impl))
    seed = random.SystemRandom().getrandbits(64)
    router = make(impl, key_seed=seed)
    counts = Counter(router.route(request(impl, k)).host for k in keys)
    prob = host_probabilities(router)
    assert abs(sum(prob.values()) - 1.0) < 1e-9
    for host in FLEET:
        bound = binomial_upper(FLOOD, prob[host], ALPHA / len(FLEET))
        assert counts[host] < bound, (seed, host, counts[host], bound)
    # e.g. the target pod: 1/9 of the keys expected; far from all 500
    assert counts[target] < FLOOD // 4, seed


def test_key_seed_hashes_the_key_bytes(impl: Implementation) -> None:
    """The route hash is xxh64(key, key_seed): the key bytes themselves are seeded."""
    seed = 0x0123456789ABCDEF
    router = make(impl, key_seed=seed)
    plain = make(impl)
    pol = impl.module("policy")
    assert router.key_seed == seed and plain.key_seed is None
    assert router.route_policy == pol.HashPolicy(pol.Header("x-user"), seed=seed)
    assert router.policy == pol.HashPolicy(pol.Header("x-user"))
    for k in ("alice", "bob", ""):
        r = router.route(request(impl, k))
        assert r.hash == xxhash.xxh64_intdigest(k.encode(), seed)
        # the subset and host are the same functions of the (seeded) hash
        assert r == plain.route_hash(r.hash)


def test_key_seed_survives_with_weights_with_hosts_and_pickling(impl: Implementation) -> None:
    """with_weights / with_hosts keep key_seed and the bounded-load factor; so does pickle."""
    seed = 987654321
    router = make(impl, key_seed=seed, hash_balance_factor=125)
    for other in (router.with_weights({"safe": 50, "risky": 50}), router.with_hosts(FLEET[:-1])):
        assert other.key_seed == seed and other.hash_balance_factor == 125
        assert other.route_policy == router.route_policy
        r = other.route(request(impl, "alice"))
        assert r.hash == xxhash.xxh64_intdigest(b"alice", seed)
    # pickling: the configuration, the policy and the rng's state travel
    bare = make(impl, key_seed=seed, hash_balance_factor=125, seed=11)
    copy = pickle.loads(pickle.dumps(bare))
    assert copy.route_policy == bare.route_policy
    assert copy.route(request(impl, "alice")).hash == bare.route(request(impl, "alice")).hash
    assert (copy.key_seed, copy.hash_balance_factor, copy.seed) == (seed, 125, 11)
    assert dict(copy.weights) == WEIGHTS and copy.mode == "sticky"
    assert type(copy.picker) is type(bare.picker)
    assert [copy.route_hash(None) for _ in range(20)] == [bare.route_hash(None) for _ in range(20)]
    assert [copy.route_hash(h) for h in (0, 1, 2**64 - 1)] == [
        bare.route_hash(h) for h in (0, 1, 2**64 - 1)
    ]
    assert "987654321" not in repr(router) and "key_seed=<hidden>" in repr(router)


@pytest.mark.parametrize(
    ("kwargs", "error", "match"),
    [
        ({"mode": "envoy", "key_seed": 1}, ConfigError, "key_seed applies to mode='sticky'"),
        ({"mode": "envoy", "key_seed": 0}, ConfigError, "key_seed applies to mode='sticky'"),
        ({"key_seed": -1}, ConfigError, r"seed must be in \[0, 2\*\*64\)"),
        ({"key_seed": 2**64}, ConfigError, r"seed must be in \[0, 2\*\*64\)"),
        ({"key_seed": "1"}, TypeError, "seed must be an int, not str"),
        ({"key_seed": True}, TypeError, "seed must be an int, not bool"),
        ({"hash_balance_factor": 99}, ConfigError, r"hash_balance_factor must be in \[100"),
        ({"hash_balance_factor": 2**32}, ConfigError, r"hash_balance_factor must be in \[100"),
        ({"hash_balance_factor": 1.5}, TypeError, "hash_balance_factor must be an int"),
        ({"hash_balance_factor": True}, TypeError, "hash_balance_factor must be an int"),
    ],
)
def test_bad_defence_options(
    impl: Implementation, kwargs: dict[str, Any], error: type, match: str
) -> None:
    """Bad key_seed / hash_balance_factor values raise a clear error naming the field."""
    with pytest.raises(error, match=match):
        make(impl, **kwargs)


def test_a_policy_with_its_own_seed_is_refused(impl: Implementation) -> None:
    """The seed has one home, the router: a seeded policy is a ConfigError (both modes)."""
    pol = impl.module("policy")
    seeded = pol.HashPolicy(pol.Header("x-user"), seed=5)
    for mode in ("sticky", "envoy"):
        with pytest.raises(ConfigError, match="policy has its own seed"):
            make(impl, mode=mode, policy=seeded)


# ---- bounded load ------------------------------------------------------------------


def slots_bound(in_flight_before: int, factor: int, weight: float) -> int:
    """Envoy's cap: a host may take a request while active <= slots, so it holds <= slots + 1."""
    total_slots = ((in_flight_before + 1) * factor + 99) // 100
    return max(math.ceil(total_slots * weight), 1) + 1


@pytest.mark.parametrize("mode", ["sticky", "envoy"])
def test_bounded_load_caps_the_flood(impl: Implementation, mode: str) -> None:
    """hash_balance_factor=150 with the flood held in flight: no host exceeds its cap.

    Each acquire picks Envoy's bounded-load host for the counts before it
    (the subset's BoundedLoad.lookup) and counts it; every host stays within
    ceil(total_slots * w) + 1.
    """
    plain = make(impl, mode=mode)
    keys, target = flood_keys(plain)
    router = make(impl, mode=mode, hash_balance_factor=150)
    assert router.route_policy == plain.route_policy  # no seed: the attack's hashes hold
    unbounded = Counter(plain.route(request(impl, k)).host for k in keys)
    assert unbounded[target] >= FLOOD * 8 // 10  # envoy mode: the 90% that go to "safe"
    leases = []
    for k in keys:
        before = {n: bl.active for n, bl in router.bounded_loads.items()}
        lease = router.acquire(request(impl, k))
        route = lease.route
        bl = router.bounded_loads[route.subset]
        assert route.host is bl.lookup(route.lookup_hash, before[route.subset])
        if mode == "sticky":  # the subset does not depend on load
            assert route.subset == plain.route(request(impl, k)).subset
        i = bl.lb.hosts.index(route.host)
        weight = dict(zip(bl.lb.normalized_order, bl.lb.normalized_weights, strict=True))[i]
        assert bl.active[i] <= slots_bound(sum(before[route.subset]), 150, weight)
        leases.append(lease)
    held = Counter(lease.host for lease in leases)
    assert sum(held.values()) == FLOOD
    in_safe = sum(1 for lease in leases if lease.route.subset == "safe")
    assert held[target] <= slots_bound(in_safe - 1, 150, 1 / 8)  # 95 of 500 at most
    assert held[target] < FLOOD // 4
    for lease in leases:
        lease.release()
    assert all(not any(bl.active) for bl in router.bounded_loads.values())


def test_acquire_is_route_plus_count(impl: Implementation) -> None:
    """route() peeks at bounded load's choice without counting; acquire() counts it."""
    router = make(impl, hash_balance_factor=100)
    req = request(impl, "alice")
    first = router.route(req)
    lease = router.acquire(req)
    assert isinstance(lease, RouteLease) and lease.held
    assert lease.route == first and lease.host is first.host
    bl = router.bounded_loads[first.subset]
    assert sum(bl.active) == 1
    assert router.route(req) == router.route(req)  # a peek changes nothing
    assert sum(bl.active) == 1
    with router.acquire(req) as route:
        assert route.subset == first.subset and sum(bl.active) == 2
    assert sum(bl.active) == 1
    lease.release()
    lease.release()  # idempotent
    assert not lease.held and sum(bl.active) == 0
    assert repr(lease).endswith("released>")


def test_acquire_without_a_factor_counts_nothing(impl: Implementation) -> None:
    """Without hash_balance_factor, acquire routes like route() and counts nothing."""
    router = make(impl)
    assert router.hash_balance_factor is None and dict(router.bounded_loads) == {}
    req = request(impl, "bob")
    with router.acquire(req) as route:
        assert route == router.route(req)
    lease = router.acquire_hash(12345)
    assert lease.route == router.route_hash(12345) and not lease.held
    lease.release()


def test_in_flight_counts_carry_over(impl: Implementation) -> None:
    """with_weights shares every BoundedLoad; with_hosts keeps those of unchanged subsets."""
    router = make(impl, hash_balance_factor=150)
    leases = [router.acquire(request(impl, f"u{i}")) for i in range(50)]
    ramped = router.with_weights({"safe": 50, "risky": 50})
    for name, bl in router.bounded_loads.items():
        assert ramped.bounded_loads[name] is bl
    extra = Host("10.3.1.9:8080", labels={"version": "risky"})
    grown = router.with_hosts([*FLEET, extra])
    assert grown.bounded_loads["safe"] is router.bounded_loads["safe"]
    assert grown.bounded_loads["risky"] is not router.bounded_loads["risky"]
    assert sum(grown.bounded_loads["risky"].active) == 0  # a rebuilt subset starts at zero
    held = sum(sum(bl.active) for bl in router.bounded_loads.values())
    assert held == 50
    for lease in leases:  # old leases release into the old (shared) counts
        lease.release()
    assert sum(sum(bl.active) for bl in ramped.bounded_loads.values()) == 0


def test_route_many_respects_the_counts_in_flight(impl: Implementation) -> None:
    """route_many with bounded load equals route_hash for each key, with and without load."""
    router = make(impl, hash_balance_factor=100)
    hashes = np.random.default_rng(3).integers(0, 2**64, size=300, dtype=np.uint64)

    def check() -> int:
        """Compare route_many with route_hash; return how many hosts bounded load moved."""
        moved = 0
        batch = router.route_many(hashes)
        subset_idx, host_idx = batch.subset, batch.host
        for h, s, i in zip(hashes.tolist(), subset_idx.tolist(), host_idx.tolist(), strict=True):
            route = router.route_hash(h)
            assert router.picker.names[s] == route.subset
            assert router.hosts[i] == route.host
            moved += route.host != router.tables[route.subset].lookup(h)
        return moved

    assert check() == 0  # nothing in flight: the tables' choices
    leases = [router.acquire_hash(h) for h in hashes[:120].tolist()]
    assert check() > 0  # with 120 in flight at factor 100, some hosts are full
    for lease in leases:
        lease.release()


def test_acquire_is_thread_safe(impl: Implementation) -> None:
    """Threads acquiring and releasing through one router leave every count at zero."""
    router = make(impl, hash_balance_factor=150)
    errors: list[BaseException] = []

    def worker(seed: int) -> None:
        try:
            rnd = random.Random(seed)
            held: list[RouteLease] = []
            for _ in range(300):
                held.append(router.acquire_hash(rnd.getrandbits(64)))
                if len(held) > 5:
                    held.pop(rnd.randrange(len(held))).release()
            for lease in held:
                lease.release()
                lease.release()
        except BaseException as e:  # pragma: no cover - reported below
            errors.append(e)

    threads = [threading.Thread(target=worker, args=(s,)) for s in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    assert not errors and not any(t.is_alive() for t in threads)
    assert all(not any(bl.active) for bl in router.bounded_loads.values())


def test_router_docstring_examples() -> None:
    """The examples in hashlb.router's docstrings run and match (Router, RouteLease)."""
    result = doctest.testmod(hashlb.router, optionflags=doctest.ELLIPSIS, verbose=False)
    assert result.failed == 0 and result.attempted > 0


def test_key_seed_needs_a_policy_that_takes_a_seed(impl: Implementation) -> None:
    """A policy-like object whose class cannot be seeded is a clear TypeError."""

    class Plain:
        policies = ()

        def __init__(self, *methods: Any) -> None:
            pass

        def hash(self, request: Any) -> int:
            return 1

    with pytest.raises(TypeError, match="key_seed needs a HashPolicy"):
        make(impl, policy=Plain(), key_seed=5)


def test_key_seed_also_protects_the_subset_choice(impl: Implementation) -> None:
    """Sticky mode picks the subset from the key hash too: without a seed, 500 keys can all
    pick the 10% subset (bounded load, which works inside a subset, cannot move them out);
    with a random seed that subset gets its binomial share (false failure <= 1e-10)."""
    plain = make(impl)
    keys = [f"user-{i}" for i in range(CANDIDATES)]
    hashes = np.array([xxhash.xxh64_intdigest(k.encode()) for k in keys], dtype=np.uint64)
    subset_idx = plain.route_many(hashes).subset
    risky = plain.picker.names.index("risky")
    flood = [k for k, s in zip(keys, subset_idx.tolist(), strict=True) if s == risky][:FLOOD]
    assert len(flood) == FLOOD
    bounded = make(impl, hash_balance_factor=150)
    leases = [bounded.acquire(request(impl, k)) for k in flood]
    assert all(lease.route.subset == "risky" for lease in leases)
    for lease in leases:
        lease.release()
    seed = random.SystemRandom().getrandbits(64)
    seeded = make(impl, key_seed=seed)
    n_risky = sum(seeded.route(request(impl, k)).subset == "risky" for k in flood)
    assert n_risky < binomial_upper(FLOOD, WEIGHTS["risky"] / 100, ALPHA), (seed, n_risky)
