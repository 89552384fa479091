"""Columnar batch input, shared by both twins of every batch entry point (plain Python).

``xxh64_many``, ``pick_many`` and ``lookup_many`` take whole columns without
making a Python object per row.  This module decides what a column is and
describes it as *chunks*, which the compiled twins read in C
(``_columns.pxd`` over ``_arrow.h``) and the pure twins with numpy
(:func:`py_hashes`, :func:`py_values`); both check every chunk the same way
first (``hlb_col_check`` / :func:`py_check`), so a hostile array raises the
same :class:`ValueError` on both.

A chunk is a tuple ``(kind, length, offset, validity, values, data, vbufs,
width, source)``: *kind* one of the ``K_*`` codes (``_arrow.h``'s
``HLB_COL_*``), *length* rows starting *offset* rows into every buffer,
*validity* a bitmap buffer or None, *values* the offsets / views / items /
hashes buffer, *data* the data buffer of offset layouts, *vbufs* the data
buffers of view layouts, *width* the item size of numpy ``S``/``U`` items,
*source* the numpy array they come from (its items name a key whose code
points have no UTF-8).  Every buffer is an object with the buffer protocol
(a ``pyarrow.Buffer``, a numpy array), read in place.

What is a column (:func:`key_columns`, :func:`hash_columns`):

* a pyarrow ``Array`` or ``ChunkedArray``, and any object with
  ``__arrow_c_array__`` or ``__arrow_c_stream__`` (polars and pandas
  Series, nanoarrow, DuckDB results), imported through pyarrow (zero-copy);
  keys: ``string``, ``large_string``, ``binary``, ``large_binary``,
  ``string_view``, ``binary_view`` (dictionary-encoded ones are decoded
  first); hashes: ``uint64`` and ``int64``; nulls are "no key";
* keys: a 1-D numpy ``S`` or ``U`` array (``U`` hashed as UTF-8, trailing
  NULs stripped as numpy strips them), or a ``StringDType`` array (pyarrow
  converts it to an Arrow string column; its ``na_object`` rows are nulls);
* hashes: a numpy masked ``uint64`` array (masked rows are nulls).

Lists, tuples and other iterables keep the per-item path (``_batch``).
"""

from __future__ import annotations

import sys
from typing import TYPE_CHECKING, Any

import xxhash

from ._validate import as_bytes, short

if TYPE_CHECKING:
    from ._types import HostIndices

__all__ = (
    "NO_HOST",
    "check_out",
    "column_error",
    "hash_columns",
    "key_columns",
    "masked",
    "masked_hashes",
    "need_numpy",
    "null_mask",
    "output",
    "py_check",
    "py_hashes",
    "py_lookup",
    "py_pick",
    "py_values",
    "py_xxh64_many",
    "rows",
    "unsupported",
)

#: The host index of a row with no key (a null) or of an empty table.
NO_HOST = 0xFFFFFFFF

# The chunk kinds: _arrow.h's HLB_COL_* (keep them equal).
K_NULL, K_OFF32, K_OFF64, K_VIEW, K_FIXED, K_UCS4, K_U64, K_I64 = range(8)

# hlb_col_check's error codes (HLB_COL_E_*), as messages.
_ERRORS = {
    1: "a negative length or offset",
    2: "the validity bitmap is shorter than offset + length bits",
    3: "the offsets buffer is shorter than offset + length + 1 offsets",
    4: "the first offset is negative",
    5: "an offset is smaller than the one before it",
    6: "an offset is past the end of the data buffer",
    7: "the views buffer is shorter than offset + length views",
    8: "a view has a negative length",
    9: "a view names a data buffer that does not exist",
    10: "a view reaches outside its data buffer",
    11: "the values buffer is shorter than offset + length items",
    12: "an int64 hash is negative (hashes are in [0, 2**64))",
}

