"""``hashlb simulate --envoy-config``: the simulation from Envoy configuration, end to end."""

from __future__ import annotations

import doctest
import json
import random
import sys
from pathlib import Path
from typing import Any

import pytest

from hashlb import Cluster, Cookie, HashPolicy, Header, Host
from hashlb.cli._replay import to_policy_request
from hashlb.cli.traffic import KeySpec, synthetic
from hashlb.envoy import load

from ._cli import ROOT, error_line, run_cli, run_shared
from ._envoy import COMPARE_DUMP, PROXYCONFIG_DUMP, cluster_status, deep, load_fixture
from ._impl import Implementation

EXAMPLE_DUMP = ROOT / "examples" / "envoy-config" / "dump.json"
TUTORIAL = ROOT / "docs" / "tutorial" / "simulate-from-a-config-dump.rst"
HTTPBIN = "inbound-vip|8000|http|httpbin.default.svc.cluster.local"
RATINGS = "inbound-vip|9080|http|ratings.default.svc.cluster.local"
V1 = "outbound|80|v1|cart.shop.svc.cluster.local"
V2 = "outbound|80|v2|cart.shop.svc.cluster.local"


def _configs(doc: dict[str, Any], kind: str) -> dict[str, Any]:
    (found,) = [c for c in doc["configs"] if c["@type"].endswith("." + kind)]
    return found  # type: ignore[no-any-return]


def _endpoint(ip: str, port: int, weight: int = 1) -> dict[str, Any]:
    address = {"socket_address": {"address": ip, "port_value": port}}
    return {
        "endpoint": {"address": address},
        "health_status": "HEALTHY",
        "load_balancing_weight": weight,
    }


def ring_hash_copy() -> dict[str, Any]:
    """The proxy-config fixture with ring hash on httpbin, 8 endpoints and an ``x-user`` policy."""
    doc = load_fixture(PROXYCONFIG_DUMP)
    cluster = _configs(doc, "ClustersConfigDump")["dynamic_active_clusters"][0]["cluster"]
    cluster["lb_policy"] = "RING_HASH"
    cluster["ring_hash_lb_config"] = {"minimum_ring_size": "2048", "maximum_ring_size": "4096"}
    _configs(doc, "EndpointsConfigDump")["dynamic_endpoint_configs"].append(
        {
            "endpoint_config": {
                "@type": "type.googleapis.com/envoy.config.endpoint.v3.ClusterLoadAssignment",
                "cluster_name": HTTPBIN,
                "endpoints": [
                    {
                        "lb_endpoints": [
                            _endpoint(f"10.1.0.{i}", 8080, 1 + i % 3) for i in range(1, 9)
                        ]
                    }
                ],
            }
        }
    )
    listener = _configs(doc, "ListenersConfigDump")["dynamic_listeners"][0]
    hcm = listener["active_state"]["listener"]["filter_chains"][0]["filters"][0]
    action = hcm["typed_config"]["route_config"]["virtual_hosts"][0]["routes"][0]["route"]
    assert action["cluster"] == HTTPBIN
    action["hash_policy"] = [{"header": {"header_name": "x-user"}}]
    return doc


def maglev_copy() -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """The compare fixture with Maglev on ratings and a cookie policy, and its istioctl endpoints."""
    doc = load_fixture(COMPARE_DUMP)
    cluster = _configs(doc, "ClustersConfigDump")["dynamic_active_clusters"][0]["cluster"]
    cluster["lb_policy"] = "MAGLEV"
    cluster["maglev_lb_config"] = {"table_size": "1021"}
    routes = _configs(doc, "RoutesConfigDump")["dynamic_route_configs"][0]["route_config"]
    action = routes["virtual_hosts"][0]["routes"][0]["route"]
    action["cluster"] = RATINGS
    action["hash_policy"] = [{"cookie": {"name": "session"}}]
    statuses = [
        cluster_status(RATINGS, [(f"10.2.0.{i}", 9080, "HEALTHY", 1, {}) for i in range(1, 6)])
    ]
    return doc, statuses


def _dump(path: Path, doc: object) -> Path:
    path.write_text(json.dumps(doc), encoding="utf-8")
    return path


def _decisions(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]


