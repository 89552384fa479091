"""RingHash: Envoy's vectors, the spec's quirks, bad input and the API, on both twins."""

from __future__ import annotations

import array
import functools
import json
import math
import pickle
import random
import statistics
import struct
import threading
from bisect import bisect_left
from typing import Any

import numpy as np
import pytest
import xxhash

from hashlb import Host

from ._impl import Implementation
from ._vectors import GOLDEN_DIR, envoy_vectors

GOLDEN = GOLDEN_DIR
M64 = 2**64 - 1


def _host(spec: dict[str, Any]) -> Host:
    """Build a Host from a vector's host entry (``hash_key`` doubles as the address)."""
    return Host(
        spec.get("address", spec.get("hash_key")),
        spec["weight"],
        hostname=spec.get("hostname"),
        hash_key=spec.get("hash_key") if "address" in spec else None,
        locality=spec.get("locality"),
    )


def _build(impl: Implementation, case: dict[str, Any]) -> Any:
    """Build the case's ring through the public API."""
    cfg = case["config"]
    kw: dict[str, Any] = {
        "min_ring_size": cfg["min_ring_size"],
        "hash_function": cfg["hash_function"].lower(),
    }
    if "max_ring_size" in cfg:
        kw["max_ring_size"] = cfg["max_ring_size"]
    return impl.RingHash(
        [_host(h) for h in case["hosts"]],
        use_hostname=case.get("use_hostname", False),
        locality_weights=case.get("locality_weights"),
        **kw,
    )


def _envoy_hosts(n: int, weight: int = 1) -> list[Host]:
    """Return Envoy's benchmark hosts ``10.0.{i/256}.{i%256}:6379`` (spec §12)."""
    return [Host(f"10.0.{i // 256}.{i % 256}:6379", weight) for i in range(n)]


@functools.lru_cache(maxsize=4)
def _envoy_keys(n: int) -> np.ndarray:
    """Return Envoy's benchmark keys: xxHash64 of the 8 little-endian bytes of i."""
    return np.array([xxhash.xxh64_intdigest(struct.pack("<Q", i)) for i in range(n)], np.uint64)


def _index(lb: Any, host: Host | None) -> int | None:
    """Map a returned Host back to its index by identity."""
    if host is None:
        return None
    return next(i for i, h in enumerate(lb.hosts) if h is host)


def _bisect_indices(lb: Any, hashes: list[int], attempt: int = 0) -> list[int]:
    """Return the host indices that bisect_left on the public ring gives."""
    ring = lb.ring
    keys = [e[0] for e in ring]
    n = len(ring)
    out = []
    for h in hashes:
        p = bisect_left(keys, h)
        out.append(int(ring[((p if p < n else 0) + attempt) % n][1]))
    return out


# -- Envoy's vectors and the spec's numbers ----------------------------------------------------

RING_CASES = envoy_vectors()["ring_hash"]
SMALL_CASES = json.loads((GOLDEN / "ring_small.json").read_text())["cases"]


@pytest.mark.parametrize("case", RING_CASES + SMALL_CASES, ids=lambda c: c["name"])
def test_vector_cases(impl: Implementation, case: dict[str, Any]) -> None:
    """Every ring case of envoy-vectors.json and ring_small.json holds: ring, gauges, lookups."""
    lb = _build(impl, case)
    exp = case["expected"]
    assert lb.ring_size == exp["ring_size_stat"]
    assert lb.min_entries_per_host == exp["min_hashes_per_host"]
    assert lb.max_entries_per_host == exp["max_hashes_per_host"]
    assert list(lb.entries_per_host) == exp["entries_per_host"]
    assert len(lb) == sum(exp["entries_per_host"])
    if "ring" in exp:
        assert [list(e) for e in lb.ring] == exp["ring"]
    for probe in exp["lookups"]:
        got = lb.lookup(probe["hash"], probe.get("attempt", 0))
        assert _index(lb, got) == probe["expected_host_index"], probe


