"""Dispatcher for the ring hash: compiled ``_ring_c`` or pure ``_ring_py``."""

from __future__ import annotations

from typing import TYPE_CHECKING

from ._compat import USE_EXTENSIONS

__all__ = ("RingHash",)

if TYPE_CHECKING or not USE_EXTENSIONS:
    from ._ring_py import RingHash
else:
    from ._ring_c import RingHash
