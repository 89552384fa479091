"""Columnar batches (#14): xxh64_many, pick_many and lookup_many over Arrow and numpy columns.

Every test runs on both twins (``impl``) and, for the tables, on both engines
(``table_cls``).  Every batch entry point must agree row by row with its scalar
counterpart (``xxh64``, ``pick``, ``lookup``), nulls included (``NO_HOST`` /
masked rows); an inconsistent or hostile column must raise the same
``ValueError`` on both twins, never read out of bounds (``.ci/sanitize`` runs
the compiled half under ASAN).
"""

from __future__ import annotations

import re
import subprocess
import sys
import threading
from typing import Any

import numpy as np
import pytest

from hashlb import NO_HOST, Host

from ._impl import Implementation

pa = pytest.importorskip("pyarrow")  # in the test extra; optional for users

KEYS = ["alice", "", None, "bob", "ünïcødé-ключ-鍵", "x" * 40, None, "carol-0123456789"]
TEXT = [k for k in KEYS if k is not None]

#: The Arrow key types and how to build one of them from Python values.
ARROW_KEY_TYPES = {
    "string": pa.string(),
    "large_string": pa.large_string(),
    "binary": pa.binary(),
    "large_binary": pa.large_binary(),
    "string_view": pa.string_view(),
    "binary_view": pa.binary_view(),
}


def _arrow(values: list[Any], typ: Any) -> Any:
    if pa.types.is_binary(typ) or pa.types.is_large_binary(typ) or pa.types.is_binary_view(typ):
        values = [None if v is None else v.encode() for v in values]
    return pa.array(values, typ)


@pytest.fixture(params=["RingHash", "Maglev"])
def table_cls(request: pytest.FixtureRequest, impl: Implementation) -> Any:
    """One table class of the ``impl`` twin."""
    return getattr(impl, request.param)


def _table(table_cls: Any, n: int = 7) -> Any:
    hosts = [Host(f"10.14.0.{i}:80") for i in range(n)]
    if table_cls.__name__ == "Maglev":
        return table_cls(hosts, table_size=101)
    return table_cls(hosts, min_ring_size=512)


def _want_pick(lb: Any, keys: list[Any]) -> list[int]:
    return [NO_HOST if k is None else lb.hosts.index(lb.pick(k)) for k in keys]


def _want_lookup(lb: Any, hashes: list[Any]) -> list[int]:
    return [NO_HOST if h is None else lb.hosts.index(lb.lookup(h)) for h in hashes]


def _check_hashes(got: Any, values: list[Any], impl: Implementation, seed: int) -> None:
    want = [None if v is None else impl.xxh64(v, seed) for v in values]
    assert isinstance(got, np.ndarray) and got.dtype == np.uint64 and got.shape == (len(values),)
    if any(v is None for v in values):
        assert isinstance(got, np.ma.MaskedArray)
        assert np.ma.getmaskarray(got).tolist() == [v is None for v in values]
        assert got.data.tolist() == [0 if w is None else w for w in want]
    else:
        assert not isinstance(got, np.ma.MaskedArray)
        assert got.tolist() == want


# ------------------------------------------------------------------ xxh64_many


@pytest.mark.parametrize("typ", sorted(ARROW_KEY_TYPES))
@pytest.mark.parametrize("seed", [0, 2**64 - 1])
def test_xxh64_many_arrow_types(impl: Implementation, typ: str, seed: int) -> None:
    """Every Arrow key type, nulls and empty strings included, equals xxh64 row by row."""
    arr = _arrow(KEYS, ARROW_KEY_TYPES[typ])
    _check_hashes(impl.xxh64_many(arr, seed), KEYS, impl, seed)


@pytest.mark.parametrize("typ", sorted(ARROW_KEY_TYPES))
def test_xxh64_many_sliced_and_chunked(impl: Implementation, typ: str) -> None:
    """A sliced array (non-zero offset) and a chunked array read the right rows."""
    arr = _arrow(KEYS, ARROW_KEY_TYPES[typ])
    for start, stop in ((1, 7), (3, 8), (2, 3), (5, 5)):
        _check_hashes(impl.xxh64_many(arr.slice(start, stop - start)), KEYS[start:stop], impl, 0)
    chunked = pa.chunked_array([arr.slice(2), arr, arr.slice(0, 0), arr.slice(5, 2)])
    _check_hashes(impl.xxh64_many(chunked), KEYS[2:] + KEYS + KEYS[5:7], impl, 0)


