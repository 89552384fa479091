"""Router: subsets by labels, Envoy-exact and sticky routing, affinity, bad input, on both twins.

Each test builds its router from one twin's engines (picker, Maglev or ring,
hash policy), so the compiled and the pure hot paths are both exercised.
"""

from __future__ import annotations

import math
import pickle
import random
from typing import Any

import numpy as np
import pytest

from hashlb import Host
from hashlb.errors import ConfigError
from hashlb.router import Router, istio_route_hash

from ._impl import Implementation
from ._vectors import envoy_vectors

M64 = 2**64 - 1

#: The seed notes' staff-service: two "safe" pods and one "risky" pod.
STAFF = (
    Host("172.17.0.18:8080", labels={"app": "staff-service", "version": "safe"}),
    Host("172.17.0.6:8080", labels={"app": "staff-service", "version": "safe"}),
    Host("172.17.0.12:8080", labels={"app": "staff-service", "version": "risky"}),
)
SUBSETS = {"safe": {"version": "safe"}, "risky": {"version": "risky"}}
#: A bigger fleet: 8 safe pods, 2 risky, 1 unlabelled.
FLEET = (
    *(Host(f"10.1.0.{i}:8080", labels={"app": "s", "version": "safe"}) for i in range(8)),
    *(Host(f"10.1.1.{i}:8080", labels={"app": "s", "version": "risky"}) for i in range(2)),
    Host("10.1.2.1:8080", labels={"app": "other"}),
)


def rotl1(x: int) -> int:
    """Rotate a 64-bit value left by one bit."""
    return ((x << 1) | (x >> 63)) & M64


def pol(impl: Implementation) -> Any:
    """Return this twin's hash-policy module."""
    return impl.module("policy")


def make(
    impl: Implementation,
    hosts: Any = FLEET,
    *,
    weights: dict[str, int] | None = None,
    subsets: dict[str, dict[str, str]] | None = None,
    mode: str = "sticky",
    seed: int = 0,
    balancer: str = "maglev",
    policy: Any = "x-user",
    **kw: Any,
) -> Router:
    """Return a Router built from *impl*'s picker, table class and policy."""
    picker = impl.module("subset").WeightedSubsetPicker(
        weights or {"safe": 90, "risky": 10}, mode=mode, seed=seed
    )
    table = {"maglev": impl.module("maglev").Maglev, "ring_hash": impl.module("ring").RingHash}
    if balancer == "maglev":  # a smaller prime table keeps the pure twin's builds quick
        kw.setdefault("balancer_options", {"table_size": 4099})
    if policy == "x-user":
        policy = pol(impl).HashPolicy(pol(impl).Header("x-user"))
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


def user(impl: Implementation, name: str, **headers: str) -> Any:
    """Return a request from user *name* (header x-user)."""
    return pol(impl).Request(headers={"x-user": name, **headers})


USERS = [f"user-{i}" for i in range(400)]


@pytest.mark.parametrize("mode", ["sticky", "envoy"])
@pytest.mark.parametrize("balancer", ["maglev", "ring_hash"])
def test_host_is_the_subset_tables_choice(impl: Implementation, mode: str, balancer: str) -> None:
    """The host is the chosen subset's table lookup of the route hash, and carries its labels."""
    r = make(impl, mode=mode, balancer=balancer)
    for name in USERS:
        route = r.route(user(impl, name))
        assert route.host == r.tables[route.subset].lookup(route.lookup_hash)
        assert route.host.labels["version"] == route.subset
        assert route.lookup_hash == route.hash


def test_subsets_are_label_selections(impl: Implementation) -> None:
    """A subset is every host whose labels contain the selector; tables hold exactly them."""
    r = make(impl, subsets={"safe": {"version": "safe"}, "risky": {"version": "risky", "app": "s"}})
    assert r.members["safe"] == FLEET[:8]
    assert r.members["risky"] == FLEET[8:10]
    assert r.tables["risky"].hosts == FLEET[8:10]
    everything = make(impl, subsets={"all": {}}, weights={"all": 1})
    assert everything.members["all"] == FLEET


