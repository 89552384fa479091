"""``hashlb simulate`` on bad input: one FILE:LINE line, exit code 2, no output file."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from ._cli import EXAMPLE, error_line, run_cli, run_shared, write
from ._impl import Implementation

DR = """
apiVersion: networking.istio.io/v1beta1
kind: DestinationRule
metadata: {name: web}
spec:
  host: web
  trafficPolicy:
    loadBalancer:
      consistentHash: {httpHeaderName: x-user}
  subsets:
    - name: v1
      labels: {version: v1}
    - name: v2
      labels: {version: v2}
"""
PODS = """
apiVersion: v1
kind: Pod
metadata: {name: web-1, labels: {version: v1}}
status: {podIP: 10.0.0.1}
---
apiVersion: v1
kind: Pod
metadata: {name: web-2, labels: {version: v2}}
status: {podIP: 10.0.0.2}
"""


def vs(weights: tuple[str, str] = ("90", "10"), host: str = "web") -> str:
    """Return a VirtualService splitting *host* between v1 and v2."""
    return f"""
apiVersion: networking.istio.io/v1beta1
kind: VirtualService
metadata: {{name: web}}
spec:
  hosts: [web]
  http:
    - route:
        - destination: {{host: {host}, subset: v1}}
          weight: {weights[0]}
        - destination: {{host: {host}, subset: v2}}
          weight: {weights[1]}
"""


CASES = {
    # name: (files {name: text}, expected "FILE:LINE: message" fragment)
    "malformed-yaml": (
        {"mesh.yaml": DR + "---\nkind: Pod\nmetadata:\n  name: [oops\n"},
        "mesh.yaml:18: malformed YAML: did not find expected ',' or ']' (while parsing a flow sequence at line 17)",
    ),
    "bad-indentation": (
        {"mesh.yaml": "kind: Pod\nmetadata:\n  name: a\n labels: {}\n"},
        "mesh.yaml:4: malformed YAML",
    ),
    "unknown-kind": (
        {"mesh.yaml": DR + "---\napiVersion: v1\nkind: Frobnicator\nmetadata: {name: x}\n"},
        "mesh.yaml:16: unknown kind 'Frobnicator'",
    ),
    "no-kind": (
        {"mesh.yaml": "apiVersion: v1\nmetadata: {name: x}\n"},
        "mesh.yaml:1: the document has no 'kind'",
    ),
    "bad-istio-version": (
        {"mesh.yaml": DR.replace("v1beta1", "v2")},
        "mesh.yaml:1: DestinationRule: unsupported apiVersion 'networking.istio.io/v2'",
    ),
    "host-without-rule": (
        {"dr.yaml": DR, "pods.yaml": PODS, "vs.yaml": vs(host="cart")},
        "vs.yaml:8: VirtualService 'web' route 'http[0]' sends traffic to host "
        "'cart.default.svc.cluster.local', but no DestinationRule has that host",
    ),
    "subset-without-pods": (
        {"dr.yaml": DR, "pods.yaml": PODS.split("---")[0], "vs.yaml": vs()},
        "dr.yaml:12: DestinationRule 'web' subset 'v2' selects no pods (labels version=v2)",
    ),
    "undefined-subset": (
        {"dr.yaml": DR, "pods.yaml": PODS, "vs.yaml": vs().replace("subset: v2", "subset: v3")},
        "vs.yaml:10: VirtualService 'web' route 'http[0]': subset 'v3' is not defined",
    ),
    "weight-not-a-number": (
        {"dr.yaml": DR, "pods.yaml": PODS, "vs.yaml": vs(("ninety", "10"))},
        "vs.yaml:9: VirtualService 'web' route 'http[0]': weight must be a whole number",
    ),
    "weight-fraction": (
        {"dr.yaml": DR, "pods.yaml": PODS, "vs.yaml": vs(("90", "9.5"))},
        "vs.yaml:11: VirtualService 'web' route 'http[0]': weight must be a whole number",
    ),
    "weight-negative": (
        {"dr.yaml": DR, "pods.yaml": PODS, "vs.yaml": vs(("-1", "10"))},
        "vs.yaml:9: VirtualService 'web' route 'http[0]': weight must be a whole number",
    ),
    "weights-all-zero": (
        {"dr.yaml": DR, "pods.yaml": PODS, "vs.yaml": vs(("0", "0"))},
        "vs.yaml:9: VirtualService 'web' route 'http[0]': every destination has weight 0",
    ),
    "two-hash-keys": (
        {
            "dr.yaml": DR.replace(
                "{httpHeaderName: x-user}", "{httpHeaderName: x, useSourceIp: true}"
            ),
            "pods.yaml": PODS,
            "vs.yaml": vs(),
        },
        "dr.yaml:8: DestinationRule 'web' consistentHash: set only one of",
    ),
    "maglev-size-not-prime": (
        {
            "dr.yaml": DR.replace(
                "{httpHeaderName: x-user}", "{httpHeaderName: x, maglev: {tableSize: 1000}}"
            ),
            "pods.yaml": PODS,
            "vs.yaml": vs(),
        },
        "dr.yaml:8: DestinationRule 'web' consistentHash maglev: tableSize must be a prime",
    ),
    "bad-cookie-ttl": (
        {
            "dr.yaml": DR.replace("{httpHeaderName: x-user}", "{httpCookie: {name: s, ttl: soon}}"),
            "pods.yaml": PODS,
            "vs.yaml": vs(),
        },
        "dr.yaml:8: DestinationRule 'web' consistentHash httpCookie ttl: expected a duration",
    ),
    "unsupported-match": (
        {
            "dr.yaml": DR,
            "pods.yaml": PODS,
            "vs.yaml": vs().replace(
                "    - route:", "    - match: [{sourceLabels: {a: b}}]\n      route:"
            ),
        },
        "vs.yaml:7: VirtualService 'web' route 'http[0]': match field 'sourceLabels' cannot be simulated",
    ),
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_bad_input_is_one_line_with_file_and_line(
    impl: Implementation, tmp_path: Path, case: str
) -> None:
    """Each bad input: exit 2, one stderr line naming FILE:LINE, no traceback, no outputs."""
    files, expected = CASES[case]
    mesh = tmp_path / "mesh"
    for name, text in files.items():
        write(mesh / name, text)
    out = tmp_path / "out"
    out.mkdir()
    (out / "old.json").write_text("old")
    proc = run_shared(
        impl,
        sorted(CASES).index(case),
        "simulate",
        "-f",
        "mesh",
        "--users",
        "5",
        "--json",
        "out/new.json",
        "--decisions",
        "out/d.jsonl",
        "--plot",
        "out/p.png",
        "--json",
        "out/old.json",
        cwd=tmp_path,
    )
    assert proc.returncode == 2, proc.stderr
    line = error_line(proc)
    assert line.startswith("hashlb simulate: error: mesh/"), line
    assert expected in line, line
    assert proc.stdout == ""
    assert sorted(p.name for p in out.iterdir()) == ["old.json"]  # nothing new, nothing damaged
    assert (out / "old.json").read_text() == "old"


def test_missing_file_and_empty_directory(impl: Implementation, tmp_path: Path) -> None:
    """A missing -f path and a directory without YAML are one-line errors (exit 2)."""
    proc = run_cli(impl, "simulate", "-f", "nope.yaml", cwd=tmp_path)
    assert proc.returncode == 2
    assert error_line(proc) == "hashlb simulate: error: nope.yaml: no such file or directory"
    (tmp_path / "empty").mkdir()
    proc = run_cli(impl, "simulate", "-f", "empty", cwd=tmp_path)
    assert proc.returncode == 2
    assert "empty: the directory has no .yaml, .yml or .json file" in error_line(proc)


def test_output_directory_must_exist(impl: Implementation, tmp_path: Path) -> None:
    """An output in a missing directory fails before any work, naming the flag."""
    proc = run_cli(impl, "simulate", "-f", EXAMPLE, "--json", tmp_path / "no" / "s.json")
    assert proc.returncode == 2
    assert "--json: the directory" in error_line(proc)


USAGE = [
    ("--bogus",),
    ("--mode", "random"),
    ("--key", "header"),
    ("--key", "ip:x"),
    ("--users", "0"),
    ("--users", "ten"),
    ("--seed", "-1"),
    ("--requests", "r.jsonl", "--users", "3"),
]


@pytest.mark.parametrize("args", USAGE)
def test_usage_errors(impl: Implementation, tmp_path: Path, args: tuple[str, ...]) -> None:
    """Unknown flags and unparseable values get argparse's usage message (exit 2)."""
    proc = run_shared(impl, USAGE.index(args), "simulate", "-f", EXAMPLE, *args, cwd=tmp_path)
    assert proc.returncode == 2
    assert proc.stderr.startswith("usage: hashlb"), proc.stderr
    assert "error:" in proc.stderr and "Traceback" not in proc.stderr
    assert proc.stdout == ""


