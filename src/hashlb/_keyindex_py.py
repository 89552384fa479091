"""Key index, pure Python: the typed twin of ``_keyindex_c.pyx``.

Each column chunk is checked as the compiled twin checks it
(``_columns.py_check``), then dictionary-encoded by pyarrow (its hash table
on the key bytes: exact, in order of first appearance), and the chunk's distinct
keys are looked up in a ``dict`` of bytes: one Python lookup per distinct
key of a chunk, not per row.  Keep names and signatures identical to the
compiled twin; the docstrings both share live in ``_keyindex_doc.py``
(``tests/test_parity.py`` checks all three).
"""

from __future__ import annotations

from typing import Any

from ._columns import _array_chunk
from ._columns import py_check as _py_check
from ._columns import restore_key_index as _restore
from ._columns import text_arrays as _text_arrays
from ._docstrings import attach as _attach_docs
from ._keyindex_doc import DOCS as _DOCS
from ._validate import MAX_REPLAY_USERS
from ._validate import check_max_keys as _check_max_keys
from ._validate import uninitialised as _uninitialised

__all__ = ("KeyIndex",)


class KeyIndex:
    __slots__ = ("_ids", "_keys", "_max")

    def __init__(self, *, max_keys: int = MAX_REPLAY_USERS) -> None:
        if hasattr(self, "_max"):
            raise TypeError("KeyIndex.__init__ cannot run twice")
        self._max = _check_max_keys(max_keys)
        self._ids: dict[bytes | None, int] = {}
        self._keys: list[bytes | None] = []

    def ids(self, /, keys: Any) -> Any:
        if not hasattr(self, "_max"):
            raise _uninitialised(self, "KeyIndex")
        arrays = _text_arrays(keys)
        n0 = len(self._keys)
        try:
            return self._number(arrays)
        except BaseException:
            for key in self._keys[n0:]:  # all or nothing: forget what this call added
                del self._ids[key]
            del self._keys[n0:]
            raise

    def _number(self, arrays: list[Any]) -> Any:
        import numpy as np
        import pyarrow as pa

        out = np.empty(sum(len(a) for a in arrays), dtype=np.int64)
        at = 0
        for a in arrays:
            _py_check(_array_chunk(a, False), at)  # what the compiled twin refuses, as it does
            if pa.types.is_string_view(a.type):
                a = a.cast(pa.large_string())
            binary = pa.large_binary() if pa.types.is_large_string(a.type) else pa.binary()
            enc = a.view(binary).dictionary_encode(null_encoding="encode")
            local = np.empty(len(enc.dictionary), dtype=np.int64)
            for j, key in enumerate(enc.dictionary.to_pylist()):
                got = self._ids.get(key)
                if got is None:
                    if len(self._keys) >= self._max:
                        first = int(np.flatnonzero(np.asarray(enc.indices) == j)[0])
                        raise OverflowError(
                            f"more than {self._max:_} distinct keys (keys[{at + first}])"
                        )
                    got = self._ids[key] = len(self._keys)
                    self._keys.append(key)
                local[j] = got
            out[at : at + len(a)] = local[np.asarray(enc.indices, dtype=np.int64)]
            at += len(a)
        return out

    def keys(self, /) -> Any:
        import pyarrow as pa

        if not hasattr(self, "_keys"):
            return pa.array([], pa.large_string())
        return pa.array(self._keys, pa.large_binary()).view(pa.large_string())

    def __len__(self) -> int:
        return len(getattr(self, "_keys", ()))

    def __repr__(self) -> str:
        return f"KeyIndex({len(self)} keys, max_keys={getattr(self, '_max', 0)})"

    def __reduce__(self) -> Any:
        if not hasattr(self, "_max"):
            raise _uninitialised(self, "KeyIndex")
        return (_restore, (type(self), self._max, self.keys()))


_attach_docs(globals(), _DOCS)  # the docstrings shared with the compiled twin
