"""Every public object pickles (and cloudpickles) to a compact description, on both twins.

A round trip gives an object of the same class that is equal (where the
class compares) and behaves identically: the same host for every hash, the
same route for every request.  Objects that hold requests in flight
(``Lease``, ``RouteLease``) refuse with a ``TypeError`` naming why, and a
tampered pickle raises ``TypeError``/``ValueError`` as the constructor does.
"""

from __future__ import annotations

import pickle
import random
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import cloudpickle
import pytest

import hashlb
import hashlb.bounded
import hashlb.cluster
import hashlb.diff
import hashlb.envoy
import hashlb.grpc
import hashlb.istio
import hashlb.policy
import hashlb.router
import hashlb.subset
import hashlb.versions
from hashlb import ConfigError, Host
from hashlb._pickling import pack_hosts, rebuild_hosts, rebuild_router, unpack_hosts
from hashlb.router import Router

from ._impl import Implementation

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"
#: Random 64-bit hashes every rebuilt table must send to the same host.
HASHES = [random.Random(14).getrandbits(64) for _ in range(300)]
USERS = [f"user-{i}" for i in range(60)]
#: What "compact" means: 100 hosts with realistic labels take less than this.
LIMIT = 8 * 1024


def fleet(n: int = 100, *, levels: bool = False) -> list[Host]:
    """*n* pods of one service, two versions, three zones (priorities and health if *levels*)."""
    return [
        Host(
            f"10.{8 + i // 250}.{i // 50}.{i % 50 + 2}:9080",
            1 + i % 3,
            priority=int(i % 4 == 3) if levels else 0,
            health=("unhealthy" if i % 7 == 0 else "healthy") if levels else "healthy",
            locality=f"us-east1/us-east1-{'abc'[i % 3]}",
            labels={"app": "reviews", "version": "v1" if i % 5 else "v2"},
        )
        for i in range(n)
    ]


def dumps_both(obj: object) -> Iterator[tuple[str, bytes]]:
    """The pickle (highest protocol, and protocol 2) and the cloudpickle of *obj*."""
    yield "pickle", pickle.dumps(obj, protocol=pickle.HIGHEST_PROTOCOL)
    yield "pickle-2", pickle.dumps(obj, protocol=2)
    yield "cloudpickle", cloudpickle.dumps(obj)


def round_trips(obj: object) -> Iterator[Any]:
    for _, data in dumps_both(obj):
        back = pickle.loads(data)
        assert type(back) is type(obj)
        yield back


def router(impl: Implementation, balancer: str = "maglev", **options: Any) -> Router:
    mode = options.pop("mode", "sticky")
    return Router(
        fleet(),
        subsets={"v1": {"version": "v1"}, "v2": {"version": "v2"}},
        weights=impl.WeightedSubsetPicker({"v1": 90, "v2": 10}, mode=mode),
        policy=impl.HashPolicy(impl.Header("x-user")),
        balancer=impl.Maglev if balancer == "maglev" else impl.RingHash,
        balancer_options={"table_size": 1021} if balancer == "maglev" else {},
        mode=mode,
        **options,
    )


def same_routes(a: Router, b: Router, impl: Implementation) -> None:
    """*a* and *b* route every user and every hash to the same subset and host."""
    for user in USERS:
        request = impl.Request(headers={"x-user": user})
        ra, rb = a.route(request), b.route(request)
        assert (ra.subset, ra.host, ra.hash) == (rb.subset, rb.host, rb.hash)
    for h in HASHES[:100]:
        ra, rb = a.route_hash(h), b.route_hash(h)
        assert (ra.subset, ra.host) == (rb.subset, rb.host)


# --------------------------------------------------------------- the tables


