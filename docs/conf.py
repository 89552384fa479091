"""Sphinx configuration for hashlb (built in CI with -W)."""

from __future__ import annotations

import hashlb

project = "hashlb"
author = "hashlb developers"
copyright = "2026, hashlb developers"
release = hashlb.__version__
version = release

extensions = [
    "sphinx.ext.autodoc",
    "sphinx.ext.doctest",
    "sphinx.ext.viewcode",
]
# NOTE: no intersphinx: CI has no network beyond the package registries.
autodoc_member_order = "bysource"
autodoc_typehints = "description"
autodoc_preserve_defaults = True
nitpicky = False
exclude_patterns = ["_build"]
html_theme = "alabaster"
html_static_path: list[str] = []
doctest_global_setup = "import hashlb\nfrom hashlb import *"
