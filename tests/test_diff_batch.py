"""The batch diff: ``hashlb.diff.diff_many``, ``DiffReport.to_arrow`` and ``hashlb diff``'s
batch path, each against the request-by-request computation it replaces.

* ``hashlb diff`` gives the same figures (``--json``) with and without
  ``--no-batch`` for ramps, changes and both modes, on both twins.
* :func:`hashlb.diff.diff_many` over routers gives what :func:`hashlb.diff.diff`
  gives over the same routers' ``route_hash``, one request at a time, in both
  modes (envoy mode's random values included: same streams, same order).
* :meth:`DiffReport.to_arrow` holds the matrix and figures of :meth:`DiffReport.as_json`.
* Envoy >= 1.36 ``use_hash_policy`` on a plain route (one hash policy) is
  sticky for two subsets at a fixed total, and is not for three: the
  ``value % total`` layout moves users of a subset whose weight grew.
"""

from __future__ import annotations

import json
import math
import random
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from hashlb import HashPolicy, Header, Host, Router, xxh64_many
from hashlb.diff import DiffReport, diff, diff_many, diff_steps

from ._cli import EXAMPLE, ROOT, run_cli
from ._impl import Implementation

ADVICE = ROOT / "examples" / "canary-without-remapping"


def _close(a: Any, b: Any, path: str = "") -> None:
    """Assert two JSON documents are equal, floats to 1e-12 (sums taken in another order)."""
    if isinstance(a, float) or isinstance(b, float):
        assert isinstance(a, int | float) and isinstance(b, int | float), path
        assert math.isclose(a, b, rel_tol=1e-12, abs_tol=1e-12), (path, a, b)
    elif isinstance(a, dict):
        assert isinstance(b, dict) and set(a) == set(b), path
        for k in a:
            _close(a[k], b[k], f"{path}.{k}")
    elif isinstance(a, list):
        assert isinstance(b, list) and len(a) == len(b), path
        key = json.dumps  # the matrix order ties on equal counts: compare as sets of cells
        if a and isinstance(a[0], dict) and "from" in a[0]:
            a = sorted(a, key=lambda c: key([c["from"], c["to"]]))
            b = sorted(b, key=lambda c: key([c["from"], c["to"]]))
        for i, (x, y) in enumerate(zip(a, b, strict=True)):
            _close(x, y, f"{path}[{i}]")
    else:
        assert a == b, (path, a, b)


def _json(impl: Implementation, *args: Any) -> Any:
    proc = run_cli(impl, "diff", *args, "--json", "-", "-q")
    assert proc.returncode == 0, proc.stderr
    return json.loads(proc.stdout)


CASES = [
    ["-f", EXAMPLE, "--ramp", "risky=0,1,10,50,100", "--users", 400, "--requests-per-user", 3],
    ["-f", EXAMPLE, "--set-weight", "risky=30", "--users", 300, "--mode", "both"],
    ["-f", EXAMPLE, "--add-pods", 2, "--to", "safe", "--users", 300, "--balancer", "maglev"],
    ["-f", EXAMPLE, "--remove-pod", "staff-service-1", "--users", 300, "--mode", "sticky"],
    [
        "-f",
        EXAMPLE / "variants" / "source-ip",
        "-f",
        EXAMPLE / "deployments.yaml",
        "--set-weight",
        "risky-group=50",
        "--users",
        300,
    ],
    ["-f", EXAMPLE, "--rollout", "safe", "--max-surge", 1, "--max-unavailable", 0, "--users", 300],
]


@pytest.mark.parametrize("args", CASES, ids=["ramp", "weight", "add", "remove", "ip", "rollout"])
def test_batch_path_gives_the_request_by_request_figures(
    impl: Implementation, args: list[Any]
) -> None:
    _close(_json(impl, *args), _json(impl, *args, "--no-batch"))