def cart(impl: Implementation, *args: str | Path) -> Any:
    """Run ``hashlb simulate --envoy-config EXAMPLE_DUMP --route cart ARGS`` on *impl*."""
    return run_cli(impl, "simulate", "--envoy-config", EXAMPLE_DUMP, "--route", "cart", *args)


def _ok(proc: Any) -> None:
    assert proc.returncode == 0, proc.stderr
    assert "Traceback" not in proc.stderr


# -- the shared fixtures, as shipped: nothing hashes --------------------------------


def _blocks(lines: list[str]) -> list[str]:
    """The listing's routes: each block starts at a line indented by exactly two spaces."""
    blocks: list[list[str]] = []
    for line in lines:
        if line.startswith("  ") and line[2:3] != " ":
            blocks.append([])
        if blocks:
            blocks[-1].append(line)
    return ["\n".join(b) for b in blocks]


@pytest.mark.parametrize(
    "fixture", [PROXYCONFIG_DUMP, COMPARE_DUMP], ids=["proxyconfig", "compare"]
)
def test_shipped_fixture_lists_its_routes_and_exits_2(
    impl: Implementation, tmp_path: Path, fixture: Path
) -> None:
    out = tmp_path / "out.json"
    decisions = tmp_path / "d.jsonl"
    proc = run_cli(
        impl, "simulate", "--envoy-config", fixture, "--json", out, "--decisions", decisions
    )
    assert proc.returncode == 2 and proc.stdout == ""
    lines = proc.stderr.splitlines()
    assert lines[-1].startswith(f"hashlb simulate: error: {fixture}: no route hashes (")
    assert "a route needs a hash_policy and a RING_HASH or MAGLEV cluster" in lines[-1]
    assert lines[0] == f"hashlb simulate: {fixture}: the routes (none hashes):"
    config = load(fixture)
    listed = _blocks(lines[1:-1])
    assert len(listed) == len(config.routes)
    for route, block in zip(config.routes, listed, strict=True):
        assert f"--route {route.path}" in block and f"virtual host {route.virtual_host}," in block
        assert "(ROUND_ROBIN)" in block or "(missing)" in block
    assert not out.exists() and not decisions.exists()
    assert list(tmp_path.iterdir()) == []


# -- consistent hashing added to copies of the fixtures -------------------------------


def test_ring_hash_header_copy_decisions_equal_pick_and_a_direct_cluster(
    impl: Implementation, tmp_path: Path
) -> None:
    dump = _dump(tmp_path / "dump.json", ring_hash_copy())
    out, decisions = tmp_path / "out.json", tmp_path / "d.jsonl"
    proc = run_cli(
        impl,
        "simulate",
        "--envoy-config",
        dump,
        "--users",
        "200",
        "--requests-per-user",
        "3",
        "--json",
        out,
        "--decisions",
        decisions,
    )
    _ok(proc)
    assert "hash policy: header:x-user\n" in proc.stdout
    assert "stickiness: 200 users; one endpoint: 200 (100.0%); one cluster: 200" in proc.stdout
    lines = _decisions(decisions)
    assert len(lines) == 600
    config = load(dump)
    (route,) = config.hashing_routes()
    hosts = [Host(f"10.1.0.{i}:8080", 1 + i % 3) for i in range(1, 9)]
    direct = Cluster(hosts, balancer="ring_hash", min_ring_size=2048, max_ring_size=4096)
    policy = HashPolicy(Header("x-user"))
    reqs = synthetic(200, 3, KeySpec("header", "x-user"), 0)
    rng = random.Random(0)
    for line, req in zip(lines, reqs, strict=True):
        request = to_policy_request(req, None)
        pick = config.pick(route, request, rng=rng)
        assert line["hashed"] is True and line["hash"] == pick.hash == policy.hash(request)
        assert line["cluster"] == pick.cluster == HTTPBIN
        assert pick.host is not None and line["endpoint"] == pick.host.address
        assert line["endpoint"] == direct.lookup(line["hash"]).address
        assert line["route"] == "default" and line["user"] == req.user
    summary = json.loads(out.read_text(encoding="utf-8"))
    counts = summary["clusters"][HTTPBIN]["endpoints"]
    assert sorted(counts) == sorted(h.address for h in hosts)
    assert sum(counts.values()) == 600 == summary["requests"]


