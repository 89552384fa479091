"""Replaying logs (issue 14): ``hashlb simulate --requests FILE --column`` end to end.

* ``replay simulate[parquet 1e7, MODE]``: the istio-canary example (90/10, a
  header hash) over a generated Parquet file of 10**7 requests from 200,000
  users (``user_id``, also the ``x-myval`` header), Parquet decode included,
  one in-process ``hashlb simulate ... -q`` per round.  ``extra_info`` has
  ``requests_per_s_per_core`` (requests over the process CPU time of the
  round, so decode threads count), the wall-clock rate, and the C limit:
  hashlb's xxh64 + fastmod Maglev lookup over the same Arrow column
  (``_limit.pyx``) in the same run, with the ``ratio`` of the two.  Target:
  >= 3 x 10**6 requests/s per core.
* ``replay peak RSS[...]``: the same run in a fresh process on 10**6, 10**7
  and 3 x 10**7 requests of the same 200,000 users: the peak resident memory
  is bounded by the users, not the requests (``rss_mib`` of each).
* ``replay Stickiness.add[1e7]``: the accumulator alone.

Under ``--benchmark-disable`` (the smoke run) the files have 20,000 rows.
Run::

    pytest benchmarks/test_replay_benchmarks.py --benchmark-group-by=group
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from benchmarks._limit_build import load

np = pytest.importorskip("numpy")
pa = pytest.importorskip("pyarrow")
pc = pytest.importorskip("pyarrow.compute")
pq = pytest.importorskip("pyarrow.parquet")
pytest.importorskip("yaml")

ROOT = Path(__file__).resolve().parents[1]
CANARY = ROOT / "examples" / "istio-canary"
N = 10_000_000
SMOKE_N = 20_000
USERS = 200_000


def _disabled(request: pytest.FixtureRequest) -> bool:
    return bool(request.config.getoption("benchmark_disable", False))


def _parquet(path: Path, n: int) -> Path:
    """*n* requests of USERS users drawn uniformly (seeded), in row groups of 2**20."""
    users = np.random.default_rng(14).integers(0, USERS, n)
    ids = pc.binary_join_element_wise("user-", pc.cast(pa.array(users), pa.string()), "")
    pq.write_table(pa.table({"user_id": ids}), path, row_group_size=1 << 20)
    return path


@pytest.fixture(scope="module")
def logs(tmp_path_factory: pytest.TempPathFactory, request: pytest.FixtureRequest) -> Path:
    n = SMOKE_N if _disabled(request) else N
    return _parquet(tmp_path_factory.mktemp("replay") / "requests.parquet", n)


def _args(path: Path, mode: str) -> list[str]:
    return [
        "simulate",
        "-f",
        str(CANARY),
        "--requests",
        str(path),
        "--column",
        "user=user_id",
        "--column",
        "header:x-myval=user_id",
        "--mode",
        mode,
        "-q",
    ]


def _limit_ns(path: Path) -> float | None:
    """ns/request of the C limit (xxh64 + Maglev fastmod lookup) over the file's user column."""
    lim = load()
    if lim is None:
        return None
    col = pq.read_table(path).column("user_id").combine_chunks()
    offsets = np.frombuffer(
        col.buffers()[1], dtype=np.int32, count=len(col) + 1, offset=col.offset * 4
    )
    data = np.frombuffer(col.buffers()[2], dtype=np.uint8)
    table = np.zeros(65537, dtype=np.uint16)
    out = np.zeros(len(col), dtype=np.uint32)
    best = []
    for _ in range(5):
        t = time.perf_counter()
        lim.pick(data, offsets, table, out)
        best.append(time.perf_counter() - t)
    return sorted(best)[2] * 1e9 / len(col)