def _engines(paths: list[Path], weights: list[int], mode: str) -> list[Any]:
    from hashlb.cli._diffchange import set_weights
    from hashlb.cli.diff import scenario_route
    from hashlb.istio import load_mesh

    out = []
    for w in weights:
        mesh = load_mesh([str(p) for p in paths])
        set_weights(mesh, [("risky", w)])
        out.append(scenario_route(mesh.scenario(), mode, 0).engines)  # type: ignore[attr-defined]
    return out


@pytest.mark.parametrize("mode", ["envoy", "sticky"])
def test_batch_path_is_taken_where_it_applies(impl: Implementation, mode: str) -> None:
    """The batch path routes the example's ramp; a key the route does not hash falls back."""
    from hashlb.cli._diffroute import batch_paths
    from hashlb.cli.traffic import KeySpec

    engines = _engines([EXAMPLE], [0, 1, 50], mode)
    got = batch_paths(engines, 500, 2, KeySpec("header", "x-myval"), 0)
    assert got is not None
    paths, names, users = got
    assert len(paths) == 3 and all(len(p) == 1000 for p in paths)
    assert users is not None and users.tolist() == list(range(500)) * 2
    assert {n[0] for n in names} <= {"safe", "risky"}
    # the route hashes x-myval: synthetic users sending another header are not routed in batch
    assert batch_paths(engines, 500, 1, KeySpec("header", "x-other"), 0) is None
    assert batch_paths(engines, 500, 1, KeySpec("none"), 0) is None


# --------------------------------------------------------------------------
# diff_many against diff over the same routers.


def _hosts() -> list[Host]:
    return [
        Host(f"10.0.{i // 100}.{i % 100}:80", labels={"v": "stable" if i < 8 else "canary"})
        for i in range(11)
    ]


SUBSETS = {"stable": {"v": "stable"}, "canary": {"v": "canary"}}


def _router(impl: Implementation, weights: dict[str, int], mode: str, **kw: Any) -> Router:
    picker = impl.module("subset").WeightedSubsetPicker(weights, mode=mode, seed=3)
    return Router(
        _hosts(),
        subsets=SUBSETS,
        weights=picker,
        policy=HashPolicy(Header("x-user")),
        balancer=impl.module("maglev").Maglev,
        balancer_options={"table_size": 251},
        mode=mode,
        seed=3,
        **kw,
    )


def _one_by_one(routers: list[Router], keys: list[int]) -> list[DiffReport]:
    from hashlb.router import istio_route_hash

    def route(r: Router) -> Any:
        def place(h: int) -> tuple[str, str | None]:
            got = r.route_hash(istio_route_hash(h, r.policy_copies))
            return (got.subset, got.host.address if got.host is not None else None)

        return place

    return diff_steps([route(r) for r in routers], [(i, k) for i, k in enumerate(keys)])


@pytest.mark.parametrize(
    ("mode", "kw"),
    [("sticky", {}), ("envoy", {}), ("envoy", {"use_hash_policy": True, "policy_copies": 1})],
    ids=["sticky", "envoy-istio", "envoy-use-hash-policy"],
)
def test_diff_many_matches_routing_one_request_at_a_time(
    impl: Implementation, mode: str, kw: dict[str, Any]
) -> None:
    keys = xxh64_many([f"user-{i}" for i in range(3000)])
    steps = [
        {"stable": 100, "canary": 0},
        {"stable": 90, "canary": 10},
        {"stable": 50, "canary": 50},
    ]
    batch = diff_many([_router(impl, w, mode, **kw) for w in steps], keys)
    single = _one_by_one([_router(impl, w, mode, **kw) for w in steps], keys.tolist())
    for x, y in zip(batch, single, strict=True):
        _close(x.as_json(), y.as_json())


