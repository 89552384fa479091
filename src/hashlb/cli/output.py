"""Output helpers: all-or-nothing output files, text tables, a stderr progress bar, plots.

Every output option (``--json``, ``--decisions``, ``--csv``, ``--plot``) goes
through one :class:`OutputSet`, which publishes the outputs only when the
whole command has succeeded:

* a **regular file** (or a new one) is written to a temporary file in the
  directory of the *resolved* path -- symbolic links are followed, so a
  link keeps pointing at its target -- and renamed over the resolved path
  at the end, keeping an existing file's permission bits (and, when
  allowed, its owner);
* anything else -- ``-`` (standard output), ``/dev/stdout`` and other
  ``/dev/fd/N`` descriptors, pipes and FIFOs, character devices -- is
  written **directly** (never replaced), once the command has succeeded;
  until then the output is spooled (in memory, then in a temporary file);
  ``/dev/null`` gets nothing;
* the text report is printed last, so a reader that stops early
  (``| head -1``) cannot cost the files.

A failed run therefore leaves neither a partial file nor a damaged older
one, and writes nothing to a stream.
"""

from __future__ import annotations

import contextlib
import importlib.util
import io
import os
import re
import stat
import sys
import tempfile
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import IO, Any

from .._source import InputError
from .._validate import short as _short

__all__ = (
    "OutputError",
    "OutputSet",
    "Progress",
    "check_matplotlib",
    "format_table",
    "require_matplotlib",
    "run_guarded",
    "silence_broken_pipe",
)

#: Exit status after a broken pipe: 128 + SIGPIPE, what a shell reports for a
#: tool that the signal stopped (``yes | head -1``).
EXIT_BROKEN_PIPE = 141
#: Exit status when an output could not be written after the work succeeded.
EXIT_WRITE_ERROR = 1
#: Stream outputs are held in memory up to this size, then in a temporary file.
_SPOOL_BYTES = 8 * 2**20
_FD_DIR = re.compile(r"/proc/(self|thread-self|\d+)(?:/task/\d+)?/fd")


class OutputError(InputError):
    """An output could not be written once the work was done (exit status 1)."""


def _umask() -> int:
    """Return the process umask (without changing it)."""
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def _resolve(path: str, flag: str) -> tuple[str, int | None]:
    """Return the path an output really writes, following every symbolic link.

    The second item is *N* when the path is one of this process's file
    descriptors (``/dev/stdout``, ``/dev/fd/N``, ``/proc/self/fd/N``): such
    a "magic" link must be written through the descriptor, not replaced.
    """
    p = os.path.abspath(path)
    for _ in range(40):
        parent, name = os.path.split(p)
        parent = os.path.realpath(parent)
        full = os.path.join(parent, name)
        m = _FD_DIR.fullmatch(parent)
        if m is not None and name.isdigit():
            mine = m.group(1) in ("self", "thread-self", str(os.getpid()))
            return full, (int(name) if mine else None)
        if not os.path.islink(full):
            return full, None
        try:
            target = os.readlink(full)
        except OSError as e:
            raise InputError(path, f"{flag}: cannot follow the link: {e.strerror or e}") from None
        p = os.path.join(parent, target)
    raise InputError(path, f"{flag}: too many levels of symbolic links")


@dataclass
class _Output:
    """One output: where it goes and how it is written."""

    flag: str
    path: str  # as given
    kind: str  # "file", "stream", "fd", "stdout", "null"
    final: str  # the resolved path ("" for stdout)
    binary: bool
    fd: int | None = None
    tmp: str | None = None  # kind "file": the temporary file beside *final*
    spool: Any = None  # other kinds: the spooled bytes
    written: bool = False

    def open_raw(self) -> IO[bytes]:
        if self.kind == "file":
            assert self.tmp is not None
            return open(self.tmp, "wb")
        if self.kind == "null":
            return _NullWriter()  # type: ignore[return-value]
        self.spool = tempfile.SpooledTemporaryFile(max_size=_SPOOL_BYTES)  # noqa: SIM115
        return _SpoolWriter(self.spool)  # type: ignore[return-value]


