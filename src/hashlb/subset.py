"""Dispatcher for the weighted subset picker: compiled ``_subset_c`` or pure ``_subset_py``.

:class:`Route` lives in the router unit (``hashlb.router``); it stays
importable from here as before.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from ._compat import USE_EXTENSIONS

__all__ = ("Route", "WeightedSubsetPicker")

if TYPE_CHECKING or not USE_EXTENSIONS:
    from ._router_py import Route
    from ._subset_py import WeightedSubsetPicker
else:
    from ._router_c import Route
    from ._subset_c import WeightedSubsetPicker