def test_sticky_subset_is_the_picker_of_the_policy_hash(impl: Implementation) -> None:
    """Sticky mode: route.hash is the plain policy hash and picks the subset."""
    r = make(impl, weights={"safe": 50, "risky": 50})
    policy = pol(impl).HashPolicy(pol(impl).Header("x-user"))
    for name in USERS[:100]:
        route = r.route(user(impl, name))
        h = policy.hash(user(impl, name))
        assert route.hash == h
        assert route.subset == r.picker.choose(h)
        assert route == r.route_hash(h)


@pytest.mark.parametrize(
    ("weights", "copies"),
    [
        ({"safe": 90, "risky": 10}, 2),
        ({"safe": 100, "risky": 0}, 1),
        ({"safe": 50, "risky": 30, "canary": 20}, 3),
        ({"safe": 50, "risky": 0, "canary": 20}, 2),
    ],
)
def test_envoy_route_hash_follows_istio(
    impl: Implementation, weights: dict[str, int], copies: int
) -> None:
    """Envoy mode folds one policy copy per non-zero destination: 2 -> rotl1(h) ^ h."""
    subsets = {**SUBSETS, "canary": {"app": "s"}}
    r = make(impl, weights=weights, subsets={k: subsets[k] for k in weights}, mode="envoy")
    assert r.policy_copies == copies
    with pytest.warns(DeprecationWarning, match="policy_copies"):
        assert r.istio_copies == copies
    policy = pol(impl).HashPolicy(pol(impl).Header("x-user"))
    for name in USERS[:50]:
        h = policy.hash(user(impl, name))
        route = r.route(user(impl, name))
        assert route.hash == istio_route_hash(h, copies)
        if copies == 2:
            assert route.hash == rotl1(h) ^ h
        assert route.hash == r.route_policy.hash(user(impl, name))


def test_envoy_route_hash_with_a_two_method_policy(impl: Implementation) -> None:
    """With a multi-method policy, the route hash is the policy list repeated (Envoy's chain)."""
    p = pol(impl)
    policy = p.HashPolicy(p.Header("x-user"), p.QueryParameter("id"))
    r = make(impl, mode="envoy", policy=policy)
    req = p.Request(headers={"x-user": "ann"}, path="/x?id=7")
    ha, hb = p.Header("x-user").hash(req), p.QueryParameter("id").hash(req)
    one = rotl1(ha) ^ hb
    assert r.route(req).hash == rotl1(rotl1(one) ^ ha) ^ hb
    assert p.HashPolicy(p.Header("x-user"), p.QueryParameter("id"), *policy.policies).hash(req) == (
        r.route(req).hash
    )


def test_istio_route_hash() -> None:
    """istio_route_hash folds h with itself: 1 copy -> h, 2 -> rotl1(h) ^ h, 3 -> once more."""
    h = 0x8000000000000001
    assert istio_route_hash(h, 1) == h
    assert istio_route_hash(h, 2) == rotl1(h) ^ h
    assert istio_route_hash(h, 3) == rotl1(rotl1(h) ^ h) ^ h


def test_envoy_weighted_cluster_vectors_through_the_router(impl: Implementation) -> None:
    """route_hash(h, value) picks Envoy's weighted cluster for the spec's vectors."""
    for case in envoy_vectors()["weighted_clusters"]:
        weights = {c["name"]: c["weight"] for c in case["clusters"]}
        hosts = [Host(f"10.9.0.{i}:80", labels={"c": n}) for i, n in enumerate(weights)]
        r = make(impl, hosts, weights=weights, subsets={n: {"c": n} for n in weights}, mode="envoy")
        for lookup in case["lookups"]:
            assert r.route_hash(12345, lookup["random_value"]).subset == lookup["expected"]