def test_xxh64_many_numpy_and_lists(impl: Implementation) -> None:
    """numpy S and U (U as UTF-8, trailing NULs stripped as numpy does), lists, tuples."""
    s = np.array([k.encode() for k in TEXT] + [b"a\x00b", b""], dtype="S40")
    _check_hashes(impl.xxh64_many(s, 7), list(s), impl, 7)
    u = np.array([*TEXT, "a\x00b", "\x00"])
    _check_hashes(impl.xxh64_many(u, 7), list(u), impl, 7)
    _check_hashes(impl.xxh64_many(u[::2]), list(u[::2]), impl, 0)  # strided: copied
    for order in (">", "<"):  # either byte order reads the same code points
        other = u.astype(u.dtype.newbyteorder(order))
        _check_hashes(impl.xxh64_many(other, 7), list(u), impl, 7)
        big = np.array(["\u0100", "ab", "c"], dtype=f"{order}U2")
        _check_hashes(impl.xxh64_many(big), ["\u0100", "ab", "c"], impl, 0)
        hosts = [Host(f"10.9.0.{i}:80") for i in range(5)]
        table = impl.Maglev(hosts)
        assert list(table.pick_many(big)) == [hosts.index(table.pick(k)) for k in big.tolist()]
    _check_hashes(impl.xxh64_many([*TEXT, b"raw"], 3), [*TEXT, b"raw"], impl, 3)
    _check_hashes(impl.xxh64_many(tuple(TEXT)), TEXT, impl, 0)
    _check_hashes(impl.xxh64_many(iter(TEXT)), TEXT, impl, 0)
    _check_hashes(impl.xxh64_many([]), [], impl, 0)


def test_numpy_u_every_length_and_position(impl: Implementation) -> None:
    """numpy U of every width to 40 (the compiled twin narrows 16 code points a step, then
    8): each length, ASCII or with one non-ASCII code point at each position, equals
    xxh64 and pick of the str; a lone surrogate anywhere raises as xxh64 of it does."""
    hosts = [Host(f"10.9.1.{i}:80") for i in range(7)]
    table = impl.Maglev(hosts, table_size=101)
    for width in range(1, 41):
        rows = ["a" * n for n in range(width + 1)]
        rows += [
            "b" * p + ch + "c" * (n - p - 1)
            for n in range(1, width + 1)
            for p in range(n)
            for ch in ("\u00e9", "\u20ac", "\U0001f600", "\x7f")
        ]
        u = np.array(rows, dtype=f"U{width}")
        _check_hashes(impl.xxh64_many(u, 11), rows, impl, 11)
        assert table.pick_many(u).tolist() == [hosts.index(table.pick(r)) for r in rows]
    for p in (0, 7, 8, 15, 16, 17, 31, 32, 39):
        bad = "d" * p + "\ud800" + "e" * (39 - p)
        with pytest.raises(UnicodeEncodeError) as want:
            impl.xxh64(bad)
        with pytest.raises(UnicodeEncodeError) as got:
            impl.xxh64_many(np.array(["ok", bad], dtype="U40"))
        assert str(got.value) == str(want.value)


def test_numpy_u_hostile_code_points(impl: Implementation) -> None:
    """numpy U rows built from raw integers, at every position and width (the compiled
    twin has a loop per width up to 16 code points, and one for wider items): a NUL
    inside, U+007F or U+00FF hash and pick as their items do; a code point past
    U+10FFFF (with the sign bit set too) is not Unicode and raises ValueError naming
    the row and the value; a lone surrogate raises what xxh64 of its item raises."""
    hosts = [Host(f"10.9.2.{i}:80") for i in range(5)]
    table = impl.Maglev(hosts, table_size=101)
    for width in [*range(1, 18), 24, 40]:
        rows = []
        for n in range(1, width + 1):
            for p in range(n):
                for cp in (0, 0x7F, 0xFF):
                    row = np.full(width, 0x61, np.uint32)
                    row[n:] = 0
                    row[p] = cp
                    rows.append(row)
        u = np.array(rows, np.uint32).view(f"U{width}").ravel()
        want = [impl.xxh64(x, 5) for x in u]
        assert impl.xxh64_many(u, 5).tolist() == want
        assert table.pick_many(u).tolist() == [hosts.index(table.pick(x)) for x in u]
        good = np.full(width, 0x63, np.uint32)
        for p in range(width):
            for cp in (0x110000, 0x7FFFFFFF, 0x80000000, 0xFFFFFFFF, 0xDFFF):
                row = np.full(width, 0x62, np.uint32)
                row[p] = cp
                bad = np.array([good, row, row]).view(f"U{width}").ravel()
                if cp == 0xDFFF:
                    with pytest.raises(UnicodeEncodeError) as want_err:
                        impl.xxh64(bad[1])
                    match = re.escape(str(want_err.value))
                else:
                    match = rf"^keys\[1\] holds 0x{cp:X}, past U\+10FFFF: not a Unicode"
                with pytest.raises((ValueError, UnicodeEncodeError), match=match) as got:
                    impl.xxh64_many(bad)
                assert isinstance(got.value, UnicodeEncodeError) == (cp == 0xDFFF)
                with pytest.raises((ValueError, UnicodeEncodeError), match=match):
                    table.pick_many(bad)


