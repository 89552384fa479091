"""``HashPolicy.hash_many``: every row agrees with ``HashPolicy.hash`` (both twins)."""

from __future__ import annotations

import random
from typing import Any

import pytest

np = pytest.importorskip("numpy")
pa = pytest.importorskip("pyarrow")

from ._impl import Implementation  # noqa: E402
from ._rows import expected, got, row_request  # noqa: E402

USERS = ["alice", None, "bob", "", "caf\xe9", "alice"]


def _check(impl: Implementation, policy: Any, columns: Any, model: dict[str, list[Any]]) -> list:
    n = len(next(iter(model.values()))) if model else 0
    rows = got(*policy.hash_many(columns))
    assert rows == expected(impl, policy, model, n)
    return rows


def test_header_column_every_arrow_layout(impl: Implementation) -> None:
    """string, large_string, string_view, binary, chunked and dictionary columns agree."""
    policy = impl.HashPolicy(impl.Header("x-user"))
    model = {"header:x-user": USERS}
    for typ in (pa.string(), pa.large_string(), pa.string_view(), pa.binary()):
        _check(impl, policy, {"header:x-user": pa.array(USERS, type=typ)}, model)
    chunked = pa.chunked_array([pa.array(USERS[:2]), pa.array(USERS[2:])])
    _check(impl, policy, {"header:X-User": chunked}, model)
    _check(impl, policy, {"header:x-user": pa.array(USERS).dictionary_encode()}, model)
    sliced = pa.array(["zz", *USERS])[1:]
    _check(impl, policy, {"header:x-user": sliced}, model)


def test_header_hashes_are_the_scalar_ones(impl: Implementation) -> None:
    """Row 0 is the documented scalar value, nulls are no hash, "" hashes."""
    policy = impl.HashPolicy(impl.Header("x-user"))
    rows = _check(impl, policy, {"header:x-user": USERS}, {"header:x-user": USERS})
    assert rows[0] == policy.hash(impl.Request(headers={"x-user": "alice"}))
    assert rows[1] is None and rows[3] is not None and rows[0] == rows[5]


def test_tables_and_dataframes(impl: Implementation) -> None:
    """pyarrow Table / RecordBatch, pandas and polars DataFrames, numpy arrays are read."""
    pd = pytest.importorskip("pandas")
    pl = pytest.importorskip("polars")
    policy = impl.HashPolicy(impl.Header("x-user"), impl.QueryParameter("q"))
    users = ["a", "b", None, "d"]
    paths = ["/?q=1", None, "/x?q", "/?a=1&q=2"]
    model = {"header:x-user": users, "path": paths}
    table = pa.table({"header:x-user": users, "path": paths})
    for columns in (
        table,
        table.to_batches()[0],
        pd.DataFrame(model),
        pl.DataFrame(model),
        {"header:x-user": pd.Series(users), "path": pl.Series(paths)},
    ):
        _check(impl, policy, columns, model)
    fixed = {"header:x-user": np.array([b"a", b"b", b"", b"d"]), "path": np.array(["/"] * 4)}
    _check(impl, policy, fixed, {"header:x-user": ["a", "b", "", "d"], "path": ["/"] * 4})


def test_multi_valued_headers(impl: Implementation) -> None:
    """A list column: Envoy sorts and chains the values; old profiles hash only the first."""
    cells: list[Any] = [["b", "a"], ["a", "b"], [], None, ["x"], ["c", None, "a"], [None]]
    model = {"header:x-user": cells}
    column = pa.array(cells, type=pa.list_(pa.string()))
    for policy in (
        impl.HashPolicy(impl.Header("x-user"), seed=7),
        impl.HashPolicy(impl.Header("x-user", envoy_version="1.17")),
    ):
        rows = _check(impl, policy, {"header:x-user": column}, model)
        _check(impl, policy, model, model)
        large = pa.array(cells, type=pa.large_list(pa.binary()))
        _check(impl, policy, {"header:x-user": large}, model)
        for typ in (pa.list_(pa.string_view()), pa.large_list(pa.large_string())):
            _check(impl, policy, {"header:x-user": pa.array(cells, type=typ)}, model)
        sliced = pa.array([["zz"], *cells, ["yy", "xx"]], type=pa.list_(pa.string()))[1:-1]
        _check(impl, policy, {"header:x-user": sliced}, model)
        chunked = pa.chunked_array([column[:3], column[3:]])
        _check(impl, policy, {"header:x-user": chunked}, model)
    assert rows[2] is None and rows[3] is None and rows[6] is None
    assert rows[0] != rows[1]  # first value only: "b" vs "a"
    big = [[f"v{i % 7}" for i in range(j)] for j in range(40)]  # long rows, repeated values
    policy = impl.HashPolicy(impl.Header("x-user"), seed=3)
    _check(impl, policy, {"header:x-user": big}, {"header:x-user": big})
    prefixes = [["ab", "a", "abc", "", "b"], ["a\xff", "a\x00", "a"]]  # bytewise order
    _check(impl, policy, {"header:x-user": prefixes}, {"header:x-user": prefixes})


