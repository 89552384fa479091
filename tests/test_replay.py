"""``hashlb.replay`` and ``hashlb simulate --requests FILE --column``: logs read as columns.

The columnar path must give exactly the figures of the per-request path:
the same requests, written once as hashlb's JSONL requests and once as a
Parquet/CSV/JSON-lines table, give identical ``--json`` summaries (and
reports) on both twins, in both modes, including routes matched by header
and uri, unrouted requests, unhealthy endpoints, a subset's own table and a
route routed request by request (a generated cookie).
"""

from __future__ import annotations

import json
import random
from pathlib import Path
from typing import Any

import pytest

pa = pytest.importorskip("pyarrow")
import pyarrow.csv as pacsv  # noqa: E402
import pyarrow.parquet as pq  # noqa: E402

from hashlb import Router  # noqa: E402
from hashlb._source import InputError  # noqa: E402
from hashlb.replay import (  # noqa: E402
    ENVOY_JSON_COLUMNS,
    Stickiness,
    parse_columns,
    read_requests,
    route_columns,
)

from ._cli import EXAMPLE, ROOT, error_line, run_cli, write  # noqa: E402
from ._impl import Implementation  # noqa: E402
from ._rows import ab_router  # noqa: E402

PODS = """
apiVersion: v1
kind: List
items:
  - apiVersion: v1
    kind: Pod
    metadata: {name: web-a, namespace: shop, labels: {app: web, version: v1}}
    spec: {containers: [{name: c, ports: [{containerPort: 8080, name: http}]}]}
    status: {phase: Running, podIP: 10.1.0.1}
  - apiVersion: v1
    kind: Pod
    metadata: {name: web-b, namespace: shop, labels: {app: web, version: v1}}
    spec: {containers: [{name: c, ports: [{containerPort: 8080, name: http}]}]}
    status: {phase: Running, podIP: 10.1.0.2, conditions: [{type: Ready, status: 'False'}]}
  - apiVersion: v1
    kind: Pod
    metadata: {name: web-c, namespace: shop, labels: {app: web, version: v2}}
    spec: {containers: [{name: c, ports: [{containerPort: 8080, name: http}]}]}
    status: {phase: Running, podIP: 10.1.0.3}
  - apiVersion: v1
    kind: Pod
    metadata: {name: web-d, namespace: shop, labels: {app: web, version: v2}}
    spec: {containers: [{name: c, ports: [{containerPort: 8080, name: http}]}]}
    status: {phase: Running, podIP: 10.1.0.4}
"""


def mesh(rule_policy: str, route: str, v1_policy: str = "") -> str:
    """A DestinationRule (subsets v1/v2 of web in shop) and a VirtualService with *route*."""
    v1 = f", trafficPolicy: {v1_policy}" if v1_policy else ""
    return f"""
apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata: {{name: web, namespace: shop}}
spec:
  host: web
  trafficPolicy: {rule_policy}
  subsets:
    - {{name: v1, labels: {{version: v1}}{v1}}}
    - {{name: v2, labels: {{version: v2}}}}
---
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {{name: web, namespace: shop}}
spec:
  hosts: [web.shop.svc.cluster.local]
  http:
{route}
"""


SPLIT = """
    - route:
        - destination: {host: web, subset: v1}
          weight: 70
        - destination: {host: web, subset: v2}
          weight: 30
"""
MATCHED = """
    - name: pinned
      match: [{headers: {x-canary: {exact: "yes"}}}, {uri: {regex: "/beta/.*"}}]
      route: [{destination: {host: web, subset: v2}}]
    - name: api
      match: [{uri: {prefix: /api}, ignoreUriCase: true}, {queryParams: {v: {exact: "1"}}}]
      route:
        - destination: {host: web, subset: v1}
          weight: 60
        - destination: {host: web, subset: v2}
          weight: 40
"""


