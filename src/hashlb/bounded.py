"""Dispatcher for bounded load: compiled ``_bounded_c`` or pure ``_bounded_py``."""

from __future__ import annotations

from typing import TYPE_CHECKING

from ._compat import USE_EXTENSIONS

__all__ = ("MAX_SHUFFLE_N", "BoundedLoad", "Lease", "mt19937", "probe_order")

if TYPE_CHECKING or not USE_EXTENSIONS:
    from ._bounded_py import MAX_SHUFFLE_N, BoundedLoad, Lease, mt19937, probe_order
else:
    from ._bounded_c import MAX_SHUFFLE_N, BoundedLoad, Lease, mt19937, probe_order
