"""Bounded load (spec §6): mt19937, Envoy's shuffle vectors, the overload rule, acquire/release."""

from __future__ import annotations

import inspect
import random
import threading
from typing import Any

import numpy as np
import pytest

from hashlb import Host

from ._impl import PY, C, Implementation
from ._vectors import envoy_vectors
from .reference import bounded_load_reference, mt19937_reference

MT_CASES = [c for c in envoy_vectors()["hash_functions"] if c["fn"].startswith("mt19937")]


def _hosts(n: int, **kw: Any) -> list[Host]:
    """Return n hosts 10.0.0.i:80."""
    return [Host(f"10.0.0.{i}:80", **kw) for i in range(n)]


# ---- mt19937 and the shuffle -----------------------------------------------------


def test_mt19937_check_vector(impl: Implementation) -> None:
    """std::mt19937 with the default seed 5489: the 10000th output is 4123659995."""
    assert len(MT_CASES) == 1
    assert impl.module("bounded")._mt19937(5489, 10000)[-1] == MT_CASES[0]["expected"] == 4123659995


def test_mt19937_matches_reference(impl: Implementation) -> None:
    """Seeds are reduced mod 2**32 and the stream equals the textbook generator."""
    for seed in (0, 1, 2, 5489, 2**32 - 1, 2**32 + 7, 2**64 - 1):
        ref = mt19937_reference(seed)
        assert impl.module("bounded")._mt19937(seed, 1300) == [next(ref) for _ in range(1300)]
    assert impl.module("bounded")._mt19937(2**32 + 7, 5) == impl.module("bounded")._mt19937(7, 5)
    assert impl.module("bounded")._mt19937(1, 0) == []


@pytest.mark.parametrize(
    ("seed", "order"), [(2, [2, 1, 0, 4, 3]), (6, [4, 0, 2, 3, 1]), (7, [0, 1, 4, 3, 2])]
)
def test_envoy_shuffle_vectors(impl: Implementation, seed: int, order: list[int]) -> None:
    """bounded_load_hlb_test.cc: seed 2 -> 2 1 0 4 3; 6 -> 4 0 2 3 1; 7 -> 0 1 4 3 2 (n=5)."""
    assert impl.module("bounded")._probe_order(seed, 5) == order


def test_mt19937_and_probe_order_left_the_public_api(impl: Implementation) -> None:
    """The test helpers are private; ``hashlb.bounded.mt19937`` still works for a release, warning."""
    import hashlb.bounded

    mod = impl.module("bounded")
    assert "mt19937" not in mod.__all__ and "probe_order" not in mod.__all__
    assert "mt19937" not in hashlb.bounded.__all__ and "probe_order" not in hashlb.bounded.__all__
    for name in ("mt19937", "probe_order"):
        with pytest.warns(
            DeprecationWarning, match=f"hashlb.bounded.{name} is a test helper"
        ) as rec:
            fn = getattr(hashlb.bounded, name)
        assert rec[0].filename == __file__
        assert fn(5489, 7) == getattr(hashlb.bounded._twin, "_" + name)(5489, 7)
    with pytest.raises(AttributeError, match="no attribute 'nope'"):
        hashlb.bounded.nope  # noqa: B018


def test_probe_order_is_a_permutation(impl: Implementation) -> None:
    """probe_order(seed, n) is a permutation of range(n); n = 0 and 1 work."""
    assert impl.module("bounded")._probe_order(3, 0) == [] and impl.module("bounded")._probe_order(
        3, 1
    ) == [0]
    for seed in range(20):
        assert sorted(impl.module("bounded")._probe_order(seed * 977, 37)) == list(range(37))


def test_mt_bad_arguments(impl: Implementation) -> None:
    """Seeds outside [0, 2**64) and negative counts are rejected."""
    with pytest.raises(ValueError, match="seed"):
        impl.module("bounded")._mt19937(-1, 3)
    with pytest.raises(ValueError, match="n"):
        impl.module("bounded")._probe_order(1, -1)
    with pytest.raises(TypeError, match="seed"):
        impl.module("bounded")._probe_order(1.0, 3)


# ---- construction ----------------------------------------------------------------


@pytest.mark.parametrize("factor", [99, 0, -100, 2**32])
def test_bad_factor(impl: Implementation, factor: int) -> None:
    """hash_balance_factor < 100 or > 2**32 - 1 raises ValueError naming it."""
    lb = impl.Maglev(_hosts(3), table_size=7)
    with pytest.raises(ValueError, match="hash_balance_factor"):
        impl.BoundedLoad(lb, hash_balance_factor=factor)


