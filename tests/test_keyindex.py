"""``KeyIndex`` (``hashlb._keyindex``), on both twins: exact dense ids in order of first
appearance for the keys of Arrow text columns, the replay accumulators' user names."""

from __future__ import annotations

import pickle
from typing import Any

import numpy as np
import pytest

from ._impl import Implementation

pa = pytest.importorskip("pyarrow")


def _reference(batches: list[list[Any]]) -> tuple[list[list[int]], list[Any]]:
    """The ids of every batch and the keys in id order, by a dict."""
    ids: dict[Any, int] = {}
    return [[ids.setdefault(k, len(ids)) for k in b] for b in batches], list(ids)


def test_ids_in_order_of_first_appearance(impl: Implementation) -> None:
    """Every text type and layout, nulls (one key) and empty strings (another)."""
    index = impl.KeyIndex()
    batches: list[Any] = [
        pa.array(["b", "a", "b", None, ""]),
        pa.array(["", None, "c"], pa.large_string()),
        pa.array(["a", "d"], pa.string_view()),
        pa.array(["d", "e", "b"]).dictionary_encode(),
        pa.chunked_array([pa.array(["f"]), pa.array([], pa.string()), pa.array(["a", None])]),
        pa.array(["zz", "g", "zz"]).slice(1),
    ]
    lists = [b.to_pylist() for b in batches]
    want, keys = _reference(lists)
    got = [index.ids(b) for b in batches]
    assert all(g.dtype == np.int64 for g in got)
    assert [g.tolist() for g in got] == want
    assert len(index) == len(keys)
    out = index.keys()
    assert out.type == pa.large_string() and out.to_pylist() == keys
    assert impl.KeyIndex().keys().to_pylist() == []
    assert repr(index).startswith(f"KeyIndex({len(keys)} keys, max_keys=")


def test_many_keys_cross_the_table_growth(impl: Implementation) -> None:
    """200,000 keys (the table doubles many times), long ones differing only after their
    first 16 bytes, in batches that repeat them: ids equal a dict's."""
    rng = np.random.default_rng(5)
    names = [f"user-{i:011d}" for i in range(100_000)] + [
        f"user-{i:011d}-{'x' * (i % 40)}" for i in range(100_000)
    ]
    order = rng.permutation(len(names)).tolist()
    batches = [[names[j] for j in order[a : a + 50_000]] for a in range(0, len(names), 50_000)]
    batches.append([names[j] for j in rng.integers(0, len(names), 30_000).tolist()])
    want, keys = _reference(batches)
    index = impl.KeyIndex()
    assert [index.ids(pa.array(b)).tolist() for b in batches] == want
    assert index.keys().to_pylist() == keys


def test_bytes_not_text_are_compared(impl: Implementation) -> None:
    """Keys are their UTF-8 bytes: composed and decomposed é are two keys."""
    index = impl.KeyIndex()
    assert index.ids(pa.array(["\u00e9", "e\u0301", "\u00e9"])).tolist() == [0, 1, 0]


def test_max_keys(impl: Implementation) -> None:
    """Past max_keys: OverflowError naming the row, and the call adds no key (all or
    nothing, across the compiled twin's blocks of 512 rows and across chunks)."""
    index = impl.KeyIndex(max_keys=3)
    assert index.ids(pa.array(["x", None])).tolist() == [0, 1]
    with pytest.raises(OverflowError, match=r"^more than 3 distinct keys \(keys\[3\]\)$"):
        index.ids(pa.array(["x", "y", None, "z", "w"]))
    assert index.keys().to_pylist() == ["x", None]
    assert index.ids(pa.array(["y", "x", None])).tolist() == [2, 0, 1]
    big = impl.KeyIndex(max_keys=5000)
    big.ids(pa.array([f"k{i}" for i in range(1000)]))
    many = pa.chunked_array([pa.array([f"n{i}" for i in range(3000)]), pa.array(["k1"] * 9)])
    with pytest.raises(OverflowError, match=r"\(keys\[4009\]\)$"):
        big.ids(pa.chunked_array([*many.chunks, pa.array([f"m{i}" for i in range(2000)])]))
    assert len(big) == 1000 and big.keys().to_pylist() == [f"k{i}" for i in range(1000)]
    assert big.ids(pa.array(["k999", "new"])).tolist() == [999, 1000]  # the table still finds
    for bad in (0, -1, True, 2.0, "3", 2**31, 2**63):
        with pytest.raises(ValueError, match=r"max_keys must be an int in \[1, 2\*\*31 - 1\]"):
            impl.KeyIndex(max_keys=bad)


