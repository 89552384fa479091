"""Helpers for the ``hashlb`` command-line tests: run it as a subprocess on a twin."""

from __future__ import annotations

import contextlib
import io
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


def run_in_process(*args: str | os.PathLike[str], cwd: Path) -> subprocess.CompletedProcess[str]:
    """Run ``hashlb ARGS`` in this process (cwd *cwd*), capturing what a subprocess would."""
    from hashlb.__main__ import main

    out, err = io.StringIO(), io.StringIO()
    old = os.getcwd()
    os.chdir(cwd)
    try:
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            code = main([str(a) for a in args])
    finally:
        os.chdir(old)
    return subprocess.CompletedProcess(
        ["hashlb", *map(str, args)], code, out.getvalue(), err.getvalue()
    )


def run_shared(
    impl: Implementation, index: int, *args: str | os.PathLike[str], cwd: Path
) -> subprocess.CompletedProcess[str]:
    """Run a twin-independent case once as a subprocess and once in-process.

    Bad-input and usage cases fail before any table is built, so both twins
    would run the same code: case *index* runs as ``python -m hashlb`` on
    one twin (alternating with the index) and in-process on the other,
    which halves the subprocesses while every case still runs end to end.
    """
    if (index % 2 == 0) != impl.is_pure_python:
        return run_cli(impl, *args, cwd=cwd)
    return run_in_process(*args, cwd=cwd)