def traffic(n: int, seed: int) -> list[dict[str, Any]]:
    """*n* logged requests of 60 users: a user header (sometimes missing), an IP, paths."""
    rng = random.Random(seed)
    paths = ["/", "/api/x", "/API/y?v=2", "/beta/z", "/other?v=1", "/shop"]
    rows = []
    for _ in range(n):
        u = rng.randrange(60)
        rows.append(
            {
                "user_id": f"user-{u}",
                "x_user": None if rng.random() < 0.1 else f"user-{u}",
                "ip": f"203.0.113.{u % 40}" if u % 7 else f"2001:db8::{u:x}",
                "canary": "yes" if u % 11 == 0 else None,
                "sid": f"s{u}",
                "path": rng.choice(paths),
            }
        )
    return rows


def as_jsonl(rows: list[dict[str, Any]]) -> str:
    """The same requests in hashlb's own JSONL request format."""
    out = []
    for r in rows:
        headers = {}
        if r["x_user"] is not None:
            headers["x-user"] = r["x_user"]
        if r["canary"] is not None:
            headers["x-canary"] = r["canary"]
        req = {
            "user": r["user_id"],
            "headers": headers,
            "cookies": {"session": r["sid"]},
            "path": r["path"],
            "source_ip": r["ip"],
        }
        out.append(json.dumps(req))
    return "\n".join(out) + "\n"


COLUMNS = [
    "--column",
    "user=user_id",
    "--column",
    "header:x-user=x_user",
    "--column",
    "header:x-canary=canary",
    "--column",
    "cookie:session=sid",
    "--column",
    "source-ip=ip",
    "--column",
    "path=path",
]


def write_table(rows: list[dict[str, Any]], path: Path) -> Path:
    table = pa.Table.from_pylist(rows)
    if path.suffix == ".parquet":
        pq.write_table(table, path, row_group_size=97)
    elif path.suffix == ".csv":
        pacsv.write_csv(table, path)
    else:
        path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return path


def both(
    impl: Implementation, tmp_path: Path, table: Path, *args: str, extra: tuple[str, ...] = ()
) -> tuple[Any, Any, str]:
    """Run the JSONL and the columnar path; return both summaries and the columnar stderr."""
    out = []
    err = ""
    for kind in ("jsonl", "columns"):
        target = tmp_path / f"{kind}.json"
        req = ["--requests", "r.jsonl"] if kind == "jsonl" else ["--requests", table.name, *COLUMNS]
        proc = run_cli(impl, "simulate", *args, *req, *extra, "--json", target, cwd=tmp_path)
        assert proc.returncode == 0, proc.stderr
        s = json.loads(target.read_text())
        s.pop("key")  # "from r.jsonl" / "from r.parquet"
        report = proc.stdout.replace(f"key from {table.name}", "key from r.jsonl")
        out.append((s, report))
        if kind == "columns":
            err = proc.stderr
    (a, report_a), (b, report_b) = out
    assert report_a == report_b
    return a, b, err


@pytest.mark.parametrize("mode", ["envoy", "sticky"])
def test_seed_example_same_figures_from_parquet(
    impl: Implementation, tmp_path: Path, mode: str
) -> None:
    """The seed example (x-myval header, 90/10): JSONL and Parquet give one summary."""
    rng = random.Random(5)
    rows = []
    for _ in range(2000):
        u = f"u{rng.randrange(150)}"
        rows.append({"user_id": u, "val": u if rng.random() < 0.95 else None})
    lines = [
        json.dumps(
            {"user": r["user_id"], **({"headers": {"x-myval": r["val"]}} if r["val"] else {})}
        )
        for r in rows
    ]
    (tmp_path / "r.jsonl").write_text("\n".join(lines) + "\n")
    write_table(rows, tmp_path / "r.parquet")
    sums = []
    columns = ["--column", "user=user_id", "--column", "header:x-myval=val"]
    for req in (
        ["--requests", "r.jsonl"],
        ["--requests", "r.parquet", *columns],
        ["--requests", "r.parquet", *columns, "--batch-rows", "33"],  # many route_many calls
    ):
        proc = run_cli(
            impl, "simulate", "-f", EXAMPLE, *req, "--mode", mode, "--json", "-", cwd=tmp_path
        )
        assert proc.returncode == 0, proc.stderr
        sums.append(json.loads(proc.stdout))
    a, b, c = sums
    assert a.pop("key") == "from r.jsonl" and b.pop("key") == c.pop("key") == "from r.parquet"
    assert a == b == c
    assert a["requests"] == 2000 and a["no_hash"] > 0 and a["stickiness"]["users"] == 150
    assert 0 < a["stickiness"]["one_endpoint"] < 150  # requests without a key land at random


