"""Maglev: Envoy's vectors, golden tables, API contract and bad input, on both twins."""

from __future__ import annotations

import functools
import json
import math
import pickle
import random
import threading
from typing import Any

import numpy as np
import pytest
import xxhash

from hashlb import ConfigError, Host
from hashlb._weights import prepare

from ._impl import Implementation
from ._vectors import GOLDEN_DIR, envoy_vectors
from .reference import maglev_reference, maglev_rounds_reference

GOLDEN = GOLDEN_DIR


MAGLEV_CASES = {c["name"]: c for c in envoy_vectors()["maglev"]}
GOLDEN_CASES = json.loads((GOLDEN / "maglev_small.json").read_text())["cases"]
M64 = 2**64 - 1


def _hosts(case: dict[str, Any]) -> list[Host]:
    """Return the Hosts of a vector case (its hash keys are the addresses)."""
    return [Host(h["hash_key"], h["weight"]) for h in case["hosts"]]


# ---- Envoy's vectors ------------------------------------------------------------


def test_vector_cases_all_covered() -> None:
    """Every Maglev case of envoy-vectors.json has a test here."""
    assert set(MAGLEV_CASES) == {
        "Basic",
        "Weighted",
        "SingleHost / WeightedSingleHost",
        "NoPrimeNumber",
        "DocsWeights1to2",
    }


@pytest.mark.parametrize("name", ["Basic", "Weighted"])
def test_envoy_table_vectors(impl: Implementation, name: str) -> None:
    """Basic and Weighted: the exact table, counts, gauges and lookups h = 0 .. 3M-1."""
    case = MAGLEV_CASES[name]
    exp = case["expected"]
    m = case["config"]["table_size"]
    lb = impl.Maglev(_hosts(case), table_size=m)
    assert list(lb.table) == exp["maglev_table"]
    assert list(lb.entries_per_host) == exp["entries_per_host"]
    assert lb.min_entries_per_host == exp["min_entries_per_host"]
    assert lb.max_entries_per_host == exp["max_entries_per_host"]
    for h in range(3 * m):
        assert lb.lookup(h) is lb.hosts[exp["maglev_table"][h % m]]


def test_envoy_basic_after_shuffling(impl: Implementation) -> None:
    """Basic (BasicStability): any host order gives the same host per slot."""
    case = MAGLEV_CASES["Basic"]
    hosts = _hosts(case)
    want = [hosts[i] for i in case["expected"]["maglev_table"]]
    rng = random.Random(20703)
    for _ in range(10):
        shuffled = hosts[:]
        rng.shuffle(shuffled)
        lb = impl.Maglev(shuffled, table_size=7)
        assert [lb.hosts[i] for i in lb.table] == want


def test_envoy_single_host(impl: Implementation) -> None:
    """SingleHost/WeightedSingleHost: always host 0; gauges 1/1, entries_per_host = (M,)."""
    case = MAGLEV_CASES["SingleHost / WeightedSingleHost"]
    lb = impl.Maglev(_hosts(case), table_size=17)
    assert lb.min_entries_per_host == case["expected"]["min_entries_per_host"] == 1
    assert lb.max_entries_per_host == case["expected"]["max_entries_per_host"] == 1
    assert lb.entries_per_host == (17,)
    assert list(lb.table) == [0] * 17
    for h in [*range(60), M64, 2**63]:
        assert lb.lookup(h) is lb.hosts[0]
        assert lb.lookup(h, attempt=3) is lb.hosts[0]


def test_envoy_no_prime_number(impl: Implementation) -> None:
    """NoPrimeNumber: Envoy's message, plus the field name."""
    case = MAGLEV_CASES["NoPrimeNumber"]
    with pytest.raises(ConfigError, match=case["expected"]["error"]) as e:
        impl.Maglev([Host("127.0.0.1:90")], table_size=case["config"]["table_size"])
    assert "table_size" in str(e.value)
    assert isinstance(e.value, ValueError)