def test_xxh64_many_out(impl: Implementation) -> None:
    """out= is written and returned (as the data of the masked array with nulls)."""
    out = np.zeros(len(TEXT), np.uint64)
    assert impl.xxh64_many(TEXT, out=out) is out
    assert out.tolist() == [impl.xxh64(k) for k in TEXT]
    out = np.zeros(len(KEYS), np.uint64)
    got = impl.xxh64_many(pa.array(KEYS), out=out)
    assert got.data is out or np.shares_memory(got.data, out)
    with pytest.raises(TypeError, match="dtype uint64"):
        impl.xxh64_many(TEXT, out=np.zeros(len(TEXT), np.uint32))


def test_xxh64_many_errors(impl: Implementation) -> None:
    """Bad items, types and seeds raise what xxh64 raises, on both twins."""
    with pytest.raises(TypeError, match=r"^values\[1\] must be str or a C-contiguous"):
        impl.xxh64_many(["a", 3])
    with pytest.raises(TypeError, match=r"^values\[0\] must be str"):
        impl.xxh64_many([None])
    with pytest.raises(TypeError, match="keys must be a sequence of keys, not str"):
        impl.xxh64_many("abc")
    with pytest.raises(ValueError, match="seed must be in"):
        impl.xxh64_many(TEXT, -1)
    with pytest.raises(TypeError, match="keys must be an Arrow string"):
        impl.xxh64_many(pa.array([1, 2]))
    with pytest.raises(UnicodeEncodeError):
        impl.xxh64_many(np.array(["ok", "\ud800"]))


# ------------------------------------------------------------------ pick_many


@pytest.mark.parametrize("typ", sorted(ARROW_KEY_TYPES))
def test_pick_many_arrow_types(table_cls: Any, typ: str) -> None:
    """pick_many of every Arrow key type equals pick row by row; nulls are NO_HOST."""
    lb = _table(table_cls)
    arr = _arrow(KEYS, ARROW_KEY_TYPES[typ])
    got = lb.pick_many(arr)
    assert isinstance(got, np.ndarray) and got.dtype == np.uint32
    assert got.tolist() == _want_pick(lb, KEYS)
    assert lb.pick_many(arr.slice(3, 4)).tolist() == _want_pick(lb, KEYS[3:7])
    chunked = pa.chunked_array([arr, arr.slice(1), arr.slice(0, 0)])
    assert lb.pick_many(chunked).tolist() == _want_pick(lb, KEYS + KEYS[1:])


def test_pick_many_numpy_and_dictionary(table_cls: Any) -> None:
    """numpy S/U arrays and dictionary-encoded Arrow columns."""
    lb = _table(table_cls)
    u = np.array(TEXT)
    assert lb.pick_many(u).tolist() == _want_pick(lb, TEXT)
    s = np.array([t.encode() for t in TEXT])
    assert lb.pick_many(s).tolist() == _want_pick(lb, TEXT)
    d = pa.array(KEYS).dictionary_encode()
    assert lb.pick_many(d).tolist() == _want_pick(lb, KEYS)
    with pytest.raises(UnicodeEncodeError):
        lb.pick_many(np.array(["ok", "\ud800"]))
    with pytest.raises(UnicodeEncodeError):
        lb.pick("\ud800")


def test_numpy_string_dtype(table_cls: Any, impl: Implementation) -> None:
    """numpy StringDType arrays (numpy >= 2): converted by pyarrow; na_object rows are nulls."""
    dtypes = getattr(np, "dtypes", None)
    if dtypes is None or not hasattr(dtypes, "StringDType"):
        pytest.skip("numpy < 2 has no StringDType")
    lb = _table(table_cls)
    arr = np.array(KEYS, dtype=dtypes.StringDType(na_object=None))
    assert lb.pick_many(arr).tolist() == _want_pick(lb, KEYS)
    _check_hashes(impl.xxh64_many(arr), KEYS, impl, 0)
    plain = np.array(TEXT, dtype=dtypes.StringDType())
    assert lb.pick_many(plain).tolist() == _want_pick(lb, TEXT)


def test_pick_many_large_column_crosses_chunks(table_cls: Any) -> None:
    """More rows than one C chunk (2048), with nulls, agree with pick."""
    lb = _table(table_cls)
    keys = [None if i % 97 == 0 else f"user-{i}" for i in range(5000)]
    arr = pa.array(keys)
    assert lb.pick_many(arr).tolist() == _want_pick(lb, keys)
    assert lb.pick_many(arr.slice(1234)).tolist() == _want_pick(lb, keys[1234:])