def test_large_fractional_scale_distribution(impl: Implementation) -> None:
    """LargeFractionalScale: 1023 evenly spaced probes hit the two hosts 526 / 497 times."""
    case = next(c for c in RING_CASES if c["name"] == "LargeFractionalScale")
    lb = _build(impl, case)
    dist = case["expected"]["distribution"]
    n = dist["N"]
    step = M64 // n
    hits = [0, 0]
    for i in range(n):
        hits[_index(lb, lb.lookup(i * step))] += 1  # type: ignore[index]
    assert hits == dist["hits_per_host"]
    batch = lb.lookup_many(np.arange(n, dtype=np.uint64) * np.uint64(step))
    assert np.bincount(batch, minlength=2).tolist() == dist["hits_per_host"]


def test_75_host_quirk(impl: Implementation) -> None:
    """75 equal hosts, default sizes: host 0 gets 15 entries, 1051 in all, gauge 1050."""
    lb = impl.RingHash([Host(f"10.0.0.{i}:80") for i in range(75)])
    assert lb.entries_per_host[0] == 15
    assert set(lb.entries_per_host[1:]) == {14}
    assert len(lb) == 1051
    assert lb.ring_size == 1050
    assert (lb.min_entries_per_host, lb.max_entries_per_host) == (14, 15)


def test_ring_size_gauge_is_a_deprecated_alias(impl: Implementation) -> None:
    """``ring_size_gauge`` still reads ``ring_size`` for one release, with a DeprecationWarning."""
    lb = impl.RingHash([Host(f"h{i}:1") for i in range(75)])
    with pytest.warns(
        DeprecationWarning, match=r"RingHash.ring_size_gauge .*use RingHash.ring_size"
    ) as rec:
        old = lb.ring_size_gauge
    assert rec[0].filename == __file__
    assert old == lb.ring_size == 1050 and len(lb) == 1051


def test_quirk_host_counts_below_200(impl: Implementation) -> None:
    """The host counts N < 200 whose ring outgrows its gauge are exactly spec §4.2's list."""
    quirky = [
        n
        for n in range(1, 200)
        if len(lb := impl.RingHash([Host(f"h{i}:1") for i in range(n)])) != lb.ring_size
    ]
    assert quirky == [75, 77, 91, 93, 99, 105, 117, 150, 154, 182, 186, 198]


@pytest.mark.parametrize(
    ("n", "ring", "counts"),
    [(4, 6, [2, 1, 2, 1]), (2, 1023, [512, 511]), (3, 1, [1, 0, 0])],
)
def test_fractional_counts_follow_host_order(
    impl: Implementation, n: int, ring: int, counts: list[int]
) -> None:
    """Fractional scale*w: counts follow host order (spec §4.2 examples; a host may get 0)."""
    hosts = [Host(f"10.0.0.{i}:80") for i in range(n)]
    lb = impl.RingHash(hosts, min_ring_size=ring, max_ring_size=ring)
    assert list(lb.entries_per_host) == counts
    assert lb.min_entries_per_host == min(counts)


@pytest.mark.parametrize(
    ("n_hosts", "stddev"), [(100, 44.9153), (200, 36.9708), (500, 22.6168)], ids=str
)
def test_envoy_benchmark_stddev(impl: Implementation, n_hosts: int, stddev: float) -> None:
    """Envoy's ChooseHost benchmark (min ring 65536, 100k keys) gives its published stddev_hits."""
    lb = impl.RingHash(_envoy_hosts(n_hosts), min_ring_size=65536)
    hits = np.bincount(lb.lookup_many(_envoy_keys(100_000)), minlength=n_hosts)
    assert round(statistics.pstdev(hits.tolist()), 4) == stddev


@pytest.mark.parametrize("ring", [65536, 256000])
def test_envoy_host_loss(impl: Implementation, ring: int) -> None:
    """Envoy's HostLoss scenario (500 hosts, lose the last 1-3): moves are bounded and explained.

    With ring 65536 every survivor keeps its 132 entries, so only the lost
    hosts' keys move (0.15/0.34/0.46% vs optimal 0.2/0.4/0.6).  With 256000
    each survivor grows from 512 to 514 entries (the scale effect Envoy also
    has): keys also move to those new entries (0.53/0.96/1.34%).  The moved
    share is bounded by the lost hosts' share plus the new entries' share.
    """
    keys = _envoy_keys(10_000)
    before_lb = impl.RingHash(_envoy_hosts(500), min_ring_size=ring)
    before = np.asarray(before_lb.lookup_many(keys))
    for lose in (1, 2, 3):
        after_lb = impl.RingHash(_envoy_hosts(500 - lose), min_ring_size=ring)
        after = np.asarray(after_lb.lookup_many(keys))
        moved = before != after
        lost = before >= 500 - lose
        grown = sum(
            max(0, a - b)
            for a, b in zip(after_lb.entries_per_host, before_lb.entries_per_host, strict=False)
        )
        if grown == 0:
            assert (moved == lost).all()
        bound = lost.mean() + grown / len(after_lb) + 4 * math.sqrt(grown / len(after_lb) / 10_000)
        assert moved.mean() <= bound
        assert moved.mean() <= 2.5 * lose / 500 + 0.001