@pytest.mark.parametrize("keys", [("127.0.0.1:90", "127.0.0.1:91"), ("a", "b")])
def test_envoy_docs_weights_1_to_2(impl: Implementation, keys: tuple[str, str]) -> None:
    """DocsWeights1to2: weights 1 and 2 at M=65537 give 21846 and 43691 slots."""
    case = MAGLEV_CASES["DocsWeights1to2"]
    lb = impl.Maglev([Host(keys[0], 1), Host(keys[1], 2)], table_size=65537)
    assert list(lb.entries_per_host) == case["expected"]["entries_per_host"]
    assert (lb.min_entries_per_host, lb.max_entries_per_host) == (21846, 43691)


# ---- golden tables and the reference model --------------------------------------


@pytest.mark.parametrize("case", GOLDEN_CASES, ids=lambda c: c["name"])
def test_golden_tables(impl: Implementation, case: dict[str, Any]) -> None:
    """tests/golden/maglev_small.json (localities, key ties, hostnames, weights) holds."""
    lb = impl.Maglev([Host(**h) for h in case["hosts"]], **case["options"])
    assert list(lb.table) == case["expected"]["maglev_table"]
    assert list(lb.entries_per_host) == case["expected"]["entries_per_host"]


def test_benchmark_hosts_match_reference(impl: Implementation) -> None:
    """Envoy's benchmark hosts (10.0.i/256.i%256:6379), 50 hosts, M=1009: reference table."""
    hosts = [Host(f"10.0.{i // 256}.{i % 256}:6379") for i in range(50)]
    lb = impl.Maglev(hosts, table_size=1009)
    prep = prepare(hosts)
    table, counts = maglev_reference(list(prep.keys), list(prep.order), list(prep.weights), 1009)
    assert list(lb.table) == table
    assert list(lb.entries_per_host) == counts
    assert {*counts} <= {1009 // 50, 1009 // 50 + 1}


# ---- skewed weights (issue 10: build cost O(M x hosts)) -------------------------


def _skewed_hosts(n_light: int) -> list[Host]:
    """The reproducer's hosts: *n_light* weight-1 hosts, then one of weight 2**32-1-n_light."""
    hosts = [Host(f"10.{i >> 16 & 255}.{i >> 8 & 255}.{i & 255}:80") for i in range(n_light)]
    hosts.append(Host("10.255.255.255:80", 2**32 - 1 - n_light))
    return hosts


@functools.cache
def _skewed_reference(n_light: int, m: int) -> tuple[tuple[int, ...], tuple[int, ...]]:
    """Envoy's round-by-round fill of ``_skewed_hosts(n_light)`` (computed once per run)."""
    prep = prepare(_skewed_hosts(n_light))
    table, counts = maglev_rounds_reference(
        list(prep.keys), list(prep.order), list(prep.weights), m
    )
    return tuple(table), tuple(counts)


@pytest.mark.parametrize("heap_above", [None, 0.0, math.inf], ids=["auto", "due", "scan"])
def test_skewed_weights_moderate_size_equals_reference(
    impl: Implementation, heap_above: float | None
) -> None:
    """maglev_weight_dos.py at a moderate size (300 light hosts, M=4099): Envoy's table."""
    mod = impl.module("maglev")
    old = mod._HEAP_ABOVE
    if heap_above is not None:
        mod._HEAP_ABOVE = heap_above
    try:
        lb = impl.Maglev(_skewed_hosts(300), table_size=4099)
    finally:
        mod._HEAP_ABOVE = old
    table, counts = _skewed_reference(300, 4099)
    assert tuple(lb.table) == table
    assert lb.entries_per_host == counts
    assert counts[:300] == (1,) * 300 and counts[300] == 4099 - 300


def test_skewed_weights_full_size_builds(impl: Implementation) -> None:
    """maglev_weight_dos.py itself (4,000 light hosts + 1 heavy, M=655373) builds.

    Each light host gets its round-1 slot and is not due again before the
    table is full (its next turn is round ~2**32); the heavy host takes the
    rest.  The heavy host's slots are its first free permutation positions.
    """
    m = 655373
    lb = impl.Maglev(_skewed_hosts(4000), table_size=m)
    assert lb.entries_per_host == (1,) * 4000 + (m - 4000,)
    assert (lb.min_entries_per_host, lb.max_entries_per_host) == (1, m - 4000)
    table = np.asarray(lb.table)
    assert np.count_nonzero(table == 4000) == m - 4000
    assert len(np.unique(table[table != 4000])) == 4000


def test_next_due_at_rounding_edges(impl: Implementation) -> None:
    """_next_due where ``ceil(target / weight)`` is off by one: Envoy's test decides.

    Targets at ``t * w`` and one ulp either side, for random normalized
    weights: about 4% of them are cases where the division's guess is
    wrong, and the next turn must still be the first round that passes
    ``not (t * w < target)``.
    """
    next_due = impl.module("maglev")._next_due
    rng = random.Random(11)
    edges = 0
    for _ in range(4000):
        total = rng.randint(2, 2**32 - 1)
        w = (rng.randint(1, total) * 1.0) / total
        t = rng.randint(1, 10**6)
        for target in (t * w, math.nextafter(t * w, math.inf), math.nextafter(t * w, -math.inf)):
            lo = rng.choice([1, max(1, t - 2)])
            r = next_due(w, target, lo)
            assert lo <= r and not r * w < target
            assert r == lo or (r - 1) * w < target
            edges += max(lo, math.ceil(target / w)) != r
    assert edges >= 100  # the guess alone would have been wrong this often


@pytest.mark.c_extension
def test_skewed_weights_full_size_twins_agree() -> None:
    """The compiled and pure twins build the same full-size skewed table, slot for slot."""
    from hashlb import _maglev_c, _maglev_py

    hosts = _skewed_hosts(4000)
    a = _maglev_c.Maglev(hosts, table_size=655373)
    b = _maglev_py.Maglev(hosts, table_size=655373)
    assert bytes(a.table) == bytes(b.table)


# ---- lookups, retries, pick -----------------------------------------------------


def test_retry_attempts_xor_the_hash(impl: Implementation) -> None:
    """lookup(h, attempt=k) == table[(h ^ (2**64 - k)) % M] (spec §5.3)."""
    hosts = [Host(f"10.0.0.{i}:80") for i in range(7)]
    lb = impl.Maglev(hosts, table_size=101)
    table = list(lb.table)
    rng = random.Random(5)
    for h in [0, 1, M64, *(rng.getrandbits(64) for _ in range(200))]:
        assert lb.lookup(h) is hosts[table[h % 101]]
        assert lb.lookup(h, 0) is lb.lookup(h)
        assert lb.lookup(h, attempt=1) is hosts[table[(h ^ M64) % 101]]
        assert lb.lookup(h, attempt=2) is hosts[table[(h ^ (M64 - 1)) % 101]]
        assert lb.lookup(h, 2**32 - 1) is hosts[table[(h ^ (2**64 - 2**32 + 1)) % 101]]


def _edge_hashes(m: int) -> list[int]:
    """Return hashes around multiples of m, powers of two and 2**64."""
    out = {0, 1, m - 1, m, m + 1, 2 * m - 1, M64, M64 - 1, 2**63, 2**63 - 1, 2**32, 2**32 - 1}
    for k in (2**31, 2**32, 2**33, 2**40, 2**52, 2**53, 2**63 // m, M64 // m):
        for d in (-1, 0, 1):
            out.update({max(0, min(M64, k * m + d)), max(0, min(M64, k + d))})
    return sorted(out)


def test_fastmod_equals_modulo(impl: Implementation) -> None:
    """The compiled reduction (hlb_fastmod) equals h % M on edge values, for several M."""
    sizes = [2, 3, 7, 65537, 65539]
    if not impl.is_pure_python:  # large tables: the pure twin's fill is slow, not wrong
        sizes += [1_000_003, 5_000_011]
    for m in sizes:
        hosts = [Host("10.0.0.1:80"), Host("10.0.0.2:80"), Host("10.0.0.3:80")]
        lb = impl.Maglev(hosts, table_size=m)
        table = lb.table
        hashes = _edge_hashes(m)
        want = [table[h % m] for h in hashes]
        assert [hosts.index(lb.lookup(h)) for h in hashes] == want
        assert list(lb.lookup_many(hashes)) == want
        assert list(lb.lookup_many(np.array(hashes, dtype=np.uint64))) == want


def test_pick_is_lookup_of_xxh64(impl: Implementation) -> None:
    """pick(key) == lookup(xxh64(key)); str is hashed as UTF-8; buffers are accepted."""
    lb = impl.Maglev([Host(f"10.0.0.{i}:80") for i in range(9)], table_size=211)
    for key in ["", "a", "user-42", "ünïcødé ✓", "x" * 100]:
        h = xxhash.xxh64_intdigest(key.encode())
        assert lb.pick(key) is lb.lookup(h)
        assert lb.pick(key.encode()) is lb.lookup(h)
        assert lb.pick(bytearray(key.encode())) is lb.lookup(h)
        assert lb.pick(memoryview(key.encode())) is lb.lookup(h)


def test_numpy_ints_accepted(impl: Implementation) -> None:
    """numpy integers work as hash and attempt (via __index__)."""
    lb = impl.Maglev([Host("10.0.0.1:80"), Host("10.0.0.2:80")], table_size=7)
    assert lb.lookup(np.uint64(M64)) is lb.lookup(M64)
    assert lb.lookup(np.uint64(9), np.int64(1)) is lb.lookup(9, 1)


# ---- batch calls ----------------------------------------------------------------


def test_empty_host_set(impl: Implementation) -> None:
    """No hosts: lookups give None, batch calls an empty array, the table is empty."""
    lb = impl.Maglev([], table_size=7)
    assert lb.lookup(5) is None and lb.lookup(5, attempt=2) is None
    assert lb.pick("k") is None
    assert lb.lookup_many([1, 2, 3]).tolist() == []
    assert lb.lookup_many(np.array([1, 2], dtype=np.uint64)).tolist() == []
    assert lb.pick_many(["a", "b"]).tolist() == []
    assert len(lb) == 0 and len(lb.table) == 0 and lb.nbytes == 0
    assert lb.entries_per_host == () and lb.hosts == ()
    assert (lb.min_entries_per_host, lb.max_entries_per_host) == (0, 0)
    assert lb.table_size == 7


# ---- configuration: keys, localities, sizes, storage ----------------------------


def test_hash_key_choice(impl: Implementation) -> None:
    """hash_key wins, then hostname with use_hostname, else address (spec §2)."""
    a = [Host("10.0.0.1:80", hostname="alpha"), Host("10.0.0.2:80", hostname="beta")]
    by_name = impl.Maglev(a, table_size=13, use_hostname=True)
    plain = impl.Maglev([Host("alpha"), Host("beta")], table_size=13)
    assert list(by_name.table) == list(plain.table)
    keyed = impl.Maglev(
        [Host("10.9.9.9:1", hash_key="alpha"), Host("10.9.9.8:1", hash_key="beta")], table_size=13
    )
    assert list(keyed.table) == list(plain.table)


def test_locality_weights(impl: Implementation) -> None:
    """Weights normalize per locality; a zero-weight locality gets no slots (spec §3)."""
    hosts = [
        Host("10.0.0.1:80", locality="a"),
        Host("10.0.0.2:80", locality="b"),
        Host("10.0.0.3:80", locality="b"),
        Host("10.0.0.4:80", locality="c"),
    ]
    lb = impl.Maglev(hosts, table_size=1009, locality_weights={"a": 1, "b": 1, "c": 0})
    e = lb.entries_per_host
    assert e[3] == 0 and sum(e) == 1009
    assert abs(e[0] - 2 * e[1]) <= 3 and abs(e[1] - e[2]) <= 2
    assert lb.normalized_order == (0, 1, 2)
    assert lb.normalized_weights == (0.5, 0.25, 0.25)
    assert 3 not in set(lb.table)
    none = impl.Maglev(hosts, table_size=7, locality_weights={"a": 0, "b": 0, "c": 0})
    assert none.lookup(1) is None and len(none) == 0


def test_storage_is_two_bytes_per_slot(impl: Implementation) -> None:
    """Below 65,536 hosts the table is uint16: nbytes == 2 * M (memory cap)."""
    lb = impl.Maglev([Host(f"10.0.{i // 256}.{i % 256}:80") for i in range(300)], table_size=65537)
    assert lb.table.itemsize == 2 and lb.table.format == "H"
    assert lb.nbytes == 2 * 65537 == 2 * len(lb)
    assert lb.nbytes / lb.table_size <= 2


def test_storage_widens_at_65536_hosts(impl: Implementation) -> None:
    """With 65,536 hosts the table is uint32 (host index 65535 must fit)."""
    hosts = [Host(f"10.{i // 65536}.{i // 256 % 256}.{i % 256}:80") for i in range(65536)]
    lb = impl.Maglev(hosts, table_size=65537)
    assert lb.table.itemsize == 4 and lb.nbytes == 4 * 65537
    assert sorted(set(lb.entries_per_host)) == [1, 2]
    assert 65535 in set(lb.table)


@pytest.mark.parametrize("size", [8, 9, 65536, 1, 0, -7, 5_000_012, 5_000_017, 2**64])
def test_bad_table_size(impl: Implementation, size: int) -> None:
    """Non-prime, < 2 or > 5,000,011 table sizes raise ValueError naming table_size."""
    with pytest.raises(ValueError, match="table_size") as e:
        impl.Maglev([Host("10.0.0.1:80")], table_size=size)
    assert str(size) in str(e.value)


def test_largest_and_smallest_table_sizes(impl: Implementation) -> None:
    """2 and 5,000,011 (both prime) are accepted."""
    assert impl.Maglev([Host("a"), Host("b")], table_size=2).table_size == 2
    assert impl.Maglev([], table_size=5_000_011).table_size == 5_000_011


@pytest.mark.parametrize("size", [7.0, "7", None, True])
def test_table_size_type(impl: Implementation, size: object) -> None:
    """A table size that is not an int raises TypeError naming table_size."""
    with pytest.raises(TypeError, match="table_size"):
        impl.Maglev([Host("10.0.0.1:80")], table_size=size)


def test_bad_hosts(impl: Implementation) -> None:
    """Hosts must be Host objects; weight sums must fit uint32; localities must be known."""
    with pytest.raises(TypeError, match=r"hosts\[1\]"):
        impl.Maglev([Host("a"), "10.0.0.1:80"], table_size=7)
    with pytest.raises(TypeError, match="hosts"):
        impl.Maglev("10.0.0.1:80", table_size=7)
    with pytest.raises(TypeError, match="hosts"):
        impl.Maglev(5, table_size=7)
    with pytest.raises(ValueError, match="sum of host weights"):
        impl.Maglev([Host("a", 2**32 - 1), Host("b", 1)], table_size=7)
    with pytest.raises(ValueError, match="locality"):
        impl.Maglev([Host("a", locality="x")], table_size=7, locality_weights={"y": 1})
    with pytest.raises(TypeError, match="use_hostname"):
        impl.Maglev([Host("a")], table_size=7, use_hostname="yes")


@pytest.mark.parametrize("weight", [0, -1, 2**32])
def test_bad_weight(weight: int) -> None:
    """A weight <= 0 or > 2**32 - 1 is rejected when the Host is made (field named)."""
    with pytest.raises(ValueError, match="weight"):
        Host("10.0.0.1:80", weight)


def test_bad_hash_and_attempt(impl: Implementation) -> None:
    """hash outside [0, 2**64) -> ValueError naming hash; attempt likewise; wrong types -> TypeError."""
    lb = impl.Maglev([Host("10.0.0.1:80")], table_size=7)
    for bad in (-1, 2**64, 2**70):
        with pytest.raises(ValueError, match="hash"):
            lb.lookup(bad)
    for bad_t in (1.0, "1", None, b"1"):
        with pytest.raises(TypeError, match="hash"):
            lb.lookup(bad_t)
    for bad in (-1, 2**32):
        with pytest.raises(ValueError, match="attempt"):
            lb.lookup(1, bad)
    for bad_t in (1.5, "1", None, True):
        with pytest.raises(TypeError, match="attempt"):
            lb.lookup(1, attempt=bad_t)
    empty = impl.Maglev([], table_size=7)
    with pytest.raises(ValueError, match="hash"):
        empty.lookup(-1)


# ---- object behaviour -----------------------------------------------------------


def test_immutable_repr_len_pickle(impl: Implementation) -> None:
    """Tables are immutable, have a repr and len, and pickle to an equal table."""
    hosts = [Host(f"10.0.0.{i}:80", i + 1, locality="z") for i in range(4)]
    lb = impl.Maglev(hosts, table_size=31, locality_weights={"z": 3})
    with pytest.raises(AttributeError):
        lb.table_size = 5  # type: ignore[misc]
    with pytest.raises(AttributeError):
        lb.hosts = ()  # type: ignore[misc]
    assert repr(lb) == "Maglev(4 hosts, table_size=31)"
    assert len(lb) == 31 == len(lb.table)
    with pytest.raises(TypeError):
        lb.table[0] = 1  # read-only view
    with pytest.raises(TypeError, match="immutable"):
        lb.__init__(hosts, table_size=7)
    clone = pickle.loads(pickle.dumps(lb))
    assert type(clone) is type(lb)
    assert list(clone.table) == list(lb.table) and clone.hosts == lb.hosts
    assert clone.normalized_weights == lb.normalized_weights


def test_tables_are_shareable_between_threads(impl: Implementation) -> None:
    """Threads look up in a shared table while other threads build and swap new ones."""
    base = [Host(f"10.0.0.{i}:80") for i in range(20)]
    m = 1009
    current = {"lb": impl.Maglev(base, table_size=m)}
    stop = threading.Event()
    errors: list[BaseException] = []
    hashes = np.arange(0, 4000, dtype=np.uint64) * np.uint64(0x9E3779B97F4A7C15)
    keys = [f"k{i}" for i in range(2000)]

    def reader() -> None:
        try:
            while not stop.is_set():
                lb = current["lb"]
                idx = lb.lookup_many(hashes)
                assert idx[:50].tolist() == [lb.hosts.index(lb.lookup(int(h))) for h in hashes[:50]]
                assert int(idx.max()) < len(lb.hosts)
                picks = lb.pick_many(keys)
                assert picks[7] == lb.hosts.index(lb.pick(keys[7]))
        except BaseException as e:  # pragma: no cover - reported below
            errors.append(e)

    def writer() -> None:
        try:
            rng = random.Random(1)
            for _ in range(15):
                hosts = rng.sample(base, rng.randint(1, len(base)))
                current["lb"] = impl.Maglev(hosts, table_size=m)
        except BaseException as e:  # pragma: no cover - reported below
            errors.append(e)

    readers = [threading.Thread(target=reader) for _ in range(3)]
    writers = [threading.Thread(target=writer) for _ in range(2)]
    for t in readers + writers:
        t.start()
    for t in writers:
        t.join()
    stop.set()
    for t in readers:
        t.join()
    assert errors == []


def test_table_size_limit_is_defined_once(impl: Implementation) -> None:
    """MAX_TABLE_SIZE and the table_size check live in hashlb._validate, shared by both twins."""
    from hashlb import _validate

    assert impl.module("maglev").MAX_TABLE_SIZE is _validate.MAX_TABLE_SIZE == 5_000_011
    with pytest.raises(
        ValueError, match=r"table_size must be a prime in \[2, 5000011\], got 5000012"
    ):
        impl.Maglev([], table_size=_validate.MAX_TABLE_SIZE + 1)
    with pytest.raises(ValueError, match=r"must be prime number \(table_size=9\)"):
        impl.Maglev([], table_size=9)
