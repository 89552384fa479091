"""The contract every table shares (RingHash, Maglev): batches, keys and bad input.

Each test runs on (RingHash, Maglev) x both twins (the ``table_cls`` and
``impl`` fixtures).  What is specific to one engine (the ring layout, the
Maglev fill, golden tables, Envoy's vectors) stays in ``test_ring.py`` and
``test_maglev.py``.
"""

from __future__ import annotations

import array
from collections.abc import Callable, Iterator
from typing import Any

import numpy as np
import pytest

from hashlb import Host

from ._impl import Implementation

M64 = 2**64 - 1

#: Per engine: (hosts of the batch tests, constructor options), as the engine tests had them.
_SPEC: dict[str, tuple[int, dict[str, Any]]] = {
    "RingHash": (50, {"min_ring_size": 5000}),
    "Maglev": (11, {"table_size": 101}),
}


@pytest.fixture(params=["RingHash", "Maglev"])
def table_cls(request: pytest.FixtureRequest, impl: Implementation) -> Any:
    """Return one table class of the ``impl`` twin; every test using it runs per engine."""
    return getattr(impl, request.param)


def _table(table_cls: Any, n_hosts: int | None = None) -> Any:
    """Return a table of *table_cls* with its engine's batch-test hosts and options."""
    n, kwargs = _SPEC[table_cls.__name__]
    hosts = [Host(f"10.6.0.{i}:80") for i in range(n if n_hosts is None else n_hosts)]
    return table_cls(hosts, **kwargs)


# ---- the batch contract (one table: what each input gives) ------------------------------

_KEYS = ["alice", "bob"]


def _np_int64() -> Any:
    return np.array([1, 2], dtype=np.int64)


def _iter_ints() -> Iterator[int]:
    return iter([1, 2])


def _gen_str() -> Iterator[str]:
    return (k for k in _KEYS)


#: name -> a fresh input (iterators are single-use)
INPUTS: dict[str, Callable[[], Any]] = {
    "list[str]": lambda: list(_KEYS),
    "list[bytes]": lambda: [k.encode() for k in _KEYS],
    "tuple[str]": lambda: tuple(_KEYS),
    "generator[str]": _gen_str,
    "numpy U": lambda: np.array(_KEYS),
    "numpy S": lambda: np.array([k.encode() for k in _KEYS]),
    "numpy O": lambda: np.array([_KEYS[0], _KEYS[1].encode()], dtype=object),
    "array('Q')": lambda: array.array("Q", [1, 2]),
    "numpy uint64": lambda: np.array([1, 2], dtype=np.uint64),
    "numpy int64": _np_int64,
    "iterator[int]": _iter_ints,
    "list[int]": lambda: [1, 2],
    "empty list": list,
    "str": lambda: "ab",
    "bytes": lambda: b"ab",
    "bytearray": lambda: bytearray(b"ab"),
    "None": lambda: None,
    "list[int] out of range": lambda: [1, -1],
}

NP32 = ("numpy", None)
ARR = ("array", None)
_KEY0 = r"^keys\[0\] must be str or a C-contiguous bytes-like object, not int$"

