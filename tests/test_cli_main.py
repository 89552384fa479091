"""``python -m hashlb`` / the ``hashlb`` console script: demo, version, help, usage errors."""

from __future__ import annotations

from importlib.metadata import entry_points

import hashlb
from hashlb.__main__ import main

from ._cli import run_cli
from ._impl import Implementation


def test_no_arguments_print_version_implementation_and_demo(impl: Implementation) -> None:
    """Without arguments: version, the active twin, a demo table and the commands."""
    proc = run_cli(impl)
    assert proc.returncode == 0, proc.stderr
    first = proc.stdout.splitlines()[0]
    assert first == f"hashlb {hashlb.__version__} (implementation: {impl.tag})"
    assert f"{'foo':<16} {3728699739546630719:>20}" in proc.stdout  # xxh64("foo"), spec §1.1
    assert "hashlb simulate -f" in proc.stdout and "hashlb bench" in proc.stdout


def test_version_and_help(impl: Implementation) -> None:
    """--version/-V print the version; --help lists both subcommands; both exit 0."""
    for flag in ("--version", "-V"):
        proc = run_cli(impl, flag)
        assert proc.returncode == 0
        assert proc.stdout.strip() == f"hashlb {hashlb.__version__} ({impl.tag})"
    proc = run_cli(impl, "--help")
    assert proc.returncode == 0 and "simulate" in proc.stdout and "bench" in proc.stdout
    proc = run_cli(impl, "simulate", "--help")
    assert proc.returncode == 0 and "--requests-per-user" in proc.stdout


def test_unknown_command_is_a_usage_error(impl: Implementation) -> None:
    """An unknown subcommand or top-level flag: argparse usage on stderr, exit 2."""
    for args in (("frobnicate",), ("--bogus",)):
        proc = run_cli(impl, *args)
        assert proc.returncode == 2
        assert proc.stderr.startswith("usage: hashlb") and "Traceback" not in proc.stderr


def test_console_script_entry_point(impl: Implementation) -> None:
    """The installed `hashlb` script is hashlb.__main__:main, which returns exit codes."""
    (ep,) = entry_points(group="console_scripts", name="hashlb")
    assert ep.value == "hashlb.__main__:main"
    assert ep.load() is main
    assert main(["bench", "--hosts", "zero"]) == 2