def test_envoy_random_values_are_reproducible(impl: Implementation) -> None:
    """Envoy mode draws values from random.Random(seed), or from an injected rng."""
    a = [make(impl, mode="envoy", seed=7).route(user(impl, "bob")).subset for _ in range(1)]
    r1, r2 = make(impl, mode="envoy", seed=7), make(impl, mode="envoy", seed=7)
    s1 = [r1.route(user(impl, "bob")).subset for _ in range(200)]
    s2 = [r2.route(user(impl, "bob")).subset for _ in range(200)]
    assert s1 == s2 and a[0] == s1[0]
    assert set(s1) == {"safe", "risky"}
    rng, ref = random.Random(99), random.Random(99)
    expected = r1.picker.choose_many([ref.getrandbits(64) for _ in range(50)])
    r3 = make(impl, mode="envoy", rng=rng)
    assert r3.rng is rng
    got = [r3.picker.names.index(r3.route(user(impl, "bob")).subset) for _ in range(50)]
    assert got == list(expected)


def test_envoy_header_name(impl: Implementation) -> None:
    """header_name: one decimal uint64 value picks the cluster; anything else is random."""
    r = make(impl, mode="envoy", header_name="x-split")
    assert r.route(user(impl, "a", **{"x-split": "95"})).subset == "risky"
    assert r.route(user(impl, "a", **{"x-split": " +89 "})).subset == "safe"
    assert r.route(user(impl, "a", **{"x-split": str(M64)})).subset == r.picker.choose(M64)
    twin = make(impl, mode="envoy", seed=3, header_name="x-split")
    plain = make(impl, mode="envoy", seed=3)
    for bad in ("x", "-1", str(2**64), "1.5", ""):
        assert twin.route(user(impl, "a", **{"x-split": bad})) == plain.route(user(impl, "a"))
    two = pol(impl).Request(headers=[("x-user", "a"), ("x-split", "1"), ("x-split", "2")])
    assert twin.route(two) == plain.route(user(impl, "a"))


def test_envoy_use_hash_policy(impl: Implementation) -> None:
    """use_hash_policy: the route hash picks the cluster too (Envoy 1.36+)."""
    r = make(impl, mode="envoy", use_hash_policy=True)
    for name in USERS[:100]:
        route = r.route(user(impl, name))
        assert route.subset == r.picker.choose(route.hash)
    # No hash: the random stream id picks the cluster, then a random hash the host.
    none = make(impl, mode="envoy", use_hash_policy=True, seed=4)
    rng = random.Random(4)
    value, h = rng.getrandbits(64), rng.getrandbits(64)
    route = none.route(pol(impl).Request())
    assert (route.hash, route.lookup_hash, route.subset) == (None, h, none.picker.choose(value))


def test_envoy_use_hash_policy_does_not_generate_cookies(impl: Implementation) -> None:
    """The cluster value is evaluated without a cookie generator; the host hash with one."""
    p = pol(impl)
    policy = p.HashPolicy(p.Cookie("session", ttl=60))
    r = make(impl, mode="envoy", use_hash_policy=True, policy=policy, seed=5)
    fresh = p.Request(remote_address="10.0.0.1:1234", local_address="10.0.0.2:8080")
    route = r.route(fresh)
    assert route.set_cookie is not None and route.hash is not None
    assert route.subset == r.picker.choose(random.Random(5).getrandbits(64))
    back = p.Request(headers={"cookie": route.set_cookie.split(";")[0]})
    again = r.route(back)
    assert again.hash == route.hash and again.set_cookie is None
    assert again.subset == r.picker.choose(again.hash)


def test_no_hash_means_a_random_hash(impl: Implementation) -> None:
    """When the policy yields nothing, the host (and sticky subset) come from rng.getrandbits(64)."""
    r = make(impl, seed=11)
    rng = random.Random(11)
    for _ in range(20):
        route = r.route(pol(impl).Request())
        h = rng.getrandbits(64)
        assert (route.hash, route.lookup_hash) == (None, h)
        assert route.subset == r.picker.choose(h)
        assert route.host == r.tables[route.subset].lookup(h)
    nopolicy = make(impl, policy=None, seed=11)
    assert nopolicy.route(user(impl, "x")).lookup_hash == random.Random(11).getrandbits(64)


