"""Rollouts: a Deployment's RollingUpdate step by step (``hashlb.diff.rollout_*``,
``hashlb diff --rollout``).

The counts follow the Deployment controller (``pkg/controller/deployment/
rolling.go``): each step scales the new ReplicaSet up to ``replicas +
maxSurge`` pods in all, or else scales the old ones down keeping ``replicas -
maxUnavailable`` available; a surge percentage rounds up, an unavailable one
down, and both 0 is refused.  The examples below are worked by hand.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from hashlb import Host
from hashlb.diff import resolve_rollout, rollout_counts, rollout_steps

from ._cli import ROOT, error_line, run_cli
from ._impl import Implementation

ADVICE = ROOT / "examples" / "canary-without-remapping"
BASE = ["-f", ADVICE / "deployments.yaml", "-f", ADVICE / "virtualservice.yaml"]


@pytest.mark.parametrize(
    ("replicas", "surge", "unavailable", "expected"),
    [
        (10, "25%", "25%", (3, 2)),  # Kubernetes' defaults: ceil(2.5), floor(2.5)
        (4, "25%", "25%", (1, 1)),
        (3, "25%", "25%", (1, 0)),  # floor(0.75) = 0, the surge is 1
        (1, "0%", "10%", (0, 1)),  # both round to 0: unavailable becomes 1
        (5, 2, "0", (2, 0)),
        (5, "150%", 0, (8, 0)),  # a surge may exceed 100%
        (0, 1, 1, (1, 1)),
    ],
)
def test_resolve_rollout_rounds_as_kubernetes(
    replicas: int, surge: Any, unavailable: Any, expected: tuple[int, int]
) -> None:
    assert resolve_rollout(replicas, surge, unavailable) == expected


@pytest.mark.parametrize(
    ("surge", "unavailable", "words"),
    [
        (0, 0, "may not both be 0"),
        ("0%", "0", "may not both be 0"),
        (-1, 1, "max_surge must be >= 0"),
        ("x", 1, "max_surge must be a count"),
        (1, "25 %", "max_unavailable must be a count"),
        (1, 1.5, "max_unavailable must be a count"),
        (1, True, "max_unavailable must be a count"),
        (10**9, 1, "MAX_ROLLOUT_REPLICAS"),
    ],
)
def test_resolve_rollout_refuses_bad_values(surge: Any, unavailable: Any, words: str) -> None:
    with pytest.raises(ValueError, match=words):
        resolve_rollout(4, surge, unavailable)


def test_resolve_rollout_refuses_bad_replicas() -> None:
    for bad in (-1, 1.0, "3", 10**9):
        with pytest.raises(ValueError, match="replicas must be an int"):
            resolve_rollout(bad, 1, 0)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("replicas", "surge", "unavailable", "expected"),
    [
        (3, 1, 0, [(3, 0), (3, 1), (2, 1), (2, 2), (1, 2), (1, 3), (0, 3)]),
        (3, 0, 1, [(3, 0), (2, 0), (2, 1), (1, 1), (1, 2), (0, 2), (0, 3)]),
        (10, "25%", "25%", [(10, 0), (10, 3), (5, 3), (5, 8), (0, 8), (0, 10)]),
        (2, "100%", 0, [(2, 0), (2, 2), (0, 2)]),
        (0, 1, 0, [(0, 0)]),
    ],
)  # fmt: skip
def test_rollout_counts(replicas: int, surge: Any, unavailable: Any, expected: Any) -> None:
    assert rollout_counts(replicas, surge, unavailable) == expected


def test_rollout_steps_replace_the_subset_only() -> None:
    hosts = [
        Host("10.0.0.1:80", labels={"v": "stable"}),
        Host("10.0.0.2:80", labels={"v": "canary"}),
        Host("10.0.0.3:80", labels={"v": "stable"}),
        Host("10.0.0.4:80", labels={"v": "stable"}),
    ]
    steps = rollout_steps(hosts, {"v": "stable"}, 1, 0, template_hash="abc123")
    assert steps[0] == hosts
    assert len(steps) == len(rollout_counts(3, 1, 0))
    last = steps[-1]
    assert hosts[1] in last  # the other subset keeps its pod
    new = [h for h in last if h.labels.get("v") == "stable"]
    assert len(new) == 3
    assert all(h.labels["pod-template-hash"] == "abc123" for h in new)
    assert not {h.address for h in new} & {h.address for h in hosts}  # new IPs
    assert len({h.address for h in new}) == 3
    # the old pod listed last goes first
    assert hosts[3] not in steps[2] and hosts[2] in steps[2]


def test_rollout_steps_ipv6_and_errors() -> None:
    hosts = [Host("[fd00::1]:80", labels={"v": "a"}), Host("[fd00::2]:80", labels={"v": "a"})]
    steps = rollout_steps(hosts, {"v": "a"}, "50%", "0%")
    assert [h.address for h in steps[-1]] == ["[fd00::3]:80", "[fd00::4]:80"]
    with pytest.raises(ValueError, match="matches no host"):
        rollout_steps(hosts, {"v": "b"}, 1, 0)
    with pytest.raises(ValueError, match="may not both be 0"):
        rollout_steps(hosts, {"v": "a"}, 0, 0)


# --------------------------------------------------------------------------
# hashlb diff --rollout


def _json(impl: Implementation, *args: Any) -> Any:
    proc = run_cli(impl, "diff", *args, "--json", "-", "-q")
    assert proc.returncode == 0, proc.stderr
    return json.loads(proc.stdout)


def test_cli_rollout_steps_and_cumulative(impl: Implementation) -> None:
    rule = ["-f", ADVICE / "rule-shared"]
    args = ["--rollout", "stable", "--max-surge", "25%", "--max-unavailable", 0, "--users", 3000]
    doc = _json(impl, *BASE, *rule, *args, "--requests-per-user", 1, "--mode", "both")
    for mode in ("envoy", "sticky"):
        steps = doc[mode]["steps"]
        # 8 pods, surge ceil(2) = 2, unavailable 0: 8 steps
        assert [s["from"] for s in steps][:3] == ["8old+0new", "8old+2new", "6old+2new"]
        assert steps[-1]["to"] == "0old+8new"
        assert steps[0]["minimum"] > 0.15  # the 2 new pods take about 2/10 of the users
        for s in steps:
            assert s["minimum"] <= s["moved"] <= 1
            # the canary has weight 0: nobody changes subset; old -> new is a version change
            names = {c["to"]["subset"] for c in s["matrix"]} | {
                c["from"]["subset"] for c in s["matrix"]
            }
            assert names <= {"stable", "stable (new)"}
        several = [s["several_subsets_so_far"] for s in steps]
        assert several == sorted(several) and several[-1] == 1.0  # everyone on the new version
        pods = [s["several_pods_so_far"] for s in steps]
        assert pods == sorted(pods) and pods[-1] == 1.0


def test_cli_rollout_report_words(impl: Implementation) -> None:
    args = [*BASE, "-f", ADVICE / "rule-shared", "--rollout", "stable", "--max-surge", 4]
    proc = run_cli(impl, "diff", *args, "--max-unavailable", 4, "--users", 500)
    assert proc.returncode == 0, proc.stderr
    text = proc.stdout.replace("\n  ", " ")
    first = text.splitlines()[0]
    assert first.startswith("Rolling out 'stable' (maxSurge 4, maxUnavailable 4) in 3 steps: ")
    assert "seen >1 version" in text and "- Step 8old+0new -> 8old+4new moves " in text


@pytest.mark.parametrize(
    ("extra", "words"),
    [
        (["--rollout", "stable", "--max-surge", 0, "--max-unavailable", 0], "may not both be 0"),
        (["--rollout", "nosuch"], "no DestinationRule has a subset 'nosuch'"),
        (["--rollout", "stable", "--max-surge", "1x"], "expected a count (1) or a percentage"),
        (["--rollout", "stable", "--ramp", "canary=0,1"], "give --ramp or --rollout, not both"),
        (["--rollout", "stable", "--set-weight", "canary=1"], "--ramp and --rollout are changes"),
    ],
)
def test_cli_rollout_bad_input(impl: Implementation, extra: list[Any], words: str) -> None:
    proc = run_cli(impl, "diff", *BASE, "-f", ADVICE / "rule-shared", *extra)
    assert proc.returncode == 2
    if "1x" in extra:  # argparse's own refusal: the usage, then one error line
        assert "Traceback" not in proc.stderr
        assert words in proc.stderr.splitlines()[-1]
    else:
        assert words in error_line(proc)


def test_cli_rollout_too_many_steps(impl: Implementation, tmp_path: Path) -> None:
    text = (ADVICE / "deployments.yaml").read_text(encoding="utf-8")
    (tmp_path / "deployments.yaml").write_text(
        text.replace("replicas: 8", "replicas: 200"), encoding="utf-8"
    )
    args = ["-f", tmp_path / "deployments.yaml", "-f", ADVICE / "virtualservice.yaml"]
    proc = run_cli(
        impl, "diff", *args, "-f", ADVICE / "rule-shared", "--rollout", "stable",
        "--max-surge", 1, "--max-unavailable", 0,
    )  # fmt: skip
    assert proc.returncode == 2
    assert "--rollout takes 400 steps, more than MAX_ROLLOUT_STEPS = 256" in error_line(proc)


def test_cli_rollout_plot_is_a_png(impl: Implementation, tmp_path: Path) -> None:
    pytest.importorskip("matplotlib")
    out = tmp_path / "rollout.png"
    args = [*BASE, "-f", ADVICE / "rule-shared", "--rollout", "stable", "--max-surge", "50%"]
    proc = run_cli(impl, "diff", *args, "--users", 300, "--plot", out, "-q")
    assert proc.returncode == 0, proc.stderr
    assert out.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