def test_no_subcommand_file_is_required(impl: Implementation) -> None:
    """`hashlb simulate` without -f is a usage error naming -f."""
    proc = run_cli(impl, "simulate")
    assert proc.returncode == 2 and "-f/--file" in proc.stderr


def test_bad_request_lines(impl: Implementation, tmp_path: Path) -> None:
    """A bad JSONL line mid-file: exit 2 naming FILE:LINE, and no partial decisions file."""
    lines = [json.dumps({"user": f"u{i}", "headers": {"x-myval": str(i)}}) for i in range(50)]
    for bad, message in [
        ("{not json", "reqs.jsonl:41: malformed JSON"),
        ('{"user": "a", "header": {}}', "reqs.jsonl:41: unknown request field 'header'"),
        ('{"headers": {"x": {"y": 1}}}', "reqs.jsonl:41: header 'x' must be a string"),
        ("[1, 2]", "reqs.jsonl:41: each line must be a JSON object"),
    ]:
        text = "\n".join([*lines[:40], bad, *lines[40:]]) + "\n"
        (tmp_path / "reqs.jsonl").write_text(text)
        proc = run_cli(
            impl,
            "simulate",
            "-f",
            EXAMPLE,
            "--requests",
            "reqs.jsonl",
            "--decisions",
            "d.jsonl",
            "--json",
            "s.json",
            cwd=tmp_path,
        )
        assert proc.returncode == 2, proc.stderr
        assert error_line(proc) == f"hashlb simulate: error: {message}" or message in error_line(
            proc
        )
        assert sorted(p.name for p in tmp_path.iterdir()) == ["reqs.jsonl"]
