"""``hashlb diff --ramp``: a whole run, ramp x users, against the C limit measured in the same run.

Each round is one in-process ``hashlb diff -f examples/istio-canary --ramp
risky=0,1,5,10,25,50,100 --users N --requests-per-user 1 -q``: reading the
YAML, building the seven configurations' tables, routing every user under
each (the batch path: one ``xxh64_many``, one batch route per configuration)
and counting who moved.  The issue's target: 7 steps over 10**6 users under
10 s on this machine.

The C limit (``_limit.h``, built by ``_limit_build.py``) is the least work
any implementation must do for the same ramp: xxh64 of the N user keys (the
same 16-byte header values) once, and seven table lookups of the N hashes
(Maglev M = 65,537).  ``extra_info`` has the median in seconds, the limit's,
and their ratio.  ``request by request`` runs ``--no-batch`` (the path a
request file takes) on fewer users, for comparison.  Run::

    python -m benchmarks.test_diff_benchmarks

or ``pytest benchmarks/test_diff_benchmarks.py --benchmark-group-by=group``.
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from benchmarks._limit_build import load
from hashlb import Host
from hashlb.__main__ import main as hashlb_main

ROOT = Path(__file__).resolve().parents[1]
CANARY = ROOT / "examples" / "istio-canary"
RAMP = "risky=0,1,5,10,25,50,100"
STEPS = 7
SIZES = {"1e5 users": 100_000, "1e6 users": 1_000_000}
#: --benchmark-disable (a smoke run): one small size only.
SMOKE = {"1e4 users": 10_000}


def args(users: int, *extra: str) -> list[str]:
    """The ``hashlb diff`` command line of one round."""
    return [
        "diff", "-f", str(CANARY), "--ramp", RAMP, "--users", str(users),
        "--requests-per-user", "1", "-q", *extra,
    ]  # fmt: skip


def run(users: int, *extra: str) -> None:
    code = hashlb_main(args(users, *extra))
    assert code == 0


class Limit:
    """The C limit's buffers for *users* keys: the synthetic users' 16-byte header values."""

    def __init__(self, lim: Any, users: int) -> None:
        from hashlb._maglev_c import Maglev
        from hashlb.cli.traffic import KeySpec, synthetic_keys

        keys = synthetic_keys(users, KeySpec("header", "x-myval"), 0)
        self.lim = lim
        self.data = np.ascontiguousarray(keys).view(np.uint8)
        self.offsets = np.arange(0, 16 * users + 1, 16, dtype=np.int32)
        hosts = [Host(f"10.0.0.{i}:8080") for i in range(3)]
        self.table = np.frombuffer(Maglev(hosts, table_size=65537).table, np.uint16)
        self.hashes = np.empty(users, np.uint64)
        self.out = np.empty(users, np.uint32)

    def __call__(self) -> None:
        self.lim.hash(self.data, self.offsets, self.hashes)
        for _ in range(STEPS):
            self.lim.lookup(self.hashes, self.table, self.out)


def median_s(fn: Callable[[], object], rounds: int) -> float:
    times = []
    for _ in range(rounds):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


def _disabled(request: pytest.FixtureRequest) -> bool:
    return bool(request.config.getoption("benchmark_disable", False))


def _limit_s(users: int, rounds: int) -> float | None:
    lim = load()
    if lim is None:
        return None
    pytest.importorskip("hashlb._maglev_c")
    fn = Limit(lim, users)
    fn()
    return median_s(fn, rounds)


@pytest.mark.parametrize("size", [*SIZES, *SMOKE])
def test_diff_ramp(benchmark: Any, request: pytest.FixtureRequest, size: str) -> None:
    """``diff ramp[7 steps x N users]``: extra_info has the median, the limit's and the ratio."""
    pytest.importorskip("yaml")
    smoke = _disabled(request)
    if smoke != (size in SMOKE):
        pytest.skip("the smoke run measures the small size only; a full run the others")
    users = {**SIZES, **SMOKE}[size]
    benchmark.group = f"diff ramp[{STEPS} steps x {size}]"
    rounds = 1 if smoke else 3
    benchmark.pedantic(run, (users,), rounds=rounds, warmup_rounds=0 if smoke else 1)
    limit = _limit_s(users, rounds)
    stats = getattr(benchmark, "stats", None)
    if limit is not None and stats is not None:
        benchmark.extra_info["limit_s"] = limit
        benchmark.extra_info["ratio"] = stats.stats.median / limit


