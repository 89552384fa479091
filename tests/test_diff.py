"""``hashlb.diff`` and ``hashlb diff``: who moves under a change, against the exact minimum.

The 0 -> 1% canary remap of issue #15 (8 stable + 3 canary pods, Maglev, a
header key) is checked against an independent computation: the header's
xxh64, Istio's extra hash-policy copy folded by hand (``rotl1(h) ^ h``) and a
direct :class:`hashlb.Maglev` lookup of each user.
"""

from __future__ import annotations

import importlib.util
import json
import re
from pathlib import Path
from typing import Any

import pytest

from hashlb import Host
from hashlb.diff import DiffReport, diff, diff_steps, tv_distance

from ._cli import EXAMPLE, error_line, run_cli, write
from ._impl import Implementation

MASK = 2**64 - 1


def _mesh(tmp: Path, stable: int, canary: int, weights: tuple[int, int], lb: str) -> Path:
    """Write a stable/canary mesh: Deployments, a Service, a rule hashing x-user, a split."""
    for name, replicas in (("stable", stable), ("canary", canary)):
        write(
            tmp / f"{name}.yaml",
            f"""
            apiVersion: apps/v1
            kind: Deployment
            metadata: {{name: web-{name}}}
            spec:
              replicas: {replicas}
              selector: {{matchLabels: {{app: web, version: {name}}}}}
              template:
                metadata: {{labels: {{app: web, version: {name}}}}}
                spec: {{containers: [{{name: web, ports: [{{containerPort: 8080}}]}}]}}
            """,
        )
    write(
        tmp / "rest.yaml",
        f"""
        apiVersion: v1
        kind: Service
        metadata: {{name: web}}
        spec: {{selector: {{app: web}}, ports: [{{port: 80, targetPort: 8080}}]}}
        ---
        apiVersion: networking.istio.io/v1
        kind: DestinationRule
        metadata: {{name: web}}
        spec:
          host: web
          trafficPolicy:
            loadBalancer: {{consistentHash: {{httpHeaderName: x-user, {lb}}}}}
          subsets:
          - {{name: stable, labels: {{version: stable}}}}
          - {{name: canary, labels: {{version: canary}}}}
        ---
        apiVersion: networking.istio.io/v1
        kind: VirtualService
        metadata: {{name: web}}
        spec:
          hosts: [web]
          http:
          - route:
            - {{destination: {{host: web, subset: stable}}, weight: {weights[0]}}}
            - {{destination: {{host: web, subset: canary}}, weight: {weights[1]}}}
        """,
    )
    return tmp


MAGLEV = "maglev: {tableSize: 65537}"
RING = "ringHash: {minimumRingSize: 1024}"


# --------------------------------------------------------------------------
# The library.


def test_diff_counts_and_minimum() -> None:
    """Six users on two pods spread over three: four move, two had to (the TV distance)."""
    report = diff(
        lambda r: ("s", f"p{r % 2}"), lambda r: ("s", f"p{r % 3}"), ((u, u) for u in range(6))
    )
    assert (report.users, report.requests) == (6, 6)
    assert report.moved == pytest.approx(4 / 6)
    assert report.subset_changed == 0.0
    assert report.pod_changed == pytest.approx(4 / 6)
    assert report.minimum == pytest.approx(2 / 6)
    assert report.excess == pytest.approx(2 / 6)
    assert report.matrix[(("s", "p1"), ("s", "p2"))] == 1
    doc = report.as_json()
    assert {"users", "moved", "subset_changed", "pod_changed", "minimum", "excess"} <= set(doc)
    assert sum(m["requests"] for m in doc["matrix"]) == 6