def test_pandas_and_polars_series(table_cls: Any) -> None:
    """pandas and polars Series go through their Arrow interface."""
    pd = pytest.importorskip("pandas")
    pl = pytest.importorskip("polars")
    lb = _table(table_cls)
    assert lb.pick_many(pd.Series(KEYS)).tolist() == _want_pick(lb, KEYS)
    assert lb.pick_many(pl.Series(KEYS)).tolist() == _want_pick(lb, KEYS)
    hashes = [0, 1, 2**63, 2**64 - 1, 12345]
    assert lb.lookup_many(pd.Series(np.array(hashes, np.uint64))).tolist() == _want_lookup(
        lb, hashes
    )
    with_null = [*hashes, None]
    assert lb.lookup_many(pl.Series(with_null, dtype=pl.UInt64)).tolist() == _want_lookup(
        lb, with_null
    )
    assert lb.lookup_many(pd.Series(with_null, dtype="UInt64")).tolist() == _want_lookup(
        lb, with_null
    )


def test_arrow_c_interface_objects(table_cls: Any, impl: Implementation) -> None:
    """Any object with __arrow_c_array__ or __arrow_c_stream__ is read as a column."""
    lb = _table(table_cls)
    arr = pa.array(KEYS)

    class ArrayOnly:
        def __arrow_c_array__(self, requested_schema: Any = None) -> Any:
            return arr.__arrow_c_array__(requested_schema)

    class StreamOnly:
        def __arrow_c_stream__(self, requested_schema: Any = None) -> Any:
            return pa.chunked_array([arr, arr]).__arrow_c_stream__(requested_schema)

    assert lb.pick_many(ArrayOnly()).tolist() == _want_pick(lb, KEYS)
    assert lb.pick_many(StreamOnly()).tolist() == _want_pick(lb, KEYS * 2)
    _check_hashes(impl.xxh64_many(StreamOnly()), KEYS * 2, impl, 0)


# ------------------------------------------------------------------ lookup_many