def test_regex_rewrite_and_pseudo_headers(impl: Implementation) -> None:
    """regex_rewrite and :path / :authority (with the host fallback) agree row by row."""
    policy = impl.HashPolicy(
        impl.Header("x-user", regex_rewrite=("[0-9]+", "N")),
        impl.Header(":path"),
        impl.Header(":authority"),
    )
    model = {
        "header:x-user": ["u1", "u22", None, ["a1", "b2"]],
        "path": ["/a", None, "/c", None],
        "authority": [None, "h.example", None, None],
        "header:host": ["host-a", "host-b", None, "host-d"],
    }
    _check(impl, policy, model, model)


def test_cookies(impl: Implementation) -> None:
    """A cookie:<name> column, the cookie header parsed as Envoy parses it, quotes, empties."""
    policy = impl.HashPolicy(impl.Cookie("sid"))
    headers = ['a=1; sid="x"', "sid=", " sid=abc;sid=2", None, "xsid=1; sid=z", "sid", '"sid"=q']
    model = {"header:cookie": headers}
    rows = _check(impl, policy, model, model)
    assert rows[1] is None and rows[3] is None and rows[5] is None
    _check(impl, policy, {"header:cookie": pa.array(headers, type=pa.large_binary())}, model)
    multi = [["a=1", "sid=2"], ["sid=", "sid=3"], None, [], ["sid=4", None]]
    _check(impl, policy, {"header:cookie": multi}, {"header:cookie": multi})
    values = ["x", None, "", "abc def"]
    rows = _check(impl, policy, {"cookie:sid": values}, {"cookie:sid": values})
    assert rows[1] is None and rows[2] is None


@pytest.mark.parametrize("name", ["sid", "s", "sidx", "x-sid"])
def test_cookie_headers_of_every_shape(impl: Implementation, name: str) -> None:
    """Cookie headers made of names that are prefixes or extensions of the one asked for,
    spaces, '=', ';' and quotes agree with the scalar parser row by row (the compiled
    twin does not search a piece for its '=': a cookie name is a token)."""
    rng = random.Random(name)
    tokens = ["sid", "s", "sidx", "x-sid", "s=d", " ", "  ", "=", ";", "; ", '"', "v", "a b", ""]
    tokens += [f"{name}=", f"; {name}=x", f'{name}="y"', f" {name}"]
    headers = ["".join(rng.choice(tokens) for _ in range(rng.randrange(12))) for _ in range(3000)]
    headers += [f"{name}=1", f" {name}=2", f"{name}", f"x; {name}=", f'{name}=""', f'{name}="q"']
    policy = impl.HashPolicy(impl.Cookie(name))
    model = {"header:cookie": headers}
    rows = _check(impl, policy, {"header:cookie": pa.array(headers)}, model)
    assert rows[-6] is not None and rows[-5] is not None and rows[-4] is None
    assert sum(r is not None for r in rows[:-6]) > 100  # the random headers find it often


def test_generated_cookies(impl: Implementation) -> None:
    """A Cookie with a ttl hashes the cookie it would generate from the two addresses."""
    policy = impl.HashPolicy(impl.Cookie("sid", ttl=60))
    model = {
        "header:cookie": ["sid=1", None, None, "a=b", None],
        "remote_address": ["10.0.0.1:5555", "10.0.0.1:5555", None, "[::1]:80", ("10.0.0.9", 7)],
        "local_address": ["10.0.0.2:80", "10.0.0.2:80", "10.0.0.2:80", "[::1]:8080", "1.2.3.4:1"],
    }
    rows = _check(impl, policy, model, model)
    assert rows[1] is not None and rows[2] is None and rows[4] is not None


def test_query_parameters(impl: Implementation) -> None:
    """The query string is split as Envoy splits it; a bare name hashes the empty value."""
    policy = impl.HashPolicy(impl.QueryParameter("q"))
    paths = ["/?q=1", "/?a=1&q=2&q=3", "/?q", "/q=1", None, "/?qq=1&=q", "/?&q=", "?q=a?b"]
    model = {"path": paths}
    rows = _check(impl, policy, model, model)
    assert rows[2] is not None and rows[3] is None and rows[4] is None and rows[5] is None
    _check(impl, policy, {"path": pa.array(paths, type=pa.string_view())}, model)


