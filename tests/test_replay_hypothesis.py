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


# ---- route_columns / route_many(columns=) against route() of the JSONL requests

np = pytest.importorskip("numpy")

from hashlb import Host, Router  # noqa: E402
from hashlb._source import Where  # noqa: E402
from hashlb.cli._replay import to_policy_request  # noqa: E402
from hashlb.cli.traffic import parse_request  # noqa: E402
from hashlb.replay import policy_columns, route_columns, to_request_batch  # noqa: E402

from ._impl import Implementation  # noqa: E402
from .strategies import log_rows  # noqa: E402

#: The log's columns as request fields (as ``hashlb simulate --column`` maps them).
_MAPPING = {
    "user": "user",
    "header:x-h": "hx",
    "cookie:sid": "sid",
    "cookie:s": "s",
    "source-ip": "ip",
    "path": "path",
}
_METHODS = ["cookie", "query", "header", "ip", "path"]


def _method(impl: Implementation, kind: str) -> Any:
    if kind == "cookie":
        return impl.Cookie("sid")
    if kind == "query":
        return impl.QueryParameter("tenant")
    if kind == "header":
        return impl.Header("x-h")
    if kind == "path":
        return impl.Header(":path")
    return impl.SourceIP()


def _jsonl_request(impl: Implementation, row: dict[str, Any]) -> Any:
    """The policy Request of *row* written as a hashlb JSONL request (read_jsonl's path),
    as *impl*'s Request."""
    obj: dict[str, Any] = {}
    if row["user"] is not None:
        obj["user"] = row["user"]
    if row["hx"] is not None:
        obj["headers"] = {"x-h": row["hx"]}
    jar = {k: row[k] for k in ("sid", "s") if row[k] is not None}
    if jar:
        obj["cookies"] = jar
    if row["ip"] is not None:
        obj["source_ip"] = row["ip"]
    if row["path"] is not None:
        obj["path"] = row["path"]
    req = to_policy_request(parse_request(obj, Where("r.jsonl", 1)), None)
    return impl.Request(
        headers=req.headers,
        path=req.path,
        remote_address=req.remote_address,
        local_address=req.local_address,
    )


def _log_router(impl: Implementation, mode: str, policy: Any) -> Router:
    hosts = [Host(f"10.0.0.{i}:80", labels={"v": "safe" if i < 4 else "risky"}) for i in range(6)]
    return Router(
        hosts,
        subsets={"safe": {"v": "safe"}, "risky": {"v": "risky"}},
        weights=impl.WeightedSubsetPicker({"safe": 90, "risky": 10}, mode=mode, seed=5),
        policy=policy,
        balancer=impl.Maglev,
        balancer_options={"table_size": 101},
        mode=mode,
        seed=5,
    )


def _batch(rows: list[dict[str, Any]]) -> Any:
    table = pa.table({c: pa.array([r[c] for r in rows], pa.string()) for c in _MAPPING.values()})
    return to_request_batch(table, _MAPPING)


@given(
    rows=log_rows(),
    mode=st.sampled_from(["sticky", "envoy"]),
    top=st.sampled_from(_METHODS),
    subset=st.sampled_from(_METHODS),
)
def test_route_columns_agree_with_route_of_the_jsonl_requests(
    impl: Implementation, rows: list[dict[str, Any]], mode: str, top: str, subset: str
) -> None:
    """A top-level policy (the router's) and a subset-level one (Istio's per-destination
    list, handed to route_columns as *policy*): every row is routed as route() /
    route_hash() routes the same request read from hashlb's JSONL."""
    batch = _batch(rows)
    reqs = [_jsonl_request(impl, r) for r in rows]
    policy = impl.HashPolicy(_method(impl, top))
    a, b = _log_router(impl, mode, policy), _log_router(impl, mode, policy)
    sub, host, lh, none = route_columns(a, batch)
    for i, req in enumerate(reqs):
        r = b.route(req)
        assert a.picker.names[sub[i]] == r.subset
        assert a.hosts[host[i]].address == r.host.address
        assert (int(lh[i]), bool(none[i])) == (r.lookup_hash, r.hash is None)
    # subset-level keys: the route hashes Istio's list of the destinations' keys
    listed = impl.HashPolicy(_method(impl, top), _method(impl, subset))
    a, b = _log_router(impl, mode, None), _log_router(impl, mode, None)
    sub, host, lh, none = route_columns(a, batch, policy=listed)
    for i, req in enumerate(reqs):
        h = listed.hash(req)
        r = b.route_hash(h)
        assert a.picker.names[sub[i]] == r.subset
        assert a.hosts[host[i]].address == r.host.address
        assert (int(lh[i]), bool(none[i])) == (r.lookup_hash, h is None)


@given(rows=log_rows(), mode=st.sampled_from(["sticky", "envoy"]), top=st.sampled_from(_METHODS))
def test_route_many_columns_agree_with_route_of_the_jsonl_requests(
    impl: Implementation, rows: list[dict[str, Any]], mode: str, top: str
) -> None:
    """Router.route_many(columns=policy_columns(batch)) routes each row as route() the request."""
    n = len(rows)
    router = _log_router(impl, mode, impl.HashPolicy(_method(impl, top)))
    values = None
    if mode == "envoy":
        values = np.random.default_rng(n).integers(0, 2**64, size=n, dtype=np.uint64)
    got = router.route_many(
        columns=policy_columns(_batch(rows)), values=values, rng=np.random.default_rng(1)
    )
    for i, row in enumerate(rows):
        h = router.route_policy.hash(_jsonl_request(impl, row))
        assert bool(got.no_hash[i]) == (h is None)
        value = None if values is None else int(values[i])
        r = router.route_hash(int(got.hash[i]) if h is None else h, value)
        assert got.names[got.subset[i]] == r.subset
        assert router.hosts[got.host[i]] == r.host
        assert int(got.hash[i]) == r.lookup_hash


_FIELD_TEXT = (
    st.none() | st.sampled_from(["", "None", "a", "a=b", "\x00", "é"]) | st.text(max_size=6)
)


@given(
    fields=st.lists(
        st.sampled_from(["user", "header:x-user", "cookie:sid", "path", "remote_address"]),
        unique=True,
        min_size=1,
        max_size=5,
    ),
    rows=st.integers(0, 8),
    data=st.data(),
)
def test_batch_users_equal_the_request_by_request_users(
    fields: list[str], rows: int, data: st.DataObject
) -> None:
    """The user of each row built with Arrow compute equals the per-request path's
    (rows_of): the user column where it has a value, else the row's fields joined."""
    from hashlb.cli._columnar import batch_users, rows_of

    cols = {f: data.draw(st.lists(_FIELD_TEXT, min_size=rows, max_size=rows)) for f in fields}
    batch = pa.RecordBatch.from_pydict({f: pa.array(v, pa.string()) for f, v in cols.items()})
    assert batch_users(batch).to_pylist() == [r.user for r in rows_of(batch)]
