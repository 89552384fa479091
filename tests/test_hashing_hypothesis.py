"""Property tests: the kernels equal xxhash/mmh3 bit for bit, on both twins."""

from __future__ import annotations

import pytest

hypothesis = pytest.importorskip("hypothesis")

import mmh3  # noqa: E402
import xxhash  # noqa: E402
from hypothesis import example, given  # noqa: E402

from ._impl import Implementation  # noqa: E402
from .reference import murmur2_64_reference  # noqa: E402
from .strategies import data_bytes, data_text, uint32, uint64, unaligned_views  # noqa: E402


@given(data=data_bytes, seed=uint64)
@example(data=b"", seed=0)
@example(data=b"x" * 32, seed=2**64 - 1)
def test_xxh64_equals_xxhash(impl: Implementation, data: bytes, seed: int) -> None:
    """xxh64 equals xxhash.xxh64_intdigest on random bytes and seeds."""
    assert impl.xxh64(data, seed) == xxhash.xxh64_intdigest(data, seed)


@given(data=unaligned_views(), seed=uint64)
def test_xxh64_unaligned_views(impl: Implementation, data: memoryview, seed: int) -> None:
    """Unaligned memoryview slices hash like their bytes."""
    assert impl.xxh64(data, seed) == xxhash.xxh64_intdigest(data.tobytes(), seed)
    assert impl.murmur2_64(data, seed) == impl.murmur2_64(data.tobytes(), seed)


@given(text=data_text, seed=uint64)
def test_xxh64_text(impl: Implementation, text: str, seed: int) -> None:
    """A str hashes as its UTF-8 encoding."""
    assert impl.xxh64(text, seed) == xxhash.xxh64_intdigest(text.encode(), seed)


@given(data=data_bytes, seed=uint32)
@example(data=b"", seed=0)
def test_murmur3_equals_mmh3(impl: Implementation, data: bytes, seed: int) -> None:
    """murmur3_64 equals mmh3.hash64(..., signed=False)[0]."""
    assert impl.murmur3_64(data, seed) == mmh3.hash64(data, seed, signed=False)[0]


@given(data=unaligned_views(), seed=uint32)
def test_murmur3_unaligned_views(impl: Implementation, data: memoryview, seed: int) -> None:
    """Unaligned memoryview slices hash like their bytes (murmur3)."""
    assert impl.murmur3_64(data, seed) == mmh3.hash64(data.tobytes(), seed, signed=False)[0]


@given(data=data_bytes, seed=uint64)
def test_murmur2_equals_reference(impl: Implementation, data: bytes, seed: int) -> None:
    """murmur2_64 equals a line-by-line transcription of libstdc++ _Hash_bytes."""
    assert impl.murmur2_64(data, seed) == murmur2_64_reference(data, seed)


@given(values=hypothesis.strategies.lists(data_bytes, max_size=6), seed=uint64)
def test_xxh64_list_is_seed_chain(impl: Implementation, values: list[bytes], seed: int) -> None:
    """xxh64_list is the seed chain over xxhash."""
    h = seed
    for v in values:
        h = xxhash.xxh64_intdigest(v, h)
    assert impl.xxh64_list(values, seed) == h