def test_generated_cookie_is_returned(impl: Implementation) -> None:
    """A Cookie policy with a ttl returns its Set-Cookie, and the returning cookie keeps the route."""
    p = pol(impl)
    r = make(impl, policy=p.HashPolicy(p.Cookie("session", ttl=3600, path="/")))
    first = r.route(p.Request(remote_address="10.0.0.9:4444", local_address="10.0.0.2:8080"))
    assert first.set_cookie is not None and first.set_cookie.startswith('session="')
    back = r.route(p.Request(headers={"cookie": first.set_cookie.split(";")[0]}))
    assert (back.subset, back.host, back.set_cookie) == (first.subset, first.host, None)


def test_full_affinity_across_rebuilds(impl: Implementation) -> None:
    """Two routers built alike route every key to the same subset and host."""
    a, b = make(impl, balancer="ring_hash"), make(impl, balancer="ring_hash")
    keys = np.random.default_rng(1).integers(0, 2**64, size=50_000, dtype=np.uint64)
    assert a.route_many(keys) == b.route_many(keys)
    assert a.route(user(impl, "z")) == b.route(user(impl, "z"))


@pytest.mark.parametrize("balancer", ["maglev", "ring_hash"])
def test_ramp_keeps_the_host_unless_the_subset_changed(impl: Implementation, balancer: str) -> None:
    """Across 1->5->10->25->50->100%, a key keeps its host unless it moved into the canary."""
    keys = np.random.default_rng(2).integers(0, 2**64, size=100_000, dtype=np.uint64)
    r = make(impl, weights={"safe": 99, "risky": 1}, balancer=balancer)
    batch = r.route_many(keys)
    subset, host = batch.subset, batch.host
    for pct in (5, 10, 25, 50, 100):
        r = r.with_weights({"safe": 100 - pct, "risky": pct})
        batch = r.route_many(keys)
        s2, h2 = batch.subset, batch.host
        same = s2 == subset
        assert (h2[same] == host[same]).all()
        assert ((subset[~same] == 0) & (s2[~same] == 1)).all()
        subset, host = s2, h2
    assert (subset == 1).all()


def test_with_weights_reuses_the_tables(impl: Implementation) -> None:
    """with_weights returns a new router sharing every table object and the rng."""
    a = make(impl, weights={"safe": 99, "risky": 1})
    b = a.with_weights({"safe": 50, "risky": 50})
    assert b is not a and dict(a.weights) == {"safe": 99, "risky": 1}
    assert dict(b.weights) == {"safe": 50, "risky": 50}
    for name in ("safe", "risky"):
        assert b.tables[name] is a.tables[name]
    assert b.rng is a.rng and b.picker.seed == a.picker.seed
    assert type(b.picker) is type(a.picker)
    with pytest.raises(ConfigError, match="not in subsets"):
        a.with_weights({"safe": 1, "nope": 1})
    with pytest.raises(ConfigError, match="has no weight"):
        a.with_weights({"safe": 1})


def test_with_hosts_reuses_unchanged_tables(impl: Implementation) -> None:
    """with_hosts rebuilds only the subsets whose hosts changed."""
    a = make(impl)
    extra = Host("10.1.1.9:8080", labels={"app": "s", "version": "risky"})
    b = a.with_hosts([*FLEET, extra])
    assert b.tables["safe"] is a.tables["safe"]
    assert b.tables["risky"] is not a.tables["risky"]
    assert extra in b.tables["risky"].hosts and extra not in a.tables["risky"].hosts
    assert b.hosts[-1] == extra and b.route_many([123]).host[0] == b.hosts.index(
        b.route_hash(123).host
    )


