"""``hashlb diff --requests FILE --column ...`` and :func:`hashlb.diff.diff_columns`: logs as traffic.

The columnar path must give exactly the reports of the per-request path:
the same requests written as hashlb's JSONL requests and as a Parquet, CSV
or JSON-lines table give identical ``--json`` documents (every float
included) on both twins, in both modes.  Envoy mode is compared exactly too:
each configuration's routers are built with the same seed on both paths and
the columnar engine draws their random values in the order the request by
request path draws them (:func:`hashlb.replay.route_columns`).
"""

from __future__ import annotations

import json
import random
from pathlib import Path
from typing import Any

import pytest

pa = pytest.importorskip("pyarrow")
np = pytest.importorskip("numpy")
import pyarrow.csv as pacsv  # noqa: E402
import pyarrow.parquet as pq  # noqa: E402

from hashlb import Router  # noqa: E402
from hashlb._source import InputError  # noqa: E402
from hashlb.diff import DiffTally, diff_columns, diff_steps  # noqa: E402

from ._cli import EXAMPLE, error_line, run_cli  # noqa: E402
from ._impl import Implementation  # noqa: E402
from ._rows import ab_router  # noqa: E402

COLUMNS = ["--column", "user=user_id", "--column", "header:x-myval=val"]


def rows(n: int, users: int, seed: int, *, null_users: bool = False) -> list[dict[str, Any]]:
    """*n* logged requests of *users* users of the example (x-myval, sometimes missing)."""
    rng = random.Random(seed)
    out = []
    for i in range(n):
        u = f"u{rng.randrange(users)}"
        val = u if rng.random() < 0.9 else None
        user: str | None = u
        if null_users and i % 13 == 0:
            user = None  # the request is its own user (two alike are one user)
            val = f"anon-{i % 5}"
        out.append({"user_id": user, "val": val})
    return out


def as_jsonl(data: list[dict[str, Any]]) -> str:
    """The same requests in hashlb's own JSONL request format."""
    lines = []
    for r in data:
        obj: dict[str, Any] = {}
        if r["user_id"] is not None:
            obj["user"] = r["user_id"]
        if r["val"] is not None:
            obj["headers"] = {"x-myval": r["val"]}
        lines.append(json.dumps(obj))
    return "\n".join(lines) + "\n"


def write_all(data: list[dict[str, Any]], tmp_path: Path) -> None:
    """Write r.jsonl (hashlb's requests) and t.parquet, t.csv, t.jsonl (the log)."""
    (tmp_path / "r.jsonl").write_text(as_jsonl(data))
    table = pa.Table.from_pylist(
        data, schema=pa.schema([("user_id", pa.string()), ("val", pa.string())])
    )
    pq.write_table(table, tmp_path / "t.parquet", row_group_size=173)
    pacsv.write_csv(table, tmp_path / "t.csv")
    (tmp_path / "t.jsonl").write_text("".join(json.dumps(r) + "\n" for r in data))