@pytest.mark.parametrize("kind", ["maglev", "ring_hash", "grpc_ring"])
def test_tables_round_trip_and_look_up_alike(impl: Implementation, kind: str) -> None:
    """Maglev and RingHash (Envoy's and gRPC's) come back with the same hosts, options, picks."""
    hosts = fleet()
    table: Any = {
        "maglev": lambda: impl.Maglev(hosts, table_size=1021, locality_weights=None),
        "ring_hash": lambda: impl.RingHash(hosts, min_ring_size=512, hash_function="murmur_hash_2"),
        "grpc_ring": lambda: impl.RingHash.grpc([h.address for h in hosts], min_ring_size=256),
    }[kind]()
    for back in round_trips(table):
        assert back.hosts == table.hosts and repr(back) == repr(table)
        assert [back.lookup(h) for h in HASHES] == [table.lookup(h) for h in HASHES]
        assert list(back.lookup_many(HASHES)) == list(table.lookup_many(HASHES))
    size = len(pickle.dumps(table, protocol=pickle.HIGHEST_PROTOCOL))
    assert size < LIMIT, f"{kind}: {size} bytes for 100 hosts"


def test_hosts_are_packed_once_and_labels_shared(impl: Implementation) -> None:
    """100 labelled hosts take about 2 KB in a table; one host's labels are not repeated."""
    hosts = fleet()
    table = impl.Maglev(hosts, table_size=1021)
    one_by_one = len(pickle.dumps(tuple(hosts), protocol=pickle.HIGHEST_PROTOCOL))
    packed = len(pickle.dumps(table, protocol=pickle.HIGHEST_PROTOCOL))
    assert packed < one_by_one / 2 and packed < 3 * 1024
    data = pickle.dumps(table, protocol=pickle.HIGHEST_PROTOCOL)
    assert data.count(b"reviews") == 1 and data.count(b"us-east1-a") == 1
    # Every field round-trips, including the ones a column leaves out when at the default.
    odd = [
        Host("[2001:db8::1]:80", 7, priority=2, health="draining", hostname="a", hash_key="k"),
        Host("pod.example:80", labels={"z": "1", "a": "2"}),
        Host("10.0.0.1:80", hostname=""),
    ]
    assert unpack_hosts(pack_hosts(tuple(odd))) == tuple(odd)
    many = tuple(Host(f"10.1.{i // 250}.{i % 250}:80", i + 1) for i in range(300))
    assert unpack_hosts(pack_hosts(many)) == many  # more than 256 distinct weights
    assert unpack_hosts(pack_hosts(())) == ()


def test_pickers_round_trip(impl: Implementation) -> None:
    """A WeightedSubsetPicker comes back equal and picks the same subset for every hash."""
    for mode in ("sticky", "envoy"):
        picker = impl.WeightedSubsetPicker({"v1": 90, "v2": 10, "v3": 0}, mode=mode, seed=3)
        for back in round_trips(picker):
            assert back == picker
            assert [back.choose(h) for h in HASHES] == [picker.choose(h) for h in HASHES]


# ------------------------------------------------------ bounded load, leases


def test_bounded_load_round_trips_with_zero_in_flight(impl: Implementation) -> None:
    """BoundedLoad pickles its table and factor; the requests in flight start at zero."""
    table = impl.Maglev(fleet(), table_size=1021)
    bounded = impl.BoundedLoad(table, hash_balance_factor=125)
    leases = [bounded.acquire(h) for h in HASHES[:40]]
    assert sum(bounded.active) == 40
    for back in round_trips(bounded):
        assert back.hash_balance_factor == 125 and back.lb.hosts == table.hosts
        assert sum(back.active) == 0
        active = list(bounded.active)
        assert [back.lookup(h, active) for h in HASHES] == [
            bounded.lookup(h, active) for h in HASHES
        ]
        with back.acquire(HASHES[0]) as host:
            assert host == bounded.lookup(HASHES[0], [0] * len(active))
    for lease in leases:
        lease.release()
    assert len(pickle.dumps(bounded, protocol=pickle.HIGHEST_PROTOCOL)) < LIMIT


def test_bounded_load_over_a_cluster_round_trips(impl: Implementation) -> None:
    """A BoundedLoad over a Cluster (priorities, health) rebuilds both."""
    cluster = hashlb.Cluster(fleet(levels=True), balancer=impl.RingHash, min_ring_size=256)
    bounded = impl.BoundedLoad(cluster, hash_balance_factor=150)
    for back in round_trips(bounded):
        zero = [0] * len(cluster.hosts)
        assert [back.lookup(h, zero) for h in HASHES] == [bounded.lookup(h, zero) for h in HASHES]