#: (method, input) -> ("numpy" | "array", None) or (exception type, message regex)
CONTRACT: dict[tuple[str, str], tuple[Any, str | None]] = {
    ("pick_many", "list[str]"): ARR,
    ("pick_many", "list[bytes]"): ARR,
    ("pick_many", "tuple[str]"): ARR,
    ("pick_many", "generator[str]"): ARR,
    ("pick_many", "numpy U"): NP32,
    ("pick_many", "numpy S"): NP32,
    ("pick_many", "numpy O"): NP32,
    ("pick_many", "array('Q')"): (TypeError, _KEY0),
    ("pick_many", "numpy uint64"): (
        TypeError,
        r"^pick_many\(\) does not take a numpy uint64 array: .*lookup_many",
    ),
    ("pick_many", "numpy int64"): (TypeError, r"^pick_many\(\) does not take a numpy int64 array"),
    ("pick_many", "iterator[int]"): (TypeError, _KEY0),
    ("pick_many", "list[int]"): (TypeError, _KEY0),
    ("pick_many", "empty list"): ARR,
    ("pick_many", "str"): (TypeError, r"^keys must be a sequence of keys, not str$"),
    ("pick_many", "bytes"): (TypeError, r"^keys must be a sequence of keys, not bytes$"),
    ("pick_many", "bytearray"): (TypeError, r"^keys must be a sequence of keys, not bytearray$"),
    ("pick_many", "None"): (TypeError, r"^keys must be a sequence of keys, not NoneType$"),
    ("pick_many", "list[int] out of range"): (TypeError, _KEY0),
    ("lookup_many", "list[str]"): (TypeError, r"^hashes must be ints: "),
    ("lookup_many", "list[bytes]"): (TypeError, r"^hashes must be ints: "),
    ("lookup_many", "tuple[str]"): (TypeError, r"^hashes must be ints: "),
    ("lookup_many", "generator[str]"): (TypeError, r"^hashes must be ints: "),
    ("lookup_many", "numpy U"): (TypeError, r"^hashes must be a 1-D uint64 buffer .*'\d+w'"),
    ("lookup_many", "numpy S"): (TypeError, r"^hashes must be a 1-D uint64 buffer .*'\d+s'"),
    ("lookup_many", "numpy O"): (TypeError, r"^hashes must be a 1-D uint64 buffer .*'O'"),
    ("lookup_many", "array('Q')"): ARR,
    ("lookup_many", "numpy uint64"): NP32,
    ("lookup_many", "numpy int64"): (TypeError, r"^hashes must be a 1-D uint64 buffer"),
    ("lookup_many", "iterator[int]"): ARR,
    ("lookup_many", "list[int]"): ARR,
    ("lookup_many", "empty list"): ARR,
    ("lookup_many", "str"): (
        TypeError,
        r"^hashes must be a uint64 buffer or an iterable of ints, not str$",
    ),
    ("lookup_many", "bytes"): (
        TypeError,
        r"^hashes must be a uint64 buffer or an iterable of ints, not bytes$",
    ),
    ("lookup_many", "bytearray"): (
        TypeError,
        r"^hashes must be a uint64 buffer or an iterable of ints, not bytearray$",
    ),
    ("lookup_many", "None"): (
        TypeError,
        r"^hashes must be a uint64 buffer or an iterable of ints, not NoneType$",
    ),
    ("lookup_many", "list[int] out of range"): (
        ValueError,
        r"^hashes must be in \[0, 2\*\*64\), got -1$",
    ),
}


def test_contract_covers_every_input() -> None:
    """The contract table names both methods for every input."""
    assert set(CONTRACT) == {(m, i) for m in ("pick_many", "lookup_many") for i in INPUTS}


@pytest.mark.parametrize("empty", [False, True], ids=["hosts", "empty"])
@pytest.mark.parametrize(
    ("method", "name"), sorted(CONTRACT), ids=[f"{m}-{n}" for m, n in sorted(CONTRACT)]
)
def test_batch_contract(table_cls: Any, method: str, name: str, empty: bool) -> None:
    """Same input, same output type (numpy -> numpy uint32, else array('I')) or same error.

    On a table with hosts the result holds, per item, what pick/lookup give;
    on an empty table it is empty, of the same type.
    """
    lb = table_cls([]) if empty else _table(table_cls)
    kind, message = CONTRACT[method, name]
    data = INPUTS[name]()
    if message is not None:
        with pytest.raises(kind, match=message):
            getattr(lb, method)(data)
        return
    out = getattr(lb, method)(data)
    if kind == "numpy":
        assert isinstance(out, np.ndarray) and out.dtype == np.uint32 and out.ndim == 1
    else:
        assert isinstance(out, array.array) and out.typecode == "I"
    items = list(INPUTS[name]())
    if empty:
        assert len(out) == 0
        return
    one = lb.pick if method == "pick_many" else lb.lookup
    assert [int(x) for x in out] == [lb.hosts.index(one(item)) for item in items]