@pytest.mark.parametrize("factor", [150.0, "150", None, True])
def test_factor_type(impl: Implementation, factor: object) -> None:
    """A non-int hash_balance_factor raises TypeError naming it."""
    lb = impl.Maglev(_hosts(3), table_size=7)
    with pytest.raises(TypeError, match="hash_balance_factor"):
        impl.BoundedLoad(lb, hash_balance_factor=factor)


def test_positional_factor_is_deprecated(impl: Implementation) -> None:
    """BoundedLoad(lb, 150) warns naming the keyword call and builds the same wrapper."""
    lb = impl.Maglev(_hosts(5), table_size=31)
    with pytest.warns(
        DeprecationWarning, match=r"BoundedLoad\(lb, hash_balance_factor=factor\)"
    ) as rec:
        old = impl.BoundedLoad(lb, 125)  # type: ignore[misc]
    assert len(rec) == 1 and rec[0].filename == __file__  # points at the caller
    new = impl.BoundedLoad(lb, hash_balance_factor=125)
    assert old.hash_balance_factor == new.hash_balance_factor == 125
    assert repr(old) == repr(new)
    active = [3, 0, 9, 1, 0]
    for h in range(0, 2**64, 2**59 + 12345):
        assert old.lookup(h, active) is new.lookup(h, active)


@pytest.mark.c_extension
def test_deprecation_text_is_the_same_in_both_twins() -> None:
    """Both twins warn with one text (it lives in hashlb._validate)."""
    texts = []
    for impl in (C, PY):
        lb = impl.Maglev(_hosts(2), table_size=7)
        with pytest.warns(DeprecationWarning) as rec:
            impl.BoundedLoad(lb, 150)  # type: ignore[misc]
        texts.append(str(rec[0].message))
    assert len(set(texts)) == 1, texts


def test_factor_keyword_only_errors(impl: Implementation) -> None:
    """A missing, doubled or extra factor raises TypeError; the signature is keyword-only."""
    lb = impl.Maglev(_hosts(2), table_size=7)
    with pytest.raises(
        TypeError, match="missing required keyword-only argument: 'hash_balance_factor'"
    ):
        impl.BoundedLoad(lb)  # type: ignore[call-arg]
    with pytest.raises(TypeError, match="multiple values for argument 'hash_balance_factor'"):
        impl.BoundedLoad(lb, 150, hash_balance_factor=150)  # type: ignore[misc]
    with pytest.raises(TypeError, match="takes 2 positional arguments but 3 were given"):
        impl.BoundedLoad(lb, 150, 200)  # type: ignore[misc]
    params = inspect.signature(impl.BoundedLoad).parameters
    assert [(p.name, p.kind) for p in params.values()] == [
        ("lb", inspect.Parameter.POSITIONAL_OR_KEYWORD),
        ("hash_balance_factor", inspect.Parameter.KEYWORD_ONLY),
    ]


def test_not_a_table(impl: Implementation) -> None:
    """Wrapping something that is not a table raises TypeError naming lb."""
    with pytest.raises(TypeError, match="lb"):
        impl.BoundedLoad(object(), hash_balance_factor=150)


def test_attributes_and_repr(impl: Implementation) -> None:
    """lb, hash_balance_factor, active and repr; the wrapper is immutable."""
    lb = impl.Maglev(_hosts(3), table_size=7)
    bl = impl.BoundedLoad(lb, hash_balance_factor=np.int64(125))
    assert bl.lb is lb and bl.hash_balance_factor == 125
    assert bl.active == (0, 0, 0)
    assert repr(bl) == f"BoundedLoad({lb!r}, hash_balance_factor=125)"
    with pytest.raises(AttributeError):
        bl.hash_balance_factor = 200  # type: ignore[misc]
    with pytest.raises(TypeError, match="immutable"):
        bl.__init__(lb, 300)


# ---- the overload rule ------------------------------------------------------------


def test_unloaded_first_choice_wins(impl: Implementation) -> None:
    """With no load every lookup is the table's own choice (attempts included)."""
    hosts = _hosts(6)
    lb = impl.Maglev(hosts, table_size=31)
    bl = impl.BoundedLoad(lb, hash_balance_factor=100)
    for h in range(200):
        for attempt in (0, 1, 2):
            assert bl.lookup(h, [0] * 6, attempt) is lb.lookup(h, attempt)