def test_diff_weighs_requests_per_user() -> None:
    """A user with four requests, one of which moved, counts as a quarter of a user."""
    traffic = [("u", 0), ("u", 1), ("u", 2), ("u", 3), ("v", 0)]
    report = diff(lambda r: ("s", "a"), lambda r: ("s", "b" if r == 3 else "a"), traffic)
    assert report.users == 2
    assert report.requests_moved == 1
    assert report.moved == pytest.approx(0.25 / 2)
    assert report.minimum == pytest.approx(0.25 / 2)


def test_subset_change_and_matrix() -> None:
    report = diff(lambda r: ("safe", "a"), lambda r: ("risky", "c"), [(1, 1), (2, 2)])
    assert report.subset_changed == 1.0
    assert report.pod_changed == 0.0
    assert report.subset_matrix() == {("safe", "risky"): 2}


def test_tv_distance_is_the_weight_change() -> None:
    assert tv_distance({"a": 1.0}, {"a": 0.99, "b": 0.01}) == pytest.approx(0.01)
    assert tv_distance({"a": 0.5, "b": 0.5}, {"a": 0.5, "b": 0.5}) == 0.0


def test_configured_minimum_and_steps() -> None:
    routes = [lambda r: ("s", "a"), lambda r: ("s", "b" if r else "a"), lambda r: ("s", "b")]
    shares = ({("s", "a"): 1.0}, {("s", "a"): 0.5, ("s", "b"): 0.5})
    reports = diff_steps(routes, [(0, 0), (1, 1)], configured=[shares, None])
    assert len(reports) == 2
    assert reports[0].configured_minimum == pytest.approx(0.5)
    assert reports[1].configured_minimum is None
    assert reports[0].cumulative is not None and reports[1].cumulative is not None
    assert reports[0].cumulative.several_pods == pytest.approx(0.5)
    assert reports[1].cumulative.several_pods == 1.0
    assert reports[1].cumulative.several_subsets == 0.0


def test_diff_steps_rejects_one_route_and_too_many_users() -> None:
    with pytest.raises(ValueError, match="at least two"):
        diff_steps([lambda r: ("s", "a")], [])
    with pytest.raises(ValueError, match="more than 1 distinct users"):
        diff_steps([lambda r: ("s", "a")] * 2, [(1, 1), (2, 2)], max_users=1)


# --------------------------------------------------------------------------
# The 0 -> 1% canary remap, against an independent computation.


def _users(n: int) -> list[str]:
    from hashlb.cli.traffic import KeySpec, synthetic

    return [r.header("x-user")[0] for r in synthetic(n, 1, KeySpec("header", "x-user"), 0)]


def _independent(impl: Implementation, tmp_path: Path, users: list[str]) -> dict[str, Any]:
    """Per user: the stable pod with one policy copy (A) and with two (B), by hand."""
    from hashlb.istio import load_mesh

    scenario = load_mesh([str(tmp_path)]).scenario()
    (stable,) = [d for d in scenario.destinations if d.name == "stable"]
    pods = {e.address: e.pod.name for e in stable.endpoints}
    table = impl.Maglev([Host(a) for a in pods], table_size=65537)
    out = {}
    for token in users:
        h = impl.xxh64(token.encode())
        folded = (((h << 1) | (h >> 63)) & MASK) ^ h  # Istio's second copy of the policy
        out[token] = (pods[table.lookup(h).address], pods[table.lookup(folded).address])
    return out