def test_diff_many_users_group_requests(impl: Implementation) -> None:
    """With *users*, a user's requests share its weight, as diff_steps counts them."""
    keys = xxh64_many([f"user-{i % 500}" for i in range(2000)])
    users = np.arange(2000) % 500
    a = _router(impl, {"stable": 90, "canary": 10}, "envoy")
    b = _router(impl, {"stable": 50, "canary": 50}, "envoy")
    (batch,) = diff_many([a, b], keys, users=users)
    assert batch.users == 500 and batch.requests == 2000
    a2 = _router(impl, {"stable": 90, "canary": 10}, "envoy")
    b2 = _router(impl, {"stable": 50, "canary": 50}, "envoy")
    from hashlb.router import istio_route_hash

    def route(r: Router) -> Any:
        def place(h: int) -> tuple[str, str | None]:
            got = r.route_hash(istio_route_hash(h, r.policy_copies))
            return (got.subset, got.host.address if got.host is not None else None)

        return place

    (single,) = diff_steps(
        [route(a2), route(b2)], [(int(u), int(k)) for u, k in zip(users, keys, strict=True)]
    )
    _close(batch.as_json(), single.as_json())
    assert batch.cumulative is not None and single.cumulative is not None
    assert batch.cumulative == single.cumulative


def test_diff_many_refuses_what_it_cannot_fold(impl: Implementation) -> None:
    keys = xxh64_many(["a", "b"])
    two = Router(
        _hosts(),
        subsets=SUBSETS,
        weights={"stable": 1, "canary": 1},
        policy=HashPolicy(Header("x-user"), Header("x-other")),
    )
    seeded = Router(
        _hosts(), subsets=SUBSETS, weights={"stable": 1, "canary": 1},
        policy=HashPolicy(Header("x-user")), key_seed=7,
    )  # fmt: skip
    plain = _router(impl, {"stable": 1, "canary": 1}, "sticky")
    with pytest.raises(ValueError, match="one-method hash policy"):
        diff_many([two, plain], keys)
    with pytest.raises(ValueError, match="unseeded"):
        diff_many([seeded, plain], keys)
    with pytest.raises(ValueError, match="at least two routers"):
        diff_many([plain], keys)


def test_terminal_copies_fold_once(impl: Implementation) -> None:
    """A terminal first copy stops Envoy's fold: the route hash is the key hash."""
    from hashlb._diffbatch import effective_copies, fold_copies
    from hashlb.router import istio_route_hash

    r = Router(
        _hosts(),
        subsets=SUBSETS,
        weights={"stable": 50, "canary": 50},
        policy=HashPolicy(Header("x-user", terminal=True)),
        mode="envoy",
    )
    assert r.policy_copies == 2 and effective_copies(r) == 1
    h = [1, 2**63 + 5, 2**64 - 1]
    assert fold_copies(h, 3).tolist() == [istio_route_hash(x, 3) for x in h]


def test_random_values_are_the_routers_draws_in_order() -> None:
    from hashlb._diffbatch import random_values

    one, many = random.Random(99), random.Random(99)
    assert random_values(one, 1000).tolist() == [many.getrandbits(64) for _ in range(1000)]
    assert one.getrandbits(64) == many.getrandbits(64)  # the streams stay in step
    assert random_values(one, 0).tolist() == []


def test_synthetic_tokens_are_unchanged_by_the_wide_draw() -> None:
    from hashlb.cli.traffic import KeySpec, _tokens, synthetic, synthetic_keys

    rng = random.Random(11)
    offset = rng.getrandbits(22)
    expected = [rng.getrandbits(64) for _ in range(300)]
    got_offset, tokens = _tokens(300, 11)
    assert got_offset == offset and list(tokens) == expected
    for kind, name in (("header", "x-u"), ("query", "u"), ("cookie", "c"), ("source-ip", "")):
        key = KeySpec(kind, name)
        values = synthetic_keys(300, key, 11)
        assert values is not None
        reqs = list(synthetic(300, 1, key, 11))
        for v, req in zip(values, reqs, strict=True):
            text = v.decode() if isinstance(v, bytes) else v
            if kind == "source-ip":
                assert req.remote_address is not None
                assert req.remote_address.rpartition(":")[0] == text
            else:
                assert text in (req.path + "".join(x for kv in req.headers for x in kv))
    assert synthetic_keys(3, KeySpec("none"), 0) is None


