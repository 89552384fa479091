"""Hostile objects and careless paths that once broke the compiled twin's memory safety.

Every case runs on both twins (the ``impl`` fixture) and must give the same
outcome: a result, or a clear ``TypeError``/``ValueError``/``IndexError``.
Cases that used to crash run in a child process (``run_case``), so a
regression fails its test instead of killing pytest; ``.ci/sanitize`` runs
this file under AddressSanitizer + UBSan, where a use-after-free or an
undefined operation aborts the child.

The reproducers of issue #10 (``shared/repro``) are here as regression tests:
``bounded_uaf.py``, ``maglev_pick_many_buffer_uaf.py``, ``check_uint_shift.py``,
``uninit_objects.py``, ``object_array_pointer_hash.py`` and
``noncontig_valueerror.py``.
"""

from __future__ import annotations

import ctypes
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest
import xxhash

import hashlb
from hashlb import ConfigError, Host, Router

from ._impl import Implementation

SRC = str(Path(hashlb.__file__).resolve().parents[1])
#: PEP 688: a class's ``__buffer__`` serves the buffer protocol (Python code inside
#: PyObject_GetBuffer) only from Python 3.12 on.
PEP688 = sys.version_info >= (3, 12)

_PRELUDE = """\
import importlib, sys
TAG = sys.argv[1]
def twin(unit):
    return importlib.import_module(f"hashlb._{unit}_{TAG}")
from hashlb import Host
"""

_RUNNER = """\
import traceback
def _run(code):
    ns = {"twin": twin, "Host": Host}
    try:
        exec(compile(code, "<case>", "exec"), ns)
    except Exception as e:
        return "RAISED " + type(e).__name__ + ": " + str(e)[:300]
    return "RESULT " + repr(ns.get("result"))[:300]
for code in CASES:
    print(_run(code), flush=True)
"""


def run_case(impl: Implementation, *codes: str, timeout: float = 120) -> list[str]:
    """Run each snippet in one child process on *impl*'s twin; return one outcome per snippet.

    An outcome is ``"RESULT <repr of result>"`` or ``"RAISED <Type>: <message>"``.
    The child must exit 0: a crash (a signal, or a sanitizer's exit code) fails.
    """
    env = dict(os.environ)
    env.pop("HASHLB_NO_EXTENSIONS", None)
    if impl.is_pure_python:
        env["HASHLB_NO_EXTENSIONS"] = "1"
    env["PYTHONPATH"] = SRC + os.pathsep + env.get("PYTHONPATH", "")
    cases = [textwrap.dedent(c) for c in codes]
    program = _PRELUDE + f"CASES = {cases!r}\n" + _RUNNER
    proc = subprocess.run(
        [sys.executable, "-c", program, impl.tag],
        capture_output=True,
        text=True,
        timeout=timeout,
        env=env,
        check=False,
    )
    assert proc.returncode == 0, (
        f"the {impl} twin's child died (exit {proc.returncode}):\n{proc.stderr[-4000:]}"
    )
    out = proc.stdout.strip().splitlines()
    assert len(out) == len(codes), proc.stdout + proc.stderr[-2000:]
    return out


# ---------------------------------------------------------------- item 1: BoundedLoad.lookup


_BOUNDED = """
hosts = [Host(f"10.0.0.{i}:80") for i in range(1, 4)]
bl = twin("bounded").BoundedLoad(twin("maglev").Maglev(hosts, table_size=7), hash_balance_factor=150)
"""


def test_bounded_lookup_count_index_resizing_the_list(impl: Implementation) -> None:
    """bounded_uaf.py: a count's ``__index__`` that regrows the list (was a use-after-free).

    Both twins read the list as it is at each step, as Python's list iteration
    does: the next item is now an ``object()``, refused by name.
    """
    grow = (
        _BOUNDED
        + """
class Evil:
    def __index__(self):
        active.clear()
        active.extend([object() for _ in range(100000)])  # frees the old item array
        return 0
active = [Evil(), 0, 0]
result = bl.lookup(3, active)
"""
    )
    shrink = (
        _BOUNDED
        + """
class Evil:
    def __index__(self):
        active.clear()
        return 0
active = [Evil(), 0, 0]
result = bl.lookup(3, active)
"""
    )
    swap = (
        _BOUNDED
        + """
class Evil:
    def __index__(self):
        active[:] = [0, 9, 0]
        return 7
active = [Evil(), 0, 0]
result = bl.lookup(3, active).address
"""
    )
    out = run_case(impl, grow, shrink, swap)
    assert out[0] == "RAISED TypeError: active[i] must be an int, not object"
    assert out[1] == "RAISED ValueError: active must have one count per host (3), got 1"
    # counts read: 7 (Evil), then the new list's 9 and 0: host 0 at 7 is overloaded.
    assert out[2] == "RESULT '10.0.0.3:80'"