# ---- batches equal the single calls ------------------------------------------------------


def test_lookup_many_types(table_cls: Any) -> None:
    """numpy in -> uint32 numpy out; array('Q'), lists, tuples, iterators -> array('I')."""
    hosts = [Host(f"10.0.0.{i}:80") for i in range(5)]
    # Maglev: 31 slots, so 30 and 31 are the edges of h % M.
    lb = table_cls(hosts, table_size=31) if table_cls.__name__ == "Maglev" else table_cls(hosts)
    hashes = [0, 1, 30, 31, 2**63, M64, 12345678901234567]
    want = [lb.hosts.index(lb.lookup(h)) for h in hashes]
    out = lb.lookup_many(np.array(hashes, dtype=np.uint64))
    assert isinstance(out, np.ndarray) and out.dtype == np.uint32
    assert out.tolist() == want
    for src in (array.array("Q", hashes), hashes, tuple(hashes), iter(hashes)):
        res = lb.lookup_many(src)
        assert isinstance(res, array.array) and res.typecode == "I"
        assert res.tolist() == want
    assert list(lb.lookup_many([])) == []
    picked = lb.pick_many(("x", b"y"))
    assert isinstance(picked, array.array) and picked.typecode == "I"


def test_pick_many_matches_pick(table_cls: Any) -> None:
    """pick_many over thousands of mixed keys (list, tuple, generator) equals pick per key.

    5,000+ keys cross the compiled twins' 2,048-key chunks; str, bytes and
    buffer keys (bytearray, memoryview) mix, with non-ASCII and empty keys.
    """
    lb = _table(table_cls)
    keys: list[Any] = [f"user-{i}" for i in range(5000)]
    keys[::700] = [bytearray(b"b%d" % i) for i in range(len(keys[::700]))]
    keys += [b"bytes-key", bytearray(b"ba"), memoryview(b"mv"), "é", "\u00e9\u65e5", ""]
    index_of = {id(h): i for i, h in enumerate(lb.hosts)}
    want = [index_of[id(lb.pick(k))] for k in keys]
    out = lb.pick_many(keys)
    assert isinstance(out, array.array) and out.typecode == "I"
    assert out.tolist() == want
    assert lb.pick_many(tuple(keys)).tolist() == want
    assert lb.pick_many(k for k in keys).tolist() == want
    np_out = lb.pick_many(np.array(["user-1", "user-2"]))
    assert isinstance(np_out, np.ndarray) and np_out.dtype == np.uint32
    assert np_out.tolist() == want[1:3]


# ---- bad input ----------------------------------------------------------------------------


@pytest.mark.parametrize("bad", [1, None, 1.5, ["a"], memoryview(b"abcd")[::2], object()], ids=repr)
def test_bad_key(table_cls: Any, bad: object) -> None:
    """A key that is not str or bytes-like raises TypeError naming it (key, keys[i])."""
    lb = _table(table_cls, 1)
    with pytest.raises(TypeError, match=r"^key must be str or a C-contiguous bytes-like"):
        lb.pick(bad)
    with pytest.raises(TypeError, match=r"^keys\[1\] must be str or a C-contiguous bytes-like"):
        lb.pick_many(["ok", bad])
    with pytest.raises(TypeError, match=r"^keys\[1\] must be str or a C-contiguous bytes-like"):
        lb.pick_many(("ok", bad, "c"))


@pytest.mark.parametrize("bad", ["abc", b"abc", 5], ids=repr)
def test_pick_many_refuses_non_sequence(table_cls: Any, bad: object) -> None:
    """A single str/bytes or a non-iterable is refused as keys (not iterated)."""
    lb = _table(table_cls, 1)
    with pytest.raises(TypeError, match=r"^keys must be a sequence of keys, not"):
        lb.pick_many(bad)