def test_allow_empty_skips_a_subset(impl: Implementation) -> None:
    """allow_empty: a selector matching no host gets weight 0 (health-aware weights)."""
    subsets = {**SUBSETS, "ghost": {"version": "ghost"}}
    weights = {"safe": 50, "ghost": 30, "risky": 20}
    with pytest.raises(ConfigError, match=r"subsets\['ghost'\].*matches no host"):
        make(impl, weights=weights, subsets=subsets)
    r = make(impl, weights=weights, subsets=subsets, allow_empty=True, mode="envoy")
    assert r.empty_subsets == ("ghost",) and "ghost" not in r.tables
    assert dict(r.weights) == weights and dict(r.picker.weights)["ghost"] == 0
    # Envoy drops the empty cluster from the total: 60 % 70 lands in "risky".
    assert r.route_hash(1, 60).subset == "risky"
    assert r.policy_copies == 3  # Istio still emitted a hash policy for it
    s = make(impl, weights=weights, subsets=subsets, allow_empty=True)
    assert "ghost" not in {s.route(user(impl, n)).subset for n in USERS}
    with pytest.raises(ConfigError, match="no subset with a non-zero weight has hosts"):
        make(impl, weights={"safe": 0, "ghost": 1, "risky": 0}, subsets=subsets, allow_empty=True)


def test_route_many_equals_route_hash(impl: Implementation) -> None:
    """route_many gives, per hash, route_hash's subset and the host's index in hosts."""
    keys = np.random.default_rng(3).integers(0, 2**64, size=3000, dtype=np.uint64)
    for mode in ("sticky", "envoy"):
        r = make(impl, mode=mode, balancer="ring_hash")
        values = None if mode == "sticky" else keys[::-1].copy()
        batch = r.route_many(keys, values=values)
        s, h = batch.subset, batch.host
        assert s.dtype == np.uint32 and h.dtype == np.uint32
        for k in range(0, len(keys), 7):
            v = None if values is None else int(values[k])
            route = r.route_hash(int(keys[k]), v)
            assert r.picker.names[s[k]] == route.subset
            assert r.hosts[h[k]] == route.host
        again = r.route_many(keys.tolist(), values=None if values is None else values.tolist())
        assert again == batch
    with pytest.raises(ConfigError, match="envoy"):
        make(impl).route_many(keys, values=keys)
    with pytest.raises(ValueError, match="values has"):
        make(impl, mode="envoy").route_many(keys, values=keys[:5])


def test_route_values(impl: Implementation) -> None:
    """Routes compare by value, unpack, pickle and print."""
    r = make(impl)
    a, b = r.route_hash(42), r.route_hash(42)
    assert a == b and hash(a) == hash(b) and a != r.route_hash(43)
    subset, host, h, cookie, lookup = a
    assert (subset, host, h, cookie, lookup) == (a.subset, a.host, 42, None, 42)
    assert pickle.loads(pickle.dumps(a)) == a
    assert repr(a).startswith("Route(subset=")


def test_router_is_immutable(impl: Implementation) -> None:
    """Attributes cannot be set; properties describe the configuration."""
    r = make(impl, mode="envoy", seed=5)
    with pytest.raises(AttributeError):
        r.mode = "sticky"  # type: ignore[misc]
    assert (r.mode, r.seed, r.hosts) == ("envoy", 5, FLEET)
    assert dict(r.subsets) == SUBSETS and r.policy is not None
    assert "Router(11 hosts" in repr(r)