def test_bounded_lookup_counts_from_any_sequence(impl: Implementation) -> None:
    """Tuples, ranges and generators of counts read the same as lists."""
    hosts = [Host(f"10.0.0.{i}:80") for i in range(1, 4)]
    bl = impl.BoundedLoad(impl.Maglev(hosts, table_size=7), hash_balance_factor=150)
    want = bl.lookup(3, [7, 0, 0])
    assert bl.lookup(3, (7, 0, 0)) is want
    assert bl.lookup(3, (c for c in (7, 0, 0))) is want
    assert bl.lookup(3, np.array([7, 0, 0], dtype=np.uint32)) is want
    with pytest.raises(ValueError, match=r"one count per host \(3\), got 2"):
        bl.lookup(3, range(2))


def test_lease_made_by_hand_cannot_write_out_of_bounds(impl: Implementation) -> None:
    """A ``Lease`` built by hand with a bad index raises IndexError (C wrote out of bounds)."""
    out = run_case(
        impl,
        _BOUNDED + "twin('bounded').Lease(bl, 10**6, None).release()",
        _BOUNDED + "twin('bounded').Lease(bl, 3, None).release()",
        _BOUNDED + "result = bl.active",
    )
    assert out[0].startswith("RAISED IndexError: host index 1000000 out of range for 3 hosts")
    assert out[1].startswith("RAISED IndexError: host index 3 out of range")
    assert out[2] == "RESULT (0, 0, 0)"


def test_bounded_load_refuses_impossible_normalized_weights(impl: Implementation) -> None:
    """An impostor table's weights outside [0, 1] (NaN too) are refused at construction.

    The compiled twin converts ``ceil(total_slots * w)`` to uint32: undefined
    behaviour for such weights.
    """
    hosts = (Host("a:1"), Host("b:1"))

    class Table:
        def __init__(self, weights: tuple[float, ...]) -> None:
            self.hosts = hosts
            self.normalized_order = (0, 1)
            self.normalized_weights = weights

        def lookup(self, h: int, attempt: int = 0) -> Host:
            return hosts[0]

    for bad in ((0.5, float("nan")), (2.0, 0.5), (-0.1, 0.5), (float("inf"), 0.0)):
        with pytest.raises(ValueError, match="normalized_weights must be in"):
            impl.BoundedLoad(Table(bad), hash_balance_factor=150)
    with pytest.raises(ValueError, match="normalized_order holds 5"):
        table = Table((0.5, 0.5))
        table.normalized_order = (0, 5)
        impl.BoundedLoad(table, hash_balance_factor=150)
    assert (
        impl.BoundedLoad(Table((1.0, 0.0)), hash_balance_factor=150).lookup(7, [100, 0]) is hosts[0]
    )


# ---------------------------------------------------------------- item 3: _check_uint


def test_numpy_and_index_ints_are_accepted(impl: Implementation) -> None:
    """check_uint_shift.py: ``__index__`` ints >= 1 were refused by the C twin (1 << bits UB)."""
    bl = impl.BoundedLoad(
        impl.Maglev([Host("a:1"), Host("b:1")], table_size=7), hash_balance_factor=150
    )

    class Index:
        def __init__(self, v: int) -> None:
            self.v = v

        def __index__(self) -> int:
            return self.v

    assert bl.lookup(3, [np.uint32(5), 0]) is bl.lookup(3, [5, 0])
    assert bl.lookup(3, np.array([5, 0])) is bl.lookup(3, [5, 0])
    assert bl.lookup(3, [Index(2**32 - 1), 0]) is bl.lookup(3, [2**32 - 1, 0])
    assert bl.lookup(3, [0, 0], total=np.int64(7)) is bl.lookup(3, [0, 0], total=7)
    assert bl.lookup(3, [0, 0], total=Index(2**64 - 1)) is bl.lookup(3, [0, 0], total=2**64 - 1)
    assert impl.module("bounded")._mt19937(np.uint64(5489), 3) == impl.module("bounded")._mt19937(
        5489, 3
    )
    assert impl.module("bounded")._mt19937(Index(2**64 - 1), 2) == impl.module("bounded")._mt19937(
        2**64 - 1, 2
    )
    assert impl.module("bounded")._probe_order(2, np.int64(5)) == [2, 1, 0, 4, 3]
    for bad, field in (([2**32, 0], "active"), ([Index(2**32), 0], "active")):
        with pytest.raises(ValueError, match=rf"{field}\[i\] must be in \[0, 2\*\*32\)"):
            bl.lookup(3, bad)
    with pytest.raises(ValueError, match=r"total must be in \[0, 2\*\*64\), got -1"):
        bl.lookup(3, [0, 0], total=Index(-1))
    with pytest.raises(ValueError, match=r"got <int of about 1001 digits>"):
        bl.lookup(3, [0, 0], total=10**1000)
    with pytest.raises(TypeError, match=r"active\[i\] must be an int, not bool"):
        bl.lookup(3, [True, 0])
    with pytest.raises(ValueError, match=r"seed must be in \[0, 2\*\*64\)"):
        impl.module("bounded")._mt19937(np.int64(-1), 1)