_KEY_TYPES = "string, large_string, binary, large_binary, string_view or binary_view"
_WHAT = (
    "pass a pyarrow Array/ChunkedArray, an object with __arrow_c_array__ or "
    "__arrow_c_stream__, a numpy S/U array, or a list of str/bytes keys"
)
_WHAT_HASHES = (
    "pass a pyarrow uint64/int64 Array/ChunkedArray, an object with __arrow_c_array__ "
    "or __arrow_c_stream__, a uint64 buffer (numpy.uint64) or a list of ints"
)


def need_numpy() -> Any:
    """Return numpy, or raise the ImportError that names the extra."""
    try:
        import numpy
    except ImportError:
        raise ImportError(
            "columnar batches return numpy arrays: install numpy (pip install 'hashlb[columns]')"
        ) from None
    return numpy


def _pyarrow() -> Any:
    try:
        import pyarrow
    except ImportError:
        raise ImportError(
            "reading an Arrow column needs pyarrow: pip install 'hashlb[columns]'"
        ) from None
    return pyarrow


def column_error(code: int, row: int) -> ValueError:
    """Return the error of a chunk that ``hlb_col_check`` / :func:`py_check` refused."""
    return ValueError(f"invalid column at row {row}: {_ERRORS.get(code, 'unknown layout')}")


def unsupported(obj: object, hashes: bool) -> TypeError:
    """Return the TypeError for a column type the batch entry points do not read."""
    name = type(obj).__name__[:60]
    return TypeError(f"unsupported column type {name}: {_WHAT_HASHES if hashes else _WHAT}")


def _arrow_chunks(obj: object, hashes: bool) -> list[Any]:
    """The pyarrow arrays of *obj* (an Arrow array, chunked array or C-interface object)."""
    pa = sys.modules.get("pyarrow")
    if pa is not None and isinstance(obj, pa.ChunkedArray):
        return list(obj.chunks)
    if pa is not None and isinstance(obj, pa.Array):
        return [obj]
    kind = type(obj)
    pa = _pyarrow()
    what = "hashes" if hashes else "keys"
    try:
        if hasattr(kind, "__arrow_c_stream__"):
            chunks = list(pa.chunked_array(obj).chunks)
        else:
            got = pa.array(obj)  # __arrow_c_array__, or a pandas Series / Index
            chunks = list(got.chunks) if isinstance(got, pa.ChunkedArray) else [got]
        for chunk in chunks:  # O(1) a chunk: its length, offset and buffer sizes
            chunk.validate()
    except (pa.ArrowInvalid, pa.ArrowTypeError, pa.ArrowNotImplementedError) as e:
        raise ValueError(f"invalid Arrow column {what!r}: {short(str(e), 200)}") from None
    except UnicodeError:
        raise  # text a key path reports as it is (a numpy U array's lone surrogate)
    except (ValueError, TypeError, SystemError) as e:
        # a producer that is not one: __arrow_c_array__ returning other than two capsules,
        # or an imported array pyarrow cannot even measure (a negative length)
        raise bad_producer(what, obj, e) from None
    return chunks


def bad_producer(what: str, obj: object, e: Exception) -> TypeError:
    """The error of an object that claims the Arrow C data interface and fails it (an
    ``__arrow_c_array__`` without two capsules, a negative length): *what* names it."""
    return TypeError(
        f"{what} is not a valid Arrow C data producer ({type(obj).__name__}): {short(str(e), 200)}"
    )


def _is_arrow(obj: object) -> bool:
    """An Arrow column: pyarrow's, an Arrow C interface object, or a pandas Series / Index."""
    kind = type(obj)
    if hasattr(kind, "__arrow_c_array__") or hasattr(kind, "__arrow_c_stream__"):
        return True
    if kind.__module__.startswith("pandas.") and kind.__name__ in ("Series", "Index"):
        return True  # pandas < 3 has no __arrow_c_stream__ on a Series: pyarrow reads it
    pa = sys.modules.get("pyarrow")
    return pa is not None and isinstance(obj, (pa.Array, pa.ChunkedArray))


def _looks_columnar(obj: object) -> bool:
    """A column-like object that no path reads (it must not be iterated row by row)."""
    kind = type(obj)
    return any(
        hasattr(kind, a)
        for a in ("__array__", "__array_interface__", "__arrow_c_schema__", "__dataframe__")
    )