def test_lookup_many_arrow(table_cls: Any) -> None:
    """uint64 and int64 Arrow columns (nulls, slices, chunks) equal lookup row by row."""
    lb = _table(table_cls)
    hashes = [0, 1, None, 2**63, 2**64 - 1, 99, None, 2**40]
    u = pa.array(hashes, pa.uint64())
    assert lb.lookup_many(u).tolist() == _want_lookup(lb, hashes)
    assert lb.lookup_many(u.slice(2, 5)).tolist() == _want_lookup(lb, hashes[2:7])
    assert lb.lookup_many(pa.chunked_array([u, u.slice(5)])).tolist() == _want_lookup(
        lb, hashes + hashes[5:]
    )
    small = [None if h is None else h % 2**63 for h in hashes]
    assert lb.lookup_many(pa.array(small, pa.int64())).tolist() == _want_lookup(lb, small)
    big = list(range(0, 2**64 - 1, 2**64 // 5000))
    assert lb.lookup_many(pa.array(big, pa.uint64())).tolist() == _want_lookup(lb, big)
    assert lb.lookup_many(pa.nulls(3, pa.uint64())).tolist() == [NO_HOST] * 3
    assert lb.lookup_many(pa.nulls(3)).tolist() == [NO_HOST] * 3


def test_lookup_many_masked_and_round_trip(table_cls: Any, impl: Implementation) -> None:
    """lookup_many(xxh64_many(column)) == pick_many(column): masked rows are NO_HOST."""
    lb = _table(table_cls)
    arr = pa.array(KEYS)
    hashes = impl.xxh64_many(arr)
    assert isinstance(hashes, np.ma.MaskedArray)
    assert lb.lookup_many(hashes).tolist() == lb.pick_many(arr).tolist() == _want_pick(lb, KEYS)
    plain = np.ma.MaskedArray(np.arange(5, dtype=np.uint64))
    assert lb.lookup_many(plain).tolist() == _want_lookup(lb, list(range(5)))


def test_negative_int64_hash_raises(table_cls: Any) -> None:
    """A negative int64 hash raises ValueError (lookup(-1) does too); a null one does not."""
    lb = _table(table_cls)
    with pytest.raises(ValueError, match=r"^invalid column at row 1: an int64 hash is negative"):
        lb.lookup_many(pa.array([1, -1], pa.int64()))
    with pytest.raises(ValueError):
        lb.lookup(-1)
    arr = pa.Array.from_buffers(
        pa.int64(),
        2,
        [pa.py_buffer(bytes([0b01])), pa.py_buffer(np.array([5, -1], np.int64).tobytes())],
        null_count=1,
    )
    assert lb.lookup_many(arr).tolist() == [lb.hosts.index(lb.lookup(5)), NO_HOST]


# ------------------------------------------------------------------ the contract


def test_empty_table(table_cls: Any, impl: Implementation) -> None:
    """An empty table: no rows (the batch contract), or out= all NO_HOST; columns still checked."""
    lb = table_cls([])
    arr = pa.array(KEYS)
    assert lb.pick_many(arr).tolist() == []
    assert lb.lookup_many(pa.array([1, 2], pa.uint64())).tolist() == []
    out = np.zeros(len(KEYS), np.uint32)
    assert lb.pick_many(arr, out=out) is out and out.tolist() == [NO_HOST] * len(KEYS)
    out = np.zeros(2, np.uint32)
    assert lb.pick_many(["a", "b"], out=out) is out and out.tolist() == [NO_HOST] * 2
    out = np.zeros(2, np.uint32)
    assert lb.lookup_many([1, 2], out=out) is out and out.tolist() == [NO_HOST] * 2
    with pytest.raises(ValueError, match="invalid column"):
        lb.pick_many(_hostile_decreasing())
    with pytest.raises(UnicodeEncodeError):
        lb.pick_many(np.array(["\ud800"]))


def test_out_parameter(table_cls: Any) -> None:
    """out= is checked (type, dtype, shape, contiguity, writable), written and returned."""
    lb = _table(table_cls)
    arr = pa.array(KEYS)
    out = np.zeros(len(KEYS), np.uint32)
    assert lb.pick_many(arr, out=out) is out
    assert out.tolist() == _want_pick(lb, KEYS)
    out = np.zeros(len(TEXT), np.uint32)
    assert lb.pick_many(TEXT, out=out) is out and out.tolist() == _want_pick(lb, TEXT)
    out = np.zeros(3, np.uint32)
    assert lb.lookup_many([1, 2, 3], out=out) is out
    assert out.tolist() == _want_lookup(lb, [1, 2, 3])
    assert lb.lookup_many(pa.array([1, 2, 3], pa.uint64()), out=out) is out
    n = len(KEYS)
    for bad, kind, message in (
        ([0] * n, TypeError, "out must be a numpy uint32 array, not list"),
        (np.zeros(n, np.uint64), TypeError, "out must have dtype uint32, not uint64"),
        (np.zeros(n + 1, np.uint32), ValueError, r"out must have shape \(8,\)"),
        (np.zeros((n, 1), np.uint32), ValueError, r"out must have shape \(8,\)"),
        (np.zeros(2 * n, np.uint32)[::2], ValueError, "out must be C-contiguous"),
    ):
        with pytest.raises(kind, match=message):
            lb.pick_many(arr, out=bad)
    ro = np.zeros(n, np.uint32)
    ro.flags.writeable = False
    with pytest.raises(ValueError, match="out must be writable"):
        lb.pick_many(arr, out=ro)
    with pytest.raises(ValueError, match="out must be writable"):
        lb.lookup_many(list(range(n)), out=ro)


def test_unsupported_columns_raise(table_cls: Any, impl: Implementation) -> None:
    """A column of another type raises TypeError saying what to pass; never iterated."""
    lb = _table(table_cls)
    with pytest.raises(TypeError, match="keys must be an Arrow string, large_string"):
        lb.pick_many(pa.array([1, 2, 3]))
    with pytest.raises(TypeError, match="hashes must be an Arrow uint64 or int64 column"):
        lb.lookup_many(pa.array(["a"]))
    with pytest.raises(TypeError, match="hashes must be an Arrow uint64 or int64 column"):
        lb.lookup_many(pa.array([1], pa.uint32()))
    with pytest.raises(TypeError, match="keys must be an Arrow"):
        lb.pick_many(pa.table({"a": ["x"]}))  # a table, not a column

    class ArrayLike:
        """A column-like object with __array__ but no Arrow interface: refused, not iterated."""

        def __array__(self, dtype: Any = None, copy: Any = None) -> Any:
            return np.array(["a", "b"])

        def __iter__(self) -> Any:
            raise AssertionError("iterated element by element")

    with pytest.raises(TypeError, match="unsupported column type ArrayLike: pass a pyarrow"):
        lb.pick_many(ArrayLike())
    with pytest.raises(TypeError, match="unsupported column type ArrayLike: pass a pyarrow"):
        impl.xxh64_many(ArrayLike())
    with pytest.raises(TypeError, match="a masked hashes array must be 1-D uint64"):
        lb.lookup_many(np.ma.MaskedArray(np.zeros(3, np.int64)))


# ------------------------------------------------------------------ hostile columns


def _hostile_decreasing() -> Any:
    """A string array whose offsets decrease (pyarrow's cheap validation lets it through)."""
    offsets = pa.py_buffer(np.array([0, 5, 2, 3], np.int32).tobytes())
    return pa.Array.from_buffers(pa.string(), 3, [None, offsets, pa.py_buffer(b"abc")])


def _chunk(kind: int, n: int, values: Any, data: Any = None, **kw: Any) -> tuple[Any, ...]:
    return (
        kind,
        n,
        kw.get("offset", 0),
        kw.get("validity"),
        values,
        data,
        kw.get("vbufs", ()),
        kw.get("width", 0),
        None,
    )


def _i32(*v: int) -> bytes:
    return np.array(v, np.int32).tobytes()


def _view(length: int, buf: int = 0, off: int = 0) -> bytes:
    return np.array([length, 0, buf, off], np.int32).tobytes()


#: Hand-made chunks (as hashlb._columns describes a column), each inconsistent one way.
HOSTILE_CHUNKS = {
    "negative length": (_chunk(1, -1, _i32(0)), 1, 0),
    "negative offset": (_chunk(1, 1, _i32(0, 0), b"", offset=-3), 1, 0),
    "validity too short": (_chunk(1, 9, _i32(*[0] * 10), b"", validity=b"\xff"), 2, 0),
    "offsets too short": (_chunk(1, 3, _i32(0, 1, 2), b"abc"), 3, 0),
    "offsets too short (sliced)": (_chunk(2, 2, _i32(0, 0, 0, 0), b"", offset=1), 3, 0),
    "first offset negative": (_chunk(1, 2, _i32(-4, 0, 1), b"abc"), 4, 0),
    "offsets decrease": (_chunk(1, 3, _i32(0, 2, 1, 3), b"abc"), 5, 1),
    "offset past data": (_chunk(1, 2, _i32(0, 1, 9), b"abc"), 6, 1),
    "large offset past data": (_chunk(2, 1, np.array([0, 2**40], np.int64).tobytes(), b""), 6, 0),
    "views too short": (_chunk(3, 2, _view(1)), 7, 0),
    "view length negative": (_chunk(3, 2, _view(1) + _view(-5)), 8, 1),
    "view buffer missing": (_chunk(3, 1, _view(20, buf=1), vbufs=(b"x" * 40,)), 9, 0),
    "view buffer negative": (_chunk(3, 1, _view(20, buf=-1), vbufs=(b"x" * 40,)), 9, 0),
    "view past its buffer": (_chunk(3, 1, _view(20, off=30), vbufs=(b"x" * 40,)), 10, 0),
    "view offset negative": (_chunk(3, 1, _view(20, off=-1), vbufs=(b"x" * 40,)), 10, 0),
    "fixed values too short": (_chunk(4, 3, b"abcdef", width=4), 11, 0),
    "ucs4 values too short": (_chunk(5, 2, b"\0" * 4, width=4), 11, 0),
    "u64 values too short": (_chunk(6, 2, b"\0" * 15), 11, 0),
    "i64 negative": (_chunk(7, 2, np.array([3, -3], np.int64).tobytes()), 12, 1),
}


def _decreasing_at(row: int, kind: int, offset: int = 0) -> tuple[Any, ...]:
    """600 rows of one byte whose offset after *row* is one less than the one before.

    The compiled check reads offsets in blocks of 256: rows at, before and
    after a block's edge, in a sliced chunk too.
    """
    offs = np.arange(offset + 601, dtype=np.int32 if kind == 1 else np.int64)
    offs[offset + row + 1 :] -= 2
    return _chunk(kind, 600, offs.tobytes(), b"x" * 700, offset=offset)


for _kind in (1, 2):
    for _row in (0, 254, 255, 256, 257, 511, 512, 599):
        HOSTILE_CHUNKS[f"offsets decrease at {_row} ({_kind})"] = (
            _decreasing_at(_row, _kind),
            5,
            _row,
        )
    HOSTILE_CHUNKS[f"offsets decrease at 300 (sliced, {_kind})"] = (
        _decreasing_at(300, _kind, offset=7),
        5,
        300,
    )


@pytest.mark.parametrize("name", sorted(HOSTILE_CHUNKS))
def test_hostile_chunks_raise(
    impl: Implementation, monkeypatch: pytest.MonkeyPatch, name: str
) -> None:
    """Every inconsistent layout raises the same ValueError on both twins (never a read OOB)."""
    from hashlb import _columns

    chunk, code, row = HOSTILE_CHUNKS[name]
    message = str(_columns.column_error(code, row + 5))
    # The hostile chunk follows a good one of 5 rows, so the row is counted from the column.
    hashes = chunk[0] in (6, 7)
    good = _chunk(6, 5, bytes(40)) if hashes else _chunk(1, 5, _i32(0, 1, 2, 3, 4, 5), b"abcde")
    for mod in (impl.module("hashing"), impl.module("maglev"), impl.module("ring")):
        name_ = "hash_columns" if hashes and mod is not impl.module("hashing") else "key_columns"
        monkeypatch.setattr(mod, name_, lambda obj: [good, chunk], raising=False)
        monkeypatch.setattr(mod, "_key_columns", lambda obj: [good, chunk], raising=False)
    # the pure tables' pick_many / lookup_many read the column through _columns itself
    monkeypatch.setattr(
        _columns, "hash_columns" if hashes else "key_columns", lambda obj: [good, chunk]
    )
    hosts = [Host("10.14.1.1:80"), Host("10.14.1.2:80")]
    calls = [
        lambda: impl.Maglev(hosts).lookup_many(object()),
        lambda: impl.RingHash(hosts).lookup_many(object()),
        lambda: impl.Maglev([]).lookup_many(object()),
    ]
    if not hashes:
        calls = [
            lambda: impl.xxh64_many(object()),
            lambda: impl.Maglev(hosts).pick_many(object()),
            lambda: impl.RingHash(hosts).pick_many(object()),
            lambda: impl.RingHash([]).pick_many(object()),
        ]
    for call in calls:
        with pytest.raises(ValueError) as info:
            call()
        assert str(info.value) == message


def test_hostile_arrow_arrays_raise(table_cls: Any, impl: Implementation) -> None:
    """Arrow arrays built with from_buffers that pyarrow's cheap checks let through."""
    lb = _table(table_cls)
    bad = _hostile_decreasing()
    want = "invalid column at row 1: an offset is smaller than the one before it"
    for call in (lambda: lb.pick_many(bad), lambda: impl.xxh64_many(bad)):
        with pytest.raises(ValueError, match=f"^{want}$"):
            call()
    # Offsets out of range of the data buffer, but only the sliced-away part is valid.
    views = pa.py_buffer(_view(20, off=100) + _view(1))
    sv = pa.Array.from_buffers(pa.string_view(), 2, [None, views, pa.py_buffer(b"y" * 30)])
    with pytest.raises(ValueError, match="row 0: a view reaches outside its data buffer"):
        lb.pick_many(sv)
    assert lb.pick_many(sv.slice(1)).tolist() == [lb.hosts.index(lb.pick(b"\0"))]
    # In a chunked array, the row counts from the column's start.
    with pytest.raises(ValueError, match=r"^invalid column at row 2: an offset is smaller"):
        lb.pick_many(pa.chunked_array([pa.array(["ok"]), bad]))


# ------------------------------------------------------------------ threads, optional deps


def test_two_threads_on_two_chunks(table_cls: Any) -> None:
    """Two threads picking two halves give what one call gives (the GIL is released)."""
    lb = _table(table_cls)
    keys = [None if i % 11 == 0 else f"k{i}" for i in range(20000)]
    arr = pa.array(keys)
    want = lb.pick_many(arr).tolist()
    out = np.zeros(len(keys), np.uint32)
    half = len(keys) // 2
    errors: list[BaseException] = []

    def run(lo: int, hi: int) -> None:
        try:
            for _ in range(3):
                lb.pick_many(arr.slice(lo, hi - lo), out=out[lo:hi])
        except BaseException as e:  # pragma: no cover - reported below
            errors.append(e)

    threads = [
        threading.Thread(target=run, args=(0, half)),
        threading.Thread(target=run, args=(half, len(keys))),
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert not errors and out.tolist() == want


def _run_without(module: str, code: str) -> subprocess.CompletedProcess[str]:
    prelude = f"import sys; sys.modules[{module!r}] = None\n"
    return subprocess.run(
        [sys.executable, "-c", prelude + code], capture_output=True, text=True, timeout=120
    )


@pytest.mark.parametrize("twin", [pytest.param("c", marks=pytest.mark.c_extension), "py"])
def test_without_pyarrow(twin: str) -> None:
    """hashlb imports and batches lists without pyarrow; an Arrow object names the extra."""
    code = (
        "import os, hashlb\n"
        f"assert hashlb.IMPLEMENTATION == {twin!r}, hashlb.IMPLEMENTATION\n"
        "lb = hashlb.Maglev([hashlb.Host('a:1'), hashlb.Host('b:1')])\n"
        "assert list(lb.pick_many(['x', 'y'])) == [lb.hosts.index(lb.pick(k)) for k in 'xy']\n"
        "class A:\n"
        "    def __arrow_c_array__(self, requested_schema=None): raise AssertionError\n"
        "try:\n"
        "    lb.pick_many(A())\n"
        "except ImportError as e:\n"
        "    print(e)\n"
    )
    res = _run_without("pyarrow", code) if twin == "c" else _run_pure("pyarrow", code)
    assert res.returncode == 0, res.stderr
    assert "pip install 'hashlb[columns]'" in res.stdout


def _run_pure(module: str, code: str) -> subprocess.CompletedProcess[str]:
    import os

    prelude = f"import sys; sys.modules[{module!r}] = None\n"
    env = dict(os.environ, HASHLB_NO_EXTENSIONS="1")
    return subprocess.run(
        [sys.executable, "-c", prelude + code], capture_output=True, text=True, timeout=120, env=env
    )


def test_without_numpy() -> None:
    """Without numpy, xxh64_many raises an ImportError naming the extra; hashlb imports."""
    code = (
        "import hashlb\n"
        "try:\n"
        "    hashlb.xxh64_many(['a'])\n"
        "except ImportError as e:\n"
        "    print(e)\n"
    )
    for run in (_run_without, _run_pure):
        res = run("numpy", code)
        assert res.returncode == 0, res.stderr
        assert "install numpy (pip install 'hashlb[columns]')" in res.stdout


def test_hash_columns_are_zero_copy() -> None:
    """Arrow, pandas and polars uint64 columns are read in place, never copied."""
    from hashlb import _columns

    h = np.arange(1000, dtype=np.uint64)
    sources: list[Any] = [pa.array(h)]
    pd = pytest.importorskip("pandas")
    pl = pytest.importorskip("polars")
    sources += [pd.Series(h, copy=False), pl.Series(h)]
    for src in sources:
        (chunk,) = _columns.hash_columns(src) or [None]
        assert chunk is not None
        assert np.shares_memory(np.frombuffer(chunk[4], np.uint8), h.view(np.uint8)), src


def test_strided_pandas_hashes(impl: Implementation) -> None:
    """A strided pandas uint64 view (``s[::3]``, ``s[::-1]``) is not one buffer: it is
    read through Arrow, the same rows as its copy."""
    pd = pytest.importorskip("pandas")
    h = np.arange(0, 2**64 - 1, 2**54, dtype=np.uint64)
    table = impl.Maglev([Host(f"10.0.3.{i}:80") for i in range(5)])
    for view in (pd.Series(h, copy=False)[::3], pd.Series(h, copy=False)[::-1]):
        want = table.lookup_many(view.to_numpy().copy()).tolist()
        assert table.lookup_many(view).tolist() == want


def test_key_columns_are_zero_copy() -> None:
    """Arrow string columns and contiguous numpy S/U arrays are read in place."""
    from hashlb import _columns

    arr = pa.array(TEXT)
    (chunk,) = _columns.key_columns(arr) or [None]
    assert chunk is not None and chunk[5].address == arr.buffers()[2].address
    s = np.array([t.encode() for t in TEXT])
    (chunk,) = _columns.key_columns(s) or [None]
    assert chunk is not None and np.shares_memory(chunk[4], s)


def test_an_empty_array_may_have_no_offsets_buffer(impl: Implementation) -> None:
    """Arrow C++ and Java export a 0-row string array with an empty offsets buffer."""
    hosts = [Host("10.14.2.1:80"), Host("10.14.2.2:80")]
    for typ in (pa.string(), pa.large_string(), pa.binary(), pa.large_binary()):
        empty = pa.Array.from_buffers(typ, 0, [None, pa.py_buffer(b""), pa.py_buffer(b"")])
        assert len(impl.xxh64_many(empty)) == 0
        assert len(impl.Maglev(hosts).pick_many(empty)) == 0
        assert len(impl.RingHash(hosts).pick_many(empty)) == 0


# ---------------------------------------------- malformed Arrow C data producers


def _array_pointer(capsule: Any) -> int:
    import ctypes

    get = ctypes.pythonapi.PyCapsule_GetPointer
    get.restype = ctypes.c_void_p
    get.argtypes = [ctypes.py_object, ctypes.c_char_p]
    return int(get(capsule, b"arrow_array"))


class _NegativeLength:
    """An Arrow producer whose ArrowArray says its length is -5 (the struct's first field)."""

    def __arrow_c_array__(self, requested_schema: object = None) -> tuple[Any, Any]:
        import ctypes

        schema, array = pa.array(["a", "b"]).__arrow_c_array__()
        ctypes.c_int64.from_address(_array_pointer(array)).value = -5
        return schema, array


class _NotCapsules:
    """An object claiming the Arrow C array protocol that returns no capsules."""

    def __arrow_c_array__(self, requested_schema: object = None) -> tuple[Any, Any]:
        return 1, 2


def test_negative_length_producer_is_a_value_error(impl: Implementation) -> None:
    """Not SystemError: a clear ValueError naming the column, on every entry point."""
    m = impl.Maglev([Host("10.0.0.1:80")], table_size=7)
    for call in (impl.xxh64_many, m.pick_many, m.lookup_many):
        with pytest.raises(ValueError, match=r"invalid Arrow column '(keys|hashes)'.*negative"):
            call(_NegativeLength())
    policy = impl.HashPolicy(impl.Header("x-user"))
    with pytest.raises(ValueError, match=r"invalid column 'header:x-user'.*negative"):
        policy.hash_many({"header:x-user": _NegativeLength()})


def test_producer_without_capsules_names_the_column(impl: Implementation) -> None:
    """__arrow_c_array__ returning other than capsules: a TypeError naming the column."""
    with pytest.raises(TypeError, match="keys is not a valid Arrow C data producer"):
        impl.xxh64_many(_NotCapsules())
    policy = impl.HashPolicy(impl.Header("x-user"))
    with pytest.raises(TypeError, match="column 'header:x-user' is not a valid Arrow C data"):
        policy.hash_many({"header:x-user": _NotCapsules()})
