"""The round trip of ``hashlb translate``: ``simulate -f`` and ``translate | simulate --envoy-config``.

:func:`round_trip` runs the real command line in this process three times
(``simulate -f DIR --mode envoy --decisions``, ``translate -f DIR`` and
``simulate --envoy-config DUMP --virtual-host HOST:PORT --decisions``) and
compares the decisions request by request: the Envoy cluster of the subset,
and for a hashing cluster the endpoint and the hash.  A non-hashing
(``simple``) cluster is compared by cluster only: its pick is random.
"""

from __future__ import annotations

import contextlib
import io
import json
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from hashlb.istio import load_mesh
from hashlb.istio.xds import _catch_all, cluster_name, route_match, virtual_host


def run(argv: Sequence[str], stdin: bytes | None = None) -> tuple[int, str, str]:
    """Run ``hashlb ARGV`` in this process; return (exit code, stdout, stderr)."""
    from hashlb.__main__ import main

    out, err = io.StringIO(), io.StringIO()
    saved = sys.stdin
    if stdin is not None:
        sys.stdin = io.TextIOWrapper(io.BytesIO(stdin), encoding="utf-8")
    try:
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            code = main([str(a) for a in argv])
    finally:
        sys.stdin = saved
    return code, out.getvalue(), err.getvalue()


def write_requests(path: Path, count: int = 60) -> Path:
    """Write a JSONL file of varied requests: keys present or missing, paths, methods, sources."""
    lines = []
    for i in range(count):
        u = f"u{i % 23}"
        headers: dict[str, str] = {}
        if i % 7:
            headers.update({"x-user": u, "x-myval": u})
        if i % 3 == 0:
            headers["x-canary"] = "yes"
        if i % 4 == 0:
            headers[":method"] = "POST"
        cookies = {"session": f"s-{u}", "hash-cookie": u} if i % 5 else {}
        where = ("/api/v1/items", "/static/app.js", "/", f"/api?user={u}")[i % 4]
        lines.append(
            json.dumps(
                {
                    "user": u,
                    "headers": headers,
                    "cookies": cookies,
                    "path": where,
                    "source_ip": f"203.0.113.{i % 23 + 1}",
                }
            )
        )
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def _decisions(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]


def round_trip(
    tmp: Path,
    files: Sequence[str | Path],
    *,
    host: str | None = None,
    requests: Path | None = None,
    options: Sequence[str] = (),
    stdin: bool = False,
) -> dict[str, int]:
    """Run both paths on the mesh *files* and assert the decisions agree; return counts.

    *requests* is a JSONL file (default: synthetic users, ``--users 40
    --requests-per-user 5``); *options* are ``-f`` options ``translate``
    takes too (``--namespace``, ``--unhealthy-endpoints``, ``--source-locality``).
    With *stdin*, the dump goes to ``simulate --envoy-config -`` on standard input.

    The counts: ``compared`` requests, ``endpoints`` of them compared by
    endpoint, ``unrouted`` (by both), ``not_hashing`` (a route without hash
    policy, which ``--virtual-host`` leaves out).
    """
    paths = [str(f) for f in files]
    f_args = [a for p in paths for a in ("-f", p)]
    host_args = ["--host", host] if host else []
    traffic = (
        ["--requests", str(requests)] if requests else ["--users", "40", "--requests-per-user", "5"]
    )
    f_out, e_out, dump = tmp / "f.jsonl", tmp / "e.jsonl", tmp / "dump.json"
    code, _, err = run(
        [
            "simulate",
            *f_args,
            *host_args,
            *options,
            "--mode",
            "envoy",
            "--decisions",
            f_out,
            "-q",
            *traffic,
        ]
    )
    assert code == 0, err
    code, _, err = run(["translate", *f_args, *host_args, *options, "-o", dump])
    assert code == 0, err
    assert json.loads(dump.read_text(encoding="utf-8"))["configs"]
    given = dict(zip(options[::2], options[1::2], strict=True))
    mesh = load_mesh(
        paths,
        [given["--endpoints"]] if "--endpoints" in given else [],
        namespace=given.get("--namespace", "default"),
        domain=given.get("--cluster-domain", "cluster.local"),
        unhealthy_endpoints=given.get("--unhealthy-endpoints", "auto"),
    )
    scenario = mesh.scenario(host, source_locality=given.get("--source-locality"))
    vhost = virtual_host(scenario)["name"]
    source = "-" if stdin else str(dump)
    code, _, err = run(
        [
            "simulate",
            "--envoy-config",
            source,
            "--virtual-host",
            vhost,
            "--decisions",
            e_out,
            "-q",
            *traffic,
        ],
        stdin=dump.read_bytes() if stdin else None,
    )
    plans = {p.name: p for p in scenario.routes}
    reachable = []
    for p in scenario.routes:  # Istio emits no route after a catch-all one
        reachable.append(p)
        if p.matches is None or any(_catch_all(route_match(m)) for m in p.matches):
            break
    hashing = {
        p.name
        for p in reachable
        if p.hash_keys and any(d.lb.algorithm != "simple" for d in p.destinations)
    }
    if not hashing:  # nothing for the Envoy side to simulate: it says so, exit 2
        assert code == 2 and "hash" in err, err
        return {"compared": 0, "endpoints": 0, "unrouted": 0, "not_hashing": len(_decisions(f_out))}
    assert code == 0, err
    counts = {"compared": 0, "endpoints": 0, "unrouted": 0, "not_hashing": 0}
    f_lines, e_lines = _decisions(f_out), _decisions(e_out)
    assert len(f_lines) == len(e_lines) > 0
    for a, b in zip(f_lines, e_lines, strict=True):
        assert a["request"] == b["request"] and a["user"] == b["user"]
        if a["subset"] is None:
            assert b["cluster"] is None, (a, b)
            counts["unrouted"] += 1
            continue
        if a["route"] not in hashing:
            assert b["cluster"] is None, (a, b)  # --virtual-host: routes that hash only
            counts["not_hashing"] += 1
            continue
        d = next(d for d in plans[a["route"]].destinations if d.name == a["subset"])
        assert b["cluster"] == cluster_name(d), (a, b)
        counts["compared"] += 1
        if d.lb.algorithm == "simple":
            continue  # a random pick on both sides
        assert b["endpoint"] == a["endpoint"], (a, b)
        if a["hash"] is not None:
            assert b["hashed"] and b["hash"] == a["hash"], (a, b)
        else:
            assert not b["hashed"], (a, b)
        assert b.get("set_cookie") == a.get("set_cookie"), (a, b)
        counts["endpoints"] += 1
    return counts