def test_maglev_cookie_copy_with_istioctl_endpoints_file(
    impl: Implementation, tmp_path: Path
) -> None:
    """Two --envoy-config files: the dump and `istioctl proxy-config endpoint -o json`."""
    doc, statuses = maglev_copy()
    dump = _dump(tmp_path / "dump.json", doc)
    eps = _dump(tmp_path / "endpoints.json", statuses)
    decisions = tmp_path / "d.jsonl"
    proc = run_cli(
        impl,
        "simulate",
        "--envoy-config",
        dump,
        "--envoy-config",
        eps,
        "--cluster",
        RATINGS,
        "--users",
        "100",
        "--requests-per-user",
        "2",
        "--decisions",
        decisions,
    )
    _ok(proc)
    assert "key cookie:session" in proc.stdout and "MAGLEV(table_size=1021)" in proc.stdout
    direct = Cluster(
        [Host(f"10.2.0.{i}:9080") for i in range(1, 6)], balancer="maglev", table_size=1021
    )
    policy = HashPolicy(Cookie("session"))
    reqs = list(synthetic(100, 2, KeySpec("cookie", "session"), 0))
    lines = _decisions(decisions)
    assert len(lines) == len(reqs) == 200
    for line, req in zip(lines, reqs, strict=True):
        h = policy.hash(to_policy_request(req, None))
        assert line["hash"] == h and line["hashed"] and line["cluster"] == RATINGS
        assert line["endpoint"] == direct.lookup(h).address


def _istioctl_files(tmp_path: Path, doc: dict[str, Any]) -> list[Path]:
    """Split a dump with EDS into the three `istioctl proxy-config ... -o json` lists."""
    clusters = [
        c["cluster"] for c in _configs(doc, "ClustersConfigDump")["dynamic_active_clusters"]
    ]
    routes = [r["route_config"] for r in _configs(doc, "RoutesConfigDump")["dynamic_route_configs"]]
    statuses = []
    for e in _configs(doc, "EndpointsConfigDump")["dynamic_endpoint_configs"]:
        cla = e["endpoint_config"]
        hosts = [
            (
                ep["endpoint"]["address"]["socket_address"]["address"],
                ep["endpoint"]["address"]["socket_address"]["port_value"],
                ep["health_status"],
                ep["load_balancing_weight"],
                group["locality"],
            )
            for group in cla["endpoints"]
            for ep in group["lb_endpoints"]
        ]
        statuses.append(cluster_status(cla["cluster_name"], hosts))
    out = []
    for name, value in (("cluster", clusters), ("route", routes), ("endpoint", statuses)):
        out.append(_dump(tmp_path / f"{name}.json", value))
    return out


def test_istioctl_three_files_give_the_dump_decisions(impl: Implementation, tmp_path: Path) -> None:
    doc = json.loads(EXAMPLE_DUMP.read_text(encoding="utf-8"))
    files = _istioctl_files(tmp_path, doc)
    common = ("--route", "cart", "--users", "150", "--requests-per-user", "4", "-q")
    a, b = tmp_path / "a.jsonl", tmp_path / "b.jsonl"
    _ok(run_cli(impl, "simulate", "--envoy-config", EXAMPLE_DUMP, *common, "--decisions", a))
    args = [x for f in files for x in ("--envoy-config", f)]
    proc = run_cli(impl, "simulate", *args, *common, "--decisions", b)
    _ok(proc)
    assert proc.stdout == ""
    got = _decisions(b)
    assert got == _decisions(a) and len(got) == 600
    assert {d["cluster"] for d in got} == {V1, V2}