def test_overloaded_host_is_replaced_in_probe_order(impl: Implementation) -> None:
    """An overloaded choice goes to the first acceptable candidate of probe_order(hash)."""
    hosts = _hosts(5)
    lb = impl.Maglev(hosts, table_size=101)
    bl = impl.BoundedLoad(lb, hash_balance_factor=150)
    for h in range(100):
        first = hosts.index(lb.lookup(h))
        active = [0] * 5
        active[first] = 10  # total 10: slots = ceil(((11 * 150 + 99) // 100) / 5) = 4
        order = [k for k in impl.module("bounded")._probe_order(h, 5) if k != first]
        assert bl.lookup(h, active) is hosts[order[0]]
        active[order[0]] = 4  # 4 / 4 = 1.0 is still acceptable
        assert bl.lookup(h, active) is hosts[order[0]]
        active[order[0]] = 5  # total 15: slots 5; 5 / 5 = 1.0 acceptable
        assert bl.lookup(h, active) is hosts[order[0]]
        active[order[0]] = 9
        assert bl.lookup(h, active) is hosts[order[1]]


def test_all_overloaded_least_loaded_wins(impl: Implementation) -> None:
    """If every host is overloaded, the least overloaded one is chosen (strict <)."""
    hosts = _hosts(4)
    lb = impl.Maglev(hosts, table_size=13)
    bl = impl.BoundedLoad(lb, hash_balance_factor=100)
    h = 12345
    first = hosts.index(lb.lookup(h))
    # total 800 -> total_slots 801, slots ceil(200.25) = 201 each
    active = [250, 250, 250, 250]
    active[first] = 50
    assert bl.lookup(h, active, total=2000) is hosts[first]  # total 2000: 501 slots, fine
    active = [300, 300, 300, 300]
    assert bl.lookup(h, active) is hosts[first]  # ties never beat the first choice
    lighter = [k for k in range(4) if k != first][1]
    active[lighter] = 260
    assert bl.lookup(h, active) is hosts[lighter]


def test_total_is_uint32(impl: Implementation) -> None:
    """The cluster-wide count is read as a uint32, like Envoy's gauge read."""
    hosts = _hosts(3)
    bl = impl.BoundedLoad(impl.Maglev(hosts, table_size=7), hash_balance_factor=100)
    for h in range(40):
        active = [3, 1, 2]
        assert bl.lookup(h, active, total=2**32 + 6) is bl.lookup(h, active, total=6)
        assert bl.lookup(h, active, total=2**32 - 1) is bl.lookup(h, active, total=2**33 - 1)


def test_empty_table(impl: Implementation) -> None:
    """An empty host set gives None (lookup and acquire)."""
    bl = impl.BoundedLoad(impl.Maglev([], table_size=7), hash_balance_factor=150)
    assert bl.lookup(5, []) is None
    with bl.acquire(5) as host:
        assert host is None
    assert bl.active == ()


def test_bad_lookup_input(impl: Implementation) -> None:
    """active must have one uint32 per host; hash and attempt are validated."""
    bl = impl.BoundedLoad(impl.Maglev(_hosts(3), table_size=7), hash_balance_factor=150)
    with pytest.raises(ValueError, match="one count per host"):
        bl.lookup(1, [0, 0])
    with pytest.raises(ValueError, match="active"):
        bl.lookup(1, [0, -1, 0])
    with pytest.raises(ValueError, match="active"):
        bl.lookup(1, [0, 2**32, 0])
    with pytest.raises(TypeError, match="active"):
        bl.lookup(1, [0, 1.5, 0])
    with pytest.raises(TypeError, match="active"):
        bl.lookup(1, 3)
    with pytest.raises(ValueError, match="hash"):
        bl.lookup(-1, [0, 0, 0])
    with pytest.raises(ValueError, match="attempt"):
        bl.lookup(1, [0, 0, 0], -1)
    with pytest.raises(ValueError, match="total"):
        bl.lookup(1, [0, 0, 0], total=-1)