def test_pickles(impl: Implementation) -> None:
    """A pickled index has the same keys and goes on numbering after them."""
    index = impl.KeyIndex(max_keys=10)
    index.ids(pa.array(["a", None, "b"]))
    again = pickle.loads(pickle.dumps(index))
    assert type(again) is type(index) and again.keys().to_pylist() == ["a", None, "b"]
    assert again.ids(pa.array(["c", "b"])).tolist() == [3, 2]
    with pytest.raises(OverflowError):
        again.ids(pa.array([str(i) for i in range(20)]))


def test_refuses_what_is_not_an_arrow_text_column(impl: Implementation) -> None:
    """Lists, numpy arrays, Arrow non-text types: TypeError saying what to pass."""
    index = impl.KeyIndex()
    for bad in (["a"], np.array(["a"]), "a", None, object()):
        with pytest.raises(TypeError, match="keys must be an Arrow string column"):
            index.ids(bad)
    for bad in (pa.array([1, 2]), pa.array([b"a"]), pa.array([["a"]])):
        with pytest.raises(TypeError, match="keys must be an Arrow string column, not"):
            index.ids(bad)
    assert len(index) == 0


def test_hostile_arrays_raise(impl: Implementation) -> None:
    """Offsets or views outside their buffers: the columns' ValueError, nothing read."""
    offsets = pa.py_buffer(np.array([0, 5, 2, 3], np.int32).tobytes())
    bad = pa.Array.from_buffers(pa.string(), 3, [None, offsets, pa.py_buffer(b"abc")])
    index = impl.KeyIndex()
    with pytest.raises(ValueError, match="row 1: an offset is smaller than the one before"):
        index.ids(bad)
    with pytest.raises(ValueError, match="row 3: an offset is smaller"):
        index.ids(pa.chunked_array([pa.array(["ok", "fine"]), bad]))
    views = pa.py_buffer(np.array([20, 0, 0, 100], np.int32).tobytes())
    sv = pa.Array.from_buffers(pa.string_view(), 1, [None, views, pa.py_buffer(b"y" * 30)])
    with pytest.raises(ValueError, match="row 0: a view reaches outside its data buffer"):
        impl.KeyIndex().ids(sv)
    # a bad view after 600 good ones (past the compiled twin's first block): no key added
    good = pa.array([f"g{i}" for i in range(600)], pa.string_view())
    index = impl.KeyIndex()
    with pytest.raises(ValueError, match="row 600: a view reaches outside"):
        index.ids(pa.chunked_array([good, sv]))
    assert len(index) == 0 and index.ids(pa.array(["g5"])).tolist() == [0]
    with pytest.raises(TypeError, match="keys must be an Arrow string column, not dictionary"):
        index.ids(pa.array(["a"], pa.string_view()).dictionary_encode())


def test_an_uninitialised_index_refuses_to_number(impl: Implementation) -> None:
    """``KeyIndex.__new__`` without ``__init__``: empty, and ids / pickling raise."""
    index = impl.KeyIndex.__new__(impl.KeyIndex)
    assert len(index) == 0 and index.keys().to_pylist() == []
    assert repr(index) == "KeyIndex(0 keys, max_keys=0)"
    for call in (lambda: index.ids(pa.array(["a"])), lambda: pickle.dumps(index)):
        with pytest.raises(TypeError, match="KeyIndex object is not initialised"):
            call()
    with pytest.raises(TypeError, match="cannot run twice"):
        impl.KeyIndex().__init__()