def test_canary_start_remap_matches_the_fold_rule(impl: Implementation, tmp_path: Path) -> None:
    """8+3 pods, Maglev: starting a 1% canary moves ~7/8 of users to another stable pod.

    Every user the change keeps in the stable subset is checked one by one
    against the fold rule applied by hand and a direct Maglev lookup.
    """
    from hashlb.cli.diff import scenario_route
    from hashlb.cli.traffic import KeySpec, synthetic
    from hashlb.istio import load_mesh

    n = 2000
    base = _mesh(tmp_path / "a", 8, 3, (100, 0), MAGLEV)
    canary = _mesh(tmp_path / "b", 8, 3, (99, 1), MAGLEV)
    expected = _independent(impl, base, _users(n))
    seen: dict[str, list[Any]] = {}

    def recording(route: Any, k: int) -> Any:
        def r(req: Any) -> Any:
            p = route(req)
            seen.setdefault(req.header("x-user")[0], [None, None])[k] = p
            return p

        return r

    a = scenario_route(load_mesh([str(base)]).scenario(), "envoy", 0)
    b = scenario_route(load_mesh([str(canary)]).scenario(), "envoy", 0)
    traffic = ((r.user, r) for r in synthetic(n, 1, KeySpec("header", "x-user"), 0))
    report = diff(recording(a, 0), recording(b, 1), traffic)
    by_hand_moved = 0
    for token, (pa, pb) in seen.items():
        assert pa == ("stable", expected[token][0])
        if pb[0] == "stable":
            assert pb == ("stable", expected[token][1])
            by_hand_moved += expected[token][0] != expected[token][1]
    assert report.pod_changed == pytest.approx(by_hand_moved / n)
    assert report.pod_changed > 0.8  # the 87.6%: about 1 - 1/8
    assert report.minimum < 0.03  # only the ~1% sent to the canary had to move
    # hashlb diff on the same meshes, on this twin, reports the same figures
    proc = run_cli(
        impl,
        "diff",
        "-a",
        base,
        "-b",
        canary,
        "--users",
        n,
        "--requests-per-user",
        1,
        "--key",
        "header:x-user",
        "--json",
        "-",
    )
    assert proc.returncode == 0, proc.stderr
    doc = json.loads(proc.stdout)
    assert doc["users"] == n
    assert doc["pod_changed"] == pytest.approx(by_hand_moved / n)
    assert doc["moved"] == pytest.approx(report.moved)
    assert doc["minimum"] == pytest.approx(report.minimum)
    assert doc["configured_minimum"] == pytest.approx(0.01)


def test_canary_start_report_names_the_cause(impl: Implementation, tmp_path: Path) -> None:
    """The first line says who moved, who had to, the policy-copy cause and sticky mode."""
    base = _mesh(tmp_path, 8, 3, (100, 0), MAGLEV)
    proc = run_cli(
        impl,
        "diff",
        "-f",
        base,
        "--set-weight",
        "canary=1",
        "--users",
        2000,
        "--requests-per-user",
        1,
        "--mode",
        "both",
    )
    assert proc.returncode == 0, proc.stderr
    first = proc.stdout.replace("\n  ", " ").splitlines()[0]  # the finding, unwrapped
    assert first.startswith("Starting 'canary' moves 8")
    assert "would have to move. Cause: Istio adds one hash policy per weighted destination" in first
    sticky = re.search(r"Sticky mode moves (\d+\.\d)%\.$", first)
    assert sticky is not None and 0.3 <= float(sticky.group(1)) <= 2.0  # ~1%: the minimum
    assert max(len(line) for line in proc.stdout.splitlines()) <= 100


# --------------------------------------------------------------------------
# Base + change on the example, both modes.


def _json(impl: Implementation, *args: Any) -> Any:
    proc = run_cli(impl, "diff", *args, "--json", "-")
    assert proc.returncode == 0, proc.stderr
    return json.loads(proc.stdout)


def test_mode_both_nests_by_mode(impl: Implementation) -> None:
    doc = _json(
        impl,
        "-f",
        EXAMPLE,
        "--set-weight",
        "risky=20",
        "--users",
        500,
        "--requests-per-user",
        2,
        "--mode",
        "both",
    )
    assert set(doc) == {"envoy", "sticky"}
    for mode in doc.values():
        assert mode["users"] == 500
        for k in ("moved", "subset_changed", "pod_changed", "minimum", "excess"):
            assert 0.0 <= mode[k] <= 1.0
        assert mode["moved"] >= mode["minimum"]
    assert doc["sticky"]["excess"] == 0.0  # two subsets, canary last: sticky is minimal