@pytest.mark.parametrize(
    ("kwargs", "error", "match"),
    [
        ({"subsets": {}}, ConfigError, "subsets must name at least one subset"),
        ({"weights": {"safe": 0, "risky": 0}}, ConfigError, "must not all be 0"),
        ({"weights": {"safe": -1, "risky": 1}}, ConfigError, r"weights\['safe'\]"),
        ({"weights": {"safe": 2**32 - 1, "risky": 1}}, ConfigError, "sum of weights"),
        ({"weights": {"safe": 1, "risky": 1, "x": 1}}, ConfigError, "'x', which is not in subsets"),
        ({"weights": {"safe": 1}}, ConfigError, r"subsets\['risky'\] has no weight"),
        (
            {
                "subsets": {**SUBSETS, "v3": {"version": "v3"}},
                "weights": {"safe": 1, "risky": 1, "v3": 1},
            },
            ConfigError,
            r"subsets\['v3'\] selector \{'version': 'v3'\} matches no host",
        ),
        ({"mode": "random"}, ConfigError, "mode must be"),
        ({"balancer": "least_request"}, ConfigError, "balancer must be"),
        ({"balancer": 3}, TypeError, "balancer must be"),
        ({"balancer_options": {"table_size": 4}}, ValueError, "table_size"),
        ({"balancer_options": [1]}, TypeError, "balancer_options must be a mapping"),
        ({"header_name": "x-split"}, ConfigError, "mode='envoy' only"),
        ({"use_hash_policy": True}, ConfigError, "mode='envoy' only"),
        ({"mode": "envoy", "header_name": "x", "use_hash_policy": True}, ConfigError, "exclusive"),
        ({"mode": "envoy", "header_name": ""}, ConfigError, "header_name"),
        ({"subsets": {"safe": {"version": 1}}}, TypeError, r"subsets\['safe'\]"),
        ({"subsets": [("safe", {})]}, TypeError, "subsets must be a mapping"),
        ({"hosts": ["10.0.0.1:80"]}, TypeError, r"hosts\[0\] must be a Host"),
        ({"hosts": "10.0.0.1:80"}, TypeError, "hosts must be an iterable"),
        ({"policy": "x-user-header"}, TypeError, "policy must be a HashPolicy"),
        ({"rng": 3}, TypeError, "rng must be a random.Random"),
        ({"allow_empty": 1}, TypeError, "allow_empty must be a bool"),
    ],
)
def test_bad_configuration(
    impl: Implementation,
    kwargs: dict[str, Any],
    error: type,
    match: str,
) -> None:
    """Each bad configuration raises at construction, naming the field."""
    p = pol(impl)
    args: dict[str, Any] = {
        "subsets": SUBSETS,
        "weights": {"safe": 90, "risky": 10},
        "policy": p.HashPolicy(p.Header("x-user")),
        "balancer": "maglev",
    }
    args.update(kwargs)
    hosts = args.pop("hosts", FLEET)
    with pytest.raises(error, match=match):
        Router(hosts, **args)


def test_picker_must_match_mode_and_seed(impl: Implementation) -> None:
    """A prebuilt picker whose mode or seed differs from the router's is rejected."""
    picker = impl.module("subset").WeightedSubsetPicker({"safe": 1, "risky": 1}, mode="envoy")
    p = pol(impl)
    with pytest.raises(ConfigError, match="mode='envoy'"):
        Router(FLEET, subsets=SUBSETS, weights=picker, policy=p.HashPolicy(p.Header("x")))


def test_bad_route_hash_arguments(impl: Implementation) -> None:
    """route_hash rejects hashes and values outside [0, 2**64) or of the wrong type."""
    r = make(impl, mode="envoy")
    with pytest.raises(ValueError, match="hash"):
        r.route_hash(-1)
    with pytest.raises(TypeError, match="hash"):
        r.route_hash("1")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="value"):
        r.route_hash(1, 2**64)
    with pytest.raises(TypeError):
        r.route(object())


# ---- the seed notes' observation: Envoy bounces pinned users between subsets ----

P_BOUNCE = 1 - 0.9**20 - 0.1**20


def test_envoy_bounces_a_pinned_user_between_subsets(impl: Implementation) -> None:
    """90/10 in envoy mode: a user's 20 requests see both subsets w.p. 1 - 0.9**20 - 0.1**20."""
    r = make(impl, STAFF, weights={"safe": 90, "risky": 10}, mode="envoy", seed=2024)
    users = 2000
    bounced = 0
    hosts_seen = set()
    for i in range(users):
        req = user(impl, f"u{i}")
        routes = [r.route(req) for _ in range(20)]
        bounced += len({x.subset for x in routes}) > 1
        # The host inside a subset is still pinned by the header hash.
        by_subset = {x.subset: x.host for x in routes}
        hosts_seen.update(by_subset.values())
        assert all(x.host == by_subset[x.subset] for x in routes)
    sigma = math.sqrt(users * P_BOUNCE * (1 - P_BOUNCE))
    assert abs(bounced - users * P_BOUNCE) <= 4 * sigma, (bounced, users * P_BOUNCE)
    assert hosts_seen == set(STAFF)