class _NullWriter(io.RawIOBase):
    """A binary sink (``/dev/null``): accepts and drops everything."""

    def writable(self) -> bool:
        return True

    def write(self, b: Any) -> int:
        return len(memoryview(b))


class _SpoolWriter(io.RawIOBase):
    """Write into a spool; closing this writer keeps the spool (read at commit)."""

    def __init__(self, spool: Any) -> None:
        super().__init__()
        self._spool = spool

    def writable(self) -> bool:
        return True

    def write(self, b: Any) -> int:
        return int(self._spool.write(b))


class OutputSet:
    """Collect output files and publish them together, only on success.

    :meth:`add` every output first (before any work: it resolves the path
    and fails early), write each through :meth:`open`, then :meth:`commit`
    (or :meth:`discard` after a failure).  See the module documentation for
    what happens to regular files, symbolic links, ``-`` and devices.

    >>> import tempfile, os
    >>> d = tempfile.mkdtemp()
    >>> outs = OutputSet()
    >>> outs.add(os.path.join(d, "a.json"), "--json")
    >>> with outs.open("--json") as f:
    ...     _ = f.write("{}")
    >>> os.path.exists(os.path.join(d, "a.json"))
    False
    >>> outs.commit()
    >>> open(os.path.join(d, "a.json")).read()
    '{}'
    """

    def __init__(self) -> None:
        self._outputs: dict[str, _Output] = {}
        self._report: tuple[str, IO[str]] | None = None

    @property
    def uses_stdout(self) -> bool:
        """True when an output goes to standard output (``-`` or ``/dev/stdout``)."""
        return any(o.kind == "stdout" or o.fd == 1 for o in self._outputs.values())

    def add_plot(self, path: str | None, flag: str = "--plot") -> None:
        """Register a figure output (binary) and check that matplotlib can draw it.

        :raises InputError: as :meth:`add`, or matplotlib is not installed.
        """
        self.add(path, flag, binary=True)
        if path is not None:
            check_matplotlib()

    def add(self, path: str | None, flag: str, *, binary: bool = False) -> None:
        """Register the output of option *flag* (nothing when *path* is None).

        :raises InputError: the directory is missing or not writable, the
            path is a directory, two outputs name the same file or both
            standard output, or a binary output would go to a terminal.
        """
        if path is None:
            return
        out = self._classify(path, flag, binary)
        for other in self._outputs.values():
            same_stdout = out.kind == "stdout" or out.fd == 1
            if same_stdout and (other.kind == "stdout" or other.fd == 1):
                raise InputError(path, f"{flag} and {other.flag} both write to standard output")
            if out.kind == "file" and other.kind == "file" and out.final == other.final:
                raise InputError(path, f"{flag} and {other.flag} both write {_short(other.path)}")
        if out.kind == "file":
            p = os.path.basename(out.final)
            try:
                fd, tmp = tempfile.mkstemp(
                    prefix=f".{p}.", suffix=".tmp", dir=os.path.dirname(out.final)
                )
            except OSError as e:
                raise InputError(
                    path,
                    f"{flag}: cannot write in {_short(os.path.dirname(out.final))}: {e.strerror or e}",
                ) from None
            os.close(fd)
            out.tmp = tmp
        self._outputs[flag] = out

    def _classify(self, path: str, flag: str, binary: bool) -> _Output:
        if path == "-":
            if binary and _isatty(sys.stdout):
                raise InputError(
                    path, f"{flag} -: standard output is a terminal; redirect it or name a file"
                )
            return _Output(flag, path, "stdout", "", binary)
        if not path:
            raise InputError(path, f"{flag}: the path is empty")
        final, fd = _resolve(path, flag)
        if fd is not None:
            try:
                os.fstat(fd)
            except OSError as e:
                raise InputError(path, f"{flag}: file descriptor {fd}: {e.strerror or e}") from None
            if binary and fd == 1 and _isatty(sys.stdout):
                raise InputError(
                    path, f"{flag}: standard output is a terminal; redirect it or name a file"
                )
            return _Output(flag, path, "fd", final, binary, fd=fd)
        try:
            st = os.stat(final)
        except FileNotFoundError:
            parent = os.path.dirname(final)
            if not os.path.isdir(parent):
                raise InputError(
                    path,
                    f"{flag}: the directory {_short(os.path.dirname(path) or parent)} does not exist",
                ) from None
            return _Output(flag, path, "file", final, binary)
        except OSError as e:
            raise InputError(path, f"{flag}: {e.strerror or e}") from None
        if stat.S_ISDIR(st.st_mode):
            raise InputError(path, f"{flag}: is a directory")
        if stat.S_ISREG(st.st_mode):
            return _Output(flag, path, "file", final, binary)
        if stat.S_ISCHR(st.st_mode) and os.path.samestat(st, os.stat(os.devnull)):
            return _Output(flag, path, "null", final, binary)
        return _Output(flag, path, "stream", final, binary)

    @contextlib.contextmanager
    def open(self, flag: str) -> Iterator[IO[str]]:
        """Open the output of *flag* for text (UTF-8, ``\\n`` line ends)."""
        with self.open_binary(flag) as raw:
            text = io.TextIOWrapper(raw, encoding="utf-8", newline="\n")
            try:
                yield text
                text.flush()
            finally:
                text.detach()

    @contextlib.contextmanager
    def open_binary(self, flag: str) -> Iterator[IO[bytes]]:
        """Open the output of *flag* for bytes (e.g. a PNG)."""
        out = self._outputs[flag]
        raw = out.open_raw()
        try:
            yield raw
        finally:
            raw.close()
        out.written = True

    def report(self, text: str, stream: IO[str]) -> None:
        """Print *text* (the command's report) to *stream* at :meth:`commit`, last."""
        self._report = (text, stream)

    def commit(self) -> None:
        """Publish: rename the files into place, write the streams, print the report.

        :raises OutputError: a stream could not be written (the files are
            already in place).
        :raises BrokenPipeError: the reader of a pipe went away.
        """
        outs = [o for o in self._outputs.values() if o.written]
        try:
            for o in outs:
                if o.kind == "file":
                    self._replace(o)
            for o in outs:
                if o.kind in ("stream", "fd", "stdout"):
                    self._write_stream(o)
        finally:
            self.discard()
        if self._report is not None:
            text, stream = self._report
            self._report = None
            print(text, file=stream)
            stream.flush()

    def _replace(self, o: _Output) -> None:
        assert o.tmp is not None
        try:
            st = os.stat(o.final)
        except OSError:
            os.chmod(o.tmp, 0o666 & ~_umask())  # mkstemp makes 0600; give what open() would
        else:
            os.chmod(o.tmp, stat.S_IMODE(st.st_mode))
            if (st.st_uid, st.st_gid) != (os.getuid(), os.getgid()):
                with contextlib.suppress(OSError):  # allowed for root, or for one's own group
                    os.chown(o.tmp, st.st_uid, st.st_gid)
        try:
            os.replace(o.tmp, o.final)
        except OSError as e:
            raise OutputError(o.path, f"{o.flag}: cannot write: {e.strerror or e}") from None
        o.tmp = None

    def _write_stream(self, o: _Output) -> None:
        spool = o.spool
        spool.seek(0)
        try:
            if o.kind == "stdout":
                sys.stdout.flush()
                target: Any = getattr(sys.stdout, "buffer", None)
                if target is None:  # a text-only stdout (in-process use)
                    sys.stdout.write(spool.read().decode("utf-8"))
                    return
                _copy(spool, target.write)
                target.flush()
            elif o.kind == "fd":
                assert o.fd is not None
                for stream in (sys.stdout, sys.stderr):
                    with contextlib.suppress(OSError, ValueError, AttributeError):
                        if stream.fileno() == o.fd:
                            stream.flush()
                fd = o.fd
                _copy(spool, lambda b: _write_all(fd, b))
            else:
                with open(o.final, "wb") as f:
                    _copy(spool, f.write)
        except BrokenPipeError:
            raise
        except OSError as e:
            raise OutputError(o.path, f"{o.flag}: cannot write: {e.strerror or e}") from None

    def discard(self) -> None:
        """Delete every temporary file and spool (after a failure, or after commit)."""
        for o in self._outputs.values():
            if o.tmp is not None:
                with contextlib.suppress(OSError):
                    os.unlink(o.tmp)
                o.tmp = None
            if o.spool is not None:
                o.spool.close()
                o.spool = None
        self._outputs.clear()


