"""Batch-lookup plumbing shared by every table and both twins (plain Python).

``lookup_many`` takes any C-contiguous uint64 buffer (``numpy.uint64``
arrays, ``array('Q')``) without copying, or an iterable of ints (copied once
into an ``array('Q')``).  It returns host indices as ``uint32``: a numpy
array when the input was a numpy array, else ``array('I')``.
"""

from __future__ import annotations

import sys
from array import array
from collections.abc import Iterable
from typing import Any

__all__ = ("hash_buffer", "index_output", "is_numpy")

_ZERO_U32 = array("I", [0])
_U64_FORMATS = frozenset({"Q", "<Q", "=Q", "@Q", "L", "<L", "=L", "@L"})


def is_numpy(obj: object) -> bool:
    """Return True if *obj* is a numpy array (numpy itself is optional)."""
    np = sys.modules.get("numpy")
    return np is not None and isinstance(obj, np.ndarray)


def hash_buffer(hashes: object) -> memoryview:
    """Return *hashes* as a 1-D C-contiguous memoryview of format ``'Q'``.

    :raises TypeError: a buffer whose items are not unsigned 64-bit, or an
        object that is neither a buffer nor an iterable of ints.
    :raises ValueError: an int outside ``[0, 2**64)``.
    """
    if isinstance(hashes, (str, bytes, bytearray)):
        raise TypeError(
            f"hashes must be a uint64 buffer or an iterable of ints, not {type(hashes).__name__}"
        )
    try:
        view = memoryview(hashes)  # type: ignore[arg-type]
    except TypeError:
        view = None
    if view is not None:
        if view.itemsize != 8 or view.format not in _U64_FORMATS or view.ndim != 1:
            raise TypeError(
                "hashes must be a 1-D uint64 buffer (numpy.uint64, array('Q')), "
                f"got format {view.format!r} with {view.ndim} dimension(s)"
            )
        if not view.c_contiguous:
            raise TypeError("hashes must be C-contiguous (use numpy.ascontiguousarray)")
        return view.cast("B").cast("Q")
    if not isinstance(hashes, Iterable):
        raise TypeError(
            f"hashes must be a uint64 buffer or an iterable of ints, not {type(hashes).__name__}"
        )
    try:
        return memoryview(array("Q", hashes))
    except OverflowError:
        bad = next(h for h in hashes if not 0 <= h < 2**64)
        raise ValueError(f"hashes must be in [0, 2**64), got {bad}") from None
    except TypeError as e:
        raise TypeError(f"hashes must be ints: {e}") from None


def index_output(n: int, numpy_like: object = None) -> Any:
    """Return a writable uint32 array of length *n* for host indices.

    The numpy array is uninitialized: callers write every item.

    A numpy array when *numpy_like* is a numpy array, else ``array('I')``.
    """
    if numpy_like is not None and is_numpy(numpy_like):
        import numpy as np

        return np.empty(n, dtype=np.uint32)  # every item is written by the caller
    return array("I", _ZERO_U32) * n