# ---------------------------------------------------------------- the shuffle caps


def test_shuffle_length_is_capped(impl: Implementation, monkeypatch: pytest.MonkeyPatch) -> None:
    """mt19937/probe_order refuse n above MAX_SHUFFLE_N (2**32 - 1 built ~4e9 ints)."""
    import hashlb._validate as validate

    assert impl.module("bounded").MAX_SHUFFLE_N == validate.MAX_SHUFFLE_N == 2**20
    assert hashlb.bounded.MAX_SHUFFLE_N == 2**20
    for fn in (impl.module("bounded")._mt19937, impl.module("bounded")._probe_order):
        with pytest.raises(ValueError, match=r"n must be in \[0, MAX_SHUFFLE_N = 1_048_576\]"):
            fn(0, 2**32 - 1)
        with pytest.raises(ValueError, match="MAX_SHUFFLE_N"):
            fn(0, -1)
        with pytest.raises(TypeError, match="n must be an int, not float"):
            fn(0, 3.0)
    monkeypatch.setattr(validate, "MAX_SHUFFLE_N", 10)  # both twins read the shared cap
    assert sorted(impl.module("bounded")._probe_order(3, 10)) == list(range(10))
    assert len(impl.module("bounded")._mt19937(3, 10)) == 10
    for fn in (impl.module("bounded")._mt19937, impl.module("bounded")._probe_order):
        with pytest.raises(ValueError, match="MAX_SHUFFLE_N = 10"):
            fn(3, 11)


# ---------------------------------------------------------------- item 2: pick_many + PEP 688


_BUFFER_KEY = """
class Key:
    def __buffer__(self, flags):
        keys.clear()
        keys.extend(object() for _ in range(10000))  # frees the old item array
        return memoryview(b"k")
names = ["user-%d" % i for i in range(100)] + [b"b-%d" % i for i in range(3000)]
"""


@pytest.mark.parametrize("table", ["Maglev", "RingHash"])
def test_pick_many_key_buffer_resizing_the_list(impl: Implementation, table: str) -> None:
    """maglev_pick_many_buffer_uaf.py: a key's ``__buffer__`` empties and regrows the list.

    Both twins hash a snapshot of *keys* (the pure twin's ``tuple(keys)``):
    the result is that of the list as passed.  Without PEP 688 (Python <
    3.12) the key has no buffer and is refused.
    """
    unit = "maglev" if table == "Maglev" else "ring"
    setup = f"""
lb = twin("{unit}").{table}([Host("10.0.0.1:80"), Host("10.0.0.2:80"), Host("10.0.0.3:80")])
"""
    first = (
        setup
        + _BUFFER_KEY
        + """
keys = [Key()] + names
got = list(lb.pick_many(keys))
result = got == list(lb.pick_many([b"k"] + names))
"""
    )
    # The buffer key in the second chunk: the first chunk was read from the list in place.
    later = (
        setup
        + _BUFFER_KEY
        + """
keys = names[:2500] + [Key()] + names[2500:]
got = list(lb.pick_many(keys))
result = got == list(lb.pick_many(names[:2500] + [b"k"] + names[2500:]))
"""
    )
    for outcome in run_case(impl, first, later):
        if PEP688:
            assert outcome == "RESULT True"
        else:
            assert outcome.startswith("RAISED TypeError: key")


def test_xxh64_many_key_buffer_resizing_the_list(impl: Implementation) -> None:
    """A key's ``__buffer__`` empties and regrows the list ``xxh64_many`` reads.

    As in ``pick_many``, both twins hash a snapshot: the result is that of
    the list as passed, with the key at the start or after 2,500 keys.
    """
    cases = []
    for at in (0, 2500):
        cases.append(
            _BUFFER_KEY
            + f"""
keys = names[:{at}] + [Key()] + names[{at}:]
got = list(twin("hashing").xxh64_many(keys))
result = got == list(twin("hashing").xxh64_many(names[:{at}] + [b"k"] + names[{at}:]))
"""
        )
    for outcome in run_case(impl, *cases):
        if PEP688:
            assert outcome == "RESULT True"
        else:
            assert outcome.startswith("RAISED TypeError: value")


@pytest.mark.parametrize("table", ["Maglev", "RingHash"])
def test_pick_many_reads_buffers_and_text_alike(impl: Implementation, table: str) -> None:
    """str, bytes, bytearray and memoryview keys mixed in one list hash by their bytes."""
    lb = getattr(impl, table)([Host(f"10.0.0.{i}:80") for i in range(1, 6)])
    keys = ["a", b"b", bytearray(b"c"), memoryview(b"d"), "é"] * 700
    want = [lb.hosts.index(lb.pick(k)) for k in keys]
    assert list(lb.pick_many(keys)) == want
    assert list(lb.pick_many(tuple(keys))) == want
    assert list(lb.pick_many(iter(keys))) == want