@pytest.mark.parametrize("suffix", [".parquet", ".csv", ".jsonl"])
@pytest.mark.parametrize("mode", ["envoy", "sticky"])
def test_matched_routes_unhealthy_pods_same_figures(
    impl: Implementation, tmp_path: Path, suffix: str, mode: str
) -> None:
    """Header/uri/regex/query matches, unrouted rows, an unhealthy pod, a subset's own table."""
    write(tmp_path / "mesh" / "pods.yaml", PODS)
    text = mesh(
        "{loadBalancer: {consistentHash: {httpHeaderName: x-user}}}",
        MATCHED,
        v1_policy="{loadBalancer: {consistentHash: {httpHeaderName: x-user, maglev: {tableSize: 7}}}}",
    )
    write(tmp_path / "mesh" / "mesh.yaml", text)
    rows = traffic(900, 1)
    (tmp_path / "r.jsonl").write_text(as_jsonl(rows))
    table = write_table(rows, tmp_path / f"t{suffix}")
    a, b, err = both(impl, tmp_path, table, "-f", "mesh", "--mode", mode, "--wide")
    assert a == b
    assert a["unrouted"] > 0 and a["no_hash"] > 0
    assert a["health"]["endpoints"] == {"10.1.0.2:8080": "unhealthy"}
    assert "request by request" not in err


def test_source_ip_policy_and_generated_cookie(impl: Implementation, tmp_path: Path) -> None:
    """useSourceIp (IPv4 and IPv6 columns) in batch; a ttl cookie route request by request."""
    write(tmp_path / "pods.yaml", PODS)
    rows = traffic(400, 2)
    (tmp_path / "r.jsonl").write_text(as_jsonl(rows))
    table = write_table(rows, tmp_path / "r.parquet")
    write(
        tmp_path / "mesh.yaml", mesh("{loadBalancer: {consistentHash: {useSourceIp: true}}}", SPLIT)
    )
    a, b, err = both(impl, tmp_path, table, "-f", "mesh.yaml", "--endpoints", "pods.yaml")
    assert a == b and a["no_hash"] == 0 and "request by request" not in err
    policy = "{loadBalancer: {consistentHash: {httpCookie: {name: gen, path: /, ttl: 60s}}}}"
    write(tmp_path / "mesh.yaml", mesh(policy, SPLIT))
    a, b, err = both(impl, tmp_path, table, "-f", "mesh.yaml", "--endpoints", "pods.yaml")
    assert a == b
    assert "is routed request by request (Envoy generates a cookie" in err


def test_read_requests_formats_agree(tmp_path: Path) -> None:
    """Parquet, CSV and JSON lines yield the same request-field batches, in bounded sizes."""
    rows = traffic(250, 3)
    mapping = parse_columns(COLUMNS[1::2])
    got = []
    for suffix in (".parquet", ".csv", ".jsonl"):
        path = write_table(rows, tmp_path / f"t{suffix}")
        batches = list(read_requests(path, mapping, batch_rows=64))
        assert all(0 < b.num_rows <= 64 for b in batches)
        t = pa.Table.from_batches(batches)
        assert t.column_names == [
            "user",
            "header:x-user",
            "header:x-canary",
            "cookie:session",
            "remote_address",
            "path",
        ]
        got.append(t.to_pylist())
    assert got[0] == got[1] == got[2]
    first = got[0][0]
    ip = rows[0]["ip"]
    assert first["remote_address"] == (f"[{ip}]:50000" if ":" in ip else f"{ip}:50000")
    assert sum(r["header:x-user"] is None for r in got[0]) == sum(r["x_user"] is None for r in rows)


