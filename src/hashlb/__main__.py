"""``python -m hashlb`` / the ``hashlb`` console script.

Without arguments it prints the version, the active implementation and a
short demo; ``hashlb simulate``, ``hashlb translate`` and ``hashlb bench`` are the subcommands
(see :mod:`hashlb.cli`).
"""

from __future__ import annotations

import sys
from collections.abc import Sequence

import hashlb


def info() -> str:
    """Return the version, the active implementation and a small demo table."""
    lines = [
        f"hashlb {hashlb.__version__} (implementation: {hashlb.IMPLEMENTATION})",
        "",
        f"{'key':<16} {'xxh64':>20} {'murmur2_64 (Envoy)':>20}",
    ]
    for key in ("foo", "bar", "user-42", "10.0.0.7"):
        lines.append(f"{key:<16} {hashlb.xxh64(key):>20} {hashlb.murmur2_64(key):>20}")
    lines += [
        "",
        "Commands: hashlb simulate -f mesh.yaml   (route requests through Istio YAML)",
        "          hashlb translate -f mesh.yaml  (the Envoy config Istio generates, as a config dump)",
        "          hashlb bench                   (ring and table sizes: balance, disruption, speed)",
        "          hashlb COMMAND --help",
    ]
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; return the exit code.

    A reader that stops early (``hashlb simulate ... | head -1``) ends the
    run quietly with exit status 141, as ``yes | head -1`` does.
    """
    try:
        code = _run(list(sys.argv[1:] if argv is None else argv))
        sys.stdout.flush()
    except BrokenPipeError:
        from .cli.output import silence_broken_pipe

        return silence_broken_pipe()
    return code


def _run(args: list[str]) -> int:
    if not args:
        print(info())
        return 0
    if args[0] in ("-V", "--version"):
        print(f"hashlb {hashlb.__version__} ({hashlb.IMPLEMENTATION})")
        return 0
    from .cli import run_command

    return run_command(args)


if __name__ == "__main__":
    sys.exit(main())