def _array_chunk(arr: Any, hashes: bool) -> tuple[Any, ...]:
    """The chunk of one pyarrow array."""
    pa = sys.modules["pyarrow"]
    t = pa.types
    typ = arr.type
    if t.is_dictionary(typ):
        arr = arr.dictionary_decode()
        typ = arr.type
    bufs = arr.buffers()
    n, off = len(arr), arr.offset
    validity = bufs[0] if arr.null_count != 0 and bufs and bufs[0] is not None else None
    if t.is_null(typ):
        return (K_NULL, n, off, None, None, None, (), 0, None)
    if hashes:
        if t.is_uint64(typ) or t.is_int64(typ):
            kind = K_U64 if t.is_uint64(typ) else K_I64
            return (kind, n, off, validity, bufs[1], None, (), 0, None)
        raise TypeError(f"hashes must be an Arrow uint64 or int64 column, not {str(typ)[:60]}")
    if t.is_string(typ) or t.is_binary(typ):
        return (K_OFF32, n, off, validity, bufs[1], bufs[2], (), 0, None)
    if t.is_large_string(typ) or t.is_large_binary(typ):
        return (K_OFF64, n, off, validity, bufs[1], bufs[2], (), 0, None)
    if t.is_string_view(typ) or t.is_binary_view(typ):
        return (K_VIEW, n, off, validity, bufs[1], None, tuple(bufs[2:]), 0, None)
    raise TypeError(f"keys must be an Arrow {_KEY_TYPES} column, not {str(typ)[:60]}")


def key_columns(keys: object) -> list[tuple[Any, ...]] | None:
    """Return the chunks of a key column, or None for a list/iterable of keys.

    :raises TypeError: a column of a type no key path reads (:func:`unsupported`).
    :raises ImportError: an Arrow object without pyarrow installed.
    """
    if type(keys) is list or type(keys) is tuple:
        return None
    np = sys.modules.get("numpy")
    if np is not None and isinstance(keys, np.ndarray):
        if keys.ndim == 1 and keys.dtype.kind == "T":  # StringDType: pyarrow converts it in C
            return [_array_chunk(a, False) for a in _arrow_chunks(_pyarrow().array(keys), False)]
        if keys.ndim != 1 or keys.dtype.kind not in "SU":
            return None  # object arrays: per item; the rest: check_key_array refuses
        # UCS4 code points are read in native byte order: a big-endian ``>U`` array
        # is converted (a copy), never misread.
        a = np.ascontiguousarray(keys, dtype=keys.dtype.newbyteorder("="))
        kind = K_FIXED if a.dtype.kind == "S" else K_UCS4
        size = a.dtype.itemsize
        raw = a.view(np.uint8) if size else np.empty(0, np.uint8)
        return [(kind, len(a), 0, None, raw, None, (), size, a)]
    if _is_arrow(keys):
        return [_array_chunk(a, False) for a in _arrow_chunks(keys, False)]
    if _looks_columnar(keys):
        raise unsupported(keys, False)
    return None


def text_arrays(keys: object) -> list[Any]:
    """The pyarrow arrays of an Arrow text column, for ``KeyIndex.ids`` (both twins).

    ``string``, ``large_string`` and ``string_view`` chunks as they are,
    dictionary ones decoded.  The twins check each (``hlb_col_check``,
    :func:`py_check`) before they read it.

    :raises TypeError: not an Arrow column, or not of text.
    """
    if not _is_arrow(keys):
        raise TypeError(
            "keys must be an Arrow string column (a pyarrow Array or ChunkedArray, or an "
            f"object with __arrow_c_array__ / __arrow_c_stream__), not {type(keys).__name__[:60]}"
        )
    pa = _pyarrow()
    out = []
    for a in _arrow_chunks(keys, False):
        t = a.type
        if pa.types.is_dictionary(t):
            if not (pa.types.is_string(t.value_type) or pa.types.is_large_string(t.value_type)):
                raise TypeError(f"keys must be an Arrow string column, not {str(t)[:60]}")
            a = a.dictionary_decode()
        t = a.type
        if not (pa.types.is_string(t) or pa.types.is_large_string(t) or pa.types.is_string_view(t)):
            raise TypeError(f"keys must be an Arrow string column, not {str(a.type)[:60]}")
        out.append(a)
    return out