# -- bad input --------------------------------------------------------------------------------


def test_min_greater_than_max(impl: Implementation) -> None:
    """min_ring_size > max_ring_size raises the spec's message."""
    with pytest.raises(
        ValueError, match=r"ring hash: minimum_ring_size \(20\) > maximum_ring_size \(10\)"
    ):
        impl.RingHash([Host("a:1")], min_ring_size=20, max_ring_size=10)


@pytest.mark.parametrize("field", ["min_ring_size", "max_ring_size"])
@pytest.mark.parametrize("value", [0, -1, 8388609, 2**64])
def test_ring_size_range(impl: Implementation, field: str, value: int) -> None:
    """A ring size outside [1, 8388608] raises ValueError naming the field."""
    kw = {"min_ring_size": 1, field: value}
    with pytest.raises(ValueError, match=rf"{field} must be in \[1, 8388608\], got {value}"):
        impl.RingHash([Host("a:1")], **kw)


@pytest.mark.parametrize("field", ["min_ring_size", "max_ring_size"])
@pytest.mark.parametrize("value", ["1024", 1024.0, True, None])
def test_ring_size_type(impl: Implementation, field: str, value: object) -> None:
    """A ring size that is not an int raises TypeError naming the field."""
    with pytest.raises(TypeError, match=f"{field} must be an int"):
        impl.RingHash([Host("a:1")], **{field: value})


def test_ring_size_accepts_index(impl: Implementation) -> None:
    """Ring sizes accept any __index__ integer (numpy ints included)."""
    lb = impl.RingHash([Host("a:1")], min_ring_size=np.int64(8), max_ring_size=np.uint32(8))
    assert len(lb) == 8 and lb.min_ring_size == 8 and type(lb.max_ring_size) is int


@pytest.mark.parametrize("value", ["XX_HASH", "murmur", "", None, 1, b"xx_hash"])
def test_unknown_hash_function(impl: Implementation, value: object) -> None:
    """An unknown hash_function raises ValueError naming hash_function."""
    with pytest.raises(ValueError, match="hash_function must be 'xx_hash' or 'murmur_hash_2'"):
        impl.RingHash([Host("a:1")], hash_function=value)


def test_bad_hosts(impl: Implementation) -> None:
    """Hosts that are not Host objects raise TypeError naming the position."""
    with pytest.raises(TypeError, match=r"hosts\[1\] must be a Host, not str"):
        impl.RingHash([Host("a:1"), "b:1"])
    with pytest.raises(TypeError, match="hosts must be an iterable of Host"):
        impl.RingHash("a:1")
    with pytest.raises(TypeError, match="hosts must be an iterable of Host"):
        impl.RingHash(Host("a:1"))
    with pytest.raises(TypeError, match="use_hostname must be a bool"):
        impl.RingHash([Host("a:1")], use_hostname=1)


def test_bad_weights(impl: Implementation) -> None:
    """Weights out of range or summing above 2**32 - 1 are rejected."""
    with pytest.raises(ValueError, match="weight"):
        impl.RingHash([Host("a:1", 0)])
    with pytest.raises(ValueError, match=r"sum of host weights must be <= 2\*\*32 - 1"):
        impl.RingHash([Host("a:1", 2**32 - 1), Host("b:1", 1)])


def test_bad_localities(impl: Implementation) -> None:
    """A host locality missing from locality_weights, or a bad weight, raises ValueError."""
    with pytest.raises(ValueError, match="missing from locality_weights"):
        impl.RingHash([Host("a:1", locality="z1")], locality_weights={"z2": 1})
    with pytest.raises(ValueError, match="has no locality"):
        impl.RingHash([Host("a:1")], locality_weights={"z2": 1})
    with pytest.raises(ValueError, match=r"locality_weights\['z1'\]"):
        impl.RingHash([Host("a:1", locality="z1")], locality_weights={"z1": -1})


