"""Dispatcher for Maglev: compiled ``_maglev_c`` or pure ``_maglev_py``."""

from __future__ import annotations

from typing import TYPE_CHECKING

from ._compat import USE_EXTENSIONS

__all__ = ("DEFAULT_TABLE_SIZE", "MAX_TABLE_SIZE", "Maglev")

if TYPE_CHECKING or not USE_EXTENSIONS:
    from ._maglev_py import DEFAULT_TABLE_SIZE, MAX_TABLE_SIZE, Maglev
else:
    from ._maglev_c import DEFAULT_TABLE_SIZE, MAX_TABLE_SIZE, Maglev