def test_remove_pod_ring_hash_sticky_is_minimal(impl: Implementation) -> None:
    doc = _json(
        impl,
        "-f",
        EXAMPLE,
        "--remove-pod",
        "staff-service-0",
        "--users",
        1000,
        "--requests-per-user",
        1,
        "--mode",
        "sticky",
    )
    assert doc["minimum"] > 0.2  # the removed pod held ~45% of the users
    assert doc["excess"] == 0.0
    assert doc["subset_changed"] == 0.0


def test_add_pods_and_unhealthy(impl: Implementation) -> None:
    add = ["-f", EXAMPLE, "--add-pods", 2, "--to", "safe", "--users", 1000]
    add += ["--requests-per-user", 1, "--mode", "sticky"]
    doc = _json(impl, *add)
    assert doc["configured_minimum"] == pytest.approx(0.9 * (1 - 2 / 4))
    assert abs(doc["minimum"] - doc["configured_minimum"]) < 0.05
    assert doc["moved"] >= doc["minimum"]
    # Envoy's ring gives the 2 old pods 256 entries each instead of 512: some users
    # move between them too, and the report says why
    proc = run_cli(impl, "diff", *add)
    assert "Envoy's ring spreads minimumRingSize=1024" in proc.stdout.replace("\n  ", " ")
    sick = _json(
        impl,
        "-f",
        EXAMPLE,
        "--unhealthy",
        "staff-service-1",
        "--users",
        1000,
        "--requests-per-user",
        1,
        "--mode",
        "sticky",
    )
    assert sick["configured_minimum"] == pytest.approx(0.45)
    assert sick["excess"] == 0.0


def test_balancer_and_ring_size_causes(impl: Implementation) -> None:
    proc = run_cli(impl, "diff", "-f", EXAMPLE, "--min-ring-size", 4096, "--users", 300)
    assert proc.returncode == 0, proc.stderr
    assert "ring size changed (1024 -> 4096)" in proc.stdout.replace("\n  ", " ")
    proc = run_cli(impl, "diff", "-f", EXAMPLE, "--balancer", "maglev", "--users", 300)
    assert proc.returncode == 0, proc.stderr
    assert "balancer changed (ring_hash -> maglev)" in proc.stdout.replace("\n  ", " ")


def test_ramp_steps_and_cumulative(impl: Implementation) -> None:
    doc = _json(
        impl,
        "-f",
        EXAMPLE,
        "--ramp",
        "risky=0,1,10,100",
        "--users",
        500,
        "--requests-per-user",
        1,
        "--mode",
        "sticky",
    )
    steps = doc["steps"]
    assert [s["to"] for s in steps] == ["risky=1", "risky=10", "risky=100"]
    cumulative = [s["several_subsets_so_far"] for s in steps]
    assert cumulative == sorted(cumulative) and cumulative[-1] == 1.0
    for s in steps:
        assert s["excess"] == 0.0  # sticky: each step moves only the users it must


@pytest.mark.parametrize(
    ("args", "words"),
    [
        (["-a", "x"], "-a and -b go together"),
        (["-f", "E"], "-f needs a change"),
        (["-f", "E", "--set-weight", "nosuch=3"], "no http route lists subset 'nosuch'"),
        (["-f", "E", "--remove-pod", "nosuch"], "no pod named 'nosuch'"),
        (["-f", "E", "--add-pods", "2"], "--add-pods N and --to SUBSET go together"),
        (["-f", "E", "--set-weight", "risky=500"], "add up to more than"),
        (
            ["-f", "E", "--ramp", "risky=1,2", "--remove-pod", "x"],
            "--ramp and --rollout are changes",
        ),
    ],
)
def test_bad_input_is_one_line_exit_2(impl: Implementation, args: list[str], words: str) -> None:
    proc = run_cli(impl, "diff", *[str(EXAMPLE) if a == "E" else a for a in args])
    assert proc.returncode == 2
    assert words in error_line(proc)