def _peak_reading(path: Path, rows: int) -> int:
    """The peak of Arrow's allocated bytes while *path* is read in batches of *rows*."""
    base, peak, seen = pa.total_allocated_bytes(), 0, 0
    for b in read_requests(path, ["user=uid", "header:x-pad=pad"], batch_rows=rows):
        seen += b.num_rows
        peak = max(peak, pa.total_allocated_bytes() - base)
        del b
    return peak


def test_read_requests_memory_follows_the_batch_not_the_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Reading a file 4x as long holds no more Arrow memory, in every format: Parquet's
    pre-buffering kept every row group read so far (apache/arrow#39808), 4x the memory.
    CSV blocks of 64 KiB here: the reader's 32 blocks of read-ahead fit in the files."""
    from hashlb import _replayread

    pc = pytest.importorskip("pyarrow.compute")
    monkeypatch.setattr(_replayread, "CSV_BLOCK", 1 << 16)
    group = 10_000
    peaks: dict[str, list[int]] = {}
    for n in (100_000, 400_000):
        ids = pc.binary_join_element_wise("user-", pc.cast(pa.array(range(n)), pa.string()), "")
        table = pa.table({"uid": ids, "pad": pc.binary_join_element_wise(ids, ids, ids, "-")})
        pq.write_table(table, tmp_path / f"{n}.parquet", row_group_size=group)
        pacsv.write_csv(table, tmp_path / f"{n}.csv")
        with (tmp_path / f"{n}.jsonl").open("w") as f:
            for uid, pad in zip(ids.to_pylist(), table.column("pad").to_pylist(), strict=True):
                f.write(json.dumps({"uid": uid, "pad": pad}) + "\n")
        for fmt in ("parquet", "csv", "jsonl"):
            peaks.setdefault(fmt, []).append(_peak_reading(tmp_path / f"{n}.{fmt}", group))
    for fmt, (small, big) in peaks.items():
        assert big < 1.5 * small + (1 << 20), (fmt, small, big)


def test_csv_rows_longer_than_a_block(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A CSV row longer than the reader's block (first, or after rows already yielded,
    after blank lines and quoted newlines) is read with a bigger block, every row once;
    longer than the cap, an InputError; a parse error quoting "straddling" is not one."""
    from hashlb import _replayread

    monkeypatch.setattr(_replayread, "CSV_BLOCK", 1 << 12)
    for at in (0, 700, 1999):
        users = [f"u{i}" for i in range(2000)]
        users[at] = "v" * 300_000 + f"-{at}"  # 73 blocks of 4 KiB: grown 4096 -> 2**21
        users[1500] = "a\nquoted\nnewline"
        path = tmp_path / f"long{at}.csv"
        pacsv.write_csv(pa.table({"uid": users}), path)
        text = path.read_text()
        cut = text.index("\n", text.index("\n") + 1) + 1  # after the first row
        path.write_text(text[:cut] + "\n\n\n" + text[cut:])  # blank lines: no rows
        got = [
            u for b in read_requests(path, ["user=uid"], batch_rows=64) for u in b[0].to_pylist()
        ]
        assert got == users
    monkeypatch.setattr(_replayread, "MAX_REPLAY_CSV_BLOCK", 1 << 15)
    with pytest.raises(InputError, match=r"long700.csv: a row is longer than MAX_REPLAY_CSV_BLOCK"):
        list(read_requests(tmp_path / "long700.csv", ["user=uid"]))
    with pytest.raises(InputError, match=r"long0.csv: a row is longer than MAX_REPLAY_CSV_BLOCK"):
        list(read_requests(tmp_path / "long0.csv", ["user=uid"]))
    (tmp_path / "bad.csv").write_text("a,b\n1,x\nstraddling\n")
    with pytest.raises(InputError, match=r"bad.csv: cannot read: .*Expected 2 columns, got 1"):
        list(read_requests(tmp_path / "bad.csv", ["user=a"]))


def test_csv_quoted_newlines_across_blocks(tmp_path: Path) -> None:
    """Quoted values with newlines, many crossing a block boundary of 1 MiB, read whole."""
    users = [f"u{i}" for i in range(150_000)]
    pacsv.write_csv(
        pa.table({"uid": users, "h": ["line one\nline two"] * len(users)}),
        path := tmp_path / "q.csv",
    )
    got = [b for b in read_requests(path, ["user=uid", "header:x-h=h"])]
    assert sum(b.num_rows for b in got) == len(users)
    assert {v for b in got for v in b[1].to_pylist()} == {"line one\nline two"}


def test_integer_user_ids_become_text(tmp_path: Path) -> None:
    """An integer column is read as its decimal text; CSV keeps leading zeros."""
    pq.write_table(pa.table({"uid": pa.array([7, 42], pa.int64())}), tmp_path / "a.parquet")
    (tmp_path / "a.csv").write_text("uid\n007\n42\n")
    (b,) = read_requests(tmp_path / "a.parquet", {"user": "uid"})
    assert b.column(0).to_pylist() == ["7", "42"]
    (b,) = read_requests(tmp_path / "a.csv", ["user=uid"])
    assert b.column(0).to_pylist() == ["007", "42"]


def test_bad_inputs_name_the_file_and_column(tmp_path: Path) -> None:
    """A missing column, a wrong type, an unreadable file: InputError naming them."""
    from hashlb._source import InputError

    pq.write_table(pa.table({"a": [[1, 2]], "b": ["x"]}), tmp_path / "t.parquet")
    (tmp_path / "t.csv").write_text("b\nx\n")
    (tmp_path / "t.jsonl").write_text('{"b": "x"}\n')
    for name in ("t.parquet", "t.csv", "t.jsonl"):
        with pytest.raises(InputError, match=rf"{name}: no column 'nope' in the file"):
            list(read_requests(tmp_path / name, ["user=nope"]))
    with pytest.raises(InputError, match=r"t.parquet: column 'a' has type list<.*text or integers"):
        list(read_requests(tmp_path / "t.parquet", ["user=a"]))
    with pytest.raises(InputError, match=r"missing.parquet: cannot read"):
        read_requests(tmp_path / "missing.parquet", ["user=a"])
    (tmp_path / "junk.parquet").write_bytes(b"not parquet at all")
    with pytest.raises(InputError, match=r"junk.parquet: cannot read"):
        read_requests(tmp_path / "junk.parquet", ["user=a"])
    (tmp_path / "bad.jsonl").write_text('{"b": "x"}\n{"b": \n')
    with pytest.raises(InputError, match=r"bad.jsonl:2: not JSON"):
        list(read_requests(tmp_path / "bad.jsonl", ["user=b"]))
    (tmp_path / "types.jsonl").write_text('{"b": "x"}\n{"b": {"c": 1}}\n')  # lines disagree
    with pytest.raises(InputError, match=r"types.jsonl:1: in the lines from here"):
        list(read_requests(tmp_path / "types.jsonl", ["user=b"]))
    with pytest.raises(InputError, match="cannot tell the format"):
        read_requests(tmp_path / "t.txt", ["user=b"])
    with pytest.raises(ValueError, match="unknown request field 'nope'"):
        parse_columns(["nope=b"])
    with pytest.raises(ValueError, match="FIELD=COLUMN"):
        parse_columns(["user"])
    with pytest.raises(ValueError, match="mapped twice"):
        parse_columns(["header:X-A=a", "header:x-a=b"])
    with pytest.raises(ValueError, match="not both"):
        parse_columns(["source-ip=a", "remote_address=b"])
    with pytest.raises(ValueError, match="batch_rows must be in"):
        read_requests(tmp_path / "t.csv", ["user=b"], batch_rows=0)
    with pytest.raises(ValueError, match="unknown format"):
        read_requests(tmp_path / "t.csv", ["user=b"], format="xml")


def test_envoy_json_access_log_example(impl: Implementation, tmp_path: Path) -> None:
    """The documented Istio JSON access log sample replays with its column mapping."""
    sample = ROOT / "examples" / "access-logs" / "istio-access-log.jsonl"
    mapping = {**ENVOY_JSON_COLUMNS, "user": "x_forwarded_for", "header:x-user": "x_forwarded_for"}
    t = pa.Table.from_batches(list(read_requests(sample, mapping)))
    assert t.num_rows == sum(1 for line in sample.read_text().splitlines() if line.strip())
    assert all(a.count(":") >= 1 for a in t.column("remote_address").to_pylist())
    args = [f"--column={k}={v}" for k, v in mapping.items() if k != "header::method"]
    proc = run_cli(
        impl,
        "simulate",
        "-f",
        EXAMPLE,
        "--requests",
        sample,
        *args,
        "--column=header:x-myval=x_forwarded_for",
        "--json",
        "-",
    )
    assert proc.returncode == 0, proc.stderr
    s = json.loads(proc.stdout)
    assert s["requests"] == t.num_rows and s["no_hash"] == 0


def test_cli_refusals(impl: Implementation, tmp_path: Path) -> None:
    """--column needs a file; a Parquet file needs --column; --decisions is per request."""
    write_table(traffic(5, 4), tmp_path / "r.parquet")
    cases = [
        (["--users", "3", "--column", "user=u"], "need --requests FILE"),
        (["--requests", "r.parquet"], "needs a column mapping"),
        (
            ["--requests", "r.parquet", "--column", "user=user_id", "--decisions", "d"],
            "--decisions",
        ),
        (["--requests", "r.parquet", "--column", "who=user_id"], "unknown request field 'who'"),
        (["--requests", "r.parquet", "--column", "user=nope"], "no column 'nope'"),
    ]
    for args, says in cases:
        proc = run_cli(impl, "simulate", "-f", EXAMPLE, *args, cwd=tmp_path)
        assert proc.returncode == 2, proc.stderr
        assert says in error_line(proc)


def _router(impl: Implementation, mode: str) -> Router:
    return ab_router(impl, mode, {"a": 80, "b": 20})


@pytest.mark.parametrize("mode", ["envoy", "sticky"])
def test_route_columns_equals_route_row_by_row(impl: Implementation, mode: str) -> None:
    """route_columns draws the router's rng in route()'s order: the same picks, row by row."""
    from hashlb.policy import Request

    users = [None if i % 5 == 0 else f"u{i % 17}" for i in range(300)]
    batch = pa.RecordBatch.from_arrays([pa.array(users, pa.string())], names=["header:x-user"])
    a, b = _router(impl, mode), _router(impl, mode)
    sub, host, lh, none = route_columns(a, batch)
    names = a.picker.names
    for i, u in enumerate(users):
        r = b.route(Request(headers=[("x-user", u)] if u is not None else []))
        assert names[sub[i]] == r.subset and a.hosts[host[i]].address == r.host.address
        assert int(lh[i]) == r.lookup_hash and bool(none[i]) == (r.hash is None)
    np = pytest.importorskip("numpy")
    c = _router(impl, mode)
    s1 = route_columns(c, batch, rng=np.random.default_rng(1))
    s2 = route_columns(_router(impl, mode), batch, rng=np.random.default_rng(1))
    assert all((x == y).all() for x, y in zip(s1, s2, strict=True))


def test_stickiness_counts_and_pickles() -> None:
    """Unrouted requests count their user only; no host is a code of its own; merge is exact."""
    import pickle

    s = Stickiness()
    s.add(pa.array(["a", "b", "a", "c", "d"]), [0, 1, 2, -1, 9], [0, 0, 0, -1, 1], [0, 0, 1, 0, 0])
    assert (s.requests, s.users, s.one_endpoint, s.one_group, s.flagged) == (5, 4, 2, 3, 1)
    t = Stickiness()
    t.add(["c", "d"], [3, 8], [1, 1])
    m = pickle.loads(pickle.dumps(s)).merge(t)
    assert (m.requests, m.users, m.one_endpoint, m.one_group, m.flagged) == (7, 4, 2, 4, 1)
    rows = {r["user"]: r for r in m.per_user().to_pylist()}
    assert rows["c"]["one_endpoint"] and not rows["d"]["one_endpoint"] and rows["d"]["one_group"]
    with pytest.raises(ValueError, match="endpoints has 1 items, users has 2"):
        t.add(["x", "y"], [1], [1, 1])
    small = Stickiness(max_users=2)
    with pytest.raises(InputError, match="more than 2 distinct users"):
        small.add(["x", "y", "z"], [1, 1, 1], [0, 0, 0])
    assert (small.requests, small.users, small.per_user().num_rows) == (0, 0, 0)  # not counted
    small.add(["y"], [3], [0])
    assert small.per_user().to_pylist() == [
        {"user": "y", "one_endpoint": True, "one_group": True, "flagged": False}
    ]
    with pytest.raises(ValueError, match=r"max_users must be an int in \[1, 2\*\*31 - 1\]"):
        Stickiness(max_users=2**31)
    with pytest.raises(TypeError, match="pickled by an earlier hashlb"):
        Stickiness().__setstate__({"max_users": 5, "requests": 0, "state": None})


#: The reviewer's mesh (issue 14): the canary's deployments, a cookie at the top level
#: and a subset of its own hashing a query parameter.
_SUBSET_RULE = """
kind: DestinationRule
apiVersion: networking.istio.io/v1alpha3
metadata: {name: fleetman-staff-service, namespace: default}
spec:
  host: fleetman-staff-service
  trafficPolicy:
    loadBalancer:
      consistentHash:
        httpCookie: {name: sid%s}
  subsets:
    - labels: {version: safe}
      name: safe
    - labels: {version: risky}
      name: risky
      trafficPolicy:
        loadBalancer:
          consistentHash:
            httpQueryParameterName: tenant
"""


def _edge_rows(n: int) -> list[dict[str, Any]]:
    rng = random.Random(14)
    pick = rng.choice
    return [
        {
            "user": pick([f"u{i % 40}"] * 3 + ["", None]),
            "hx": pick(["a b", "", "v", None]),
            "sid": pick(["", "a b", "x;y", '"q"', "k=v", "abc", None]),
            "ip": pick(["10.0.0.1", "2001:db8::1", "::1", "192.168.1.9", None]),
            "path": pick(["/p?tenant=a&tenant=b", "/p?tenant=", "/p?tenant=%41", "/p", "", None]),
        }
        for i in range(n)
    ]


def _jsonl_rows(rows: list[dict[str, Any]]) -> str:
    out = []
    for r in rows:
        o: dict[str, Any] = {} if r["user"] is None else {"user": r["user"]}
        if r["hx"] is not None:
            o["headers"] = {"x-h": r["hx"]}
        if r["sid"] is not None:
            o["cookies"] = {"sid": r["sid"]}
        if r["ip"] is not None:
            o["source_ip"] = r["ip"]
        if r["path"] is not None:
            o["path"] = r["path"]
        out.append(json.dumps(o) + "\n")
    return "".join(out)


@pytest.mark.parametrize("ttl", ["", ", ttl: 0s"], ids=["cookie", "generated-cookie"])
@pytest.mark.parametrize("mode", ["envoy", "sticky"])
def test_subset_level_policy_same_figures_from_parquet_csv_and_jsonl(
    impl: Implementation, tmp_path: Path, mode: str, ttl: str
) -> None:
    """Edge values (empty, spaced, ``;`` and quoted cookies, IPv6 clients, repeated and
    empty query parameters, missing cells) under a subset-level policy: the Parquet, CSV
    and JSON-lines tables give the figures of the same requests as hashlb JSONL."""
    (tmp_path / "mesh").mkdir()
    (tmp_path / "mesh" / "deployments.yaml").write_text((EXAMPLE / "deployments.yaml").read_text())
    (tmp_path / "mesh" / "vs.yaml").write_text((EXAMPLE / "virtualservice.yaml").read_text())
    write(tmp_path / "mesh" / "dr.yaml", _SUBSET_RULE % ttl)
    rows = _edge_rows(400)
    (tmp_path / "r.jsonl").write_text(_jsonl_rows(rows))
    table = pa.table({k: pa.array([r[k] for r in rows], pa.string()) for k in rows[0]})
    pq.write_table(table, tmp_path / "t.parquet", row_group_size=97)
    pacsv.write_csv(table, tmp_path / "t.csv")
    (tmp_path / "t.jsonl").write_text(
        "".join(json.dumps({k: v for k, v in r.items() if v is not None}) + "\n" for r in rows)
    )
    columns = [
        *("--column", "user=user", "--column", "header:x-h=hx", "--column", "cookie:sid=sid"),
        *("--column", "source-ip=ip", "--column", "path=path"),
    ]
    common = ["-f", "mesh", "--mode", mode, "--seed", "3", "--json", "-", "-q"]
    summaries = {}
    for name in ("r.jsonl", "t.parquet", "t.csv", "t.jsonl"):
        cols = [] if name == "r.jsonl" else columns
        proc = run_cli(impl, "simulate", *common, "--requests", name, *cols, cwd=tmp_path)
        assert proc.returncode == 0, proc.stderr
        s = json.loads(proc.stdout)
        assert s.pop("key") == f"from {name}"
        summaries[name] = s
    want = summaries.pop("r.jsonl")
    assert want["requests"] == 400 and want["stickiness"]["users"] > 40
    assert want["subsets"]["risky"] and want["subsets"]["safe"]
    for name, s in summaries.items():
        assert s == want, name


def test_a_bad_json_line_is_named_by_its_line_number(tmp_path: Path) -> None:
    """The error names the file's line, not Arrow's row within one of its chunks."""
    good = json.dumps({"user_id": "u", "val": "x"}) + "\n"
    for bad, says in [
        ('{"user_id": "u", "val": \n', "not JSON"),
        ("[1, 2]\n", "a line must be a JSON object"),
        ("[" * 100_000 + "\n", "nested too deeply"),
    ]:
        path = tmp_path / "mixed.jsonl"
        path.write_text(good * 70_000 + bad + good)
        with pytest.raises(InputError, match=says) as err:
            for _ in read_requests(str(path), {"user": "user_id"}, batch_rows=1 << 16):
                pass
        assert str(err.value).startswith(f"{path}:70001:"), str(err.value)


def test_a_missing_jsonl_column_lists_the_keys_the_lines_have(tmp_path: Path) -> None:
    """hashlb's own JSONL requests given to --column: the error shows their keys."""
    path = tmp_path / "h.jsonl"
    path.write_text('{"user": "a", "headers": {"x": "a"}}\n')
    with pytest.raises(InputError, match=r"no column 'user_id' .*its columns: headers, user\)"):
        list(read_requests(str(path), {"user": "user_id"}))


def test_a_csv_decode_error_names_the_column(tmp_path: Path) -> None:
    """Arrow numbers the CSV column; the error gives its name from the header."""
    path = tmp_path / "bad.csv"
    path.write_bytes(b"a,val,user_id\nx,v,\xff\xfe\n")
    with pytest.raises(InputError, match=r"bad.csv: cannot read column 'user_id': .*UTF8"):
        list(read_requests(str(path), {"user": "user_id", "header:x": "val"}))
