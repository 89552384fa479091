"""Property tests of the Router: membership, the key seed and bounded load, on both twins."""

from __future__ import annotations

import math
from typing import Any

import pytest

hypothesis = pytest.importorskip("hypothesis")

import xxhash  # noqa: E402
from hypothesis import given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

from hashlb import Host  # noqa: E402
from hashlb.errors import ConfigError  # noqa: E402
from hashlb.router import Router  # noqa: E402

from ._impl import Implementation  # noqa: E402
from .strategies import label_selectors, labelled_hosts  # noqa: E402

FEW = min(60, settings.default.max_examples)
SOME = min(150, settings.default.max_examples)


def _brute_members(hosts: list[Host], selector: dict[str, str]) -> tuple[Host, ...]:
    """Return the hosts whose labels contain *selector*, by the definition."""
    return tuple(h for h in hosts if all(h.labels.get(k) == v for k, v in selector.items()))


def _ring(impl: Implementation) -> Any:
    """Return a small ring-hash factory of *impl* (cheap builds)."""
    ring = impl.module("ring").RingHash

    def build(hosts: Any) -> Any:
        return ring(hosts, min_ring_size=16, max_ring_size=64)

    return build


@given(hosts=labelled_hosts(), selectors=label_selectors, changed=labelled_hosts(max_size=6))
@settings(max_examples=SOME)
def test_members_are_the_label_selection(
    impl: Implementation,
    hosts: list[Host],
    selectors: dict[str, dict[str, str]],
    changed: list[Host],
) -> None:
    """members[s] is every host (in order) whose labels contain s's selector, after
    with_hosts too; with_hosts keeps the table of every subset whose members did not change."""
    expected = {name: _brute_members(hosts, sel) for name, sel in selectors.items()}
    weights = {name: 1 for name in selectors}
    if not any(expected.values()):
        with pytest.raises(ConfigError, match="non-zero weight has hosts"):
            Router(
                hosts,
                subsets=selectors,
                weights=weights,
                policy=None,
                balancer=_ring(impl),
                allow_empty=True,
            )
        return
    r = Router(
        hosts,
        subsets=selectors,
        weights=weights,
        policy=None,
        balancer=_ring(impl),
        allow_empty=True,
    )
    assert dict(r.members) == expected
    assert set(r.empty_subsets) == {n for n, m in expected.items() if not m}
    # The first half stays; the changed hosts take the addresses of the second half
    # (so a pod can come back with other labels or weight) and beyond.
    half = len(hosts) // 2
    new_hosts = hosts[:half] + [
        Host(f"10.2.0.{half + j}:80", c.weight, labels=c.labels) for j, c in enumerate(changed)
    ]
    after = {name: _brute_members(new_hosts, sel) for name, sel in selectors.items()}
    if not any(after.values()):
        return
    r2 = r.with_hosts(new_hosts)
    assert dict(r2.members) == after
    for name in r2.tables:
        if name in r.tables and after[name] == expected[name]:
            assert r2.tables[name] is r.tables[name]
        assert r2.tables[name].hosts == after[name]
    # route_many's host indices point at hosts equal to the table's choice
    hashes = [0, 1, 2**63, 2**64 - 1, 12345]
    batch = r2.route_many(hashes)
    subset_idx, host_idx = batch.subset, batch.host
    for h, s, i in zip(hashes, subset_idx, host_idx, strict=True):
        name = r2.picker.names[s]
        assert r2.hosts[i] == r2.tables[name].lookup(h)


@given(
    seed=st.integers(min_value=0, max_value=2**64 - 1),
    weights=st.fixed_dictionaries({"safe": st.integers(0, 100), "risky": st.integers(1, 100)}),
    keys=st.lists(st.text(max_size=12), min_size=1, max_size=20),
)
@settings(max_examples=SOME)
def test_key_seed_only_reseeds_the_hash(
    impl: Implementation, seed: int, weights: dict[str, int], keys: list[str]
) -> None:
    """A key seed changes the route hash to xxh64(key, seed) and nothing else: the subset
    is still the picker's choice of that hash and the host its table's, so the subset
    shares (w / total for a random hash) and the ramp properties are those of the seedless
    router."""
    pol = impl.module("policy")
    hosts = [Host(f"10.4.0.{i}:80", labels={"v": "safe" if i < 5 else "risky"}) for i in range(7)]
    common: dict[str, Any] = {
        "subsets": {"safe": {"v": "safe"}, "risky": {"v": "risky"}},
        "policy": pol.HashPolicy(pol.Header("x-user")),
        "balancer": _ring(impl),
    }
    picker = impl.module("subset").WeightedSubsetPicker(weights)
    plain = Router(hosts, weights=picker, **common)
    seeded = Router(hosts, weights=picker, key_seed=seed, **common)
    for key in keys:
        route = seeded.route(pol.Request(headers={"x-user": key}))
        assert route.hash == xxhash.xxh64_intdigest(key.encode(), seed)
        assert route == plain.route_hash(route.hash)
        assert route.subset == picker.choose(route.hash)


@st.composite
def bounded_scenarios(draw: st.DrawFn) -> tuple[list[Host], int, list[tuple[str, int]]]:
    """Return (hosts, factor, ops): ops acquire a hash or release the i-th held lease."""
    n = draw(st.integers(min_value=1, max_value=8))
    hosts = [Host(f"10.5.0.{i}:80", draw(st.integers(1, 4))) for i in range(n)]
    factor = draw(st.one_of(st.sampled_from([100, 101, 125, 150, 200]), st.integers(100, 1000)))
    ops = draw(
        st.lists(
            st.one_of(
                st.tuples(st.just("acquire"), st.integers(0, 2**64 - 1)),
                st.tuples(st.just("release"), st.integers(0, 2**16)),
            ),
            max_size=60,
        )
    )
    return hosts, factor, ops


@given(scenario=bounded_scenarios(), balancer=st.sampled_from(["maglev", "ring"]))
@settings(max_examples=SOME)
def test_bounded_load_never_exceeds_the_cap(
    impl: Implementation, scenario: tuple[list[Host], int, list[tuple[str, int]]], balancer: str
) -> None:
    """Under any acquire/release sequence, each acquire takes Envoy's bounded-load host
    for the counts before it, and that host then holds at most ceil(total_slots * w) + 1
    requests, total_slots = ceil((in_flight + 1) * factor / 100): a host may take a
    request while active <= slots.  The counts always equal the leases held."""
    hosts, factor, ops = scenario
    factory = (
        (lambda hs: impl.module("maglev").Maglev(hs, table_size=31))
        if balancer == "maglev"
        else _ring(impl)
    )
    router = Router(
        hosts,
        subsets={"all": {}},
        weights={"all": 1},
        policy=None,
        balancer=factory,
        hash_balance_factor=factor,
    )
    bl = router.bounded_loads["all"]
    weight = dict(zip(bl.lb.normalized_order, bl.lb.normalized_weights, strict=True))
    held: list[Any] = []
    for op, arg in ops:
        if op == "acquire":
            before = bl.active
            lease = router.acquire_hash(arg)
            assert lease.host is bl.lookup(arg, before)
            i = router.hosts.index(lease.host)
            total_slots = ((sum(before) + 1) * factor + 99) // 100
            assert bl.active[i] <= max(math.ceil(total_slots * weight[i]), 1) + 1
            held.append(lease)
        elif held:
            held.pop(arg % len(held)).release()
        expected = [0] * len(hosts)
        for lease in held:
            expected[router.hosts.index(lease.host)] += 1
        assert list(bl.active) == expected
