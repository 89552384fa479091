"""Vectorised hash policies (issue 14): ``HashPolicy.hash_many`` against the C limit.

10**6 requests.  The header column holds 16-byte user ids; the cookie column
a ``cookie`` header of three cookies (``theme=dark; sid=<16 bytes>;
lang=en-US``).  Each call is measured against a plain C loop over the same
Arrow buffers (``_limit.h``, built by ``_limit_build.py``) in the same run:
``hash`` (xxh64 of every key) for the header and value columns (and, for
scale, the multi-valued header column of two values per row), ``cookie``
(find the cookie, xxh64 its value) for the cookie column.  Each benchmark is
named ``hash_many[<column>]`` and records ``ratio`` (its median over the
median of its limit) in ``extra_info``.  Targets: a header column <= 2x the
limit, a cookie column <= 4x.  Run, for the table of every ratio in one
process::

    python -m benchmarks.test_hash_many_benchmarks
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import pytest

from benchmarks._limit_build import load
from benchmarks.test_columns_benchmarks import median_ns, paired_ns

pa = pytest.importorskip("pyarrow")
_c_policy = pytest.importorskip("hashlb._policy_c")  # the compiled twin (a pure build skips)

N = 1_000_000
SMOKE_N = 20_000


class Data:
    """The request columns, the policies, and the buffers the C limit reads."""

    def __init__(self, n: int = N) -> None:
        self.n = n
        users = [f"user-{i:011d}" for i in range(n)]  # 16 bytes each
        self.header = pa.array(users, pa.string())
        self.cookie = pa.array([f"theme=dark; sid={u}; lang=en-US" for u in users], pa.string())
        self.multi = pa.array([[u, "beta"] for u in users], pa.list_(pa.string()))
        self.paths = pa.array([f"/api/v1/items?page=2&user={u}&x=1" for u in users], pa.string())
        P = _c_policy
        self.by_header = P.HashPolicy(P.Header("x-user"))
        self.by_cookie = P.HashPolicy(P.Cookie("sid"))
        self.by_query = P.HashPolicy(P.QueryParameter("user"))
        self.folded = P.HashPolicy(P.Header("x-user"), P.Cookie("sid", terminal=True))
        self.out = np.empty(n, np.uint64)
        hb, cb = self.header.buffers(), self.cookie.buffers()
        self.h_data = np.frombuffer(hb[2], np.uint8)
        self.h_off = np.frombuffer(hb[1], np.int32)[: n + 1]
        self.c_data = np.frombuffer(cb[2], np.uint8)
        self.c_off = np.frombuffer(cb[1], np.int32)[: n + 1]
        self.sid = np.frombuffer(b"sid", np.uint8)


def limits(lim: Any, d: Data) -> dict[str, Callable[[], object]]:
    """The C-limit loops over *d*'s buffers."""
    return {
        "hash": lambda: lim.hash(d.h_data, d.h_off, d.out),
        "cookie": lambda: lim.cookie(d.c_data, d.c_off, d.sid, d.out),
    }


def cases(d: Data) -> dict[str, tuple[str, Callable[[], object]]]:
    """Every benchmarked call: ``name -> (limit it is measured against, call)``."""
    return {
        "hash_many[header column]": (
            "hash",
            lambda: d.by_header.hash_many({"header:x-user": d.header}),
        ),
        "hash_many[header column, out=]": (
            "hash",
            lambda: d.by_header.hash_many({"header:x-user": d.header}, out=d.out),
        ),
        "hash_many[cookie:sid value column]": (
            "hash",
            lambda: d.by_cookie.hash_many({"cookie:sid": d.header}),
        ),
        "hash_many[cookie column]": (
            "cookie",
            lambda: d.by_cookie.hash_many({"header:cookie": d.cookie}),
        ),
        "hash_many[multi-valued header column]": (
            "hash",
            lambda: d.by_header.hash_many({"header:x-user": d.multi}),
        ),
        "hash_many[query column]": ("cookie", lambda: d.by_query.hash_many({"path": d.paths})),
        "hash_many[header + terminal cookie]": (
            "cookie",
            lambda: d.folded.hash_many({"header:x-user": d.header, "header:cookie": d.cookie}),
        ),
    }


_NAMES = [
    "hash_many[header column]",
    "hash_many[header column, out=]",
    "hash_many[cookie:sid value column]",
    "hash_many[cookie column]",
    "hash_many[multi-valued header column]",
    "hash_many[query column]",
    "hash_many[header + terminal cookie]",
]


def _disabled(request: pytest.FixtureRequest) -> bool:
    return bool(request.config.getoption("benchmark_disable", False))


@pytest.fixture(scope="module")
def data(request: pytest.FixtureRequest) -> Data:
    """The columns: 10**6 requests, or SMOKE_N in a smoke run (--benchmark-disable)."""
    return Data(SMOKE_N if _disabled(request) else N)


@pytest.fixture(scope="module")
def limit(data: Data, request: pytest.FixtureRequest) -> dict[str, float]:
    """The median ns/row of every C limit (run once only under --benchmark-disable)."""
    lim = load()
    if lim is None:
        pytest.skip("the C limit helper cannot be built here (no Cython / compiler)")
    rounds = 1 if _disabled(request) else 9
    return {k: median_ns(f, data.n, rounds) for k, f in limits(lim, data).items()}


@pytest.mark.parametrize("name", _NAMES)
def test_hash_many(benchmark: Any, data: Data, limit: dict[str, float], name: str) -> None:
    """One hash_many call over 10**6 requests; extra_info: ns/row, its limit's, and the ratio."""
    which, fn = cases(data)[name]
    benchmark.group = f"hash_many 1e6 requests: {which}"
    benchmark(fn)
    benchmark.extra_info["limit_ns_per_row"] = limit[which]
    stats = getattr(benchmark, "stats", None)
    if stats is not None:
        ns = stats.stats.median * 1e9 / data.n
        benchmark.extra_info["ns_per_row"] = ns
        benchmark.extra_info["ratio"] = ns / limit[which]


def main() -> None:
    """Print every median and ratio, each case measured in rounds alternating with its limit."""
    lim = load()
    if lim is None:
        raise SystemExit("the C limit helper cannot be built here")
    d = Data()
    base = limits(lim, d)
    for name, (which, fn) in cases(d).items():
        ns, ref, ratio = paired_ns(fn, base[which], d.n)
        print(f"{name:40s} {ns:7.2f} ns/row  {ratio:5.2f}x the {which} limit ({ref:.2f})")


if __name__ == "__main__":
    main()
