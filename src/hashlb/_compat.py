"""The single switch between the compiled and the pure-Python implementation.

``HASHLB_NO_EXTENSIONS`` means the same thing at build time (``setup.py``
skips compiling) and at run time (the pure twins are used even when the
extensions are installed).  Nothing else in the package reads it.
"""

from __future__ import annotations

import os
import sys

__all__ = ("IS_CPYTHON", "NO_EXTENSIONS", "USE_EXTENSIONS")

#: True when ``HASHLB_NO_EXTENSIONS`` is set to a non-empty value.
NO_EXTENSIONS: bool = bool(os.environ.get("HASHLB_NO_EXTENSIONS"))
#: The extensions are built for CPython only.
IS_CPYTHON: bool = sys.implementation.name == "cpython"
#: Whether dispatchers should try the compiled ``_*_c`` modules.
USE_EXTENSIONS: bool = not NO_EXTENSIONS and IS_CPYTHON