def test_sticky_never_bounces_a_pinned_user(impl: Implementation) -> None:
    """90/10 in sticky mode: every user's 20 requests go to one subset and one host."""
    r = make(impl, STAFF, weights={"safe": 90, "risky": 10}, seed=2024)
    counts = {"safe": 0, "risky": 0}
    for i in range(2000):
        req = user(impl, f"u{i}")
        routes = {(x.subset, x.host) for x in (r.route(req) for _ in range(20))}
        assert len(routes) == 1
        counts[next(iter(routes))[0]] += 1
    assert abs(counts["risky"] - 200) <= 4 * math.sqrt(2000 * 0.1 * 0.9)


def test_router_docstring_examples() -> None:
    """The ``>>>`` examples of hashlb.router run and match (router.py is not a twin module)."""
    import doctest

    import hashlb.router

    result = doctest.testmod(hashlb.router, optionflags=doctest.ELLIPSIS)
    assert result.failed == 0 and result.attempted > 0


def test_route_core_reads_wide_and_narrow_maglev_tables(impl: Implementation) -> None:
    """The route core indexes uint16 and uint32 Maglev tables like ``hosts[table[h % M]]``."""
    from array import array

    mod = impl.module("router")
    picker = impl.module("subset").WeightedSubsetPicker({"only": 1})
    hosts = tuple(Host(f"10.3.0.{i}:80") for i in range(5))
    slots = [3, 0, 4, 1, 2, 2, 0]
    for code in ("H", "I"):
        table = memoryview(array(code, slots)).toreadonly()
        core = mod._RouteCore(
            None,
            False,
            picker,
            ((None, table, 7, hosts),),
            random.Random(1).getrandbits,
            True,
            None,
        )
        for h in (0, 1, 6, 7, 13, M64, 2**63):
            route = core.route_hash(h)
            assert route.host == hosts[slots[h % 7]] and route.subset == "only"
    if not impl.is_pure_python:
        with pytest.raises(ValueError, match="Maglev table"):
            mod._RouteCore(
                None, False, picker, ((None, memoryview(b"ab"), 2, hosts),), None, True, None
            )


def test_the_route_core_is_the_picker_twins_router_unit(impl: Implementation) -> None:
    """A router runs on the router unit of its picker's twin (``_router_c`` or ``_router_py``),
    and its routes are that twin's Route."""
    hosts = [Host("10.4.0.1:80", labels={"v": "a"}), Host("10.4.0.2:80", labels={"v": "b"})]
    picker = impl.WeightedSubsetPicker({"a": 1, "b": 1})
    r = Router(hosts, subsets={"a": {"v": "a"}, "b": {"v": "b"}}, weights=picker, policy=None)
    unit = impl.module("router")
    assert type(r.__dict__["_core"]) is unit._RouteCore
    assert type(r.route_hash(7)) is unit.Route
    assert type(r.with_weights({"a": 1, "b": 3}).route_hash(7)) is unit.Route


@pytest.mark.c_extension
def test_route_core_twins_have_the_same_signatures() -> None:
    """``_RouteCore.route``/``route_hash`` (private, so outside test_parity) match across twins."""
    import inspect

    from ._impl import PY, C

    def params(f: Any) -> list[tuple[str, Any, Any]]:
        return [(p.name, p.kind, p.default) for p in inspect.signature(f).parameters.values()]

    for name in ("route", "route_hash"):
        c_meth = getattr(C.module("router")._RouteCore, name)
        p_meth = getattr(PY.module("router")._RouteCore, name)
        assert params(c_meth) == params(p_meth), name
        assert inspect.getdoc(c_meth) == inspect.getdoc(p_meth), name