def restore_key_index(cls: Any, max_keys: int, keys: Any) -> Any:
    """Rebuild a pickled ``KeyIndex`` of either twin: its keys, in id order."""
    index = cls(max_keys=max_keys)
    index.ids(keys)
    return index


def hash_columns(hashes: object) -> list[tuple[Any, ...]] | None:
    """Return the chunks of a hash column (Arrow, numpy masked), or None for the buffer path.

    :raises TypeError: an Arrow column that is not uint64/int64.
    """
    if type(hashes) is list or type(hashes) is tuple:
        return None
    np = sys.modules.get("numpy")
    if np is not None and isinstance(hashes, np.ma.MaskedArray):
        return [masked_hashes(np, hashes)]
    if _is_arrow(hashes):
        if np is not None and _pandas_u64(hashes):
            data = hashes.to_numpy(copy=False)  # type: ignore[attr-defined]  # zero-copy
            if data.flags.c_contiguous:  # a strided view (s[::2]) goes through Arrow
                return [(K_U64, len(data), 0, None, data, None, (), 0, None)]
        return [_array_chunk(a, True) for a in _arrow_chunks(hashes, True)]
    return None


def _pandas_u64(obj: object) -> bool:
    """A pandas Series / Index over a numpy uint64 array (no nulls): read it in place.

    pandas' own ``__arrow_c_stream__`` goes through a pyarrow conversion that
    costs a fifth of a lookup; ``to_numpy(copy=False)`` is the array itself.
    """
    module = type(obj).__module__  # "pandas" (pandas 3) or "pandas.core.series"
    if module != "pandas" and not module.startswith("pandas."):
        return False
    np = sys.modules["numpy"]  # pandas imports it
    dtype = getattr(obj, "dtype", None)
    return isinstance(dtype, np.dtype) and dtype == np.dtype(np.uint64)


def masked_hashes(np: Any, arr: Any) -> tuple[Any, ...]:
    """The chunk of a 1-D masked uint64 array: its data, and the unmasked rows as validity."""
    if arr.ndim != 1 or arr.dtype != np.uint64:
        raise TypeError(f"a masked hashes array must be 1-D uint64, not {str(arr.dtype)[:40]}")
    data = np.ascontiguousarray(arr.data)
    mask = np.ma.getmaskarray(arr)
    validity = np.packbits(~mask, bitorder="little") if mask.any() else None
    return (K_U64, len(data), 0, validity, data, None, (), 0, None)


def check_out(out: Any, n: int, dtype: str) -> Any:
    """Return *out* if it can take *n* rows of *dtype* (``uint32``/``uint64``), else raise.

    :raises TypeError: not a numpy array, or of another dtype.
    :raises ValueError: not 1-D of length *n*, not C-contiguous, or read-only.
    """
    np = need_numpy()
    if not isinstance(out, np.ndarray):
        raise TypeError(f"out must be a numpy {dtype} array, not {type(out).__name__[:60]}")
    if out.dtype != np.dtype(dtype):
        raise TypeError(f"out must have dtype {dtype}, not {str(out.dtype)[:40]}")
    if out.ndim != 1 or out.shape[0] != n:
        raise ValueError(f"out must have shape ({n},), not {short(out.shape, 60)}")
    if not out.flags.c_contiguous:
        raise ValueError("out must be C-contiguous")
    if not out.flags.writeable:
        raise ValueError("out must be writable")
    return out


def output(n: int, out: Any, dtype: str) -> Any:
    """*out* checked for *n* rows of *dtype*, or a new uninitialised array."""
    if out is not None:
        return check_out(out, n, dtype)
    return need_numpy().empty(n, dtype=dtype)


def rows(chunks: list[tuple[Any, ...]]) -> int:
    """The number of rows of *chunks* (the size of the output every driver writes).

    :raises ValueError: a chunk of negative length or offset (:func:`column_error`),
        before any output is made.
    """
    total = 0
    for c in chunks:
        if c[1] < 0 or c[2] < 0:
            raise column_error(1, total)
        total += c[1]
    return total


