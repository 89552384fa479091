"""Helpers for the ``hashlb`` command-line tests: run it as a subprocess on a twin."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

from ._impl import Implementation

ROOT = Path(__file__).resolve().parents[1]
EXAMPLE = ROOT / "examples" / "istio-canary"


def run_cli(
    impl: Implementation, *args: str | os.PathLike[str], cwd: Path | None = None, stdin: str = ""
) -> subprocess.CompletedProcess[str]:
    """Run ``python -m hashlb ARGS`` on *impl*'s twin; return the finished process."""
    env = {k: v for k, v in os.environ.items() if k != "HASHLB_NO_EXTENSIONS"}
    if impl.is_pure_python:
        env["HASHLB_NO_EXTENSIONS"] = "1"
    env["PYTHONIOENCODING"] = "utf-8"
    return subprocess.run(
        [sys.executable, "-m", "hashlb", *map(str, args)],
        cwd=cwd,
        env=env,
        input=stdin,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )


def write(path: Path, text: str) -> Path:
    """Write dedented *text* to *path* (creating directories) and return the path."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(textwrap.dedent(text).lstrip("\n"), encoding="utf-8")
    return path


def error_line(proc: subprocess.CompletedProcess[str]) -> str:
    """Return the single stderr line of a failed run (asserting there is exactly one)."""
    lines = [line for line in proc.stderr.splitlines() if line.strip()]
    notes = [line for line in lines if ": note: " not in line]
    assert len(notes) == 1, proc.stderr
    assert "Traceback" not in proc.stderr
    return notes[0]