def test_report_type() -> None:
    assert isinstance(diff(lambda r: (None, None), lambda r: (None, None), [(1, 1)]), DiffReport)


# --------------------------------------------------------------------------
# Envoy configuration A and B.

DUMP = EXAMPLE.parent / "envoy-config" / "dump.json"


def _cart_route(doc: Any) -> Any:
    for rc in doc["configs"][3]["dynamic_route_configs"]:
        for vh in rc["route_config"]["virtual_hosts"]:
            for r in vh["routes"]:
                if r.get("name") == "cart":
                    return r["route"]
    raise AssertionError("no cart route in the example dump")


def test_envoy_config_a_b_aborting_the_canary(impl: Implementation, tmp_path: Path) -> None:
    """Dropping v2 from the weighted clusters (one policy entry left) remaps v1's users too."""
    doc = json.loads(DUMP.read_text(encoding="utf-8"))
    b = json.loads(DUMP.read_text(encoding="utf-8"))
    route = _cart_route(b)
    route["weighted_clusters"]["clusters"] = route["weighted_clusters"]["clusters"][:1]
    route["weighted_clusters"]["clusters"][0]["weight"] = 100
    route["hash_policy"] = route["hash_policy"][:1]
    (tmp_path / "a.json").write_text(json.dumps(doc), encoding="utf-8")
    (tmp_path / "b.json").write_text(json.dumps(b), encoding="utf-8")
    args = ["--envoy-config-a", tmp_path / "a.json", "--envoy-config-b", tmp_path / "b.json"]
    args += ["--route", "cart", "--users", 1000, "--requests-per-user", 1]
    proc = run_cli(impl, "diff", *args)
    assert proc.returncode == 0, proc.stderr
    first = proc.stdout.replace("\n  ", " ").splitlines()[0]
    assert first.startswith("Going from A to B moves ")
    assert "hash policy changed (2 -> 1 entries)" in first
    out = _json(impl, *args)
    assert 0.05 <= out["minimum"] <= 0.15  # v2's ~10% must move
    assert out["moved"] > out["minimum"] + 0.3  # the policy change remaps v1's users too
    same = _json(
        impl,
        "--envoy-config-a",
        tmp_path / "a.json",
        "--envoy-config-b",
        tmp_path / "a.json",
        "--route",
        "cart",
        "--users",
        300,
    )
    assert same["moved"] == 0.0 and same["minimum"] == 0.0


def test_envoy_config_refuses_sticky(impl: Implementation) -> None:
    proc = run_cli(
        impl, "diff", "--envoy-config-a", DUMP, "--envoy-config-b", DUMP, "--mode", "sticky"
    )
    assert proc.returncode == 2
    assert "--mode sticky applies to Istio YAML" in error_line(proc)


def test_a_b_identical_moves_nobody(impl: Implementation) -> None:
    doc = _json(impl, "-a", EXAMPLE, "-b", EXAMPLE, "--users", 300, "--mode", "both")
    for mode in ("envoy", "sticky"):
        assert doc[mode]["moved"] == 0.0
        assert doc[mode]["minimum"] == 0.0


def test_plot_draws_a_png(impl: Implementation, tmp_path: Path) -> None:
    """--plot writes a PNG of who moved per mode and step (matplotlib: the plot extra)."""
    png = tmp_path / "moved.png"
    args = ["-f", EXAMPLE, "--ramp", "risky=0,1,10", "--users", 200, "--mode", "both"]
    proc = run_cli(impl, "diff", *args, "--plot", png, "-q")
    if importlib.util.find_spec("matplotlib") is None:
        assert proc.returncode == 2
        assert 'needs matplotlib: pip install "hashlb[plot]"' in error_line(proc)
    else:
        assert proc.returncode == 0, proc.stderr
        assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