def test_source_ip_and_xff(impl: Implementation) -> None:
    """SourceIP: canonical IPs of the remote address, X-Forwarded-For with trusted hops."""
    model = {
        "remote_address": [
            "10.0.0.1:5555",
            "[::1]:80",
            "10.0.0.1",
            None,
            "junk",
            "[::ffff:1.2.3.4]:1",
        ],
        "header:x-forwarded-for": [
            "1.1.1.1, 2.2.2.2",
            None,
            ["3.3.3.3", "4.4.4.4"],
            "5.5.5.5",
            "x",
            None,
        ],
    }
    for policy in (
        impl.HashPolicy(impl.SourceIP()),
        impl.HashPolicy(impl.SourceIP(xff_num_trusted_hops=1)),
        impl.HashPolicy(impl.SourceIP(xff_num_trusted_hops=2, use_remote_address=False)),
    ):
        _check(impl, policy, model, model)


def test_filter_state(impl: Implementation) -> None:
    """filter_state:<key> uint64 columns; nulls and out-of-range values are no hash."""
    policy = impl.HashPolicy(impl.FilterState("k"), seed=5)
    values = [0, 2**64 - 1, None, 12345]
    model = {"filter_state:k": values}
    assert _check(impl, policy, model, model) == [0, 2**64 - 1, None, 12345]
    _check(impl, policy, {"filter_state:k": pa.array(values, type=pa.uint64())}, model)
    _check(
        impl,
        policy,
        {"filter_state:k": np.array([0, 2**64 - 1, 7, 12345], np.uint64)},
        {"filter_state:k": [0, 2**64 - 1, 7, 12345]},
    )
    masked = np.ma.array(np.array([5, 6, 7], np.uint64), mask=[False, True, False])
    assert got(*policy.hash_many({"filter_state:k": masked})) == [5, None, 7]
    signed = np.array([-1, 3], np.int64)
    assert got(*policy.hash_many({"filter_state:k": signed})) == [None, 3]
    odd = [-1, 2**64, True, "7"]
    assert got(*policy.hash_many({"filter_state:k": odd})) == [None] * 4


def test_folding_terminal_and_seed(impl: Implementation) -> None:
    """Several methods fold as rotl1(h) ^ v; terminal stops a row that has a hash."""
    model = {
        "header:x-user": ["a", None, "c", None],
        "header:cookie": ["sid=1", "sid=2", None, None],
        "path": ["/?q=1", "/?q=2", "/?q=3", None],
        "remote_address": ["10.0.0.1:1", None, "10.0.0.3:1", "10.0.0.4:1"],
        "filter_state:k": [1, None, 3, 4],
    }
    for terminal in (False, True):
        for seed in (0, 2**64 - 1):
            policy = impl.HashPolicy(
                impl.Header("x-user", terminal=terminal),
                impl.Cookie("sid", terminal=terminal),
                impl.QueryParameter("q"),
                impl.SourceIP(terminal=terminal),
                impl.FilterState("k"),
                seed=seed,
            )
            _check(impl, policy, model, model)
    assert got(*impl.HashPolicy().hash_many(model)) == [None] * 4


def test_bad_bytes_are_request_data(impl: Implementation) -> None:
    """Non-UTF-8 bytes, lone surrogates and long values hash as the scalar path hashes them."""
    policy = impl.HashPolicy(impl.Header("x-user"), impl.Cookie("s"), impl.QueryParameter("q"))
    model = {
        "header:x-user": [b"\xff\xfe", "\udc80x", "a" * 100_000, 7],
        "header:cookie": [b"s=\xff", "s=\ud800", None, b"s=" + b"v" * 70_000],
        "path": [b"/?q=\xff", "/?q=\udfff", None, "/?" + "x&" * 1000 + "q=1"],
    }
    _check(impl, policy, model, model)


