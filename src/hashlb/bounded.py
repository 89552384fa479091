"""Dispatcher for bounded load: compiled ``_bounded_c`` or pure ``_bounded_py``."""

from __future__ import annotations

from typing import TYPE_CHECKING

from ._compat import USE_EXTENSIONS

__all__ = ("MAX_SHUFFLE_N", "BoundedLoad", "Lease", "mt19937", "probe_order")

if TYPE_CHECKING or not USE_EXTENSIONS:
    from ._bounded_py import MAX_SHUFFLE_N, BoundedLoad, Lease, mt19937, probe_order
else:
    try:
        from ._bounded_c import MAX_SHUFFLE_N, BoundedLoad, Lease, mt19937, probe_order
    except ImportError:  # pragma: no cover - only on a pure (HASHLB_NO_EXTENSIONS) build
        from ._bounded_py import MAX_SHUFFLE_N, BoundedLoad, Lease, mt19937, probe_order