# --------------------------------------------------------------- pure twins


def _u8(np: Any, buf: Any) -> Any:
    return np.empty(0, np.uint8) if buf is None else np.frombuffer(buf, np.uint8)


def _valid(np: Any, chunk: tuple[Any, ...]) -> Any:
    """The validity of every row of a checked chunk as a bool array (True: a key)."""
    kind, n, off, validity = chunk[:4]
    if kind == K_NULL:
        return np.zeros(n, bool)
    if validity is None:
        return np.ones(n, bool)
    bits = np.unpackbits(_u8(np, validity), bitorder="little")
    return bits[off : off + n].astype(bool)


def py_check(chunk: tuple[Any, ...], base: int = 0) -> None:
    """Raise :func:`column_error` for a chunk ``hlb_col_check`` refuses (the same codes and rows).

    *base* is the chunk's first row in its column (the rows in messages count from there).
    """
    try:
        _py_check(chunk)
    except _Refused as e:
        raise column_error(e.args[0], base + e.args[1]) from None


class _Refused(Exception):
    """(code, row): what hlb_col_check returns for a refused chunk."""


def _py_check(chunk: tuple[Any, ...]) -> None:
    np = need_numpy()
    kind, n, off, validity, values, data, vbufs, width, _ = chunk
    if n < 0 or off < 0:
        raise _Refused(1, 0)
    end = off + n
    if kind == K_NULL:
        return
    if validity is not None and len(_u8(np, validity)) < (end + 7) // 8:
        raise _Refused(2, 0)
    vals = _u8(np, values)
    if kind in (K_OFF32, K_OFF64):
        w = 4 if kind == K_OFF32 else 8
        if n == 0 and len(vals) == 0:  # Arrow allows an empty offsets buffer for no rows
            return
        if len(vals) // w < end + 1:
            raise _Refused(3, 0)
        offs = vals[: (end + 1) * w].view(np.int32 if w == 4 else np.int64)[off:].astype(np.int64)
        if offs[0] < 0:
            raise _Refused(4, 0)
        bad = np.flatnonzero(offs[1:] < offs[:-1])
        if len(bad):
            raise _Refused(5, int(bad[0]))
        if offs[-1] > len(_u8(np, data)):
            raise _Refused(6, max(n - 1, 0))
    elif kind == K_VIEW:
        if len(vals) // 16 < end:
            raise _Refused(7, 0)
        v = vals[off * 16 : end * 16].view(np.int32).reshape(n, 4)
        valid = _valid(np, chunk)
        sizes = [len(_u8(np, b)) for b in vbufs]
        for i in range(n):
            length = int(v[i, 0])
            if not valid[i]:
                continue
            if length < 0:
                raise _Refused(8, i)
            if length <= 12:
                continue
            buf, start = int(v[i, 2]), int(v[i, 3])
            if not 0 <= buf < len(sizes):
                raise _Refused(9, i)
            if start < 0 or start + length > sizes[buf]:
                raise _Refused(10, i)
    elif kind in (K_FIXED, K_UCS4):
        if width < 0 or (width > 0 and len(vals) // width < end):
            raise _Refused(11, 0)
    else:  # K_U64, K_I64
        if len(vals) // 8 < end:
            raise _Refused(11, 0)
        if kind == K_I64:
            neg = np.flatnonzero((vals[off * 8 : end * 8].view(np.int64) < 0) & _valid(np, chunk))
            if len(neg):
                raise _Refused(12, int(neg[0]))


def _ucs4_past_max(np: Any, chunk: tuple[Any, ...]) -> Any:
    """The code points of a UCS4 chunk as a (rows, width / 4) array, and which pass U+10FFFF."""
    _, n, off, _, values = chunk[:5]
    k = chunk[7] // 4
    cps = _u8(np, values)[off * k * 4 : (off + n) * k * 4].view(np.uint32).reshape(n, k)
    return cps, cps > 0x10FFFF


def _past_max(cp: int, row: int) -> ValueError:
    return ValueError(
        f"keys[{row}] holds 0x{cp:X}, past U+10FFFF: not a Unicode code point, "
        "so it has no UTF-8 encoding"
    )


def ucs4_error(chunk: tuple[Any, ...], row: int, base: int = 0) -> ValueError | None:
    """The error for *row* of a numpy U chunk if it holds a code point past U+10FFFF.

    Such a row (only a view of raw integers makes one) is not Unicode and has
    no UTF-8 encoding; numpy makes a ``str`` of some of them all the same, or
    fails with a ``SystemError``, so both twins refuse the row themselves.
    *base*: the chunk's first row in the column.  Surrogates are not checked
    here: encoding the item raises for them.
    """
    cps, past = _ucs4_past_max(need_numpy(), chunk)
    where = past[row].nonzero()[0]
    return _past_max(int(cps[row, where[0]]), base + row) if len(where) else None


def py_hashes(chunk: tuple[Any, ...], seed: int) -> tuple[Any, Any]:
    """xxh64 of every row of a checked key chunk, and its null mask (nulls hash as 0)."""
    np = need_numpy()
    kind, n, off, _, values, data, vbufs, _, source = chunk
    out = np.zeros(n, np.uint64)
    valid = _valid(np, chunk)
    h = xxhash.xxh64_intdigest
    if kind in (K_OFF32, K_OFF64):
        offs = _u8(np, values).view(np.int32 if kind == K_OFF32 else np.int64)
        offs = offs[off : off + n + 1].tolist()
        raw = memoryview(_u8(np, data))
        for i in range(n):
            out[i] = h(raw[offs[i] : offs[i + 1]], seed)
    elif kind == K_VIEW:
        views = _u8(np, values)[off * 16 : (off + n) * 16].reshape(n, 16)
        meta = views.view(np.int32)
        raws = [memoryview(_u8(np, b)) for b in vbufs]
        for i in range(n):
            if valid[i]:
                length = int(meta[i, 0])
                if length <= 12:
                    out[i] = h(views[i, 4 : 4 + length].tobytes(), seed)
                else:
                    start = int(meta[i, 3])
                    out[i] = h(raws[int(meta[i, 2])][start : start + length], seed)
    elif kind == K_FIXED:
        for i in range(n):
            out[i] = h(as_bytes(source[off + i], "keys[i]"), seed)
    elif kind == K_UCS4:
        cps, past = _ucs4_past_max(np, chunk)
        bad = past.any(axis=1)
        for i in range(n):
            if bad[i]:
                raise _past_max(int(cps[i][past[i]][0]), i)
            out[i] = h(as_bytes(source[off + i], "keys[i]"), seed)
    out[~valid] = 0
    return out, ~valid


def py_values(chunk: tuple[Any, ...]) -> tuple[Any, Any]:
    """The uint64 hashes of a checked hash chunk (a view when aligned), and its null mask."""
    np = need_numpy()
    kind, n, off, _, values = chunk[:5]
    if kind == K_NULL:
        return np.zeros(n, np.uint64), np.ones(n, bool)
    vals = _u8(np, values)[off * 8 : (off + n) * 8]
    if vals.ctypes.data % 8:
        vals = vals.copy()
    return vals.view(np.uint64), ~_valid(np, chunk)


def _rows_into(chunks: list[tuple[Any, ...]], out: Any, dtype: str, each: Any) -> Any:
    """Run ``each(chunk, rows_of_out)`` over *chunks*, each checked first (pure twins)."""
    res = output(rows(chunks), out, dtype)
    base = 0
    for chunk in chunks:
        py_check(chunk, base)
        each(chunk, res[base : base + chunk[1]])
        base += chunk[1]
    return res


def _indices(chunks: list[tuple[Any, ...]], out: Any, lookup: Any, each: Any) -> Any:
    """The host indices of *chunks* (no rows for an empty table unless *out* is given)."""
    res = _rows_into(chunks, out, "uint32", each)
    return res if lookup is not None or out is not None else res[:0].copy()


def py_pick(chunks: list[tuple[Any, ...]], out: Any, lookup: Any) -> Any:
    """``pick_many`` of key *chunks* (pure twins): *lookup* maps uint64 to uint32 numpy arrays.

    *lookup* is None for an empty table: no rows, or *out* all ``NO_HOST``
    (the keys are still checked and hashed).
    """

    def each(chunk: tuple[Any, ...], dst: Any) -> None:
        hashes, null = py_hashes(chunk, 0)
        dst[:] = NO_HOST if lookup is None else lookup(hashes)
        dst[null] = NO_HOST

    return _indices(chunks, out, lookup, each)


def py_lookup(chunks: list[tuple[Any, ...]], out: Any, lookup: Any) -> Any:
    """``lookup_many`` of hash *chunks* (pure twins), as :func:`py_pick`."""

    def each(chunk: tuple[Any, ...], dst: Any) -> None:
        hashes, null = py_values(chunk)
        dst[:] = NO_HOST if lookup is None else lookup(hashes)
        dst[null] = NO_HOST

    return _indices(chunks, out, lookup, each)


def py_xxh64_many(chunks: list[tuple[Any, ...]], seed: int, out: Any) -> Any:
    """``xxh64_many`` of key *chunks* (pure twin), masked where a row is null."""
    np = need_numpy()
    mask = np.zeros(rows(chunks), bool)
    base = 0

    def each(chunk: tuple[Any, ...], dst: Any) -> None:
        nonlocal base
        dst[:], mask[base : base + chunk[1]] = py_hashes(chunk, seed)
        base += chunk[1]

    return masked(_rows_into(chunks, out, "uint64", each), mask)


def null_mask(chunks: list[tuple[Any, ...]]) -> Any:
    """A zeroed uint8 array of one item per row when a chunk may have nulls, else None."""
    if all(c[3] is None and c[0] != K_NULL for c in chunks):
        return None
    return need_numpy().zeros(rows(chunks), dtype="uint8")


def masked(hashes: Any, mask: Any) -> Any:
    """*hashes*, or a ``numpy.ma.MaskedArray`` over it when *mask* has a null row."""
    np = need_numpy()
    if not mask.any():
        return hashes
    return np.ma.MaskedArray(hashes, mask=mask.view(bool), copy=False)


def key_hash(key: object, what: str) -> int:
    """Return xxh64 of one ``pick_many`` key, as ``pick`` hashes it (*what* names it in errors)."""
    return xxhash.xxh64_intdigest(as_bytes(key, what))


def py_pick_many(table: Any, keys: object, out: Any) -> HostIndices:
    """The pure twins' ``pick_many``: a key column read with numpy, or xxh64 of each key,
    then the table's lookup (``table._np_lookup()`` / ``table.lookup_many``)."""
    table._ready()
    chunks = key_columns(keys)
    if chunks is not None:
        picked: HostIndices = py_pick(chunks, out, table._np_lookup())
        return picked
    from ._batch import pick_hashes

    looked_up: HostIndices = table.lookup_many(pick_hashes(keys, key_hash), out=out)
    return looked_up


def py_lookup_column(table: Any, hashes: object, out: Any) -> HostIndices | None:
    """The pure twins' ``lookup_many`` of a hash column, or None when *hashes* is not one."""
    chunks = hash_columns(hashes)
    if chunks is None:
        return None
    table._ready()
    indices: HostIndices = py_lookup(chunks, out, table._np_lookup())
    return indices


def py_lookup_many(table: Any, hashes: object, out: Any) -> HostIndices:
    """The pure twins' ``lookup_many``: a hash column read with numpy, else a uint64 buffer
    whose rows ``table._fill(view, res)`` looks up (called only when ``table._searching()``:
    the table has hosts)."""
    column = py_lookup_column(table, hashes, out)
    if column is not None:
        return column
    from ._batch import batch_output, hash_buffer

    view = hash_buffer(hashes)
    table._ready()
    searching = bool(table._searching())
    res = batch_output(len(view), hashes, out, searching)
    if searching:
        table._fill(view, res)
    return res
