"""``hashlb simulate`` end to end, as a subprocess, on the example and on every YAML form.

The golden summaries pin the seed example in both modes.  Regenerate them
(only for a deliberate change) with::

    python -m hashlb simulate -f examples/istio-canary --users 200 --seed 7 \
        --mode envoy --json tests/golden/cli_simulate_envoy.json -q
    python -m hashlb simulate -f examples/istio-canary --users 200 --seed 7 \
        --mode sticky --json tests/golden/cli_simulate_sticky.json -q
"""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path
from typing import Any

import pytest

from hashlb import Host
from hashlb.cli.output import _umask

from ._cli import EXAMPLE, ROOT, error_line, run_cli, write
from ._impl import Implementation

GOLDEN = ROOT / "tests" / "golden"


def summary(impl: Implementation, tmp_path: Path, *args: str | Path, stdin: str = "") -> Any:
    """Run simulate with --json and return the parsed summary (asserting success)."""
    out = tmp_path / "summary.json"
    proc = run_cli(impl, "simulate", *args, "--json", out, "-q", cwd=tmp_path, stdin=stdin)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout == ""
    return json.loads(out.read_text())


def decisions(path: Path) -> list[dict[str, Any]]:
    """Return the parsed --decisions lines."""
    return [json.loads(line) for line in path.read_text().splitlines()]


@pytest.mark.parametrize("mode", ["envoy", "sticky"])
def test_seed_example_matches_golden(impl: Implementation, tmp_path: Path, mode: str) -> None:
    """The seed example with seed 7 and 200 users gives exactly the pinned summary."""
    got = summary(impl, tmp_path, "-f", EXAMPLE, "--users", "200", "--seed", "7", "--mode", mode)
    want = json.loads((GOLDEN / f"cli_simulate_{mode}.json").read_text())
    assert got == want


def test_envoy_mode_reproduces_the_seed_finding(impl: Implementation, tmp_path: Path) -> None:
    """90/10 + header hash: ~0.9**20 + 0.1**20 = 12% of users stay on one subset; sticky: 100%."""
    envoy = summary(impl, tmp_path, "-f", EXAMPLE, "--users", "300")
    st = envoy["stickiness"]
    assert st["users"] == 300
    assert 0.04 < st["one_subset"] / 300 < 0.22  # 12.2% expected, far below 100%
    assert st["one_endpoint"] <= st["one_subset"]
    assert envoy["requests"] == 6000 and sum(envoy["subsets"].values()) == 6000
    assert 0.87 < envoy["subsets"]["safe"] / 6000 < 0.93
    sticky = summary(impl, tmp_path, "-f", EXAMPLE, "--users", "300", "--mode", "sticky")
    assert sticky["stickiness"] == {"users": 300, "one_endpoint": 300, "one_subset": 300}


def test_readme_command_prints_the_table(impl: Implementation) -> None:
    """`hashlb simulate -f examples/istio-canary/` prints the routing table and stickiness."""
    proc = run_cli(impl, "simulate", "-f", "examples/istio-canary/", cwd=ROOT)
    assert proc.returncode == 0, proc.stderr
    out = proc.stdout
    assert "subset  weight  configured  requests  share" in out
    assert "safe        90       90.0%" in out and "risky       10       10.0%" in out
    assert "hash policy: header:x-myval, 2 times: Istio emits one copy per weighted" in out
    first = out.splitlines()[0]  # the finding comes first, with its cause and the next step
    assert first.startswith("hashlb simulate: 12.3% of users stay on one endpoint")
    assert "Envoy picks the subset" in out.split("\n\n")[0] and "--mode sticky" in out
    assert all(len(line) <= 100 for line in out.splitlines())
    assert "stickiness: 1000 users; one endpoint:" in out
    assert proc.stderr == ""