def test_diff_arrays_checks_its_arrays() -> None:
    from hashlb._diffbatch import diff_arrays

    names = [("s", "p"), ("s", "q")]
    with pytest.raises(ValueError, match="at least two"):
        diff_arrays([np.zeros(3, dtype=np.int64)], names)
    with pytest.raises(ValueError, match="one placement per request"):
        diff_arrays([np.zeros(3, dtype=np.int64), np.zeros(2, dtype=np.int64)], names)
    with pytest.raises(ValueError, match="users has 2 items"):
        diff_arrays([np.zeros(3, dtype=np.int64)] * 2, names, users=[1, 2])


# --------------------------------------------------------------------------
# to_arrow.


def test_to_arrow_holds_the_matrix_and_the_figures() -> None:
    def a(req: int) -> tuple[str | None, str | None]:
        return ("stable", f"pod-{req % 3}") if req % 7 else (None, None)

    def b(req: int) -> tuple[str | None, str | None]:
        return ("canary" if req % 5 == 0 else "stable", f"pod-{req % 4}")

    report = diff(a, b, [(u % 40, u) for u in range(200)])
    table = report.to_arrow()
    doc = report.as_json()
    assert table.column_names == [
        "from_subset",
        "from_endpoint",
        "to_subset",
        "to_endpoint",
        "moved",
        "subset_changed",
        "users",
        "requests",
        "share",
    ]
    rows = table.to_pylist()
    assert [
        ((r["from_subset"], r["from_endpoint"]), (r["to_subset"], r["to_endpoint"]), r["requests"])
        for r in rows
    ] == [((c["from"]["subset"], c["from"]["pod"]), (c["to"]["subset"], c["to"]["pod"]), c["requests"]) for c in doc["matrix"]]  # fmt: skip
    assert sum(r["requests"] for r in rows) == report.requests == 200
    assert math.isclose(sum(r["users"] for r in rows), report.users)
    assert math.isclose(sum(r["share"] for r in rows if r["moved"]), report.moved)
    assert math.isclose(sum(r["share"] for r in rows if r["subset_changed"]), report.subset_changed)
    figures = json.loads(table.schema.metadata[b"hashlb.diff"])
    assert figures == {k: v for k, v in doc.items() if k != "matrix"}
    assert figures["excess"] == report.excess


def test_to_arrow_names_the_extra_without_pyarrow(monkeypatch: pytest.MonkeyPatch) -> None:
    report = diff(lambda r: ("s", "p"), lambda r: ("s", "q"), [(1, 1)])
    monkeypatch.setitem(sys.modules, "pyarrow", None)
    with pytest.raises(ImportError, match=r"hashlb\[columns\]"):
        report.to_arrow()


# --------------------------------------------------------------------------
# Where use_hash_policy on a plain route is sticky, and where it is not.


def _plain(impl: Implementation, weights: dict[str, int]) -> Router:
    """A hand-written Envoy route: one hash policy, use_hash_policy, Maglev subsets."""
    names = list(weights)
    hosts = [
        Host(f"10.9.{j}.{i}:80", labels={"v": n}) for j, n in enumerate(names) for i in range(3)
    ]
    picker = impl.module("subset").WeightedSubsetPicker(weights, mode="envoy", seed=0)
    return Router(
        hosts,
        subsets={n: {"v": n} for n in names},
        weights=picker,
        policy=HashPolicy(Header("x-user")),
        balancer=impl.module("maglev").Maglev,
        balancer_options={"table_size": 251},
        mode="envoy",
        use_hash_policy=True,
        policy_copies=1,
    )


KEYS = xxh64_many([f"u{i}" for i in range(5000)])


@pytest.mark.parametrize("canary", [0, 1, 5, 10, 25, 50, 99])
def test_use_hash_policy_two_subsets_fixed_total_is_sticky(
    impl: Implementation, canary: int
) -> None:
    before = _plain(impl, {"stable": 100, "canary": 0})
    after = _plain(impl, {"stable": 100 - canary, "canary": canary})
    (report,) = diff_many([before, after], KEYS)
    assert report.excess == 0.0 and report.pod_changed == 0.0
    # and the other way round (aborting): the same users come back, nobody else moves
    (back,) = diff_many([after, before], KEYS)
    assert back.excess == 0.0 and back.moved == report.moved


