"""Property tests of the columnar batches (#14): every entry point equals its scalar twin.

For any key column (every Arrow key type, sliced, cut into chunks, with nulls,
empty and non-ASCII keys; numpy ``S``/``U``), on both twins:
``xxh64_many`` equals ``xxh64`` row by row (nulls masked), ``pick_many`` equals
``pick`` (nulls ``NO_HOST``), ``lookup_many`` of a uint64 column equals
``lookup``, and the two twins agree.
"""

from __future__ import annotations

import itertools
from typing import Any

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from hashlb import NO_HOST, Host

from . import strategies as hs
from ._impl import Implementation

pa = pytest.importorskip("pyarrow")  # in the test extra; optional for users

_HOSTS = [Host(f"10.14.2.{i}:80") for i in range(9)]


def _column(values: list[Any], type_name: str, layout: tuple[int, int, list[int]]) -> Any:
    """*values* as an Arrow column of *type_name*, sliced and chunked by *layout*."""
    typ = getattr(pa, type_name)()
    if "binary" in type_name:
        values = [None if v is None else v.encode() for v in values]
    arr = pa.array(values, typ)
    start, stop, cuts = layout
    bounds = [start, *cuts, stop]
    if not cuts:
        return arr.slice(start, stop - start)
    return pa.chunked_array([arr.slice(a, b - a) for a, b in itertools.pairwise(bounds)], typ)


@st.composite
def key_columns(draw: st.DrawFn) -> tuple[Any, list[Any]]:
    """An Arrow key column and the Python values of its rows."""
    values = draw(hs.column_keys)
    type_name = draw(hs.arrow_key_type_names)
    layout = draw(hs.column_layouts(len(values)))
    start, stop, _ = layout
    return _column(values, type_name, layout), values[start:stop]


def _tables(impl: Implementation) -> list[Any]:
    return [
        impl.Maglev(_HOSTS, table_size=101),
        impl.RingHash(_HOSTS, min_ring_size=256),
        impl.Maglev([]),
    ]


@given(col=key_columns(), seed=hs.uint64)
def test_xxh64_many_equals_xxh64(
    impl: Implementation, col: tuple[Any, list[Any]], seed: int
) -> None:
    """xxh64_many of any key column equals xxh64 row by row; nulls are masked."""
    column, values = col
    got = impl.xxh64_many(column, seed)
    mask = np.ma.getmaskarray(got).tolist()
    assert mask == [v is None for v in values]
    data = got.data if isinstance(got, np.ma.MaskedArray) else got
    assert data.tolist() == [0 if v is None else impl.xxh64(v, seed) for v in values]


@given(col=key_columns())
def test_pick_many_equals_pick(impl: Implementation, col: tuple[Any, list[Any]]) -> None:
    """pick_many of any key column equals pick row by row (nulls NO_HOST), on every table."""
    column, values = col
    for lb in _tables(impl):
        out = np.zeros(len(values), np.uint32)
        assert lb.pick_many(column, out=out) is out
        assert out.tolist() == [
            NO_HOST if v is None or not lb.hosts else lb.hosts.index(lb.pick(v)) for v in values
        ]


@given(values=st.lists(hs.data_text | hs.ascii_text, max_size=30))
def test_numpy_keys_equal_pick(impl: Implementation, values: list[str]) -> None:
    """numpy U (hashed as UTF-8) and S arrays equal pick of each item, and the list form."""
    u = np.array(values, dtype="U") if values else np.array([], dtype="U1")
    s = np.array([v.encode() for v in values], dtype="S") if values else np.array([], "S1")
    lb = impl.Maglev(_HOSTS, table_size=101)
    for arr in (u, s):
        want = [lb.hosts.index(lb.pick(k)) for k in arr]
        assert lb.pick_many(arr).tolist() == want
        assert impl.xxh64_many(arr).tolist() == [impl.xxh64(k) for k in arr]
    assert list(lb.pick_many(list(u))) == lb.pick_many(u).tolist()


@given(values=hs.column_hashes, layout=st.data(), signed=st.booleans())
def test_lookup_many_equals_lookup(
    impl: Implementation, values: list[int | None], layout: st.DataObject, signed: bool
) -> None:
    """lookup_many of a uint64 (or int64) Arrow column equals lookup row by row."""
    if signed:
        values = [None if v is None else v >> 1 for v in values]
    typ = pa.int64() if signed else pa.uint64()
    start, stop, cuts = layout.draw(hs.column_layouts(len(values)))
    arr = pa.array(values, typ)
    bounds = [start, *cuts, stop]
    column = pa.chunked_array([arr.slice(a, b - a) for a, b in itertools.pairwise(bounds)], typ)
    rows = values[start:stop]
    for lb in _tables(impl):
        out = np.zeros(len(rows), np.uint32)
        assert lb.lookup_many(column, out=out) is out
        assert out.tolist() == [
            NO_HOST if v is None or not lb.hosts else lb.hosts.index(lb.lookup(v)) for v in rows
        ]


@pytest.mark.c_extension
@given(col=key_columns())
def test_twins_agree(col: tuple[Any, list[Any]]) -> None:
    """Both twins give the same hashes and host indices for any column."""
    from tests._impl import PY, C

    column, _ = col
    assert C.xxh64_many(column).tolist() == PY.xxh64_many(column).tolist()
    for a, b in zip(_tables(C), _tables(PY), strict=True):
        assert a.pick_many(column).tolist() == b.pick_many(column).tolist()
