"""``python examples/proxy/demo.py`` runs as documented, on both twins.

The demo is run as a subprocess (bounded by a timeout), exactly as the
README and ``docs/how-to/embed-in-a-proxy.rst`` say; its output must say
which backend each user reached, keep every sticky user on one backend,
and match, line for line, the sample output the docs page shows.
"""

from __future__ import annotations

import os
import re
import subprocess
from pathlib import Path

import pytest

from ._impl import Implementation
from .test_proxy_cli import run_script

pytest.importorskip("aiohttp")
pytest.importorskip("yaml")

pytestmark = pytest.mark.slow
ROOT = Path(__file__).resolve().parents[1]
DEMO = ROOT / "examples" / "proxy" / "demo.py"
DOC = ROOT / "docs" / "how-to" / "embed-in-a-proxy.rst"
USERS = ("alice", "bob", "carol", "dave", "erin", "frank", "grace", "heidi")
BACKENDS = {"safe-0": "safe", "safe-1": "safe", "risky-0": "risky"}
_RUNS: dict[str, subprocess.CompletedProcess[str]] = {}


def run_demo(impl: Implementation) -> subprocess.CompletedProcess[str]:
    """Run the demo once per twin (cached): ``python examples/proxy/demo.py``."""
    if impl.tag not in _RUNS:
        env = {k: v for k, v in os.environ.items() if k != "HASHLB_NO_EXTENSIONS"}
        if impl.is_pure_python:
            env["HASHLB_NO_EXTENSIONS"] = "1"
        _RUNS[impl.tag] = run_script(str(DEMO.relative_to(ROOT)), env=env)
    return _RUNS[impl.tag]


def shape(line: str) -> str:
    """A line with its run-dependent parts made generic.

    Ports, times and hashes change with every run, and which pod of a subset
    a user lands on depends on the pods' addresses (ephemeral ports): every
    number becomes ``N``, the pod index too, a hash ``H``, and runs of
    spaces one space.
    """
    line = re.sub(r"key=[0-9a-f]{16}", "key=H", line)
    line = re.sub(r"\d+(\.\d+)?", "N", line)
    return " ".join(line.split())


def documented_output() -> tuple[str, list[str]]:
    """The command and the output lines of the docs page's "Run the demo" block."""
    text = DOC.read_text(encoding="utf-8")
    section = text.split("Run the demo\n------------\n", 1)[1]
    block = section.split(".. code-block:: console\n", 1)[1]
    lines = []
    for raw in block.splitlines()[1:]:
        if raw and not raw.startswith("   "):
            break  # the end of the indented block
        lines.append(raw[3:])
    while lines and not lines[-1]:
        lines.pop()
    assert lines[0].startswith("$ "), lines[:1]
    return lines[0][2:], lines[1:]


def test_demo_exits_0_and_says_where_each_user_went(impl: Implementation) -> None:
    proc = run_demo(impl)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "Traceback" not in proc.stderr and "FAILED" not in proc.stderr
    out = proc.stdout
    for user in USERS:
        reached = re.findall(rf"^  {user} +-> (\S+) (\d+)/(\d+)$", out, re.MULTILINE)
        assert len(reached) == 1, (user, out)
        backend, got, sent = reached[0]
        assert backend in BACKENDS and got == sent == "5"  # one backend, every request
    sticky = re.search(r"Stickiness: (\d+) of (\d+) users", out)
    assert sticky is not None and sticky.group(1) == sticky.group(2) == "208"
    assert out.rstrip().endswith("every check held.")


def test_demo_ramps_the_canary_live(impl: Implementation) -> None:
    out = run_demo(impl).stdout
    table = out.split("  user   risky", 1)[1].splitlines()[1 : 1 + len(USERS)]
    for row in table:
        user, *steps = row.split()
        assert user in USERS and len(steps) == 4
        versions = [BACKENDS[s] for s in steps]
        # a user never leaves the canary, and everyone is on it at 100%
        assert versions == sorted(versions, key=lambda v: v == "risky"), row
        assert versions[-1] == "risky"
        safe = [s for s in steps if BACKENDS[s] == "safe"]
        assert len(set(safe)) <= 1, row  # same backend while on safe
    shares = re.search(r"Users on risky, of 208: (\d+) -> (\d+) -> (\d+) -> (\d+)\.", out)
    assert shares is not None
    counts = [int(g) for g in shares.groups()]
    assert counts == sorted(counts) and counts[-1] == 208 and 0 < counts[0] < counts[1]
    assert "Left risky: 0; changed backend within a version: 0;" in out


def test_demo_shows_envoy_mode_and_the_request_log(impl: Implementation) -> None:
    out = run_demo(impl).stdout
    kept = re.search(r"(\d+) of 200 users \(\d+%\) reached one version only", out)
    assert kept is not None and int(kept.group(1)) < 200
    sample = out.split("Proxy log, the first 3 of ", 1)[1].splitlines()[1:4]
    for line in sample:
        assert re.fullmatch(
            r"  GET / key=[0-9a-f]{16} subset=(safe|risky) "
            r"endpoint=127\.0\.0\.1:\d+ status=200 time=\d+\.\dms",
            line,
        ), line


def test_demo_output_fits_100_columns(impl: Implementation) -> None:
    out = run_demo(impl).stdout
    assert max(len(line) for line in out.splitlines()) <= 100


def test_the_docs_show_what_the_demo_prints(impl: Implementation) -> None:
    """The sample output in embed-in-a-proxy.rst is a real run's: same lines, same words."""
    command, documented = documented_output()
    assert command == "python examples/proxy/demo.py"
    printed = run_demo(impl).stdout.splitlines()
    assert [shape(line) for line in documented] == [shape(line) for line in printed]