def diff_json(impl: Implementation, tmp_path: Path, *args: Any) -> Any:
    proc = run_cli(impl, "diff", *args, "--json", "-", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    return json.loads(proc.stdout)


def same_everywhere(impl: Implementation, tmp_path: Path, *args: Any) -> Any:
    """The hashlb-JSONL document, asserted equal to the Parquet, CSV and JSON-lines ones."""
    want = diff_json(impl, tmp_path, *args, "--requests", "r.jsonl")
    for name in ("t.parquet", "t.csv", "t.jsonl"):
        got = diff_json(impl, tmp_path, *args, "--requests", name, *COLUMNS, "--batch-rows", 97)
        assert got == want, name
    return want


def test_formats_and_jsonl_give_one_report_both_modes(impl: Implementation, tmp_path: Path) -> None:
    write_all(rows(1500, 200, 1), tmp_path)
    doc = same_everywhere(
        impl, tmp_path, "-f", EXAMPLE, "--set-weight", "risky=30", "--mode", "both"
    )
    for mode in ("envoy", "sticky"):
        r = doc[mode]
        assert r["users"] == 200 and r["requests"] == 1500
        assert r["moved"] >= r["minimum"] > 0 and r["matrix"]
    assert doc["sticky"]["excess"] == 0.0  # sticky mode moves only whom the weight must


@pytest.mark.parametrize(
    "change",
    [
        ["--ramp", "risky=0,1,10,50,100"],
        ["--rollout", "safe", "--max-surge", "1", "--max-unavailable", "0"],
        ["--add-pods", "2", "--to", "safe"],
        ["--remove-pod", "staff-service-1", "--balancer", "maglev"],
        # A: the example canary; B: its variant with one subset of every pod, no split
        [
            "-a",
            EXAMPLE,
            "-b",
            EXAMPLE / "deployments.yaml",
            "-b",
            EXAMPLE / "variants" / "all-pods",
        ],
    ],
    ids=["ramp", "rollout", "add", "remove-maglev", "a-b"],
)
def test_changes_over_a_file_equal_the_jsonl_path(
    impl: Implementation, tmp_path: Path, change: list[str]
) -> None:
    write_all(rows(900, 120, 2), tmp_path)
    config = [] if change[0] == "-a" else ["-f", EXAMPLE]
    doc = same_everywhere(impl, tmp_path, *config, *change, "--mode", "both")
    if change[0] in ("--ramp", "--rollout"):
        steps = doc["sticky"]["steps"]
        assert len(steps) >= 2 and doc["sticky"]["users"] == 120
        so_far = [s["several_pods_so_far"] for s in steps]
        assert so_far == sorted(so_far) and so_far[-1] > 0


def test_null_users_and_null_keys(impl: Implementation, tmp_path: Path) -> None:
    """A null user is the request itself (as a JSONL line without "user"); a null key no hash."""
    data = rows(800, 90, 3, null_users=True)
    write_all(data, tmp_path)
    doc = same_everywhere(impl, tmp_path, "-f", EXAMPLE, "--set-weight", "risky=50")
    assert doc["users"] == 90 + 5  # five distinct anonymous requests
    assert doc["requests"] == 800


def test_report_text_is_the_jsonl_one(impl: Implementation, tmp_path: Path) -> None:
    write_all(rows(600, 80, 4), tmp_path)
    args = ["diff", "-f", EXAMPLE, "--set-weight", "risky=20", "--mode", "both"]
    a = run_cli(impl, *args, "--requests", "r.jsonl", cwd=tmp_path)
    b = run_cli(impl, *args, "--requests", "t.parquet", *COLUMNS, cwd=tmp_path)
    assert a.returncode == b.returncode == 0, a.stderr + b.stderr
    assert a.stdout == b.stdout
    assert "80 users, 600 requests" in b.stdout


@pytest.mark.parametrize(
    ("args", "says"),
    [
        (["--requests", "t.parquet", "--column", "user=nope"], "no column 'nope'"),
        (["--requests", "t.parquet", "--column", "who=user_id"], "unknown request field 'who'"),
        (["--requests", "t.parquet"], "needs a column mapping"),
        (["--column", "user=user_id"], "need --requests FILE"),
        (["--requests", "t.parquet", *COLUMNS, "--no-batch"], "--no-batch"),
    ],
    ids=["missing-column", "unknown-field", "no-mapping", "no-file", "no-batch"],
)
def test_bad_input_names_the_column_and_file(
    impl: Implementation, tmp_path: Path, args: list[str], says: str
) -> None:
    write_all(rows(50, 10, 5), tmp_path)
    proc = run_cli(impl, "diff", "-f", EXAMPLE, "--set-weight", "risky=20", *args, cwd=tmp_path)
    assert proc.returncode == 2, proc.stderr
    line = error_line(proc)
    assert says in line
    if "nope" in says:
        assert "t.parquet" in line


def test_column_refused_with_envoy_config(impl: Implementation, tmp_path: Path) -> None:
    write_all(rows(50, 10, 5), tmp_path)
    cfg = tmp_path / "envoy.yaml"
    cfg.write_text("static_resources: {}\n")
    proc = run_cli(
        impl,
        "diff",
        "--envoy-config-a",
        cfg,
        "--envoy-config-b",
        cfg,
        "--requests",
        "t.parquet",
        *COLUMNS,
        cwd=tmp_path,
    )
    assert proc.returncode == 2
    assert "--column applies to Istio YAML" in error_line(proc)


# --------------------------------------------------------------------------
# The library: diff_columns and DiffTally.


def _router(impl: Implementation, mode: str, weights: dict[str, int]) -> Router:
    return ab_router(impl, mode, weights)


@pytest.mark.parametrize("mode", ["envoy", "sticky"])
def test_diff_columns_equals_diff_steps_row_by_row(impl: Implementation, mode: str) -> None:
    """Batches of any size give diff_steps' reports over route() one request at a time."""
    from hashlb.policy import Request

    rng = random.Random(7)
    users = [f"u{rng.randrange(70)}" for _ in range(700)]
    keys = [None if rng.random() < 0.1 else u for u in users]
    weights = [{"a": 100, "b": 0}, {"a": 80, "b": 20}, {"a": 40, "b": 60}]

    def placed(r: Router) -> Any:
        def route(req: Any) -> Any:
            d = r.route(req)
            return (d.subset, d.host.address if d.host is not None else None)

        return route

    routes = [placed(_router(impl, mode, w)) for w in weights]
    traffic = [
        (u, Request(headers=[("x-user", k)] if k is not None else []))
        for u, k in zip(users, keys, strict=True)
    ]
    want = diff_steps(routes, traffic)
    for size in (700, 64, 1):
        batches = [
            pa.record_batch(
                {
                    "user": pa.array(users[i : i + size], pa.string()),
                    "header:x-user": pa.array(keys[i : i + size], pa.string()),
                }
            )
            for i in range(0, len(users), size)
        ]
        got = diff_columns([_router(impl, mode, w) for w in weights], batches)
        assert got == want, size


def test_tally_memory_is_bounded_by_the_users() -> None:
    """The same users again and again keep one row per (user, path), not per request."""
    tally = DiffTally(2)
    users = pa.array([f"u{i}" for i in range(1000)])
    a = np.arange(1000) % 3
    b = (np.arange(1000) % 3 + (np.arange(1000) % 10 == 0)) % 3
    for _ in range(1200):  # 1.2 million requests: compacted at least once
        tally.add(users, [a, b])
    (report,) = tally.reports([("s", "p0"), ("s", "p1"), ("s", "p2")])
    assert tally._state is not None and tally._state.num_rows == 1000
    assert tally.requests == report.requests == 1_200_000
    assert report.users == 1000
    assert report.moved == pytest.approx(0.1) and report.requests_moved == 120_000
    assert report.cumulative is not None and report.cumulative.several_pods == report.moved


def test_tally_checks_its_input() -> None:
    with pytest.raises(ValueError, match="at least two configurations"):
        DiffTally(1)
    tally = DiffTally(2)
    with pytest.raises(ValueError, match="expected 2 placement arrays"):
        tally.add(["a"], [[0]])
    with pytest.raises(ValueError, match="has 2 items, users has 1"):
        tally.add(["a"], [[0], [0, 1]])
    with pytest.raises(ValueError, match="ids >= 0"):
        tally.add(["a"], [[0], [-1]])
    with pytest.raises(ValueError, match=r"placement array 0 has shape \(\), users has 1"):
        tally.add(["a"], [0, 0])
    with pytest.raises(ValueError, match="at least two routers"):
        diff_columns([], [])
    # too many users: the batch is not counted, the next ones are
    small = DiffTally(2, max_users=2)
    with pytest.raises(InputError, match="more than 2 distinct users"):
        small.add(["a", "b", "c"], [np.array([0, 0, 0])] * 2)
    small.add(["b"], [np.array([0]), np.array([1])])
    (report,) = small.reports([("s", "p0"), ("s", "p1")])
    assert (report.users, small.requests) == (1, 1)
    with pytest.raises(ValueError, match=r"max_users must be an int in \[1, 2\*\*31 - 1\]"):
        DiffTally(2, max_users=0)


@pytest.mark.parametrize("command", ["diff", "simulate"])
@pytest.mark.parametrize("form", ["csv", "parquet", "jsonl"])
def test_an_empty_log_is_refused_as_the_jsonl_path_refuses_it(
    impl: Implementation, tmp_path: Path, command: str, form: str
) -> None:
    """A log with the mapped columns and no rows has no requests: no report of 0% moved."""
    empty = pa.table({"user_id": pa.array([], pa.string()), "val": pa.array([], pa.string())})
    path = tmp_path / f"e.{form}"
    if form == "csv":
        pacsv.write_csv(empty, path)
    elif form == "parquet":
        pq.write_table(empty, path)
    else:
        path.write_text("")
    change = ["--set-weight", "risky=30"] if command == "diff" else []
    proc = run_cli(impl, command, "-f", EXAMPLE, *change, "--requests", path, *COLUMNS)
    assert proc.returncode == 2, proc.stdout
    # an empty JSON-lines file has no columns either: the mapping is refused first
    says = "no column 'user_id' in the file" if form == "jsonl" else "has no requests"
    assert f"{path}: " in error_line(proc) and says in error_line(proc)
    (tmp_path / "r.jsonl").write_text("")
    jsonl = run_cli(impl, command, "-f", EXAMPLE, *change, "--requests", tmp_path / "r.jsonl")
    assert jsonl.returncode == 2 and "the request file has no requests" in error_line(jsonl)


@pytest.mark.parametrize("rows_flag", ["0", "-3", "x"])
def test_batch_rows_out_of_range_names_the_flag(
    impl: Implementation, tmp_path: Path, rows_flag: str
) -> None:
    write_all(rows(20, 5, 5), tmp_path)
    proc = run_cli(
        impl,
        "diff",
        "-f",
        EXAMPLE,
        "--set-weight",
        "risky=20",
        "--requests",
        tmp_path / "t.parquet",
        *COLUMNS,
        "--batch-rows",
        rows_flag,
    )
    assert proc.returncode == 2
    assert "--batch-rows" in proc.stderr and "--column:" not in proc.stderr


def test_diff_columns_null_users_are_one_user(impl: Implementation) -> None:
    """A null user is one user, None (as in Stickiness); named rows are counted by name."""
    weights = [{"a": 100, "b": 0}, {"a": 50, "b": 50}]
    named = [f"u{i}" for i in range(40)]
    keys = named + [f"anon-{i}" for i in range(10)]
    users = pa.array(named + [None] * 10, pa.string())
    batch = pa.record_batch({"user": users, "header:x-user": pa.array(keys, pa.string())})
    (report,) = diff_columns([_router(impl, "sticky", w) for w in weights], [batch])
    assert report.users == 41 and report.requests == 50
    renamed = pa.array(named + ["anon"] * 10, pa.string())  # the nulls under one name
    batch2 = pa.record_batch({"user": renamed, "header:x-user": pa.array(keys, pa.string())})
    (same,) = diff_columns([_router(impl, "sticky", w) for w in weights], [batch2])
    assert (same.users, same.moved, same.subset_changed) == (
        report.users,
        report.moved,
        report.subset_changed,
    )


def test_excess_of_float_noise_is_zero() -> None:
    """moved and minimum equal but for the last bits: the excess is 0, not 1e-16."""
    from hashlb.diff import DiffReport

    fields = {f.name for f in __import__("dataclasses").fields(DiffReport)}
    assert {"moved", "minimum"} <= fields
    tally = DiffTally(2)
    tally.add(["a", "b", "c"], [[0, 0, 0], [0, 0, 1]])
    (report,) = tally.reports([("s", "p0"), ("s", "p1")])
    noisy = __import__("dataclasses").replace(report, minimum=report.moved - 1.4e-16)
    assert noisy.excess == 0.0
    real = __import__("dataclasses").replace(report, minimum=report.moved - 1e-6)
    assert real.excess == pytest.approx(1e-6)
