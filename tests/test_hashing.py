"""Hash kernels: the spec's vectors, input types and bad input, on both twins."""

from __future__ import annotations

import array
import json

import mmh3
import pytest
import xxhash

from ._impl import Implementation
from ._vectors import GOLDEN_DIR, SPEC_DIR, envoy_vectors

SPEC = SPEC_DIR / "envoy-vectors.json"
GOLDEN = GOLDEN_DIR / "envoy-vectors.json"


def test_pinned_vectors_match_spec() -> None:
    """The pinned copy of envoy-vectors.json is the spec's file, unchanged."""
    if not SPEC.exists():
        pytest.skip("../shared/spec is not beside this checkout")
    assert json.loads(GOLDEN.read_text()) == json.loads(SPEC.read_text())


# mt19937 is a bounded-load primitive; tests/test_bounded_load.py checks it.
HASH_CASES = [c for c in envoy_vectors()["hash_functions"] if not c["fn"].startswith("mt19937")]


@pytest.mark.parametrize(
    "case",
    HASH_CASES,
    ids=lambda c: f"{c['fn'][:14]}-{c.get('input_utf8', c.get('input_list', c.get('input')))!r}",
)
def test_spec_hash_vectors(impl: Implementation, case: dict) -> None:  # type: ignore[type-arg]
    """Every hash vector of envoy-vectors.json holds."""
    fn = case["fn"]
    seed = case["seed"]
    seed = int(seed, 16) if isinstance(seed, str) else seed
    if fn == "xxHash64":
        assert impl.xxh64(case["input_utf8"], seed) == case["expected"]
        assert impl.xxh64(case["input_utf8"].encode(), seed=seed) == case["expected"]
    elif fn == "xxHash64_list":
        assert impl.xxh64_list(case["input_list"], seed) == case["expected"]
    elif fn.startswith("murmurHash2_64"):
        assert impl.murmur2_64(case["input_utf8"], seed) == case["expected"]
        assert impl.murmur2_64(case["input_utf8"]) == case["expected"]  # default seed
    else:  # pragma: no cover - a new kind of vector must get a branch
        raise AssertionError(f"unknown vector kind {fn!r}")


def test_xxh64_list_chain(impl: Implementation) -> None:
    """The list hash is a seed chain: empty -> seed, one -> plain hash."""
    assert impl.xxh64_list([]) == 0
    assert impl.xxh64_list([], 77) == 77
    assert impl.xxh64_list(["foo"]) == xxhash.xxh64_intdigest(b"foo")
    chain = xxhash.xxh64_intdigest(b"c", xxhash.xxh64_intdigest(b"b", xxhash.xxh64_intdigest(b"a")))
    assert impl.xxh64_list(("a", b"b", bytearray(b"c"))) == chain
    assert impl.xxh64_list(iter(["foo", "bar"])) == 17745830980996999794


@pytest.mark.parametrize(
    "data",
    [b"abc", bytearray(b"abc"), memoryview(b"xabcx")[1:4], "abc", array.array("B", b"abc")],
    ids=["bytes", "bytearray", "memoryview", "str", "array"],
)
def test_accepted_types(impl: Implementation, data: object) -> None:
    """bytes, bytearray, memoryview, str and other buffers hash their bytes."""
    assert impl.xxh64(data) == xxhash.xxh64_intdigest(b"abc")
    assert impl.murmur3_64(data) == mmh3.hash64(b"abc", 0, signed=False)[0]
    assert impl.murmur2_64(data) == impl.murmur2_64(b"abc")


def test_str_is_utf8(impl: Implementation) -> None:
    """A str is hashed as its UTF-8 bytes, non-ASCII included."""
    for s in ["é", "日本語", "\U0001f600 emoji", "a" * 1000]:
        assert impl.xxh64(s) == xxhash.xxh64_intdigest(s.encode())
        assert impl.murmur3_64(s, 5) == mmh3.hash64(s.encode(), 5, signed=False)[0]


