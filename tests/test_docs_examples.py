"""Every docs page's examples work when copied literally into a fresh ``python``.

Each page runs through ``docs/_tools/run_examples.py`` in its own interpreter,
from the repository root, with nothing imported for it (no
``doctest_global_setup``, no ``testsetup``): the ``.. doctest::`` blocks, bare
``>>>`` blocks, ``testcode``/``testoutput`` pairs and ``python`` code blocks,
in page order, in one namespace, as a reader pasting them one after the other.

:data:`KNOWN_BROKEN` lists the pages another change owns and has not converted
yet; each must still fail, so the list only shrinks.  The Sphinx doctest
builder (``docs/_ext/hashlb_doctest.py``) has no global setup either, except
for the pages in its ``HIDDEN_SETUP``: those whose autodoc'd docstring
examples (in files another change owns) use names they do not import.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

import hashlb

ROOT = Path(__file__).resolve().parent.parent
DOCS = ROOT / "docs"
RUNNER = DOCS / "_tools" / "run_examples.py"

sys.path.insert(0, str(RUNNER.parent))
try:
    import run_examples
finally:
    sys.path.pop(0)

#: Pages whose examples do not run as shown yet, and why.
KNOWN_BROKEN: set[str] = set()


def _pages() -> list[str]:
    """The pages with at least one example."""
    return sorted(
        str(p.relative_to(DOCS))
        for p in DOCS.rglob("*.rst")
        if "_build" not in p.parts and run_examples.extract(p.read_text(encoding="utf-8"))
    )


def _run(page: str) -> subprocess.CompletedProcess[str]:
    env = dict(os.environ)
    # the hashlb this test run imports (the source tree's, or an installed wheel's)
    here = str(Path(hashlb.__file__).resolve().parent.parent)
    env["PYTHONPATH"] = here + (os.pathsep + env["PYTHONPATH"] if env.get("PYTHONPATH") else "")
    return subprocess.run(
        [sys.executable, str(RUNNER), str(Path("docs") / page)],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )


@pytest.mark.parametrize("page", _pages())
def test_page_examples_run_as_shown(page: str) -> None:
    done = _run(page)
    if page in KNOWN_BROKEN:
        assert done.returncode == 1, f"{page} runs as shown now: remove it from KNOWN_BROKEN"
        return
    assert done.returncode == 0, done.stdout + done.stderr


def test_known_lists_name_real_pages() -> None:
    sys.path.insert(0, str(DOCS / "_ext"))
    try:
        import hashlb_doctest
    finally:
        sys.path.pop(0)
    for page in KNOWN_BROKEN:
        assert (DOCS / page).is_file(), page
    for docname in hashlb_doctest.HIDDEN_SETUP:
        assert (DOCS / f"{docname}.rst").is_file(), docname


def test_runner_counts_hidden_setup_and_missing_imports(tmp_path: Path) -> None:
    """The runner itself: a hidden import fails, a visible one passes, outputs are compared."""
    good = tmp_path / "good.rst"
    good.write_text(
        "Title\n=====\n\n.. doctest::\n\n   >>> import math\n   >>> math.floor(2.5)\n   2\n\n"
        "Text::\n\n   >>> not run: a literal block\n\n"
        ">>> math.ceil(2.5)\n3\n\n"
        ".. testcode::\n\n   print(math.pi > 3)\n\n.. testoutput::\n\n   True\n\n"
        ".. code-block:: python\n\n   x = math.sqrt(4)\n\n"
        ".. doctest::\n   :options: +NORMALIZE_WHITESPACE\n\n   >>> [x,   x]\n   [2.0, 2.0]\n"
        ".. code-block:: python\n   :caption: Sketch: not complete\n\n   await undefined()\n"
    )
    blocks = run_examples.extract(good.read_text())
    assert [b.kind for b in blocks] == ["doctest", "doctest", "code", "output", "code", "doctest"]
    assert run_examples.run_page(good) == []
    hidden = tmp_path / "hidden.rst"
    hidden.write_text(
        ".. testsetup::\n\n   import math\n\n.. doctest::\n\n   >>> math.floor(2.5)\n   2\n"
    )
    failures = run_examples.run_page(hidden)
    assert len(failures) == 2, failures
    assert "hidden testsetup" in failures[0] and "NameError" in failures[1]
    wrong = tmp_path / "wrong.rst"
    wrong.write_text(".. testcode::\n\n   print(1)\n\n.. testoutput::\n\n   2\n")
    assert "output differs" in run_examples.run_page(wrong)[0]
