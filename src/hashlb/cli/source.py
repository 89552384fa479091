"""Deprecated alias of the old ``hashlb.cli.source``: import from :mod:`hashlb.istio` (this alias goes in the next release).

``import hashlb.cli.source`` stays quiet; each name taken from it (``from
hashlb.cli.source import InputError``) emits a :class:`DeprecationWarning` and
returns the object of :mod:`hashlb.istio`.
"""

from __future__ import annotations

from ._moved import moved

#: Where each name lives now.
_MOVED = {
    "InputError": "hashlb.istio",
    "Where": "hashlb.istio",
    "YAML_SUFFIXES": "hashlb.istio._yaml",
    "Budget": "hashlb.istio._yaml",
    "LDict": "hashlb.istio._yaml",
    "LList": "hashlb.istio._yaml",
    "charge_text": "hashlb.istio._yaml",
    "decode_text": "hashlb.istio._yaml",
    "expand_paths": "hashlb.istio._yaml",
    "load_yaml_documents": "hashlb.istio._yaml",
    "read_input": "hashlb.istio._yaml",
    "read_stdin": "hashlb.istio._yaml",
}


__getattr__, __dir__ = moved(__name__, _MOVED)