@pytest.mark.parametrize("bad", [-1, 2**64, 2**70, -(2**64)])
def test_hash_out_of_range(impl: Implementation, bad: int) -> None:
    """A hash outside [0, 2**64) raises ValueError naming hash (also on an empty ring)."""
    for hosts in ([Host("a:1")], []):
        with pytest.raises(ValueError, match=r"hash must be in \[0, 2\*\*64\)"):
            impl.RingHash(hosts).lookup(bad)


@pytest.mark.parametrize("bad", ["1", 1.0, None, True])
def test_hash_type(impl: Implementation, bad: object) -> None:
    """A hash that is not an int raises TypeError naming hash."""
    with pytest.raises(TypeError, match="hash must be an int"):
        impl.RingHash([Host("a:1")]).lookup(bad)


def test_hash_accepts_index(impl: Implementation) -> None:
    """numpy integers are valid hashes (via __index__)."""
    lb = impl.RingHash([Host(f"h{i}:1") for i in range(5)])
    assert lb.lookup(np.uint64(M64)) is lb.lookup(M64)
    assert lb.lookup(np.int64(7)) is lb.lookup(7)


def test_bad_attempt(impl: Implementation) -> None:
    """attempt must be an int in [0, 2**32): TypeError/ValueError naming attempt."""
    lb = impl.RingHash([Host("a:1")])
    for bad in (-1, 2**32):
        with pytest.raises(ValueError, match=r"attempt must be in \[0, 2\*\*32\)"):
            lb.lookup(0, bad)
    for bad in (1.0, "1", None, True):
        with pytest.raises(TypeError, match="attempt must be an int"):
            lb.lookup(0, bad)
    assert lb.lookup(0, 2**32 - 1) is lb.hosts[0]
    assert lb.lookup(0, attempt=np.uint8(3)) is lb.hosts[0]


# -- the empty host set and localities ------------------------------------------------------


def test_empty_host_set(impl: Implementation) -> None:
    """No hosts: lookups return None, batches are empty, gauges read 0."""
    lb = impl.RingHash([])
    assert lb.lookup(5) is None and lb.lookup(0, 3) is None and lb.pick("k") is None
    assert len(lb.lookup_many([1, 2, 3])) == 0
    out = lb.lookup_many(np.array([1, 2], dtype=np.uint64))
    assert isinstance(out, np.ndarray) and out.dtype == np.uint32 and out.size == 0
    assert len(lb.pick_many(["a", "b"])) == 0
    assert (len(lb), lb.ring, lb.entries_per_host, lb.nbytes) == (0, (), (), 0)
    assert (lb.min_entries_per_host, lb.max_entries_per_host, lb.ring_size) == (0, 0, 0)
    assert (lb.normalized_order, lb.normalized_weights) == ((), ())


def test_zero_weight_localities(impl: Implementation) -> None:
    """Zero-weight localities contribute nothing; all-zero gives an empty ring."""
    hosts = [Host("a:1", locality="z0"), Host("b:1", locality="z1"), Host("c:1", locality="z1")]
    lb = impl.RingHash(hosts, locality_weights={"z0": 0, "z1": 5})
    assert lb.entries_per_host == (0, 512, 512)
    assert (lb.min_entries_per_host, lb.max_entries_per_host) == (512, 512)
    assert lb.normalized_order == (1, 2)
    assert all(lb.lookup(h) is not hosts[0] for h in (0, 2**40, 2**63, M64))
    empty = impl.RingHash(hosts, locality_weights={"z0": 0, "z1": 0})
    assert len(empty) == 0 and empty.lookup(1) is None and empty.entries_per_host == (0, 0, 0)


def test_locality_mapping_order(impl: Implementation) -> None:
    """Localities are iterated in the mapping's order, which changes fractional counts."""
    hosts = [Host(f"10.0.0.{i}:80", locality=f"z{i % 3}") for i in range(3)]
    kw: dict[str, Any] = {"min_ring_size": 4, "max_ring_size": 4}
    a = impl.RingHash(hosts, locality_weights={"z0": 1, "z1": 1, "z2": 1}, **kw)
    b = impl.RingHash(hosts, locality_weights={"z2": 1, "z1": 1, "z0": 1}, **kw)
    assert a.entries_per_host == (2, 1, 1)
    assert b.entries_per_host == (1, 1, 2)
    assert a.normalized_order == (0, 1, 2) and b.normalized_order == (2, 1, 0)