def test_use_hash_policy_canary_first_is_sticky_too(impl: Implementation) -> None:
    """With two subsets only their one boundary moves, whichever is listed first."""
    (report,) = diff_many(
        [_plain(impl, {"canary": 1, "stable": 99}), _plain(impl, {"canary": 20, "stable": 80})],
        KEYS,
    )
    assert report.excess == 0.0


def test_use_hash_policy_changed_total_is_not_sticky(impl: Implementation) -> None:
    """90/10 -> 160/40 (80% / 20%): value % 200 is not value % 100, and users cross both ways."""
    (report,) = diff_many(
        [_plain(impl, {"stable": 90, "canary": 10}), _plain(impl, {"stable": 160, "canary": 40})],
        KEYS,
    )
    h = KEYS
    before = (h % np.uint64(100)) < 90
    after = (h % np.uint64(200)) < 160
    assert math.isclose(report.moved, float(np.mean(before != after)), abs_tol=1e-12)
    assert report.moved > report.minimum + 0.05  # about 20% move where 10% must


def test_use_hash_policy_three_subsets_moves_users_of_a_subset_that_grew(
    impl: Implementation,
) -> None:
    """80/10/10 -> 60/20/20: canary's interval [80, 90) becomes [60, 80)."""
    a = _plain(impl, {"stable": 80, "canary": 10, "canary-b": 10})
    b = _plain(impl, {"stable": 60, "canary": 20, "canary-b": 20})
    (report,) = diff_many([a, b], KEYS)
    u = KEYS % np.uint64(100)
    # independent: each user's interval under A and under B
    was_canary = (u >= 80) & (u < 90)
    to_b = (u >= 80) & (u < 100)
    grew_but_left = float(np.mean(was_canary & to_b))
    assert report.excess > 0.05
    assert math.isclose(report.excess, grew_but_left, abs_tol=1e-12)
    moved_from_canary = sum(
        n for (pa, pb), n in report.matrix.items() if pa[0] == "canary" and pb[0] != "canary"
    )
    assert moved_from_canary == int(np.sum(was_canary))


# --------------------------------------------------------------------------
# The advice's configurations, as the how-to runs them.


def test_istio_rule_on_the_stable_subset_only_keeps_stable_users(
    impl: Implementation, tmp_path: Path
) -> None:
    base = ["-f", ADVICE / "deployments.yaml", "-f", ADVICE / "virtualservice.yaml"]
    args = ["--set-weight", "canary=1", "--users", 4000, "--requests-per-user", 1]
    shared = _json(impl, *base, "-f", ADVICE / "rule-shared", *args)
    only = _json(impl, *base, "-f", ADVICE / "rule-stable-only", *args)
    assert shared["moved"] > 0.8 and shared["minimum"] < 0.02
    assert only["excess"] == 0.0 and only["pod_changed"] == 0.0
    assert only["moved"] == only["minimum"] < 0.02
    abort = _json(
        impl, *base, "-f", ADVICE / "rule-stable-only", "--ramp", "canary=1,0", "--users", 4000
    )
    assert abort["excess"] == 0.0 and abort["moved"] == abort["minimum"]


def test_envoy_examples_two_and_three_subsets(impl: Implementation) -> None:
    env = ADVICE / "envoy"
    common = ["--users", 4000, "--requests-per-user", 1]
    two = _json(
        impl, "--envoy-config-a", env / "two-100-0.yaml", "--envoy-config-b", env / "two-99-1.yaml", *common
    )  # fmt: skip
    assert two["excess"] == 0.0 and two["moved"] < 0.03
    proc = run_cli(
        impl,
        "diff",
        "--envoy-config-a",
        env / "three-80-10-10.yaml",
        "--envoy-config-b",
        env / "three-60-20-20.yaml",
        *common,
    )
    assert proc.returncode == 0, proc.stderr
    first = proc.stdout.replace("\n  ", " ").splitlines()[0]
    assert "value % total" in first and "'canary' keeps or grows its weight (10 -> 20)" in first