def test_leases_refuse_to_pickle(impl: Implementation) -> None:
    """A Lease or RouteLease counts a request in flight: pickling it raises TypeError saying so."""
    bounded = impl.BoundedLoad(impl.Maglev(fleet(), table_size=1021), hash_balance_factor=150)
    lease = bounded.acquire(1)
    routed = router(impl, hash_balance_factor=150).acquire(impl.Request(headers={"x-user": "a"}))
    for held in (lease, routed):
        for dump in (pickle.dumps, cloudpickle.dumps):
            with pytest.raises(TypeError, match=r"in flight.*acquire again"):
                dump(held)
    lease.release()
    routed.release()


def test_an_uninitialised_bounded_load_does_not_pickle(impl: Implementation) -> None:
    with pytest.raises(TypeError, match="not initialised"):
        pickle.dumps(impl.BoundedLoad.__new__(impl.BoundedLoad))


# ------------------------------------------------------------ routers, clusters


@pytest.mark.parametrize(
    "options",
    [
        {"balancer": "maglev"},
        {"balancer": "ring_hash"},
        {"balancer": "maglev", "hash_balance_factor": 150},
        {"balancer": "ring_hash", "mode": "envoy"},
        {"balancer": "maglev", "key_seed": 2**63 + 5},
        {"balancer": "maglev", "cluster_options": {"healthy_panic_threshold": 30}},
    ],
    ids=["maglev", "ring", "bounded", "envoy", "key-seed", "cluster"],
)
def test_routers_round_trip_compactly(impl: Implementation, options: dict[str, Any]) -> None:
    """A Router with 2 subsets over 100 labelled hosts pickles in < 8 KB and routes alike."""
    r = router(impl, **dict(options))
    data = pickle.dumps(r, protocol=pickle.HIGHEST_PROTOCOL)
    assert len(data) < LIMIT, f"{len(data)} bytes"
    assert len(cloudpickle.dumps(r)) < LIMIT
    for back in round_trips(r):
        assert repr(back) == repr(r) and back.mode == r.mode
        assert dict(back.members) == dict(r.members)
        same_routes(back, r, impl)


def test_a_router_carries_its_random_stream(impl: Implementation) -> None:
    """Envoy mode draws random values: a used router's pickle continues the same stream."""
    r = router(impl, mode="envoy")
    first = [r.route_hash(h).subset for h in HASHES[:50]]  # advances the rng
    assert len(set(first)) == 2
    data = pickle.dumps(r, protocol=pickle.HIGHEST_PROTOCOL)
    assert len(data) < LIMIT, f"{len(data)} bytes with a used random generator"
    back = pickle.loads(data)
    assert [back.route_hash(h).subset for h in HASHES] == [r.route_hash(h).subset for h in HASHES]
    own = router(impl, mode="envoy", rng=random.Random(99))
    again = pickle.loads(pickle.dumps(own))
    assert [again.route_hash(h).subset for h in HASHES] == [
        own.route_hash(h).subset for h in HASHES
    ]


def test_clusters_round_trip(impl: Implementation) -> None:
    """A Cluster with priorities and health pickles compactly and looks up alike."""
    cluster = hashlb.Cluster(
        fleet(levels=True), balancer=impl.Maglev, table_size=1021, healthy_panic_threshold=40
    )
    assert len(pickle.dumps(cluster, protocol=pickle.HIGHEST_PROTOCOL)) < LIMIT
    for back in round_trips(cluster):
        assert back.hosts == cluster.hosts and repr(back) == repr(cluster)
        assert back.priority_load == cluster.priority_load
        assert [back.lookup(h) for h in HASHES] == [cluster.lookup(h) for h in HASHES]
        assert [back.lookup(h, 2) for h in HASHES] == [cluster.lookup(h, 2) for h in HASHES]