def test_weighted_route_decisions_replay_with_pick(impl: Implementation, tmp_path: Path) -> None:
    """Weighted clusters: the cluster is Envoy's random draw, replayed with Random(seed)."""
    decisions = tmp_path / "d.jsonl"
    proc = cart(
        impl,
        "--users",
        "300",
        "--requests-per-user",
        "5",
        "--seed",
        "7",
        "--decisions",
        decisions,
    )
    _ok(proc)
    config = load(EXAMPLE_DUMP)
    route = config.route("cart")
    rng = random.Random(7)
    lines = _decisions(decisions)
    clusters = {
        name: Cluster(
            [Host(h.address) for h in config.cluster(name).hosts],
            balancer="ring_hash",
            min_ring_size=1024,
        )
        for name in (V1, V2)
    }
    reqs = synthetic(300, 5, KeySpec("header", "x-user"), 7)
    for line, req in zip(lines, reqs, strict=True):
        pick = config.pick(route, to_policy_request(req, None), rng=rng)
        assert pick.host is not None
        assert (line["cluster"], line["endpoint"], line["hash"]) == (
            pick.cluster,
            pick.host.address,
            pick.hash,
        )
        assert line["endpoint"] == clusters[line["cluster"]].lookup(line["hash"]).address
    seen = {d["cluster"] for d in lines}
    assert seen == {V1, V2}


def test_requests_file_and_json_shape(impl: Implementation, tmp_path: Path) -> None:
    reqs = tmp_path / "r.jsonl"
    reqs.write_text(
        "".join(
            json.dumps({"user": f"u{i % 7}", "headers": {"x-user": f"u{i % 7}"}}) + "\n"
            for i in range(40)
        )
        + json.dumps({"user": "anon"})
        + "\n",
        encoding="utf-8",
    )
    out = tmp_path / "s.json"
    proc = cart(
        impl,
        "--requests",
        reqs,
        "--json",
        out,
    )
    _ok(proc)
    assert f"key from {reqs};" in " ".join(proc.stdout.split())  # the line may wrap
    assert "no hash: 1 requests had no hash key" in proc.stdout
    s = json.loads(out.read_text(encoding="utf-8"))
    assert set(s) == {
        "schema",
        "source",
        "scope",
        "seed",
        "key",
        "requests",
        "routes",
        "clusters",
        "unrouted",
        "no_hash",
        "no_host",
        "requests_to_unhealthy",
        "stickiness",
    }
    assert s["schema"] == 1 and s["source"] == [str(EXAMPLE_DUMP)] and s["scope"] == "route 'cart'"
    assert (s["requests"], s["unrouted"], s["no_hash"], s["no_host"]) == (41, 0, 1, 0)
    (route,) = s["routes"]
    assert route["name"] == "cart" and route["weights"] == {V1: 90, V2: 10}
    assert route["hash_policy"] == "header:x-user + header:x-user" and route["requests"] == 41
    assert list(s["clusters"]) == [V1, V2]
    assert s["clusters"][V1]["lb_policy"] == "RING_HASH"
    assert set(s["clusters"][V1]) == {
        "lb_policy",
        "requests",
        "no_host",
        "requests_to_unhealthy",
        "endpoints",
    }
    assert sum(c["requests"] for c in s["clusters"].values()) == 41
    assert sum(sum(c["endpoints"].values()) for c in s["clusters"].values()) == 41
    assert s["stickiness"]["users"] == 8
    assert set(s["stickiness"]) == {"users", "one_endpoint", "one_cluster"}


def test_virtual_host_matches_routes_and_counts_the_rest_unrouted(
    impl: Implementation, tmp_path: Path
) -> None:
    doc = json.loads(EXAMPLE_DUMP.read_text(encoding="utf-8"))
    rc = _configs(doc, "RoutesConfigDump")["dynamic_route_configs"][0]["route_config"]
    vh = rc["virtual_hosts"][0]
    plain = deep(vh["routes"][0])
    plain["name"] = "static"
    plain["match"] = {"prefix": "/static"}
    plain["route"] = {"cluster": "outbound|80||catalog.shop.svc.cluster.local"}
    vh["routes"][0]["match"] = {"prefix": "/api"}
    vh["routes"].insert(0, plain)
    dump = _dump(tmp_path / "dump.json", doc)
    reqs = tmp_path / "r.jsonl"
    paths = ["/api/cart", "/static/x.css", "/other", "/api"]
    reqs.write_text(
        "".join(
            json.dumps({"user": f"u{i}", "path": p, "headers": {"x-user": f"u{i}"}}) + "\n"
            for i, p in enumerate(paths)
        ),
        encoding="utf-8",
    )
    decisions = tmp_path / "d.jsonl"
    proc = run_cli(
        impl,
        "simulate",
        "--envoy-config",
        dump,
        "--virtual-host",
        vh["name"],
        "--requests",
        reqs,
        "--decisions",
        decisions,
    )
    _ok(proc)
    got = [(d["route"], d["cluster"] is not None) for d in _decisions(decisions)]
    assert got == [("cart", True), (None, False), (None, False), ("cart", True)]
    assert "unrouted: 2 requests matched no route that hashes" in proc.stdout


