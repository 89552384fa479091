"""Output helpers: all-or-nothing files, text tables, a stderr progress bar, plots.

Output files are written to a temporary file in the destination directory
and renamed into place only when the whole command has succeeded, so a
failed run never leaves a partial (or truncated older) file behind.
"""

from __future__ import annotations

import contextlib
import importlib.util
import os
import sys
import tempfile
import time
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import IO, Any

from .source import InputError

__all__ = ("OutputSet", "Progress", "check_matplotlib", "format_table", "require_matplotlib")


def _umask() -> int:
    """Return the process umask (without changing it)."""
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


class OutputSet:
    """Collect output files and publish them together, only on success.

    >>> import tempfile, os
    >>> d = tempfile.mkdtemp()
    >>> outs = OutputSet()
    >>> with outs.open(os.path.join(d, "a.json")) as f:
    ...     _ = f.write("{}")
    >>> os.path.exists(os.path.join(d, "a.json"))
    False
    >>> outs.commit()
    >>> os.path.exists(os.path.join(d, "a.json"))
    True
    """

    def __init__(self) -> None:
        self._pending: list[tuple[str, str]] = []  # (temp path, final path)

    def check_writable(self, path: str | None, flag: str) -> None:
        """Fail early (before any work) if *path*'s directory does not exist.

        :raises InputError: the directory is missing or *path* is a directory.
        """
        if path is None:
            return
        p = Path(path)
        if p.is_dir():
            raise InputError(path, f"{flag}: is a directory")
        parent = p.parent
        if not parent.is_dir():
            raise InputError(path, f"{flag}: the directory {str(parent)!r} does not exist")

    def temp_path(self, final: str) -> str:
        """Return a new temporary path beside *final*, published by :meth:`commit`."""
        p = Path(final)
        fd, tmp = tempfile.mkstemp(prefix=f".{p.name}.", suffix=".tmp", dir=p.parent)
        os.close(fd)
        os.chmod(tmp, 0o666 & ~_umask())  # mkstemp makes 0600; give what open() would
        self._pending.append((tmp, final))
        return tmp

    @contextlib.contextmanager
    def open(self, final: str) -> Iterator[IO[str]]:
        """Open a temporary text file that :meth:`commit` renames to *final*."""
        tmp = self.temp_path(final)
        with open(tmp, "w", encoding="utf-8", newline="\n") as f:
            yield f

    def commit(self) -> None:
        """Rename every temporary file into place."""
        for tmp, final in self._pending:
            os.replace(tmp, final)
        self._pending.clear()

    def discard(self) -> None:
        """Delete every temporary file (after a failure)."""
        for tmp, _ in self._pending:
            with contextlib.suppress(OSError):
                os.unlink(tmp)
        self._pending.clear()


def format_table(
    headers: Sequence[str], rows: Sequence[Sequence[object]], *, align: str | None = None
) -> str:
    """Return a plain-text table; *align* has one ``<`` or ``>`` per column.

    >>> print(format_table(["name", "n"], [["a", 1], ["bb", 22]]))
    name   n
    a      1
    bb    22
    """
    cells = [[str(h) for h in headers]] + [[str(c) for c in r] for r in rows]
    widths = [max(len(row[i]) for row in cells) for i in range(len(headers))]
    if align is None:
        align = "<" + ">" * (len(headers) - 1)
    lines = []
    for row in cells:
        parts = [f"{c:{a}{w}}" for c, a, w in zip(row, align, widths, strict=True)]
        lines.append("  ".join(parts).rstrip())
    return "\n".join(lines)


class Progress:
    """A tiny progress bar on stderr (a redrawn line on a terminal, else plain lines).

    ``enabled=False`` makes every call a no-op.
    """

    def __init__(self, total: int, *, enabled: bool = True, stream: IO[str] | None = None) -> None:
        self.total = max(total, 1)
        self.done = 0
        self.enabled = enabled
        self.stream = stream if stream is not None else sys.stderr
        self.tty = bool(getattr(self.stream, "isatty", lambda: False)())
        self.start = time.perf_counter()

    def step(self, label: str) -> None:
        """Report that one more unit of work (described by *label*) is starting."""
        if not self.enabled:
            return
        self.done += 1
        elapsed = time.perf_counter() - self.start
        if self.tty:
            width = 24
            filled = int(width * (self.done - 1) / self.total)
            bar = "#" * filled + "-" * (width - filled)
            self.stream.write(
                f"\r[{bar}] {self.done}/{self.total} {elapsed:5.1f}s {label[:60]:<60}"
            )
        else:
            self.stream.write(f"[{self.done}/{self.total}] {elapsed:.1f}s {label}\n")
        self.stream.flush()

    def close(self) -> None:
        """Finish the bar (clear the line on a terminal)."""
        if self.enabled and self.tty:
            self.stream.write("\r" + " " * 100 + "\r")
            self.stream.flush()


def check_matplotlib() -> None:
    """Fail early, without importing it (slow), if matplotlib is not installed.

    :raises InputError: matplotlib cannot be found.
    """
    try:
        found = importlib.util.find_spec("matplotlib") is not None
    except (ImportError, ValueError):  # e.g. sys.modules["matplotlib"] is None
        found = False
    if not found:
        raise InputError("--plot", 'needs matplotlib: pip install "hashlb[plot]"')


def require_matplotlib() -> Any:
    """Import matplotlib with the Agg backend, or explain how to install it.

    :raises InputError: matplotlib is not installed.
    """
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        raise InputError("--plot", 'needs matplotlib: pip install "hashlb[plot]"') from None
    return plt


def save_figure(outputs: OutputSet, fig: Any, path: str, plt: Any) -> None:
    """Save *fig* as PNG through *outputs* (published on commit) and close it."""
    tmp = outputs.temp_path(path)
    fig.savefig(tmp, format="png", dpi=110)
    plt.close(fig)


def run_guarded(func: Callable[[], int], prog: str, outputs: OutputSet) -> int:
    """Run *func*; on InputError print one line, discard outputs, return 2."""
    try:
        code = func()
    except InputError as e:
        outputs.discard()
        print(f"{prog}: error: {e}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        outputs.discard()
        print(f"{prog}: interrupted", file=sys.stderr)
        return 130
    except BaseException:
        outputs.discard()
        raise
    if code == 0:
        outputs.commit()
    else:
        outputs.discard()
    return code