# --------------------------------------------------------------------------
# Ramps and weight changes on Envoy configuration.


def test_envoy_config_set_weight_is_the_edited_file(impl: Implementation) -> None:
    """--set-weight on a base config gives what comparing with the edited file gives."""
    env = ADVICE / "envoy"
    common = ["--users", 3000, "--requests-per-user", 1]
    edited = _json(
        impl, "--envoy-config-a", env / "three-80-10-10.yaml",
        "--envoy-config-b", env / "three-60-20-20.yaml", *common,
    )  # fmt: skip
    changed = _json(
        impl, "--envoy-config", env / "three-80-10-10.yaml",
        "--set-weight", "canary=20", "--set-weight", "canary-b=20", *common,
    )  # fmt: skip
    assert changed == edited


def test_envoy_config_ramp_two_clusters_is_sticky(impl: Implementation) -> None:
    env = ADVICE / "envoy"
    doc = _json(
        impl, "--envoy-config", env / "two-100-0.yaml", "--ramp", "canary=0,1,5,25,100",
        "--users", 3000, "--requests-per-user", 4,
    )  # fmt: skip
    steps = doc["steps"]
    assert [s["from"] for s in steps] == ["canary=0", "canary=1", "canary=5", "canary=25"]
    for s in steps:
        assert s["excess"] == 0.0 and s["pod_changed"] == 0.0
    # use_hash_policy: every request of a user takes one subset, so the versions a user
    # has seen are the ones the boundary moved it through
    assert steps[-1]["several_subsets_so_far"] == steps[-1]["several_pods_so_far"]
    assert math.isclose(steps[-1]["several_subsets_so_far"], 1.0)


@pytest.mark.parametrize(
    ("args", "words"),
    [
        (["--set-weight", "nosuch=1"], "the route has no weighted cluster 'nosuch'"),
        (["--set-weight", "canary=101"], "add up to more than the route's total 100"),
        (["--set-weight", "canary=1", "--ramp", "canary=0,1"], "one of them"),
        ([], "--envoy-config needs --set-weight or --ramp"),
        (["--set-weight", "canary=1", "--mode", "sticky"], "--mode sticky applies to Istio YAML"),
        (["--set-weight", "canary=1", "-f", "x"], "--set-weight or --ramp over its weighted"),
        (["--set-weight", "stable=0", "--set-weight", "canary=0"], "total would be 0"),
    ],
)
def test_envoy_config_change_bad_input(impl: Implementation, args: list[str], words: str) -> None:
    from ._cli import error_line

    proc = run_cli(impl, "diff", "--envoy-config", ADVICE / "envoy" / "two-100-0.yaml", *args)
    assert proc.returncode == 2
    assert words in error_line(proc)


def test_envoy_config_change_needs_weighted_clusters(impl: Implementation) -> None:
    from ._cli import error_line

    dump = ROOT / "examples" / "envoy-config" / "dump.json"
    checkout = "outbound|8080||checkout.shop.svc.cluster.local"
    proc = run_cli(impl, "diff", "--envoy-config", dump, "--cluster", checkout, "--ramp", "x=0,1")
    assert proc.returncode == 2
    assert "need one route with weighted clusters" in error_line(proc)


def test_requests_from_standard_input(impl: Implementation) -> None:
    """``--requests -`` reads the requests from standard input (it crashed before)."""
    lines = "".join(
        json.dumps({"user": f"u{i}", "headers": {"x-myval": f"{i:016x}"}}) + "\n"
        for i in range(200)
    )
    args = ["diff", "-f", EXAMPLE, "--set-weight", "risky=50", "--requests", "-", "--json", "-"]
    proc = run_cli(impl, *args, "-q", stdin=lines)
    assert proc.returncode == 0, proc.stderr
    doc = json.loads(proc.stdout)
    assert doc["users"] == 200 and doc["requests"] == 200
    assert doc["minimum"] <= doc["moved"]
