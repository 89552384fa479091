"""Property: ``KeyIndex.ids`` numbers keys as a dict does, for any batches, on both twins."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from ._impl import Implementation
from .strategies import index_keys

pa = pytest.importorskip("pyarrow")

_TYPES = [pa.string(), pa.large_string(), pa.string_view()]


@given(
    batches=st.lists(st.lists(index_keys, max_size=20), max_size=5),
    types=st.lists(st.integers(0, len(_TYPES) - 1), min_size=5, max_size=5),
)
def test_ids_equal_a_dict(impl: Implementation, batches: list[list[Any]], types: list[int]) -> None:
    """Each batch as one Arrow text type: ids in order of first appearance, exact."""
    seen: dict[Any, int] = {}
    index = impl.KeyIndex()
    for b, t in zip(batches, types, strict=False):
        want = [seen.setdefault(k, len(seen)) for k in b]
        assert index.ids(pa.array(b, _TYPES[t])).tolist() == want
    assert index.keys().to_pylist() == list(seen)
    assert len(index) == len(seen)