def _isatty(stream: Any) -> bool:
    try:
        return bool(stream.isatty())
    except (AttributeError, ValueError, OSError):
        return False


def _copy(src: Any, write: Callable[[bytes], object]) -> None:
    while True:
        chunk = src.read(2**20)
        if not chunk:
            return
        write(chunk)


def _write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view) :]


#: A text column is never cut below this many characters to fit a width.
_MIN_CUT = 12


def format_table(
    headers: Sequence[str],
    rows: Sequence[Sequence[object]],
    *,
    align: str | None = None,
    width: int | None = None,
    cut: Sequence[int] | None = None,
) -> str:
    """Return a plain-text table; *align* has one ``<`` or ``>`` per column.

    With *width*, the widest left-aligned (text) columns among *cut* (default:
    every left-aligned one) are cut, their longer cells ending in ``...``,
    until the table fits (numbers are never cut; a column keeps at least 12
    characters).

    >>> print(format_table(["name", "n"], [["a", 1], ["bb", 22]]))
    name   n
    a      1
    bb    22
    >>> print(format_table(["pod", "n"], [["staff-service-risky-version-0", 1]], width=18))
    pod              n
    staff-servic...  1
    """
    cells = [[str(h) for h in headers]] + [[str(c) for c in r] for r in rows]
    widths = [max(len(row[i]) for row in cells) for i in range(len(headers))]
    if align is None:
        align = "<" + ">" * (len(headers) - 1)
    if width is not None:
        excess = sum(widths) + 2 * (len(widths) - 1) - width
        while excess > 0:
            cuttable = [
                i
                for i, a in enumerate(align)
                if a == "<" and widths[i] > _MIN_CUT and (cut is None or i in cut)
            ]
            if not cuttable:
                break
            i = max(cuttable, key=lambda j: widths[j])
            new = max(_MIN_CUT, widths[i] - excess)
            excess -= widths[i] - new
            widths[i] = new
            for row in cells:
                if len(row[i]) > new:
                    row[i] = row[i][: new - 3] + "..."
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


