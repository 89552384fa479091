"""Dispatcher for the key index: compiled ``_keyindex_c`` or pure ``_keyindex_py``.

:class:`KeyIndex` gives the distinct keys of a stream of Arrow text columns
dense ids, exactly, in order of first appearance: what the replay
accumulators (:class:`hashlb.replay.Stickiness`, :class:`hashlb.diff.DiffTally`)
name their users by.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from ._compat import USE_EXTENSIONS

__all__ = ("KeyIndex",)

if TYPE_CHECKING or not USE_EXTENSIONS:
    from ._keyindex_py import KeyIndex
else:
    from ._keyindex_c import KeyIndex