def _check_against_reference(impl: Implementation, lb: Any, rng: random.Random) -> None:
    """Compare BoundedLoad.lookup with the statement-by-statement reference."""
    hosts = list(lb.hosts)
    for factor in (100, 101, 150, 250):
        bl = impl.BoundedLoad(lb, hash_balance_factor=factor)
        for _ in range(60):
            h = rng.getrandbits(64)
            attempt = rng.choice([0, 0, 1, 3])
            active = [rng.choice([0, 0, 1, 2, 5, 40]) for _ in hosts]
            total = rng.choice([None, sum(active), rng.getrandbits(33)])
            got = bl.lookup(h, active, attempt, total=total)
            first = lb.lookup(h, attempt)
            want = bounded_load_reference(
                None if first is None else hosts.index(first),
                h,
                active,
                list(lb.normalized_order),
                list(lb.normalized_weights),
                factor,
                sum(active) if total is None else total,
            )
            assert (None if got is None else hosts.index(got)) == want


def test_agrees_with_reference_on_maglev(impl: Implementation) -> None:
    """Random loads, hashes and factors on weighted/locality Maglev tables: reference agrees."""
    rng = random.Random(6)
    for n in (1, 2, 5, 17):
        hosts = [Host(f"10.2.0.{i}:80", rng.randint(1, 5), locality="ab"[i % 2]) for i in range(n)]
        _check_against_reference(impl, impl.Maglev(hosts, table_size=211), rng)
        lw = {"a": 3, "b": 1}
        _check_against_reference(impl, impl.Maglev(hosts, table_size=97, locality_weights=lw), rng)


def test_agrees_with_reference_on_ring_hash(impl: Implementation) -> None:
    """BoundedLoad wraps RingHash through the same attributes; reference agrees."""
    rng = random.Random(7)
    hosts = [Host(f"10.3.0.{i}:80", rng.randint(1, 4)) for i in range(9)]
    ring = impl.RingHash(hosts, min_ring_size=64)
    _check_against_reference(impl, ring, rng)


# ---- acquire / release ---------------------------------------------------------------


def test_acquire_counts_and_releases(impl: Implementation) -> None:
    """acquire counts a request until the block ends; release(host) undoes acquire."""
    hosts = _hosts(3)
    bl = impl.BoundedLoad(impl.Maglev(hosts, table_size=7), hash_balance_factor=100)
    lease = bl.acquire(0)
    i = hosts.index(lease.host)
    assert bl.active[i] == 1
    with lease as host:
        assert host is lease.host
    assert bl.active == (0, 0, 0)
    lease.release()  # idempotent
    assert bl.active == (0, 0, 0)
    second = bl.acquire(0)
    bl.release(second.host)
    assert bl.active == (0, 0, 0)
    with pytest.raises(ValueError, match="no request in flight"):
        bl.release(second.host)
    with pytest.raises(AttributeError):  # a lease's host is read-only
        second.host = hosts[0]  # type: ignore[misc]
    with pytest.raises(TypeError, match="Lease"):
        type(second).__new__(type(second)).host  # noqa: B018 - not initialised
    with pytest.raises(ValueError, match="not in this table"):
        bl.release(Host("10.9.9.9:1"))
    assert "Lease" in repr(second)


def test_acquire_spreads_load(impl: Implementation) -> None:
    """Held requests push later acquires of the same hash to other hosts (factor 100)."""
    hosts = _hosts(4)
    bl = impl.BoundedLoad(impl.Maglev(hosts, table_size=13), hash_balance_factor=100)
    leases = [bl.acquire(77) for _ in range(40)]
    # the cap before the 40th acquire: ceil(((39 + 1) * 100 + 99) // 100 * 0.25) = 10, so <= 11
    assert sum(bl.active) == 40 and max(bl.active) <= 11 and min(bl.active) >= 1
    for lease in leases:
        lease.release()
    assert bl.active == (0, 0, 0, 0)


def test_acquire_is_thread_safe(impl: Implementation) -> None:
    """Concurrent acquire/release never fail and leave every count at zero."""
    hosts = _hosts(5)
    bl = impl.BoundedLoad(impl.Maglev(hosts, table_size=31), hash_balance_factor=125)
    errors: list[BaseException] = []

    def worker(seed: int) -> None:
        rng = random.Random(seed)
        try:
            for _ in range(300):
                with bl.acquire(rng.getrandbits(64)) as host:
                    assert host in hosts
        except BaseException as e:  # pragma: no cover - reported below
            errors.append(e)

    threads = [threading.Thread(target=worker, args=(s,)) for s in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    assert bl.active == (0, 0, 0, 0, 0)
