"""Module ``__getattr__``/``__dir__`` for the deprecated aliases ``cli.mesh`` and ``cli.source``."""

from __future__ import annotations

import importlib
import warnings
from collections.abc import Callable, Mapping
from typing import Any

#: Per deprecated module, where each of its names lives now.
MOVED: Mapping[str, Mapping[str, str]] = {
    "hashlb.cli.mesh": {
        "HOST_LABEL": "hashlb.istio",
        "Destination": "hashlb.istio",
        "Endpoint": "hashlb.istio",
        "HashKey": "hashlb.istio",
        "LoadBalancer": "hashlb.istio",
        "Mesh": "hashlb.istio",
        "Pod": "hashlb.istio",
        "RoutePlan": "hashlb.istio",
        "Scenario": "hashlb.istio",
        "load_mesh": "hashlb.istio",
        "match_regex": "hashlb.istio",
        "resolve_host": "hashlb.istio",
    },
    "hashlb.cli.source": {
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
    },
}


def moved(old: str) -> tuple[Callable[[str], Any], Callable[[], list[str]]]:
    """Return ``(__getattr__, __dir__)`` for module *old*, whose names (:data:`MOVED`) live elsewhere.

    Each name taken from *old* emits a :class:`DeprecationWarning` and returns
    the object of its new module; ``import old`` alone stays quiet.
    """

    names = MOVED[old]

    def __getattr__(name: str) -> Any:
        module = names.get(name)
        if module is None:
            raise AttributeError(f"module {old!r} has no attribute {name!r}")
        warnings.warn(
            f'{old}.{name} is deprecated: import it from {module} (pip install "hashlb[istio]")',
            DeprecationWarning,
            stacklevel=2,
        )
        return getattr(importlib.import_module(module), name)

    def __dir__() -> list[str]:
        return sorted(names)

    return __getattr__, __dir__
