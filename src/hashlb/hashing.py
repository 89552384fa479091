"""Dispatcher for the hash kernels: compiled ``_hashing_c`` or pure ``_hashing_py``."""

from __future__ import annotations

from typing import TYPE_CHECKING

from ._compat import IMPLEMENTATION, USE_EXTENSIONS

__all__ = ("IMPLEMENTATION", "murmur2_64", "murmur3_64", "xxh64", "xxh64_list", "xxh64_many")

if TYPE_CHECKING or not USE_EXTENSIONS:
    from ._hashing_py import murmur2_64, murmur3_64, xxh64, xxh64_list, xxh64_many
else:
    from ._hashing_c import murmur2_64, murmur3_64, xxh64, xxh64_list, xxh64_many