# -- ties, hostnames, retries ---------------------------------------------------------------


def test_tie_rule(impl: Implementation) -> None:
    """Equal entry hashes (a shared hash key) are ordered by host index; lookup takes the first."""
    hosts = [Host("b:1", hash_key="same"), Host("a:1", hash_key="same")]
    lb = impl.RingHash(hosts, min_ring_size=8)
    ring = lb.ring
    assert [e[1] for e in ring] == [0, 1] * 4
    for h, _ in ring[::2]:
        assert lb.lookup(h) is hosts[0]
        assert lb.lookup(h, 1) is hosts[1]
    assert set(lb.lookup_many([h for h, _ in ring])) == {0}


def test_many_hosts_sharing_a_key(impl: Implementation) -> None:
    """40 hosts with one hash key: every hash repeats 40 times, in host-index order."""
    hosts = [Host(f"10.5.0.{i}:80", hash_key="same") for i in range(40)]
    lb = impl.RingHash(hosts, min_ring_size=40 * 64)
    ring = lb.ring
    assert len(ring) == 2560
    for run in range(0, len(ring), 40):
        assert len({h for h, _ in ring[run : run + 40]}) == 1
        assert [i for _, i in ring[run : run + 40]] == list(range(40))
    assert sorted(h for h, _ in ring) == [h for h, _ in ring]
    assert set(lb.lookup_many([h for h, _ in ring] + [0, M64])) == {0}


def test_use_hostname(impl: Implementation) -> None:
    """use_hostname hashes hostnames: '90_0' style keys (spec §4.3)."""
    hosts = [Host(f"127.0.0.1:{p}", hostname=str(p)) for p in (90, 91)]
    lb = impl.RingHash(hosts, min_ring_size=4, use_hostname=True)
    expected = sorted(
        (xxhash.xxh64_intdigest(f"{p}_{i}".encode()), j)
        for j, p in enumerate((90, 91))
        for i in range(2)
    )
    assert list(lb.ring) == expected


def test_retry_attempts_walk_the_ring(impl: Implementation) -> None:
    """Attempt k takes entry (p + k) mod ring size, wrapping (spec §4.4)."""
    lb = impl.RingHash([Host(f"h{i}:1", i + 1) for i in range(5)], min_ring_size=20)
    ring = lb.ring
    n = len(ring)
    for p, (h, _) in enumerate(ring):
        for k in (0, 1, n - 1, n, 2 * n + 3):
            assert _index(lb, lb.lookup(h, k)) == ring[(p + k) % n][1]
    assert _index(lb, lb.lookup(M64, 1)) == ring[1][1]


# -- the fast path ----------------------------------------------------------------------------


def _edge_hashes(lb: Any) -> list[int]:
    """Return edge hashes: the ends, every entry hash and its neighbours, prefix boundaries."""
    hashes = {0, 1, M64, M64 - 1, 2**63, 2**63 - 1}
    for h, _ in lb.ring:
        hashes.update({h, max(h - 1, 0), min(h + 1, M64)})
    for bits in range(1, 25):
        for k in (1, 3, (1 << bits) - 1):
            b = (k << (64 - bits)) & M64
            hashes.update({b, max(b - 1, 0), min(b + 1, M64)})
    return sorted(hashes)


