"""The ``hashlb`` command line: ``hashlb simulate``, ``hashlb translate`` and ``hashlb bench``.

``python -m hashlb`` and the ``hashlb`` console script both call
:func:`hashlb.__main__.main`, which parses the arguments with
:func:`build_parser` and runs the chosen subcommand.  Bad input is reported
as one line naming ``FILE:LINE`` with exit code 2 and no partial output
file; argument errors get argparse's usage message (also exit code 2).
Every count a user or a file can supply is capped (the ``MAX_*`` constants
of :mod:`hashlb._validate`), and every output goes through
:class:`~hashlb.cli.output.OutputSet` (atomic through symlinks, ``-`` for
standard output, devices and pipes written directly).
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from .output import OutputSet, run_guarded

__all__ = ("build_parser", "run_command")


def build_parser() -> argparse.ArgumentParser:
    """Return the parser of ``hashlb`` with its subcommands."""
    from .. import __version__
    from . import bench, diff, simulate, translate

    parser = argparse.ArgumentParser(
        prog="hashlb",
        description=(
            "Envoy-exact consistent hashing: simulate Istio routing from YAML or from an "
            "Envoy config dump, translate Istio YAML into the Envoy config Istio generates, "
            "or benchmark ring and table sizes. Without a command, print the "
            "version, the active implementation and a short demo."
        ),
    )
    parser.add_argument("-V", "--version", action="version", version=f"hashlb {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for command in (simulate, translate, bench, diff):
        name = command.__name__.rpartition(".")[2]
        p = sub.add_parser(name, help=command.HELP, description=command.DESCRIPTION)
        command.add_arguments(p)
    return parser


def run_command(argv: Sequence[str]) -> int:
    """Parse *argv* (without the program name) and run the subcommand.

    :returns: the exit code (0 success, 2 bad input or usage).
    """
    parser = build_parser()
    try:
        args = parser.parse_args(list(argv))
    except SystemExit as e:  # argparse: --help (0) or a usage error (2)
        return int(e.code) if isinstance(e.code, int) else 2
    if getattr(args, "run", None) is None:
        parser.print_help(sys.stderr)
        return 2
    outputs = OutputSet()
    prog = f"hashlb {args.command}"
    return run_guarded(lambda: int(args.run(args, outputs)), prog, outputs)