def test_stdin_and_plot(impl: Implementation, tmp_path: Path) -> None:
    pytest.importorskip("matplotlib")
    png = tmp_path / "p.png"
    proc = run_cli(
        impl,
        "simulate",
        "--envoy-config",
        "-",
        "--route",
        "cart",
        "--users",
        "50",
        "--plot",
        png,
        stdin=EXAMPLE_DUMP.read_text(encoding="utf-8"),
    )
    _ok(proc)
    assert (
        proc.stdout.startswith("hashlb simulate: ") and "\n<stdin> -> route 'cart'\n" in proc.stdout
    )
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


# -- bad input: one line naming FILE and the JSON path, exit 2, nothing written -----


def _bad_not_json(doc: dict[str, Any]) -> str:
    return json.dumps(doc)[:-40]


def _bad_missing_cluster(doc: dict[str, Any]) -> dict[str, Any]:
    rc = _configs(doc, "RoutesConfigDump")["dynamic_route_configs"][0]["route_config"]
    rc["virtual_hosts"][0]["routes"][0]["route"]["weighted_clusters"]["clusters"][1]["name"] = (
        "outbound|80|v3|cart.shop.svc.cluster.local"
    )
    return doc


def _bad_lb_policy(doc: dict[str, Any]) -> dict[str, Any]:
    _configs(doc, "ClustersConfigDump")["dynamic_active_clusters"][2]["cluster"]["lb_policy"] = (
        "STICKY_RING"
    )
    return doc


def _bad_weight(doc: dict[str, Any]) -> dict[str, Any]:
    eds = _configs(doc, "EndpointsConfigDump")["dynamic_endpoint_configs"][1]
    eds["endpoint_config"]["endpoints"][0]["lb_endpoints"][1]["load_balancing_weight"] = -3
    return doc


def _bad_route_weight(doc: dict[str, Any]) -> dict[str, Any]:
    rc = _configs(doc, "RoutesConfigDump")["dynamic_route_configs"][0]["route_config"]
    rc["virtual_hosts"][0]["routes"][0]["route"]["weighted_clusters"]["clusters"][0]["weight"] = -1
    return doc


BAD = {
    "not-json": (_bad_not_json, ": not valid JSON: "),
    "missing-cluster": (
        _bad_missing_cluster,
        ": configs[3].dynamic_route_configs[0].route_config.virtual_hosts[0].routes[0]"
        ".route.weighted_clusters.clusters[1].name: cluster "
        "'outbound|80|v3|cart.shop.svc.cluster.local' is not in the configuration",
    ),
    "lb-policy": (
        _bad_lb_policy,
        ": configs[1].dynamic_active_clusters[2].cluster.lb_policy: unknown value 'STICKY_RING'",
    ),
    "endpoint-weight": (
        _bad_weight,
        ": configs[2].dynamic_endpoint_configs[1].endpoint_config.endpoints[0].lb_endpoints[1]"
        ".load_balancing_weight: must not be negative, got -3",
    ),
    "route-weight": (
        _bad_route_weight,
        ": configs[3].dynamic_route_configs[0].route_config.virtual_hosts[0].routes[0]"
        ".route.weighted_clusters.clusters[0].weight: must not be negative, got -1",
    ),
}


@pytest.mark.parametrize("case", list(BAD))
def test_bad_dump_one_line_exit_2_nothing_written(
    impl: Implementation, tmp_path: Path, case: str
) -> None:
    make, expected = BAD[case]
    doc = json.loads(EXAMPLE_DUMP.read_text(encoding="utf-8"))
    made = make(doc)
    dump = tmp_path / "dump.json"
    dump.write_text(made if isinstance(made, str) else json.dumps(made))
    out, decisions = tmp_path / "out.json", tmp_path / "d.jsonl"
    args = ("--route", "cart", "--json", out, "--decisions", decisions)
    proc = run_shared(
        impl, list(BAD).index(case), "simulate", "--envoy-config", dump, *args, cwd=tmp_path
    )
    assert proc.returncode == 2, proc.stderr
    line = error_line(proc)
    assert line.startswith(f"hashlb simulate: error: {dump}: "), line
    assert expected in line, line
    assert proc.stdout == ""
    assert sorted(p.name for p in tmp_path.iterdir()) == ["dump.json"]