def test_decisions_and_plot(impl: Implementation, tmp_path: Path) -> None:
    """--decisions has one line per request with user/subset/endpoint/hash; --plot a PNG."""
    png = tmp_path / "p.png"
    args = ["-f", EXAMPLE, "--users", "4", "--requests-per-user", "3", "--decisions", "d.jsonl"]
    # the chart does not depend on the twin: draw it once (matplotlib is slow to import)
    has_mpl = importlib.util.find_spec("matplotlib") is not None and not impl.is_pure_python
    proc = run_cli(impl, "simulate", *args, *(["--plot", png] if has_mpl else []), cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    rows = decisions(tmp_path / "d.jsonl")
    assert len(rows) == 12
    assert [r["user"] for r in rows[:5]] == ["user0", "user1", "user2", "user3", "user0"]
    for r in rows:
        assert set(r) == {"request", "user", "route", "subset", "endpoint", "pod", "hash"}
        assert r["subset"] in ("safe", "risky") and r["endpoint"].endswith(":8080")
        assert isinstance(r["hash"], int) and 0 <= r["hash"] < 2**64
    assert png.exists() == has_mpl
    mode = (tmp_path / "d.jsonl").stat().st_mode & 0o777
    assert mode == 0o666 & ~_umask()  # published like open() would create it, not 0600
    if has_mpl:
        assert png.read_bytes()[:4] == b"\x89PNG"


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
    status: {phase: Running, podIP: 10.1.0.2}
  - apiVersion: v1
    kind: Pod
    metadata: {name: web-c, namespace: shop, labels: {app: web, version: v2}}
    spec: {containers: [{name: c, ports: [{containerPort: 8080, name: http}]}]}
    status: {phase: Running, podIP: 10.1.0.3}
"""


def mesh(rule_policy: str, route: str, api: str = "v1") -> str:
    """Return a DestinationRule (subsets v1/v2 of host web in shop) and a VirtualService."""
    return f"""
apiVersion: networking.istio.io/{api}
kind: DestinationRule
metadata: {{name: web, namespace: shop}}
spec:
  host: web
  trafficPolicy: {rule_policy}
  subsets:
    - {{name: v1, labels: {{version: v1}}}}
    - {{name: v2, labels: {{version: v2}}}}
---
apiVersion: networking.istio.io/{api}
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
          weight: 80
        - destination: {host: web, subset: v2}
          weight: 20
"""
ONE = """
    - route:
        - destination: {host: web, subset: v1}
"""


def test_kubectl_pod_list_with_real_ips(impl: Implementation, tmp_path: Path) -> None:
    """A `kubectl get pods -o yaml` List: endpoints are the pods' IP:containerPort."""
    write(tmp_path / "pods.yaml", PODS)
    write(
        tmp_path / "mesh.yaml", mesh("{loadBalancer: {consistentHash: {useSourceIp: true}}}", SPLIT)
    )
    s = summary(impl, tmp_path, "-f", "mesh.yaml", "--endpoints", "pods.yaml", "--users", "50")
    assert set(s["endpoints"]) == {"10.1.0.1:8080", "10.1.0.2:8080", "10.1.0.3:8080"}
    assert s["key"] == "source-ip" and s["weights"] == {"v1": 80, "v2": 20}
    assert sum(s["endpoints"].values()) == s["requests"] == 1000


@pytest.mark.parametrize("api", ["v1alpha3", "v1beta1", "v1"])
def test_istio_versions_give_the_same_routing(
    impl: Implementation, tmp_path: Path, api: str
) -> None:
    """The three networking.istio.io versions route identically."""
    write(tmp_path / "pods.yaml", PODS)
    write(
        tmp_path / "mesh.yaml",
        mesh("{loadBalancer: {consistentHash: {httpHeaderName: x-u}}}", SPLIT, api),
    )
    s = summary(impl, tmp_path, "-f", ".", "--users", "40", "--seed", "3")
    base = json.loads((tmp_path / "summary.json").read_text())
    assert s == base and s["key"] == "header:x-u"
    (tmp_path / "summary.json").unlink()
    write(
        tmp_path / "mesh.yaml",
        mesh("{loadBalancer: {consistentHash: {httpHeaderName: x-u}}}", SPLIT, "v1"),
    )
    assert summary(impl, tmp_path, "-f", ".", "--users", "40", "--seed", "3") == s


def test_statefulset_service_named_target_port_and_maglev(
    impl: Implementation, tmp_path: Path
) -> None:
    """StatefulSet pods behind a Service (named targetPort) on a Maglev table."""
    write(
        tmp_path / "app.yaml",
        """
        apiVersion: apps/v1
        kind: StatefulSet
        metadata: {name: db, namespace: shop}
        spec:
          replicas: 4
          selector: {matchLabels: {app: db}}
          template:
            metadata: {labels: {app: db, version: v1}}
            spec: {containers: [{name: c, ports: [{name: pg, containerPort: 5432}]}]}
        ---
        apiVersion: v1
        kind: Service
        metadata: {name: web, namespace: shop}
        spec: {selector: {app: db}, ports: [{port: 80, targetPort: pg}]}
        """,
    )
    write(
        tmp_path / "mesh.yaml",
        mesh(
            "{loadBalancer: {consistentHash: {httpQueryParameterName: u, maglev: {tableSize: 251}}}}",
            ONE,
        ),
    )
    s = summary(impl, tmp_path, "-f", ".", "--users", "30", "--requests-per-user", "5")
    assert len(s["endpoints"]) == 4 and all(a.endswith(":5432") for a in s["endpoints"])
    assert s["key"] == "query:u" and s["subsets"] == {"v1": 150}
    assert s["stickiness"] == {"users": 30, "one_endpoint": 30, "one_subset": 30}


def test_generated_cookie_is_kept_by_the_user(impl: Implementation, tmp_path: Path) -> None:
    """httpCookie with a ttl: Envoy sets a cookie once, the user sends it back, and sticks."""
    write(tmp_path / "pods.yaml", PODS)
    policy = "{loadBalancer: {consistentHash: {httpCookie: {name: sid, path: /, ttl: 60s}}}}"
    write(tmp_path / "mesh.yaml", mesh(policy, ONE))
    s = summary(
        impl,
        tmp_path,
        "-f",
        ".",
        "--users",
        "10",
        "--requests-per-user",
        "4",
        "--decisions",
        "d.jsonl",
    )
    assert s["key"] == "none"  # default for a ttl cookie: let Envoy generate it
    assert s["stickiness"]["one_endpoint"] == 10
    rows = decisions(tmp_path / "d.jsonl")
    first = rows[:10]
    assert all(r["set_cookie"].startswith('sid="') for r in first)
    assert all(r["set_cookie"].endswith('"; Max-Age=60; Path=/; HttpOnly') for r in first)
    assert all("set_cookie" not in r for r in rows[10:])


def test_requests_jsonl_with_source_ip_and_query(impl: Implementation, tmp_path: Path) -> None:
    """--requests: per-line source_ip, headers as pairs, cookies and users."""
    write(tmp_path / "pods.yaml", PODS)
    write(
        tmp_path / "mesh.yaml", mesh("{loadBalancer: {consistentHash: {useSourceIp: true}}}", ONE)
    )
    lines = []
    for i in range(30):
        ip = f"203.0.113.{i % 6}"
        lines.append(
            json.dumps(
                {
                    "user": ip,
                    "source_ip": ip,
                    "headers": [["x-a", "1"], ["x-a", "2"]],
                    "cookies": {"c": "v"},
                    "path": f"/p?i={i}",
                }
            )
        )
    (tmp_path / "r.jsonl").write_text("\n".join(lines) + "\n\n")
    s = summary(impl, tmp_path, "-f", ".", "--requests", "r.jsonl")
    assert s["requests"] == 30 and s["no_hash"] == 0
    assert s["stickiness"] == {"users": 6, "one_endpoint": 6, "one_subset": 6}


def test_subset_overrides_and_simple_balancer(impl: Implementation, tmp_path: Path) -> None:
    """Per-destination keys (subset override) and a `simple` subset still route every request."""
    write(tmp_path / "pods.yaml", PODS)
    text = mesh("{loadBalancer: {consistentHash: {httpHeaderName: x-u}}}", SPLIT).replace(
        "- {name: v2, labels: {version: v2}}",
        "- {name: v2, labels: {version: v2}, trafficPolicy: {loadBalancer: {simple: RANDOM}}}",
    )
    write(tmp_path / "mesh.yaml", text)
    s = summary(impl, tmp_path, "-f", ".", "--users", "20", "--mode", "sticky")
    assert s["subsets"]["v1"] + s["subsets"]["v2"] == 400
    assert s["stickiness"]["one_subset"] == 20  # sticky mode keys the subset on x-u


def test_http_match_routes_pinned_users(impl: Implementation, tmp_path: Path) -> None:
    """A header match sends pinned users to v2; others take the weighted split; no match: unrouted."""
    write(tmp_path / "pods.yaml", PODS)
    route = """
    - name: pinned
      match: [{headers: {x-canary: {exact: "yes"}}}]
      route: [{destination: {host: web, subset: v2}}]
    - name: api
      match: [{uri: {prefix: /api}}]
      route: [{destination: {host: web, subset: v1}}]
"""
    write(
        tmp_path / "mesh.yaml",
        mesh("{loadBalancer: {consistentHash: {httpHeaderName: x-u}}}", route),
    )
    reqs = [
        {"user": "pin", "headers": {"x-canary": "yes", "x-u": "a"}},
        {"user": "api", "headers": {"x-u": "b"}, "path": "/api/v1?x=1"},
        {"user": "none", "headers": {"x-u": "c"}, "path": "/other"},
    ]
    (tmp_path / "r.jsonl").write_text("\n".join(json.dumps(r) for r in reqs))
    s = summary(impl, tmp_path, "-f", ".", "--requests", "r.jsonl", "--decisions", "d.jsonl")
    assert s["subsets"] == {"v2": 1, "v1": 1} and s["unrouted"] == 1
    rows = decisions(tmp_path / "d.jsonl")
    assert [(r["route"], r["subset"]) for r in rows] == [
        ("pinned", "v2"),
        ("api", "v1"),
        (None, None),
    ]


def test_stdin_deployments_and_namespace_default(impl: Implementation, tmp_path: Path) -> None:
    """`-f -` reads stdin; the seed's Deployments get synthetic pods in namespace default."""
    text = "\n---\n".join(
        (EXAMPLE / name).read_text()
        for name in ("deployments.yaml", "virtualservice.yaml", "destinationrule.yaml")
    )
    s = summary(impl, tmp_path, "-f", "-", "--users", "200", "--seed", "7", stdin=text)
    assert s == json.loads((GOLDEN / "cli_simulate_envoy.json").read_text())


def test_several_hosts_need_host_flag(impl: Implementation, tmp_path: Path) -> None:
    """Two VirtualService hosts: an error listing them, and --host picks one."""
    write(tmp_path / "pods.yaml", PODS)
    text = mesh("{loadBalancer: {consistentHash: {httpHeaderName: x-u}}}", ONE)
    write(
        tmp_path / "mesh.yaml",
        text.replace(
            "hosts: [web.shop.svc.cluster.local]", "hosts: [web, web-alias.shop.svc.cluster.local]"
        ),
    )
    proc = run_cli(impl, "simulate", "-f", ".", cwd=tmp_path)
    assert proc.returncode == 2
    assert "choose one with --host" in error_line(proc)
    s = summary(
        impl, tmp_path, "-f", ".", "--host", "web-alias.shop.svc.cluster.local", "--users", "5"
    )
    assert s["host"] == "web-alias.shop.svc.cluster.local"


def test_key_mismatch_note(impl: Implementation, tmp_path: Path) -> None:
    """A --key that no policy reads gives a note, and every request is hashless (random)."""
    proc = run_cli(
        impl,
        "simulate",
        "-f",
        EXAMPLE,
        "--users",
        "5",
        "--key",
        "cookie:session",
        "--json",
        "s.json",
        "-q",
        cwd=tmp_path,
    )
    assert proc.returncode == 0
    assert "note: no hash policy uses cookie:session" in proc.stderr
    s = json.loads((tmp_path / "s.json").read_text())
    assert s["no_hash"] == 100


@pytest.mark.parametrize("mode", ["envoy", "sticky"])
def test_per_destination_policies_fold_as_istio_emits(
    impl: Implementation, tmp_path: Path, mode: str
) -> None:
    """Subsets with different keys: envoy hashes Istio's list [a, b]; sticky the same distinct list."""
    write(tmp_path / "pods.yaml", PODS)
    text = mesh("{loadBalancer: {consistentHash: {httpHeaderName: a}}}", SPLIT).replace(
        "- {name: v2, labels: {version: v2}}",
        "- {name: v2, labels: {version: v2}, trafficPolicy: {loadBalancer: {consistentHash: {httpHeaderName: b}}}}",
    )
    write(tmp_path / "mesh.yaml", text)
    reqs = [{"headers": {"a": f"x{i}", "b": f"y{i % 3}"}} for i in range(12)]
    (tmp_path / "r.jsonl").write_text("\n".join(json.dumps(r) for r in reqs))
    summary(
        impl, tmp_path, "-f", ".", "--requests", "r.jsonl", "--mode", mode, "--decisions", "d.jsonl"
    )
    policy = impl.HashPolicy(impl.Header("a"), impl.Header("b"))
    for row, req in zip(decisions(tmp_path / "d.jsonl"), reqs, strict=True):
        assert row["hash"] == policy.hash(impl.Request(headers=req["headers"]))


def test_subset_table_override_uses_its_own_table(impl: Implementation, tmp_path: Path) -> None:
    """A subset-level maglev table: its endpoint is that table's lookup of the route hash."""
    write(tmp_path / "pods.yaml", PODS)
    text = mesh("{loadBalancer: {consistentHash: {httpHeaderName: a}}}", SPLIT).replace(
        "- {name: v1, labels: {version: v1}}",
        "- {name: v1, labels: {version: v1}, trafficPolicy: {loadBalancer: "
        "{consistentHash: {httpHeaderName: a, maglev: {tableSize: 7}}}}}",
    )
    write(tmp_path / "mesh.yaml", text)
    reqs = [{"headers": {"a": f"user-{i}"}} for i in range(40)]
    (tmp_path / "r.jsonl").write_text("\n".join(json.dumps(r) for r in reqs))
    summary(impl, tmp_path, "-f", ".", "--requests", "r.jsonl", "--decisions", "d.jsonl")
    v1 = impl.Maglev([Host("10.1.0.1:8080"), Host("10.1.0.2:8080")], table_size=7)
    v2 = impl.RingHash([Host("10.1.0.3:8080")])
    rows = decisions(tmp_path / "d.jsonl")
    assert {r["subset"] for r in rows} == {"v1", "v2"}
    for row in rows:
        table = v1 if row["subset"] == "v1" else v2
        assert row["endpoint"] == table.lookup(row["hash"]).address


@pytest.mark.parametrize(
    ("counts", "kw", "says", "never"),
    [
        # a split drawn per request: the cause, and the next step
        ((100, 2000, 12, 0), {"one_group": 12, "split": True, "hash_driven": False},
         ["12.0% of users stay on one endpoint", "at random for each request"], ["takes all"]),
        # sticky: the subset follows the hash
        ((100, 2000, 100, 0), {"one_group": 100, "split": True, "hash_driven": True},
         ["is a function of the route hash"], ["at random"]),
        # one subset per route, but users follow several routes
        ((100, 2000, 0, 0), {"one_group": 0, "split": False, "hash_driven": False},
         ["users follow routes to different subsets"], ["route hash picks"]),
        # nothing hashed: nobody is pinned, and the hash is not said to pick
        ((100, 2000, 0, 2000), {"one_group": 100, "split": False, "hash_driven": False},
         ["No request had a hash key"], ["route hash picks"]),
        # a few requests without a key
        ((100, 2000, 90, 200), {"one_group": 100, "split": False, "hash_driven": False},
         ["the route hash picks the endpoint", "10.0% of requests had no hash key"], []),
    ],
)  # fmt: skip
def test_finding_says_what_happened_and_nothing_false(
    counts: tuple[int, int, int, int], kw: dict[str, Any], says: list[str], never: list[str]
) -> None:
    from types import SimpleNamespace

    from hashlb.cli._replay import finding, wrap

    users, requests, one_endpoint, no_hash = counts
    result = SimpleNamespace(
        users=users, requests=requests, one_endpoint=one_endpoint, no_hash=no_hash
    )
    text = finding(result, group="subset", next_step="Try --mode sticky.", **kw)
    for phrase in says:
        assert phrase in text
    for phrase in never:
        assert phrase not in text
    assert all(len(line) <= 100 for line in wrap("hashlb simulate: " + text, 100))