@pytest.mark.parametrize(
    "hosts",
    [
        [Host("a:1")],
        [Host(f"10.0.0.{i}:80", 1 + i % 3) for i in range(7)],
        [Host(f"10.1.{i // 256}.{i % 256}:80") for i in range(100)],
        [Host(f"d{i}:1", hash_key=f"k{i % 3}") for i in range(9)],
        [Host(f"s{i}:1", hash_key="same") for i in range(100)]
        + [Host(f"t{i}:1") for i in range(20)],
    ],
    ids=["one-host", "weighted-7", "100-hosts", "duplicate-keys", "100-share-a-key"],
)
def test_fast_path_matches_bisect(impl: Implementation, hosts: list[Host]) -> None:
    """lookup, lookup_many and pick equal bisect_left on the ring at edge hashes.

    The compiled twin counts the entries below a hash in a fixed window of
    its bucket (up to 64 entries, wherever the window fits in the ring); 100
    hosts sharing a key make buckets longer than that, which it searches.
    """
    lb = impl.RingHash(hosts, min_ring_size=2048)
    hashes = _edge_hashes(lb)
    expected = _bisect_indices(lb, hashes)
    index_of = {id(h): i for i, h in reversed(list(enumerate(lb.hosts)))}
    assert [index_of[id(lb.lookup(h))] for h in hashes] == expected
    assert list(lb.lookup_many(hashes)) == expected
    assert lb.lookup_many(np.array(hashes, dtype=np.uint64)).tolist() == expected
    assert list(lb.lookup_many(array.array("Q", hashes))) == expected
    assert [index_of[id(lb.lookup(h, 3))] for h in hashes] == _bisect_indices(lb, hashes, 3)
    keys = [f"key-{i}" for i in range(300)] + [b"bytes", bytearray(b"ba"), "\u00e9\u65e5"]
    picked = [index_of[id(lb.pick(k))] for k in keys]
    assert picked == _bisect_indices(lb, [impl.xxh64(k) for k in keys])
    assert list(lb.pick_many(keys)) == picked


@pytest.mark.parametrize("entries", [2**19 - 1, 2**19 + 1])
def test_large_ring_matches_bisect(impl: Implementation, entries: int) -> None:
    """Rings either side of the size where the compiled twin stops using a fixed window."""
    lb = impl.RingHash(
        [Host(f"10.2.0.{i}:80") for i in range(50)], min_ring_size=entries, max_ring_size=entries
    )
    ring = lb.ring
    assert entries <= len(ring) <= entries + 1  # 2**19 entries or fewer, or more
    rng = random.Random(entries)
    hashes = [0, 1, M64, 2**63] + [ring[rng.randrange(len(ring))][0] + d for d in (-1, 0, 1)]
    hashes += [min(ring[rng.randrange(len(ring))][0] + d, M64) for _ in range(3000) for d in (0, 1)]
    hashes += [rng.getrandbits(64) for _ in range(3000)]
    hashes = [max(h, 0) for h in hashes]
    assert list(lb.lookup_many(hashes)) == _bisect_indices(lb, hashes)


def test_three_byte_host_indices(impl: Implementation) -> None:
    """65,536+ hosts (3-byte indices in the compiled twin) still match bisect, <= 12 B/entry."""
    hosts = [Host(f"10.{i >> 16}.{(i >> 8) & 255}.{i & 255}:80") for i in range(65600)]
    lb = impl.RingHash(hosts, min_ring_size=1, max_ring_size=65600)
    assert len(lb) == 65600 and lb.nbytes <= 12 * len(lb)
    hashes = [h for h, i in lb.ring if i >= 65535] + [0, M64, 2**63]
    expected = _bisect_indices(lb, hashes)
    assert list(lb.lookup_many(hashes)) == expected
    index_of = {id(h): i for i, h in enumerate(lb.hosts)}
    assert [index_of[id(lb.lookup(h))] for h in hashes] == expected
    assert max(expected) == 65599


@pytest.mark.parametrize(
    ("n_hosts", "ring"), [(1, 1), (3, 6), (10, 1024), (100, 65536), (7, 100_000)]
)
def test_nbytes_bound(impl: Implementation, n_hosts: int, ring: int) -> None:
    """Ring storage (hashes, host indices, search index) stays <= 12 bytes per entry."""
    lb = impl.RingHash([Host(f"h{i}:1") for i in range(n_hosts)], min_ring_size=ring)
    assert 10 * len(lb) <= lb.nbytes <= 12 * len(lb)


def test_memory_capped_by_max_ring_size(impl: Implementation) -> None:
    """Extreme weights cannot blow the ring up: entries <= max_ring_size + 1."""
    hosts = [Host("a:1", 1), Host("b:1", 2**32 - 3), Host("c:1", 1)]
    lb = impl.RingHash(hosts, min_ring_size=1000, max_ring_size=4096)
    assert len(lb) <= 4096 + 1 and lb.ring_size == 4096
    assert lb.entries_per_host[1] >= 4094


# -- API: identity, immutability, pickling, output types --------------------------------------


