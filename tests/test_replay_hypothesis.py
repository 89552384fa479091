"""Property: :class:`hashlb.replay.Stickiness` gives the per-request figures for any split.

Counting the requests in one pass, or in chunks merged in any order and any
grouping, gives exactly the figures of the per-request bookkeeping of
``hashlb simulate`` (``track``/``kept``): users, users on one endpoint, on
one group, flagged users.
"""

from __future__ import annotations

import itertools
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from .strategies import replay_rows

pa = pytest.importorskip("pyarrow")

from hashlb.cli._replay import kept, track  # noqa: E402
from hashlb.replay import Stickiness  # noqa: E402


def reference(rows: list[tuple[str, int, int, bool]]) -> tuple[int, int, int, int, int]:
    """The per-request path: one state per user, ``track`` per routed request."""
    users: dict[str, list[Any]] = {}
    for user, e, g, f in rows:
        state = users.setdefault(user, [None, None, False])
        if e >= 0:
            track(state, e, g)
            state[2] = state[2] or f
    flagged = sum(1 for s in users.values() if s[2])
    return len(rows), len(users), kept(users, 0), kept(users, 1), flagged


def one(rows: list[tuple[str, int, int, bool]]) -> Stickiness:
    s = Stickiness()
    if rows:
        users, e, g, f = zip(*rows, strict=True)
        routed = [x >= 0 for x in e]
        s.add(
            pa.array(users, pa.string()),
            list(e),
            [gi if r else -1 for gi, r in zip(g, routed, strict=True)],
            [fi and r for fi, r in zip(f, routed, strict=True)],
        )
    return s


def figures(s: Stickiness) -> tuple[int, int, int, int, int]:
    return s.requests, s.users, s.one_endpoint, s.one_group, s.flagged


@given(replay_rows, st.data())
def test_any_split_and_merge_order_equals_one_pass(rows: list[Any], data: st.DataObject) -> None:
    """Chunks merged in a random tree equal one pass, and the per-request reference."""
    want = reference(rows)
    assert figures(one(rows)) == want
    cuts = sorted(data.draw(st.lists(st.integers(0, len(rows)), max_size=6)))
    bounds = [0, *cuts, len(rows)]
    parts = [one(rows[a:b]) for a, b in itertools.pairwise(bounds)]
    order = data.draw(st.permutations(range(len(parts))))
    parts = [parts[i] for i in order]
    while len(parts) > 1:  # merge a random neighbour pair until one is left
        i = data.draw(st.integers(0, len(parts) - 2))
        parts[i : i + 2] = [parts[i].merge(parts[i + 1])]
    assert figures(parts[0]) == want


@given(replay_rows)
def test_batches_fed_to_one_accumulator_equal_one_pass(rows: list[Any]) -> None:
    """add() batch after batch (the streaming path) equals one add() of everything."""
    s = Stickiness()
    for start in range(0, len(rows), 7):
        chunk = one(rows[start : start + 7])
        s = s.merge(chunk)
    assert figures(s) == reference(rows)
