"""Batch-lookup plumbing shared by every table and both twins (plain Python).

One batch contract for every table (``RingHash``, ``Maglev``) and both twins:

* ``lookup_many`` takes any C-contiguous uint64 buffer (``numpy.uint64``
  arrays, ``array('Q')``) without copying, or an iterable of ints (copied
  once into an ``array('Q')``): :func:`hash_buffer`;
* ``pick_many`` is "hash the keys, then ``lookup_many``": it takes a
  sequence (or iterable) of str/bytes-like keys, refused by
  :func:`check_keys` / :func:`keys_error` with the same messages on every
  table;
* both return host indices as ``uint32``, chosen by :func:`index_output`
  from the input alone: a numpy array when the input was a numpy array,
  else ``array('I')`` (also when the table is empty: then of length 0).

``np_xxh64_u64`` is the numpy form of the 8-byte xxh64 (``hlb_xxh64_u64``
in ``_hashkernels.h``), for the pure twins' batch paths and ``hashlb bench``.
"""

from __future__ import annotations

import sys
from array import array
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

from ._validate import check_key_array

if TYPE_CHECKING:
    from ._types import HostIndices

__all__ = (
    "batch_output",
    "check_keys",
    "hash_buffer",
    "index_output",
    "is_numpy",
    "key_sequence",
    "keys_error",
    "lookup_args",
    "np_xxh64_u64",
    "pick_args",
    "pick_hashes",
)

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


def keys_error(keys: object) -> TypeError:
    """Return the error for *keys* that is not a sequence of keys (``pick_many``)."""
    return TypeError(f"keys must be a sequence of keys, not {type(keys).__name__}")


def check_keys(keys: object) -> None:
    """Refuse *keys* that ``pick_many`` must not iterate as keys.

    A single str or bytes-like object (whose items are characters or ints)
    and a numpy array that :func:`~hashlb._validate.check_key_array` refuses.
    Both twins of every table call it for anything but a list or tuple.

    :raises TypeError: :func:`keys_error`, or check_key_array's message.
    """
    if isinstance(keys, (str, bytes, bytearray, memoryview)):
        raise keys_error(keys)
    check_key_array(keys)


def pick_hashes(keys: object, hash_key: Any) -> Any:
    """Return ``hash_key(key, name)`` of every key, as ``lookup_many`` input (pure twins).

    *hash_key* is called with each key and its name ``keys[i]`` (for the
    error message).  The result is a ``numpy.uint64`` array for a numpy
    array of keys, else a list, so that ``lookup_many`` of it gives the
    output type :func:`index_output` gives for *keys*.

    :raises TypeError: :func:`check_keys`, or *keys* is not iterable.
    """
    check_keys(keys)
    try:
        seq: tuple[object, ...] = tuple(keys)  # type: ignore[arg-type]  # a snapshot
    except TypeError:
        raise keys_error(keys) from None
    hashes = [hash_key(k, f"keys[{i}]") for i, k in enumerate(seq)]
    if is_numpy(keys):
        import numpy as np

        return np.array(hashes, dtype=np.uint64)
    return hashes


def index_output(n: int, numpy_like: object = None) -> Any:
    """Return a writable uint32 array of length *n* for host indices.

    The numpy array is uninitialized: callers write every item.

    A numpy array when *numpy_like* is a numpy array, else ``array('I')``.
    """
    if numpy_like is not None and is_numpy(numpy_like):
        import numpy as np

        return np.empty(n, dtype=np.uint32)  # every item is written by the caller
    return array("I", _ZERO_U32) * n


def batch_output(n: int, like: object, out: Any, searching: bool) -> HostIndices:
    """Return the output of a batch of *n* rows: *out* (checked), else :func:`index_output`.

    A given *out* (a numpy ``uint32`` array of *n* items, see
    ``_columns.check_out``) always takes *n* rows: when not *searching* (an
    empty table) every row is ``NO_HOST``.  Without it the result is
    :func:`index_output` of *n* items for *like*, or of none when not
    *searching*.
    """
    if out is None:
        fresh: HostIndices = index_output(n if searching else 0, like)
        return fresh
    from ._columns import NO_HOST, check_out

    check_out(out, n, "uint32")
    if not searching:
        out.fill(NO_HOST)
    given: HostIndices = out
    return given


def lookup_args(hashes: object, searching: bool, out: Any = None) -> tuple[memoryview, Any]:
    """Return ``(view, out)`` for a compiled ``lookup_many``: :func:`hash_buffer` and its output.

    *out* is :func:`batch_output` of ``len(view)`` items.
    """
    view = hash_buffer(hashes)
    return view, batch_output(len(view), hashes, out, searching)


def key_sequence(keys: object) -> list[object] | tuple[object, ...]:
    """Return *keys* as a list or tuple: as is, or checked by :func:`check_keys` and copied.

    :raises TypeError: :func:`check_keys`, or :func:`keys_error` when *keys*
        is not iterable.
    """
    if isinstance(keys, (list, tuple)) and type(keys) in (list, tuple):
        return keys
    check_keys(keys)
    try:
        return list(keys)  # type: ignore[call-overload, no-any-return]
    except TypeError:
        raise keys_error(keys) from None


def pick_args(
    keys: object, searching: bool, out: Any = None
) -> tuple[list[object] | tuple[object, ...], Any]:
    """Return ``(seq, out)`` for a compiled ``pick_many``: the keys as a list or tuple, and the output.

    The keys are :func:`key_sequence` (a list or tuple is returned as is:
    the compiled twins read it in place); *out* is :func:`batch_output` of
    ``len(seq)`` items.

    :raises TypeError: :func:`key_sequence`'s.
    """
    seq = key_sequence(keys)
    return seq, batch_output(len(seq), keys, out, searching)


def np_xxh64_u64(np: Any, values: Any, seed: int = 0) -> Any:
    """Return xxh64 of the 8 little-endian bytes of every uint64 in *values*, vectorized.

    Item *k* equals ``xxh64(int(values[k]).to_bytes(8, "little"), seed)``
    (the C twins' ``hlb_xxh64_u64``).  *np* is the numpy module, which the
    caller has imported (numpy is optional).
    """
    u = np.uint64
    p1, p2, p3 = u(0x9E3779B185EBCA87), u(0xC2B2AE3D27D4EB4F), u(0x165667B19E3779F9)
    p4 = u(0x85EBCA77C2B2AE63)
    with np.errstate(over="ignore"):  # wrapping is the algorithm (numpy scalars warn)
        k1 = values * p2
        k1 = ((k1 << u(31)) | (k1 >> u(33))) * p1
        h = k1 ^ u((seed + 0x27D4EB2F165667C5 + 8) & 0xFFFFFFFFFFFFFFFF)
        h = ((h << u(27)) | (h >> u(37))) * p1 + p4
        h ^= h >> u(33)
        h *= p2
        h ^= h >> u(29)
        h *= p3
        h ^= h >> u(32)
    return h
