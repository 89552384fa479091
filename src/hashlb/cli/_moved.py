"""Module ``__getattr__``/``__dir__`` for the deprecated aliases ``cli.mesh`` and ``cli.source``."""

from __future__ import annotations

import importlib
import warnings
from collections.abc import Callable, Mapping
from typing import Any


def moved(
    old: str, names: Mapping[str, str]
) -> tuple[Callable[[str], Any], Callable[[], list[str]]]:
    """Return ``(__getattr__, __dir__)`` for module *old*, whose *names* now live elsewhere.

    Each name taken from *old* emits a :class:`DeprecationWarning` and returns
    the object of its new module; ``import old`` alone stays quiet.
    """

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