USAGE = {
    "route-without-envoy": (
        ("-f", "examples/istio-canary", "--route", "cart"),
        "--route applies to --envoy-config",
    ),
    "endpoints-with-envoy": (
        ("--envoy-config", EXAMPLE_DUMP, "--endpoints", "p.yaml"),
        "--endpoints applies to -f",
    ),
    "sticky-with-envoy": (
        ("--envoy-config", EXAMPLE_DUMP, "--mode", "sticky"),
        "--mode sticky applies to -f",
    ),
    "unknown-route": (
        ("--envoy-config", EXAMPLE_DUMP, "--route", "nope"),
        "--route: no route named 'nope'",
    ),
    "unknown-cluster": (
        ("--envoy-config", EXAMPLE_DUMP, "--cluster", "nope"),
        "--cluster: no cluster 'nope'",
    ),
    "cluster-not-hashed": (
        (
            "--envoy-config",
            EXAMPLE_DUMP,
            "--cluster",
            "outbound|80||catalog.shop.svc.cluster.local",
        ),
        "no route that hashes sends to cluster",
    ),
    "route-not-hashing": (
        (
            "--envoy-config",
            EXAMPLE_DUMP,
            "--route",
            "configs[3].dynamic_route_configs[0].route_config.virtual_hosts[1].routes[0]",
        ),
        "cluster.lb_policy: LEAST_REQUEST does not hash",
    ),
    "unknown-virtual-host": (
        ("--envoy-config", EXAMPLE_DUMP, "--virtual-host", "x"),
        "--virtual-host: no virtual host 'x'",
    ),
    "two-stdin": (
        ("--envoy-config", "-", "--envoy-config", "-"),
        "'-' (standard input) can be given once",
    ),
    "stdin-twice": (("--envoy-config", "-", "--requests", "-"), "both read standard input"),
    "missing-file": (("--envoy-config", "nowhere.json"), "nowhere.json: cannot read"),
}


@pytest.mark.parametrize("case", list(USAGE))
def test_bad_options_one_line_exit_2(impl: Implementation, tmp_path: Path, case: str) -> None:
    args, expected = USAGE[case]
    out = tmp_path / "out.json"
    proc = run_shared(impl, list(USAGE).index(case), "simulate", *args, "--json", out, cwd=ROOT)
    assert proc.returncode == 2, proc.stderr
    assert expected in error_line(proc), proc.stderr
    assert proc.stdout == "" and not out.exists()


def test_several_routes_are_listed_and_exit_2(impl: Implementation, tmp_path: Path) -> None:
    proc = run_cli(impl, "simulate", "--envoy-config", EXAMPLE_DUMP, "--json", tmp_path / "o")
    assert proc.returncode == 2 and proc.stdout == "" and not (tmp_path / "o").exists()
    lines = proc.stderr.splitlines()
    assert lines[0] == f"hashlb simulate: {EXAMPLE_DUMP}: 2 routes hash:"
    assert all(len(line) <= 100 for line in lines[1:-1])  # the listing fits 100 columns
    blocks = [i for i, line in enumerate(lines) if line.startswith("  ") and line[2] != " "]
    cart, default = (lines[i] for i in blocks)
    assert cart.startswith("  cart: virtual host cart.shop.svc.cluster.local:80")
    assert default.startswith("  default: virtual host checkout.shop.svc.cluster.local:8080")
    assert "hash policy header:x-user + header:x-user" in cart
    assert "cookie:checkout-session" in default
    routes = [line.split()[-1] for line in lines if line.startswith("    --route ")]
    assert len(routes) == 2
    assert lines[-1].endswith(
        "choose one with --route NAME (a route name, or the JSON path "
        "listed), --virtual-host NAME or --cluster NAME"
    )
    # the listed path selects the route
    path = routes[1]
    proc = run_cli(
        impl, "simulate", "--envoy-config", EXAMPLE_DUMP, "--route", path, "--users", "10"
    )
    _ok(proc)
    assert "MAGLEV(table_size=65537)" in proc.stdout


