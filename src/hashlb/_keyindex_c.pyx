# cython: language_level=3, freethreading_compatible=True
"""Key index, compiled: the twin of ``_keyindex_py.py``.

The table is ``_keyindex.h`` (open addressing on xxh64, the key bytes
compared on a hash match, the keys stored once in id order).  Each chunk of
the column is opened and checked by ``_colread`` (``hlb_col_check``: every
offset and view inside its buffer) and read row by row in C, with the GIL
held: the table is the instance's own state.  Keep names and signatures
identical to ``_keyindex_py.py``; the docstrings both share live in
``_keyindex_doc.py`` (``tests/test_parity.py`` checks all three).
"""
cimport cython
from cpython.bytes cimport PyBytes_FromStringAndSize
from libc.stdint cimport int64_t, uint8_t, uint64_t

from hashlb._colread cimport col_close, col_hold, col_open

from hashlb._columns import _array_chunk
from hashlb._columns import column_error as _column_error
from hashlb._columns import restore_key_index as _restore
from hashlb._columns import text_arrays as _text_arrays
from hashlb._validate import MAX_REPLAY_USERS
from hashlb._validate import check_max_keys as _check_max_keys
from hashlb._validate import uninitialised as _uninitialised

from hashlb._cpython cimport attach_docs
from hashlb._keyindex_doc import DOCS as _DOCS
from hashlb._docstrings import public_names as _public_names

__all__ = _public_names(_DOCS)

cdef enum:
    _BLOCK = 512  # rows read, hashed and then looked up at a time (prefetching ahead)


cdef class KeyIndex:

    def __cinit__(self):
        hlb_ki_init(&self._k)
        self._init = False

    def __dealloc__(self):
        hlb_ki_free(&self._k)

    def __init__(self, *, max_keys=MAX_REPLAY_USERS):
        if self._init:
            raise TypeError("KeyIndex.__init__ cannot run twice")
        self._max = _check_max_keys(max_keys)
        self._init = True

    @cython.binding(False)
    @cython.always_allow_keywords(True)
    def ids(self, keys):
        if not self._init:
            raise _uninitialised(self, "KeyIndex")
        arrays = _text_arrays(keys)
        with cython.critical_section(self):  # the table is this object's (free threading)
            return self._ids(arrays)

    cdef object _ids(self, list arrays):
        import numpy as np

        res = np.empty(sum(len(a) for a in arrays), dtype=np.int64)
        cdef int64_t[::1] out = res
        cdef col_hold h
        cdef Py_ssize_t base = 0
        cdef int64_t i, j, n, count, length, bad
        cdef const uint8_t *ps[_BLOCK]
        cdef int64_t lens[_BLOCK]
        cdef uint64_t hs[_BLOCK]
        cdef int r, err = 0
        cdef int64_t n0 = self._k.n
        try:
            for a in arrays:
                col_open(&h, _array_chunk(a, False), base)
                try:
                    n = h.c.length
                    i = 0
                    while i < n:
                        count = n - i if n - i < _BLOCK else _BLOCK
                        for j in range(count):
                            if hlb_col_null(&h.c, i + j):
                                lens[j] = -1
                            else:
                                r = hlb_col_row(&h.c, i + j, &ps[j], &lens[j])
                                if r != 0:
                                    raise _column_error(r, base + i + j)
                        bad = hlb_ki_ids(
                            &self._k, ps, lens, count, self._max, hs, &out[base + i], &err
                        )
                        if bad >= 0:
                            if err == HLB_KI_FULL:
                                raise OverflowError(
                                    f"more than {self._max:_} distinct keys (keys[{base + i + bad}])"
                                )
                            raise MemoryError()
                        i += count
                finally:
                    col_close(&h)
                base += n
        except BaseException:
            # All or nothing: the keys this call added are forgotten.
            if hlb_ki_truncate(&self._k, n0) != 0:
                raise MemoryError() from None
            raise
        return res

    @cython.binding(False)
    def keys(self):
        with cython.critical_section(self):
            return self._keys()

    cdef object _keys(self):
        import pyarrow as pa

        cdef int64_t n = self._k.n
        if n == 0:
            return pa.array([], pa.large_string())
        offsets = PyBytes_FromStringAndSize(<const char *>self._k.offsets, (n + 1) * 8)
        data = PyBytes_FromStringAndSize(<const char *>self._k.data, self._k.data_len)
        validity = None
        if self._k.null_id >= 0:
            bits = bytearray(b"\xff" * ((n + 7) // 8))
            bits[self._k.null_id >> 3] &= ~(1 << (self._k.null_id & 7)) & 0xFF
            validity = pa.py_buffer(bytes(bits))
        return pa.Array.from_buffers(
            pa.large_string(),
            n,
            [validity, pa.py_buffer(offsets), pa.py_buffer(data)],
            null_count=1 if validity is not None else 0,
        )

    def __len__(self):
        return self._k.n

    def __repr__(self):
        return f"KeyIndex({self._k.n} keys, max_keys={self._max})"

    def __reduce__(self):
        if not self._init:
            raise _uninitialised(self, "KeyIndex")
        return (_restore, (type(self), self._max, self.keys()))


attach_docs(globals(), _DOCS)