def test_out_and_empty(impl: Implementation) -> None:
    """out= receives the hashes; zero rows and no columns give empty arrays."""
    policy = impl.HashPolicy(impl.Header("x-user"))
    out = np.full(3, 99, np.uint64)
    hashes, no_hash = policy.hash_many({"header:x-user": ["a", None, "b"]}, out=out)
    assert hashes is out and no_hash.tolist() == [False, True, False] and int(out[1]) == 0
    for columns in (
        {},
        {"header:x-user": []},
        pa.table({"header:x-user": pa.array([], pa.string())}),
    ):
        hashes, no_hash = policy.hash_many(columns)
        assert len(hashes) == 0 and len(no_hash) == 0
    with pytest.raises(TypeError, match="dtype uint64"):
        policy.hash_many({"header:x-user": ["a"]}, out=np.zeros(1, np.uint32))
    with pytest.raises(ValueError, match="shape"):
        policy.hash_many({"header:x-user": ["a"]}, out=np.zeros(2, np.uint64))


def test_configuration_errors(impl: Implementation) -> None:
    """Unknown names, wrong types and lengths raise before anything is hashed."""
    policy = impl.HashPolicy(impl.Header("x-user"))
    with pytest.raises(ValueError, match=r"unknown column 'headers:x-user'.*'header:<name>'"):
        policy.hash_many({"headers:x-user": ["a"]})
    for bad in ("header:", "cookie:", "x-user", "Path"):
        with pytest.raises(ValueError, match="unknown column"):
            policy.hash_many({bad: ["a"]})
    with pytest.raises(TypeError, match="column names must be str"):
        policy.hash_many({b"path": ["a"]})
    with pytest.raises(ValueError, match="same length"):
        policy.hash_many({"header:x-user": ["a", "b"], "path": ["/"]})
    twice = pa.table([pa.array(["a"]), pa.array(["b"])], names=["path", "path"])
    with pytest.raises(ValueError, match="'path' is given twice"):
        policy.hash_many(twice)
    with pytest.raises(ValueError, match="same field"):
        policy.hash_many({"header:x-user": ["a"], "header:X-User": ["b"]})
    with pytest.raises(TypeError, match=r"header:x-user.*string"):
        policy.hash_many({"header:x-user": pa.array([1, 2])})
    with pytest.raises(TypeError, match=r"path.*string"):
        policy.hash_many({"path": pa.array([["/a"]])})  # a list column where text is read
    by_query = impl.HashPolicy(impl.QueryParameter("q"))
    assert got(*by_query.hash_many({"path": [["/?q=1"], "/?q=1"]}))[0] is None  # not text
    with pytest.raises(TypeError, match=r"filter_state:k.*uint64"):
        policy.hash_many({"filter_state:k": pa.array(["a"])})
    with pytest.raises(TypeError, match="must be a mapping"):
        policy.hash_many(["a", "b"])
    with pytest.raises(TypeError, match="must be a pyarrow Array"):
        policy.hash_many({"header:x-user": 5})


def test_hostile_arrays(impl: Implementation) -> None:
    """Offsets past the data, decreasing offsets, short buffers: ValueError, never a crash."""
    policy = impl.HashPolicy(impl.Header("x-user"), impl.Cookie("s"), impl.QueryParameter("q"))
    data = pa.py_buffer(b"abcdef")
    built = 0
    for offsets in ([0, 3, 100], [0, 4, 2], [-5, 1, 2], [0, 1]):
        raw = pa.py_buffer(np.array(offsets, np.int32).tobytes())
        try:  # pyarrow's own cheap check refuses some layouts already
            arr = pa.Array.from_buffers(pa.string(), 2, [None, raw, data])
        except pa.ArrowInvalid:
            continue
        built += 1
        for key in ("header:x-user", "header:cookie", "path"):
            with pytest.raises(ValueError, match="invalid column"):
                policy.hash_many({key: arr})
    for offsets in ([0, 1, 0], [0, 2, 1]):
        raw = pa.py_buffer(np.array(offsets, np.int32).tobytes())
        lists = pa.Array.from_buffers(
            pa.list_(pa.string()), 2, [None, raw], children=[pa.array(["a", "b"])]
        )
        built += 1
        for key in ("header:x-user", "header:cookie"):
            with pytest.raises(ValueError, match="invalid column"):
                policy.hash_many({key: lists})
    assert built >= 3


def test_uninitialised_policy(impl: Implementation) -> None:
    """A policy made with __new__ raises the TypeError every method raises."""
    policy = impl.HashPolicy.__new__(impl.HashPolicy)
    with pytest.raises(TypeError, match=r"not initialised|__init__"):
        policy.hash_many({})


def test_model_request(impl: Implementation) -> None:
    """The scalar model itself: a row's cells become that Request's fields."""
    req = row_request(impl, {"header:x-user": [["a", None, "b"]], "cookie:s": ["v"]}, 0)
    assert req.get_all("x-user") == [b"a", b"b"] and req.get_all("cookie") == [b"s=v"]