# ---------------------------------------------------------------- item 4: before __init__


_UNINIT_CASES: dict[str, tuple[str, list[str]]] = {
    "Maglev": (
        "o = twin('maglev').Maglev.__new__(twin('maglev').Maglev)",
        [
            "o.lookup(1)",
            "o.pick('k')",
            "o.lookup_many([1])",
            "o.pick_many(['k'])",
            "o.hosts",
            "o.table",
            "o.table_size",
            "o.entries_per_host",
            "o.nbytes",
            "o.normalized_weights",
            "len(o)",
            "o.__reduce__()",
        ],
    ),
    "RingHash": (
        "o = twin('ring').RingHash.__new__(twin('ring').RingHash)",
        [
            "o.lookup(1)",
            "o.pick('k')",
            "o.lookup_many([1])",
            "o.pick_many(['k'])",
            "o.hosts",
            "o.ring",
            "o.min_ring_size",
            "o.hash_function",
            "o.nbytes",
            "len(o)",
            "o.__reduce__()",
        ],
    ),
    "BoundedLoad": (
        "o = twin('bounded').BoundedLoad.__new__(twin('bounded').BoundedLoad)",
        [
            "o.lookup(1, [])",
            "o.acquire(1)",
            "o.release(Host('a:1'))",
            "o._release_index(0)",
            "o.active",
            "o.lb",
            "o.hash_balance_factor",
        ],
    ),
    "Lease": (
        "o = twin('bounded').Lease.__new__(twin('bounded').Lease)",
        ["o.release()", "o.__enter__()"],
    ),
    "WeightedSubsetPicker": (
        "W = twin('subset').WeightedSubsetPicker\no = W.__new__(W)",
        [
            "o.choose_many([1])",  # was SIGFPE: value % total with total == 0
            "o.choose(1)",
            "o.choose_index(1)",
            "o.pick_many([1])",  # the deprecated names: a warning, then the same TypeError
            "o.pick(1)",
            "o.pick_index(1)",
            "o.names",
            "o.total",
            "o.salts",
            "o.with_weights({'a': 1})",
            "hash(o)",
            "o == W({'a': 1})",
            "o.__reduce__()",
        ],
    ),
    "Route": (
        "R = twin('router').Route\no = R.__new__(R)",
        ["o.subset", "o.host", "o.lookup_hash", "tuple(o)", "hash(o)", "o == o", "o.__reduce__()"],
    ),
    "_RouteCore": (
        "C = twin('router')._RouteCore\no = C.__new__(C)",
        ["o.route(None)", "o.route_hash(1, value=1)", "o.route_hash(None)"],
    ),
    "Request": (
        "P = twin('policy')\no = P.Request.__new__(P.Request)",
        [
            "P.Header('x').hash(o)",
            "P.Header(':path').hash(o)",
            "P.Cookie('a').hash(o)",
            "P.Cookie('a', ttl=5).evaluate(o)",
            "P.QueryParameter('q').hash(o)",
            "P.SourceIP().hash(o)",
            "P.SourceIP().client_ip(o)",
            "P.HashPolicy(P.Header('x')).hash(o)",
            "P.HashPolicy(P.Header('x')).evaluate(o)",
            "o.headers",
            "o.path",
            "o.remote_address",
            "o.get_all('x')",
        ],
    ),
    "Request subclass": (
        "P = twin('policy')\n"
        "class R(P.Request):\n"
        "    def __init__(self, env):\n"
        "        self.env = env\n"
        "o = R({})",
        ["P.Header('x').hash(o)", "P.HashPolicy(P.SourceIP()).hash(o)", "o.headers"],
    ),
    "HashResult": (
        "P = twin('policy')\no = P.HashResult.__new__(P.HashResult)",
        ["o.hash", "o.set_cookie", "o.set_cookies", "hash(o)", "o == P.HashResult(1)"],
    ),
    "Header": (
        "P = twin('policy')\no = P.Header.__new__(P.Header)\nr = P.Request(headers={'x': 'y'})",
        ["o.hash(r)", "P.HashPolicy(o).hash(r)", "o.name", "o.terminal", "hash(o)", "o == o"],
    ),
    "Cookie": (
        "P = twin('policy')\no = P.Cookie.__new__(P.Cookie)\n"
        "r = P.Request(headers={'cookie': 'a=b'}, remote_address='1.2.3.4:5')",
        [
            "o.hash(r)",  # was a NULL dereference
            "o.evaluate(r)",
            "P.HashPolicy(o).evaluate(r)",
            "o.set_cookie_value('v')",
            "o.name",
            "o.ttl",
            "hash(o)",
        ],
    ),
    "QueryParameter": (
        "P = twin('policy')\no = P.QueryParameter.__new__(P.QueryParameter)\n"
        "r = P.Request(path='/?q=1')",
        ["o.hash(r)", "P.HashPolicy(o).hash(r)", "o.name", "hash(o)"],
    ),
    "SourceIP": (
        "P = twin('policy')\no = P.SourceIP.__new__(P.SourceIP)\n"
        "r = P.Request(remote_address='1.2.3.4:5')",
        ["o.hash(r)", "o.client_ip(r)", "P.HashPolicy(o).hash(r)", "o.use_remote_address"],
    ),
    "HashPolicy": (
        "P = twin('policy')\no = P.HashPolicy.__new__(P.HashPolicy)\nr = P.Request()",
        [
            "o.hash(r)",
            "o.evaluate(r)",
            "o.policies",
            "o.seed",
            "len(o)",
            "hash(o)",
            "o == P.HashPolicy()",
        ],
    ),
}


