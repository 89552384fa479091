"""Run a docs page's Python examples as a reader would copy them.

Usage, from the repository root::

    python docs/_tools/run_examples.py docs/how-to/choose-a-hash-key.rst [...]

Every ``.. doctest::`` block, bare ``>>>`` block, ``.. testcode::`` (with
its ``.. testoutput::``) and ``.. code-block:: python`` / ``pycon`` of the
page (except a fragment captioned ``:caption: Sketch...``, which says so
where the reader sees it) runs in order in one fresh namespace -- nothing is imported for it,
unlike Sphinx's ``doctest_global_setup`` -- with the current directory as
the working directory and first on ``sys.path``, as in an interactive
``python`` started there.  A ``testsetup`` block is a failure in itself: its
code is hidden from the reader.  Prints one line per failure and exits 1 if
any example failed, 0 otherwise (also for a page without examples).

``tests/test_docs_examples.py`` runs every page through this script, each in
its own interpreter.
"""

from __future__ import annotations

import contextlib
import doctest
import io
import re
import sys
import traceback
from dataclasses import dataclass, field
from pathlib import Path

#: The directives whose body is Python the reader sees and copies.
_DIRECTIVE = re.compile(
    r"^(?P<indent>\s*)\.\. (?P<name>doctest|testcode|testoutput|testsetup|testcleanup"
    r"|code-block|code|sourcecode)::\s*(?P<arg>\S*)"
)
_PYTHON = {"python", "python3", "py", "pycon", "pycon3"}
_OPTION = re.compile(r"^\s*:(?P<name>[\w-]+):\s*(?P<value>.*)$")
#: Sphinx's ``doctest_default_flags``.
_FLAGS = doctest.ELLIPSIS | doctest.IGNORE_EXCEPTION_DETAIL | doctest.DONT_ACCEPT_TRUE_FOR_1


@dataclass
class Block:
    """One example of a page."""

    kind: str  # "doctest", "code", "output" or "setup"
    line: int  # 1-based line of the directive (or of the first ``>>>``)
    text: str
    options: dict[str, str] = field(default_factory=dict)


def _body(lines: list[str], start: int, indent: int) -> tuple[list[str], int]:
    """Return the lines indented deeper than *indent* from *start*, and the next index."""
    body: list[str] = []
    i = start
    while i < len(lines):
        line = lines[i]
        if line.strip() and len(line) - len(line.lstrip()) <= indent:
            break
        body.append(line)
        i += 1
    while body and not body[-1].strip():
        body.pop()
    return body, i


def _dedent(body: list[str]) -> str:
    widths = [len(b) - len(b.lstrip()) for b in body if b.strip()]
    cut = min(widths, default=0)
    return "\n".join(b[cut:] for b in body) + "\n"


def extract(text: str) -> list[Block]:
    """Return the Python examples of one reST page, in page order."""
    lines = text.splitlines()
    blocks: list[Block] = []
    i = 0
    literal_indent: int | None = None  # inside a ``::`` literal block
    while i < len(lines):
        line = lines[i]
        indent = len(line) - len(line.lstrip())
        if literal_indent is not None:
            if line.strip() and indent <= literal_indent:
                literal_indent = None
            else:
                i += 1
                continue
        m = _DIRECTIVE.match(line)
        if m:
            name, arg = m["name"], m["arg"]
            body, nxt = _body(lines, i + 1, indent)
            options: dict[str, str] = {}
            while body and (om := _OPTION.match(body[0])):
                options[om["name"]] = om["value"]
                body.pop(0)
            while body and not body[0].strip():
                body.pop(0)
            code = _dedent(body) if any(b.strip() for b in body) else ""
            if name in {"code-block", "code", "sourcecode"}:
                # a fragment says so where the reader sees it: ":caption: Sketch ..."
                sketch = options.get("caption", "").lower().startswith("sketch")
                if arg in _PYTHON and not sketch:
                    kind = "doctest" if code.lstrip().startswith(">>>") else "code"
                    blocks.append(Block(kind, i + 1, code, options))
            elif name == "doctest":
                blocks.append(Block("doctest", i + 1, code, options))
            elif name == "testcode":
                blocks.append(Block("code", i + 1, code, options))
            elif name == "testoutput":
                blocks.append(Block("output", i + 1, code, options))
            else:  # testsetup / testcleanup: hidden from the reader
                blocks.append(Block("setup", i + 1, code, options))
            i = nxt
            continue
        if line.lstrip().startswith(">>>"):
            body, nxt = [], i
            while nxt < len(lines) and lines[nxt].strip():
                body.append(lines[nxt])
                nxt += 1
            blocks.append(Block("doctest", i + 1, _dedent(body)))
            i = nxt
            continue
        if line.rstrip().endswith("::") and not line.lstrip().startswith(".."):
            literal_indent = indent
        elif line.lstrip().startswith("..") and line.rstrip().endswith("::"):
            # another directive (list-table, note, ...): its body is reST, read on
            pass
        i += 1
    return blocks


def _flags(options: dict[str, str]) -> int:
    flags = _FLAGS
    for word in options.get("options", "").replace(",", " ").split():
        name = word[1:]
        if name in doctest.OPTIONFLAGS_BY_NAME:
            if word.startswith("+"):
                flags |= doctest.OPTIONFLAGS_BY_NAME[name]
            elif word.startswith("-"):
                flags &= ~doctest.OPTIONFLAGS_BY_NAME[name]
    return flags


def run_page(path: Path) -> list[str]:
    """Run the examples of *path*; return one message per failure."""
    blocks = extract(path.read_text(encoding="utf-8"))
    globs: dict[str, object] = {"__name__": "__main__"}
    failures: list[str] = []
    parser = doctest.DocTestParser()
    pending: tuple[Block, str] | None = None  # a testcode block and what it printed
    for block in blocks:
        where = f"{path}:{block.line}"
        if block.kind == "setup":
            failures.append(f"{where}: a hidden testsetup/testcleanup block (show the code)")
            continue
        if block.kind == "output":
            if pending is None:
                failures.append(f"{where}: testoutput without a testcode block before it")
                continue
            _, got = pending
            pending = None
            checker = doctest.OutputChecker()
            if not checker.check_output(block.text, got, _flags(block.options)):
                failures.append(
                    f"{where}: output differs\n--- expected\n{block.text}--- got\n{got}"
                )
            continue
        if block.kind == "code":
            out = io.StringIO()
            try:
                with contextlib.redirect_stdout(out):
                    exec(compile(block.text, where, "exec"), globs)
            except Exception:
                failures.append(f"{where}: raised\n{traceback.format_exc(limit=-3)}")
            pending = (block, out.getvalue())
            continue
        test = parser.get_doctest(block.text, globs, where, str(path), block.line)
        report = io.StringIO()
        runner = doctest.DocTestRunner(optionflags=_flags(block.options))
        result = runner.run(test, out=report.write, clear_globs=False)
        globs.update(test.globs)  # DocTest runs on a copy: carry the names to the next block
        if result.failed:
            failures.append(
                f"{where}: {result.failed} of {result.attempted} failed\n{report.getvalue()}"
            )
    return failures


def main(argv: list[str]) -> int:
    """Run the pages named in *argv*; return the exit code."""
    sys.path[0] = str(Path.cwd())  # like ``python`` started in the working directory
    failed = 0
    for name in argv:
        for failure in run_page(Path(name)):
            print(failure)
            failed += 1
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