@pytest.mark.parametrize("mode", ["sticky", "envoy"])
def test_replay_simulate(
    benchmark: Any, logs: Path, mode: str, request: pytest.FixtureRequest
) -> None:
    """One whole run per round; extra_info: requests/s per core and wall, the C limit, the ratio."""
    from hashlb.__main__ import main

    n = pq.ParquetFile(logs).metadata.num_rows
    benchmark.group = f"replay simulate[parquet {n:.0e}]"
    cpu: list[float] = []

    def run() -> int:
        t = time.process_time()
        code = main(_args(logs, mode))
        cpu.append(time.process_time() - t)
        return code

    rounds = 1 if _disabled(request) else 3
    code = benchmark.pedantic(run, rounds=rounds, iterations=1)
    assert code == 0
    stats = getattr(benchmark, "stats", None)
    if stats is not None:
        per_core = n / sorted(cpu)[len(cpu) // 2]
        benchmark.extra_info["requests"] = n
        benchmark.extra_info["requests_per_s_per_core"] = per_core
        benchmark.extra_info["requests_per_s_wall"] = n / stats.stats.median
        limit = _limit_ns(logs)
        if limit is not None:
            benchmark.extra_info["limit_ns_per_request"] = limit
            benchmark.extra_info["ratio"] = (1e9 / per_core) / limit
        benchmark.extra_info["target_requests_per_s_per_core"] = 3e6


def _rss_mib(path: Path) -> float:
    """Peak RSS (MiB) of one ``hashlb simulate`` run in a fresh interpreter."""
    # VmHWM, not ru_maxrss: ru_maxrss keeps the parent's high-water mark across exec
    code = (
        "from hashlb.__main__ import main\n"
        f"assert main({_args(path, 'sticky')!r}) == 0\n"
        "print(next(l for l in open('/proc/self/status') if l.startswith('VmHWM')).split()[1])\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=600, check=True
    )
    return int(out.stdout.split()[-1]) / 1024  # kB


def test_replay_peak_rss(
    benchmark: Any, tmp_path: Path, logs: Path, request: pytest.FixtureRequest
) -> None:
    """Peak RSS on 10**6, 10**7 and 3 x 10**7 requests of the same users.

    10**6 requests never fill the accumulator's first batch of pending rows
    (2**20), so its peak is lower; from 10**7 on, the peak is flat.
    """
    n = pq.ParquetFile(logs).metadata.num_rows
    small = _parquet(tmp_path / "small.parquet", max(n // 10, 1))
    large = _parquet(tmp_path / "large.parquet", 3 * n)
    benchmark.group = "replay peak RSS"
    got: dict[str, float] = {}

    def run() -> None:
        for name, path in (("small", small), ("big", logs), ("large", large)):
            got[name] = _rss_mib(path)

    benchmark.pedantic(run, rounds=1, iterations=1)
    benchmark.extra_info["rss_mib"] = {
        f"{n // 10:.0e}": got["small"],
        f"{n:.0e}": got["big"],
        f"{3 * n:.0e}": got["large"],
    }
    if not _disabled(request):
        assert got["big"] < 2 * got["small"] + 200  # 10x the requests, not 10x the memory
        assert got["large"] < 1.15 * got["big"]  # flat once the accumulator cycles
    print(json.dumps(benchmark.extra_info))


def test_stickiness_add(benchmark: Any, logs: Path, request: pytest.FixtureRequest) -> None:
    """Stickiness.add over the file's batches with random codes; extra_info: ns/request."""
    from hashlb.replay import Stickiness

    batches = pq.read_table(logs).column("user_id").chunks
    rng = np.random.default_rng(1)
    codes = [rng.integers(0, 9, len(b)) for b in batches]
    n = sum(len(b) for b in batches)
    benchmark.group = "replay Stickiness.add"

    def run() -> int:
        s = Stickiness()
        for b, c in zip(batches, codes, strict=True):
            s.add(b, c, c % 2)
        return s.users

    users = benchmark.pedantic(run, rounds=1 if _disabled(request) else 3, iterations=1)
    assert users == len(pc.unique(pa.chunked_array(batches)))
    stats = getattr(benchmark, "stats", None)
    if stats is not None:
        benchmark.extra_info["ns_per_request"] = stats.stats.median * 1e9 / n