@pytest.mark.parametrize("name", sorted(_UNINIT_CASES))
def test_objects_used_before_init_raise_type_error(impl: Implementation, name: str) -> None:
    """uninit_objects.py: every public class is unusable before ``__init__``, in both twins.

    Each method and property raises TypeError naming the class (was SIGFPE,
    an out-of-bounds read or a NULL dereference in C, AttributeError in the
    pure twin); ``repr`` still works (it says so where the class has a repr).
    """
    setup, ops = _UNINIT_CASES[name]
    out = run_case(impl, *[f"{setup}\nresult = {op}" for op in ops], f"{setup}\nresult = repr(o)")
    for op, outcome in zip(ops, out, strict=False):
        assert outcome.startswith("RAISED TypeError: "), (op, outcome)
        assert "object is not initialised" in outcome, (op, outcome)
    assert out[-1].startswith("RESULT '<"), out[-1]
    if name not in ("Request", "Request subclass", "_RouteCore"):  # they have no own repr
        assert "not initialised" in out[-1], out[-1]


def test_uninitialised_message_names_the_class_and_the_fix(impl: Implementation) -> None:
    """The message says which ``__init__`` did not run and how to build the object."""
    m = impl.Maglev.__new__(impl.Maglev)
    with pytest.raises(TypeError) as e:
        m.lookup(0)
    assert str(e.value) == (
        "Maglev object is not initialised (Maglev.__init__ did not run); use Maglev(...)"
    )

    class MyRequest(impl.Request):  # type: ignore[misc, name-defined]
        def __init__(self) -> None:
            pass

    with pytest.raises(TypeError) as e:
        impl.Header("x").hash(MyRequest())
    assert str(e.value) == (
        "MyRequest object is not initialised (Request.__init__ did not run); "
        "use MyRequest(...) whose __init__ calls super().__init__()"
    )


def test_objects_that_failed_init_stay_unusable(impl: Implementation) -> None:
    """An ``__init__`` that raised (and was caught by a subclass) leaves nothing half-built.

    The compiled RingHash used to have a built ring and no hosts: a lookup
    read hosts from None.
    """
    code = """
from collections.abc import Mapping
class LW(Mapping):  # prepare() reads items(); dict() copies keys() and fails
    def __getitem__(self, k): return {"z": 1}[k]
    def __iter__(self): return iter(["z"])
    def __len__(self): return 1
    def keys(self): raise RuntimeError("no copy")
hosts = [Host("a:1", locality="z"), Host("b:1", locality="z")]
class T(twin("UNIT").CLS):
    def __init__(self):
        try:
            super().__init__(hosts, locality_weights=LW())
        except RuntimeError:
            pass
t = T()
result = t.OP
"""
    cases = [
        code.replace("UNIT", u).replace("CLS", c).replace("OP", op)
        for u, c in (("ring", "RingHash"), ("maglev", "Maglev"))
        for op in ("lookup(0)", "pick('k')", "hosts", "pick_many(['k'])")
    ]
    for outcome in run_case(impl, *cases):
        assert outcome.startswith("RAISED TypeError: T object is not initialised"), outcome


def test_init_cannot_run_twice(impl: Implementation) -> None:
    """A second ``__init__`` would replace the C arrays under a concurrent reader."""
    out = run_case(
        impl,
        "W = twin('subset').WeightedSubsetPicker\nw = W({'a': 1, 'b': 2})\nw.__init__({'a': 1})",
        "W = twin('subset').WeightedSubsetPicker\n"
        "w = W({'a': 1})\n"
        "c = twin('router')._RouteCore(None, False, w, ((lambda h: 1, None, 0, ()),),"
        " lambda b: 1, True, None)\n"
        "c.__init__(None, False, w, ((lambda h: 1, None, 0, ()),), lambda b: 1, True, None)",
    )
    assert (
        out[0] == "RAISED TypeError: WeightedSubsetPicker is immutable; __init__ cannot run twice"
    )
    assert out[1] == "RAISED TypeError: _RouteCore is immutable; __init__ cannot run twice"


# ---------------------------------------------------------------- hunted: tables from callers