def test_bad_hash_batches(table_cls: Any) -> None:
    """lookup_many rejects non-uint64 buffers (TypeError) and out-of-range ints (ValueError)."""
    lb = _table(table_cls, 1)
    with pytest.raises(TypeError, match=r"^hashes must be a 1-D uint64"):
        lb.lookup_many(np.zeros(3, dtype=np.int32))
    with pytest.raises(TypeError, match="C-contiguous"):
        lb.lookup_many(np.zeros(6, dtype=np.uint64)[::2])
    with pytest.raises(ValueError, match=r"hashes must be in \[0, 2\*\*64\)"):
        lb.lookup_many([1, -1])
    with pytest.raises(TypeError, match=r"^hashes"):
        lb.lookup_many(b"12345678")
    with pytest.raises(TypeError, match=r"^hashes"):
        lb.lookup_many("123")


# ---- Envoy's host-selection retry loop: choose_host ---------------------------------------


def test_choose_host_first_try_is_lookup(table_cls: Any) -> None:
    """With the defaults, choose_host(hash) is lookup(hash); the retry walk is lookup(hash, k)."""
    lb = _table(table_cls)
    for h in (0, 1, 12345, 2**63, M64):
        assert lb.choose_host(h) is lb.lookup(h)
        assert lb.choose_host(h, max_attempts=5) is lb.lookup(h)
        tried = {lb.lookup(h)}
        walk = [lb.lookup(h, k) for k in range(6)]
        expected = next((x for x in walk if x not in tried), walk[-1])
        assert lb.choose_host(h, reject=tried.__contains__, max_attempts=6) is expected
        assert lb.choose_host(h, reject=lambda host: True, max_attempts=4) is walk[3]


def test_choose_host_empty_bad_arguments_and_reject_errors(table_cls: Any) -> None:
    """An empty table gives None; bad arguments raise before *reject* runs; its errors propagate."""
    empty = table_cls([])
    calls: list[Any] = []
    assert empty.choose_host(7) is None
    assert empty.choose_host(7, reject=calls.append, max_attempts=3) is None and calls == []
    lb = _table(table_cls)
    for bad, err, match in (
        ({"max_attempts": 0}, ValueError, r"max_attempts must be in \[1, 65536\], got 0"),
        ({"max_attempts": 65537}, ValueError, r"max_attempts must be in \[1, 65536\]"),
        ({"max_attempts": True}, TypeError, "max_attempts must be an int, not bool"),
        ({"max_attempts": 1.0}, TypeError, "max_attempts must be an int, not float"),
        ({"reject": 3}, TypeError, "reject must be callable or None, not int"),
    ):
        with pytest.raises(err, match=match):
            lb.choose_host(1, **bad)
    with pytest.raises(ValueError, match="hash"):
        lb.choose_host(-1)
    with pytest.raises(TypeError, match="hash"):
        lb.choose_host("1")
    with pytest.raises(TypeError):
        lb.choose_host(1, 2)  # the options are keyword-only

    def boom(host: Host) -> bool:
        raise RuntimeError("predicate failed")

    with pytest.raises(RuntimeError, match="predicate failed"):
        lb.choose_host(1, reject=boom, max_attempts=2)
    blank = table_cls.__new__(table_cls)
    with pytest.raises(TypeError, match="not initialised"):
        blank.choose_host(1)


@pytest.mark.parametrize("table", ["RingHash", "Maglev"])
def test_a_bad_hash_is_the_error_before_a_bad_attempt(impl: Implementation, table: str) -> None:
    """With both arguments bad, every twin reports the hash (it is checked first)."""
    lb = getattr(impl, table)([Host("10.0.0.1:80"), Host("10.0.0.2:80")])
    with pytest.raises(ValueError, match="hash"):
        lb.lookup(-1, "x")
    with pytest.raises(ValueError, match="hash"):
        lb.lookup(2**64, 2**40)
    with pytest.raises(TypeError, match="hash"):
        lb.lookup("h", -1)
