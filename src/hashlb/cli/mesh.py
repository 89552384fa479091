"""Deprecated alias of the old ``hashlb.cli.mesh``: import from :mod:`hashlb.istio` (this alias goes in the next release).

``import hashlb.cli.mesh`` stays quiet; each name taken from it (``from
hashlb.cli.mesh import load_mesh``) emits a :class:`DeprecationWarning` and
returns the object of :mod:`hashlb.istio`.
"""

from __future__ import annotations

from ._moved import moved

__getattr__, __dir__ = moved(__name__)