def test_route_core_checks_tables_from_its_caller(impl: Implementation) -> None:
    """_RouteCore trusted its tables: fewer tables than subsets, or a table item beyond
    the hosts, read out of bounds; a list of hosts was read as a tuple."""
    setup = """
from array import array
S = twin("subset")
R = twin("router")
picker = S.WeightedSubsetPicker({"a": 1, "b": 1}, mode="envoy")
hosts = (Host("h:1"), Host("h:2"))
def core(tables):
    return R._RouteCore(None, False, picker, tables, lambda b: 5, False, None)
table = memoryview(array("H", [0, 1, 7])).toreadonly()
"""
    out = run_case(
        impl,
        setup + "core(((None, table, 3, hosts),))",
        setup + "result = core(((None, table, 3, hosts),) * 2).route_hash(2, value=1).host",
        setup + "result = core(((None, table, 3, list(hosts)),) * 2).route_hash(0, value=0).host",
        setup + "result = core(((None, table, 3, hosts),) * 2).route_hash(1, value=0).host",
        setup
        + "core(((None, memoryview(array('H', [0] * 6)).cast('B').cast('H', (3, 2)), 3, hosts),)"
        " * 2)",
    )
    assert out[0].startswith("RAISED ValueError: tables must have one entry per subset (2), got 1")
    assert out[1] == "RAISED IndexError: tuple index out of range"
    assert out[2] == "RESULT Host('h:1')"
    assert out[3] == "RESULT Host('h:2')"
    assert out[4].startswith("RAISED ValueError: a Maglev table must be")


def test_route_core_tables_list_shrunk_by_a_table_buffer(impl: Implementation) -> None:
    """A table whose ``__buffer__`` (PEP 688) empties the tables list while the core reads it.

    The compiled core read ``tables[i]`` of a list without bounds checks; both
    twins now read a snapshot.  Without PEP 688 the table is not a buffer.
    """
    code = """
from array import array
S = twin("subset")
picker = S.WeightedSubsetPicker({"a": 1, "b": 1}, mode="envoy")
hosts = (Host("h:1"), Host("h:2"))
class Table:
    def __buffer__(self, flags):
        tables.clear()
        return memoryview(array("H", [1, 0, 1]))
tables = [(None, Table(), 3, hosts), (None, Table(), 3, hosts)]
core = twin("router")._RouteCore(None, False, picker, tables, lambda b: 5, False, None)
result = [core.route_hash(h, value=v).host.address for h in (0, 1) for v in (0, 1)]
"""
    (out,) = run_case(impl, code)
    if PEP688:
        assert out == "RESULT ['h:2', 'h:2', 'h:1', 'h:1']"
    else:
        assert out.startswith("RAISED TypeError: memoryview: a bytes-like object is required")


def test_maglev_table_array_cannot_be_resized_or_poisoned(impl: Implementation) -> None:
    """``Maglev.table.obj`` is the table's own array: resizing it would free the
    memory the compiled twin reads; writing a bad host index read out of bounds."""
    setup = """
lb = twin("maglev").Maglev([Host("a:1"), Host("b:1")], table_size=7)
arr = lb.table.obj
"""
    out = run_case(
        impl,
        setup + "arr.extend([0] * 100000)",
        setup + "arr[0] = 60000\nresult = lb.lookup(0)",
        setup + "arr[0] = 1\nresult = lb.lookup(0).address",
    )
    assert out[0].startswith("RAISED BufferError")
    assert out[1] == "RAISED IndexError: tuple index out of range"
    assert out[2] == "RESULT 'b:1'"


def test_host_subclass_fields_are_checked_before_a_build(impl: Implementation) -> None:
    """A Host subclass with a str hash key or a float weight was read as C bytes/ints."""
    cases = []
    for unit, cls in (("maglev", "Maglev"), ("ring", "RingHash")):
        cases += [
            f"""
class H(Host):
    __slots__ = ("_kb",)
    @property
    def _key_bytes(self): return "not-bytes"
    @_key_bytes.setter
    def _key_bytes(self, v): object.__setattr__(self, "_kb", v)
result = twin("{unit}").{cls}([H("a:1"), H("b:1")])
""",
            f"""
class H(Host):
    __slots__ = ("_w",)
    @property
    def weight(self): return 0.5
    @weight.setter
    def weight(self, v): object.__setattr__(self, "_w", v)
result = twin("{unit}").{cls}([H("a:1"), H("b:1")])
""",
            f"""
class H(Host):
    __slots__ = ("_w",)
    @property
    def weight(self): return -3
    @weight.setter
    def weight(self, v): object.__setattr__(self, "_w", v)
result = twin("{unit}").{cls}([H("a:1"), H("b:1")])
""",
        ]
    out = run_case(impl, *cases)
    for i in range(0, len(out), 3):
        assert out[i] == "RAISED TypeError: hosts[0] gives a hash key of type str, not bytes"
        assert out[i + 1] == "RAISED TypeError: hosts[0].weight must be an int, not float"
        assert out[i + 2] == "RAISED ValueError: hosts[0].weight must be in [1, 2**32 - 1], got -3"