def test_routes_results_requests_policies_round_trip(impl: Implementation) -> None:
    """Route, HashResult, Request and every hash method compare equal after a round trip."""
    r = router(impl)
    request = impl.Request(
        headers=[("x-user", "alice"), ("cookie", "s=1")], path="/p?q=1", remote_address="1.2.3.4:5"
    )
    route = r.route(request)
    methods = [
        impl.Header("x-user"),
        impl.Cookie("s", ttl=10, path="/"),
        impl.SourceIP(),
        impl.QueryParameter("q"),
        impl.FilterState("k"),
    ]
    policy = impl.HashPolicy(*methods, seed=5)
    for obj in (route, impl.HashResult(7, ("a=b",)), *methods, policy):
        for back in round_trips(obj):
            assert back == obj
    for back in round_trips(request):
        assert policy.evaluate(back) == policy.evaluate(request)
        assert (back.headers, back.path) == (request.headers, request.path)


# --------------------------------------------- Envoy and Istio model objects


def envoy_config() -> Any:
    return hashlb.envoy.load(str(EXAMPLES / "envoy-config" / "dump.json"))


def test_envoy_config_round_trips_and_picks_alike(impl: Implementation) -> None:
    """EnvoyConfig (its clusters, endpoints, routes) pickles and picks the same host."""
    config = envoy_config()
    for back in round_trips(config):
        assert list(back.clusters) == list(config.clusters)
        assert back.route_configs == config.route_configs
        for name, c in config.clusters.items():
            b = back.clusters[name]
            assert (b.name, b.lb_policy, dict(b.balancer_options), b.hosts) == (
                c.name,
                c.lb_policy,
                dict(c.balancer_options),
                c.hosts,
            )
            assert dict(b.endpoints.locality_weights) == dict(c.endpoints.locality_weights)
        for i, route in enumerate(config.routes):
            for user in USERS[:20]:
                req = hashlb.Request(headers={"x-user": user})
                want = config.pick(route, req, rng=random.Random(1))
                assert back.pick(back.routes[i], req, rng=random.Random(1)) == want


def istio_objects() -> tuple[Any, Any, list[Any]]:
    mesh = hashlb.istio.load_mesh([str(EXAMPLES / "istio-canary")])
    scenario = mesh.scenario()
    return mesh, scenario, hashlb.istio.build_engines(scenario, "envoy", 0)


def test_istio_objects_round_trip_and_route_alike(impl: Implementation) -> None:
    """A Mesh resolves to an equal Scenario after a round trip; a RouteEngine routes alike."""
    mesh, scenario, engines = istio_objects()
    for back in round_trips(mesh):
        assert back.pods == mesh.pods and back.scenario() == scenario
    for back in round_trips(scenario):
        assert back == scenario
    for engine in engines:
        for back in round_trips(engine):
            for user in USERS:
                req = hashlb.Request(headers={"x-user": user})
                assert back.route(req) == engine.route(req)


# ------------------------------------------------- every public name is covered


def _first(root: object, cls: type) -> Any:
    """The first instance of *cls* reachable from *root* (dataclass fields, containers)."""
    import dataclasses

    seen: set[int] = set()
    todo = [root]
    while todo:
        obj = todo.pop(0)
        if id(obj) in seen or isinstance(obj, (str, bytes, int, float, type)) or obj is None:
            continue
        seen.add(id(obj))
        if type(obj) is cls:
            return obj
        if isinstance(obj, dict):
            todo.extend(obj.values())
        elif isinstance(obj, (list, tuple, set, frozenset)):
            todo.extend(obj)
        elif dataclasses.is_dataclass(obj):
            todo.extend(getattr(obj, f.name, None) for f in dataclasses.fields(obj))
        elif hasattr(obj, "__dict__"):
            todo.extend(vars(obj).values())
    raise AssertionError(f"no {cls.__name__} reachable")


