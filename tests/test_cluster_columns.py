"""``Cluster.lookup_many`` over columns (#14): the tables' batch contract, row by row as ``lookup``.

Arrow ``uint64``/``int64`` arrays (sliced, chunked, with nulls), pandas and
polars Series, numpy (masked) arrays, buffers and lists, with ``out=``, on
both twins' tables; a null row and a hash whose level has no host give
``NO_HOST``.
"""

from __future__ import annotations

import random
from array import array
from typing import Any

import numpy as np
import pytest

from hashlb import NO_HOST, Cluster, Host

from ._impl import Implementation

pa = pytest.importorskip("pyarrow")

HASHES = [random.Random(16).getrandbits(64) for _ in range(500)] + [0, 2**64 - 1, 99, 100]


def hosts(n: int = 24) -> list[Host]:
    """Three priorities, some hosts unhealthy or degraded."""
    return [
        Host(
            f"10.16.0.{i}:80",
            1 + i % 3,
            priority=i % 3,
            health=("unhealthy", "healthy", "degraded", "healthy")[i % 4],
        )
        for i in range(n)
    ]


def clusters(impl: Implementation) -> list[Cluster]:
    many = hosts()
    return [
        Cluster(many, balancer=impl.Maglev, table_size=101),
        Cluster(many, balancer=impl.RingHash, min_ring_size=64, healthy_panic_threshold=90),
        Cluster(many[:6], balancer=impl.Maglev, table_size=31),  # one level, the fast path
        Cluster([Host("10.16.1.1:80", health="unhealthy", priority=1)], balancer=impl.Maglev),
        Cluster([], balancer=impl.Maglev),
    ]


def scalar(cluster: Cluster, hs: list[int | None]) -> list[int]:
    """What ``lookup`` says for each row: the host's index, or NO_HOST (a null, no host)."""
    out = []
    for h in hs:
        host = None if h is None else cluster.lookup(h)
        out.append(NO_HOST if host is None else cluster.hosts.index(host))
    return out


def columns(hs: list[int]) -> dict[str, Any]:
    pd = pytest.importorskip("pandas")
    pl = pytest.importorskip("polars")
    arr = pa.array(hs, pa.uint64())
    as_np = np.array(hs, dtype=np.uint64)
    return {
        "arrow-uint64": arr,
        "arrow-int64": pa.array([h & (2**63 - 1) for h in hs], pa.int64()),
        "chunked": pa.chunked_array([arr[:7], arr[7:7], arr[7:]]),
        "pandas": pd.Series(as_np),
        "polars": pl.Series(as_np),
        "masked-none": np.ma.MaskedArray(as_np, mask=np.zeros(len(hs), bool)),
        "numpy": as_np,
        "array": array("Q", hs),
        "memoryview": memoryview(array("Q", hs)),
        "list": list(hs),
    }


@pytest.mark.parametrize(
    "kind",
    [
        "arrow-uint64",
        "arrow-int64",
        "chunked",
        "pandas",
        "polars",
        "masked-none",
        "numpy",
        "array",
        "memoryview",
        "list",
    ],
)
def test_every_input_agrees_with_lookup(impl: Implementation, kind: str) -> None:
    """Every accepted input gives lookup()'s host index row by row, in uint32."""
    for cluster in clusters(impl):
        column = columns(HASHES)[kind]
        want_hashes: list[int | None] = list(HASHES)
        if kind == "arrow-int64":
            want_hashes = [h & (2**63 - 1) for h in HASHES]
        got = cluster.lookup_many(column)
        want = scalar(cluster, want_hashes)
        assert list(got) == want, (kind, cluster)
        if kind in ("array", "memoryview", "list"):
            assert isinstance(got, array) and got.typecode == "I"
        else:
            assert isinstance(got, np.ndarray) and got.dtype == np.uint32


def test_nulls_give_no_host(impl: Implementation) -> None:
    """A null row (Arrow null, masked numpy row, in any chunk) is NO_HOST; the others are lookup's."""
    hs: list[int | None] = [h if i % 5 else None for i, h in enumerate(HASHES)]
    arr = pa.array(hs, pa.uint64())
    raw = np.array([h or 0 for h in hs], dtype=np.uint64)
    inputs = [
        arr,
        pa.chunked_array([arr[:13], arr[13:]]),
        np.ma.MaskedArray(raw, mask=[h is None for h in hs]),
    ]
    for cluster in clusters(impl):
        want = scalar(cluster, hs)
        for column in inputs:
            assert list(cluster.lookup_many(column)) == want
        assert list(cluster.lookup_many(pa.array([None, None], pa.uint64()))) == [NO_HOST] * 2


def test_sliced_columns_read_their_own_rows(impl: Implementation) -> None:
    """An Arrow slice (an offset into its buffers) is read from its offset."""
    arr = pa.array(HASHES, pa.uint64())
    for cluster in clusters(impl)[:2]:
        for start, stop in ((3, 40), (101, 101), (0, 1)):
            got = cluster.lookup_many(arr.slice(start, stop - start))
            assert list(got) == scalar(cluster, HASHES[start:stop])


def test_out_is_written_and_returned(impl: Implementation) -> None:
    """out= takes every row (columns, numpy and lists); a wrong out raises before any row."""
    for cluster in clusters(impl):
        want = scalar(cluster, HASHES)
        for column in (pa.array(HASHES, pa.uint64()), np.array(HASHES, np.uint64), HASHES):
            out = np.full(len(HASHES), 7, dtype=np.uint32)
            assert cluster.lookup_many(column, out=out) is out
            assert list(out) == want
    cluster = clusters(impl)[0]
    with pytest.raises(TypeError, match="dtype uint32"):
        cluster.lookup_many(pa.array(HASHES, pa.uint64()), out=np.empty(len(HASHES), np.int64))
    with pytest.raises(ValueError, match="shape"):
        cluster.lookup_many(pa.array(HASHES, pa.uint64()), out=np.empty(3, np.uint32))
    with pytest.raises(ValueError, match="shape"):
        cluster.lookup_many(HASHES, out=np.empty(3, np.uint32))
    frozen = np.empty(len(HASHES), np.uint32)
    frozen.flags.writeable = False
    with pytest.raises(ValueError, match="writable"):
        cluster.lookup_many(pa.array(HASHES, pa.uint64()), out=frozen)


def test_bad_columns_raise_what_to_pass(impl: Implementation) -> None:
    """A string column is a TypeError naming the hash types; a negative int64 a ValueError."""
    for cluster in clusters(impl)[:3]:
        with pytest.raises(TypeError, match="uint64 or int64"):
            cluster.lookup_many(pa.array(["a", "b"]))
        with pytest.raises(ValueError, match="row 1: an int64 hash is negative"):
            cluster.lookup_many(pa.array([1, -1], pa.int64()))
        with pytest.raises(ValueError, match="row 8: an int64 hash is negative"):
            cluster.lookup_many(
                pa.chunked_array([pa.array([1] * 7, pa.int64()), pa.array([2, -3], pa.int64())])
            )


def test_an_empty_column_gives_no_rows(impl: Implementation) -> None:
    for cluster in clusters(impl):
        got = cluster.lookup_many(pa.array([], pa.uint64()))
        assert isinstance(got, np.ndarray) and got.dtype == np.uint32 and len(got) == 0