def test_hostile_cells_are_request_data(impl: Implementation) -> None:
    """Hostile objects as cells give the scalar path's hash or None, never an error."""
    from .strategies import hostile_values

    policy = impl.HashPolicy(
        impl.Header("x-user"),
        impl.Cookie("s", ttl=0),
        impl.QueryParameter("u"),
        impl.SourceIP(xff_num_trusted_hops=1),
        impl.FilterState("k"),
    )
    cells = hostile_values()
    n = len(cells)
    model = {
        "header:x-user": cells,
        "header:cookie": cells[::-1],
        "path": cells,
        "header:x-forwarded-for": cells[::-1],
        "remote_address": cells,
        "local_address": cells[::-1],
        "filter_state:k": [None] * n,
    }
    _check(impl, policy, model, model)
    for v in cells:
        _check(impl, policy, {"filter_state:k": [v]}, {"filter_state:k": [v]})


def test_hostile_columns_raise_clear_errors(impl: Implementation) -> None:
    """A hostile object as a whole column: a TypeError or ValueError, or a result."""
    from .strategies import hostile_values

    policy = impl.HashPolicy(impl.Header("x-user"), impl.FilterState("k"), impl.SourceIP())
    for column in hostile_values():
        for key in ("header:x-user", "filter_state:k", "remote_address", "path"):
            try:
                hashes, no_hash = policy.hash_many({key: column})
            except (TypeError, ValueError):
                continue
            assert len(hashes) == len(no_hash)
    for columns in hostile_values():
        try:
            hashes, no_hash = policy.hash_many(columns)
        except (TypeError, ValueError):
            continue
        assert len(hashes) == 0 and len(no_hash) == 0  # only an empty mapping is a table here


def test_each_method_has_hash_many(impl: Implementation) -> None:
    """``method.hash_many`` is the one-method policy's (seed 0)."""
    columns = {"header:x-user": ["a", None], "path": ["/?q=1", "/"], "filter_state:k": [1, 2]}
    for method in (impl.Header("x-user"), impl.QueryParameter("q"), impl.FilterState("k")):
        hashes, no_hash = method.hash_many(columns)
        want = [method.hash(row_request(impl, columns, i)) for i in range(2)]
        assert got(hashes, no_hash) == want
    with pytest.raises(TypeError, match="not initialised"):
        impl.Header.__new__(impl.Header).hash_many(columns)


def test_header_names_fold_ascii_case_only(impl: Implementation) -> None:
    """Column names match header names as Envoy's LowerCaseString does: ASCII only."""
    for name, column in (("X-\xdc", "header:x-\xdc"), ("x-\u212a", "header:X-\u212a")):
        policy = impl.HashPolicy(impl.Header(name))
        model = {column: ["v", None]}
        assert _check(impl, policy, model, model)[0] is not None
    policy = impl.HashPolicy(impl.Header("k"))  # KELVIN SIGN is not "k"
    assert got(*policy.hash_many({"header:\u212a": ["v"]})) == [None]


def test_threads_share_a_policy_and_a_table(impl: Implementation) -> None:
    """Four threads hashing the same columns (GIL released in C) get the single-thread rows."""
    import threading

    n = 20_000
    table = pa.table(
        {
            "header:x-user": [f"u{i}" if i % 5 else None for i in range(n)],
            "header:cookie": [f"a=1; sid={i}" for i in range(n)],
            "path": [f"/?q={i % 97}" for i in range(n)],
        }
    )
    policy = impl.HashPolicy(impl.Header("x-user"), impl.Cookie("sid"), impl.QueryParameter("q"))
    want = policy.hash_many(table)
    results: list[Any] = [None] * 4

    def run(k: int) -> None:
        results[k] = policy.hash_many(table)

    threads = [threading.Thread(target=run, args=(k,)) for k in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    for hashes, no_hash in results:
        assert np.array_equal(hashes, want[0]) and np.array_equal(no_hash, want[1])


def test_a_lone_surrogate_in_a_numpy_column_is_request_data(impl: Implementation) -> None:
    """A numpy U column with a lone surrogate hashes as the same value in a list does."""
    pol = impl.module("policy")
    policy = pol.HashPolicy(pol.Header("x-user"))
    values = ["\ud800", "alice"]
    want = policy.hash_many({"header:x-user": values})
    got = policy.hash_many({"header:x-user": np.array(values)})
    assert np.array_equal(got[0], want[0]) and np.array_equal(got[1], want[1])
    assert not got[1][1]