#: Public classes that have no instances to pickle: protocols.
PROTOCOLS = {"HashMethod", "Table", "MatchRequest"}
MODULES = (
    hashlb,
    hashlb.policy,
    hashlb.cluster,
    hashlb.subset,
    hashlb.bounded,
    hashlb.router,
    hashlb.istio,
    hashlb.envoy,
    hashlb.diff,
    hashlb.grpc,
    hashlb.versions,
)


def samples(impl: Implementation) -> dict[str, Callable[[], Any]]:
    """A way to make an instance of every public class (twin classes from *impl*)."""
    mesh, scenario, engines = istio_objects()
    config = envoy_config()
    hosts = fleet(10)
    bounded = impl.BoundedLoad(impl.Maglev(hosts, table_size=31), hash_balance_factor=150)
    dest = scenario.routes[0].destinations[0]
    route = config.routes[0]
    report = hashlb.diff.diff(lambda r: ("a", "p1"), lambda r: ("b", "p2"), [(1, 1), (2, 2)])
    return {
        "Host": lambda: hosts[3],
        "Maglev": lambda: impl.Maglev(hosts, table_size=31),
        "RingHash": lambda: impl.RingHash(hosts, min_ring_size=64),
        "BoundedLoad": lambda: bounded,
        "Lease": lambda: bounded.acquire(5),
        "Cluster": lambda: hashlb.Cluster(fleet(12, levels=True), balancer=impl.Maglev),
        "PriorityLevel": lambda: hashlb.Cluster(fleet(12, levels=True)).priorities[1],
        "Router": lambda: router(impl),
        "RouteLease": lambda: router(impl).acquire(impl.Request()),
        "Route": lambda: router(impl).route(impl.Request()),
        "RouteBatch": lambda: router(impl).route_many([1, 2**64 - 1, None]),
        "WeightedSubsetPicker": lambda: impl.WeightedSubsetPicker({"a": 1, "b": 2}),
        "HashPolicy": lambda: impl.HashPolicy(impl.Header("x-user"), seed=1),
        "Header": lambda: impl.Header("x-user", regex_rewrite=("^u", "v")),
        "Cookie": lambda: impl.Cookie("s", ttl=5),
        "SourceIP": lambda: impl.SourceIP(xff_num_trusted_hops=1),
        "QueryParameter": lambda: impl.QueryParameter("q"),
        "FilterState": lambda: impl.FilterState("k"),
        "HashResult": lambda: impl.HashResult(5, ("c=1",)),
        "Request": lambda: impl.Request(headers={"a": "b"}, path="/x"),
        "ConfigError": lambda: ConfigError("bad table_size"),
        "HashlbError": lambda: hashlb.HashlbError("bad"),
        "EnvoyConfigError": lambda: hashlb.envoy.EnvoyConfigError("a.b", "bad", "f.json"),
        "InputError": lambda: hashlb.istio.InputError(hashlb.istio.Where("m.yaml", 3), "bad"),
        "Where": lambda: hashlb.istio.Where("m.yaml", 3),
        "EnvoyConfig": lambda: config,
        "EnvoyCluster": lambda: next(iter(config.clusters.values())),
        "LoadAssignment": lambda: next(iter(config.load_assignments.values())),
        "RouteConfig": lambda: config.route_configs[0],
        "VirtualHost": lambda: config.route_configs[0].virtual_hosts[0],
        "RouteMatch": lambda: route.match,
        "HeaderMatch": lambda: hashlb.envoy.HeaderMatch("x-a", "exact", "1"),
        "RetryPolicy": lambda: route.retry_policy,
        "Pick": lambda: config.pick(route, hashlb.Request(headers={"x-user": "a"})),
        "Mesh": lambda: mesh,
        "Scenario": lambda: scenario,
        "RoutePlan": lambda: scenario.routes[0],
        "Destination": lambda: dest,
        "LoadBalancer": lambda: dest.lb,
        "HashKey": lambda: _first(scenario, hashlb.istio.HashKey),
        "ClusterHealth": lambda: dest.health,
        "Pod": lambda: mesh.pods[0],
        "Endpoint": lambda: _first(engines[0], hashlb.istio.Endpoint),
        "SubsetHealth": lambda: next(iter(engines[0].health.values())),
        "RouteEngine": lambda: engines[0],
        "TableCache": lambda: hashlb.istio.TableCache(maglev=impl.Maglev),
        "LocalityPlan": lambda: hashlb.istio.LocalityPlan(
            "distribute", "localityLbSetting", "r/z", ((0, (("r/z", 3),)),)
        ),
        "DiffReport": lambda: report,
        "StepCounts": lambda: hashlb.diff.StepCounts(0.25, 0.5),
        "DiffTally": _tally,
        "RequestHashHeader": lambda: hashlb.grpc.RequestHashHeader("x-key"),
        "EnvoyProfile": lambda: hashlb.versions.profile("1.26"),
    }


