"""The single switch between the compiled and the pure-Python implementation.

``HASHLB_NO_EXTENSIONS`` means the same thing at build time (``setup.py``
skips compiling) and at run time (the pure twins are used even when the
extensions are installed).  Nothing else in the package reads it.

The choice is made once, here, for every unit together: each compiled twin
``hashlb._<unit>_c`` is imported on trial, and only if *all* of them load
are they used (:data:`IMPLEMENTATION` is then ``"c"``).  A partial build
never mixes twins: if one extension fails to import, every dispatcher takes
its pure twin and :data:`EXTENSION_ERROR` says why.
"""

from __future__ import annotations

import importlib
import os
import sys

__all__ = (
    "EXTENSION_ERROR",
    "IMPLEMENTATION",
    "IS_CPYTHON",
    "NO_EXTENSIONS",
    "UNITS",
    "USE_EXTENSIONS",
)

#: The accelerated units: each has ``_<unit>_c`` (compiled) and ``_<unit>_py``.
UNITS: tuple[str, ...] = (
    "bounded",
    "hashing",
    "keyindex",
    "maglev",
    "policy",
    "request",
    "ring",
    "router",
    "subset",
)
#: True when ``HASHLB_NO_EXTENSIONS`` is set to a non-empty value.
NO_EXTENSIONS: bool = bool(os.environ.get("HASHLB_NO_EXTENSIONS"))
#: The extensions are built for CPython only.
IS_CPYTHON: bool = sys.implementation.name == "cpython"


def _load_extensions() -> str | None:
    """Import every compiled twin; return None, or why one could not be imported."""
    if NO_EXTENSIONS:
        return "HASHLB_NO_EXTENSIONS is set"
    if not IS_CPYTHON:
        return f"the extensions are built for CPython only, not {sys.implementation.name}"
    for unit in UNITS:
        try:
            importlib.import_module(f"hashlb._{unit}_c")
        except ImportError as exc:
            return f"hashlb._{unit}_c: {exc}"
    return None


#: None when the compiled twins are in use, else the reason they are not.
EXTENSION_ERROR: str | None = _load_extensions()
#: Whether the dispatchers use the compiled ``_*_c`` modules (all of them, or none).
USE_EXTENSIONS: bool = EXTENSION_ERROR is None
#: ``"c"`` when every compiled twin is in use, else ``"py"``.
IMPLEMENTATION: str = "c" if USE_EXTENSIONS else "py"