def test_header_scan_survives_a_pair_that_rewrites_the_header_list(impl: Implementation) -> None:
    """A header entry whose unpacking (``__iter__``) replaces the list being scanned.

    The scan holds each entry and re-reads the list's length at every step:
    no crash, and a hash (which values it covers is the policy's business).
    """
    code = """
P = twin("policy")
class Pair:
    def __iter__(self):
        headers[:] = [("x-user", "bob")] * 1000
        return iter(("x-other", "v"))
headers = [Pair(), ("x-user", "alice")]
for method in (P.Header("x-user"), P.Header("x-user", regex_rewrite=("b", "c")), P.Cookie("c"),
               P.SourceIP(1)):
    method.hash(P.Request(headers=headers, remote_address="1.2.3.4:5"))
    headers[:] = [Pair(), ("x-user", "alice")]
result = type(P.Header("x-user").hash(P.Request(headers=headers))).__name__
"""
    assert run_case(impl, code) == ["RESULT 'int'"]


# ---------------------------------------------------------------- items 7 and 8: keys


_KEY_FUNCTIONS = (
    "xxh64",
    "murmur2_64",
    "murmur3_64",
    "pick",
    "ring_pick",
    "pick_many",
    "xxh64_list",
)


def _hash_key(impl: Implementation, fn: str, key: object) -> object:
    if fn == "pick":
        return impl.Maglev([Host("a:1"), Host("b:1")]).pick(key)
    if fn == "ring_pick":
        return impl.RingHash([Host("a:1"), Host("b:1")]).pick(key)
    if fn == "pick_many":
        return impl.Maglev([Host("a:1"), Host("b:1")]).pick_many([key])
    if fn == "xxh64_list":
        return impl.xxh64_list([key])
    return getattr(impl, fn)(key)


@pytest.mark.parametrize("fn", _KEY_FUNCTIONS)
def test_object_buffers_are_refused_as_keys(impl: Implementation, fn: str) -> None:
    """object_array_pointer_hash.py: a buffer of Python objects hashed their addresses."""
    cases = [
        (np.array(["alice", "bob"], dtype=object), "ndarray", "'O'"),
        (np.zeros(2, dtype=[("a", "O"), ("b", "i4")]), "ndarray", "'T{O:a:i:b:}'"),
        ((ctypes.py_object * 2)(), "py_object_Array_2", "'<O'"),
    ]
    for key, tname, fmt in cases:
        with pytest.raises(TypeError, match="bytes-like object") as e:
            _hash_key(impl, fn, key)
        assert f"not {tname} of Python objects (buffer format {fmt})" in str(e.value)
    # A field *named* with an O is fine: only the item types count.
    named = np.zeros(2, dtype=[("COUNT", "<i4")])
    _hash_key(impl, fn, named)


@pytest.mark.parametrize("fn", _KEY_FUNCTIONS)
def test_non_contiguous_keys_raise_the_same_type_error(impl: Implementation, fn: str) -> None:
    """noncontig_valueerror.py: the C twin raised numpy's ValueError, the pure one TypeError."""
    a = np.arange(10, dtype=np.uint8)[::2]
    what = {"pick_many": "keys[0]", "ring_pick": "key", "pick": "key", "xxh64_list": "values[i]"}
    with pytest.raises(TypeError) as e:
        _hash_key(impl, fn, a)
    assert str(e.value) == (
        f"{what.get(fn, 'data')} must be str or a C-contiguous bytes-like object, not ndarray"
    )
    # A contiguous copy hashes as its bytes, in both twins.
    assert _hash_key(impl, fn, np.ascontiguousarray(a)) == _hash_key(impl, fn, bytes(a))


@pytest.mark.parametrize("table", ["Maglev", "RingHash"])
@pytest.mark.parametrize(
    ("array", "named"),
    [
        (np.arange(4, dtype=np.int64), "int64"),
        (np.arange(4, dtype=np.uint64), "uint64"),
        (np.linspace(0, 1, 4), "float64"),
        (np.array([True, False]), "bool"),
        (np.array(["2020-01-01"], dtype="datetime64[D]"), "datetime64[D]"),
    ],
)
def test_pick_many_refuses_numeric_numpy_arrays(
    impl: Implementation, table: str, array: object, named: str
) -> None:
    """Item 8: numeric arrays hashed each element's raw bytes (neither pick(str) nor lookup)."""
    lb = getattr(impl, table)([Host("a:1"), Host("b:1")])
    with pytest.raises(TypeError) as e:
        lb.pick_many(array)
    assert str(e.value) == (
        f"pick_many() does not take a numpy {named} array: pass a list of str/bytes keys, "
        "or hashes to lookup_many()"
    )
    with pytest.raises(TypeError, match=r"does not take a 2-D numpy array"):
        lb.pick_many(np.array([["a", "b"], ["c", "d"]]))