def _tally() -> Any:
    tally = hashlb.diff.DiffTally(2)
    tally.add(["ann", "bob", "ann", None], [[0, 1, 0, 2], [0, 1, 1, 2]])
    return tally


def test_diff_tally_counts_on_after_a_round_trip() -> None:
    """A pickled DiffTally gives the same reports, and goes on counting from where it was."""
    names = [("s", "p0"), ("s", "p1"), ("s", "p2")]
    tally = _tally()
    back = pickle.loads(pickle.dumps(tally))
    assert back.reports(names) == tally.reports(names)
    for t in (tally, back):
        t.add(["cy"], [[2], [0]])
    assert back.reports(names) == tally.reports(names) and back.requests == 5


def public_classes() -> dict[str, type]:
    out: dict[str, type] = {}
    for module in MODULES:
        for name in module.__all__:
            obj = getattr(module, name)
            if isinstance(obj, type) and name not in PROTOCOLS:
                out.setdefault(name, obj)
    return out


#: Objects that refuse on purpose (requests in flight).
REFUSED = {"Lease", "RouteLease"}
#: Compared by what they do (tests above), not ``==``: a Mesh holds its reader's budget.
#: A PriorityLevel holds its level's table, and tables compare by identity.
BY_BEHAVIOUR = {"Mesh", "PriorityLevel", "DiffTally"}


def test_every_public_class_pickles_or_refuses(impl: Implementation) -> None:
    """Each public class of hashlb's public modules has a sample here, and that sample round-trips."""
    make = samples(impl)
    classes = public_classes()
    assert sorted(set(classes) - set(make)) == []  # a new public class needs a sample
    for name in sorted(classes):
        obj = make[name]()
        assert type(obj).__name__ == classes[name].__name__, name  # this twin's class
        if name in REFUSED:
            with pytest.raises(TypeError, match="in flight"):
                pickle.dumps(obj)
            obj.release()
            continue
        for label, data in dumps_both(obj):
            back = pickle.loads(data)
            assert type(back) is type(obj), (name, label)
            compares = type(obj).__eq__ is not object.__eq__ and name not in BY_BEHAVIOUR
            if compares and not isinstance(obj, BaseException):
                assert back == obj, (name, label)
            assert repr(back) == repr(obj) or name in {"Mesh", "RouteEngine", "TableCache"}
            if isinstance(obj, BaseException):
                assert str(back) == str(obj) and back.args == obj.args


def test_public_functions_pickle_by_reference(impl: Implementation) -> None:
    """Every public function (and this twin's hash functions) pickles as a reference to itself."""
    import inspect

    functions = [getattr(m, n) for m in MODULES for n in m.__all__]
    functions += [getattr(impl, n) for n in ("xxh64", "xxh64_many", "murmur2_64", "murmur3_64")]
    for fn in (f for f in functions if inspect.isroutine(f)):
        for _, data in dumps_both(fn):
            assert pickle.loads(data) is fn


