"""Property test of ``Cluster.lookup_many`` over columns (#14): row by row ``lookup``, nulls NO_HOST.

For any cluster (priorities, health, panic) on either twin's tables and any
Arrow hash column (sliced, cut into chunks, with nulls), the batch equals
``lookup`` of each row's hash, and a null row is ``NO_HOST``.
"""

from __future__ import annotations

import itertools
from typing import Any

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from hashlb import NO_HOST, Cluster

from . import strategies as hs
from ._impl import Implementation

pa = pytest.importorskip("pyarrow")

FEW = min(80, settings.default.max_examples)


@st.composite
def hash_columns(draw: st.DrawFn) -> tuple[Any, list[int | None]]:
    """An Arrow uint64 or int64 column (sliced, chunked, nulls) and its rows' values."""
    signed = draw(st.booleans())
    top = 2**63 - 1 if signed else 2**64 - 1
    values = draw(st.lists(st.one_of(st.none(), st.integers(0, top)), max_size=60))
    typ = pa.int64() if signed else pa.uint64()
    arr = pa.array(values, typ)
    start, stop, cuts = draw(hs.column_layouts(len(values)))
    if cuts:
        bounds = [start, *cuts, stop]
        column = pa.chunked_array([arr.slice(a, b - a) for a, b in itertools.pairwise(bounds)], typ)
    else:
        column = arr.slice(start, stop - start)
    return column, values[start:stop]


@settings(max_examples=FEW)
@given(
    hosts=hs.cluster_hosts(),
    column=hash_columns(),
    maglev=st.booleans(),
    threshold=hs.panic_percents,
    masked=st.booleans(),
)
def test_lookup_many_agrees_with_lookup(
    impl: Implementation,
    hosts: list[Any],
    column: tuple[Any, list[int | None]],
    maglev: bool,
    threshold: float,
    masked: bool,
) -> None:
    """Every row: the index of lookup(hash) in hosts, NO_HOST for a null or no host."""
    cluster = Cluster(
        hosts,
        balancer=impl.Maglev if maglev else impl.RingHash,
        healthy_panic_threshold=threshold,
        **({"table_size": 31} if maglev else {"min_ring_size": 16, "max_ring_size": 64}),
    )
    data, values = column
    if masked:  # the same rows as a numpy masked array
        raw = np.array([v or 0 for v in values], dtype=np.uint64)
        data = np.ma.MaskedArray(raw, mask=[v is None for v in values])
    want = []
    for v in values:
        host = None if v is None else cluster.lookup(v)
        want.append(NO_HOST if host is None else cluster.hosts.index(host))
    got = cluster.lookup_many(data)
    assert isinstance(got, np.ndarray) and got.dtype == np.uint32
    assert got.tolist() == want
    out = np.zeros(len(values), dtype=np.uint32)
    assert cluster.lookup_many(data, out=out) is out and out.tolist() == want
