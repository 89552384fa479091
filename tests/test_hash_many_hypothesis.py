"""Property: every row of ``HashPolicy.hash_many`` is ``HashPolicy.hash`` of that row's Request."""

from __future__ import annotations

from itertools import pairwise
from typing import Any

import pytest

hypothesis = pytest.importorskip("hypothesis")
np = pytest.importorskip("numpy")
pa = pytest.importorskip("pyarrow")

from hypothesis import HealthCheck, given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

from ._impl import Implementation  # noqa: E402
from ._rows import expected, got  # noqa: E402
from .strategies import batch_policy_specs, request_columns  # noqa: E402

_SETTINGS = settings(
    max_examples=300,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
_BINARY = {"binary": pa.binary, "large_binary": pa.large_binary, "binary_view": pa.binary_view}


def _policy(impl: Implementation, spec: tuple[list[Any], int]) -> Any:
    methods, seed = spec
    return impl.HashPolicy(*(getattr(impl, c)(*a, **kw) for c, a, kw in methods), seed=seed)


def _bytes(v: object) -> bytes | None:
    if isinstance(v, bytes):
        return v
    if isinstance(v, str):
        return v.encode("utf-8", "surrogatepass")
    return None


def _arrow(key: str, cells: list[Any], typ: str) -> Any:
    """The Arrow form of a text column (binary types: any bytes), lists as list<binary>."""
    if any(isinstance(c, list) for c in cells):
        rows = [
            None if c is None else [_bytes(x) for x in (c if isinstance(c, list) else [c])]
            for c in cells
        ]
        return pa.array(rows, type=pa.list_(pa.binary()))
    return pa.array([_bytes(c) for c in cells], type=_BINARY[typ]())


def _chunked(arr: Any, cuts: list[int]) -> Any:
    """*arr* as a ChunkedArray cut at *cuts* (empty chunks included)."""
    edges = [0, *sorted(min(c, len(arr)) for c in cuts), len(arr)]
    return pa.chunked_array([arr[a:b] for a, b in pairwise(edges)], arr.type)


@_SETTINGS
@given(
    spec=batch_policy_specs,
    table=request_columns(),
    typ=st.sampled_from(sorted(_BINARY)),
    cuts=st.lists(st.integers(0, 6), max_size=3),
)
def test_every_row_agrees_with_hash(
    impl: Implementation,
    spec: tuple[list[Any], int],
    table: tuple[dict, int],
    typ: str,
    cuts: list[int],
) -> None:
    """Random policies over random rows (nulls, multi-valued headers, cookies, queries, IPs)."""
    columns, n = table
    policy = _policy(impl, spec)
    if any(k.startswith("cookie:") for k in columns):  # the model's cookie header is theirs
        methods = [m for m in spec[0] if m[:2] != ("Header", ("cookie",))]
        policy = _policy(impl, (methods, spec[1]))
    want = expected(impl, policy, columns, n)
    assert got(*policy.hash_many(columns)) == want
    arrow = {
        k: _arrow(k, v, typ) if k.startswith(("header:", "cookie:")) or k == "path" else v
        for k, v in columns.items()
    }
    assert got(*policy.hash_many(arrow)) == want
    chunked = {  # every Arrow column cut differently: the rows are run in aligned ranges
        k: _chunked(v, [c + i for c in cuts]) if isinstance(v, pa.Array) else v
        for i, (k, v) in enumerate(arrow.items())
    }
    assert got(*policy.hash_many(chunked)) == want
    out = np.empty(n, np.uint64)
    hashes, _ = policy.hash_many(arrow, out=out)
    assert hashes is out
