"""Dispatcher for the weighted subset picker: compiled ``_subset_c`` or pure ``_subset_py``."""

from __future__ import annotations

from typing import TYPE_CHECKING

from ._compat import USE_EXTENSIONS

__all__ = ("Route", "WeightedSubsetPicker")

if TYPE_CHECKING or not USE_EXTENSIONS:
    from ._subset_py import Route, WeightedSubsetPicker
else:
    from ._subset_c import Route, WeightedSubsetPicker