def test_file_and_envoy_config_are_exclusive(impl: Implementation) -> None:
    proc = run_cli(impl, "simulate", "-f", "x", "--envoy-config", EXAMPLE_DUMP)
    assert proc.returncode == 2 and proc.stderr.startswith("usage: hashlb")
    assert "not allowed with argument" in proc.stderr


# -- the tutorial's examples ---------------------------------------------------------


def test_tutorial_examples(impl: Implementation, monkeypatch: pytest.MonkeyPatch) -> None:
    """Every ``>>>`` example of the tutorial, run through the CLI on *impl*'s twin."""

    def hashlb(*args: str) -> int:
        proc = run_cli(impl, *args, cwd=ROOT)
        sys.stdout.write(proc.stderr + proc.stdout)
        return proc.returncode

    text = TUTORIAL.read_text(encoding="utf-8")
    test = doctest.DocTestParser().get_doctest(
        text, {"hashlb": hashlb}, "tutorial", str(TUTORIAL), 0
    )
    assert len(test.examples) >= 3
    monkeypatch.chdir(ROOT)
    runner = doctest.DocTestRunner(optionflags=doctest.NORMALIZE_WHITESPACE)
    runner.run(test)
    assert runner.failures == 0


# -- a YAML bootstrap, health, --key and a bad request line ---------------------------

BOOTSTRAP = """
static_resources:
  listeners:
    - name: web
      address: {socket_address: {address: 0.0.0.0, port_value: 8080}}
      filter_chains:
        - filters:
            - name: envoy.filters.network.http_connection_manager
              typed_config:
                "@type": type.googleapis.com/envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager
                stat_prefix: web
                route_config:
                  name: local
                  virtual_hosts:
                    - name: web
                      domains: ["*"]
                      routes:
                        - name: api
                          match: {prefix: /}
                          route:
                            cluster: web
                            hash_policy:
                              - query_parameter: {name: tenant}
  clusters:
    - name: web
      type: STATIC
      lb_policy: MAGLEV
      maglev_lb_config: {table_size: 131}
      common_lb_config: {healthy_panic_threshold: {value: 80}}
      load_assignment:
        cluster_name: web
        endpoints:
          - lb_endpoints:
              - endpoint: {address: {socket_address: {address: 10.0.0.1, port_value: 80}}}
              - endpoint: {address: {socket_address: {address: 10.0.0.2, port_value: 80}}}
                health_status: UNHEALTHY
              - endpoint: {address: {socket_address: {address: 10.0.0.3, port_value: 80}}}
"""


def test_yaml_bootstrap_in_panic_reports_unhealthy_hosts(
    impl: Implementation, tmp_path: Path
) -> None:
    """A static bootstrap in YAML; 2 of 3 hosts healthy is under the 80% threshold: panic."""
    pytest.importorskip("yaml")
    envoy = tmp_path / "envoy.yaml"
    envoy.write_text(BOOTSTRAP, encoding="utf-8")
    decisions = tmp_path / "d.jsonl"
    proc = run_cli(
        impl,
        "simulate",
        "--envoy-config",
        envoy,
        "--users",
        "60",
        "--requests-per-user",
        "2",
        "--decisions",
        decisions,
    )
    _ok(proc)
    assert "key query:tenant" in proc.stdout and "hash policy: query:tenant\n" in proc.stdout
    lines = _decisions(decisions)
    sick = [d for d in lines if d["endpoint"] == "10.0.0.2:80"]
    assert sick and all(d["health"] == "unhealthy" for d in sick)
    assert all("health" not in d for d in lines if d["endpoint"] != "10.0.0.2:80")
    assert f"panic: {len(sick)} requests reached endpoints that are not healthy" in proc.stdout
    assert "unhealthy" in proc.stdout.split("endpoint ", 1)[1]  # the health column
    direct = Cluster(
        [Host("10.0.0.1:80"), Host("10.0.0.2:80", health="unhealthy"), Host("10.0.0.3:80")],
        balancer="maglev",
        table_size=131,
        healthy_panic_threshold=80,
    )
    for d in lines:
        assert d["hashed"] and d["endpoint"] == direct.lookup(d["hash"]).address