@pytest.mark.c_extension
def test_a_pickle_of_the_twin_in_use_loads_into_the_other_build(tmp_path: Path) -> None:
    """A pickle names hashlb.Maglev etc.: a pure process loads it into the pure twin, alike."""
    import json
    import os
    import subprocess
    import sys

    if hashlb.IMPLEMENTATION != "c":  # pragma: no cover - the compiled twin is not in use
        pytest.skip("the compiled twin is not the one in use")
    r = Router(
        fleet(),
        subsets={"v1": {"version": "v1"}, "v2": {"version": "v2"}},
        weights={"v1": 90, "v2": 10},
        policy=hashlb.HashPolicy(hashlb.Header("x-user")),
        balancer="maglev",
        hash_balance_factor=150,
    )
    (tmp_path / "router.pickle").write_bytes(pickle.dumps(r))
    code = (
        "import json, pickle, sys, hashlb\n"
        "r = pickle.loads(open(sys.argv[1], 'rb').read())\n"
        "print(json.dumps([hashlb.IMPLEMENTATION, type(r.tables['v1']).__module__,\n"
        "    [r.route_hash(h).host.address for h in json.loads(sys.argv[2])]]))\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code, str(tmp_path / "router.pickle"), json.dumps(HASHES)],
        env=dict(os.environ, HASHLB_NO_EXTENSIONS="1"),
        capture_output=True,
        text=True,
        check=True,
        timeout=120,
    ).stdout
    implementation, table_module, addresses = json.loads(out)
    assert implementation == "py" and table_module == "hashlb"  # the pure twin, selected
    assert addresses == [r.route_hash(h).host.address for h in HASHES]


# ------------------------------------------------------------- tampered pickles


class _Forged:
    """Pickles as whatever ``__reduce__`` tuple it is given: a hand-made (tampered) payload."""

    def __init__(self, *reduced: Any) -> None:
        self.reduced = reduced

    def __reduce__(self) -> tuple[Any, ...]:
        return self.reduced


def forged(*reduced: Any) -> bytes:
    return pickle.dumps(_Forged(*reduced))


def test_tampered_pickles_raise_clear_errors(impl: Implementation) -> None:
    """Loading validates as the constructor does: TypeError/ValueError, never a crash."""
    good = pack_hosts(tuple(fleet(4)))
    tag, addresses, columns = good
    labels_values, labels_index = columns["labels"]
    options = {"table_size": 7}
    cases: list[tuple[bytes, type[Exception], str | None]] = [
        (forged(rebuild_hosts, (impl.Maglev, ("hosts/9", (), {}), options)), TypeError, "triple"),
        (forged(rebuild_hosts, (impl.Maglev, [tag, addresses, columns], options)), TypeError, None),
        (
            forged(rebuild_hosts, (impl.Maglev, (tag, addresses, {"color": ((), b"")}), options)),
            TypeError,
            "unknown field",
        ),
        (
            forged(
                rebuild_hosts,
                (
                    impl.Maglev,
                    (tag, addresses, {"labels": (labels_values, b"\x00\x09\x00\x00")}),
                    options,
                ),
            ),
            TypeError,
            "beyond",
        ),
        (
            forged(
                rebuild_hosts,
                (
                    impl.Maglev,
                    (tag, addresses, {"labels": (labels_values, labels_index[:2])}),
                    options,
                ),
            ),
            TypeError,
            "index has 2 items",
        ),
        (
            forged(
                rebuild_hosts,
                (impl.Maglev, (tag, addresses, {"labels": (("x",), b"\0" * 4)}), options),
            ),
            TypeError,
            "labels",
        ),
        (
            forged(
                rebuild_hosts,
                (impl.Maglev, (tag, addresses, {"weight": ((0,), b"\0" * 4)}), options),
            ),
            ValueError,
            "weight",
        ),
        (
            forged(
                rebuild_hosts,
                (impl.Maglev, (tag, addresses, {"weight": ((2**70,), b"\0" * 4)}), options),
            ),
            ValueError,
            "weight",
        ),
        (forged(rebuild_hosts, (impl.Maglev, (tag, ("",), {}), options)), ValueError, "empty"),
        (forged(rebuild_hosts, (impl.Maglev, (tag, (7,), {}), options)), TypeError, "address"),
        (
            forged(rebuild_hosts, (impl.Maglev, (tag, ("a:1", "a:1"), {}), options)),
            ConfigError,
            "repeats",
        ),
        (forged(rebuild_hosts, (impl.Maglev, good, {"table_size": 8})), ConfigError, "prime"),
        (forged(rebuild_hosts, (impl.Maglev, good, {"table_size": -1})), ValueError, "table_size"),
        (forged(rebuild_hosts, (impl.Maglev, good, {"colour": 1})), TypeError, "colour"),
        (forged(rebuild_hosts, (impl.Maglev, good, [("table_size", 7)])), TypeError, "dict"),
        (forged(rebuild_hosts, (impl.RingHash, good, {"min_ring_size": 2**70})), ValueError, None),
        (
            forged(
                hashlb._types.rebuild,
                (impl.BoundedLoad, ("not a table",), {"hash_balance_factor": 150}),
            ),
            TypeError,
            None,
        ),
        (
            forged(
                hashlb._types.rebuild,
                (
                    impl.BoundedLoad,
                    (impl.Maglev(fleet(3), table_size=7),),
                    {"hash_balance_factor": 99},
                ),
            ),
            ValueError,
            "hash_balance_factor",
        ),
    ]
    config = router(impl).__reduce__()[1][2]
    bad_rng = {**config, "rng": ("mt/1", 3, b"\xff" * 12, 0, None)}
    wrong_rng = {**config, "rng": ("mt/1", 3, b"\xff" * 2496, 10**9, None)}
    cases += [
        (forged(rebuild_router, (Router, pack_hosts(tuple(fleet())), bad_rng)), TypeError, "rng"),
        (forged(rebuild_router, (Router, pack_hosts(tuple(fleet())), wrong_rng)), TypeError, "rng"),
        (
            forged(rebuild_router, (Router, pack_hosts(tuple(fleet())), {"seed": 0})),
            TypeError,
            "rng",
        ),
        (
            forged(rebuild_router, (Router, pack_hosts(tuple(fleet(1))), config)),
            ConfigError,
            None,
        ),  # the subsets select hosts that are not there any more
    ]
    for data, error, match in cases:
        with pytest.raises(error, match=match):
            pickle.loads(data)