def test_lookup_returns_the_stored_host(impl: Implementation) -> None:
    """lookup/pick return the very objects held in lb.hosts (BoundedLoad relies on it)."""
    hosts = [Host(f"h{i}:1") for i in range(4)]
    lb = impl.RingHash(iter(hosts))
    assert lb.hosts == tuple(hosts) and type(lb.hosts) is tuple
    assert any(lb.lookup(h) is hosts[i] for h, i in lb.ring)
    assert all(lb.pick(f"k{i}") in lb.hosts for i in range(20))


def test_normalized_weights_exposed(impl: Implementation) -> None:
    """normalized_order/normalized_weights are Envoy's iteration order and weights."""
    lb = impl.RingHash([Host("a:1", 1), Host("b:1", 3)])
    assert lb.normalized_order == (0, 1)
    assert lb.normalized_weights == (0.25, 0.75)


def test_immutable(impl: Implementation) -> None:
    """Attributes cannot be set or re-initialized."""
    lb = impl.RingHash([Host("a:1")])
    with pytest.raises(AttributeError):
        lb.hosts = ()
    with pytest.raises(AttributeError):
        lb.anything = 1
    with pytest.raises(TypeError, match="immutable"):  # as every immutable hashlb class
        lb.__init__([Host("b:1")])
    assert lb.hosts == (Host("a:1"),)


def test_pickle_round_trip(impl: Implementation) -> None:
    """A pickled ring rebuilds to the same table and options."""
    hosts = [Host("a:1", 2, locality="z"), Host("b:1", locality="y")]
    lb = impl.RingHash(
        hosts,
        min_ring_size=64,
        max_ring_size=100,
        hash_function="murmur_hash_2",
        locality_weights={"y": 1, "z": 3},
    )
    clone = pickle.loads(pickle.dumps(lb))
    assert type(clone) is type(lb)
    assert clone.ring == lb.ring and clone.hosts == lb.hosts
    assert (clone.min_ring_size, clone.max_ring_size, clone.hash_function) == (
        64,
        100,
        "murmur_hash_2",
    )


def test_repr_and_len(impl: Implementation) -> None:
    """repr names the class, host count and size; len is the entry count."""
    lb = impl.RingHash([Host("a:1"), Host("b:1")], min_ring_size=10)
    assert repr(lb) == "RingHash(2 hosts, 10 entries, hash_function='xx_hash')"
    assert len(lb) == 10 == len(lb.ring)


def test_twins_agree(impl: Implementation) -> None:
    """This twin builds the same ring as the pure twin (a mid-size weighted case)."""
    from hashlb._ring_py import RingHash as PyRing

    hosts = [Host(f"10.2.0.{i}:443", 1 + (i * 7) % 5) for i in range(37)]
    for fn in ("xx_hash", "murmur_hash_2"):
        a = impl.RingHash(hosts, min_ring_size=3000, hash_function=fn)
        b = PyRing(hosts, min_ring_size=3000, hash_function=fn)
        assert a.ring == b.ring and a.entries_per_host == b.entries_per_host


def test_threaded_rebuild_and_swap(impl: Implementation) -> None:
    """Lookups in threads stay correct while new rings are built and swapped in."""
    pools = [[Host(f"10.3.{g}.{i}:80") for i in range(20 + g)] for g in range(4)]
    rings = [impl.RingHash(p, min_ring_size=4096) for p in pools]
    probes = np.arange(2000, dtype=np.uint64) * np.uint64(0x9E3779B97F4A7C15)
    expected = [r.lookup_many(probes).tolist() for r in rings]
    current = [(rings[0], 0)]  # swapped as one tuple
    errors: list[str] = []
    stop = threading.Event()

    def reader() -> None:
        while not stop.is_set():
            lb, gen = current[0]
            if lb.lookup_many(probes).tolist() != expected[gen % 4]:
                errors.append(f"batch mismatch in generation {gen}")
            j = gen * 7 % 2000
            if lb.lookup(int(probes[j])) is not lb.hosts[expected[gen % 4][j]]:
                errors.append(f"lookup mismatch in generation {gen}")

    threads = [threading.Thread(target=reader) for _ in range(3)]
    for t in threads:
        t.start()
    try:
        for gen in range(1, 25):
            lb = impl.RingHash(pools[gen % 4], min_ring_size=4096)  # a fresh build each time
            current[0] = (lb, gen)
    finally:
        stop.set()
        for t in threads:
            t.join()
    assert errors == []
