"""Hash kernels: ``hashlb.xxh64(str)`` against ``xxhash.xxh64_intdigest(s.encode())``.

Target (issue 2): the compiled ``xxh64(str)`` costs <= 0.8x the xxhash
baseline, median, same run.  Each round hashes 1,000 distinct keys, so the
median divided by 1,000 is the cost per call (loop overhead included on both
sides).  Run::

    pytest benchmarks/test_hashing_benchmarks.py --benchmark-group-by=group
"""

from __future__ import annotations

import pytest
import xxhash

from tests._impl import Implementation

KEYS_16B = [f"user-{i:011d}" for i in range(1000)]
KEYS_64B = [f"session-{i:056d}" for i in range(1000)]
assert all(len(k) == 16 for k in KEYS_16B) and all(len(k) == 64 for k in KEYS_64B)


def _hash_all(fn, keys):  # type: ignore[no-untyped-def]
    """Return a closure hashing every key once."""

    def run() -> None:
        for k in keys:
            fn(k)

    return run


def _encode_all(keys):  # type: ignore[no-untyped-def]
    f = xxhash.xxh64_intdigest

    def run() -> None:
        for k in keys:
            f(k.encode())

    return run


@pytest.mark.benchmark(group="xxh64 str 16B x1000")
def test_xxh64_str_16b(benchmark, impl: Implementation) -> None:  # type: ignore[no-untyped-def]
    benchmark(_hash_all(impl.xxh64, KEYS_16B))


@pytest.mark.benchmark(group="xxh64 str 16B x1000")
def test_xxhash_intdigest_encode_16b(benchmark) -> None:  # type: ignore[no-untyped-def]
    benchmark(_encode_all(KEYS_16B))


@pytest.mark.benchmark(group="xxh64 str 64B x1000")
def test_xxh64_str_64b(benchmark, impl: Implementation) -> None:  # type: ignore[no-untyped-def]
    benchmark(_hash_all(impl.xxh64, KEYS_64B))


@pytest.mark.benchmark(group="xxh64 str 64B x1000")
def test_xxhash_intdigest_encode_64b(benchmark) -> None:  # type: ignore[no-untyped-def]
    benchmark(_encode_all(KEYS_64B))


@pytest.mark.benchmark(group="murmur2_64 str 16B x1000")
def test_murmur2_64_str_16b(benchmark, impl: Implementation) -> None:  # type: ignore[no-untyped-def]
    benchmark(_hash_all(impl.murmur2_64, KEYS_16B))


@pytest.mark.benchmark(group="murmur3_64 str 16B x1000")
def test_murmur3_64_str_16b(benchmark, impl: Implementation) -> None:  # type: ignore[no-untyped-def]
    benchmark(_hash_all(impl.murmur3_64, KEYS_16B))