def test_key_override_gives_no_hash(impl: Implementation, tmp_path: Path) -> None:
    """--key a header the policy does not read: no hash, Envoy hashes a random value."""
    decisions = tmp_path / "d.jsonl"
    proc = cart(
        impl,
        "--key",
        "header:x-other",
        "--users",
        "20",
        "--requests-per-user",
        "2",
        "--decisions",
        decisions,
    )
    _ok(proc)
    assert "no hash: 40 requests had no hash key" in proc.stdout
    assert all(not d["hashed"] for d in _decisions(decisions))


def test_bad_request_line_writes_nothing(impl: Implementation, tmp_path: Path) -> None:
    reqs = tmp_path / "r.jsonl"
    good = [json.dumps({"headers": {"x-user": f"u{i}"}}) for i in range(30)]
    reqs.write_text("\n".join([*good, "{not json", *good]) + "\n", encoding="utf-8")
    out, decisions = tmp_path / "o.json", tmp_path / "d.jsonl"
    proc = cart(
        impl,
        "--requests",
        reqs,
        "--json",
        out,
        "--decisions",
        decisions,
    )
    assert proc.returncode == 2
    assert error_line(proc).startswith(f"hashlb simulate: error: {reqs}:31: malformed JSON")
    assert not out.exists() and not decisions.exists()


def test_virtual_host_in_two_route_configurations_is_listed(impl: Implementation) -> None:
    """The compare fixture has 'inbound|http|9080' in two route configurations: listed, exit 2."""
    proc = run_cli(
        impl, "simulate", "--envoy-config", COMPARE_DUMP, "--virtual-host", "inbound|http|9080"
    )
    assert proc.returncode == 2 and proc.stdout == ""
    lines = proc.stderr.splitlines()
    assert len(_blocks(lines[1:-1])) == 2
    assert lines[0].endswith(": 2 route configurations have a virtual host 'inbound|http|9080':")
    paths = [r.path for r in load(COMPARE_DUMP).routes if r.virtual_host == "inbound|http|9080"]
    assert len(paths) == 2 and all(f"--route {p}\n" in proc.stderr for p in paths)
    assert lines[-1].startswith("hashlb simulate: error: --virtual-host: 2 route configurations")


def test_virtual_host_without_a_hashing_route(impl: Implementation) -> None:
    proc = run_cli(
        impl,
        "simulate",
        "--envoy-config",
        EXAMPLE_DUMP,
        "--virtual-host",
        "catalog.shop.svc.cluster.local:80",
    )
    assert proc.returncode == 2
    assert error_line(proc) == (
        "hashlb simulate: error: --virtual-host: no route of the virtual host "
        "'catalog.shop.svc.cluster.local:80' hashes: nothing to simulate"
    )


def test_source_ip_policy_keys_synthetic_users_by_address(
    impl: Implementation, tmp_path: Path
) -> None:
    """A ``connection_properties.source_ip`` policy: users send their own source IP."""
    doc = json.loads(EXAMPLE_DUMP.read_text(encoding="utf-8"))
    rc = _configs(doc, "RoutesConfigDump")["dynamic_route_configs"][0]["route_config"]
    rc["virtual_hosts"][0]["routes"][0]["route"]["hash_policy"] = [
        {"connection_properties": {"source_ip": True}}
    ]
    dump = _dump(tmp_path / "dump.json", doc)
    decisions = tmp_path / "d.jsonl"
    proc = run_cli(
        impl,
        "simulate",
        "--envoy-config",
        dump,
        "--route",
        "cart",
        "--users",
        "40",
        "--requests-per-user",
        "3",
        "--decisions",
        decisions,
    )
    _ok(proc)
    assert "key source-ip" in proc.stdout and "hash policy: source-ip\n" in proc.stdout
    config = load(dump)
    policy = config.route("cart").hash_policy
    assert policy is not None
    reqs = synthetic(40, 3, KeySpec("source-ip"), 0)
    for line, req in zip(_decisions(decisions), reqs, strict=True):
        assert line["hashed"] and line["hash"] == policy.hash(to_policy_request(req, None))
