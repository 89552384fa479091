"""``python -m hashlb`` / the ``hashlb`` console script."""

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
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; return the exit code."""
    args = list(sys.argv[1:] if argv is None else argv)
    if args and args[0] in ("-V", "--version"):
        print(f"hashlb {hashlb.__version__} ({hashlb.IMPLEMENTATION})")
        return 0
    print(info())
    return 0


if __name__ == "__main__":
    sys.exit(main())