def test_multibyte_buffer_hashes_raw_bytes(impl: Implementation) -> None:
    """A buffer of wider items is hashed as its raw bytes."""
    a = array.array("Q", [1, 2, 3])
    assert impl.xxh64(a) == xxhash.xxh64_intdigest(a.tobytes())


@pytest.mark.parametrize("fn", ["xxh64", "murmur2_64", "murmur3_64"])
@pytest.mark.parametrize("bad", [None, 1, 1.5, ["a"], object()], ids=repr)
def test_bad_data(impl: Implementation, fn: str, bad: object) -> None:
    """Non-buffer data raises TypeError naming ``data``."""
    with pytest.raises(TypeError, match="data must be str or a C-contiguous bytes-like"):
        getattr(impl, fn)(bad)


@pytest.mark.parametrize("fn", ["xxh64", "murmur2_64", "murmur3_64"])
def test_non_contiguous_buffer(impl: Implementation, fn: str) -> None:
    """A non-contiguous memoryview is rejected, not silently copied."""
    with pytest.raises(TypeError, match="C-contiguous"):
        getattr(impl, fn)(memoryview(b"abcdef")[::2])


@pytest.mark.parametrize(("fn", "bits"), [("xxh64", 64), ("murmur2_64", 64), ("murmur3_64", 32)])
def test_seed_range(impl: Implementation, fn: str, bits: int) -> None:
    """Seeds outside [0, 2**bits) raise ValueError; non-ints TypeError."""
    f = getattr(impl, fn)
    f(b"x", 2**bits - 1)
    for bad in (-1, 2**bits):
        with pytest.raises(ValueError, match=rf"seed must be in \[0, 2\*\*{bits}\)"):
            f(b"x", bad)
    for bad in ("1", 1.0, True, None):
        with pytest.raises(TypeError, match="seed must be an int"):
            f(b"x", bad)


def test_xxh64_list_bad_input(impl: Implementation) -> None:
    """xxh64_list rejects a bare string, non-iterables and non-string items."""
    for bad in ("ab", b"ab", 3, None):
        with pytest.raises(TypeError, match="values must be an iterable of strings"):
            impl.xxh64_list(bad)
    with pytest.raises(TypeError, match=r"values\[i\] must be str"):
        impl.xxh64_list(["a", 3])
    with pytest.raises(ValueError, match="seed"):
        impl.xxh64_list(["a"], -1)


def test_index_seed(impl: Implementation) -> None:
    """Any ``__index__`` integer (e.g. numpy.uint64) is a valid seed."""
    np = pytest.importorskip("numpy")
    assert impl.xxh64(b"a", np.uint64(2**63)) == xxhash.xxh64_intdigest(b"a", 2**63)


@pytest.mark.parametrize("seed", [0, 1, 0x9E3779B97F4A7C15, 2**64 - 1])
def test_np_xxh64_u64_is_xxh64_of_8_le_bytes(seed: int) -> None:
    """The one numpy 8-byte xxh64 (pure subset twin, ``hashlb bench``) is xxh64's."""
    np = pytest.importorskip("numpy")
    from hashlb._batch import np_xxh64_u64

    values = [0, 1, 2**32, 2**63, 2**64 - 1, 0xDEADBEEFCAFEF00D, *range(2, 200, 7)]
    got = np_xxh64_u64(np, np.array(values, dtype=np.uint64), seed)
    want = [xxhash.xxh64_intdigest(v.to_bytes(8, "little"), seed) for v in values]
    assert got.dtype == np.uint64 and got.tolist() == want


def test_murmur3_every_tail_length(impl: Implementation) -> None:
    """Every length from 0 to 64 bytes (each tail of 0-15 bytes, 0-4 blocks) matches mmh3."""
    data = bytes(range(7, 7 + 64 * 3, 3))
    for n in range(65):
        for seed in (0, 1, 0xFFFFFFFF):
            assert impl.murmur3_64(data[:n], seed) == mmh3.hash64(data[:n], seed, signed=False)[0]
