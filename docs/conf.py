"""Sphinx configuration for hashlb (built in CI with -W)."""

from __future__ import annotations

import atexit
import os
import shutil
import stat
import sys
import tempfile
from pathlib import Path

import hashlb

DOCS = Path(__file__).resolve().parent
ROOT = DOCS.parent
sys.path.insert(0, str(DOCS / "_ext"))

project = "hashlb"
author = "hashlb developers"
copyright = "2026, hashlb developers"
release = hashlb.__version__
version = release

extensions = [
    "sphinx.ext.autodoc",
    "sphinx.ext.doctest",
    "sphinx.ext.viewcode",
    "sphinx_copybutton",
    "sphinxcontrib.programoutput",
    "hashlb_doctest",
]
# NOTE: no intersphinx: CI has no network beyond the package registries.
autodoc_member_order = "bysource"
autodoc_typehints = "description"
autodoc_preserve_defaults = True
nitpicky = False
exclude_patterns = ["_build", "_tools"]

# Furo: a fluid layout (the content column grows with the window and wide
# blocks scroll instead of being cut; docs/_tools/screenshots.py checks it).
html_theme = "furo"
html_title = f"hashlb {release}"
html_static_path = ["_static"]
html_css_files = ["hashlb.css"]

# The copy button copies the command or the code, never the prompts
# (``>>> ``, ``... ``, ``$ ``) nor the output lines.
copybutton_prompt_text = r">>> |\.\.\. |\$ "
copybutton_prompt_is_regexp = True
copybutton_only_copy_prompt_lines = True
copybutton_copy_empty_lines = False
copybutton_exclude = ".linenos"

# CLI sessions (``.. command-output::``) are produced by running the command
# at build time, from the repository root, on the files under examples/.
# ``hashlb`` is the interpreter building the docs (``python -m hashlb``), so
# the page shows the output of the hashlb being documented.
programoutput_prompt_template = "$ {command}\n{output}"
_bin = Path(tempfile.mkdtemp(prefix="hashlb-docs-bin-"))
atexit.register(shutil.rmtree, _bin, ignore_errors=True)
_src = Path(hashlb.__file__).resolve().parent.parent
(_bin / "hashlb").write_text(
    f'#!/bin/sh\nPYTHONPATH="{_src}${{PYTHONPATH:+:$PYTHONPATH}}" exec "{sys.executable}" -m hashlb "$@"\n'
)
(_bin / "hashlb").chmod(stat.S_IRWXU)
os.environ["PATH"] = f"{_bin}{os.pathsep}{os.environ.get('PATH', '')}"
os.environ.setdefault("COLUMNS", "100")

# Every example on a page is complete as shown: it imports what it uses, so
# there is no global doctest setup.  The pages listed in
# docs/_ext/hashlb_doctest.py (HIDDEN_SETUP) still rely on the old hidden
# ``from hashlb import *`` and get it until they are converted;
# tests/test_docs_examples.py runs every other page in a fresh interpreter.
doctest_global_setup = ""