@pytest.mark.parametrize("table", ["Maglev", "RingHash"])
def test_pick_many_takes_string_and_object_numpy_arrays(impl: Implementation, table: str) -> None:
    """1-D str, bytes and object arrays are keys, item by item, as pick() reads them."""
    lb = getattr(impl, table)([Host(f"h:{i}") for i in range(1, 6)])
    words = ["alice", "bob", "carol", "dave", "é"]
    want = [lb.hosts.index(lb.pick(w)) for w in words]
    assert list(lb.pick_many(np.array(words))) == want
    assert list(lb.pick_many(np.array(words, dtype=object))) == want
    assert list(lb.pick_many(np.array([w.encode() for w in words]))) == want
    with pytest.raises(TypeError, match=r"keys?(\[1\])? must be str"):
        lb.pick_many(np.array(["a", 1], dtype=object))


def test_str_subclass_keys_hash_their_own_text(impl: Implementation) -> None:
    """A str subclass is hashed as its text in both twins, whatever its ``__str__`` says."""

    class Sneaky(str):
        def __str__(self) -> str:
            return "something else"

    key = Sneaky("alice")
    lb = impl.Maglev([Host(f"h:{i}") for i in range(1, 6)])
    assert impl.xxh64(key) == xxhash.xxh64_intdigest(b"alice")
    assert lb.pick(key) is lb.pick("alice")
    assert list(lb.pick_many([key])) == list(lb.pick_many(["alice"]))


# ---------------------------------------------------------------- hunted: unbounded messages


def test_huge_ints_are_refused_with_a_bounded_message(impl: Implementation) -> None:
    """A 5,000-digit int in a message raised Python's int-to-str limit (a plain ValueError,
    so a ``table_size`` refusal was not a ConfigError) instead of the refusal."""
    from hashlb import ConfigError

    huge = 10**5000
    lb = impl.Maglev([Host("a:1"), Host("b:1")], table_size=7)
    ring = impl.RingHash([Host("a:1")])
    cases = [
        (lambda: lb.lookup(huge), ValueError, "hash must be in [0, 2**64)"),
        (lambda: lb.lookup(1, attempt=huge), ValueError, "attempt must be in [0, 2**32)"),
        (lambda: ring.lookup(1, attempt=huge), ValueError, "attempt must be in [0, 2**32)"),
        (lambda: impl.Maglev([], table_size=huge), ConfigError, "table_size must be a prime"),
        (lambda: impl.RingHash([], min_ring_size=huge), ValueError, "min_ring_size"),
        (lambda: impl.xxh64("k", huge), ValueError, "seed must be in [0, 2**64)"),
        (lambda: impl.murmur3_64("k", huge), ValueError, "seed must be in [0, 2**32)"),
        (
            lambda: impl.BoundedLoad(lb, hash_balance_factor=huge),
            ValueError,
            "hash_balance_factor must be in",
        ),
        (lambda: impl.WeightedSubsetPicker({"a": 1}).choose(huge), ValueError, "value must be in"),
        (
            lambda: impl.module("bounded")._mt19937(huge, 1),
            ValueError,
            "seed must be in [0, 2**64)",
        ),
    ]
    for call, error, text in cases:
        with pytest.raises(error) as e:
            call()
        assert text in str(e.value)
        assert "<int of about 5001 digits>" in str(e.value) and len(str(e.value)) < 200


# ---- duplicate hosts (issue 11: one address, one Host) ----------------------------


@pytest.mark.parametrize("table", ["RingHash", "Maglev"])
def test_a_table_refuses_a_repeated_address(impl: Implementation, table: str) -> None:
    """The second copy of an address used to be silently never chosen; now it is refused."""
    cls = getattr(impl, table)
    hosts = [Host("10.0.0.1:80"), Host("10.0.0.2:80"), Host("10.0.0.1:80", 3)]
    with pytest.raises(ConfigError, match=r"hosts\[2\] repeats the address '10.0.0.1:80'"):
        cls(hosts)
    # the same hash key on distinct addresses is Envoy's business (they share a position)
    shared = [Host("10.0.0.1:80", hash_key="k"), Host("10.0.0.2:80", hash_key="k")]
    assert len(cls(shared).hosts) == 2


def test_a_router_refuses_a_repeated_address(impl: Implementation) -> None:
    """A pod is one Host with all its labels, not one Host per subset."""
    hosts = [Host("10.0.0.1:80", labels={"v": "a"}), Host("10.0.0.1:80", labels={"v": "b"})]
    with pytest.raises(ConfigError, match=r"hosts\[1\] repeats the address '10.0.0.1:80'"):
        Router(
            hosts,
            subsets={"a": {"v": "a"}, "b": {"v": "b"}},
            weights={"a": 1, "b": 1},
            policy=None,
            balancer=impl.Maglev,
        )