def test_diff_ramp_request_by_request(benchmark: Any, request: pytest.FixtureRequest) -> None:
    """``diff ramp request by request[7 steps x 2e4 users]`` (``--no-batch``)."""
    pytest.importorskip("yaml")
    users = 2_000 if _disabled(request) else 20_000
    benchmark.group = f"diff ramp request by request[{STEPS} steps x {users} users]"
    benchmark.pedantic(run, (users, "--no-batch"), rounds=1 if _disabled(request) else 3)


PARQUET_ROWS = 1_000_000
PARQUET_USERS = 200_000


def parquet_log(path: Path, n: int) -> Path:
    """*n* requests of PARQUET_USERS users drawn uniformly (seeded): one ``user_id`` column."""
    pa = pytest.importorskip("pyarrow")
    pc = pytest.importorskip("pyarrow.compute")
    pq = pytest.importorskip("pyarrow.parquet")
    users = np.random.default_rng(15).integers(0, PARQUET_USERS, n)
    ids = pc.binary_join_element_wise("user-", pc.cast(pa.array(users), pa.string()), "")
    pq.write_table(pa.table({"user_id": ids}), path, row_group_size=1 << 20)
    return path


def log_args(command: str, path: Path, mode: str) -> list[str]:
    """``hashlb diff`` (two configurations) or ``hashlb simulate`` over the log *path*."""
    change = ["--set-weight", "risky=30"] if command == "diff" else []
    return [
        command, "-f", str(CANARY), *change, "--requests", str(path),
        "--column", "user=user_id", "--column", "header:x-myval=user_id",
        "--mode", mode, "-q",
    ]  # fmt: skip


@pytest.mark.parametrize("mode", ["envoy", "sticky"])
def test_diff_parquet_vs_simulate(
    benchmark: Any, request: pytest.FixtureRequest, tmp_path: Path, mode: str
) -> None:
    """``diff parquet vs simulate``: extra_info has both medians and diff / simulate."""
    pytest.importorskip("yaml")
    smoke = _disabled(request)
    n = 20_000 if smoke else PARQUET_ROWS
    path = parquet_log(tmp_path / "log.parquet", n)
    benchmark.group = f"diff parquet vs simulate[{n:.0e} rows, {mode}]"
    rounds = 1 if smoke else 3
    assert hashlb_main(log_args("simulate", path, mode)) == 0  # warm-up: imports, YAML
    code = benchmark.pedantic(
        hashlb_main, (log_args("diff", path, mode),), rounds=rounds, iterations=1
    )
    assert code == 0
    simulate = median_s(lambda: hashlb_main(log_args("simulate", path, mode)), rounds)
    stats = getattr(benchmark, "stats", None)
    if stats is not None:
        benchmark.extra_info["simulate_s"] = simulate
        benchmark.extra_info["ratio"] = stats.stats.median / simulate
        benchmark.extra_info["target_ratio"] = 2.0


def main() -> None:
    """Print the medians and the ratios to the C limit, each measured in this process."""
    lim = load()
    for size, users in SIZES.items():
        run(users)  # warm-up: imports, the YAML reader
        t = median_s(lambda users=users: run(users), 3)
        line = f"diff ramp[{STEPS} steps x {size}]  {t:7.3f} s"
        if lim is not None:
            ref = median_s(Limit(lim, users), 5)
            line += f"  limit {ref:.4f} s  ratio {t / ref:.0f}x"
        print(line)
    t = median_s(lambda: run(20_000, "--no-batch"), 3)
    print(f"diff ramp request by request[{STEPS} steps x 2e4 users]  {t:7.3f} s")
    import tempfile

    with tempfile.TemporaryDirectory() as tmp:
        path = parquet_log(Path(tmp) / "log.parquet", PARQUET_ROWS)
        for mode in ("envoy", "sticky"):
            hashlb_main(log_args("simulate", path, mode))  # warm-up
            d = median_s(lambda mode=mode: hashlb_main(log_args("diff", path, mode)), 3)
            s = median_s(lambda mode=mode: hashlb_main(log_args("simulate", path, mode)), 3)
            print(
                f"diff parquet vs simulate[{PARQUET_ROWS:.0e} rows, {mode}]  diff {d:.3f} s  "
                f"simulate {s:.3f} s  ratio {d / s:.2f}x"
            )


if __name__ == "__main__":
    main()