def save_figure(outputs: OutputSet, fig: Any, flag: str, plt: Any) -> None:
    """Save *fig* as PNG to the output of *flag* (published on commit) and close it."""
    with outputs.open_binary(flag) as f:
        fig.savefig(f, format="png", dpi=110)
    plt.close(fig)


def run_guarded(func: Callable[[], int], prog: str, outputs: OutputSet) -> int:
    """Run *func* and publish its outputs if it returns 0.

    :returns: *func*'s code; 2 after an :class:`InputError` (printed as one
        line, outputs discarded); 1 when an output cannot be written
        (:class:`OutputError`); 130 after Ctrl-C.  A :class:`BrokenPipeError`
        propagates (see :func:`silence_broken_pipe`).
    """
    try:
        code = func()
        if code == 0:
            outputs.commit()
    except OutputError as e:
        outputs.discard()
        print(f"{prog}: error: {e}", file=sys.stderr)
        return EXIT_WRITE_ERROR
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
    outputs.discard()
    return code


def silence_broken_pipe() -> int:
    """Handle a :class:`BrokenPipeError`: quiet standard output and error, return 141.

    The reader of a pipe went away (``hashlb simulate ... | head -1``).  As
    Python's documentation recommends, standard output (and standard error)
    are pointed at ``/dev/null`` so that the final flush at exit cannot raise
    again; the exit status is 141 (128 + SIGPIPE), what a shell reports for
    a tool that the signal stopped.
    """
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
    except OSError:  # pragma: no cover - no /dev/null
        return EXIT_BROKEN_PIPE
    for stream in (sys.stdout, sys.stderr):
        try:
            os.dup2(devnull, stream.fileno())
        except (AttributeError, ValueError, OSError, io.UnsupportedOperation):
            continue
    os.close(devnull)
    return EXIT_BROKEN_PIPE
