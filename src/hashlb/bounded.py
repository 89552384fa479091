"""Dispatcher for bounded load: compiled ``_bounded_c`` or pure ``_bounded_py``."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from ._compat import USE_EXTENSIONS

__all__ = ("MAX_SHUFFLE_N", "BoundedLoad", "Lease")

if TYPE_CHECKING or not USE_EXTENSIONS:
    from . import _bounded_py as _twin
    from ._bounded_py import MAX_SHUFFLE_N, BoundedLoad, Lease
else:
    from . import _bounded_c as _twin
    from ._bounded_c import MAX_SHUFFLE_N, BoundedLoad, Lease

from ._public import publish as _publish

_publish(__name__, [Lease])  # help() names this module (hashlb exports BoundedLoad)
del _publish

# Test helpers that were public by mistake: importable for one more release, with a warning.
_DEPRECATED = ("mt19937", "probe_order")


def __getattr__(name: str) -> Any:
    if name in _DEPRECATED:
        import warnings

        warnings.warn(
            f"hashlb.bounded.{name} is a test helper, deprecated as public API; "
            "it will be removed in the next release",
            DeprecationWarning,
            stacklevel=2,
        )
        return getattr(_twin, "_" + name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