# -------------------------------------------------- shipped to real Dask workers


@pytest.fixture(scope="module")
def dask_client() -> Iterator[Any]:
    """A real ``distributed.LocalCluster``: one worker process on loopback (objects cross it pickled)."""
    distributed = pytest.importorskip("distributed")
    with (
        distributed.LocalCluster(
            n_workers=1,
            threads_per_worker=1,
            processes=True,
            host="127.0.0.1",
            dashboard_address="127.0.0.1:0",  # any free port: None means 8787, and a busy 8787 warns
        ) as cluster,
        distributed.Client(cluster, timeout=60) as client,
    ):
        yield client


def test_dask_ships_routers_clusters_and_bounded_loads(
    impl: Implementation, dask_client: Any
) -> None:
    """A worker process routes as the original; dask tokenizes the objects (deterministically)."""
    import dask
    from dask.base import tokenize

    r = router(impl, hash_balance_factor=150)
    cluster = hashlb.Cluster(fleet(levels=True), balancer=impl.Maglev, table_size=1021)
    with dask.config.set({"tokenize.ensure-deterministic": True}):
        for obj in (r, cluster, impl.BoundedLoad(cluster, hash_balance_factor=150)):
            assert tokenize(obj) == tokenize(obj)  # no TokenizationError: it pickles

    def remote(router: Router, cluster: Any, hashes: list[int]) -> Any:
        routes = [router.route_hash(h) for h in hashes]
        return (
            [(x.subset, x.host) for x in routes],
            [cluster.lookup(h) for h in hashes],
            type(router._picker).__module__,
        )

    future = dask_client.submit(remote, r, cluster, HASHES, pure=False)
    routes, hosts, picker_module = future.result(timeout=120)
    assert routes == [(x.subset, x.host) for x in (r.route_hash(h) for h in HASHES)]
    assert hosts == [cluster.lookup(h) for h in HASHES]
    assert picker_module == type(r._picker).__module__  # the same twin on the worker
