"""The implementation facade that runs every test on both twins.

Each accelerated unit ``X`` has ``hashlb/_X_c`` (compiled) and
``hashlb/_X_py`` (pure).  ``impl`` is parametrized over ``c`` and ``py``;
``impl.<Name>`` finds the public name in that twin's modules, so a test body
written once runs against both.  The ``c`` param carries the
``c_extension`` marker, which ``--no-c-extensions`` deselects (never skips),
so a pure run says exactly what it ran.
"""

from __future__ import annotations

import importlib
import pkgutil
from dataclasses import dataclass
from functools import cached_property
from types import ModuleType
from typing import Any

import hashlb


def units() -> list[str]:
    """Return the accelerated units: every ``hashlb._<unit>_py`` module."""
    return sorted(
        m.name[1:-3]
        for m in pkgutil.iter_modules(hashlb.__path__)
        if m.name.startswith("_") and m.name.endswith("_py")
    )


@dataclass(frozen=True)
class Implementation:
    """One of the two twins: ``c`` (compiled) or ``py`` (pure Python)."""

    tag: str

    def __str__(self) -> str:
        return self.tag

    @property
    def is_pure_python(self) -> bool:
        """Return True for the pure-Python twin."""
        return self.tag == "py"

    def module(self, unit: str) -> ModuleType:
        """Return this twin's module for *unit* (``hashing``, ``maglev``, …)."""
        return importlib.import_module(f"hashlb._{unit}_{self.tag}")

    @cached_property
    def modules(self) -> tuple[ModuleType, ...]:
        """Return this twin's modules, one per unit."""
        return tuple(self.module(u) for u in units())

    def __getattr__(self, name: str) -> Any:
        for mod in self.modules:
            if name in getattr(mod, "__all__", ()):
                return getattr(mod, name)
        raise AttributeError(f"no twin module of {self.tag!r} exports {name!r}")


C = Implementation("c")
PY = Implementation("py")
